//! Learning-rate schedules, stepped once per batch: the rate of optimiser step `step` (0-based) of a run of
//! `total_steps`, as each method's scheduler gives it to the optimiser for that step.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// A learning rate as a function of the optimiser step (0-based) and the run's total steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum LrSchedule {
    /// The same rate throughout.
    Constant { lr: f64 },
    /// CAPIVARA's `CosineWarmupLR` (`clip_pt/src/utils/scheduler.py`, `T_max` = the run's steps): linear from
    /// `lr_min` to `lr_max` over `warmup_steps`, then a half cosine from `lr_max` back to `lr_min` at the last
    /// step. (CAPIVARA's cosine would rise again past `T_max`; here it stays at `lr_min`, a step the trainer
    /// never runs.)
    CosineWarmup {
        lr_min: f64,
        lr_max: f64,
        warmup_steps: usize,
    },
    /// CLIP-Vision-mBART50's and M-CLIP's, transformers' `get_linear_schedule_with_warmup`: linear from 0 to
    /// `lr_max` over `warmup_steps`, then linear down to 0 at the last step.
    LinearWarmupDecay { lr_max: f64, warmup_steps: usize },
    /// clip-italian's (`create_learning_rate_fn(linear=False)` in `run_hybrid_clip.py`):
    /// `optax.join_schedules([linear_schedule(0, lr_max, w), cosine_decay_schedule(lr_max, total − w)], [w])`
    /// with `w = int(warmup_fraction · total)` (`--warmup_ratio`): linear from 0 over the first `w` steps
    /// (step `w` is the first of the cosine, at `lr_max`), then a half cosine to 0 at the last step, held at 0
    /// beyond it.
    WarmupCosine { lr_max: f64, warmup_fraction: f64 },
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
                    lr_min + 0.5 * (lr_max - lr_min) * (1.0 + (PI * progress).cos())
                }
            }
            // transformers' `_get_linear_schedule_with_warmup_lr_lambda`, times the base rate (`LambdaLR`).
            Self::LinearWarmupDecay {
                lr_max,
                warmup_steps,
            } => {
                let factor = if step < warmup_steps {
                    step as f64 / warmup_steps.max(1) as f64
                } else {
                    let remaining = total_steps.saturating_sub(step) as f64;
                    remaining / total_steps.saturating_sub(warmup_steps).max(1) as f64
                };
                lr_max * factor
            }
            Self::WarmupCosine {
                lr_max,
                warmup_fraction,
            } => {
                let warmup = Self::warmup_steps_of(warmup_fraction, total_steps);
                if step < warmup {
                    // optax.polynomial_schedule(0, lr_max, power 1): `(init - end) * frac**1 + end`.
                    let frac = 1.0 - step as f64 / warmup as f64;
                    (0.0 - lr_max) * frac + lr_max
                } else {
                    let decay_steps = (total_steps - warmup) as f64;
                    if decay_steps == 0.0 {
                        // optax refuses a cosine of no steps ([`validate`](Self::validate) does too).
                        return 0.0;
                    }
                    // optax.cosine_decay_schedule(lr_max, decay_steps, alpha 0, exponent 1).
                    let count = ((step - warmup) as f64).min(decay_steps);
                    let cosine_decay = 0.5 * (1.0 + (PI * count / decay_steps).cos());
                    lr_max * cosine_decay
                }
            }
        }
    }

    /// `int(warmup_fraction · total_steps)` as clip-italian computes its warm-up steps (truncation, at most
    /// `total_steps`).
    fn warmup_steps_of(warmup_fraction: f64, total_steps: usize) -> usize {
        // `as` truncates towards zero like Python's int(), and saturates (NaN and negatives give 0).
        ((warmup_fraction * total_steps as f64) as usize).min(total_steps)
    }

    /// The peak rate.
    pub fn peak(&self) -> f64 {
        match *self {
            Self::Constant { lr } => lr,
            Self::CosineWarmup { lr_max, .. }
            | Self::LinearWarmupDecay { lr_max, .. }
            | Self::WarmupCosine { lr_max, .. } => lr_max,
        }
    }

    /// Checks the schedule against a run of `total_steps`: finite non-negative rates, and for
    /// [`WarmupCosine`](Self::WarmupCosine) a warm-up fraction in `[0, 1)` that leaves at least one cosine step
    /// (optax raises otherwise).
    pub fn validate(&self, total_steps: usize) -> Result<(), TrainError> {
        let invalid = |key: &'static str, value: f64, reason: String| -> Result<(), TrainError> {
            Err(TrainError::InvalidConfig {
                key,
                value: value.to_string(),
                reason,
            })
        };
        let rates: Vec<(&'static str, f64)> = match *self {
            Self::Constant { lr } => vec![("schedule.lr", lr)],
            Self::CosineWarmup { lr_min, lr_max, .. } => {
                vec![("schedule.lr_min", lr_min), ("schedule.lr_max", lr_max)]
            }
            Self::LinearWarmupDecay { lr_max, .. } | Self::WarmupCosine { lr_max, .. } => {
                vec![("schedule.lr_max", lr_max)]
            }
        };
        for (key, rate) in rates {
            if !(rate.is_finite() && rate >= 0.0) {
                return invalid(key, rate, "must be a non-negative number".into());
            }
        }
        if let Self::WarmupCosine {
            warmup_fraction, ..
        } = *self
        {
            if !(0.0..1.0).contains(&warmup_fraction) {
                return invalid(
                    "schedule.warmup_fraction",
                    warmup_fraction,
                    "must be in [0, 1)".into(),
                );
            }
            if Self::warmup_steps_of(warmup_fraction, total_steps) >= total_steps {
                return invalid(
                    "schedule.warmup_fraction",
                    warmup_fraction,
                    format!("leaves no cosine step in a run of {total_steps} steps"),
                );
            }
        }
        Ok(())
    }
}
