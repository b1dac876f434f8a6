//! `BertConfig` / `XLMRobertaConfig`, field for field as Hugging Face's config.json names them.

use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::clip::config::check_heads;
use crate::error::ModelError;

/// A HF BERT-family config. Defaults are `bert-base-uncased`'s; XLM-R checkpoints state their own values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// `"bert"`, `"xlm-roberta"`, `"roberta"`, … (RoBERTa-style models offset positions by the padding id).
    #[serde(default = "defaults::model_type")]
    pub model_type: String,
    #[serde(default = "defaults::vocab_size")]
    pub vocab_size: usize,
    #[serde(default = "defaults::hidden_size")]
    pub hidden_size: usize,
    #[serde(default = "defaults::num_hidden_layers")]
    pub num_hidden_layers: usize,
    #[serde(default = "defaults::num_attention_heads")]
    pub num_attention_heads: usize,
    #[serde(default = "defaults::intermediate_size")]
    pub intermediate_size: usize,
    #[serde(default)]
    pub hidden_act: Activation,
    #[serde(default = "defaults::dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "defaults::dropout")]
    pub attention_probs_dropout_prob: f64,
    #[serde(default = "defaults::max_position_embeddings")]
    pub max_position_embeddings: usize,
    #[serde(default = "defaults::type_vocab_size")]
    pub type_vocab_size: usize,
    #[serde(default = "defaults::layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "defaults::initializer_range")]
    pub initializer_range: f64,
    #[serde(default)]
    pub pad_token_id: usize,
}

mod defaults {
    pub fn model_type() -> String {
        "bert".into()
    }
    pub fn vocab_size() -> usize {
        30522
    }
    pub fn hidden_size() -> usize {
        768
    }
    pub fn num_hidden_layers() -> usize {
        12
    }
    pub fn num_attention_heads() -> usize {
        12
    }
    pub fn intermediate_size() -> usize {
        3072
    }
    pub fn dropout() -> f64 {
        0.1
    }
    pub fn max_position_embeddings() -> usize {
        512
    }
    pub fn type_vocab_size() -> usize {
        2
    }
    pub fn layer_norm_eps() -> f64 {
        1e-12
    }
    pub fn initializer_range() -> f64 {
        0.02
    }
}

impl BertConfig {
    /// RoBERTa-family models number positions from `pad_token_id + 1` and skip padding.
    pub fn offsets_positions_by_padding(&self) -> bool {
        matches!(
            self.model_type.as_str(),
            "roberta" | "xlm-roberta" | "xlm_roberta" | "camembert"
        )
    }

    /// Checks the relations between fields that the model relies on.
    pub fn validate(&self) -> Result<(), ModelError> {
        check_heads(self.hidden_size, self.num_attention_heads)?;
        if self.type_vocab_size == 0 {
            return Err(ModelError::invalid(
                "type_vocab_size",
                0,
                "must be at least 1",
            ));
        }
        Ok(())
    }
}
