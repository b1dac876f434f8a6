//! Training a small XLM-R-style tokenizer (BPE over SentencePiece-style `▁` word pieces) with the `tokenizers`
//! crate: special tokens `<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3 as in XLM-R, and `<s> $A </s>` added to
//! every text. Used for the embedded dataset's shipped tokenizer (datasets/shapes/tokenizer.json).

use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, Tokenizer};

use crate::error::DataError;

/// XLM-R's special tokens in id order.
pub const SPECIAL_TOKENS: [&str; 4] = ["<s>", "<pad>", "</s>", "<unk>"];

/// Trains a BPE tokenizer of at most `vocab_size` entries on `texts`.
pub fn train_xlmr_style_bpe(texts: &[String], vocab_size: usize) -> Result<Tokenizer, DataError> {
    let error = |e: tokenizers::Error| DataError::Tokenizer {
        path: "<training>".into(),
        reason: e.to_string(),
    };
    let specials: Vec<AddedToken> = SPECIAL_TOKENS
        .iter()
        .map(|token| AddedToken::from(*token, true))
        .collect();
    let trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(1)
        .show_progress(false)
        .special_tokens(specials)
        .build();
    let mut trainer = TrainerWrapper::BpeTrainer(trainer);
    let model = BPE::builder()
        .unk_token("<unk>".into())
        .build()
        .map_err(error)?;
    let mut tokenizer = Tokenizer::new(model);
    tokenizer.with_normalizer(Some(NFC)).map_err(error)?;
    let metaspace = Metaspace::new('▁', PrependScheme::Always, true);
    tokenizer.with_pre_tokenizer(Some(metaspace.clone()));
    tokenizer.with_decoder(Some(metaspace));
    tokenizer.train(&mut trainer, texts.iter()).map_err(error)?;
    let template = TemplateProcessing::builder()
        .try_single("<s> $A </s>")
        .map_err(|e| DataError::Tokenizer {
            path: "<training>".into(),
            reason: e,
        })?
        .special_tokens(vec![("<s>", 0), ("</s>", 2)])
        .build()
        .map_err(|e| DataError::Tokenizer {
            path: "<training>".into(),
            reason: e.to_string(),
        })?;
    tokenizer.with_post_processor(Some(template));
    Ok(tokenizer)
}
