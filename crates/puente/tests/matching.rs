//! Name matching as an officer meets it, through the `puente` binary: one country set up
//! offline, a small register imported with `puente records import`, and
//! `puente records search … --output json` asked the ways people really write names and
//! dates (day and month swapped, 1 January for "year only", `1984-00-00`, a year off by
//! one, Haitian Creole and Wade-Giles spellings, compounds split or joined, `MD`, a
//! dropped particle). Each answer must hold the right person and say why; near-namesakes
//! must stay out, and hostile input gets a clear error, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;
use common::{p, puente, text};

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The register: the persons the queries look for, their near-namesakes (same surname
/// and date, another given name; same name, another day; another person born on the
/// swapped date), and strangers around them.
const PERSONS: &[(&str, &str, &str, &str, &str, &str)] = &[
    // id, given names, surnames, date of birth, sex, nationality
    ("HTI-1", "JEAN BAPTISTE", "LOUIS", "1984-06-30", "M", "HTI"),
    ("HTI-2", "MARIE", "LOUIS", "1984-06-30", "F", "HTI"),
    ("HTI-3", "PIERRE", "JOSEPH", "1975-03-08", "M", "HTI"),
    ("HTI-4", "JEAN", "PIERRE", "1980-03-14", "M", "HTI"),
    ("CHN-1", "XIULAN", "XIE", "1979-11-03", "F", "CHN"),
    ("CHN-2", "XIUYING", "XIE", "1979-11-03", "F", "CHN"),
    ("CHN-3", "GUI YING", "ZHOU", "1982-04-15", "F", "CHN"),
    ("CHN-4", "WEI", "DONG", "1988-07-21", "M", "CHN"),
    ("BGD-1", "HABIBULLAH", "CHOWDHURY", "1990-01-12", "M", "BGD"),
    ("BGD-2", "SHAHIDA", "CHOWDHURY", "1990-12-01", "F", "BGD"),
    ("BGD-3", "KAMAL", "HOSSAIN", "1990-12-01", "M", "BGD"),
    (
        "BGD-4",
        "MUHAMMAD RAFIQUL",
        "ISLAM",
        "1987-09-14",
        "M",
        "BGD",
    ),
    (
        "BGD-5",
        "MUHAMMAD RAFIQUL",
        "ISLAM",
        "1987-09-25",
        "M",
        "BGD",
    ),
    ("ERI-1", "TESFAY", "GEBREMEDHIN", "1993-02-17", "M", "ERI"),
    ("ERI-2", "SEMERE", "TESFAY", "1996-07-20", "M", "ERI"),
    ("VEN-1", "MARIA", "DEL VALLE", "1992-10-05", "F", "VEN"),
    ("VEN-2", "MARIA JOSE", "RODRIGUEZ", "1986-01-01", "F", "VEN"),
    ("VEN-3", "CARLOS", "MENDOZA", "1986-07-19", "M", "VEN"),
    ("COL-1", "ANDRES FELIPE", "GOMEZ", "1995-08-23", "M", "COL"),
    (
        "GTM-1",
        "JOSE LUIS",
        "PEREZ GARCIA",
        "1988-05-05",
        "M",
        "GTM",
    ),
    (
        "HND-1",
        "KEVIN ALEXANDER",
        "MEJIA",
        "2001-02-11",
        "M",
        "HND",
    ),
    (
        "SLV-1",
        "ANA GABRIELA",
        "HERNANDEZ",
        "1998-12-30",
        "F",
        "SLV",
    ),
    ("AFG-1", "AHMAD", "RAHIMI", "1985-03-21", "M", "AFG"),
    ("SYR-1", "OMAR", "AL HASSAN", "1983-06-02", "M", "SYR"),
    ("UKR-1", "OLENA", "KOVALENKO", "1989-05-12", "F", "UKR"),
    ("CUB-1", "YUNIOR", "PEREZ", "1994-04-04", "M", "CUB"),
    ("NGA-1", "CHIDI", "OKAFOR", "1991-09-09", "M", "NGA"),
    ("SOM-1", "FARAH", "MOHAMED ALI", "1997-01-20", "M", "SOM"),
    ("IND-1", "PRIYA", "SHARMA", "1993-02-28", "F", "IND"),
    ("ECU-1", "LUIS", "QUISPE", "1999-10-10", "M", "ECU"),
];

/// A country initialised offline (port 0 everywhere, nothing served) whose register holds
/// [`PERSONS`]. Each test has its own: sled lets one process hold a store at a time.
struct Country {
    _dir: tempfile::TempDir,
    config: PathBuf,
}

fn country() -> Country {
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("MEX");
    let out = puente(&[
        "init",
        "--country",
        "MEX",
        "--dir",
        p(&node),
        "--listen",
        "127.0.0.1:0",
        "--advertise",
        "127.0.0.1:1",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let config = node.join("puente.toml");
    let mut csv = format!("{}\n", puente_records::import::COLUMNS.join(","));
    for (id, given, surnames, dob, sex, nat) in PERSONS {
        // The 14 optional columns left empty.
        csv.push_str(&format!(
            "{id},{given},{surnames},{dob},{sex},{nat}{}\n",
            ",".repeat(14)
        ));
    }
    let file = dir.path().join("persons.csv");
    std::fs::write(&file, csv).unwrap();
    let out = puente(&["records", "import", "--config", p(&config), p(&file)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("Imported {} rows", PERSONS.len())),
        "{}",
        text(&out)
    );
    Country { _dir: dir, config }
}

/// What a name search is asked.
#[derive(Clone, Copy)]
struct Ask<'a> {
    given: &'a str,
    surnames: &'a str,
    birth: Option<&'a str>,
    nationality: Option<&'a str>,
}

fn ask<'a>(given: &'a str, surnames: &'a str, birth: &'a str) -> Ask<'a> {
    Ask {
        given,
        surnames,
        birth: Some(birth),
        nationality: None,
    }
}

impl Country {
    /// `puente records search --output json` as asked; the process's output.
    fn search(&self, a: Ask<'_>) -> Output {
        let mut args = vec![
            "records",
            "search",
            "--config",
            p(&self.config),
            "--given-names",
            a.given,
            "--surnames",
            a.surnames,
            "--output",
            "json",
        ];
        if let Some(b) = a.birth {
            args.extend(["--birth-date", b]);
        }
        if let Some(n) = a.nationality {
            args.extend(["--nationality", n]);
        }
        puente(&args)
    }

    /// The answers to a search that must succeed.
    fn answers(&self, a: Ask<'_>) -> Vec<Value> {
        let out = self.search(a);
        assert!(
            out.status.success(),
            "{} {} {:?}: {}",
            a.given,
            a.surnames,
            a.birth,
            text(&out)
        );
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out)));
        v.as_array().expect("a JSON array").clone()
    }

    /// The answer for record `id`, which must be among the answers to `a`; its
    /// explanation must hold every one of `why`.
    fn finds(&self, a: Ask<'_>, id: &str, why: &[&str]) -> Value {
        let answers = self.answers(a);
        let found = answers
            .iter()
            .find(|m| m["record_id"] == id)
            .unwrap_or_else(|| {
                panic!(
                    "{} / {} / {:?}: {id} not among {}",
                    a.given,
                    a.surnames,
                    a.birth,
                    summary(&answers)
                )
            })
            .clone();
        let explanation = found["explanation"].as_str().unwrap_or_default();
        for needle in why {
            assert!(
                explanation.contains(needle),
                "{} / {} / {:?} -> {id}: explanation {explanation:?} does not say {needle:?}",
                a.given,
                a.surnames,
                a.birth
            );
        }
        let score = found["score"].as_f64().unwrap();
        assert!((0.85..=1.0).contains(&score), "{found}");
        found
    }

    /// Asserts that no answer to `a` is one of `ids`.
    fn misses(&self, a: Ask<'_>, ids: &[&str]) {
        let answers = self.answers(a);
        for m in &answers {
            assert!(
                !ids.iter().any(|id| m["record_id"] == *id),
                "{} / {} / {:?} must not return {}: {}",
                a.given,
                a.surnames,
                a.birth,
                m["record_id"],
                summary(&answers)
            );
        }
    }
}

/// Ids, scores and explanations, for failure messages.
fn summary(answers: &[Value]) -> String {
    let lines: Vec<String> = answers
        .iter()
        .map(|m| format!("{} {} ({})", m["record_id"], m["score"], m["explanation"]))
        .collect();
    format!("[{}]", lines.join("; "))
}

#[test]
fn dates_as_people_write_them_find_the_person_and_say_why() {
    let c = country();
    // The exact query first: the baseline the variants are measured against.
    let exact = c.finds(
        ask("HABIBULLAH", "CHOWDHURY", "1990-01-12"),
        "BGD-1",
        &["birth date exact"],
    );
    assert_eq!(exact["score"], 1.0, "{exact}");

    // Day and month swapped (12 January written 1 December). Two others born on
    // 1990-12-01 are not HABIBULLAH: they stay out.
    let swapped = ask("HABIBULLAH", "CHOWDHURY", "1990-12-01");
    let m = c.finds(swapped, "BGD-1", &["birth day and month swapped"]);
    assert!(m["score"].as_f64().unwrap() < 1.0, "{m}");
    c.misses(swapped, &["BGD-2", "BGD-3"]);

    // 1 January in the query says "year only" against a full date of that year…
    c.finds(
        ask("CARLOS", "MENDOZA", "1986-01-01"),
        "VEN-3",
        &["birth year agrees"],
    );
    // …and in the record, against a full date asked.
    c.finds(
        ask("MARIA JOSE", "RODRIGUEZ", "1986-07-19"),
        "VEN-2",
        &["birth year agrees"],
    );
    // Both 1 January: the same date, exact.
    c.finds(
        ask("MARIA JOSE", "RODRIGUEZ", "1986-01-01"),
        "VEN-2",
        &["birth date exact"],
    );

    // Unknown month and day, written as zeros or Xs.
    // (A day without a month says nothing: 1984-00-30 is the year only.)
    for unknown in [
        "1984-00-00",
        "1984-XX-XX",
        "1984",
        "1984-06-00",
        "1984-06-XX",
        "1984-00-30",
    ] {
        c.finds(
            ask("JEAN BAPTISTE", "LOUIS", unknown),
            "HTI-1",
            &["JEAN exact", "LOUIS exact"],
        );
    }
    c.finds(
        ask("JEAN BAPTISTE", "LOUIS", "1984-00-00"),
        "HTI-1",
        &["birth year agrees"],
    );
    c.finds(
        ask("JEAN BAPTISTE", "LOUIS", "1984-06-00"),
        "HTI-1",
        &["birth year and month agree"],
    );

    // The year's last digit slipped, month and day agree: either way.
    for year in ["1994-08-23", "1996-08-23"] {
        c.finds(
            ask("ANDRES FELIPE", "GOMEZ", year),
            "COL-1",
            &["birth year off by one, month and day agree"],
        );
    }
}

#[test]
fn spellings_compounds_abbreviations_and_particles_find_the_person() {
    let c = country();
    // Haitian Creole spellings of French names.
    c.finds(
        ask("JANBATIS", "LWI", "1984-06-30"),
        "HTI-1",
        &["JANBATIS~JEAN BAPTISTE", "LWI~LOUIS (spelling variant"],
    );
    c.finds(
        ask("JAN BATIS", "LWI", "1984-06-30"),
        "HTI-1",
        &["JAN~JEAN", "BATIS~BAPTISTE", "LWI~LOUIS"],
    );
    c.finds(
        ask("PYE", "JOSEPH", "1975-03-08"),
        "HTI-3",
        &["PYE~PIERRE (spelling variant"],
    );
    c.finds(ask("JAN", "PIERRE", "1980-03-14"), "HTI-4", &["JAN~JEAN"]);

    // Wade-Giles and Cantonese against pinyin.
    c.finds(
        ask("HSIU-LAN", "HSIEH", "1979-11-03"),
        "CHN-1",
        &["HSIU LAN~XIULAN (another romanization", "HSIEH~XIE"],
    );
    c.finds(
        ask("HSIULAN", "HSIEH", "1979-11-03"),
        "CHN-1",
        &["HSIULAN~XIULAN"],
    );
    c.finds(
        ask("KUEI-YING", "CHOW", "1982-04-15"),
        "CHN-3",
        &["KUEI~GUI", "CHOW~ZHOU"],
    );
    c.finds(ask("WEI", "TUNG", "1988-07-21"), "CHN-4", &["TUNG~DONG"]);

    // Compounds joined in the query (split in the record) and split in the query.
    c.finds(
        ask("GUIYING", "ZHOU", "1982-04-15"),
        "CHN-3",
        &["GUIYING~GUI YING (written apart"],
    );
    // (The explanation names the compound as folded, written together.)
    c.finds(
        ask("HABIB ULLAH", "CHOWDHURY", "1990-01-12"),
        "BGD-1",
        &["HABIBULLAH exact"],
    );
    c.finds(
        ask("TESFAY", "GEBRE MEDHIN", "1993-02-17"),
        "ERI-1",
        &["GEBREMEDHIN exact"],
    );

    // MD for MUHAMMAD.
    c.finds(
        ask("MD RAFIQUL", "ISLAM", "1987-09-14"),
        "BGD-4",
        &["MD~MUHAMMAD"],
    );
    c.finds(
        ask("MD. RAFIQUL", "ISLAM", "1987-09-14"),
        "BGD-4",
        &["MD~MUHAMMAD"],
    );

    // JN for JEAN on Haitian records; CH and CHY for CHOWDHURY.
    c.finds(
        ask("JN BAPTISTE", "LOUIS", "1984-06-30"),
        "HTI-1",
        &["JN~JEAN"],
    );
    for short in ["CH", "CHY"] {
        c.finds(
            ask("HABIBULLAH", short, "1990-01-12"),
            "BGD-1",
            &[&format!("{short}~CHOWDHURY")],
        );
    }

    // The particle dropped, and the particle given with the compound written together.
    c.finds(
        ask("MARIA", "VALLE", "1992-10-05"),
        "VEN-1",
        &["VALLE exact"],
    );
    c.finds(
        ask("MARIA", "DELVALLE", "1992-10-05"),
        "VEN-1",
        &["DELVALLE~VALLE (particle written together"],
    );

    // With the nationality given, the explanation says it agrees.
    c.finds(
        Ask {
            nationality: Some("hti"),
            ..ask("JANBATIS", "LWI", "1984-06-30")
        },
        "HTI-1",
        &["nationality agrees"],
    );
}

#[test]
fn near_namesakes_stay_out() {
    let c = country();
    // Same surname and date, another given name: each finds only itself.
    let jean = ask("JEAN BAPTISTE", "LOUIS", "1984-06-30");
    c.finds(jean, "HTI-1", &["birth date exact"]);
    c.misses(jean, &["HTI-2"]);
    let marie = ask("MARIE", "LOUIS", "1984-06-30");
    c.finds(marie, "HTI-2", &[]);
    c.misses(marie, &["HTI-1"]);
    // A Creole spelling does not reach the namesake either.
    c.misses(ask("JANBATIS", "LWI", "1984-06-30"), &["HTI-2"]);

    let xiulan = ask("XIULAN", "XIE", "1979-11-03");
    c.finds(xiulan, "CHN-1", &[]);
    c.misses(xiulan, &["CHN-2"]);
    c.misses(ask("HSIU-LAN", "HSIEH", "1979-11-03"), &["CHN-2"]);

    // A person born on the swapped date is not the one asked for when the names
    // differ, even with the surname in common: asked by their own names, they are found
    // exactly, without HABIBULLAH, born 12 January.
    let shahida = ask("SHAHIDA", "CHOWDHURY", "1990-12-01");
    c.finds(shahida, "BGD-2", &["birth date exact"]);
    c.misses(shahida, &["BGD-1", "BGD-3"]);
    // KAMAL HOSSAIN asked by HABIBULLAH's date is KAMAL, swapped, not HABIBULLAH.
    let kamal = ask("KAMAL", "HOSSAIN", "1990-01-12");
    c.finds(kamal, "BGD-3", &["birth day and month swapped"]);
    c.misses(kamal, &["BGD-1", "BGD-2"]);

    // Same name, another day of the same month: another person (or at least not the
    // same one with certainty).
    let rafiqul = ask("MUHAMMAD RAFIQUL", "ISLAM", "1987-09-14");
    c.finds(rafiqul, "BGD-4", &["birth date exact"]);
    c.misses(rafiqul, &["BGD-5"]);
    c.misses(ask("MD RAFIQUL", "ISLAM", "1987-09-14"), &["BGD-5"]);

    // A year off by one counts only when month and day agree.
    c.misses(ask("ANDRES FELIPE", "GOMEZ", "1994-08-24"), &["COL-1"]);
    c.misses(ask("ANDRES FELIPE", "GOMEZ", "1993-08-23"), &["COL-1"]);
    // A 1 January placeholder says the year, not any year.
    c.misses(ask("MARIA JOSE", "RODRIGUEZ", "1987-07-19"), &["VEN-2"]);
}

/// Asserts that `out` is a refusal, not a crash: exit code 1 or 2, an `error:` line
/// that holds every one of `needles`, no panic.
fn refused(out: &Output, needles: &[&str]) {
    let t = text(out);
    assert!(
        matches!(out.status.code(), Some(1 | 2)),
        "{:?}: {t}",
        out.status
    );
    assert!(!t.contains("panicked"), "{t}");
    assert!(t.contains("error:"), "{t}");
    for needle in needles {
        assert!(t.contains(needle), "{needle:?} not in {t}");
    }
}

#[test]
fn impossible_dates_are_refused_naming_the_date() {
    let c = country();
    for (date, needle) in [
        ("1990-13-45", "1990-13-45"),
        ("1990-02-30", "1990-02-30"),
        ("90-01-12", "90-01-12"),
        ("1990/01/12", "1990/01/12"),
        ("12.01.1990", "12.01.1990"),
        ("0000-01-01", "0000-01-01"),
        ("1990-01-12-01", "1990-01-12-01"),
    ] {
        let out = c.search(ask("HABIBULLAH", "CHOWDHURY", date));
        refused(&out, &["--birth-date", needle]);
        assert!(out.stdout.is_empty(), "{date}: {}", text(&out));
    }
    // A name search without a date says what it needs.
    let out = c.search(Ask {
        birth: None,
        ..ask("HABIBULLAH", "CHOWDHURY", "")
    });
    refused(&out, &["--birth-date"]);
}

#[test]
fn absurd_names_are_refused_quickly_and_clearly() {
    let c = country();
    let huge = "A".repeat(10_000);
    let spaced = "AB ".repeat(3_400);
    for (given, surnames) in [
        (huge.as_str(), "LOUIS"),
        ("JEAN", huge.as_str()),
        (spaced.as_str(), "LOUIS"),
    ] {
        let started = Instant::now();
        let out = c.search(ask(given, surnames, "1984-06-30"));
        let took = started.elapsed();
        refused(&out, &["characters", "256"]);
        // The refusal does not echo ten thousand characters back.
        assert!(text(&out).len() < 2_000, "{} bytes", text(&out).len());
        assert!(took < Duration::from_secs(20), "took {took:?}");
    }
    // Just under the limit: many tokens, long tokens; answered (bounded), not refused.
    let many = "JEAN ".repeat(51);
    let long = "B".repeat(250);
    for (given, surnames) in [
        (many.trim_end(), "LOUIS"),
        (long.as_str(), "LOUIS"),
        ("JEAN BAPTISTE", long.as_str()),
    ] {
        let started = Instant::now();
        let answers = c.answers(ask(given, surnames, "1984-06-30"));
        assert!(answers.len() <= 10, "{}", summary(&answers));
        assert!(started.elapsed() < Duration::from_secs(20));
    }
}

#[test]
fn names_in_other_scripts_and_with_invisible_characters_do_not_panic() {
    let c = country();
    let odd = [
        ("JEAN\u{7}BAPTISTE", "LOUIS"),
        ("JEAN\tBAPTISTE", "LOUIS\u{1b}[31m"),
        ("JEAN BAPTISTE\u{200f}", "\u{202e}LOUIS"),
        ("\u{200e}JEAN\u{200b}BAPTISTE", "LOUIS\u{feff}"),
        ("JEAN 😀", "LOUIS 🇭🇹"),
        ("😀", "🙂"),
        ("秀兰", "谢"),
        ("ОЛЕНА", "КОВАЛЕНКО"),
        ("حبيب الله", "چودھری"),
        ("\u{301}\u{301}\u{301}", "LOUIS"),
        ("   ", "LOUIS"),
        ("...", "'''"),
    ];
    for (given, surnames) in odd {
        let out = c.search(ask(given, surnames, "1984-06-30"));
        let t = text(&out);
        assert!(!t.contains("panicked"), "{given:?} {surnames:?}: {t}");
        match out.status.code() {
            Some(0) => {
                let v: Value = serde_json::from_slice(&out.stdout)
                    .unwrap_or_else(|e| panic!("{given:?} {surnames:?}: not JSON ({e}): {t}"));
                assert!(v.is_array(), "{t}");
            }
            Some(1 | 2) => assert!(t.contains("error:"), "{given:?} {surnames:?}: {t}"),
            other => panic!("{given:?} {surnames:?}: exit {other:?}: {t}"),
        }
    }
    // Control characters and invisible marks around a Latin name do not hide it.
    for (given, surnames) in [
        ("JEAN\u{7}BAPTISTE", "LOUIS"),
        ("JEAN BAPTISTE\u{200f}", "\u{202e}LOUIS"),
    ] {
        c.finds(ask(given, surnames, "1984-06-30"), "HTI-1", &[]);
    }
    // Names in their own script are romanized before matching.
    c.finds(ask("秀兰", "谢", "1979-11-03"), "CHN-1", &[]);
    c.finds(ask("ОЛЕНА", "КОВАЛЕНКО", "1989-05-12"), "UKR-1", &[]);
}

#[test]
fn an_emoji_in_a_name_is_not_a_name_token() {
    let c = country();
    let plain = c.finds(ask("JEAN", "LOUIS", "1984-06-30"), "HTI-1", &[]);
    for given in ["JEAN 😀", "JEAN ❤", "JEAN 🇭🇹", "😀 JEAN"] {
        let m = c.finds(ask(given, "LOUIS", "1984-06-30"), "HTI-1", &[]);
        assert_eq!(m["score"], plain["score"], "{given}: {m}");
    }
}
