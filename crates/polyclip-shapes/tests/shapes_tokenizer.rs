//! The shipped tokenizer of the embedded dataset (datasets/shapes/tokenizer.json) is exactly what training a
//! BPE with the `tokenizers` crate on the dataset's corpus gives, and it covers every caption without `<unk>`.
//! `POLYCLIP_BLESS=1 cargo test -p polyclip-data --test shapes_tokenizer` rewrites the shipped file.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use polyclip_data::text::tokenizer_training::train_xlmr_style_bpe;
use polyclip_shapes::{shapes_tokenizer, tokenizer_corpus};

const SHIPPED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../datasets/shapes/tokenizer.json"
);
const VOCAB_SIZE: usize = 1000;

#[test]
fn shipped_tokenizer_is_reproducible_from_the_corpus() {
    let corpus = tokenizer_corpus();
    let trained = train_xlmr_style_bpe(&corpus, VOCAB_SIZE).expect("training");
    let json = trained.to_string(true).expect("serialise");
    if std::env::var_os("POLYCLIP_BLESS").is_some() {
        std::fs::write(SHIPPED, &json).expect("write the shipped tokenizer");
    }
    let shipped = std::fs::read_to_string(SHIPPED).expect("read the shipped tokenizer");
    assert!(
        json == shipped,
        "datasets/shapes/tokenizer.json differs from a fresh training run"
    );
}

#[test]
fn shipped_tokenizer_has_xlmr_specials_and_no_unknowns() {
    let tokenizer = shapes_tokenizer(64).expect("tokenizer");
    for (id, token) in ["<s>", "<pad>", "</s>", "<unk>"].iter().enumerate() {
        assert_eq!(tokenizer.token_id(token), Some(id as u32), "{token}");
    }
    let corpus = tokenizer_corpus();
    let mut longest = 0;
    for text in corpus.iter().step_by(7) {
        let ids = tokenizer.encode_one(text).expect("encode");
        assert_eq!(ids.first(), Some(&0), "{text}");
        assert_eq!(ids.last(), Some(&2), "{text}");
        assert!(!ids.contains(&3), "<unk> in {text:?}");
        longest = longest.max(ids.len());
    }
    assert!(
        longest <= 32,
        "longest caption has {longest} tokens; raise max_tokens"
    );
    // Truncation keeps the special tokens at both ends.
    let short = shapes_tokenizer(5).expect("tokenizer");
    let ids = short
        .encode_one(
            "dois pequenos círculos vermelhos à esquerda e uma grande estrela amarela à direita",
        )
        .expect("encode");
    assert_eq!(ids.len(), 5);
    assert_eq!((ids[0], ids[4]), (0, 2));
}
