//! Typed errors of checkpoint loading and export; every message names the file, key or value.

use std::path::PathBuf;

/// What can go wrong with a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error(
        "{dir}: not a checkpoint folder polyclip knows (found: {found}); expected config.json with \
         model.safetensors / model.safetensors.index.json / pytorch_model.bin (Hugging Face), \
         open_clip_config.json with open_clip_model.safetensors / open_clip_pytorch_model.bin (open_clip), or a \
         Lightning .ckpt (CAPIVARA)"
    )]
    UnknownLayout { dir: PathBuf, found: String },
    #[error("{path}: `{key}` = {value}: {reason}")]
    Unsupported {
        path: PathBuf,
        key: String,
        value: String,
        reason: String,
    },
    #[error("{source_path}: {summary}")]
    Keys {
        source_path: PathBuf,
        summary: String,
        missing: Vec<String>,
        unexpected: Vec<String>,
        mismatched: Vec<String>,
    },
    #[error("{path}: tensor `{key}`: {reason}")]
    Tensor {
        path: PathBuf,
        key: String,
        reason: String,
    },
    #[error(transparent)]
    Model(#[from] polyclip_models::ModelError),
    #[error("hf:{repo}: {reason}")]
    Hub { repo: String, reason: String },
}

impl CheckpointError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn parse(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        Self::Parse {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}
