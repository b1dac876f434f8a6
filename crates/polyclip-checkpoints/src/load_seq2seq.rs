//! Loading an encoder-decoder folder: an mBART-50 translator or a vision-encoder / mBART-decoder captioner.

use polyclip_models::BuildModel;
use std::path::Path;

use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::Backend;
use polyclip_models::captioner::Captioner;
use polyclip_models::mbart::MBartForConditionalGeneration;

use crate::apply::{LoadReport, apply_tensors};
use crate::error::CheckpointError;
use crate::families::seq2seq::{self, Seq2SeqArchitecture, Seq2SeqSpec};

/// The weights file of polyclip's own captioner folders.
pub const CAPTIONER_WEIGHTS: &str = "model.mpk";

/// A loaded encoder-decoder (one per program: the variants' size difference does not matter).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Seq2SeqModel<B: Backend> {
    Translator(MBartForConditionalGeneration<B>),
    Captioner(Captioner<B>),
}

/// An encoder-decoder with what it was loaded from and how completely.
#[derive(Debug)]
pub struct LoadedSeq2Seq<B: Backend> {
    pub model: Seq2SeqModel<B>,
    pub spec: Seq2SeqSpec,
    pub report: LoadReport,
}

/// Loads the encoder-decoder in `dir` (see [`seq2seq::spec`] for the layouts). Missing, unexpected and
/// shape-mismatched keys fail the load, all listed in one error, unless `allow_partial`.
pub fn load_seq2seq<B: Backend>(
    dir: &Path,
    allow_partial: bool,
    device: &B::Device,
) -> Result<LoadedSeq2Seq<B>, CheckpointError> {
    let spec = seq2seq::spec(dir)?;
    let (model, report) = match (&spec.architecture, &spec.source) {
        (Seq2SeqArchitecture::Translator(config), Some(source)) => {
            let mapped = source.keymap.map_tensors(source.read()?);
            let (model, report) =
                apply_tensors(config.init_zeros::<B>(device)?, mapped, allow_partial)?;
            (Seq2SeqModel::Translator(model), report)
        }
        (Seq2SeqArchitecture::Captioner(config), Some(source)) => {
            let mapped = source.keymap.map_tensors(source.read()?);
            let (model, report) =
                apply_tensors(config.init_zeros::<B>(device)?, mapped, allow_partial)?;
            (Seq2SeqModel::Captioner(model), report)
        }
        (Seq2SeqArchitecture::Captioner(config), None) => {
            let weights = dir.join(CAPTIONER_WEIGHTS);
            let model = config
                .init_zeros::<B>(device)?
                .load_file(
                    weights.with_extension(""),
                    &NamedMpkFileRecorder::<FullPrecisionSettings>::new(),
                    device,
                )
                .map_err(|e| CheckpointError::parse(&weights, e))?;
            (Seq2SeqModel::Captioner(model), LoadReport::default())
        }
        (Seq2SeqArchitecture::Translator(_), None) => {
            return Err(CheckpointError::UnknownLayout {
                dir: dir.to_owned(),
                found: "an mBART config without weights".into(),
            });
        }
    };
    Ok(LoadedSeq2Seq {
        model,
        spec,
        report,
    })
}
