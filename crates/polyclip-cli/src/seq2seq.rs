//! `caption`, `translate` and `translate-manifest`: encoder-decoder models (an image captioner, mBART-50
//! many-to-many) with greedy or beam search.

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use polyclip_checkpoints::families::seq2seq::Seq2SeqSpec;
use polyclip_checkpoints::hub::resolve;
use polyclip_checkpoints::{LoadedSeq2Seq, Seq2SeqModel, load_seq2seq};
use polyclip_data::{
    BadInputPolicy, ClipPreprocess, ImageSource, MBartTokenizer, Manifest, image_reference,
};
use polyclip_models::generation::{EarlyStopping, GenerationConfig, generate};
use polyclip_models::mbart::MBartForConditionalGeneration;

use crate::ModelArgs;
use crate::error::CliError;
use crate::model::{pixel_batch, source_pixel_batch};

/// How to generate (defaults: the model folder's generation_config.json, else greedy).
#[derive(Args, Debug, Clone, Default)]
pub struct GenerateArgs {
    /// Beams (1: greedy search).
    #[arg(long)]
    pub num_beams: Option<usize>,
    /// Longest output in tokens, the start token included (at most the decoder's max_position_embeddings).
    #[arg(long)]
    pub max_length: Option<usize>,
    /// Beam scores are divided by length^length_penalty.
    #[arg(long)]
    pub length_penalty: Option<f64>,
    /// No n-gram of this size twice.
    #[arg(long)]
    pub no_repeat_ngram_size: Option<usize>,
    /// Stop a beam search as soon as num_beams hypotheses are finished.
    #[arg(long)]
    pub early_stopping: bool,
    /// Decode every step from scratch instead of with the key/value cache (slower; for checking).
    #[arg(long)]
    pub no_cache: bool,
}

impl GenerateArgs {
    pub(crate) fn config(&self, spec: &Seq2SeqSpec, forced_bos: u32) -> GenerationConfig {
        let base = &spec.generation;
        GenerationConfig {
            num_beams: self.num_beams.unwrap_or(base.num_beams).max(1),
            // A decoder has no position past its table: longer outputs are cut there (the default of 64 is longer
            // than a small decoder's table).
            max_length: self
                .max_length
                .unwrap_or(base.max_length)
                .min(spec.decoder().max_position_embeddings),
            length_penalty: self.length_penalty.unwrap_or(base.length_penalty),
            no_repeat_ngram_size: self
                .no_repeat_ngram_size
                .unwrap_or(base.no_repeat_ngram_size),
            early_stopping: if self.early_stopping {
                EarlyStopping::Flag(true)
            } else {
                base.early_stopping
            },
            forced_bos_token_id: Some(forced_bos as usize),
            use_cache: !self.no_cache,
            ..base.clone()
        }
    }
}

/// A loaded encoder-decoder with its tokenizer.
pub(crate) struct Loaded<B: Backend> {
    pub(crate) model: LoadedSeq2Seq<B>,
    pub(crate) tokenizer: MBartTokenizer,
}

impl<B: Backend> Loaded<B> {
    /// The model, if it translates text.
    pub(crate) fn translator(&self) -> Result<&MBartForConditionalGeneration<B>, CliError> {
        match &self.model.model {
            Seq2SeqModel::Translator(model) => Ok(model),
            Seq2SeqModel::Captioner(_) => Err(CliError::Usage(format!(
                "{} captions images; `translate` needs an mBART-50 translation model (use `caption`)",
                self.model.spec.dir.display()
            ))),
        }
    }
}

pub(crate) fn load<B: Backend>(
    args: &ModelArgs,
    device: &B::Device,
) -> Result<Loaded<B>, CliError> {
    let dir = resolve(&args.model)?;
    let model = load_seq2seq::<B>(&dir, args.allow_partial, device)?;
    if !model.report.is_complete() {
        eprintln!(
            "warning: partial load of {}: {}",
            dir.display(),
            model.report.summary()
        );
    }
    let path = args
        .tokenizer
        .clone()
        .or_else(|| model.spec.tokenizer.clone())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{}: no tokenizer.json; pass the mBART-50 tokenizer with --tokenizer FILE",
                dir.display()
            ))
        })?;
    let max_tokens = model.spec.decoder().max_position_embeddings;
    let tokenizer = MBartTokenizer::from_file(&path, max_tokens)?;
    Ok(Loaded { model, tokenizer })
}

/// The captioner of a loaded model and its image transform (an error naming the folder for a translator).
pub(crate) fn captioner<B: Backend>(
    loaded: &Loaded<B>,
) -> Result<(&polyclip_models::captioner::Captioner<B>, ClipPreprocess), CliError> {
    let Seq2SeqModel::Captioner(model) = &loaded.model.model else {
        return Err(CliError::Usage(format!(
            "{} translates text; captioning needs an image captioner",
            loaded.model.spec.dir.display()
        )));
    };
    let polyclip_checkpoints::families::seq2seq::Seq2SeqArchitecture::Captioner(config) =
        &loaded.model.spec.architecture
    else {
        return Err(CliError::Usage("the model and its config disagree".into()));
    };
    Ok((model, ClipPreprocess::new(config.encoder.image_size as u32)))
}

/// One caption per image, in order, in batches of `batch_size`.
pub(crate) fn caption_sources<B: Backend>(
    loaded: &Loaded<B>,
    generation: &GenerationConfig,
    images: &[&ImageSource],
    batch_size: usize,
    progress: &ProgressBar,
    device: &B::Device,
) -> Result<Vec<String>, CliError> {
    let (model, preprocess) = captioner(loaded)?;
    let mut captions = Vec::with_capacity(images.len());
    for chunk in images.chunks(batch_size.max(1)) {
        let memory = model.encode(source_pixel_batch(chunk, &preprocess, device)?);
        for sequence in generate(model, &memory, generation).sequences {
            captions.push(loaded.tokenizer.decode(&sequence)?);
        }
        progress.inc(chunk.len() as u64);
    }
    Ok(captions)
}

/// `caption`: one line per image, `image<TAB>caption`.
pub fn caption<B: Backend>(
    args: &ModelArgs,
    generation: &GenerateArgs,
    images: &[PathBuf],
    language: &str,
    device: &B::Device,
) -> Result<(), CliError> {
    let loaded = load::<B>(args, device)?;
    let (model, preprocess) = captioner(&loaded)?;
    let config_generation =
        generation.config(&loaded.model.spec, loaded.tokenizer.language_id(language)?);
    let mut out = std::io::stdout().lock();
    for chunk in images.chunks(args.batch_size.max(1)) {
        let memory = model.encode(pixel_batch(chunk, &preprocess, device)?);
        let generated = generate(model, &memory, &config_generation);
        for (path, sequence) in chunk.iter().zip(&generated.sequences) {
            let text = loaded.tokenizer.decode(sequence)?;
            writeln!(out, "{}\t{text}", path.display()).map_err(stdout_error)?;
        }
    }
    Ok(())
}

fn stdout_error(source: std::io::Error) -> CliError {
    CliError::Io {
        path: PathBuf::from("<stdout>"),
        source,
    }
}

/// Translates `texts` from `source` to `target` language in batches; `progress` counts texts.
pub(crate) fn translate_texts<B: Backend>(
    loaded: &Loaded<B>,
    generation: &GenerationConfig,
    texts: &[String],
    source: &str,
    batch_size: usize,
    progress: &ProgressBar,
    device: &B::Device,
) -> Result<Vec<String>, CliError> {
    let model = loaded.translator()?;
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(batch_size.max(1)) {
        let pairs: Vec<(&String, &str)> = chunk.iter().map(|text| (text, source)).collect();
        let tokens = loaded.tokenizer.encode_batch(&pairs)?;
        let shape = [tokens.batch, tokens.seq];
        let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(tokens.ids, shape), device);
        let mask = Tensor::<B, 2, Int>::from_data(TensorData::new(tokens.mask, shape), device);
        let memory = model.encode(ids, mask);
        for sequence in generate(model, &memory, generation).sequences {
            out.push(loaded.tokenizer.decode(&sequence)?);
        }
        progress.inc(chunk.len() as u64);
    }
    Ok(out)
}

/// `translate`: one translation per line, in input order.
#[allow(clippy::too_many_arguments)]
pub fn translate<B: Backend>(
    args: &ModelArgs,
    generation: &GenerateArgs,
    texts: &[String],
    source: &str,
    target: &str,
    device: &B::Device,
) -> Result<(), CliError> {
    let loaded = load::<B>(args, device)?;
    loaded.translator()?;
    loaded.tokenizer.language_id(source)?;
    let config = generation.config(&loaded.model.spec, loaded.tokenizer.language_id(target)?);
    let translations = translate_texts(
        &loaded,
        &config,
        texts,
        source,
        args.batch_size,
        &ProgressBar::hidden(),
        device,
    )?;
    let mut out = std::io::stdout().lock();
    for translation in translations {
        writeln!(out, "{translation}").map_err(stdout_error)?;
    }
    Ok(())
}

/// `translate-manifest`: every caption of a JSONL or TSV manifest translated, written in the same format
/// with the target language; image paths stay valid from the output's folder.
#[allow(clippy::too_many_arguments)]
pub fn translate_manifest<B: Backend>(
    args: &ModelArgs,
    generation: &GenerateArgs,
    input: &Path,
    output: &Path,
    source: &str,
    target: &str,
    policy: BadInputPolicy,
    device: &B::Device,
) -> Result<(), CliError> {
    let loaded = load::<B>(args, device)?;
    loaded.translator()?;
    loaded.tokenizer.language_id(source)?;
    let config = generation.config(&loaded.model.spec, loaded.tokenizer.language_id(target)?);
    let manifest = Manifest::load(input, policy)?;
    let texts: Vec<String> = manifest
        .entries
        .iter()
        .flat_map(|entry| entry.captions.iter().cloned())
        .collect();
    let progress = ProgressBar::new(texts.len() as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "translating [{elapsed_precise}] {wide_bar} {pos}/{len} captions ({per_sec})",
    ) {
        progress.set_style(style);
    }
    let translated = translate_texts(
        &loaded,
        &config,
        &texts,
        source,
        args.batch_size,
        &progress,
        device,
    )?;
    progress.finish_and_clear();
    if let Some(folder) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(|source| CliError::Io {
            path: folder.to_owned(),
            source,
        })?;
    }
    let tsv = matches!(
        output.extension().and_then(|e| e.to_str()),
        Some("tsv") | Some("csv")
    );
    let mut text = if tsv {
        String::from("image_file\tcaption\tlang_id\n")
    } else {
        String::new()
    };
    let mut captions = translated.into_iter();
    for entry in &manifest.entries {
        let entry_captions: Vec<String> = captions.by_ref().take(entry.captions.len()).collect();
        let Some(image) = entry.image.file() else {
            return Err(CliError::Usage(format!(
                "translate-manifest writes image paths, and {} is inside a shard: use `polyclip prepare`",
                entry.image
            )));
        };
        let image = image_reference(output, image)?.display().to_string();
        if tsv {
            for caption in entry_captions {
                let caption = caption.replace(['\t', '\n'], " ");
                text.push_str(&format!("{image}\t{caption}\t{target}\n"));
            }
        } else {
            let line =
                serde_json::json!({ "image": image, "captions": entry_captions, "lang": target });
            text.push_str(&format!("{line}\n"));
        }
    }
    std::fs::write(output, text).map_err(|source| CliError::Io {
        path: output.to_owned(),
        source,
    })?;
    eprintln!(
        "wrote {} ({} captions of {} pictures, {source} → {target}; {} skipped)",
        output.display(),
        texts.len(),
        manifest.entries.len(),
        manifest.skipped.len()
    );
    Ok(())
}
