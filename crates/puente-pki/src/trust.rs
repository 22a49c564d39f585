//! The trust bundle: for each peer country, its CA certificate, its signing verifier key,
//! its node address and (optionally) its CRL.
//!
//! Countries swap *public bundles* (`puente trust export` → out of band →
//! `puente trust add`), confirm fingerprints by phone or in person, and each keeps the
//! peers it accepted in its own trust file. Both are TOML; both are validated completely
//! on load, and every error names the file and the peer entry.

use std::path::{Path, PathBuf};

use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
use serde::{Deserialize, Serialize};

use crate::error::{PkiError, Result};
use crate::files;
use crate::identity::CountryCode;
use crate::inspect::{self, CertInfo};
use crate::signing::VerifyingKey;

/// Format tag of an exported public bundle.
pub const BUNDLE_FORMAT: &str = "puente-trust-bundle/1";
/// Format tag of a node's trust file.
pub const TRUST_FORMAT: &str = "puente-trust/1";

/// One peer as written in a bundle or a trust file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    /// ISO 3166-1 alpha-3 code of the peer country.
    pub country: String,
    /// `host:port` where the peer's node listens.
    pub address: String,
    /// The peer's signing verifier key (C2SP note key text).
    pub signing_key: String,
    /// The peer's root CA certificate, PEM.
    pub ca_certificate: String,
    /// The peer's current CRL, PEM, if it shared one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BundleFile {
    format: String,
    #[serde(flatten)]
    peer: PeerEntry,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustFile {
    format: String,
    #[serde(default, rename = "peer")]
    peers: Vec<PeerEntry>,
}

/// A peer whose material parsed and checked out.
#[derive(Clone, Debug)]
pub struct TrustedPeer {
    /// The peer country.
    pub country: CountryCode,
    /// Where its node listens.
    pub address: String,
    /// Its signing key.
    pub signing_key: VerifyingKey,
    /// Its root CA, DER.
    pub ca_der: CertificateDer<'static>,
    /// What its CA certificate says.
    pub ca_info: CertInfo,
    /// Its CRLs, DER.
    pub crls: Vec<CertificateRevocationListDer<'static>>,
    /// The entry as written (for re-export).
    pub entry: PeerEntry,
}

impl PeerEntry {
    /// Validates the entry; `origin` names its file and position for errors.
    pub fn validate(&self, origin: &Path) -> Result<TrustedPeer> {
        let at = |field: &str| origin.join(field);
        let country = CountryCode::parse(&self.country)
            .map_err(|e| PkiError::bad(at("country"), e.to_string()))?;
        validate_address(&self.address).map_err(|reason| PkiError::bad(at("address"), reason))?;
        let signing_key = VerifyingKey::parse(&self.signing_key)
            .map_err(|reason| PkiError::bad(at("signing_key"), reason))?;
        let ca_der = files::cert_from_pem(&self.ca_certificate, &at("ca_certificate"))?;
        let ca_info = inspect::inspect(&ca_der, &at("ca_certificate"))?;
        if !ca_info.is_ca {
            return Err(PkiError::bad(
                at("ca_certificate"),
                "is not a CA certificate",
            ));
        }
        if ca_info.subject != ca_info.issuer {
            return Err(PkiError::bad(
                at("ca_certificate"),
                "is not a self-signed root",
            ));
        }
        if !ca_info.subject.contains(&format!("OU={country}")) {
            return Err(PkiError::bad(
                at("ca_certificate"),
                format!("is the CA of {:?}, not of {country}", ca_info.subject),
            ));
        }
        let crls = match &self.crl {
            Some(pem) => files::crls_from_pem(pem, &at("crl"))?,
            None => Vec::new(),
        };
        Ok(TrustedPeer {
            country,
            address: self.address.clone(),
            signing_key,
            ca_der,
            ca_info,
            crls,
            entry: self.clone(),
        })
    }
}

/// Checks `host:port`.
pub fn validate_address(address: &str) -> std::result::Result<(), String> {
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err(format!("{address:?} is not host:port"));
    };
    if host.is_empty() {
        return Err(format!("{address:?} has no host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok(()),
        _ => Err(format!("{address:?} has no valid port (1-65535)")),
    }
}

/// [`validate_address`], and not the any-address (`0.0.0.0`, `[::]`): an address peers dial
/// (what `init` writes as `advertise`, what a bundle being added names). Configs and trust
/// files that hold one still load (a node of an earlier version may); `node check` warns.
pub fn dialable(address: &str) -> std::result::Result<(), String> {
    validate_address(address)?;
    let host = address.rsplit_once(':').map(|(h, _)| h).unwrap_or_default();
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    if ip
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified())
    {
        return Err(format!(
            "{address:?} is the any-address, which a node listens on but no peer can dial: give the host name or address peers reach this node at"
        ));
    }
    Ok(())
}

/// Writes this country's public bundle as TOML with an explanatory header.
pub fn export_bundle(entry: &PeerEntry) -> Result<String> {
    let body = toml::to_string_pretty(&BundleFile {
        format: BUNDLE_FORMAT.to_string(),
        peer: entry.clone(),
    })
    .map_err(|e| PkiError::bad("bundle", format!("cannot encode: {e}")))?;
    Ok(format!(
        "# Puente public trust bundle of {}.\n\
         # Hand this file to a peer country. It holds no secret. The peer adds it with\n\
         # `puente trust add --config … FILE` and confirms the fingerprints it prints with\n\
         # you by phone or in person before exchanging anything.\n{body}",
        entry.country
    ))
}

/// Reads and validates an exported public bundle.
pub fn read_bundle(path: &Path) -> Result<TrustedPeer> {
    read_bundle_text(&files::read_text(path)?, path)
}

/// Reads and validates a public bundle's text; `path` names where it came from.
pub fn read_bundle_text(text: &str, path: &Path) -> Result<TrustedPeer> {
    let file: BundleFile = toml::from_str(text).map_err(|e| PkiError::bad(path, e.to_string()))?;
    if file.format != BUNDLE_FORMAT {
        return Err(PkiError::bad(
            path,
            format!("format {:?} is not {BUNDLE_FORMAT:?}", file.format),
        ));
    }
    file.peer.validate(path)
}

/// A node's set of trusted peers.
#[derive(Clone, Debug, Default)]
pub struct TrustBundle {
    /// The file it was read from.
    pub path: PathBuf,
    /// The peers, in file order.
    pub peers: Vec<TrustedPeer>,
}

impl TrustBundle {
    /// Writes an empty trust file.
    pub fn create_empty(path: &Path) -> Result<()> {
        write_trust_file(
            path,
            &TrustFile {
                format: TRUST_FORMAT.to_string(),
                peers: Vec::new(),
            },
        )
    }

    /// Reads and validates a trust file: every peer must check out, and no country may
    /// appear twice.
    pub fn load(path: &Path) -> Result<Self> {
        let file = read_trust_file(path)?;
        let mut peers: Vec<TrustedPeer> = Vec::with_capacity(file.peers.len());
        for (i, entry) in file.peers.iter().enumerate() {
            let origin = path.join(format!("peer[{i}]"));
            let peer = entry.validate(&origin)?;
            if peers.iter().any(|p| p.country == peer.country) {
                return Err(PkiError::bad(
                    origin,
                    format!("country {} appears more than once", peer.country),
                ));
            }
            peers.push(peer);
        }
        Ok(Self {
            path: path.to_path_buf(),
            peers,
        })
    }

    /// The peer for `country`, if trusted.
    pub fn peer(&self, country: CountryCode) -> Option<&TrustedPeer> {
        self.peers.iter().find(|p| p.country == country)
    }

    /// Adds (or replaces) a peer in the trust file at `path`. Returns whether an entry
    /// for that country was replaced.
    pub fn add(path: &Path, peer: &TrustedPeer) -> Result<bool> {
        let mut file = read_trust_file(path)?;
        let replaced = if let Some(existing) = file
            .peers
            .iter_mut()
            .find(|p| p.country == peer.entry.country)
        {
            *existing = peer.entry.clone();
            true
        } else {
            file.peers.push(peer.entry.clone());
            false
        };
        write_trust_file(path, &file)?;
        Ok(replaced)
    }

    /// Removes a peer from the trust file. Returns whether it was there.
    pub fn remove(path: &Path, country: CountryCode) -> Result<bool> {
        let mut file = read_trust_file(path)?;
        let before = file.peers.len();
        file.peers.retain(|p| p.country != country.as_str());
        let removed = file.peers.len() != before;
        write_trust_file(path, &file)?;
        Ok(removed)
    }
}

fn read_trust_file(path: &Path) -> Result<TrustFile> {
    let text = files::read_text(path)?;
    let file: TrustFile = toml::from_str(&text).map_err(|e| PkiError::bad(path, e.to_string()))?;
    if file.format != TRUST_FORMAT {
        return Err(PkiError::bad(
            path,
            format!("format {:?} is not {TRUST_FORMAT:?}", file.format),
        ));
    }
    Ok(file)
}

fn write_trust_file(path: &Path, file: &TrustFile) -> Result<()> {
    let body = toml::to_string_pretty(file)
        .map_err(|e| PkiError::bad(path, format!("cannot encode: {e}")))?;
    files::write_public(
        path,
        &format!(
            "# Peers this node trusts. Managed with `puente trust add` / `puente trust remove`.\n{body}"
        ),
    )
}
