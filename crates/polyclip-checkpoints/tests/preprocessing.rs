//! CLIP image preprocessing (bicubic resize of the shorter side to 224, center crop) within one uint8 level
//! of transformers' CLIPImageProcessor on real photos (RGB, RGBA, grayscale; PNG and JPEG).

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use polyclip_checkpoints::tensors::TensorMap;
use polyclip_data::ClipPreprocess;
use polyclip_data::preprocess::decode_image;

use common::{copy_folder, fixture};

/// Asserts that `ours` holds the uint8 levels of `theirs` (`[3, S, S]`, channel-major; TensorMap reads every tensor
/// as f32, these hold exact levels) within one, and prints how many differ.
fn assert_levels_within_one(key: &str, ours: &image::RgbImage, theirs: &burn::tensor::TensorData) {
    let theirs: Vec<u8> = theirs
        .to_vec::<f32>()
        .expect("levels")
        .into_iter()
        .map(|level| level as u8)
        .collect();
    let plane = (ours.width() * ours.height()) as usize;
    assert_eq!(theirs.len(), 3 * plane, "{key}");
    let (mut worst, mut differ) = (0_i32, 0_usize);
    for (index, pixel) in ours.pixels().enumerate() {
        for channel in 0..3 {
            let diff =
                (i32::from(pixel.0[channel]) - i32::from(theirs[channel * plane + index])).abs();
            worst = worst.max(diff);
            differ += usize::from(diff > 0);
        }
    }
    eprintln!(
        "{key}: max |Δ| {worst} levels, {differ} of {} values differ",
        3 * plane
    );
    assert!(
        worst <= 1,
        "{key}: {worst} levels apart ({differ} values differ)"
    );
}

#[test]
fn resize_and_crop_is_within_one_level_of_clip_image_processor() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/photos");
    let reference =
        TensorMap::read(&root.join("clip_image_processor.safetensors")).expect("reference");
    let preprocess = ClipPreprocess::new(224);
    let mut photos = 0;
    for name in [
        "chelsea.png",
        "rocket.jpg",
        "camera.png",
        "horse.png",
        "page.png",
    ] {
        let image = decode_image(&root.join(name)).expect("decode");
        let ours = preprocess.resize_and_crop(&image);
        let stem = name.split('.').next().unwrap_or_default();
        let theirs = reference.tensors[stem].to_vec::<f32>().expect("levels");
        assert_eq!(theirs.len(), 3 * 224 * 224, "{name}");
        let plane = 224 * 224;
        let mut worst = 0.0_f32;
        let mut off_by_one = 0usize;
        for (index, pixel) in ours.pixels().enumerate() {
            for channel in 0..3 {
                let diff = (pixel.0[channel] as f32 - theirs[channel * plane + index]).abs();
                worst = worst.max(diff);
                off_by_one += usize::from(diff >= 1.0);
            }
        }
        eprintln!(
            "{name}: max |Δ| {worst} uint8 levels, {off_by_one} of {} values off by one",
            3 * plane
        );
        assert!(worst <= 1.0, "{name}: {worst} levels apart");
        photos += 1;
    }
    assert_eq!(photos, 5);
}

/// Odd-sized photos (every residue of the crop margin mod 4, portrait and landscape, RGB, grayscale, RGBA, JPEG)
/// through each family's own pipeline, against the Python references of tests/fixtures/make_preprocess_fixtures.py:
/// `hf_pil/` transformers' Pillow `CLIPImageProcessor` (crop offset floored, alpha composited onto white) and
/// `openclip/<mode>_<interpolation>/` open_clip's torchvision transforms (crop offset rounded half to even,
/// premultiplied resize of RGBA; shortest, squash and longest with padding; bicubic and bilinear). Uint8 levels
/// before normalisation agree exactly (measured: 0 of every value differs).
#[test]
fn every_family_preprocesses_odd_sized_photos_as_its_python_pipeline() {
    use polyclip_data::preprocess::Filter;
    use polyclip_data::preprocess::{PreprocessFamily, ResizeMode};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/preprocess");
    let reference = TensorMap::read(&root.join("reference.safetensors")).expect("reference");
    let photos: Vec<std::path::PathBuf> = std::fs::read_dir(root.join("photos"))
        .expect("photos")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    let mut checked = 0;
    let mut keys: Vec<&String> = reference.tensors.keys().collect();
    keys.sort();
    for key in keys {
        let parts: Vec<&str> = key.split('/').collect();
        let (pipeline, stem) = match parts.as_slice() {
            ["hf_pil", stem] => ("hf_pil", *stem),
            ["openclip", pipeline, stem] => (*pipeline, *stem),
            _ => continue,
        };
        let tensor = &reference.tensors[key];
        let size = tensor.shape[1] as u32;
        let mut preprocess = if pipeline == "hf_pil" {
            ClipPreprocess::new(size)
        } else {
            let mut preprocess = ClipPreprocess::open_clip(size);
            assert_eq!(preprocess.family, PreprocessFamily::OpenClip);
            let mut words = pipeline.split('_');
            preprocess.resize_mode = match words.next() {
                Some("shortest") => ResizeMode::Shortest,
                Some("squash") => ResizeMode::Squash,
                Some("longest") => ResizeMode::Longest,
                other => panic!("{key}: resize mode {other:?}"),
            };
            preprocess.interpolation = match words.next() {
                Some("bicubic") => Filter::Bicubic,
                Some("bilinear") => Filter::Bilinear,
                other => panic!("{key}: interpolation {other:?}"),
            };
            if words.next() == Some("fill128") {
                preprocess.fill = 128;
            }
            preprocess
        };
        preprocess.size = size;
        let photo = photos
            .iter()
            .find(|p| p.file_stem().and_then(|s| s.to_str()) == Some(stem))
            .unwrap_or_else(|| panic!("{stem}: no photo"));
        let decoded = photo_as_pillow_decodes_it(&reference, photo);
        let ours = preprocess.resize_and_crop(&decoded);
        assert_levels_within_one(key, &ours, tensor);
        checked += 1;
    }
    assert_eq!(checked, 29);
}

/// transformers' `CLIPImageProcessor` when `size` is not the crop (tests/fixtures/make_resize_crop_fixtures.py):
/// the shorter side resized to 256 then cropped to 224, resized to 200 and to 199 then padded to 224 (an odd
/// shortfall puts the extra row or column before the picture), 72 then 64, and the whole picture resized to
/// 240×240 then cropped to 224. The uint8 levels agree within one (measured: exactly).
#[test]
fn a_resize_to_another_side_than_the_crop_is_clip_image_processors() {
    use polyclip_data::preprocess::ResizeMode;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/preprocess");
    let reference = TensorMap::read(&root.join("resize_crop.safetensors")).expect("reference");
    let mut keys: Vec<&String> = reference.tensors.keys().collect();
    keys.sort();
    for key in &keys {
        let (pipeline, stem) = key.split_once('/').expect("pipeline/stem");
        let (resize, crop) = pipeline
            .strip_prefix("hf_pil_")
            .and_then(|rest| rest.split_once("_c"))
            .expect("hf_pil_<resize>_c<crop>");
        let (mode, resize) = match resize.strip_prefix("shortest") {
            Some(side) => (ResizeMode::Shortest, side),
            None => (
                ResizeMode::Squash,
                resize.strip_prefix("square").expect("square"),
            ),
        };
        let (resize, crop): (u32, u32) = (resize.parse().expect("R"), crop.parse().expect("C"));
        let preprocess = ClipPreprocess {
            resize_mode: mode,
            resize: Some(resize),
            ..ClipPreprocess::new(crop)
        };
        let photo = decode_image(&root.join("photos").join(format!("{stem}.png"))).expect("photo");
        assert_levels_within_one(
            key,
            &preprocess.resize_and_crop(&photo),
            &reference.tensors[*key],
        );
    }
    assert_eq!(keys.len(), 12);
}

/// WebP (lossy and lossless, with and without alpha) and GIF (one frame; an animation's first frame), the other
/// formats crawled datasets hold, decode to the levels Pillow gives (tests/fixtures/make_format_fixtures.py):
/// the same size and colours (a GIF without transparency is read with an opaque alpha channel), every level
/// within one of Pillow's (measured: exactly, lossy WebP's too).
#[test]
fn webp_and_gif_decode_to_pillows_levels() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/formats");
    let reference = TensorMap::read(&root.join("reference.safetensors")).expect("reference");
    let mut names: Vec<&String> = reference.tensors.keys().collect();
    names.sort();
    for name in &names {
        let theirs = &reference.tensors[*name];
        let (height, width, channels) = (theirs.shape[0], theirs.shape[1], theirs.shape[2]);
        let decoded = decode_image(&root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ours: Vec<u8> = match channels {
            4 => decoded.to_rgba8().into_raw(),
            _ => decoded.to_rgb8().into_raw(),
        };
        assert_eq!(
            (decoded.width() as usize, decoded.height() as usize),
            (width, height),
            "{name}"
        );
        // The image crate reads every GIF frame as RGBA; where Pillow has no alpha, every pixel is opaque.
        if channels == 3 && decoded.color().has_alpha() {
            assert!(
                decoded.to_rgba8().pixels().all(|p| p.0[3] == 255),
                "{name}: transparent pixels where Pillow has none"
            );
        }
        let theirs = theirs.to_vec::<f32>().expect("levels");
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(&a, &b)| (f32::from(a) - b).abs())
            .fold(0.0_f32, f32::max);
        let differ = ours
            .iter()
            .zip(&theirs)
            .filter(|(a, b)| f32::from(**a) != **b)
            .count();
        eprintln!(
            "{name}: max |Δ| {worst} levels, {differ} of {} values differ",
            theirs.len()
        );
        assert!(
            worst <= 1.0,
            "{name}: {worst} levels apart ({differ} values differ)"
        );
    }
    assert_eq!(names.len(), 6);
}

/// A fixture photo decoded; a JPEG as Pillow (libjpeg-turbo) decoded it when the fixture holds that (JPEG
/// decoders differ by a few levels: chroma upsampling, IDCT rounding), with the image crate's difference reported.
fn photo_as_pillow_decodes_it(reference: &TensorMap, photo: &Path) -> image::DynamicImage {
    let decoded = decode_image(photo).expect("decode");
    let stem = photo
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let Some(pillow) = reference.tensors.get(&format!("decoded/{stem}")) else {
        return decoded;
    };
    let (height, width) = (pillow.shape[0] as u32, pillow.shape[1] as u32);
    let levels: Vec<u8> = pillow
        .to_vec::<f32>()
        .expect("levels")
        .into_iter()
        .map(|level| level as u8)
        .collect();
    let pillow = image::RgbImage::from_raw(width, height, levels).expect("image");
    let worst = decoded
        .to_rgb8()
        .as_raw()
        .iter()
        .zip(pillow.as_raw())
        .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
        .max()
        .unwrap_or(0);
    eprintln!("{stem}: the image crate's JPEG decoding is within {worst} levels of Pillow's");
    image::DynamicImage::ImageRgb8(pillow)
}

/// End to end: each family's model folder, through the transform its own config describes, gives the image
/// features its Python library computes on the odd-sized photos (open_clip: `preprocess_cfg`, crop offset rounded
/// half to even; HF CLIPModel: `CLIPImageProcessor`, floored), within the parity tolerance.
#[test]
fn model_folders_embed_odd_sized_photos_as_their_libraries_do() {
    use burn::backend::ndarray::{NdArray, NdArrayDevice};
    use burn::tensor::{Tensor, TensorData};
    use polyclip_checkpoints::{LoadedModel, load};
    use polyclip_data::preprocess::PreprocessFamily;
    type B = NdArray<f32>;
    let device = NdArrayDevice::Cpu;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let root = fixtures.join("preprocess");
    let reference = TensorMap::read(&root.join("reference.safetensors")).expect("reference");
    let features = TensorMap::read(&root.join("features.safetensors")).expect("features");
    let mut checked = 0;
    for (fixture, key, family) in [
        ("openclip_vit", "openclip_vit", PreprocessFamily::OpenClip),
        ("hf_clip", "hf_clip_pil", PreprocessFamily::HuggingFace),
    ] {
        let loaded =
            load::<B>(&fixtures.join("models").join(fixture), false, &device).expect("load");
        let preprocess = loaded.spec.preprocess.expect("an image tower");
        assert_eq!(preprocess.family, family, "{fixture}");
        let LoadedModel::Dual(model) = loaded.model else {
            panic!("{fixture}: two towers expected")
        };
        let mut worst = 0.0_f32;
        for entry in std::fs::read_dir(root.join("photos")).expect("photos") {
            let photo = entry.expect("entry").path();
            let stem = photo
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            let mut pixels = vec![0.0; preprocess.image_len()];
            preprocess.apply(&photo_as_pillow_decodes_it(&reference, &photo), &mut pixels);
            let size = preprocess.size as usize;
            let input =
                Tensor::<B, 4>::from_data(TensorData::new(pixels, [1, 3, size, size]), &device);
            let ours: Vec<f32> = model
                .image_features(input)
                .into_data()
                .to_vec()
                .expect("f32");
            let theirs = features.tensors[&format!("features/{key}/{stem}")]
                .to_vec::<f32>()
                .expect("f32");
            let error = ours
                .iter()
                .zip(&theirs)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            worst = worst.max(error);
            assert!(
                error <= 1e-4,
                "{fixture} {stem}: image features differ by {error}"
            );
            checked += 1;
        }
        eprintln!("{fixture}: max |Δ| image features {worst:.2e}");
    }
    assert_eq!(checked, 18);
}

/// open_clip's `preprocess_cfg` is read key by key (open_clip's names), and a value polyclip cannot reproduce is
/// refused in one line naming the file and key.
#[test]
fn an_open_clip_preprocess_cfg_is_read_and_unknown_values_are_refused() {
    use polyclip_checkpoints::families::detect;
    use polyclip_data::preprocess::Filter;
    use polyclip_data::preprocess::{PreprocessFamily, ResizeMode};
    let dir = tempfile::tempdir().expect("tempdir");
    copy_folder(&fixture("openclip_vit"), dir.path());
    let config_path = dir.path().join("open_clip_config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).expect("read")).expect("json");
    config["preprocess_cfg"] = serde_json::json!({
        "size": 32, "mean": [0.5, 0.5, 0.5], "std": 0.25, "interpolation": "bilinear",
        "resize_mode": "longest", "fill_color": 128
    });
    std::fs::write(&config_path, config.to_string()).expect("write");
    let preprocess = detect(dir.path())
        .expect("detect")
        .preprocess
        .expect("image tower");
    assert_eq!(preprocess.family, PreprocessFamily::OpenClip);
    assert_eq!(
        (
            preprocess.size,
            preprocess.mean,
            preprocess.std,
            preprocess.interpolation,
            preprocess.resize_mode,
            preprocess.fill
        ),
        (
            32,
            [0.5; 3],
            [0.25; 3],
            Filter::Bilinear,
            ResizeMode::Longest,
            128
        )
    );
    config["preprocess_cfg"] = serde_json::json!({"interpolation": "lanczos"});
    std::fs::write(&config_path, config.to_string()).expect("write");
    let error = detect(dir.path()).expect_err("lanczos");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: `preprocess_cfg.interpolation` = \"lanczos\": supported: bicubic, bilinear",
            config_path.display()
        )
    );
    // A picture of another side than the tower's would not fit its position embeddings (it panicked there).
    config["preprocess_cfg"] = serde_json::json!({"size": 48});
    std::fs::write(&config_path, config.to_string()).expect("write");
    let error = detect(dir.path()).expect_err("another size");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: `preprocess_cfg.size` = 48: the vision tower takes 32×32 pictures (its config's image_size); a 48×48 \
             picture does not fit its position embeddings",
            config_path.display()
        )
    );
}

/// HF's `crop_size` is the picture the tower sees: another side than the tower's `image_size` is refused in one
/// line (it panicked in the tower's position embeddings).
#[test]
fn a_crop_size_the_vision_tower_does_not_take_is_refused() {
    use polyclip_checkpoints::families::detect;
    let dir = tempfile::tempdir().expect("tempdir");
    copy_folder(&fixture("hf_clip"), dir.path());
    let path = dir.path().join("preprocessor_config.json");
    let write = |crop: u32| {
        let config = serde_json::json!({
            "crop_size": {"height": crop, "width": crop}, "size": {"shortest_edge": crop},
            "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 3
        });
        std::fs::write(&path, config.to_string()).expect("write");
    };
    write(32);
    let preprocess = detect(dir.path())
        .expect("detect")
        .preprocess
        .expect("image tower");
    assert_eq!((preprocess.size, preprocess.mean), (32, [0.5; 3]));
    // `size` read as transformers reads it: the shorter side, or a square the whole picture is resized to; with no
    // crop, that square is the picture.
    let read = |size: serde_json::Value, crop: Option<u32>| {
        let mut config = serde_json::json!({"size": size});
        match crop {
            Some(crop) => config["crop_size"] = serde_json::json!(crop),
            None => config["do_center_crop"] = serde_json::json!(false),
        }
        std::fs::write(&path, config.to_string()).expect("write");
        detect(dir.path()).map(|spec| {
            let p = spec.preprocess.expect("image tower");
            (p.size, p.resize_mode, p.resize)
        })
    };
    use polyclip_data::preprocess::ResizeMode::{Shortest, Squash};
    let cases = [
        (
            serde_json::json!({"shortest_edge": 40}),
            Some(32),
            (32, Shortest, Some(40)),
        ),
        (serde_json::json!(36), Some(32), (32, Shortest, Some(36))),
        (
            serde_json::json!({"height": 36, "width": 36}),
            Some(32),
            (32, Squash, Some(36)),
        ),
        (
            serde_json::json!({"height": 32, "width": 32}),
            Some(32),
            (32, Squash, None),
        ),
        (
            serde_json::json!({"height": 32, "width": 32}),
            None,
            (32, Squash, None),
        ),
    ];
    for (size, crop, expected) in cases {
        assert_eq!(read(size.clone(), crop).expect("reads"), expected, "{size}");
    }
    assert_eq!(
        read(serde_json::json!({"shortest_edge": 32}), None)
            .expect_err("no crop")
            .to_string(),
        format!(
            "{}: `do_center_crop` = false: after a shorter-side resize the pictures keep their shapes and cannot be \
             batched; give `size` as {{\"height\": S, \"width\": S}} or crop",
            path.display()
        )
    );
    write(40);
    assert_eq!(
        detect(dir.path()).expect_err("another crop").to_string(),
        format!(
            "{}: `crop_size` = {{\"height\":40,\"width\":40}}: the vision tower takes 32×32 pictures (its config's \
             image_size); a 40×40 picture does not fit its position embeddings",
            path.display()
        )
    );
}
