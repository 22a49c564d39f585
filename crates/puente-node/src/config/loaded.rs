//! A configuration once its files are read: the certificate, key, trust bundle and keys
//! it names, parsed and checked to fit together ([`NodeConfig::load_material`]), and what
//! the node serves with ([`LoadedNode`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use puente_pki::files;
use puente_pki::inspect::{self, CertInfo};
use puente_pki::tls::{CountryAnchor, TlsIdentity};
use puente_pki::trust::TrustBundle;
use puente_pki::{CountryCode, PeerIdentity, Role, SigningKey};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::UnixTime;
use time::OffsetDateTime;

use super::*;
use crate::error::ConfigProblem;

/// A validated configuration with its material loaded.
#[derive(Clone, Debug)]
pub struct LoadedNode {
    /// Where the config was read from.
    pub path: PathBuf,
    /// The configuration with every path made absolute.
    pub config: NodeConfig,
    /// This node's identity, as its certificate states.
    pub identity: PeerIdentity,
    /// Listen address.
    pub listen: SocketAddr,
    /// Address others dial.
    pub advertise: String,
    /// Where metrics are served, if they are.
    pub metrics_listen: Option<SocketAddr>,
    /// Its TLS chain and key.
    pub tls: TlsIdentity,
    /// What its certificate says.
    pub cert_info: CertInfo,
    /// This country's CA and CRL.
    pub own_anchor: CountryAnchor,
    /// Trusted peers.
    pub trust: TrustBundle,
    /// Signing key (shared, it is not `Clone`).
    pub signing: std::sync::Arc<SigningKey>,
    /// The data key (shared).
    pub data_key: std::sync::Arc<puente_records::DataKey>,
}

impl LoadedNode {
    /// The node's country.
    pub fn country(&self) -> CountryCode {
        self.identity.country
    }

    /// Trust anchors of every country allowed to connect: own country and peers.
    pub fn anchors(&self) -> Vec<CountryAnchor> {
        let mut anchors = vec![self.own_anchor.clone()];
        anchors.extend(self.trust.peers.iter().map(|p| CountryAnchor {
            country: p.country,
            ca: p.ca_der.clone(),
            crls: p.crls.clone(),
        }));
        anchors
    }

    /// The reloadable part, as loaded.
    pub fn material(&self) -> TlsMaterial {
        TlsMaterial {
            identity: self.identity.clone(),
            tls: self.tls.clone(),
            cert_info: self.cert_info.clone(),
            own_anchor: self.own_anchor.clone(),
            trust: self.trust.clone(),
        }
    }

    /// Shutdown grace period.
    pub fn drain_grace(&self) -> Duration {
        Duration::from_secs(self.config.server.drain_grace_secs)
    }
}

/// What a node reloads without a restart: its certificate and key, its CA and CRL, and
/// the trust bundle (peers' CAs, CRLs, keys, addresses). [`NodeConfig::load_material`]
/// reads and checks it the same way at start, on every reload and in `puente node check`.
#[derive(Clone, Debug)]
pub struct TlsMaterial {
    /// The identity the node certificate carries.
    pub identity: PeerIdentity,
    /// The node's chain and key.
    pub tls: TlsIdentity,
    /// What the node certificate says.
    pub cert_info: CertInfo,
    /// This country's CA and CRL.
    pub own_anchor: CountryAnchor,
    /// Trusted peers.
    pub trust: TrustBundle,
}

impl TlsMaterial {
    /// What serving needs beyond [`NodeConfig::load_material`]: the node certificate is
    /// valid at `now` and verifies as a peer checks it (chain to `tls.ca`, usage, not
    /// revoked by `tls.crl`). Other commands (`trust export`, signing) work without it,
    /// so a country can still publish the CRL that revokes its own node.
    pub fn check_serving(&self, config: &NodeConfig, now: OffsetDateTime) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| {
            problems.push(ConfigProblem {
                key: key.to_string(),
                message,
            })
        };
        let cert_path = config.tls.cert.display();
        let info = &self.cert_info;
        if info.not_after < now {
            problem(
                "tls.cert",
                format!("{cert_path} expired on {}", info.not_after.date()),
            );
            return problems;
        }
        if now < info.not_before {
            problem(
                "tls.cert",
                format!("{cert_path} is not valid before {}", info.not_before),
            );
            return problems;
        }
        match puente_pki::tls::PeerServerVerifier::new(&self.own_anchor) {
            Err(e) => problem("tls.crl", e),
            Ok(v) => {
                if let Err(e) = v.verify_server_cert(
                    &self.tls.chain[0],
                    &self.tls.chain[1..],
                    &puente_pki::tls::peer_server_name(self.identity.country),
                    &[],
                    UnixTime::since_unix_epoch(Duration::from_secs(
                        u64::try_from(now.unix_timestamp()).unwrap_or(0),
                    )),
                ) {
                    problem(
                        "tls.cert",
                        format!(
                            "{cert_path} does not verify against tls.ca and tls.crl: {}",
                            puente_pki::tls::describe_error(&e)
                        ),
                    );
                }
            }
        }
        problems
    }
}

impl NodeConfig {
    /// Reads `tls.*` and `trust.file` and checks that they fit together: the certificate
    /// names this node and was issued by `tls.ca`; the key fits it; every peer entry and
    /// CRL parses. Reports every problem with its key path; nothing is half-loaded.
    /// Serving needs [`TlsMaterial::check_serving`] too.
    pub fn load_material(&self) -> Result<TlsMaterial, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| {
            problems.push(ConfigProblem {
                key: key.to_string(),
                message,
            })
        };
        let country = CountryCode::parse(&self.node.country).ok();
        let ca = files::load_certs(&self.tls.ca)
            .and_then(|mut c| {
                if c.len() == 1 {
                    Ok(c.remove(0))
                } else {
                    Err(puente_pki::PkiError::bad(
                        &self.tls.ca,
                        "expected exactly one CA certificate",
                    ))
                }
            })
            .map_err(|e| problem("tls.ca", e.to_string()))
            .ok();
        let crls = match &self.tls.crl {
            Some(p) => files::load_crls(p)
                .map_err(|e| problem("tls.crl", e.to_string()))
                .ok(),
            None => Some(Vec::new()),
        };
        let chain = files::load_certs(&self.tls.cert)
            .map_err(|e| problem("tls.cert", e.to_string()))
            .ok();
        let key = files::load_private_key(&self.tls.key)
            .map_err(|e| problem("tls.key", e.to_string()))
            .ok();
        let cert_path = self.tls.cert.display();
        let mut identity = None;
        let mut cert_info = None;
        if let Some(chain) = &chain {
            match inspect::inspect(&chain[0], &self.tls.cert) {
                Ok(info) => {
                    match &info.identity {
                        Some(id)
                            if Some(id.country) == country
                                && id.role == Role::Node
                                && id.name == self.node.name =>
                        {
                            identity = Some(id.clone())
                        }
                        Some(id) => problem(
                            "tls.cert",
                            format!(
                                "{cert_path} is the certificate of {}, not of node {} of {}",
                                id.urn(),
                                self.node.name,
                                self.node.country
                            ),
                        ),
                        None => problem(
                            "tls.cert",
                            format!("{cert_path} carries no urn:puente identity"),
                        ),
                    }
                    if let Some(ca) = &ca {
                        if let Ok(ca_info) = inspect::inspect(ca, &self.tls.ca) {
                            if ca_info.subject != info.issuer {
                                problem(
                                    "tls.cert",
                                    format!(
                                        "was issued by {:?}, not by the CA in tls.ca ({:?})",
                                        info.issuer, ca_info.subject
                                    ),
                                );
                            }
                        }
                    }
                    cert_info = Some(info);
                }
                Err(e) => problem("tls.cert", e.to_string()),
            }
        }
        let trust = TrustBundle::load(&self.trust.file)
            .map_err(|e| problem("trust.file", e.to_string()))
            .ok();
        if let (Some(trust), Some(country)) = (&trust, country) {
            if trust.peer(country).is_some() {
                problem(
                    "trust.file",
                    format!("lists this node's own country {country} as a peer"),
                );
            }
        }
        let (
            Some(identity),
            Some(chain),
            Some(key),
            Some(cert_info),
            Some(ca),
            Some(crls),
            Some(trust),
        ) = (identity, chain, key, cert_info, ca, crls, trust)
        else {
            return Err(problems);
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let own_anchor = CountryAnchor {
            country: identity.country,
            ca,
            crls,
        };
        let tls = TlsIdentity { chain, key };
        let mut problem = |key: &str, message: String| {
            problems.push(ConfigProblem {
                key: key.to_string(),
                message,
            })
        };
        // Build the configurations the node will serve and dial with, so material that
        // passes here cannot fail later.
        let crl_ok = puente_pki::tls::PeerServerVerifier::new(&own_anchor)
            .and_then(|_| {
                puente_pki::tls::CountryClientVerifier::new(std::slice::from_ref(&own_anchor))
            })
            .map_err(|e| problem("tls.crl", e))
            .is_ok();
        if crl_ok {
            if let Err(e) = puente_pki::tls::server_config(&tls, std::slice::from_ref(&own_anchor))
            {
                problem("tls.key", format!("{}: {e}", self.tls.key.display()));
            }
        }
        for peer in &trust.peers {
            let anchor = CountryAnchor {
                country: peer.country,
                ca: peer.ca_der.clone(),
                crls: peer.crls.clone(),
            };
            if let Err(e) = puente_pki::tls::client_config(&tls, &anchor)
                .and_then(|_| puente_pki::tls::CountryClientVerifier::new(&[anchor]))
            {
                problem(
                    "trust.file",
                    format!("{}: peer {}: {e}", self.trust.file.display(), peer.country),
                );
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(TlsMaterial {
            identity,
            tls,
            cert_info,
            own_anchor,
            trust,
        })
    }
}
