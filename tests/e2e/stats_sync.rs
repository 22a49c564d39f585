//! Flow statistics between real nodes: a first sync, an incremental one that moves only
//! what changed, one cut mid-stream that resumes and converges, suppression as the
//! receiver sees it, a peer without a `flow_counts` grant, forged watermarks, and the
//! nightly schedule under a controllable clock with retries while the peer is down.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use puente_e2e::{agreement_text, grant, Federation, ManualClock};
use puente_proto::v1 as pb;
use puente_proto::v1::audit_client::AuditClient;
use puente_proto::v1::exchange_client::ExchangeClient;
use puente_proto::v1::local_client::LocalClient;
use puente_stats::{CellKey, Period, Suppression, Value};
use tonic::Code;

const THRESHOLD: u64 = 5;

/// MEX grants GTM flow counts (threshold 5, secondary suppression); CRI gets identity
/// queries only.
async fn federation() -> Federation {
    let fed = Federation::new(&["MEX", "GTM", "CRI"]).await;
    fed.agree(
        "MEX",
        "GTM",
        "mex-gtm.toml",
        &agreement_text(
            "MEX-GTM-STATS",
            ["MEX", "GTM"],
            "2026-01-01",
            "2027-12-31",
            &[grant(
                "MEX",
                "GTM",
                &["flow_counts"],
                &["statistics"],
                &[],
                &format!("small_cell_threshold = {THRESHOLD}\nsecondary_suppression = true"),
            )],
        ),
    );
    fed.agree(
        "MEX",
        "CRI",
        "mex-cri.toml",
        &agreement_text(
            "MEX-CRI-ID",
            ["MEX", "CRI"],
            "2026-01-01",
            "2027-12-31",
            &[grant(
                "MEX",
                "CRI",
                &["identity_query"],
                &["identification"],
                &["surnames"],
                "queries_per_day = 10\nmax_matches = 1",
            )],
        ),
    );
    fed
}

/// Rewrites keys of `code`'s `[stats]` section.
fn set_stats(fed: &Federation, code: &str, values: &[(&str, &str)]) {
    puente_e2e::set_config(fed, code, "stats", values);
}

fn local(fed: &Federation, code: &str) -> LocalClient<tonic::transport::Channel> {
    fed.operator(code)
}

/// `n` month groups of MEX cells: each a month total and its days, counts chosen so
/// that some days are small (primary), some months are small, and some are clean.
fn mex_cells(groups: usize, salt: u64) -> BTreeMap<CellKey, u64> {
    let nats = ["VEN", "HTI", "CUB", "IND", "CHN", "SEN", "AFG", "ECU"];
    let mut out = BTreeMap::new();
    for g in 0..groups {
        let nat = nats[g % nats.len()];
        let ep = format!("MEX-EP{:03}", g / nats.len());
        let month = 1 + (g % 12) as u8;
        let month_key = CellKey::new(
            Period::month(2026, month).unwrap(),
            nat,
            pb::Sex::Female,
            pb::AgeGroup::Age1829,
            &ep,
            pb::EncounterEvent::Entry,
        )
        .unwrap();
        let mut total = 0;
        for d in 1..=3u8 {
            // Deterministic spread 0..=12, with a salt to change some values.
            let n = (g as u64 * 7 + u64::from(d) * 5 + salt * u64::from(d)) % 13;
            let n = if g % 5 == 0 { n % 3 } else { n };
            total += n;
            out.insert(
                month_key.with_period(Period::day(2026, month, d).unwrap()),
                n,
            );
        }
        out.insert(month_key, total);
    }
    out
}

async fn import(
    fed: &Federation,
    code: &str,
    cells: &BTreeMap<CellKey, u64>,
) -> pb::ImportCellsResponse {
    let cells: Vec<pb::FlowCell> = cells
        .iter()
        .map(|(k, n)| k.to_proto(code, Value::Count(*n), 1))
        .collect();
    let chunks: Vec<pb::ImportCellsRequest> = cells
        .chunks(700)
        .map(|c| pb::ImportCellsRequest { cells: c.to_vec() })
        .collect();
    local(fed, code)
        .import_cells(tokio_stream::iter(chunks))
        .await
        .unwrap()
        .into_inner()
}

async fn cells_at(fed: &Federation, at: &str, reporting: &str) -> BTreeMap<CellKey, Value> {
    let mut stream = local(fed, at)
        .list_cells(pb::ListCellsRequest {
            period: String::new(),
            reporting_countries: vec![reporting.to_string()],
        })
        .await
        .unwrap()
        .into_inner();
    let mut out = BTreeMap::new();
    while let Some(page) = stream.message().await.unwrap() {
        for c in page.cells {
            let (k, v, _) = CellKey::from_proto(&c).unwrap();
            out.insert(k, v);
        }
    }
    out
}

/// What GTM may see of `own`, computed here independently of the node's code: small
/// cells withheld; a month with a small day withheld as secondary; every day of a small
/// month withheld.
fn expected_view(own: &BTreeMap<CellKey, u64>) -> BTreeMap<CellKey, Value> {
    let small = |n: u64| n > 0 && n < THRESHOLD;
    let mut out = BTreeMap::new();
    for (k, n) in own {
        let v = if small(*n) {
            Value::Suppressed(Suppression::Primary)
        } else if k.period.is_day() {
            let month = own.get(&k.with_period(k.period.month_of())).copied();
            if month.is_some_and(small) {
                Value::Suppressed(Suppression::Primary)
            } else {
                Value::Count(*n)
            }
        } else {
            let any_small_day = own.iter().any(|(d, c)| {
                d.period.is_day() && d.with_period(d.period.month_of()) == *k && small(*c)
            });
            if any_small_day {
                Value::Suppressed(Suppression::Secondary)
            } else {
                Value::Count(*n)
            }
        };
        out.insert(k.clone(), v);
    }
    out
}

async fn sync(fed: &Federation, at: &str, peer: &str) -> pb::PeerSyncResult {
    let r = local(fed, at)
        .sync_now(pb::SyncNowRequest {
            peer_countries: vec![peer.to_string()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.results.len(), 1);
    r.results.into_iter().next().unwrap()
}

async fn flow_entries(fed: &Federation, code: &str) -> Vec<pb::AuditEntry> {
    let auditor = fed.country(code).identity("auditor-auditor");
    AuditClient::new(fed.channel(code, &auditor))
        .list_entries(pb::ListEntriesRequest {
            service: pb::Service::FlowCounts as i32,
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_and_incremental_syncs_move_exactly_the_permitted_cells() {
    let mut fed = federation().await;
    set_stats(&fed, "GTM", &[("page_size", "40"), ("sync_at", "\"\"")]);
    let _mex = fed.start("MEX").await;
    let _gtm = fed.start("GTM").await;

    let mut own = mex_cells(60, 0);
    // Zero cells are not cells until they had a count: drop them from the import.
    own.retain(|_, n| *n > 0);
    let imported = import(&fed, "MEX", &own).await;
    assert_eq!(imported.cells, own.len() as u64);

    let first = sync(&fed, "GTM", "MEX").await;
    assert_eq!(first.outcome, pb::SyncOutcome::Ok as i32, "{}", first.error);
    assert_eq!(first.cells_received, own.len() as u64);
    assert!(first.pages >= (own.len() as u32).div_ceil(40));
    let seen = cells_at(&fed, "GTM", "MEX").await;
    assert_eq!(seen, expected_view(&own));
    // The receiver saw suppressed cells of both kinds, and no small count.
    assert!(seen
        .values()
        .any(|v| *v == Value::Suppressed(Suppression::Primary)));
    assert!(seen
        .values()
        .any(|v| *v == Value::Suppressed(Suppression::Secondary)));
    assert!(seen
        .values()
        .all(|v| v.count().is_none_or(|n| n == 0 || n >= THRESHOLD)));

    // Nothing changed: one empty page.
    let again = sync(&fed, "GTM", "MEX").await;
    assert_eq!(
        (again.outcome, again.cells_received, again.pages),
        (pb::SyncOutcome::Ok as i32, 0, 1)
    );

    // Change three day cells: only they and the cells they affect move.
    let changed_days: Vec<CellKey> = own
        .keys()
        .filter(|k| k.period.is_day())
        .take(3)
        .cloned()
        .collect();
    let mut update = BTreeMap::new();
    for k in &changed_days {
        let n = own[k] + 20;
        own.insert(k.clone(), n);
        update.insert(k.clone(), n);
    }
    let r = import(&fed, "MEX", &update).await;
    assert!(r.changed >= 3);
    let inc = sync(&fed, "GTM", "MEX").await;
    assert_eq!(inc.outcome, pb::SyncOutcome::Ok as i32);
    assert_eq!(inc.cells_received, r.changed, "only changed cells travel");
    assert!(inc.cells_received < 20);
    // The months were not re-imported, so MEX's totals no longer add up for those
    // months; the receiver still gets exactly what MEX may disclose of its own cells.
    assert_eq!(cells_at(&fed, "GTM", "MEX").await, expected_view(&own));

    // Both sides audited every page.
    let pages = u64::from(first.pages + again.pages + inc.pages);
    let asked = flow_entries(&fed, "GTM").await;
    let answered = flow_entries(&fed, "MEX").await;
    assert_eq!(asked.len() as u64, pages);
    assert_eq!(answered.len() as u64, pages);
    assert!(asked
        .iter()
        .all(|e| e.direction == pb::Direction::Outgoing as i32
            && e.decision == pb::Decision::Allowed as i32
            && e.counterpart_receipt.is_some()));

    // A peer named twice in one request (100,000 times, from a hostile client, ran as
    // many syncs and audit entries): refused whole, nothing synced or recorded.
    let err = local(&fed, "GTM")
        .sync_now(pb::SyncNowRequest {
            peer_countries: vec!["MEX".into(); 3],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    assert!(
        err.message().contains("MEX is named twice"),
        "{}",
        err.message()
    );
    assert_eq!(flow_entries(&fed, "GTM").await.len() as u64, pages);
    assert_eq!(flow_entries(&fed, "MEX").await.len() as u64, pages);
    // A list of countries longer than there are countries is refused before any cell
    // is read.
    let err = local(&fed, "GTM")
        .list_cells(pb::ListCellsRequest {
            period: String::new(),
            reporting_countries: vec!["MEX".into(); 257],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    assert!(
        err.message().starts_with("reporting_countries: at most"),
        "{}",
        err.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_cut_mid_stream_resumes_from_its_last_page_and_converges() {
    let mut fed = federation().await;
    set_stats(&fed, "GTM", &[("page_size", "10"), ("sync_at", "\"\"")]);
    let mex = fed.start("MEX").await;
    let _gtm = fed.start("GTM").await;
    let mut own = mex_cells(400, 3);
    own.retain(|_, n| *n > 0);
    import(&fed, "MEX", &own).await;

    let fed_ref = &fed;
    let running = tokio::spawn({
        let channel = fed_ref.channel("GTM", &fed_ref.country("GTM").identity("operator-officer"));
        async move {
            LocalClient::new(channel)
                .sync_now(pb::SyncNowRequest {
                    peer_countries: vec!["MEX".into()],
                })
                .await
                .unwrap()
                .into_inner()
        }
    });
    // Stop MEX once a few pages are stored.
    let mut status = local(&fed, "GTM");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let s = status
            .get_sync_status(pb::GetSyncStatusRequest {})
            .await
            .unwrap()
            .into_inner();
        let p = s.peers.iter().find(|p| p.peer_country == "MEX").unwrap();
        if p.running && p.last_pages >= 5 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sync never got going"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    mex.stop().await;
    let cut = running.await.unwrap().results.remove(0);
    assert_eq!(cut.outcome, pb::SyncOutcome::Failed as i32);
    assert!(cut.error.contains("MEX"), "{}", cut.error);
    let partial = cells_at(&fed, "GTM", "MEX").await;
    assert!(
        !partial.is_empty() && partial.len() < own.len(),
        "{} of {}",
        partial.len(),
        own.len()
    );
    let status_now = status
        .get_sync_status(pb::GetSyncStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    let p = status_now
        .peers
        .iter()
        .find(|p| p.peer_country == "MEX")
        .unwrap();
    assert_eq!(p.last_outcome, pb::SyncOutcome::Failed as i32);
    assert_eq!(p.consecutive_failures, 1);

    // MEX comes back: the next sync starts where the last stored page ended.
    let _mex = fed.start("MEX").await;
    let resumed = sync(&fed, "GTM", "MEX").await;
    assert_eq!(
        resumed.outcome,
        pb::SyncOutcome::Ok as i32,
        "{}",
        resumed.error
    );
    assert_eq!(resumed.cells_received, (own.len() - partial.len()) as u64);
    assert_eq!(cells_at(&fed, "GTM", "MEX").await, expected_view(&own));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_a_grant_gets_nothing_and_watermarks_cannot_be_forged() {
    let mut fed = federation().await;
    let _mex = fed.start("MEX").await;
    let _cri = fed.start("CRI").await;
    let _gtm = fed.start("GTM").await;
    let mut own = mex_cells(10, 0);
    own.retain(|_, n| *n > 0);
    import(&fed, "MEX", &own).await;

    // CRI's own node declines to ask: no agreement grants it flow counts.
    let r = sync(&fed, "CRI", "MEX").await;
    assert_eq!(r.outcome, pb::SyncOutcome::NotPermitted as i32);
    assert!(r.error.contains("agreement.none"), "{}", r.error);
    // Asked directly with CRI's node certificate, MEX refuses and sends nothing.
    let cri_node = fed.country("CRI").identity("node-cri-1");
    let mut as_cri = ExchangeClient::new(fed.channel("MEX", &cri_node));
    let ctx = pb::RequestContext {
        purpose: pb::Purpose::Statistics as i32,
        case_reference: "probe".into(),
        operator_id: "x".into(),
        request_id: "1".into(),
        ..Default::default()
    };
    let err = as_cri
        .pull_statistics(pb::PullStatisticsRequest {
            context: Some(ctx.clone()),
            since_watermark: vec![],
            page_size: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().starts_with("agreement."), "{}", err.message());

    // GTM's watermark cannot be forged, nor handed to another country.
    let gtm_node = fed.country("GTM").identity("node-gtm-1");
    let mut as_gtm = ExchangeClient::new(fed.channel("MEX", &gtm_node));
    let page = as_gtm
        .pull_statistics(pb::PullStatisticsRequest {
            context: Some(ctx.clone()),
            since_watermark: vec![],
            page_size: 5,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.cells.len(), 5);
    assert!(page.has_more);
    let mut forged = page.next_watermark.clone();
    let last = forged.len() - 1;
    forged[last] ^= 0x55;
    for bad in [forged, b"PSW1\0\0\0\0\0\0\0\0".to_vec(), vec![0u8; 300]] {
        let err = as_gtm
            .pull_statistics(pb::PullStatisticsRequest {
                context: Some(ctx.clone()),
                since_watermark: bad,
                page_size: 5,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
        assert!(
            err.message().contains("request.watermark"),
            "{}",
            err.message()
        );
    }
    // Purpose not granted: refused.
    let err = as_gtm
        .pull_statistics(pb::PullStatisticsRequest {
            context: Some(pb::RequestContext {
                purpose: pb::Purpose::Identification as i32,
                ..ctx
            }),
            since_watermark: vec![],
            page_size: 5,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // Operators cannot call Exchange at all.
    let officer = fed.country("GTM").identity("operator-officer");
    let err = ExchangeClient::new(fed.channel("MEX", &officer))
        .pull_statistics(pb::PullStatisticsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // An import of another country's cells, or of a suppressed value, changes nothing.
    let k = own.keys().next().unwrap().clone();
    let err = local(&fed, "MEX")
        .import_cells(tokio_stream::iter(vec![pb::ImportCellsRequest {
            cells: vec![
                k.to_proto("MEX", Value::Count(99), 1),
                k.to_proto("GTM", Value::Count(1), 1),
            ],
        }]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("cell 2"), "{}", err.message());
    let mex_own = cells_at(&fed, "MEX", "MEX").await;
    assert_ne!(
        mex_own.get(&k),
        Some(&Value::Count(99)),
        "a refused import stored a cell"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nightly_sync_fires_at_its_time_and_retries_until_the_peer_is_back() {
    let mut fed = federation().await;
    set_stats(
        &fed,
        "GTM",
        &[
            ("sync_at", "\"02:00\""),
            ("utc_offset", "\"-06:00\""),
            ("jitter_minutes", "0"),
            ("retry_initial_secs", "1"),
            ("retry_max_secs", "2"),
            ("retry_attempts", "30"),
        ],
    );
    // tick_ms is not in the generated config: add it.
    let path = fed.country("GTM").config.clone();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("[stats]\n", "[stats]\ntick_ms = 20\n")).unwrap();

    // 01:59 in UTC-6 is 07:59 UTC.
    let clock = ManualClock::at(time::macros::datetime!(2026-11-28 07:59:00 UTC));
    // GTM reaches MEX through a proxy: MEX comes back on a new port (its old one may be
    // another test's by then), and the proxy follows it.
    let proxy = puente_e2e::fault_proxy::FaultProxy::start(fed.country("MEX").addr).await;
    puente_e2e::set_peer_address(&fed, "GTM", "MEX", &proxy.addr.to_string());
    let mex = fed.start("MEX").await;
    let mut own = mex_cells(12, 1);
    own.retain(|_, n| *n > 0);
    import(&fed, "MEX", &own).await;
    mex.stop().await;
    let _gtm = fed.start_with_clock("GTM", clock.clock()).await;

    let mut status = local(&fed, "GTM");
    let peer = |s: &pb::GetSyncStatusResponse| {
        s.peers
            .iter()
            .find(|p| p.peer_country == "MEX")
            .cloned()
            .unwrap()
    };
    // The schedule task starts with the node: wait for it to announce its first run.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let s = loop {
        let s = status
            .get_sync_status(pb::GetSyncStatusRequest {})
            .await
            .unwrap()
            .into_inner();
        if s.next_scheduled.is_some() {
            break s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the schedule never announced its first run"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        s.next_scheduled.as_ref().map(|t| t.seconds),
        Some(time::macros::datetime!(2026-11-28 08:00:00 UTC).unix_timestamp()),
        "02:00 at UTC-6"
    );
    // Before the time: nothing happens. The schedule looks at the clock every tick
    // (20 ms); while nothing else asks the node anything, ten more looks are its ticks.
    let looked = clock.reads();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while clock.reads() < looked + 10 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the schedule stopped looking at the clock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let s = status
        .get_sync_status(pb::GetSyncStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        peer(&s).last_attempt.is_none(),
        "the sync ran before its time"
    );

    // 02:00:30 local: it fires, finds MEX down, and retries.
    clock.set(time::macros::datetime!(2026-11-28 08:00:30 UTC));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let s = status
            .get_sync_status(pb::GetSyncStatusRequest {})
            .await
            .unwrap()
            .into_inner();
        if peer(&s).consecutive_failures >= 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the schedule did not fire"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _mex = fed.start_on_new_port("MEX").await;
    proxy.retarget(fed.country("MEX").addr);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let s = status
            .get_sync_status(pb::GetSyncStatusRequest {})
            .await
            .unwrap()
            .into_inner();
        let p = peer(&s);
        if p.last_outcome == pb::SyncOutcome::Ok as i32 {
            assert_eq!(p.cells_stored, own.len() as u64);
            assert_eq!(p.consecutive_failures, 0);
            // The next run is the following night.
            assert_eq!(
                s.next_scheduled.as_ref().map(|t| t.seconds),
                Some(time::macros::datetime!(2026-11-29 08:00:00 UTC).unix_timestamp())
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the retried sync never completed: {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cells_at(&fed, "GTM", "MEX").await, expected_view(&own));
}

#[test]
fn expected_view_is_not_trivial() {
    // Guard the test oracle itself: it withholds small cells and the months above them.
    let mut own = mex_cells(10, 0);
    own.retain(|_, n| *n > 0);
    let v = expected_view(&own);
    let kinds: BTreeSet<_> = v
        .values()
        .map(|v| match v {
            Value::Count(_) => 0,
            Value::Suppressed(Suppression::Primary) => 1,
            Value::Suppressed(Suppression::Secondary) => 2,
        })
        .collect();
    assert_eq!(kinds.len(), 3);
}
