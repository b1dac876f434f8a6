//! Putting mapped checkpoint tensors into a burn module: PyTorch layouts become burn's (Linear weights are
//! transposed, LayerNorm `weight`/`bias` become `gamma`/`beta`, decided by the *target* module's type, never by
//! tensor sizes), and every missing, unexpected or shape-mismatched key is reported by name.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use burn::module::{Module, ParamId};
use burn::tensor::TensorData;
use burn::tensor::backend::Backend;
use burn_store::{ApplyError, ModuleSnapshot, TensorSnapshot};

use crate::error::CheckpointError;
use crate::keymap::KeyMap;
pub use crate::mapped_tensors::MappedTensors;

const LINEAR: &str = "Struct:Linear";
/// polyclip-models' `LoraLinear`: a Linear that can carry a LoRA adapter, with the same parameter names.
const LORA_LINEAR: &str = "Struct:LoraLinear";

/// Whether a module type stores its `weight` `[in, out]` (burn) where PyTorch stores `[out, in]`.
fn is_linear(kind: &str) -> bool {
    kind == LINEAR || kind == LORA_LINEAR
}
const LAYER_NORM: &str = "Struct:LayerNorm";

/// The checkpoint's name for a model path (PyTorch naming), or the path itself when no table covers it.
fn checkpoint_name(keymaps: &[KeyMap], path: &str) -> String {
    keymaps
        .iter()
        .find_map(|keymap| keymap.to_checkpoint(path))
        .unwrap_or_else(|| path.to_string())
}

/// What loading did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    pub applied: usize,
    /// Model parameters the checkpoint did not provide (they keep their initial values).
    pub missing: Vec<String>,
    /// Checkpoint tensors the model has no place for.
    pub unexpected: Vec<String>,
    /// Checkpoint tensors whose shape differs from the parameter's: `path: expected [..], found [..]`.
    pub mismatched: Vec<String>,
}

impl LoadReport {
    /// Whether every parameter was loaded and every tensor used.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.mismatched.is_empty()
    }

    /// One line naming every problem (lists longer than 40 are cut with a count).
    pub fn summary(&self) -> String {
        let list = |label: &str, names: &[String]| -> Option<String> {
            if names.is_empty() {
                return None;
            }
            let shown: Vec<&str> = names.iter().take(40).map(String::as_str).collect();
            let more = names.len().saturating_sub(shown.len());
            let tail = if more > 0 {
                format!(", … and {more} more")
            } else {
                String::new()
            };
            Some(format!(
                "{} {label}: {}{tail}",
                names.len(),
                shown.join(", ")
            ))
        };
        [
            list("missing", &self.missing),
            list("unexpected", &self.unexpected),
            list("shape-mismatched", &self.mismatched),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ")
    }
}

/// Applies `mapped` to `module`. With `allow_partial`, problems are returned in the report instead of failing.
pub fn apply_tensors<B: Backend, M: Module<B>>(
    mut module: M,
    mut mapped: MappedTensors,
    allow_partial: bool,
) -> Result<(M, LoadReport), CheckpointError> {
    let targets: HashMap<String, Option<String>> = module
        .collect(None, None, true)
        .iter()
        .map(|snapshot| (snapshot.full_path(), snapshot.module_type()))
        .collect();
    let mut report = LoadReport {
        unexpected: mapped.unmapped.clone(),
        ..LoadReport::default()
    };
    let mut snapshots = Vec::with_capacity(mapped.tensors.len());
    for (path, data) in std::mem::take(&mut mapped.tensors) {
        let (target, data) = match targets.get(&path) {
            Some(Some(kind))
                if is_linear(kind) && path.ends_with(".weight") && data.shape.len() == 2 =>
            {
                let data = transpose(data, &mapped.source, &path)?;
                (path, data)
            }
            Some(_) => (path, data),
            None => match burn_norm_name(&path).filter(|p| {
                targets
                    .get(p)
                    .is_some_and(|k| k.as_deref() == Some(LAYER_NORM))
            }) {
                Some(renamed) => (renamed, data),
                None => {
                    report
                        .unexpected
                        .push(checkpoint_name(&mapped.keymaps, &path));
                    continue;
                }
            },
        };
        let stack: Vec<String> = target.split('.').map(String::from).collect();
        snapshots.push(TensorSnapshot::from_data(
            data,
            stack,
            Vec::new(),
            ParamId::new(),
        ));
    }
    let result = module.apply(snapshots, None, None, true);
    report.applied = result.applied.len();
    report.missing = result
        .missing
        .into_iter()
        .map(|(path, _)| checkpoint_name(&mapped.keymaps, &pytorch_name(&path)))
        .collect();
    report.mismatched = result
        .errors
        .iter()
        .map(|error| match error {
            ApplyError::ShapeMismatch {
                path,
                expected,
                found,
            } => {
                // Shapes in the checkpoint's layout: burn stores Linear weights transposed.
                let linear = targets
                    .get(path)
                    .is_some_and(|kind| kind.as_deref().is_some_and(is_linear));
                let layout = |shape: &[usize]| {
                    let mut shape = shape.to_vec();
                    if linear && shape.len() == 2 {
                        shape.reverse();
                    }
                    shape
                };
                format!(
                    "{} (model {:?}, checkpoint {:?})",
                    checkpoint_name(&mapped.keymaps, &pytorch_name(path)),
                    layout(expected),
                    layout(found)
                )
            }
            other => other.to_string(),
        })
        .collect();
    report.unexpected.sort();
    if !allow_partial && !report.is_complete() {
        return Err(CheckpointError::Keys {
            source_path: mapped.source,
            summary: format!("{} (pass --allow-partial to load anyway)", report.summary()),
            missing: report.missing,
            unexpected: report.unexpected,
            mismatched: report.mismatched,
        });
    }
    Ok((module, report))
}

/// `…layer_norm.weight` → `…layer_norm.gamma` (and `bias` → `beta`).
fn burn_norm_name(path: &str) -> Option<String> {
    let (parent, name) = path.rsplit_once('.')?;
    let renamed = match name {
        "weight" => "gamma",
        "bias" => "beta",
        _ => return None,
    };
    Some(format!("{parent}.{renamed}"))
}

/// Reports use PyTorch parameter names (`gamma` → `weight`), which users know from the checkpoint.
fn pytorch_name(path: &str) -> String {
    match path.rsplit_once('.') {
        Some((parent, "gamma")) => format!("{parent}.weight"),
        Some((parent, "beta")) => format!("{parent}.bias"),
        _ => path.to_string(),
    }
}

/// Transposes a `[rows, cols]` `f32` tensor on the host; the error names `key` in `source` otherwise.
pub fn transpose(
    data: TensorData,
    source: &Path,
    key: &str,
) -> Result<TensorData, CheckpointError> {
    let not_a_matrix = |data: &TensorData| CheckpointError::Tensor {
        path: source.to_owned(),
        key: key.to_owned(),
        reason: format!(
            "expected a 2-D f32 matrix, found shape {:?} of {:?}",
            data.shape, data.dtype
        ),
    };
    let [rows, cols] = match data.shape.as_slice() {
        [rows, cols] => [*rows, *cols],
        _ => return Err(not_a_matrix(&data)),
    };
    let values = data.to_vec::<f32>().map_err(|_| not_a_matrix(&data))?;
    let mut out = vec![0.0_f32; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    Ok(TensorData::new(out, [cols, rows]))
}

/// The module's parameters in PyTorch layout and names (Linear weights `[out, in]`, norms `weight`/`bias`),
/// keyed by model path: what export writes after mapping names back.
pub fn collect_tensors<B: Backend, M: Module<B>>(
    module: &M,
) -> Result<BTreeMap<String, TensorData>, CheckpointError> {
    let mut tensors = BTreeMap::new();
    for snapshot in module.collect(None, None, true) {
        let path = snapshot.full_path();
        let data = snapshot.to_data().map_err(|e| CheckpointError::Tensor {
            path: PathBuf::from("<model>"),
            key: path.clone(),
            reason: format!("{e:?}"),
        })?;
        let data = crate::tensors::to_f32(data);
        let kind = snapshot.module_type();
        let data = if kind.as_deref().is_some_and(is_linear)
            && path.ends_with(".weight")
            && data.shape.len() == 2
        {
            transpose(data, Path::new("<model>"), &path)?
        } else {
            data
        };
        let name = if kind.as_deref() == Some(LAYER_NORM) {
            pytorch_name(&path)
        } else {
            path
        };
        tensors.insert(name, data);
    }
    Ok(tensors)
}
