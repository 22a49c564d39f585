#![allow(clippy::unwrap_used, clippy::expect_used)]

use puente_proto::v1 as pb;
use puente_stats::{CellKey, Period};

use crate::alert::{sign, validate, verify, AlertError};
use crate::detect::{detect, is_surge, Config};
use crate::store::{AlertStore, Received, StoreError};

/// A change made to an alert after signing.
type Alter = Box<dyn Fn(&mut pb::Alert)>;

fn key() -> (tempfile::TempDir, puente_pki::SigningKey) {
    let d = tempfile::tempdir().unwrap();
    let k = puente_pki::SigningKey::generate("mex-2026", &d.path().join("k")).unwrap();
    (d, k)
}

fn alert() -> pb::Alert {
    pb::Alert {
        alert_id: "mex-0001".into(),
        issuing_country: "MEX".into(),
        severity: pb::Severity::Warning as i32,
        text: "Arrivals of Haitian nationals at Tapachula quadrupled this week.".into(),
        nationalities: vec!["HTI".into()],
        entry_points: vec!["Tapachula".into()],
        route_countries: vec!["GTM".into(), "MEX".into()],
        period: Some(Period::parse("2026-11").unwrap().to_proto()),
        observed_count: 480,
        baseline_count: 120,
        issued_at: Some(prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 0,
        }),
        expires_at: Some(prost_types::Timestamp {
            seconds: 1_801_000_000,
            nanos: 0,
        }),
        key_name: String::new(),
        signature: vec![],
    }
}

#[test]
fn a_signed_alert_verifies_and_any_change_breaks_it() {
    let (_d, k) = key();
    let mut a = alert();
    sign(&mut a, &k);
    verify(&a, &k.verifying_key()).unwrap();
    let alterations: Vec<Alter> = vec![
        Box::new(|a| a.text.push('!')),
        Box::new(|a| a.severity = pb::Severity::Critical as i32),
        Box::new(|a| a.observed_count += 1),
        Box::new(|a| a.nationalities.push("VEN".into())),
        Box::new(|a| a.entry_points[0] = "Tenosique".into()),
        Box::new(|a| a.route_countries.reverse()),
        Box::new(|a| a.expires_at.as_mut().unwrap().seconds += 1),
        Box::new(|a| a.period = Some(Period::parse("2026-10").unwrap().to_proto())),
        Box::new(|a| a.alert_id = "mex-0002".into()),
        Box::new(|a| a.signature[5] ^= 1),
    ];
    for (i, alter) in alterations.iter().enumerate() {
        let mut b = a.clone();
        alter(&mut b);
        let e = verify(&b, &k.verifying_key()).unwrap_err();
        assert!(matches!(e, AlertError::Signature(_)), "alteration {i}: {e}");
    }
    // Another country's key does not verify it.
    let (_d2, other) = key();
    assert!(verify(&a, &other.verifying_key()).is_err());
}

#[test]
fn malformed_alerts_are_refused_naming_the_field() {
    let (_d, k) = key();
    let cases: Vec<(&str, Alter)> = vec![
        ("alert_id", Box::new(|a| a.alert_id = "has space".into())),
        (
            "issuing_country",
            Box::new(|a| a.issuing_country = "XXA".into()),
        ),
        ("severity", Box::new(|a| a.severity = 0)),
        ("text", Box::new(|a| a.text = "x".repeat(4097))),
        ("control", Box::new(|a| a.text = "bell\u{7}".into())),
        (
            "nationalities",
            Box::new(|a| a.nationalities = vec!["hti".into()]),
        ),
        (
            "route_countries",
            Box::new(|a| a.route_countries = vec!["ZZZ".into()]),
        ),
        ("expires_at", Box::new(|a| a.expires_at = a.issued_at)),
        ("issued_at", Box::new(|a| a.issued_at = None)),
    ];
    for (field, alter) in cases {
        let mut a = alert();
        alter(&mut a);
        sign(&mut a, &k);
        let e = validate(&a).unwrap_err().to_string();
        assert!(e.contains(field), "{field}: {e}");
    }
}

#[test]
fn receiving_twice_is_a_duplicate_and_a_different_alert_under_the_same_id_is_refused() {
    let (_d, k) = key();
    let dir = tempfile::tempdir().unwrap();
    let s = AlertStore::open(&sled::open(dir.path().join("db")).unwrap()).unwrap();
    let mut a = alert();
    sign(&mut a, &k);
    let now = prost_types::Timestamp {
        seconds: 1_800_000_100,
        nanos: 0,
    };
    assert_eq!(s.receive(&a, now).unwrap(), Received::New);
    assert_eq!(s.receive(&a, now).unwrap(), Received::Duplicate);
    let mut b = a.clone();
    b.text = "something else".into();
    sign(&mut b, &k);
    assert!(matches!(s.receive(&b, now), Err(StoreError::Conflict(_))));
    assert_eq!(s.all_received().unwrap().len(), 1);
}

fn day_cells(series: &[(i64, u64)], end: time::Date) -> Vec<(CellKey, u64)> {
    series
        .iter()
        .map(|(back, n)| {
            let d = end - time::Duration::days(*back);
            let k = CellKey::new(
                Period::day(d.year(), d.month() as u8, d.day()).unwrap(),
                "HTI",
                pb::Sex::Female,
                pb::AgeGroup::Age1829,
                "Tapachula",
                pb::EncounterEvent::Entry,
            )
            .unwrap();
            (k, *n)
        })
        .collect()
}

/// A deterministic noisy daily series around `mean` (Poisson-like spread).
fn noisy(days: i64, mean: u64, seed: u64) -> Vec<(i64, u64)> {
    let mut x = seed;
    (0..days)
        .map(|back| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let spread = (mean as f64).sqrt() * 2.0;
            let r = ((x >> 33) as f64 / (1u64 << 31) as f64) * 2.0 - 1.0;
            (back, (mean as f64 + r * spread).max(0.0).round() as u64)
        })
        .collect()
}

#[test]
fn a_surge_fires_and_normal_variation_does_not() {
    let end = time::macros::date!(2026 - 11 - 27);
    let cfg = Config::default();
    // Normal variation: 60 seeded series over 9 weeks never fire.
    for seed in 0..60 {
        let cells = day_cells(&noisy(63, 12, seed), end);
        let found = detect(cells.iter().map(|(k, n)| (k, *n)), end, &cfg);
        assert!(found.is_empty(), "seed {seed}: {found:?}");
    }
    // A surge: the last 7 days at four times the usual level.
    let mut series = noisy(63, 12, 7);
    for (back, n) in series.iter_mut() {
        if *back < 7 {
            *n *= 4;
        }
    }
    let cells = day_cells(&series, end);
    let found = detect(cells.iter().map(|(k, n)| (k, *n)), end, &cfg);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].observed > 250 && found[0].baseline < 100.0,
        "{found:?}"
    );
    // Too small to matter: a tiny group tripling is not an alert.
    assert!(is_surge(&[9, 3, 3, 3, 3, 3, 3, 3, 3], &cfg).is_none());
    // A new flow where there was none, large enough, is.
    assert!(is_surge(&[40, 0, 0, 0, 0, 0, 0, 0, 0], &cfg).is_some());
}

proptest::proptest! {
    /// Stable series (each week within ±25 % of the same level) never fire at the
    /// default ratio of 2.
    #[test]
    fn stable_series_never_fire(level in 30u64..5000, wiggle in proptest::collection::vec(-25i64..=25, 9)) {
        let series: Vec<u64> = wiggle.iter().map(|w| (level as i64 * (100 + w) / 100) as u64).collect();
        proptest::prop_assert!(is_surge(&series, &Config::default()).is_none());
    }
}

#[test]
fn invisible_formatting_a_life_over_a_year_and_impossible_counts_are_refused() {
    let (_d, k) = key();
    let ok = {
        let mut a = alert();
        sign(&mut a, &k);
        a
    };
    validate(&ok).unwrap();
    let alters: Vec<(Alter, &str)> = vec![
        (
            Box::new(|a| a.text = "Arrivals \u{202E}flesym\u{202C} at Tapachula".into()),
            "U+202E",
        ),
        (Box::new(|a| a.text = "Tapa\u{200B}chula".into()), "U+200B"),
        (
            Box::new(|a| {
                a.expires_at = Some(prost_types::Timestamp {
                    seconds: 253_402_300_799,
                    nanos: 0,
                })
            }),
            "8760 hours",
        ),
        (Box::new(|a| a.observed_count = u64::MAX), "observed_count"),
    ];
    for (alter, says) in alters {
        let mut a = ok.clone();
        alter(&mut a);
        let e = validate(&a).unwrap_err().to_string();
        assert!(e.contains(says), "{says}: {e}");
    }
}
