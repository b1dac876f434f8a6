//! The shipped suites (datasets/suites) parse, name the sets the methods report, and follow their layouts.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use polyclip_eval::report::TableLayout;
use polyclip_eval::suite::EvalSuite;

fn suite(name: &str) -> EvalSuite {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets/suites")
        .join(name);
    EvalSuite::load(&path, None).unwrap_or_else(|e| panic!("{e}"))
}

fn names(suite: &EvalSuite) -> Vec<String> {
    suite
        .retrieval
        .iter()
        .map(|set| set.name().to_owned())
        .chain(suite.zero_shot.iter().map(|set| set.name.clone()))
        .collect()
}

#[test]
fn the_seeds_suites_parse() {
    let capivara = suite("capivara-pt.toml");
    assert_eq!(capivara.layout, TableLayout::Capivara);
    assert_eq!(
        names(&capivara),
        ["Flickr30k", "MS COCO", "PraCegoVer", "ImageNet"]
    );
    let italian = suite("clip-italian.toml");
    assert_eq!(italian.layout, TableLayout::ClipItalian);
    assert_eq!(names(&italian), ["MSCOCO-it", "ImageNet-it"]);
    let themo = suite("themo.toml");
    assert_eq!(themo.layout, TableLayout::Themo);
    assert_eq!(names(&themo), ["XTD10-es", "ImageNet-es"]);
    assert_eq!(
        themo.zero_shot[0].templates.as_deref(),
        Some(&["una foto de {}.".to_string()][..])
    );
}
