//! The chain of augmentations a recipe lists in TOML (`[[...augment]]` tables with an `op` key, see
//! [`Augmentation`]); [`AugmentChain::apply`] runs it on one decoded image with a per-sample seed, so a draw is
//! reproducible. Random draws follow torchvision's `get_params` (same distributions, same order) on our own
//! `Pcg64` stream.

use image::RgbImage;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use crate::error::AugmentError;
use crate::seed::mix_seed;
use crate::spec::Augmentation;
use crate::transforms;

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
    pub fn new(ops: Vec<Augmentation>) -> Result<Self, AugmentError> {
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
    type Error = AugmentError;

    fn try_from(ops: Vec<Augmentation>) -> Result<Self, AugmentError> {
        Self::new(ops)
    }
}

impl From<AugmentChain> for Vec<Augmentation> {
    fn from(chain: AugmentChain) -> Self {
        chain.0
    }
}
