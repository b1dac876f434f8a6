//! Natural captions of a [`Scene`] in seven languages, several phrasings each.
//!
//! Every phrasing names, for every group, its count, colour and kind; size, region and background appear in
//! some phrasings only. Captions start in lower case (German nouns keep their capital). The first two phrasings
//! stand for a dataset's original captions, the rest for generated (synthetic) ones, as CAPIVARA mixes them.
//! Hindi phrasings follow Hindi word order: places before what is there ("काली पृष्ठभूमि पर …", "बाईं ओर …"),
//! postpositions after oblique noun phrases ("… की तस्वीर"), the copula last ("… है/हैं").

use crate::lexicon::{
    Case, Gender, Number, background_adjective, color_adjective, conjunction,
    german_dative_article, german_ending, numeral, region_phrase, shape_noun, size_adjective,
};
use crate::scene::{Group, Lang, Scene};

/// How many phrasings [`captions`] returns per scene.
pub const PHRASINGS: usize = 5;
/// How many of them stand for original (human) captions.
pub const ORIGINAL_PHRASINGS: usize = 2;

/// What a noun phrase includes.
#[derive(Debug, Clone, Copy)]
struct Style {
    size: bool,
    region: bool,
    /// English singular: "one" rather than "a"/"an".
    numeral_one: bool,
    case: Case,
}

const PLAIN: Style = Style {
    size: false,
    region: false,
    numeral_one: false,
    case: Case::Nominative,
};

/// The noun phrase of one group, e.g. "two small red circles on the left", "uma estrela amarela",
/// "einem großen gelben Stern", "बाईं ओर दो छोटे लाल वृत्त", "एक पीले तारे" (oblique).
fn noun_phrase(lang: Lang, group: &Group, style: Style) -> String {
    let noun = shape_noun(lang, group.kind);
    let number = if group.count == 1 {
        Number::Singular
    } else {
        Number::Plural
    };
    let color = color_adjective(lang, group.color).decline(noun.gender, number, style.case);
    let size = style
        .size
        .then(|| size_adjective(lang, group.size).decline(noun.gender, number, style.case));
    let noun_word = match number {
        Number::Singular if style.case == Case::Oblique => noun.oblique_singular,
        Number::Singular => noun.singular,
        Number::Plural if lang == Lang::De && style.case == Case::Dative => noun.dative_plural,
        Number::Plural if style.case == Case::Oblique => noun.oblique_plural,
        Number::Plural => noun.plural,
    };
    let mut region = style.region.then(|| region_phrase(lang, group.region));
    let mut words: Vec<String> = Vec::new();
    match lang {
        Lang::En => {
            let adjectives: Vec<&str> = size.into_iter().chain([color]).collect();
            let count = if group.count == 1 && !style.numeral_one {
                if adjectives[0].starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                }
            } else {
                numeral(lang, group.count, noun.gender)
            };
            words.push(count.into());
            words.extend(adjectives.iter().map(|w| w.to_string()));
            words.push(noun_word.into());
        }
        Lang::De => {
            let count = if group.count == 1 && style.case == Case::Dative {
                german_dative_article(noun.gender)
            } else {
                numeral(lang, group.count, noun.gender)
            };
            let ending = german_ending(noun.gender, number, style.case);
            words.push(count.into());
            words.extend(size.map(|stem| format!("{stem}{ending}")));
            words.push(format!("{color}{ending}"));
            words.push(noun_word.into());
        }
        Lang::Pt | Lang::It | Lang::Es | Lang::Fr => {
            words.push(numeral(lang, group.count, noun.gender).into());
            words.extend(size.map(str::to_string));
            words.push(noun_word.into());
            words.push(color.into());
        }
        Lang::Hi => {
            // The place comes first: "बाईं ओर दो छोटे लाल वृत्त".
            words.extend(region.take().map(str::to_string));
            words.push(numeral(lang, group.count, noun.gender).into());
            words.extend(size.map(str::to_string));
            words.push(color.into());
            words.push(noun_word.into());
        }
    }
    words.extend(region.map(str::to_string));
    words.join(" ")
}

/// The groups' noun phrases joined with "and".
fn groups(lang: Lang, scene: &Scene, style: Style) -> String {
    let phrases: Vec<String> = scene
        .groups
        .iter()
        .map(|group| noun_phrase(lang, group, style))
        .collect();
    phrases.join(&format!(" {} ", conjunction(lang)))
}

/// More than one shape in the picture (verb agreement in "there is/are", "c'è/ci sono", "ist/sind", "है/हैं").
fn several(scene: &Scene) -> bool {
    scene.groups.iter().map(|g| g.count as usize).sum::<usize>() > 1
}

/// Hindi: the copula agreeing with a number of shapes, "है" for one, "हैं" for more.
fn hindi_copula(several: bool) -> &'static str {
    if several { "हैं" } else { "है" }
}

/// Hindi: one clause per group, each with its own copula, joined with "और": "बाईं ओर दो छोटे लाल वृत्त हैं और
/// दाईं ओर एक बड़ा पीला तारा है".
fn hindi_clauses(scene: &Scene, style: Style) -> String {
    let clauses: Vec<String> = scene
        .groups
        .iter()
        .map(|group| {
            format!(
                "{} {}",
                noun_phrase(Lang::Hi, group, style),
                hindi_copula(group.count > 1)
            )
        })
        .collect();
    clauses.join(&format!(" {} ", conjunction(Lang::Hi)))
}

/// [`PHRASINGS`] captions of `scene` in `lang`.
pub fn captions(scene: &Scene, lang: Lang) -> Vec<String> {
    let bg = background_adjective(lang, scene.background);
    let full = Style {
        size: true,
        region: true,
        ..PLAIN
    };
    let sized = Style {
        size: true,
        ..PLAIN
    };
    let one = Style {
        numeral_one: true,
        ..PLAIN
    };
    let plain = groups(lang, scene, PLAIN);
    match lang {
        Lang::En => vec![
            format!("{}, on a {bg} background", groups(lang, scene, full)),
            format!("a {bg} background with {plain}"),
            format!("a picture of {}", groups(lang, scene, one)),
            format!("{} on a {bg} background", groups(lang, scene, sized)),
            format!(
                "there {} {plain}",
                if scene.groups[0].count > 1 {
                    "are"
                } else {
                    "is"
                }
            ),
        ],
        Lang::Pt => vec![
            format!("{}, sobre um fundo {bg}", groups(lang, scene, full)),
            format!("um fundo {bg} com {plain}"),
            format!("uma imagem de {plain}"),
            format!("{} em um fundo {bg}", groups(lang, scene, sized)),
            format!("há {plain} na imagem"),
        ],
        Lang::It => vec![
            format!("{}, su sfondo {bg}", groups(lang, scene, full)),
            format!("uno sfondo {bg} con {plain}"),
            format!("un'immagine di {plain}"),
            format!("{} su uno sfondo {bg}", groups(lang, scene, sized)),
            format!("{} {plain}", if several(scene) { "ci sono" } else { "c'è" }),
        ],
        Lang::Es => vec![
            format!("{}, sobre un fondo {bg}", groups(lang, scene, full)),
            format!("un fondo {bg} con {plain}"),
            format!("una imagen de {plain}"),
            format!("{} sobre un fondo {bg}", groups(lang, scene, sized)),
            format!("hay {plain} en la imagen"),
        ],
        Lang::De => {
            let dative = Style {
                case: Case::Dative,
                ..PLAIN
            };
            let with = groups(lang, scene, dative);
            let masculine_nominative =
                german_ending(Gender::Masculine, Number::Singular, Case::Nominative);
            vec![
                format!("{}, auf {bg}em Hintergrund", groups(lang, scene, full)),
                format!("ein {bg}{masculine_nominative} Hintergrund mit {with}"),
                format!("ein Bild mit {with}"),
                format!("{} auf {bg}em Hintergrund", groups(lang, scene, sized)),
                format!(
                    "zu sehen {} {plain}",
                    if several(scene) { "sind" } else { "ist" }
                ),
            ]
        }
        Lang::Fr => vec![
            format!("{}, sur un fond {bg}", groups(lang, scene, full)),
            format!("un fond {bg} avec {plain}"),
            format!("une image avec {plain}"),
            format!("{} sur un fond {bg}", groups(lang, scene, sized)),
            format!("il y a {plain}"),
        ],
        Lang::Hi => {
            let oblique = groups(
                lang,
                scene,
                Style {
                    case: Case::Oblique,
                    ..PLAIN
                },
            );
            vec![
                format!("{bg} पृष्ठभूमि पर {}", hindi_clauses(scene, full)),
                format!("{oblique} वाली {bg} पृष्ठभूमि"),
                format!("{oblique} की तस्वीर"),
                format!("{bg} पृष्ठभूमि पर {}", groups(lang, scene, sized)),
                format!("तस्वीर में {plain} {}", hindi_copula(several(scene))),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::{Background, Color, Region, ShapeKind, Size};

    fn group(kind: ShapeKind, color: Color, count: u8, size: Size, region: Region) -> Group {
        Group {
            kind,
            color,
            count,
            size,
            region,
        }
    }

    fn two_groups() -> Scene {
        Scene {
            background: Background::Black,
            groups: vec![
                group(ShapeKind::Circle, Color::Red, 2, Size::Small, Region::Left),
                group(
                    ShapeKind::Star,
                    Color::Yellow,
                    1,
                    Size::Large,
                    Region::Right,
                ),
            ],
        }
    }

    #[test]
    fn two_group_scene_in_every_language() {
        let scene = two_groups();
        let expected = [
            (
                Lang::En,
                "two small red circles on the left and a large yellow star on the right, on a black background",
            ),
            (
                Lang::Pt,
                "dois pequenos círculos vermelhos à esquerda e uma grande estrela amarela à direita, sobre um fundo preto",
            ),
            (
                Lang::It,
                "due piccoli cerchi rossi a sinistra e una grande stella gialla a destra, su sfondo nero",
            ),
            (
                Lang::Es,
                "dos pequeños círculos rojos a la izquierda y una gran estrella amarilla a la derecha, sobre un fondo negro",
            ),
            (
                Lang::De,
                "zwei kleine rote Kreise links und ein großer gelber Stern rechts, auf schwarzem Hintergrund",
            ),
            (
                Lang::Fr,
                "deux petits cercles rouges à gauche et une grande étoile jaune à droite, sur un fond noir",
            ),
            (
                Lang::Hi,
                "काली पृष्ठभूमि पर बाईं ओर दो छोटे लाल वृत्त हैं और दाईं ओर एक बड़ा पीला तारा है",
            ),
        ];
        for (lang, first) in expected {
            let all = captions(&scene, lang);
            assert_eq!(all.len(), PHRASINGS);
            assert_eq!(all[0], first);
        }
        assert_eq!(
            captions(&scene, Lang::De)[1],
            "ein schwarzer Hintergrund mit zwei roten Kreisen und einem gelben Stern"
        );
        assert_eq!(
            captions(&scene, Lang::En)[2],
            "a picture of two red circles and one yellow star"
        );
        assert_eq!(
            captions(&scene, Lang::It)[4],
            "ci sono due cerchi rossi e una stella gialla"
        );
    }

    #[test]
    fn hindi_phrasings_of_a_two_group_and_a_one_group_scene() {
        assert_eq!(
            captions(&two_groups(), Lang::Hi),
            [
                "काली पृष्ठभूमि पर बाईं ओर दो छोटे लाल वृत्त हैं और दाईं ओर एक बड़ा पीला तारा है",
                "दो लाल वृत्तों और एक पीले तारे वाली काली पृष्ठभूमि",
                "दो लाल वृत्तों और एक पीले तारे की तस्वीर",
                "काली पृष्ठभूमि पर दो छोटे लाल वृत्त और एक बड़ा पीला तारा",
                "तस्वीर में दो लाल वृत्त और एक पीला तारा हैं",
            ]
        );
        let one = Scene {
            background: Background::Gray,
            groups: vec![group(
                ShapeKind::Circle,
                Color::Blue,
                1,
                Size::Small,
                Region::Center,
            )],
        };
        assert_eq!(
            captions(&one, Lang::Hi),
            [
                "स्लेटी पृष्ठभूमि पर बीच में एक छोटा नीला वृत्त है",
                "एक नीले वृत्त वाली स्लेटी पृष्ठभूमि",
                "एक नीले वृत्त की तस्वीर",
                "स्लेटी पृष्ठभूमि पर एक छोटा नीला वृत्त",
                "तस्वीर में एक नीला वृत्त है",
            ]
        );
        let stars = Scene {
            background: Background::Blue,
            groups: vec![
                group(ShapeKind::Star, Color::Yellow, 3, Size::Large, Region::Top),
                group(
                    ShapeKind::Cross,
                    Color::White,
                    1,
                    Size::Small,
                    Region::Bottom,
                ),
            ],
        };
        assert_eq!(
            captions(&stars, Lang::Hi),
            [
                "नीली पृष्ठभूमि पर ऊपर तीन बड़े पीले तारे हैं और नीचे एक छोटा सफ़ेद क्रॉस है",
                "तीन पीले तारों और एक सफ़ेद क्रॉस वाली नीली पृष्ठभूमि",
                "तीन पीले तारों और एक सफ़ेद क्रॉस की तस्वीर",
                "नीली पृष्ठभूमि पर तीन बड़े पीले तारे और एक छोटा सफ़ेद क्रॉस",
                "तस्वीर में तीन पीले तारे और एक सफ़ेद क्रॉस हैं",
            ]
        );
    }

    #[test]
    fn agreement_examples() {
        let one = |kind, color, count| Scene {
            background: Background::Gray,
            groups: vec![group(kind, color, count, Size::Small, Region::Center)],
        };
        let has = |scene: &Scene, lang, phrase: &str| {
            let all = captions(scene, lang);
            assert!(
                all.iter().any(|c| c.contains(phrase)),
                "{phrase:?} not in {all:?}"
            );
        };
        has(
            &one(ShapeKind::Circle, Color::Red, 2),
            Lang::Pt,
            "dois círculos vermelhos",
        );
        has(
            &one(ShapeKind::Star, Color::Yellow, 2),
            Lang::Pt,
            "duas estrelas amarelas",
        );
        has(
            &one(ShapeKind::Cross, Color::Blue, 1),
            Lang::Pt,
            "uma cruz azul",
        );
        has(
            &one(ShapeKind::Star, Color::Yellow, 2),
            Lang::It,
            "due stelle gialle",
        );
        has(
            &one(ShapeKind::Circle, Color::Red, 1),
            Lang::It,
            "un cerchio rosso",
        );
        has(
            &one(ShapeKind::Cross, Color::White, 1),
            Lang::It,
            "una croce bianca",
        );
        has(
            &one(ShapeKind::Star, Color::Yellow, 1),
            Lang::Es,
            "una estrella amarilla",
        );
        has(
            &one(ShapeKind::Cross, Color::Blue, 2),
            Lang::Es,
            "dos cruces azules",
        );
        has(
            &one(ShapeKind::Star, Color::Yellow, 2),
            Lang::Fr,
            "deux étoiles jaunes",
        );
        has(
            &one(ShapeKind::Cross, Color::White, 1),
            Lang::Fr,
            "une croix blanche",
        );
        has(
            &one(ShapeKind::Square, Color::Green, 3),
            Lang::Fr,
            "trois petits carrés verts",
        );
        has(
            &one(ShapeKind::Star, Color::Yellow, 2),
            Lang::De,
            "zwei gelbe Sterne",
        );
        has(
            &one(ShapeKind::Diamond, Color::White, 1),
            Lang::De,
            "eine weiße Raute",
        );
        has(
            &one(ShapeKind::Triangle, Color::Green, 1),
            Lang::De,
            "ein grünes Dreieck",
        );
        has(
            &one(ShapeKind::Triangle, Color::Green, 1),
            Lang::De,
            "mit einem grünen Dreieck",
        );
        has(
            &one(ShapeKind::Circle, Color::Orange, 1),
            Lang::En,
            "an orange circle",
        );
        has(
            &one(ShapeKind::Circle, Color::Orange, 2),
            Lang::Pt,
            "dois círculos laranja",
        );
        has(
            &one(ShapeKind::Circle, Color::Red, 1),
            Lang::It,
            "c'è un cerchio rosso",
        );
        has(
            &one(ShapeKind::Circle, Color::Red, 1),
            Lang::De,
            "zu sehen ist ein roter Kreis",
        );
        has(
            &one(ShapeKind::Square, Color::Purple, 3),
            Lang::Es,
            "tres cuadrados morados",
        );
        // Hindi: -आ adjectives agree (पीला तारा, पीले तारे; oblique पीले तारे की, पीले तारों की), लाल never
        // changes, the copula agrees with the number of shapes.
        has(
            &one(ShapeKind::Star, Color::Yellow, 1),
            Lang::Hi,
            "तस्वीर में एक पीला तारा है",
        );
        has(
            &one(ShapeKind::Star, Color::Yellow, 1),
            Lang::Hi,
            "एक पीले तारे की तस्वीर",
        );
        has(
            &one(ShapeKind::Star, Color::Yellow, 2),
            Lang::Hi,
            "तस्वीर में दो पीले तारे हैं",
        );
        has(
            &one(ShapeKind::Star, Color::Yellow, 2),
            Lang::Hi,
            "दो पीले तारों की तस्वीर",
        );
        has(
            &one(ShapeKind::Square, Color::Blue, 3),
            Lang::Hi,
            "स्लेटी पृष्ठभूमि पर तीन छोटे नीले वर्ग",
        );
        has(
            &one(ShapeKind::Square, Color::Blue, 3),
            Lang::Hi,
            "तीन नीले वर्गों वाली स्लेटी पृष्ठभूमि",
        );
        has(
            &one(ShapeKind::Triangle, Color::Red, 2),
            Lang::Hi,
            "दो लाल त्रिभुजों की तस्वीर",
        );
        has(
            &one(ShapeKind::Diamond, Color::Black, 1),
            Lang::Hi,
            "बीच में एक छोटा काला समचतुर्भुज है",
        );
        let feminine_background = Scene {
            background: Background::Green,
            ..one(ShapeKind::Circle, Color::Red, 1)
        };
        has(
            &feminine_background,
            Lang::Hi,
            "हरी पृष्ठभूमि पर एक छोटा लाल वृत्त",
        );
    }
}
