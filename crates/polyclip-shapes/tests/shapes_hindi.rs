//! Hindi (`hi`) in the embedded dataset: its words agree in gender, number and case, its class names and
//! templates are Devanagari, the dataset writes its manifests, a tokenizer can be trained for it, and adding it
//! changed nothing the six earlier languages give (captions, labels, the shipped tokenizer's corpus and language
//! codes).

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use polyclip_data::text::tokenizer::TextTokenizer;
use polyclip_data::text::tokenizer_training::train_xlmr_style_bpe;
use polyclip_shapes::lexicon::{
    Case, Gender, Number, color_adjective, shape_noun, shape_word, size_adjective,
};
use polyclip_shapes::materialize::scenes;
use polyclip_shapes::scene::{Color, ShapeKind, Size};
use polyclip_shapes::{
    LabelSet, Lang, ShapesDataset, ShapesSpec, Split, captions, class_names,
    shapes_mbart_tokenizer, templates, tokenizer_corpus, tokenizer_corpus_for,
};

const SIX: [Lang; 6] = [Lang::En, Lang::Pt, Lang::It, Lang::Es, Lang::De, Lang::Fr];

/// FNV-1a over the texts, each followed by a newline.
fn fingerprint(texts: impl IntoIterator<Item = String>) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for text in texts {
        for byte in text.bytes().chain([b'\n']) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Every letter is Devanagari (U+0900–U+097F); spaces, ASCII punctuation and the `{}` slot may appear.
fn devanagari(text: &str) -> bool {
    text.chars().any(|c| ('\u{900}'..='\u{97f}').contains(&c))
        && text
            .chars()
            .all(|c| ('\u{900}'..='\u{97f}').contains(&c) || c == ' ' || c.is_ascii_punctuation())
}

#[test]
fn hindi_words_agree_in_gender_number_and_case() {
    let blue = color_adjective(Lang::Hi, Color::Blue);
    assert_eq!(blue.agree(Gender::Masculine, Number::Singular), "नीला");
    assert_eq!(blue.agree(Gender::Masculine, Number::Plural), "नीले");
    assert_eq!(blue.agree(Gender::Feminine, Number::Singular), "नीली");
    assert_eq!(blue.agree(Gender::Feminine, Number::Plural), "नीली");
    assert_eq!(
        blue.decline(Gender::Masculine, Number::Singular, Case::Oblique),
        "नीले"
    );
    assert_eq!(
        blue.decline(Gender::Feminine, Number::Singular, Case::Oblique),
        "नीली"
    );
    let red = color_adjective(Lang::Hi, Color::Red);
    for (gender, number) in [
        (Gender::Masculine, Number::Singular),
        (Gender::Masculine, Number::Plural),
        (Gender::Feminine, Number::Singular),
    ] {
        assert_eq!(red.decline(gender, number, Case::Oblique), "लाल");
    }
    assert_eq!(
        size_adjective(Lang::Hi, Size::Large).agree(Gender::Masculine, Number::Plural),
        "बड़े"
    );
    let star = shape_noun(Lang::Hi, ShapeKind::Star);
    assert_eq!(
        (
            star.singular,
            star.plural,
            star.oblique_singular,
            star.oblique_plural
        ),
        ("तारा", "तारे", "तारे", "तारों")
    );
    assert_eq!(star.gender, Gender::Masculine);
    let shape = shape_word(Lang::Hi);
    assert_eq!((shape.singular, shape.plural), ("आकृति", "आकृतियाँ"));
    assert_eq!(shape.gender, Gender::Feminine);
    // The feminine noun takes नीली; plurals take हैं.
    assert!(class_names(LabelSet::Color, Lang::Hi).contains(&"एक नीली आकृति".to_string()));
    assert_eq!(
        class_names(LabelSet::Count, Lang::Hi),
        ["एक आकृति", "दो आकृतियाँ", "तीन आकृतियाँ"]
    );
    let scene = &scenes(0, Split::Train, 3)[2];
    assert_eq!(
        captions(scene, Lang::Hi),
        [
            "काली पृष्ठभूमि पर दाईं ओर एक छोटा बैंगनी समचतुर्भुज है और बाईं ओर दो बड़े लाल त्रिभुज हैं",
            "एक बैंगनी समचतुर्भुज और दो लाल त्रिभुजों वाली काली पृष्ठभूमि",
            "एक बैंगनी समचतुर्भुज और दो लाल त्रिभुजों की तस्वीर",
            "काली पृष्ठभूमि पर एक छोटा बैंगनी समचतुर्भुज और दो बड़े लाल त्रिभुज",
            "तस्वीर में एक बैंगनी समचतुर्भुज और दो लाल त्रिभुज हैं",
        ]
    );
}

#[test]
fn hindi_class_names_and_templates_are_devanagari() {
    assert_eq!(
        class_names(LabelSet::Shape, Lang::Hi),
        [
            "एक वृत्त",
            "एक वर्ग",
            "एक त्रिभुज",
            "एक तारा",
            "एक समचतुर्भुज",
            "एक क्रॉस"
        ]
    );
    for set in LabelSet::ALL {
        let names = class_names(set, Lang::Hi);
        assert_eq!(names.len(), class_names(set, Lang::En).len(), "{set:?}");
        for name in &names {
            assert!(devanagari(name), "{name:?}");
        }
    }
    let hindi = templates(Lang::Hi);
    assert_eq!(hindi.len(), templates(Lang::En).len());
    for template in hindi {
        assert_eq!(template.matches("{}").count(), 1, "{template:?}");
        assert!(devanagari(template), "{template:?}");
    }
    assert_eq!(
        templates(Lang::Hi)[3].replacen("{}", "एक तारा", 1),
        "सादी पृष्ठभूमि पर एक तारा"
    );
}

/// Fingerprints and strings computed before Hindi was added (the labels' and the tokenizer corpus's since the
/// templates lost their full stops).
#[test]
fn the_six_earlier_languages_are_unchanged() {
    let mut texts = Vec::new();
    for split in [Split::Train, Split::Test] {
        for scene in scenes(0, split, 300) {
            for lang in SIX {
                texts.extend(captions(&scene, lang));
            }
        }
    }
    assert_eq!(fingerprint(texts), 0x5881_5baf_7766_206b);
    let mut labels = Vec::new();
    for lang in SIX {
        for set in LabelSet::ALL {
            labels.extend(class_names(set, lang));
        }
        labels.extend(templates(lang).into_iter().map(String::from));
    }
    assert_eq!(fingerprint(labels), 0x6def_d2fe_c37a_2fef);
    assert_eq!(fingerprint(tokenizer_corpus()), 0x7b97_3340_d7cf_a9f3);

    let scene = &scenes(0, Split::Train, 3)[2];
    assert_eq!(
        captions(scene, Lang::En),
        [
            "a small purple diamond on the right and two large red triangles on the left, on a black background",
            "a black background with a purple diamond and two red triangles",
            "a picture of one purple diamond and two red triangles",
            "a small purple diamond and two large red triangles on a black background",
            "there is a purple diamond and two red triangles",
        ]
    );
    assert_eq!(
        captions(scene, Lang::Pt),
        [
            "um pequeno losango roxo à direita e dois grandes triângulos vermelhos à esquerda, sobre um fundo preto",
            "um fundo preto com um losango roxo e dois triângulos vermelhos",
            "uma imagem de um losango roxo e dois triângulos vermelhos",
            "um pequeno losango roxo e dois grandes triângulos vermelhos em um fundo preto",
            "há um losango roxo e dois triângulos vermelhos na imagem",
        ]
    );
    assert_eq!(
        captions(scene, Lang::It),
        [
            "un piccolo rombo viola a destra e due grandi triangoli rossi a sinistra, su sfondo nero",
            "uno sfondo nero con un rombo viola e due triangoli rossi",
            "un'immagine di un rombo viola e due triangoli rossi",
            "un piccolo rombo viola e due grandi triangoli rossi su uno sfondo nero",
            "ci sono un rombo viola e due triangoli rossi",
        ]
    );
    assert_eq!(
        captions(scene, Lang::Es),
        [
            "un pequeño rombo morado a la derecha y dos grandes triángulos rojos a la izquierda, sobre un fondo negro",
            "un fondo negro con un rombo morado y dos triángulos rojos",
            "una imagen de un rombo morado y dos triángulos rojos",
            "un pequeño rombo morado y dos grandes triángulos rojos sobre un fondo negro",
            "hay un rombo morado y dos triángulos rojos en la imagen",
        ]
    );
    assert_eq!(
        captions(scene, Lang::De),
        [
            "eine kleine violette Raute rechts und zwei große rote Dreiecke links, auf schwarzem Hintergrund",
            "ein schwarzer Hintergrund mit einer violetten Raute und zwei roten Dreiecken",
            "ein Bild mit einer violetten Raute und zwei roten Dreiecken",
            "eine kleine violette Raute und zwei große rote Dreiecke auf schwarzem Hintergrund",
            "zu sehen sind eine violette Raute und zwei rote Dreiecke",
        ]
    );
    assert_eq!(
        captions(scene, Lang::Fr),
        [
            "un petit losange violet à droite et deux grands triangles rouges à gauche, sur un fond noir",
            "un fond noir avec un losange violet et deux triangles rouges",
            "une image avec un losange violet et deux triangles rouges",
            "un petit losange violet et deux grands triangles rouges sur un fond noir",
            "il y a un losange violet et deux triangles rouges",
        ]
    );
}

#[test]
fn languages_and_the_shipped_tokenizers_codes() {
    assert_eq!(Lang::ALL.len(), 7);
    assert_eq!(Lang::from_code("hi"), Some(Lang::Hi));
    assert_eq!(Lang::ALL[..6], Lang::SHIPPED_TOKENIZER);
    assert_eq!(
        Lang::SHIPPED_TOKENIZER.map(Lang::code),
        ["en", "pt", "it", "es", "de", "fr"]
    );
    assert_eq!(
        tokenizer_corpus_for(&Lang::SHIPPED_TOKENIZER),
        tokenizer_corpus()
    );
    // The captioner's vocabulary: 818 BPE tokens (896 before the templates lost their full stops), then the six
    // language codes.
    let mbart = shapes_mbart_tokenizer(32).expect("tokenizer");
    assert_eq!(mbart.vocab_size(), 824);
    for (offset, lang) in Lang::SHIPPED_TOKENIZER.iter().enumerate() {
        assert_eq!(
            mbart.language_id(lang.code()).expect("code"),
            818 + offset as u32
        );
    }
    assert!(mbart.language_id("hi").is_err());
}

#[test]
fn a_tokenizer_can_be_trained_for_hindi() {
    let corpus = tokenizer_corpus_for(&[Lang::Hi]);
    // Five phrasings of 3000 scenes, then every class name in every template.
    let prompts: usize = LabelSet::ALL
        .iter()
        .map(|&set| class_names(set, Lang::Hi).len() * templates(Lang::Hi).len())
        .sum();
    assert_eq!(corpus.len(), 3000 * 5 + prompts);
    assert!(corpus.iter().all(|text| devanagari(text)));
    let both = tokenizer_corpus_for(&[Lang::Pt, Lang::Hi]);
    assert_eq!(both.len(), 2 * corpus.len());
    let trained = train_xlmr_style_bpe(&both, 1000).expect("training");
    let tokenizer = TextTokenizer::new(trained, "<trained>", "<pad>", 64).expect("tokenizer");
    for text in both.iter().step_by(97) {
        let ids = tokenizer.encode_one(text).expect("encode");
        assert!(!ids.contains(&3), "<unk> in {text:?}");
        assert!(ids.len() <= 48, "{} tokens in {text:?}", ids.len());
    }
}

#[test]
fn the_dataset_writes_hindi_manifests_and_label_sets() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let root = dir.path().join("shapes");
    let spec = ShapesSpec {
        seed: 5,
        train_images: 12,
        test_images: 12,
        image_px: 32,
    };
    let data = ShapesDataset::materialize(&spec, &root).expect("dataset");
    for split in ["train", "test"] {
        let path = data.manifest(split, "hi");
        let text = std::fs::read_to_string(&path).expect("hindi manifest");
        assert_eq!(text.lines().count(), 12, "{}", path.display());
        assert!(text.contains("\"lang\":\"hi\""));
        assert!(text.contains("पृष्ठभूमि"));
    }
    let (_, sets) = data.classification("hi").expect("label sets");
    assert_eq!(sets[0].classnames, class_names(LabelSet::Shape, Lang::Hi));
    assert_eq!(sets[0].templates[0], "तस्वीर में {}");

    // A folder written before Hindi existed (its spec matches, its Hindi manifests are missing) is written again.
    let english = std::fs::read_to_string(data.manifest("train", "en")).expect("english");
    std::fs::remove_file(data.manifest("train", "hi")).expect("remove");
    let again = ShapesDataset::materialize(&spec, &root).expect("dataset");
    assert!(again.manifest("train", "hi").is_file());
    assert_eq!(
        std::fs::read_to_string(again.manifest("train", "en")).expect("english"),
        english
    );
}
