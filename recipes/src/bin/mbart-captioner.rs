//! `mbart-captioner`: the multilingual image captioner CLIP-Vision-mBART50 — a CLIP vision
//! encoder into an mBART-50 decoder, trained on captions of several languages mixed in every batch, evaluated
//! per language with beam search, printing the model card's BLEU table.
//!
//! `cargo run --release -p recipes --bin mbart-captioner` runs the built-in recipe
//! (recipes/mbart-captioner.toml) on the embedded shapes dataset.

use std::path::{Path, PathBuf};

use clap::Parser;
use recipes::RecipeError;
use recipes::captioner::cli::{CaptionerArgs, main_with};
use recipes::cli::CommonArgs;

use recipes::built_in::CAPTIONER;

const BUILT_IN: &str = CAPTIONER.2;
const BUILT_IN_PATH: &str = CAPTIONER.1;

/// CLIP-Vision-mBART50: multilingual image captioning.
///
/// Runs the built-in recipe on the embedded multilingual shapes dataset (generated on first use and written
/// as CLIP-Vision-mBART50's TSV, `image_file, caption, lang_id`): trains a tiny captioner (CLIP vision → projection →
/// mBART decoder) on English, Spanish, German and French captions mixed in every batch, then captions the
/// held-out pictures in each language with beam search (the language code forced first) and prints BLEU-1..4
/// per language as the model card does (averaged over batches of 512 pictures), with corpus BLEU and CIDEr.
/// With --model it starts from an HF VisionEncoderDecoder (CLIP vision + mBART) folder, CLIP-Vision-mBART50's Flax folder
/// (config.json + flax_model.msgpack) or a polyclip captioner folder; --steps 0 evaluates it as it is.
#[derive(Parser, Debug)]
#[command(name = "mbart-captioner", version)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    /// Training steps; overrides the recipe's `train.steps` (0: evaluate only).
    #[arg(long)]
    steps: Option<usize>,
    /// A training manifest instead of the embedded dataset: CLIP-Vision-mBART50's TSV (`image_file`, `caption`,
    /// `lang_id`) or JSONL with `lang`.
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    /// An evaluation manifest (captions with their language) instead of the embedded test split.
    #[arg(long, value_name = "FILE")]
    eval_data: Option<PathBuf>,
}

fn run(cli: Cli) -> Result<(), RecipeError> {
    let args = CaptionerArgs {
        steps: cli.steps,
        data: cli.data,
        eval_data: cli.eval_data,
    };
    main_with(&cli.common, &args, BUILT_IN, Path::new(BUILT_IN_PATH))
}

fn main() {
    if let Err(error) = run(Cli::parse()) {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}
