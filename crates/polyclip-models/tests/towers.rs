//! Shapes of every tower and the invariances their masks and pooling promise.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::backend::ndarray::{NdArray, NdArrayDevice};
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use polyclip_models::BuildModel;
use polyclip_models::pooling::first_position_of;
use polyclip_models::{ClipModel, presets};

type B = NdArray<f32>;

fn ids(rows: &[&[i64]], pad: i64) -> (Tensor<B, 2, Int>, Tensor<B, 2, Int>) {
    let seq = rows.iter().map(|r| r.len()).max().unwrap_or(1);
    let mut flat = Vec::new();
    let mut mask = Vec::new();
    for row in rows {
        for col in 0..seq {
            flat.push(row.get(col).copied().unwrap_or(pad));
            mask.push(i64::from(col < row.len()));
        }
    }
    let device = NdArrayDevice::Cpu;
    (
        Tensor::from_data(TensorData::new(flat, [rows.len(), seq]), &device),
        Tensor::from_data(TensorData::new(mask, [rows.len(), seq]), &device),
    )
}

fn max_abs_diff(a: Tensor<B, 2>, b: Tensor<B, 2>) -> f32 {
    (a - b).abs().max().into_scalar()
}

#[test]
fn dual_encoder_shapes_and_normalisation() {
    let device = NdArrayDevice::Cpu;
    let model: ClipModel<B> = presets::tiny_capivara(100, 16, 1, 32)
        .init(7, &device)
        .expect("model");
    let pixels = Tensor::<B, 4>::random([3, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let images = model.embed_images(pixels);
    assert_eq!(images.dims(), [3, 64]);
    let norms: Vec<f32> = images
        .powf_scalar(2.0)
        .sum_dim(1)
        .sqrt()
        .into_data()
        .to_vec()
        .expect("f32");
    assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-5), "{norms:?}");
    let (input_ids, mask) = ids(&[&[0, 5, 6, 2], &[0, 7, 2]], 1);
    let texts = model.embed_texts(input_ids, mask);
    assert_eq!(texts.dims(), [2, 64]);
    let logit_scale: f32 = model.logit_multiplier().into_scalar();
    assert!((logit_scale - 1.0 / 0.07).abs() < 1e-3);
}

#[test]
fn xlmr_mean_pooling_ignores_padding() {
    let device = NdArrayDevice::Cpu;
    let model: ClipModel<B> = presets::tiny_capivara(100, 16, 1, 32)
        .init(3, &device)
        .expect("model");
    let (short_ids, short_mask) = ids(&[&[0, 5, 6, 2]], 1);
    let (padded_ids, padded_mask) = ids(&[&[0, 5, 6, 2], &[0, 9, 9, 9, 9, 9, 9, 2]], 1);
    let alone = model.text_features(short_ids, short_mask);
    let batched = model
        .text_features(padded_ids, padded_mask)
        .slice([0..1, 0..64]);
    assert!(max_abs_diff(alone, batched) < 1e-5);
}

#[test]
fn clip_text_pools_at_the_end_of_text_token_and_is_causal() {
    let device = NdArrayDevice::Cpu;
    let eos: i64 = 99;
    let model: ClipModel<B> = presets::tiny_clip(100, 16, eos as usize, 32)
        .init(5, &device)
        .expect("model");
    // Tokens after the end-of-text token cannot change the pooled state (causal mask, pooling at eos).
    let (a, mask_a) = ids(&[&[98, 5, 6, eos, 0, 0]], 0);
    let (b, mask_b) = ids(&[&[98, 5, 6, eos, 17, 23]], 0);
    let first = model.text_features(a, mask_a);
    let second = model.text_features(b, mask_b);
    assert!(max_abs_diff(first.clone(), second) < 1e-6);
    // A token before it does.
    let (c, mask_c) = ids(&[&[98, 5, 7, eos, 0, 0]], 0);
    assert!(max_abs_diff(first, model.text_features(c, mask_c)) > 1e-4);
}

#[test]
fn end_of_text_position_is_the_first_occurrence() {
    let (input_ids, _) = ids(&[&[4, 9, 2, 2], &[4, 2, 7, 2], &[4, 5, 6, 7]], 0);
    let positions: Vec<i64> = first_position_of(input_ids, 2)
        .into_data()
        .to_vec()
        .expect("i64");
    // The third row has no end-of-text token: its last position is used.
    assert_eq!(positions, vec![2, 1, 3]);
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    let device = NdArrayDevice::Cpu;
    let config = presets::tiny_capivara(50, 8, 1, 16);
    let pixels = Tensor::<B, 4>::ones([1, 3, 16, 16], &device);
    let embed = |seed| {
        let model: ClipModel<B> = config.init(seed, &device).expect("model");
        model.image_features(pixels.clone())
    };
    assert_eq!(max_abs_diff(embed(1), embed(1)), 0.0);
    assert!(max_abs_diff(embed(1), embed(2)) > 1e-3);
}

#[test]
fn invalid_config_is_reported_by_key() {
    let mut config = presets::tiny_capivara(50, 8, 1, 30);
    config.vision_config.patch_size = 31;
    let error = config
        .init::<B>(0, &NdArrayDevice::Cpu)
        .expect_err("must fail");
    assert!(
        error.to_string().contains("vision_config.patch_size"),
        "{error}"
    );
}

/// The patch embedding computes the stride-P convolution as a patch reshape and a matmul (vision.rs): its
/// output and its gradients (weight and pixels) are burn's `conv2d`'s, so training learns the filters a real
/// convolution would (checked while finding out why the embedded default's ViT learns colour but not shape). The
/// picture is not square, so rows and columns cannot be swapped unnoticed; flex's 6-D permute goes through its
/// own strided copy. Sides that are not multiples of the patch leave their last pixels out, as the convolution
/// does (HF's and open_clip's `image_size // patch_size` patches a side), with no gradient for them.
fn patch_embedding_matches_a_strided_convolution<Inner: burn::tensor::backend::Backend>(
    device: &Inner::Device,
) {
    for (height, width) in [(24, 16), (27, 19)] {
        patch_embedding_matches_a_strided_convolution_at::<Inner>(device, height, width);
    }
}

fn patch_embedding_matches_a_strided_convolution_at<Inner: burn::tensor::backend::Backend>(
    device: &Inner::Device,
    height: usize,
    width: usize,
) {
    use burn::backend::Autodiff;
    use burn::module::Param;
    use burn::nn::EmbeddingConfig;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::ElementConversion;
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;
    use polyclip_models::clip::vision::ClipVisionEmbeddings;

    type A<Inner> = Autodiff<Inner>;
    let (batch, channels, p, hidden) = (2, 3, 8, 5);
    let patches = (height / p) * (width / p);
    let normal = Distribution::Normal(0.0, 1.0);
    let pixels = Tensor::<A<Inner>, 4>::random([batch, channels, height, width], normal, device);
    let weight = Tensor::<A<Inner>, 4>::random([hidden, channels, p, p], normal, device);
    let weights = Tensor::<A<Inner>, 3>::random([batch, patches, hidden], normal, device);

    let mut conv = Conv2dConfig::new([channels, hidden], [p, p])
        .with_stride([p, p])
        .with_bias(false)
        .init(device);
    conv.weight = Param::from_tensor(weight.clone().require_grad());
    let embeddings = ClipVisionEmbeddings {
        class_embedding: Param::from_tensor(Tensor::zeros([hidden], device)),
        patch_embedding: conv,
        position_embedding: EmbeddingConfig::new(patches + 1, hidden).init(device),
        patch_size: p,
    };
    let ours_pixels = pixels.clone().require_grad();
    let positions = embeddings
        .position_embedding
        .weight
        .val()
        .narrow(0, 1, patches);
    let ours = embeddings
        .forward(ours_pixels.clone())
        .slice([0..batch, 1..patches + 1, 0..hidden])
        - positions.unsqueeze_dim(0);
    let ours_grads = (ours.clone() * weights.clone()).sum().backward();

    let (conv_pixels, conv_weight) = (pixels.require_grad(), weight.require_grad());
    let theirs = conv2d(
        conv_pixels.clone(),
        conv_weight.clone(),
        None,
        ConvOptions::new([p, p], [0, 0], [1, 1], 1),
    )
    .reshape([batch, hidden, patches])
    .swap_dims(1, 2);
    let theirs_grads = (theirs.clone() * weights).sum().backward();

    let close = |a: Tensor<Inner, 4>, b: Tensor<Inner, 4>, what: &str| {
        let (diff, scale) = (
            (a - b.clone()).abs().max().into_scalar().elem::<f32>(),
            b.abs().max().into_scalar().elem::<f32>(),
        );
        assert!(diff <= 1e-5 * scale, "{what}: {diff} of {scale}");
    };
    let flat = |t: Tensor<A<Inner>, 3>| t.inner().reshape([batch, patches, hidden, 1]);
    close(flat(ours), flat(theirs), "output");
    close(
        embeddings
            .patch_embedding
            .weight
            .grad(&ours_grads)
            .expect("weight grad"),
        conv_weight.grad(&theirs_grads).expect("weight grad"),
        "weight gradient",
    );
    close(
        ours_pixels.grad(&ours_grads).expect("pixel grad"),
        conv_pixels.grad(&theirs_grads).expect("pixel grad"),
        "pixel gradient",
    );
}

#[test]
fn patch_embedding_and_its_gradients_equal_a_strided_convolution_on_ndarray() {
    patch_embedding_matches_a_strided_convolution::<B>(&NdArrayDevice::Cpu);
}

#[test]
fn patch_embedding_and_its_gradients_equal_a_strided_convolution_on_flex() {
    patch_embedding_matches_a_strided_convolution::<burn::backend::Flex>(&Default::default());
}
