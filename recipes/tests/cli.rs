//! The capivara binary's command line: unsupported options and uncompiled backends answer in one line, bad
//! recipe files name the key and line, and a very short end-to-end run writes every artefact.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

/// Runs a recipe binary in the tests' working directory: (success, stdout, stderr).
fn run_binary(binary: &str, args: &[&str]) -> (bool, String, String) {
    run_in(std::path::Path::new("."), binary, args)
}

fn capivara(args: &[&str]) -> (bool, String, String) {
    run_binary(env!("CARGO_BIN_EXE_capivara"), args)
}

/// Runs capivara, which must fail with a one-line error; its stderr.
fn capivara_fails_in_one_line(args: &[&str]) -> String {
    let (ok, _, stderr) = capivara(args);
    assert!(!ok, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    stderr
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
fn a_train_option_without_a_language_says_what_it_expects() {
    let stderr = capivara_fails_in_one_line(&["--train", "cc3m/{00000..00165}.tar"]);
    assert!(
        stderr.contains("`--train` = cc3m/{00000..00165}.tar: expected LANG=PATH"),
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
    let (ok, small, stderr) = capivara(&[
        "--print-recipe",
        "--set",
        "data.train_images=96",
        "--set",
        "data.test_images=24",
    ]);
    assert!(ok, "{stderr}");
    assert!(small.contains("train_images = 96"), "{small}");
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
    let stderr = capivara_fails_in_one_line(&["--backend", "tch"]);
    assert!(stderr.contains("--features tch"), "{stderr}");
}

#[test]
fn a_recipe_with_an_unknown_key_names_the_key_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, built_in, _) = capivara(&["--print-recipe"]);
    assert!(ok);
    let broken = built_in.replacen(
        "checkpoint_every = 100",
        "checkpoint_every = 100\nlearning_rate = 1.0",
        1,
    );
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, broken).expect("write");
    let stderr = capivara_fails_in_one_line(&["--recipe", path.to_str().expect("utf-8")]);
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
    assert!(
        stderr.contains("stage `base`: reused from") && stderr.contains("(same configuration"),
        "{stderr}"
    );
    // Another configuration is retrained, and the first value that differs is named.
    let mut four = args.to_vec();
    four[5] = "4";
    assert_eq!(args[4], "--base-steps");
    let (ok, _, stderr) = capivara(&four);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("stage `base`: not reused: `stage.train.steps` differs: 3 there, 4 now"),
        "{stderr}"
    );
    // A stage trained by other code is retrained too.
    let key_path = run.join("base/stage.json");
    let mut key = read_json(&key_path);
    key["polyclip"]["commit"] = "0123456789ab".into();
    std::fs::write(&key_path, key.to_string()).expect("write");
    let (ok, _, stderr) = capivara(&four);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("stage `base`: not reused: trained by polyclip")
            && stderr.contains("(commit 0123456789ab)"),
        "{stderr}"
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
        built_in.contains("[stage.lora]")
            && built_in.contains("r = 8")
            && built_in.contains("target_modules = [\n    \"query\",\n    \"value\",\n]"),
        "{built_in}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let recipe = dir.path().join("small.toml");
    let (ok, small, stderr) = run_binary(
        binary,
        &[
            "--print-recipe",
            "--set",
            "data.train_images=96",
            "--set",
            "data.test_images=24",
        ],
    );
    assert!(ok, "{stderr}");
    std::fs::write(&recipe, small).expect("write");
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
    // The adapters alone, as PEFT writes them.
    let adapter = run.join("finetune/adapter");
    let config = read_json(&adapter.join("adapter_config.json"));
    assert_eq!(config["r"], 8, "{config}");
    assert_eq!(config["peft_type"], "LORA", "{config}");
    assert!(adapter.join("adapter_model.safetensors").is_file());
}

/// Runs `binary` on a small copy of its built-in recipe (96 training pictures, 24 test pictures) with `args`.
fn small_run(binary: &str, run: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let mut all = vec![
        "--set",
        "data.train_images=96",
        "--set",
        "data.test_images=24",
        "--batch-size",
        "16",
        "--no-progress",
        "--run-dir",
        run.to_str().expect("utf-8"),
    ];
    all.extend_from_slice(args);
    run_binary(binary, &all)
}

fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json")
}

#[test]
fn clip_italian_runs_its_stages_with_a_fixed_logit_scale_and_prints_mrr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let (ok, stdout, stderr) = small_run(
        env!("CARGO_BIN_EXE_clip-italian"),
        &run,
        &[
            "--base-steps",
            "3",
            "--set",
            "stage.projections.train.steps=3",
            "--steps",
            "3",
        ],
    );
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("MRR@1")
            && stdout.contains("accuracy@1")
            && stdout.contains("| CLIP-Italian |"),
        "{stdout}"
    );
    let report = read_json(&run.join("report.json"));
    assert_eq!(report["rows"].as_array().map(Vec::len), Some(3));
    // The scale is a fixed 20 through every stage: never updated.
    for stage in ["base", "projections", "finetune"] {
        let log = std::fs::read_to_string(run.join(stage).join("metrics.jsonl")).expect("metrics");
        for line in log.lines() {
            let scale = read_json_line(line)["logit_scale"]
                .as_f64()
                .expect("logit_scale");
            assert!((scale - 20.0).abs() < 1e-4, "{stage}: {scale}");
        }
    }
}

fn read_json_line(line: &str) -> serde_json::Value {
    serde_json::from_str(line).expect("json line")
}

/// The first and last loss a stage logged.
fn first_and_last_loss(stage: &std::path::Path) -> (f64, f64) {
    let log = std::fs::read_to_string(stage.join("metrics.jsonl")).expect("metrics");
    let losses: Vec<f64> = log
        .lines()
        .map(|line| read_json_line(line)["loss"].as_f64().expect("loss"))
        .collect();
    (losses[0], losses[losses.len() - 1])
}

#[test]
fn themo_distils_a_student_and_baseline_reports_the_teacher_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let binary = env!("CARGO_BIN_EXE_themo");
    let (ok, stdout, stderr) = small_run(
        binary,
        &run,
        &[
            "--base-steps",
            "20",
            "--steps",
            "60",
            "--set",
            "stage.distill.train.early_stopping.every=20",
        ],
    );
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("| Models | accuracy@1 | accuracy@5 | accuracy@10 | retrieval@1 |")
            && stdout.contains("| Themo |"),
        "{stdout}"
    );
    // The student learns the teacher's space: the MSE falls by more than half.
    let (first, last) = first_and_last_loss(&run.join("distill"));
    assert!(last < 0.5 * first, "MSE {first} → {last}");
    let student = read_json(&run.join("distill/model.json"));
    assert_eq!(student["text"]["proj_type"], "distilled", "{student}");

    let (ok, stdout, stderr) = small_run(binary, &run, &["--base-steps", "20", "--baseline"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("(Baseline)") && !stdout.contains("| Themo |"),
        "{stdout}"
    );

    // Themo's student is a pretrained BERT: here a BertForMaskedLM checkpoint with its WordPiece tokenizer
    // ([PAD], 16 positions). The teacher stage is reused; the student's encoder is read from the checkpoint, its
    // texts with its own tokenizer, and the stage's model folder keeps that tokenizer for whoever loads it.
    let bert = fixtures().join("models/hf_bert_mlm");
    let student = format!("stage.distill.distill.student=\"{}\"", bert.display());
    let (ok, stdout, stderr) = small_run(
        binary,
        &run,
        &[
            "--base-steps",
            "20",
            "--steps",
            "60",
            "--set",
            &student,
            "--set",
            "stage.distill.train.early_stopping.every=20",
        ],
    );
    assert!(ok, "{stderr}");
    assert!(stderr.contains("stage `teacher`: reused from"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "stage `distill`: the student starts from {}",
            bert.display()
        )),
        "{stderr}"
    );
    assert!(stdout.contains("| Themo |"), "{stdout}");
    let model = read_json(&run.join("distill/model.json"));
    let encoder = &model["text"]["encoder_config"];
    assert_eq!(
        (
            &encoder["model_type"],
            &encoder["hidden_size"],
            &encoder["vocab_size"]
        ),
        (
            &serde_json::json!("bert"),
            &serde_json::json!(32),
            &serde_json::json!(400)
        ),
        "{model}"
    );
    let text = read_json(&run.join("distill/text.json"));
    assert_eq!(
        (&text["pad_token"], &text["max_tokens"]),
        (&serde_json::json!("[PAD]"), &serde_json::json!(16))
    );
    let saved = read_json(&run.join("distill/tokenizer.json"));
    let shipped = read_json(&bert.join("tokenizer.json"));
    assert_eq!(saved["model"]["vocab"], shipped["model"]["vocab"]);
    let (first, last) = first_and_last_loss(&run.join("distill"));
    assert!(last < 0.5 * first, "MSE {first} → {last}");
}

/// Fine-tuning at a huge learning rate used to save a NaN model that scored 100.00 everywhere with exit code 0.
/// Now the run stops in one line naming the stage folder, the step and the parameter, and writes neither the
/// model nor a report. (The issue that found it ran two steps at lr = 1e6, which made ndarray's weights NaN in the
/// last step; flex, the default backend, keeps them finite at 1e6. So the test takes one step at a rate past
/// f32's range: its update is infinite on every backend, and the guard at the end of the stage must catch it —
/// with a second step, the NaN loss of that step stops the run first.)
#[test]
fn weights_that_become_nan_stop_the_run_and_are_never_saved() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let (ok, stdout, stderr) = small_run(
        env!("CARGO_BIN_EXE_capivara"),
        &run,
        &[
            "--base-steps",
            "3",
            "--steps",
            "1",
            "--set",
            "stage.finetune.train.schedule={name=\"constant\", lr=1e39}",
        ],
    );
    assert!(!ok, "{stdout}");
    let error = stderr.lines().last().expect("an error line");
    assert!(
        error.starts_with(&format!("error: {}: step 0: ", run.join("finetune").display()))
            && error.contains(
                ": `text.transformer.embeddings.word_embeddings.weight` is NaN or infinite after the \
                 optimizer step (lower the learning rate); no checkpoint or model of this step was written"
            ),
        "{stderr}"
    );
    assert!(!run.join("finetune/model.mpk").exists());
    assert!(!run.join("report.json").exists());
}

/// Two runs on one folder: the second refuses in one line naming the holder (here this test process, which
/// holds the lock as a run would); the lock a killed run left behind is taken over with a warning, and a finished
/// run releases it.
#[test]
fn a_second_run_on_a_locked_folder_refuses_and_a_dead_runs_lock_is_taken_over() {
    use polyclip_train::run_lock::{LOCK_FILE, RunLock};
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let capivara = env!("CARGO_BIN_EXE_capivara");
    let lock = RunLock::acquire(&run).expect("lock");
    let (ok, _, stderr) = small_run(capivara, &run, &["--base-steps", "2", "--steps", "1"]);
    assert!(!ok);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let expected = format!(
        "error: {}: another polyclip run is writing this folder (pid {}, started ",
        run.display(),
        std::process::id()
    );
    assert!(
        stderr.starts_with(&expected)
            && stderr
                .trim_end()
                .ends_with(" UTC); wait for it to finish or give another folder"),
        "{stderr}"
    );
    drop(lock);

    // What a run killed with SIGKILL leaves: the file names it, but the OS released its lock.
    std::fs::write(run.join(LOCK_FILE), "pid 4000000 started 1764918000\n").expect("write");
    let (ok, _, stderr) = small_run(capivara, &run, &["--base-steps", "2", "--steps", "1"]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(
            "taking over the lock of a run that ended without releasing it (pid 4000000, started \
             2025-12-05 07:00:00 UTC)"
        ),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(run.join(LOCK_FILE)).expect("lock file"),
        ""
    );
}

/// Settings no stage can run with are found before the first stage trains, naming the stage; a batch larger
/// than the embedded dataset is an error instead of being clamped.
#[test]
fn a_stage_that_cannot_train_is_refused_before_any_stage_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let capivara = env!("CARGO_BIN_EXE_capivara");
    let (ok, _, stderr) = small_run(capivara, &run, &["--set", "stage.finetune.train.steps=0"]);
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "error: stage `finetune`: training config: `steps` = 0: must be at least 1"
    );
    assert!(!run.join("base").exists() && !run.join("data").exists());
    // Training data that is missing, or smaller than a batch, is found before the base stage trains on English.
    let (ok, _, stderr) = small_run(capivara, &run, &["--train", "pt=missing/train.jsonl"]);
    assert!(!ok);
    assert_eq!(stderr.trim(), "error: missing/train.jsonl: no such file");
    let small = dir.path().join("three.jsonl");
    std::fs::write(&small, "{}\n{}\n{}\n").expect("write");
    let train = format!("pt={}", small.display());
    let (ok, _, stderr) = small_run(capivara, &run, &["--train", &train]);
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        format!(
            "error: recipe: `loader.batch_size` = 16: a batch cannot be larger than the 3 examples of {} \
             ([data] train.pt)",
            small.display()
        )
    );
    assert!(!run.join("base").exists());
    // small_run's batches hold 16 samples.
    let (ok, _, stderr) = small_run(capivara, &run, &["--set", "data.train_images=8"]);
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "error: recipe: `loader.batch_size` = 16: a batch cannot be larger than the embedded dataset's 8 \
         training pictures (data.train_images)"
    );
}

/// Every loss a stage logged.
fn logged_losses(stage: &std::path::Path) -> Vec<f64> {
    let log = std::fs::read_to_string(stage.join("metrics.jsonl")).expect("metrics");
    log.lines()
        .map(|line| read_json_line(line)["loss"].as_f64().expect("loss"))
        .collect()
}

/// The same number of logged steps in two stage folders, and the same losses within 1e-5 relative.
fn assert_same_losses(a: &std::path::Path, b: &std::path::Path) {
    let (a, b) = (logged_losses(a), logged_losses(b));
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-5 * y.abs(), "{a:?} vs {b:?}");
    }
}

/// `--set stage.NAME.train.micro_batch=N` reaches the trainer of every contrastive stage and trains as the whole
/// batch does (f32 on the default backend: the same losses within 1e-5), and so does `--devices flex:0,flex:1`
/// (two data-parallel peers, each with half of every batch); a stage whose loss does not split (Themo's
/// distillation) refuses both before any stage trains, and the captioner refuses `--devices`.
#[test]
fn micro_batches_and_two_devices_train_as_the_whole_batch_and_a_distillation_stage_refuses_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let capivara = env!("CARGO_BIN_EXE_capivara");
    let steps = ["--base-steps", "4", "--steps", "3"];
    let whole = dir.path().join("whole");
    let (ok, _, stderr) = small_run(capivara, &whole, &steps);
    assert!(ok, "{stderr}");
    let chunked = dir.path().join("chunked");
    let mut args = steps.to_vec();
    args.extend([
        "--set",
        "stage.base.train.micro_batch=5",
        "--set",
        "stage.finetune.train.micro_batch=5",
    ]);
    let (ok, _, stderr) = small_run(capivara, &chunked, &args);
    assert!(ok, "{stderr}");
    for stage in ["base", "finetune"] {
        assert_same_losses(&chunked.join(stage), &whole.join(stage));
        let key = read_json(&chunked.join(stage).join("stage.json"));
        assert!(key.to_string().contains("\"micro_batch\":5"), "{key}");
    }
    let peers = dir.path().join("peers");
    let mut args = steps.to_vec();
    args.extend(["--devices", "flex:0,flex:1"]);
    let (ok, _, stderr) = small_run(capivara, &peers, &args);
    assert!(ok, "{stderr}");
    for stage in ["base", "finetune"] {
        // Rank 0 alone logs: every step once.
        assert_same_losses(&peers.join(stage), &whole.join(stage));
    }
    let (ok, _, stderr) = small_run(
        env!("CARGO_BIN_EXE_themo"),
        &dir.path().join("themo-peers"),
        &["--devices", "flex:0,flex:1"],
    );
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "error: --devices is not supported yet: stage `distill` distils, and only contrastive stages train on \
         several devices; give one device"
    );
    let captioner_run = dir.path().join("captioner-peers");
    let (ok, _, stderr) = run_binary(
        env!("CARGO_BIN_EXE_mbart-captioner"),
        &[
            "--devices",
            "flex:0,flex:1",
            "--run-dir",
            captioner_run.to_str().expect("utf-8"),
        ],
    );
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "error: --devices is not supported yet: the captioner trains on one device; use --backend"
    );
    assert!(!captioner_run.exists());

    let run = dir.path().join("themo");
    let (ok, _, stderr) = small_run(
        env!("CARGO_BIN_EXE_themo"),
        &run,
        &["--set", "stage.distill.train.micro_batch=4"],
    );
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "error: stage `distill`: training config: `micro_batch` = 4: only contrastive (CLIP) training embeds a \
         batch in micro-batches; leave it out"
    );
    assert!(!run.join("teacher").exists());
}

/// `n` ports of the loopback free at the time of asking (the system hands out a fresh one each time).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    listeners
        .iter()
        .map(|listener| listener.local_addr().expect("address").port())
        .collect()
}

/// Starts node `rank` of a two-node capivara job on the loopback (one device each), small sizes, into `run`, with
/// the environment variables `env` (`POLYCLIP_FAILPOINT`: the node aborts or freezes there).
fn start_node(
    rank: usize,
    ports: &[u16],
    run: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Child {
    let coordinator = format!("127.0.0.1:{}", ports[0]);
    let node_address = format!("127.0.0.1:{}", ports[1 + rank]);
    let rank = rank.to_string();
    let mut all = SMALL.to_vec();
    all.extend([
        "--run-dir",
        run.to_str().expect("utf-8"),
        "--num-nodes",
        "2",
        "--node-rank",
        &rank,
        "--coordinator",
        &coordinator,
        "--node-address",
        &node_address,
    ]);
    all.extend_from_slice(args);
    Command::new(env!("CARGO_BIN_EXE_capivara"))
        .envs(env.iter().copied())
        .args(&all)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start a node")
}

fn finished(node: std::process::Child) -> (bool, String, String) {
    let output = node.wait_with_output().expect("wait for a node");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Every figure of the rows (models and their held-out evaluations) of a run's report.json.
fn report_figures(run: &std::path::Path) -> Vec<f64> {
    fn numbers(value: &serde_json::Value, into: &mut Vec<f64>) {
        match value {
            serde_json::Value::Number(n) => into.extend(n.as_f64()),
            serde_json::Value::Array(items) => items.iter().for_each(|v| numbers(v, into)),
            serde_json::Value::Object(map) => map
                .iter()
                .filter(|(key, _)| !key.contains("seconds") && !key.contains("per_second"))
                .for_each(|(_, v)| numbers(v, into)),
            _ => {}
        }
    }
    let mut figures = Vec::new();
    numbers(&read_json(&run.join("report.json"))["rows"], &mut figures);
    figures
}

/// Two processes on the loopback, one device each (`--num-nodes 2`: burn-collective's global level, node 0 hosting
/// its orchestrator), train the embedded capivara recipe as one process with the whole batch: the same losses in
/// both stages within 1e-5 (each node logs into its own run folder) and the same report. Node 1 is made to die
/// after its 12th step (a failpoint: `abort`, as a SIGKILL leaves things): node 0 stops with a message instead of
/// waiting, and both restarted with `--resume` finish the job from step 10's checkpoint. A node that freezes
/// instead (a failpoint that sleeps with its connections open) makes the other give up after
/// `--collective-timeout`. A node started with another training config refuses, and so does the node it was
/// paired with, each in one line. In the first pair node 0's tensor service binds its port 3 s late
/// (`POLYCLIP_TEST_LISTEN_DELAY_MS`): node 1 must not ask it for a tensor before it listens.
#[test]
fn two_nodes_on_the_loopback_train_as_one_device_survive_a_dead_or_frozen_node_and_refuse_another_config()
 {
    let dir = tempfile::tempdir().expect("tempdir");
    let steps = [
        "--base-steps",
        "20",
        "--steps",
        "3",
        "--set",
        "stage.base.train.checkpoint_every=5",
    ];
    let whole = dir.path().join("whole");
    let (ok, _, stderr) = small_run(env!("CARGO_BIN_EXE_capivara"), &whole, &steps);
    assert!(ok, "{stderr}");

    let ports = free_ports(3);
    let runs = [dir.path().join("node0"), dir.path().join("node1")];
    // Node 0's tensor data service binds its port 3 s late: the others must not ask it for a tensor before it
    // listens (they were refused, and took it for a lost node, when its server's task happened to run late).
    let node0 = start_node(
        0,
        &ports,
        &runs[0],
        &steps,
        &[("POLYCLIP_TEST_LISTEN_DELAY_MS", "3000")],
    );
    let node1 = start_node(
        1,
        &ports,
        &runs[1],
        &steps,
        &[("POLYCLIP_FAILPOINT", "step:12")],
    );
    let (ok, _, stderr) = finished(node1);
    let (ok0, _, stderr0) = finished(node0);
    assert!(
        !ok && stderr.contains("POLYCLIP_FAILPOINT=step:12: aborting here"),
        "node 1:\n{stderr}\nnode 0:\n{stderr0}"
    );
    let (ok, stderr) = (ok0, stderr0);
    assert!(!ok, "node 0 went on without node 1");
    let last = stderr.trim().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: data-parallel peer 0: ")
            && last.contains("start them again with --resume"),
        "{stderr}"
    );

    let resumed = [&steps[..], &["--resume"]].concat();
    let nodes: Vec<_> = (0..2)
        .map(|rank| start_node(rank, &ports, &runs[rank], &resumed, &[]))
        .collect();
    for (rank, node) in nodes.into_iter().enumerate() {
        let (ok, stdout, stderr) = finished(node);
        assert!(ok, "node {rank}: {stderr}");
        assert!(
            stderr.contains("data-parallel on 2 devices of 2 machines"),
            "{stdout}{stderr}"
        );
    }
    for run in &runs {
        for stage in ["base", "finetune"] {
            assert_same_losses(&run.join(stage), &whole.join(stage));
        }
        let (nodes, one) = (report_figures(run), report_figures(&whole));
        assert_eq!(nodes.len(), one.len());
        assert!(!one.is_empty());
        for (a, b) in nodes.iter().zip(&one) {
            assert!(
                (a - b).abs() <= 1e-3 * b.abs().max(1.0),
                "{nodes:?} vs {one:?}"
            );
        }
    }

    // A node that freezes (its process stopped, its connections open, as a machine that hangs) closes nothing: the
    // other gives up after --collective-timeout with a message.
    let ports = free_ports(3);
    let patient = [&steps[..], &["--collective-timeout", "20"]].concat();
    let frozen_runs = [dir.path().join("frozen0"), dir.path().join("frozen1")];
    let node0 = start_node(0, &ports, &frozen_runs[0], &patient, &[]);
    let mut node1 = start_node(
        1,
        &ports,
        &frozen_runs[1],
        &patient,
        &[("POLYCLIP_FAILPOINT", "step:3:freeze")],
    );
    let (ok, _, stderr) = finished(node0);
    node1.kill().expect("stop the frozen node");
    let (_, _, frozen) = finished(node1);
    assert!(
        frozen.contains("POLYCLIP_FAILPOINT=step:3:freeze: frozen here"),
        "{frozen}"
    );
    assert!(!ok, "node 0 went on without node 1");
    let last = stderr.trim().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: data-parallel peer 0: ")
            && last.contains(
                "no answer from the other nodes in 20 s (--collective-timeout): a node stopped, froze or cannot be \
                 reached; once every node is back, start them again with --resume"
            ),
        "{stderr}"
    );

    let ports = free_ports(3);
    let other = [
        &steps[..],
        &["--set", "stage.base.train.label_smoothing=0.1"],
    ]
    .concat();
    let nodes = [
        start_node(0, &ports, &dir.path().join("same"), &steps, &[]),
        start_node(1, &ports, &dir.path().join("other"), &other, &[]),
    ];
    for (rank, node) in nodes.into_iter().enumerate() {
        let (ok, _, stderr) = finished(node);
        assert!(!ok, "node {rank} went on");
        let last = stderr.trim().lines().last().unwrap_or_default().to_string();
        assert_eq!(
            last,
            format!(
                "error: data-parallel peer {rank}: the peers' training configs differ; start every peer with the same \
                 recipe and options"
            ),
            "{stderr}"
        );
    }
}

/// A node whose `--node-address` port another program holds refuses before it joins, in one line that names the
/// port and the option to change.
#[test]
fn a_node_whose_address_port_is_taken_refuses_in_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ports = free_ports(2);
    let holder = std::net::TcpListener::bind(("0.0.0.0", ports[1])).expect("hold the node's port");
    let (ok, _, stderr) = finished(start_node(
        1,
        &[ports[0], 0, ports[1]],
        &dir.path().join("run"),
        &[],
        &[],
    ));
    drop(holder);
    assert!(!ok);
    assert_eq!(
        stderr.trim().lines().last().unwrap_or_default(),
        format!(
            "error: data-parallel peer 1: this node cannot serve its tensors on port {}: Address already in use (os error \
             98) (another job's node? pick another --node-address port)",
            ports[1]
        ),
        "{stderr}"
    );
}

/// `--resume` used to continue a checkpoint made with other settings silently (`--seed 5` on a seed-0 folder
/// rewrote stage.json to say seed 5 over seed-0 weights; more `--steps` continued). Now it refuses, saying what
/// differs, unless `--resume-anyway`.
#[test]
fn resume_refuses_a_checkpoint_of_other_settings_unless_told_to() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let capivara = env!("CARGO_BIN_EXE_capivara");
    let every = "stage.finetune.train.checkpoint_every=2";
    let (ok, _, stderr) = small_run(
        capivara,
        &run,
        &["--base-steps", "2", "--steps", "4", "--set", every],
    );
    assert!(ok, "{stderr}");
    let refused = |stderr: &str, stage: &str, what: &str| {
        let last = stderr.trim().lines().last().unwrap_or_default();
        assert!(
            last.starts_with(&format!(
                "error: stage `{stage}`: --resume: the checkpoint was made with other settings: {what}"
            )) && last.ends_with(
                "run without --resume to start the stage again, or add --resume-anyway"
            ),
            "{stderr}"
        );
    };
    let more_steps = [
        "--base-steps",
        "2",
        "--steps",
        "6",
        "--set",
        every,
        "--resume",
    ];
    let (ok, _, stderr) = small_run(capivara, &run, &more_steps);
    assert!(!ok);
    refused(
        &stderr,
        "finetune",
        "`stage.train.steps` differs: 4 there, 6 now",
    );
    let (ok, _, stderr) = small_run(
        capivara,
        &run,
        &[
            "--base-steps",
            "2",
            "--steps",
            "4",
            "--set",
            every,
            "--resume",
            "--seed",
            "5",
        ],
    );
    assert!(!ok);
    refused(&stderr, "base", "`after.data.seed` differs: 0 there, 5 now");

    let mut anyway = more_steps.to_vec();
    anyway.push("--resume-anyway");
    let (ok, _, stderr) = small_run(capivara, &run, &anyway);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("stage `finetune`: resuming anyway although `stage.train.steps` differs"),
        "{stderr}"
    );
}

/// A cached stage model cut short used to break every later run in the folder with burn's record-format
/// message until it was deleted by hand; now the stage is trained again, saying why.
#[test]
fn a_damaged_cached_stage_is_trained_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let capivara = env!("CARGO_BIN_EXE_capivara");
    let args = ["--base-steps", "2", "--steps", "1"];
    let (ok, _, stderr) = small_run(capivara, &run, &args);
    assert!(ok, "{stderr}");
    let cached = run.join("base/model.mpk");
    let bytes = std::fs::read(&cached).expect("read");
    std::fs::write(&cached, &bytes[..bytes.len() / 2]).expect("truncate");
    let (ok, _, stderr) = small_run(capivara, &run, &args);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "stage `base`: not reused: {} cannot be read as this model's state: the file is damaged, or was \
             saved for another model; training the stage again",
            cached.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("record"), "{stderr}");
}

/// A stage trained on real data is reused only while that data is unchanged: a manifest rewritten in place
/// under the same name (here one example fewer) makes its stage train again, saying what differs.
#[test]
fn a_stage_is_not_reused_when_its_data_changed_under_the_same_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let capivara = env!("CARGO_BIN_EXE_capivara");
    let (ok, _, stderr) = small_run(capivara, &run, &["--base-steps", "2", "--steps", "1"]);
    assert!(ok, "{stderr}");
    // The embedded Portuguese captions as real data: a manifest beside them (its image paths stay valid).
    let manifest = run.join("data/mine.pt.jsonl");
    let lines = std::fs::read_to_string(run.join("data/train.pt.jsonl")).expect("manifest");
    std::fs::write(&manifest, &lines).expect("write");
    let train = format!("pt={}", manifest.display());
    let args = ["--base-steps", "2", "--steps", "1", "--train", &train];
    let (ok, _, stderr) = small_run(capivara, &run, &args);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = small_run(capivara, &run, &args);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("stage `finetune`: reused from"), "{stderr}");
    let shorter: String = lines
        .lines()
        .skip(1)
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&manifest, shorter).expect("rewrite");
    let (ok, _, stderr) = small_run(capivara, &run, &args);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("stage `finetune`: not reused: `data.files.0.1` differs"),
        "{stderr}"
    );
    // The English base stage does not read that file: it is still reused.
    assert!(stderr.contains("stage `base`: reused from"), "{stderr}");
}

#[test]
fn filter_by_ranking_scores_the_captions_with_the_starting_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let (ok, _, stderr) = small_run(
        env!("CARGO_BIN_EXE_capivara"),
        &run,
        &["--base-steps", "3", "--steps", "2"],
    );
    assert!(ok, "{stderr}");
    let scored =
        std::fs::read_to_string(run.join("scored/finetune.train.pt.jsonl")).expect("scored");
    let first = read_json_line(scored.lines().next().expect("a line"));
    let similarities = first["similarities"].as_array().expect("similarities");
    assert_eq!(similarities.len(), 5, "2 originals + 3 generated: {first}");
    assert!(
        similarities
            .iter()
            .all(|s| s.as_f64().is_some_and(|s| (-1.0..=1.0).contains(&s)))
    );
    assert_eq!(scored.lines().count(), 96);
}

#[test]
fn a_set_override_naming_no_stage_lists_the_stages() {
    let stderr =
        capivara_fails_in_one_line(&["--set", "stage.nope.train.steps=3", "--print-recipe"]);
    assert!(
        stderr.contains("no `stage` named \"nope\"; there are base, finetune"),
        "{stderr}"
    );
    let (ok, _, stderr) = capivara(&["--set", "stage.finetune.train.stepz=3", "--print-recipe"]);
    assert!(!ok);
    assert!(
        stderr.contains("in [stage.finetune.train]: unknown field `stepz`"),
        "{stderr}"
    );
}

/// `recipe new` writes a Hindi recipe from capivara-opt that `recipe run` runs, with a tokenizer trained on its
/// captions (the embedded one has no Devanagari).
#[test]
fn recipe_new_writes_a_recipe_for_a_new_language_that_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let binary = env!("CARGO_BIN_EXE_recipe");
    let file = dir.path().join("capivara-hi.toml");
    let (ok, _, stderr) = run_binary(
        binary,
        &[
            "new",
            "--lang",
            "hi",
            "--name",
            "capivara-hi",
            "-o",
            file.to_str().expect("utf-8"),
        ],
    );
    assert!(ok, "{stderr}");
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(
        text.contains("language = \"hi\"") && text.contains("[stage.lora]"),
        "{text}"
    );
    let run = dir.path().join("run");
    let (ok, stdout, stderr) = run_binary(
        binary,
        &[
            "run",
            file.to_str().expect("utf-8"),
            "--set",
            "model.tokenizer={ train = { vocab_size = 600 } }",
            "--set",
            "data.train_images=96",
            "--set",
            "data.test_images=24",
            "--base-steps",
            "3",
            "--steps",
            "2",
            "--batch-size",
            "16",
            "--no-progress",
            "--run-dir",
            run.to_str().expect("utf-8"),
        ],
    );
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("training a 600-entry tokenizer") && stderr.contains("en, hi"),
        "{stderr}"
    );
    assert!(stdout.contains("Shapes-hi (held-out)"), "{stdout}");
    // The shipped example is what `recipe new` writes, plus its tokenizer line.
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("capivara-hi.toml"),
    )
    .expect("recipes/capivara-hi.toml");
    assert!(shipped.contains("tokenizer = { train = { vocab_size = 1500 } }"));
}

/// The file `name` somewhere under `dir`.
fn find(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == name) {
            return path;
        }
        if path.is_dir() {
            let found = find(&path, name);
            if found.exists() {
                return found;
            }
        }
    }
    dir.join("not-found").join(name)
}

#[test]
fn capivara_trains_on_webdataset_shards_and_evaluates_a_suite_as_on_the_embedded_files() {
    use polyclip_data::sources::webdataset::ShardWriter;
    use polyclip_data::{BadInputPolicy, Manifest};

    let dir = tempfile::tempdir().expect("tempdir");
    // Run A: the embedded files (the fine-tune's captions scored into run/scored/ by the base model).
    let embedded = dir.path().join("embedded");
    let (ok, _, stderr) = small_run(
        env!("CARGO_BIN_EXE_capivara"),
        &embedded,
        &["--base-steps", "3", "--steps", "6"],
    );
    assert!(ok, "{stderr}");
    // The same scored Portuguese captions and pictures as CAPIVARA's shards (`captions-pt`, `similarities-pt`…).
    let scored = Manifest::load(
        &embedded.join("scored/finetune.train.pt.jsonl"),
        BadInputPolicy::Fail,
    )
    .expect("scored");
    let mut writer = ShardWriter::new(&dir.path().join("shards"), 40).expect("writer");
    for (index, entry) in scored.entries.iter().enumerate() {
        let png = entry.image.read().expect("png");
        let json = serde_json::json!({
            "captions-pt": entry.captions,
            "generated-captions-pt": entry.generated_captions,
            "similarities-pt": entry.similarities,
            "captions-en": ["unused"],
        });
        writer
            .write(
                &format!("sample{index:05}"),
                &[("png", &png), ("json", json.to_string().as_bytes())],
            )
            .expect("write");
    }
    assert_eq!(writer.finish().expect("finish").len(), 3);
    // The held-out sets as a suite of manifests.
    let suite = dir.path().join("suite.toml");
    let test_manifest = |language: &str| find(&embedded, &format!("test.{language}.jsonl"));
    std::fs::write(
        &suite,
        format!(
            "title = \"held-out\"\n\
             [[retrieval]]\nname = \"Shapes-pt (held-out)\"\nformat = \"manifest\"\npath = {:?}\nlanguage = \"pt\"\n\
             [[retrieval]]\nname = \"Shapes-en (held-out)\"\nformat = \"manifest\"\npath = {:?}\nlanguage = \"en\"\n\
             [[retrieval]]\nname = \"Not here\"\nformat = \"manifest\"\npath = \"missing.jsonl\"\n",
            test_manifest("pt"),
            test_manifest("en"),
        ),
    )
    .expect("suite");
    // Run B: the shards (already scored: no scoring pass) and the suite.
    let sharded = dir.path().join("sharded");
    let shards = dir.path().join("shards/{00000..00002}.tar");
    let train = format!("pt={}", shards.display());
    let on_shards = |run: &std::path::Path, more: &[&str]| {
        let mut args = vec![
            "--base-steps",
            "3",
            "--steps",
            "6",
            "--train",
            &train,
            "--eval-suite",
            suite.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(more);
        small_run(env!("CARGO_BIN_EXE_capivara"), run, &args)
    };
    let (ok, _, stderr) = on_shards(&sharded, &[]);
    assert!(ok, "{stderr}");
    assert!(
        !sharded.join("scored").exists(),
        "scored shards are not scored again"
    );
    assert!(
        stderr.contains("evaluation set not present, skipped: Not here: "),
        "{stderr}"
    );
    // Same data, same draws: the same model, the same numbers.
    let a = read_json(&embedded.join("report.json"));
    let b = read_json(&sharded.join("report.json"));
    assert_eq!(a["rows"].as_array().map(Vec::len), Some(2));
    for row in 0..2 {
        assert_eq!(a["rows"][row]["model"], b["rows"][row]["model"]);
        assert_eq!(
            a["rows"][row]["evaluation"]["retrieval"], b["rows"][row]["evaluation"]["retrieval"],
            "embedded vs shards, row {row}"
        );
    }
    // The suite has no classification set: the embedded run's shape/colour/count sets are not evaluated.
    assert_eq!(
        b["rows"][1]["evaluation"]["zero_shot"],
        serde_json::json!([])
    );
    assert_eq!(
        b["details"]["train_data"]["pt"],
        shards.display().to_string()
    );
    // Streamed through a shuffle buffer instead (open_clip's way): it trains; the order, so the model, differs.
    let streamed = dir.path().join("streamed");
    let (ok, stdout, stderr) = on_shards(&streamed, &["--set", "loader.stream.shuffle_buffer=32"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("stage finetune: 6 steps"), "{stdout}");
    let c = read_json(&streamed.join("report.json"));
    assert_eq!(
        a["rows"][0]["evaluation"]["retrieval"], c["rows"][0]["evaluation"]["retrieval"],
        "the base stage is the same"
    );
    assert_ne!(
        b["rows"][1]["evaluation"]["retrieval"], c["rows"][1]["evaluation"]["retrieval"],
        "streamed order differs from the indexed shuffle"
    );
    assert!(
        sharded.join("data").is_dir(),
        "the English base stage still reads the embedded captions"
    );
    // Every stage on real data and a suite: the embedded dataset is never generated.
    let real = dir.path().join("real");
    let english = format!("en={}", find(&embedded, "train.en.jsonl").display());
    let (ok, _, stderr) = on_shards(&real, &["--train", &english]);
    assert!(ok, "{stderr}");
    assert!(
        !real.join("data").exists(),
        "no embedded dataset was written"
    );
    assert!(real.join("report.json").is_file());
}

/// Runs `binary` with `args` from the working directory `cwd`: (success, stdout, stderr).
fn run_in(cwd: &std::path::Path, binary: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(binary)
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("run the recipe binary");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The sizes every newcomer-style run below uses: few pictures, few steps.
const SMALL: [&str; 7] = [
    "--set",
    "data.train_images=96",
    "--set",
    "data.test_images=24",
    "--batch-size",
    "16",
    "--no-progress",
];

/// What a newcomer types: every recipe binary, run from a working directory with a relative `--run-dir`, gets
/// to its final table, and its run folder is under that directory. (The main job once failed here while every
/// test with an absolute run folder passed: a scored manifest's image paths were resolved twice.)
#[test]
fn every_recipe_binary_runs_from_a_relative_run_folder() {
    let cases: [(&str, &[&str], &str); 5] = [
        (
            env!("CARGO_BIN_EXE_capivara"),
            &["--base-steps", "3", "--steps", "2"],
            "| CAPIVARA |",
        ),
        (
            env!("CARGO_BIN_EXE_capivara-opt"),
            &["--base-steps", "3", "--steps", "2"],
            "| CAPIVARA + Opt. |",
        ),
        (
            env!("CARGO_BIN_EXE_clip-italian"),
            &[
                "--base-steps",
                "3",
                "--set",
                "stage.projections.train.steps=2",
                "--steps",
                "2",
            ],
            "| CLIP-Italian |",
        ),
        (
            env!("CARGO_BIN_EXE_themo"),
            &["--base-steps", "3", "--steps", "3"],
            "| Themo |",
        ),
        (
            env!("CARGO_BIN_EXE_mbart-captioner"),
            &["--steps", "2", "--set", "eval.max_length=8"],
            "|Language |BLEU-1|BLEU-2|BLEU-3|BLEU-4|",
        ),
    ];
    let cwd = tempfile::tempdir().expect("tempdir");
    for (binary, args, table) in cases {
        let name = std::path::Path::new(binary)
            .file_name()
            .and_then(|n| n.to_str())
            .expect("binary name");
        let run = format!("runs/{name}");
        let mut all: Vec<&str> = SMALL.to_vec();
        all.extend_from_slice(&["--run-dir", &run]);
        all.extend_from_slice(args);
        let (ok, stdout, stderr) = run_in(cwd.path(), binary, &all);
        assert!(ok, "{name}: {stderr}");
        assert!(stdout.contains(table), "{name}: {stdout}");
        assert!(
            cwd.path().join(&run).join("report.json").is_file(),
            "{name}: no report.json under the working directory's {run}"
        );
    }
    // The scored captions name their pictures relative to their own folder.
    let scored = std::fs::read_to_string(
        cwd.path()
            .join("runs/capivara/scored/finetune.train.pt.jsonl"),
    )
    .expect("scored");
    let first = read_json_line(scored.lines().next().expect("a line"));
    assert_eq!(first["image"], "../data/images/train/000000.png", "{first}");
}

/// The README's first command as typed: no `--run-dir`, so the default `runs/capivara-seed000` relative to the
/// working directory; then `recipe run` on a relative recipe file (`recipe new` writes it) in the same folder.
#[test]
fn the_main_job_runs_in_its_default_run_folder_and_recipe_run_takes_a_relative_file() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let mut args: Vec<&str> = SMALL.to_vec();
    args.extend_from_slice(&["--base-steps", "3", "--steps", "2"]);
    let (ok, stdout, stderr) = run_in(cwd.path(), env!("CARGO_BIN_EXE_capivara"), &args);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("| CAPIVARA |"), "{stdout}");
    assert!(
        stdout.contains("run folder: runs/capivara-seed000"),
        "{stdout}"
    );
    for file in [
        "report.json",
        "report.md",
        "curves.png",
        "finetune/model.mpk",
    ] {
        assert!(
            cwd.path()
                .join("runs/capivara-seed000")
                .join(file)
                .is_file(),
            "{file} missing"
        );
    }

    let recipe = env!("CARGO_BIN_EXE_recipe");
    let (ok, _, stderr) = run_in(
        cwd.path(),
        recipe,
        &[
            "new", "--lang", "hi", "--from", "capivara", "--output", "hi.toml",
        ],
    );
    assert!(ok, "{stderr}");
    let mut args: Vec<&str> = vec!["run", "hi.toml"];
    args.extend_from_slice(&SMALL);
    args.extend_from_slice(&["--base-steps", "3", "--steps", "2"]);
    let (ok, stdout, stderr) = run_in(cwd.path(), recipe, &args);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("run folder: runs/capivara-hi-seed000"),
        "{stdout}"
    );
    assert!(
        cwd.path()
            .join("runs/capivara-hi-seed000/report.json")
            .is_file()
    );
}

/// `[model] config` over the preset: a new language chooses its own sizes with the model config's keys, and a
/// key the config does not have is refused in one line naming it.
#[test]
fn a_recipe_sets_its_own_model_sizes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let (ok, _, stderr) = small_run(
        env!("CARGO_BIN_EXE_capivara"),
        &run,
        &[
            "--set",
            "model.config={projection_dim=32, vision_config={num_hidden_layers=3}, text={encoder_config={intermediate_size=96}}}",
            "--base-steps",
            "2",
            "--steps",
            "1",
        ],
    );
    assert!(ok, "{stderr}");
    let model = read_json(&run.join("finetune/model.json"));
    assert_eq!(model["projection_dim"], 32, "{model}");
    assert_eq!(model["vision_config"]["num_hidden_layers"], 3, "{model}");
    assert_eq!(
        model["vision_config"]["hidden_size"], 64,
        "the preset's: {model}"
    );
    assert_eq!(
        model["text"]["encoder_config"]["intermediate_size"], 96,
        "{model}"
    );

    let stderr = capivara_fails_in_one_line(&[
        "--set",
        "data.train_images=16",
        "--set",
        "data.test_images=8",
        "--batch-size",
        "8",
        "--run-dir",
        dir.path().join("typo").to_str().expect("utf-8"),
        "--set",
        "model.config={vision_config={num_hidden_layerz=3}}",
    ]);
    assert!(
        stderr.contains("`vision_config.num_hidden_layerz` is not a key of the model config"),
        "{stderr}"
    );
}

/// The chaos test: a short two-stage run is killed (the process aborts, as SIGKILL leaves it: no destructor, no
/// flush, the run-folder lock not released) at five points in turn — in the middle of a step, in the middle of
/// a checkpoint write, after a stage's weights but before its key, between a checkpoint and its `latest` pointer,
/// and in the second stage's steps — and resumed each time with `--resume`. It ends with the weights, the metrics
/// and the report of an uninterrupted run. (The points are chosen, not drawn, so the test never depends on
/// timing; `POLYCLIP_FAILPOINT`, polyclip-train's failpoint.rs.)
#[test]
fn a_run_killed_at_every_kind_of_point_resumes_to_the_uninterrupted_result() {
    let capivara = env!("CARGO_BIN_EXE_capivara");
    let dir = tempfile::tempdir().expect("tempdir");
    let run_with = |run: &std::path::Path, resume: bool, failpoint: Option<&str>| {
        let mut command = Command::new(capivara);
        command.args(SMALL).args([
            "--run-dir",
            run.to_str().expect("utf-8"),
            "--base-steps",
            "4",
            "--steps",
            "4",
            "--set",
            "stage.base.train.checkpoint_every=1",
            "--set",
            "stage.finetune.train.checkpoint_every=1",
        ]);
        if resume {
            command.arg("--resume");
        }
        match failpoint {
            Some(point) => command.env("POLYCLIP_FAILPOINT", point),
            None => command.env_remove("POLYCLIP_FAILPOINT"),
        };
        let output = command.output().expect("run capivara");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let straight = dir.path().join("straight");
    let (ok, stderr) = run_with(&straight, false, None);
    assert!(ok, "{stderr}");

    let chaotic = dir.path().join("chaotic");
    for (index, point) in [
        "step:3",
        "checkpoint:2",
        "stage-end:1",
        "latest:2",
        "step:2",
    ]
    .into_iter()
    .enumerate()
    {
        let (ok, stderr) = run_with(&chaotic, index > 0, Some(point));
        assert!(!ok, "{point}: the run was not killed: {stderr}");
        assert!(
            stderr.contains(&format!("POLYCLIP_FAILPOINT={point}: aborting here")),
            "{point}: {stderr}"
        );
    }
    let (ok, stderr) = run_with(&chaotic, true, None);
    assert!(ok, "{stderr}");
    // The last kill left the folder's lock behind; the resumed run took it over.
    assert!(stderr.contains("taking over the lock of a run that ended without releasing it"));

    for stage in ["base", "finetune"] {
        assert!(
            weight_bits(&straight.join(stage)) == weight_bits(&chaotic.join(stage)),
            "{stage}'s weights differ from the uninterrupted run's"
        );
    }
    let without_timing = |path: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(path)
            .expect("metrics")
            .lines()
            .map(|line| {
                line.split(",\"samples_per_s\"")
                    .next()
                    .unwrap_or(line)
                    .to_owned()
            })
            .collect()
    };
    for stage in ["base", "finetune"] {
        let metrics = format!("{stage}/metrics.jsonl");
        assert_eq!(
            without_timing(&chaotic.join(&metrics)),
            without_timing(&straight.join(&metrics)),
            "{metrics}"
        );
    }
    let rows = |run: &std::path::Path| read_json(&run.join("report.json"))["rows"].clone();
    assert_eq!(rows(&chaotic), rows(&straight));
}

/// Every weight of a stage's model folder, as bits, in module order (model.mpk's bytes also hold burn's random
/// parameter ids).
fn weight_bits(stage: &std::path::Path) -> Vec<u32> {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::tensor::{Tensor, backend::Backend};
    type Cpu = burn::backend::ndarray::NdArray<f32>;
    struct Bits(Vec<u32>);
    impl<B: Backend> ModuleVisitor<B> for Bits {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.0
                .extend(param.val().into_data().iter::<f32>().map(f32::to_bits));
        }
    }
    let loaded =
        polyclip_checkpoints::load::<Cpu>(stage, false, &Default::default()).expect("load");
    let polyclip_checkpoints::LoadedModel::Dual(model) = loaded.model else {
        panic!("a CLIP model");
    };
    let mut bits = Bits(Vec::new());
    model.visit(&mut bits);
    bits.0
}
