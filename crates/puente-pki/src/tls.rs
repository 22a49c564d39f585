//! Mutual TLS configurations whose verifiers know countries.
//!
//! - Server side, [`CountryClientVerifier`]: a client certificate is first read for the
//!   country it claims, then verified (chain, validity, key usage, CRL) against *that
//!   country's* CA only. A certificate that chains to country X's CA but claims Y is
//!   therefore refused during the handshake, as is one of a country not in the trust bundle.
//! - Client side, [`PeerServerVerifier`]: a node dialling peer P accepts only a server
//!   certificate that chains to P's CA and names a node of P.
//!
//! Both use rustls with the ring provider: TLS 1.3, and TLS 1.2 only with the provider's
//! ECDHE + AEAD suites (forward secret).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, TrustAnchor, UnixTime,
};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, OtherError,
    RootCertStore, ServerConfig, SignatureScheme,
};

use crate::identity::{CountryCode, PeerIdentity, Role};
use crate::inspect::claimed_identity;

/// The crypto provider every Puente TLS configuration uses (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Why the TLS layer refused a certificate in a way webpki cannot say by itself.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The certificate carries no (or a malformed) `urn:puente:` identity.
    #[error("{0}")]
    NoIdentity(String),
    /// The claimed country is not in the trust bundle.
    #[error("certificate claims country {0}, which is not in the trust bundle")]
    UnknownCountry(CountryCode),
    /// The chain did not verify against the claimed country's CA.
    #[error("certificate claims {claimed} but does not verify against {claimed}'s CA: {reason}")]
    WrongCa {
        /// The claimed country.
        claimed: CountryCode,
        /// webpki's reason.
        reason: String,
    },
    /// A peer server's certificate does not chain to the expected country's CA.
    #[error("expected a node of {expected}, but the server's certificate does not chain to {expected}'s CA ({reason})")]
    NotPeerCa {
        /// The country dialled.
        expected: CountryCode,
        /// webpki's reason.
        reason: String,
    },
    /// A peer server presented the certificate of someone other than the expected node.
    #[error("expected a node of {expected}, the server presented {found}")]
    WrongPeer {
        /// The country dialled.
        expected: CountryCode,
        /// Who the certificate names.
        found: PeerIdentity,
    },
}

fn refuse(e: IdentityError) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(e))))
}

/// A country's CA as a TLS trust anchor, with its CRLs.
#[derive(Clone, Debug)]
pub struct CountryAnchor {
    /// The country.
    pub country: CountryCode,
    /// Its root CA, DER.
    pub ca: CertificateDer<'static>,
    /// Its CRLs, DER (may be empty).
    pub crls: Vec<CertificateRevocationListDer<'static>>,
}

/// This node's own certificate chain and key.
#[derive(Debug)]
pub struct TlsIdentity {
    /// Leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

impl Clone for TlsIdentity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// Verifies client certificates against the CA of the country they claim.
pub struct CountryClientVerifier {
    by_country: HashMap<CountryCode, Arc<dyn ClientCertVerifier>>,
    subjects: Vec<DistinguishedName>,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for CountryClientVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountryClientVerifier")
            .field("countries", &self.by_country.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl CountryClientVerifier {
    /// Builds one webpki verifier per country, each with only that country's CA and CRLs.
    pub fn new(anchors: &[CountryAnchor]) -> Result<Self, String> {
        let provider = provider();
        let mut by_country = HashMap::new();
        let mut subjects = Vec::new();
        for anchor in anchors {
            let mut roots = RootCertStore::empty();
            roots
                .add(anchor.ca.clone())
                .map_err(|e| format!("CA of {}: {e}", anchor.country))?;
            subjects.extend(roots.subjects());
            let mut builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            if !anchor.crls.is_empty() {
                builder = builder
                    .with_crls(anchor.crls.iter().cloned())
                    .only_check_end_entity_revocation();
            }
            let verifier = builder
                .build()
                .map_err(|e| format!("verifier for {}: {e}", anchor.country))?;
            by_country.insert(anchor.country, verifier);
        }
        Ok(Self {
            by_country,
            subjects,
            provider,
        })
    }
}

impl ClientCertVerifier for CountryClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.subjects
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let claimed =
            claimed_identity(end_entity).map_err(|e| refuse(IdentityError::NoIdentity(e)))?;
        let verifier = self
            .by_country
            .get(&claimed.country)
            .ok_or_else(|| refuse(IdentityError::UnknownCountry(claimed.country)))?;
        verifier
            .verify_client_cert(end_entity, intermediates, now)
            .inspect_err(|e| {
                // The handshake's own refusal line knows only the address: name the
                // certificate here (revoked, expired, …), so an operator sees whose it was.
                let serial = crate::inspect::inspect(end_entity, std::path::Path::new("client"))
                    .map(|i| i.serial)
                    .unwrap_or_default();
                tracing::warn!(
                    certificate = %claimed.urn(),
                    serial,
                    "client certificate refused: {}",
                    describe_error(e)
                );
            })
            .map_err(|e| match e {
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
                | rustls::Error::InvalidCertificate(CertificateError::BadSignature) => {
                    refuse(IdentityError::WrongCa {
                        claimed: claimed.country,
                        reason: e.to_string(),
                    })
                }
                other => other,
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Verifies that a server is a node of one expected peer country.
pub struct PeerServerVerifier {
    expected: CountryCode,
    anchor: TrustAnchor<'static>,
    crls: Vec<webpki::CertRevocationList<'static>>,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for PeerServerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerServerVerifier")
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl PeerServerVerifier {
    /// A verifier for nodes of `anchor.country`.
    pub fn new(anchor: &CountryAnchor) -> Result<Self, String> {
        let ta = webpki::anchor_from_trusted_cert(&anchor.ca)
            .map_err(|e| format!("CA of {}: {e}", anchor.country))?
            .to_owned();
        let crls = anchor
            .crls
            .iter()
            .map(|der| {
                webpki::OwnedCertRevocationList::from_der(der)
                    .map(webpki::CertRevocationList::from)
                    .map_err(|e| format!("CRL of {}: {e}", anchor.country))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            expected: anchor.country,
            anchor: ta,
            crls,
            provider: provider(),
        })
    }
}

impl ServerCertVerifier for PeerServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // Identity is the URI SAN after chain verification, not the DNS name dialled.
        let cert = webpki::EndEntityCert::try_from(end_entity).map_err(webpki_error)?;
        let crl_refs: Vec<&webpki::CertRevocationList<'_>> = self.crls.iter().collect();
        let revocation = if crl_refs.is_empty() {
            None
        } else {
            webpki::RevocationOptionsBuilder::new(&crl_refs)
                .ok()
                .map(|b| {
                    b.with_depth(webpki::RevocationCheckDepth::EndEntity)
                        .build()
                })
        };
        cert.verify_for_usage(
            self.provider.signature_verification_algorithms.all,
            std::slice::from_ref(&self.anchor),
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            revocation,
            None,
        )
        .map_err(|e| match webpki_error(e) {
            rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer | CertificateError::BadSignature,
            ) => refuse(IdentityError::NotPeerCa {
                expected: self.expected,
                reason: "unknown issuer or bad signature".into(),
            }),
            other => other,
        })?;
        let found =
            claimed_identity(end_entity).map_err(|e| refuse(IdentityError::NoIdentity(e)))?;
        if found.country != self.expected || found.role != Role::Node {
            return Err(refuse(IdentityError::WrongPeer {
                expected: self.expected,
                found,
            }));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn webpki_error(e: webpki::Error) -> rustls::Error {
    use webpki::Error as W;
    let ce = match e {
        W::BadDer | W::BadDerTime => CertificateError::BadEncoding,
        W::CertExpired { .. } => CertificateError::Expired,
        W::CertNotValidYet { .. } => CertificateError::NotValidYet,
        W::CertRevoked => CertificateError::Revoked,
        W::UnknownIssuer => CertificateError::UnknownIssuer,
        W::InvalidSignatureForPublicKey => CertificateError::BadSignature,
        W::RequiredEkuNotFoundContext(_) => CertificateError::InvalidPurpose,
        other => CertificateError::Other(OtherError(Arc::new(other))),
    };
    rustls::Error::InvalidCertificate(ce)
}

/// A server configuration requiring client certificates of the given countries.
pub fn server_config(
    identity: &TlsIdentity,
    anchors: &[CountryAnchor],
) -> Result<ServerConfig, String> {
    server_config_with(identity, Arc::new(CountryClientVerifier::new(anchors)?))
}

/// [`server_config`] with a client verifier the caller keeps too (a node re-checks the
/// certificate behind each open connection with it when its CRLs or trust change).
pub fn server_config_with(
    identity: &TlsIdentity,
    verifier: Arc<CountryClientVerifier>,
) -> Result<ServerConfig, String> {
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(|e| format!("node certificate and key do not fit together: {e}"))?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}

/// A client configuration that presents `identity` and accepts only a node of
/// `peer.country`.
pub fn client_config(identity: &TlsIdentity, peer: &CountryAnchor) -> Result<ClientConfig, String> {
    let verifier = PeerServerVerifier::new(peer)?;
    let mut cfg = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(|e| format!("client certificate and key do not fit together: {e}"))?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}

/// The TLS server name used when dialling a country's node (SNI and session cache key;
/// identity is checked by [`PeerServerVerifier`], not by this name).
pub fn peer_server_name(country: CountryCode) -> ServerName<'static> {
    let name = format!(
        "{}.node.puente.invalid",
        country.as_str().to_ascii_lowercase()
    );
    // Always a valid DNS name: three lower-case letters and fixed labels.
    ServerName::try_from(name)
        .unwrap_or(ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()))
}

/// A readable reason for a TLS failure: Puente's own refusals by their message (rustls
/// would print them with `Debug`), others as rustls words them.
pub fn describe_error(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
            format!("certificate refused: {inner}")
        }
        rustls::Error::AlertReceived(alert) => {
            use rustls::AlertDescription as A;
            let why = match alert {
                A::CertificateRevoked => "it is revoked",
                A::CertificateExpired => "it is expired or not yet valid",
                A::UnknownCA => "it is not issued by a CA the other side trusts",
                A::BadCertificate | A::CertificateUnknown | A::UnsupportedCertificate => {
                    "it does not verify there"
                }
                A::AccessDenied => "access denied",
                _ => return e.to_string(),
            };
            format!("the other side refused this certificate: {why} ({e})")
        }
        other => other.to_string(),
    }
}

/// [`describe_error`] for the `io::Error` a tokio-rustls handshake returns.
pub fn describe_io_error(e: &std::io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => describe_error(tls),
        None => e.to_string(),
    }
}
