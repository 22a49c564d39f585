//! The watched inbox (`[records] inbox = "DIR"`): feeds from the authority's case system
//! dropped as files. Every `records.inbox_poll_ms` the node lists `DIR`; a `.csv`,
//! `.jsonl` or `.ndjson` file whose size and time of change are the same at two looks
//! in a row is imported as one change (as `Local.ImportRecords` would), then moved to
//! `DIR/done/` or `DIR/failed/` beside `<file>.report.txt`, which names every bad row.
//! A writer that cannot write in one go writes `<file>.part` (or a dot-file) and renames
//! it when complete: those names are never taken. Passport copies are read relative to
//! `DIR` and left where they are.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use puente_records::import::{Apply, ImportReport};
use puente_records::RecordsError;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::state::NodeState;

/// What the inbox remembers between looks: each candidate's size and time of change.
type Looks = HashMap<PathBuf, (u64, Option<SystemTime>)>;

/// Whether `path` names a holdings file the inbox takes.
fn is_feed(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    !name.starts_with('.') && matches!(ext.as_str(), "csv" | "jsonl" | "ndjson")
}

/// The files of `dir` that have not changed since the last look (`looks` is updated).
fn settled(dir: &Path, looks: &mut Looks) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut now: Looks = HashMap::new();
    let mut ready = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() || !is_feed(&path) {
            continue;
        }
        let look = (meta.len(), meta.modified().ok());
        if looks.get(&path) == Some(&look) {
            ready.push(path.clone());
        }
        now.insert(path, look);
    }
    *looks = now;
    ready.sort();
    ready
}

/// Where `name` goes in `dir` without replacing an earlier file of that name.
fn free_name(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() && !dir.join(format!("{name}.report.txt")).exists() {
        return first;
    }
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    dir.join(format!("{stamp}-{name}"))
}

/// The text of a report: what was imported, or why nothing was (every bad row).
pub fn report_text(
    name: &str,
    result: &Result<ImportReport, RecordsError>,
    persons: usize,
) -> String {
    let when = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    match result {
        Ok(r) => {
            let mut text = format!(
                "{name}: imported at {when}: {} row(s), {} new, {} updated, {} passport copies; the records hold {persons} persons.\n",
                r.rows, r.created, r.updated, r.copies
            );
            for w in &r.warnings {
                text.push_str(&format!("warning: {w}\n"));
            }
            text
        }
        Err(RecordsError::BadRows { errors, .. }) => {
            let mut text = format!(
                "{name}: nothing was imported ({when}): {} bad row(s).\n",
                errors.len()
            );
            for e in errors {
                text.push_str(&format!("{e}\n"));
            }
            text
        }
        Err(e) => format!("{name}: nothing was imported ({when}): {e}\n"),
    }
}

impl NodeState {
    /// Watches `records.inbox` until `stop`, importing each settled file.
    pub async fn inbox_watch(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let Some(dir) = self.node.config.records.inbox.clone() else {
            return;
        };
        for sub in ["done", "failed"] {
            if let Err(e) = puente_pki::files::create_private_dir(&dir.join(sub)) {
                warn!(inbox = %dir.display(), "the records inbox cannot be used: creating {sub}/: {e}");
                return;
            }
        }
        info!(inbox = %dir.display(), "watching the records inbox");
        let tick = Duration::from_millis(self.node.config.records.inbox_poll_ms);
        let mut looks = Looks::new();
        // Files that could not be moved out: not taken again while they stay.
        let mut stuck: std::collections::HashSet<PathBuf> = Default::default();
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(tick) => {}
            }
            let listed = {
                let dir = dir.clone();
                let mut l = std::mem::take(&mut looks);
                match tokio::task::spawn_blocking(move || (settled(&dir, &mut l), l)).await {
                    Ok(r) => r,
                    Err(_) => continue,
                }
            };
            let ready;
            (ready, looks) = listed;
            stuck.retain(|p| looks.contains_key(p));
            for path in ready {
                if *stop.borrow() {
                    return;
                }
                if stuck.contains(&path) {
                    continue;
                }
                if !self.take_from_inbox(&dir, &path).await {
                    stuck.insert(path.clone());
                }
                looks.remove(&path);
            }
        }
    }

    /// Imports one inbox file as one change, writes its report, moves both; false when
    /// the file could not be moved out of the inbox.
    async fn take_from_inbox(&self, dir: &Path, path: &Path) -> bool {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _one = self.records_change.lock().await;
        let records = self.records.clone();
        let today = self.now().date();
        let file = path.to_path_buf();
        let result = tokio::task::spawn_blocking(move || {
            puente_records::import::import_file(
                &records,
                &file,
                today,
                Apply::Whole,
                &mut |_, _| {},
            )
        })
        .await
        .unwrap_or_else(|e| Err(RecordsError::Store(e.to_string())));
        let report = report_text(&name, &result, self.records.len());
        let to = dir.join(if result.is_ok() { "done" } else { "failed" });
        let target = free_name(&to, &name);
        let report_path = PathBuf::from(format!("{}.report.txt", target.display()));
        let moved =
            std::fs::write(&report_path, report).and_then(|()| std::fs::rename(path, &target));
        let out = moved.is_ok();
        match (&result, moved) {
            (_, Err(e)) => warn!(file = %name,
                "records inbox: moving the file to {}: {e}; it is not taken again until it leaves the inbox or the node restarts",
                to.display()),
            (Ok(r), Ok(())) => info!(file = %name, rows = r.rows, created = r.created,
                updated = r.updated, "records inbox: imported, moved to done/"),
            (Err(RecordsError::BadRows { errors, .. }), Ok(())) => warn!(file = %name,
                bad_rows = errors.len(), "records inbox: bad rows, nothing imported, moved to failed/"),
            (Err(_), Ok(())) => warn!(file = %name,
                "records inbox: nothing imported, moved to failed/ (see its report)"),
        }
        drop(_one);
        if result.is_ok() {
            self.records_changed().await;
        }
        out
    }
}
