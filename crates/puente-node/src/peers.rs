//! The node's links to its peers: one pooled mTLS channel per trusted country, and a
//! reachability probe (a `grpc.health.v1` check over the real link) for `ListPeers`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use puente_pki::tls::CountryAnchor;
use puente_pki::CountryCode;
use time::OffsetDateTime;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::client::{node_channel, status_text, NodeChannel, SeenServer};
use crate::config::LoadedNode;

/// One peer link.
#[derive(Clone, Debug)]
pub struct PeerLink {
    /// The peer country.
    pub country: CountryCode,
    /// Where its node listens.
    pub address: String,
    /// The pooled channel.
    pub channel: NodeChannel,
    /// SHA-256 of its CA certificate, lowercase hex (64 characters, as `PeerStatus` says).
    pub ca_fingerprint: String,
    /// SHA-256 of its signing verifier key, lowercase hex (64 characters).
    pub signing_key_fingerprint: String,
}

/// The outcome of probing a peer.
#[derive(Clone, Debug)]
pub struct Probe {
    /// Whether the peer answered SERVING over mTLS.
    pub reachable: bool,
    /// Why not, when not.
    pub error: String,
    /// Round-trip time of the probe.
    pub round_trip: Duration,
    /// What the handshake showed of the server.
    pub seen: Option<SeenServer>,
    /// When the probe ran.
    pub checked_at: OffsetDateTime,
}

/// Channels to every trusted peer.
#[derive(Clone, Debug, Default)]
pub struct PeerPool {
    links: BTreeMap<CountryCode, PeerLink>,
    timeout: Duration,
}

impl PeerPool {
    /// Builds (lazy) channels to every peer of the trust bundle.
    pub fn new(node: &LoadedNode) -> Result<Self, String> {
        let timeout = Duration::from_secs(node.config.server.peer_timeout_secs);
        let mut links = BTreeMap::new();
        for peer in &node.trust.peers {
            let anchor = CountryAnchor {
                country: peer.country,
                ca: peer.ca_der.clone(),
                crls: peer.crls.clone(),
            };
            let channel = node_channel(&peer.address, &node.tls, &anchor, timeout, Some(timeout))
                .map_err(|e| format!("peer {}: {e}", peer.country))?;
            links.insert(
                peer.country,
                PeerLink {
                    country: peer.country,
                    address: peer.address.clone(),
                    channel,
                    ca_fingerprint: hex::encode(peer.ca_info.fingerprint),
                    signing_key_fingerprint: hex::encode(peer.signing_key.fingerprint()),
                },
            );
        }
        Ok(Self { links, timeout })
    }

    /// Every link, ordered by country.
    pub fn links(&self) -> impl Iterator<Item = &PeerLink> {
        self.links.values()
    }

    /// The link to `country`.
    pub fn get(&self, country: CountryCode) -> Option<&PeerLink> {
        self.links.get(&country)
    }

    /// Checks a peer over the real mTLS link: handshake both ways, then a health check of
    /// its `Exchange` service.
    pub async fn probe(&self, link: &PeerLink) -> Probe {
        let started = Instant::now();
        let checked_at = OffsetDateTime::now_utc();
        let mut client = HealthClient::new(link.channel.channel.clone());
        let request = HealthCheckRequest {
            service: "puente.v1.Exchange".to_string(),
        };
        let outcome = tokio::time::timeout(self.timeout, client.check(request)).await;
        let round_trip = started.elapsed();
        let (reachable, error) = match outcome {
            Err(_) => (false, format!("no answer within {:?}", self.timeout)),
            Ok(Err(status)) => (false, status_text(&status)),
            Ok(Ok(resp)) => {
                let status = resp.into_inner().status;
                if status == ServingStatus::Serving as i32 {
                    (true, String::new())
                } else {
                    (
                        false,
                        format!("peer reports its Exchange service as {status:?} (not serving)"),
                    )
                }
            }
        };
        let seen = link.channel.seen.lock().ok().and_then(|s| s.clone());
        Probe {
            reachable,
            error,
            round_trip,
            seen,
            checked_at,
        }
    }
}
