//! Typed errors of the training crate.

use std::path::PathBuf;

/// What can go wrong while training.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] polyclip_data::DataError),
    #[error(transparent)]
    Model(#[from] polyclip_models::ModelError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error("--resume: no checkpoint in {dir}")]
    NothingToResume { dir: PathBuf },
    #[error("training config: `{key}` = {value}: {reason}")]
    InvalidConfig {
        key: &'static str,
        value: String,
        reason: String,
    },
    #[error("the loss became {value} at step {step}; lower the learning rate or check the data")]
    NonFiniteLoss { step: usize, value: f32 },
    #[error("the data loader produced no batch (is the dataset smaller than one batch?)")]
    NoBatches,
    #[error(
        "batch {step} has {rows} usable sample(s) and this model needs at least {min} (skipped bad inputs, or a dataset smaller than a batch?)"
    )]
    BatchTooSmall {
        step: usize,
        rows: usize,
        min: usize,
    },
}

impl TrainError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
