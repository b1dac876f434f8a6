//! A deterministic multi-worker data loader over a burn [`Dataset`] and [`Batcher`].
//!
//! Batch `s` of a run is a pure function of `(seed, s)`: the epoch's permutation is drawn from
//! `(seed, epoch)`, and every item carries a draw seed derived from `(seed, epoch, position)` that the batcher
//! uses for its random choices (which caption, which augmentation). Worker `w` builds batches
//! `start + w, start + w + N, …` and the consumer takes them round-robin, so the order never depends on
//! thread timing, and resuming at step `s` reproduces exactly the batches an uninterrupted run would see.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::backend::Backend;
use polyclip_augment::mix_seed;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;

/// An item as handed to the batcher: the dataset item, its index and its draw seed.
#[derive(Debug, Clone)]
pub struct Draw<I> {
    pub item: I,
    pub index: usize,
    pub seed: u64,
}

/// How the loader walks the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Reshuffled every epoch, incomplete last batch dropped; endless (training).
    Shuffled,
    /// Dataset order, one pass, last batch possibly short (evaluation).
    Sequential,
}

/// Loader settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoaderConfig {
    pub batch_size: usize,
    /// Threads that run the batcher; 0 builds batches on the calling thread.
    pub num_workers: usize,
    pub seed: u64,
    pub order: Order,
}

/// The plan of which items form batch `step`.
#[derive(Debug, Clone)]
struct Plan {
    len: usize,
    config: LoaderConfig,
}

impl Plan {
    fn batches_per_epoch(&self) -> usize {
        match self.config.order {
            Order::Shuffled => self.len / self.config.batch_size,
            Order::Sequential => self.len.div_ceil(self.config.batch_size),
        }
    }

    fn total_steps(&self) -> Option<usize> {
        match self.config.order {
            Order::Shuffled => None,
            Order::Sequential => Some(self.batches_per_epoch()),
        }
    }

    /// `(dataset index, draw seed)` of every item of batch `step`; `orders` keeps the epoch's permutation, drawn
    /// once per epoch (not per batch: at CC3M's 3 M samples a permutation is a cost per step).
    fn batch(&self, step: usize, orders: &mut EpochOrder) -> Vec<(usize, u64)> {
        let per_epoch = self.batches_per_epoch().max(1);
        let epoch = (step / per_epoch) as u64;
        let within = step % per_epoch;
        let size = self.config.batch_size;
        let seed = self.config.seed;
        let end = ((within + 1) * size).min(self.len);
        let positions = within * size..end;
        let draw = |position: usize| mix_seed(&[seed, epoch, position as u64]);
        match self.config.order {
            Order::Shuffled => {
                let order = orders.of(epoch, self.len, seed);
                positions
                    .map(|position| (order[position], draw(position)))
                    .collect()
            }
            Order::Sequential => positions
                .map(|position| (position, draw(position)))
                .collect(),
        }
    }
}

/// The shuffled order of the epoch being read, drawn from `(seed, epoch)` when the epoch changes.
#[derive(Debug, Default)]
struct EpochOrder {
    epoch: Option<u64>,
    order: Vec<usize>,
    /// Permutations drawn so far.
    draws: usize,
}

impl EpochOrder {
    fn of(&mut self, epoch: u64, len: usize, seed: u64) -> &[usize] {
        if self.epoch != Some(epoch) || self.order.len() != len {
            self.order.clear();
            self.order.extend(0..len);
            self.order
                .shuffle(&mut Pcg64::seed_from_u64(mix_seed(&[seed, epoch])));
            self.epoch = Some(epoch);
            self.draws += 1;
        }
        &self.order
    }
}

/// Where a training loop takes its batches: batch `start` first, then the ones after it, in a fixed order.
pub trait BatchSource<O> {
    fn batches_from(&self, start: usize) -> Box<dyn Iterator<Item = O> + '_>;

    /// Samples the source itself skipped under [`BadInputPolicy::Skip`](crate::BadInputPolicy) (and forgets
    /// them); a batcher's own skips are the batcher's.
    fn take_skipped(&self) -> Vec<crate::DataError> {
        Vec::new()
    }
}

impl<B, I, O> BatchSource<O> for DataLoader<B, I, O>
where
    B: Backend,
    I: Send + Sync + 'static,
    O: Send + 'static,
{
    fn batches_from(&self, start: usize) -> Box<dyn Iterator<Item = O> + '_> {
        Box::new(self.iter_from(start))
    }
}

/// Builds batches `start, start+1, …` of a dataset with a batcher, in order, on `num_workers` threads.
pub struct DataLoader<B: Backend, I, O> {
    plan: Plan,
    dataset: Arc<dyn Dataset<I>>,
    batcher: Arc<dyn Batcher<B, Draw<I>, O>>,
    device: B::Device,
}

impl<B, I, O> DataLoader<B, I, O>
where
    B: Backend,
    I: Send + Sync + 'static,
    O: Send + 'static,
{
    pub fn new(
        dataset: Arc<dyn Dataset<I>>,
        batcher: Arc<dyn Batcher<B, Draw<I>, O>>,
        config: LoaderConfig,
        device: B::Device,
    ) -> Self {
        Self {
            plan: Plan {
                len: dataset.len(),
                config,
            },
            dataset,
            batcher,
            device,
        }
    }

    /// Full batches per epoch (shuffled) or batches in the pass (sequential).
    pub fn batches_per_epoch(&self) -> usize {
        self.plan.batches_per_epoch()
    }

    /// Iterates from batch `start` on (endless for [`Order::Shuffled`]).
    pub fn iter_from(&self, start: usize) -> LoaderIter<B, I, O> {
        let workers = self.plan.config.num_workers;
        let end = self.plan.total_steps();
        let receivers = (0..workers)
            .map(|worker| {
                let (sender, receiver) = sync_channel::<O>(2);
                let job = WorkerJob {
                    plan: self.plan.clone(),
                    dataset: self.dataset.clone(),
                    batcher: self.batcher.clone(),
                    device: self.device.clone(),
                    first: start + worker,
                    stride: workers,
                    end,
                    orders: EpochOrder::default(),
                };
                (receiver, std::thread::spawn(move || job.run(sender)))
            })
            .collect();
        LoaderIter {
            local: WorkerJob {
                plan: self.plan.clone(),
                dataset: self.dataset.clone(),
                batcher: self.batcher.clone(),
                device: self.device.clone(),
                first: start,
                stride: 1,
                end,
                orders: EpochOrder::default(),
            },
            workers: receivers,
            next: start,
            end,
            _backend: PhantomData,
        }
    }
}

struct WorkerJob<B: Backend, I, O> {
    plan: Plan,
    dataset: Arc<dyn Dataset<I>>,
    batcher: Arc<dyn Batcher<B, Draw<I>, O>>,
    device: B::Device,
    first: usize,
    stride: usize,
    end: Option<usize>,
    orders: EpochOrder,
}

impl<B: Backend, I, O> WorkerJob<B, I, O> {
    fn build(&mut self, step: usize) -> O {
        let draws = self
            .plan
            .batch(step, &mut self.orders)
            .into_iter()
            .filter_map(|(index, seed)| {
                self.dataset
                    .get(index)
                    .map(|item| Draw { item, index, seed })
            })
            .collect();
        self.batcher.batch(draws, &self.device)
    }

    fn run(mut self, sender: SyncSender<O>) {
        let mut step = self.first;
        while self.end.is_none_or(|end| step < end) {
            if sender.send(self.build(step)).is_err() {
                return; // the consumer is gone
            }
            step += self.stride;
        }
    }
}

/// The batches of a [`DataLoader`], in order.
pub struct LoaderIter<B: Backend, I, O> {
    local: WorkerJob<B, I, O>,
    workers: Vec<(Receiver<O>, JoinHandle<()>)>,
    next: usize,
    end: Option<usize>,
    _backend: PhantomData<B>,
}

impl<B: Backend, I, O> Iterator for LoaderIter<B, I, O> {
    type Item = O;

    fn next(&mut self) -> Option<O> {
        if self.end.is_some_and(|end| self.next >= end) {
            return None;
        }
        let step = self.next;
        self.next += 1;
        if self.workers.is_empty() {
            return Some(self.local.build(step));
        }
        let worker = (step - self.local.first) % self.workers.len();
        // A worker only stops early if it panicked; build the batch here rather than lose it.
        match self.workers[worker].0.recv() {
            Ok(batch) => Some(batch),
            Err(_) => Some(self.local.build(step)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(order: Order) -> Plan {
        Plan {
            len: 1000,
            config: LoaderConfig {
                batch_size: 10,
                num_workers: 0,
                seed: 7,
                order,
            },
        }
    }

    #[test]
    fn the_permutation_is_drawn_once_per_epoch() {
        let plan = plan(Order::Shuffled);
        let mut orders = EpochOrder::default();
        let epoch: Vec<usize> = (0..100)
            .flat_map(|step| plan.batch(step, &mut orders))
            .map(|(index, _)| index)
            .collect();
        assert_eq!(orders.draws, 1, "100 batches of one epoch, one permutation");
        let mut sorted = epoch.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_ne!(epoch, sorted, "shuffled");
        let next = plan.batch(100, &mut orders);
        assert_eq!(orders.draws, 2, "a new epoch, a new permutation");
        assert_ne!(next[0].0, epoch[0]);
    }

    #[test]
    fn a_batch_does_not_depend_on_the_batches_built_before_it() {
        let plan = plan(Order::Shuffled);
        let mut walked = EpochOrder::default();
        for step in 0..250 {
            plan.batch(step, &mut walked);
        }
        for step in [0, 99, 100, 249, 250] {
            assert_eq!(
                plan.batch(step, &mut walked),
                plan.batch(step, &mut EpochOrder::default()),
                "step {step}"
            );
        }
    }
}
