//! Greedy search: the highest-scoring token at every step, until every row has emitted the end token or
//! `max_length` is reached (HF `generate` with `num_beams=1`, `do_sample=False`).

use burn::tensor::backend::Backend;

use super::config::GenerationConfig;
use super::processors::process;
use super::{Generated, Seq2SeqDecoder, log_softmax, next_token_logits};
use crate::mbart::Memory;

/// Greedy decoding of every source row of `memory`.
pub fn greedy_search<B: Backend, M: Seq2SeqDecoder<B>>(
    model: &M,
    memory: &Memory<B>,
    config: &GenerationConfig,
) -> Generated {
    let batch = memory.states.dims()[0];
    let device = memory.states.device();
    let mut rows: Vec<Vec<i64>> = vec![vec![config.decoder_start_token_id as i64]; batch];
    let mut running = vec![true; batch];
    let mut scores = vec![0.0_f32; batch];
    let mut cache = config.use_cache.then(|| model.new_cache());
    while rows[0].len() < config.max_length && running.iter().any(|&r| r) {
        let logits = next_token_logits(model, memory, &rows, cache.as_mut(), &device);
        for (row, mut scores_row) in logits.into_iter().enumerate() {
            if !running[row] {
                rows[row].push(config.pad_token_id as i64);
                continue;
            }
            process(config, &rows[row], &mut scores_row);
            let next = argmax(&scores_row);
            scores[row] += log_softmax(&scores_row)[next];
            rows[row].push(next as i64);
            if next == config.eos_token_id {
                running[row] = false;
            }
        }
    }
    Generated {
        sequences: rows,
        scores,
    }
}

/// The index of the largest value (the first one on ties, as `torch.argmax`).
fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (index, &value) in values.iter().enumerate() {
        if value > values[best] {
            best = index;
        }
    }
    best
}
