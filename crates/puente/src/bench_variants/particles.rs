//! Particles dropped, glued or added, abbreviations used or written out, and middle
//! names cut to their initial.

use puente_synth::{Rng, SynthPerson};

use super::{pick_owned, tokens_of, Kind, Variant};

/// Name particles of Spanish and Portuguese surnames.
const PARTICLES: &[&str] = &["DE", "DEL", "LA", "LAS", "LOS", "DA", "DAS", "DO", "DOS"];

/// Abbreviations officers and documents use (whole token → abbreviation): JN for JEAN
/// (Haitian civil registry), MD and MOHD for Muhammad (Bangladesh, Malaysia, Pakistan),
/// MST for MOSAMMAT (Bangladesh), CH for Chaudhry (Pakistan), MA for MARÍA (Spanish
/// "Ma."), ST for SAINT (French).
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("JEAN", "JN"),
    ("MOHAMMAD", "MD"),
    ("MOHAMMED", "MD"),
    ("MUHAMMAD", "MD"),
    ("MOHAMED", "MD"),
    ("MUHAMMAD", "MOHD"),
    ("MOHAMMAD", "MOHD"),
    ("CHAUDHARY", "CH"),
    ("CHAUDHRY", "CH"),
    ("CHOWDHURY", "CH"),
    ("MARÍA", "MA"),
    ("MARIA", "MA"),
    ("SAINT", "ST"),
];

/// Abbreviations written out in full (the reverse: the document has MD, the officer
/// writes what it stands for).
const EXPANSIONS: &[(&str, &str)] = &[("MD", "MOHAMMAD"), ("MST", "MOSAMMAT")];

/// Options of [`particle_abbrev`] for one person: `(given names, surnames)`.
pub(super) fn particle_options(p: &SynthPerson) -> Vec<(String, String)> {
    let given = tokens_of(&p.given_names);
    let surnames = tokens_of(&p.surnames);
    let mut options = Vec::new();
    let with = |g: &[String], s: &[String]| (g.join(" "), s.join(" "));
    // Particles dropped (DEL VALLE → VALLE) or glued to the next word (DELACRUZ). A
    // particle precedes a word: a last token is a name (the Bengali surname DAS).
    let particle = |i: usize| i + 1 < surnames.len() && PARTICLES.contains(&surnames[i].as_str());
    if (0..surnames.len()).any(particle) {
        let dropped: Vec<String> = (0..surnames.len())
            .filter(|&i| !particle(i))
            .map(|i| surnames[i].clone())
            .collect();
        options.push(with(&given, &dropped));
        let mut glued: Vec<String> = Vec::new();
        let mut pending = String::new();
        for (i, t) in surnames.iter().enumerate() {
            pending.push_str(t);
            if !particle(i) {
                glued.push(std::mem::take(&mut pending));
            }
        }
        options.push(with(&given, &glued));
    }
    // Added: the conjunction Y between two Spanish surnames (ORTEGA Y GASSET), which
    // older Spanish and Latin American records write.
    if (p.nationality == "CUB" || p.nationality == "VEN")
        && surnames.len() == 2
        && !(0..surnames.len()).any(particle)
    {
        options.push(with(
            &given,
            &[surnames[0].clone(), "Y".into(), surnames[1].clone()],
        ));
    }
    // Abbreviations, inside hyphenated tokens too (JEAN-CLAUDE → JN-CLAUDE).
    for (sur, field) in [(false, &given), (true, &surnames)] {
        for (i, t) in field.iter().enumerate() {
            let parts: Vec<&str> = t.split('-').collect();
            for (j, part) in parts.iter().enumerate() {
                for (full, short) in ABBREVIATIONS.iter().chain(EXPANSIONS) {
                    if part == full {
                        let mut ps = parts.clone();
                        ps[j] = short;
                        let mut f = field.clone();
                        f[i] = ps.join("-");
                        options.push(if sur {
                            with(&given, &f)
                        } else {
                            with(&f, &surnames)
                        });
                    }
                }
            }
        }
    }
    // A middle name cut to its initial.
    for i in 1..given.len() {
        if given[i].chars().count() > 1 {
            let mut g = given.clone();
            g[i] = given[i].chars().take(1).collect();
            options.push(with(&g, &surnames));
        }
    }
    options
}

/// A particle dropped, glued or added, an abbreviation used or written out, or a
/// middle name cut to its initial.
pub fn particle_abbrev(rng: &mut Rng, p: &SynthPerson) -> Option<Variant> {
    let (given, surnames) = pick_owned(rng, particle_options(p))?;
    let mut v = Variant::of(p, Kind::ParticleAbbrev);
    v.given_names = given;
    v.surnames = surnames;
    Some(v)
}
