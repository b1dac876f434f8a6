//! The contrastive loss's analytic gradient (burn autodiff) against central finite differences, in f64.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::backend::Autodiff;
use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::tensor::{Tensor, TensorData};
use polyclip_models::clip::model::l2_normalize;
use polyclip_train::contrastive_loss;

type B = Autodiff<NdArray<f64>>;

const BATCH: usize = 4;
const DIM: usize = 3;

fn values(seed: u64, n: usize) -> Vec<f64> {
    // A small deterministic LCG: the test needs varied values, not a particular distribution.
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

fn loss_value(image: &[f64], text: &[f64], ln_scale: f64) -> f64 {
    let device = NdArrayDevice::Cpu;
    let image = Tensor::<B, 2>::from_data(TensorData::new(image.to_vec(), [BATCH, DIM]), &device);
    let text = Tensor::<B, 2>::from_data(TensorData::new(text.to_vec(), [BATCH, DIM]), &device);
    let scale = Tensor::<B, 1>::from_data(TensorData::new(vec![ln_scale], [1]), &device);
    contrastive_loss(l2_normalize(image), l2_normalize(text), scale.exp()).into_scalar()
}

#[test]
fn gradient_matches_finite_differences() {
    let device = NdArrayDevice::Cpu;
    let image_values = values(1, BATCH * DIM);
    let text_values = values(2, BATCH * DIM);
    let ln_scale = 1.3;

    let image =
        Tensor::<B, 2>::from_data(TensorData::new(image_values.clone(), [BATCH, DIM]), &device)
            .require_grad();
    let text =
        Tensor::<B, 2>::from_data(TensorData::new(text_values.clone(), [BATCH, DIM]), &device)
            .require_grad();
    let scale =
        Tensor::<B, 1>::from_data(TensorData::new(vec![ln_scale], [1]), &device).require_grad();
    let loss = contrastive_loss(
        l2_normalize(image.clone()),
        l2_normalize(text.clone()),
        scale.clone().exp(),
    );
    let grads = loss.backward();
    let image_grad = image
        .grad(&grads)
        .expect("image grad")
        .into_data()
        .to_vec::<f64>()
        .expect("f64");
    let text_grad = text
        .grad(&grads)
        .expect("text grad")
        .into_data()
        .to_vec::<f64>()
        .expect("f64");
    let scale_grad = scale
        .grad(&grads)
        .expect("scale grad")
        .into_data()
        .to_vec::<f64>()
        .expect("f64")[0];

    let h = 1e-6;
    let mut worst: f64 = 0.0;
    for index in 0..BATCH * DIM {
        for (values, analytic, is_image) in [
            (&image_values, &image_grad, true),
            (&text_values, &text_grad, false),
        ] {
            let mut plus = values.clone();
            let mut minus = values.clone();
            plus[index] += h;
            minus[index] -= h;
            let numeric = if is_image {
                (loss_value(&plus, &text_values, ln_scale)
                    - loss_value(&minus, &text_values, ln_scale))
                    / (2.0 * h)
            } else {
                (loss_value(&image_values, &plus, ln_scale)
                    - loss_value(&image_values, &minus, ln_scale))
                    / (2.0 * h)
            };
            worst = worst.max((numeric - analytic[index]).abs());
        }
    }
    let numeric_scale = (loss_value(&image_values, &text_values, ln_scale + h)
        - loss_value(&image_values, &text_values, ln_scale - h))
        / (2.0 * h);
    assert!(worst < 1e-7, "largest embedding-gradient error {worst:e}");
    assert!(
        (numeric_scale - scale_grad).abs() < 1e-7,
        "scale gradient {scale_grad} vs {numeric_scale}"
    );
    // The gradient is not trivially zero.
    assert!(image_grad.iter().any(|g| g.abs() > 1e-3));
}

#[test]
fn loss_of_perfectly_aligned_pairs_is_small_and_of_random_pairs_is_near_log_batch() {
    let device = NdArrayDevice::Cpu;
    let identity: Vec<f64> = (0..BATCH * BATCH)
        .map(|i| if i % (BATCH + 1) == 0 { 1.0 } else { 0.0 })
        .collect();
    let eye = Tensor::<B, 2>::from_data(TensorData::new(identity, [BATCH, BATCH]), &device);
    let big = Tensor::<B, 1>::from_data(TensorData::new(vec![100.0], [1]), &device);
    let aligned: f64 = contrastive_loss(eye.clone(), eye.clone(), big).into_scalar();
    assert!(aligned < 1e-10, "aligned loss {aligned}");
    let one = Tensor::<B, 1>::from_data(TensorData::new(vec![1e-9], [1]), &device);
    let uniform: f64 = contrastive_loss(eye.clone(), eye, one).into_scalar();
    assert!(
        (uniform - (BATCH as f64).ln()).abs() < 1e-6,
        "uniform loss {uniform}"
    );
}
