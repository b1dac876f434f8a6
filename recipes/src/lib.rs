//! polyclip recipes: the published methods as data (TOML recipe files) over one runner, and the binaries
//! that run them (`capivara`, …).

pub mod announce;
pub mod built_in;
pub mod captioner;
pub mod cli;
pub mod config;
pub mod distill;
pub mod embedded_data;
pub mod error;
pub mod evaluate;
pub mod model_config;
pub mod pipeline;
pub mod pretrained;
pub mod reinit;
pub mod run_options;
pub mod run_plan;
pub mod run_report;
pub mod runner;
pub mod scoring;
pub mod stage;
pub mod stage_key;
pub mod template;

pub use config::Recipe;
pub use error::RecipeError;
pub use pipeline::{RecipeJob, RunOutcome, run_recipe};
pub use run_options::RunOptions;
