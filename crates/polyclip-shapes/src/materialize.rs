//! Writing the embedded dataset to a folder in the formats real data comes in: PNG files, one JSONL manifest
//! per split and language (`{"image", "captions", "lang"}`), the labels of the classification images, and
//! `spec.v2.json`. A folder whose `spec.v2.json` matches and that holds every language's manifests is reused (one
//! written before a language was added is written again, identically for the languages it had).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use crate::captions::{ORIGINAL_PHRASINGS, captions};
use crate::labels::{LabelSet, class_names, label_of, templates};
use crate::render::render;
use crate::scene::{Lang, Scene, SceneSampler, Split};
use polyclip_data::DataError;
use polyclip_data::batching::dataset::ImageTextDataset;
use polyclip_data::mix_seed;
use polyclip_data::sources::classification::ClassificationSet;
use polyclip_data::sources::manifest::{BadInputPolicy, Manifest, ManifestEntry};
use polyclip_data::text::mbart_tokenizer::MBartTokenizer;
use polyclip_data::text::tokenizer::TextTokenizer;

/// The shipped tokenizer of the embedded dataset (datasets/shapes/tokenizer.json).
const TOKENIZER_JSON: &[u8] = include_bytes!("../../../datasets/shapes/tokenizer.json");

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShapesSpec {
    pub seed: u64,
    pub train_images: usize,
    pub test_images: usize,
    /// Side of the rendered pictures.
    pub image_px: u32,
}

/// A generated dataset folder.
#[derive(Debug, Clone)]
pub struct ShapesDataset {
    root: PathBuf,
}

fn split_name(split: Split) -> &'static str {
    match split {
        Split::Train => "train",
        Split::Test => "test",
    }
}

/// The scenes of a split, each drawn from its own seed.
pub fn scenes(seed: u64, split: Split, count: usize) -> Vec<Scene> {
    let sampler = SceneSampler::default();
    let salt = match split {
        Split::Train => 1,
        Split::Test => 2,
    };
    (0..count)
        .map(|index| {
            sampler.sample(
                &mut Pcg64::seed_from_u64(mix_seed(&[seed, salt, index as u64])),
                split,
            )
        })
        .collect()
}

fn write_error(path: &Path, error: impl ToString) -> DataError {
    DataError::Write {
        path: path.to_owned(),
        reason: error.to_string(),
    }
}

impl ShapesDataset {
    /// Generates the dataset into `root`, or reuses it when `root/spec.v2.json` matches `spec` and every language's
    /// manifests are there.
    pub fn materialize(spec: &ShapesSpec, root: &Path) -> Result<Self, DataError> {
        // v2: training manifests split original and generated captions.
        let spec_path = root.join("spec.v2.json");
        let complete = || {
            Lang::ALL.iter().all(|lang| {
                [Split::Train, Split::Test].iter().all(|&split| {
                    root.join(format!("{}.{}.jsonl", split_name(split), lang.code()))
                        .is_file()
                })
            })
        };
        if let Ok(text) = fs::read_to_string(&spec_path)
            && serde_json::from_str::<ShapesSpec>(&text).is_ok_and(|saved| &saved == spec)
            && complete()
        {
            return Ok(Self {
                root: root.to_owned(),
            });
        }
        let partial = root.with_extension("partial");
        for dir in [root, partial.as_path()] {
            if dir.exists() {
                fs::remove_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
            }
        }
        for split in [Split::Train, Split::Test] {
            let count = match split {
                Split::Train => spec.train_images,
                Split::Test => spec.test_images,
            };
            write_split(spec, split, &scenes(spec.seed, split, count), &partial)?;
        }
        fs::write(partial.join("README.md"), README).map_err(|e| write_error(&partial, e))?;
        let text = serde_json::to_string_pretty(spec).map_err(|e| write_error(&spec_path, e))?;
        fs::write(partial.join("spec.v2.json"), text).map_err(|e| write_error(&spec_path, e))?;
        fs::rename(&partial, root).map_err(|e| DataError::io(root, e))?;
        Ok(Self {
            root: root.to_owned(),
        })
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The manifest of a split (`train`, `test`) in a language.
    pub fn manifest(&self, split: &str, lang: &str) -> PathBuf {
        self.root.join(format!("{split}.{lang}.jsonl"))
    }

    /// A captioning manifest of a split in CLIP-Vision-mBART50's format: a TSV with `image_file`, `caption`,
    /// `lang_id`, a row for each of the first `per_picture` captions of every picture in every one of
    /// `languages` (written once, then reused).
    pub fn captions_tsv(
        &self,
        split: &str,
        languages: &[String],
        per_picture: usize,
    ) -> Result<PathBuf, DataError> {
        let path = self.root.join(format!(
            "{split}.captions.{}.{per_picture}.tsv",
            languages.join("-")
        ));
        if path.is_file() {
            return Ok(path);
        }
        let mut text = String::from("image_file\tcaption\tlang_id\n");
        for language in languages {
            let manifest = Manifest::load(&self.manifest(split, language), BadInputPolicy::Fail)?;
            for entry in &manifest.entries {
                let file = entry.image.file().unwrap_or(&self.root);
                let image = file.strip_prefix(&self.root).unwrap_or(file);
                for caption in entry
                    .captions
                    .iter()
                    .chain(&entry.generated_captions)
                    .take(per_picture.max(1))
                {
                    text.push_str(&format!("{}\t{caption}\t{language}\n", image.display()));
                }
            }
        }
        let partial = path.with_extension("tsv.partial");
        fs::write(&partial, text).map_err(|e| DataError::io(&partial, e))?;
        fs::rename(&partial, &path).map_err(|e| DataError::io(&path, e))?;
        Ok(path)
    }

    /// The one-group test pictures and the shape, colour and count label sets in `lang`.
    pub fn classification(
        &self,
        lang: &str,
    ) -> Result<(ImageTextDataset, Vec<ClassificationSet>), DataError> {
        let language = Lang::from_code(lang).ok_or_else(|| DataError::UnknownLanguage {
            dataset: self.root.clone(),
            lang: lang.to_owned(),
            available: Lang::ALL.map(Lang::code).join(", "),
        })?;
        let path = self.root.join("test.labels.jsonl");
        let text = fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
        let mut entries = Vec::new();
        let mut labels: Vec<Vec<usize>> = vec![Vec::new(); LabelSet::ALL.len()];
        for (index, line) in text.lines().enumerate() {
            let record: LabelRecord =
                serde_json::from_str(line).map_err(|source| DataError::ManifestJson {
                    path: path.clone(),
                    line: index + 1,
                    source,
                })?;
            entries.push(ManifestEntry {
                image: self.root.join(&record.image).into(),
                captions: Vec::new(),
                generated_captions: Vec::new(),
                similarities: Vec::new(),
                lang: None,
                line: index + 1,
            });
            for (set, value) in labels
                .iter_mut()
                .zip([record.shape, record.color, record.count])
            {
                set.push(value);
            }
        }
        let manifest = Manifest {
            path: path.clone(),
            entries,
            skipped: Vec::new(),
        };
        let sets = LabelSet::ALL
            .iter()
            .zip(labels)
            .map(|(&set, labels)| ClassificationSet {
                name: set.name().into(),
                classnames: class_names(set, language),
                templates: templates(language).into_iter().map(String::from).collect(),
                labels,
            })
            .collect();
        Ok((ImageTextDataset::new(manifest), sets))
    }
}

#[derive(Serialize, Deserialize)]
struct LabelRecord {
    image: String,
    shape: usize,
    color: usize,
    count: usize,
}

#[derive(Serialize)]
struct ManifestLine<'a> {
    image: &'a str,
    /// Training pictures: the phrasings standing for original captions; test pictures: every phrasing.
    captions: &'a [String],
    /// Training pictures: the phrasings standing for generated (synthetic) captions.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    generated_captions: &'a [String],
    lang: &'a str,
}

fn write_split(
    spec: &ShapesSpec,
    split: Split,
    scenes: &[Scene],
    root: &Path,
) -> Result<(), DataError> {
    let name = split_name(split);
    let image_dir = root.join("images").join(name);
    fs::create_dir_all(&image_dir).map_err(|e| DataError::io(&image_dir, e))?;
    let mut manifests = Lang::ALL
        .iter()
        .map(|lang| {
            let path = root.join(format!("{name}.{}.jsonl", lang.code()));
            fs::File::create(&path)
                .map(|file| (path.clone(), std::io::BufWriter::new(file)))
                .map_err(|e| DataError::io(&path, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let labels_path = root.join(format!("{name}.labels.jsonl"));
    let mut labels = std::io::BufWriter::new(
        fs::File::create(&labels_path).map_err(|e| DataError::io(&labels_path, e))?,
    );
    let salt = match split {
        Split::Train => 1,
        Split::Test => 2,
    };
    for (index, scene) in scenes.iter().enumerate() {
        let relative = format!("images/{name}/{index:06}.png");
        let mut rng = Pcg64::seed_from_u64(mix_seed(&[spec.seed, salt, index as u64, 1]));
        let path = root.join(&relative);
        render(scene, spec.image_px, &mut rng)
            .save(&path)
            .map_err(|e| write_error(&path, e))?;
        for (lang, (path, file)) in Lang::ALL.iter().zip(manifests.iter_mut()) {
            let phrasings = captions(scene, *lang);
            let originals = match split {
                Split::Train => ORIGINAL_PHRASINGS,
                Split::Test => phrasings.len(),
            };
            let (original, generated) = phrasings.split_at(originals.min(phrasings.len()));
            let line = ManifestLine {
                image: &relative,
                captions: original,
                generated_captions: generated,
                lang: lang.code(),
            };
            let json = serde_json::to_string(&line).map_err(|e| write_error(path, e))?;
            writeln!(file, "{json}").map_err(|e| DataError::io(path.as_path(), e))?;
        }
        if let (Some(shape), Some(color), Some(count)) = (
            label_of(scene, LabelSet::Shape),
            label_of(scene, LabelSet::Color),
            label_of(scene, LabelSet::Count),
        ) {
            let record = LabelRecord {
                image: relative.clone(),
                shape,
                color,
                count,
            };
            let json = serde_json::to_string(&record).map_err(|e| write_error(&labels_path, e))?;
            writeln!(labels, "{json}").map_err(|e| DataError::io(&labels_path, e))?;
        }
    }
    for (path, mut file) in manifests {
        file.flush().map_err(|e| DataError::io(&path, e))?;
    }
    labels.flush().map_err(|e| DataError::io(&labels_path, e))
}

/// The texts the shipped tokenizer was trained on: [`tokenizer_corpus_for`] the six languages of
/// [`Lang::SHIPPED_TOKENIZER`] (not Hindi).
pub fn tokenizer_corpus() -> Vec<String> {
    tokenizer_corpus_for(&Lang::SHIPPED_TOKENIZER)
}

/// The texts to train a tokenizer for `languages` on: every phrasing of 3000 training scenes (seed 0) in each
/// language (scene by scene, languages in the given order), then every zero-shot prompt of each language.
pub fn tokenizer_corpus_for(languages: &[Lang]) -> Vec<String> {
    let mut corpus = Vec::new();
    for scene in scenes(0, Split::Train, 3000) {
        for &lang in languages {
            corpus.extend(captions(&scene, lang));
        }
    }
    for &lang in languages {
        for set in LabelSet::ALL {
            for name in class_names(set, lang) {
                corpus.extend(templates(lang).iter().map(|t| t.replacen("{}", &name, 1)));
            }
        }
    }
    corpus
}

/// The embedded dataset's tokenizer with mBART-50's language codes of the six languages it was trained on
/// ([`Lang::SHIPPED_TOKENIZER`], in that order, so that the codes' ids do not change), for captioning.
pub fn shapes_mbart_tokenizer(max_tokens: usize) -> Result<MBartTokenizer, DataError> {
    let inner =
        tokenizers::Tokenizer::from_bytes(TOKENIZER_JSON).map_err(|e| DataError::Tokenizer {
            path: "datasets/shapes/tokenizer.json".into(),
            reason: e.to_string(),
        })?;
    let languages: Vec<&str> = Lang::SHIPPED_TOKENIZER
        .iter()
        .map(|lang| lang.code())
        .collect();
    MBartTokenizer::with_language_codes(
        inner,
        &languages,
        "datasets/shapes/tokenizer.json",
        max_tokens,
    )
}

/// The embedded dataset's tokenizer, truncating to `max_tokens`.
pub fn shapes_tokenizer(max_tokens: usize) -> Result<TextTokenizer, DataError> {
    TextTokenizer::from_json(
        TOKENIZER_JSON,
        "datasets/shapes/tokenizer.json",
        "<pad>",
        max_tokens,
    )
}

const README: &str = "# Embedded shapes dataset (generated by polyclip)\n\n\
Pictures of coloured shapes with captions in en, pt, it, es, de, fr, hi. `train.<lang>.jsonl` / `test.<lang>.jsonl`:\n\
one JSON object per picture (`image`; training pictures: `captions`, the two phrasings standing for original\n\
captions, and `generated_captions`, the three standing for synthetic ones; test pictures: all five in `captions`;\n\
`lang`). The test split contains (colour, kind) pairs never seen in training.\n\
`test.labels.jsonl`: shape/colour/count class indices of the one-group test pictures. `spec.v2.json`: how it was made.\n";
