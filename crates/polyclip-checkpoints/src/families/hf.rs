//! Hugging Face layouts: `config.json` + `model.safetensors` (or its shard index, or `pytorch_model.bin`).
//!
//! - `clip` — HF `CLIPModel` (openai/clip-vit-*): `vision_model.*`, `text_model.*`, projections, `logit_scale`.
//! - `vision-text-dual-encoder` — CLIP vision + a BERT-family text model with its pooler (clip-italian).
//! - `M-CLIP` — Multilingual-CLIP: `transformer.*` (the `modelBase` encoder) + `LinearTransformation` (with bias).
//! - `themo-student` — the same layout with a bias-free Linear into a teacher CLIP's text width; the teacher
//!   (`teacher`: an HF `CLIPModel` folder) brings the vision tower, `text_projection` and `logit_scale`.

use std::path::{Path, PathBuf};

use polyclip_models::bert::BertConfig;
use polyclip_models::clip::{ClipTextConfig, ClipVisionConfig};
use polyclip_models::pooling::Pooling;
use polyclip_models::projection::ProjectionType;
use polyclip_models::{ClipModelConfig, LogitScaleConfig, TextModelConfig, TextTowerConfig};
use serde_json::Value;

use super::special_tokens::pad_token;
use super::{
    Architecture, Family, ModelSpec, TextConventions, Transform, WeightSource, first_present,
    read_json,
};
use crate::error::CheckpointError;
use crate::keymap::{BERT_SEGMENTS, KeyMap};
use crate::preprocess_config::hf_preprocess_in;

/// Weight files in the order they are preferred.
pub const WEIGHT_FILES: &[&str] = &[
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
];

/// Buffers HF checkpoints may carry that hold no parameter.
pub(crate) const BUFFERS: &[&str] = &["position_ids"];

/// Reads a Hugging Face folder.
pub fn spec(dir: &Path) -> Result<ModelSpec, CheckpointError> {
    let config_path = dir.join("config.json");
    let config: Value = read_json(&config_path)?;
    let model_type = config
        .get("model_type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match model_type {
        "clip" => clip_spec(dir, &config_path, &config),
        "vision-text-dual-encoder" => dual_encoder_spec(dir, &config_path, &config),
        "M-CLIP" => mclip_spec(dir, &config_path, &config, Family::MClip),
        "themo-student" => mclip_spec(dir, &config_path, &config, Family::ThemoStudent),
        other => Err(CheckpointError::Unsupported {
            path: config_path,
            key: "model_type".into(),
            value: format!("{other:?}"),
            reason: "supported: clip, vision-text-dual-encoder, M-CLIP, themo-student".into(),
        }),
    }
}

pub(crate) fn weights(dir: &Path) -> Result<PathBuf, CheckpointError> {
    first_present(dir, WEIGHT_FILES).ok_or_else(|| CheckpointError::UnknownLayout {
        dir: dir.to_owned(),
        found: "config.json without model.safetensors, model.safetensors.index.json or pytorch_model.bin".into(),
    })
}

fn field<T: serde::de::DeserializeOwned>(
    config: &Value,
    key: &str,
    path: &Path,
) -> Result<T, CheckpointError> {
    let value = config.get(key).cloned().unwrap_or(Value::Null);
    serde_json::from_value(value).map_err(|e| CheckpointError::parse(path, format!("`{key}`: {e}")))
}

/// The first of several names a field goes by (M-CLIP's config is written with its attribute names,
/// `transformerDimensions` / `numDims`, and read with its constructor's, `transformerDimSize` / `imageDimSize`).
fn field_named<T: serde::de::DeserializeOwned>(
    config: &Value,
    keys: &[&str],
    path: &Path,
) -> Result<T, CheckpointError> {
    let key = keys
        .iter()
        .find(|key| config.get(**key).is_some())
        .unwrap_or(&keys[0]);
    field(config, key, path)
}

fn logit_scale(config: &Value) -> LogitScaleConfig {
    let ln = config
        .get("logit_scale_init_value")
        .and_then(Value::as_f64)
        .unwrap_or(2.6592);
    LogitScaleConfig {
        scale: ln.exp(),
        learnable: true,
    }
}

/// The vision config of a CLIP or dual-encoder config (a full `clip` config nests its own `vision_config`).
fn vision_config(config: &Value, path: &Path) -> Result<ClipVisionConfig, CheckpointError> {
    let vision = config.get("vision_config").cloned().unwrap_or(Value::Null);
    let vision = match vision.get("vision_config") {
        Some(nested) => nested.clone(),
        None => vision,
    };
    let parsed: ClipVisionConfig = serde_json::from_value(vision)
        .map_err(|e| CheckpointError::parse(path, format!("`vision_config`: {e}")))?;
    parsed.validate()?;
    Ok(parsed)
}

fn clip_text_conventions(dir: &Path, text: &ClipTextConfig) -> TextConventions {
    let tokenizer = first_present(dir, &["tokenizer.json"]);
    // CLIP's text config says `pad_token_id: 1` ("!"); its tokenizer files name the real one.
    TextConventions {
        pad_token: pad_token(&[dir], None, None, "<|endoftext|>"),
        tokenizer,
        max_tokens: text.max_position_embeddings,
        clean_whitespace: false,
    }
}

/// The key table of HF `CLIPModel`.
pub fn clip_keymap() -> KeyMap {
    KeyMap::new(
        &[("logit_scale", "logit_scale")],
        &[
            ("vision_model.", "vision.vision_model."),
            ("visual_projection.", "vision.visual_projection."),
            ("text_model.", "text.text_model."),
            ("text_projection.", "text.text_projection."),
        ],
        &[],
        BUFFERS,
    )
}

fn clip_spec(dir: &Path, path: &Path, config: &Value) -> Result<ModelSpec, CheckpointError> {
    let text: ClipTextConfig = field(config, "text_config", path)?;
    text.validate()?;
    let model = ClipModelConfig {
        projection_dim: field(config, "projection_dim", path)?,
        vision_config: vision_config(config, path)?,
        text: TextTowerConfig::Clip {
            text_config: text.clone(),
        },
        logit_scale: logit_scale(config),
    };
    Ok(ModelSpec {
        family: Family::HfClip,
        dir: dir.to_owned(),
        preprocess: Some(hf_preprocess_in(dir, model.vision_config.image_size)?),
        architecture: Architecture::Dual(model),
        sources: vec![WeightSource {
            file: weights(dir)?,
            keymap: clip_keymap(),
            transform: Transform::Plain,
        }],
        text: clip_text_conventions(dir, &text),
    })
}

/// The key table of HF `VisionTextDualEncoderModel` with a BERT-family text model.
pub fn dual_encoder_keymap() -> KeyMap {
    KeyMap::new(
        &[("logit_scale", "logit_scale")],
        &[
            ("vision_model.", "vision.vision_model."),
            ("visual_projection.", "vision.visual_projection."),
            ("text_model.", "text.transformer."),
            ("text_projection.", "text.proj."),
        ],
        BERT_SEGMENTS,
        BUFFERS,
    )
}

pub(crate) fn encoder_conventions(
    dir: &Path,
    encoder: &BertConfig,
    clean_whitespace: bool,
) -> TextConventions {
    let offset = encoder.position_offset();
    let tokenizer = first_present(dir, &["tokenizer.json"]);
    TextConventions {
        pad_token: pad_token(
            &[dir],
            tokenizer.as_deref(),
            Some(encoder.pad_token()),
            // Only when neither the folder's tokenizer files nor its vocabulary say (a `--tokenizer` from
            // elsewhere): XLM-R's and BERT's own names.
            if encoder.offsets_positions_by_padding() {
                "<pad>"
            } else {
                "[PAD]"
            },
        ),
        tokenizer,
        max_tokens: encoder.max_position_embeddings - offset,
        clean_whitespace,
    }
}

fn dual_encoder_spec(
    dir: &Path,
    path: &Path,
    config: &Value,
) -> Result<ModelSpec, CheckpointError> {
    let text: BertConfig = field(config, "text_config", path)?;
    let model = ClipModelConfig {
        projection_dim: field(config, "projection_dim", path)?,
        vision_config: vision_config(config, path)?,
        text: TextTowerConfig::HfEncoder {
            encoder_config: text.clone(),
            pooler_type: Pooling::Pooler,
            proj_type: ProjectionType::Linear,
            proj_bias: false,
            teacher_width: None,
        },
        logit_scale: logit_scale(config),
    };
    model.validate()?;
    Ok(ModelSpec {
        family: Family::VisionTextDualEncoder,
        dir: dir.to_owned(),
        preprocess: Some(hf_preprocess_in(dir, model.vision_config.image_size)?),
        architecture: Architecture::Dual(model),
        sources: vec![WeightSource {
            file: weights(dir)?,
            keymap: dual_encoder_keymap(),
            transform: Transform::Plain,
        }],
        text: encoder_conventions(dir, &text, false),
    })
}

/// An encoder config named by an M-CLIP `modelBase` or an open_clip `hf_model_name`: a folder (relative to the
/// checkpoint) holding `config.json`, else one of the public base models whose config is known.
pub fn encoder_config(
    dir: &Path,
    name: &str,
    key: &str,
    path: &Path,
) -> Result<BertConfig, CheckpointError> {
    let local = dir.join(name).join("config.json");
    if local.is_file() {
        let config: BertConfig = read_json(&local)?;
        config.validate()?;
        return Ok(config);
    }
    known_encoder_config(name).ok_or_else(|| CheckpointError::Unsupported {
        path: path.to_owned(),
        key: key.into(),
        value: format!("{name:?}"),
        reason: format!(
            "put the encoder's config.json in {} (polyclip knows xlm-roberta-base and xlm-roberta-large by name)",
            dir.join(name).display()
        ),
    })
}

/// The configs of the public encoders the methods build on (their config.json on the Hub).
fn known_encoder_config(name: &str) -> Option<BertConfig> {
    let base = |hidden, layers, heads, intermediate| BertConfig {
        model_type: "xlm-roberta".into(),
        vocab_size: 250_002,
        hidden_size: hidden,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        intermediate_size: intermediate,
        hidden_act: polyclip_models::activation::Activation::Gelu,
        hidden_dropout_prob: 0.1,
        attention_probs_dropout_prob: 0.1,
        max_position_embeddings: 514,
        type_vocab_size: 1,
        layer_norm_eps: 1e-5,
        initializer_range: 0.02,
        pad_token_id: Some(1),
    };
    match name.trim_start_matches("FacebookAI/") {
        "xlm-roberta-base" => Some(base(768, 12, 12, 3072)),
        "xlm-roberta-large" => Some(base(1024, 24, 16, 4096)),
        _ => None,
    }
}

/// The key table of M-CLIP (and Themo-style students, whose head is `text.proj.student`).
pub fn mclip_keymap(head: &str) -> KeyMap {
    KeyMap::new(
        &[],
        &[
            ("transformer.", "text.transformer."),
            ("LinearTransformation.", head),
        ],
        BERT_SEGMENTS,
        BUFFERS,
    )
    // M-CLIP loads its encoder with the pooling layer but pools by the mask mean.
    .ignoring_prefixes(&["transformer.pooler."])
}

fn mclip_spec(
    dir: &Path,
    path: &Path,
    config: &Value,
    family: Family,
) -> Result<ModelSpec, CheckpointError> {
    let base: String = field(config, "modelBase", path)?;
    let encoder = encoder_config(dir, &base, "modelBase", path)?;
    let transformer_width: usize = field_named(
        config,
        &["transformerDimensions", "transformerDimSize"],
        path,
    )?;
    if transformer_width != encoder.hidden_size {
        return Err(CheckpointError::Unsupported {
            path: path.to_owned(),
            key: "transformerDimensions".into(),
            value: transformer_width.to_string(),
            reason: format!(
                "the encoder `{base}` has hidden_size {}",
                encoder.hidden_size
            ),
        });
    }
    let out_width: usize = field_named(config, &["numDims", "imageDimSize"], path)?;
    let text = encoder_conventions(dir, &encoder, false);
    let student = WeightSource {
        file: weights(dir)?,
        keymap: mclip_keymap(if family == Family::MClip {
            "text.proj."
        } else {
            "text.proj.student."
        }),
        transform: Transform::Plain,
    };
    if family == Family::MClip {
        let model = TextModelConfig {
            projection_dim: out_width,
            text: TextTowerConfig::HfEncoder {
                encoder_config: encoder,
                pooler_type: Pooling::Mean,
                proj_type: ProjectionType::Linear,
                proj_bias: true,
                teacher_width: None,
            },
        };
        model.text.validate()?;
        return Ok(ModelSpec {
            family,
            dir: dir.to_owned(),
            architecture: Architecture::Text(model),
            sources: vec![student],
            text,
            preprocess: None,
        });
    }
    let teacher_name: String = field(config, "teacher", path)?;
    let teacher_dir = dir.join(&teacher_name);
    let teacher = spec(&teacher_dir)?;
    let Architecture::Dual(teacher_model) = teacher.architecture else {
        return Err(CheckpointError::Unsupported {
            path: path.to_owned(),
            key: "teacher".into(),
            value: format!("{teacher_name:?}"),
            reason: "the teacher must be a CLIP model with both towers".into(),
        });
    };
    let model = ClipModelConfig {
        projection_dim: teacher_model.projection_dim,
        vision_config: teacher_model.vision_config.clone(),
        text: TextTowerConfig::HfEncoder {
            encoder_config: encoder,
            pooler_type: Pooling::Mean,
            proj_type: ProjectionType::Distilled,
            proj_bias: false,
            teacher_width: Some(out_width),
        },
        logit_scale: teacher_model.logit_scale,
    };
    model.validate()?;
    let teacher_keys = KeyMap::new(
        &[("logit_scale", "logit_scale")],
        &[
            ("vision_model.", "vision.vision_model."),
            ("visual_projection.", "vision.visual_projection."),
            ("text_projection.", "text.proj.teacher."),
        ],
        &[],
        BUFFERS,
    )
    // The student replaces the teacher's text transformer.
    .ignoring_prefixes(&["text_model."]);
    let teacher_source = WeightSource {
        file: weights(&teacher_dir)?,
        keymap: teacher_keys,
        transform: Transform::Plain,
    };
    Ok(ModelSpec {
        family,
        dir: dir.to_owned(),
        architecture: Architecture::Dual(model),
        sources: vec![student, teacher_source],
        text,
        // The image tower is the teacher's, and so is its transform.
        preprocess: teacher.preprocess,
    })
}
