//! Synthetic data for Puente's demos, tests and benchmarks: persons (no real data) with
//! names as their countries' passports print them, *variants* of them as another
//! country's officer may record them (with their ground truth, to measure a matcher), and
//! whole synthetic holdings in the records import format with SPECIMEN passport copies.
//! Deterministic for a seed. The name pools are data, in `data/names/*.txt`.
//!
//! Nothing in a node depends on this crate: it feeds `puente records generate`, the demo,
//! the benchmarks and the tests.
//!
//! # Layout
//! - [`rng`]: [`Rng`], the seeded generator everything draws from.
//! - [`pools`]: the name pools, read from `data/names/*.txt`.
//! - [`person`](mod@person): [`SynthPerson`]s of a nationality, or of one drawn by weight.
//! - [`variant`](mod@variant): [`Variant`]s of a person's name and birth date.
//! - [`generate`]: `records generate`: synthetic CSV with MRZs and specimen copies.
//! - [`specimen`]: SPECIMEN passport-copy images.
//! - [`error`](mod@error): [`SynthError`].

#![forbid(unsafe_code)]

pub mod error;
pub mod generate;
pub mod person;
pub mod pools;
pub mod rng;
pub mod specimen;
pub mod variant;

pub use error::{PoolError, SynthError};
pub use person::{person, random_person, SynthPerson, NATIONALITIES};
pub use rng::Rng;
pub use variant::{distinct_but_similar, variant, Variant, VariantKind};

#[cfg(test)]
mod tests {
    use super::*;

    /// Moving the pools from code to data files changed nothing: the same seed gives the
    /// same persons, variants and namesakes as before (benchmark figures stay
    /// reproducible). The fingerprint was taken from the generator before the move.
    #[test]
    fn same_seed_same_people_as_before_the_pools_became_data() {
        let mut text = String::new();
        let mut r = Rng::new(2026);
        for _ in 0..3000 {
            let p = random_person(&mut r);
            let v = variant(&mut r, &p);
            let o = distinct_but_similar(&mut r, &p);
            text.push_str(&format!(
                "{}|{}|{}|{}|{}-{}-{}|{}|{}|{:?}|{:?}|{:?}|{}|{}\n",
                p.given_names,
                p.surnames,
                p.sex,
                p.nationality,
                p.birth_year,
                p.birth_month,
                p.birth_day,
                v.given_names,
                v.surnames,
                v.birth_month,
                v.birth_day,
                v.kinds,
                o.given_names,
                o.surnames
            ));
        }
        // FNV-1a, 64 bits.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        assert_eq!(
            (h, text.len()),
            (0x0d78_4bb0_f4d7_69f6, 345_742),
            "{}",
            &text[..400]
        );
    }
}
