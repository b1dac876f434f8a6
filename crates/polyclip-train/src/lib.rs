//! Contrastive training for polyclip: the symmetric InfoNCE loss, optimisers and learning-rate schedules as the
//! seed recipes use them, tower freezing, atomic checkpoints with exact resume, a metrics log, and one generic
//! training loop over any `AutodiffBackend`.

pub mod checkpoint;
pub mod error;
pub mod loss;
pub mod metrics_log;
pub mod optimizer;
pub mod schedule;
pub mod trainer;

pub use error::TrainError;
pub use loss::contrastive_loss;
pub use optimizer::{ClipOptimizer, OptimizerConfig};
pub use schedule::LrSchedule;
pub use trainer::{FreezeConfig, TrainConfig, TrainOutcome, Trainer};
