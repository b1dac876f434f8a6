//! NLTK's word tokenizer (`NLTKWordTokenizer`, the improved Treebank tokenizer that `nltk.word_tokenize` runs on
//! each sentence), rule for rule, for caption metrics: the methods tokenize hypotheses and references with it
//! before BLEU. Captions are single sentences, so Punkt's sentence splitting is not reproduced.

use std::sync::OnceLock;

use fancy_regex::Regex;

/// The rules in NLTK's order: (pattern, replacement).
const RULES: &[(&str, &str)] = &[
    // Starting quotes.
    (r"([«“‘„]|[`]+)", " ${1} "),
    (r#"^""#, "``"),
    (r"(``)", " ${1} "),
    (r#"([ \(\[{<])("|'{2})"#, "${1} `` "),
    (r"(?i)(?<!\w)(')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)", "${1} "),
    // Punctuation.
    (r#"([^\.])(\.)([\]\)}>"'»”’ ]*+)\s*$"#, "${1} ${2} ${3} "),
    (r"([:,])([^\d])", " ${1} ${2}"),
    (r"([:,])$", " ${1} "),
    (r"\.{2,}", " ${0} "),
    (r"[;@#$%&]", " ${0} "),
    (r"[\x{2012}-\x{2015}]", " ${0} "),
    (r#"([^\.])(\.)([\]\)}>"']*)\s*$"#, "${1} ${2}${3} "),
    (r"[?!]", " ${0} "),
    (r"([^'])' ", "${1} ' "),
    (r"[*]", " ${0} "),
    // Parentheses and brackets, double dashes.
    (r"[\]\[\(\)\{\}<>]", " ${0} "),
    (r"--", " -- "),
];

/// Applied after the text is padded with a space on each side.
const ENDING_RULES: &[(&str, &str)] = &[
    (r"([»”’])", " ${1} "),
    (r"''", " '' "),
    (r#"""#, " '' "),
    (r"\s+", " "),
    (r"([^' ])('[sS]|'[mM]|'[dD]|') ", "${1} ${2} "),
    (r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", "${1} ${2} "),
    // MacIntyre's contractions.
    (r"(?i)\b(can)(not)\b", " ${1} ${2} "),
    (r"(?i)\b(d)('ye)\b", " ${1} ${2} "),
    (r"(?i)\b(gim)(me)\b", " ${1} ${2} "),
    (r"(?i)\b(gon)(na)\b", " ${1} ${2} "),
    (r"(?i)\b(got)(ta)\b", " ${1} ${2} "),
    (r"(?i)\b(lem)(me)\b", " ${1} ${2} "),
    (r"(?i)\b(more)('n)\b", " ${1} ${2} "),
    (r"(?i)\b(wan)(na)(?=\s)", " ${1} ${2} "),
    (r"(?i) ('t)(is)\b", " ${1} ${2} "),
    (r"(?i) ('t)(was)\b", " ${1} ${2} "),
];

/// Compiled rules with their replacements.
type Compiled = Vec<(Regex, &'static str)>;

fn compiled(rules: &'static [(&'static str, &'static str)]) -> Compiled {
    rules
        .iter()
        .filter_map(|(pattern, replacement)| Regex::new(pattern).ok().map(|re| (re, *replacement)))
        .collect()
}

fn rules() -> &'static (Compiled, Compiled) {
    static RULES_COMPILED: OnceLock<(Compiled, Compiled)> = OnceLock::new();
    RULES_COMPILED.get_or_init(|| (compiled(RULES), compiled(ENDING_RULES)))
}

fn apply(text: String, rules: &[(Regex, &str)]) -> String {
    rules.iter().fold(text, |text, (regex, replacement)| {
        regex.replace_all(&text, *replacement).into_owned()
    })
}

/// The word tokens of one sentence.
pub fn word_tokenize(sentence: &str) -> Vec<String> {
    let (rules, ending) = rules();
    let text = apply(sentence.to_owned(), rules);
    let text = apply(format!(" {text} "), ending);
    text.split_whitespace().map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_compiles() {
        assert_eq!(rules().0.len(), RULES.len());
        assert_eq!(rules().1.len(), ENDING_RULES.len());
    }

    #[test]
    fn nltk_docstring_example() {
        let tokens = word_tokenize(
            "Good muffins cost $3.88 (roughly 3,36 euros)\nin New York.  Please buy me\ntwo of them.\nThanks.",
        );
        let expected = [
            "Good", "muffins", "cost", "$", "3.88", "(", "roughly", "3,36", "euros", ")", "in",
            "New", "York.", "Please", "buy", "me", "two", "of", "them.", "Thanks", ".",
        ];
        assert_eq!(tokens, expected);
        assert_eq!(
            word_tokenize("I can't, he said: \"don't\"!"),
            [
                "I", "ca", "n't", ",", "he", "said", ":", "``", "do", "n't", "''", "!"
            ]
        );
    }
}
