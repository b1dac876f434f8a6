//! Image–caption manifests. JSONL (any extension but the two below): one JSON object per line with an image
//! path (relative to the manifest's folder or absolute), a list of captions and an optional language.
//!
//! ```json
//! {"image": "images/000001.png", "captions": ["dois círculos vermelhos", "…"], "lang": "pt"}
//! ```
//!
//! `image_path` is accepted for `image` (clip-italian's key). `.tsv` / `.csv`: a header row naming the columns
//! `image_file`, `caption` and optionally `lang_id` (the captioner seed's format), then one caption per row;
//! fields may be double-quoted with `""` for a quote. Every problem is reported with the manifest's path and
//! 1-based line number; with [`BadInputPolicy::Skip`] bad lines are counted and skipped instead.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::DataError;

/// One usable manifest line.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestEntry {
    /// Resolved image path.
    pub image: PathBuf,
    /// Original captions.
    pub captions: Vec<String>,
    /// Synthetic captions (a captioner's, or translations; CAPIVARA's `generated-captions-pt`).
    pub generated_captions: Vec<String>,
    /// One image–text similarity per caption, originals then generated (CAPIVARA's `similarities-pt`), when the
    /// line has them: what `filter-by-ranking` ranks by.
    pub similarities: Vec<f32>,
    pub lang: Option<String>,
    /// 1-based line in the manifest, for error messages.
    pub line: usize,
}

/// What to do with a bad line or image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadInputPolicy {
    /// Stop at the first problem with an error naming the file and line.
    #[default]
    Fail,
    /// Count and skip problems (reported at the end by the caller).
    Skip,
}

/// A loaded manifest.
#[derive(Debug)]
pub struct Manifest {
    pub path: PathBuf,
    pub entries: Vec<ManifestEntry>,
    /// Problems met and skipped under [`BadInputPolicy::Skip`].
    pub skipped: Vec<DataError>,
}

#[derive(Deserialize)]
struct RawLine {
    #[serde(alias = "image_path")]
    image: PathBuf,
    captions: Vec<String>,
    #[serde(default)]
    generated_captions: Vec<String>,
    #[serde(default)]
    similarities: Vec<f32>,
    #[serde(default)]
    lang: Option<String>,
}

impl Manifest {
    /// Reads and checks a manifest: a record per line, non-empty captions, the image exists and its header
    /// decodes.
    pub fn load(path: &Path, policy: BadInputPolicy) -> Result<Self, DataError> {
        let text = fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        let root = path.parent().unwrap_or(Path::new("."));
        let separator = match path.extension().and_then(|e| e.to_str()) {
            Some("tsv") => Some('\t'),
            Some("csv") => Some(','),
            _ => None,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(index, raw)| (index + 1, raw))
            .filter(|(_, raw)| !raw.trim().is_empty());
        let columns = match separator {
            Some(separator) => Some(Columns::from_header(path, separator, lines.next())?),
            None => None,
        };
        let mut entries = Vec::new();
        let mut skipped = Vec::new();
        for (line, raw) in lines {
            let parsed = match &columns {
                Some(columns) => columns.parse(path, line, raw),
                None => parse_json_line(path, line, raw),
            };
            match parsed.and_then(|record| check(path, root, line, record)) {
                Ok(entry) => entries.push(entry),
                Err(error) if policy == BadInputPolicy::Skip => skipped.push(error),
                Err(error) => return Err(error),
            }
        }
        if entries.is_empty() {
            return Err(DataError::EmptyManifest {
                path: path.to_owned(),
            });
        }
        Ok(Self {
            path: path.to_owned(),
            entries,
            skipped,
        })
    }
}

fn parse_json_line(path: &Path, line: usize, raw: &str) -> Result<RawLine, DataError> {
    serde_json::from_str(raw).map_err(|source| DataError::ManifestJson {
        path: path.to_owned(),
        line,
        source,
    })
}

/// Where a delimited manifest keeps its fields.
struct Columns {
    separator: char,
    image: usize,
    caption: usize,
    lang: Option<usize>,
    count: usize,
}

impl Columns {
    fn from_header(
        path: &Path,
        separator: char,
        header: Option<(usize, &str)>,
    ) -> Result<Self, DataError> {
        let (line, raw) = header.ok_or_else(|| DataError::EmptyManifest {
            path: path.to_owned(),
        })?;
        let names = split_fields(raw, separator).map_err(|reason| DataError::ManifestRow {
            path: path.to_owned(),
            line,
            reason,
        })?;
        let find = |wanted: &[&str]| names.iter().position(|n| wanted.contains(&n.trim()));
        let missing = |column: &str| DataError::ManifestRow {
            path: path.to_owned(),
            line,
            reason: format!(
                "the header has no `{column}` column (found: {}); expected image_file, caption[, lang_id]",
                names.join(", ")
            ),
        };
        Ok(Self {
            separator,
            image: find(&["image_file", "image", "image_path"])
                .ok_or_else(|| missing("image_file"))?,
            caption: find(&["caption", "text"]).ok_or_else(|| missing("caption"))?,
            lang: find(&["lang_id", "lang", "language"]),
            count: names.len(),
        })
    }

    fn parse(&self, path: &Path, line: usize, raw: &str) -> Result<RawLine, DataError> {
        let row = |reason: String| DataError::ManifestRow {
            path: path.to_owned(),
            line,
            reason,
        };
        let fields = split_fields(raw, self.separator).map_err(row)?;
        if fields.len() != self.count {
            return Err(row(format!(
                "{} fields where the header has {}",
                fields.len(),
                self.count
            )));
        }
        Ok(RawLine {
            image: PathBuf::from(&fields[self.image]),
            captions: vec![fields[self.caption].clone()],
            generated_captions: Vec::new(),
            similarities: Vec::new(),
            lang: self
                .lang
                .map(|column| fields[column].trim().to_owned())
                .filter(|lang| !lang.is_empty()),
        })
    }
}

/// The fields of one delimited line; a field may be double-quoted, with `""` for a quote inside.
fn split_fields(raw: &str, separator: char) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = raw.trim_end_matches('\r').chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field is not closed".into()),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(c) if c == separator => {}
                Some(c) => return Err(format!("`{c}` after a closing quote")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(c) if c == separator => break,
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

/// Checks a parsed record: non-empty captions, an image that exists and whose header decodes.
fn check(
    path: &Path,
    root: &Path,
    line: usize,
    parsed: RawLine,
) -> Result<ManifestEntry, DataError> {
    let originals = parsed.captions.len();
    let total = originals + parsed.generated_captions.len();
    if !parsed.similarities.is_empty() && parsed.similarities.len() != total {
        return Err(DataError::ManifestRow {
            path: path.to_owned(),
            line,
            reason: format!(
                "{} similarities for {total} captions ({originals} original + {} generated)",
                parsed.similarities.len(),
                total - originals
            ),
        });
    }
    // Empty captions are dropped together with their similarity.
    let mut similarities = Vec::new();
    let mut kept = |captions: Vec<String>, offset: usize| -> Vec<String> {
        captions
            .into_iter()
            .enumerate()
            .filter_map(|(index, caption)| {
                let caption = caption.trim().to_owned();
                if caption.is_empty() {
                    return None;
                }
                if let Some(&similarity) = parsed.similarities.get(offset + index) {
                    similarities.push(similarity);
                }
                Some(caption)
            })
            .collect()
    };
    let captions = kept(parsed.captions, 0);
    let generated_captions = kept(parsed.generated_captions, originals);
    if captions.is_empty() {
        return Err(DataError::EmptyCaptions {
            path: path.to_owned(),
            line,
        });
    }
    let image = root.join(&parsed.image);
    if !image.is_file() {
        return Err(DataError::MissingImage {
            path: path.to_owned(),
            line,
            image,
        });
    }
    let header = image::ImageReader::open(&image)
        .and_then(|reader| reader.with_guessed_format())
        .map_err(image::ImageError::IoError)
        .and_then(|reader| reader.into_dimensions());
    if let Err(source) = header {
        return Err(DataError::CorruptImage {
            path: path.to_owned(),
            line,
            image,
            source: Box::new(source),
        });
    }
    Ok(ManifestEntry {
        image,
        captions,
        generated_captions,
        similarities,
        lang: parsed.lang,
        line,
    })
}
