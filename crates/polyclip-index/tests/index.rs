//! The index folder: rows survive an interruption between the two files, a graph answers like exact search,
//! and a graph made for fewer rows is not used.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::OpenOptions;
use std::io::Write;

use polyclip_index::ann::{AnnIndex, AnnParams};
use polyclip_index::exact::top_k;
use polyclip_index::store::{EMBEDDINGS_FILE, ITEMS_FILE};
use polyclip_index::{
    IndexItem, IndexMeta, IndexStore, ModelIdentity, PictureRef, SearchMode, Searcher,
};

fn identity(config_hash: &str) -> ModelIdentity {
    ModelIdentity {
        path: "model".into(),
        folder: None,
        config_hash: config_hash.into(),
        weights_fingerprint: "w".into(),
    }
}

fn item(i: usize) -> IndexItem {
    IndexItem {
        picture: PictureRef::File {
            image: format!("p/{i}.png"),
        },
        caption: i.is_multiple_of(2).then(|| format!("caption {i}")),
    }
}

/// `rows` unit vectors of `dim` from a small linear congruential generator (no dependency).
fn unit_rows(rows: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut values: Vec<f32> = (0..rows * dim)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        })
        .collect();
    for row in values.chunks_exact_mut(dim) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        row.iter_mut().for_each(|v| *v /= norm);
    }
    values
}

#[test]
fn rows_cut_short_by_an_interruption_are_dropped_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    let mut store =
        IndexStore::open_or_create(&path, IndexMeta::new(4, identity("a"), "pictures")).unwrap();
    let rows = unit_rows(5, 4, 1);
    let items: Vec<IndexItem> = (0..5).map(item).collect();
    store.append(&items[..3], &rows[..12]).unwrap();
    // A chunk whose embeddings were written and whose items were not (the process died in between), then half
    // an item line.
    let mut embeddings = OpenOptions::new()
        .append(true)
        .open(path.join(EMBEDDINGS_FILE))
        .unwrap();
    embeddings.write_all(&[0_u8; 4 * 4 * 2]).unwrap();
    let mut lines = OpenOptions::new()
        .append(true)
        .open(path.join(ITEMS_FILE))
        .unwrap();
    lines.write_all(br#"{"image":"p/3.p"#).unwrap();

    let store = IndexStore::open(&path).unwrap();
    assert_eq!(store.len(), 3);
    assert_eq!(store.items(), &items[..3]);
    assert_eq!(store.embeddings(), &rows[..12]);
    assert!(store.contains("p/2.png"));
    assert!(!store.contains("p/3.png"));
    assert_eq!(
        std::fs::metadata(path.join(EMBEDDINGS_FILE)).unwrap().len(),
        3 * 4 * 4
    );

    // Reopened for more rows by the same model; another model is refused.
    let mut store =
        IndexStore::open_or_create(&path, IndexMeta::new(4, identity("a"), "pictures")).unwrap();
    store.append(&items[3..], &rows[12..]).unwrap();
    let reopened = IndexStore::open(&path).unwrap();
    assert_eq!(reopened.items(), &items[..]);
    assert_eq!(reopened.embeddings(), &rows[..]);
    let error = IndexStore::open_or_create(&path, IndexMeta::new(4, identity("b"), "pictures"))
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("their configs differ (hash a against b)"),
        "{error}"
    );

    // Removing rows rewrites both files.
    let mut store = reopened;
    assert_eq!(store.retain(|i| i.picture.key() != "p/1.png").unwrap(), 1);
    let reopened = IndexStore::open(&path).unwrap();
    assert_eq!(reopened.len(), 4);
    assert_eq!(&reopened.embeddings()[4..8], &rows[8..12]);
}

#[test]
fn the_graph_finds_what_exact_search_finds_and_a_stale_graph_is_not_used() {
    let (rows, dim) = (3000, 32);
    let data = unit_rows(rows, dim, 7);
    let queries = unit_rows(50, dim, 8);
    let graph = AnnIndex::build(&data, dim, AnnParams::default());
    let mut found = 0;
    for query in queries.chunks_exact(dim) {
        let exact: Vec<usize> = top_k(&data, dim, query, 10)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let approximate = graph.search(query, 10);
        assert_eq!(approximate.len(), 10);
        found += approximate
            .iter()
            .filter(|(id, _)| exact.contains(id))
            .count();
        // Scores are cosines, best first.
        assert!(approximate.windows(2).all(|w| w[0].1 >= w[1].1));
    }
    let recall = found as f64 / 500.0;
    assert!(recall >= 0.95, "recall@10 {recall}");

    // Saved with the index and found again; a graph for other rows is stale.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    let mut store =
        IndexStore::open_or_create(&path, IndexMeta::new(dim, identity("a"), "pictures")).unwrap();
    let items: Vec<IndexItem> = (0..rows).map(item).collect();
    store.append(&items, &data).unwrap();
    graph.save(&path).unwrap();
    assert!(AnnIndex::is_current(&path, rows));
    let searcher =
        Searcher::new(IndexStore::open(&path).unwrap(), SearchMode::Approximate).unwrap();
    assert_eq!(searcher.method(), "hnsw");
    let query = &data[17 * dim..18 * dim];
    assert_eq!(searcher.search(query, 1).unwrap()[0].id, 17);
    store.append(&[item(rows)], &data[..dim]).unwrap();
    assert!(!AnnIndex::is_current(&path, rows + 1));
    let searcher =
        Searcher::new(IndexStore::open(&path).unwrap(), SearchMode::Approximate).unwrap();
    assert_eq!(searcher.method(), "exact");
    assert_eq!(
        searcher.search(&[1.0; 3], 1).unwrap_err().to_string(),
        "the query has 3 dimensions and the index 32"
    );
}
