//! The checkpoint families polyclip reads, chosen by what a folder holds (file names and the `model_type` of
//! its config), never by tensor sizes. Each family turns its config into polyclip's and supplies the key table
//! and tensor transforms for its weights.

pub mod hf;
pub mod hf_encoder;
pub mod native;
pub mod open_clip;
pub mod seq2seq;
pub mod special_tokens;

use std::path::{Path, PathBuf};

use polyclip_data::ClipPreprocess;
use polyclip_models::{ClipModelConfig, TextModelConfig};
use serde::{Deserialize, Serialize};

use crate::error::CheckpointError;
use crate::keymap::KeyMap;
use crate::tensors::TensorMap;

/// Where a checkpoint comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// HF `CLIPModel` (`model_type: clip`).
    HfClip,
    /// HF `VisionTextDualEncoderModel` (clip-italian).
    VisionTextDualEncoder,
    /// open_clip's native layout (`open_clip_config.json`).
    OpenClip,
    /// CAPIVARA's Lightning checkpoint of an open_clip model (`model.model.` prefixes).
    Capivara,
    /// Multilingual-CLIP text encoder (`model_type: M-CLIP`).
    MClip,
    /// A Themo-style distilled student with its teacher CLIP (`model_type: themo-student`).
    ThemoStudent,
    /// polyclip's own run folders: `model.json` + `model.mpk` (+ `text.json`, `tokenizer.json`).
    Polyclip,
    /// HF `MBartForConditionalGeneration` (`model_type: mbart`).
    MBart,
    /// HF `VisionEncoderDecoderModel` with a CLIP vision encoder and an mBART decoder.
    VisionEncoderDecoder,
    /// CLIP-Vision-mBART50's Flax captioner (`model_type: clip-vision-mbart`).
    ClipVisionMbart,
}

/// What to build.
#[derive(Debug, Clone, PartialEq)]
pub enum Architecture {
    /// Image and text towers.
    Dual(ClipModelConfig),
    /// A text tower alone (M-CLIP; its image side is a separate CLIP).
    Text(TextModelConfig),
}

/// How a family's tensors are reshaped before their keys are mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// Only a 0-d `logit_scale` becomes `[1]`.
    Plain,
    /// open_clip: split fused `in_proj`, transpose `x @ W` projections (after stripping `prefix`).
    OpenClip { prefix: Option<&'static str> },
    /// Flax: kernels, embeddings and scales renamed and laid out as PyTorch's.
    Flax,
}

/// One weights file and how to read it.
#[derive(Debug, Clone)]
pub struct WeightSource {
    pub file: PathBuf,
    pub keymap: KeyMap,
    pub transform: Transform,
}

/// How texts are tokenized for the model (the Python reference's conventions).
#[derive(Debug, Clone, PartialEq)]
pub struct TextConventions {
    pub tokenizer: Option<PathBuf>,
    pub pad_token: String,
    pub max_tokens: usize,
    /// open_clip's `HFTokenizer` collapses whitespace first.
    pub clean_whitespace: bool,
}

/// Everything needed to load one checkpoint folder.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub family: Family,
    pub dir: PathBuf,
    pub architecture: Architecture,
    pub sources: Vec<WeightSource>,
    pub text: TextConventions,
    /// The image transform the folder's own config describes (`None` for a text encoder alone); see
    /// [`crate::preprocess_config`].
    pub preprocess: Option<ClipPreprocess>,
}

/// Recognises the folder's layout and reads its config.
pub fn detect(dir: &Path) -> Result<ModelSpec, CheckpointError> {
    if !dir.is_dir() {
        return Err(CheckpointError::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
        ));
    }
    if dir.join(native::CONFIG).is_file() && dir.join(native::WEIGHTS).is_file() {
        return native::spec(dir);
    }
    if dir.join("open_clip_config.json").is_file() {
        if let Some(ckpt) = find_file(dir, |name| name.ends_with(".ckpt"))? {
            return open_clip::spec(dir, Some(ckpt));
        }
        return open_clip::spec(dir, None);
    }
    if dir.join("config.json").is_file() {
        return hf::spec(dir);
    }
    if find_file(dir, |name| name.ends_with(".ckpt"))?.is_some() {
        return Err(CheckpointError::Unsupported {
            path: dir.to_owned(),
            key: "open_clip_config.json".into(),
            value: "absent".into(),
            reason: "a Lightning checkpoint (CAPIVARA) needs the open_clip_config.json of its model beside it \
                     (for CAPIVARA: that of open_clip's xlm-roberta-base-ViT-B-32)"
                .into(),
        });
    }
    Err(CheckpointError::UnknownLayout {
        dir: dir.to_owned(),
        found: list_files(dir)?.join(", "),
    })
}

/// The first file in `dir` whose name passes `wanted`.
pub(crate) fn find_file(
    dir: &Path,
    wanted: impl Fn(&str) -> bool,
) -> Result<Option<PathBuf>, CheckpointError> {
    let mut names = list_files(dir)?;
    names.sort();
    Ok(names
        .into_iter()
        .find(|name| wanted(name))
        .map(|name| dir.join(name)))
}

fn list_files(dir: &Path) -> Result<Vec<String>, CheckpointError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CheckpointError::io(dir, e))?;
    Ok(entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| entry.file_name().to_str().map(String::from))
        .collect())
}

/// The first of `candidates` present in `dir`.
pub(crate) fn first_present(dir: &Path, candidates: &[&str]) -> Option<PathBuf> {
    candidates
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
}

/// Reads a JSON file into `T`.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CheckpointError> {
    let text = std::fs::read_to_string(path).map_err(|e| CheckpointError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| CheckpointError::parse(path, e))
}

impl WeightSource {
    /// Reads the file and applies the family's tensor transform.
    pub fn read(&self) -> Result<TensorMap, CheckpointError> {
        let mut tensors = TensorMap::read(&self.file)?;
        match self.transform {
            Transform::Plain => {}
            Transform::OpenClip { prefix } => open_clip::transform_tensors(&mut tensors, prefix)?,
            Transform::Flax => seq2seq::flax_to_pytorch(&mut tensors)?,
        }
        if let Some(scale) = tensors.tensors.get_mut("logit_scale")
            && scale.shape.is_empty()
        {
            scale.shape = burn::tensor::Shape::new([1]);
        }
        Ok(tensors)
    }
}
