//! Numerical parity with the Python references: every family's tiny fixture (every parameter re-drawn, made
//! by tests/fixtures/make_fixtures.py with transformers / open_clip / multilingual_clip) gives the same image
//! features, text features and logits within 1e-4, on every backend compiled in (`NAME::ndarray`, `NAME::flex`, …).

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use burn::tensor::backend::Backend;
use common::{Reference, copy_folder, fixture, max_abs_diff};
use polyclip_backend::every_backend_test;
use polyclip_checkpoints::{Family, LoadedModel, load};

const TOLERANCE: f32 = 1e-4;

fn check_dual<B: Backend>(name: &str, family: Family, device: &B::Device) {
    check_dual_in::<B>(&fixture(name), name, family, device);
}

/// [`check_dual`] on the folder `dir`.
fn check_dual_in<B: Backend>(
    dir: &std::path::Path,
    name: &str,
    family: Family,
    device: &B::Device,
) {
    let loaded = load::<B>(dir, false, device).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(loaded.spec.family, family);
    assert!(
        loaded.report.is_complete(),
        "{name}: {}",
        loaded.report.summary()
    );
    let LoadedModel::Dual(model) = loaded.model else {
        panic!("{name}: expected both towers")
    };
    let reference = Reference::<B>::read_on(dir, device);
    let images = model.image_features(reference.float("pixel_values"));
    let texts = model.text_features(reference.int("input_ids"), reference.mask());
    let image_error = max_abs_diff(images.clone(), reference.float("image_features"));
    let text_error = max_abs_diff(texts.clone(), reference.float("text_features"));
    let logits = model.logits_per_image(
        polyclip_models::clip::model::l2_normalize(images),
        polyclip_models::clip::model::l2_normalize(texts),
    );
    let logit_error = max_abs_diff(logits, reference.float("logits_per_image"));
    eprintln!(
        "{name}: max |Δ| image {image_error:.2e}, text {text_error:.2e}, logits {logit_error:.2e}"
    );
    assert!(
        image_error <= TOLERANCE,
        "{name}: image features differ by {image_error}"
    );
    assert!(
        text_error <= TOLERANCE,
        "{name}: text features differ by {text_error}"
    );
    assert!(
        logit_error <= TOLERANCE,
        "{name}: logits differ by {logit_error}"
    );
}

fn hf_clip_model_quick_gelu_legacy_eos<B: Backend>(device: &B::Device) {
    check_dual::<B>("hf_clip", Family::HfClip, device);
}
every_backend_test!(hf_clip_model_quick_gelu_legacy_eos);

fn hf_clip_model_gelu_sharded_safetensors<B: Backend>(device: &B::Device) {
    check_dual::<B>("hf_clip_sharded", Family::HfClip, device);
}
every_backend_test!(hf_clip_model_gelu_sharded_safetensors);

fn open_clip_native_layout<B: Backend>(device: &B::Device) {
    check_dual::<B>("openclip_vit", Family::OpenClip, device);
}
every_backend_test!(open_clip_native_layout);

fn open_clip_xlm_roberta_tower<B: Backend>(device: &B::Device) {
    check_dual::<B>("openclip_xlmr", Family::OpenClip, device);
}
every_backend_test!(open_clip_xlm_roberta_tower);

fn capivara_lightning_checkpoint<B: Backend>(device: &B::Device) {
    check_dual::<B>("capivara", Family::Capivara, device);
}
every_backend_test!(capivara_lightning_checkpoint);

fn clip_italian_vision_text_dual_encoder<B: Backend>(device: &B::Device) {
    check_dual::<B>("clip_italian", Family::VisionTextDualEncoder, device);
}
every_backend_test!(clip_italian_vision_text_dual_encoder);

fn themo_student_with_its_teachers_image_tower<B: Backend>(device: &B::Device) {
    check_dual::<B>("themo_student", Family::ThemoStudent, device);
}
every_backend_test!(themo_student_with_its_teachers_image_tower);

fn multilingual_clip_text_encoder<B: Backend>(device: &B::Device) {
    check_text_only::<B>("mclip", Family::MClip, device);
}
every_backend_test!(multilingual_clip_text_encoder);

/// Text parity for a text encoder without an image tower (M-CLIP pairs with any CLIP image tower).
/// The texts of the encoder fixtures' references: make_fixtures.py's TEXTS[1], TEXTS[9], TEXTS[3].
fn reference_texts() -> [String; 3] {
    [
        "dois círculos vermelhos sobre um fundo preto".to_string(),
        format!(
            "a very long caption {}until it is truncated",
            "that keeps going and going ".repeat(8)
        ),
        "una estrella amarilla, ¿verdad?".to_string(),
    ]
}

fn check_text_only<B: Backend>(name: &str, family: Family, device: &B::Device) {
    let dir = fixture(name);
    let loaded = load::<B>(&dir, false, device).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(loaded.spec.family, family);
    assert!(
        loaded.report.is_complete(),
        "{name}: {}",
        loaded.report.summary()
    );
    let reference = Reference::<B>::read_on(&dir, device);
    let (ids, mask) = (reference.int("input_ids"), reference.mask());
    let LoadedModel::Text(model) = loaded.model else {
        panic!("{name}: expected a text encoder alone")
    };
    let texts = model.text_features(ids, mask);
    let error = max_abs_diff(texts, reference.float("text_features"));
    eprintln!("{name}: max |Δ| text {error:.2e}");
    assert!(
        error <= TOLERANCE,
        "{name}: text features differ by {error}"
    );
}

/// open_clip with an HF BERT (WordPiece, `[PAD]`) text tower, for each pooler open_clip has that works (its
/// `max_pooler` fails in open_clip 3.3.0 itself: `masked_fill` with a long mask) and both heads. Beyond the
/// parity of the features, the folder's own tokenizer (found through `hf_tokenizer_name`, its pad token read
/// from its tokenizer_config.json) gives open_clip's ids exactly, and those ids give the reference features.
fn open_clip_bert_towers_with_every_pooler_and_head<B: Backend>(device: &B::Device) {
    use polyclip_data::TextTokenizer;
    let texts = reference_texts();
    for pooler in ["cls_pooler", "cls_last_hidden_state_pooler", "mean_pooler"] {
        for head in ["linear", "mlp"] {
            let name = format!("openclip_bert_{pooler}_{head}");
            check_dual::<B>(&name, Family::OpenClip, device);
            let loaded = load::<B>(&fixture(&name), false, device).expect("load");
            let text = &loaded.spec.text;
            assert_eq!(text.pad_token, "[PAD]", "{name}");
            let tokenizer = TextTokenizer::from_file(
                text.tokenizer
                    .as_ref()
                    .expect("the text/ folder's tokenizer"),
                &text.pad_token,
                text.max_tokens,
            )
            .expect("tokenizer")
            .with_whitespace_cleaning(text.clean_whitespace);
            let batch = tokenizer
                .encode_batch_to_max_length(&texts)
                .expect("encode");
            let reference = Reference::<B>::read_on(&fixture(&name), device);
            let expected: Vec<i64> = reference
                .data("input_ids")
                .iter::<f32>()
                .map(|v| v as i64)
                .collect();
            assert_eq!(batch.ids, expected, "{name}: ids");
            let LoadedModel::Dual(model) = loaded.model else {
                panic!("{name}: expected both towers")
            };
            let shape = [batch.batch, batch.seq];
            let ids = burn::tensor::Tensor::from_data(
                burn::tensor::TensorData::new(batch.ids, shape),
                device,
            );
            let mask = burn::tensor::Tensor::from_data(
                burn::tensor::TensorData::new(batch.mask, shape),
                device,
            );
            let error = max_abs_diff(
                model.text_features(ids, mask),
                reference.float("text_features"),
            );
            assert!(
                error <= TOLERANCE,
                "{name}: tokenized text features differ by {error}"
            );
        }
    }
}

every_backend_test!(open_clip_bert_towers_with_every_pooler_and_head);

/// open_clip before 2.21 named the HF text tower's pooler and head `pooler_type` and `proj` (now `hf_pooler_type`,
/// `hf_proj_type`): a config with the older names loads the same tower (a CLS pooler and a linear head, neither
/// of them the default).
#[test]
fn an_open_clip_config_with_the_older_tower_names_loads_the_same_tower() {
    let name = "openclip_bert_cls_pooler_linear";
    let dir = tempfile::tempdir().expect("tempdir");
    copy_folder(&fixture(name), dir.path());
    let path = dir.path().join("open_clip_config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    let text = config["model_cfg"]["text_cfg"]
        .as_object_mut()
        .expect("text_cfg");
    for (newer, older) in [("hf_pooler_type", "pooler_type"), ("hf_proj_type", "proj")] {
        let value = text.remove(newer).expect(newer);
        text.insert(older.into(), value);
    }
    std::fs::write(&path, config.to_string()).expect("write");
    check_dual_in::<burn::backend::NdArray>(
        dir.path(),
        name,
        Family::OpenClip,
        &Default::default(),
    );
}

/// open_clip's `CustomTextCLIP` (`custom_text: true`) with its own text transformer keeps that tower under the module
/// `text`: the same weights as `CLIP`'s top-level `token_embedding`, `transformer.resblocks.*`, `ln_final`,
/// `text_projection` and `positional_embedding`, saved as `text.token_embedding.weight` and so on. Such a folder
/// loads whole and gives open_clip's features and logits.
#[test]
fn an_open_clip_custom_text_folder_loads_its_text_tower_from_text_keys() {
    let name = "openclip_vit";
    let dir = tempfile::tempdir().expect("tempdir");
    let from = fixture(name);
    std::fs::copy(
        from.join("reference.safetensors"),
        dir.path().join("reference.safetensors"),
    )
    .expect("copy");
    let mut tensors =
        polyclip_checkpoints::tensors::TensorMap::read(&from.join("open_clip_pytorch_model.bin"))
            .expect("read");
    let top_level = [
        "token_embedding.",
        "positional_embedding",
        "transformer.",
        "ln_final.",
        "text_projection",
    ];
    let keys: Vec<String> = tensors.tensors.keys().cloned().collect();
    let mut moved = 0;
    for key in keys {
        if top_level.iter().any(|start| key.starts_with(start)) {
            let data = tensors.tensors.remove(&key).expect("key");
            tensors.tensors.insert(format!("text.{key}"), data);
            moved += 1;
        }
    }
    assert!(moved > 10, "{moved} text keys");
    assert!(!tensors.tensors.contains_key("token_embedding.weight"));
    tensors
        .write_safetensors(&dir.path().join("open_clip_model.safetensors"))
        .expect("write");
    let path = dir.path().join("open_clip_config.json");
    let mut config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(from.join("open_clip_config.json")).expect("read"),
    )
    .expect("json");
    config["model_cfg"]["custom_text"] = serde_json::Value::Bool(true);
    std::fs::write(&path, config.to_string()).expect("write");
    check_dual_in::<burn::backend::NdArray>(
        dir.path(),
        name,
        Family::OpenClip,
        &Default::default(),
    );

    // The same file read as `CLIP` (no `custom_text`) misses its text tower, and says so.
    config["model_cfg"]["custom_text"] = serde_json::Value::Bool(false);
    std::fs::write(&path, config.to_string()).expect("write");
    let error = load::<burn::backend::NdArray>(dir.path(), false, &Default::default())
        .map(|_| ())
        .expect_err("text keys unread")
        .to_string();
    assert!(
        error.contains(" unexpected: ") && error.contains("text.token_embedding.weight"),
        "{error}"
    );
}

/// A pretrained text encoder alone, what a distilled student starts from: BERT with its masked-LM head
/// (`bert.*`, `cls.*`, safetensors) and a bare XLM-R (`embeddings.*`, `pooler.*`, a PyTorch pickle). The
/// folder's tokenizer and pad token give transformers' ids, and those ids give its hidden states and mean-pooled
/// features.
fn pretrained_text_encoders_alone<B: Backend>(device: &B::Device) {
    use polyclip_checkpoints::{encoder_spec, load_encoder};
    use polyclip_data::TextTokenizer;
    use polyclip_models::pooling::masked_mean;
    let texts = reference_texts();
    for (name, pad, model_type) in [
        ("hf_bert_mlm", "[PAD]", "bert"),
        ("hf_xlmr_encoder", "<pad>", "xlm-roberta"),
    ] {
        let spec = encoder_spec(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(spec.config.model_type, model_type);
        assert_eq!(
            (spec.text.pad_token.as_str(), spec.text.max_tokens),
            (pad, 16)
        );
        let tokenizer = TextTokenizer::from_file(
            spec.text.tokenizer.as_ref().expect("tokenizer.json"),
            &spec.text.pad_token,
            spec.text.max_tokens,
        )
        .expect("tokenizer");
        let reference = Reference::<B>::read_on(&fixture(name), device);
        let expected: Vec<i64> = reference
            .data("input_ids")
            .iter::<f32>()
            .map(|v| v as i64)
            .collect();
        let batch = tokenizer
            .encode_batch_to_max_length(&texts)
            .expect("encode");
        assert_eq!(batch.ids, expected, "{name}: ids");

        let (encoder, report) =
            load_encoder::<B>(&spec, device).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(report.is_complete(), "{name}: {}", report.summary());
        let (ids, mask) = (reference.int("input_ids"), reference.mask());
        let states = encoder.forward(ids, mask.clone()).last_hidden_state;
        let pooled = masked_mean(states.clone(), mask);
        let error = max_abs_diff(states, reference.float("last_hidden_state"));
        let pooled_error = max_abs_diff(pooled, reference.float("mean_pooled"));
        eprintln!("{name}: max |Δ| hidden states {error:.2e}, mean-pooled {pooled_error:.2e}");
        assert!(
            error <= TOLERANCE && pooled_error <= TOLERANCE,
            "{name}: {error} {pooled_error}"
        );
    }
}
every_backend_test!(pretrained_text_encoders_alone);

/// The exact GELU (`hidden_act = "gelu"`: open_clip's ViTs, BERT, XLM-R) and its derivative Φ(x) + x·φ(x), on 4001
/// points of [-8, 8], against f64: GELU from burn-ndarray in f64 (libm's `erf`), Φ(x) = GELU(x)/x from it, φ
/// computed here. burn-flex's erf is a vectorizable rational approximation, and burn-backend's default derivative
/// (burn-ndarray's, CUDA's) was the tanh approximation's; both are patched (vendor/README.md). The approximate
/// derivative is off by 2.9e-4 here, a wrong erf coefficient by 1e-3 or more; a slightly wrong one fails the
/// saturation checks at the end.
fn exact_gelu_and_its_derivative<B: Backend>(device: &B::Device) {
    use burn::backend::Autodiff;
    use burn::backend::ndarray::{NdArray, NdArrayDevice};
    use burn::tensor::{Tensor, TensorData, activation::gelu};

    let xs: Vec<f64> = (0..=4000).map(|i| -8.0 + f64::from(i) * 0.004).collect();
    let read = |data: TensorData| data.convert::<f64>().to_vec::<f64>().expect("floats");
    let x = Tensor::<Autodiff<B>, 1>::from_data(TensorData::new(xs.clone(), [xs.len()]), device)
        .require_grad();
    let y = gelu(x.clone());
    let grads = y.clone().sum().backward();
    let (values, slopes) = (
        read(y.into_data()),
        read(x.grad(&grads).expect("grad").into_data()),
    );

    let exact = read(
        gelu(Tensor::<NdArray<f64>, 1>::from_data(
            TensorData::new(xs.clone(), [xs.len()]),
            &NdArrayDevice::Cpu,
        ))
        .into_data(),
    );
    let exact_slopes: Vec<f64> = xs
        .iter()
        .zip(&exact)
        .map(|(&x, &gelu)| {
            let cdf = if x == 0.0 { 0.5 } else { gelu / x };
            cdf + x * (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
        })
        .collect();
    let worst = |got: &[f64], want: &[f64]| {
        got.iter()
            .zip(want)
            .zip(&xs)
            .map(|((g, w), x)| (g - w).abs() / (1.0 + x.abs()))
            .fold(0.0_f64, f64::max)
    };
    let (value_error, slope_error) = (worst(&values, &exact), worst(&slopes, &exact_slopes));
    eprintln!("gelu: max |Δ|/(1+|x|) value {value_error:.2e}, derivative {slope_error:.2e}");
    assert!(value_error <= 5e-7, "gelu values differ by {value_error}");
    assert!(
        slope_error <= 5e-7,
        "gelu derivatives differ by {slope_error}"
    );
    // Saturation: Φ(x) is 1 in f32 from x = 6 on (1 - 1e-9), so GELU must give x back exactly there, and erf must
    // reach ±1 (a rational erf whose constants are one f32 step off stops at 0.99999988).
    for (x, value) in xs.iter().zip(&values).filter(|(x, _)| **x >= 6.0) {
        assert_eq!(*value, f64::from(*x as f32), "gelu({x})");
    }
    let infinities =
        Tensor::<B, 1>::from_floats([f32::NEG_INFINITY, f32::INFINITY, -6.0, 6.0], device);
    assert_eq!(read(infinities.erf().into_data()), [-1.0, 1.0, -1.0, 1.0]);
}
every_backend_test!(exact_gelu_and_its_derivative);

/// Inference takes burn's fused `attention` op and training the composed path (`scaled_dot_product`, attention.rs);
/// both must block the keys where the mask is `true`. burn-tch 0.21.0 handed burn's mask to PyTorch's
/// `scaled_dot_product_attention`, whose boolean mask means the opposite (`true` = attend): every padded text
/// encoder evaluated on `--backend tch` attended to its padding only (vendor/README.md).
fn fused_attention_blocks_the_keys_the_mask_blocks<B: Backend>(device: &B::Device) {
    use burn::backend::Autodiff;
    use burn::tensor::{Bool, Distribution, ElementConversion, Tensor, TensorData};
    use polyclip_models::attention::scaled_dot_product;

    let shape = [2, 2, 5, 4];
    let normal = Distribution::Normal(0.0, 1.0);
    let (q, k, v) = (
        Tensor::<B, 4>::random(shape, normal, device),
        Tensor::<B, 4>::random(shape, normal, device),
        Tensor::<B, 4>::random(shape, normal, device),
    );
    // The first sequence has no padding, the second its last two keys.
    let padding = [
        false, false, false, false, false, false, false, false, true, true,
    ];
    let blocked =
        || Tensor::<B, 4, Bool>::from_data(TensorData::new(padding.to_vec(), [2, 1, 1, 5]), device);
    let fused = scaled_dot_product(q.clone(), k.clone(), v.clone(), Some(blocked()), None);
    let lift = |t: &Tensor<B, 4>| Tensor::<Autodiff<B>, 4>::from_inner(t.clone());
    let composed = scaled_dot_product(
        lift(&q),
        lift(&k),
        lift(&v),
        Some(Tensor::from_inner(blocked())),
        None,
    )
    .inner();
    let diff = (fused.clone() - composed)
        .abs()
        .max()
        .into_scalar()
        .elem::<f32>();
    assert!(diff < 1e-5, "fused and composed attention differ by {diff}");
    // What a blocked key holds does not matter.
    let noise = Tensor::<B, 4>::random([1, 2, 2, 4], normal, device) * 100.0;
    let v_changed = v.slice_assign([1..2, 0..2, 3..5, 0..4], noise);
    let again = scaled_dot_product(q, k, v_changed, Some(blocked()), None);
    let diff = (fused - again).abs().max().into_scalar().elem::<f32>();
    assert!(diff < 1e-5, "a blocked key moved the output by {diff}");
}
every_backend_test!(fused_attention_blocks_the_keys_the_mask_blocks);

/// A word embedding's gradient is the sum of the output gradients of the positions that look a row up, zero in
/// every other row (burn's `embedding_backward`: `select_add` of those gradients into zeros). burn-flex's
/// `select_add` adds into its input's buffer in place when no other tensor shares it (vendor/README.md); one that
/// is shared must come out unchanged.
fn embedding_gradient_sums_the_rows_looked_up<B: Backend>(device: &B::Device) {
    use burn::backend::Autodiff;
    use burn::tensor::{Int, Tensor, TensorData};

    let (rows, width) = (7, 3);
    let table: Vec<f32> = (0..rows * width).map(|i| i as f32 * 0.25).collect();
    let weight = Tensor::<Autodiff<B>, 2>::from_data(TensorData::new(table, [rows, width]), device)
        .require_grad();
    // Row 4 is looked up three times, rows 1 and 6 once, the others never.
    let ids = Tensor::<Autodiff<B>, 2, Int>::from_data(
        TensorData::new(vec![4i64, 1, 4, 6, 4], [1, 5]),
        device,
    );
    let scale: Vec<f32> = (0..5 * width).map(|i| 1.0 + i as f32).collect();
    let scale = Tensor::<Autodiff<B>, 3>::from_data(TensorData::new(scale, [1, 5, width]), device);
    let looked_up = burn::tensor::module::embedding(weight.clone(), ids);
    let grads = (looked_up * scale).sum().backward();
    let grad = weight
        .grad(&grads)
        .unwrap()
        .into_data()
        .to_vec::<f32>()
        .unwrap();
    // d/dW[r, c] = Σ over the positions p with id r of scale[p, c] = 1 + 3p + c.
    let mut expected = vec![0.0f32; rows * width];
    for (position, row) in [4usize, 1, 4, 6, 4].into_iter().enumerate() {
        for column in 0..width {
            expected[row * width + column] += (1 + 3 * position + column) as f32;
        }
    }
    assert_eq!(grad, expected);

    // select_add into a tensor another handle shares: the other handle keeps its values.
    let base = Tensor::<B, 2>::zeros([rows, width], device);
    let shared = base.clone();
    let indices = Tensor::<B, 1, Int>::from_data(TensorData::new(vec![2i64, 2], [2]), device);
    let values = Tensor::<B, 2>::ones([2, width], device);
    let added = base.select_assign(0, indices, values, burn::tensor::IndexingUpdateOp::Add);
    let added = added.into_data().to_vec::<f32>().unwrap();
    assert_eq!(&added[2 * width..3 * width], &[2.0, 2.0, 2.0]);
    assert_eq!(added.iter().sum::<f32>(), 6.0);
    assert_eq!(
        shared.into_data().to_vec::<f32>().unwrap(),
        vec![0.0; rows * width]
    );
}
every_backend_test!(embedding_gradient_sums_the_rows_looked_up);
