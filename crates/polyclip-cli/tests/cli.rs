//! The polyclip command end to end on the parity fixtures: embeddings equal the Python reference's, the Hub
//! cache serves `hf:` models offline, and what cannot work says so in one line.

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

#[test]
fn embed_writes_npy_and_classify_prints_probabilities() {
    let out = tempfile::tempdir().expect("tempdir");
    let prefix = out.path().join("emb");
    let model = fixtures().join("models/clip_italian");
    let tokenizer = fixtures().join("tokenizers/wordpiece_uncased/tokenizer.json");
    let photo = fixtures().join("photos/chelsea.png");
    let (ok, _, stderr) = polyclip(
        &[
            "embed",
            "--model",
            model.to_str().unwrap(),
            "--tokenizer",
            tokenizer.to_str().unwrap(),
            "--images",
            photo.to_str().unwrap(),
            "--texts",
            "un gatto",
            "due gatti",
            "--format",
            "npy",
            "--output",
            prefix.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok, "{stderr}");
    let texts = std::fs::read(out.path().join("emb.texts.npy")).expect("npy");
    assert!(texts.starts_with(b"\x93NUMPY\x01\x00"));
    assert_eq!(
        (texts.len() - 128) / 4,
        2 * 24,
        "two 24-d rows after a 128-byte header"
    );
    assert!(out.path().join("emb.images.npy").is_file());

    let (ok, stdout, stderr) = polyclip(
        &[
            "classify",
            "--model",
            model.to_str().unwrap(),
            "--tokenizer",
            tokenizer.to_str().unwrap(),
            "--image",
            photo.to_str().unwrap(),
            "--labels",
            "gatto",
            "cane",
            "auto",
            "--templates",
            "una foto di un {}.",
            "{}",
        ],
        &[],
    );
    assert!(ok, "{stderr}");
    let probabilities: Vec<f64> = stdout
        .lines()
        .map(|line| {
            line.split('\t')
                .next()
                .unwrap_or_default()
                .parse()
                .expect("probability")
        })
        .collect();
    assert_eq!(probabilities.len(), 3);
    assert!((probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-3);
    assert!(probabilities.windows(2).all(|w| w[0] >= w[1]));
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
