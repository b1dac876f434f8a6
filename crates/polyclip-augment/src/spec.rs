//! What a recipe writes: one [`Augmentation`] per op of a chain (a TOML table with an `op` key), its
//! parameters with torchvision's defaults, and the checks that reject parameters an op cannot run with.

use serde::{Deserialize, Serialize};

use crate::error::AugmentError;
use crate::functional::PaddingMode;

/// A number or an inclusive `[min, max]` range, as torchvision accepts for angles and colour factors: a single
/// number `v` means `[-v, v]` for angles and hue, `[max(0, 1 - v), 1 + v]` for colour factors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Range {
    Value(f32),
    Bounds([f32; 2]),
}

impl Default for Range {
    fn default() -> Self {
        Range::Value(0.0)
    }
}

/// `RandomAffine`'s shear, in degrees: a number `s` shears along x in `[-s, s]`; two values give the x range;
/// four give the x then the y range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Shear {
    Value(f32),
    X([f32; 2]),
    XY([f32; 4]),
}

/// The colour of pixels a geometric op uncovers: one grey level or an RGB triple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Fill {
    Gray(u8),
    Rgb([u8; 3]),
}

impl Default for Fill {
    fn default() -> Self {
        Fill::Gray(0)
    }
}

impl Fill {
    /// The RGB triple.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Fill::Gray(v) => [v; 3],
            Fill::Rgb(rgb) => rgb,
        }
    }
}

/// One op of an augmentation chain, named by its `op` key; semantics and defaults are torchvision 0.29's
/// (transforms v1 on a PIL image), with bicubic resampling wherever an op resizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Augmentation {
    /// `Resize(size)`: the shorter side becomes `size` (aspect kept).
    Resize { size: u32 },
    /// `RandomResizedCrop(size, scale, ratio, BICUBIC)`: a random crop of `scale` of the area and aspect
    /// ratio in `ratio` (log-uniform), resized to `size`×`size`.
    RandomResizedCrop {
        size: u32,
        #[serde(default = "default_scale")]
        scale: [f32; 2],
        #[serde(default = "default_ratio")]
        ratio: [f32; 2],
    },
    /// `RandomCrop(size, padding, padding_mode=...)`: pads every side by `padding`, then crops `size`×`size`
    /// at a random position (an image still smaller than `size` is padded as with `pad_if_needed=True`).
    RandomCrop {
        size: u32,
        #[serde(default)]
        padding: u32,
        #[serde(default)]
        padding_mode: PaddingMode,
    },
    /// `AugMix(severity, mixture_width, chain_depth, alpha, all_ops)` with its default bilinear
    /// interpolation and no fill.
    #[serde(rename = "augmix", alias = "aug_mix")]
    AugMix {
        #[serde(default = "default_severity")]
        severity: u32,
        #[serde(default = "default_mixture_width")]
        mixture_width: u32,
        #[serde(default = "default_chain_depth")]
        chain_depth: i32,
        #[serde(default = "default_alpha")]
        alpha: f32,
        #[serde(default = "default_true")]
        all_ops: bool,
    },
    /// `ColorJitter(brightness, contrast, saturation, hue)`: the four adjustments in a random order, each
    /// with a factor drawn uniformly from its range (0 disables it).
    ColorJitter {
        #[serde(default)]
        brightness: Range,
        #[serde(default)]
        contrast: Range,
        #[serde(default)]
        saturation: Range,
        #[serde(default)]
        hue: Range,
    },
    /// `RandomHorizontalFlip(p)`.
    HorizontalFlip {
        #[serde(default = "default_half")]
        p: f32,
    },
    /// `RandomAffine(degrees, translate, scale, shear, NEAREST, fill)` about the image centre.
    RandomAffine {
        degrees: Range,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        translate: Option<[f32; 2]>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scale: Option<[f32; 2]>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shear: Option<Shear>,
        #[serde(default)]
        fill: Fill,
    },
    /// `RandomPerspective(distortion_scale, p, NEAREST, fill)`.
    RandomPerspective {
        #[serde(default = "default_half")]
        distortion_scale: f32,
        #[serde(default = "default_half")]
        p: f32,
        #[serde(default)]
        fill: Fill,
    },
    /// `RandomAutocontrast(p)`.
    RandomAutocontrast {
        #[serde(default = "default_half")]
        p: f32,
    },
    /// `RandomEqualize(p)`.
    RandomEqualize {
        #[serde(default = "default_half")]
        p: f32,
    },
}

fn default_scale() -> [f32; 2] {
    [0.08, 1.0]
}

fn default_ratio() -> [f32; 2] {
    [3.0 / 4.0, 4.0 / 3.0]
}

fn default_severity() -> u32 {
    3
}

fn default_mixture_width() -> u32 {
    3
}

fn default_chain_depth() -> i32 {
    -1
}

fn default_alpha() -> f32 {
    1.0
}

fn default_true() -> bool {
    true
}

fn default_half() -> f32 {
    0.5
}

impl Augmentation {
    /// The op's name as written in a chain.
    pub fn name(&self) -> &'static str {
        match self {
            Augmentation::Resize { .. } => "resize",
            Augmentation::RandomResizedCrop { .. } => "random_resized_crop",
            Augmentation::RandomCrop { .. } => "random_crop",
            Augmentation::AugMix { .. } => "augmix",
            Augmentation::ColorJitter { .. } => "color_jitter",
            Augmentation::HorizontalFlip { .. } => "horizontal_flip",
            Augmentation::RandomAffine { .. } => "random_affine",
            Augmentation::RandomPerspective { .. } => "random_perspective",
            Augmentation::RandomAutocontrast { .. } => "random_autocontrast",
            Augmentation::RandomEqualize { .. } => "random_equalize",
        }
    }

    /// Checks the parameters (what torchvision's constructors check, plus what would make a draw fail).
    pub fn validate(&self) -> Result<(), AugmentError> {
        let op = self.name();
        let fail = |field: &'static str, reason: String| Err(AugmentError { op, field, reason });
        let positive_size = |size: u32| {
            if size == 0 {
                fail("size", "must be at least 1".into())
            } else {
                Ok(())
            }
        };
        let probability = |field: &'static str, p: f32| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                fail(field, format!("must be in [0, 1], got {p}"))
            }
        };
        let ordered = |field: &'static str, [min, max]: [f32; 2], low: f32, high: f32| {
            if low <= min && min <= max && max <= high {
                Ok(())
            } else {
                fail(
                    field,
                    format!(
                        "must be [min, max] with {low} <= min <= max <= {high}, got [{min}, {max}]"
                    ),
                )
            }
        };
        match self {
            Augmentation::Resize { size } => positive_size(*size),
            Augmentation::RandomResizedCrop { size, scale, ratio } => {
                positive_size(*size)?;
                ordered("scale", *scale, f32::MIN_POSITIVE, f32::MAX)?;
                ordered("ratio", *ratio, f32::MIN_POSITIVE, f32::MAX)
            }
            Augmentation::RandomCrop { size, .. } => positive_size(*size),
            Augmentation::AugMix {
                severity,
                mixture_width,
                alpha,
                ..
            } => {
                if !(1..=10).contains(severity) {
                    return fail("severity", format!("must be in [1, 10], got {severity}"));
                }
                if *mixture_width == 0 {
                    return fail("mixture_width", "must be at least 1".into());
                }
                if !(alpha.is_finite() && *alpha > 0.0) {
                    return fail("alpha", format!("must be positive, got {alpha}"));
                }
                Ok(())
            }
            Augmentation::ColorJitter {
                brightness,
                contrast,
                saturation,
                hue,
            } => {
                for (field, range) in [
                    ("brightness", brightness),
                    ("contrast", contrast),
                    ("saturation", saturation),
                ] {
                    match range {
                        Range::Value(v) if !(*v >= 0.0 && v.is_finite()) => {
                            return fail(field, format!("must be non-negative, got {v}"));
                        }
                        Range::Bounds(bounds) => ordered(field, *bounds, 0.0, f32::MAX)?,
                        Range::Value(_) => {}
                    }
                }
                match hue {
                    Range::Value(v) if !(0.0..=0.5).contains(v) => {
                        fail("hue", format!("must be in [0, 0.5], got {v}"))
                    }
                    Range::Bounds(bounds) => ordered("hue", *bounds, -0.5, 0.5),
                    Range::Value(_) => Ok(()),
                }
            }
            Augmentation::HorizontalFlip { p }
            | Augmentation::RandomAutocontrast { p }
            | Augmentation::RandomEqualize { p } => probability("p", *p),
            Augmentation::RandomAffine {
                degrees,
                translate,
                scale,
                shear,
                ..
            } => {
                match degrees {
                    Range::Value(v) if !(*v >= 0.0 && v.is_finite()) => {
                        return fail("degrees", format!("must be non-negative, got {v}"));
                    }
                    Range::Bounds(bounds) => ordered("degrees", *bounds, f32::MIN, f32::MAX)?,
                    Range::Value(_) => {}
                }
                if let Some(translate) = translate
                    && !translate.iter().all(|t| (0.0..=1.0).contains(t))
                {
                    return fail(
                        "translate",
                        format!("values must be in [0, 1], got {translate:?}"),
                    );
                }
                if let Some(scale) = scale {
                    ordered("scale", *scale, f32::MIN_POSITIVE, f32::MAX)?;
                }
                match shear {
                    Some(Shear::Value(v)) if !(*v >= 0.0 && v.is_finite()) => {
                        fail("shear", format!("must be non-negative, got {v}"))
                    }
                    Some(Shear::X(x)) => ordered("shear", *x, f32::MIN, f32::MAX),
                    Some(Shear::XY([x0, x1, y0, y1])) => {
                        ordered("shear", [*x0, *x1], f32::MIN, f32::MAX)?;
                        ordered("shear", [*y0, *y1], f32::MIN, f32::MAX)
                    }
                    _ => Ok(()),
                }
            }
            Augmentation::RandomPerspective {
                distortion_scale,
                p,
                ..
            } => {
                probability("p", *p)?;
                if !(0.0..=1.0).contains(distortion_scale) {
                    return fail(
                        "distortion_scale",
                        format!("must be in [0, 1], got {distortion_scale}"),
                    );
                }
                Ok(())
            }
        }
    }
}
