//! Property tests: random scorecards, customers, counts and observations against simple reference
//! computations. Proptest saves the seed of a failing case in
//! `tests/properties.proptest-regressions` and replays it first on the next run; commit that file
//! with the fix.

// Test code: a panic is how a test fails, including in helpers outside `#[test]` functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use proptest::prelude::*;
use proptest::sample::Index;
use risk::woe::{
    monotonic_numeric_bins, numeric_bin_index, woe_table, BadRateTrend, BinCounts, MonotonicBinningConfig, Outcome,
    BASIS_POINTS_PER_WHOLE,
};
use risk::{
    BinDefinition, BinMatcher, CharacteristicDefinition, CreditLimitPolicy, CreditLimitPolicyConfig, FeatureValue,
    Features, Grade, ScoreScaling, Scorecard, ScorecardDefinition,
};
use rust_decimal::Decimal;

/// How the values of one generated characteristic are binned.
#[derive(Debug, Clone)]
enum GeneratedKind {
    /// Integer edges, strictly ascending: bins `(−∞, e0)`, `[e0, e1)`, …, `[e_last, +∞)`.
    Numeric { edges: Vec<i32> },
    /// One bin per category `c0`, `c1`, ….
    Categorical { category_count: usize },
}

#[derive(Debug, Clone)]
struct GeneratedCharacteristic {
    kind: GeneratedKind,
    /// Points of the value bins, in bin order.
    bin_points: Vec<i32>,
    /// Points of the missing bin, if there is one.
    missing_points: Option<i32>,
}

impl GeneratedCharacteristic {
    /// Value bins, then the missing bin.
    fn slot_count(&self) -> usize {
        self.bin_points.len() + usize::from(self.missing_points.is_some())
    }

    fn slot_points(&self, slot: usize) -> i32 {
        self.bin_points.get(slot).copied().or(self.missing_points).unwrap()
    }

    fn baseline_points(&self) -> i32 {
        self.bin_points.iter().copied().chain(self.missing_points).max().unwrap()
    }

    /// A value that falls into `slot`, `fraction` of the way through a bounded bin.
    fn value_for_slot(&self, slot: usize, fraction: f64) -> Option<FeatureValue> {
        if slot >= self.bin_points.len() {
            return None;
        }
        Some(match &self.kind {
            GeneratedKind::Numeric { edges } => {
                let lower = slot.checked_sub(1).map(|index| f64::from(edges[index]));
                let upper = edges.get(slot).map(|edge| f64::from(*edge));
                let value = match (lower, upper) {
                    (None, None) => fraction * 100.0,
                    (None, Some(upper)) => upper - 1.0 - fraction * 100.0,
                    (Some(lower), None) => lower + fraction * 100.0,
                    (Some(lower), Some(upper)) => lower + fraction * (upper - lower),
                };
                FeatureValue::Number(value)
            }
            GeneratedKind::Categorical { .. } => FeatureValue::Category(format!("c{slot}")),
        })
    }

    fn definition(&self, index: usize) -> CharacteristicDefinition {
        let mut bins: Vec<BinDefinition> = self
            .bin_points
            .iter()
            .enumerate()
            .map(|(slot, points)| {
                let matcher = match &self.kind {
                    GeneratedKind::Numeric { edges } => BinMatcher::NumericRange {
                        lower_inclusive: slot.checked_sub(1).map(|i| f64::from(edges[i])),
                        upper_exclusive: edges.get(slot).map(|edge| f64::from(*edge)),
                    },
                    GeneratedKind::Categorical { .. } => BinMatcher::Categories(vec![format!("c{slot}")]),
                };
                BinDefinition { label: format!("bin {slot}"), matcher, points: *points }
            })
            .collect();
        if let Some(points) = self.missing_points {
            bins.push(BinDefinition { label: "missing".to_owned(), matcher: BinMatcher::Missing, points });
        }
        CharacteristicDefinition {
            feature: format!("f{index}"),
            reason_code: format!("R{index:02}"),
            reason_description: format!("reason {index}"),
            bins,
        }
    }
}

fn points() -> impl Strategy<Value = i32> {
    -200i32..=300
}

fn generated_characteristic() -> impl Strategy<Value = GeneratedCharacteristic> {
    let numeric = prop::collection::btree_set(-1000i32..1000, 0..6)
        .prop_map(|edges| GeneratedKind::Numeric { edges: edges.into_iter().collect() });
    let categorical = (1usize..=5).prop_map(|category_count| GeneratedKind::Categorical { category_count });
    prop_oneof![3 => numeric, 1 => categorical]
        .prop_flat_map(|kind| {
            let bin_count = match &kind {
                GeneratedKind::Numeric { edges } => edges.len() + 1,
                GeneratedKind::Categorical { category_count } => *category_count,
            };
            (Just(kind), prop::collection::vec(points(), bin_count), prop::option::of(points()))
        })
        .prop_map(|(kind, bin_points, missing_points)| GeneratedCharacteristic { kind, bin_points, missing_points })
}

/// Up to 8 characteristics, so that reasons are sometimes cut at four.
fn generated_scorecard() -> impl Strategy<Value = Vec<GeneratedCharacteristic>> {
    prop::collection::vec(generated_characteristic(), 1..=8)
}

fn build_scorecard(characteristics: &[GeneratedCharacteristic]) -> Scorecard {
    Scorecard::new(ScorecardDefinition {
        model_version: "property".to_owned(),
        scaling: common::design_scaling(),
        grades: common::design_grades(),
        characteristics: characteristics
            .iter()
            .enumerate()
            .map(|(index, characteristic)| characteristic.definition(index))
            .collect(),
    })
    .unwrap()
}

/// One customer: a slot choice and a position within the bin, per characteristic.
type Choices = Vec<(Index, f64)>;

fn choices() -> impl Strategy<Value = Choices> {
    prop::collection::vec((any::<Index>(), 0.0f64..0.999), 8)
}

fn slots(characteristics: &[GeneratedCharacteristic], choices: &Choices) -> Vec<usize> {
    characteristics
        .iter()
        .zip(choices)
        .map(|(characteristic, (index, _))| index.index(characteristic.slot_count()))
        .collect()
}

fn customer(characteristics: &[GeneratedCharacteristic], slots: &[usize], choices: &Choices) -> Features {
    characteristics
        .iter()
        .enumerate()
        .filter_map(|(index, characteristic)| {
            characteristic.value_for_slot(slots[index], choices[index].1).map(|value| (format!("f{index}"), value))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn same_input_same_output(generated in generated_scorecard(), choices in choices()) {
        let slots = slots(&generated, &choices);
        let features = customer(&generated, &slots, &choices);
        let first = build_scorecard(&generated).score(&features).unwrap();
        let again = build_scorecard(&generated).score(&features).unwrap();
        prop_assert_eq!(&first, &again);
        let scorecard = build_scorecard(&generated);
        prop_assert_eq!(scorecard.score(&features).unwrap(), first);
    }

    #[test]
    fn points_match_the_reference_and_the_gap_identity_holds(
        generated in generated_scorecard(),
        choices in choices(),
    ) {
        let slots = slots(&generated, &choices);
        let scorecard = build_scorecard(&generated);
        let outcome = scorecard.score(&customer(&generated, &slots, &choices)).unwrap();

        let expected_points: Vec<i32> = generated
            .iter()
            .zip(&slots)
            .map(|(characteristic, slot)| characteristic.slot_points(*slot))
            .collect();
        let observed_points: Vec<i32> =
            outcome.characteristics.iter().map(|scored| scored.points).collect();
        prop_assert_eq!(&observed_points, &expected_points);

        let best: i64 = generated.iter().map(|c| i64::from(c.baseline_points())).sum();
        prop_assert_eq!(scorecard.best_points_total(), best);
        let gaps: i64 = generated
            .iter()
            .zip(&expected_points)
            .map(|(characteristic, points)| i64::from(characteristic.baseline_points() - points))
            .sum();
        prop_assert_eq!(best - outcome.points_total, gaps);
        let reported_gaps: i64 = outcome
            .characteristics
            .iter()
            .map(|scored| i64::from(scored.points_below_baseline))
            .sum();
        prop_assert_eq!(reported_gaps, gaps);

        // Score is the clamped total, and the grade is the grade of the score.
        prop_assert_eq!(i64::from(outcome.score), outcome.points_total.clamp(350, 950));
        prop_assert_eq!(outcome.grade, common::design_grades().grade(outcome.score));
    }

    #[test]
    fn reasons_are_the_four_largest_gaps(generated in generated_scorecard(), choices in choices()) {
        let slots = slots(&generated, &choices);
        let outcome = build_scorecard(&generated)
            .score(&customer(&generated, &slots, &choices))
            .unwrap();
        // Reference: every positive gap, largest first, ties by position, first four.
        let mut gaps: Vec<(usize, i32)> = generated
            .iter()
            .zip(&slots)
            .enumerate()
            .map(|(index, (characteristic, slot))| {
                (index, characteristic.baseline_points() - characteristic.slot_points(*slot))
            })
            .filter(|(_, gap)| *gap > 0)
            .collect();
        gaps.sort_by_key(|(index, gap)| (std::cmp::Reverse(*gap), *index));
        let expected: Vec<(String, i32)> = gaps
            .iter()
            .take(4)
            .map(|(index, gap)| (format!("R{index:02}"), *gap))
            .collect();
        let observed: Vec<(String, i32)> = outcome
            .reasons
            .iter()
            .map(|reason| (reason.code.clone(), reason.points_lost))
            .collect();
        prop_assert_eq!(observed, expected);
        // No unreported gap is larger than the smallest reported one.
        if let Some(smallest_reported) = outcome.reasons.last() {
            prop_assert!(gaps.iter().skip(4).all(|(_, gap)| *gap <= smallest_reported.points_lost));
        }
    }

    #[test]
    fn a_better_bin_never_lowers_the_score(
        generated in generated_scorecard(),
        choices in choices(),
        which in any::<Index>(),
        other_slot in any::<Index>(),
    ) {
        let slots = slots(&generated, &choices);
        let changed_index = which.index(generated.len());
        let changed = &generated[changed_index];
        let mut other_slots = slots.clone();
        other_slots[changed_index] = other_slot.index(changed.slot_count());

        let scorecard = build_scorecard(&generated);
        let before = scorecard.score(&customer(&generated, &slots, &choices)).unwrap();
        let after = scorecard.score(&customer(&generated, &other_slots, &choices)).unwrap();
        let points_before = changed.slot_points(slots[changed_index]);
        let points_after = changed.slot_points(other_slots[changed_index]);

        prop_assert_eq!(
            after.points_total - before.points_total,
            i64::from(points_after) - i64::from(points_before)
        );
        if points_after >= points_before {
            prop_assert!(after.score >= before.score);
            prop_assert!(after.grade <= before.grade, "grade A is best and smallest");
        } else {
            prop_assert!(after.score <= before.score);
            prop_assert!(after.grade >= before.grade);
        }
    }

    #[test]
    fn iv_terms_are_never_negative_and_woe_follows_bad_rate(
        bins in prop::collection::vec((0u64..1000, 0u64..1000), 1..12),
    ) {
        let counts: Vec<BinCounts> = bins
            .iter()
            .map(|(good, bad)| BinCounts { good: *good, bad: *bad })
            .collect();
        prop_assume!(counts.iter().all(|bin| bin.observation_count() > 0));
        prop_assume!(counts.iter().any(|bin| bin.bad > 0) && counts.iter().any(|bin| bin.good > 0));
        let table = woe_table(&counts).unwrap();
        prop_assert!(table.bins.iter().all(|bin| bin.iv_contribution >= 0.0));
        prop_assert!(table.information_value >= 0.0);

        let no_zero_counts = counts.iter().all(|bin| bin.good > 0 && bin.bad > 0);
        if no_zero_counts {
            for (a, b) in counts.iter().zip(&table.bins).flat_map(|first| {
                counts.iter().zip(&table.bins).map(move |second| (first, second))
            }) {
                let rate_a = u128::from(a.0.bad) * b.0.observation_count();
                let rate_b = u128::from(b.0.bad) * a.0.observation_count();
                if rate_a < rate_b {
                    prop_assert!(a.1.woe < b.1.woe);
                }
            }
        }

        // Reversing the bins reverses the table and keeps the IV.
        let reversed: Vec<BinCounts> = counts.iter().rev().copied().collect();
        let reversed_table = woe_table(&reversed).unwrap();
        for (forward, backward) in table.bins.iter().zip(reversed_table.bins.iter().rev()) {
            prop_assert!((forward.woe - backward.woe).abs() < 1e-12);
        }
        prop_assert!((table.information_value - reversed_table.information_value).abs() < 1e-9);
    }

    #[test]
    fn monotonic_binning_invariants(
        raw in prop::collection::vec((-30i32..30, 0u32..100), 2..400),
        threshold in 0i32..100,
        fine_bin_count in 2usize..=40,
        min_bin_share_basis_points in 0u32..=2000,
    ) {
        // Risk grows with value plus noise, so both monotonic and noisy samples occur.
        let mut observations: Vec<(f64, Outcome)> = raw
            .iter()
            .map(|(value, noise)| {
                let risky = (*value + 30) as u32 + noise > threshold as u32 + 60;
                (f64::from(*value) / 4.0, if risky { Outcome::Bad } else { Outcome::Good })
            })
            .collect();
        observations.push((0.0, Outcome::Good));
        observations.push((0.0, Outcome::Bad));
        let config = MonotonicBinningConfig { fine_bin_count, min_bin_share_basis_points };
        let binning = monotonic_numeric_bins(&observations, &config).unwrap();

        prop_assert_eq!(binning.bins.len(), binning.edges.len() + 1);
        prop_assert!(binning.edges.windows(2).all(|pair| pair[0] < pair[1]));
        let mut recount = vec![BinCounts::default(); binning.bins.len()];
        for (value, outcome) in &observations {
            recount[numeric_bin_index(&binning.edges, *value)].record(*outcome);
        }
        prop_assert_eq!(&recount, &binning.bins);

        let total = observations.len() as u128;
        if binning.bins.len() > 1 {
            for bin in &binning.bins {
                prop_assert!(
                    bin.observation_count() * u128::from(BASIS_POINTS_PER_WHOLE)
                        >= total * u128::from(min_bin_share_basis_points)
                );
            }
        }
        for pair in binning.bins.windows(2) {
            let left = u128::from(pair[0].bad) * pair[1].observation_count();
            let right = u128::from(pair[1].bad) * pair[0].observation_count();
            match binning.trend {
                BadRateTrend::Increasing => prop_assert!(left < right),
                BadRateTrend::Decreasing => prop_assert!(left > right),
            }
        }

        // The order of the input does not matter, and the result is reproducible.
        let reversed: Vec<(f64, Outcome)> = observations.iter().rev().copied().collect();
        prop_assert_eq!(monotonic_numeric_bins(&reversed, &config).unwrap(), binning);
    }

    #[test]
    fn bin_points_add_up_to_the_model_score(
        model in prop::collection::vec((-3.0f64..3.0, 0.0f64..2.0), 1..10),
        intercept in -3.0f64..3.0,
    ) {
        let scaling = ScoreScaling::new(common::design_scaling()).unwrap();
        let count = model.len();
        let mut unrounded_total = 0.0;
        let mut rounded_total = 0i64;
        for (woe, coefficient) in &model {
            unrounded_total += scaling.unrounded_bin_points(*woe, *coefficient, intercept, count).unwrap();
            rounded_total += i64::from(scaling.bin_points(*woe, *coefficient, intercept, count).unwrap());
        }
        let log_odds_bad: f64 =
            intercept + model.iter().map(|(woe, coefficient)| woe * coefficient).sum::<f64>();
        let model_score = scaling.raw_score_from_log_odds_good(-log_odds_bad);
        prop_assert!((unrounded_total - model_score).abs() < 1e-6);
        // Rounding each bin moves the total by at most half a point per characteristic.
        prop_assert!((rounded_total as f64 - model_score).abs() <= count as f64 / 2.0 + 1e-6);
    }

    #[test]
    fn score_is_monotonic_in_log_odds(a in -30.0f64..30.0, b in -30.0f64..30.0) {
        let scaling = ScoreScaling::new(common::design_scaling()).unwrap();
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        let low_score = scaling.score_from_log_odds_good(low).unwrap();
        let high_score = scaling.score_from_log_odds_good(high).unwrap();
        prop_assert!(low_score <= high_score);
        prop_assert!((350..=950).contains(&low_score) && (350..=950).contains(&high_score));
    }

    #[test]
    fn credit_limits_round_down_and_follow_grade_and_spend(
        mut multiples_ten_thousandths in prop::collection::vec(0i64..=120_000, 4),
        spend_fen in 0i64..=100_000_000,
        extra_fen in 0i64..=1_000_000,
    ) {
        multiples_ten_thousandths.sort_unstable_by(|a, b| b.cmp(a));
        let multiple = |index: usize| Decimal::new(multiples_ten_thousandths[index], 4);
        let policy = CreditLimitPolicy::new(CreditLimitPolicyConfig {
            multiple_grade_a: multiple(0),
            multiple_grade_b: multiple(1),
            multiple_grade_c: multiple(2),
            multiple_grade_d: multiple(3),
            multiple_grade_e: Decimal::ZERO,
        })
        .unwrap();
        let spend = Decimal::new(spend_fen, 2);
        let more_spend = Decimal::new(spend_fen + extra_fen, 2).min(Decimal::new(100_000_000, 2));
        let fen = Decimal::new(1, 2);

        let mut previous: Option<Decimal> = None;
        for grade in Grade::ALL {
            let limit = policy.credit_limit_cny(grade, spend).unwrap();
            let exact = spend * policy.multiple(grade);
            prop_assert_eq!(limit.scale(), 2);
            prop_assert!(limit <= exact && exact - limit < fen, "{} vs {}", limit, exact);
            if let Some(better_grade_limit) = previous {
                prop_assert!(limit <= better_grade_limit);
            }
            previous = Some(limit);
            prop_assert!(policy.credit_limit_cny(grade, more_spend).unwrap() >= limit);
        }
        prop_assert_eq!(previous, Some(Decimal::new(0, 2)));
    }
}
