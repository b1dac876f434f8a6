//! Data-parallel training with burn-collective (`fit_data_parallel`, one peer per device, threads of one process)
//! trains exactly as one device with the whole batch does: after three steps on ndarray (f64; two peers on the
//! CPU device), the losses, every parameter and Adam's state equal the one-device run's within 1e-5 relative —
//! with everything training, with the vision tower frozen and LoRA on the text tower, composed with the chunked
//! step (micro-batches of 2 within each peer's 5 rows), and stopped after step 2 and resumed. Only rank 0 writes
//! the metrics log and the checkpoints, and a peer started with another config refuses to start.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use polyclip_models::lora::LoraConfig;
use polyclip_tests::equivalence::{
    DEVICE, STEPS, Train, assert_same_run, check_data, exclusive, three_steps, tiny_model, train,
};
use polyclip_train::FreezeConfig;

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

/// Two peers started by hand with different step counts: both refuse before the first step, in one line.
#[test]
fn a_peer_with_another_config_refuses_to_start() {
    use burn::collective::reset_collective;
    use polyclip_tests::equivalence::BATCH;
    use polyclip_tests::loader_on;
    use polyclip_train::Trainer;
    use polyclip_train::data_parallel::Peer;

    type Inner = burn::backend::ndarray::NdArray<f64>;
    let _turn = exclusive();
    let (_dir, data) = check_data();
    let batches = loader_on::<Train>(&data, "pt", BATCH, 0, 4, &DEVICE);
    let runs = tempfile::tempdir().expect("run dirs");
    reset_collective::<Inner>();
    let errors: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = [3, 4]
            .into_iter()
            .enumerate()
            .map(|(rank, steps)| {
                let batches = &batches;
                let run = runs.path().join(format!("peer{rank}"));
                scope.spawn(move || {
                    let peer = Peer::register::<Inner>(rank, 2, &DEVICE).expect("register");
                    let mut trainer = Trainer::new(polyclip_tests::train_config(steps, 1e-3), &run);
                    trainer.peer = Some(peer);
                    let outcome = trainer.fit(tiny_model(), batches, false, &DEVICE);
                    peer.finish::<Inner>().expect("finish");
                    outcome
                        .err()
                        .map(|error| error.to_string())
                        .unwrap_or_default()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("peer"))
            .collect()
    });
    assert_eq!(
        errors,
        [0, 1].map(|rank| format!(
            "data-parallel peer {rank}: the peers' training configs differ; start every peer with the same recipe \
             and options"
        ))
    );
}
