//! `MBartForConditionalGeneration`: `model.{shared, encoder, decoder}` and `final_logits_bias`; the LM head is
//! the shared token table (tied, never stored in checkpoints).

use burn::module::{Module, Param};
use burn::nn::Embedding;
use burn::tensor::{Int, Tensor, backend::Backend};

use super::config::MBartConfig;
use super::stack::{DecoderCache, MBartDecoder, MBartEncoder, Memory};
use crate::attention::padding_block;
use crate::error::ModelError;
use crate::init::{BuildModel, Initializer};

/// `model`.
#[derive(Module, Debug)]
pub struct MBartModel<B: Backend> {
    pub shared: Embedding<B>,
    pub encoder: MBartEncoder<B>,
    pub decoder: MBartDecoder<B>,
}

/// mBART with its language-modelling head (translation: mBART-50 many-to-many).
#[derive(Module, Debug)]
pub struct MBartForConditionalGeneration<B: Backend> {
    pub model: MBartModel<B>,
    /// `[1, vocab]`, added to the logits.
    pub final_logits_bias: Param<Tensor<B, 2>>,
}

impl MBartConfig {}

impl BuildModel for MBartConfig {
    type Model<B: Backend> = MBartForConditionalGeneration<B>;

    fn build<B: Backend>(
        &self,
        init: &mut Initializer<B>,
    ) -> Result<MBartForConditionalGeneration<B>, ModelError> {
        self.validate()?;
        Ok(MBartForConditionalGeneration {
            model: MBartModel {
                shared: init.embedding(self.vocab_size, self.d_model, self.init_std),
                encoder: MBartEncoder::init(self, init),
                decoder: MBartDecoder::init(self, init),
            },
            final_logits_bias: Param::from_tensor(init.constant([1, self.vocab_size], 0.0)),
        })
    }
}

/// `states @ table.T (+ bias)`: the tied LM head, `[batch, length, vocab]`.
///
/// Computed as `(table @ states.T).T`: the table `[vocab, d_model]` is used in its stored layout (for
/// mBART-50, 250 054 × 1024); transposing it instead made CPU backends copy all of it at every decoding step.
pub fn tied_logits<B: Backend>(
    states: Tensor<B, 3>,
    table: &Embedding<B>,
    bias: Option<&Param<Tensor<B, 2>>>,
) -> Tensor<B, 3> {
    let [batch, length, width] = states.dims();
    let vocab = table.weight.dims()[0];
    let logits = table
        .weight
        .val()
        .matmul(states.reshape([batch * length, width]).transpose())
        .transpose()
        .reshape([batch, length, vocab]);
    match bias {
        Some(bias) => logits + bias.val().unsqueeze_dim(0),
        None => logits,
    }
}

impl<B: Backend> MBartForConditionalGeneration<B> {
    /// The encoder's states for source `ids` and `attention_mask` `[batch, length]`.
    pub fn encode(&self, ids: Tensor<B, 2, Int>, attention_mask: Tensor<B, 2, Int>) -> Memory<B> {
        let states = self
            .model
            .encoder
            .forward(&self.model.shared, ids, attention_mask.clone());
        Memory {
            states,
            blocked: Some(padding_block(attention_mask)),
        }
    }

    /// Logits `[batch, new, vocab]` of the decoder positions `ids` that follow those in `cache`.
    pub fn decode(
        &self,
        ids: Tensor<B, 2, Int>,
        memory: &Memory<B>,
        cache: &mut DecoderCache<B>,
    ) -> Tensor<B, 3> {
        let states = self
            .model
            .decoder
            .forward(&self.model.shared, ids, memory, cache);
        tied_logits(states, &self.model.shared, Some(&self.final_logits_bias))
    }

    /// A fresh decoder cache.
    pub fn new_cache(&self) -> DecoderCache<B> {
        DecoderCache::new(self.model.decoder.layers.len())
    }

    /// Teacher-forced logits `[batch, target, vocab]` (HF's `forward` with `decoder_input_ids`).
    pub fn forward(
        &self,
        ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
        decoder_input_ids: Tensor<B, 2, Int>,
    ) -> Tensor<B, 3> {
        let memory = self.encode(ids, attention_mask);
        self.decode(decoder_input_ids, &memory, &mut self.new_cache())
    }
}
