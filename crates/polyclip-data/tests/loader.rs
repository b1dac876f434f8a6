//! The loader's batches are a function of (seed, step) only: same with any number of workers, reproducible
//! from any starting step, and every item appears once per epoch; the image batcher augments before it
//! preprocesses.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::sync::Arc;

use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::InMemDataset;
use image::{Rgb, RgbImage};
use polyclip_augment::functional as f;
use polyclip_data::{
    AugmentChain, Augmentation, BadInputPolicy, ClipPreprocess, DataLoader, Draw, ImageBatcher,
    ImageTextDataset, LoaderConfig, Manifest, Order,
};

type B = NdArray<f32>;

/// Records which items, with which draw seeds, a batch holds.
struct Ids;

impl Batcher<B, Draw<usize>, Vec<(usize, u64)>> for Ids {
    fn batch(&self, draws: Vec<Draw<usize>>, _device: &NdArrayDevice) -> Vec<(usize, u64)> {
        draws.into_iter().map(|d| (d.item, d.seed)).collect()
    }
}

fn loader(workers: usize, seed: u64, order: Order) -> DataLoader<B, usize, Vec<(usize, u64)>> {
    DataLoader::new(
        Arc::new(InMemDataset::new((0..50).collect::<Vec<usize>>())),
        Arc::new(Ids),
        LoaderConfig {
            batch_size: 8,
            num_workers: workers,
            seed,
            order,
        },
        NdArrayDevice::Cpu,
    )
}

#[test]
fn batches_do_not_depend_on_the_number_of_workers() {
    let reference: Vec<_> = loader(0, 7, Order::Shuffled)
        .iter_from(0)
        .take(20)
        .collect();
    for workers in [1, 2, 3] {
        let batches: Vec<_> = loader(workers, 7, Order::Shuffled)
            .iter_from(0)
            .take(20)
            .collect();
        assert_eq!(batches, reference, "{workers} workers");
    }
}

#[test]
fn starting_mid_run_reproduces_the_same_batches() {
    let all: Vec<_> = loader(2, 3, Order::Shuffled)
        .iter_from(0)
        .take(15)
        .collect();
    let tail: Vec<_> = loader(2, 3, Order::Shuffled).iter_from(9).take(6).collect();
    assert_eq!(tail, all[9..15]);
}

#[test]
fn each_epoch_is_a_permutation_and_epochs_and_seeds_differ() {
    let per_epoch = 50 / 8;
    let batches: Vec<_> = loader(0, 1, Order::Shuffled)
        .iter_from(0)
        .take(2 * per_epoch)
        .collect();
    let epoch = |e: usize| -> Vec<usize> {
        batches[e * per_epoch..(e + 1) * per_epoch]
            .iter()
            .flatten()
            .map(|&(item, _)| item)
            .collect()
    };
    for e in 0..2 {
        let mut items = epoch(e);
        assert_eq!(items.len(), per_epoch * 8);
        items.sort_unstable();
        items.dedup();
        assert_eq!(
            items.len(),
            per_epoch * 8,
            "an item repeats within epoch {e}"
        );
    }
    assert_ne!(epoch(0), epoch(1));
    let other: Vec<_> = loader(0, 2, Order::Shuffled).iter_from(0).take(1).collect();
    assert_ne!(other[0], batches[0]);
}

#[test]
fn sequential_order_is_one_pass_with_a_short_last_batch() {
    let batches: Vec<_> = loader(2, 0, Order::Sequential).iter_from(0).collect();
    assert_eq!(batches.len(), 7);
    assert_eq!(batches[6].len(), 2);
    let items: Vec<usize> = batches.iter().flatten().map(|&(item, _)| item).collect();
    assert_eq!(items, (0..50).collect::<Vec<_>>());
}

#[test]
fn the_image_batcher_augments_before_preprocessing() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 16×16 so the preprocessing (size 16) is a plain normalisation.
    let image = RgbImage::from_fn(16, 16, |x, y| Rgb([(x * 15) as u8, (y * 15) as u8, 100]));
    image.save(dir.path().join("a.png")).expect("png");
    let manifest = dir.path().join("train.jsonl");
    fs::write(
        &manifest,
        "{\"image\": \"a.png\", \"captions\": [\"x\"], \"lang\": \"en\"}\n",
    )
    .expect("write");
    let dataset =
        ImageTextDataset::new(Manifest::load(&manifest, BadInputPolicy::Fail).expect("loads"));
    let draws = |seed| {
        vec![Draw {
            item: burn::data::dataset::Dataset::get(&dataset, 0).expect("item"),
            index: 0,
            seed,
        }]
    };
    let preprocess = ClipPreprocess::new(16);
    let normalized = |image: &RgbImage| {
        let mut out = vec![0.0_f32; preprocess.image_len()];
        preprocess.write_normalized(image, &mut out);
        out
    };
    let plain = ImageBatcher::new(preprocess, BadInputPolicy::Fail);
    assert_eq!(
        plain.assemble(&draws(0)).expect("batch").pixels,
        normalized(&image)
    );

    let flipping = ImageBatcher::new(preprocess, BadInputPolicy::Fail).with_augment(
        AugmentChain::new(vec![Augmentation::HorizontalFlip { p: 1.0 }]).expect("valid chain"),
    );
    assert_eq!(
        flipping.assemble(&draws(0)).expect("batch").pixels,
        normalized(&f::hflip(&image))
    );

    let cropping = ImageBatcher::new(preprocess, BadInputPolicy::Fail).with_augment(
        AugmentChain::new(vec![Augmentation::RandomResizedCrop {
            size: 16,
            scale: [0.2, 0.6],
            ratio: [0.75, 4.0 / 3.0],
        }])
        .expect("valid chain"),
    );
    let first = cropping.assemble(&draws(5)).expect("batch").pixels;
    assert_eq!(cropping.assemble(&draws(5)).expect("batch").pixels, first);
    assert_ne!(cropping.assemble(&draws(6)).expect("batch").pixels, first);
    assert_ne!(first, normalized(&image));
}
