use super::compound::compound_options;
use super::particles::particle_options;
use super::*;
use puente_synth::{person, random_person, NATIONALITIES};

fn someone(given: &str, surnames: &str, nationality: &str, y: i32, m: u8, d: u8) -> SynthPerson {
    SynthPerson {
        given_names: given.into(),
        surnames: surnames.into(),
        sex: 'M',
        nationality: nationality.into(),
        birth_year: y,
        birth_month: m,
        birth_day: d,
    }
}

fn days_in(year: i32, month: u8) -> u8 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Persons of every nationality, many of each.
fn population() -> Vec<SynthPerson> {
    let mut rng = Rng::new(77);
    let mut out = Vec::new();
    for (nat, _) in NATIONALITIES {
        for _ in 0..300 {
            out.push(person(&mut rng, nat));
        }
    }
    out
}

#[test]
fn creole_known_examples() {
    let r = creole::respell_field;
    assert_eq!(r("JEAN-BAPTISTE"), "JANBATIS");
    assert_eq!(r("JEAN"), "JAN");
    assert_eq!(r("LOUIS"), "LWI");
    assert_eq!(r("ALEXIS"), "ALEKSI");
    assert_eq!(r("PIERRE"), "PYE");
    assert_eq!(r("JOSEPH"), "JOZEF");
    assert_eq!(r("FRANÇOIS"), "FRANSWA");
    assert_eq!(r("FRANCOIS"), "FRANSWA");
    assert_eq!(r("JACQUES"), "JAK");
    assert_eq!(r("ROBERT"), "WOBE");
    assert_eq!(r("CHARLES"), "CHAL");
    assert_eq!(r("TOUSSAINT"), "TOUSEN");
    assert_eq!(r("GERMAIN"), "JEMEN");
    assert_eq!(r("JULES"), "JIL");
    assert_eq!(r("MARIE-CLAUDE"), "MARIKLOD");
    assert_eq!(r("PHILIPPE"), "FILIP");
    assert_eq!(r("ÉTIENNE"), "ETYEN");
    assert_eq!(r("SAINT-LOUIS"), "SENLWI");
    // Names of other origin are copied as written.
    assert_eq!(r("WILNER JOHNSON"), "WILNER JOHNSON");
    assert_eq!(r("MACKENSON"), "MACKENSON");
}

#[test]
fn wade_giles_known_examples() {
    let w = |s: &str| wade_giles::word(s).unwrap_or_default();
    assert_eq!(w("XIULAN"), "HSIU-LAN");
    assert_eq!(w("XIE"), "HSIEH");
    assert_eq!(w("ZHOU"), "CHOU");
    assert_eq!(w("GUI"), "KUEI");
    assert_eq!(w("DONG"), "TUNG");
    assert_eq!(w("ZHANG"), "CHANG");
    assert_eq!(w("QIANG"), "CHIANG");
    assert_eq!(w("ZHI"), "CHIH");
    assert_eq!(w("SHI"), "SHIH");
    assert_eq!(w("ZE"), "TSE");
    assert_eq!(w("JIANGUO"), "CHIEN-KUO");
    assert_eq!(w("YONG"), "YUNG");
    assert_eq!(w("LINGANG"), "LIN-KANG");
    assert_eq!(wade_giles::cantonese_surname("CHEN"), Some("CHAN"));
    assert!(wade_giles::syllables("HOSSAIN").is_none());
}

#[test]
fn every_syllable_of_the_population_parses() {
    for p in population().iter().filter(|p| p.nationality == "CHN") {
        for t in p
            .given_names
            .split_whitespace()
            .chain(p.surnames.split_whitespace())
        {
            let s = wade_giles::syllables(t);
            assert!(s.is_some(), "{t}");
            let joined: String = s
                .unwrap_or_default()
                .iter()
                .map(|(i, f)| format!("{i}{f}"))
                .collect();
            assert_eq!(joined, t);
        }
    }
}

#[test]
fn date_swap_is_valid_and_changes_only_the_date() {
    let mut rng = Rng::new(1);
    let mut made = 0;
    for p in population() {
        let v = date_swap(&mut rng, &p);
        let applies = p.birth_day <= 12 && p.birth_month <= 12 && p.birth_day != p.birth_month;
        assert_eq!(v.is_some(), applies);
        if let Some(v) = v {
            made += 1;
            let (m, d) = (v.birth_month.unwrap_or(0), v.birth_day.unwrap_or(0));
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in(v.birth_year, m));
            assert_eq!((m, d), (p.birth_day, p.birth_month));
            assert_eq!(
                (&v.given_names, &v.surnames, v.birth_year),
                (&p.given_names, &p.surnames, p.birth_year)
            );
        }
    }
    assert!(made > 100);
}

#[test]
fn date_kinds_change_only_the_date() {
    let mut rng = Rng::new(2);
    for p in population() {
        for kind in [Kind::DatePlaceholder, Kind::YearOff] {
            let v = kind
                .make(&mut rng, &p)
                .unwrap_or_else(|| panic!("{kind:?}"));
            assert_eq!((&v.given_names, &v.surnames), (&p.given_names, &p.surnames));
            let full = (p.birth_year, Some(p.birth_month), Some(p.birth_day));
            assert_ne!((v.birth_year, v.birth_month, v.birth_day), full);
            if kind == Kind::YearOff {
                assert_eq!((v.birth_year - p.birth_year).abs(), 1);
                assert_eq!(v.birth_year / 10, p.birth_year / 10);
            } else {
                assert_eq!(v.birth_year, p.birth_year);
                let placeholder = v.birth_month == Some(1) && v.birth_day == Some(1);
                assert!(placeholder || v.birth_day.is_none());
            }
        }
    }
}

#[test]
fn name_kinds_change_only_the_name_and_apply_regardless_of_draws() {
    let mut a = Rng::new(3);
    let mut b = Rng::new(4);
    for p in population() {
        for kind in Kind::ALL {
            let va = kind.make(&mut a, &p);
            assert_eq!(
                va.is_some(),
                kind.make(&mut b, &p).is_some(),
                "{kind:?} {p:?}"
            );
            let Some(v) = va else { continue };
            assert!(!v.given_names.trim().is_empty() || !v.surnames.trim().is_empty());
            assert!(v
                .given_names
                .chars()
                .chain(v.surnames.chars())
                .all(|c| c.is_alphabetic() || c == ' ' || c == '-'));
            if !kind.is_date() {
                assert_ne!(
                    (&v.given_names, &v.surnames),
                    (&p.given_names, &p.surnames),
                    "{kind:?}"
                );
                assert_eq!(v.birth_date().to_string(), {
                    format!(
                        "{:04}-{:02}-{:02}",
                        p.birth_year, p.birth_month, p.birth_day
                    )
                });
            }
        }
    }
}

#[test]
fn kinds_apply_to_the_persons_they_are_for() {
    let mut rng = Rng::new(5);
    let pop = population();
    let share = |kind: Kind, nat: &[&str], rng: &mut Rng| {
        let of: Vec<&SynthPerson> = pop
            .iter()
            .filter(|p| nat.contains(&p.nationality.as_str()))
            .collect();
        of.iter().filter(|p| kind.make(rng, p).is_some()).count() as f64 / of.len() as f64
    };
    assert!(share(Kind::Creole, &["HTI"], &mut rng) > 0.6);
    assert_eq!(share(Kind::Creole, &["CUB", "CHN"], &mut rng), 0.0);
    assert!(share(Kind::Romanization, &["CHN"], &mut rng) > 0.8);
    assert_eq!(share(Kind::Romanization, &["HTI"], &mut rng), 0.0);
    assert!(share(Kind::Compound, &["CHN"], &mut rng) > 0.5);
    assert!(share(Kind::Compound, &["ETH", "ERI"], &mut rng) > 0.1);
    assert!(share(Kind::Compound, &["BGD", "AFG"], &mut rng) > 0.1);
    assert!(share(Kind::ParticleAbbrev, &["HTI", "BGD", "CUB"], &mut rng) > 0.5);
    assert_eq!(share(Kind::Typo, &["SEN", "CHN", "LKA"], &mut rng), 1.0);
}

#[test]
fn typo_is_one_edit_and_reaches_short_names() {
    let mut rng = Rng::new(6);
    let p = someone("LI", "WU", "CHN", 1990, 5, 6);
    for _ in 0..200 {
        let v = typo(&mut rng, &p).unwrap_or_else(|| panic!("no typo"));
        let before = format!("{} {}", p.given_names, p.surnames);
        let after = format!("{} {}", v.given_names, v.surnames);
        assert_ne!(before, after);
        // One token changed, by one edit (length within one).
        let changed: Vec<(&str, &str)> = before
            .split(' ')
            .zip(after.split(' '))
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(changed.len(), 1, "{after}");
        let (a, b) = changed[0];
        assert!(a.len().abs_diff(b.len()) <= 1 && b.len() >= 2, "{a} → {b}");
    }
}

#[test]
fn compound_splits_at_morpheme_boundaries() {
    let mut rng = Rng::new(7);
    let cases = [
        someone("XIULAN", "WANG", "CHN", 1990, 5, 6),
        someone("SAMUEL", "GEBREMEDHIN", "ERI", 1990, 5, 6),
        someone("HABIBULLAH", "KARIMI", "AFG", 1990, 5, 6),
        someone("RAFIQUL", "ISLAM", "BGD", 1990, 5, 6),
        someone("JEAN-BAPTISTE", "PIERRE", "HTI", 1990, 5, 6),
    ];
    let expect = [
        ("XIU", "LAN"),
        ("GEBRE", "MEDHIN"),
        ("HABIB", "ULLAH"),
        ("RAFIQ", "UL"),
        ("JEAN", "BAPTISTE"),
    ];
    for (p, (a, b)) in cases.iter().zip(expect) {
        let options = compound_options(p);
        assert!(
            options
                .iter()
                .any(|(_, t, _)| t.windows(2).any(|w| w[0] == a && w[1] == b)),
            "{p:?}: {options:?}"
        );
        let v = compound(&mut rng, p).unwrap_or_else(|| panic!("{p:?}"));
        assert_ne!(
            (v.given_names.as_str(), v.surnames.as_str()),
            (p.given_names.as_str(), p.surnames.as_str())
        );
    }
    // Never cut names that merely end like a morpheme.
    for (g, nat) in [
        ("RAHUL", "IND"),
        ("PAUL", "HTI"),
        ("ZERAY", "ERI"),
        ("TESFAY", "ETH"),
    ] {
        assert!(
            compound_options(&someone(g, "X", nat, 1990, 1, 2)).is_empty(),
            "{g}"
        );
    }
    let joined = compound_options(&someone("ABDUL KARIM", "HOSSAIN", "BGD", 1990, 1, 2));
    assert!(joined.iter().any(|(_, t, _)| t == &["ABDULKARIM"]));
}

#[test]
fn particles_and_abbreviations() {
    let options = |g: &str, s: &str, n: &str| particle_options(&someone(g, s, n, 1990, 1, 2));
    let o = options("JOSÉ", "DE LA CRUZ PÉREZ", "CUB");
    assert!(o.iter().any(|(_, s)| s == "CRUZ PÉREZ"));
    assert!(o.iter().any(|(_, s)| s == "DELACRUZ PÉREZ"));
    let o = options("ANA", "DEL VALLE", "VEN");
    assert!(o.iter().any(|(_, s)| s == "VALLE"));
    assert!(options("ANA", "TORRES RUIZ", "VEN")
        .iter()
        .any(|(_, s)| s == "TORRES Y RUIZ"));
    assert!(options("JEAN-CLAUDE", "PAUL", "HTI")
        .iter()
        .any(|(g, _)| g == "JN-CLAUDE"));
    assert!(options("MOHAMMAD ALI", "KHAN", "PAK")
        .iter()
        .any(|(g, _)| g == "MD ALI"));
    assert!(options("MOHAMMAD ALI", "KHAN", "PAK")
        .iter()
        .any(|(g, _)| g == "MOHAMMAD A"));
    assert!(options("IMRAN", "CHAUDHARY", "PAK")
        .iter()
        .any(|(_, s)| s == "CH"));
    assert!(options("SOW", "BA", "SEN").is_empty());
    assert!(options("RAJU", "DAS", "BGD").is_empty());
}

#[test]
fn romanization_only_for_chinese_and_by_rule() {
    let mut rng = Rng::new(8);
    let p = someone("XIULAN", "ZHOU", "CHN", 1990, 5, 6);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let v = romanization(&mut rng, &p).unwrap_or_else(|| panic!("none"));
        seen.insert((v.given_names, v.surnames));
    }
    let expected: std::collections::BTreeSet<(String, String)> = [
        ("HSIU-LAN".to_string(), "CHOU".to_string()),
        ("HSIU-LAN".to_string(), "CHOW".to_string()),
    ]
    .into_iter()
    .collect();
    assert_eq!(seen, expected);
    assert!(romanization(&mut rng, &someone("NA", "MA", "CHN", 1990, 5, 6)).is_none());
}

#[test]
fn combinations_carry_both_changes() {
    let mut rng = Rng::new(9);
    let p = someone("JEAN-BAPTISTE", "LOUIS", "HTI", 1990, 5, 6);
    let v = combine(&mut rng, &p, Kind::Creole, Kind::DateSwap).unwrap_or_else(|| panic!());
    assert_eq!(
        (v.given_names.as_str(), v.surnames.as_str()),
        ("JANBATIS", "LWI")
    );
    assert_eq!((v.birth_month, v.birth_day), (Some(6), Some(5)));
    assert_eq!(v.label(), "creole+date_swap");
    let mut r = Rng::new(10);
    for _ in 0..500 {
        let p = random_person(&mut r);
        if let Some(v) = combine(&mut rng, &p, Kind::ParticleAbbrev, Kind::Typo) {
            assert_eq!(v.kinds, vec![Kind::ParticleAbbrev, Kind::Typo]);
            assert_eq!(v.birth_year, p.birth_year);
        }
    }
}
