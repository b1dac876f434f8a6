//! Approximate nearest neighbours for large indexes: an HNSW graph (the `hnsw_rs` crate) over the rows, with
//! cosine distance, saved beside the index (`ann/`, and `ann.json` saying how many rows it covers).
//!
//! Why hnsw_rs: pure Rust (no C++ toolchain, unlike usearch or faiss bindings), maintained, inserts in
//! parallel, and saves and reloads a graph; HNSW gives recall@10 near 1 at a fraction of exact search's
//! cost (BENCHMARKS.md has the figures that set [`crate::searcher::ANN_MIN_ROWS`]).

use std::path::{Path, PathBuf};

use hnsw_rs::api::AnnT;
use hnsw_rs::hnswio::HnswIo;
use hnsw_rs::prelude::{Distance, Hnsw};
use serde::{Deserialize, Serialize};

use crate::error::IndexError;

/// `1 - cosine` for L2-normalised vectors, never below 0 (hnsw_rs's `DistDot` asserts on rounding above 1).
#[derive(Debug, Clone, Copy, Default)]
pub struct CosineDistance;

impl Distance<f32> for CosineDistance {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - crate::exact::dot(a, b)).max(0.0)
    }
}

/// How the graph is built and searched.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AnnParams {
    /// Neighbours per node and layer (HNSW's M).
    pub max_connections: usize,
    /// Candidates explored while inserting.
    pub ef_construction: usize,
    /// Candidates explored per query (at least `k`).
    pub ef_search: usize,
}

impl Default for AnnParams {
    fn default() -> Self {
        Self {
            max_connections: 16,
            ef_construction: 200,
            ef_search: 128,
        }
    }
}

/// `ann.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AnnMeta {
    rows: usize,
    basename: String,
    params: AnnParams,
}

pub const ANN_DIR: &str = "ann";
pub const ANN_META: &str = "ann.json";

/// A graph over an index's rows.
pub struct AnnIndex {
    hnsw: Hnsw<'static, f32, CosineDistance>,
    rows: usize,
    params: AnnParams,
}

impl AnnIndex {
    /// Builds the graph over `embeddings` (row-major, `dim` columns), inserting in parallel.
    pub fn build(embeddings: &[f32], dim: usize, params: AnnParams) -> Self {
        let rows = embeddings.len() / dim.max(1);
        let layers = 16;
        let hnsw = Hnsw::new(
            params.max_connections,
            rows.max(1),
            layers,
            params.ef_construction,
            CosineDistance,
        );
        let data: Vec<(&[f32], usize)> = embeddings.chunks_exact(dim).zip(0..rows).collect();
        hnsw.parallel_insert_slice(&data);
        let mut hnsw = hnsw;
        hnsw.set_searching_mode(true);
        Self { hnsw, rows, params }
    }

    /// Candidates explored per query from now on (more: higher recall, slower queries).
    pub fn set_ef_search(&mut self, ef_search: usize) {
        self.params.ef_search = ef_search.max(1);
    }

    /// Whether `index_dir` has a saved graph covering exactly `rows` rows (reads `ann.json` only).
    pub fn is_current(index_dir: &Path, rows: usize) -> bool {
        std::fs::read_to_string(index_dir.join(ANN_META))
            .ok()
            .and_then(|text| serde_json::from_str::<AnnMeta>(&text).ok())
            .is_some_and(|meta| meta.rows == rows)
    }

    /// How many rows the graph covers.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The `k` nearest rows, best first, as `(row, cosine similarity)`.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<(usize, f32)> {
        let ef = self.params.ef_search.max(k);
        let mut hits: Vec<(usize, f32)> = self
            .hnsw
            .search(query, k, ef)
            .into_iter()
            .map(|n| (n.d_id, 1.0 - n.distance))
            .collect();
        crate::exact::sort_best(&mut hits);
        hits
    }

    /// Saves the graph into `index_dir/ann/` (replacing what was there) and `index_dir/ann.json`.
    pub fn save(&self, index_dir: &Path) -> Result<(), IndexError> {
        let dir = index_dir.join(ANN_DIR);
        let meta_path = index_dir.join(ANN_META);
        if meta_path.exists() {
            std::fs::remove_file(&meta_path).map_err(|e| IndexError::io(&meta_path, e))?;
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| IndexError::io(&dir, e))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| IndexError::io(&dir, e))?;
        let basename = self
            .hnsw
            .file_dump(&dir, "hnsw")
            .map_err(|e| IndexError::format(&dir, format!("cannot save the HNSW graph: {e}")))?;
        let meta = AnnMeta {
            rows: self.rows,
            basename,
            params: self.params,
        };
        let text = serde_json::to_string_pretty(&meta)
            .map_err(|e| IndexError::format(&meta_path, e.to_string()))?;
        std::fs::write(&meta_path, text).map_err(|e| IndexError::io(&meta_path, e))
    }

    /// The graph saved in `index_dir`, when there is one covering exactly `rows` rows (`None` when there is
    /// none or it is stale: the index has grown or shrunk since).
    pub fn load(index_dir: &Path, rows: usize) -> Result<Option<Self>, IndexError> {
        let meta_path = index_dir.join(ANN_META);
        if !meta_path.is_file() {
            return Ok(None);
        }
        let text =
            std::fs::read_to_string(&meta_path).map_err(|e| IndexError::io(&meta_path, e))?;
        let meta: AnnMeta = serde_json::from_str(&text)
            .map_err(|e| IndexError::format(&meta_path, e.to_string()))?;
        if meta.rows != rows {
            return Ok(None);
        }
        let dir: PathBuf = index_dir.join(ANN_DIR);
        // The loader must outlive the graph it gives: it lives as long as the process (one per index served).
        let io: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(&dir, &meta.basename)));
        let mut hnsw: Hnsw<'static, f32, CosineDistance> = io
            .load_hnsw()
            .map_err(|e| IndexError::format(&dir, format!("cannot load the HNSW graph: {e}")))?;
        hnsw.set_searching_mode(true);
        Ok(Some(Self {
            hnsw,
            rows,
            params: meta.params,
        }))
    }
}
