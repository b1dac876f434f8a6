//! The recipe runner: the recipe's stages in order, each starting from the model the previous one left (the
//! first from the preset's fresh weights, or `--model`), each reused from the run folder when an identical
//! stage already finished there; an evaluation after every stage with a `report` name; then `report.json`,
//! `report.md` (in the recipe's table layout) and `curves.png`.

use polyclip_models::BuildModel;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use polyclip_backend::{BackendJob, BackendKind};
use polyclip_checkpoints::{Architecture, LoadedModel};
use polyclip_data::Manifest;
use polyclip_data::mix_seed;
use polyclip_data::text::tokenizer_training::train_xlmr_style_bpe;
use polyclip_data::{BadInputPolicy, ClipPreprocess, ReadOptions, TextTokenizer};
use polyclip_eval::plot::{Panel, save_panels};
use polyclip_eval::report::{Report, ReportRow};
use polyclip_eval::suite::EvalSuite;
use polyclip_models::{ClipModel, ClipModelConfig};
use polyclip_shapes::{Lang, ShapesSpec, shapes_tokenizer};
use polyclip_train::metrics_log::StepMetrics;
use polyclip_train::trainable::unfreeze;
use serde_json::json;

use crate::config::{Recipe, Stage, TokenizerChoice};
use crate::distill::{run_distill_stage, student_config};
use crate::embedded_data::EmbeddedData;
use crate::error::RecipeError;
use crate::evaluate::EvalPlan;
use crate::model_config::model_config;
use crate::reinit::reinitialize;
use crate::scoring::Scorer;
use crate::stage::{StagePlan, StageSummary};
use crate::stage_key::StageKey;

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
    recipe.validate()?;
    check_languages(recipe)?;
    // The checkpoint is loaded first: a folder the recipe cannot use fails before any data is written.
    let mut pretrained = options
        .pretrained
        .as_ref()
        .map(|pretrained| load_pretrained::<B>(pretrained, device))
        .transpose()?;
    // Generated into the run folder only when something needs it (see EmbeddedData).
    let data = EmbeddedData::new(spec.clone(), options.run_dir.join("data"));
    let (tokenizer, config, preprocess) = match &pretrained {
        Some(loaded) => (
            loaded.tokenizer.clone(),
            loaded.config.clone(),
            loaded.preprocess,
        ),
        None => {
            let tokenizer = recipe_tokenizer(recipe, &data)?;
            let config = model_config(recipe, tokenizer.vocab_size(), tokenizer.pad_id())?;
            let preprocess = ClipPreprocess::new(config.vision_config.image_size as u32);
            (tokenizer, config, preprocess)
        }
    };
    let suite = recipe
        .eval
        .suite
        .as_ref()
        .map(|suite| EvalSuite::load(suite, recipe.eval.data_root.as_deref()))
        .transpose()?;
    let eval = EvalPlan {
        suite: suite.as_ref(),
        policy: options.policy,
        data: &data,
        language: &recipe.eval.language,
        also_retrieval: &recipe.eval.also_retrieval,
        tokenizer: &tokenizer,
        preprocess,
        batch_size: recipe.eval.batch_size,
        num_workers: recipe.loader.num_workers,
    };

    let scorer = Scorer {
        tokenizer: &tokenizer,
        preprocess,
        batch_size: recipe.eval.batch_size,
        num_workers: recipe.loader.num_workers,
    };

    // Each stage's key holds everything that determines its result, its predecessors' included: a finished
    // stage with the same key is reused from the run folder.
    let mut chain_key = json!({
        "model": config, "data": spec, "seed": seed, "batch_size": recipe.loader.batch_size,
        "image_size": recipe.model.image_size, "tokenizer": recipe.model.tokenizer,
        "pretrained": options.pretrained.as_ref().map(|p| p.dir.clone()),
        "train_data": recipe.data.train, "stream": recipe.loader.stream,
    });
    // The model config after each stage (a distillation stage swaps the text tower for its student's).
    let stage_configs: Vec<ClipModelConfig> = recipe
        .stages
        .iter()
        .scan(config.clone(), |current, stage| {
            if let Some(distill) = &stage.distill {
                *current = student_config(current, distill, &tokenizer);
            }
            Some(current.clone())
        })
        .collect();
    let mut model: Option<ClipModel<B>> = None;
    let mut rows = Vec::new();
    let mut summaries = Vec::new();
    let mut plans = Vec::new();
    for (index, stage) in recipe.stages.iter().enumerate() {
        let key = json!({ "after": chain_key, "stage": stage });
        let mut plan = StagePlan {
            name: stage.name.clone(),
            dir: options.run_dir.join(&stage.name),
            data: train_data(recipe, &data, &stage.language)?,
            language: stage.language.clone(),
            stream: recipe.loader.stream,
            captions: stage.captions,
            augment: stage.augment.clone(),
            save_adapter: stage.lora.is_some(),
            train: &stage.train,
            model_config: &stage_configs[index],
            tokenizer: &tokenizer,
            preprocess,
            batch_size: recipe.loader.batch_size,
            num_workers: recipe.loader.num_workers,
            seed,
            policy: options.policy,
            progress: options.progress,
            resume: options.resume,
            key: StageKey::new(key.clone()),
        };
        let replaced = (index == 0 && stage.pretrained)
            .then(|| pretrained.take())
            .flatten();
        let reusable = stage.lora.is_none() && stage.reinit.is_empty();
        // Stages with LoRA adapters or re-initialised modules are always retrained.
        let finished = if replaced.is_none() && reusable {
            plan.finished::<B>(device)?
        } else {
            Err(None)
        };
        let (trained, summary) = if let Some(loaded) = replaced {
            let summary = plan.pretrained_summary(&loaded.dir);
            (loaded.model, summary)
        } else if let Ok(done) = finished {
            announce(&format!(
                "stage `{}`: reused from {} (same configuration {} and code)",
                stage.name,
                plan.dir.display(),
                plan.key.hash
            ));
            (done, plan.reused_summary()?)
        } else {
            if let Err(Some(why)) = &finished {
                announce(&format!("stage `{}`: not reused: {why}", stage.name));
            }
            let start = match model.take() {
                Some(previous) => previous,
                None => match pretrained.take() {
                    Some(loaded) => loaded.model,
                    None => config.init::<B>(seed, device)?,
                },
            };
            announce(&format!(
                "stage `{}`: {} steps on `{}` captions",
                stage.name, stage.train.steps, stage.language
            ));
            match &stage.distill {
                Some(distill) => {
                    if recipe.data.train.contains_key(&stage.language) {
                        return Err(RecipeError::NotSupported {
                            option: "[data] train for a distillation stage",
                            reason: format!(
                                "stage `{}` distils on parallel captions, which only the embedded dataset has; \
                                 remove `{}` from [data] train",
                                stage.name, stage.language
                            ),
                        });
                    }
                    run_distill_stage(&plan, start, distill, data.get()?, &stage.language, device)?
                }
                None => {
                    if stage.captions.needs_similarities() && !has_similarities(&plan)? {
                        let scored = options
                            .run_dir
                            .join("scored")
                            .join(format!("{}.train.{}.jsonl", stage.name, stage.language));
                        announce(&format!(
                            "scoring the `{}` training captions with the stage's starting model into {}",
                            stage.language,
                            scored.display()
                        ));
                        create_parent(&scored)?;
                        plan.data = scorer
                            .score(&start.valid(), &plan.data, &stage.language, &scored, device)?
                            .display()
                            .to_string();
                    }
                    let start =
                        prepare_stage(start, stage, &stage_configs[index], seed, index, device)?;
                    plan.run(start, device)?
                }
            }
        };
        if let Some(row_name) = &stage.report {
            announce(&format!("evaluating after stage `{}`", stage.name));
            rows.push(ReportRow {
                model: row_name.clone(),
                evaluation: eval.evaluate(&trained.valid(), device)?,
            });
        }
        model = Some(trained);
        summaries.push(summary);
        plans.push(plan);
        chain_key = key;
    }

    let mut details = BTreeMap::new();
    details.insert("recipe".into(), json!(recipe.recipe.name));
    details.insert("seed".into(), json!(seed));
    details.insert("backend".into(), json!(backend.to_string()));
    details.insert("language".into(), json!(recipe.eval.language));
    match &recipe.eval.suite {
        Some(suite) => {
            details.insert("eval_suite".into(), json!(suite));
        }
        None => {
            details.insert("test_images".into(), json!(recipe.data.test_images));
            details.insert(
                "chance_recall_at_1".into(),
                json!(100.0 / recipe.data.test_images.max(1) as f64),
            );
        }
    }
    if !recipe.data.train.is_empty() {
        details.insert("train_data".into(), json!(recipe.data.train));
    }
    details.insert("stages".into(), json!(summaries));
    details.insert("seconds".into(), json!(started.elapsed().as_secs_f64()));
    let report = Report {
        title: format!("{} (seed {seed:03})", recipe.recipe.title),
        layout: recipe.eval.layout,
        details,
        rows,
    };
    report.save_json(&options.run_dir.join("report.json"))?;
    let markdown = report.markdown();
    std::fs::write(options.run_dir.join("report.md"), &markdown).map_err(|e| RecipeError::Io {
        path: options.run_dir.join("report.md"),
        source: e,
    })?;
    let curves = plans
        .iter()
        .zip(&summaries)
        .filter(|(_, summary)| summary.steps > 0)
        .map(|(plan, _)| -> Result<Panel, RecipeError> {
            let points = plan.metrics()?.iter().map(StepMetrics::point).collect();
            Ok(Panel::loss_curve(&plan.name, "contrastive loss", points))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !curves.is_empty() {
        save_panels(&curves, &options.run_dir.join("curves.png"))?;
    }
    Ok(RunOutcome {
        report,
        stages: summaries,
        run_dir: options.run_dir.clone(),
    })
}

/// The training data of `language`: the recipe's `[data] train` entry, else the embedded captions.
fn train_data(recipe: &Recipe, data: &EmbeddedData, language: &str) -> Result<String, RecipeError> {
    match recipe.data.train.get(language) {
        Some(path) => Ok(path.clone()),
        None => Ok(data
            .get()?
            .manifest("train", language)
            .display()
            .to_string()),
    }
}

/// Whether every entry of a stage's data already has its similarities (CAPIVARA's scored shards).
fn has_similarities(plan: &StagePlan) -> Result<bool, RecipeError> {
    let manifest = Manifest::open(
        &plan.data,
        &ReadOptions::new(plan.policy, Some(&plan.language)),
    )?;
    Ok(manifest
        .entries
        .iter()
        .all(|entry| !entry.similarities.is_empty()))
}

/// The tokenizer of a recipe without `--model`: the embedded one, or one trained on the training captions of
/// every language the recipe names (stages, distillation teachers, evaluation) and its zero-shot prompts.
fn recipe_tokenizer(recipe: &Recipe, data: &EmbeddedData) -> Result<TextTokenizer, RecipeError> {
    let TokenizerChoice::Train { vocab_size } = recipe.model.tokenizer else {
        return Ok(shapes_tokenizer(recipe.model.max_tokens)?);
    };
    let mut languages: Vec<&str> = recipe
        .stages
        .iter()
        .flat_map(|stage| {
            std::iter::once(stage.language.as_str())
                .chain(stage.distill.as_ref().map(|d| d.teacher_language.as_str()))
        })
        .chain(std::iter::once(recipe.eval.language.as_str()))
        .chain(recipe.eval.also_retrieval.iter().map(String::as_str))
        .collect();
    languages.sort_unstable();
    languages.dedup();
    let mut corpus = Vec::new();
    for language in &languages {
        let manifest = Manifest::open(
            &train_data(recipe, data, language)?,
            &ReadOptions::new(BadInputPolicy::Fail, Some(language)),
        )?;
        corpus.extend(
            manifest
                .entries
                .into_iter()
                .flat_map(|entry| entry.captions.into_iter().chain(entry.generated_captions)),
        );
        let Ok((_, sets)) = data.get()?.classification(language) else {
            continue;
        };
        for set in sets {
            for name in &set.classnames {
                corpus.extend(set.templates.iter().map(|t| t.replacen("{}", name, 1)));
            }
        }
    }
    announce(&format!(
        "training a {vocab_size}-entry tokenizer on {} captions and prompts in {}",
        corpus.len(),
        languages.join(", ")
    ));
    let trained = train_xlmr_style_bpe(&corpus, vocab_size)?;
    Ok(TextTokenizer::new(
        trained,
        "<trained>",
        "<pad>",
        recipe.model.max_tokens,
    )?)
}

fn create_parent(path: &std::path::Path) -> Result<(), RecipeError> {
    let parent = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| RecipeError::Io {
        path: parent.to_owned(),
        source: e,
    })
}

/// Gets a model ready for a stage: every parameter trainable again (a previous stage may have frozen some), the
/// stage's fresh parts drawn, its LoRA adapters attached. The stage's own `freeze` is applied by the trainer.
fn prepare_stage<B: AutodiffBackend>(
    model: ClipModel<B>,
    stage: &Stage,
    config: &ClipModelConfig,
    seed: u64,
    index: usize,
    device: &B::Device,
) -> Result<ClipModel<B>, RecipeError> {
    let model = unfreeze(model);
    let mut model = if stage.reinit.is_empty() {
        model
    } else {
        let fresh = config.init::<B>(mix_seed(&[seed, index as u64 + 1]), device)?;
        reinitialize(model, fresh, &stage.reinit)?
    };
    if let Some(lora) = &stage.lora {
        let adapted = model.attach_text_lora(lora)?;
        announce(&format!(
            "LoRA r={} alpha={} on {} layers of the text encoder (frozen): {} … {}",
            lora.r,
            lora.lora_alpha,
            adapted.len(),
            adapted.first().map_or("", String::as_str),
            adapted.last().map_or("", String::as_str),
        ));
    }
    Ok(model)
}

/// A checkpoint loaded to start from, with its tokenizer.
struct PretrainedModel<B: AutodiffBackend> {
    dir: PathBuf,
    model: ClipModel<B>,
    config: ClipModelConfig,
    tokenizer: TextTokenizer,
    preprocess: ClipPreprocess,
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
    // The image transform is the checkpoint's own (open_clip's preprocess_cfg, HF's preprocessor_config.json).
    let preprocess = loaded.spec.preprocess;
    let (LoadedModel::Dual(model), Architecture::Dual(config), Some(preprocess)) =
        (loaded.model, loaded.spec.architecture, preprocess)
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
        preprocess,
    })
}

/// Every language a recipe names must be one the embedded dataset has captions in.
fn check_languages(recipe: &Recipe) -> Result<(), RecipeError> {
    let named = recipe
        .stages
        .iter()
        .flat_map(|stage| {
            std::iter::once(("stage.language", &stage.language)).chain(
                stage
                    .distill
                    .as_ref()
                    .map(|distill| ("stage.distill.teacher_language", &distill.teacher_language)),
            )
        })
        .chain(std::iter::once(("eval.language", &recipe.eval.language)))
        .chain(
            recipe
                .eval
                .also_retrieval
                .iter()
                .map(|l| ("eval.also_retrieval", l)),
        );
    for (key, language) in named {
        let real = match key {
            "stage.language" => recipe.data.train.contains_key(language.as_str()),
            "eval.language" | "eval.also_retrieval" => recipe.eval.suite.is_some(),
            _ => false,
        };
        if !real && Lang::from_code(language).is_none() {
            return Err(RecipeError::Invalid {
                key,
                value: format!("{language:?}"),
                reason: format!(
                    "the embedded dataset has captions in {}",
                    Lang::ALL.map(Lang::code).join(", ")
                ),
            });
        }
    }
    Ok(())
}

fn announce(message: &str) {
    eprintln!("polyclip: {message}");
}
