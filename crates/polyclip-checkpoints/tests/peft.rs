//! PEFT LoRA adapter folders (tests/fixtures/make_peft_fixtures.py): folders PEFT wrote for the tiny open_clip
//! XLM-R model, with keys relative to the HF transformer and (CAPIVARA's code, head in `modules_to_save`) to the
//! text tower, load onto that base with PEFT's text features within 1e-5 (adapted and merged); saving them back
//! round-trips exactly; broken folders fail naming the file and key; and the folders polyclip writes from its
//! own adapters are the committed ones, which the script's `verify` loads with PEFT.
//!
//! `POLYCLIP_BLESS=1 cargo test -p polyclip-checkpoints --test peft` rewrites
//! tests/fixtures/peft/openclip_xlmr_lora_polyclip{,_tower}.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::tensor::{Tensor, TensorData};
use common::{B, DEVICE, Reference, fixture, fixtures, max_abs_diff};
use polyclip_checkpoints::peft::{
    ADAPTER_CONFIG, ADAPTER_WEIGHTS, TRAINED_IN_FULL, load_peft_adapter, save_peft_adapter,
};
use polyclip_checkpoints::tensors::TensorMap;
use polyclip_checkpoints::{
    Architecture, CheckpointError, LoadedModel, PeftRoot, PeftSaveOptions, load,
};
use polyclip_models::lora::{LoraConfig, LoraLayers};
use polyclip_models::projection::ProjectionHead;
use polyclip_models::{ClipModel, ClipModelConfig, TextTower};
use serde_json::Value;

const TOLERANCE: f32 = 1e-5;

fn peft_dir() -> PathBuf {
    fixtures("peft/openclip_xlmr_lora")
}

fn polyclip_dir() -> PathBuf {
    fixtures("peft/openclip_xlmr_lora_polyclip")
}

/// The committed base model the adapters were trained on, and its config.
fn base() -> (ClipModel<B>, ClipModelConfig) {
    let loaded = load::<B>(&fixture("openclip_xlmr"), false, &DEVICE).expect("base fixture");
    let (LoadedModel::Dual(model), Architecture::Dual(config)) =
        (loaded.model, loaded.spec.architecture)
    else {
        panic!("openclip_xlmr is a dual encoder")
    };
    (model, config)
}

fn features(model: &ClipModel<B>, reference: &Reference) -> Tensor<B, 2> {
    model.text_features(reference.int("input_ids"), reference.mask())
}

/// A copy of a fixture folder in a temporary folder, to break.
fn copy_of(dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(dir).expect("fixture folder") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, copy.path().join(path.file_name().expect("name"))).expect("copy");
    }
    copy
}

fn read(path: &Path) -> TensorMap {
    TensorMap::read(path).unwrap_or_else(|e| panic!("{e}"))
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("json file")).expect("json")
}

fn assert_same_tensors(ours: &TensorMap, theirs: &TensorMap) {
    let keys = |map: &TensorMap| map.tensors.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(ours), keys(theirs));
    for (key, data) in &ours.tensors {
        let other = &theirs.tensors[key];
        assert_eq!(data.shape, other.shape, "{key}");
        assert_eq!(
            data.to_vec::<f32>().expect("f32"),
            other.to_vec::<f32>().expect("f32"),
            "{key}"
        );
    }
}

#[test]
fn a_folder_peft_wrote_gives_pefts_text_features_adapted_and_merged() {
    let (model, config) = base();
    let reference = Reference::read(&peft_dir());
    let base_error = max_abs_diff(
        features(&model, &reference),
        reference.float("text_features"),
    );
    let loaded = load_peft_adapter(model, &config, &peft_dir()).unwrap_or_else(|e| panic!("{e}"));
    let expected: Vec<String> = (0..2)
        .flat_map(|i| {
            ["query", "value"]
                .map(|name| format!("text.transformer.encoder.layer.{i}.attention.self.{name}"))
        })
        .collect();
    assert_eq!(loaded.adapted, expected);
    assert_eq!(
        loaded.trained_in_full,
        ["logit_scale", "text.proj.0.weight", "text.proj.2.weight"]
    );
    assert_eq!(loaded.config.r, 4);
    assert_eq!(loaded.config.lora_alpha, 8.0);
    let adapted = features(&loaded.model, &reference);
    let error = max_abs_diff(adapted.clone(), reference.float("text_features"));
    let merged = loaded.model.clone().with_merged_lora();
    let merged_error = max_abs_diff(
        features(&merged, &reference),
        reference.float("text_features"),
    );
    let scale = loaded.model.logit_scale.val().into_scalar();
    eprintln!(
        "PEFT fixture: max |Δ| adapted {error:.2e}, merged {merged_error:.2e} (base model: {base_error:.2e})"
    );
    assert!(base_error > 1e-2, "the adapters must matter");
    assert!(
        error <= TOLERANCE,
        "adapted text features differ by {error}"
    );
    assert!(
        merged_error <= TOLERANCE,
        "merged text features differ by {merged_error}"
    );
    assert!(
        (scale - (1.0_f32 / 0.05).ln()).abs() < 1e-6,
        "logit scale {scale}"
    );
}

#[test]
fn without_trained_in_full_the_base_head_stays() {
    let folder = copy_of(&peft_dir());
    std::fs::remove_file(folder.path().join(TRAINED_IN_FULL)).expect("remove");
    let (model, config) = base();
    let reference = Reference::read(&peft_dir());
    let loaded = load_peft_adapter(model, &config, folder.path()).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.trained_in_full.is_empty());
    let error = max_abs_diff(
        features(&loaded.model, &reference),
        reference.float("text_features_adapters_only"),
    );
    eprintln!("PEFT fixture, adapters only: max |Δ| {error:.2e}");
    assert!(error <= TOLERANCE, "text features differ by {error}");
}

#[test]
fn saving_loaded_adapters_round_trips_exactly() {
    let (model, config) = base();
    let loaded = load_peft_adapter(model, &config, &peft_dir()).unwrap_or_else(|e| panic!("{e}"));
    let out = tempfile::tempdir().expect("tempdir");
    let options = PeftSaveOptions {
        base_model_name_or_path: Some("models/openclip_xlmr/text".into()),
        ..PeftSaveOptions::default()
    };
    let written = save_peft_adapter(&loaded.model, &config, &options, out.path())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(written.len(), 3);
    // The same tensors as PEFT's files, bit for bit (transposes are exact).
    for file in [ADAPTER_WEIGHTS, TRAINED_IN_FULL] {
        assert_same_tensors(&read(&out.path().join(file)), &read(&peft_dir().join(file)));
    }
    let ours = json(&out.path().join(ADAPTER_CONFIG));
    let theirs = json(&peft_dir().join(ADAPTER_CONFIG));
    for field in [
        "peft_type",
        "r",
        "lora_alpha",
        "target_modules",
        "bias",
        "base_model_name_or_path",
        "task_type",
    ] {
        assert_eq!(ours[field], theirs[field], "{field}");
    }

    let (fresh, _) = base();
    let again = load_peft_adapter(fresh, &config, out.path()).unwrap_or_else(|e| panic!("{e}"));
    let reference = Reference::read(&peft_dir());
    assert_eq!(
        max_abs_diff(
            features(&loaded.model, &reference),
            features(&again.model, &reference)
        ),
        0.0
    );
}

/// Loads `folder` onto the base and returns the error's message.
fn load_error(folder: &Path) -> String {
    let (model, config) = base();
    match load_peft_adapter(model, &config, folder) {
        Ok(_) => panic!("{} loaded", folder.display()),
        Err(error) => error.to_string(),
    }
}

/// Rewrites the adapter weights of a copy of the PEFT fixture with `edit`.
fn with_weights(edit: impl FnOnce(&mut TensorMap)) -> tempfile::TempDir {
    let folder = copy_of(&peft_dir());
    let path = folder.path().join(ADAPTER_WEIGHTS);
    let mut tensors = read(&path);
    edit(&mut tensors);
    tensors.write_safetensors(&path).expect("write");
    folder
}

#[test]
fn missing_mismatched_and_unexpected_tensors_name_the_file_and_key() {
    let key = "base_model.model.encoder.layer.1.attention.self.value.lora_B.weight";
    let folder = with_weights(|tensors| {
        tensors.tensors.remove(key);
    });
    let message = load_error(folder.path());
    assert!(message.contains(ADAPTER_WEIGHTS), "{message}");
    assert!(message.contains(&format!("1 missing: {key}")), "{message}");

    let folder = with_weights(|tensors| {
        tensors
            .tensors
            .insert(key.into(), TensorData::new(vec![0.0_f32; 32 * 3], [32, 3]));
    });
    let message = load_error(folder.path());
    assert!(message.contains("shape-mismatched"), "{message}");
    assert!(
        message.contains(&format!("{key} (model [32, 4], checkpoint [32, 3])")),
        "{message}"
    );

    let stray = "base_model.model.encoder.layer.0.attention.self.key.lora_A.weight";
    let folder = with_weights(|tensors| {
        tensors.tensors.insert(
            stray.into(),
            TensorData::new(vec![0.0_f32; 4 * 32], [4, 32]),
        );
    });
    let message = load_error(folder.path());
    assert!(
        message.contains(&format!("1 unexpected: {stray}")),
        "{message}"
    );

    // An extra key in trained_in_full.safetensors.
    let folder = copy_of(&peft_dir());
    let path = folder.path().join(TRAINED_IN_FULL);
    let mut tensors = read(&path);
    tensors.tensors.insert(
        "text.transformer.embeddings.LayerNorm.weight".into(),
        TensorData::new(vec![1.0_f32; 32], [32]),
    );
    tensors.write_safetensors(&path).expect("write");
    let message = load_error(folder.path());
    assert!(
        message.contains(TRAINED_IN_FULL)
            && message.contains("1 unexpected: text.transformer.embeddings.LayerNorm.weight"),
        "{message}"
    );

    // No weights file at all.
    let folder = copy_of(&peft_dir());
    std::fs::remove_file(folder.path().join(ADAPTER_WEIGHTS)).expect("remove");
    let message = load_error(folder.path());
    assert!(message.contains(ADAPTER_WEIGHTS), "{message}");
}

#[test]
fn options_polyclips_lora_does_not_compute_are_refused_by_name() {
    let cases = [
        ("use_dora", serde_json::json!(true)),
        ("bias", serde_json::json!("all")),
        ("target_modules", serde_json::json!(".*\\.query")),
        ("rank_pattern", serde_json::json!({"query": 2})),
        ("layers_to_transform", serde_json::json!([0])),
        ("peft_type", serde_json::json!("IA3")),
    ];
    for (field, value) in cases {
        let folder = copy_of(&peft_dir());
        let path = folder.path().join(ADAPTER_CONFIG);
        let mut config = json(&path);
        config[field] = value;
        std::fs::write(&path, config.to_string()).expect("write");
        let (model, model_config) = base();
        let error = load_peft_adapter(model, &model_config, folder.path())
            .expect_err("an unsupported option");
        assert!(
            matches!(error, CheckpointError::Unsupported { ref key, .. } if key == field),
            "{field}: {error}"
        );
        assert!(error.to_string().contains(ADAPTER_CONFIG), "{error}");
    }
    // rsLoRA only changes the scaling: alpha / √r.
    let folder = copy_of(&peft_dir());
    let path = folder.path().join(ADAPTER_CONFIG);
    let mut config = json(&path);
    config["use_rslora"] = serde_json::json!(true);
    std::fs::write(&path, config.to_string()).expect("write");
    let (model, model_config) = base();
    let mut loaded =
        load_peft_adapter(model, &model_config, folder.path()).unwrap_or_else(|e| panic!("{e}"));
    for (_, layer) in loaded.model.text.lora_layers() {
        if let Some(adapter) = &layer.adapter {
            assert_eq!(adapter.scaling, 8.0 / 2.0);
        }
    }
}

/// Deterministic non-zero values for polyclip-made adapters and head updates.
fn pattern(shape: [usize; 2], salt: f32) -> Tensor<B, 2> {
    let values = (0..shape[0] * shape[1])
        .map(|i| (i as f32 * 0.7548 + salt).sin() * 0.2)
        .collect::<Vec<_>>();
    Tensor::from_data(TensorData::new(values, shape), &DEVICE)
}

/// Adapters polyclip attaches itself (PEFT's names: query, value and intermediate.dense everywhere, the
/// attention output of layer 1 only), r = 2, alpha = 3, filled with fixed values, and a nudged head and logit
/// scale: what a CAPIVARA + Opt. run in polyclip ends with.
fn polyclip_trained() -> (ClipModel<B>, ClipModelConfig) {
    let (mut model, config) = base();
    let lora = LoraConfig {
        r: 2,
        lora_alpha: 3.0,
        target_modules: vec![
            "query".into(),
            "value".into(),
            "intermediate.dense".into(),
            "*.layer.1.attention.output.dense".into(),
        ],
        seed: 5,
    };
    model.attach_text_lora(&lora).expect("attach");
    for (index, (_, layer)) in model.text.lora_layers().into_iter().enumerate() {
        let Some(adapter) = layer.adapter.as_mut() else {
            continue;
        };
        let salt = index as f32;
        adapter.lora_a.weight = Param::from_tensor(pattern(adapter.lora_a.weight.dims(), salt));
        adapter.lora_b.weight =
            Param::from_tensor(pattern(adapter.lora_b.weight.dims(), salt + 0.5));
    }
    let TextTower::Encoder(tower) = &mut model.text else {
        panic!("encoder tower")
    };
    let ProjectionHead::Mlp(head) = &mut tower.proj else {
        panic!("open_clip's MLP head")
    };
    for (salt, linear) in [(7.0, &mut head.fc1), (9.0, &mut head.fc2)] {
        let dims = linear.weight.dims();
        linear.weight = linear
            .weight
            .clone()
            .map(|w| w + pattern(dims, salt) * 0.25);
    }
    model.logit_scale = model.logit_scale.clone().map(|s| s.add_scalar(0.3));
    (model, config)
}

/// Saves polyclip's own adapters with keys under `root`, checks the names it chose, loads the folder back, and
/// compares it with the committed `dir` (rewritten with `POLYCLIP_BLESS`).
fn check_polyclip_folder(root: PeftRoot, committed: &Path, expected_targets: Value) {
    let (model, config) = polyclip_trained();
    let options = PeftSaveOptions {
        base_model_name_or_path: Some("models/openclip_xlmr/text".into()),
        root,
        ..PeftSaveOptions::default()
    };
    let out = tempfile::tempdir().expect("tempdir");
    save_peft_adapter(&model, &config, &options, out.path()).unwrap_or_else(|e| panic!("{e}"));
    let reference = Reference::read(&peft_dir());
    let text_features = features(&model, &reference);
    let written = json(&out.path().join(ADAPTER_CONFIG));
    assert_eq!(written["target_modules"], expected_targets);
    assert_eq!(written["r"], 2);
    assert_eq!(written["lora_alpha"], 3);

    // polyclip loads its own folder back exactly.
    let (fresh, _) = base();
    let loaded = load_peft_adapter(fresh, &config, out.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.root, root);
    assert_eq!(loaded.adapted.len(), 2 * 3 + 1);
    assert_eq!(
        max_abs_diff(features(&loaded.model, &reference), text_features.clone()),
        0.0
    );

    let polyclip_reference = TensorMap {
        tensors: [
            ("input_ids".to_string(), reference.data("input_ids")),
            (
                "attention_mask".to_string(),
                reference.data("attention_mask"),
            ),
            ("text_features".to_string(), text_features.to_data()),
        ]
        .into_iter()
        .collect(),
        source: committed.join("polyclip_reference.safetensors"),
    };
    if std::env::var_os("POLYCLIP_BLESS").is_some() {
        std::fs::create_dir_all(committed).expect("mkdir");
        save_peft_adapter(&model, &config, &options, committed).expect("bless");
        polyclip_reference
            .write_safetensors(&polyclip_reference.source)
            .expect("bless reference");
    }
    assert_eq!(
        written,
        json(&committed.join(ADAPTER_CONFIG)),
        "{} is stale: rerun with POLYCLIP_BLESS=1, then make_peft_fixtures.py verify",
        committed.display()
    );
    for file in [ADAPTER_WEIGHTS, TRAINED_IN_FULL] {
        assert_same_tensors(&read(&out.path().join(file)), &read(&committed.join(file)));
    }
    let committed_features: Tensor<B, 2> = Tensor::from_data(
        read(&committed.join("polyclip_reference.safetensors")).tensors["text_features"].clone(),
        &DEVICE,
    );
    assert!(max_abs_diff(text_features, committed_features) <= 1e-6);
}

#[test]
fn the_folder_polyclip_writes_is_the_committed_one_and_loads_back() {
    check_polyclip_folder(
        PeftRoot::Transformer,
        &polyclip_dir(),
        serde_json::json!([
            "intermediate.dense",
            "layer.1.attention.output.dense",
            "query",
            "value"
        ]),
    );
}

#[test]
fn the_text_tower_rooted_folder_polyclip_writes_is_the_committed_one_and_loads_back() {
    check_polyclip_folder(
        PeftRoot::TextTower,
        &fixtures("peft/openclip_xlmr_lora_polyclip_tower"),
        serde_json::json!([
            "intermediate.dense",
            "layer.1.attention.output.dense",
            "query",
            "value"
        ]),
    );
    let keys = read(&fixtures("peft/openclip_xlmr_lora_polyclip_tower").join(ADAPTER_WEIGHTS));
    assert!(
        keys.tensors
            .keys()
            .all(|key| key.starts_with("base_model.model.transformer.encoder."))
    );
}

#[test]
fn a_tower_rooted_folder_with_the_head_in_modules_to_save_gives_pefts_features() {
    // CAPIVARA's code: get_peft_model(open_clip_model.text, LoraConfig(..., modules_to_save=["proj"])).
    let dir = fixtures("peft/openclip_xlmr_lora_tower");
    let (model, config) = base();
    let reference = Reference::read(&dir);
    let loaded = load_peft_adapter(model, &config, &dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.root, PeftRoot::TextTower);
    assert_eq!(loaded.adapted.len(), 4);
    assert_eq!(
        loaded.modules_to_save,
        [
            "base_model.model.proj.0.weight",
            "base_model.model.proj.2.weight"
        ]
    );
    assert!(loaded.trained_in_full.is_empty());
    let error = max_abs_diff(
        features(&loaded.model, &reference),
        reference.float("text_features"),
    );
    let merged = loaded.model.clone().with_merged_lora();
    let merged_error = max_abs_diff(
        features(&merged, &reference),
        reference.float("text_features"),
    );
    eprintln!("PEFT text-tower fixture: max |Δ| adapted {error:.2e}, merged {merged_error:.2e}");
    assert!(
        error <= TOLERANCE,
        "adapted text features differ by {error}"
    );
    assert!(
        merged_error <= TOLERANCE,
        "merged text features differ by {merged_error}"
    );

    // Saved back under the same root, the adapters are PEFT's, bit for bit; the head goes to trained_in_full.
    let out = tempfile::tempdir().expect("tempdir");
    let options = PeftSaveOptions {
        root: PeftRoot::TextTower,
        ..PeftSaveOptions::default()
    };
    save_peft_adapter(&loaded.model, &config, &options, out.path())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut theirs = read(&dir.join(ADAPTER_WEIGHTS));
    theirs.tensors.retain(|key, _| key.contains(".lora_"));
    assert_same_tensors(&read(&out.path().join(ADAPTER_WEIGHTS)), &theirs);
    let (fresh, _) = base();
    let again = load_peft_adapter(fresh, &config, out.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        max_abs_diff(
            features(&loaded.model, &reference),
            features(&again.model, &reference)
        ),
        0.0
    );
}

#[test]
fn a_model_without_adapters_or_with_mixed_ranks_is_not_saved() {
    let (model, config) = base();
    let out = tempfile::tempdir().expect("tempdir");
    let error = save_peft_adapter(&model, &config, &PeftSaveOptions::default(), out.path())
        .expect_err("no adapters");
    assert!(error.to_string().contains("no LoRA adapter"), "{error}");

    let (mut model, _) = base();
    let mut lora = LoraConfig {
        r: 2,
        lora_alpha: 2.0,
        target_modules: vec!["query".into()],
        seed: 0,
    };
    model.attach_text_lora(&lora).expect("attach");
    let mut other = base().0;
    lora.r = 3;
    lora.target_modules = vec!["value".into()];
    other.attach_text_lora(&lora).expect("attach");
    // Move layer 0's value adapter (rank 3) into the rank-2 model.
    let value = other
        .text
        .lora_layers()
        .into_iter()
        .find(|(path, _)| path.ends_with("0.attention.self.value"))
        .and_then(|(_, layer)| layer.adapter.clone())
        .expect("value adapter");
    for (path, layer) in model.text.lora_layers() {
        if path.ends_with("0.attention.self.value") {
            layer.adapter = Some(value.clone());
        }
    }
    let error = save_peft_adapter(&model, &config, &PeftSaveOptions::default(), out.path())
        .expect_err("mixed ranks");
    assert!(error.to_string().contains("one rank"), "{error}");
}

#[test]
fn modules_to_save_tensors_load_into_the_transformer() {
    // PEFT saves a `modules_to_save` module whole under its plain name (checked with peft 0.21:
    // modules_to_save=["embeddings.LayerNorm"] writes base_model.model.embeddings.LayerNorm.{weight,bias}).
    let folder = copy_of(&peft_dir());
    let config_path = folder.path().join(ADAPTER_CONFIG);
    let mut adapter_config = json(&config_path);
    adapter_config["modules_to_save"] = serde_json::json!(["embeddings.LayerNorm"]);
    std::fs::write(&config_path, adapter_config.to_string()).expect("write");
    let weights = folder.path().join(ADAPTER_WEIGHTS);
    let mut tensors = read(&weights);
    let gamma: Vec<f32> = (0..32).map(|i| 1.0 + i as f32 / 64.0).collect();
    tensors.tensors.insert(
        "base_model.model.embeddings.LayerNorm.weight".into(),
        TensorData::new(gamma.clone(), [32]),
    );
    tensors.write_safetensors(&weights).expect("write");

    // The bias is missing.
    let message = load_error(folder.path());
    assert!(
        message.contains(ADAPTER_WEIGHTS)
            && message.contains("1 missing: base_model.model.embeddings.LayerNorm.bias"),
        "{message}"
    );

    tensors.tensors.insert(
        "base_model.model.embeddings.LayerNorm.bias".into(),
        TensorData::new(vec![0.25_f32; 32], [32]),
    );
    tensors.write_safetensors(&weights).expect("write");
    let (model, config) = base();
    let loaded = load_peft_adapter(model, &config, folder.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        loaded.modules_to_save,
        [
            "base_model.model.embeddings.LayerNorm.bias",
            "base_model.model.embeddings.LayerNorm.weight"
        ]
    );
    let TextTower::Encoder(tower) = &loaded.model.text else {
        panic!("encoder tower")
    };
    let norm = &tower.transformer.embeddings.layer_norm;
    assert_eq!(
        norm.gamma.val().to_data().to_vec::<f32>().expect("f32"),
        gamma
    );
    assert_eq!(
        norm.beta
            .as_ref()
            .expect("beta")
            .val()
            .to_data()
            .to_vec::<f32>()
            .expect("f32"),
        vec![0.25_f32; 32]
    );

    // Without modules_to_save in the config, the same tensors are unexpected.
    adapter_config["modules_to_save"] = Value::Null;
    std::fs::write(&config_path, adapter_config.to_string()).expect("write");
    let message = load_error(folder.path());
    assert!(
        message.contains("2 unexpected: base_model.model.embeddings.LayerNorm.bias"),
        "{message}"
    );
}
