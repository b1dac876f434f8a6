//! The random augmentations: output sizes, the statistics of their draws (RandomResizedCrop's area and
//! aspect ratio), probabilities, determinism per seed, AugMix, the TOML form of a chain and its validation.
//! (The deterministic functions are checked against torchvision in augment_parity.rs; the wiring into
//! polyclip-data's `ImageBatcher` in that crate's tests/loader.rs.)

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use image::{Rgb, RgbImage};
use polyclip_augment::functional as f;
use polyclip_augment::resample;
use polyclip_augment::transforms::resized_crop_params;
use polyclip_augment::{AugmentChain, AugmentError, Augmentation, Fill, PaddingMode, Range, Shear};
use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

/// A 48×40 test photo (non-square) from the parity fixtures.
fn photo() -> RgbImage {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/augment/chelsea.png");
    image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

/// An image whose red channel is the column and green channel the row.
fn coordinates(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| Rgb([x as u8, y as u8, 0]))
}

fn chain(ops: Vec<Augmentation>) -> AugmentChain {
    AugmentChain::new(ops).expect("valid chain")
}

fn every_op() -> Vec<Augmentation> {
    vec![
        Augmentation::RandomResizedCrop {
            size: 40,
            scale: [0.3, 1.0],
            ratio: [0.75, 4.0 / 3.0],
        },
        Augmentation::HorizontalFlip { p: 0.5 },
        Augmentation::ColorJitter {
            brightness: Range::Value(0.4),
            contrast: Range::Value(0.4),
            saturation: Range::Value(0.4),
            hue: Range::Value(0.1),
        },
        Augmentation::RandomAffine {
            degrees: Range::Value(15.0),
            translate: Some([0.1, 0.1]),
            scale: Some([0.9, 1.1]),
            shear: Some(Shear::Value(5.0)),
            fill: Fill::Gray(127),
        },
        Augmentation::RandomPerspective {
            distortion_scale: 0.3,
            p: 0.5,
            fill: Fill::default(),
        },
        Augmentation::AugMix {
            severity: 3,
            mixture_width: 3,
            chain_depth: -1,
            alpha: 1.0,
            all_ops: true,
        },
        Augmentation::RandomAutocontrast { p: 0.5 },
        Augmentation::RandomEqualize { p: 0.5 },
        Augmentation::RandomCrop {
            size: 32,
            padding: 4,
            padding_mode: PaddingMode::Edge,
        },
    ]
}

#[test]
fn output_sizes() {
    let image = photo();
    let size_after =
        |op: Augmentation, seed: u64| chain(vec![op]).apply(image.clone(), seed).dimensions();
    for seed in 0..20 {
        assert_eq!(
            size_after(Augmentation::Resize { size: 20 }, seed),
            (24, 20)
        );
        assert_eq!(
            size_after(Augmentation::Resize { size: 60 }, seed),
            (72, 60)
        );
        let crop = Augmentation::RandomResizedCrop {
            size: 24,
            scale: [0.08, 1.0],
            ratio: [0.75, 4.0 / 3.0],
        };
        assert_eq!(size_after(crop, seed), (24, 24));
        let padded = Augmentation::RandomCrop {
            size: 36,
            padding: 4,
            padding_mode: PaddingMode::Constant,
        };
        assert_eq!(size_after(padded, seed), (36, 36));
        // Larger than the image: padded up as with `pad_if_needed`.
        let larger = Augmentation::RandomCrop {
            size: 64,
            padding: 0,
            padding_mode: PaddingMode::Edge,
        };
        assert_eq!(size_after(larger, seed), (64, 64));
        for op in every_op().into_iter().filter(|op| {
            !matches!(
                op,
                Augmentation::RandomResizedCrop { .. } | Augmentation::RandomCrop { .. }
            )
        }) {
            let name = op.name();
            assert_eq!(size_after(op, seed), image.dimensions(), "{name}");
        }
        assert_eq!(
            chain(every_op()).apply(image.clone(), seed).dimensions(),
            (32, 32)
        );
    }
}

#[test]
fn random_resized_crop_covers_the_scale_range_with_the_ratio_range() {
    let (width, height) = (240_u32, 180_u32);
    let area = (width * height) as f64;
    let (scale, ratio) = ([0.25_f32, 0.5], [0.75_f32, 4.0 / 3.0]);
    let mut rng = Pcg64::seed_from_u64(7);
    let mut fractions = Vec::new();
    for _ in 0..2000 {
        let (top, left, h, w) = resized_crop_params(&mut rng, width, height, scale, ratio);
        assert!(top >= 0 && left >= 0, "{top} {left}");
        assert!(top + h as i64 <= height as i64 && left + w as i64 <= width as i64);
        // Within the bounds up to the rounding of w and h to whole pixels.
        let slack = (w + h + 1) as f64 / area;
        let fraction = (w * h) as f64 / area;
        assert!(
            fraction >= scale[0] as f64 - slack && fraction <= scale[1] as f64 + slack,
            "{fraction}"
        );
        let aspect = w as f64 / h as f64;
        let aspect_slack = 1.0 / h as f64 + w as f64 / (h as f64 * (h as f64 - 1.0));
        assert!(
            aspect >= 0.75 - aspect_slack && aspect <= 4.0 / 3.0 + aspect_slack,
            "{aspect}"
        );
        fractions.push(fraction);
    }
    // Uniform over the range: the mean is near the middle and both ends are reached.
    let mean = fractions.iter().sum::<f64>() / fractions.len() as f64;
    assert!((mean - 0.375).abs() < 0.01, "mean area fraction {mean}");
    assert!(fractions.iter().any(|&f| f < 0.26) && fractions.iter().any(|&f| f > 0.49));

    // Impossible draws (a 3:1..4:1 crop of 90–100% of a square) fall back to the centre crop at ratio 3.
    let mut rng = Pcg64::seed_from_u64(1);
    let fallback = resized_crop_params(&mut rng, 120, 120, [0.9, 1.0], [3.0, 4.0]);
    assert_eq!(fallback, (40, 0, 40, 120));
}

/// The crop RandomResizedCrop took, read back from an image of its own coordinates (red = column, green =
/// row; bicubic reproduces linear ramps away from the borders).
#[test]
fn random_resized_crop_area_on_a_coordinate_image() {
    let (width, height) = (240_u32, 180_u32);
    let image = coordinates(width, height);
    let size = 64_u32;
    let op = chain(vec![Augmentation::RandomResizedCrop {
        size,
        scale: [0.25, 0.5],
        ratio: [0.75, 4.0 / 3.0],
    }]);
    let mut fractions = Vec::new();
    for seed in 0..60 {
        let out = op.apply(image.clone(), seed);
        assert_eq!(out.dimensions(), (size, size));
        let middle = size / 2;
        let span = |values: Vec<u8>| {
            let (min, max) = (values.iter().min().copied(), values.iter().max().copied());
            (max.unwrap_or(0) - min.unwrap_or(0)) as f64
        };
        // Output pixel u samples column left + (u + ½)·w/size − ½: the 56 middle pixels span 55·w/size.
        let inner = (size - 9) as f64 / size as f64;
        let w = span(
            (4..size - 4)
                .map(|x| out.get_pixel(x, middle).0[0])
                .collect(),
        ) / inner;
        let h = span(
            (4..size - 4)
                .map(|y| out.get_pixel(middle, y).0[1])
                .collect(),
        ) / inner;
        let fraction = w * h / (width * height) as f64;
        assert!(
            (0.23..=0.52).contains(&fraction),
            "seed {seed}: {w}×{h} = {fraction}"
        );
        assert!(
            (0.7..=1.4).contains(&(w / h)),
            "seed {seed}: ratio {}",
            w / h
        );
        fractions.push(fraction);
    }
    let (min, max) = fractions
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &f| (lo.min(f), hi.max(f)));
    println!("area fractions read back from the pixels: {min:.3}..{max:.3}");
    assert!(min < 0.3 && max > 0.45, "{min}..{max}");
}

#[test]
fn probability_zero_is_identity_and_one_always_applies() {
    let image = photo();
    type Op = fn(f32) -> Augmentation;
    type Function = fn(&RgbImage) -> RgbImage;
    let ops: [(Op, Function); 3] = [
        (|p| Augmentation::HorizontalFlip { p }, f::hflip),
        (|p| Augmentation::RandomAutocontrast { p }, f::autocontrast),
        (|p| Augmentation::RandomEqualize { p }, f::equalize),
    ];
    for (op, function) in ops {
        let expected = function(&image);
        assert_ne!(expected, image);
        for seed in 0..50 {
            assert_eq!(chain(vec![op(0.0)]).apply(image.clone(), seed), image);
            assert_eq!(chain(vec![op(1.0)]).apply(image.clone(), seed), expected);
        }
        let applied = (0..400)
            .filter(|&seed| chain(vec![op(0.5)]).apply(image.clone(), seed) == expected)
            .count();
        assert!(
            (150..=250).contains(&applied),
            "{applied} of 400 at p = 0.5"
        );
    }
    let perspective = |p| {
        chain(vec![Augmentation::RandomPerspective {
            distortion_scale: 0.5,
            p,
            fill: Fill::Gray(0),
        }])
    };
    for seed in 0..50 {
        assert_eq!(perspective(0.0).apply(image.clone(), seed), image);
        assert_ne!(perspective(1.0).apply(image.clone(), seed), image);
    }
}

#[test]
fn color_jitter_with_fixed_factors_is_the_functional_op() {
    let image = photo();
    let fixed = |brightness, contrast, saturation, hue| {
        chain(vec![Augmentation::ColorJitter {
            brightness,
            contrast,
            saturation,
            hue,
        }])
    };
    let none = Range::Value(0.0);
    assert_eq!(fixed(none, none, none, none).apply(image.clone(), 3), image);
    let cases: [(AugmentChain, RgbImage); 4] = [
        (
            fixed(Range::Bounds([1.3, 1.3]), none, none, none),
            f::adjust_brightness(&image, 1.3_f32 as f64),
        ),
        (
            fixed(none, Range::Bounds([0.6, 0.6]), none, none),
            f::adjust_contrast(&image, 0.6_f32 as f64),
        ),
        (
            fixed(none, none, Range::Bounds([1.5, 1.5]), none),
            f::adjust_saturation(&image, 1.5),
        ),
        (
            fixed(none, none, none, Range::Bounds([-0.25, -0.25])),
            f::adjust_hue(&image, -0.25),
        ),
    ];
    for (jitter, expected) in cases {
        assert_eq!(jitter.apply(image.clone(), 11), expected);
    }
}

#[test]
fn same_seed_same_output_different_seeds_differ() {
    let image = photo();
    let full = chain(every_op());
    let outputs: Vec<RgbImage> = (0..12)
        .map(|seed| full.apply(image.clone(), seed))
        .collect();
    for (seed, output) in outputs.iter().enumerate() {
        assert_eq!(
            &full.apply(image.clone(), seed as u64),
            output,
            "seed {seed}"
        );
    }
    for i in 0..outputs.len() {
        for j in i + 1..outputs.len() {
            assert_ne!(outputs[i], outputs[j], "seeds {i} and {j}");
        }
    }
    // Each random op on its own also depends on the seed.
    for op in every_op() {
        let name = op.name();
        let single = chain(vec![op]);
        let distinct: std::collections::HashSet<Vec<u8>> = (0..16)
            .map(|seed| single.apply(image.clone(), seed).into_raw())
            .collect();
        assert!(distinct.len() > 1, "{name} ignores the seed");
    }
}

#[test]
fn augmix_changes_the_image_and_keeps_its_size() {
    let image = photo();
    for (all_ops, chain_depth) in [(true, -1), (false, 2), (true, 1)] {
        let augmix = chain(vec![Augmentation::AugMix {
            severity: 3,
            mixture_width: 3,
            chain_depth,
            alpha: 1.0,
            all_ops,
        }]);
        for seed in 0..20 {
            let out = augmix.apply(image.clone(), seed);
            assert_eq!(out.dimensions(), image.dimensions());
            let changed = out
                .as_raw()
                .iter()
                .zip(image.as_raw())
                .filter(|(a, b)| a != b)
                .count();
            assert!(changed > 0, "seed {seed}: AugMix returned its input");
        }
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Recipe {
    augment: AugmentChain,
}

const TOML_CHAIN: &str = r#"
[[augment]]
op = "random_resized_crop"
size = 224
scale = [0.5, 1.0]

[[augment]]
op = "horizontal_flip"

[[augment]]
op = "color_jitter"
brightness = 0.4
contrast = [0.6, 1.4]
hue = 0.1

[[augment]]
op = "random_affine"
degrees = 10
translate = [0.1, 0.1]
shear = [-5, 5, -2, 2]
fill = [124, 116, 104]

[[augment]]
op = "random_perspective"
fill = 0

[[augment]]
op = "augmix"
severity = 2

[[augment]]
op = "random_crop"
size = 200
padding = 8
padding_mode = "edge"

[[augment]]
op = "random_autocontrast"
p = 1

[[augment]]
op = "random_equalize"

[[augment]]
op = "resize"
size = 224
"#;

#[test]
fn a_toml_chain_round_trips_with_defaults_filled_in() {
    let recipe: Recipe = toml::from_str(TOML_CHAIN).expect("parses");
    let ops = recipe.augment.ops();
    assert_eq!(ops.len(), 10);
    assert_eq!(
        ops[0],
        Augmentation::RandomResizedCrop {
            size: 224,
            scale: [0.5, 1.0],
            ratio: [0.75, 4.0 / 3.0],
        }
    );
    assert_eq!(ops[1], Augmentation::HorizontalFlip { p: 0.5 });
    assert_eq!(
        ops[2],
        Augmentation::ColorJitter {
            brightness: Range::Value(0.4),
            contrast: Range::Bounds([0.6, 1.4]),
            saturation: Range::Value(0.0),
            hue: Range::Value(0.1),
        }
    );
    assert_eq!(
        ops[3],
        Augmentation::RandomAffine {
            degrees: Range::Value(10.0),
            translate: Some([0.1, 0.1]),
            scale: None,
            shear: Some(Shear::XY([-5.0, 5.0, -2.0, 2.0])),
            fill: Fill::Rgb([124, 116, 104]),
        }
    );
    assert_eq!(
        ops[4],
        Augmentation::RandomPerspective {
            distortion_scale: 0.5,
            p: 0.5,
            fill: Fill::Gray(0),
        }
    );
    assert_eq!(
        ops[5],
        Augmentation::AugMix {
            severity: 2,
            mixture_width: 3,
            chain_depth: -1,
            alpha: 1.0,
            all_ops: true,
        }
    );
    assert_eq!(
        ops[6],
        Augmentation::RandomCrop {
            size: 200,
            padding: 8,
            padding_mode: PaddingMode::Edge,
        }
    );
    assert_eq!(ops[7], Augmentation::RandomAutocontrast { p: 1.0 });
    assert_eq!(ops[8], Augmentation::RandomEqualize { p: 0.5 });
    assert_eq!(ops[9], Augmentation::Resize { size: 224 });

    let written = toml::to_string(&recipe).expect("serializes");
    println!("{written}");
    let again: Recipe = toml::from_str(&written).expect("parses what it wrote");
    assert_eq!(again, recipe, "{written}");
    // `aug_mix` (serde's snake case of the variant) is accepted too.
    let alias: Recipe = toml::from_str("[[augment]]\nop = \"aug_mix\"\n").expect("alias");
    assert_eq!(alias.augment.ops()[0].name(), "augmix");
}

#[test]
fn an_unknown_field_fails_naming_it() {
    let text = "[[augment]]\nop = \"horizontal_flip\"\np = 0.5\nprobability = 0.2\n";
    let message = toml::from_str::<Recipe>(text)
        .expect_err("unknown field")
        .to_string();
    println!("{message}");
    assert!(message.contains("probability"), "{message}");
    let message = toml::from_str::<Recipe>("[[augment]]\nop = \"random_rotate\"\n")
        .expect_err("unknown op")
        .to_string();
    assert!(message.contains("random_rotate"), "{message}");
}

#[test]
fn degenerate_parameters_fail_when_the_chain_is_built() {
    let expect_invalid = |op: Augmentation, name: &str, field: &str| match AugmentChain::new(vec![
        Augmentation::HorizontalFlip { p: 0.5 },
        op,
    ]) {
        Err(AugmentError {
            op: got_op,
            field: got_field,
            ..
        }) => {
            assert_eq!((got_op, got_field), (name, field));
        }
        other => panic!("{name}.{field}: expected AugmentError, got {other:?}"),
    };
    expect_invalid(
        Augmentation::HorizontalFlip { p: 1.5 },
        "horizontal_flip",
        "p",
    );
    expect_invalid(
        Augmentation::RandomEqualize { p: -0.1 },
        "random_equalize",
        "p",
    );
    expect_invalid(
        Augmentation::RandomAutocontrast { p: f32::NAN },
        "random_autocontrast",
        "p",
    );
    expect_invalid(Augmentation::Resize { size: 0 }, "resize", "size");
    expect_invalid(
        Augmentation::RandomResizedCrop {
            size: 0,
            scale: [0.08, 1.0],
            ratio: [0.75, 1.33],
        },
        "random_resized_crop",
        "size",
    );
    expect_invalid(
        Augmentation::RandomResizedCrop {
            size: 224,
            scale: [0.9, 0.5],
            ratio: [0.75, 1.33],
        },
        "random_resized_crop",
        "scale",
    );
    expect_invalid(
        Augmentation::RandomResizedCrop {
            size: 224,
            scale: [0.5, 1.0],
            ratio: [0.0, 1.33],
        },
        "random_resized_crop",
        "ratio",
    );
    expect_invalid(
        Augmentation::RandomCrop {
            size: 0,
            padding: 0,
            padding_mode: PaddingMode::Constant,
        },
        "random_crop",
        "size",
    );
    expect_invalid(
        Augmentation::AugMix {
            severity: 11,
            mixture_width: 3,
            chain_depth: -1,
            alpha: 1.0,
            all_ops: true,
        },
        "augmix",
        "severity",
    );
    expect_invalid(
        Augmentation::AugMix {
            severity: 3,
            mixture_width: 3,
            chain_depth: -1,
            alpha: 0.0,
            all_ops: true,
        },
        "augmix",
        "alpha",
    );
    expect_invalid(
        Augmentation::ColorJitter {
            brightness: Range::Value(0.2),
            contrast: Range::Value(0.0),
            saturation: Range::Value(0.0),
            hue: Range::Value(0.7),
        },
        "color_jitter",
        "hue",
    );
    expect_invalid(
        Augmentation::ColorJitter {
            brightness: Range::Value(-0.2),
            contrast: Range::Value(0.0),
            saturation: Range::Value(0.0),
            hue: Range::Value(0.0),
        },
        "color_jitter",
        "brightness",
    );
    expect_invalid(
        Augmentation::RandomAffine {
            degrees: Range::Value(10.0),
            translate: Some([0.1, 1.5]),
            scale: None,
            shear: None,
            fill: Fill::Gray(0),
        },
        "random_affine",
        "translate",
    );
    expect_invalid(
        Augmentation::RandomAffine {
            degrees: Range::Value(10.0),
            translate: None,
            scale: Some([1.2, 0.8]),
            shear: None,
            fill: Fill::Gray(0),
        },
        "random_affine",
        "scale",
    );
    expect_invalid(
        Augmentation::RandomPerspective {
            distortion_scale: 1.5,
            p: 0.5,
            fill: Fill::Gray(0),
        },
        "random_perspective",
        "distortion_scale",
    );
    // Deserializing validates too, and the message names the op and the field.
    let message = toml::from_str::<Recipe>("[[augment]]\nop = \"horizontal_flip\"\np = 2\n")
        .expect_err("p = 2")
        .to_string();
    assert!(
        message.contains("horizontal_flip") && message.contains("`p`"),
        "{message}"
    );
}

/// A deterministic picture with detail at every scale.
fn resample_source(width: usize, height: usize, channels: usize) -> Vec<u8> {
    (0..width * height * channels)
        .map(|i| ((i * 37 + (i / 7) * 11 + (i * i) % 251) % 256) as u8)
        .collect()
}

/// Every window of a resize is the same window of the whole resize, pixel for pixel: both pass orders
/// (a height that shrinks much more than the width runs the vertical pass first), sides kept as they are,
/// enlarged or shrunk, both filters, three and four channels.
#[test]
fn a_window_of_a_resize_is_that_window_of_the_whole_resize() {
    let cases = [
        ((40, 30), (90, 60)),   // enlarge both
        ((90, 70), (30, 20)),   // shrink both, horizontal first
        ((50, 200), (45, 40)),  // height shrinks far more: vertical first
        ((64, 17), (64, 40)),   // width kept
        ((23, 48), (70, 48)),   // height kept
        ((300, 2), (4800, 32)), // very wide
    ];
    for ((in_w, in_h), (out_w, out_h)) in cases {
        for channels in [3, 4] {
            for filter in [resample::Filter::Bicubic, resample::Filter::Bilinear] {
                let source = resample_source(in_w, in_h, channels);
                let size = (in_w as u32, in_h as u32);
                let whole = resample::resize_interleaved(
                    &source,
                    channels,
                    size,
                    filter,
                    (out_w as u32, out_h as u32),
                );
                for (columns, rows) in [
                    (0..out_w, 0..out_h),
                    (out_w / 3..out_w / 3 + out_w / 2, out_h / 4..out_h - 1),
                    (out_w - 1..out_w, 0..1),
                ] {
                    let window = resample::resize_window(
                        &source,
                        channels,
                        size,
                        filter,
                        (out_w, out_h),
                        (columns.clone(), rows.clone()),
                    );
                    let expected: Vec<u8> = rows
                        .clone()
                        .flat_map(|y| {
                            let start = (y * out_w + columns.start) * channels;
                            whole[start..start + columns.len() * channels].to_vec()
                        })
                        .collect();
                    assert_eq!(
                        window, expected,
                        "{in_w}×{in_h} → {out_w}×{out_h}, {channels} channels, {filter:?}, \
                         columns {columns:?}, rows {rows:?}"
                    );
                }
            }
        }
    }
}
