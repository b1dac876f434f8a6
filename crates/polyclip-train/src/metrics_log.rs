//! The metrics log: one JSON object per training step in `metrics.jsonl`.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// What is logged per step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: usize,
    pub loss: f32,
    pub lr: f64,
    /// `exp(logit_scale)` after the step (contrastive models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logit_scale: Option<f32>,
    pub samples_per_s: f64,
}

impl StepMetrics {
    /// `(step, loss)`, a point of the loss curve.
    pub fn point(&self) -> (f64, f64) {
        (self.step as f64, f64::from(self.loss))
    }
}

/// An append-only JSONL log.
pub struct MetricsLog {
    path: PathBuf,
    file: File,
}

impl MetricsLog {
    /// Opens `path`, keeping only the records of steps before `first_step` (a resumed run rewrites the rest).
    pub fn open(path: &Path, first_step: usize) -> Result<Self, TrainError> {
        let kept: Vec<StepMetrics> = read_metrics(path)?
            .into_iter()
            .filter(|m| m.step < first_step)
            .collect();
        let mut file = File::create(path).map_err(|e| TrainError::io(path, e))?;
        for record in &kept {
            writeln!(
                file,
                "{}",
                serde_json::to_string(record).map_err(|e| TrainError::io(path, e.into()))?
            )
            .map_err(|e| TrainError::io(path, e))?;
        }
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| TrainError::io(path, e))?;
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }

    /// Appends one step.
    pub fn append(&mut self, metrics: &StepMetrics) -> Result<(), TrainError> {
        let line =
            serde_json::to_string(metrics).map_err(|e| TrainError::io(&self.path, e.into()))?;
        writeln!(self.file, "{line}").map_err(|e| TrainError::io(&self.path, e))
    }
}

/// Reads a metrics log (an absent file is an empty log).
pub fn read_metrics(path: &Path) -> Result<Vec<StepMetrics>, TrainError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TrainError::io(path, e)),
    };
    let mut records = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| TrainError::io(path, e))?;
        if let Ok(record) = serde_json::from_str(&line) {
            records.push(record);
        }
    }
    Ok(records)
}
