//! The burn [`Batcher`] for contrastive training and evaluation: images through [`ImageBatcher`], one drawn
//! caption per example, tokenized, each packed into one `TensorData` per batch.

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

use crate::batching::caption_strategy::CaptionStrategy;
use crate::batching::dataset::ImageTextExample;
use crate::batching::image_batcher::ImageBatcher;
use crate::batching::loader::Draw;
use crate::error::DataError;
use crate::text::tokenizer::TextTokenizer;

/// A batch of image–caption pairs on a device.
#[derive(Debug, Clone)]
pub struct ClipBatch<B: Backend> {
    /// `[batch, 3, size, size]`, normalised.
    pub pixels: Tensor<B, 4>,
    /// `[batch, seq]`.
    pub input_ids: Tensor<B, 2, Int>,
    /// `[batch, seq]`, 1 at tokens.
    pub attention_mask: Tensor<B, 2, Int>,
    /// Dataset index of every row.
    pub indices: Vec<usize>,
}

impl<B: Backend> ClipBatch<B> {
    /// The rows `rows` of the batch on `device` (a data-parallel peer's slice of the batch).
    pub fn rows(&self, rows: std::ops::Range<usize>, device: &B::Device) -> Self {
        let (start, count) = (rows.start, rows.len());
        Self {
            pixels: self
                .pixels
                .clone()
                .narrow(0, start, count)
                .to_device(device),
            input_ids: self
                .input_ids
                .clone()
                .narrow(0, start, count)
                .to_device(device),
            attention_mask: self
                .attention_mask
                .clone()
                .narrow(0, start, count)
                .to_device(device),
            indices: self.indices[rows].to_vec(),
        }
    }
}

/// Which captions of an example a draw may pick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CaptionChoice {
    /// One caption, original or generated, uniformly at random per draw (CLIP, clip-italian).
    Random,
    /// Always the first caption.
    First,
    /// One of the strategy's candidates uniformly at random per draw (CAPIVARA's caption strategies).
    Drawn(CaptionStrategy),
}

/// Builds [`ClipBatch`]es.
#[derive(Debug)]
pub struct ClipBatcher {
    pub images: ImageBatcher,
    tokenizer: TextTokenizer,
    captions: CaptionChoice,
}

impl ClipBatcher {
    pub fn new(images: ImageBatcher, tokenizer: TextTokenizer, captions: CaptionChoice) -> Self {
        Self {
            images,
            tokenizer,
            captions,
        }
    }
}

impl CaptionChoice {
    /// The caption of `example` this choice takes for a draw with `seed`.
    pub fn pick(self, example: &ImageTextExample, seed: u64) -> &str {
        let entry = &example.entry;
        match self {
            CaptionChoice::Random => Self::Drawn(CaptionStrategy::All).pick(example, seed),
            CaptionChoice::First => &entry.captions[0],
            CaptionChoice::Drawn(strategy) => {
                let candidates = strategy.candidates(entry);
                if candidates.is_empty() {
                    return &entry.captions[0];
                }
                candidates[Pcg64::seed_from_u64(seed).random_range(0..candidates.len())]
            }
        }
    }
}

impl<B: Backend> Batcher<B, Draw<ImageTextExample>, Result<ClipBatch<B>, DataError>>
    for ClipBatcher
{
    fn batch(
        &self,
        draws: Vec<Draw<ImageTextExample>>,
        device: &B::Device,
    ) -> Result<ClipBatch<B>, DataError> {
        let images = self.images.assemble(&draws)?;
        let captions: Vec<String> = images
            .rows
            .iter()
            .map(|&row| {
                self.captions
                    .pick(&draws[row].item, draws[row].seed)
                    .to_owned()
            })
            .collect();
        let tokens = self.tokenizer.encode_batch(&captions)?;
        let shape = [tokens.batch, tokens.seq];
        let indices = images.rows.iter().map(|&row| draws[row].index).collect();
        Ok(ClipBatch {
            pixels: images.into_tensor(device),
            input_ids: Tensor::from_data(TensorData::new(tokens.ids, shape), device),
            attention_mask: Tensor::from_data(TensorData::new(tokens.mask, shape), device),
            indices,
        })
    }
}
