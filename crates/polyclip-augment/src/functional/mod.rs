//! The deterministic image functions behind the augmentations, computed as torchvision 0.29 computes them on
//! a PIL image (which means Pillow's C code): given their parameters they agree with torchvision/Pillow to
//! within one uint8 level, most of them exactly (tests/augment_parity.rs measures it against fixtures).

pub mod color;
pub mod geometry;
pub mod histogram;

pub use color::{
    adjust_brightness, adjust_contrast, adjust_hue, adjust_saturation, adjust_sharpness, blend,
};
pub use geometry::{
    PaddingMode, affine, crop, hflip, inverse_affine_matrix, pad, perspective, perspective_coeffs,
    resize, resize_shorter, resized_crop, rotate,
};
pub use histogram::{autocontrast, equalize, posterize, solarize};
