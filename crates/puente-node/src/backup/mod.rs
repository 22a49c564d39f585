//! Backups of a node's data directory, taken while it runs, and their restore.
//!
//! A snapshot is one cut through the node's state, taken without stopping it:
//!
//! 1. the audit log as of its latest committed batch: the log file is append-only, so
//!    its first bytes up to the committed length are exactly that log while the writer
//!    goes on ([`puente_audit::Trees::committed`]); the index files are not
//!    copied (they are rebuilt from the log when it opens);
//! 2. the checkpoint closing that batch, as the restored node's head file;
//! 3. the quota counters, read after the cut (so they count at least every exchange the
//!    log holds);
//! 4. every sled tree, key by key, read after the cut; cosignatures on checkpoints past
//!    the cut are left out.
//!
//! Exchanges keep being answered meanwhile; what happened after the cut is not in the
//! backup. Keys are never part of a snapshot: `puente backup --with-keys` adds them from
//! the files the configuration names, on the operator's machine.
//!
//! # Layout
//! - [`archive`]: the container format, written and checked.
//! - [`restore`]: an archive into an empty data directory.
//! - here: [`snapshot`], and the `Local.Backup` stream.

pub mod archive;
pub mod restore;
mod store_dump;

use std::io::{Read, Write};

use puente_audit::Trees;

use crate::config::LoadedNode;
use crate::error::BackupError;
use crate::store::Store;
pub use archive::{ArchiveWriter, Manifest};

/// The value a manifest carries to recognise the data key without holding it.
pub fn data_key_check(key: &puente_records::DataKey) -> String {
    hex::encode(key.audit_hash("puente-backup-data-key-check", "v1"))
}

/// Writes a snapshot of the node whose store and audit log are `store` and `trees` as
/// an archive to `out`, and returns `out` and the manifest. `taken_from` says whether the
/// node was running.
pub fn snapshot<W: Write>(
    out: W,
    node: &LoadedNode,
    store: &Store,
    trees: &Trees,
    taken_from: &str,
    now: time::OffsetDateTime,
) -> Result<(W, Manifest), BackupError> {
    let io = |what: &str, path: &std::path::Path| {
        let what = what.to_string();
        let path = path.display().to_string();
        move |source: std::io::Error| BackupError::Io { what, path, source }
    };
    let sink = |source: std::io::Error| BackupError::Io {
        what: "writing the backup to".into(),
        path: "its destination".into(),
        source,
    };
    let (log_len, size, latest) = trees.committed();
    let log_path = trees.dir().join("log");
    let mut w = ArchiveWriter::new(out).map_err(sink)?;

    w.begin("audit/log").map_err(sink)?;
    let mut file = std::fs::File::open(&log_path).map_err(io("opening", &log_path))?;
    let mut left = log_len;
    let mut buf = vec![0u8; 256 * 1024];
    while left > 0 {
        let n = (buf.len() as u64).min(left) as usize;
        file.read_exact(&mut buf[..n])
            .map_err(io("reading", &log_path))?;
        w.data(&buf[..n]).map_err(sink)?;
        left -= n as u64;
    }
    w.section("audit-head", latest.unwrap_or_default().as_bytes())
        .map_err(sink)?;
    w.section("quota", &store.quota_snapshot()).map_err(sink)?;
    w.begin("store").map_err(sink)?;
    store_dump::dump(store.db(), size, &mut w)?;
    let manifest = Manifest {
        created_at: now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        country: node.country().to_string(),
        node: node.config.node.name.clone(),
        taken_from: taken_from.to_string(),
        audit_entries: size,
        signing_key: node.signing.name().to_string(),
        signing_public: hex::encode(node.signing.verifying_key().public_bytes()),
        data_key_check: data_key_check(&node.data_key),
        ..Manifest::default()
    };
    let out = w.finish(manifest.clone()).map_err(sink)?;
    Ok((out, manifest))
}

/// A writer that hands the archive on in chunks (the `Local.Backup` stream).
pub struct ChunkSink {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, tonic::Status>>,
}

/// Chunk size of the `Local.Backup` stream.
pub const CHUNK: usize = 256 * 1024;

impl ChunkSink {
    /// A sink sending to `tx` (from a blocking thread).
    pub fn new(tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, tonic::Status>>) -> Self {
        Self {
            buf: Vec::with_capacity(CHUNK),
            tx,
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::other("the client stopped reading the backup"))
    }
}

impl Write for ChunkSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// The `Local.Backup` response stream.
pub type BackupStream = std::pin::Pin<
    Box<
        dyn tokio_stream::Stream<Item = Result<puente_proto::v1::BackupResponse, tonic::Status>>
            + Send,
    >,
>;

/// Streams a snapshot of the running node: written on a blocking thread, handed on in
/// [`CHUNK`]s; an error ends the stream with its status (the client then has no
/// closing checksum, so nothing it kept passes as a backup).
pub fn stream(state: std::sync::Arc<crate::state::NodeState>) -> BackupStream {
    use tokio_stream::StreamExt as _;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let now = (state.clock)();
        let taken = snapshot(
            ChunkSink::new(tx.clone()),
            &state.node,
            &state.store,
            state.audit.trees(),
            "running node",
            now,
        );
        match taken {
            Ok((_, m)) => tracing::info!(
                audit_entries = m.audit_entries,
                sections = m.sections.len(),
                "backup streamed"
            ),
            Err(e) => {
                tracing::error!("backup failed: {e}");
                let _ = tx.blocking_send(Err(e.into()));
            }
        }
    });
    Box::pin(
        tokio_stream::wrappers::ReceiverStream::new(rx)
            .map(|r| r.map(|chunk| puente_proto::v1::BackupResponse { chunk })),
    )
}

#[cfg(test)]
mod tests;

impl crate::state::NodeState {
    /// Whether `caller` may take a backup: only the operator certificate of the node's own
    /// `[client]` section, the one `puente backup --config` presents on the node's host. A
    /// backup holds the whole audit log (which officers do not read: that is the
    /// auditors' service) and the sealed store, so an officer's workstation profile is
    /// refused even though it passes the `Local` gate.
    pub fn admit_backup(&self, caller: &puente_pki::PeerIdentity) -> Result<(), tonic::Status> {
        let rule = "role.backup_requires_node_host_operator";
        let host = self
            .node
            .config
            .client
            .operator_cert
            .as_ref()
            .ok_or_else(|| {
                tonic::Status::permission_denied(format!(
                    "{rule}: this node names no [client] operator_cert, so no one may take a backup through it; stop the node and run `puente backup --config` on its host"
                ))
            })?;
        let own = puente_pki::files::load_certs(host)
            .ok()
            .and_then(|chain| chain.into_iter().next())
            .and_then(|der| puente_pki::inspect::inspect(der.as_ref(), host).ok())
            .and_then(|info| info.identity);
        match own {
            Some(id) if id.urn() == caller.urn() => Ok(()),
            _ => Err(tonic::Status::permission_denied(format!(
                "{rule}: {} may not take a backup: a backup holds the whole audit log and store, so only the operator certificate of the node's [client] section may ({}); run `puente backup --config` on the node's host",
                caller.urn(),
                host.display()
            ))),
        }
    }
}
