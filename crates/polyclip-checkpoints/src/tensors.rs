//! Reading and writing checkpoint tensors: safetensors (one file or an index of shards), PyTorch pickles
//! (`pytorch_model.bin`, open_clip's `.bin`) and Lightning `.ckpt` files (their `state_dict`). Every tensor is
//! converted to `f32` on the host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{DType, TensorData};
use burn_store::pytorch::PytorchReader;
use safetensors::{Dtype, SafeTensors};

use crate::error::CheckpointError;

/// The tensors of a checkpoint by name, in `f32`, and where they came from.
#[derive(Debug, Clone, Default)]
pub struct TensorMap {
    pub tensors: BTreeMap<String, TensorData>,
    pub source: PathBuf,
}

impl TensorMap {
    /// Reads a checkpoint file by its kind: `.safetensors`, `.safetensors.index.json` (shards), `.ckpt`
    /// (Lightning: the `state_dict`), anything else as a PyTorch pickle.
    pub fn read(path: &Path) -> Result<Self, CheckpointError> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(".safetensors.index.json") {
            Self::read_sharded(path)
        } else if name.ends_with(".safetensors") {
            Self::read_safetensors(path)
        } else if name.ends_with(".ckpt") {
            Self::read_pytorch(path, Some("state_dict"))
        } else {
            Self::read_pytorch(path, None)
        }
    }

    fn read_safetensors(path: &Path) -> Result<Self, CheckpointError> {
        let mut map = Self {
            tensors: BTreeMap::new(),
            source: path.to_owned(),
        };
        map.add_safetensors(path)?;
        Ok(map)
    }

    fn add_safetensors(&mut self, path: &Path) -> Result<(), CheckpointError> {
        let bytes = std::fs::read(path).map_err(|e| CheckpointError::io(path, e))?;
        let file = SafeTensors::deserialize(&bytes).map_err(|e| CheckpointError::parse(path, e))?;
        for (name, view) in file.tensors() {
            let shape = view.shape().to_vec();
            let data = view.data();
            let values: Vec<f32> = match view.dtype() {
                Dtype::F32 => data
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                Dtype::F16 => data
                    .chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
                Dtype::BF16 => data
                    .chunks_exact(2)
                    .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
                Dtype::F64 => data
                    .chunks_exact(8)
                    .map(|b| {
                        f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
                    })
                    .collect(),
                Dtype::U8 => data.iter().map(|&b| b as f32).collect(),
                Dtype::I64 => data
                    .chunks_exact(8)
                    .map(|b| {
                        i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
                    })
                    .collect(),
                other => {
                    return Err(CheckpointError::Tensor {
                        path: path.to_owned(),
                        key: name,
                        reason: format!("unsupported dtype {other:?}"),
                    });
                }
            };
            self.tensors.insert(name, TensorData::new(values, shape));
        }
        Ok(())
    }

    fn read_sharded(index: &Path) -> Result<Self, CheckpointError> {
        #[derive(serde::Deserialize)]
        struct Index {
            weight_map: BTreeMap<String, String>,
        }
        let text = std::fs::read_to_string(index).map_err(|e| CheckpointError::io(index, e))?;
        let parsed: Index =
            serde_json::from_str(&text).map_err(|e| CheckpointError::parse(index, e))?;
        let dir = index.parent().unwrap_or(Path::new("."));
        let mut shards: Vec<&String> = parsed.weight_map.values().collect();
        shards.sort();
        shards.dedup();
        let mut map = Self {
            tensors: BTreeMap::new(),
            source: index.to_owned(),
        };
        for shard in shards {
            map.add_safetensors(&dir.join(shard))?;
        }
        Ok(map)
    }

    fn read_pytorch(path: &Path, top_level_key: Option<&str>) -> Result<Self, CheckpointError> {
        let reader = match top_level_key {
            Some(key) => PytorchReader::with_top_level_key(path, key),
            None => PytorchReader::new(path),
        }
        .map_err(|e| CheckpointError::parse(path, e))?;
        let mut tensors = BTreeMap::new();
        for (name, snapshot) in reader.into_tensors() {
            let data = snapshot.to_data().map_err(|e| CheckpointError::Tensor {
                path: path.to_owned(),
                key: name.clone(),
                reason: format!("{e:?}"),
            })?;
            tensors.insert(name, to_f32(data));
        }
        Ok(Self {
            tensors,
            source: path.to_owned(),
        })
    }

    /// Writes the tensors as one `f32` safetensors file.
    pub fn write_safetensors(&self, path: &Path) -> Result<(), CheckpointError> {
        let owned: Vec<(String, Vec<u8>, Vec<usize>)> = self
            .tensors
            .iter()
            .map(|(name, data)| {
                let bytes = data.iter::<f32>().flat_map(f32::to_le_bytes).collect();
                (name.clone(), bytes, data.shape.to_vec())
            })
            .collect();
        let views = owned
            .iter()
            .map(|(name, bytes, shape)| {
                safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes)
                    .map(|view| (name.clone(), view))
                    .map_err(|e| CheckpointError::Tensor {
                        path: path.to_owned(),
                        key: name.clone(),
                        reason: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut metadata = std::collections::HashMap::new();
        metadata.insert("format".to_string(), "pt".to_string());
        safetensors::serialize_to_file(views, Some(metadata), path)
            .map_err(|e| CheckpointError::parse(path, e))
    }
}

/// Any tensor data as `f32`.
pub fn to_f32(data: TensorData) -> TensorData {
    if data.dtype == DType::F32 {
        data
    } else {
        data.convert::<f32>()
    }
}
