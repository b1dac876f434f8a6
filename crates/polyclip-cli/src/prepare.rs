//! `prepare`: CAPIVARA's data preparation for a new language, from an English (or any source-language) caption set
//! to WebDataset shards ready for `filter_by_ranking`:
//!
//! 1. the captions are translated with an mBART-50 many-to-many model (`captions-<tgt>`);
//! 2. optionally the captioner writes one synthetic caption per image in the target language
//!    (`generated-captions-<tgt>`; CAPIVARA used BLIP-2 in English, then translated: a multilingual captioner
//!    writes the target language directly);
//! 3. optionally a base CLIP model scores every caption against its image (`similarities-<tgt>`: cosine of the
//!    L2-normalised embeddings, originals then generated, as CAPIVARA's `generated_caps_sim_score.py`);
//! 4. samples are written as `<key>.<jpg|png|webp|gif>` + `<key>.json` into shards of `--per-shard` samples.
//!
//! The source captions stay under `captions-<src>`. The input is anything polyclip reads: a JSONL/TSV manifest or
//! shards.

use std::path::Path;

use burn::tensor::backend::Backend;
use indicatif::{ProgressBar, ProgressStyle};
use polyclip_data::sources::webdataset::ShardWriter;
use polyclip_data::{BadInputPolicy, Manifest, ManifestEntry, ReadOptions};
use polyclip_eval::similarity::{EmbedSettings, caption_similarities};
use serde_json::{Map, Value, json};

use crate::ModelArgs;
use crate::error::CliError;
use crate::model::Encoder;
use crate::seq2seq::{GenerateArgs, caption_sources, load, translate_texts};

/// What `prepare` was asked.
pub struct PrepareRequest<'a> {
    pub input: &'a str,
    pub src: &'a str,
    pub tgt: &'a str,
    pub out: &'a Path,
    pub translator: ModelArgs,
    pub generation: &'a GenerateArgs,
    pub captioner: Option<ModelArgs>,
    pub scorer: Option<ModelArgs>,
    pub per_shard: usize,
    pub policy: BadInputPolicy,
    pub num_workers: usize,
    /// `--shard-index`/`--num-shards`: this machine's part of the input (its samples keep their numbers in the
    /// whole input, so the parts' keys never collide).
    pub part: crate::parts::PartArgs,
}

fn progress(total: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{what} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} ({{per_sec}})"
    )) {
        bar.set_style(style);
    }
    bar
}

pub fn prepare<B: Backend>(request: &PrepareRequest, device: &B::Device) -> Result<(), CliError> {
    let mut manifest = Manifest::open(
        request.input,
        &ReadOptions::new(request.policy, Some(request.src)),
    )?;
    let part = request.part.range(manifest.entries.len())?;
    // Shard members are indexed without being read: check every image decodes before hours of generation.
    let mut skipped = std::mem::take(&mut manifest.skipped);
    let mut entries = Vec::with_capacity(part.len());
    let mut numbers = Vec::with_capacity(part.len());
    let all = std::mem::take(&mut manifest.entries);
    for (number, entry) in all.into_iter().enumerate().take(part.end).skip(part.start) {
        match entry.image.decode() {
            Ok(_) => {
                entries.push(entry);
                numbers.push(number);
            }
            Err(source) => {
                let error = polyclip_data::DataError::CorruptImage {
                    path: manifest.path.clone(),
                    line: entry.line,
                    image: entry.image.clone(),
                    source: Box::new(source),
                };
                match request.policy {
                    BadInputPolicy::Skip => skipped.push(error),
                    BadInputPolicy::Fail => return Err(error.into()),
                }
            }
        }
    }
    if entries.is_empty() {
        return Err(CliError::Usage(format!(
            "prepare: {} has no usable sample",
            request.input
        )));
    }

    let translator = load::<B>(&request.translator, device)?;
    translator.translator()?;
    translator.tokenizer.language_id(request.src)?;
    let translation = request.generation.config(
        &translator.model.spec,
        translator.tokenizer.language_id(request.tgt)?,
    );
    let originals: Vec<String> = entries
        .iter()
        .flat_map(|entry| entry.captions.iter().cloned())
        .collect();
    let bar = progress(originals.len(), "translating");
    let translated = translate_texts(
        &translator,
        &translation,
        &originals,
        request.src,
        request.translator.batch_size,
        &bar,
        device,
    )?;
    bar.finish_and_clear();
    drop(translator);
    let mut translated = translated.into_iter();
    let mut target: Vec<ManifestEntry> = entries
        .iter()
        .map(|entry| ManifestEntry {
            captions: translated.by_ref().take(entry.captions.len()).collect(),
            generated_captions: Vec::new(),
            similarities: Vec::new(),
            lang: Some(request.tgt.to_owned()),
            ..entry.clone()
        })
        .collect();

    if let Some(args) = &request.captioner {
        let captioner = load::<B>(args, device)?;
        let generation = request.generation.config(
            &captioner.model.spec,
            captioner.tokenizer.language_id(request.tgt)?,
        );
        let images: Vec<&polyclip_data::ImageSource> =
            entries.iter().map(|entry| &entry.image).collect();
        let bar = progress(images.len(), "captioning");
        let generated = caption_sources(
            &captioner,
            &generation,
            &images,
            args.batch_size,
            &bar,
            device,
        )?;
        bar.finish_and_clear();
        for (entry, caption) in target.iter_mut().zip(generated) {
            entry.generated_captions = vec![caption];
        }
    }

    let scores = match &request.scorer {
        Some(args) => {
            let encoder = Encoder::<B>::load(args, device)?;
            let preprocess = encoder.preprocess().ok_or_else(|| {
                CliError::Usage("prepare --scorer: the model has no image tower".into())
            })?;
            let scored = Manifest {
                path: manifest.path.clone(),
                entries: target.clone(),
                skipped: Vec::new(),
            };
            eprintln!("scoring {} pictures' captions", scored.entries.len());
            Some(caption_similarities(
                &encoder.encoders()?,
                encoder.tokenizer()?,
                &scored,
                EmbedSettings {
                    preprocess,
                    batch_size: args.batch_size.max(1),
                    num_workers: request.num_workers,
                },
                device,
            )?)
        }
        None => None,
    };

    let mut writer = ShardWriter::new(request.out, request.per_shard)?;
    for (index, (source, prepared)) in entries.iter().zip(&target).enumerate() {
        let bytes = source
            .image
            .read()
            .map_err(|e| CliError::Usage(format!("{}: {e}", source.image)))?;
        let extension = match image::guess_format(&bytes) {
            Ok(image::ImageFormat::Png) => "png",
            Ok(image::ImageFormat::Jpeg) => "jpg",
            Ok(image::ImageFormat::WebP) => "webp",
            Ok(image::ImageFormat::Gif) => "gif",
            other => {
                return Err(CliError::Usage(format!(
                    "{}: only {} pictures go into shards (found {other:?})",
                    source.image,
                    polyclip_data::preprocess::IMAGE_FORMATS
                )));
            }
        };
        let mut record = Map::new();
        record.insert(format!("captions-{}", request.src), json!(source.captions));
        record.insert(
            format!("captions-{}", request.tgt),
            json!(prepared.captions),
        );
        if request.captioner.is_some() {
            record.insert(
                format!("generated-captions-{}", request.tgt),
                json!(prepared.generated_captions),
            );
        }
        if let Some(scores) = &scores {
            record.insert(
                format!("similarities-{}", request.tgt),
                json!(scores[index]),
            );
        }
        record.insert("source".into(), json!(source.image.to_string()));
        let json = serde_json::to_vec(&Value::Object(record)).map_err(|e| {
            CliError::Usage(format!("prepare: cannot serialise sample {index}: {e}"))
        })?;
        writer.write(
            &format!("sample{:09}", numbers[index]),
            &[(extension, &bytes), ("json", &json)],
        )?;
    }
    let shards = writer.finish()?;
    eprintln!(
        "wrote {} samples into {} shard(s): {}",
        target.len(),
        shards.len(),
        request
            .out
            .join(ShardWriter::pattern(shards.len()))
            .display()
    );
    if let Some(first) = skipped.first() {
        eprintln!("skipped {} bad input(s); first: {first}", skipped.len());
    }
    Ok(())
}
