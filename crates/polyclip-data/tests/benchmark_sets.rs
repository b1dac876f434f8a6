//! The benchmark formats: Karpathy-style split files, XTD10's parallel files, ImageNet-style folders and labels
//! files — what they read, and the one-line errors (or counted skips) for what is wrong with them.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use polyclip_data::sources::image_folder::imagenet_wnids;
use polyclip_data::{
    BadInputPolicy, ImageSource, ImagenetClassnames, LabelledImages, RetrievalData,
};
use serde_json::json;

fn photos() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/photos")
}

fn copy_photo(name: &str, to: &Path) {
    fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
    fs::copy(photos().join(name), to).expect("copy");
}

fn wnids() -> Vec<String> {
    imagenet_wnids(&ImagenetClassnames::shipped_dir()).expect("wnids")
}

#[test]
fn karpathy_reads_one_split_with_every_sentence() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_photo("horse.png", &dir.path().join("images/val2014/horse.png"));
    copy_photo("camera.png", &dir.path().join("images/val2014/camera.png"));
    let annotations = dir.path().join("dataset_coco.json");
    let image = |name: &str, split: &str, sentences: &[&str]| {
        json!({"filepath": "val2014", "filename": name, "split": split, "imgid": 0,
               "sentences": sentences.iter().map(|s| json!({"raw": s, "tokens": []})).collect::<Vec<_>>()})
    };
    fs::write(
        &annotations,
        json!({"dataset": "coco", "images": [
            image("horse.png", "test", &["a horse", "a brown horse"]),
            image("unused.png", "train", &["never read"]),
            image("camera.png", "test", &["a man with a camera"]),
        ]})
        .to_string(),
    )
    .expect("write");
    let data = RetrievalData::karpathy(
        &annotations,
        &dir.path().join("images"),
        "test",
        BadInputPolicy::Fail,
    )
    .expect("read");
    let (captions, caption_image) = data.captions();
    assert_eq!(
        captions,
        ["a horse", "a brown horse", "a man with a camera"]
    );
    assert_eq!(caption_image, [0, 0, 1]);
    assert_eq!(
        data.entries[1].image.file(),
        Some(dir.path().join("images/val2014/camera.png").as_path())
    );
    let message = RetrievalData::karpathy(
        &annotations,
        &dir.path().join("images"),
        "val",
        BadInputPolicy::Fail,
    )
    .expect_err("no such split")
    .to_string();
    assert!(
        message.ends_with("no image in split `val` (splits: test, train)"),
        "{message}"
    );
    // A missing image: one line, or skipped with its captions.
    fs::remove_file(dir.path().join("images/val2014/horse.png")).expect("rm");
    let message = RetrievalData::karpathy(
        &annotations,
        &dir.path().join("images"),
        "test",
        BadInputPolicy::Fail,
    )
    .expect_err("missing")
    .to_string();
    assert!(
        message.contains("dataset_coco.json:1: image")
            && message.contains("horse.png does not exist"),
        "{message}"
    );
    let data = RetrievalData::karpathy(
        &annotations,
        &dir.path().join("images"),
        "test",
        BadInputPolicy::Skip,
    )
    .expect("skip");
    assert_eq!(data.captions().0, ["a man with a camera"]);
    assert_eq!(data.skipped.len(), 1);
}

#[test]
fn a_tsv_with_a_row_per_caption_is_one_image_per_picture() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_photo("horse.png", &dir.path().join("horse.png"));
    copy_photo("rocket.jpg", &dir.path().join("rocket.jpg"));
    fs::write(
        dir.path().join("test.tsv"),
        "image_file\tcaption\tlang_id\nhorse.png\tun cavallo\tit\nrocket.jpg\tun razzo\tit\nhorse.png\tun cavallo marrone\tit\n",
    )
    .expect("write");
    let manifest =
        polyclip_data::Manifest::load(&dir.path().join("test.tsv"), BadInputPolicy::Fail)
            .expect("tsv");
    let data = RetrievalData::from_manifest(manifest);
    assert_eq!(
        data.captions(),
        (
            vec![
                "un cavallo".to_string(),
                "un cavallo marrone".into(),
                "un razzo".into()
            ],
            vec![0, 0, 1]
        )
    );
}

#[test]
fn xtd10_parallel_files_pair_line_by_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_photo("horse.png", &dir.path().join("images/COCO_1.png"));
    copy_photo("rocket.jpg", &dir.path().join("images/COCO_2.jpg"));
    fs::write(
        dir.path().join("test_image_names.txt"),
        "COCO_1.png\nCOCO_2.jpg\n",
    )
    .expect("write");
    fs::write(
        dir.path().join("test_1kcaptions_es.txt"),
        "un caballo\nun cohete\n",
    )
    .expect("write");
    let data = RetrievalData::parallel_files(
        &dir.path().join("test_image_names.txt"),
        &dir.path().join("test_1kcaptions_es.txt"),
        &dir.path().join("images"),
        BadInputPolicy::Fail,
    )
    .expect("read");
    assert_eq!(
        data.captions(),
        (
            vec!["un caballo".to_string(), "un cohete".into()],
            vec![0, 1]
        )
    );
    fs::write(dir.path().join("test_1kcaptions_es.txt"), "un caballo\n").expect("write");
    let message = RetrievalData::parallel_files(
        &dir.path().join("test_image_names.txt"),
        &dir.path().join("test_1kcaptions_es.txt"),
        &dir.path().join("images"),
        BadInputPolicy::Fail,
    )
    .expect_err("lengths differ")
    .to_string();
    assert!(
        message.ends_with(&format!(
            "1 captions for the 2 images of {}",
            dir.path().join("test_image_names.txt").display()
        )),
        "{message}"
    );
}

#[test]
fn imagenet_folders_number_classes_by_wordnet_id() {
    let wnids = wnids();
    assert_eq!(wnids.len(), 1000);
    assert_eq!(
        (wnids[0].as_str(), wnids[339].as_str()),
        ("n01440764", "n02389026")
    );
    let dir = tempfile::tempdir().expect("tempdir");
    // Two classes of the 1000 (their index in the sorted-id order): sorrel (339) and rocking chair (765).
    let rocket = wnids
        .iter()
        .position(|w| w == "n04099969")
        .expect("rocking chair");
    assert_eq!(rocket, 765);
    copy_photo("horse.png", &dir.path().join("val/n02389026/a.png"));
    copy_photo("rocket.jpg", &dir.path().join("val/n04099969/b.JPEG"));
    fs::write(dir.path().join("val/n04099969/notes.txt"), "not an image").expect("write");
    let folders =
        LabelledImages::from_class_folders(&dir.path().join("val"), &wnids, BadInputPolicy::Fail)
            .expect("folders");
    assert!(folders.imagenet);
    assert_eq!(folders.labels, [339, rocket]);
    // The same as a flat folder with a labels file (WordNet ids, or indices).
    copy_photo("horse.png", &dir.path().join("flat/a.png"));
    copy_photo("rocket.jpg", &dir.path().join("flat/b.jpg"));
    fs::write(
        dir.path().join("labels.txt"),
        "# image label\na.png n02389026\nb.jpg,n04099969\n",
    )
    .expect("write");
    let labelled = LabelledImages::from_labels_file(
        &dir.path().join("flat"),
        &dir.path().join("labels.txt"),
        &wnids,
        BadInputPolicy::Fail,
    )
    .expect("labels");
    assert_eq!(labelled.labels, [339, rocket]);
    fs::write(
        dir.path().join("labels.txt"),
        format!("a.png 339\nb.jpg {rocket}\n"),
    )
    .expect("write");
    let indexed = LabelledImages::from_labels_file(
        &dir.path().join("flat"),
        &dir.path().join("labels.txt"),
        &wnids,
        BadInputPolicy::Fail,
    )
    .expect("indices");
    assert_eq!(indexed.labels, [339, rocket]);
    // Kaggle's LOC_val_solution.csv: a header, names without `.JPEG`, boxes after the id.
    copy_photo(
        "horse.png",
        &dir.path().join("flat/ILSVRC2012_val_00000001.JPEG"),
    );
    fs::write(
        dir.path().join("LOC_val_solution.csv"),
        "ImageId,PredictionString\nILSVRC2012_val_00000001,n02389026 10 20 30 40 n02389026 1 2 3 4\n",
    )
    .expect("write");
    let kaggle = LabelledImages::from_labels_file(
        &dir.path().join("flat"),
        &dir.path().join("LOC_val_solution.csv"),
        &wnids,
        BadInputPolicy::Fail,
    )
    .expect("kaggle");
    assert_eq!(kaggle.labels, [339]);
    fs::write(dir.path().join("labels.txt"), "a.png n99999999\n").expect("write");
    let message = LabelledImages::from_labels_file(
        &dir.path().join("flat"),
        &dir.path().join("labels.txt"),
        &wnids,
        BadInputPolicy::Fail,
    )
    .expect_err("unknown id")
    .to_string();
    assert!(
        message.ends_with("labels.txt:1: `n99999999` is not an ImageNet-1k WordNet id"),
        "{message}"
    );
    // Other folder names: sorted positions, not ImageNet.
    copy_photo("horse.png", &dir.path().join("pets/horse/1.png"));
    copy_photo("chelsea.png", &dir.path().join("pets/cat/1.png"));
    let pets =
        LabelledImages::from_class_folders(&dir.path().join("pets"), &wnids, BadInputPolicy::Fail)
            .expect("pets");
    assert!(!pets.imagenet);
    assert_eq!(pets.labels, [0, 1]);
    assert_eq!(
        pets.class_ids.values().collect::<Vec<_>>(),
        ["cat", "horse"]
    );
    // A corrupt image: one line or a counted skip.
    fs::write(dir.path().join("pets/cat/2.png"), b"\x89PNG broken").expect("write");
    let message =
        LabelledImages::from_class_folders(&dir.path().join("pets"), &wnids, BadInputPolicy::Fail)
            .expect_err("corrupt")
            .to_string();
    assert!(message.contains("2.png cannot be decoded"), "{message}");
    let pets =
        LabelledImages::from_class_folders(&dir.path().join("pets"), &wnids, BadInputPolicy::Skip)
            .expect("skip");
    assert_eq!((pets.labels.len(), pets.skipped.len()), (2, 1));
    // WebP and GIF pictures are read too (any case of the extension), as are JPEG and PNG.
    let formats = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/formats");
    for (from, to) in [
        ("lossy.webp", "birds/crow/1.webp"),
        ("lossless_alpha.webp", "birds/crow/2.WEBP"),
        ("animated.gif", "birds/owl/1.gif"),
    ] {
        let to = dir.path().join(to);
        fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        fs::copy(formats.join(from), to).expect("copy");
    }
    let birds =
        LabelledImages::from_class_folders(&dir.path().join("birds"), &wnids, BadInputPolicy::Fail)
            .expect("birds");
    assert_eq!((birds.labels, birds.skipped.len()), (vec![0, 0, 1], 0));
    // A class's pictures may sit in folders below its own, as torchvision's ImageFolder finds them
    // (sorted(os.walk(...))): a folder's own pictures first, then every folder below in the order Python sorts
    // their paths ("2024-x" before "2024/sub": '-' < '/').
    for to in [
        "deep/cat/z.png",
        "deep/cat/2024/a.png",
        "deep/cat/2024-x/b.png",
        "deep/cat/2024/sub/c.png",
        "deep/dog/x/y/d.png",
    ] {
        copy_photo("horse.png", &dir.path().join(to));
    }
    let deep =
        LabelledImages::from_class_folders(&dir.path().join("deep"), &wnids, BadInputPolicy::Fail)
            .expect("deep");
    let found: Vec<String> = deep
        .images
        .iter()
        .map(|image| match image {
            ImageSource::File(path) => path
                .strip_prefix(dir.path().join("deep"))
                .expect("under deep")
                .display()
                .to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        found,
        [
            "cat/z.png",
            "cat/2024/a.png",
            "cat/2024-x/b.png",
            "cat/2024/sub/c.png",
            "dog/x/y/d.png"
        ]
    );
    assert_eq!(deep.labels, [0, 0, 0, 0, 1]);
}
