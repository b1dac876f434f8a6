//! Brace expansion of shard lists, as Python's `braceexpand` (what WebDataset and open_clip use) does it:
//! `shards/{00000..00165}.tar` (numeric ranges keep the zero padding of their bounds), `{a,b,c}` alternatives,
//! `{0..10..2}` steps, nested braces, several groups (`{a,b}-{1..3}`) expanded left to right.

/// Why a pattern cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BraceError {
    #[error("`{pattern}`: `{{` at byte {at} is never closed")]
    Unclosed { pattern: String, at: usize },
    #[error("`{pattern}`: `}}` at byte {at} closes nothing")]
    Unopened { pattern: String, at: usize },
    #[error("`{pattern}`: the range `{range}` would expand to {count} names (at most {MAX_NAMES})")]
    TooMany {
        pattern: String,
        range: String,
        count: u128,
    },
}

/// The most names one pattern may expand to (a typo such as `{0..99999999}` fails instead of filling memory).
pub const MAX_NAMES: u128 = 1_000_000;

/// Every name the pattern stands for, in order. A brace group without a top-level `,` or a valid `..` range is
/// kept literally (as `braceexpand` does).
pub fn expand_braces(pattern: &str) -> Result<Vec<String>, BraceError> {
    check_balanced(pattern)?;
    let mut names = Vec::new();
    expand_into(pattern, pattern, &mut names)?;
    Ok(names)
}

fn check_balanced(pattern: &str) -> Result<(), BraceError> {
    let mut open = Vec::new();
    for (at, byte) in pattern.bytes().enumerate() {
        match byte {
            b'{' => open.push(at),
            b'}' if open.pop().is_none() => {
                return Err(BraceError::Unopened {
                    pattern: pattern.to_owned(),
                    at,
                });
            }
            _ => {}
        }
    }
    match open.first() {
        Some(&at) => Err(BraceError::Unclosed {
            pattern: pattern.to_owned(),
            at,
        }),
        None => Ok(()),
    }
}

/// Expands the first expandable group of `text` and recurses on each result.
fn expand_into(whole: &str, text: &str, out: &mut Vec<String>) -> Result<(), BraceError> {
    let mut search_from = 0;
    while let Some(open) = text[search_from..].find('{').map(|i| i + search_from) {
        let close = matching_close(text, open);
        let inner = &text[open + 1..close];
        let (prefix, suffix) = (&text[..open], &text[close + 1..]);
        let alternatives = match split_top_level(inner) {
            parts if parts.len() > 1 => parts.into_iter().map(str::to_owned).collect(),
            _ => match range(whole, inner)? {
                Some(items) => items,
                None => {
                    // Not expandable: keep the braces, look for a group inside or after it.
                    search_from = open + 1;
                    continue;
                }
            },
        };
        if (out.len() as u128) + alternatives.len() as u128 > MAX_NAMES {
            return Err(BraceError::TooMany {
                pattern: whole.to_owned(),
                range: inner.to_owned(),
                count: out.len() as u128 + alternatives.len() as u128,
            });
        }
        for alternative in alternatives {
            expand_into(whole, &format!("{prefix}{alternative}{suffix}"), out)?;
            if out.len() as u128 > MAX_NAMES {
                return Err(BraceError::TooMany {
                    pattern: whole.to_owned(),
                    range: inner.to_owned(),
                    count: out.len() as u128,
                });
            }
        }
        return Ok(());
    }
    out.push(text.to_owned());
    Ok(())
}

/// The byte index of the `}` closing the `{` at `open` (the pattern is balanced).
fn matching_close(text: &str, open: usize) -> usize {
    let mut depth = 0usize;
    for (index, byte) in text.bytes().enumerate().skip(open) {
        match byte {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return index;
                }
            }
            _ => {}
        }
    }
    text.len() - 1
}

/// `inner` split at the commas outside nested braces.
fn split_top_level(inner: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (index, byte) in inner.bytes().enumerate() {
        match byte {
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                parts.push(&inner[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
}

/// `a..b[..step]` with integer bounds (padded to the wider bound when either starts with `0`), or `None`.
fn range(whole: &str, inner: &str) -> Result<Option<Vec<String>>, BraceError> {
    let parts: Vec<&str> = inner.split("..").collect();
    if !(2..=3).contains(&parts.len()) {
        return Ok(None);
    }
    let parse = |text: &str| -> Option<i128> {
        let digits = text.strip_prefix('-').unwrap_or(text);
        if digits.is_empty() || digits.len() > 30 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok()
    };
    let (Some(start), Some(end)) = (parse(parts[0]), parse(parts[1])) else {
        return Ok(None);
    };
    let step = match parts.get(2) {
        Some(text) => match parse(text) {
            Some(step) => step.unsigned_abs().max(1),
            None => return Ok(None),
        },
        None => 1,
    };
    let count = start.abs_diff(end) / step + 1;
    if count > MAX_NAMES {
        return Err(BraceError::TooMany {
            pattern: whole.to_owned(),
            range: inner.to_owned(),
            count,
        });
    }
    let padded = |text: &str| {
        let digits = text.strip_prefix('-').unwrap_or(text);
        digits.len() > 1 && digits.starts_with('0')
    };
    let width = if padded(parts[0]) || padded(parts[1]) {
        parts[0].len().max(parts[1].len())
    } else {
        0
    };
    let signed_step = if start <= end {
        step as i128
    } else {
        -(step as i128)
    };
    Ok(Some(
        (0..count as i128)
            .map(|i| format!("{:0width$}", start + i * signed_step))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(pattern: &str) -> Vec<String> {
        expand_braces(pattern).expect("expands")
    }

    #[test]
    fn expands_like_braceexpand() {
        assert_eq!(
            expand("shards/{00000..00003}.tar"),
            [
                "shards/00000.tar",
                "shards/00001.tar",
                "shards/00002.tar",
                "shards/00003.tar"
            ]
        );
        assert_eq!(expand("{8..11}"), ["8", "9", "10", "11"]);
        assert_eq!(expand("{08..11}"), ["08", "09", "10", "11"]);
        assert_eq!(expand("{3..1}"), ["3", "2", "1"]);
        assert_eq!(expand("{0..6..3}"), ["0", "3", "6"]);
        assert_eq!(expand("{a,b}-{1..2}"), ["a-1", "a-2", "b-1", "b-2"]);
        assert_eq!(expand("x{a,{b,c}d}"), ["xa", "xbd", "xcd"]);
        assert_eq!(expand("plain.tar"), ["plain.tar"]);
        assert_eq!(expand("{lit}{1..2}"), ["{lit}1", "{lit}2"]);
        assert_eq!(expand("{}"), ["{}"]);
    }

    #[test]
    fn unbalanced_and_huge_patterns_are_errors() {
        assert_eq!(
            expand_braces("shards/{0..3.tar").unwrap_err().to_string(),
            "`shards/{0..3.tar`: `{` at byte 7 is never closed"
        );
        assert!(matches!(
            expand_braces("a}b"),
            Err(BraceError::Unopened { at: 1, .. })
        ));
        assert!(matches!(
            expand_braces("{0..99999999}"),
            Err(BraceError::TooMany { .. })
        ));
        assert!(matches!(
            expand_braces("{0..999}{0..999}{0..9}"),
            Err(BraceError::TooMany { .. })
        ));
    }
}
