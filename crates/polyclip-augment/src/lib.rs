//! Image transforms with torchvision 0.29's semantics, for training-time augmentation: Pillow-exact resampling
//! ([`resample`], also used by the CLIP preprocessing in polyclip-data), the deterministic functions
//! ([`functional`], and [`functional_tensor`] for AugMix, which torchvision runs on a `uint8` tensor), the
//! random transforms that draw their parameters as torchvision's `get_params` does ([`transforms`]), and the
//! chain a recipe lists in TOML ([`AugmentChain`], ops in [`spec`]).
//!
//! Every deterministic function matches torchvision/Pillow to within one uint8 level, most of them exactly
//! (tests/augment_parity.rs, fed by tests/fixtures/make_augment_fixtures.py).

pub mod augmix;
pub mod chain;
pub mod error;
pub mod functional;
pub mod functional_tensor;
pub mod resample;
pub mod seed;
pub mod spec;
pub mod transforms;

pub use augmix::AugMixOp;
pub use chain::AugmentChain;
pub use error::AugmentError;
pub use functional::PaddingMode;
pub use seed::mix_seed;
pub use spec::{Augmentation, Fill, Range, Shear};
