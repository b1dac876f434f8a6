//! Starts one peer per device (a thread each) on the same [`Trainer`] and waits for all of them.

use burn::collective::reset_collective;
use burn::tensor::backend::AutodiffBackend;
use polyclip_data::DataError;
use polyclip_data::batching::loader::BatchSource;

use crate::data_parallel::Peer;
use crate::error::TrainError;
use crate::trainable::TrainableModel;
use crate::trainer::{TrainOutcome, Trainer};

/// Trains `model` as `trainer` would, data-parallel over `devices`: each device holds a replica and embeds its
/// slice of every batch of `loader`; the replicas apply the mean of their gradients, so they stay identical and
/// train as one device with the whole batch does. Rank 0 (the first device) writes the log and the checkpoints
/// and its outcome is returned; with `resume`, every peer starts from the newest checkpoint.
///
/// Every peer reads the whole batch from `loader` and keeps its rows (the loading is not split between peers).
pub fn fit_data_parallel<B, M>(
    trainer: &Trainer,
    model: M,
    loader: &(dyn BatchSource<Result<M::Batch, DataError>> + Sync),
    resume: bool,
    devices: &[B::Device],
) -> Result<TrainOutcome<M>, TrainError>
where
    B: AutodiffBackend,
    M: TrainableModel<B> + Send,
    M::Batch: Send + 'static,
{
    if devices.len() < 2 {
        return match devices.first() {
            Some(device) => trainer.fit(model, loader, resume, device),
            None => Err(TrainError::Collective {
                rank: 0,
                reason: "no device to train on".into(),
            }),
        };
    }
    // A fresh collective: peers of an earlier run in this process are forgotten.
    reset_collective::<B::InnerBackend>();
    let peers = devices.len();
    let outcomes: Vec<Result<TrainOutcome<M>, TrainError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = devices
            .iter()
            .enumerate()
            .map(|(rank, device)| {
                let replica = model.clone().fork(device);
                scope.spawn(move || {
                    let peer = Peer::register::<B::InnerBackend>(rank, peers, device)?;
                    let peer_trainer = Trainer {
                        config: trainer.config.clone(),
                        run_dir: trainer.run_dir.clone(),
                        progress: trainer.progress,
                        stop_after: trainer.stop_after,
                        peer: Some(peer),
                    };
                    let outcome = peer_trainer.fit(replica, loader, resume, device);
                    peer.finish::<B::InnerBackend>()?;
                    outcome
                })
            })
            .collect();
        handles
            .into_iter()
            .enumerate()
            .map(|(rank, handle)| {
                handle.join().unwrap_or_else(|_| {
                    Err(TrainError::Collective {
                        rank,
                        reason: "the peer's thread panicked".into(),
                    })
                })
            })
            .collect()
    });
    // Rank 0's outcome; otherwise the first error that is not another peer's having stopped because of it.
    let mut outcomes = outcomes.into_iter();
    let first = outcomes.next().unwrap_or_else(|| {
        Err(TrainError::Collective {
            rank: 0,
            reason: "no peer ran".into(),
        })
    });
    match first {
        Ok(outcome) => Ok(outcome),
        Err(TrainError::PeerStopped { .. }) => Err(outcomes
            .filter_map(Result::err)
            .find(|error| !matches!(error, TrainError::PeerStopped { .. }))
            .unwrap_or(TrainError::Collective {
                rank: 0,
                reason: "stopped by a peer that reported nothing".into(),
            })),
        Err(error) => Err(error),
    }
}
