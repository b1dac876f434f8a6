//! The masked token cross-entropy against a direct computation: padding positions add nothing, label
//! smoothing mixes in the mean negative log-probability as PyTorch's `CrossEntropyLoss(label_smoothing)`. On every
//! backend compiled in, in f32, against the direct computation in f64.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use polyclip_backend::every_backend_test;
use polyclip_train::sequence_cross_entropy;

/// f32 against the f64 reference: a few ulps of the per-position sums.
const TOLERANCE: f64 = 1e-6;

/// `-log softmax(row)[label]` and `mean_v -log softmax(row)[v]`.
fn reference(row: &[f64], label: usize) -> (f64, f64) {
    let max = row.iter().cloned().fold(f64::MIN, f64::max);
    let log_sum = row.iter().map(|x| (x - max).exp()).sum::<f64>().ln() + max;
    let nll = log_sum - row[label];
    let uniform = row.iter().map(|x| log_sum - x).sum::<f64>() / row.len() as f64;
    (nll, uniform)
}

fn masked_and_smoothed_cross_entropy<B: Backend>(device: &B::Device) {
    let logits: Vec<f64> = (0..2 * 3 * 5)
        .map(|i| ((i * 37 % 11) as f64 - 5.0) / 3.0)
        .collect();
    let labels = [1_i64, 4, 0, 2, 3, 0];
    let mask = [1.0, 1.0, 0.0, 1.0, 1.0, 1.0];
    for smoothing in [0.0, 0.1] {
        let narrow = |values: &[f64]| values.iter().map(|&v| v as f32).collect::<Vec<_>>();
        let loss = sequence_cross_entropy(
            Tensor::<B, 3>::from_data(TensorData::new(narrow(&logits), [2, 3, 5]), device),
            Tensor::<B, 2, Int>::from_data(TensorData::new(labels.to_vec(), [2, 3]), device),
            Tensor::<B, 2>::from_data(TensorData::new(narrow(&mask), [2, 3]), device),
            smoothing,
        )
        .into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .expect("f64")[0];
        let mut total = 0.0;
        for position in 0..6 {
            let (nll, uniform) = reference(
                &logits[position * 5..position * 5 + 5],
                labels[position] as usize,
            );
            total += mask[position] * ((1.0 - smoothing) * nll + smoothing * uniform);
        }
        let expected = total / mask.iter().sum::<f64>();
        assert!(
            (loss - expected).abs() < TOLERANCE * expected,
            "ε={smoothing}: {loss} vs {expected}"
        );
    }
}
every_backend_test!(masked_and_smoothed_cross_entropy);
