//! Carriers' manifests, received and kept: `Manifest.Submit` (a carrier of this country,
//! or an operator for one), `ListManifests` and `GetManifest` (operators: the officer's
//! view of a trip), and the retention erasure.
//!
//! A manifest is parsed whole by [`puente_manifest`] off the async threads, then stored
//! sealed ([`store::ManifestStore`]) and recorded in the audit log; if the audit entry
//! cannot be written the manifest is taken out again and the carrier told so: nothing is
//! kept that the log does not show. Refusals are audit entries too. Entries hold the
//! carrier's URN, the file's digest, the format, counts and the place of a refusal
//! (segment or row and field), never a passenger's name, number or date.
//!
//! Manifests past `[manifests] retention_days` are erased by a background round and
//! before any read, each erasure its own audit entry.

use std::sync::Arc;

use puente_manifest::{Format, ManifestError};
use puente_pki::{PeerIdentity, Role};
use puente_policy::Service;
use puente_proto::v1 as pb;
use tokio::sync::watch;
use tonic::Status;
use tracing::{error, info, warn};

use crate::outcome::sha256;
use crate::state::{timestamp, NodeState};

pub mod cells;
pub mod store;
mod view;

#[cfg(test)]
mod tests;

pub use store::{ManifestStore, StoredManifest};

/// How often the background round looks for manifests to erase.
const ERASE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

fn internal(e: impl std::fmt::Display) -> Status {
    error!("manifest store: {e}");
    Status::unavailable(
        "manifest.unavailable: the node's manifest store is unavailable; nothing was stored",
    )
}

/// What the format field says, or a guess from the bytes.
fn format_of(f: i32, content: &[u8]) -> Result<Format, Status> {
    match pb::ManifestFormat::try_from(f) {
        Ok(pb::ManifestFormat::Unspecified) => Ok(Format::sniff(content)),
        Ok(pb::ManifestFormat::Paxlst) => Ok(Format::Paxlst),
        Ok(pb::ManifestFormat::BusJson) => Ok(Format::BusJson),
        Ok(pb::ManifestFormat::BusCsv) => Ok(Format::BusCsv),
        Err(_) => Err(Status::invalid_argument(format!(
            "format: {f} is not a ManifestFormat"
        ))),
    }
}

pub(crate) fn format_to_proto(f: Format) -> pb::ManifestFormat {
    match f {
        Format::Paxlst => pb::ManifestFormat::Paxlst,
        Format::BusJson => pb::ManifestFormat::BusJson,
        Format::BusCsv => pb::ManifestFormat::BusCsv,
    }
}

/// The place of a refusal without the offending value (for the audit entry).
fn place_only(e: &ManifestError) -> String {
    match e {
        ManifestError::TooLarge { size, max } => format!("{size} bytes, over {max}"),
        ManifestError::TooManyPassengers { place, max } => {
            format!("{place}: over {max} passengers")
        }
        ManifestError::Segment {
            index, tag, field, ..
        } => format!("segment {index} ({tag}), {field}"),
        ManifestError::Truncated(_) => "truncated interchange".into(),
        ManifestError::Field { place, field, .. } => format!("{place}, field {field}"),
        ManifestError::Format(_) => "not the format it claims".into(),
    }
}

/// A refusal's rule and status.
fn refusal(e: &ManifestError) -> (&'static str, Status) {
    match e {
        ManifestError::TooLarge { .. } | ManifestError::TooManyPassengers { .. } => (
            "manifest.too_large",
            Status::resource_exhausted(format!("manifest.too_large: {e}; nothing was stored")),
        ),
        _ => (
            "manifest.invalid",
            Status::invalid_argument(format!("manifest.invalid: {e}; nothing was stored")),
        ),
    }
}

/// One manifest audit entry: what happened, by whom, to which bytes.
struct ManifestEvent<'a> {
    actor: &'a str,
    decision: pb::Decision,
    rule: &'a str,
    reason: String,
    request_sha256: [u8; 32],
    response_sha256: [u8; 32],
}

impl NodeState {
    /// Only operators read manifests; carriers only submit.
    pub(crate) fn require_operator(&self, caller: &PeerIdentity) -> Result<(), Status> {
        if caller.role == Role::Operator && caller.country == self.country() {
            return Ok(());
        }
        Err(Status::permission_denied(format!(
            "role.manifest_read_requires_own_operator: {} {} {} may submit manifests, not read them",
            caller.country, caller.role, caller.name
        )))
    }

    async fn record_manifest_event(&self, ev: ManifestEvent<'_>) -> Result<u64, Status> {
        let entry = puente_audit::Entry {
            index: 0,
            time_ms: self.now().unix_timestamp_nanos().div_euclid(1_000_000) as i64,
            direction: pb::Direction::Incoming as i32,
            peer_country: self.country().to_string(),
            actor: ev.actor.to_string(),
            service: Service::ManifestSubmit as i32,
            purpose: pb::Purpose::Unspecified as i32,
            case_reference: String::new(),
            agreement_id: String::new(),
            decision: ev.decision as i32,
            rule: ev.rule.to_string(),
            reason: ev.reason,
            disclosed_fields: Vec::new(),
            request_sha256: ev.request_sha256,
            response_sha256: ev.response_sha256,
            query_term_hashes: Vec::new(),
            counterpart_receipt: None,
        };
        self.disk
            .check()
            .map_err(|e| Status::unavailable(e.to_string()))?;
        self.audit
            .append(entry)
            .await
            .map(|r| r.entry_index)
            .map_err(|e| {
                error!("audit append failed for a manifest: {e}");
                Status::unavailable(format!(
                    "audit.unavailable: the audit log cannot record this manifest ({e}); nothing was stored"
                ))
            })
    }

    /// `Manifest.Submit`: parsed whole, stored sealed, audited; or refused whole.
    pub async fn submit_manifest(
        &self,
        caller: &PeerIdentity,
        req: pb::SubmitManifestRequest,
    ) -> Result<pb::SubmitManifestResponse, Status> {
        // Nothing is stored that the audit log could not record.
        self.disk
            .check()
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let format = format_of(req.format, &req.content)?;
        let request_sha256 = sha256(&req.content);
        let file = hex::encode(&request_sha256[..8]);
        let now = self.now();
        let today = now.date();
        let content = req.content;
        let parsed =
            tokio::task::spawn_blocking(move || puente_manifest::parse(&content, format, today))
                .await
                .map_err(internal)?;
        let actor = caller.urn();
        let manifest = match parsed {
            Ok(m) => m,
            Err(e) => {
                let (rule, status) = refusal(&e);
                let at = place_only(&e);
                info!(carrier = %actor, file = %file, format = format.as_str(), rule, place = %at,
                    "manifest refused, nothing stored");
                self.record_manifest_event(ManifestEvent {
                    actor: &actor,
                    decision: pb::Decision::Refused,
                    rule,
                    reason: format!("{}: {at}", format.as_str()),
                    request_sha256,
                    response_sha256: [0; 32],
                })
                .await?;
                return Err(status);
            }
        };
        let received_ms = now.unix_timestamp_nanos().div_euclid(1_000_000) as i64;
        let days = i64::from(self.node.config.manifests.retention_days);
        let erase_after_ms = received_ms.saturating_add(days * 86_400_000);
        let id = ManifestStore::new_id(received_ms).map_err(internal)?;
        let entry_point = manifest
            .entry_point(self.country().as_str())
            .unwrap_or_default()
            .to_string();
        let stored = StoredManifest {
            id: id.clone(),
            submitted_by: actor.clone(),
            received_ms,
            erase_after_ms,
            entry_point,
            manifest,
        };
        let summary = self.summary(&stored);
        let manifests = self.manifests.clone();
        let s = stored.clone();
        tokio::task::spawn_blocking(move || manifests.insert(&s))
            .await
            .map_err(internal)?
            .map_err(internal)?;
        let reason = format!(
            "{} trip {:?}: {} passengers, entry {:?}, kept {days} days",
            stored.manifest.format.as_str(),
            stored.manifest.trip,
            stored.manifest.passengers.len(),
            stored.entry_point,
        );
        let audited = self
            .record_manifest_event(ManifestEvent {
                actor: &actor,
                decision: pb::Decision::Allowed,
                rule: "manifest.accepted",
                reason,
                request_sha256,
                response_sha256: sha256(id.as_bytes()),
            })
            .await;
        let audit_entry = match audited {
            Ok(i) => i,
            Err(status) => {
                // Nothing is kept that the log does not show.
                let manifests = self.manifests.clone();
                let (i, t) = (id.clone(), erase_after_ms);
                let _ = tokio::task::spawn_blocking(move || manifests.erase(&i, t)).await;
                return Err(status);
            }
        };
        info!(carrier = %actor, manifest = %id, file = %file, format = format.as_str(),
            passengers = stored.manifest.passengers.len(), "manifest stored");
        self.count_expected_arrivals(&stored, 1).await;
        Ok(pb::SubmitManifestResponse {
            manifest_id: id,
            summary: Some(summary),
            audit_entry,
        })
    }

    /// A stored manifest's summary.
    pub(crate) fn summary(&self, s: &StoredManifest) -> pb::ManifestSummary {
        let m = &s.manifest;
        let ts = |ms: i64| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .ok()
                .map(timestamp)
        };
        pb::ManifestSummary {
            manifest_id: s.id.clone(),
            submitted_by: s.submitted_by.clone(),
            carrier: m.carrier.clone(),
            trip: m.trip.clone(),
            format: format_to_proto(m.format) as i32,
            route: m
                .route
                .iter()
                .map(|r| pb::RouteStop {
                    place: r.place.clone(),
                    country: r.country.clone().unwrap_or_default(),
                    border_crossing: r.border_crossing,
                })
                .collect(),
            departure: m.departure.map(|t| t.to_string()).unwrap_or_default(),
            arrival: m.arrival.map(|t| t.to_string()).unwrap_or_default(),
            entry_point: s.entry_point.clone(),
            passengers: m.passengers.len() as u32,
            received_at: ts(s.received_ms),
            erase_after: ts(s.erase_after_ms),
        }
    }

    /// Erases every manifest past its retention, each erasure an audit entry. Returns
    /// how many were erased.
    pub async fn erase_expired_manifests(&self) -> Result<usize, Status> {
        let now_ms = self.now().unix_timestamp_nanos().div_euclid(1_000_000) as i64;
        let manifests = self.manifests.clone();
        let due = tokio::task::spawn_blocking(move || manifests.due(now_ms))
            .await
            .map_err(internal)?
            .map_err(internal)?;
        let actor = self.node.identity.urn();
        let mut erased = 0;
        for (id, t) in due {
            let manifests = self.manifests.clone();
            let i = id.clone();
            let (held, existed) = tokio::task::spawn_blocking(move || {
                // A manifest that no longer opens is erased all the same.
                let held = manifests.get(&i).ok().flatten();
                manifests.erase(&i, t).map(|e| (held, e))
            })
            .await
            .map_err(internal)?
            .map_err(internal)?;
            if !existed {
                continue;
            }
            erased += 1;
            if let Some(m) = &held {
                self.count_expected_arrivals(m, -1).await;
            }
            self.record_manifest_event(ManifestEvent {
                actor: &actor,
                decision: pb::Decision::Allowed,
                rule: "manifest.retention_erased",
                reason: format!(
                    "manifest {id} erased: kept {} days ([manifests] retention_days)",
                    self.node.config.manifests.retention_days
                ),
                request_sha256: sha256(id.as_bytes()),
                response_sha256: [0; 32],
            })
            .await?;
            info!(manifest = %id, "manifest erased: retention ended");
        }
        Ok(erased)
    }

    /// The background erasure round, until `stop`; it starts by counting the expected
    /// arrivals of every manifest held again (what a crash between storing a manifest
    /// and counting it could have left out).
    pub async fn manifest_retention(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        self.recount_expected_arrivals().await;
        let mut tick = tokio::time::interval(ERASE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.erase_expired_manifests().await {
                warn!("erasing manifests past their retention: {}", e.message());
            }
        }
    }

    /// Adds (`sign` 1) or takes away (`sign` -1) one manifest's expected arrivals
    /// ([`cells`]), so the next sync serves them. Serialized with the records'
    /// aggregation.
    async fn count_expected_arrivals(&self, m: &StoredManifest, sign: i64) {
        let deltas: std::collections::BTreeMap<_, i64> =
            cells::expected_arrivals(std::slice::from_ref(m))
                .into_iter()
                .map(|(k, n)| (k, sign * i64::try_from(n).unwrap_or(i64::MAX)))
                .collect();
        let _one = self.records_change.lock().await;
        let stats = self.stats.store.clone();
        let done = tokio::task::spawn_blocking(move || {
            stats.adjust_source(puente_stats::store::Source::Manifests, &deltas)
        })
        .await;
        match done {
            Ok(Ok(c)) => info!(changed = c.changed, "expected-arrival cells updated"),
            Ok(Err(e)) => warn!("counting expected arrivals: {e}"),
            Err(e) => warn!("counting expected arrivals: {e}"),
        }
    }

    /// The expected-arrival cells computed again from every manifest held.
    pub async fn recount_expected_arrivals(&self) {
        let _one = self.records_change.lock().await;
        let manifests = self.manifests.clone();
        let stats = self.stats.store.clone();
        let done = tokio::task::spawn_blocking(move || {
            let all = manifests.all()?;
            let counts = cells::expected_arrivals(&all);
            stats
                .replace_source(puente_stats::store::Source::Manifests, &counts)
                .map(|c| (counts.len(), c.changed))
                .map_err(|e| e.to_string())
        })
        .await;
        match done {
            Ok(Ok((cells, changed))) => {
                info!(
                    cells,
                    changed, "expected-arrival cells counted from the manifests held"
                )
            }
            Ok(Err(e)) => warn!("counting expected arrivals: {e}"),
            Err(e) => warn!("counting expected arrivals: {e}"),
        }
    }
}
