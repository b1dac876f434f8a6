//! Training batches streamed from WebDataset shards, as open_clip and CAPIVARA read them: every epoch walks the
//! shards in a seeded order through a seeded shuffle buffer ([`ShardStream`]), and consecutive samples form the
//! batches (epochs run into each other; no batch is short).
//!
//! Deterministic like [`DataLoader`](crate::DataLoader): the sample order is a pure function of the seed, every
//! sample's draw seed is derived from the seed and its position in the stream, and workers take batches in turn
//! (the consumer reads them back in order). Resuming at step `s` re-reads the stream up to that point (bytes only,
//! nothing is decoded) and continues with exactly the batches an uninterrupted run would see.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::backend::Backend;

use crate::batching::dataset::ImageTextExample;
use crate::error::DataError;
use polyclip_augment::mix_seed;

use crate::batching::loader::{BatchSource, Draw};
use crate::sources::manifest::ReadOptions;
use crate::sources::webdataset::{ShardStream, StreamShuffle};

/// Settings of a [`StreamLoader`].
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// The shard spec (brace patterns, `::`-separated), relative to the working folder.
    pub spec: String,
    pub options: ReadOptions,
    pub shuffle_buffer: usize,
    pub batch_size: usize,
    /// Threads that run the batcher; 0 builds batches on the calling thread.
    pub num_workers: usize,
    pub seed: u64,
}

/// Endless training batches from streamed shards.
pub struct StreamLoader<B: Backend, T> {
    config: StreamConfig,
    batcher: Arc<dyn Batcher<B, Draw<ImageTextExample>, Result<T, DataError>>>,
    device: B::Device,
    /// Samples the streams skipped (bad JSON, no image member…) under `BadInputPolicy::Skip`.
    skipped: Arc<Mutex<Vec<DataError>>>,
}

type BatchResult<T> = Result<T, DataError>;

impl<B, T> StreamLoader<B, T>
where
    B: Backend,
    T: Send + 'static,
{
    pub fn new(
        config: StreamConfig,
        batcher: Arc<dyn Batcher<B, Draw<ImageTextExample>, BatchResult<T>>>,
        device: B::Device,
    ) -> Self {
        Self {
            config,
            batcher,
            device,
            skipped: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The draws of every batch from `start` on: `Err` in place of a batch the stream could not fill.
    fn draws_from(
        &self,
        start: usize,
    ) -> impl Iterator<Item = Result<Vec<Draw<ImageTextExample>>, DataError>> + Send + 'static {
        let config = self.config.clone();
        let spec = Arc::new(PathBuf::from(&config.spec));
        let size = config.batch_size.max(1);
        let mut samples = EpochSamples::new(config, self.skipped.clone());
        let mut position = 0u64;
        let mut batches = std::iter::from_fn(move || {
            let mut draws = Vec::with_capacity(size);
            while draws.len() < size {
                match samples.next()? {
                    Ok(entry) => {
                        draws.push(Draw {
                            item: ImageTextExample {
                                entry,
                                manifest: spec.clone(),
                            },
                            index: position as usize,
                            seed: mix_seed(&[samples.seed, position]),
                        });
                        position += 1;
                    }
                    Err(error) => return Some(Err(error)),
                }
            }
            Some(Ok(draws))
        });
        // Skipping reads the samples' bytes and decodes nothing; a problem on the way comes out first.
        let mut skipped_error = None;
        for _ in 0..start {
            match batches.next() {
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    skipped_error = Some(error);
                    break;
                }
                None => break,
            }
        }
        skipped_error.map(Err).into_iter().chain(batches)
    }
}

/// The samples of epoch after epoch, each epoch's shard order and shuffle buffer seeded by `(seed, epoch)`.
struct EpochSamples {
    config: StreamConfig,
    seed: u64,
    epoch: u64,
    current: Option<ShardStream>,
    in_epoch: usize,
    failed: bool,
    skipped: Arc<Mutex<Vec<DataError>>>,
}

impl EpochSamples {
    fn new(config: StreamConfig, skipped: Arc<Mutex<Vec<DataError>>>) -> Self {
        Self {
            seed: config.seed,
            config,
            epoch: 0,
            current: None,
            in_epoch: 0,
            failed: false,
            skipped,
        }
    }
}

impl Iterator for EpochSamples {
    type Item = Result<crate::sources::manifest::ManifestEntry, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(stream) = &mut self.current {
                let next = stream.next();
                let skipped = stream.take_skipped();
                if !skipped.is_empty()
                    && let Ok(mut all) = self.skipped.lock()
                {
                    all.extend(skipped);
                }
                match next {
                    Some(Err(error)) => {
                        self.failed = true;
                        return Some(Err(error));
                    }
                    Some(Ok(entry)) => {
                        self.in_epoch += 1;
                        return Some(Ok(entry));
                    }
                    None if self.in_epoch == 0 => {
                        // An epoch without a sample: there will never be a batch.
                        self.failed = true;
                        return Some(Err(DataError::EmptyManifest {
                            path: PathBuf::from(&self.config.spec),
                        }));
                    }
                    None => {
                        self.current = None;
                        self.epoch += 1;
                    }
                }
            }
            let shuffle = StreamShuffle {
                buffer: self.config.shuffle_buffer,
                seed: mix_seed(&[self.seed, self.epoch]),
            };
            match ShardStream::open(
                &self.config.spec,
                std::path::Path::new(""),
                self.config.options.clone(),
                shuffle,
            ) {
                Ok(stream) => {
                    self.current = Some(stream);
                    self.in_epoch = 0;
                }
                Err(error) => {
                    self.failed = true;
                    return Some(Err(error));
                }
            }
        }
    }
}

impl<B, T> BatchSource<BatchResult<T>> for StreamLoader<B, T>
where
    B: Backend,
    T: Send + 'static,
{
    fn take_skipped(&self) -> Vec<DataError> {
        self.skipped
            .lock()
            .map(|mut skipped| std::mem::take(&mut *skipped))
            .unwrap_or_default()
    }

    fn batches_from(&self, start: usize) -> Box<dyn Iterator<Item = BatchResult<T>> + '_> {
        let draws = self.draws_from(start);
        let workers = self.config.num_workers;
        if workers == 0 {
            return Box::new(draws.map(move |draws| {
                draws.and_then(|draws| self.batcher.batch(draws, &self.device))
            }));
        }
        // A reader thread hands batch k's draws to worker k mod N; the consumer reads worker outputs in turn.
        let (inputs, outputs): (Vec<_>, Vec<_>) = (0..workers)
            .map(|_| {
                let (to_worker, from_reader) =
                    sync_channel::<BatchResult<Vec<Draw<ImageTextExample>>>>(2);
                let (to_consumer, from_worker) = sync_channel::<BatchResult<T>>(2);
                let batcher = self.batcher.clone();
                let device = self.device.clone();
                std::thread::spawn(move || worker(from_reader, to_consumer, batcher, device));
                (to_worker, from_worker)
            })
            .unzip();
        std::thread::spawn(move || reader(draws, inputs));
        Box::new(InTurn { outputs, next: 0 })
    }
}

fn reader(
    draws: impl Iterator<Item = BatchResult<Vec<Draw<ImageTextExample>>>>,
    inputs: Vec<SyncSender<BatchResult<Vec<Draw<ImageTextExample>>>>>,
) {
    for (step, batch) in draws.enumerate() {
        if inputs[step % inputs.len()].send(batch).is_err() {
            return; // the consumer is gone
        }
    }
}

fn worker<B: Backend, T>(
    from_reader: Receiver<BatchResult<Vec<Draw<ImageTextExample>>>>,
    to_consumer: SyncSender<BatchResult<T>>,
    batcher: Arc<dyn Batcher<B, Draw<ImageTextExample>, BatchResult<T>>>,
    device: B::Device,
) {
    while let Ok(draws) = from_reader.recv() {
        let batch = draws.and_then(|draws| batcher.batch(draws, &device));
        if to_consumer.send(batch).is_err() {
            return;
        }
    }
}

/// Worker outputs read back in batch order.
struct InTurn<T> {
    outputs: Vec<Receiver<BatchResult<T>>>,
    next: usize,
}

impl<T> Iterator for InTurn<T> {
    type Item = BatchResult<T>;

    fn next(&mut self) -> Option<Self::Item> {
        let worker = self.next % self.outputs.len();
        self.next += 1;
        self.outputs[worker].recv().ok()
    }
}
