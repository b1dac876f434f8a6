//! Typed errors of the data crate. Every message names the file (and the manifest line) it is about.

use std::path::PathBuf;

use crate::sources::image_source::ImageSource;

/// What can go wrong while reading, decoding or tokenizing data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    ManifestRow {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path}:{line}: not a JSON object: {source}")]
    ManifestJson {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}:{line}: empty caption list")]
    EmptyCaptions { path: PathBuf, line: usize },
    #[error("{path}:{line}: the caption has no language (a `lang` key, or a `lang_id` column)")]
    MissingLanguage { path: PathBuf, line: usize },
    #[error("{path}:{line}: image {image} does not exist")]
    MissingImage {
        path: PathBuf,
        line: usize,
        image: ImageSource,
    },
    #[error("{path}:{line}: image {image} cannot be decoded: {source}")]
    CorruptImage {
        path: PathBuf,
        line: usize,
        image: ImageSource,
        #[source]
        source: Box<image::ImageError>,
    },
    /// A shard list that does not expand.
    #[error("shards `{spec}`: {reason}")]
    ShardSpec { spec: String, reason: String },
    /// A shard that is not a readable tar (or is cut short).
    #[error("{shard}: {reason}")]
    Shard { shard: PathBuf, reason: String },
    /// A sample of a shard without what a training example needs.
    #[error("{shard}: sample `{key}`: {reason}")]
    Sample {
        shard: PathBuf,
        key: String,
        reason: String,
    },
    /// A classification folder without what it needs.
    #[error("{root}: {reason}")]
    ImageFolder { root: PathBuf, reason: String },
    #[error("{path}: manifest holds no usable example")]
    EmptyManifest { path: PathBuf },
    #[error("tokenizer {path}: {reason}")]
    Tokenizer { path: String, reason: String },
    #[error(
        "tokenizer {tokenizer} has no `{token}` token (a pad token is read from `pad_token` in tokenizer_config.json or special_tokens_map.json beside the tokenizer, or from the text config's `pad_token_id`)"
    )]
    MissingPadToken { tokenizer: String, token: String },
    #[error("tokenizer {tokenizer} has no `{token}` token, which {model} needs")]
    MissingSpecialToken {
        tokenizer: String,
        token: String,
        model: &'static str,
    },
    #[error("{dataset}: no language `{lang}` (it has {available})")]
    UnknownLanguage {
        dataset: PathBuf,
        lang: String,
        available: String,
    },
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    /// A class-names file that does not parse or whose lists disagree.
    #[error("{path}: {reason}")]
    Classnames { path: PathBuf, reason: String },
    /// Distillation pairs whose teacher targets differ in width.
    #[error("distillation pair {index}: target has {len} values, the batch's first has {expected}")]
    TargetWidth {
        index: usize,
        len: usize,
        expected: usize,
    },
    /// An augmentation chain with a parameter it cannot run with (found when the chain is built).
    #[error(transparent)]
    Augment(#[from] polyclip_augment::AugmentError),
}

impl DataError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
