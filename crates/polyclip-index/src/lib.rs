//! A picture index: what `polyclip index` writes and `polyclip serve` searches.
//!
//! An index is a folder:
//!
//! - `index.json` ([`IndexMeta`]): the format version, the embedding size, and the identity of the model that
//!   embedded the pictures ([`ModelIdentity`]: its path, a hash of its config files and a fingerprint of its
//!   weights), so that a query embedded by another model is refused;
//! - `embeddings.f32`: the L2-normalised embeddings, `count × dim` little-endian `f32`, row `i` for item `i`;
//! - `items.jsonl`: one [`IndexItem`] per row (the picture's reference, relative to the index folder, and
//!   its caption when the source had one);
//! - `ann/` (large indexes): an HNSW graph over the rows ([`ann`]), with `ann.json` saying how many rows it covers.
//!
//! Rows are appended a chunk at a time, embeddings first; [`IndexStore::open`] cuts both files back to the rows
//! that are complete in both, so an interrupted `polyclip index` continues where it stopped, and a second run
//! over a folder that has grown embeds only the new pictures.

pub mod ann;
pub mod error;
pub mod exact;
pub mod item;
pub mod meta;
pub mod model_identity;
pub mod searcher;
pub mod store;

pub use error::IndexError;
pub use item::{IndexItem, PictureRef};
pub use meta::IndexMeta;
pub use model_identity::ModelIdentity;
pub use searcher::{Hit, SearchMode, Searcher};
pub use store::IndexStore;
