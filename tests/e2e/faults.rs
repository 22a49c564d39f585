//! Faults between and under real nodes: a peer whose connection drops (or stalls) in the
//! middle of a passport copy or a statistics sync, cut by a TCP proxy in front of it, and
//! a data directory that runs out of space (a real, small tmpfs). The asking side fails
//! cleanly, delivers nothing partial, records the failure in its audit log, and recovers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::{Duration, Instant};

use puente_e2e::{
    agreement_text, grant, set_peer_address, set_server, Budget, Fault, FaultProxy, Federation,
};
use puente_proto::v1 as pb;
use puente_proto::v1::audit_client::AuditClient;
use puente_proto::v1::exchange_client::ExchangeClient;
use puente_proto::v1::local_client::LocalClient;
use tonic::Code;

const COLUMNS: &str = "record_id,given_names,surnames,date_of_birth,sex,nationality,document_type,document_number,issuing_state,document_expiry,mrz_line1,mrz_line2,protection_status,protected_against,vulnerabilities,encounter_date,encounter_place,encounter_event,previous_country,passport_copy";

/// MEX holds one person with a passport copy and grants GTM queries and copies.
fn mex_with_a_copy(fed: &Federation) -> Vec<u8> {
    let dir = fed.temp.path().join("mex-data");
    std::fs::create_dir_all(dir.join("copies")).unwrap();
    let png = puente_synth::specimen::specimen_png(42).unwrap();
    std::fs::write(dir.join("copies/r1.png"), &png).unwrap();
    let csv = dir.join("persons.csv");
    std::fs::write(
        &csv,
        format!("{COLUMNS}\nR1,MOHAMMAD ABDUL,HOSSAIN,1990-04-12,M,BGD,passport,BX1234567,BGD,2030-05-01,,,none,,,2026-03-01,Tapachula,detection,GTM,copies/r1.png\n"),
    )
    .unwrap();
    let (_store, records) = puente::records::open(&fed.country("MEX").config).unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    puente_records::import::import(&records, &csv, today, &mut |_, _| {}).unwrap();
    records.flush().unwrap();
    fed.agree(
        "MEX",
        "GTM",
        "mex-gtm.toml",
        &agreement_text(
            "MEX-GTM-F",
            ["MEX", "GTM"],
            "2026-01-01",
            "2027-12-31",
            &[grant(
                "MEX",
                "GTM",
                &["identity_query", "passport_copy"],
                &["identification"],
                &["nationality", "document_number"],
                "queries_per_day = 100\ncopies_per_day = 100",
            )],
        ),
    );
    png
}

fn ctx() -> Option<pb::RequestContext> {
    Some(pb::RequestContext {
        purpose: pb::Purpose::Identification as i32,
        case_reference: "CASE-F".into(),
        ..Default::default()
    })
}

fn local(fed: &Federation, code: &str) -> LocalClient<tonic::transport::Channel> {
    fed.operator(code)
}

async fn reference(fed: &Federation) -> String {
    let r = local(fed, "GTM")
        .query(pb::QueryRequest {
            peer_country: "MEX".into(),
            context: ctx(),
            query: Some(pb::IdentityQuery {
                terms: Some(pb::identity_query::Terms::Document(pb::DocumentTerms {
                    document_number: "BX1234567".into(),
                    issuing_state: "BGD".into(),
                    document_type: pb::DocumentType::Passport as i32,
                })),
            }),
            max_matches: 0,
        })
        .await
        .unwrap()
        .into_inner();
    r.matches[0].reference.clone()
}

/// Fetches through GTM's node; returns every message the operator received, and the
/// stream's final status.
async fn fetch(
    fed: &Federation,
    reference: &str,
) -> (Vec<pb::FetchDocumentResponse>, Result<(), tonic::Status>) {
    let mut got = Vec::new();
    let stream = local(fed, "GTM")
        .fetch_document(pb::FetchDocumentRequest {
            peer_country: "MEX".into(),
            context: ctx(),
            reference: reference.into(),
        })
        .await;
    let mut stream = match stream {
        Ok(s) => s.into_inner(),
        Err(e) => return (got, Err(e)),
    };
    loop {
        match stream.message().await {
            Ok(Some(m)) => got.push(m),
            Ok(None) => return (got, Ok(())),
            Err(e) => return (got, Err(e)),
        }
    }
}

async fn outgoing_copies(fed: &Federation, code: &str) -> Vec<pb::AuditEntry> {
    let auditor = fed.country(code).identity("auditor-auditor");
    AuditClient::new(fed.channel(code, &auditor))
        .list_entries(pb::ListEntriesRequest {
            service: pb::Service::PassportCopy as i32,
            direction: pb::Direction::Outgoing as i32,
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_transfer_cut_or_stalled_midway_delivers_nothing_and_is_audited() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let png = mex_with_a_copy(&fed);
    assert!(
        png.len() > 17 * 1024,
        "the copy must span TLS records: {}",
        png.len()
    );
    let proxy = FaultProxy::start(fed.country("MEX").addr).await;
    set_peer_address(&fed, "GTM", "MEX", &proxy.addr.to_string());
    set_server(
        &fed,
        "GTM",
        &[("peer_timeout_secs", "2"), ("document_timeout_secs", "3")],
    );
    let _mex = fed.start("MEX").await;
    let _gtm = fed.start("GTM").await;
    let r = reference(&fed).await;

    // MEX's answer is cut after its first TLS record (the connection is already up).
    proxy.arm(Fault::Cut, Budget::Records(1));
    let (got, end) = fetch(&fed, &r).await;
    let err = end.unwrap_err();
    assert_eq!(proxy.fired(), 1);
    assert_eq!(err.code(), Code::Unavailable, "{}", err.message());
    assert!(
        err.message().contains("document.incomplete"),
        "{}",
        err.message()
    );
    assert!(
        got.is_empty(),
        "a partial copy reached the operator: {got:?}"
    );
    let entries = outgoing_copies(&fed, "GTM").await;
    let last = entries.last().unwrap();
    assert_eq!(last.decision, pb::Decision::Refused as i32);
    assert_eq!(last.rule, "document.incomplete");
    assert_eq!(last.peer_country, "MEX");

    // Stalled instead of cut (on a connection that is up again, after a query): the
    // whole transfer is abandoned at its deadline.
    let r = reference(&fed).await;
    proxy.arm(Fault::Stall, Budget::Records(1));
    let started = Instant::now();
    let (got, end) = fetch(&fed, &r).await;
    let err = end.unwrap_err();
    let took = started.elapsed();
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(err.code(), Code::DeadlineExceeded, "{}", err.message());
    assert!(
        // Not before the transfer deadline; the upper bound only says it did not wait
        // for TCP to give up, with room for a loaded machine.
        took >= Duration::from_millis(2500) && took < Duration::from_secs(60),
        "{took:?}"
    );
    let entries = outgoing_copies(&fed, "GTM").await;
    assert_eq!(entries.last().unwrap().rule, "document.incomplete");

    // The link heals once GTM's pings find the stalled connection dead (keepalive at the
    // 2 s peer timeout): the same reference then brings the whole, verified copy.
    let healing = Instant::now();
    let got = loop {
        match fetch(&fed, &r).await {
            (got, Ok(())) => break got,
            (_, Err(e)) => assert!(
                healing.elapsed() < Duration::from_secs(60),
                "the link did not heal: {e:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut bytes = Vec::new();
    let mut verified = false;
    for m in got {
        match m.part {
            Some(pb::fetch_document_response::Part::Chunk(c)) => bytes.extend(c),
            Some(pb::fetch_document_response::Part::Trailer(t)) => verified = t.sha256_verified,
            _ => {}
        }
    }
    assert!(verified);
    assert_eq!(bytes, png);
    let entries = outgoing_copies(&fed, "GTM").await;
    assert_eq!(
        entries.last().unwrap().decision,
        pb::Decision::Allowed as i32
    );
}

/// Rewrites keys of `code`'s `[stats]` section.
fn set_stats(fed: &Federation, code: &str, values: &[(&str, &str)]) {
    puente_e2e::set_config(fed, code, "stats", values);
}

async fn sync(fed: &Federation) -> pb::PeerSyncResult {
    local(fed, "GTM")
        .sync_now(pb::SyncNowRequest {
            peer_countries: vec!["MEX".into()],
        })
        .await
        .unwrap()
        .into_inner()
        .results
        .remove(0)
}

async fn cells_from_mex(fed: &Federation) -> usize {
    let mut stream = local(fed, "GTM")
        .list_cells(pb::ListCellsRequest {
            reporting_countries: vec!["MEX".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while let Some(page) = stream.message().await.unwrap() {
        n += page.cells.len();
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statistics_sync_cut_by_the_network_resumes_and_converges() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    fed.agree(
        "MEX",
        "GTM",
        "mex-gtm.toml",
        &agreement_text(
            "MEX-GTM-S",
            ["MEX", "GTM"],
            "2026-01-01",
            "2027-12-31",
            &[grant(
                "MEX",
                "GTM",
                &["flow_counts"],
                &["statistics"],
                &[],
                "small_cell_threshold = 1",
            )],
        ),
    );
    set_stats(&fed, "GTM", &[("page_size", "20"), ("sync_at", "\"\"")]);
    let proxy = FaultProxy::start(fed.country("MEX").addr).await;
    set_peer_address(&fed, "GTM", "MEX", &proxy.addr.to_string());
    let _mex = fed.start("MEX").await;
    let _gtm = fed.start("GTM").await;

    // 1,200 cells of MEX: 60 pages.
    let cells: Vec<pb::FlowCell> = (0..1200u32)
        .map(|i| {
            let key = puente_stats::CellKey::new(
                puente_stats::Period::day(2026, 1 + (i % 12) as u8, 1 + (i / 12 % 28) as u8)
                    .unwrap(),
                ["VEN", "HTI", "CUB", "IND"][(i / 336) as usize % 4],
                pb::Sex::Female,
                pb::AgeGroup::Age1829,
                "MEX-EP1",
                pb::EncounterEvent::Entry,
            )
            .unwrap();
            key.to_proto("MEX", puente_stats::Value::Count(u64::from(i % 40) + 1), 1)
        })
        .collect();
    let imported = local(&fed, "MEX")
        .import_cells(tokio_stream::iter(vec![pb::ImportCellsRequest {
            cells: cells.clone(),
        }]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(imported.cells, 1200);

    // The connection (handshake included) is cut 40 KiB into the sync.
    proxy.arm(Fault::Cut, Budget::Bytes(40 * 1024));
    let cut = sync(&fed).await;
    assert_eq!(proxy.fired(), 1);
    assert_eq!(cut.outcome, pb::SyncOutcome::Failed as i32, "{cut:?}");
    assert!(cut.error.contains("MEX"), "{}", cut.error);
    let partial = cells_from_mex(&fed).await;
    assert!(partial > 0 && partial < 1200, "{partial}");

    // The next sync resumes after the last stored page and converges.
    let resumed = sync(&fed).await;
    assert_eq!(
        resumed.outcome,
        pb::SyncOutcome::Ok as i32,
        "{}",
        resumed.error
    );
    assert_eq!(resumed.cells_received as usize, 1200 - partial);
    assert_eq!(cells_from_mex(&fed).await, 1200);
}

/// A small tmpfs mounted for the test, unmounted on drop (needs root, as in this
/// project's CI container; elsewhere the test says so and does nothing).
struct SmallDisk {
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mib: u32) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir_all(&path).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then_some(Self { path, _dir: dir })
    }

    /// Fills the disk until at most `leave` bytes are free.
    fn fill(&self, leave: u64) {
        let free = free_bytes(&self.path);
        if free > leave {
            let f = std::fs::File::create(self.path.join("filler")).unwrap();
            f.set_len(0).unwrap();
            use std::io::Write;
            let mut w = std::io::BufWriter::new(f);
            let block = vec![0xabu8; 64 * 1024];
            let mut left = free - leave;
            while left > 0 {
                let n = left.min(block.len() as u64) as usize;
                if w.write_all(&block[..n]).is_err() {
                    break;
                }
                left -= n as u64;
            }
            let _ = w.flush();
        }
    }

    fn free_up(&self) {
        let _ = std::fs::remove_file(self.path.join("filler"));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

fn free_bytes(path: &std::path::Path) -> u64 {
    let out = std::process::Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn query(case: &str) -> pb::QueryIdentityRequest {
    puente_e2e::document_query(case, "BX1234567")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_data_disk_refuses_exchanges_says_why_and_recovers() {
    let Some(disk) = SmallDisk::mount(48) else {
        eprintln!("SKIPPED: mounting a tmpfs needs root (CAP_SYS_ADMIN); run the CI container as root to exercise a full disk");
        return;
    };
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    mex_with_a_copy(&fed);
    // Move MEX's data directory (records already imported) onto the small disk.
    let data = fed.country("MEX").load().config.node.data_dir.clone();
    let moved = disk.path.join("data");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(&data)
        .arg(&moved)
        .status()
        .unwrap();
    assert!(status.success());
    let config = fed.country("MEX").config.clone();
    let text = std::fs::read_to_string(&config).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("data_dir = "))
        .unwrap()
        .to_string();
    std::fs::write(
        &config,
        text.replace(&line, &format!("data_dir = \"{}\"", moved.display())),
    )
    .unwrap();
    set_server(&fed, "MEX", &[("min_free_mb", "8")]);
    let mex = fed.start("MEX").await;
    let gtm_node = fed.country("GTM").identity("node-gtm-1");
    let mut exchange = ExchangeClient::new(fed.channel("MEX", &gtm_node));
    let before = exchange.query_identity(query("D-1")).await.unwrap();
    let size_before = before.into_inner().receipt.unwrap().entry_index;

    // Another process fills the disk: 2 MiB left, below the 8 MiB reserve.
    disk.fill(2 * 1024 * 1024);
    // Health says so: the services that write audit entries turn NOT_SERVING.
    let mut health =
        tonic_health::pb::health_client::HealthClient::new(fed.channel("MEX", &gtm_node));
    let status_of = |h: &mut tonic_health::pb::health_client::HealthClient<_>, name: &str| {
        let mut h = h.clone();
        let name = name.to_string();
        async move {
            h.check(tonic_health::pb::HealthCheckRequest { service: name })
                .await
                .unwrap()
                .into_inner()
                .status
        }
    };
    let not_serving = tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    let mut seen = 0;
    for _ in 0..50 {
        seen = status_of(&mut health, "puente.v1.Exchange").await;
        if seen == not_serving {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen, not_serving, "health did not report the full disk");
    assert_eq!(status_of(&mut health, "puente.v1.Audit").await, serving);
    let err = exchange.query_identity(query("D-2")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{}", err.message());
    assert!(
        err.message()
            .starts_with("storage.disk_full: the data directory")
            && err.message().contains("server.min_free_mb"),
        "{}",
        err.message()
    );
    // The asking side's operator hears it too (through GTM's node), and nothing was
    // answered without an entry: MEX's log did not grow.
    let _gtm = fed.start("GTM").await;
    let err = local(&fed, "GTM")
        .query(pb::QueryRequest {
            peer_country: "MEX".into(),
            context: ctx(),
            query: query("D-3").query,
            max_matches: 0,
        })
        .await
        .unwrap_err();
    assert!(
        err.message().contains("storage.disk_full"),
        "{}",
        err.message()
    );

    // Space returns: exchanges are served again, the log continues where it was.
    disk.free_up();
    for _ in 0..50 {
        seen = status_of(&mut health, "puente.v1.Exchange").await;
        if seen == serving {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen, serving, "health did not recover with the space");
    let after = exchange.query_identity(query("D-4")).await.unwrap();
    let receipt = after.into_inner().receipt.unwrap();
    assert_eq!(receipt.entry_index, size_before + 1);
    mex.stop().await;
    drop(disk);
}
