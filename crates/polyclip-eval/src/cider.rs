//! CIDEr (in its CIDEr-D form) as pycocoevalcap computes it, the captioning metric of COCO and XM3600: per
//! n = 1..4, the cosine similarity of TF-IDF n-gram vectors of the hypothesis and each reference, with the
//! hypothesis's weights clipped by the reference's and a Gaussian penalty on the length difference (σ = 6),
//! averaged over n and references, times 10. Document frequencies come from the evaluated set's references.

use std::collections::{HashMap, HashSet};

const MAX_ORDER: usize = 4;
const SIGMA: f64 = 6.0;

type Counts = HashMap<Vec<String>, f64>;

/// n-gram term frequencies of a whitespace-tokenized sentence.
fn counts(sentence: &[String]) -> Counts {
    let mut counts = Counts::new();
    for order in 1..=MAX_ORDER {
        for gram in sentence.windows(order) {
            *counts.entry(gram.to_vec()).or_insert(0.0) += 1.0;
        }
    }
    counts
}

/// TF-IDF weights per order, their norms, and pycocoevalcap's "length" (its count of bigrams).
struct Vector {
    weights: [HashMap<Vec<String>, f64>; MAX_ORDER],
    norms: [f64; MAX_ORDER],
    length: f64,
}

fn vector(
    counts: &Counts,
    document_frequency: &HashMap<Vec<String>, f64>,
    log_documents: f64,
) -> Vector {
    let mut weights: [HashMap<Vec<String>, f64>; MAX_ORDER] = Default::default();
    let mut norms = [0.0; MAX_ORDER];
    let mut length = 0.0;
    for (gram, &tf) in counts {
        let df = document_frequency
            .get(gram)
            .copied()
            .unwrap_or(0.0)
            .max(1.0)
            .ln();
        let n = gram.len() - 1;
        let weight = tf * (log_documents - df);
        weights[n].insert(gram.clone(), weight);
        norms[n] += weight * weight;
        if n == 1 {
            length += tf;
        }
    }
    Vector {
        weights,
        norms: norms.map(f64::sqrt),
        length,
    }
}

fn similarity(hypothesis: &Vector, reference: &Vector) -> [f64; MAX_ORDER] {
    let delta = hypothesis.length - reference.length;
    let penalty = (-(delta * delta) / (2.0 * SIGMA * SIGMA)).exp();
    let mut values = [0.0; MAX_ORDER];
    for (n, value) in values.iter_mut().enumerate() {
        for (gram, &weight) in &hypothesis.weights[n] {
            let reference_weight = reference.weights[n].get(gram).copied().unwrap_or(0.0);
            *value += weight.min(reference_weight) * reference_weight;
        }
        if hypothesis.norms[n] != 0.0 && reference.norms[n] != 0.0 {
            *value /= hypothesis.norms[n] * reference.norms[n];
        }
        *value *= penalty;
    }
    values
}

/// CIDEr of every hypothesis (tokens) against its references, and their mean.
pub fn cider(hypotheses: &[Vec<String>], references: &[Vec<Vec<String>>]) -> (f64, Vec<f64>) {
    let reference_counts: Vec<Vec<Counts>> = references
        .iter()
        .map(|refs| refs.iter().map(|r| counts(r)).collect())
        .collect();
    let mut document_frequency: HashMap<Vec<String>, f64> = HashMap::new();
    for refs in &reference_counts {
        let grams: HashSet<&Vec<String>> = refs.iter().flat_map(|c| c.keys()).collect();
        for gram in grams {
            *document_frequency.entry(gram.clone()).or_insert(0.0) += 1.0;
        }
    }
    let log_documents = (reference_counts.len() as f64).ln();
    let scores: Vec<f64> = hypotheses
        .iter()
        .zip(&reference_counts)
        .map(|(hypothesis, refs)| {
            let hypothesis = vector(&counts(hypothesis), &document_frequency, log_documents);
            let mut total = [0.0; MAX_ORDER];
            for reference in refs {
                let reference = vector(reference, &document_frequency, log_documents);
                for (t, s) in total.iter_mut().zip(similarity(&hypothesis, &reference)) {
                    *t += s;
                }
            }
            let mean = total.iter().sum::<f64>() / MAX_ORDER as f64;
            mean / refs.len().max(1) as f64 * 10.0
        })
        .collect();
    let mean = if scores.is_empty() {
        0.0
    } else {
        scores.iter().sum::<f64>() / scores.len() as f64
    };
    (mean, scores)
}
