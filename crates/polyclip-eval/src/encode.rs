//! Embedding image and text sets in batches with a model in inference mode.

use std::sync::Arc;

use burn::tensor::{ElementConversion, Int, Tensor, TensorData, backend::Backend};
use polyclip_data::{
    DataError, DataLoader, ImageBatch, ImageBatcher, ImageTextDataset, LoaderConfig, Order,
    TextTokenizer,
};
use polyclip_models::{ClipModel, TextModel};

use crate::error::EvalError;

/// What evaluation needs of a model: L2-normalised image and text embeddings in one space. A CLIP model is one;
/// so is a text-only encoder paired with the CLIP model whose image tower it was trained against
/// ([`PairedEncoders`]).
pub trait Encoders<B: Backend> {
    fn embed_images(&self, pixels: Tensor<B, 4>) -> Tensor<B, 2>;
    fn embed_texts(&self, ids: Tensor<B, 2, Int>, mask: Tensor<B, 2, Int>) -> Tensor<B, 2>;
}

impl<B: Backend> Encoders<B> for ClipModel<B> {
    fn embed_images(&self, pixels: Tensor<B, 4>) -> Tensor<B, 2> {
        ClipModel::embed_images(self, pixels)
    }

    fn embed_texts(&self, ids: Tensor<B, 2, Int>, mask: Tensor<B, 2, Int>) -> Tensor<B, 2> {
        ClipModel::embed_texts(self, ids, mask)
    }
}

/// A text-only encoder (Multilingual-CLIP, a Themo student) with a CLIP model's image tower.
pub struct PairedEncoders<'a, B: Backend> {
    pub text: &'a TextModel<B>,
    pub image: &'a ClipModel<B>,
}

impl<B: Backend> Encoders<B> for PairedEncoders<'_, B> {
    fn embed_images(&self, pixels: Tensor<B, 4>) -> Tensor<B, 2> {
        self.image.embed_images(pixels)
    }

    fn embed_texts(&self, ids: Tensor<B, 2, Int>, mask: Tensor<B, 2, Int>) -> Tensor<B, 2> {
        self.text.embed_texts(ids, mask)
    }
}

/// `embeddings` unchanged when every value is finite, else the row of the first that is not (`what`: "image",
/// "text", "class"). Evaluation refuses such a model instead of ranking NaN scores.
pub fn ensure_finite<B: Backend>(
    embeddings: Tensor<B, 2>,
    what: &'static str,
) -> Result<Tensor<B, 2>, EvalError> {
    let zeroed: f32 = embeddings
        .clone()
        .mul_scalar(0.0)
        .sum()
        .into_scalar()
        .elem();
    if zeroed.is_finite() {
        return Ok(embeddings);
    }
    let dim = embeddings.dims()[1].max(1);
    let row = to_host(embeddings)
        .iter()
        .position(|v| !v.is_finite())
        .map_or(0, |at| at / dim);
    Err(EvalError::NonFinite {
        what: format!("the {what} embedding of row {row}"),
    })
}

/// L2-normalised embeddings `[images, embed]` of every image of a dataset, in dataset order.
pub fn embed_image_set<B: Backend>(
    model: &impl Encoders<B>,
    dataset: &ImageTextDataset,
    batcher: Arc<ImageBatcher>,
    batch_size: usize,
    num_workers: usize,
    device: &B::Device,
) -> Result<Tensor<B, 2>, DataError> {
    embed_kept_images(model, dataset, batcher, batch_size, num_workers, device)
        .map(|(embeddings, _)| embeddings)
}

/// [`embed_image_set`] under a batcher that may skip images it cannot decode: the embeddings of the images
/// kept and their dataset indices.
pub fn embed_kept_images<B: Backend>(
    model: &impl Encoders<B>,
    dataset: &ImageTextDataset,
    batcher: Arc<ImageBatcher>,
    batch_size: usize,
    num_workers: usize,
    device: &B::Device,
) -> Result<(Tensor<B, 2>, Vec<usize>), DataError> {
    let loader: DataLoader<B, _, Result<ImageBatch<B>, DataError>> = DataLoader::new(
        Arc::new(dataset.clone()),
        batcher,
        LoaderConfig {
            batch_size,
            num_workers,
            seed: 0,
            order: Order::Sequential,
        },
        device.clone(),
    );
    let mut parts = Vec::new();
    let mut kept = Vec::new();
    for batch in loader.iter_from(0) {
        let batch = batch?;
        if batch.indices.is_empty() {
            continue;
        }
        kept.extend(batch.indices);
        parts.push(model.embed_images(batch.pixels));
    }
    if parts.is_empty() {
        return Err(DataError::EmptyManifest {
            path: dataset.manifest_path().to_owned(),
        });
    }
    Ok((Tensor::cat(parts, 0), kept))
}

/// L2-normalised embeddings `[texts, embed]` of a list of texts, in order.
pub fn embed_texts<B: Backend, S: AsRef<str>>(
    model: &impl Encoders<B>,
    tokenizer: &TextTokenizer,
    texts: &[S],
    batch_size: usize,
    device: &B::Device,
) -> Result<Tensor<B, 2>, DataError> {
    let mut parts = Vec::new();
    for chunk in texts.chunks(batch_size.max(1)) {
        let tokens = tokenizer.encode_batch(chunk)?;
        let shape = [tokens.batch, tokens.seq];
        let ids = Tensor::from_data(TensorData::new(tokens.ids, shape), device);
        let mask = Tensor::from_data(TensorData::new(tokens.mask, shape), device);
        parts.push(model.embed_texts(ids, mask));
    }
    Ok(Tensor::cat(parts, 0))
}

/// Copies a `[rows, cols]` tensor to the host as row-major `f32`s.
pub fn to_host<B: Backend>(tensor: Tensor<B, 2>) -> Vec<f32> {
    tensor.into_data().iter::<f32>().collect()
}

#[cfg(test)]
mod tests {
    use burn::backend::ndarray::{NdArray, NdArrayDevice};

    use super::*;

    #[test]
    fn non_finite_embeddings_are_refused_naming_the_row() {
        let device = NdArrayDevice::Cpu;
        let rows = |values: Vec<f32>| {
            Tensor::<NdArray, 2>::from_data(TensorData::new(values, [3, 2]), &device)
        };
        let finite = rows(vec![0.6, 0.8, 1.0, 0.0, 0.0, 1.0]);
        assert!(ensure_finite(finite, "image").is_ok());
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let error = ensure_finite(rows(vec![0.6, 0.8, 1.0, 0.0, bad, 1.0]), "text")
                .expect_err("a non-finite value");
            assert_eq!(
                error.to_string(),
                "the text embedding of row 2 is NaN or infinite: the model's weights are not finite"
            );
        }
    }
}
