//! Pillow's colour enhancements as torchvision calls them on a PIL image (`ImageEnhance.{Brightness,
//! Contrast, Color, Sharpness}` and the HSV round trip of `adjust_hue`), with Pillow's exact arithmetic:
//! `Image.blend` in `float` with truncation, ITU-R 601 luma in 16-bit fixed point, the 3×3 `SMOOTH` kernel in
//! `float` with +0.5 rounding, and `Convert.c`'s mixed float/double HSV conversions.

use image::RgbImage;

/// Pillow's `L` of an RGB pixel (`Convert.c` `L24`: 16.16 fixed point, rounded).
pub fn luma(pixel: [u8; 3]) -> u8 {
    let [r, g, b] = pixel.map(u32::from);
    ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16) as u8
}

/// `Image.blend(degenerate, image, factor)` (`Blend.c`): `degenerate + factor·(image − degenerate)` in
/// `float`, truncated, clamped only when extrapolating.
pub fn blend(degenerate: &RgbImage, image: &RgbImage, factor: f64) -> RgbImage {
    let alpha = factor as f32;
    if alpha == 0.0 {
        return degenerate.clone();
    }
    if alpha == 1.0 {
        return image.clone();
    }
    let interpolating = (0.0..=1.0).contains(&alpha);
    let mut out = image.clone();
    for ((o, &d), &i) in out.iter_mut().zip(degenerate.as_raw()).zip(image.as_raw()) {
        let value = d as f32 + alpha * (i as i32 - d as i32) as f32;
        *o = if interpolating {
            value as u8
        } else if value <= 0.0 {
            0
        } else if value >= 255.0 {
            255
        } else {
            value as u8
        };
    }
    out
}

/// `ImageEnhance.Brightness(image).enhance(factor)`: blends with black.
pub fn adjust_brightness(image: &RgbImage, factor: f64) -> RgbImage {
    let black = RgbImage::new(image.width(), image.height());
    blend(&black, image, factor)
}

/// `ImageEnhance.Color(image).enhance(factor)`: blends with the image's own grey (`convert("L")`).
pub fn adjust_saturation(image: &RgbImage, factor: f64) -> RgbImage {
    let mut grey = image.clone();
    for pixel in grey.pixels_mut() {
        let l = luma(pixel.0);
        pixel.0 = [l; 3];
    }
    blend(&grey, image, factor)
}

/// `ImageEnhance.Contrast(image).enhance(factor)`: blends with a flat image at the mean grey level, rounded
/// (`int(mean + 0.5)`).
pub fn adjust_contrast(image: &RgbImage, factor: f64) -> RgbImage {
    let (sum, count) = image.pixels().fold((0_u64, 0_u64), |(sum, count), pixel| {
        (sum + luma(pixel.0) as u64, count + 1)
    });
    let mean = if count == 0 {
        0.0
    } else {
        sum as f64 / count as f64
    };
    let level = (mean + 0.5) as u8;
    let flat = RgbImage::from_pixel(image.width(), image.height(), image::Rgb([level; 3]));
    blend(&flat, image, factor)
}

/// Pillow's `ImageFilter.SMOOTH` (3×3 kernel `[1 1 1; 1 5 1; 1 1 1]/13`, `Filter.c`): the border is copied,
/// images narrower or shorter than 3 pixels come back unchanged.
pub fn smooth(image: &RgbImage) -> RgbImage {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let mut out = image.clone();
    if width < 3 || height < 3 {
        return out;
    }
    // `_imaging.c` divides the kernel by its `float` divisor.
    let side = 1.0_f32 / 13.0;
    let centre = 5.0_f32 / 13.0;
    let kernel = [side, side, side, side, centre, side, side, side, side];
    let source = image.as_raw();
    let at = |x: usize, y: usize, c: usize| source[(y * width + x) * 3 + c] as f32;
    let target = &mut *out;
    for y in 1..height - 1 {
        for x in 1..width - 1 {
            for c in 0..3 {
                let row = |y: usize, k: &[f32]| {
                    at(x - 1, y, c) * k[0] + at(x, y, c) * k[1] + at(x + 1, y, c) * k[2]
                };
                let mut sum = 0.5_f32;
                sum += row(y + 1, &kernel[0..3]);
                sum += row(y, &kernel[3..6]);
                sum += row(y - 1, &kernel[6..9]);
                target[(y * width + x) * 3 + c] = sum.clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// `ImageEnhance.Sharpness(image).enhance(factor)`: blends with [`smooth`].
pub fn adjust_sharpness(image: &RgbImage, factor: f64) -> RgbImage {
    blend(&smooth(image), image, factor)
}

/// Pillow's RGB→HSV (`Convert.c` `rgb2hsv_row`), every channel 0–255.
pub fn rgb_to_hsv(pixel: [u8; 3]) -> [u8; 3] {
    let [r, g, b] = pixel;
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    if min == max {
        return [0, 0, max];
    }
    let range = (max - min) as f32;
    let s = range / max as f32;
    let rc = (max - r) as f32 / range;
    let gc = (max - g) as f32 / range;
    let bc = (max - b) as f32 / range;
    // `h` is a C float; the constants are doubles, so the sums are computed in double and stored as float.
    let h: f32 = if r == max {
        bc - gc
    } else if g == max {
        (2.0 + rc as f64 - bc as f64) as f32
    } else {
        (4.0 + gc as f64 - rc as f64) as f32
    };
    let h = ((h as f64 / 6.0 + 1.0) % 1.0) as f32;
    let clip = |v: f64| (v as i32).clamp(0, 255) as u8;
    [clip(h as f64 * 255.0), clip(s as f64 * 255.0), max]
}

/// Pillow's HSV→RGB (`Convert.c` `hsv2rgb`).
pub fn hsv_to_rgb(pixel: [u8; 3]) -> [u8; 3] {
    let [h, s, v] = pixel;
    if s == 0 {
        return [v; 3];
    }
    let sector = (h as f32 as f64 * 6.0 / 255.0).floor() as i32;
    let f = (h as f32 as f64 * 6.0 / 255.0 - sector as f32 as f64) as f32;
    let fs = (s as f32 as f64 / 255.0) as f32;
    let v_f = v as f32 as f64;
    // C's round(): halves away from zero.
    let clip = |x: f64| (x.round() as i32).clamp(0, 255) as u8;
    let p = clip(v_f * (1.0 - fs as f64));
    let q = clip(v_f * (1.0 - (fs * f) as f64));
    let t = clip(v_f * (1.0 - fs as f64 * (1.0 - f as f64)));
    match sector % 6 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// torchvision's `adjust_hue` on a PIL image: to Pillow's HSV, `H += int32(factor·255)` as a wrapping `uint8`
/// add, back to RGB. `factor` is in [−0.5, 0.5] (callers check).
pub fn adjust_hue(image: &RgbImage, factor: f64) -> RgbImage {
    let shift = ((factor * 255.0) as i32) as u8;
    let mut out = image.clone();
    for pixel in out.pixels_mut() {
        let [h, s, v] = rgb_to_hsv(pixel.0);
        pixel.0 = hsv_to_rgb([h.wrapping_add(shift), s, v]);
    }
    out
}
