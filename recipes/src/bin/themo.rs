//! `themo`: Themo — a Spanish BERT student distilled with MSE into a CLIP teacher's text space
//! on parallel sentences, early stopping on held-out pairs — printing the README's accuracy@K / retrieval@K table
//! (`--baseline`: the teacher alone with Spanish queries).
//!
//! `cargo run --release -p recipes --bin themo` runs the built-in recipe (recipes/themo.toml) on the embedded
//! shapes dataset; `-- --backend cuda` runs it on a GPU (build with `--features cuda`).

use clap::Parser;
use recipes::cli::RecipeArgs;

/// Themo: a Spanish text encoder distilled into CLIP's text space.
///
/// Runs the built-in recipe on the embedded multilingual shapes dataset (generated on first use, no download):
/// trains a stand-in teacher CLIP on English captions (cached in the run folder), evaluates it with Spanish
/// queries (the baseline), distils a new Spanish text encoder onto its features of the parallel English
/// captions, and evaluates the student with the teacher's vision tower. `--set stage.distill.distill.head=mclip`
/// runs the Multilingual-CLIP variant.
#[derive(Parser, Debug)]
#[command(name = "themo", version)]
struct Cli {
    #[command(flatten)]
    args: RecipeArgs,
}

fn main() {
    recipes::runner::run_built_in("themo", Cli::parse().args);
}
