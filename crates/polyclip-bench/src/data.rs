//! `--data`: how many images per second the input pipeline delivers, per worker and with every worker.
//!
//! The samples are real photographs (tests/fixtures/photos, re-encoded as JPEG at `--data-side` pixels on the
//! longer side, CC3M-like) written into WebDataset shards in a temporary folder; each image is read from its shard
//! by offset, decoded, run through CAPIVARA's training augmentation (Resize(250) → RandomResizedCrop(224, scale
//! 0.9–1) → AugMix(severity 2)) and CLIP's resize/crop/normalise to 224, as a training batch is built. Also: the
//! same without augmentation (evaluation), and the single-pass `ShardStream` (read + shuffle buffer, no decoding).

use std::sync::Arc;
use std::time::Instant;

use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::data::dataloader::batcher::Batcher;
use polyclip_data::sources::webdataset::{ShardStream, ShardWriter, StreamShuffle};
use polyclip_data::{
    AugmentChain, BadInputPolicy, ClipPreprocess, DataError, DataLoader, ImageBatch, ImageBatcher,
    ImageTextDataset, LoaderConfig, Manifest, Order, ReadOptions,
};

use crate::BenchResult;

type Cpu = NdArray<f32>;

/// CAPIVARA's training augmentation at 224 pixels.
/// (Deserializing the chain validates it, as a recipe's chain is.)
fn capivara_augment() -> Result<AugmentChain, serde_json::Error> {
    serde_json::from_value(serde_json::json!([
        { "op": "resize", "size": 250 },
        { "op": "random_resized_crop", "size": 224, "scale": [0.9, 1.0] },
        { "op": "augmix", "severity": 2 },
    ]))
}

/// Shards of `count` JPEG samples cycling through the fixture photos, resized to `side` on the longer side.
fn write_shards(dir: &std::path::Path, count: usize, side: u32) -> BenchResult {
    let photos =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/photos");
    let mut encoded = Vec::new();
    for name in [
        "camera.png",
        "chelsea.png",
        "horse.png",
        "page.png",
        "rocket.jpg",
    ] {
        let image = image::open(photos.join(name))?;
        let resized = image
            .resize(side, side, image::imageops::FilterType::Triangle)
            .to_rgb8();
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
            .encode_image(&resized)?;
        encoded.push(bytes);
    }
    let mut writer = ShardWriter::new(dir, 256)?;
    for index in 0..count {
        let json = serde_json::json!({ "captions-en": [format!("photo {index}")] }).to_string();
        writer.write(
            &format!("sample{index:06}"),
            &[
                ("jpg", &encoded[index % encoded.len()]),
                ("json", json.as_bytes()),
            ],
        )?;
    }
    writer.finish()?;
    Ok(())
}

/// Images per second through `workers` loader threads (0: on this thread) at `batch` per batch.
fn loader_rate(
    dataset: &ImageTextDataset,
    batcher: ImageBatcher,
    workers: usize,
    batch: usize,
    batches: usize,
) -> Result<f64, DataError> {
    let loader: DataLoader<Cpu, _, Result<ImageBatch<Cpu>, DataError>> = DataLoader::new(
        Arc::new(dataset.clone()),
        Arc::new(batcher) as Arc<dyn Batcher<Cpu, _, _>>,
        LoaderConfig {
            batch_size: batch,
            num_workers: workers,
            seed: 0,
            order: Order::Shuffled,
        },
        NdArrayDevice::Cpu,
    );
    let mut iter = loader.iter_from(0);
    // The first batch warms the workers up (threads start, files open).
    iter.next().transpose()?;
    let started = Instant::now();
    let mut images = 0;
    for batch in iter.take(batches) {
        images += batch?.indices.len();
    }
    Ok(images as f64 / started.elapsed().as_secs_f64())
}

pub fn measure_data(samples: usize, side: u32, batch: usize, batches: usize) -> BenchResult {
    let dir = tempfile::tempdir()?;
    write_shards(dir.path(), samples, side)?;
    let spec = dir
        .path()
        .join(format!("{{00000..{:05}}}.tar", samples.div_ceil(256) - 1));
    let spec = spec.to_string_lossy().into_owned();
    let options = ReadOptions::new(BadInputPolicy::Fail, Some("en"));

    let started = Instant::now();
    let manifest = Manifest::open(&spec, &options)?;
    let indexed = manifest.entries.len() as f64 / started.elapsed().as_secs_f64();
    let dataset = ImageTextDataset::new(manifest);

    let started = Instant::now();
    let mut streamed = 0usize;
    for entry in ShardStream::open(
        &spec,
        std::path::Path::new(""),
        options,
        StreamShuffle {
            buffer: 1000,
            seed: 0,
        },
    )? {
        entry?;
        streamed += 1;
    }
    let stream_rate = streamed as f64 / started.elapsed().as_secs_f64();

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "input pipeline: {samples} JPEG samples ({side} px longer side) in shards, batches of {batch}, {batches} \
         timed batches, {cores} cores"
    );
    println!("  index the shards (headers only): {indexed:.0} samples/s");
    println!(
        "  stream the shards (bytes + shuffle buffer 1000, no decoding): {stream_rate:.0} samples/s"
    );
    let preprocess = ClipPreprocess::new(224);
    let augment = capivara_augment()?;
    for (label, workers) in [("1 worker", 1), ("all workers", cores)] {
        let train = loader_rate(
            &dataset,
            ImageBatcher::new(preprocess, BadInputPolicy::Fail).with_augment(augment.clone()),
            workers,
            batch,
            batches,
        )?;
        let eval = loader_rate(
            &dataset,
            ImageBatcher::new(preprocess, BadInputPolicy::Fail),
            workers,
            batch,
            batches,
        )?;
        println!(
            "  {label:>11} ({workers}): decode + CAPIVARA augmentation + preprocess {train:.1} images/s; \
             decode + preprocess {eval:.1} images/s"
        );
    }
    Ok(())
}
