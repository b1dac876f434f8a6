//! Zero-shot classification with prompt-template ensembles (REFERENCE §4): a class embedding is the mean of
//! its L2-normalised template embeddings, renormalised; logits are 100·cos.

use burn::tensor::{Tensor, backend::Backend};
use polyclip_data::{ClassificationSet, DataError, TextTokenizer};
use polyclip_models::clip::model::l2_normalize;
use serde::{Deserialize, Serialize};

use crate::encode::{Encoders, embed_texts};
use crate::retrieval::beats;

/// Top-K accuracy in percent for K = 1, 5 (CAPIVARA), 10 and 100 (clip-italian); top-K is 100 when there are K
/// classes or fewer.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ZeroShotMetrics {
    pub top1: f64,
    pub top5: f64,
    #[serde(default)]
    pub top10: f64,
    #[serde(default)]
    pub top100: f64,
    /// Classes in the set (top-K with K ≥ classes is 100 by construction).
    #[serde(default)]
    pub classes: usize,
    /// Top-1 accuracy averaged over the classes that have images (ELEVATER's metric for unbalanced sets).
    #[serde(default)]
    pub mean_per_class: f64,
    /// The set's headline metric (what the CAPIVARA table shows).
    #[serde(default)]
    pub metric: ZeroShotMetric,
}

/// Which number a classification set is reported by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ZeroShotMetric {
    /// Top-1 accuracy over images.
    #[default]
    Accuracy,
    /// Top-1 accuracy per class, averaged over classes.
    MeanPerClass,
}

impl ZeroShotMetrics {
    /// The headline value: top-1 or mean-per-class accuracy.
    pub fn headline(&self) -> f64 {
        match self.metric {
            ZeroShotMetric::Accuracy => self.top1,
            ZeroShotMetric::MeanPerClass => self.mean_per_class,
        }
    }

    /// Top-`k` accuracy for `k` in 1, 5, 10, 100 (`None` for another `k`).
    pub fn top(&self, k: usize) -> Option<f64> {
        match k {
            1 => Some(self.top1),
            5 => Some(self.top5),
            10 => Some(self.top10),
            100 => Some(self.top100),
            _ => None,
        }
    }
}

/// The `[classes, embed]` zero-shot classifier of a set's class names and templates.
pub fn class_embeddings<B: Backend>(
    model: &impl Encoders<B>,
    tokenizer: &TextTokenizer,
    set: &ClassificationSet,
    device: &B::Device,
) -> Result<Tensor<B, 2>, DataError> {
    let per_class = set.templates.len();
    let prompts: Vec<String> = set
        .classnames
        .iter()
        .flat_map(|name| set.templates.iter().map(move |t| t.replacen("{}", name, 1)))
        .collect();
    let embeds = embed_texts(model, tokenizer, &prompts, 256, device)?;
    let dim = embeds.dims()[1];
    let mean = embeds
        .reshape([set.classnames.len(), per_class, dim])
        .mean_dim(1)
        .reshape([set.classnames.len(), dim]);
    Ok(l2_normalize(mean))
}

/// Accuracy of `100·cos` logits of normalised image embeddings `[images, embed]` against the set's labels.
pub fn zero_shot_accuracy<B: Backend>(
    image_embeds: Tensor<B, 2>,
    classifier: Tensor<B, 2>,
    labels: &[usize],
) -> ZeroShotMetrics {
    let logits = image_embeds.matmul(classifier.transpose()) * 100.0;
    let [rows, classes] = logits.dims();
    let values = crate::encode::to_host(logits);
    const TOP: [usize; 4] = [1, 5, 10, 100];
    let mut hits = [0usize; 4];
    // (images, top-1 hits) per class.
    let mut per_class = vec![(0usize, 0usize); classes];
    for (row, &label) in labels.iter().enumerate().take(rows) {
        let scores = &values[row * classes..(row + 1) * classes];
        // Pessimistic: every other class the true one does not beat (ties, NaN) ranks above it.
        let own = scores.get(label).copied().unwrap_or(f32::NAN);
        let better = scores
            .iter()
            .enumerate()
            .filter(|&(class, &s)| class != label && !beats(own, s))
            .count();
        for (hit, k) in hits.iter_mut().zip(TOP) {
            *hit += usize::from(better < k);
        }
        if let Some(class) = per_class.get_mut(label) {
            class.0 += 1;
            class.1 += usize::from(better == 0);
        }
    }
    let total = labels.len().max(1) as f64;
    let [top1, top5, top10, top100] = hits.map(|hit| 100.0 * hit as f64 / total);
    let present: Vec<f64> = per_class
        .iter()
        .filter(|(images, _)| *images > 0)
        .map(|&(images, hits)| 100.0 * hits as f64 / images as f64)
        .collect();
    ZeroShotMetrics {
        top1,
        top5,
        top10,
        top100,
        classes,
        mean_per_class: present.iter().sum::<f64>() / present.len().max(1) as f64,
        metric: ZeroShotMetric::Accuracy,
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::ndarray::{NdArray, NdArrayDevice};
    use burn::tensor::TensorData;

    use super::*;

    #[test]
    fn top1_and_top5_count_the_classes_that_score_higher() {
        let device = NdArrayDevice::Cpu;
        // Six classes along the axes of a 6-d space; each image leans towards some classes.
        let classifier = Tensor::<NdArray, 2>::eye(6, &device);
        let images = Tensor::<NdArray, 2>::from_data(
            TensorData::new(
                vec![
                    0.9_f32, 0.1, 0.0, 0.0, 0.0, 0.0, // class 0 first
                    0.1, 0.2, 0.3, 0.4, 0.5, 0.6, // class 0 last of six
                    0.0, 0.5, 0.4, 0.3, 0.2, 0.1, // class 4 fifth
                ],
                [3, 6],
            ),
            &device,
        );
        let metrics = zero_shot_accuracy(images, classifier, &[0, 0, 4]);
        assert!((metrics.top1 - 100.0 / 3.0).abs() < 1e-9, "{metrics:?}");
        assert!((metrics.top5 - 200.0 / 3.0).abs() < 1e-9, "{metrics:?}");
        assert_eq!((metrics.top10, metrics.top100), (100.0, 100.0));
        // Per class: class 0 has one hit in two images (50 %), class 4 none in one (0 %).
        assert!((metrics.mean_per_class - 25.0).abs() < 1e-9, "{metrics:?}");
    }

    /// Ties and NaN count against the true class: an all-NaN model scores 0, not 100.
    #[test]
    fn nan_and_tied_scores_count_against_the_true_class() {
        let device = NdArrayDevice::Cpu;
        let classifier = Tensor::<NdArray, 2>::eye(3, &device);
        let nan =
            Tensor::<NdArray, 2>::from_data(TensorData::new(vec![f32::NAN; 6], [2, 3]), &device);
        let metrics = zero_shot_accuracy(nan, classifier.clone(), &[0, 2]);
        assert_eq!((metrics.top1, metrics.top5), (0.0, 100.0));
        let tied =
            Tensor::<NdArray, 2>::from_data(TensorData::new(vec![0.5_f32; 6], [2, 3]), &device);
        assert_eq!(zero_shot_accuracy(tied, classifier, &[0, 2]).top1, 0.0);
    }
}
