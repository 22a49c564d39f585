//! `puente.v1.Local`: an operator of this country talking to its own node. `ListPeers`
//! reports each trusted peer and, on request, probes it over the real mTLS link.

use std::sync::Arc;

use puente_proto::v1::local_server::Local;
use puente_proto::v1::{ListPeersRequest, ListPeersResponse, PeerStatus};
use tokio::task::JoinSet;
use tonic::{Request, Response, Status};
use tracing::info;

use super::{timestamp, NodeState};
use crate::gate::caller;

/// The `Local` service.
#[derive(Clone, Debug)]
pub struct LocalService {
    state: Arc<NodeState>,
}

impl LocalService {
    /// A service over the node's shared state.
    pub fn new(state: Arc<NodeState>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl Local for LocalService {
    async fn list_peers(
        &self,
        request: Request<ListPeersRequest>,
    ) -> Result<Response<ListPeersResponse>, Status> {
        let operator = caller(&request)?.name.clone();
        let check = request.get_ref().check_reachability;
        info!(operator = %operator, check, "list peers");
        let mut statuses: Vec<PeerStatus> = Vec::new();
        let mut probes = JoinSet::new();
        for (i, link) in self.state.peers.links().enumerate() {
            statuses.push(PeerStatus {
                country: link.country.to_string(),
                address: link.address.clone(),
                ca_fingerprint: link.ca_fingerprint.clone(),
                signing_key_fingerprint: link.signing_key_fingerprint.clone(),
                ..PeerStatus::default()
            });
            if check {
                let state = self.state.clone();
                let link = link.clone();
                probes.spawn(async move { (i, state.peers.probe(&link).await) });
            }
        }
        while let Some(done) = probes.join_next().await {
            let Ok((i, probe)) = done else { continue };
            let Some(status) = statuses.get_mut(i) else {
                continue;
            };
            status.reachable = probe.reachable;
            status.error = probe.error;
            status.round_trip = prost_types::Duration::try_from(probe.round_trip).ok();
            status.checked_at = Some(timestamp(probe.checked_at));
            if let Some(seen) = probe.seen {
                status.peer_node = seen.identity.name;
                status.certificate_not_after = Some(timestamp(seen.not_after));
            }
        }
        Ok(Response::new(ListPeersResponse {
            local_country: self.state.node.country().to_string(),
            local_node: self.state.node.identity.name.clone(),
            peers: statuses,
        }))
    }
}
