//! Statistical disclosure control for flow counts.
//!
//! **Primary suppression.** A non-zero count below the agreement's small-cell threshold
//! is never disclosed: the cell goes out flagged [`Suppression::Primary`], never as 0 and
//! never as its value. Zero is disclosed (an empty cell identifies nobody).
//!
//! **Secondary suppression.** The only totals Puente publishes are month cells, each the
//! sum of the day cells with the same dimensions. If a day were suppressed but the month
//! and every other day disclosed, the day would be the difference. So when secondary
//! suppression is on, a month cell any of whose days is a small cell is itself withheld
//! ([`Suppression::Secondary`]). With the total withheld, the equation month = Σ days has
//! at least two unknowns, and nothing below the threshold can be solved for.
//!
//! When the month itself is a small cell, every one of its days is withheld as
//! [`Suppression::Primary`], zeros included, so that the number of non-zero days cannot
//! pin their values against a total known to be below the threshold.
//!
//! Suppressing the total (rather than a second day) also holds across incremental syncs:
//! a day's old value the receiver saw earlier cannot be combined with a newly disclosed
//! total, because the total is withheld for as long as any day of it is small, and the
//! month cell is re-sent (new version) whenever one of its days changes.

use crate::cell::{OwnCell, Period, Suppression, Value, NO_MONTH};

/// How an agreement asks cells to be protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Non-zero counts below this are withheld.
    pub threshold: u32,
    /// Whether month totals that would reveal a small day are withheld too.
    pub secondary: bool,
}

/// Whether a non-zero count is a small cell under `threshold`.
pub fn is_small(count: u64, threshold: u32) -> bool {
    count > 0 && count < u64::from(threshold)
}

/// What a peer under `policy` may see of one of this country's own cells.
pub fn disclose(period: &Period, cell: &OwnCell, policy: Policy) -> Value {
    if is_small(cell.count, policy.threshold) {
        return Value::Suppressed(Suppression::Primary);
    }
    if policy.secondary {
        if period.is_day() {
            // Every day of a small month is withheld, zeros included: otherwise the
            // number of non-zero days, each at least 1, and a total below the threshold
            // could pin their values (two days, a month of 2, a threshold of 3: 1 and 1).
            if cell.month != NO_MONTH && is_small(cell.month, policy.threshold) {
                return Value::Suppressed(Suppression::Primary);
            }
        } else if is_small(cell.min_day, policy.threshold) {
            return Value::Suppressed(Suppression::Secondary);
        }
    }
    Value::Count(cell.count)
}

/// The smallest non-zero count among `days` (0 if all are zero or there are none).
pub fn min_nonzero(days: impl IntoIterator<Item = u64>) -> u64 {
    days.into_iter().filter(|n| *n > 0).min().unwrap_or(0)
}
