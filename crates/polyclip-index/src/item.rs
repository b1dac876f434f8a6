//! One indexed picture: where it is and what its source said about it.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Where a picture is, written relative to the index folder (like the manifests polyclip writes), so that an
/// index and its pictures can be moved together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PictureRef {
    /// An image file.
    File { image: String },
    /// A member of a WebDataset tar shard, read by offset.
    Member {
        shard: String,
        member: String,
        offset: u64,
        len: u64,
    },
}

impl PictureRef {
    /// What identifies the picture among others of the same index (to skip it when it is already there).
    pub fn key(&self) -> String {
        match self {
            Self::File { image } => image.clone(),
            Self::Member { shard, member, .. } => format!("{shard}#{member}"),
        }
    }

    /// A short name for people: the file name, or `shard#member`.
    pub fn display_name(&self) -> String {
        match self {
            Self::File { image } => Path::new(image)
                .file_name()
                .map_or_else(|| image.clone(), |name| name.to_string_lossy().into_owned()),
            Self::Member { shard, member, .. } => {
                let shard = Path::new(shard)
                    .file_name()
                    .map_or_else(|| shard.clone(), |name| name.to_string_lossy().into_owned());
                format!("{shard}#{member}")
            }
        }
    }
}

/// A row of the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexItem {
    #[serde(flatten)]
    pub picture: PictureRef,
    /// The first caption of the picture's manifest line, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}
