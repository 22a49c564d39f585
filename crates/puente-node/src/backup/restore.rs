//! A backup into an empty data directory.
//!
//! The archive is read twice: once to check it whole (every section against the
//! manifest, the closing SHA-256), before anything is written; then into a staging
//! directory beside the data directory, which is checked as the node would check it at
//! start (store opens, audit log and head file agree, signed by the key the node will
//! run with) and only then renamed into place. A refusal leaves everything as it was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use puente_pki::SigningKey;
use puente_records::DataKey;

use super::archive::{self, Manifest};
use super::store_dump::Loader;
use crate::config::NodeConfig;
use crate::error::BackupError;

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    /// The archive's manifest.
    pub manifest: Manifest,
    /// Audit entries in the restored log (checked against its head checkpoint).
    pub audit_entries: u64,
    /// Keys and values loaded into the store.
    pub store_entries: u64,
    /// Key files written from the archive.
    pub keys_written: Vec<PathBuf>,
}

/// The key sections and where the configuration puts each key.
pub fn key_targets(config: &NodeConfig) -> [(&'static str, &'static str, PathBuf); 3] {
    [
        (
            "keys/signing",
            "signing key (signing.key)",
            config.signing.key.clone(),
        ),
        (
            "keys/data",
            "data key (records.data_key)",
            config.records.data_key.clone(),
        ),
        ("keys/tls", "TLS key (tls.key)", config.tls.key.clone()),
    ]
}

fn io(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = what.to_string();
    let path = path.display().to_string();
    move |source| BackupError::Io { what, path, source }
}

/// Removes the staging directory unless the restore completed.
struct Staging(Option<PathBuf>);

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// Restores `archive` into the data directory of `config` (paths resolved), writing the
/// archive's key files where the configuration names them when they are absent.
pub fn restore(archive_path: &Path, config: &NodeConfig) -> Result<Restored, BackupError> {
    let origin = archive_path.display().to_string();
    let data_dir = config.node.data_dir.clone();
    if let Ok(entries) = std::fs::read_dir(&data_dir) {
        let names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if !names.is_empty() {
            return Err(BackupError::Refused(format!(
                "the data directory {} is not empty (it holds {}): restore only into an empty or new directory; nothing was changed",
                data_dir.display(),
                names.join(", ")
            )));
        }
    }
    let open = || std::fs::File::open(archive_path).map_err(io("opening", archive_path));

    // Pass 1: the whole archive checked; only the (small) key sections kept.
    let mut keys: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let manifest = archive::read(open()?, &origin, |name, chunk| {
        if name.starts_with("keys/") {
            keys.entry(name.to_string())
                .or_default()
                .extend_from_slice(chunk);
        }
        Ok(())
    })?;

    // The keys the restored node will run with, checked before anything is written.
    let mut to_write = Vec::new();
    for (section, what, target) in key_targets(config) {
        match (keys.get(section), std::fs::read(&target)) {
            (Some(bytes), Ok(existing)) if &existing != bytes => {
                return Err(BackupError::Refused(format!(
                    "{} exists and is not the {what} in the backup: move it away to restore the backup's, or keep it and restore a backup taken with it; nothing was changed",
                    target.display()
                )))
            }
            (Some(bytes), Err(_)) => to_write.push((target, bytes.clone())),
            _ => {}
        }
    }
    let no_keys = |what: &str, path: &Path, problem: String| {
        BackupError::Refused(format!(
            "{problem}. This backup {} the {what}; records and passport copies are sealed with the node's data key and every audit checkpoint is signed with its signing key, so it can be restored only where the same keys are at the paths the configuration names ({}), or from a backup taken with --with-keys; nothing was changed",
            if manifest.with_keys { "does not hold" } else { "was taken without --with-keys, so it does not hold" },
            path.display()
        ))
    };
    let parent = data_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let name = data_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    let staging_dir = parent.join(format!(".{name}.restoring"));
    if staging_dir.exists() {
        std::fs::remove_dir_all(&staging_dir).map_err(io(
            "removing a staging directory left by an earlier restore:",
            &staging_dir,
        ))?;
    }
    std::fs::create_dir_all(&parent).map_err(io("creating", &parent))?;
    puente_pki::files::create_private_dir(&staging_dir).map_err(io("creating", &staging_dir))?;
    let mut staging = Staging(Some(staging_dir.clone()));

    let key_file = |section: &str, target: &Path| -> Result<PathBuf, BackupError> {
        match keys.get(section) {
            Some(bytes) => {
                let p = staging_dir.join(format!(".check-{}", section.replace('/', "-")));
                puente_pki::files::write_private_file(&p, bytes).map_err(io("writing", &p))?;
                Ok(p)
            }
            None => Ok(target.to_path_buf()),
        }
    };
    let [signing_t, data_t, _] = key_targets(config);
    let signing_path = key_file(signing_t.0, &signing_t.2)?;
    let signing = SigningKey::load(&signing_path).map_err(|e| {
        no_keys(
            signing_t.1,
            &signing_t.2,
            format!("the signing key cannot be loaded: {e}"),
        )
    })?;
    if hex::encode(signing.verifying_key().public_bytes()) != manifest.signing_public {
        return Err(no_keys(
            signing_t.1,
            &signing_t.2,
            format!(
                "the signing key {} ({}) is not the key {} that signed the backed-up audit log",
                signing.name(),
                signing_t.2.display(),
                manifest.signing_key
            ),
        ));
    }
    let data_path = key_file(data_t.0, &data_t.2)?;
    let data_key = DataKey::load(&data_path).map_err(|e| {
        no_keys(
            data_t.1,
            &data_t.2,
            format!("the data key cannot be loaded: {e}"),
        )
    })?;
    if super::data_key_check(&data_key) != manifest.data_key_check {
        return Err(no_keys(
            data_t.1,
            &data_t.2,
            format!(
                "the data key at {} is not the one that sealed the backed-up records",
                data_t.2.display()
            ),
        ));
    }
    for section in ["keys/signing", "keys/data", "keys/tls"] {
        let _ =
            std::fs::remove_file(staging_dir.join(format!(".check-{}", section.replace('/', "-"))));
    }

    // Pass 2: into the staging directory.
    let audit_dir = staging_dir.join("audit");
    puente_pki::files::create_private_dir(&audit_dir).map_err(io("creating", &audit_dir))?;
    let store_dir = staging_dir.join("store");
    puente_pki::files::create_private_dir(&store_dir).map_err(io("creating", &store_dir))?;
    let log_path = audit_dir.join("log");
    let mut log =
        puente_pki::files::open_private_rw(&log_path).map_err(io("creating", &log_path))?;
    let db = sled::Config::new().path(&store_dir).open().map_err(|e| {
        BackupError::Store(format!(
            "creating the store in {}: {e}",
            store_dir.display()
        ))
    })?;
    let mut loader = Loader::new(db);
    let mut head = Vec::new();
    let mut quota = Vec::new();
    let again = archive::read(open()?, &origin, |name, chunk| {
        use std::io::Write as _;
        match name {
            "audit/log" => log.write_all(chunk).map_err(io("writing", &log_path)),
            "audit-head" => {
                head.extend_from_slice(chunk);
                Ok(())
            }
            "quota" => {
                quota.extend_from_slice(chunk);
                Ok(())
            }
            "store" => loader.feed(chunk),
            _ => Ok(()),
        }
    })?;
    if again != manifest {
        return Err(BackupError::Damaged {
            origin,
            problem: "it changed while it was being restored".into(),
        });
    }
    log.sync_all().map_err(io("syncing", &log_path))?;
    drop(log);
    let store_entries = loader.finish()?;
    let head_path = crate::store::audit_head_path(&staging_dir);
    if !head.is_empty() {
        puente_pki::files::write_private_file(&head_path, &head)
            .map_err(io("writing", &head_path))?;
    }
    if !quota.is_empty() {
        let q = crate::quota::QuotaCounters::restored_path(&staging_dir);
        puente_pki::files::write_private_file(&q, &quota).map_err(io("writing", &q))?;
    }

    // Checked as the node checks it at start.
    let audit_entries = {
        let store = crate::store::Store::open(&staging_dir)
            .map_err(|e| BackupError::Store(format!("the restored store: {e}")))?;
        let trees = puente_audit::Trees::open(store.db(), &store.audit_dir())
            .map_err(|e| BackupError::Store(format!("the restored audit log: {e}")))?;
        puente_audit::head::check(&head_path, &trees, &signing.verifying_key())
            .map_err(|e| BackupError::Store(format!("the restored audit log: {e}")))?;
        let size = trees
            .size()
            .map_err(|e| BackupError::Store(format!("the restored audit log: {e}")))?;
        if size != manifest.audit_entries {
            return Err(BackupError::Store(format!(
                "the restored audit log holds {size} entries, the manifest says {}",
                manifest.audit_entries
            )));
        }
        store
            .restrict_files()
            .map_err(|e| BackupError::Store(e.to_string()))?;
        size
    };

    // In place: the data directory, then the keys it needs.
    if data_dir.exists() {
        std::fs::remove_dir(&data_dir).map_err(io("removing the empty", &data_dir))?;
    }
    std::fs::rename(&staging_dir, &data_dir)
        .map_err(io("moving the restored data into", &data_dir))?;
    staging.0 = None;
    let mut keys_written = Vec::new();
    for (target, bytes) in to_write {
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
        }
        puente_pki::files::write_private(&target, &bytes)
            .map_err(|e| BackupError::Store(format!("writing {}: {e}", target.display())))?;
        keys_written.push(target);
    }
    Ok(Restored {
        manifest,
        audit_entries,
        store_entries,
        keys_written,
    })
}
