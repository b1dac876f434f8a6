//! Zero-shot classification label sets of the embedded dataset: class names (noun phrases with their article,
//! as ImageNet class names are written; Hindi: with एक) and prompt templates, per language.

use crate::lexicon::{
    Case, Gender, Number, color_adjective, german_ending, numeral, shape_noun, shape_word,
};
use crate::scene::{Color, Lang, Scene, ShapeKind};

/// What a label set classifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LabelSet {
    Shape,
    Color,
    Count,
}

impl LabelSet {
    pub const ALL: [LabelSet; 3] = [LabelSet::Shape, LabelSet::Color, LabelSet::Count];

    /// The set's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            LabelSet::Shape => "Shape",
            LabelSet::Color => "Color",
            LabelSet::Count => "Count",
        }
    }
}

fn article(lang: Lang, gender: Gender, next_word: &str) -> &'static str {
    match lang {
        Lang::En if next_word.starts_with(['a', 'e', 'i', 'o', 'u']) => "an",
        Lang::En => "a",
        _ => numeral(lang, 1, gender),
    }
}

/// The class names of a label set in `lang`, in the order of `ShapeKind::ALL`, `Color::ALL`, or counts 1–3.
pub fn class_names(set: LabelSet, lang: Lang) -> Vec<String> {
    match set {
        LabelSet::Shape => ShapeKind::ALL
            .iter()
            .map(|&kind| {
                let noun = shape_noun(lang, kind);
                format!(
                    "{} {}",
                    article(lang, noun.gender, noun.singular),
                    noun.singular
                )
            })
            .collect(),
        LabelSet::Color => Color::ALL
            .iter()
            .map(|&color| {
                let noun = shape_word(lang);
                let adjective = color_adjective(lang, color).agree(noun.gender, Number::Singular);
                match lang {
                    Lang::En | Lang::Hi => format!(
                        "{} {adjective} {}",
                        article(lang, noun.gender, adjective),
                        noun.singular
                    ),
                    Lang::De => format!(
                        "eine {adjective}{} {}",
                        german_ending(noun.gender, Number::Singular, Case::Nominative),
                        noun.singular
                    ),
                    _ => format!(
                        "{} {} {adjective}",
                        article(lang, noun.gender, ""),
                        noun.singular
                    ),
                }
            })
            .collect(),
        LabelSet::Count => (1..=3u8)
            .map(|count| {
                let noun = shape_word(lang);
                let word = if count == 1 {
                    noun.singular
                } else {
                    noun.plural
                };
                format!("{} {word}", numeral(lang, count, noun.gender))
            })
            .collect(),
    }
}

/// Prompt templates in `lang`, each with one `{}` for a class name (written so that nominative class names
/// fit: German templates need no case, French ones avoid "de" + article, Hindi ones follow the name with no
/// postposition, which would need the oblique "एक तारे", and with no verb, which would agree with it). They end
/// without a full stop, as the captions do: the embedded tokenizer splits on spaces only, so "circle." would be a
/// token that no training caption contains.
pub fn templates(lang: Lang) -> Vec<&'static str> {
    match lang {
        Lang::En => vec![
            "a picture of {}",
            "an image with {}",
            "a drawing of {}",
            "{} on a plain background",
        ],
        Lang::Pt => vec![
            "uma imagem de {}",
            "uma foto com {}",
            "um desenho de {}",
            "{} sobre um fundo liso",
        ],
        Lang::It => vec![
            "un'immagine di {}",
            "una foto con {}",
            "un disegno di {}",
            "{} su uno sfondo uniforme",
        ],
        Lang::Es => vec![
            "una imagen de {}",
            "una foto con {}",
            "un dibujo de {}",
            "{} sobre un fondo liso",
        ],
        Lang::De => vec![
            "{}",
            "Bild: {}",
            "{} auf einem Bild",
            "{} auf einfarbigem Hintergrund",
        ],
        Lang::Fr => vec![
            "une photo avec {}",
            "un dessin avec {}",
            "{} sur une image",
            "{} sur un fond uni",
        ],
        Lang::Hi => vec![
            "तस्वीर में {}",
            "चित्र: {}",
            "रेखाचित्र में {}",
            "सादी पृष्ठभूमि पर {}",
        ],
    }
}

/// The class of a one-group scene in a label set (`None` for two-group scenes).
pub fn label_of(scene: &Scene, set: LabelSet) -> Option<usize> {
    let [group] = scene.groups.as_slice() else {
        return None;
    };
    match set {
        LabelSet::Shape => ShapeKind::ALL.iter().position(|&k| k == group.kind),
        LabelSet::Color => Color::ALL.iter().position(|&c| c == group.color),
        LabelSet::Count => Some(group.count as usize - 1),
    }
}
