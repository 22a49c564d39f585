//! Principle 4 in the flow counts: the statistics a country pulls from a node holding
//! persons protected against it are the ones it would pull from a node that never held
//! them (counts, which cells exist, suppression, order), while a country they are not
//! protected against still sees them counted.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use puente_e2e::{agreement_text, grant, Federation, TestNode};
use puente_proto::v1 as pb;
use puente_proto::v1::exchange_client::ExchangeClient;
use puente_stats::{CellKey, Period, Suppression, Value};

const COLUMNS: &str = "record_id,given_names,surnames,date_of_birth,sex,nationality,document_type,document_number,issuing_state,document_expiry,mrz_line1,mrz_line2,protection_status,protected_against,vulnerabilities,encounter_date,encounter_place,encounter_event,previous_country,passport_copy";

fn row(id: &str, status: &str, against: &str, date: &str) -> String {
    format!("{id},ANA,LOPEZ,1990-01-01,F,GTM,passport,GT{id}000,GTM,2030-01-01,,,{status},{against},,{date},MEX-TAP,entry,GTM,")
}

/// Guatemalans entering at MEX-TAP: P1 (asylum seeker) shares her day and month with
/// others; P2 (refugee) is alone in her month; P3 is protected against CRI only.
fn rows(with_protected: bool) -> Vec<String> {
    let mut v = vec![
        row("R1", "none", "", "2026-03-01"),
        row("R2", "none", "", "2026-03-01"),
        row("R3", "none", "", "2026-03-02"),
        row("R4", "none", "", "2026-03-03"),
        row("R5", "none", "", "2026-03-03"),
        row("P3", "none", "CRI", "2026-03-03"),
    ];
    if with_protected {
        v.push(row("P1", "asylum_seeker", "", "2026-03-02"));
        v.push(row("P2", "refugee", "", "2026-04-05"));
    }
    v
}

/// MEX grants GTM and CRI flow counts (threshold 2, secondary suppression), holds
/// `rows`, and runs.
async fn mex_holding(rows: &[String]) -> (Federation, TestNode) {
    let mut fed = Federation::new(&["MEX", "GTM", "CRI"]).await;
    for (peer, id) in [("GTM", "MEX-GTM-S"), ("CRI", "MEX-CRI-S")] {
        fed.agree(
            "MEX",
            peer,
            &format!("mex-{}.toml", peer.to_lowercase()),
            &agreement_text(
                id,
                ["MEX", peer],
                "2026-01-01",
                "2027-12-31",
                &[grant(
                    "MEX",
                    peer,
                    &["flow_counts"],
                    &["statistics"],
                    &[],
                    "small_cell_threshold = 2\nsecondary_suppression = true",
                )],
            ),
        );
    }
    let csv = fed.temp.path().join("persons.csv");
    std::fs::write(&csv, format!("{COLUMNS}\n{}\n", rows.join("\n"))).unwrap();
    {
        let (_store, records) = puente::records::open(&fed.country("MEX").config).unwrap();
        let today = time::OffsetDateTime::now_utc().date();
        puente_records::import::import(&records, &csv, today, &mut |_, _| {}).unwrap();
        records.flush().unwrap();
    }
    let node = fed.start("MEX").await;
    (fed, node)
}

/// Everything `country`'s node pulls from MEX, page by page, in the order received:
/// each cell with its value (versions aside).
async fn pull(fed: &Federation, country: &str) -> Vec<(CellKey, Value)> {
    let me = fed
        .country(country)
        .identity(&format!("node-{}-1", country.to_lowercase()));
    let mut client = ExchangeClient::new(fed.channel("MEX", &me));
    let mut out = Vec::new();
    let mut watermark = Vec::new();
    loop {
        let page = client
            .pull_statistics(pb::PullStatisticsRequest {
                context: Some(pb::RequestContext {
                    purpose: pb::Purpose::Statistics as i32,
                    case_reference: "statistics-sync".into(),
                    operator_id: "node".into(),
                    request_id: format!("{}", out.len()),
                    ..Default::default()
                }),
                since_watermark: watermark,
                page_size: 3,
            })
            .await
            .unwrap()
            .into_inner();
        for c in &page.cells {
            let (k, v, _) = CellKey::from_proto(c).unwrap();
            out.push((k, v));
        }
        watermark = page.next_watermark;
        if !page.has_more {
            return out;
        }
    }
}

fn april(cells: &[(CellKey, Value)]) -> Vec<&(CellKey, Value)> {
    let april = Period::month(2026, 4).unwrap();
    cells
        .iter()
        .filter(|(k, _)| k.period.month_of() == april)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_country_pulls_the_statistics_it_would_pull_without_the_persons_protected_against_it() {
    let (with_fed, _with) = mex_holding(&rows(true)).await;
    let (without_fed, _without) = mex_holding(&rows(false)).await;

    // GTM, the country P1 and P2 fled: exactly the cells of a MEX without them.
    let gtm = pull(&with_fed, "GTM").await;
    let gtm_without = pull(&without_fed, "GTM").await;
    assert_eq!(gtm, gtm_without);
    // Not even an empty or suppressed cell for the month only P2 filled.
    assert!(april(&gtm).is_empty(), "{:?}", april(&gtm));

    // CRI sees P1 and P2 counted (and not P3, protected against CRI).
    let cri = pull(&with_fed, "CRI").await;
    let cri_without = pull(&without_fed, "CRI").await;
    assert_ne!(cri, cri_without);
    let cri_april = april(&cri);
    assert_eq!(cri_april.len(), 2, "{cri_april:?}");
    assert!(cri_april
        .iter()
        .all(|(_, v)| *v == Value::Suppressed(Suppression::Primary)));
    let march = |cells: &[(CellKey, Value)]| {
        cells
            .iter()
            .find(|(k, _)| k.period == Period::month(2026, 3).unwrap())
            .map(|(_, v)| *v)
    };
    // March: R1..R5 and P3 for GTM (6, a month with a small day: withheld); for CRI, R1..R5,
    // P1 (6, no small day: disclosed).
    assert_eq!(
        march(&gtm),
        Some(Value::Suppressed(Suppression::Secondary)),
        "{gtm:?}"
    );
    assert_eq!(march(&cri), Some(Value::Count(6)), "{cri:?}");
}
