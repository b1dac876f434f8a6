//! The capivara binary's command line: unsupported options and uncompiled backends answer in one line, bad
//! recipe files name the key and line, and a very short end-to-end run writes every artefact.

use std::process::Command;

/// Runs a recipe binary: (success, stdout, stderr).
fn run_binary(binary: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(binary)
        .args(args)
        .output()
        .expect("run the recipe binary");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn capivara(args: &[&str]) -> (bool, String, String) {
    run_binary(env!("CARGO_BIN_EXE_capivara"), args)
}

/// A two-step fine-tune of `binary`'s `recipe` from a checkpoint fixture into `run`.
fn short_fine_tune(
    binary: &str,
    recipe: &std::path::Path,
    run: &std::path::Path,
    fixture: &str,
) -> (bool, String, String) {
    let model = fixtures().join("models").join(fixture);
    let tokenizer = fixtures().join("tokenizers/xlmr_unigram/tokenizer.json");
    run_binary(
        binary,
        &[
            "--recipe",
            recipe.to_str().expect("utf-8"),
            "--run-dir",
            run.to_str().expect("utf-8"),
            "--model",
            model.to_str().expect("utf-8"),
            "--tokenizer",
            tokenizer.to_str().expect("utf-8"),
            "--steps",
            "2",
            "--batch-size",
            "8",
            "--no-progress",
        ],
    )
}

#[test]
fn the_data_option_says_it_is_not_supported_yet() {
    let (ok, _, stderr) = capivara(&["--data", "cc3m/"]);
    assert!(!ok);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: --data is not supported yet"),
        "{stderr}"
    );
}

#[test]
fn a_hub_model_that_cannot_be_fetched_says_what_to_download() {
    let cache = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_capivara"))
        .args([
            "--model",
            "hf:laion/CLIP-ViT-B-32-xlm-roberta-base-laion5B-s13B-b90k",
        ])
        .env("HF_HUB_CACHE", cache.path())
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .expect("run capivara");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(
            "huggingface-cli download laion/CLIP-ViT-B-32-xlm-roberta-base-laion5B-s13B-b90k"
        ),
        "{stderr}"
    );
}

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// A small recipe: few pictures.
fn small_recipe(dir: &std::path::Path) -> std::path::PathBuf {
    let (_, built_in, _) = capivara(&["--print-recipe"]);
    let small = built_in
        .replace("train_images = 4000", "train_images = 96")
        .replace("test_images = 500", "test_images = 24");
    let path = dir.join("small.toml");
    std::fs::write(&path, small).expect("write");
    path
}

/// A two-step CAPIVARA fine-tune from a checkpoint fixture: the base stage is the loaded model.
fn fine_tune_from(fixture: &str, family: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let recipe = small_recipe(dir.path());
    let run = dir.path().join("run");
    let (ok, stdout, stderr) =
        short_fine_tune(env!("CARGO_BIN_EXE_capivara"), &recipe, &run, fixture);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("starting from") && stderr.contains(family),
        "{stderr}"
    );
    assert!(stdout.contains("stage base (pretrained:"), "{stdout}");
    assert!(!run.join("base").exists(), "no base model is trained");
    assert!(run.join("finetune/model.mpk").is_file() && run.join("report.json").is_file());
}

#[test]
fn capivara_starts_from_an_open_clip_xlm_roberta_checkpoint() {
    fine_tune_from("openclip_xlmr", "OpenClip");
}

#[test]
fn capivara_continues_from_its_own_lightning_checkpoint() {
    fine_tune_from("capivara", "Capivara");
}

#[test]
fn a_text_only_model_cannot_be_fine_tuned_as_capivara() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = fixtures().join("models/mclip");
    let run = dir.path().join("run");
    let (ok, _, stderr) = capivara(&[
        "--model",
        model.to_str().expect("utf-8"),
        "--run-dir",
        run.to_str().expect("utf-8"),
        "--steps",
        "1",
    ]);
    assert!(!ok);
    assert!(
        !run.exists(),
        "nothing is written for a model the recipe refuses"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("text encoder without an image tower"),
        "{stderr}"
    );
}

#[test]
#[cfg(not(feature = "tch"))]
fn a_backend_that_is_not_compiled_in_names_its_feature() {
    let (ok, _, stderr) = capivara(&["--backend", "tch"]);
    assert!(!ok);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--features tch"), "{stderr}");
}

#[test]
fn a_recipe_with_an_unknown_key_names_the_key_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, built_in, _) = capivara(&["--print-recipe"]);
    assert!(ok);
    let broken = built_in.replacen(
        "[finetune.train]",
        "[finetune.train]\nlearning_rate = 1.0",
        1,
    );
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, broken).expect("write");
    let (ok, _, stderr) = capivara(&["--recipe", path.to_str().expect("utf-8")]);
    assert!(!ok);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("broken.toml:") && stderr.contains("learning_rate"),
        "{stderr}"
    );
}

#[test]
fn a_short_run_writes_the_report_table_plot_and_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let recipe = small_recipe(dir.path());
    let run = dir.path().join("run");
    let args = [
        "--recipe",
        recipe.to_str().expect("utf-8"),
        "--run-dir",
        run.to_str().expect("utf-8"),
        "--base-steps",
        "3",
        "--steps",
        "2",
        "--batch-size",
        "16",
        "--no-progress",
    ];
    let (ok, stdout, stderr) = capivara(&args);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("| CAPIVARA |"), "{stdout}");
    assert!(
        stdout.contains("text-to-image") && stdout.contains("image-to-text"),
        "{stdout}"
    );
    for file in [
        "report.json",
        "report.md",
        "curves.png",
        "base/metrics.jsonl",
        "finetune/metrics.jsonl",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).expect("read"))
            .expect("json");
    assert_eq!(report["rows"].as_array().map(Vec::len), Some(2));
    assert_eq!(report["details"]["seed"], 0);

    // A second run reuses the base model.
    let (ok, stdout, stderr) = capivara(&args);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("stage base: 3 steps") && stdout.contains("reused"),
        "{stdout}"
    );
}

/// capivara-opt: its built-in recipe carries the paper's LoRA settings, and a two-step run from open_clip's
/// xlm-roberta-base-ViT-B-32 layout attaches adapters to `query` and `value` of every encoder layer.
#[test]
fn capivara_opt_fine_tunes_lora_adapters_of_an_open_clip_checkpoint() {
    let binary = env!("CARGO_BIN_EXE_capivara-opt");
    let (ok, built_in, _) = run_binary(binary, &["--print-recipe"]);
    assert!(ok);
    assert!(
        built_in.contains("[finetune.lora]")
            && built_in.contains("r = 8")
            && built_in.contains("target_modules = [\n    \"query\",\n    \"value\",\n]"),
        "{built_in}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let recipe = dir.path().join("small.toml");
    std::fs::write(
        &recipe,
        built_in
            .replace("train_images = 4000", "train_images = 96")
            .replace("test_images = 500", "test_images = 24"),
    )
    .expect("write");
    let run = dir.path().join("run");
    let (ok, stdout, stderr) = short_fine_tune(binary, &recipe, &run, "openclip_xlmr");
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("LoRA r=8 alpha=8 on 4 layers")
            && stderr.contains("text.transformer.encoder.layer.0.attention.self.query"),
        "{stderr}"
    );
    assert!(stdout.contains("CAPIVARA + Opt."), "{stdout}");
    assert!(run.join("finetune/model.mpk").is_file());
}
