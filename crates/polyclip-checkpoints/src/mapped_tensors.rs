//! Checkpoint tensors renamed to model paths by a [`KeyMap`], before they are put into a module (`apply`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::tensor::TensorData;

use crate::keymap::KeyMap;
use crate::tensors::TensorMap;

/// Checkpoint tensors renamed to model paths, still in the checkpoint's (PyTorch) layout.
#[derive(Debug, Clone, Default)]
pub struct MappedTensors {
    /// Model path → data (`…weight` / `…bias` names, PyTorch layouts).
    pub tensors: BTreeMap<String, TensorData>,
    /// Checkpoint keys no rule maps.
    pub unmapped: Vec<String>,
    /// The file they came from.
    pub source: PathBuf,
    /// The key tables the tensors were mapped with: reports name problems by checkpoint key through them.
    pub keymaps: Vec<KeyMap>,
}

impl KeyMap {
    /// Renames checkpoint tensors to model paths; unknown keys are kept as `unmapped`, ignored ones dropped.
    pub fn map_tensors(&self, tensors: TensorMap) -> MappedTensors {
        let mut mapped = MappedTensors {
            source: tensors.source,
            keymaps: vec![self.clone()],
            ..Default::default()
        };
        for (key, data) in tensors.tensors {
            if self.is_ignored(&key) {
                continue;
            }
            match self.to_model(&key) {
                Some(path) => {
                    mapped.tensors.insert(path, data);
                }
                None => mapped.unmapped.push(key),
            }
        }
        mapped
    }
}
