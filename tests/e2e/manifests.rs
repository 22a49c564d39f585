//! Carriers' manifests end to end (issue 21): a carrier of MEX submits a PAXLST flight and
//! a bus trip as JSON and CSV to MEX's node over mTLS; officers list them and see which
//! passengers MEX's records already know. Carriers and operators of another country are
//! refused at the gate; malformed EDIFACT is refused naming the place, with nothing
//! stored; a 100,000-passenger manifest is refused and the node keeps serving; manifests
//! are sealed at rest and erased after their retention, the erasure audited. The
//! expected-arrival cells they feed are in `manifest_cells.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use puente_e2e::holdings::import_rows;
use puente_e2e::{Federation, ManualClock};
use puente_pki::{IssueOptions, Role};
use puente_proto::v1 as pb;
use puente_proto::v1::audit_client::AuditClient;
use puente_proto::v1::manifest_client::ManifestClient;
use tonic::transport::Channel;
use tonic::Code;

const FLIGHT: &str = include_str!("../../crates/puente-manifest/testdata/flight.edi");
pub(crate) const BUS_JSON: &str = include_str!("../../crates/puente-manifest/testdata/bus.json");
const BUS_CSV: &str = include_str!("../../crates/puente-manifest/testdata/bus.csv");

/// Personal data of the sample files that must never reach an audit entry or the disk
/// unsealed.
const PERSONAL: &[&str] = &[
    "PEREZ GOMEZ",
    "AB1234567",
    "BRIEN",
    "PA9988776",
    "Okafor",
    "F1234567",
];

/// Issues a `role` certificate `name` with `country`'s CA; its TLS stem.
pub(crate) fn issue(fed: &Federation, country: &str, role: Role, name: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    fed.country(country)
        .ca()
        .issue(role, name, &IssueOptions::valid_for_days(now, 30))
        .unwrap();
    format!("{role}-{name}")
}

/// A `Manifest` client of `to`'s node presenting `from`'s certificate `stem`.
pub(crate) fn manifest_client(
    fed: &Federation,
    to: &str,
    from: &str,
    stem: &str,
) -> ManifestClient<Channel> {
    ManifestClient::new(fed.channel(to, &fed.country(from).identity(stem)))
}

pub(crate) fn submit(content: &str, format: pb::ManifestFormat) -> pb::SubmitManifestRequest {
    pb::SubmitManifestRequest {
        format: format as i32,
        content: content.as_bytes().to_vec(),
        file_name: "upload".into(),
    }
}

async fn list(fed: &Federation) -> Vec<pb::ManifestSummary> {
    manifest_client(fed, "MEX", "MEX", "operator-officer")
        .list_manifests(pb::ListManifestsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .manifests
}

async fn manifest_entries(fed: &Federation) -> Vec<pb::AuditEntry> {
    let auditor = fed.country("MEX").identity("auditor-auditor");
    AuditClient::new(fed.channel("MEX", &auditor))
        .list_entries(pb::ListEntriesRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries
        .into_iter()
        .filter(|e| e.service == pb::Service::ManifestSubmit as i32)
        .collect()
}

fn assert_no_personal_data(entries: &[pb::AuditEntry]) {
    for e in entries {
        let text = format!("{} {} {} {}", e.actor, e.rule, e.reason, e.case_reference);
        for p in PERSONAL {
            assert!(
                !text.contains(p),
                "audit entry {} holds {p:?}: {text}",
                e.index
            );
        }
    }
}

/// The sum of MEX's own expected-arrival cells.
async fn expected_arrivals(fed: &Federation) -> u64 {
    let officer = fed.country("MEX").identity("operator-officer");
    let mut stream = pb::local_client::LocalClient::new(fed.channel("MEX", &officer))
        .list_cells(pb::ListCellsRequest {
            period: String::new(),
            reporting_countries: vec!["MEX".into()],
        })
        .await
        .unwrap()
        .into_inner();
    let mut total = 0;
    while let Some(page) = stream.message().await.unwrap() {
        for c in page.cells {
            let (k, v, _) = puente_stats::CellKey::from_proto(&c).unwrap();
            if k.event == pb::EncounterEvent::ExpectedArrival {
                if let puente_stats::Value::Count(n) = v {
                    total += n;
                }
            }
        }
    }
    total
}

/// Every file under `dir`, concatenated.
fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_bytes(&path));
        } else {
            out.extend(std::fs::read(&path).unwrap_or_default());
        }
    }
    out
}

#[tokio::test]
async fn a_carrier_submits_paxlst_and_bus_manifests_and_officers_see_who_is_known() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    import_rows(
        &fed,
        "MEX",
        &[
            // Known by document: the flight's first passenger.
            "K1,MARIA JOSE,PEREZ GOMEZ,1985-04-12,F,COL,passport,AB1234567,COL,2030-01-01,,,none,,,2026-03-01,MEX,entry,COL,",
            // Known by name and date of birth, no document: the bus's second passenger.
            "K2,Rose,Jean-Baptiste,1995,F,HTI,,,,,,,none,,,2026-05-01,Tapachula,detection,GTM,",
        ],
    );
    let airline = issue(&fed, "MEX", Role::Carrier, "avianca");
    let bus = issue(&fed, "MEX", Role::Carrier, "tfs");
    let mex = fed.start("MEX").await;

    let flight = manifest_client(&fed, "MEX", "MEX", &airline)
        .submit(submit(FLIGHT, pb::ManifestFormat::Paxlst))
        .await
        .unwrap()
        .into_inner();
    let s = flight.summary.clone().unwrap();
    assert_eq!((s.trip.as_str(), s.passengers), ("AV242", 3));
    assert_eq!(s.submitted_by, "urn:puente:MEX:carrier:avianca");
    assert_eq!(s.entry_point, "MEX");
    assert_eq!(s.arrival, "2026-12-03T16:45");

    let mut bus_client = manifest_client(&fed, "MEX", "MEX", &bus);
    let json = bus_client
        .submit(submit(BUS_JSON, pb::ManifestFormat::BusJson))
        .await
        .unwrap()
        .into_inner();
    let js = json.summary.unwrap();
    assert_eq!(
        js.entry_point, "Ciudad Hidalgo",
        "the border crossing into MEX"
    );
    let crossings: Vec<&str> = js
        .route
        .iter()
        .filter(|r| r.border_crossing)
        .map(|r| r.place.as_str())
        .collect();
    assert_eq!(crossings, ["Ciudad Hidalgo"]);
    // CSV with the format left for the node to guess.
    let csv = bus_client
        .submit(submit(BUS_CSV, pb::ManifestFormat::Unspecified))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        csv.summary.unwrap().format,
        pb::ManifestFormat::BusCsv as i32
    );

    // Officers list them, newest first, and filter by carrier.
    let all = list(&fed).await;
    assert_eq!(
        all.iter().map(|m| m.trip.as_str()).collect::<Vec<_>>(),
        ["TFS-0413", "TFS-0412", "AV242"]
    );
    let only = manifest_client(&fed, "MEX", "MEX", "operator-officer")
        .list_manifests(pb::ListManifestsRequest {
            carrier: "avianca".into(),
            max_results: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .manifests;
    assert_eq!(only.len(), 1);

    // The officer's view of the flight: the first passenger is known by document.
    let mut officer = manifest_client(&fed, "MEX", "MEX", "operator-officer");
    let view = officer
        .get_manifest(pb::GetManifestRequest {
            manifest_id: flight.manifest_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.passengers.len(), 3);
    let first = &view.passengers[0];
    assert_eq!(first.document_number, "AB1234567");
    assert_eq!(first.known.len(), 1, "{:?}", first.known);
    assert_eq!(first.known[0].record_id, "K1");
    assert_eq!(first.known[0].matched_by, "document");
    assert!(view.passengers[1].known.is_empty());
    assert!(view.passengers[2].known.is_empty());
    // The bus: the second passenger is known by name.
    let bus_view = officer
        .get_manifest(pb::GetManifestRequest {
            manifest_id: json.manifest_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let rose = &bus_view.passengers[1];
    assert_eq!(rose.known.len(), 1, "{:?}", rose.known);
    assert_eq!(
        (
            rose.known[0].record_id.as_str(),
            rose.known[0].matched_by.as_str()
        ),
        ("K2", "name")
    );
    assert!(bus_view.passengers[0].known.is_empty());

    // Carriers submit; they do not read.
    let e = bus_client
        .list_manifests(pb::ListManifestsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        e.message()
            .starts_with("role.manifest_read_requires_own_operator"),
        "{}",
        e.message()
    );
    let e = bus_client
        .get_manifest(pb::GetManifestRequest {
            manifest_id: flight.manifest_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    // … and a carrier certificate opens no other service.
    let e =
        pb::local_client::LocalClient::new(fed.channel("MEX", &fed.country("MEX").identity(&bus)))
            .list_peers(pb::ListPeersRequest::default())
            .await
            .unwrap_err();
    assert!(
        e.message().starts_with("role.local_requires_own_operator"),
        "{}",
        e.message()
    );

    // Three audit entries, by the carriers, without personal data.
    let entries = manifest_entries(&fed).await;
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert!(entries.iter().all(|e| e.rule == "manifest.accepted"
        && e.decision == pb::Decision::Allowed as i32
        && e.peer_country == "MEX"));
    assert_eq!(entries[0].actor, "urn:puente:MEX:carrier:avianca");
    assert_eq!(entries[0].index, flight.audit_entry);
    assert_no_personal_data(&entries);

    // Sealed at rest: no passenger's name or number in the node's files.
    let data_dir = mex.data_dir.clone();
    mex.stop().await;
    let bytes = all_bytes(&data_dir);
    let id = flight.manifest_id.as_bytes();
    assert!(
        bytes.windows(id.len()).any(|w| w == id),
        "the scan reads the store (the manifest's id is a key there)"
    );
    for p in PERSONAL {
        assert!(
            !bytes.windows(p.len()).any(|w| w == p.as_bytes()),
            "{p:?} lies unsealed in the data directory"
        );
    }
}

#[tokio::test]
async fn carriers_and_operators_of_another_country_are_refused_and_nothing_is_stored() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let foreign_carrier = issue(&fed, "GTM", Role::Carrier, "litegua");
    let mex = fed.start("MEX").await;
    for (stem, who) in [
        (foreign_carrier.as_str(), "GTM carrier"),
        ("operator-officer", "GTM operator"),
    ] {
        let e = manifest_client(&fed, "MEX", "GTM", stem)
            .submit(submit(BUS_JSON, pb::ManifestFormat::BusJson))
            .await
            .expect_err(who);
        assert_eq!(e.code(), Code::PermissionDenied, "{who}");
        assert!(
            e.message()
                .starts_with("role.manifest_requires_own_carrier"),
            "{who}: {}",
            e.message()
        );
    }
    // Neither MEX's auditor nor GTM's node may submit.
    for (from, stem) in [("MEX", "auditor-auditor"), ("GTM", "node-gtm-1")] {
        let e = manifest_client(&fed, "MEX", from, stem)
            .submit(submit(BUS_JSON, pb::ManifestFormat::BusJson))
            .await
            .expect_err(stem);
        assert!(
            e.message()
                .starts_with("role.manifest_requires_own_carrier"),
            "{}",
            e.message()
        );
    }
    mex.expect_refusal("role.manifest_requires_own_carrier")
        .await;
    assert!(list(&fed).await.is_empty());
    assert!(
        manifest_entries(&fed).await.is_empty(),
        "refused at the gate: no handler ran"
    );
}

#[tokio::test]
async fn malformed_edifact_is_refused_naming_the_place_and_nothing_is_stored() {
    let mut fed = Federation::new(&["MEX"]).await;
    let airline = issue(&fed, "MEX", Role::Carrier, "avianca");
    let _mex = fed.start("MEX").await;
    let mut client = manifest_client(&fed, "MEX", "MEX", &airline);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "wrong segment order",
            FLIGHT.replacen("NAT+2+IRL'\n", "", 1).replacen(
                "DOC+P+PA9988776'",
                "DOC+P+PA9988776'\nNAT+2+IRL'",
                1,
            ),
            "segment 24 (NAT), segment: wrong segment order",
        ),
        (
            "bad release character",
            FLIGHT.replacen("O?'BRIEN", "O?BRIEN", 1),
            "segment 20 (NAD), element 4: bad release character",
        ),
        (
            "truncated interchange",
            FLIGHT[..FLIGHT.len() / 2].to_string(),
            "truncated interchange",
        ),
        (
            "UNT count",
            FLIGHT.replacen("UNT+31+", "UNT+29+", 1),
            "segment 32 (UNT), element 1 (segment count): says 29 segments",
        ),
        (
            "UNZ count",
            FLIGHT.replacen("UNZ+1+", "UNZ+3+", 1),
            "segment 33 (UNZ), element 1 (interchange control count): says 3",
        ),
    ];
    for (what, text, expected) in &cases {
        let e = client
            .submit(submit(text, pb::ManifestFormat::Paxlst))
            .await
            .expect_err(what);
        assert_eq!(e.code(), Code::InvalidArgument, "{what}: {}", e.message());
        assert!(
            e.message().starts_with("manifest.invalid: ") && e.message().contains(expected),
            "{what}: {}",
            e.message()
        );
        assert!(
            e.message().ends_with("nothing was stored"),
            "{}",
            e.message()
        );
    }
    // A bus CSV row with a bad field names the row and the field.
    let bad = BUS_CSV.replacen(
        "Rose,Jean-Baptiste,1995,F,HTI",
        "Rose,Jean-Baptiste,1995,F,QQQ",
        1,
    );
    let e = client
        .submit(submit(&bad, pb::ManifestFormat::BusCsv))
        .await
        .unwrap_err();
    assert!(
        e.message().contains("row 3, field nationality"),
        "{}",
        e.message()
    );

    assert!(list(&fed).await.is_empty(), "nothing stored");
    let entries = manifest_entries(&fed).await;
    assert_eq!(
        entries.len(),
        cases.len() + 1,
        "each refusal is an audit entry"
    );
    assert!(entries
        .iter()
        .all(|e| e.rule == "manifest.invalid" && e.decision == pb::Decision::Refused as i32));
    assert!(
        entries[1].reason.contains("segment 20 (NAD), element 4"),
        "{}",
        entries[1].reason
    );
    assert_no_personal_data(&entries);
}

#[tokio::test]
async fn a_100000_passenger_manifest_is_refused_and_the_node_keeps_serving() {
    let mut fed = Federation::new(&["MEX"]).await;
    let airline = issue(&fed, "MEX", Role::Carrier, "avianca");
    let _mex = fed.start("MEX").await;
    let mut client = manifest_client(&fed, "MEX", "MEX", &airline);
    let huge = |n: usize| {
        let mut t = String::from(
            "UNB+UNOA:4+AV+MX+261203:0900+9'UNH+1+PAXLST:D:05B:UN:IATA'BGM+745'TDT+20+AV1'",
        );
        for _ in 0..n {
            t.push_str("NAD+FL+++UNO:ANA'ATT+2++F'DTM+329:19800101:102'NAT+2+PAN'");
        }
        t.push_str(&format!("UNT+{}+1'UNZ+1+9'", 4 * n + 4));
        t
    };
    // 100,000 passengers (over 5 MB): refused for its size before it is read.
    let e = client
        .submit(submit(&huge(100_000), pb::ManifestFormat::Paxlst))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{}", e.message());
    assert!(
        e.message().starts_with("manifest.too_large"),
        "{}",
        e.message()
    );
    // Small enough in bytes, one passenger too many: refused at that passenger's NAD.
    let over = puente_manifest::MAX_PASSENGERS + 1;
    let e = client
        .submit(submit(&huge(over), pb::ManifestFormat::Paxlst))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert!(
        e.message()
            .contains(&format!("segment {} (NAD)", 4 + 4 * (over - 1) + 1)),
        "{}",
        e.message()
    );
    // The node keeps serving: the next manifest is taken.
    let ok = client
        .submit(submit(FLIGHT, pb::ManifestFormat::Paxlst))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.summary.unwrap().passengers, 3);
    assert_eq!(list(&fed).await.len(), 1);
    let rules: Vec<String> = manifest_entries(&fed)
        .await
        .into_iter()
        .map(|e| e.rule)
        .collect();
    assert_eq!(
        rules,
        [
            "manifest.too_large",
            "manifest.too_large",
            "manifest.accepted"
        ]
    );
}

#[tokio::test]
async fn manifests_are_erased_after_their_retention_and_the_erasure_is_audited() {
    let mut fed = Federation::new(&["MEX"]).await;
    let airline = issue(&fed, "MEX", Role::Carrier, "avianca");
    let config = fed.country("MEX").config.clone();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[manifests]\nretention_days = 2\n");
    std::fs::write(&config, text).unwrap();
    let start = time::OffsetDateTime::now_utc();
    let clock = ManualClock::at(start);
    let _mex = fed.start_with_clock("MEX", clock.clock()).await;
    let submitted = manifest_client(&fed, "MEX", "MEX", &airline)
        .submit(submit(FLIGHT, pb::ManifestFormat::Paxlst))
        .await
        .unwrap()
        .into_inner();
    let erase_after = submitted.summary.unwrap().erase_after.unwrap();
    assert_eq!(
        erase_after.seconds,
        (start + time::Duration::days(2)).unix_timestamp()
    );

    // A day later it is still there, and its passengers are expected arrivals.
    clock.set(start + time::Duration::days(1));
    assert_eq!(list(&fed).await.len(), 1);
    assert_eq!(
        expected_arrivals(&fed).await,
        2 * 3,
        "3 passengers, day and month"
    );
    // Past its retention it is gone, for reading too, and the erasure is an entry.
    clock.set(start + time::Duration::days(2) + time::Duration::minutes(1));
    assert!(list(&fed).await.is_empty());
    let e = manifest_client(&fed, "MEX", "MEX", "operator-officer")
        .get_manifest(pb::GetManifestRequest {
            manifest_id: submitted.manifest_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let entries = manifest_entries(&fed).await;
    let erased: Vec<&pb::AuditEntry> = entries
        .iter()
        .filter(|e| e.rule == "manifest.retention_erased")
        .collect();
    assert_eq!(erased.len(), 1, "erased once: {entries:?}");
    assert!(erased[0].reason.contains(&submitted.manifest_id));
    assert_eq!(erased[0].actor, "urn:puente:MEX:node:mex-1");
    assert_eq!(
        expected_arrivals(&fed).await,
        0,
        "an erased manifest stops counting"
    );
    assert_no_personal_data(&entries);
}

#[tokio::test]
async fn a_retention_outside_1_to_3650_days_is_refused_naming_the_key() {
    let fed = Federation::new(&["MEX"]).await;
    let config = fed.country("MEX").config.clone();
    let base = std::fs::read_to_string(&config).unwrap();
    for bad in ["0", "3651"] {
        std::fs::write(
            &config,
            format!("{base}\n[manifests]\nretention_days = {bad}\n"),
        )
        .unwrap();
        let e = puente_node::NodeConfig::load(&config)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("manifests.retention_days: must be between 1 and 3650 days"),
            "{e}"
        );
    }
    std::fs::write(
        &config,
        format!("{base}\n[manifests]\nretention_days = 7\n"),
    )
    .unwrap();
    assert_eq!(
        puente_node::NodeConfig::load(&config)
            .unwrap()
            .config
            .manifests
            .retention_days,
        7
    );
}
