//! The index's errors, in one line naming the file.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    /// The index was made by another model than the one asked to query it.
    #[error(
        "{index} was built with the model {built_with} and cannot be searched with {asked}: {reason}; index the \
         pictures again with `polyclip index --model {asked_path}` or serve with --model {built_with}"
    )]
    OtherModel {
        index: PathBuf,
        built_with: String,
        asked: String,
        asked_path: String,
        reason: String,
    },
    #[error("{0}")]
    Query(String),
}

impl IndexError {
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub fn format(path: &std::path::Path, reason: impl Into<String>) -> Self {
        Self::Format {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }
}
