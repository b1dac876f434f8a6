//! Typed errors of the training crate.

use std::path::PathBuf;

/// What a weights or optimiser file that burn cannot read means to the user (burn's own message speaks of
/// record formats and versions).
pub const UNREADABLE: &str =
    "cannot be read as this model's state: the file is damaged, or was saved for another model";

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
    #[error("data-parallel peer {rank}: {reason}")]
    Collective { rank: usize, reason: String },
    #[error(
        "data-parallel peer {rank}: stopped after step {step}, because another peer could not finish it (its error says why)"
    )]
    PeerStopped { rank: usize, step: usize },
    #[error(
        "data-parallel training: the replicas' weights differ after step {step}; their gradients were not the same (a bug: please report it)"
    )]
    ReplicasDiverged { step: usize },
    #[error(
        "{run_dir}: step {step}: the loss became {value}; lower the learning rate or check the data (nothing of this step was written)"
    )]
    NonFiniteLoss {
        run_dir: PathBuf,
        step: usize,
        value: f32,
    },
    /// A parameter became NaN or infinite in an optimizer step; nothing of that step was written.
    #[error(
        "{run_dir}: step {step}: `{parameter}` is NaN or infinite after the optimizer step (lower the learning rate); no checkpoint or model of this step was written"
    )]
    NonFiniteParameter {
        run_dir: PathBuf,
        step: usize,
        parameter: String,
    },
    /// `nan_policy = "skip-step"` dropped this many steps in a row (`max_skipped_in_a_row`).
    #[error("{in_a_row} steps in a row were skipped (max_skipped_in_a_row); the last: {last}")]
    TooManySkippedSteps {
        in_a_row: usize,
        last: Box<TrainError>,
    },
    /// Another run holds the run folder.
    #[error(
        "{run_dir}: another polyclip run is writing this folder ({holder}); wait for it to finish or give another folder"
    )]
    Locked { run_dir: PathBuf, holder: String },
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
