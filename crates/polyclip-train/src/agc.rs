//! Adaptive gradient clipping (AGC; Brock et al. 2021, "High-Performance Large-Scale Image Recognition Without
//! Normalization"), exactly as optax 0.2.8's `adaptive_grad_clip`, `unitwise_norm` and `unitwise_clip`
//! (`optax/transforms/_clipping.py`), which clip-italian chains in front of AdaBelief:
//! `optax.adaptive_grad_clip(0.01, eps=1e-3)`.
//!
//! Each *unit* of a parameter (a slice along the axes [`unit_axes`] names) has its gradient rescaled to at most
//! `clipping · max(‖param unit‖₂, eps)`; units under the limit keep their gradient bit for bit.

use burn::tensor::{Tensor, backend::Backend};
use serde::{Deserialize, Serialize};

/// optax's `adaptive_grad_clip(clipping, eps)` .
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgcConfig {
    /// The largest allowed ratio of a unit's gradient norm to its parameter norm.
    pub clipping: f64,
    /// The smallest parameter norm used, so zero-initialised units can still move.
    #[serde(default = "default_agc_eps")]
    pub eps: f64,
}

fn default_agc_eps() -> f64 {
    1e-3
}

/// optax's `unitwise_clip` guard against dividing by a zero gradient norm (`div_eps`, not configurable there).
const DIV_EPS: f32 = 1e-6;

/// The axes, in burn's layout, that optax's `unitwise_norm` reduces for a parameter of shape `dims` (what is
/// left is one unit per remaining index).
///
/// optax decides by rank, assuming Flax layouts; burn's layouts map onto them as follows:
///
/// | shape (squeezed rank ≤ 1 first) | optax (Flax layout) | burn layout | axes reduced here |
/// |---|---|---|---|
/// | at most one dimension ≠ 1 | all axes | same | all axes |
/// | rank 2 | axis 0 of a Linear kernel `[in, out]` | `Linear` weight `[in, out]`, `Embedding` `[n, d]` (same as Flax) | `[0]` |
/// | rank 3 | axis 0 (optax assumes multi-head linear `[in, heads, head_dim]`) | taken as is | `[0]` |
/// | rank 4 | axes 0, 1, 2 of a Conv kernel HWIO | `Conv2d` weight `[out, in, kh, kw]` | `[1, 2, 3]` |
/// | rank 5 | axes 0..=3 of a Conv3D kernel DHWIO | `Conv3d` weight `[out, in, kd, kh, kw]` | `[1, 2, 3, 4]` |
/// | rank ≥ 6 | optax raises | — | every axis but 0 (the convolution rule extended; polyclip has none) |
///
/// So for convolutions the unit is the output channel in both: HWIO keeps axis 3 (O), burn keeps axis 0 (out).
/// The squeeze test comes first, as in optax: a `[1, n]` tensor (e.g. mBART's `final_logits_bias`, or a Linear
/// with one input) is one unit, not `n`.
pub fn unit_axes(dims: &[usize]) -> Vec<usize> {
    let squeezed_rank = dims.iter().filter(|&&size| size != 1).count();
    if squeezed_rank <= 1 {
        return (0..dims.len()).collect();
    }
    match dims.len() {
        2 | 3 => vec![0],
        _ => (1..dims.len()).collect(),
    }
}

/// optax's `unitwise_norm`: the L2 norm of every unit of `x`, kept in the reduced shape (size 1 on the
/// [`unit_axes`]); optax broadcasts it to `x`'s shape, which changes no value.
pub fn unitwise_norm<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let axes = unit_axes(&x.dims());
    x.square().sum_dims(&axes).sqrt()
}

/// optax's `adaptive_grad_clip(clipping, eps)` for one parameter: `grad` where its unit norm is below
/// `clipping · max(‖param‖, eps)`, else `grad · max_norm / max(‖grad‖, 1e-6)`. `param` is the value *before*
/// the update, as optax passes it.
pub fn adaptive_grad_clip<B: Backend, const D: usize>(
    param: Tensor<B, D>,
    grad: Tensor<B, D>,
    clipping: f64,
    eps: f64,
) -> Tensor<B, D> {
    let dims = grad.dims();
    let grad_norm = unitwise_norm(grad.clone());
    // optax: `max_norm = clipping * jnp.maximum(p_norm, eps)`.
    let max_norm = unitwise_norm(param).clamp_min(eps).mul_scalar(clipping);
    // optax: `clipped_grad = grad * (max_norm / jnp.maximum(g_norm, div_eps))`.
    let factor = max_norm.clone().div(grad_norm.clone().clamp_min(DIV_EPS));
    // optax: `jnp.where(g_norm < max_norm, grad, clipped_grad)`.
    let keep = grad_norm.lower(max_norm);
    let clipped = grad.clone().mul(factor.expand(dims));
    clipped.mask_where(keep.expand(dims), grad)
}

#[cfg(test)]
mod tests {
    use super::unit_axes;

    #[test]
    fn unit_axes_follow_optax_with_burn_layouts() {
        assert_eq!(unit_axes(&[1]), vec![0]);
        assert_eq!(unit_axes(&[5]), vec![0]);
        assert_eq!(unit_axes(&[1, 5]), vec![0, 1]);
        assert_eq!(unit_axes(&[5, 1]), vec![0, 1]);
        assert_eq!(unit_axes(&[4, 3]), vec![0]);
        assert_eq!(unit_axes(&[4, 3, 2]), vec![0]);
        assert_eq!(unit_axes(&[2, 3, 2, 2]), vec![1, 2, 3]);
        assert_eq!(unit_axes(&[1, 1, 1, 7]), vec![0, 1, 2, 3]);
        assert_eq!(unit_axes(&[2, 3, 2, 2, 2]), vec![1, 2, 3, 4]);
    }
}
