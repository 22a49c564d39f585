//! Bus manifests: JSON and CSV read alike; errors name the row or passenger and field.

use crate::{parse, Format, ManifestError};

const JSON: &str = include_str!("../testdata/bus.json");
const CSV: &str = include_str!("../testdata/bus.csv");

fn today() -> time::Date {
    time::macros::date!(2026 - 12 - 03)
}

fn field(e: &ManifestError) -> (String, String) {
    match e {
        ManifestError::Field { place, field, .. } => (place.clone(), field.clone()),
        other => panic!("expected a field error, got {other}"),
    }
}

#[test]
fn json_and_csv_give_the_same_trip() {
    let j = parse(JSON.as_bytes(), Format::BusJson, today()).unwrap();
    let c = parse(CSV.as_bytes(), Format::BusCsv, today()).unwrap();
    assert_eq!(j.passengers, c.passengers);
    assert_eq!(j.route, c.route);
    assert_eq!(j.carrier, "Transportes Fronterizos del Sur");
    let crossings: Vec<&str> = j.border_crossings().map(|s| s.place.as_str()).collect();
    assert_eq!(crossings, ["Ciudad Hidalgo"]);
    assert_eq!(j.entry_point("MEX"), Some("Ciudad Hidalgo"));
    assert_eq!(
        j.passengers[2].document.as_ref().unwrap().number,
        "A0F334211"
    );
    assert_eq!(j.passengers[1].date_of_birth.month, None);
}

#[test]
fn written_manifests_parse_back() {
    let j = parse(JSON.as_bytes(), Format::BusJson, today()).unwrap();
    let again = parse(
        crate::write::bus_json(&j).as_bytes(),
        Format::BusJson,
        today(),
    )
    .unwrap();
    assert_eq!(again, j);
    let csv = parse(
        crate::write::bus_csv(&j).as_bytes(),
        Format::BusCsv,
        today(),
    )
    .unwrap();
    assert_eq!(csv.passengers, j.passengers);
    assert_eq!(csv.route, j.route);
}

#[test]
fn csv_errors_name_the_row_and_field() {
    let bad = CSV.replacen(
        "Rose,Jean-Baptiste,1995,F,HTI",
        "Rose,Jean-Baptiste,1995,Q,HTI",
        1,
    );
    let e = parse(bad.as_bytes(), Format::BusCsv, today()).unwrap_err();
    assert_eq!(field(&e), ("row 3".into(), "sex".into()), "{e}");
    let bad = CSV.replacen(",,,,,Yusuf", ",TFS-9999,,,,Yusuf", 1);
    let e = parse(bad.as_bytes(), Format::BusCsv, today()).unwrap_err();
    assert_eq!(field(&e), ("row 4".into(), "trip".into()), "{e}");
    let bad = CSV.replacen("GTM:Ciudad de Guatemala > ", "Ciudad de Guatemala > ", 1);
    let e = parse(bad.as_bytes(), Format::BusCsv, today()).unwrap_err();
    assert_eq!(field(&e), ("row 2".into(), "route".into()), "{e}");
    let bad = CSV.replacen("passport,F1234567,HND", "passport,F1234567,XYZ", 1);
    let e = parse(bad.as_bytes(), Format::BusCsv, today()).unwrap_err();
    assert_eq!(field(&e), ("row 2".into(), "issuing_state".into()), "{e}");
    let bad = CSV.replacen("carrier,", "karrier,", 1);
    let e = parse(bad.as_bytes(), Format::BusCsv, today()).unwrap_err();
    assert_eq!(field(&e).0, "row 1");
}

#[test]
fn json_errors_name_the_passenger_and_field() {
    let bad = JSON.replacen("\"1979-11\"", "\"2031-11\"", 1);
    let e = parse(bad.as_bytes(), Format::BusJson, today()).unwrap_err();
    assert_eq!(
        field(&e),
        ("passengers[2]".into(), "date_of_birth".into()),
        "{e}"
    );
    let bad = JSON.replacen("\"surnames\": \"Okafor\"", "\"surname\": \"Okafor\"", 1);
    let e = parse(bad.as_bytes(), Format::BusJson, today()).unwrap_err();
    assert!(matches!(e, ManifestError::Format(_)), "{e}");
    let bad = JSON.replacen("\"2026-12-03T13:15\"", "\"2026-12-02T13:15\"", 1);
    let e = parse(bad.as_bytes(), Format::BusJson, today()).unwrap_err();
    assert_eq!(field(&e).1, "arrival");
}

#[test]
fn too_many_bus_passengers_are_refused() {
    let mut csv = String::from("carrier,trip,route,given_names,surnames,date_of_birth,sex,nationality\nX,T1,GTM:A > MEX:B,Ana,Uno,1990,F,GTM\n");
    for _ in 0..crate::MAX_PASSENGERS {
        csv.push_str(",,,Ana,Uno,1990,F,GTM\n");
    }
    let e = parse(csv.as_bytes(), Format::BusCsv, today()).unwrap_err();
    assert!(matches!(e, ManifestError::TooManyPassengers { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("row {}", crate::MAX_PASSENGERS + 2)),
        "{e}"
    );
}
