//! The command's errors, reported in one line.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Checkpoint(#[from] polyclip_checkpoints::CheckpointError),
    #[error(transparent)]
    Data(#[from] polyclip_data::DataError),
    #[error(transparent)]
    Eval(#[from] polyclip_eval::EvalError),
    #[error(transparent)]
    Train(#[from] polyclip_train::TrainError),
    #[error(transparent)]
    Index(#[from] polyclip_index::IndexError),
    #[error(transparent)]
    Backend(#[from] polyclip_backend::BackendError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
}
