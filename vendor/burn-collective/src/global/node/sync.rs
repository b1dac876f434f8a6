use std::{
    collections::{HashMap, hash_map::Entry}, // polyclip
    marker::PhantomData,
    sync::{Arc, Mutex},
    vec,
};

use burn_communication::{CommunicationChannel, Message, Protocol, ProtocolClient};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, RwLock};

use crate::{NodeId, node::base::NodeState};

/// Handles the status of sync requests from other nodes
pub(crate) struct SyncService<P: Protocol> {
    /// Current node's state, shared with the thread that does aggregations
    node_state: Arc<RwLock<Option<NodeState>>>,
    /// The number of peers that have requested to sync with us since the last successful sync.
    syncing_peers: Mutex<Vec<NodeId>>,
    /// Notification on each incoming sync request
    sync_notif: Notify,
    /// polyclip: one connection to each other node, kept open. A new connection per barrier (one barrier per
    /// all-reduce, one all-reduce per parameter tensor) left hundreds of sockets in TIME_WAIT per training step,
    /// enough to run a fast job out of ports.
    connections: tokio::sync::Mutex<HashMap<NodeId, <P::Client as ProtocolClient>::Channel>>,

    _p: PhantomData<P>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SyncRequest(NodeId);

impl<P: Protocol> SyncService<P> {
    pub fn new(node_state: Arc<RwLock<Option<NodeState>>>) -> Self {
        Self {
            node_state,
            syncing_peers: Mutex::new(vec![]),
            sync_notif: Notify::new(),
            connections: tokio::sync::Mutex::new(HashMap::new()), // polyclip
            _p: PhantomData,
        }
    }

    fn add_syncing_peer(&self, peer: NodeId) {
        let mut syncing_peers = self.syncing_peers.lock().unwrap();
        syncing_peers.push(peer);
    }

    /// Sync with all peers.
    pub async fn sync(&self) {
        // we can't sync while we register
        let node_state = self.node_state.read().await;
        let node_state = node_state
            .as_ref()
            .expect("Trying to sync a node before having registered to the orchestrator");

        // this peer is syncing
        self.add_syncing_peer(node_state.node_id);
        for (id, addr) in &node_state.nodes {
            if *id == node_state.node_id {
                continue;
            }

            // polyclip: the node's open connection, or a new one the first time.
            let mut connections = self.connections.lock().await;
            let connection = match connections.entry(*id) {
                Entry::Occupied(open) => open.into_mut(),
                Entry::Vacant(none) => none.insert(
                    P::Client::connect(addr.clone(), "sync")
                        .await
                        .expect("Couldn't connect to peer for sync"),
                ),
            };
            let msg = SyncRequest(node_state.node_id);
            let sync_bytes = rmp_serde::to_vec(&msg).unwrap();
            connection
                .send(Message::new(sync_bytes.into()))
                .await
                .expect("Peer closed connection unexpectedly");
        }
        loop {
            // polyclip: listen before looking, so that a sync arriving between the look and the wait is not missed
            // (`notify_waiters` keeps no permit for a waiter that is not yet registered).
            let notified = self.sync_notif.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                // polyclip: take one sync of every node out of the list, and leave any other in it. The list was
                // copied and the copy cleared, so the syncs stayed and the next barrier compared a list holding
                // every node twice with the node list: it waited forever (the second global all-reduce hung).
                let mut syncing_peers = self.syncing_peers.lock().unwrap();
                let all_synced = node_state
                    .nodes
                    .keys()
                    .all(|id| syncing_peers.contains(id));
                if all_synced {
                    for id in node_state.nodes.keys() {
                        if let Some(at) = syncing_peers.iter().position(|peer| peer == id) {
                            syncing_peers.remove(at);
                        }
                    }
                    return;
                }
            }
            // Wait for the next sync to come in
            notified.await;
        }
    }

    pub async fn handle_sync_connection<C: CommunicationChannel>(&self, mut channel: C) {
        // polyclip: every sync of the connection's node, until it closes (one sync per connection before).
        while let Ok(Some(msg)) = channel.recv().await {
            let Ok(msg) = rmp_serde::from_slice::<SyncRequest>(&msg.data) else {
                return;
            };

            self.add_syncing_peer(msg.0);

            self.sync_notif.notify_waiters();
        }
    }
}
