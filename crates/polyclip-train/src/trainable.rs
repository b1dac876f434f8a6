//! What the trainer needs of a model: its loss on a batch, what freezing a tower means for it, and what to log.
//! CLIP dual encoders train on the symmetric InfoNCE loss, captioners on masked cross-entropy.

use burn::module::{AutodiffModule, Module};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};
use polyclip_data::{CaptionBatch, ClipBatch};
use polyclip_models::ClipModel;
use polyclip_models::captioner::Captioner;

use crate::loss::{contrastive_loss, sequence_cross_entropy};
use crate::trainer::{FreezeConfig, TrainConfig};

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

    /// `vision`: the vision tower (CAPIVARA, LiT); `text`: the text tower.
    fn freeze(mut self, freeze: FreezeConfig) -> Self {
        if freeze.vision {
            self.vision = self.vision.no_grad();
        }
        if freeze.text {
            self.text = self.text.no_grad();
        }
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

    /// `vision`: the CLIP encoder (the projection still trains); `text`: the decoder, its token table and
    /// logits bias.
    fn freeze(mut self, freeze: FreezeConfig) -> Self {
        if freeze.vision {
            self.encoder = self.encoder.no_grad();
        }
        if freeze.text {
            self.decoder = self.decoder.no_grad();
            self.embed_tokens = self.embed_tokens.no_grad();
            self.final_logits_bias = self.final_logits_bias.no_grad();
        }
        self
    }
}
