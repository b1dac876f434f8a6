//! The one entry every recipe goes through — the built-in binaries and `recipe run FILE`: the recipe's
//! `[recipe] kind` picks the runner (the contrastive/distillation stage runner, [`crate::cli::main_with`], or
//! the captioner's, [`crate::captioner::cli::main_with`]), with the same options and the same run folders.

use std::path::{Path, PathBuf};

use crate::captioner::cli::captioner_args;
use crate::cli::RecipeArgs;
use crate::config::{RecipeKind, read_recipe_file};
use crate::error::RecipeError;

/// Runs the recipe `text` (read from `source`), or the file `--recipe` names instead, with its kind's runner.
pub fn run_recipe_text(args: RecipeArgs, text: &str, source: &Path) -> Result<(), RecipeError> {
    let (text, source): (String, PathBuf) = match &args.common.recipe {
        Some(path) => (read_recipe_file(path)?, path.clone()),
        None => (text.to_owned(), source.to_owned()),
    };
    match RecipeKind::of(&text, &source)? {
        RecipeKind::Contrastive => crate::cli::main_with(args, &text, &source),
        RecipeKind::Captioner => {
            let captioner = captioner_args(&args)?;
            crate::captioner::cli::main_with(&args.common, &captioner, &text, &source)
        }
    }
}

/// The whole `main` of a built-in recipe's binary: run the built-in recipe `name` (recipes/NAME.toml, compiled
/// in) with the parsed options, print the error in one line and exit 1 if it fails.
pub fn run_built_in(name: &str, args: RecipeArgs) {
    let result = match crate::built_in::recipe(name) {
        Some((path, text)) => run_recipe_text(args, text, Path::new(path)),
        None => Err(RecipeError::Invalid {
            key: "recipe",
            value: name.to_owned(),
            reason: "no built-in recipe has this name".into(),
        }),
    };
    if let Err(error) = result {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}
