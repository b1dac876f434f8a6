//! CAPIVARA's caption scores: the cosine similarity of every caption of a picture (originals and generated) to
//! the picture under a baseline model, written into a copy of the manifest as `similarities` — what
//! `filter_by_ranking` and `threshold` rank by.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::tensor::backend::Backend;
use polyclip_data::{
    BadInputPolicy, ClipPreprocess, ImageBatcher, ImageTextDataset, Manifest, TextTokenizer,
};
use polyclip_eval::encode::{embed_image_set, embed_texts, to_host};
use polyclip_models::ClipModel;
use serde::Serialize;

use crate::error::RecipeError;

/// One scored manifest line.
#[derive(Serialize)]
struct ScoredLine<'a> {
    image: &'a Path,
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
    /// Scores every caption of `manifest` with `model` and writes the scored manifest to `output`.
    pub fn score<B: Backend>(
        &self,
        model: &ClipModel<B>,
        manifest: &Path,
        output: &Path,
        device: &B::Device,
    ) -> Result<PathBuf, RecipeError> {
        let manifest = Manifest::load(manifest, BadInputPolicy::Fail)?;
        let entries = manifest.entries.clone();
        let dataset = ImageTextDataset::new(manifest);
        let images = Arc::new(ImageBatcher::new(self.preprocess, BadInputPolicy::Fail));
        let image_embeds = to_host(embed_image_set(
            model,
            &dataset,
            images,
            self.batch_size,
            self.num_workers,
            device,
        )?);
        let texts: Vec<&str> = entries
            .iter()
            .flat_map(|entry| entry.captions.iter().chain(&entry.generated_captions))
            .map(String::as_str)
            .collect();
        let text_embeds = to_host(embed_texts(
            model,
            self.tokenizer,
            &texts,
            self.batch_size,
            device,
        )?);
        let width = image_embeds.len() / entries.len().max(1);
        let write_error = |e: std::io::Error| RecipeError::Io {
            path: output.to_owned(),
            source: e,
        };
        let mut file = std::io::BufWriter::new(std::fs::File::create(output).map_err(write_error)?);
        let mut text_row = 0;
        for (index, entry) in entries.iter().enumerate() {
            let image = &image_embeds[index * width..(index + 1) * width];
            let count = entry.captions.len() + entry.generated_captions.len();
            let similarities = (text_row..text_row + count)
                .map(|row| {
                    let text = &text_embeds[row * width..(row + 1) * width];
                    image.iter().zip(text).map(|(a, b)| a * b).sum::<f32>()
                })
                .collect();
            text_row += count;
            let line = ScoredLine {
                image: &entry.image,
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
