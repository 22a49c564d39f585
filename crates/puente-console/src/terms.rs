//! The Ask form's terms: which query they describe (document, MRZ, or name with birth
//! date, in exactly one way), and why a match matched, from the fields the peer
//! disclosed compared with the terms asked.

use puente_proto::v1 as pb;
use serde::Deserialize;

/// The Ask form's fields.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct AskForm {
    /// `PEER|purpose`.
    pub offer: String,
    /// Case reference.
    pub case: String,
    /// Document number.
    pub document: String,
    /// Issuing state.
    pub issuer: String,
    /// Document type word.
    pub doctype: String,
    /// MRZ line 1.
    pub mrz1: String,
    /// MRZ line 2.
    pub mrz2: String,
    /// Given names.
    pub given: String,
    /// Surnames.
    pub surnames: String,
    /// The whole name, split unknown.
    pub whole: String,
    /// Birth date.
    pub birth: String,
    /// Nationality.
    pub nationality: String,
}

/// A birth date `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (0 = unknown part).
pub fn partial_date(s: &str) -> Option<pb::PartialDate> {
    let parts: Vec<&str> = s.trim().split('-').collect();
    let num = |i: usize, len: usize| -> Option<u32> {
        match parts.get(i) {
            None => Some(0),
            Some(p) if p.len() == len && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok(),
            Some(_) => None,
        }
    };
    if parts.len() > 3 {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(1, 2)?, num(2, 2)?);
    let ok = year >= 1900 && month <= 12 && day <= 31 && (month > 0 || day == 0);
    ok.then_some(pb::PartialDate { year, month, day })
}

/// The query the form describes, or the message key of what is wrong.
pub fn identity_query(f: &AskForm) -> Result<pb::IdentityQuery, &'static str> {
    use pb::identity_query::Terms;
    let filled = |s: &str| !s.trim().is_empty();
    let kinds = [
        filled(&f.document),
        filled(&f.mrz1) || filled(&f.mrz2),
        filled(&f.given) || filled(&f.surnames) || filled(&f.whole),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err("ask.one.way");
    }
    if kinds[0] {
        let dt = pb::DocumentType::from_str_name(&format!(
            "DOCUMENT_TYPE_{}",
            f.doctype.trim().to_ascii_uppercase()
        ))
        .unwrap_or(pb::DocumentType::Passport);
        return Ok(pb::IdentityQuery {
            terms: Some(Terms::Document(pb::DocumentTerms {
                document_number: f.document.trim().to_string(),
                issuing_state: f.issuer.trim().to_ascii_uppercase(),
                document_type: dt as i32,
            })),
        });
    }
    if kinds[1] {
        return Ok(pb::IdentityQuery {
            terms: Some(Terms::Mrz(pb::MrzTerms {
                line1: f.mrz1.trim().to_string(),
                line2: f.mrz2.trim().to_string(),
            })),
        });
    }
    if !filled(&f.birth) {
        return Err("ask.need.birth");
    }
    let date = partial_date(&f.birth).ok_or("ask.bad.birth")?;
    let (given, surnames) = if filled(&f.whole) {
        (String::new(), f.whole.trim().to_string())
    } else {
        (f.given.trim().to_string(), f.surnames.trim().to_string())
    };
    Ok(pb::IdentityQuery {
        terms: Some(Terms::Name(pb::NameTerms {
            given_names: given,
            surnames,
            date_of_birth: Some(date),
            nationality: f.nationality.trim().to_ascii_uppercase(),
            sex: None,
        })),
    })
}

/// The words of a name as the matcher compares them: folded to upper-case ASCII the way
/// passports write them (Ñ → N, Ë → E, Ü → UE), so "Nunez" and "Ñúñez" agree.
fn tokens(s: &str) -> Vec<String> {
    let mut t: Vec<String> = puente_records::names::fold(s)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    t.sort();
    t
}

fn alike(asked: &str, got: &str) -> Option<bool> {
    let (a, g) = (tokens(asked), tokens(got));
    if a.is_empty() || g.is_empty() {
        return None;
    }
    if a == g {
        Some(true)
    } else if a.iter().any(|x| g.contains(x)) {
        Some(false)
    } else {
        None
    }
}

/// Why a match matched, as message keys, from the fields disclosed to us.
pub fn why(f: &AskForm, p: &pb::DisclosedPerson) -> Vec<&'static str> {
    let mut out = Vec::new();
    let doc = |n: &str, s: &str| {
        let norm = |x: &str| {
            x.chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
                .to_uppercase()
        };
        p.document_number.as_deref().map(norm) == Some(norm(n))
            && p.issuing_state
                .as_deref()
                .is_none_or(|i| i.eq_ignore_ascii_case(s.trim()))
    };
    if !f.document.trim().is_empty() && doc(&f.document, &f.issuer) {
        out.push("why.document");
    }
    if !f.mrz2.trim().is_empty() {
        let number: String = f.mrz2.chars().take(9).filter(|c| *c != '<').collect();
        let state: String = f
            .mrz2
            .chars()
            .skip(10)
            .take(3)
            .filter(|c| *c != '<')
            .collect();
        if doc(&number, &state) {
            out.push("why.document");
        }
    }
    let (asked_given, asked_sur) = if f.whole.trim().is_empty() {
        (f.given.clone(), f.surnames.clone())
    } else {
        (f.whole.clone(), f.whole.clone())
    };
    if let Some(s) = p.surnames.as_deref() {
        match alike(&asked_sur, s) {
            Some(true) => out.push("why.surnames"),
            Some(false) => out.push("why.surnames.near"),
            None => {}
        }
    }
    if let Some(g) = p.given_names.as_deref() {
        match alike(&asked_given, g) {
            Some(true) => out.push("why.given"),
            Some(false) => out.push("why.given.near"),
            None => {}
        }
    }
    if let (Some(asked), Some(got)) = (partial_date(&f.birth), p.date_of_birth.as_ref()) {
        if got.year != 0 && asked == *got {
            out.push("why.birth");
        } else if got.year == asked.year
            && (asked.month == 0 || got.month == 0 || asked.month == got.month)
        {
            out.push("why.birth.partial");
        }
    }
    if let Some(n) = p.nationality.as_deref() {
        if !f.nationality.trim().is_empty() && n.eq_ignore_ascii_case(f.nationality.trim()) {
            out.push("why.nationality");
        }
    }
    if out.is_empty() {
        out.push("why.undisclosed");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birth_dates_parse_at_their_precision() {
        assert_eq!(partial_date("1990-04-12").map(|d| d.day), Some(12));
        assert_eq!(
            partial_date("1990-04").map(|d| (d.month, d.day)),
            Some((4, 0))
        );
        assert_eq!(partial_date("1990").map(|d| d.month), Some(0));
        for bad in [
            "",
            "90",
            "1990-4",
            "1990-13",
            "abcd",
            "1990-04-12-1",
            "1990--12",
        ] {
            assert!(partial_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_form_says_who_in_exactly_one_way() {
        let mut f = AskForm::default();
        assert_eq!(identity_query(&f).unwrap_err(), "ask.one.way");
        f.document = "X1".into();
        f.surnames = "DIALLO".into();
        assert_eq!(identity_query(&f).unwrap_err(), "ask.one.way");
        f.document.clear();
        assert_eq!(identity_query(&f).unwrap_err(), "ask.need.birth");
        f.birth = "1994-3".into();
        assert_eq!(identity_query(&f).unwrap_err(), "ask.bad.birth");
        f.birth = "1994-03".into();
        assert!(identity_query(&f).is_ok());
    }

    #[test]
    fn why_names_what_agrees() {
        let f = AskForm {
            given: "Aminata".into(),
            surnames: "Diallo".into(),
            birth: "1994-03-02".into(),
            ..Default::default()
        };
        let p = pb::DisclosedPerson {
            given_names: Some("AMINATA".into()),
            surnames: Some("DIALLO BARRY".into()),
            date_of_birth: Some(pb::PartialDate {
                year: 1994,
                month: 3,
                day: 2,
            }),
            ..Default::default()
        };
        assert_eq!(why(&f, &p), ["why.surnames.near", "why.given", "why.birth"]);
        assert_eq!(
            why(&f, &pb::DisclosedPerson::default()),
            ["why.undisclosed"]
        );
    }

    #[test]
    fn why_reads_names_with_accents_as_passports_write_them() {
        let f = AskForm {
            given: "Zoe".into(),
            surnames: "Nunez".into(),
            birth: "1985-02-28".into(),
            ..Default::default()
        };
        let p = pb::DisclosedPerson {
            given_names: Some("Zoë".into()),
            surnames: Some("Ñúñez".into()),
            ..Default::default()
        };
        assert_eq!(why(&f, &p), ["why.surnames", "why.given"]);
    }
}
