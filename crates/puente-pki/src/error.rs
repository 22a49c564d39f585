//! Errors of the PKI: every message names the offending value and where it came from.

use std::path::PathBuf;

/// Everything that can go wrong while creating, loading or checking PKI material.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A country code that is not an ISO 3166-1 alpha-3 code.
    #[error("{code:?} is not an ISO 3166-1 alpha-3 country code{hint}")]
    InvalidCountry {
        /// The code as given.
        code: String,
        /// Extra explanation (e.g. that it is an ICAO-only code), starting with "; ".
        hint: String,
    },
    /// A certificate holder name outside `[a-z0-9][a-z0-9._-]{0,62}`.
    #[error("{name:?} is not a valid name: use 1-63 characters a-z, 0-9, '.', '_', '-', starting with a letter or digit")]
    InvalidName {
        /// The name as given.
        name: String,
    },
    /// A role other than node, operator, auditor or carrier.
    #[error("{role:?} is not a role: expected node, operator, auditor or carrier")]
    InvalidRole {
        /// The role as given.
        role: String,
    },
    /// A Puente identity URN that does not parse.
    #[error("{urn:?} is not a Puente identity (urn:puente:<COUNTRY>:<role>:<name>): {reason}")]
    InvalidUrn {
        /// The URN as found.
        urn: String,
        /// Which part is wrong.
        reason: String,
    },
    /// A file or directory could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("reading", "writing", "creating directory").
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Refusing to overwrite existing material.
    #[error("{} already exists; refusing to overwrite it", path.display())]
    AlreadyExists {
        /// The existing path.
        path: PathBuf,
    },
    /// A PEM file, certificate, CRL or key that does not parse or does not fit.
    #[error("{}: {reason}", path.display())]
    BadMaterial {
        /// Where the material came from (a file, or a label such as a peer's bundle).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Certificate generation failed inside rcgen.
    #[error("generating {what}: {source}")]
    Generate {
        /// What was being generated.
        what: String,
        /// The rcgen error.
        source: rcgen::Error,
    },
    /// A revocation request that names no certificate this CA issued.
    #[error("no certificate with serial {serial} was issued by the CA in {}", dir.display())]
    UnknownSerial {
        /// The serial number (hex) as given.
        serial: String,
        /// The PKI directory.
        dir: PathBuf,
    },
    /// Random number generation failed.
    #[error("the system random number generator failed")]
    Random,
}

/// Shorthand for PKI results.
pub type Result<T, E = PkiError> = std::result::Result<T, E>;

impl PkiError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// A [`PkiError::BadMaterial`] for `path`.
    pub fn bad(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::BadMaterial {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
