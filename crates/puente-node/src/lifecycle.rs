//! What a node changes without a restart, and what it warns about ahead of time.
//!
//! The node's certificate and key, its CA and CRL and the trust bundle (peers' CAs, CRLs,
//! keys, addresses) form one [`Material`], with the server's rustls configuration and the
//! peer links built from it. A reload (a change seen by the watcher, or SIGHUP) reads
//! and checks the files exactly as the start does ([`NodeConfig::load_material`]) and
//! swaps the whole `Material` at once: new connections, both ways, use the new material;
//! established ones keep going. A reload that fails any check changes nothing and says
//! which file is wrong. `puente.toml` itself is read only at start.
//!
//! Expiry warnings ([`expiry_warnings`]) are pure; [`NodeState::warn_expiry`] logs them
//! at start and daily.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use puente_pki::inspect::CertInfo;
use puente_pki::{CountryCode, VerifyingKey};

use crate::error::TlsSetupError;
use puente_policy::Agreement;
use rustls::ServerConfig;
use time::OffsetDateTime;
use tracing::{error, info, warn};

use crate::config::{NodeConfig, TlsMaterial};
use crate::peers::{PeerLink, PeerPool};
use crate::services::NodeState;

/// The reloadable material in use, and what is built from it.
#[derive(Debug)]
pub struct Material {
    /// The certificate, key, own CA and CRL, and trust bundle.
    pub loaded: TlsMaterial,
    /// The server configuration new connections are accepted with.
    pub server: Arc<ServerConfig>,
    /// Links to the peers of `loaded.trust`, presenting `loaded.tls`.
    pub peers: PeerPool,
    /// The client-certificate verifier of `server`: the gate re-checks with it the
    /// certificate behind a connection opened under earlier material (revoked since?).
    pub clients: Arc<puente_pki::tls::CountryClientVerifier>,
    /// Distinct for every material built, so the gate knows when to re-check.
    pub generation: u64,
    stamp: Stamp,
}

static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Material {
    /// Builds the server configuration and peer links for `loaded`, keeping the links of
    /// `previous` that nothing changed for.
    pub fn build(
        config: &NodeConfig,
        loaded: TlsMaterial,
        previous: Option<&Material>,
    ) -> Result<Self, TlsSetupError> {
        let mut anchors = vec![loaded.own_anchor.clone()];
        anchors.extend(
            loaded
                .trust
                .peers
                .iter()
                .map(|p| puente_pki::tls::CountryAnchor {
                    country: p.country,
                    ca: p.ca_der.clone(),
                    crls: p.crls.clone(),
                }),
        );
        let clients = Arc::new(
            puente_pki::tls::CountryClientVerifier::new(&anchors)
                .map_err(TlsSetupError::Verifier)?,
        );
        let server = puente_pki::tls::server_config_with(&loaded.tls, clients.clone())
            .map_err(TlsSetupError::Server)?;
        let timeout = Duration::from_secs(config.server.peer_timeout_secs);
        let previous = previous.map(|m| {
            let same_identity = m.loaded.tls.chain == loaded.tls.chain
                && m.loaded.tls.key.secret_der() == loaded.tls.key.secret_der();
            (&m.peers, &m.loaded.trust, same_identity)
        });
        let peers = PeerPool::build(&loaded.tls, &loaded.trust, timeout, previous)?;
        Ok(Self {
            loaded,
            server: Arc::new(server),
            peers,
            clients,
            generation: GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            stamp: Stamp::of(config),
        })
    }
}

/// SHA-256 of each file the material comes from (`None`: unreadable), to see changes
/// whatever the file system's timestamps do.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp(Vec<(PathBuf, Option<[u8; 32]>)>);

impl Stamp {
    fn of(config: &NodeConfig) -> Self {
        let mut files = vec![
            config.tls.ca.clone(),
            config.tls.cert.clone(),
            config.tls.key.clone(),
            config.trust.file.clone(),
        ];
        files.extend(config.tls.crl.clone());
        Self(
            files
                .into_iter()
                .map(|p| {
                    let hash = std::fs::read(&p)
                        .ok()
                        .map(|b| puente_pki::inspect::fingerprint(&b));
                    (p, hash)
                })
                .collect(),
        )
    }
}

/// The live material of a running node.
#[derive(Debug)]
pub struct Lifecycle {
    current: ArcSwap<Material>,
    /// Serializes reloads; remembers the files of the last refused reload so the watcher
    /// reports a bad file once, not at every look.
    refused: Mutex<Option<Stamp>>,
}

impl Lifecycle {
    /// Starts with `material`.
    pub fn new(material: Material) -> Self {
        Self {
            current: ArcSwap::from_pointee(material),
            refused: Mutex::new(None),
        }
    }

    /// The material in use.
    pub fn current(&self) -> Arc<Material> {
        self.current.load_full()
    }

    /// Whether the last reload was refused: the node keeps its material, and the watcher
    /// waits for the files to change again.
    pub fn last_reload_refused(&self) -> bool {
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

/// What a reload of the material did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reload {
    /// The files are as in use (or as last refused); nothing was done.
    Unchanged,
    /// The new material is in use; what changed.
    Reloaded(String),
    /// The files failed a check; the node keeps what it had. Every problem, with its
    /// key path and file.
    Refused(String),
}

impl fmt::Display for Reload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reload::Unchanged => write!(f, "TLS material and trust bundle unchanged"),
            Reload::Reloaded(what) => write!(f, "TLS material and trust bundle reloaded: {what}"),
            Reload::Refused(why) => write!(
                f,
                "reload refused, the node keeps its current certificate, CRLs and trust bundle: {why}"
            ),
        }
    }
}

/// What a SIGHUP reloaded.
#[derive(Clone, Debug)]
pub struct ReloadReport {
    /// The certificate, CRLs and trust bundle.
    pub material: Reload,
    /// Agreements enforced after the reload.
    pub agreements_verified: usize,
    /// Agreement files not enforced, with their reasons in the log.
    pub agreements_refused: usize,
    /// Of those, the broken ones (an error: the last good version of their id, if the
    /// node had one, stays enforced).
    pub agreements_broken: usize,
}

impl ReloadReport {
    /// Whether everything that was asked for loaded.
    pub fn is_ok(&self) -> bool {
        !matches!(self.material, Reload::Refused(_))
    }
}

impl fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; agreements: {} enforced, {} files not enforced ({} broken)",
            self.material,
            self.agreements_verified,
            self.agreements_refused,
            self.agreements_broken
        )
    }
}

impl NodeState {
    /// The certificate, CRLs, trust bundle and peer links in use.
    pub fn material(&self) -> Arc<Material> {
        self.lifecycle.current()
    }

    /// The link to peer `country` in use, if it is trusted.
    pub fn peer_link(&self, country: CountryCode) -> Option<PeerLink> {
        self.material().peers.get(country).cloned()
    }

    /// The trusted peer countries, in country order.
    pub fn peer_countries(&self) -> Vec<CountryCode> {
        self.material().peers.links().map(|l| l.country).collect()
    }

    /// Peer `country`'s signing key from the trust bundle in use.
    pub fn peer_key(&self, country: CountryCode) -> Option<VerifyingKey> {
        self.material()
            .loaded
            .trust
            .peer(country)
            .map(|p| p.signing_key.clone())
    }

    /// Reloads the material if its files changed since it was loaded (and since the
    /// last refused attempt). Blocking: reads files.
    pub fn reload_material_if_changed(&self) -> Reload {
        self.reload_material_with(false)
    }

    /// Reloads the material whatever the files look like (SIGHUP). Blocking.
    pub fn reload_material(&self) -> Reload {
        self.reload_material_with(true)
    }

    /// SIGHUP: the material, then the agreements (against the trust bundle now in use).
    /// Logs and returns what happened. Blocking.
    pub fn reload(&self) -> ReloadReport {
        let material = self.reload_material();
        let set = self.agreements.reload();
        let report = ReloadReport {
            material,
            agreements_verified: set.enforced((self.clock)()).len(),
            agreements_refused: set.files.iter().filter(|f| f.refused.is_some()).count(),
            agreements_broken: set.broken(),
        };
        if report.is_ok() && report.agreements_broken == 0 {
            info!("reload: {report}");
        } else {
            error!("reload: {report}");
        }
        report
    }

    fn reload_material_with(&self, force: bool) -> Reload {
        let config = &self.node.config;
        let mut refused = self
            .lifecycle
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let old = self.lifecycle.current();
        let stamp = Stamp::of(config);
        if !force && (stamp == old.stamp || refused.as_ref() == Some(&stamp)) {
            return Reload::Unchanged;
        }
        // Certificates are checked against the system clock, as TLS handshakes are.
        let built = config
            .load_material()
            .and_then(|loaded| {
                let problems = loaded.check_serving(config, OffsetDateTime::now_utc());
                if problems.is_empty() {
                    Ok(loaded)
                } else {
                    Err(problems)
                }
            })
            .map_err(|problems| {
                problems
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .and_then(|loaded| {
                Material::build(config, loaded, Some(&old)).map_err(|e| e.to_string())
            });
        let new = match built {
            Ok(m) => m,
            Err(why) => {
                *refused = Some(stamp);
                let outcome = Reload::Refused(why);
                error!("{outcome}");
                return outcome;
            }
        };
        *refused = None;
        let changes = describe_changes(&old.loaded, &new.loaded);
        let trust_changed = old.loaded.trust.peers.iter().map(|p| &p.entry).ne(new
            .loaded
            .trust
            .peers
            .iter()
            .map(|p| &p.entry));
        let new_trust = new.loaded.trust.clone();
        let cert = new.loaded.cert_info.clone();
        self.lifecycle.current.store(Arc::new(new));
        let outcome = Reload::Reloaded(changes);
        info!("{outcome}");
        if trust_changed {
            // Peers' signing keys may have changed: verify the agreements again.
            self.agreements.retrust(new_trust);
        }
        for w in expiry_warnings(
            OffsetDateTime::now_utc(),
            &cert,
            &[],
            config.server.expiry_warning_days,
        ) {
            warn!("{w}");
        }
        self.log_crl_concerns();
        outcome
    }

    /// Logs a warning for the node certificate and each enforced agreement that expires
    /// within `server.expiry_warning_days`.
    pub fn warn_expiry(&self) -> Vec<String> {
        let warnings = expiry_warnings(
            (self.clock)(),
            &self.material().loaded.cert_info,
            &self
                .agreements
                .current()
                .enforced((self.clock)())
                .into_iter()
                .cloned()
                .collect::<Vec<_>>(),
            self.node.config.server.expiry_warning_days,
        );
        for w in &warnings {
            warn!("{w}");
        }
        self.log_crl_concerns();
        warnings
    }

    /// Logs what [`crate::crl::crl_concerns`] finds in the CRLs in use: a CRL of this
    /// country about to run out at WARN, an expired one (this country's or a peer's) at
    /// ERROR.
    pub fn log_crl_concerns(&self) -> Vec<crate::crl::CrlConcern> {
        let statuses = crate::crl::crl_statuses(&self.material().loaded);
        let concerns = crate::crl::crl_concerns((self.clock)(), &statuses);
        for c in &concerns {
            match c {
                crate::crl::CrlConcern::Warning(w) => warn!("{w}"),
                crate::crl::CrlConcern::Error(e) => error!("{e}"),
            }
        }
        concerns
    }
}

fn describe_changes(old: &TlsMaterial, new: &TlsMaterial) -> String {
    let mut out = Vec::new();
    if old.cert_info.serial != new.cert_info.serial {
        out.push(format!(
            "node certificate {} replaced by {} (valid until {})",
            old.cert_info.serial,
            new.cert_info.serial,
            new.cert_info.not_after.date()
        ));
    } else if old.tls.key.secret_der() != new.tls.key.secret_der() {
        out.push("node key replaced".to_string());
    }
    if old.own_anchor.ca != new.own_anchor.ca {
        out.push("own CA replaced".to_string());
    }
    if old.own_anchor.crls != new.own_anchor.crls {
        out.push("own CRL updated".to_string());
    }
    for p in &new.trust.peers {
        match old.trust.peer(p.country) {
            None => out.push(format!("peer {} added", p.country)),
            Some(o) if o.entry != p.entry => {
                let mut what = Vec::new();
                if o.entry.address != p.entry.address {
                    what.push("address");
                }
                if o.entry.ca_certificate != p.entry.ca_certificate {
                    what.push("CA");
                }
                if o.entry.crl != p.entry.crl {
                    what.push("CRL");
                }
                if o.entry.signing_key != p.entry.signing_key {
                    what.push("signing key");
                }
                out.push(format!("peer {} changed ({})", p.country, what.join(", ")));
            }
            Some(_) => {}
        }
    }
    for o in &old.trust.peers {
        if new.trust.peer(o.country).is_none() {
            out.push(format!("peer {} removed", o.country));
        }
    }
    if out.is_empty() {
        "no change in content".to_string()
    } else {
        out.join("; ")
    }
}

/// Warnings for a node certificate and agreements that end within `within_days` of
/// `now` (or have ended, for the certificate). Empty when `within_days` is 0.
pub fn expiry_warnings(
    now: OffsetDateTime,
    cert: &CertInfo,
    agreements: &[Agreement],
    within_days: u32,
) -> Vec<String> {
    if within_days == 0 {
        return Vec::new();
    }
    let horizon = time::Duration::days(i64::from(within_days));
    let mut out = Vec::new();
    let left = cert.not_after - now;
    if left < time::Duration::ZERO {
        out.push(format!(
            "the node certificate (serial {}) expired on {}: peers refuse it; issue a new one and write it over tls.cert and tls.key (reloaded without a restart)",
            cert.serial,
            cert.not_after.date()
        ));
    } else if left <= horizon {
        out.push(format!(
            "the node certificate (serial {}) expires on {} ({} days left): issue a new one and write it over tls.cert and tls.key (reloaded without a restart)",
            cert.serial,
            cert.not_after.date(),
            left.whole_days()
        ));
    }
    for a in agreements {
        let left = a.valid_until - now;
        if left >= time::Duration::ZERO && left <= horizon {
            out.push(format!(
                "agreement {} applies until {} included ({} days left): renew it with the other party",
                a.id,
                (a.valid_until - time::Duration::days(1)).date(),
                left.whole_days()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn cert(not_after: OffsetDateTime) -> CertInfo {
        CertInfo {
            identity: None,
            subject: String::new(),
            issuer: String::new(),
            serial: "0abc".into(),
            not_before: datetime!(2026-01-01 0:00 UTC),
            not_after,
            is_ca: false,
            fingerprint: [0; 32],
        }
    }

    fn agreement(id: &str, until: OffsetDateTime) -> Agreement {
        let text = format!(
            "format = \"puente-agreement/1\"\nid = \"{id}\"\nparties = [\"MEX\", \"GTM\"]\nvalid_from = \"2026-01-01\"\nvalid_until = \"{}\"\n\n[[grant]]\nprovider = \"MEX\"\nreceiver = \"GTM\"\nservices = [\"identity_query\"]\npurposes = [\"identification\"]\nfields = [\"surnames\"]\nlegal_basis = \"test\"\nretention_days = 30\nqueries_per_day = 10\n",
            until.date()
        );
        Agreement::parse(&text, "test").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn warns_within_the_window_only() {
        let now = datetime!(2026-06-01 12:00 UTC);
        assert!(expiry_warnings(now, &cert(now + time::Duration::days(31)), &[], 30).is_empty());
        let w = expiry_warnings(now, &cert(now + time::Duration::days(10)), &[], 30);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("0abc") && w[0].contains("10 days left"),
            "{w:?}"
        );
        let w = expiry_warnings(now, &cert(now - time::Duration::days(1)), &[], 30);
        assert!(w[0].contains("expired"), "{w:?}");
        assert!(expiry_warnings(now, &cert(now), &[], 0).is_empty());
    }

    #[test]
    fn warns_of_agreements_ending_soon_but_not_of_ended_ones() {
        let now = datetime!(2026-06-01 12:00 UTC);
        let far = cert(now + time::Duration::days(365));
        let soon = agreement("MEX-GTM-SOON", datetime!(2026-06-20 0:00 UTC));
        let later = agreement("MEX-GTM-LATER", datetime!(2027-06-20 0:00 UTC));
        let ended = agreement("MEX-GTM-ENDED", datetime!(2026-05-01 0:00 UTC));
        let w = expiry_warnings(now, &far, &[soon, later, ended], 30);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("MEX-GTM-SOON") && w[0].contains("2026-06-20"),
            "{w:?}"
        );
    }
}
