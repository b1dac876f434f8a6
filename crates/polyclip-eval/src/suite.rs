//! Evaluation suites: the methods' benchmark sets described in a TOML file, run on whatever of them is present.
//!
//! ```toml
//! title = "CAPIVARA, Portuguese"
//! layout = "capivara"            # capivara | clip-italian | themo: the seed whose tables report.md follows
//! language = "pt"                # default language of the sets
//!
//! [[retrieval]]
//! name = "Flickr30k-pt"
//! format = "karpathy"            # a Karpathy-style split file
//! annotations = "flickr30k/dataset_flickr30k_pt.json"
//! images = "flickr30k/images"
//! split = "test"                 # the default
//!
//! [[retrieval]]
//! name = "XTD10-es"
//! format = "parallel"            # XTD10's line-aligned files
//! image_names = "xtd10/test_image_names.txt"
//! captions = "xtd10/test_1kcaptions_es.txt"
//! images = "xtd10/images"
//!
//! [[retrieval]]
//! name = "PraCegoVer"
//! format = "manifest"            # any manifest or WebDataset shards (CAPIVARA's `captions-pt`…)
//! path = "pracegover_val/{00000..00007}.tar"
//!
//! [[zero_shot]]
//! name = "ImageNet-pt"
//! images = "imagenet/val"        # class sub-folders, or a flat folder with `labels`
//! labels = "imagenet/val_labels.txt"
//! classes = "imagenet"           # the shipped ImageNet names of `language` (datasets/classnames), or
//!                                # "folders": the sub-folder names
//! templates = ["uma foto de {}."]  # optional: the language's shipped prompts otherwise
//! metric = "accuracy"            # or "mean-per-class"
//! ```
//!
//! Paths are relative to the suite file's folder (or the `data_root` given to [`EvalSuite::load`]). A set whose
//! files are absent is reported as absent and skipped; a set that is present but broken is an error (or, with
//! [`BadInputPolicy::Skip`], its bad images are counted and left out).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::tensor::backend::Backend;
use polyclip_data::sources::image_folder::{LabelledImages, imagenet_wnids};
use polyclip_data::{
    BadInputPolicy, ClassificationSet, ClipPreprocess, DataError, ImageBatcher, ImageTextDataset,
    ImagenetClassnames, Manifest, ReadOptions, RetrievalData, TextTokenizer,
};
use serde::{Deserialize, Serialize};

use crate::encode::{Encoders, embed_kept_images, embed_texts, ensure_finite};
use crate::error::EvalError;
use crate::report::{ModelEvaluation, SetMetrics, TableLayout};
use crate::retrieval::evaluate_retrieval;
use crate::zeroshot::{ZeroShotMetric, class_embeddings, zero_shot_accuracy};

/// A suite file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSuite {
    pub title: String,
    #[serde(default)]
    pub layout: TableLayout,
    /// The sets' language unless a set names its own.
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub retrieval: Vec<RetrievalSetConfig>,
    #[serde(default)]
    pub zero_shot: Vec<ZeroShotSetConfig>,
    /// The folder relative paths start from (the suite file's folder unless overridden).
    #[serde(skip)]
    pub root: PathBuf,
}

/// A retrieval set and its format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "kebab-case", deny_unknown_fields)]
pub enum RetrievalSetConfig {
    /// A Karpathy-style split file (Flickr30k, COCO).
    Karpathy {
        name: String,
        annotations: PathBuf,
        images: PathBuf,
        #[serde(default = "default_split")]
        split: String,
    },
    /// XTD10-style line-aligned image names and captions.
    Parallel {
        name: String,
        image_names: PathBuf,
        captions: PathBuf,
        images: PathBuf,
    },
    /// A manifest (JSONL/TSV) or WebDataset shards.
    Manifest {
        name: String,
        path: String,
        #[serde(default)]
        language: Option<String>,
        /// Keep every n-th caption of an entry from the first: CAPIVARA's Flickr30k/COCO shards interleave two
        /// translations of each English caption and its evaluation reads `captions-pt[0::2]` (`captions_every = 2`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        captions_every: Option<usize>,
    },
}

fn default_split() -> String {
    "test".into()
}

impl RetrievalSetConfig {
    pub fn name(&self) -> &str {
        match self {
            Self::Karpathy { name, .. }
            | Self::Parallel { name, .. }
            | Self::Manifest { name, .. } => name,
        }
    }
}

/// Where a zero-shot set's class names come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClassNames {
    /// datasets/classnames/<language>.json (ImageNet-1k; the images' classes are WordNet ids or indices).
    #[default]
    Imagenet,
    /// The class sub-folders' names.
    Folders,
}

/// A zero-shot classification set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZeroShotSetConfig {
    pub name: String,
    pub images: PathBuf,
    #[serde(default)]
    pub labels: Option<PathBuf>,
    #[serde(default)]
    pub classes: ClassNames,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub templates: Option<Vec<String>>,
    #[serde(default)]
    pub metric: ZeroShotMetric,
}

/// How to run a suite.
#[derive(Debug, Clone)]
pub struct SuiteSettings {
    pub preprocess: ClipPreprocess,
    pub batch_size: usize,
    pub num_workers: usize,
    pub policy: BadInputPolicy,
    /// datasets/classnames (names, prompts and imagenet_wnids.txt).
    pub classnames_dir: PathBuf,
}

/// What a suite run found.
#[derive(Debug, Default)]
pub struct SuiteOutcome {
    pub evaluation: ModelEvaluation,
    /// `name: missing path` of every set not present.
    pub absent: Vec<String>,
    /// Bad inputs skipped under [`BadInputPolicy::Skip`].
    pub skipped: Vec<DataError>,
}

impl EvalSuite {
    /// Reads a suite file; relative paths start from `data_root`, else the file's folder.
    pub fn load(path: &Path, data_root: Option<&Path>) -> Result<Self, EvalError> {
        let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut suite: Self = toml::from_str(&text).map_err(|e| EvalError::Suite {
            path: path.to_owned(),
            reason: e.to_string().trim().replace('\n', " "),
        })?;
        suite.root = match data_root {
            Some(root) => root.to_owned(),
            None => path.parent().unwrap_or(Path::new(".")).to_owned(),
        };
        Ok(suite)
    }

    fn path(&self, relative: &Path) -> PathBuf {
        self.root.join(relative)
    }

    /// Runs every set that is present.
    pub fn run<B: Backend>(
        &self,
        model: &impl Encoders<B>,
        tokenizer: &TextTokenizer,
        settings: &SuiteSettings,
        device: &B::Device,
    ) -> Result<SuiteOutcome, EvalError> {
        let mut outcome = SuiteOutcome::default();
        for set in &self.retrieval {
            match self.retrieval_data(set, settings.policy)? {
                Err(missing) => {
                    outcome
                        .absent
                        .push(format!("{}: {}", set.name(), missing.display()))
                }
                Ok(mut data) => {
                    outcome.skipped.append(&mut data.skipped);
                    let metrics =
                        retrieval(model, tokenizer, &data, settings, &mut outcome, device)?;
                    outcome.evaluation.retrieval.push(SetMetrics {
                        set: set.name().to_owned(),
                        metrics,
                    });
                }
            }
        }
        for set in &self.zero_shot {
            let images = self.path(&set.images);
            let labels = set.labels.as_ref().map(|labels| self.path(labels));
            if let Some(missing) = std::iter::once(&images)
                .chain(labels.as_ref())
                .find(|path| !path.exists())
            {
                outcome
                    .absent
                    .push(format!("{}: {}", set.name, missing.display()));
                continue;
            }
            let metrics = self.zero_shot(
                model,
                tokenizer,
                set,
                &images,
                labels.as_deref(),
                settings,
                &mut outcome,
                device,
            )?;
            outcome.evaluation.zero_shot.push(SetMetrics {
                set: set.name.clone(),
                metrics,
            });
        }
        Ok(outcome)
    }

    /// The set's data, or the first of its paths that does not exist.
    fn retrieval_data(
        &self,
        set: &RetrievalSetConfig,
        policy: BadInputPolicy,
    ) -> Result<Result<RetrievalData, PathBuf>, EvalError> {
        let absent = |paths: &[PathBuf]| paths.iter().find(|p| !p.exists()).cloned();
        Ok(Ok(match set {
            RetrievalSetConfig::Karpathy {
                annotations,
                images,
                split,
                ..
            } => {
                let (annotations, images) = (self.path(annotations), self.path(images));
                if let Some(missing) = absent(&[annotations.clone(), images.clone()]) {
                    return Ok(Err(missing));
                }
                RetrievalData::karpathy(&annotations, &images, split, policy)?
            }
            RetrievalSetConfig::Parallel {
                image_names,
                captions,
                images,
                ..
            } => {
                let paths = [
                    self.path(image_names),
                    self.path(captions),
                    self.path(images),
                ];
                if let Some(missing) = absent(&paths) {
                    return Ok(Err(missing));
                }
                RetrievalData::parallel_files(&paths[0], &paths[1], &paths[2], policy)?
            }
            RetrievalSetConfig::Manifest {
                path,
                language,
                captions_every,
                ..
            } => {
                let spec = self.root.join(path).to_string_lossy().into_owned();
                let shards = polyclip_data::sources::webdataset::is_shard_spec(path);
                let first = if shards {
                    polyclip_data::sources::webdataset::shard_list(&spec, Path::new(""))?
                        .into_iter()
                        .next()
                } else {
                    Some(PathBuf::from(&spec))
                };
                if let Some(missing) = first.filter(|p| !p.exists()) {
                    return Ok(Err(missing));
                }
                let language = language.as_deref().or(self.language.as_deref());
                let mut data = RetrievalData::from_manifest(Manifest::open(
                    &spec,
                    &ReadOptions::new(policy, language),
                )?);
                if let Some(every) = captions_every.filter(|&every| every > 1) {
                    for entry in &mut data.entries {
                        entry.captions = entry.captions.iter().step_by(every).cloned().collect();
                    }
                }
                data
            }
        }))
    }

    #[allow(clippy::too_many_arguments)]
    fn zero_shot<B: Backend>(
        &self,
        model: &impl Encoders<B>,
        tokenizer: &TextTokenizer,
        set: &ZeroShotSetConfig,
        images: &Path,
        labels: Option<&Path>,
        settings: &SuiteSettings,
        outcome: &mut SuiteOutcome,
        device: &B::Device,
    ) -> Result<crate::zeroshot::ZeroShotMetrics, EvalError> {
        let invalid = |reason: String| EvalError::InvalidSet {
            name: set.name.clone(),
            reason,
        };
        let wnids = imagenet_wnids(&settings.classnames_dir)?;
        let mut data = match labels {
            Some(labels) => {
                LabelledImages::from_labels_file(images, labels, &wnids, settings.policy)?
            }
            None => LabelledImages::from_class_folders(images, &wnids, settings.policy)?,
        };
        outcome.skipped.append(&mut data.skipped);
        let language = set.language.as_deref().or(self.language.as_deref());
        // Class names in classifier order, and the classifier row of every dataset class.
        let (classnames, row_of, shipped_templates): (
            Vec<String>,
            Vec<(usize, usize)>,
            Vec<String>,
        ) = match set.classes {
            ClassNames::Imagenet => {
                if !data.imagenet {
                    return Err(invalid(format!(
                        "{}: the classes are not ImageNet WordNet ids; set `classes = \"folders\"`",
                        images.display()
                    )));
                }
                let language = language
                    .ok_or_else(|| invalid("ImageNet class names need a `language`".into()))?;
                let names = ImagenetClassnames::load(&settings.classnames_dir, language)?;
                let rows = names
                    .class_indices
                    .iter()
                    .enumerate()
                    .map(|(row, &class)| (class, row))
                    .collect();
                (names.classnames, rows, names.templates)
            }
            ClassNames::Folders => {
                let templates = match language {
                    Some(language) => {
                        ImagenetClassnames::load(&settings.classnames_dir, language)?.templates
                    }
                    None => vec!["{}".to_owned()],
                };
                let rows = data
                    .class_ids
                    .keys()
                    .enumerate()
                    .map(|(row, &class)| (class, row))
                    .collect();
                let names = data
                    .class_ids
                    .values()
                    .map(|n| n.replace('_', " "))
                    .collect();
                (names, rows, templates)
            }
        };
        // Images of classes the names cover (Babel-ImageNet languages name a subset), relabelled to rows.
        let row_of: std::collections::HashMap<usize, usize> = row_of.into_iter().collect();
        let mut manifest = data.manifest();
        let mut labels = Vec::new();
        manifest.entries.retain(|entry| {
            let row = data
                .labels
                .get(entry.line - 1)
                .and_then(|class| row_of.get(class));
            if let Some(&row) = row {
                labels.push(row);
            }
            row.is_some()
        });
        if manifest.entries.is_empty() {
            return Err(invalid(format!(
                "none of the images' classes has a name in `{}`",
                language.unwrap_or("the folders")
            )));
        }
        let classification = ClassificationSet {
            name: set.name.clone(),
            classnames,
            templates: set.templates.clone().unwrap_or(shipped_templates),
            labels,
        };
        if let Some(bad) = classification.templates.iter().find(|t| !t.contains("{}")) {
            return Err(invalid(format!("template `{bad}` has no `{{}}` slot")));
        }
        let (image_embeds, kept) = embed_images(model, manifest, settings, outcome, device)?;
        let labels: Vec<usize> = kept
            .iter()
            .map(|&index| classification.labels[index])
            .collect();
        let classifier = ensure_finite(
            class_embeddings(model, tokenizer, &classification, device)?,
            "class",
        )?;
        let mut metrics = zero_shot_accuracy(image_embeds, classifier, &labels);
        metrics.metric = set.metric;
        Ok(metrics)
    }
}

/// The embeddings of the images the batcher could decode and their positions in `manifest`; the others are
/// counted in `outcome` (under [`BadInputPolicy::Skip`]).
fn embed_images<B: Backend>(
    model: &impl Encoders<B>,
    manifest: Manifest,
    settings: &SuiteSettings,
    outcome: &mut SuiteOutcome,
    device: &B::Device,
) -> Result<(burn::tensor::Tensor<B, 2>, Vec<usize>), EvalError> {
    let batcher = Arc::new(ImageBatcher::new(settings.preprocess, settings.policy));
    let embedded = embed_kept_images(
        model,
        &ImageTextDataset::new(manifest),
        batcher.clone(),
        settings.batch_size,
        settings.num_workers,
        device,
    )?;
    outcome.skipped.extend(batcher.take_skipped());
    let (embeddings, kept) = embedded;
    Ok((ensure_finite(embeddings, "image")?, kept))
}

/// Retrieval metrics of a set; images the batcher could not decode are left out with their captions.
fn retrieval<B: Backend>(
    model: &impl Encoders<B>,
    tokenizer: &TextTokenizer,
    data: &RetrievalData,
    settings: &SuiteSettings,
    outcome: &mut SuiteOutcome,
    device: &B::Device,
) -> Result<crate::retrieval::RetrievalMetrics, EvalError> {
    let (image_embeds, kept) = embed_images(model, data.manifest(), settings, outcome, device)?;
    let mut captions = Vec::new();
    let mut caption_image = Vec::new();
    for (row, &index) in kept.iter().enumerate() {
        let entry = &data.entries[index];
        captions.extend(entry.captions.iter().cloned());
        caption_image.extend(std::iter::repeat_n(row, entry.captions.len()));
    }
    let text_embeds = ensure_finite(
        embed_texts(model, tokenizer, &captions, settings.batch_size, device)?,
        "text",
    )?;
    Ok(evaluate_retrieval(
        image_embeds,
        text_embeds,
        &caption_image,
    ))
}
