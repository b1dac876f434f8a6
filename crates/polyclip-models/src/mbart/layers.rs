//! mBART's pre-LN blocks: `encoder.layers.{i}` (self-attention, feed-forward) and `decoder.layers.{i}`
//! (causal self-attention, cross-attention over the encoder's states, feed-forward).

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, Linear};
use burn::tensor::{Bool, Tensor, backend::Backend};

use super::attention::{KeyValue, MBartAttention};
use super::config::{LAYER_NORM_EPS, MBartConfig};
use crate::activation::Activation;
use crate::init::Initializer;
use crate::layer_norm::layer_norm;

/// What one decoder layer keeps between generation steps.
#[derive(Debug, Clone)]
pub struct LayerCache<B: Backend> {
    /// Keys and values of every position decoded so far.
    pub self_attention: Option<KeyValue<B>>,
    /// Keys and values of the encoder's states (computed at the first step).
    pub cross_attention: Option<KeyValue<B>>,
}

impl<B: Backend> Default for LayerCache<B> {
    fn default() -> Self {
        Self {
            self_attention: None,
            cross_attention: None,
        }
    }
}

/// `x + dropout(fc2(dropout(act(fc1(final_layer_norm(x))))))`.
fn feed_forward<B: Backend>(
    x: Tensor<B, 3>,
    norm: &LayerNorm<B>,
    fc1: &Linear<B>,
    fc2: &Linear<B>,
    activation: Activation,
    activation_dropout: &Dropout,
    dropout: &Dropout,
) -> Tensor<B, 3> {
    let hidden =
        activation_dropout.forward(activation.forward(fc1.forward(layer_norm(norm, x.clone()))));
    x + dropout.forward(fc2.forward(hidden))
}

fn attention<B: Backend>(
    config: &MBartConfig,
    heads: usize,
    init: &mut Initializer<B>,
) -> MBartAttention<B> {
    let d = config.d_model;
    let std = config.init_std;
    MBartAttention {
        q_proj: init.linear(d, d, true, std),
        k_proj: init.linear(d, d, true, std),
        v_proj: init.linear(d, d, true, std),
        out_proj: init.linear(d, d, true, std),
        num_heads: heads,
        dropout: DropoutConfig::new(config.attention_dropout).init(),
    }
}

/// `encoder.layers.{i}`.
#[derive(Module, Debug)]
pub struct MBartEncoderLayer<B: Backend> {
    pub self_attn: MBartAttention<B>,
    pub self_attn_layer_norm: LayerNorm<B>,
    pub fc1: Linear<B>,
    pub fc2: Linear<B>,
    pub final_layer_norm: LayerNorm<B>,
    #[module(skip)]
    pub activation: Activation,
    pub dropout: Dropout,
    pub activation_dropout: Dropout,
}

impl<B: Backend> MBartEncoderLayer<B> {
    pub fn init(config: &MBartConfig, init: &mut Initializer<B>) -> Self {
        let d = config.d_model;
        Self {
            self_attn: attention(config, config.encoder_attention_heads, init),
            self_attn_layer_norm: init.layer_norm(d, LAYER_NORM_EPS),
            fc1: init.linear(d, config.encoder_ffn_dim, true, config.init_std),
            fc2: init.linear(config.encoder_ffn_dim, d, true, config.init_std),
            final_layer_norm: init.layer_norm(d, LAYER_NORM_EPS),
            activation: config.activation_function,
            dropout: DropoutConfig::new(config.dropout).init(),
            activation_dropout: DropoutConfig::new(config.activation_dropout).init(),
        }
    }

    /// `blocked`: padding keys, `[batch, 1, 1, length]`.
    pub fn forward(&self, x: Tensor<B, 3>, blocked: Option<Tensor<B, 4, Bool>>) -> Tensor<B, 3> {
        let normed = layer_norm(&self.self_attn_layer_norm, x.clone());
        let own = self.self_attn.key_value(normed.clone());
        let x = x + self
            .dropout
            .forward(self.self_attn.attend(normed, &own, blocked));
        feed_forward(
            x,
            &self.final_layer_norm,
            &self.fc1,
            &self.fc2,
            self.activation,
            &self.activation_dropout,
            &self.dropout,
        )
    }
}

/// `decoder.layers.{i}`.
#[derive(Module, Debug)]
pub struct MBartDecoderLayer<B: Backend> {
    pub self_attn: MBartAttention<B>,
    pub self_attn_layer_norm: LayerNorm<B>,
    pub encoder_attn: MBartAttention<B>,
    pub encoder_attn_layer_norm: LayerNorm<B>,
    pub fc1: Linear<B>,
    pub fc2: Linear<B>,
    pub final_layer_norm: LayerNorm<B>,
    #[module(skip)]
    pub activation: Activation,
    pub dropout: Dropout,
    pub activation_dropout: Dropout,
}

impl<B: Backend> MBartDecoderLayer<B> {
    pub fn init(config: &MBartConfig, init: &mut Initializer<B>) -> Self {
        let d = config.d_model;
        Self {
            self_attn: attention(config, config.decoder_attention_heads, init),
            self_attn_layer_norm: init.layer_norm(d, LAYER_NORM_EPS),
            encoder_attn: attention(config, config.decoder_attention_heads, init),
            encoder_attn_layer_norm: init.layer_norm(d, LAYER_NORM_EPS),
            fc1: init.linear(d, config.decoder_ffn_dim, true, config.init_std),
            fc2: init.linear(config.decoder_ffn_dim, d, true, config.init_std),
            final_layer_norm: init.layer_norm(d, LAYER_NORM_EPS),
            activation: config.activation_function,
            dropout: DropoutConfig::new(config.dropout).init(),
            activation_dropout: DropoutConfig::new(config.activation_dropout).init(),
        }
    }

    /// `x`: the new positions `[batch, new, d]`; `memory`: the encoder's states `[batch, source, d]`, whose
    /// keys and values `cache` computes once; `causal` blocks future positions (including the cached past);
    /// `memory_blocked` blocks padding of the source.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        memory: &Tensor<B, 3>,
        causal: Option<Tensor<B, 4, Bool>>,
        memory_blocked: Option<Tensor<B, 4, Bool>>,
        cache: &mut LayerCache<B>,
    ) -> Tensor<B, 3> {
        let normed = layer_norm(&self.self_attn_layer_norm, x.clone());
        let new = self.self_attn.key_value(normed.clone());
        let own = match cache.self_attention.take() {
            Some(past) => past.extended(new),
            None => new,
        };
        let attended = self.self_attn.attend(normed, &own, causal);
        cache.self_attention = Some(own);
        let x = x + self.dropout.forward(attended);

        let normed = layer_norm(&self.encoder_attn_layer_norm, x.clone());
        let source = match cache.cross_attention.take() {
            Some(source) => source,
            None => self.encoder_attn.key_value(memory.clone()),
        };
        let attended = self.encoder_attn.attend(normed, &source, memory_blocked);
        cache.cross_attention = Some(source);
        let x = x + self.dropout.forward(attended);

        feed_forward(
            x,
            &self.final_layer_norm,
            &self.fc1,
            &self.fc2,
            self.activation,
            &self.activation_dropout,
            &self.dropout,
        )
    }
}
