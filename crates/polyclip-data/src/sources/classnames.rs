//! ImageNet class names and prompt templates per language (datasets/classnames/<lang>.json, see its
//! ATTRIBUTION.md): the classifier half of a zero-shot ImageNet evaluation in pt, it, es, en, hi or xh.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::DataError;

/// The class names and templates of one language.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagenetClassnames {
    pub language: String,
    pub source: String,
    /// Position of every named class in ImageNet-1k's order (sorted WordNet ids).
    pub class_indices: Vec<usize>,
    pub classnames: Vec<String>,
    /// Prompt templates, `{}` standing for the class name.
    pub templates: Vec<String>,
}

impl ImagenetClassnames {
    /// The folder polyclip ships them in.
    pub fn shipped_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/classnames")
    }

    /// Reads `<dir>/<language>.json`; a language without a file names the ones there are.
    pub fn load(dir: &Path, language: &str) -> Result<Self, DataError> {
        let path = dir.join(format!("{language}.json"));
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                DataError::UnknownLanguage {
                    dataset: dir.to_owned(),
                    lang: language.to_owned(),
                    available: available_languages(dir).join(", "),
                }
            } else {
                DataError::io(&path, e)
            }
        })?;
        let names: Self = serde_json::from_str(&text).map_err(|e| DataError::Classnames {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if names.class_indices.len() != names.classnames.len()
            || names.templates.iter().any(|t| !t.contains("{}"))
        {
            return Err(DataError::Classnames {
                path,
                reason:
                    "class_indices and classnames differ in length, or a template has no `{}` slot"
                        .into(),
            });
        }
        Ok(names)
    }
}

fn available_languages(dir: &Path) -> Vec<String> {
    let mut languages: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.strip_suffix(".json").map(str::to_owned)
        })
        .collect();
    languages.sort();
    languages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_languages_load_with_their_class_counts() {
        let dir = ImagenetClassnames::shipped_dir();
        for (language, classes, first) in [
            ("en", 1000, "tench"),
            ("it", 1000, "una tinca"),
            ("pt", 1000, "tenca"),
            ("es", 845, "tenca"),
            ("hi", 342, "सुनहरी मछली (गोल्डफिश)"),
            ("xh", 35, "unomadudwane"),
        ] {
            let names = ImagenetClassnames::load(&dir, language).expect(language);
            assert_eq!(names.classnames.len(), classes, "{language}");
            assert_eq!(names.classnames[0], first, "{language}");
            assert!(
                names.class_indices.windows(2).all(|w| w[0] < w[1]),
                "{language}"
            );
            assert!(names.class_indices.iter().all(|&i| i < 1000), "{language}");
        }
    }

    #[test]
    fn an_unshipped_language_names_the_shipped_ones() {
        let error = ImagenetClassnames::load(&ImagenetClassnames::shipped_dir(), "zu")
            .expect_err("no Zulu file");
        let message = error.to_string();
        assert!(
            message.contains("zu") && message.contains("en, es, hi, it, pt, xh"),
            "{message}"
        );
    }
}
