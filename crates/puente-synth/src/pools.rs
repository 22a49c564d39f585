//! Name pools: the given names and surnames each nationality's passports print, read from
//! `data/names/*.txt` (built into the crate, parsed once on first use). [`crate::person`](mod@crate::person)
//! draws from them with falling weights, so a few names are very common (as HOSSAIN,
//! SINGH or RODRÍGUEZ are) and a long tail is rare.
//!
//! # File format
//! One file per naming tradition. `#` starts a comment line; blank lines are ignored.
//! Settings come first, as `key: value`:
//! - `nationalities:` the alpha-3 codes whose passports use these pools; `*` marks the
//!   one file that serves every nationality no other file names.
//! - `double surname:` / `double given name:` `yes` or `no` (Spanish-style two surnames;
//!   two given names often).
//! - `female surname suffix:` letters a woman's surname takes (Uzbek ALIEV → ALIEVA).
//! - `surname from father:` `yes` where the surname is the father's given name.
//!
//! Then lists, each under a header naming one or more of `male`, `female`, `surnames`,
//! `syllables` (`[male, female, syllables]`: one list serving the three), one name per
//! line, most common first. A name is words of capital letters, `-` or `'`, separated by
//! single spaces. A name twice in one list is an error.

use std::sync::OnceLock;

use crate::error::PoolError;

/// The files, in the order they are read.
const FILES: &[(&str, &str)] = &[
    ("afghan.txt", include_str!("../data/names/afghan.txt")),
    ("angolan.txt", include_str!("../data/names/angolan.txt")),
    ("bengali.txt", include_str!("../data/names/bengali.txt")),
    (
        "central_african.txt",
        include_str!("../data/names/central_african.txt"),
    ),
    ("chinese.txt", include_str!("../data/names/chinese.txt")),
    ("ghanaian.txt", include_str!("../data/names/ghanaian.txt")),
    ("haitian.txt", include_str!("../data/names/haitian.txt")),
    ("horn.txt", include_str!("../data/names/horn.txt")),
    ("nepali.txt", include_str!("../data/names/nepali.txt")),
    ("somali.txt", include_str!("../data/names/somali.txt")),
    (
        "south_asian.txt",
        include_str!("../data/names/south_asian.txt"),
    ),
    ("spanish.txt", include_str!("../data/names/spanish.txt")),
    (
        "sri_lankan.txt",
        include_str!("../data/names/sri_lankan.txt"),
    ),
    ("uzbek.txt", include_str!("../data/names/uzbek.txt")),
    (
        "west_african.txt",
        include_str!("../data/names/west_african.txt"),
    ),
];

/// The pools of one naming tradition (one file).
#[derive(Debug)]
pub(crate) struct Tradition {
    /// The file it was read from.
    pub file: &'static str,
    /// Nationalities it serves; `*` for every other one.
    pub nationalities: Vec<&'static str>,
    pub male: Vec<&'static str>,
    pub female: Vec<&'static str>,
    pub surnames: Vec<&'static str>,
    /// Given names are one or two of these, combined freely (Chinese).
    pub syllables: Vec<&'static str>,
    /// Two surnames (Spanish style).
    pub double_surname: bool,
    /// Two given names often.
    pub double_given: bool,
    /// Appended to a woman's surname.
    pub female_surname_suffix: &'static str,
    /// The surname is the father's given name (and maybe the grandfather's).
    pub surname_from_father: bool,
}

/// Served when the pools do not load, so that generation degrades to placeholder names
/// instead of panicking; [`check`] reports the cause.
static EMPTY: Tradition = Tradition {
    file: "",
    nationalities: Vec::new(),
    male: Vec::new(),
    female: Vec::new(),
    surnames: Vec::new(),
    syllables: Vec::new(),
    double_surname: false,
    double_given: false,
    female_surname_suffix: "",
    surname_from_father: false,
};

static POOLS: OnceLock<Result<Vec<Tradition>, PoolError>> = OnceLock::new();

fn pools() -> &'static Result<Vec<Tradition>, PoolError> {
    POOLS.get_or_init(|| parse_all(FILES))
}

/// Whether the built-in name pools load; the error names the file and line.
pub fn check() -> Result<(), PoolError> {
    pools().as_ref().map(|_| ()).map_err(Clone::clone)
}

/// The pools a nationality's passports draw names from.
pub(crate) fn tradition_of(nationality: &str) -> &'static Tradition {
    let Ok(all) = pools() else {
        return &EMPTY;
    };
    all.iter()
        .find(|t| t.nationalities.contains(&nationality))
        .or_else(|| all.iter().find(|t| t.nationalities.contains(&"*")))
        .unwrap_or(&EMPTY)
}

/// Parses every file and checks them together: each nationality in one file only, and
/// exactly one file marked `*`.
fn parse_all(files: &[(&'static str, &'static str)]) -> Result<Vec<Tradition>, PoolError> {
    let mut all: Vec<Tradition> = Vec::with_capacity(files.len());
    for (file, text) in files {
        let t = parse(file, text)?;
        for n in &t.nationalities {
            if let Some(other) = all.iter().find(|o| o.nationalities.contains(n)) {
                return Err(PoolError {
                    file,
                    line: 0,
                    reason: format!("nationality {n} is already served by {}", other.file),
                });
            }
        }
        all.push(t);
    }
    if !all.iter().any(|t| t.nationalities.contains(&"*")) {
        return Err(PoolError {
            file: "*.txt",
            line: 0,
            reason: "no file serves the other nationalities (`nationalities: … *`)".into(),
        });
    }
    Ok(all)
}

/// Parses one file (see the module documentation for the format).
fn parse(file: &'static str, text: &'static str) -> Result<Tradition, PoolError> {
    let mut t = Tradition {
        file,
        nationalities: Vec::new(),
        male: Vec::new(),
        female: Vec::new(),
        surnames: Vec::new(),
        syllables: Vec::new(),
        ..EMPTY
    };
    let mut nationalities_seen = false;
    // Which lists the current section fills; empty before the first header.
    let mut section: Vec<&'static str> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |reason: String| PoolError { file, line, reason };
        let s = raw.trim();
        if s.is_empty() || s.starts_with('#') {
            continue;
        }
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| err(format!("header {s:?} does not end with ]")))?;
            section = inner.split(',').map(str::trim).collect();
            for name in &section {
                if !["male", "female", "surnames", "syllables"].contains(name) {
                    return Err(err(format!(
                        "unknown list {name:?} (male, female, surnames or syllables)"
                    )));
                }
                if !list(&mut t, name).is_empty() {
                    return Err(err(format!("list {name} is given twice")));
                }
            }
            continue;
        }
        if section.is_empty() {
            let (key, value) = s
                .split_once(':')
                .ok_or_else(|| err(format!("{s:?} is neither `key: value` nor a [list]")))?;
            let value = value.trim();
            let yes_no = |v: &str| match v {
                "yes" => Ok(true),
                "no" => Ok(false),
                _ => Err(err(format!("{key}: {v:?} is neither yes nor no"))),
            };
            match key.trim() {
                "nationalities" => {
                    for n in value.split_whitespace() {
                        let valid =
                            n == "*" || (n.len() == 3 && n.bytes().all(|b| b.is_ascii_uppercase()));
                        if !valid {
                            return Err(err(format!("{n:?} is not an alpha-3 code nor *")));
                        }
                        t.nationalities.push(n);
                    }
                    nationalities_seen = true;
                }
                "double surname" => t.double_surname = yes_no(value)?,
                "double given name" => t.double_given = yes_no(value)?,
                "female surname suffix" => t.female_surname_suffix = value,
                "surname from father" => t.surname_from_father = yes_no(value)?,
                other => return Err(err(format!("unknown setting {other:?}"))),
            }
            continue;
        }
        if !is_name(s) {
            return Err(err(format!(
                "{s:?} is not a name (capital letters, - or ', single spaces)"
            )));
        }
        for name in &section {
            let names = list(&mut t, name);
            if let Some(first) = names.iter().position(|n| *n == s) {
                return Err(err(format!(
                    "{s} is already in the {name} list (its entry {})",
                    first + 1
                )));
            }
            names.push(s);
        }
    }
    let whole = |reason: &str| PoolError {
        file,
        line: 0,
        reason: reason.into(),
    };
    if !nationalities_seen || t.nationalities.is_empty() {
        return Err(whole("no `nationalities:` line"));
    }
    if t.male.is_empty() || t.female.is_empty() || t.surnames.is_empty() {
        return Err(whole(
            "the male, female and surnames lists must not be empty",
        ));
    }
    Ok(t)
}

fn list<'a>(t: &'a mut Tradition, name: &str) -> &'a mut Vec<&'static str> {
    match name {
        "male" => &mut t.male,
        "female" => &mut t.female,
        "syllables" => &mut t.syllables,
        _ => &mut t.surnames,
    }
}

fn is_name(s: &str) -> bool {
    s.split(' ').all(|word| {
        !word.is_empty()
            && word
                .chars()
                .all(|c| (c.is_alphabetic() && !c.is_lowercase()) || c == '-' || c == '\'')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_parses_without_duplicates() {
        for (file, text) in FILES {
            let t = parse(file, text).unwrap_or_else(|e| panic!("{e}"));
            assert!(t.male.len() >= 10 && t.surnames.len() >= 10, "{file}");
        }
        let all = parse_all(FILES).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(all.len(), FILES.len());
        check().unwrap();
    }

    #[test]
    fn every_file_is_listed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/names");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let listed: Vec<&str> = FILES.iter().map(|(f, _)| *f).collect();
        assert_eq!(on_disk, listed, "FILES must list every file of {dir:?}");
    }

    #[test]
    fn every_nationality_has_its_own_pools() {
        for (nat, _) in crate::NATIONALITIES {
            let t = tradition_of(nat);
            assert!(
                t.nationalities.contains(nat),
                "{nat} falls back to {} instead of having pools",
                t.file
            );
        }
        assert_eq!(tradition_of("XXX").file, "somali.txt");
    }

    fn refusal(text: &'static str) -> String {
        match parse("t.txt", text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_files_are_refused_with_file_and_line() {
        const HEAD: &str = "nationalities: ABC\n";
        let e = refusal("nationalities: ABC\n[male]\nANA\nLUIS\nANA\n[female]\nX\n[surnames]\nY\n");
        assert!(
            e.contains("t.txt line 5") && e.contains("ANA is already in the male list"),
            "{e}"
        );
        let e = refusal("nationalities: ABC\n[male]\nana\n");
        assert!(e.contains("line 3") && e.contains("not a name"), "{e}");
        let e = refusal("nationalities: ABC\n[male]\nDE  LA\n");
        assert!(e.contains("not a name"), "{e}");
        let e = refusal("nationalities: ABC\n[boys]\n");
        assert!(e.contains("line 2") && e.contains("unknown list"), "{e}");
        let e = refusal("nationalities: ABC\n[male\n");
        assert!(e.contains("does not end with ]"), "{e}");
        let e = refusal("nationalities: ABC\n[male]\nA\n[male]\n");
        assert!(e.contains("line 4") && e.contains("given twice"), "{e}");
        let e = refusal("nationalities: abc\n");
        assert!(e.contains("line 1") && e.contains("alpha-3"), "{e}");
        let e = refusal("nationalities: ABC\ndouble surname: maybe\n");
        assert!(
            e.contains("line 2") && e.contains("neither yes nor no"),
            "{e}"
        );
        let e = refusal("nationalities: ABC\ncolour: red\n");
        assert!(e.contains("unknown setting"), "{e}");
        let e = refusal("JOSE\n");
        assert!(
            e.contains("line 1") && e.contains("neither `key: value`"),
            "{e}"
        );
        let e = refusal("double surname: no\n[male]\nA\n[female]\nB\n[surnames]\nC\n");
        assert!(e.contains("no `nationalities:` line"), "{e}");
        let e = refusal(HEAD);
        assert!(e.contains("must not be empty"), "{e}");
        assert!(parse(
            "t.txt",
            "nationalities: ABC\n[male, female]\nA\n[surnames]\nB\n"
        )
        .is_ok());
    }

    #[test]
    fn files_that_overlap_or_leave_nationalities_unserved_are_refused() {
        const A: &str = "nationalities: ABC *\n[male, female, surnames]\nA\n";
        const B: &str = "nationalities: DEF ABC\n[male, female, surnames]\nB\n";
        const C: &str = "nationalities: DEF\n[male, female, surnames]\nB\n";
        let e = parse_all(&[("a.txt", A), ("b.txt", B)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("b.txt") && e.contains("ABC is already served by a.txt"),
            "{e}"
        );
        let e = parse_all(&[("c.txt", C)]).unwrap_err().to_string();
        assert!(e.contains("no file serves the other nationalities"), "{e}");
        assert!(parse_all(&[("a.txt", A), ("c.txt", C)]).is_ok());
    }
}
