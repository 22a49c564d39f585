//! Expected-arrival cells (issue 21): the passengers of carriers' manifests count in
//! MEX's flow statistics (event `expected_arrival`, by nationality, sex, age group, entry
//! point and day), and reach GTM through the statistics sync suppressed like any cell.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use puente_e2e::Federation;
use puente_pki::Role;
use puente_proto::v1 as pb;

use super::manifests::{issue, manifest_client, submit, BUS_JSON};

/// A bus trip into MEX at Ciudad Hidalgo arriving on 2026-12-`day`: `women` Honduran
/// women of 30-44 and `boys` Honduran boys of 5-11.
fn bus_trip(day: u8, women: usize, boys: usize) -> String {
    let mut m = puente_manifest::parse(
        BUS_JSON.as_bytes(),
        puente_manifest::Format::BusJson,
        time::macros::date!(2026 - 12 - 03),
    )
    .unwrap();
    m.departure = Some(puente_manifest::LocalTime::new(2026, 12, day, Some((5, 0))).unwrap());
    m.arrival = Some(puente_manifest::LocalTime::new(2026, 12, day, Some((13, 0))).unwrap());
    let template = m.passengers[0].clone();
    m.passengers.clear();
    for i in 0..women + boys {
        let mut p = template.clone();
        p.given_names = format!("Ana {}", ["Uno", "Dos", "Tres", "Cuatro"][i % 4]);
        p.surnames = "Lopez".into();
        p.sex = puente_records::model::Sex::F;
        p.date_of_birth = puente_records::model::PartialDate::parse("1990-05-05").unwrap();
        if i >= women {
            p.sex = puente_records::model::Sex::M;
            p.date_of_birth = puente_records::model::PartialDate::parse("2018-01-01").unwrap();
        }
        p.document = None;
        m.passengers.push(p);
    }
    puente_manifest::write::bus_json(&m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expected_arrival_cells_are_counted_synced_and_suppressed_like_the_others() {
    use puente_e2e::{agreement_text, grant};
    use puente_stats::{CellKey, Suppression, Value};
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
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
                "small_cell_threshold = 5\nsecondary_suppression = true",
            )],
        ),
    );
    let bus = issue(&fed, "MEX", Role::Carrier, "tfs");
    let _mex = fed.start("MEX").await;
    let _gtm = fed.start("GTM").await;
    let mut client = manifest_client(&fed, "MEX", "MEX", &bus);
    for (day, women, boys) in [(3, 7, 2), (5, 2, 0)] {
        client
            .submit(submit(
                &bus_trip(day, women, boys),
                pb::ManifestFormat::BusJson,
            ))
            .await
            .unwrap();
    }

    // GTM syncs MEX's cells and lists the expected arrivals it received.
    let sync = |fed: &Federation| {
        let officer = fed.country("GTM").identity("operator-officer");
        let mut local = pb::local_client::LocalClient::new(fed.channel("GTM", &officer));
        async move {
            let r = local
                .sync_now(pb::SyncNowRequest {
                    peer_countries: vec!["MEX".into()],
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(r.results[0].outcome, pb::SyncOutcome::Ok as i32, "{r:?}");
            let mut stream = local
                .list_cells(pb::ListCellsRequest {
                    period: String::new(),
                    reporting_countries: vec!["MEX".into()],
                })
                .await
                .unwrap()
                .into_inner();
            let mut out: Vec<(CellKey, Value)> = Vec::new();
            while let Some(page) = stream.message().await.unwrap() {
                for c in page.cells {
                    let (k, v, _) = CellKey::from_proto(&c).unwrap();
                    if k.event == pb::EncounterEvent::ExpectedArrival {
                        out.push((k, v));
                    }
                }
            }
            out
        }
    };
    let find = |cells: &[(CellKey, Value)], period: &str, sex: pb::Sex| {
        cells
            .iter()
            .find(|(k, _)| k.period.to_string() == period && k.sex == sex)
            .map(|(k, v)| (k.clone(), *v))
            .unwrap_or_else(|| panic!("a cell {period} {sex:?} in {cells:?}"))
    };
    let cells = sync(&fed).await;
    let (women, count) = find(&cells, "2026-12-03", pb::Sex::Female);
    assert_eq!(count, Value::Count(7));
    assert_eq!(women.nationality, "HND");
    assert_eq!(women.entry_point, "Ciudad Hidalgo");
    assert_eq!(women.age, pb::AgeGroup::Age3044);
    // Small cells are withheld, and the month of a small day as secondary.
    assert_eq!(
        find(&cells, "2026-12-05", pb::Sex::Female).1,
        Value::Suppressed(Suppression::Primary)
    );
    assert_eq!(
        find(&cells, "2026-12", pb::Sex::Female).1,
        Value::Suppressed(Suppression::Secondary)
    );
    assert_eq!(
        find(&cells, "2026-12-03", pb::Sex::Male).1,
        Value::Suppressed(Suppression::Primary)
    );
    assert_eq!(
        find(&cells, "2026-12-03", pb::Sex::Male).0.age,
        pb::AgeGroup::Age511
    );

    // Another bus on the 5th: its cells grow past the threshold and are disclosed.
    client
        .submit(submit(&bus_trip(5, 3, 0), pb::ManifestFormat::BusJson))
        .await
        .unwrap();
    let cells = sync(&fed).await;
    assert_eq!(
        find(&cells, "2026-12-05", pb::Sex::Female).1,
        Value::Count(5)
    );
    assert_eq!(find(&cells, "2026-12", pb::Sex::Female).1, Value::Count(12));
}
