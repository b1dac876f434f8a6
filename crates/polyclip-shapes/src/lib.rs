//! The embedded dataset: pictures of coloured shapes with captions in en, pt, it, es, de, fr and hi, generated
//! deterministically from a seed (no download), with a held-out split that contains (colour, kind) pairs never
//! seen in training, zero-shot label sets with prompt templates per language, and a shipped tokenizer (trained
//! on the first six languages; [`tokenizer_corpus_for`] gives the texts to train one for any languages).
//!
//! It stands in for the methods' data: several phrasings per picture play the original and synthetic captions,
//! English plays the high-resource language the base model knows, Portuguese the low-resource target, Hindi a
//! further low-resource language in another script.

pub mod captions;
pub mod labels;
pub mod lexicon;
pub mod materialize;
pub mod render;
pub mod scene;

pub use captions::captions;
pub use labels::{LabelSet, class_names, label_of, templates};
pub use materialize::{
    ShapesDataset, ShapesSpec, shapes_mbart_tokenizer, shapes_tokenizer, tokenizer_corpus,
    tokenizer_corpus_for,
};
pub use render::render;
pub use scene::{Lang, Scene, SceneSampler, Split};
