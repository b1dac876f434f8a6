//! Search over an index: exact for small collections, the HNSW graph for large ones.

use crate::ann::AnnIndex;
use crate::error::IndexError;
use crate::store::IndexStore;

/// From this many rows on, `auto` searches the HNSW graph (when the index has an up-to-date one). Measured on two
/// cores with 512-dimensional rows (BENCHMARKS.md, "Index search"): exact search costs about 15 ms a query at
/// 100 000 rows and 140 ms at 1 000 000 (≈ 70 ms here by linear interpolation); the graph answers in 3–5 ms with
/// recall@10 of 0.93 on data with neighbourhoods, but costs minutes per 100 000 rows to build and finds little
/// on unstructured data. Below this size exact search is fast enough and always right.
pub const ANN_MIN_ROWS: usize = 500_000;

/// How to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMode {
    /// Approximate from [`ANN_MIN_ROWS`] rows on (when a graph is saved), exact below.
    #[default]
    Auto,
    Exact,
    Approximate,
}

impl SearchMode {
    /// Whether an index of `rows` rows should have a graph built for it.
    pub fn wants_graph(self, rows: usize) -> bool {
        match self {
            Self::Auto => rows >= ANN_MIN_ROWS,
            Self::Exact => false,
            Self::Approximate => true,
        }
    }
}

/// One result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub id: usize,
    pub score: f32,
}

/// An index ready to answer queries.
pub struct Searcher {
    store: IndexStore,
    ann: Option<AnnIndex>,
}

impl Searcher {
    /// Loads the graph when `mode` wants one; an index that needs a graph and has none up to date is searched
    /// exactly, with a warning saying how to build it.
    pub fn new(store: IndexStore, mode: SearchMode) -> Result<Self, IndexError> {
        let ann = if mode.wants_graph(store.len()) {
            let ann = AnnIndex::load(store.dir(), store.len())?;
            if ann.is_none() {
                eprintln!(
                    "polyclip: {} has {} pictures and no up-to-date HNSW graph: searching exactly (run `polyclip index` \
                     on it again to build the graph)",
                    store.dir().display(),
                    store.len()
                );
            }
            ann
        } else {
            None
        };
        Ok(Self { store, ann })
    }

    pub fn store(&self) -> &IndexStore {
        &self.store
    }

    /// `exact` or `hnsw`: what answers queries.
    pub fn method(&self) -> &'static str {
        if self.ann.is_some() { "hnsw" } else { "exact" }
    }

    /// The `k` pictures nearest to `query` (L2-normalised, of the index's dimension), best first.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>, IndexError> {
        let dim = self.store.meta.dim;
        if query.len() != dim {
            return Err(IndexError::Query(format!(
                "the query has {} dimensions and the index {dim}",
                query.len()
            )));
        }
        let hits = match &self.ann {
            Some(ann) => ann.search(query, k),
            None => crate::exact::top_k(self.store.embeddings(), dim, query, k),
        };
        Ok(hits
            .into_iter()
            .map(|(id, score)| Hit { id, score })
            .collect())
    }
}
