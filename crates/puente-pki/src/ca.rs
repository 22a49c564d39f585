//! A country's certificate authority: its root certificate and key, the leaf certificates
//! it issues to nodes, operators and auditors, and its revocation list.
//!
//! Everything lives in one PKI directory:
//!
//! | file | what |
//! |---|---|
//! | `ca.pem`, `ca.key` | root CA certificate and its key (0600) |
//! | `signing.key`, `signing.pub` | Ed25519 agreement/checkpoint key (0600) and its verifier key |
//! | `crl.pem` | the CA's current revocation list |
//! | `ledger.toml` | every certificate issued and revoked, with the CRL number |
//! | `<role>-<name>.pem`, `.key` | issued leaf certificates and their keys (0600) |

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevocationReason, RevokedCertParams, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::error::{PkiError, Result};
use crate::files;
use crate::identity::{CountryCode, PeerIdentity, Role};
use crate::inspect;
use crate::signing::SigningKey;

/// File name of the CA certificate inside a PKI directory.
pub const CA_CERT: &str = "ca.pem";
/// File name of the CA key.
pub const CA_KEY: &str = "ca.key";
/// File name of the CRL.
pub const CRL: &str = "crl.pem";
/// File name of the signing key.
pub const SIGNING_KEY: &str = "signing.key";
/// File name of the signing verifier key.
pub const SIGNING_PUB: &str = "signing.pub";
const LEDGER: &str = "ledger.toml";

/// How long a CA certificate is valid.
pub const CA_VALIDITY_DAYS: i64 = 10 * 365;
/// Default validity of leaf certificates.
pub const LEAF_VALIDITY_DAYS: i64 = 365;
/// How long a CRL is valid before it must be reissued.
pub const CRL_VALIDITY_DAYS: i64 = 30;
/// Longest validity `puente pki crl --days` gives a CRL: peers learn of revocations no
/// later than this, so keep it short.
pub const MAX_CRL_VALIDITY_DAYS: i64 = 366;

/// Options for issuing a leaf certificate.
#[derive(Clone, Debug)]
pub struct IssueOptions {
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Host names or IP addresses a node serves under (added as DNS/IP SANs).
    pub hosts: Vec<String>,
}

impl IssueOptions {
    /// Valid from five minutes ago (clock skew) for `days` days.
    pub fn valid_for_days(now: OffsetDateTime, days: i64) -> Self {
        Self {
            not_before: now - Duration::minutes(5),
            not_after: now + Duration::days(days),
            hosts: Vec::new(),
        }
    }
}

/// A renewed certificate, and the one it follows.
#[derive(Clone, Debug)]
pub struct Renewed {
    /// The new certificate.
    pub issued: Issued,
    /// Serial (hex) of the certificate it replaces, valid until it expires or is revoked.
    pub previous_serial: String,
    /// When the replaced certificate expires.
    pub previous_not_after: OffsetDateTime,
    /// The host names and addresses carried over.
    pub hosts: Vec<String>,
}

/// A certificate the CA issued, with where it was written.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The identity it carries.
    pub identity: PeerIdentity,
    /// Serial number, hex.
    pub serial: String,
    /// The certificate file.
    pub cert_path: PathBuf,
    /// The private key file (0600).
    pub key_path: PathBuf,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Ledger {
    country: String,
    crl_number: u64,
    #[serde(default)]
    issued: Vec<LedgerIssued>,
    #[serde(default)]
    revoked: Vec<LedgerRevoked>,
}

#[derive(Debug, Serialize, Deserialize)]
struct LedgerIssued {
    serial: String,
    urn: String,
    not_after: String,
    file: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct LedgerRevoked {
    serial: String,
    revoked_at: String,
    reason: String,
}

/// A country's certificate authority, opened from its PKI directory.
pub struct CountryCa {
    dir: PathBuf,
    country: CountryCode,
    cert_pem: String,
    key: KeyPair,
}

impl std::fmt::Debug for CountryCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountryCa")
            .field("dir", &self.dir)
            .field("country", &self.country)
            .finish_non_exhaustive()
    }
}

impl CountryCa {
    /// Creates a country's PKI in `dir`: root CA, empty CRL and Ed25519 signing key.
    /// Refuses to touch a directory that already holds a CA.
    pub fn init(dir: &Path, country: CountryCode, now: OffsetDateTime) -> Result<Self> {
        files::create_dir(dir)?;
        for existing in [CA_CERT, CA_KEY, SIGNING_KEY] {
            let path = dir.join(existing);
            if path.exists() {
                return Err(PkiError::AlreadyExists { path });
            }
        }
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| {
            PkiError::Generate {
                what: format!("the {country} CA key"),
                source,
            }
        })?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(country, &format!("Puente {country} root CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = now - Duration::minutes(5);
        params.not_after = now + Duration::days(CA_VALIDITY_DAYS);
        params.serial_number = Some(random_serial()?);
        let cert = params
            .self_signed(&key)
            .map_err(|source| PkiError::Generate {
                what: format!("the {country} CA certificate"),
                source,
            })?;
        files::write_private(&dir.join(CA_KEY), key.serialize_pem())?;
        files::write_public(&dir.join(CA_CERT), &cert.pem())?;

        let key_name = format!("{}-{}", country.as_str().to_ascii_lowercase(), now.year());
        let signing = SigningKey::generate(&key_name, &dir.join(SIGNING_KEY))?;
        files::write_public(
            &dir.join(SIGNING_PUB),
            &format!("{}\n", signing.verifying_key().to_note_key()),
        )?;

        let ca = Self {
            dir: dir.to_path_buf(),
            country,
            cert_pem: cert.pem(),
            key,
        };
        ca.save_ledger(&Ledger {
            country: country.to_string(),
            ..Ledger::default()
        })?;
        ca.write_crl(now)?;
        Ok(ca)
    }

    /// Opens the CA of an existing PKI directory.
    pub fn open(dir: &Path) -> Result<Self> {
        let cert_path = dir.join(CA_CERT);
        if !cert_path.exists() {
            return Err(PkiError::bad(
                &cert_path,
                "no CA here; create one with `puente pki init --country XXX --dir DIR`",
            ));
        }
        let cert_pem = files::read_text(&cert_path)?;
        let key_path = dir.join(CA_KEY);
        let key_pem = files::read_text(&key_path)?;
        let key = KeyPair::from_pem(&key_pem)
            .map_err(|e| PkiError::bad(&key_path, format!("not a usable key: {e}")))?;
        let ledger = load_ledger(dir)?;
        let country = CountryCode::parse(&ledger.country)
            .map_err(|e| PkiError::bad(dir.join(LEDGER), e.to_string()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            country,
            cert_pem,
            key,
        })
    }

    /// The country this CA speaks for.
    pub fn country(&self) -> CountryCode {
        self.country
    }

    /// The PKI directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues a leaf certificate for `role`/`name` and writes `<role>-<name>.pem`/`.key`.
    pub fn issue(&self, role: Role, name: &str, options: &IssueOptions) -> Result<Issued> {
        let identity = PeerIdentity::new(self.country, role, name)?;
        self.issue_identity(&identity, options)
    }

    /// A person whose certificate was revoked (a lost laptop) gets a new one under the
    /// same name: the revoked pair at `cert`/`key` is renamed to
    /// `ROLE-NAME.revoked-SERIAL.pem`/`.key` (kept, never deleted), so issuing can go on.
    /// A certificate not revoked stays where it is (issuing then refuses to overwrite it).
    fn set_aside_if_revoked(&self, cert: &Path, key: &Path) -> Result<()> {
        let Ok(text) = std::fs::read_to_string(cert) else {
            return Ok(());
        };
        let Ok(der) = files::cert_from_pem(&text, cert) else {
            return Ok(());
        };
        let Ok(info) = inspect::inspect(&der, cert) else {
            return Ok(());
        };
        let ledger = load_ledger(&self.dir)?;
        if !ledger.revoked.iter().any(|r| r.serial == info.serial) {
            return Ok(());
        }
        let stem = cert
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (from, ext) in [(cert, "pem"), (key, "key")] {
            if from.exists() {
                let to = self
                    .dir
                    .join(format!("{stem}.revoked-{}.{ext}", info.serial));
                std::fs::rename(from, &to).map_err(|source| PkiError::Io {
                    action: "setting aside the revoked",
                    path: from.to_path_buf(),
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// Issues a certificate carrying `identity`, whatever country it names. Only tests of
    /// refusals need this (a CA of X signing a claim of Y); nodes never trust a claim
    /// without verifying it against the claimed country's CA.
    #[doc(hidden)]
    pub fn issue_identity(
        &self,
        identity: &PeerIdentity,
        options: &IssueOptions,
    ) -> Result<Issued> {
        let identity = identity.clone();
        let role = identity.role;
        let name = identity.name.clone();
        let name = name.as_str();
        let stem = format!("{role}-{name}");
        let cert_path = self.dir.join(format!("{stem}.pem"));
        let key_path = self.dir.join(format!("{stem}.key"));
        self.set_aside_if_revoked(&cert_path, &key_path)?;
        for path in [&cert_path, &key_path] {
            if path.exists() {
                return Err(PkiError::AlreadyExists { path: path.clone() });
            }
        }
        if options.not_after <= options.not_before {
            return Err(PkiError::bad(&cert_path, "validity ends before it starts"));
        }
        let (key, cert_pem, serial_hex) = self.sign_leaf(&identity, options)?;
        files::write_private(&key_path, key.serialize_pem())?;
        files::write_public(&cert_path, &cert_pem)?;

        let mut ledger = load_ledger(&self.dir)?;
        ledger.issued.push(LedgerIssued {
            serial: serial_hex.clone(),
            urn: identity.urn(),
            not_after: rfc3339(options.not_after),
            file: format!("{stem}.pem"),
        });
        self.save_ledger(&ledger)?;
        Ok(Issued {
            identity,
            serial: serial_hex,
            cert_path,
            key_path,
            not_after: options.not_after,
        })
    }

    /// A new key and a certificate for `identity` signed by this CA: the key, the PEM
    /// certificate and its serial (hex).
    fn sign_leaf(
        &self,
        identity: &PeerIdentity,
        options: &IssueOptions,
    ) -> Result<(KeyPair, String, String)> {
        let role = identity.role;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| {
            PkiError::Generate {
                what: format!("the key of {}", identity.urn()),
                source,
            }
        })?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(self.country, &identity.urn());
        let urn = identity
            .urn()
            .try_into()
            .map_err(|source| PkiError::Generate {
                what: format!("the URI SAN {}", identity.urn()),
                source,
            })?;
        params.subject_alt_names.push(SanType::URI(urn));
        for host in &options.hosts {
            let san = match host.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(host.clone().try_into().map_err(|source| {
                    PkiError::Generate {
                        what: format!("the host name {host:?}"),
                        source,
                    }
                })?),
            };
            params.subject_alt_names.push(san);
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = match role {
            Role::Node => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            Role::Operator | Role::Auditor | Role::Carrier => {
                vec![ExtendedKeyUsagePurpose::ClientAuth]
            }
        };
        params.not_before = options.not_before;
        params.not_after = options.not_after;
        let serial = random_serial()?;
        let serial_hex = hex::encode(serial.to_bytes());
        params.serial_number = Some(serial);
        params.use_authority_key_identifier_extension = true;
        let issuer = self.issuer()?;
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(|source| PkiError::Generate {
                what: format!("the certificate of {}", identity.urn()),
                source,
            })?;
        Ok((key, cert.pem(), serial_hex))
    }

    /// Renews the leaf certificate in the PEM file `cert` (which this CA issued and has
    /// not revoked): the same identity and host names, a new key, valid from now for
    /// `days` days. The key file beside it (same name, `.key`) and the certificate are
    /// replaced, the key first: a node watching them keeps its old pair until both are
    /// in place, then takes the new one without a restart. The previous certificate stays
    /// valid until it expires or is revoked (`Renewed::previous_serial`).
    pub fn renew(&self, cert: &Path, days: i64, now: OffsetDateTime) -> Result<Renewed> {
        let der = files::cert_from_pem(&files::read_text(cert)?, cert)?;
        let info = inspect::inspect(&der, cert)?;
        let identity = info.identity.clone().ok_or_else(|| {
            PkiError::bad(
                cert,
                "carries no Puente identity (urn:puente:…): not a certificate this CA issues",
            )
        })?;
        if identity.country != self.country {
            return Err(PkiError::bad(
                cert,
                format!(
                    "is a certificate of {} ({}); this CA ({}) renews only its own country's",
                    identity.country,
                    identity.urn(),
                    self.country
                ),
            ));
        }
        let ledger = load_ledger(&self.dir)?;
        if !ledger.issued.iter().any(|i| i.serial == info.serial) {
            return Err(PkiError::bad(
                cert,
                format!(
                    "serial {} is not in {}: this CA did not issue it, so it will not renew it",
                    info.serial,
                    self.dir.join(LEDGER).display()
                ),
            ));
        }
        if let Some(r) = ledger.revoked.iter().find(|r| r.serial == info.serial) {
            return Err(PkiError::bad(
                cert,
                format!(
                    "was revoked ({}, {}); a revoked certificate is not renewed: issue a new one deliberately with `puente pki issue`",
                    r.reason, r.revoked_at
                ),
            ));
        }
        if !(1..=CA_VALIDITY_DAYS).contains(&days) {
            return Err(PkiError::bad(
                cert,
                format!("a validity of {days} days: choose 1 to {CA_VALIDITY_DAYS}"),
            ));
        }
        let key_path = cert.with_extension("key");
        if !key_path.exists() {
            return Err(PkiError::bad(
                cert,
                format!(
                    "its key file {} is not beside it; renew the certificate where it was issued or installed with its key",
                    key_path.display()
                ),
            ));
        }
        let mut options = IssueOptions::valid_for_days(now, days);
        options.hosts = inspect::host_names(&der, cert)?;
        let (key, cert_pem, serial) = self.sign_leaf(&identity, &options)?;
        files::replace_private(&key_path, key.serialize_pem())?;
        files::write_public(cert, &cert_pem)?;
        let mut ledger = load_ledger(&self.dir)?;
        ledger.issued.push(LedgerIssued {
            serial: serial.clone(),
            urn: identity.urn(),
            not_after: rfc3339(options.not_after),
            file: cert
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        });
        self.save_ledger(&ledger)?;
        Ok(Renewed {
            issued: Issued {
                identity,
                serial,
                cert_path: cert.to_path_buf(),
                key_path,
                not_after: options.not_after,
            },
            previous_serial: info.serial,
            previous_not_after: info.not_after,
            hosts: options.hosts,
        })
    }

    /// Revokes the certificate with `serial` (hex, as `pki show` prints it) and rewrites
    /// the CRL. Revoking twice is harmless. Returns the identity that was revoked.
    pub fn revoke(&self, serial: &str, reason: &str, now: OffsetDateTime) -> Result<String> {
        let serial = serial
            .trim()
            .trim_start_matches("0x")
            .replace(':', "")
            .to_ascii_lowercase();
        let mut ledger = load_ledger(&self.dir)?;
        let urn = ledger
            .issued
            .iter()
            .find(|i| i.serial == serial)
            .map(|i| i.urn.clone())
            .ok_or_else(|| PkiError::UnknownSerial {
                serial: serial.clone(),
                dir: self.dir.clone(),
            })?;
        if !ledger.revoked.iter().any(|r| r.serial == serial) {
            ledger.revoked.push(LedgerRevoked {
                serial,
                revoked_at: rfc3339(now),
                reason: reason.to_string(),
            });
            self.save_ledger(&ledger)?;
        }
        self.write_crl(now)?;
        Ok(urn)
    }

    /// Revokes the certificate in a PEM file this CA issued.
    pub fn revoke_file(&self, cert: &Path, reason: &str, now: OffsetDateTime) -> Result<String> {
        let der = files::cert_from_pem(&files::read_text(cert)?, cert)?;
        let info = inspect::inspect(&der, cert)?;
        self.revoke(&info.serial, reason, now)
    }

    /// Reissues the CRL (new number, valid [`CRL_VALIDITY_DAYS`]) from the ledger.
    pub fn write_crl(&self, now: OffsetDateTime) -> Result<PathBuf> {
        self.write_crl_valid_for(now, CRL_VALIDITY_DAYS)
    }

    /// Reissues the CRL from the ledger, the same revocations signed again with a new
    /// number, `thisUpdate` now and `nextUpdate` `days` from now (1 to
    /// [`MAX_CRL_VALIDITY_DAYS`]): how a CRL is renewed before it runs out.
    pub fn write_crl_valid_for(&self, now: OffsetDateTime, days: i64) -> Result<PathBuf> {
        if !(1..=MAX_CRL_VALIDITY_DAYS).contains(&days) {
            return Err(PkiError::bad(
                self.dir.join(CRL),
                format!("a CRL valid for {days} days: choose 1 to {MAX_CRL_VALIDITY_DAYS}"),
            ));
        }
        let mut ledger = load_ledger(&self.dir)?;
        ledger.crl_number += 1;
        let ledger_path = self.dir.join(LEDGER);
        let mut revoked_certs = Vec::with_capacity(ledger.revoked.len());
        for r in &ledger.revoked {
            let bytes = hex::decode(&r.serial)
                .map_err(|_| PkiError::bad(&ledger_path, format!("bad serial {:?}", r.serial)))?;
            let at = OffsetDateTime::parse(&r.revoked_at, &Rfc3339)
                .map_err(|_| PkiError::bad(&ledger_path, format!("bad time {:?}", r.revoked_at)))?;
            revoked_certs.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&bytes),
                revocation_time: at,
                reason_code: Some(revocation_reason(&r.reason)),
                invalidity_date: None,
            });
        }
        let params = CertificateRevocationListParams {
            this_update: now - Duration::minutes(5),
            next_update: now + Duration::days(days),
            crl_number: SerialNumber::from(ledger.crl_number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let issuer = self.issuer()?;
        let crl = params
            .signed_by(&issuer)
            .map_err(|source| PkiError::Generate {
                what: format!("the {} CRL", self.country),
                source,
            })?;
        let pem = crl.pem().map_err(|source| PkiError::Generate {
            what: format!("the {} CRL", self.country),
            source,
        })?;
        let path = self.dir.join(CRL);
        files::write_public(&path, &pem)?;
        self.save_ledger(&ledger)?;
        Ok(path)
    }

    /// Serials (hex) revoked so far.
    pub fn revoked_serials(&self) -> Result<Vec<String>> {
        Ok(load_ledger(&self.dir)?
            .revoked
            .into_iter()
            .map(|r| r.serial)
            .collect())
    }

    fn issuer(&self) -> Result<Issuer<'static, &KeyPair>> {
        Issuer::from_ca_cert_pem(&self.cert_pem, &self.key).map_err(|source| PkiError::Generate {
            what: format!("the issuer from {}", self.dir.join(CA_CERT).display()),
            source,
        })
    }

    fn save_ledger(&self, ledger: &Ledger) -> Result<()> {
        let path = self.dir.join(LEDGER);
        let text = toml::to_string_pretty(ledger)
            .map_err(|e| PkiError::bad(&path, format!("cannot encode: {e}")))?;
        files::write_public(
            &path,
            &format!("# Certificates issued and revoked by this CA. Written by puente; do not edit.\n{text}"),
        )
    }
}

fn load_ledger(dir: &Path) -> Result<Ledger> {
    let path = dir.join(LEDGER);
    let text = files::read_text(&path)?;
    toml::from_str(&text).map_err(|e| PkiError::bad(&path, e.to_string()))
}

fn dn(country: CountryCode, common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Puente");
    dn.push(DnType::OrganizationalUnitName, country.as_str());
    dn.push(DnType::CommonName, common_name);
    dn
}

fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PkiError::Random)?;
    bytes[0] &= 0x7f; // positive
    bytes[0] |= 0x01; // no leading zero byte to strip: stable hex form
    Ok(SerialNumber::from_slice(&bytes))
}

fn revocation_reason(reason: &str) -> RevocationReason {
    match reason {
        "key_compromise" => RevocationReason::KeyCompromise,
        "ca_compromise" => RevocationReason::CaCompromise,
        "affiliation_changed" => RevocationReason::AffiliationChanged,
        "superseded" => RevocationReason::Superseded,
        "cessation_of_operation" => RevocationReason::CessationOfOperation,
        _ => RevocationReason::Unspecified,
    }
}

/// Revocation reasons `puente pki revoke --reason` accepts.
pub const REVOCATION_REASONS: &[&str] = &[
    "unspecified",
    "key_compromise",
    "ca_compromise",
    "affiliation_changed",
    "superseded",
    "cessation_of_operation",
];

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}
