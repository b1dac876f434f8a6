//! `clip-italian`: clip-italian — a frozen-backbone stage that trains only the projections, then full
//! fine-tuning, AdaBelief after adaptive gradient clipping, a fixed logit scale of 20 — printing the report's MRR@K and
//! accuracy@K tables.
//!
//! `cargo run --release -p recipes --bin clip-italian` runs the built-in recipe (recipes/clip-italian.toml) on the embedded
//! shapes dataset; `-- --backend cuda` runs it on a GPU (build with `--features cuda`).

use clap::Parser;
use recipes::cli::RecipeArgs;

/// clip-italian: an Italian CLIP from a vision transformer and a BERT, in two stages.
///
/// Runs the built-in recipe on the embedded multilingual shapes dataset (generated on first use, no download):
/// trains stand-in backbones on English captions (cached in the run folder), then stage 1 (new text projection,
/// both backbones frozen) and stage 2 (everything unfrozen) on Italian captions, evaluating after each stage.
/// The run folder holds report.json, report.md, curves.png, metrics.jsonl per stage and the checkpoints.
#[derive(Parser, Debug)]
#[command(name = "clip-italian", version)]
struct Cli {
    #[command(flatten)]
    args: RecipeArgs,
}

fn main() {
    recipes::runner::run_built_in("clip-italian", Cli::parse().args);
}
