//! Image–caption manifests. JSONL (any extension but the two below): one JSON object per line with an image
//! path (relative to the manifest's folder or absolute), a list of captions and an optional language.
//!
//! ```json
//! {"image": "images/000001.png", "captions": ["dois círculos vermelhos", "…"], "lang": "pt"}
//! ```
//!
//! `image_path` is accepted for `image` (clip-italian's key), and CAPIVARA's per-language keys (`captions-pt`,
//! `generated-captions-pt`, `similarities-pt`) for the plain ones (see [`CaptionRecord`]). `.tsv` / `.csv`: a header row naming the columns
//! `image_file`, `caption` and optionally `lang_id` (CLIP-Vision-mBART50's format), then one caption per row;
//! fields may be double-quoted with `""` for a quote. Every problem is reported with the manifest's path and
//! 1-based line number; with [`BadInputPolicy::Skip`] bad lines are counted and skipped instead.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::sources::caption_record::{CaptionRecord, RecordError};
use crate::sources::image_source::ImageSource;

/// One usable manifest line.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestEntry {
    /// The image: a resolved file path, or a tar member of a shard.
    pub image: ImageSource,
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

/// How to read a data path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadOptions {
    pub policy: BadInputPolicy,
    /// The captions' language, for records that hold several (CAPIVARA's `captions-pt`, `captions-en`).
    pub language: Option<String>,
}

impl ReadOptions {
    pub fn new(policy: BadInputPolicy, language: Option<&str>) -> Self {
        Self {
            policy,
            language: language.map(str::to_owned),
        }
    }
}

/// A loaded manifest.
#[derive(Debug)]
pub struct Manifest {
    pub path: PathBuf,
    pub entries: Vec<ManifestEntry>,
    /// Problems met and skipped under [`BadInputPolicy::Skip`].
    pub skipped: Vec<DataError>,
}

/// A parsed line: the image path as written and its captions.
struct RawLine {
    image: PathBuf,
    record: CaptionRecord,
}

impl Manifest {
    /// Reads and checks a manifest: a record per line, non-empty captions, the image exists and its header
    /// decodes.
    pub fn load(path: &Path, policy: BadInputPolicy) -> Result<Self, DataError> {
        Self::read(path, &ReadOptions::new(policy, None))
    }

    /// [`load`](Self::load) with a caption language.
    pub fn read(path: &Path, options: &ReadOptions) -> Result<Self, DataError> {
        let policy = options.policy;
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
                None => parse_json_line(path, line, raw, options.language.as_deref()),
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

fn parse_json_line(
    path: &Path,
    line: usize,
    raw: &str,
    language: Option<&str>,
) -> Result<RawLine, DataError> {
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|source| DataError::ManifestJson {
            path: path.to_owned(),
            line,
            source,
        })?;
    let row = |reason: String| DataError::ManifestRow {
        path: path.to_owned(),
        line,
        reason,
    };
    let object = value
        .as_object()
        .ok_or_else(|| row("not a JSON object".into()))?;
    let image = match object.get("image").or_else(|| object.get("image_path")) {
        Some(serde_json::Value::String(image)) => PathBuf::from(image),
        Some(_) => return Err(row("`image` must be a string".into())),
        None => {
            return Err(row(RecordError::MissingKey {
                wanted: "image".into(),
                found: object.keys().cloned().collect::<Vec<_>>().join(", "),
            }
            .to_string()));
        }
    };
    let record = CaptionRecord::from_json(object, language).map_err(|e| row(e.to_string()))?;
    Ok(RawLine { image, record })
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
            record: CaptionRecord {
                captions: vec![fields[self.caption].clone()],
                lang: self
                    .lang
                    .map(|column| fields[column].trim().to_owned())
                    .filter(|lang| !lang.is_empty()),
                ..CaptionRecord::default()
            },
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

/// Checks a parsed line: non-empty captions, an image that exists and whose header decodes.
fn check(
    path: &Path,
    root: &Path,
    line: usize,
    parsed: RawLine,
) -> Result<ManifestEntry, DataError> {
    let row = |reason: String| DataError::ManifestRow {
        path: path.to_owned(),
        line,
        reason,
    };
    let image = ImageSource::File(root.join(&parsed.image));
    let entry = entry_from_record(parsed.record, image.clone(), line).map_err(|e| match e {
        EntryError::NoCaptions => DataError::EmptyCaptions {
            path: path.to_owned(),
            line,
        },
        other => row(other.to_string()),
    })?;
    image.check(path, line)?;
    Ok(entry)
}

/// Why a record makes no entry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EntryError {
    #[error(
        "{similarities} similarities for {total} captions ({originals} original + {generated} generated)"
    )]
    SimilarityCount {
        similarities: usize,
        total: usize,
        originals: usize,
        generated: usize,
    },
    #[error("empty caption list")]
    NoCaptions,
}

/// A record's captions as an entry: captions trimmed, empty ones dropped with their similarity. CAPIVARA's scored
/// shards store the generated captions twice (appended to `captions-pt`, which `similarities-pt` follows, and in
/// `generated-captions-pt`): such originals lose the appended copy.
pub fn entry_from_record(
    mut record: CaptionRecord,
    image: ImageSource,
    line: usize,
) -> Result<ManifestEntry, EntryError> {
    let generated = record.generated_captions.len();
    if generated > 0
        && record.captions.len() > generated
        && record.captions.ends_with(&record.generated_captions)
        && record.similarities.len() == record.captions.len()
    {
        record.captions.truncate(record.captions.len() - generated);
    }
    let originals = record.captions.len();
    let total = originals + generated;
    if !record.similarities.is_empty() && record.similarities.len() != total {
        return Err(EntryError::SimilarityCount {
            similarities: record.similarities.len(),
            total,
            originals,
            generated,
        });
    }
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
                if let Some(&similarity) = record.similarities.get(offset + index) {
                    similarities.push(similarity);
                }
                Some(caption)
            })
            .collect()
    };
    let captions = kept(record.captions, 0);
    let generated_captions = kept(record.generated_captions, originals);
    if captions.is_empty() {
        return Err(EntryError::NoCaptions);
    }
    Ok(ManifestEntry {
        image,
        captions,
        generated_captions,
        similarities,
        lang: record.lang,
        line,
    })
}
