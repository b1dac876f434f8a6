//! `BertModel` (and XLM-R, which shares it): embeddings → post-LN encoder → optional tanh pooler.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, LayerNorm, Linear};
use burn::tensor::{Bool, Int, Tensor, activation::tanh, backend::Backend};

use super::config::BertConfig;
use crate::activation::Activation;
use crate::attention::{merge_heads, padding_block, scaled_dot_product, split_heads};
use crate::init::Initializer;
use crate::layer_norm::layer_norm;
use crate::lora::{LoraLayers, LoraLinear};
use crate::pooling::first_token;

/// `embeddings`: word + position + token type, then `LayerNorm` and dropout.
#[derive(Module, Debug)]
pub struct BertEmbeddings<B: Backend> {
    pub word_embeddings: Embedding<B>,
    pub position_embeddings: Embedding<B>,
    pub token_type_embeddings: Embedding<B>,
    /// HF key `LayerNorm`.
    pub layer_norm: LayerNorm<B>,
    pub dropout: Dropout,
    /// `Some(pad_token_id)` for RoBERTa-style position ids.
    pub position_padding_idx: Option<usize>,
}

impl<B: Backend> BertEmbeddings<B> {
    /// Position ids: `0..seq` for BERT; `cumsum(mask)·mask + pad` for RoBERTa/XLM-R (padding keeps `pad`).
    fn position_ids(&self, attention_mask: Tensor<B, 2, Int>) -> Tensor<B, 2, Int> {
        let [batch, seq] = attention_mask.dims();
        match self.position_padding_idx {
            Some(pad) => {
                let counted = attention_mask.clone().cumsum(1) * attention_mask;
                counted + pad as i64
            }
            None => Tensor::<B, 1, Int>::arange(0..seq as i64, &attention_mask.device())
                .unsqueeze_dim::<2>(0)
                .expand([batch, seq]),
        }
    }

    pub fn forward(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
    ) -> Tensor<B, 3> {
        let token_types = input_ids.zeros_like();
        let positions = self.position_ids(attention_mask);
        let x = self.word_embeddings.forward(input_ids)
            + self.position_embeddings.forward(positions)
            + self.token_type_embeddings.forward(token_types);
        self.dropout.forward(layer_norm(&self.layer_norm, x))
    }
}

/// `attention.self`: `query`, `key`, `value`.
#[derive(Module, Debug)]
pub struct BertSelfAttention<B: Backend> {
    pub query: LoraLinear<B>,
    pub key: LoraLinear<B>,
    pub value: LoraLinear<B>,
    pub num_heads: usize,
}

/// `attention.output` / `output`: `dense`, dropout, residual, `LayerNorm`.
#[derive(Module, Debug)]
pub struct BertResidualOutput<B: Backend> {
    pub dense: LoraLinear<B>,
    /// HF key `LayerNorm`.
    pub layer_norm: LayerNorm<B>,
    pub dropout: Dropout,
}

impl<B: Backend> BertResidualOutput<B> {
    fn forward(&self, x: Tensor<B, 3>, residual: Tensor<B, 3>) -> Tensor<B, 3> {
        self.layer_norm
            .forward(self.dropout.forward(self.dense.forward(x)) + residual)
    }
}

/// `attention`: `self` and `output`.
#[derive(Module, Debug)]
pub struct BertAttention<B: Backend> {
    /// HF key `self`.
    pub self_attention: BertSelfAttention<B>,
    pub output: BertResidualOutput<B>,
}

/// `intermediate`: `dense` and the activation.
#[derive(Module, Debug)]
pub struct BertIntermediate<B: Backend> {
    pub dense: LoraLinear<B>,
    #[module(skip)]
    pub activation: Activation,
}

/// `encoder.layer.{i}`: post-LN attention block and feed-forward block.
#[derive(Module, Debug)]
pub struct BertLayer<B: Backend> {
    pub attention: BertAttention<B>,
    pub intermediate: BertIntermediate<B>,
    pub output: BertResidualOutput<B>,
    pub attention_dropout: Dropout,
}

impl<B: Backend> BertLayer<B> {
    pub fn forward(&self, x: Tensor<B, 3>, blocked: Tensor<B, 4, Bool>) -> Tensor<B, 3> {
        let attn = &self.attention.self_attention;
        let q = split_heads(attn.query.forward(x.clone()), attn.num_heads);
        let k = split_heads(attn.key.forward(x.clone()), attn.num_heads);
        let v = split_heads(attn.value.forward(x.clone()), attn.num_heads);
        let context = merge_heads(scaled_dot_product(
            q,
            k,
            v,
            Some(blocked),
            Some(&self.attention_dropout),
        ));
        let x = self.attention.output.forward(context, x);
        let hidden = self
            .intermediate
            .activation
            .forward(self.intermediate.dense.forward(x.clone()));
        self.output.forward(hidden, x)
    }
}

/// `encoder`.
#[derive(Module, Debug)]
pub struct BertEncoder<B: Backend> {
    pub layer: Vec<BertLayer<B>>,
}

/// `pooler`: `tanh(dense(CLS))`.
#[derive(Module, Debug)]
pub struct BertPooler<B: Backend> {
    pub dense: Linear<B>,
}

/// A BERT-family encoder; `pooler` is absent when loaded with `add_pooling_layer=False` (open_clip, Themo).
#[derive(Module, Debug)]
pub struct BertModel<B: Backend> {
    pub embeddings: BertEmbeddings<B>,
    pub encoder: BertEncoder<B>,
    pub pooler: Option<BertPooler<B>>,
}

/// What the encoder returns.
pub struct BertOutput<B: Backend> {
    pub last_hidden_state: Tensor<B, 3>,
    /// `tanh(pooler.dense(CLS))` when the model has a pooler.
    pub pooler_output: Option<Tensor<B, 2>>,
}

impl<B: Backend> BertModel<B> {
    /// Builds a randomly initialised encoder from a validated config.
    pub fn init(config: &BertConfig, with_pooler: bool, init: &mut Initializer<B>) -> Self {
        let d = config.hidden_size;
        let std = config.initializer_range;
        let eps = config.layer_norm_eps;
        let hidden_dropout = DropoutConfig::new(config.hidden_dropout_prob).init();
        let residual = |init: &mut Initializer<B>, d_in: usize| BertResidualOutput {
            dense: init.linear(d_in, d, true, std).into(),
            layer_norm: init.layer_norm(d, eps),
            dropout: hidden_dropout.clone(),
        };
        let embeddings = BertEmbeddings {
            word_embeddings: init.embedding(config.vocab_size, d, std),
            position_embeddings: init.embedding(config.max_position_embeddings, d, std),
            token_type_embeddings: init.embedding(config.type_vocab_size, d, std),
            layer_norm: init.layer_norm(d, eps),
            dropout: hidden_dropout.clone(),
            position_padding_idx: config
                .offsets_positions_by_padding()
                .then_some(config.pad_token()),
        };
        let layer = (0..config.num_hidden_layers)
            .map(|_| BertLayer {
                attention: BertAttention {
                    self_attention: BertSelfAttention {
                        query: init.linear(d, d, true, std).into(),
                        key: init.linear(d, d, true, std).into(),
                        value: init.linear(d, d, true, std).into(),
                        num_heads: config.num_attention_heads,
                    },
                    output: residual(init, d),
                },
                intermediate: BertIntermediate {
                    dense: init.linear(d, config.intermediate_size, true, std).into(),
                    activation: config.hidden_act,
                },
                output: residual(init, config.intermediate_size),
                attention_dropout: DropoutConfig::new(config.attention_probs_dropout_prob).init(),
            })
            .collect();
        Self {
            embeddings,
            encoder: BertEncoder { layer },
            pooler: with_pooler.then(|| BertPooler {
                dense: init.linear(d, d, true, std),
            }),
        }
    }

    /// `input_ids`, `attention_mask`: `[batch, seq]` (mask 1 at tokens, 0 at padding).
    pub fn forward(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
    ) -> BertOutput<B> {
        let blocked = padding_block(attention_mask.clone());
        let mut x = self.embeddings.forward(input_ids, attention_mask);
        for layer in &self.encoder.layer {
            x = layer.forward(x, blocked.clone());
        }
        let pooler_output = self
            .pooler
            .as_ref()
            .map(|pooler| tanh(pooler.dense.forward(first_token(x.clone()))));
        BertOutput {
            last_hidden_state: x,
            pooler_output,
        }
    }
}

impl<B: Backend> LoraLayers<B> for BertModel<B> {
    /// The attention (`query`, `key`, `value`, `attention.output.dense`) and feed-forward
    /// (`intermediate.dense`, `output.dense`) layers of every block, by HF key path; never the embeddings or
    /// the pooler.
    fn lora_layers(&mut self) -> Vec<(String, &mut LoraLinear<B>)> {
        let mut layers = Vec::new();
        for (index, layer) in self.encoder.layer.iter_mut().enumerate() {
            let at = |name: &str| format!("encoder.layer.{index}.{name}");
            let attention = &mut layer.attention;
            layers.push((
                at("attention.self.query"),
                &mut attention.self_attention.query,
            ));
            layers.push((at("attention.self.key"), &mut attention.self_attention.key));
            layers.push((
                at("attention.self.value"),
                &mut attention.self_attention.value,
            ));
            layers.push((at("attention.output.dense"), &mut attention.output.dense));
            layers.push((at("intermediate.dense"), &mut layer.intermediate.dense));
            layers.push((at("output.dense"), &mut layer.output.dense));
        }
        layers
    }
}
