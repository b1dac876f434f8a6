//! The captioner recipe file (`recipes/mbart-captioner.toml`).

use std::path::Path;

use polyclip_train::TrainConfig;
use serde::{Deserialize, Serialize};

use crate::config::{DataSource, LoaderSettings, RecipeInfo, parse_toml_with, read_recipe_file};
use crate::error::RecipeError;

/// A whole captioner recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptionerRecipe {
    pub recipe: RecipeInfo,
    pub data: CaptionData,
    pub model: CaptionerModel,
    pub loader: LoaderSettings,
    pub train: TrainConfig,
    pub eval: CaptionEval,
}

/// The captions to train on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptionData {
    /// `embedded-shapes`: generated on first use into the run folder, written as CLIP-Vision-mBART50's TSV.
    pub source: DataSource,
    pub train_images: usize,
    pub test_images: usize,
    pub image_px: u32,
    /// The languages of the training captions (mixed in every batch).
    pub languages: Vec<String>,
    /// Captions per picture and language in the training TSV, the dataset's first phrasings (1, as CLIP-Vision-mBART50's:
    /// one caption per picture and language; up to 5).
    #[serde(default = "one")]
    pub captions_per_picture: usize,
}

fn one() -> usize {
    1
}

/// Which captioner to build when no `--model` is given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptionerModel {
    pub preset: CaptionerPreset,
    /// Input side in pixels.
    pub image_size: usize,
    /// Longest caption in tokens, language code and `</s>` included.
    pub max_tokens: usize,
}

/// Captioner presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaptionerPreset {
    /// Tiny ViT → `visual_projection` → two-layer mBART decoder, in CLIP-Vision-mBART50's layout.
    TinyCaptioner,
}

/// How to evaluate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptionEval {
    /// The languages to caption the test pictures in (a row of the table each).
    pub languages: Vec<String>,
    /// Beams (the seed: 4).
    pub num_beams: usize,
    /// Longest generated caption in tokens (the seed: 64).
    pub max_length: usize,
    #[serde(default = "default_length_penalty")]
    pub length_penalty: f64,
    #[serde(default)]
    pub no_repeat_ngram_size: usize,
    /// Pictures per BLEU batch, averaged as the seed did (512).
    pub bleu_batch_size: usize,
    /// Pictures per generation batch.
    #[serde(default = "default_eval_batch")]
    pub batch_size: usize,
}

fn default_length_penalty() -> f64 {
    1.0
}

fn default_eval_batch() -> usize {
    64
}

impl CaptionerRecipe {
    /// Parses recipe TOML after `--set` overrides (see [`parse_toml_with`]).
    pub fn parse_with(
        text: &str,
        source: &Path,
        overrides: &[String],
    ) -> Result<Self, RecipeError> {
        parse_toml_with(text, source, overrides)
    }

    /// Reads and parses a recipe file with `--set` overrides.
    pub fn load_with(path: &Path, overrides: &[String]) -> Result<Self, RecipeError> {
        let text = read_recipe_file(path)?;
        Self::parse_with(&text, path, overrides)
    }
}
