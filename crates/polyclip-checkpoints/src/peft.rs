//! Adapter-only checkpoints in Hugging Face PEFT's format: what `PeftModel.save_pretrained` writes for a LoRA
//! model, and what `PeftModel.from_pretrained` reads.
//!
//! CAPIVARA + Opt. trains adapters from `LoraConfig(r=8, lora_alpha=8, target_modules=["query", "value"])` on
//! the XLM-R text encoder. A folder holds:
//!
//! - `adapter_config.json`: PEFT's `LoraConfig` (`peft_type: "LORA"`, `r`, `lora_alpha`, `target_modules`, …).
//! - `adapter_model.safetensors` (older PEFT: `adapter_model.bin`): for every adapted layer, in PyTorch layout,
//!   `base_model.model.{path}.lora_A.weight` `[r, in]` and `base_model.model.{path}.lora_B.weight`
//!   `[out, r]`; plus, when the config lists `modules_to_save`, those modules' full tensors under their plain
//!   names (`base_model.model.embeddings.LayerNorm.weight`). `{path}` is the layer's key path in the module PEFT
//!   wrapped ([`PeftRoot`]): the HF transformer (`get_peft_model(XLMRobertaModel, …)`:
//!   `encoder.layer.0.attention.self.query`, what polyclip writes by default), or open_clip's whole text
//!   tower (`get_peft_model(open_clip_model.text, …)`, as CAPIVARA's code does:
//!   `transformer.encoder.layer.0.attention.self.query`, with `modules_to_save=["proj"]` for a head trained in
//!   full). Loading recognises either from the keys.
//! - `trained_in_full.safetensors` (polyclip's addition, optional): what CAPIVARA + Opt. trains in full besides
//!   the adapters, which lives outside the transformer PEFT wraps and so has no place in PEFT's files: the
//!   projection head and the logit scale, in PyTorch layout under the names of the model's natural layout
//!   (open_clip: `text.proj.0.weight`, `text.proj.2.weight`, a 0-d `logit_scale`; VisionTextDualEncoder:
//!   `text_projection.weight`, `logit_scale`). In Python: `model.load_state_dict(load_file(path),
//!   strict=False)` on the open_clip model, then `model.text.transformer = PeftModel.from_pretrained(
//!   model.text.transformer, dir)` (or `model.text = …(model.text, dir)` for keys rooted at the text tower).
//!
//! polyclip's LoRA is PEFT's plain LoRA: `y = x·W + b + (alpha/r)·(x·A)·B` (`alpha/√r` with `use_rslora`).
//! A config asking for anything else (DoRA, bias training, rank or alpha patterns, layer selection, regular
//! expression targets, …) is refused by name rather than loaded into a model that would compute something
//! different. `lora_dropout` is read and ignored (it only acts in training); polyclip writes `0.0`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{Shape, Tensor, TensorData};
use polyclip_models::lora::{LoraConfig, LoraLayers};
use polyclip_models::projection::ProjectionType;
use polyclip_models::{ClipModel, ClipModelConfig, TextTower, TextTowerConfig};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::apply::{MappedTensors, apply_tensors, collect_tensors, transpose};
use crate::error::CheckpointError;
use crate::export::ExportFormat;
use crate::families::{first_present, hf, open_clip, read_json};
use crate::keymap::{BERT_SEGMENTS, KeyMap};
use crate::tensors::{TensorMap, to_f32};

/// PEFT's config file.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// PEFT's weights file (`safe_serialization=True`, its default).
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
/// PEFT's weights file with `safe_serialization=False` (and before PEFT 0.4).
pub const ADAPTER_WEIGHTS_PICKLE: &str = "adapter_model.bin";
/// polyclip's file of the tensors trained in full beside the adapters (head, logit scale).
pub const TRAINED_IN_FULL: &str = "trained_in_full.safetensors";

/// Every PEFT key starts so: `PeftModel.base_model` (the `LoraModel`) `.model` (the wrapped module).
const PEFT_PREFIX: &str = "base_model.model.";
/// Where a text tower keeps its HF transformer (the prefix of its [`LoraLayers`] paths).
const TOWER_TRANSFORMER: &str = "transformer.";
/// PEFT's names of an adapter's down (`A`, `[r, in]`) and up (`B`, `[out, r]`) projections.
const LORA_A: &str = "lora_A.weight";
const LORA_B: &str = "lora_B.weight";
/// Linear layers of a text tower (by tower path) that polyclip never adapts: a written `target_modules` name
/// must not match them, or PEFT would adapt them too.
const UNADAPTED_LINEARS: &[&str] = &["transformer.pooler.dense", "proj", "proj.0", "proj.2"];
/// Config fields that do not change what a loaded adapter computes.
const INERT_FIELDS: &[&str] = &[
    "revision",
    "inference_mode",
    "auto_mapping",
    "peft_version",
    "init_lora_weights",
    "megatron_core",
    "qalora_group_size",
];

/// The module `get_peft_model` wrapped, which every key is relative to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeftRoot {
    /// The HF transformer (`XLMRobertaModel`, `BertModel`): `base_model.model.encoder.layer.0…`.
    #[default]
    Transformer,
    /// open_clip's HF text tower (`HFTextEncoder`: `transformer` + `proj`):
    /// `base_model.model.transformer.encoder.layer.0…`, the head as `base_model.model.proj.0.weight`.
    TextTower,
}

impl PeftRoot {
    /// The root of a file's keys: the text tower's when one starts `base_model.model.transformer.` (an HF
    /// transformer has no `transformer` module), the transformer's otherwise.
    pub fn detect<'a>(mut keys: impl Iterator<Item = &'a String>) -> Self {
        if keys.any(|key| key.starts_with(&format!("{PEFT_PREFIX}{TOWER_TRANSFORMER}"))) {
            Self::TextTower
        } else {
            Self::Transformer
        }
    }

    /// PEFT's module name of the text-tower module at `tower_path` (`transformer.encoder.layer.0…`).
    pub fn module_path(self, tower_path: &str) -> String {
        match self {
            Self::Transformer => tower_path
                .strip_prefix(TOWER_TRANSFORMER)
                .unwrap_or(tower_path)
                .to_string(),
            Self::TextTower => tower_path.to_string(),
        }
    }

    /// PEFT's key of an adapter matrix (`lora_A.weight`) of the text-tower layer at `tower_path`.
    fn lora_key(self, tower_path: &str, matrix: &str) -> String {
        format!("{PEFT_PREFIX}{}.{matrix}", self.module_path(tower_path))
    }

    /// PEFT's plain keys (`modules_to_save` tensors) ↔ model paths.
    fn keymap(self, config: &ClipModelConfig) -> KeyMap {
        match self {
            Self::Transformer => KeyMap::new(
                &[],
                &[(PEFT_PREFIX, "text.transformer.")],
                BERT_SEGMENTS,
                &[],
            ),
            // open_clip's names below `text.` (its MLP head is an `nn.Sequential`: `proj.0`, `proj.2`).
            Self::TextTower => {
                let mlp = matches!(
                    config.text,
                    TextTowerConfig::HfEncoder {
                        proj_type: ProjectionType::Mlp,
                        ..
                    }
                );
                let keys: &[(&str, &str)] = if mlp {
                    &[
                        ("base_model.model.proj.0.weight", "text.proj.fc1.weight"),
                        ("base_model.model.proj.0.bias", "text.proj.fc1.bias"),
                        ("base_model.model.proj.2.weight", "text.proj.fc2.weight"),
                        ("base_model.model.proj.2.bias", "text.proj.fc2.bias"),
                    ]
                } else {
                    &[]
                };
                KeyMap::new(
                    keys,
                    &[
                        ("base_model.model.transformer.", "text.transformer."),
                        ("base_model.model.proj.", "text.proj."),
                    ],
                    BERT_SEGMENTS,
                    &[],
                )
            }
        }
    }
}

/// PEFT's `target_modules`: a list of module names (a module matches when its key path equals a name or ends
/// with `.{name}`) or one regular expression over whole key paths.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum TargetModules {
    Names(Vec<String>),
    Pattern(String),
}

/// The fields of PEFT's `adapter_config.json` polyclip reads; every other field must be one of
/// [`INERT_FIELDS`] or hold its neutral default (`null`, `false`, `{}`, `[]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PeftLoraConfig {
    pub peft_type: String,
    #[serde(default)]
    pub task_type: Option<String>,
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    /// Rank of every adapter (PEFT's default: 8).
    #[serde(default = "default_rank")]
    pub r: usize,
    /// The update is scaled by `lora_alpha / r` (PEFT's default alpha: 8).
    #[serde(default = "default_alpha")]
    pub lora_alpha: f64,
    /// Training-time dropout on the adapter's input: no effect on inference, ignored.
    #[serde(default)]
    pub lora_dropout: f64,
    #[serde(default)]
    pub target_modules: Option<TargetModules>,
    /// Which biases train: only `"none"` (PEFT's default) is plain LoRA.
    #[serde(default = "default_bias")]
    pub bias: String,
    /// rsLoRA: the update is scaled by `lora_alpha / √r`.
    #[serde(default)]
    pub use_rslora: bool,
    /// Modules of the transformer trained in full and saved whole in the adapter file.
    #[serde(default)]
    pub modules_to_save: Option<Vec<String>>,
    /// Every other field.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

fn default_rank() -> usize {
    8
}
fn default_alpha() -> f64 {
    8.0
}
fn default_bias() -> String {
    "none".into()
}

/// `null`, `false`, `{}` or `[]`: what PEFT writes for an option left off.
fn is_neutral(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

impl PeftLoraConfig {
    /// Refuses everything polyclip's plain LoRA would compute differently, naming the field.
    pub fn check(&self, path: &Path) -> Result<(), CheckpointError> {
        let refuse = |key: &str, value: String, reason: &str| CheckpointError::Unsupported {
            path: path.to_owned(),
            key: key.into(),
            value,
            reason: reason.into(),
        };
        if self.peft_type != "LORA" {
            return Err(refuse(
                "peft_type",
                self.peft_type.clone(),
                "polyclip reads LoRA adapters (\"LORA\") only",
            ));
        }
        if self.r == 0 {
            return Err(refuse("r", "0".into(), "the rank must be at least 1"));
        }
        if !self.lora_alpha.is_finite() {
            return Err(refuse(
                "lora_alpha",
                self.lora_alpha.to_string(),
                "must be a finite number",
            ));
        }
        if self.bias != "none" {
            return Err(refuse(
                "bias",
                self.bias.clone(),
                "trained base-layer biases are not part of polyclip's LoRA; only \"none\" loads",
            ));
        }
        match &self.target_modules {
            Some(TargetModules::Names(names)) if !names.is_empty() => {
                if let Some(name) = names.iter().find(|name| name.contains('*')) {
                    return Err(refuse(
                        "target_modules",
                        name.clone(),
                        "PEFT matches list entries literally; polyclip would read `*` as a wildcard",
                    ));
                }
            }
            Some(TargetModules::Pattern(pattern)) => {
                return Err(refuse(
                    "target_modules",
                    pattern.clone(),
                    "a regular expression (or \"all-linear\"); polyclip reads a list of module names, \
                     e.g. [\"query\", \"value\"]",
                ));
            }
            _ => {
                return Err(refuse(
                    "target_modules",
                    "none".into(),
                    "name the adapted modules, e.g. [\"query\", \"value\"]",
                ));
            }
        }
        for (key, value) in &self.other {
            if !INERT_FIELDS.contains(&key.as_str()) && !is_neutral(value) {
                return Err(refuse(
                    key,
                    value.to_string(),
                    "this PEFT option changes what the adapters compute or where they sit, and polyclip's \
                     LoRA does not implement it; only plain LoRA loads",
                ));
            }
        }
        Ok(())
    }

    /// `lora_alpha / r`, or `lora_alpha / √r` with rsLoRA.
    pub fn scaling(&self) -> f64 {
        if self.use_rslora {
            self.lora_alpha / (self.r as f64).sqrt()
        } else {
            self.lora_alpha / self.r as f64
        }
    }

    /// The target names (empty unless [`check`](Self::check) passed).
    pub fn target_names(&self) -> &[String] {
        match &self.target_modules {
            Some(TargetModules::Names(names)) => names,
            _ => &[],
        }
    }

    /// polyclip's config attaching the same adapters (PEFT's suffix matching is polyclip's).
    pub fn lora_config(&self) -> LoraConfig {
        LoraConfig {
            r: self.r,
            lora_alpha: self.lora_alpha,
            target_modules: self.target_names().to_vec(),
            seed: 0,
        }
    }

    fn modules_to_save(&self) -> &[String] {
        self.modules_to_save.as_deref().unwrap_or_default()
    }
}

/// A base model with the adapters of a PEFT folder.
#[derive(Debug)]
pub struct PeftAdapter<B: Backend> {
    /// The model, adapters attached (unmerged: [`ClipModel::with_merged_lora`] folds them in).
    pub model: ClipModel<B>,
    pub config: PeftLoraConfig,
    /// What the adapter file's keys are relative to.
    pub root: PeftRoot,
    /// The adapted layers' model paths (`text.transformer.encoder.layer.0.attention.self.query`).
    pub adapted: Vec<String>,
    /// The `modules_to_save` tensors loaded into the transformer, by PEFT key.
    pub modules_to_save: Vec<String>,
    /// The keys loaded from [`TRAINED_IN_FULL`] (empty when the folder has none).
    pub trained_in_full: Vec<String>,
}

/// Loads the PEFT LoRA folder `dir` onto `model` (a base model without adapters, whose text tower is the HF
/// transformer the adapters were trained on): attaches adapters where `adapter_config.json` targets, fills them
/// from `adapter_model.safetensors` (transposed into burn's layout; keys relative to either [`PeftRoot`]), loads
/// `modules_to_save` tensors, and, when present, the head and logit scale of [`TRAINED_IN_FULL`] (`config`
/// gives their names). [`ClipModel::with_merged_lora`] then folds the adapters in, if wanted.
///
/// Every missing, shape-mismatched or unexpected tensor fails the load, all listed in one
/// [`CheckpointError::Keys`] naming the file.
pub fn load_peft_adapter<B: Backend>(
    mut model: ClipModel<B>,
    config: &ClipModelConfig,
    dir: &Path,
) -> Result<PeftAdapter<B>, CheckpointError> {
    let config_path = dir.join(ADAPTER_CONFIG);
    let peft: PeftLoraConfig = read_json(&config_path)?;
    peft.check(&config_path)?;
    let weights_path =
        first_present(dir, &[ADAPTER_WEIGHTS, ADAPTER_WEIGHTS_PICKLE]).ok_or_else(|| {
            CheckpointError::io(
                dir.join(ADAPTER_WEIGHTS),
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "no {ADAPTER_WEIGHTS} (or {ADAPTER_WEIGHTS_PICKLE}) beside {ADAPTER_CONFIG}"
                    ),
                ),
            )
        })?;
    let mut tensors = TensorMap::read(&weights_path)?.tensors;
    let root = PeftRoot::detect(tensors.keys());

    if let Some((path, _)) = model
        .text
        .lora_layers()
        .into_iter()
        .find(|(_, layer)| layer.adapter.is_some())
    {
        return Err(CheckpointError::Unsupported {
            path: dir.to_owned(),
            key: format!("text.{path}"),
            value: "an attached adapter".into(),
            reason: "load PEFT adapters onto a base model (merge or drop its adapters first)"
                .into(),
        });
    }
    let adapted = model
        .attach_text_lora(&peft.lora_config())
        .map_err(|error| CheckpointError::Unsupported {
            path: config_path.clone(),
            key: "target_modules".into(),
            value: format!("{:?}", peft.target_names()),
            reason: error.to_string(),
        })?;

    let mut problems = Problems::default();
    let scaling = peft.scaling();
    for (path, layer) in model.text.lora_layers() {
        if layer.adapter.is_none() {
            continue;
        }
        let (d_in, d_out) = layer.shape();
        let key_a = root.lora_key(&path, LORA_A);
        let key_b = root.lora_key(&path, LORA_B);
        let lora_a = problems.take(&mut tensors, &key_a, [peft.r, d_in]);
        let lora_b = problems.take(&mut tensors, &key_b, [d_out, peft.r]);
        if let (Some(lora_a), Some(lora_b)) = (lora_a, lora_b) {
            let device = layer.weight.device();
            let lora_a = Tensor::from_data(transpose(lora_a, &weights_path, &key_a)?, &device);
            let lora_b = Tensor::from_data(transpose(lora_b, &weights_path, &key_b)?, &device);
            layer.set_adapter(lora_a, lora_b, scaling)?;
        }
    }

    // What is left: `modules_to_save` tensors, or keys with no place in the model.
    let to_save = peft.modules_to_save();
    let (full, stray): (BTreeMap<_, _>, BTreeMap<_, _>) = tensors
        .into_iter()
        .partition(|(key, _)| !key.contains(".lora_") && under_modules_to_save(key, to_save));
    problems.unexpected.extend(stray.into_keys());
    let mut modules_to_save = Vec::new();
    if !to_save.is_empty() {
        modules_to_save = full.keys().cloned().collect();
        let keymap = root.keymap(config);
        let mapped = keymap.map_tensors(TensorMap {
            tensors: full,
            source: weights_path.clone(),
        });
        let (applied, report) = apply_tensors(model, mapped, true)?;
        model = applied;
        problems.unexpected.extend(report.unexpected);
        problems.mismatched.extend(report.mismatched);
        problems.missing.extend(
            report
                .missing
                .into_iter()
                .filter(|key| under_modules_to_save(key, to_save)),
        );
    }
    problems.into_result(&weights_path)?;

    let full_path = dir.join(TRAINED_IN_FULL);
    let mut trained_in_full = Vec::new();
    if full_path.is_file() {
        let (applied, keys) = load_trained_in_full(model, config, &full_path)?;
        model = applied;
        trained_in_full = keys;
    }
    Ok(PeftAdapter {
        model,
        config: peft,
        root,
        adapted,
        modules_to_save,
        trained_in_full,
    })
}

/// Whether a PEFT key is a parameter of (a submodule of) a module `modules_to_save` names: PEFT's suffix
/// matching (`proj` holds `proj.0.weight`; `LayerNorm` names every `….LayerNorm`).
fn under_modules_to_save(key: &str, names: &[String]) -> bool {
    let Some((module, _)) = key
        .strip_prefix(PEFT_PREFIX)
        .and_then(|rest| rest.rsplit_once('.'))
    else {
        return false;
    };
    let segments: Vec<&str> = module.split('.').collect();
    (1..=segments.len())
        .map(|count| segments[..count].join("."))
        .any(|ancestor| {
            names
                .iter()
                .any(|name| ancestor == *name || ancestor.ends_with(&format!(".{name}")))
        })
}

/// The key table of [`TRAINED_IN_FULL`]: the model's natural export layout.
fn trained_in_full_keymap(config: &ClipModelConfig) -> KeyMap {
    match ExportFormat::natural(config) {
        ExportFormat::VisionTextDualEncoder => hf::dual_encoder_keymap(),
        ExportFormat::HfClip | ExportFormat::OpenClip => open_clip::keymap(config),
    }
}

/// Whether a model path is trained in full beside the adapters (the text head, the logit scale).
fn is_trained_in_full(path: &str) -> bool {
    path.starts_with("text.proj.") || path == "logit_scale"
}

/// Loads the head and logit scale of [`TRAINED_IN_FULL`]; the file must hold exactly those.
fn load_trained_in_full<B: Backend>(
    model: ClipModel<B>,
    config: &ClipModelConfig,
    path: &Path,
) -> Result<(ClipModel<B>, Vec<String>), CheckpointError> {
    let mut tensors = TensorMap::read(path)?;
    if let Some(scale) = tensors.tensors.get_mut("logit_scale")
        && scale.shape.is_empty()
    {
        scale.shape = Shape::new([1]);
    }
    let keys: Vec<String> = tensors.tensors.keys().cloned().collect();
    let keymap = trained_in_full_keymap(config);
    let mut mapped: MappedTensors = keymap.map_tensors(tensors);
    let outside: Vec<String> = mapped
        .tensors
        .keys()
        .filter(|path| !is_trained_in_full(path))
        .cloned()
        .collect();
    for model_path in outside {
        mapped.tensors.remove(&model_path);
        mapped.unmapped.push(
            keymap
                .to_checkpoint(&model_path)
                .unwrap_or_else(|| model_path.clone()),
        );
    }
    let (model, report) = apply_tensors(model, mapped, true)?;
    let problems = Problems {
        missing: report
            .missing
            .into_iter()
            .filter(|key| keymap.to_model(key).is_some_and(|p| is_trained_in_full(&p)))
            .collect(),
        unexpected: report.unexpected,
        mismatched: report.mismatched,
    };
    problems.into_result(path)?;
    Ok((model, keys))
}

/// Missing, unexpected and shape-mismatched tensors of one file, by its keys.
#[derive(Debug, Default)]
struct Problems {
    missing: Vec<String>,
    unexpected: Vec<String>,
    mismatched: Vec<String>,
}

impl Problems {
    /// Removes `key` from `tensors` if it has `shape`; records it as missing or mismatched otherwise.
    fn take(
        &mut self,
        tensors: &mut BTreeMap<String, TensorData>,
        key: &str,
        shape: [usize; 2],
    ) -> Option<TensorData> {
        let Some(data) = tensors.remove(key) else {
            self.missing.push(key.to_string());
            return None;
        };
        if data.shape.as_slice() != shape.as_slice() {
            self.mismatched.push(format!(
                "{key} (model {shape:?}, checkpoint {:?})",
                data.shape.as_slice()
            ));
            return None;
        }
        Some(data)
    }

    fn into_result(mut self, source: &Path) -> Result<(), CheckpointError> {
        self.unexpected.sort();
        let list = |label: &str, keys: &[String]| {
            (!keys.is_empty()).then(|| format!("{} {label}: {}", keys.len(), keys.join(", ")))
        };
        let summary: Vec<String> = [
            list("missing", &self.missing),
            list("unexpected", &self.unexpected),
            list("shape-mismatched", &self.mismatched),
        ]
        .into_iter()
        .flatten()
        .collect();
        if summary.is_empty() {
            return Ok(());
        }
        Err(CheckpointError::Keys {
            source_path: source.to_owned(),
            summary: summary.join("; "),
            missing: self.missing,
            unexpected: self.unexpected,
            mismatched: self.mismatched,
        })
    }
}

/// How [`save_peft_adapter`] fills the fields of `adapter_config.json` the model does not determine, and
/// whether it writes [`TRAINED_IN_FULL`].
#[derive(Debug, Clone, PartialEq)]
pub struct PeftSaveOptions {
    /// The base transformer's name (`xlm-roberta-base`), for PEFT's `from_pretrained` without a model.
    pub base_model_name_or_path: Option<String>,
    /// PEFT's `task_type` (`None`: a plain `PeftModel`, as `get_peft_model` on an `XLMRobertaModel` gives).
    pub task_type: Option<String>,
    /// The module the keys are relative to: the HF transformer (default; `PeftModel.from_pretrained(
    /// model.text.transformer, dir)` in open_clip), or open_clip's text tower (CAPIVARA's code:
    /// `PeftModel.from_pretrained(model.text, dir)`).
    pub root: PeftRoot,
    /// Also write the head and logit scale (CAPIVARA + Opt. trains them in full).
    pub trained_in_full: bool,
}

impl Default for PeftSaveOptions {
    fn default() -> Self {
        Self {
            base_model_name_or_path: None,
            task_type: None,
            root: PeftRoot::Transformer,
            trained_in_full: true,
        }
    }
}

/// Writes the adapters of `model` to `dir` as PEFT writes them (`adapter_config.json`,
/// `adapter_model.safetensors`), and with `options.trained_in_full` the head and the logit scale in
/// [`TRAINED_IN_FULL`]. `target_modules` is derived from where the adapters are: the shortest PEFT names that
/// match exactly the adapted layers. Every adapter must share one rank and one scaling. Returns the files
/// written.
pub fn save_peft_adapter<B: Backend>(
    model: &ClipModel<B>,
    config: &ClipModelConfig,
    options: &PeftSaveOptions,
    dir: &Path,
) -> Result<Vec<PathBuf>, CheckpointError> {
    let weights_path = dir.join(ADAPTER_WEIGHTS);
    let refuse = |key: &str, value: String, reason: &str| CheckpointError::Unsupported {
        path: dir.to_owned(),
        key: key.into(),
        value,
        reason: reason.into(),
    };
    let root = options.root;
    let mut text = model.text.clone();
    let layers = text.lora_layers();
    let modules: Vec<String> = layers
        .iter()
        .map(|(path, _)| path.as_str())
        .chain(UNADAPTED_LINEARS.iter().copied())
        .map(|path| root.module_path(path))
        .collect();
    let mut adapted = BTreeSet::new();
    let mut tensors = TensorMap {
        source: weights_path.clone(),
        ..TensorMap::default()
    };
    let mut rank_scaling: Option<(usize, f64)> = None;
    for (path, layer) in &layers {
        let Some(adapter) = &layer.adapter else {
            continue;
        };
        let this = (adapter.rank(), adapter.scaling);
        match rank_scaling {
            None => rank_scaling = Some(this),
            Some(first) if first == this => {}
            Some((rank, scaling)) => {
                return Err(refuse(
                    &format!("text.{path}"),
                    format!("r = {}, scaling = {}", this.0, this.1),
                    &format!(
                        "every adapter must share one rank and scaling (others: r = {rank}, scaling = \
                         {scaling}); PEFT's rank_pattern/alpha_pattern are not written"
                    ),
                ));
            }
        }
        for (matrix, weight) in [
            (LORA_A, adapter.lora_a.weight.val()),
            (LORA_B, adapter.lora_b.weight.val()),
        ] {
            let key = root.lora_key(path, matrix);
            let data = transpose(to_f32(weight.into_data()), &weights_path, &key)?;
            tensors.tensors.insert(key, data);
        }
        adapted.insert(root.module_path(path));
    }
    let Some((rank, scaling)) = rank_scaling else {
        return Err(refuse(
            "adapters",
            "none".into(),
            "the model has no LoRA adapter to save (ClipModel::attach_text_lora attaches them)",
        ));
    };

    let alpha = scaling * rank as f64;
    let alpha = if (alpha - alpha.round()).abs() <= 1e-9 * alpha.abs().max(1.0) {
        json!(alpha.round() as i64)
    } else {
        json!(alpha)
    };
    let adapter_config = json!({
        "peft_type": "LORA",
        "task_type": options.task_type,
        "base_model_name_or_path": options.base_model_name_or_path,
        "revision": null,
        "inference_mode": true,
        "r": rank,
        "lora_alpha": alpha,
        "lora_dropout": 0.0,
        "target_modules": peft_target_modules(&modules, &adapted),
        "bias": "none",
        "fan_in_fan_out": false,
        "modules_to_save": null,
        "init_lora_weights": true,
        "layers_to_transform": null,
        "layers_pattern": null,
        "rank_pattern": {},
        "alpha_pattern": {},
        "use_rslora": false,
        "use_dora": false,
    });

    std::fs::create_dir_all(dir).map_err(|e| CheckpointError::io(dir, e))?;
    let config_path = dir.join(ADAPTER_CONFIG);
    let text_json = serde_json::to_string_pretty(&adapter_config)
        .map_err(|e| CheckpointError::parse(&config_path, e))?;
    std::fs::write(&config_path, text_json).map_err(|e| CheckpointError::io(&config_path, e))?;
    tensors.write_safetensors(&weights_path)?;
    let mut written = vec![config_path, weights_path];
    if options.trained_in_full {
        let path = dir.join(TRAINED_IN_FULL);
        trained_in_full_tensors(model, config, &path)?.write_safetensors(&path)?;
        written.push(path);
    }
    Ok(written)
}

/// PEFT's `target_modules` for exactly the `adapted` layers among `modules` (PEFT module names of every
/// layer a name could match, adapted or not): for each adapted layer, the shortest dotted suffix of its path
/// that matches (as PEFT matches: equal, or ending with `.{name}`) only adapted layers (`query`; not `dense`,
/// which the pooler shares), never starting at a layer index (`layer.1.attention.output.dense`).
pub fn peft_target_modules(modules: &[String], adapted: &BTreeSet<String>) -> Vec<String> {
    let matches = |name: &str, path: &str| path == name || path.ends_with(&format!(".{name}"));
    let mut names = BTreeSet::new();
    for path in adapted {
        let segments: Vec<&str> = path.split('.').collect();
        let name = (1..=segments.len())
            .map(|count| &segments[segments.len() - count..])
            .filter(|suffix| {
                suffix.len() == segments.len() || !suffix[0].chars().all(|c| c.is_ascii_digit())
            })
            .map(|suffix| suffix.join("."))
            .find(|name| {
                modules
                    .iter()
                    .filter(|other| matches(name, other))
                    .all(|other| adapted.contains(other))
            })
            .unwrap_or_else(|| path.clone());
        names.insert(name);
    }
    names.into_iter().collect()
}

/// The head and the logit scale under the names of the model's natural layout, PyTorch layout, the logit scale
/// 0-d as checkpoints store it.
fn trained_in_full_tensors<B: Backend>(
    model: &ClipModel<B>,
    config: &ClipModelConfig,
    path: &Path,
) -> Result<TensorMap, CheckpointError> {
    let TextTower::Encoder(tower) = &model.text else {
        return Err(CheckpointError::Unsupported {
            path: path.to_owned(),
            key: "text".into(),
            value: "a CLIP text transformer".into(),
            reason: "adapters are saved from encoder text towers (BERT / XLM-R) only".into(),
        });
    };
    let keymap = trained_in_full_keymap(config);
    let name = |model_path: &str| {
        keymap
            .to_checkpoint(model_path)
            .ok_or_else(|| CheckpointError::Tensor {
                path: path.to_owned(),
                key: model_path.to_string(),
                reason: "no checkpoint name for this parameter in the model's layout".into(),
            })
    };
    let mut map = TensorMap {
        source: path.to_owned(),
        ..TensorMap::default()
    };
    for (head_path, data) in collect_tensors(&tower.proj)? {
        map.tensors
            .insert(name(&format!("text.proj.{head_path}"))?, data);
    }
    let mut scale = to_f32(model.logit_scale.val().into_data());
    scale.shape = Shape::new([]);
    map.tensors.insert(name("logit_scale")?, scale);
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bert_layers(layers: usize) -> Vec<String> {
        let pooler = std::iter::once("pooler.dense".to_string());
        (0..layers)
            .flat_map(|i| {
                [
                    "attention.self.query",
                    "attention.self.key",
                    "attention.self.value",
                    "attention.output.dense",
                    "intermediate.dense",
                    "output.dense",
                ]
                .map(|name| format!("encoder.layer.{i}.{name}"))
            })
            .chain(pooler)
            .collect()
    }

    #[test]
    fn target_modules_are_the_shortest_names_matching_exactly_the_adapted_layers() {
        let all = bert_layers(12);
        let pick = |wanted: &dyn Fn(&str) -> bool| -> BTreeSet<String> {
            all.iter().filter(|p| wanted(p)).cloned().collect()
        };
        let query_value = pick(&|p| p.ends_with("query") || p.ends_with("value"));
        assert_eq!(peft_target_modules(&all, &query_value), ["query", "value"]);
        // `dense` would also match the pooler; `output.dense` also the attention output.
        let ffn = pick(&|p| p.ends_with("intermediate.dense") || p.ends_with(".output.dense"));
        assert_eq!(
            peft_target_modules(&all, &ffn),
            ["intermediate.dense", "output.dense"]
        );
        let ffn_out = pick(&|p| p.ends_with(".output.dense") && !p.contains("attention"));
        assert_eq!(
            peft_target_modules(&all, &ffn_out).len(),
            12,
            "{:?}",
            peft_target_modules(&all, &ffn_out)
        );
        // One layer only: never a bare index (`1.attention…`), and layer 1 is not layer 11.
        let one = pick(&|p| p == "encoder.layer.1.attention.self.query");
        assert_eq!(
            peft_target_modules(&all, &one),
            ["layer.1.attention.self.query"]
        );
    }

    #[test]
    fn modules_to_save_match_by_module_suffix() {
        let names = vec!["embeddings.LayerNorm".to_string()];
        assert!(under_modules_to_save(
            "base_model.model.embeddings.LayerNorm.weight",
            &names
        ));
        assert!(!under_modules_to_save(
            "base_model.model.encoder.layer.0.output.LayerNorm.weight",
            &names
        ));
        assert!(!under_modules_to_save(
            "embeddings.LayerNorm.weight",
            &names
        ));
        let names = vec!["proj".to_string()];
        assert!(under_modules_to_save(
            "base_model.model.proj.0.weight",
            &names
        ));
        assert!(!under_modules_to_save(
            "base_model.model.transformer.encoder.layer.0.output.dense.weight",
            &names
        ));
    }
}
