//! The runs view's data: the run folders under `--runs`, each stage's `metrics.jsonl` and the run's report.
//! A run is named by its folder name only, checked against the folders found: nothing of the request is
//! joined to a path unchecked.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::serve::api_error::ApiError;

const METRICS: &str = "metrics.jsonl";

/// The stage folders of a run (those with a `metrics.jsonl`), in the report's order, then by name.
fn stages(run: &Path) -> Vec<PathBuf> {
    let mut stages: Vec<PathBuf> = std::fs::read_dir(run)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join(METRICS).is_file())
        .collect();
    let order: Vec<String> = report(run)
        .and_then(|r| r["details"]["stages"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["name"].as_str().map(String::from))
        .collect();
    stages.sort_by_key(|path| {
        let name = file_name(path);
        (
            order.iter().position(|n| *n == name).unwrap_or(usize::MAX),
            name,
        )
    });
    stages
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn report(run: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(run.join("report.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// The run folders under `root`: those with a report or a stage.
fn run_folders(root: &Path) -> Result<Vec<PathBuf>, ApiError> {
    let entries = std::fs::read_dir(root)
        .map_err(|e| ApiError::not_found(format!("{}: {e}", root.display())))?;
    let mut runs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.is_dir() && (path.join("report.json").is_file() || !stages(path).is_empty())
        })
        .collect();
    runs.sort();
    Ok(runs)
}

/// `/api/runs`.
pub fn list(root: &Path) -> Result<Value, ApiError> {
    let runs: Vec<Value> = run_folders(root)?
        .iter()
        .map(|run| {
            json!({
                "name": file_name(run),
                "stages": stages(run).iter().map(|s| file_name(s)).collect::<Vec<_>>(),
                "finished": run.join("report.json").is_file(),
                "title": report(run).and_then(|r| r["title"].as_str().map(String::from)),
            })
        })
        .collect();
    Ok(json!({"root": root.display().to_string(), "runs": runs}))
}

/// `/api/runs/{name}`: every stage's metrics lines, the report (JSON and Markdown) when written.
pub fn detail(root: &Path, name: &str) -> Result<Value, ApiError> {
    let run = run_folders(root)?
        .into_iter()
        .find(|run| file_name(run) == name)
        .ok_or_else(|| {
            ApiError::not_found(format!("no run named {name:?} in {}", root.display()))
        })?;
    let stages: Vec<Value> = stages(&run)
        .iter()
        .map(|stage| {
            let text = std::fs::read_to_string(stage.join(METRICS)).unwrap_or_default();
            // A line being written is incomplete: it is left for the next refresh.
            let records: Vec<Value> = text
                .lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect();
            json!({"name": file_name(stage), "metrics": records})
        })
        .collect();
    Ok(json!({
        "name": name,
        "finished": run.join("report.json").is_file(),
        "stages": stages,
        "report": report(&run),
        "report_md": std::fs::read_to_string(run.join("report.md")).ok(),
    }))
}
