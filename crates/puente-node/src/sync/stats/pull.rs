//! Statistics sync, as the asker: pulling every page a peer's agreement lets this node
//! see, each page's receipt and cells checked and its outgoing entry written before the
//! cells are stored, with retries; then the peer is asked to cosign this node's log.

use std::time::Duration;

use prost::Message;
use puente_pki::CountryCode;
use puente_policy::{Purpose, Service};
use puente_proto::v1 as pb;
use puente_stats::SyncState;
use tonic::Code;
use tracing::{info, warn};

use super::{check_page, internal, outcome_of, random_u64, PageExpect};
use crate::ask::call::{peer_status, PeerCall};
use crate::error::ExchangeError;
use crate::limits::timed;
use crate::outcome::sha256;
use crate::state::{timestamp, NodeState};

impl NodeState {
    /// Whether an agreement in force grants this country flow counts from `peer`.
    pub fn may_pull_from(&self, peer: CountryCode) -> bool {
        self.pull_permit(peer).is_some()
    }

    /// What this node's copy of the agreement in force grants for a pull from `peer`
    /// (the agreement and its small-cell threshold, which every page is held to).
    pub fn pull_permit(&self, peer: CountryCode) -> Option<puente_policy::evaluate::Permit> {
        let set = self.agreements.current();
        let request = puente_policy::evaluate::Request {
            provider: peer,
            receiver: self.node.country(),
            service: Service::FlowCounts,
            purpose: Purpose::Statistics,
            fields: None,
            now: (self.clock)(),
        };
        puente_policy::evaluate::evaluate(&set.verified, &request, &|_, _| 0).ok()
    }

    /// Peers this node may pull flow counts from, in configuration order.
    pub fn pull_peers(&self) -> Vec<CountryCode> {
        self.peer_countries()
            .into_iter()
            .filter(|c| self.may_pull_from(*c))
            .collect()
    }

    /// Syncs with `peer` once (pull every page, then have it cosign this node's log).
    /// If a sync with that peer is running, waits for it and reports its result.
    pub async fn sync_peer(&self, peer: CountryCode) -> pb::PeerSyncResult {
        let lock = self.stats.lock_of(peer);
        let mut guard = match lock.try_lock() {
            Ok(g) => g,
            Err(_) => {
                let g = lock.lock().await;
                if let Some(r) = g.clone() {
                    return r;
                }
                g
            }
        };
        let result = self.sync_peer_locked(peer).await;
        *guard = Some(result.clone());
        result
    }

    async fn sync_peer_locked(&self, peer: CountryCode) -> pb::PeerSyncResult {
        let mut result = pb::PeerSyncResult {
            peer_country: peer.to_string(),
            ..Default::default()
        };
        let now = (self.clock)();
        let mut st = match self.stats.store.sync_state(peer) {
            Ok(s) => s,
            Err(e) => {
                result.outcome = pb::SyncOutcome::Failed as i32;
                result.error = format!("the sync state cannot be read: {e}");
                return result;
            }
        };
        if !self.may_pull_from(peer) {
            result.outcome = pb::SyncOutcome::NotPermitted as i32;
            result.error = format!(
                "agreement.none: no agreement in force grants {} flow_counts from {peer}",
                self.node.country()
            );
            result.finished_at = Some(timestamp(now));
            return result;
        }
        st.last_attempt = now.unix_timestamp();
        st.pages = 0;
        st.cells = 0;
        let mut restarted = false;
        let mut bytes = 0u64;
        let outcome = loop {
            let max_pages = self.node.config.stats.max_pages;
            if st.pages >= max_pages {
                // A peer that always says "more" would otherwise be pulled for ever,
                // each page an audit entry.
                break Err(ExchangeError::resource_exhausted(format!(
                    "stats.too_many_pages: {peer} still said more pages follow after {max_pages} in one sync (stats.max_pages); stopped, the next sync goes on from the last page stored"
                )));
            }
            match self.pull_page(peer, &mut st, &mut bytes).await {
                Ok(true) => continue,
                Ok(false) => break Ok(()),
                Err(e)
                    if e.code == Code::InvalidArgument
                        && e.rule == "request.watermark"
                        && !restarted
                        && !st.watermark.is_empty() =>
                {
                    // The peer no longer knows our watermark (its key or store changed):
                    // start again from the beginning; upserts keep this convergent.
                    warn!(peer = %peer, "the peer refused our watermark; resyncing from the start");
                    restarted = true;
                    st.watermark.clear();
                }
                Err(e) => break Err(e),
            }
        };
        let end = (self.clock)();
        st.last_finished = end.unix_timestamp();
        match &outcome {
            Ok(()) => {
                st.outcome = "ok".into();
                st.error.clear();
                st.last_success = end.unix_timestamp();
                st.failures = 0;
            }
            Err(s) => {
                st.outcome = if s.code == Code::PermissionDenied {
                    "not_permitted"
                } else {
                    "failed"
                }
                .into();
                st.error = s.message.clone();
                st.failures = st.failures.saturating_add(1);
            }
        }
        if let Err(e) = self
            .stats
            .store
            .set_sync_state(peer, &st)
            .and_then(|_| self.stats.store.flush())
        {
            warn!(peer = %peer, "storing the sync state failed: {e}");
        }
        result.outcome = outcome_of(&st.outcome) as i32;
        result.error = st.error.clone();
        result.pages = st.pages;
        result.cells_received = st.cells;
        result.bytes_received = bytes;
        result.finished_at = Some(timestamp(end));
        if outcome.is_ok() {
            info!(peer = %peer, pages = st.pages, cells = st.cells, "statistics sync completed");
            result.cosigned_size = self.request_witness(peer).await.unwrap_or_else(|e| {
                warn!(peer = %peer, "witnessing after the sync failed: {e}");
                0
            });
        } else {
            warn!(peer = %peer, pages = st.pages, "statistics sync failed: {}", st.error);
        }
        result
    }

    /// Pulls one page from `peer` and stores it; `Ok(true)` when more pages are ready.
    async fn pull_page(
        &self,
        peer: CountryCode,
        st: &mut SyncState,
        bytes: &mut u64,
    ) -> Result<bool, ExchangeError> {
        let link = self.own_link(peer)?;
        let me = &self.node.identity;
        let request = pb::PullStatisticsRequest {
            context: Some(pb::RequestContext {
                purpose: Purpose::Statistics as i32,
                case_reference: "statistics-sync".into(),
                operator_id: me.name.clone(),
                request_id: format!("{:016x}", random_u64()),
                ..Default::default()
            }),
            since_watermark: st.watermark.clone(),
            page_size: self.node.config.stats.page_size,
        };
        let request_since = request.since_watermark.clone();
        let mut call = self.peer_call(
            peer,
            me,
            Service::FlowCounts,
            Purpose::Statistics,
            "statistics-sync",
            &request,
            Vec::new(),
        );
        let mut client = PeerCall::client(&link);
        let sent = call
            .send(
                "PullStatistics",
                client.pull_statistics(timed(request, call.timeout())),
            )
            .await;
        let mut page = match sent {
            Ok(page) => page,
            Err(status) => {
                call.refused(&status).await?;
                return Err(peer_status(peer, &status));
            }
        };
        *bytes += page.encoded_len() as u64;
        let receipt = page.receipt.take();
        call.outcome.response_sha256 = sha256(&page.encode_to_vec());
        call.outcome.agreement_id = page.agreement_id.clone();
        // As for every answer: a receipt that fails is recorded under its rule
        // (receipt.*) and kept whole, as the peer sent it, as evidence.
        let receipt = call.check_receipt(receipt).await?;
        let Some(permit) = self.pull_permit(peer) else {
            // The agreement ended (or was reloaded away) while the page travelled: the
            // page is not used, and this node's log says so beside the peer's entry.
            let why = format!(
                "agreement.none: no agreement in force grants {} flow_counts from {peer}",
                self.node.country()
            );
            call.fail("agreement.none", why.clone(), Some(&receipt))
                .await?;
            return Err(ExchangeError::permission_denied(why));
        };
        let expect = PageExpect {
            since: &request_since,
            page_size: self.node.config.stats.page_size,
            agreement_id: &permit.agreement_id,
            small_cell_threshold: permit.small_cell_threshold,
            today: (self.clock)().date(),
        };
        let cells = match check_page(peer, &page, &expect) {
            Ok(c) => c,
            Err(why) => {
                call.fail("response.invalid", why.to_string(), Some(&receipt))
                    .await?;
                return Err(ExchangeError::data_loss(format!(
                    "{peer} sent a page this node refuses: {why}"
                )));
            }
        };
        call.record(Some(&receipt)).await?;
        let store = self.stats.store.clone();
        let n = cells.len() as u64;
        st.watermark = page.next_watermark.clone();
        st.pages += 1;
        st.cells += n;
        let state = st.clone();
        tokio::task::spawn_blocking(move || {
            store.apply_received(peer, &cells)?;
            // The watermark only after the cells: a crash between re-fetches the page.
            store.set_sync_state(peer, &state)?;
            store.flush()
        })
        .await
        .map_err(internal)?
        .map_err(internal)?;
        Ok(page.has_more)
    }

    /// Syncs with `peer`, retrying failures with exponential backoff and jitter.
    pub async fn sync_with_retries(&self, peer: CountryCode) -> pb::PeerSyncResult {
        let cfg = &self.node.config.stats;
        let mut wait = Duration::from_secs(cfg.retry_initial_secs);
        let mut attempt = 1;
        loop {
            let r = self.sync_peer(peer).await;
            if r.outcome != pb::SyncOutcome::Failed as i32 || attempt >= cfg.retry_attempts {
                return r;
            }
            // ±25 % so that retries from several nodes spread out.
            let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            let spread = ms / 2;
            let delay = ms - ms / 4 + if spread > 0 { random_u64() % spread } else { 0 };
            info!(peer = %peer, attempt, delay_ms = delay, "statistics sync will be retried");
            tokio::time::sleep(Duration::from_millis(delay)).await;
            wait = (wait * 2).min(Duration::from_secs(cfg.retry_max_secs));
            attempt += 1;
        }
    }
}
