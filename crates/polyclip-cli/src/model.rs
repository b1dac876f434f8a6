//! A loaded checkpoint ready to embed images and texts (inference only).

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use polyclip_checkpoints::hub::resolve;
use polyclip_checkpoints::{Loaded, LoadedModel, load};
use polyclip_data::{ClipPreprocess, ImageSource, TextTokenizer};
use polyclip_eval::encode::{Encoders, PairedEncoders, ensure_finite};
use polyclip_models::ClipModel;

use crate::ModelArgs;
use crate::error::CliError;

/// Resolves and loads a checkpoint, warning on a partial load.
fn load_checkpoint<B: Backend>(
    model: &str,
    allow_partial: bool,
    device: &B::Device,
) -> Result<Loaded<B>, CliError> {
    let dir = resolve(model)?;
    let loaded = load::<B>(&dir, allow_partial, device)?;
    if !loaded.report.is_complete() {
        eprintln!(
            "warning: partial load of {}: {}",
            dir.display(),
            loaded.report.summary()
        );
    }
    Ok(loaded)
}

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
    /// The CLIP model a text-only encoder borrows its image tower and logit scale from (`--image-model`).
    image_model: Option<Loaded<B>>,
    tokenizer: Option<TextTokenizer>,
    tokenizer_path: Option<PathBuf>,
    preprocess: Option<ClipPreprocess>,
    batch_size: usize,
    device: B::Device,
}

/// A loaded model for evaluation.
pub enum EvalModel<'a, B: Backend> {
    Clip(&'a ClipModel<B>),
    Paired(PairedEncoders<'a, B>),
}

impl<B: Backend> Encoders<B> for EvalModel<'_, B> {
    fn embed_images(&self, pixels: Tensor<B, 4>) -> Tensor<B, 2> {
        match self {
            Self::Clip(model) => model.embed_images(pixels),
            Self::Paired(pair) => pair.embed_images(pixels),
        }
    }

    fn embed_texts(&self, ids: Tensor<B, 2, Int>, mask: Tensor<B, 2, Int>) -> Tensor<B, 2> {
        match self {
            Self::Clip(model) => model.embed_texts(ids, mask),
            Self::Paired(pair) => pair.embed_texts(ids, mask),
        }
    }
}

/// Decodes and preprocesses images from any source into one `[n, 3, size, size]` batch; an image that cannot
/// be decoded is named in the error.
pub fn source_pixel_batch<B: Backend>(
    sources: &[&ImageSource],
    preprocess: &ClipPreprocess,
    device: &B::Device,
) -> Result<Tensor<B, 4>, CliError> {
    let mut images = Vec::with_capacity(sources.len());
    for source in sources {
        images.push(
            source.decode().map_err(|reason| {
                CliError::Usage(format!("{source}: cannot be decoded: {reason}"))
            })?,
        );
    }
    Ok(decoded_pixel_batch(&images, preprocess, device))
}

/// Preprocesses decoded images into one `[n, 3, size, size]` batch.
pub fn decoded_pixel_batch<B: Backend>(
    images: &[image::DynamicImage],
    preprocess: &ClipPreprocess,
    device: &B::Device,
) -> Tensor<B, 4> {
    let size = preprocess.size as usize;
    let image_len = preprocess.image_len();
    let mut pixels = vec![0.0_f32; images.len() * image_len];
    for (image, slot) in images.iter().zip(pixels.chunks_mut(image_len)) {
        preprocess.apply(image, slot);
    }
    Tensor::from_data(
        TensorData::new(pixels, [images.len(), 3, size, size]),
        device,
    )
}

/// Decodes and preprocesses `paths` into one `[n, 3, size, size]` batch; a file that cannot be decoded is
/// named in the error.
pub fn pixel_batch<B: Backend>(
    paths: &[PathBuf],
    preprocess: &ClipPreprocess,
    device: &B::Device,
) -> Result<Tensor<B, 4>, CliError> {
    let sources: Vec<ImageSource> = paths.iter().cloned().map(ImageSource::File).collect();
    let sources: Vec<&ImageSource> = sources.iter().collect();
    source_pixel_batch(&sources, preprocess, device)
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
        let loaded = load_checkpoint::<B>(&args.model, args.allow_partial, device)?;
        let image_model = match (&args.image_model, &loaded.model) {
            (None, _) => None,
            (Some(image_model), LoadedModel::Text(_)) => {
                let image_model = load_checkpoint::<B>(image_model, args.allow_partial, device)?;
                if !matches!(image_model.model, LoadedModel::Dual(_)) {
                    return Err(CliError::Usage(format!(
                        "--image-model {}: a text encoder too; give a CLIP model with an image tower",
                        image_model.spec.dir.display()
                    )));
                }
                Some(image_model)
            }
            (Some(_), LoadedModel::Dual(_)) => {
                return Err(CliError::Usage(format!(
                    "--image-model: {} has its own image tower",
                    loaded.spec.dir.display()
                )));
            }
        };
        let text = &loaded.spec.text;
        let tokenizer_path = args.tokenizer.clone().or_else(|| text.tokenizer.clone());
        let tokenizer = match &tokenizer_path {
            Some(path) => Some(
                TextTokenizer::from_file(path, &text.pad_token, text.max_tokens)?
                    .with_whitespace_cleaning(text.clean_whitespace),
            ),
            None => None,
        };
        let image_spec = &image_model.as_ref().unwrap_or(&loaded).spec;
        // The image tower's own transform (open_clip's preprocess_cfg, HF's preprocessor_config.json, a
        // polyclip run's preprocess.json).
        let preprocess = image_spec.preprocess;
        Ok(Self {
            image_model,
            tokenizer_path,
            tokenizer,
            preprocess,
            batch_size: args.batch_size.max(1),
            device: device.clone(),
            loaded,
        })
    }

    /// The model that embeds images: the checkpoint itself, or `--image-model` for a text encoder.
    fn image_tower(&self) -> Option<&ClipModel<B>> {
        match &self.image_model.as_ref().unwrap_or(&self.loaded).model {
            LoadedModel::Dual(model) => Some(model),
            LoadedModel::Text(_) => None,
        }
    }

    /// Normalised image embeddings, in order.
    pub fn embed_images(&self, paths: &[PathBuf]) -> Result<Embeddings, CliError> {
        let (Some(model), Some(preprocess)) = (self.image_tower(), &self.preprocess) else {
            return Err(CliError::Usage(format!(
                "{} is a text encoder without an image tower; pass --image-model with the CLIP model it pairs with",
                self.loaded.spec.dir.display()
            )));
        };
        let mut parts = Vec::new();
        for chunk in paths.chunks(self.batch_size) {
            parts.push(model.embed_images(pixel_batch(chunk, preprocess, &self.device)?));
        }
        Ok(to_host(ensure_finite(Tensor::cat(parts, 0), "image")?))
    }

    /// Normalised embeddings of decoded images, in order (one forward pass: the caller sizes the batch).
    pub fn embed_decoded(&self, images: &[image::DynamicImage]) -> Result<Embeddings, CliError> {
        let (Some(model), Some(preprocess)) = (self.image_tower(), &self.preprocess) else {
            return Err(CliError::Usage(format!(
                "{} is a text encoder without an image tower; pass --image-model with the CLIP model it pairs with",
                self.loaded.spec.dir.display()
            )));
        };
        let batch = decoded_pixel_batch(images, preprocess, &self.device);
        Ok(to_host(ensure_finite(model.embed_images(batch), "image")?))
    }

    /// Whether the model (or `--image-model`) can embed images.
    pub fn has_image_tower(&self) -> bool {
        self.image_tower().is_some() && self.preprocess.is_some()
    }

    /// The folder the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.loaded.spec.dir
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
        Ok(to_host(ensure_finite(Tensor::cat(parts, 0), "text")?))
    }

    /// The multiplier of cosine similarities: CLIP's `exp(logit_scale)` (of `--image-model` for a text
    /// encoder); 100, CLIP's trained value, for a text encoder used alone.
    pub fn logit_multiplier(&self) -> Result<f32, CliError> {
        let scale: f32 = self
            .image_tower()
            .map_or(100.0, |model| model.logit_multiplier().into_scalar().elem());
        if scale.is_finite() {
            Ok(scale)
        } else {
            Err(polyclip_eval::EvalError::NonFinite {
                what: "the logit scale".into(),
            }
            .into())
        }
    }

    /// The model as evaluation sees it: a CLIP model, or a text encoder with `--image-model`'s image tower.
    pub fn encoders(&self) -> Result<EvalModel<'_, B>, CliError> {
        match (&self.loaded.model, self.image_tower()) {
            (LoadedModel::Dual(model), _) => Ok(EvalModel::Clip(model)),
            (LoadedModel::Text(text), Some(image)) => {
                Ok(EvalModel::Paired(PairedEncoders { text, image }))
            }
            (LoadedModel::Text(_), None) => Err(CliError::Usage(format!(
                "{} is a text encoder without an image tower; pass --image-model with the CLIP model it pairs with",
                self.loaded.spec.dir.display()
            ))),
        }
    }

    /// The text tokenizer (an error naming the folder when there is none).
    pub fn tokenizer(&self) -> Result<&TextTokenizer, CliError> {
        self.tokenizer.as_ref().ok_or_else(|| {
            CliError::Usage(format!(
                "{}: no tokenizer.json; put the model's tokenizer.json in the folder or pass --tokenizer FILE",
                self.loaded.spec.dir.display()
            ))
        })
    }

    /// The image transform of the image tower.
    pub fn preprocess(&self) -> Option<ClipPreprocess> {
        self.preprocess
    }

    /// The tokenizer file in use, for messages.
    pub fn tokenizer_path(&self) -> Option<&Path> {
        self.tokenizer_path.as_deref()
    }
}
