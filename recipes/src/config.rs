//! Recipe files: TOML read with serde, every table closed to unknown keys.

use std::path::{Path, PathBuf};

use polyclip_backend::GradientCheckpointing;
use polyclip_data::{AugmentChain, CaptionStrategy};
use polyclip_eval::report::TableLayout;
use polyclip_models::LogitScaleConfig;
use polyclip_models::lora::LoraConfig;
use polyclip_train::TrainConfig;
use serde::{Deserialize, Serialize};

use crate::error::RecipeError;

/// A whole recipe: the data, the model, then stages run in order, each starting from the model the previous one
/// left (`[[stage]]` tables in the file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub recipe: RecipeInfo,
    pub data: DataConfig,
    pub model: ModelChoice,
    pub loader: LoaderSettings,
    #[serde(rename = "stage")]
    pub stages: Vec<Stage>,
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
    /// Which runner the recipe is for: `contrastive` (stages of contrastive or distillation training, the
    /// default) or `captioner` (an image captioner, CLIP-Vision-mBART50's method).
    #[serde(default, skip_serializing_if = "RecipeKind::is_contrastive")]
    pub kind: RecipeKind,
}

/// The runner a recipe file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipeKind {
    #[default]
    Contrastive,
    Captioner,
}

impl RecipeKind {
    fn is_contrastive(&self) -> bool {
        *self == Self::Contrastive
    }

    /// The kind a recipe file declares in `[recipe] kind` (contrastive when it says nothing); `source` names the
    /// file in errors.
    pub fn of(text: &str, source: &Path) -> Result<Self, RecipeError> {
        /// Only what decides the runner; the rest of the file is the runner's to read.
        #[derive(Deserialize)]
        struct Head {
            #[serde(default)]
            recipe: Kind,
        }
        #[derive(Deserialize, Default)]
        struct Kind {
            #[serde(default)]
            kind: RecipeKind,
        }
        Ok(parse_toml::<Head>(text, source)?.recipe.kind)
    }
}

/// Where the data comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `embedded-shapes`: generated on first use into the run folder (the stand-in for what `train` does not
    /// name, and the held-out sets when `[eval]` has no `suite`).
    pub source: DataSource,
    pub train_images: usize,
    pub test_images: usize,
    pub image_px: u32,
    /// Real training data per caption language: a manifest (JSONL, TSV) or WebDataset shards
    /// (`{ pt = "cc3m-pt/{00000..00165}.tar" }`, CAPIVARA's `captions-pt`… keys). A stage whose language is
    /// named here trains on it instead of the embedded captions.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub train: std::collections::BTreeMap<String, String>,
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
    /// The embedded dataset's tokenizer (`"embedded"`, the default) or one trained on the run's captions
    /// (`{ train = { vocab_size = 2000 } }`), for a language the embedded one does not cover.
    #[serde(default, skip_serializing_if = "TokenizerChoice::is_embedded")]
    pub tokenizer: TokenizerChoice,
    /// `"balanced"` recomputes memory-bound activations in the backward pass instead of keeping them (CAPIVARA +
    /// Opt.'s gradient checkpointing); `"off"` (the default) keeps everything.
    #[serde(default, skip_serializing_if = "is_off")]
    pub gradient_checkpointing: GradientCheckpointing,
    /// The model config over the preset: `{ projection_dim = 128, vision_config = { num_hidden_layers = 4 } }`
    /// (the keys of `model.json`, named like HF's config.json) or the path of a whole `model.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ModelConfigSource>,
    /// Overrides the preset's logit scale (clip-italian: `{ scale = 20.0, learnable = false }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logit_scale: Option<LogitScaleConfig>,
}

/// `[model] config`: keys over the preset, or a whole config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ModelConfigSource {
    /// A `model.json` (polyclip's model config).
    File(PathBuf),
    /// Keys of the model config, merged into the preset's.
    Keys(toml::Table),
}

/// Which tokenizer a recipe without `--model` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TokenizerChoice {
    /// datasets/shapes/tokenizer.json (en, pt, it, es, de, fr).
    #[default]
    Embedded,
    /// An XLM-R-style BPE trained on the training captions of every language the recipe names.
    Train { vocab_size: usize },
}

impl TokenizerChoice {
    fn is_embedded(&self) -> bool {
        *self == Self::Embedded
    }
}

/// Model presets a recipe can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelPreset {
    /// Tiny ViT + tiny XLM-R-style text tower (mean pooling, MLP head): CAPIVARA's base shape.
    TinyCapivara,
    /// Tiny ViT + tiny BERT (pooler output, bias-free linear projection) with a fixed logit scale of 20:
    /// clip-italian's VisionTextDualEncoder shape.
    TinyClipItalian,
}

/// Batching and workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoaderSettings {
    pub batch_size: usize,
    #[serde(default = "default_workers")]
    pub num_workers: usize,
    /// Stream WebDataset training shards (`{ shuffle_buffer = 10000 }`, open_clip's and CAPIVARA's way) instead of
    /// indexing them for random access (the default: a full shuffle each epoch). Both resume exactly. Stages that
    /// train on manifest files are not affected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamSettings>,
}

/// How streamed shards are shuffled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSettings {
    /// Samples held and drawn from at random (WebDataset's `shuffle(n)`; the shard order is shuffled too).
    pub shuffle_buffer: usize,
}

fn default_workers() -> usize {
    2
}

/// A training stage on the captions of one language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// The stage's folder in the run folder, and its name in `--set stage.NAME.…`.
    pub name: String,
    pub language: String,
    /// The stage stands in for a published pretrained model: `--model DIR` replaces it (only the first stage).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pretrained: bool,
    /// Evaluate the model after this stage, as a row of the report with this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// Parts drawn afresh (from the recipe's seed) before the stage trains, e.g. a new text projection on
    /// pretrained backbones (clip-italian).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reinit: Vec<ModelPart>,
    pub train: TrainConfig,
    /// Which captions a draw picks from (CAPIVARA: `{ name = "filter_by_ranking", keep = 2, top_k = 5 }`);
    /// ranking strategies score the captions with the model the stage starts from when the data has no
    /// `similarities`.
    #[serde(default, skip_serializing_if = "is_all_captions")]
    pub captions: CaptionStrategy,
    /// Training-time image augmentation, applied in order before CLIP's resize/crop/normalise, e.g.
    /// `[{ op = "random_resized_crop", size = 48, scale = [0.9, 1.0] }, { op = "augmix", severity = 2 }]`.
    #[serde(default, skip_serializing_if = "AugmentChain::is_empty")]
    pub augment: AugmentChain,
    /// Train a new text encoder to imitate the previous stage's text tower (the teacher) on parallel captions
    /// instead of contrastive training (Themo, Multilingual-CLIP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distill: Option<DistillConfig>,
    /// LoRA adapters on the text encoder (CAPIVARA + Opt.): the encoder is frozen, the adapters, the
    /// projection head and the logit scale train.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora: Option<LoraConfig>,
}

fn is_off(checkpointing: &GradientCheckpointing) -> bool {
    *checkpointing == GradientCheckpointing::Off
}

fn is_all_captions(strategy: &CaptionStrategy) -> bool {
    *strategy == CaptionStrategy::All
}

/// A distillation stage: the student reads the stage's `language`, the teacher the parallel caption in
/// `teacher_language`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistillConfig {
    pub teacher_language: String,
    pub head: StudentHead,
    /// The pretrained text encoder the student starts from: a folder or `hf:ORG/NAME` holding a BERT, RoBERTa,
    /// XLM-R or CamemBERT checkpoint in the Hugging Face layout with its tokenizer.json (Themo:
    /// `hf:dccuchile/bert-base-spanish-wwm-cased`). The student then reads texts with that tokenizer, and so
    /// does everything after the stage. Absent: a tiny encoder drawn afresh, with the run's tokenizer (the
    /// embedded default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student: Option<String>,
}

/// The student's head and what it imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StudentHead {
    /// Themo: mean pooling → bias-free `Linear` onto the teacher's pre-projection text features; at test time the
    /// teacher's own projection follows.
    Themo,
    /// Multilingual-CLIP: mean pooling → `Linear` with bias onto the teacher's joint-space text features.
    Mclip,
}

/// Parts of a dual encoder a stage can draw afresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelPart {
    /// The whole text tower (a new language's encoder).
    Text,
    /// The text tower's projection head.
    TextProjection,
    /// The vision tower's projection.
    VisionProjection,
}

/// What to evaluate after each stage that has a `report` name, and which method's table layout to print.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// The target language: retrieval and zero-shot classification.
    pub language: String,
    /// More languages to report retrieval in (e.g. the base language, to see what fine-tuning costs there).
    #[serde(default)]
    pub also_retrieval: Vec<String>,
    /// `capivara` (mean recall, top-1), `clip-italian` (MRR@K, accuracy@K) or `themo` (accuracy@K, retrieval@K).
    #[serde(default)]
    pub layout: TableLayout,
    #[serde(default = "default_eval_batch")]
    pub batch_size: usize,
    /// An evaluation suite (datasets/suites/*.toml) run instead of the embedded held-out sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<PathBuf>,
    /// Where the suite's relative paths start (default: the suite file's folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_root: Option<PathBuf>,
}

fn default_eval_batch() -> usize {
    256
}

impl Recipe {
    /// Parses recipe TOML; `source` names it in errors.
    pub fn parse(text: &str, source: &Path) -> Result<Self, RecipeError> {
        Self::parse_with(text, source, &[])
    }

    /// Parses recipe TOML after applying `KEY=VALUE` overrides (`--set`): dotted key paths into the file's tables,
    /// where `stage.NAME` is the `[[stage]]` with that name; VALUE is TOML (`2`, `1e-4`, `true`, `["a"]`) or a
    /// bare string.
    pub fn parse_with(
        text: &str,
        source: &Path,
        overrides: &[String],
    ) -> Result<Self, RecipeError> {
        let recipe: Self = parse_toml_with(text, source, overrides)?;
        recipe.validate()?;
        Ok(recipe)
    }

    /// The relations serde cannot check: stage names are unique, only the first stage may be `pretrained`.
    pub fn validate(&self) -> Result<(), RecipeError> {
        if self.stages.is_empty() {
            return Err(RecipeError::Invalid {
                key: "stage",
                value: "[]".into(),
                reason: "a recipe needs at least one [[stage]]".into(),
            });
        }
        for (index, stage) in self.stages.iter().enumerate() {
            if self.stages[..index].iter().any(|s| s.name == stage.name) {
                return Err(RecipeError::Invalid {
                    key: "stage.name",
                    value: format!("{:?}", stage.name),
                    reason: "stage names must be unique (they name the stages' folders)".into(),
                });
            }
            if stage.pretrained && index > 0 {
                return Err(RecipeError::Invalid {
                    key: "stage.pretrained",
                    value: format!("true in stage {:?}", stage.name),
                    reason: "only the first stage can stand in for a pretrained model".into(),
                });
            }
        }
        Ok(())
    }

    /// What the run would refuse later, checked before its first stage trains (after every override): each
    /// stage's training settings, and a batch no larger than the embedded dataset.
    pub fn check_runnable(&self) -> Result<(), RecipeError> {
        for stage in &self.stages {
            stage
                .train
                .validate()
                .and_then(|()| match stage.distill {
                    Some(_) => stage.train.refuse_contrastive_only(),
                    None => Ok(()),
                })
                .map_err(|source| RecipeError::Stage {
                    stage: stage.name.clone(),
                    source,
                })?;
        }
        let reads_embedded = self
            .stages
            .iter()
            .any(|stage| stage.distill.is_some() || !self.data.train.contains_key(&stage.language));
        if reads_embedded && self.loader.batch_size > self.data.train_images {
            return Err(RecipeError::Invalid {
                key: "loader.batch_size",
                value: self.loader.batch_size.to_string(),
                reason: format!(
                    "a batch cannot be larger than the embedded dataset's {} training pictures \
                     (data.train_images)",
                    self.data.train_images
                ),
            });
        }
        Ok(())
    }

    /// The stage called `name`.
    pub fn stage_mut(&mut self, name: &str) -> Option<&mut Stage> {
        self.stages.iter_mut().find(|stage| stage.name == name)
    }

    /// Reads and parses a recipe file.
    pub fn load(path: &Path) -> Result<Self, RecipeError> {
        Self::load_with(path, &[])
    }

    /// Reads and parses a recipe file with `--set` overrides.
    pub fn load_with(path: &Path, overrides: &[String]) -> Result<Self, RecipeError> {
        let text = read_recipe_file(path)?;
        Self::parse_with(&text, path, overrides)
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
    toml::from_str(text).map_err(|e| {
        let table = e.span().and_then(|span| table_at(text, span.start));
        RecipeError::Parse {
            path: source.to_owned(),
            reason: match table {
                Some(table) => format!("in [{table}]: {}", e.message()),
                None => e.message().to_owned(),
            },
            location: e.span().map(|span| line_of(text, span.start)),
        }
    })
}

/// The key path of the table that holds byte `offset` of a TOML text, with `[[stage]]` entries named by their
/// `name` (`stage.finetune.train`); `None` at the top level.
fn table_at(text: &str, offset: usize) -> Option<String> {
    let before = &text[..offset.min(text.len())];
    let mut header: Option<(String, bool)> = None;
    let mut entry_name: Option<String> = None;
    let mut array_root: Option<String> = None;
    for line in text.lines().scan(0, |start, line| {
        let here = *start;
        *start += line.len() + 1;
        Some((here, line.trim()))
    }) {
        let (start, line) = line;
        if let Some(name) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
            if start > before.len() {
                break;
            }
            let name = name.trim().to_owned();
            let nested = array_root
                .as_ref()
                .is_some_and(|root| name.starts_with(&format!("{root}.")));
            if nested {
                // `[[stage.augment]]`: a list inside the current entry, not a new entry.
                header = Some((name, false));
            } else {
                array_root = Some(name.clone());
                entry_name = None;
                header = Some((name, true));
            }
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if start > before.len() {
                break;
            }
            header = Some((name.trim().to_owned(), false));
        } else if let Some(value) = line.strip_prefix("name").map(str::trim_start)
            && let Some(value) = value.strip_prefix('=')
            && header.as_ref().is_some_and(|(_, array)| *array)
        {
            entry_name = Some(value.trim().trim_matches('"').to_owned());
        }
    }
    let (table, _) = header?;
    match (&array_root, &entry_name) {
        (Some(root), Some(name)) if table == *root || table.starts_with(&format!("{root}.")) => {
            Some(format!("{root}.{name}{}", &table[root.len()..]))
        }
        _ => Some(table),
    }
}

/// Parses a recipe file's TOML into `T` after applying `KEY=VALUE` overrides (`--set`): dotted key paths into the
/// file's tables, where `stage.NAME` is the `[[stage]]` with that name; VALUE is TOML (`2`, `1e-4`, `true`,
/// `["a"]`) or a bare string. Every recipe kind reads its file through this.
pub fn parse_toml_with<T: serde::de::DeserializeOwned>(
    text: &str,
    source: &Path,
    overrides: &[String],
) -> Result<T, RecipeError> {
    if overrides.is_empty() {
        return parse_toml(text, source);
    }
    let mut table: toml::Table = parse_toml(text, source)?;
    for assignment in overrides {
        apply_override(&mut table, assignment)?;
    }
    let edited = toml::to_string(&table).map_err(|e| RecipeError::Serialize {
        what: "the recipe after --set",
        reason: e.to_string(),
    })?;
    // Lines of the re-serialised text mean nothing to the user: the table path and key say where.
    parse_toml(&edited, &source.with_extension("toml (after --set)")).map_err(|e| match e {
        RecipeError::Parse { path, reason, .. } => RecipeError::Parse {
            path,
            reason,
            location: None,
        },
        other => other,
    })
}

/// The text of a recipe file; a file that cannot be read is named in the error.
pub fn read_recipe_file(path: &Path) -> Result<String, RecipeError> {
    std::fs::read_to_string(path).map_err(|e| RecipeError::Io {
        path: path.to_owned(),
        source: e,
    })
}

/// Writes a recipe as TOML.
pub fn to_toml<T: Serialize>(recipe: &T) -> Result<String, RecipeError> {
    toml::to_string_pretty(recipe).map_err(|e| RecipeError::Serialize {
        what: "the recipe",
        reason: e.to_string(),
    })
}

/// Sets one `a.b.c=VALUE` in a parsed recipe (see [`Recipe::parse_with`]).
fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<(), RecipeError> {
    let invalid = |reason: String| RecipeError::Invalid {
        key: "--set",
        value: assignment.to_owned(),
        reason,
    };
    let (path, raw) = assignment
        .split_once('=')
        .ok_or_else(|| invalid("expected KEY=VALUE, e.g. stage.finetune.train.steps=100".into()))?;
    let keys: Vec<&str> = path.trim().split('.').collect();
    let value = toml::from_str::<toml::Table>(&format!("value = {}", raw.trim()))
        .ok()
        .and_then(|mut parsed| parsed.remove("value"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_owned()));
    let Some((last, parents)) = keys.split_last() else {
        return Err(invalid("empty key".into()));
    };
    let mut current = table;
    let mut walked = Vec::new();
    let mut rest = parents.iter();
    while let Some(&key) = rest.next() {
        walked.push(key);
        let entry = current
            .entry(key.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = match entry {
            toml::Value::Table(inner) => inner,
            // An array of tables is indexed by the tables' `name` (`stage.finetune`).
            toml::Value::Array(items) => {
                let name = rest.next().ok_or_else(|| {
                    invalid(format!(
                        "`{}` is a list: name one of its entries",
                        walked.join(".")
                    ))
                })?;
                let names: Vec<String> = items
                    .iter()
                    .filter_map(|item| item.get("name")?.as_str().map(str::to_owned))
                    .collect();
                walked.push(name);
                items
                    .iter_mut()
                    .filter_map(toml::Value::as_table_mut)
                    .find(|item| item.get("name").and_then(toml::Value::as_str) == Some(name))
                    .ok_or_else(|| {
                        invalid(format!(
                            "no `{}` named {name:?}; there are {}",
                            walked[..walked.len() - 1].join("."),
                            names.join(", ")
                        ))
                    })?
            }
            _ => {
                return Err(invalid(format!(
                    "`{}` is a value, not a table",
                    walked.join(".")
                )));
            }
        };
    }
    current.insert((*last).to_owned(), value);
    Ok(())
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}
