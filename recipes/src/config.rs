//! Recipe files: TOML read with serde, every table closed to unknown keys.

use std::path::{Path, PathBuf};

use polyclip_models::lora::LoraConfig;
use polyclip_train::TrainConfig;
use serde::{Deserialize, Serialize};

use crate::error::RecipeError;

/// A whole recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub recipe: RecipeInfo,
    pub data: DataConfig,
    pub model: ModelChoice,
    pub loader: LoaderSettings,
    /// Trains the stand-in base model when no pretrained model is given.
    pub base: Stage,
    /// The method's fine-tuning stage.
    pub finetune: Stage,
    pub eval: EvalConfig,
}

/// Name, title and seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeInfo {
    pub name: String,
    pub title: String,
    #[serde(default)]
    pub seed: u64,
}

/// Where the data comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `embedded-shapes`: generated on first use into the run folder.
    pub source: DataSource,
    pub train_images: usize,
    pub test_images: usize,
    pub image_px: u32,
}

/// The data sources a recipe can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataSource {
    EmbeddedShapes,
}

/// Which model to build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelChoice {
    pub preset: ModelPreset,
    /// Input side in pixels.
    pub image_size: usize,
    /// Longest text in tokens, special tokens included.
    pub max_tokens: usize,
}

/// Model presets a recipe can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelPreset {
    /// Tiny ViT + tiny XLM-R-style text tower (mean pooling, MLP head): CAPIVARA's base shape.
    TinyCapivara,
}

/// Batching and workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoaderSettings {
    pub batch_size: usize,
    #[serde(default = "default_workers")]
    pub num_workers: usize,
}

fn default_workers() -> usize {
    2
}

/// A training stage on the captions of one language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub language: String,
    pub train: TrainConfig,
    /// LoRA adapters on the text encoder (CAPIVARA + Opt.): the encoder is frozen, the adapters, the
    /// projection head and the logit scale train.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora: Option<LoraConfig>,
}

/// What to evaluate and how to name the table's rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// The target language: retrieval and zero-shot classification.
    pub language: String,
    /// More languages to report retrieval in (e.g. the base language, to see what fine-tuning costs there).
    #[serde(default)]
    pub also_retrieval: Vec<String>,
    pub baseline_name: String,
    pub finetuned_name: String,
    #[serde(default = "default_eval_batch")]
    pub batch_size: usize,
}

fn default_eval_batch() -> usize {
    256
}

impl Recipe {
    /// Parses recipe TOML; `source` names it in errors.
    pub fn parse(text: &str, source: &Path) -> Result<Self, RecipeError> {
        parse_toml(text, source)
    }

    /// Reads and parses a recipe file.
    pub fn load(path: &Path) -> Result<Self, RecipeError> {
        load_toml(path)
    }

    /// The recipe as TOML.
    pub fn to_toml(&self) -> Result<String, RecipeError> {
        to_toml(self)
    }
}

/// Parses a recipe file's TOML into `T`; errors name the file, the line and the key.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    source: &Path,
) -> Result<T, RecipeError> {
    toml::from_str(text).map_err(|e| RecipeError::Parse {
        path: source.to_owned(),
        reason: e.message().to_owned(),
        location: e.span().map(|span| line_of(text, span.start)),
    })
}

/// Reads a recipe file and parses it into `T`.
pub fn load_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RecipeError> {
    let text = std::fs::read_to_string(path).map_err(|e| RecipeError::Io {
        path: path.to_owned(),
        source: e,
    })?;
    parse_toml(&text, path)
}

/// Writes a recipe as TOML.
pub fn to_toml<T: Serialize>(recipe: &T) -> Result<String, RecipeError> {
    toml::to_string_pretty(recipe).map_err(|e| RecipeError::Parse {
        path: PathBuf::from("<recipe>"),
        reason: e.to_string(),
        location: None,
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}
