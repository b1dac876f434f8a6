//! A run that crashes between checkpoints and is resumed continues with exactly the losses of an uninterrupted
//! run: it restarts from the last periodic checkpoint and the metrics log forgets the lost steps. On the
//! deterministic backends, ndarray and flex (`…::ndarray`, `…::flex`).

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use polyclip_backend::backends::{Flex, FlexDevice, NdArray, NdArrayDevice};
use polyclip_tests::{
    DEVICE, loader, loader_on, model, model_config, model_on, small_dataset, tokenizer,
    train_config,
};
use polyclip_train::Trainer;
use polyclip_train::metrics_log::read_metrics;

fn resuming_from_a_mid_run_checkpoint_reproduces_the_uninterrupted_losses<B: Backend>(
    device: &B::Device,
) {
    let data_dir = tempfile::tempdir().expect("data dir");
    let data = small_dataset(data_dir.path(), 256, 16);
    let config = model_config(&tokenizer());
    let mut settings = train_config(8, 1e-3);
    settings.checkpoint_every = 2;

    let straight = tempfile::tempdir().expect("run dir");
    let whole = Trainer::new(settings.clone(), straight.path())
        .fit(
            model_on::<Autodiff<B>>(&config, 3, device),
            &loader_on::<Autodiff<B>>(&data, "pt", 32, 2, 9, device),
            false,
            device,
        )
        .expect("uninterrupted run");

    let interrupted = tempfile::tempdir().expect("run dir");
    let mut first_half = Trainer::new(settings.clone(), interrupted.path());
    first_half.stop_after = Some(5);
    let before = first_half
        .fit(
            model_on::<Autodiff<B>>(&config, 3, device),
            &loader_on::<Autodiff<B>>(&data, "pt", 32, 2, 9, device),
            false,
            device,
        )
        .expect("first half");
    assert_eq!(before.losses.len(), 5);
    let log_before_crash =
        std::fs::read_to_string(interrupted.path().join("metrics.jsonl")).expect("metrics");
    // The crash after step 5 lost that step: the newest checkpoint is the periodic one after step 4.
    let (_, latest) = polyclip_train::checkpoint::CheckpointDir::new(interrupted.path())
        .latest()
        .expect("checkpoint pointer")
        .expect("a checkpoint");
    assert_eq!(latest.step, 4);
    // The resumed process starts from a freshly initialised model with other weights: everything must come
    // from the checkpoint.
    let after = Trainer::new(settings, interrupted.path())
        .fit(
            model_on::<Autodiff<B>>(&config, 99, device),
            &loader_on::<Autodiff<B>>(&data, "pt", 32, 2, 9, device),
            true,
            device,
        )
        .expect("resumed run");
    assert_eq!(after.first_step, 4);

    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    // Step 4 ran twice (before the crash and after the resume) with the same loss.
    assert_eq!(bits(&before.losses[4..]), bits(&after.losses[..1]));
    let mut joined = before.losses[..4].to_vec();
    joined.extend(&after.losses);
    assert_eq!(
        bits(&joined),
        bits(&whole.losses),
        "{joined:?} vs {:?}",
        whole.losses
    );
    // The metrics log of the resumed run holds each step once.
    let steps: Vec<usize> = read_metrics(&interrupted.path().join("metrics.jsonl"))
        .expect("metrics")
        .iter()
        .map(|m| m.step)
        .collect();
    assert_eq!(steps, (0..8).collect::<Vec<_>>());
    // The lines of the steps before the resume are kept byte for byte (they used to be re-parsed and re-written,
    // which moved `lr` by an ulp); only `samples_per_s`, a timing, differs from the uninterrupted log.
    let log = std::fs::read_to_string(interrupted.path().join("metrics.jsonl")).expect("metrics");
    let kept: Vec<&str> = log_before_crash.lines().take(4).collect();
    assert_eq!(log.lines().take(4).collect::<Vec<_>>(), kept);
    let without_timing = |text: &str| -> Vec<String> {
        text.lines()
            .map(|line| {
                line.split(",\"samples_per_s\"")
                    .next()
                    .unwrap_or(line)
                    .to_owned()
            })
            .collect()
    };
    let uninterrupted =
        std::fs::read_to_string(straight.path().join("metrics.jsonl")).expect("metrics");
    assert_eq!(without_timing(&log), without_timing(&uninterrupted));
}

mod resuming_from_a_mid_run_checkpoint_reproduces_the_uninterrupted_losses {
    use super::*;

    #[test]
    fn ndarray() {
        super::resuming_from_a_mid_run_checkpoint_reproduces_the_uninterrupted_losses::<NdArray<f32>>(
            &NdArrayDevice::Cpu,
        );
    }

    #[test]
    fn flex() {
        super::resuming_from_a_mid_run_checkpoint_reproduces_the_uninterrupted_losses::<Flex<f32>>(
            &FlexDevice,
        );
    }
}

/// A newest checkpoint cut short (a full disk, a copy interrupted) used to stop the resume with burn's record-format
/// message; an empty `latest` reported a missing state.json. Now the damage is reported and the newest intact
/// checkpoint is used, which still reproduces the uninterrupted run.
#[test]
fn a_damaged_newest_checkpoint_falls_back_to_the_intact_older_one() {
    let data_dir = tempfile::tempdir().expect("data dir");
    let data = small_dataset(data_dir.path(), 256, 16);
    let config = model_config(&tokenizer());
    let mut settings = train_config(6, 1e-3);
    settings.checkpoint_every = 2;
    let fit = |dir: &std::path::Path, stop: Option<usize>, resume: bool| {
        let mut trainer = Trainer::new(settings.clone(), dir);
        trainer.stop_after = stop;
        trainer
            .fit(
                model(&config, 3),
                &loader(&data, "pt", 32, 0, 9),
                resume,
                &DEVICE,
            )
            .expect("training")
    };
    let straight = tempfile::tempdir().expect("run dir");
    let whole = fit(straight.path(), None, false);

    let interrupted = tempfile::tempdir().expect("run dir");
    fit(interrupted.path(), Some(5), false);
    let checkpoints = interrupted.path().join("checkpoints");
    let newest = checkpoints.join("step-00000004/model.mpk");
    let bytes = std::fs::read(&newest).expect("read");
    std::fs::write(&newest, &bytes[..bytes.len() / 2]).expect("truncate");
    // And the pointer is empty, as a crash while writing it would leave it.
    std::fs::write(checkpoints.join("latest"), "").expect("empty pointer");
    let (dir, state) = polyclip_train::checkpoint::CheckpointDir::new(interrupted.path())
        .latest()
        .expect("an intact checkpoint")
        .expect("a checkpoint");
    assert_eq!((dir, state.step), (checkpoints.join("step-00000002"), 2));
    let after = fit(interrupted.path(), None, true);
    assert_eq!(after.first_step, 2);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&after.losses), bits(&whole.losses[2..]));

    // With no intact checkpoint left (the resumed run kept those of steps 4 and 6), the error names the newest
    // and what is wrong with it.
    let older = checkpoints.join("step-00000004/optimizer.mpk");
    std::fs::write(&older, b"").expect("empty");
    let newest_now = checkpoints.join("step-00000006");
    std::fs::write(newest_now.join("model.mpk"), b"").expect("empty");
    let Err(error) = polyclip_train::checkpoint::CheckpointDir::new(interrupted.path()).latest()
    else {
        panic!("a damaged checkpoint was taken");
    };
    assert_eq!(
        error.to_string(),
        format!(
            "checkpoint {}: model.mpk does not match its checksum: it was cut short or changed after it was \
             written, and no older checkpoint is intact",
            newest_now.display()
        )
    );
}
