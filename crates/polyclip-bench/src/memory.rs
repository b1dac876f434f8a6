//! `--memory`: the memory one CAPIVARA train step needs on the real-size model (ViT-B/32 + XLM-R base, 366 M
//! parameters, random weights), full text-tower fine-tuning vs CAPIVARA + Opt. (LoRA r=8 on query/value, the
//! encoder frozen), with or without gradient checkpointing (`--checkpointing`). Run one configuration per
//! process: the peak resident set (`VmHWM`) is the process's. On CUDA it also prints what the device holds
//! (`nvidia-smi`), burn's pool keeping what the step allocated.

use polyclip_models::BuildModel;
use std::time::Instant;

use burn::optim::GradientsParams;
use burn::tensor::ElementConversion;
use burn::tensor::backend::AutodiffBackend;
use polyclip_backend::BackendKind;
use polyclip_models::lora::LoraConfig;
use polyclip_models::{ClipModel, presets};
use polyclip_train::{
    ClipOptimizer, FreezeConfig, OptimizerConfig, TrainableModel, contrastive_loss,
};

use crate::{BenchResult, inputs};

/// Which of the paper's two fine-tuning methods a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Vision frozen, the whole text tower and the temperature train.
    Capivara,
    /// Vision and text encoder frozen; LoRA adapters, the projection head and the temperature train.
    CapivaraOpt,
}

/// Two train steps (the second with the optimiser's state allocated) at `batch`, then the peaks.
pub fn measure_memory<B: AutodiffBackend>(
    method: Method,
    batch: usize,
    tokens: usize,
    checkpointing: bool,
    backend: BackendKind,
    device: &B::Device,
) -> BenchResult {
    let config = presets::vit_b32_xlm_roberta_base();
    let mut model: ClipModel<B> = config.init(0, device)?;
    if method == Method::CapivaraOpt {
        model.attach_text_lora(&LoraConfig {
            r: 8,
            lora_alpha: 8.0,
            target_modules: vec!["query".into(), "value".into()],
            seed: 0,
        })?;
    }
    let mut model = model.freeze(FreezeConfig {
        vision: true,
        ..Default::default()
    });
    let _ = B::sync(device);
    let built = peak_rss_mib();
    let mut optimizer = ClipOptimizer::new(&OptimizerConfig::Adam {
        betas: [0.9, 0.98],
        eps: 1e-8,
        weight_decay: 0.2,
    });
    let (pixels, ids, mask) = inputs::<B>(&config, batch, tokens, device);
    let started = Instant::now();
    let steps = 2;
    for _ in 0..steps {
        let image = model.embed_images(pixels.clone());
        let text = model.embed_texts(ids.clone(), mask.clone());
        let loss = contrastive_loss(image, text, model.logit_multiplier());
        let _: f32 = loss.clone().into_scalar().elem();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(1e-5, model, grads);
        let _ = B::sync(device);
    }
    let seconds = started.elapsed().as_secs_f64() / steps as f64;
    let json = serde_json::json!({
        "backend": backend.to_string(),
        "method": format!("{method:?}"),
        "checkpointing": checkpointing,
        "batch": batch,
        "tokens": tokens,
        "peak_rss_mib_after_build": built,
        "peak_rss_mib": peak_rss_mib(),
        "gpu_used_mib": gpu_used_mib(backend),
        "seconds_per_step": seconds,
    });
    println!("{json}");
    Ok(())
}

/// The process's peak resident set in MiB (`VmHWM` of /proc/self/status; Linux only).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Device memory in use (MiB) as `nvidia-smi` reports it, on CUDA.
fn gpu_used_mib(backend: BackendKind) -> Option<f64> {
    if backend != BackendKind::Cuda {
        return None;
    }
    let output = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=memory.used", "--format=csv,noheader,nounits"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}
