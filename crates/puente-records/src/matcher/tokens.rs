//! How alike two name tokens are (romanizations, sounds, spellings, typos, compounds
//! written together), and the one-to-one pairing of a query's tokens with a record's.

use super::*;

/// A token in its canonical and written forms, with the canonical form's skeleton and
/// sound key.
#[derive(Clone, Copy)]
pub(super) struct Tok<'a> {
    pub(super) canon: &'a str,
    pub(super) raw: &'a str,
    pub(super) skel: &'a str,
    pub(super) sound: &'a str,
    /// Pinyin when romanized Chinese written otherwise, else empty.
    pub(super) py: &'a str,
}

/// How alike two romanization keys ([`pinyin_form`]) say two tokens are: one Chinese
/// name written in two systems (HSIEH / XIE) scores [`ROMANIZED`]; two tokens that are
/// both valid pinyin and differ only in aspiration (PO / BO, CHANG / ZHANG: Wade-Giles
/// without its apostrophes writes both alike) score less, as they may be two names.
pub(super) fn romanized(a: &str, b: &str) -> f64 {
    if a.is_empty() || b.is_empty() || !pinyin_keys(a).any(|k| pinyin_keys(b).any(|l| l == k)) {
        return 0.0;
    }
    if a.starts_with('=') && b.starts_with('=') {
        0.9
    } else {
        ROMANIZED
    }
}

/// Score of a token one slip away from a known spelling of the other.
pub(super) const SPELLING_SLIP: f64 = 0.85;

/// Score of two tokens whose sound keys are one slip apart.
pub(super) const SOUND_TYPO: f64 = 0.85;

/// Whether the spelling tables hold two written tokens for one name (WONG is HUANG or
/// WANG; WANG is WANG): a family in common, or one the canonical form of the other.
pub(super) fn same_family(a: &str, b: &str) -> bool {
    let (fa, fb) = (spelling::canonicals(a), spelling::canonicals(b));
    fa.iter().any(|c| fb.contains(c) || c == b) || fb.iter().any(|c| c == a)
}

/// Score of two tokens that are one Chinese name in two romanizations (HSIEH / XIE).
pub(super) const ROMANIZED: f64 = 0.95;

/// Score of two tokens that only sound alike (JEAN / JAN, LOUIS / LWI).
pub(super) const SOUNDS_ALIKE: f64 = 0.92;

/// Whether two tokens sound alike by their keys: a key of one letter says too little,
/// and neither does a token of two letters (LUIS and LI).
pub(super) fn sound_alike(a: Tok<'_>, b: Tok<'_>) -> bool {
    a.sound.len() >= 2 && a.sound == b.sound && a.raw.len() >= 3 && b.raw.len() >= 3
}

/// Score of a two-letter token one slip from a known spelling of the other (PO for POL,
/// LW for LWI): fewer letters, less evidence.
pub(super) const SHORT_SLIP: f64 = 0.8;

/// Whether `written` is one slip from `form`, a known spelling of a name of three letters
/// or more: a letter added, dropped or changed, or two neighbours swapped (an optimal
/// string alignment distance of 1). Where the slip touches the first letter it counts
/// only when it is a swap (ABTIS / BATIS, YPE / PYE, OPL / POL) or the longer of the two
/// has four letters or more (ARI / MARI, GVALKOU / VALKOU): a different first letter in a
/// three-letter word is more often another name (SOW / LOW) than a slip. A written
/// token of two letters counts only as a letter dropped after its first (PO / POL).
pub(super) fn slip_of(form: &str, written: &str) -> bool {
    let (f, w) = (form.as_bytes(), written.as_bytes());
    if f.len() < 3 || w.len() < 2 || f.len().abs_diff(w.len()) > 1 {
        return false;
    }
    if osa_distance(form, written) != 1 {
        return false;
    }
    if w.len() == 2 {
        return f.len() == 3 && f[0] == w[0];
    }
    let swapped_first = f.len() == w.len() && f[0] == w[1] && f[1] == w[0] && f[2..] == w[2..];
    f[0] == w[0] || swapped_first || f.len().max(w.len()) >= 4
}

/// Score of a short token one slip from a known form of the other that [`slip_of`]
/// refuses (OYE for PYE, KAT for MAT, IF or OV for IV, AN for JAN): half a name. Such a
/// pair is as often two names (SOW / LOW) as a slip, so it never carries a name alone:
/// two tokens of which one agrees fully and the other only so score at most 0.825 with
/// an exact date, below the threshold, and only where two other names agree does the
/// third's slip count (OYE JAN JOZEF for PIERRE JEAN JOSEPH).
pub(super) const SHORT_NAME_SLIP: f64 = 0.5;

/// Whether `written` is one slip from `form` where both have two or three letters and
/// [`slip_of`] does not count the slip (it touches the first letter, or leaves two
/// letters other than by dropping one after the first).
pub(super) fn short_name_slip(form: &str, written: &str) -> bool {
    let (f, w) = (form.len(), written.len());
    f >= 2 && w >= 2 && f.max(w) <= 3 && osa_distance(form, written) == 1 && !slip_of(form, written)
}

/// Similarity of two tokens given in canonical and written form.
pub(super) fn pair_sim(q: Tok<'_>, r: Tok<'_>) -> (f64, &'static str) {
    let (c, how_c) = token_sim(q.canon, r.canon, Some((q.skel, r.skel)));
    if c >= 1.0 {
        return (
            c,
            if q.raw == r.raw {
                how_c
            } else {
                "spelling variant"
            },
        );
    }
    let (mut best, mut how) = (c, how_c);
    // Written as their canonical forms: comparing them again would say the same.
    if q.canon != q.raw || r.canon != r.raw {
        let (w, how_w) = token_sim(q.raw, r.raw, None);
        if w > best {
            (best, how) = (w, how_w);
        }
    }
    if best < 1.0 && same_family(q.raw, r.raw) {
        return (1.0, "spelling variant");
    }
    let rom = romanized(q.py, r.py);
    if best < rom {
        (best, how) = (rom, "another romanization");
    }
    if best < SOUNDS_ALIKE && sound_alike(q, r) {
        (best, how) = (SOUNDS_ALIKE, "sounds alike");
    }
    // A slip in another known spelling of the name (POK for POL, which is PAUL; WONY for
    // WONG, which is WANG; ABTIS for BATIS, which is BAPTISTE; PO for POL): see
    // [`slip_of`] for which slips count. A two-letter token is less sure.
    if best < SPELLING_SLIP && q.raw.len() >= 2 {
        let slipped = |forms: &[&str], written: &str| forms.iter().any(|f| slip_of(f, written));
        if slipped(spelling::variants(r.canon), q.raw)
            || slipped(spelling::variants(q.canon), r.raw)
        {
            let sure = if q.raw.len().min(r.raw.len()) >= 3 {
                SPELLING_SLIP
            } else {
                SHORT_SLIP
            };
            if best < sure {
                (best, how) = (sure, "a slip in a known spelling");
            }
        }
    }
    // A slip in a name written by its sound (NARI for MARI, SELETEN for CELESTIN, ABTIS
    // for BATIS, which sounds as BAPTISTE), under the rules of [`slip_of`].
    if best < SOUND_TYPO
        && q.sound.len().min(r.sound.len()) >= 3
        && (slip_of(r.sound, q.sound) || slip_of(q.sound, r.sound))
    {
        (best, how) = (SOUND_TYPO, "sounds alike but for a slip");
    }
    // A slip in a short name where the first letter or one of two is touched: half a
    // name (see [`SHORT_NAME_SLIP`]). Not between two pinyin syllables: one changed
    // letter makes another valid syllable, which is another name (LI / XI).
    if best < SHORT_NAME_SLIP && !(q.py.starts_with('=') && r.py.starts_with('=')) {
        fn forms<'a>(t: Tok<'a>) -> impl Iterator<Item = &'a str> {
            spelling::variants(t.canon)
                .iter()
                .copied()
                .chain([t.canon, t.raw])
        }
        if forms(r).any(|f| short_name_slip(f, q.raw))
            || forms(q).any(|f| short_name_slip(f, r.raw))
        {
            (best, how) = (SHORT_NAME_SLIP, "a slip in a short name");
        }
    }
    (best, how)
}

/// Similarity of two tokens; `skeletons` are theirs when already known.
pub(super) fn token_sim(a: &str, b: &str, skeletons: Option<(&str, &str)>) -> (f64, &'static str) {
    if a == b {
        return (1.0, "exact");
    }
    if a.len() == 1 || b.len() == 1 {
        let (short, long) = if a.len() == 1 { (a, b) } else { (b, a) };
        return if long.starts_with(short) {
            (0.85, "initial")
        } else {
            (0.0, "")
        };
    }
    // A skeleton of one letter (LI, LIU, LU, YU, HUAHUA) says nothing about spelling.
    let same_skeleton = match skeletons {
        Some((x, y)) => x == y && x.len() > 1,
        None => {
            let x = skeleton(a);
            x.len() > 1 && x == skeleton(b)
        }
    };
    if same_skeleton {
        return (0.95, "spelling variant");
    }
    // One typo (a letter wrong, missing, doubled or two letters swapped) in a word that
    // is long enough for that to be a slip rather than another name.
    if a.len().min(b.len()) >= 4 && osa_distance(a, b) == 1 {
        return (0.9, "typo");
    }
    // In a three-letter name, one slip after the first letter (SOW / SOH, BAH / BAHG):
    // less sure.
    if a.len().min(b.len()) == 3 && a.as_bytes()[0] == b.as_bytes()[0] && osa_distance(a, b) == 1 {
        return (0.8, "typo");
    }
    // A two-letter contraction: first and last letter (MA for MARIA, JN for JEAN, MD for
    // MUHAMMAD, ST for SAINT).
    if let ([s0, s1], [l0, .., ll]) = (
        (if a.len() < b.len() { a } else { b }).as_bytes(),
        (if a.len() < b.len() { b } else { a }).as_bytes(),
    ) {
        if s0 == l0 && s1 == ll && a.len().max(b.len()) >= 4 {
            return (0.85, "contraction");
        }
    }
    // A particle written onto the name (DELVALLE / VALLE, ALHASSAN / HASSAN).
    let (short, long) = if a.len() < b.len() { (a, b) } else { (b, a) };
    if short.len() >= 4 && long.ends_with(short) && is_particle(&long[..long.len() - short.len()]) {
        return (0.95, "particle written together");
    }
    // Below this, two tokens are different words: a different surname must cost as much
    // as a missing one, not count half. Short tokens (LI / LIU, MA / MAO) are different
    // names, not near spellings.
    let jw = if a.len().min(b.len()) >= 4 {
        jaro_winkler(a, b)
    } else {
        0.0
    };
    if jw >= 0.88 {
        (jw, "similar")
    } else {
        (0.0, "")
    }
}

/// The tokens of a name with their skeletons and sound keys (computed here if the name
/// lacks them).
pub(super) fn toks<'a>(
    n: &'a NormalizedName,
    computed: &'a mut (Vec<String>, Vec<String>, Vec<String>),
) -> Vec<Tok<'a>> {
    if n.skeletons.len() != n.tokens.len() {
        computed.0 = n.tokens.iter().map(|t| skeleton(t)).collect();
    }
    if n.sounds.len() != n.tokens.len() {
        computed.1 = n.tokens.iter().map(|t| sound(t)).collect();
    }
    if n.pinyin.len() != n.tokens.len() {
        computed.2 = n.raw.iter().map(|t| pinyin_form(t)).collect();
    }
    let pys: &'a [String] = if n.pinyin.len() == n.tokens.len() {
        &n.pinyin
    } else {
        &computed.2
    };
    let skels: &'a [String] = if n.skeletons.len() == n.tokens.len() {
        &n.skeletons
    } else {
        &computed.0
    };
    let sounds: &'a [String] = if n.sounds.len() == n.tokens.len() {
        &n.sounds
    } else {
        &computed.1
    };
    n.tokens
        .iter()
        .zip(&n.raw)
        .zip(skels)
        .zip(sounds)
        .zip(pys)
        .map(|((((canon, raw), skel), sound), py)| Tok {
            canon,
            raw,
            skel,
            sound,
            py,
        })
        .collect()
}

/// Similarity of two adjacent tokens written together (`pair`) with one token of the
/// other name (GUI YING / GUIYING, HABIB ULLAH / HABIBULLAH), when it is a match at all.
/// Cheap refusals first: a query compares each candidate's pairs.
pub(super) fn glued_sim(pair: [Tok<'_>; 2], one: Tok<'_>) -> Option<(f64, &'static str)> {
    let len = pair[0].raw.len() + pair[1].raw.len();
    // One Chinese name in two romanizations, written apart and together (HSIU LAN /
    // XIULAN): compared by romanization key.
    if !one.py.is_empty() && !pair[0].py.is_empty() && !pair[1].py.is_empty() {
        if pair[0].raw.len() + pair[1].raw.len() == one.raw.len()
            && one.raw.starts_with(pair[0].raw)
            && one.raw.ends_with(pair[1].raw)
        {
            return Some((1.0, "written together"));
        }
        // Each part's readings, one after the other (I-CHING / YIJING: I alone is YI).
        let glued = pinyin_keys(pair[0].py).any(|a| {
            pinyin_keys(pair[1].py).any(|b| {
                pinyin_keys(one.py)
                    .any(|k| k.len() == a.len() + b.len() && k.starts_with(a) && k.ends_with(b))
            })
        });
        if glued {
            let both_pinyin = one.py.starts_with('=')
                && pair[0].py.starts_with('=')
                && pair[1].py.starts_with('=');
            return Some((
                if both_pinyin { 0.9 } else { ROMANIZED },
                "another romanization",
            ));
        }
    }
    let first = |t: &str| t.as_bytes().first().copied();
    let same_start =
        first(pair[0].raw) == first(one.raw) || first(pair[0].canon) == first(one.canon);
    // Spellings differ in length by a few letters at most; sounds by a few more
    // (JEAN BAPTISTE / JANBATIS).
    let diff = len.abs_diff(one.raw.len());
    if !same_start || diff > 6 {
        return None;
    }
    let (mut s, mut how) = (0.0, "");
    if diff <= 3 {
        let canon = format!("{}{}", pair[0].canon, pair[1].canon);
        (s, how) = token_sim(&canon, one.canon, None);
        if s < 1.0
            && (pair[0].raw != pair[0].canon
                || pair[1].raw != pair[1].canon
                || one.raw != one.canon)
        {
            let raw = format!("{}{}", pair[0].raw, pair[1].raw);
            let (w, how_w) = token_sim(&raw, one.raw, None);
            if w > s {
                (s, how) = (w, how_w);
            }
        }
    }
    if s < SOUNDS_ALIKE && one.sound.len() >= 4 {
        let glued = format!("{}{}", pair[0].canon, pair[1].canon);
        let parts = format!("{}{}", pair[0].sound, pair[1].sound);
        let whole = sound(&glued);
        if whole == one.sound || parts == one.sound {
            (s, how) = (SOUNDS_ALIKE, "sounds alike");
        } else if s < SOUND_TYPO
            && one.sound.len() >= 5
            && (slip_of(&whole, one.sound) || slip_of(&parts, one.sound))
        {
            // A slip in a compound written by its sound (JANBWATIS for JEAN BAPTISTE,
            // SENFL for SAINT FLEUR): long enough that one slip still leaves it a
            // single name.
            (s, how) = (SOUND_TYPO, "sounds alike but for a slip");
        }
    }
    // Only a close match: two short tokens glued resemble many longer ones.
    (s >= 0.9 || (s >= SOUND_TYPO && how == "sounds alike but for a slip")).then_some((
        s,
        if how == "exact" {
            "written together"
        } else {
            how
        },
    ))
}

/// One pairing of a name's part with a part of the other name: a token, or two adjacent
/// tokens written together, on each side.
#[derive(Clone, Copy)]
pub(super) struct Pairing {
    pub(super) score: f64,
    pub(super) how: &'static str,
    /// First query token and how many (1 or 2).
    pub(super) q: (usize, usize),
    /// First record token and how many (1 or 2).
    pub(super) r: (usize, usize),
}

/// Pairs tokens greedily in the order of `pairs`, each token at most once: the total
/// score on the query's side and on the record's, and the pairings made.
pub(super) fn assign(pairs: &[Pairing], q_len: usize, r_len: usize) -> (f64, f64, Vec<Pairing>) {
    let mut q_used = vec![false; q_len];
    let mut r_used = vec![false; r_len];
    let (mut q_total, mut r_total) = (0.0, 0.0);
    let mut chosen: Vec<Pairing> = Vec::new();
    for p in pairs {
        let (qs, rs) = (p.q.0..p.q.0 + p.q.1, p.r.0..p.r.0 + p.r.1);
        if q_used[qs.clone()].iter().any(|u| *u) || r_used[rs.clone()].iter().any(|u| *u) {
            continue;
        }
        q_used[qs].iter_mut().for_each(|u| *u = true);
        r_used[rs].iter_mut().for_each(|u| *u = true);
        q_total += p.score * p.q.1 as f64;
        r_total += p.score * p.r.1 as f64;
        chosen.push(*p);
    }
    (q_total, r_total, chosen)
}
