//! `polyclip-bench`: train-step and inference throughput of the tiny preset and of a ViT-B/32 + XLM-R-base
//! shaped model with random weights, on the backend chosen with `--backend`. Prints figures; asserts nothing.

mod collective;
mod data;
mod generation;
mod index_search;
mod memory;
mod serve_load;

use polyclip_models::BuildModel;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Distribution, ElementConversion, Int, Tensor, TensorData};
use clap::Parser;
use polyclip_backend::{BackendJob, BackendKind, GradientCheckpointing, run_job_with};
use polyclip_models::{ClipModel, ClipModelConfig, presets};
use polyclip_train::{ClipOptimizer, OptimizerConfig, TrainableModel, contrastive_loss};

#[derive(Parser, Debug, Clone)]
#[command(about = "Throughput benchmarks of polyclip models (random weights, synthetic inputs)")]
struct Args {
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = BackendKind::Flex)]
    backend: BackendKind,
    /// Which model shapes to measure.
    #[arg(long, value_delimiter = ',', default_values_t = vec![Shape::Tiny, Shape::VitB32XlmrBase])]
    shapes: Vec<Shape>,
    /// Batch size of the tiny preset.
    #[arg(long, default_value_t = 128)]
    tiny_batch: usize,
    /// Batch size of the ViT-B/32 + XLM-R-base model.
    #[arg(long, default_value_t = 8)]
    base_batch: usize,
    /// Text length in tokens.
    #[arg(long, default_value_t = 24)]
    tokens: usize,
    /// Timed iterations (after one warm-up).
    #[arg(long, default_value_t = 5)]
    iterations: usize,
    /// Freeze the vision tower in the train step (CAPIVARA's setting).
    #[arg(long)]
    freeze_vision: bool,
    /// Instead of the presets: load this checkpoint folder (any layout polyclip reads), report the load time
    /// and image/text embedding throughput (inference only), and print one JSON line for comparisons.
    #[arg(long, value_name = "DIR")]
    checkpoint: Option<std::path::PathBuf>,
    /// With --checkpoint: texts per batch.
    #[arg(long, default_value_t = 32)]
    text_batch: usize,
    /// Instead of the presets: generation throughput of captioners (greedy and beam-4, with and without
    /// the key/value cache).
    #[arg(long)]
    generation: bool,
    /// With --generation: pictures per batch.
    #[arg(long, default_value_t = 4)]
    generation_batch: usize,
    /// With --generation: positions decoded per picture.
    #[arg(long, default_value_t = 32)]
    generation_length: usize,
    /// With --generation: also the real size (CLIP ViT-B/32 + mBART-large-50's decoder, 0.5 B parameters).
    #[arg(long)]
    large: bool,
    /// With --generation: which searches to time (bench_vs_pytorch.py times only `greedy-cache`).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = generation::Search::ALL)]
    generation_searches: Vec<generation::Search>,
    /// Instead of the presets: peak memory of two train steps of the real-size model with this method at
    /// --base-batch (prints one JSON line; run one configuration per process).
    #[arg(long, value_enum)]
    memory: Option<memory::Method>,
    /// Instead of the presets: what data-parallel training adds to a step between this many peers (threads) on
    /// --backend: the all-gather of --base-batch embeddings and the mean all-reduce of the real-size CAPIVARA
    /// model's text-tower gradients (prints one JSON line).
    #[arg(long, value_name = "PEERS")]
    collective: Option<usize>,
    /// With --collective: this process is one node of this many (each its own process, started with its
    /// --node-rank; the peers are --collective per node), joined through burn-collective's global level.
    #[arg(long, default_value_t = 1, requires = "collective")]
    num_nodes: usize,
    /// With --num-nodes: this node's rank, from 0 (node 0 hosts the coordinator).
    #[arg(long, default_value_t = 0)]
    node_rank: usize,
    /// With --num-nodes: where the nodes meet (node 0's address and a free port).
    #[arg(long, value_name = "HOST:PORT")]
    coordinator: Option<polyclip_train::data_parallel::HostPort>,
    /// With --num-nodes: this node's address and a free port of its own.
    #[arg(long, value_name = "HOST:PORT")]
    node_address: Option<polyclip_train::data_parallel::HostPort>,
    /// Gradient checkpointing (burn's BalancedCheckpointing) for the train steps.
    #[arg(long)]
    checkpointing: bool,
    /// With --memory: train steps, at least 2 (the first allocates the optimiser's state); the last is timed.
    #[arg(long, default_value_t = 2)]
    memory_steps: usize,
    /// With --memory: embed the batch this many rows at a time (the chunked step; default: all at once).
    #[arg(long)]
    micro_batch: Option<usize>,
    /// With --memory: the float type of the step's passes (f32, or bf16 over f32 master weights).
    #[arg(long, default_value = "f32")]
    precision: polyclip_train::Precision,
    /// Instead of the models: the input pipeline's images/s (shards → decode → CAPIVARA augmentation → 224 px
    /// tensors) with one loader worker and with all cores (CPU work: --backend does not apply).
    #[arg(long)]
    data: bool,
    /// With --data: samples in the shards.
    #[arg(long, default_value_t = 768)]
    data_samples: usize,
    /// With --data: the photos' longer side in pixels (CC3M's images are about 500 px).
    #[arg(long, default_value_t = 500)]
    data_side: u32,
    /// With --data: images per batch.
    #[arg(long, default_value_t = 32)]
    data_batch: usize,
    /// With --data: timed batches per configuration.
    #[arg(long, default_value_t = 12)]
    data_batches: usize,
    /// Instead of the models: exact search against the HNSW graph on random unit vectors (latency per query,
    /// recall@10, build time), one JSON line per size, query kind and ef_search.
    #[arg(long)]
    index_search: bool,
    /// With --index-search: index sizes.
    #[arg(long, value_delimiter = ',', default_values_t = vec![100_000, 1_000_000])]
    index_rows: Vec<usize>,
    /// With --index-search: draw the vectors near a random subspace of this many dimensions (data with
    /// neighbourhoods) instead of uniformly on the sphere.
    #[arg(long)]
    index_intrinsic_dim: Option<usize>,
    /// With --index-search: vector size.
    #[arg(long, default_value_t = 512)]
    index_dim: usize,
    /// With --index-search: queries per measurement.
    #[arg(long, default_value_t = 200)]
    index_queries: usize,
    /// With --index-search: ef_search values to measure.
    #[arg(long, value_delimiter = ',', default_values_t = vec![64, 128, 256])]
    index_ef: Vec<usize>,
    /// With --index-search: candidates explored while inserting (polyclip index uses 200).
    #[arg(long, default_value_t = 200)]
    index_ef_construction: usize,
    /// Instead of the models: drive a running `polyclip serve` at this URL (loopback only) with --clients
    /// concurrent clients, text search then image search, each for at most --load-seconds and --load-requests.
    #[arg(long, value_name = "URL")]
    serve_load: Option<String>,
    #[arg(long, default_value_t = 8)]
    clients: usize,
    #[arg(long, default_value_t = 20.0)]
    load_seconds: f64,
    #[arg(long, default_value_t = 5000)]
    load_requests: usize,
    /// With --serve-load: a file of queries, one per line (default: the embedded dataset's Portuguese phrases).
    #[arg(long)]
    load_texts: Option<std::path::PathBuf>,
    /// With --serve-load: the picture sent to image search.
    #[arg(long)]
    load_picture: Option<std::path::PathBuf>,
    /// With --serve-load: the server's process id, to report its resident memory before and after.
    #[arg(long)]
    server_pid: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Shape {
    Tiny,
    VitB32XlmrBase,
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Shape::Tiny => "tiny",
            Shape::VitB32XlmrBase => "vit-b32-xlmr-base",
        })
    }
}

struct Bench(Args);

/// What stops a benchmark (reported in one line by `main`).
pub(crate) type BenchResult = Result<(), Box<dyn std::error::Error>>;

impl BackendJob for Bench {
    type Output = BenchResult;

    fn run<B: AutodiffBackend>(self, device: B::Device, backend: BackendKind) -> BenchResult {
        let args = self.0;
        if let Some(dir) = &args.checkpoint {
            return measure_checkpoint::<B::InnerBackend>(dir, &args, backend, &device);
        }
        if let Some(peers) = args.collective {
            let nodes = match (args.num_nodes, args.coordinator, args.node_address) {
                (1, None, None) => None,
                (num_nodes, Some(coordinator), Some(node_address)) => {
                    Some(polyclip_train::data_parallel::Nodes::new(
                        num_nodes,
                        args.node_rank,
                        coordinator,
                        node_address,
                    )?)
                }
                _ => {
                    return Err(
                        "--num-nodes N needs --coordinator and --node-address (and N ≥ 2)".into(),
                    );
                }
            };
            return collective::measure_collective::<B>(
                peers,
                args.base_batch,
                nodes.as_ref(),
                backend,
                &device,
            );
        }
        if let Some(method) = args.memory {
            return memory::measure_memory::<B>(
                memory::MemoryRun {
                    method,
                    batch: args.base_batch,
                    micro_batch: args.micro_batch,
                    precision: args.precision,
                    tokens: args.tokens,
                    checkpointing: args.checkpointing,
                    steps: args.memory_steps,
                },
                backend,
                &device,
            );
        }
        if args.generation {
            println!("backend {backend}, generation throughput");
            for (name, config) in generation::captioners(args.large) {
                generation::measure_generation::<B::InnerBackend>(
                    name,
                    &config,
                    args.generation_batch,
                    args.generation_length,
                    &args.generation_searches,
                    &device,
                )?;
            }
            return Ok(());
        }
        println!(
            "backend {backend} (CPU gemm kernels: {}), {} threads available, text length {} tokens, {} timed iterations",
            polyclip_backend::cpu_kernels(),
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            args.tokens,
            args.iterations
        );
        for shape in &args.shapes {
            let (config, batch) = match shape {
                Shape::Tiny => (presets::tiny_capivara(2000, 64, 1, 48), args.tiny_batch),
                Shape::VitB32XlmrBase => (presets::vit_b32_xlm_roberta_base(), args.base_batch),
            };
            measure::<B>(&config, *shape, batch, &args, &device)?;
        }
        Ok(())
    }
}

pub(crate) fn inputs<B: Backend>(
    config: &ClipModelConfig,
    batch: usize,
    tokens: usize,
    device: &B::Device,
) -> (Tensor<B, 4>, Tensor<B, 2, Int>, Tensor<B, 2, Int>) {
    let size = config.vision_config.image_size;
    let pixels = Tensor::random(
        [batch, 3, size, size],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let ids: Vec<i64> = (0..batch * tokens)
        .map(|i| 5 + (i * 7919 % 1000) as i64)
        .collect();
    let ids = Tensor::from_data(TensorData::new(ids, [batch, tokens]), device);
    let mask = Tensor::ones([batch, tokens], device);
    (pixels, ids, mask)
}

fn measure<B: AutodiffBackend>(
    config: &ClipModelConfig,
    shape: Shape,
    batch: usize,
    args: &Args,
    device: &B::Device,
) -> BenchResult {
    let started = Instant::now();
    let model: ClipModel<B> = config.init(0, device)?;
    let params = burn::module::Module::num_params(&model);
    let _ = B::sync(device);
    println!(
        "\n{shape}: {:.1} M parameters, built in {:.2}s, batch {batch}",
        params as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    // Inference: embed a batch of images and texts with the inner (non-autodiff) backend.
    let inner = model.valid();
    let (pixels, ids, mask) = inputs::<B::InnerBackend>(config, batch, args.tokens, device);
    let image_rate = time(args.iterations, batch, || {
        let _ = inner.embed_images(pixels.clone()).into_data();
    });
    let text_rate = time(args.iterations, batch, || {
        let _ = inner.embed_texts(ids.clone(), mask.clone()).into_data();
    });
    println!("  inference: {image_rate:.1} images/s, {text_rate:.1} texts/s");

    // Training: one contrastive step (forward, backward, Adam update).
    let model = model.freeze(polyclip_train::FreezeConfig {
        vision: args.freeze_vision,
        ..Default::default()
    });
    let mut optimizer = ClipOptimizer::new(&OptimizerConfig::Adam {
        betas: [0.9, 0.98],
        eps: 1e-8,
        weight_decay: 0.2,
    });
    let (pixels, ids, mask) = inputs::<B>(config, batch, args.tokens, device);
    let mut slot = Some(model);
    let step_rate = time(args.iterations, batch, || {
        let Some(model) = slot.take() else { return };
        let image = model.embed_images(pixels.clone());
        let text = model.embed_texts(ids.clone(), mask.clone());
        let loss = contrastive_loss(image, text, model.logit_multiplier());
        let _: f32 = loss.clone().into_scalar().elem();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let model = optimizer.step(1e-5, model, grads);
        let _ = B::sync(device);
        slot = Some(model);
    });
    let frozen = if args.freeze_vision {
        " (vision frozen)"
    } else {
        ""
    };
    println!(
        "  train step{frozen}: {step_rate:.1} samples/s ({:.1} ms/step)",
        1000.0 * batch as f64 / step_rate
    );
    Ok(())
}

/// Load time and embedding throughput of a checkpoint, on the inner (inference) backend.
fn measure_checkpoint<B: Backend>(
    dir: &std::path::Path,
    args: &Args,
    backend: BackendKind,
    device: &B::Device,
) -> BenchResult {
    let started = Instant::now();
    let loaded = polyclip_checkpoints::load::<B>(dir, false, device)?;
    let _ = B::sync(device);
    let load_s = started.elapsed().as_secs_f64();
    let (
        polyclip_checkpoints::LoadedModel::Dual(model),
        polyclip_checkpoints::Architecture::Dual(config),
    ) = (loaded.model, &loaded.spec.architecture)
    else {
        return Err(format!("{} has no image tower", dir.display()).into());
    };
    let vocab = match &config.text {
        polyclip_models::TextTowerConfig::Clip { text_config } => text_config.vocab_size,
        polyclip_models::TextTowerConfig::HfEncoder { encoder_config, .. } => {
            encoder_config.vocab_size
        }
    };
    // Ids drawn past the special tokens (the same ids bench_vs_pytorch.py feeds PyTorch).
    let spread = vocab.saturating_sub(10).max(1);
    let (pixels, _, _) = inputs::<B>(config, args.base_batch, args.tokens, device);
    let ids: Vec<i64> = (0..args.text_batch * args.tokens)
        .map(|i| (5 + i * 7919 % spread).min(vocab.saturating_sub(1)) as i64)
        .collect();
    let ids = Tensor::<B, 2, Int>::from_data(
        TensorData::new(ids, [args.text_batch, args.tokens]),
        device,
    );
    let mask = Tensor::<B, 2, Int>::ones([args.text_batch, args.tokens], device);
    let image_rate = time(args.iterations, args.base_batch, || {
        let _ = model.embed_images(pixels.clone()).into_data();
    });
    let text_rate = time(args.iterations, args.text_batch, || {
        let _ = model.embed_texts(ids.clone(), mask.clone()).into_data();
    });
    println!(
        "{}",
        serde_json::json!({
            "framework": "polyclip",
            "backend": backend.to_string(),
            "cpu_kernels": polyclip_backend::cpu_kernels(),
            "checkpoint": dir.display().to_string(),
            "family": format!("{:?}", loaded.spec.family),
            "load_s": load_s,
            "images_per_s": image_rate,
            "texts_per_s": text_rate,
            "image_batch": args.base_batch,
            "text_batch": args.text_batch,
            "tokens": args.tokens,
        })
    );
    Ok(())
}

/// Runs `work` once to warm up, then `iterations` times; returns items per second.
fn time(iterations: usize, batch: usize, mut work: impl FnMut()) -> f64 {
    work();
    let started = Instant::now();
    for _ in 0..iterations {
        work();
    }
    (iterations * batch) as f64 / started.elapsed().as_secs_f64()
}

/// Queries for --serve-load when no file is given.
const DEFAULT_QUERIES: &[&str] = &[
    "dois círculos vermelhos",
    "um grande quadrado azul sobre um fundo branco",
    "três estrelas amarelas",
    "uma cruz verde em cima",
    "um pequeno triângulo preto embaixo, sobre um fundo azul",
    "losangos laranja sobre um fundo cinza",
];

fn serve_load(args: &Args, url: &str) -> BenchResult {
    let texts: Vec<String> = match &args.load_texts {
        Some(path) => std::fs::read_to_string(path)?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(String::from)
            .collect(),
        None => DEFAULT_QUERIES.iter().map(|t| t.to_string()).collect(),
    };
    if texts.is_empty() {
        return Err("--load-texts has no lines".into());
    }
    let picture_path = args
        .load_picture
        .clone()
        .ok_or("--serve-load needs --load-picture FILE (the picture sent to image search)")?;
    let picture = std::fs::read(&picture_path)?;
    serve_load::measure_serve_load(&serve_load::LoadPlan {
        url,
        clients: args.clients,
        seconds: args.load_seconds,
        max_requests: args.load_requests,
        texts: &texts,
        picture: &picture,
        server_pid: args.server_pid,
    })
}

fn main() {
    let args = Args::parse();
    let standalone = if args.index_search {
        Some(index_search::measure_index_search(
            &args.index_rows,
            args.index_intrinsic_dim,
            args.index_dim,
            args.index_queries,
            &args.index_ef,
            args.index_ef_construction,
        ))
    } else {
        args.serve_load.as_deref().map(|url| serve_load(&args, url))
    };
    if let Some(outcome) = standalone {
        if let Err(error) = outcome {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
        return;
    }
    if args.data {
        if let Err(error) = data::measure_data(
            args.data_samples,
            args.data_side,
            args.data_batch,
            args.data_batches,
        ) {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
        return;
    }
    let checkpointing = if args.checkpointing {
        GradientCheckpointing::Balanced
    } else {
        GradientCheckpointing::Off
    };
    match run_job_with(args.backend, checkpointing, Bench(args.clone())) {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(2);
        }
    }
}
