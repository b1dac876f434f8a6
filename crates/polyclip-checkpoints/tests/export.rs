//! Export round trips: every dual-encoder fixture written in its natural layout (and open_clip models in
//! both), and M-CLIP in its own, loads back with identical outputs. (tests/fixtures/make_fixtures.py
//! verify-exports checks the same folders with the Python references.)

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use polyclip_checkpoints::export::{ExportFormat, export_dual, export_text};
use polyclip_checkpoints::{Architecture, Family, LoadedModel, load};

type B = NdArray<f32>;
const DEVICE: NdArrayDevice = NdArrayDevice::Cpu;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/models")
        .join(name)
}

/// Random pixels and two texts whose last real token is the vocabulary's last id (CLIP's end-of-text).
fn inputs(vocab: i64) -> (Tensor<B, 4>, Tensor<B, 2, Int>, Tensor<B, 2, Int>) {
    let pixels = Tensor::random([2, 3, 32, 32], Distribution::Normal(0.0, 1.0), &DEVICE);
    let eot = vocab - 1;
    let ids = Tensor::from_data(
        TensorData::new(vec![0_i64, 5, 9, 12, eot, 1, 0, 7, 8, eot, 1, 1], [2, 6]),
        &DEVICE,
    );
    let mask = Tensor::from_data(
        TensorData::new(vec![1_i64, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0], [2, 6]),
        &DEVICE,
    );
    (pixels, ids, mask)
}

fn outputs(
    model: &LoadedModel<B>,
    pixels: Tensor<B, 4>,
    ids: Tensor<B, 2, Int>,
    mask: Tensor<B, 2, Int>,
) -> Vec<f32> {
    match model {
        LoadedModel::Dual(model) => {
            let mut values: Vec<f32> = model
                .image_features(pixels)
                .into_data()
                .to_vec()
                .expect("f32");
            values.extend(
                model
                    .text_features(ids, mask)
                    .into_data()
                    .to_vec::<f32>()
                    .expect("f32"),
            );
            values.extend(
                model
                    .logit_multiplier()
                    .into_data()
                    .to_vec::<f32>()
                    .expect("f32"),
            );
            values
        }
        LoadedModel::Text(model) => model
            .text_features(ids, mask)
            .into_data()
            .to_vec()
            .expect("f32"),
    }
}

fn round_trip(name: &str, format: Option<ExportFormat>, expected_family: Family) {
    let loaded = load::<B>(&fixture(name), false, &DEVICE).expect("load");
    let out = tempfile::tempdir().expect("tempdir");
    match (&loaded.model, &loaded.spec.architecture) {
        (LoadedModel::Dual(model), Architecture::Dual(config)) => {
            let format = format.unwrap_or_else(|| ExportFormat::natural(config));
            export_dual(model, config, format, out.path()).expect("export");
        }
        (LoadedModel::Text(model), Architecture::Text(config)) => {
            export_text(model, config, out.path()).expect("export")
        }
        _ => panic!("model and architecture disagree"),
    }
    let reloaded = load::<B>(out.path(), false, &DEVICE).expect("reload");
    assert_eq!(reloaded.spec.family, expected_family, "{name}");
    assert!(
        reloaded.report.is_complete(),
        "{name}: {}",
        reloaded.report.summary()
    );
    let vocab = match &loaded.spec.architecture {
        Architecture::Dual(config) => text_vocab(&config.text),
        Architecture::Text(config) => text_vocab(&config.text),
    };
    let (pixels, ids, mask) = inputs(vocab as i64);
    let before = outputs(&loaded.model, pixels.clone(), ids.clone(), mask.clone());
    let after = outputs(&reloaded.model, pixels, ids, mask);
    assert_eq!(before, after, "{name}: outputs changed through export");
}

fn text_vocab(text: &polyclip_models::TextTowerConfig) -> usize {
    match text {
        polyclip_models::TextTowerConfig::Clip { text_config } => text_config.vocab_size,
        polyclip_models::TextTowerConfig::HfEncoder { encoder_config, .. } => {
            encoder_config.vocab_size
        }
    }
}

#[test]
fn hf_clip_round_trips_through_hf_layout() {
    round_trip("hf_clip", None, Family::HfClip);
}

#[test]
fn hf_clip_round_trips_through_open_clip_layout() {
    round_trip(
        "hf_clip_sharded",
        Some(ExportFormat::OpenClip),
        Family::OpenClip,
    );
}

#[test]
fn open_clip_round_trips() {
    round_trip(
        "openclip_vit",
        Some(ExportFormat::OpenClip),
        Family::OpenClip,
    );
}

#[test]
fn capivara_round_trips_to_open_clip() {
    round_trip("capivara", None, Family::OpenClip);
}

#[test]
fn vision_text_dual_encoder_round_trips() {
    round_trip("clip_italian", None, Family::VisionTextDualEncoder);
}

#[test]
fn mclip_round_trips() {
    round_trip("mclip", None, Family::MClip);
}
