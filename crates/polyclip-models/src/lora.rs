//! LoRA (Hu et al., 2021) as PEFT applies it: a `Linear` whose frozen weight `W` gains a trainable low-rank
//! update, `y = x·W + b + (alpha / r)·(x·A)·B`, with `A` `[in, r]` drawn like PEFT's `kaiming_uniform_(a=√5)`
//! and `B` `[r, out]` zero, so an adapter starts as the identity update.
//!
//! [`LoraLinear`] keeps `Linear`'s parameter names (`weight`, `bias`), so checkpoints load into it unchanged;
//! the adapter, when attached, lives under `adapter.lora_a` / `adapter.lora_b`. Adapters are attached by key
//! path ([`LoraTargets`]) to the layers a model lists in [`LoraLinear`] form (the BERT/XLM-R encoder's
//! attention and feed-forward layers), never to embedding tables. Trained adapters are set with
//! [`LoraLinear::set_adapter`]; `polyclip_checkpoints::peft` reads and writes them as PEFT adapter folders.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Tensor, TensorData, backend::Backend};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// The low-rank pair of one adapted layer.
#[derive(Module, Debug)]
pub struct LoraAdapter<B: Backend> {
    /// PEFT's `lora_A`, stored `[in, r]` as burn stores Linear weights.
    pub lora_a: Linear<B>,
    /// PEFT's `lora_B`, `[r, out]`, zero at attachment.
    pub lora_b: Linear<B>,
    /// `alpha / r`.
    pub scaling: f64,
}

impl<B: Backend> LoraAdapter<B> {
    /// The rank `r` of the update.
    pub fn rank(&self) -> usize {
        self.lora_a.weight.dims()[1]
    }
}

/// A `Linear` that can carry a LoRA adapter.
#[derive(Module, Debug)]
pub struct LoraLinear<B: Backend> {
    /// `[in, out]`, as `burn::nn::Linear`.
    pub weight: Param<Tensor<B, 2>>,
    pub bias: Option<Param<Tensor<B, 1>>>,
    pub adapter: Option<LoraAdapter<B>>,
}

impl<B: Backend> From<Linear<B>> for LoraLinear<B> {
    fn from(linear: Linear<B>) -> Self {
        Self {
            weight: linear.weight,
            bias: linear.bias,
            adapter: None,
        }
    }
}

impl<B: Backend> LoraLinear<B> {
    /// `x·W + b`, plus the adapter's `(alpha/r)·(x·A)·B` when one is attached.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let base = burn::tensor::module::linear(
            x.clone(),
            self.weight.val(),
            self.bias.as_ref().map(Param::val),
        );
        match &self.adapter {
            Some(adapter) => {
                base + adapter.lora_b.forward(adapter.lora_a.forward(x)) * adapter.scaling
            }
            None => base,
        }
    }

    /// `(in, out)` features.
    pub fn shape(&self) -> (usize, usize) {
        let [d_in, d_out] = self.weight.dims();
        (d_in, d_out)
    }

    /// Attaches a fresh adapter drawn from `rng` (replacing any previous one) and freezes the base weight and
    /// bias, so that only the adapter trains (PEFT's default).
    fn attach(&mut self, config: &LoraConfig, rng: &mut Pcg64) {
        let device = self.weight.device();
        let (d_in, d_out) = self.shape();
        let rank = config.r;
        // kaiming_uniform_(a=√5) on PEFT's [r, in] lora_A: bound = 1/√in.
        let bound = 1.0 / (d_in as f64).sqrt();
        let values: Vec<f32> = (0..d_in * rank)
            .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * bound) as f32)
            .collect();
        let lora_a = Linear {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(values, [d_in, rank]),
                &device,
            )),
            bias: None,
        };
        let lora_b = Linear {
            weight: Param::from_tensor(Tensor::zeros([rank, d_out], &device)),
            bias: None,
        };
        self.adapter = Some(LoraAdapter {
            lora_a,
            lora_b,
            scaling: config.scaling(),
        });
        self.freeze_base();
    }

    /// Attaches an adapter with the given matrices in burn's layout (`lora_a` `[in, r]`, `lora_b` `[r, out]`,
    /// the transposes of PEFT's `lora_A.weight` / `lora_B.weight`) and scaling, replacing any previous one, and
    /// freezes the base weight and bias as [`attach_lora`] does: how trained adapters are loaded.
    pub fn set_adapter(
        &mut self,
        lora_a: Tensor<B, 2>,
        lora_b: Tensor<B, 2>,
        scaling: f64,
    ) -> Result<(), ModelError> {
        let (d_in, d_out) = self.shape();
        let [a_in, rank] = lora_a.dims();
        let [b_rank, b_out] = lora_b.dims();
        if a_in != d_in || b_rank != rank || b_out != d_out || rank == 0 {
            return Err(ModelError::invalid(
                "lora adapter",
                format!("A [{a_in}, {rank}], B [{b_rank}, {b_out}]"),
                format!(
                    "a layer of {d_in} → {d_out} features takes A [{d_in}, r] and B [r, {d_out}] with r ≥ 1"
                ),
            ));
        }
        if !scaling.is_finite() {
            return Err(ModelError::invalid(
                "lora adapter scaling",
                scaling,
                "must be finite",
            ));
        }
        let linear = |weight: Tensor<B, 2>| Linear {
            weight: Param::from_tensor(weight),
            bias: None,
        };
        self.adapter = Some(LoraAdapter {
            lora_a: linear(lora_a),
            lora_b: linear(lora_b),
            scaling,
        });
        self.freeze_base();
        Ok(())
    }

    /// Only the adapter trains in an adapted layer (PEFT's default).
    fn freeze_base(&mut self) {
        self.weight = self.weight.clone().set_require_grad(false);
        self.bias = self.bias.take().map(|bias| bias.set_require_grad(false));
    }

    /// Folds the adapter into the weight (`W + (alpha/r)·A·B`) and drops it: a plain layer again, for export.
    pub fn merge(&mut self) {
        if let Some(adapter) = self.adapter.take() {
            let update = adapter
                .lora_a
                .weight
                .val()
                .matmul(adapter.lora_b.weight.val())
                * adapter.scaling;
            self.weight = Param::from_tensor(self.weight.val() + update);
        }
    }
}

/// Which layers get adapters and how large.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank of the update.
    pub r: usize,
    /// The update is scaled by `alpha / r`.
    pub lora_alpha: f64,
    /// PEFT's `target_modules`: a name matches a layer whose key path ends with `.{name}` (or equals it); a
    /// name with `*` is a glob over the whole key path (`encoder.layer.*.attention.self.query`).
    pub target_modules: Vec<String>,
    /// Seed of the adapters' initial `A` matrices.
    #[serde(default)]
    pub seed: u64,
}

impl LoraConfig {
    /// `alpha / r`.
    pub fn scaling(&self) -> f64 {
        self.lora_alpha / self.r as f64
    }

    /// The rank must be positive and there must be something to adapt.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.r == 0 {
            return Err(ModelError::invalid(
                "lora.r",
                0,
                "the rank must be at least 1",
            ));
        }
        if self.target_modules.is_empty() {
            return Err(ModelError::invalid(
                "lora.target_modules",
                "[]",
                "name at least one layer, e.g. [\"query\", \"value\"]",
            ));
        }
        Ok(())
    }
}

/// Key-path matching of [`LoraConfig::target_modules`].
pub struct LoraTargets<'a> {
    patterns: &'a [String],
}

impl<'a> LoraTargets<'a> {
    pub fn new(patterns: &'a [String]) -> Self {
        Self { patterns }
    }

    /// Whether the layer at `path` (HF key naming, without `.weight`) is a target.
    pub fn matches(&self, path: &str) -> bool {
        self.patterns.iter().any(|pattern| {
            if pattern.contains('*') {
                glob_matches(pattern, path)
            } else {
                path == pattern || path.ends_with(&format!(".{pattern}"))
            }
        })
    }
}

/// `*` matches any run of characters (dots included); everything else is literal.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = match parts.split_first() {
        Some(split) => split,
        None => return text.is_empty(),
    };
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for part in middle {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.ends_with(last)
}

/// A module whose `LoraLinear` layers can be listed with their HF key paths.
pub trait LoraLayers<B: Backend> {
    /// Every adaptable layer with its key path relative to the module (HF naming).
    fn lora_layers(&mut self) -> Vec<(String, &mut LoraLinear<B>)>;
}

/// Attaches adapters to the layers of `module` that `config` targets; returns their key paths (prefixed with
/// `prefix`). Only the adapters stay trainable in the adapted layers; it is an error when nothing matches.
pub fn attach_lora<B: Backend, M: LoraLayers<B>>(
    module: &mut M,
    config: &LoraConfig,
    prefix: &str,
) -> Result<Vec<String>, ModelError> {
    config.validate()?;
    let targets = LoraTargets::new(&config.target_modules);
    let mut rng = Pcg64::seed_from_u64(config.seed);
    let mut attached = Vec::new();
    for (path, layer) in module.lora_layers() {
        let full = if prefix.is_empty() {
            path
        } else {
            format!("{prefix}.{path}")
        };
        if targets.matches(&full) {
            layer.attach(config, &mut rng);
            attached.push(full);
        }
    }
    if attached.is_empty() {
        return Err(ModelError::invalid(
            "lora.target_modules",
            format!("{:?}", config.target_modules),
            "no layer of the text tower matches; its layers are named like \
             encoder.layer.0.attention.self.query",
        ));
    }
    Ok(attached)
}

/// Merges every adapter of `module` into its layer's weight.
pub fn merge_lora<B: Backend, M: LoraLayers<B>>(module: &mut M) {
    for (_, layer) in module.lora_layers() {
        layer.merge();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peft_style_names_match_by_suffix_and_globs_match_the_whole_path() {
        let patterns = vec!["query".to_string(), "layer.1.*.value".to_string()];
        let targets = LoraTargets::new(&patterns);
        assert!(targets.matches("encoder.layer.0.attention.self.query"));
        assert!(!targets.matches("encoder.layer.0.attention.self.key"));
        assert!(!targets.matches("encoder.layer.0.attention.self.value"));
        assert!(!targets.matches("encoder.layer.1.attention.self.value"));
        let patterns = vec!["*.layer.1.*.value".to_string()];
        let targets = LoraTargets::new(&patterns);
        assert!(targets.matches("encoder.layer.1.attention.self.value"));
        assert!(!targets.matches("encoder.layer.11.attention.self.query"));
        assert!(!targets.matches("encoder.layer.10.attention.self.value"));
        // `query` must not match a layer merely ending in the letters (`subquery`).
        let patterns = vec!["query".to_string()];
        assert!(!LoraTargets::new(&patterns).matches("encoder.subquery"));
    }
}
