//! Beam search as Hugging Face's (vectorised, transformers ≥ 4.50) `_beam_search` does it, step for step:
//! at each step the `2·num_beams` best continuations of all beams are taken; those ending in the end token (or
//! reaching `max_length`) among the first `num_beams` become finished hypotheses scored
//! `sum(log p) / generated_length^length_penalty`; the best `num_beams` unfinished ones run on; `early_stopping`
//! decides when no running beam can improve the finished ones.

use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

use super::config::GenerationConfig;
use super::processors::process;
use super::{Generated, Seq2SeqDecoder, log_softmax, next_token_logits};
use crate::mbart::Memory;

/// HF's "impossible" score, added to candidates that must not be chosen.
const EXCLUDED: f32 = -1.0e9;

/// A continuation candidate of one source.
#[derive(Debug, Clone)]
struct Candidate {
    score: f32,
    /// The running beam it continues (index within the source's beams).
    beam: usize,
    tokens: Vec<i64>,
}

/// A hypothesis slot of one source: finished or a placeholder that never wins.
#[derive(Debug, Clone)]
struct Hypothesis {
    score: f32,
    tokens: Vec<i64>,
    finished: bool,
}

/// Indices of the `k` largest `scores`, best first; ties keep the lower index first.
fn top_k(scores: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

/// The best `k` (score, index) pairs of `scores` without sorting the whole vocabulary.
fn top_k_of_row(scores: &[f32], k: usize) -> Vec<(f32, usize)> {
    let mut best: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
    for (index, &score) in scores.iter().enumerate() {
        if best.len() == k && best.last().is_some_and(|&(worst, _)| score <= worst) {
            continue;
        }
        let at = best.partition_point(|&(s, _)| s >= score);
        best.insert(at, (score, index));
        best.truncate(k);
    }
    best
}

/// Beam search over every source row of `memory`.
pub fn beam_search<B: Backend, M: Seq2SeqDecoder<B>>(
    model: &M,
    memory: &Memory<B>,
    config: &GenerationConfig,
) -> Generated {
    let batch = memory.states.dims()[0];
    let beams = config.num_beams;
    let device = memory.states.device();
    let keep = 2 * beams;
    let prompt = 1;
    // Every source repeated for its beams.
    let expand: Vec<i64> = (0..batch as i64)
        .flat_map(|b| std::iter::repeat_n(b, beams))
        .collect();
    let memory = memory.select(Tensor::<B, 1, Int>::from_data(
        TensorData::new(expand, [batch * beams]),
        &device,
    ));
    let start = vec![config.decoder_start_token_id as i64];
    let mut running: Vec<Vec<i64>> = vec![start.clone(); batch * beams];
    let mut running_scores: Vec<f32> = (0..batch * beams)
        .map(|row| if row % beams == 0 { 0.0 } else { EXCLUDED })
        .collect();
    let mut finished: Vec<Vec<Hypothesis>> = vec![
        vec![
            Hypothesis {
                score: EXCLUDED,
                tokens: start.clone(),
                finished: false,
            };
            beams
        ];
        batch
    ];
    let mut improvable = vec![true; batch];
    let mut cache = config.use_cache.then(|| model.new_cache());
    let mut length = prompt;
    loop {
        let logits = next_token_logits(model, &memory, &running, cache.as_mut(), &device);
        let mut next_running = Vec::with_capacity(batch * beams);
        let mut next_scores = Vec::with_capacity(batch * beams);
        let mut sources = Vec::with_capacity(batch * beams);
        let mut all_hit = true;
        for b in 0..batch {
            // The `keep` best continuations of all the source's beams.
            let mut pool: Vec<(f32, usize, usize)> = Vec::with_capacity(beams * keep);
            for j in 0..beams {
                let row = b * beams + j;
                let mut scores = log_softmax(&logits[row]);
                process(config, &running[row], &mut scores);
                for (score, token) in top_k_of_row(&scores, keep) {
                    pool.push((score + running_scores[row], j, token));
                }
            }
            let pool_scores: Vec<f32> = pool.iter().map(|c| c.0).collect();
            // Candidates in the order of the flattened (beam, token) index on ties, as torch.topk.
            let mut order: Vec<usize> = (0..pool.len()).collect();
            order.sort_by(|&x, &y| {
                pool_scores[y]
                    .total_cmp(&pool_scores[x])
                    .then((pool[x].1, pool[x].2).cmp(&(pool[y].1, pool[y].2)))
            });
            let candidates: Vec<Candidate> = order
                .into_iter()
                .take(keep)
                .map(|i| {
                    let (score, beam, token) = pool[i];
                    let mut tokens = running[b * beams + beam].clone();
                    tokens.push(token as i64);
                    Candidate {
                        score,
                        beam,
                        tokens,
                    }
                })
                .collect();
            let hits: Vec<bool> = candidates
                .iter()
                .map(|c| {
                    c.tokens.last() == Some(&(config.eos_token_id as i64))
                        || c.tokens.len() >= config.max_length
                })
                .collect();
            all_hit &= hits.iter().all(|&h| h);

            // The best unfinished continuations run on.
            let running_candidates: Vec<f32> = candidates
                .iter()
                .zip(&hits)
                .map(|(c, &hit)| c.score + if hit { EXCLUDED } else { 0.0 })
                .collect();
            for index in top_k(&running_candidates, beams) {
                next_running.push(candidates[index].tokens.clone());
                next_scores.push(running_candidates[index]);
                sources.push((b * beams + candidates[index].beam) as i64);
            }

            // Finished hypotheses among the first `num_beams` candidates join the finished pool.
            let slots = &finished[b];
            let full = slots.iter().all(|h| h.finished) && config.early_stopping.is_true();
            let normaliser = ((length + 1 - prompt) as f64).powf(config.length_penalty) as f32;
            let mut merged: Vec<Hypothesis> = slots.clone();
            for (k, candidate) in candidates.iter().enumerate() {
                let just_finished = hits[k] && k < beams;
                let mut score = candidate.score / normaliser;
                if full {
                    score += EXCLUDED;
                }
                if !improvable[b] {
                    score += EXCLUDED;
                }
                if !just_finished {
                    score += EXCLUDED;
                }
                merged.push(Hypothesis {
                    score,
                    tokens: candidate.tokens.clone(),
                    finished: just_finished,
                });
            }
            let merged_scores: Vec<f32> = merged.iter().map(|h| h.score).collect();
            finished[b] = top_k(&merged_scores, beams)
                .into_iter()
                .map(|i| merged[i].clone())
                .collect();
        }
        running = next_running;
        running_scores = next_scores;
        // Each running beam continues the cache rows of the beam it extends.
        if let Some(current) = cache.take() {
            let sources =
                Tensor::<B, 1, Int>::from_data(TensorData::new(sources, [batch * beams]), &device);
            cache = Some(current.select(sources));
        }
        length += 1;

        // Can a running beam still beat the worst finished hypothesis?
        for b in 0..batch {
            let best_length = if config.early_stopping.is_never() && config.length_penalty > 0.0 {
                config.max_length - prompt
            } else {
                length - prompt
            };
            let best_possible =
                running_scores[b * beams] / (best_length as f64).powf(config.length_penalty) as f32;
            let worst = finished[b]
                .iter()
                .map(|h| h.score)
                .fold(f32::INFINITY, f32::min);
            improvable[b] &= finished[b]
                .iter()
                .any(|h| best_possible > if h.finished { worst } else { EXCLUDED });
        }
        let all_finished = finished.iter().flatten().all(|h| h.finished);
        let open = !(all_finished && config.early_stopping.is_true());
        if !(improvable.iter().any(|&i| i) && open && !all_hit) {
            break;
        }
    }
    finish(finished, config)
}

/// The best hypothesis of every source, padded to the longest.
fn finish(finished: Vec<Vec<Hypothesis>>, config: &GenerationConfig) -> Generated {
    let best: Vec<Hypothesis> = finished
        .into_iter()
        .filter_map(|slots| slots.into_iter().next())
        .collect();
    let longest = best.iter().map(|h| h.tokens.len()).max().unwrap_or(0);
    Generated {
        sequences: best
            .iter()
            .map(|h| {
                let mut tokens = h.tokens.clone();
                tokens.resize(longest, config.pad_token_id as i64);
                tokens
            })
            .collect(),
        scores: best.iter().map(|h| h.score).collect(),
    }
}
