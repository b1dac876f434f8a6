//! Text generation for encoder-decoder models, step for step as Hugging Face's `generate` does it: greedy
//! search and beam search (`num_beams`, `length_penalty`, `early_stopping`, `max_length`,
//! `no_repeat_ngram_size`), `decoder_start_token_id`, a forced first token (mBART-50's target language), a forced
//! last token, and a key/value cache so that each step decodes one new position.

pub mod beam;
pub mod config;
pub mod greedy;
pub mod processors;

use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

pub use config::{EarlyStopping, GenerationConfig};

use crate::captioner::Captioner;
use crate::mbart::{DecoderCache, MBartForConditionalGeneration, Memory};

/// A decoder generation can drive.
pub trait Seq2SeqDecoder<B: Backend> {
    /// Logits `[batch, new, vocab]` of the positions `ids` that follow those already in `cache`.
    fn decode(
        &self,
        ids: Tensor<B, 2, Int>,
        memory: &Memory<B>,
        cache: &mut DecoderCache<B>,
    ) -> Tensor<B, 3>;

    /// A fresh cache.
    fn new_cache(&self) -> DecoderCache<B>;
}

impl<B: Backend> Seq2SeqDecoder<B> for MBartForConditionalGeneration<B> {
    fn decode(
        &self,
        ids: Tensor<B, 2, Int>,
        memory: &Memory<B>,
        cache: &mut DecoderCache<B>,
    ) -> Tensor<B, 3> {
        MBartForConditionalGeneration::decode(self, ids, memory, cache)
    }

    fn new_cache(&self) -> DecoderCache<B> {
        MBartForConditionalGeneration::new_cache(self)
    }
}

impl<B: Backend> Seq2SeqDecoder<B> for Captioner<B> {
    fn decode(
        &self,
        ids: Tensor<B, 2, Int>,
        memory: &Memory<B>,
        cache: &mut DecoderCache<B>,
    ) -> Tensor<B, 3> {
        Captioner::decode(self, ids, memory, cache)
    }

    fn new_cache(&self) -> DecoderCache<B> {
        Captioner::new_cache(self)
    }
}

/// Generated token ids, one row per source, each starting with the decoder start token and padded with
/// `pad_token_id` to the longest row (HF's `sequences`).
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub sequences: Vec<Vec<i64>>,
    /// Per row, the finished hypothesis's score (beam search: length-normalised log-probability; greedy:
    /// the sum of the chosen tokens' log-probabilities).
    pub scores: Vec<f32>,
}

/// Generates from `memory` (one row per source) with greedy or beam search, as `config` says.
pub fn generate<B: Backend, M: Seq2SeqDecoder<B>>(
    model: &M,
    memory: &Memory<B>,
    config: &GenerationConfig,
) -> Generated {
    if config.num_beams <= 1 {
        greedy::greedy_search(model, memory, config)
    } else {
        beam::beam_search(model, memory, config)
    }
}

/// The logits of the last position of `ids`'s rows on the host, `[rows][vocab]`, decoding only the newest
/// position when a cache is used, the whole prefix otherwise.
pub(crate) fn next_token_logits<B: Backend, M: Seq2SeqDecoder<B>>(
    model: &M,
    memory: &Memory<B>,
    rows: &[Vec<i64>],
    cache: Option<&mut DecoderCache<B>>,
    device: &B::Device,
) -> Vec<Vec<f32>> {
    let mut fresh;
    let (cache, from) = match cache {
        Some(cache) => {
            let from = cache.length;
            (cache, from)
        }
        None => {
            fresh = model.new_cache();
            (&mut fresh, 0)
        }
    };
    let length = rows.first().map_or(0, Vec::len);
    let width = length - from;
    let ids: Vec<i64> = rows
        .iter()
        .flat_map(|row| row[from..].iter().copied())
        .collect();
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [rows.len(), width]), device);
    let logits = model.decode(ids, memory, cache);
    let [batch, _, vocab] = logits.dims();
    let last: Vec<f32> = logits
        .slice([0..batch, width - 1..width, 0..vocab])
        .into_data()
        .iter::<f32>()
        .collect();
    last.chunks(vocab).map(<[f32]>::to_vec).collect()
}

/// `log_softmax` of one row, accumulated in f64.
pub(crate) fn log_softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return row.to_vec();
    }
    let sum: f64 = row.iter().map(|&x| f64::from(x - max).exp()).sum();
    let log_sum = sum.ln() as f32;
    row.iter().map(|&x| x - max - log_sum).collect()
}
