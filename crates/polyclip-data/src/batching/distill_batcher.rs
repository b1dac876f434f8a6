//! Batches for distilling a text encoder into a teacher's text space (Themo, Multilingual-CLIP): a sentence in
//! the student's language and the teacher's features of its parallel sentence, packed into one `TensorData`
//! each per batch.

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

use crate::batching::loader::Draw;
use crate::error::DataError;
use crate::text::tokenizer::TextTokenizer;

/// A student sentence and the teacher's target vector for it.
#[derive(Debug, Clone, PartialEq)]
pub struct DistillPair {
    pub text: String,
    pub target: Vec<f32>,
}

/// Parallel pairs in memory (the targets are computed once, the teacher being frozen).
#[derive(Debug, Clone)]
pub struct DistillDataset {
    pairs: Vec<DistillPair>,
}

impl DistillDataset {
    pub fn new(pairs: Vec<DistillPair>) -> Self {
        Self { pairs }
    }
}

impl Dataset<DistillPair> for DistillDataset {
    fn get(&self, index: usize) -> Option<DistillPair> {
        self.pairs.get(index).cloned()
    }

    fn len(&self) -> usize {
        self.pairs.len()
    }
}

/// Student token ids with the teacher's targets.
#[derive(Debug, Clone)]
pub struct DistillBatch<B: Backend> {
    /// `[batch, seq]`.
    pub input_ids: Tensor<B, 2, Int>,
    /// `[batch, seq]`, 1 at tokens.
    pub attention_mask: Tensor<B, 2, Int>,
    /// `[batch, width]`.
    pub targets: Tensor<B, 2>,
    /// Dataset index of every row.
    pub indices: Vec<usize>,
}

/// Builds [`DistillBatch`]es with the student's tokenizer.
#[derive(Debug, Clone)]
pub struct DistillBatcher {
    tokenizer: TextTokenizer,
}

impl DistillBatcher {
    pub fn new(tokenizer: TextTokenizer) -> Self {
        Self { tokenizer }
    }
}

impl<B: Backend> Batcher<B, Draw<DistillPair>, Result<DistillBatch<B>, DataError>>
    for DistillBatcher
{
    fn batch(
        &self,
        draws: Vec<Draw<DistillPair>>,
        device: &B::Device,
    ) -> Result<DistillBatch<B>, DataError> {
        let width = draws.first().map_or(0, |draw| draw.item.target.len());
        let mut targets = Vec::with_capacity(draws.len() * width);
        let mut texts = Vec::with_capacity(draws.len());
        for draw in &draws {
            if draw.item.target.len() != width {
                return Err(DataError::TargetWidth {
                    index: draw.index,
                    len: draw.item.target.len(),
                    expected: width,
                });
            }
            targets.extend_from_slice(&draw.item.target);
            texts.push(draw.item.text.as_str());
        }
        let tokens = self.tokenizer.encode_batch(&texts)?;
        let shape = [tokens.batch, tokens.seq];
        Ok(DistillBatch {
            input_ids: Tensor::from_data(TensorData::new(tokens.ids, shape), device),
            attention_mask: Tensor::from_data(TensorData::new(tokens.mask, shape), device),
            targets: Tensor::from_data(TensorData::new(targets, [draws.len(), width]), device),
            indices: draws.iter().map(|draw| draw.index).collect(),
        })
    }
}
