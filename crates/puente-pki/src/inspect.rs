//! Reading what a certificate says: its Puente identity, serial, validity window and
//! fingerprint. Used by `puente pki show`, by the ledger and by the TLS verifiers.

use std::path::Path;

use ring::digest;
use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::{PkiError, Result};
use crate::identity::{PeerIdentity, URN_PREFIX};

/// What a certificate says about itself (not yet proof of anything).
#[derive(Clone, Debug)]
pub struct CertInfo {
    /// The Puente identity in its URI SAN, if it carries exactly one.
    pub identity: Option<PeerIdentity>,
    /// Subject distinguished name, RFC 4514 text.
    pub subject: String,
    /// Issuer distinguished name, RFC 4514 text.
    pub issuer: String,
    /// Serial number, lower-case hex.
    pub serial: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Whether it is a CA certificate.
    pub is_ca: bool,
    /// SHA-256 of the DER encoding.
    pub fingerprint: [u8; 32],
}

/// Parses a DER certificate; `origin` names where it came from for errors.
pub fn inspect(der: &[u8], origin: &Path) -> Result<CertInfo> {
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|e| PkiError::bad(origin, format!("not an X.509 certificate: {e}")))?;
    if !rest.is_empty() {
        return Err(PkiError::bad(
            origin,
            "trailing bytes after the certificate",
        ));
    }
    let identity = identity_of(&cert).map_err(|reason| PkiError::bad(origin, reason))?;
    let validity = cert.validity();
    Ok(CertInfo {
        identity,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: hex::encode(cert.raw_serial()),
        not_before: validity.not_before.to_datetime(),
        not_after: validity.not_after.to_datetime(),
        is_ca: cert.is_ca(),
        fingerprint: fingerprint(der),
    })
}

/// The host names and IP addresses (DNS and IP SANs) a certificate is valid for, as text.
pub fn host_names(der: &[u8], origin: &Path) -> Result<Vec<String>> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| PkiError::bad(origin, format!("not an X.509 certificate: {e}")))?;
    let mut hosts = Vec::new();
    let san = cert
        .subject_alternative_name()
        .map_err(|e| PkiError::bad(origin, format!("unreadable subject alternative names: {e}")))?;
    for name in san.iter().flat_map(|s| s.value.general_names.iter()) {
        match name {
            GeneralName::DNSName(d) => hosts.push((*d).to_string()),
            GeneralName::IPAddress(b) => match b.len() {
                4 => {
                    let a: [u8; 4] = [b[0], b[1], b[2], b[3]];
                    hosts.push(std::net::IpAddr::from(a).to_string());
                }
                16 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(b);
                    hosts.push(std::net::IpAddr::from(a).to_string());
                }
                _ => {
                    return Err(PkiError::bad(
                        origin,
                        format!("an IP address SAN of {} bytes", b.len()),
                    ))
                }
            },
            _ => {}
        }
    }
    Ok(hosts)
}

/// The Puente identity a certificate claims: `Ok(None)` if it carries no `urn:puente:`
/// URI SAN, an error if it carries several or a malformed one.
pub fn identity_of(
    cert: &X509Certificate<'_>,
) -> std::result::Result<Option<PeerIdentity>, String> {
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("unreadable subjectAltName: {e}"))?;
    let Some(san) = san else { return Ok(None) };
    let urns: Vec<&str> = san
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::URI(uri) if uri.starts_with(URN_PREFIX) => Some(*uri),
            _ => None,
        })
        .collect();
    match urns.as_slice() {
        [] => Ok(None),
        [urn] => PeerIdentity::parse_urn(urn)
            .map(Some)
            .map_err(|e| e.to_string()),
        _ => Err(format!(
            "carries {} Puente identities; exactly one is allowed",
            urns.len()
        )),
    }
}

/// Reads the identity a DER certificate claims, requiring one.
pub fn claimed_identity(der: &[u8]) -> std::result::Result<PeerIdentity, String> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    identity_of(&cert)?.ok_or_else(|| "certificate carries no urn:puente identity".to_string())
}

/// SHA-256 of a DER encoding.
pub fn fingerprint(der: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, der).as_ref());
    out
}

/// A fingerprint in groups of four hex digits, easy to read aloud over the phone.
pub fn fingerprint_text(fp: &[u8]) -> String {
    let hex = hex::encode(fp);
    hex.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a CRL says about itself: when it was issued and until when it is current.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlInfo {
    /// `thisUpdate`.
    pub this_update: OffsetDateTime,
    /// `nextUpdate`: the issuer promises a newer CRL by then (absent: no promise).
    pub next_update: Option<OffsetDateTime>,
    /// Serials (hex, as [`CertInfo::serial`]) of the certificates it revokes.
    pub revoked: Vec<String>,
}

/// Reads a DER CRL; `origin` names where it came from in errors. Does not check its
/// signature (the TLS verifiers do that, against the CA).
pub fn inspect_crl(der: &[u8], origin: &Path) -> Result<CrlInfo> {
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(der)
        .map_err(|e| PkiError::bad(origin, format!("not a DER CRL: {e}")))?;
    Ok(CrlInfo {
        this_update: crl.last_update().to_datetime(),
        next_update: crl.next_update().map(|t| t.to_datetime()),
        revoked: crl
            .iter_revoked_certificates()
            .map(|r| hex::encode(r.raw_serial()))
            .collect(),
    })
}
