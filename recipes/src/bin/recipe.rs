//! `recipe`: author and run recipes. `recipe new --lang hi --name capivara-hi` writes a commented recipe for a
//! new language from a built-in one; `recipe run FILE` runs any recipe file; `recipe list` names the built-ins.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use recipes::cli::RecipeArgs;
use recipes::error::RecipeError;

/// Author and run polyclip recipes (TOML files over one runner).
#[derive(Parser, Debug)]
#[command(name = "recipe", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a commented recipe for a new language, starting from a built-in recipe.
    New {
        /// Language code of the captions to train on (ISO 639-1, e.g. hi, xh).
        #[arg(long)]
        lang: String,
        /// The recipe's name (its run folder is runs/NAME-seedNNN); default: <from>-<lang>.
        #[arg(long)]
        name: Option<String>,
        /// The built-in recipe to start from (`recipe list`).
        #[arg(long, default_value = "capivara-opt")]
        from: String,
        /// Where to write it; default: NAME.toml in the current folder. `-` prints it.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Run a recipe file (every option of the recipe binaries applies).
    Run {
        /// The recipe TOML.
        file: PathBuf,
        #[command(flatten)]
        args: Box<RecipeArgs>,
    },
    /// List the built-in recipes.
    List,
}

fn main() {
    if let Err(error) = run(Cli::parse()) {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<(), RecipeError> {
    match cli.command {
        Command::New {
            lang,
            name,
            from,
            output,
            force,
        } => {
            let name = name.unwrap_or_else(|| format!("{from}-{lang}"));
            let text = recipes::template::new_recipe(&from, &lang, &name)?;
            let path = output.unwrap_or_else(|| PathBuf::from(format!("{name}.toml")));
            if path.as_os_str() == "-" {
                print!("{text}");
                return Ok(());
            }
            if path.exists() && !force {
                return Err(RecipeError::Invalid {
                    key: "--output",
                    value: path.display().to_string(),
                    reason: "the file exists; pass --force to replace it".into(),
                });
            }
            std::fs::write(&path, text).map_err(|e| RecipeError::Io {
                path: path.clone(),
                source: e,
            })?;
            println!(
                "wrote {} ({from} for `{lang}`); run it with: recipe run {}",
                path.display(),
                path.display()
            );
            Ok(())
        }
        Command::Run { file, args } => {
            let text = recipes::config::read_recipe_file(&file)?;
            recipes::runner::run_recipe_text(*args, &text, &file)
        }
        Command::List => {
            for (name, path, _) in recipes::built_in::RECIPES {
                println!("{name:<16} {path:<30} contrastive");
            }
            let (name, path, _) = recipes::built_in::CAPTIONER;
            println!("{name:<16} {path:<30} captioner");
            Ok(())
        }
    }
}
