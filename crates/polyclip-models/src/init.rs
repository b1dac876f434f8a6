//! Deterministic, backend-independent parameter initialisation.
//!
//! Weights are drawn on the host from a seeded PCG stream and uploaded, instead of using the backend's global
//! RNG: the same seed gives bit-identical initial weights on ndarray, CUDA and LibTorch, and tests that build
//! models in parallel threads do not disturb each other's draws.

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::{Tensor, TensorData, backend::Backend};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

use crate::error::ModelError;

/// Standard deviation used by BERT, XLM-R and CLIP (`initializer_range`) for weights and embeddings.
pub const DEFAULT_STD: f64 = 0.02;

/// A model config: it builds its model from an [`Initializer`], which gives every model its two ways of being
/// built — with weights drawn from a seed, or all zeros for a checkpoint to fill.
pub trait BuildModel {
    /// The model this config builds, on any backend.
    type Model<B: Backend>;

    /// Validates the config and builds the model, drawing every parameter from `init`.
    fn build<B: Backend>(&self, init: &mut Initializer<B>) -> Result<Self::Model<B>, ModelError>;

    /// Builds the model with weights drawn from `seed` (identical on every backend).
    fn init<B: Backend>(
        &self,
        seed: u64,
        device: &B::Device,
    ) -> Result<Self::Model<B>, ModelError> {
        self.build(&mut Initializer::new(seed, device))
    }

    /// Builds the model with all-zero parameters, for a checkpoint to fill.
    fn init_zeros<B: Backend>(&self, device: &B::Device) -> Result<Self::Model<B>, ModelError> {
        self.build(&mut Initializer::zeros(device))
    }
}

/// A seeded source of initial parameters on one device.
pub struct Initializer<'a, B: Backend> {
    /// `None`: every draw is zeros (a module tree that a checkpoint will fill).
    rng: Option<Pcg64>,
    device: &'a B::Device,
}

impl<'a, B: Backend> Initializer<'a, B> {
    /// Starts a stream of draws from `seed` that allocates on `device`.
    pub fn new(seed: u64, device: &'a B::Device) -> Self {
        Self {
            rng: Some(Pcg64::seed_from_u64(seed)),
            device,
        }
    }

    /// Fills every parameter with zeros instead of drawing it: for models whose weights are loaded next
    /// (drawing 366 M normal values on the host only to overwrite them was most of a checkpoint's load time).
    pub fn zeros(device: &'a B::Device) -> Self {
        Self { rng: None, device }
    }

    /// The device parameters are created on.
    pub fn device(&self) -> &'a B::Device {
        self.device
    }

    /// `N(0, std²)` values of the given shape (Box–Muller on the PCG stream).
    pub fn normal<const D: usize>(&mut self, shape: [usize; D], std: f64) -> Tensor<B, D> {
        let Some(rng) = self.rng.as_mut() else {
            return Tensor::zeros(shape, self.device);
        };
        let count: usize = shape.iter().product();
        let mut values = Vec::with_capacity(count);
        while values.len() < count {
            let u1: f64 = 1.0 - rng.random::<f64>();
            let u2: f64 = rng.random::<f64>();
            let radius = (-2.0 * u1.ln()).sqrt() * std;
            let angle = std::f64::consts::TAU * u2;
            values.push((radius * angle.cos()) as f32);
            values.push((radius * angle.sin()) as f32);
        }
        values.truncate(count);
        Tensor::from_data(TensorData::new(values, shape), self.device)
    }

    /// A tensor filled with `value`.
    pub fn constant<const D: usize>(&self, shape: [usize; D], value: f32) -> Tensor<B, D> {
        Tensor::full(shape, value, self.device)
    }

    /// A `Linear` with weights `N(0, std²)` (stored `[in, out]` as burn does) and zero bias.
    pub fn linear(&mut self, d_in: usize, d_out: usize, bias: bool, std: f64) -> Linear<B> {
        Linear {
            weight: Param::from_tensor(self.normal([d_in, d_out], std)),
            bias: bias.then(|| Param::from_tensor(self.constant([d_out], 0.0))),
        }
    }

    /// An `Embedding` table `[n, d]` with `N(0, std²)` entries.
    pub fn embedding(&mut self, n: usize, d: usize, std: f64) -> Embedding<B> {
        Embedding {
            weight: Param::from_tensor(self.normal([n, d], std)),
        }
    }

    /// A `LayerNorm` with unit scale and zero shift.
    pub fn layer_norm(&self, d: usize, epsilon: f64) -> LayerNorm<B> {
        LayerNormConfig::new(d)
            .with_epsilon(epsilon)
            .init(self.device)
    }
}
