//! ICAO Doc 9303 TD3 (passport) machine-readable zones: parsing with full validation
//! (line lengths, character set, layout, all five check digits, calendar dates) and
//! building of the two 44-character lines for synthetic data. Names are transliterated
//! to the MRZ character set with the ICAO 9303 part 3 recommended transliteration of
//! Latin letters with diacritics ([`mrz_name`]). Every error says exactly which line,
//! position or field failed ([`MrzError`]). Not supported: document numbers longer than
//! nine characters (the optional-data overflow), unknown dates of birth written with
//! fillers, and non-Latin scripts (their letters are dropped by [`mrz_name`]).

use std::fmt;

/// Length of each TD3 line.
const LINE_LEN: usize = 44;
/// Length of the name field on line 1 (positions 6-44).
const NAME_LEN: usize = 39;
/// Length of the document number field on line 2 (positions 1-9).
const DOC_NUMBER_LEN: usize = 9;
/// Length of the personal number (optional data) field on line 2 (positions 29-42).
const PERSONAL_LEN: usize = 14;

/// Field names used in [`MrzError::CheckDigit`], in the order the digits are verified.
const F_DOC: &str = "document number";
const F_BIRTH: &str = "date of birth";
const F_EXPIRY: &str = "date of expiry";
const F_PERSONAL: &str = "personal number";
const F_COMPOSITE: &str = "composite";

/// What is wrong with a machine-readable zone, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MrzError {
    /// A line does not have the 44 characters of a TD3 line (after trimming whitespace).
    #[error("MRZ line {line} has {found} characters; TD3 lines have 44")]
    Length {
        /// Line number, 1 or 2.
        line: u8,
        /// Number of characters found.
        found: usize,
    },
    /// A character outside `A-Z`, `0-9`, `<`.
    #[error("MRZ line {line}, position {position}: '{found}' is not allowed (A-Z, 0-9, <)")]
    Charset {
        /// Line number, 1 or 2.
        line: u8,
        /// 1-based character position within the line.
        position: usize,
        /// The offending character.
        found: char,
    },
    /// The document code does not start with `P`, so this is not a passport (TD3) MRZ.
    #[error("MRZ document code {found:?} is not a passport code: the document code of a TD3 MRZ must start with P")]
    NotTd3 {
        /// The document code found.
        found: String,
    },
    /// A check digit does not match its field.
    #[error("MRZ check digit of the {field} fails: computed {expected}, found {found}")]
    CheckDigit {
        /// "document number", "date of birth", "date of expiry", "personal number" or "composite".
        field: &'static str,
        /// The check digit computed from the data.
        expected: char,
        /// The check digit character written in the MRZ.
        found: char,
    },
    /// A date that cannot exist (month 13, day 32, 30 February, non-digits …).
    #[error("MRZ {field} {value:?} is not a possible date (YYMMDD)")]
    Date {
        /// "date of birth" or "date of expiry".
        field: &'static str,
        /// The six characters found (or the date given to the builder, as YYMMDD).
        value: String,
    },
    /// Any other problem with a field.
    #[error("MRZ {field}: {reason}")]
    Field {
        /// The field concerned.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// A date as written in an MRZ: two-digit year, month, day. The century is not
/// recorded; see [`MrzDate::birth_year`] and [`MrzDate::expiry_year`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MrzDate {
    /// Two-digit year, 0-99.
    pub yy: u8,
    /// Month, 1-12.
    pub mm: u8,
    /// Day of month, 1-31.
    pub dd: u8,
}

impl MrzDate {
    /// The MRZ form of a calendar date (the century is dropped).
    pub fn from_date(date: time::Date) -> Self {
        // rem_euclid(100) is in 0..100, so the cast cannot truncate.
        let yy = date.year().rem_euclid(100) as u8;
        MrzDate {
            yy,
            mm: u8::from(date.month()),
            dd: date.day(),
        }
    }

    /// Whether the date can exist: `yy` ≤ 99, month 1-12, day within the month.
    /// 29 February is accepted when `yy` is divisible by 4 (true of 2000 and of
    /// every such 19xx year except 1900; use [`MrzDate::to_date`] for an exact check).
    pub fn is_valid(&self) -> bool {
        let days = match self.mm {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if self.yy.is_multiple_of(4) => 29,
            2 => 28,
            _ => return false,
        };
        self.yy <= 99 && (1..=days).contains(&self.dd)
    }

    /// Full year of a date of birth: a two-digit year greater than `current_year % 100`
    /// lies in the previous century (19xx in 20xx), otherwise in the current one.
    pub fn birth_year(&self, current_year: i32) -> i32 {
        let in_century = current_year.rem_euclid(100);
        let century = current_year - in_century;
        let yy = i32::from(self.yy);
        if yy > in_century {
            century - 100 + yy
        } else {
            century + yy
        }
    }

    /// Full year of a date of expiry: always 20xx (passports expire within a few decades).
    pub fn expiry_year(&self) -> i32 {
        2000 + i32::from(self.yy)
    }

    /// The calendar date in the given full year, or `None` if it does not exist.
    pub fn to_date(&self, year: i32) -> Option<time::Date> {
        let month = time::Month::try_from(self.mm).ok()?;
        time::Date::from_calendar_date(year, month, self.dd).ok()
    }
}

impl fmt::Display for MrzDate {
    /// The MRZ form, `YYMMDD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}{:02}{:02}", self.yy, self.mm, self.dd)
    }
}

/// The data of a TD3 (passport) machine-readable zone, fillers removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Td3 {
    /// Document code, 1-2 characters starting with `P` (e.g. "P", "PD").
    pub document_code: String,
    /// Issuing state or organisation, ICAO code without fillers (e.g. "UTO", "D").
    pub issuing_state: String,
    /// Primary identifier, components separated by single spaces (e.g. "ERIKSSON").
    pub surnames: String,
    /// Secondary identifier, components separated by single spaces (e.g. "ANNA MARIA"); may be empty.
    pub given_names: String,
    /// Document number without fillers (e.g. "L898902C3").
    pub document_number: String,
    /// Nationality, ICAO code without fillers.
    pub nationality: String,
    /// Date of birth.
    pub birth_date: MrzDate,
    /// `Some('M')`, `Some('F')`, or `None` for `<` / `X` (unspecified).
    pub sex: Option<char>,
    /// Date of expiry.
    pub expiry_date: MrzDate,
    /// Personal number / optional data without trailing fillers; may be empty.
    pub personal_number: String,
}

/// Value of an MRZ character for check digits, `None` outside `[0-9A-Z<]`.
fn char_value(c: char) -> Option<u32> {
    match c {
        '<' => Some(0),
        '0'..='9' | 'A'..='Z' => c.to_digit(36),
        _ => None,
    }
}

fn is_mrz_char(c: char) -> bool {
    char_value(c).is_some()
}

/// ICAO 9303 check digit of a field: weights 7, 3, 1 repeating, sum modulo 10.
/// `<` counts 0, digits their value, `A`-`Z` 10-35. `None` if a character is
/// outside `[0-9A-Z<]`.
pub fn check_digit(field: &str) -> Option<u8> {
    const WEIGHTS: [u32; 3] = [7, 3, 1];
    let mut sum = 0u32;
    for (i, c) in field.chars().enumerate() {
        sum = (sum + char_value(c)? * WEIGHTS[i % 3]) % 10;
    }
    // sum < 10
    Some(sum as u8)
}

/// Check digit as a character, for fields whose charset has been validated
/// (anything else would count as 0; callers never pass such fields).
fn check_char(field: &str) -> char {
    char::from(b'0' + check_digit(field).unwrap_or(0))
}

/// Pads `s` with fillers to `len` characters (`s` is ASCII and at most `len` long).
fn pad(s: &str, len: usize) -> String {
    format!("{s:<<len$}")
}

/// ICAO 9303 part 3 recommended transliteration of Latin letters with diacritics
/// (after uppercasing). Letters A-Z pass through unchanged.
const TRANSLITERATION: &[(&str, &str)] = &[
    ("ÁÀÂÃĂĀĄ", "A"),
    ("Ä", "AE"),
    ("Å", "AA"),
    ("Æ", "AE"),
    ("ĆĈČĊÇ", "C"),
    ("ĎĐÐ", "D"),
    ("ÉÈÊËĚĖĒĘĔ", "E"),
    ("ĜĞĠĢ", "G"),
    ("ĦĤ", "H"),
    ("ÍÌÎÏĨİĪĮĬı", "I"),
    ("Ĳ", "IJ"),
    ("Ĵ", "J"),
    ("Ķ", "K"),
    ("ĹĻĽĿŁ", "L"),
    ("ÑŃŇŅŊ", "N"),
    ("ÓÒÔÕŐŌŎ", "O"),
    ("ÖØŒ", "OE"),
    ("ŔŘŖ", "R"),
    ("ŚŠŞŜȘ", "S"),
    ("ẞß", "SS"),
    ("ŢŤŦȚ", "T"),
    ("Þ", "TH"),
    ("ÚÙÛŨŬŰŮŪŲ", "U"),
    ("Ü", "UE"),
    ("Ŵ", "W"),
    ("ÝŶŸ", "Y"),
    ("ŹŽŻ", "Z"),
];

/// Transliterates a name to the MRZ character set (ICAO 9303 part 3): uppercase;
/// Latin letters with diacritics per the ICAO recommended transliteration
/// (Ä→AE, Å→AA, Ö/Ø→OE, Ü→UE, ß→SS, Þ→TH, Ñ→N, É→E, Č→C, Ł→L, İ/ı→I …, also
/// when written with combining marks); apostrophes removed; spaces, hyphens and
/// commas become `<`; every other character (digits, punctuation, other scripts)
/// is removed. Runs of `<` are kept as they are.
pub fn mrz_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for u in name.chars().flat_map(char::to_uppercase) {
        match u {
            'A'..='Z' => out.push(u),
            // Combining diaeresis / ring above after a base letter (decomposed input).
            '\u{308}' if out.ends_with(['A', 'O', 'U']) => out.push('E'),
            '\u{30A}' if out.ends_with('A') => out.push('A'),
            ',' | '-' | '\u{2010}' | '\u{2011}' => out.push('<'),
            c if c.is_whitespace() => out.push('<'),
            c => {
                if let Some((_, to)) = TRANSLITERATION.iter().find(|(from, _)| from.contains(c)) {
                    out.push_str(to);
                }
            }
        }
    }
    out
}

/// Verifies one check digit. `filler_ok`: a `<` check digit is accepted when the
/// computed digit is 0 (personal number field of all fillers).
fn verify(field: &'static str, data: &str, found: char, filler_ok: bool) -> Result<(), MrzError> {
    let expected = check_char(data);
    if found == expected || (filler_ok && found == '<' && expected == '0') {
        Ok(())
    } else {
        Err(MrzError::CheckDigit {
            field,
            expected,
            found,
        })
    }
}

/// A date field of line 2.
fn parse_date(field: &'static str, raw: &str) -> Result<MrzDate, MrzError> {
    let bad = || MrzError::Date {
        field,
        value: raw.to_string(),
    };
    let d: Vec<u8> = raw
        .chars()
        .map(|c| c.to_digit(10).map(|v| v as u8))
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    let [y1, y2, m1, m2, d1, d2] = d[..] else {
        return Err(bad());
    };
    let date = MrzDate {
        yy: y1 * 10 + y2,
        mm: m1 * 10 + m2,
        dd: d1 * 10 + d2,
    };
    if date.is_valid() {
        Ok(date)
    } else {
        Err(bad())
    }
}

/// A state code (issuing state, nationality): letters followed by fillers.
fn parse_code(field: &'static str, raw: &str, line: u8, start: usize) -> Result<String, MrzError> {
    let code = raw.trim_end_matches('<');
    if code.is_empty() || !code.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(MrzError::Field {
            field,
            reason: format!(
                "line {line}, positions {start}-{}: {raw:?} is not a state code (letters followed by fillers)",
                start + raw.len() - 1
            ),
        });
    }
    Ok(code.to_string())
}

/// Joins the non-empty `<`-separated components with `sep`.
fn components(s: &str, sep: &str) -> String {
    s.split('<')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(sep)
}

/// The name field of line 1 into (surnames, given names).
fn parse_names(field: &str) -> Result<(String, String), MrzError> {
    if let Some(i) = field.find(|c: char| c.is_ascii_digit()) {
        return Err(MrzError::Field {
            field: "name",
            reason: format!("line 1, position {}: names cannot contain digits", 6 + i),
        });
    }
    let (primary, secondary) = field.split_once("<<").unwrap_or((field, ""));
    if primary.is_empty() || primary.starts_with('<') {
        return Err(MrzError::Field {
            field: "surname",
            reason: "the primary identifier (line 1, position 6) is empty".to_string(),
        });
    }
    Ok((components(primary, " "), components(secondary, " ")))
}

/// Parses and validates a TD3 (passport) MRZ. Surrounding whitespace of each line is
/// ignored. Checks, in order: lengths (44), character set, document code `P`, the five
/// check digits (document number, date of birth, date of expiry, personal number,
/// composite; the first failure is reported), then the fields themselves (state codes,
/// names, dates, sex). A personal number of all fillers may have check digit `<` or `0`.
pub fn parse_td3(line1: &str, line2: &str) -> Result<Td3, MrzError> {
    let l1 = line1.trim();
    let l2 = line2.trim();
    for (line, l) in [(1u8, l1), (2, l2)] {
        let found = l.chars().count();
        if found != LINE_LEN {
            return Err(MrzError::Length { line, found });
        }
    }
    for (line, l) in [(1u8, l1), (2, l2)] {
        if let Some((i, found)) = l.chars().enumerate().find(|&(_, c)| !is_mrz_char(c)) {
            return Err(MrzError::Charset {
                line,
                position: i + 1,
                found,
            });
        }
    }
    // Both lines are now 44 ASCII characters: byte slicing is character slicing.
    let code = &l1[0..2];
    if !code.starts_with('P') {
        return Err(MrzError::NotTd3 {
            found: code.to_string(),
        });
    }

    let c2 = |i: usize| char::from(l2.as_bytes()[i]);
    verify(F_DOC, &l2[0..9], c2(9), false)?;
    verify(F_BIRTH, &l2[13..19], c2(19), false)?;
    verify(F_EXPIRY, &l2[21..27], c2(27), false)?;
    let personal_raw = &l2[28..42];
    verify(
        F_PERSONAL,
        personal_raw,
        c2(42),
        personal_raw.bytes().all(|b| b == b'<'),
    )?;
    let composite = format!("{}{}{}", &l2[0..10], &l2[13..20], &l2[21..43]);
    verify(F_COMPOSITE, &composite, c2(43), false)?;

    if code.as_bytes()[1].is_ascii_digit() {
        return Err(MrzError::Field {
            field: "document code",
            reason: format!("line 1, position 2: {code:?} is not a document code"),
        });
    }
    let issuing_state = parse_code("issuing state", &l1[2..5], 1, 3)?;
    let (surnames, given_names) = parse_names(&l1[5..44])?;

    let document_number = l2[0..9].trim_end_matches('<');
    if document_number.is_empty() {
        return Err(MrzError::Field {
            field: F_DOC,
            reason: "line 2, positions 1-9 are empty".to_string(),
        });
    }
    if let Some(i) = document_number.find('<') {
        return Err(MrzError::Field {
            field: F_DOC,
            reason: format!(
                "line 2, position {}: filler inside the document number",
                i + 1
            ),
        });
    }
    let nationality = parse_code("nationality", &l2[10..13], 2, 11)?;
    let birth_date = parse_date(F_BIRTH, &l2[13..19])?;
    let sex = match c2(20) {
        c @ ('M' | 'F') => Some(c),
        '<' | 'X' => None,
        c => {
            return Err(MrzError::Field {
                field: "sex",
                reason: format!("line 2, position 21: '{c}' is not M, F, X or <"),
            })
        }
    };
    let expiry_date = parse_date(F_EXPIRY, &l2[21..27])?;

    Ok(Td3 {
        document_code: code.trim_end_matches('<').to_string(),
        issuing_state,
        surnames,
        given_names,
        document_number: document_number.to_string(),
        nationality,
        birth_date,
        sex,
        expiry_date,
        personal_number: personal_raw.trim_end_matches('<').to_string(),
    })
}

/// A state code for the builder: 1-3 letters (fillers at the end are ignored).
fn build_code(field: &'static str, value: &str) -> Result<String, MrzError> {
    let code = value.trim().trim_end_matches('<').to_ascii_uppercase();
    if code.is_empty() || code.len() > 3 || !code.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(MrzError::Field {
            field,
            reason: format!("{value:?} is not a state code of 1-3 letters"),
        });
    }
    Ok(pad(&code, 3))
}

/// Builds the two 44-character lines of a TD3 (passport) MRZ with correct check digits.
///
/// Names go through [`mrz_name`]; runs of separators collapse to one `<`, surnames and
/// given names are joined by `<<`, and the name field is cut at 39 characters (ICAO
/// truncation). Codes, document and personal numbers are uppercased and padded with
/// `<`. `sex` is `Some('M')`, `Some('F')`, `Some('X')` (written `X`) or `None` (`<`).
/// A personal number that is empty gets check digit `<`.
///
/// Errors: [`MrzError::NotTd3`] if the document code does not start with `P`;
/// [`MrzError::Date`] for impossible dates; [`MrzError::Field`] for an empty surname,
/// bad state codes, a document number that is empty, longer than 9 characters or not
/// alphanumeric, a personal number longer than 14 characters, or an unknown sex.
#[allow(clippy::too_many_arguments)]
pub fn build_td3(
    document_code: &str,
    issuing_state: &str,
    surnames: &str,
    given_names: &str,
    document_number: &str,
    nationality: &str,
    birth: MrzDate,
    sex: Option<char>,
    expiry: MrzDate,
    personal_number: &str,
) -> Result<(String, String), MrzError> {
    let code = document_code
        .trim()
        .trim_end_matches('<')
        .to_ascii_uppercase();
    if !code.starts_with('P') {
        return Err(MrzError::NotTd3 { found: code });
    }
    if code.len() > 2 || !code.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(MrzError::Field {
            field: "document code",
            reason: format!("{document_code:?} is not a document code of 1-2 letters"),
        });
    }
    let issuing_state = build_code("issuing state", issuing_state)?;
    let nationality = build_code("nationality", nationality)?;

    let primary = components(&mrz_name(surnames), "<");
    if primary.is_empty() {
        return Err(MrzError::Field {
            field: "surname",
            reason: format!("{surnames:?} is empty in the MRZ character set"),
        });
    }
    let secondary = components(&mrz_name(given_names), "<");
    let mut name = primary;
    if !secondary.is_empty() {
        name.push_str("<<");
        name.push_str(&secondary);
    }
    name.truncate(NAME_LEN);

    let number = document_number.trim().to_ascii_uppercase();
    if number.is_empty()
        || number.len() > DOC_NUMBER_LEN
        || !number.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(MrzError::Field {
            field: F_DOC,
            reason: format!(
                "{document_number:?} is not 1-9 letters and digits (longer numbers need the optional-data overflow, which is not supported)"
            ),
        });
    }
    let personal = personal_number
        .trim()
        .trim_end_matches('<')
        .to_ascii_uppercase();
    if personal.len() > PERSONAL_LEN || !personal.chars().all(is_mrz_char) {
        return Err(MrzError::Field {
            field: F_PERSONAL,
            reason: format!("{personal_number:?} is not at most 14 characters of A-Z, 0-9, <"),
        });
    }
    for (field, date) in [(F_BIRTH, birth), (F_EXPIRY, expiry)] {
        if !date.is_valid() {
            return Err(MrzError::Date {
                field,
                value: date.to_string(),
            });
        }
    }
    let sex = match sex {
        Some(c @ ('M' | 'F' | 'X')) => c,
        None => '<',
        Some(c) => {
            return Err(MrzError::Field {
                field: "sex",
                reason: format!("'{c}' is not M, F or X"),
            })
        }
    };

    let line1 = format!("{}{issuing_state}{}", pad(&code, 2), pad(&name, NAME_LEN));

    let number = pad(&number, DOC_NUMBER_LEN);
    let birth = birth.to_string();
    let expiry = expiry.to_string();
    let personal_check = if personal.is_empty() {
        '<'
    } else {
        check_char(&personal)
    };
    let personal = pad(&personal, PERSONAL_LEN);
    let mut line2 = format!(
        "{number}{}{nationality}{birth}{}{sex}{expiry}{}{personal}{personal_check}",
        check_char(&number),
        check_char(&birth),
        check_char(&expiry),
    );
    let composite = format!("{}{}{}", &line2[0..10], &line2[13..20], &line2[21..43]);
    line2.push(check_char(&composite));
    Ok((line1, line2))
}

#[cfg(test)]
#[path = "mrz_tests.rs"]
mod tests;
