//! Loading a checkpoint folder into a polyclip model.

use polyclip_models::BuildModel;
use std::path::Path;

use burn::tensor::backend::Backend;
use polyclip_models::{ClipModel, TextModel};

use crate::apply::{LoadReport, MappedTensors, apply_tensors};
use crate::error::CheckpointError;
use crate::families::{Architecture, Family, ModelSpec, detect, native};

/// A loaded model: both towers, or a text tower alone (M-CLIP). One per program: the variants' size difference
/// does not matter.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum LoadedModel<B: Backend> {
    Dual(ClipModel<B>),
    Text(TextModel<B>),
}

/// A model with what it was loaded from and how completely.
#[derive(Debug)]
pub struct Loaded<B: Backend> {
    pub model: LoadedModel<B>,
    pub spec: ModelSpec,
    pub report: LoadReport,
}

/// Loads the checkpoint in `dir` (see [`detect`] for the layouts). Missing, unexpected and shape-mismatched
/// keys fail the load, all listed in one error, unless `allow_partial` (then they are in the report).
pub fn load<B: Backend>(
    dir: &Path,
    allow_partial: bool,
    device: &B::Device,
) -> Result<Loaded<B>, CheckpointError> {
    let spec = detect(dir)?;
    if let (Family::Polyclip, Architecture::Dual(config)) = (spec.family, &spec.architecture) {
        let model = native::load_weights::<B>(dir, config, device)?;
        return Ok(Loaded {
            model: LoadedModel::Dual(model),
            spec,
            report: LoadReport::default(),
        });
    }
    let mut mapped = MappedTensors {
        source: spec
            .sources
            .first()
            .map(|source| source.file.clone())
            .unwrap_or_else(|| dir.to_owned()),
        ..MappedTensors::default()
    };
    for source in &spec.sources {
        let part = source.keymap.map_tensors(source.read()?);
        mapped.tensors.extend(part.tensors);
        mapped.unmapped.extend(part.unmapped);
        mapped.keymaps.extend(part.keymaps);
    }
    let (model, report) = match &spec.architecture {
        Architecture::Dual(config) => {
            let (model, report) =
                apply_tensors(config.init_zeros::<B>(device)?, mapped, allow_partial)?;
            (LoadedModel::Dual(model), report)
        }
        Architecture::Text(config) => {
            let (model, report) =
                apply_tensors(config.init_zeros::<B>(device)?, mapped, allow_partial)?;
            (LoadedModel::Text(model), report)
        }
    };
    Ok(Loaded {
        model,
        spec,
        report,
    })
}
