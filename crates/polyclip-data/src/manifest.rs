//! JSONL image–caption manifests: one JSON object per line with an image path (relative to the manifest's
//! folder or absolute), a list of captions and an optional language.
//!
//! ```json
//! {"image": "images/000001.png", "captions": ["dois círculos vermelhos", "…"], "lang": "pt"}
//! ```
//!
//! `image_path` is accepted for `image` (clip-italian's key). Every problem is reported with the manifest's
//! path and 1-based line number; with [`BadInputPolicy::Skip`] bad lines are counted and skipped instead.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::DataError;

/// One usable manifest line.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestEntry {
    /// Resolved image path.
    pub image: PathBuf,
    pub captions: Vec<String>,
    pub lang: Option<String>,
    /// 1-based line in the manifest, for error messages.
    pub line: usize,
}

/// What to do with a bad line or image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadInputPolicy {
    /// Stop at the first problem with an error naming the file and line.
    #[default]
    Fail,
    /// Count and skip problems (reported at the end by the caller).
    Skip,
}

/// A loaded manifest.
#[derive(Debug)]
pub struct Manifest {
    pub path: PathBuf,
    pub entries: Vec<ManifestEntry>,
    /// Problems met and skipped under [`BadInputPolicy::Skip`].
    pub skipped: Vec<DataError>,
}

#[derive(Deserialize)]
struct RawLine {
    #[serde(alias = "image_path")]
    image: PathBuf,
    captions: Vec<String>,
    #[serde(default)]
    lang: Option<String>,
}

impl Manifest {
    /// Reads and checks a manifest: JSON per line, non-empty captions, the image exists and its header decodes.
    pub fn load(path: &Path, policy: BadInputPolicy) -> Result<Self, DataError> {
        let text = fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        let root = path.parent().unwrap_or(Path::new("."));
        let mut entries = Vec::new();
        let mut skipped = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            match parse_line(path, root, index + 1, raw) {
                Ok(entry) => entries.push(entry),
                Err(error) if policy == BadInputPolicy::Skip => skipped.push(error),
                Err(error) => return Err(error),
            }
        }
        if entries.is_empty() {
            return Err(DataError::EmptyManifest {
                path: path.to_owned(),
            });
        }
        Ok(Self {
            path: path.to_owned(),
            entries,
            skipped,
        })
    }
}

fn parse_line(
    path: &Path,
    root: &Path,
    line: usize,
    raw: &str,
) -> Result<ManifestEntry, DataError> {
    let parsed: RawLine = serde_json::from_str(raw).map_err(|source| DataError::ManifestJson {
        path: path.to_owned(),
        line,
        source,
    })?;
    let captions: Vec<String> = parsed
        .captions
        .into_iter()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    if captions.is_empty() {
        return Err(DataError::EmptyCaptions {
            path: path.to_owned(),
            line,
        });
    }
    let image = root.join(&parsed.image);
    if !image.is_file() {
        return Err(DataError::MissingImage {
            path: path.to_owned(),
            line,
            image,
        });
    }
    let header = image::ImageReader::open(&image)
        .and_then(|reader| reader.with_guessed_format())
        .map_err(image::ImageError::IoError)
        .and_then(|reader| reader.into_dimensions());
    if let Err(source) = header {
        return Err(DataError::CorruptImage {
            path: path.to_owned(),
            line,
            image,
            source,
        });
    }
    Ok(ManifestEntry {
        image,
        captions,
        lang: parsed.lang,
        line,
    })
}
