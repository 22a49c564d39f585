//! Early warnings on the node: receiving `Exchange.PublishAlert` (verify the issuer's
//! signature, store once, acknowledge with a receipt), issuing an alert for an operator
//! (sign, then deliver to every peer whose agreement grants it alerts from this country,
//! retrying until acknowledged), and drafting alerts from surges in the flow counts for an
//! operator to review. Nothing leaves without an operator's `IssueAlert`.

use std::time::Duration;

use prost::Message;
use puente_alerts::detect::{self, Config as DetectConfig};
use puente_alerts::{AlertStore, Received};
use puente_pki::{CountryCode, PeerIdentity};
use puente_policy::{Purpose, Service};
use puente_proto::v1 as pb;
use time::OffsetDateTime;
use tokio::sync::{watch, Mutex};
use tonic::{Code, Status};
use tracing::{info, warn};

use crate::answer::audit::digest_of;
use crate::ask::call::{peer_status, PeerCall};
use crate::error::ExchangeError;
use crate::limits::timed;
use crate::outcome::sha256;
use crate::state::{timestamp, NodeState};

/// The node's alerts: the store, and a lock so that two delivery rounds never overlap.
#[derive(Debug)]
pub struct Alerts {
    /// Issued, received and drafted alerts.
    pub store: AlertStore,
    delivering: Mutex<()>,
    /// New alerts stored today (UTC) per issuing country: (day, count).
    received: std::sync::Mutex<std::collections::HashMap<String, (i32, u32)>>,
}

/// Most new alerts one peer may have stored in a UTC day (repeats of a stored alert do
/// not count): a real surge warning is a few a week; 200 distinct alerts of 4 KiB a
/// second, which the rate limit alone allows, would bury them.
pub const MAX_RECEIVED_PER_DAY: u32 = 100;

impl Alerts {
    /// Alerts over `store`.
    pub fn new(store: AlertStore) -> Self {
        Self {
            store,
            delivering: Mutex::new(()),
            received: Default::default(),
        }
    }

    /// Takes one of `issuer`'s new alerts of `day` (its Julian day); false when it has
    /// had its [`MAX_RECEIVED_PER_DAY`]. Counted in memory: a restart gives a day's
    /// allowance again, which the rate limit still bounds.
    fn take_new(&self, issuer: &str, day: i32) -> bool {
        let mut m = self.received.lock().unwrap_or_else(|e| e.into_inner());
        let entry = m.entry(issuer.to_string()).or_insert((day, 0));
        if entry.0 != day {
            *entry = (day, 0);
        }
        if entry.1 >= MAX_RECEIVED_PER_DAY {
            return false;
        }
        entry.1 += 1;
        true
    }
}

fn internal(e: impl std::fmt::Display) -> ExchangeError {
    tracing::error!("alert store: {e}");
    ExchangeError::unavailable("the node's alert store is unavailable; try again later")
}

fn expired(a: &pb::Alert, now: OffsetDateTime) -> bool {
    a.expires_at
        .as_ref()
        .is_some_and(|t| t.seconds <= now.unix_timestamp())
}

fn random_hex() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 4];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    hex::encode(b)
}

impl NodeState {
    /// Whether an agreement in force grants `receiver` alerts from `issuer`.
    fn alert_grant(
        &self,
        issuer: CountryCode,
        receiver: CountryCode,
    ) -> Result<String, ExchangeError> {
        let set = self.agreements.current();
        let request = puente_policy::evaluate::Request {
            provider: issuer,
            receiver,
            service: Service::Alerts,
            purpose: Purpose::EarlyWarning,
            fields: None,
            now: (self.clock)(),
        };
        puente_policy::evaluate::evaluate(&set.verified, &request, &|_, _| 0)
            .map(|p| p.agreement_id)
            .map_err(ExchangeError::from)
    }

    /// Whether this country may send alerts to `peer`.
    pub fn may_alert(&self, peer: CountryCode) -> bool {
        self.alert_grant(self.node.country(), peer).is_ok()
    }

    /// `Exchange.PublishAlert`: a peer delivers an alert it issued.
    pub async fn receive_alert(
        &self,
        who: &PeerIdentity,
        req: &pb::PublishAlertRequest,
    ) -> Result<pb::PublishAlertResponse, ExchangeError> {
        let mut audited = self.audited(who, Service::Alerts, Purpose::EarlyWarning, req, None);
        let o = &mut audited.outcome;
        let answer = async {
            let alert = req
                .alert
                .as_ref()
                .ok_or_else(|| ExchangeError::invalid_argument("alert: required"))?;
            o.case_reference = alert.alert_id.chars().take(64).collect();
            if alert.issuing_country != who.country.as_str() {
                return Err(ExchangeError::permission_denied(format!(
                    "alert.issuer_mismatch: the alert says it was issued by {:?} but the caller is {}; alerts are not relayed",
                    alert.issuing_country, who.country
                )));
            }
            o.agreement_id = self.alert_grant(who.country, self.node.country())?;
            let key = self
                .peer_key(who.country)
                .ok_or_else(|| ExchangeError::permission_denied(format!("trust.unknown_peer: {} is not trusted", who.country)))?;
            puente_alerts::verify(alert, &key)
                .map_err(|e| ExchangeError::invalid_argument(e.to_string()))?;
            let now = (self.clock)();
            // A day of clock skew; an alert dated later would sort above every true one.
            if alert
                .issued_at
                .as_ref()
                .is_some_and(|t| t.seconds > now.unix_timestamp() + 86_400)
            {
                return Err(ExchangeError::invalid_argument(
                    "alert.issued_in_the_future: issued_at is more than a day ahead of this node's clock",
                ));
            }
            if expired(alert, now) {
                return Err(ExchangeError::failed_precondition(
                    "alert.expired: the alert expired before it arrived; it is not stored",
                ));
            }
            let held = self
                .alerts
                .store
                .holds(&alert.issuing_country, &alert.alert_id)
                .map_err(internal)?;
            if !held && !self.alerts.take_new(who.country.as_str(), now.date().to_julian_day()) {
                return Err(ExchangeError::resource_exhausted(format!(
                    "alert.daily_limit: {} new alerts from {} today already; this one is not stored",
                    MAX_RECEIVED_PER_DAY, who.country
                )));
            }
            let store = self.alerts.store.clone();
            let a = alert.clone();
            let received = tokio::task::spawn_blocking(move || store.receive(&a, timestamp(now)))
                .await
                .map_err(internal)?
                .map_err(|e| match e {
                    puente_alerts::store::StoreError::Conflict(m) => {
                        ExchangeError::already_exists(format!("alert.conflict: {m}"))
                    }
                    other => internal(other),
                })?;
            info!(
                issuer = %who.country,
                alert = %alert.alert_id,
                severity = alert.severity,
                duplicate = received == Received::Duplicate,
                "alert received"
            );
            Ok(pb::PublishAlertResponse {
                duplicate: received == Received::Duplicate,
                receipt: None,
            })
        }
        .await;
        let (mut resp, receipt) = audited.close(answer, digest_of).await?;
        resp.receipt = Some(receipt);
        Ok(resp)
    }

    /// `Local.IssueAlert`: signs an operator's alert (or an open draft) and delivers it.
    pub async fn issue_alert(
        &self,
        operator: &PeerIdentity,
        req: &pb::IssueAlertRequest,
    ) -> Result<pb::IssueAlertResponse, Status> {
        let now = (self.clock)();
        let own = self.node.country();
        let mut draft = None;
        let mut alert = if req.draft_id.is_empty() {
            pb::Alert {
                alert_id: format!(
                    "{}-{}{:02}{:02}-{}",
                    own.as_str().to_ascii_lowercase(),
                    now.year(),
                    now.month() as u8,
                    now.day(),
                    random_hex()
                ),
                issuing_country: own.to_string(),
                severity: req.severity,
                text: req.text.clone(),
                nationalities: req.nationalities.clone(),
                entry_points: req.entry_points.clone(),
                route_countries: req.route_countries.clone(),
                period: req.period,
                observed_count: req.observed_count,
                baseline_count: req.baseline_count,
                ..Default::default()
            }
        } else {
            let d = self
                .alerts
                .store
                .draft(&req.draft_id)
                .map_err(internal)?
                .ok_or_else(|| {
                    Status::not_found(format!(
                        "draft_id: no draft {:?}; list them with `puente alert drafts`",
                        req.draft_id
                    ))
                })?;
            if d.published {
                return Err(Status::failed_precondition(format!(
                    "draft_id: draft {:?} was already published",
                    req.draft_id
                )));
            }
            let mut a = d.proposed.clone().unwrap_or_default();
            if req.severity != 0 {
                a.severity = req.severity;
            }
            if !req.text.is_empty() {
                a.text = req.text.clone();
            }
            draft = Some(d);
            a
        };
        let hours = match req.expires_in_hours {
            0 => u64::from(self.node.config.alerts.default_expiry_hours),
            h if h > 8760 => {
                return Err(Status::invalid_argument(
                    "expires_in_hours: at most 8760 (one year)",
                ))
            }
            h => u64::from(h),
        };
        alert.issued_at = Some(timestamp(now));
        alert.expires_at = Some(timestamp(now + time::Duration::hours(hours as i64)));
        puente_alerts::sign(&mut alert, &self.node.signing);
        puente_alerts::validate(&alert).map_err(|e| Status::invalid_argument(e.to_string()))?;
        if self
            .alerts
            .store
            .issued(&alert.alert_id)
            .map_err(internal)?
            .is_some()
        {
            return Err(Status::already_exists(format!(
                "alert {:?} was already issued",
                alert.alert_id
            )));
        }
        let mut peers: Vec<CountryCode> = self.peer_countries();
        peers.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        let deliveries = peers
            .into_iter()
            .map(|p| {
                let permitted = self.may_alert(p);
                pb::AlertDelivery {
                    peer_country: p.to_string(),
                    state: if permitted {
                        pb::DeliveryState::Pending
                    } else {
                        pb::DeliveryState::NotPermitted
                    } as i32,
                    error: if permitted {
                        String::new()
                    } else {
                        format!("no agreement in force grants {p} alerts from {own}")
                    },
                    ..Default::default()
                }
            })
            .collect();
        let record = pb::AlertRecord {
            alert: Some(alert.clone()),
            issued_here: true,
            received_at: Some(timestamp(now)),
            deliveries,
            expired: false,
        };
        self.alerts.store.put_issued(&record).map_err(internal)?;
        if let Some(mut d) = draft {
            d.published = true;
            d.proposed = Some(alert.clone());
            self.alerts.store.put_draft(&d).map_err(internal)?;
        }
        self.alerts.store.flush().map_err(internal)?;
        info!(operator = %operator.name, alert = %alert.alert_id, severity = alert.severity, "alert issued");
        self.deliver_pending().await;
        let record = self
            .alerts
            .store
            .issued(&alert.alert_id)
            .map_err(internal)?
            .unwrap_or(record);
        Ok(pb::IssueAlertResponse {
            record: Some(record),
        })
    }

    /// One delivery round: every pending delivery of every issued alert is attempted.
    pub async fn deliver_pending(&self) {
        let _round = self.alerts.delivering.lock().await;
        let records = match self.alerts.store.all_issued() {
            Ok(r) => r,
            Err(e) => {
                warn!("alert deliveries: {e}");
                return;
            }
        };
        for mut record in records {
            let Some(alert) = record.alert.clone() else {
                continue;
            };
            let pending = |d: &pb::AlertDelivery| d.state == pb::DeliveryState::Pending as i32;
            if !record.deliveries.iter().any(pending) {
                continue;
            }
            let now = (self.clock)();
            for d in record.deliveries.iter_mut().filter(|d| pending(d)) {
                if expired(&alert, now) {
                    d.state = pb::DeliveryState::Expired as i32;
                    continue;
                }
                let Ok(peer) = CountryCode::parse(&d.peer_country) else {
                    continue;
                };
                if !self.may_alert(peer) {
                    d.state = pb::DeliveryState::NotPermitted as i32;
                    d.error = "the agreement that granted alerts is no longer in force".into();
                    continue;
                }
                d.attempts += 1;
                match self.send_alert(peer, &alert).await {
                    Ok(()) => {
                        d.state = pb::DeliveryState::Delivered as i32;
                        d.error.clear();
                        d.delivered_at = Some(timestamp((self.clock)()));
                        info!(peer = %peer, alert = %alert.alert_id, "alert delivered");
                    }
                    Err(s) => {
                        d.error = s.message.clone();
                        let final_refusal = matches!(
                            s.code,
                            Code::PermissionDenied
                                | Code::InvalidArgument
                                | Code::AlreadyExists
                                | Code::FailedPrecondition
                        );
                        if final_refusal {
                            d.state = pb::DeliveryState::Refused as i32;
                        }
                        warn!(peer = %peer, alert = %alert.alert_id, retry = !final_refusal, "alert not delivered: {}", s.message);
                    }
                }
            }
            record.expired = expired(&alert, now);
            if let Err(e) = self
                .alerts
                .store
                .put_issued(&record)
                .and_then(|_| self.alerts.store.flush())
            {
                warn!("storing alert deliveries: {e}");
            }
        }
    }

    async fn send_alert(&self, peer: CountryCode, alert: &pb::Alert) -> Result<(), ExchangeError> {
        let link = self.own_link(peer)?;
        let request = pb::PublishAlertRequest {
            alert: Some(alert.clone()),
        };
        let me = &self.node.identity;
        let mut call = self.peer_call(
            peer,
            me,
            Service::Alerts,
            Purpose::EarlyWarning,
            &alert.alert_id,
            &request,
            Vec::new(),
        );
        let mut client = PeerCall::client(&link);
        let sent = call
            .send(
                "PublishAlert",
                client.publish_alert(timed(request, call.timeout())),
            )
            .await;
        let mut resp = match sent {
            Ok(resp) => resp,
            Err(status) => {
                call.refused(&status).await?;
                return Err(peer_status(peer, &status));
            }
        };
        let receipt = resp.receipt.take();
        call.outcome.response_sha256 = sha256(&resp.encode_to_vec());
        match receipt.filter(|r| call.verify(Some(r)).is_ok()) {
            Some(r) => {
                call.record(Some(&r)).await?;
                Ok(())
            }
            None => {
                call.fail(
                    "receipt.invalid",
                    format!("{peer} acknowledged without a valid receipt"),
                    None,
                )
                .await?;
                Err(ExchangeError::data_loss(format!(
                    "{peer} acknowledged without a valid receipt; will retry"
                )))
            }
        }
    }

    /// `Local.ListAlerts`.
    pub fn list_alerts(
        &self,
        req: &pb::ListAlertsRequest,
    ) -> Result<pb::ListAlertsResponse, Status> {
        let now = (self.clock)();
        let mut countries = Vec::new();
        for c in &req.issuing_countries {
            countries.push(
                CountryCode::parse(c.trim())
                    .map_err(|e| Status::invalid_argument(format!("issuing_countries: {e}")))?
                    .to_string(),
            );
        }
        let mut all = self.alerts.store.all_issued().map_err(internal)?;
        all.extend(self.alerts.store.all_received().map_err(internal)?);
        for r in &mut all {
            r.expired = r.alert.as_ref().is_none_or(|a| expired(a, now));
        }
        let active = all.iter().filter(|r| !r.expired).count() as u32;
        all.retain(|r| {
            (req.include_expired || !r.expired)
                && (countries.is_empty()
                    || r.alert
                        .as_ref()
                        .is_some_and(|a| countries.contains(&a.issuing_country)))
        });
        all.sort_by_key(|r| std::cmp::Reverse(r.received_at.as_ref().map(|t| t.seconds)));
        Ok(pb::ListAlertsResponse {
            alerts: all,
            active,
        })
    }

    /// Drafts alerts from surges in this country's own day cells (the week ending
    /// yesterday); returns how many new drafts were made.
    pub fn detect_surges(&self) -> Result<usize, Status> {
        let cfg = &self.node.config.alerts;
        let detect_cfg = DetectConfig {
            baseline_weeks: cfg.baseline_weeks as usize,
            ratio: cfg.surge_ratio,
            min_count: cfg.min_weekly_count,
            z: cfg.z_score,
        };
        let now = (self.clock)();
        let end = now.date() - time::Duration::days(1);
        let cells = self.stats.store.own_cells().map_err(internal)?;
        let surges = detect::detect(cells.iter().map(|(k, c)| (k, c.count)), end, &detect_cfg);
        let own = self.node.country();
        let mut new = 0;
        for s in surges {
            let id = detect::draft_id(&s);
            let factor = s.observed as f64 / s.baseline.max(1.0);
            let proposed = pb::Alert {
                alert_id: id.clone(),
                issuing_country: own.to_string(),
                severity: if factor >= 4.0 {
                    pb::Severity::Critical
                } else {
                    pb::Severity::Warning
                } as i32,
                text: format!(
                    "{} events of {} nationals at {} in the week {} to {}: {:.1} times the {}-week baseline of {:.0} a week.",
                    s.observed,
                    puente_pki::country::country_name(&s.nationality).unwrap_or(&s.nationality),
                    s.entry_point,
                    s.week_start,
                    s.week_end,
                    factor,
                    detect_cfg.baseline_weeks,
                    s.baseline
                ),
                nationalities: vec![s.nationality.clone()],
                entry_points: vec![s.entry_point.clone()],
                route_countries: vec![],
                period: Some(
                    puente_stats::Period::Month {
                        year: s.week_end.year(),
                        month: s.week_end.month() as u8,
                    }
                    .to_proto(),
                ),
                observed_count: s.observed,
                baseline_count: s.baseline.round() as u64,
                ..Default::default()
            };
            let draft = pb::AlertDraft {
                draft_id: id,
                proposed: Some(proposed),
                reason: format!(
                    "{} at {}: {} in the week to {} against a baseline of {:.0} (ratio {:.1}, threshold {:.1})",
                    s.nationality, s.entry_point, s.observed, s.week_end, s.baseline, factor, detect_cfg.ratio
                ),
                detected_at: Some(timestamp(now)),
                published: false,
            };
            if self.alerts.store.add_draft(&draft).map_err(internal)? {
                new += 1;
                info!(draft = %draft.draft_id, "surge detected; alert drafted for review");
            }
        }
        self.alerts.store.flush().map_err(internal)?;
        Ok(new)
    }

    /// `Local.ListAlertDrafts`.
    pub fn alert_drafts(&self, detect: bool) -> Result<pb::ListAlertDraftsResponse, Status> {
        if detect && self.node.config.alerts.detect {
            self.detect_surges()?;
        }
        let mut drafts = self.alerts.store.drafts().map_err(internal)?;
        drafts.sort_by_key(|d| std::cmp::Reverse(d.detected_at.as_ref().map(|t| t.seconds)));
        Ok(pb::ListAlertDraftsResponse { drafts })
    }

    /// Retries pending deliveries every `alerts.retry_secs` until `stop`.
    pub async fn alert_deliveries(self: std::sync::Arc<Self>, mut stop: watch::Receiver<bool>) {
        let every = Duration::from_secs(self.node.config.alerts.retry_secs);
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(every) => {}
            }
            self.deliver_pending().await;
        }
    }
}
