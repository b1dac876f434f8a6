//! Atomic checkpoints: `checkpoints/step-NNNNNNNN/{model,optimizer}.mpk + state.json`, written into a
//! `.partial` folder and renamed into place, then published by atomically replacing `checkpoints/latest`.
//! A crash at any moment leaves the previous checkpoint intact and `latest` pointing at a complete one.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::AutodiffModule;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::optimizer::ClipOptimizer;

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
        model
            .clone()
            .save_file(partial.join("model"), &WeightsRecorder::new())
            .map_err(|e| TrainError::Checkpoint {
                path: partial.join("model.mpk"),
                reason: e.to_string(),
            })?;
        if let Some(best) = best {
            best.clone()
                .save_file(partial.join("best"), &WeightsRecorder::new())
                .map_err(|e| TrainError::Checkpoint {
                    path: partial.join("best.mpk"),
                    reason: e.to_string(),
                })?;
        }
        optimizer.save(&partial.join("optimizer"))?;
        write_json(&partial.join("state.json"), &state)?;
        if final_dir.exists() {
            fs::remove_dir_all(&final_dir).map_err(|e| TrainError::io(&final_dir, e))?;
        }
        fs::rename(&partial, &final_dir).map_err(|e| TrainError::io(&final_dir, e))?;
        let latest_tmp = self.root.join("latest.tmp");
        let name = format!("step-{:08}", state.step);
        fs::write(&latest_tmp, &name).map_err(|e| TrainError::io(&latest_tmp, e))?;
        fs::rename(&latest_tmp, self.root.join("latest"))
            .map_err(|e| TrainError::io(&self.root, e))?;
        self.prune(keep.max(1))?;
        Ok(final_dir)
    }

    /// The newest complete checkpoint, if any.
    pub fn latest(&self) -> Result<Option<(PathBuf, CheckpointState)>, TrainError> {
        let pointer = self.root.join("latest");
        let name = match fs::read_to_string(&pointer) {
            Ok(name) => name,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(TrainError::io(&pointer, e)),
        };
        let dir = self.root.join(name.trim());
        let state_path = dir.join("state.json");
        let text = fs::read_to_string(&state_path).map_err(|e| TrainError::io(&state_path, e))?;
        let state = serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
            path: state_path.clone(),
            reason: e.to_string(),
        })?;
        Ok(Some((dir, state)))
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
            .map_err(|e| TrainError::Checkpoint {
                path: dir.join("model.mpk"),
                reason: e.to_string(),
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
            .map_err(|e| TrainError::Checkpoint {
                path: dir.join("best.mpk"),
                reason: e.to_string(),
            })
    }

    fn prune(&self, keep: usize) -> Result<(), TrainError> {
        let mut steps: Vec<PathBuf> = fs::read_dir(&self.root)
            .map_err(|e| TrainError::io(&self.root, e))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| {
                path.is_dir()
                    && path.extension().is_none()
                    && path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("step-"))
            })
            .collect();
        steps.sort();
        let excess = steps.len().saturating_sub(keep);
        for old in &steps[..excess] {
            fs::remove_dir_all(old).map_err(|e| TrainError::io(old, e))?;
        }
        Ok(())
    }
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
