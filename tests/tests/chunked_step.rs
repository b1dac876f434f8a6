//! The chunked contrastive step (`[stage.train] micro_batch`, gradient caching) trains exactly as the whole
//! batch does: after three steps on ndarray, the losses, every parameter and the optimiser's state equal the
//! unchunked run's within 1e-5 relative, for micro-batches of 1, 3 and the batch (10 rows: 3 does not divide it),
//! in the settings of the contrastive recipes: everything training (CAPIVARA's base), the vision tower frozen with
//! LoRA on the text tower (CAPIVARA + Opt.), frozen backbones under a fixed logit scale (clip-italian), and
//! resumed from a mid-run checkpoint. Relative means to the largest magnitude in each tensor.
//!
//! The runs are in f64 (why: `tests/src/equivalence.rs`).

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use polyclip_data::batching::loader::BatchSource;
use polyclip_models::ClipModel;
use polyclip_models::TextTowerConfig;
use polyclip_models::lora::LoraConfig;
use polyclip_tests::equivalence::{
    BATCH, DEVICE, Train, assert_same_run, check_data, exclusive, three_steps, tiny_model, train,
};
use polyclip_tests::{loader_on, model_config, model_on, small_dataset, tokenizer};
use polyclip_train::{FreezeConfig, StepContext, TrainConfig, TrainableModel};

/// Whole batch, then micro-batches 1, 3 and the batch, from the same start (taking the generator's turn).
fn check(setting: &str, start: ClipModel<Train>, config: TrainConfig, stop_at: Option<usize>) {
    let _turn = exclusive();
    let (_data_dir, data) = check_data();
    let whole = train(&data, start.clone(), config.clone(), None, None, &[DEVICE]);
    for micro_batch in [1, 3, BATCH] {
        let chunked = train(
            &data,
            start.clone(),
            config.clone(),
            Some(micro_batch),
            stop_at,
            &[DEVICE],
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
        model
            .gradients(batch.clone(), config, &StepContext::default())
            .expect("a step")
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
