//! The CLIP vision transformer (`vision_model.*`): patchify, class token, learned positions, pre-LN blocks.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Embedding, LayerNorm};
use burn::tensor::{Tensor, backend::Backend};

use super::config::ClipVisionConfig;
use super::encoder::{ClipEncoder, EncoderShape};
use crate::init::Initializer;
use crate::layer_norm::layer_norm;

/// `vision_model.embeddings`: `patch_embedding` (conv without bias), `class_embedding`, `position_embedding`.
#[derive(Module, Debug)]
pub struct ClipVisionEmbeddings<B: Backend> {
    pub class_embedding: Param<Tensor<B, 1>>,
    pub patch_embedding: Conv2d<B>,
    pub position_embedding: Embedding<B>,
    pub patch_size: usize,
}

impl<B: Backend> ClipVisionEmbeddings<B> {
    /// `[batch, 3, H, W]` pixels → `[batch, 1 + patches, hidden]` token embeddings.
    ///
    /// The stride-P convolution is computed as a patch reshape and one matmul with the conv weight (the same
    /// arithmetic, much faster than a generic convolution on CPU backends). Pixels past the last whole patch of a
    /// side are left out, as that convolution leaves them.
    pub fn forward(&self, pixels: Tensor<B, 4>) -> Tensor<B, 3> {
        let [batch, channels, height, width] = pixels.dims();
        let p = self.patch_size;
        let (rows, cols) = (height / p, width / p);
        let pixels = if rows * p == height && cols * p == width {
            pixels
        } else {
            pixels.slice([0..batch, 0..channels, 0..rows * p, 0..cols * p])
        };
        let patches = pixels
            .reshape([batch, channels, rows, p, cols, p])
            .permute([0, 2, 4, 1, 3, 5])
            .reshape([batch, rows * cols, channels * p * p]);
        let weight = self.patch_embedding.weight.val();
        let hidden = weight.dims()[0];
        let kernel = weight.reshape([hidden, channels * p * p]).transpose();
        let patch_tokens = patches.matmul(kernel.unsqueeze_dim(0));
        let class_token = self
            .class_embedding
            .val()
            .reshape([1, 1, hidden])
            .expand([batch, 1, hidden]);
        let tokens = Tensor::cat(vec![class_token, patch_tokens], 1);
        tokens + self.position_embedding.weight.val().unsqueeze_dim(0)
    }
}

/// `vision_model`: embeddings → `pre_layrnorm` (sic, as in the checkpoints) → encoder → `post_layernorm`.
#[derive(Module, Debug)]
pub struct ClipVisionTransformer<B: Backend> {
    pub embeddings: ClipVisionEmbeddings<B>,
    pub pre_layrnorm: LayerNorm<B>,
    pub encoder: ClipEncoder<B>,
    pub post_layernorm: LayerNorm<B>,
}

/// What the vision transformer returns.
pub struct ClipVisionOutput<B: Backend> {
    /// `[batch, 1 + patches, hidden]`, after the encoder and before `post_layernorm`.
    pub last_hidden_state: Tensor<B, 3>,
    /// `[batch, hidden]`: the class token after `post_layernorm`.
    pub pooler_output: Tensor<B, 2>,
}

impl<B: Backend> ClipVisionTransformer<B> {
    /// Builds a randomly initialised tower from a validated config.
    pub fn init(config: &ClipVisionConfig, init: &mut Initializer<B>) -> Self {
        let d = config.hidden_size;
        let p = config.patch_size;
        let mut patch_embedding = Conv2dConfig::new([config.num_channels, d], [p, p])
            .with_stride([p, p])
            .with_bias(false)
            .init(init.device());
        patch_embedding.weight =
            Param::from_tensor(init.normal([d, config.num_channels, p, p], 0.02));
        let embeddings = ClipVisionEmbeddings {
            class_embedding: Param::from_tensor(init.normal([d], (d as f64).powf(-0.5))),
            patch_embedding,
            position_embedding: init.embedding(config.num_patches() + 1, d, 0.02),
            patch_size: p,
        };
        let shape = EncoderShape {
            hidden_size: d,
            intermediate_size: config.intermediate_size,
            num_hidden_layers: config.num_hidden_layers,
            num_attention_heads: config.num_attention_heads,
            hidden_act: config.hidden_act,
            layer_norm_eps: config.layer_norm_eps,
            initializer_range: config.initializer_range,
        };
        Self {
            embeddings,
            pre_layrnorm: init.layer_norm(d, config.layer_norm_eps),
            encoder: ClipEncoder::init(&shape, init),
            post_layernorm: init.layer_norm(d, config.layer_norm_eps),
        }
    }

    pub fn forward(&self, pixels: Tensor<B, 4>) -> ClipVisionOutput<B> {
        let tokens = layer_norm(&self.pre_layrnorm, self.embeddings.forward(pixels));
        let last_hidden_state = self.encoder.forward(tokens, None);
        let [batch, _, hidden] = last_hidden_state.dims();
        let class_token = last_hidden_state
            .clone()
            .slice([0..batch, 0..1, 0..hidden])
            .reshape([batch, hidden]);
        ClipVisionOutput {
            last_hidden_state,
            pooler_output: layer_norm(&self.post_layernorm, class_token),
        }
    }
}
