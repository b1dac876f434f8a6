//! Evaluating a model after a stage: the recipe's evaluation suite (real benchmark sets, see
//! `polyclip_eval::suite`), or else the embedded dataset's held-out split in one language: retrieval with every
//! caption of every test image, and zero-shot classification of shape, colour and count.

use std::sync::Arc;

use burn::tensor::backend::Backend;
use polyclip_data::{
    BadInputPolicy, ClipPreprocess, ImageBatcher, ImageTextDataset, ImagenetClassnames, Manifest,
    TextTokenizer,
};
use polyclip_eval::encode::{embed_image_set, embed_texts, ensure_finite};
use polyclip_eval::report::{ModelEvaluation, SetMetrics};
use polyclip_eval::retrieval::evaluate_retrieval;
use polyclip_eval::suite::{EvalSuite, SuiteSettings};
use polyclip_eval::zeroshot::{class_embeddings, zero_shot_accuracy};
use polyclip_models::ClipModel;

use crate::embedded_data::EmbeddedData;
use crate::error::RecipeError;

/// How to evaluate.
pub struct EvalPlan<'a> {
    /// Real benchmark sets, evaluated instead of the embedded ones when given.
    pub suite: Option<&'a EvalSuite>,
    pub policy: BadInputPolicy,
    pub data: &'a EmbeddedData,
    pub language: &'a str,
    pub also_retrieval: &'a [String],
    pub tokenizer: &'a TextTokenizer,
    pub preprocess: ClipPreprocess,
    pub batch_size: usize,
    pub num_workers: usize,
}

impl EvalPlan<'_> {
    /// A retrieval set's name in the report.
    pub fn retrieval_name(language: &str) -> String {
        format!("Shapes-{language} (held-out)")
    }

    /// Retrieval and zero-shot metrics of `model` (inference only).
    pub fn evaluate<B: Backend>(
        &self,
        model: &ClipModel<B>,
        device: &B::Device,
    ) -> Result<ModelEvaluation, RecipeError> {
        if let Some(suite) = self.suite {
            let outcome = suite.run(
                model,
                self.tokenizer,
                &SuiteSettings {
                    preprocess: self.preprocess,
                    batch_size: self.batch_size,
                    num_workers: self.num_workers,
                    policy: self.policy,
                    classnames_dir: ImagenetClassnames::shipped_dir(),
                },
                device,
            )?;
            for absent in &outcome.absent {
                eprintln!("polyclip: evaluation set not present, skipped: {absent}");
            }
            if let Some(first) = outcome.skipped.first() {
                eprintln!(
                    "polyclip: evaluation skipped {} bad input(s); first: {first}",
                    outcome.skipped.len()
                );
            }
            return Ok(outcome.evaluation);
        }
        let mut evaluation = ModelEvaluation::default();
        let images = Arc::new(ImageBatcher::new(self.preprocess, BadInputPolicy::Fail));

        // The test pictures are the same in every language: embed them once.
        let manifest = Manifest::load(
            &self.data.get()?.manifest("test", self.language),
            BadInputPolicy::Fail,
        )?;
        let dataset = ImageTextDataset::new(manifest);
        let image_embeds = ensure_finite(
            embed_image_set(
                model,
                &dataset,
                images.clone(),
                self.batch_size,
                self.num_workers,
                device,
            )?,
            "image",
        )?;
        for language in
            std::iter::once(self.language).chain(self.also_retrieval.iter().map(String::as_str))
        {
            let manifest = Manifest::load(
                &self.data.get()?.manifest("test", language),
                BadInputPolicy::Fail,
            )?;
            let mut captions = Vec::new();
            let mut caption_image = Vec::new();
            for (image, entry) in manifest.entries.iter().enumerate() {
                captions.extend(entry.captions.iter().cloned());
                caption_image.extend(std::iter::repeat_n(image, entry.captions.len()));
            }
            let text_embeds = ensure_finite(
                embed_texts(model, self.tokenizer, &captions, self.batch_size, device)?,
                "text",
            )?;
            evaluation.retrieval.push(SetMetrics {
                set: Self::retrieval_name(language),
                metrics: evaluate_retrieval(image_embeds.clone(), text_embeds, &caption_image),
            });
        }

        let (dataset, sets) = self.data.get()?.classification(self.language)?;
        let image_embeds = ensure_finite(
            embed_image_set(
                model,
                &dataset,
                images,
                self.batch_size,
                self.num_workers,
                device,
            )?,
            "image",
        )?;
        for set in sets {
            let classifier = ensure_finite(
                class_embeddings(model, self.tokenizer, &set, device)?,
                "class",
            )?;
            let metrics = zero_shot_accuracy(image_embeds.clone(), classifier, &set.labels);
            evaluation.zero_shot.push(SetMetrics {
                set: set.name.clone(),
                metrics,
            });
        }
        Ok(evaluation)
    }
}
