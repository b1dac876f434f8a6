//! torchvision's *tensor* implementations (`_functional_tensor.py`) of the ops AugMix applies: AugMix turns a
//! PIL image into a `uint8` tensor before augmenting it, so its colour ops blend in `float32` and truncate,
//! and its geometric ops sample bilinearly through `grid_sample` (zeros padding, `align_corners=False`) and
//! round — unlike the Pillow functions of [`super::functional`]. `equalize`, `posterize` and `solarize` are
//! the same in both and live there.

use image::RgbImage;

/// `rgb_to_grayscale` of a `uint8` tensor: `(0.2989·r + 0.587·g + 0.114·b)` in `float32`, truncated.
pub fn grayscale(image: &RgbImage) -> Vec<u8> {
    image
        .pixels()
        .map(|p| {
            let [r, g, b] = p.0.map(f32::from);
            (0.2989_f32 * r + 0.587_f32 * g + 0.114_f32 * b) as u8
        })
        .collect()
}

/// `_blend(image, other, ratio)`: `ratio·image + (1 − ratio)·other` in `float32`, clamped to [0, 255] and
/// truncated; `other` gives the value for a pixel index and channel.
fn blend_with(image: &RgbImage, ratio: f64, other: impl Fn(usize, usize) -> f32) -> RgbImage {
    let (r, rest) = (ratio as f32, (1.0 - ratio) as f32);
    let mut out = image.clone();
    for (index, pixel) in out.pixels_mut().enumerate() {
        for (channel, value) in pixel.0.iter_mut().enumerate() {
            let mixed = r * *value as f32 + rest * other(index, channel);
            *value = mixed.clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Tensor `adjust_brightness`: blends with zeros.
pub fn adjust_brightness(image: &RgbImage, factor: f64) -> RgbImage {
    blend_with(image, factor, |_, _| 0.0)
}

/// Tensor `adjust_saturation`: blends with [`grayscale`].
pub fn adjust_saturation(image: &RgbImage, factor: f64) -> RgbImage {
    let grey = grayscale(image);
    blend_with(image, factor, |index, _| grey[index] as f32)
}

/// Tensor `adjust_contrast`: blends with the `float32` mean of [`grayscale`] (not rounded).
pub fn adjust_contrast(image: &RgbImage, factor: f64) -> RgbImage {
    let grey = grayscale(image);
    let sum: u64 = grey.iter().map(|&v| v as u64).sum();
    let mean = sum as f32 / grey.len().max(1) as f32;
    blend_with(image, factor, |_, _| mean)
}

/// Tensor `_blurred_degenerate_image`: the 3×3 `[1 1 1; 1 5 1; 1 1 1]/13` convolution in `float32`, rounded
/// half to even; the one-pixel border is the original.
pub fn blurred(image: &RgbImage) -> RgbImage {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let mut out = image.clone();
    if width < 3 || height < 3 {
        return out;
    }
    let side = 1.0_f32 / 13.0;
    let centre = 5.0_f32 / 13.0;
    let source = image.as_raw();
    let target = &mut *out;
    for y in 1..height - 1 {
        for x in 1..width - 1 {
            for c in 0..3 {
                let mut sum = 0.0_f32;
                for dy in 0..3 {
                    for dx in 0..3 {
                        let weight = if dx == 1 && dy == 1 { centre } else { side };
                        sum += source[((y + dy - 1) * width + x + dx - 1) * 3 + c] as f32 * weight;
                    }
                }
                target[(y * width + x) * 3 + c] = sum.round_ties_even().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// Tensor `adjust_sharpness`: blends with [`blurred`]; images of 2 pixels or fewer on a side are unchanged.
pub fn adjust_sharpness(image: &RgbImage, factor: f64) -> RgbImage {
    if image.width() <= 2 || image.height() <= 2 {
        return image.clone();
    }
    let degenerate = blurred(image);
    let raw = degenerate.as_raw();
    blend_with(image, factor, |index, channel| {
        raw[index * 3 + channel] as f32
    })
}

/// Tensor `autocontrast`: per channel `((v − min)·(255/(max − min)))` in `float32`, clamped and truncated; a
/// flat channel is left alone.
pub fn autocontrast(image: &RgbImage) -> RgbImage {
    let mut low = [255_u8; 3];
    let mut high = [0_u8; 3];
    for pixel in image.pixels() {
        for c in 0..3 {
            low[c] = low[c].min(pixel.0[c]);
            high[c] = high[c].max(pixel.0[c]);
        }
    }
    let mut out = image.clone();
    for pixel in out.pixels_mut() {
        for c in 0..3 {
            if high[c] > low[c] {
                let (min, max) = (low[c] as f32, high[c] as f32);
                // `255 / t` is `t.reciprocal() * 255` in torch.
                let scale = (1.0 / (max - min)) * 255.0_f32;
                pixel.0[c] = ((pixel.0[c] as f32 - min) * scale).clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// Tensor `affine`/`rotate` with bilinear interpolation and no fill: `matrix` is torchvision's inverse affine
/// matrix in coordinates centred on the image (as `_get_inverse_affine_matrix` builds it for tensors); the
/// sampling grid is made in `float32` (`_gen_affine_grid`) and read by `grid_sample` (bilinear, zeros padding,
/// `align_corners=False`), the result rounded half to even.
pub fn affine_bilinear(image: &RgbImage, matrix: &[f64; 6]) -> RgbImage {
    let (width, height) = image.dimensions();
    let (w, h) = (width as usize, height as usize);
    if w == 0 || h == 0 {
        return image.clone();
    }
    let theta = matrix.map(|v| v as f32);
    let (half_w, half_h) = ((0.5 * width as f64) as f32, (0.5 * height as f64) as f32);
    // rescaled_theta = θᵀ / [w/2, h/2]
    let r = [
        [theta[0] / half_w, theta[3] / half_h],
        [theta[1] / half_w, theta[4] / half_h],
        [theta[2] / half_w, theta[5] / half_h],
    ];
    let scale_x = width as f32 / 2.0;
    let scale_y = height as f32 / 2.0;
    let source = image.as_raw();
    let mut out = image.clone();
    let target = &mut *out;
    for oy in 0..h {
        let by = -(h as f32) * 0.5 + 0.5 + oy as f32;
        for ox in 0..w {
            let bx = -(w as f32) * 0.5 + 0.5 + ox as f32;
            // The matmul of `_gen_affine_grid` and the unnormalisation of `grid_sample` run as fused
            // multiply-adds in torch's CPU kernels; so does the weighted sum (checked bit for bit).
            let gx = by.mul_add(r[1][0], bx * r[0][0]) + r[2][0];
            let gy = by.mul_add(r[1][1], bx * r[0][1]) + r[2][1];
            let x = (gx + 1.0).mul_add(scale_x, -0.5);
            let y = (gy + 1.0).mul_add(scale_y, -0.5);
            let (x_w, y_n) = (x.floor(), y.floor());
            let (we, ns) = (x - x_w, y - y_n);
            let (e, s) = (1.0 - we, 1.0 - ns);
            let weights = [s * e, s * we, ns * e, ns * we];
            let (ix, iy) = (x_w as i64, y_n as i64);
            let corners = [(ix, iy), (ix + 1, iy), (ix, iy + 1), (ix + 1, iy + 1)];
            for c in 0..3 {
                let value_at = |(cx, cy): (i64, i64)| {
                    let inside = (0..w as i64).contains(&cx) && (0..h as i64).contains(&cy);
                    if inside {
                        source[(cy as usize * w + cx as usize) * 3 + c] as f32
                    } else {
                        0.0
                    }
                };
                let mut value = value_at(corners[0]) * weights[0];
                for (&corner, &weight) in corners.iter().zip(&weights).skip(1) {
                    value = value_at(corner).mul_add(weight, value);
                }
                target[(oy * w + ox) * 3 + c] = value.round_ties_even().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}
