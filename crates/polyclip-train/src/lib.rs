//! Training for polyclip: the symmetric InfoNCE loss and masked token cross-entropy, optimisers and
//! learning-rate schedules as the seed recipes use them, tower freezing, atomic checkpoints with exact resume, a
//! metrics log, and one training loop, generic over the backend and the model ([`TrainableModel`]).

pub mod checkpoint;
pub mod error;
pub mod loss;
pub mod metrics_log;
pub mod optimizer;
pub mod schedule;
pub mod trainable;
pub mod trainer;

pub use error::TrainError;
pub use loss::{contrastive_loss, sequence_cross_entropy};
pub use optimizer::{ClipOptimizer, OptimizerConfig};
pub use schedule::LrSchedule;
pub use trainable::TrainableModel;
pub use trainer::{FreezeConfig, TrainConfig, TrainOutcome, Trainer};
