//! The pre-LN transformer encoder shared by CLIP's vision and text towers (`encoder.layers.{i}.*`).

use burn::module::Module;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::{Bool, Tensor, backend::Backend};

use crate::activation::Activation;
use crate::attention::{merge_heads, scaled_dot_product, split_heads};
use crate::init::Initializer;
use crate::layer_norm::layer_norm;

/// Sizes of one encoder stack.
#[derive(Debug, Clone, Copy)]
pub struct EncoderShape {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub hidden_act: Activation,
    pub layer_norm_eps: f64,
    pub initializer_range: f64,
}

/// `self_attn`: multi-head attention with separate `q_proj`, `k_proj`, `v_proj`, `out_proj` (all with bias).
#[derive(Module, Debug)]
pub struct ClipAttention<B: Backend> {
    pub q_proj: Linear<B>,
    pub k_proj: Linear<B>,
    pub v_proj: Linear<B>,
    pub out_proj: Linear<B>,
    pub num_heads: usize,
}

impl<B: Backend> ClipAttention<B> {
    pub fn forward(&self, x: Tensor<B, 3>, blocked: Option<Tensor<B, 4, Bool>>) -> Tensor<B, 3> {
        let q = split_heads(self.q_proj.forward(x.clone()), self.num_heads);
        let k = split_heads(self.k_proj.forward(x.clone()), self.num_heads);
        let v = split_heads(self.v_proj.forward(x), self.num_heads);
        self.out_proj
            .forward(merge_heads(scaled_dot_product(q, k, v, blocked, None)))
    }
}

/// `mlp`: `fc2(act(fc1(x)))`.
#[derive(Module, Debug)]
pub struct ClipMlp<B: Backend> {
    pub fc1: Linear<B>,
    pub fc2: Linear<B>,
    #[module(skip)]
    pub activation: Activation,
}

impl<B: Backend> ClipMlp<B> {
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.fc2
            .forward(self.activation.forward(self.fc1.forward(x)))
    }
}

/// One pre-LN block: `x + attn(ln1(x))`, then `x + mlp(ln2(x))`.
#[derive(Module, Debug)]
pub struct ClipEncoderLayer<B: Backend> {
    pub layer_norm1: LayerNorm<B>,
    pub self_attn: ClipAttention<B>,
    pub layer_norm2: LayerNorm<B>,
    pub mlp: ClipMlp<B>,
}

impl<B: Backend> ClipEncoderLayer<B> {
    pub fn forward(&self, x: Tensor<B, 3>, blocked: Option<Tensor<B, 4, Bool>>) -> Tensor<B, 3> {
        let x = x.clone()
            + self
                .self_attn
                .forward(layer_norm(&self.layer_norm1, x), blocked);
        x.clone() + self.mlp.forward(layer_norm(&self.layer_norm2, x))
    }
}

/// `encoder.layers`.
#[derive(Module, Debug)]
pub struct ClipEncoder<B: Backend> {
    pub layers: Vec<ClipEncoderLayer<B>>,
}

impl<B: Backend> ClipEncoder<B> {
    /// Draws a stack with CLIP's initialisation scheme (scaled by depth for the output projections).
    pub fn init(shape: &EncoderShape, init: &mut Initializer<B>) -> Self {
        let d = shape.hidden_size;
        let std = shape.initializer_range;
        let depth_std = std / (2.0 * shape.num_hidden_layers as f64).sqrt();
        let layers = (0..shape.num_hidden_layers)
            .map(|_| ClipEncoderLayer {
                layer_norm1: init.layer_norm(d, shape.layer_norm_eps),
                self_attn: ClipAttention {
                    q_proj: init.linear(d, d, true, std),
                    k_proj: init.linear(d, d, true, std),
                    v_proj: init.linear(d, d, true, std),
                    out_proj: init.linear(d, d, true, depth_std),
                    num_heads: shape.num_attention_heads,
                },
                layer_norm2: init.layer_norm(d, shape.layer_norm_eps),
                mlp: ClipMlp {
                    fc1: init.linear(d, shape.intermediate_size, true, std),
                    fc2: init.linear(shape.intermediate_size, d, true, depth_std),
                    activation: shape.hidden_act,
                },
            })
            .collect();
        Self { layers }
    }

    pub fn forward(
        &self,
        mut x: Tensor<B, 3>,
        blocked: Option<Tensor<B, 4, Bool>>,
    ) -> Tensor<B, 3> {
        for layer in &self.layers {
            x = layer.forward(x, blocked.clone());
        }
        x
    }
}
