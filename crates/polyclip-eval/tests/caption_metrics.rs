//! Caption metrics against their references (tests/fixtures/captions/metrics.json, written by
//! make_captioner_fixtures.py): NLTK's word tokens, corpus BLEU-1..4 as the captioner seed computed it
//! (torchmetrics' BLEUScore, one reference per hypothesis), CLIP-Vision-mBART50's per-batch average, and pycocoevalcap's
//! CIDEr.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use polyclip_eval::bleu::{batch_average_bleu, corpus_bleu};
use polyclip_eval::cider::cider;
use polyclip_eval::word_tokenize::word_tokenize;
use serde::Deserialize;

#[derive(Deserialize)]
struct Metrics {
    languages: BTreeMap<String, Language>,
    cider: Cider,
}

#[derive(Deserialize)]
struct Language {
    hypotheses: Vec<String>,
    references: Vec<String>,
    hypothesis_tokens: Vec<Vec<String>>,
    reference_tokens: Vec<Vec<String>>,
    corpus_bleu: BTreeMap<String, f64>,
    batch_average_bleu_3: BTreeMap<String, f64>,
}

#[derive(Deserialize)]
struct Cider {
    score: f64,
    per_item: BTreeMap<String, f64>,
}

fn metrics() -> Metrics {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/captions/metrics.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("metrics.json")).expect("metrics")
}

#[test]
fn word_tokens_equal_nltks() {
    for (lang, language) in metrics().languages {
        for (text, tokens) in language.hypotheses.iter().chain(&language.references).zip(
            language
                .hypothesis_tokens
                .iter()
                .chain(&language.reference_tokens),
        ) {
            assert_eq!(&word_tokenize(text), tokens, "{lang}: {text:?}");
        }
    }
}

#[test]
fn bleu_equals_the_seeds_corpus_bleu_and_batch_average() {
    let mut partial = 0;
    for (lang, language) in metrics().languages {
        let hypotheses: Vec<Vec<String>> = language
            .hypotheses
            .iter()
            .map(|h| word_tokenize(h))
            .collect();
        let references: Vec<Vec<Vec<String>>> = language
            .references
            .iter()
            .map(|r| vec![word_tokenize(r)])
            .collect();
        for n in 1..=4 {
            let key = format!("BLEU-{n}");
            let ours = corpus_bleu(&hypotheses, &references, n);
            assert!(
                (ours - language.corpus_bleu[&key]).abs() < 1e-6,
                "{lang} {key}: {ours}"
            );
            let batched = batch_average_bleu(&hypotheses, &references, n, 3);
            assert!(
                (batched - language.batch_average_bleu_3[&key]).abs() < 1e-6,
                "{lang} {key}: {batched}"
            );
            partial += usize::from(ours > 0.0 && ours < 1.0);
        }
    }
    assert!(partial >= 8, "the fixture must exercise partial matches");
}

#[test]
fn cider_equals_pycocoevalcap() {
    let metrics = metrics();
    let mut hypotheses = Vec::new();
    let mut references = Vec::new();
    let mut keys = Vec::new();
    for (lang, language) in &metrics.languages {
        for (i, (h, r)) in language
            .hypotheses
            .iter()
            .zip(&language.references)
            .enumerate()
        {
            hypotheses.push(word_tokenize(h));
            references.push(vec![word_tokenize(r)]);
            keys.push(format!("{lang}{i}"));
        }
    }
    let (score, per_item) = cider(&hypotheses, &references);
    assert!(
        (score - metrics.cider.score).abs() < 1e-9,
        "{score} vs {}",
        metrics.cider.score
    );
    for (key, ours) in keys.iter().zip(per_item) {
        let theirs = metrics.cider.per_item[key];
        assert!((ours - theirs).abs() < 1e-9, "{key}: {ours} vs {theirs}");
    }
}
