//! The optimisers of the seed recipes behind one type, with state that checkpoints exactly.

use std::path::Path;

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{Adam, AdamConfig, AdamW, AdamWConfig, GradientsParams, Optimizer};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// Which optimiser, with the hyper-parameters the seeds name.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// `torch.optim.Adam`: weight decay is *coupled* (an L2 term added to the gradient), as CAPIVARA trains.
    Adam {
        #[serde(default = "default_betas")]
        betas: [f32; 2],
        #[serde(default = "default_eps")]
        eps: f32,
        #[serde(default)]
        weight_decay: f32,
    },
    /// `torch.optim.AdamW`: weight decay is *decoupled* (`θ ← θ·(1 − lr·wd)`).
    Adamw {
        #[serde(default = "default_betas")]
        betas: [f32; 2],
        #[serde(default = "default_eps")]
        eps: f32,
        #[serde(default = "default_adamw_decay")]
        weight_decay: f32,
    },
}

fn default_betas() -> [f32; 2] {
    [0.9, 0.999]
}
fn default_eps() -> f32 {
    1e-8
}
fn default_adamw_decay() -> f32 {
    0.01
}

/// An initialised optimiser for module `M`.
#[derive(Clone)]
pub enum ClipOptimizer<M: AutodiffModule<B>, B: AutodiffBackend> {
    Adam(OptimizerAdaptor<Adam, M, B>),
    AdamW(OptimizerAdaptor<AdamW, M, B>),
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
            } => Self::Adam(
                AdamConfig::new()
                    .with_beta_1(betas[0])
                    .with_beta_2(betas[1])
                    .with_epsilon(eps)
                    .with_weight_decay(
                        (weight_decay != 0.0).then(|| WeightDecayConfig::new(weight_decay)),
                    )
                    .init(),
            ),
            OptimizerConfig::Adamw {
                betas,
                eps,
                weight_decay,
            } => Self::AdamW(
                AdamWConfig::new()
                    .with_beta_1(betas[0])
                    .with_beta_2(betas[1])
                    .with_epsilon(eps)
                    .with_weight_decay(weight_decay)
                    .init(),
            ),
        }
    }

    /// One update of every parameter that has a gradient.
    pub fn step(&mut self, lr: f64, module: M, grads: GradientsParams) -> M {
        match self {
            Self::Adam(optim) => optim.step(lr, module, grads),
            Self::AdamW(optim) => optim.step(lr, module, grads),
        }
    }

    /// Writes the state (moments and step counts, full precision) to `path` (+ `.mpk`).
    pub fn save(&self, path: &Path) -> Result<(), TrainError> {
        let recorder = StateRecorder::new();
        let result = match self {
            Self::Adam(optim) => recorder.record(optim.to_record(), path.to_owned()),
            Self::AdamW(optim) => recorder.record(optim.to_record(), path.to_owned()),
        };
        result.map_err(|e| TrainError::Checkpoint {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Restores state written by [`save`](Self::save).
    pub fn load(self, path: &Path, device: &B::Device) -> Result<Self, TrainError> {
        let recorder = StateRecorder::new();
        let error = |e: burn::record::RecorderError| TrainError::Checkpoint {
            path: path.to_owned(),
            reason: e.to_string(),
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
        })
    }
}
