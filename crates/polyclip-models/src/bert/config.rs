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
    /// Without the key, transformers' class default: 1 for the RoBERTa family, 0 for BERT ([`Self::pad_token`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_token_id: Option<usize>,
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

    /// The padding id: `pad_token_id`, or where the config has none the default of its `model_type`'s class in
    /// transformers (`XLMRobertaConfig`, `RobertaConfig`, `CamembertConfig`: 1; `BertConfig`: 0).
    pub fn pad_token(&self) -> usize {
        self.pad_token_id
            .unwrap_or(usize::from(self.offsets_positions_by_padding()))
    }

    /// How many rows of the position table come before the first token's: `pad_token + 1` in the RoBERTa family
    /// (positions are numbered from there, padding keeps `pad_token`), 0 otherwise.
    pub fn position_offset(&self) -> usize {
        if self.offsets_positions_by_padding() {
            self.pad_token() + 1
        } else {
            0
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Without `pad_token_id`, each family's transformers class default: XLM-R, RoBERTa and CamemBERT pad with
    /// 1 and number positions from 2; BERT pads with 0 and numbers from 0.
    #[test]
    fn the_pad_token_defaults_to_the_model_types_class_default() {
        let read = |json: &str| serde_json::from_str::<BertConfig>(json).expect("config");
        for model_type in ["xlm-roberta", "roberta", "camembert"] {
            let config = read(&format!(r#"{{"model_type": "{model_type}"}}"#));
            assert_eq!(config.pad_token(), 1, "{model_type}");
            assert_eq!(config.position_offset(), 2, "{model_type}");
        }
        let bert = read(r#"{"model_type": "bert"}"#);
        assert_eq!((bert.pad_token(), bert.position_offset()), (0, 0));
        let stated = read(r#"{"model_type": "xlm-roberta", "pad_token_id": 3}"#);
        assert_eq!((stated.pad_token(), stated.position_offset()), (3, 4));
        // Written back as read: no key where the file had none.
        let json = serde_json::to_value(read(r#"{"model_type": "roberta"}"#)).expect("json");
        assert!(json.get("pad_token_id").is_none(), "{json}");
    }
}
