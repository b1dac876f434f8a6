//! Activation functions named as Hugging Face's `hidden_act` config key names them.

use burn::tensor::{Tensor, activation, backend::Backend};
use serde::{Deserialize, Serialize};

/// The `hidden_act` of a transformer MLP.
///
/// OpenAI's CLIP weights use `quick_gelu` (x·σ(1.702x)); open_clip's ViT-B-32 configs, BERT and XLM-R use the
/// exact `gelu`; `gelu_new` / `gelu_pytorch_tanh` are the tanh approximation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    Gelu,
    QuickGelu,
    #[serde(alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluNew,
    Relu,
}

impl Activation {
    /// Applies the activation element-wise.
    pub fn forward<B: Backend, const D: usize>(self, x: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            Activation::Gelu => activation::gelu(x),
            Activation::QuickGelu => x.clone() * activation::sigmoid(x * 1.702),
            Activation::GeluNew => activation::gelu_approximate(x),
            Activation::Relu => activation::relu(x),
        }
    }
}
