//! Learning-rate schedules, stepped once per batch.

use serde::{Deserialize, Serialize};

/// A learning rate as a function of the optimiser step (0-based) and the run's total steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum LrSchedule {
    /// The same rate throughout.
    Constant { lr: f64 },
    /// CAPIVARA's `CosineWarmupLR`: linear from `lr_min` to `lr_max` over `warmup_steps`, then a half cosine from
    /// `lr_max` back to `lr_min` at the last step.
    CosineWarmup {
        lr_min: f64,
        lr_max: f64,
        warmup_steps: usize,
    },
    /// The captioner seed's (and HF's `get_linear_schedule_with_warmup`): linear from 0 to `lr_max` over
    /// `warmup_steps`, then linear down to 0 at the last step.
    LinearWarmupDecay { lr_max: f64, warmup_steps: usize },
}

impl LrSchedule {
    /// The rate for `step` of a run of `total_steps`.
    pub fn lr(&self, step: usize, total_steps: usize) -> f64 {
        match *self {
            Self::Constant { lr } => lr,
            Self::CosineWarmup {
                lr_min,
                lr_max,
                warmup_steps,
            } => {
                if step < warmup_steps {
                    lr_min + (lr_max - lr_min) * step as f64 / warmup_steps as f64
                } else {
                    let span = total_steps.saturating_sub(warmup_steps).max(1) as f64;
                    let progress = ((step - warmup_steps) as f64 / span).min(1.0);
                    lr_min
                        + 0.5 * (lr_max - lr_min) * (1.0 + (std::f64::consts::PI * progress).cos())
                }
            }
            Self::LinearWarmupDecay {
                lr_max,
                warmup_steps,
            } => {
                if step < warmup_steps {
                    lr_max * step as f64 / warmup_steps.max(1) as f64
                } else {
                    let remaining = total_steps.saturating_sub(step) as f64;
                    lr_max * remaining / total_steps.saturating_sub(warmup_steps).max(1) as f64
                }
            }
        }
    }

    /// The peak rate.
    pub fn peak(&self) -> f64 {
        match *self {
            Self::Constant { lr } => lr,
            Self::CosineWarmup { lr_max, .. } | Self::LinearWarmupDecay { lr_max, .. } => lr_max,
        }
    }
}
