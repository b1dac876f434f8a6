//! The one error of the augmentation crate: a chain that cannot run, found when it is built.

/// An augmentation of a chain with a parameter it cannot run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("augmentation `{op}`: `{field}` {reason}")]
pub struct AugmentError {
    pub op: &'static str,
    pub field: &'static str,
    pub reason: String,
}
