//! The client profile, `puente-client.toml`: what an officer's or auditor's workstation
//! holds to talk to its own node, and nothing else — the node's address, this country's
//! CA certificate (to recognise the node), and one person's certificate and key. No node
//! key, no signing key, no data key. Paths are relative to the profile's directory, so
//! the directory can be copied to another machine as it is.
//!
//! [`Profile::load`] checks everything that can be checked without the node: the CA is a
//! self-signed root of the certificate's country, the certificate chains to it, names the
//! profile's role and name, is valid now, and the key fits it and is private (0600).

use std::path::{Path, PathBuf};

use puente_pki::inspect::{self, CertInfo};
use puente_pki::tls::{CountryAnchor, CountryClientVerifier, TlsIdentity};
use puente_pki::{files, CountryCode, PeerIdentity, Role};
use rustls::pki_types::UnixTime;
use rustls::server::danger::ClientCertVerifier;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{ProfileError, ProfileProblem};

/// The profile's file name inside its directory.
pub const PROFILE_FILE: &str = "puente-client.toml";
/// Format tag of a profile.
pub const PROFILE_FORMAT: &str = "puente-client/1";

/// The file as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    /// Always [`PROFILE_FORMAT`].
    pub format: String,
    /// `host:port` of the own node (its advertised address).
    pub node: String,
    /// This country's root CA certificate (PEM), relative to the profile's directory.
    pub ca: PathBuf,
    /// `operator` or `auditor`.
    pub role: String,
    /// The person's name as the certificate carries it.
    pub name: String,
    /// The person's certificate (PEM).
    pub cert: PathBuf,
    /// The person's private key (PEM, mode 0600).
    pub key: PathBuf,
}

impl ProfileFile {
    /// The file's text, with comments that say what each key is.
    pub fn to_text(&self) -> String {
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        format!(
            "# Puente client profile: {role} {name}, talking to the node at {node}.\n\
             # It holds one person's certificate and key and this country's CA, nothing of the\n\
             # node's. Paths are relative to this file's directory: copy the directory as it is.\n\
             # Use it with `puente query --profile THIS_FILE …` or set PUENTE_PROFILE.\n\
             format = {format}\n\
             # The own node's address (host:port).\n\
             node = {node_q}\n\
             # This country's root CA: how the workstation recognises its node.\n\
             ca = {ca}\n\
             # Who this profile is: operator (officer commands) or auditor (audit --online).\n\
             role = {role_q}\n\
             name = {name_q}\n\
             # The person's certificate and private key (keep the key mode 0600).\n\
             cert = {cert}\n\
             key = {key}\n",
            role = self.role,
            name = self.name,
            node = self.node,
            format = q(&self.format),
            node_q = q(&self.node),
            ca = q(&self.ca.display().to_string()),
            role_q = q(&self.role),
            name_q = q(&self.name),
            cert = q(&self.cert.display().to_string()),
            key = q(&self.key.display().to_string()),
        )
    }
}

/// A profile whose material loaded and checked out.
#[derive(Clone, Debug)]
pub struct Profile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The own node's address.
    pub node: String,
    /// The person, as the certificate names them.
    pub identity: PeerIdentity,
    /// The certificate chain and key presented to the node.
    pub tls: TlsIdentity,
    /// What the certificate says (validity, serial).
    pub cert_info: CertInfo,
    /// This country's CA: the node must chain to it.
    pub anchor: CountryAnchor,
}

impl Profile {
    /// Loads and checks the profile at `path` against the current time.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        Self::load_at(path, OffsetDateTime::now_utc())
    }

    /// Loads and checks the profile at `path` as of `now`.
    pub fn load_at(path: &Path, now: OffsetDateTime) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ProfileError::Missing {
                    path: path.to_path_buf(),
                }
            } else {
                ProfileError::Read {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        let file: ProfileFile = toml::from_str(&text).map_err(|e| ProfileError::Garbled {
            path: path.to_path_buf(),
            reason: e.to_string().trim_end().replace('\n', "\n  "),
        })?;
        check(path, &file, now).map_err(|problems| ProfileError::Invalid {
            path: path.to_path_buf(),
            problems,
        })
    }

    /// The country of the person and of the node.
    pub fn country(&self) -> CountryCode {
        self.identity.country
    }
}

/// Collects every problem of `file` (read from `path`), or the loaded profile.
fn check(
    path: &Path,
    file: &ProfileFile,
    now: OffsetDateTime,
) -> Result<Profile, Vec<ProfileProblem>> {
    let mut problems = Vec::new();
    let dir = path.parent().unwrap_or(Path::new("."));
    if file.format != PROFILE_FORMAT {
        push(
            &mut problems,
            "format",
            format!("{:?} is not {PROFILE_FORMAT:?}", file.format),
        );
    }
    if let Err(e) = puente_pki::trust::validate_address(&file.node) {
        push(&mut problems, "node", e);
    }
    let role = match file.role.parse::<Role>() {
        Ok(Role::Node) => {
            push(
                &mut problems,
                "role",
                "a profile is a person's: operator, auditor or carrier, not node".into(),
            );
            None
        }
        Ok(r) => Some(r),
        Err(e) => {
            push(&mut problems, "role", e.to_string());
            None
        }
    };
    if let Err(e) = puente_pki::identity::validate_name(&file.name) {
        push(&mut problems, "name", e.to_string());
    }
    let ca_path = dir.join(&file.ca);
    let ca = match files::load_certs(&ca_path).and_then(|mut c| {
        if c.is_empty() {
            Err(puente_pki::PkiError::bad(&ca_path, "holds no certificate"))
        } else {
            let der = c.remove(0);
            inspect::inspect(&der, &ca_path).map(|info| (der, info))
        }
    }) {
        Ok((der, info)) if info.is_ca && info.subject == info.issuer => Some((der, info)),
        Ok(_) => {
            push(
                &mut problems,
                "ca",
                format!(
                    "{} is not a root CA certificate (give this country's pki/ca.pem)",
                    ca_path.display()
                ),
            );
            None
        }
        Err(e) => {
            push(&mut problems, "ca", e.to_string());
            None
        }
    };
    let cert_path = dir.join(&file.cert);
    let cert = match files::load_certs(&cert_path).and_then(|c| {
        let info = match c.first() {
            Some(leaf) => inspect::inspect(leaf, &cert_path)?,
            None => {
                return Err(puente_pki::PkiError::bad(
                    &cert_path,
                    "holds no certificate",
                ))
            }
        };
        Ok((c, info))
    }) {
        Ok((chain, info)) => match info.identity.clone() {
            Some(id) => Some((chain, info, id)),
            None => {
                push(
                    &mut problems,
                    "cert",
                    format!("{} carries no Puente identity", cert_path.display()),
                );
                None
            }
        },
        Err(e) => {
            push(&mut problems, "cert", e.to_string());
            None
        }
    };
    let key_path = dir.join(&file.key);
    let key = match files::load_private_key(&key_path) {
        Ok(k) => {
            if let Some(why) = not_private(&key_path) {
                push(&mut problems, "key", why);
            }
            Some(k)
        }
        Err(e) => {
            push(&mut problems, "key", e.to_string());
            None
        }
    };
    let (Some((chain, info, identity)), Some((ca_der, ca_info))) = (cert, ca) else {
        return Err(problems);
    };
    if Some(identity.role) != role || identity.name != file.name {
        push(
            &mut problems,
            "cert",
            format!(
                "{} is the certificate of {}, but the profile says {} {}",
                cert_path.display(),
                identity.urn(),
                file.role,
                file.name
            ),
        );
    }
    if !ca_info
        .subject
        .split(',')
        .any(|part| part.trim() == format!("OU={}", identity.country))
    {
        push(
            &mut problems,
            "ca",
            format!(
                "{} is the CA {:?}, not {}'s, the country of the certificate {}",
                ca_path.display(),
                ca_info.subject,
                identity.country,
                identity.urn()
            ),
        );
    }
    if info.not_after < now {
        push(
            &mut problems,
            "cert",
            format!(
                "{} (of {}) expired on {}; ask your node's administrator for a new profile",
                cert_path.display(),
                identity.urn(),
                info.not_after.date()
            ),
        );
    } else if now < info.not_before {
        push(
            &mut problems,
            "cert",
            format!(
                "{} (of {}) is not valid before {}",
                cert_path.display(),
                identity.urn(),
                info.not_before.date()
            ),
        );
    }
    let anchor = CountryAnchor {
        country: identity.country,
        ca: ca_der,
        crls: Vec::new(),
    };
    let verified = CountryClientVerifier::new(std::slice::from_ref(&anchor)).and_then(|v| {
        let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(now.unix_timestamp()).unwrap_or(0),
        ));
        v.verify_client_cert(&chain[0], &chain[1..], at)
            .map(|_| ())
            .map_err(|e| puente_pki::tls::describe_error(&e))
    });
    if let Err(why) = verified {
        // Expiry and a foreign CA were said above in plainer words.
        if problems.is_empty() {
            push(
                &mut problems,
                "cert",
                format!(
                    "{} does not verify against the CA in {}: {why}",
                    cert_path.display(),
                    ca_path.display()
                ),
            );
        }
    }
    let Some(key) = key else {
        return Err(problems);
    };
    let tls = TlsIdentity { chain, key };
    if let Err(why) = keys_fit(&tls) {
        push(
            &mut problems,
            "key",
            format!(
                "{} is not the key of {}: {why}",
                key_path.display(),
                cert_path.display()
            ),
        );
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Profile {
        path: path.to_path_buf(),
        node: file.node.clone(),
        identity,
        tls,
        cert_info: info,
        anchor,
    })
}

fn push(problems: &mut Vec<ProfileProblem>, key: &str, message: String) {
    problems.push(ProfileProblem {
        key: key.to_string(),
        message,
    });
}

/// Whether the private key belongs to the certificate.
fn keys_fit(tls: &TlsIdentity) -> Result<(), String> {
    let provider = puente_pki::tls::provider();
    let signer = provider
        .key_provider
        .load_private_key(tls.key.clone_key())
        .map_err(|e| e.to_string())?;
    rustls::sign::CertifiedKey::new(tls.chain.clone(), signer)
        .keys_match()
        .map_err(|e| e.to_string())
}

/// Why a key file is not private, if it is readable by others.
#[cfg(unix)]
fn not_private(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} is readable by others (mode {mode:o}); make it private: chmod 600 {}",
            path.display(),
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn not_private(_path: &Path) -> Option<String> {
    None
}

/// Writes a new profile into `dir` (created 0700 if new; refused if it already holds one): the
/// CA certificate, the person's certificate and key (0600) and `puente-client.toml`.
/// Returns the profile's path.
pub fn write_profile(
    dir: &Path,
    node: &str,
    ca_pem: &str,
    identity: &PeerIdentity,
    cert_pem: &str,
    key_pem: &str,
) -> Result<PathBuf, ProfileError> {
    let fail = |reason: String| ProfileError::Write {
        dir: dir.to_path_buf(),
        reason,
    };
    let path = dir.join(PROFILE_FILE);
    if path.exists() {
        return Err(fail(format!(
            "{} already exists; refusing to overwrite a profile (choose another --out)",
            path.display()
        )));
    }
    // A new directory is the person's alone; an existing one keeps its mode.
    if !dir.is_dir() {
        files::create_private_dir(dir).map_err(|e| fail(format!("creating the directory: {e}")))?;
    }
    let stem = format!("{}-{}", identity.role, identity.name);
    let file = ProfileFile {
        format: PROFILE_FORMAT.into(),
        node: node.to_string(),
        ca: PathBuf::from("ca.pem"),
        role: identity.role.to_string(),
        name: identity.name.clone(),
        cert: PathBuf::from(format!("{stem}.pem")),
        key: PathBuf::from(format!("{stem}.key")),
    };
    for (name, text) in [(&file.ca, ca_pem), (&file.cert, cert_pem)] {
        files::write_public(&dir.join(name), text).map_err(|e| fail(e.to_string()))?;
    }
    files::write_private(&dir.join(&file.key), key_pem).map_err(|e| fail(e.to_string()))?;
    files::write_public(&path, &file.to_text()).map_err(|e| fail(e.to_string()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_text_reads_back_as_the_same_file() {
        let file = ProfileFile {
            format: PROFILE_FORMAT.into(),
            node: "node.example:7400".into(),
            ca: PathBuf::from("ca \"quoted\".pem"),
            role: "auditor".into(),
            name: "a.b".into(),
            cert: PathBuf::from("auditor-a.b.pem"),
            key: PathBuf::from("keys/auditor-a.b.key"),
        };
        let back: ProfileFile = toml::from_str(&file.to_text()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, file);
    }

    #[test]
    fn every_problem_is_named_by_its_key() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(PROFILE_FILE);
        let file = ProfileFile {
            format: "puente-client/9".into(),
            node: "no-port".into(),
            ca: PathBuf::from("ca.pem"),
            role: "node".into(),
            name: "Bad Name".into(),
            cert: PathBuf::from("cert.pem"),
            key: PathBuf::from("key.pem"),
        };
        std::fs::write(&path, file.to_text()).unwrap_or_else(|e| panic!("{e}"));
        let Err(ProfileError::Invalid { problems, .. }) = Profile::load(&path) else {
            panic!("a profile with every key wrong loaded");
        };
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["format", "node", "role", "name", "ca", "cert", "key"]
        );
    }
}
