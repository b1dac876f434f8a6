//! The model worker: one thread owns the model (and the captioner) and answers jobs sent over a channel, so
//! model work never runs on the async threads. Jobs that arrive together are answered together: every waiting
//! text query goes through the text tower in one batch, every waiting picture through the image tower in one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};

use burn::tensor::backend::Backend;
use image::DynamicImage;
use polyclip_models::generation::generate;
use tokio::sync::oneshot;

use crate::ModelArgs;
use crate::error::CliError;
use crate::model::{Embeddings, Encoder, decoded_pixel_batch};
use crate::seq2seq::{GenerateArgs, Loaded, captioner, load};
use crate::serve::api_error::ApiError;

/// Jobs taken at once at most (the rest wait for the next round).
const MAX_JOBS_PER_ROUND: usize = 64;

type Reply<T> = oneshot::Sender<Result<T, ApiError>>;

/// What the handlers ask of the model.
pub enum Job {
    /// L2-normalised text embeddings, one per text.
    Texts {
        texts: Vec<String>,
        reply: Reply<Embeddings>,
    },
    /// L2-normalised picture embeddings, one per picture.
    Pictures {
        pictures: Vec<DynamicImage>,
        reply: Reply<Embeddings>,
    },
    /// A caption in `lang` (ISO or mBART-50 code).
    Caption {
        picture: DynamicImage,
        lang: String,
        reply: Reply<String>,
    },
}

/// What the worker learnt while loading.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub model_dir: String,
    pub logit_multiplier: f32,
    pub captioner: Option<String>,
}

/// Counts for `/api/info`: how many queries went through how many forward passes.
#[derive(Debug, Default)]
pub struct WorkerStats {
    pub jobs: AtomicU64,
    pub forward_passes: AtomicU64,
}

/// The handlers' side of the worker.
#[derive(Clone)]
pub struct WorkerHandle {
    sender: Arc<Mutex<Sender<Job>>>,
    pub stats: Arc<WorkerStats>,
}

impl WorkerHandle {
    /// Sends a job and waits for its answer.
    pub async fn ask<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> Result<T, ApiError> {
        let (reply, answer) = oneshot::channel();
        let sent = self
            .sender
            .lock()
            .map_err(|_| ApiError::internal("the model worker is gone"))?
            .send(job(reply));
        if sent.is_err() {
            return Err(ApiError::internal("the model worker has stopped"));
        }
        answer
            .await
            .map_err(|_| ApiError::internal("the model worker stopped before answering"))?
    }
}

/// Starts the worker thread: it loads the model and the captioner, says how that went, then serves jobs until
/// every handle is dropped.
pub fn start<B: Backend>(
    model: ModelArgs,
    captioner: Option<ModelArgs>,
    device: B::Device,
) -> Result<(WorkerHandle, ModelInfo), CliError> {
    let (sender, jobs) = std::sync::mpsc::channel::<Job>();
    let (ready, loaded) = std::sync::mpsc::channel();
    let stats = Arc::new(WorkerStats::default());
    let worker_stats = stats.clone();
    std::thread::Builder::new()
        .name("polyclip-model".into())
        .spawn(move || {
            let state = Worker::<B>::load(&model, captioner.as_ref(), &device);
            match state {
                Ok(worker) => {
                    let _ = ready.send(Ok(worker.info.clone()));
                    worker.serve(&jobs, &worker_stats);
                }
                Err(error) => {
                    let _ = ready.send(Err(error));
                }
            }
        })
        .map_err(|source| CliError::Io {
            path: "<model worker thread>".into(),
            source,
        })?;
    let info = loaded
        .recv()
        .map_err(|_| CliError::Usage("the model worker stopped while loading".into()))??;
    Ok((
        WorkerHandle {
            sender: Arc::new(Mutex::new(sender)),
            stats,
        },
        info,
    ))
}

struct Worker<B: Backend> {
    encoder: Encoder<B>,
    captioner: Option<Loaded<B>>,
    info: ModelInfo,
    device: B::Device,
}

impl<B: Backend> Worker<B> {
    fn load(
        model: &ModelArgs,
        captioner_args: Option<&ModelArgs>,
        device: &B::Device,
    ) -> Result<Self, CliError> {
        let encoder = Encoder::<B>::load(model, device)?;
        encoder.tokenizer()?;
        if !encoder.has_image_tower() {
            return Err(CliError::Usage(format!(
                "{} has no image tower; serve a CLIP model (or pass --image-model)",
                encoder.dir().display()
            )));
        }
        let loaded_captioner = captioner_args
            .map(|args| load::<B>(args, device))
            .transpose()?;
        if let Some(loaded) = &loaded_captioner {
            captioner(loaded)?;
        }
        let info = ModelInfo {
            model_dir: model.model.clone(),
            logit_multiplier: encoder.logit_multiplier()?,
            captioner: captioner_args.map(|args| args.model.clone()),
        };
        Ok(Self {
            encoder,
            captioner: loaded_captioner,
            info,
            device: device.clone(),
        })
    }

    fn serve(&self, jobs: &Receiver<Job>, stats: &WorkerStats) {
        while let Ok(first) = jobs.recv() {
            let mut round = vec![first];
            while round.len() < MAX_JOBS_PER_ROUND {
                match jobs.try_recv() {
                    Ok(job) => round.push(job),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            stats.jobs.fetch_add(round.len() as u64, Ordering::Relaxed);
            let mut text_jobs = Vec::new();
            let mut picture_jobs = Vec::new();
            for job in round {
                match job {
                    Job::Texts { texts, reply } => text_jobs.push((texts, reply)),
                    Job::Pictures { pictures, reply } => picture_jobs.push((pictures, reply)),
                    Job::Caption {
                        picture,
                        lang,
                        reply,
                    } => {
                        stats.forward_passes.fetch_add(1, Ordering::Relaxed);
                        let _ = reply.send(self.caption(&picture, &lang));
                    }
                }
            }
            if !text_jobs.is_empty() {
                stats.forward_passes.fetch_add(1, Ordering::Relaxed);
                let texts: Vec<String> = text_jobs.iter().flat_map(|(t, _)| t.clone()).collect();
                let result = self.encoder.embed_texts(&texts).map_err(ApiError::from);
                answer(text_jobs, result);
            }
            if !picture_jobs.is_empty() {
                stats.forward_passes.fetch_add(1, Ordering::Relaxed);
                let pictures: Vec<DynamicImage> =
                    picture_jobs.iter().flat_map(|(p, _)| p.clone()).collect();
                let result = self
                    .encoder
                    .embed_decoded(&pictures)
                    .map_err(ApiError::from);
                answer(picture_jobs, result);
            }
        }
    }

    fn caption(&self, picture: &DynamicImage, lang: &str) -> Result<String, ApiError> {
        let Some(loaded) = &self.captioner else {
            return Err(ApiError::not_found(
                "no captioner is loaded: start the server with --captioner DIR",
            ));
        };
        let language = loaded
            .tokenizer
            .language_id(lang)
            .map_err(|e| ApiError::bad_request(format!("lang {lang:?}: {e}")))?;
        let (model, preprocess) = captioner(loaded)?;
        let generation = GenerateArgs::default().config(&loaded.model.spec, language);
        let batch =
            decoded_pixel_batch::<B>(std::slice::from_ref(picture), &preprocess, &self.device);
        let memory = model.encode(batch);
        let generated = generate(model, &memory, &generation);
        let sequence = generated
            .sequences
            .first()
            .ok_or_else(|| ApiError::internal("the captioner generated nothing"))?;
        Ok(loaded.tokenizer.decode(sequence)?)
    }
}

/// Splits one batch's embeddings back into the jobs' answers, in order.
fn answer<T>(jobs: Vec<(Vec<T>, Reply<Embeddings>)>, result: Result<Embeddings, ApiError>) {
    match result {
        Ok(all) => {
            let mut start = 0;
            for (items, reply) in jobs {
                let rows = items.len();
                let values = all.values[start * all.dim..(start + rows) * all.dim].to_vec();
                start += rows;
                let _ = reply.send(Ok(Embeddings {
                    values,
                    rows,
                    dim: all.dim,
                }));
            }
        }
        Err(error) => {
            for (_, reply) in jobs {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}
