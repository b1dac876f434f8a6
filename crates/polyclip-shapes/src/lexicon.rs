//! Words of the seven languages with what agreement needs: noun genders and plurals (Hindi: direct and oblique),
//! adjective forms, numerals.

use crate::scene::{Background, Color, Lang, Region, ShapeKind, Size};

/// Grammatical gender (German also has the neuter; Hindi has masculine and feminine only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    Masculine,
    Feminine,
    Neuter,
}

/// A noun: singular, plural, gender, (German) the dative plural, and (Hindi) the oblique forms taken before a
/// postposition (the plain forms in the other languages).
#[derive(Debug, Clone, Copy)]
pub struct Noun {
    pub singular: &'static str,
    pub plural: &'static str,
    pub gender: Gender,
    pub dative_plural: &'static str,
    pub oblique_singular: &'static str,
    pub oblique_plural: &'static str,
}

const fn noun(singular: &'static str, plural: &'static str, gender: Gender) -> Noun {
    Noun {
        singular,
        plural,
        gender,
        dative_plural: plural,
        oblique_singular: singular,
        oblique_plural: plural,
    }
}

const fn german(
    singular: &'static str,
    plural: &'static str,
    dative_plural: &'static str,
    gender: Gender,
) -> Noun {
    Noun {
        singular,
        plural,
        gender,
        dative_plural,
        oblique_singular: singular,
        oblique_plural: plural,
    }
}

/// A Hindi noun: direct singular and plural (वृत्त, वृत्त; तारा, तारे), oblique singular and plural (वृत्त,
/// वृत्तों; तारे, तारों).
const fn hindi(
    singular: &'static str,
    plural: &'static str,
    oblique_singular: &'static str,
    oblique_plural: &'static str,
    gender: Gender,
) -> Noun {
    Noun {
        singular,
        plural,
        gender,
        dative_plural: plural,
        oblique_singular,
        oblique_plural,
    }
}

use Gender::{Feminine as F, Masculine as M, Neuter as N};

/// The noun naming a shape kind.
pub fn shape_noun(lang: Lang, kind: ShapeKind) -> Noun {
    use ShapeKind::*;
    match (lang, kind) {
        (Lang::En, Circle) => noun("circle", "circles", N),
        (Lang::En, Square) => noun("square", "squares", N),
        (Lang::En, Triangle) => noun("triangle", "triangles", N),
        (Lang::En, Star) => noun("star", "stars", N),
        (Lang::En, Diamond) => noun("diamond", "diamonds", N),
        (Lang::En, Cross) => noun("cross", "crosses", N),
        (Lang::Pt, Circle) => noun("círculo", "círculos", M),
        (Lang::Pt, Square) => noun("quadrado", "quadrados", M),
        (Lang::Pt, Triangle) => noun("triângulo", "triângulos", M),
        (Lang::Pt, Star) => noun("estrela", "estrelas", F),
        (Lang::Pt, Diamond) => noun("losango", "losangos", M),
        (Lang::Pt, Cross) => noun("cruz", "cruzes", F),
        (Lang::It, Circle) => noun("cerchio", "cerchi", M),
        (Lang::It, Square) => noun("quadrato", "quadrati", M),
        (Lang::It, Triangle) => noun("triangolo", "triangoli", M),
        (Lang::It, Star) => noun("stella", "stelle", F),
        (Lang::It, Diamond) => noun("rombo", "rombi", M),
        (Lang::It, Cross) => noun("croce", "croci", F),
        (Lang::Es, Circle) => noun("círculo", "círculos", M),
        (Lang::Es, Square) => noun("cuadrado", "cuadrados", M),
        (Lang::Es, Triangle) => noun("triángulo", "triángulos", M),
        (Lang::Es, Star) => noun("estrella", "estrellas", F),
        (Lang::Es, Diamond) => noun("rombo", "rombos", M),
        (Lang::Es, Cross) => noun("cruz", "cruces", F),
        (Lang::De, Circle) => german("Kreis", "Kreise", "Kreisen", M),
        (Lang::De, Square) => german("Quadrat", "Quadrate", "Quadraten", N),
        (Lang::De, Triangle) => german("Dreieck", "Dreiecke", "Dreiecken", N),
        (Lang::De, Star) => german("Stern", "Sterne", "Sternen", M),
        (Lang::De, Diamond) => german("Raute", "Rauten", "Rauten", F),
        (Lang::De, Cross) => german("Kreuz", "Kreuze", "Kreuzen", N),
        (Lang::Fr, Circle) => noun("cercle", "cercles", M),
        (Lang::Fr, Square) => noun("carré", "carrés", M),
        (Lang::Fr, Triangle) => noun("triangle", "triangles", M),
        (Lang::Fr, Star) => noun("étoile", "étoiles", F),
        (Lang::Fr, Diamond) => noun("losange", "losanges", M),
        (Lang::Fr, Cross) => noun("croix", "croix", F),
        (Lang::Hi, Circle) => hindi("वृत्त", "वृत्त", "वृत्त", "वृत्तों", M),
        (Lang::Hi, Square) => hindi("वर्ग", "वर्ग", "वर्ग", "वर्गों", M),
        (Lang::Hi, Triangle) => hindi("त्रिभुज", "त्रिभुज", "त्रिभुज", "त्रिभुजों", M),
        (Lang::Hi, Star) => hindi("तारा", "तारे", "तारे", "तारों", M),
        (Lang::Hi, Diamond) => hindi("समचतुर्भुज", "समचतुर्भुज", "समचतुर्भुज", "समचतुर्भुजों", M),
        (Lang::Hi, Cross) => hindi("क्रॉस", "क्रॉस", "क्रॉस", "क्रॉसों", M),
    }
}

/// The generic noun "shape" (for colour and count class names).
pub fn shape_word(lang: Lang) -> Noun {
    match lang {
        Lang::En => noun("shape", "shapes", N),
        Lang::Pt => noun("forma", "formas", F),
        Lang::It => noun("forma", "forme", F),
        Lang::Es => noun("forma", "formas", F),
        Lang::De => german("Form", "Formen", "Formen", F),
        Lang::Fr => noun("forme", "formes", F),
        Lang::Hi => hindi("आकृति", "आकृतियाँ", "आकृति", "आकृतियों", F),
    }
}

/// An adjective's forms. Romance languages and Hindi: masculine/feminine × singular/plural; English: one form;
/// German: the stem, declined by [`german_ending`]. A Hindi adjective in -आ (नीला) has its masculine plural form
/// (नीले) also as the masculine singular oblique, and one feminine form (नीली); others (लाल) never change.
#[derive(Debug, Clone, Copy)]
pub struct Adjective {
    pub forms: [&'static str; 4],
}

const fn agreeing(
    m_sg: &'static str,
    f_sg: &'static str,
    m_pl: &'static str,
    f_pl: &'static str,
) -> Adjective {
    Adjective {
        forms: [m_sg, f_sg, m_pl, f_pl],
    }
}

const fn fixed(word: &'static str) -> Adjective {
    Adjective {
        forms: [word, word, word, word],
    }
}

/// Number of a noun phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Number {
    Singular,
    Plural,
}

impl Adjective {
    /// The form agreeing with a gender and number (German: the stem).
    pub fn agree(self, gender: Gender, number: Number) -> &'static str {
        let feminine = gender == Gender::Feminine;
        let index = match (number, feminine) {
            (Number::Singular, false) => 0,
            (Number::Singular, true) => 1,
            (Number::Plural, false) => 2,
            (Number::Plural, true) => 3,
        };
        self.forms[index]
    }

    /// The form agreeing with a gender, number and case: as [`Adjective::agree`], except that a Hindi masculine
    /// singular before a postposition takes the oblique form (एक नीले तारे की …), which is the plural's.
    pub fn decline(self, gender: Gender, number: Number, case: Case) -> &'static str {
        match (case, gender, number) {
            (Case::Oblique, Gender::Masculine, Number::Singular) => {
                self.agree(gender, Number::Plural)
            }
            _ => self.agree(gender, number),
        }
    }
}

/// A colour adjective.
pub fn color_adjective(lang: Lang, color: Color) -> Adjective {
    use Color::*;
    match (lang, color) {
        (Lang::En, Red) => fixed("red"),
        (Lang::En, Green) => fixed("green"),
        (Lang::En, Blue) => fixed("blue"),
        (Lang::En, Yellow) => fixed("yellow"),
        (Lang::En, Purple) => fixed("purple"),
        (Lang::En, Orange) => fixed("orange"),
        (Lang::En, White) => fixed("white"),
        (Lang::En, Black) => fixed("black"),
        (Lang::Pt, Red) => agreeing("vermelho", "vermelha", "vermelhos", "vermelhas"),
        (Lang::Pt, Green) => agreeing("verde", "verde", "verdes", "verdes"),
        (Lang::Pt, Blue) => agreeing("azul", "azul", "azuis", "azuis"),
        (Lang::Pt, Yellow) => agreeing("amarelo", "amarela", "amarelos", "amarelas"),
        (Lang::Pt, Purple) => agreeing("roxo", "roxa", "roxos", "roxas"),
        (Lang::Pt, Orange) => fixed("laranja"),
        (Lang::Pt, White) => agreeing("branco", "branca", "brancos", "brancas"),
        (Lang::Pt, Black) => agreeing("preto", "preta", "pretos", "pretas"),
        (Lang::It, Red) => agreeing("rosso", "rossa", "rossi", "rosse"),
        (Lang::It, Green) => agreeing("verde", "verde", "verdi", "verdi"),
        (Lang::It, Blue) => fixed("blu"),
        (Lang::It, Yellow) => agreeing("giallo", "gialla", "gialli", "gialle"),
        (Lang::It, Purple) => fixed("viola"),
        (Lang::It, Orange) => agreeing("arancione", "arancione", "arancioni", "arancioni"),
        (Lang::It, White) => agreeing("bianco", "bianca", "bianchi", "bianche"),
        (Lang::It, Black) => agreeing("nero", "nera", "neri", "nere"),
        (Lang::Es, Red) => agreeing("rojo", "roja", "rojos", "rojas"),
        (Lang::Es, Green) => agreeing("verde", "verde", "verdes", "verdes"),
        (Lang::Es, Blue) => agreeing("azul", "azul", "azules", "azules"),
        (Lang::Es, Yellow) => agreeing("amarillo", "amarilla", "amarillos", "amarillas"),
        (Lang::Es, Purple) => agreeing("morado", "morada", "morados", "moradas"),
        (Lang::Es, Orange) => fixed("naranja"),
        (Lang::Es, White) => agreeing("blanco", "blanca", "blancos", "blancas"),
        (Lang::Es, Black) => agreeing("negro", "negra", "negros", "negras"),
        (Lang::De, Red) => fixed("rot"),
        (Lang::De, Green) => fixed("grün"),
        (Lang::De, Blue) => fixed("blau"),
        (Lang::De, Yellow) => fixed("gelb"),
        (Lang::De, Purple) => fixed("violett"),
        (Lang::De, Orange) => fixed("orangefarben"),
        (Lang::De, White) => fixed("weiß"),
        (Lang::De, Black) => fixed("schwarz"),
        (Lang::Fr, Red) => agreeing("rouge", "rouge", "rouges", "rouges"),
        (Lang::Fr, Green) => agreeing("vert", "verte", "verts", "vertes"),
        (Lang::Fr, Blue) => agreeing("bleu", "bleue", "bleus", "bleues"),
        (Lang::Fr, Yellow) => agreeing("jaune", "jaune", "jaunes", "jaunes"),
        (Lang::Fr, Purple) => agreeing("violet", "violette", "violets", "violettes"),
        (Lang::Fr, Orange) => fixed("orange"),
        (Lang::Fr, White) => agreeing("blanc", "blanche", "blancs", "blanches"),
        (Lang::Fr, Black) => agreeing("noir", "noire", "noirs", "noires"),
        (Lang::Hi, Red) => fixed("लाल"),
        (Lang::Hi, Green) => agreeing("हरा", "हरी", "हरे", "हरी"),
        (Lang::Hi, Blue) => agreeing("नीला", "नीली", "नीले", "नीली"),
        (Lang::Hi, Yellow) => agreeing("पीला", "पीली", "पीले", "पीली"),
        (Lang::Hi, Purple) => fixed("बैंगनी"),
        (Lang::Hi, Orange) => fixed("नारंगी"),
        (Lang::Hi, White) => fixed("सफ़ेद"),
        (Lang::Hi, Black) => agreeing("काला", "काली", "काले", "काली"),
    }
}

/// A size adjective (placed before the noun in every language here). Spanish singular "grande" shortens to
/// "gran" before a noun.
pub fn size_adjective(lang: Lang, size: Size) -> Adjective {
    match (lang, size) {
        (Lang::En, Size::Small) => fixed("small"),
        (Lang::En, Size::Large) => fixed("large"),
        (Lang::Pt, Size::Small) => agreeing("pequeno", "pequena", "pequenos", "pequenas"),
        (Lang::Pt, Size::Large) => agreeing("grande", "grande", "grandes", "grandes"),
        (Lang::It, Size::Small) => agreeing("piccolo", "piccola", "piccoli", "piccole"),
        (Lang::It, Size::Large) => agreeing("grande", "grande", "grandi", "grandi"),
        (Lang::Es, Size::Small) => agreeing("pequeño", "pequeña", "pequeños", "pequeñas"),
        (Lang::Es, Size::Large) => agreeing("gran", "gran", "grandes", "grandes"),
        (Lang::De, Size::Small) => fixed("klein"),
        (Lang::De, Size::Large) => fixed("groß"),
        (Lang::Fr, Size::Small) => agreeing("petit", "petite", "petits", "petites"),
        (Lang::Fr, Size::Large) => agreeing("grand", "grande", "grands", "grandes"),
        (Lang::Hi, Size::Small) => agreeing("छोटा", "छोटी", "छोटे", "छोटी"),
        (Lang::Hi, Size::Large) => agreeing("बड़ा", "बड़ी", "बड़े", "बड़ी"),
    }
}

/// The background's colour agreeing with the noun "background": masculine, except the Hindi पृष्ठभूमि, feminine
/// (German: the stem).
pub fn background_adjective(lang: Lang, background: Background) -> &'static str {
    use Background::*;
    match (lang, background) {
        (Lang::En, White) => "white",
        (Lang::En, Gray) => "gray",
        (Lang::En, Black) => "black",
        (Lang::En, Blue) => "blue",
        (Lang::En, Green) => "green",
        (Lang::Pt, White) => "branco",
        (Lang::Pt, Gray) => "cinza",
        (Lang::Pt, Black) => "preto",
        (Lang::Pt, Blue) => "azul",
        (Lang::Pt, Green) => "verde",
        (Lang::It, White) => "bianco",
        (Lang::It, Gray) => "grigio",
        (Lang::It, Black) => "nero",
        (Lang::It, Blue) => "blu",
        (Lang::It, Green) => "verde",
        (Lang::Es, White) => "blanco",
        (Lang::Es, Gray) => "gris",
        (Lang::Es, Black) => "negro",
        (Lang::Es, Blue) => "azul",
        (Lang::Es, Green) => "verde",
        (Lang::De, White) => "weiß",
        (Lang::De, Gray) => "grau",
        (Lang::De, Black) => "schwarz",
        (Lang::De, Blue) => "blau",
        (Lang::De, Green) => "grün",
        (Lang::Fr, White) => "blanc",
        (Lang::Fr, Gray) => "gris",
        (Lang::Fr, Black) => "noir",
        (Lang::Fr, Blue) => "bleu",
        (Lang::Fr, Green) => "vert",
        (Lang::Hi, White) => "सफ़ेद",
        (Lang::Hi, Gray) => "स्लेटी",
        (Lang::Hi, Black) => "काली",
        (Lang::Hi, Blue) => "नीली",
        (Lang::Hi, Green) => "हरी",
    }
}

/// Where a group is, as an adverbial phrase (Hindi: placed before the noun phrase).
pub fn region_phrase(lang: Lang, region: Region) -> &'static str {
    use Region::*;
    match (lang, region) {
        (Lang::En, Left) => "on the left",
        (Lang::En, Right) => "on the right",
        (Lang::En, Top) => "at the top",
        (Lang::En, Bottom) => "at the bottom",
        (Lang::En, Center) => "in the middle",
        (Lang::Pt, Left) => "à esquerda",
        (Lang::Pt, Right) => "à direita",
        (Lang::Pt, Top) => "em cima",
        (Lang::Pt, Bottom) => "embaixo",
        (Lang::Pt, Center) => "no centro",
        (Lang::It, Left) => "a sinistra",
        (Lang::It, Right) => "a destra",
        (Lang::It, Top) => "in alto",
        (Lang::It, Bottom) => "in basso",
        (Lang::It, Center) => "al centro",
        (Lang::Es, Left) => "a la izquierda",
        (Lang::Es, Right) => "a la derecha",
        (Lang::Es, Top) => "arriba",
        (Lang::Es, Bottom) => "abajo",
        (Lang::Es, Center) => "en el centro",
        (Lang::De, Left) => "links",
        (Lang::De, Right) => "rechts",
        (Lang::De, Top) => "oben",
        (Lang::De, Bottom) => "unten",
        (Lang::De, Center) => "in der Mitte",
        (Lang::Fr, Left) => "à gauche",
        (Lang::Fr, Right) => "à droite",
        (Lang::Fr, Top) => "en haut",
        (Lang::Fr, Bottom) => "en bas",
        (Lang::Fr, Center) => "au centre",
        (Lang::Hi, Left) => "बाईं ओर",
        (Lang::Hi, Right) => "दाईं ओर",
        (Lang::Hi, Top) => "ऊपर",
        (Lang::Hi, Bottom) => "नीचे",
        (Lang::Hi, Center) => "बीच में",
    }
}

/// The numeral for 1–3, agreeing in gender (the indefinite article for 1, except English "one"; Hindi numerals,
/// एक serving as the article, never change).
pub fn numeral(lang: Lang, count: u8, gender: Gender) -> &'static str {
    let feminine = gender == Gender::Feminine;
    match (lang, count, feminine) {
        (Lang::En, 1, _) => "one",
        (Lang::En, 2, _) => "two",
        (Lang::En, _, _) => "three",
        (Lang::Pt, 1, false) => "um",
        (Lang::Pt, 1, true) => "uma",
        (Lang::Pt, 2, false) => "dois",
        (Lang::Pt, 2, true) => "duas",
        (Lang::Pt, _, _) => "três",
        (Lang::It, 1, false) => "un",
        (Lang::It, 1, true) => "una",
        (Lang::It, 2, _) => "due",
        (Lang::It, _, _) => "tre",
        (Lang::Es, 1, false) => "un",
        (Lang::Es, 1, true) => "una",
        (Lang::Es, 2, _) => "dos",
        (Lang::Es, _, _) => "tres",
        (Lang::De, 1, _) => match gender {
            Gender::Feminine => "eine",
            _ => "ein",
        },
        (Lang::De, 2, _) => "zwei",
        (Lang::De, _, _) => "drei",
        (Lang::Fr, 1, false) => "un",
        (Lang::Fr, 1, true) => "une",
        (Lang::Fr, 2, _) => "deux",
        (Lang::Fr, _, _) => "trois",
        (Lang::Hi, 1, _) => "एक",
        (Lang::Hi, 2, _) => "दो",
        (Lang::Hi, _, _) => "तीन",
    }
}

/// Grammatical case of a noun phrase: the nominative (Hindi: the direct case) or a case governed by a preposition
/// or postposition, the German dative or the Hindi oblique.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Nominative,
    Dative,
    Oblique,
}

/// German adjective ending after `ein`/`eine` (mixed declension, singular) or after a numeral (strong, plural).
/// German has no oblique case; it declines as the dative.
pub fn german_ending(gender: Gender, number: Number, case: Case) -> &'static str {
    match (number, case, gender) {
        (Number::Singular, Case::Nominative, Gender::Masculine) => "er",
        (Number::Singular, Case::Nominative, Gender::Feminine) => "e",
        (Number::Singular, Case::Nominative, Gender::Neuter) => "es",
        (Number::Singular, Case::Dative | Case::Oblique, _) => "en",
        (Number::Plural, Case::Nominative, _) => "e",
        (Number::Plural, Case::Dative | Case::Oblique, _) => "en",
    }
}

/// German indefinite article in the dative (`einem`, `einer`).
pub fn german_dative_article(gender: Gender) -> &'static str {
    match gender {
        Gender::Feminine => "einer",
        _ => "einem",
    }
}

/// "and".
pub fn conjunction(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "and",
        Lang::Pt | Lang::It => "e",
        Lang::Es => "y",
        Lang::De => "und",
        Lang::Fr => "et",
        Lang::Hi => "और",
    }
}
