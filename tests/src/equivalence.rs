//! What the equivalence tests (`tests/tests/chunked_step.rs`, `tests/tests/data_parallel.rs`) share: three steps of
//! the tiny model on ndarray in f64 from one start, read back as losses, parameters and Adam's state, and the
//! comparison of two such runs within 1e-5 relative to each tensor's scale.
//!
//! The runs are in f64, so that what is compared is the method, not float rounding: in f32 two orders of
//! summation give gradients that differ by ~1e-6 of their scale, and Adam divides every element by its own
//! gradient's magnitude, so on a parameter that starts at zero (a layer norm's bias) an element whose gradient is
//! near Adam's `eps` turns that into ~1e-5 of the parameter's scale after three steps. A mistake in how a step is
//! split (a missing chunk or peer, a wrong slice of the embedding gradient, a tower re-run with other randomness,
//! gradients summed instead of averaged) is off by ~1.

use std::path::Path;

use burn::backend::Autodiff;
use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::Optimizer;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use polyclip_models::ClipModel;
use polyclip_shapes::ShapesDataset;
use polyclip_train::checkpoint::CheckpointDir;
use polyclip_train::data_parallel::fit_data_parallel;
use polyclip_train::{ClipOptimizer, TrainConfig, Trainer};

use crate::{loader_on, model_config, model_on, small_dataset, tokenizer};

/// The backend of the comparison: f64 on the CPU.
pub type Train = Autodiff<NdArray<f64>>;
pub const DEVICE: NdArrayDevice = NdArrayDevice::Cpu;

pub const BATCH: usize = 10;

/// The backends' random generators and burn-collective's peers are process-wide: the equivalence tests of one
/// binary (which reseed the generator, or register peers) take turns.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub const STEPS: usize = 3;
pub const TOLERANCE: f64 = 1e-5;

/// Every float parameter in visiting order: (id, rank, values).
struct Parameters(Vec<(ParamId, usize, Vec<f64>)>);

impl<B: Backend> ModuleVisitor<B> for Parameters {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let values = param
            .val()
            .into_data()
            .convert::<f64>()
            .to_vec()
            .expect("f64");
        self.0.push((param.id, D, values));
    }
}

pub fn parameters(model: &ClipModel<Train>) -> Vec<(ParamId, usize, Vec<f64>)> {
    let mut visitor = Parameters(Vec::new());
    model.visit(&mut visitor);
    visitor.0
}

/// Adam's state of one parameter: step count, first and second moments.
pub type Moments = (usize, Vec<f64>, Vec<f64>);

/// A finished run: its losses, its parameters and, per parameter in the same order, the optimiser's step count
/// and moments (`None` for a parameter that does not train).
pub struct Run {
    pub losses: Vec<f32>,
    pub parameters: Vec<Vec<f64>>,
    pub moments: Vec<Option<Moments>>,
    /// Lines of the run's `metrics.jsonl`.
    pub logged_steps: usize,
}

/// The Adam state of every parameter of `model`, read back from the run's last checkpoint.
pub fn moments(
    run_dir: &Path,
    model: ClipModel<Train>,
    config: &TrainConfig,
) -> Vec<Option<Moments>> {
    let (dir, _) = CheckpointDir::new(run_dir)
        .latest()
        .expect("checkpoints")
        .expect("a checkpoint");
    let (model, optimizer) =
        CheckpointDir::load(&dir, model, ClipOptimizer::new(&config.optimizer), &DEVICE)
            .expect("load");
    let ClipOptimizer::AdamW(adaptor) = optimizer else {
        panic!("the test trains with AdamW")
    };
    let record = adaptor.to_record();
    let values = |tensor: Tensor<NdArray<f64>, 1>| -> Vec<f64> {
        tensor.into_data().convert::<f64>().to_vec().expect("f64")
    };
    parameters(&model)
        .into_iter()
        .map(|(id, rank, _)| {
            let state = record.get(&id)?.clone();
            macro_rules! flat {
                ($rank:literal) => {{
                    let momentum = state.into_state::<$rank>().momentum;
                    (
                        momentum.time,
                        values(momentum.moment_1.flatten(0, $rank - 1)),
                        values(momentum.moment_2.flatten(0, $rank - 1)),
                    )
                }};
            }
            Some(match rank {
                1 => flat!(1),
                2 => flat!(2),
                3 => flat!(3),
                4 => flat!(4),
                other => panic!("a rank-{other} parameter"),
            })
        })
        .collect()
}

/// `STEPS` steps from `start` on the Portuguese captions, `micro_batch` rows at a time, on `devices` (one: the
/// trainer alone; more: data-parallel, a peer per device); with `stop_at`, stopped there (a checkpoint every step)
/// and resumed to the end.
pub fn train(
    data: &ShapesDataset,
    start: ClipModel<Train>,
    mut config: TrainConfig,
    micro_batch: Option<usize>,
    stop_at: Option<usize>,
    devices: &[NdArrayDevice],
) -> Run {
    config.micro_batch = micro_batch;
    let run = tempfile::tempdir().expect("run dir");
    let batches = loader_on::<Train>(data, "pt", BATCH, 0, 4, &DEVICE);
    let template = start.clone();
    let mut losses = Vec::new();
    let mut trainer = Trainer::new(config.clone(), run.path());
    let mut model = start;
    if let Some(stop) = stop_at {
        trainer.config.checkpoint_every = 1;
        trainer.stop_after = Some(stop);
        let outcome = fit_data_parallel(&trainer, model.clone(), &batches, false, devices, None)
            .expect("training up to the stop");
        losses.extend(outcome.losses);
        trainer.stop_after = None;
    }
    let outcome = fit_data_parallel(&trainer, model, &batches, stop_at.is_some(), devices, None)
        .expect("training");
    losses.extend(outcome.losses);
    model = outcome.model;
    let logged_steps = std::fs::read_to_string(run.path().join("metrics.jsonl"))
        .expect("metrics.jsonl")
        .lines()
        .count();
    Run {
        losses,
        parameters: parameters(&model).into_iter().map(|(_, _, v)| v).collect(),
        moments: moments(run.path(), template, &config),
        logged_steps,
    }
}

/// The small dataset the comparisons train on (64 training images, 8 held out), in a temporary folder.
pub fn check_data() -> (tempfile::TempDir, ShapesDataset) {
    let dir = tempfile::tempdir().expect("data dir");
    let data = small_dataset(dir.path(), 64, 8);
    (dir, data)
}

/// Whether `max|a − b| ≤ 1e-5 · max|b| + 1e-12`: within 1e-5 of the tensor's scale, or within 1e-12 absolute for a
/// tensor that stays at zero (a key bias, whose gradient is pure rounding noise, moves by ~1e-18 under Adam in f64).
/// Returns the relative difference for the message.
pub fn close<F: Into<f64> + Copy>(a: &[F], b: &[F]) -> Result<(), f64> {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f64, |m, &x| m.max(x.into().abs()));
    let difference = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x.into() - y.into()).abs())
        .fold(0f64, f64::max);
    if difference <= TOLERANCE * scale + 1e-12 {
        Ok(())
    } else {
        Err(difference / scale)
    }
}

pub fn assert_same_run(chunked: &Run, whole: &Run, what: &str) {
    assert_eq!(chunked.losses.len(), STEPS, "{what}: losses");
    if let Err(error) = close(&chunked.losses, &whole.losses) {
        panic!(
            "{what}: losses {:?} vs {:?} ({error:.2e})",
            chunked.losses, whole.losses
        );
    }
    assert_eq!(chunked.parameters.len(), whole.parameters.len());
    let mut moved = 0;
    for (index, (a, b)) in chunked.parameters.iter().zip(&whole.parameters).enumerate() {
        if let Err(error) = close(a, b) {
            panic!("{what}: parameter {index} differs by {error:.2e}");
        }
        moved += usize::from(whole.moments[index].is_some());
    }
    assert!(moved > 0, "{what}: nothing trained");
    for (index, (a, b)) in chunked.moments.iter().zip(&whole.moments).enumerate() {
        match (a, b) {
            (Some((time_a, m1_a, m2_a)), Some((time_b, m1_b, m2_b))) => {
                assert_eq!(time_a, time_b, "{what}: step count of parameter {index}");
                if let (Err(error), _) | (_, Err(error)) = (close(m1_a, m1_b), close(m2_a, m2_b)) {
                    panic!("{what}: a moment of parameter {index} differs by {error:.2e}");
                }
            }
            (None, None) => {}
            _ => panic!("{what}: parameter {index} trains in one run only"),
        }
    }
}

/// The tiny CAPIVARA-shaped model the comparisons start from.
pub fn tiny_model() -> ClipModel<Train> {
    model_on::<Train>(&model_config(&tokenizer()), 3, &DEVICE)
}

/// `STEPS` steps of AdamW under the built-in recipe's schedule.
pub fn three_steps() -> TrainConfig {
    crate::train_config(STEPS, 1e-3)
}
