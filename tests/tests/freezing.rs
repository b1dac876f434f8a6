//! CAPIVARA's setting: a frozen vision tower and (clip-italian's) a fixed logit scale stay exactly as they
//! were, while the text tower trains.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::module::Module;
use burn::tensor::Tensor;
use polyclip_models::ClipModel;
use polyclip_tests::{
    DEVICE, Train, loader, model, model_config, small_dataset, text_features, tokenizer,
    train_config,
};
use polyclip_train::{FreezeConfig, Trainer};

fn image_features(model: &ClipModel<Train>) -> Vec<f32> {
    let pixels = Tensor::<Train, 4>::ones([2, 3, 32, 32], &DEVICE);
    model
        .image_features(pixels)
        .into_data()
        .to_vec()
        .expect("f32")
}

/// Three steps on the Portuguese captions with `freeze`.
fn train_frozen(
    start: ClipModel<Train>,
    data: &polyclip_shapes::ShapesDataset,
    freeze: FreezeConfig,
) -> ClipModel<Train> {
    let mut settings = train_config(3, 1e-3);
    settings.freeze = freeze;
    let run = tempfile::tempdir().expect("run dir");
    Trainer::new(settings, run.path())
        .fit(start, &loader(data, "pt", 16, 0, 2), false, &DEVICE)
        .expect("training")
        .model
}

#[test]
fn frozen_vision_and_fixed_scale_do_not_move_while_text_trains() {
    let data_dir = tempfile::tempdir().expect("data dir");
    let data = small_dataset(data_dir.path(), 128, 8);
    let mut config = model_config(&tokenizer());
    config.logit_scale.learnable = false;
    config.logit_scale.scale = 20.0;
    let start = model(&config, 2);
    let (vision_before, text_before) = (image_features(&start), text_features(&start));
    let trained = train_frozen(
        start,
        &data,
        FreezeConfig {
            vision: true,
            ..Default::default()
        },
    );
    assert_eq!(
        image_features(&trained),
        vision_before,
        "the frozen vision tower moved"
    );
    assert_ne!(
        text_features(&trained),
        text_before,
        "the text tower did not train"
    );
    let scale: f32 = trained.logit_multiplier().into_scalar();
    assert!(
        (scale - 20.0).abs() < 1e-4,
        "fixed logit scale became {scale}"
    );
    // Freezing is not a property of the saved weights: every parameter is still in the record.
    assert_eq!(trained.num_params(), model(&config, 2).num_params());
}

/// clip-italian's first stage: both backbones frozen, both projections training.
#[test]
fn frozen_backbones_keep_their_outputs_while_the_projections_train() {
    let data_dir = tempfile::tempdir().expect("data dir");
    let data = small_dataset(data_dir.path(), 128, 8);
    let config = model_config(&tokenizer());
    let start = model(&config, 2);
    let pixels = Tensor::<Train, 4>::ones([2, 3, 32, 32], &DEVICE);
    let ids = Tensor::from_ints([[0, 5, 6, 2], [0, 7, 8, 2]], &DEVICE);
    let mask = Tensor::ones([2, 4], &DEVICE);
    let backbones = |model: &ClipModel<Train>| -> (Vec<f32>, Vec<f32>) {
        let vision = model
            .vision
            .vision_model
            .forward(pixels.clone())
            .pooler_output;
        let text = model
            .text
            .pre_projection_features(ids.clone(), mask.clone());
        (
            vision.into_data().to_vec().expect("f32"),
            text.into_data().to_vec().expect("f32"),
        )
    };
    let backbones_before = backbones(&start);
    let (vision_before, text_before) = (image_features(&start), text_features(&start));
    let trained = train_frozen(
        start,
        &data,
        FreezeConfig {
            vision_backbone: true,
            text_backbone: true,
            ..Default::default()
        },
    );
    assert_eq!(
        backbones(&trained),
        backbones_before,
        "a frozen backbone moved"
    );
    assert_ne!(
        image_features(&trained),
        vision_before,
        "the visual projection did not train"
    );
    assert_ne!(
        text_features(&trained),
        text_before,
        "the text projection did not train"
    );
}
