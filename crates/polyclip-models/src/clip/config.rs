//! `CLIPVisionConfig` / `CLIPTextConfig`, field for field as Hugging Face's config.json names them.

use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::error::ModelError;

/// The vision half of a HF `CLIPConfig` (`vision_config`). Defaults are `openai/clip-vit-base-patch32`'s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClipVisionConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_channels: usize,
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_act: Activation,
    pub layer_norm_eps: f64,
    pub initializer_range: f64,
}

/// The text half of a HF `CLIPConfig` (`text_config`). Defaults are `openai/clip-vit-base-patch32`'s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClipTextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub max_position_embeddings: usize,
    pub hidden_act: Activation,
    pub layer_norm_eps: f64,
    pub initializer_range: f64,
    pub pad_token_id: usize,
    pub bos_token_id: usize,
    pub eos_token_id: usize,
    /// Where the pooled state is taken (a polyclip key; see [`ClipTextConfig::text_pooling`] for a config that
    /// does not say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pooling: Option<TextPooling>,
}

/// Where CLIP's text transformer takes its pooled state (`pooler_output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextPooling {
    /// The position of the largest id: the end-of-text token is the last id of the CLIP vocabulary (open_clip
    /// always; transformers for configs written before it read `eos_token_id`).
    LargestId,
    /// The first occurrence of `eos_token_id`.
    FirstEos,
}

impl Default for ClipVisionConfig {
    /// `openai/clip-vit-base-patch32`'s vision tower.
    fn default() -> Self {
        Self {
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: 224,
            patch_size: 32,
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
            initializer_range: 0.02,
        }
    }
}

impl Default for ClipTextConfig {
    /// `openai/clip-vit-base-patch32`'s text tower.
    fn default() -> Self {
        Self {
            vocab_size: 49408,
            hidden_size: 512,
            intermediate_size: 2048,
            num_hidden_layers: 12,
            num_attention_heads: 8,
            max_position_embeddings: 77,
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
            initializer_range: 0.02,
            pad_token_id: 1,
            bos_token_id: 49406,
            eos_token_id: 49407,
            pooling: None,
        }
    }
}

impl ClipVisionConfig {
    /// Number of patch tokens (without the class token). A side that is not a multiple of the patch leaves its
    /// last `image_size % patch_size` pixels out, as the stride-P convolution of HF and open_clip does.
    pub fn num_patches(&self) -> usize {
        (self.image_size / self.patch_size).pow(2)
    }

    /// Checks the relations between fields that the model relies on.
    pub fn validate(&self) -> Result<(), ModelError> {
        check_heads(self.hidden_size, self.num_attention_heads)?;
        if self.patch_size == 0 || self.patch_size > self.image_size {
            return Err(ModelError::invalid(
                "vision_config.patch_size",
                self.patch_size,
                format!("must be from 1 to image_size {}", self.image_size),
            ));
        }
        Ok(())
    }
}

impl ClipTextConfig {
    /// The pooling: `pooling` when the config says, else transformers' rule for HF configs, which have no such
    /// key: `eos_token_id` 2 marks a config from before transformers read the id (`LargestId`), any other id is
    /// pooled at its first occurrence.
    pub fn text_pooling(&self) -> TextPooling {
        self.pooling.unwrap_or(if self.eos_token_id == 2 {
            TextPooling::LargestId
        } else {
            TextPooling::FirstEos
        })
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pooling_is_the_configs_or_transformers_rule() {
        let hf = |eos_token_id| ClipTextConfig {
            eos_token_id,
            ..ClipTextConfig::default()
        };
        assert_eq!(hf(49407).text_pooling(), TextPooling::FirstEos);
        assert_eq!(
            hf(2).text_pooling(),
            TextPooling::LargestId,
            "transformers' legacy configs"
        );
        let explicit = ClipTextConfig {
            pooling: Some(TextPooling::LargestId),
            ..hf(49407)
        };
        assert_eq!(explicit.text_pooling(), TextPooling::LargestId);
        // polyclip's key round-trips; HF's config.json has none and reads as None.
        let json = serde_json::to_value(&explicit).expect("json");
        assert_eq!(json["pooling"], "largest_id");
        let read: ClipTextConfig = serde_json::from_value(json).expect("config");
        assert_eq!(read, explicit);
        let hf_json: ClipTextConfig =
            serde_json::from_str(r#"{"eos_token_id": 2, "vocab_size": 100}"#).expect("config");
        assert_eq!(hf_json.pooling, None);
    }
}
