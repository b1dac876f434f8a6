//! Generation throughput of captioners: greedy and beam-4 search, with and without the key/value cache, on
//! the tiny preset and on the real size of CLIP-Vision-mBART50 (CLIP ViT-B/32 + the mBART-large-50 decoder),
//! random weights. The end token is never emitted (its id lies outside the vocabulary), so every run decodes
//! exactly `length` positions.

use polyclip_models::BuildModel;
use std::time::Instant;

use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};
use polyclip_models::captioner::{CaptionerConfig, CaptionerLayout};
use polyclip_models::clip::ClipVisionConfig;
use polyclip_models::generation::{EarlyStopping, GenerationConfig, generate};
use polyclip_models::mbart::MBartConfig;
use polyclip_models::presets;

/// ViT-B/32 into mBART-large-50's decoder (12 layers, width 1024, 250 054 tokens), CLIP-Vision-mBART50's layout.
fn clip_vit_b32_mbart_large() -> CaptionerConfig {
    CaptionerConfig {
        // OpenAI's ViT-B/32 (quick GELU).
        encoder: ClipVisionConfig::default(),
        decoder: MBartConfig {
            encoder_layers: 0,
            ..MBartConfig::default()
        },
        layout: CaptionerLayout::ClipVisionMbart,
    }
}

/// A search and whether it keeps the key/value cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Search {
    GreedyCache,
    Greedy,
    BeamCache,
    Beam,
}

impl Search {
    pub const ALL: [Search; 4] = [
        Search::GreedyCache,
        Search::Greedy,
        Search::BeamCache,
        Search::Beam,
    ];

    fn num_beams(self) -> usize {
        match self {
            Search::GreedyCache | Search::Greedy => 1,
            Search::BeamCache | Search::Beam => 4,
        }
    }

    fn use_cache(self) -> bool {
        matches!(self, Search::GreedyCache | Search::BeamCache)
    }
}

/// Measures one captioner: prints tokens/s for each of `searches`.
pub fn measure_generation<B: Backend>(
    name: &str,
    config: &CaptionerConfig,
    batch: usize,
    length: usize,
    searches: &[Search],
    device: &B::Device,
) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let model = config.init::<B>(0, device)?;
    let _ = B::sync(device);
    let params = burn::module::Module::num_params(&model);
    println!(
        "\n{name}: {:.1} M parameters, built in {:.2}s, {batch} pictures, {length} positions each",
        params as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let size = config.encoder.image_size;
    let pixels = Tensor::<B, 4>::random(
        [batch, 3, size, size],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let memory = model.encode(pixels);
    for &search in searches {
        let (num_beams, use_cache) = (search.num_beams(), search.use_cache());
        let generation = GenerationConfig {
            max_length: length + 1,
            num_beams,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::Flag(false),
            no_repeat_ngram_size: 0,
            decoder_start_token_id: config.decoder.decoder_start(),
            forced_bos_token_id: None,
            forced_eos_token_id: None,
            // Never generated: every hypothesis runs to max_length.
            eos_token_id: config.decoder.vocab_size,
            pad_token_id: config.decoder.pad_token_id,
            use_cache,
        };
        // Warm-up (kernels, allocations), then one timed run.
        let _ = generate(
            &model,
            &memory,
            &GenerationConfig {
                max_length: 3,
                ..generation.clone()
            },
        );
        let started = Instant::now();
        let generated = generate(&model, &memory, &generation);
        let seconds = started.elapsed().as_secs_f64();
        let tokens: usize = generated.sequences.iter().map(|s| s.len() - 1).sum();
        println!(
            "  {:<7} {:<9} {:>9.1} tokens/s ({:.2}s, {tokens} tokens)",
            if num_beams == 1 { "greedy" } else { "beam-4" },
            if use_cache { "cache" } else { "no cache" },
            tokens as f64 / seconds,
            seconds
        );
    }
    Ok(())
}

/// The captioners the benchmark measures.
pub fn captioners(large: bool) -> Vec<(&'static str, CaptionerConfig)> {
    let mut out = vec![("tiny captioner", presets::tiny_captioner(902, 40, 48))];
    if large {
        out.push((
            "CLIP ViT-B/32 + mBART-large-50 decoder",
            clip_vit_b32_mbart_large(),
        ));
    }
    out
}
