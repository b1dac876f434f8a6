//! CLIP-Vision-mBART50's TSV manifests (`image_file, caption, lang_id`): one caption per row with its language,
//! quoted fields, and bad rows named by file and line.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;

use polyclip_data::{BadInputPolicy, Manifest};

fn manifest(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    image::RgbImage::from_pixel(8, 8, image::Rgb([200, 10, 10]))
        .save(dir.path().join("a.png"))
        .expect("png");
    let path = dir.path().join(name);
    fs::write(&path, text).expect("write");
    (dir, path)
}

#[test]
fn rows_become_captions_with_their_language() {
    let (_dir, path) = manifest(
        "train.tsv",
        "image_file\tcaption\tlang_id\na.png\tun círculo rojo\tes\na.png\t\"a \"\"red\"\"\tcircle\"\ten\n",
    );
    let manifest = Manifest::load(&path, BadInputPolicy::Fail).expect("load");
    let rows: Vec<(&str, Option<&str>, usize)> = manifest
        .entries
        .iter()
        .map(|e| (e.captions[0].as_str(), e.lang.as_deref(), e.line))
        .collect();
    assert_eq!(
        rows,
        [
            ("un círculo rojo", Some("es"), 2),
            ("a \"red\"\tcircle", Some("en"), 3)
        ]
    );
}

#[test]
fn csv_columns_are_found_by_name() {
    let (_dir, path) = manifest(
        "val.csv",
        "lang_id,image_file,caption\nde,a.png,\"ein roter Kreis, links\"\n",
    );
    let manifest = Manifest::load(&path, BadInputPolicy::Fail).expect("load");
    assert_eq!(manifest.entries[0].captions, ["ein roter Kreis, links"]);
    assert_eq!(manifest.entries[0].lang.as_deref(), Some("de"));
}

#[test]
fn bad_rows_and_headers_are_named() {
    let (_dir, path) = manifest(
        "train.tsv",
        "image_file\tcaption\tlang_id\na.png\tun gato\n",
    );
    let message = Manifest::load(&path, BadInputPolicy::Fail)
        .expect_err("short row")
        .to_string();
    assert!(
        message.contains("train.tsv:2:") && message.contains("2 fields where the header has 3"),
        "{message}"
    );

    let (_dir, path) = manifest("train.tsv", "path\tcaption\na.png\tx\n");
    let message = Manifest::load(&path, BadInputPolicy::Fail)
        .expect_err("header")
        .to_string();
    assert!(
        message.contains("train.tsv:1:") && message.contains("`image_file`"),
        "{message}"
    );

    let (_dir, path) = manifest("train.tsv", "image_file\tcaption\na.png\t\"never closed\n");
    let message = Manifest::load(&path, BadInputPolicy::Fail)
        .expect_err("quote")
        .to_string();
    assert!(
        message.contains("train.tsv:2:") && message.contains("not closed"),
        "{message}"
    );

    // --skip-bad counts and goes on.
    let (_dir, path) = manifest(
        "train.tsv",
        "image_file\tcaption\na.png\tx\tspare\na.png\ty\n",
    );
    let manifest = Manifest::load(&path, BadInputPolicy::Skip).expect("skip");
    assert_eq!((manifest.entries.len(), manifest.skipped.len()), (1, 1));
}
