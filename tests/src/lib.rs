//! Shared set-up of the workspace-level integration tests (tests/tests/*.rs): a small embedded dataset and a
//! tiny model trained on it with the real data pipeline and training loop: on ndarray (`Train`, `DEVICE`), or on any
//! backend through the `_on` variants.

// Test set-up: a failure should panic with its reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod equivalence;

use polyclip_models::BuildModel;
use std::path::Path;
use std::sync::Arc;

use burn::backend::Autodiff;
use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::tensor::backend::{AutodiffBackend, Backend};
use polyclip_data::{
    BadInputPolicy, CaptionChoice, ClipBatch, ClipBatcher, ClipPreprocess, DataError, DataLoader,
    ImageBatcher, ImageTextDataset, ImageTextExample, LoaderConfig, Manifest, Order, TextTokenizer,
};
use polyclip_models::{ClipModel, ClipModelConfig, presets};
use polyclip_shapes::{ShapesDataset, ShapesSpec, shapes_tokenizer};
use polyclip_train::{LrSchedule, OptimizerConfig, TrainConfig};

/// The training backend of the tests.
pub type Train = Autodiff<NdArray<f32>>;
/// Its device.
pub const DEVICE: NdArrayDevice = NdArrayDevice::Cpu;
/// Input side of the test models.
pub const IMAGE_SIZE: usize = 32;
/// Longest text in tokens.
pub const MAX_TOKENS: usize = 32;

/// A training loader over one language of a generated dataset.
pub type Loader = LoaderOn<Train>;
/// A training loader on backend `B`.
pub type LoaderOn<B> = DataLoader<B, ImageTextExample, Result<ClipBatch<B>, DataError>>;

/// Generates (or reuses) a small embedded dataset under `root`.
pub fn small_dataset(root: &Path, train_images: usize, test_images: usize) -> ShapesDataset {
    let spec = ShapesSpec {
        seed: 11,
        train_images,
        test_images,
        image_px: 64,
    };
    ShapesDataset::materialize(&spec, root).expect("dataset")
}

/// The embedded tokenizer.
pub fn tokenizer() -> TextTokenizer {
    shapes_tokenizer(MAX_TOKENS).expect("tokenizer")
}

/// The tiny CAPIVARA-shaped model config at the test image size.
pub fn model_config(tokenizer: &TextTokenizer) -> ClipModelConfig {
    presets::tiny_capivara(
        tokenizer.vocab_size(),
        MAX_TOKENS,
        tokenizer.pad_id() as usize,
        IMAGE_SIZE,
    )
}

/// A tiny model with weights from `seed`.
pub fn model(config: &ClipModelConfig, seed: u64) -> ClipModel<Train> {
    model_on(config, seed, &DEVICE)
}

/// [`model`] on backend `B`.
pub fn model_on<B: AutodiffBackend>(
    config: &ClipModelConfig,
    seed: u64,
    device: &B::Device,
) -> ClipModel<B> {
    config.init(seed, device).expect("model")
}

/// A shuffled training loader over `split.lang.jsonl`.
pub fn loader(
    data: &ShapesDataset,
    lang: &str,
    batch_size: usize,
    workers: usize,
    seed: u64,
) -> Loader {
    loader_on(data, lang, batch_size, workers, seed, &DEVICE)
}

/// [`loader`] on backend `B`.
pub fn loader_on<B: Backend>(
    data: &ShapesDataset,
    lang: &str,
    batch_size: usize,
    workers: usize,
    seed: u64,
    device: &B::Device,
) -> LoaderOn<B> {
    let manifest =
        Manifest::load(&data.manifest("train", lang), BadInputPolicy::Fail).expect("manifest");
    DataLoader::new(
        Arc::new(ImageTextDataset::new(manifest)),
        Arc::new(ClipBatcher::new(
            ImageBatcher::new(ClipPreprocess::new(IMAGE_SIZE as u32), BadInputPolicy::Fail),
            tokenizer(),
            CaptionChoice::Random,
        )),
        LoaderConfig {
            batch_size,
            num_workers: workers,
            seed,
            order: Order::Shuffled,
        },
        device.clone(),
    )
}

/// AdamW with a cosine warm-up schedule: the base-stage settings of the built-in recipe.
pub fn train_config(steps: usize, lr_max: f64) -> TrainConfig {
    TrainConfig {
        steps,
        optimizer: OptimizerConfig::Adamw {
            betas: [0.9, 0.98],
            eps: 1e-6,
            weight_decay: 0.1,
        },
        schedule: LrSchedule::CosineWarmup {
            lr_min: 1e-5,
            lr_max,
            warmup_steps: (steps / 10).max(1),
        },
        freeze: Default::default(),
        checkpoint_every: 0,
        keep_checkpoints: 2,
        label_smoothing: 0.0,
        early_stopping: None,
        nan_policy: Default::default(),
        max_skipped_in_a_row: 3,
        micro_batch: None,
        precision: Default::default(),
        loss_scale: Default::default(),
    }
}

/// Text features of two fixed token sequences: a fingerprint of a model's text tower.
pub fn text_features(model: &ClipModel<Train>) -> Vec<f32> {
    let ids = burn::tensor::Tensor::from_ints([[0, 5, 6, 2], [0, 7, 8, 2]], &DEVICE);
    let mask = burn::tensor::Tensor::ones([2, 4], &DEVICE);
    model
        .text_features(ids, mask)
        .into_data()
        .to_vec()
        .expect("f32")
}

/// Text↔image retrieval of `model` on the English held-out split of `data`.
pub fn held_out_recall<B: Backend>(
    model: &ClipModel<B>,
    data: &ShapesDataset,
    device: &B::Device,
) -> polyclip_eval::retrieval::RetrievalMetrics {
    let manifest =
        Manifest::load(&data.manifest("test", "en"), BadInputPolicy::Fail).expect("manifest");
    let mut captions = Vec::new();
    let mut caption_image = Vec::new();
    for (image, entry) in manifest.entries.iter().enumerate() {
        captions.extend(entry.captions.iter().cloned());
        caption_image.extend(std::iter::repeat_n(image, entry.captions.len()));
    }
    let dataset = ImageTextDataset::new(manifest);
    let batcher = Arc::new(ImageBatcher::new(
        ClipPreprocess::new(IMAGE_SIZE as u32),
        BadInputPolicy::Fail,
    ));
    let images = polyclip_eval::encode::embed_image_set(model, &dataset, batcher, 64, 0, device)
        .expect("images");
    let texts = polyclip_eval::encode::embed_texts(model, &tokenizer(), &captions, 256, device)
        .expect("texts");
    polyclip_eval::retrieval::evaluate_retrieval(images, texts, &caption_image)
}
