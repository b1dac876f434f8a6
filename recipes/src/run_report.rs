//! The end of a recipe run: `report.json`, `report.md` (in the recipe's table layout) and `curves.png` (the
//! loss curve of every stage that trained); the captioner's runner writes its report with the same pieces.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use polyclip_backend::BackendKind;
use polyclip_eval::plot::{Panel, save_panels};
use polyclip_eval::report::{Report, ReportRow};
use serde_json::json;

use crate::config::Recipe;
use crate::error::RecipeError;
use crate::run_options::RunOptions;
use crate::stage::StageSummary;

/// What a run measured, to be reported.
pub struct RunResults {
    pub rows: Vec<ReportRow>,
    pub stages: Vec<StageSummary>,
    /// The loss curves of the stages that trained.
    pub curves: Vec<Panel>,
    pub elapsed: Duration,
}

/// Writes the run's report files into the run folder and returns the report.
pub fn write_report(
    recipe: &Recipe,
    options: &RunOptions,
    backend: BackendKind,
    results: &RunResults,
) -> Result<Report, RecipeError> {
    let seed = recipe.recipe.seed;
    let mut details = BTreeMap::new();
    details.insert("recipe".into(), json!(recipe.recipe.name));
    details.insert("seed".into(), json!(seed));
    details.insert("backend".into(), json!(backend.to_string()));
    details.insert("language".into(), json!(recipe.eval.language));
    match &recipe.eval.suite {
        Some(suite) => {
            details.insert("eval_suite".into(), json!(suite));
        }
        None => {
            details.insert("test_images".into(), json!(recipe.data.test_images));
            details.insert(
                "chance_recall_at_1".into(),
                json!(100.0 / recipe.data.test_images.max(1) as f64),
            );
        }
    }
    if !recipe.data.train.is_empty() {
        details.insert("train_data".into(), json!(recipe.data.train));
    }
    details.insert("stages".into(), json!(results.stages));
    details.insert("seconds".into(), json!(results.elapsed.as_secs_f64()));
    let report = Report {
        title: format!("{} (seed {seed:03})", recipe.recipe.title),
        layout: recipe.eval.layout,
        details,
        rows: results.rows.clone(),
    };
    report.save_json(&options.run_dir.join("report.json"))?;
    write_markdown_and_curves(&options.run_dir, &report.markdown(), &results.curves)?;
    Ok(report)
}

/// `report.md` and, when a stage trained, `curves.png` in the run folder (every runner's).
pub fn write_markdown_and_curves(
    run_dir: &Path,
    markdown: &str,
    curves: &[Panel],
) -> Result<(), RecipeError> {
    let path = run_dir.join("report.md");
    std::fs::write(&path, markdown).map_err(|e| RecipeError::Io { path, source: e })?;
    if !curves.is_empty() {
        save_panels(curves, &run_dir.join("curves.png"))?;
    }
    Ok(())
}
