//! Exact search: every row's dot product with the query (cosine similarity, the rows and the query being
//! L2-normalised), the `k` best kept. Rows are split between the machine's cores above a size where threads pay.

/// Rows per thread below which one thread does all the work.
const ROWS_PER_THREAD: usize = 32_768;

/// The `k` rows most similar to `query`, best first (ties by row number), as `(row, score)`.
pub fn top_k(embeddings: &[f32], dim: usize, query: &[f32], k: usize) -> Vec<(usize, f32)> {
    let rows = embeddings.len() / dim.max(1);
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(rows.div_ceil(ROWS_PER_THREAD))
        .max(1);
    let per_thread = rows.div_ceil(threads).max(1);
    let mut best: Vec<(usize, f32)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let start = t * per_thread;
                let end = (start + per_thread).min(rows);
                scope.spawn(move || best_of(embeddings, dim, query, start..end, k))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap_or_default())
            .collect()
    });
    sort_best(&mut best);
    best.truncate(k);
    best
}

fn best_of(
    embeddings: &[f32],
    dim: usize,
    query: &[f32],
    rows: std::ops::Range<usize>,
    k: usize,
) -> Vec<(usize, f32)> {
    let mut scored: Vec<(usize, f32)> = rows
        .map(|row| (row, dot(&embeddings[row * dim..(row + 1) * dim], query)))
        .collect();
    if scored.len() > k {
        scored.select_nth_unstable_by(k, |a, b| order(*a, *b));
        scored.truncate(k);
    }
    scored
}

fn order(a: (usize, f32), b: (usize, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// Best first, ties by row number.
pub fn sort_best(hits: &mut [(usize, f32)]) {
    hits.sort_unstable_by(|a, b| order(*a, *b));
}

/// The dot product, in eight lanes the compiler vectorises.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0_f32; 8];
    let chunks = a.len() / 8;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for lane in 0..8 {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    let tail: f32 = a[chunks * 8..]
        .iter()
        .zip(&b[chunks * 8..])
        .map(|(x, y)| x * y)
        .sum();
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_rows_come_first_and_ties_go_by_row() {
        // Rows: e0, e1, e0 again, -e0 (dim 3).
        let rows = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, -1.0, 0.0, 0.0];
        let hits = top_k(&rows, 3, &[1.0, 0.0, 0.0], 3);
        assert_eq!(hits, vec![(0, 1.0), (2, 1.0), (1, 0.0)]);
        assert_eq!(top_k(&rows, 3, &[0.0, 0.0, 1.0], 10).len(), 4);
    }
}
