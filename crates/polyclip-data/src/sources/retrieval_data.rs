//! Retrieval test sets with several captions per image, in the formats the benchmarks ship:
//!
//! - Karpathy-style JSON (Flickr30k, COCO): `{"images": [{"filename", "filepath"?, "split", "sentences": [{"raw"}]}]}`,
//!   images under `<images>/<filepath>/<filename>`, one split kept (`test` by default);
//! - XTD10-style parallel files: `test_image_names.txt` (one image per line) and `test_1kcaptions_<lang>.txt` (the
//!   caption of the same line's image);
//! - any manifest or WebDataset shards polyclip reads (every caption of an entry belongs to its image).
//!
//! Images that are missing or whose header does not decode stop the read, or under [`BadInputPolicy::Skip`] are
//! dropped with their captions and counted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::DataError;
use crate::sources::image_source::ImageSource;
use crate::sources::manifest::{BadInputPolicy, Manifest, ManifestEntry};

/// Images, captions, and the image of every caption.
#[derive(Debug)]
pub struct RetrievalData {
    /// Where it was read from, for messages.
    pub source: PathBuf,
    /// One entry per image; `captions` are the image's captions, in file order.
    pub entries: Vec<ManifestEntry>,
    /// Images dropped under [`BadInputPolicy::Skip`], with why.
    pub skipped: Vec<DataError>,
}

#[derive(Deserialize)]
struct KarpathyFile {
    images: Vec<KarpathyImage>,
}

#[derive(Deserialize)]
struct KarpathyImage {
    filename: String,
    #[serde(default)]
    filepath: Option<String>,
    split: String,
    sentences: Vec<KarpathySentence>,
}

#[derive(Deserialize)]
struct KarpathySentence {
    raw: String,
}

impl RetrievalData {
    /// The images of `split` in a Karpathy-style JSON file.
    pub fn karpathy(
        annotations: &Path,
        images: &Path,
        split: &str,
        policy: BadInputPolicy,
    ) -> Result<Self, DataError> {
        let text =
            std::fs::read_to_string(annotations).map_err(|e| DataError::io(annotations, e))?;
        let file: KarpathyFile =
            serde_json::from_str(&text).map_err(|e| DataError::ManifestRow {
                path: annotations.to_owned(),
                line: e.line(),
                reason: format!("not a Karpathy-style split file: {e}"),
            })?;
        let splits: Vec<&str> = file
            .images
            .iter()
            .map(|image| image.split.as_str())
            .collect();
        let rows: Vec<(usize, PathBuf, Vec<String>)> = file
            .images
            .iter()
            .enumerate()
            .filter(|(_, image)| image.split == split)
            .map(|(index, image)| {
                let folder = match &image.filepath {
                    Some(filepath) => images.join(filepath),
                    None => images.to_owned(),
                };
                let captions = image.sentences.iter().map(|s| s.raw.clone()).collect();
                (index + 1, folder.join(&image.filename), captions)
            })
            .collect();
        if rows.is_empty() {
            let mut known: Vec<&str> = splits.clone();
            known.sort_unstable();
            known.dedup();
            return Err(DataError::ManifestRow {
                path: annotations.to_owned(),
                line: 1,
                reason: format!("no image in split `{split}` (splits: {})", known.join(", ")),
            });
        }
        Self::checked(annotations, rows, policy)
    }

    /// XTD10: image names and captions, line by line.
    pub fn parallel_files(
        image_names: &Path,
        captions: &Path,
        images: &Path,
        policy: BadInputPolicy,
    ) -> Result<Self, DataError> {
        let read = |path: &Path| -> Result<Vec<String>, DataError> {
            Ok(std::fs::read_to_string(path)
                .map_err(|e| DataError::io(path, e))?
                .lines()
                .map(|line| line.trim().to_owned())
                .collect::<Vec<_>>())
        };
        let mut names = read(image_names)?;
        let mut texts = read(captions)?;
        while names.last().is_some_and(String::is_empty) {
            names.pop();
        }
        while texts.last().is_some_and(String::is_empty) {
            texts.pop();
        }
        if names.len() != texts.len() {
            return Err(DataError::ManifestRow {
                path: captions.to_owned(),
                line: texts.len().min(names.len()) + 1,
                reason: format!(
                    "{} captions for the {} images of {}",
                    texts.len(),
                    names.len(),
                    image_names.display()
                ),
            });
        }
        let rows = names
            .into_iter()
            .zip(texts)
            .enumerate()
            .map(|(line, (name, caption))| (line + 1, images.join(name), vec![caption]))
            .collect();
        Self::checked(captions, rows, policy)
    }

    /// Every image of a manifest or shard list with all its captions: entries naming the same image (a TSV has
    /// a row per caption) are one image, at its first appearance, with their captions in file order.
    pub fn from_manifest(manifest: Manifest) -> Self {
        let mut entries: Vec<ManifestEntry> = Vec::new();
        let mut position: HashMap<String, usize> = HashMap::new();
        for entry in manifest.entries {
            match position.get(&entry.image.to_string()) {
                Some(&index) => entries[index].captions.extend(entry.captions),
                None => {
                    position.insert(entry.image.to_string(), entries.len());
                    entries.push(entry);
                }
            }
        }
        Self {
            source: manifest.path,
            entries,
            skipped: manifest.skipped,
        }
    }

    /// Rows `(line, image, captions)` whose image exists and whose header decodes.
    fn checked(
        source: &Path,
        rows: Vec<(usize, PathBuf, Vec<String>)>,
        policy: BadInputPolicy,
    ) -> Result<Self, DataError> {
        let mut entries = Vec::new();
        let mut skipped = Vec::new();
        for (line, image, captions) in rows {
            let image = ImageSource::File(image);
            let problem = image.check(source, line).err();
            let captions: Vec<String> = captions
                .into_iter()
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect();
            let problem = problem.or_else(|| {
                captions.is_empty().then(|| DataError::EmptyCaptions {
                    path: source.to_owned(),
                    line,
                })
            });
            match problem {
                Some(error) if policy == BadInputPolicy::Skip => skipped.push(error),
                Some(error) => return Err(error),
                None => entries.push(ManifestEntry {
                    image,
                    captions,
                    generated_captions: Vec::new(),
                    similarities: Vec::new(),
                    lang: None,
                    line,
                }),
            }
        }
        if entries.is_empty() {
            return Err(DataError::EmptyManifest {
                path: source.to_owned(),
            });
        }
        Ok(Self {
            source: source.to_owned(),
            entries,
            skipped,
        })
    }

    /// Every caption, image by image, and the image of each.
    pub fn captions(&self) -> (Vec<String>, Vec<usize>) {
        let mut captions = Vec::new();
        let mut caption_image = Vec::new();
        for (image, entry) in self.entries.iter().enumerate() {
            captions.extend(entry.captions.iter().cloned());
            caption_image.extend(std::iter::repeat_n(image, entry.captions.len()));
        }
        (captions, caption_image)
    }

    /// The images as a manifest (to embed them with the loader).
    pub fn manifest(&self) -> Manifest {
        Manifest {
            path: self.source.clone(),
            entries: self.entries.clone(),
            skipped: Vec::new(),
        }
    }
}
