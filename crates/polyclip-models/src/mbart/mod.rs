//! mBART-50 in the Hugging Face layout (`MBartForConditionalGeneration`): pre-LN encoder and decoder with
//! learned positions offset by 2, `layernorm_embedding`, final `layer_norm`s, `scale_embedding`, and an LM
//! head tied to `model.shared` plus `final_logits_bias`. The decoder keeps a key/value cache for incremental
//! generation; the captioner (`captioner.rs`) reuses it under a CLIP vision encoder.

pub mod attention;
pub mod config;
pub mod layers;
pub mod model;
pub mod stack;

pub use config::MBartConfig;
pub use model::{MBartForConditionalGeneration, MBartModel};
pub use stack::{DecoderCache, MBartDecoder, MBartEncoder, Memory};
