//! polyclip recipes: the published methods as data (TOML recipe files) over one runner, and the binaries
//! that run them (`capivara`, …).

pub mod captioner;
pub mod cli;
pub mod config;
pub mod error;
pub mod evaluate;
pub mod pipeline;
pub mod stage;

pub use config::Recipe;
pub use error::RecipeError;
pub use pipeline::{RecipeJob, RunOptions, RunOutcome, run_recipe};
