//! mBART-50 tokenization equals MBart50TokenizerFast's: `[language] pieces </s>` for sources and targets in
//! several languages, truncation that keeps both special tokens, and decoding without special tokens
//! (tests/fixtures/make_captioner_fixtures.py wrote the reference).

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use polyclip_data::MBartTokenizer;
use serde::Deserialize;

#[derive(Deserialize)]
struct Cases {
    context: usize,
    lang_code_ids: std::collections::BTreeMap<String, u32>,
    vocab_size: usize,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    lang: String,
    text: String,
    source_ids: Vec<u32>,
    target_ids: Vec<u32>,
    decoded: String,
}

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tokenizers/mbart50")
}

#[test]
fn ids_and_decoding_match_mbart50_tokenizer_fast() {
    let cases: Cases = serde_json::from_str(
        &std::fs::read_to_string(fixture().join("cases.json")).expect("cases.json"),
    )
    .expect("cases");
    let tokenizer = MBartTokenizer::from_file(&fixture().join("tokenizer.json"), cases.context)
        .expect("tokenizer");
    assert_eq!(tokenizer.vocab_size(), cases.vocab_size);
    for (code, id) in &cases.lang_code_ids {
        assert_eq!(tokenizer.language_id(code).expect("code"), *id, "{code}");
    }
    assert_eq!(
        tokenizer.language_id("pt").expect("iso code"),
        cases.lang_code_ids["pt_XX"]
    );
    assert!(
        cases
            .cases
            .iter()
            .any(|c| c.source_ids.len() == cases.context),
        "a truncated case"
    );
    for case in &cases.cases {
        let ids = tokenizer.encode(&case.text, &case.lang).expect("encode");
        assert_eq!(ids, case.source_ids, "{:?} in {}", case.text, case.lang);
        // Targets are tokenized the same way, with the target language first.
        assert_eq!(ids, case.target_ids, "{:?}", case.text);
        let as_i64: Vec<i64> = ids.iter().map(|&id| id as i64).collect();
        assert_eq!(tokenizer.decode(&as_i64).expect("decode"), case.decoded);
    }
}

#[test]
fn an_unknown_language_names_the_ones_available() {
    let tokenizer =
        MBartTokenizer::from_file(&fixture().join("tokenizer.json"), 24).expect("tokenizer");
    let message = tokenizer
        .encode("hola", "xx_YY")
        .expect_err("unknown")
        .to_string();
    assert!(
        message.contains("xx_YY") && message.contains("pt_XX"),
        "{message}"
    );
}
