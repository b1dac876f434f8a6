//! `polyclip eval` and `polyclip prepare` end to end on the parity fixtures (whose embeddings, translations and
//! captions are checked against transformers in cli.rs): the metrics equal those computed here, independently,
//! from `polyclip embed`'s vectors; absent sets are skipped, bad images stop the run or are counted; prepared
//! shards hold the translator's, the captioner's and the scorer's outputs.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use polyclip_data::{BadInputPolicy, Manifest, ReadOptions};
use serde_json::json;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn polyclip(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_polyclip"))
        .args(args)
        .env_remove("HF_HOME")
        .env_remove("HF_HUB_CACHE")
        .output()
        .expect("run polyclip");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The tail both `prepare` runs of the prepare test share: one sample per shard, short captions, batches of two.
const SMALL_SHARDS: [&str; 6] = [
    "--max-length",
    "12",
    "--per-shard",
    "1",
    "--batch-size",
    "2",
];

/// `polyclip prepare` from English to Portuguese with `translator`, then `extra`.
fn prepare_args<'a>(
    input: &'a str,
    out: &'a str,
    translator: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "prepare",
        "--input",
        input,
        "--src",
        "en",
        "--tgt",
        "pt",
        "--out",
        out,
        "--translator",
        translator,
    ];
    args.extend_from_slice(extra);
    args
}

fn model() -> String {
    fixtures().join("models/clip_italian").display().to_string()
}

fn tokenizer() -> String {
    fixtures()
        .join("tokenizers/wordpiece_uncased/tokenizer.json")
        .display()
        .to_string()
}

/// `polyclip eval` of the fixture model with `dir/suite.toml` into `dir/report`, with `extra` options.
fn eval(dir: &Path, extra: &[&str]) -> (bool, String, String) {
    let (model, tokenizer) = (model(), tokenizer());
    let suite = dir.join("suite.toml").display().to_string();
    let out = dir.join("report").display().to_string();
    let mut args = vec![
        "eval",
        "--model",
        &model,
        "--tokenizer",
        &tokenizer,
        "--suite",
        &suite,
        "--out",
        &out,
    ];
    args.extend_from_slice(extra);
    polyclip(&args)
}

/// `polyclip embed` rows (images first, then texts).
fn embed(images: &[PathBuf], texts: &[String]) -> Vec<Vec<f64>> {
    let (model, tokenizer) = (model(), tokenizer());
    let mut args = vec!["embed", "--model", &model, "--tokenizer", &tokenizer];
    let images: Vec<String> = images.iter().map(|p| p.display().to_string()).collect();
    if !images.is_empty() {
        args.push("--images");
        args.extend(images.iter().map(String::as_str));
    }
    if !texts.is_empty() {
        args.push("--texts");
        args.extend(texts.iter().map(String::as_str));
    }
    let (ok, stdout, stderr) = polyclip(&args);
    assert!(ok, "{stderr}");
    stdout
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("json");
            serde_json::from_value(value["embedding"].clone()).expect("embedding")
        })
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalized(v: Vec<f64>) -> Vec<f64> {
    let norm = dot(&v, &v).sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

const PHOTOS: [&str; 5] = [
    "camera.png",
    "chelsea.png",
    "horse.png",
    "page.png",
    "rocket.jpg",
];
const CAPTIONS: [[&str; 2]; 5] = [
    [
        "un uomo con una macchina fotografica",
        "una foto in bianco e nero",
    ],
    ["un gatto", "un gatto tigrato sul tappeto"],
    ["un cavallo sul prato", "un cavallo marrone"],
    ["una pagina di testo", "un libro aperto"],
    ["un razzo", "il lancio di un razzo"],
];

/// Rank of `own` among `scores` (candidates scoring strictly higher), as CLIP_benchmark counts it.
fn rank(scores: &[f64], own: usize) -> usize {
    scores.iter().filter(|&&s| s > scores[own]).count()
}

struct Expected {
    text_to_image: [f64; 3],
    image_to_text: [f64; 3],
    mrr: [f64; 3],
}

/// Retrieval metrics computed from embeddings, written out independently of polyclip-eval.
fn expected_retrieval(
    images: &[Vec<f64>],
    texts: &[Vec<f64>],
    caption_image: &[usize],
) -> Expected {
    let t2i: Vec<usize> = texts
        .iter()
        .zip(caption_image)
        .map(|(text, &own)| {
            rank(
                &images.iter().map(|i| dot(text, i)).collect::<Vec<_>>(),
                own,
            )
        })
        .collect();
    let i2t: Vec<usize> = images
        .iter()
        .enumerate()
        .map(|(index, image)| {
            let scores: Vec<f64> = texts.iter().map(|t| dot(t, image)).collect();
            (0..texts.len())
                .filter(|&t| caption_image[t] == index)
                .map(|t| rank(&scores, t))
                .min()
                .expect("captions")
        })
        .collect();
    let recall = |ranks: &[usize], k: usize| {
        100.0 * ranks.iter().filter(|&&r| r < k).count() as f64 / ranks.len() as f64
    };
    let mrr = |k: usize| {
        t2i.iter()
            .map(|&r| if r < k { 1.0 / (r + 1) as f64 } else { 0.0 })
            .sum::<f64>()
            / t2i.len() as f64
    };
    Expected {
        text_to_image: [1, 5, 10].map(|k| recall(&t2i, k)),
        image_to_text: [1, 5, 10].map(|k| recall(&i2t, k)),
        mrr: [1, 5, 10].map(mrr),
    }
}

fn close(ours: &serde_json::Value, expected: &[f64]) {
    let ours: Vec<f64> = serde_json::from_value(ours.clone()).expect("numbers");
    assert_eq!(ours.len(), expected.len());
    for (a, b) in ours.iter().zip(expected) {
        assert!((a - b).abs() < 1e-9, "{ours:?} vs {expected:?}");
    }
}

/// A benchmark folder: Karpathy JSON + images, XTD10-style files, and a class-folder set.
fn benchmark_folder(dir: &Path) {
    let photos = fixtures().join("photos");
    for photo in PHOTOS {
        fs::create_dir_all(dir.join("flickr/images")).expect("mkdir");
        fs::copy(photos.join(photo), dir.join("flickr/images").join(photo)).expect("copy");
    }
    let images: Vec<serde_json::Value> = PHOTOS
        .iter()
        .zip(CAPTIONS)
        .map(|(photo, captions)| {
            json!({"filename": photo, "split": "test", "sentences": captions.iter().map(|c| json!({"raw": c})).collect::<Vec<_>>()})
        })
        .chain(std::iter::once(json!({"filename": "train.png", "split": "train", "sentences": [{"raw": "x"}]})))
        .collect();
    fs::write(
        dir.join("flickr/dataset_flickr30k_it.json"),
        json!({"images": images}).to_string(),
    )
    .expect("write");
    fs::write(dir.join("flickr/names.txt"), PHOTOS.join("\n")).expect("write");
    let both: Vec<String> = PHOTOS
        .iter()
        .zip(CAPTIONS)
        .map(|(photo, captions)| {
            json!({"image": format!("images/{photo}"), "captions": captions}).to_string()
        })
        .collect();
    fs::write(dir.join("flickr/both.jsonl"), both.join("\n")).expect("write");
    fs::write(
        dir.join("flickr/captions_it.txt"),
        CAPTIONS.map(|c| c[0]).join("\n"),
    )
    .expect("write");
    for (class, photo) in [
        ("cavallo", "horse.png"),
        ("gatto", "chelsea.png"),
        ("razzo", "rocket.jpg"),
    ] {
        fs::create_dir_all(dir.join("pets").join(class)).expect("mkdir");
        fs::copy(photos.join(photo), dir.join("pets").join(class).join(photo)).expect("copy");
    }
    fs::copy(
        photos.join("camera.png"),
        dir.join("pets/cavallo/camera.png"),
    )
    .expect("copy");
    fs::write(
        dir.join("suite.toml"),
        r#"title = "test suite"
layout = "clip-italian"
language = "it"

[[retrieval]]
name = "Flickr-it"
format = "karpathy"
annotations = "flickr/dataset_flickr30k_it.json"
images = "flickr/images"

[[retrieval]]
name = "XTD-it"
format = "parallel"
image_names = "flickr/names.txt"
captions = "flickr/captions_it.txt"
images = "flickr/images"

[[retrieval]]
name = "Every-other"
format = "manifest"
path = "flickr/both.jsonl"
captions_every = 2

[[retrieval]]
name = "Absent"
format = "manifest"
path = "nowhere/{00000..00003}.tar"

[[zero_shot]]
name = "Pets"
images = "pets"
classes = "folders"
templates = ["una foto di un {}", "{}"]
metric = "mean-per-class"
"#,
    )
    .expect("suite");
}

#[test]
fn eval_reports_what_the_embeddings_give() {
    let dir = tempfile::tempdir().expect("tempdir");
    benchmark_folder(dir.path());
    let out = dir.path().join("report");
    let (ok, stdout, stderr) = eval(dir.path(), &["--name", "tiny", "--batch-size", "3"]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("not present, skipped: Absent: "),
        "{stderr}"
    );
    assert!(
        stdout.contains(
            "| Models | Flickr-it MRR@1 | Flickr-it MRR@5 | Flickr-it MRR@10 | XTD-it MRR@1"
        ),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("report.json")).expect("report.json"))
            .expect("json");
    assert_eq!(
        fs::read_to_string(out.join("report.md")).expect("md"),
        stdout
    );
    let row = &report["rows"][0];
    assert_eq!(row["model"], "tiny");

    // Flickr-it: ten captions, two per photo.
    let images: Vec<PathBuf> = PHOTOS
        .iter()
        .map(|p| dir.path().join("flickr/images").join(p))
        .collect();
    let texts: Vec<String> = CAPTIONS.iter().flatten().map(|c| c.to_string()).collect();
    let rows = embed(&images, &texts);
    let (image_rows, text_rows) = rows.split_at(5);
    let caption_image: Vec<usize> = (0..10).map(|c| c / 2).collect();
    let expected = expected_retrieval(image_rows, text_rows, &caption_image);
    let flickr = &row["evaluation"]["retrieval"][0];
    assert_eq!(flickr["set"], "Flickr-it");
    close(&flickr["text_to_image"], &expected.text_to_image);
    close(&flickr["image_to_text"], &expected.image_to_text);
    close(&flickr["text_to_image_mrr"], &expected.mrr);
    // XTD-it: the first caption of each.
    let first: Vec<Vec<f64>> = text_rows.iter().step_by(2).cloned().collect();
    let expected = expected_retrieval(image_rows, &first, &[0, 1, 2, 3, 4]);
    let xtd = &row["evaluation"]["retrieval"][1];
    close(&xtd["text_to_image"], &expected.text_to_image);
    close(&xtd["text_to_image_mrr"], &expected.mrr);
    // The manifest of both captions read every other caption: the same as XTD-it.
    let every_other = &row["evaluation"]["retrieval"][2];
    assert_eq!(every_other["set"], "Every-other");
    assert_eq!(every_other["text_to_image"], xtd["text_to_image"]);
    assert_eq!(every_other["image_to_text"], xtd["image_to_text"]);
    assert_eq!(every_other["text_to_image_mrr"], xtd["text_to_image_mrr"]);
    assert_eq!(
        row["evaluation"]["retrieval"].as_array().map(Vec::len),
        Some(3)
    );

    // Pets: classes in folder order (cavallo, gatto, razzo), class embedding = normalised mean of the templates.
    let classes = ["cavallo", "gatto", "razzo"];
    let prompts: Vec<String> = classes
        .iter()
        .flat_map(|c| [format!("una foto di un {c}"), c.to_string()])
        .collect();
    let pictures = [
        ("pets/cavallo/camera.png", 0),
        ("pets/cavallo/horse.png", 0),
        ("pets/gatto/chelsea.png", 1),
        ("pets/razzo/rocket.jpg", 2),
    ];
    let paths: Vec<PathBuf> = pictures.iter().map(|(p, _)| dir.path().join(p)).collect();
    let rows = embed(&paths, &prompts);
    let (image_rows, prompt_rows) = rows.split_at(4);
    let classifier: Vec<Vec<f64>> = (0..3)
        .map(|c| {
            normalized(
                prompt_rows[2 * c]
                    .iter()
                    .zip(&prompt_rows[2 * c + 1])
                    .map(|(a, b)| (a + b) / 2.0)
                    .collect(),
            )
        })
        .collect();
    let hits: Vec<bool> = image_rows
        .iter()
        .zip(pictures)
        .map(|(image, (_, label))| {
            rank(
                &classifier.iter().map(|c| dot(image, c)).collect::<Vec<_>>(),
                label,
            ) == 0
        })
        .collect();
    let top1 = 100.0 * hits.iter().filter(|&&h| h).count() as f64 / 4.0;
    let per_class = [
        f64::from(u8::from(hits[0]) + u8::from(hits[1])) / 2.0,
        f64::from(u8::from(hits[2])),
        f64::from(u8::from(hits[3])),
    ];
    let mean_per_class = 100.0 * per_class.iter().sum::<f64>() / 3.0;
    let pets = &row["evaluation"]["zero_shot"][0];
    assert_eq!(pets["classes"], 3);
    assert_eq!(pets["metric"], "mean-per-class");
    close(
        &json!([pets["top1"], pets["mean_per_class"]]),
        &[top1, mean_per_class],
    );

    // A second model row appended (the same weights under another name).
    let (ok, stdout, stderr) = eval(dir.path(), &["--name", "again", "--append"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("| tiny |") && stdout.contains("| again |"),
        "{stdout}"
    );
}

#[test]
fn eval_stops_on_a_corrupt_image_or_counts_it_with_skip_bad() {
    let dir = tempfile::tempdir().expect("tempdir");
    benchmark_folder(dir.path());
    // page.png is cut short after its header: it passes the header check and fails to decode in the batch.
    let page = dir.path().join("flickr/images/page.png");
    let bytes = fs::read(&page).expect("read");
    fs::write(&page, &bytes[..bytes.len() / 3]).expect("cut");
    let (ok, _, stderr) = eval(dir.path(), &[]);
    assert!(!ok);
    let error = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .expect("an error line");
    assert!(error.contains("page.png cannot be decoded"), "{stderr}");
    let (ok, _, stderr) = eval(dir.path(), &["--skip-bad"]);
    assert!(ok, "{stderr}");
    // Once per retrieval set that holds it.
    assert!(
        stderr.contains("skipped 3 bad input(s); first: "),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(dir.path().join("report/report.json")).expect("report"),
    )
    .expect("json");
    assert_eq!(
        report["rows"][0]["evaluation"]["retrieval"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
}

#[test]
fn eval_says_when_no_set_is_present_and_names_a_bad_suite_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("suite.toml"), "title = \"t\"\n[[zero_shot]]\nname = \"ImageNet-pt\"\nimages = \"imagenet/val\"\nlanguage = \"pt\"\n").expect("write");
    let (ok, _, stderr) = eval(dir.path(), &[]);
    assert!(!ok);
    assert!(
        stderr.contains("error: eval: none of the sets of") && stderr.contains("ImageNet-pt: "),
        "{stderr}"
    );
    fs::write(
        dir.path().join("suite.toml"),
        "title = \"t\"\n[[zero_shot]]\nname = \"x\"\nimage = \"val\"\n",
    )
    .expect("write");
    let (ok, _, stderr) = eval(dir.path(), &[]);
    assert!(!ok);
    assert!(
        stderr.contains("suite.toml: ") && stderr.contains("unknown field `image`"),
        "{stderr}"
    );
}

fn mbart_tokenizer() -> String {
    fixtures()
        .join("tokenizers/mbart50/tokenizer.json")
        .display()
        .to_string()
}

#[test]
fn prepare_writes_translated_captioned_and_scored_shards() {
    let dir = tempfile::tempdir().expect("tempdir");
    for photo in ["chelsea.png", "rocket.jpg"] {
        fs::copy(
            fixtures().join("photos").join(photo),
            dir.path().join(photo),
        )
        .expect("copy");
    }
    let english = [
        vec!["a red circle", "two red stars"],
        vec!["a white cross on a black background"],
    ];
    let input = dir.path().join("captions.en.jsonl");
    fs::write(
        &input,
        format!(
            "{}\n{}\n",
            json!({"image": "chelsea.png", "captions": english[0]}),
            json!({"image": "rocket.jpg", "captions": english[1]}),
        ),
    )
    .expect("write");
    let translator = fixtures().join("models/mbart").display().to_string();
    let captioner = fixtures().join("models/vision_mbart").display().to_string();
    let mbart = mbart_tokenizer();
    let (scorer, scorer_tokenizer) = (model(), tokenizer());
    let out = dir.path().join("shards");
    let (input_arg, out_arg) = (input.display().to_string(), out.display().to_string());
    let with_scores: &[&str] = &[
        "--translator-tokenizer",
        &mbart,
        "--captioner",
        &captioner,
        "--captioner-tokenizer",
        &mbart,
        "--scorer",
        &scorer,
        "--scorer-tokenizer",
        &scorer_tokenizer,
    ];
    let (ok, _, stderr) = polyclip(&prepare_args(
        &input_arg,
        &out_arg,
        &translator,
        &[with_scores, &SMALL_SHARDS].concat(),
    ));
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("wrote 2 samples into 2 shard(s)"),
        "{stderr}"
    );

    let spec = out.join("{00000..00001}.tar").display().to_string();
    let prepared =
        Manifest::open(&spec, &ReadOptions::new(BadInputPolicy::Fail, Some("pt"))).expect("shards");
    assert_eq!(prepared.entries.len(), 2);
    // Captions: what `translate` prints for them.
    let mut args = vec![
        "translate",
        "--model",
        &translator,
        "--tokenizer",
        &mbart,
        "--src",
        "en",
        "--tgt",
        "pt",
        "--max-length",
        "12",
        "--texts",
    ];
    args.extend(english.iter().flatten());
    let (ok, stdout, stderr) = polyclip(&args);
    assert!(ok, "{stderr}");
    let translations: Vec<&str> = stdout.lines().collect();
    assert_eq!(prepared.entries[0].captions, translations[..2]);
    assert_eq!(prepared.entries[1].captions, translations[2..]);
    // Generated captions: what `caption --lang pt` prints.
    let photos: Vec<String> = ["chelsea.png", "rocket.jpg"]
        .iter()
        .map(|p| dir.path().join(p).display().to_string())
        .collect();
    let mut args = vec![
        "caption",
        "--model",
        &captioner,
        "--tokenizer",
        &mbart,
        "--lang",
        "pt",
        "--max-length",
        "12",
        "--images",
    ];
    args.extend(photos.iter().map(String::as_str));
    let (ok, stdout, stderr) = polyclip(&args);
    assert!(ok, "{stderr}");
    let generated: Vec<&str> = stdout
        .lines()
        .map(|l| l.split_once('\t').expect("tab").1)
        .collect();
    // Similarities: the cosines of `embed`'s vectors; the images are the input files, byte for byte.
    for (index, entry) in prepared.entries.iter().enumerate() {
        assert_eq!(entry.generated_captions, [generated[index]]);
        let texts: Vec<String> = entry
            .captions
            .iter()
            .chain(&entry.generated_captions)
            .cloned()
            .collect();
        let rows = embed(&[PathBuf::from(&photos[index])], &texts);
        let expected: Vec<f64> = rows[1..].iter().map(|t| dot(&rows[0], t)).collect();
        assert_eq!(entry.similarities.len(), expected.len());
        for (ours, theirs) in entry.similarities.iter().zip(&expected) {
            assert!(
                (f64::from(*ours) - theirs).abs() < 1e-5,
                "{:?} vs {expected:?}",
                entry.similarities
            );
        }
        assert_eq!(
            &*entry.image.read().expect("bytes"),
            &fs::read(&photos[index]).expect("photo")[..]
        );
    }
    // The English captions stay under captions-en.
    let en =
        Manifest::open(&spec, &ReadOptions::new(BadInputPolicy::Fail, Some("en"))).expect("en");
    assert_eq!(en.entries[1].captions, english[1]);

    // Two machines each prepare half (`--shard-index I --num-shards 2`, their own --out); `merge-shards` numbers
    // their shards into one folder, which holds what the one-machine run wrote, in the input's order.
    let mut parts = Vec::new();
    for index in ["0", "1"] {
        let part = dir
            .path()
            .join(format!("part{index}"))
            .display()
            .to_string();
        let (ok, _, stderr) = polyclip(&prepare_args(
            &input_arg,
            &part,
            &translator,
            &[
                &[
                    "--translator-tokenizer",
                    &mbart,
                    "--shard-index",
                    index,
                    "--num-shards",
                    "2",
                ][..],
                &SMALL_SHARDS,
            ]
            .concat(),
        ));
        assert!(ok, "{stderr}");
        assert!(
            stderr.contains("wrote 1 samples into 1 shard(s)"),
            "{stderr}"
        );
        parts.push(part);
    }
    let merged = dir.path().join("merged").display().to_string();
    let mut args = vec!["merge-shards", "--out", &merged];
    args.extend(parts.iter().map(String::as_str));
    let (ok, _, stderr) = polyclip(&args);
    assert!(ok, "{stderr}");
    let pattern = dir.path().join("merged").join("{00000..00001}.tar");
    assert!(
        stderr.contains(&format!(
            "polyclip: merged 2 parts into {}",
            pattern.display()
        )),
        "{stderr}"
    );
    let merged = Manifest::open(
        &pattern.display().to_string(),
        &ReadOptions::new(BadInputPolicy::Fail, Some("pt")),
    )
    .expect("merged shards");
    assert_eq!(merged.entries.len(), 2);
    for (part, whole) in merged.entries.iter().zip(&prepared.entries) {
        assert_eq!(part.captions, whole.captions);
        assert_eq!(
            &*part.image.read().expect("bytes"),
            &*whole.image.read().expect("bytes")
        );
    }
    // Part 2 of 2 does not exist.
    let (ok, _, stderr) = polyclip(&prepare_args(
        &input_arg,
        &parts[0],
        &translator,
        &["--shard-index", "2", "--num-shards", "2"],
    ));
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "error: --shard-index 2 --num-shards 2: the index counts from 0 and stays below the number of parts"
    );
}

#[test]
fn eval_scores_imagenet_folders_over_the_classes_the_language_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let photos = fixtures().join("photos");
    // Three WordNet-id folders; the class names name two of them (as Babel-ImageNet languages name a subset).
    for (wnid, photo) in [
        ("n02389026", "horse.png"),
        ("n04099969", "camera.png"),
        ("n01440764", "chelsea.png"),
    ] {
        fs::create_dir_all(dir.path().join("val").join(wnid)).expect("mkdir");
        fs::copy(
            photos.join(photo),
            dir.path().join("val").join(wnid).join(photo),
        )
        .expect("copy");
    }
    let names = dir.path().join("classnames");
    fs::create_dir_all(&names).expect("mkdir");
    fs::copy(
        fixtures().join("../../datasets/classnames/imagenet_wnids.txt"),
        names.join("imagenet_wnids.txt"),
    )
    .expect("wnids");
    let templates = ["una foto di {}.", "{}"];
    fs::write(
        names.join("it.json"),
        json!({"language": "it", "source": "test", "class_indices": [765, 339],
               "classnames": ["sedia a dondolo", "cavallo sauro"], "templates": templates})
        .to_string(),
    )
    .expect("names");
    fs::write(
        dir.path().join("suite.toml"),
        "title = \"t\"\nlayout = \"capivara\"\n[[zero_shot]]\nname = \"ImageNet-it\"\nimages = \"val\"\nlanguage = \"it\"\n",
    )
    .expect("suite");
    let names_arg = names.display().to_string();
    let (ok, stdout, stderr) = eval(dir.path(), &["--classnames", &names_arg]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("| Models | **ImageNet-it** | **Average** |"),
        "{stdout}"
    );
    // Expected: the two named classes' images against the two class embeddings (the tench image is left out).
    let prompts: Vec<String> = ["sedia a dondolo", "cavallo sauro"]
        .iter()
        .flat_map(|name| templates.map(|t| t.replace("{}", name)))
        .collect();
    let images = [
        dir.path().join("val/n02389026/horse.png"),
        dir.path().join("val/n04099969/camera.png"),
    ];
    let rows = embed(&images, &prompts);
    let classifier: Vec<Vec<f64>> = (0..2)
        .map(|c| {
            normalized(
                rows[2 + 2 * c]
                    .iter()
                    .zip(&rows[3 + 2 * c])
                    .map(|(a, b)| (a + b) / 2.0)
                    .collect(),
            )
        })
        .collect();
    // Folders in sorted order: n02389026 (row 1 of the classifier), n04099969 (row 0).
    let hits = [(0, 1), (1, 0)]
        .iter()
        .filter(|&&(image, row)| {
            rank(
                &classifier
                    .iter()
                    .map(|c| dot(&rows[image], c))
                    .collect::<Vec<_>>(),
                row,
            ) == 0
        })
        .count();
    let report: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(dir.path().join("report/report.json")).expect("report"),
    )
    .expect("json");
    let set = &report["rows"][0]["evaluation"]["zero_shot"][0];
    assert_eq!(set["classes"], 2);
    close(&json!([set["top1"]]), &[50.0 * hits as f64]);
}

/// `eval --out` takes the folder's lock as a recipe run does: a folder another run is writing is refused in one
/// line naming the holder, before the suite is read.
#[test]
fn eval_refuses_an_output_folder_another_run_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lock =
        polyclip_train::run_lock::RunLock::acquire(&dir.path().join("report")).expect("lock");
    let (ok, _, stderr) = eval(dir.path(), &[]);
    assert!(!ok);
    assert!(
        stderr.trim().starts_with(&format!(
            "error: {}: another polyclip run is writing this folder (pid {}, started ",
            dir.path().join("report").display(),
            std::process::id()
        )),
        "{stderr}"
    );
    drop(lock);
}
