//! Zero-shot labels for one picture, as clip-italian's demo computes them: each label goes through every
//! template, the class embedding is the normalised mean of its prompts' embeddings, and the probabilities are
//! the softmax of the model's scaled cosine similarities. Shared by `polyclip classify` and `/api/classify`.

use crate::error::CliError;
use crate::model::Embeddings;

/// The prompts to embed, label by label, template by template (`{}` alone when there are no templates); a
/// template without `{}` is an error naming it.
pub fn prompts(labels: &[String], templates: &[String]) -> Result<(Vec<String>, usize), CliError> {
    let templates: Vec<String> = if templates.is_empty() {
        vec!["{}".to_string()]
    } else {
        templates.to_vec()
    };
    if let Some(bad) = templates.iter().find(|t| !t.contains("{}")) {
        return Err(CliError::Usage(format!(
            "template {bad:?} has no {{}} for the label"
        )));
    }
    let prompts = labels
        .iter()
        .flat_map(|label| templates.iter().map(move |t| t.replacen("{}", label, 1)))
        .collect();
    Ok((prompts, templates.len()))
}

/// One probability per label, in label order. `prompt_embeddings` has `labels × templates` rows, in the order
/// of [`prompts`]; `picture` is one L2-normalised embedding; `scale` multiplies cosines into logits.
pub fn label_probabilities(
    picture: &[f32],
    prompt_embeddings: &Embeddings,
    templates: usize,
    scale: f32,
) -> Vec<f32> {
    let labels = prompt_embeddings.rows / templates.max(1);
    let dim = prompt_embeddings.dim;
    let logits: Vec<f32> = (0..labels)
        .map(|class| {
            let mut mean = vec![0.0_f32; dim];
            for t in 0..templates {
                for (m, v) in mean
                    .iter_mut()
                    .zip(prompt_embeddings.row(class * templates + t))
                {
                    *m += v;
                }
            }
            let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            scale
                * mean
                    .iter()
                    .zip(picture)
                    .map(|(m, p)| m / norm * p)
                    .sum::<f32>()
        })
        .collect();
    let max = logits.iter().copied().fold(f32::MIN, f32::max);
    let total: f32 = logits.iter().map(|l| (l - max).exp()).sum();
    logits.iter().map(|l| (l - max).exp() / total).collect()
}
