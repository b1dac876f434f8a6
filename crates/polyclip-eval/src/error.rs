//! Typed errors of the evaluation crate.

use std::path::PathBuf;

/// What can go wrong while evaluating or writing reports.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Data(#[from] polyclip_data::DataError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Suite { path: PathBuf, reason: String },
    #[error("evaluation set `{name}`: {reason}")]
    InvalidSet { name: String, reason: String },
    /// A model whose embeddings hold NaN or infinities: evaluating it would report numbers that mean nothing.
    #[error("{what} is NaN or infinite: the model's weights are not finite")]
    NonFinite { what: String },
}
