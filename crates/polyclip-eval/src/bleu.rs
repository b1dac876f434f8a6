//! BLEU as the captioner seed measured it: cumulative BLEU-n (the geometric mean of the clipped 1..n-gram
//! precisions times the brevity penalty) over a corpus of tokenized hypotheses with their references, without
//! smoothing (tensorflow/nmt's `compute_bleu`, behind the `bleu` metric of Hugging Face datasets; with one
//! reference per hypothesis it equals torchmetrics' `BLEUScore`; NLTK's `corpus_bleu` differs on hypotheses shorter
//! than n, which it counts as one n-gram). The seed averaged it over batches of 512; both
//! figures are here.

use std::collections::HashMap;

/// n-gram counts of a token sequence, n = 1..=max_order.
fn ngram_counts(tokens: &[String], max_order: usize) -> HashMap<&[String], usize> {
    let mut counts = HashMap::new();
    for order in 1..=max_order {
        for gram in tokens.windows(order) {
            *counts.entry(gram).or_insert(0) += 1;
        }
    }
    counts
}

/// Corpus BLEU-`max_order` of `hypotheses` against their `references` (one list per hypothesis), in [0, 1].
/// The reference length of a hypothesis is its shortest reference's, as nmt's.
pub fn corpus_bleu(
    hypotheses: &[Vec<String>],
    references: &[Vec<Vec<String>>],
    max_order: usize,
) -> f64 {
    let mut matches = vec![0_usize; max_order];
    let mut possible = vec![0_usize; max_order];
    let mut hypothesis_length = 0;
    let mut reference_length = 0;
    for (hypothesis, refs) in hypotheses.iter().zip(references) {
        hypothesis_length += hypothesis.len();
        reference_length += refs.iter().map(Vec::len).min().unwrap_or(0);
        let mut best_reference: HashMap<&[String], usize> = HashMap::new();
        for reference in refs {
            for (gram, count) in ngram_counts(reference, max_order) {
                let best = best_reference.entry(gram).or_insert(0);
                *best = (*best).max(count);
            }
        }
        for (gram, count) in ngram_counts(hypothesis, max_order) {
            matches[gram.len() - 1] += count.min(best_reference.get(gram).copied().unwrap_or(0));
        }
        for order in 1..=max_order {
            possible[order - 1] += (hypothesis.len() + 1).saturating_sub(order);
        }
    }
    let precisions: Vec<f64> = matches
        .iter()
        .zip(&possible)
        .map(|(&m, &p)| if p > 0 { m as f64 / p as f64 } else { 0.0 })
        .collect();
    if precisions.iter().any(|&p| p <= 0.0) || hypothesis_length == 0 {
        return 0.0;
    }
    let geometric_mean = (precisions.iter().map(|p| p.ln()).sum::<f64>() / max_order as f64).exp();
    let ratio = hypothesis_length as f64 / reference_length.max(1) as f64;
    let brevity_penalty = if ratio > 1.0 {
        1.0
    } else {
        (1.0 - 1.0 / ratio).exp()
    };
    geometric_mean * brevity_penalty
}

/// The mean of [`corpus_bleu`] over consecutive batches of `batch_size` pairs (CLIP-Vision-mBART50's evaluation, with
/// batches of 512).
pub fn batch_average_bleu(
    hypotheses: &[Vec<String>],
    references: &[Vec<Vec<String>>],
    max_order: usize,
    batch_size: usize,
) -> f64 {
    let batch_size = batch_size.max(1);
    let scores: Vec<f64> = hypotheses
        .chunks(batch_size)
        .zip(references.chunks(batch_size))
        .map(|(h, r)| corpus_bleu(h, r, max_order))
        .collect();
    if scores.is_empty() {
        0.0
    } else {
        scores.iter().sum::<f64>() / scores.len() as f64
    }
}
