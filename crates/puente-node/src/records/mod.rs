//! This country's own records, changed while the node serves: `Local.ImportRecords`,
//! `DeleteRecords` and `SearchRecords`, and the watched inbox ([`inbox`]). A change is
//! applied whole under the records' gate ([`puente_records::RecordStore::apply_import`]),
//! which matching reads under, so a peer's query in flight sees the records before or
//! after it; once answered, the statistics cells are aggregated again in the background
//! ([`NodeState::records_changed`]), so the next sync serves the new counts. Changes and
//! aggregations are serialized by one lock.
//!
//! Like `ImportCells`, these are operator actions on the node's own data, not exchanges:
//! they are logged with the operator's name, a digest of the file and counts, never a
//! name, number or record id.

use std::collections::BTreeMap;

use puente_pki::PeerIdentity;
use puente_proto::v1 as pb;
use puente_records::import::{ImportReport, RowFormat};
use puente_records::RecordsError;
use tonic::Status;
use tracing::{info, warn};

use crate::convert::{self, Terms};
use crate::state::NodeState;

pub mod inbox;

/// After records changed with no node running (`puente records import` on the data
/// directory): the flow counts aggregated from them and the match-key snapshot written
/// now, so that the next start of the node finds both ready instead of doing this work
/// (minutes at a million persons) before it can serve. Returns how the keys were loaded.
pub fn prepare_start(
    store: &crate::store::Store,
    records: &puente_records::RecordStore,
    data_dir: &std::path::Path,
) -> Result<puente_records::store::Loaded, String> {
    let stats = puente_stats::StatsStore::open(store.db())
        .map_err(|e| format!("the statistics store: {e}"))?;
    crate::sync::stats::aggregate_records(records, &stats)
        .map_err(|e| format!("aggregating flow counts from the records: {e}"))?;
    let loaded = records
        .load_match_keys_from(&data_dir.join(puente_records::store::SNAPSHOT_FILE))
        .map_err(|e| format!("loading the records' match keys: {e}"))?;
    if let Some(e) = &loaded.save_failed {
        return Err(format!("writing the match-key snapshot: {e}"));
    }
    Ok(loaded)
}

/// Most bytes of one import (file and passport copies).
pub const MAX_IMPORT_BYTES: usize = 512 * 1024 * 1024;
/// Most record ids one deletion names.
pub const MAX_DELETE: usize = 100_000;
/// Most results of one search.
pub const MAX_SEARCH: usize = 1000;

/// An import as a client sent it.
#[derive(Debug, Default)]
pub struct Upload {
    /// The file's name, as rows are reported against it.
    pub name: String,
    /// How it is written.
    pub format: Option<RowFormat>,
    /// The file.
    pub bytes: Vec<u8>,
    /// The passport copies it names, by name.
    pub copies: BTreeMap<String, Vec<u8>>,
}

/// The records store failed: logged here, refused without detail.
fn internal(e: impl std::fmt::Display) -> Status {
    tracing::error!("records store: {e}");
    Status::unavailable("the node's records store is unavailable; nothing was changed")
}

/// A short digest of `bytes` for logs (never the content).
pub(crate) fn digest(bytes: &[u8]) -> String {
    hex::encode(&crate::outcome::sha256(bytes)[..8])
}

/// An import's outcome as the contract says it: counts, or every bad row.
pub(crate) fn import_response(
    result: Result<ImportReport, RecordsError>,
    persons: u64,
) -> Result<pb::ImportRecordsResponse, Status> {
    match result {
        Ok(r) => Ok(pb::ImportRecordsResponse {
            rows: r.rows,
            created: r.created,
            updated: r.updated,
            copies: r.copies,
            persons,
            warnings: r.warnings,
            bad_rows: Vec::new(),
        }),
        Err(RecordsError::BadRows { errors, .. }) => Ok(pb::ImportRecordsResponse {
            rows: 0,
            persons,
            bad_rows: errors
                .into_iter()
                .map(|e| pb::RowProblem {
                    line: e.line,
                    field: e.field.unwrap_or_default(),
                    reason: e.reason,
                })
                .collect(),
            ..Default::default()
        }),
        Err(RecordsError::File { file, reason }) => Err(Status::invalid_argument(format!(
            "{file}: {reason}; nothing was imported"
        ))),
        Err(e) => Err(internal(e)),
    }
}

impl NodeState {
    /// `Local.ImportRecords`: every row checked, then applied as one change.
    pub async fn import_records(
        &self,
        operator: &PeerIdentity,
        upload: Upload,
    ) -> Result<pb::ImportRecordsResponse, Status> {
        let Some(format) = upload.format else {
            return Err(Status::invalid_argument(
                "header.format: RECORDS_FORMAT_CSV or RECORDS_FORMAT_JSON_LINES",
            ));
        };
        // The change, once the whole file is here, is the node's: it holds the lock
        // and logs the outcome on the blocking thread, so an operator who gives up
        // (Ctrl-C) neither leaves it running unlocked beside the next one nor unlogged.
        let one = self.records_change.clone().lock_owned().await;
        let records = self.records.clone();
        let today = self.now().date();
        let file = digest(&upload.bytes);
        let operator = operator.name.clone();
        tokio::task::spawn_blocking(move || {
            let _one = one;
            let result = puente_records::import::import_bytes(
                &records,
                &upload.name,
                format,
                &upload.bytes,
                &upload.copies,
                today,
            );
            let response = import_response(result, records.len() as u64)?;
            if response.bad_rows.is_empty() {
                info!(operator = %operator, file = %file, rows = response.rows,
                    created = response.created, updated = response.updated,
                    copies = response.copies, "records imported");
            } else {
                info!(operator = %operator, file = %file, bad_rows = response.bad_rows.len(),
                    "records import refused: bad rows, nothing imported");
            }
            Ok(response)
        })
        .await
        .map_err(internal)?
    }

    /// `Local.DeleteRecords`: the persons named, as one change.
    pub async fn delete_records(
        &self,
        operator: &PeerIdentity,
        req: pb::DeleteRecordsRequest,
    ) -> Result<pb::DeleteRecordsResponse, Status> {
        if req.record_ids.is_empty() || req.record_ids.len() > MAX_DELETE {
            return Err(Status::invalid_argument(format!(
                "record_ids: give 1-{MAX_DELETE} record ids"
            )));
        }
        for (i, id) in req.record_ids.iter().enumerate() {
            if id.is_empty() || id.chars().count() > 64 || id.chars().any(char::is_control) {
                return Err(Status::invalid_argument(format!(
                    "record_ids[{i}]: a record id is 1-64 printable characters"
                )));
            }
        }
        let one = self.records_change.clone().lock_owned().await;
        let records = self.records.clone();
        let ids = req.record_ids;
        let name = operator.name.clone();
        let (applied, unknown) = tokio::task::spawn_blocking(move || {
            let _one = one;
            let unknown: Vec<String> = ids
                .iter()
                .filter(|id| matches!(records.get_by_record_id(id), Ok(None)))
                .cloned()
                .collect();
            let applied = records.delete(&ids)?;
            info!(operator = %name, deleted = applied.deleted, unknown = applied.unknown,
                "records deleted");
            Ok::<_, puente_records::RecordsError>((applied, unknown))
        })
        .await
        .map_err(internal)?
        .map_err(internal)?;
        Ok(pb::DeleteRecordsResponse {
            deleted: applied.deleted,
            unknown_record_ids: unknown,
            persons: self.records.len() as u64,
        })
    }

    /// `Local.SearchRecords`: this country's own view of its records.
    pub async fn search_records(
        &self,
        operator: &PeerIdentity,
        req: pb::SearchRecordsRequest,
    ) -> Result<pb::SearchRecordsResponse, Status> {
        let terms = convert::terms(req.query.as_ref())?;
        let max = match req.max_results {
            0 => 10,
            n => (n as usize).min(MAX_SEARCH),
        };
        let kind = match &terms {
            Terms::Document { .. } => "document",
            Terms::Mrz(_) => "mrz",
            Terms::Name(_) => "name",
        };
        let records = self.records.clone();
        let threshold = self.node.config.records.match_threshold;
        let found = tokio::task::spawn_blocking(move || {
            let _view = records.view();
            let hits: Vec<(f64, String, puente_records::PersonRecord)> = match &terms {
                Terms::Document {
                    issuing_state,
                    number,
                } => records
                    .by_document(issuing_state, number)?
                    .into_iter()
                    .map(|s| (1.0, "document number and issuing state".into(), s.record))
                    .collect(),
                Terms::Mrz(m) => records
                    .by_document(&m.issuing_state, &m.document_number)?
                    .into_iter()
                    .map(|s| (1.0, "MRZ document number".into(), s.record))
                    .collect(),
                Terms::Name(q) => puente_records::matcher::search(&records, q, threshold, max)?
                    .into_iter()
                    .map(|m| (m.score, m.explanation, m.stored.record))
                    .collect(),
            };
            Ok::<_, RecordsError>((hits, records.len() as u64))
        })
        .await
        .map_err(internal)?;
        let (hits, persons) = match found {
            Ok(f) => f,
            Err(RecordsError::BadQuery(m)) => return Err(Status::invalid_argument(m)),
            Err(e) => return Err(internal(e)),
        };
        info!(operator = %operator.name, terms = kind, results = hits.len().min(max),
            "own records searched");
        Ok(pb::SearchRecordsResponse {
            matches: hits
                .into_iter()
                .take(max)
                .map(|(score, explanation, r)| pb::RecordMatch {
                    record_id: r.record_id,
                    score,
                    explanation,
                    given_names: r.given_names,
                    surnames: r.surnames,
                    date_of_birth: r.date_of_birth.to_string(),
                    sex: format!("{:?}", r.sex),
                    nationality: r.nationality,
                    document_number: r
                        .document
                        .as_ref()
                        .map(|d| d.number.clone())
                        .unwrap_or_default(),
                    issuing_state: r.document.map(|d| d.issuing_state).unwrap_or_default(),
                    protection_status: r.protection_status,
                })
                .collect(),
            persons,
        })
    }

    /// After a change: the statistics cells aggregated from the records again (the next
    /// sync serves them), surges looked for when configured, and a new match-key
    /// snapshot written (the change made the store stop naming the old one: without a
    /// new one the next start would rebuild the keys from every sealed record). Runs
    /// after the change has been answered (a full pass over the records takes a while in
    /// a big store); nothing to do when the records have not changed since the last
    /// aggregation.
    pub async fn records_changed(&self) {
        let _one = self.records_change.lock().await;
        let records = self.records.clone();
        let stats = self.stats.store.clone();
        let snapshot = self
            .node
            .config
            .node
            .data_dir
            .join(puente_records::store::SNAPSHOT_FILE);
        let aggregated = tokio::task::spawn_blocking(move || {
            let aggregated = crate::sync::stats::aggregate_records(&records, &stats);
            let written = match records.names_a_snapshot() {
                Ok(true) => Ok(()),
                Ok(false) => records.save_match_key_snapshot(&snapshot),
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                warn!("the match-key snapshot was not written after a records change (the next start rebuilds the keys): {e}");
            }
            aggregated
        })
        .await;
        match aggregated {
            Ok(Ok(Some(changed))) if changed > 0 && self.node.config.alerts.detect => {
                if let Err(e) = self.detect_surges() {
                    warn!("surge detection after a records change: {}", e.message());
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!("aggregating flow counts after a records change: {e}"),
            Err(e) => warn!("aggregating flow counts after a records change: {e}"),
        }
    }
}
