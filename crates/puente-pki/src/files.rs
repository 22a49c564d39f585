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

/// Replaces a private key (mode 0600) atomically: a reader sees the old key or the new
/// one, never part of either. For renewals; new keys use [`write_private`].
pub fn replace_private(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
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

/// Mode of every file under a node's data directory: its owner's only.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// Mode of every directory under (and of) a node's data directory.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Creates a directory of the data directory (and missing parents) with mode 0700, and
/// narrows it to 0700 if it exists: whatever the umask, only the node's user reads it.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, PRIVATE_DIR_MODE);
    builder.create(path)?;
    set_mode(path, PRIVATE_DIR_MODE)
}

/// Opens (creating if needed) a file of the data directory for reading and writing, mode
/// 0600 whatever the umask.
pub fn open_private_rw(path: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, PRIVATE_FILE_MODE);
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The umask may have narrowed the mode further (or a file created by an earlier
        // version be wider): set it exactly.
        if file.metadata()?.permissions().mode() & 0o7777 != PRIVATE_FILE_MODE {
            file.set_permissions(fs::Permissions::from_mode(PRIVATE_FILE_MODE))?;
        }
    }
    Ok(file)
}

/// Writes a whole file of the data directory with mode 0600 (replacing its contents).
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = open_private_rw(path)?;
    file.set_len(0)?;
    file.write_all(contents)
}

/// Narrows `root` and everything under it to 0700 (directories) and 0600 (files), for
/// what other code creates with the umask's mode (sled's files). Symbolic links are
/// neither followed nor changed. Returns the first failure, naming the path.
pub fn restrict_tree(root: &Path) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(root)?;
    if meta.is_dir() {
        set_mode(root, PRIVATE_DIR_MODE)?;
        for entry in fs::read_dir(root)? {
            restrict_tree(&entry?.path())?;
        }
    } else if meta.is_file() {
        set_mode(root, PRIVATE_FILE_MODE)?;
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let now = fs::symlink_metadata(path)?.permissions().mode() & 0o7777;
        if now != mode {
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("setting mode {mode:o} on {}: {e}", path.display()),
                )
            })?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
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
