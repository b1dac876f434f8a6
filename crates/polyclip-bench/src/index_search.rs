//! `--index-search`: exact search against the HNSW graph on random unit vectors — build time, latency per
//! query, and recall@10 of the graph against exact search, for random queries (the hardest case: nothing is
//! near anything) and for queries near a stored vector (what a search for a picture's caption looks like).

use std::time::Instant;

use polyclip_index::ann::{AnnIndex, AnnParams};
use polyclip_index::exact::top_k;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

const K: usize = 10;

fn unit_rows(rows: usize, dim: usize, rng: &mut rand_pcg::Pcg64) -> Vec<f32> {
    let mut values: Vec<f32> = (0..rows * dim)
        .map(|_| rng.sample(StandardNormal))
        .collect();
    for row in values.chunks_exact_mut(dim) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v /= norm);
    }
    values
}

fn recall(exact: &[Vec<usize>], approximate: &[Vec<usize>]) -> f64 {
    let found: usize = exact
        .iter()
        .zip(approximate)
        .map(|(e, a)| a.iter().filter(|id| e.contains(id)).count())
        .sum();
    found as f64 / (exact.len() * K) as f64
}

/// `rows` unit vectors that lie near a random `intrinsic`-dimensional subspace of `dim` dimensions (plus a
/// little noise in every direction): data with neighbourhoods, as embeddings of real collections have.
fn subspace_rows(rows: usize, dim: usize, intrinsic: usize, rng: &mut rand_pcg::Pcg64) -> Vec<f32> {
    let basis = unit_rows(intrinsic, dim, rng);
    let mut values = vec![0.0_f32; rows * dim];
    for row in values.chunks_exact_mut(dim) {
        for b in basis.chunks_exact(dim) {
            let weight: f32 = rng.sample(StandardNormal);
            for (v, x) in row.iter_mut().zip(b) {
                *v += weight * x;
            }
        }
        for v in row.iter_mut() {
            let noise: f32 = rng.sample(StandardNormal);
            *v += 0.05 * noise;
        }
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v /= norm);
    }
    values
}

pub fn measure_index_search(
    sizes: &[usize],
    intrinsic: Option<usize>,
    dim: usize,
    queries: usize,
    ef_searches: &[usize],
    ef_construction: usize,
) -> crate::BenchResult {
    let params = AnnParams {
        ef_construction,
        ..AnnParams::default()
    };
    let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
    for &rows in sizes {
        let data = match intrinsic {
            Some(intrinsic) => subspace_rows(rows, dim, intrinsic, &mut rng),
            None => unit_rows(rows, dim, &mut rng),
        };
        let random = unit_rows(queries, dim, &mut rng);
        // Near a stored vector: the vector plus noise of a third of its length, normalised.
        let mut near = unit_rows(queries, dim, &mut rng);
        for (q, query) in near.chunks_exact_mut(dim).enumerate() {
            let row = (q * 7919) % rows;
            let stored = &data[row * dim..(row + 1) * dim];
            for (v, s) in query.iter_mut().zip(stored) {
                *v = s + 0.35 * *v;
            }
            let norm = query.iter().map(|v| v * v).sum::<f32>().sqrt();
            query.iter_mut().for_each(|v| *v /= norm);
        }
        let started = Instant::now();
        let mut graph = AnnIndex::build(&data, dim, params);
        let build_s = started.elapsed().as_secs_f64();
        for (kind, set) in [("random", &random), ("near", &near)] {
            let started = Instant::now();
            let exact: Vec<Vec<usize>> = set
                .chunks_exact(dim)
                .map(|q| {
                    top_k(&data, dim, q, K)
                        .into_iter()
                        .map(|(id, _)| id)
                        .collect()
                })
                .collect();
            let exact_ms = started.elapsed().as_secs_f64() * 1e3 / queries as f64;
            for &ef in ef_searches {
                graph.set_ef_search(ef);
                let started = Instant::now();
                let approximate: Vec<Vec<usize>> = set
                    .chunks_exact(dim)
                    .map(|q| graph.search(q, K).into_iter().map(|(id, _)| id).collect())
                    .collect();
                let hnsw_ms = started.elapsed().as_secs_f64() * 1e3 / queries as f64;
                println!(
                    "{}",
                    serde_json::json!({
                        "bench": "index-search",
                        "rows": rows,
                        "data": intrinsic.map_or("uniform".to_string(), |d| format!("{d}-dim subspace")),
                        "dim": dim,
                        "queries": kind,
                        "exact_ms_per_query": exact_ms,
                        "hnsw_ms_per_query": hnsw_ms,
                        "ef_search": ef,
                        "recall_at_10": recall(&exact, &approximate),
                        "hnsw_build_s": build_s,
                        "max_connections": params.max_connections,
                        "ef_construction": params.ef_construction,
                    })
                );
            }
        }
    }
    Ok(())
}
