//! A text tower on its own: the shape of Multilingual-CLIP's text encoders, whose image side is a separate
//! CLIP model.

use burn::module::Module;
use burn::tensor::{Int, Tensor, backend::Backend};
use serde::{Deserialize, Serialize};

use crate::clip::model::l2_normalize;
use crate::error::ModelError;
use crate::init::{BuildModel, Initializer};
use crate::text_tower::{TextTower, TextTowerConfig};

/// Everything needed to build a [`TextModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextModelConfig {
    /// Width of the embedding space the tower projects into.
    pub projection_dim: usize,
    pub text: TextTowerConfig,
}

impl TextModelConfig {}

impl BuildModel for TextModelConfig {
    type Model<B: Backend> = TextModel<B>;

    fn build<B: Backend>(&self, init: &mut Initializer<B>) -> Result<TextModel<B>, ModelError> {
        self.text.validate()?;
        Ok(TextModel {
            text: TextTower::init(&self.text, self.projection_dim, init),
        })
    }
}

/// A text encoder into a joint embedding space.
#[derive(Module, Debug)]
pub struct TextModel<B: Backend> {
    pub text: TextTower<B>,
}

impl<B: Backend> TextModel<B> {
    /// Text features `[batch, embed]`, not normalised.
    pub fn text_features(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
    ) -> Tensor<B, 2> {
        self.text.forward(input_ids, attention_mask)
    }

    /// L2-normalised text embeddings.
    pub fn embed_texts(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
    ) -> Tensor<B, 2> {
        l2_normalize(self.text_features(input_ids, attention_mask))
    }
}
