//! `CLIPVisionConfig` / `CLIPTextConfig`, field for field as Hugging Face's config.json names them.

use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::error::ModelError;

/// The vision half of a HF `CLIPConfig` (`vision_config`). Defaults are `openai/clip-vit-base-patch32`'s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipVisionConfig {
    #[serde(default = "vision_defaults::hidden_size")]
    pub hidden_size: usize,
    #[serde(default = "vision_defaults::intermediate_size")]
    pub intermediate_size: usize,
    #[serde(default = "vision_defaults::num_hidden_layers")]
    pub num_hidden_layers: usize,
    #[serde(default = "vision_defaults::num_attention_heads")]
    pub num_attention_heads: usize,
    #[serde(default = "vision_defaults::num_channels")]
    pub num_channels: usize,
    #[serde(default = "vision_defaults::image_size")]
    pub image_size: usize,
    #[serde(default = "vision_defaults::patch_size")]
    pub patch_size: usize,
    #[serde(default = "quick_gelu")]
    pub hidden_act: Activation,
    #[serde(default = "layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "initializer_range")]
    pub initializer_range: f64,
}

mod vision_defaults {
    pub fn hidden_size() -> usize {
        768
    }
    pub fn intermediate_size() -> usize {
        3072
    }
    pub fn num_hidden_layers() -> usize {
        12
    }
    pub fn num_attention_heads() -> usize {
        12
    }
    pub fn num_channels() -> usize {
        3
    }
    pub fn image_size() -> usize {
        224
    }
    pub fn patch_size() -> usize {
        32
    }
}

/// The text half of a HF `CLIPConfig` (`text_config`). Defaults are `openai/clip-vit-base-patch32`'s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipTextConfig {
    #[serde(default = "text_defaults::vocab_size")]
    pub vocab_size: usize,
    #[serde(default = "text_defaults::hidden_size")]
    pub hidden_size: usize,
    #[serde(default = "text_defaults::intermediate_size")]
    pub intermediate_size: usize,
    #[serde(default = "text_defaults::num_hidden_layers")]
    pub num_hidden_layers: usize,
    #[serde(default = "text_defaults::num_attention_heads")]
    pub num_attention_heads: usize,
    #[serde(default = "text_defaults::max_position_embeddings")]
    pub max_position_embeddings: usize,
    #[serde(default = "quick_gelu")]
    pub hidden_act: Activation,
    #[serde(default = "layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "initializer_range")]
    pub initializer_range: f64,
    #[serde(default = "text_defaults::pad_token_id")]
    pub pad_token_id: usize,
    #[serde(default = "text_defaults::bos_token_id")]
    pub bos_token_id: usize,
    /// Pooling position: the first occurrence of this id. HF's legacy rule applies when it is 2: the position
    /// of the largest id (the end-of-text token is the last id of the CLIP vocabulary), as open_clip always does.
    #[serde(default = "text_defaults::eos_token_id")]
    pub eos_token_id: usize,
}

mod text_defaults {
    pub fn vocab_size() -> usize {
        49408
    }
    pub fn hidden_size() -> usize {
        512
    }
    pub fn intermediate_size() -> usize {
        2048
    }
    pub fn num_hidden_layers() -> usize {
        12
    }
    pub fn num_attention_heads() -> usize {
        8
    }
    pub fn max_position_embeddings() -> usize {
        77
    }
    pub fn pad_token_id() -> usize {
        1
    }
    pub fn bos_token_id() -> usize {
        49406
    }
    pub fn eos_token_id() -> usize {
        49407
    }
}

fn quick_gelu() -> Activation {
    Activation::QuickGelu
}
fn layer_norm_eps() -> f64 {
    1e-5
}
fn initializer_range() -> f64 {
    0.02
}

impl ClipVisionConfig {
    /// Number of patch tokens (without the class token).
    pub fn num_patches(&self) -> usize {
        (self.image_size / self.patch_size).pow(2)
    }

    /// Checks the relations between fields that the model relies on.
    pub fn validate(&self) -> Result<(), ModelError> {
        check_heads(self.hidden_size, self.num_attention_heads)?;
        if self.patch_size == 0 || !self.image_size.is_multiple_of(self.patch_size) {
            return Err(ModelError::invalid(
                "vision_config.patch_size",
                self.patch_size,
                format!("must divide image_size {}", self.image_size),
            ));
        }
        Ok(())
    }
}

impl ClipTextConfig {
    /// Checks the relations between fields that the model relies on.
    pub fn validate(&self) -> Result<(), ModelError> {
        check_heads(self.hidden_size, self.num_attention_heads)
    }
}

pub(crate) fn check_heads(hidden: usize, heads: usize) -> Result<(), ModelError> {
    if heads == 0 || !hidden.is_multiple_of(heads) {
        return Err(ModelError::invalid(
            "num_attention_heads",
            heads,
            format!("must divide hidden_size {hidden}"),
        ));
    }
    Ok(())
}
