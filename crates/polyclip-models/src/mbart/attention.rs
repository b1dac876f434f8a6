//! mBART's multi-head attention (`self_attn`, `encoder_attn`): q/k/v/out projections with bias, and the keys
//! and values an incremental decoder keeps between steps.

use burn::module::Module;
use burn::nn::{Dropout, Linear};
use burn::tensor::{Bool, Int, Tensor, backend::Backend};

use crate::attention::{merge_heads, scaled_dot_product, split_heads};

/// Keys and values `[batch, heads, length, head_dim]`.
#[derive(Debug, Clone)]
pub struct KeyValue<B: Backend> {
    pub key: Tensor<B, 4>,
    pub value: Tensor<B, 4>,
}

impl<B: Backend> KeyValue<B> {
    /// Appends `next` along the length axis.
    pub fn extended(self, next: KeyValue<B>) -> Self {
        Self {
            key: Tensor::cat(vec![self.key, next.key], 2),
            value: Tensor::cat(vec![self.value, next.value], 2),
        }
    }

    /// Keeps the rows `indices` of the batch axis (beam search reordering its hypotheses).
    pub fn select(self, indices: Tensor<B, 1, Int>) -> Self {
        Self {
            key: self.key.select(0, indices.clone()),
            value: self.value.select(0, indices),
        }
    }

    /// Positions held.
    pub fn len(&self) -> usize {
        self.key.dims()[2]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `q_proj`, `k_proj`, `v_proj`, `out_proj`.
#[derive(Module, Debug)]
pub struct MBartAttention<B: Backend> {
    pub q_proj: Linear<B>,
    pub k_proj: Linear<B>,
    pub v_proj: Linear<B>,
    pub out_proj: Linear<B>,
    pub num_heads: usize,
    /// On the attention probabilities (`attention_dropout`).
    pub dropout: Dropout,
}

impl<B: Backend> MBartAttention<B> {
    /// The keys and values of `source` `[batch, length, d_model]`.
    pub fn key_value(&self, source: Tensor<B, 3>) -> KeyValue<B> {
        KeyValue {
            key: split_heads(self.k_proj.forward(source.clone()), self.num_heads),
            value: split_heads(self.v_proj.forward(source), self.num_heads),
        }
    }

    /// Attention of the queries of `x` `[batch, queries, d_model]` over `memory`; `blocked` (broadcast to
    /// `[batch, heads, queries, keys]`) marks what a query may not see.
    pub fn attend(
        &self,
        x: Tensor<B, 3>,
        memory: &KeyValue<B>,
        blocked: Option<Tensor<B, 4, Bool>>,
    ) -> Tensor<B, 3> {
        let q = split_heads(self.q_proj.forward(x), self.num_heads);
        let context = scaled_dot_product(
            q,
            memory.key.clone(),
            memory.value.clone(),
            blocked,
            Some(&self.dropout),
        );
        self.out_proj.forward(merge_heads(context))
    }
}
