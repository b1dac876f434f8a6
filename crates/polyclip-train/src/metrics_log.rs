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
    /// The loss scale the step's backward pass used (f16 steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<f32>,
    /// The step's gradients overflowed under that scale, so the weights were not updated (f16 steps).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overflowed: bool,
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
    /// The kept lines stay byte for byte as they were (the file is cut after the last of them, a line half
    /// written by a killed run included), so a resumed log equals an uninterrupted one.
    pub fn open(path: &Path, first_step: usize) -> Result<Self, TrainError> {
        let text = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(TrainError::io(path, e)),
        };
        let mut keep = 0;
        for line in text.split_inclusive(|&byte| byte == b'\n') {
            let complete = line.ends_with(b"\n");
            match serde_json::from_slice::<StepMetrics>(line) {
                Ok(record) if complete && record.step < first_step => keep += line.len(),
                _ => break,
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| TrainError::io(path, e))?;
        file.set_len(keep as u64)
            .map_err(|e| TrainError::io(path, e))?;
        file.flush().map_err(|e| TrainError::io(path, e))?;
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
