//! Decoding and preprocessing the images of a batch into one buffer; the image-only [`Batcher`] used to
//! embed image sets.

use std::sync::Mutex;

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{Tensor, TensorData, backend::Backend};
use image::DynamicImage;

use crate::batching::dataset::ImageTextExample;
use crate::batching::loader::Draw;
use crate::error::DataError;
use crate::preprocess::ClipPreprocess;
use crate::sources::manifest::BadInputPolicy;
use polyclip_augment::AugmentChain;

/// Preprocessed pixels of the rows of a batch that decoded.
pub struct ImageRows {
    /// `rows.len() · 3 · size²` floats, channel-major per image.
    pub pixels: Vec<f32>,
    /// Positions (in the draws handed in) of the images kept.
    pub rows: Vec<usize>,
    pub size: usize,
}

impl ImageRows {
    /// The `[rows, 3, size, size]` tensor.
    pub fn into_tensor<B: Backend>(self, device: &B::Device) -> Tensor<B, 4> {
        let shape = [self.rows.len(), 3, self.size, self.size];
        Tensor::from_data(TensorData::new(self.pixels, shape), device)
    }
}

/// A batch of images on a device.
#[derive(Debug, Clone)]
pub struct ImageBatch<B: Backend> {
    /// `[batch, 3, size, size]`, normalised.
    pub pixels: Tensor<B, 4>,
    /// Dataset index of every row.
    pub indices: Vec<usize>,
}

/// Decodes, augments (training) and preprocesses images; corrupt ones fail the batch or are skipped and
/// remembered.
#[derive(Debug)]
pub struct ImageBatcher {
    preprocess: ClipPreprocess,
    policy: BadInputPolicy,
    augment: Option<AugmentChain>,
    skipped: Mutex<Vec<DataError>>,
}

impl ImageBatcher {
    pub fn new(preprocess: ClipPreprocess, policy: BadInputPolicy) -> Self {
        Self {
            preprocess,
            policy,
            augment: None,
            skipped: Mutex::new(Vec::new()),
        }
    }

    /// Runs `chain` on every decoded image (seeded by its draw) before the preprocessing; for training.
    pub fn with_augment(mut self, chain: AugmentChain) -> Self {
        self.augment = Some(chain);
        self
    }

    /// The augmentation chain, if any.
    pub fn augment(&self) -> Option<&AugmentChain> {
        self.augment.as_ref()
    }

    /// The transform applied to every image.
    pub fn preprocess(&self) -> &ClipPreprocess {
        &self.preprocess
    }

    /// Problems skipped so far under [`BadInputPolicy::Skip`] (and forgets them).
    pub fn take_skipped(&self) -> Vec<DataError> {
        self.skipped
            .lock()
            .map(|mut skipped| std::mem::take(&mut *skipped))
            .unwrap_or_default()
    }

    /// Decodes and preprocesses the images of `draws` into one buffer.
    pub fn assemble(&self, draws: &[Draw<ImageTextExample>]) -> Result<ImageRows, DataError> {
        let image_len = self.preprocess.image_len();
        let mut pixels = vec![0.0_f32; draws.len() * image_len];
        let mut rows = Vec::with_capacity(draws.len());
        for (position, draw) in draws.iter().enumerate() {
            let entry = &draw.item.entry;
            match entry.image.decode() {
                Ok(image) => {
                    let kept = rows.len();
                    let out = &mut pixels[kept * image_len..(kept + 1) * image_len];
                    match &self.augment {
                        Some(chain) => {
                            let augmented = chain.apply(image.to_rgb8(), draw.seed);
                            self.preprocess
                                .apply(&DynamicImage::ImageRgb8(augmented), out);
                        }
                        None => self.preprocess.apply(&image, out),
                    }
                    rows.push(position);
                }
                Err(source) => {
                    let error = DataError::CorruptImage {
                        path: draw.item.manifest.as_ref().clone(),
                        line: entry.line,
                        image: entry.image.clone(),
                        source: Box::new(source),
                    };
                    match self.policy {
                        BadInputPolicy::Fail => return Err(error),
                        BadInputPolicy::Skip => {
                            if let Ok(mut skipped) = self.skipped.lock() {
                                skipped.push(error);
                            }
                        }
                    }
                }
            }
        }
        pixels.truncate(rows.len() * image_len);
        Ok(ImageRows {
            pixels,
            rows,
            size: self.preprocess.size as usize,
        })
    }
}

impl<B: Backend> Batcher<B, Draw<ImageTextExample>, Result<ImageBatch<B>, DataError>>
    for ImageBatcher
{
    fn batch(
        &self,
        draws: Vec<Draw<ImageTextExample>>,
        device: &B::Device,
    ) -> Result<ImageBatch<B>, DataError> {
        let images = self.assemble(&draws)?;
        let indices = images.rows.iter().map(|&row| draws[row].index).collect();
        Ok(ImageBatch {
            pixels: images.into_tensor(device),
            indices,
        })
    }
}
