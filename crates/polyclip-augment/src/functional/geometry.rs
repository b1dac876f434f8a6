//! Geometric functions on a PIL image as torchvision calls them: flips, crops, padding, Pillow bicubic resizes,
//! and Pillow's nearest-neighbour `Image.transform` (AFFINE and PERSPECTIVE, `Geometry.c`) behind
//! torchvision's `affine`, `rotate` and `perspective`, with the matrices torchvision builds for them.

use image::{Rgb, RgbImage};

use crate::resample::resize_bicubic;

/// How [`pad`] fills the border.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaddingMode {
    /// A constant colour (torchvision's `fill`, 0 by default).
    #[default]
    Constant,
    /// Repeats the edge pixels (`numpy.pad(mode="edge")`).
    Edge,
}

/// torchvision `hflip` (`Image.transpose(FLIP_LEFT_RIGHT)`).
pub fn hflip(image: &RgbImage) -> RgbImage {
    image::imageops::flip_horizontal(image)
}

/// torchvision `crop` (`Image.crop((left, top, left + width, top + height))`): parts outside the image are
/// black.
pub fn crop(image: &RgbImage, top: i64, left: i64, height: u32, width: u32) -> RgbImage {
    let (in_w, in_h) = (image.width() as i64, image.height() as i64);
    if top >= 0 && left >= 0 && top + height as i64 <= in_h && left + width as i64 <= in_w {
        return image::imageops::crop_imm(image, left as u32, top as u32, width, height).to_image();
    }
    RgbImage::from_fn(width, height, |x, y| {
        let (sx, sy) = (left + x as i64, top + y as i64);
        if (0..in_w).contains(&sx) && (0..in_h).contains(&sy) {
            *image.get_pixel(sx as u32, sy as u32)
        } else {
            Rgb([0, 0, 0])
        }
    })
}

/// torchvision `pad` with the same `padding` on the four sides.
pub fn pad(image: &RgbImage, padding: u32, mode: PaddingMode, fill: [u8; 3]) -> RgbImage {
    pad_sides(image, [padding; 4], mode, fill)
}

/// torchvision `pad` with `[left, top, right, bottom]` padding.
pub fn pad_sides(image: &RgbImage, sides: [u32; 4], mode: PaddingMode, fill: [u8; 3]) -> RgbImage {
    let [left, top, right, bottom] = sides;
    let (in_w, in_h) = (image.width(), image.height());
    if sides == [0; 4] || in_w == 0 || in_h == 0 {
        return image.clone();
    }
    RgbImage::from_fn(in_w + left + right, in_h + top + bottom, |x, y| {
        let (sx, sy) = (x as i64 - left as i64, y as i64 - top as i64);
        let inside = (0..in_w as i64).contains(&sx) && (0..in_h as i64).contains(&sy);
        match (inside, mode) {
            (true, _) => *image.get_pixel(sx as u32, sy as u32),
            (false, PaddingMode::Constant) => Rgb(fill),
            (false, PaddingMode::Edge) => *image.get_pixel(
                sx.clamp(0, in_w as i64 - 1) as u32,
                sy.clamp(0, in_h as i64 - 1) as u32,
            ),
        }
    })
}

/// Pillow's bicubic resize to `width`×`height` (unchanged when the size already matches).
pub fn resize(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    if image.dimensions() == (width, height) {
        return image.clone();
    }
    resize_bicubic(image, width, height)
}

/// torchvision `resize(image, size)` with an int: the shorter side becomes `size`, the longer one
/// `int(size·long/short)`; bicubic.
pub fn resize_shorter(image: &RgbImage, size: u32) -> RgbImage {
    let (width, height) = image.dimensions();
    let (short, long) = (width.min(height), width.max(height));
    if short == 0 {
        return image.clone();
    }
    let new_long = (size as f64 * long as f64 / short as f64) as u32;
    let (new_w, new_h) = if width <= height {
        (size, new_long)
    } else {
        (new_long, size)
    };
    resize(image, new_w, new_h)
}

/// torchvision `resized_crop`: [`crop`] then a bicubic [`resize`] to `width`×`height`.
pub fn resized_crop(
    image: &RgbImage,
    top: i64,
    left: i64,
    height: u32,
    width: u32,
    size: (u32, u32),
) -> RgbImage {
    resize(&crop(image, top, left, height, width), size.0, size.1)
}

/// torchvision's `_get_inverse_affine_matrix` (inverted): the 2×3 matrix that maps output pixel coordinates
/// to input coordinates for a rotation by `angle` degrees (clockwise on screen), `translate` pixels, `scale`
/// and `shear` degrees (x, y) about `center`.
pub fn inverse_affine_matrix(
    center: [f64; 2],
    angle: f64,
    translate: [f64; 2],
    scale: f64,
    shear: [f64; 2],
) -> [f64; 6] {
    let rot = angle.to_radians();
    let sx = shear[0].to_radians();
    let sy = shear[1].to_radians();
    let [cx, cy] = center;
    let [tx, ty] = translate;
    let a = (rot - sy).cos() / sy.cos();
    let b = -(rot - sy).cos() * sx.tan() / sy.cos() - rot.sin();
    let c = (rot - sy).sin() / sy.cos();
    let d = -(rot - sy).sin() * sx.tan() / sy.cos() + rot.cos();
    let mut m = [d, -b, 0.0, -c, a, 0.0].map(|v| v / scale);
    m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
    m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
    m[2] += cx;
    m[5] += cy;
    m
}

/// torchvision `affine` on a PIL image (NEAREST): rotation by `angle` degrees, translation, scale and shear
/// about the image centre `(w/2, h/2)`; uncovered pixels take `fill`.
pub fn affine(
    image: &RgbImage,
    angle: f64,
    translate: [f64; 2],
    scale: f64,
    shear: [f64; 2],
    fill: [u8; 3],
) -> RgbImage {
    let center = [image.width() as f64 * 0.5, image.height() as f64 * 0.5];
    let matrix = inverse_affine_matrix(center, angle, translate, scale, shear);
    transform_affine(image, &matrix, fill)
}

/// torchvision `rotate` on a PIL image (`Image.rotate(angle, NEAREST, fillcolor=fill)`, no expand):
/// counter-clockwise by `angle` degrees about the centre.
pub fn rotate(image: &RgbImage, angle: f64, fill: [u8; 3]) -> RgbImage {
    let angle = python_float_mod(angle, 360.0);
    let (width, height) = image.dimensions();
    if angle == 0.0 {
        return image.clone();
    }
    if angle == 180.0 {
        return image::imageops::rotate180(image);
    }
    if width == height && angle == 90.0 {
        return image::imageops::rotate270(image);
    }
    if width == height && angle == 270.0 {
        return image::imageops::rotate90(image);
    }
    let (cx, cy) = (width as f64 / 2.0, height as f64 / 2.0);
    let radians = -angle.to_radians();
    let mut m = [
        round_digits(radians.cos(), 15),
        round_digits(radians.sin(), 15),
        0.0,
        round_digits(-radians.sin(), 15),
        round_digits(radians.cos(), 15),
        0.0,
    ];
    m[2] += m[0] * -cx + m[1] * -cy;
    m[5] += m[3] * -cx + m[4] * -cy;
    m[2] += cx;
    m[5] += cy;
    transform_affine(image, &m, fill)
}

/// Pillow's `Image.transform(size, AFFINE, matrix, NEAREST, fillcolor=fill)` (`ImagingTransformAffine`):
/// output pixel `(x, y)` samples input `(a·(x+½) + b·(y+½) + c, d·(x+½) + e·(y+½) + f)`, with the three code
/// paths Pillow takes — scale-only, 16.16 fixed point, and double — reproduced exactly.
pub fn transform_affine(image: &RgbImage, a: &[f64; 6], fill: [u8; 3]) -> RgbImage {
    let (width, height) = image.dimensions();
    let (in_w, in_h) = (width as i64, height as i64);
    let mut out = RgbImage::from_pixel(width, height, Rgb(fill));
    if width == 0 || height == 0 {
        return out;
    }
    let copy = |out: &mut RgbImage, x: u32, y: u32, sx: i64, sy: i64| {
        if (0..in_w).contains(&sx) && (0..in_h).contains(&sy) {
            out.put_pixel(x, y, *image.get_pixel(sx as u32, sy as u32));
        }
    };
    if a[1] == 0.0 && a[3] == 0.0 {
        // ImagingScaleAffine: column and row positions tabulated by repeated addition.
        let mut xo = a[2] + a[0] * 0.5;
        let columns: Vec<i64> = (0..width)
            .map(|_| {
                let column = pillow_coord(xo);
                xo += a[0];
                column
            })
            .collect();
        let mut yo = a[5] + a[4] * 0.5;
        for y in 0..height {
            let row = pillow_coord(yo);
            for (x, &column) in (0..width).zip(&columns) {
                copy(&mut out, x, y, column, row);
            }
            yo += a[4];
        }
        return out;
    }
    let fits = |x: f64, y: f64| {
        (x * a[0] + y * a[1] + a[2]).abs() < 32768.0 && (x * a[3] + y * a[4] + a[5]).abs() < 32768.0
    };
    let (w, h) = (width as f64, height as f64);
    if fits(0.0, 0.0) && fits(w, h) && fits(0.0, h) && fits(w, 0.0) {
        // affine_fixed: 16.16 fixed point, rows advanced by adding the fixed-point steps.
        let fix = |v: f64| pillow_floor(v * 65536.0 + 0.5) as i32;
        let (a0, a1, a3, a4) = (fix(a[0]), fix(a[1]), fix(a[3]), fix(a[4]));
        let mut a2 = fix(a[2] + a[0] * 0.5 + a[1] * 0.5);
        let mut a5 = fix(a[5] + a[3] * 0.5 + a[4] * 0.5);
        for y in 0..height {
            let (mut xx, mut yy) = (a2, a5);
            for x in 0..width {
                copy(&mut out, x, y, (xx >> 16) as i64, (yy >> 16) as i64);
                xx = xx.wrapping_add(a0);
                yy = yy.wrapping_add(a3);
            }
            a2 = a2.wrapping_add(a1);
            a5 = a5.wrapping_add(a4);
        }
        return out;
    }
    // Double-precision path for matrices that overflow the fixed-point range.
    let mut xo = a[2] + a[1] * 0.5 + a[0] * 0.5;
    let mut yo = a[5] + a[4] * 0.5 + a[3] * 0.5;
    for y in 0..height {
        let (mut xx, mut yy) = (xo, yo);
        for x in 0..width {
            copy(&mut out, x, y, pillow_coord(xx), pillow_coord(yy));
            xx += a[0];
            yy += a[3];
        }
        xo += a[1];
        yo += a[4];
    }
    out
}

/// torchvision's `_get_perspective_coeffs`: the eight coefficients mapping `endpoints` (output corners) to
/// `startpoints` (input corners), solved in double and rounded to `float` as torchvision does; `None` when the
/// corners are degenerate.
pub fn perspective_coeffs(
    startpoints: &[[i64; 2]; 4],
    endpoints: &[[i64; 2]; 4],
) -> Option<[f64; 8]> {
    let mut system = [[0.0_f64; 9]; 8];
    for (i, (end, start)) in endpoints.iter().zip(startpoints).enumerate() {
        let [ex, ey] = end.map(|v| v as f64);
        let [sx, sy] = start.map(|v| v as f64);
        system[2 * i] = [ex, ey, 1.0, 0.0, 0.0, 0.0, -sx * ex, -sx * ey, sx];
        system[2 * i + 1] = [0.0, 0.0, 0.0, ex, ey, 1.0, -sy * ex, -sy * ey, sy];
    }
    let solution = solve8(system)?;
    Some(solution.map(|v| v as f32 as f64))
}

/// Gaussian elimination with partial pivoting on an 8×8 system (augmented with its right-hand side).
fn solve8(mut m: [[f64; 9]; 8]) -> Option<[f64; 8]> {
    for col in 0..8 {
        let pivot = (col..8).max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))?;
        if m[pivot][col].abs() < 1e-12 {
            return None;
        }
        m.swap(col, pivot);
        let pivot_row = m[col];
        for row in m.iter_mut().skip(col + 1) {
            let factor = row[col] / pivot_row[col];
            for (value, &above) in row.iter_mut().zip(&pivot_row).skip(col) {
                *value -= factor * above;
            }
        }
    }
    let mut x = [0.0_f64; 8];
    for row in (0..8).rev() {
        let tail: f64 = (row + 1..8).map(|k| m[row][k] * x[k]).sum();
        x[row] = (m[row][8] - tail) / m[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// torchvision `perspective` on a PIL image (NEAREST): maps the four `startpoints` corners (top-left,
/// top-right, bottom-right, bottom-left) to `endpoints`; uncovered pixels take `fill`. Degenerate corners
/// leave the image unchanged.
pub fn perspective(
    image: &RgbImage,
    startpoints: &[[i64; 2]; 4],
    endpoints: &[[i64; 2]; 4],
    fill: [u8; 3],
) -> RgbImage {
    match perspective_coeffs(startpoints, endpoints) {
        Some(coeffs) => transform_perspective(image, &coeffs, fill),
        None => image.clone(),
    }
}

/// Pillow's `Image.transform(size, PERSPECTIVE, coeffs, NEAREST, fillcolor=fill)` (the generic transform
/// with `perspective_transform` and `nearest_filter32`).
pub fn transform_perspective(image: &RgbImage, a: &[f64; 8], fill: [u8; 3]) -> RgbImage {
    let (width, height) = image.dimensions();
    let (in_w, in_h) = (width as i64, height as i64);
    let mut out = RgbImage::from_pixel(width, height, Rgb(fill));
    for y in 0..height {
        for x in 0..width {
            let (xin, yin) = (x as f64 + 0.5, y as f64 + 0.5);
            let denominator = a[6] * xin + a[7] * yin + 1.0;
            let sx = pillow_coord((a[0] * xin + a[1] * yin + a[2]) / denominator);
            let sy = pillow_coord((a[3] * xin + a[4] * yin + a[5]) / denominator);
            if (0..in_w).contains(&sx) && (0..in_h).contains(&sy) {
                out.put_pixel(x, y, *image.get_pixel(sx as u32, sy as u32));
            }
        }
    }
    out
}

/// `Geometry.c` `COORD`: −1 for negative coordinates, else truncation.
fn pillow_coord(v: f64) -> i64 {
    if v < 0.0 { -1 } else { v as i64 }
}

/// `Geometry.c` `FLOOR`.
fn pillow_floor(v: f64) -> i64 {
    if v < 0.0 { v.floor() as i64 } else { v as i64 }
}

/// Python's `a % b` for floats (the result takes the sign of `b`).
fn python_float_mod(a: f64, b: f64) -> f64 {
    let r = a % b;
    if r == 0.0 {
        0.0_f64.copysign(b)
    } else if (b < 0.0) != (r < 0.0) {
        r + b
    } else {
        r
    }
}

/// Python's `round(value, digits)` (correctly rounded through the decimal representation).
fn round_digits(value: f64, digits: usize) -> f64 {
    format!("{value:.digits$}").parse().unwrap_or(value)
}
