//! The one place that decides who may call which service: a tonic interceptor that reads
//! the caller's identity from its *verified* client certificate (never from a request
//! field), checks it against the service's rule, and hands the [`PeerIdentity`] to the
//! handler through the request extensions. For `Exchange`, the same place applies the
//! per-peer-country token bucket ([`crate::limits::PeerLimiter`]) after the caller is
//! identified and before any handler, policy or quota counter runs.

use std::sync::Arc;

use puente_pki::inspect::claimed_identity;
use puente_pki::{CountryCode, PeerIdentity, Role};
use tonic::{Request, Status};
use tracing::{debug, warn};

use crate::limits::PeerLimiter;
use crate::refusals::{Refusal, RefusalLog, RefusalStage};
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
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Rule::PeerNode => "role.exchange_requires_peer_node",
            Rule::OwnOperator => "role.local_requires_own_operator",
            Rule::OwnAuditor => "role.audit_requires_own_auditor",
        }
    }

    fn admits(self, own: CountryCode, caller: &PeerIdentity) -> bool {
        match self {
            Rule::PeerNode => caller.role == Role::Node && caller.country != own,
            Rule::OwnOperator => caller.role == Role::Operator && caller.country == own,
            Rule::OwnAuditor => caller.role == Role::Auditor && caller.country == own,
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
    limiter: Option<Arc<PeerLimiter>>,
    disk: Option<Arc<DiskGuard>>,
    identities: IdentityCache,
}

/// Identities already read from client certificates (TLS verified each certificate
/// during the handshake; what is cached is only the parse of its `urn:puente` name, which
/// took a full X.509 decode per call). Bounded: cleared when it grows past
/// [`IdentityCache::MAX`] distinct certificates.
#[derive(Clone, Debug, Default)]
struct IdentityCache(Arc<std::sync::Mutex<std::collections::HashMap<Vec<u8>, PeerIdentity>>>);

impl IdentityCache {
    const MAX: usize = 4096;

    fn identity(&self, der: &[u8]) -> Result<PeerIdentity, String> {
        if let Some(id) = self.0.lock().ok().and_then(|m| m.get(der).cloned()) {
            return Ok(id);
        }
        let id = claimed_identity(der)?;
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= Self::MAX {
                m.clear();
            }
            m.insert(der.to_vec(), id.clone());
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
        }
    }

    /// Also refuses every call while the data directory is below its free-space reserve
    /// (for `Exchange`: no answer may leave without its audit entry).
    pub fn with_disk(mut self, disk: Arc<DiskGuard>) -> Self {
        self.disk = Some(disk);
        self
    }

    /// Also limits each caller country's rate (for `Exchange`).
    pub fn with_limiter(mut self, limiter: Arc<PeerLimiter>) -> Self {
        self.limiter = Some(limiter);
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
            Some(certs) => match certs.first() {
                Some(leaf) => self.identities.identity(leaf.as_ref()),
                None => Err("no client certificate".to_string()),
            },
            None => Err("no client certificate".to_string()),
        };
        let identity = match identity {
            Ok(id) => id,
            Err(e) => return Err(self.refuse(peer, "unknown", &e)),
        };
        if !self.rule.admits(self.own, &identity) {
            let detail = format!(
                "{} {} {} may not call {}",
                identity.country, identity.role, identity.name, self.service
            );
            return Err(self.refuse(peer, &identity.urn(), &detail));
        }
        if let Some(Err(why)) = self.disk.as_ref().map(|d| d.check()) {
            return Err(Status::unavailable(why));
        }
        if let Some(limiter) = &self.limiter {
            if let Err(limited) = limiter.take(identity.country, std::time::Instant::now()) {
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
