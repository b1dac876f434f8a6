//! Text tokenization for the text towers: a `tokenizers` tokenizer (any tokenizer.json: CLIP BPE, WordPiece,
//! XLM-R Unigram, …), truncation to the tower's context with the special tokens kept, and padding of a batch
//! to its longest text in one flat buffer.

use tokenizers::Tokenizer;
use tokenizers::utils::truncation::{TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::DataError;

/// Token ids and attention mask of a batch, row-major `[batch, seq]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    pub ids: Vec<i64>,
    /// 1 at tokens, 0 at padding.
    pub mask: Vec<i64>,
    pub batch: usize,
    pub seq: usize,
}

/// A tokenizer bound to a context length and a padding id.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    pad_id: u32,
    max_tokens: usize,
    source: String,
    clean_whitespace: bool,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("source", &self.source)
            .field("pad_id", &self.pad_id)
            .field("max_tokens", &self.max_tokens)
            .finish()
    }
}

impl TextTokenizer {
    /// Reads a tokenizer.json file.
    pub fn from_file(
        path: &std::path::Path,
        pad_token: &str,
        max_tokens: usize,
    ) -> Result<Self, DataError> {
        let json = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
        Self::from_json(&json, &path.display().to_string(), pad_token, max_tokens)
    }

    /// Parses tokenizer.json bytes; `source` names them in errors.
    pub fn from_json(
        json: &[u8],
        source: &str,
        pad_token: &str,
        max_tokens: usize,
    ) -> Result<Self, DataError> {
        let inner = Tokenizer::from_bytes(json).map_err(|e| DataError::Tokenizer {
            path: source.to_owned(),
            reason: e.to_string(),
        })?;
        Self::new(inner, source, pad_token, max_tokens)
    }

    /// Wraps a tokenizer; texts are truncated to `max_tokens` ids including special tokens.
    pub fn new(
        mut inner: Tokenizer,
        source: &str,
        pad_token: &str,
        max_tokens: usize,
    ) -> Result<Self, DataError> {
        let pad_id = inner
            .token_to_id(pad_token)
            .ok_or_else(|| DataError::MissingPadToken {
                tokenizer: source.to_owned(),
                token: pad_token.to_owned(),
            })?;
        inner
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: max_tokens,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| DataError::Tokenizer {
                path: source.to_owned(),
                reason: e.to_string(),
            })?;
        inner.with_padding(None);
        Ok(Self {
            inner,
            pad_id,
            max_tokens,
            source: source.to_owned(),
            clean_whitespace: true,
        })
    }

    /// Whether runs of whitespace are collapsed before tokenizing (open_clip's `HFTokenizer` does; calling a
    /// Hugging Face tokenizer directly does not). On by default.
    pub fn with_whitespace_cleaning(mut self, clean: bool) -> Self {
        self.clean_whitespace = clean;
        self
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The padding id.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The largest number of ids per text.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// The id of a token, if the vocabulary has it.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// Whether whitespace runs are collapsed before tokenizing.
    pub fn cleans_whitespace(&self) -> bool {
        self.clean_whitespace
    }

    /// The padding token's text.
    pub fn pad_token(&self) -> String {
        self.inner.id_to_token(self.pad_id).unwrap_or_default()
    }

    /// Writes the tokenizer as a tokenizer.json file.
    pub fn save(&self, path: &std::path::Path) -> Result<(), DataError> {
        self.inner.save(path, false).map_err(|e| DataError::Write {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Ids of one text with special tokens, truncated.
    pub fn encode_one(&self, text: &str) -> Result<Vec<u32>, DataError> {
        let cleaned = if self.clean_whitespace {
            clean_whitespace(text)
        } else {
            text.to_owned()
        };
        self.inner
            .encode(cleaned.as_str(), true)
            .map(|encoding| encoding.get_ids().to_vec())
            .map_err(|e| DataError::Tokenizer {
                path: self.source.clone(),
                reason: e.to_string(),
            })
    }

    /// Tokenizes a batch, padded to its longest text, into one flat buffer. (Padding further changes no
    /// model output: padding is masked or, in CLIP's causal text model, after the pooled token.)
    pub fn encode_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<TokenBatch, DataError> {
        self.encode_padded(texts, None)
    }

    /// Tokenizes a batch padded to [`max_tokens`](Self::max_tokens), as `padding="max_length"` does.
    pub fn encode_batch_to_max_length<S: AsRef<str>>(
        &self,
        texts: &[S],
    ) -> Result<TokenBatch, DataError> {
        self.encode_padded(texts, Some(self.max_tokens))
    }

    fn encode_padded<S: AsRef<str>>(
        &self,
        texts: &[S],
        length: Option<usize>,
    ) -> Result<TokenBatch, DataError> {
        let encoded = texts
            .iter()
            .map(|text| self.encode_one(text.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let longest = encoded.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let seq = length.unwrap_or(longest).max(longest);
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
}

/// Collapses runs of whitespace and trims, as open_clip's `whitespace_clean`.
pub fn clean_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
