//! Parity of the deterministic augmentation functions with torchvision 0.29 / Pillow 13 on fixed parameters:
//! tests/fixtures/make_augment_fixtures.py applied each of them to two small photos (48×40 and 40×48) and
//! saved inputs, outputs and tests/fixtures/augment/cases.json. Every output must be within one uint8 level
//! of the reference at every pixel.
//!
//! Measured worst case (max |Δ| over every pixel and channel of the 97 cases; `--nocapture` prints the
//! table): 0 for every op — all Pillow functions (equalize, autocontrast, posterize, solarize, adjust_hue
//! ±0.1/−0.25/0.5, adjust_saturation, adjust_contrast, adjust_brightness, adjust_sharpness, affine incl.
//! Pillow's scale-only path, rotate, perspective, hflip, crop, pad, resized_crop incl. Pillow 13's
//! vertical-first pass order, resize), all 13 AugMix tensor ops and AugMix's final mix are bit-exact. The
//! tensor geometry is exact only because it reproduces the fused multiply-adds of torch's x86-64 CPU kernels
//! (grid matmul, `grid_sample`); on a torch build without them expect rare ±1 differences at rounding ties,
//! which the ≤ 1 bound allows.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use image::RgbImage;
use polyclip_augment::augmix::{self, AugMixOp, PARAMETER_MAX};
use polyclip_augment::functional::{self as f, PaddingMode};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/augment")
}

fn load(name: &str) -> RgbImage {
    let path = fixtures().join(name);
    image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

fn number(args: &Value, key: &str) -> f64 {
    args[key]
        .as_f64()
        .unwrap_or_else(|| panic!("argument {key} in {args}"))
}

fn pair(args: &Value, key: &str) -> [f64; 2] {
    let values: Vec<f64> = args[key]
        .as_array()
        .unwrap_or_else(|| panic!("argument {key} in {args}"))
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    [values[0], values[1]]
}

fn rgb(args: &Value) -> [u8; 3] {
    let values: Vec<u8> = args["fill"]
        .as_array()
        .unwrap_or_else(|| panic!("fill in {args}"))
        .iter()
        .filter_map(Value::as_u64)
        .map(|v| v as u8)
        .collect();
    [values[0], values[1], values[2]]
}

fn corners(args: &Value, key: &str) -> [[i64; 2]; 4] {
    let points: Vec<[i64; 2]> = args[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} in {args}"))
        .iter()
        .map(|point| {
            let xy: Vec<i64> = point
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_i64)
                .collect();
            [xy[0], xy[1]]
        })
        .collect();
    [points[0], points[1], points[2], points[3]]
}

/// Our output for one case of cases.json.
fn run_case(case: &Value) -> RgbImage {
    let input = load(case["input"].as_str().unwrap_or_default());
    let op = case["op"].as_str().unwrap_or_default();
    let args = &case["args"];
    match case["kind"].as_str().unwrap_or_default() {
        "pil" => match op {
            "equalize" => f::equalize(&input),
            "autocontrast" => f::autocontrast(&input),
            "posterize" => f::posterize(&input, number(args, "bits") as u8),
            "solarize" => f::solarize(&input, number(args, "threshold")),
            "adjust_hue" => f::adjust_hue(&input, number(args, "factor")),
            "adjust_saturation" => f::adjust_saturation(&input, number(args, "factor")),
            "adjust_contrast" => f::adjust_contrast(&input, number(args, "factor")),
            "adjust_brightness" => f::adjust_brightness(&input, number(args, "factor")),
            "adjust_sharpness" => f::adjust_sharpness(&input, number(args, "factor")),
            "affine" => f::affine(
                &input,
                number(args, "angle"),
                pair(args, "translate"),
                number(args, "scale"),
                pair(args, "shear"),
                rgb(args),
            ),
            "rotate" => f::rotate(&input, number(args, "angle"), rgb(args)),
            "perspective" => f::perspective(
                &input,
                &corners(args, "startpoints"),
                &corners(args, "endpoints"),
                rgb(args),
            ),
            "hflip" => f::hflip(&input),
            "crop" => f::crop(
                &input,
                number(args, "top") as i64,
                number(args, "left") as i64,
                number(args, "height") as u32,
                number(args, "width") as u32,
            ),
            "pad" => {
                let mode = match args["mode"].as_str() {
                    Some("edge") => PaddingMode::Edge,
                    _ => PaddingMode::Constant,
                };
                f::pad(&input, number(args, "padding") as u32, mode, [0; 3])
            }
            "resized_crop" => {
                let size = number(args, "size") as u32;
                f::resized_crop(
                    &input,
                    number(args, "top") as i64,
                    number(args, "left") as i64,
                    number(args, "height") as u32,
                    number(args, "width") as u32,
                    (size, size),
                )
            }
            "resize" => f::resize_shorter(&input, number(args, "size") as u32),
            other => panic!("unknown PIL op {other}"),
        },
        "augmix_op" => {
            let augmix_op = AugMixOp::from_name(op).unwrap_or_else(|| panic!("AugMix op {op}"));
            augmix::apply_op(&input, augmix_op, number(args, "magnitude"))
        }
        "augmix_mix" => {
            let augmented: Vec<RgbImage> = args["augmented"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(load)
                .collect();
            let weights: Vec<f32> = args["weights"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_f64)
                .map(|w| w as f32)
                .collect();
            augmix::mix(
                &input,
                &augmented,
                number(args, "original_weight") as f32,
                &weights,
            )
        }
        other => panic!("unknown kind {other}"),
    }
}

/// (max |Δ|, number of values that differ).
fn difference(ours: &RgbImage, reference: &RgbImage) -> (u8, usize) {
    assert_eq!(ours.dimensions(), reference.dimensions(), "output size");
    ours.as_raw()
        .iter()
        .zip(reference.as_raw())
        .fold((0, 0), |(worst, count), (&a, &b)| {
            let d = a.abs_diff(b);
            (worst.max(d), count + usize::from(d > 0))
        })
}

fn document() -> Value {
    let path = fixtures().join("cases.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn functions_match_torchvision_within_one_level() {
    let document = document();
    let cases = document["cases"].as_array().expect("cases");
    assert!(cases.len() > 80, "expected the full fixture set");
    // Worst difference per (kind, op).
    let mut worst: BTreeMap<String, (u8, usize, String)> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap_or_default();
        let reference = load(case["output"].as_str().unwrap_or_default());
        let ours = run_case(case);
        let (max, count) = difference(&ours, &reference);
        let key = format!(
            "{}/{}",
            case["kind"].as_str().unwrap_or_default(),
            case["op"].as_str().unwrap_or_default()
        );
        let entry = worst.entry(key).or_insert((0, 0, String::new()));
        if max > entry.0 || entry.2.is_empty() {
            *entry = (max, count, name.to_owned());
        }
        if max > 1 {
            failures.push(format!("{name}: max |Δ| {max} ({count} values differ)"));
        }
    }
    for (op, (max, count, case)) in &worst {
        println!("{op:32} max |Δ| {max}  ({count} values differ in {case})");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn augmix_magnitude_bins_match_torch_linspace() {
    let document = document();
    let bins = document["augmix_bins"].as_object().expect("augmix_bins");
    for (size, table) in bins {
        let (width, height) = size.split_once('x').expect("WxH");
        let (width, height): (u32, u32) = (width.parse().expect("w"), height.parse().expect("h"));
        for op in AugMixOp::space(true) {
            let entry = &table[op.name()];
            let expected: Vec<f32> = entry[0]
                .as_array()
                .expect("magnitudes")
                .iter()
                .filter_map(Value::as_f64)
                .map(|v| v as f32)
                .collect();
            assert_eq!(
                op.magnitudes(PARAMETER_MAX, width, height),
                expected,
                "{} at {size}",
                op.name()
            );
            assert_eq!(
                op.signed(),
                entry[1].as_bool().expect("signed"),
                "{}",
                op.name()
            );
        }
    }
}
