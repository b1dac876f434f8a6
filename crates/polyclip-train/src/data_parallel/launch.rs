//! Starts one peer per device (a thread each) on the same [`Trainer`] and waits for all of them.

use burn::collective::reset_collective;
use burn::tensor::backend::AutodiffBackend;
use polyclip_data::DataError;
use polyclip_data::batching::loader::BatchSource;

use crate::data_parallel::peer::with_shared_param_ids;
use crate::data_parallel::{Nodes, Peer, nodes};
use crate::error::TrainError;
use crate::trainable::TrainableModel;
use crate::trainer::{TrainOutcome, Trainer};

/// Trains `model` as `trainer` would, data-parallel over `devices`: each device holds a replica and embeds its
/// slice of every batch of `loader`; the replicas apply the mean of their gradients, so they stay identical and
/// train as one device with the whole batch does. Rank 0 (the first device) writes the log and the checkpoints
/// and its outcome is returned; with `resume`, every peer starts from the newest checkpoint.
///
/// With `nodes`, this is one node of a job of several machines: its devices are peers
/// `node_rank · devices … node_rank · devices + devices − 1` of the job (every node runs as many devices), the
/// first device of each node writes the log and checkpoints into that node's run folder, and node 0 hosts the
/// coordinator. Every node must be started with the same recipe, options and data.
///
/// Every peer reads the whole batch from `loader` and keeps its rows (the loading is not split between peers).
pub fn fit_data_parallel<B, M>(
    trainer: &Trainer,
    model: M,
    loader: &(dyn BatchSource<Result<M::Batch, DataError>> + Sync),
    resume: bool,
    devices: &[B::Device],
    nodes: Option<&Nodes>,
) -> Result<TrainOutcome<M>, TrainError>
where
    B: AutodiffBackend,
    M: TrainableModel<B> + Send,
    M::Batch: Send + 'static,
{
    if let Some(nodes) = nodes {
        return fit_on_nodes(trainer, model, loader, resume, devices, nodes);
    }
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
    run_peers(trainer, model, loader, resume, devices, |rank, device| {
        Ok((
            Peer::register::<B::InnerBackend>(rank, peers, device)?,
            true,
        ))
    })
}

/// One node of a job of several machines: joins the others once per process (node 0 starting the coordinator
/// first), and stays joined after the stage (see [`nodes::first_join`]).
fn fit_on_nodes<B, M>(
    trainer: &Trainer,
    model: M,
    loader: &(dyn BatchSource<Result<M::Batch, DataError>> + Sync),
    resume: bool,
    devices: &[B::Device],
    nodes: &Nodes,
) -> Result<TrainOutcome<M>, TrainError>
where
    B: AutodiffBackend,
    M: TrainableModel<B> + Send,
    M::Batch: Send + 'static,
{
    let local_devices = devices.len();
    let first = nodes::first_join(nodes, local_devices, || {
        nodes::check_node_port(nodes.node_address.port, nodes.node_rank * local_devices)?;
        if nodes.node_rank == 0 {
            nodes::start_coordinator(nodes.coordinator.port)?;
        }
        Ok(())
    })?;
    let model = with_shared_param_ids(model);
    run_peers(trainer, model, loader, resume, devices, |local, device| {
        let peer = Peer::join::<B::InnerBackend>(local, local_devices, nodes, first, device)?;
        Ok((peer, false))
    })
}

/// Runs `trainer` on a replica of `model` per device, each in its thread with the peer `join` gives it (and
/// whether to leave the collective after the stage); returns rank 0's outcome, or the error that stopped the
/// peers.
fn run_peers<B, M>(
    trainer: &Trainer,
    model: M,
    loader: &(dyn BatchSource<Result<M::Batch, DataError>> + Sync),
    resume: bool,
    devices: &[B::Device],
    join: impl Fn(usize, &B::Device) -> Result<(Peer, bool), TrainError> + Sync,
) -> Result<TrainOutcome<M>, TrainError>
where
    B: AutodiffBackend,
    M: TrainableModel<B> + Send,
    M::Batch: Send + 'static,
{
    let join = &join;
    let outcomes: Vec<Result<TrainOutcome<M>, TrainError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = devices
            .iter()
            .enumerate()
            .map(|(local, device)| {
                let replica = model.clone().fork(device);
                scope.spawn(move || {
                    let (peer, leave) = join(local, device)?;
                    let peer_trainer = Trainer {
                        config: trainer.config.clone(),
                        run_dir: trainer.run_dir.clone(),
                        progress: trainer.progress,
                        stop_after: trainer.stop_after,
                        peer: Some(peer),
                    };
                    let outcome = peer_trainer.fit(replica, loader, resume, device);
                    if leave {
                        peer.finish::<B::InnerBackend>()?;
                    }
                    outcome
                })
            })
            .collect();
        handles
            .into_iter()
            .enumerate()
            .map(|(local, handle)| {
                handle.join().unwrap_or_else(|_| {
                    Err(TrainError::Collective {
                        rank: local,
                        reason: "the peer's thread panicked".into(),
                    })
                })
            })
            .collect()
    });
    // The node's first peer's outcome; otherwise the first error that is not another peer's having stopped because of it.
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
