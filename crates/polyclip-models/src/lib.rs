//! CLIP-style model towers written once against burn's generic [`Backend`](burn::tensor::backend::Backend).
//!
//! The module tree mirrors the Hugging Face checkpoints' key tree (`vision_model.encoder.layers.{i}.self_attn.q_proj`,
//! `encoder.layer.{i}.attention.self.query`, …) so that loading real weights needs only a small mapping table,
//! and every configuration deserialises directly from a Hugging Face `config.json`.
//!
//! - [`clip`]: the CLIP vision transformer, the CLIP causal text transformer (HF `CLIPModel` layout), and
//!   [`ClipModel`] (`clip/model.rs`): two towers and the logit scale, the model trained contrastively.
//! - [`mclip`]: a text tower on its own (Multilingual-CLIP's and Themo's text encoders).
//! - [`bert`]: the BERT / XLM-RoBERTa encoder family (HF layout), used as multilingual text towers.
//! - [`text_tower`], [`vision_tower`]: a transformer with its pooling and projection into the joint space;
//!   [`pooling`], [`projection`]: how a text tower turns token states into one embedding.
//! - [`mbart`]: mBART-50 (encoder, decoder with a key/value cache, tied LM head); [`captioner`]: CLIP vision
//!   tokens into an mBART decoder; [`generation`]: greedy and beam search over either.
//! - [`attention`], [`layer_norm`]: what every transformer shares; both compute in f32 when the input is in a
//!   half type (what PyTorch's autocast does for softmax and layer norm).
//! - [`lora`]: LoRA adapters on the encoder's linear layers, attached by key path, merged for export.
//! - [`presets`]: tiny configurations for tests and the embedded default run.

pub mod activation;
pub mod attention;
pub mod bert;
pub mod captioner;
pub mod clip;
pub mod error;
pub mod generation;
pub mod init;
pub mod layer_norm;
pub mod lora;
pub mod mbart;
pub mod mclip;
pub mod pooling;
pub mod presets;
pub mod projection;
pub mod text_tower;
pub mod vision_tower;

pub use clip::model::{ClipModel, ClipModelConfig, LogitScaleConfig};
pub use error::ModelError;
pub use init::BuildModel;
pub use mclip::{TextModel, TextModelConfig};
pub use text_tower::{TextTower, TextTowerConfig};
pub use vision_tower::VisionTower;
