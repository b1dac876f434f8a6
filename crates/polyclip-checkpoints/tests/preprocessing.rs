//! CLIP image preprocessing (bicubic resize of the shorter side to 224, center crop) within one uint8 level
//! of transformers' CLIPImageProcessor on real photos (RGB, RGBA, grayscale; PNG and JPEG).

use std::path::Path;

use polyclip_checkpoints::tensors::TensorMap;
use polyclip_data::ClipPreprocess;
use polyclip_data::preprocess::decode_image;

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
