//! Evaluation as the seeds' papers did it: cross-modal retrieval with CLIP_benchmark semantics (R@1/5/10 both
//! ways, several captions per image, mean recall), zero-shot classification with prompt-template ensembles,
//! and the run artefacts: `report.json`, a markdown table and a PNG of the training curves.

pub mod encode;
pub mod error;
pub mod plot;
pub mod report;
pub mod retrieval;
pub mod zeroshot;

pub use error::EvalError;
pub use retrieval::{RetrievalMetrics, RetrievalSet};
pub use zeroshot::ZeroShotMetrics;
