//! The dual encoder: a vision tower, a text tower and the logit scale that multiplies their cosine similarities.

use std::path::Path;

use burn::module::{Module, Param};
use burn::tensor::{Int, Tensor, backend::Backend};
use serde::{Deserialize, Serialize};

use crate::clip::ClipVisionConfig;
use crate::error::ModelError;
use crate::init::{BuildModel, Initializer};
use crate::lora::{LoraConfig, attach_lora, merge_lora};
use crate::text_tower::{TextTower, TextTowerConfig};
use crate::vision_tower::VisionTower;

/// The logit scale: `exp(logit_scale)` multiplies cosine similarities (CLIP's inverse temperature).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogitScaleConfig {
    /// The initial multiplier (CLIP: 1/0.07 ≈ 14.29; clip-italian keeps a fixed 20).
    #[serde(default = "default_scale")]
    pub scale: f64,
    /// Whether training updates it (CLIP, CAPIVARA) or keeps it fixed (clip-italian).
    #[serde(default = "default_learnable")]
    pub learnable: bool,
}

fn default_scale() -> f64 {
    1.0 / 0.07
}
fn default_learnable() -> bool {
    true
}

impl Default for LogitScaleConfig {
    fn default() -> Self {
        Self {
            scale: default_scale(),
            learnable: default_learnable(),
        }
    }
}

/// Everything needed to build a [`ClipModel`]; serialised next to every checkpoint as `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipModelConfig {
    /// Width of the joint embedding space (HF `projection_dim`).
    pub projection_dim: usize,
    pub vision_config: ClipVisionConfig,
    pub text: TextTowerConfig,
    #[serde(default)]
    pub logit_scale: LogitScaleConfig,
}

impl ClipModelConfig {
    /// Reads a config written by [`ClipModelConfig::save`].
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::ReadConfig {
            path: path.to_owned(),
            source,
        })?;
        let config: Self =
            serde_json::from_str(&text).map_err(|source| ModelError::ParseConfig {
                path: path.to_owned(),
                source,
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every tower's config.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.vision_config.validate()?;
        self.text.validate()?;
        if self.logit_scale.scale.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return Err(ModelError::invalid(
                "logit_scale.scale",
                self.logit_scale.scale,
                "must be positive",
            ));
        }
        Ok(())
    }
}

impl BuildModel for ClipModelConfig {
    type Model<B: Backend> = ClipModel<B>;

    fn build<B: Backend>(&self, init: &mut Initializer<B>) -> Result<ClipModel<B>, ModelError> {
        self.validate()?;
        let vision = VisionTower::init(&self.vision_config, self.projection_dim, init);
        let text = TextTower::init(&self.text, self.projection_dim, init);
        let logit_scale = init.constant([1], self.logit_scale.scale.ln() as f32);
        Ok(ClipModel {
            vision,
            text,
            logit_scale: Param::from_tensor(logit_scale),
            logit_scale_learnable: self.logit_scale.learnable,
        })
    }
}

/// A CLIP-style dual encoder.
#[derive(Module, Debug)]
pub struct ClipModel<B: Backend> {
    pub vision: VisionTower<B>,
    pub text: TextTower<B>,
    /// `ln` of the similarity multiplier, `[1]` (checkpoints store it 0-d).
    pub logit_scale: Param<Tensor<B, 1>>,
    pub logit_scale_learnable: bool,
}

impl<B: Backend> ClipModel<B> {
    /// Image features `[batch, embed]`, not normalised.
    pub fn image_features(&self, pixels: Tensor<B, 4>) -> Tensor<B, 2> {
        self.vision.forward(pixels)
    }

    /// Text features `[batch, embed]`, not normalised.
    pub fn text_features(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
    ) -> Tensor<B, 2> {
        self.text.forward(input_ids, attention_mask)
    }

    /// L2-normalised image embeddings.
    pub fn embed_images(&self, pixels: Tensor<B, 4>) -> Tensor<B, 2> {
        l2_normalize(self.image_features(pixels))
    }

    /// L2-normalised text embeddings.
    pub fn embed_texts(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
    ) -> Tensor<B, 2> {
        l2_normalize(self.text_features(input_ids, attention_mask))
    }

    /// The multiplier `exp(logit_scale)`, `[1]`; gradient-free when the scale is fixed.
    pub fn logit_multiplier(&self) -> Tensor<B, 1> {
        let ln_scale = self.logit_scale.val();
        let ln_scale = if self.logit_scale_learnable {
            ln_scale
        } else {
            ln_scale.detach()
        };
        ln_scale.exp()
    }

    /// `multiplier · image_embeds · text_embedsᵀ`: `[images, texts]` logits from normalised embeddings.
    pub fn logits_per_image(
        &self,
        image_embeds: Tensor<B, 2>,
        text_embeds: Tensor<B, 2>,
    ) -> Tensor<B, 2> {
        image_embeds.matmul(text_embeds.transpose()) * self.logit_multiplier().unsqueeze_dim(0)
    }
}

impl<B: Backend> ClipModel<B> {
    /// CAPIVARA + Opt.: freezes the text encoder and attaches LoRA adapters to the layers `config` targets
    /// (key paths like `text.transformer.encoder.layer.0.attention.self.query`); the projection head and the
    /// logit scale keep training in full. Returns the adapted layers' paths.
    pub fn attach_text_lora(&mut self, config: &LoraConfig) -> Result<Vec<String>, ModelError> {
        if let TextTower::Encoder(tower) = &mut self.text {
            tower.transformer = tower.transformer.clone().no_grad();
        }
        attach_lora(&mut self.text, config, "text")
    }

    /// The model with every adapter folded into its layer's weight (what export writes).
    pub fn with_merged_lora(mut self) -> Self {
        merge_lora(&mut self.text);
        self
    }
}

/// Divides every row by its L2 norm (rows of zeros stay zero).
pub fn l2_normalize<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let norm = x
        .clone()
        .powf_scalar(2.0)
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12);
    x / norm
}
