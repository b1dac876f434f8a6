//! Mixed precision (`[stage.train] precision = "bf16"`, `--precision bf16`) on burn-flex, which computes in bf16
//! on the CPU: the bf16 forward pass of the tiny model against f32, and a short training run in bf16 over f32
//! master weights that learns as f32 does, within a stated margin. f16 is refused (no loss scaling yet).

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::backend::Autodiff;
use burn::module::AutodiffModule;
use burn::tensor::{DType, Distribution, Tensor};
use polyclip_backend::backends::{Flex, FlexDevice};
use polyclip_models::ClipModel;
use polyclip_tests::{
    IMAGE_SIZE, held_out_recall, loader_on, model_config, model_on, small_dataset, tokenizer,
    train_config,
};
use polyclip_train::precision::half_copy;
use polyclip_train::{Precision, Trainer};

type Train = Autodiff<Flex>;
const DEVICE: FlexDevice = FlexDevice;

/// `max|a − b| / max|b|`.
fn relative_error(a: Tensor<Train, 2>, b: Tensor<Train, 2>) -> f32 {
    let scale = b.clone().abs().max().into_scalar();
    (a - b).abs().max().into_scalar() / scale
}

#[test]
fn the_bf16_forward_pass_is_within_two_percent_of_f32() {
    let model: ClipModel<Train> = model_on(&model_config(&tokenizer()), 3, &DEVICE);
    let half = half_copy(&model, DType::BF16);
    let pixels = Tensor::<Train, 4>::random(
        [8, 3, IMAGE_SIZE, IMAGE_SIZE],
        Distribution::Normal(0.0, 1.0),
        &DEVICE,
    );
    let full = model.embed_images(pixels.clone());
    let narrow = half.embed_images(pixels.cast(DType::BF16));
    assert_eq!(narrow.dtype(), DType::BF16);
    let image_error = relative_error(narrow.cast(DType::F32), full);
    let ids = Tensor::from_ints([[0, 5, 6, 7, 2, 1], [0, 9, 10, 2, 1, 1]], &DEVICE);
    let mask = Tensor::from_ints([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0]], &DEVICE);
    let text_error = relative_error(
        half.embed_texts(ids.clone(), mask.clone()).cast(DType::F32),
        model.embed_texts(ids, mask),
    );
    eprintln!(
        "bf16 against f32: image embeddings {image_error:.2e}, text embeddings {text_error:.2e}"
    );
    // bf16 keeps 8 bits of mantissa (2^-8 ≈ 4e-3 per rounding); measured about 1e-2 on both towers.
    assert!(image_error > 1e-4 && image_error < 2e-2, "{image_error}");
    assert!(text_error > 1e-4 && text_error < 2e-2, "{text_error}");
}

#[test]
fn training_in_bf16_learns_as_f32_does() {
    let data_dir = tempfile::tempdir().expect("data dir");
    let held_out = 100;
    let data = small_dataset(data_dir.path(), 1500, held_out);
    let config = model_config(&tokenizer());
    let train = |precision: Precision| {
        let run = tempfile::tempdir().expect("run dir");
        let mut settings = train_config(200, 2e-3);
        settings.precision = precision;
        let outcome = Trainer::new(settings, run.path())
            .fit(
                model_on::<Train>(&config, 1, &DEVICE),
                &loader_on::<Train>(&data, "en", 64, 2, 1, &DEVICE),
                false,
                &DEVICE,
            )
            .expect("training");
        held_out_recall(&outcome.model.valid(), &data, &DEVICE).text_to_image
    };
    let full = train(Precision::F32);
    let half = train(Precision::Bf16);
    eprintln!("held-out text→image R@1/5/10: f32 {full:?}, bf16 {half:?}");
    let chance = 100.0 / held_out as f64;
    // The margin: bf16 reaches five times chance at R@1 (as the learning test asks of f32) and stays within 10
    // points of f32 at R@5 and R@10.
    assert!(half[0] >= 5.0 * chance, "bf16 R@1 {}", half[0]);
    for k in [1, 2] {
        assert!(
            half[k] >= full[k] - 10.0,
            "R@{}: bf16 {half:?} vs f32 {full:?}",
            [1, 5, 10][k]
        );
    }
}

#[test]
fn f16_is_refused_in_one_line() {
    let mut settings = train_config(1, 1e-3);
    settings.precision = Precision::F16;
    assert_eq!(
        settings.validate().expect_err("f16").to_string(),
        "training config: `precision` = f16: f16 needs dynamic loss scaling, which polyclip does not have yet; \
         bf16 has f32's range and needs none"
    );
}
