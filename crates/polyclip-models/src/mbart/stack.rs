//! mBART's encoder and decoder stacks (`model.encoder.*`, `model.decoder.*`): scaled token embeddings plus
//! learned positions (offset 2), `layernorm_embedding`, the layers, and a final `layer_norm`. The token table
//! is passed in: mBART ties it across encoder, decoder and the LM head (`model.shared`).

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, LayerNorm};
use burn::tensor::{Bool, Int, Tensor, backend::Backend};

use super::config::{LAYER_NORM_EPS, MBartConfig, POSITION_OFFSET};
use super::layers::{LayerCache, MBartDecoderLayer, MBartEncoderLayer};
use crate::attention::{causal_block_after, padding_block};
use crate::init::Initializer;
use crate::layer_norm::layer_norm;

/// `embed_scale · embed_tokens(ids) + embed_positions(first.. + 2)`, then `layernorm_embedding` and dropout.
fn embed<B: Backend>(
    embed_tokens: &Embedding<B>,
    embed_positions: &Embedding<B>,
    layernorm_embedding: &LayerNorm<B>,
    dropout: &Dropout,
    embed_scale: f64,
    ids: Tensor<B, 2, Int>,
    first_position: usize,
) -> Tensor<B, 3> {
    let [_, length] = ids.dims();
    let table = embed_positions.weight.val();
    let width = table.dims()[1];
    let start = first_position + POSITION_OFFSET;
    let positions = table
        .slice([start..start + length, 0..width])
        .unsqueeze_dim(0);
    let tokens = embed_tokens.forward(ids) * embed_scale;
    dropout.forward(layer_norm(layernorm_embedding, tokens + positions))
}

/// `model.encoder`.
#[derive(Module, Debug)]
pub struct MBartEncoder<B: Backend> {
    pub embed_positions: Embedding<B>,
    pub layernorm_embedding: LayerNorm<B>,
    pub layers: Vec<MBartEncoderLayer<B>>,
    pub layer_norm: LayerNorm<B>,
    pub embed_scale: f64,
    pub dropout: Dropout,
}

impl<B: Backend> MBartEncoder<B> {
    pub fn init(config: &MBartConfig, init: &mut Initializer<B>) -> Self {
        let d = config.d_model;
        Self {
            embed_positions: init.embedding(
                config.max_position_embeddings + POSITION_OFFSET,
                d,
                config.init_std,
            ),
            layernorm_embedding: init.layer_norm(d, LAYER_NORM_EPS),
            layers: (0..config.encoder_layers)
                .map(|_| MBartEncoderLayer::init(config, init))
                .collect(),
            layer_norm: init.layer_norm(d, LAYER_NORM_EPS),
            embed_scale: config.embed_scale(),
            dropout: DropoutConfig::new(config.dropout).init(),
        }
    }

    /// `ids`, `attention_mask`: `[batch, length]` (mask 1 at tokens) → `[batch, length, d_model]`.
    pub fn forward(
        &self,
        embed_tokens: &Embedding<B>,
        ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
    ) -> Tensor<B, 3> {
        let blocked = padding_block(attention_mask);
        let mut x = embed(
            embed_tokens,
            &self.embed_positions,
            &self.layernorm_embedding,
            &self.dropout,
            self.embed_scale,
            ids,
            0,
        );
        for layer in &self.layers {
            x = layer.forward(x, Some(blocked.clone()));
        }
        layer_norm(&self.layer_norm, x)
    }
}

/// What the decoder keeps between generation steps: per layer, the keys and values of every position decoded
/// so far and of the encoder's states.
#[derive(Debug, Clone)]
pub struct DecoderCache<B: Backend> {
    pub layers: Vec<LayerCache<B>>,
    /// Positions decoded so far.
    pub length: usize,
}

impl<B: Backend> DecoderCache<B> {
    /// An empty cache for a decoder of `layers` layers.
    pub fn new(layers: usize) -> Self {
        Self {
            layers: (0..layers).map(|_| LayerCache::default()).collect(),
            length: 0,
        }
    }

    /// Keeps the rows `indices` of the batch (beam search reordering its hypotheses).
    pub fn select(self, indices: Tensor<B, 1, Int>) -> Self {
        let select =
            |kv: Option<super::attention::KeyValue<B>>| kv.map(|kv| kv.select(indices.clone()));
        Self {
            layers: self
                .layers
                .into_iter()
                .map(|layer| LayerCache {
                    self_attention: select(layer.self_attention),
                    cross_attention: select(layer.cross_attention),
                })
                .collect(),
            length: self.length,
        }
    }
}

/// The encoder's states as the decoder's cross-attention sees them.
#[derive(Debug, Clone)]
pub struct Memory<B: Backend> {
    /// `[batch, source, d_model]`.
    pub states: Tensor<B, 3>,
    /// `true` at padding positions of the source, `[batch, 1, 1, source]` (`None`: no padding, e.g. image
    /// tokens).
    pub blocked: Option<Tensor<B, 4, Bool>>,
}

impl<B: Backend> Memory<B> {
    /// Keeps the rows `indices` of the batch (each source repeated for its beams).
    pub fn select(&self, indices: Tensor<B, 1, Int>) -> Self {
        Self {
            states: self.states.clone().select(0, indices.clone()),
            blocked: self
                .blocked
                .clone()
                .map(|blocked| blocked.select(0, indices)),
        }
    }
}

/// `model.decoder` (or `decoder.model.decoder` of a VisionEncoderDecoder).
#[derive(Module, Debug)]
pub struct MBartDecoder<B: Backend> {
    pub embed_positions: Embedding<B>,
    pub layernorm_embedding: LayerNorm<B>,
    pub layers: Vec<MBartDecoderLayer<B>>,
    pub layer_norm: LayerNorm<B>,
    pub embed_scale: f64,
    pub dropout: Dropout,
}

impl<B: Backend> MBartDecoder<B> {
    pub fn init(config: &MBartConfig, init: &mut Initializer<B>) -> Self {
        let d = config.d_model;
        Self {
            embed_positions: init.embedding(
                config.max_position_embeddings + POSITION_OFFSET,
                d,
                config.init_std,
            ),
            layernorm_embedding: init.layer_norm(d, LAYER_NORM_EPS),
            layers: (0..config.decoder_layers)
                .map(|_| MBartDecoderLayer::init(config, init))
                .collect(),
            layer_norm: init.layer_norm(d, LAYER_NORM_EPS),
            embed_scale: config.embed_scale(),
            dropout: DropoutConfig::new(config.dropout).init(),
        }
    }

    /// The most positions the learned position table covers.
    pub fn max_positions(&self) -> usize {
        self.embed_positions.weight.dims()[0] - POSITION_OFFSET
    }

    /// `ids` `[batch, new]` are the positions after those in `cache` (all of them when the cache is fresh);
    /// returns their states `[batch, new, d_model]` after the final `layer_norm` and extends the cache.
    pub fn forward(
        &self,
        embed_tokens: &Embedding<B>,
        ids: Tensor<B, 2, Int>,
        memory: &Memory<B>,
        cache: &mut DecoderCache<B>,
    ) -> Tensor<B, 3> {
        let [_, new] = ids.dims();
        let past = cache.length;
        let device = ids.device();
        let mut x = embed(
            embed_tokens,
            &self.embed_positions,
            &self.layernorm_embedding,
            &self.dropout,
            self.embed_scale,
            ids,
            past,
        );
        // One new position may see every cached one: no mask needed.
        let causal = (new > 1).then(|| causal_block_after::<B>(past, new, &device));
        for (layer, layer_cache) in self.layers.iter().zip(cache.layers.iter_mut()) {
            x = layer.forward(
                x,
                &memory.states,
                causal.clone(),
                memory.blocked.clone(),
                layer_cache,
            );
        }
        cache.length = past + new;
        layer_norm(&self.layer_norm, x)
    }
}
