//! Tokenizer ids identical to the Python reference's (transformers' CLIPTokenizerFast, BertTokenizerFast cased
//! and uncased, XLMRobertaTokenizerFast) on multilingual strings: accents, CJK, emoji, repeated spaces, a text
//! longer than the context (truncated with its special tokens kept), padded to the context.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use polyclip_data::TextTokenizer;
use serde::Deserialize;

#[derive(Deserialize)]
struct Cases {
    texts: Vec<String>,
    context: usize,
    tokenizers: std::collections::BTreeMap<String, Case>,
}

#[derive(Deserialize)]
struct Case {
    pad_token: String,
    clean_whitespace: bool,
    input_ids: Vec<Vec<i64>>,
    attention_mask: Vec<Vec<i64>>,
}

fn check(name: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tokenizers");
    let cases: Cases =
        serde_json::from_str(&std::fs::read_to_string(root.join("cases.json")).expect("cases"))
            .expect("json");
    let case = &cases.tokenizers[name];
    let tokenizer = TextTokenizer::from_file(
        &root.join(name).join("tokenizer.json"),
        &case.pad_token,
        cases.context,
    )
    .expect("tokenizer")
    .with_whitespace_cleaning(case.clean_whitespace);
    let batch = tokenizer
        .encode_batch_to_max_length(&cases.texts)
        .expect("encode");
    assert_eq!(batch.seq, cases.context);
    for (row, text) in cases.texts.iter().enumerate() {
        let ids = &batch.ids[row * batch.seq..(row + 1) * batch.seq];
        let mask = &batch.mask[row * batch.seq..(row + 1) * batch.seq];
        assert_eq!(
            ids,
            case.input_ids[row].as_slice(),
            "{name}: ids of {text:?}"
        );
        assert_eq!(
            mask,
            case.attention_mask[row].as_slice(),
            "{name}: mask of {text:?}"
        );
    }
}

#[test]
fn clip_bpe_ids_match_clip_tokenizer_fast() {
    check("clip_bpe");
}

#[test]
fn wordpiece_uncased_ids_match_bert_tokenizer_fast() {
    check("wordpiece_uncased");
}

#[test]
fn wordpiece_cased_ids_match_bert_tokenizer_fast() {
    check("wordpiece_cased");
}

#[test]
fn xlm_roberta_unigram_ids_match_xlm_roberta_tokenizer_fast() {
    check("xlmr_unigram");
}
