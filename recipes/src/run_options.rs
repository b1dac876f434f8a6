//! How to run a recipe: everything a run needs that is not in the recipe file (the run folder, resuming, the
//! bad-input policy, `--model`).

use std::path::PathBuf;

use polyclip_data::BadInputPolicy;

use crate::pretrained::Pretrained;

/// How to run a recipe (everything not in the recipe file).
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub run_dir: PathBuf,
    pub resume: bool,
    /// Resume a stage whose checkpoint was made with other settings (else refused, saying what differs).
    pub resume_anyway: bool,
    pub policy: BadInputPolicy,
    pub progress: bool,
    /// A pretrained checkpoint folder replacing the base stage (CAPIVARA starts from open_clip's
    /// xlm-roberta-base-ViT-B-32, or continues from CAPIVARA's own checkpoint).
    pub pretrained: Option<Pretrained>,
    /// `--devices`: contrastive stages train data-parallel on these (`None`: the backend's default device).
    pub devices: Option<polyclip_backend::DeviceList>,
    /// `--num-nodes` and the rest: this machine's place in a job of several (`None`: one machine).
    pub nodes: Option<polyclip_train::data_parallel::Nodes>,
}
