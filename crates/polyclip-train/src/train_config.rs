//! What one training run is: steps, optimiser, schedule, what stays frozen, checkpoints, early stopping — the
//! `[stage.train]` table of a recipe.

use burn::module::Module;
use burn::tensor::backend::Backend;
use polyclip_models::TextTower;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::loss_scale::LossScaleConfig;
use crate::optimizer::OptimizerConfig;
use crate::precision::Precision;
use crate::schedule::LrSchedule;

/// What stays fixed: whole towers (CAPIVARA and LiT freeze the vision tower) or only their backbones, the
/// projections still training (clip-italian's first stage freezes both backbones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeConfig {
    #[serde(default)]
    pub vision: bool,
    #[serde(default)]
    pub text: bool,
    /// The vision transformer; its projection trains.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vision_backbone: bool,
    /// The text transformer; its projection (head) trains.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub text_backbone: bool,
}

impl FreezeConfig {
    /// What this says of a text tower (a dual encoder's or a distilled student's): `text` freezes all of it,
    /// `text_backbone` its transformer, the projection still training.
    pub fn text_tower<B: Backend>(&self, tower: TextTower<B>) -> TextTower<B> {
        if self.text {
            tower.no_grad()
        } else if self.text_backbone {
            tower.freeze_backbone()
        } else {
            tower
        }
    }
}

/// One training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Optimiser steps (batches) in the run.
    pub steps: usize,
    pub optimizer: OptimizerConfig,
    pub schedule: LrSchedule,
    #[serde(default)]
    pub freeze: FreezeConfig,
    /// Save a checkpoint every this many steps (and always at the end); 0 saves only at the end.
    #[serde(default)]
    pub checkpoint_every: usize,
    /// Checkpoints kept on disk.
    #[serde(default = "default_keep")]
    pub keep_checkpoints: usize,
    /// Label smoothing of token cross-entropy (sequence models; CLIP-Vision-mBART50 trains without).
    #[serde(default)]
    pub label_smoothing: f64,
    /// Stop when the validation loss has not improved for a while, keeping the best model (Themo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<EarlyStopping>,
    /// What a step whose loss or updated weights are NaN or infinite does: `stop` the run (the default) or
    /// `skip-step` (drop that update, count it, go on).
    #[serde(default, skip_serializing_if = "NanPolicy::is_stop")]
    pub nan_policy: NanPolicy,
    /// With `nan_policy = "skip-step"`: the run stops when this many steps in a row were dropped.
    #[serde(
        default = "default_max_skipped",
        skip_serializing_if = "is_default_max_skipped"
    )]
    pub max_skipped_in_a_row: usize,
    /// Rows embedded at a time (gradient caching). The step is still one step over the whole batch: the loss
    /// and its gradient see every in-batch negative, exactly as without it, but activation memory follows
    /// `micro_batch` instead of the batch. Unset: the whole batch in one pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub micro_batch: Option<usize>,
    /// The float type of the forward and backward passes (`bf16`: mixed precision over f32 master weights).
    #[serde(default, skip_serializing_if = "Precision::is_f32")]
    pub precision: Precision,
    /// Dynamic loss scaling of f16 steps (`[stage.train.loss_scale]`; torch's `GradScaler` defaults).
    #[serde(default, skip_serializing_if = "LossScaleConfig::is_default")]
    pub loss_scale: LossScaleConfig,
}

/// What to do with a step that makes the loss or the weights non-finite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NanPolicy {
    /// Stop the run in one line naming the step and the parameter.
    #[default]
    Stop,
    /// Drop the update (weights and optimiser state stay as before the step) and go on.
    SkipStep,
}

impl NanPolicy {
    fn is_stop(&self) -> bool {
        *self == Self::Stop
    }
}

fn default_max_skipped() -> usize {
    3
}

fn is_default_max_skipped(value: &usize) -> bool {
    *value == default_max_skipped()
}

impl TrainConfig {
    /// Checks what the trainer would refuse, so a recipe can check every stage before the first one trains.
    pub fn validate(&self) -> Result<(), TrainError> {
        self.optimizer.validate()?;
        self.schedule.validate(self.steps)?;
        if self.steps == 0 {
            return Err(TrainError::InvalidConfig {
                key: "steps",
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        if self
            .early_stopping
            .is_some_and(|stopping| stopping.every == 0 || stopping.patience == 0)
        {
            return Err(TrainError::InvalidConfig {
                key: "early_stopping",
                value: format!("{:?}", self.early_stopping),
                reason: "`every` and `patience` must be at least 1".into(),
            });
        }
        if self.nan_policy == NanPolicy::SkipStep && self.max_skipped_in_a_row == 0 {
            return Err(TrainError::InvalidConfig {
                key: "max_skipped_in_a_row",
                value: "0".into(),
                reason: "must be at least 1 (with nan_policy = \"skip-step\")".into(),
            });
        }
        if self.micro_batch == Some(0) {
            return Err(TrainError::InvalidConfig {
                key: "micro_batch",
                value: "0".into(),
                reason: "must be at least 1 (leave it out to embed the whole batch at once)".into(),
            });
        }
        self.loss_scale.validate()?;
        if self.precision != Precision::F16 && !self.loss_scale.is_default() {
            return Err(TrainError::InvalidConfig {
                key: "loss_scale",
                value: format!("{:?}", self.loss_scale),
                reason: format!(
                    "only f16 steps scale the loss, and this stage's precision is {}; set precision = \"f16\" or \
                     leave loss_scale out",
                    self.precision
                ),
            });
        }
        if self.freeze.vision && self.freeze.text {
            return Err(TrainError::InvalidConfig {
                key: "freeze",
                value: "vision and text".into(),
                reason: "nothing would train; unfreeze a tower".into(),
            });
        }
        Ok(())
    }
}

impl TrainConfig {
    /// Refuses `micro_batch` for a model whose loss does not split into chunks (captioners, distilled students).
    pub fn refuse_micro_batch(&self) -> Result<(), TrainError> {
        match self.micro_batch {
            Some(micro_batch) => Err(TrainError::InvalidConfig {
                key: "micro_batch",
                value: micro_batch.to_string(),
                reason:
                    "only contrastive (CLIP) training embeds a batch in micro-batches; leave it out"
                        .into(),
            }),
            None => Ok(()),
        }
    }

    /// Refuses a half `precision` for a model that has no mixed-precision step (captioners, distilled students).
    pub fn refuse_half_precision(&self) -> Result<(), TrainError> {
        if self.precision.is_f32() {
            return Ok(());
        }
        Err(TrainError::InvalidConfig {
            key: "precision",
            value: self.precision.to_string(),
            reason:
                "only contrastive (CLIP) training has a mixed-precision step; leave it out (f32)"
                    .into(),
        })
    }
    /// Refuses what only contrastive training honours (`micro_batch`, a half `precision`), for a stage whose loss
    /// is not contrastive (a captioner's, a distilled student's).
    pub fn refuse_contrastive_only(&self) -> Result<(), TrainError> {
        self.refuse_micro_batch()?;
        self.refuse_half_precision()
    }
}

/// Validate every `every` steps; stop after `patience` validations without a lower loss and return the model of
/// the best one (Themo: patience 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStopping {
    pub every: usize,
    pub patience: usize,
}

fn default_keep() -> usize {
    2
}
