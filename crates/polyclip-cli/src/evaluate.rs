//! `eval`: run an evaluation suite (see `polyclip_eval::suite`) on every set that is present, and write
//! `report.json` and `report.md` in the method's table layout. `--append` adds the model as a row of an existing
//! report (baseline vs fine-tuned, as the model cards compare them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::backend::Backend;
use polyclip_data::{BadInputPolicy, ImagenetClassnames};
use polyclip_eval::report::{Report, ReportRow};
use polyclip_eval::suite::{EvalSuite, SuiteSettings};
use serde_json::json;

use crate::ModelArgs;
use crate::error::CliError;
use crate::model::Encoder;

/// What `eval` was asked.
pub struct EvalRequest<'a> {
    pub model: &'a ModelArgs,
    pub suite: &'a Path,
    pub data_root: Option<&'a Path>,
    pub out: &'a Path,
    pub name: Option<&'a str>,
    pub append: bool,
    pub policy: BadInputPolicy,
    pub num_workers: usize,
    pub classnames: Option<&'a Path>,
}

pub fn evaluate<B: Backend>(request: &EvalRequest, device: &B::Device) -> Result<(), CliError> {
    let started = Instant::now();
    let suite = EvalSuite::load(request.suite, request.data_root)?;
    let encoder = Encoder::<B>::load(request.model, device)?;
    let model = encoder.encoders()?;
    let preprocess = encoder.preprocess().ok_or_else(|| {
        CliError::Usage("eval: the model has no image tower (pass --image-model)".into())
    })?;
    let settings = SuiteSettings {
        preprocess,
        batch_size: request.model.batch_size.max(1),
        num_workers: request.num_workers,
        policy: request.policy,
        classnames_dir: request
            .classnames
            .map(Path::to_owned)
            .unwrap_or_else(ImagenetClassnames::shipped_dir),
    };
    let outcome = suite.run(&model, encoder.tokenizer()?, &settings, device)?;
    for absent in &outcome.absent {
        eprintln!("not present, skipped: {absent}");
    }
    if outcome.evaluation.retrieval.is_empty() && outcome.evaluation.zero_shot.is_empty() {
        return Err(CliError::Usage(format!(
            "eval: none of the sets of {} is present under {} ({})",
            request.suite.display(),
            suite.root.display(),
            outcome.absent.join("; ")
        )));
    }
    let row_name = request.name.map(str::to_owned).unwrap_or_else(|| {
        Path::new(&request.model.model)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| request.model.model.clone())
    });
    std::fs::create_dir_all(request.out).map_err(|source| CliError::Io {
        path: request.out.to_owned(),
        source,
    })?;
    let json_path = request.out.join("report.json");
    let mut report = match (request.append, std::fs::read_to_string(&json_path)) {
        (true, Ok(text)) => serde_json::from_str::<Report>(&text).map_err(|e| {
            CliError::Usage(format!(
                "{}: not a polyclip report: {e}",
                json_path.display()
            ))
        })?,
        _ => Report {
            title: suite.title.clone(),
            layout: suite.layout,
            details: BTreeMap::new(),
            rows: Vec::new(),
        },
    };
    report.rows.retain(|row| row.model != row_name);
    report.rows.push(ReportRow {
        model: row_name.clone(),
        evaluation: outcome.evaluation,
    });
    report.details.insert(
        format!("model: {row_name}"),
        json!({
            "checkpoint": request.model.model,
            "suite": request.suite,
            "absent": outcome.absent,
            "skipped_inputs": outcome.skipped.len(),
            "seconds": started.elapsed().as_secs_f64(),
        }),
    );
    report.save_json(&json_path)?;
    let markdown = report.markdown();
    let md_path: PathBuf = request.out.join("report.md");
    std::fs::write(&md_path, &markdown).map_err(|source| CliError::Io {
        path: md_path.clone(),
        source,
    })?;
    print!("{markdown}");
    if let Some(first) = outcome.skipped.first() {
        eprintln!(
            "skipped {} bad input(s); first: {first}",
            outcome.skipped.len()
        );
    }
    eprintln!("wrote {} and {}", json_path.display(), md_path.display());
    Ok(())
}
