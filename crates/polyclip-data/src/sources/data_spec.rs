//! A data path as users give it (`--train pt=…`, `[data] train`): WebDataset shards when it names `.tar` files,
//! else a manifest file. The one place that knows both readers, so neither imports the other.

use std::path::Path;

use crate::error::DataError;
use crate::sources::manifest::{Manifest, ReadOptions};
use crate::sources::webdataset::{index_shards, is_shard_spec};

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
