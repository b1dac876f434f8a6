//! One training stage of a recipe: the data of one language, a [`Trainer`], and the stage's folder with its
//! checkpoints, metrics and final weights. A finished stage whose key (everything that determines its result)
//! is unchanged is reused instead of retrained.

use polyclip_models::BuildModel;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::AutodiffBackend;
use polyclip_checkpoints::peft::{PeftSaveOptions, save_peft_adapter};
use polyclip_checkpoints::preprocess_config::PREPROCESS_FILE;
use polyclip_data::batching::loader::BatchSource;
use polyclip_data::mix_seed;
use polyclip_data::sources::webdataset::is_shard_spec;
use polyclip_data::{
    AugmentChain, BadInputPolicy, CaptionChoice, CaptionStrategy, ClipBatch, ClipBatcher,
    ClipPreprocess, DataError, DataLoader, ImageBatcher, ImageTextDataset, LoaderConfig, Manifest,
    Order, ReadOptions, StreamConfig, StreamLoader, TextTokenizer,
};
use polyclip_models::{ClipModel, ClipModelConfig};
use polyclip_train::checkpoint::write_json;
use polyclip_train::data_parallel::{Nodes, fit_data_parallel};
use polyclip_train::metrics_log::{StepMetrics, read_metrics};
use polyclip_train::record_file::write_record;
use polyclip_train::{TrainConfig, Trainer};
use serde::Serialize;

use crate::config::StreamSettings;
use crate::error::RecipeError;
use crate::stage_key::{Reuse, StageKey};

type WeightsRecorder = NamedMpkFileRecorder<FullPrecisionSettings>;

/// The file in a stage folder holding the key the stage's checkpoints were made with.
pub const RESUME_KEY: &str = "resume.json";

/// Everything a stage needs besides the model.
pub struct StagePlan<'a> {
    pub name: String,
    pub dir: PathBuf,
    /// The training data: a manifest or shard spec.
    pub data: String,
    /// The caption language read from it.
    pub language: String,
    /// Stream the data through a shuffle buffer instead of indexing it, when it is shards.
    pub stream: Option<StreamSettings>,
    pub captions: CaptionStrategy,
    pub augment: AugmentChain,
    /// Also write the LoRA adapters alone, in PEFT's format, to `adapter/` (a stage with `[stage.lora]`).
    pub save_adapter: bool,
    pub train: &'a TrainConfig,
    pub model_config: &'a ClipModelConfig,
    pub tokenizer: &'a TextTokenizer,
    pub preprocess: ClipPreprocess,
    pub batch_size: usize,
    pub num_workers: usize,
    pub seed: u64,
    pub policy: BadInputPolicy,
    pub progress: bool,
    pub resume: bool,
    /// Resume even when the checkpoint's key differs from this stage's.
    pub resume_anyway: bool,
    /// Everything that determines the stage's result, compared before reusing a finished stage.
    pub key: StageKey,
}

/// What a stage did.
#[derive(Debug, Clone, Serialize)]
pub struct StageSummary {
    pub name: String,
    pub reused: bool,
    pub steps: usize,
    pub final_loss: Option<f32>,
    pub seconds: f64,
    pub samples_per_s: Option<f64>,
    pub skipped_inputs: usize,
}

impl StageSummary {
    /// The stage in one line for the terminal.
    pub fn line(&self) -> String {
        if self.steps == 0 {
            return format!("stage {}", self.name);
        }
        let how = if self.reused {
            "reused from the run folder".to_string()
        } else {
            format!(
                "{:.0}s, {:.0} samples/s",
                self.seconds,
                self.samples_per_s.unwrap_or_default()
            )
        };
        let skipped = if self.skipped_inputs > 0 {
            format!(", {} bad inputs skipped", self.skipped_inputs)
        } else {
            String::new()
        };
        format!(
            "stage {}: {} steps, final loss {:.4} ({how}){skipped}",
            self.name,
            self.steps,
            self.final_loss.unwrap_or(f32::NAN)
        )
    }
}

impl StagePlan<'_> {
    fn weights_path(&self) -> PathBuf {
        self.dir.join("model")
    }

    fn key_path(&self) -> PathBuf {
        self.dir.join("stage.json")
    }

    /// The metrics of every step of the stage, from its log.
    pub fn metrics(&self) -> Result<Vec<StepMetrics>, RecipeError> {
        Ok(read_metrics(&self.dir.join("metrics.jsonl"))?)
    }

    /// Loads the stage's finished model when its key matches; otherwise says why it cannot be reused (`None`:
    /// no stage was finished there).
    pub fn finished<B: AutodiffBackend>(
        &self,
        device: &B::Device,
    ) -> Result<Result<ClipModel<B>, Option<String>>, RecipeError> {
        match self.key.compare_with(&self.key_path()) {
            Reuse::Yes => {}
            Reuse::Absent => return Ok(Err(None)),
            Reuse::No(why) => return Ok(Err(Some(why))),
        }
        let weights = self.weights_path().with_extension("mpk");
        if !weights.is_file() {
            return Ok(Err(Some(format!("{} is missing", weights.display()))));
        }
        let model = self.model_config.init_zeros::<B>(device)?;
        // A damaged cached model is trained again rather than breaking every later run in the folder.
        let Ok(model) = model.load_file(self.weights_path(), &WeightsRecorder::new(), device)
        else {
            return Ok(Err(Some(format!(
                "{} {}; training the stage again",
                weights.display(),
                polyclip_train::error::UNREADABLE
            ))));
        };
        Ok(Ok(model))
    }

    /// Trains `model` (resuming from the stage's newest checkpoint when asked) and saves the final weights.
    /// With more than one device in `devices`, or `nodes`, data-parallel: a peer per device, the first one's rank 0.
    pub fn run<B: AutodiffBackend>(
        &self,
        model: ClipModel<B>,
        device: &B::Device,
        devices: &[B::Device],
        nodes: Option<&Nodes>,
    ) -> Result<(ClipModel<B>, StageSummary), RecipeError> {
        let started = Instant::now();
        self.prepare_dir()?;
        let options = ReadOptions::new(self.policy, Some(&self.language));
        let batcher = Arc::new(ClipBatcher::new(
            ImageBatcher::new(self.preprocess, self.policy).with_augment(self.augment.clone()),
            self.tokenizer.clone(),
            CaptionChoice::Drawn(self.captions),
        ));
        let mut skipped = 0;
        let stream = self.stream.filter(|_| is_shard_spec(&self.data));
        let loader: Box<dyn BatchSource<Result<ClipBatch<B>, DataError>> + Sync> = match stream {
            Some(stream) => {
                let config = self.loader_config();
                Box::new(StreamLoader::new(
                    StreamConfig {
                        spec: self.data.clone(),
                        options,
                        shuffle_buffer: stream.shuffle_buffer,
                        batch_size: config.batch_size,
                        num_workers: config.num_workers,
                        seed: config.seed,
                    },
                    batcher.clone(),
                    device.clone(),
                ))
            }
            None => {
                let manifest = Manifest::open(&self.data, &options)?;
                skipped += manifest.skipped.len();
                Box::new(DataLoader::new(
                    Arc::new(ImageTextDataset::new(manifest)),
                    batcher.clone(),
                    self.loader_config(),
                    device.clone(),
                ))
            }
        };
        let resume = self.resumes();
        let mut trainer = Trainer::new(self.train.clone(), &self.dir);
        trainer.progress = self.progress;
        let outcome = if devices.len() > 1 || nodes.is_some() {
            fit_data_parallel(&trainer, model, loader.as_ref(), resume, devices, nodes)?
        } else {
            trainer.fit(model, loader.as_ref(), resume, device)?
        };
        skipped += loader.take_skipped().len();
        skipped += batcher.images.take_skipped().len();
        self.save_model(&outcome.model)?;
        if self.save_adapter {
            save_peft_adapter(
                &outcome.model,
                self.model_config,
                &PeftSaveOptions::default(),
                &self.dir.join("adapter"),
            )?;
        }
        let summary = StageSummary {
            name: self.name.clone(),
            reused: false,
            steps: self.train.steps,
            final_loss: outcome.losses.last().copied(),
            seconds: started.elapsed().as_secs_f64(),
            samples_per_s: Some(outcome.samples_per_s),
            skipped_inputs: skipped,
        };
        Ok((outcome.model, summary))
    }

    /// Writes the stage's final weights, `model.json`, the tokenizer and the stage key (what [`finished`]
    /// reads back).
    ///
    /// [`finished`]: Self::finished
    pub fn save_model<B: AutodiffBackend>(&self, model: &ClipModel<B>) -> Result<(), RecipeError> {
        write_record::<B, _>(
            model.clone().into_record(),
            &self.weights_path().with_extension("mpk"),
        )?;
        polyclip_train::failpoint::failpoint("stage-end");
        write_json(&self.dir.join("model.json"), self.model_config)?;
        self.tokenizer.save(&self.dir.join("tokenizer.json"))?;
        write_json(
            &self.dir.join("text.json"),
            &serde_json::json!({
                "pad_token": self.tokenizer.pad_token(),
                "max_tokens": self.tokenizer.max_tokens(),
                "clean_whitespace": self.tokenizer.cleans_whitespace(),
            }),
        )?;
        write_json(&self.dir.join(PREPROCESS_FILE), &self.preprocess)?;
        write_json(&self.key_path(), &self.key)?;
        Ok(())
    }

    /// Empties the stage's folder (unless resuming) and creates it. A fresh stage records its key in
    /// `resume.json`, what a later `--resume` must match; a resumed one is checked against it and refused,
    /// saying what differs, unless `--resume-anyway`.
    pub fn prepare_dir(&self) -> Result<(), RecipeError> {
        let resumes = self.resumes();
        if !resumes && self.dir.exists() {
            std::fs::remove_dir_all(&self.dir).map_err(|e| RecipeError::Io {
                path: self.dir.clone(),
                source: e,
            })?;
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| RecipeError::Io {
            path: self.dir.clone(),
            source: e,
        })?;
        let recorded = self.dir.join(RESUME_KEY);
        if !resumes {
            write_json(&recorded, &self.key)?;
            return Ok(());
        }
        match self.key.compare_with(&recorded) {
            Reuse::Yes => Ok(()),
            Reuse::Absent => {
                eprintln!(
                    "polyclip: stage `{}`: resuming a checkpoint that records no configuration ({} is missing)",
                    self.name,
                    recorded.display()
                );
                Ok(())
            }
            Reuse::No(why) if self.resume_anyway => {
                eprintln!(
                    "polyclip: stage `{}`: resuming anyway although {why}",
                    self.name
                );
                Ok(())
            }
            Reuse::No(why) => Err(RecipeError::ResumeMismatch {
                stage: self.name.clone(),
                why,
            }),
        }
    }

    /// The stage's training loader: shuffled, drawn from the recipe seed and the stage's name.
    pub fn loader_config(&self) -> LoaderConfig {
        LoaderConfig {
            batch_size: self.batch_size,
            num_workers: self.num_workers,
            seed: mix_seed(&[self.seed, stage_salt(&self.name)]),
            order: Order::Shuffled,
        }
    }

    /// Whether a run asked to resume finds a checkpoint of this stage.
    pub fn resumes(&self) -> bool {
        self.resume && self.dir.join("checkpoints").join("latest").is_file()
    }

    /// The summary of a stage replaced by a pretrained checkpoint.
    pub fn pretrained_summary(&self, dir: &std::path::Path) -> StageSummary {
        StageSummary {
            name: format!("{} (pretrained: {})", self.name, dir.display()),
            reused: true,
            steps: 0,
            final_loss: None,
            seconds: 0.0,
            samples_per_s: None,
            skipped_inputs: 0,
        }
    }

    /// The summary of a reused stage.
    pub fn reused_summary(&self) -> Result<StageSummary, RecipeError> {
        let metrics = self.metrics()?;
        Ok(StageSummary {
            name: self.name.clone(),
            reused: true,
            steps: self.train.steps,
            final_loss: metrics.last().map(|m| m.loss),
            seconds: 0.0,
            samples_per_s: None,
            skipped_inputs: 0,
        })
    }
}

/// A stable number per stage name, so stages draw different data orders from one seed.
fn stage_salt(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ byte as u64).wrapping_mul(0x0100_0000_01b3)
    })
}
