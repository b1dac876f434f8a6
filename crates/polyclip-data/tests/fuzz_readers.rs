//! The readers never panic, whatever the bytes: shard lists, tar shards (random bytes, and valid shards cut
//! or with flipped bytes), manifest lines, CAPIVARA JSON records, Karpathy files and labels files. Each returns
//! samples or a typed error. A shard cut anywhere keeps exactly the samples before the cut (indexed and
//! streamed), and stops with one line naming the shard (and the member, when the cut is inside one).

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use polyclip_data::sources::braces::expand_braces;
use polyclip_data::sources::caption_record::CaptionRecord;
use polyclip_data::sources::webdataset::{ShardStream, ShardWriter, StreamShuffle, index_shards};
use polyclip_data::{
    BadInputPolicy, ImageSource, LabelledImages, Manifest, ManifestEntry, ReadOptions,
    RetrievalData,
};
use proptest::prelude::*;

fn options(policy: BadInputPolicy) -> ReadOptions {
    ReadOptions::new(policy, Some("pt"))
}

/// A valid two-sample shard (a tiny PNG and CAPIVARA JSON).
fn valid_shard() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut png = Vec::new();
    image::RgbImage::from_pixel(4, 4, image::Rgb([1, 2, 3]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    let mut writer = ShardWriter::new(dir.path(), 10).expect("writer");
    for key in ["a", "b"] {
        writer
            .write(
                key,
                &[
                    ("png", &png),
                    (
                        "json",
                        br#"{"captions-pt": ["x"], "similarities-pt": [0.5]}"#,
                    ),
                ],
            )
            .expect("write");
    }
    writer.finish().expect("finish");
    fs::read(dir.path().join("00000.tar")).expect("read")
}

/// Reads `bytes` as a shard both ways under both policies; only errors or samples may come out.
fn read_shard_bytes(bytes: &[u8]) {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("00000.tar"), bytes).expect("write");
    for policy in [BadInputPolicy::Fail, BadInputPolicy::Skip] {
        let spec = dir.path().join("00000.tar");
        if let Ok(manifest) = index_shards(
            spec.to_str().expect("utf-8"),
            Path::new(""),
            &options(policy),
        ) {
            for entry in &manifest.entries {
                let _ = entry.image.decode();
            }
        }
        if let Ok(stream) = ShardStream::open(
            "00000.tar",
            dir.path(),
            options(policy),
            StreamShuffle { buffer: 3, seed: 1 },
        ) {
            for entry in stream.take(64).flatten() {
                let _ = entry.image.decode();
            }
        }
    }
}

/// `(sample key, member name, where its data starts, where it ends)` of every member of a shard.
fn member_ends(bytes: &[u8]) -> Vec<(String, String, u64, u64)> {
    let mut archive = tar::Archive::new(std::io::Cursor::new(bytes));
    archive
        .entries()
        .expect("entries")
        .map(|entry| {
            let entry = entry.expect("entry");
            let name = entry.path().expect("path").to_string_lossy().into_owned();
            let key = name.split('.').next().unwrap_or_default().to_owned();
            let start = entry.raw_file_position();
            (key, name, start, start + entry.size())
        })
        .collect()
}

/// The sample key of an entry read from a shard (`a` for `a.png`, indexed or streamed).
fn key_of(entry: &ManifestEntry) -> String {
    let name = match &entry.image {
        ImageSource::TarMember { member, .. } => member.clone(),
        ImageSource::Bytes { name, .. } => name.rsplit(':').next().unwrap_or_default().to_owned(),
        ImageSource::File(path) => path.display().to_string(),
    };
    name.split('.').next().unwrap_or_default().to_owned()
}

/// Reads the first `cut` bytes of the valid shard and checks what the readers keep and say.
fn check_cut_shard(cut: usize) -> Result<(), TestCaseError> {
    let bytes = valid_shard();
    let cut = cut.min(bytes.len());
    let members = member_ends(&bytes);
    let complete: Vec<String> = ["a", "b"]
        .into_iter()
        .filter(|key| {
            members
                .iter()
                .filter(|(k, _, _, _)| k == key)
                .all(|(_, _, _, end)| *end <= cut as u64)
        })
        .map(str::to_owned)
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let shard = dir.path().join("00000.tar");
    fs::write(&shard, &bytes[..cut]).expect("write");
    let spec = shard.to_str().expect("utf-8");

    // Skipping: exactly the complete samples are kept (none: the shard names no sample, an error).
    let kept = index_shards(spec, Path::new(""), &options(BadInputPolicy::Skip));
    match &kept {
        Ok(manifest) => {
            let keys: Vec<String> = manifest.entries.iter().map(key_of).collect();
            prop_assert_eq!(&keys, &complete, "cut at {}", cut);
        }
        Err(error) => prop_assert!(complete.is_empty(), "cut at {}: {}", cut, error),
    }
    let stream = ShardStream::open(
        "00000.tar",
        dir.path(),
        options(BadInputPolicy::Skip),
        StreamShuffle { buffer: 1, seed: 1 },
    )
    .expect("open");
    let streamed: Vec<String> = stream.flatten().map(|entry| key_of(&entry)).collect();
    prop_assert_eq!(&streamed, &complete, "streamed, cut at {}", cut);

    // Failing: a cut shard stops with one line naming it, and the member when the cut is inside one's data. A
    // cut between two members' data (in a header block or the padding after the data) may read as a shard
    // without its end blocks: then exactly the samples before it come back.
    match index_shards(spec, Path::new(""), &options(BadInputPolicy::Fail)) {
        Ok(manifest) => {
            let keys: Vec<String> = manifest.entries.iter().map(key_of).collect();
            prop_assert_eq!(&keys, &complete, "cut at {}", cut);
            let straddled = members.iter().find(|(_, _, start, end)| {
                (*start..*end).contains(&(cut as u64)) && *start < cut as u64
            });
            prop_assert!(
                straddled.is_none(),
                "cut at {} inside {:?} was not noticed",
                cut,
                straddled
            );
        }
        Err(error) => {
            let message = error.to_string();
            prop_assert!(complete.len() < 2 || cut < bytes.len(), "{}", message);
            prop_assert!(!message.contains('\n'), "{}", message);
            prop_assert!(message.contains(spec), "{}", message);
            if message.contains("truncated: member") {
                // The member named is the first whose data the cut reaches into.
                let (_, name, _, _) = members
                    .iter()
                    .find(|(_, _, _, end)| *end > cut as u64)
                    .expect("a member past the cut");
                prop_assert!(message.contains(&format!("`{name}`")), "{}", message);
            }
        }
    }
    Ok(())
}

#[test]
fn a_shard_cut_at_every_byte_keeps_the_samples_before_the_cut() {
    let len = valid_shard().len();
    for cut in 0..=len {
        if let Err(error) = check_cut_shard(cut) {
            panic!("{error}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn brace_patterns_expand_or_fail(pattern in "[a-z0-9{},.]{0,24}") {
        if let Ok(names) = expand_braces(&pattern) {
            prop_assert!(!names.is_empty());
        }
    }

    #[test]
    fn random_bytes_are_not_a_shard(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        read_shard_bytes(&bytes);
    }

    #[test]
    fn damaged_shards_fail_cleanly(cut in 0usize..6000, flips in proptest::collection::vec((0usize..6000, any::<u8>()), 0..8)) {
        let mut bytes = valid_shard();
        for (at, value) in flips {
            let len = bytes.len();
            bytes[at % len] = value;
        }
        bytes.truncate(cut.min(bytes.len()));
        read_shard_bytes(&bytes);
    }

    #[test]
    fn manifest_lines_parse_or_fail(lines in proptest::collection::vec("[ -~]{0,60}", 0..6), json_keys in proptest::collection::vec(("(image|captions|captions-pt|generated-captions-pt|similarities-pt|similarities|lang|image_path)", 0u8..5), 0..6)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut text = lines.join("\n");
        // Plus a line of the known keys with values of random types.
        let record: serde_json::Map<String, serde_json::Value> = json_keys
            .into_iter()
            .map(|(key, kind)| {
                let value = match kind {
                    0 => serde_json::json!("x.png"),
                    1 => serde_json::json!(["a", "b"]),
                    2 => serde_json::json!([0.5, "z"]),
                    3 => serde_json::json!(7),
                    _ => serde_json::Value::Null,
                };
                (key, value)
            })
            .collect();
        text.push('\n');
        text.push_str(&serde_json::Value::Object(record.clone()).to_string());
        for name in ["m.jsonl", "m.tsv", "m.csv"] {
            fs::write(dir.path().join(name), &text).expect("write");
            for policy in [BadInputPolicy::Fail, BadInputPolicy::Skip] {
                let _ = Manifest::read(&dir.path().join(name), &options(policy));
            }
        }
        let _ = CaptionRecord::from_json(&record, None);
        let _ = CaptionRecord::from_json(&record, Some("pt"));
    }

    #[test]
    fn karpathy_and_labels_files_parse_or_fail(text in "[ -~\n]{0,200}") {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f.txt");
        fs::write(&file, &text).expect("write");
        let wnids: Vec<String> = vec!["n01440764".into(), "n01443537".into()];
        for policy in [BadInputPolicy::Fail, BadInputPolicy::Skip] {
            let _ = RetrievalData::karpathy(&file, dir.path(), "test", policy);
            let _ = RetrievalData::parallel_files(&file, &file, dir.path(), policy);
            let _ = LabelledImages::from_labels_file(dir.path(), &file, &wnids, policy);
        }
    }
}
