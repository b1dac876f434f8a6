//! Examples into batches: the burn `Dataset` of a manifest, the batchers of each training kind (contrastive,
//! captioning, distillation, images only), which caption a draw picks, and the deterministic loaders (indexed,
//! and streamed from shards).

pub mod batcher;
pub mod caption_batcher;
pub mod caption_strategy;
pub mod dataset;
pub mod distill_batcher;
pub mod image_batcher;
pub mod loader;
pub mod stream_loader;
