//! Planning a recipe run before any stage trains: the recipe checked, the embedded dataset described (generated
//! only when first used), the model a run starts from and its tokenizer, the evaluation suite, and the model each
//! stage leaves — its config and the tokenizer its texts are read with (a distillation stage swaps the text
//! tower for its student's, and with a pretrained student, the tokenizer too).

use polyclip_data::sources::data_spec::check_data_spec;
use polyclip_data::text::tokenizer_training::train_xlmr_style_bpe;
use polyclip_data::{BadInputPolicy, ClipPreprocess, Manifest, ReadOptions, TextTokenizer};
use polyclip_eval::suite::EvalSuite;
use polyclip_models::ClipModelConfig;
use polyclip_shapes::{Lang, ShapesSpec, shapes_tokenizer};

use crate::announce::announce;
use crate::config::{Recipe, TokenizerChoice};
use crate::distill::{PretrainedStudent, student_config};
use crate::embedded_data::EmbeddedData;
use crate::error::RecipeError;
use crate::model_config::model_config;
use crate::pretrained::PretrainedModel;
use crate::run_options::RunOptions;

/// Everything a run resolves before its first stage.
pub struct RunPlan {
    pub spec: ShapesSpec,
    pub data: EmbeddedData,
    pub suite: Option<EvalSuite>,
    pub preprocess: ClipPreprocess,
    /// The model before the first stage (the checkpoint's, or the recipe's fresh one) and its tokenizer.
    pub start: StageModel,
    /// What each stage leaves, in order.
    pub stages: Vec<StageModel>,
}

/// A model's config and how its texts are tokenized.
pub struct StageModel {
    pub config: ClipModelConfig,
    pub tokenizer: TextTokenizer,
    /// The pretrained encoder a distillation stage's student starts from.
    pub student: Option<PretrainedStudent>,
}

impl RunPlan {
    /// Plans `recipe`; `pretrained` is `--model`, already loaded.
    pub fn new<B: burn::tensor::backend::AutodiffBackend>(
        recipe: &Recipe,
        options: &RunOptions,
        pretrained: Option<&PretrainedModel<B>>,
    ) -> Result<Self, RecipeError> {
        recipe.validate()?;
        recipe.check_runnable()?;
        check_train_data(recipe)?;
        check_languages(recipe)?;
        let spec = ShapesSpec {
            seed: recipe.recipe.seed,
            train_images: recipe.data.train_images,
            test_images: recipe.data.test_images,
            image_px: recipe.data.image_px,
        };
        let data = EmbeddedData::new(spec.clone(), options.run_dir.join("data"));
        let (tokenizer, config, preprocess) = match pretrained {
            Some(loaded) => (
                loaded.tokenizer.clone(),
                loaded.config.clone(),
                loaded.preprocess,
            ),
            None => {
                let tokenizer = recipe_tokenizer(recipe, &data)?;
                let config = model_config(recipe, tokenizer.vocab_size(), tokenizer.pad_id())?;
                let preprocess = ClipPreprocess::new(config.vision_config.image_size as u32);
                (tokenizer, config, preprocess)
            }
        };
        let suite = recipe
            .eval
            .suite
            .as_ref()
            .map(|suite| EvalSuite::load(suite, recipe.eval.data_root.as_deref()))
            .transpose()?;
        let start = StageModel {
            config,
            tokenizer,
            student: None,
        };
        let mut stages: Vec<StageModel> = Vec::with_capacity(recipe.stages.len());
        for stage in &recipe.stages {
            let before = stages.last().unwrap_or(&start);
            let after = match &stage.distill {
                Some(distill) => {
                    let student = distill
                        .student
                        .as_deref()
                        .map(PretrainedStudent::resolve)
                        .transpose()?;
                    StageModel {
                        config: student_config(
                            &before.config,
                            distill,
                            &before.tokenizer,
                            student.as_ref(),
                        ),
                        tokenizer: student
                            .as_ref()
                            .map_or_else(|| before.tokenizer.clone(), |s| s.tokenizer.clone()),
                        student,
                    }
                }
                None => StageModel {
                    config: before.config.clone(),
                    tokenizer: before.tokenizer.clone(),
                    student: None,
                },
            };
            stages.push(after);
        }
        Ok(Self {
            spec,
            data,
            suite,
            preprocess,
            start,
            stages,
        })
    }

    /// The model stage `index` starts from.
    pub fn before(&self, index: usize) -> &StageModel {
        index
            .checked_sub(1)
            .and_then(|previous| self.stages.get(previous))
            .unwrap_or(&self.start)
    }
}

/// Every `[data] train` path exists, and a JSONL manifest holds at least one batch — checked before any stage
/// trains, not when the stage that reads it starts.
fn check_train_data(recipe: &Recipe) -> Result<(), RecipeError> {
    for (language, spec) in &recipe.data.train {
        if let Some(examples) = check_data_spec(spec)?
            && recipe.loader.batch_size > examples
        {
            return Err(RecipeError::Invalid {
                key: "loader.batch_size",
                value: recipe.loader.batch_size.to_string(),
                reason: format!(
                    "a batch cannot be larger than the {examples} examples of {spec} ([data] train.{language})"
                ),
            });
        }
    }
    Ok(())
}

/// The training data of `language`: the recipe's `[data] train` entry, else the embedded captions.
pub fn train_data(
    recipe: &Recipe,
    data: &EmbeddedData,
    language: &str,
) -> Result<String, RecipeError> {
    match recipe.data.train.get(language) {
        Some(path) => Ok(path.clone()),
        None => Ok(data
            .get()?
            .manifest("train", language)
            .display()
            .to_string()),
    }
}

/// The tokenizer of a recipe without `--model`: the embedded one, or one trained on the training captions of
/// every language the recipe names (stages, distillation teachers, evaluation) and its zero-shot prompts.
fn recipe_tokenizer(recipe: &Recipe, data: &EmbeddedData) -> Result<TextTokenizer, RecipeError> {
    let TokenizerChoice::Train { vocab_size } = recipe.model.tokenizer else {
        return Ok(shapes_tokenizer(recipe.model.max_tokens)?);
    };
    let mut languages: Vec<&str> = recipe
        .stages
        .iter()
        .flat_map(|stage| {
            std::iter::once(stage.language.as_str())
                .chain(stage.distill.as_ref().map(|d| d.teacher_language.as_str()))
        })
        .chain(std::iter::once(recipe.eval.language.as_str()))
        .chain(recipe.eval.also_retrieval.iter().map(String::as_str))
        .collect();
    languages.sort_unstable();
    languages.dedup();
    let mut corpus = Vec::new();
    for language in &languages {
        let manifest = Manifest::open(
            &train_data(recipe, data, language)?,
            &ReadOptions::new(BadInputPolicy::Fail, Some(language)),
        )?;
        corpus.extend(
            manifest
                .entries
                .into_iter()
                .flat_map(|entry| entry.captions.into_iter().chain(entry.generated_captions)),
        );
        let Ok((_, sets)) = data.get()?.classification(language) else {
            continue;
        };
        for set in sets {
            for name in &set.classnames {
                corpus.extend(set.templates.iter().map(|t| t.replacen("{}", name, 1)));
            }
        }
    }
    announce(&format!(
        "training a {vocab_size}-entry tokenizer on {} captions and prompts in {}",
        corpus.len(),
        languages.join(", ")
    ));
    let trained = train_xlmr_style_bpe(&corpus, vocab_size)?;
    Ok(TextTokenizer::new(
        trained,
        "<trained>",
        "<pad>",
        recipe.model.max_tokens,
    )?)
}

/// Every language a recipe names must be one the embedded dataset has captions in.
fn check_languages(recipe: &Recipe) -> Result<(), RecipeError> {
    let named = recipe
        .stages
        .iter()
        .flat_map(|stage| {
            std::iter::once(("stage.language", &stage.language)).chain(
                stage
                    .distill
                    .as_ref()
                    .map(|distill| ("stage.distill.teacher_language", &distill.teacher_language)),
            )
        })
        .chain(std::iter::once(("eval.language", &recipe.eval.language)))
        .chain(
            recipe
                .eval
                .also_retrieval
                .iter()
                .map(|l| ("eval.also_retrieval", l)),
        );
    for (key, language) in named {
        let real = match key {
            "stage.language" => recipe.data.train.contains_key(language.as_str()),
            "eval.language" | "eval.also_retrieval" => recipe.eval.suite.is_some(),
            _ => false,
        };
        if !real && Lang::from_code(language).is_none() {
            return Err(RecipeError::Invalid {
                key,
                value: format!("{language:?}"),
                reason: format!(
                    "the embedded dataset has captions in {}",
                    Lang::ALL.map(Lang::code).join(", ")
                ),
            });
        }
    }
    Ok(())
}
