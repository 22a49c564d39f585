use std::collections::{BTreeMap, BTreeSet};

use super::*;

/// The families names.rs carried before the tables became data; each must still map
/// every member to the first.
const OLD_FAMILIES: &[&[&str]] = &[
    &[
        "MUHAMMAD",
        "MOHAMMAD",
        "MOHAMMED",
        "MOHAMED",
        "MOHAMAD",
        "MUHAMMED",
        "MUHAMAD",
        "MOHAMMOD",
        "MOHAMMAED",
        "MAHAMMAD",
        "MAXAMED",
        "MD",
        "MOHD",
        "MUHD",
        "MOH",
        "MOHAMMUD",
        "MAHOMED",
    ],
    &[
        "HOSSAIN", "HOSSEIN", "HUSSAIN", "HUSAIN", "HUSSEIN", "HOSEN", "HOSSEN", "HOSAIN",
        "HUSEIN", "HUSSEN",
    ],
    &["AHMED", "AHMAD", "AHMET", "AHAMED", "AHMMED"],
    &["ABDUL", "ABDEL", "ABDOUL", "ABDULL", "ABDOL"],
    &[
        "YUSUF", "YOUSSEF", "YOUSEF", "YUSSUF", "JUSUF", "YOUSUF", "YOSEF",
    ],
    &[
        "CHOWDHURY",
        "CHOUDHURY",
        "CHAUDHARY",
        "CHOUDHARY",
        "CHOWDHARY",
        "CHAUDHRY",
        "CHOUDHURI",
    ],
    &["TESFAY", "TESFAYE", "TESFAI"],
    &["GEBREMEDHIN", "GHEBREMEDHIN", "GEBREMEDHN", "GEBREMEDIN"],
    &["MUSTAFA", "MUSTAPHA", "MOSTAFA"],
    &["IBRAHIM", "EBRAHIM", "IBRAHEEM", "IBRAHIMA"],
    &["MAHMOUD", "MAHMUD", "MAHMOOD"],
    &["OSMAN", "USMAN", "OTHMAN", "UTHMAN"],
    &["JOSEPH", "JOSEF", "JOZEF", "YOSEPH"],
    &["KHADIJA", "KHADIJAH", "KADIJA", "HADIJA"],
    &["FATIMA", "FATEMA", "FATMA", "FATIMAH"],
    &["ALI", "ALY"],
    &["ISLAM", "ESLAM"],
    &["RAHMAN", "REHMAN", "RAHMANE"],
    &["UDDIN", "UDIN", "UDDEEN", "EDDIN"],
    &["BEGUM", "BEGOM", "BEGAM"],
    &["AKTER", "AKTAR", "AKHTER", "AKHTAR"],
];

/// Short forms that collide with a form of another table on purpose, and why.
const DELIBERATE_COLLISIONS: &[(&str, &str)] = &[
    (
        "JAN",
        "Creole JEAN; also Wade-Giles for pinyin RAN (syllable table only)",
    ),
    (
        "PYE",
        "Creole PIERRE; also Yale for pinyin PIE (syllable table only)",
    ),
    ("MAK", "Creole MARC; also Cantonese MAK for the surname MAI"),
];

fn all_files() -> Vec<(&'static str, &'static str)> {
    let mut files = FAMILY_FILES.to_vec();
    files.push(CHINESE);
    files
}

/// A parsed table line and the file it came from.
struct Line {
    file: &'static str,
    forms: Vec<&'static str>,
}

impl Line {
    fn canonical(&self) -> &'static str {
        self.forms[0]
    }
}

fn lines_of(files: &[(&'static str, &'static str)]) -> Vec<Line> {
    files
        .iter()
        .flat_map(|(file, text)| {
            parse_families(file, text)
                .0
                .into_iter()
                .map(move |forms| Line { file, forms })
        })
        .collect()
}

/// Every family of the tables [`canonicals`] reads.
fn families() -> Vec<Line> {
    lines_of(FAMILY_FILES)
}

fn syllable_lines() -> Vec<Line> {
    lines_of(&[CHINESE])
}

fn particles() -> BTreeSet<&'static str> {
    parse_particles(PARTICLES.0, PARTICLES.1)
        .0
        .into_iter()
        .collect()
}

#[test]
fn every_file_parses_without_errors() {
    let mut report = Vec::new();
    for (file, text) in all_files() {
        let (families, errors) = parse_families(file, text);
        report.extend(errors.iter().map(ToString::to_string));
        assert!(!families.is_empty(), "{file} has no entries");
    }
    let (particles, errors) = parse_particles(PARTICLES.0, PARTICLES.1);
    report.extend(errors.iter().map(ToString::to_string));
    assert!(!particles.is_empty());
    assert!(report.is_empty(), "malformed lines:\n{}", report.join("\n"));
}

#[test]
fn malformed_lines_are_reported_with_file_and_line() {
    let (families, errors) = parse_families(
        "test.txt",
        "# comment\n\nJEAN = JAN\nJOSE = Jose\nMARIA MA\nLUIS = LUIZ, LUIZ\nA = B = C\n",
    );
    assert_eq!(families.len(), 1);
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![4, 5, 6, 7]);
    assert!(errors[0]
        .to_string()
        .starts_with("data/spelling/test.txt:4:"));
    let (particles, errors) = parse_particles("p.txt", "DE\nDE LA\nvan\n");
    assert_eq!(particles, vec!["DE"]);
    assert_eq!(errors.len(), 2);
}

#[test]
fn forms_are_upper_case_words_with_single_spaces() {
    for (file, text) in all_files().into_iter().chain([PARTICLES]) {
        for (line, content) in content_lines(text) {
            let letters_only = content
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b" =,".contains(&b));
            assert!(letters_only, "{file}:{line}: {content}");
            assert!(!content.contains("  "), "{file}:{line}: double space");
        }
    }
}

#[test]
fn the_documented_examples_hold() {
    assert_eq!(canonicals("MD"), ["MUHAMMAD"]);
    assert_eq!(canonicals("MUHAMMAD"), ["MUHAMMAD"]);
    assert_eq!(canonicals("LWI"), ["LOUIS"]);
    assert_eq!(canonicals("JANBATIS"), ["JEAN BAPTISTE"]);
    assert_eq!(canonicals("GHEBREMEDHIN"), ["GEBREMEDHIN"]);
    assert_eq!(canonicals("XIMENEZ"), ["JIMENEZ"]);
    assert_eq!(canonicals("CHEUNG"), ["ZHANG"]);
    assert_eq!(canonicals("NG"), ["HUANG", "WU"]);
    assert_eq!(canonicals("JN"), ["JEAN"]);
    assert!(canonicals("QWXZ").is_empty());

    let jean: &[String] = &["JEAN BAPTISTE".to_string()];
    assert_eq!(phrase_at(&["JAN", "BATIS", "PAUL"], 0), Some((2, jean)));
    assert_eq!(phrase_at(&["JEAN", "BAPTISTE"], 0), Some((2, jean)));
    assert_eq!(phrase_at(&["JN", "BAPTISTE"], 0), Some((2, jean)));
    let habib: &[String] = &["HABIBULLAH".to_string()];
    assert_eq!(phrase_at(&["HABIB", "ULLAH"], 0), Some((2, habib)));
    let abd: &[String] = &["ABDULRAHMAN".to_string()];
    assert_eq!(phrase_at(&["X", "ABD", "AL", "RAHMAN"], 1), Some((3, abd)));
    let g: &[String] = &["GEBREMEDHIN".to_string()];
    assert_eq!(phrase_at(&["G", "MEDHIN"], 0), Some((2, g)));
    assert_eq!(
        phrase_at(&["RAFIQ", "UL", "ISLAM"], 0).map(|p| p.0),
        Some(2)
    );
    assert_eq!(phrase_at(&["JAN", "BATIS"], 1), None);
    assert_eq!(phrase_at(&["JAN"], 5), None);
    assert_eq!(phrase_at(&[], 0), None);

    assert_eq!(pinyin("HSIULAN"), Some(vec!["XIU", "LAN"]));
    assert_eq!(pinyin("XIULAN"), Some(vec!["XIU", "LAN"]));
    assert_eq!(pinyin("HSIEH"), Some(vec!["XIE"]));
    assert_eq!(pinyin("CHOW"), Some(vec!["ZHOU"]));
    assert_eq!(pinyin("XIAN"), Some(vec!["XIAN"]));
    assert_eq!(pinyin("CHI"), Some(vec!["CHI"]));
    assert_eq!(pinyin("CHIH"), Some(vec!["ZHI"]));
    assert_eq!(pinyin("TSEDONG"), Some(vec!["XIE", "DONG"]));
    assert_eq!(pinyin("MOHAMMED"), None);
    assert_eq!(pinyin("ANA"), None);
    assert_eq!(pinyin("E"), Some(vec!["E"]));
    assert_eq!(pinyin("YONGAN"), Some(vec!["YONG", "AN"]));
    assert_eq!(pinyin(""), None);
    assert_eq!(pinyin("xiu"), None);
    assert_eq!(pinyin(&"A".repeat(25)), None);
}

#[test]
fn is_particle_reads_the_list() {
    for p in ["DE", "DEL", "VAN", "AL", "BIN", "Y"] {
        assert!(is_particle(p), "{p}");
    }
    assert!(!is_particle("ABU"));
    assert!(!is_particle("SAINT"), "part of SAINT-FLEUR");
    assert!(!is_particle("MARIA"));
}

#[test]
fn the_syllable_table_covers_pinyin() {
    let lines = syllable_lines();
    let pinyin_count = lines.len();
    assert!(
        (400..=420).contains(&pinyin_count),
        "{pinyin_count} syllables"
    );
    let canon: BTreeSet<&str> = lines.iter().map(Line::canonical).collect();
    assert_eq!(canon.len(), pinyin_count, "a syllable has two lines");
    for s in ["ZHUANG", "XIU", "LYU", "ER", "A", "E", "O"] {
        assert!(canon.contains(s), "{s}");
    }
    // Every pinyin syllable segments to itself.
    for s in &canon {
        assert_eq!(pinyin(s), Some(vec![*s]), "{s}");
    }
}

/// Particles that are also names: the matcher reads a particle as one only between two
/// words (a particle leads into the name after it), so as a first or last word these are
/// names (JIEFEI DU, the surname 杜).
const PARTICLES_THAT_ARE_NAMES: &[&str] = &["DU"];

#[test]
fn no_particle_is_a_name() {
    let particles = particles();
    let families = families();
    let clashes: Vec<String> = families
        .iter()
        .flat_map(|f| f.forms.iter().map(move |form| (f.file, *form)))
        .filter(|(_, form)| particles.contains(form))
        .filter(|(_, form)| !PARTICLES_THAT_ARE_NAMES.contains(form))
        .map(|(file, form)| format!("{form} in {file}"))
        .collect();
    assert!(clashes.is_empty(), "particles used as names: {clashes:?}");
}

/// Report of forms that are canonical in one family and a variant in another: such a
/// chain (A = B in one line, B = C in another) would make B mean two things at once.
/// Forms that are variants in two families are allowed (NG = WU, HUANG) and printed.
#[test]
fn canonical_and_variant_forms_are_consistent() {
    let families = families();
    let mut canonical_in: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut variant_in: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for f in &families {
        canonical_in
            .entry(f.canonical())
            .or_default()
            .insert(f.file);
        for v in &f.forms[1..] {
            variant_in
                .entry(v)
                .or_default()
                .insert(format!("{} ({})", f.canonical(), f.file));
        }
    }
    let chains: Vec<String> = variant_in
        .iter()
        .filter_map(|(v, of)| {
            let files = canonical_in.get(v)?;
            Some(format!("{v}: canonical in {files:?}, variant of {of:?}"))
        })
        .collect();
    assert!(
        chains.is_empty(),
        "chained families:\n{}",
        chains.join("\n")
    );
    let shared: Vec<String> = variant_in
        .iter()
        .filter(|(_, of)| of.len() > 1)
        .map(|(v, of)| format!("{v}: {of:?}"))
        .collect();
    println!(
        "forms in more than one family ({}):\n{}",
        shared.len(),
        shared.join("\n")
    );
}

/// Abbreviations, and short forms of the non-Chinese tables, must not be forms of a name
/// in another table (or romanized Chinese syllables) unless listed as deliberate.
#[test]
fn short_forms_do_not_collide_with_other_tables() {
    let families = families();
    let syllables = syllable_lines();
    let mut files_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for f in families.iter().chain(&syllables) {
        for form in &f.forms {
            files_of.entry(form).or_default().insert(f.file);
        }
    }
    let chinese = ["chinese_surnames.txt", "chinese.txt"];
    let mut collisions = Vec::new();
    for f in &families {
        if chinese.contains(&f.file) {
            continue;
        }
        for form in &f.forms[1..] {
            let short = form.len() <= 3 || f.file == "abbreviations.txt";
            if !short || DELIBERATE_COLLISIONS.iter().any(|(d, _)| d == form) {
                continue;
            }
            let others: Vec<&&str> = files_of[form].iter().filter(|&&o| o != f.file).collect();
            if !others.is_empty() {
                collisions.push(format!("{form} ({}) also in {others:?}", f.file));
            }
        }
    }
    assert!(collisions.is_empty(), "{collisions:#?}");
    for (form, _) in DELIBERATE_COLLISIONS {
        assert!(files_of.contains_key(form), "{form} is no longer listed");
    }
}

#[test]
fn every_old_family_is_present() {
    for family in OLD_FAMILIES {
        for member in *family {
            assert!(
                canonicals(member).iter().any(|c| c == family[0]),
                "{member} no longer maps to {}",
                family[0]
            );
        }
    }
}

#[test]
fn families_have_the_promised_sizes() {
    let families = families();
    let count = |file: &str| families.iter().filter(|f| f.file == file).count();
    assert!(count("haitian_creole.txt") >= 150);
    assert!(count("arabic_south_asian.txt") >= 200);
    assert!(count("ethiopic.txt") >= 80);
    assert!(count("iberian.txt") >= 80);
}
