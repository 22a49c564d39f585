//! Reading the log for auditors: filtered, paged listing and the contract's view of an
//! entry. Shared by the `Audit` gRPC service and the offline `puente audit` commands.

use prost::Message;
use puente_proto::v1 as pb;

use crate::entry::Entry;
use crate::error::AuditError;
use crate::trees::Trees;

/// Which entries to list.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// From this time (Unix ms), inclusive.
    pub since_ms: Option<i64>,
    /// Until this time (Unix ms), exclusive.
    pub until_ms: Option<i64>,
    /// Only with this peer country.
    pub peer_country: Option<String>,
    /// Only this service (proto number).
    pub service: Option<i32>,
    /// Only this decision (proto number).
    pub decision: Option<i32>,
    /// Only this direction (proto number).
    pub direction: Option<i32>,
    /// Only actors containing this text.
    pub actor: Option<String>,
    /// Only entries holding this keyed query-term hash.
    pub term_hash: Option<[u8; 32]>,
}

impl Filter {
    /// Whether `e` passes.
    pub fn admits(&self, e: &Entry) -> bool {
        self.since_ms.is_none_or(|t| e.time_ms >= t)
            && self.until_ms.is_none_or(|t| e.time_ms < t)
            && self
                .peer_country
                .as_deref()
                .is_none_or(|c| e.peer_country.eq_ignore_ascii_case(c))
            && self.service.is_none_or(|s| e.service == s)
            && self.decision.is_none_or(|d| e.decision == d)
            && self.direction.is_none_or(|d| e.direction == d)
            && self.actor.as_deref().is_none_or(|a| e.actor.contains(a))
            && self
                .term_hash
                .is_none_or(|h| e.query_term_hashes.iter().any(|(_, x)| *x == h))
    }
}

/// A listed entry with its encoding.
#[derive(Clone, Debug)]
pub struct Listed {
    /// The entry.
    pub entry: Entry,
    /// Its exact encoding (the leaf data).
    pub encoded: Vec<u8>,
}

/// Lists up to `limit` entries from `start` that pass `filter`; returns them and the
/// index to continue from, if any remain. Reads the whole log if it must (offline tools).
pub fn list(
    trees: &Trees,
    filter: &Filter,
    start: u64,
    limit: usize,
) -> Result<(Vec<Listed>, Option<u64>), AuditError> {
    let size = trees.size()?;
    list_within(trees, filter, start..size, limit, u64::MAX)
}

/// Lists up to `limit` entries of `range` that pass `filter`, examining at most
/// `max_scan` entries; returns them and the index to continue from while some of
/// `range` remains unexamined (also when the scan bound, not the page, ended the call:
/// a selective filter over a long log is then listed over several calls, none of which
/// holds the node for long).
pub fn list_within(
    trees: &Trees,
    filter: &Filter,
    range: std::ops::Range<u64>,
    limit: usize,
    max_scan: u64,
) -> Result<(Vec<Listed>, Option<u64>), AuditError> {
    let mut out = Vec::new();
    let first = range.start;
    for index in range {
        if out.len() == limit || index - first == max_scan {
            return Ok((out, Some(index)));
        }
        let Some(v) = trees.entry_bytes(index)? else {
            break;
        };
        let entry =
            Entry::decode(&v).map_err(|e| AuditError::Decode(format!("entry {index}: {e}")))?;
        if filter.admits(&entry) {
            out.push(Listed { entry, encoded: v });
        }
    }
    Ok((out, None))
}

/// The contract's view of an entry.
pub fn to_proto(l: &Listed) -> pb::AuditEntry {
    let e = &l.entry;
    pb::AuditEntry {
        index: e.index,
        time: Some(prost_types_timestamp(e.time_ms)),
        direction: e.direction,
        peer_country: e.peer_country.clone(),
        actor: e.actor.clone(),
        service: e.service,
        purpose: e.purpose,
        case_reference: e.case_reference.clone(),
        agreement_id: e.agreement_id.clone(),
        decision: e.decision,
        rule: e.rule.clone(),
        reason: e.reason.clone(),
        disclosed_fields: e.disclosed_fields.clone(),
        request_sha256: e.request_sha256.to_vec(),
        response_sha256: e.response_sha256.to_vec(),
        query_term_hashes: e
            .query_term_hashes
            .iter()
            .map(|(_, h)| h.to_vec())
            .collect(),
        counterpart_receipt: e
            .counterpart_receipt
            .as_ref()
            .and_then(|r| pb::Receipt::decode(r.as_slice()).ok()),
        leaf_hash: crate::entry::leaf_of(&l.encoded).to_vec(),
        encoded: l.encoded.clone(),
    }
}

fn prost_types_timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}
