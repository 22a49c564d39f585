//! Tests of [`crate::matcher`].

use super::*;

fn key(given: &str, surnames: &str, dob: &str) -> MatchKey {
    MatchKey {
        name: normalize(&[given, surnames]),
        date_of_birth: PartialDate::parse(dob).unwrap_or(PartialDate {
            year: 1990,
            month: None,
            day: None,
        }),
        nationality: "CHN".into(),
        sex: Sex::M,
        shielded_from: Some(Vec::new()),
    }
}

fn query_score(given: &str, surnames: &str, dob: &str, record: &MatchKey) -> f64 {
    let q = NameQuery {
        given_names: given.into(),
        surnames: surnames.into(),
        full_name: None,
        date_of_birth: PartialDate::parse(dob).unwrap(),
        nationality: None,
        sex: None,
    };
    score_key(&q, &query_name(&q), record).0
}

#[test]
fn short_tokens_are_not_spelling_variants_of_each_other() {
    assert_eq!(token_sim("LI", "LIU", None).0, 0.0);
    assert_eq!(token_sim("YU", "HUAHUA", None).0, 0.0);
    assert!(token_sim("ALI", "ALY", None).0 >= 0.95);
    let other = key("HUAHUA", "LI", "2008-03-13");
    assert!(query_score("YU", "LIU", "2008-03", &other) < DEFAULT_THRESHOLD);
}

#[test]
fn one_query_token_does_not_stand_for_two() {
    // FERNANDA is close to FERNANDEZ, but FERNANDEZ is taken by FERNANDEZ.
    let other = key("YUSLEIDY", "HERNANDEZ FERNANDEZ", "1993-10-24");
    let own = key("FERNANDA", "FERNANDEZ CASTILLO", "1993-10-02");
    let (o, s) = (
        query_score("FERNANDA", "FERNANDEZ", "1993-10", &other),
        query_score("FERNANDA", "FERNANDEZ", "1993-10", &own),
    );
    assert!(o < DEFAULT_THRESHOLD && s >= DEFAULT_THRESHOLD, "{o} {s}");
}

#[test]
fn tolerances_survive_one_to_one_pairing() {
    let r = key("MOHAMMAD ABDUL", "HOSSAIN", "1990-04-12");
    for (given, surnames, dob) in [
        ("MD ABDUL", "HUSSAIN", "1990-04-12"),
        ("HOSSAIN", "MOHAMMAD ABDUL", "1990"),
        ("MOHAMMAD A", "HOSSAIN", "1990-04"),
        ("ABDUL MOHAMMAD", "HOSAIN", "1990-04-12"),
    ] {
        let s = query_score(given, surnames, dob, &r);
        assert!(s >= DEFAULT_THRESHOLD, "{given} {surnames}: {s}");
    }
}

fn date(s: &str) -> PartialDate {
    PartialDate::parse(s).unwrap()
}

#[test]
fn dates_as_people_write_them_get_partial_credit_below_exact() {
    let exact = date_score(&date("1986-01-12"), &date("1986-01-12")).0;
    let swapped = date_score(&date("1986-01-12"), &date("1986-12-01"));
    let placeholder = date_score(&date("1986-01-01"), &date("1986-07-23"));
    let year_only = date_score(&date("1986"), &date("1986-07-23"));
    let year_off = date_score(&date("1987-07-23"), &date("1986-07-23"));
    assert_eq!(exact, 1.0);
    assert_eq!(swapped, (SWAPPED, "birth day and month swapped"));
    assert!(
        placeholder.0 > MONTH_DIFFERS && placeholder.0 < exact,
        "{placeholder:?}"
    );
    assert!(year_only.0 < exact);
    assert_eq!(year_off.0, YEAR_OFF);
    // Not a swap: the same number twice, or a day that cannot be a month.
    assert_eq!(date_score(&date("1986-05-05"), &date("1986-05-06")).0, 0.3);
    assert_eq!(
        date_score(&date("1986-01-13"), &date("1986-12-01")).0,
        MONTH_DIFFERS
    );
    // A year off with another month is another date.
    assert_eq!(date_score(&date("1987-07-24"), &date("1986-07-23")).0, 0.0);
    assert_eq!(date_score(&date("1988-07-23"), &date("1986-07-23")).0, 0.0);
    // Both 1 January: exact.
    assert_eq!(date_score(&date("1986-01-01"), &date("1986-01-01")).0, 1.0);
}

#[test]
fn unknown_parts_are_read_as_unknown_and_impossible_dates_refused() {
    assert_eq!(date("1986-00-00"), date("1986"));
    assert_eq!(date("1986-05-00"), date("1986-05"));
    assert_eq!(date("1986-XX-XX"), date("1986"));
    assert_eq!(date("1986-00-12"), date("1986"));
    for bad in [
        "1990-13-45",
        "1990-02-30",
        "1990-1-2",
        "19900101",
        "",
        "abcd",
        "1990-01-02-03",
    ] {
        let e = PartialDate::parse(bad).unwrap_err();
        assert!(
            e.contains("date") || e.contains("exist") || e.contains("implausible"),
            "{bad}: {e}"
        );
    }
    let long = "9".repeat(100_000);
    assert!(PartialDate::parse(&long).unwrap_err().len() < 200);
}

#[test]
fn swapped_dates_and_placeholders_are_read_from_the_index() {
    let q = |d: &str| NameQuery {
        given_names: "A".into(),
        surnames: "B".into(),
        full_name: None,
        date_of_birth: date(d),
        nationality: None,
        sex: None,
    };
    assert_eq!(
        months_to_read(&q("1986-01-12"), DEFAULT_THRESHOLD),
        Months::Two(1, 12)
    );
    assert_eq!(
        months_to_read(&q("1986-05-25"), DEFAULT_THRESHOLD),
        Months::One(5)
    );
    assert_eq!(
        months_to_read(&q("1986-05-05"), DEFAULT_THRESHOLD),
        Months::One(5)
    );
    assert_eq!(
        months_to_read(&q("1986-01-01"), DEFAULT_THRESHOLD),
        Months::Any
    );
    assert_eq!(months_to_read(&q("1986"), DEFAULT_THRESHOLD), Months::Any);
}

#[test]
fn compounds_written_together_or_apart_match() {
    for (rg, rs, qg, qs) in [
        ("GUIYING", "LI", "GUI YING", "LI"),
        ("GUI YING", "LI", "GUIYING", "LI"),
        ("HABIBULLAH", "RAHMAN", "HABIB ULLAH", "RAHMAN"),
        ("RAFIQ UL", "ISLAM", "RAFIQUL", "ISLAM"),
        ("TESFAY", "GEBREMEDHIN", "TESFAY", "GEBRE MEDHIN"),
        // With another change: a typo elsewhere, tokens reordered.
        ("GUIYING", "ZHANG", "GUI YING", "ZHANGG"),
        ("HABIB ULLAH", "CHOWDHURY", "CHOWDHURY", "HABIBULAH"),
    ] {
        let r = key(rg, rs, "1990-04-12");
        let s = query_score(qg, qs, "1990-04-12", &r);
        assert!(s >= DEFAULT_THRESHOLD, "{qg} {qs} vs {rg} {rs}: {s}");
    }
    // A compound does not make another surname the same.
    let r = key("GUIYING", "WANG", "1990-04-12");
    assert!(query_score("GUI YING", "ZHAO", "1990-04-12", &r) < DEFAULT_THRESHOLD);
}

#[test]
fn a_compound_explains_itself() {
    let r = key("GUIYING", "LI", "1990-04-12");
    let q = NameQuery {
        given_names: "GUI YING".into(),
        surnames: "LI".into(),
        full_name: None,
        date_of_birth: date("1990-12-04"),
        nationality: None,
        sex: None,
    };
    let (s, why) = score_key(&q, &query_name(&q), &r);
    assert!(why.contains("GUI YING~GUIYING (written together"), "{why}");
    assert!(why.contains("swapped"), "{why}");
    assert!(s >= DEFAULT_THRESHOLD, "{s} {why}");
}

#[test]
fn absurd_names_cost_bounded_work() {
    let huge = "DE ".repeat(50_000) + &"AB CD ".repeat(50_000);
    let n = normalize(&[&huge]);
    assert!(n.tokens.len() <= crate::names::MAX_TOKENS);
    let (singles, pairs) = blocking_keys(&n);
    assert!(singles.len() + pairs.len() < 200);
    let weird = normalize(&["\u{0}\u{7}\u{202e}محمد", "\u{1F600}李\t\n"]);
    let _ = blocking_keys(&weird);
}

#[test]
fn short_typos_and_glued_particles() {
    assert_eq!(token_sim("SOW", "SOH", None), (0.8, "typo"));
    assert_eq!(
        token_sim("SOW", "LOW", None).0,
        0.0,
        "the first letter is kept"
    );
    assert_eq!(token_sim("DELVALLE", "VALLE", None).0, 0.95);
    assert_eq!(token_sim("ALHASSAN", "HASSAN", None).0, 0.95);
    assert_eq!(token_sim("MARVALLE", "VALLE", None).0, 0.0);
    let r = key("AMADOU", "SOW", "1990-04-12");
    assert!(query_score("AMADOU", "SOH", "1990-04-12", &r) >= DEFAULT_THRESHOLD);
}

#[test]
fn creole_spellings_of_french_names_match() {
    for (rg, rs, qg, qs) in [
        ("JEAN BAPTISTE", "LOUIS", "JANBATIS", "LWI"),
        ("PIERRE", "ALEXIS", "PYE", "ALEKSI"),
        ("ANTOINE", "JOSEPH", "ANTWAN", "JOZEF"),
        ("MARIE CLAUDE", "VINCENT", "MARI KLOD", "VENSAN"),
    ] {
        let r = key(rg, rs, "1984-06-30");
        let s = query_score(qg, qs, "1984-06-30", &r);
        assert!(s >= DEFAULT_THRESHOLD, "{qg} {qs} vs {rg} {rs}: {s}");
    }
    // Sounding alike is not a licence: another name stays another name.
    let r = key("JEAN", "PIERRE", "1984-06-30");
    assert!(query_score("JUAN", "PEREZ", "1984-06-30", &r) < DEFAULT_THRESHOLD);
}

#[test]
fn a_slip_in_a_creole_spelling_still_matches() {
    use super::tokens::slip_of;
    for (rg, rs, qg, qs) in [
        ("JEAN", "BAPTISTE", "JAN", "ABTIS"),
        ("MARIE", "PIERRE", "ARI", "PYE"),
        ("EDDY", "PAUL", "EDDY", "PO"),
        ("LOUIS", "PAUL", "LWI", "OPL"),
        ("ROSE", "BAPTISTE", "OWZ", "BATIS"),
        ("MICHEL", "JEAN-BAPTISTE", "MICHEL", "JANBWATIS"),
    ] {
        let r = key(rg, rs, "1984-06-30");
        let s = query_score(qg, qs, "1984-06-30", &r);
        assert!(s >= DEFAULT_THRESHOLD, "{qg} {qs} vs {rg} {rs}: {s}");
    }
    // Which slips count: swaps anywhere, other slips of the first letter only in longer
    // words, and a two-letter token only as a letter dropped after its first.
    assert!(slip_of("BATIS", "ABTIS") && slip_of("POL", "OPL") && slip_of("MARI", "ARI"));
    assert!(slip_of("POL", "PO") && slip_of("LWI", "LW"));
    assert!(
        !slip_of("SOW", "LOW"),
        "a changed first letter in three is another name"
    );
    assert!(!slip_of("POL", "OL") && !slip_of("POL", "PA") && !slip_of("PO", "P"));
    assert!(!slip_of("JAN", "JAN"), "the same is not a slip");
    // A slip is one: two make another name, and a slip of one token does not carry a
    // query whose other names disagree.
    let r = key("ROSE", "PIERRE", "1984-06-30");
    assert!(query_score("WIZ", "PAUL", "1984-06-30", &r) < DEFAULT_THRESHOLD);
    assert!(query_score("ROSE", "OPYL", "1984-06-30", &r) < DEFAULT_THRESHOLD);
    let r = key("JEAN", "BAPTISTE", "1984-06-30");
    assert!(query_score("JAN", "ABTIS", "1971-02-11", &r) < DEFAULT_THRESHOLD);
}

#[test]
fn romanizations_and_spelling_tables_match() {
    for (rg, rs, qg, qs) in [
        ("XIULAN", "XIE", "HSIU LAN", "HSIEH"),
        ("GUI YING", "ZHOU", "KUEI YING", "CHOW"),
        ("MING", "DONG", "MING", "TUNG"),
        ("MOHAMMED", "CHAUDHRY", "MD", "CH"),
        ("JEAN", "PAUL", "JN", "PAUL"),
        ("HABIBULLAH", "KHAN", "HABIB ULLAH", "KHAN"),
    ] {
        let r = key(rg, rs, "1979-11-03");
        let s = query_score(qg, qs, "1979-11-03", &r);
        assert!(s >= DEFAULT_THRESHOLD, "{qg} {qs} vs {rg} {rs}: {s}");
    }
}

#[test]
fn particles_only_lead_into_a_name() {
    assert_eq!(normalize(&["BIN", "CUI"]).tokens, vec!["BIN", "CUI"]);
    assert_eq!(normalize(&["JIEFEI", "DU"]).tokens, vec!["JIEFEI", "DU"]);
    assert_eq!(
        normalize(&["OSAMA", "BIN LADEN"]).tokens,
        vec!["OSAMA", "LADEN"]
    );
    let r = key("BIN", "CUI", "2002-10-05");
    assert!(query_score("PIN", "TSUI", "2002-10-05", &r) >= DEFAULT_THRESHOLD);
    let r = key("JIEFEI", "DU", "2004-10-22");
    assert!(query_score("CHIEH-FEI", "TO", "2004-10-22", &r) >= DEFAULT_THRESHOLD);
}

#[test]
fn a_slip_in_a_short_name_counts_half_and_never_alone() {
    use super::tokens::{pair_sim, short_name_slip, toks, SHORT_NAME_SLIP};
    // A changed first letter in three letters, or a slip in two, of a known form of the
    // other name (PYE is PIERRE, IV is YVES, JAN is JEAN).
    assert!(short_name_slip("PYE", "OYE") && short_name_slip("MAT", "KAT"));
    assert!(short_name_slip("IV", "IF") && short_name_slip("IV", "OV"));
    assert!(short_name_slip("IV", "KIV") && short_name_slip("JAN", "AN"));
    // Not where the longer slip rules apply, nor between longer or one-letter words.
    assert!(!short_name_slip("POL", "PO") && !short_name_slip("MARI", "NARI"));
    assert!(!short_name_slip("I", "IV") && !short_name_slip("PYE", "PYE"));
    assert!(!short_name_slip("PYE", "OYA"), "two slips are another name");
    // Where two other names agree, the third's slip lets the person be found.
    for (rg, rs, qg, qs) in [
        ("PIERRE JEAN", "JOSEPH", "OYE JAN", "JOZEF"),
        ("MARTHE GUERDA", "PAUL", "KAT GEDA", "POL"),
        ("YVES ROBERT", "JOSEPH", "IF WOBE", "JOZEF"),
        ("JEAN JOSEPH", "SAINT-LOUIS", "AN JOZEF", "SENLWI"),
    ] {
        let r = key(rg, rs, "1987-07-27");
        let s = query_score(qg, qs, "1987-07-27", &r);
        assert!(s >= DEFAULT_THRESHOLD, "{qg} {qs} vs {rg} {rs}: {s}");
    }
    // Never alone: a name of two where one name agrees and the other is SOW / LOW is
    // another person, even born the same day.
    for (rg, rs, qg, qs) in [
        ("ALI", "SOW", "ALI", "LOW"),
        ("ROSE", "PIERRE", "WOZ", "OYE"),
        ("YVES", "JOSEPH", "KIV", "JOZEF"),
    ] {
        let r = key(rg, rs, "1990-04-12");
        let s = query_score(qg, qs, "1990-04-12", &r);
        assert!(s < DEFAULT_THRESHOLD, "{qg} {qs} vs {rg} {rs}: {s}");
    }
    // Nor with another date, nor with the third name another one.
    let r = key("AMADOU MOUSSA", "SOW", "1990-04-12");
    assert!(query_score("AMADOU MOUSSA", "LOW", "1990-04-21", &r) < DEFAULT_THRESHOLD);
    assert!(query_score("AMADOU IBRAHIM", "LOW", "1990-04-12", &r) < DEFAULT_THRESHOLD);
    // Two pinyin syllables a letter apart are two names (LI / XI), not half of one.
    let (mut a, mut b) = Default::default();
    let (q, r) = (normalize(&["LI"]), normalize(&["XI"]));
    let (qt, rt) = (toks(&q, &mut a), toks(&r, &mut b));
    assert!(pair_sim(qt[0], rt[0]).0 < SHORT_NAME_SLIP);
    let r = key("LI WANG", "MING", "1990-04-12");
    assert!(query_score("XI WANG", "MING", "1990-04-12", &r) < DEFAULT_THRESHOLD);
}

#[test]
fn emmanuel_written_with_its_glide_and_a_slip_still_matches() {
    // French U before a vowel is the glide Creole writes W (EMANWEL): one sound key, so
    // a slip on top is one slip from it.
    for (rg, rs, qg, qs) in [
        ("EMMANUEL", "LOUIS", "EMANWEL", "LWI"),
        ("EMMANUEL", "LOUIS", "EMAJNWEL", "LWI"),
        ("EMMANUEL JOSEPH", "DORSAINVIL", "ENANWEL JOZEF", "DOSENVIL"),
        ("SAMUEL", "PIERRE", "SAMWEL", "PYE"),
    ] {
        let r = key(rg, rs, "1988-05-01");
        let s = query_score(qg, qs, "1988-05-01", &r);
        assert!(s >= DEFAULT_THRESHOLD, "{qg} {qs} vs {rg} {rs}: {s}");
    }
    // Twins: one surname, one birth date, two compound given names that share a part.
    // A Creole compound is compared as a whole, and JANPYE is not JEAN-PAUL.
    let r = key("JEAN-PAUL", "JOSEPH", "1988-05-01");
    assert!(query_score("JANPYE", "JOSEPH", "1988-05-01", &r) < DEFAULT_THRESHOLD);
    let r = key("EMMANUEL", "LOUIS", "1988-05-01");
    assert!(query_score("MANWEL", "LOUIS", "1988-05-01", &r) < 0.95);
}

#[test]
fn a_query_reads_the_keys_a_record_of_its_parts_holds() {
    use crate::names::query_keys;
    // JANBATIS cut in two by its sound is the pair the record of JEAN BAPTISTE holds;
    // the query's other token (a slip) shares nothing, so without it no block holds
    // both.
    let q = normalize(&["JANBATIS", "JOZEFC"]);
    let r = normalize(&["JEAN-BAPTISTE", "JOSEPH"]);
    let (rs, rp) = blocking_keys(&r);
    let (qs, qp) = blocking_keys(&q);
    assert!(qs.is_disjoint(&rs) && qp.is_disjoint(&rp));
    let (more_singles, more_pairs, splits) = query_keys(&q);
    assert!(!splits.is_disjoint(&rp), "{splits:?} / {rp:?}");
    // MAK is MAI in Cantonese and MARC in Creole: the record of MARC is keyed by MARC.
    let q = normalize(&["MAK", "ADE"]);
    let r = normalize(&["MARC", "CADET"]);
    let (rs, _) = blocking_keys(&r);
    assert!(blocking_keys(&q).0.is_disjoint(&rs));
    let (extra, _, _) = query_keys(&q);
    assert!(!extra.is_disjoint(&rs), "{extra:?} / {rs:?}");
    // Bounded whatever the name.
    let long = normalize(&["ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMN"; 12]);
    let (s, p, cut) = query_keys(&long);
    assert!(s.len() + p.len() + cut.len() < 200);
    let _ = (more_singles, more_pairs);
}

#[test]
fn search_finds_a_creole_compound_when_the_other_name_has_a_slip() {
    let (dir, store) = crate::tests::store();
    let path = dir.path().join("persons.csv");
    let mut text = crate::import::COLUMNS.join(",");
    for (id, given, surnames) in [
        ("H1", "JEAN-BAPTISTE", "JOSEPH"),
        ("H2", "JEAN-PAUL", "JOSEPH"),
        ("H3", "MARC", "CADET"),
    ] {
        text.push_str(&format!(
            "\n{id},{given},{surnames},1996-01-14,M,HTI,passport,P{id},HTI,2030-01-01,,,none,,,2026-03-01,Tapachula,entry,GTM,"
        ));
    }
    std::fs::write(&path, text + "\n").unwrap();
    let today = time::macros::date!(2026 - 11 - 28);
    crate::import::import(&store, &path, today, &mut |_, _| {}).unwrap();
    let ids = |given: &str, surnames: &str| -> Vec<String> {
        let q = NameQuery {
            given_names: given.into(),
            surnames: surnames.into(),
            full_name: None,
            date_of_birth: PartialDate::parse("1996-01-14").unwrap(),
            nationality: None,
            sex: None,
        };
        search(&store, &q, DEFAULT_THRESHOLD, 5)
            .unwrap()
            .into_iter()
            .map(|m| m.stored.record.record_id)
            .collect()
    };
    // No block the index holds for H1 has both JANBATIS and JOZEFC; cut in two by its
    // sound, JANBATIS is JAN + BATI, which it has.
    assert_eq!(ids("JANBATIS", "JOZEFC"), ["H1"]);
    assert_eq!(ids("MAK", "ADE"), ["H3"], "MAK is MARC as well as MAI");
    // Another compound cut in two is not the person, nor a slip in a short name next
    // to one agreeing name.
    assert!(
        ids("JANPYE", "JOZEFC").is_empty(),
        "JEAN-PIERRE is not JEAN-PAUL"
    );
    assert!(ids("KAK", "CADET").is_empty());
}

#[test]
fn initials_alone_are_not_a_query() {
    let (dir, store) = crate::tests::store();
    let path = dir.path().join("persons.csv");
    let mut text = crate::import::COLUMNS.join(",");
    text.push_str("\nA1,AMA,MENSAH,1990-05-14,F,GHA,passport,PA1,GHA,2030-01-01,,,none,,,2026-03-01,Tapachula,entry,GTM,");
    std::fs::write(&path, text + "\n").unwrap();
    crate::import::import(
        &store,
        &path,
        time::macros::date!(2026 - 11 - 28),
        &mut |_, _| {},
    )
    .unwrap();
    let q = |given: &str, surnames: &str, full: Option<&str>| NameQuery {
        given_names: given.into(),
        surnames: surnames.into(),
        full_name: full.map(str::to_string),
        date_of_birth: PartialDate::parse("1990").unwrap(),
        nationality: None,
        sex: None,
    };
    // Two initials and a year would find every A. M. born that year.
    // However they are dressed up: digits and symbols fold away, particles drop out.
    for query in [
        q("A", "M", None),
        q("A.", "M-", None),
        q("", "", Some("A M")),
        q("A", "M0", None),
        q("A", "DE M", None),
        q("A1", "M_2", None),
    ] {
        match search(&store, &query, DEFAULT_THRESHOLD, 5) {
            Err(RecordsError::BadQuery(m)) => assert!(m.contains("initials"), "{m}"),
            other => panic!("{query:?}: {other:?}"),
        }
    }
    // One whole name beside an initial is a query (a registry's "A. MENSAH"), and a
    // name of one character in another script is a whole name (李 is LI).
    let found = search(&store, &q("A", "MENSAH", None), DEFAULT_THRESHOLD, 5).unwrap();
    assert_eq!(found.len(), 1);
    search(&store, &q("明", "李", None), DEFAULT_THRESHOLD, 5).unwrap();
}
