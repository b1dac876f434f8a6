//! Encoder-decoder checkpoints, recognised by `config.json`'s `model_type`:
//!
//! - `mbart` — `MBartForConditionalGeneration` (mBART-50 translation): `model.{shared, encoder, decoder}`,
//!   `final_logits_bias`; the tied `embed_tokens` / `lm_head` copies some files carry are skipped.
//! - `vision-encoder-decoder` — HF `VisionEncoderDecoderModel` with a CLIP vision encoder and an mBART decoder:
//!   `encoder.*` (CLIP vision without the `vision_model.` prefix, as transformers 5 saves it; 4.x's
//!   `encoder.vision_model.*` is read too), `enc_to_dec_proj`, `decoder.model.decoder.*`.
//! - `clip-vision-mbart` — CLIP-Vision-mBART50's Flax model (`flax_model.msgpack`): `model/encoder/vision_model/…`,
//!   `model/decoder/…`, `model/shared/embedding`, `model/visual_projection/{kernel,bias}`, `final_logits_bias`.
//! - polyclip's own captioner folders (`captioner.json` + `model.mpk`).

use std::path::{Path, PathBuf};

use polyclip_models::captioner::{CaptionerConfig, CaptionerLayout};
use polyclip_models::clip::ClipVisionConfig;
use polyclip_models::generation::GenerationConfig;
use polyclip_models::mbart::MBartConfig;
use serde_json::Value;

use super::hf::WEIGHT_FILES;
use super::{Family, Transform, WeightSource, first_present, read_json};
use crate::error::CheckpointError;
use crate::keymap::KeyMap;

/// polyclip's captioner config file.
pub const CAPTIONER_CONFIG: &str = "captioner.json";

/// What to build.
#[derive(Debug, Clone, PartialEq)]
pub enum Seq2SeqArchitecture {
    /// Text to text (mBART-50 many-to-many).
    Translator(MBartConfig),
    /// Image to text.
    Captioner(CaptionerConfig),
}

/// Everything needed to load an encoder-decoder folder.
#[derive(Debug, Clone)]
pub struct Seq2SeqSpec {
    pub family: Family,
    pub dir: PathBuf,
    pub architecture: Seq2SeqArchitecture,
    /// `None` for polyclip's own folders (burn records).
    pub source: Option<WeightSource>,
    pub tokenizer: Option<PathBuf>,
    /// The folder's generation defaults (`generation_config.json` over the model config's ids).
    pub generation: GenerationConfig,
}

impl Seq2SeqSpec {
    /// The decoder's config.
    pub fn decoder(&self) -> &MBartConfig {
        match &self.architecture {
            Seq2SeqArchitecture::Translator(config) => config,
            Seq2SeqArchitecture::Captioner(config) => &config.decoder,
        }
    }
}

/// Recognises an encoder-decoder folder.
pub fn spec(dir: &Path) -> Result<Seq2SeqSpec, CheckpointError> {
    if dir.join(CAPTIONER_CONFIG).is_file() {
        let config: CaptionerConfig = read_json(&dir.join(CAPTIONER_CONFIG))?;
        config.validate()?;
        return finish(
            dir,
            Family::Polyclip,
            Seq2SeqArchitecture::Captioner(config),
            None,
            None,
        );
    }
    let path = dir.join("config.json");
    if !path.is_file() {
        return Err(CheckpointError::UnknownLayout {
            dir: dir.to_owned(),
            found: "no config.json or captioner.json".into(),
        });
    }
    let config: Value = read_json(&path)?;
    let model_type = config
        .get("model_type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match model_type {
        "mbart" => {
            let mbart: MBartConfig = parse(&config, &path)?;
            mbart.validate()?;
            let source = WeightSource {
                file: hf_weights(dir)?,
                keymap: mbart_keymap(),
                transform: Transform::Plain,
            };
            finish(dir, Family::MBart, Seq2SeqArchitecture::Translator(mbart), Some(source), Some(&config))
        }
        "vision-encoder-decoder" => {
            let captioner = CaptionerConfig {
                encoder: vision_config(&config, "encoder", &path)?,
                decoder: mbart_decoder(&config, "decoder", &path)?,
                layout: CaptionerLayout::VisionEncoderDecoder,
            };
            captioner.validate()?;
            let source = WeightSource {
                file: hf_weights(dir)?,
                keymap: vision_encoder_decoder_keymap(),
                transform: Transform::Plain,
            };
            let architecture = Seq2SeqArchitecture::Captioner(captioner);
            finish(dir, Family::VisionEncoderDecoder, architecture, Some(source), Some(&config))
        }
        "clip-vision-mbart" => {
            let captioner = CaptionerConfig {
                encoder: vision_config(&config, "clip_vision_config", &path)?,
                decoder: mbart_decoder(&config, "mbart_config", &path)?,
                layout: CaptionerLayout::ClipVisionMbart,
            };
            captioner.validate()?;
            let file = first_present(dir, &["flax_model.msgpack"]).ok_or_else(|| {
                CheckpointError::UnknownLayout {
                    dir: dir.to_owned(),
                    found: "a clip-vision-mbart config.json without flax_model.msgpack".into(),
                }
            })?;
            let source = WeightSource {
                file,
                keymap: clip_vision_mbart_keymap(),
                transform: Transform::Flax,
            };
            let architecture = Seq2SeqArchitecture::Captioner(captioner);
            finish(dir, Family::ClipVisionMbart, architecture, Some(source), Some(&config))
        }
        other => Err(CheckpointError::Unsupported {
            path,
            key: "model_type".into(),
            value: format!("{other:?}"),
            reason: "encoder-decoder models: mbart, vision-encoder-decoder (CLIP vision + mBART), clip-vision-mbart"
                .into(),
        }),
    }
}

fn parse<T: serde::de::DeserializeOwned>(value: &Value, path: &Path) -> Result<T, CheckpointError> {
    serde_json::from_value(value.clone()).map_err(|e| CheckpointError::parse(path, e))
}

fn sub_config<'a>(config: &'a Value, key: &str, path: &Path) -> Result<&'a Value, CheckpointError> {
    config.get(key).ok_or_else(|| CheckpointError::Unsupported {
        path: path.to_owned(),
        key: key.into(),
        value: "absent".into(),
        reason: "an encoder-decoder config names its two halves".into(),
    })
}

fn vision_config(
    config: &Value,
    key: &str,
    path: &Path,
) -> Result<ClipVisionConfig, CheckpointError> {
    let vision = sub_config(config, key, path)?;
    let model_type = vision
        .get("model_type")
        .and_then(Value::as_str)
        .unwrap_or("clip_vision_model");
    if !matches!(model_type, "clip_vision_model" | "clip") {
        return Err(CheckpointError::Unsupported {
            path: path.to_owned(),
            key: format!("{key}.model_type"),
            value: format!("{model_type:?}"),
            reason: "the image encoder must be a CLIP vision transformer".into(),
        });
    }
    let config: ClipVisionConfig = parse(vision, path)?;
    config.validate()?;
    Ok(config)
}

fn mbart_decoder(config: &Value, key: &str, path: &Path) -> Result<MBartConfig, CheckpointError> {
    let decoder = sub_config(config, key, path)?;
    let model_type = decoder
        .get("model_type")
        .and_then(Value::as_str)
        .unwrap_or("mbart");
    if model_type != "mbart" {
        return Err(CheckpointError::Unsupported {
            path: path.to_owned(),
            key: format!("{key}.model_type"),
            value: format!("{model_type:?}"),
            reason: "the text decoder must be mBART's".into(),
        });
    }
    let mut decoder: MBartConfig = parse(decoder, path)?;
    // A VisionEncoderDecoder config keeps the start token at its top level.
    if let Some(start) = config.get("decoder_start_token_id").and_then(Value::as_u64) {
        decoder.decoder_start_token_id = Some(start as usize);
    }
    Ok(decoder)
}

fn hf_weights(dir: &Path) -> Result<PathBuf, CheckpointError> {
    first_present(dir, WEIGHT_FILES).ok_or_else(|| CheckpointError::UnknownLayout {
        dir: dir.to_owned(),
        found: "config.json without model.safetensors, model.safetensors.index.json or pytorch_model.bin".into(),
    })
}

/// Generation defaults: the model's ids, then `generation_config.json` (then the model config's own generation
/// keys, as older checkpoints keep them there).
fn finish(
    dir: &Path,
    family: Family,
    architecture: Seq2SeqArchitecture,
    source: Option<WeightSource>,
    config: Option<&Value>,
) -> Result<Seq2SeqSpec, CheckpointError> {
    let decoder = match &architecture {
        Seq2SeqArchitecture::Translator(config) => config,
        Seq2SeqArchitecture::Captioner(config) => &config.decoder,
    };
    let mut generation = serde_json::to_value(GenerationConfig::for_mbart(decoder))
        .map_err(|e| CheckpointError::parse(dir, e))?;
    let generation_path = dir.join("generation_config.json");
    let from_file: Option<Value> = if generation_path.is_file() {
        Some(read_json(&generation_path)?)
    } else {
        None
    };
    for overlay in [config, from_file.as_ref()].into_iter().flatten() {
        overlay_generation_keys(&mut generation, overlay);
    }
    let generation: GenerationConfig = serde_json::from_value(generation)
        .map_err(|e| CheckpointError::parse(&generation_path, e))?;
    Ok(Seq2SeqSpec {
        family,
        dir: dir.to_owned(),
        architecture,
        source,
        tokenizer: first_present(dir, &["tokenizer.json"]),
        generation,
    })
}

/// Copies the generation keys `overlay` sets (not null) into `generation`.
fn overlay_generation_keys(generation: &mut Value, overlay: &Value) {
    const KEYS: &[&str] = &[
        "max_length",
        "num_beams",
        "length_penalty",
        "early_stopping",
        "no_repeat_ngram_size",
        "decoder_start_token_id",
        "forced_bos_token_id",
        "forced_eos_token_id",
        "eos_token_id",
        "pad_token_id",
    ];
    let (Value::Object(target), Value::Object(source)) = (generation, overlay) else {
        return;
    };
    for key in KEYS {
        if let Some(value) = source.get(*key).filter(|v| !v.is_null() && !v.is_array()) {
            target.insert((*key).to_string(), value.clone());
        }
    }
}

/// Keys some mBART files carry for the tied token table and head (the same tensor as `model.shared`).
const TIED: &[&str] = &[
    "model.encoder.embed_tokens.weight",
    "model.decoder.embed_tokens.weight",
    "lm_head.weight",
];

/// The key table of `MBartForConditionalGeneration`: the module tree is the checkpoint's.
pub fn mbart_keymap() -> KeyMap {
    KeyMap::new(
        &[("final_logits_bias", "final_logits_bias")],
        &[("model.", "model.")],
        &[],
        TIED,
    )
}

/// The key table of HF `VisionEncoderDecoderModel` (CLIP vision encoder, mBART decoder).
pub fn vision_encoder_decoder_keymap() -> KeyMap {
    KeyMap::new(
        &[(
            "decoder.model.decoder.embed_tokens.weight",
            "embed_tokens.weight",
        )],
        &[
            ("encoder.", "encoder."),
            ("enc_to_dec_proj.", "projection."),
            ("decoder.model.decoder.", "decoder."),
        ],
        &[],
        &["decoder.lm_head.weight", "position_ids"],
    )
    // transformers 4.x kept CLIPVisionModel's own `vision_model.` level under `encoder.`; 5.x saves without it.
    .reading_older_prefixes(&[("encoder.vision_model.", "encoder.")])
}

/// The key table of CLIP-Vision-mBART50's Flax tree, after [`Transform::Flax`] renamed its leaves to PyTorch's.
pub fn clip_vision_mbart_keymap() -> KeyMap {
    KeyMap::new(
        &[
            ("model.shared.weight", "embed_tokens.weight"),
            ("final_logits_bias", "final_logits_bias"),
        ],
        &[
            ("model.encoder.vision_model.", "encoder."),
            ("model.visual_projection.", "projection."),
            ("model.decoder.", "decoder."),
        ],
        &[],
        &["lm_head.kernel"],
    )
}

/// Renames Flax leaves to PyTorch's and lays their values out as PyTorch does: Dense `kernel` `[in, out]` →
/// `weight` `[out, in]`; Conv `kernel` `[h, w, in, out]` → `weight` `[out, in, h, w]`; Embed `embedding` and
/// LayerNorm `scale` → `weight`.
pub fn flax_to_pytorch(tensors: &mut crate::tensors::TensorMap) -> Result<(), CheckpointError> {
    let source = tensors.source.clone();
    let renamed = std::mem::take(&mut tensors.tensors)
        .into_iter()
        .map(|(key, data)| {
            let Some((parent, leaf)) = key.rsplit_once('.') else {
                return Ok((key, data));
            };
            match (leaf, data.shape.len()) {
                ("kernel", 2) => Ok((
                    format!("{parent}.weight"),
                    crate::apply::transpose(data, &source, &key)?,
                )),
                ("kernel", 4) => Ok((format!("{parent}.weight"), conv_kernel_to_pytorch(data))),
                ("embedding" | "scale", _) => Ok((format!("{parent}.weight"), data)),
                _ => Ok((key, data)),
            }
        })
        .collect::<Result<_, CheckpointError>>()?;
    tensors.tensors = renamed;
    Ok(())
}

/// `[h, w, in, out]` → `[out, in, h, w]`.
fn conv_kernel_to_pytorch(data: burn::tensor::TensorData) -> burn::tensor::TensorData {
    let [h, w, cin, cout] = [data.shape[0], data.shape[1], data.shape[2], data.shape[3]];
    let values: Vec<f32> = data.iter::<f32>().collect();
    let mut out = vec![0.0_f32; values.len()];
    for y in 0..h {
        for x in 0..w {
            for i in 0..cin {
                for o in 0..cout {
                    out[((o * cin + i) * h + y) * w + x] =
                        values[((y * w + x) * cin + i) * cout + o];
                }
            }
        }
    }
    burn::tensor::TensorData::new(out, [cout, cin, h, w])
}
