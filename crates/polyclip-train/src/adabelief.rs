//! AdaBelief (Zhuang et al. 2020) as optax 0.2.8's `scale_by_belief` computes it, optionally behind optax's
//! adaptive gradient clipping: clip-italian's optimiser,
//! `optax.chain(adaptive_grad_clip(0.01, eps=1e-3), scale_by_belief(), scale_by_schedule(schedule), scale(-1))`.
//!
//! Per parameter, with `g` the (clipped) gradient and `t` the step count after incrementing:
//!
//! ```text
//! mu  = (1 − b1)·g + b1·mu
//! nu  = (1 − b2)·(g − mu)² + b2·nu + eps_root      (eps_root is stored in the state, as optax does)
//! u   = (mu / (1 − b1^t)) / (sqrt(nu / (1 − b2^t)) + eps)
//! θ  ← θ − lr·u
//! ```
//!
//! The operations run in optax's order, in `f32`; the coefficients `1 − b` are formed in `f64` and rounded
//! once, as Python floats are when JAX multiplies them into `f32` arrays (forming them from `f32` betas would
//! shift `1 − 0.999` by 2·10⁻⁶ relative). There is no weight decay (clip-italian uses none).

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{LearningRate, SimpleOptimizer};
use burn::record::Record;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::agc::{AgcConfig, adaptive_grad_clip};

/// The AdaBelief update rule (a burn [`SimpleOptimizer`]); [`AdaBelief::init`] wraps it for a module.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaBelief {
    /// Decay of the gradient's moving average (optax `b1`).
    pub beta_1: f64,
    /// Decay of the moving average of the squared prediction error (optax `b2`).
    pub beta_2: f64,
    /// Added to the denominator after the square root (optax `eps`).
    pub eps: f64,
    /// Added to the second moment before bias correction, every step (optax `eps_root`).
    pub eps_root: f64,
    /// Adaptive gradient clipping applied to the gradient first, if any.
    pub agc: Option<AgcConfig>,
}

/// The per-parameter state: optax's `ScaleByBeliefState` (`count`, `mu`, `nu`).
#[derive(Record, Clone)]
pub struct AdaBeliefState<B: Backend, const D: usize> {
    /// Updates applied so far.
    pub count: usize,
    /// First moment of the gradient.
    pub mu: Tensor<B, D>,
    /// Second central moment (with the accumulated `eps_root`).
    pub nu: Tensor<B, D>,
}

impl AdaBelief {
    /// Wraps the rule into an optimiser for module `M` with empty state.
    pub fn init<B: AutodiffBackend, M: AutodiffModule<B>>(self) -> OptimizerAdaptor<Self, M, B> {
        OptimizerAdaptor::from(self)
    }
}

/// optax's `tree_bias_correction` divisor `1 − decay^count` in `f32`, as JAX forms it: `decay` rounded to `f32`
/// (a weakly typed Python float), the power correctly rounded to `f32` (XLA's `pow`; repeated `f32`
/// multiplication, as `f32::powi` does, is off by up to 2·10⁻⁵ relative after the cancellation in
/// `1 − 0.999^t`), then the subtraction in `f32`.
fn bias_correction(decay: f64, count: usize) -> f32 {
    let exponent = i32::try_from(count).unwrap_or(i32::MAX);
    let power = f64::from(decay as f32).powi(exponent) as f32;
    1.0 - power
}

impl<B: Backend> SimpleOptimizer<B> for AdaBelief {
    type State<const D: usize> = AdaBeliefState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let grad = match self.agc {
            Some(agc) => adaptive_grad_clip(tensor.clone(), grad, agc.clipping, agc.eps),
            None => grad,
        };
        let (count, mu, nu) = match state {
            Some(state) => (state.count, state.mu, state.nu),
            None => (0, grad.zeros_like(), grad.zeros_like()),
        };
        // optax.tree.update_moment(updates, mu, b1, 1): `(1 - decay) * g + decay * t`.
        let mu = grad
            .clone()
            .mul_scalar(1.0 - self.beta_1)
            .add(mu.mul_scalar(self.beta_1));
        let prediction_error = grad.sub(mu.clone());
        // optax.tree.update_moment_per_elem_norm(prediction_error, nu, b2, 2), then `nu + eps_root`.
        let nu = prediction_error
            .square()
            .mul_scalar(1.0 - self.beta_2)
            .add(nu.mul_scalar(self.beta_2))
            .add_scalar(self.eps_root);
        let count = count.saturating_add(1);
        let mu_hat = mu.clone().div_scalar(bias_correction(self.beta_1, count));
        let nu_hat = nu.clone().div_scalar(bias_correction(self.beta_2, count));
        let update = mu_hat.div(nu_hat.sqrt().add_scalar(self.eps));
        // scale_by_schedule, scale(-1), apply_updates: θ + (−(lr·u)) = θ − lr·u exactly.
        let tensor = tensor.sub(update.mul_scalar(lr));
        (tensor, Some(AdaBeliefState { count, mu, nu }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        AdaBeliefState {
            count: state.count,
            mu: state.mu.to_device(device),
            nu: state.nu.to_device(device),
        }
    }
}
