//! Atomic checkpoints: `checkpoints/step-NNNNNNNN/{model,optimizer}.mpk + state.json`, written into a
//! `.partial` folder and renamed into place, then published by atomically replacing `checkpoints/latest`.
//! A crash at any moment leaves the previous checkpoint intact and `latest` pointing at a complete one.
//! `state.json` holds a checksum of every file of its checkpoint; resuming takes the newest checkpoint whose
//! files match (a damaged newer one is reported and passed over).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use burn::module::AutodiffModule;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::error::{TrainError, UNREADABLE};
use crate::failpoint::failpoint;
use crate::loss_scale::LossScaleState;
use crate::optimizer::ClipOptimizer;
use crate::record_file::write_record;

/// What a checkpoint records besides weights and optimiser state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Optimiser steps completed.
    pub step: usize,
    /// Steps the run was configured for.
    pub total_steps: usize,
    /// Where early stopping stood (runs with early stopping); the best model is the checkpoint's `best.mpk`,
    /// or its `model.mpk` when the best validation is this step's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<EarlyStoppingState>,
    /// The dynamic loss scale of an f16 run, for the next step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<LossScaleState>,
    /// FNV-1a 64 of every file of the checkpoint (`model.mpk`, `optimizer.mpk`, `best.mpk`), in hex.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checksums: BTreeMap<String, String>,
}

/// Early stopping's state: enough to continue a resumed run exactly as the uninterrupted one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStoppingState {
    /// The step of the lowest validation loss so far, and that loss.
    pub best_step: usize,
    pub best_score: f32,
    /// Validations since the best one.
    pub since_best: usize,
    /// `(step, validation loss)` of every validation so far.
    pub history: Vec<(usize, f32)>,
}

/// The checkpoint folder of a run.
#[derive(Debug, Clone)]
pub struct CheckpointDir {
    root: PathBuf,
}

type WeightsRecorder = NamedMpkFileRecorder<FullPrecisionSettings>;

impl CheckpointDir {
    /// `run_dir/checkpoints`.
    pub fn new(run_dir: &Path) -> Self {
        Self {
            root: run_dir.join("checkpoints"),
        }
    }

    fn step_dir(&self, step: usize) -> PathBuf {
        self.root.join(format!("step-{step:08}"))
    }

    /// Saves model, optimiser and state for `state.step` (and `best`, early stopping's best model when it is not
    /// this step's, as `best.mpk`), then keeps only the newest `keep` checkpoints.
    pub fn save<B: AutodiffBackend, M: AutodiffModule<B>>(
        &self,
        model: &M,
        optimizer: &ClipOptimizer<M, B>,
        best: Option<&M>,
        state: CheckpointState,
        keep: usize,
    ) -> Result<PathBuf, TrainError> {
        fs::create_dir_all(&self.root).map_err(|e| TrainError::io(&self.root, e))?;
        let final_dir = self.step_dir(state.step);
        let partial = final_dir.with_extension("partial");
        if partial.exists() {
            fs::remove_dir_all(&partial).map_err(|e| TrainError::io(&partial, e))?;
        }
        fs::create_dir_all(&partial).map_err(|e| TrainError::io(&partial, e))?;
        write_record::<B, _>(model.clone().into_record(), &partial.join("model.mpk"))?;
        if let Some(best) = best {
            write_record::<B, _>(best.clone().into_record(), &partial.join("best.mpk"))?;
        }
        optimizer.save(&partial.join("optimizer"))?;
        failpoint("checkpoint");
        let mut state = state;
        state.checksums = ["model.mpk", "optimizer.mpk", "best.mpk"]
            .into_iter()
            .map(|name| (name, partial.join(name)))
            .filter(|(_, path)| path.is_file())
            .map(|(name, path)| Ok((name.to_owned(), checksum(&path)?)))
            .collect::<Result<_, TrainError>>()?;
        write_json(&partial.join("state.json"), &state)?;
        if final_dir.exists() {
            fs::remove_dir_all(&final_dir).map_err(|e| TrainError::io(&final_dir, e))?;
        }
        fs::rename(&partial, &final_dir).map_err(|e| TrainError::io(&final_dir, e))?;
        failpoint("latest");
        let latest_tmp = self.root.join("latest.tmp");
        let name = format!("step-{:08}", state.step);
        fs::write(&latest_tmp, &name).map_err(|e| TrainError::io(&latest_tmp, e))?;
        fs::rename(&latest_tmp, self.root.join("latest"))
            .map_err(|e| TrainError::io(&self.root, e))?;
        self.prune(keep.max(1))?;
        Ok(final_dir)
    }

    /// The newest intact checkpoint, if any: the one `latest` names, else (it is damaged, or `latest` is
    /// missing or empty) the newest other whose files match their checksums, with a warning for each one passed
    /// over. Checkpoints exist but none is intact: an error naming the newest and what is wrong with it.
    pub fn latest(&self) -> Result<Option<(PathBuf, CheckpointState)>, TrainError> {
        let pointer = self.root.join("latest");
        let named = match fs::read_to_string(&pointer) {
            Ok(name) if !name.trim().is_empty() => Some(self.root.join(name.trim())),
            Ok(_) => None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(TrainError::io(&pointer, e)),
        };
        let mut others = self.step_dirs()?;
        others.sort();
        others.reverse();
        others.retain(|dir| Some(dir) != named.as_ref());
        let candidates = named.into_iter().chain(others);
        let mut damaged: Option<(PathBuf, String)> = None;
        for dir in candidates {
            match intact(&dir) {
                Ok(state) => {
                    if let Some((bad, why)) = &damaged {
                        eprintln!(
                            "polyclip: checkpoint {} is damaged ({why}); resuming from {}",
                            bad.display(),
                            dir.display()
                        );
                    }
                    return Ok(Some((dir, state)));
                }
                Err(why) => {
                    if damaged.is_some() {
                        eprintln!(
                            "polyclip: checkpoint {} is damaged too ({why})",
                            dir.display()
                        );
                    } else {
                        damaged = Some((dir, why));
                    }
                }
            }
        }
        match damaged {
            Some((dir, reason)) => Err(TrainError::Checkpoint {
                path: dir,
                reason: format!("{reason}, and no older checkpoint is intact"),
            }),
            None => Ok(None),
        }
    }

    /// Restores model weights and optimiser state from a checkpoint folder.
    pub fn load<B: AutodiffBackend, M: AutodiffModule<B>>(
        dir: &Path,
        model: M,
        optimizer: ClipOptimizer<M, B>,
        device: &B::Device,
    ) -> Result<(M, ClipOptimizer<M, B>), TrainError> {
        let model = model
            .load_file(dir.join("model"), &WeightsRecorder::new(), device)
            .map_err(|_| TrainError::Checkpoint {
                path: dir.join("model.mpk"),
                reason: UNREADABLE.into(),
            })?;
        let optimizer = optimizer.load(&dir.join("optimizer"), device)?;
        Ok((model, optimizer))
    }

    /// Early stopping's best model from a checkpoint folder that has one (`best.mpk`).
    pub fn load_best<B: AutodiffBackend, M: AutodiffModule<B>>(
        dir: &Path,
        model: M,
        device: &B::Device,
    ) -> Result<M, TrainError> {
        model
            .load_file(dir.join("best"), &WeightsRecorder::new(), device)
            .map_err(|_| TrainError::Checkpoint {
                path: dir.join("best.mpk"),
                reason: UNREADABLE.into(),
            })
    }

    /// The `step-*` folders (complete checkpoints; `.partial` ones are not).
    fn step_dirs(&self) -> Result<Vec<PathBuf>, TrainError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(TrainError::io(&self.root, e)),
        };
        Ok(entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| {
                path.is_dir()
                    && path.extension().is_none()
                    && path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("step-"))
            })
            .collect())
    }

    fn prune(&self, keep: usize) -> Result<(), TrainError> {
        let mut steps = self.step_dirs()?;
        steps.sort();
        let excess = steps.len().saturating_sub(keep);
        for old in &steps[..excess] {
            fs::remove_dir_all(old).map_err(|e| TrainError::io(old, e))?;
        }
        Ok(())
    }
}

/// The state of a checkpoint folder whose files all match the checksums its `state.json` records, else what
/// is wrong (a checkpoint from before checksums is taken as it is).
fn intact(dir: &Path) -> Result<CheckpointState, String> {
    let state_path = dir.join("state.json");
    let text = fs::read_to_string(&state_path).map_err(|e| format!("state.json: {e}"))?;
    let state: CheckpointState =
        serde_json::from_str(&text).map_err(|e| format!("state.json: {e}"))?;
    for (name, expected) in &state.checksums {
        let actual = checksum(&dir.join(name)).map_err(|e| e.to_string())?;
        if &actual != expected {
            return Err(format!(
                "{name} does not match its checksum: it was cut short or changed after it was written"
            ));
        }
    }
    Ok(state)
}

/// FNV-1a 64 of a file, in hex (a check against damage, not against tampering).
fn checksum(path: &Path) -> Result<String, TrainError> {
    let bytes = fs::read(path).map_err(|e| TrainError::io(path, e))?;
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    });
    Ok(format!("{hash:016x}"))
}

/// Writes pretty JSON through a temporary file and a rename.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), TrainError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| TrainError::Checkpoint {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, text).map_err(|e| TrainError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| TrainError::io(path, e))
}
