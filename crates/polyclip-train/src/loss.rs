//! The symmetric InfoNCE loss of CLIP.

use burn::tensor::{Int, Tensor, activation::log_softmax, backend::Backend};

/// `(CE(s·I·Tᵀ, diag) + CE(s·T·Iᵀ, diag)) / 2` for L2-normalised image and text embeddings `[batch, embed]`
/// whose row `i` is a matching pair, and the multiplier `s` (`[1]`, e.g. `exp(logit_scale)`).
pub fn contrastive_loss<B: Backend>(
    image_embeds: Tensor<B, 2>,
    text_embeds: Tensor<B, 2>,
    multiplier: Tensor<B, 1>,
) -> Tensor<B, 1> {
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
