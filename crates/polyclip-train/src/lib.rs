//! Training for polyclip: the symmetric InfoNCE loss and masked token cross-entropy, optimisers (torch's Adam
//! and AdamW, optax's AdaBelief with adaptive gradient clipping) and learning-rate schedules as the methods
//! use them, tower freezing, atomic checkpoints with exact resume, a guard that stops a run whose weights become
//! NaN or infinite, a metrics log, and one training loop, generic over the backend and the model ([`TrainableModel`]).

pub mod adabelief;
pub mod agc;
pub mod checkpoint;
pub mod chunked_step;
pub mod data_parallel;
pub mod distillation;
pub mod error;
pub mod failpoint;
pub mod finite;
pub mod loss;
pub mod loss_scale;
pub mod metrics_log;
pub mod optimizer;
pub mod precision;
pub mod record_file;
pub mod run_lock;
pub mod schedule;
pub mod torch_adam;
mod torch_adam_flex;
pub mod train_config;
pub mod trainable;
pub mod trainer;

pub use adabelief::AdaBelief;
pub use agc::AgcConfig;
pub use error::TrainError;
pub use loss::{contrastive_loss, sequence_cross_entropy};
pub use loss_scale::{LossScaleConfig, LossScaler};
pub use optimizer::{ClipOptimizer, OptimizerConfig, TorchAdam};
pub use precision::Precision;
pub use schedule::LrSchedule;
pub use train_config::{EarlyStopping, FreezeConfig, NanPolicy, TrainConfig};
pub use trainable::{StepContext, StepGradients, TrainableModel};
pub use trainer::{TrainOutcome, Trainer};
