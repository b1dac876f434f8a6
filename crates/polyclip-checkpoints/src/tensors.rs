//! Reading and writing checkpoint tensors: safetensors (one file or an index of shards), PyTorch pickles
//! (`pytorch_model.bin`, open_clip's `.bin`), Lightning `.ckpt` files (their `state_dict`) and Flax
//! `flax_model.msgpack` files (their parameter tree, keys joined with `.`). Every tensor is converted to `f32`
//! on the host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{DType, TensorData};
use burn_store::pytorch::PytorchReader;
use safetensors::{Dtype, SafeTensors};

use crate::error::CheckpointError;
use crate::msgpack;

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
        } else if name.ends_with(".msgpack") {
            Self::read_flax(path)
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

    fn read_flax(path: &Path) -> Result<Self, CheckpointError> {
        let bytes = std::fs::read(path).map_err(|e| CheckpointError::io(path, e))?;
        let tree = msgpack::decode(&bytes).map_err(|e| CheckpointError::parse(path, e))?;
        let mut map = Self {
            tensors: BTreeMap::new(),
            source: path.to_owned(),
        };
        map.add_flax_tree(String::new(), &tree)?;
        Ok(map)
    }

    /// Walks a Flax parameter tree: maps are modules, extension values (and chunked-array maps) are arrays.
    fn add_flax_tree(&mut self, key: String, node: &msgpack::Value) -> Result<(), CheckpointError> {
        let source = self.source.clone();
        let bad = |reason: String| CheckpointError::Tensor {
            path: source.clone(),
            key: key.clone(),
            reason,
        };
        match node {
            msgpack::Value::Map(entries)
                if flax_field(entries, "__msgpack_chunked_array__").is_some() =>
            {
                let data = flax_chunked_array(entries).map_err(bad)?;
                self.tensors.insert(key, data);
            }
            msgpack::Value::Map(entries) => {
                for (name, child) in entries {
                    let msgpack::Value::Str(name) = name else {
                        return Err(bad(format!("a non-string key {name:?}")));
                    };
                    let child_key = if key.is_empty() {
                        name.clone()
                    } else {
                        format!("{key}.{name}")
                    };
                    self.add_flax_tree(child_key, child)?;
                }
            }
            msgpack::Value::Ext(kind, payload) => {
                let data = flax_array(*kind, payload).map_err(bad)?;
                self.tensors.insert(key, data);
            }
            other => return Err(bad(format!("not an array or a module: {other:?}"))),
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

/// The value of `name` in a msgpack map.
fn flax_field<'a>(
    entries: &'a [(msgpack::Value, msgpack::Value)],
    name: &str,
) -> Option<&'a msgpack::Value> {
    entries
        .iter()
        .find(|(key, _)| matches!(key, msgpack::Value::Str(k) if k == name))
        .map(|(_, value)| value)
}

/// flax.serialization's array: extension 1 (3: a NumPy scalar) holding msgpack `(shape, dtype name, bytes)`.
fn flax_array(kind: i8, payload: &[u8]) -> Result<TensorData, String> {
    if kind != 1 && kind != 3 {
        return Err(format!("extension type {kind} is not an array"));
    }
    let msgpack::Value::Array(parts) = msgpack::decode(payload).map_err(|e| e.to_string())? else {
        return Err("array payload is not (shape, dtype, bytes)".into());
    };
    let [
        msgpack::Value::Array(shape),
        dtype,
        msgpack::Value::Bin(buffer),
    ] = parts.as_slice()
    else {
        return Err("array payload is not (shape, dtype, bytes)".into());
    };
    let shape: Vec<usize> = shape
        .iter()
        .map(|dim| match dim {
            msgpack::Value::Int(n) => usize::try_from(*n).map_err(|_| format!("dimension {n}")),
            other => Err(format!("dimension {other:?}")),
        })
        .collect::<Result<_, _>>()?;
    let dtype = match dtype {
        msgpack::Value::Str(name) => name.clone(),
        msgpack::Value::Bin(name) => String::from_utf8_lossy(name).into_owned(),
        other => return Err(format!("dtype {other:?}")),
    };
    let values = f32_values(&dtype, buffer)?;
    if values.len() != shape.iter().product::<usize>() {
        return Err(format!("{} values for shape {shape:?}", values.len()));
    }
    Ok(TensorData::new(values, shape))
}

/// flax.serialization's form of arrays over 1 GiB: `{"__msgpack_chunked_array__", "shape", "chunks"}`, the
/// tuples written as maps from "0", "1", ….
fn flax_chunked_array(entries: &[(msgpack::Value, msgpack::Value)]) -> Result<TensorData, String> {
    let numbered = |value: Option<&msgpack::Value>| -> Result<Vec<msgpack::Value>, String> {
        let Some(msgpack::Value::Map(items)) = value else {
            return Err("chunked array without its shape or chunks".into());
        };
        (0..items.len())
            .map(|i| {
                flax_field(items, &i.to_string())
                    .cloned()
                    .ok_or_else(|| format!("chunked array misses item {i}"))
            })
            .collect()
    };
    let shape: Vec<usize> = numbered(flax_field(entries, "shape"))?
        .into_iter()
        .map(|dim| match dim {
            msgpack::Value::Int(n) => usize::try_from(n).map_err(|_| format!("dimension {n}")),
            other => Err(format!("dimension {other:?}")),
        })
        .collect::<Result<_, _>>()?;
    let mut values = Vec::new();
    for chunk in numbered(flax_field(entries, "chunks"))? {
        let msgpack::Value::Ext(kind, payload) = chunk else {
            return Err("a chunk is not an array".into());
        };
        values.extend(flax_array(kind, &payload)?.iter::<f32>());
    }
    if values.len() != shape.iter().product::<usize>() {
        return Err(format!("{} values for shape {shape:?}", values.len()));
    }
    Ok(TensorData::new(values, shape))
}

/// Little-endian values of a NumPy dtype, as `f32`.
fn f32_values(dtype: &str, bytes: &[u8]) -> Result<Vec<f32>, String> {
    Ok(match dtype {
        "float32" => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        "float16" => bytes
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        "bfloat16" => bytes
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        "float64" => bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect(),
        "int32" => bytes
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32)
            .collect(),
        "int64" => bytes
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect(),
        other => return Err(format!("unsupported dtype {other}")),
    })
}

/// Any tensor data as `f32`.
pub fn to_f32(data: TensorData) -> TensorData {
    if data.dtype == DType::F32 {
        data
    } else {
        data.convert::<f32>()
    }
}
