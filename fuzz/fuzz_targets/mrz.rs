//! The ICAO 9303 TD3 parser, the builder and the name transliteration.
//!
//! Input: text; line 1 and line 2 are an MRZ for `parse_td3`; line 3, split at `|`, is
//! the builder's ten arguments. Properties: nothing panics; a parsed MRZ rebuilt from
//! its fields parses to the same fields; a built MRZ is two 44-character lines that
//! parse back; `mrz_name` only writes `A-Z` and `<`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use puente_records::mrz::{build_td3, check_digit, mrz_name, parse_td3, MrzDate, Td3};

fn date(s: &str) -> MrzDate {
    let d: Vec<u8> = s
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .chain(std::iter::repeat(0))
        .take(6)
        .collect();
    MrzDate {
        yy: d[0] * 10 + d[1],
        mm: d[2] * 10 + d[3],
        dd: d[4] * 10 + d[5],
    }
}

fn rebuild(t: &Td3) -> (String, String) {
    build_td3(
        &t.document_code,
        &t.issuing_state,
        &t.surnames,
        &t.given_names,
        &t.document_number,
        &t.nationality,
        t.birth_date,
        t.sex,
        t.expiry_date,
        &t.personal_number,
    )
    .unwrap_or_else(|e| panic!("a parsed MRZ does not rebuild: {e}; {t:?}"))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let l1 = lines.next().unwrap_or("");
    let l2 = lines.next().unwrap_or("");
    let l3 = lines.next().unwrap_or("");

    let _ = check_digit(l1);
    for s in [l1, l2, l3] {
        let name = mrz_name(s);
        assert!(
            name.chars().all(|c| c.is_ascii_uppercase() || c == '<'),
            "mrz_name({s:?}) = {name:?}"
        );
    }

    match parse_td3(l1, l2) {
        Ok(t) => {
            let _ = t.birth_date.to_string();
            let (r1, r2) = rebuild(&t);
            let again = parse_td3(&r1, &r2).unwrap_or_else(|e| panic!("rebuilt MRZ fails: {e}"));
            assert_eq!(again, t, "parse → build → parse changed the fields");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }

    let f: Vec<&str> = l3.split('|').collect();
    if f.len() >= 10 {
        let sex = f[7].chars().next();
        if let Ok((b1, b2)) = build_td3(
            f[0],
            f[1],
            f[2],
            f[3],
            f[4],
            f[5],
            date(f[6]),
            sex,
            date(f[8]),
            f[9],
        ) {
            assert_eq!(b1.len(), 44, "line 1 {b1:?}");
            assert_eq!(b2.len(), 44, "line 2 {b2:?}");
            let t = parse_td3(&b1, &b2)
                .unwrap_or_else(|e| panic!("a built MRZ does not parse: {e}: {b1} {b2}"));
            assert_eq!(t.birth_date, date(f[6]));
            assert_eq!(t.expiry_date, date(f[8]));
        }
    }
});
