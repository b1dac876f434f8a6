//! Streamed training batches: the same batches whatever the worker count, every sample once per epoch in a
//! seeded shuffled order, epochs reshuffled, resuming at step k gives batch k, and a damaged shard comes out as an
//! error batch (never a hang).

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;
use std::sync::Arc;

use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::data::dataloader::batcher::Batcher;
use polyclip_data::batching::loader::BatchSource;
use polyclip_data::sources::webdataset::ShardWriter;
use polyclip_data::{
    BadInputPolicy, DataError, Draw, ImageTextExample, ReadOptions, StreamConfig, StreamLoader,
};

type B = NdArray<f32>;

/// A batcher that keeps what identifies each draw: its caption and draw seed.
struct Captions;

impl Batcher<B, Draw<ImageTextExample>, Result<Vec<(String, u64)>, DataError>> for Captions {
    fn batch(
        &self,
        draws: Vec<Draw<ImageTextExample>>,
        _device: &NdArrayDevice,
    ) -> Result<Vec<(String, u64)>, DataError> {
        Ok(draws
            .into_iter()
            .map(|draw| (draw.item.entry.captions[0].clone(), draw.seed))
            .collect())
    }
}

/// 40 samples in 4 shards under `dir`.
fn shards(dir: &Path) -> String {
    let mut png = Vec::new();
    image::RgbImage::from_pixel(4, 4, image::Rgb([9, 9, 9]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    let mut writer = ShardWriter::new(dir, 10).expect("writer");
    for index in 0..40 {
        let json = format!(r#"{{"captions-pt": ["caption {index}"]}}"#);
        writer
            .write(
                &format!("s{index:03}"),
                &[("png", &png), ("json", json.as_bytes())],
            )
            .expect("write");
    }
    writer.finish().expect("finish");
    dir.join("{00000..00003}.tar").display().to_string()
}

fn loader(spec: &str, workers: usize, seed: u64) -> StreamLoader<B, Vec<(String, u64)>> {
    StreamLoader::new(
        StreamConfig {
            spec: spec.to_owned(),
            options: ReadOptions::new(BadInputPolicy::Fail, Some("pt")),
            shuffle_buffer: 16,
            batch_size: 8,
            num_workers: workers,
            seed,
        },
        Arc::new(Captions),
        NdArrayDevice::Cpu,
    )
}

fn batches(
    loader: &StreamLoader<B, Vec<(String, u64)>>,
    start: usize,
    count: usize,
) -> Vec<Vec<(String, u64)>> {
    loader
        .batches_from(start)
        .take(count)
        .map(|batch| batch.expect("batch"))
        .collect()
}

#[test]
fn streamed_batches_are_fixed_by_the_seed_and_cover_each_epoch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = shards(dir.path());
    let inline = batches(&loader(&spec, 0, 5), 0, 12);
    assert_eq!(
        inline,
        batches(&loader(&spec, 3, 5), 0, 12),
        "worker count changes nothing"
    );
    assert_ne!(
        inline,
        batches(&loader(&spec, 0, 6), 0, 12),
        "the seed changes the order"
    );
    // Epoch 1 = batches 0..5: every sample once, not in file order.
    let epoch = |range: std::ops::Range<usize>| -> Vec<String> {
        inline[range]
            .iter()
            .flatten()
            .map(|(caption, _)| caption.clone())
            .collect()
    };
    let first = epoch(0..5);
    let file_order: Vec<String> = (0..40).map(|i| format!("caption {i}")).collect();
    assert_ne!(first, file_order);
    let mut sorted = first.clone();
    sorted.sort();
    let mut expected = file_order.clone();
    expected.sort();
    assert_eq!(sorted, expected);
    // Epoch 2 is another permutation of the same samples.
    let second = epoch(5..10);
    assert_ne!(second, first);
    let mut sorted_second = second.clone();
    sorted_second.sort();
    assert_eq!(sorted_second, expected);
    // Draw seeds differ per position.
    let seeds: std::collections::BTreeSet<u64> =
        inline.iter().flatten().map(|(_, seed)| *seed).collect();
    assert_eq!(seeds.len(), 96);
    // Resuming at step 7 gives batches 7, 8, … of the uninterrupted run.
    assert_eq!(batches(&loader(&spec, 2, 5), 7, 5), inline[7..12].to_vec());
}

#[test]
fn samples_skipped_by_the_stream_are_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = shards(dir.path());
    // A fifth shard: one good sample, one without an image, one with JSON that does not parse.
    let mut png = Vec::new();
    image::RgbImage::from_pixel(4, 4, image::Rgb([1, 1, 1]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    let mut writer = ShardWriter::new(&dir.path().join("extra"), 10).expect("writer");
    writer
        .write(
            "ok",
            &[("png", &png), ("json", br#"{"captions-pt": ["extra"]}"#)],
        )
        .expect("write");
    writer
        .write("noimage", &[("json", br#"{"captions-pt": ["x"]}"#)])
        .expect("write");
    writer
        .write("badjson", &[("png", &png), ("json", b"{")])
        .expect("write");
    writer.finish().expect("finish");
    let spec = format!("{spec}::{}", dir.path().join("extra/00000.tar").display());
    let lenient = StreamLoader::<B, Vec<(String, u64)>>::new(
        StreamConfig {
            spec: spec.clone(),
            options: ReadOptions::new(BadInputPolicy::Skip, Some("pt")),
            shuffle_buffer: 16,
            batch_size: 41,
            num_workers: 0,
            seed: 3,
        },
        Arc::new(Captions),
        NdArrayDevice::Cpu,
    );
    // One batch of 41 = the 41 good samples of epoch 1.
    let first = lenient
        .batches_from(0)
        .next()
        .expect("a batch")
        .expect("ok");
    assert_eq!(first.len(), 41);
    assert_eq!(lenient.take_skipped().len(), 2);
    assert!(lenient.take_skipped().is_empty(), "taken");
    // Without --skip-bad the first problem is the batch's error.
    let strict = loader(&spec, 0, 3);
    let error = strict
        .batches_from(0)
        .take(6)
        .find_map(Result::err)
        .expect("an error");
    assert!(error.to_string().contains("extra/00000.tar"), "{error}");
}

#[test]
fn a_damaged_or_missing_shard_is_an_error_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = shards(dir.path());
    let third = dir.path().join("00002.tar");
    let bytes = fs::read(&third).expect("read");
    fs::write(&third, &bytes[..bytes.len() / 2]).expect("truncate");
    for workers in [0, 2] {
        let loader = loader(&spec, workers, 1);
        let outcome: Vec<_> = loader.batches_from(0).take(10).collect();
        let error = outcome
            .iter()
            .find_map(|batch| batch.as_ref().err())
            .expect("an error batch");
        assert!(error.to_string().contains("00002.tar"), "{error}");
    }
    let missing = loader(
        &dir.path().join("none/{0..1}.tar").display().to_string(),
        0,
        1,
    );
    let error = missing
        .batches_from(0)
        .next()
        .expect("one")
        .expect_err("missing");
    // The first shard of the (shuffled) shard order is named.
    assert!(
        error.to_string().contains("none/") && error.to_string().contains("No such file"),
        "{error}"
    );
}
