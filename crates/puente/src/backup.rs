//! `puente backup` and `puente restore`: a node's data directory into one archive while
//! it runs, and back into an empty data directory (also how a node moves to another
//! machine).
//!
//! A running node streams its snapshot over `Local.Backup` (operator certificate from
//! the configuration's `[client]` section); a stopped one is read from its data
//! directory. Keys never cross the wire: `--with-keys` adds them here, from the files the
//! configuration names. The archive is written to `FILE.partial`, checked whole, then
//! renamed: a `FILE` that exists is complete.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use puente_node::backup::{archive, restore, ArchiveWriter, Manifest};
use puente_node::config::LoadedNode;
use puente_node::NodeConfig;
use tokio_stream::StreamExt as _;

/// `puente backup --config C --out FILE [--with-keys]`.
pub fn backup(config: &Path, out: &Path, with_keys: bool) -> Result<()> {
    let node = NodeConfig::load(config)?;
    if out.exists() {
        bail!("{} already exists; refusing to overwrite it", out.display());
    }
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    let taken = take(&node, &partial);
    let finished = taken.and_then(|from| {
        let manifest = finish(&node, &partial, out, with_keys)?;
        Ok((from, manifest))
    });
    let _ = std::fs::remove_file(&partial);
    let (from, m) = finished?;
    println!(
        "Backed up {} {} ({from}) to {}: {} audit entries, {} sections, {}.",
        m.country,
        m.node,
        out.display(),
        m.audit_entries,
        m.sections.len(),
        if with_keys {
            "WITH the signing, data and TLS keys: keep this file as secret as the keys"
        } else {
            "no keys: it restores only where this node's data key and signing key are (see `puente restore --help`)"
        }
    );
    Ok(())
}

/// Writes the node's snapshot to `partial`; says where it came from.
fn take(node: &LoadedNode, partial: &Path) -> Result<&'static str> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let _in_runtime = runtime.enter();
    let client = crate::access::node_client(node, puente_pki::Role::Operator)?;
    let mut file = create(partial)?;
    let streamed = runtime.block_on(async {
        let mut stream = client
            .local()
            .backup(puente_proto::v1::BackupRequest {})
            .await?
            .into_inner();
        while let Some(part) = stream.next().await {
            file.write_all(&part?.chunk).map_err(|e| {
                tonic::Status::internal(format!("writing {}: {e}", partial.display()))
            })?;
        }
        Ok::<(), tonic::Status>(())
    });
    match streamed {
        Ok(()) => {
            file.sync_all()
                .with_context(|| format!("syncing {}", partial.display()))?;
            Ok("streamed by the running node")
        }
        Err(s) if no_node_answers(&s) => {
            // No node answers: read the data directory, which then must not be in use.
            drop(file);
            let store = puente_node::store::Store::open(&node.config.node.data_dir).map_err(|e| {
                anyhow!("the node at {} does not answer ({}), and its data directory cannot be read directly: {e}", node.advertise, s.message())
            })?;
            let trees = puente_audit::Trees::open(store.db(), &store.audit_dir())
                .context("opening the audit log")?;
            let mut file = create(partial)?;
            puente_node::backup::snapshot(
                &mut file,
                node,
                &store,
                &trees,
                "stopped node",
                time::OffsetDateTime::now_utc(),
            )?;
            file.sync_all()
                .with_context(|| format!("syncing {}", partial.display()))?;
            Ok("read from the data directory of the stopped node")
        }
        Err(s) => Err(anyhow!(client.refused(&s, puente_pki::Role::Operator))),
    }
}

/// Whether `s` says that nothing answered (no node runs there: a transport error, which
/// tonic reports with a source), rather than a node refusing or failing the backup.
fn no_node_answers(s: &tonic::Status) -> bool {
    matches!(
        s.code(),
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded
    ) || (s.code() == tonic::Code::Unknown && std::error::Error::source(s).is_some())
}

fn create(path: &Path) -> Result<std::fs::File> {
    let _ = std::fs::remove_file(path);
    puente_pki::files::open_private_rw(path).with_context(|| format!("creating {}", path.display()))
}

/// Checks the archive in `partial` whole and moves it to `out`, adding the key files
/// when `with_keys` (the archive is then rewritten, checked as it is read).
fn finish(node: &LoadedNode, partial: &Path, out: &Path, with_keys: bool) -> Result<Manifest> {
    let origin = partial.display().to_string();
    let open = || std::fs::File::open(partial).with_context(|| format!("opening {origin}"));
    if !with_keys {
        let m = archive::read(open()?, &origin, |_, _| Ok(()))?;
        std::fs::rename(partial, out)
            .with_context(|| format!("moving the backup to {}", out.display()))?;
        return Ok(m);
    }
    let keyed = PathBuf::from(format!("{}.keys", partial.display()));
    let written = (|| -> Result<Manifest> {
        let mut w = ArchiveWriter::new(create(&keyed)?)?;
        let mut current: Option<String> = None;
        let source = archive::read(open()?, &origin, |name, chunk| {
            let io = |e: std::io::Error| puente_node::BackupError::Io {
                what: "writing".into(),
                path: keyed.display().to_string(),
                source: e,
            };
            if current.as_deref() != Some(name) {
                w.begin(name).map_err(io)?;
                current = Some(name.to_string());
            }
            w.data(chunk).map_err(io)
        })?;
        for (section, what, path) in restore::key_targets(&node.config) {
            let bytes = std::fs::read(&path)
                .with_context(|| format!("reading the {what} at {}", path.display()))?;
            w.section(section, &bytes)?;
        }
        let file = w.finish(Manifest {
            with_keys: true,
            ..source
        })?;
        file.sync_all()?;
        let m = archive::read(
            std::fs::File::open(&keyed)?,
            &keyed.display().to_string(),
            |_, _| Ok(()),
        )?;
        std::fs::rename(&keyed, out)
            .with_context(|| format!("moving the backup to {}", out.display()))?;
        Ok(m)
    })();
    let _ = std::fs::remove_file(&keyed);
    written
}

/// `puente restore --config C FILE`.
pub fn restore(config: &Path, file: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    let parsed =
        NodeConfig::parse(&text, config)?.resolve(config.parent().unwrap_or(Path::new(".")));
    let r = restore::restore(file, &parsed)?;
    let m = &r.manifest;
    println!(
        "Restored {} (taken {} from the {} of {} {}) into {}: {} audit entries checked against their last signed checkpoint, {} store entries.",
        file.display(),
        m.created_at,
        m.taken_from,
        m.country,
        m.node,
        parsed.node.data_dir.display(),
        r.audit_entries,
        r.store_entries
    );
    for k in &r.keys_written {
        println!("Key written: {}", k.display());
    }
    println!(
        "Next: `puente node check --config {0}`, start the node, then `puente audit verify --config {0}`.",
        config.display()
    );
    Ok(())
}
