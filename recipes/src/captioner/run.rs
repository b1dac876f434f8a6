//! Running the captioner recipe: data (the embedded dataset written as CLIP-Vision-mBART50's TSV, or `--data`), the
//! captioner (the tiny preset, or `--model`: HF VisionEncoderDecoder, CLIP-Vision-mBART50's Flax folder, a polyclip
//! captioner), training, evaluation per language, and the report.

use polyclip_models::BuildModel;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::tensor::backend::AutodiffBackend;
use polyclip_backend::{BackendJob, BackendKind};
use polyclip_checkpoints::families::seq2seq::CAPTIONER_CONFIG;
use polyclip_checkpoints::load_seq2seq::CAPTIONER_WEIGHTS;
use polyclip_checkpoints::{Seq2SeqModel, load_seq2seq};
use polyclip_data::mix_seed;
use polyclip_data::{
    BadInputPolicy, CaptionBatcher, CaptionChoice, ClipPreprocess, DataLoader, ImageBatcher,
    ImageTextDataset, LoaderConfig, MBartTokenizer, Manifest, Order,
};
use polyclip_eval::captioning::{caption_metrics, generate_captions, paired_with_references};
use polyclip_eval::plot::Panel;
use polyclip_models::captioner::{Captioner, CaptionerConfig};
use polyclip_models::generation::GenerationConfig;
use polyclip_models::presets;
use polyclip_shapes::{ShapesSpec, shapes_mbart_tokenizer};
use polyclip_train::Trainer;
use polyclip_train::checkpoint::write_json;
use polyclip_train::metrics_log::{StepMetrics, read_metrics};
use polyclip_train::record_file::write_record;
use serde_json::json;

use super::config::{CaptionerPreset, CaptionerRecipe};
use super::report::{CaptionExample, CaptionReport, LanguageResult};
use crate::embedded_data::EmbeddedData;
use crate::error::RecipeError;
use crate::pretrained::Pretrained;
use crate::run_report::write_markdown_and_curves;
use crate::stage::StageSummary;
use polyclip_train::run_lock::RunLock;

/// How to run a captioner recipe (everything not in the recipe file).
#[derive(Debug, Clone)]
pub struct CaptionerOptions {
    pub run_dir: PathBuf,
    pub resume: bool,
    pub policy: BadInputPolicy,
    pub progress: bool,
    pub pretrained: Option<Pretrained>,
    /// A training manifest (CLIP-Vision-mBART50's TSV, or JSONL with `lang`) instead of the embedded dataset.
    pub data: Option<PathBuf>,
    /// An evaluation manifest (each picture's captions with their language) instead of the embedded test split.
    pub eval_data: Option<PathBuf>,
}

/// What a finished run leaves behind.
#[derive(Debug, Clone)]
pub struct CaptionOutcome {
    pub report: CaptionReport,
    pub stage: StageSummary,
    pub run_dir: PathBuf,
}

/// A captioner recipe run as a [`BackendJob`].
pub struct CaptionerJob {
    pub recipe: CaptionerRecipe,
    pub options: CaptionerOptions,
}

impl BackendJob for CaptionerJob {
    type Output = Result<CaptionOutcome, RecipeError>;

    fn run<B: AutodiffBackend>(self, device: B::Device, backend: BackendKind) -> Self::Output {
        run_captioner::<B>(&self.recipe, &self.options, backend, &device)
    }
}

/// The model to train, its config and its tokenizer.
struct Start<B: AutodiffBackend> {
    model: Captioner<B>,
    config: CaptionerConfig,
    tokenizer: MBartTokenizer,
    origin: String,
}

fn start<B: AutodiffBackend>(
    recipe: &CaptionerRecipe,
    pretrained: Option<&Pretrained>,
    device: &B::Device,
) -> Result<Start<B>, RecipeError> {
    let max_tokens = recipe.model.max_tokens;
    let Some(pretrained) = pretrained else {
        let tokenizer = shapes_mbart_tokenizer(max_tokens)?;
        let config = match recipe.model.preset {
            CaptionerPreset::TinyCaptioner => {
                presets::tiny_captioner(tokenizer.vocab_size(), max_tokens, recipe.model.image_size)
            }
        };
        return Ok(Start {
            model: config.init(recipe.recipe.seed, device)?,
            config,
            tokenizer,
            origin: format!("{:?} preset", recipe.model.preset),
        });
    };
    let loaded = load_seq2seq::<B>(&pretrained.dir, pretrained.allow_partial, device)?;
    if !loaded.report.is_complete() {
        eprintln!(
            "polyclip: partial load of {}: {}",
            pretrained.dir.display(),
            loaded.report.summary()
        );
    }
    let (
        Seq2SeqModel::Captioner(model),
        polyclip_checkpoints::families::seq2seq::Seq2SeqArchitecture::Captioner(config),
    ) = (loaded.model, loaded.spec.architecture)
    else {
        return Err(RecipeError::NotSupported {
            option: "--model",
            reason: format!(
                "{} is a text-to-text model; the captioner needs an image encoder (VisionEncoderDecoder, \
                 clip-vision-mbart or a polyclip captioner)",
                pretrained.dir.display()
            ),
        });
    };
    let path = pretrained
        .tokenizer
        .clone()
        .or(loaded.spec.tokenizer)
        .ok_or_else(|| RecipeError::NotSupported {
            option: "--model",
            reason: format!(
                "{} has no tokenizer.json; pass the mBART-50 tokenizer with --tokenizer FILE",
                pretrained.dir.display()
            ),
        })?;
    Ok(Start {
        model,
        config,
        tokenizer: MBartTokenizer::from_file(&path, max_tokens)?,
        origin: format!("{} ({:?})", pretrained.dir.display(), loaded.spec.family),
    })
}

/// Trains, evaluates and reports.
pub fn run_captioner<B: AutodiffBackend>(
    recipe: &CaptionerRecipe,
    options: &CaptionerOptions,
    backend: BackendKind,
    device: &B::Device,
) -> Result<CaptionOutcome, RecipeError> {
    let started = Instant::now();
    recipe.train.refuse_contrastive_only()?;
    let seed = recipe.recipe.seed;
    B::seed(device, seed);
    let Start {
        model,
        config,
        tokenizer,
        origin,
    } = start::<B>(recipe, options.pretrained.as_ref(), device)?;
    // Taken once the model is known to be usable, before anything is written.
    let _lock = RunLock::acquire(&options.run_dir)?;
    eprintln!("polyclip: captioner from {origin}");
    let spec = ShapesSpec {
        seed,
        train_images: recipe.data.train_images,
        test_images: recipe.data.test_images,
        image_px: recipe.data.image_px,
    };
    // Generated only when the training or the evaluation reads it.
    let embedded = EmbeddedData::new(spec, options.run_dir.join("data"));
    let preprocess = ClipPreprocess::new(config.encoder.image_size as u32);

    // Training on captions of every language, mixed in each batch.
    let train_dir = options.run_dir.join("train");
    let (model, stage) = if recipe.train.steps == 0 {
        let stage = StageSummary {
            name: "train (skipped: 0 steps)".into(),
            reused: false,
            steps: 0,
            final_loss: None,
            seconds: 0.0,
            samples_per_s: None,
            skipped_inputs: 0,
        };
        (model, stage)
    } else {
        let manifest = match &options.data {
            Some(path) => path.clone(),
            None => embedded.get()?.captions_tsv(
                "train",
                &recipe.data.languages,
                recipe.data.captions_per_picture,
            )?,
        };
        train(
            recipe, options, &config, &tokenizer, preprocess, &manifest, model, &train_dir, device,
        )?
    };
    let model_dir = options.run_dir.join("captioner");
    save_captioner(&model, &config, &tokenizer, &model_dir)?;

    // Evaluation per language.
    eprintln!("polyclip: captioning the test pictures");
    let generation = GenerationConfig {
        num_beams: recipe.eval.num_beams,
        max_length: recipe.eval.max_length,
        length_penalty: recipe.eval.length_penalty,
        no_repeat_ngram_size: recipe.eval.no_repeat_ngram_size,
        ..GenerationConfig::for_mbart(&config.decoder)
    };
    let inference = model.valid();
    let images = Arc::new(ImageBatcher::new(preprocess, options.policy));
    let mut languages = Vec::new();
    for language in &recipe.eval.languages {
        let manifest = match &options.eval_data {
            Some(path) => language_subset(&Manifest::load(path, options.policy)?, language)?,
            None => Manifest::load(&embedded.get()?.manifest("test", language), options.policy)?,
        };
        let references: Vec<Vec<String>> = manifest
            .entries
            .iter()
            .map(|e| e.captions.clone())
            .collect();
        let pictures: Vec<String> = manifest
            .entries
            .iter()
            .map(|e| e.image.to_string())
            .collect();
        let dataset = ImageTextDataset::new(manifest);
        let captions = generate_captions(
            &inference,
            &dataset,
            images.clone(),
            &tokenizer,
            &generation,
            language,
            recipe.eval.batch_size,
            recipe.loader.num_workers,
            device,
        )?;
        let (hypotheses, paired) = paired_with_references(&captions, &references);
        let metrics = caption_metrics(&hypotheses, &paired, recipe.eval.bleu_batch_size);
        let examples = captions
            .iter()
            .take(3)
            .map(|caption| CaptionExample {
                image: pictures[caption.index].clone(),
                generated: caption.text.clone(),
                reference: references[caption.index]
                    .first()
                    .cloned()
                    .unwrap_or_default(),
            })
            .collect();
        languages.push(LanguageResult {
            language: language.clone(),
            metrics,
            examples,
        });
    }

    let mut details = BTreeMap::new();
    details.insert("recipe".into(), json!(recipe.recipe.name));
    details.insert("seed".into(), json!(seed));
    details.insert("backend".into(), json!(backend.to_string()));
    details.insert("model".into(), json!(origin));
    details.insert("train_languages".into(), json!(recipe.data.languages));
    details.insert("bleu_batch_size".into(), json!(recipe.eval.bleu_batch_size));
    details.insert("generation".into(), json!(generation));
    details.insert("stage".into(), json!(stage));
    details.insert("seconds".into(), json!(started.elapsed().as_secs_f64()));
    let report = CaptionReport {
        title: format!("{} (seed {seed:03})", recipe.recipe.title),
        details,
        languages,
    };
    report.save_json(&options.run_dir.join("report.json"))?;
    let curves = if train_dir.join("metrics.jsonl").is_file() {
        let metrics = read_metrics(&train_dir.join("metrics.jsonl"))?;
        let points = metrics.iter().map(StepMetrics::point).collect();
        vec![Panel::loss_curve(
            "captioner (masked cross-entropy)",
            "loss",
            points,
        )]
    } else {
        Vec::new()
    };
    write_markdown_and_curves(&options.run_dir, &report.markdown(), &curves)?;
    Ok(CaptionOutcome {
        report,
        stage,
        run_dir: options.run_dir.clone(),
    })
}

/// The entries of `manifest` in `language`.
fn language_subset(manifest: &Manifest, language: &str) -> Result<Manifest, RecipeError> {
    let entries: Vec<_> = manifest
        .entries
        .iter()
        .filter(|e| e.lang.as_deref() == Some(language))
        .cloned()
        .collect();
    if entries.is_empty() {
        return Err(RecipeError::Invalid {
            key: "eval.languages",
            value: format!("{language:?}"),
            reason: format!(
                "{} has no caption in that language",
                manifest.path.display()
            ),
        });
    }
    Ok(Manifest {
        path: manifest.path.clone(),
        entries,
        skipped: Vec::new(),
    })
}

#[allow(clippy::too_many_arguments)]
fn train<B: AutodiffBackend>(
    recipe: &CaptionerRecipe,
    options: &CaptionerOptions,
    config: &CaptionerConfig,
    tokenizer: &MBartTokenizer,
    preprocess: ClipPreprocess,
    manifest: &Path,
    model: Captioner<B>,
    dir: &Path,
    device: &B::Device,
) -> Result<(Captioner<B>, StageSummary), RecipeError> {
    let started = Instant::now();
    let resume = options.resume && dir.join("checkpoints").join("latest").is_file();
    if !resume && dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| RecipeError::Io {
            path: dir.to_owned(),
            source: e,
        })?;
    }
    let manifest = Manifest::load(manifest, options.policy)?;
    let mut skipped = manifest.skipped.len();
    eprintln!(
        "polyclip: training the captioner on {} captions of {} ({} steps)",
        manifest.entries.len(),
        manifest.path.display(),
        recipe.train.steps
    );
    let batcher = Arc::new(CaptionBatcher::new(
        ImageBatcher::new(preprocess, options.policy),
        tokenizer.clone(),
        CaptionChoice::Random,
        config.decoder.decoder_start() as u32,
    ));
    let loader = DataLoader::new(
        Arc::new(ImageTextDataset::new(manifest)),
        batcher.clone(),
        LoaderConfig {
            batch_size: recipe.loader.batch_size,
            num_workers: recipe.loader.num_workers,
            seed: mix_seed(&[recipe.recipe.seed, 2]),
            order: Order::Shuffled,
        },
        device.clone(),
    );
    let mut trainer = Trainer::new(recipe.train.clone(), dir);
    trainer.progress = options.progress;
    let outcome = trainer.fit(model, &loader, resume, device)?;
    skipped += batcher.images.take_skipped().len();
    let stage = StageSummary {
        name: "train".into(),
        reused: false,
        steps: recipe.train.steps,
        final_loss: outcome.losses.last().copied(),
        seconds: started.elapsed().as_secs_f64(),
        samples_per_s: Some(outcome.samples_per_s),
        skipped_inputs: skipped,
    };
    Ok((outcome.model, stage))
}

/// Writes a polyclip captioner folder: `captioner.json`, `model.mpk`, `tokenizer.json`.
fn save_captioner<B: AutodiffBackend>(
    model: &Captioner<B>,
    config: &CaptionerConfig,
    tokenizer: &MBartTokenizer,
    dir: &Path,
) -> Result<(), RecipeError> {
    std::fs::create_dir_all(dir).map_err(|e| RecipeError::Io {
        path: dir.to_owned(),
        source: e,
    })?;
    let weights = dir.join(CAPTIONER_WEIGHTS);
    write_record::<B, _>(model.clone().into_record(), &weights)?;
    write_json(&dir.join(CAPTIONER_CONFIG), config)?;
    tokenizer.save(&dir.join("tokenizer.json"))?;
    Ok(())
}
