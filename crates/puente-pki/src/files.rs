//! Reading and writing PKI files: PEM decoding with errors that name the file, private
//! keys created with mode 0600 from the start (never widened afterwards).

use std::fs;
use std::io::Write;
use std::path::Path;

use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use crate::error::{PkiError, Result};

/// Reads a whole text file.
pub fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| PkiError::io("reading", path, e))
}

/// Writes a public file (certificate, CRL, public key), replacing it atomically.
pub fn write_public(path: &Path, contents: &str) -> Result<()> {
    write_atomic(path, contents.as_bytes(), 0o644)
}

/// Writes a private key with mode 0600, refusing to overwrite an existing one.
pub fn write_private(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    if path.exists() {
        return Err(PkiError::AlreadyExists {
            path: path.to_path_buf(),
        });
    }
    write_atomic(path, contents.as_ref(), 0o600)
}

fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(&tmp)
        .map_err(|e| PkiError::io("writing", &tmp, e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| PkiError::io("writing", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| PkiError::io("writing", path, e))
}

/// Creates a directory (and parents).
pub fn create_dir(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(|e| PkiError::io("creating directory", path, e))
}

/// Decodes every certificate in a PEM text; `origin` names where it came from.
pub fn certs_from_pem(pem: &str, origin: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let mut reader = pem.as_bytes();
    let certs = rustls_pemfile::certs(&mut reader)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| PkiError::bad(origin, format!("invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(PkiError::bad(origin, "no CERTIFICATE block found"));
    }
    Ok(certs)
}

/// Decodes exactly one certificate from a PEM text.
pub fn cert_from_pem(pem: &str, origin: &Path) -> Result<CertificateDer<'static>> {
    let mut certs = certs_from_pem(pem, origin)?;
    if certs.len() != 1 {
        return Err(PkiError::bad(
            origin,
            format!("expected one certificate, found {}", certs.len()),
        ));
    }
    Ok(certs.remove(0))
}

/// Reads the certificates of a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    certs_from_pem(&read_text(path)?, path)
}

/// Reads the private key of a PEM file.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let text = read_text(path)?;
    let mut reader = text.as_bytes();
    rustls_pemfile::private_key(&mut reader)
        .map_err(|e| PkiError::bad(path, format!("invalid PEM: {e}")))?
        .ok_or_else(|| PkiError::bad(path, "no PRIVATE KEY block found"))
}

/// Decodes every CRL in a PEM text.
pub fn crls_from_pem(
    pem: &str,
    origin: &Path,
) -> Result<Vec<CertificateRevocationListDer<'static>>> {
    let mut reader = pem.as_bytes();
    rustls_pemfile::crls(&mut reader)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| PkiError::bad(origin, format!("invalid CRL PEM: {e}")))
}

/// Reads the CRLs of a PEM file.
pub fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>> {
    crls_from_pem(&read_text(path)?, path)
}
