//! Running a command on the chosen backend.

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::tensor::backend::{AutodiffBackend, Backend};
use polyclip_backend::{BackendJob, BackendKind};
use polyclip_checkpoints::export::{ExportFormat, export_dual, export_text};
use polyclip_checkpoints::{Architecture, LoadedModel};
use polyclip_train::run_lock::RunLock;
use serde_json::json;

use crate::Command;
use crate::error::CliError;
use crate::model::{Embeddings, Encoder};
use crate::npy::write_npy;

/// `embed --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Jsonl,
    Npy,
}

/// `export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportChoice {
    Natural,
    Hf,
    OpenClip,
}

/// A command as a [`BackendJob`] (inference runs on the backend's inner, non-autodiff, type).
pub struct CommandJob(pub Command);

impl BackendJob for CommandJob {
    type Output = Result<(), CliError>;

    fn run<B: AutodiffBackend>(self, device: B::Device, _backend: BackendKind) -> Self::Output {
        run::<B::InnerBackend>(self.0, &device)
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> CliError + '_ {
    move |source| CliError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The non-blank lines of a text or label file; a file with none is an error saying so.
fn read_lines(path: &Path) -> Result<Vec<String>, CliError> {
    let lines: Vec<String> = std::fs::read_to_string(path)
        .map_err(io(path))?
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(String::from)
        .collect();
    if lines.is_empty() {
        return Err(CliError::Usage(format!(
            "{}: the file is empty (one text per line expected)",
            path.display()
        )));
    }
    Ok(lines)
}

fn policy(skip_bad: bool) -> polyclip_data::BadInputPolicy {
    if skip_bad {
        polyclip_data::BadInputPolicy::Skip
    } else {
        polyclip_data::BadInputPolicy::Fail
    }
}

fn run<B: Backend>(command: Command, device: &B::Device) -> Result<(), CliError> {
    match command {
        Command::Embed {
            model,
            images,
            mut texts,
            text_file,
            format,
            output,
        } => {
            if let Some(file) = &text_file {
                texts.extend(read_lines(file)?);
            }
            if images.is_empty() && texts.is_empty() {
                return Err(CliError::Usage(
                    "embed: give --images, --texts or --text-file".into(),
                ));
            }
            let encoder = Encoder::<B>::load(&model, device)?;
            let image_embeddings = (!images.is_empty())
                .then(|| encoder.embed_images(&images))
                .transpose()?;
            let text_embeddings = (!texts.is_empty())
                .then(|| encoder.embed_texts(&texts))
                .transpose()?;
            match format {
                OutputFormat::Jsonl => write_jsonl(
                    output.as_deref(),
                    &images,
                    image_embeddings.as_ref(),
                    &texts,
                    text_embeddings.as_ref(),
                ),
                OutputFormat::Npy => {
                    let prefix = output.ok_or_else(|| {
                        CliError::Usage("embed --format npy needs --output PREFIX".into())
                    })?;
                    for (name, embeddings) in
                        [("images", image_embeddings), ("texts", text_embeddings)]
                    {
                        if let Some(e) = embeddings {
                            let path = PathBuf::from(format!("{}.{name}.npy", prefix.display()));
                            write_npy(&path, &e.values, e.rows, e.dim)?;
                            eprintln!("wrote {} ({} × {})", path.display(), e.rows, e.dim);
                        }
                    }
                    Ok(())
                }
            }
        }
        Command::Classify {
            model,
            image,
            mut labels,
            label_file,
            templates,
            top,
        } => {
            if let Some(file) = &label_file {
                labels.extend(read_lines(file)?);
            }
            if labels.len() < 2 {
                return Err(CliError::Usage(
                    "classify: give at least two --labels (or a --label-file)".into(),
                ));
            }
            let (prompts, per_label) = crate::zero_shot::prompts(&labels, &templates)
                .map_err(|e| CliError::Usage(format!("classify: {e}")))?;
            let encoder = Encoder::<B>::load(&model, device)?;
            let picture = encoder.embed_images(std::slice::from_ref(&image))?;
            let prompt_embeddings = encoder.embed_texts(&prompts)?;
            same_space(&picture, &prompt_embeddings)?;
            let scale = encoder.logit_multiplier()?;
            let probabilities = crate::zero_shot::label_probabilities(
                picture.row(0),
                &prompt_embeddings,
                per_label,
                scale,
            );
            let mut ranked: Vec<(usize, f32)> = probabilities.into_iter().enumerate().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
            for (class, probability) in ranked.into_iter().take(top.max(1)) {
                println!("{probability:.4}\t{}", labels[class]);
            }
            Ok(())
        }
        Command::Similarity {
            model,
            images,
            texts,
        } => {
            let encoder = Encoder::<B>::load(&model, device)?;
            let pictures = encoder.embed_images(&images)?;
            let captions = encoder.embed_texts(&texts)?;
            same_space(&pictures, &captions)?;
            let scale = encoder.logit_multiplier()?;
            let mut out = std::io::stdout().lock();
            for (i, image) in images.iter().enumerate() {
                let cosines: Vec<f32> = (0..captions.rows)
                    .map(|t| {
                        pictures
                            .row(i)
                            .iter()
                            .zip(captions.row(t))
                            .map(|(a, b)| a * b)
                            .sum()
                    })
                    .collect();
                let line = json!({
                    "image": image.display().to_string(),
                    "cosine": cosines,
                    "logits": cosines.iter().map(|c| c * scale).collect::<Vec<f32>>(),
                    "texts": texts,
                });
                writeln!(out, "{line}").map_err(io(Path::new("<stdout>")))?;
            }
            Ok(())
        }
        Command::Caption {
            model,
            generation,
            images,
            lang,
        } => crate::seq2seq::caption::<B>(&model, &generation, &images, &lang, device),
        Command::Translate {
            model,
            generation,
            src,
            tgt,
            mut texts,
            text_file,
        } => {
            if let Some(file) = &text_file {
                texts.extend(read_lines(file)?);
            }
            if texts.is_empty() {
                return Err(CliError::Usage(
                    "translate: give --texts or --text-file".into(),
                ));
            }
            crate::seq2seq::translate::<B>(&model, &generation, &texts, &src, &tgt, device)
        }
        Command::TranslateManifest {
            model,
            generation,
            src,
            tgt,
            input,
            output,
            skip_bad,
        } => crate::seq2seq::translate_manifest::<B>(
            &model,
            &generation,
            &input,
            &output,
            &src,
            &tgt,
            policy(skip_bad),
            device,
        ),
        Command::Eval {
            model,
            suite,
            data_root,
            out,
            name,
            append,
            skip_bad,
            num_workers,
            classnames,
        } => {
            // One writer per output folder, as for a recipe's run folder.
            let _lock = RunLock::acquire(&out)?;
            crate::evaluate::evaluate::<B>(
                &crate::evaluate::EvalRequest {
                    model: &model,
                    suite: &suite,
                    data_root: data_root.as_deref(),
                    out: &out,
                    name: name.as_deref(),
                    append,
                    policy: policy(skip_bad),
                    num_workers,
                    classnames: classnames.as_deref(),
                },
                device,
            )
        }
        Command::Prepare {
            input,
            src,
            tgt,
            out,
            translator,
            translator_tokenizer,
            captioner,
            captioner_tokenizer,
            scorer,
            scorer_tokenizer,
            generation,
            per_shard,
            backend,
            batch_size,
            num_workers,
            skip_bad,
            part,
        } => {
            let _lock = RunLock::acquire(&out)?;
            let args = |model: String, tokenizer: Option<PathBuf>| crate::ModelArgs {
                model,
                backend,
                allow_partial: false,
                tokenizer,
                image_model: None,
                batch_size,
            };
            crate::prepare::prepare::<B>(
                &crate::prepare::PrepareRequest {
                    input: &input,
                    src: &src,
                    tgt: &tgt,
                    out: &out,
                    translator: args(translator, translator_tokenizer),
                    generation: &generation,
                    captioner: captioner.map(|model| args(model, captioner_tokenizer)),
                    scorer: scorer.map(|model| args(model, scorer_tokenizer)),
                    per_shard,
                    policy: policy(skip_bad),
                    num_workers,
                    part,
                },
                device,
            )
        }
        Command::Index {
            model,
            images,
            out,
            skip_bad,
            search,
            part,
        } => {
            let _lock = RunLock::acquire(&out)?;
            let count = crate::index_pictures::index::<B>(
                &crate::index_pictures::IndexRequest {
                    model: &model,
                    images: &images,
                    out: &out,
                    policy: policy(skip_bad),
                    search: search.into(),
                    part,
                },
                device,
            )?;
            eprintln!("polyclip: {} holds {count} pictures", out.display());
            Ok(())
        }
        Command::MergeShards { parts, out } => {
            let pattern = crate::merge::merge_shards(&parts, &out)?;
            eprintln!("polyclip: merged {} parts into {pattern}", parts.len());
            Ok(())
        }
        Command::MergeIndex { parts, out, search } => {
            let _lock = RunLock::acquire(&out)?;
            let count = crate::merge::merge_index(&parts, &out, search.into())?;
            eprintln!(
                "polyclip: merged {} parts into {}: {count} pictures",
                parts.len(),
                out.display()
            );
            Ok(())
        }
        Command::Serve(args) => crate::serve::serve::<B>(args, device),
        Command::Export { model, out, format } => {
            let encoder = Encoder::<B>::load(&model, device)?;
            let loaded = &encoder.loaded;
            match (&loaded.model, &loaded.spec.architecture) {
                (LoadedModel::Dual(m), Architecture::Dual(config)) => {
                    let chosen = match format {
                        ExportChoice::Natural => ExportFormat::natural(config),
                        ExportChoice::OpenClip => ExportFormat::OpenClip,
                        ExportChoice::Hf => match ExportFormat::natural(config) {
                            ExportFormat::OpenClip => ExportFormat::VisionTextDualEncoder,
                            natural => natural,
                        },
                    };
                    export_dual(m, config, chosen, &out)?;
                }
                (LoadedModel::Text(m), Architecture::Text(config)) => export_text(m, config, &out)?,
                _ => {
                    return Err(CliError::Usage(
                        "export: the model and its config disagree".into(),
                    ));
                }
            }
            if let Some(tokenizer) = encoder.tokenizer_path() {
                let target = out.join("tokenizer.json");
                std::fs::copy(tokenizer, &target).map_err(io(&target))?;
            }
            eprintln!("wrote {}", out.display());
            Ok(())
        }
    }
}

/// Images and texts must share one embedding space to be compared.
fn same_space(images: &Embeddings, texts: &Embeddings) -> Result<(), CliError> {
    if images.dim == texts.dim {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "image embeddings have {} dimensions and text embeddings {}: --image-model must be the CLIP model the \
         text encoder was trained to match",
        images.dim, texts.dim
    )))
}

fn write_jsonl(
    output: Option<&Path>,
    images: &[PathBuf],
    image_embeddings: Option<&Embeddings>,
    texts: &[String],
    text_embeddings: Option<&Embeddings>,
) -> Result<(), CliError> {
    let mut lines = Vec::new();
    if let Some(e) = image_embeddings {
        for (i, image) in images.iter().enumerate() {
            lines.push(json!({"kind": "image", "input": image.display().to_string(), "embedding": e.row(i)}).to_string());
        }
    }
    if let Some(e) = text_embeddings {
        for (i, text) in texts.iter().enumerate() {
            lines.push(json!({"kind": "text", "input": text, "embedding": e.row(i)}).to_string());
        }
    }
    let body = lines.join("\n") + "\n";
    match output {
        Some(path) => std::fs::write(path, body).map_err(io(path)),
        None => std::io::stdout()
            .write_all(body.as_bytes())
            .map_err(io(Path::new("<stdout>"))),
    }
}
