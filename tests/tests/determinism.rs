//! Two runs with the same seed give bit-identical losses (two data workers); another seed does not. On the
//! backends that promise it: ndarray (`…::ndarray`) and flex (`…::flex`); see README "Backends".

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use polyclip_backend::backends::{Flex, FlexDevice, NdArray, NdArrayDevice};
use polyclip_tests::{loader_on, model_config, model_on, small_dataset, tokenizer, train_config};
use polyclip_train::Trainer;

fn losses<B: Backend>(data_dir: &std::path::Path, seed: u64, device: &B::Device) -> Vec<f32> {
    let data = small_dataset(data_dir, 256, 16);
    let run = tempfile::tempdir().expect("run dir");
    let config = model_config(&tokenizer());
    let trainer = Trainer::new(train_config(6, 1e-3), run.path());
    let outcome = trainer
        .fit(
            model_on::<Autodiff<B>>(&config, seed, device),
            &loader_on::<Autodiff<B>>(&data, "en", 32, 2, seed, device),
            false,
            device,
        )
        .expect("training");
    outcome.losses
}

fn same_seed_same_losses_bit_for_bit<B: Backend>(device: &B::Device) {
    let data = tempfile::tempdir().expect("data dir");
    let first = losses::<B>(data.path(), 5, device);
    let second = losses::<B>(data.path(), 5, device);
    assert_eq!(first.len(), 6);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&first), bits(&second), "{first:?} vs {second:?}");
    let other = losses::<B>(data.path(), 6, device);
    assert_ne!(bits(&first), bits(&other));
}

mod same_seed_same_losses_bit_for_bit {
    use super::*;

    #[test]
    fn ndarray() {
        super::same_seed_same_losses_bit_for_bit::<NdArray<f32>>(&NdArrayDevice::Cpu);
    }

    #[test]
    fn flex() {
        super::same_seed_same_losses_bit_for_bit::<Flex<f32>>(&FlexDevice);
    }
}
