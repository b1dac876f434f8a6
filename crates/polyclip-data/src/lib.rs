//! Data for polyclip: manifests, image decoding, training augmentations and CLIP preprocessing, tokenization,
//! burn `Dataset` + `Batcher`, a deterministic multi-worker loader, and the embedded synthetic multilingual
//! dataset.

pub mod augment;
pub mod braces;
pub mod caption_record;
pub mod data_spec;
pub mod error;
pub mod manifest;
pub mod mbart_tokenizer;
pub mod preprocess;
pub mod resample;
pub mod tokenizer;
pub mod tokenizer_training;

pub use augment::{AugmentChain, Augmentation};
pub use error::DataError;
pub use image_source::ImageSource;
pub use manifest::{BadInputPolicy, Manifest, ManifestEntry, ReadOptions};
pub use mbart_tokenizer::{MBartTokenizer, mbart_language_code};
pub use preprocess::ClipPreprocess;
pub use tokenizer::{TextTokenizer, TokenBatch};
pub mod batcher;
pub mod caption_batcher;
pub mod caption_strategy;
pub mod classification;
pub mod classnames;
pub mod dataset;
pub mod distill_batcher;
pub mod image_folder;
pub mod image_reference;
pub mod image_source;
pub mod images;
pub mod loader;
pub mod retrieval_data;
pub mod shapes;
pub mod stream_loader;
pub mod webdataset;

pub use batcher::{CaptionChoice, ClipBatch, ClipBatcher};
pub use caption_batcher::{CaptionBatch, CaptionBatcher};
pub use caption_strategy::CaptionStrategy;
pub use classification::ClassificationSet;
pub use classnames::ImagenetClassnames;
pub use dataset::{ImageTextDataset, ImageTextExample};
pub use distill_batcher::{DistillBatch, DistillBatcher, DistillDataset, DistillPair};
pub use image_folder::LabelledImages;
pub use image_reference::image_reference;
pub use images::{ImageBatch, ImageBatcher};
pub use loader::{DataLoader, Draw, LoaderConfig, Order};
pub use retrieval_data::RetrievalData;
pub use stream_loader::{StreamConfig, StreamLoader};
