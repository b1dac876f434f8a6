//! Scaled dot-product attention shared by every transformer in the crate.

use burn::nn::Dropout;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, FloatDType, Tensor, TensorData, activation::softmax, backend::Backend};

use crate::layer_norm::is_half;

/// Large negative value added to blocked attention scores while training (finite, so gradients stay finite).
const MASKED: f32 = -1.0e9;

/// Splits `[batch, seq, heads*head_dim]` into `[batch, heads, seq, head_dim]`.
pub fn split_heads<B: Backend>(x: Tensor<B, 3>, heads: usize) -> Tensor<B, 4> {
    let [batch, seq, width] = x.dims();
    x.reshape([batch, seq, heads, width / heads])
        .swap_dims(1, 2)
}

/// Merges `[batch, heads, seq, head_dim]` back into `[batch, seq, heads*head_dim]`.
pub fn merge_heads<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 3> {
    let [batch, heads, seq, head_dim] = x.dims();
    x.swap_dims(1, 2).reshape([batch, seq, heads * head_dim])
}

/// `softmax(q·kᵀ/√d + mask)·v` over `[batch, heads, seq, head_dim]` tensors.
///
/// `blocked` is broadcast to `[batch, heads, seq_q, seq_k]`: `true` marks a key a query may not attend to
/// (padding, or the future under a causal mask). `dropout` acts on the attention probabilities (BERT's
/// `attention_probs_dropout_prob`); it is the identity outside training.
///
/// Outside autodiff (inference, evaluation, serving) this is burn's attention op
/// (`burn::tensor::module::attention`), which burn-flex runs as flash attention and CUDA as a fused kernel; blocked
/// keys get `-inf` there, the same probabilities as HF's lowest-value mask unless a query has every key blocked,
/// which no input here has (every text keeps its first token). Under autodiff, where burn 0.21 composes that op from
/// primitives and back-propagates through the softmax's running maximum too, the probabilities are formed here:
/// burn's `softmax` (its maximum detached), a finite `-1e9` for blocked keys, and dropout where it acts; scores in a
/// half type are widened to f32 for the softmax and the probabilities narrowed back (autocast's rule).
pub fn scaled_dot_product<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    blocked: Option<Tensor<B, 4, Bool>>,
    dropout: Option<&Dropout>,
) -> Tensor<B, 4> {
    let [batch, heads, seq_q, head_dim] = q.dims();
    let seq_k = k.dims()[2];
    let blocked = blocked.map(|blocked| blocked.expand([batch, heads, seq_q, seq_k]));
    if !B::ad_enabled(&q.device()) {
        return attention(q, k, v, blocked, None, AttentionModuleOptions::default());
    }
    let scores = q.matmul(k.swap_dims(2, 3)) * (1.0 / (head_dim as f64).sqrt());
    // A half-precision step takes its softmax in f32, as autocast does (and -1e9 is out of f16's range).
    let dtype = scores.dtype();
    let scores = if is_half(dtype) {
        scores.cast(FloatDType::F32)
    } else {
        scores
    };
    let scores = match blocked {
        Some(blocked) => scores.mask_fill(blocked, MASKED),
        None => scores,
    };
    let probs = softmax(scores, 3);
    let probs = if is_half(dtype) {
        probs.cast(dtype)
    } else {
        probs
    };
    match dropout {
        Some(dropout) => dropout.forward(probs),
        None => probs,
    }
    .matmul(v)
}

/// `true` where key `j` lies after query `i` (the causal mask of a decoder or CLIP text model), `[1,1,L,L]`.
pub fn causal_block<B: Backend>(seq: usize, device: &B::Device) -> Tensor<B, 4, Bool> {
    // burn's `tril_mask` is `false` on and below the diagonal (allowed) and `true` above it (the future).
    Tensor::<B, 2, Bool>::tril_mask([seq, seq], 0, device)
        .unsqueeze_dim::<3>(0)
        .unsqueeze_dim(0)
}

/// The causal mask of `new` queries that follow `past` cached positions, `[1, 1, new, past + new]`: `true`
/// where the key lies after the query.
pub fn causal_block_after<B: Backend>(
    past: usize,
    new: usize,
    device: &B::Device,
) -> Tensor<B, 4, Bool> {
    let keys = past + new;
    let blocked: Vec<bool> = (0..new)
        .flat_map(|query| (0..keys).map(move |key| key > past + query))
        .collect();
    Tensor::<B, 2, Bool>::from_data(TensorData::new(blocked, [new, keys]), device)
        .unsqueeze_dim::<3>(0)
        .unsqueeze_dim(0)
}

/// `true` at padding keys, from a `[batch, seq]` attention mask (1 = token, 0 = padding), `[B,1,1,L]`.
pub fn padding_block<B: Backend>(
    attention_mask: Tensor<B, 2, burn::tensor::Int>,
) -> Tensor<B, 4, Bool> {
    attention_mask
        .equal_elem(0)
        .unsqueeze_dim::<3>(1)
        .unsqueeze_dim(1)
}
