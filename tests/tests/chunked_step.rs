//! The chunked contrastive step (`[stage.train] micro_batch`, gradient caching) trains exactly as the whole
//! batch does: after three steps on ndarray, the losses, every parameter and the optimiser's state equal the
//! unchunked run's within 1e-5 relative, for micro-batches of 1, 3 and the batch (10 rows: 3 does not divide it),
//! in the settings of the contrastive recipes: everything training (CAPIVARA's base), the vision tower frozen with
//! LoRA on the text tower (CAPIVARA + Opt.), frozen backbones under a fixed logit scale (clip-italian), and
//! resumed from a mid-run checkpoint. Relative means to the largest magnitude in each tensor.
//!
//! The runs are in f64, so that what is compared is the method, not float rounding: in f32 the two orders of
//! summation give gradients that differ by ~1e-6 of their scale, and Adam divides every element by its own
//! gradient's magnitude, so on a parameter that starts at zero (a layer norm's bias) an element whose gradient is
//! near Adam's `eps` turns that into ~1e-5 of the parameter's scale after three steps. A chunking mistake (a
//! missing chunk, a wrong slice of the embedding gradient, a tower re-run with other randomness) is off by ~1.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use burn::backend::Autodiff;
use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::optim::Optimizer;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use polyclip_data::batching::loader::BatchSource;
use polyclip_models::ClipModel;
use polyclip_models::TextTowerConfig;
use polyclip_models::lora::LoraConfig;
use polyclip_shapes::ShapesDataset;
use polyclip_tests::{loader_on, model_config, model_on, small_dataset, tokenizer};
use polyclip_train::checkpoint::CheckpointDir;
use polyclip_train::{ClipOptimizer, FreezeConfig, TrainConfig, TrainableModel, Trainer};

/// The backend of the comparison: f64 on the CPU.
type Train = Autodiff<NdArray<f64>>;
const DEVICE: NdArrayDevice = NdArrayDevice::Cpu;

const BATCH: usize = 10;

/// The backends' random generators are process-wide and the chunked step reseeds them: the tests of this file,
/// which share a process, take turns.
static GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    GENERATOR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
const STEPS: usize = 3;
const TOLERANCE: f64 = 1e-5;

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

fn parameters(model: &ClipModel<Train>) -> Vec<(ParamId, usize, Vec<f64>)> {
    let mut visitor = Parameters(Vec::new());
    model.visit(&mut visitor);
    visitor.0
}

/// Adam's state of one parameter: step count, first and second moments.
type Moments = (usize, Vec<f64>, Vec<f64>);

/// A finished run: its losses, its parameters and, per parameter in the same order, the optimiser's step count
/// and moments (`None` for a parameter that does not train).
struct Run {
    losses: Vec<f32>,
    parameters: Vec<Vec<f64>>,
    moments: Vec<Option<Moments>>,
}

/// The Adam state of every parameter of `model`, read back from the run's last checkpoint.
fn moments(run_dir: &Path, model: ClipModel<Train>, config: &TrainConfig) -> Vec<Option<Moments>> {
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

/// `STEPS` steps from `start` on the Portuguese captions, `micro_batch` rows at a time; with `stop_at`, stopped
/// there (a checkpoint every step) and resumed to the end.
fn train(
    data: &ShapesDataset,
    start: ClipModel<Train>,
    mut config: TrainConfig,
    micro_batch: Option<usize>,
    stop_at: Option<usize>,
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
        let outcome = trainer
            .fit(model.clone(), &batches, false, &DEVICE)
            .expect("training up to the stop");
        losses.extend(outcome.losses);
        trainer.stop_after = None;
    }
    let outcome = trainer
        .fit(model, &batches, stop_at.is_some(), &DEVICE)
        .expect("training");
    losses.extend(outcome.losses);
    model = outcome.model;
    Run {
        losses,
        parameters: parameters(&model).into_iter().map(|(_, _, v)| v).collect(),
        moments: moments(run.path(), template, &config),
    }
}

/// Whether `max|a − b| ≤ 1e-5 · max|b| + 1e-12`: within 1e-5 of the tensor's scale, or within 1e-12 absolute for a
/// tensor that stays at zero (a key bias, whose gradient is pure rounding noise, moves by ~1e-18 under Adam in f64).
/// Returns the relative difference for the message.
fn close<F: Into<f64> + Copy>(a: &[F], b: &[F]) -> Result<(), f64> {
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

fn assert_same_run(chunked: &Run, whole: &Run, what: &str) {
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
fn tiny_model() -> ClipModel<Train> {
    model_on::<Train>(&model_config(&tokenizer()), 3, &DEVICE)
}

/// `STEPS` steps of AdamW under the built-in recipe's schedule.
fn three_steps() -> TrainConfig {
    polyclip_tests::train_config(STEPS, 1e-3)
}

/// Whole batch, then micro-batches 1, 3 and the batch, from the same start (taking the generator's turn).
fn check(setting: &str, start: ClipModel<Train>, config: TrainConfig, stop_at: Option<usize>) {
    let _turn = exclusive();
    let data_dir = tempfile::tempdir().expect("data dir");
    let data = small_dataset(data_dir.path(), 64, 8);
    let whole = train(&data, start.clone(), config.clone(), None, None);
    for micro_batch in [1, 3, BATCH] {
        let chunked = train(
            &data,
            start.clone(),
            config.clone(),
            Some(micro_batch),
            stop_at,
        );
        assert_same_run(
            &chunked,
            &whole,
            &format!("{setting}, micro_batch {micro_batch}"),
        );
    }
}

#[test]
fn chunked_step_equals_the_whole_batch_with_everything_training() {
    let start = tiny_model();
    check("everything training", start, three_steps(), None);
}

#[test]
fn chunked_step_equals_the_whole_batch_with_frozen_vision_and_text_lora() {
    let mut start = tiny_model();
    start
        .attach_text_lora(&LoraConfig {
            r: 4,
            lora_alpha: 8.0,
            target_modules: vec!["query".into(), "value".into()],
            seed: 1,
        })
        .expect("LoRA");
    let mut config = three_steps();
    config.freeze = FreezeConfig {
        vision: true,
        ..Default::default()
    };
    check("vision frozen, text LoRA", start, config, None);
}

#[test]
fn chunked_step_equals_the_whole_batch_with_frozen_backbones_and_a_fixed_scale() {
    let mut model_settings = model_config(&tokenizer());
    model_settings.logit_scale.learnable = false;
    model_settings.logit_scale.scale = 20.0;
    let mut config = three_steps();
    config.freeze = FreezeConfig {
        vision_backbone: true,
        text_backbone: true,
        ..Default::default()
    };
    check(
        "backbones frozen, fixed scale",
        model_on::<Train>(&model_settings, 3, &DEVICE),
        config,
        None,
    );
}

#[test]
fn chunked_step_resumed_mid_run_equals_the_uninterrupted_whole_batch() {
    let start = tiny_model();
    check("resumed after step 2", start, three_steps(), Some(2));
}

#[test]
fn a_micro_batch_of_zero_is_refused_in_one_line() {
    let mut config = three_steps();
    config.micro_batch = Some(0);
    let error = config.validate().expect_err("micro_batch 0");
    assert_eq!(
        error.to_string(),
        "training config: `micro_batch` = 0: must be at least 1 (leave it out to embed the whole batch at once)"
    );
}

/// `θ + by · grads` for every parameter that has a gradient.
struct Shift<'a> {
    grads: &'a GradientsParams,
    by: f64,
}

impl ModuleMapper<Train> for Shift<'_> {
    fn map_float<const D: usize>(
        &mut self,
        param: Param<Tensor<Train, D>>,
    ) -> Param<Tensor<Train, D>> {
        let Some(grad) = self
            .grads
            .get::<<Train as AutodiffBackend>::InnerBackend, D>(param.id)
        else {
            return param;
        };
        let by = self.by;
        param.map(move |tensor| tensor + Tensor::from_inner(grad * by))
    }
}

/// Σ grads² over every parameter.
struct SquaredNorm<'a>(&'a GradientsParams, f64);

impl ModuleVisitor<Train> for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Train, D>>) {
        if let Some(grad) = self
            .0
            .get::<<Train as AutodiffBackend>::InnerBackend, D>(param.id)
        {
            self.1 += grad.powi_scalar(2).sum().into_scalar();
        }
    }
}

/// With dropout in the text tower, the chunked step's gradient is the gradient of the loss it reports: along the
/// gradient's own direction, the central difference of that loss (same generator state, so the same masks) equals
/// the gradient's norm. Had the second embedding of a chunk drawn other masks than the first, the gradient would be
/// another function's and miss by tens of percent.
#[test]
fn with_dropout_the_chunked_gradient_is_the_gradient_of_the_reported_loss() {
    let _turn = exclusive();
    let mut settings = model_config(&tokenizer());
    let TextTowerConfig::HfEncoder { encoder_config, .. } = &mut settings.text else {
        panic!("the tiny preset's text tower is an XLM-R encoder")
    };
    encoder_config.hidden_dropout_prob = 0.1;
    encoder_config.attention_probs_dropout_prob = 0.1;
    let start = model_on::<Train>(&settings, 3, &DEVICE);
    let data_dir = tempfile::tempdir().expect("data dir");
    let data = small_dataset(data_dir.path(), 64, 8);
    let batch = loader_on::<Train>(&data, "pt", BATCH, 0, 4, &DEVICE)
        .batches_from(0)
        .next()
        .expect("a batch")
        .expect("batch");
    let mut config = three_steps();
    config.micro_batch = Some(3);
    let step_with = |model: &ClipModel<Train>, config: &TrainConfig| {
        Train::seed(&DEVICE, 99);
        model.gradients(batch.clone(), config, 1.0)
    };
    let step = |model: &ClipModel<Train>| step_with(model, &config);
    let at_start = step(&start);
    let grads = at_start.gradients.expect("finite loss");
    let mut norm = SquaredNorm(&grads, 0.0);
    start.visit(&mut norm);
    let norm = norm.1.sqrt();
    assert!(norm > 1e-3, "gradient norm {norm}");
    let h = 1e-4;
    let shifted = |by: f64| {
        let model = start.clone().map(&mut Shift {
            grads: &grads,
            by: by / norm,
        });
        step(&model).loss as f64
    };
    let slope = (shifted(h) - shifted(-h)) / (2.0 * h);
    let error = (slope - norm).abs() / norm;
    assert!(
        error < 1e-3,
        "directional derivative {slope:.6} against the gradient's norm {norm:.6} ({error:.1e})"
    );
    // Whole batch with the same dropout: other masks, so another loss (the check above is not vacuous).
    let whole = step_with(
        &start,
        &TrainConfig {
            micro_batch: None,
            ..config.clone()
        },
    )
    .loss;
    assert!(
        (whole - at_start.loss).abs() > 1e-4,
        "dropout changed nothing: {whole} vs {}",
        at_start.loss
    );
}
