//! A request that carries a picture: a multipart form (the picture in a file field, other fields as text) or
//! the raw image bytes as the body. The picture's declared size is read from its header and refused above the
//! pixel limit before anything is decoded (decompression bombs).

use std::collections::HashMap;

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};
use image::DynamicImage;

use crate::serve::api_error::ApiError;

/// The picture and the form's text fields (each name with every value given, in order).
pub struct Upload {
    pub bytes: Vec<u8>,
    pub fields: HashMap<String, Vec<String>>,
}

impl Upload {
    /// The values of a text field (none when absent).
    pub fn values(&self, name: &str) -> &[String] {
        self.fields.get(name).map_or(&[], Vec::as_slice)
    }
}

/// Reads the request's body; the picture is the form field named `image` (or the first file field).
pub async fn read_upload(request: Request, body_limit: usize) -> Result<Upload, ApiError> {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        let bytes = axum::body::to_bytes(request.into_body(), body_limit)
            .await
            .map_err(|e| too_large_or(e.to_string()))?;
        if bytes.is_empty() {
            return Err(ApiError::bad_request(
                "no picture: send the image bytes as the body or a multipart form with an `image` field",
            ));
        }
        return Ok(Upload {
            bytes: bytes.to_vec(),
            fields: HashMap::new(),
        });
    }
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|e| ApiError::bad_request(format!("not a multipart form: {}", e.body_text())))?;
    let mut picture = None;
    let mut fields: HashMap<String, Vec<String>> = HashMap::new();
    loop {
        let field = form.next_field().await.map_err(|e| {
            ApiError::new(
                e.status(),
                format!("the form cannot be read: {}", e.body_text()),
            )
        })?;
        let Some(field) = field else { break };
        let name = field.name().unwrap_or_default().to_owned();
        let is_file = field.file_name().is_some();
        let bytes = field.bytes().await.map_err(|e| {
            ApiError::new(
                e.status(),
                format!("the form field {name:?} cannot be read: {}", e.body_text()),
            )
        })?;
        if name == "image" || (is_file && picture.is_none()) {
            picture = Some(bytes.to_vec());
        } else {
            let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
                ApiError::bad_request(format!("form field {name:?} is not UTF-8 text"))
            })?;
            fields.entry(name).or_default().push(text);
        }
    }
    let bytes = picture
        .filter(|b| !b.is_empty())
        .ok_or_else(|| ApiError::bad_request("the form has no picture (an `image` file field)"))?;
    Ok(Upload { bytes, fields })
}

fn too_large_or(reason: String) -> ApiError {
    if reason.contains("length limit") {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is over the size limit",
        )
    } else {
        ApiError::bad_request(format!("the body cannot be read: {reason}"))
    }
}

/// Decodes a picture whose declared width × height is at most `max_pixels`; else a 400 saying which limit.
pub fn decode_picture(bytes: &[u8], max_pixels: u64) -> Result<DynamicImage, ApiError> {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ApiError::bad_request(format!("the picture cannot be read: {e}")))?;
    if !reader
        .format()
        .is_some_and(|format| format.reading_enabled())
    {
        return Err(ApiError::bad_request(format!(
            "the picture is not an image polyclip reads ({})",
            polyclip_data::preprocess::IMAGE_FORMATS
        )));
    }
    let (width, height) = reader
        .into_dimensions()
        .map_err(|e| ApiError::bad_request(format!("the picture's header is corrupt: {e}")))?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(ApiError::bad_request(format!(
            "the picture declares {width}×{height} = {pixels} pixels, over the limit of {max_pixels} (--max-image-pixels)"
        )));
    }
    // The server's limit replaces the default budget (Pillow's), above it as well as below.
    polyclip_data::preprocess::decode_image_bytes_within(bytes, max_pixels, "--max-image-pixels")
        .map_err(|e| ApiError::bad_request(format!("the picture is corrupt: {e}")))
}
