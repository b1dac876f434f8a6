//! The readers never panic, whatever the bytes: shard lists, tar shards (random bytes, and valid shards cut
//! or with flipped bytes), manifest lines, CAPIVARA JSON records, Karpathy files and labels files. Each returns
//! samples or a typed error.

use std::fs;
use std::path::Path;

use polyclip_data::braces::expand_braces;
use polyclip_data::caption_record::CaptionRecord;
use polyclip_data::webdataset::{ShardStream, ShardWriter, StreamShuffle, index_shards};
use polyclip_data::{BadInputPolicy, LabelledImages, Manifest, ReadOptions, RetrievalData};
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
