//! The random transforms: each op of [`Augmentation`] draws its parameters as torchvision's `get_params` /
//! `forward` does (same draws in the same order; the random stream is ours, a `Pcg64`) and calls the
//! deterministic functions of [`super::functional`].

use image::RgbImage;
use rand::RngExt;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;

use crate::augmix::{AugMixParams, augmix};
use crate::functional::{self as f, PaddingMode};
use crate::spec::{Augmentation, Range, Shear};

/// `torch.empty(1).uniform_(low, high)`.
fn uniform(rng: &mut Pcg64, low: f64, high: f64) -> f64 {
    low + (high - low) * rng.random::<f64>()
}

/// `torch.randint(low, high)`: an integer in `[low, high)` (`low` when the range is empty).
fn randint(rng: &mut Pcg64, low: i64, high: i64) -> i64 {
    if high <= low {
        low
    } else {
        rng.random_range(low..high)
    }
}

/// `torch.rand(1) < p`.
fn chance(rng: &mut Pcg64, p: f32) -> bool {
    rng.random::<f32>() < p
}

/// Python's `round` (halves to even) to an integer.
fn round_half_even(v: f64) -> i64 {
    v.round_ties_even() as i64
}

/// `RandomResizedCrop.get_params`: `(top, left, height, width)` of a crop covering a uniform fraction of the
/// area in `scale` with a log-uniform aspect ratio in `ratio`; after 10 misses, the centre crop clamped to
/// `ratio` (or the whole image).
pub fn resized_crop_params(
    rng: &mut Pcg64,
    width: u32,
    height: u32,
    scale: [f32; 2],
    ratio: [f32; 2],
) -> (i64, i64, u32, u32) {
    let (width_i, height_i) = (width as i64, height as i64);
    let area = (width as f64) * (height as f64);
    let log_ratio = [(ratio[0] as f64).ln(), (ratio[1] as f64).ln()];
    for _ in 0..10 {
        let target_area = area * uniform(rng, scale[0] as f64, scale[1] as f64);
        let aspect_ratio = uniform(rng, log_ratio[0], log_ratio[1]).exp();
        let w = round_half_even((target_area * aspect_ratio).sqrt());
        let h = round_half_even((target_area / aspect_ratio).sqrt());
        if 0 < w && w <= width_i && 0 < h && h <= height_i {
            let top = randint(rng, 0, height_i - h + 1);
            let left = randint(rng, 0, width_i - w + 1);
            return (top, left, h as u32, w as u32);
        }
    }
    let in_ratio = width as f64 / height as f64;
    let (min_ratio, max_ratio) = (ratio[0].min(ratio[1]) as f64, ratio[0].max(ratio[1]) as f64);
    let (w, h) = if in_ratio < min_ratio {
        (width_i, round_half_even(width as f64 / min_ratio))
    } else if in_ratio > max_ratio {
        (round_half_even(height as f64 * max_ratio), height_i)
    } else {
        (width_i, height_i)
    };
    (
        (height_i - h).div_euclid(2),
        (width_i - w).div_euclid(2),
        h as u32,
        w as u32,
    )
}

/// `RandomPerspective.get_params`: the image corners and their jittered positions (top-left, top-right,
/// bottom-right, bottom-left), each moved inwards by up to `distortion_scale` of half the side.
pub fn perspective_params(
    rng: &mut Pcg64,
    width: u32,
    height: u32,
    distortion_scale: f32,
) -> ([[i64; 2]; 4], [[i64; 2]; 4]) {
    let (width, height) = (width as i64, height as i64);
    let dx = (distortion_scale as f64 * (width / 2) as f64) as i64;
    let dy = (distortion_scale as f64 * (height / 2) as f64) as i64;
    let top_left = [randint(rng, 0, dx + 1), randint(rng, 0, dy + 1)];
    let top_right = [randint(rng, width - dx - 1, width), randint(rng, 0, dy + 1)];
    let bottom_right = [
        randint(rng, width - dx - 1, width),
        randint(rng, height - dy - 1, height),
    ];
    let bottom_left = [
        randint(rng, 0, dx + 1),
        randint(rng, height - dy - 1, height),
    ];
    let start = [
        [0, 0],
        [width - 1, 0],
        [width - 1, height - 1],
        [0, height - 1],
    ];
    (start, [top_left, top_right, bottom_right, bottom_left])
}

/// `ColorJitter._check_input`: the factor range of a colour parameter, `None` when it does nothing.
fn jitter_range(range: Range, center: f64, clip_at_zero: bool) -> Option<[f64; 2]> {
    let [low, high] = match range {
        Range::Value(v) => {
            let low = center - v as f64;
            [
                if clip_at_zero { low.max(0.0) } else { low },
                center + v as f64,
            ]
        }
        Range::Bounds([low, high]) => [low as f64, high as f64],
    };
    (!(low == center && high == center)).then_some([low, high])
}

/// `ColorJitter.forward`: draws the order and the factors, then adjusts (Pillow functions).
fn color_jitter(
    image: RgbImage,
    rng: &mut Pcg64,
    [brightness, contrast, saturation, hue]: [Range; 4],
) -> RgbImage {
    let mut order = [0_usize, 1, 2, 3];
    order.shuffle(rng);
    let mut draw = |range: Option<[f64; 2]>| range.map(|[low, high]| uniform(rng, low, high));
    let b = draw(jitter_range(brightness, 1.0, true));
    let c = draw(jitter_range(contrast, 1.0, true));
    let s = draw(jitter_range(saturation, 1.0, true));
    let h = draw(jitter_range(hue, 0.0, false));
    order
        .iter()
        .fold(image, |image, &which| match (which, b, c, s, h) {
            (0, Some(b), ..) => f::adjust_brightness(&image, b),
            (1, _, Some(c), ..) => f::adjust_contrast(&image, c),
            (2, _, _, Some(s), _) => f::adjust_saturation(&image, s),
            // torchvision draws the factor in float32.
            (3, .., Some(h)) => f::adjust_hue(&image, (h as f32 as f64).clamp(-0.5, 0.5)),
            _ => image,
        })
}

/// `RandomAffine.get_params` + `affine`: angle, integer translation (fraction of the size), scale and shear.
fn random_affine(
    image: RgbImage,
    rng: &mut Pcg64,
    degrees: Range,
    translate: Option<[f32; 2]>,
    scale: Option<[f32; 2]>,
    shear: Option<Shear>,
    fill: [u8; 3],
) -> RgbImage {
    let [d0, d1] = match degrees {
        Range::Value(v) => [-v as f64, v as f64],
        Range::Bounds([low, high]) => [low as f64, high as f64],
    };
    let angle = uniform(rng, d0, d1);
    let translate = match translate {
        Some([tx, ty]) => {
            let max_dx = tx as f64 * image.width() as f64;
            let max_dy = ty as f64 * image.height() as f64;
            let dx = round_half_even(uniform(rng, -max_dx, max_dx));
            let dy = round_half_even(uniform(rng, -max_dy, max_dy));
            [dx as f64, dy as f64]
        }
        None => [0.0, 0.0],
    };
    let scale = match scale {
        Some([low, high]) => uniform(rng, low as f64, high as f64),
        None => 1.0,
    };
    let shear_ranges: Vec<[f64; 2]> = match shear {
        None => Vec::new(),
        Some(Shear::Value(v)) => vec![[-v as f64, v as f64]],
        Some(Shear::X([low, high])) => vec![[low as f64, high as f64]],
        Some(Shear::XY([x0, x1, y0, y1])) => {
            vec![[x0 as f64, x1 as f64], [y0 as f64, y1 as f64]]
        }
    };
    let mut shear = [0.0, 0.0];
    for (value, [low, high]) in shear.iter_mut().zip(shear_ranges) {
        *value = uniform(rng, low, high);
    }
    f::affine(&image, angle, translate, scale, shear, fill)
}

/// `RandomCrop.forward`: pad, pad up to `size` if still smaller (`pad_if_needed`), crop at a random place.
fn random_crop(
    image: RgbImage,
    rng: &mut Pcg64,
    size: u32,
    padding: u32,
    mode: PaddingMode,
) -> RgbImage {
    let mut image = f::pad(&image, padding, mode, [0; 3]);
    if image.width() < size {
        let extra = size - image.width();
        image = f::geometry::pad_sides(&image, [extra, 0, extra, 0], mode, [0; 3]);
    }
    if image.height() < size {
        let extra = size - image.height();
        image = f::geometry::pad_sides(&image, [0, extra, 0, extra], mode, [0; 3]);
    }
    let (width, height) = image.dimensions();
    if (width, height) == (size, size) {
        return image;
    }
    let top = randint(rng, 0, (height - size) as i64 + 1);
    let left = randint(rng, 0, (width - size) as i64 + 1);
    f::crop(&image, top, left, size, size)
}

/// Applies one op with parameters drawn from `rng`.
pub fn apply(op: &Augmentation, image: RgbImage, rng: &mut Pcg64) -> RgbImage {
    match op {
        Augmentation::Resize { size } => f::resize_shorter(&image, *size),
        Augmentation::RandomResizedCrop { size, scale, ratio } => {
            let (top, left, height, width) =
                resized_crop_params(rng, image.width(), image.height(), *scale, *ratio);
            f::resized_crop(&image, top, left, height, width, (*size, *size))
        }
        Augmentation::RandomCrop {
            size,
            padding,
            padding_mode,
        } => random_crop(image, rng, *size, *padding, *padding_mode),
        Augmentation::AugMix {
            severity,
            mixture_width,
            chain_depth,
            alpha,
            all_ops,
        } => {
            let params = AugMixParams {
                severity: *severity,
                mixture_width: *mixture_width,
                chain_depth: *chain_depth,
                alpha: *alpha,
                all_ops: *all_ops,
            };
            augmix(image, &params, rng)
        }
        Augmentation::ColorJitter {
            brightness,
            contrast,
            saturation,
            hue,
        } => color_jitter(image, rng, [*brightness, *contrast, *saturation, *hue]),
        Augmentation::HorizontalFlip { p } => {
            if chance(rng, *p) {
                f::hflip(&image)
            } else {
                image
            }
        }
        Augmentation::RandomAffine {
            degrees,
            translate,
            scale,
            shear,
            fill,
        } => random_affine(image, rng, *degrees, *translate, *scale, *shear, fill.rgb()),
        Augmentation::RandomPerspective {
            distortion_scale,
            p,
            fill,
        } => {
            if chance(rng, *p) {
                let (start, end) =
                    perspective_params(rng, image.width(), image.height(), *distortion_scale);
                f::perspective(&image, &start, &end, fill.rgb())
            } else {
                image
            }
        }
        Augmentation::RandomAutocontrast { p } => {
            if chance(rng, *p) {
                f::autocontrast(&image)
            } else {
                image
            }
        }
        Augmentation::RandomEqualize { p } => {
            if chance(rng, *p) {
                f::equalize(&image)
            } else {
                image
            }
        }
    }
}
