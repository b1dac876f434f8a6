//! Data for polyclip, by role:
//!
//! - [`sources`]: where examples come from — JSONL/CSV/TSV manifests, WebDataset shards, labelled image
//!   folders, retrieval test sets, ImageNet class names — and how a manifest polyclip writes refers to images.
//! - [`text`]: tokenizers (any tokenizer.json, mBART-50's language-coded one) and training a small one.
//! - [`preprocess`]: decoding an image and each model family's exact CLIP preprocessing.
//! - [`batching`]: burn `Dataset`s and `Batcher`s for contrastive, captioning and distillation training, and the
//!   deterministic multi-worker loaders (indexed and streamed).
//!
//! The training augmentations are in polyclip-augment, the embedded synthetic dataset in polyclip-shapes.

pub mod batching;
pub mod error;
pub mod preprocess;
pub mod sources;
pub mod text;

pub use polyclip_augment::{AugmentChain, Augmentation, mix_seed};

pub use batching::batcher::{CaptionChoice, ClipBatch, ClipBatcher};
pub use batching::caption_batcher::{CaptionBatch, CaptionBatcher};
pub use batching::caption_strategy::CaptionStrategy;
pub use batching::dataset::{ImageTextDataset, ImageTextExample};
pub use batching::distill_batcher::{DistillBatch, DistillBatcher, DistillDataset, DistillPair};
pub use batching::image_batcher::{ImageBatch, ImageBatcher};
pub use batching::loader::{DataLoader, Draw, LoaderConfig, Order};
pub use batching::stream_loader::{StreamConfig, StreamLoader};
pub use error::DataError;
pub use preprocess::ClipPreprocess;
pub use sources::classification::ClassificationSet;
pub use sources::classnames::ImagenetClassnames;
pub use sources::image_folder::LabelledImages;
pub use sources::image_reference::image_reference;
pub use sources::image_source::ImageSource;
pub use sources::manifest::{BadInputPolicy, Manifest, ManifestEntry, ReadOptions};
pub use sources::retrieval_data::RetrievalData;
pub use text::mbart_tokenizer::{MBartTokenizer, mbart_language_code};
pub use text::tokenizer::{TextTokenizer, TokenBatch};
