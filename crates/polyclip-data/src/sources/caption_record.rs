//! The captions of one JSON record, in either schema polyclip reads:
//!
//! - plain: `captions`, `generated_captions`, `similarities`, `lang` (polyclip's manifests, clip-italian's JSONL);
//! - CAPIVARA's WebDataset JSON: `captions-<lang>`, `generated-captions-<lang>`, `similarities-<lang>` for the
//!   language asked for (`captions-pt`, `generated-captions-pt`, `similarities-pt`), other languages' keys
//!   ignored (`captions-en`, `generated-captions-en`).
//!
//! A caption value may be one string or a list of strings. `similarities` hold one value per caption, originals
//! then generated.

use serde_json::{Map, Value};

/// The captions of a record in one language.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CaptionRecord {
    pub captions: Vec<String>,
    pub generated_captions: Vec<String>,
    pub similarities: Vec<f32>,
    pub lang: Option<String>,
}

/// Why a record has no usable captions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("no `{wanted}` key (the record has: {found})")]
    MissingKey { wanted: String, found: String },
    #[error("`{key}` must be {expected}")]
    WrongType { key: String, expected: &'static str },
    #[error(
        "captions in several languages ({found}) and no language chosen: name one (e.g. --lang pt)"
    )]
    AmbiguousLanguage { found: String },
}

impl CaptionRecord {
    /// The record's captions in `language` (or its only language, or the plain schema's).
    pub fn from_json(
        record: &Map<String, Value>,
        language: Option<&str>,
    ) -> Result<Self, RecordError> {
        let dashed: Vec<&str> = record
            .keys()
            .filter_map(|key| key.strip_prefix("captions-"))
            .collect();
        let lang = match language {
            Some(lang) if record.contains_key(&format!("captions-{lang}")) => Some(lang.to_owned()),
            Some(lang) if !record.contains_key("captions") => {
                return Err(RecordError::MissingKey {
                    wanted: format!("captions-{lang}"),
                    found: key_list(record),
                });
            }
            Some(_) => None,
            None if record.contains_key("captions") => None,
            None => match dashed.as_slice() {
                [only] => Some((*only).to_owned()),
                [] => {
                    return Err(RecordError::MissingKey {
                        wanted: "captions".into(),
                        found: key_list(record),
                    });
                }
                several => {
                    return Err(RecordError::AmbiguousLanguage {
                        found: several.join(", "),
                    });
                }
            },
        };
        let (captions, generated, similarities) = match &lang {
            Some(lang) => (
                format!("captions-{lang}"),
                format!("generated-captions-{lang}"),
                format!("similarities-{lang}"),
            ),
            None => (
                "captions".to_owned(),
                "generated_captions".to_owned(),
                "similarities".to_owned(),
            ),
        };
        let declared = match record.get("lang") {
            None | Some(Value::Null) => None,
            Some(Value::String(lang)) => Some(lang.clone()),
            Some(_) => {
                return Err(RecordError::WrongType {
                    key: "lang".into(),
                    expected: "a string",
                });
            }
        };
        Ok(Self {
            captions: strings(record, &captions)?.ok_or_else(|| RecordError::MissingKey {
                wanted: captions.clone(),
                found: key_list(record),
            })?,
            generated_captions: strings(record, &generated)?.unwrap_or_default(),
            similarities: numbers(record, &similarities)?,
            lang: lang.or(declared).or_else(|| language.map(str::to_owned)),
        })
    }
}

fn key_list(record: &Map<String, Value>) -> String {
    if record.is_empty() {
        return "no keys".into();
    }
    record.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// A string or a list of strings.
fn strings(record: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, RecordError> {
    let wrong = || RecordError::WrongType {
        key: key.to_owned(),
        expected: "a string or a list of strings",
    };
    match record.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(vec![text.clone()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(wrong))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(wrong()),
    }
}

/// A list of numbers (absent: empty).
fn numbers(record: &Map<String, Value>, key: &str) -> Result<Vec<f32>, RecordError> {
    let wrong = || RecordError::WrongType {
        key: key.to_owned(),
        expected: "a list of numbers",
    };
    match record.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_f64().map(|v| v as f32).ok_or_else(wrong))
            .collect(),
        Some(_) => Err(wrong()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn capivara_keys_are_read_for_the_language_asked_for() {
        let capivara = record(json!({
            "captions-en": ["a dog"], "captions-pt": ["um cão", "um cachorro"],
            "generated-captions-en": ["a brown dog"], "generated-captions-pt": ["um cão marrom"],
            "similarities-pt": [0.3, 0.2, 0.25],
        }));
        let pt = CaptionRecord::from_json(&capivara, Some("pt")).expect("pt");
        assert_eq!(pt.captions, ["um cão", "um cachorro"]);
        assert_eq!(pt.generated_captions, ["um cão marrom"]);
        assert_eq!(pt.similarities, [0.3, 0.2, 0.25]);
        assert_eq!(pt.lang.as_deref(), Some("pt"));
        let en = CaptionRecord::from_json(&capivara, Some("en")).expect("en");
        assert_eq!(en.captions, ["a dog"]);
        assert!(en.similarities.is_empty());
        assert_eq!(
            CaptionRecord::from_json(&capivara, Some("xh"))
                .unwrap_err()
                .to_string(),
            "no `captions-xh` key (the record has: captions-en, captions-pt, generated-captions-en, \
             generated-captions-pt, similarities-pt)"
        );
        assert!(matches!(
            CaptionRecord::from_json(&capivara, None),
            Err(RecordError::AmbiguousLanguage { .. })
        ));
    }

    #[test]
    fn plain_records_and_single_strings() {
        let plain = record(json!({"captions": "un gatto", "lang": "it"}));
        let read = CaptionRecord::from_json(&plain, None).expect("plain");
        assert_eq!(read.captions, ["un gatto"]);
        assert_eq!(read.lang.as_deref(), Some("it"));
        let wrong = record(json!({"captions": [1, 2]}));
        assert_eq!(
            CaptionRecord::from_json(&wrong, None)
                .unwrap_err()
                .to_string(),
            "`captions` must be a string or a list of strings"
        );
    }
}
