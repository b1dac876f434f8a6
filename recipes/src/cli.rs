//! Command-line options of the recipe binaries: [`CommonArgs`] every recipe takes, and the CAPIVARA recipe's
//! own ([`RecipeArgs`]).

use std::path::{Path, PathBuf};

use clap::Args;
use polyclip_backend::{BackendKind, run_job_with};
use polyclip_data::BadInputPolicy;
use polyclip_train::data_parallel::Nodes;

use crate::config::Recipe;
use crate::error::RecipeError;
use crate::pipeline::RecipeJob;
use crate::pretrained::Pretrained;
use crate::run_options::RunOptions;

/// Options every recipe binary takes (`--help` of each lists them).
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Compute backend. `cuda` and `tch` need the binary built with `--features cuda` / `--features tch`.
    #[arg(long, value_enum, default_value_t = BackendKind::Flex)]
    pub backend: BackendKind,
    /// Train data-parallel on several devices of one backend, one peer (thread) per device, each with its slice of
    /// every batch: `--devices cuda:0,cuda:1` (the backend is the devices'; `flex:0,flex:1` shares the CPU, for
    /// tests). Contrastive stages only.
    #[arg(long, value_name = "KIND:N,KIND:N")]
    pub devices: Option<polyclip_backend::DeviceList>,
    /// Train data-parallel across this many machines (nodes), each running this same command with its own
    /// --node-rank and --node-address and the same --coordinator; each node trains on its --devices (or its one
    /// --backend device), all nodes with as many. Contrastive stages only.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub num_nodes: usize,
    /// This machine's rank among --num-nodes, from 0 (each node its own). Node 0 hosts the coordinator.
    #[arg(long, value_name = "I")]
    pub node_rank: Option<usize>,
    /// Where the nodes meet (node 0's address and a free port), the same on every node: burn-collective's
    /// orchestrator, which node 0 starts.
    #[arg(long, value_name = "HOST:PORT")]
    pub coordinator: Option<polyclip_train::data_parallel::HostPort>,
    /// Where the other nodes reach this one: this machine's address and a free port of its own (its gradients are
    /// served there).
    #[arg(long, value_name = "HOST:PORT")]
    pub node_address: Option<polyclip_train::data_parallel::HostPort>,
    /// With --num-nodes: how long an operation between nodes waits for the others before this node gives up with
    /// a message (a machine that froze or dropped off the network closes no connection).
    #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
    pub collective_timeout: u64,
    /// Recipe TOML to run instead of the built-in one (see `--print-recipe` for the format).
    #[arg(long, value_name = "FILE")]
    pub recipe: Option<PathBuf>,
    /// Override any recipe value: `--set stage.finetune.train.steps=100`, `--set loader.batch_size=64`,
    /// `--set 'stage.finetune.lora.target_modules=["query","key","value"]'` (repeatable; `stage.NAME` picks a
    /// stage by name).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Print the recipe that would run, as TOML, and exit.
    #[arg(long)]
    pub print_recipe: bool,
    /// Run folder: generated data, models, checkpoints, metrics.jsonl, report.json, report.md, curves.png.
    /// Default: runs/<recipe name>-seed<seed>.
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Random seed (data order, caption draws, initial weights); overrides the recipe's.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Batch size; overrides the recipe's `loader.batch_size`.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Data-loading threads; overrides the recipe's `loader.num_workers`.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Continue an interrupted run from its newest checkpoint (the stage it stopped in).
    #[arg(long)]
    pub resume: bool,
    /// With --resume: continue a checkpoint even when it was made with other settings or another polyclip
    /// (its stage folder says what differs), instead of refusing.
    #[arg(long, requires = "resume")]
    pub resume_anyway: bool,
    /// Count and skip bad manifest lines and undecodable images instead of stopping at the first one.
    #[arg(long)]
    pub skip_bad: bool,
    /// Hide the progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Start from a pretrained checkpoint: a folder (see each recipe's --help) or hf:ORG/NAME. Its
    /// tokenizer.json (or --tokenizer) tokenizes the captions.
    #[arg(long, value_name = "DIR|hf:ORG/NAME")]
    pub model: Option<String>,
    /// A tokenizer.json for --model when its folder has none.
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
    /// With --model: load even if keys are missing, unexpected or mis-shaped (listed as a warning).
    #[arg(long)]
    pub allow_partial: bool,
}

impl CommonArgs {
    /// How to treat bad inputs.
    pub fn policy(&self) -> BadInputPolicy {
        if self.skip_bad {
            BadInputPolicy::Skip
        } else {
            BadInputPolicy::Fail
        }
    }

    /// `--run-dir`, else `runs/<name>-seed<seed>`.
    pub fn run_dir(&self, name: &str, seed: u64) -> PathBuf {
        self.run_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("runs").join(format!("{name}-seed{seed:03}")))
    }

    /// `--num-nodes`, `--node-rank`, `--coordinator`, `--node-address`: this node's place in a job of several
    /// machines (`None` for one machine).
    pub fn nodes(&self) -> Result<Option<Nodes>, RecipeError> {
        let missing = |option: &'static str| RecipeError::Missing {
            option,
            reason: format!(
                "--num-nodes {} needs it on every node (see the README's \"Several GPUs and several machines\")",
                self.num_nodes
            ),
        };
        if self.num_nodes == 1
            && self.node_rank.is_none()
            && self.coordinator.is_none()
            && self.node_address.is_none()
        {
            return Ok(None);
        }
        if self.num_nodes < 2 {
            return Err(RecipeError::Missing {
                option: "--num-nodes",
                reason: "--node-rank, --coordinator and --node-address are for a job of several machines; give \
                         --num-nodes N (N ≥ 2) with them"
                    .into(),
            });
        }
        let node_rank = self.node_rank.ok_or_else(|| missing("--node-rank"))?;
        let coordinator = self
            .coordinator
            .clone()
            .ok_or_else(|| missing("--coordinator"))?;
        let node_address = self
            .node_address
            .clone()
            .ok_or_else(|| missing("--node-address"))?;
        Ok(Some(
            Nodes::new(self.num_nodes, node_rank, coordinator, node_address)?
                .with_timeout(std::time::Duration::from_secs(self.collective_timeout))?,
        ))
    }

    /// `--model`, resolved (the Hub cache for `hf:` names).
    pub fn pretrained(&self) -> Result<Option<Pretrained>, RecipeError> {
        self.model
            .as_ref()
            .map(|model| {
                Ok(Pretrained {
                    dir: polyclip_checkpoints::hub::resolve(model)?,
                    tokenizer: self.tokenizer.clone(),
                    allow_partial: self.allow_partial,
                })
            })
            .transpose()
    }
}

/// The CAPIVARA recipe's options.
#[derive(Debug, Clone, Args)]
pub struct RecipeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Steps of the last stage (the method's fine-tuning); same as `--set stage.NAME.train.steps=N`.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Steps of the first stage when it stands in for a pretrained model (`pretrained = true`).
    #[arg(long)]
    pub base_steps: Option<usize>,
    /// Evaluate only the starting model (the first stage, or --model), as Themo's `test --baseline`.
    #[arg(long)]
    pub baseline: bool,
    /// The float type of every contrastive stage's forward and backward passes: `bf16` trains in mixed precision
    /// over f32 weights, `f16` too with dynamic loss scaling (same as `--set stage.NAME.train.precision=bf16` on
    /// each).
    #[arg(long, value_name = "f32|bf16|f16")]
    pub precision: Option<polyclip_train::Precision>,
    /// Real training data for the stages of one caption language: `--train pt=cc3m-pt/{00000..00165}.tar`
    /// (WebDataset shards, CAPIVARA's JSON keys) or `--train it=train.jsonl` (a manifest); repeatable. Stages of
    /// other languages keep the embedded captions. The same as `[data] train` in the recipe.
    #[arg(long = "train", value_name = "LANG=PATH")]
    pub train: Vec<String>,
    /// Evaluate with this suite (datasets/suites/*.toml) instead of the embedded held-out sets.
    #[arg(long, value_name = "FILE")]
    pub eval_suite: Option<PathBuf>,
    /// Where the suite's relative paths start.
    #[arg(long, value_name = "DIR")]
    pub data_root: Option<PathBuf>,
}

impl RecipeArgs {
    /// The recipe to run: the file given with `--recipe` or the built-in one, with command-line overrides.
    pub fn recipe(&self, built_in: &str, built_in_name: &Path) -> Result<Recipe, RecipeError> {
        let common = &self.common;
        let mut recipe = match &common.recipe {
            Some(path) => Recipe::load_with(path, &common.overrides)?,
            None => Recipe::parse_with(built_in, built_in_name, &common.overrides)?,
        };
        if let Some(seed) = common.seed {
            recipe.recipe.seed = seed;
        }
        for assignment in &self.train {
            let Some((language, path)) = assignment.split_once('=') else {
                return Err(RecipeError::Invalid {
                    key: "--train",
                    value: assignment.clone(),
                    reason: "expected LANG=PATH, e.g. pt=cc3m-pt/{00000..00165}.tar".into(),
                });
            };
            recipe
                .data
                .train
                .insert(language.trim().to_owned(), path.to_owned());
        }
        if let Some(suite) = &self.eval_suite {
            recipe.eval.suite = Some(suite.clone());
        }
        if let Some(root) = &self.data_root {
            recipe.eval.data_root = Some(root.clone());
        }
        if let Some(steps) = self.steps
            && let Some(last) = recipe.stages.last_mut()
        {
            last.train.steps = steps;
        }
        if let Some(steps) = self.base_steps {
            match recipe.stages.first_mut() {
                Some(first) if first.pretrained => first.train.steps = steps,
                _ => {
                    return Err(RecipeError::Invalid {
                        key: "--base-steps",
                        value: steps.to_string(),
                        reason: "the recipe's first stage is not a stand-in for a pretrained model"
                            .into(),
                    });
                }
            }
        }
        if let Some(precision) = self.precision {
            for stage in recipe
                .stages
                .iter_mut()
                .filter(|stage| stage.distill.is_none())
            {
                stage.train.precision = precision;
            }
        }
        if let Some(batch_size) = common.batch_size {
            recipe.loader.batch_size = batch_size;
        }
        if let Some(workers) = common.workers {
            recipe.loader.num_workers = workers;
        }
        if self.baseline {
            match recipe.stages.first() {
                Some(first) if first.pretrained && first.report.is_some() => {
                    recipe.stages.truncate(1)
                }
                _ => {
                    return Err(RecipeError::Invalid {
                        key: "--baseline",
                        value: "true".into(),
                        reason: "the recipe's first stage must be a reported stand-in for a pretrained model \
                                 (pretrained = true, report = \"…\")"
                            .into(),
                    });
                }
            }
        }
        if recipe.loader.batch_size < 2 {
            return Err(RecipeError::Invalid {
                key: "loader.batch_size",
                value: recipe.loader.batch_size.to_string(),
                reason: "a contrastive batch needs at least 2 pairs".into(),
            });
        }
        Ok(recipe)
    }

    /// How to run, besides the recipe.
    pub fn options(&self, recipe: &Recipe) -> Result<RunOptions, RecipeError> {
        Ok(RunOptions {
            run_dir: self.common.run_dir(&recipe.recipe.name, recipe.recipe.seed),
            resume: self.common.resume,
            resume_anyway: self.common.resume_anyway,
            policy: self.common.policy(),
            progress: !self.common.no_progress,
            pretrained: self.common.pretrained()?,
            devices: self.common.devices.clone(),
            nodes: self.common.nodes()?,
        })
    }
}

/// The stage runner's command line (contrastive and distillation recipes; the runner module picks it): resolve
/// the recipe, run it on the chosen backend, print the table.
pub fn main_with(
    args: RecipeArgs,
    built_in: &str,
    built_in_name: &Path,
) -> Result<(), RecipeError> {
    let recipe = args.recipe(built_in, built_in_name)?;
    if args.common.print_recipe {
        print!("{}", recipe.to_toml()?);
        return Ok(());
    }
    let options = args.options(&recipe)?;
    let checkpointing = recipe.model.gradient_checkpointing;
    let backend = args
        .common
        .devices
        .as_ref()
        .map_or(args.common.backend, |devices| devices.kind);
    let outcome = run_job_with(backend, checkpointing, RecipeJob { recipe, options })??;
    println!("{}", outcome.report.markdown());
    for stage in &outcome.stages {
        println!("{}", stage.line());
    }
    println!(
        "run folder: {} (report.json, report.md, curves.png)",
        outcome.run_dir.display()
    );
    Ok(())
}
