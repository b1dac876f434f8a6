//! Writing polyclip models back in the layouts the Python references load: HF `CLIPModel`, HF
//! `VisionTextDualEncoderModel`, open_clip (native or with an HF text tower) and Multilingual-CLIP.

use std::path::Path;

use burn::tensor::ElementConversion;
use burn::tensor::backend::Backend;
use polyclip_models::clip::{ClipTextConfig, ClipVisionConfig, TextPooling};
use polyclip_models::pooling::Pooling;
use polyclip_models::projection::ProjectionType;
use polyclip_models::{ClipModel, ClipModelConfig, TextModel, TextModelConfig, TextTowerConfig};
use serde_json::{Value, json};

use crate::apply::collect_tensors;
use crate::error::CheckpointError;
use crate::families::{hf, open_clip};
use crate::keymap::KeyMap;
use crate::tensors::TensorMap;

/// The layouts a model can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// `config.json` + `model.safetensors` for `transformers.CLIPModel` (CLIP text tower).
    HfClip,
    /// `config.json` + `model.safetensors` for `transformers.VisionTextDualEncoderModel` (BERT-family text
    /// model with its pooler and a Linear projection).
    VisionTextDualEncoder,
    /// `open_clip_config.json` + `open_clip_model.safetensors` (+ `text/config.json` for an HF text tower).
    OpenClip,
}

impl ExportFormat {
    /// The natural layout of a model: HF CLIPModel for a CLIP text tower, VisionTextDualEncoder for a pooler +
    /// Linear text tower, open_clip for mean/CLS-pooled towers with MLP heads (CAPIVARA's).
    pub fn natural(config: &ClipModelConfig) -> Self {
        match &config.text {
            TextTowerConfig::Clip { .. } => Self::HfClip,
            TextTowerConfig::HfEncoder {
                pooler_type: Pooling::Pooler,
                proj_type: ProjectionType::Linear,
                ..
            } => Self::VisionTextDualEncoder,
            TextTowerConfig::HfEncoder { .. } => Self::OpenClip,
        }
    }
}

fn write_json(path: &Path, value: &Value) -> Result<(), CheckpointError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| CheckpointError::parse(path, e))?;
    std::fs::write(path, text).map_err(|e| CheckpointError::io(path, e))
}

fn with_model_type<T: serde::Serialize>(
    config: &T,
    model_type: &str,
) -> Result<Value, CheckpointError> {
    let mut value =
        serde_json::to_value(config).map_err(|e| CheckpointError::parse("<config>", e))?;
    if let Value::Object(map) = &mut value {
        map.insert("model_type".into(), json!(model_type));
    }
    Ok(value)
}

/// The module's tensors under checkpoint names (a `[1]` logit scale becomes 0-d as checkpoints store it).
fn checkpoint_tensors<B: Backend, M: burn::module::Module<B>>(
    module: &M,
    keymap: &KeyMap,
    dir: &Path,
) -> Result<TensorMap, CheckpointError> {
    let mut map = TensorMap {
        source: dir.to_owned(),
        ..TensorMap::default()
    };
    for (path, mut data) in collect_tensors(module)? {
        let key = keymap
            .to_checkpoint(&path)
            .ok_or_else(|| CheckpointError::Tensor {
                path: dir.to_owned(),
                key: path.clone(),
                reason: "no checkpoint name for this parameter in the chosen layout".into(),
            })?;
        if key == "logit_scale" {
            data.shape = burn::tensor::Shape::new([]);
        }
        map.tensors.insert(key, data);
    }
    Ok(map)
}

fn create_dir(dir: &Path) -> Result<(), CheckpointError> {
    std::fs::create_dir_all(dir).map_err(|e| CheckpointError::io(dir, e))
}

fn unsupported(dir: &Path, format: ExportFormat, reason: &str) -> CheckpointError {
    CheckpointError::Unsupported {
        path: dir.to_owned(),
        key: "format".into(),
        value: format!("{format:?}"),
        reason: reason.into(),
    }
}

/// The current `ln` of the logit scale.
fn ln_logit_scale<B: Backend>(model: &ClipModel<B>) -> f64 {
    model.logit_scale.val().into_scalar().elem::<f64>()
}

/// Writes a dual encoder to `dir` in `format`.
pub fn export_dual<B: Backend>(
    model: &ClipModel<B>,
    config: &ClipModelConfig,
    format: ExportFormat,
    dir: &Path,
) -> Result<(), CheckpointError> {
    create_dir(dir)?;
    // LoRA adapters are folded into their layers: the exported model is a plain one of its family.
    let merged = model.clone().with_merged_lora();
    let model = &merged;
    let vision = with_model_type(&config.vision_config, "clip_vision_model")?;
    let logit_scale = ln_logit_scale(model);
    match (format, &config.text) {
        (ExportFormat::HfClip, TextTowerConfig::Clip { text_config }) => {
            write_json(
                &dir.join("config.json"),
                &json!({
                    "architectures": ["CLIPModel"],
                    "model_type": "clip",
                    "projection_dim": config.projection_dim,
                    "logit_scale_init_value": logit_scale,
                    "text_config": with_model_type(text_config, "clip_text_model")?,
                    "vision_config": vision,
                }),
            )?;
            checkpoint_tensors(model, &hf::clip_keymap(), dir)?
                .write_safetensors(&dir.join("model.safetensors"))
        }
        (
            ExportFormat::VisionTextDualEncoder,
            TextTowerConfig::HfEncoder {
                encoder_config,
                pooler_type: Pooling::Pooler,
                proj_type: ProjectionType::Linear,
                proj_bias: false,
                ..
            },
        ) => {
            write_json(
                &dir.join("config.json"),
                &json!({
                    "architectures": ["VisionTextDualEncoderModel"],
                    "model_type": "vision-text-dual-encoder",
                    "projection_dim": config.projection_dim,
                    "logit_scale_init_value": logit_scale,
                    "text_config": with_model_type(encoder_config, &encoder_config.model_type)?,
                    "vision_config": vision,
                }),
            )?;
            checkpoint_tensors(model, &hf::dual_encoder_keymap(), dir)?
                .write_safetensors(&dir.join("model.safetensors"))
        }
        (ExportFormat::OpenClip, _) if is_distilled(config) => Err(unsupported(
            dir,
            format,
            "a distilled student's head has no open_clip equivalent",
        )),
        (ExportFormat::OpenClip, _) => export_open_clip(model, config, dir),
        _ => Err(unsupported(
            dir,
            format,
            "the model's text tower does not fit this layout",
        )),
    }
}

fn is_distilled(config: &ClipModelConfig) -> bool {
    matches!(
        config.text,
        TextTowerConfig::HfEncoder {
            proj_type: ProjectionType::Distilled,
            ..
        }
    )
}

fn export_open_clip<B: Backend>(
    model: &ClipModel<B>,
    config: &ClipModelConfig,
    dir: &Path,
) -> Result<(), CheckpointError> {
    let v: &ClipVisionConfig = &config.vision_config;
    let quick_gelu = v.hidden_act == polyclip_models::activation::Activation::QuickGelu;
    let vision_cfg = json!({
        "image_size": v.image_size,
        "layers": v.num_hidden_layers,
        "width": v.hidden_size,
        "head_width": v.hidden_size / v.num_attention_heads,
        "mlp_ratio": v.intermediate_size as f64 / v.hidden_size as f64,
        "patch_size": v.patch_size,
    });
    let text_cfg = match &config.text {
        TextTowerConfig::Clip { text_config } => {
            let t: &ClipTextConfig = text_config;
            if t.text_pooling() == TextPooling::FirstEos && t.eos_token_id + 1 != t.vocab_size {
                return Err(unsupported(
                    dir,
                    ExportFormat::OpenClip,
                    "open_clip pools at the largest token id; this text model pools at an end-of-text id that is \
                     not the last of its vocabulary",
                ));
            }
            json!({
                "context_length": t.max_position_embeddings,
                "vocab_size": t.vocab_size,
                "width": t.hidden_size,
                "heads": t.num_attention_heads,
                "layers": t.num_hidden_layers,
                "mlp_ratio": t.intermediate_size as f64 / t.hidden_size as f64,
            })
        }
        TextTowerConfig::HfEncoder {
            encoder_config,
            pooler_type,
            proj_type,
            ..
        } => {
            let text_dir = dir.join("text");
            create_dir(&text_dir)?;
            write_json(
                &text_dir.join("config.json"),
                &with_model_type(encoder_config, &encoder_config.model_type)?,
            )?;
            let pooler = match pooler_type {
                Pooling::Mean => "mean_pooler",
                Pooling::Cls => "cls_last_hidden_state_pooler",
                Pooling::Pooler => "cls_pooler",
            };
            let proj = match proj_type {
                ProjectionType::Mlp => "mlp",
                _ => "linear",
            };
            let offset = encoder_config.position_offset();
            json!({
                "hf_model_name": "text",
                "hf_tokenizer_name": "text",
                "hf_pooler_type": pooler,
                "hf_proj_type": proj,
                "context_length": encoder_config.max_position_embeddings - offset,
            })
        }
    };
    let model_cfg = json!({
        "embed_dim": config.projection_dim,
        "quick_gelu": quick_gelu,
        "vision_cfg": vision_cfg,
        "text_cfg": text_cfg,
    });
    write_json(
        &dir.join("open_clip_config.json"),
        &json!({ "model_cfg": model_cfg, "preprocess_cfg": {} }),
    )?;
    let mut tensors = checkpoint_tensors(model, &open_clip::keymap(config), dir)?;
    open_clip::untransform_tensors(&mut tensors)?;
    tensors.write_safetensors(&dir.join("open_clip_model.safetensors"))
}

/// Writes a text model in Multilingual-CLIP's layout (`transformer/config.json` names the encoder).
pub fn export_text<B: Backend>(
    model: &TextModel<B>,
    config: &TextModelConfig,
    dir: &Path,
) -> Result<(), CheckpointError> {
    let TextTowerConfig::HfEncoder {
        encoder_config,
        pooler_type: Pooling::Mean,
        proj_type: ProjectionType::Linear,
        proj_bias: true,
        ..
    } = &config.text
    else {
        return Err(CheckpointError::Unsupported {
            path: dir.to_owned(),
            key: "text".into(),
            value: "this text tower".into(),
            reason: "only M-CLIP's shape (mean pooling, Linear with bias) has a text-only layout"
                .into(),
        });
    };
    create_dir(&dir.join("transformer"))?;
    write_json(
        &dir.join("transformer").join("config.json"),
        &with_model_type(encoder_config, &encoder_config.model_type)?,
    )?;
    write_json(
        &dir.join("config.json"),
        &json!({
            "model_type": "M-CLIP",
            "modelBase": "transformer",
            "architectures": ["MultilingualCLIP"],
            "transformerDimensions": encoder_config.hidden_size,
            "numDims": config.projection_dim,
        }),
    )?;
    checkpoint_tensors(model, &hf::mclip_keymap("text.proj."), dir)?
        .write_safetensors(&dir.join("model.safetensors"))
}
