//! The capivara binary's command line: unsupported options and uncompiled backends answer in one line, bad
//! recipe files name the key and line, and a very short end-to-end run writes every artefact.

use std::process::Command;

fn capivara(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_capivara"))
        .args(args)
        .output()
        .expect("run capivara");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn model_and_data_options_say_they_are_not_supported_yet() {
    for (option, value) in [
        (
            "--model",
            "hf:laion/CLIP-ViT-B-32-xlm-roberta-base-laion5B-s13B-b90k",
        ),
        ("--data", "cc3m/"),
    ] {
        let (ok, _, stderr) = capivara(&[option, value]);
        assert!(!ok);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!("error: {option} is not supported yet")),
            "{stderr}"
        );
    }
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
    let recipe = dir.path().join("small.toml");
    let (_, built_in, _) = capivara(&["--print-recipe"]);
    let small = built_in
        .replace("train_images = 4000", "train_images = 96")
        .replace("test_images = 500", "test_images = 24");
    std::fs::write(&recipe, small).expect("write");
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
