//! Embedding image and text sets in batches with a model in inference mode.

use std::sync::Arc;

use burn::tensor::{Tensor, TensorData, backend::Backend};
use polyclip_data::{
    DataError, DataLoader, ImageBatch, ImageBatcher, ImageTextDataset, LoaderConfig, Order,
    TextTokenizer,
};
use polyclip_models::ClipModel;

/// L2-normalised embeddings `[images, embed]` of every image of a dataset, in dataset order.
pub fn embed_image_set<B: Backend>(
    model: &ClipModel<B>,
    dataset: &ImageTextDataset,
    batcher: Arc<ImageBatcher>,
    batch_size: usize,
    num_workers: usize,
    device: &B::Device,
) -> Result<Tensor<B, 2>, DataError> {
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
    for batch in loader.iter_from(0) {
        parts.push(model.embed_images(batch?.pixels));
    }
    Ok(Tensor::cat(parts, 0))
}

/// L2-normalised embeddings `[texts, embed]` of a list of texts, in order.
pub fn embed_texts<B: Backend, S: AsRef<str>>(
    model: &ClipModel<B>,
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
