//! Hanyu Pinyin names as Wade-Giles writes them (Taiwan's passports until 2009, older
//! documents, the Chinese diaspora of the Americas), and surnames in the Cantonese
//! forms of Hong Kong and Macao documents.
//!
//! Pinyin is cut into syllables by its own rules (an initial and a final; only the
//! first syllable may lack an initial, since pinyin writes an apostrophe before a
//! vowel-initial syllable inside a word), then each syllable is converted:
//!
//! - initials: ZH, CH, J, Q → CH; X → HS; Z, C → TS; R → J; G → K; D → T; B → P (the
//!   aspiration apostrophe of K', T', P', CH', TS' is dropped, as passports drop it);
//! - finals: -ONG → -UNG, -IONG → -IUNG, -IAN → -IEN (YAN → YEN), -IE → -IEH (YE →
//!   YEH), -ÜE → -ÜEH, -UI → -UEI after G/K, -UO → -O after D/T/N/L/Z/C/S/ZH/CH/R,
//!   -E → -O after G/K/H; the "empty" I after ZH/CH/SH/R → -IH, and after Z/C/S → -U
//!   (ZI → TZU, CI → TZU, SI → SSU); YI → I, YOU → YU, ER → ERH;
//! - a given name of two syllables is written hyphenated (XIULAN → HSIU-LAN).
//!
//! Umlauts are dropped (Ü → U), as machine-readable zones drop them.

/// Pinyin initials, longest first.
const INITIALS: &[&str] = &[
    "ZH", "CH", "SH", "B", "P", "M", "F", "D", "T", "N", "L", "G", "K", "H", "J", "Q", "X", "R",
    "Z", "C", "S", "Y", "W",
];

/// Pinyin finals, longest first.
const FINALS: &[&str] = &[
    "IANG", "IONG", "UANG", "ANG", "ENG", "ING", "ONG", "UAN", "IAN", "IAO", "UAI", "AI", "EI",
    "AO", "OU", "AN", "EN", "IN", "UN", "UA", "UO", "UI", "IA", "IE", "IU", "UE", "ER", "A", "O",
    "E", "I", "U", "V",
];

/// Whether pinyin allows `initial` + `fin` (a coarse check: enough to cut names).
fn allowed(initial: &str, fin: &str) -> bool {
    match initial {
        "" => matches!(
            fin,
            "A" | "O" | "E" | "AI" | "EI" | "AO" | "OU" | "AN" | "EN" | "ANG" | "ENG" | "ER"
        ),
        "Y" => matches!(
            fin,
            "A" | "E"
                | "AO"
                | "OU"
                | "AN"
                | "IN"
                | "ANG"
                | "ING"
                | "ONG"
                | "U"
                | "UE"
                | "UAN"
                | "UN"
                | "I"
        ),
        "W" => matches!(
            fin,
            "A" | "O" | "AI" | "EI" | "AN" | "EN" | "ANG" | "ENG" | "U"
        ),
        "J" | "Q" | "X" => fin.starts_with('I') || matches!(fin, "U" | "UE" | "UAN" | "UN" | "V"),
        "ZH" | "CH" | "SH" | "R" | "Z" | "C" | "S" => {
            (!fin.starts_with('I') || fin == "I") && fin != "V" && fin != "ER"
        }
        "B" | "P" | "M" | "F" => {
            (!fin.starts_with('U') || fin == "U") && fin != "ONG" && fin != "ER"
        }
        _ => fin != "ER",
    }
}

fn parse(s: &str, first: bool) -> Option<Vec<(String, String)>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    let initials = INITIALS
        .iter()
        .copied()
        .filter(|i| s.starts_with(i))
        .chain(first.then_some(""));
    for initial in initials {
        let rest = &s[initial.len()..];
        for fin in FINALS.iter().filter(|f| rest.starts_with(*f)) {
            if !allowed(initial, fin) {
                continue;
            }
            if let Some(mut tail) = parse(&rest[fin.len()..], false) {
                tail.insert(0, (initial.to_string(), fin.to_string()));
                return Some(tail);
            }
        }
    }
    None
}

/// A pinyin word cut into (initial, final) syllables, or `None` when it is not pinyin.
pub fn syllables(word: &str) -> Option<Vec<(String, String)>> {
    let w = word.to_ascii_uppercase();
    if w.is_empty() || !w.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    parse(&w, true)
}

fn initial_wg(initial: &str) -> &str {
    match initial {
        "ZH" | "CH" | "J" | "Q" => "CH",
        "X" => "HS",
        "Z" | "C" => "TS",
        "R" => "J",
        "G" => "K",
        "D" => "T",
        "B" => "P",
        other => other,
    }
}

/// One pinyin syllable in Wade-Giles.
pub fn syllable(initial: &str, fin: &str) -> String {
    match (initial, fin) {
        ("Z" | "C", "I") => return "TZU".into(),
        ("S", "I") => return "SSU".into(),
        ("ZH" | "CH" | "SH" | "R", "I") => return format!("{}IH", initial_wg(initial)),
        ("Y", "I") => return "I".into(),
        ("Y", "OU") => return "YU".into(),
        ("", "ER") => return "ERH".into(),
        _ => {}
    }
    let f = match fin {
        "ONG" => "UNG",
        "IONG" => "IUNG",
        "IAN" => "IEN",
        "AN" if initial == "Y" => "EN",
        "IE" => "IEH",
        "E" if initial == "Y" => "EH",
        "UE" => "UEH",
        "UI" if matches!(initial, "G" | "K") => "UEI",
        "UO" if matches!(
            initial,
            "D" | "T" | "N" | "L" | "Z" | "C" | "S" | "ZH" | "CH" | "R"
        ) =>
        {
            "O"
        }
        "E" if matches!(initial, "G" | "K" | "H") => "O",
        "V" => "U",
        f => f,
    };
    format!("{}{f}", initial_wg(initial))
}

/// A pinyin word in Wade-Giles, syllables joined by hyphens.
pub fn word(w: &str) -> Option<String> {
    let s = syllables(w)?;
    Some(
        s.iter()
            .map(|(i, f)| syllable(i, f))
            .collect::<Vec<_>>()
            .join("-"),
    )
}

/// Every token of a field in Wade-Giles (`None` when one is not pinyin).
pub fn field(text: &str) -> Option<String> {
    let words: Option<Vec<String>> = text.split_whitespace().map(word).collect();
    Some(words?.join(" "))
}

/// Pinyin surnames and the Cantonese spelling Hong Kong and Macao documents give them
/// (the Hong Kong government's Cantonese romanisation, as on HKSAR passports and
/// identity cards); for the surnames of the synthetic population.
const CANTONESE: &[(&str, &str)] = &[
    ("CHEN", "CHAN"),
    ("WANG", "WONG"),
    ("HUANG", "WONG"),
    ("ZHANG", "CHEUNG"),
    ("ZHOU", "CHOW"),
    ("LIANG", "LEUNG"),
    ("WU", "NG"),
    ("LIU", "LAU"),
    ("LI", "LEE"),
    ("LIN", "LAM"),
    ("HE", "HO"),
    ("HU", "WU"),
    ("GUO", "KWOK"),
    ("ZHENG", "CHENG"),
    ("XU", "HUI"),
    ("ZHU", "CHU"),
    ("LUO", "LAW"),
    ("DENG", "TANG"),
    ("YE", "YIP"),
    ("CAI", "CHOI"),
    ("TANG", "TONG"),
    ("FENG", "FUNG"),
    ("CAO", "TSO"),
    ("PENG", "PANG"),
    ("ZENG", "TSANG"),
    ("XIAO", "SIU"),
    ("YANG", "YEUNG"),
    ("ZHAO", "CHIU"),
    ("SUN", "SUEN"),
    ("GAO", "KO"),
    ("LIAO", "LIU"),
    ("DU", "TO"),
    ("SONG", "SUNG"),
    ("HAN", "HON"),
    ("TIAN", "TIN"),
    ("DONG", "TUNG"),
    ("PAN", "POON"),
    ("YUAN", "YUEN"),
    ("JIANG", "KONG"),
    ("CHENG", "CHING"),
    ("WEI", "NGAI"),
    ("SU", "SO"),
    ("LU", "LO"),
    ("DING", "TING"),
    ("REN", "YAM"),
    ("SHEN", "SHUM"),
    ("YAO", "YIU"),
    ("CUI", "TSUI"),
    ("ZHONG", "CHUNG"),
    ("TAN", "TAM"),
    ("JIN", "KAM"),
    ("SHI", "SZE"),
    ("JIA", "KA"),
];

/// The Cantonese spelling of a pinyin surname, when the list has it.
pub fn cantonese_surname(surname: &str) -> Option<&'static str> {
    let s = surname.trim().to_ascii_uppercase();
    CANTONESE.iter().find(|(p, _)| *p == s).map(|(_, c)| *c)
}
