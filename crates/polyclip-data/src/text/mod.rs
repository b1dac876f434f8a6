//! Text into token ids: any tokenizer.json (CLIP BPE, WordPiece, SentencePiece-Unigram), mBART-50's
//! language-coded tokenizer, and training a small XLM-R-style tokenizer for a new language.

pub mod mbart_tokenizer;
pub mod tokenizer;
pub mod tokenizer_training;
