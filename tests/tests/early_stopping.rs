//! Early stopping (Themo): validations every `every` steps; after `patience` validations without a lower loss
//! the run stops and returns the model of the best validation.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use polyclip_models::ClipModel;
use polyclip_tests::{
    DEVICE, Train, loader, model, model_config, small_dataset, text_features, tokenizer,
    train_config,
};
use polyclip_train::trainer::{EarlyStopping, Validator};
use polyclip_train::{TrainError, Trainer};

#[test]
fn a_run_stops_after_patience_and_returns_the_best_model() {
    let data_dir = tempfile::tempdir().expect("data dir");
    let data = small_dataset(data_dir.path(), 128, 8);
    let config = model_config(&tokenizer());
    let fit = |steps: usize, stopping: Option<EarlyStopping>| {
        let mut settings = train_config(steps, 1e-3);
        settings.early_stopping = stopping;
        let run = tempfile::tempdir().expect("run dir");
        // Validation losses that fall until step 2, then rise: the best model is the one after step 2.
        let mut losses = [3.0_f32, 1.0, 2.0, 2.5, 4.0, 5.0, 6.0, 7.0].into_iter();
        let mut validator =
            |_: &ClipModel<Train>| -> Result<f32, TrainError> { Ok(losses.next().unwrap_or(9.0)) };
        let validator: Option<Validator<'_, ClipModel<Train>>> = if stopping.is_some() {
            Some(&mut validator)
        } else {
            None
        };
        Trainer::new(settings, run.path())
            .fit_validated(
                model(&config, 2),
                &loader(&data, "pt", 16, 0, 2),
                false,
                &DEVICE,
                validator,
            )
            .expect("training")
    };
    let stopped = fit(
        8,
        Some(EarlyStopping {
            every: 1,
            patience: 2,
        }),
    );
    assert_eq!(
        stopped.stopped_early_at,
        Some(4),
        "two validations without improvement after step 2"
    );
    assert_eq!(stopped.losses.len(), 4);
    assert_eq!(
        stopped
            .validation
            .iter()
            .map(|(step, _)| *step)
            .collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    // The returned model is the one after step 2 (same data order and schedule: an 8-step run's first two steps).
    let two_steps = fit(
        8,
        Some(EarlyStopping {
            every: 1,
            patience: 1,
        }),
    );
    assert_eq!(two_steps.stopped_early_at, Some(3));
    assert_eq!(
        text_features(&stopped.model),
        text_features(&two_steps.model)
    );
    let unstopped = fit(8, None);
    assert_ne!(
        text_features(&stopped.model),
        text_features(&unstopped.model)
    );
}

/// Early stopping's state (best loss, its model, validations since, the history) is in the checkpoint: a run
/// interrupted after step 3 and resumed stops where the uninterrupted run stops and returns the same best model.
#[test]
fn a_resumed_run_stops_where_the_uninterrupted_one_does() {
    let data_dir = tempfile::tempdir().expect("data dir");
    let data = small_dataset(data_dir.path(), 128, 8);
    let config = model_config(&tokenizer());
    // Falls until step 2, then rises: with patience 3 the run stops after step 5 with step 2's model.
    const SCORES: [f32; 8] = [3.0, 1.0, 2.0, 2.5, 4.0, 5.0, 6.0, 7.0];
    let trainer = |run: &std::path::Path, stop_after: Option<usize>| {
        let mut settings = train_config(8, 1e-3);
        settings.checkpoint_every = 1;
        settings.early_stopping = Some(EarlyStopping {
            every: 1,
            patience: 3,
        });
        let mut trainer = Trainer::new(settings, run);
        trainer.stop_after = stop_after;
        trainer
    };
    let fit = |trainer: Trainer, resume: bool, first_score: usize| {
        let mut scores = SCORES[first_score..].iter().copied();
        let mut validator =
            |_: &ClipModel<Train>| -> Result<f32, TrainError> { Ok(scores.next().unwrap_or(9.0)) };
        trainer
            .fit_validated(
                model(&config, 2),
                &loader(&data, "pt", 16, 0, 2),
                resume,
                &DEVICE,
                Some(&mut validator),
            )
            .expect("training")
    };
    let whole_run = tempfile::tempdir().expect("run dir");
    let whole = fit(trainer(whole_run.path(), None), false, 0);
    assert_eq!(whole.stopped_early_at, Some(5));

    let run = tempfile::tempdir().expect("run dir");
    let first = fit(trainer(run.path(), Some(3)), false, 0);
    assert_eq!(first.stopped_early_at, None);
    let resumed = fit(trainer(run.path(), None), true, 3);
    assert_eq!(resumed.first_step, 3);
    assert_eq!(resumed.stopped_early_at, Some(5));
    assert_eq!(resumed.validation, whole.validation);
    assert_eq!(
        text_features(&resumed.model),
        text_features(&whole.model),
        "the best model (step 2's) is restored from the checkpoint"
    );
}
