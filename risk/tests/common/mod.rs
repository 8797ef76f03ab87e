//! Fixtures shared by the integration tests: a hand-built gaswallet scorecard and its policy.

// Each test crate uses a different subset; test code panics to fail.
#![allow(dead_code, clippy::unwrap_used)]

use risk::{
    BinDefinition, BinMatcher, CharacteristicDefinition, CreditLimitPolicy, CreditLimitPolicyConfig, FeatureValue,
    Features, GradeThresholds, ScoreScalingConfig, Scorecard, ScorecardDefinition,
};
use rust_decimal_macros::dec;

/// 600 points at 50:1, 20 points to double the odds, 350–950 band.
pub fn design_scaling() -> ScoreScalingConfig {
    ScoreScalingConfig { base_points: 600.0, base_odds: 50.0, pdo: 20.0, min_score: 350, max_score: 950 }
}

/// A ≥ 750, B ≥ 700, C ≥ 650, D ≥ 600, E below.
pub fn design_grades() -> GradeThresholds {
    GradeThresholds { a_min_score: 750, b_min_score: 700, c_min_score: 650, d_min_score: 600 }
}

pub fn range(lower: Option<f64>, upper: Option<f64>, label: &str, points: i32) -> BinDefinition {
    BinDefinition {
        label: label.to_owned(),
        matcher: BinMatcher::NumericRange { lower_inclusive: lower, upper_exclusive: upper },
        points,
    }
}

pub fn categories(values: &[&str], label: &str, points: i32) -> BinDefinition {
    BinDefinition {
        label: label.to_owned(),
        matcher: BinMatcher::Categories(values.iter().map(|value| (*value).to_owned()).collect()),
        points,
    }
}

pub fn missing(points: i32) -> BinDefinition {
    BinDefinition { label: "missing".to_owned(), matcher: BinMatcher::Missing, points }
}

pub fn characteristic(
    feature: &str,
    reason_code: &str,
    reason_description: &str,
    bins: Vec<BinDefinition>,
) -> CharacteristicDefinition {
    CharacteristicDefinition {
        feature: feature.to_owned(),
        reason_code: reason_code.to_owned(),
        reason_description: reason_description.to_owned(),
        bins,
    }
}

/// Seven characteristics; best total 900, worst total 345 (clamped to 350).
pub fn sample_definition() -> ScorecardDefinition {
    ScorecardDefinition {
        model_version: "gaswallet-credit-2025.1".to_owned(),
        scaling: design_scaling(),
        grades: design_grades(),
        characteristics: vec![
            characteristic(
                "on_time_bill_share",
                "R01",
                "Few bills paid on time",
                vec![
                    range(None, Some(0.8), "< 80 %", 60),
                    range(Some(0.8), Some(0.95), "80–95 %", 100),
                    range(Some(0.95), None, ">= 95 %", 130),
                    missing(90),
                ],
            ),
            characteristic(
                "max_days_in_arrears",
                "R02",
                "Bills have been long in arrears",
                vec![
                    range(None, Some(1.0), "none", 140),
                    range(Some(1.0), Some(30.0), "1–29 days", 110),
                    range(Some(30.0), Some(90.0), "30–89 days", 70),
                    range(Some(90.0), None, ">= 90 days", 20),
                ],
            ),
            characteristic(
                "valve_closures_for_non_payment",
                "R03",
                "Valve closed for non-payment",
                vec![
                    range(None, Some(1.0), "none", 130),
                    range(Some(1.0), Some(2.0), "once", 70),
                    range(Some(2.0), None, "twice or more", 30),
                ],
            ),
            characteristic(
                "balance_coverage_months",
                "R04",
                "Balance covers little of monthly consumption",
                vec![
                    range(None, Some(0.5), "< 0.5 months", 80),
                    range(Some(0.5), Some(2.0), "0.5–2 months", 105),
                    range(Some(2.0), None, ">= 2 months", 120),
                    missing(95),
                ],
            ),
            characteristic(
                "tenure_months",
                "R05",
                "Short customer relationship",
                vec![
                    range(None, Some(12.0), "< 1 year", 90),
                    range(Some(12.0), Some(36.0), "1–3 years", 110),
                    range(Some(36.0), None, ">= 3 years", 125),
                ],
            ),
            characteristic(
                "meter_tamper_flags",
                "R06",
                "Meter tamper flagged",
                vec![range(None, Some(1.0), "none", 130), range(Some(1.0), None, "flagged", -20)],
            ),
            characteristic(
                "top_up_channel",
                "R07",
                "Tops up by hand rather than automatically",
                vec![
                    categories(&["bank_autopay"], "bank autopay", 125),
                    categories(&["wechat", "alipay"], "app", 110),
                    categories(&["counter_cash"], "counter", 85),
                    missing(100),
                ],
            ),
        ],
    }
}

pub fn sample_scorecard() -> Scorecard {
    Scorecard::new(sample_definition()).unwrap()
}

/// A 3×, B 2×, C 1.25×, D and E nothing.
pub fn sample_policy() -> CreditLimitPolicy {
    CreditLimitPolicy::new(CreditLimitPolicyConfig {
        multiple_grade_a: dec!(3),
        multiple_grade_b: dec!(2),
        multiple_grade_c: dec!(1.25),
        multiple_grade_d: dec!(0),
        multiple_grade_e: dec!(0),
    })
    .unwrap()
}

pub fn number(value: f64) -> FeatureValue {
    FeatureValue::Number(value)
}

pub fn category(value: &str) -> FeatureValue {
    FeatureValue::Category(value.to_owned())
}

pub fn features(pairs: &[(&str, FeatureValue)]) -> Features {
    pairs.iter().map(|(name, value)| ((*name).to_owned(), value.clone())).collect()
}

/// A customer in the best bin of every characteristic of the sample scorecard.
pub fn best_customer() -> Features {
    features(&[
        ("on_time_bill_share", number(1.0)),
        ("max_days_in_arrears", number(0.0)),
        ("valve_closures_for_non_payment", number(0.0)),
        ("balance_coverage_months", number(3.0)),
        ("tenure_months", number(60.0)),
        ("meter_tamper_flags", number(0.0)),
        ("top_up_channel", category("bank_autopay")),
    ])
}

/// A customer in the worst bin of every characteristic of the sample scorecard.
pub fn worst_customer() -> Features {
    features(&[
        ("on_time_bill_share", number(0.2)),
        ("max_days_in_arrears", number(120.0)),
        ("valve_closures_for_non_payment", number(3.0)),
        ("balance_coverage_months", number(0.0)),
        ("tenure_months", number(2.0)),
        ("meter_tamper_flags", number(1.0)),
        ("top_up_channel", category("counter_cash")),
    ])
}
