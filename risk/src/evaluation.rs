//! How well a score separates good from bad, and how much a score distribution has drifted.
//!
//! Scores are read as *higher is better* (more likely good), as gaswallet scores are.
//!
//! - **AUC**: the probability that a randomly chosen good scores above a randomly chosen bad, ties
//!   counting one half (the Mann–Whitney statistic with mid-ranks). 0.5 is a coin, 1 is perfect.
//! - **Gini** = `2 × AUC − 1`.
//! - **KS**: the largest gap between the cumulative score distributions of bads and goods,
//!   `max_s |F_bad(s) − F_good(s)|`, evaluated after each distinct score (so tied scores move
//!   together and a tie can never be split to flatter the statistic).
//! - **PSI** (population stability index) between an *expected* and an *actual* distribution:
//!   bins are cut at the deciles of the expected scores (value at sorted position `⌊k n / 10⌋`,
//!   `k = 1..9`, duplicates and the minimum dropped, so ties can make fewer bins), half-open
//!   `[lower, upper)`, the first open below and the last open above;
//!   `PSI = Σ (actual_share − expected_share) × ln(actual_share / expected_share)`, with an empty
//!   bin's share replaced by [`PSI_EMPTY_SHARE`]. Common reading: below 0.1 stable, 0.1–0.25 a
//!   shift worth a look, above 0.25 a shift that calls for a refit.
//!
//! All deterministic: the same input gives the same figures, bit for bit.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::woe::{numeric_bin_index, Outcome};

/// Share that stands in for an empty bin in the PSI, so that its logarithm is finite.
pub const PSI_EMPTY_SHARE: f64 = 0.0001;

/// Bins the PSI starts from (deciles of the expected distribution).
pub const PSI_BIN_COUNT: usize = 10;

/// Why a statistic could not be computed. Each variant has a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvaluationError {
    /// No scores were given.
    #[error("no scores were given")]
    NoScores,
    /// The sample has no bads, or no goods: separation is undefined.
    #[error("the sample needs both good and bad outcomes")]
    SingleOutcome,
    /// A score is NaN or infinite.
    #[error("score {index} is not a finite number")]
    NonFiniteScore {
        /// Position of the score.
        index: usize,
    },
}

impl EvaluationError {
    /// Stable, machine-readable code of the rejection.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            EvaluationError::NoScores => "no_scores",
            EvaluationError::SingleOutcome => "single_outcome",
            EvaluationError::NonFiniteScore { .. } => "non_finite_score",
        }
    }
}

/// One group of tied scores: how many goods and bads share it.
struct TieGroup {
    good: u64,
    bad: u64,
}

/// Sorts ascending and groups tied scores; also returns the good and bad totals.
fn tie_groups(scored: &[(f64, Outcome)]) -> Result<(Vec<TieGroup>, u64, u64), EvaluationError> {
    if scored.is_empty() {
        return Err(EvaluationError::NoScores);
    }
    if let Some(index) = scored.iter().position(|(score, _)| !score.is_finite()) {
        return Err(EvaluationError::NonFiniteScore { index });
    }
    let mut sorted: Vec<(f64, Outcome)> = scored.iter().map(|(score, outcome)| (*score + 0.0, *outcome)).collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut groups: Vec<TieGroup> = Vec::new();
    let mut previous: Option<f64> = None;
    let (mut good_total, mut bad_total) = (0u64, 0u64);
    for (score, outcome) in sorted {
        if previous != Some(score) {
            groups.push(TieGroup { good: 0, bad: 0 });
            previous = Some(score);
        }
        if let Some(group) = groups.last_mut() {
            match outcome {
                Outcome::Good => {
                    group.good += 1;
                    good_total += 1;
                }
                Outcome::Bad => {
                    group.bad += 1;
                    bad_total += 1;
                }
            }
        }
    }
    if good_total == 0 || bad_total == 0 {
        return Err(EvaluationError::SingleOutcome);
    }
    Ok((groups, good_total, bad_total))
}

/// Area under the ROC curve: P(good scores above bad) + ½ P(tie).
pub fn auc(scored: &[(f64, Outcome)]) -> Result<f64, EvaluationError> {
    let (groups, good_total, bad_total) = tie_groups(scored)?;
    // Twice the number of (good, bad) pairs won by the good, so that half-wins stay integers.
    let mut doubled_wins: u128 = 0;
    let mut bads_below: u128 = 0;
    for group in &groups {
        let (good, bad) = (u128::from(group.good), u128::from(group.bad));
        doubled_wins += 2 * good * bads_below + good * bad;
        bads_below += bad;
    }
    let pairs = u128::from(good_total) * u128::from(bad_total);
    Ok(doubled_wins as f64 / (2.0 * pairs as f64))
}

/// Gini coefficient (accuracy ratio): `2 × AUC − 1`.
#[must_use]
pub fn gini_from_auc(auc: f64) -> f64 {
    2.0 * auc - 1.0
}

/// Kolmogorov–Smirnov statistic: the largest gap between the bads' and goods' cumulative score
/// distributions.
pub fn ks(scored: &[(f64, Outcome)]) -> Result<f64, EvaluationError> {
    let (groups, good_total, bad_total) = tie_groups(scored)?;
    let (mut goods_so_far, mut bads_so_far) = (0u64, 0u64);
    let mut largest_gap: f64 = 0.0;
    for group in &groups {
        goods_so_far += group.good;
        bads_so_far += group.bad;
        let gap = (bads_so_far as f64 / bad_total as f64 - goods_so_far as f64 / good_total as f64).abs();
        largest_gap = largest_gap.max(gap);
    }
    Ok(largest_gap)
}

/// A PSI with the bins it was computed over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PsiReport {
    /// The index.
    pub psi: f64,
    /// Interior cut points, ascending; bins as in [`crate::woe::NumericBinning::edges`].
    pub edges: Vec<f64>,
    /// Share of the expected scores per bin.
    pub expected_shares: Vec<f64>,
    /// Share of the actual scores per bin.
    pub actual_shares: Vec<f64>,
}

fn check_scores(scores: &[f64]) -> Result<(), EvaluationError> {
    if scores.is_empty() {
        return Err(EvaluationError::NoScores);
    }
    match scores.iter().position(|score| !score.is_finite()) {
        Some(index) => Err(EvaluationError::NonFiniteScore { index }),
        None => Ok(()),
    }
}

fn shares(scores: &[f64], edges: &[f64]) -> Vec<f64> {
    let mut counts = vec![0u64; edges.len() + 1];
    for score in scores {
        if let Some(count) = counts.get_mut(numeric_bin_index(edges, *score + 0.0)) {
            *count += 1;
        }
    }
    counts.into_iter().map(|count| count as f64 / scores.len() as f64).collect()
}

/// Population stability index of `actual` against `expected`, over the expected deciles.
pub fn psi(expected: &[f64], actual: &[f64]) -> Result<PsiReport, EvaluationError> {
    check_scores(expected)?;
    check_scores(actual)?;
    let mut sorted: Vec<f64> = expected.iter().map(|score| *score + 0.0).collect();
    sorted.sort_by(f64::total_cmp);
    let minimum = sorted.first().copied().unwrap_or(0.0);
    let mut edges: Vec<f64> = Vec::with_capacity(PSI_BIN_COUNT);
    for decile in 1..PSI_BIN_COUNT {
        if let Some(cut) = sorted.get(decile * sorted.len() / PSI_BIN_COUNT) {
            if *cut > minimum && edges.last().is_none_or(|last| cut > last) {
                edges.push(*cut);
            }
        }
    }
    let expected_shares = shares(expected, &edges);
    let actual_shares = shares(actual, &edges);
    let psi = expected_shares
        .iter()
        .zip(&actual_shares)
        .map(|(expected_share, actual_share)| {
            let expected_share = if *expected_share > 0.0 { *expected_share } else { PSI_EMPTY_SHARE };
            let actual_share = if *actual_share > 0.0 { *actual_share } else { PSI_EMPTY_SHARE };
            (actual_share - expected_share) * (actual_share / expected_share).ln()
        })
        .sum();
    Ok(PsiReport { psi, edges, expected_shares, actual_shares })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use Outcome::{Bad, Good};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn auc_by_hand() {
        // Goods 3, 4; bads 1, 3. Pairs: (3,1) win, (3,3) tie, (4,1) win, (4,3) win → 3.5 / 4.
        let scored = [(3.0, Good), (4.0, Good), (1.0, Bad), (3.0, Bad)];
        assert!(close(auc(&scored).unwrap(), 0.875));
        assert!(close(gini_from_auc(0.875), 0.75));
        // Perfect, inverted, all tied.
        assert!(close(auc(&[(2.0, Good), (1.0, Bad)]).unwrap(), 1.0));
        assert!(close(auc(&[(1.0, Good), (2.0, Bad)]).unwrap(), 0.0));
        assert!(close(auc(&[(1.0, Good), (1.0, Bad), (1.0, Good)]).unwrap(), 0.5));
    }

    #[test]
    fn ks_by_hand() {
        // Ascending: 1 (bad), 2 (good), 3 (bad, good), 4 (good).
        // After 1: F_bad 1/2, F_good 0 → 0.5; after 2: 1/2 vs 1/3; after 3: 1 vs 2/3; after 4: 1 vs 1.
        let scored = [(1.0, Bad), (2.0, Good), (3.0, Bad), (3.0, Good), (4.0, Good)];
        assert!(close(ks(&scored).unwrap(), 0.5));
        // A tie is never split: all tied gives 0.
        assert!(close(ks(&[(5.0, Bad), (5.0, Good)]).unwrap(), 0.0));
    }

    #[test]
    fn psi_by_hand() {
        let expected: Vec<f64> = (0..10).map(f64::from).collect();
        // Deciles of 0..9 are 1..9: ten bins of one value each.
        let report = psi(&expected, &expected).unwrap();
        assert_eq!(report.edges, (1..10).map(f64::from).collect::<Vec<_>>());
        assert!(close(report.psi, 0.0));
        // Half the actual mass in bin 0, half in bin 9.
        let actual = [0.0, 9.0];
        let report = psi(&expected, &actual).unwrap();
        let by_hand =
            2.0 * (0.5 - 0.1) * (0.5f64 / 0.1).ln() + 8.0 * (PSI_EMPTY_SHARE - 0.1) * (PSI_EMPTY_SHARE / 0.1).ln();
        assert!(close(report.psi, by_hand), "{} vs {by_hand}", report.psi);
    }

    #[test]
    fn rejections() {
        assert_eq!(auc(&[]).unwrap_err().code(), "no_scores");
        assert_eq!(auc(&[(1.0, Good)]).unwrap_err().code(), "single_outcome");
        assert_eq!(ks(&[(f64::NAN, Good), (1.0, Bad)]).unwrap_err().code(), "non_finite_score");
        assert_eq!(psi(&[], &[1.0]).unwrap_err().code(), "no_scores");
        assert_eq!(psi(&[1.0], &[f64::INFINITY]).unwrap_err().code(), "non_finite_score");
    }
}
