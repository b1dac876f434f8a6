//! The image side of a dual encoder: the CLIP vision transformer and `visual_projection`.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Tensor, backend::Backend};

use crate::clip::{ClipVisionConfig, ClipVisionTransformer};
use crate::init::Initializer;

/// `vision_model` + `visual_projection` (no bias), as in HF `CLIPModel`.
#[derive(Module, Debug)]
pub struct VisionTower<B: Backend> {
    pub vision_model: ClipVisionTransformer<B>,
    pub visual_projection: Linear<B>,
}

impl<B: Backend> VisionTower<B> {
    pub fn init(config: &ClipVisionConfig, embed_dim: usize, init: &mut Initializer<B>) -> Self {
        let d = config.hidden_size;
        Self {
            vision_model: ClipVisionTransformer::init(config, init),
            visual_projection: init.linear(d, embed_dim, false, (d as f64).powf(-0.5)),
        }
    }

    /// `[batch, 3, H, W]` normalised pixels → `[batch, embed_dim]` image features (not normalised).
    pub fn forward(&self, pixels: Tensor<B, 4>) -> Tensor<B, 2> {
        self.visual_projection
            .forward(self.vision_model.forward(pixels).pooler_output)
    }
}
