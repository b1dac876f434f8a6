//! A short training run of the tiny captioner on the embedded data (captions of two languages mixed in every
//! batch) brings the loss down and lifts held-out BLEU-1 and CIDEr far above an untrained model's, in both
//! languages.

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use polyclip_models::BuildModel;
use std::sync::Arc;

use burn::module::AutodiffModule;
use polyclip_data::{
    BadInputPolicy, CaptionBatcher, CaptionChoice, ClipPreprocess, DataLoader, ImageBatcher,
    ImageTextDataset, LoaderConfig, Manifest, Order,
};
use polyclip_eval::captioning::{caption_metrics, generate_captions, paired_with_references};
use polyclip_models::captioner::Captioner;
use polyclip_models::generation::GenerationConfig;
use polyclip_models::presets;
use polyclip_shapes::shapes_mbart_tokenizer;
use polyclip_tests::{DEVICE, IMAGE_SIZE, MAX_TOKENS, Train, small_dataset};
use polyclip_train::{LrSchedule, OptimizerConfig, TrainConfig, Trainer};

#[test]
fn training_the_captioner_lifts_held_out_bleu_and_cider() {
    let data_dir = tempfile::tempdir().expect("data dir");
    let data = small_dataset(data_dir.path(), 800, 40);
    let languages = ["en".to_string(), "pt".to_string()];
    let tokenizer = shapes_mbart_tokenizer(MAX_TOKENS).expect("tokenizer");
    let config = presets::tiny_captioner(tokenizer.vocab_size(), MAX_TOKENS, IMAGE_SIZE);
    let preprocess = ClipPreprocess::new(IMAGE_SIZE as u32);
    let tsv = data.captions_tsv("train", &languages, 1).expect("tsv");
    let loader = DataLoader::new(
        Arc::new(ImageTextDataset::new(
            Manifest::load(&tsv, BadInputPolicy::Fail).expect("manifest"),
        )),
        Arc::new(CaptionBatcher::new(
            ImageBatcher::new(preprocess, BadInputPolicy::Fail),
            tokenizer.clone(),
            CaptionChoice::First,
            config.decoder.decoder_start() as u32,
        )),
        LoaderConfig {
            batch_size: 32,
            num_workers: 2,
            seed: 5,
            order: Order::Shuffled,
        },
        DEVICE,
    );
    let generation = GenerationConfig {
        max_length: 24,
        ..GenerationConfig::for_mbart(&config.decoder)
    };
    let evaluate = |model: &Captioner<Train>, language: &str| {
        let manifest = Manifest::load(&data.manifest("test", language), BadInputPolicy::Fail)
            .expect("manifest");
        let references: Vec<Vec<String>> = manifest
            .entries
            .iter()
            .map(|e| e.captions.clone())
            .collect();
        let captions = generate_captions(
            &model.valid(),
            &ImageTextDataset::new(manifest),
            Arc::new(ImageBatcher::new(preprocess, BadInputPolicy::Fail)),
            &tokenizer,
            &generation,
            language,
            20,
            0,
            &DEVICE,
        )
        .expect("captions");
        let (hypotheses, references) = paired_with_references(&captions, &references);
        (caption_metrics(&hypotheses, &references, 512), hypotheses)
    };

    let untrained = config.init::<Train>(3, &DEVICE).expect("model");
    let before: Vec<_> = languages
        .iter()
        .map(|l| evaluate(&untrained, l).0)
        .collect();
    let run = tempfile::tempdir().expect("run dir");
    let settings = TrainConfig {
        steps: 300,
        optimizer: OptimizerConfig::Adamw {
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.0,
        },
        schedule: LrSchedule::LinearWarmupDecay {
            lr_max: 2e-3,
            warmup_steps: 30,
        },
        freeze: Default::default(),
        checkpoint_every: 0,
        keep_checkpoints: 1,
        label_smoothing: 0.0,
        early_stopping: None,
        nan_policy: Default::default(),
        max_skipped_in_a_row: 3,
        micro_batch: None,
        precision: Default::default(),
        loss_scale: Default::default(),
    };
    let outcome = Trainer::new(settings, run.path())
        .fit(untrained, &loader, false, &DEVICE)
        .expect("training");
    let first = outcome.losses[..10].iter().sum::<f32>() / 10.0;
    let last = outcome.losses[outcome.losses.len() - 10..]
        .iter()
        .sum::<f32>()
        / 10.0;
    eprintln!("loss: first ten steps {first:.3}, last ten {last:.3}");
    assert!(last < 0.5 * first, "loss {first} → {last}");
    for (language, before) in languages.iter().zip(before) {
        let (after, captions) = evaluate(&outcome.model, language);
        eprintln!(
            "{language}: BLEU-1 {:.3} → {:.3}, CIDEr {:.3} → {:.3}; e.g. {:?}",
            before.corpus_bleu[0], after.corpus_bleu[0], before.cider, after.cider, captions[0]
        );
        assert!(
            before.corpus_bleu[0] < 0.05,
            "untrained BLEU-1 {}",
            before.corpus_bleu[0]
        );
        assert!(
            after.corpus_bleu[0] > 0.3,
            "trained BLEU-1 {}",
            after.corpus_bleu[0]
        );
        assert!(
            after.cider > 10.0 * before.cider.max(0.01),
            "CIDEr {} → {}",
            before.cider,
            after.cider
        );
    }
}

/// With `--skip-bad`, a picture that cannot be decoded is left out, and every later caption stays paired with
/// its own picture's references (through its dataset index), not with the next picture's.
#[test]
fn a_skipped_picture_does_not_shift_the_later_captions() {
    let data_dir = tempfile::tempdir().expect("data dir");
    let data = small_dataset(data_dir.path(), 8, 6);
    let tokenizer = shapes_mbart_tokenizer(MAX_TOKENS).expect("tokenizer");
    let config = presets::tiny_captioner(tokenizer.vocab_size(), MAX_TOKENS, IMAGE_SIZE);
    let preprocess = ClipPreprocess::new(IMAGE_SIZE as u32);
    let path = data.manifest("test", "en");
    let manifest = Manifest::load(&path, BadInputPolicy::Skip).expect("manifest");
    let pictures = manifest.entries.len();
    assert_eq!(pictures, 6);
    // Picture 1 cut in half: its header still reads (the manifest accepts it), its pixels do not decode.
    let victim = manifest.entries[1].image.file().expect("a file").to_owned();
    let bytes = std::fs::read(&victim).expect("read");
    std::fs::write(&victim, &bytes[..bytes.len() / 2]).expect("truncate");
    let manifest = Manifest::load(&path, BadInputPolicy::Skip).expect("manifest");
    assert_eq!(manifest.entries.len(), pictures, "the header still reads");
    let references: Vec<Vec<String>> = (0..pictures)
        .map(|i| vec![format!("picture {i}")])
        .collect();
    let model = config.init::<Train>(3, &DEVICE).expect("model");
    let images = Arc::new(ImageBatcher::new(preprocess, BadInputPolicy::Skip));
    let captions = generate_captions(
        &model.valid(),
        &ImageTextDataset::new(manifest),
        images.clone(),
        &tokenizer,
        &GenerationConfig {
            max_length: 6,
            ..GenerationConfig::for_mbart(&config.decoder)
        },
        "en",
        3,
        0,
        &DEVICE,
    )
    .expect("captions");
    let indices: Vec<usize> = captions.iter().map(|c| c.index).collect();
    assert_eq!(indices, [0, 2, 3, 4, 5]);
    assert_eq!(images.take_skipped().len(), 1);
    let (hypotheses, paired) = paired_with_references(&captions, &references);
    assert_eq!(hypotheses.len(), 5);
    let paired: Vec<&str> = paired.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        paired,
        [
            "picture 0",
            "picture 2",
            "picture 3",
            "picture 4",
            "picture 5"
        ]
    );
}
