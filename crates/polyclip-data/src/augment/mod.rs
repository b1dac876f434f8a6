//! Training-time image augmentations with torchvision 0.29's semantics (transforms v1 on a PIL image).
//!
//! A recipe lists a chain of ops in TOML (`[[...augment]]` tables with an `op` key, see [`Augmentation`]);
//! [`AugmentChain::apply`] runs it on one decoded image with a per-sample seed, so a draw is reproducible.
//! Random draws follow torchvision's `get_params` (same distributions, same order) on our own `Pcg64`
//! stream; every deterministic function behind them ([`functional`], and [`functional_tensor`] for AugMix,
//! which torchvision runs on a `uint8` tensor) matches torchvision/Pillow to within one uint8 level, most of
//! them exactly (tests/augment_parity.rs).

pub mod augmix;
pub mod functional;
pub mod functional_tensor;
pub mod spec;
pub mod transforms;

use image::RgbImage;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

pub use augmix::AugMixOp;
pub use functional::PaddingMode;
pub use spec::{Augmentation, Fill, Range, Shear};

use crate::error::DataError;
use crate::loader::mix_seed;

/// Separates the augmentation stream of a draw seed from the other uses of the same seed (the caption
/// choice draws from `Pcg64::seed_from_u64(seed)` directly).
const AUGMENT_STREAM: u64 = 0x6175_676d_656e_7400; // "augment\0"

/// A validated chain of augmentations, applied in order. Deserializes from (and serializes to) a list of
/// [`Augmentation`] tables, validating as it goes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Augmentation>", into = "Vec<Augmentation>")]
pub struct AugmentChain(Vec<Augmentation>);

impl AugmentChain {
    /// A chain of `ops`, failing on the first op whose parameters it cannot run with.
    pub fn new(ops: Vec<Augmentation>) -> Result<Self, DataError> {
        for op in &ops {
            op.validate()?;
        }
        Ok(Self(ops))
    }

    /// The ops, in order.
    pub fn ops(&self) -> &[Augmentation] {
        &self.0
    }

    /// Whether the chain does nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Runs the chain on `image` with draws from `seed` (the same seed gives the same output). Empty images
    /// come back unchanged.
    pub fn apply(&self, image: RgbImage, seed: u64) -> RgbImage {
        if image.width() == 0 || image.height() == 0 {
            return image;
        }
        let mut rng = Pcg64::seed_from_u64(mix_seed(&[seed, AUGMENT_STREAM]));
        self.0
            .iter()
            .fold(image, |image, op| transforms::apply(op, image, &mut rng))
    }
}

impl TryFrom<Vec<Augmentation>> for AugmentChain {
    type Error = DataError;

    fn try_from(ops: Vec<Augmentation>) -> Result<Self, DataError> {
        Self::new(ops)
    }
}

impl From<AugmentChain> for Vec<Augmentation> {
    fn from(chain: AugmentChain) -> Self {
        chain.0
    }
}
