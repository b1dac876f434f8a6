//! Broken checkpoints: every missing, unexpected and shape-mismatched key is named in one error, and
//! `allow_partial` turns that into a report; folders that are no checkpoint say what they hold.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::tensor::TensorData;
use polyclip_checkpoints::tensors::TensorMap;
use polyclip_checkpoints::{CheckpointError, load};

type B = NdArray<f32>;

fn broken_copy_of_hf_clip() -> tempfile::TempDir {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models/hf_clip");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(source.join("config.json"), dir.path().join("config.json")).expect("copy");
    let mut weights = TensorMap::read(&source.join("model.safetensors")).expect("weights");
    // Dropped: a bias. Renamed: a LayerNorm weight. Reshaped: the visual projection.
    weights
        .tensors
        .remove("text_model.encoder.layers.1.mlp.fc2.bias");
    let norm = weights
        .tensors
        .remove("vision_model.post_layernorm.weight")
        .expect("norm");
    weights
        .tensors
        .insert("vision_model.post_layer_norm.weight".into(), norm);
    weights.tensors.insert(
        "visual_projection.weight".into(),
        TensorData::new(vec![0.0_f32; 24 * 31], [24, 31]),
    );
    weights
        .write_safetensors(&dir.path().join("model.safetensors"))
        .expect("write");
    dir
}

#[test]
fn every_bad_key_is_named_in_one_error() {
    let dir = broken_copy_of_hf_clip();
    let error = load::<B>(dir.path(), false, &NdArrayDevice::Cpu).expect_err("must fail");
    let message = error.to_string();
    assert_eq!(message.lines().count(), 1, "{message}");
    let CheckpointError::Keys {
        missing,
        unexpected,
        mismatched,
        ..
    } = error
    else {
        panic!("expected a key error, got {message}");
    };
    assert_eq!(
        missing,
        vec![
            "text_model.encoder.layers.1.mlp.fc2.bias".to_string(),
            "vision_model.post_layernorm.weight".to_string(),
        ]
    );
    assert_eq!(
        unexpected,
        vec!["vision_model.post_layer_norm.weight".to_string()]
    );
    // Named and shaped as in the checkpoint (PyTorch's [out, in] for a Linear weight).
    assert_eq!(
        mismatched,
        vec!["visual_projection.weight (model [24, 32], checkpoint [24, 31])".to_string()]
    );
    assert!(
        message.contains("2 missing")
            && message.contains("1 unexpected")
            && message.contains("1 shape-mismatched")
    );
    assert!(message.contains("--allow-partial"), "{message}");
}

#[test]
fn allow_partial_loads_and_reports() {
    let dir = broken_copy_of_hf_clip();
    let loaded = load::<B>(dir.path(), true, &NdArrayDevice::Cpu).expect("partial load");
    assert!(!loaded.report.is_complete());
    assert_eq!(loaded.report.missing.len(), 2);
    assert_eq!(loaded.report.unexpected.len(), 1);
    assert_eq!(loaded.report.mismatched.len(), 1);
    assert!(loaded.report.applied > 40);
}

#[test]
fn a_folder_that_is_no_checkpoint_says_what_it_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), "hello").expect("write");
    let message = load::<B>(dir.path(), false, &NdArrayDevice::Cpu)
        .expect_err("must fail")
        .to_string();
    assert!(
        message.contains("not a checkpoint folder") && message.contains("notes.txt"),
        "{message}"
    );
}

#[test]
fn an_unknown_model_type_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("config.json"), r#"{"model_type": "llama"}"#).expect("write");
    let message = load::<B>(dir.path(), false, &NdArrayDevice::Cpu)
        .expect_err("must fail")
        .to_string();
    assert!(message.contains("`model_type` = \"llama\""), "{message}");
}

/// A distilled student's start must be a BERT-family encoder: a CLIP folder says which model types are read.
#[test]
fn a_text_encoder_folder_of_another_model_type_names_the_supported_ones() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models/hf_clip");
    let error = polyclip_checkpoints::encoder_spec(&dir).expect_err("a CLIP is no text encoder");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: `model_type` = \"clip\": a text encoder must be one of bert, roberta, xlm-roberta, \
             camembert (BERT-family, in the Hugging Face layout)",
            dir.join("config.json").display()
        )
    );
}
