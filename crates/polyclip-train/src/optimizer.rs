//! The optimisers of the seed recipes behind one type, with state that checkpoints exactly.

use std::path::Path;

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{
    AdamState, AdaptiveMomentumState, GradientsParams, LearningRate, Optimizer, SimpleOptimizer,
};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::{Deserialize, Serialize};

use crate::adabelief::AdaBelief;
pub use crate::agc::AgcConfig;
use crate::error::TrainError;
use crate::record_file::write_record;

/// Which optimiser, with the hyper-parameters the methods name.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// `torch.optim.Adam`: weight decay is *coupled* (an L2 term added to the gradient), as CAPIVARA trains.
    /// Computed as torch computes it (see [`TorchAdam`]); hyper-parameters are `f64` like torch's Python floats.
    Adam {
        #[serde(default = "default_betas")]
        betas: [f64; 2],
        #[serde(default = "default_eps")]
        eps: f64,
        #[serde(default)]
        weight_decay: f64,
    },
    /// `torch.optim.AdamW`: weight decay is *decoupled* (`θ ← θ·(1 − lr·wd)`), computed as torch does.
    Adamw {
        #[serde(default = "default_betas")]
        betas: [f64; 2],
        #[serde(default = "default_eps")]
        eps: f64,
        #[serde(default = "default_adamw_decay")]
        weight_decay: f64,
    },
    /// clip-italian's `optax.chain(adaptive_grad_clip(clipping, eps), scale_by_belief(b1, b2, eps, eps_root),
    /// scale_by_schedule(schedule), scale(-1))`: AdaBelief as optax computes it (see [`AdaBelief`]), behind
    /// optional adaptive gradient clipping, no weight decay. The defaults are optax's `scale_by_belief`
    /// defaults, which clip-italian uses. Hyper-parameters are `f64`: optax forms `1 − β` in double precision.
    Adabelief {
        #[serde(default = "default_belief_betas")]
        betas: [f64; 2],
        #[serde(default = "default_belief_eps")]
        eps: f64,
        #[serde(default = "default_belief_eps")]
        eps_root: f64,
        /// Adaptive gradient clipping before the update (clip-italian: `clipping = 0.01`, `eps = 1e-3`).
        #[serde(default)]
        agc: Option<AgcConfig>,
    },
}

fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}
fn default_eps() -> f64 {
    1e-8
}
fn default_adamw_decay() -> f64 {
    0.01
}
fn default_belief_betas() -> [f64; 2] {
    [0.9, 0.999]
}
fn default_belief_eps() -> f64 {
    1e-16
}

impl OptimizerConfig {
    /// Checks the hyper-parameters: betas in `[0, 1)`, non-negative finite epsilons and decay, a positive
    /// clipping ratio.
    pub fn validate(&self) -> Result<(), TrainError> {
        let invalid = |key: &'static str, value: f64, reason: &str| -> Result<(), TrainError> {
            Err(TrainError::InvalidConfig {
                key,
                value: value.to_string(),
                reason: reason.into(),
            })
        };
        let (betas, epsilons, decay) = match *self {
            Self::Adam {
                betas,
                eps,
                weight_decay,
            }
            | Self::Adamw {
                betas,
                eps,
                weight_decay,
            } => (betas, vec![("optimizer.eps", eps)], weight_decay),
            Self::Adabelief {
                betas,
                eps,
                eps_root,
                agc,
            } => {
                if let Some(agc) = agc {
                    if !(agc.clipping.is_finite() && agc.clipping > 0.0) {
                        return invalid("optimizer.agc.clipping", agc.clipping, "must be positive");
                    }
                    if !(agc.eps.is_finite() && agc.eps >= 0.0) {
                        return invalid("optimizer.agc.eps", agc.eps, "must be non-negative");
                    }
                }
                (
                    betas,
                    vec![("optimizer.eps", eps), ("optimizer.eps_root", eps_root)],
                    0.0,
                )
            }
        };
        for beta in betas {
            if !(0.0..1.0).contains(&beta) {
                return invalid("optimizer.betas", beta, "each beta must be in [0, 1)");
            }
        }
        for (key, eps) in epsilons {
            if !(eps.is_finite() && eps >= 0.0) {
                return invalid(key, eps, "must be non-negative");
            }
        }
        if !(decay.is_finite() && decay >= 0.0) {
            return invalid("optimizer.weight_decay", decay, "must be non-negative");
        }
        Ok(())
    }
}

/// An initialised optimiser for module `M`: one variant per [`OptimizerConfig`] variant.
#[derive(Clone)]
pub enum ClipOptimizer<M: AutodiffModule<B>, B: AutodiffBackend> {
    Adam(OptimizerAdaptor<TorchAdam, M, B>),
    AdamW(OptimizerAdaptor<TorchAdam, M, B>),
    AdaBelief(OptimizerAdaptor<AdaBelief, M, B>),
}

type StateRecorder = NamedMpkFileRecorder<FullPrecisionSettings>;

impl<M: AutodiffModule<B>, B: AutodiffBackend> ClipOptimizer<M, B> {
    /// A fresh optimiser with empty state.
    pub fn new(config: &OptimizerConfig) -> Self {
        match *config {
            OptimizerConfig::Adam {
                betas,
                eps,
                weight_decay,
            } => Self::Adam(OptimizerAdaptor::from(TorchAdam {
                beta_1: betas[0],
                beta_2: betas[1],
                eps,
                weight_decay,
                decoupled: false,
            })),
            OptimizerConfig::Adamw {
                betas,
                eps,
                weight_decay,
            } => Self::AdamW(OptimizerAdaptor::from(TorchAdam {
                beta_1: betas[0],
                beta_2: betas[1],
                eps,
                weight_decay,
                decoupled: true,
            })),
            OptimizerConfig::Adabelief {
                betas,
                eps,
                eps_root,
                agc,
            } => Self::AdaBelief(
                AdaBelief {
                    beta_1: betas[0],
                    beta_2: betas[1],
                    eps,
                    eps_root,
                    agc,
                }
                .init(),
            ),
        }
    }

    /// One update of every parameter that has a gradient.
    pub fn step(&mut self, lr: f64, module: M, grads: GradientsParams) -> M {
        match self {
            Self::Adam(optim) => optim.step(lr, module, grads),
            Self::AdamW(optim) => optim.step(lr, module, grads),
            Self::AdaBelief(optim) => optim.step(lr, module, grads),
        }
    }

    /// Writes the state (moments and step counts, full precision) to `path` (+ `.mpk`).
    pub fn save(&self, path: &Path) -> Result<(), TrainError> {
        let file = path.with_extension("mpk");
        match self {
            Self::Adam(optim) => write_record::<B, _>(optim.to_record(), &file),
            Self::AdamW(optim) => write_record::<B, _>(optim.to_record(), &file),
            Self::AdaBelief(optim) => write_record::<B, _>(optim.to_record(), &file),
        }
    }

    /// Restores state written by [`save`](Self::save).
    pub fn load(self, path: &Path, device: &B::Device) -> Result<Self, TrainError> {
        let recorder = StateRecorder::new();
        let error = |_: burn::record::RecorderError| TrainError::Checkpoint {
            path: path.with_extension("mpk"),
            reason: crate::error::UNREADABLE.into(),
        };
        Ok(match self {
            Self::Adam(optim) => {
                let record = recorder.load(path.to_owned(), device).map_err(error)?;
                Self::Adam(optim.load_record(record))
            }
            Self::AdamW(optim) => {
                let record = recorder.load(path.to_owned(), device).map_err(error)?;
                Self::AdamW(optim.load_record(record))
            }
            Self::AdaBelief(optim) => {
                let record = recorder.load(path.to_owned(), device).map_err(error)?;
                Self::AdaBelief(optim.load_record(record))
            }
        })
    }
}

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
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TorchAdam {
    pub beta_1: f64,
    pub beta_2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// AdamW's decoupled decay instead of Adam's L2 term.
    pub decoupled: bool,
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
        let exponent = i32::try_from(time).unwrap_or(i32::MAX);
        let bias_correction_1 = 1.0 - self.beta_1.powi(exponent);
        let bias_correction_2_sqrt = (1.0 - self.beta_2.powi(exponent)).sqrt();
        let step_size = lr / bias_correction_1;
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

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        AdamState {
            momentum: state.momentum.to_device(device),
        }
    }
}
