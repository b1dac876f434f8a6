//! `MBartConfig`, field for field as Hugging Face's config.json names it.

use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::clip::config::check_heads;
use crate::error::ModelError;

/// A HF mBART config. A key the file leaves out takes transformers' `MBartConfig` default, as
/// `from_pretrained` would give it (`scale_embedding` false, `vocab_size` 50 265, no `decoder_start_token_id`);
/// [`MBartConfig::default`] is `facebook/mbart-large-50`'s whole config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MBartConfig {
    #[serde(default = "defaults::vocab_size")]
    pub vocab_size: usize,
    #[serde(default = "defaults::d_model")]
    pub d_model: usize,
    #[serde(default = "defaults::layers")]
    pub encoder_layers: usize,
    #[serde(default = "defaults::layers")]
    pub decoder_layers: usize,
    #[serde(default = "defaults::heads")]
    pub encoder_attention_heads: usize,
    #[serde(default = "defaults::heads")]
    pub decoder_attention_heads: usize,
    #[serde(default = "defaults::ffn_dim")]
    pub encoder_ffn_dim: usize,
    #[serde(default = "defaults::ffn_dim")]
    pub decoder_ffn_dim: usize,
    /// Learned positions; the table holds `max_position_embeddings + 2` rows (mBART's offset of 2).
    #[serde(default = "defaults::max_position_embeddings")]
    pub max_position_embeddings: usize,
    #[serde(default)]
    pub activation_function: Activation,
    #[serde(default = "defaults::dropout")]
    pub dropout: f64,
    #[serde(default)]
    pub attention_dropout: f64,
    #[serde(default)]
    pub activation_dropout: f64,
    #[serde(default = "defaults::init_std")]
    pub init_std: f64,
    /// Token embeddings are multiplied by `√d_model`.
    #[serde(default)]
    pub scale_embedding: bool,
    /// The LM head is the token table (`lm_head.weight` = `model.shared.weight`); polyclip has no separate head.
    #[serde(default = "defaults::tie_word_embeddings")]
    pub tie_word_embeddings: bool,
    #[serde(default = "defaults::pad_token_id")]
    pub pad_token_id: usize,
    #[serde(default)]
    pub bos_token_id: usize,
    #[serde(default = "defaults::eos_token_id")]
    pub eos_token_id: usize,
    /// The first decoder input (`</s>` for mBART-50); without it generation starts from `bos_token_id`, as
    /// transformers' `generate` does ([`MBartConfig::decoder_start`]).
    #[serde(default)]
    pub decoder_start_token_id: Option<usize>,
    /// The token generation must emit first: the target language code (`pt_XX`), usually set per call.
    #[serde(default)]
    pub forced_bos_token_id: Option<usize>,
    /// The token generation must emit at `max_length` (`</s>`).
    #[serde(default = "defaults::forced_eos_token_id")]
    pub forced_eos_token_id: Option<usize>,
}

mod defaults {
    pub fn vocab_size() -> usize {
        50265
    }
    pub fn tie_word_embeddings() -> bool {
        true
    }
    pub fn d_model() -> usize {
        1024
    }
    pub fn layers() -> usize {
        12
    }
    pub fn heads() -> usize {
        16
    }
    pub fn ffn_dim() -> usize {
        4096
    }
    pub fn max_position_embeddings() -> usize {
        1024
    }
    pub fn dropout() -> f64 {
        0.1
    }
    pub fn init_std() -> f64 {
        0.02
    }
    pub fn pad_token_id() -> usize {
        1
    }
    pub fn eos_token_id() -> usize {
        2
    }
    pub fn forced_eos_token_id() -> Option<usize> {
        Some(2)
    }
}

impl Default for MBartConfig {
    /// `facebook/mbart-large-50`'s config.
    fn default() -> Self {
        Self {
            vocab_size: 250054,
            d_model: defaults::d_model(),
            encoder_layers: defaults::layers(),
            decoder_layers: defaults::layers(),
            encoder_attention_heads: defaults::heads(),
            decoder_attention_heads: defaults::heads(),
            encoder_ffn_dim: defaults::ffn_dim(),
            decoder_ffn_dim: defaults::ffn_dim(),
            max_position_embeddings: defaults::max_position_embeddings(),
            activation_function: Activation::default(),
            dropout: defaults::dropout(),
            attention_dropout: 0.0,
            activation_dropout: 0.0,
            init_std: defaults::init_std(),
            scale_embedding: true,
            tie_word_embeddings: true,
            pad_token_id: defaults::pad_token_id(),
            bos_token_id: 0,
            eos_token_id: defaults::eos_token_id(),
            decoder_start_token_id: Some(defaults::eos_token_id()),
            forced_bos_token_id: None,
            forced_eos_token_id: defaults::forced_eos_token_id(),
        }
    }
}

/// mBART's learned positions start at this row of `embed_positions` (fairseq's padding offset).
pub const POSITION_OFFSET: usize = 2;

/// mBART's LayerNorms use PyTorch's default epsilon.
pub const LAYER_NORM_EPS: f64 = 1e-5;

impl MBartConfig {
    /// `√d_model` when `scale_embedding`, else 1.
    pub fn embed_scale(&self) -> f64 {
        if self.scale_embedding {
            (self.d_model as f64).sqrt()
        } else {
            1.0
        }
    }

    /// The first decoder input: `decoder_start_token_id`, or `bos_token_id` where the config has none.
    pub fn decoder_start(&self) -> usize {
        self.decoder_start_token_id.unwrap_or(self.bos_token_id)
    }

    /// Checks the relations between fields that the model relies on.
    pub fn validate(&self) -> Result<(), ModelError> {
        check_heads(self.d_model, self.encoder_attention_heads)?;
        check_heads(self.d_model, self.decoder_attention_heads)?;
        if !self.tie_word_embeddings {
            return Err(ModelError::invalid(
                "tie_word_embeddings",
                false,
                "an LM head apart from the token table is not supported",
            ));
        }
        for (key, id) in [
            ("pad_token_id", self.pad_token_id),
            ("eos_token_id", self.eos_token_id),
            ("bos_token_id", self.bos_token_id),
            ("decoder_start_token_id", self.decoder_start()),
        ] {
            if id >= self.vocab_size {
                return Err(ModelError::invalid(
                    key,
                    id,
                    format!("must be below vocab_size {}", self.vocab_size),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys a config.json leaves out take transformers' `MBartConfig` defaults, not mbart-large-50's values.
    #[test]
    fn missing_keys_read_as_transformers_defaults() {
        let config: MBartConfig =
            serde_json::from_str(r#"{"d_model": 32, "bos_token_id": 0}"#).expect("config");
        assert!(!config.scale_embedding);
        assert_eq!(config.embed_scale(), 1.0);
        assert_eq!(config.vocab_size, 50265);
        assert!(config.tie_word_embeddings);
        assert_eq!(config.decoder_start_token_id, None);
        assert_eq!(
            config.decoder_start(),
            0,
            "generate starts from bos_token_id"
        );
        let stated: MBartConfig = serde_json::from_str(
            r#"{"scale_embedding": true, "decoder_start_token_id": 2, "bos_token_id": 0}"#,
        )
        .expect("config");
        assert_eq!(stated.decoder_start(), 2);
        assert_eq!(stated.embed_scale(), 32.0);
        assert_eq!(MBartConfig::default().decoder_start(), 2);
        assert!(MBartConfig::default().scale_embedding);
    }

    /// polyclip ties the LM head to the token table; a checkpoint with its own head is refused, not loaded
    /// with its head dropped.
    #[test]
    fn an_untied_lm_head_is_refused() {
        let config: MBartConfig = serde_json::from_str(
            r#"{"d_model": 32, "encoder_attention_heads": 4, "decoder_attention_heads": 4, "vocab_size": 64, "tie_word_embeddings": false}"#,
        )
        .expect("config");
        let error = config.validate().expect_err("must be refused");
        assert_eq!(
            error.to_string(),
            "invalid model config: `tie_word_embeddings` = false: an LM head apart from the token table \
             is not supported"
        );
    }
}
