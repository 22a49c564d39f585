//! Surge detection from flow counts. A group is one nationality at one entry point; its
//! weekly count is the sum of its day cells (all sexes, ages and events) over seven days.
//! The latest week is a surge when it is at least `min_count`, at least `ratio` times the
//! median of the previous `baseline_weeks`, and above that median by `z` robust standard
//! deviations (median absolute deviation × 1.4826, floored at the square root of the
//! median, the spread of a Poisson count, so that a very regular history does not make
//! every wiggle a surge).

use std::collections::BTreeMap;

use puente_stats::CellKey;
use time::Date;

/// Detection settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Weeks of history the baseline is the median of.
    pub baseline_weeks: usize,
    /// The latest week must be at least this many times the baseline.
    pub ratio: f64,
    /// And at least this many events.
    pub min_count: u64,
    /// And this many standard deviations above the baseline.
    pub z: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            baseline_weeks: 8,
            ratio: 2.0,
            min_count: 30,
            z: 3.0,
        }
    }
}

/// A detected surge.
#[derive(Clone, Debug, PartialEq)]
pub struct Surge {
    /// Nationality.
    pub nationality: String,
    /// Entry point.
    pub entry_point: String,
    /// First day of the week observed.
    pub week_start: Date,
    /// Last day of the week observed.
    pub week_end: Date,
    /// Events in that week.
    pub observed: u64,
    /// Median of the baseline weeks.
    pub baseline: f64,
}

/// Weekly totals per (nationality, entry point) from day cells; index 0 is the week
/// ending on `end` (inclusive), index 1 the week before, and so on.
pub fn weekly<'a>(
    cells: impl IntoIterator<Item = (&'a CellKey, u64)>,
    end: Date,
    weeks: usize,
) -> BTreeMap<(String, String), Vec<u64>> {
    let mut out: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
    for (k, n) in cells {
        let puente_stats::Period::Day(d) = k.period else {
            continue;
        };
        if d > end {
            continue;
        }
        let back = (end - d).whole_days();
        let w = (back / 7) as usize;
        if w >= weeks {
            continue;
        }
        let series = out
            .entry((k.nationality.clone(), k.entry_point.clone()))
            .or_insert_with(|| vec![0; weeks]);
        series[w] += n;
    }
    out
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Whether `series` (latest week first, then the baseline weeks) is a surge; returns the
/// observed count and the baseline. The baseline is the median of the history and the
/// spread its median absolute deviation (scaled to a standard deviation), so that one
/// unusual week in the history (say, the first week of the same surge) neither hides the
/// surge nor sets off the next one.
pub fn is_surge(series: &[u64], cfg: &Config) -> Option<(u64, f64)> {
    let (&observed, history) = series.split_first()?;
    let history = &history[..history.len().min(cfg.baseline_weeks)];
    if history.is_empty() || observed < cfg.min_count {
        return None;
    }
    let mut h: Vec<f64> = history.iter().map(|x| *x as f64).collect();
    let base = median(&mut h);
    let mut dev: Vec<f64> = h.iter().map(|x| (x - base).abs()).collect();
    let sd = (1.4826 * median(&mut dev)).max(base.sqrt()).max(1.0);
    let o = observed as f64;
    (o >= cfg.ratio * base && o >= base + cfg.z * sd).then_some((observed, base))
}

/// Surges in the week ending `end`.
pub fn detect<'a>(
    cells: impl IntoIterator<Item = (&'a CellKey, u64)>,
    end: Date,
    cfg: &Config,
) -> Vec<Surge> {
    let mut out = Vec::new();
    for ((nationality, entry_point), series) in weekly(cells, end, cfg.baseline_weeks + 1) {
        if let Some((observed, baseline)) = is_surge(&series, cfg) {
            out.push(Surge {
                nationality,
                entry_point,
                week_start: end - time::Duration::days(6),
                week_end: end,
                observed,
                baseline,
            });
        }
    }
    out
}

/// A stable id for the draft of `s` (alert ids allow only `[A-Za-z0-9._-]`).
pub fn draft_id(s: &Surge) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.entry_point.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    format!("surge-{}-{}-{:08x}", s.nationality, s.week_end, h as u32)
}
