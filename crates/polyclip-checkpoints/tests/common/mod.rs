//! What the parity tests share: fixture folders and their `reference.safetensors`.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::tensor::{Int, Tensor, TensorData};
use polyclip_checkpoints::tensors::TensorMap;

pub type B = NdArray<f32>;
pub const DEVICE: NdArrayDevice = NdArrayDevice::Cpu;

/// `tests/fixtures/<path>`.
pub fn fixtures(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(path)
}

/// `tests/fixtures/models/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    fixtures("models").join(name)
}

/// A fixture's `reference.safetensors`: inputs and the Python reference's outputs.
pub struct Reference(pub TensorMap);

impl Reference {
    pub fn read(dir: &Path) -> Self {
        Self(TensorMap::read(&dir.join("reference.safetensors")).expect("reference"))
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.tensors.contains_key(name)
    }

    pub fn data(&self, name: &str) -> TensorData {
        self.0
            .tensors
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .clone()
    }

    pub fn float<const D: usize>(&self, name: &str) -> Tensor<B, D> {
        Tensor::from_data(self.data(name), &DEVICE)
    }

    pub fn int(&self, name: &str) -> Tensor<B, 2, Int> {
        let data = self.data(name);
        let values: Vec<i64> = data.iter::<f32>().map(|v| v as i64).collect();
        Tensor::from_data(TensorData::new(values, data.shape.to_vec()), &DEVICE)
    }

    /// The mask the reference used, or (open_clip's own text tower, which takes none) all ones.
    pub fn mask(&self) -> Tensor<B, 2, Int> {
        if self.has("attention_mask") {
            self.int("attention_mask")
        } else {
            self.int("input_ids").ones_like()
        }
    }
}

pub fn max_abs_diff<const D: usize>(ours: Tensor<B, D>, theirs: Tensor<B, D>) -> f32 {
    assert_eq!(ours.dims(), theirs.dims());
    (ours - theirs).abs().max().into_scalar()
}
