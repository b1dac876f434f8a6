//! Evaluation as the methods' papers did it: cross-modal retrieval with CLIP_benchmark semantics (R@1/5/10 both
//! ways, several captions per image, mean recall), zero-shot classification with prompt-template ensembles,
//! caption metrics (BLEU-1..4 as the captioner seed computed it, CIDEr as pycocoevalcap, on NLTK's word
//! tokens), and the run artefacts: `report.json`, a markdown table and a PNG of the training curves.

pub mod bleu;
pub mod captioning;
pub mod cider;
pub mod encode;
pub mod error;
pub mod plot;
pub mod report;
pub mod retrieval;
pub mod similarity;
pub mod suite;
pub mod word_tokenize;
pub mod zeroshot;

pub use error::EvalError;
pub use retrieval::{RetrievalMetrics, RetrievalSet};
pub use zeroshot::ZeroShotMetrics;
