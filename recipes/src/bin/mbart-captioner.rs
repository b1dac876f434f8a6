//! `mbart-captioner`: the multilingual image captioner of seed 002 (CLIP-Vision-mBART50) — a CLIP vision
//! encoder into an mBART-50 decoder, trained on captions of several languages mixed in every batch, evaluated
//! per language with beam search, printing the model card's BLEU table.
//!
//! `cargo run --release -p recipes --bin mbart-captioner` runs the built-in recipe
//! (recipes/mbart-captioner.toml) on the embedded shapes dataset.

use std::path::{Path, PathBuf};

use clap::Parser;
use polyclip_backend::run_job;
use recipes::RecipeError;
use recipes::captioner::{CaptionerJob, CaptionerOptions, CaptionerRecipe};
use recipes::cli::CommonArgs;
use recipes::config::to_toml;

const BUILT_IN: &str = include_str!("../../mbart-captioner.toml");

/// CLIP-Vision-mBART50: multilingual image captioning.
///
/// Runs the built-in recipe on the embedded multilingual shapes dataset (generated on first use and written
/// as the seed's TSV, `image_file, caption, lang_id`): trains a tiny captioner (CLIP vision → projection →
/// mBART decoder) on English, Spanish, German and French captions mixed in every batch, then captions the
/// held-out pictures in each language with beam search (the language code forced first) and prints BLEU-1..4
/// per language as the model card does (averaged over batches of 512 pictures), with corpus BLEU and CIDEr.
/// With --model it starts from an HF VisionEncoderDecoder (CLIP vision + mBART) folder, seed 002's Flax folder
/// (config.json + flax_model.msgpack) or a polyclip captioner folder; --steps 0 evaluates it as it is.
#[derive(Parser, Debug)]
#[command(name = "mbart-captioner", version)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    /// Training steps; overrides the recipe's `train.steps` (0: evaluate only).
    #[arg(long)]
    steps: Option<usize>,
    /// A training manifest instead of the embedded dataset: the seed's TSV (`image_file`, `caption`,
    /// `lang_id`) or JSONL with `lang`.
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    /// An evaluation manifest (captions with their language) instead of the embedded test split.
    #[arg(long, value_name = "FILE")]
    eval_data: Option<PathBuf>,
}

fn run(cli: Cli) -> Result<(), RecipeError> {
    let common = &cli.common;
    let mut recipe = match &common.recipe {
        Some(path) => CaptionerRecipe::load_with(path, &common.overrides)?,
        None => CaptionerRecipe::parse_with(
            BUILT_IN,
            Path::new("recipes/mbart-captioner.toml"),
            &common.overrides,
        )?,
    };
    if let Some(seed) = common.seed {
        recipe.recipe.seed = seed;
    }
    if let Some(steps) = cli.steps {
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
    let options = CaptionerOptions {
        run_dir: common.run_dir(&recipe.recipe.name, recipe.recipe.seed),
        resume: common.resume,
        policy: common.policy(),
        progress: !common.no_progress,
        pretrained: common.pretrained()?,
        data: cli.data.clone(),
        eval_data: cli.eval_data.clone(),
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

fn main() {
    if let Err(error) = run(Cli::parse()) {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}
