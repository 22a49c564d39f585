//! The one place that decides who may call which service: a tonic interceptor that reads
//! the caller's identity from its *verified* client certificate (never from a request
//! field), checks it against the service's rule, and hands the [`PeerIdentity`] to the
//! handler through the request extensions. For `Exchange`, the same place applies the
//! per-peer-country token bucket ([`crate::limits::PeerLimiter`]) after the caller is
//! identified and before any handler, policy or quota counter runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use puente_pki::inspect::claimed_identity;
use puente_pki::{CountryCode, PeerIdentity, Role};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use tonic::{Request, Status};
use tracing::{debug, warn};

use crate::lifecycle::Material;
use crate::limits::PeerLimiter;
use crate::refusals::{Refusal, RefusalLog, RefusalStage};
use crate::services::Clock;
use crate::store::DiskGuard;

/// Who may call a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// A node certificate of a peer country (`Exchange`).
    PeerNode,
    /// An operator certificate of this node's own country (`Local`).
    OwnOperator,
    /// An auditor certificate of this node's own country (`Audit`).
    OwnAuditor,
    /// An operator or auditor of this node's own country (`NodeStatus`).
    OwnStaff,
    /// An operator or auditor of this node's own country, or a peer country's node
    /// (health and reflection): what the node serves and whether it is up is nothing a
    /// foreign operator or auditor needs to learn.
    OwnStaffOrPeerNode,
    /// A carrier or an operator of this node's own country (`Manifest`): carriers
    /// submit; operators submit for one and read.
    OwnCarrierOrOperator,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Rule::PeerNode => "role.exchange_requires_peer_node",
            Rule::OwnOperator => "role.local_requires_own_operator",
            Rule::OwnAuditor => "role.audit_requires_own_auditor",
            Rule::OwnStaff => "role.status_requires_own_staff",
            Rule::OwnStaffOrPeerNode => "role.health_requires_own_staff_or_peer_node",
            Rule::OwnCarrierOrOperator => "role.manifest_requires_own_carrier",
        }
    }

    fn admits(self, own: CountryCode, caller: &PeerIdentity) -> bool {
        match self {
            Rule::PeerNode => caller.role == Role::Node && caller.country != own,
            Rule::OwnOperator => caller.role == Role::Operator && caller.country == own,
            Rule::OwnAuditor => caller.role == Role::Auditor && caller.country == own,
            Rule::OwnStaff => {
                matches!(caller.role, Role::Operator | Role::Auditor) && caller.country == own
            }
            Rule::OwnStaffOrPeerNode => match caller.role {
                Role::Node => caller.country != own,
                Role::Operator | Role::Auditor => caller.country == own,
                Role::Carrier => false,
            },
            Rule::OwnCarrierOrOperator => {
                matches!(caller.role, Role::Carrier | Role::Operator) && caller.country == own
            }
        }
    }
}

/// The interceptor guarding one service.
#[derive(Clone, Debug)]
pub struct Gate {
    service: &'static str,
    rule: Rule,
    own: CountryCode,
    refusals: Arc<RefusalLog>,
    limiter: Option<(Arc<PeerLimiter>, LimiterClock)>,
    disk: Option<Arc<DiskGuard>>,
    identities: IdentityCache,
    recheck: Option<Recheck>,
}

/// The node's current TLS material, for re-checking the certificate behind a connection.
#[derive(Clone)]
pub struct Recheck(pub Arc<dyn Fn() -> Arc<Material> + Send + Sync>);

impl std::fmt::Debug for Recheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recheck")
    }
}

/// The clock the token buckets refill by: the node's.
#[derive(Clone)]
struct LimiterClock(Clock);

impl std::fmt::Debug for LimiterClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LimiterClock")
    }
}

/// How long a certificate checked for a connection counts as checked, while the material
/// does not change (catches a certificate that expires during a long-lived connection).
const RECHECK_EVERY: Duration = Duration::from_secs(60);

/// Why a caller's certificate is not accepted.
enum Unaccepted {
    /// No certificate, or no `urn:puente` identity in it.
    Unidentified(String),
    /// It verified when the connection opened, and no longer does under the current
    /// CRLs, trust bundle and clock.
    NoLongerValid(PeerIdentity, String),
}

/// Identities read from client certificates, with the material generation they were last
/// verified under. TLS verified each certificate during the handshake; a connection can
/// outlive that (HTTP/2 keeps it open for hours), so the certificate is verified again
/// whenever the material changed (a CRL revoking it, its CA dropped from the trust
/// bundle) and at least every [`RECHECK_EVERY`]; in between, a call costs a map lookup
/// instead of an X.509 decode. Bounded: cleared past [`IdentityCache::MAX`] certificates.
#[derive(Clone, Debug, Default)]
#[allow(clippy::type_complexity)]
struct IdentityCache(
    Arc<std::sync::Mutex<std::collections::HashMap<Vec<u8>, (PeerIdentity, u64, Instant)>>>,
);

impl IdentityCache {
    const MAX: usize = 4096;

    fn identity(
        &self,
        certs: &[CertificateDer<'static>],
        recheck: Option<&Recheck>,
    ) -> Result<PeerIdentity, Unaccepted> {
        let Some(leaf) = certs.first() else {
            return Err(Unaccepted::Unidentified("no client certificate".into()));
        };
        let der = leaf.as_ref();
        let material = recheck.map(|r| (r.0)());
        let generation = material.as_ref().map(|m| m.generation).unwrap_or(0);
        if let Some((id, g, at)) = self.0.lock().ok().and_then(|m| m.get(der).cloned()) {
            if g == generation && at.elapsed() < RECHECK_EVERY {
                return Ok(id);
            }
        }
        let id = claimed_identity(der).map_err(Unaccepted::Unidentified)?;
        if let Some(m) = &material {
            if let Err(e) = m
                .clients
                .verify_client_cert(leaf, &certs[1..], UnixTime::now())
            {
                if let Ok(mut map) = self.0.lock() {
                    map.remove(der);
                }
                return Err(Unaccepted::NoLongerValid(id, e.to_string()));
            }
        }
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= Self::MAX {
                m.clear();
            }
            m.insert(der.to_vec(), (id.clone(), generation, Instant::now()));
        }
        Ok(id)
    }
}

impl Gate {
    /// A gate for `service` (its full gRPC name) under `rule`.
    pub fn new(
        service: &'static str,
        rule: Rule,
        own: CountryCode,
        refusals: Arc<RefusalLog>,
    ) -> Self {
        Self {
            service,
            rule,
            own,
            refusals,
            limiter: None,
            disk: None,
            identities: IdentityCache::default(),
            recheck: None,
        }
    }

    /// Also re-verifies the certificate behind each call against the node's current
    /// material (see `IdentityCache`): a certificate revoked, expired or no longer
    /// trusted is refused on connections opened before, not only on new ones.
    pub fn with_recheck(mut self, recheck: Recheck) -> Self {
        self.recheck = Some(recheck);
        self
    }

    /// Also refuses every call while the data directory is below its free-space reserve
    /// (for `Exchange`: no answer may leave without its audit entry).
    pub fn with_disk(mut self, disk: Arc<DiskGuard>) -> Self {
        self.disk = Some(disk);
        self
    }

    /// Also limits each caller country's rate (for `Exchange`), refilling by `clock`.
    pub fn with_limiter(mut self, limiter: Arc<PeerLimiter>, clock: Clock) -> Self {
        self.limiter = Some((limiter, LimiterClock(clock)));
        self
    }

    fn rate_limited(
        &self,
        peer: Option<std::net::SocketAddr>,
        identity: &PeerIdentity,
        limiter: &PeerLimiter,
        limited: crate::limits::Limited,
    ) -> Status {
        let detail = format!(
            "{} exceeds {}; retry in {} ms",
            identity.country,
            limiter.describe(),
            limited.retry_after.as_millis().max(1)
        );
        if limited.first {
            warn!(service = self.service, caller = %identity.urn(), peer = ?peer, rule = "rate.peer_limit", "call refused (further refusals of this burst are logged at DEBUG): {detail}");
        } else {
            debug!(service = self.service, caller = %identity.urn(), rule = "rate.peer_limit", "call refused: {detail}");
        }
        self.refusals.record(Refusal {
            stage: RefusalStage::RateLimit,
            peer,
            reason: format!("rate.peer_limit: {detail}"),
        });
        Status::resource_exhausted(format!("rate.peer_limit: {detail}"))
    }

    fn refuse(&self, peer: Option<std::net::SocketAddr>, caller: &str, detail: &str) -> Status {
        let rule = self.rule.name();
        warn!(service = self.service, caller, peer = ?peer, rule, "call refused: {detail}");
        self.refusals.record(Refusal {
            stage: RefusalStage::RoleGate,
            peer,
            reason: format!("{rule}: {detail}"),
        });
        Status::permission_denied(format!("{rule}: {detail}"))
    }
}

impl tonic::service::Interceptor for Gate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let peer = request.remote_addr();
        let identity = match request.peer_certs() {
            Some(certs) => self.identities.identity(&certs, self.recheck.as_ref()),
            None => Err(Unaccepted::Unidentified("no client certificate".into())),
        };
        let identity = match identity {
            Ok(id) => id,
            Err(Unaccepted::Unidentified(e)) => return Err(self.refuse(peer, "unknown", &e)),
            Err(Unaccepted::NoLongerValid(id, why)) => {
                let detail = format!(
                    "tls.certificate_no_longer_valid: the certificate of {} no longer verifies ({why}); it was accepted when this connection opened, and has since been revoked, expired or lost its trust",
                    id.urn()
                );
                warn!(service = self.service, caller = %id.urn(), peer = ?peer, "call refused: {detail}");
                self.refusals.record(Refusal {
                    stage: RefusalStage::Handshake,
                    peer,
                    reason: detail.clone(),
                });
                return Err(Status::unauthenticated(detail));
            }
        };
        if !self.rule.admits(self.own, &identity) {
            let detail = format!(
                "{} {} {} may not call {}",
                identity.country, identity.role, identity.name, self.service
            );
            return Err(self.refuse(peer, &identity.urn(), &detail));
        }
        if let Some(Err(why)) = self.disk.as_ref().map(|d| d.check()) {
            return Err(Status::unavailable(why.to_string()));
        }
        if let Some((limiter, clock)) = &self.limiter {
            if let Err(limited) = limiter.take(identity.country, (clock.0)()) {
                return Err(self.rate_limited(peer, &identity, limiter, limited));
            }
        }
        // The request layer's span names the verified caller from here on.
        tracing::Span::current().record("caller", tracing::field::display(identity.urn()));
        request.extensions_mut().insert(identity);
        Ok(request)
    }
}

/// The verified caller of a request that passed a [`Gate`].
pub fn caller<T>(request: &Request<T>) -> Result<&PeerIdentity, Status> {
    request
        .extensions()
        .get::<PeerIdentity>()
        .ok_or_else(|| Status::internal("caller identity missing: service not behind a gate"))
}
