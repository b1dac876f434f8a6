//! Cross-modal retrieval with CLIP_benchmark semantics.
//!
//! Text→image R@K: the fraction of captions whose own image ranks in the top K images. Image→text R@K: the
//! fraction of images with at least one of their captions in the top K captions. Mean recall: the mean of R@1,
//! R@5 and R@10 per direction. A candidate ranks above the true one only if it scores strictly higher.
//!
//! MRR@K (clip-italian, text→image only): the reciprocal rank of a caption's own image when it ranks in the top K,
//! else 0, averaged over captions.

use burn::tensor::{Tensor, backend::Backend};
use serde::{Deserialize, Serialize};

use crate::encode::to_host;

/// Recall at 1, 5 and 10 in both directions, as percentages, and text→image MRR@1/5/10 (a fraction, as
/// clip-italian reports it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetrievalMetrics {
    pub text_to_image: [f64; 3],
    pub image_to_text: [f64; 3],
    #[serde(default)]
    pub text_to_image_mrr: [f64; 3],
}

impl RetrievalMetrics {
    /// Mean of R@1/5/10, text→image.
    pub fn text_to_image_mean(&self) -> f64 {
        self.text_to_image.iter().sum::<f64>() / 3.0
    }

    /// Mean of R@1/5/10, image→text.
    pub fn image_to_text_mean(&self) -> f64 {
        self.image_to_text.iter().sum::<f64>() / 3.0
    }
}

/// The cutoffs reported.
pub const RECALL_AT: [usize; 3] = [1, 5, 10];

/// A retrieval set: captions, and the image each belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrievalSet {
    pub num_images: usize,
    pub captions: Vec<String>,
    /// `caption_image[c]` is the image of caption `c`.
    pub caption_image: Vec<usize>,
}

/// Recall of normalised text embeddings `[texts, d]` against image embeddings `[images, d]` (scored on the device).
pub fn evaluate_retrieval<B: Backend>(
    image_embeds: Tensor<B, 2>,
    text_embeds: Tensor<B, 2>,
    caption_image: &[usize],
) -> RetrievalMetrics {
    let n_img = image_embeds.dims()[0];
    let scores = to_host(text_embeds.matmul(image_embeds.transpose()));
    retrieval_metrics(&scores, n_img, caption_image)
}

/// Whether the true item's score `own` ranks it above a candidate's `other`: strictly greater, so a tie or a NaN
/// on either side does not (ranks are pessimistic).
pub fn beats(own: f32, other: f32) -> bool {
    own.partial_cmp(&other) == Some(std::cmp::Ordering::Greater)
}

/// Recall from a row-major `[texts, images]` similarity matrix.
pub fn retrieval_metrics(
    scores: &[f32],
    n_img: usize,
    caption_image: &[usize],
) -> RetrievalMetrics {
    let n_txt = caption_image.len();
    let mut captions_of: Vec<Vec<usize>> = vec![Vec::new(); n_img];
    for (caption, &image) in caption_image.iter().enumerate() {
        captions_of[image].push(caption);
    }
    let score = |t: usize, i: usize| scores[t * n_img + i];

    // Ranks are pessimistic: the true item ranks below every candidate it does not beat, so a tie counts against
    // it and a NaN score (which beats nothing and is beaten by nothing) never ranks first.
    // Text→image: rank of the caption's own image among all images.
    let text_ranks: Vec<usize> = (0..n_txt)
        .map(|t| {
            let own = score(t, caption_image[t]);
            (0..n_img)
                .filter(|&i| i != caption_image[t] && !beats(own, score(t, i)))
                .count()
        })
        .collect();
    // Image→text: best rank of any of the image's captions among the captions of other images.
    let image_ranks: Vec<usize> = (0..n_img)
        .map(|i| {
            captions_of[i]
                .iter()
                .map(|&t| {
                    let own = score(t, i);
                    (0..n_txt)
                        .filter(|&other| caption_image[other] != i && !beats(own, score(other, i)))
                        .count()
                })
                .min()
                .unwrap_or(usize::MAX)
        })
        .collect();
    let recall = |ranks: &[usize], k: usize| {
        100.0 * ranks.iter().filter(|&&rank| rank < k).count() as f64 / ranks.len().max(1) as f64
    };
    let mrr = |k: usize| {
        text_ranks
            .iter()
            .map(|&rank| {
                if rank < k {
                    1.0 / (rank + 1) as f64
                } else {
                    0.0
                }
            })
            .sum::<f64>()
            / text_ranks.len().max(1) as f64
    };
    RetrievalMetrics {
        text_to_image: RECALL_AT.map(|k| recall(&text_ranks, k)),
        image_to_text: RECALL_AT.map(|k| recall(&image_ranks, k)),
        text_to_image_mrr: RECALL_AT.map(mrr),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_follows_clip_benchmark_semantics() {
        // Two images along the axes; three captions: two of image 0 (one of them closer to image 1), one of image 1.
        let images = [[1.0, 0.0], [0.0, 1.0]];
        let texts = [[0.9, 0.1], [0.2, 0.8], [0.1, 0.9]];
        let scores: Vec<f32> = texts
            .iter()
            .flat_map(|t| images.iter().map(move |i| t[0] * i[0] + t[1] * i[1]))
            .collect();
        let metrics = retrieval_metrics(&scores, 2, &[0, 0, 1]);
        // Text→image: captions 0 and 2 find their image first; caption 1 ranks image 0 second.
        assert_eq!(metrics.text_to_image[0], 200.0 / 3.0);
        assert_eq!(metrics.text_to_image[1], 100.0);
        // Image→text: image 0's best caption (0) is first; image 1's caption 2 beats caption 1 for image 1.
        assert_eq!(metrics.image_to_text, [100.0, 100.0, 100.0]);
        // MRR: ranks 1, 2, 1 → (1 + 1/2 + 1)/3 from K = 5 on; at K = 1 the second caption counts 0.
        assert_eq!(metrics.text_to_image_mrr, [2.0 / 3.0, 2.5 / 3.0, 2.5 / 3.0]);
    }

    /// A NaN model used to score 100: a NaN score beat no candidate, and `s > NaN` is false for every other
    /// one, so the true item ranked first. Now it ranks below every candidate it does not beat.
    #[test]
    fn nan_scores_and_ties_never_rank_the_true_item_first() {
        // Three images, three captions (one each).
        let nan = retrieval_metrics(&[f32::NAN; 9], 3, &[0, 1, 2]);
        assert_eq!(nan.text_to_image, [0.0, 100.0, 100.0]);
        assert_eq!(nan.image_to_text, [0.0, 100.0, 100.0]);
        assert_eq!(nan.text_to_image_mrr[0], 0.0);
        // Every score tied: the true item ranks last of three.
        let tied = retrieval_metrics(&[0.5; 9], 3, &[0, 1, 2]);
        assert_eq!(tied.text_to_image[0], 0.0);
        assert_eq!(tied.text_to_image_mrr[2], 1.0 / 3.0);
        // Ties among an image's own captions do not count against it.
        let own_tie = retrieval_metrics(&[0.9, 0.1, 0.9, 0.1, 0.1, 0.9], 2, &[0, 0, 1]);
        assert_eq!(own_tie.image_to_text[0], 100.0);
    }
}
