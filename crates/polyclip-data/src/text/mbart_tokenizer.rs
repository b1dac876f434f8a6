//! mBART-50's tokenizer: a sentence (source or target) becomes `[language code] pieces </s>`, as
//! `MBart50TokenizerFast` does with `src_lang` / `tgt_lang` (its tokenizer.json hard-codes `en_XX` in the
//! post-processor, so the language is set here, per text).

use std::collections::HashMap;

use tokenizers::{AddedToken, Tokenizer};

use crate::error::DataError;
use crate::text::tokenizer::TokenBatch;

/// mBART-50's 52 language codes, in their vocabulary order.
pub const MBART50_LANGUAGES: &[&str] = &[
    "ar_AR", "cs_CZ", "de_DE", "en_XX", "es_XX", "et_EE", "fi_FI", "fr_XX", "gu_IN", "hi_IN",
    "it_IT", "ja_XX", "kk_KZ", "ko_KR", "lt_LT", "lv_LV", "my_MM", "ne_NP", "nl_XX", "ro_RO",
    "ru_RU", "si_LK", "tr_TR", "vi_VN", "zh_CN", "af_ZA", "az_AZ", "bn_IN", "fa_IR", "he_IL",
    "hr_HR", "id_ID", "ka_GE", "km_KH", "mk_MK", "ml_IN", "mn_MN", "mr_IN", "pl_PL", "ps_AF",
    "pt_XX", "sv_SE", "sw_KE", "ta_IN", "te_IN", "th_TH", "tl_XX", "uk_UA", "ur_PK", "xh_ZA",
    "gl_ES", "sl_SI",
];

/// The mBART-50 code of an ISO 639-1 language (`pt` → `pt_XX`); codes pass through.
pub fn mbart_language_code(language: &str) -> Option<&'static str> {
    MBART50_LANGUAGES
        .iter()
        .find(|code| **code == language || code.split('_').next() == Some(language))
        .copied()
}

/// A tokenizer.json with mBART-50's special tokens and language codes.
#[derive(Clone)]
pub struct MBartTokenizer {
    inner: Tokenizer,
    languages: HashMap<String, u32>,
    pad_id: u32,
    eos_id: u32,
    max_tokens: usize,
    source: String,
}

impl std::fmt::Debug for MBartTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MBartTokenizer")
            .field("source", &self.source)
            .field("languages", &self.languages.len())
            .field("max_tokens", &self.max_tokens)
            .finish()
    }
}

impl MBartTokenizer {
    /// Reads an mBART-50 tokenizer.json; texts keep at most `max_tokens` ids, the two special ones included.
    pub fn from_file(path: &std::path::Path, max_tokens: usize) -> Result<Self, DataError> {
        let json = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
        let inner = Tokenizer::from_bytes(&json).map_err(|e| DataError::Tokenizer {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::new(inner, &path.display().to_string(), max_tokens)
    }

    /// Wraps a tokenizer that has `<pad>`, `</s>` and language-code tokens (any of mBART-50's).
    pub fn new(inner: Tokenizer, source: &str, max_tokens: usize) -> Result<Self, DataError> {
        let special = |token: &str| {
            inner
                .token_to_id(token)
                .ok_or_else(|| DataError::MissingSpecialToken {
                    tokenizer: source.to_owned(),
                    token: token.to_owned(),
                    model: "mBART-50",
                })
        };
        let pad_id = special("<pad>")?;
        let eos_id = special("</s>")?;
        let languages: HashMap<String, u32> = MBART50_LANGUAGES
            .iter()
            .filter_map(|code| inner.token_to_id(code).map(|id| (code.to_string(), id)))
            .collect();
        if languages.is_empty() {
            return Err(DataError::MissingSpecialToken {
                tokenizer: source.to_owned(),
                token: "a language code (en_XX, pt_XX, …)".into(),
                model: "mBART-50",
            });
        }
        Ok(Self {
            inner,
            languages,
            pad_id,
            eos_id,
            max_tokens: max_tokens.max(3),
            source: source.to_owned(),
        })
    }

    /// Adds mBART-50's language codes `languages` (ISO or mBART codes) as special tokens to a tokenizer that
    /// lacks them (a tokenizer trained for the embedded dataset).
    pub fn with_language_codes(
        mut inner: Tokenizer,
        languages: &[&str],
        source: &str,
        max_tokens: usize,
    ) -> Result<Self, DataError> {
        let codes: Vec<AddedToken> = languages
            .iter()
            .map(|language| {
                mbart_language_code(language)
                    .map(|code| AddedToken::from(code, true))
                    .ok_or_else(|| DataError::UnknownLanguage {
                        dataset: source.into(),
                        lang: (*language).to_owned(),
                        available: "mBART-50's languages".into(),
                    })
            })
            .collect::<Result<_, _>>()?;
        inner
            .add_special_tokens(codes)
            .map_err(|e| DataError::Tokenizer {
                path: source.to_owned(),
                reason: e.to_string(),
            })?;
        Self::new(inner, source, max_tokens)
    }

    /// The id of a language (`pt` or `pt_XX`).
    pub fn language_id(&self, language: &str) -> Result<u32, DataError> {
        mbart_language_code(language)
            .and_then(|code| self.languages.get(code).copied())
            .ok_or_else(|| DataError::UnknownLanguage {
                dataset: self.source.clone().into(),
                lang: language.to_owned(),
                available: {
                    let mut codes: Vec<&str> = self.languages.keys().map(String::as_str).collect();
                    codes.sort_unstable();
                    codes.join(", ")
                },
            })
    }

    /// The language codes the vocabulary has.
    pub fn languages(&self) -> impl Iterator<Item = (&str, u32)> {
        self.languages.iter().map(|(code, &id)| (code.as_str(), id))
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    pub fn eos_id(&self) -> u32 {
        self.eos_id
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// `[language] pieces </s>`, the pieces truncated to fit `max_tokens`.
    pub fn encode(&self, text: &str, language: &str) -> Result<Vec<u32>, DataError> {
        let language = self.language_id(language)?;
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| DataError::Tokenizer {
                path: self.source.clone(),
                reason: e.to_string(),
            })?;
        let pieces = encoding.get_ids();
        let kept = pieces.len().min(self.max_tokens - 2);
        let mut ids = Vec::with_capacity(kept + 2);
        ids.push(language);
        ids.extend_from_slice(&pieces[..kept]);
        ids.push(self.eos_id);
        Ok(ids)
    }

    /// Texts, each with its language, padded with `<pad>` to the longest into one flat buffer.
    pub fn encode_batch<S: AsRef<str>, L: AsRef<str>>(
        &self,
        texts: &[(S, L)],
    ) -> Result<TokenBatch, DataError> {
        let encoded = texts
            .iter()
            .map(|(text, language)| self.encode(text.as_ref(), language.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let seq = encoded.iter().map(Vec::len).max().unwrap_or(1);
        let mut ids = vec![self.pad_id as i64; encoded.len() * seq];
        let mut mask = vec![0_i64; encoded.len() * seq];
        for (row, tokens) in encoded.iter().enumerate() {
            for (col, &id) in tokens.iter().enumerate() {
                ids[row * seq + col] = id as i64;
                mask[row * seq + col] = 1;
            }
        }
        Ok(TokenBatch {
            ids,
            mask,
            batch: encoded.len(),
            seq,
        })
    }

    /// Writes the tokenizer (language codes included) as a tokenizer.json file.
    pub fn save(&self, path: &std::path::Path) -> Result<(), DataError> {
        self.inner.save(path, false).map_err(|e| DataError::Write {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    /// The text of generated ids, without special tokens (language codes, `</s>`, `<pad>`).
    pub fn decode(&self, ids: &[i64]) -> Result<String, DataError> {
        let ids: Vec<u32> = ids
            .iter()
            .filter_map(|&id| u32::try_from(id).ok())
            .collect();
        self.inner
            .decode(&ids, true)
            .map_err(|e| DataError::Tokenizer {
                path: self.source.clone(),
                reason: e.to_string(),
            })
    }
}
