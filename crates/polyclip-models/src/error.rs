//! Typed errors of the model crate.

use std::path::PathBuf;

/// What can go wrong when building a model from a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A configuration file could not be read.
    #[error("cannot read model config {path}: {source}")]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A configuration file is not valid JSON for the expected schema.
    #[error("invalid model config {path}: {source}")]
    ParseConfig {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A configuration value is outside what the model supports.
    #[error("invalid model config: `{key}` = {value}: {reason}")]
    InvalidConfig {
        key: &'static str,
        value: String,
        reason: String,
    },
}

impl ModelError {
    pub(crate) fn invalid(
        key: &'static str,
        value: impl ToString,
        reason: impl Into<String>,
    ) -> Self {
        Self::InvalidConfig {
            key,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}
