//! Where an example's image lives: a file, a member of a tar shard (read by offset when the batch needs it), or
//! bytes already in memory (a streamed shard).

use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::DynamicImage;

/// An image of a dataset, decoded only when a batch needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    /// An image file.
    File(PathBuf),
    /// The bytes `offset..offset + len` of a tar shard (an indexed WebDataset member).
    TarMember {
        shard: Arc<PathBuf>,
        member: String,
        offset: u64,
        len: u64,
    },
    /// Bytes read from a stream (a WebDataset member seen while streaming).
    Bytes { name: String, bytes: Arc<[u8]> },
}

impl ImageSource {
    /// The file, when the image is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Self::File(path) => Some(path),
            _ => None,
        }
    }

    /// The encoded bytes.
    pub fn read(&self) -> std::io::Result<Arc<[u8]>> {
        match self {
            Self::File(path) => Ok(std::fs::read(path)?.into()),
            Self::TarMember {
                shard, offset, len, ..
            } => {
                let mut file = File::open(shard.as_ref())?;
                file.seek(SeekFrom::Start(*offset))?;
                let mut bytes = vec![0; usize::try_from(*len).unwrap_or(usize::MAX)];
                file.read_exact(&mut bytes)?;
                Ok(bytes.into())
            }
            Self::Bytes { bytes, .. } => Ok(bytes.clone()),
        }
    }

    /// Decodes the image, guessing the format from its content.
    pub fn decode(&self) -> Result<DynamicImage, image::ImageError> {
        match self {
            Self::File(path) => crate::preprocess::decode_image(path),
            _ => {
                let bytes = self.read().map_err(image::ImageError::IoError)?;
                crate::preprocess::decode_image_bytes(&bytes)
            }
        }
    }

    /// Reads only the header: whether the format is known and the dimensions parse.
    pub fn check_header(&self) -> Result<(u32, u32), image::ImageError> {
        match self {
            Self::File(path) => image::ImageReader::open(path)?
                .with_guessed_format()?
                .into_dimensions(),
            _ => {
                let bytes = self.read().map_err(image::ImageError::IoError)?;
                image::ImageReader::new(std::io::Cursor::new(&bytes[..]))
                    .with_guessed_format()?
                    .into_dimensions()
            }
        }
    }

    /// The image exists and its header decodes; else the error naming `listed_in` (the manifest, split or labels
    /// file) and its `line`.
    pub fn check(&self, listed_in: &Path, line: usize) -> Result<(), crate::DataError> {
        if self.file().is_some_and(|file| !file.is_file()) {
            return Err(crate::DataError::MissingImage {
                path: listed_in.to_owned(),
                line,
                image: self.clone(),
            });
        }
        self.check_header()
            .map(|_| ())
            .map_err(|source| crate::DataError::CorruptImage {
                path: listed_in.to_owned(),
                line,
                image: self.clone(),
                source: Box::new(source),
            })
    }
}

impl fmt::Display for ImageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::TarMember { shard, member, .. } => write!(f, "{}:{member}", shard.display()),
            Self::Bytes { name, .. } => write!(f, "{name}"),
        }
    }
}

impl From<PathBuf> for ImageSource {
    fn from(path: PathBuf) -> Self {
        Self::File(path)
    }
}
