//! A technician's standing at a moment: rolling average, commission tier, review hold.
//!
//! Tiers apply **prospectively, never retroactively**: only ratings made strictly before the
//! moment of decision count. The rating of the job being settled therefore never moves the tier it
//! is settled at, and settling the same job again later (a retry) gives the same answer as long as
//! the caller passes the same moment (the job's rating time).
//!
//! The rolling basis is the rule table's: the last N ratings, or those of the last N days. Below
//! the table's minimum count, tiers and the review floor do not apply: the technician is
//! standard and not held, because a handful of ratings says little about anyone.
//!
//! The average is rounded to two decimal places, half-up ([`round_average_half_up`]), and the
//! *rounded* average is what is compared with the thresholds: the technician sees `4.70` and is
//! gold, with no hidden third decimal deciding otherwise.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::business_day::SECONDS_PER_DAY;
use crate::rules::{RollingBasis, RuleSet, Tier};
use crate::service_order::Stars;

/// Decimal places of a rolling average.
pub const AVERAGE_DECIMAL_PLACES: u32 = 2;

/// A rating a technician received earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastRating {
    /// When the customer rated (Unix seconds).
    pub rated_at: i64,
    /// The stars.
    pub stars: Stars,
}

/// A technician's standing at a moment of decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TechnicianStanding {
    /// The commission tier.
    pub tier: Tier,
    /// The rolling average, two decimals, half-up; `None` when no rating counts.
    pub average: Option<Decimal>,
    /// How many ratings the average is over.
    pub rated_jobs: u32,
    /// Whether the average is below the review floor with the minimum count reached: payouts are
    /// then held for review.
    pub below_review_floor: bool,
}

impl TechnicianStanding {
    /// A technician with no counted ratings: standard, not held.
    pub const NEW: TechnicianStanding =
        TechnicianStanding { tier: Tier::Standard, average: None, rated_jobs: 0, below_review_floor: false };
}

/// Rounds `star_sum / count` to [`AVERAGE_DECIMAL_PLACES`], halves upwards (`4.695 → 4.70`).
///
/// Half-up, like the crate's money rounding, so one rule is used throughout. `count` is positive.
#[must_use]
pub fn round_average_half_up(star_sum: u64, count: u32) -> Decimal {
    let exact = Decimal::from(star_sum) / Decimal::from(count.max(1));
    let mut rounded = exact.round_dp_with_strategy(AVERAGE_DECIMAL_PLACES, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(AVERAGE_DECIMAL_PLACES);
    rounded
}

/// The technician's standing at `decided_at` from their earlier ratings (in any order).
///
/// Only ratings with `rated_at < decided_at` count; of those, the rolling basis picks the last N
/// (ties in time broken by fewer stars first, so the choice never depends on the input's order) or
/// those at or after `decided_at − N days`.
#[must_use]
pub fn technician_standing(ratings: &[PastRating], decided_at: i64, rules: &RuleSet) -> TechnicianStanding {
    let mut earlier: Vec<PastRating> = ratings.iter().copied().filter(|rating| rating.rated_at < decided_at).collect();
    let counted: &[PastRating] = match rules.spec().rolling_basis {
        RollingBasis::LastN(jobs) => {
            earlier.sort_by_key(|rating| (rating.rated_at, rating.stars));
            let keep = usize::try_from(jobs).unwrap_or(usize::MAX).min(earlier.len());
            &earlier[earlier.len() - keep..]
        }
        RollingBasis::RollingDays(days) => {
            let since = decided_at.saturating_sub(i64::from(days) * SECONDS_PER_DAY);
            earlier.retain(|rating| rating.rated_at >= since);
            &earlier
        }
    };
    let Ok(rated_jobs) = u32::try_from(counted.len()) else {
        return TechnicianStanding::NEW;
    };
    if rated_jobs == 0 {
        return TechnicianStanding::NEW;
    }
    let star_sum: u64 = counted.iter().map(|rating| u64::from(rating.stars.get())).sum();
    let average = round_average_half_up(star_sum, rated_jobs);
    let tiers_apply = rated_jobs >= rules.spec().minimum_rated_jobs;
    TechnicianStanding {
        tier: if tiers_apply { rules.tier_for_average(average) } else { Tier::Standard },
        average: Some(average),
        rated_jobs,
        below_review_floor: tiers_apply && average < rules.spec().review_floor_average,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleBook;
    use rust_decimal_macros::dec;

    fn rules_with(basis: RollingBasis) -> RuleSet {
        let book = RuleBook::shipped().expect("valid");
        let mut spec = book.versions()[0].spec().clone();
        spec.rolling_basis = basis;
        RuleSet::new(spec).expect("valid")
    }

    /// Ratings one hour apart, the first at 0.
    fn ratings(stars: &[u8]) -> Vec<PastRating> {
        (0_i64..)
            .zip(stars)
            .map(|(hour, &count)| PastRating { rated_at: hour * 3_600, stars: Stars::new(count).expect("valid") })
            .collect()
    }

    #[test]
    fn average_rounding_is_named_and_half_up() {
        fn check(star_sum: u64, count: u32, expected: &str) {
            assert_eq!(round_average_half_up(star_sum, count).to_string(), expected, "{star_sum}/{count}");
        }
        check(939, 200, "4.70"); // 4.695 exactly: half goes up
        check(938, 200, "4.69");
        check(14, 3, "4.67");
        check(5, 1, "5.00");
        check(7, 2, "3.50");
    }

    #[test]
    fn standing_table() {
        let last_20 = rules_with(RollingBasis::LastN(20));
        fn check(rules: &RuleSet, stars: &[u8], decided_at: i64, expected: (Tier, Option<Decimal>, u32, bool)) {
            let standing = technician_standing(&ratings(stars), decided_at, rules);
            let actual = (standing.tier, standing.average, standing.rated_jobs, standing.below_review_floor);
            assert_eq!(actual, expected, "{stars:?} at {decided_at}");
        }
        let later = 1_000_000;
        check(&last_20, &[], later, (Tier::Standard, None, 0, false));
        // Below the minimum of five: standard and not held, whatever the stars.
        check(&last_20, &[5, 5, 5, 5], later, (Tier::Standard, Some(dec!(5.00)), 4, false));
        check(&last_20, &[1, 1, 1, 1], later, (Tier::Standard, Some(dec!(1.00)), 4, false));
        // At the minimum the tiers apply.
        check(&last_20, &[5, 5, 5, 5, 5], later, (Tier::Gold, Some(dec!(5.00)), 5, false));
        check(&last_20, &[5, 5, 4, 4, 4], later, (Tier::Silver, Some(dec!(4.40)), 5, false));
        check(&last_20, &[4, 4, 4, 4, 5], later, (Tier::Standard, Some(dec!(4.20)), 5, false));
        check(&last_20, &[3, 3, 4, 4, 3], later, (Tier::Standard, Some(dec!(3.40)), 5, true));
        check(&last_20, &[3, 4, 4, 3, 3, 4], later, (Tier::Standard, Some(dec!(3.50)), 6, false)); // at the floor
                                                                                                   // Prospective only: a rating at the moment of decision or after does not count.
        check(&last_20, &[5, 5, 5, 5, 5, 1], 5 * 3_600, (Tier::Gold, Some(dec!(5.00)), 5, false));
        check(&last_20, &[5, 5, 5, 5, 5, 1], 5 * 3_600 + 1, (Tier::Silver, Some(dec!(4.33)), 6, false));
        // Only the last 20 count: 5 old ones-star ratings drop out.
        let mut old_bad_then_good = vec![1; 5];
        old_bad_then_good.extend([5; 20]);
        check(&last_20, &old_bad_then_good, later, (Tier::Gold, Some(dec!(5.00)), 20, false));
        // The rounded average decides: 4.695 shows and counts as 4.70, gold.
        let mut nearly_gold = vec![5; 139];
        nearly_gold.extend([4; 61]);
        let last_200 = rules_with(RollingBasis::LastN(200));
        check(&last_200, &nearly_gold, later, (Tier::Gold, Some(dec!(4.70)), 200, false));
    }

    #[test]
    fn rolling_days_counts_only_recent_ratings() {
        let rules = rules_with(RollingBasis::RollingDays(28));
        let day = SECONDS_PER_DAY;
        let decided_at = 100 * day;
        let at = |rated_at: i64, count: u8| PastRating { rated_at, stars: Stars::new(count).expect("valid") };
        let mut history = vec![at(decided_at - 28 * day - 1, 1)]; // just outside the 28 days
        history.extend((1..=5).map(|hour| at(decided_at - 28 * day + hour - 1, 5))); // the first at the edge
        let standing = technician_standing(&history, decided_at, &rules);
        assert_eq!((standing.tier, standing.rated_jobs), (Tier::Gold, 5));
        // The input's order does not matter.
        history.reverse();
        assert_eq!(technician_standing(&history, decided_at, &rules), standing);
    }
}
