//! The optimisers of the seed recipes behind one type, with state that checkpoints exactly.

use std::path::Path;

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{GradientsParams, Optimizer};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::adabelief::AdaBelief;
pub use crate::agc::AgcConfig;
use crate::error::TrainError;
use crate::record_file::write_record;
pub use crate::torch_adam::TorchAdam;

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
