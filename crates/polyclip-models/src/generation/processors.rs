//! What HF's logits processors do to one hypothesis's next-token scores, in HF's order: no repeated n-grams,
//! then the forced first token, then the forced last token.

use super::config::GenerationConfig;

/// Applies the configured processors to `scores` (one row, over the vocabulary) of a hypothesis whose tokens so
/// far are `tokens` (the decoder start token included).
pub fn process(config: &GenerationConfig, tokens: &[i64], scores: &mut [f32]) {
    if config.no_repeat_ngram_size > 0 {
        for banned in repeated_ngram_completions(tokens, config.no_repeat_ngram_size) {
            if let Some(score) = usize::try_from(banned).ok().and_then(|t| scores.get_mut(t)) {
                *score = f32::NEG_INFINITY;
            }
        }
    }
    let length = tokens.len();
    if let (1, Some(bos)) = (length, config.forced_bos_token_id) {
        force(scores, bos);
    }
    if let Some(eos) = config.forced_eos_token_id
        && length + 1 == config.max_length
    {
        force(scores, eos);
    }
}

/// Every score `-inf` but `token`'s, which becomes 0.
fn force(scores: &mut [f32], token: usize) {
    scores.fill(f32::NEG_INFINITY);
    if let Some(score) = scores.get_mut(token) {
        *score = 0.0;
    }
}

/// The tokens that would repeat an n-gram: those that followed an earlier occurrence of the last `n - 1`
/// tokens.
fn repeated_ngram_completions(tokens: &[i64], n: usize) -> Vec<i64> {
    if tokens.len() + 1 < n {
        return Vec::new();
    }
    let prefix = &tokens[tokens.len() + 1 - n..];
    tokens
        .windows(n)
        .filter(|window| &window[..n - 1] == prefix)
        .map(|window| window[n - 1])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bans_what_would_repeat_an_ngram() {
        // "1 2 3 ... 1 2" must not continue with 3 for trigrams.
        assert_eq!(repeated_ngram_completions(&[1, 2, 3, 4, 1, 2], 3), vec![3]);
        assert_eq!(repeated_ngram_completions(&[1, 2, 3, 1, 2], 2), vec![3]);
        assert!(repeated_ngram_completions(&[1, 2], 3).is_empty());
    }
}
