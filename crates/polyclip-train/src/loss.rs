//! The losses: CLIP's symmetric InfoNCE, and the masked token cross-entropy of sequence-to-sequence models.

use burn::tensor::{Int, Tensor, activation::log_softmax, backend::Backend};

use crate::precision::widen;

/// `(CE(s·I·Tᵀ, diag) + CE(s·T·Iᵀ, diag)) / 2` for L2-normalised image and text embeddings `[batch, embed]`
/// whose row `i` is a matching pair, and the multiplier `s` (`[1]`, e.g. `exp(logit_scale)`). Always in f32
/// or wider (half-precision embeddings are widened first, as autocast does).
pub fn contrastive_loss<B: Backend>(
    image_embeds: Tensor<B, 2>,
    text_embeds: Tensor<B, 2>,
    multiplier: Tensor<B, 1>,
) -> Tensor<B, 1> {
    let (image_embeds, text_embeds) = (widen(image_embeds), widen(text_embeds));
    let multiplier = widen(multiplier);
    let logits_per_image =
        image_embeds.matmul(text_embeds.transpose()) * multiplier.unsqueeze_dim(0);
    let logits_per_text = logits_per_image.clone().transpose();
    let image_loss = diagonal_cross_entropy(logits_per_image);
    let text_loss = diagonal_cross_entropy(logits_per_text);
    (image_loss + text_loss) / 2.0
}

/// Mean cross-entropy of `[n, n]` logits whose targets are the diagonal.
fn diagonal_cross_entropy<B: Backend>(logits: Tensor<B, 2>) -> Tensor<B, 1> {
    let n = logits.dims()[0];
    let targets = Tensor::<B, 1, Int>::arange(0..n as i64, &logits.device()).reshape([n, 1]);
    -log_softmax(logits, 1).gather(1, targets).mean()
}

/// Mean cross-entropy of `logits` `[batch, length, vocab]` against `labels` `[batch, length]` over the positions
/// where `mask` `[batch, length]` is 1, with label smoothing `ε` as PyTorch's `CrossEntropyLoss`:
/// `(1 − ε)·(−log p_label) + ε·mean_v(−log p_v)`.
pub fn sequence_cross_entropy<B: Backend>(
    logits: Tensor<B, 3>,
    labels: Tensor<B, 2, Int>,
    mask: Tensor<B, 2>,
    label_smoothing: f64,
) -> Tensor<B, 1> {
    let [batch, length, _] = logits.dims();
    let log_probs = log_softmax(logits, 2);
    let label_log_prob = log_probs
        .clone()
        .gather(2, labels.reshape([batch, length, 1]))
        .reshape([batch, length]);
    let per_token = if label_smoothing > 0.0 {
        let uniform = log_probs.mean_dim(2).reshape([batch, length]);
        label_log_prob * (label_smoothing - 1.0) - uniform * label_smoothing
    } else {
        -label_log_prob
    };
    let count = mask.clone().sum().clamp_min(1.0);
    (per_token * mask).sum() / count
}

/// `mean((predicted − target)²)` over every element (PyTorch's `MSELoss()`, reduction `mean`).
pub fn mean_squared_error<B: Backend>(
    predicted: Tensor<B, 2>,
    target: Tensor<B, 2>,
) -> Tensor<B, 1> {
    (predicted - target).powf_scalar(2.0).mean()
}
