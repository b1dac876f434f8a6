//! polyclip's own model folders, as training stages write them: `model.json` (a `ClipModelConfig`),
//! `model.mpk` (burn's named MessagePack record, full precision), and for texts `tokenizer.json` with
//! `text.json` (padding token, context, whitespace cleaning).

use polyclip_models::BuildModel;
use std::path::Path;

use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::Backend;
use polyclip_models::{ClipModel, ClipModelConfig};
use serde::{Deserialize, Serialize};

use super::{Architecture, Family, ModelSpec, TextConventions, first_present, read_json};
use crate::error::CheckpointError;
use crate::preprocess_config::native_preprocess;

/// The model config file.
pub const CONFIG: &str = "model.json";
/// The weights file.
pub const WEIGHTS: &str = "model.mpk";
/// The text conventions file.
pub const TEXT: &str = "text.json";

/// How the model's texts are tokenized, saved next to its tokenizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextFile {
    pub pad_token: String,
    pub max_tokens: usize,
    pub clean_whitespace: bool,
}

/// Reads a polyclip folder's config.
pub fn spec(dir: &Path) -> Result<ModelSpec, CheckpointError> {
    let config: ClipModelConfig = read_json(&dir.join(CONFIG))?;
    config.validate()?;
    let text_path = dir.join(TEXT);
    let text: Option<TextFile> = if text_path.is_file() {
        Some(read_json(&text_path)?)
    } else {
        None
    };
    let text = TextConventions {
        tokenizer: first_present(dir, &["tokenizer.json"]),
        pad_token: text
            .as_ref()
            .map_or_else(|| "<pad>".into(), |t| t.pad_token.clone()),
        max_tokens: text
            .as_ref()
            .map_or_else(|| config.text.max_tokens(), |t| t.max_tokens),
        clean_whitespace: text.as_ref().is_none_or(|t| t.clean_whitespace),
    };
    Ok(ModelSpec {
        family: Family::Polyclip,
        dir: dir.to_owned(),
        preprocess: Some(native_preprocess(dir, config.vision_config.image_size)?),
        architecture: Architecture::Dual(config),
        sources: Vec::new(),
        text,
    })
}

/// Loads the weights of a polyclip folder into a model built from its config.
pub fn load_weights<B: Backend>(
    dir: &Path,
    config: &ClipModelConfig,
    device: &B::Device,
) -> Result<ClipModel<B>, CheckpointError> {
    config
        .init_zeros::<B>(device)?
        .load_file(
            dir.join("model"),
            &NamedMpkFileRecorder::<FullPrecisionSettings>::new(),
            device,
        )
        .map_err(|e| CheckpointError::parse(dir.join(WEIGHTS), e))
}
