//! Resizing computed exactly as Pillow does it (`Image.resize(..., BICUBIC | BILINEAR)`, Pillow's Resample.c),
//! which is what transformers' `CLIPImageProcessor` and open_clip's torchvision transforms call: a separable
//! filter (Keys cubic with a = −0.5, or the triangle) widened by the scale when shrinking, normalised per output
//! pixel, applied in two passes in 22-bit fixed point with an 8-bit intermediate image, to every channel of an
//! interleaved 8-bit image (RGB, or premultiplied RGBA). The passes run horizontally then
//! vertically, except — as in Pillow 13 — when the height shrinks by more than twice as many pixels as the
//! width does, which runs the vertical pass first (the order changes the rounding of the intermediate image).

use std::ops::Range;

use image::RgbImage;

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Pillow's resampling filters that CLIP pipelines use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Filter {
    #[default]
    Bicubic,
    Bilinear,
}

impl Filter {
    fn support(self) -> f64 {
        match self {
            Self::Bicubic => 2.0,
            Self::Bilinear => 1.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        match self {
            Self::Bicubic => bicubic(x),
            Self::Bilinear => {
                let x = x.abs();
                if x < 1.0 { 1.0 - x } else { 0.0 }
            }
        }
    }
}

fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Per output pixel of a window: the first input index, the number of taps, and fixed-point weights.
struct Coefficients {
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
    taps: usize,
}

/// The coefficients of the output pixels `window` of an `in_size` → `out_size` resize: each output pixel's are
/// those of the whole resize (they depend on its index alone).
fn coefficients(
    filter: Filter,
    in_size: usize,
    out_size: usize,
    window: Range<usize>,
) -> Coefficients {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = filter.support() * filter_scale;
    let taps = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(window.len());
    let mut weights = vec![0_i32; window.len() * taps];
    for (slot, out) in window.enumerate() {
        let center = (out as f64 + 0.5) * scale;
        let min = ((center - support + 0.5) as i64).max(0) as usize;
        let max = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let count = max.saturating_sub(min);
        let raw: Vec<f64> = (0..count)
            .map(|x| filter.weight((x as f64 + min as f64 - center + 0.5) / filter_scale))
            .collect();
        let total: f64 = raw.iter().sum();
        for (x, &w) in raw.iter().enumerate() {
            let w = if total != 0.0 { w / total } else { w };
            let fixed = w * (1_u64 << PRECISION_BITS) as f64;
            weights[slot * taps + x] = if w < 0.0 {
                (fixed - 0.5) as i32
            } else {
                (fixed + 0.5) as i32
            };
        }
        bounds.push((min, count));
    }
    Coefficients {
        bounds,
        weights,
        taps,
    }
}

fn clip8(value: i64) -> u8 {
    (value >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Whether Pillow 13 runs the vertical pass first: both passes needed, and the height shrinks by more than
/// twice the number of pixels the width loses.
fn vertical_first(in_w: usize, in_h: usize, out_w: usize, out_h: usize) -> bool {
    let (dx, dy) = (in_w as i128 - out_w as i128, in_h as i128 - out_h as i128);
    in_w != out_w && in_h != out_h && out_h < in_h && 2 * dx < dy
}

/// The horizontal pass over rows `rows` of a `width`-pixel-wide buffer of `channels` interleaved channels whose
/// first column is source column `first_column`, to the output columns `coefficients` holds.
fn horizontal(
    source: &[u8],
    channels: usize,
    width: usize,
    first_column: usize,
    rows: Range<usize>,
    coefficients: &Coefficients,
) -> Vec<u8> {
    let out_w = coefficients.bounds.len();
    let half = 1_i64 << (PRECISION_BITS - 1);
    let mut out = vec![0_u8; rows.len() * out_w * channels];
    for (y, source_y) in rows.enumerate() {
        let row = &source[source_y * width * channels..(source_y + 1) * width * channels];
        for x in 0..out_w {
            let (min, count) = coefficients.bounds[x];
            let taps = coefficients.taps;
            let weights = &coefficients.weights[x * taps..x * taps + count];
            for channel in 0..channels {
                let sum: i64 = weights
                    .iter()
                    .enumerate()
                    .map(|(i, &w)| {
                        row[(min - first_column + i) * channels + channel] as i64 * w as i64
                    })
                    .sum();
                out[(y * out_w + x) * channels + channel] = clip8(half + sum);
            }
        }
    }
    out
}

/// The vertical pass over columns `columns` of a `width`-pixel-wide buffer of `channels` channels whose first
/// row is source row `first_row`, to the output rows `vertical` holds.
fn vertical(
    source: &[u8],
    channels: usize,
    width: usize,
    first_row: usize,
    columns: Range<usize>,
    vertical: &Coefficients,
) -> Vec<u8> {
    let half = 1_i64 << (PRECISION_BITS - 1);
    let out_h = vertical.bounds.len();
    let out_w = columns.len();
    let mut out = vec![0_u8; out_h * out_w * channels];
    for y in 0..out_h {
        let (min, count) = vertical.bounds[y];
        let weights = &vertical.weights[y * vertical.taps..y * vertical.taps + count];
        for (out_x, x) in columns.clone().enumerate() {
            for channel in 0..channels {
                let sum: i64 = weights
                    .iter()
                    .enumerate()
                    .map(|(i, &w)| {
                        source[((min - first_row + i) * width + x) * channels + channel] as i64
                            * w as i64
                    })
                    .sum();
                out[(y * out_w + out_x) * channels + channel] = clip8(half + sum);
            }
        }
    }
    out
}

/// The source indices the output pixels of `coefficients` read: from the first one's first to the last one's
/// end.
fn span(coefficients: &Coefficients) -> Range<usize> {
    let first = coefficients.bounds.iter().map(|b| b.0).min().unwrap_or(0);
    let end = coefficients
        .bounds
        .iter()
        .map(|b| b.0 + b.1)
        .max()
        .unwrap_or(first);
    first..end.max(first)
}

/// Resizes an RGB image to `width`×`height` with Pillow's bicubic filter.
pub fn resize_bicubic(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    let pixels = resize_interleaved(
        image.as_raw(),
        3,
        (image.width(), image.height()),
        Filter::Bicubic,
        (width, height),
    );
    RgbImage::from_raw(width, height, pixels).unwrap_or_else(|| RgbImage::new(width, height))
}

/// Resizes an interleaved 8-bit buffer of `channels` channels and `size` (width, height) to `out` with Pillow's
/// `filter`, exactly as Pillow's `ImagingResample`.
pub fn resize_interleaved(
    source: &[u8],
    channels: usize,
    size: (u32, u32),
    filter: Filter,
    out: (u32, u32),
) -> Vec<u8> {
    let (out_w, out_h) = (out.0 as usize, out.1 as usize);
    resize_window(
        source,
        channels,
        size,
        filter,
        (out_w, out_h),
        (0..out_w, 0..out_h),
    )
}

/// The pixels `window` (columns, rows) of the `out`-sized resize of [`resize_interleaved`], each one exactly as
/// the whole resize computes it, without computing the rest: a centre crop of a resize of a very wide or tall
/// picture costs the crop, not the resize (a 100 000 × 1 picture resized to a shortest side of 224 would be
/// 22 400 000 × 224 pixels, 15 GB). `window` must lie inside `out`.
pub fn resize_window(
    source: &[u8],
    channels: usize,
    size: (u32, u32),
    filter: Filter,
    out: (usize, usize),
    window: (Range<usize>, Range<usize>),
) -> Vec<u8> {
    let (in_w, in_h) = (size.0 as usize, size.1 as usize);
    let (out_w, out_h) = out;
    let (columns, rows) = window;
    if vertical_first(in_w, in_h, out_w, out_h) {
        // Vertical pass over the columns the horizontal pass reads.
        let across = coefficients(filter, in_w, out_w, columns);
        let read = span(&across);
        let tall = vertical(
            source,
            channels,
            in_w,
            0,
            read.clone(),
            &coefficients(filter, in_h, out_h, rows.clone()),
        );
        horizontal(
            &tall,
            channels,
            read.len(),
            read.start,
            0..rows.len(),
            &across,
        )
    } else {
        // Horizontal pass over the rows the vertical pass reads (Pillow skips a pass that keeps its side).
        let down = (in_h != out_h).then(|| coefficients(filter, in_h, out_h, rows.clone()));
        let read = down.as_ref().map_or(rows, span);
        let wide = if in_w == out_w {
            crop_interleaved(source, in_w, channels, (columns.clone(), read.clone()))
        } else {
            horizontal(
                source,
                channels,
                in_w,
                0,
                read.clone(),
                &coefficients(filter, in_w, out_w, columns.clone()),
            )
        };
        match &down {
            None => wide,
            Some(down) => vertical(
                &wide,
                channels,
                columns.len(),
                read.start,
                0..columns.len(),
                down,
            ),
        }
    }
}

/// The pixels `window` (columns, rows) of an interleaved buffer `width` pixels wide with `channels` channels.
pub fn crop_interleaved(
    source: &[u8],
    width: usize,
    channels: usize,
    window: (Range<usize>, Range<usize>),
) -> Vec<u8> {
    let (columns, rows) = window;
    let mut kept = Vec::with_capacity(rows.len() * columns.len() * channels);
    for y in rows {
        let start = (y * width + columns.start) * channels;
        kept.extend_from_slice(&source[start..start + columns.len() * channels]);
    }
    kept
}
