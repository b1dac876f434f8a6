//! A data path as users give it (`--train pt=…`, `[data] train`): WebDataset shards when it names `.tar` files,
//! else a manifest file. The one place that knows both readers, so neither imports the other.

use std::path::Path;

use crate::error::DataError;
use crate::sources::manifest::{Manifest, ReadOptions};
use crate::sources::webdataset::{index_shards, is_shard_spec, shard_list};

impl Manifest {
    /// Reads a data path: WebDataset shards when it names `.tar` files (brace patterns allowed, relative to the
    /// working folder; see [`crate::sources::webdataset`]), else a JSONL/TSV/CSV manifest file.
    pub fn open(spec: &str, options: &ReadOptions) -> Result<Self, DataError> {
        if is_shard_spec(spec) {
            index_shards(spec, Path::new(""), options)
        } else {
            Self::read(Path::new(spec), options)
        }
    }
}

/// What a data path holds, checked cheaply before a run spends any time: every shard or the manifest file
/// exists (else the error naming the first missing one), and for a JSONL manifest its number of examples (one
/// per non-blank line; `None` for shards and TSV/CSV files, whose examples are only known once read).
pub fn check_data_spec(spec: &str) -> Result<Option<usize>, DataError> {
    let missing = |path: &Path| DataError::Io {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
    };
    if is_shard_spec(spec) {
        let shards = shard_list(spec, Path::new(""))?;
        return match shards.iter().find(|shard| !shard.is_file()) {
            Some(shard) => Err(missing(shard)),
            None => Ok(None),
        };
    }
    let path = Path::new(spec);
    if !path.is_file() {
        return Err(missing(path));
    }
    if matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("tsv" | "csv")
    ) {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    Ok(Some(
        text.lines().filter(|line| !line.trim().is_empty()).count(),
    ))
}

/// What identifies a data path's content without reading it: the size and modification time (seconds since
/// the Unix epoch) of each file it names, as `make` would judge them — what a stage's key records, so that data
/// rewritten in place under the same name is not taken for the data a stage trained on.
pub fn data_identity(spec: &str) -> Result<Vec<(String, u64, u64)>, DataError> {
    let files = if is_shard_spec(spec) {
        shard_list(spec, Path::new(""))?
    } else {
        vec![Path::new(spec).to_owned()]
    };
    files
        .into_iter()
        .map(|file| {
            let metadata = std::fs::metadata(&file).map_err(|e| DataError::io(&file, e))?;
            let modified = metadata
                .modified()
                .ok()
                .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |since| since.as_secs());
            Ok((file.display().to_string(), metadata.len(), modified))
        })
        .collect()
}
