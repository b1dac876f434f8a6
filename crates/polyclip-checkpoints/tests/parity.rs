//! Numerical parity with the Python references: every family's tiny fixture (every parameter re-drawn, made
//! by tests/fixtures/make_fixtures.py with transformers / open_clip / multilingual_clip) gives the same image
//! features, text features and logits within 1e-4.

use std::path::{Path, PathBuf};

use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::tensor::{Int, Tensor, TensorData};
use polyclip_checkpoints::tensors::TensorMap;
use polyclip_checkpoints::{Family, LoadedModel, load};

type B = NdArray<f32>;
const DEVICE: NdArrayDevice = NdArrayDevice::Cpu;
const TOLERANCE: f32 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/models")
        .join(name)
}

struct Reference(TensorMap);

impl Reference {
    fn read(dir: &Path) -> Self {
        Self(TensorMap::read(&dir.join("reference.safetensors")).expect("reference"))
    }

    fn data(&self, name: &str) -> TensorData {
        self.0
            .tensors
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .clone()
    }

    fn float<const D: usize>(&self, name: &str) -> Tensor<B, D> {
        Tensor::from_data(self.data(name), &DEVICE)
    }

    fn int(&self, name: &str) -> Tensor<B, 2, Int> {
        let data = self.data(name);
        let values: Vec<i64> = data
            .to_vec::<f32>()
            .expect("ids")
            .iter()
            .map(|&v| v as i64)
            .collect();
        Tensor::from_data(TensorData::new(values, data.shape.to_vec()), &DEVICE)
    }

    /// The mask the reference used, or (open_clip's own text tower, which takes none) all ones.
    fn mask(&self) -> Tensor<B, 2, Int> {
        if self.0.tensors.contains_key("attention_mask") {
            self.int("attention_mask")
        } else {
            self.int("input_ids").ones_like()
        }
    }
}

fn max_abs_diff<const D: usize>(ours: Tensor<B, D>, theirs: Tensor<B, D>) -> f32 {
    assert_eq!(ours.dims(), theirs.dims());
    (ours - theirs).abs().max().into_scalar()
}

fn check_dual(name: &str, family: Family) {
    let dir = fixture(name);
    let loaded = load::<B>(&dir, false, &DEVICE).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(loaded.spec.family, family);
    assert!(
        loaded.report.is_complete(),
        "{name}: {}",
        loaded.report.summary()
    );
    let LoadedModel::Dual(model) = loaded.model else {
        panic!("{name}: expected both towers")
    };
    let reference = Reference::read(&dir);
    let images = model.image_features(reference.float("pixel_values"));
    let texts = model.text_features(reference.int("input_ids"), reference.mask());
    let image_error = max_abs_diff(images.clone(), reference.float("image_features"));
    let text_error = max_abs_diff(texts.clone(), reference.float("text_features"));
    let logits = model.logits_per_image(
        polyclip_models::dual_encoder::l2_normalize(images),
        polyclip_models::dual_encoder::l2_normalize(texts),
    );
    let logit_error = max_abs_diff(logits, reference.float("logits_per_image"));
    eprintln!(
        "{name}: max |Δ| image {image_error:.2e}, text {text_error:.2e}, logits {logit_error:.2e}"
    );
    assert!(
        image_error <= TOLERANCE,
        "{name}: image features differ by {image_error}"
    );
    assert!(
        text_error <= TOLERANCE,
        "{name}: text features differ by {text_error}"
    );
    assert!(
        logit_error <= TOLERANCE,
        "{name}: logits differ by {logit_error}"
    );
}

#[test]
fn hf_clip_model_quick_gelu_legacy_eos() {
    check_dual("hf_clip", Family::HfClip);
}

#[test]
fn hf_clip_model_gelu_sharded_safetensors() {
    check_dual("hf_clip_sharded", Family::HfClip);
}

#[test]
fn open_clip_native_layout() {
    check_dual("openclip_vit", Family::OpenClip);
}

#[test]
fn open_clip_xlm_roberta_tower() {
    check_dual("openclip_xlmr", Family::OpenClip);
}

#[test]
fn capivara_lightning_checkpoint() {
    check_dual("capivara", Family::Capivara);
}

#[test]
fn clip_italian_vision_text_dual_encoder() {
    check_dual("clip_italian", Family::VisionTextDualEncoder);
}

#[test]
fn themo_student_with_its_teachers_image_tower() {
    check_dual("themo_student", Family::ThemoStudent);
}

#[test]
fn multilingual_clip_text_encoder() {
    check_text_only("mclip", Family::MClip);
}

/// Text parity for a text encoder without an image tower (M-CLIP pairs with any CLIP image tower).
fn check_text_only(name: &str, family: Family) {
    let dir = fixture(name);
    let loaded = load::<B>(&dir, false, &DEVICE).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(loaded.spec.family, family);
    assert!(
        loaded.report.is_complete(),
        "{name}: {}",
        loaded.report.summary()
    );
    let reference = Reference::read(&dir);
    let (ids, mask) = (reference.int("input_ids"), reference.mask());
    let LoadedModel::Text(model) = loaded.model else {
        panic!("{name}: expected a text encoder alone")
    };
    let texts = model.text_features(ids, mask);
    let error = max_abs_diff(texts, reference.float("text_features"));
    eprintln!("{name}: max |Δ| text {error:.2e}");
    assert!(
        error <= TOLERANCE,
        "{name}: text features differ by {error}"
    );
}
