//! `index.json`: what an index holds and which model made it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::IndexError;
use crate::model_identity::ModelIdentity;

/// The layout version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    pub format_version: u32,
    /// Embedding size.
    pub dim: usize,
    /// The model that embedded the pictures.
    pub model: ModelIdentity,
    /// What was indexed, as the user named it (a folder, a manifest or a shard pattern).
    pub source: String,
}

impl IndexMeta {
    pub fn new(dim: usize, model: ModelIdentity, source: &str) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            dim,
            model,
            source: source.to_owned(),
        }
    }

    pub fn read(path: &Path) -> Result<Self, IndexError> {
        let text = std::fs::read_to_string(path).map_err(|e| IndexError::io(path, e))?;
        let meta: Self = serde_json::from_str(&text)
            .map_err(|e| IndexError::format(path, format!("not an index.json: {e}")))?;
        if meta.format_version != FORMAT_VERSION {
            return Err(IndexError::format(
                path,
                format!(
                    "index format {} (this polyclip reads {FORMAT_VERSION}); index the pictures again",
                    meta.format_version
                ),
            ));
        }
        if meta.dim == 0 {
            return Err(IndexError::format(path, "dim is 0"));
        }
        Ok(meta)
    }

    /// Writes through a temporary file and a rename.
    pub fn write(&self, path: &Path) -> Result<(), IndexError> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| IndexError::format(path, e.to_string()))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(|e| IndexError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| IndexError::io(path, e))
    }
}
