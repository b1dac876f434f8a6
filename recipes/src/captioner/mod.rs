//! The multilingual captioner recipe (CLIP-Vision-mBART50): a CLIP vision encoder feeding an mBART-50
//! decoder, trained end to end with masked cross-entropy on captions of several languages mixed in every
//! batch (CLIP-Vision-mBART50's TSV: `image_file, caption, lang_id`), AdamW with linear warm-up and decay, then evaluated
//! per language with beam search and BLEU-1..4 (CLIP-Vision-mBART50's table) and CIDEr.

pub mod cli;
pub mod config;
pub mod report;
pub mod run;

pub use config::CaptionerRecipe;
pub use run::{CaptionerJob, CaptionerOptions, run_captioner};
