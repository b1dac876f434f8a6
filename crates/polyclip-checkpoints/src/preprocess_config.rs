//! The image transform a checkpoint folder describes, in its family's terms: open_clip's `preprocess_cfg`
//! (open_clip_config.json: `size`, `mean`, `std`, `interpolation`, `resize_mode`, `fill_color`) with open_clip's
//! torchvision pipeline, HF's `preprocessor_config.json` (`size.shortest_edge`, `crop_size`, `image_mean`,
//! `image_std`, `resample`) with `CLIPImageProcessor`'s, and polyclip's own `preprocess.json` (what a recipe
//! trained with). Absent keys take each library's defaults at the vision tower's image size. Each family calls
//! these while it reads its config; the result is [`ModelSpec::preprocess`](crate::ModelSpec).

use std::path::Path;

use polyclip_data::ClipPreprocess;
use polyclip_data::preprocess::{Filter, ResizeMode};
use serde_json::Value;

use crate::error::CheckpointError;

/// polyclip's record of a model's transform, beside `model.json`.
pub const PREPROCESS_FILE: &str = "preprocess.json";

/// HF's transform from `dir`'s preprocessor_config.json, or `CLIPImageProcessor`'s defaults at `size` when the
/// folder has none.
pub(crate) fn hf_preprocess_in(dir: &Path, size: usize) -> Result<ClipPreprocess, CheckpointError> {
    let path = dir.join("preprocessor_config.json");
    if path.is_file() {
        hf_preprocess(&read(&path)?, size as u32, &path)
    } else {
        Ok(ClipPreprocess::new(size as u32))
    }
}

/// A polyclip folder's `preprocess.json` (what the recipe trained with), or HF's transform at `size` (what runs
/// from before the file existed used).
pub(crate) fn native_preprocess(
    dir: &Path,
    size: usize,
) -> Result<ClipPreprocess, CheckpointError> {
    let path = dir.join(PREPROCESS_FILE);
    if !path.is_file() {
        return Ok(ClipPreprocess::new(size as u32));
    }
    serde_json::from_value(read(&path)?).map_err(|e| CheckpointError::parse(&path, e))
}

fn read(path: &Path) -> Result<Value, CheckpointError> {
    let text = std::fs::read_to_string(path).map_err(|e| CheckpointError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| CheckpointError::parse(path, e))
}

fn unsupported(path: &Path, key: &str, value: &Value, reason: &str) -> CheckpointError {
    CheckpointError::Unsupported {
        path: path.to_owned(),
        key: key.to_owned(),
        value: value.to_string(),
        reason: reason.to_owned(),
    }
}

/// Three floats (`mean`, `std`); one float means the same for every channel.
fn triple(value: &Value, path: &Path, key: &str) -> Result<[f32; 3], CheckpointError> {
    match value {
        Value::Number(n) => Ok([n.as_f64().unwrap_or_default() as f32; 3]),
        Value::Array(items) if items.len() == 3 => {
            let mut out = [0.0; 3];
            for (slot, item) in out.iter_mut().zip(items) {
                *slot = item
                    .as_f64()
                    .ok_or_else(|| unsupported(path, key, value, "expected numbers"))?
                    as f32;
            }
            Ok(out)
        }
        _ => Err(unsupported(path, key, value, "expected three numbers")),
    }
}

/// A square side: a number, or `[h, w]` / `{height, width}` with h = w.
fn side(value: &Value, path: &Path, key: &str) -> Result<u32, CheckpointError> {
    let pair = match value {
        Value::Number(n) => {
            return n
                .as_u64()
                .map(|n| n as u32)
                .ok_or_else(|| unsupported(path, key, value, "expected a size"));
        }
        Value::Array(items) if items.len() == 2 => (items[0].as_u64(), items[1].as_u64()),
        Value::Object(map) if map.contains_key("shortest_edge") => {
            return side(&map["shortest_edge"], path, key);
        }
        Value::Object(map) => (
            map.get("height").and_then(Value::as_u64),
            map.get("width").and_then(Value::as_u64),
        ),
        _ => (None, None),
    };
    match pair {
        (Some(h), Some(w)) if h == w => Ok(h as u32),
        _ => Err(unsupported(
            path,
            key,
            value,
            "only square sizes are supported",
        )),
    }
}

/// `side`, the picture the transform makes, when it is the `tower` side the vision tower takes: its position
/// embeddings are one per patch of that side (transformers and open_clip fail on another side too).
fn fits_tower(
    side: u32,
    tower: u32,
    value: &Value,
    path: &Path,
    key: &str,
) -> Result<u32, CheckpointError> {
    if side == tower {
        return Ok(side);
    }
    Err(unsupported(
        path,
        key,
        value,
        &format!(
            "the vision tower takes {tower}×{tower} pictures (its config's image_size); a {side}×{side} picture does not fit its position embeddings"
        ),
    ))
}

/// transformers' reading of `size` (`get_size_dict(size, default_to_square=False)`): a number or
/// `{"shortest_edge": n}` resizes the shorter side to n; `{"height": h, "width": w}` or `[h, w]` resizes the picture
/// to exactly h×w (square only here).
fn hf_resize(value: &Value, path: &Path) -> Result<(u32, ResizeMode), CheckpointError> {
    let shortest = match value {
        Value::Number(_) => true,
        Value::Object(map) => map.contains_key("shortest_edge"),
        _ => false,
    };
    let mode = if shortest {
        ResizeMode::Shortest
    } else {
        ResizeMode::Squash
    };
    Ok((side(value, path, "size")?, mode))
}

/// One of open_clip's names for a setting polyclip reproduces (the enums' serde names are open_clip's).
fn named<T: serde::de::DeserializeOwned>(
    value: &Value,
    path: &Path,
    key: &str,
    supported: &str,
) -> Result<T, CheckpointError> {
    serde_json::from_value(value.clone())
        .map_err(|_| unsupported(path, key, value, &format!("supported: {supported}")))
}

/// open_clip's `PreprocessCfg` from `preprocess_cfg`.
pub(crate) fn open_clip_preprocess(
    cfg: &Value,
    size: u32,
    path: &Path,
) -> Result<ClipPreprocess, CheckpointError> {
    let mut preprocess = ClipPreprocess::open_clip(size);
    let key = |name: &str| format!("preprocess_cfg.{name}");
    if let Some(value) = cfg.get("size") {
        preprocess.size = fits_tower(
            side(value, path, &key("size"))?,
            size,
            value,
            path,
            &key("size"),
        )?;
    }
    if let Some(value) = cfg.get("mean") {
        preprocess.mean = triple(value, path, &key("mean"))?;
    }
    if let Some(value) = cfg.get("std") {
        preprocess.std = triple(value, path, &key("std"))?;
    }
    if let Some(value) = cfg.get("interpolation") {
        preprocess.interpolation = named(value, path, &key("interpolation"), "bicubic, bilinear")?;
    }
    if let Some(value) = cfg.get("resize_mode") {
        preprocess.resize_mode = named(
            value,
            path,
            &key("resize_mode"),
            "shortest, squash, longest",
        )?;
    }
    if let Some(value) = cfg.get("fill_color") {
        preprocess.fill =
            value.as_u64().filter(|fill| *fill <= 255).ok_or_else(|| {
                unsupported(path, &key("fill_color"), value, "expected a level 0-255")
            })? as u8;
    }
    Ok(preprocess)
}

/// transformers' `CLIPImageProcessor` from preprocessor_config.json.
fn hf_preprocess(
    config: &Value,
    size: u32,
    path: &Path,
) -> Result<ClipPreprocess, CheckpointError> {
    let mut preprocess = ClipPreprocess::new(size);
    let flag = |key: &str| config.get(key).and_then(Value::as_bool).unwrap_or(true);
    if !flag("do_resize") {
        return Err(unsupported(
            path,
            "do_resize",
            &Value::Bool(false),
            "polyclip's transforms all resize (a crop or pad alone is not one of them)",
        ));
    }
    // `size`: the shorter side (`shortest_edge`, or a bare number), or both sides (`height` = `width`: the picture
    // is resized to that square whatever its shape). Absent: the tower's side, shorter-side resize.
    let (resize, mode) = match config.get("size") {
        Some(value) => hf_resize(value, path)?,
        None => (size, ResizeMode::Shortest),
    };
    preprocess.resize_mode = mode;
    // The picture the tower sees: the centre crop, or the resized square when there is no crop.
    let (side, key) = if flag("do_center_crop") {
        match config.get("crop_size") {
            Some(value) => (side(value, path, "crop_size")?, "crop_size"),
            None => (size, "crop_size"),
        }
    } else if mode == ResizeMode::Squash {
        (resize, "size")
    } else {
        return Err(unsupported(
            path,
            "do_center_crop",
            &Value::Bool(false),
            "after a shorter-side resize the pictures keep their shapes and cannot be batched; give `size` as {\"height\": S, \"width\": S} or crop",
        ));
    };
    let shown = config.get(key).cloned().unwrap_or(Value::from(side));
    preprocess.size = fits_tower(side, size, &shown, path, key)?;
    preprocess.resize = (resize != preprocess.size).then_some(resize);
    if let Some(value) = config.get("image_mean") {
        preprocess.mean = triple(value, path, "image_mean")?;
    }
    if let Some(value) = config.get("image_std") {
        preprocess.std = triple(value, path, "image_std")?;
    }
    if let Some(value) = config.get("resample") {
        // PIL's numbering: 2 bilinear, 3 bicubic.
        preprocess.interpolation = match value.as_u64() {
            Some(3) => Filter::Bicubic,
            Some(2) => Filter::Bilinear,
            _ => {
                return Err(unsupported(
                    path,
                    "resample",
                    value,
                    "supported: 2 (bilinear), 3 (bicubic)",
                ));
            }
        };
    }
    Ok(preprocess)
}
