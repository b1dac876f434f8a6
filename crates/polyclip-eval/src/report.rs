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
        let mut out = format!("### {}\n\n", self.title);
        let Some(first) = self.rows.first() else {
            return out;
        };
        let mut headers = Vec::new();
        let mut columns = Vec::new();
        for set in first.evaluation.retrieval.iter().map(|m| &m.set) {
            for (direction, mean) in [
                (
                    "text-to-image",
                    RetrievalMetrics::text_to_image_mean as fn(&RetrievalMetrics) -> f64,
                ),
                ("image-to-text", RetrievalMetrics::image_to_text_mean),
            ] {
                headers.push(format!("{set} {direction}"));
                columns.push(self.column(|e| e.retrieval_of(set).map(mean)));
            }
        }
        write_table(
            &mut out,
            "Zero-shot Cross-Modal Retrieval (mean recall of R@1/5/10)",
            &headers,
            &columns,
            &self.rows,
        );
        headers.clear();
        columns.clear();
        for set in first.evaluation.zero_shot.iter().map(|m| &m.set) {
            headers.push(format!("**{set}**"));
            columns.push(self.column(|e| e.zero_shot_of(set).map(|m| m.top1)));
        }
        if !headers.is_empty() {
            headers.push("**Average**".into());
            columns.push(self.column(|e| Some(e.zero_shot_average())));
        }
        write_table(
            &mut out,
            "Zero-shot image classification (top-1 accuracy)",
            &headers,
            &columns,
            &self.rows,
        );
        out
    }

    /// One value per row (NaN where a row lacks it).
    fn column(&self, value: impl Fn(&ModelEvaluation) -> Option<f64>) -> Vec<f64> {
        self.rows
            .iter()
            .map(|row| value(&row.evaluation).unwrap_or(f64::NAN))
            .collect()
    }
}

/// A markdown table with a `Models` column, the best value of each column in bold; nothing when `headers` is empty.
fn write_table(
    out: &mut String,
    title: &str,
    headers: &[String],
    columns: &[Vec<f64>],
    rows: &[ReportRow],
) {
    if headers.is_empty() {
        return;
    }
    let _ = writeln!(out, "#### {title}\n");
    let _ = writeln!(out, "| Models | {} |", headers.join(" | "));
    let _ = writeln!(out, "|:--|{}", ":--:|".repeat(headers.len()));
    for (index, row) in rows.iter().enumerate() {
        let _ = write!(out, "| {} |", row.model);
        for column in columns {
            let value = column[index];
            let best = column.iter().copied().fold(f64::MIN, f64::max);
            if rows.len() > 1 && value >= best {
                let _ = write!(out, " **{value:.2}** |");
            } else {
                let _ = write!(out, " {value:.2} |");
            }
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: &str, t2i: f64, top1: f64) -> ReportRow {
        ReportRow {
            model: model.into(),
            evaluation: ModelEvaluation {
                retrieval: vec![SetMetrics {
                    set: "Flickr30k".into(),
                    metrics: RetrievalMetrics {
                        text_to_image: [t2i, t2i, t2i],
                        image_to_text: [10.0, 20.0, 30.0],
                    },
                }],
                zero_shot: vec![SetMetrics {
                    set: "ImageNet".into(),
                    metrics: ZeroShotMetrics { top1, top5: 90.0 },
                }],
            },
        }
    }

    #[test]
    fn markdown_follows_the_model_card_layout() {
        let report = Report {
            title: "T".into(),
            details: BTreeMap::new(),
            rows: vec![row("Baseline", 50.0, 40.0), row("CAPIVARA", 60.0, 30.0)],
        };
        let expected = "### T\n\n\
            #### Zero-shot Cross-Modal Retrieval (mean recall of R@1/5/10)\n\n\
            | Models | Flickr30k text-to-image | Flickr30k image-to-text |\n\
            |:--|:--:|:--:|\n\
            | Baseline | 50.00 | **20.00** |\n\
            | CAPIVARA | **60.00** | **20.00** |\n\n\
            #### Zero-shot image classification (top-1 accuracy)\n\n\
            | Models | **ImageNet** | **Average** |\n\
            |:--|:--:|:--:|\n\
            | Baseline | **40.00** | **40.00** |\n\
            | CAPIVARA | 30.00 | 30.00 |\n\n";
        assert_eq!(report.markdown(), expected);
    }
}
