//! A zero-shot classification set: class names, prompt templates, and the true class of every image.

/// Class names, templates (each with one `{}`), and the true class of every image of a set.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationSet {
    pub name: String,
    pub classnames: Vec<String>,
    pub templates: Vec<String>,
    pub labels: Vec<usize>,
}
