//! A pretrained text encoder on its own in the Hugging Face layout — BERT, RoBERTa, XLM-R or CamemBERT, bare
//! (`BertModel`: `embeddings.*`, `encoder.*`, `pooler.*`) or with a masked-LM head (`BertForMaskedLM`:
//! `bert.*` + `cls.*`; `XLMRobertaForMaskedLM`: `roberta.*` + `lm_head.*`). What a distilled student starts
//! from (Themo's student is dccuchile/bert-base-spanish-wwm-cased); the pooling layer and task heads are not
//! used and not read.

use std::path::{Path, PathBuf};

use polyclip_models::bert::BertConfig;
use serde_json::Value;

use super::hf::{BUFFERS, encoder_conventions, weights};
use super::{TextConventions, Transform, WeightSource, read_json};
use crate::error::CheckpointError;
use crate::keymap::{BERT_SEGMENTS, KeyMap};

/// The `model_type`s read as an encoder.
pub const ENCODER_TYPES: &[&str] = &["bert", "roberta", "xlm-roberta", "camembert"];

/// Everything needed to load one encoder folder.
#[derive(Debug, Clone)]
pub struct EncoderSpec {
    pub dir: PathBuf,
    pub config: BertConfig,
    pub source: WeightSource,
    pub text: TextConventions,
}

/// Reads an encoder folder's `config.json` (its weights are read by `load_encoder`).
pub fn encoder_spec(dir: &Path) -> Result<EncoderSpec, CheckpointError> {
    let path = dir.join("config.json");
    let raw: Value = read_json(&path)?;
    let model_type = raw.get("model_type").and_then(Value::as_str).unwrap_or("");
    if !ENCODER_TYPES.contains(&model_type) {
        return Err(CheckpointError::Unsupported {
            path,
            key: "model_type".into(),
            value: format!("{model_type:?}"),
            reason: format!(
                "a text encoder must be one of {} (BERT-family, in the Hugging Face layout)",
                ENCODER_TYPES.join(", ")
            ),
        });
    }
    let config: BertConfig =
        serde_json::from_value(raw).map_err(|e| CheckpointError::parse(&path, e))?;
    config.validate()?;
    Ok(EncoderSpec {
        dir: dir.to_owned(),
        source: WeightSource {
            file: weights(dir)?,
            keymap: encoder_keymap(),
            transform: Transform::Plain,
        },
        text: encoder_conventions(dir, &config, false),
        config,
    })
}

/// Checkpoint keys → `BertModel` paths: the task models' `bert.`/`roberta.` prefix dropped, their heads and the
/// pooling layer skipped.
pub fn encoder_keymap() -> KeyMap {
    KeyMap::new(
        &[],
        &[
            ("bert.", ""),
            ("roberta.", ""),
            ("embeddings.", "embeddings."),
            ("encoder.", "encoder."),
        ],
        BERT_SEGMENTS,
        BUFFERS,
    )
    .ignoring_prefixes(&[
        "pooler.",
        "bert.pooler.",
        "roberta.pooler.",
        "cls.",
        "lm_head.",
    ])
}
