//! Captioning evaluation as the captioner seed did it: generate a caption per picture in a language (beam
//! search, the language code forced first), then BLEU-1..4 against one reference caption per picture on NLTK's
//! word tokens, averaged over batches of 512 (and over the whole corpus), plus CIDEr against every reference.

use std::sync::Arc;

use burn::tensor::backend::Backend;
use polyclip_data::{
    DataError, DataLoader, ImageBatch, ImageBatcher, ImageTextDataset, LoaderConfig,
    MBartTokenizer, Order,
};
use polyclip_models::captioner::Captioner;
use polyclip_models::generation::{GenerationConfig, generate};
use serde::{Deserialize, Serialize};

use crate::bleu::{batch_average_bleu, corpus_bleu};
use crate::cider::cider;
use crate::word_tokenize::word_tokenize;

/// The metrics of one language's captions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptionMetrics {
    /// BLEU-1..4, the mean over batches of `bleu_batch_size` pictures (CLIP-Vision-mBART50's table).
    pub bleu: [f64; 4],
    /// BLEU-1..4 over all pictures at once.
    pub corpus_bleu: [f64; 4],
    /// CIDEr (CIDEr-D, pycocoevalcap's) against every reference of a picture.
    pub cider: f64,
    pub pictures: usize,
}

/// Scores `hypotheses` against `references` (all of a picture's captions; BLEU uses the first, as CLIP-Vision-mBART50's
/// one reference per row).
pub fn caption_metrics(
    hypotheses: &[String],
    references: &[Vec<String>],
    bleu_batch_size: usize,
) -> CaptionMetrics {
    let hypotheses: Vec<Vec<String>> = hypotheses.iter().map(|h| word_tokenize(h.trim())).collect();
    let all_references: Vec<Vec<Vec<String>>> = references
        .iter()
        .map(|refs| refs.iter().map(|r| word_tokenize(r.trim())).collect())
        .collect();
    let first_reference: Vec<Vec<Vec<String>>> = all_references
        .iter()
        .map(|refs| refs.iter().take(1).cloned().collect())
        .collect();
    let bleu = std::array::from_fn(|n| {
        batch_average_bleu(&hypotheses, &first_reference, n + 1, bleu_batch_size)
    });
    let corpus = std::array::from_fn(|n| corpus_bleu(&hypotheses, &first_reference, n + 1));
    CaptionMetrics {
        bleu,
        corpus_bleu: corpus,
        cider: cider(&hypotheses, &all_references).0,
        pictures: hypotheses.len(),
    }
}

/// A generated caption and the picture it describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedCaption {
    /// The picture's entry in the dataset (pictures skipped as bad input have none).
    pub index: usize,
    pub text: String,
}

/// Captions every picture of `dataset` in `language` with `generation` (its forced first token set to the
/// language's code), in dataset order. Each caption carries its picture's dataset index: with
/// [`BadInputPolicy::Skip`](polyclip_data::BadInputPolicy) a picture that cannot be decoded is left out, and
/// the callers must pair captions with references through [`GeneratedCaption::index`], never by position.
#[allow(clippy::too_many_arguments)]
pub fn generate_captions<B: Backend>(
    model: &Captioner<B>,
    dataset: &ImageTextDataset,
    images: Arc<ImageBatcher>,
    tokenizer: &MBartTokenizer,
    generation: &GenerationConfig,
    language: &str,
    batch_size: usize,
    num_workers: usize,
    device: &B::Device,
) -> Result<Vec<GeneratedCaption>, DataError> {
    let generation = GenerationConfig {
        forced_bos_token_id: Some(tokenizer.language_id(language)? as usize),
        ..generation.clone()
    };
    let loader: DataLoader<B, _, Result<ImageBatch<B>, DataError>> = DataLoader::new(
        Arc::new(dataset.clone()),
        images,
        LoaderConfig {
            batch_size,
            num_workers,
            seed: 0,
            order: Order::Sequential,
        },
        device.clone(),
    );
    let mut captions = Vec::with_capacity(dataset.entries().len());
    for batch in loader.iter_from(0) {
        let batch = batch?;
        if batch.indices.is_empty() {
            continue;
        }
        let memory = model.encode(batch.pixels);
        let sequences = generate(model, &memory, &generation).sequences;
        for (index, sequence) in batch.indices.into_iter().zip(sequences) {
            captions.push(GeneratedCaption {
                index,
                text: tokenizer.decode(&sequence)?,
            });
        }
    }
    Ok(captions)
}

/// The hypotheses and their pictures' references, paired through the pictures' indices.
pub fn paired_with_references(
    captions: &[GeneratedCaption],
    references: &[Vec<String>],
) -> (Vec<String>, Vec<Vec<String>>) {
    captions
        .iter()
        .filter_map(|caption| {
            references
                .get(caption.index)
                .map(|refs| (caption.text.clone(), refs.clone()))
        })
        .unzip()
}
