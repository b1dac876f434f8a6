//! Which captions of a picture a training draw picks from (CAPIVARA's caption strategies): the original
//! captions, synthetic (generated) ones, and their ranking by a baseline model's image–text similarity.
//!
//! A manifest line may carry `generated_captions` and `similarities` (one per caption, originals first then
//! generated, as CAPIVARA's `similarities-pt`). Every draw takes one candidate uniformly at random.

use serde::{Deserialize, Serialize};

use crate::sources::manifest::ManifestEntry;

/// The candidate captions of a draw.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum CaptionStrategy {
    /// Every caption, original and generated.
    #[default]
    All,
    /// The first `keep` original captions only.
    Original {
        #[serde(default = "default_keep")]
        keep: usize,
    },
    /// CAPIVARA: the first `keep` originals (`captions-pt[:2]`) plus every generated caption.
    OriginalAndGenerated {
        #[serde(default = "default_keep")]
        keep: usize,
    },
    /// CAPIVARA's `filter-by-ranking`: of those candidates, the `top_k` most similar to the picture.
    FilterByRanking {
        #[serde(default = "default_keep")]
        keep: usize,
        #[serde(default = "default_top_k")]
        top_k: usize,
    },
    /// Of those candidates, the ones at least `min_similarity` similar to the picture (the most similar one
    /// when none is).
    Threshold {
        #[serde(default = "default_keep")]
        keep: usize,
        min_similarity: f32,
    },
}

fn default_keep() -> usize {
    2
}
fn default_top_k() -> usize {
    5
}

impl CaptionStrategy {
    /// Whether the strategy ranks captions, so every entry needs `similarities`.
    pub fn needs_similarities(&self) -> bool {
        matches!(self, Self::FilterByRanking { .. } | Self::Threshold { .. })
    }

    /// The captions of `entry` a draw may pick, in a fixed order.
    pub fn candidates<'a>(&self, entry: &'a ManifestEntry) -> Vec<&'a str> {
        let originals = entry.captions.len();
        let all = entry
            .captions
            .iter()
            .chain(&entry.generated_captions)
            .map(String::as_str)
            .enumerate();
        let similarity = |index: usize| entry.similarities.get(index).copied();
        let pool = |keep: usize| -> Vec<(usize, &'a str)> {
            all.clone()
                .filter(|&(index, _)| index < keep.min(originals) || index >= originals)
                .collect()
        };
        let picked: Vec<(usize, &str)> = match *self {
            Self::All => all.clone().collect(),
            Self::Original { keep } => all.clone().take(keep.clamp(1, originals)).collect(),
            Self::OriginalAndGenerated { keep } => pool(keep),
            Self::FilterByRanking { keep, top_k } => {
                let mut ranked = pool(keep);
                // Stable: equal similarities keep file order.
                ranked.sort_by(|a, b| {
                    let (a, b) = (similarity(a.0), similarity(b.0));
                    b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal)
                });
                ranked.truncate(top_k.max(1));
                ranked
            }
            Self::Threshold {
                keep,
                min_similarity,
            } => {
                let candidates = pool(keep);
                let above: Vec<(usize, &str)> = candidates
                    .iter()
                    .copied()
                    .filter(|&(index, _)| similarity(index).is_some_and(|s| s >= min_similarity))
                    .collect();
                if above.is_empty() {
                    candidates
                        .into_iter()
                        .max_by(|a, b| {
                            similarity(a.0)
                                .partial_cmp(&similarity(b.0))
                                .unwrap_or(std::cmp::Ordering::Equal)
                        })
                        .into_iter()
                        .collect()
                } else {
                    above
                }
            }
        };
        picked.into_iter().map(|(_, caption)| caption).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn entry() -> ManifestEntry {
        ManifestEntry {
            image: PathBuf::from("a.png").into(),
            captions: vec!["o1".into(), "o2".into(), "o3".into()],
            generated_captions: vec!["g1".into(), "g2".into()],
            similarities: vec![0.30, 0.10, 0.50, 0.20, 0.25],
            lang: None,
            line: 1,
        }
    }

    #[test]
    fn strategies_pick_capivaras_candidates() {
        let entry = entry();
        assert_eq!(
            CaptionStrategy::All.candidates(&entry),
            ["o1", "o2", "o3", "g1", "g2"]
        );
        assert_eq!(
            CaptionStrategy::Original { keep: 2 }.candidates(&entry),
            ["o1", "o2"]
        );
        assert_eq!(
            CaptionStrategy::OriginalAndGenerated { keep: 2 }.candidates(&entry),
            ["o1", "o2", "g1", "g2"]
        );
        // o3 (0.50) is not a candidate: only the first two originals are.
        assert_eq!(
            CaptionStrategy::FilterByRanking { keep: 2, top_k: 3 }.candidates(&entry),
            ["o1", "g2", "g1"]
        );
        assert_eq!(
            CaptionStrategy::Threshold {
                keep: 2,
                min_similarity: 0.22
            }
            .candidates(&entry),
            ["o1", "g2"]
        );
        assert_eq!(
            CaptionStrategy::Threshold {
                keep: 2,
                min_similarity: 0.9
            }
            .candidates(&entry),
            ["o1"],
            "the best one when none passes"
        );
    }
}
