//! Encoder-decoders against transformers (tests/fixtures/make_captioner_fixtures.py): teacher-forced logits
//! of mBART-50, of a VisionEncoderDecoder captioner and of the same captioner in CLIP-Vision-mBART50's Flax layout agree
//! within 1e-4; greedy and beam search give exactly `generate`'s tokens on models trained to make real choices;
//! decoding with the key/value cache gives the tokens and logits of decoding without it. On every backend compiled
//! in (`NAME::ndarray`, `NAME::flex`, …).

// Tests and their helpers panic with the reason when something they need fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use common::{Reference, fixture, max_abs_diff};
use polyclip_backend::every_backend_test;
use polyclip_checkpoints::families::Family;
use polyclip_checkpoints::{LoadedSeq2Seq, Seq2SeqModel, load_seq2seq};
use polyclip_models::generation::{EarlyStopping, GenerationConfig, Seq2SeqDecoder, generate};
use polyclip_models::mbart::Memory;
use serde::Deserialize;

const TOLERANCE: f32 = 1e-4;

fn load<B: Backend>(name: &str, family: Family, device: &B::Device) -> LoadedSeq2Seq<B> {
    let loaded =
        load_seq2seq::<B>(&fixture(name), false, device).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(loaded.spec.family, family);
    assert!(
        loaded.report.is_complete(),
        "{name}: {}",
        loaded.report.summary()
    );
    loaded
}

/// Teacher-forced logits and the memory the decoder attends to.
fn logits_and_memory<B: Backend>(
    loaded: &LoadedSeq2Seq<B>,
    reference: &Reference<B>,
) -> (Tensor<B, 3>, Memory<B>) {
    let decoder_input_ids = reference.int("decoder_input_ids");
    match &loaded.model {
        Seq2SeqModel::Translator(model) => {
            let memory = model.encode(reference.int("input_ids"), reference.mask());
            let logits = model.decode(decoder_input_ids, &memory, &mut model.new_cache());
            (logits, memory)
        }
        Seq2SeqModel::Captioner(model) => {
            let memory = model.encode(reference.float("pixel_values"));
            let logits = model.decode(decoder_input_ids, &memory, &mut model.new_cache());
            (logits, memory)
        }
    }
}

fn check_logits<B: Backend>(name: &str, family: Family, device: &B::Device) {
    let loaded = load::<B>(name, family, device);
    let reference = Reference::<B>::read_on(&fixture(name), device);
    let (logits, _) = logits_and_memory(&loaded, &reference);
    let error = max_abs_diff(logits, reference.float("logits"));
    eprintln!("{name}: max |Δ| logits {error:.2e}");
    assert!(error <= TOLERANCE, "{name}: logits differ by {error}");
}

fn mbart_logits_match_transformers<B: Backend>(device: &B::Device) {
    check_logits::<B>("mbart", Family::MBart, device);
}
every_backend_test!(mbart_logits_match_transformers);

fn vision_encoder_decoder_logits_match_transformers<B: Backend>(device: &B::Device) {
    check_logits::<B>("vision_mbart", Family::VisionEncoderDecoder, device);
}
every_backend_test!(vision_encoder_decoder_logits_match_transformers);

/// The same captioner saved as transformers 4.x saved it (CLIPVisionModel's `vision_model.` level kept under
/// `encoder.`): it loads whole and gives transformers' logits.
#[test]
fn a_captioner_saved_by_transformers_4_loads_to_the_same_logits() {
    type B = burn::backend::NdArray;
    let device = Default::default();
    let dir = tempfile::tempdir().unwrap();
    let from = fixture("vision_mbart");
    for file in ["config.json", "generation_config.json"] {
        std::fs::copy(from.join(file), dir.path().join(file)).unwrap();
    }
    let bytes = std::fs::read(from.join("model.safetensors")).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let renamed: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .tensors()
        .into_iter()
        .map(|(key, view)| match key.strip_prefix("encoder.") {
            Some(rest) => (format!("encoder.vision_model.{rest}"), view),
            None => (key, view),
        })
        .collect();
    let older = renamed
        .iter()
        .filter(|(key, _)| key.starts_with("encoder.vision_model.embeddings."))
        .count();
    assert_eq!(older, 3, "class, patch and position embeddings");
    std::fs::write(
        dir.path().join("model.safetensors"),
        safetensors::serialize(renamed, None).unwrap(),
    )
    .unwrap();

    let loaded = load_seq2seq::<B>(dir.path(), false, &device).unwrap();
    assert_eq!(loaded.spec.family, Family::VisionEncoderDecoder);
    assert!(loaded.report.is_complete(), "{}", loaded.report.summary());
    let reference = Reference::<B>::read_on(&from, &device);
    let (logits, _) = logits_and_memory(&loaded, &reference);
    let error = max_abs_diff(logits, reference.float("logits"));
    assert!(error <= TOLERANCE, "logits differ by {error}");
}

fn clip_vision_mbart50_flax_layout_logits_match<B: Backend>(device: &B::Device) {
    check_logits::<B>("clip_vision_mbart", Family::ClipVisionMbart, device);
}
every_backend_test!(clip_vision_mbart50_flax_layout_logits_match);

#[derive(Deserialize)]
struct GenerationCases {
    cases: Vec<GenerationCase>,
}

#[derive(Deserialize)]
struct GenerationCase {
    settings: Settings,
    forced_bos_token_id: usize,
    sequences: Vec<Vec<i64>>,
}

#[derive(Deserialize)]
struct Settings {
    num_beams: usize,
    max_length: usize,
    #[serde(default = "one")]
    length_penalty: f64,
    #[serde(default)]
    early_stopping: Option<EarlyStopping>,
    #[serde(default)]
    no_repeat_ngram_size: usize,
}

fn one() -> f64 {
    1.0
}

fn with_settings(
    base: &GenerationConfig,
    case: &GenerationCase,
    use_cache: bool,
) -> GenerationConfig {
    GenerationConfig {
        max_length: case.settings.max_length,
        num_beams: case.settings.num_beams,
        length_penalty: case.settings.length_penalty,
        early_stopping: case.settings.early_stopping.unwrap_or_default(),
        no_repeat_ngram_size: case.settings.no_repeat_ngram_size,
        forced_bos_token_id: Some(case.forced_bos_token_id),
        use_cache,
        ..base.clone()
    }
}

fn generation_cases(name: &str) -> GenerationCases {
    let path = fixture(name).join("generation.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("generation.json")).expect("cases")
}

fn check_generation<B: Backend>(name: &str, family: Family, device: &B::Device) {
    let loaded = load::<B>(name, family, device);
    let reference = Reference::<B>::read_on(&fixture(name), device);
    let (_, memory) = logits_and_memory(&loaded, &reference);
    // The generation fixtures use the same sources as the logits ones (three rows).
    let cases = generation_cases(name);
    assert!(cases.cases.iter().any(|c| c.settings.num_beams > 1));
    for case in &cases.cases {
        for use_cache in [true, false] {
            let config = with_settings(&loaded.spec.generation, case, use_cache);
            let generated = match &loaded.model {
                Seq2SeqModel::Translator(model) => generate(model, &memory, &config),
                Seq2SeqModel::Captioner(model) => generate(model, &memory, &config),
            };
            assert_eq!(
                generated.sequences,
                case.sequences,
                "{name}: beams {}, max_length {}, length_penalty {}, early_stopping {:?}, no_repeat {}, cache {use_cache}",
                config.num_beams,
                config.max_length,
                config.length_penalty,
                config.early_stopping,
                config.no_repeat_ngram_size
            );
        }
    }
}

fn mbart_generation_equals_transformers_generate<B: Backend>(device: &B::Device) {
    check_generation::<B>("mbart", Family::MBart, device);
}
every_backend_test!(mbart_generation_equals_transformers_generate);

fn captioner_generation_equals_transformers_generate<B: Backend>(device: &B::Device) {
    check_generation::<B>("vision_mbart", Family::VisionEncoderDecoder, device);
}
every_backend_test!(captioner_generation_equals_transformers_generate);

/// Feeds the decoder one position at a time through the cache, and all positions at once without it.
fn incremental_against_full<B: Backend, M: Seq2SeqDecoder<B>>(
    model: &M,
    memory: &Memory<B>,
    ids: &[i64],
) -> f32 {
    let rows = memory.states.dims()[0];
    let tokens: Vec<i64> = (0..rows).flat_map(|_| ids.iter().copied()).collect();
    let all = Tensor::<B, 2, Int>::from_data(
        TensorData::new(tokens, [rows, ids.len()]),
        &memory.states.device(),
    );
    let full = model.decode(all.clone(), memory, &mut model.new_cache());
    let mut cache = model.new_cache();
    let steps: Vec<Tensor<B, 3>> = (0..ids.len())
        .map(|t| model.decode(all.clone().slice([0..rows, t..t + 1]), memory, &mut cache))
        .collect();
    max_abs_diff(Tensor::cat(steps, 1), full)
}

fn cached_decoding_equals_uncached_decoding<B: Backend>(device: &B::Device) {
    for (name, family) in [
        ("mbart", Family::MBart),
        ("vision_mbart", Family::VisionEncoderDecoder),
    ] {
        let loaded = load::<B>(name, family, device);
        let reference = Reference::<B>::read_on(&fixture(name), device);
        let (_, memory) = logits_and_memory(&loaded, &reference);
        let ids = [2_i64, 40, 17, 9, 3, 100, 2];
        let error = match &loaded.model {
            Seq2SeqModel::Translator(model) => incremental_against_full(model, &memory, &ids),
            Seq2SeqModel::Captioner(model) => incremental_against_full(model, &memory, &ids),
        };
        eprintln!("{name}: cached vs uncached logits max |Δ| {error:.2e}");
        assert!(error <= 1e-5, "{name}: {error}");
    }
}
every_backend_test!(cached_decoding_equals_uncached_decoding);
