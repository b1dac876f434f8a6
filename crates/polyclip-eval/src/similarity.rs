//! CAPIVARA's caption scores: the cosine similarity of every caption of a picture (originals, then generated) to
//! the picture under a baseline model — what `filter_by_ranking` and `threshold` rank by (CAPIVARA's
//! `generated_caps_sim_score.py`: L2-normalised embeddings, no logit scale).

use std::sync::Arc;

use crate::encode::{Encoders, embed_image_set, embed_texts, to_host};
use burn::tensor::backend::Backend;
use polyclip_data::{
    BadInputPolicy, ClipPreprocess, DataError, ImageBatcher, ImageTextDataset, Manifest,
    TextTokenizer,
};

/// How to embed.
#[derive(Debug, Clone, Copy)]
pub struct EmbedSettings {
    pub preprocess: ClipPreprocess,
    pub batch_size: usize,
    pub num_workers: usize,
}

/// One list per entry of `manifest`: the similarity of each caption, originals then generated.
pub fn caption_similarities<B: Backend>(
    model: &impl Encoders<B>,
    tokenizer: &TextTokenizer,
    manifest: &Manifest,
    settings: EmbedSettings,
    device: &B::Device,
) -> Result<Vec<Vec<f32>>, DataError> {
    let entries = &manifest.entries;
    let dataset = ImageTextDataset::new(Manifest {
        path: manifest.path.clone(),
        entries: entries.clone(),
        skipped: Vec::new(),
    });
    let images = Arc::new(ImageBatcher::new(settings.preprocess, BadInputPolicy::Fail));
    let image_embeds = to_host(embed_image_set(
        model,
        &dataset,
        images,
        settings.batch_size,
        settings.num_workers,
        device,
    )?);
    let texts: Vec<&str> = entries
        .iter()
        .flat_map(|entry| entry.captions.iter().chain(&entry.generated_captions))
        .map(String::as_str)
        .collect();
    let text_embeds = to_host(embed_texts(
        model,
        tokenizer,
        &texts,
        settings.batch_size,
        device,
    )?);
    let width = image_embeds.len() / entries.len().max(1);
    let mut text_row = 0;
    Ok(entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let image = &image_embeds[index * width..(index + 1) * width];
            let count = entry.captions.len() + entry.generated_captions.len();
            let similarities = (text_row..text_row + count)
                .map(|row| {
                    let text = &text_embeds[row * width..(row + 1) * width];
                    image.iter().zip(text).map(|(a, b)| a * b).sum::<f32>()
                })
                .collect();
            text_row += count;
            similarities
        })
        .collect())
}
