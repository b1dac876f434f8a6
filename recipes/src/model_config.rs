//! The model a recipe builds without `--model`: the preset's sizes, then `[model] config` over them — a table
//! with the model config's own keys (those of `model.json`, named like HF's config.json: `projection_dim`,
//! `vision_config.num_hidden_layers`, `text.encoder_config.hidden_size`, …) merged key by key, or the path of a
//! `model.json` to take whole. A new language chooses its own sizes this way.

use std::path::Path;

use polyclip_models::{ClipModelConfig, presets};
use serde_json::Value;

use crate::config::{ModelConfigSource, ModelPreset, Recipe};
use crate::error::RecipeError;

/// The recipe's model config: preset, `[model] config`, then `[model] logit_scale`.
pub fn model_config(
    recipe: &Recipe,
    vocab_size: usize,
    pad_id: u32,
) -> Result<ClipModelConfig, RecipeError> {
    let model = &recipe.model;
    let pad = pad_id as usize;
    let mut config = match model.preset {
        ModelPreset::TinyCapivara => {
            presets::tiny_capivara(vocab_size, model.max_tokens, pad, model.image_size)
        }
        ModelPreset::TinyClipItalian => {
            presets::tiny_clip_italian(vocab_size, model.max_tokens, pad, model.image_size)
        }
    };
    match &model.config {
        None => {}
        Some(ModelConfigSource::File(path)) => config = read_config(path)?,
        Some(ModelConfigSource::Keys(keys)) => {
            let mut merged = to_value(&config)?;
            let keys = serde_json::to_value(keys).map_err(|e| RecipeError::Serialize {
                what: "[model] config",
                reason: e.to_string(),
            })?;
            merge("", &mut merged, &keys)?;
            config = serde_json::from_value(merged).map_err(|e| invalid(&keys, e.to_string()))?;
        }
    }
    if let Some(logit_scale) = model.logit_scale {
        config.logit_scale = logit_scale;
    }
    config.validate()?;
    Ok(config)
}

fn to_value(config: &ClipModelConfig) -> Result<Value, RecipeError> {
    serde_json::to_value(config).map_err(|e| RecipeError::Serialize {
        what: "the preset's model config",
        reason: e.to_string(),
    })
}

fn invalid(value: &Value, reason: String) -> RecipeError {
    RecipeError::Invalid {
        key: "model.config",
        value: value.to_string(),
        reason,
    }
}

fn read_config(path: &Path) -> Result<ClipModelConfig, RecipeError> {
    let text = std::fs::read_to_string(path).map_err(|e| RecipeError::Io {
        path: path.to_owned(),
        source: e,
    })?;
    serde_json::from_str(&text).map_err(|e| RecipeError::Parse {
        path: path.to_owned(),
        reason: e.to_string(),
        location: Some(e.line()),
    })
}

/// Merges `over` into `base` key by key; a key the base config does not have is an error naming it (a typo must
/// not be ignored).
fn merge(at: &str, base: &mut Value, over: &Value) -> Result<(), RecipeError> {
    let (Value::Object(base), Value::Object(over)) = (&mut *base, over) else {
        *base = over.clone();
        return Ok(());
    };
    for (key, value) in over {
        let path = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        match base.get_mut(key) {
            Some(slot) if slot.is_object() && value.is_object() => merge(&path, slot, value)?,
            Some(slot) => *slot = value.clone(),
            None => {
                let known: Vec<&str> = base.keys().map(String::as_str).collect();
                return Err(invalid(
                    value,
                    format!(
                        "`{path}` is not a key of the model config (there: {})",
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}
