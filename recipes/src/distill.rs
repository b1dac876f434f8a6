//! A distillation stage (Themo, Multilingual-CLIP): a new text encoder learns, under MSE, to map each caption
//! in the stage's language onto the teacher's text features of the parallel caption in the teacher's language;
//! the result is a dual encoder with the teacher's vision tower and the student as its text tower. The student
//! starts from a pretrained encoder (`[stage.distill] student`, Themo's Spanish BERT) or, in the embedded
//! default, from a tiny encoder drawn afresh.

use std::sync::Arc;
use std::time::Instant;

use burn::data::dataloader::batcher::Batcher;
use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor, TensorData};
use polyclip_checkpoints::{EncoderSpec, encoder_spec, load_encoder};
use polyclip_data::mix_seed;
use polyclip_data::{
    BadInputPolicy, DataLoader, DistillBatch, DistillBatcher, DistillDataset, DistillPair, Draw,
    Manifest, TextTokenizer,
};
use polyclip_models::projection::ProjectionHead;
use polyclip_models::{
    BuildModel, ClipModel, ClipModelConfig, TextTower, TextTowerConfig, presets,
};
use polyclip_shapes::ShapesDataset;
use polyclip_train::distillation::TextStudent;
use polyclip_train::loss::mean_squared_error;
use polyclip_train::{TrainError, Trainer};

use crate::config::{DistillConfig, StudentHead};
use crate::error::RecipeError;
use crate::stage::{StagePlan, StageSummary};

/// Sentences embedded per forward pass when computing targets and validation losses.
const ENCODE_BATCH: usize = 256;

/// A pretrained encoder a student starts from, with the tokenizer its texts are read with.
pub struct PretrainedStudent {
    pub spec: EncoderSpec,
    pub tokenizer: TextTokenizer,
}

impl PretrainedStudent {
    /// Reads the folder (or the Hub cache snapshot of `hf:ORG/NAME`) named by `[stage.distill] student`: its
    /// config and tokenizer now, its weights when the stage trains.
    pub fn resolve(name: &str) -> Result<Self, RecipeError> {
        let dir = polyclip_checkpoints::hub::resolve(name)?;
        let spec = encoder_spec(&dir)?;
        let path = spec
            .text
            .tokenizer
            .clone()
            .ok_or_else(|| RecipeError::Invalid {
                key: "stage.distill.student",
                value: format!("{name:?}"),
                reason: format!(
                    "{} has no tokenizer.json (save the encoder's fast tokenizer there)",
                    dir.display()
                ),
            })?;
        let tokenizer =
            TextTokenizer::from_file(&path, &spec.text.pad_token, spec.text.max_tokens)?
                .with_whitespace_cleaning(spec.text.clean_whitespace);
        Ok(Self { spec, tokenizer })
    }
}

/// The model config after a distillation stage: the teacher's vision tower and joint space, the student's text
/// tower — the pretrained encoder's, or the tiny preset sized to `tokenizer`.
pub fn student_config(
    teacher: &ClipModelConfig,
    distill: &DistillConfig,
    tokenizer: &TextTokenizer,
    pretrained: Option<&PretrainedStudent>,
) -> ClipModelConfig {
    let teacher_width = match distill.head {
        StudentHead::Themo => Some(teacher_text_width(teacher)),
        StudentHead::Mclip => None,
    };
    let text = match pretrained {
        Some(student) => {
            TextTowerConfig::distilled_student(student.spec.config.clone(), teacher_width)
        }
        None => presets::tiny_student_text(
            tokenizer.vocab_size(),
            tokenizer.max_tokens(),
            tokenizer.pad_id() as usize,
            teacher_width,
        ),
    };
    ClipModelConfig {
        text,
        ..teacher.clone()
    }
}

/// The width of the teacher's pooled text state (its projection's input).
fn teacher_text_width(config: &ClipModelConfig) -> usize {
    match &config.text {
        polyclip_models::TextTowerConfig::Clip { text_config } => text_config.hidden_size,
        polyclip_models::TextTowerConfig::HfEncoder { encoder_config, .. } => {
            encoder_config.hidden_size
        }
    }
}

/// The teacher of a distillation stage: the model the previous stage left, and its tokenizer.
pub struct Teacher<'a, B: AutodiffBackend> {
    pub model: ClipModel<B>,
    pub tokenizer: &'a TextTokenizer,
}

/// Runs the stage. The student reads texts with `plan.tokenizer` (the pretrained student's own, else the
/// teacher's).
pub fn run_distill_stage<B: AutodiffBackend>(
    plan: &StagePlan,
    teacher: Teacher<'_, B>,
    distill: &DistillConfig,
    pretrained: Option<&PretrainedStudent>,
    data: &ShapesDataset,
    language: &str,
    device: &B::Device,
) -> Result<(ClipModel<B>, StageSummary), RecipeError> {
    let Teacher {
        model: teacher,
        tokenizer: teacher_tokenizer,
    } = teacher;
    let started = Instant::now();
    plan.prepare_dir()?;
    let inner = teacher.valid();
    let targets = |split: &str| -> Result<Vec<DistillPair>, RecipeError> {
        let pairs = parallel_captions(data, split, &distill.teacher_language, language)?;
        let (student_texts, teacher_texts): (Vec<String>, Vec<String>) = pairs.into_iter().unzip();
        let features = teacher_features(
            &inner,
            distill.head,
            teacher_tokenizer,
            &teacher_texts,
            device,
        )?;
        Ok(student_texts
            .into_iter()
            .zip(features)
            .map(|(text, target)| DistillPair { text, target })
            .collect())
    };
    let train_pairs = targets("train")?;
    let held_out = targets("test")?;

    let fresh = plan
        .model_config
        .init::<B>(mix_seed(&[plan.seed, 0x7e40]), device)?;
    let mut tower = fresh.text;
    if let (Some(student), TextTower::Encoder(tower)) = (pretrained, &mut tower) {
        let (encoder, _) = load_encoder::<B>(&student.spec, device)?;
        tower.transformer = encoder;
        eprintln!(
            "polyclip: stage `{}`: the student starts from {}",
            plan.name,
            student.spec.dir.display()
        );
    }
    if let (StudentHead::Themo, TextTower::Encoder(student)) = (distill.head, &mut tower) {
        let projection = teacher.text.linear_projection().ok_or_else(|| RecipeError::Invalid {
            key: "stage.distill.head",
            value: "\"themo\"".into(),
            reason: "Themo's student reuses the teacher's text projection, which must be one bias-free Linear; \
                     use head = \"mclip\" for this teacher"
                .into(),
        })?;
        if let ProjectionHead::Distilled(head) = &mut student.proj {
            head.teacher = projection.clone();
        }
    }
    let student = TextStudent { tower };

    let batcher = Arc::new(DistillBatcher::new(plan.tokenizer.clone()));
    let loader = DataLoader::new(
        Arc::new(DistillDataset::new(train_pairs)),
        batcher.clone(),
        plan.loader_config(),
        device.clone(),
    );
    let mut validator = |student: &TextStudent<B>| -> Result<f32, TrainError> {
        // A held-out pair that cannot be batched is a data error, reported as such.
        Ok(held_out_loss(
            &student.valid(),
            &batcher,
            &held_out,
            device,
        )?)
    };
    let mut trainer = Trainer::new(plan.train.clone(), &plan.dir);
    trainer.progress = plan.progress;
    let outcome = trainer.fit_validated(
        student,
        &loader,
        plan.resumes(),
        device,
        Some(&mut validator),
    )?;
    if let Some(step) = outcome.stopped_early_at {
        eprintln!(
            "polyclip: stage `{}`: early stopping after step {step} (best held-out MSE {:.5})",
            plan.name,
            outcome
                .validation
                .iter()
                .map(|(_, loss)| *loss)
                .fold(f32::INFINITY, f32::min)
        );
    }
    let model = ClipModel {
        vision: teacher.vision,
        text: outcome.model.tower,
        logit_scale: teacher.logit_scale,
        logit_scale_learnable: teacher.logit_scale_learnable,
    };
    plan.save_model(&model)?;
    let steps = outcome.first_step + outcome.losses.len();
    let summary = StageSummary {
        name: plan.name.clone(),
        reused: false,
        steps,
        final_loss: outcome.losses.last().copied(),
        seconds: started.elapsed().as_secs_f64(),
        samples_per_s: Some(outcome.samples_per_s),
        skipped_inputs: 0,
    };
    Ok((model, summary))
}

/// `(student caption, teacher caption)` pairs of a split: the same picture's captions of the same phrasing.
fn parallel_captions(
    data: &ShapesDataset,
    split: &str,
    teacher_language: &str,
    student_language: &str,
) -> Result<Vec<(String, String)>, RecipeError> {
    let teacher = Manifest::load(
        &data.manifest(split, teacher_language),
        BadInputPolicy::Fail,
    )?;
    let student = Manifest::load(
        &data.manifest(split, student_language),
        BadInputPolicy::Fail,
    )?;
    Ok(student
        .entries
        .iter()
        .zip(&teacher.entries)
        .flat_map(|(student, teacher)| {
            // Originals and generated captions are the same phrasings in every language.
            student
                .captions
                .iter()
                .chain(&student.generated_captions)
                .cloned()
                .zip(
                    teacher
                        .captions
                        .iter()
                        .chain(&teacher.generated_captions)
                        .cloned(),
                )
        })
        .collect())
}

/// What the student imitates, one row per text: the teacher's pre-projection features (Themo) or its joint-space
/// text features (M-CLIP).
fn teacher_features<B: Backend>(
    teacher: &ClipModel<B>,
    head: StudentHead,
    tokenizer: &TextTokenizer,
    texts: &[String],
    device: &B::Device,
) -> Result<Vec<Vec<f32>>, RecipeError> {
    let mut rows = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(ENCODE_BATCH) {
        let tokens = tokenizer.encode_batch(chunk)?;
        let shape = [tokens.batch, tokens.seq];
        let ids = Tensor::from_data(TensorData::new(tokens.ids, shape), device);
        let mask = Tensor::from_data(TensorData::new(tokens.mask, shape), device);
        let features = match head {
            StudentHead::Themo => teacher.text.pre_projection_features(ids, mask),
            StudentHead::Mclip => teacher.text.forward(ids, mask),
        };
        let width = features.dims()[1];
        let values: Vec<f32> = features.into_data().iter::<f32>().collect();
        rows.extend(values.chunks(width).map(<[f32]>::to_vec));
    }
    Ok(rows)
}

/// Mean squared error of the student over held-out pairs (the early-stopping criterion), batched as in training.
fn held_out_loss<B: Backend>(
    student: &TextStudent<B>,
    batcher: &DistillBatcher,
    pairs: &[DistillPair],
    device: &B::Device,
) -> Result<f32, polyclip_data::DataError> {
    let mut total = 0.0f64;
    for chunk in pairs.chunks(ENCODE_BATCH) {
        let draws = chunk
            .iter()
            .enumerate()
            .map(|(index, pair)| Draw {
                item: pair.clone(),
                index,
                seed: 0,
            })
            .collect();
        let batch: DistillBatch<B> = batcher.batch(draws, device)?;
        let predicted = student
            .tower
            .student_features(batch.input_ids, batch.attention_mask);
        let loss = mean_squared_error(predicted, batch.targets);
        total += f64::from(loss.into_scalar().elem::<f32>()) * chunk.len() as f64;
    }
    Ok((total / pairs.len().max(1) as f64) as f32)
}

#[cfg(test)]
mod tests {
    use burn::backend::ndarray::{NdArray, NdArrayDevice};
    use polyclip_shapes::shapes_tokenizer;

    use super::*;

    /// A held-out pair that cannot be batched is the data error it is, through the early-stopping validator
    /// (it was reported as an invalid training config, `validation`).
    #[test]
    fn a_held_out_pair_that_cannot_be_batched_is_a_data_error() {
        let device = NdArrayDevice::Cpu;
        let tokenizer = shapes_tokenizer(16).expect("the shipped tokenizer");
        let config = presets::tiny_student_text(
            tokenizer.vocab_size(),
            tokenizer.max_tokens(),
            tokenizer.pad_id() as usize,
            None,
        );
        let student = TextStudent {
            tower: TextTower::<NdArray>::init(
                &config,
                4,
                &mut polyclip_models::init::Initializer::new(0, &device),
            ),
        };
        let pairs = [
            DistillPair {
                text: "um círculo".into(),
                target: vec![0.0; 4],
            },
            DistillPair {
                text: "dois círculos".into(),
                target: vec![0.0; 3],
            },
        ];
        let error = held_out_loss(&student, &DistillBatcher::new(tokenizer), &pairs, &device)
            .map_err(TrainError::from)
            .expect_err("targets of two widths");
        assert_eq!(
            error.to_string(),
            "distillation pair 1: target has 3 values, the batch's first has 4"
        );
    }
}
