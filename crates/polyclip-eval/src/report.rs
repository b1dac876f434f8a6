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
        self.zero_shot
            .iter()
            .map(|m| m.metrics.headline())
            .sum::<f64>()
            / n
    }

    /// One line for a plot's mark: the first retrieval set's text→image mean recall, and the zero-shot
    /// average when there are classification sets.
    pub fn headline(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(first) = self.retrieval.first() {
            parts.push(format!(
                "{} T→I {:.2}",
                first.set,
                first.metrics.text_to_image_mean()
            ));
        }
        if !self.zero_shot.is_empty() {
            parts.push(format!("zero-shot {:.2}", self.zero_shot_average()));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
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

/// Which method's tables [`Report::markdown`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TableLayout {
    /// CAPIVARA's model card: mean recall per retrieval set and direction; zero-shot top-1 with the average.
    #[default]
    Capivara,
    /// clip-italian's report: text→image MRR@1/5/10; zero-shot accuracy@1/5/10/100.
    ClipItalian,
    /// Themo's README: zero-shot accuracy@1/5/10 and text→image retrieval@1/5/10, as fractions.
    Themo,
}

/// The report of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub title: String,
    #[serde(default)]
    pub layout: TableLayout,
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

    /// The tables of the report's [`TableLayout`], the best value of each column in bold.
    pub fn markdown(&self) -> String {
        let mut out = format!("### {}\n\n", self.title);
        let Some(first) = self.rows.first() else {
            return out;
        };
        match self.layout {
            TableLayout::Capivara => self.capivara_tables(first, &mut out),
            TableLayout::ClipItalian => self.clip_italian_tables(first, &mut out),
            TableLayout::Themo => self.themo_table(first, &mut out),
        }
        out
    }

    /// clip-italian: MRR@1/5/10 per retrieval set, then accuracy@1/5/10/100 per classification set (K below the
    /// set's class count: more is 100 by construction).
    fn clip_italian_tables(&self, first: &ReportRow, out: &mut String) {
        let mut headers = Vec::new();
        let mut columns = Vec::new();
        for set in first.evaluation.retrieval.iter().map(|m| &m.set) {
            for (index, k) in [1, 5, 10].into_iter().enumerate() {
                headers.push(format!("{set} MRR@{k}"));
                columns
                    .push(self.column(|e| e.retrieval_of(set).map(|m| m.text_to_image_mrr[index])));
            }
        }
        write_table(
            out,
            "Text-to-image retrieval (MRR@K)",
            &headers,
            &columns,
            &self.rows,
            4,
        );
        headers.clear();
        columns.clear();
        for set in first.evaluation.zero_shot.iter().map(|m| &m.set) {
            let classes = first
                .evaluation
                .zero_shot_of(set)
                .map_or(0, |metrics| metrics.classes);
            for k in [1, 5, 10, 100] {
                if k > 1 && classes > 0 && k >= classes {
                    continue;
                }
                headers.push(format!("{set} accuracy@{k}"));
                columns.push(self.column(|e| e.zero_shot_of(set).and_then(|m| m.top(k))));
            }
        }
        write_table(
            out,
            "Zero-shot image classification (accuracy@K, %)",
            &headers,
            &columns,
            &self.rows,
            2,
        );
    }

    /// Themo: one table, accuracy@1/5/10 of the first classification set and retrieval@1/5/10 (text→image) of the
    /// first retrieval set, as fractions.
    fn themo_table(&self, first: &ReportRow, out: &mut String) {
        let mut headers = Vec::new();
        let mut columns = Vec::new();
        if let Some(set) = first.evaluation.zero_shot.first().map(|m| &m.set) {
            for k in [1, 5, 10] {
                headers.push(format!("accuracy@{k}"));
                columns.push(self.column(|e| {
                    e.zero_shot_of(set)
                        .and_then(|m| m.top(k))
                        .map(|top| top / 100.0)
                }));
            }
        }
        if let Some(set) = first.evaluation.retrieval.first().map(|m| &m.set) {
            for (index, k) in [1, 5, 10].into_iter().enumerate() {
                headers.push(format!("retrieval@{k}"));
                columns.push(
                    self.column(|e| e.retrieval_of(set).map(|m| m.text_to_image[index] / 100.0)),
                );
            }
        }
        write_table(
            out,
            "Accuracy and retrieval",
            &headers,
            &columns,
            &self.rows,
            3,
        );
    }

    /// CAPIVARA's model card: mean recall per retrieval set and direction, then zero-shot top-1 per classification
    /// set with their average.
    fn capivara_tables(&self, first: &ReportRow, out: &mut String) {
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
            out,
            "Zero-shot Cross-Modal Retrieval (mean recall of R@1/5/10)",
            &headers,
            &columns,
            &self.rows,
            2,
        );
        headers.clear();
        columns.clear();
        for set in first.evaluation.zero_shot.iter().map(|m| &m.set) {
            headers.push(format!("**{set}**"));
            columns.push(self.column(|e| e.zero_shot_of(set).map(|m| m.headline())));
        }
        if !headers.is_empty() {
            headers.push("**Average**".into());
            columns.push(self.column(|e| Some(e.zero_shot_average())));
        }
        write_table(
            out,
            "Zero-shot image classification (top-1 accuracy)",
            &headers,
            &columns,
            &self.rows,
            2,
        );
    }

    /// One value per row (NaN where a row lacks it).
    fn column(&self, value: impl Fn(&ModelEvaluation) -> Option<f64>) -> Vec<f64> {
        self.rows
            .iter()
            .map(|row| value(&row.evaluation).unwrap_or(f64::NAN))
            .collect()
    }
}

/// A markdown table with a `Models` column and values with `digits` decimals, the best value of each column in
/// bold; nothing when `headers` is empty.
fn write_table(
    out: &mut String,
    title: &str,
    headers: &[String],
    columns: &[Vec<f64>],
    rows: &[ReportRow],
    digits: usize,
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
                let _ = write!(out, " **{value:.digits$}** |");
            } else {
                let _ = write!(out, " {value:.digits$} |");
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
                        text_to_image_mrr: [t2i / 200.0, t2i / 100.0, t2i / 100.0],
                    },
                }],
                zero_shot: vec![SetMetrics {
                    set: "ImageNet".into(),
                    metrics: ZeroShotMetrics {
                        top1,
                        top5: 90.0,
                        top10: 95.0,
                        top100: 100.0,
                        classes: 1000,
                        ..ZeroShotMetrics::default()
                    },
                }],
            },
        }
    }

    #[test]
    fn markdown_follows_the_model_card_layout() {
        let report = Report {
            title: "T".into(),
            layout: TableLayout::Capivara,
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

    #[test]
    fn clip_italian_and_themo_layouts_name_their_metrics() {
        let mut report = Report {
            title: "T".into(),
            layout: TableLayout::ClipItalian,
            details: BTreeMap::new(),
            rows: vec![row("mCLIP", 50.0, 40.0), row("CLIP-Italian", 60.0, 30.0)],
        };
        let markdown = report.markdown();
        assert!(
            markdown.contains("| Models | Flickr30k MRR@1 | Flickr30k MRR@5 | Flickr30k MRR@10 |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| CLIP-Italian | **0.3000** | **0.6000** | **0.6000** |"),
            "{markdown}"
        );
        assert!(markdown.contains("ImageNet accuracy@100"), "{markdown}");
        report.layout = TableLayout::Themo;
        let markdown = report.markdown();
        assert!(
            markdown.contains("| Models | accuracy@1 | accuracy@5 | accuracy@10 | retrieval@1 | retrieval@5 | retrieval@10 |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| mCLIP | **0.400** | **0.900** | **0.950** | 0.500 |"),
            "{markdown}"
        );
    }
}
