//! Dynamic loss scaling for f16 steps (`precision = "f16"`), PyTorch's `torch.amp.GradScaler` with its defaults.
//! f16 stops at 65504 and flushes below 6e-8, where many of a step's gradients lie: the loss is multiplied by a
//! large scale before the backward pass, which lifts those gradients into f16's range, and the f32 gradients are
//! divided by it again before the optimiser sees them. A step whose gradients overflowed (a NaN or an infinity) is
//! skipped, and the scale shrinks by `backoff_factor`; after `growth_interval` steps in a row without one, it grows
//! by `growth_factor`. bf16 has f32's range and needs none.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// `[stage.train.loss_scale]`: torch's `GradScaler(init_scale, growth_factor, backoff_factor, growth_interval)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossScaleConfig {
    /// The scale of the first step (2^16).
    pub init_scale: f32,
    /// What the scale is multiplied by after `growth_interval` steps in a row without an overflow.
    pub growth_factor: f32,
    /// What the scale is multiplied by after a step whose gradients overflowed.
    pub backoff_factor: f32,
    /// Steps in a row without an overflow before the scale grows.
    pub growth_interval: usize,
}

impl Default for LossScaleConfig {
    fn default() -> Self {
        Self {
            init_scale: 65536.0,
            growth_factor: 2.0,
            backoff_factor: 0.5,
            growth_interval: 2000,
        }
    }
}

impl LossScaleConfig {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Refuses a scale that is not a positive finite number, a growth factor that does not grow, a backoff
    /// factor that does not shrink, and a growth interval of 0.
    pub fn validate(&self) -> Result<(), TrainError> {
        let invalid = |key: &'static str, value: String, reason: &str| TrainError::InvalidConfig {
            key,
            value,
            reason: reason.into(),
        };
        if !(self.init_scale.is_finite() && self.init_scale > 0.0) {
            return Err(invalid(
                "loss_scale.init_scale",
                self.init_scale.to_string(),
                "must be a positive finite number",
            ));
        }
        if !(self.growth_factor.is_finite() && self.growth_factor > 1.0) {
            return Err(invalid(
                "loss_scale.growth_factor",
                self.growth_factor.to_string(),
                "must be greater than 1",
            ));
        }
        if !(self.backoff_factor > 0.0 && self.backoff_factor < 1.0) {
            return Err(invalid(
                "loss_scale.backoff_factor",
                self.backoff_factor.to_string(),
                "must lie strictly between 0 and 1",
            ));
        }
        if self.growth_interval == 0 {
            return Err(invalid(
                "loss_scale.growth_interval",
                "0".into(),
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Where the scaler stands: what a checkpoint keeps so that a resumed run scales as the uninterrupted one
/// (torch's `_scale` and `_growth_tracker`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossScaleState {
    /// The scale of the next step.
    pub scale: f32,
    /// Steps in a row without an overflow since the scale last changed.
    pub growth_tracker: usize,
}

/// The dynamic loss scale of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossScaler {
    config: LossScaleConfig,
    state: LossScaleState,
}

impl LossScaler {
    /// A run's first scaler: `init_scale`.
    pub fn new(config: LossScaleConfig) -> Self {
        Self::resume(
            config,
            LossScaleState {
                scale: config.init_scale,
                growth_tracker: 0,
            },
        )
    }

    /// A resumed run's scaler, where the checkpoint left it.
    pub fn resume(config: LossScaleConfig, state: LossScaleState) -> Self {
        Self { config, state }
    }

    /// What this step's loss is multiplied by before the backward pass.
    pub fn scale(&self) -> f32 {
        self.state.scale
    }

    pub fn state(&self) -> LossScaleState {
        self.state
    }

    /// After a step: shrink the scale when its gradients overflowed, else count the step and grow the scale every
    /// `growth_interval` of them (torch's `_amp_update_scale_`).
    pub fn update(&mut self, overflowed: bool) {
        let state = &mut self.state;
        if overflowed {
            state.scale *= self.config.backoff_factor;
            state.growth_tracker = 0;
            return;
        }
        state.growth_tracker += 1;
        if state.growth_tracker == self.config.growth_interval {
            let grown = state.scale * self.config.growth_factor;
            // torch keeps the scale when growing it would overflow f32.
            if grown.is_finite() {
                state.scale = grown;
            }
            state.growth_tracker = 0;
        }
    }
}

/// `loss × scale`, what the backward pass of a loss-scaled step differentiates (`loss` itself at a scale of 1).
pub fn scaled_loss<B: AutodiffBackend>(loss: Tensor<B, 1>, scale: f32) -> Tensor<B, 1> {
    if scale == 1.0 {
        loss
    } else {
        loss.mul_scalar(scale)
    }
}

/// `model`'s gradients of a loss multiplied by `scale`, divided by it; `None` when one of them holds a NaN or an
/// infinity (the f16 backward pass overflowed). One device round-trip: `Σ 0·g` over every gradient is 0 exactly
/// when all of them are finite.
pub fn unscale_gradients<B: AutodiffBackend, M: Module<B>>(
    mut grads: GradientsParams,
    model: &M,
    scale: f32,
) -> Option<GradientsParams> {
    struct Unscale<'a, B: AutodiffBackend> {
        grads: &'a mut GradientsParams,
        inverse: f64,
        zeroed: Option<Tensor<B::InnerBackend, 1>>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Unscale<'_, B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(grad) = self.grads.remove::<B::InnerBackend, D>(param.id) {
                let zeroed = grad.clone().mul_scalar(0.0).sum();
                self.zeroed = Some(match self.zeroed.take() {
                    Some(total) => total + zeroed,
                    None => zeroed,
                });
                self.grads.register(param.id, grad.mul_scalar(self.inverse));
            }
        }
    }
    let mut unscale = Unscale::<B> {
        grads: &mut grads,
        inverse: 1.0 / f64::from(scale),
        zeroed: None,
    };
    model.visit(&mut unscale);
    let finite = unscale
        .zeroed
        .is_none_or(|total| total.into_scalar().elem::<f32>().is_finite());
    finite.then_some(grads)
}

#[cfg(test)]
mod tests {
    use super::{LossScaleConfig, LossScaler};

    #[test]
    fn the_scale_halves_at_an_overflow_and_doubles_after_growth_interval_clean_steps() {
        let mut scaler = LossScaler::new(LossScaleConfig {
            growth_interval: 3,
            ..LossScaleConfig::default()
        });
        let mut scales = vec![scaler.scale()];
        for overflowed in [
            true, true, false, false, false, false, true, false, false, false,
        ] {
            scaler.update(overflowed);
            scales.push(scaler.scale());
        }
        assert_eq!(
            scales,
            [
                65536.0, 32768.0, 16384.0, 16384.0, 16384.0, 32768.0, 32768.0, 16384.0, 16384.0,
                16384.0, 32768.0
            ]
        );
    }

    #[test]
    fn growth_stops_short_of_overflowing_f32() {
        let mut scaler = LossScaler::new(LossScaleConfig {
            init_scale: f32::MAX,
            growth_interval: 1,
            ..LossScaleConfig::default()
        });
        scaler.update(false);
        assert_eq!(scaler.scale(), f32::MAX);
        assert_eq!(scaler.state().growth_tracker, 0);
    }

    #[test]
    fn a_factor_that_does_not_shrink_is_refused_in_one_line() {
        let config = LossScaleConfig {
            backoff_factor: 1.0,
            ..LossScaleConfig::default()
        };
        assert_eq!(
            config.validate().map_err(|e| e.to_string()),
            Err("training config: `loss_scale.backoff_factor` = 1: must lie strictly between 0 and 1".into())
        );
    }
}
