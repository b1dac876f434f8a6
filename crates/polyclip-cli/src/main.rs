//! `polyclip`: use any supported checkpoint from the command line.
//!
//! `--model` takes a local folder (Hugging Face CLIPModel or VisionTextDualEncoder, open_clip, a CAPIVARA
//! `.ckpt` folder, Multilingual-CLIP, a Themo-style student, or a polyclip run's stage folder) or
//! `hf:ORG/NAME` (the Hugging Face cache, downloading when online).

mod error;
mod evaluate;
mod index_pictures;
mod merge;
mod model;
mod npy;
mod parts;
mod prepare;
mod run;
mod seq2seq;
mod serve;
mod zero_shot;

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
    #[arg(long, value_enum, default_value_t = BackendKind::Flex)]
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
    /// CLIP-Vision-mBART50's Flax folder (config.json + flax_model.msgpack) or a polyclip captioner. Prints
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
    /// Translate every caption of a manifest (JSONL with `captions`, or CLIP-Vision-mBART50's TSV) in batches,
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
        /// Where to write the translated manifest (.jsonl, or .tsv for CLIP-Vision-mBART50's format).
        #[arg(long)]
        output: PathBuf,
        /// Count and skip bad manifest lines instead of stopping.
        #[arg(long)]
        skip_bad: bool,
    },
    /// Evaluate on the benchmark sets of a suite file that are present (retrieval R@1/5/10 and mean recall,
    /// MRR@K, zero-shot classification with the shipped class names and prompts) and write report.json and
    /// report.md in the suite's table layout (capivara, clip-italian or themo). The suite format is documented
    /// in datasets/suites/README.md; datasets/suites/ has the methods' suites.
    Eval {
        #[command(flatten)]
        model: ModelArgs,
        /// The suite file (TOML).
        #[arg(long)]
        suite: PathBuf,
        /// Where the suite's relative paths start (default: the suite file's folder).
        #[arg(long)]
        data_root: Option<PathBuf>,
        /// Output folder for report.json and report.md.
        #[arg(long)]
        out: PathBuf,
        /// The model's row in the tables (default: the checkpoint folder's name).
        #[arg(long)]
        name: Option<String>,
        /// Add the model as a row of the report already in --out (a row of the same name is replaced).
        #[arg(long)]
        append: bool,
        /// Count and skip missing or corrupt images instead of stopping.
        #[arg(long)]
        skip_bad: bool,
        /// Image decoding threads.
        #[arg(long, default_value_t = 2)]
        num_workers: usize,
        /// A folder of class-name files instead of datasets/classnames.
        #[arg(long)]
        classnames: Option<PathBuf>,
    },
    /// Turn a caption set (JSONL/TSV manifest or WebDataset shards) into CAPIVARA-style training shards for a new
    /// language: captions translated with an mBART-50 translator (`captions-<tgt>`), optional synthetic captions
    /// from an image captioner (`generated-captions-<tgt>`), optional similarity scores from a base CLIP model
    /// (`similarities-<tgt>`, what filter_by_ranking ranks by).
    Prepare {
        /// The input: a manifest file or a shard pattern (`shards/{00000..00009}.tar`).
        #[arg(long)]
        input: String,
        /// The input captions' language (`en`).
        #[arg(long)]
        src: String,
        /// The language to prepare (`pt`).
        #[arg(long)]
        tgt: String,
        /// Output folder for the shards.
        #[arg(long)]
        out: PathBuf,
        /// The mBART-50 many-to-many translation model.
        #[arg(long)]
        translator: String,
        #[arg(long)]
        translator_tokenizer: Option<PathBuf>,
        /// An image captioner (CLIP vision + mBART-50 decoder) for synthetic captions.
        #[arg(long)]
        captioner: Option<String>,
        #[arg(long)]
        captioner_tokenizer: Option<PathBuf>,
        /// A CLIP model to score every caption against its image (CAPIVARA: its base model).
        #[arg(long)]
        scorer: Option<String>,
        #[arg(long)]
        scorer_tokenizer: Option<PathBuf>,
        #[command(flatten)]
        generation: seq2seq::GenerateArgs,
        /// Samples per shard.
        #[arg(long, default_value_t = 10_000)]
        per_shard: usize,
        #[arg(long, value_enum, default_value_t = BackendKind::Flex)]
        backend: BackendKind,
        /// Texts or images per forward pass.
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        #[arg(long, default_value_t = 2)]
        num_workers: usize,
        /// Count and skip bad samples instead of stopping.
        #[arg(long)]
        skip_bad: bool,
        #[command(flatten)]
        part: parts::PartArgs,
    },
    /// Embed a folder of pictures (searched recursively for .jpg/.jpeg/.png/.webp/.gif), a manifest or WebDataset shards
    /// into an index folder for `polyclip serve`. Running it again on the same --out continues an interrupted
    /// run, or brings the index up to date with a folder that has changed (only new pictures are embedded).
    Index {
        #[command(flatten)]
        model: ModelArgs,
        /// A folder of pictures, a manifest (JSONL/TSV/CSV) or a shard pattern (`shards/{00000..00009}.tar`).
        #[arg(long, value_name = "DIR|MANIFEST|SHARDS")]
        images: String,
        /// The index folder.
        #[arg(long)]
        out: PathBuf,
        /// Count and skip pictures that cannot be decoded instead of stopping.
        #[arg(long)]
        skip_bad: bool,
        /// `auto` builds an HNSW graph from 500 000 pictures on; `approximate` always, `exact` never.
        #[arg(long, value_enum, default_value_t = SearchChoice::Auto)]
        search: SearchChoice,
        #[command(flatten)]
        part: parts::PartArgs,
    },
    /// Number the shards of several `prepare --shard-index I --num-shards N` outputs, part after part, into one
    /// folder (`00000.tar, 00001.tar, …`; hard links where possible).
    MergeShards {
        /// The parts' --out folders, in part order.
        #[arg(required = true, value_name = "PART")]
        parts: Vec<PathBuf>,
        /// The merged folder (new or empty).
        #[arg(long)]
        out: PathBuf,
    },
    /// Put several `index --shard-index I --num-shards N` folders (one model) into one index folder.
    MergeIndex {
        /// The parts' index folders, in part order.
        #[arg(required = true, value_name = "PART")]
        parts: Vec<PathBuf>,
        /// The merged index folder (new).
        #[arg(long)]
        out: PathBuf,
        /// `auto` builds an HNSW graph from 500 000 pictures on; `approximate` always, `exact` never.
        #[arg(long, value_enum, default_value_t = SearchChoice::Auto)]
        search: SearchChoice,
    },
    /// Serve a web page and a JSON API over an index: text→image search, image→image search, zero-shot labels,
    /// captions (--captioner) and the runs view (--runs). With no --index: the main job's fine-tuned model over
    /// its held-out pictures (runs/capivara-seed000, indexed on first use).
    Serve(serve::ServeArgs),
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

/// `--search`: how an index is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SearchChoice {
    /// Exact below 500 000 pictures, the HNSW graph from there on.
    Auto,
    /// Always every picture (one matrix product).
    Exact,
    /// Always the HNSW graph.
    Approximate,
}

impl From<SearchChoice> for polyclip_index::SearchMode {
    fn from(choice: SearchChoice) -> Self {
        match choice {
            SearchChoice::Auto => Self::Auto,
            SearchChoice::Exact => Self::Exact,
            SearchChoice::Approximate => Self::Approximate,
        }
    }
}

impl Command {
    fn backend(&self) -> BackendKind {
        match self {
            Command::Embed { model, .. }
            | Command::Classify { model, .. }
            | Command::Similarity { model, .. }
            | Command::Export { model, .. }
            | Command::Caption { model, .. }
            | Command::Translate { model, .. }
            | Command::Eval { model, .. }
            | Command::TranslateManifest { model, .. }
            | Command::Index { model, .. } => model.backend,
            Command::Serve(args) => args.backend,
            Command::Prepare { backend, .. } => *backend,
            // No model: the default backend is started and not used.
            Command::MergeShards { .. } | Command::MergeIndex { .. } => BackendKind::Flex,
        }
    }
}

fn main() {
    let cli = Cli::parse();
    let backend = cli.command.backend();
    let outcome = run_job(backend, CommandJob(cli.command)).map_err(error::CliError::from);
    if let Err(error) = outcome.and_then(|result| result) {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}
