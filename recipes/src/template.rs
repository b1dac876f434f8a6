//! `recipe new`: a commented recipe for a new language, written from one of the built-in recipes.

use crate::built_in;
use crate::config::Recipe;
use crate::error::RecipeError;

/// The TOML of a new recipe `name` for language `lang`, from the built-in recipe `from`.
pub fn new_recipe(from: &str, lang: &str, name: &str) -> Result<String, RecipeError> {
    let (path, text) = built_in::recipe(from).ok_or_else(|| RecipeError::Invalid {
        key: "--from",
        value: format!("{from:?}"),
        reason: format!(
            "the built-in recipes are {}",
            built_in::RECIPES.map(|(name, _, _)| name).join(", ")
        ),
    })?;
    // The language the recipe targets is its evaluation language.
    let target = Recipe::parse(text, std::path::Path::new(path))?
        .eval
        .language;
    if lang.is_empty() || !lang.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
        return Err(RecipeError::Invalid {
            key: "--lang",
            value: format!("{lang:?}"),
            reason: "a language code in lower case, e.g. hi, xh, pt-br".into(),
        });
    }
    let mut renamed = false;
    let body: String = text
        .lines()
        .skip_while(|line| line.starts_with('#') || line.is_empty())
        .map(|line| {
            let line = if line.starts_with("name = ") && !renamed {
                // The [recipe] table comes first: its name, not a stage's.
                renamed = true;
                format!("name = \"{name}\"")
            } else if line.starts_with("title = ") {
                format!("title = \"{name}: {from} for `{lang}`\"")
            } else if line.trim_start().starts_with("language = ") {
                line.replace(&format!("\"{target}\""), &format!("\"{lang}\""))
            } else {
                line.to_owned()
            };
            line + "\n"
        })
        .collect();
    Ok(format!(
        "# {name}: the {from} recipe for language `{lang}`, written by `recipe new` from {path}.\n\
         #\n\
         # Run it with `cargo run --release -p recipes --bin recipe -- run {name}.toml` (add `--backend cuda` on a\n\
         # GPU, `--print-recipe` to see it with every default filled in, `--set KEY=VALUE` to override a value).\n\
         # What to change for a new language (recipes/README.md walks through each):\n\
         # - [data]: the embedded dataset has captions in en, pt, it, es, de, fr and hi (reading your own\n\
         #   manifests and WebDataset shards from a recipe is not wired yet; see the README).\n\
         # - [model]: the embedded tokenizer covers en, pt, it, es, de, fr; `tokenizer = {{ train = {{ vocab_size\n\
         #   = 1500 }} }}` trains one on the recipe's captions (a real run keeps the base model's tokenizer:\n\
         #   XLM-R's covers 100 languages).\n\
         # - [[stage]]: `language` of each stage; a LoRA stage (`[stage.lora]`) for one GPU, full fine-tuning\n\
         #   otherwise; `freeze`, optimiser and schedule as the method's paper has them.\n\
         # - [eval]: the language of the test captions and class names (datasets/classnames: pt, it, es, en, hi, xh).\n\
         #\n\
         # The method's own notes, from {path}:\n\
         #\n{}\n{body}",
        text.lines()
            .take_while(|line| line.starts_with('#') || line.is_empty())
            .filter(|line| !line.is_empty())
            .map(|line| format!("{line}\n"))
            .collect::<String>()
            .trim_end(),
    ))
}
