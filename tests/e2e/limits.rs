//! The limits in front of every handler, with real nodes: an oversized message is
//! RESOURCE_EXHAUSTED and the node keeps serving; a peer calling faster than its token
//! bucket allows is refused (`rate.peer_limit`) without spending its agreement quota; a
//! peer that never answers costs a call no more than `server.peer_timeout_secs`; idle
//! connections from one address cannot hold every TLS handshake slot.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::{Duration, Instant};

use puente_e2e::{agree_queries, set_peer_address, set_server, Federation, ManualClock};
use puente_proto::v1 as pb;
use puente_proto::v1::audit_client::AuditClient;
use puente_proto::v1::exchange_client::ExchangeClient;
use puente_proto::v1::local_client::LocalClient;
use tonic::Code;

fn query(case: &str) -> pb::QueryIdentityRequest {
    puente_e2e::document_query(case, "X1234567")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_is_resource_exhausted_and_the_node_keeps_serving() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    agree_queries(&fed, 100);
    let mex = fed.start("MEX").await;
    let gtm_node = fed.country("GTM").identity("node-gtm-1");
    let mut exchange = ExchangeClient::new(fed.channel("MEX", &gtm_node));

    // 2 MiB in a case reference: above Exchange's 1 MiB, refused before any handler.
    let err = exchange
        .query_identity(query(&"x".repeat(2 * 1024 * 1024)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{}", err.message());
    // The same connection and node still answer.
    let ok = exchange.query_identity(query("C-1")).await.unwrap();
    assert_eq!(
        ok.into_inner().outcome,
        pb::MatchOutcome::NoMatch as i32,
        "a normal query after the oversized one"
    );

    // Local takes ImportCells chunks of ~5 MB (the contract's 10,000 cells): such a
    // chunk reaches the handler, which judges the cells; 9 MiB does not.
    let officer = fed.country("MEX").identity("operator-officer");
    let mut local = LocalClient::new(fed.channel("MEX", &officer));
    let cell = |i: usize| pb::FlowCell {
        entry_point: format!("{:0>480}", i),
        ..Default::default()
    };
    let chunk = pb::ImportCellsRequest {
        cells: (0..10_000).map(cell).collect(),
    };
    let size = prost::Message::encoded_len(&chunk);
    assert!(size > 4_500_000 && size < 8 * 1024 * 1024, "{size}");
    let err = local
        .import_cells(tokio_stream::iter(vec![chunk]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    let huge = pb::ImportCellsRequest {
        cells: (0..19_000).map(cell).collect(),
    };
    let err = local
        .import_cells(tokio_stream::iter(vec![huge]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{}", err.message());

    // Audit requests are small: 2 MiB is refused too.
    let auditor = fed.country("MEX").identity("auditor-auditor");
    let err = AuditClient::new(fed.channel("MEX", &auditor))
        .list_entries(pb::ListEntriesRequest {
            actor: "y".repeat(2 * 1024 * 1024),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{}", err.message());

    // Nothing was imported and the node still serves everyone.
    let status = local
        .get_sync_status(pb::GetSyncStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.own_cells, 0);
    exchange.query_identity(query("C-2")).await.unwrap();
    mex.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_above_the_peer_rate_is_refused_without_spending_the_quota() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    agree_queries(&fed, 5);
    set_server(
        &fed,
        "MEX",
        &[("peer_rate_per_sec", "2"), ("peer_burst", "3")],
    );
    // The buckets refill by the node's clock: held still, then moved by hand (at noon
    // today, far from the midnight that renews the daily quota).
    let t0 = time::OffsetDateTime::now_utc().replace_time(time::macros::time!(12:00));
    let clock = ManualClock::at(t0);
    let mex = fed.start_with_clock("MEX", clock.clock()).await;
    let gtm_node = fed.country("GTM").identity("node-gtm-1");
    let channel = fed.channel("MEX", &gtm_node);

    // Ten at once: the burst of 3 is answered, the other 7 refused at the gate.
    let calls = (0..10).map(|i| {
        let mut c = ExchangeClient::new(channel.clone());
        async move { c.query_identity(query(&format!("B-{i}"))).await }
    });
    let results = futures_join_all(calls).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let limited: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .filter(|s| s.code() == Code::ResourceExhausted)
        .collect();
    assert_eq!((ok, limited.len()), (3, 7), "{results:?}");
    assert!(
        limited[0]
            .message()
            .starts_with("rate.peer_limit: GTM exceeds"),
        "{}",
        limited[0].message()
    );
    assert_eq!(mex.refusals_matching("rate.peer_limit").len(), 7);
    let scrape = mex.scrape().await;
    assert_eq!(
        puente_e2e::sample(&scrape, "puente_refusals_total{stage=\"rate_limit\"}"),
        Some(7.0),
        "{scrape}"
    );

    // The 7 refusals spent none of the daily quota of 5: two more are answered once the
    // bucket refills (2/s), and only the sixth answered call hits the quota.
    clock.set(t0 + time::Duration::seconds(1));
    let mut c = ExchangeClient::new(channel.clone());
    c.query_identity(query("Q-4")).await.unwrap();
    c.query_identity(query("Q-5")).await.unwrap();
    clock.set(t0 + time::Duration::seconds(2));
    let err = c.query_identity(query("Q-6")).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{}", err.message());
    assert!(
        err.message().contains("agreement.quota_exceeded"),
        "{}",
        err.message()
    );
    mex.stop().await;
}

async fn futures_join_all<F, T>(calls: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = calls.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_answers_costs_a_call_at_most_the_peer_timeout() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    // A "GTM" that accepts connections and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = silent.accept().await {
            conns.push(c);
        }
    });
    set_peer_address(&fed, "MEX", "GTM", &silent_addr.to_string());
    set_server(&fed, "MEX", &[("peer_timeout_secs", "2")]);
    let mex = fed.start("MEX").await;

    let officer = fed.country("MEX").identity("operator-officer");
    let mut local = LocalClient::new(fed.channel("MEX", &officer));
    let started = Instant::now();
    let err = local
        .query(pb::QueryRequest {
            peer_country: "GTM".into(),
            context: Some(pb::RequestContext {
                purpose: pb::Purpose::Identification as i32,
                case_reference: "T-1".into(),
                ..Default::default()
            }),
            query: query("T-1").query,
            max_matches: 0,
        })
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.code(), Code::Unavailable, "{}", err.message());
    assert!(
        err.message().contains("GTM is unreachable"),
        "{}",
        err.message()
    );
    // The deadline cannot fire early; the upper bound only says the call did not wait
    // for TCP to give up (minutes), with room for any machine's load.
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(30),
        "took {took:?} with a 2 s peer timeout"
    );

    // The asking node recorded the failed call, and still serves its operator.
    let auditor = fed.country("MEX").identity("auditor-auditor");
    let entries = AuditClient::new(fed.channel("MEX", &auditor))
        .list_entries(pb::ListEntriesRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert!(
        entries
            .iter()
            .any(|e| e.direction == pb::Direction::Outgoing as i32
                && e.peer_country == "GTM"
                && e.decision == pb::Decision::Refused as i32),
        "{entries:?}"
    );
    held.abort();
    mex.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_from_one_address_cannot_hold_every_handshake_slot() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    // Eight handshake slots, each address at most a quarter of them; idle connections
    // would hold theirs for a minute.
    set_server(
        &fed,
        "MEX",
        &[
            ("max_pending_handshakes", "8"),
            ("handshake_timeout_secs", "60"),
        ],
    );
    let mex = fed.start("MEX").await;
    let addr = fed.country("MEX").addr;

    // Twelve connections from 127.0.0.2 (no certificate needed) that never send a byte.
    let mut idle = Vec::new();
    for _ in 0..12 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind("127.0.0.2:0".parse().unwrap())
            .expect("Linux routes all of 127.0.0.0/8 to loopback");
        idle.push(socket.connect(addr).await.unwrap());
    }
    // Wait until the node has turned some away (it closes them): with every slot taken
    // by this address it would turn away 4, with its share taken 10.
    let closed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut held = Vec::new();
    for mut c in idle {
        let closed = closed.clone();
        held.push(tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut b = [0u8; 1];
            if matches!(c.read(&mut b).await, Ok(0) | Err(_)) {
                closed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            c
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while closed.load(std::sync::atomic::Ordering::SeqCst) < 4 {
        assert!(Instant::now() < deadline, "the node closed none of them");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // An operator from another address still gets in, at once.
    let officer = fed.country("MEX").identity("operator-officer");
    let peers = LocalClient::new(fed.channel("MEX", &officer))
        .list_peers(pb::ListPeersRequest::default())
        .await;
    assert!(peers.is_ok(), "{:?}", peers.err());
    for h in held {
        h.abort();
    }
    mex.stop().await;
}
