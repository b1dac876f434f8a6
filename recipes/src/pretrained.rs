//! `--model`: a pretrained two-tower checkpoint a run starts from instead of training its base stage, with its
//! tokenizer and its own image transform.

use std::path::PathBuf;

use burn::tensor::backend::AutodiffBackend;
use polyclip_checkpoints::{Architecture, LoadedModel};
use polyclip_data::{ClipPreprocess, TextTokenizer};
use polyclip_models::{ClipModel, ClipModelConfig};

use crate::announce::announce;
use crate::error::RecipeError;

/// A checkpoint to start from instead of training the base model.
#[derive(Debug, Clone)]
pub struct Pretrained {
    pub dir: PathBuf,
    /// A tokenizer.json to use instead of the folder's.
    pub tokenizer: Option<PathBuf>,
    pub allow_partial: bool,
}

/// A checkpoint loaded to start from, with its tokenizer.
pub struct PretrainedModel<B: AutodiffBackend> {
    pub dir: PathBuf,
    pub model: ClipModel<B>,
    pub config: ClipModelConfig,
    pub tokenizer: TextTokenizer,
    pub preprocess: ClipPreprocess,
}

impl Pretrained {
    /// Loads the checkpoint; a folder the recipe cannot use (a text encoder alone, no tokenizer) fails here.
    pub fn load<B: AutodiffBackend>(
        &self,
        device: &B::Device,
    ) -> Result<PretrainedModel<B>, RecipeError> {
        let loaded = polyclip_checkpoints::load::<B>(&self.dir, self.allow_partial, device)?;
        if !loaded.report.is_complete() {
            announce(&format!(
                "partial load of {}: {}",
                self.dir.display(),
                loaded.report.summary()
            ));
        }
        // The image transform is the checkpoint's own (open_clip's preprocess_cfg, HF's
        // preprocessor_config.json).
        let preprocess = loaded.spec.preprocess;
        let (LoadedModel::Dual(model), Architecture::Dual(config), Some(preprocess)) =
            (loaded.model, loaded.spec.architecture, preprocess)
        else {
            return Err(RecipeError::NotSupported {
                option: "--model",
                reason: format!(
                    "{} is a text encoder without an image tower; the recipe fine-tunes a two-tower CLIP",
                    self.dir.display()
                ),
            });
        };
        let text = loaded.spec.text;
        let path =
            self.tokenizer
                .clone()
                .or(text.tokenizer)
                .ok_or_else(|| RecipeError::NotSupported {
                    option: "--model",
                    reason: format!(
                        "{} has no tokenizer.json; add it to the folder or pass --tokenizer FILE",
                        self.dir.display()
                    ),
                })?;
        let tokenizer = TextTokenizer::from_file(&path, &text.pad_token, text.max_tokens)?
            .with_whitespace_cleaning(text.clean_whitespace);
        announce(&format!(
            "starting from {} ({:?} checkpoint)",
            self.dir.display(),
            loaded.spec.family
        ));
        Ok(PretrainedModel {
            dir: self.dir.clone(),
            model,
            config,
            tokenizer,
            preprocess,
        })
    }
}
