//! Labelled image folders for zero-shot classification:
//!
//! - class sub-folders (torchvision's `ImageFolder`): `root/<class>/<image>`, classes in sorted order, a class's
//!   images found in its folder and every folder below it, in torchvision's order ([`picture_files`]);
//! - a flat folder with a labels file (ImageNet's validation set): one `<image> <label>` line per image, the label a
//!   WordNet id (`n01440764`) or a class index.
//!
//! Classes named by WordNet ids are numbered in ImageNet-1k's order (the sorted ids of
//! `datasets/classnames/imagenet_wnids.txt`), so a folder with a subset of the classes still lines up with the
//! shipped class names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::sources::image_source::ImageSource;
use crate::sources::manifest::{BadInputPolicy, Manifest, ManifestEntry};
use crate::sources::picture_files::picture_files;

/// Images and the class index of each.
#[derive(Debug)]
pub struct LabelledImages {
    pub root: PathBuf,
    pub images: Vec<ImageSource>,
    pub labels: Vec<usize>,
    /// Class index → the folder name or label it was read from.
    pub class_ids: BTreeMap<usize, String>,
    /// Whether the class indices are ImageNet-1k's.
    pub imagenet: bool,
    pub skipped: Vec<DataError>,
}

/// ImageNet-1k's WordNet ids in class-index order.
pub fn imagenet_wnids(dir: &Path) -> Result<Vec<String>, DataError> {
    let path = dir.join("imagenet_wnids.txt");
    let text = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
    Ok(text.split_whitespace().map(str::to_owned).collect())
}

fn is_wnid(name: &str) -> bool {
    name.len() == 9 && name.starts_with('n') && name[1..].bytes().all(|b| b.is_ascii_digit())
}

fn sorted_dir(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut paths = std::fs::read_dir(dir)
        .map_err(|e| DataError::io(dir, e))?
        .map(|entry| entry.map(|e| e.path()).map_err(|e| DataError::io(dir, e)))
        .collect::<Result<Vec<_>, _>>()?;
    paths.sort();
    Ok(paths)
}

impl LabelledImages {
    /// `root/<class>/<image>` (or deeper: `root/<class>/<any folders>/<image>`); WordNet-id folders get ImageNet indices, other names their sorted position.
    pub fn from_class_folders(
        root: &Path,
        wnids: &[String],
        policy: BadInputPolicy,
    ) -> Result<Self, DataError> {
        let folders: Vec<PathBuf> = sorted_dir(root)?
            .into_iter()
            .filter(|p| p.is_dir())
            .collect();
        let names: Vec<String> = folders
            .iter()
            .map(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        if names.is_empty() {
            return Err(DataError::ImageFolder {
                root: root.to_owned(),
                reason: "has no class sub-folders (expected <root>/<class>/<image>, or give a labels file)"
                    .into(),
            });
        }
        let imagenet = names.iter().all(|name| is_wnid(name));
        let mut rows = Vec::new();
        let mut class_ids = BTreeMap::new();
        for (position, (folder, name)) in folders.iter().zip(&names).enumerate() {
            let class = if imagenet {
                wnids.iter().position(|wnid| wnid == name).ok_or_else(|| {
                    DataError::ImageFolder {
                        root: root.to_owned(),
                        reason: format!("class folder `{name}` is not an ImageNet-1k WordNet id"),
                    }
                })?
            } else {
                position
            };
            class_ids.insert(class, name.clone());
            for image in picture_files(folder)? {
                rows.push((image, class));
            }
        }
        Self::checked(root, rows, class_ids, imagenet, policy)
    }

    /// A flat folder and an ImageNet-style labels file of `<image> <label>` lines (whitespace or comma separated,
    /// `#` lines are comments, a first line without a label is a header), the label a WordNet id or a 0-based
    /// class index in sorted-WordNet-id order; further fields are ignored and an image without an extension is
    /// `<image>.JPEG`, so Kaggle's `LOC_val_solution.csv` reads as it is.
    pub fn from_labels_file(
        root: &Path,
        labels: &Path,
        wnids: &[String],
        policy: BadInputPolicy,
    ) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(labels).map_err(|e| DataError::io(labels, e))?;
        let mut rows = Vec::new();
        let mut class_ids = BTreeMap::new();
        let mut by_wnid = None;
        let mut header_seen = false;
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let row = |reason: String| DataError::ManifestRow {
                path: labels.to_owned(),
                line: index + 1,
                reason,
            };
            let mut fields = line
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|f| !f.is_empty());
            let (Some(image), Some(label)) = (fields.next(), fields.next()) else {
                return Err(row("expected `<image> <label>`".into()));
            };
            let (class, from_wnid) = if is_wnid(label) {
                let class = wnids
                    .iter()
                    .position(|wnid| wnid == label)
                    .ok_or_else(|| row(format!("`{label}` is not an ImageNet-1k WordNet id")))?;
                (class, true)
            } else if let Ok(class) = label.parse::<usize>() {
                (class, false)
            } else if rows.is_empty() && by_wnid.is_none() && !header_seen {
                // A header line (`ImageId,PredictionString`).
                header_seen = true;
                continue;
            } else {
                return Err(row(format!(
                    "label `{label}` is neither a WordNet id nor a class index"
                )));
            };
            if *by_wnid.get_or_insert(from_wnid) != from_wnid {
                return Err(row("mixes WordNet ids and class indices".into()));
            }
            class_ids.insert(class, label.to_owned());
            // Kaggle's LOC_val_solution.csv names images without their `.JPEG`.
            let image = if Path::new(image).extension().is_none() {
                format!("{image}.JPEG")
            } else {
                image.to_owned()
            };
            rows.push((root.join(image), class));
        }
        // A labels file is ImageNet-style: indices are positions in the sorted-WordNet-id order.
        if let Some((&last, _)) = class_ids
            .last_key_value()
            .filter(|(last, _)| **last >= wnids.len())
        {
            return Err(DataError::ManifestRow {
                path: labels.to_owned(),
                line: 1,
                reason: format!(
                    "class index {last} is past ImageNet-1k's {} classes (labels are 0-based, in sorted WordNet-id order)",
                    wnids.len()
                ),
            });
        }
        Self::checked(labels, rows, class_ids, true, policy)
    }

    fn checked(
        source: &Path,
        rows: Vec<(PathBuf, usize)>,
        class_ids: BTreeMap<usize, String>,
        imagenet: bool,
        policy: BadInputPolicy,
    ) -> Result<Self, DataError> {
        let mut images = Vec::new();
        let mut labels = Vec::new();
        let mut skipped = Vec::new();
        for (line, (path, class)) in rows.into_iter().enumerate() {
            let image = ImageSource::File(path);
            let problem = image.check(source, line + 1).err();
            match problem {
                Some(error) if policy == BadInputPolicy::Skip => skipped.push(error),
                Some(error) => return Err(error),
                None => {
                    images.push(image);
                    labels.push(class);
                }
            }
        }
        if images.is_empty() {
            return Err(DataError::ImageFolder {
                root: source.to_owned(),
                reason: "holds no readable image".into(),
            });
        }
        Ok(Self {
            root: source.to_owned(),
            images,
            labels,
            class_ids,
            imagenet,
            skipped,
        })
    }

    /// The images as a manifest (to embed them with the loader); the caption is the class id.
    pub fn manifest(&self) -> Manifest {
        let entries = self
            .images
            .iter()
            .zip(&self.labels)
            .enumerate()
            .map(|(line, (image, label))| ManifestEntry {
                image: image.clone(),
                captions: vec![self.class_ids.get(label).cloned().unwrap_or_default()],
                generated_captions: Vec::new(),
                similarities: Vec::new(),
                lang: None,
                line: line + 1,
            })
            .collect();
        Manifest {
            path: self.root.clone(),
            entries,
            skipped: Vec::new(),
        }
    }
}
