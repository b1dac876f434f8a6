//! LoRA adapters on the XLM-R-style text tower: attaching changes nothing until trained, merging equals the
//! adapted model, only adapters (plus the head and the logit scale) receive gradients, and targets are exact.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::backend::Autodiff;
use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::module::Param;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use polyclip_models::BuildModel;
use polyclip_models::lora::{LoraConfig, LoraLayers};
use polyclip_models::text_tower::TextTower;
use polyclip_models::{ClipModel, presets};

type B = NdArray<f32>;
type AB = Autodiff<B>;

fn capivara_opt_lora() -> LoraConfig {
    LoraConfig {
        r: 8,
        lora_alpha: 8.0,
        target_modules: vec!["query".into(), "value".into()],
        seed: 3,
    }
}

fn texts<Bk: Backend>(device: &Bk::Device) -> (Tensor<Bk, 2, Int>, Tensor<Bk, 2, Int>) {
    let ids = TensorData::new(vec![0_i64, 5, 9, 22, 2, 1, 0, 17, 33, 2, 1, 1], [2, 6]);
    let mask = TensorData::new(vec![1_i64, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0], [2, 6]);
    (
        Tensor::from_data(ids, device),
        Tensor::from_data(mask, device),
    )
}

fn tiny<Bk: Backend>(device: &Bk::Device) -> ClipModel<Bk> {
    presets::tiny_capivara(100, 16, 1, 32)
        .init(7, device)
        .expect("model")
}

fn max_abs_diff(a: Tensor<B, 2>, b: Tensor<B, 2>) -> f32 {
    (a - b).abs().max().into_scalar()
}

/// Gives every adapter's `B` random values, as training would.
fn train_adapters(model: &mut ClipModel<B>) {
    for (_, layer) in model.text.lora_layers() {
        if let Some(adapter) = layer.adapter.as_mut() {
            let dims = adapter.lora_b.weight.dims();
            let device = adapter.lora_b.weight.device();
            adapter.lora_b.weight = Param::from_tensor(Tensor::random(
                dims,
                Distribution::Normal(0.0, 0.05),
                &device,
            ));
        }
    }
}

#[test]
fn query_and_value_of_every_layer_are_adapted_and_nothing_else() {
    let device = NdArrayDevice::Cpu;
    let mut model = tiny::<B>(&device);
    let layers = match &model.text {
        TextTower::Encoder(tower) => tower.transformer.encoder.layer.len(),
        TextTower::Clip(_) => panic!("tiny_capivara has an encoder text tower"),
    };
    let attached = model
        .attach_text_lora(&capivara_opt_lora())
        .expect("attach");
    let expected: Vec<String> = (0..layers)
        .flat_map(|i| {
            ["query", "value"]
                .map(|name| format!("text.transformer.encoder.layer.{i}.attention.self.{name}"))
        })
        .collect();
    assert_eq!(attached, expected);

    let mut missing = LoraConfig {
        target_modules: vec!["word_embeddings".into()],
        ..capivara_opt_lora()
    };
    let error = tiny::<B>(&device)
        .attach_text_lora(&missing)
        .expect_err("embeddings are not adaptable");
    assert!(error.to_string().contains("word_embeddings"), "{error}");
    missing.r = 0;
    assert!(tiny::<B>(&device).attach_text_lora(&missing).is_err());
}

#[test]
fn a_fresh_adapter_is_the_identity_and_merging_equals_the_adapted_model() {
    let device = NdArrayDevice::Cpu;
    let (ids, mask) = texts::<B>(&device);
    let mut model = tiny::<B>(&device);
    let before = model.embed_texts(ids.clone(), mask.clone());
    model
        .attach_text_lora(&capivara_opt_lora())
        .expect("attach");
    let fresh = model.embed_texts(ids.clone(), mask.clone());
    assert_eq!(max_abs_diff(before.clone(), fresh), 0.0);

    train_adapters(&mut model);
    let adapted = model.embed_texts(ids.clone(), mask.clone());
    assert!(
        max_abs_diff(before, adapted.clone()) > 1e-3,
        "a trained adapter changes the embeddings"
    );
    let mut merged = model.with_merged_lora();
    assert!(
        merged
            .text
            .lora_layers()
            .iter()
            .all(|(_, layer)| layer.adapter.is_none())
    );
    let diff = max_abs_diff(adapted, merged.embed_texts(ids, mask));
    assert!(diff < 1e-5, "merged vs adapted: {diff}");
}

#[test]
fn the_frozen_encoder_trains_only_its_adapters_and_the_logit_scale() {
    let device = NdArrayDevice::Cpu;
    let (ids, mask) = texts::<AB>(&device);
    let mut model = tiny::<AB>(&device);
    model
        .attach_text_lora(&capivara_opt_lora())
        .expect("attach");
    let loss = (model.text_features(ids, mask) * model.logit_multiplier().unsqueeze_dim(0))
        .powf_scalar(2.0)
        .sum();
    let grads = loss.backward();
    let TextTower::Encoder(tower) = &model.text else {
        panic!("encoder tower");
    };
    let layer = &tower.transformer.encoder.layer[0];
    let query = &layer.attention.self_attention.query;
    let adapter = query.adapter.as_ref().expect("adapter on query");
    assert!(adapter.lora_a.weight.grad(&grads).is_some());
    assert!(adapter.lora_b.weight.grad(&grads).is_some());
    assert!(model.logit_scale.grad(&grads).is_some());
    assert!(query.weight.grad(&grads).is_none(), "base weight frozen");
    assert!(
        layer
            .attention
            .self_attention
            .key
            .weight
            .grad(&grads)
            .is_none(),
        "untargeted layer frozen"
    );
    assert!(
        tower
            .transformer
            .embeddings
            .word_embeddings
            .weight
            .grad(&grads)
            .is_none(),
        "embedding table frozen"
    );
}

#[test]
fn set_adapter_installs_given_matrices_checks_their_shapes_and_freezes_the_base() {
    let device = NdArrayDevice::Cpu;
    let (ids, mask) = texts::<AB>(&device);
    let mut model = tiny::<AB>(&device);
    let TextTower::Encoder(tower) = &mut model.text else {
        panic!("encoder tower");
    };
    let query = &mut tower.transformer.encoder.layer[0]
        .attention
        .self_attention
        .query;
    let (d_in, d_out) = query.shape();
    let random = |shape: [usize; 2]| Tensor::<AB, 2>::random(shape, Distribution::Default, &device);
    let error = query
        .set_adapter(random([d_in, 3]), random([2, d_out]), 1.0)
        .expect_err("ranks differ");
    assert!(
        error.to_string().contains("[3, ") || error.to_string().contains(", 3]"),
        "{error}"
    );
    assert!(
        query
            .set_adapter(random([d_out + 1, 2]), random([2, d_out]), 1.0)
            .is_err()
    );
    query
        .set_adapter(random([d_in, 2]), random([2, d_out]), 0.5)
        .expect("matching shapes");
    let adapter = query.adapter.as_ref().expect("adapter");
    assert_eq!(adapter.rank(), 2);
    assert_eq!(adapter.scaling, 0.5);

    let x = random([3, d_in]);
    let expected = x.clone().matmul(query.weight.val())
        + query.bias.as_ref().expect("bias").val().unsqueeze_dim(0)
        + x.clone()
            .matmul(adapter.lora_a.weight.val())
            .matmul(adapter.lora_b.weight.val())
            * 0.5;
    let diff: f32 = (query.forward(x) - expected).abs().max().into_scalar();
    assert!(diff < 1e-5, "{diff}");

    let loss = model.text_features(ids, mask).sum();
    let grads = loss.backward();
    let TextTower::Encoder(tower) = &model.text else {
        panic!("encoder tower");
    };
    let query = &tower.transformer.encoder.layer[0]
        .attention
        .self_attention
        .query;
    let adapter = query.adapter.as_ref().expect("adapter");
    assert!(adapter.lora_a.weight.grad(&grads).is_some());
    assert!(adapter.lora_b.weight.grad(&grads).is_some());
    assert!(query.weight.grad(&grads).is_none(), "base weight frozen");
}
