//! Layer normalisation as PyTorch's autocast runs it: in f32 whatever the input's float type. A half-precision
//! (bf16, f16) input and the norm's weights are widened to f32, normalised there and narrowed back; an f32 or f64
//! input goes through burn's `LayerNorm` unchanged. Under autodiff burn 0.21 composes layer norm from primitives
//! in the input's type, and an f16 variance overflows once activations pass √65504 ≈ 256, which CLIP's residual
//! streams do.

use burn::module::{Module, ModuleMapper, Param};
use burn::nn::LayerNorm;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, FloatDType, Tensor};

/// `norm(x)`, computed in f32 when `x` is in a half type.
pub fn layer_norm<B: Backend, const D: usize>(
    norm: &LayerNorm<B>,
    x: Tensor<B, D>,
) -> Tensor<B, D> {
    let dtype = x.dtype();
    if !is_half(dtype) {
        return norm.forward(x);
    }
    norm.clone()
        .map(&mut WidenWeights)
        .forward(x.cast(FloatDType::F32))
        .cast(dtype)
}

/// bf16 or f16.
pub fn is_half(dtype: DType) -> bool {
    matches!(dtype, DType::BF16 | DType::F16)
}

/// Casts a module's float weights to f32; under autodiff the cast is part of the graph, so the gradients reach the
/// half-precision weights.
struct WidenWeights;

impl<B: Backend> ModuleMapper<B> for WidenWeights {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        param.map(|tensor| tensor.cast(FloatDType::F32))
    }
}
