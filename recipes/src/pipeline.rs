//! The recipe runner: (a) the base model — trained on the base language or reused from the run folder,
//! (b) its evaluation in the target language (the baseline), (c) the method's fine-tuning stage, (d) the
//! fine-tuned model's evaluation, then `report.json`, `report.md` and `curves.png`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use polyclip_backend::{BackendJob, BackendKind};
use polyclip_checkpoints::{Architecture, LoadedModel};
use polyclip_data::shapes::{Lang, ShapesDataset, ShapesSpec, shapes_tokenizer};
use polyclip_data::{BadInputPolicy, ClipPreprocess, TextTokenizer};
use polyclip_eval::plot::{Panel, Series, save_panels};
use polyclip_eval::report::{Report, ReportRow};
use polyclip_models::{ClipModel, ClipModelConfig, presets};
use serde_json::json;

use crate::config::{ModelPreset, Recipe};
use crate::error::RecipeError;
use crate::evaluate::EvalPlan;
use crate::stage::{StagePlan, StageSummary};

/// How to run a recipe (everything not in the recipe file).
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub run_dir: PathBuf,
    pub resume: bool,
    pub policy: BadInputPolicy,
    pub progress: bool,
    /// A pretrained checkpoint folder replacing the base stage (CAPIVARA starts from open_clip's
    /// xlm-roberta-base-ViT-B-32, or continues from CAPIVARA's own checkpoint).
    pub pretrained: Option<Pretrained>,
}

/// A checkpoint to start from instead of training the base model.
#[derive(Debug, Clone)]
pub struct Pretrained {
    pub dir: PathBuf,
    /// A tokenizer.json to use instead of the folder's.
    pub tokenizer: Option<PathBuf>,
    pub allow_partial: bool,
}

/// What a finished run leaves behind.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub report: Report,
    pub stages: Vec<StageSummary>,
    pub run_dir: PathBuf,
}

/// A recipe run as a [`BackendJob`].
pub struct RecipeJob {
    pub recipe: Recipe,
    pub options: RunOptions,
}

impl BackendJob for RecipeJob {
    type Output = Result<RunOutcome, RecipeError>;

    fn run<B: AutodiffBackend>(self, device: B::Device, backend: BackendKind) -> Self::Output {
        run_recipe::<B>(&self.recipe, &self.options, backend, &device)
    }
}

/// The model config a recipe names, sized to the tokenizer.
pub fn model_config(recipe: &Recipe, vocab_size: usize, pad_id: u32) -> ClipModelConfig {
    match recipe.model.preset {
        ModelPreset::TinyCapivara => presets::tiny_capivara(
            vocab_size,
            recipe.model.max_tokens,
            pad_id as usize,
            recipe.model.image_size,
        ),
    }
}

/// Runs every stage of `recipe` on backend `B`.
pub fn run_recipe<B: AutodiffBackend>(
    recipe: &Recipe,
    options: &RunOptions,
    backend: BackendKind,
    device: &B::Device,
) -> Result<RunOutcome, RecipeError> {
    let started = Instant::now();
    let seed = recipe.recipe.seed;
    B::seed(device, seed);
    let spec = ShapesSpec {
        seed,
        train_images: recipe.data.train_images,
        test_images: recipe.data.test_images,
        image_px: recipe.data.image_px,
    };
    check_languages(recipe)?;
    // The checkpoint is loaded first: a folder the recipe cannot use fails before any data is written.
    let pretrained = options
        .pretrained
        .as_ref()
        .map(|pretrained| load_pretrained::<B>(pretrained, device))
        .transpose()?;
    let data = ShapesDataset::materialize(&spec, &options.run_dir.join("data"))?;
    let (tokenizer, config) = match &pretrained {
        Some(loaded) => (loaded.tokenizer.clone(), loaded.config.clone()),
        None => {
            let tokenizer = shapes_tokenizer(recipe.model.max_tokens)?;
            let config = model_config(recipe, tokenizer.vocab_size(), tokenizer.pad_id());
            (tokenizer, config)
        }
    };
    let preprocess = ClipPreprocess::new(config.vision_config.image_size as u32);
    let stage = |name: &'static str, language: &str, train| StagePlan {
        name,
        dir: options.run_dir.join(name),
        manifest: data.manifest("train", language),
        train,
        model_config: &config,
        tokenizer: &tokenizer,
        preprocess,
        batch_size: recipe.loader.batch_size,
        num_workers: recipe.loader.num_workers,
        seed,
        policy: options.policy,
        progress: options.progress,
        resume: options.resume,
        key: serde_json::Value::Null,
    };

    // (a) The base model: reused when an identical stage already finished in this run folder.
    let mut base = stage("base", &recipe.base.language, &recipe.base.train);
    base.key = json!({ "stage": recipe.base, "model": config, "data": spec, "seed": seed,
                       "batch_size": recipe.loader.batch_size, "image_size": recipe.model.image_size });
    let finished = match pretrained {
        Some(loaded) => Some((loaded.model, base.pretrained_summary(&loaded.dir))),
        None => match base.finished::<B>(device)? {
            Some(model) => Some((model, base.reused_summary()?)),
            None => None,
        },
    };
    let (base_model, base_summary) = match finished {
        Some(done) => done,
        None => {
            let fresh = config.init::<B>(seed, device)?;
            announce(&format!(
                "training the base model on `{}` captions",
                recipe.base.language
            ));
            base.run(fresh, device)?
        }
    };

    // (b) Baseline evaluation in the target language.
    let eval = EvalPlan {
        data: &data,
        language: &recipe.eval.language,
        also_retrieval: &recipe.eval.also_retrieval,
        tokenizer: &tokenizer,
        preprocess,
        batch_size: recipe.eval.batch_size,
        num_workers: recipe.loader.num_workers,
    };
    announce("evaluating the baseline");
    let baseline = eval.evaluate(&base_model.valid(), device)?;

    // (c) The method's fine-tuning stage.
    let finetune = stage(
        "finetune",
        &recipe.finetune.language,
        &recipe.finetune.train,
    );
    announce(&format!(
        "fine-tuning on `{}` captions ({} steps)",
        recipe.finetune.language, recipe.finetune.train.steps
    ));
    let mut base_model = base_model;
    if let Some(lora) = &recipe.finetune.lora {
        let adapted = base_model.attach_text_lora(lora)?;
        announce(&format!(
            "LoRA r={} alpha={} on {} layers of the text encoder (frozen): {} … {}",
            lora.r,
            lora.lora_alpha,
            adapted.len(),
            adapted.first().map_or("", String::as_str),
            adapted.last().map_or("", String::as_str),
        ));
    }
    let (tuned, finetune_summary) = finetune.run(base_model, device)?;

    // (d) Evaluation of the fine-tuned model.
    announce("evaluating the fine-tuned model");
    let finetuned = eval.evaluate(&tuned.valid(), device)?;

    let mut details = BTreeMap::new();
    details.insert("recipe".into(), json!(recipe.recipe.name));
    details.insert("seed".into(), json!(seed));
    details.insert("backend".into(), json!(backend.to_string()));
    details.insert("language".into(), json!(recipe.eval.language));
    details.insert("test_images".into(), json!(recipe.data.test_images));
    details.insert(
        "chance_recall_at_1".into(),
        json!(100.0 / recipe.data.test_images.max(1) as f64),
    );
    details.insert("stages".into(), json!([base_summary, finetune_summary]));
    details.insert("seconds".into(), json!(started.elapsed().as_secs_f64()));
    let report = Report {
        title: format!("{} (seed {seed:03})", recipe.recipe.title),
        details,
        rows: vec![
            ReportRow {
                model: recipe.eval.baseline_name.clone(),
                evaluation: baseline,
            },
            ReportRow {
                model: recipe.eval.finetuned_name.clone(),
                evaluation: finetuned,
            },
        ],
    };
    report.save_json(&options.run_dir.join("report.json"))?;
    let markdown = report.markdown();
    std::fs::write(options.run_dir.join("report.md"), &markdown).map_err(|e| RecipeError::Io {
        path: options.run_dir.join("report.md"),
        source: e,
    })?;
    let curves = [
        (&base, &recipe.base.language),
        (&finetune, &recipe.finetune.language),
    ]
    .into_iter()
    .map(|(plan, language)| -> Result<Panel, RecipeError> {
        let metrics = plan.metrics()?;
        Ok(Panel {
            title: format!("{} ({language})", plan.name),
            x_label: "step".into(),
            y_label: "contrastive loss".into(),
            series: vec![Series {
                label: "loss".into(),
                points: metrics
                    .iter()
                    .map(|m| (m.step as f64, m.loss as f64))
                    .collect(),
                color: [31, 119, 180],
            }],
        })
    })
    .collect::<Result<Vec<_>, _>>()?;
    save_panels(&curves, &options.run_dir.join("curves.png"))?;
    Ok(RunOutcome {
        report,
        stages: vec![base_summary, finetune_summary],
        run_dir: options.run_dir.clone(),
    })
}

/// A checkpoint loaded to start from, with its tokenizer.
struct PretrainedModel<B: AutodiffBackend> {
    dir: PathBuf,
    model: ClipModel<B>,
    config: ClipModelConfig,
    tokenizer: TextTokenizer,
}

fn load_pretrained<B: AutodiffBackend>(
    pretrained: &Pretrained,
    device: &B::Device,
) -> Result<PretrainedModel<B>, RecipeError> {
    let loaded =
        polyclip_checkpoints::load::<B>(&pretrained.dir, pretrained.allow_partial, device)?;
    if !loaded.report.is_complete() {
        announce(&format!(
            "partial load of {}: {}",
            pretrained.dir.display(),
            loaded.report.summary()
        ));
    }
    let (LoadedModel::Dual(model), Architecture::Dual(config)) =
        (loaded.model, loaded.spec.architecture)
    else {
        return Err(RecipeError::NotSupported {
            option: "--model",
            reason: format!(
                "{} is a text encoder without an image tower; the recipe fine-tunes a two-tower CLIP",
                pretrained.dir.display()
            ),
        });
    };
    let text = loaded.spec.text;
    let path = pretrained
        .tokenizer
        .clone()
        .or(text.tokenizer)
        .ok_or_else(|| RecipeError::NotSupported {
            option: "--model",
            reason: format!(
                "{} has no tokenizer.json; add it to the folder or pass --tokenizer FILE",
                pretrained.dir.display()
            ),
        })?;
    let tokenizer = TextTokenizer::from_file(&path, &text.pad_token, text.max_tokens)?
        .with_whitespace_cleaning(text.clean_whitespace);
    announce(&format!(
        "starting from {} ({:?} checkpoint)",
        pretrained.dir.display(),
        loaded.spec.family
    ));
    Ok(PretrainedModel {
        dir: pretrained.dir.clone(),
        model,
        config,
        tokenizer,
    })
}

/// Every language a recipe names must be one the embedded dataset has captions in.
fn check_languages(recipe: &Recipe) -> Result<(), RecipeError> {
    let named = [
        ("base.language", &recipe.base.language),
        ("finetune.language", &recipe.finetune.language),
        ("eval.language", &recipe.eval.language),
    ];
    let extra = recipe
        .eval
        .also_retrieval
        .iter()
        .map(|l| ("eval.also_retrieval", l));
    for (key, language) in named.into_iter().chain(extra) {
        if Lang::from_code(language).is_none() {
            return Err(RecipeError::Invalid {
                key,
                value: format!("{language:?}"),
                reason: "the embedded dataset has captions in en, pt, it, es, de, fr".into(),
            });
        }
    }
    Ok(())
}

fn announce(message: &str) {
    eprintln!("polyclip: {message}");
}
