//! [`TorchAdam`]'s update on burn-flex as one in-place pass over the `f32` buffers of the parameter, its
//! gradient and the two moments.
//!
//! Written with burn's tensor operations the update is 15 element-wise passes and 5 fresh buffers of the
//! parameter's size; on XLM-R's 250 002 × 768 word embedding (732 MiB) those passes, the zeroing of fresh pages
//! and burn-flex's one-threaded scalar operations took most of a CAPIVARA step's non-matmul time. Here every
//! element goes through the same `f32` operations in the same order (the scalars rounded to `f32` once, as
//! burn-flex rounds a scalar operand), so the result is bit for bit [`TorchAdam::step_generic`]'s; the test
//! `in_place_adam_on_flex_is_the_generic_update_bit_for_bit` (tests/optimizer_parity.rs) holds it to that.
//! Buffers shared with another tensor are copied first (burn-flex's copy-on-write), never written through.

use std::any::Any;

use burn::backend::Flex;
use burn::optim::{AdamState, AdaptiveMomentumState, LearningRate};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorPrimitive};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use crate::torch_adam::TorchAdam;

/// A parameter, its gradient and its state, as [`burn::optim::SimpleOptimizer::step`] takes them.
type Inputs<B, const D: usize> = (Tensor<B, D>, Tensor<B, D>, Option<AdamState<B, D>>);
/// The stepped parameter and its state.
type Stepped<B, const D: usize> = (Tensor<B, D>, Option<AdamState<B, D>>);

/// Elements per task of the parallel pass: 256 KiB of each of the four buffers.
const CHUNK: usize = 1 << 16;

/// The update: in place where `B` is burn-flex, [`TorchAdam::step_generic`] on every other backend.
pub(crate) fn step<B: Backend, const D: usize>(
    adam: &TorchAdam,
    lr: LearningRate,
    tensor: Tensor<B, D>,
    grad: Tensor<B, D>,
    state: Option<AdamState<B, D>>,
) -> Stepped<B, D> {
    match cast::<Inputs<B, D>, Inputs<Flex, D>>((tensor, grad, state)) {
        Ok((tensor, grad, state)) => {
            match cast::<Stepped<Flex, D>, Stepped<B, D>>(step_flex(adam, lr, tensor, grad, state))
            {
                Ok(stepped) => stepped,
                Err(_) => unreachable!("the inputs were cast from B to Flex, so B is Flex"),
            }
        }
        Err((tensor, grad, state)) => adam.step_generic(lr, tensor, grad, state),
    }
}

/// `value` as a `U`, where `T` is `U` (the value back otherwise).
fn cast<T: 'static, U: 'static>(value: T) -> Result<U, T> {
    let mut slot = Some(value);
    if let Some(value) = (&mut slot as &mut dyn Any)
        .downcast_mut::<Option<U>>()
        .and_then(Option::take)
    {
        return Ok(value);
    }
    match slot {
        Some(value) => Err(value),
        None => unreachable!("a value is either taken as a U or still in its slot"),
    }
}

fn step_flex<const D: usize>(
    adam: &TorchAdam,
    lr: LearningRate,
    tensor: Tensor<Flex, D>,
    grad: Tensor<Flex, D>,
    state: Option<AdamState<Flex, D>>,
) -> Stepped<Flex, D> {
    match adam.step_in_place_flex(lr, tensor, grad, state) {
        Ok(stepped) => stepped,
        Err((tensor, grad, state)) => adam.step_generic(lr, tensor, grad, state),
    }
}

impl TorchAdam {
    /// The update as one in-place pass over burn-flex's `f32` buffers: what [`SimpleOptimizer::step`] runs on
    /// burn-flex. The inputs come back where it does not apply (a dtype other than `f32`, a gradient or state of
    /// another shape, AMSGrad's third moment).
    ///
    /// [`SimpleOptimizer::step`]: burn::optim::SimpleOptimizer::step
    // The two tuples are `SimpleOptimizer::step`'s own inputs and outputs, returned by value as it takes them.
    #[allow(clippy::type_complexity, clippy::result_large_err)]
    pub fn step_in_place_flex<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<Flex, D>,
        grad: Tensor<Flex, D>,
        state: Option<AdamState<Flex, D>>,
    ) -> Result<
        (Tensor<Flex, D>, Option<AdamState<Flex, D>>),
        (Tensor<Flex, D>, Tensor<Flex, D>, Option<AdamState<Flex, D>>),
    > {
        let adam = self;
        let fits = |other: &Tensor<Flex, D>| {
            other.dtype() == DType::F32 && other.shape() == tensor.shape()
        };
        let state_fits = state.as_ref().is_none_or(|state| {
            fits(&state.momentum.moment_1)
                && fits(&state.momentum.moment_2)
                && state.momentum.max_moment_2.is_none()
        });
        if !(fits(&tensor) && fits(&grad) && state_fits) {
            return Err((tensor, grad, state));
        }
        let shape = tensor.shape();
        let elements = shape.num_elements();
        let (time, moments) = match state {
            Some(state) => (
                state.momentum.time,
                Some((
                    writable(state.momentum.moment_1),
                    writable(state.momentum.moment_2),
                )),
            ),
            None => (0, None),
        };
        let (mut exp_avg, mut exp_avg_sq) = moments.unwrap_or_else(|| {
            (
                FlexTensor::zeros(shape.clone(), DType::F32),
                FlexTensor::zeros(shape.clone(), DType::F32),
            )
        });
        let mut param = writable(tensor);
        let grad = writable(grad);
        let time = time.saturating_add(1);
        let scalars = Scalars::new(adam, lr, time);
        {
            let param = &mut param.storage_mut::<f32>()[..elements];
            let exp_avg = &mut exp_avg.storage_mut::<f32>()[..elements];
            let exp_avg_sq = &mut exp_avg_sq.storage_mut::<f32>()[..elements];
            let grad = &grad.storage::<f32>()[..elements];
            match scalars.decay {
                NO_DECAY => update::<NO_DECAY>(param, grad, exp_avg, exp_avg_sq, &scalars),
                COUPLED => update::<COUPLED>(param, grad, exp_avg, exp_avg_sq, &scalars),
                _ => update::<DECOUPLED>(param, grad, exp_avg, exp_avg_sq, &scalars),
            }
        }
        let float =
            |tensor: FlexTensor| Tensor::<Flex, D>::from_primitive(TensorPrimitive::Float(tensor));
        let momentum = AdaptiveMomentumState {
            time,
            moment_1: float(exp_avg),
            moment_2: float(exp_avg_sq),
            max_moment_2: None,
        };
        Ok((float(param), Some(AdamState { momentum })))
    }
}

/// `tensor`'s buffer, contiguous from offset 0: a strided view is copied out. One that is written in place and
/// shared with another tensor is copied by [`FlexTensor::storage_mut`] before the first write (the gradient is
/// only read).
fn writable<const D: usize>(tensor: Tensor<Flex, D>) -> FlexTensor {
    let tensor = tensor.into_primitive().tensor();
    if tensor.is_contiguous() && tensor.layout().start_offset() == 0 {
        tensor
    } else {
        tensor.to_contiguous()
    }
}

// Which weight decay, as `TorchAdam` applies it: none, coupled (`g + θ·wd`) or decoupled (`θ·(1 − lr·wd)`).
const NO_DECAY: u8 = 0;
const COUPLED: u8 = 1;
const DECOUPLED: u8 = 2;

/// The update's scalars, formed in `f64` as [`TorchAdam::step_generic`] forms them and rounded to `f32` once,
/// as burn-flex rounds the operand of a scalar operation.
struct Scalars {
    /// [`NO_DECAY`], [`COUPLED`] or [`DECOUPLED`].
    decay: u8,
    /// `wd` (coupled: `g + θ·wd`).
    weight_decay: f32,
    /// `1 − lr·wd` (decoupled: `θ·(1 − lr·wd)`).
    keep: f32,
    /// `|1 − β₁| < 0.5`: `m + (g − m)·(1 − β₁)`; otherwise `g − (g − m)·(1 − (1 − β₁))`, as torch's `lerp`.
    small_weight: bool,
    lerp_weight: f32,
    lerp_rest: f32,
    beta_2: f32,
    one_minus_beta_2: f32,
    bias_correction_2_sqrt: f32,
    eps: f32,
    /// `−lr/(1 − β₁ᵗ)`.
    neg_step_size: f32,
}

impl Scalars {
    fn new(adam: &TorchAdam, lr: LearningRate, time: usize) -> Self {
        let decay = match (adam.weight_decay != 0.0, adam.decoupled) {
            (false, _) => NO_DECAY,
            (true, false) => COUPLED,
            (true, true) => DECOUPLED,
        };
        let weight = 1.0 - adam.beta_1;
        let (step_size, bias_correction_2_sqrt) = adam.bias_corrections(lr, time);
        Self {
            decay,
            weight_decay: adam.weight_decay as f32,
            keep: (1.0 - lr * adam.weight_decay) as f32,
            small_weight: weight.abs() < 0.5,
            lerp_weight: weight as f32,
            lerp_rest: (1.0 - f64::from(weight as f32)) as f32,
            beta_2: adam.beta_2 as f32,
            one_minus_beta_2: (1.0 - adam.beta_2) as f32,
            bias_correction_2_sqrt: bias_correction_2_sqrt as f32,
            eps: adam.eps as f32,
            neg_step_size: (-step_size) as f32,
        }
    }
}

/// One pass over the four buffers, in chunks over burn-flex's thread pool, with the decay `DECAY` and the form of
/// `lerp` as constants, so that each element loop is branch-free and vectorizes.
fn update<const DECAY: u8>(
    param: &mut [f32],
    grad: &[f32],
    exp_avg: &mut [f32],
    exp_avg_sq: &mut [f32],
    s: &Scalars,
) {
    if s.small_weight {
        update_with::<DECAY, true>(param, grad, exp_avg, exp_avg_sq, s)
    } else {
        update_with::<DECAY, false>(param, grad, exp_avg, exp_avg_sq, s)
    }
}

fn update_with<const DECAY: u8, const SMALL_WEIGHT: bool>(
    param: &mut [f32],
    grad: &[f32],
    exp_avg: &mut [f32],
    exp_avg_sq: &mut [f32],
    s: &Scalars,
) {
    param
        .par_chunks_mut(CHUNK)
        .zip(grad.par_chunks(CHUNK))
        .zip(exp_avg.par_chunks_mut(CHUNK))
        .zip(exp_avg_sq.par_chunks_mut(CHUNK))
        .for_each(|(((param, grad), exp_avg), exp_avg_sq)| {
            for (((p, &g), m), v) in param
                .iter_mut()
                .zip(grad)
                .zip(exp_avg.iter_mut())
                .zip(exp_avg_sq.iter_mut())
            {
                let mut theta = *p;
                let mut g = g;
                if DECAY == DECOUPLED {
                    theta *= s.keep;
                }
                if DECAY == COUPLED {
                    g += theta * s.weight_decay;
                }
                *m = if SMALL_WEIGHT {
                    *m + (g - *m) * s.lerp_weight
                } else {
                    g - (g - *m) * s.lerp_rest
                };
                *v = *v * s.beta_2 + (g * s.one_minus_beta_2) * g;
                let denom = v.sqrt() / s.bias_correction_2_sqrt + s.eps;
                *p = theta + (*m * s.neg_step_size) / denom;
            }
        });
}
