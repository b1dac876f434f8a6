//! CLIP image preprocessing, reproducing each family's Python pipeline exactly:
//!
//! - **Hugging Face** (`CLIPImageProcessor`, the default): an image with alpha is composited onto opaque white
//!   (Pillow's `alpha_composite`), the shorter side is resized to `size` (the longer to `int(size·long/short)`)
//!   with Pillow's filter, and the center is cropped at `floor(margin / 2)`.
//! - **open_clip** (torchvision transforms on a Pillow image, `preprocess_cfg` of open_clip_config.json): the
//!   resize runs first — an RGBA image premultiplied, as Pillow resizes it, its alpha dropped afterwards — with
//!   one of three `resize_mode`s: `shortest` (torchvision `Resize` + `CenterCrop`, whose offset is
//!   `round(margin / 2)` with Python's half-to-even rounding: one pixel further than HF's when the margin is 3 mod
//!   4), `squash` (straight to size×size) or `longest` (`ResizeKeepRatio` + `CenterCropOrPad` with `fill_color`).
//!
//! Both then scale to [0, 1] and normalise with the model's mean and standard deviation.

use std::path::Path;

use image::{DynamicImage, RgbImage, RgbaImage};
use serde::{Deserialize, Serialize};

pub use polyclip_augment::resample::Filter;
use polyclip_augment::resample::{crop_interleaved, resize_window};

/// OpenAI CLIP's normalisation (REFERENCE §2), used by HF `CLIPImageProcessor` and open_clip; the digits are the
/// published ones (f32 rounds them).
#[allow(clippy::excessive_precision)]
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// OpenAI CLIP's normalisation standard deviations.
#[allow(clippy::excessive_precision)]
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// How the picture is brought to a square (open_clip's `resize_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeMode {
    /// Shorter side to `size`, then the center square.
    #[default]
    Shortest,
    /// Straight to `size`×`size`, aspect ratio lost.
    Squash,
    /// Longer side to `size`, then padded to a square with the fill colour.
    Longest,
}

/// Which Python pipeline the geometry and alpha handling follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreprocessFamily {
    /// transformers' `CLIPImageProcessor`: alpha composited onto white first, crop offset floored.
    #[default]
    HuggingFace,
    /// open_clip's torchvision transforms: premultiplied resize, alpha dropped after, crop offset rounded half
    /// to even.
    OpenClip,
}

/// The evaluation transform of a CLIP model (polyclip writes it as `preprocess.json` beside a trained model).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipPreprocess {
    /// Output side in pixels.
    pub size: u32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub interpolation: Filter,
    pub resize_mode: ResizeMode,
    pub family: PreprocessFamily,
    /// The padding level of `ResizeMode::Longest` (open_clip's `fill_color`).
    pub fill: u8,
    /// The side the resize aims at before the centre crop (or pad) to `size`: the shorter side in `Shortest`,
    /// both sides in `Squash` (transformers' `size.shortest_edge`, or `size.height` = `size.width`, where it
    /// differs from `crop_size`). `None`: `size` itself, as open_clip always has it. `Longest` fits the picture in
    /// `size` and does not read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<u32>,
}

impl ClipPreprocess {
    /// HF `CLIPImageProcessor`'s transform at `size` pixels (OpenAI mean and std, bicubic).
    pub fn new(size: u32) -> Self {
        Self {
            size,
            mean: CLIP_MEAN,
            std: CLIP_STD,
            interpolation: Filter::Bicubic,
            resize_mode: ResizeMode::Shortest,
            family: PreprocessFamily::HuggingFace,
            fill: 0,
            resize: None,
        }
    }

    /// open_clip's default evaluation transform at `size` pixels (`PreprocessCfg()`: OpenAI mean and std,
    /// bicubic, `shortest`).
    pub fn open_clip(size: u32) -> Self {
        Self {
            family: PreprocessFamily::OpenClip,
            ..Self::new(size)
        }
    }

    /// Number of floats one image occupies (`3·size·size`).
    pub fn image_len(&self) -> usize {
        3 * (self.size as usize).pow(2)
    }

    /// The geometric part of the transform: the `size×size` picture the model sees, before normalisation.
    pub fn resize_and_crop(&self, image: &DynamicImage) -> RgbImage {
        let has_alpha = image.color().has_alpha();
        let (pixels, channels, width, height) = match (self.family, has_alpha) {
            (PreprocessFamily::HuggingFace, true) => {
                let rgb = composite_on_white(&image.to_rgba8());
                let (w, h) = rgb.dimensions();
                (rgb.into_raw(), 3, w, h)
            }
            (PreprocessFamily::OpenClip, true) => {
                let rgba = image.to_rgba8();
                let (w, h) = rgba.dimensions();
                (rgba.into_raw(), 4, w, h)
            }
            // A greyscale picture is resized as one channel and widened to RGB afterwards: Pillow's
            // `convert("RGB")` copies the level into three equal channels, which every filter then resamples
            // alike, so this is the same picture for a third of the memory.
            (_, false) if matches!(image, DynamicImage::ImageLuma8(_)) => {
                let luma = image.to_luma8();
                let (w, h) = luma.dimensions();
                (luma.into_raw(), 1, w, h)
            }
            (_, false) => {
                let rgb = image.to_rgb8();
                let (w, h) = rgb.dimensions();
                (rgb.into_raw(), 3, w, h)
            }
        };
        let square = self.square(pixels, channels, width, height);
        let rgb: Vec<u8> = match channels {
            // open_clip's `convert("RGB")` after the geometry drops alpha without compositing.
            4 => square
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect(),
            1 => square.iter().flat_map(|&level| [level; 3]).collect(),
            _ => square,
        };
        RgbImage::from_raw(self.size, self.size, rgb)
            .unwrap_or_else(|| RgbImage::new(self.size, self.size))
    }

    /// Resize, then crop or pad to `size×size`, on an interleaved buffer of `channels` channels (RGB, or RGBA
    /// as Pillow holds it: not premultiplied).
    fn square(&self, pixels: Vec<u8>, channels: usize, width: u32, height: u32) -> Vec<u8> {
        let size = self.size as usize;
        let resize = self.resize.unwrap_or(self.size) as usize;
        let (new_w, new_h): (usize, usize) = match self.resize_mode {
            ResizeMode::Shortest => {
                // In u128: a very wide or tall picture's long side, scaled, need not fit 32 bits.
                let long = |long: u32, short: u32| {
                    ((resize as u128 * long as u128) / short.max(1) as u128).max(resize as u128)
                };
                let clamp = |side: u128| usize::try_from(side).unwrap_or(usize::MAX);
                if width <= height {
                    (resize, clamp(long(height, width)))
                } else {
                    (clamp(long(width, height)), resize)
                }
            }
            ResizeMode::Squash => (resize, resize),
            ResizeMode::Longest => {
                let ratio = (height as f64 / size as f64).max(width as f64 / size as f64);
                (
                    (round_half_even(width as f64 / ratio) as usize).max(1),
                    (round_half_even(height as f64 / ratio) as usize).max(1),
                )
            }
        };
        let offset = |margin: usize| match self.family {
            PreprocessFamily::HuggingFace => margin / 2,
            PreprocessFamily::OpenClip => round_half_even(margin as f64 / 2.0) as usize,
        };
        // The part of the resized picture that is kept: the centre crop where a side is longer than `size`, the
        // whole side where it is shorter (then padded). Only that part is resampled.
        let keep = |side: usize| {
            if side > size {
                let start = offset(side - size);
                start..start + size
            } else {
                0..side
            }
        };
        let (columns, rows) = (keep(new_w), keep(new_h));
        let (kept_w, kept_h) = (columns.len(), rows.len());
        let kept = if (new_w, new_h) == (width as usize, height as usize) {
            crop_interleaved(&pixels, new_w, channels, (columns, rows))
        } else if channels == 4 {
            // Pillow resizes RGBA premultiplied: RGBA → RGBa, resample, RGBa → RGBA.
            unpremultiply(resize_window(
                &premultiply(pixels),
                4,
                (width, height),
                self.interpolation,
                (new_w, new_h),
                (columns, rows),
            ))
        } else {
            resize_window(
                &pixels,
                channels,
                (width, height),
                self.interpolation,
                (new_w, new_h),
                (columns, rows),
            )
        };
        if (kept_w, kept_h) == (size, size) {
            return kept;
        }
        // Padding where a side is shorter than `size`, the rest of it after the picture: open_clip's
        // `CenterCropOrPad` puts floor(deficit / 2) before it, transformers' `center_crop` ceil(deficit / 2).
        let before = |deficit: usize| match self.family {
            PreprocessFamily::HuggingFace => deficit.div_ceil(2),
            PreprocessFamily::OpenClip => deficit / 2,
        };
        let (left, top) = (before(size - kept_w), before(size - kept_h));
        let mut out = vec![self.fill; size * size * channels];
        for y in 0..kept_h {
            let from = y * kept_w * channels;
            let to = ((y + top) * size + left) * channels;
            out[to..to + kept_w * channels].copy_from_slice(&kept[from..from + kept_w * channels]);
        }
        out
    }

    /// Writes the normalised `[3, size, size]` (channel-major) floats of a `size×size` image into `out`.
    pub fn write_normalized(&self, image: &RgbImage, out: &mut [f32]) {
        let plane = (self.size as usize).pow(2);
        for (index, pixel) in image.pixels().enumerate() {
            for channel in 0..3 {
                let value = pixel.0[channel] as f32 / 255.0;
                out[channel * plane + index] = (value - self.mean[channel]) / self.std[channel];
            }
        }
    }

    /// The whole transform into `out` (length [`image_len`](Self::image_len)).
    pub fn apply(&self, image: &DynamicImage, out: &mut [f32]) {
        self.write_normalized(&self.resize_and_crop(image), out);
    }
}

/// Python's `round` on a non-negative float: halves to even.
fn round_half_even(x: f64) -> f64 {
    let floor = x.floor();
    let diff = x - floor;
    if diff > 0.5 || (diff == 0.5 && floor % 2.0 != 0.0) {
        floor + 1.0
    } else {
        floor
    }
}

/// Pillow's `MULDIV255`: `a·b / 255`, rounded.
fn mul_div_255(a: u32, b: u32) -> u32 {
    let tmp = a * b + 128;
    ((tmp >> 8) + tmp) >> 8
}

/// RGBA → RGBa (Pillow's `rgbA2rgba`).
fn premultiply(mut rgba: Vec<u8>) -> Vec<u8> {
    for pixel in rgba.chunks_exact_mut(4) {
        let alpha = u32::from(pixel[3]);
        for channel in &mut pixel[..3] {
            *channel = mul_div_255(u32::from(*channel), alpha) as u8;
        }
    }
    rgba
}

/// RGBa → RGBA (Pillow's `rgba2rgbA`).
fn unpremultiply(mut rgba: Vec<u8>) -> Vec<u8> {
    for pixel in rgba.chunks_exact_mut(4) {
        let alpha = u32::from(pixel[3]);
        if alpha != 0 && alpha != 255 {
            for channel in &mut pixel[..3] {
                *channel = ((255 * u32::from(*channel)) / alpha).min(255) as u8;
            }
        }
    }
    rgba
}

/// Pillow's `alpha_composite` of the image over opaque white, then RGB (what transformers' `convert_to_rgb`
/// does with an image that has alpha).
fn composite_on_white(rgba: &RgbaImage) -> RgbImage {
    const PRECISION_BITS: u32 = 7;
    let shift_div_255 = |a: u32| ((a >> 8) + a) >> 8;
    let (width, height) = rgba.dimensions();
    let mut out = RgbImage::new(width, height);
    for (source, target) in rgba.pixels().zip(out.pixels_mut()) {
        let alpha = u32::from(source.0[3]);
        if alpha == 0 {
            target.0 = [255, 255, 255];
            continue;
        }
        let blend = 255 * (255 - alpha);
        let out_alpha_255 = alpha * 255 + blend;
        let coef1 = alpha * 255 * 255 * (1 << PRECISION_BITS) / out_alpha_255;
        let coef2 = 255 * (1 << PRECISION_BITS) - coef1;
        for channel in 0..3 {
            let tmp = u32::from(source.0[channel]) * coef1 + 255 * coef2;
            target.0[channel] =
                (shift_div_255(tmp + (0x80 << PRECISION_BITS)) >> PRECISION_BITS) as u8;
        }
    }
    out
}

/// The most pixels an image may have by default: Pillow's `MAX_IMAGE_PIXELS` (beyond it Pillow warns of a
/// decompression bomb). Checked from the header, before anything is decoded; at this size the largest decode
/// (RGBA) holds 358 MB.
pub const MAX_IMAGE_PIXELS: u64 = 89_478_485;

/// The environment variable that sets another pixel budget (a number of pixels).
pub const MAX_IMAGE_PIXELS_VAR: &str = "POLYCLIP_MAX_IMAGE_PIXELS";

/// The pixel budget in force: [`MAX_IMAGE_PIXELS_VAR`] when it holds a number, else [`MAX_IMAGE_PIXELS`]
/// (a value that is not a number is said once, on stderr).
pub fn max_image_pixels() -> u64 {
    static BUDGET: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(|| match std::env::var(MAX_IMAGE_PIXELS_VAR) {
        Err(_) => MAX_IMAGE_PIXELS,
        Ok(value) => value.trim().parse().unwrap_or_else(|_| {
            eprintln!(
                "polyclip: {MAX_IMAGE_PIXELS_VAR}={value:?} is not a number of pixels; using {MAX_IMAGE_PIXELS}"
            );
            MAX_IMAGE_PIXELS
        }),
    })
}

/// The file extensions of the formats [`decode_image`] reads (JPEG, PNG, WebP, GIF: an animation's first frame),
/// in order of preference where a sample holds several (webdataset members); compared without case.
pub const IMAGE_EXTENSIONS: [&str; 5] = ["jpg", "jpeg", "png", "webp", "gif"];

/// The formats [`decode_image`] reads, as messages name them.
pub const IMAGE_FORMATS: &str = "JPEG, PNG, WebP or GIF";

/// Whether `extension` names one of [`IMAGE_EXTENSIONS`], in any case.
pub fn is_image_extension(extension: &str) -> bool {
    IMAGE_EXTENSIONS
        .iter()
        .any(|known| known.eq_ignore_ascii_case(extension))
}

/// Decodes an image file, guessing the format from its content (see [`decode_image_bytes`]).
pub fn decode_image(path: &Path) -> Result<DynamicImage, image::ImageError> {
    decode_image_bytes(&std::fs::read(path)?)
}

/// Decodes an encoded image, strictly: the format is guessed from the content, the size is checked against
/// [`max_image_pixels`] from the header first, and a JPEG without its end-of-image marker after the scan (a file
/// cut short, which the decoder would return half grey) is an error, as a truncated PNG already is.
pub fn decode_image_bytes(bytes: &[u8]) -> Result<DynamicImage, image::ImageError> {
    decode_image_bytes_within(
        bytes,
        max_image_pixels(),
        &format!("{MAX_IMAGE_PIXELS_VAR}; Pillow's MAX_IMAGE_PIXELS by default"),
    )
}

/// [`decode_image_bytes`] with a pixel budget of the caller's (a server's `--max-image-pixels`), named in the error
/// by `budget_name`.
pub fn decode_image_bytes_within(
    bytes: &[u8],
    budget: u64,
    budget_name: &str,
) -> Result<DynamicImage, image::ImageError> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format()?;
    // The pixel budget below is the guard; the reader's own allocation cap (512 MiB) would otherwise refuse
    // pictures within a raised budget, or a 16-bit one within the default, as corrupt.
    reader.no_limits();
    let format = reader.format();
    // The header is parsed once: the decoder gives the size, then decodes.
    let decoder = reader.into_decoder()?;
    let (width, height) = image::ImageDecoder::dimensions(&decoder);
    let pixels = u64::from(width) * u64::from(height);
    let decoding_error = |reason: String| {
        image::ImageError::Decoding(image::error::DecodingError::new(
            format.map_or(image::error::ImageFormatHint::Unknown, Into::into),
            reason,
        ))
    };
    if pixels > budget {
        return Err(decoding_error(format!(
            "{width}×{height} = {pixels} pixels, more than the {budget} allowed ({budget_name})"
        )));
    }
    if format == Some(image::ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        return Err(decoding_error(
            "the JPEG is truncated (no end-of-image marker after its scan)".into(),
        ));
    }
    DynamicImage::from_decoder(decoder)
}

/// Whether a JPEG's segments lead, through at least one scan, to its end-of-image marker (FF D9), as Pillow's
/// "image file is truncated" asks. The walk skips every marker segment by its length, so a thumbnail inside an
/// APPn segment (a camera's EXIF block holds a whole small JPEG, scan and end marker included) is not taken for
/// the picture's own end. As libjpeg does, it passes over stray bytes between segments ("extraneous bytes before
/// marker") and fill bytes (FF FF…) before any marker. Inside a scan's entropy-coded data an FF byte is followed by
/// 00 (stuffing) or, after fill bytes, a restart marker (D0–D7); any other code after FF is the next marker.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    // The code after the FF at `at` and any fill bytes, and the index just past it.
    let marker_after = |at: usize| {
        let mut next = at + 1;
        while bytes.get(next) == Some(&0xFF) {
            next += 1;
        }
        bytes.get(next).map(|&code| (code, next + 1))
    };
    let mut at = 2;
    let mut scanned = false;
    loop {
        while bytes.get(at).is_some_and(|&byte| byte != 0xFF) {
            at += 1;
        }
        let Some((code, after)) = marker_after(at) else {
            return false;
        };
        at = after;
        match code {
            0xD9 => return scanned,
            0x00 | 0x01 | 0xD0..=0xD7 => {}
            _ => {
                let Some(&[high, low]) = bytes.get(at..at + 2) else {
                    return false;
                };
                at += usize::from(high) << 8 | usize::from(low);
                if code == 0xDA {
                    scanned = true;
                    loop {
                        match bytes.get(at) {
                            None => return false,
                            Some(0xFF) => match marker_after(at) {
                                None => return false,
                                Some((0x00 | 0xD0..=0xD7, after)) => at = after,
                                Some(_) => break,
                            },
                            Some(_) => at += 1,
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resizing the grey level alone gives the picture resizing its RGB copy gives, for every family, filter
    /// and mode, on a size with both margin parities.
    #[test]
    fn a_greyscale_picture_is_preprocessed_as_its_rgb_copy() {
        let grey =
            image::GrayImage::from_fn(67, 45, |x, y| image::Luma([((x * 7 + y * 13) % 256) as u8]));
        let as_rgb = DynamicImage::ImageRgb8(DynamicImage::ImageLuma8(grey.clone()).to_rgb8());
        let grey = DynamicImage::ImageLuma8(grey);
        for family in [PreprocessFamily::HuggingFace, PreprocessFamily::OpenClip] {
            for interpolation in [Filter::Bicubic, Filter::Bilinear] {
                for resize_mode in [
                    ResizeMode::Shortest,
                    ResizeMode::Squash,
                    ResizeMode::Longest,
                ] {
                    let preprocess = ClipPreprocess {
                        family,
                        interpolation,
                        resize_mode,
                        ..ClipPreprocess::new(24)
                    };
                    assert_eq!(
                        preprocess.resize_and_crop(&grey),
                        preprocess.resize_and_crop(&as_rgb),
                        "{family:?} {interpolation:?} {resize_mode:?}"
                    );
                }
            }
        }
    }

    /// A picture far wider than tall is resampled only where the centre crop keeps it: a 1 000 000 × 1 picture
    /// would be 224 000 000 × 224 pixels (150 GB) resized whole. A flat colour stays that colour.
    #[test]
    fn a_very_wide_picture_is_cropped_without_resizing_it_whole() {
        let wide = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            1_000_000,
            1,
            image::Rgb([10, 200, 30]),
        ));
        let tall = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
            1,
            1_000_000,
            image::Rgba([10, 200, 30, 255]),
        ));
        for preprocess in [ClipPreprocess::new(224), ClipPreprocess::open_clip(224)] {
            for picture in [&wide, &tall] {
                let out = preprocess.resize_and_crop(picture);
                assert_eq!(out.dimensions(), (224, 224));
                assert!(
                    out.pixels().all(|p| p.0 == [10, 200, 30]),
                    "{:?}",
                    preprocess.family
                );
            }
        }
    }

    /// The centre crop of a wide picture is the crop of its whole resize, for both families' crop offsets.
    #[test]
    fn a_wide_picture_is_the_crop_of_its_whole_resize() {
        let (width, height, size) = (3001_u32, 3_u32, 32_u32);
        let picture = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([
                (x % 251) as u8,
                ((x * 7 + y * 50) % 256) as u8,
                ((x / 13) % 256) as u8,
            ])
        });
        let new_w = (size * width / height) as usize;
        let whole = polyclip_augment::resample::resize_interleaved(
            picture.as_raw(),
            3,
            (width, height),
            Filter::Bicubic,
            (new_w as u32, size),
        );
        for (preprocess, left) in [
            // HF floors half the margin; open_clip rounds it half to even (32 000 − 32 = 31 968: 15 984 both).
            (ClipPreprocess::new(size), (new_w - 32) / 2),
            (
                ClipPreprocess::open_clip(size),
                round_half_even((new_w - 32) as f64 / 2.0) as usize,
            ),
        ] {
            let expected: Vec<u8> = (0..size as usize)
                .flat_map(|y| {
                    let start = (y * new_w + left) * 3;
                    whole[start..start + 32 * 3].to_vec()
                })
                .collect();
            let out = preprocess.resize_and_crop(&DynamicImage::ImageRgb8(picture.clone()));
            assert_eq!(out.into_raw(), expected, "{:?}", preprocess.family);
        }
    }

    /// A JPEG whose EXIF block holds a thumbnail (a whole small JPEG, with its own scan and end marker) and whose
    /// own scan is cut short is truncated; whole, it is complete.
    #[test]
    fn a_cut_photo_with_an_exif_thumbnail_is_truncated() {
        let encode = |side: u32| {
            let picture = image::RgbImage::from_fn(side, side, |x, y| {
                image::Rgb([
                    (x * 9 % 256) as u8,
                    (y * 5 % 256) as u8,
                    ((x ^ y) % 256) as u8,
                ])
            });
            let mut bytes = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
                .encode_image(&picture)
                .expect("encode");
            bytes
        };
        let thumbnail = encode(8);
        let main = encode(64);
        let mut exif = b"Exif\0\0".to_vec();
        exif.extend_from_slice(&thumbnail);
        let length = u16::try_from(exif.len() + 2).expect("fits");
        let mut photo = main[..2].to_vec(); // SOI
        photo.extend_from_slice(&[0xFF, 0xE1]);
        photo.extend_from_slice(&length.to_be_bytes());
        photo.extend_from_slice(&exif);
        photo.extend_from_slice(&main[2..]);
        assert!(jpeg_is_complete(&main));
        assert!(jpeg_is_complete(&photo));
        let cut = &photo[..photo.len() - main.len() / 3];
        assert!(!jpeg_is_complete(cut));
        assert!(!jpeg_is_complete(&photo[..photo.len() - 2]));
        assert!(!jpeg_is_complete(&thumbnail[..thumbnail.len() - 1]));
    }

    /// What libjpeg passes over is not truncation: stray bytes after a segment whose length is short (a comment
    /// of length 4 followed by two zero bytes), fill bytes before a marker, fill bytes before a restart marker
    /// inside a scan. Without the end marker, each is truncated.
    #[test]
    fn stray_and_fill_bytes_are_not_truncation() {
        let scan = [0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00];
        let cases: [&[&[u8]]; 3] = [
            &[
                &[0xFF, 0xFE, 0x00, 0x04, b'a', b'b', 0x00, 0x00],
                &scan,
                &[0x12, 0x34],
            ],
            &[
                &[0xFF, 0xFF, 0xFE, 0x00, 0x03, b'a'],
                &scan,
                &[0x12, 0xFF, 0x00, 0x34],
            ],
            &[&scan, &[0x12, 0xFF, 0xFF, 0xD0, 0x34, 0xFF, 0xD1, 0x56]],
        ];
        for (case, parts) in cases.iter().enumerate() {
            let mut jpeg = vec![0xFF, 0xD8];
            parts.iter().for_each(|part| jpeg.extend_from_slice(part));
            assert!(!jpeg_is_complete(&jpeg), "case {case} without its end");
            jpeg.extend_from_slice(&[0xFF, 0xFF, 0xD9]);
            assert!(jpeg_is_complete(&jpeg), "case {case}");
        }
    }

    #[test]
    fn python_rounds_halves_to_even() {
        let rounded: Vec<f64> = [0.5, 1.5, 2.5, 3.5, 39.5, 83.5, 2.4, 2.6]
            .into_iter()
            .map(round_half_even)
            .collect();
        assert_eq!(rounded, [0.0, 2.0, 2.0, 4.0, 40.0, 84.0, 2.0, 3.0]);
    }
}
