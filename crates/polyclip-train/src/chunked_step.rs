//! The chunked contrastive step (gradient caching; Gao et al., 2021, "Scaling Deep Contrastive Learning Batch
//! Size under Memory Limited Setup"): the exact gradient of the whole batch's InfoNCE loss in activation memory
//! that follows the micro-batch, not the batch.
//!
//! 1. Every chunk of `micro_batch` rows is embedded without recording a graph, keeping only the embeddings.
//! 2. The loss of the whole batch is taken on those embeddings, made leaves of a small graph: one backward pass
//!    gives `∂L/∂image`, `∂L/∂text` (`[batch, embed]`) and the logit scale's gradient.
//! 3. Every chunk of a tower that trains is embedded again, now keeping its graph, and back-propagates
//!    `Σ embeddings ⊙ ∂L/∂embeddings` of its rows; the parameter gradients of the chunks add up to the whole
//!    batch's, since `∂L/∂θ = Σ_chunks (∂L/∂e_chunk)ᵀ·∂e_chunk/∂θ`. A frozen tower is embedded once (step 1) only.
//!
//! Randomness inside the towers (dropout) must be the same in both embeddings of a chunk, or step 3 would
//! differentiate another function than the one step 2 scored: the backend's generator is reseeded before each
//! tower's pass over each chunk, from a seed drawn once per step from that generator. The generator is the
//! process's (burn's backends keep one), so each reseeded pass takes a process-wide turn: data-parallel peers
//! (threads) cannot draw each other's masks. Which peer draws its step's seed first is not fixed, so with dropout a
//! data-parallel run is not bit-reproducible (without dropout it is).

use std::ops::Range;
use std::sync::Mutex;

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, ElementConversion, Tensor};
use polyclip_data::{ClipBatch, mix_seed};
use polyclip_models::ClipModel;

use crate::error::TrainError;
use crate::loss::contrastive_loss;
use crate::loss_scale::scaled_loss;
use crate::train_config::FreezeConfig;
use crate::trainable::{StepContext, StepGradients};

/// Which tower a pass embeds with (a part of the chunk's seed).
#[derive(Clone, Copy)]
enum Tower {
    Vision = 0,
    Text = 1,
}

/// A process-wide turn for a seeded pass: reseeding the generator and drawing a pass's dropout masks must not
/// interleave with another peer's (data-parallel peers are threads of one process and share the generator).
static SEEDED_PASS: Mutex<()> = Mutex::new(());

/// The loss of `batch` and the gradients of every parameter that trains, `micro_batch` rows at a time (all of
/// them at once when `None`); what [`whole_batch_gradients`](crate::trainable::whole_batch_gradients) gives, up to
/// the order of float sums. The gradients are those of the loss times `step.loss_scale` (f16's loss scaling: the
/// embeddings' gradients are scaled before they travel back through the towers).
///
/// With `step.peer` (data-parallel training, [`crate::data_parallel`]), `batch` is the whole batch: this peer embeds
/// its rows of it, the embeddings of all rows are gathered from the peers, the loss is the whole batch's, and the
/// gradients are this peer's share, whose mean over the peers is the whole batch's gradient.
pub fn chunked_contrastive_gradients<B: AutodiffBackend>(
    model: &ClipModel<B>,
    batch: ClipBatch<B>,
    micro_batch: Option<usize>,
    freeze: FreezeConfig,
    step: &StepContext<'_>,
) -> Result<StepGradients, TrainError> {
    let total = batch.indices.len();
    let (batch, own) = match step.peer {
        Some(peer) => {
            let own = peer.rows(total);
            if own.is_empty() {
                return Err(TrainError::Collective {
                    rank: peer.rank(),
                    reason: format!(
                        "a batch of {total} rows leaves this peer none; the batch must have at least one row per \
                         peer ({})",
                        peer.peers()
                    ),
                });
            }
            let device = model
                .devices()
                .into_iter()
                .next()
                .unwrap_or_else(|| batch.pixels.device());
            (batch.rows(own.clone(), &device), own)
        }
        None => (batch, 0..total),
    };
    let rows = own.len();
    let chunks = chunk_ranges(rows, micro_batch.unwrap_or(rows));
    let device = batch.pixels.device();
    let step_seed = draw_seed::<B>(&device);
    let seeded = |chunk: usize, tower: Tower| {
        let turn = SEEDED_PASS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        B::seed(&device, mix_seed(&[step_seed, chunk as u64, tower as u64]));
        turn
    };
    let embed_images = |model: &ClipModel<B>, chunk: usize, rows: &Range<usize>| {
        let _turn = seeded(chunk, Tower::Vision);
        model.embed_images(batch.pixels.clone().narrow(0, rows.start, rows.len()))
    };
    let embed_texts = |model: &ClipModel<B>, chunk: usize, rows: &Range<usize>| {
        let _turn = seeded(chunk, Tower::Text);
        let ids = batch.input_ids.clone().narrow(0, rows.start, rows.len());
        let mask = batch
            .attention_mask
            .clone()
            .narrow(0, rows.start, rows.len());
        model.embed_texts(ids, mask)
    };

    // 1. Embeddings, chunk by chunk, recording no graph: the parameters are untracked, so burn-autodiff keeps no
    //    activations (a tracked forward whose output is only detached stays in the parameters' graph until the
    //    next backward: the whole batch's activations at once). The backend still trains, so dropout still acts.
    let untracked = model.clone().no_grad();
    let mut images = Vec::with_capacity(chunks.len());
    let mut texts = Vec::with_capacity(chunks.len());
    for (chunk, rows) in chunks.iter().enumerate() {
        images.push(embed_images(&untracked, chunk, rows).inner());
        texts.push(embed_texts(&untracked, chunk, rows).inner());
    }
    drop(untracked);
    let (mut image, mut text) = (Tensor::cat(images, 0), Tensor::cat(texts, 0));
    if let Some(peer) = step.peer {
        image = peer.all_gather_rows(image, total)?;
        text = peer.all_gather_rows(text, total)?;
    }

    // 2. The whole batch's loss and its gradient with respect to the embeddings (and the logit scale).
    let image = Tensor::<B, 2>::from_inner(image).require_grad();
    let text = Tensor::<B, 2>::from_inner(text).require_grad();
    let loss = contrastive_loss(image.clone(), text.clone(), model.logit_multiplier());
    let value: f32 = loss.clone().into_scalar().elem();
    if !value.is_finite() {
        return Ok(StepGradients::non_finite(value));
    }
    let scaled = scaled_loss(loss, step.loss_scale);
    let mut grads = scaled.backward();
    // This peer's rows of the embeddings' gradient; times the number of peers, as the peers' gradients are averaged
    // (the logit scale's, the same on every peer, is not).
    let peers = step.peer.map_or(1, |peer| peer.peers());
    let own_rows = |grad: Tensor<B::InnerBackend, 2>| {
        let grad = grad.narrow(0, own.start, own.len());
        if peers == 1 {
            grad
        } else {
            grad.mul_scalar(peers as f64)
        }
    };
    let image_grad = image.grad_remove(&mut grads).map(own_rows);
    let text_grad = text.grad_remove(&mut grads).map(own_rows);
    let mut accumulated = GradientsAccumulator::new();
    accumulated.accumulate(model, GradientsParams::from_grads(grads, model));

    // 3. Each chunk of a tower that trains, again with its graph, back-propagating its rows of that gradient; one
    //    tower at a time, so that a single chunk's graph of a single tower is alive at once.
    let image_grad = image_grad.filter(|_| !freeze.vision);
    let text_grad = text_grad.filter(|_| !freeze.text);
    for (chunk, rows) in chunks.iter().enumerate() {
        let slice = |grad: &Tensor<B::InnerBackend, 2>| {
            Tensor::<B, 2>::from_inner(grad.clone().narrow(0, rows.start, rows.len()))
        };
        if let Some(grad) = &image_grad {
            let surrogate = (embed_images(model, chunk, rows) * slice(grad)).sum();
            accumulated.accumulate(
                model,
                GradientsParams::from_grads(surrogate.backward(), model),
            );
        }
        if let Some(grad) = &text_grad {
            let surrogate = (embed_texts(model, chunk, rows) * slice(grad)).sum();
            accumulated.accumulate(
                model,
                GradientsParams::from_grads(surrogate.backward(), model),
            );
        }
    }
    Ok(StepGradients {
        loss: value,
        gradients: Some(accumulated.grads()),
        overflowed: false,
    })
}

/// `[0, n), [n, 2n), …` up to `rows`, the last chunk shorter when `n` does not divide `rows`.
fn chunk_ranges(rows: usize, micro_batch: usize) -> Vec<Range<usize>> {
    let step = micro_batch.max(1);
    (0..rows)
        .step_by(step)
        .map(|start| start..(start + step).min(rows))
        .collect()
}

/// A seed for this step's passes, drawn from the backend's generator so that a seeded run stays reproducible.
fn draw_seed<B: AutodiffBackend>(device: &B::Device) -> u64 {
    let draws =
        Tensor::<B::InnerBackend, 1>::random([2], Distribution::Default, device).into_data();
    draws
        .iter::<f32>()
        .fold(0u64, |seed, draw| (seed << 32) | u64::from(draw.to_bits()))
}

#[cfg(test)]
mod tests {
    use super::chunk_ranges;

    #[test]
    fn chunks_cover_the_batch_in_order_the_last_one_shorter() {
        assert_eq!(chunk_ranges(10, 3), vec![0..3, 3..6, 6..9, 9..10]);
        assert_eq!(chunk_ranges(10, 1).len(), 10);
        assert_eq!(chunk_ranges(10, 10), vec![0..10]);
        assert_eq!(chunk_ranges(4, 16), vec![0..4]);
    }
}
