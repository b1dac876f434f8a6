//! The polyclip command end to end on the parity fixtures: embeddings equal the Python reference's, the Hub
//! cache serves `hf:` models offline, and what cannot work says so in one line.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn polyclip(args: &[&str], env: &[(&str, &Path)]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_polyclip"));
    command
        .args(args)
        .env_remove("HF_HOME")
        .env_remove("HF_HUB_CACHE");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run polyclip");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        if entry.path().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

/// A Hugging Face cache holding `org/tiny-clip` (the hf_clip fixture with its tokenizer), as
/// `huggingface-cli download` leaves it.
fn hub_cache() -> tempfile::TempDir {
    let cache = tempfile::tempdir().expect("tempdir");
    let repo = cache.path().join("models--org--tiny-clip");
    std::fs::create_dir_all(repo.join("refs")).expect("mkdir");
    std::fs::write(repo.join("refs/main"), "0123abcd").expect("ref");
    let snapshot = repo.join("snapshots/0123abcd");
    copy_dir(&fixtures().join("models/hf_clip"), &snapshot);
    std::fs::copy(
        fixtures().join("tokenizers/clip_bpe/tokenizer.json"),
        snapshot.join("tokenizer.json"),
    )
    .expect("copy");
    cache
}

fn normalized(values: &[f64]) -> Vec<f64> {
    let norm = values.iter().map(|v| v * v).sum::<f64>().sqrt();
    values.iter().map(|v| v / norm).collect()
}

#[test]
fn embed_from_the_hub_cache_matches_the_python_reference() {
    let cache = hub_cache();
    let (ok, stdout, stderr) = polyclip(
        &[
            "embed",
            "--model",
            "hf:org/tiny-clip",
            "--texts",
            "a photo of a cat",
        ],
        &[
            ("HF_HUB_CACHE", cache.path()),
            ("HF_HUB_OFFLINE", Path::new("1")),
        ],
    );
    assert!(ok, "{stderr}");
    let line: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json line");
    assert_eq!(line["kind"], "text");
    let ours: Vec<f64> = serde_json::from_value(line["embedding"].clone()).expect("embedding");
    // The reference's first text is "a photo of a cat" (tests/fixtures/make_fixtures.py).
    let reference =
        polyclip_checkpoints_reference(&fixtures().join("models/hf_clip/reference.safetensors"));
    let theirs = normalized(&reference[..ours.len()]);
    let worst = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        worst < 1e-5,
        "CLI embedding differs from transformers by {worst}"
    );
}

/// The first row of `text_features` in a reference file.
fn polyclip_checkpoints_reference(path: &Path) -> Vec<f64> {
    let map = polyclip_checkpoints::tensors::TensorMap::read(path).expect("reference");
    map.tensors["text_features"]
        .to_vec::<f32>()
        .expect("f32")
        .into_iter()
        .map(f64::from)
        .collect()
}

#[test]
fn a_model_missing_from_the_offline_cache_says_what_to_download() {
    let cache = tempfile::tempdir().expect("tempdir");
    let (ok, _, stderr) = polyclip(
        &["embed", "--model", "hf:org/absent", "--texts", "x"],
        &[
            ("HF_HUB_CACHE", cache.path()),
            ("HF_HUB_OFFLINE", Path::new("1")),
        ],
    );
    assert!(!ok);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("hf:org/absent") && stderr.contains("huggingface-cli download org/absent"),
        "{stderr}"
    );
}

/// What transformers computes for the clip_italian fixture on real photos (make_fixtures.py
/// `make_cli_reference`).
#[derive(serde::Deserialize)]
struct CliReference {
    photos: Vec<String>,
    texts: Vec<String>,
    labels: Vec<String>,
    templates: Vec<String>,
    image_embeddings: Vec<Vec<f64>>,
    text_embeddings: Vec<Vec<f64>>,
    cosine: Vec<Vec<f64>>,
    logit_scale: f64,
    classify_first_photo: Vec<f64>,
}

struct ClipItalian {
    reference: CliReference,
    model: String,
    tokenizer: String,
    photos: Vec<String>,
}

fn clip_italian() -> ClipItalian {
    let dir = fixtures().join("models/clip_italian");
    let reference: CliReference = serde_json::from_str(
        &std::fs::read_to_string(dir.join("cli_reference.json")).expect("cli_reference.json"),
    )
    .expect("reference json");
    let photos = reference
        .photos
        .iter()
        .map(|name| fixtures().join("photos").join(name).display().to_string())
        .collect();
    ClipItalian {
        reference,
        model: dir.display().to_string(),
        tokenizer: fixtures()
            .join("tokenizers/wordpiece_uncased/tokenizer.json")
            .display()
            .to_string(),
        photos,
    }
}

fn worst_difference<'a>(
    ours: impl IntoIterator<Item = &'a f64>,
    theirs: impl IntoIterator<Item = &'a f64>,
) -> f64 {
    ours.into_iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

fn embed_jsonl(
    model: &str,
    tokenizer: Option<&str>,
    photos: &[String],
    texts: &[String],
) -> Vec<Vec<f64>> {
    let mut args = vec!["embed", "--model", model];
    if let Some(tokenizer) = tokenizer {
        args.extend(["--tokenizer", tokenizer]);
    }
    if !photos.is_empty() {
        args.push("--images");
        args.extend(photos.iter().map(String::as_str));
    }
    if !texts.is_empty() {
        args.push("--texts");
        args.extend(texts.iter().map(String::as_str));
    }
    let (ok, stdout, stderr) = polyclip(&args, &[]);
    assert!(ok, "{stderr}");
    stdout
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("json line");
            serde_json::from_value(value["embedding"].clone()).expect("embedding")
        })
        .collect()
}

#[test]
fn embed_similarity_and_classify_match_transformers_on_real_photos() {
    let fixture = clip_italian();
    let reference = &fixture.reference;

    let rows = embed_jsonl(
        &fixture.model,
        Some(&fixture.tokenizer),
        &fixture.photos,
        &reference.texts,
    );
    let expected: Vec<&Vec<f64>> = reference
        .image_embeddings
        .iter()
        .chain(&reference.text_embeddings)
        .collect();
    assert_eq!(rows.len(), expected.len());
    for (ours, theirs) in rows.iter().zip(expected) {
        let worst = worst_difference(ours, theirs);
        assert!(
            worst < 1e-4,
            "embedding differs from transformers by {worst}"
        );
    }

    let mut args = vec![
        "similarity",
        "--model",
        &fixture.model,
        "--tokenizer",
        &fixture.tokenizer,
        "--images",
    ];
    args.extend(fixture.photos.iter().map(String::as_str));
    args.push("--texts");
    args.extend(reference.texts.iter().map(String::as_str));
    let (ok, stdout, stderr) = polyclip(&args, &[]);
    assert!(ok, "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("json line"))
        .collect();
    assert_eq!(lines.len(), fixture.photos.len());
    for (line, expected) in lines.iter().zip(&reference.cosine) {
        let cosine: Vec<f64> = serde_json::from_value(line["cosine"].clone()).expect("cosine");
        let logits: Vec<f64> = serde_json::from_value(line["logits"].clone()).expect("logits");
        assert!(
            worst_difference(&cosine, expected) < 1e-4,
            "{cosine:?} vs {expected:?}"
        );
        let scaled: Vec<f64> = expected.iter().map(|c| c * reference.logit_scale).collect();
        assert!(
            worst_difference(&logits, &scaled) < 2e-3,
            "{logits:?} vs {scaled:?}"
        );
    }

    let mut args = vec![
        "classify",
        "--model",
        &fixture.model,
        "--tokenizer",
        &fixture.tokenizer,
        "--image",
        &fixture.photos[0],
        "--labels",
    ];
    args.extend(reference.labels.iter().map(String::as_str));
    args.push("--templates");
    args.extend(reference.templates.iter().map(String::as_str));
    let (ok, stdout, stderr) = polyclip(&args, &[]);
    assert!(ok, "{stderr}");
    let printed: Vec<(f64, String)> = stdout
        .lines()
        .map(|line| {
            let (probability, label) = line.split_once('\t').expect("probability<TAB>label");
            (probability.parse().expect("probability"), label.to_string())
        })
        .collect();
    assert_eq!(printed.len(), reference.labels.len());
    assert!(printed.windows(2).all(|w| w[0].0 >= w[1].0), "{stdout}");
    for (probability, label) in printed {
        let class = reference
            .labels
            .iter()
            .position(|l| *l == label)
            .expect("a known label");
        let expected = reference.classify_first_photo[class];
        // Printed with four decimals.
        assert!(
            (probability - expected).abs() < 1e-4,
            "{label}: {probability} vs {expected}"
        );
    }
}

#[test]
fn export_writes_a_folder_that_embeds_the_same() {
    let fixture = clip_italian();
    let out = tempfile::tempdir().expect("tempdir");
    let exported = out.path().join("exported");
    let (ok, _, stderr) = polyclip(
        &[
            "export",
            "--model",
            &fixture.model,
            "--tokenizer",
            &fixture.tokenizer,
            "--out",
            exported.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(ok, "{stderr}");
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(exported.join(file).is_file(), "{file} missing");
    }
    let texts = fixture.reference.texts.clone();
    let before = embed_jsonl(
        &fixture.model,
        Some(&fixture.tokenizer),
        &fixture.photos,
        &texts,
    );
    // The exported folder carries its tokenizer.
    let after = embed_jsonl(
        exported.to_str().expect("utf-8"),
        None,
        &fixture.photos,
        &texts,
    );
    assert_eq!(before, after);
}

#[test]
fn embed_writes_npy_arrays_in_input_order() {
    let fixture = clip_italian();
    let out = tempfile::tempdir().expect("tempdir");
    let prefix = out.path().join("emb");
    let mut args = vec![
        "embed",
        "--model",
        &fixture.model,
        "--tokenizer",
        &fixture.tokenizer,
        "--images",
    ];
    args.extend(fixture.photos.iter().map(String::as_str));
    args.extend([
        "--texts",
        "un gatto",
        "due gatti",
        "--format",
        "npy",
        "--output",
    ]);
    args.push(prefix.to_str().expect("utf-8"));
    let (ok, _, stderr) = polyclip(&args, &[]);
    assert!(ok, "{stderr}");
    let read = |name: &str| {
        let bytes = std::fs::read(out.path().join(name)).expect("npy");
        assert!(
            bytes.starts_with(b"\x93NUMPY\x01\x00"),
            "{name}: not an .npy v1 file"
        );
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        let header = String::from_utf8_lossy(&bytes[10..10 + header_len]).into_owned();
        let values: Vec<f64> = bytes[10 + header_len..]
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect();
        (header, values)
    };
    let (header, images) = read("emb.images.npy");
    assert!(
        header.contains("'descr': '<f4'") && header.contains("'shape': (2, 24)"),
        "{header}"
    );
    let expected: Vec<f64> = fixture.reference.image_embeddings.concat();
    assert!(worst_difference(&images, &expected) < 1e-4);
    let (header, texts) = read("emb.texts.npy");
    assert!(header.contains("'shape': (2, 24)"), "{header}");
    assert_eq!(texts.len(), 48);
}

#[test]
fn embed_help_names_both_output_formats() {
    let (ok, stdout, _) = polyclip(&["embed", "--help"], &[]);
    assert!(ok);
    assert!(
        stdout.contains("jsonl") && stdout.contains("npy") && stdout.contains("--backend"),
        "{stdout}"
    );
}

#[test]
fn a_text_encoder_refuses_images_in_one_line() {
    let model = fixtures().join("models/mclip");
    let photo = fixtures().join("photos/horse.png");
    let (ok, _, stderr) = polyclip(
        &[
            "embed",
            "--model",
            model.to_str().unwrap(),
            "--images",
            photo.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!ok);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("text encoder without an image tower"),
        "{stderr}"
    );
}

#[test]
fn a_text_encoder_pairs_with_the_image_tower_of_image_model() {
    let mclip = fixtures().join("models/mclip").display().to_string();
    let clip = fixtures().join("models/hf_clip").display().to_string();
    let xlmr = fixtures()
        .join("tokenizers/xlmr_unigram/tokenizer.json")
        .display()
        .to_string();
    let clip_bpe = fixtures()
        .join("tokenizers/clip_bpe/tokenizer.json")
        .display()
        .to_string();
    let photo = fixtures().join("photos/horse.png").display().to_string();
    let texts = ["um cavalo".to_string(), "dois gatos".to_string()];
    let (ok, stdout, stderr) = polyclip(
        &[
            "similarity",
            "--model",
            &mclip,
            "--tokenizer",
            &xlmr,
            "--image-model",
            &clip,
            "--images",
            &photo,
            "--texts",
            &texts[0],
            &texts[1],
        ],
        &[],
    );
    assert!(ok, "{stderr}");
    let line: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json line");
    let cosine: Vec<f64> = serde_json::from_value(line["cosine"].clone()).expect("cosine");
    // The same as embedding the texts with M-CLIP and the picture with the CLIP model, then a dot product.
    let text_rows = embed_jsonl(&mclip, Some(&xlmr), &[], &texts);
    let image_rows = embed_jsonl(&clip, Some(&clip_bpe), std::slice::from_ref(&photo), &[]);
    let expected: Vec<f64> = text_rows
        .iter()
        .map(|text| text.iter().zip(&image_rows[0]).map(|(a, b)| a * b).sum())
        .collect();
    assert!(
        worst_difference(&cosine, &expected) < 1e-5,
        "{cosine:?} vs {expected:?}"
    );
}

fn mbart_tokenizer() -> String {
    fixtures()
        .join("tokenizers/mbart50/tokenizer.json")
        .display()
        .to_string()
}

#[derive(serde::Deserialize)]
struct Generation {
    #[serde(default)]
    input_ids: Vec<Vec<i64>>,
    cases: Vec<GenerationCase>,
    #[serde(default)]
    photos: Vec<PhotoCaptions>,
}

#[derive(serde::Deserialize)]
struct GenerationCase {
    settings: serde_json::Value,
    lang: String,
    sequences: Vec<Vec<i64>>,
}

#[derive(serde::Deserialize)]
struct PhotoCaptions {
    lang: String,
    photos: Vec<String>,
    max_length: usize,
    captions: Vec<String>,
}

fn generation(model: &str) -> Generation {
    let path = fixtures()
        .join("models")
        .join(model)
        .join("generation.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("generation.json")).expect("json")
}

/// The texts transformers decoded the references from: the fixture's sources, as `translate` reads them.
const SOURCES: [&str; 3] = [
    "a red circle",
    "a white cross on a black background",
    "two red stars",
];

#[test]
fn translate_prints_what_transformers_generates() {
    let tokenizer_path = mbart_tokenizer();
    let tokenizer = polyclip_data::MBartTokenizer::from_file(Path::new(&tokenizer_path), 40)
        .expect("tokenizer");
    let reference = generation("mbart");
    // The sources of generation.json are these texts in English.
    let sources: Vec<i64> = SOURCES
        .iter()
        .flat_map(|text| tokenizer.encode(text, "en").expect("encode"))
        .map(i64::from)
        .collect();
    let flat: Vec<i64> = reference
        .input_ids
        .iter()
        .flatten()
        .copied()
        .filter(|&id| id != 1)
        .collect();
    assert_eq!(sources, flat);
    let model = fixtures().join("models/mbart").display().to_string();
    let mut checked = 0;
    for case in &reference.cases {
        let beams = case.settings["num_beams"]
            .as_u64()
            .expect("beams")
            .to_string();
        let max_length = case.settings["max_length"]
            .as_u64()
            .expect("max_length")
            .to_string();
        if case.settings.get("length_penalty").is_some()
            || case.settings.get("early_stopping").is_some()
            || case.settings.get("no_repeat_ngram_size").is_some()
        {
            continue;
        }
        let mut args = vec![
            "translate",
            "--model",
            &model,
            "--tokenizer",
            &tokenizer_path,
            "--src",
            "en",
            "--tgt",
            &case.lang,
            "--num-beams",
            &beams,
            "--max-length",
            &max_length,
            "--texts",
        ];
        args.extend(SOURCES);
        let (ok, stdout, stderr) = polyclip(&args, &[]);
        assert!(ok, "{stderr}");
        let expected: Vec<String> = case
            .sequences
            .iter()
            .map(|ids| tokenizer.decode(ids).expect("decode"))
            .collect();
        assert_eq!(
            stdout.lines().collect::<Vec<_>>(),
            expected,
            "{}",
            case.settings
        );
        checked += 1;
    }
    assert!(checked >= 4, "greedy and beam cases in two languages");
}

#[test]
fn caption_prints_what_transformers_generates_for_real_photos() {
    let model = fixtures().join("models/vision_mbart").display().to_string();
    let tokenizer = mbart_tokenizer();
    for case in generation("vision_mbart").photos {
        let photos: Vec<String> = case
            .photos
            .iter()
            .map(|name| fixtures().join("photos").join(name).display().to_string())
            .collect();
        let max_length = case.max_length.to_string();
        let mut args = vec![
            "caption",
            "--model",
            &model,
            "--tokenizer",
            &tokenizer,
            "--lang",
            &case.lang,
            "--max-length",
            &max_length,
            "--images",
        ];
        args.extend(photos.iter().map(String::as_str));
        let (ok, stdout, stderr) = polyclip(&args, &[]);
        assert!(ok, "{stderr}");
        let printed: Vec<(String, String)> = stdout
            .lines()
            .map(|line| {
                let (image, caption) = line.split_once('\t').expect("image<TAB>caption");
                (image.to_string(), caption.to_string())
            })
            .collect();
        let expected: Vec<(String, String)> = photos.into_iter().zip(case.captions).collect();
        assert_eq!(printed, expected, "{}", case.lang);
    }
}

#[test]
fn translate_manifest_translates_every_caption_and_keeps_the_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["chelsea.png", "horse.png"] {
        std::fs::copy(fixtures().join("photos").join(name), dir.path().join(name)).expect("copy");
    }
    let input = dir.path().join("captions.en.jsonl");
    std::fs::write(
        &input,
        format!(
            "{}\n{}\n",
            serde_json::json!({"image": "chelsea.png", "captions": [SOURCES[0], SOURCES[1]], "lang": "en"}),
            serde_json::json!({"image": "horse.png", "captions": [SOURCES[2]], "lang": "en"}),
        ),
    )
    .expect("write");
    let model = fixtures().join("models/mbart").display().to_string();
    let tokenizer = mbart_tokenizer();
    // The model and the translation every command below uses.
    let translation = [
        "--model",
        &model,
        "--tokenizer",
        &tokenizer,
        "--src",
        "en",
        "--tgt",
        "pt",
        "--max-length",
        "16",
    ];
    let mut args = vec!["translate"];
    args.extend(translation);
    args.push("--texts");
    args.extend(SOURCES);
    let (ok, stdout, stderr) = polyclip(&args, &[]);
    assert!(ok, "{stderr}");
    let expected: Vec<&str> = stdout.lines().collect();

    for output in ["captions.pt.jsonl", "captions.pt.tsv"] {
        let output = dir.path().join(output);
        let mut args = vec!["translate-manifest"];
        args.extend(translation);
        args.extend([
            "--batch-size",
            "2",
            "--input",
            input.to_str().expect("utf-8"),
            "--output",
            output.to_str().expect("utf-8"),
        ]);
        let (ok, _, stderr) = polyclip(&args, &[]);
        assert!(ok, "{stderr}");
        let manifest = polyclip_data::Manifest::load(&output, polyclip_data::BadInputPolicy::Fail)
            .expect("readable");
        let captions: Vec<&str> = manifest
            .entries
            .iter()
            .flat_map(|e| e.captions.iter().map(String::as_str))
            .collect();
        assert_eq!(captions, expected, "{}", output.display());
        assert!(
            manifest
                .entries
                .iter()
                .all(|e| e.lang.as_deref() == Some("pt"))
        );
    }

    // Typed as a user types it: relative paths from the working directory, the output in another folder. The
    // image paths are written relative to the output's folder, so the manifest reads back from anywhere.
    let output = Command::new(env!("CARGO_BIN_EXE_polyclip"))
        .current_dir(dir.path())
        .arg("translate-manifest")
        .args(translation)
        .args([
            "--input",
            "captions.en.jsonl",
            "--output",
            "translated/captions.pt.jsonl",
        ])
        .output()
        .expect("run polyclip");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let written =
        std::fs::read_to_string(dir.path().join("translated/captions.pt.jsonl")).expect("written");
    let images: Vec<String> = written
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).expect("json");
            record["image"].as_str().expect("image").to_owned()
        })
        .collect();
    assert_eq!(images, ["../chelsea.png", "../horse.png"]);
    let manifest = polyclip_data::Manifest::load(
        &dir.path().join("translated/captions.pt.jsonl"),
        polyclip_data::BadInputPolicy::Fail,
    )
    .expect("readable from another working directory");
    assert_eq!(manifest.entries.len(), 2);
}

/// A model whose weights hold a NaN (here the first value of the image projection) used to print `null`
/// cosines and "NaN" probabilities with exit code 0. Every inference command now stops in one line; the text
/// tower, still finite, embeds as before.
#[test]
fn a_model_with_nan_weights_fails_every_inference_command_in_one_line() {
    use polyclip_checkpoints::tensors::TensorMap;
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&fixtures().join("models/hf_clip"), dir.path());
    let path = dir.path().join("model.safetensors");
    let mut weights = TensorMap::read(&path).expect("weights");
    let projection = weights
        .tensors
        .get_mut("visual_projection.weight")
        .expect("the image projection");
    let mut values: Vec<f32> = projection.to_vec().expect("f32 values");
    values[0] = f32::NAN;
    *projection = burn::tensor::TensorData::new(values, projection.shape.clone());
    weights.write_safetensors(&path).expect("write");
    let model = dir.path().to_str().expect("utf-8");
    let tokenizer = fixtures().join("tokenizers/clip_bpe/tokenizer.json");
    let tokenizer = tokenizer.to_str().expect("utf-8");
    let photo = fixtures().join("photos/chelsea.png");
    let photo = photo.to_str().expect("utf-8");
    let common = ["--model", model, "--tokenizer", tokenizer];
    for command in [
        vec!["similarity", "--images", photo, "--texts", "a cat"],
        vec!["classify", "--image", photo, "--labels", "cat", "dog"],
        vec!["embed", "--images", photo],
    ] {
        let args: Vec<&str> = command[..1]
            .iter()
            .chain(&common)
            .chain(&command[1..])
            .copied()
            .collect();
        let (ok, stdout, stderr) = polyclip(&args, &[]);
        assert!(!ok, "{}: {stdout}", command[0]);
        assert_eq!(
            stderr.trim(),
            "error: the image embedding of row 0 is NaN or infinite: the model's weights are not finite",
            "{}",
            command[0]
        );
    }
    let (ok, _, stderr) = polyclip(
        &[
            "embed",
            "--model",
            model,
            "--tokenizer",
            tokenizer,
            "--texts",
            "a cat",
        ],
        &[],
    );
    assert!(ok, "{stderr}");
}

/// An empty --text-file used to be answered "give --images, --texts or --text-file" although one was given.
#[test]
fn an_empty_text_file_says_it_is_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("texts.txt");
    std::fs::write(&empty, "\n  \n").expect("write");
    let model = fixtures().join("models/hf_clip");
    let (ok, _, stderr) = polyclip(
        &[
            "embed",
            "--model",
            model.to_str().expect("utf-8"),
            "--text-file",
            empty.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        format!(
            "error: {}: the file is empty (one text per line expected)",
            empty.display()
        )
    );
}

/// The pixel budget is POLYCLIP_MAX_IMAGE_PIXELS when set (Pillow's MAX_IMAGE_PIXELS by default): a picture over
/// it is refused from its header.
#[test]
fn the_pixel_budget_can_be_set_from_the_environment() {
    let model = fixtures().join("models/hf_clip");
    let photo = fixtures().join("photos/chelsea.png");
    let (width, height) = image::image_dimensions(&photo).expect("dimensions");
    let budget = (width * height - 1).to_string();
    let args = [
        "embed",
        "--model",
        model.to_str().expect("utf-8"),
        "--images",
        photo.to_str().expect("utf-8"),
    ];
    let (ok, _, stderr) = polyclip(&args, &[("POLYCLIP_MAX_IMAGE_PIXELS", Path::new(&budget))]);
    assert!(!ok);
    assert!(
        stderr.contains(&format!(
            "{width}×{height} = {} pixels, more than the {budget} allowed",
            width * height
        )),
        "{stderr}"
    );
    let (ok, _, stderr) = polyclip(&args, &[]);
    assert!(ok, "{stderr}");
}
