//! CAPIVARA's caption scores: the cosine similarity of every caption of a picture (originals and generated) to
//! the picture under a baseline model, written into a copy of the manifest as `similarities` — what
//! `filter_by_ranking` and `threshold` rank by.

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use polyclip_data::{
    BadInputPolicy, ClipPreprocess, Manifest, ReadOptions, TextTokenizer, image_reference,
};
use polyclip_eval::similarity::{EmbedSettings, caption_similarities};
use polyclip_models::ClipModel;
use serde::Serialize;

use crate::error::RecipeError;

/// One scored manifest line.
#[derive(Serialize)]
struct ScoredLine<'a> {
    /// Relative to the scored manifest's folder ([`image_reference`]).
    image: PathBuf,
    captions: &'a [String],
    generated_captions: &'a [String],
    similarities: Vec<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lang: Option<&'a str>,
}

/// How to embed.
pub struct Scorer<'a> {
    pub tokenizer: &'a TextTokenizer,
    pub preprocess: ClipPreprocess,
    pub batch_size: usize,
    pub num_workers: usize,
}

impl Scorer<'_> {
    /// Scores every caption of `data` (a manifest of image files, `language`'s captions) with `model` and writes
    /// the scored manifest to `output`.
    pub fn score<B: Backend>(
        &self,
        model: &ClipModel<B>,
        data: &str,
        language: &str,
        output: &Path,
        device: &B::Device,
    ) -> Result<PathBuf, RecipeError> {
        let manifest = Manifest::open(
            data,
            &ReadOptions::new(BadInputPolicy::Fail, Some(language)),
        )?;
        let scores = caption_similarities(
            model,
            self.tokenizer,
            &manifest,
            EmbedSettings {
                preprocess: self.preprocess,
                batch_size: self.batch_size,
                num_workers: self.num_workers,
            },
            device,
        )?;
        let write_error = |e: std::io::Error| RecipeError::Io {
            path: output.to_owned(),
            source: e,
        };
        let mut file = std::io::BufWriter::new(std::fs::File::create(output).map_err(write_error)?);
        for (entry, similarities) in manifest.entries.iter().zip(scores) {
            let Some(image) = entry.image.file() else {
                return Err(RecipeError::NotSupported {
                    option: "scoring captions in a recipe",
                    reason: format!(
                        "{} is inside a shard without `similarities-<lang>`: score shards with `polyclip prepare --scorer`",
                        entry.image
                    ),
                });
            };
            let line = ScoredLine {
                image: image_reference(output, image)?,
                captions: &entry.captions,
                generated_captions: &entry.generated_captions,
                similarities,
                lang: entry.lang.as_deref(),
            };
            let json = serde_json::to_string(&line).map_err(|e| RecipeError::Io {
                path: output.to_owned(),
                source: e.into(),
            })?;
            writeln!(file, "{json}").map_err(write_error)?;
        }
        file.flush().map_err(write_error)?;
        Ok(output.to_owned())
    }
}
