//! One peer of a data-parallel run: its place in the collective and the collective operations the step needs.

use std::ops::Range;

use burn::collective::{
    CollectiveConfig, PeerId, ReduceOperation, all_reduce, finish_collective, register,
};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor, TensorPrimitive};

use crate::error::TrainError;

/// A peer: rank `rank` of `peers`, registered with burn-collective on the backend `B` (the inner backend of the
/// autodiff backend that trains: gradients and gathered embeddings live there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    rank: usize,
    peers: usize,
}

impl Peer {
    /// Registers rank `rank` of `peers` on `device`; returns when every peer has registered.
    pub fn register<B: Backend>(
        rank: usize,
        peers: usize,
        device: &B::Device,
    ) -> Result<Self, TrainError> {
        let peer = Self { rank, peers };
        let config = CollectiveConfig::default().with_num_devices(peers);
        register::<B>(peer.id(), device.clone(), config).map_err(|e| peer.failed("register", e))?;
        Ok(peer)
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn peers(&self) -> usize {
        self.peers
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
        let summed = all_reduce::<B>(
            self.id(),
            placed.into_primitive().tensor(),
            ReduceOperation::Sum,
        )
        .map_err(|e| self.failed("all-gather", e))?;
        Ok(Tensor::from_primitive(TensorPrimitive::Float(summed)))
    }

    /// The mean over the peers of every gradient (every peer holds the same parameters, so the same ids).
    pub fn all_reduce_mean<B: AutodiffBackend>(
        &self,
        grads: GradientsParams,
    ) -> Result<GradientsParams, TrainError> {
        grads
            .all_reduce::<B::InnerBackend>(self.id(), ReduceOperation::Mean)
            .map_err(|e| self.failed("all-reduce", e))
    }

    /// Whether every peer's `ok` is true (a peer that failed to write tells the others to stop).
    pub fn all_agree<B: Backend>(&self, ok: bool, device: &B::Device) -> Result<bool, TrainError> {
        let flag = Tensor::<B, 1>::from_floats([if ok { 1.0 } else { 0.0 }], device);
        let sum = all_reduce::<B>(
            self.id(),
            flag.into_primitive().tensor(),
            ReduceOperation::Sum,
        )
        .map_err(|e| self.failed("agree", e))?;
        let sum: f32 = Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(sum))
            .into_scalar()
            .elem();
        Ok(sum.round() as usize == self.peers)
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
        let values = [bytes, squares].concat();
        let tensor = Tensor::<B, 1>::from_floats(values.as_slice(), device);
        let summed = all_reduce::<B>(
            self.id(),
            tensor.into_primitive().tensor(),
            ReduceOperation::Sum,
        )
        .map_err(|e| self.failed("comparing hashes", e))?;
        let sums = Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(summed))
            .into_data()
            .convert::<f64>()
            .to_vec::<f64>()
            .map_err(|e| self.failed("comparing hashes", e))?;
        let (sum, square) = sums.split_at(8);
        Ok(sum
            .iter()
            .zip(square)
            .all(|(sum, square)| (self.peers as f64 * square - sum * sum).abs() < 0.5))
    }

    /// Leaves the collective.
    pub fn finish<B: Backend>(&self) -> Result<(), TrainError> {
        finish_collective::<B>(self.id()).map_err(|e| self.failed("finish", e))
    }
}

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
                .map(|rank| Peer { rank, peers }.rows(10))
                .collect::<Vec<_>>()
        };
        assert_eq!(rows(2), vec![0..5, 5..10]);
        assert_eq!(rows(3), vec![0..4, 4..7, 7..10]);
        assert_eq!(rows(1), vec![0..10]);
    }
}
