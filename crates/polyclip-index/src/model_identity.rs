//! What identifies a model folder for an index: its path (for messages), a hash of its config files and a
//! fingerprint of its weights. Two models of the same config trained differently differ in the fingerprint;
//! the same model moved to another folder keeps both.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::IndexError;

/// Files that describe a model's architecture, tokenizer and transform, in every layout polyclip loads.
const CONFIG_FILES: &[&str] = &[
    "config.json",
    "model.json",
    "open_clip_config.json",
    "text.json",
    "preprocess.json",
    "preprocessor_config.json",
    "tokenizer.json",
];

/// Weight files' extensions: the fingerprint reads their size and their first and last MiB.
const WEIGHT_EXTENSIONS: &[&str] = &["mpk", "safetensors", "bin", "pt", "ckpt", "msgpack"];

const EDGE: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelIdentity {
    /// The model as it was given (for messages; a moved model is still the same model).
    pub path: String,
    /// For a local folder: where it is relative to the index folder (as an index names its pictures), so that
    /// the index finds its model from any working directory and after both are moved together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// FNV-1a 64 of the config files' names and bytes, in hex.
    pub config_hash: String,
    /// FNV-1a 64 of each weight file's name, size, first and last MiB, in hex.
    pub weights_fingerprint: String,
}

fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

impl ModelIdentity {
    /// The identity of the model folder `dir`; `shown` is how the user named it.
    pub fn of(dir: &Path, shown: &str) -> Result<Self, IndexError> {
        let mut config = FNV_START;
        for name in CONFIG_FILES {
            let path = dir.join(name);
            if path.is_file() {
                let bytes = std::fs::read(&path).map_err(|e| IndexError::io(&path, e))?;
                config = fnv(fnv(config, name.as_bytes()), &bytes);
            }
        }
        let mut weights: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| IndexError::io(dir, e))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.is_file()
                    && path
                        .extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| WEIGHT_EXTENSIONS.contains(&e))
            })
            .collect();
        weights.sort();
        let mut fingerprint = FNV_START;
        for path in &weights {
            fingerprint = fingerprint_file(fingerprint, path)?;
        }
        Ok(Self {
            path: shown.to_owned(),
            folder: None,
            config_hash: format!("{config:016x}"),
            weights_fingerprint: format!("{fingerprint:016x}"),
        })
    }

    /// The model to load for an index in `index_dir`: its folder when recorded, else the name it was given.
    pub fn location(&self, index_dir: &Path) -> String {
        match &self.folder {
            Some(folder) => index_dir.join(folder).display().to_string(),
            None => self.path.clone(),
        }
    }

    /// Why `other` is not this model, or `None` when it is.
    pub fn differs_from(&self, other: &Self) -> Option<String> {
        if self.config_hash != other.config_hash {
            Some(format!(
                "their configs differ (hash {} against {})",
                self.config_hash, other.config_hash
            ))
        } else if self.weights_fingerprint != other.weights_fingerprint {
            Some(format!(
                "same config, other weights (fingerprint {} against {})",
                self.weights_fingerprint, other.weights_fingerprint
            ))
        } else {
            None
        }
    }
}

fn fingerprint_file(hash: u64, path: &Path) -> Result<u64, IndexError> {
    use std::io::{Read, Seek, SeekFrom};
    let io = |e| IndexError::io(path, e);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let mut hash = fnv(hash, name.unwrap_or_default().as_bytes());
    hash = fnv(hash, &size.to_le_bytes());
    let mut buffer = Vec::new();
    (&mut file)
        .take(EDGE)
        .read_to_end(&mut buffer)
        .map_err(io)?;
    if size > EDGE {
        file.seek(SeekFrom::Start(size.saturating_sub(EDGE).max(EDGE)))
            .map_err(io)?;
        file.take(EDGE).read_to_end(&mut buffer).map_err(io)?;
    }
    Ok(fnv(hash, &buffer))
}
