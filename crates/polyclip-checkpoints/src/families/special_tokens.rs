//! A text tower's pad token, read the way transformers' `AutoTokenizer` reads it: `pad_token` in the tokenizer's
//! `tokenizer_config.json`, then in `special_tokens_map.json` (a string, or an `AddedToken` object with
//! `content`), then the model config's `pad_token_id` looked up in `tokenizer.json`. A family's convention (CLIP's
//! `<|endoftext|>`) is used only when none of them names one.

use std::path::Path;

use serde_json::Value;

/// The pad token from the tokenizer folders `dirs` (searched in order), the tokenizer file and the text config's
/// `pad_token_id`; `convention` when none names one.
pub fn pad_token(
    dirs: &[&Path],
    tokenizer: Option<&Path>,
    pad_token_id: Option<usize>,
    convention: &str,
) -> String {
    let named = dirs.iter().find_map(|dir| {
        ["tokenizer_config.json", "special_tokens_map.json"]
            .iter()
            .find_map(|file| token_named(&read(&dir.join(file))?, "pad_token"))
    });
    let by_id = || {
        let (id, path) = (pad_token_id?, tokenizer?);
        token_with_id(&read(path)?, id)
    };
    named
        .or_else(by_id)
        .unwrap_or_else(|| convention.to_owned())
}

fn read(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// `key` of a tokenizer config: a string, or an `AddedToken` object (`{"content": …}`).
fn token_named(config: &Value, key: &str) -> Option<String> {
    match config.get(key)? {
        Value::String(token) => Some(token.clone()),
        Value::Object(object) => object.get("content")?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// The token with `id` in a tokenizer.json: its added tokens, then the model's vocabulary (a map of token to id
/// for WordPiece/BPE, a list of `[token, score]` for Unigram).
fn token_with_id(tokenizer: &Value, id: usize) -> Option<String> {
    let added = tokenizer.get("added_tokens").and_then(Value::as_array);
    if let Some(token) = added.into_iter().flatten().find_map(|token| {
        (token.get("id")?.as_u64()? == id as u64)
            .then(|| token.get("content")?.as_str().map(str::to_owned))
            .flatten()
    }) {
        return Some(token);
    }
    match tokenizer.get("model")?.get("vocab")? {
        Value::Object(vocab) => vocab
            .iter()
            .find(|(_, value)| value.as_u64() == Some(id as u64))
            .map(|(token, _)| token.clone()),
        Value::Array(pieces) => pieces.get(id)?.get(0)?.as_str().map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tokenizer_config_names_the_pad_token_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("special_tokens_map.json"),
            r#"{"pad_token": {"content": "<pad>", "lstrip": false}}"#,
        )
        .expect("write");
        let found = pad_token(&[dir.path()], None, None, "<|endoftext|>");
        assert_eq!(found, "<pad>");
        std::fs::write(
            dir.path().join("tokenizer_config.json"),
            r#"{"pad_token": "[PAD]"}"#,
        )
        .expect("write");
        assert_eq!(
            pad_token(&[dir.path()], None, None, "<|endoftext|>"),
            "[PAD]"
        );
    }

    #[test]
    fn a_pad_token_id_is_looked_up_in_the_tokenizer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tokenizer = dir.path().join("tokenizer.json");
        std::fs::write(
            &tokenizer,
            r#"{"added_tokens": [{"id": 3, "content": "[SEP]"}], "model": {"vocab": {"[PAD]": 0, "a": 1}}}"#,
        )
        .expect("write");
        assert_eq!(
            pad_token(&[dir.path()], Some(&tokenizer), Some(0), "<pad>"),
            "[PAD]"
        );
        assert_eq!(
            pad_token(&[dir.path()], Some(&tokenizer), Some(3), "<pad>"),
            "[SEP]"
        );
        let fallback = pad_token(&[dir.path()], Some(&tokenizer), Some(9), "<pad>");
        assert_eq!(fallback, "<pad>");
    }
}
