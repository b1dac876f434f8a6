//! The captioner run's report: `report.json` and the markdown of CLIP-Vision-mBART50's model card (BLEU-1..4 per
//! language, out of 1), with corpus BLEU-4, CIDEr and example captions after it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use polyclip_eval::captioning::CaptionMetrics;
use serde::{Deserialize, Serialize};

use crate::error::RecipeError;

/// A generated caption next to the picture's first reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptionExample {
    pub image: String,
    pub generated: String,
    pub reference: String,
}

/// One language's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LanguageResult {
    pub language: String,
    #[serde(flatten)]
    pub metrics: CaptionMetrics,
    pub examples: Vec<CaptionExample>,
}

/// The report of a captioner run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptionReport {
    pub title: String,
    pub details: BTreeMap<String, serde_json::Value>,
    pub languages: Vec<LanguageResult>,
}

/// The model card's name of a language.
fn language_name(code: &str) -> &str {
    match code.split('_').next().unwrap_or(code) {
        "en" => "English",
        "es" => "Spanish",
        "de" => "German",
        "fr" => "French",
        "pt" => "Portuguese",
        "it" => "Italian",
        other => other,
    }
}

impl CaptionReport {
    /// The tables, CLIP-Vision-mBART50's first.
    pub fn markdown(&self) -> String {
        let batch = self
            .details
            .get("bleu_batch_size")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(512);
        let mut out = format!("### {}\n\n", self.title);
        let _ = writeln!(
            out,
            "#### BLEU scores (out of 1), averaged over batches of {batch} pictures\n"
        );
        out.push_str("|Language |BLEU-1|BLEU-2|BLEU-3|BLEU-4|\n");
        out.push_str("|--------------------------|------|------|------|------|\n");
        for result in &self.languages {
            let [b1, b2, b3, b4] = result.metrics.bleu;
            let _ = writeln!(
                out,
                "|{} | {b1:.5}| {b2:.5}| {b3:.5}| {b4:.5}|",
                language_name(&result.language)
            );
        }
        out.push_str("\n#### Corpus BLEU and CIDEr\n\n");
        out.push_str("|Language |pictures|corpus BLEU-1|corpus BLEU-4|CIDEr|\n");
        out.push_str("|--------------------------|------|------|------|------|\n");
        for result in &self.languages {
            let metrics = &result.metrics;
            let _ = writeln!(
                out,
                "|{} | {}| {:.5}| {:.5}| {:.4}|",
                language_name(&result.language),
                metrics.pictures,
                metrics.corpus_bleu[0],
                metrics.corpus_bleu[3],
                metrics.cider
            );
        }
        out.push_str("\n#### Examples (generated / reference)\n\n");
        for result in &self.languages {
            if let Some(example) = result.examples.first() {
                let _ = writeln!(
                    out,
                    "- {}: \"{}\" / \"{}\" ({})",
                    language_name(&result.language),
                    example.generated,
                    example.reference,
                    example.image
                );
            }
        }
        out
    }

    /// Writes `report.json`.
    pub fn save_json(&self, path: &Path) -> Result<(), RecipeError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| RecipeError::Io {
            path: path.to_owned(),
            source: e.into(),
        })?;
        std::fs::write(path, text).map_err(|e| RecipeError::Io {
            path: path.to_owned(),
            source: e,
        })
    }
}
