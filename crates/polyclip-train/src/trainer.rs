//! The training loop, generic over any `AutodiffBackend` and any [`TrainableModel`] (CLIP dual encoders,
//! captioners): steps with frozen towers, the schedule, checkpoints, `--resume`, a progress bar and the
//! metrics log.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use indicatif::{ProgressBar, ProgressStyle};
use polyclip_data::DataError;
use polyclip_data::batching::loader::BatchSource;

use crate::checkpoint::{CheckpointDir, CheckpointState, EarlyStoppingState};
use crate::data_parallel::Peer;
use crate::data_parallel::peer::bytes_hash;
use crate::error::TrainError;
use crate::failpoint::failpoint;
use crate::finite::{all_finite, first_non_finite};
use crate::loss_scale::{LossScaleState, LossScaler};
use crate::metrics_log::{MetricsLog, StepMetrics};
use crate::optimizer::ClipOptimizer;
use crate::precision::Precision;
pub use crate::train_config::{EarlyStopping, FreezeConfig, NanPolicy, TrainConfig};
use crate::trainable::{StepGradients, TrainableModel, step_gradients};

/// What a finished (or stopped) run returns.
pub struct TrainOutcome<M> {
    pub model: M,
    /// Loss of every step this call ran, in order.
    pub losses: Vec<f32>,
    /// The step the run started from (non-zero after `--resume`).
    pub first_step: usize,
    /// Samples per second over this call's steps.
    pub samples_per_s: f64,
    /// `(step, validation loss)` of every validation (with early stopping).
    pub validation: Vec<(usize, f32)>,
    /// The step early stopping ended the run after, if it did.
    pub stopped_early_at: Option<usize>,
    /// Steps dropped for a non-finite loss or update (`nan_policy = "skip-step"`).
    pub skipped_steps: usize,
    /// f16 steps whose gradients overflowed under the loss scale, so they did not update the weights.
    pub overflowed_steps: usize,
    /// Where the dynamic loss scale ended (f16 runs).
    pub loss_scale: Option<LossScaleState>,
}

/// Scores a model on held-out data (lower is better), for early stopping.
pub type Validator<'a, M> = &'a mut dyn FnMut(&M) -> Result<f32, TrainError>;

/// Runs [`TrainConfig`] in a run folder (checkpoints, `metrics.jsonl`).
pub struct Trainer {
    pub config: TrainConfig,
    pub run_dir: PathBuf,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Stop after this step even if the run is longer, as a crash would: no checkpoint is written at the stop,
    /// so a resumed run restarts from the last periodic checkpoint (the schedule is unchanged).
    pub stop_after: Option<usize>,
    /// This replica's peer in data-parallel training ([`fit_data_parallel`](crate::data_parallel::fit_data_parallel)
    /// sets it): each step embeds the peer's rows of the batch; only the first peer of each machine writes the log and
    /// the checkpoints.
    pub peer: Option<Peer>,
}

impl Trainer {
    pub fn new(config: TrainConfig, run_dir: &Path) -> Self {
        Self {
            config,
            run_dir: run_dir.to_owned(),
            progress: false,
            stop_after: None,
            peer: None,
        }
    }

    /// Trains `model` on the loader's batches (a [`DataLoader`](polyclip_data::DataLoader) over files or indexed
    /// shards, or a [`StreamLoader`](polyclip_data::StreamLoader) over streamed shards); with `resume`, continues
    /// from the newest checkpoint.
    pub fn fit<B: AutodiffBackend, M: TrainableModel<B>>(
        &self,
        model: M,
        loader: &dyn BatchSource<Result<M::Batch, DataError>>,
        resume: bool,
        device: &B::Device,
    ) -> Result<TrainOutcome<M>, TrainError>
    where
        M::Batch: Send + 'static,
    {
        self.fit_validated(model, loader, resume, device, None)
    }

    /// [`fit`](Self::fit) with a validation loss for the config's early stopping (required when it has one).
    pub fn fit_validated<B: AutodiffBackend, M: TrainableModel<B>>(
        &self,
        model: M,
        loader: &dyn BatchSource<Result<M::Batch, DataError>>,
        resume: bool,
        device: &B::Device,
        mut validator: Option<Validator<'_, M>>,
    ) -> Result<TrainOutcome<M>, TrainError>
    where
        M::Batch: Send + 'static,
    {
        self.config.validate()?;
        if self.config.early_stopping.is_some() && validator.is_none() {
            return Err(TrainError::InvalidConfig {
                key: "early_stopping",
                value: format!("{:?}", self.config.early_stopping),
                reason: "this model's trainer has no validation data".into(),
            });
        }
        if !M::MICRO_BATCHES {
            self.config.refuse_micro_batch()?;
        }
        if !M::HALF_PRECISION {
            self.config.refuse_half_precision()?;
        }
        let peer = self.peer.as_ref();
        if let Some(peer) = peer {
            if !M::DATA_PARALLEL {
                return Err(TrainError::Collective {
                    rank: peer.rank(),
                    reason: "only contrastive (CLIP) training runs on several devices; give it one"
                        .into(),
                });
            }
            if self.config.early_stopping.is_some() {
                return Err(TrainError::Collective {
                    rank: peer.rank(),
                    reason: "early stopping is not supported on several devices yet; give the stage one device"
                        .into(),
                });
            }
        }
        // The first peer of each machine (or the only trainer) writes the log and the checkpoints.
        let writes = peer.is_none_or(Peer::writes);
        let mut validation = Vec::new();
        // The lowest validation loss so far: (score, step, model).
        let mut best: Option<(f32, usize, M)> = None;
        let mut since_best = 0usize;
        let mut stopped_early_at = None;
        if writes {
            std::fs::create_dir_all(&self.run_dir).map_err(|e| TrainError::io(&self.run_dir, e))?;
        }
        let checkpoints = CheckpointDir::new(&self.run_dir);
        let mut model = model.freeze(self.config.freeze);
        let mut optimizer = ClipOptimizer::new(&self.config.optimizer);
        let mut first_step = 0;
        let mut scaler = (self.config.precision == Precision::F16)
            .then(|| LossScaler::new(self.config.loss_scale));
        if resume {
            let (dir, state) =
                checkpoints
                    .latest()?
                    .ok_or_else(|| TrainError::NothingToResume {
                        dir: self.run_dir.join("checkpoints"),
                    })?;
            let template = model.clone();
            let (loaded, loaded_optimizer) = CheckpointDir::load(&dir, model, optimizer, device)?;
            model = loaded.freeze(self.config.freeze);
            optimizer = loaded_optimizer;
            first_step = state.step;
            if let (Some(scaler), Some(scale)) = (scaler.as_mut(), state.loss_scale) {
                *scaler = LossScaler::resume(self.config.loss_scale, scale);
            }
            if let Some(stopping) = state.early_stopping {
                let best_model = if stopping.best_step == state.step {
                    model.clone()
                } else {
                    CheckpointDir::load_best(&dir, template, device)?.freeze(self.config.freeze)
                };
                best = Some((stopping.best_score, stopping.best_step, best_model));
                since_best = stopping.since_best;
                validation = stopping.history;
            }
        }
        if let Some(peer) = peer {
            self.peers_agree::<B, M>(peer, &model, first_step, device)?;
        }
        let total = self.config.steps;
        let last = self.stop_after.map_or(total, |stop| stop.min(total));
        let mut log = if writes {
            Some(MetricsLog::open(
                &self.run_dir.join("metrics.jsonl"),
                first_step,
            )?)
        } else {
            None
        };
        let bar = if writes {
            self.progress_bar(total, first_step)
        } else {
            ProgressBar::hidden()
        };
        let mut losses = Vec::with_capacity(last.saturating_sub(first_step));
        let mut batches = loader.batches_from(first_step);
        let started = Instant::now();
        let mut samples = 0usize;
        let (mut skipped_in_a_row, mut skipped_steps) = (0usize, 0usize);
        let mut overflowed_steps = 0usize;
        for step in first_step..last {
            let step_started = Instant::now();
            let batch = batches.next().ok_or(TrainError::NoBatches)??;
            let rows = M::batch_len(&batch);
            if rows < M::MIN_BATCH {
                return Err(TrainError::BatchTooSmall {
                    step,
                    rows,
                    min: M::MIN_BATCH,
                });
            }
            let lr = self.config.schedule.lr(step, total);
            let loss_scale = scaler.as_ref().map(LossScaler::scale);
            let StepGradients {
                loss: loss_value,
                gradients,
                overflowed,
            } = step_gradients(&model, batch, &self.config, loss_scale, peer)?;
            if let Some(scaler) = scaler.as_mut()
                && (overflowed || gradients.is_some())
            {
                scaler.update(overflowed);
            }
            let skipping = self.config.nan_policy == NanPolicy::SkipStep;
            // An overflowed f16 step leaves the weights as they were; the smaller scale is for the next one.
            let non_finite = if overflowed {
                overflowed_steps += 1;
                None
            } else if let Some(grads) = gradients {
                let before = skipping.then(|| (model.clone(), optimizer.clone()));
                model = optimizer.step(lr, model, grads);
                // The weights are checked (on the inner backend: no autodiff graph) whenever this step's model
                // can leave the loop — a checkpoint, a validation, the end of the call — and after every step
                // under `skip-step`, before anything of the step is logged or saved. In between, weights that
                // became NaN give a NaN loss at the next step, which stops the run there.
                let done = step + 1;
                let checked = skipping
                    || done == last
                    || (self.config.checkpoint_every > 0
                        && done % self.config.checkpoint_every == 0)
                    || self
                        .config
                        .early_stopping
                        .is_some_and(|stopping| done % stopping.every == 0);
                let weights = checked.then(|| model.valid());
                if weights.as_ref().is_none_or(all_finite) {
                    None
                } else {
                    if let Some((previous, previous_optimizer)) = before {
                        model = previous;
                        optimizer = previous_optimizer;
                    }
                    Some(TrainError::NonFiniteParameter {
                        run_dir: self.run_dir.clone(),
                        step,
                        parameter: weights
                            .as_ref()
                            .and_then(first_non_finite)
                            .unwrap_or_else(|| "a parameter".into()),
                    })
                }
            } else {
                Some(TrainError::NonFiniteLoss {
                    run_dir: self.run_dir.clone(),
                    step,
                    value: loss_value,
                })
            };
            if let Some(error) = non_finite {
                skipped_in_a_row += 1;
                if !skipping || skipped_in_a_row >= self.config.max_skipped_in_a_row {
                    return Err(if skipping {
                        TrainError::TooManySkippedSteps {
                            in_a_row: skipped_in_a_row,
                            last: Box::new(error),
                        }
                    } else {
                        error
                    });
                }
                skipped_steps += 1;
                eprintln!("polyclip: skipped (nan_policy = \"skip-step\"): {error}");
                bar.inc(1);
                continue;
            }
            skipped_in_a_row = 0;
            failpoint("step");
            losses.push(loss_value);
            samples += rows;
            let samples_per_s = rows as f64 / step_started.elapsed().as_secs_f64().max(1e-9);
            let logged = log.as_mut().map_or(Ok(()), |log| {
                log.append(&StepMetrics {
                    step,
                    loss: loss_value,
                    lr,
                    logit_scale: model.monitor(),
                    samples_per_s,
                    loss_scale,
                    overflowed,
                })
            });
            self.all_went_through::<B>(logged, step, device)?;
            bar.set_message(format!(
                "loss {loss_value:.4}  lr {lr:.2e}  {samples_per_s:.0} samples/s"
            ));
            bar.inc(1);
            let done = step + 1;
            if let (Some(stopping), Some(validator)) =
                (self.config.early_stopping, validator.as_mut())
                && (done % stopping.every == 0 || done == total)
            {
                let score = validator(&model)?;
                validation.push((done, score));
                if best.as_ref().is_none_or(|(lowest, _, _)| score < *lowest) {
                    best = Some((score, done, model.clone()));
                    since_best = 0;
                } else {
                    since_best += 1;
                    if since_best >= stopping.patience {
                        // No checkpoint at the stop: a resumed run replays to here and stops the same way.
                        stopped_early_at = Some(done);
                        break;
                    }
                }
            }
            let periodic =
                self.config.checkpoint_every > 0 && done % self.config.checkpoint_every == 0;
            if periodic || done == total {
                let early_stopping =
                    best.as_ref()
                        .map(|(score, best_step, _)| EarlyStoppingState {
                            best_step: *best_step,
                            best_score: *score,
                            since_best,
                            history: validation.clone(),
                        });
                let best_model = best
                    .as_ref()
                    .filter(|(_, best_step, _)| *best_step != done)
                    .map(|(_, _, model)| model);
                let saved = if !writes {
                    Ok(())
                } else {
                    checkpoints
                        .save(
                            &model,
                            &optimizer,
                            best_model,
                            CheckpointState {
                                step: done,
                                total_steps: total,
                                early_stopping,
                                loss_scale: scaler.as_ref().map(LossScaler::state),
                                checksums: Default::default(),
                            },
                            self.config.keep_checkpoints,
                        )
                        .map(drop)
                };
                self.all_went_through::<B>(saved, step, device)?;
                self.replicas_agree::<B, M>(&model, done, device)?;
            }
        }
        bar.finish_and_clear();
        if peer.is_some() {
            self.replicas_agree::<B, M>(&model, last, device)?;
        }
        let samples_per_s = samples as f64 / started.elapsed().as_secs_f64().max(1e-9);
        Ok(TrainOutcome {
            model: best.map_or(model, |(_, _, model)| model),
            losses,
            first_step,
            samples_per_s,
            validation,
            stopped_early_at,
            skipped_steps,
            overflowed_steps,
            loss_scale: scaler.as_ref().map(LossScaler::state),
        })
    }

    /// This trainer's write `written` and, in data-parallel training, the other peers': every peer learns whether
    /// all of them went through, so that a peer whose write failed returns its error and the others stop with
    /// [`TrainError::PeerStopped`] instead of waiting for it at the next step.
    fn all_went_through<B: AutodiffBackend>(
        &self,
        written: Result<(), TrainError>,
        step: usize,
        device: &B::Device,
    ) -> Result<(), TrainError> {
        let Some(peer) = &self.peer else {
            return written;
        };
        let all = peer.all_agree::<B::InnerBackend>(written.is_ok(), device)?;
        written?;
        if all {
            Ok(())
        } else {
            Err(TrainError::PeerStopped {
                rank: peer.rank(),
                step,
            })
        }
    }

    /// Before the first step of data-parallel training: every peer has its own rank, starts from the same step, has
    /// the same training config and the same weights (a peer that differs refuses to start, in one line).
    fn peers_agree<B: AutodiffBackend, M: TrainableModel<B>>(
        &self,
        peer: &Peer,
        model: &M,
        first_step: usize,
        device: &B::Device,
    ) -> Result<(), TrainError> {
        let refuse = |reason: String| TrainError::Collective {
            rank: peer.rank(),
            reason,
        };
        // Every peer in its own place: as many peers everywhere, each rank once (a node started with another's
        // --node-rank would embed another's rows, and the gathered batch would hold them twice).
        if !peer.all_equal::<B::InnerBackend>(peer.peers() as u64, device)? {
            return Err(refuse(format!(
                "the nodes run different numbers of devices (this one makes {} peers in all); give every node as many --devices",
                peer.peers()
            )));
        }
        if !peer.ranks_are_distinct::<B::InnerBackend>(device)? {
            return Err(refuse(
                "two peers have the same rank: give every node its own --node-rank, 0 to --num-nodes − 1".into(),
            ));
        }
        if !peer.all_equal::<B::InnerBackend>(first_step as u64, device)? {
            return Err(refuse(format!(
                "the peers start from different steps (this one from step {first_step}): a node stopped while it wrote a checkpoint, or a stage ended on one node only; remove the newer checkpoints (or stage folder) so that every node resumes from the same step"
            )));
        }
        let config = serde_json::to_vec(&self.config).map_err(|e| {
            refuse(format!(
                "its training config cannot be written for comparison: {e}"
            ))
        })?;
        if !peer.all_equal::<B::InnerBackend>(bytes_hash(&config), device)? {
            return Err(refuse(
                "the peers' training configs differ; start every peer with the same recipe and options".into(),
            ));
        }
        self.replicas_agree::<B, M>(model, first_step, device)
    }

    /// In data-parallel training, that every replica holds the same weights after step `done` (checked at every
    /// checkpoint and at the end).
    fn replicas_agree<B: AutodiffBackend, M: TrainableModel<B>>(
        &self,
        model: &M,
        done: usize,
        device: &B::Device,
    ) -> Result<(), TrainError> {
        match &self.peer {
            Some(peer) if !peer.replicas_agree::<B::InnerBackend, _>(&model.valid(), device)? => {
                Err(TrainError::ReplicasDiverged { step: done })
            }
            _ => Ok(()),
        }
    }

    fn progress_bar(&self, total: usize, position: usize) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(total as u64).with_position(position as u64);
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
        ) {
            bar.set_style(style);
        }
        bar
    }
}
