//! Flow statistics on the node: serving `Exchange.PullStatistics` (the responder side),
//! pulling from peers (the asker side: on demand and on the nightly schedule, with
//! retries), and the operator's view (`Local.GetSyncStatus`, `ListCells`, `ImportCells`).
//!
//! A sync with a peer pulls pages until the peer has nothing more. For each page the
//! asker verifies the peer's receipt and every cell, writes its own audit entry holding
//! that receipt, stores the cells (upsert by key, keeping the highest version), then the
//! peer's new watermark, and flushes. A sync cut anywhere resumes from the last stored
//! watermark; applying a page twice changes nothing, so it converges.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use puente_pki::CountryCode;
use puente_proto::v1 as pb;
use puente_stats::{CellKey, Source, StatsStore, Value, Watermarks};
use time::OffsetDateTime;
use tokio::sync::{watch, Mutex};
use tonic::Status;
use tracing::{info, warn};

use crate::error::{AggregateError, ExchangeError, PageError};
use crate::state::{timestamp, NodeState};

mod pull;
mod serve;

/// Default and largest page a responder serves.
pub const DEFAULT_PAGE: u32 = 1000;
/// Largest page a responder serves.
pub const MAX_PAGE: u32 = 10_000;
/// Largest watermark accepted.
pub const MAX_WATERMARK: usize = 256;
/// Most cells one import may hold.
pub const MAX_IMPORT_CELLS: usize = 5_000_000;

/// The node's statistics: the store, the watermark key, and one lock per peer so that
/// two syncs with the same peer never run at once.
pub struct Stats {
    /// Own and received cells, and sync state.
    pub store: StatsStore,
    /// Issues and checks watermarks for peers.
    pub watermarks: Watermarks,
    locks: StdMutex<HashMap<CountryCode, Arc<Mutex<Option<pb::PeerSyncResult>>>>>,
    next_scheduled: StdMutex<Option<OffsetDateTime>>,
}

impl std::fmt::Debug for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stats")
    }
}

impl Stats {
    /// Statistics over `store`, watermarks keyed by `secret`.
    pub fn new(store: StatsStore, secret: &[u8; 32]) -> Self {
        Self {
            store,
            watermarks: Watermarks::new(secret),
            locks: StdMutex::new(HashMap::new()),
            next_scheduled: StdMutex::new(None),
        }
    }

    fn lock_of(&self, peer: CountryCode) -> Arc<Mutex<Option<pb::PeerSyncResult>>> {
        let mut m = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(peer).or_default().clone()
    }

    fn set_next(&self, t: Option<OffsetDateTime>) {
        *self
            .next_scheduled
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = t;
    }

    /// When the next scheduled sync runs.
    pub fn next_scheduled(&self) -> Option<OffsetDateTime> {
        *self
            .next_scheduled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// Rebuilds the `records` source of own cells when the records changed since the last
/// aggregation. Returns the number of changed cells, or `None` if nothing was to do.
pub fn aggregate_records(
    records: &puente_records::RecordStore,
    stats: &StatsStore,
) -> Result<Option<u64>, AggregateError> {
    let generation = records.generation()?;
    if stats.records_generation()? == Some(generation) {
        return Ok(None);
    }
    let mut agg = puente_stats::aggregate::Aggregated::default();
    for item in records.iter() {
        let stored = item?;
        puente_stats::aggregate::add_record(&mut agg, &stored.record);
    }
    // Persons protected against a country are kept apart for it (principle 4).
    let change = stats.replace_records(&agg.counts, &agg.shielded)?;
    stats.set_records_generation(generation)?;
    stats.flush()?;
    info!(
        records = agg.records,
        encounters = agg.encounters,
        cells = agg.counts.len(),
        changed = change.changed,
        skipped = ?agg.skipped,
        "flow counts aggregated from the records"
    );
    Ok(Some(change.changed))
}

fn internal(e: impl std::fmt::Display) -> ExchangeError {
    tracing::error!("statistics store: {e}");
    ExchangeError::unavailable("the node's statistics store is unavailable; try again later")
}

fn outcome_name(o: pb::SyncOutcome) -> &'static str {
    match o {
        pb::SyncOutcome::Ok => "ok",
        pb::SyncOutcome::Failed => "failed",
        pb::SyncOutcome::NotPermitted => "not_permitted",
        pb::SyncOutcome::Unspecified => "",
    }
}

fn outcome_of(name: &str) -> pb::SyncOutcome {
    match name {
        "ok" => pb::SyncOutcome::Ok,
        "failed" => pb::SyncOutcome::Failed,
        "not_permitted" => pb::SyncOutcome::NotPermitted,
        _ => pb::SyncOutcome::Unspecified,
    }
}

fn unix(t: i64) -> Option<prost_types::Timestamp> {
    (t > 0).then_some(prost_types::Timestamp {
        seconds: t,
        nanos: 0,
    })
}

/// The next moment at `at` local time (offset `offset`) strictly after `now`, plus a
/// random delay below `jitter`.
pub fn next_run(
    now: OffsetDateTime,
    at: time::Time,
    offset: time::UtcOffset,
    jitter: Duration,
) -> OffsetDateTime {
    let local = now.to_offset(offset);
    let mut candidate = local.replace_time(at);
    if candidate <= local {
        candidate += time::Duration::days(1);
    }
    let jitter_ms = u64::try_from(jitter.as_millis()).unwrap_or(u64::MAX);
    let extra = if jitter_ms == 0 {
        0
    } else {
        random_u64() % jitter_ms
    };
    candidate.to_offset(time::UtcOffset::UTC) + time::Duration::milliseconds(extra as i64)
}

fn random_u64() -> u64 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    u64::from_be_bytes(b)
}

/// Most countries one `ListCells` may name (ISO 3166-1 has 249).
const MAX_REPORTING_COUNTRIES: usize = 256;

impl NodeState {
    /// `Local.SyncNow`.
    pub async fn sync_now(&self, req: &pb::SyncNowRequest) -> Result<pb::SyncNowResponse, Status> {
        let peers = if req.peer_countries.is_empty() {
            self.pull_peers()
        } else {
            let mut v = Vec::new();
            for p in &req.peer_countries {
                let c = CountryCode::parse(p.trim())
                    .map_err(|e| Status::invalid_argument(format!("peer_countries: {e}")))?;
                if self.peer_link(c).is_none() {
                    return Err(Status::invalid_argument(format!(
                        "peer_countries: {c} is not a configured peer of this node"
                    )));
                }
                // Each peer once: a list is bounded by the configured peers, and one
                // request cannot run the same sync (and its audit entries) again and again.
                if v.contains(&c) {
                    return Err(Status::invalid_argument(format!(
                        "peer_countries: {c} is named twice"
                    )));
                }
                v.push(c);
            }
            v
        };
        let mut results = Vec::with_capacity(peers.len());
        for p in peers {
            results.push(self.sync_peer(p).await);
        }
        Ok(pb::SyncNowResponse { results })
    }

    /// `Local.GetSyncStatus`.
    pub fn sync_status(&self) -> Result<pb::GetSyncStatusResponse, Status> {
        let now = (self.clock)().unix_timestamp();
        let mut peers = Vec::new();
        let mut links = self.peer_countries();
        links.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        for peer in links {
            let st = self.stats.store.sync_state(peer).map_err(internal)?;
            let running = self.stats.lock_of(peer).try_lock().is_err();
            peers.push(pb::PeerSyncStatus {
                peer_country: peer.to_string(),
                permitted: self.may_pull_from(peer),
                last_outcome: outcome_of(&st.outcome) as i32,
                error: st.error.clone(),
                last_attempt: unix(st.last_attempt),
                last_success: unix(st.last_success),
                lag_seconds: if st.last_success > 0 {
                    u64::try_from(now - st.last_success).unwrap_or(0)
                } else {
                    0
                },
                cells_stored: self.stats.store.received_from(peer).map_err(internal)? as u64,
                consecutive_failures: st.failures,
                last_pages: st.pages,
                last_cells: st.cells,
                running,
            });
        }
        Ok(pb::GetSyncStatusResponse {
            peers,
            own_cells: self.stats.store.own_len() as u64,
            own_version: self.stats.store.latest_version().map_err(internal)?,
            next_scheduled: self.stats.next_scheduled().map(timestamp),
        })
    }

    /// `Local.ListCells`: own and received cells, filtered, in order.
    pub fn list_cells(&self, req: &pb::ListCellsRequest) -> Result<Vec<pb::FlowCell>, Status> {
        let period = if req.period.trim().is_empty() {
            None
        } else {
            Some(
                puente_stats::Period::parse(&req.period)
                    .map_err(|e| Status::invalid_argument(format!("period: {e}")))?,
            )
        };
        // Each country once at most: a longer list names some twice (and made every
        // cell's filter a long scan).
        if req.reporting_countries.len() > MAX_REPORTING_COUNTRIES {
            return Err(Status::invalid_argument(format!(
                "reporting_countries: at most {MAX_REPORTING_COUNTRIES} countries"
            )));
        }
        let mut countries = Vec::new();
        for c in &req.reporting_countries {
            countries.push(
                CountryCode::parse(c.trim())
                    .map_err(|e| Status::invalid_argument(format!("reporting_countries: {e}")))?,
            );
        }
        let wanted = |c: CountryCode, k: &CellKey| {
            (countries.is_empty() || countries.contains(&c))
                && period.is_none_or(|p| k.period.within(&p))
        };
        let own = self.node.country();
        let mut rows: Vec<(String, CellKey, Value, u64)> = Vec::new();
        for (k, c) in self.stats.store.own_cells().map_err(internal)? {
            if wanted(own, &k) {
                rows.push((own.to_string(), k, Value::Count(c.count), c.version));
            }
        }
        for (country, k, c) in self.stats.store.received_cells().map_err(internal)? {
            if wanted(country, &k) {
                rows.push((country.to_string(), k, c.value, c.version));
            }
        }
        rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Ok(rows
            .into_iter()
            .map(|(c, k, v, ver)| k.to_proto(&c, v, ver))
            .collect())
    }

    /// `Local.ImportCells`: checks every cell, then stores them as this country's own.
    pub async fn import_cells(
        &self,
        cells: Vec<pb::FlowCell>,
    ) -> Result<pb::ImportCellsResponse, Status> {
        let own = self.node.country();
        let mut map = BTreeMap::new();
        for (i, c) in cells.iter().enumerate() {
            let at = |e: String| Status::invalid_argument(format!("cell {}: {e}", i + 1));
            if !c.reporting_country.is_empty() && c.reporting_country != own.as_str() {
                return Err(at(format!(
                    "reporting_country {:?} is not this country ({own}); only own counts can be imported",
                    c.reporting_country
                )));
            }
            let mut c = c.clone();
            if c.version == 0 {
                c.version = 1;
            }
            let (key, value, _) = CellKey::from_proto(&c).map_err(|e| at(e.to_string()))?;
            let Value::Count(n) = value else {
                return Err(at("an imported cell must carry a count".into()));
            };
            if map.insert(key, n).is_some() {
                return Err(at("the same cell appears twice in the import".into()));
            }
        }
        let store = self.stats.store.clone();
        let n = map.len() as u64;
        let change = tokio::task::spawn_blocking(move || store.upsert_source(Source::Import, &map))
            .await
            .map_err(internal)?
            .map_err(internal)?;
        info!(cells = n, changed = change.changed, "flow counts imported");
        if change.changed > 0 && self.node.config.alerts.detect {
            if let Err(e) = self.detect_surges() {
                warn!("surge detection after the import: {}", e.message());
            }
        }
        Ok(pb::ImportCellsResponse {
            cells: n,
            changed: change.changed,
        })
    }

    /// The nightly schedule: syncs every permitted peer at `stats.sync_at` (plus jitter),
    /// retrying failures, until `stop`.
    pub async fn stats_schedule(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let cfg = self.node.config.stats.clone();
        let (Ok(Some(at)), Ok(offset)) = (cfg.sync_time(), cfg.offset()) else {
            self.stats.set_next(None);
            return;
        };
        let jitter = Duration::from_secs(u64::from(cfg.jitter_minutes) * 60);
        let tick = Duration::from_millis(cfg.tick_ms);
        let mut next = next_run((self.clock)(), at, offset, jitter);
        self.stats.set_next(Some(next));
        info!(next = %next, "statistics sync scheduled");
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(tick) => {}
            }
            let now = (self.clock)();
            if now < next {
                continue;
            }
            info!("scheduled statistics sync starting");
            next = next_run(now + time::Duration::minutes(1), at, offset, jitter);
            self.stats.set_next(Some(next));
            let peers = self.pull_peers();
            let mut runs = tokio::task::JoinSet::new();
            for p in peers {
                let s = self.clone();
                runs.spawn(async move { s.sync_with_retries(p).await });
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = async { while runs.join_next().await.is_some() {} } => {}
            }
            info!(next = %next, "next statistics sync scheduled");
        }
    }
}

/// How far past this node's today a received cell's period may begin.
pub const FUTURE_SLACK_DAYS: i64 = 31;

/// What a page is checked against: this node's side of the exchange.
#[derive(Clone, Debug)]
pub struct PageExpect<'a> {
    /// The watermark the request named.
    pub since: &'a [u8],
    /// The page size the request asked for.
    pub page_size: u32,
    /// The agreement in force here that grants the pull.
    pub agreement_id: &'a str,
    /// Its small-cell threshold.
    pub small_cell_threshold: u32,
    /// Today (UTC) at this node: no cell may be of a period that begins more than
    /// [`FUTURE_SLACK_DAYS`] later (clocks and time zones differ; a year 9999 does not).
    pub today: time::Date,
}

/// Checks a page from `peer` against what this node asked and its own copy of the
/// agreement: the agreement named, a watermark that advances while more pages follow,
/// no more cells than asked; and every cell: well-formed, reported by the peer, versions
/// ascending, of a period that begins within a month of today, and no count below the threshold (the
/// agreement's, or the page's if the peer applies a higher one).
pub fn check_page(
    peer: CountryCode,
    page: &pb::PullStatisticsResponse,
    expect: &PageExpect<'_>,
) -> Result<Vec<(CellKey, Value, u64)>, PageError> {
    if page.next_watermark.is_empty() || page.next_watermark.len() > MAX_WATERMARK {
        return Err(PageError::Watermark);
    }
    if page.agreement_id != expect.agreement_id {
        return Err(PageError::Agreement {
            got: page.agreement_id.clone(),
            expected: expect.agreement_id.to_string(),
        });
    }
    if page.has_more && page.cells.is_empty() {
        return Err(PageError::NoProgress {
            why: "it holds no cell",
        });
    }
    if page.has_more && page.next_watermark == expect.since {
        return Err(PageError::NoProgress {
            why: "its watermark is the one asked from",
        });
    }
    let asked = match expect.page_size {
        0 => u32::MAX,
        n => n,
    };
    if page.cells.len() as u64 > u64::from(asked) {
        return Err(PageError::TooManyCells {
            got: page.cells.len(),
            asked,
        });
    }
    let threshold = page.small_cell_threshold.max(expect.small_cell_threshold);
    let latest = expect
        .today
        .checked_add(time::Duration::days(FUTURE_SLACK_DAYS))
        .unwrap_or(expect.today);
    let mut out = Vec::with_capacity(page.cells.len());
    let mut last = 0;
    for (i, c) in page.cells.iter().enumerate() {
        let index = i + 1;
        let (key, value, version) =
            CellKey::from_proto(c).map_err(|source| PageError::Cell { index, source })?;
        if c.reporting_country != peer.as_str() {
            return Err(PageError::OtherReporter {
                index,
                reported: c.reporting_country.clone(),
                peer,
            });
        }
        if version <= last {
            return Err(PageError::NotAscending { index });
        }
        last = version;
        if key.period.begins_after(latest) {
            return Err(PageError::FuturePeriod {
                index,
                period: key.period.to_string(),
            });
        }
        if let Value::Count(n) = value {
            if puente_stats::suppress::is_small(n, threshold) {
                return Err(PageError::SmallCell { index, threshold });
            }
        }
        out.push((key, value, version));
    }
    Ok(out)
}

/// The text name of a sync outcome (`ok`, `failed`, `not_permitted`).
pub fn outcome_label(o: i32) -> &'static str {
    outcome_name(pb::SyncOutcome::try_from(o).unwrap_or(pb::SyncOutcome::Unspecified))
}
