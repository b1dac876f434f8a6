//! The mbart-captioner binary: a very short run on a small embedded dataset writes CLIP-Vision-mBART50's BLEU table, the
//! report and the captioner folder, which `polyclip`'s loader reads back; and it starts from CLIP-Vision-mBART50's Flax
//! checkpoint with --model.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn captioner(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_mbart-captioner"))
        .args(args)
        .output()
        .expect("run mbart-captioner");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// The built-in recipe on few pictures.
fn small_recipe(dir: &std::path::Path) -> std::path::PathBuf {
    let (ok, small, stderr) = captioner(&[
        "--print-recipe",
        "--set",
        "data.train_images=64",
        "--set",
        "data.test_images=8",
        "--set",
        "eval.max_length=8",
    ]);
    assert!(ok, "{stderr}");
    assert!(small.contains("max_length = 8"), "{small}");
    let path = dir.join("small.toml");
    std::fs::write(&path, small).expect("write");
    path
}

#[test]
fn a_short_run_writes_the_bleu_table_report_and_captioner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let recipe = small_recipe(dir.path());
    let run = dir.path().join("run");
    let (ok, stdout, stderr) = captioner(&[
        "--recipe",
        recipe.to_str().expect("utf-8"),
        "--run-dir",
        run.to_str().expect("utf-8"),
        "--steps",
        "3",
        "--batch-size",
        "8",
        "--no-progress",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("|Language |BLEU-1|BLEU-2|BLEU-3|BLEU-4|"),
        "{stdout}"
    );
    for language in ["English", "Spanish", "German", "French"] {
        assert!(stdout.contains(&format!("|{language} |")), "{stdout}");
    }
    assert!(run.join("data/train.captions.en-es-de-fr.1.tsv").is_file());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).expect("report"))
            .expect("json");
    assert_eq!(report["languages"].as_array().map(Vec::len), Some(4));
    assert_eq!(report["languages"][0]["pictures"], 8);
    let captioner = run.join("captioner");
    for file in ["captioner.json", "model.mpk", "tokenizer.json"] {
        assert!(captioner.join(file).is_file(), "{file} missing");
    }
    assert!(run.join("curves.png").is_file());
}

#[test]
fn it_starts_from_the_seeds_flax_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let recipe = small_recipe(dir.path());
    let model = fixtures().join("models/clip_vision_mbart");
    let tokenizer = fixtures().join("tokenizers/mbart50/tokenizer.json");
    let (ok, stdout, stderr) = captioner(&[
        "--recipe",
        recipe.to_str().expect("utf-8"),
        "--run-dir",
        dir.path().join("run").to_str().expect("utf-8"),
        "--model",
        model.to_str().expect("utf-8"),
        "--tokenizer",
        tokenizer.to_str().expect("utf-8"),
        "--steps",
        "0",
        "--no-progress",
    ]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("ClipVisionMbart"), "{stderr}");
    assert!(stdout.contains("|German |"), "{stdout}");
}

#[test]
fn a_translation_model_cannot_caption() {
    let model = fixtures().join("models/mbart");
    let (ok, _, stderr) = captioner(&["--model", model.to_str().expect("utf-8"), "--steps", "0"]);
    assert!(!ok);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("text-to-text"), "{stderr}");
}

/// One runner for every recipe file: `recipe run` reads `[recipe] kind = "captioner"` and runs the captioner,
/// `recipe list` names it, and options only stage recipes have are refused in one line.
#[test]
fn recipe_run_and_list_handle_the_captioner() {
    let recipe = env!("CARGO_BIN_EXE_recipe");
    let output = Command::new(recipe)
        .arg("list")
        .output()
        .expect("recipe list");
    let listed = String::from_utf8_lossy(&output.stdout);
    assert!(
        listed
            .lines()
            .any(|line| line.starts_with("mbart-captioner")
                && line.contains("recipes/mbart-captioner.toml")
                && line.ends_with("captioner")),
        "{listed}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = small_recipe(dir.path());
    assert!(
        std::fs::read_to_string(&file)
            .expect("read")
            .contains("kind = \"captioner\"")
    );
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            file.to_str().expect("utf-8"),
            "--run-dir",
            "run",
            "--batch-size",
            "8",
            "--no-progress",
        ];
        args.extend_from_slice(extra);
        let output = Command::new(recipe)
            .current_dir(dir.path())
            .args(&args)
            .output()
            .expect("recipe run");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = run(&["--steps", "2"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("|Language |BLEU-1|BLEU-2|BLEU-3|BLEU-4|"),
        "{stdout}"
    );
    assert!(dir.path().join("run/report.json").is_file());
    let (ok, _, stderr) = run(&["--base-steps", "3"]);
    assert!(!ok);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--base-steps is not supported yet: a captioner recipe"),
        "{stderr}"
    );
}

/// A captioner's loss is not contrastive: `micro_batch` is refused in one line before anything is written.
#[test]
fn the_captioner_refuses_micro_batches_in_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let recipe = small_recipe(dir.path());
    let run = dir.path().join("run");
    let (ok, _, stderr) = captioner(&[
        "--recipe",
        recipe.to_str().expect("utf-8"),
        "--run-dir",
        run.to_str().expect("utf-8"),
        "--set",
        "train.micro_batch=4",
    ]);
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "error: training config: `micro_batch` = 4: only contrastive (CLIP) training embeds a batch in \
         micro-batches; leave it out"
    );
    assert!(!run.join("data").exists());
}
