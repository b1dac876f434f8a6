//! Several machines ("nodes") in one data-parallel job: where each node is, and the coordinator they meet at.
//!
//! burn-collective's global level does the talking: every node registers its local peers with a global
//! orchestrator (burn-collective's, reached over WebSocket at `--coordinator`), which tells each node where the
//! others are; all-reduces then go node to node (a ring) over each node's tensor data service at
//! `--node-address`. Node 0 hosts the orchestrator ([`start_coordinator`]), and refuses to start when its port is
//! taken.

use std::fmt;
use std::net::TcpListener;
use std::str::FromStr;
use std::sync::Mutex;

use burn::collective::CollectiveConfig;
use burn_communication::Address;

use crate::error::TrainError;

/// `HOST:PORT`: a node's or the coordinator's address as the other nodes reach it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

/// Why a `HOST:PORT` or a node layout was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodesError {
    #[error("`{0}` is not HOST:PORT (for example 10.0.0.1:29500)")]
    NotHostPort(String),
    #[error("--node-rank {node_rank} is not below --num-nodes {num_nodes} (ranks count from 0)")]
    RankOutOfRange { node_rank: usize, num_nodes: usize },
    #[error("--num-nodes {0}: a job has at least one node")]
    NoNodes(usize),
    #[error(
        "--coordinator and --node-address both use port {0} on node 0, which hosts the coordinator: give the node's address a port of its own"
    )]
    SamePort(u16),
    #[error(
        "--collective-timeout 0: every operation between nodes would time out at once; give it seconds (default 1800)"
    )]
    NoTimeout,
}

impl FromStr for HostPort {
    type Err = NodesError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refuse = || NodesError::NotHostPort(text.to_string());
        let (host, port) = text.rsplit_once(':').ok_or_else(refuse)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains('/') {
            return Err(refuse());
        }
        let port = port.parse::<u16>().map_err(|_| refuse())?;
        if port == 0 {
            return Err(refuse());
        }
        Ok(Self {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl HostPort {
    /// The WebSocket address burn-communication connects to.
    fn ws(&self) -> Result<Address, NodesError> {
        Address::from_str(&format!("ws://{self}"))
            .map_err(|_| NodesError::NotHostPort(self.to_string()))
    }
}

/// This node's place in a job of several machines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nodes {
    /// How many nodes the job has (`--num-nodes`).
    pub num_nodes: usize,
    /// This node's rank, from 0 (`--node-rank`); node 0 hosts the coordinator and its first device is rank 0.
    pub node_rank: usize,
    /// Where burn-collective's orchestrator listens (`--coordinator`), the same on every node.
    pub coordinator: HostPort,
    /// Where the other nodes reach this one (`--node-address`); its port serves this node's tensors.
    pub node_address: HostPort,
    /// How long an operation between nodes may wait for the others before this node gives up
    /// (`--collective-timeout`; [`DEFAULT_TIMEOUT`] unless [`with_timeout`](Self::with_timeout)).
    pub timeout: std::time::Duration,
}

/// The default `--collective-timeout`: 30 minutes, PyTorch's default for its process groups.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

impl Nodes {
    pub fn new(
        num_nodes: usize,
        node_rank: usize,
        coordinator: HostPort,
        node_address: HostPort,
    ) -> Result<Self, NodesError> {
        if num_nodes == 0 {
            return Err(NodesError::NoNodes(num_nodes));
        }
        if node_rank >= num_nodes {
            return Err(NodesError::RankOutOfRange {
                node_rank,
                num_nodes,
            });
        }
        // Node 0 listens on both ports (every interface), whatever names the two addresses use.
        if node_rank == 0 && coordinator.port == node_address.port {
            return Err(NodesError::SamePort(coordinator.port));
        }
        Ok(Self {
            num_nodes,
            node_rank,
            coordinator,
            node_address,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The same layout with another deadline for the operations between nodes.
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Result<Self, NodesError> {
        if timeout.is_zero() {
            return Err(NodesError::NoTimeout);
        }
        self.timeout = timeout;
        Ok(self)
    }

    /// burn-collective's config for this node's `local_devices` peers: its local level (threads) and the global
    /// level (this node among `num_nodes`).
    pub(crate) fn collective_config(
        &self,
        local_devices: usize,
    ) -> Result<CollectiveConfig, NodesError> {
        Ok(CollectiveConfig::default()
            .with_num_devices(local_devices)
            .with_num_nodes(self.num_nodes as u32)
            .with_global_address(self.coordinator.ws()?)
            .with_node_address(self.node_address.ws()?)
            .with_data_service_port(self.node_address.port))
    }
}

/// Checks that this node can serve its tensors on `port` (every interface), its `--node-address` port, before it
/// joins the others; `rank` is its first peer's. burn-collective's data service would bind it only while joining,
/// and say why it cannot in its own words.
pub fn check_node_port(port: u16, rank: usize) -> Result<(), TrainError> {
    drop(TcpListener::bind(("0.0.0.0", port)).map_err(|e| TrainError::Collective {
        rank,
        reason: format!(
            "this node cannot serve its tensors on port {port}: {e} (another job's node? pick another --node-address port)"
        ),
    })?);
    Ok(())
}

/// Starts burn-collective's global orchestrator on `port` (every interface) in a thread of this process, after
/// checking that the port is free (burn-collective would only log a failure to listen).
pub fn start_coordinator(port: u16) -> Result<(), TrainError> {
    let refused = |reason: String| TrainError::Collective { rank: 0, reason };
    drop(TcpListener::bind(("0.0.0.0", port)).map_err(|e| {
        refused(format!(
            "the coordinator cannot listen on port {port}: {e} (another job's coordinator? pick another --coordinator port)"
        ))
    })?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| refused(format!("the coordinator's runtime: {e}")))?;
    std::thread::Builder::new()
        .name("polyclip-coordinator".into())
        .spawn(move || {
            // Until the process exits: burn-collective's own start stops on SIGINT/SIGTERM, which it then catches,
            // and the training process would no longer stop on them.
            runtime.block_on(burn::collective::start_global_orchestrator_until(
                port,
                std::future::pending(),
            ))
        })
        .map_err(|e| refused(format!("the coordinator's thread: {e}")))?;
    Ok(())
}

/// The node layout this process joined the global collective with, once for the whole process: burn-collective's
/// orchestrator numbers the nodes by registration and forgets a node that finishes, so a node that left between two
/// stages and registered again could be given the number of one that has not left yet. A process therefore
/// registers its peers once, at its first data-parallel stage, and stays registered until it exits.
static JOINED: Mutex<Option<(Nodes, usize)>> = Mutex::new(None);

/// Whether this process still has to register its `local_devices` peers with `nodes` (true the first time, once
/// `prepare` succeeded: a process whose preparation failed has not joined); refuses another layout than the one
/// it joined with.
pub(crate) fn first_join(
    nodes: &Nodes,
    local_devices: usize,
    prepare: impl FnOnce() -> Result<(), TrainError>,
) -> Result<bool, TrainError> {
    let mut joined = JOINED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match &*joined {
        None => {
            prepare()?;
            *joined = Some((nodes.clone(), local_devices));
            Ok(true)
        }
        Some((same, devices)) if same == nodes && *devices == local_devices => Ok(false),
        Some(_) => Err(TrainError::Collective {
            rank: 0,
            reason: "this process already joined a job of other nodes or devices; one process runs one job".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_parses_hosts_names_and_ipv6_and_refuses_the_rest() {
        let parsed: HostPort = "10.0.0.1:29500".parse().expect("parses");
        assert_eq!(parsed.host, "10.0.0.1");
        assert_eq!(parsed.port, 29500);
        assert_eq!(parsed.to_string(), "10.0.0.1:29500");
        let named: HostPort = "node-7.cluster:80".parse().expect("parses");
        assert_eq!(named.to_string(), "node-7.cluster:80");
        let v6: HostPort = "[::1]:9000".parse().expect("parses");
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.to_string(), "[::1]:9000");
        for bad in [
            "29500",
            "host:",
            ":29500",
            "host:0",
            "host:70000",
            "ws://host:1",
        ] {
            assert_eq!(
                bad.parse::<HostPort>().expect_err("refused").to_string(),
                format!("`{bad}` is not HOST:PORT (for example 10.0.0.1:29500)"),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_node_layout_refuses_a_rank_past_the_nodes_and_a_shared_port() {
        let at = |text: &str| text.parse::<HostPort>().expect("parses");
        let error = Nodes::new(2, 2, at("h:1"), at("h:2")).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "--node-rank 2 is not below --num-nodes 2 (ranks count from 0)"
        );
        let error = Nodes::new(2, 0, at("localhost:1"), at("127.0.0.1:1")).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "--coordinator and --node-address both use port 1 on node 0, which hosts the coordinator: give the node's address a port of its own"
        );
        // Another machine may use the coordinator's port number for itself.
        let node = Nodes::new(2, 1, at("h:1"), at("g:1")).expect("node 1");
        assert_eq!(
            node.with_timeout(std::time::Duration::ZERO)
                .expect_err("refused")
                .to_string(),
            "--collective-timeout 0: every operation between nodes would time out at once; give it seconds (default 1800)"
        );
    }
}
