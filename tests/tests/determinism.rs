//! Two runs with the same seed give bit-identical losses (ndarray, two data workers); another seed does not.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use polyclip_tests::{DEVICE, loader, model, model_config, small_dataset, tokenizer, train_config};
use polyclip_train::Trainer;

fn losses(data_dir: &std::path::Path, seed: u64) -> Vec<f32> {
    let data = small_dataset(data_dir, 256, 16);
    let run = tempfile::tempdir().expect("run dir");
    let config = model_config(&tokenizer());
    let trainer = Trainer::new(train_config(6, 1e-3), run.path());
    let outcome = trainer
        .fit(
            model(&config, seed),
            &loader(&data, "en", 32, 2, seed),
            false,
            &DEVICE,
        )
        .expect("training");
    outcome.losses
}

#[test]
fn same_seed_same_losses_bit_for_bit() {
    let data = tempfile::tempdir().expect("data dir");
    let first = losses(data.path(), 5);
    let second = losses(data.path(), 5);
    assert_eq!(first.len(), 6);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&first), bits(&second), "{first:?} vs {second:?}");
    let other = losses(data.path(), 6);
    assert_ne!(bits(&first), bits(&other));
}
