//! Bad manifests and images are reported in one line naming the file and line, or counted and skipped.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;
use std::sync::Arc;

use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::data::dataloader::batcher::Batcher;
use polyclip_data::{
    BadInputPolicy, ClipPreprocess, DataError, Draw, ImageBatch, ImageBatcher, ImageTextDataset,
    Manifest,
};

type B = NdArray<f32>;

fn write_png(path: &Path) {
    image::RgbImage::from_pixel(8, 8, image::Rgb([200, 10, 10]))
        .save(path)
        .expect("png");
}

fn fixture(lines: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    write_png(&dir.path().join("good.png"));
    fs::write(dir.path().join("garbage.png"), b"this is not an image").expect("write");
    let manifest = dir.path().join("train.jsonl");
    fs::write(&manifest, lines.join("\n")).expect("write");
    (dir, manifest)
}

const GOOD: &str = r#"{"image": "good.png", "captions": ["um círculo vermelho"], "lang": "pt"}"#;

fn first_error(lines: &[&str]) -> String {
    let (_dir, manifest) = fixture(lines);
    Manifest::load(&manifest, BadInputPolicy::Fail)
        .expect_err("must fail")
        .to_string()
}

#[test]
fn a_missing_image_names_the_manifest_line_and_the_image() {
    let message = first_error(&[GOOD, r#"{"image": "nowhere.png", "captions": ["x"]}"#]);
    assert!(message.contains("train.jsonl:2:"), "{message}");
    assert!(
        message.contains("nowhere.png") && message.contains("does not exist"),
        "{message}"
    );
}

#[test]
fn a_corrupt_image_names_the_manifest_line_and_the_image() {
    let message = first_error(&[r#"{"image": "garbage.png", "captions": ["x"]}"#, GOOD]);
    assert!(message.contains("train.jsonl:1:"), "{message}");
    assert!(
        message.contains("garbage.png") && message.contains("cannot be decoded"),
        "{message}"
    );
}

#[test]
fn an_empty_caption_list_names_the_line() {
    let message = first_error(&[GOOD, GOOD, r#"{"image": "good.png", "captions": ["  "]}"#]);
    assert!(
        message.contains("train.jsonl:3: empty caption list"),
        "{message}"
    );
}

#[test]
fn a_line_that_is_not_json_names_the_line() {
    let message = first_error(&[GOOD, "{not json"]);
    assert!(
        message.contains("train.jsonl:2: not a JSON object"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1);
}

#[test]
fn skip_bad_counts_and_skips_every_kind() {
    let (_dir, manifest) = fixture(&[
        GOOD,
        r#"{"image": "nowhere.png", "captions": ["x"]}"#,
        r#"{"image": "garbage.png", "captions": ["x"]}"#,
        r#"{"image": "good.png", "captions": []}"#,
        "{not json",
        r#"{"image_path": "good.png", "captions": ["a red circle"]}"#,
    ]);
    let loaded = Manifest::load(&manifest, BadInputPolicy::Skip).expect("loads");
    assert_eq!(loaded.entries.len(), 2);
    assert_eq!(loaded.entries[1].line, 6);
    assert_eq!(loaded.skipped.len(), 4);
    let lines: Vec<usize> = loaded
        .skipped
        .iter()
        .filter_map(|e| match e {
            DataError::MissingImage { line, .. }
            | DataError::CorruptImage { line, .. }
            | DataError::EmptyCaptions { line, .. }
            | DataError::ManifestJson { line, .. } => Some(*line),
            _ => None,
        })
        .collect();
    assert_eq!(lines, vec![2, 3, 4, 5]);
}

#[test]
fn an_image_that_breaks_after_loading_fails_the_batch_or_is_skipped() {
    let (dir, manifest) = fixture(&[GOOD, r#"{"image": "late.png", "captions": ["x"]}"#]);
    write_png(&dir.path().join("late.png"));
    let dataset =
        ImageTextDataset::new(Manifest::load(&manifest, BadInputPolicy::Fail).expect("loads"));
    // The file is truncated after the manifest was checked: decoding fails at batch time.
    let bytes = fs::read(dir.path().join("late.png")).expect("read");
    fs::write(dir.path().join("late.png"), &bytes[..bytes.len() / 2]).expect("truncate");
    let draws = |d: &ImageTextDataset| -> Vec<Draw<_>> {
        (0..2)
            .map(|index| Draw {
                item: burn::data::dataset::Dataset::get(d, index).expect("item"),
                index,
                seed: 0,
            })
            .collect()
    };
    let strict = ImageBatcher::new(ClipPreprocess::new(8), BadInputPolicy::Fail);
    let result: Result<ImageBatch<B>, _> = strict.batch(draws(&dataset), &NdArrayDevice::Cpu);
    let message = result.expect_err("must fail").to_string();
    assert!(
        message.contains("train.jsonl:2:") && message.contains("late.png"),
        "{message}"
    );

    let lenient = Arc::new(ImageBatcher::new(
        ClipPreprocess::new(8),
        BadInputPolicy::Skip,
    ));
    let batch: ImageBatch<B> = lenient
        .batch(draws(&dataset), &NdArrayDevice::Cpu)
        .expect("skips");
    assert_eq!(batch.indices, vec![0]);
    assert_eq!(batch.pixels.dims(), [1, 3, 8, 8]);
    assert_eq!(lenient.take_skipped().len(), 1);
}

/// A JPEG cut in half used to decode into a half-grey picture; now it is an error naming the file, or a skipped
/// input with --skip-bad, like a truncated PNG. Pictures past Pillow's pixel budget fail from their header.
#[test]
fn a_truncated_jpeg_and_an_oversized_picture_are_errors() {
    use polyclip_data::preprocess::{MAX_IMAGE_PIXELS, decode_image, decode_image_bytes_within};
    let dir = tempfile::tempdir().expect("tempdir");
    let photo =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/photos/rocket.jpg");
    let bytes = fs::read(&photo).expect("read");
    assert!(decode_image(&photo).is_ok());
    let half = dir.path().join("half.jpg");
    fs::write(&half, &bytes[..bytes.len() / 2]).expect("write");
    let message = decode_image(&half).expect_err("truncated").to_string();
    assert!(
        message.contains("the JPEG is truncated (no end-of-image marker after its scan)"),
        "{message}"
    );
    // Through a manifest and the batcher: the line and the file are named.
    let manifest = dir.path().join("m.jsonl");
    fs::write(
        &manifest,
        r#"{"image": "half.jpg", "captions": ["x"], "lang": "en"}"#,
    )
    .expect("write");
    let dataset = ImageTextDataset::new(
        Manifest::load(&manifest, BadInputPolicy::Fail).expect("header reads"),
    );
    let draw = vec![Draw {
        item: burn::data::dataset::Dataset::get(&dataset, 0).expect("item"),
        index: 0,
        seed: 0,
    }];
    let strict = ImageBatcher::new(ClipPreprocess::new(8), BadInputPolicy::Fail);
    let result: Result<ImageBatch<B>, _> = strict.batch(draw, &NdArrayDevice::Cpu);
    let message = result.expect_err("must fail").to_string();
    assert!(
        message.contains("m.jsonl:1:") && message.contains("half.jpg"),
        "{message}"
    );

    // 9500 × 9500 = 90 250 000 pixels, just over the budget, in a PNG of a few kB.
    let big = dir.path().join("big.png");
    image::GrayImage::new(9500, 9500).save(&big).expect("png");
    const { assert!(9500 * 9500 > MAX_IMAGE_PIXELS) };
    let message = decode_image(&big).expect_err("too many pixels").to_string();
    assert!(
        message.contains("9500×9500 = 90250000 pixels, more than the 89478485 allowed (POLYCLIP_MAX_IMAGE_PIXELS; Pillow's MAX_IMAGE_PIXELS by default)"),
        "{message}"
    );
    // A caller's own budget (a server's --max-image-pixels) replaces the default one, above it too.
    let bytes = fs::read(&big).expect("read");
    let decoded =
        decode_image_bytes_within(&bytes, 9500 * 9500, "--max-image-pixels").expect("within");
    assert_eq!((decoded.width(), decoded.height()), (9500, 9500));
    let message = decode_image_bytes_within(&bytes, 9500 * 9500 - 1, "--max-image-pixels")
        .expect_err("one pixel over")
        .to_string();
    assert!(
        message.ends_with(
            "9500×9500 = 90250000 pixels, more than the 90249999 allowed (--max-image-pixels)"
        ),
        "{message}"
    );
}
