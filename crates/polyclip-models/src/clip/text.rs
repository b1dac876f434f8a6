//! The CLIP text transformer (`text_model.*`): causal pre-LN blocks pooled at the end-of-text token.

use burn::module::Module;
use burn::nn::{Embedding, LayerNorm};
use burn::tensor::{Int, Tensor, backend::Backend};

use super::config::{ClipTextConfig, TextPooling};
use super::encoder::{ClipEncoder, EncoderShape};
use crate::attention::causal_block;
use crate::init::Initializer;
use crate::layer_norm::layer_norm;
use crate::pooling::{first_position_of, gather_positions};

/// `text_model.embeddings`: `token_embedding`, `position_embedding`.
#[derive(Module, Debug)]
pub struct ClipTextEmbeddings<B: Backend> {
    pub token_embedding: Embedding<B>,
    pub position_embedding: Embedding<B>,
}

/// `text_model`: embeddings → causal encoder → `final_layer_norm`.
#[derive(Module, Debug)]
pub struct ClipTextTransformer<B: Backend> {
    pub embeddings: ClipTextEmbeddings<B>,
    pub encoder: ClipEncoder<B>,
    pub final_layer_norm: LayerNorm<B>,
    pub eos_token_id: usize,
    /// [`TextPooling::LargestId`] (else the first `eos_token_id`).
    pub pool_at_largest_id: bool,
}

/// What the text transformer returns.
pub struct ClipTextOutput<B: Backend> {
    /// `[batch, seq, hidden]` after `final_layer_norm`.
    pub last_hidden_state: Tensor<B, 3>,
    /// `[batch, hidden]`: the state at the end-of-text token.
    pub pooler_output: Tensor<B, 2>,
}

impl<B: Backend> ClipTextTransformer<B> {
    /// Builds a randomly initialised tower from a validated config.
    pub fn init(config: &ClipTextConfig, init: &mut Initializer<B>) -> Self {
        let d = config.hidden_size;
        let shape = EncoderShape {
            hidden_size: d,
            intermediate_size: config.intermediate_size,
            num_hidden_layers: config.num_hidden_layers,
            num_attention_heads: config.num_attention_heads,
            hidden_act: config.hidden_act,
            layer_norm_eps: config.layer_norm_eps,
            initializer_range: config.initializer_range,
        };
        Self {
            embeddings: ClipTextEmbeddings {
                token_embedding: init.embedding(config.vocab_size, d, 0.02),
                position_embedding: init.embedding(config.max_position_embeddings, d, 0.01),
            },
            encoder: ClipEncoder::init(&shape, init),
            final_layer_norm: init.layer_norm(d, config.layer_norm_eps),
            eos_token_id: config.eos_token_id,
            pool_at_largest_id: config.text_pooling() == TextPooling::LargestId,
        }
    }

    /// `input_ids`: `[batch, seq]`. Padding needs no mask: the causal mask keeps the end-of-text state blind to it.
    pub fn forward(&self, input_ids: Tensor<B, 2, Int>) -> ClipTextOutput<B> {
        let [_, seq] = input_ids.dims();
        let device = input_ids.device();
        let positions = self.embeddings.position_embedding.weight.val();
        let hidden = positions.dims()[1];
        let tokens = self.embeddings.token_embedding.forward(input_ids.clone())
            + positions.slice([0..seq, 0..hidden]).unsqueeze_dim(0);
        let states = self
            .encoder
            .forward(tokens, Some(causal_block::<B>(seq, &device)));
        let last_hidden_state = layer_norm(&self.final_layer_norm, states);
        let eos_positions = if self.pool_at_largest_id {
            input_ids.argmax(1).reshape([-1])
        } else {
            first_position_of(input_ids, self.eos_token_id)
        };
        let pooler_output = gather_positions(last_hidden_state.clone(), eos_positions);
        ClipTextOutput {
            last_hidden_state,
            pooler_output,
        }
    }
}
