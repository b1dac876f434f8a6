//! The errors a recipe run reports (in one line each, by the binaries).

use std::path::PathBuf;

/// What can stop a recipe.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("{path}{}: {reason}", location.map(|l| format!(":{l}")).unwrap_or_default())]
    Parse {
        path: PathBuf,
        reason: String,
        location: Option<usize>,
    },
    /// A value that cannot be written as TOML or JSON (not a problem of the user's file).
    #[error("cannot write {what}: {reason}")]
    Serialize { what: &'static str, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Data(#[from] polyclip_data::DataError),
    #[error(transparent)]
    Model(#[from] polyclip_models::ModelError),
    #[error(transparent)]
    Train(#[from] polyclip_train::TrainError),
    #[error(transparent)]
    Nodes(#[from] polyclip_train::data_parallel::NodesError),
    #[error(transparent)]
    Eval(#[from] polyclip_eval::EvalError),
    #[error(transparent)]
    Backend(#[from] polyclip_backend::BackendError),
    #[error(transparent)]
    Checkpoint(#[from] polyclip_checkpoints::CheckpointError),
    #[error("{option} is missing: {reason}")]
    Missing {
        option: &'static str,
        reason: String,
    },
    #[error("{option} is not supported yet: {reason}")]
    NotSupported {
        option: &'static str,
        reason: String,
    },
    #[error("recipe: `{key}` = {value}: {reason}")]
    Invalid {
        key: &'static str,
        value: String,
        reason: String,
    },
    /// `--resume` on a checkpoint made with other settings.
    #[error(
        "stage `{stage}`: --resume: the checkpoint was made with other settings: {why}; run without --resume to start the stage again, or add --resume-anyway"
    )]
    ResumeMismatch { stage: String, why: String },
    /// A stage whose training settings cannot run, found before any stage trains.
    #[error("stage `{stage}`: {source}")]
    Stage {
        stage: String,
        #[source]
        source: polyclip_train::TrainError,
    },
    #[error("{skipped} bad input(s) skipped; first: {first}")]
    Skipped { skipped: usize, first: String },
}
