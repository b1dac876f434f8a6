//! Resizing computed exactly as Pillow does it (`Image.resize(..., BICUBIC | BILINEAR)`, Pillow's Resample.c),
//! which is what transformers' `CLIPImageProcessor` and open_clip's torchvision transforms call: a separable
//! filter (Keys cubic with a = −0.5, or the triangle) widened by the scale when shrinking, normalised per output
//! pixel, applied in two passes in 22-bit fixed point with an 8-bit intermediate image, to every channel of an
//! interleaved 8-bit image (RGB, or premultiplied RGBA). The passes run horizontally then
//! vertically, except — as in Pillow 13 — when the height shrinks by more than twice as many pixels as the
//! width does, which runs the vertical pass first (the order changes the rounding of the intermediate image).

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

/// Per output pixel: the first input index, the number of taps, and fixed-point weights.
struct Coefficients {
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
    taps: usize,
}

fn coefficients(filter: Filter, in_size: usize, out_size: usize) -> Coefficients {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = filter.support() * filter_scale;
    let taps = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0_i32; out_size * taps];
    for out in 0..out_size {
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
            weights[out * taps + x] = if w < 0.0 {
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
fn vertical_first(in_w: u32, in_h: u32, out_w: u32, out_h: u32) -> bool {
    let (dx, dy) = (in_w as i64 - out_w as i64, in_h as i64 - out_h as i64);
    in_w != out_w && in_h != out_h && out_h < in_h && 2 * dx < dy
}

/// The horizontal pass over rows `rows` of a `width`-pixel-wide buffer of `channels` interleaved channels, to
/// `out_w` pixels.
fn horizontal(
    source: &[u8],
    channels: usize,
    width: usize,
    rows: std::ops::Range<usize>,
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
                    .map(|(i, &w)| row[(min + i) * channels + channel] as i64 * w as i64)
                    .sum();
                out[(y * out_w + x) * channels + channel] = clip8(half + sum);
            }
        }
    }
    out
}

/// The vertical pass of a `width`-pixel-wide buffer of `channels` channels whose first row is source row
/// `first_row`, with the coefficients of a `in_h` → `out_h` resize.
fn vertical(
    source: &[u8],
    channels: usize,
    width: usize,
    first_row: usize,
    vertical: &Coefficients,
) -> Vec<u8> {
    let half = 1_i64 << (PRECISION_BITS - 1);
    let out_h = vertical.bounds.len();
    let mut out = vec![0_u8; out_h * width * channels];
    for y in 0..out_h {
        let (min, count) = vertical.bounds[y];
        let weights = &vertical.weights[y * vertical.taps..y * vertical.taps + count];
        for x in 0..width {
            for channel in 0..channels {
                let sum: i64 = weights
                    .iter()
                    .enumerate()
                    .map(|(i, &w)| {
                        source[((min - first_row + i) * width + x) * channels + channel] as i64
                            * w as i64
                    })
                    .sum();
                out[(y * width + x) * channels + channel] = clip8(half + sum);
            }
        }
    }
    out
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
    let (in_w, in_h) = (size.0 as usize, size.1 as usize);
    let (out_w, out_h) = (out.0 as usize, out.1 as usize);
    if vertical_first(size.0, size.1, out.0, out.1) {
        let tall = vertical(
            source,
            channels,
            in_w,
            0,
            &coefficients(filter, in_h, out_h),
        );
        horizontal(
            &tall,
            channels,
            in_w,
            0..out_h,
            &coefficients(filter, in_w, out_w),
        )
    } else {
        // Horizontal pass over the rows the vertical pass reads.
        let rows = coefficients(filter, in_h, out_h);
        let first_row = rows.bounds.first().map_or(0, |b| b.0);
        let last_row = rows.bounds.last().map_or(0, |b| b.0 + b.1);
        let wide = if in_w == out_w {
            source[first_row * in_w * channels..last_row * in_w * channels].to_vec()
        } else {
            horizontal(
                source,
                channels,
                in_w,
                first_row..last_row,
                &coefficients(filter, in_w, out_w),
            )
        };
        if in_h == out_h {
            wide
        } else {
            vertical(&wide, channels, out_w, first_row, &rows)
        }
    }
}
