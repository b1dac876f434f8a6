//! The masked token cross-entropy against a direct computation: padding positions add nothing, label
//! smoothing mixes in the mean negative log-probability as PyTorch's `CrossEntropyLoss(label_smoothing)`.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::tensor::{Int, Tensor, TensorData};
use polyclip_train::sequence_cross_entropy;

type B = NdArray<f64>;

/// `-log softmax(row)[label]` and `mean_v -log softmax(row)[v]`.
fn reference(row: &[f64], label: usize) -> (f64, f64) {
    let max = row.iter().cloned().fold(f64::MIN, f64::max);
    let log_sum = row.iter().map(|x| (x - max).exp()).sum::<f64>().ln() + max;
    let nll = log_sum - row[label];
    let uniform = row.iter().map(|x| log_sum - x).sum::<f64>() / row.len() as f64;
    (nll, uniform)
}

#[test]
fn masked_and_smoothed_cross_entropy() {
    let device = NdArrayDevice::Cpu;
    let logits: Vec<f64> = (0..2 * 3 * 5)
        .map(|i| ((i * 37 % 11) as f64 - 5.0) / 3.0)
        .collect();
    let labels = [1_i64, 4, 0, 2, 3, 0];
    let mask = [1.0, 1.0, 0.0, 1.0, 1.0, 1.0];
    for smoothing in [0.0, 0.1] {
        let loss: f64 = sequence_cross_entropy(
            Tensor::<B, 3>::from_data(TensorData::new(logits.clone(), [2, 3, 5]), &device),
            Tensor::<B, 2, Int>::from_data(TensorData::new(labels.to_vec(), [2, 3]), &device),
            Tensor::<B, 2>::from_data(TensorData::new(mask.to_vec(), [2, 3]), &device),
            smoothing,
        )
        .into_scalar();
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
            (loss - expected).abs() < 1e-12,
            "ε={smoothing}: {loss} vs {expected}"
        );
    }
}
