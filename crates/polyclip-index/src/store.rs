//! The index folder on disk and in memory: rows appended a chunk at a time, cut back to the complete ones when
//! opened (see the crate documentation for the layout).

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::IndexError;
use crate::item::IndexItem;
use crate::meta::IndexMeta;

pub const META_FILE: &str = "index.json";
pub const EMBEDDINGS_FILE: &str = "embeddings.f32";
pub const ITEMS_FILE: &str = "items.jsonl";
/// Present while [`IndexStore::retain`] replaces the two files: an index found with it was interrupted then.
pub const REWRITING_FILE: &str = "rewriting";

/// An index, loaded.
#[derive(Debug)]
pub struct IndexStore {
    dir: PathBuf,
    pub meta: IndexMeta,
    items: Vec<IndexItem>,
    /// `items.len() × meta.dim`, row-major.
    embeddings: Vec<f32>,
    keys: HashSet<String>,
}

impl IndexStore {
    /// Whether `dir` holds an index.
    pub fn exists(dir: &Path) -> bool {
        dir.join(META_FILE).is_file()
    }

    /// Opens the index in `dir`, or creates an empty one with `meta` when there is none. An existing index made
    /// by another model or with another embedding size is an error (use another folder, or remove it).
    pub fn open_or_create(dir: &Path, meta: IndexMeta) -> Result<Self, IndexError> {
        if Self::exists(dir) {
            let store = Self::open(dir)?;
            if store.meta.dim != meta.dim {
                return Err(IndexError::format(
                    &dir.join(META_FILE),
                    format!(
                        "holds {}-dimensional embeddings and the model makes {}; index into another folder",
                        store.meta.dim, meta.dim
                    ),
                ));
            }
            if let Some(reason) = store.meta.model.differs_from(&meta.model) {
                return Err(IndexError::OtherModel {
                    index: dir.to_owned(),
                    built_with: store.meta.model.path.clone(),
                    asked: meta.model.path.clone(),
                    asked_path: meta.model.path.clone(),
                    reason,
                });
            }
            return Ok(store);
        }
        std::fs::create_dir_all(dir).map_err(|e| IndexError::io(dir, e))?;
        for name in [EMBEDDINGS_FILE, ITEMS_FILE] {
            let path = dir.join(name);
            File::create(&path).map_err(|e| IndexError::io(&path, e))?;
        }
        meta.write(&dir.join(META_FILE))?;
        Ok(Self {
            dir: dir.to_owned(),
            meta,
            items: Vec::new(),
            embeddings: Vec::new(),
            keys: HashSet::new(),
        })
    }

    /// Opens the index in `dir`, cutting both files back to the rows complete in both (an interrupted run).
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        let meta_path = dir.join(META_FILE);
        if !meta_path.is_file() {
            return Err(IndexError::format(
                dir,
                "not an index (no index.json); make one with `polyclip index --model M --images DIR --out INDEX`",
            ));
        }
        let meta = IndexMeta::read(&meta_path)?;
        if dir.join(REWRITING_FILE).exists() {
            return Err(IndexError::format(
                dir,
                "was interrupted while pictures that are gone were removed from it; index the pictures again into a new folder",
            ));
        }
        let items_path = dir.join(ITEMS_FILE);
        let text =
            std::fs::read_to_string(&items_path).map_err(|e| IndexError::io(&items_path, e))?;
        let mut items = Vec::new();
        // The byte offset after each complete line.
        let mut line_ends = Vec::new();
        let mut end = 0;
        for line in text.split_inclusive('\n') {
            if !line.ends_with('\n') {
                break; // cut short by an interruption
            }
            let item: IndexItem = serde_json::from_str(line).map_err(|e| {
                IndexError::format(&items_path, format!("line {}: {e}", items.len() + 1))
            })?;
            items.push(item);
            end += line.len();
            line_ends.push(end);
        }
        let embeddings_path = dir.join(EMBEDDINGS_FILE);
        let bytes =
            std::fs::read(&embeddings_path).map_err(|e| IndexError::io(&embeddings_path, e))?;
        let row_bytes = meta.dim * 4;
        let rows = (bytes.len() / row_bytes).min(items.len());
        items.truncate(rows);
        let items_bytes = rows.checked_sub(1).map_or(0, |last| line_ends[last]);
        if bytes.len() != rows * row_bytes {
            truncate(&embeddings_path, (rows * row_bytes) as u64)?;
        }
        if text.len() != items_bytes {
            truncate(&items_path, items_bytes as u64)?;
        }
        let embeddings = bytes[..rows * row_bytes]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let keys = items.iter().map(|item| item.picture.key()).collect();
        Ok(Self {
            dir: dir.to_owned(),
            meta,
            items,
            embeddings,
            keys,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn items(&self) -> &[IndexItem] {
        &self.items
    }

    pub fn item(&self, id: usize) -> Option<&IndexItem> {
        self.items.get(id)
    }

    /// Row-major `len() × dim`.
    pub fn embeddings(&self) -> &[f32] {
        &self.embeddings
    }

    /// Whether a picture with this key is indexed.
    pub fn contains(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    /// Appends rows: the embeddings (L2-normalised, `items.len() × dim`) first, then the items, so that an
    /// interruption between the two leaves rows that [`open`](Self::open) cuts back.
    pub fn append(&mut self, items: &[IndexItem], embeddings: &[f32]) -> Result<(), IndexError> {
        let dim = self.meta.dim;
        if embeddings.len() != items.len() * dim {
            return Err(IndexError::Query(format!(
                "{} items and {} values of {dim}-dimensional embeddings",
                items.len(),
                embeddings.len()
            )));
        }
        append_to(&self.dir.join(EMBEDDINGS_FILE), &le_bytes(embeddings))?;
        append_to(&self.dir.join(ITEMS_FILE), self.lines(items)?.as_bytes())?;
        self.keys
            .extend(items.iter().map(|item| item.picture.key()));
        self.items.extend_from_slice(items);
        self.embeddings.extend_from_slice(embeddings);
        Ok(())
    }

    /// Keeps only the rows for which `keep` holds, rewriting both files (through temporary files and renames).
    /// Returns how many rows were dropped.
    pub fn retain(&mut self, keep: impl Fn(&IndexItem) -> bool) -> Result<usize, IndexError> {
        let dim = self.meta.dim;
        let keep: Vec<bool> = self.items.iter().map(&keep).collect();
        let dropped = keep.iter().filter(|k| !**k).count();
        if dropped == 0 {
            return Ok(0);
        }
        let mut items = Vec::with_capacity(self.items.len() - dropped);
        let mut embeddings = Vec::with_capacity(items.capacity() * dim);
        for ((item, row), keep) in self
            .items
            .iter()
            .zip(self.embeddings.chunks_exact(dim))
            .zip(&keep)
        {
            if *keep {
                items.push(item.clone());
                embeddings.extend_from_slice(row);
            }
        }
        let bytes = le_bytes(&embeddings);
        let lines = self.lines(&items)?;
        let marker = self.dir.join(REWRITING_FILE);
        std::fs::write(&marker, b"").map_err(|e| IndexError::io(&marker, e))?;
        replace(&self.dir.join(EMBEDDINGS_FILE), &bytes)?;
        replace(&self.dir.join(ITEMS_FILE), lines.as_bytes())?;
        std::fs::remove_file(&marker).map_err(|e| IndexError::io(&marker, e))?;
        self.keys = items.iter().map(|item| item.picture.key()).collect();
        self.items = items;
        self.embeddings = embeddings;
        Ok(dropped)
    }
}

impl IndexStore {
    /// `items` as `items.jsonl` lines.
    fn lines(&self, items: &[IndexItem]) -> Result<String, IndexError> {
        let mut lines = String::new();
        for item in items {
            let line = serde_json::to_string(item)
                .map_err(|e| IndexError::format(&self.dir.join(ITEMS_FILE), e.to_string()))?;
            lines.push_str(&line);
            lines.push('\n');
        }
        Ok(lines)
    }
}

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn truncate(path: &Path, len: u64) -> Result<(), IndexError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|file| file.set_len(len))
        .map_err(|e| IndexError::io(path, e))
}

fn append_to(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    let mut file = OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| IndexError::io(path, e))?;
    file.write_all(bytes).map_err(|e| IndexError::io(path, e))?;
    file.sync_data().map_err(|e| IndexError::io(path, e))
}

fn replace(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| IndexError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| IndexError::io(path, e))
}
