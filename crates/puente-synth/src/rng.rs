//! A small deterministic PRNG (SplitMix64): same seed, same data, on every platform.

/// A small deterministic PRNG (SplitMix64): same seed, same data.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0; 0 gives 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// One item of a slice, earlier ones more often: the item at rank `r` has weight
    /// `1 / (r + 3)`, the long-tailed shape of name frequencies (`None` only for an
    /// empty slice).
    pub fn pick_common<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        let weight = |r: usize| 1.0 / (r as f64 + 3.0);
        let total: f64 = (0..items.len()).map(weight).sum();
        let mut x = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
        for (r, item) in items.iter().enumerate() {
            x -= weight(r);
            if x < 0.0 {
                return Some(*item);
            }
        }
        items.last().copied()
    }

    /// One item of a slice (`None` only for an empty slice).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            Some(items[self.below(items.len() as u64) as usize])
        }
    }
}
