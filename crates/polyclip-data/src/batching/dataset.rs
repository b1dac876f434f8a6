//! The burn [`Dataset`] of image–caption examples read from a manifest.

use std::path::PathBuf;
use std::sync::Arc;

use burn::data::dataset::Dataset;

use crate::sources::manifest::{Manifest, ManifestEntry};

/// One example: an image and every caption it has (a caption is drawn per use by the batcher).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageTextExample {
    pub entry: ManifestEntry,
    /// The manifest it came from, for error messages.
    pub manifest: Arc<PathBuf>,
}

/// The examples of one manifest.
#[derive(Debug, Clone)]
pub struct ImageTextDataset {
    manifest: Arc<PathBuf>,
    entries: Arc<Vec<ManifestEntry>>,
}

impl ImageTextDataset {
    /// The usable entries of a loaded manifest.
    pub fn new(manifest: Manifest) -> Self {
        Self {
            manifest: Arc::new(manifest.path),
            entries: Arc::new(manifest.entries),
        }
    }

    /// The manifest's entries in file order.
    pub fn entries(&self) -> &[ManifestEntry] {
        &self.entries
    }

    /// The manifest's path.
    pub fn manifest_path(&self) -> &std::path::Path {
        &self.manifest
    }
}

impl Dataset<ImageTextExample> for ImageTextDataset {
    fn get(&self, index: usize) -> Option<ImageTextExample> {
        self.entries.get(index).map(|entry| ImageTextExample {
            entry: entry.clone(),
            manifest: self.manifest.clone(),
        })
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}
