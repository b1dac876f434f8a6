//! open_clip's native layout (`open_clip_config.json` + `open_clip_model.safetensors` /
//! `open_clip_pytorch_model.bin`) and CAPIVARA's Lightning checkpoint of an open_clip model.
//!
//! The vision tower and open_clip's own text transformer use fused `attn.in_proj_{weight,bias}` (split into
//! q/k/v here) and `x @ W` projections (`visual.proj`, `text_projection`, transposed here); HF text towers
//! (`text_cfg.hf_model_name`, e.g. CAPIVARA's XLM-R) keep the HF layout under `text.transformer.` with
//! `text.proj` as a Linear or `proj.0`/`proj.2` MLP.

use std::path::{Path, PathBuf};

use burn::tensor::TensorData;
use polyclip_models::activation::Activation;
use polyclip_models::clip::{ClipTextConfig, ClipVisionConfig, TextPooling};
use polyclip_models::pooling::Pooling;
use polyclip_models::projection::ProjectionType;
use polyclip_models::{ClipModelConfig, LogitScaleConfig, TextTowerConfig};
use serde::{Deserialize, Serialize};

use super::hf::encoder_config;
use super::special_tokens::pad_token;
use super::{
    Architecture, Family, ModelSpec, TextConventions, Transform, WeightSource, first_present,
    read_json,
};
use crate::apply::transpose;
use crate::error::CheckpointError;
use crate::keymap::{BERT_SEGMENTS, KeyMap};
use crate::preprocess_config::open_clip_preprocess;
use crate::tensors::TensorMap;

/// Weight files of an open_clip folder, in the order they are preferred.
pub const WEIGHT_FILES: &[&str] = &["open_clip_model.safetensors", "open_clip_pytorch_model.bin"];
/// The key prefix of CAPIVARA's Lightning module (`OpenCLIPWrapper.model.model`).
pub const CAPIVARA_PREFIX: &str = "model.model.";

/// `open_clip_config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenClipFile {
    pub model_cfg: OpenClipConfig,
    #[serde(default)]
    pub preprocess_cfg: serde_json::Value,
}

/// open_clip's model config (its `model_configs/*.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenClipConfig {
    pub embed_dim: usize,
    #[serde(default)]
    pub quick_gelu: bool,
    pub vision_cfg: VisionCfg,
    pub text_cfg: TextCfg,
    /// open_clip's `CustomTextCLIP`: the text tower is the module `text`, so its own transformer's weights are
    /// `text.token_embedding.weight`, `text.transformer.resblocks.*`, … rather than top-level keys (an HF text tower
    /// is always there, whatever this says).
    #[serde(default)]
    pub custom_text: bool,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// open_clip's `CLIPVisionCfg` (the options polyclip supports; others are refused by name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisionCfg {
    pub layers: usize,
    pub width: usize,
    #[serde(default = "default_head_width")]
    pub head_width: usize,
    #[serde(default = "default_mlp_ratio")]
    pub mlp_ratio: f64,
    pub patch_size: usize,
    pub image_size: usize,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// open_clip's `CLIPTextCfg`: its own transformer, or an HF model (`hf_model_name`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextCfg {
    #[serde(default = "default_context")]
    pub context_length: usize,
    #[serde(default = "default_vocab", skip_serializing_if = "Option::is_none")]
    pub vocab_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heads: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<usize>,
    #[serde(default = "default_mlp_ratio")]
    pub mlp_ratio: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hf_model_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hf_tokenizer_name: Option<String>,
    /// (`pooler_type` in the configs of open_clip before 2.21.)
    #[serde(default = "default_pooler", alias = "pooler_type")]
    pub hf_pooler_type: String,
    /// (`proj` in the configs of open_clip before 2.21.)
    #[serde(default = "default_proj", alias = "proj")]
    pub hf_proj_type: String,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

fn default_head_width() -> usize {
    64
}
fn default_mlp_ratio() -> f64 {
    4.0
}
fn default_context() -> usize {
    77
}
fn default_vocab() -> Option<usize> {
    Some(49408)
}
fn default_pooler() -> String {
    "mean_pooler".into()
}
fn default_proj() -> String {
    "mlp".into()
}

/// Refuses open_clip options that change the architecture unless they hold their default value.
fn refuse_options(
    path: &Path,
    section: &str,
    other: &serde_json::Map<String, serde_json::Value>,
    harmless: &[&str],
) -> Result<(), CheckpointError> {
    for (key, value) in other {
        let is_default = matches!(value, serde_json::Value::Null)
            || matches!(value, serde_json::Value::Bool(false))
            || (key == "pool_type" && (value == "tok" || value == "argmax"))
            || (key == "proj_type" && value == "linear")
            || (key == "pad_id" && value == 0)
            || (key == "output_tokens");
        if !is_default && !harmless.contains(&key.as_str()) {
            return Err(CheckpointError::Unsupported {
                path: path.to_owned(),
                key: format!("{section}.{key}"),
                value: value.to_string(),
                reason: "this open_clip option changes the architecture and is not supported yet"
                    .into(),
            });
        }
    }
    Ok(())
}

impl OpenClipConfig {
    /// The polyclip config; `dir` resolves an HF text tower's `hf_model_name`.
    pub fn to_model_config(
        &self,
        dir: &Path,
        path: &Path,
    ) -> Result<ClipModelConfig, CheckpointError> {
        let v = &self.vision_cfg;
        refuse_options(
            path,
            "vision_cfg",
            &v.other,
            &["patch_dropout", "timm_model_pretrained"],
        )?;
        let activation = if self.quick_gelu {
            Activation::QuickGelu
        } else {
            Activation::Gelu
        };
        let vision_config = ClipVisionConfig {
            hidden_size: v.width,
            intermediate_size: (v.width as f64 * v.mlp_ratio) as usize,
            num_hidden_layers: v.layers,
            num_attention_heads: v.width / v.head_width.max(1),
            num_channels: 3,
            image_size: v.image_size,
            patch_size: v.patch_size,
            hidden_act: activation,
            layer_norm_eps: 1e-5,
            initializer_range: 0.02,
        };
        let t = &self.text_cfg;
        let text = match &t.hf_model_name {
            Some(name) => {
                refuse_options(path, "text_cfg", &t.other, &["hf_model_pretrained"])?;
                let encoder = encoder_config(dir, name, "text_cfg.hf_model_name", path)?;
                let (pooler_type, proj_type) = hf_tower_kind(t, path)?;
                TextTowerConfig::HfEncoder {
                    encoder_config: encoder,
                    pooler_type,
                    proj_type,
                    proj_bias: false,
                    teacher_width: None,
                }
            }
            None => {
                refuse_options(path, "text_cfg", &t.other, &[])?;
                let width = required(t.width, "text_cfg.width", path)?;
                TextTowerConfig::Clip {
                    text_config: ClipTextConfig {
                        vocab_size: required(t.vocab_size, "text_cfg.vocab_size", path)?,
                        hidden_size: width,
                        intermediate_size: (width as f64 * t.mlp_ratio) as usize,
                        num_hidden_layers: required(t.layers, "text_cfg.layers", path)?,
                        num_attention_heads: required(t.heads, "text_cfg.heads", path)?,
                        max_position_embeddings: t.context_length,
                        hidden_act: activation,
                        layer_norm_eps: 1e-5,
                        initializer_range: 0.02,
                        pad_token_id: 0,
                        bos_token_id: 0,
                        eos_token_id: 2,
                        // open_clip pools at the largest id (its end-of-text token).
                        pooling: Some(TextPooling::LargestId),
                    },
                }
            }
        };
        refuse_options(path, "model_cfg", &self.other, &[])?;
        let config = ClipModelConfig {
            projection_dim: self.embed_dim,
            vision_config,
            text,
            logit_scale: LogitScaleConfig::default(),
        };
        config.validate()?;
        Ok(config)
    }
}

fn required(value: Option<usize>, key: &str, path: &Path) -> Result<usize, CheckpointError> {
    value.ok_or_else(|| CheckpointError::Unsupported {
        path: path.to_owned(),
        key: key.into(),
        value: "absent".into(),
        reason: "open_clip's own text transformer needs it".into(),
    })
}

fn hf_tower_kind(
    text: &TextCfg,
    path: &Path,
) -> Result<(Pooling, ProjectionType), CheckpointError> {
    let pooling: Pooling = serde_json::from_value(serde_json::Value::String(
        text.hf_pooler_type.clone(),
    ))
    .map_err(|_| CheckpointError::Unsupported {
        path: path.to_owned(),
        key: "text_cfg.hf_pooler_type".into(),
        value: format!("{:?}", text.hf_pooler_type),
        reason: "supported: mean_pooler, cls_pooler, cls_last_hidden_state_pooler".into(),
    })?;
    let projection = match text.hf_proj_type.as_str() {
        "mlp" => ProjectionType::Mlp,
        "linear" => ProjectionType::Linear,
        other => {
            return Err(CheckpointError::Unsupported {
                path: path.to_owned(),
                key: "text_cfg.hf_proj_type".into(),
                value: format!("{other:?}"),
                reason: "supported: mlp, linear".into(),
            });
        }
    };
    Ok((pooling, projection))
}

/// The key table for a config (vision, then open_clip's own text transformer or an HF tower), as `CLIP` names
/// the weights.
pub fn keymap(config: &ClipModelConfig) -> KeyMap {
    keymap_with_text_under(config, "")
}

/// The key table of an open_clip folder: `CustomTextCLIP` (`custom_text`) keeps its own text transformer under
/// `text.`, `CLIP` at the top level.
pub fn folder_keymap(model_cfg: &OpenClipConfig, config: &ClipModelConfig) -> KeyMap {
    let text_prefix = if model_cfg.custom_text { "text." } else { "" };
    keymap_with_text_under(config, text_prefix)
}

/// The key table with open_clip's own text transformer under `text_prefix`.
fn keymap_with_text_under(config: &ClipModelConfig, text_prefix: &str) -> KeyMap {
    // open_clip's own text transformer's names, under `text_prefix`.
    let mut text_keys: Vec<(String, &str)> = Vec::new();
    let mut text_prefixes: Vec<(String, &str)> = Vec::new();
    let mut keys = vec![
        ("logit_scale", "logit_scale"),
        (
            "visual.class_embedding",
            "vision.vision_model.embeddings.class_embedding",
        ),
        (
            "visual.positional_embedding",
            "vision.vision_model.embeddings.position_embedding.weight",
        ),
        (
            "visual.conv1.weight",
            "vision.vision_model.embeddings.patch_embedding.weight",
        ),
        ("visual.proj", "vision.visual_projection.weight"),
    ];
    let mut prefixes = vec![
        ("visual.ln_pre.", "vision.vision_model.pre_layrnorm."),
        ("visual.ln_post.", "vision.vision_model.post_layernorm."),
        (
            "visual.transformer.resblocks.",
            "vision.vision_model.encoder.layers.",
        ),
    ];
    let mut segments = vec![
        ("ln_1", "layer_norm1"),
        ("ln_2", "layer_norm2"),
        ("attn", "self_attn"),
        ("c_fc", "fc1"),
        ("c_proj", "fc2"),
    ];
    match &config.text {
        TextTowerConfig::Clip { .. } => {
            text_keys = [
                (
                    format!("{text_prefix}token_embedding.weight"),
                    "text.text_model.embeddings.token_embedding.weight",
                ),
                (
                    format!("{text_prefix}positional_embedding"),
                    "text.text_model.embeddings.position_embedding.weight",
                ),
                (
                    format!("{text_prefix}text_projection"),
                    "text.text_projection.weight",
                ),
            ]
            .to_vec();
            text_prefixes = [
                (
                    format!("{text_prefix}transformer.resblocks."),
                    "text.text_model.encoder.layers.",
                ),
                (
                    format!("{text_prefix}ln_final."),
                    "text.text_model.final_layer_norm.",
                ),
            ]
            .to_vec();
        }
        TextTowerConfig::HfEncoder { proj_type, .. } => {
            if *proj_type == ProjectionType::Mlp {
                keys.extend([
                    ("text.proj.0.weight", "text.proj.fc1.weight"),
                    ("text.proj.2.weight", "text.proj.fc2.weight"),
                ]);
            }
            prefixes.extend([
                ("text.transformer.", "text.transformer."),
                ("text.proj.", "text.proj."),
            ]);
            segments.extend(BERT_SEGMENTS.iter().copied());
        }
    }
    keys.extend(text_keys.iter().map(|(key, ours)| (key.as_str(), *ours)));
    prefixes.extend(
        text_prefixes
            .iter()
            .map(|(key, ours)| (key.as_str(), *ours)),
    );
    let mut map = KeyMap::new(&keys, &prefixes, &segments, &["position_ids", "attn_mask"]);
    if let TextTowerConfig::HfEncoder { pooler_type, .. } = &config.text
        && *pooler_type != Pooling::Pooler
    {
        map = map.ignoring_prefixes(&["text.transformer.pooler."]);
    }
    map
}

/// Reads an open_clip folder (with `ckpt`: CAPIVARA's Lightning checkpoint of that model).
pub fn spec(dir: &Path, ckpt: Option<PathBuf>) -> Result<ModelSpec, CheckpointError> {
    let path = dir.join("open_clip_config.json");
    let file: OpenClipFile = read_json(&path)?;
    let config = file.model_cfg.to_model_config(dir, &path)?;
    let (family, weights, prefix) = match ckpt {
        Some(ckpt) => (Family::Capivara, ckpt, Some(CAPIVARA_PREFIX)),
        None => (
            Family::OpenClip,
            first_present(dir, WEIGHT_FILES).ok_or_else(|| CheckpointError::UnknownLayout {
                dir: dir.to_owned(),
                found: "open_clip_config.json without open_clip_model.safetensors or open_clip_pytorch_model.bin"
                    .into(),
            })?,
            None,
        ),
    };
    let text = match &config.text {
        TextTowerConfig::Clip { text_config } => TextConventions {
            tokenizer: first_present(dir, &["tokenizer.json"]),
            pad_token: pad_token(&[dir], None, None, "<|endoftext|>"),
            max_tokens: text_config.max_position_embeddings,
            clean_whitespace: false,
        },
        TextTowerConfig::HfEncoder { encoder_config, .. } => {
            let tokenizer_dir = file
                .model_cfg
                .text_cfg
                .hf_tokenizer_name
                .as_deref()
                .map(|name| dir.join(name));
            let tokenizer = first_present(dir, &["tokenizer.json"]).or_else(|| {
                tokenizer_dir
                    .as_deref()
                    .and_then(|d| first_present(d, &["tokenizer.json"]))
            });
            // The tokenizer's own files say which token pads (`<pad>` for XLM-R, `[PAD]` for BERT).
            let mut dirs = vec![dir];
            dirs.extend(tokenizer_dir.as_deref());
            let pad = pad_token(
                &dirs,
                tokenizer.as_deref(),
                Some(encoder_config.pad_token()),
                "<pad>",
            );
            TextConventions {
                tokenizer,
                pad_token: pad,
                max_tokens: file.model_cfg.text_cfg.context_length,
                clean_whitespace: true,
            }
        }
    };
    Ok(ModelSpec {
        family,
        dir: dir.to_owned(),
        preprocess: Some(open_clip_preprocess(
            &file.preprocess_cfg,
            config.vision_config.image_size as u32,
            &path,
        )?),
        sources: vec![WeightSource {
            file: weights,
            keymap: folder_keymap(&file.model_cfg, &config),
            transform: Transform::OpenClip { prefix },
        }],
        architecture: Architecture::Dual(config),
        text,
    })
}

/// Strips `prefix`, splits fused attention projections into q/k/v, and transposes `x @ W` projections into
/// Linear layout, so that the key table alone finishes the job.
pub fn transform_tensors(
    tensors: &mut TensorMap,
    prefix: Option<&str>,
) -> Result<(), CheckpointError> {
    if let Some(prefix) = prefix {
        tensors.tensors = std::mem::take(&mut tensors.tensors)
            .into_iter()
            .map(|(key, data)| {
                (
                    key.strip_prefix(prefix).map(String::from).unwrap_or(key),
                    data,
                )
            })
            .collect();
    }
    let fused: Vec<String> = tensors
        .tensors
        .keys()
        .filter(|key| key.ends_with("attn.in_proj_weight") || key.ends_with("attn.in_proj_bias"))
        .cloned()
        .collect();
    for key in fused {
        let Some(data) = tensors.tensors.remove(&key) else {
            continue;
        };
        let (stem, kind) = match key.strip_suffix("in_proj_weight") {
            Some(stem) => (stem.to_string(), "weight"),
            None => (key.trim_end_matches("in_proj_bias").to_string(), "bias"),
        };
        let parts = split_rows(&data, 3).ok_or_else(|| CheckpointError::Tensor {
            path: tensors.source.clone(),
            key: key.clone(),
            reason: format!("shape {:?} does not split into q, k, v", data.shape),
        })?;
        for (name, part) in ["q_proj", "k_proj", "v_proj"].iter().zip(parts) {
            tensors.tensors.insert(format!("{stem}{name}.{kind}"), part);
        }
    }
    transpose_projections(tensors)
}

/// `visual.proj` and `text_projection` (`text.text_projection` in a `CustomTextCLIP`) are `x @ W` matrices, the
/// transpose of a Linear weight (both ways).
fn transpose_projections(tensors: &mut TensorMap) -> Result<(), CheckpointError> {
    for key in ["visual.proj", "text_projection", "text.text_projection"] {
        if let Some(data) = tensors.tensors.remove(key) {
            let data = transpose(data, &tensors.source, key)?;
            tensors.tensors.insert(key.into(), data);
        }
    }
    Ok(())
}

/// Splits the first dimension into `parts` equal tensors.
fn split_rows(data: &TensorData, parts: usize) -> Option<Vec<TensorData>> {
    let rows = *data.shape.first()?;
    if rows % parts != 0 {
        return None;
    }
    let values = data.to_vec::<f32>().ok()?;
    let chunk = values.len() / parts;
    let mut shape = data.shape.clone();
    shape[0] = rows / parts;
    Some(
        values
            .chunks(chunk)
            .map(|part| TensorData::new(part.to_vec(), shape.clone()))
            .collect(),
    )
}

/// Fuses q/k/v back into `in_proj` and transposes projections into `x @ W` form (export's inverse of
/// [`transform_tensors`]).
pub fn untransform_tensors(tensors: &mut TensorMap) -> Result<(), CheckpointError> {
    let q_keys: Vec<String> = tensors
        .tensors
        .keys()
        .filter(|key| key.contains("attn.q_proj."))
        .cloned()
        .collect();
    for q_key in q_keys {
        let k_key = q_key.replace("attn.q_proj.", "attn.k_proj.");
        let v_key = q_key.replace("attn.q_proj.", "attn.v_proj.");
        let (Some(q), Some(k), Some(v)) = (
            tensors.tensors.remove(&q_key),
            tensors.tensors.remove(&k_key),
            tensors.tensors.remove(&v_key),
        ) else {
            continue;
        };
        let fused = q_key
            .replace("attn.q_proj.weight", "attn.in_proj_weight")
            .replace("attn.q_proj.bias", "attn.in_proj_bias");
        if q.shape != k.shape || q.shape != v.shape {
            return Err(CheckpointError::Tensor {
                path: tensors.source.clone(),
                key: fused,
                reason: format!(
                    "q, k, v shapes {:?}, {:?}, {:?} differ",
                    q.shape, k.shape, v.shape
                ),
            });
        }
        let mut shape = q.shape.clone();
        shape[0] *= 3;
        let mut values = Vec::with_capacity(3 * q.num_elements());
        for part in [q, k, v] {
            let part = part.to_vec::<f32>().map_err(|e| CheckpointError::Tensor {
                path: tensors.source.clone(),
                key: fused.clone(),
                reason: format!("{e:?}"),
            })?;
            values.extend(part);
        }
        tensors
            .tensors
            .insert(fused, TensorData::new(values, shape));
    }
    transpose_projections(tensors)
}
