//! Turning `[batch, seq, hidden]` token states into one `[batch, hidden]` vector per text, on the device.

use burn::tensor::{Int, Tensor, backend::Backend};
use serde::{Deserialize, Serialize};

/// How an encoder text tower pools its token states (open_clip's `pooler_type` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// Masked mean over non-padding tokens (open_clip `mean_pooler`, M-CLIP, Themo).
    #[serde(alias = "mean_pooler")]
    Mean,
    /// The first token's state (open_clip `cls_last_hidden_state_pooler`).
    #[serde(alias = "cls_last_hidden_state_pooler")]
    Cls,
    /// BERT's `pooler_output`: `tanh(pooler.dense(CLS))` (HF VisionTextDualEncoder, clip-italian, and open_clip's
    /// `cls_pooler`, which loads the encoder with its pooling layer and returns `pooler_output`).
    #[serde(alias = "pooler_output", alias = "cls_pooler")]
    Pooler,
}

/// Masked mean over the sequence; `attention_mask` is 1 at tokens and 0 at padding.
pub fn masked_mean<B: Backend>(
    states: Tensor<B, 3>,
    attention_mask: Tensor<B, 2, Int>,
) -> Tensor<B, 2> {
    let mask = attention_mask.float();
    // In the states' float type (a half-precision model's states are bf16/f16; the mask is made f32).
    let mask = if mask.dtype() == states.dtype() {
        mask
    } else {
        mask.cast(states.dtype())
    };
    let counts = mask.clone().sum_dim(1);
    let summed = (states * mask.unsqueeze_dim(2))
        .sum_dim(1)
        .squeeze_dim::<2>(1);
    summed / counts
}

/// The state of the first token of every sequence.
pub fn first_token<B: Backend>(states: Tensor<B, 3>) -> Tensor<B, 2> {
    let [batch, _, hidden] = states.dims();
    states
        .slice([0..batch, 0..1, 0..hidden])
        .reshape([batch, hidden])
}

/// For each row of `ids` `[batch, seq]`, the first position holding `token_id` (the last position if none does).
pub fn first_position_of<B: Backend>(ids: Tensor<B, 2, Int>, token_id: usize) -> Tensor<B, 1, Int> {
    let [batch, seq] = ids.dims();
    let device = ids.device();
    let positions = Tensor::<B, 1, Int>::arange(0..seq as i64, &device)
        .unsqueeze_dim::<2>(0)
        .expand([batch, seq]);
    let last = Tensor::<B, 2, Int>::full([batch, seq], seq as i64 - 1, &device);
    last.mask_where(ids.equal_elem(token_id as i64), positions)
        .min_dim(1)
        .reshape([batch])
}

/// Picks `states[b, positions[b], :]` for every row `b`.
pub fn gather_positions<B: Backend>(
    states: Tensor<B, 3>,
    positions: Tensor<B, 1, Int>,
) -> Tensor<B, 2> {
    let [batch, _, hidden] = states.dims();
    let index = positions.reshape([batch, 1, 1]).expand([batch, 1, hidden]);
    states.gather(1, index).reshape([batch, hidden])
}
