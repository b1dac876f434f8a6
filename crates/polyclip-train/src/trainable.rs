//! What the trainer needs of a model: its loss on a batch, what freezing a tower means for it, and what to log.
//! CLIP dual encoders train on the symmetric InfoNCE loss (whole-batch or chunked, see [`crate::chunked_step`]),
//! captioners on masked cross-entropy.

use burn::module::{AutodiffModule, Module, ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, ElementConversion, Tensor};
use polyclip_data::{CaptionBatch, ClipBatch};
use polyclip_models::ClipModel;
use polyclip_models::captioner::Captioner;

use crate::chunked_step::chunked_contrastive_gradients;
use crate::data_parallel::Peer;
use crate::error::TrainError;
use crate::loss::{contrastive_loss, sequence_cross_entropy};
use crate::loss_scale::{scaled_loss, unscale_gradients};
use crate::precision::{half_copy, widen_gradients};
use crate::train_config::{FreezeConfig, TrainConfig};

/// What one step computed: the loss of the batch and, when that loss is finite, the gradient of every parameter
/// that trains.
pub struct StepGradients {
    pub loss: f32,
    /// `None` when the loss is NaN or infinite (nothing was back-propagated), or when the gradients of a
    /// loss-scaled step overflowed.
    pub gradients: Option<GradientsParams>,
    /// Whether the gradients of a loss-scaled (f16) step held a NaN or an infinity: the step is skipped and the
    /// scale shrinks ([`LossScaler`](crate::loss_scale::LossScaler)).
    pub overflowed: bool,
}

impl StepGradients {
    /// A step whose loss was not finite: nothing was back-propagated.
    pub fn non_finite(loss: f32) -> Self {
        Self {
            loss,
            gradients: None,
            overflowed: false,
        }
    }
}

/// What a step needs besides the model, the batch and the config.
#[derive(Debug, Clone, Copy)]
pub struct StepContext<'a> {
    /// The backward pass differentiates the loss times this (f16's dynamic loss scale; 1 otherwise).
    pub loss_scale: f32,
    /// This replica's peer in data-parallel training: the batch is the whole batch, of which the step embeds its
    /// peer's rows, and the gradients are averaged over the peers.
    pub peer: Option<&'a Peer>,
}

impl Default for StepContext<'_> {
    fn default() -> Self {
        Self {
            loss_scale: 1.0,
            peer: None,
        }
    }
}

/// The step's loss and gradients at the config's precision: in f32 the model's own; in half precision those of a
/// half-precision copy of its weights, widened to f32 for the master weights (`precision.rs`). With `loss_scale`
/// (f16's dynamic loss scaling), the backward pass differentiates the loss times that scale, the gradients are
/// divided by it in f32, and a step whose gradients overflowed gives none.
pub fn step_gradients<B: AutodiffBackend, M: TrainableModel<B>>(
    model: &M,
    batch: M::Batch,
    config: &TrainConfig,
    loss_scale: Option<f32>,
    peer: Option<&Peer>,
) -> Result<StepGradients, TrainError> {
    let context = StepContext {
        loss_scale: loss_scale.unwrap_or(1.0),
        peer,
    };
    let step = if config.precision.is_f32() {
        model.gradients(batch, config, &context)?
    } else {
        let dtype = config.precision.dtype();
        let half = half_copy(model, dtype);
        let step = half.gradients(M::cast_batch(batch, dtype), config, &context)?;
        StepGradients {
            gradients: step.gradients.map(|grads| widen_gradients(grads, model)),
            ..step
        }
    };
    // The peers average their gradients before anything looks at them, so that every peer unscales, checks and
    // applies the same ones.
    let step = match (peer, step.gradients) {
        (Some(peer), Some(grads)) => StepGradients {
            gradients: Some(peer.all_reduce_mean::<B>(grads)?),
            ..step
        },
        (_, gradients) => StepGradients { gradients, ..step },
    };
    Ok(match loss_scale {
        Some(scale) => unscale(step, model, scale),
        None => step,
    })
}

/// The gradients of a step whose loss was multiplied by `scale`, divided by it; none when one of them overflowed.
fn unscale<B: AutodiffBackend, M: Module<B>>(
    step: StepGradients,
    model: &M,
    scale: f32,
) -> StepGradients {
    let Some(grads) = step.gradients else {
        return step;
    };
    match unscale_gradients(grads, model, scale) {
        Some(grads) => StepGradients {
            gradients: Some(grads),
            ..step
        },
        None => StepGradients {
            loss: step.loss,
            gradients: None,
            overflowed: true,
        },
    }
}

/// The loss of `batch` in one pass and its gradients by one backward pass through the whole graph, of the loss
/// times `loss_scale`.
pub fn whole_batch_gradients<B: AutodiffBackend, M: TrainableModel<B>>(
    model: &M,
    batch: M::Batch,
    config: &TrainConfig,
    loss_scale: f32,
) -> StepGradients {
    let loss = model.loss(batch, config);
    let value: f32 = loss.clone().into_scalar().elem();
    if !value.is_finite() {
        return StepGradients::non_finite(value);
    }
    let scaled = scaled_loss(loss, loss_scale);
    StepGradients {
        loss: value,
        gradients: Some(GradientsParams::from_grads(scaled.backward(), model)),
        overflowed: false,
    }
}

/// A model the [`Trainer`](crate::Trainer) can optimise.
pub trait TrainableModel<B: AutodiffBackend>: AutodiffModule<B> + Sized {
    /// What one step consumes.
    type Batch;

    /// Samples in a batch.
    fn batch_len(batch: &Self::Batch) -> usize;

    /// The fewest samples a batch needs for the loss to mean something.
    const MIN_BATCH: usize = 1;

    /// The scalar loss of a batch.
    fn loss(&self, batch: Self::Batch, config: &TrainConfig) -> Tensor<B, 1>;

    /// Whether [`gradients`](Self::gradients) honours the config's `micro_batch`.
    const MICRO_BATCHES: bool = false;

    /// Whether the model runs in half precision ([`cast_batch`](Self::cast_batch) gives a batch its float type).
    const HALF_PRECISION: bool = false;

    /// The batch with its float tensors in `dtype` (for a half-precision step).
    fn cast_batch(batch: Self::Batch, _dtype: DType) -> Self::Batch {
        batch
    }

    /// Whether [`gradients`](Self::gradients) takes part in data-parallel training (`step.peer`).
    const DATA_PARALLEL: bool = false;

    /// The loss of a batch and the gradients of the step, those of the loss times `step.loss_scale` (the whole
    /// batch in one graph unless overridden).
    fn gradients(
        &self,
        batch: Self::Batch,
        config: &TrainConfig,
        step: &StepContext<'_>,
    ) -> Result<StepGradients, TrainError> {
        Ok(whole_batch_gradients(self, batch, config, step.loss_scale))
    }

    /// Turns off the gradients of what `freeze` names.
    fn freeze(self, freeze: FreezeConfig) -> Self;

    /// A quantity to log after each step.
    fn monitor(&self) -> Option<f32> {
        None
    }
}

impl<B: AutodiffBackend> TrainableModel<B> for ClipModel<B> {
    type Batch = ClipBatch<B>;

    /// In-batch negatives: a single pair has none.
    const MIN_BATCH: usize = 2;

    fn batch_len(batch: &ClipBatch<B>) -> usize {
        batch.indices.len()
    }

    fn loss(&self, batch: ClipBatch<B>, _config: &TrainConfig) -> Tensor<B, 1> {
        let image = self.embed_images(batch.pixels);
        let text = self.embed_texts(batch.input_ids, batch.attention_mask);
        contrastive_loss(image, text, self.logit_multiplier())
    }

    const MICRO_BATCHES: bool = true;

    const HALF_PRECISION: bool = true;

    /// The pixels in `dtype` (ids and masks are integers).
    fn cast_batch(mut batch: ClipBatch<B>, dtype: DType) -> ClipBatch<B> {
        batch.pixels = batch.pixels.cast(dtype);
        batch
    }

    const DATA_PARALLEL: bool = true;

    /// With `micro_batch`, the exact gradient of the whole batch's loss computed chunk by chunk (gradient caching);
    /// with a peer, this peer's share of it (its rows, the others' embeddings gathered).
    fn gradients(
        &self,
        batch: ClipBatch<B>,
        config: &TrainConfig,
        step: &StepContext<'_>,
    ) -> Result<StepGradients, TrainError> {
        if config.micro_batch.is_none() && step.peer.is_none() {
            return Ok(whole_batch_gradients(self, batch, config, step.loss_scale));
        }
        chunked_contrastive_gradients(self, batch, config.micro_batch, config.freeze, step)
    }

    /// `vision`: the vision tower (CAPIVARA, LiT); `text`: the text tower; `*_backbone`: the tower's
    /// transformer, its projection still training (clip-italian's first stage).
    fn freeze(mut self, freeze: FreezeConfig) -> Self {
        if freeze.vision {
            self.vision = self.vision.no_grad();
        } else if freeze.vision_backbone {
            self.vision.vision_model = self.vision.vision_model.no_grad();
        }
        self.text = freeze.text_tower(self.text);
        self
    }

    /// `exp(logit_scale)`.
    fn monitor(&self) -> Option<f32> {
        Some(self.logit_multiplier().into_scalar().elem())
    }
}

impl<B: AutodiffBackend> TrainableModel<B> for Captioner<B> {
    type Batch = CaptionBatch<B>;

    fn batch_len(batch: &CaptionBatch<B>) -> usize {
        batch.indices.len()
    }

    /// Teacher-forced masked cross-entropy of the captions (with the config's label smoothing).
    fn loss(&self, batch: CaptionBatch<B>, config: &TrainConfig) -> Tensor<B, 1> {
        let logits = self.forward(batch.pixels, batch.decoder_input_ids);
        sequence_cross_entropy(
            logits,
            batch.labels,
            batch.label_mask,
            config.label_smoothing,
        )
    }

    /// `vision` (or `vision_backbone`): the CLIP encoder (the projection still trains); `text` (or
    /// `text_backbone`): the decoder, its token table and logits bias.
    fn freeze(mut self, freeze: FreezeConfig) -> Self {
        if freeze.vision || freeze.vision_backbone {
            self.encoder = self.encoder.no_grad();
        }
        if freeze.text || freeze.text_backbone {
            self.decoder = self.decoder.no_grad();
            self.embed_tokens = self.embed_tokens.no_grad();
            self.final_logits_bias = self.final_logits_bias.no_grad();
        }
        self
    }
}

/// Turns the gradients of every parameter back on (a stage that follows one with frozen parts starts from here).
pub fn unfreeze<B: AutodiffBackend, M: Module<B>>(module: M) -> M {
    struct RequireGrad;
    impl<B: AutodiffBackend> ModuleMapper<B> for RequireGrad {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            param.set_require_grad(true)
        }
    }
    module.map(&mut RequireGrad)
}
