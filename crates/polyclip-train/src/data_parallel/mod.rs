//! Data-parallel training over several devices, of one machine or of several, with burn-collective (burn's
//! `collective` feature): one peer (a thread) per device, each with a replica of the model and its slice of the
//! recipe's batch, as open_clip's DDP does. Across machines, burn-collective's global level joins the nodes.
//!
//! - [`peer`]: one peer's side of the collective: its rows of the batch, the all-gather of embeddings (built from
//!   burn-collective's all-reduce, which is all it has), the mean of the gradients, agreement on whether a step
//!   went through, and the replicas' fingerprint check.
//! - [`launch`]: starts a peer per device on the [`Trainer`](crate::Trainer) and returns rank 0's outcome.
//! - [`nodes`]: several machines: each node's place, its address and the coordinator's (burn-collective's global
//!   orchestrator, hosted by node 0).
//! - [`watchdog`]: a deadline on every operation between nodes (a frozen machine closes no connection).
//!
//! The step itself is the chunked contrastive step ([`crate::chunked_step`]) with its embeddings gathered: every
//! peer embeds its rows, the embeddings of the whole batch are gathered, every peer takes the loss of the whole
//! batch (open_clip's `gather_with_grad = False, local_loss = False`: the same value on every peer) and its gradient
//! with respect to the embeddings, and back-propagates its own rows of it through its towers. The mean of the
//! peers' gradients is then exactly the whole batch's gradient (each peer's embedding gradient is multiplied by
//! the number of peers; the logit scale's gradient, the same on every peer, is not), so one optimiser step on every
//! replica gives what one device with the whole batch gives.

pub mod launch;
pub mod nodes;
pub mod peer;
pub mod watchdog;

pub use launch::fit_data_parallel;
pub use nodes::{HostPort, Nodes, NodesError};
pub use peer::Peer;
