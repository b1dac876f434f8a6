//! The captioner runner's command line: what `mbart-captioner` and `recipe run` (for a file whose `[recipe] kind`
//! is `captioner`) both call.

use std::path::{Path, PathBuf};

use polyclip_backend::run_job;

use crate::captioner::{CaptionerJob, CaptionerOptions, CaptionerRecipe};
use crate::cli::{CommonArgs, RecipeArgs};
use crate::config::to_toml;
use crate::error::RecipeError;

/// The captioner's own options besides [`CommonArgs`].
#[derive(Debug, Clone, Default)]
pub struct CaptionerArgs {
    /// Overrides the recipe's `train.steps` (0: evaluate only).
    pub steps: Option<usize>,
    /// A training manifest instead of the embedded dataset.
    pub data: Option<PathBuf>,
    /// An evaluation manifest instead of the embedded test split.
    pub eval_data: Option<PathBuf>,
}

/// Resolves the captioner recipe `text` (from `source`; `--recipe` replaces it), runs it on the chosen backend
/// and prints the BLEU table.
pub fn main_with(
    common: &CommonArgs,
    args: &CaptionerArgs,
    text: &str,
    source: &Path,
) -> Result<(), RecipeError> {
    let mut recipe = match &common.recipe {
        Some(path) => CaptionerRecipe::load_with(path, &common.overrides)?,
        None => CaptionerRecipe::parse_with(text, source, &common.overrides)?,
    };
    if let Some(seed) = common.seed {
        recipe.recipe.seed = seed;
    }
    if let Some(steps) = args.steps {
        recipe.train.steps = steps;
    }
    if let Some(batch_size) = common.batch_size {
        recipe.loader.batch_size = batch_size;
    }
    if let Some(workers) = common.workers {
        recipe.loader.num_workers = workers;
    }
    if common.print_recipe {
        print!("{}", to_toml(&recipe)?);
        return Ok(());
    }
    if common.devices.is_some() {
        return Err(RecipeError::NotSupported {
            option: "--devices",
            reason: "the captioner trains on one device; use --backend".into(),
        });
    }
    if common.nodes()?.is_some() {
        return Err(RecipeError::NotSupported {
            option: "--num-nodes",
            reason: "the captioner trains on one machine".into(),
        });
    }
    let options = CaptionerOptions {
        run_dir: common.run_dir(&recipe.recipe.name, recipe.recipe.seed),
        resume: common.resume,
        policy: common.policy(),
        progress: !common.no_progress,
        pretrained: common.pretrained()?,
        data: args.data.clone(),
        eval_data: args.eval_data.clone(),
    };
    let outcome = run_job(common.backend, CaptionerJob { recipe, options })??;
    println!("{}", outcome.report.markdown());
    println!("{}", outcome.stage.line());
    println!(
        "run folder: {} (report.json, report.md, curves.png, captioner/)",
        outcome.run_dir.display()
    );
    Ok(())
}

/// The options of a captioner recipe (`recipe run` on a file of that kind): `--steps`; the options only
/// stage recipes have are refused in one line.
pub fn captioner_args(args: &RecipeArgs) -> Result<CaptionerArgs, RecipeError> {
    let refused = [
        ("--base-steps", args.base_steps.is_some()),
        ("--train", !args.train.is_empty()),
        ("--eval-suite", args.eval_suite.is_some()),
        ("--data-root", args.data_root.is_some()),
        ("--baseline", args.baseline),
    ];
    if let Some((option, _)) = refused.iter().find(|(_, given)| *given) {
        return Err(RecipeError::NotSupported {
            option,
            reason: "a captioner recipe ([recipe] kind = \"captioner\") has one training stage; use --steps, \
                     or mbart-captioner's --data / --eval-data for real data"
                .into(),
        });
    }
    Ok(CaptionerArgs {
        steps: args.steps,
        ..Default::default()
    })
}
