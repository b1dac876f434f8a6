//! A loaded checkpoint ready to embed images and texts (inference only).

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use polyclip_checkpoints::hub::resolve;
use polyclip_checkpoints::{Architecture, Loaded, LoadedModel, load};
use polyclip_data::preprocess::decode_image;
use polyclip_data::{ClipPreprocess, TextTokenizer};

use crate::ModelArgs;
use crate::error::CliError;

/// Embeddings on the host, row-major `[rows, dim]`, L2-normalised.
pub struct Embeddings {
    pub values: Vec<f32>,
    pub rows: usize,
    pub dim: usize,
}

impl Embeddings {
    pub fn row(&self, index: usize) -> &[f32] {
        &self.values[index * self.dim..(index + 1) * self.dim]
    }
}

/// A model, its tokenizer and its image transform.
pub struct Encoder<B: Backend> {
    pub loaded: Loaded<B>,
    tokenizer: Option<TextTokenizer>,
    tokenizer_path: Option<PathBuf>,
    preprocess: Option<ClipPreprocess>,
    batch_size: usize,
    device: B::Device,
}

fn to_host<B: Backend>(tensor: Tensor<B, 2>) -> Embeddings {
    let [rows, dim] = tensor.dims();
    Embeddings {
        values: tensor.into_data().iter::<f32>().collect(),
        rows,
        dim,
    }
}

impl<B: Backend> Encoder<B> {
    /// Resolves and loads `--model`, warning on a partial load.
    pub fn load(args: &ModelArgs, device: &B::Device) -> Result<Self, CliError> {
        let dir = resolve(&args.model)?;
        let loaded = load::<B>(&dir, args.allow_partial, device)?;
        if !loaded.report.is_complete() {
            eprintln!(
                "warning: partial load of {}: {}",
                dir.display(),
                loaded.report.summary()
            );
        }
        let text = &loaded.spec.text;
        let tokenizer_path = args.tokenizer.clone().or_else(|| text.tokenizer.clone());
        let tokenizer = match &tokenizer_path {
            Some(path) => Some(
                TextTokenizer::from_file(path, &text.pad_token, text.max_tokens)?
                    .with_whitespace_cleaning(text.clean_whitespace),
            ),
            None => None,
        };
        let preprocess = match &loaded.spec.architecture {
            Architecture::Dual(config) => {
                Some(ClipPreprocess::new(config.vision_config.image_size as u32))
            }
            Architecture::Text(_) => None,
        };
        Ok(Self {
            tokenizer_path,
            tokenizer,
            preprocess,
            batch_size: args.batch_size.max(1),
            device: device.clone(),
            loaded,
        })
    }

    /// Normalised image embeddings, in order.
    pub fn embed_images(&self, paths: &[PathBuf]) -> Result<Embeddings, CliError> {
        let (LoadedModel::Dual(model), Some(preprocess)) = (&self.loaded.model, &self.preprocess)
        else {
            return Err(CliError::Usage(format!(
                "{} is a text encoder without an image tower; embed its images with the CLIP model it pairs with",
                self.loaded.spec.dir.display()
            )));
        };
        let size = preprocess.size as usize;
        let mut parts = Vec::new();
        for chunk in paths.chunks(self.batch_size) {
            let mut pixels = vec![0.0_f32; chunk.len() * preprocess.image_len()];
            for (row, path) in chunk.iter().enumerate() {
                let image = decode_image(path).map_err(|reason| {
                    CliError::Usage(format!("{}: cannot be decoded: {reason}", path.display()))
                })?;
                preprocess.apply(
                    &image,
                    &mut pixels[row * preprocess.image_len()..(row + 1) * preprocess.image_len()],
                );
            }
            let tensor = Tensor::from_data(
                TensorData::new(pixels, [chunk.len(), 3, size, size]),
                &self.device,
            );
            parts.push(model.embed_images(tensor));
        }
        Ok(to_host(Tensor::cat(parts, 0)))
    }

    /// Normalised text embeddings, in order.
    pub fn embed_texts(&self, texts: &[String]) -> Result<Embeddings, CliError> {
        let tokenizer = self.tokenizer.as_ref().ok_or_else(|| {
            CliError::Usage(format!(
                "{}: no tokenizer.json; put the model's tokenizer.json in the folder or pass --tokenizer FILE",
                self.loaded.spec.dir.display()
            ))
        })?;
        let mut parts = Vec::new();
        for chunk in texts.chunks(self.batch_size) {
            let tokens = tokenizer.encode_batch(chunk)?;
            let shape = [tokens.batch, tokens.seq];
            let ids = Tensor::from_data(TensorData::new(tokens.ids, shape), &self.device);
            let mask = Tensor::from_data(TensorData::new(tokens.mask, shape), &self.device);
            parts.push(match &self.loaded.model {
                LoadedModel::Dual(model) => model.embed_texts(ids, mask),
                LoadedModel::Text(model) => model.embed_texts(ids, mask),
            });
        }
        Ok(to_host(Tensor::cat(parts, 0)))
    }

    /// The multiplier of cosine similarities (CLIP's `exp(logit_scale)`; 100 for text-only models).
    pub fn logit_multiplier(&self) -> f32 {
        match &self.loaded.model {
            LoadedModel::Dual(model) => model
                .logit_multiplier()
                .into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .ok()
                .and_then(|v| v.first().copied())
                .unwrap_or(100.0),
            LoadedModel::Text(_) => 100.0,
        }
    }

    /// The tokenizer file in use, for messages.
    pub fn tokenizer_path(&self) -> Option<&Path> {
        self.tokenizer_path.as_deref()
    }
}
