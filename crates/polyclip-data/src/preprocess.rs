//! CLIP image preprocessing: bicubic resize of the shorter side, center crop, scale to [0,1], normalise.

use std::path::Path;

use image::imageops;

use crate::resample::resize_bicubic;
use image::{DynamicImage, RgbImage};

/// OpenAI CLIP's normalisation (REFERENCE §2), used by HF `CLIPImageProcessor` and open_clip; the digits are the
/// published ones (f32 rounds them).
#[allow(clippy::excessive_precision)]
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// OpenAI CLIP's normalisation standard deviations.
#[allow(clippy::excessive_precision)]
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// The evaluation transform of CLIP models.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipPreprocess {
    /// Output side in pixels (shorter side after resize, and the square crop).
    pub size: u32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl ClipPreprocess {
    /// CLIP's transform at `size` pixels.
    pub fn new(size: u32) -> Self {
        Self {
            size,
            mean: CLIP_MEAN,
            std: CLIP_STD,
        }
    }

    /// Number of floats one image occupies (`3·size·size`).
    pub fn image_len(&self) -> usize {
        3 * (self.size as usize).pow(2)
    }

    /// Resizes the shorter side to `size` (Pillow's bicubic) and crops the center square, as HF
    /// `CLIPImageProcessor`.
    pub fn resize_and_crop(&self, image: &DynamicImage) -> RgbImage {
        let rgb = image.to_rgb8();
        let (width, height) = rgb.dimensions();
        let size = self.size;
        let (new_w, new_h) = if width <= height {
            (
                size,
                ((size as u64 * height as u64) / width.max(1) as u64).max(size as u64) as u32,
            )
        } else {
            (
                ((size as u64 * width as u64) / height.max(1) as u64).max(size as u64) as u32,
                size,
            )
        };
        let resized = if (new_w, new_h) == (width, height) {
            rgb
        } else {
            resize_bicubic(&rgb, new_w, new_h)
        };
        let left = (new_w - size) / 2;
        let top = (new_h - size) / 2;
        imageops::crop_imm(&resized, left, top, size, size).to_image()
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

/// Decodes an image file, guessing the format from its content.
pub fn decode_image(path: &Path) -> Result<DynamicImage, image::ImageError> {
    image::ImageReader::open(path)?
        .with_guessed_format()?
        .decode()
}
