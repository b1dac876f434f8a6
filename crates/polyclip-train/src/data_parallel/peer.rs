//! One peer of a data-parallel run: its place in the collective and the collective operations the step needs.

use std::ops::Range;
use std::time::Duration;

use burn::collective::{
    CollectiveConfig, CollectiveError, PeerId, ReduceOperation, all_reduce, finish_collective,
    register,
};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Bool, Int, Tensor, TensorPrimitive};

use crate::data_parallel::Nodes;
use crate::data_parallel::watchdog::{self, Armed};
use crate::error::TrainError;

/// A peer: rank `rank` of `peers`, registered with burn-collective on the backend `B` (the inner backend of the
/// autodiff backend that trains: gradients and gathered embeddings live there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    rank: usize,
    peers: usize,
    /// Whether this peer writes the log and checkpoints: the first device of each node (every node keeps its own
    /// copy in its own run folder, so that each can resume).
    writes: bool,
    /// Between nodes: how long an operation may wait for the others ([`watchdog`]).
    timeout: Option<Duration>,
}

impl Peer {
    /// Registers rank `rank` of `peers` on `device`, every peer on this machine; returns when every peer has
    /// registered.
    pub fn register<B: Backend>(
        rank: usize,
        peers: usize,
        device: &B::Device,
    ) -> Result<Self, TrainError> {
        let peer = Self {
            rank,
            peers,
            writes: rank == 0,
            timeout: None,
        };
        let config = CollectiveConfig::default().with_num_devices(peers);
        register::<B>(peer.id(), device.clone(), config).map_err(|e| peer.lost("register", e))?;
        Ok(peer)
    }

    /// Device `local` of this node's `local_devices`, in a job of `nodes`: global rank
    /// `node_rank · local_devices + local` (every node has as many devices). Registers with burn-collective's
    /// global level when `register` (once per process: see [`nodes::first_join`](crate::data_parallel::nodes)).
    pub fn join<B: Backend>(
        local: usize,
        local_devices: usize,
        nodes: &Nodes,
        register_now: bool,
        device: &B::Device,
    ) -> Result<Self, TrainError> {
        let peer = Self {
            rank: nodes.node_rank * local_devices + local,
            peers: nodes.num_nodes * local_devices,
            writes: local == 0,
            timeout: Some(nodes.timeout),
        };
        if register_now {
            let _deadline = peer.watch("joining the other nodes");
            let config = nodes
                .collective_config(local_devices)
                .map_err(|e| peer.failed("register", e))?;
            register::<B>(peer.id(), device.clone(), config)
                .map_err(|e| peer.lost("joining the other nodes", e))?;
        }
        Ok(peer)
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn peers(&self) -> usize {
        self.peers
    }

    /// Whether this peer writes the log and the checkpoints (the first device of its node).
    pub fn writes(&self) -> bool {
        self.writes
    }

    fn id(&self) -> PeerId {
        PeerId(self.rank as u32)
    }

    fn failed(&self, operation: &str, error: impl std::fmt::Debug) -> TrainError {
        TrainError::Collective {
            rank: self.rank,
            reason: format!("{operation}: {error:?}"),
        }
    }

    /// Between nodes, a deadline for the operation `what` (disarmed when the result is dropped).
    fn watch(&self, what: &str) -> Option<Armed> {
        self.timeout.map(|within| {
            watchdog::arm(format!("data-parallel peer {}: {what}", self.rank), within)
        })
    }

    /// A collective operation that failed. burn-collective reports a peer or node that stopped (its process died,
    /// its connection broke) as its local server gone or a global error; say so in words.
    fn lost(&self, operation: &str, error: CollectiveError) -> TrainError {
        let reason = match error {
            CollectiveError::LocalServerMissing => format!(
                "{operation}: the collective stopped: another peer or node stopped or cannot be reached (its own error says why); once every node is back, start them again with --resume"
            ),
            CollectiveError::Global(error) => format!(
                "{operation}: the other nodes: {error:?}: a node stopped or cannot be reached, or was started with another --num-nodes; once every node is back, start them again with --resume"
            ),
            error => format!("{operation}: {error:?}"),
        };
        TrainError::Collective {
            rank: self.rank,
            reason,
        }
    }

    /// The rows of a `total`-row batch this peer embeds: consecutive, the first `total % peers` peers one more.
    pub fn rows(&self, total: usize) -> Range<usize> {
        let (base, extra) = (total / self.peers, total % self.peers);
        let start = self.rank * base + self.rank.min(extra);
        start..start + base + usize::from(self.rank < extra)
    }

    /// Every peer's `[rows, width]` tensor stacked in rank order into the `[total, width]` one. burn-collective has
    /// no all-gather: each peer places its rows in zeros and the peers' tensors are summed (adding zeros is exact),
    /// which moves `peers` times the gathered tensor instead of once.
    pub fn all_gather_rows<B: Backend>(
        &self,
        local: Tensor<B, 2>,
        total: usize,
    ) -> Result<Tensor<B, 2>, TrainError> {
        let rows = self.rows(total);
        let [count, width] = local.dims();
        if count != rows.len() {
            return Err(self.failed(
                "all-gather",
                format!(
                    "{count} rows where the batch gives this peer {}",
                    rows.len()
                ),
            ));
        }
        let device = local.device();
        let dtype = local.dtype();
        let zeros = |n: usize| Tensor::<B, 2>::zeros([n, width], (&device, dtype));
        let mut parts = Vec::with_capacity(3);
        if rows.start > 0 {
            parts.push(zeros(rows.start));
        }
        parts.push(local);
        if rows.end < total {
            parts.push(zeros(total - rows.end));
        }
        let placed = Tensor::cat(parts, 0);
        let _deadline = self.watch("all-gather");
        let summed = all_reduce::<B>(
            self.id(),
            placed.into_primitive().tensor(),
            ReduceOperation::Sum,
        )
        .map_err(|e| self.lost("all-gather", e))?;
        Ok(Tensor::from_primitive(TensorPrimitive::Float(summed)))
    }

    /// The mean over the peers of every gradient (every peer holds the same parameters, so the same ids).
    pub fn all_reduce_mean<B: AutodiffBackend>(
        &self,
        grads: GradientsParams,
    ) -> Result<GradientsParams, TrainError> {
        let _deadline = self.watch("all-reduce");
        grads
            .all_reduce::<B::InnerBackend>(self.id(), ReduceOperation::Mean)
            .map_err(|e| self.lost("all-reduce", e))
    }

    /// Whether every peer's `ok` is true (a peer that failed to write tells the others to stop).
    pub fn all_agree<B: Backend>(&self, ok: bool, device: &B::Device) -> Result<bool, TrainError> {
        let sum = self.sum_over_peers::<B>(&[if ok { 1.0 } else { 0.0 }], "agree", device)?;
        Ok(sum.iter().all(|&sum| sum.round() as usize == self.peers))
    }

    /// Whether every replica of `model` holds the same weights (a hash of their bytes, compared by
    /// [`all_equal`](Self::all_equal)).
    pub fn replicas_agree<B: Backend, M: Module<B>>(
        &self,
        model: &M,
        device: &B::Device,
    ) -> Result<bool, TrainError> {
        self.all_equal::<B>(weights_hash(model), device)
    }

    /// Whether every peer passed the same `hash`: the peers sum the hash's eight bytes and their squares (exact in
    /// f32 for up to 256 peers); the bytes agree on every peer exactly when `peers · Σx² = (Σx)²` for each. Every
    /// peer reaches the same answer.
    pub fn all_equal<B: Backend>(&self, hash: u64, device: &B::Device) -> Result<bool, TrainError> {
        let bytes: Vec<f32> = hash.to_le_bytes().iter().map(|&b| f32::from(b)).collect();
        let squares: Vec<f32> = bytes.iter().map(|b| b * b).collect();
        let sums =
            self.sum_over_peers::<B>(&[bytes, squares].concat(), "comparing hashes", device)?;
        let (sum, square) = sums.split_at(8);
        Ok(sum.iter().zip(square).all(|(&sum, &square)| {
            (self.peers as f64 * f64::from(square) - f64::from(sum) * f64::from(sum)).abs() < 0.5
        }))
    }

    /// Whether every rank `0..peers` belongs to exactly one peer: the peers sum their one-hot rank vectors (every
    /// peer must pass the same number of peers: check that with [`all_equal`](Self::all_equal) first).
    pub fn ranks_are_distinct<B: Backend>(&self, device: &B::Device) -> Result<bool, TrainError> {
        let mut one_hot = vec![0.0_f32; self.peers];
        if let Some(mine) = one_hot.get_mut(self.rank) {
            *mine = 1.0;
        }
        let counts = self.sum_over_peers::<B>(&one_hot, "comparing ranks", device)?;
        Ok(counts.iter().all(|&count| count.round() as i64 == 1))
    }

    /// The element-wise sum of every peer's `values` (the same length on every peer), under the deadline; `what`
    /// names the operation in errors.
    fn sum_over_peers<B: Backend>(
        &self,
        values: &[f32],
        what: &str,
        device: &B::Device,
    ) -> Result<Vec<f32>, TrainError> {
        let tensor = Tensor::<B, 1>::from_floats(values, device);
        let _deadline = self.watch(what);
        let summed = all_reduce::<B>(
            self.id(),
            tensor.into_primitive().tensor(),
            ReduceOperation::Sum,
        )
        .map_err(|e| self.lost(what, e))?;
        Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(summed))
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| self.failed(what, e))
    }

    /// Leaves the collective.
    pub fn finish<B: Backend>(&self) -> Result<(), TrainError> {
        finish_collective::<B>(self.id()).map_err(|e| self.lost("finish", e))
    }
}

/// `model` with its parameters numbered in visiting order (float, int and bool alike), the same in every process
/// that builds the same model. burn's gradient all-reduce goes through the parameters in the order of their ids,
/// which are drawn at random when a model is built: replicas forked in one process share them, but the processes of
/// a job of several machines each drew their own, and summed one parameter's gradient with another's.
pub fn with_shared_param_ids<B: Backend, M: Module<B>>(model: M) -> M {
    struct Numbering(u64);
    impl Numbering {
        fn next(&mut self) -> ParamId {
            self.0 += 1;
            ParamId::from(SHARED_IDS + self.0)
        }
    }
    impl<B: Backend> ModuleMapper<B> for Numbering {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let (_, tensor, mapper) = param.consume();
            Param::from_mapped_value(self.next(), tensor, mapper)
        }
        fn map_int<const D: usize>(
            &mut self,
            param: Param<Tensor<B, D, Int>>,
        ) -> Param<Tensor<B, D, Int>> {
            let (_, tensor, mapper) = param.consume();
            Param::from_mapped_value(self.next(), tensor, mapper)
        }
        fn map_bool<const D: usize>(
            &mut self,
            param: Param<Tensor<B, D, Bool>>,
        ) -> Param<Tensor<B, D, Bool>> {
            let (_, tensor, mapper) = param.consume();
            Param::from_mapped_value(self.next(), tensor, mapper)
        }
    }
    model.map(&mut Numbering(0))
}

/// The first of the ids [`with_shared_param_ids`] gives ("poly" in its high bytes, away from small numbers).
const SHARED_IDS: u64 = 0x706f_6c79_0000_0000;

/// FNV-1a 64 of every float parameter's bytes, in visiting order.
pub fn weights_hash<B: Backend, M: Module<B>>(model: &M) -> u64 {
    struct Hash(u64);
    impl<B: Backend> ModuleVisitor<B> for Hash {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.0 = fnv1a(self.0, param.val().into_data().as_bytes());
        }
    }
    let mut hash = Hash(FNV_OFFSET);
    model.visit(&mut hash);
    hash.0
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a 64 of `bytes`, continuing from `hash`.
pub fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// FNV-1a 64 of `bytes`.
pub fn bytes_hash(bytes: &[u8]) -> u64 {
    fnv1a(FNV_OFFSET, bytes)
}

#[cfg(test)]
mod tests {
    use super::Peer;

    #[test]
    fn the_rows_of_a_batch_are_split_in_rank_order_the_first_peers_one_more() {
        let rows = |peers| {
            (0..peers)
                .map(|rank| {
                    Peer {
                        rank,
                        peers,
                        writes: rank == 0,
                        timeout: None,
                    }
                    .rows(10)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(rows(2), vec![0..5, 5..10]);
        assert_eq!(rows(3), vec![0..4, 4..7, 7..10]);
        assert_eq!(rows(1), vec![0..10]);
    }
}
