//! PAXLST: the guidelines' shape parses; every malformation is refused naming its place.

use proptest::prelude::*;
use puente_records::model::{DocumentType, PartialDate, Sex};

use crate::{parse, Format, Manifest, ManifestError};

const FLIGHT: &str = include_str!("../testdata/flight.edi");

fn today() -> time::Date {
    time::macros::date!(2026 - 12 - 03)
}

fn paxlst(text: &str) -> Result<Manifest, ManifestError> {
    parse(text.as_bytes(), Format::Paxlst, today())
}

/// The segment (index, tag) and field a refusal names.
fn place(e: &ManifestError) -> (usize, String, String) {
    match e {
        ManifestError::Segment {
            index, tag, field, ..
        } => (*index, tag.clone(), field.clone()),
        other => panic!("expected a segment error, got {other}"),
    }
}

#[test]
fn the_sample_flight_parses_with_every_field() {
    let m = paxlst(FLIGHT).unwrap();
    assert_eq!(m.carrier, "AV");
    assert_eq!(m.trip, "AV242");
    assert_eq!(
        m.route.iter().map(|s| s.place.as_str()).collect::<Vec<_>>(),
        ["BOG", "MEX"]
    );
    assert_eq!(m.departure.unwrap().to_string(), "2026-12-03T12:30");
    assert_eq!(m.arrival.unwrap().to_string(), "2026-12-03T16:45");
    assert_eq!(m.entry_point("MEX"), Some("MEX"));
    assert_eq!(m.passengers.len(), 3);
    let p = &m.passengers[0];
    assert_eq!(
        (p.surnames.as_str(), p.given_names.as_str()),
        ("PEREZ GOMEZ", "MARIA JOSE")
    );
    assert_eq!(p.sex, Sex::F);
    assert_eq!(p.date_of_birth, PartialDate::parse("1985-04-12").unwrap());
    assert_eq!(p.nationality, "COL");
    let d = p.document.as_ref().unwrap();
    assert_eq!(d.document_type, DocumentType::Passport);
    assert_eq!(d.number, "AB1234567");
    assert_eq!(d.issuing_state, "COL");
    assert_eq!(d.expiry, PartialDate::parse("2030-01-01").ok());
    assert_eq!(p.embarkation.as_deref(), Some("BOG"));
    // The release character keeps the apostrophe inside the name.
    assert_eq!(m.passengers[1].surnames, "O'BRIEN");
    assert_eq!(m.passengers[1].date_of_birth.year, 1990);
    // Two-digit birth years are never in the future.
    assert_eq!(m.passengers[2].date_of_birth.year, 2002);
    assert!(m.passengers[2].document.is_none());
}

#[test]
fn without_una_the_default_delimiters_apply_and_line_breaks_are_ignored() {
    let text = FLIGHT.replacen("UNA:+.? '\n", "", 1).replace('\n', "\r\n");
    assert_eq!(paxlst(&text).unwrap(), paxlst(FLIGHT).unwrap());
}

#[test]
fn a_una_with_other_delimiters_is_honoured() {
    let text = FLIGHT
        .replacen("UNA:+.? '", "UNA;*.! ~", 1)
        .replace('\'', "~")
        .replace("O?~", "O'")
        .replace('+', "*")
        .replace(':', ";");
    let m = paxlst(&text).unwrap();
    assert_eq!(m.passengers[1].surnames, "O'BRIEN");
    assert_eq!(m.passengers.len(), 3);
}

#[test]
fn wrong_segment_order_names_the_segment() {
    // NAT before ATT inside a passenger's group.
    let text = FLIGHT.replacen(
        "ATT+2++F'\nDTM+329:850412'\nLOC+178+BOG'\nLOC+179+MEX'\nNAT+2+COL'",
        "NAT+2+COL'\nATT+2++F'\nDTM+329:850412'\nLOC+178+BOG'\nLOC+179+MEX'",
        1,
    );
    let e = paxlst(&text).unwrap_err();
    assert_eq!(place(&e), (12, "ATT".into(), "segment".into()), "{e}");
    assert!(e.to_string().contains("wrong segment order"), "{e}");
    // BGM before UNH.
    let text = FLIGHT.replacen(
        "UNH+PAX001+PAXLST:D:05B:UN:IATA'\nBGM+745'",
        "BGM+745'\nUNH+PAX001+PAXLST:D:05B:UN:IATA'",
        1,
    );
    let e = paxlst(&text).unwrap_err();
    assert_eq!(place(&e).0, 2);
    assert_eq!(place(&e).1, "BGM");
    // A passenger before the flight.
    let text = FLIGHT.replacen("TDT+20+AV242+++AV'", "", 1);
    let e = paxlst(&text).unwrap_err();
    assert!(e.to_string().contains("segment 5 (LOC)"), "{e}");
}

#[test]
fn a_bad_release_character_names_the_segment_and_element() {
    let text = FLIGHT.replacen("O?'BRIEN", "O?BRIEN", 1);
    let e = paxlst(&text).unwrap_err();
    let (index, tag, field) = place(&e);
    assert_eq!(
        (index, tag.as_str(), field.as_str()),
        (20, "NAD", "element 4"),
        "{e}"
    );
    assert!(e.to_string().contains("bad release character"), "{e}");
    // A release character at the very end.
    let e = paxlst("UNB+UNOA:4+X+Y+1:1+1'UNH+1?").unwrap_err();
    assert!(matches!(e, ManifestError::Truncated(_)), "{e}");
}

#[test]
fn a_truncated_interchange_is_refused() {
    for cut in [
        FLIGHT.len() / 3,
        FLIGHT.len() / 2,
        FLIGHT.len() - 20,
        FLIGHT.len() - 3,
    ] {
        let e = paxlst(&FLIGHT[..cut]).unwrap_err();
        assert!(
            matches!(e, ManifestError::Truncated(_)),
            "cut at {cut}: {e}"
        );
    }
    // Whole segments, but no UNZ.
    let text = FLIGHT.replacen("UNZ+1+000000042'\n", "", 1);
    let e = paxlst(&text).unwrap_err();
    assert!(e.to_string().contains("without its UNZ"), "{e}");
}

#[test]
fn counts_that_do_not_match_are_refused_naming_the_trailer() {
    let e = paxlst(&FLIGHT.replacen("UNT+31+", "UNT+30+", 1)).unwrap_err();
    assert_eq!(
        place(&e),
        (32, "UNT".into(), "element 1 (segment count)".into())
    );
    assert!(
        e.to_string()
            .contains("says 30 segments, the message (UNH to UNT) has 31"),
        "{e}"
    );
    let e = paxlst(&FLIGHT.replacen("UNZ+1+", "UNZ+2+", 1)).unwrap_err();
    assert_eq!(place(&e).1, "UNZ");
    let e = paxlst(&FLIGHT.replacen("UNZ+1+000000042", "UNZ+1+000000043", 1)).unwrap_err();
    assert_eq!(place(&e).2, "element 2 (interchange control reference)");
    let e = paxlst(&FLIGHT.replacen("UNT+31+PAX001", "UNT+31+PAX002", 1)).unwrap_err();
    assert_eq!(place(&e).2, "element 2 (message reference)");
    let e = paxlst(&FLIGHT.replacen("CNT+42:3", "CNT+42:4", 1)).unwrap_err();
    assert_eq!(place(&e).1, "CNT");
    let e = paxlst(&FLIGHT.replacen("UNT+31+", "UNT+x+", 1)).unwrap_err();
    assert!(e.to_string().contains("is not a count"), "{e}");
}

#[test]
fn field_errors_name_segment_and_field() {
    let e = paxlst(&FLIGHT.replacen("NAT+2+COL", "NAT+2+ZZZ", 1)).unwrap_err();
    assert_eq!(
        place(&e),
        (15, "NAT".into(), "element 2 (nationality)".into())
    );
    let e = paxlst(&FLIGHT.replacen("DTM+329:850412", "DTM+329:851312", 1)).unwrap_err();
    assert_eq!(place(&e).1, "DTM");
    let e = paxlst(&FLIGHT.replacen("ATT+2++F", "ATT+2++Q", 1)).unwrap_err();
    assert_eq!(place(&e).2, "element 3 (gender)");
    let e = paxlst(
        &FLIGHT
            .replacen("NAT+2+VEN'\n", "", 1)
            .replacen("UNT+31", "UNT+30", 1),
    )
    .unwrap_err();
    assert_eq!(
        place(&e),
        (27, "NAD".into(), "NAT+2 (nationality)".into()),
        "{e}"
    );
    let e = paxlst(&FLIGHT.replacen("BGM+745", "BGM+250", 1)).unwrap_err();
    assert!(e.to_string().contains("crew list"), "{e}");
    let e = paxlst(&FLIGHT.replacen("PAXLST:D", "CUSRES:D", 1)).unwrap_err();
    assert_eq!(place(&e).1, "UNH");
}

#[test]
fn two_messages_in_one_interchange_make_one_flight() {
    let msg1 = "UNH+M1+PAXLST:D:05B:UN:IATA'BGM+745'TDT+20+CM101+++CM'LOC+125+PTY'LOC+87+MEX'NAD+FL+++UNO:ANA'ATT+2++F'DTM+329:19800101:102'NAT+2+PAN'UNT+10+M1'";
    let msg2 = "UNH+M2+PAXLST:D:05B:UN:IATA'BGM+745'TDT+20+CM101+++CM'LOC+125+PTY'LOC+87+MEX'NAD+FL+++DOS:LUIS'ATT+2++M'DTM+329:19810101:102'NAT+2+PAN'UNT+10+M2'";
    let text = format!("UNB+UNOA:4+CM+MX+1:1+R1'{msg1}{msg2}UNZ+2+R1'");
    let m = paxlst(&text).unwrap();
    assert_eq!(m.passengers.len(), 2);
    assert_eq!(m.route.len(), 2);
    let e = paxlst(&text.replacen("UNZ+2", "UNZ+1", 1)).unwrap_err();
    assert!(e.to_string().contains("holds 2 messages"), "{e}");
    let other = text.replacen(
        "TDT+20+CM101+++CM'LOC+125+PTY'LOC+87+MEX'NAD+FL+++DOS",
        "TDT+20+CM999+++CM'LOC+125+PTY'LOC+87+MEX'NAD+FL+++DOS",
        1,
    );
    assert!(paxlst(&other)
        .unwrap_err()
        .to_string()
        .contains("one manifest is one flight"));
}

#[test]
fn a_manifest_past_the_passenger_limit_is_refused_at_the_first_one_too_many() {
    let mut text =
        String::from("UNB+UNOA:4+X+Y+1:1+1'UNH+1+PAXLST:D:05B:UN:IATA'BGM+745'TDT+20+X1'");
    for _ in 0..=crate::MAX_PASSENGERS {
        text.push_str("NAD+FL+++A:B'ATT+2++F'DTM+329:19800101:102'NAT+2+PAN'");
    }
    let e = paxlst(&text).unwrap_err();
    assert!(matches!(e, ManifestError::TooManyPassengers { .. }), "{e}");
    assert!(e.to_string().contains("(NAD)"), "{e}");
    let big = vec![b'A'; crate::MAX_BYTES + 1];
    assert!(matches!(
        parse(&big, Format::Paxlst, today()),
        Err(ManifestError::TooLarge { .. })
    ));
}

#[test]
fn what_the_writer_writes_parses_back() {
    let m = paxlst(FLIGHT).unwrap();
    let text = crate::write::paxlst(&m, "R77");
    let back = paxlst(&text).unwrap();
    assert_eq!(
        back.passengers,
        m.passengers
            .iter()
            .cloned()
            .map(|mut p| {
                p.embarkation = None;
                p.debarkation = None;
                p
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(back.trip, m.trip);
}

#[test]
fn sniffing_tells_the_formats_apart() {
    assert_eq!(Format::sniff(FLIGHT.as_bytes()), Format::Paxlst);
    assert_eq!(Format::sniff(b"UNB+UNOA"), Format::Paxlst);
    assert_eq!(Format::sniff(b"  {\"carrier\""), Format::BusJson);
    assert_eq!(Format::sniff(b"carrier,trip"), Format::BusCsv);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes never panic the parser, in any format.
    #[test]
    fn arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for f in [Format::Paxlst, Format::BusJson, Format::BusCsv] {
            let _ = parse(&bytes, f, today());
        }
    }

    /// Mutations of a real interchange never panic, and whatever parses holds at least
    /// one passenger with the checked fields.
    #[test]
    fn mutated_interchanges_never_panic(
        edits in proptest::collection::vec((0usize..2000, any::<char>()), 1..8),
        cut in 0usize..2000,
    ) {
        let mut chars: Vec<char> = FLIGHT.chars().collect();
        for (at, c) in edits {
            let i = at % chars.len();
            chars[i] = c;
        }
        let text: String = chars.into_iter().collect();
        let text = if cut < text.len() && text.is_char_boundary(cut) && cut % 3 == 0 {
            &text[..cut]
        } else {
            &text[..]
        };
        if let Ok(m) = paxlst(text) {
            prop_assert!(!m.passengers.is_empty());
            prop_assert!(m.passengers.len() <= crate::MAX_PASSENGERS);
        }
    }
}
