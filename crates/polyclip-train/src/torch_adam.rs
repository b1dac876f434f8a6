//! `torch.optim.Adam` / `torch.optim.AdamW`, computed as torch computes them.

use burn::optim::{AdamState, AdaptiveMomentumState, LearningRate, SimpleOptimizer};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::torch_adam_flex;

/// `torch.optim.Adam` / `torch.optim.AdamW` (torch 2.x `_single_tensor_adam`, `amsgrad=False`), in torch's
/// order of operations, with `g` the gradient, `t` the step count after incrementing and `wd` the decay:
///
/// ```text
/// coupled (Adam):     g ← g + wd·θ
/// decoupled (AdamW):  θ ← θ·(1 − lr·wd)
/// m ← m + (1 − β₁)·(g − m)                         (exp_avg.lerp_(g, 1 − β₁))
/// v ← v·β₂ + (1 − β₂)·g·g                          (exp_avg_sq.mul_(β₂).addcmul_(g, g, 1 − β₂))
/// θ ← θ + (−lr/(1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + eps)
/// ```
///
/// The tensors are `f32`; the scalars are formed in `f64` as torch's Python floats are, and rounded once. burn's
/// own `Adam`/`AdamW` form the bias corrections `1 − βᵗ` in `f32`, where the cancellation in `1 − 0.999ᵗ`
/// shifts the first steps' updates by ~10⁻⁵ relative (1.6·10⁻⁵ on the parameters of the AdamW parity fixture,
/// against 1.1·10⁻⁷ here). The state is burn's [`AdamState`], so optimiser
/// checkpoints written with burn's `Adam`/`AdamW` still load.
///
/// On burn-flex with `f32` parameters the update is one in-place pass over the parameter, its gradient and the
/// two moments ([`torch_adam_flex`]), with the same `f32` operations in the same order, so bit for bit what
/// [`TorchAdam::step_generic`] gives (a test holds it to that). The generic path runs 15 element-wise passes and
/// allocates 5 buffers of the parameter's size: on XLM-R's 250 002 × 768 embedding that was most of the
/// non-matmul time of a CAPIVARA step on flex (BENCHMARKS.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TorchAdam {
    pub beta_1: f64,
    pub beta_2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// AdamW's decoupled decay instead of Adam's L2 term.
    pub decoupled: bool,
}

impl TorchAdam {
    /// The update written with burn's tensor operations, for every backend (one pass per operation).
    pub fn step_generic<B: Backend, const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<AdamState<B, D>>,
    ) -> (Tensor<B, D>, Option<AdamState<B, D>>) {
        let (tensor, grad) = match (self.weight_decay != 0.0, self.decoupled) {
            (false, _) => (tensor, grad),
            // param.mul_(1 - lr * weight_decay)
            (true, true) => (tensor.mul_scalar(1.0 - lr * self.weight_decay), grad),
            // grad.add(param, alpha=weight_decay)
            (true, false) => {
                let decay = tensor.clone().mul_scalar(self.weight_decay);
                (tensor, grad.add(decay))
            }
        };
        let (time, exp_avg, exp_avg_sq) = match state {
            Some(state) => (
                state.momentum.time,
                state.momentum.moment_1,
                state.momentum.moment_2,
            ),
            None => (0, grad.zeros_like(), grad.zeros_like()),
        };
        // lerp(self, end, w) = self + w·(end − self) for |w| < 0.5, else end − (end − self)·(1 − w).
        let weight = 1.0 - self.beta_1;
        let exp_avg = if weight.abs() < 0.5 {
            let step = grad.clone().sub(exp_avg.clone()).mul_scalar(weight);
            exp_avg.add(step)
        } else {
            let rest = 1.0 - f64::from(weight as f32);
            grad.clone().sub(grad.clone().sub(exp_avg).mul_scalar(rest))
        };
        let exp_avg_sq = exp_avg_sq
            .mul_scalar(self.beta_2)
            .add(grad.clone().mul_scalar(1.0 - self.beta_2).mul(grad));
        let time = time.saturating_add(1);
        let (step_size, bias_correction_2_sqrt) = self.bias_corrections(lr, time);
        let denom = exp_avg_sq
            .clone()
            .sqrt()
            .div_scalar(bias_correction_2_sqrt)
            .add_scalar(self.eps);
        // param.addcdiv_(exp_avg, denom, value=-step_size): θ + (value·m)/denom.
        let tensor = tensor.add(exp_avg.clone().mul_scalar(-step_size).div(denom));
        let momentum = AdaptiveMomentumState {
            time,
            moment_1: exp_avg,
            moment_2: exp_avg_sq,
            max_moment_2: None,
        };
        (tensor, Some(AdamState { momentum }))
    }

    /// `lr/(1 − β₁ᵗ)` and `√(1 − β₂ᵗ)` for step count `time` (after incrementing), in `f64`.
    pub(crate) fn bias_corrections(&self, lr: LearningRate, time: usize) -> (f64, f64) {
        let exponent = i32::try_from(time).unwrap_or(i32::MAX);
        let bias_correction_1 = 1.0 - self.beta_1.powi(exponent);
        let bias_correction_2_sqrt = (1.0 - self.beta_2.powi(exponent)).sqrt();
        (lr / bias_correction_1, bias_correction_2_sqrt)
    }
}

impl<B: Backend> SimpleOptimizer<B> for TorchAdam {
    type State<const D: usize> = AdamState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        torch_adam_flex::step(self, lr, tensor, grad, state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        AdamState {
            momentum: state.momentum.to_device(device),
        }
    }
}
