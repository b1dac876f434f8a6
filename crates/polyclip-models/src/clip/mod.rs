//! The CLIP transformers in the Hugging Face `CLIPModel` layout, and the dual encoder built from them and any
//! text tower ([`model::ClipModel`]).
//!
//! Both towers share [`encoder::ClipEncoder`] (pre-LN blocks, `self_attn.{q,k,v,out}_proj`, `mlp.fc1/fc2`);
//! the vision tower adds patch/class/position embeddings and `pre_layrnorm`/`post_layernorm`, the text tower
//! token/position embeddings, a causal mask, `final_layer_norm` and pooling at the end-of-text token.

pub mod config;
pub mod encoder;
pub mod model;
pub mod text;
pub mod vision;

pub use config::{ClipTextConfig, ClipVisionConfig, TextPooling};
pub use text::ClipTextTransformer;
pub use vision::ClipVisionTransformer;
