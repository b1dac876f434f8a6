//! Data-parallel training with burn-collective (`fit_data_parallel`, one peer per device, threads of one process)
//! trains exactly as one device with the whole batch does: after three steps on ndarray (f64; two peers on the
//! CPU device), the losses, every parameter and Adam's state equal the one-device run's within 1e-5 relative —
//! with everything training, with the vision tower frozen and LoRA on the text tower, composed with the chunked
//! step (micro-batches of 2 within each peer's 5 rows), and stopped after step 2 and resumed. Only rank 0 writes
//! the metrics log and the checkpoints.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use polyclip_models::lora::LoraConfig;
use polyclip_tests::equivalence::{
    DEVICE, STEPS, Train, assert_same_run, check_data, three_steps, tiny_model, train,
};
use polyclip_train::FreezeConfig;

/// The collective is process-wide (one per backend): the tests of this file take turns.
static COLLECTIVE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    COLLECTIVE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One device with the whole batch, against two peers with half of it each.
fn check(
    setting: &str,
    start: polyclip_models::ClipModel<Train>,
    config: polyclip_train::TrainConfig,
    micro_batch: Option<usize>,
    stop_at: Option<usize>,
) {
    let _turn = exclusive();
    let (_dir, data) = check_data();
    let one = train(&data, start.clone(), config.clone(), None, None, &[DEVICE]);
    let two = train(
        &data,
        start,
        config,
        micro_batch,
        stop_at,
        &[DEVICE, DEVICE],
    );
    assert_same_run(&two, &one, setting);
    // Rank 0 alone wrote the log: one line per step.
    assert_eq!(two.logged_steps, STEPS, "{setting}: metrics.jsonl lines");
}

#[test]
fn two_peers_train_as_one_device_with_the_whole_batch() {
    check("two peers", tiny_model(), three_steps(), None, None);
}

#[test]
fn two_peers_with_frozen_vision_and_text_lora_and_micro_batches_train_as_one_device() {
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
    check(
        "two peers, vision frozen, text LoRA, micro-batches of 2",
        start,
        config,
        Some(2),
        None,
    );
}

#[test]
fn two_peers_resumed_mid_run_train_as_one_uninterrupted_device() {
    check(
        "two peers resumed after step 2",
        tiny_model(),
        three_steps(),
        None,
        Some(2),
    );
}
