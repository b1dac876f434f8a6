//! The recipe runner: [`RunPlan`] resolves the run, then the recipe's stages run in order ([`run_stage`]), each
//! starting from the model the previous one left (the first from the recipe's fresh weights, or `--model`),
//! each reused from the run folder when an identical stage already finished there, with an evaluation after
//! every stage with a `report` name; [`write_report`] ends the run.

use std::path::PathBuf;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use polyclip_backend::{BackendJob, BackendKind};
use polyclip_data::sources::data_spec::data_identity;
use polyclip_data::{Manifest, ReadOptions, mix_seed};
use polyclip_eval::plot::Panel;
use polyclip_eval::report::{Report, ReportRow};
use polyclip_models::{BuildModel, ClipModel, ClipModelConfig};
use polyclip_train::metrics_log::StepMetrics;
use polyclip_train::trainable::unfreeze;
use serde_json::{Value, json};

use crate::announce::announce;
use crate::config::{Recipe, Stage};
use crate::distill::{Teacher, run_distill_stage};
use crate::error::RecipeError;
use crate::evaluate::EvalPlan;
use crate::pretrained::PretrainedModel;
use crate::reinit::reinitialize;
use crate::run_options::RunOptions;
use crate::run_plan::{RunPlan, train_data};
use crate::run_report::{RunResults, write_report};
use crate::scoring::Scorer;
use crate::stage::{StagePlan, StageSummary};
use crate::stage_key::StageKey;
use polyclip_train::run_lock::RunLock;

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
    let several = options.nodes.is_some()
        || options
            .devices
            .as_ref()
            .is_some_and(|d| d.ordinals.len() > 1);
    if let Some(stage) = recipe
        .stages
        .iter()
        .find(|stage| several && stage.distill.is_some())
    {
        return Err(RecipeError::NotSupported {
            option: if options.nodes.is_some() {
                "--num-nodes"
            } else {
                "--devices"
            },
            reason: format!(
                "stage `{}` distils, and only contrastive stages train on several devices; give one device",
                stage.name
            ),
        });
    }
    B::seed(device, recipe.recipe.seed);
    // The checkpoint is loaded first: a folder the recipe cannot use fails before anything is written, even the
    // run folder.
    let mut pretrained = options
        .pretrained
        .as_ref()
        .map(|pretrained| pretrained.load::<B>(device))
        .transpose()?;
    // One run at a time writes a run folder; held until this function returns, however it returns.
    let _lock = RunLock::acquire(&options.run_dir)?;
    let plan = RunPlan::new(recipe, options, pretrained.as_ref())?;
    // Each stage's key holds everything that determines its result, its predecessors' included: a finished
    // stage with the same key is reused from the run folder. A stage's real training data counts by its files'
    // sizes and modification times, not only by its name (and only that stage's data: another language's does
    // not retrain it).
    let mut chain_key = json!({
        "model": plan.start.config, "data": plan.spec, "seed": recipe.recipe.seed,
        "batch_size": recipe.loader.batch_size, "image_size": recipe.model.image_size,
        "tokenizer": recipe.model.tokenizer,
        "pretrained": options.pretrained.as_ref().map(|p| p.dir.clone()),
        "stream": recipe.loader.stream,
    });
    let mut model: Option<ClipModel<B>> = None;
    let mut results = RunResults {
        rows: Vec::new(),
        stages: Vec::new(),
        curves: Vec::new(),
        elapsed: Default::default(),
    };
    for index in 0..recipe.stages.len() {
        let language = &recipe.stages[index].language;
        let data = match recipe.data.train.get(language) {
            Some(spec) => json!({ "train": spec, "files": data_identity(spec)? }),
            None => json!("embedded"),
        };
        let key = json!({ "after": chain_key, "stage": recipe.stages[index], "data": data });
        let start = if index == 0 && recipe.stages[index].pretrained {
            Start::Replaced(pretrained.take())
        } else {
            Start::From(model.take(), &mut pretrained)
        };
        let (trained, summary, stage) =
            run_stage(recipe, options, &plan, index, &key, start, device)?;
        if let Some(row_name) = &recipe.stages[index].report {
            announce(&format!("evaluating after stage `{}`", stage.name));
            let eval = EvalPlan {
                suite: plan.suite.as_ref(),
                policy: options.policy,
                data: &plan.data,
                language: &recipe.eval.language,
                also_retrieval: &recipe.eval.also_retrieval,
                tokenizer: &plan.stages[index].tokenizer,
                preprocess: plan.preprocess,
                batch_size: recipe.eval.batch_size,
                num_workers: recipe.loader.num_workers,
            };
            results.rows.push(ReportRow {
                model: row_name.clone(),
                evaluation: eval.evaluate(&trained.valid(), device)?,
            });
        }
        if summary.steps > 0 {
            let points = stage.metrics()?.iter().map(StepMetrics::point).collect();
            let mut panel = Panel::loss_curve(&stage.name, "contrastive loss", points);
            let evaluated = recipe.stages[index].report.is_some();
            if let Some(headline) = results
                .rows
                .last()
                .filter(|_| evaluated)
                .and_then(|row| row.evaluation.headline())
            {
                panel = panel.mark_end(&headline);
            }
            results.curves.push(panel);
        }
        model = Some(trained);
        results.stages.push(summary);
        chain_key = key;
    }
    results.elapsed = started.elapsed();
    let report = write_report(recipe, options, backend, &results)?;
    Ok(RunOutcome {
        report,
        stages: results.stages,
        run_dir: options.run_dir.clone(),
    })
}

/// Where a stage's model comes from (one per stage: the variants' size difference does not matter).
#[allow(clippy::large_enum_variant)]
enum Start<'a, B: AutodiffBackend> {
    /// The stage stands in for a pretrained model and `--model` gave one (taken, when present).
    Replaced(Option<PretrainedModel<B>>),
    /// The previous stage's model; for the first stage, `--model` or fresh weights.
    From(Option<ClipModel<B>>, &'a mut Option<PretrainedModel<B>>),
}

/// Runs stage `index`: replaced by the pretrained checkpoint, reused from the run folder, or trained (a
/// contrastive stage, CAPIVARA's captions scored first when its strategy needs them, or a distillation).
fn run_stage<'p, B: AutodiffBackend>(
    recipe: &'p Recipe,
    options: &RunOptions,
    plan: &'p RunPlan,
    index: usize,
    key: &Value,
    start: Start<'_, B>,
    device: &B::Device,
) -> Result<(ClipModel<B>, StageSummary, StagePlan<'p>), RecipeError> {
    let stage = &recipe.stages[index];
    let (before, after) = (plan.before(index), &plan.stages[index]);
    let mut stage_plan = StagePlan {
        name: stage.name.clone(),
        dir: options.run_dir.join(&stage.name),
        data: train_data(recipe, &plan.data, &stage.language)?,
        language: stage.language.clone(),
        stream: recipe.loader.stream,
        captions: stage.captions,
        augment: stage.augment.clone(),
        save_adapter: stage.lora.is_some(),
        train: &stage.train,
        model_config: &after.config,
        tokenizer: &after.tokenizer,
        preprocess: plan.preprocess,
        batch_size: recipe.loader.batch_size,
        num_workers: recipe.loader.num_workers,
        seed: recipe.recipe.seed,
        policy: options.policy,
        progress: options.progress,
        resume: options.resume,
        resume_anyway: options.resume_anyway,
        key: StageKey::new(key.clone()),
    };
    let (previous, pretrained) = match start {
        Start::Replaced(Some(loaded)) => {
            let summary = stage_plan.pretrained_summary(&loaded.dir);
            return Ok((loaded.model, summary, stage_plan));
        }
        Start::Replaced(None) => (None, None),
        Start::From(previous, pretrained) => (previous, Some(pretrained)),
    };
    // Stages with LoRA adapters or re-initialised modules are always retrained.
    if stage.lora.is_none() && stage.reinit.is_empty() {
        match stage_plan.finished::<B>(device)? {
            Ok(done) => {
                announce(&format!(
                    "stage `{}`: reused from {} (same configuration {} and code)",
                    stage.name,
                    stage_plan.dir.display(),
                    stage_plan.key.hash
                ));
                let summary = stage_plan.reused_summary()?;
                return Ok((done, summary, stage_plan));
            }
            Err(Some(why)) => announce(&format!("stage `{}`: not reused: {why}", stage.name)),
            Err(None) => {}
        }
    }
    let start = match (previous, pretrained.and_then(Option::take)) {
        (Some(previous), _) => previous,
        (None, Some(loaded)) => loaded.model,
        (None, None) => before.config.init::<B>(recipe.recipe.seed, device)?,
    };
    announce(&format!(
        "stage `{}`: {} steps on `{}` captions",
        stage.name, stage.train.steps, stage.language
    ));
    let (trained, summary) = match &stage.distill {
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
            let teacher = Teacher {
                model: start,
                tokenizer: &before.tokenizer,
            };
            run_distill_stage(
                &stage_plan,
                teacher,
                distill,
                after.student.as_ref(),
                plan.data.get()?,
                &stage.language,
                device,
            )?
        }
        None => {
            if stage.captions.needs_similarities() && !has_similarities(&stage_plan)? {
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
                let scorer = Scorer {
                    tokenizer: &before.tokenizer,
                    preprocess: plan.preprocess,
                    batch_size: recipe.eval.batch_size,
                    num_workers: recipe.loader.num_workers,
                };
                stage_plan.data = scorer
                    .score(
                        &start.valid(),
                        &stage_plan.data,
                        &stage.language,
                        &scored,
                        device,
                    )?
                    .display()
                    .to_string();
            }
            let start = prepare_stage(
                start,
                stage,
                &after.config,
                recipe.recipe.seed,
                index,
                device,
            )?;
            let mut devices = options
                .devices
                .as_ref()
                .map_or_else(Vec::new, |devices| devices.devices(device));
            if devices.is_empty() && options.nodes.is_some() {
                devices.push(device.clone());
            }
            let nodes = options.nodes.as_ref();
            let peers = devices.len() * nodes.map_or(1, |nodes| nodes.num_nodes);
            if peers > 1 {
                announce(&format!(
                    "stage `{}`: data-parallel on {} devices{}, at most {} rows of each batch per device",
                    stage.name,
                    peers,
                    nodes.map_or_else(String::new, |nodes| format!(
                        " of {} machines (this one is node {})",
                        nodes.num_nodes, nodes.node_rank
                    )),
                    recipe.loader.batch_size.div_ceil(peers)
                ));
            }
            stage_plan.run(start, device, &devices, nodes)?
        }
    };
    Ok((trained, summary, stage_plan))
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
