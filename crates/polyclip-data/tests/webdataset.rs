//! WebDataset shards: CAPIVARA's JSON schema read from brace-expanded shard lists, images read by offset and
//! decoded exactly as the files, the streamed reader's shuffle buffer, and what bad shards say.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::data::dataloader::batcher::Batcher;
use polyclip_data::sources::webdataset::{ShardStream, ShardWriter, StreamShuffle, index_shards};
use polyclip_data::{
    BadInputPolicy, ClipPreprocess, DataError, Draw, ImageBatch, ImageBatcher, ImageSource,
    ImageTextDataset, Manifest, ReadOptions,
};
use serde_json::json;

type B = NdArray<f32>;

fn photos() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/photos")
}

const PHOTOS: [&str; 5] = [
    "camera.png",
    "chelsea.png",
    "horse.png",
    "page.png",
    "rocket.jpg",
];

/// CAPIVARA's scored sample: `captions-pt` holds the originals followed by the generated captions (the
/// similarity script extends it in place), `similarities-pt` follows it.
fn capivara_json(index: usize) -> serde_json::Value {
    json!({
        "image": format!("{index:05}.png"),
        "captions-en": [format!("photo {index}")],
        "captions-pt": [format!("foto {index}"), format!("imagem {index}"), format!("gerada {index}")],
        "generated-captions-en": [format!("generated {index}")],
        "generated-captions-pt": [format!("gerada {index}")],
        "similarities-pt": [0.1 * index as f64, 0.2, 0.3],
    })
}

/// `count` samples (photos in turn) in shards of `per_shard`, in `dir/shards`.
fn write_shards(dir: &Path, count: usize, per_shard: usize) -> Vec<PathBuf> {
    let mut writer = ShardWriter::new(&dir.join("shards"), per_shard).expect("writer");
    for index in 0..count {
        let photo = PHOTOS[index % PHOTOS.len()];
        let bytes = fs::read(photos().join(photo)).expect("photo");
        let extension = if photo.ends_with(".jpg") {
            "jpg"
        } else {
            "png"
        };
        let json = serde_json::to_vec(&capivara_json(index)).expect("json");
        writer
            .write(
                &format!("sample{index:05}"),
                &[(extension, &bytes), ("json", &json)],
            )
            .expect("write");
    }
    writer.finish().expect("finish")
}

fn pt() -> ReadOptions {
    ReadOptions::new(BadInputPolicy::Fail, Some("pt"))
}

#[test]
fn capivara_shards_read_through_a_brace_pattern() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shards = write_shards(dir.path(), 7, 3);
    assert_eq!(shards.len(), 3);
    let spec = dir.path().join("shards/{00000..00002}.tar");
    let manifest = Manifest::open(spec.to_str().expect("utf-8"), &pt()).expect("index");
    assert_eq!(manifest.entries.len(), 7);
    for (index, entry) in manifest.entries.iter().enumerate() {
        // The generated caption appended to captions-pt is not counted twice.
        assert_eq!(
            entry.captions,
            [format!("foto {index}"), format!("imagem {index}")]
        );
        assert_eq!(entry.generated_captions, [format!("gerada {index}")]);
        assert_eq!(entry.similarities, [0.1 * index as f32, 0.2, 0.3]);
        assert_eq!(entry.lang.as_deref(), Some("pt"));
        // The member's bytes are the photo's, decoded identically.
        let photo = photos().join(PHOTOS[index % PHOTOS.len()]);
        assert!(matches!(entry.image, ImageSource::TarMember { .. }));
        assert_eq!(
            &*entry.image.read().expect("read"),
            &fs::read(&photo).expect("photo")[..]
        );
        assert_eq!(
            entry.image.decode().expect("decode").to_rgb8(),
            image::open(&photo).expect("open").to_rgb8()
        );
    }
    // English: the other language's keys of the same samples.
    let en = Manifest::open(
        spec.to_str().expect("utf-8"),
        &ReadOptions::new(BadInputPolicy::Fail, Some("en")),
    )
    .expect("en");
    assert_eq!(en.entries[4].captions, ["photo 4"]);
    assert_eq!(en.entries[4].generated_captions, ["generated 4"]);
    assert!(en.entries[4].similarities.is_empty());
}

#[test]
fn shard_images_batch_like_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_shards(dir.path(), 5, 5);
    let spec = dir.path().join("shards/00000.tar");
    let manifest = Manifest::open(spec.to_str().expect("utf-8"), &pt()).expect("index");
    let dataset = ImageTextDataset::new(manifest);
    let batcher = ImageBatcher::new(ClipPreprocess::new(32), BadInputPolicy::Fail);
    let draws: Vec<Draw<_>> = (0..5)
        .map(|index| Draw {
            item: burn::data::dataset::Dataset::get(&dataset, index).expect("item"),
            index,
            seed: 0,
        })
        .collect();
    let from_shards: ImageBatch<B> = batcher.batch(draws, &NdArrayDevice::Cpu).expect("batch");
    let pixels: Vec<f32> = from_shards.pixels.into_data().iter::<f32>().collect();
    let mut expected = vec![0.0_f32; 3 * 32 * 32];
    for (index, (photo, row)) in PHOTOS.iter().zip(pixels.chunks(expected.len())).enumerate() {
        let image = image::open(photos().join(photo)).expect("open");
        ClipPreprocess::new(32).apply(&image, &mut expected);
        assert_eq!(row, expected, "{photo} (row {index})");
    }
}

/// WebP and GIF members are images too, and a member's extension is compared without case (`.WEBP`, `.JPG`): the
/// index finds each sample's image, reads the bytes the shard holds, and they decode.
#[test]
fn webp_gif_and_upper_case_members_are_images() {
    let dir = tempfile::tempdir().expect("tempdir");
    let formats = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/formats");
    let members = [
        ("WEBP", formats.join("lossy.webp")),
        ("gif", formats.join("animated.gif")),
        ("JPG", photos().join("rocket.jpg")),
    ];
    let mut writer = ShardWriter::new(&dir.path().join("shards"), 10).expect("writer");
    let mut expected = Vec::new();
    for (index, (extension, path)) in members.iter().enumerate() {
        let bytes = fs::read(path).expect("picture");
        let json = serde_json::to_vec(&capivara_json(index)).expect("json");
        writer
            .write(
                &format!("sample{index:05}"),
                &[(*extension, &bytes), ("json", &json)],
            )
            .expect("write");
        expected.push(bytes);
    }
    let shards = writer.finish().expect("finish");
    let manifest = Manifest::open(shards[0].to_str().expect("utf-8"), &pt()).expect("index");
    assert_eq!(manifest.entries.len(), 3);
    for (entry, bytes) in manifest.entries.iter().zip(&expected) {
        assert_eq!(&*entry.image.read().expect("read"), bytes.as_slice());
        polyclip_data::preprocess::decode_image_bytes(bytes).expect("decodes");
    }
}

#[test]
fn the_stream_shuffles_through_a_buffer_and_yields_every_sample_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_shards(dir.path(), 40, 10);
    let spec = "shards/{00000..00003}.tar";
    let keys = |buffer: usize, seed: u64| -> Vec<String> {
        ShardStream::open(spec, dir.path(), pt(), StreamShuffle { buffer, seed })
            .expect("open")
            .map(|entry| entry.expect("sample").captions[0].clone())
            .collect()
    };
    let in_order = keys(0, 0);
    let expected: Vec<String> = (0..40).map(|i| format!("foto {i}")).collect();
    assert_eq!(in_order, expected);
    let shuffled = keys(16, 7);
    assert_ne!(shuffled, in_order);
    assert_eq!(shuffled, keys(16, 7), "a seed fixes the order");
    assert_ne!(shuffled, keys(16, 8));
    let mut sorted = shuffled.clone();
    sorted.sort();
    let mut all = expected.clone();
    all.sort();
    assert_eq!(sorted, all, "every sample exactly once");
    // Streamed images are the same bytes as indexed ones.
    let streamed = ShardStream::open(spec, dir.path(), pt(), StreamShuffle { buffer: 0, seed: 0 })
        .expect("open")
        .next()
        .expect("one")
        .expect("sample");
    assert!(matches!(streamed.image, ImageSource::Bytes { .. }));
    assert_eq!(
        &*streamed.image.read().expect("bytes"),
        &fs::read(photos().join(PHOTOS[0])).expect("photo")[..]
    );
}

#[test]
fn a_truncated_shard_names_the_shard_and_skip_keeps_what_came_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shards = write_shards(dir.path(), 6, 3);
    let bytes = fs::read(&shards[1]).expect("read");
    fs::write(&shards[1], &bytes[..bytes.len() / 2]).expect("truncate");
    let spec = dir.path().join("shards/{00000..00001}.tar");
    let spec = spec.to_str().expect("utf-8");
    let message = Manifest::open(spec, &pt())
        .expect_err("truncated")
        .to_string();
    assert!(
        message.contains("00001.tar") && message.contains("truncated"),
        "{message}"
    );
    let skipped =
        Manifest::open(spec, &ReadOptions::new(BadInputPolicy::Skip, Some("pt"))).expect("skip");
    assert!(skipped.entries.len() >= 3 && skipped.entries.len() < 6);
    assert_eq!(skipped.skipped.len(), 1, "{:?}", skipped.skipped);
    // Streaming reports it in place of the missing samples.
    let streamed: Vec<_> = ShardStream::open(
        spec,
        Path::new(""),
        pt(),
        StreamShuffle { buffer: 0, seed: 0 },
    )
    .expect("open")
    .collect();
    assert!(streamed.last().is_some_and(|last| last.is_err()));
}

#[test]
fn missing_keys_members_and_languages_are_one_line_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let png = fs::read(photos().join("horse.png")).expect("photo");
    let mut writer = ShardWriter::new(dir.path(), 10).expect("writer");
    writer
        .write(
            "good",
            &[
                ("png", &png),
                ("json", br#"{"captions-pt": ["um cavalo"]}"#),
            ],
        )
        .expect("write");
    writer
        .write(
            "nocaption",
            &[("png", &png), ("json", br#"{"captions-en": ["a horse"]}"#)],
        )
        .expect("write");
    writer
        .write(
            "noimage",
            &[("json", br#"{"captions-pt": ["sem imagem"]}"#)],
        )
        .expect("write");
    writer
        .write("badjson", &[("png", &png), ("json", b"{not json")])
        .expect("write");
    writer
        .write(
            "corrupt",
            &[
                ("jpg", b"\xff\xd8\xff\xe0 truncated jpeg"),
                ("txt", b"um cavalo"),
            ],
        )
        .expect("write");
    writer.finish().expect("finish");
    let spec = dir.path().join("00000.tar");
    let spec = spec.to_str().expect("utf-8");
    let message = Manifest::open(spec, &pt()).expect_err("fails").to_string();
    assert_eq!(
        message,
        format!(
            "{spec}: sample `nocaption`: json: no `captions-pt` key (the record has: captions-en)"
        )
    );
    let skipped =
        Manifest::open(spec, &ReadOptions::new(BadInputPolicy::Skip, Some("pt"))).expect("skip");
    let reasons: Vec<String> = skipped.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(skipped.entries.len(), 2, "{reasons:?}");
    assert_eq!(reasons.len(), 3);
    assert!(
        reasons[1].contains(
            "sample `noimage`: no image member (jpg, jpeg, png, webp, gif; the sample has: json)"
        ),
        "{reasons:?}"
    );
    assert!(
        reasons[2].contains("sample `badjson`: the json member does not parse"),
        "{reasons:?}"
    );
    // An unknown language code names what the samples have.
    let message = Manifest::open(spec, &ReadOptions::new(BadInputPolicy::Fail, Some("pz")))
        .expect_err("unknown language")
        .to_string();
    assert!(message.contains("no `captions-pz` key"), "{message}");
    // The corrupt JPEG indexes (headers are read lazily) and fails its batch naming the member.
    let corrupt = skipped.entries.last().expect("corrupt entry").clone();
    assert_eq!(corrupt.captions, ["um cavalo"]);
    let dataset = ImageTextDataset::new(Manifest {
        path: PathBuf::from(spec),
        entries: vec![corrupt],
        skipped: Vec::new(),
    });
    let item = burn::data::dataset::Dataset::get(&dataset, 0).expect("item");
    let draw = || Draw {
        item: item.clone(),
        index: 0,
        seed: 0,
    };
    let strict = ImageBatcher::new(ClipPreprocess::new(32), BadInputPolicy::Fail);
    let error = Batcher::<B, _, Result<ImageBatch<B>, DataError>>::batch(
        &strict,
        vec![draw()],
        &NdArrayDevice::Cpu,
    )
    .expect_err("corrupt");
    assert!(
        error
            .to_string()
            .contains("00000.tar:corrupt.jpg cannot be decoded"),
        "{error}"
    );
    let lenient = Arc::new(ImageBatcher::new(
        ClipPreprocess::new(32),
        BadInputPolicy::Skip,
    ));
    let batch: ImageBatch<B> = lenient
        .batch(vec![draw()], &NdArrayDevice::Cpu)
        .expect("skips");
    assert!(batch.indices.is_empty());
    assert_eq!(lenient.take_skipped().len(), 1);
}

#[test]
fn a_bad_shard_pattern_says_why() {
    let message = index_shards("shards/{0..3.tar", Path::new(""), &pt())
        .expect_err("unclosed")
        .to_string();
    assert_eq!(
        message,
        "shards `shards/{0..3.tar`: `shards/{0..3.tar`: `{` at byte 7 is never closed"
    );
    let message = index_shards("nowhere/{0..1}.tar", Path::new(""), &pt())
        .expect_err("missing")
        .to_string();
    assert!(message.starts_with("nowhere/0.tar: "), "{message}");
}
