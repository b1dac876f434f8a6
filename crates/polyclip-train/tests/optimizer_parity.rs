//! Parity with the methods' own frameworks, on the fixtures tests/fixtures/make_optim_fixtures.py writes
//! (tests/fixtures/optim/*.json):
//! - clip-italian's optimiser (optax adaptive_grad_clip → scale_by_belief → its warm-up + cosine schedule),
//! - torch.optim.Adam with coupled weight decay (CAPIVARA) and torch.optim.AdamW,
//! - one symmetric InfoNCE step (loss and gradients through the L2 normalisation and the logit scale),
//! - the learning-rate schedules (CAPIVARA, clip-italian, transformers).
//!
//! Every test that computes runs on every backend compiled in (`NAME::ndarray`, `NAME::flex`, `NAME::tch` …, see
//! `polyclip_backend::every_backend_test!`), with the same tolerances.
//!
//! Optimiser steps run through [`ClipOptimizer`] on a tiny module on `Autodiff<backend>` (f32). Gradients are
//! injected exactly: the loss `Σ param · given_grad` has gradient `given_grad`. Each optimiser test also runs a
//! deliberately wrong variant (another epsilon, the other weight-decay coupling) and checks that *it* fails the
//! same tolerance, so the tolerances are known to be tight enough to catch such mistakes.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use burn::backend::Autodiff;
use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use polyclip_backend::every_backend_test;
use polyclip_models::clip::model::l2_normalize;
use polyclip_train::{ClipOptimizer, LrSchedule, OptimizerConfig, contrastive_loss};
use serde::Deserialize;

/// Max relative difference (element-wise) of the parameters from optax's AdaBelief + AGC over 5 steps.
/// Measured: 1.8e-7 (a few f32 ulps: the unit norms are summed in another order). Wrong variants measured
/// against the same references: belief `eps` 1e-8 instead of 1e-16: 4.4e-2; `eps_root` 0: 2.5e-1; AGC `eps`
/// 1e-2 instead of 1e-3: 29; and the bias corrections formed with `f32::powi`: 2e-4.
const ADABELIEF_TOLERANCE: f64 = 1e-5;
/// Max relative difference (element-wise) of the parameters from torch's Adam / AdamW over 5 steps.
/// Measured: 2.4e-7 (Adam, coupled decay 0.2) and 1.1e-7 (AdamW); the other coupling: 1.7e-1; burn's own
/// `Adam`/`AdamW` (bias corrections in f32): 7e-7 and 1.6e-5.
const ADAM_TOLERANCE: f64 = 1e-6;
/// Max relative difference of the contrastive loss (element-wise), of the embedding gradients (relative to
/// their largest element, see [`max_relative_to_peak`]) and of the logit-scale gradient (relative to the loss:
/// it is a sum of 72 terms of the loss's size that cancels to 0.019, so relative to itself it measures f32's
/// rounding of those terms — 4.2e-6 on ndarray, 1.6e-5 on LibTorch — not a mistake), f32 against f64
/// references. Measured (ndarray): learnable scale: loss 1.4e-7, image 2.2e-7, text 3.2e-7, logit scale 8e-8;
/// fixed 20: loss 2.4e-7, image 3.5e-7, text 3.8e-7. A wrong scale gradient (without the factor s) is off by ~1.
const LOSS_TOLERANCE: f64 = 1e-5;
/// Max relative difference of the schedules' rates (f64). Measured: 1.7e-16.
const SCHEDULE_TOLERANCE: f64 = 1e-9;

fn fixture<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/optim")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run tests/fixtures/make_optim_fixtures.py)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `max |a − b| / |b|` over the elements (a zero reference must be matched exactly).
fn max_relative(actual: &[f64], expected: &[f64]) -> f64 {
    assert_eq!(actual.len(), expected.len());
    actual
        .iter()
        .zip(expected)
        .map(
            |(&a, &b)| {
                if a == b { 0.0 } else { (a - b).abs() / b.abs() }
            },
        )
        .fold(0.0, f64::max)
}

/// `max |a − b| / max |b|`: the error relative to the tensor's largest element. Gradients are compared this
/// way: an f32 backward pass has absolute errors of a few ulps of the largest terms, which are large relative
/// to the small elements (element-wise, the f32 gradients here differ from the f64 references by up to 3e-5).
fn max_relative_to_peak(actual: &[f64], expected: &[f64]) -> f64 {
    assert_eq!(actual.len(), expected.len());
    let peak = expected.iter().fold(0.0f64, |m, &b| m.max(b.abs()));
    let worst = actual
        .iter()
        .zip(expected)
        .fold(0.0f64, |m, (&a, &b)| m.max((a - b).abs()));
    worst / peak
}

fn widen(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&v| f64::from(v)).collect()
}

fn values<C: Backend, const D: usize>(tensor: Tensor<C, D>) -> Vec<f64> {
    tensor
        .into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .expect("f64 data")
}

fn tensor<B: Backend, const D: usize>(values: &[f32], shape: &[usize]) -> Tensor<B, D> {
    Tensor::from_data(
        TensorData::new(values.to_vec(), shape.to_vec()),
        &Default::default(),
    )
}

// ------------------------------------------------------------------------------------------- optimiser runs

/// One parameter of each rank and layout the fixtures use.
#[derive(Module, Debug)]
struct Params<B: Backend> {
    scale: Param<Tensor<B, 1>>,
    bias: Param<Tensor<B, 1>>,
    row: Param<Tensor<B, 2>>,
    kernel: Param<Tensor<B, 2>>,
    conv: Param<Tensor<B, 4>>,
}

const NAMES: [&str; 5] = ["scale", "bias", "row", "kernel", "conv"];

#[derive(Deserialize)]
struct ParamFixture {
    shape: Vec<usize>,
    init: Vec<f32>,
    grads: Vec<Vec<f32>>,
    #[serde(default)]
    after: Vec<Vec<f32>>,
}

type ParamFixtures = std::collections::BTreeMap<String, ParamFixture>;

fn init<B: AutodiffBackend>(params: &ParamFixtures) -> Params<B> {
    let p = |name: &str| &params[name];
    Params {
        scale: Param::from_tensor(tensor(&p("scale").init, &p("scale").shape)),
        bias: Param::from_tensor(tensor(&p("bias").init, &p("bias").shape)),
        row: Param::from_tensor(tensor(&p("row").init, &p("row").shape)),
        kernel: Param::from_tensor(tensor(&p("kernel").init, &p("kernel").shape)),
        conv: Param::from_tensor(tensor(&p("conv").init, &p("conv").shape)),
    }
}

fn snapshot<B: AutodiffBackend>(module: &Params<B>) -> Vec<Vec<f64>> {
    vec![
        values(module.scale.val()),
        values(module.bias.val()),
        values(module.row.val()),
        values(module.kernel.val()),
        values(module.conv.val()),
    ]
}

/// `Σ param · grad`, whose gradient with respect to each parameter is exactly the given gradient.
fn injected_gradients<B: AutodiffBackend>(
    module: &Params<B>,
    params: &ParamFixtures,
    step: usize,
) -> GradientsParams {
    let g = |name: &str| (&params[name].grads[step], &params[name].shape);
    let (scale, bias, row, kernel, conv) =
        (g("scale"), g("bias"), g("row"), g("kernel"), g("conv"));
    let loss = (module.scale.val() * tensor::<B, 1>(scale.0, scale.1)).sum()
        + (module.bias.val() * tensor::<B, 1>(bias.0, bias.1)).sum()
        + (module.row.val() * tensor::<B, 2>(row.0, row.1)).sum()
        + (module.kernel.val() * tensor::<B, 2>(kernel.0, kernel.1)).sum()
        + (module.conv.val() * tensor::<B, 4>(conv.0, conv.1)).sum();
    GradientsParams::from_grads(loss.backward(), module)
}

/// Runs `steps` optimiser steps from the fixture's initial values; returns the parameters after every step.
/// With `save_after`, the optimiser state is saved after that many steps and a fresh optimiser loads it.
fn optimize<B: AutodiffBackend>(
    config: &OptimizerConfig,
    lrs: &[f64],
    params: &ParamFixtures,
    save_after: Option<(usize, &Path)>,
) -> Vec<Vec<Vec<f64>>> {
    let mut module = init(params);
    let mut optimizer = ClipOptimizer::<Params<B>, B>::new(config);
    let mut history = Vec::new();
    for (step, &lr) in lrs.iter().enumerate() {
        if let Some((at, dir)) = save_after
            && at == step
        {
            let path = dir.join("optimizer");
            optimizer.save(&path).expect("save the optimiser state");
            optimizer = ClipOptimizer::new(config)
                .load(&path, &Default::default())
                .expect("load the optimiser state");
        }
        let grads = injected_gradients(&module, params, step);
        module = optimizer.step(lr, module, grads);
        history.push(snapshot(&module));
    }
    history
}

/// The largest relative difference of `history` from `expected[step][param]` (in [`NAMES`] order).
fn max_difference(history: &[Vec<Vec<f64>>], expected: &[Vec<Vec<f64>>]) -> f64 {
    assert_eq!(history.len(), expected.len());
    history
        .iter()
        .zip(expected)
        .flat_map(|(got, want)| got.iter().zip(want).map(|(g, w)| max_relative(g, w)))
        .fold(0.0, f64::max)
}

// -------------------------------------------------------------------------------- AdaBelief + AGC vs optax

#[derive(Deserialize)]
struct AdaBeliefFixture {
    optimizer: OptimizerConfig,
    schedule: LrSchedule,
    total_steps: usize,
    lrs: Vec<f64>,
    params: ParamFixtures,
}

impl AdaBeliefFixture {
    fn expected(&self) -> Vec<Vec<Vec<f64>>> {
        (0..self.lrs.len())
            .map(|step| {
                NAMES
                    .iter()
                    .map(|name| widen(&self.params[*name].after[step]))
                    .collect()
            })
            .collect()
    }
}

fn adabelief_with_agc_matches_optax<B: Backend>(_device: &B::Device) {
    let fixture: AdaBeliefFixture = fixture("adabelief_agc.json");
    let OptimizerConfig::Adabelief {
        betas,
        eps,
        eps_root,
        agc: Some(agc),
    } = fixture.optimizer
    else {
        panic!(
            "the fixture's optimiser is AdaBelief with AGC: {:?}",
            fixture.optimizer
        );
    };
    assert_eq!((betas, eps, eps_root), ([0.9, 0.999], 1e-16, 1e-16));
    assert_eq!((agc.clipping, agc.eps), (0.01, 1e-3));

    // The rates come from polyclip's clip-italian schedule; they must be the ones optax used.
    let lrs: Vec<f64> = (0..fixture.lrs.len())
        .map(|step| fixture.schedule.lr(step, fixture.total_steps))
        .collect();
    assert!(max_relative(&lrs, &fixture.lrs) <= SCHEDULE_TOLERANCE);

    let expected = fixture.expected();
    let difference = max_difference(
        &optimize::<Autodiff<B>>(&fixture.optimizer, &lrs, &fixture.params, None),
        &expected,
    );
    assert!(
        difference <= ADABELIEF_TOLERANCE,
        "AdaBelief + AGC differs from optax by {difference:e}"
    );

    // Saving and loading the state mid-run changes nothing.
    let dir = tempfile::tempdir().expect("temporary folder");
    let resumed = optimize::<Autodiff<B>>(
        &fixture.optimizer,
        &lrs,
        &fixture.params,
        Some((2, dir.path())),
    );
    assert!(max_difference(&resumed, &expected) <= ADABELIEF_TOLERANCE);
    assert_eq!(
        resumed,
        optimize::<Autodiff<B>>(&fixture.optimizer, &lrs, &fixture.params, None),
        "a save/load round trip of the AdaBelief state must be exact"
    );

    // Wrong variants fail the same tolerance.
    let variant = |eps, eps_root, agc_eps| OptimizerConfig::Adabelief {
        betas,
        eps,
        eps_root,
        agc: Some(polyclip_train::AgcConfig {
            clipping: agc.clipping,
            eps: agc_eps,
        }),
    };
    for (what, config) in [
        ("belief eps 1e-8", variant(1e-8, 1e-16, 1e-3)),
        ("eps_root 0", variant(1e-16, 0.0, 1e-3)),
        ("AGC eps 1e-2", variant(1e-16, 1e-16, 1e-2)),
    ] {
        let wrong = max_difference(
            &optimize::<Autodiff<B>>(&config, &lrs, &fixture.params, None),
            &expected,
        );
        assert!(
            wrong > ADABELIEF_TOLERANCE,
            "{what}: {wrong:e} should exceed the tolerance"
        );
    }
}
every_backend_test!(adabelief_with_agc_matches_optax);

// ----------------------------------------------------------------------------------- Adam / AdamW vs torch

#[derive(Deserialize)]
struct AdamRun {
    optimizer: OptimizerConfig,
    after: Vec<std::collections::BTreeMap<String, Vec<f32>>>,
}

#[derive(Deserialize)]
struct AdamFixture {
    schedule: LrSchedule,
    total_steps: usize,
    lrs: Vec<f64>,
    params: ParamFixtures,
    runs: std::collections::BTreeMap<String, AdamRun>,
}

impl AdamRun {
    fn expected(&self) -> Vec<Vec<Vec<f64>>> {
        self.after
            .iter()
            .map(|step| NAMES.iter().map(|name| widen(&step[*name])).collect())
            .collect()
    }
}

fn adam_with_coupled_decay_and_adamw_match_torch<B: Backend>(_device: &B::Device) {
    let fixture: AdamFixture = fixture("adam.json");
    let lrs: Vec<f64> = (0..fixture.lrs.len())
        .map(|step| fixture.schedule.lr(step, fixture.total_steps))
        .collect();
    assert!(max_relative(&lrs, &fixture.lrs) <= SCHEDULE_TOLERANCE);

    let adam = &fixture.runs["adam"];
    let adamw = &fixture.runs["adamw"];
    assert!(matches!(adam.optimizer, OptimizerConfig::Adam { .. }));
    assert!(matches!(adamw.optimizer, OptimizerConfig::Adamw { .. }));
    for (name, reference) in [("Adam", adam), ("AdamW", adamw)] {
        let difference = max_difference(
            &optimize::<Autodiff<B>>(&reference.optimizer, &lrs, &fixture.params, None),
            &reference.expected(),
        );
        assert!(
            difference <= ADAM_TOLERANCE,
            "{name} differs from torch by {difference:e}"
        );
    }

    // CAPIVARA's coupled decay is not AdamW's decoupled one at this tolerance (and vice versa).
    let OptimizerConfig::Adam {
        betas,
        eps,
        weight_decay,
    } = adam.optimizer
    else {
        unreachable!()
    };
    let decoupled = OptimizerConfig::Adamw {
        betas,
        eps,
        weight_decay,
    };
    let wrong = max_difference(
        &optimize::<Autodiff<B>>(&decoupled, &lrs, &fixture.params, None),
        &adam.expected(),
    );
    assert!(
        wrong > ADAM_TOLERANCE,
        "decoupled decay: {wrong:e} should exceed the tolerance"
    );
}
every_backend_test!(adam_with_coupled_decay_and_adamw_match_torch);

/// Deterministic values in about `[-scale, scale)` (a 64-bit LCG), for inputs that need no fixture.
fn pseudo_random(count: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn bits<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<u32> {
    let data = tensor.into_data();
    data.as_slice::<f32>()
        .expect("f32 data")
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

/// Where the in-place pass's parameter lives: its own buffer, a transposed view, a view at an offset into a larger
/// buffer, or a prefix view of a larger buffer (contiguous from offset 0 but shorter than it).
#[derive(Clone, Copy, Debug, PartialEq)]
enum ParamLayout {
    Own,
    Transposed,
    Offset,
    Prefix,
}

/// The address of a burn-flex tensor's buffer.
fn buffer_address<const D: usize>(tensor: &Tensor<burn::backend::Flex, D>) -> usize {
    tensor.clone().into_primitive().tensor().bytes().as_ptr() as usize
}

/// On burn-flex [`TorchAdam`] updates `f32` parameters in one in-place pass (`step_in_place_flex`,
/// src/torch_adam_flex.rs, which `SimpleOptimizer::step` runs there); it must
/// give exactly what the update written with burn's tensor operations gives, for every decay with both forms of
/// torch's `lerp`, over several steps, on a parameter longer than one parallel chunk with a ragged end, in every
/// [`ParamLayout`]; it must update an unshared parameter in its own buffer (else the pass was not taken) and never
/// write through a buffer another tensor shares.
#[test]
fn in_place_adam_on_flex_is_the_generic_update_bit_for_bit() {
    use burn::backend::Flex;
    use burn::optim::AdamState;
    use polyclip_train::TorchAdam;

    let adam = |beta_1: f64, weight_decay: f64, decoupled: bool| TorchAdam {
        beta_1,
        beta_2: 0.98,
        eps: 1e-6,
        weight_decay,
        decoupled,
    };
    let variants = [
        ("Adam, coupled decay 0.2 (CAPIVARA)", adam(0.9, 0.2, false)),
        ("AdamW, decay 0.1", adam(0.9, 0.1, true)),
        ("Adam, no decay", adam(0.9, 0.0, false)),
        (
            "Adam, beta_1 0.3 (lerp's other form)",
            adam(0.3, 0.2, false),
        ),
        ("AdamW, beta_1 0.3", adam(0.3, 0.1, true)),
        ("Adam, no decay, beta_1 0.3", adam(0.3, 0.0, false)),
    ];
    let shape = [3, 70_001];
    let count = shape[0] * shape[1];
    let init = pseudo_random(count, 1, 0.5);
    let padding = pseudo_random(shape[1], 2, 0.5);
    let lrs = [1e-3, 5e-4, 2e-3, 1e-3];
    let layouts = [
        ParamLayout::Own,
        ParamLayout::Transposed,
        ParamLayout::Offset,
        ParamLayout::Prefix,
    ];
    for (name, adam) in variants {
        for layout in layouts {
            let param = |values: &[f32]| -> Tensor<Flex, 2> {
                let padded = || {
                    let mut rows = values.to_vec();
                    rows.extend_from_slice(&padding);
                    rows
                };
                match layout {
                    ParamLayout::Own => tensor::<Flex, 2>(values, &shape),
                    ParamLayout::Transposed => {
                        tensor::<Flex, 2>(values, &[shape[1], shape[0]]).swap_dims(0, 1)
                    }
                    ParamLayout::Offset => {
                        let mut rows = padding.clone();
                        rows.extend_from_slice(values);
                        tensor::<Flex, 2>(&rows, &[shape[0] + 1, shape[1]]).narrow(0, 1, shape[0])
                    }
                    ParamLayout::Prefix => tensor::<Flex, 2>(&padded(), &[shape[0] + 1, shape[1]])
                        .narrow(0, 0, shape[0]),
                }
            };
            let (mut fused, mut generic) = (param(&init), param(&init));
            let mut fused_state: Option<AdamState<Flex, 2>> = None;
            let mut generic_state: Option<AdamState<Flex, 2>> = None;
            for (step, lr) in lrs.into_iter().enumerate() {
                let what = format!("{name}, {layout:?}, step {step}");
                let grad = pseudo_random(count, 10 + step as u64, 0.1);
                let grad = || tensor::<Flex, 2>(&grad, &shape);
                // Every other step a second handle shares the parameter's buffer; the pass must not write
                // through it. On the other steps nothing does, and a parameter with its own buffer is updated in it.
                let shared = (step % 2 == 1).then(|| fused.clone());
                let before = shared.clone().map(bits);
                let address = buffer_address(&fused);
                let (stepped, state) = adam
                    .step_in_place_flex(lr, fused, grad(), fused_state)
                    .unwrap_or_else(|_| panic!("{what}: the in-place pass did not apply"));
                if let (Some(shared), Some(before)) = (shared, before) {
                    assert_eq!(
                        bits(shared),
                        before,
                        "{what}: wrote through a shared buffer"
                    );
                } else if layout == ParamLayout::Own {
                    assert_eq!(
                        buffer_address(&stepped),
                        address,
                        "{what}: not updated in its own buffer"
                    );
                }
                (fused, fused_state) = (stepped, state);
                (generic, generic_state) = adam.step_generic(lr, generic, grad(), generic_state);
                let (Some(fused_moments), Some(generic_moments)) = (&fused_state, &generic_state)
                else {
                    panic!("{what}: no state");
                };
                let (fused_moments, generic_moments) =
                    (&fused_moments.momentum, &generic_moments.momentum);
                assert_eq!(fused_moments.time, generic_moments.time);
                assert!(
                    bits(fused.clone()) == bits(generic.clone()),
                    "{what}: parameters differ"
                );
                assert!(
                    bits(fused_moments.moment_1.clone()) == bits(generic_moments.moment_1.clone()),
                    "{what}: first moments differ"
                );
                assert!(
                    bits(fused_moments.moment_2.clone()) == bits(generic_moments.moment_2.clone()),
                    "{what}: second moments differ"
                );
            }
            // The parameters moved: a pass that changed nothing would also be "equal".
            assert_ne!(bits(fused), bits(param(&init)), "{name}: nothing moved");
        }
    }
}

/// [`ClipOptimizer`]'s Adam/AdamW keep burn's state record, so optimiser state saved before polyclip computed
/// them as torch does (with burn's `Adam`/`AdamW`) still resumes.
fn optimizer_state_written_by_burns_adamw_still_loads<B: Backend>(_device: &B::Device) {
    use burn::optim::{AdamWConfig, Optimizer};
    use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};

    let fixture: AdamFixture = fixture("adam.json");
    let module = init::<Autodiff<B>>(&fixture.params);
    let grads = injected_gradients(&module, &fixture.params, 0);
    let mut burn_adamw = AdamWConfig::new().init::<Autodiff<B>, Params<Autodiff<B>>>();
    let module = burn_adamw.step(1e-3, module, grads);
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("optimizer");
    NamedMpkFileRecorder::<FullPrecisionSettings>::new()
        .record(burn_adamw.to_record(), path.clone())
        .expect("save burn's AdamW state");
    // Burn's AdamW has 1e-4 decay by default; ours takes the same.
    let config = OptimizerConfig::Adamw {
        betas: [0.9, 0.999],
        eps: 1e-5,
        weight_decay: 1e-4,
    };
    let second_step = |mut optimizer: ClipOptimizer<Params<Autodiff<B>>, Autodiff<B>>| {
        let grads = injected_gradients(&module, &fixture.params, 1);
        snapshot(&optimizer.step(1e-3, module.clone(), grads))
    };
    let resumed = second_step(
        ClipOptimizer::new(&config)
            .load(&path, &Default::default())
            .expect("load burn's AdamW state"),
    );
    let fresh = second_step(ClipOptimizer::new(&config));
    let grads = injected_gradients(&module, &fixture.params, 1);
    let burn = snapshot(&burn_adamw.step(1e-3, module.clone(), grads));
    let difference = |a: &[Vec<f64>], b: &[Vec<f64>]| {
        a.iter()
            .zip(b)
            .map(|(a, b)| max_relative(a, b))
            .fold(0.0, f64::max)
    };
    // The loaded moments and step count are used: the step continues burn's (measured 3e-7 apart: burn's f32
    // bias corrections), where a fresh state would not (2e-2).
    assert!(difference(&resumed, &burn) < 1e-5);
    assert!(difference(&fresh, &burn) > 1e-3);
}
every_backend_test!(optimizer_state_written_by_burns_adamw_still_loads);

// ----------------------------------------------------------------------------------------- contrastive loss

#[derive(Deserialize)]
struct LearnableCase {
    logit_scale: f32,
    loss: f64,
    image_grad: Vec<f64>,
    text_grad: Vec<f64>,
    logit_scale_grad: f64,
}

#[derive(Deserialize)]
struct FixedCase {
    multiplier: f64,
    loss: f64,
    image_grad: Vec<f64>,
    text_grad: Vec<f64>,
}

#[derive(Deserialize)]
struct ContrastiveFixture {
    batch: usize,
    dim: usize,
    image: Vec<f32>,
    text: Vec<f32>,
    learnable: LearnableCase,
    fixed: FixedCase,
}

/// The loss as polyclip's CLIP trains it: raw features → `l2_normalize` → `contrastive_loss` with the
/// multiplier `exp(logit_scale)` (`ClipModel::logit_multiplier`, detached when the scale is fixed).
/// Returns the loss and the gradients of the raw image features, raw text features and the logit scale.
fn contrastive_step<B: AutodiffBackend>(
    fixture: &ContrastiveFixture,
    ln_scale: f32,
    learnable: bool,
) -> (f64, Vec<f64>, Vec<f64>, Option<f64>) {
    let shape = [fixture.batch, fixture.dim];
    let image = tensor::<B, 2>(&fixture.image, &shape).require_grad();
    let text = tensor::<B, 2>(&fixture.text, &shape).require_grad();
    let scale = tensor::<B, 1>(&[ln_scale], &[1]);
    let scale = if learnable {
        scale.require_grad()
    } else {
        scale
    };
    let loss = contrastive_loss(
        l2_normalize(image.clone()),
        l2_normalize(text.clone()),
        scale.clone().exp(),
    );
    let value = values(loss.clone())[0];
    let grads = loss.backward();
    let image_grad = values(image.grad(&grads).expect("image gradient"));
    let text_grad = values(text.grad(&grads).expect("text gradient"));
    let scale_grad = scale
        .grad(&grads)
        .map(|g| f64::from(g.into_data().to_vec::<f32>().expect("f32")[0]));
    (value, image_grad, text_grad, scale_grad)
}

fn contrastive_loss_and_gradients_match_the_references<B: Backend>(_device: &B::Device) {
    let fixture: ContrastiveFixture = fixture("contrastive.json");

    // CLIP / CAPIVARA: learnable exp(logit_scale), logit_scale = ln(1/0.07).
    let case = &fixture.learnable;
    assert_eq!(case.logit_scale, (1.0f64 / 0.07).ln() as f32);
    let (loss, image_grad, text_grad, scale_grad) =
        contrastive_step::<Autodiff<B>>(&fixture, case.logit_scale, true);
    let scale_grad = scale_grad.expect("the learnable scale has a gradient");
    let differences = [
        max_relative(&[loss], &[case.loss]),
        max_relative_to_peak(&image_grad, &case.image_grad),
        max_relative_to_peak(&text_grad, &case.text_grad),
        (scale_grad - case.logit_scale_grad).abs() / case.loss.abs(),
    ];
    assert!(
        differences.iter().all(|&d| d <= LOSS_TOLERANCE),
        "learnable scale: loss, image, text, logit scale differ by {differences:?}"
    );

    // clip-italian: a fixed 20, not exponentiated, no gradient (polyclip stores ln 20 and detaches it).
    let case = &fixture.fixed;
    let (loss, image_grad, text_grad, scale_grad) =
        contrastive_step::<Autodiff<B>>(&fixture, case.multiplier.ln() as f32, false);
    assert!(scale_grad.is_none());
    let difference = [
        max_relative(&[loss], &[case.loss]),
        max_relative_to_peak(&image_grad, &case.image_grad),
        max_relative_to_peak(&text_grad, &case.text_grad),
    ]
    .into_iter()
    .fold(0.0, f64::max);
    assert!(difference <= LOSS_TOLERANCE, "fixed scale: {difference:e}");
}
every_backend_test!(contrastive_loss_and_gradients_match_the_references);

// ---------------------------------------------------------------------------------------------- schedules

#[derive(Deserialize)]
struct ScheduleCase {
    reference: String,
    schedule: LrSchedule,
    total_steps: usize,
    steps: Vec<usize>,
    lrs: Vec<f64>,
}

#[derive(Deserialize)]
struct SchedulesFixture {
    cases: Vec<ScheduleCase>,
}

#[test]
fn schedules_match_capivara_optax_and_transformers() {
    let fixture: SchedulesFixture = fixture("schedules.json");
    assert_eq!(fixture.cases.len(), 10);
    for case in &fixture.cases {
        case.schedule
            .validate(case.total_steps)
            .expect("a valid schedule");
        let got: Vec<f64> = case
            .steps
            .iter()
            .map(|&step| case.schedule.lr(step, case.total_steps))
            .collect();
        let difference = max_relative(&got, &case.lrs);
        assert!(
            difference <= SCHEDULE_TOLERANCE,
            "{} {:?} over {} steps: {difference:e}\n got  {got:?}\n want {:?}",
            case.reference,
            case.schedule,
            case.total_steps,
            case.lrs
        );
    }
}

#[test]
fn warmup_cosine_rejects_a_warmup_without_cosine() {
    let schedule = LrSchedule::WarmupCosine {
        lr_max: 1e-5,
        warmup_fraction: 0.5,
    };
    assert!(schedule.validate(10).is_ok());
    // int(0.5 · 1) = 0 warm-up steps: fine; a fraction of 1 leaves no cosine step (optax raises).
    assert!(schedule.validate(1).is_ok());
    let whole = LrSchedule::WarmupCosine {
        lr_max: 1e-5,
        warmup_fraction: 1.0,
    };
    assert!(whole.validate(10).is_err());
}

// ------------------------------------------------------------------------------------------------- config

#[test]
fn adabelief_config_defaults_are_optax_and_unknown_fields_are_refused() {
    let config: OptimizerConfig =
        serde_json::from_str(r#"{"name": "adabelief", "agc": {"clipping": 0.01}}"#)
            .expect("parses");
    assert_eq!(
        config,
        OptimizerConfig::Adabelief {
            betas: [0.9, 0.999],
            eps: 1e-16,
            eps_root: 1e-16,
            agc: Some(polyclip_train::AgcConfig {
                clipping: 0.01,
                eps: 1e-3
            }),
        }
    );
    config.validate().expect("valid");
    assert!(serde_json::from_str::<OptimizerConfig>(r#"{"name": "adabelief", "lr": 1}"#).is_err());
    assert!(
        serde_json::from_str::<OptimizerConfig>(
            r#"{"name": "adabelief", "agc": {"clipping": 0.01, "axis": 0}}"#
        )
        .is_err()
    );
    let negative = OptimizerConfig::Adabelief {
        betas: [0.9, 0.999],
        eps: 1e-16,
        eps_root: 1e-16,
        agc: Some(polyclip_train::AgcConfig {
            clipping: -1.0,
            eps: 1e-3,
        }),
    };
    assert!(negative.validate().is_err());
}
