//! `polyclip serve`: a web page and a JSON API over a picture index — text→image search in any language the
//! model reads, image→image search, zero-shot labels, captions with `--captioner`, and the runs view with
//! `--runs`. The model runs on one worker thread ([`worker`]); the async threads only parse, search and answer.

pub mod api_error;
pub mod assets;
pub mod http;
pub mod routes;
pub mod runs;
pub mod upload;
pub mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use burn::tensor::backend::Backend;
use polyclip_backend::BackendKind;
use polyclip_data::BadInputPolicy;
use polyclip_index::{IndexStore, SearchMode, Searcher};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::error::CliError;
use crate::index_pictures::{IndexRequest, index, model_identity};
use crate::serve::routes::{AppState, Limits};
use crate::{ModelArgs, SearchChoice};

/// The main job's run folder, served when no `--index` is given.
pub const MAIN_JOB_RUN: &str = "runs/capivara-seed000";
/// The command that makes it.
pub const MAIN_JOB_COMMAND: &str = "cargo run --release -p recipes --bin capivara";

/// What `polyclip serve` was asked.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// The index folder (from `polyclip index`).
    #[arg(long)]
    pub index: Option<PathBuf>,
    /// The model that embeds queries (default: the one that made the index; another model is refused).
    #[arg(long, value_name = "DIR|hf:ORG/NAME")]
    pub model: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
    /// For a text encoder without an image tower: the CLIP model whose image tower it pairs with.
    #[arg(long)]
    pub image_model: Option<String>,
    /// An image captioner (CLIP vision + mBART-50 decoder) for /api/caption.
    #[arg(long)]
    pub captioner: Option<String>,
    #[arg(long)]
    pub captioner_tokenizer: Option<PathBuf>,
    /// Address to listen on (port 0: any free port; the address in use is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// A folder of run folders to show on /runs (curves and reports).
    #[arg(long)]
    pub runs: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = BackendKind::Flex)]
    pub backend: BackendKind,
    #[arg(long, value_enum, default_value_t = SearchChoice::Auto)]
    pub search: SearchChoice,
    /// Texts or pictures per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Largest request body in bytes (413 above).
    #[arg(long, default_value_t = 20 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest picture a request may send, in pixels (width × height, read from the header before decoding).
    #[arg(long, default_value_t = 40_000_000)]
    pub max_image_pixels: u64,
    /// Seconds a request (headers, body and answer) may take.
    #[arg(long, default_value_t = 30)]
    pub timeout_s: u64,
}

impl ServeArgs {
    fn model_args(
        &self,
        model: String,
        tokenizer: Option<PathBuf>,
        image_model: Option<String>,
    ) -> ModelArgs {
        ModelArgs {
            model,
            backend: self.backend,
            allow_partial: false,
            tokenizer,
            image_model,
            batch_size: self.batch_size.max(1),
        }
    }

    fn search_mode(&self) -> SearchMode {
        self.search.into()
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_s.max(1))
    }
}

/// The main job's language (its report's `details.language`), Portuguese when the report does not say.
fn main_job_language(run: &Path) -> String {
    std::fs::read_to_string(run.join("report.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|report| report["details"]["language"].as_str().map(String::from))
        .unwrap_or_else(|| "pt".into())
}

/// With no `--index`: the main job's fine-tuned model over its held-out pictures, indexed into the run folder
/// the first time (and again when the model has changed since).
fn main_job_index<B: Backend>(
    request: &mut ServeArgs,
    device: &B::Device,
) -> Result<PathBuf, CliError> {
    let run = Path::new(MAIN_JOB_RUN);
    let model = run.join("finetune");
    if !model.join("model.json").is_file() {
        return Err(CliError::Usage(format!(
            "serve: {} does not exist; make it with `{MAIN_JOB_COMMAND}` (the main job), or give --index INDEX",
            model.display()
        )));
    }
    let language = main_job_language(run);
    let pictures = run.join("data").join(format!("test.{language}.jsonl"));
    let model = request
        .model
        .get_or_insert_with(|| model.display().to_string())
        .clone();
    let out = run.join("index");
    let args = request.model_args(
        model,
        request.tokenizer.clone(),
        request.image_model.clone(),
    );
    if IndexStore::exists(&out) {
        let store = IndexStore::open(&out)?;
        if store
            .meta
            .model
            .differs_from(&model_identity(&args, &out)?)
            .is_some()
        {
            eprintln!(
                "polyclip: the main job's model changed since {} was made: indexing again",
                out.display()
            );
            std::fs::remove_dir_all(&out).map_err(|source| CliError::Io {
                path: out.clone(),
                source,
            })?;
        }
    }
    index::<B>(
        &IndexRequest {
            model: &args,
            images: &pictures.display().to_string(),
            out: &out,
            policy: BadInputPolicy::Fail,
            search: request.search_mode(),
            part: crate::parts::PartArgs::default(),
        },
        device,
    )?;
    if request.runs.is_none() {
        request.runs = Some(PathBuf::from("runs"));
    }
    Ok(out)
}

/// Runs the server until the process is stopped.
pub fn serve<B: Backend>(mut request: ServeArgs, device: &B::Device) -> Result<(), CliError> {
    let index_dir = match request.index.clone() {
        Some(dir) => dir,
        None => main_job_index::<B>(&mut request, device)?,
    };
    let store = IndexStore::open(&index_dir)?;
    let model = request
        .model
        .clone()
        .unwrap_or_else(|| store.meta.model.location(&index_dir));
    let args = request.model_args(
        model,
        request.tokenizer.clone(),
        request.image_model.clone(),
    );
    let identity = model_identity(&args, &index_dir)?;
    if let Some(reason) = store.meta.model.differs_from(&identity) {
        return Err(polyclip_index::IndexError::OtherModel {
            index: index_dir,
            built_with: store.meta.model.path.clone(),
            asked: identity.path.clone(),
            asked_path: identity.path,
            reason,
        }
        .into());
    }
    if let Some(runs) = request.runs.as_ref().filter(|runs| !runs.is_dir()) {
        return Err(CliError::Usage(format!(
            "serve --runs {}: no such folder",
            runs.display()
        )));
    }
    let placeholder = store
        .items()
        .iter()
        .find_map(|item| item.caption.clone())
        .unwrap_or_else(|| "Search the pictures…".into());
    let pictures = store.len();
    let searcher = Searcher::new(store, request.search_mode())?;
    let captioner = request
        .captioner
        .clone()
        .map(|model| request.model_args(model, request.captioner_tokenizer.clone(), None));
    let shown_model = args.model.clone();
    let (worker, model_info) = worker::start::<B>(args, captioner, device.clone())?;
    let state = AppState {
        searcher: Arc::new(searcher),
        worker,
        model: model_info,
        backend: request.backend.to_string(),
        limits: Limits {
            body_bytes: request.max_body_bytes,
            image_pixels: request.max_image_pixels,
        },
        runs: request.runs.clone(),
        placeholder,
    };
    let app = routes::router(state)
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request.timeout(),
        ))
        .layer(axum::extract::DefaultBodyLimit::max(request.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(request.max_body_bytes));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            path: "<tokio runtime>".into(),
            source,
        })?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&request.addr)
            .await
            .map_err(|source| CliError::Io {
                path: PathBuf::from(&request.addr),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| CliError::Io {
            path: PathBuf::from(&request.addr),
            source,
        })?;
        eprintln!("polyclip: serving {shown_model} over {pictures} pictures at http://{local}");
        http::serve(listener, app, request.timeout()).await;
        Ok(())
    })
}
