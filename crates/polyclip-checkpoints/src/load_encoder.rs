//! Loading a pretrained text encoder alone (see [`crate::families::hf_encoder`]) into a [`BertModel`].

use burn::tensor::backend::Backend;
use polyclip_models::bert::BertModel;
use polyclip_models::init::Initializer;

use crate::apply::{LoadReport, MappedTensors, apply_tensors};
use crate::error::CheckpointError;
use crate::families::hf_encoder::EncoderSpec;

/// Reads the encoder's weights into a `BertModel` without a pooling layer. Missing, unexpected and mis-shaped
/// keys fail the load, all listed in one error.
pub fn load_encoder<B: Backend>(
    spec: &EncoderSpec,
    device: &B::Device,
) -> Result<(BertModel<B>, LoadReport), CheckpointError> {
    let template = BertModel::init(&spec.config, false, &mut Initializer::zeros(device));
    let mapped: MappedTensors = spec.source.keymap.map_tensors(spec.source.read()?);
    apply_tensors(template, mapped, false)
}
