//! `--memory`: the memory one CAPIVARA train step needs on the real-size model (ViT-B/32 + XLM-R base, 366 M
//! parameters, random weights), full text-tower fine-tuning vs CAPIVARA + Opt. (LoRA r=8 on query/value, the
//! encoder frozen), with or without gradient checkpointing (`--checkpointing`), the whole batch in one graph or
//! `--micro-batch` rows at a time (the trainer's chunked step, `[stage.train] micro_batch`), in f32 or `--precision
//! bf16` (the trainer's mixed precision). Run one configuration per
//! process: the peak resident set (`VmHWM`) is the process's. On CUDA it also prints what the device holds
//! (`nvidia-smi`), burn's pool keeping what the step allocated.

use polyclip_models::BuildModel;
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use polyclip_backend::BackendKind;
use polyclip_data::ClipBatch;
use polyclip_models::lora::LoraConfig;
use polyclip_models::{ClipModel, presets};
use polyclip_train::trainable::step_gradients;
use polyclip_train::{
    ClipOptimizer, FreezeConfig, LrSchedule, OptimizerConfig, Precision, StepGradients,
    TrainConfig, TrainableModel,
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

/// What one configuration measures.
pub struct MemoryRun {
    pub method: Method,
    pub batch: usize,
    /// Rows embedded at a time; `None`: the whole batch in one graph.
    pub micro_batch: Option<usize>,
    /// The float type of the passes (`bf16`: mixed precision).
    pub precision: Precision,
    pub tokens: usize,
    pub checkpointing: bool,
    /// Train steps (at least 2: the first allocates the optimiser's state); the last is timed.
    pub steps: usize,
}

/// `steps` train steps at `batch` (the second on has the optimiser's state allocated), then the peaks. Every
/// step's time is printed: the second still touches pages the process has never used (its peak holds the
/// optimiser's state *and* the gradients), the third on reuses what the allocator kept.
pub fn measure_memory<B: AutodiffBackend>(
    run: MemoryRun,
    backend: BackendKind,
    device: &B::Device,
) -> BenchResult {
    let MemoryRun {
        method,
        batch,
        micro_batch,
        precision,
        tokens,
        checkpointing,
        steps,
    } = run;
    if steps < 2 {
        return Err(format!(
            "--memory-steps {steps}: at least 2 (the first allocates the optimiser's state)"
        )
        .into());
    }
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
    let train = TrainConfig {
        steps,
        optimizer: OptimizerConfig::Adam {
            betas: [0.9, 0.98],
            eps: 1e-8,
            weight_decay: 0.2,
        },
        schedule: LrSchedule::Constant { lr: 1e-5 },
        freeze: FreezeConfig {
            vision: true,
            ..Default::default()
        },
        checkpoint_every: 0,
        keep_checkpoints: 1,
        label_smoothing: 0.0,
        early_stopping: None,
        nan_policy: Default::default(),
        max_skipped_in_a_row: 1,
        micro_batch,
        precision,
        loss_scale: Default::default(),
    };
    // An f16 step scales its loss as the trainer's first step does.
    let loss_scale = (precision == Precision::F16).then_some(train.loss_scale.init_scale);
    let mut model = model.freeze(train.freeze);
    let _ = B::sync(device);
    let built = peak_rss_mib();
    let mut optimizer = ClipOptimizer::new(&train.optimizer);
    let (pixels, ids, mask) = inputs::<B>(&config, batch, tokens, device);
    let batch_rows = ClipBatch {
        pixels,
        input_ids: ids,
        attention_mask: mask,
        indices: (0..batch).collect(),
    };
    let started = Instant::now();
    let mut loss = f32::NAN;
    let mut step_seconds = Vec::with_capacity(steps);
    for step in 0..steps {
        let step_started = Instant::now();
        let StepGradients {
            loss: value,
            gradients,
            overflowed,
        } = step_gradients(&model, batch_rows.clone(), &train, loss_scale, None)?;
        if overflowed {
            return Err(format!(
                "step {step}: the f16 gradients overflowed at loss scale {loss_scale:?}"
            )
            .into());
        }
        loss = value;
        let grads = gradients.ok_or_else(|| format!("step {step}: the loss is {value}"))?;
        model = optimizer.step(1e-5, model, grads);
        let _ = B::sync(device);
        step_seconds.push(step_started.elapsed().as_secs_f64());
    }
    let seconds = started.elapsed().as_secs_f64() / steps as f64;
    let json = serde_json::json!({
        "backend": backend.to_string(),
        "method": format!("{method:?}"),
        "checkpointing": checkpointing,
        "batch": batch,
        "micro_batch": micro_batch,
        "precision": precision.to_string(),
        "tokens": tokens,
        "loss": loss,
        "peak_rss_mib_after_build": built,
        "peak_rss_mib": peak_rss_mib(),
        "gpu_used_mib": gpu_used_mib(backend),
        "seconds_per_step": seconds,
        "last_step_seconds": step_seconds.last(),
        "step_seconds": step_seconds,
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
