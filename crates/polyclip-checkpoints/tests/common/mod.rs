//! What the parity tests share: fixture folders and their `reference.safetensors`.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use polyclip_checkpoints::tensors::TensorMap;

/// The backend of the tests that run on one backend only.
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

/// Copies the folder `from` (its subfolders too) into the existing folder `to`: a fixture to alter in a tempdir.
pub fn copy_folder(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_folder(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A fixture's `reference.safetensors`: inputs and the Python reference's outputs, as tensors of backend `C` on
/// its device.
pub struct Reference<C: Backend = B> {
    pub tensors: TensorMap,
    device: C::Device,
}

impl Reference<B> {
    /// The reference as ndarray tensors.
    pub fn read(dir: &Path) -> Self {
        Self::read_on(dir, &DEVICE)
    }
}

impl<C: Backend> Reference<C> {
    /// The reference as tensors of `C` on `device`.
    pub fn read_on(dir: &Path, device: &C::Device) -> Self {
        Self {
            tensors: TensorMap::read(&dir.join("reference.safetensors")).expect("reference"),
            device: device.clone(),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.tensors.tensors.contains_key(name)
    }

    pub fn data(&self, name: &str) -> TensorData {
        self.tensors
            .tensors
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .clone()
    }

    pub fn float<const D: usize>(&self, name: &str) -> Tensor<C, D> {
        Tensor::from_data(self.data(name), &self.device)
    }

    pub fn int(&self, name: &str) -> Tensor<C, 2, Int> {
        let data = self.data(name);
        let values: Vec<i64> = data.iter::<f32>().map(|v| v as i64).collect();
        Tensor::from_data(TensorData::new(values, data.shape.to_vec()), &self.device)
    }

    /// The mask the reference used, or (open_clip's own text tower, which takes none) all ones.
    pub fn mask(&self) -> Tensor<C, 2, Int> {
        if self.has("attention_mask") {
            self.int("attention_mask")
        } else {
            self.int("input_ids").ones_like()
        }
    }
}

pub fn max_abs_diff<C: Backend, const D: usize>(ours: Tensor<C, D>, theirs: Tensor<C, D>) -> f32 {
    assert_eq!(ours.dims(), theirs.dims());
    (ours - theirs).abs().max().into_scalar().elem()
}
