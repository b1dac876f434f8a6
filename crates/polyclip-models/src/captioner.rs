//! The multilingual image captioner: CLIP vision tokens → a projection to the decoder's width → an mBART-50
//! decoder that cross-attends to them (CLIP-Vision-mBART50, and HF `VisionEncoderDecoderModel`).
//!
//! Both layouts feed the decoder every vision token of `last_hidden_state` (class token and patches, *without*
//! `post_layernorm`), with no source mask. They differ in the bridge and the head:
//! - HF `VisionEncoderDecoderModel` (`enc_to_dec_proj` only when the widths differ; `MBartForCausalLM`'s head,
//!   tied to `decoder.model.decoder.embed_tokens`, has no bias);
//! - CLIP-Vision-mBART50's Flax model (`visual_projection` with bias always; head tied to `model.shared`, plus
//!   `final_logits_bias`).

use burn::module::{Module, Param};
use burn::nn::{Embedding, Linear};
use burn::tensor::{Int, Tensor, backend::Backend};
use serde::{Deserialize, Serialize};

use crate::clip::{ClipVisionConfig, ClipVisionTransformer};
use crate::error::ModelError;
use crate::init::{BuildModel, Initializer};
use crate::mbart::model::tied_logits;
use crate::mbart::{DecoderCache, MBartConfig, MBartDecoder, Memory};

/// How vision states reach the decoder, and whether the head has a bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaptionerLayout {
    /// HF `VisionEncoderDecoderModel`: `enc_to_dec_proj` when the widths differ, no logits bias.
    VisionEncoderDecoder,
    /// CLIP-Vision-mBART50: `visual_projection` always, `final_logits_bias`.
    ClipVisionMbart,
}

/// Everything needed to build a [`Captioner`]; serialised next to polyclip's own checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptionerConfig {
    pub encoder: ClipVisionConfig,
    pub decoder: MBartConfig,
    pub layout: CaptionerLayout,
}

/// A vision-encoder / mBART-decoder captioner.
#[derive(Module, Debug)]
pub struct Captioner<B: Backend> {
    /// CLIP's vision transformer.
    pub encoder: ClipVisionTransformer<B>,
    /// `enc_to_dec_proj` / `visual_projection` (with bias).
    pub projection: Option<Linear<B>>,
    /// The decoder's token table, tied to the LM head.
    pub embed_tokens: Embedding<B>,
    pub decoder: MBartDecoder<B>,
    /// `[1, vocab]` (CLIP-Vision-mBART50's layout only).
    pub final_logits_bias: Option<Param<Tensor<B, 2>>>,
}

impl CaptionerConfig {
    /// Checks both halves and their joint.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.encoder.validate()?;
        self.decoder.validate()
    }

    /// Whether vision states pass through a projection before the decoder.
    pub fn has_projection(&self) -> bool {
        match self.layout {
            CaptionerLayout::VisionEncoderDecoder => {
                self.encoder.hidden_size != self.decoder.d_model
            }
            CaptionerLayout::ClipVisionMbart => true,
        }
    }
}

impl BuildModel for CaptionerConfig {
    type Model<B: Backend> = Captioner<B>;

    fn build<B: Backend>(&self, init: &mut Initializer<B>) -> Result<Captioner<B>, ModelError> {
        self.validate()?;
        let d = self.decoder.d_model;
        let std = self.decoder.init_std;
        Ok(Captioner {
            encoder: ClipVisionTransformer::init(&self.encoder, init),
            projection: self
                .has_projection()
                .then(|| init.linear(self.encoder.hidden_size, d, true, std)),
            embed_tokens: init.embedding(self.decoder.vocab_size, d, std),
            decoder: MBartDecoder::init(&self.decoder, init),
            final_logits_bias: (self.layout == CaptionerLayout::ClipVisionMbart)
                .then(|| Param::from_tensor(init.constant([1, self.decoder.vocab_size], 0.0))),
        })
    }
}

impl<B: Backend> Captioner<B> {
    /// The decoder's view of `[batch, 3, H, W]` normalised pixels: every vision token, projected.
    pub fn encode(&self, pixels: Tensor<B, 4>) -> Memory<B> {
        let states = self.encoder.forward(pixels).last_hidden_state;
        let states = match &self.projection {
            Some(projection) => projection.forward(states),
            None => states,
        };
        Memory {
            states,
            blocked: None,
        }
    }

    /// Logits `[batch, new, vocab]` of the decoder positions `ids` that follow those in `cache`.
    pub fn decode(
        &self,
        ids: Tensor<B, 2, Int>,
        memory: &Memory<B>,
        cache: &mut DecoderCache<B>,
    ) -> Tensor<B, 3> {
        let states = self.decoder.forward(&self.embed_tokens, ids, memory, cache);
        tied_logits(states, &self.embed_tokens, self.final_logits_bias.as_ref())
    }

    /// A fresh decoder cache.
    pub fn new_cache(&self) -> DecoderCache<B> {
        DecoderCache::new(self.decoder.layers.len())
    }

    /// Teacher-forced logits `[batch, target, vocab]`.
    pub fn forward(
        &self,
        pixels: Tensor<B, 4>,
        decoder_input_ids: Tensor<B, 2, Int>,
    ) -> Tensor<B, 3> {
        let memory = self.encode(pixels);
        self.decode(decoder_input_ids, &memory, &mut self.new_cache())
    }
}
