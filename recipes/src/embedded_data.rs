//! The embedded shapes dataset of a run, generated into the run folder the first time something needs it (a stage
//! whose language `[data] train` does not name, the held-out evaluation when there is no suite, a distillation
//! stage's parallel captions, a tokenizer trained on the captions) — a run on real data and a suite writes none.

use std::cell::OnceCell;
use std::path::PathBuf;

use polyclip_shapes::{ShapesDataset, ShapesSpec};

use crate::error::RecipeError;

/// The run's embedded dataset, materialised on first use.
pub struct EmbeddedData {
    spec: ShapesSpec,
    dir: PathBuf,
    dataset: OnceCell<ShapesDataset>,
}

impl EmbeddedData {
    /// The dataset `spec` would generate into `dir`.
    pub fn new(spec: ShapesSpec, dir: PathBuf) -> Self {
        Self {
            spec,
            dir,
            dataset: OnceCell::new(),
        }
    }

    /// The dataset, generated (or found complete) in its folder on the first call.
    pub fn get(&self) -> Result<&ShapesDataset, RecipeError> {
        if let Some(dataset) = self.dataset.get() {
            return Ok(dataset);
        }
        let dataset = ShapesDataset::materialize(&self.spec, &self.dir)?;
        Ok(self.dataset.get_or_init(|| dataset))
    }
}
