//! `polyclip`: use any supported checkpoint from the command line.
//!
//! `--model` takes a local folder (Hugging Face CLIPModel or VisionTextDualEncoder, open_clip, a CAPIVARA
//! `.ckpt` folder, Multilingual-CLIP, a Themo-style student, or a polyclip run's stage folder) or
//! `hf:ORG/NAME` (the Hugging Face cache, downloading when online).

mod error;
mod model;
mod npy;
mod run;
mod seq2seq;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use polyclip_backend::{BackendKind, run_job};

use crate::run::CommandJob;

#[derive(Parser, Debug)]
#[command(
    name = "polyclip",
    version,
    about = "Embed, classify, compare and export with CLIP-style checkpoints"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options every command shares.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Checkpoint folder or hf:ORG/NAME[@REVISION].
    #[arg(long, value_name = "DIR|hf:ORG/NAME")]
    pub model: String,
    /// Compute backend (cuda and tch need the binary built with `--features cuda` / `--features tch`).
    #[arg(long, value_enum, default_value_t = BackendKind::Ndarray)]
    pub backend: BackendKind,
    /// Load even if keys are missing, unexpected or mis-shaped (they are listed as a warning).
    #[arg(long)]
    pub allow_partial: bool,
    /// A tokenizer.json to use instead of the one in the model folder.
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
    /// For a text encoder without an image tower (Multilingual-CLIP): the CLIP checkpoint whose image tower and
    /// logit scale it pairs with (M-CLIP's XLM-R text encoders pair with OpenAI's CLIP ViT-B/32).
    #[arg(long, value_name = "DIR|hf:ORG/NAME")]
    pub image_model: Option<String>,
    /// Images or texts per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Embed images and/or texts into L2-normalised vectors.
    ///
    /// Output `jsonl` (default): one line per input, `{"kind": "image"|"text", "input": …, "embedding": […]}`,
    /// to --output or stdout. Output `npy`: float32 arrays `[n, dim]` in input order, written to
    /// `<output>.images.npy` and/or `<output>.texts.npy` (--output required).
    Embed {
        #[command(flatten)]
        model: ModelArgs,
        /// Image files.
        #[arg(long, num_args = 1..)]
        images: Vec<PathBuf>,
        /// Texts.
        #[arg(long, num_args = 1..)]
        texts: Vec<String>,
        /// A file with one text per line.
        #[arg(long)]
        text_file: Option<PathBuf>,
        /// `jsonl` or `npy`.
        #[arg(long, value_enum, default_value_t = run::OutputFormat::Jsonl)]
        format: run::OutputFormat,
        /// Output file (jsonl) or path prefix (npy).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Zero-shot classification of one image among candidate labels (clip-italian's demo): each label goes
    /// through every template, class embeddings are averaged, and the probabilities are the softmax of the
    /// model's scaled cosine similarities.
    Classify {
        #[command(flatten)]
        model: ModelArgs,
        /// The image.
        #[arg(long)]
        image: PathBuf,
        /// Candidate labels.
        #[arg(long, num_args = 1..)]
        labels: Vec<String>,
        /// A file with one label per line.
        #[arg(long)]
        label_file: Option<PathBuf>,
        /// Prompt templates with `{}` for the label (default: the label alone).
        #[arg(long, num_args = 1..)]
        templates: Vec<String>,
        /// How many labels to print.
        #[arg(long, default_value_t = 5)]
        top: usize,
    },
    /// Cosine similarities between images and texts (a row per image), with the model's logits.
    Similarity {
        #[command(flatten)]
        model: ModelArgs,
        #[arg(long, num_args = 1.., required = true)]
        images: Vec<PathBuf>,
        #[arg(long, num_args = 1.., required = true)]
        texts: Vec<String>,
    },
    /// Caption images with an image captioner: an HF VisionEncoderDecoder folder (CLIP vision + mBART decoder),
    /// seed 002's Flax folder (config.json + flax_model.msgpack) or a polyclip captioner. Prints
    /// `image<TAB>caption` per image.
    Caption {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        generation: seq2seq::GenerateArgs,
        #[arg(long, num_args = 1.., required = true)]
        images: Vec<PathBuf>,
        /// The caption's language (ISO `es` or mBART-50 `es_XX`), forced as the first token.
        #[arg(long)]
        lang: String,
    },
    /// Translate texts with an mBART-50 many-to-many model (e.g. facebook/mbart-large-50-many-to-many-mmt):
    /// the source language code leads the input, the target code is forced first. One line per text.
    Translate {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        generation: seq2seq::GenerateArgs,
        /// Source language (`en` or `en_XX`).
        #[arg(long)]
        src: String,
        /// Target language (`pt` or `pt_XX`).
        #[arg(long)]
        tgt: String,
        #[arg(long, num_args = 1..)]
        texts: Vec<String>,
        /// A file with one text per line.
        #[arg(long)]
        text_file: Option<PathBuf>,
    },
    /// Translate every caption of a manifest (JSONL with `captions`, or the captioner seed's TSV) in batches,
    /// with a progress bar, and write it in the same format (by --output's extension) in the target language.
    TranslateManifest {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        generation: seq2seq::GenerateArgs,
        #[arg(long)]
        src: String,
        #[arg(long)]
        tgt: String,
        /// The manifest to translate.
        #[arg(long)]
        input: PathBuf,
        /// Where to write the translated manifest (.jsonl, or .tsv for the seed's format).
        #[arg(long)]
        output: PathBuf,
        /// Count and skip bad manifest lines instead of stopping.
        #[arg(long)]
        skip_bad: bool,
    },
    /// Write the model in a layout the Python references load: `hf` (transformers CLIPModel or
    /// VisionTextDualEncoder, by text tower), `open-clip`, or `natural` (the model's own kind; M-CLIP text
    /// encoders always use M-CLIP's layout).
    Export {
        #[command(flatten)]
        model: ModelArgs,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t = run::ExportChoice::Natural)]
        format: run::ExportChoice,
    },
}

impl Command {
    fn model_args(&self) -> &ModelArgs {
        match self {
            Command::Embed { model, .. }
            | Command::Classify { model, .. }
            | Command::Similarity { model, .. }
            | Command::Export { model, .. }
            | Command::Caption { model, .. }
            | Command::Translate { model, .. }
            | Command::TranslateManifest { model, .. } => model,
        }
    }
}

fn main() {
    let cli = Cli::parse();
    let backend = cli.command.model_args().backend;
    let outcome = run_job(backend, CommandJob(cli.command)).map_err(error::CliError::from);
    if let Err(error) = outcome.and_then(|result| result) {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}
