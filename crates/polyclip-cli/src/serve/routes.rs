//! The JSON API and the pages (see `polyclip serve --help` and the README's API table).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use polyclip_index::Searcher;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::serve::api_error::ApiError;
use crate::serve::assets;
use crate::serve::runs;
use crate::serve::upload::{decode_picture, read_upload};
use crate::serve::worker::{Job, ModelInfo, WorkerHandle};

/// Largest `k` a search may ask for.
pub const MAX_K: usize = 100;
/// Longest text query, in characters.
pub const MAX_QUERY_CHARS: usize = 1000;
/// Most labels (times templates) a classification may ask for.
pub const MAX_PROMPTS: usize = 1000;

/// Limits the handlers enforce.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub body_bytes: usize,
    pub image_pixels: u64,
}

/// What every handler sees.
#[derive(Clone)]
pub struct AppState {
    pub searcher: Arc<Searcher>,
    pub worker: WorkerHandle,
    pub model: ModelInfo,
    pub backend: String,
    pub limits: Limits,
    pub runs: Option<PathBuf>,
    /// The search box's placeholder: a caption of the index (in the model's language) when it has captions.
    pub placeholder: String,
}

pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/", get(|| async { Html(assets::INDEX_HTML) }))
        .route(
            "/assets/app.js",
            get(|| async { assets::script(assets::APP_JS) }),
        )
        .route("/assets/style.css", get(|| async { assets::style() }))
        .route("/api/health", get(health))
        .route("/api/info", get(info))
        .route("/api/search", get(search_text))
        .route("/api/search/image", post(search_image))
        .route("/api/classify", post(classify))
        .route("/api/caption", post(caption))
        .route("/image/{id}", get(picture));
    if state.runs.is_some() {
        router = router
            .route("/runs", get(|| async { Html(assets::RUNS_HTML) }))
            .route("/runs/{name}", get(|| async { Html(assets::RUNS_HTML) }))
            .route(
                "/assets/runs.js",
                get(|| async { assets::script(assets::RUNS_JS) }),
            )
            .route("/api/runs", get(runs_list))
            .route("/api/runs/{name}", get(run_detail));
    }
    router.fallback(not_found).with_state(state)
}

async fn not_found(request: Request) -> Response {
    ApiError::not_found(format!("no such page or API: {}", request.uri().path())).into_response()
}

async fn health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"status": "ok", "pictures": state.searcher.store().len()}))
}

async fn info(State(state): State<AppState>) -> Json<Value> {
    let store = state.searcher.store();
    Json(json!({
        "model": state.model.model_dir,
        "backend": state.backend,
        "index": {
            "path": store.dir().display().to_string(),
            "pictures": store.len(),
            "dim": store.meta.dim,
            "search": state.searcher.method(),
            "source": store.meta.source,
        },
        "captioner": state.model.captioner,
        "placeholder": state.placeholder,
        "runs": state.runs.is_some(),
        "limits": {
            "body_bytes": state.limits.body_bytes,
            "image_pixels": state.limits.image_pixels,
            "k": MAX_K,
        },
        "worker": {
            "queries": state.worker.stats.jobs.load(Ordering::Relaxed),
            "forward_passes": state.worker.stats.forward_passes.load(Ordering::Relaxed),
        },
    }))
}

#[derive(Debug, Deserialize)]
struct SearchParams {
    q: Option<String>,
    k: Option<String>,
}

#[derive(Debug, Deserialize)]
struct KParams {
    k: Option<String>,
    lang: Option<String>,
}

fn parse_k(k: Option<&str>) -> Result<usize, ApiError> {
    let Some(k) = k else { return Ok(10) };
    match k.trim().parse::<usize>() {
        Ok(k) if (1..=MAX_K).contains(&k) => Ok(k),
        _ => Err(ApiError::bad_request(format!(
            "k must be a whole number from 1 to {MAX_K}, not {k:?}"
        ))),
    }
}

fn query_params<T>(params: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    params
        .map(|Query(p)| p)
        .map_err(|e| ApiError::bad_request(format!("bad query string: {}", e.body_text())))
}

/// The results of a search as JSON rows.
fn results(state: &AppState, query: &[f32], k: usize) -> Result<Vec<Value>, ApiError> {
    let hits = state
        .searcher
        .search(query, k)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let store = state.searcher.store();
    Ok(hits
        .into_iter()
        .filter_map(|hit| {
            let item = store.item(hit.id)?;
            let mut row = json!({
                "id": hit.id,
                "score": hit.score,
                "url": format!("/image/{}", hit.id),
                "name": item.picture.display_name(),
            });
            if let Some(caption) = &item.caption {
                row["caption"] = json!(caption);
            }
            Some(row)
        })
        .collect())
}

async fn search_blocking(
    state: AppState,
    query: Vec<f32>,
    k: usize,
) -> Result<Vec<Value>, ApiError> {
    tokio::task::spawn_blocking(move || results(&state, &query, k))
        .await
        .map_err(|e| ApiError::internal(format!("the search failed: {e}")))?
}

async fn search_text(
    State(state): State<AppState>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let params = query_params(params)?;
    let k = parse_k(params.k.as_deref())?;
    let q = params.q.unwrap_or_default();
    let q = q.trim().to_owned();
    if q.is_empty() {
        return Err(ApiError::bad_request("the query is empty: give ?q=TEXT"));
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::bad_request(format!(
            "the query is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    let embedding = state
        .worker
        .ask(|reply| Job::Texts {
            texts: vec![q.clone()],
            reply,
        })
        .await?;
    let results = search_blocking(state, embedding.values, k).await?;
    Ok(Json(json!({"query": q, "results": results})))
}

/// Decodes an uploaded picture on the blocking pool, within the pixel limit.
async fn decode_off_thread(
    state: &AppState,
    bytes: Vec<u8>,
) -> Result<image::DynamicImage, ApiError> {
    let limit = state.limits.image_pixels;
    tokio::task::spawn_blocking(move || decode_picture(&bytes, limit))
        .await
        .map_err(|e| ApiError::internal(format!("decoding failed: {e}")))?
}

async fn picture_embedding(state: &AppState, bytes: Vec<u8>) -> Result<Vec<f32>, ApiError> {
    let picture = decode_off_thread(state, bytes).await?;
    let embedding = state
        .worker
        .ask(|reply| Job::Pictures {
            pictures: vec![picture],
            reply,
        })
        .await?;
    Ok(embedding.values)
}

async fn search_image(
    State(state): State<AppState>,
    params: Result<Query<KParams>, QueryRejection>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let params = query_params(params)?;
    let upload = read_upload(request, state.limits.body_bytes).await?;
    let k = parse_k(
        params
            .k
            .as_deref()
            .or(upload.values("k").first().map(String::as_str)),
    )?;
    let query = picture_embedding(&state, upload.bytes).await?;
    let results = search_blocking(state, query, k).await?;
    Ok(Json(json!({"results": results})))
}

/// Labels from every `labels` field: one per line or comma-separated.
fn split_labels(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(['\n', ',']))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

async fn classify(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let upload = read_upload(request, state.limits.body_bytes).await?;
    let labels = split_labels(upload.values("labels"));
    if labels.len() < 2 {
        return Err(ApiError::bad_request(
            "give at least two labels (form field `labels`: one per line or comma-separated)",
        ));
    }
    let templates: Vec<String> = upload
        .values("templates")
        .iter()
        .flat_map(|v| v.lines())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect();
    let (prompts, per_label) = crate::zero_shot::prompts(&labels, &templates)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if prompts.len() > MAX_PROMPTS {
        return Err(ApiError::bad_request(format!(
            "{} labels × templates: at most {MAX_PROMPTS}",
            prompts.len()
        )));
    }
    let picture = picture_embedding(&state, upload.bytes).await?;
    let prompt_embeddings = state
        .worker
        .ask(|reply| Job::Texts {
            texts: prompts,
            reply,
        })
        .await?;
    let probabilities = crate::zero_shot::label_probabilities(
        &picture,
        &prompt_embeddings,
        per_label,
        state.model.logit_multiplier,
    );
    let mut ranked: Vec<Value> = labels
        .iter()
        .zip(probabilities)
        .map(|(label, p)| json!({"label": label, "probability": p}))
        .collect();
    ranked.sort_by(|a, b| {
        let p = |v: &Value| v["probability"].as_f64().unwrap_or(0.0);
        p(b).total_cmp(&p(a))
    });
    Ok(Json(json!({"labels": ranked})))
}

async fn caption(
    State(state): State<AppState>,
    params: Result<Query<KParams>, QueryRejection>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let params = query_params(params)?;
    if state.model.captioner.is_none() {
        return Err(ApiError::not_found(
            "no captioner is loaded: start the server with --captioner DIR",
        ));
    }
    let upload = read_upload(request, state.limits.body_bytes).await?;
    let lang = params
        .lang
        .or_else(|| upload.values("lang").first().cloned())
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .ok_or_else(|| ApiError::bad_request("give the caption's language: lang=pt (or pt_XX)"))?;
    let picture = decode_off_thread(&state, upload.bytes).await?;
    let text = state
        .worker
        .ask(|reply| Job::Caption {
            picture,
            lang: lang.clone(),
            reply,
        })
        .await?;
    Ok(Json(json!({"caption": text, "lang": lang})))
}

/// `/image/{id}`: an indexed picture by its number only; nothing of the request names a file.
async fn picture(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let store = state.searcher.store();
    let Some(item) = id.parse::<usize>().ok().and_then(|id| store.item(id)) else {
        return ApiError::not_found(format!("no picture with id {id:?}")).into_response();
    };
    let source = crate::index_pictures::picture_source(&item.picture, store.dir());
    let bytes = match tokio::task::spawn_blocking(move || source.read()).await {
        Ok(Ok(bytes)) => bytes.to_vec(),
        Ok(Err(e)) => {
            return ApiError::not_found(format!("picture {id} cannot be read: {e}"))
                .into_response();
        }
        Err(e) => return ApiError::internal(e.to_string()).into_response(),
    };
    let content_type = match image::guess_format(&bytes) {
        Ok(image::ImageFormat::Png) => "image/png",
        Ok(image::ImageFormat::Jpeg) => "image/jpeg",
        Ok(image::ImageFormat::WebP) => "image/webp",
        Ok(image::ImageFormat::Gif) => "image/gif",
        _ => "application/octet-stream",
    };
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

async fn runs_list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let root = state
        .runs
        .clone()
        .ok_or_else(|| ApiError::not_found("no runs folder: start with --runs DIR"))?;
    let list = tokio::task::spawn_blocking(move || runs::list(&root))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(Json(list))
}

async fn run_detail(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let root = state
        .runs
        .clone()
        .ok_or_else(|| ApiError::not_found("no runs folder: start with --runs DIR"))?;
    let detail = tokio::task::spawn_blocking(move || runs::detail(&root, &name))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(Json(detail))
}
