//! Sound keys: a comparison form under which spellings of one name in two orthographies
//! agree (French and Haitian Creole: JEAN / JAN, LOUIS / LWI, PIERRE / PYE). The rules are
//! data (`data/phonetic/*.rules`, with their sources), embedded at build time; this module
//! only runs them. Pure: no store, no I/O.

use std::sync::LazyLock;

/// A rule's condition on where it applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Context {
    Anywhere,
    Start,
    End,
    /// Followed by a vowel.
    Vowel,
    /// Followed by E, I or Y.
    Front,
    /// Followed by A, O or U.
    Back,
    /// Followed by a consonant or the end.
    Consonant,
}

/// One rewrite rule, or the collapsing of doubled letters.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Rule {
    Rewrite {
        from: Vec<u8>,
        to: Vec<u8>,
        at: Context,
    },
    Doubles,
}

const FRENCH_CREOLE: &str = include_str!("../data/phonetic/french_creole.rules");

/// The rules of one file; a line that is not a rule is an error naming it.
fn parse(text: &str) -> Result<Vec<Rule>, String> {
    let mut rules = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| format!("line {}: {why}: {line:?}", n + 1);
        if line == "!DOUBLES" {
            rules.push(Rule::Doubles);
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(from), Some(to), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected `FROM TO`"));
        };
        let (from, at) = if let Some(f) = from.strip_prefix('^') {
            (f, Context::Start)
        } else if let Some(f) = from.strip_suffix('$') {
            (f, Context::End)
        } else if let Some((f, c)) = from.split_once('/') {
            let at = match c {
                "V" => Context::Vowel,
                "F" => Context::Front,
                "B" => Context::Back,
                "C" => Context::Consonant,
                _ => return Err(bad("unknown context")),
            };
            (f, at)
        } else {
            (from, Context::Anywhere)
        };
        if from.is_empty() || !from.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(bad("FROM must be upper-case letters"));
        }
        let to = if to == "-" { "" } else { to };
        if !to.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(bad("TO must be letters or -"));
        }
        rules.push(Rule::Rewrite {
            from: from.as_bytes().to_vec(),
            to: to.as_bytes().to_vec(),
            at,
        });
    }
    Ok(rules)
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    parse(FRENCH_CREOLE).unwrap_or_else(|e| {
        // A unit test parses every rules file; a broken one never ships.
        tracing::error!("phonetic rules: {e}");
        Vec::new()
    })
});

fn is_vowel(b: u8) -> bool {
    matches!(
        b.to_ascii_uppercase(),
        b'A' | b'E' | b'I' | b'O' | b'U' | b'Y'
    )
}

fn holds(at: Context, word: &[u8], start: usize, end: usize) -> bool {
    let next = word.get(end).copied();
    match at {
        Context::Anywhere => true,
        Context::Start => start == 0,
        Context::End => end == word.len(),
        Context::Vowel => next.is_some_and(is_vowel),
        Context::Front => {
            next.is_some_and(|b| matches!(b.to_ascii_uppercase(), b'E' | b'I' | b'Y'))
        }
        Context::Back => next.is_some_and(|b| matches!(b.to_ascii_uppercase(), b'A' | b'O' | b'U')),
        Context::Consonant => !next.is_some_and(is_vowel),
    }
}

fn run(rules: &[Rule], token: &str) -> String {
    let mut word: Vec<u8> = token.bytes().filter(u8::is_ascii_uppercase).collect();
    let mut out = Vec::with_capacity(word.len() + 4);
    for rule in rules {
        match rule {
            Rule::Doubles => word.dedup_by(|a, b| a.eq_ignore_ascii_case(b)),
            Rule::Rewrite { from, to, at } => {
                out.clear();
                let mut i = 0;
                while i < word.len() {
                    let end = i + from.len();
                    if word.get(i..end) == Some(from.as_slice()) && holds(*at, &word, i, end) {
                        out.extend_from_slice(to);
                        i = end;
                    } else {
                        out.push(word[i]);
                        i += 1;
                    }
                }
                std::mem::swap(&mut word, &mut out);
            }
        }
    }
    word.make_ascii_uppercase();
    String::from_utf8(word).unwrap_or_default()
}

/// The sound key of a folded token (A-Z): equal for JEAN and JAN, LOUIS and LWI.
pub fn sound(token: &str) -> String {
    run(&RULES, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_file_parses() {
        let rules = parse(FRENCH_CREOLE).unwrap();
        assert!(rules.len() > 30);
        assert_eq!(RULES.len(), rules.len());
        assert!(parse("AB c d").unwrap_err().contains("line 1"));
        assert!(parse("# x\nAB/Q c").unwrap_err().contains("line 2"));
        assert!(parse("ab c").is_err());
        assert!(parse("AB C1").is_err());
    }

    #[test]
    fn french_and_creole_spellings_sound_alike() {
        let mut wrong = Vec::new();
        for (french, creole) in [
            ("JEAN", "JAN"),
            ("LOUIS", "LWI"),
            ("PIERRE", "PYE"),
            ("ALEXIS", "ALEKSI"),
            ("JEANBAPTISTE", "JANBATIS"),
            ("BAPTISTE", "BATIS"),
            ("JOSEPH", "JOZEF"),
            ("ANTOINE", "ANTWAN"),
            ("CLAUDE", "KLOD"),
            ("VINCENT", "VENSAN"),
            ("LUCIEN", "LISYEN"),
            ("ETIENNE", "ETYEN"),
            ("ROBERT", "WOBE"),
            ("GEORGES", "JOJ"),
            ("JACQUES", "JAK"),
            ("FELIX", "FELIKS"),
            ("JOSUE", "JOZWE"),
            ("ROSE", "WOZ"),
            // U before a vowel is a glide, written W.
            ("EMMANUEL", "EMANWEL"),
            ("SAMUEL", "SAMWEL"),
            ("MANUEL", "MANWEL"),
        ] {
            if sound(french) != sound(creole) {
                wrong.push(format!(
                    "{french}={} / {creole}={}",
                    sound(french),
                    sound(creole)
                ));
            }
        }
        assert!(wrong.is_empty(), "{wrong:?}");
    }

    #[test]
    fn different_names_keep_different_keys() {
        for (a, b) in [
            ("JEAN", "JUAN"),
            ("PIERRE", "PAUL"),
            ("LOUIS", "LUC"),
            ("MARIE", "MARC"),
            // The glide rule leaves U before a consonant a vowel.
            ("JUDE", "JWED"),
            ("EMMANUEL", "EMMANIEL"),
        ] {
            assert_ne!(sound(a), sound(b), "{a} / {b}");
        }
        assert_eq!(sound(""), "");
        assert_eq!(sound("é"), "");
    }
}
