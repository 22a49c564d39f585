//! The node's links to its peers: one pooled mTLS channel per trusted country, and a
//! reachability probe (a `grpc.health.v1` check over the real link) for `ListPeers`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use puente_pki::tls::{CountryAnchor, TlsIdentity};
use puente_pki::trust::TrustBundle;
use puente_pki::CountryCode;
use time::OffsetDateTime;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::client::{node_channel, status_text, NodeChannel, SeenServer};

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
    /// Builds channels presenting `tls` to every peer of `trust`. A link of `previous`
    /// whose peer entry and node certificate are unchanged is kept (with its open
    /// connection); the others are new, so their next connection uses the new material
    /// while calls already holding the old channel finish on it.
    pub fn build(
        tls: &TlsIdentity,
        trust: &TrustBundle,
        timeout: Duration,
        previous: Option<(&PeerPool, &TrustBundle, bool)>,
    ) -> Result<Self, crate::error::TlsSetupError> {
        let mut links = BTreeMap::new();
        for peer in &trust.peers {
            let kept = previous.and_then(|(pool, old_trust, same_identity)| {
                let same_entry = old_trust
                    .peer(peer.country)
                    .is_some_and(|old| old.entry == peer.entry);
                (same_identity && same_entry)
                    .then(|| pool.get(peer.country).cloned())
                    .flatten()
            });
            if let Some(link) = kept {
                links.insert(peer.country, link);
                continue;
            }
            let anchor = CountryAnchor {
                country: peer.country,
                ca: peer.ca_der.clone(),
                crls: peer.crls.clone(),
            };
            let channel = node_channel(&peer.address, tls, &anchor, timeout, Some(timeout))
                .map_err(|reason| crate::error::TlsSetupError::PeerChannel {
                    country: peer.country,
                    reason,
                })?;
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
