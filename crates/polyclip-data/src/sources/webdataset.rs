//! WebDataset tar shards (CAPIVARA's CC3M/CC12M training data, LAION-style sets).
//!
//! A shard is a plain tar; consecutive members that share a key form a sample, the key being the member's path
//! up to the first dot of its file name (`00017/000123.jpg` + `00017/000123.json` → sample `00017/000123` with
//! members `jpg` and `json`). A sample's image is its `jpg`, `jpeg`, `png`, `webp` or `gif` member (in that order of
//! preference, in any case); its captions come from the
//! `json` member ([`CaptionRecord`]: CAPIVARA's `captions-pt`… or plain `captions`) or else a `txt` member.
//!
//! Two ways to read shards:
//! - [`index_shards`]: one pass over the tar headers (image bytes are skipped with a seek) into a [`Manifest`]
//!   whose images are read by offset when a batch needs them. Random access is what the deterministic,
//!   exactly-resumable [`DataLoader`](crate::DataLoader) needs; this is what training and evaluation use.
//! - [`ShardStream`]: a single sequential pass with a seeded shuffle buffer (WebDataset's `shuffle(n)`), for
//!   pipelines that read each sample once (`polyclip prepare`, the throughput benchmark).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

use crate::error::DataError;
use crate::preprocess::is_image_extension;
use crate::sources::braces::expand_braces;
use crate::sources::caption_record::CaptionRecord;
use crate::sources::image_source::ImageSource;
use crate::sources::manifest::{BadInputPolicy, Manifest, ManifestEntry, ReadOptions};

/// Image member extensions, in order of preference (the formats polyclip decodes), compared without case.
pub const IMAGE_MEMBERS: [&str; 5] = crate::preprocess::IMAGE_EXTENSIONS;

/// Whether a data path names tar shards (`….tar`, possibly with braces or several `::`-separated patterns).
pub fn is_shard_spec(spec: &str) -> bool {
    spec.split("::")
        .any(|part| part.trim_end().ends_with(".tar"))
}

/// The shards a spec names: `::`-separated brace patterns, relative to `base` unless absolute.
pub fn shard_list(spec: &str, base: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut shards = Vec::new();
    for pattern in spec.split("::").map(str::trim).filter(|p| !p.is_empty()) {
        let names = expand_braces(pattern).map_err(|e| DataError::ShardSpec {
            spec: spec.to_owned(),
            reason: e.to_string(),
        })?;
        shards.extend(names.into_iter().map(|name| base.join(name)));
    }
    if shards.is_empty() {
        return Err(DataError::ShardSpec {
            spec: spec.to_owned(),
            reason: "names no shard".into(),
        });
    }
    Ok(shards)
}

/// One member of a sample as the reader met it.
struct Member {
    extension: String,
    offset: u64,
    len: u64,
    /// The content: always for text members (`json`, `txt`, `cls`), for images only when streaming.
    bytes: Option<Vec<u8>>,
}

/// The members of one sample.
struct RawSample {
    key: String,
    members: Vec<Member>,
}

/// `dir/name.ext.more` → (`dir/name`, `ext.more`).
fn split_key(path: &str) -> (String, String) {
    let file_start = path.rfind('/').map_or(0, |i| i + 1);
    match path[file_start..].find('.') {
        Some(dot) => (
            path[..file_start + dot].to_owned(),
            path[file_start + dot + 1..].to_lowercase(),
        ),
        None => (path.to_owned(), String::new()),
    }
}

fn is_text_member(extension: &str) -> bool {
    matches!(extension, "json" | "txt" | "cls")
}

impl RawSample {
    /// Whether the sample has what a training example needs (an image and a caption member), so that it can
    /// be handed on when the shard is damaged after it.
    fn looks_complete(&self) -> bool {
        let has = |is: &dyn Fn(&str) -> bool| self.members.iter().any(|m| is(&m.extension));
        has(&is_image_extension) && has(&|e| matches!(e, "json" | "txt"))
    }
}

/// Reads the samples of one shard in order, reading text members and recording where images are. With
/// `keep_images`, image bytes are read too (streaming); otherwise they are skipped. When the shard is damaged
/// (cut short, an unreadable header), the samples before the damage are still visited — the pending one too when
/// the damage is not in one of its members and it has an image and a caption — and then the damage is reported.
fn read_shard(
    shard: &Path,
    keep_images: bool,
    mut visit: impl FnMut(RawSample) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let mut current: Option<RawSample> = None;
    let read = read_members(shard, keep_images, &mut current, &mut visit);
    match read {
        Ok(()) => {
            if let Some(sample) = current {
                visit(sample)?;
            }
            Ok(())
        }
        Err(damage) => {
            if let Some(sample) = current.filter(RawSample::looks_complete) {
                visit(sample)?;
            }
            Err(damage)
        }
    }
}

/// The member loop of [`read_shard`]: completed samples are visited, the pending one is left in `current`. A
/// member found damaged is attributed to its sample: when it belongs to the pending one, that one is dropped.
fn read_members(
    shard: &Path,
    keep_images: bool,
    current: &mut Option<RawSample>,
    visit: &mut impl FnMut(RawSample) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let truncated = |reason: String| DataError::Shard {
        shard: shard.to_owned(),
        reason,
    };
    let file = File::open(shard).map_err(|e| DataError::io(shard, e))?;
    let file_len = file.metadata().map_err(|e| DataError::io(shard, e))?.len();
    let mut archive = tar::Archive::new(BufReader::new(file));
    let entries = archive
        .entries_with_seek()
        .map_err(|e| truncated(format!("not a tar file: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| {
            truncated(format!(
                "unreadable tar header (truncated, or not a tar file): {e}"
            ))
        })?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| truncated(format!("a member name is not valid: {e}")))?
            .to_string_lossy()
            .into_owned();
        let offset = entry.raw_file_position();
        let len = entry.size();
        let (key, extension) = split_key(&path);
        if let Some(sample) = current.take_if(|sample| sample.key != key) {
            visit(sample)?;
        }
        let mut damaged = |reason: String| {
            // The damage is in this member: its sample is incomplete.
            current.take_if(|sample| sample.key == key);
            truncated(reason)
        };
        if offset.saturating_add(len) > file_len {
            return Err(damaged(format!(
                "truncated: member `{path}` needs bytes up to {} and the file has {file_len}",
                offset.saturating_add(len)
            )));
        }
        let wants_bytes =
            is_text_member(&extension) || (keep_images && is_image_extension(&extension));
        let bytes = if wants_bytes {
            let mut bytes = Vec::with_capacity(len.min(1 << 24) as usize);
            if let Err(e) = entry.read_to_end(&mut bytes) {
                return Err(damaged(format!("member `{path}` cannot be read: {e}")));
            }
            Some(bytes)
        } else {
            None
        };
        current
            .get_or_insert_with(|| RawSample {
                key: key.clone(),
                members: Vec::new(),
            })
            .members
            .push(Member {
                extension,
                offset,
                len,
                bytes,
            });
    }
    Ok(())
}

/// A sample as a manifest entry (`images`: the image bytes when streaming).
fn to_entry(
    shard: &Arc<PathBuf>,
    ordinal: usize,
    mut sample: RawSample,
    language: Option<&str>,
) -> Result<ManifestEntry, DataError> {
    let key = sample.key.clone();
    let bad = |reason: String| DataError::Sample {
        shard: shard.as_ref().clone(),
        key: key.clone(),
        reason,
    };
    let position = |extension: &str| {
        sample
            .members
            .iter()
            .position(|m| m.extension.eq_ignore_ascii_case(extension))
    };
    let Some(image) = IMAGE_MEMBERS.iter().find_map(|ext| position(ext)) else {
        let found: Vec<&str> = sample
            .members
            .iter()
            .map(|m| m.extension.as_str())
            .collect();
        return Err(bad(format!(
            "no image member ({}; the sample has: {})",
            IMAGE_MEMBERS.join(", "),
            found.join(", ")
        )));
    };
    let text = |extension: &str| position(extension).and_then(|i| sample.members[i].bytes.as_ref());
    let record = if let Some(json) = text("json") {
        let value: serde_json::Value = serde_json::from_slice(json)
            .map_err(|e| bad(format!("the json member does not parse: {e}")))?;
        let object = value
            .as_object()
            .ok_or_else(|| bad("the json member is not an object".into()))?;
        CaptionRecord::from_json(object, language).map_err(|e| bad(format!("json: {e}")))?
    } else if let Some(text) = text("txt") {
        CaptionRecord {
            captions: vec![String::from_utf8_lossy(text).trim().to_owned()],
            lang: language.map(str::to_owned),
            ..CaptionRecord::default()
        }
    } else {
        return Err(bad("no json or txt member with the captions".into()));
    };
    let image = &mut sample.members[image];
    let name = format!("{key}.{}", image.extension);
    let source = match image.bytes.take() {
        Some(bytes) => ImageSource::Bytes {
            name: format!("{}:{name}", shard.display()),
            bytes: bytes.into(),
        },
        None => ImageSource::TarMember {
            shard: shard.clone(),
            member: name,
            offset: image.offset,
            len: image.len,
        },
    };
    crate::sources::manifest::entry_from_record(record, source, ordinal + 1)
        .map_err(|reason| bad(reason.to_string()))
}

/// Every sample of the shards a spec names, as a manifest whose images are read by offset. Bad samples and
/// unreadable shards stop the read or, under [`BadInputPolicy::Skip`], are counted in `skipped` (a truncated shard
/// keeps the samples before the damage).
pub fn index_shards(spec: &str, base: &Path, options: &ReadOptions) -> Result<Manifest, DataError> {
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for shard in shard_list(spec, base)? {
        let shard = Arc::new(shard);
        let mut ordinal = 0;
        let read = read_shard(&shard, false, |sample| {
            let entry = to_entry(&shard, ordinal, sample, options.language.as_deref());
            ordinal += 1;
            match entry {
                Ok(entry) => entries.push(entry),
                Err(error) if options.policy == BadInputPolicy::Skip => skipped.push(error),
                Err(error) => return Err(error),
            }
            Ok(())
        });
        match read {
            Ok(()) => {}
            Err(error) if options.policy == BadInputPolicy::Skip => skipped.push(error),
            Err(error) => return Err(error),
        }
    }
    if entries.is_empty() {
        return Err(DataError::EmptyManifest {
            path: PathBuf::from(spec),
        });
    }
    Ok(Manifest {
        path: PathBuf::from(spec),
        entries,
        skipped,
    })
}

/// How a [`ShardStream`] shuffles: shard order and a buffer of `buffer` samples, both from `seed`; a buffer of 0
/// or 1 keeps the file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamShuffle {
    pub buffer: usize,
    pub seed: u64,
}

/// A single pass over shards, samples in memory (image bytes included), shuffled through a buffer as WebDataset's
/// `shardshuffle` + `shuffle(buffer)` do. Errors come out in place of the sample; under
/// [`BadInputPolicy::Skip`] they are counted instead (see [`skipped`](Self::skipped)).
pub struct ShardStream {
    shards: VecDeque<Arc<PathBuf>>,
    options: ReadOptions,
    shuffle: StreamShuffle,
    rng: Pcg64,
    /// Samples of the shard being read, not yet offered to the buffer.
    pending: VecDeque<Result<ManifestEntry, DataError>>,
    buffer: Vec<ManifestEntry>,
    skipped: Vec<DataError>,
}

impl ShardStream {
    /// Streams the shards of `spec` (relative to `base`).
    pub fn open(
        spec: &str,
        base: &Path,
        options: ReadOptions,
        shuffle: StreamShuffle,
    ) -> Result<Self, DataError> {
        let mut shards: Vec<Arc<PathBuf>> =
            shard_list(spec, base)?.into_iter().map(Arc::new).collect();
        let mut rng = Pcg64::seed_from_u64(shuffle.seed);
        if shuffle.buffer > 1 {
            shards.shuffle(&mut rng);
        }
        Ok(Self {
            shards: shards.into(),
            options,
            shuffle,
            rng,
            pending: VecDeque::new(),
            buffer: Vec::new(),
            skipped: Vec::new(),
        })
    }

    /// Problems skipped so far under [`BadInputPolicy::Skip`].
    pub fn skipped(&self) -> &[DataError] {
        &self.skipped
    }

    /// The problems skipped so far (and forgets them).
    pub fn take_skipped(&mut self) -> Vec<DataError> {
        std::mem::take(&mut self.skipped)
    }

    /// Reads the next shard into `pending`; false when there is none.
    fn read_next_shard(&mut self) -> bool {
        let Some(shard) = self.shards.pop_front() else {
            return false;
        };
        let language = self.options.language.clone();
        let mut samples = Vec::new();
        let mut ordinal = 0;
        let read = read_shard(&shard, true, |sample| {
            samples.push(to_entry(&shard, ordinal, sample, language.as_deref()));
            ordinal += 1;
            Ok(())
        });
        self.pending.extend(samples);
        if let Err(error) = read {
            self.pending.push_back(Err(error));
        }
        true
    }

    /// The next sample or error in file order.
    fn next_in_order(&mut self) -> Option<Result<ManifestEntry, DataError>> {
        loop {
            if let Some(next) = self.pending.pop_front() {
                return Some(next);
            }
            if !self.read_next_shard() {
                return None;
            }
        }
    }
}

impl Iterator for ShardStream {
    type Item = Result<ManifestEntry, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_in_order() {
                Some(Err(error)) if self.options.policy == BadInputPolicy::Skip => {
                    self.skipped.push(error);
                }
                Some(Err(error)) => return Some(Err(error)),
                Some(Ok(entry)) if self.shuffle.buffer <= 1 => return Some(Ok(entry)),
                Some(Ok(entry)) => {
                    if self.buffer.len() < self.shuffle.buffer {
                        self.buffer.push(entry);
                        continue;
                    }
                    let slot = self.rng.random_range(0..self.buffer.len());
                    return Some(Ok(std::mem::replace(&mut self.buffer[slot], entry)));
                }
                None if self.buffer.is_empty() => return None,
                None => {
                    let slot = self.rng.random_range(0..self.buffer.len());
                    return Some(Ok(self.buffer.swap_remove(slot)));
                }
            }
        }
    }
}

/// Writes samples into numbered shards of at most `per_shard` samples (`<dir>/00000.tar`, …), members in
/// WebDataset order with fixed metadata so the bytes depend only on the content.
pub struct ShardWriter {
    dir: PathBuf,
    per_shard: usize,
    in_shard: usize,
    shard: usize,
    builder: Option<tar::Builder<File>>,
    written: Vec<PathBuf>,
}

impl ShardWriter {
    pub fn new(dir: &Path, per_shard: usize) -> Result<Self, DataError> {
        std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
        Ok(Self {
            dir: dir.to_owned(),
            per_shard: per_shard.max(1),
            in_shard: 0,
            shard: 0,
            builder: None,
            written: Vec::new(),
        })
    }

    fn current_path(&self) -> PathBuf {
        self.dir.join(format!("{:05}.tar", self.shard))
    }

    /// Appends one sample: `(extension, bytes)` members under `key`.
    pub fn write(&mut self, key: &str, members: &[(&str, &[u8])]) -> Result<(), DataError> {
        if self.in_shard == self.per_shard {
            self.finish_shard()?;
        }
        if self.builder.is_none() {
            let path = self.current_path();
            let file = File::create(&path).map_err(|e| DataError::io(&path, e))?;
            self.builder = Some(tar::Builder::new(file));
        }
        let path = self.current_path();
        let builder = self.builder.as_mut().ok_or_else(|| DataError::Write {
            path: path.clone(),
            reason: "no open shard".into(),
        })?;
        for (extension, bytes) in members {
            let mut header = tar::Header::new_ustar();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            builder
                .append_data(&mut header, format!("{key}.{extension}"), *bytes)
                .map_err(|e| DataError::Write {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
        }
        self.in_shard += 1;
        Ok(())
    }

    fn finish_shard(&mut self) -> Result<(), DataError> {
        let path = self.current_path();
        if let Some(builder) = self.builder.take() {
            builder.into_inner().map_err(|e| DataError::Write {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            self.written.push(path);
            self.shard += 1;
        }
        self.in_shard = 0;
        Ok(())
    }

    /// Closes the last shard; the shards written, in order.
    pub fn finish(mut self) -> Result<Vec<PathBuf>, DataError> {
        self.finish_shard()?;
        Ok(self.written)
    }

    /// The brace pattern naming every shard written so far plus the open one (`{00000..00003}.tar`).
    pub fn pattern(count: usize) -> String {
        match count {
            0 | 1 => "00000.tar".into(),
            n => format!("{{00000..{:05}}}.tar", n - 1),
        }
    }
}
