//! `capivara`: CAPIVARA end to end — base model, Portuguese baseline, CAPIVARA fine-tuning with
//! the vision tower frozen, evaluation — printing the "baseline vs CAPIVARA" table of the model card.
//!
//! `cargo run --release -p recipes --bin capivara` runs the built-in recipe (recipes/capivara.toml) on the
//! embedded shapes dataset; `-- --backend cuda` runs it on a GPU (build with `--features cuda`).

use clap::Parser;
use recipes::cli::RecipeArgs;

/// CAPIVARA: cost-efficient fine-tuning of a multilingual CLIP for a low-resource language.
///
/// Runs the built-in recipe on the embedded multilingual shapes dataset (generated on first use, no download):
/// trains a stand-in base model on English captions (cached in the run folder), evaluates it in Portuguese
/// (the baseline), fine-tunes the text tower on Portuguese captions with the vision tower frozen, evaluates
/// again, and prints the model card's table. The run folder holds report.json, report.md, curves.png,
/// metrics.jsonl per stage and the checkpoints.
#[derive(Parser, Debug)]
#[command(name = "capivara", version)]
struct Cli {
    #[command(flatten)]
    args: RecipeArgs,
}

fn main() {
    recipes::runner::run_built_in("capivara", Cli::parse().args);
}
