//! Real checkpoints for polyclip: reading the folders the methods' Python stacks write (Hugging Face CLIPModel
//! and VisionTextDualEncoder, open_clip, CAPIVARA's Lightning checkpoint, Multilingual-CLIP and Themo-style
//! students) into polyclip's models with numerical parity, and writing models back in those layouts.
//!
//! - [`families`]: recognising a folder's layout from its files and config, and each family's key table.
//! - [`tensors`]: safetensors (also sharded), PyTorch pickles and Lightning checkpoints, as `f32`.
//! - [`keymap`]: the declarative two-way key mapping; [`apply`]: layout conversion and key reports.
//! - [`load`] and [`export`]; [`hub`]: `hf:ORG/NAME` through the Hugging Face cache.
//! - [`load_encoder`]: a pretrained BERT-family text encoder alone (a distilled student's start).
//! - [`load_seq2seq`]: encoder-decoders (mBART-50, HF VisionEncoderDecoder, CLIP-Vision-mBART50's Flax captioner).
//! - [`peft`]: adapter-only checkpoints in Hugging Face PEFT's LoRA format (CAPIVARA + Opt.), saved and loaded.

pub mod apply;
pub mod error;
pub mod export;
pub mod families;
pub mod hub;
pub mod keymap;
pub mod load;
pub mod load_encoder;
pub mod load_seq2seq;
pub mod mapped_tensors;
pub mod msgpack;
pub mod peft;
pub mod preprocess_config;
pub mod tensors;

pub use apply::LoadReport;
pub use error::CheckpointError;
pub use families::hf_encoder::{EncoderSpec, encoder_spec};
pub use families::{Architecture, Family, ModelSpec};
pub use load::{Loaded, LoadedModel, load};
pub use load_encoder::load_encoder;
pub use load_seq2seq::{LoadedSeq2Seq, Seq2SeqModel, load_seq2seq};
pub use peft::{PeftAdapter, PeftRoot, PeftSaveOptions, load_peft_adapter, save_peft_adapter};
