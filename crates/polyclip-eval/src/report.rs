//! Run reports: `report.json` and the markdown tables in the seed model cards' layout.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::EvalError;
use crate::retrieval::RetrievalMetrics;
use crate::zeroshot::ZeroShotMetrics;

/// The metrics of one evaluation set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetMetrics<M> {
    pub set: String,
    #[serde(flatten)]
    pub metrics: M,
}

/// Every metric of one model, sets in the order they were evaluated (the table's column order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ModelEvaluation {
    pub retrieval: Vec<SetMetrics<RetrievalMetrics>>,
    pub zero_shot: Vec<SetMetrics<ZeroShotMetrics>>,
}

impl ModelEvaluation {
    /// Mean top-1 over the classification sets.
    pub fn zero_shot_average(&self) -> f64 {
        let n = self.zero_shot.len().max(1) as f64;
        self.zero_shot.iter().map(|m| m.metrics.top1).sum::<f64>() / n
    }

    /// The retrieval metrics of a set.
    pub fn retrieval_of(&self, set: &str) -> Option<&RetrievalMetrics> {
        self.retrieval
            .iter()
            .find(|m| m.set == set)
            .map(|m| &m.metrics)
    }

    /// The zero-shot metrics of a set.
    pub fn zero_shot_of(&self, set: &str) -> Option<&ZeroShotMetrics> {
        self.zero_shot
            .iter()
            .find(|m| m.set == set)
            .map(|m| &m.metrics)
    }
}

/// A model and its evaluation, in the order the table lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRow {
    pub model: String,
    pub evaluation: ModelEvaluation,
}

/// The report of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub title: String,
    /// Free-form facts about the run (recipe, language, backend, seed, steps, timings…).
    pub details: BTreeMap<String, serde_json::Value>,
    pub rows: Vec<ReportRow>,
}

impl Report {
    /// Writes `report.json`.
    pub fn save_json(&self, path: &Path) -> Result<(), EvalError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| EvalError::Write {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        std::fs::write(path, text).map_err(|e| EvalError::Io {
            path: path.to_owned(),
            source: e,
        })
    }

    /// The CAPIVARA model card's tables: mean recall per retrieval set and direction, then zero-shot top-1 per
    /// classification set with their average; the best value of each column in bold.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "### {}\n", self.title);
        let retrieval_sets: Vec<&String> = self
            .rows
            .first()
            .map(|row| row.evaluation.retrieval.iter().map(|m| &m.set).collect())
            .unwrap_or_default();
        if !retrieval_sets.is_empty() {
            let _ = writeln!(
                out,
                "#### Zero-shot Cross-Modal Retrieval (mean recall of R@1/5/10)\n"
            );
            let mut header = String::from("| Models |");
            let mut rule = String::from("|:--|");
            for set in &retrieval_sets {
                let _ = write!(header, " {set} text-to-image | {set} image-to-text |");
                rule.push_str(":--:|:--:|");
            }
            let _ = writeln!(out, "{header}\n{rule}");
            let columns: Vec<Vec<f64>> = retrieval_sets
                .iter()
                .flat_map(|set| {
                    let pick = |f: fn(&RetrievalMetrics) -> f64| {
                        self.rows
                            .iter()
                            .map(|row| row.evaluation.retrieval_of(set).map_or(f64::NAN, f))
                            .collect::<Vec<f64>>()
                    };
                    [
                        pick(RetrievalMetrics::text_to_image_mean),
                        pick(RetrievalMetrics::image_to_text_mean),
                    ]
                })
                .collect();
            write_rows(&mut out, &self.rows, &columns);
            let _ = writeln!(out);
        }
        let zero_shot_sets: Vec<&String> = self
            .rows
            .first()
            .map(|row| row.evaluation.zero_shot.iter().map(|m| &m.set).collect())
            .unwrap_or_default();
        if !zero_shot_sets.is_empty() {
            let _ = writeln!(
                out,
                "#### Zero-shot image classification (top-1 accuracy)\n"
            );
            let mut header = String::from("| Models |");
            let mut rule = String::from("|:--|");
            for set in &zero_shot_sets {
                let _ = write!(header, " **{set}** |");
                rule.push_str(":--:|");
            }
            let _ = writeln!(out, "{header} **Average** |\n{rule}:--:|");
            let mut columns: Vec<Vec<f64>> = zero_shot_sets
                .iter()
                .map(|set| {
                    self.rows
                        .iter()
                        .map(|row| {
                            row.evaluation
                                .zero_shot_of(set)
                                .map_or(f64::NAN, |m| m.top1)
                        })
                        .collect()
                })
                .collect();
            columns.push(
                self.rows
                    .iter()
                    .map(|row| row.evaluation.zero_shot_average())
                    .collect(),
            );
            write_rows(&mut out, &self.rows, &columns);
        }
        out
    }
}

fn write_rows(out: &mut String, rows: &[ReportRow], columns: &[Vec<f64>]) {
    for (index, row) in rows.iter().enumerate() {
        let _ = write!(out, "| {} |", row.model);
        for column in columns {
            let value = column[index];
            let best = column.iter().copied().fold(f64::MIN, f64::max);
            let is_best = rows.len() > 1 && value >= best;
            if is_best {
                let _ = write!(out, " **{value:.2}** |");
            } else {
                let _ = write!(out, " {value:.2} |");
            }
        }
        let _ = writeln!(out);
    }
}
