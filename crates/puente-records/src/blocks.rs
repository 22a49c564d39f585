//! Choosing which name-index blocks a query reads. A block is the set of persons who
//! share one blocking key (a token skeleton, or a pair of them) and a birth year and
//! month; the store reads the blocks a query names, and this module decides which of
//! them to score, most selective first, within a bound on the work of one query. Pure:
//! no store, no I/O.

use crate::model::PartialDate;

/// Which birth months of the year a name query reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Months {
    /// Persons born in this month (1-12), and those whose month is not recorded.
    One(u8),
    /// Persons born in either month (the query's, and its day read as a month: day and
    /// month are often swapped), and those whose month is not recorded.
    Two(u8, u8),
    /// Every month, and persons whose month is not recorded.
    Any,
}

impl Months {
    /// The month slots of the index to read (0 holds persons without a recorded month).
    pub fn slots(self) -> Vec<u8> {
        match self {
            Months::One(m) => vec![m, 0],
            Months::Two(m, d) => vec![m, d, 0],
            Months::Any => (0..=12).collect(),
        }
    }
}

/// The month slot a person born on `date` is indexed under: 0 when the month is not
/// recorded, or when the date is 1 January, which registries write for "year only" (so
/// a query with the real month still reads it).
pub fn month_slot(date: &PartialDate) -> u8 {
    if date.is_placeholder() {
        return 0;
    }
    date.month.filter(|m| (1..=12).contains(m)).unwrap_or(0)
}

/// The internal ids found under one blocking key (all month slots read), as read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Block {
    /// Ids in the block, at most the cap the store read it with.
    pub ids: Vec<u64>,
    /// The block holds more persons than were read.
    pub truncated: bool,
}

/// Why a query scored the candidates it did: for benchmarks and explanations of latency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockStats {
    /// Blocks looked up.
    pub blocks: usize,
    /// Blocks passed over: more persons than the per-block cap, or beyond the total.
    pub skipped: usize,
    /// Candidate ids handed to scoring.
    pub candidates: usize,
    /// Whether the single-token blocks were read (no strong pair candidate).
    pub singles: bool,
}

/// The candidates to score from `blocks`: the most selective block first and always
/// (even when truncated at its cap, so the rarest key a name has is never lost), then the
/// others from smallest to largest while they fit under `total_cap` whole; truncated
/// blocks after the first are passed over, since their persons share only a token too
/// common to narrow anything down. A person in several blocks counts once.
pub fn select(mut blocks: Vec<Block>, total_cap: usize, stats: &mut BlockStats) -> Vec<u64> {
    stats.blocks += blocks.len();
    blocks.sort_by_key(|b| (b.truncated, b.ids.len()));
    let mut out: Vec<u64> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, block) in blocks.into_iter().enumerate() {
        let fits = out.len() + block.ids.len() <= total_cap;
        if i > 0 && (block.truncated || !fits) {
            stats.skipped += 1;
            continue;
        }
        for id in block.ids {
            if seen.insert(id) {
                out.push(id);
            }
        }
    }
    stats.candidates += out.len();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block(ids: &[u64], truncated: bool) -> Block {
        Block {
            ids: ids.to_vec(),
            truncated,
        }
    }

    #[test]
    fn smallest_first_and_common_blocks_passed_over() {
        let mut stats = BlockStats::default();
        let picked = select(
            vec![
                block(&(100..400).collect::<Vec<_>>(), false),
                block(&[1, 2, 3], false),
                block(&(1000..1250).collect::<Vec<_>>(), true),
                block(&[3, 4], false),
            ],
            10,
            &mut stats,
        );
        assert_eq!(picked, vec![3, 4, 1, 2]);
        assert_eq!(stats.skipped, 2);
        assert_eq!(stats.candidates, 4);
    }

    #[test]
    fn the_rarest_block_is_read_even_when_alone_over_the_cap() {
        let mut stats = BlockStats::default();
        let big: Vec<u64> = (0..50).collect();
        let picked = select(vec![block(&big, true)], 10, &mut stats);
        assert_eq!(picked, big);
    }

    #[test]
    fn months() {
        assert_eq!(Months::One(4).slots(), vec![4, 0]);
        assert_eq!(Months::Any.slots().len(), 13);
        assert_eq!(Months::Two(4, 11).slots(), vec![4, 11, 0]);
        let date = |month, day| PartialDate {
            year: 1990,
            month,
            day,
        };
        assert_eq!(month_slot(&date(None, None)), 0);
        assert_eq!(month_slot(&date(Some(12), Some(1))), 12);
        assert_eq!(month_slot(&date(Some(13), None)), 0);
        assert_eq!(month_slot(&date(Some(1), Some(1))), 0, "a placeholder date");
        assert_eq!(month_slot(&date(Some(1), Some(2))), 1);
    }

    proptest! {
        /// A person in every block of a name (what an exact match is: every key of the
        /// query is one of theirs) is always a candidate, whatever the cap.
        #[test]
        fn a_person_in_every_block_is_never_dropped(
            sizes in proptest::collection::vec((0usize..300, any::<bool>()), 1..8),
            cap in 1usize..200,
        ) {
            let exact = 1_000_000u64;
            let mut next = 0u64;
            let blocks: Vec<Block> = sizes
                .iter()
                .map(|(n, truncated)| {
                    let mut ids: Vec<u64> = (next..next + *n as u64).collect();
                    next += *n as u64;
                    ids.push(exact);
                    Block { ids, truncated: *truncated }
                })
                .collect();
            let mut stats = BlockStats::default();
            let picked = select(blocks, cap, &mut stats);
            prop_assert!(picked.contains(&exact));
        }
    }
}
