//! The burn [`Batcher`] for captioning: images through [`ImageBatcher`], one drawn caption per example in the
//! example's own language (batches mix languages), as teacher-forcing inputs and labels: labels are
//! `[language] caption </s>`, decoder inputs the labels shifted right after the decoder start token, both
//! padded, with a mask over the real label positions — one `TensorData` each per batch.

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

use crate::batching::batcher::CaptionChoice;
use crate::batching::dataset::ImageTextExample;
use crate::batching::image_batcher::ImageBatcher;
use crate::batching::loader::Draw;
use crate::error::DataError;
use crate::text::mbart_tokenizer::MBartTokenizer;

/// A batch of images with captions on a device.
#[derive(Debug, Clone)]
pub struct CaptionBatch<B: Backend> {
    /// `[batch, 3, size, size]`, normalised.
    pub pixels: Tensor<B, 4>,
    /// `[batch, length]`: the decoder start token, then the labels but their last.
    pub decoder_input_ids: Tensor<B, 2, Int>,
    /// `[batch, length]`: `[language] caption </s>`, padded.
    pub labels: Tensor<B, 2, Int>,
    /// `[batch, length]`: 1 at real labels, 0 at padding.
    pub label_mask: Tensor<B, 2>,
    /// Dataset index of every row.
    pub indices: Vec<usize>,
}

/// Token ids of caption batches on the host, row-major `[batch, length]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TeacherForcing {
    pub decoder_input_ids: Vec<i64>,
    pub labels: Vec<i64>,
    pub label_mask: Vec<f32>,
    pub batch: usize,
    pub length: usize,
}

/// Labels and decoder inputs for `(caption, language)` pairs.
pub fn teacher_forcing<S: AsRef<str>, L: AsRef<str>>(
    tokenizer: &MBartTokenizer,
    decoder_start: u32,
    captions: &[(S, L)],
) -> Result<TeacherForcing, DataError> {
    let labels = tokenizer.encode_batch(captions)?;
    let (batch, length) = (labels.batch, labels.seq);
    let mut decoder_input_ids = vec![tokenizer.pad_id() as i64; batch * length];
    for row in 0..batch {
        decoder_input_ids[row * length] = decoder_start as i64;
        for col in 1..length {
            if labels.mask[row * length + col - 1] == 1 {
                decoder_input_ids[row * length + col] = labels.ids[row * length + col - 1];
            }
        }
    }
    Ok(TeacherForcing {
        decoder_input_ids,
        label_mask: labels.mask.iter().map(|&m| m as f32).collect(),
        labels: labels.ids,
        batch,
        length,
    })
}

/// Builds [`CaptionBatch`]es.
#[derive(Debug)]
pub struct CaptionBatcher {
    pub images: ImageBatcher,
    tokenizer: MBartTokenizer,
    captions: CaptionChoice,
    decoder_start: u32,
}

impl CaptionBatcher {
    pub fn new(
        images: ImageBatcher,
        tokenizer: MBartTokenizer,
        captions: CaptionChoice,
        decoder_start: u32,
    ) -> Self {
        Self {
            images,
            tokenizer,
            captions,
            decoder_start,
        }
    }
}

impl<B: Backend> Batcher<B, Draw<ImageTextExample>, Result<CaptionBatch<B>, DataError>>
    for CaptionBatcher
{
    fn batch(
        &self,
        draws: Vec<Draw<ImageTextExample>>,
        device: &B::Device,
    ) -> Result<CaptionBatch<B>, DataError> {
        let images = self.images.assemble(&draws)?;
        let captions =
            images
                .rows
                .iter()
                .map(|&row| {
                    let example = &draws[row].item;
                    let language = example.entry.lang.as_deref().ok_or_else(|| {
                        DataError::MissingLanguage {
                            path: example.manifest.as_ref().clone(),
                            line: example.entry.line,
                        }
                    })?;
                    Ok((self.captions.pick(example, draws[row].seed), language))
                })
                .collect::<Result<Vec<_>, DataError>>()?;
        let tokens = teacher_forcing(&self.tokenizer, self.decoder_start, &captions)?;
        let shape = [tokens.batch, tokens.length];
        let indices = images.rows.iter().map(|&row| draws[row].index).collect();
        Ok(CaptionBatch {
            pixels: images.into_tensor(device),
            decoder_input_ids: Tensor::from_data(
                TensorData::new(tokens.decoder_input_ids, shape),
                device,
            ),
            labels: Tensor::from_data(TensorData::new(tokens.labels, shape), device),
            label_mask: Tensor::from_data(TensorData::new(tokens.label_mask, shape), device),
            indices,
        })
    }
}
