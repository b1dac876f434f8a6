//! `capivara-opt`: CAPIVARA + Opt. — capivara's method with the text encoder frozen and LoRA adapters (r=8,
//! alpha=8, `query`/`value`) trained with the projection head and the temperature.
//!
//! `cargo run --release -p recipes --bin capivara-opt` runs the built-in recipe (recipes/capivara-opt.toml) on
//! the embedded shapes dataset; `-- --backend cuda` runs it on a GPU (build with `--features cuda`).

use clap::Parser;
use recipes::cli::RecipeArgs;

/// CAPIVARA + Opt.: CAPIVARA with LoRA adapters on the text encoder.
///
/// Runs the built-in recipe on the embedded multilingual shapes dataset (generated on first use, no download):
/// trains a stand-in base model on English captions (cached in the run folder), evaluates it in Portuguese
/// (the baseline), fine-tunes LoRA adapters of the text tower on Portuguese captions with the vision tower frozen, evaluates
/// again, and prints the model card's table. The run folder holds report.json, report.md, curves.png,
/// metrics.jsonl per stage and the checkpoints.
#[derive(Parser, Debug)]
#[command(name = "capivara-opt", version)]
struct Cli {
    #[command(flatten)]
    args: RecipeArgs,
}

fn main() {
    recipes::runner::run_built_in("capivara-opt", Cli::parse().args);
}
