//! The web pages, compiled into the binary (no CDN, no build step).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

pub const INDEX_HTML: &str = include_str!("assets/index.html");
pub const RUNS_HTML: &str = include_str!("assets/runs.html");
pub const APP_JS: &str = include_str!("assets/app.js");
pub const RUNS_JS: &str = include_str!("assets/runs.js");
pub const STYLE_CSS: &str = include_str!("assets/style.css");

pub fn script(source: &'static str) -> Response {
    let mut response = source.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    response
}

pub fn style() -> Response {
    let mut response = STYLE_CSS.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    response
}
