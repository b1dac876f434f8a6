//! `polyclip merge-shards` and `polyclip merge-index`: the outputs of several machines' parts of one `prepare` or
//! one `index` (see [`crate::parts`]) made into one, in the order the parts are given.

use std::path::{Path, PathBuf};

use polyclip_data::image_reference;
use polyclip_data::sources::webdataset::ShardWriter;
use polyclip_index::ann::{AnnIndex, AnnParams};
use polyclip_index::store::ITEMS_FILE;
use polyclip_index::{IndexItem, IndexMeta, IndexStore, SearchMode};

use crate::error::CliError;
use crate::index_pictures::{picture_ref, picture_source};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |source| CliError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The `.tar` files of a part folder, in name order.
fn shards_of(part: &Path) -> Result<Vec<PathBuf>, CliError> {
    let mut shards = Vec::new();
    for entry in std::fs::read_dir(part).map_err(io(part))? {
        let path = entry.map_err(io(part))?.path();
        if path.extension().is_some_and(|e| e == "tar") && path.is_file() {
            shards.push(path);
        }
    }
    shards.sort();
    if shards.is_empty() {
        return Err(CliError::Usage(format!(
            "{}: no .tar shards (give the --out folders of `polyclip prepare --shard-index I --num-shards N`)",
            part.display()
        )));
    }
    Ok(shards)
}

/// Numbers the shards of `parts` (each a `prepare` output folder), part after part, into `out` as
/// `00000.tar, 00001.tar, …` (hard links where the file system allows, else copies); returns the shard pattern.
pub fn merge_shards(parts: &[PathBuf], out: &Path) -> Result<String, CliError> {
    let mut all = Vec::new();
    for part in parts {
        all.extend(shards_of(part)?);
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    if std::fs::read_dir(out).map_err(io(out))?.next().is_some() {
        return Err(CliError::Usage(format!(
            "{}: not empty; merge into a new folder",
            out.display()
        )));
    }
    for (number, shard) in all.iter().enumerate() {
        let target = out.join(format!("{number:05}.tar"));
        if std::fs::hard_link(shard, &target).is_err() {
            std::fs::copy(shard, &target).map_err(io(shard))?;
        }
    }
    Ok(out
        .join(ShardWriter::pattern(all.len()))
        .display()
        .to_string())
}

/// Puts the index folders `parts` (each made by `polyclip index` with the same model) into one index folder `out`:
/// their rows in the order given, pictures named relative to `out`; builds the HNSW graph when `search` wants one
/// for the merged size. Returns the number of pictures.
pub fn merge_index(parts: &[PathBuf], out: &Path, search: SearchMode) -> Result<usize, CliError> {
    let Some(first) = parts.first() else {
        return Err(CliError::Usage(
            "merge-index: no index folder to merge".into(),
        ));
    };
    if IndexStore::exists(out) {
        return Err(CliError::Usage(format!(
            "{}: already an index; merge into a new folder",
            out.display()
        )));
    }
    let first = IndexStore::open(first)?;
    std::fs::create_dir_all(out).map_err(io(out))?;
    // Every part is checked, and its rows renamed, before anything is written: a refused merge leaves no index.
    let mut seen = std::collections::HashSet::new();
    let mut rows = Vec::with_capacity(parts.len());
    for part in parts {
        let store = IndexStore::open(part)?;
        if let Some(reason) = store.meta.model.differs_from(&first.meta.model) {
            return Err(CliError::Usage(format!(
                "{}: made with another model than {} ({reason}); every part must be indexed with the same model",
                part.display(),
                first.dir().display()
            )));
        }
        let mut items = Vec::with_capacity(store.len());
        for item in store.items() {
            let source = picture_source(&item.picture, store.dir());
            let picture = picture_ref(&source, out)?;
            if !seen.insert(picture.key()) {
                return Err(CliError::Usage(format!(
                    "{}: {source} is also in an earlier part; the parts of one index are disjoint",
                    part.display()
                )));
            }
            items.push(IndexItem {
                picture,
                caption: item.caption.clone(),
            });
        }
        rows.push((items, store));
    }
    let mut model = first.meta.model.clone();
    // A model folder the index names relative to itself is named relative to the merged index.
    if let Some(folder) = &model.folder {
        let located = first.dir().join(folder);
        model.folder = Some(
            image_reference(&out.join(ITEMS_FILE), &located)?
                .to_string_lossy()
                .into_owned(),
        );
    }
    let sources: Vec<String> = parts.iter().map(|p| p.display().to_string()).collect();
    let mut merged = IndexStore::open_or_create(
        out,
        IndexMeta::new(first.meta.dim, model, &sources.join(" + ")),
    )?;
    for (items, store) in &rows {
        merged.append(items, store.embeddings())?;
    }
    if search.wants_graph(merged.len()) {
        let graph = AnnIndex::build(merged.embeddings(), merged.meta.dim, AnnParams::default());
        graph.save(out)?;
    }
    Ok(merged.len())
}
