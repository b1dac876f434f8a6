//! `--collective N`: what data-parallel training (`--devices`) adds to a step, between N peers (threads) on this
//! backend: the all-gather of the batch's image and text embeddings (`[batch, 512]` each, built from
//! burn-collective's all-reduce) and the mean all-reduce of the gradients of the real-size CAPIVARA model's trained
//! part (the text tower and the temperature; vision frozen). One JSON line; the last of three rounds is timed.
//! With `--num-nodes`, this process is one node of several (processes, here or on other machines, each started with
//! its `--node-rank`), its `N` peers joined through burn-collective's global level.

use std::time::Instant;

use burn::collective::reset_collective;
use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use polyclip_backend::BackendKind;
use polyclip_models::{BuildModel, ClipModel, presets};
use polyclip_train::data_parallel::nodes::start_coordinator;
use polyclip_train::data_parallel::peer::with_shared_param_ids;
use polyclip_train::data_parallel::{Nodes, Peer};

use crate::BenchResult;

/// The seconds of one peer's last round: (all-gather, all-reduce).
type Round = (f64, f64);

pub fn measure_collective<B: AutodiffBackend>(
    peers: usize,
    batch: usize,
    nodes: Option<&Nodes>,
    backend: BackendKind,
    device: &B::Device,
) -> BenchResult {
    let local = peers;
    let peers = peers * nodes.map_or(1, |nodes| nodes.num_nodes);
    if peers < 2 || batch < peers {
        return Err(format!(
            "--collective {peers} with a batch of {batch}: needs at least 2 peers and a row each"
        )
        .into());
    }
    let config = presets::vit_b32_xlm_roberta_base();
    let model: ClipModel<B> = config.init(0, device)?;
    // Every process numbers the parameters alike (the gradients are all-reduced in the order of their ids).
    let model = with_shared_param_ids(model.valid());
    // The gradients of what CAPIVARA trains, the shape of the parameters (their values do not matter).
    let trained = |model: &ClipModel<B::InnerBackend>| {
        let mut gradients = Gradients(GradientsParams::new(), 0);
        model.text.visit(&mut gradients);
        model.logit_scale.visit(&mut gradients);
        gradients
    };
    let parameters = trained(&model).1;
    let model = &model;
    match nodes {
        Some(nodes) if nodes.node_rank == 0 => start_coordinator(nodes.coordinator.port)?,
        Some(_) => {}
        None => reset_collective::<B::InnerBackend>(),
    }
    let rounds: Vec<Result<Round, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..local)
            .map(|rank| {
                scope.spawn(move || -> Result<Round, String> {
                    let mut grads = trained(model).0;
                    let peer = match nodes {
                        Some(nodes) => {
                            Peer::join::<B::InnerBackend>(rank, local, nodes, true, device)
                        }
                        None => Peer::register::<B::InnerBackend>(rank, peers, device),
                    }
                    .map_err(|e| e.to_string())?;
                    let rows = peer.rows(batch).len();
                    let mut last = (0.0, 0.0);
                    for _ in 0..3 {
                        let local = Tensor::<B::InnerBackend, 2>::ones([rows, 512], device);
                        let started = Instant::now();
                        for _ in 0..2 {
                            let gathered = peer
                                .all_gather_rows(local.clone(), batch)
                                .map_err(|e| e.to_string())?;
                            let _ = B::InnerBackend::sync(&gathered.device());
                        }
                        let gather = started.elapsed().as_secs_f64();
                        let started = Instant::now();
                        grads = peer
                            .all_reduce_mean::<B>(grads)
                            .map_err(|e| e.to_string())?;
                        let _ = B::InnerBackend::sync(device);
                        last = (gather, started.elapsed().as_secs_f64());
                    }
                    // Nodes stay registered until the process ends (as in training: see data_parallel::nodes).
                    if nodes.is_none() {
                        peer.finish::<B::InnerBackend>()
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(last)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err("a peer panicked".into()))
            })
            .collect()
    });
    let rounds = rounds.into_iter().collect::<Result<Vec<Round>, String>>()?;
    let slowest = rounds
        .iter()
        .fold((0f64, 0f64), |(g, r), (gather, reduce)| {
            (g.max(*gather), r.max(*reduce))
        });
    let json = serde_json::json!({
        "backend": backend.to_string(),
        "peers": peers,
        "nodes": nodes.map_or(1, |nodes| nodes.num_nodes),
        "batch": batch,
        "gradient_parameters": parameters,
        "gradient_mib": parameters as f64 * 4.0 / (1024.0 * 1024.0),
        "all_gather_seconds": slowest.0,
        "all_reduce_seconds": slowest.1,
    });
    println!("{json}");
    Ok(())
}

/// Every float parameter's value registered as its gradient, and the number of values.
struct Gradients(GradientsParams, usize);

impl<B: Backend> ModuleVisitor<B> for Gradients {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value = param.val();
        self.1 += value.shape().num_elements();
        self.0.register::<B, D>(param.id, value);
    }
}
