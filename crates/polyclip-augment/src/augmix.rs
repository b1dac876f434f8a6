//! torchvision's `AugMix` (Hendrycks et al., 2020): `mixture_width` chains of 1–3 random ops, mixed with
//! Dirichlet(α) weights, then mixed with the original by a Beta(α, α) weight. On a PIL image torchvision runs
//! the ops on a `uint8` tensor (bilinear geometry, float blends; [`super::functional_tensor`]) and truncates
//! the float mix back to `uint8`; this module does the same. Dirichlet and Beta are drawn from Gamma draws.

use image::RgbImage;
use rand::RngExt;
use rand_distr::{Distribution, Gamma};
use rand_pcg::Pcg64;

use crate::functional::{equalize, inverse_affine_matrix, posterize, solarize};
use crate::functional_tensor as ft;

/// Number of magnitude bins of AugMix's op table (`_PARAMETER_MAX`); `severity` picks among the first ones.
pub const PARAMETER_MAX: usize = 10;

/// The ops of AugMix's augmentation space, in torchvision's order (the first nine always, the last four with
/// `all_ops`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AugMixOp {
    ShearX,
    ShearY,
    TranslateX,
    TranslateY,
    Rotate,
    Posterize,
    Solarize,
    AutoContrast,
    Equalize,
    Brightness,
    Color,
    Contrast,
    Sharpness,
}

impl AugMixOp {
    /// The ops AugMix draws from (`all_ops` adds brightness, color, contrast and sharpness).
    pub fn space(all_ops: bool) -> &'static [AugMixOp] {
        use AugMixOp::*;
        const ALL: [AugMixOp; 13] = [
            ShearX,
            ShearY,
            TranslateX,
            TranslateY,
            Rotate,
            Posterize,
            Solarize,
            AutoContrast,
            Equalize,
            Brightness,
            Color,
            Contrast,
            Sharpness,
        ];
        if all_ops { &ALL } else { &ALL[..9] }
    }

    /// torchvision's name of the op (`_apply_op`).
    pub fn name(self) -> &'static str {
        match self {
            AugMixOp::ShearX => "ShearX",
            AugMixOp::ShearY => "ShearY",
            AugMixOp::TranslateX => "TranslateX",
            AugMixOp::TranslateY => "TranslateY",
            AugMixOp::Rotate => "Rotate",
            AugMixOp::Posterize => "Posterize",
            AugMixOp::Solarize => "Solarize",
            AugMixOp::AutoContrast => "AutoContrast",
            AugMixOp::Equalize => "Equalize",
            AugMixOp::Brightness => "Brightness",
            AugMixOp::Color => "Color",
            AugMixOp::Contrast => "Contrast",
            AugMixOp::Sharpness => "Sharpness",
        }
    }

    /// The op with torchvision's name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::space(true)
            .iter()
            .copied()
            .find(|op| op.name() == name)
    }

    /// Whether the magnitude's sign is drawn at random.
    pub fn signed(self) -> bool {
        !matches!(
            self,
            AugMixOp::Posterize | AugMixOp::Solarize | AugMixOp::AutoContrast | AugMixOp::Equalize
        )
    }

    /// The `num_bins` magnitudes of `_augmentation_space` for a `width`×`height` image, as the `float32`
    /// values `torch.linspace` makes (empty for the ops without a magnitude).
    pub fn magnitudes(self, num_bins: usize, width: u32, height: u32) -> Vec<f32> {
        let bins = num_bins;
        match self {
            AugMixOp::ShearX | AugMixOp::ShearY => linspace(0.0, 0.3, bins),
            AugMixOp::TranslateX => linspace(0.0, width as f64 / 3.0, bins),
            AugMixOp::TranslateY => linspace(0.0, height as f64 / 3.0, bins),
            AugMixOp::Rotate => linspace(0.0, 30.0, bins),
            AugMixOp::Posterize => {
                let divisor = (bins as f32 - 1.0) / 4.0;
                (0..bins)
                    .map(|i| 4.0 - (i as f32 / divisor).round_ties_even())
                    .collect()
            }
            AugMixOp::Solarize => linspace(255.0, 0.0, bins),
            AugMixOp::AutoContrast | AugMixOp::Equalize => Vec::new(),
            AugMixOp::Brightness | AugMixOp::Color | AugMixOp::Contrast | AugMixOp::Sharpness => {
                linspace(0.0, 0.9, bins)
            }
        }
    }
}

/// `torch.linspace(start, end, steps)` in `float32` as the CPU kernel computes it: the first half from
/// `start`, the second from `end`, each a fused multiply-add.
pub fn linspace(start: f64, end: f64, steps: usize) -> Vec<f32> {
    let (start, end) = (start as f32, end as f32);
    if steps <= 1 {
        return vec![start; steps];
    }
    let step = (end - start) / (steps - 1) as f32;
    let halfway = steps / 2;
    (0..steps)
        .map(|i| {
            if i < halfway {
                step.mul_add(i as f32, start)
            } else {
                (-step).mul_add((steps - i - 1) as f32, end)
            }
        })
        .collect()
}

/// torchvision's `_apply_op` on a `uint8` tensor with bilinear interpolation and no fill (AugMix's
/// defaults), for a signed `magnitude`.
pub fn apply_op(image: &RgbImage, op: AugMixOp, magnitude: f64) -> RgbImage {
    let (width, height) = (image.width() as f64, image.height() as f64);
    match op {
        AugMixOp::ShearX | AugMixOp::ShearY => {
            let degrees = magnitude.atan().to_degrees();
            let shear = if op == AugMixOp::ShearX {
                [degrees, 0.0]
            } else {
                [0.0, degrees]
            };
            // center=[0, 0] (the top-left corner), given to the tensor code relative to the image centre.
            let center = [-width * 0.5, -height * 0.5];
            let matrix = inverse_affine_matrix(center, 0.0, [0.0, 0.0], 1.0, shear);
            ft::affine_bilinear(image, &matrix)
        }
        AugMixOp::TranslateX | AugMixOp::TranslateY => {
            let pixels = magnitude.trunc();
            let translate = if op == AugMixOp::TranslateX {
                [pixels, 0.0]
            } else {
                [0.0, pixels]
            };
            let matrix = inverse_affine_matrix([0.0, 0.0], 0.0, translate, 1.0, [0.0, 0.0]);
            ft::affine_bilinear(image, &matrix)
        }
        AugMixOp::Rotate => {
            let matrix = inverse_affine_matrix([0.0, 0.0], -magnitude, [0.0, 0.0], 1.0, [0.0, 0.0]);
            ft::affine_bilinear(image, &matrix)
        }
        AugMixOp::Posterize => posterize(image, magnitude.clamp(0.0, 8.0) as u8),
        AugMixOp::Solarize => solarize(image, magnitude),
        AugMixOp::AutoContrast => ft::autocontrast(image),
        AugMixOp::Equalize => equalize(image),
        AugMixOp::Brightness => ft::adjust_brightness(image, 1.0 + magnitude),
        AugMixOp::Color => ft::adjust_saturation(image, 1.0 + magnitude),
        AugMixOp::Contrast => ft::adjust_contrast(image, 1.0 + magnitude),
        AugMixOp::Sharpness => ft::adjust_sharpness(image, 1.0 + magnitude),
    }
}

/// AugMix's final mix: `original_weight·original + Σ weights[i]·augmented[i]` accumulated in `float32` and
/// truncated to `uint8`, as `AugMix.forward` does.
pub fn mix(
    original: &RgbImage,
    augmented: &[RgbImage],
    original_weight: f32,
    weights: &[f32],
) -> RgbImage {
    let mut sum: Vec<f32> = original
        .as_raw()
        .iter()
        .map(|&v| original_weight * v as f32)
        .collect();
    for (image, &weight) in augmented.iter().zip(weights) {
        for (s, &v) in sum.iter_mut().zip(image.as_raw()) {
            *s += weight * v as f32;
        }
    }
    let mut out = original.clone();
    for (o, s) in out.iter_mut().zip(sum) {
        *o = s.clamp(0.0, 255.0) as u8;
    }
    out
}

/// AugMix's parameters (validated by the chain).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AugMixParams {
    pub severity: u32,
    pub mixture_width: u32,
    pub chain_depth: i32,
    pub alpha: f32,
    pub all_ops: bool,
}

/// One AugMix draw on `image`.
pub fn augmix(image: RgbImage, params: &AugMixParams, rng: &mut Pcg64) -> RgbImage {
    if image.width() == 0 || image.height() == 0 {
        return image;
    }
    let m = dirichlet(rng, params.alpha, 2);
    let (m0, m1) = (m[0], m[1]);
    let weights: Vec<f32> = dirichlet(rng, params.alpha, params.mixture_width as usize)
        .into_iter()
        .map(|w| w * m1)
        .collect();
    let space = AugMixOp::space(params.all_ops);
    let bins: Vec<Vec<f32>> = space
        .iter()
        .map(|op| op.magnitudes(PARAMETER_MAX, image.width(), image.height()))
        .collect();
    let severity = (params.severity as usize).clamp(1, PARAMETER_MAX);
    let chains: Vec<RgbImage> = (0..params.mixture_width)
        .map(|_| {
            let depth = if params.chain_depth > 0 {
                params.chain_depth as usize
            } else {
                rng.random_range(1..4)
            };
            (0..depth).fold(image.clone(), |aug, _| {
                let index = rng.random_range(0..space.len());
                let op = space[index];
                let magnitudes = &bins[index];
                let mut magnitude = if magnitudes.is_empty() {
                    0.0
                } else {
                    magnitudes[rng.random_range(0..severity.min(magnitudes.len()))] as f64
                };
                if op.signed() && rng.random_bool(0.5) {
                    magnitude = -magnitude;
                }
                apply_op(&aug, op, magnitude)
            })
        })
        .collect();
    mix(&image, &chains, m0, &weights)
}

/// A Dirichlet(α, …, α) draw of `len` `float32` weights, from Gamma(α, 1) draws (uniform weights if the
/// draws underflow to zero).
fn dirichlet(rng: &mut Pcg64, alpha: f32, len: usize) -> Vec<f32> {
    let draws: Vec<f64> = match Gamma::new(alpha as f64, 1.0) {
        Ok(gamma) => (0..len).map(|_| gamma.sample(rng)).collect(),
        Err(_) => vec![1.0; len],
    };
    let total: f64 = draws.iter().sum();
    if !(total > 0.0 && total.is_finite()) {
        return vec![1.0 / len.max(1) as f32; len];
    }
    draws.iter().map(|&g| (g / total) as f32).collect()
}
