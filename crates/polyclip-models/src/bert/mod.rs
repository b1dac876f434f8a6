//! The BERT / XLM-RoBERTa encoder family in the Hugging Face layout (`embeddings.*`, `encoder.layer.{i}.*`,
//! `pooler.dense`): post-LN blocks with padding masks. One implementation serves both; `model_type` decides
//! how position ids are formed.

pub mod config;
pub mod model;

pub use config::BertConfig;
pub use model::{BertModel, BertOutput};
