//! `puente.v1.NodeStatus`: how the node stands, for its own operators and auditors (the
//! material it serves with and when each piece runs out, its audit log and who last
//! cosigned it, free disk). `puente status` puts it on one screen with the `Local` calls
//! for peers, agreements and the statistics sync.

use std::sync::Arc;

use puente_proto::v1 as pb;
use puente_proto::v1::node_status_server::NodeStatus;
use tonic::{Request, Response, Status};

use super::{timestamp, NodeState};
use crate::gate::caller;

/// The `NodeStatus` service.
#[derive(Clone, Debug)]
pub struct StatusService {
    state: Arc<NodeState>,
}

impl StatusService {
    /// A service over the node's shared state.
    pub fn new(state: Arc<NodeState>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl NodeStatus for StatusService {
    async fn get_status(
        &self,
        request: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::GetStatusResponse>, Status> {
        caller(&request)?;
        let state = self.state.clone();
        // The cosignature scan and the statfs read the disk.
        let response = tokio::task::spawn_blocking(move || state.status())
            .await
            .map_err(|e| Status::internal(e.to_string()))??;
        Ok(Response::new(response))
    }
}

impl NodeState {
    /// The node's status as [`pb::GetStatusResponse`] says it.
    fn status(&self) -> Result<pb::GetStatusResponse, Status> {
        let now = self.now();
        let material = self.material();
        let loaded = &material.loaded;
        let pki = self
            .node
            .config
            .tls
            .ca
            .parent()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|| "DIR/pki".into());
        let mut items = vec![pb::ExpiringMaterial {
            what: "node certificate".into(),
            not_after: Some(timestamp(loaded.cert_info.not_after)),
            problem: String::new(),
            renew_with: format!(
                "puente pki renew --dir {pki} --cert {}",
                self.node.config.tls.cert.display()
            ),
        }];
        items.push(
            match puente_pki::inspect::inspect(
                loaded.own_anchor.ca.as_ref(),
                &self.node.config.tls.ca,
            ) {
                Ok(ca) => pb::ExpiringMaterial {
                    what: "country CA".into(),
                    not_after: Some(timestamp(ca.not_after)),
                    problem: String::new(),
                    renew_with: String::new(),
                },
                Err(e) => pb::ExpiringMaterial {
                    what: "country CA".into(),
                    not_after: None,
                    problem: e.to_string(),
                    renew_with: String::new(),
                },
            },
        );
        for crl in crate::crl::crl_statuses(loaded) {
            let (what, renew_with) = if crl.own {
                (
                    format!("CRL of {}", crl.country),
                    format!("puente pki crl --dir {pki}"),
                )
            } else {
                (
                    format!("CRL of {} (trust bundle)", crl.country),
                    format!(
                        "ask {} for a fresh bundle, then puente trust add",
                        crl.country
                    ),
                )
            };
            items.push(pb::ExpiringMaterial {
                what,
                not_after: crl.next_update.map(timestamp),
                problem: crl.problem.unwrap_or_default(),
                renew_with,
            });
        }
        let found = self.latest_cosignatures()?;
        let witnesses = self
            .peer_countries()
            .into_iter()
            .map(|peer| {
                let latest = found.iter().find(|w| w.country == peer.as_str());
                pb::WitnessStatus {
                    peer_country: peer.to_string(),
                    tree_size: latest.map_or(0, |w| w.size),
                    cosigned_at: latest.and_then(|w| w.at),
                }
            })
            .collect();
        let (free, reserve) = self.disk.space();
        let uptime = time::Duration::try_from(self.metrics.uptime()).unwrap_or_default();
        Ok(pb::GetStatusResponse {
            country: self.node.country().to_string(),
            node_name: loaded.identity.name.clone(),
            software_version: env!("CARGO_PKG_VERSION").into(),
            started_at: Some(timestamp(now - uptime)),
            now: Some(timestamp(now)),
            material: items,
            audit_entries: self
                .audit
                .trees()
                .size()
                .map_err(|e| Status::unavailable(format!("the audit store: {e}")))?,
            witnesses,
            disk_free_bytes: free.unwrap_or(0),
            disk_reserve_bytes: reserve,
            persons: self.records.len() as u64,
        })
    }
}
