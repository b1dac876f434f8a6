//! `GenerationConfig`, with the key names of Hugging Face's generation_config.json.

use serde::{Deserialize, Serialize};

/// When beam search stops (HF's `early_stopping`: `true`, `false` or `"never"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EarlyStopping {
    /// `true`: as soon as `num_beams` hypotheses are finished; `false`: when no running beam can still beat
    /// the finished ones by HF's heuristic.
    Flag(bool),
    /// `"never"`: the canonical beam search (estimates the best score at `max_length`).
    Never(NeverStop),
}

impl Default for EarlyStopping {
    /// HF's default, `false`.
    fn default() -> Self {
        Self::Flag(false)
    }
}

/// The string `"never"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NeverStop {
    Never,
}

impl EarlyStopping {
    /// `early_stopping == True`.
    pub fn is_true(self) -> bool {
        matches!(self, Self::Flag(true))
    }

    /// `early_stopping == "never"`.
    pub fn is_never(self) -> bool {
        matches!(self, Self::Never(_))
    }
}

/// How to generate: greedy when `num_beams` is 1, beam search otherwise (no sampling).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationConfig {
    /// Largest length of a generated sequence, the decoder start token included.
    #[serde(default = "defaults::max_length")]
    pub max_length: usize,
    #[serde(default = "defaults::num_beams")]
    pub num_beams: usize,
    /// Finished beams are scored `sum(log p) / length^length_penalty`.
    #[serde(default = "defaults::length_penalty")]
    pub length_penalty: f64,
    #[serde(default)]
    pub early_stopping: EarlyStopping,
    /// No n-gram of this size occurs twice in a sequence (0: off).
    #[serde(default)]
    pub no_repeat_ngram_size: usize,
    pub decoder_start_token_id: usize,
    /// Forced as the first generated token (mBART-50: the target language code).
    #[serde(default)]
    pub forced_bos_token_id: Option<usize>,
    /// Forced as the last token when `max_length` is reached.
    #[serde(default)]
    pub forced_eos_token_id: Option<usize>,
    pub eos_token_id: usize,
    pub pad_token_id: usize,
    /// Decode one new position per step against cached keys and values (otherwise the whole prefix again).
    #[serde(default = "defaults::use_cache")]
    pub use_cache: bool,
}

mod defaults {
    pub fn max_length() -> usize {
        64
    }
    pub fn num_beams() -> usize {
        1
    }
    pub fn length_penalty() -> f64 {
        1.0
    }
    pub fn use_cache() -> bool {
        true
    }
}

impl GenerationConfig {
    /// The settings an mBART config implies (its start, end, padding and forced tokens), greedy, 64 tokens.
    pub fn for_mbart(config: &crate::mbart::MBartConfig) -> Self {
        Self {
            max_length: defaults::max_length(),
            num_beams: 1,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::default(),
            no_repeat_ngram_size: 0,
            decoder_start_token_id: config.decoder_start(),
            forced_bos_token_id: config.forced_bos_token_id,
            forced_eos_token_id: config.forced_eos_token_id,
            eos_token_id: config.eos_token_id,
            pad_token_id: config.pad_token_id,
            use_cache: true,
        }
    }
}
