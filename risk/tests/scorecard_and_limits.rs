//! Table-driven tests of scoring, scorecard validation, credit limits and profiles, with a test for
//! every rejection code.

// Test code: a panic is how a test fails, including in helpers outside `#[test]` functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{
    best_customer, categories, category, characteristic, features, missing, number, range, sample_definition,
    sample_policy, sample_scorecard, worst_customer,
};
use risk::credit_limit::{round_down_to_fen, CREDIT_LIMIT_MULTIPLE_DECIMALS_MAX, CREDIT_LIMIT_MULTIPLE_MAX};
use risk::scorecard::{
    BINS_PER_CHARACTERISTIC_MAX, CHARACTERISTICS_MAX, DESCRIPTION_BYTES_MAX, NAME_BYTES_MAX, REASON_CODE_BYTES_MAX,
};
use risk::woe::{BINS_MAX, FINE_BIN_COUNT_MAX};
use risk::{
    credit_profile, CreditLimitError, CreditLimitPolicy, CreditLimitPolicyConfig, CustomerFeatures, FeatureValue,
    Features, Grade, ProfileError, ScalingError, ScorecardDefinition, ScorecardError, ScoringError, WoeError,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

struct Expected {
    points_total: i64,
    score: i32,
    grade: Grade,
    /// (code, points lost), in reported order.
    reasons: &'static [(&'static str, i32)],
}

/// Scores `features` on the sample scorecard and compares with `expected`, or with a rejection code.
fn check(features: Features, expected: Result<Expected, &str>) {
    let scorecard = sample_scorecard();
    match (scorecard.score(&features), expected) {
        (Ok(outcome), Ok(expected)) => {
            assert_eq!(outcome.model_version, "gaswallet-credit-2025.1");
            assert_eq!(outcome.points_total, expected.points_total, "{features:?}");
            assert_eq!(outcome.score, expected.score, "{features:?}");
            assert_eq!(outcome.grade, expected.grade, "{features:?}");
            let reasons: Vec<(&str, i32)> =
                outcome.reasons.iter().map(|reason| (reason.code.as_str(), reason.points_lost)).collect();
            assert_eq!(reasons, expected.reasons, "{features:?}");
            let lost: i64 = outcome.characteristics.iter().map(|scored| i64::from(scored.points_below_baseline)).sum();
            assert_eq!(scorecard.best_points_total() - outcome.points_total, lost);
        }
        (Err(error), Err(code)) => assert_eq!(error.code(), code, "{features:?}: {error}"),
        (result, expected) => {
            panic!("{features:?}: got {result:?}, expected {:?}", expected.map(|expected| expected.score))
        }
    }
}

fn with(base: Features, changes: &[(&str, Option<FeatureValue>)]) -> Features {
    let mut changed = base;
    for (name, value) in changes {
        match value {
            Some(value) => changed.insert((*name).to_owned(), value.clone()),
            None => changed.remove(*name),
        };
    }
    changed
}

#[test]
fn scoring_cases() {
    check(best_customer(), Ok(Expected { points_total: 900, score: 900, grade: Grade::A, reasons: &[] }));
    // Worst everywhere: 345 points, clamped to the 350 floor; only the four largest losses reported.
    check(
        worst_customer(),
        Ok(Expected {
            points_total: 345,
            score: 350,
            grade: Grade::E,
            reasons: &[("R06", 150), ("R02", 120), ("R03", 100), ("R01", 70)],
        }),
    );
    // One late bill: 30 points lost on arrears only.
    check(
        with(best_customer(), &[("max_days_in_arrears", Some(number(12.0)))]),
        Ok(Expected { points_total: 870, score: 870, grade: Grade::A, reasons: &[("R02", 30)] }),
    );
    // Missing values fall into the missing bins; ties are reported in scorecard order.
    check(
        with(
            best_customer(),
            &[
                ("on_time_bill_share", None),
                ("balance_coverage_months", None),
                ("top_up_channel", None),
                ("tenure_months", Some(number(20.0))),
            ],
        ),
        Ok(Expected {
            points_total: 900 - 40 - 25 - 25 - 15,
            score: 795,
            grade: Grade::A,
            reasons: &[("R01", 40), ("R04", 25), ("R07", 25), ("R05", 15)],
        }),
    );
    // Bin edges are half-open: 0.95 is in the top bin, 90 days in the worst arrears bin.
    check(
        with(
            best_customer(),
            &[
                ("on_time_bill_share", Some(number(0.95))),
                ("max_days_in_arrears", Some(number(90.0))),
                ("top_up_channel", Some(category("alipay"))),
                ("valve_closures_for_non_payment", Some(number(1.0))),
            ],
        ),
        Ok(Expected {
            points_total: 900 - 120 - 15 - 60,
            score: 705,
            grade: Grade::B,
            reasons: &[("R02", 120), ("R03", 60), ("R07", 15)],
        }),
    );
    // Grade boundaries: exactly at a threshold gets that grade.
    check(
        with(
            best_customer(),
            &[
                ("max_days_in_arrears", Some(number(90.0))),
                ("balance_coverage_months", Some(number(0.1))),
                ("top_up_channel", Some(category("counter_cash"))),
            ],
        ),
        Ok(Expected {
            points_total: 700,
            score: 700,
            grade: Grade::B,
            reasons: &[("R02", 120), ("R04", 40), ("R07", 40)],
        }),
    );
    check(
        with(
            best_customer(),
            &[("meter_tamper_flags", Some(number(2.0))), ("valve_closures_for_non_payment", Some(number(5.0)))],
        ),
        Ok(Expected { points_total: 650, score: 650, grade: Grade::C, reasons: &[("R06", 150), ("R03", 100)] }),
    );
}

#[test]
fn grade_thresholds_are_inclusive() {
    let scorecard = sample_scorecard();
    let cases = [
        (950, Grade::A),
        (750, Grade::A),
        (749, Grade::B),
        (700, Grade::B),
        (699, Grade::C),
        (650, Grade::C),
        (649, Grade::D),
        (600, Grade::D),
        (599, Grade::E),
        (350, Grade::E),
    ];
    for (score, grade) in cases {
        assert_eq!(scorecard.grade(score), grade, "{score}");
    }
}

#[test]
fn scoring_rejections() {
    let too_many = (0..=7).fold(best_customer(), |mut map, index| {
        map.insert(format!("extra_{index}"), number(1.0));
        map
    });
    let cases: Vec<(&str, Features, &str)> = vec![
        ("more features than characteristics", too_many, "too_many_features"),
        (
            "misspelt feature",
            with(best_customer(), &[("tenure_months", None), ("tenure_month", Some(number(60.0)))]),
            "unknown_feature",
        ),
        ("NaN", with(best_customer(), &[("tenure_months", Some(number(f64::NAN)))]), "non_finite_feature"),
        ("infinity", with(best_customer(), &[("tenure_months", Some(number(f64::INFINITY)))]), "non_finite_feature"),
        ("missing without a missing bin", with(best_customer(), &[("max_days_in_arrears", None)]), "missing_feature"),
        (
            "unlisted category",
            with(best_customer(), &[("top_up_channel", Some(category("cheque")))]),
            "no_bin_for_value",
        ),
        (
            "number where categories are expected",
            with(best_customer(), &[("top_up_channel", Some(number(1.0)))]),
            "no_bin_for_value",
        ),
        (
            "category where ranges are expected",
            with(best_customer(), &[("tenure_months", Some(category("long")))]),
            "no_bin_for_value",
        ),
    ];
    for (name, features, code) in cases {
        let error = sample_scorecard().score(&features).unwrap_err();
        assert_eq!(error.code(), code, "{name}: {error}");
    }
}

#[test]
fn scoring_a_gap_between_ranges_is_rejected() {
    let mut definition = sample_definition();
    definition.characteristics[4].bins =
        vec![range(None, Some(12.0), "< 1 year", 90), range(Some(24.0), None, ">= 2 years", 125)];
    let scorecard = risk::Scorecard::new(definition).unwrap();
    let features = with(best_customer(), &[("tenure_months", Some(number(18.0)))]);
    assert_eq!(
        scorecard.score(&features).unwrap_err(),
        ScoringError::NoBinForValue { feature: "tenure_months".to_owned() }
    );
}

#[test]
fn customer_features_struct_scores_like_the_map() {
    let customer = CustomerFeatures {
        on_time_bill_share: Some(1.0),
        max_days_in_arrears: Some(0),
        total_days_in_arrears: None,
        valve_closures_for_non_payment: Some(0),
        balance_coverage_months: Some(3.0),
        top_up_interval_cv: None,
        tenure_months: Some(60),
        disputes: None,
        meter_tamper_flags: Some(0),
    };
    let mut expected = best_customer();
    expected.remove("top_up_channel");
    assert_eq!(customer.to_features(), expected);
    let outcome = sample_scorecard().score(&customer.to_features()).unwrap();
    assert_eq!(outcome.points_total, 900 - 25);

    // A feature the scorecard does not read is rejected, not ignored.
    let with_disputes = CustomerFeatures { disputes: Some(0), ..customer };
    assert_eq!(sample_scorecard().score(&with_disputes.to_features()).unwrap_err().code(), "unknown_feature");
}

/// Applies `change` to the sample definition and expects `code` from `Scorecard::new`.
fn check_definition(name: &str, change: impl FnOnce(&mut ScorecardDefinition), code: &str) {
    let mut definition = sample_definition();
    change(&mut definition);
    match risk::Scorecard::new(definition) {
        Ok(_) => panic!("{name}: accepted, expected {code}"),
        Err(error) => assert_eq!(error.code(), code, "{name}: {error}"),
    }
}

#[test]
fn scorecard_definition_rejections() {
    let long_name = "x".repeat(NAME_BYTES_MAX + 1);
    check_definition("bad scaling", |d| d.scaling.pdo = 0.0, "invalid_pdo");
    check_definition("empty version", |d| d.model_version.clear(), "invalid_model_version");
    check_definition("long version", |d| d.model_version = long_name.clone(), "invalid_model_version");
    check_definition("thresholds out of order", |d| d.grades.b_min_score = 760, "invalid_grade_thresholds");
    check_definition(
        "D at the band floor leaves no room for E",
        |d| d.grades.d_min_score = 350,
        "invalid_grade_thresholds",
    );
    check_definition("A above the band ceiling", |d| d.grades.a_min_score = 951, "invalid_grade_thresholds");
    check_definition("no characteristics", |d| d.characteristics.clear(), "characteristic_count_out_of_range");
    check_definition(
        "too many characteristics",
        |d| {
            d.characteristics = (0..=CHARACTERISTICS_MAX)
                .map(|index| {
                    characteristic(
                        &format!("f{index}"),
                        &format!("R{index}"),
                        "reason",
                        vec![range(None, None, "all", 10)],
                    )
                })
                .collect();
        },
        "characteristic_count_out_of_range",
    );
    check_definition("empty feature name", |d| d.characteristics[2].feature.clear(), "invalid_feature_name");
    check_definition("long feature name", |d| d.characteristics[2].feature = long_name.clone(), "invalid_feature_name");
    check_definition(
        "duplicate feature",
        |d| d.characteristics[2].feature = "tenure_months".to_owned(),
        "duplicate_feature",
    );
    check_definition(
        "reason code with a space",
        |d| d.characteristics[0].reason_code = "R 1".to_owned(),
        "invalid_reason_code",
    );
    check_definition(
        "long reason code",
        |d| d.characteristics[0].reason_code = "R".repeat(REASON_CODE_BYTES_MAX + 1),
        "invalid_reason_code",
    );
    check_definition(
        "duplicate reason code",
        |d| d.characteristics[3].reason_code = "R01".to_owned(),
        "duplicate_reason_code",
    );
    check_definition(
        "empty description",
        |d| d.characteristics[1].reason_description.clear(),
        "invalid_reason_description",
    );
    check_definition(
        "long description",
        |d| d.characteristics[1].reason_description = "x".repeat(DESCRIPTION_BYTES_MAX + 1),
        "invalid_reason_description",
    );
    check_definition("no bins", |d| d.characteristics[1].bins.clear(), "bin_count_out_of_range");
    check_definition(
        "too many bins",
        |d| {
            d.characteristics[1].bins = (0..=BINS_PER_CHARACTERISTIC_MAX)
                .map(|index| {
                    let lower = index as f64;
                    range(Some(lower), Some(lower + 1.0), "bin", 10)
                })
                .collect();
        },
        "bin_count_out_of_range",
    );
    check_definition("empty bin label", |d| d.characteristics[1].bins[0].label.clear(), "invalid_bin_label");
    check_definition("points past limit", |d| d.characteristics[1].bins[0].points = 100_001, "bin_points_out_of_range");
    check_definition(
        "empty range",
        |d| d.characteristics[1].bins[1] = range(Some(30.0), Some(1.0), "backwards", 110),
        "invalid_numeric_range",
    );
    check_definition(
        "NaN bound",
        |d| d.characteristics[1].bins[1] = range(Some(f64::NAN), Some(30.0), "nan", 110),
        "invalid_numeric_range",
    );
    check_definition(
        "empty category list",
        |d| d.characteristics[6].bins[0] = categories(&[], "none", 10),
        "invalid_categories",
    );
    check_definition(
        "empty category value",
        |d| d.characteristics[6].bins[0] = categories(&[""], "blank", 10),
        "invalid_categories",
    );
    check_definition(
        "overlapping ranges",
        |d| d.characteristics[1].bins[1] = range(Some(0.5), Some(30.0), "overlap", 110),
        "overlapping_bins",
    );
    check_definition(
        "two unbounded ranges",
        |d| d.characteristics[5].bins.push(range(None, None, "all", 0)),
        "overlapping_bins",
    );
    check_definition(
        "category in two bins",
        |d| d.characteristics[6].bins[2] = categories(&["counter_cash", "wechat"], "dup", 85),
        "overlapping_bins",
    );
    check_definition("two missing bins", |d| d.characteristics[0].bins.push(missing(10)), "overlapping_bins");
}

#[test]
fn scorecard_limits_are_accepted_at_the_bound() {
    let mut definition = sample_definition();
    definition.model_version = "v".repeat(NAME_BYTES_MAX);
    definition.characteristics = (0..CHARACTERISTICS_MAX)
        .map(|index| {
            let bins = (0..BINS_PER_CHARACTERISTIC_MAX)
                .map(|bin| {
                    let lower = bin as f64;
                    range(Some(lower), Some(lower + 1.0), "b", 10)
                })
                .collect();
            characteristic(
                &format!("f{index:0>63}"),
                &format!("{index:0>16}"),
                &"d".repeat(DESCRIPTION_BYTES_MAX),
                bins,
            )
        })
        .collect();
    let scorecard = risk::Scorecard::new(definition).unwrap();
    assert_eq!(scorecard.best_points_total(), 320);
    // Adjacent half-open ranges share an edge without overlapping.
    let touching = range(Some(1.0), Some(2.0), "b", 1);
    let mut definition = sample_definition();
    definition.characteristics[5].bins = vec![range(None, Some(1.0), "a", 1), touching, range(Some(2.0), None, "c", 1)];
    assert!(risk::Scorecard::new(definition).is_ok());
}

#[test]
fn credit_limit_per_grade_rounds_down_to_the_fen() {
    let policy = sample_policy();
    let cases = [
        (Grade::A, dec!(150.00), dec!(450.00)),
        (Grade::B, dec!(150.00), dec!(300.00)),
        // 123.45 × 1.25 = 154.3125 → 154.31.
        (Grade::C, dec!(123.45), dec!(154.31)),
        // 99.99 × 1.25 = 124.9875: rounded down, not half-up (124.99).
        (Grade::C, dec!(99.99), dec!(124.98)),
        (Grade::D, dec!(500.00), dec!(0.00)),
        (Grade::E, dec!(500.00), dec!(0.00)),
        (Grade::A, dec!(0), dec!(0.00)),
        (Grade::A, dec!(1000000), dec!(3000000.00)),
        // Trailing zeros past the fen are not extra decimals.
        (Grade::A, dec!(10.000), dec!(30.00)),
    ];
    for (grade, spend, expected) in cases {
        let limit = policy.credit_limit_cny(grade, spend).unwrap();
        assert_eq!(limit, expected, "{grade:?} {spend}");
        assert_eq!(limit.scale(), 2, "{grade:?} {spend}: {limit}");
    }
}

#[test]
fn round_down_to_fen_truncates() {
    let cases =
        [(dec!(1.009), dec!(1.00)), (dec!(1.999), dec!(1.99)), (dec!(2), dec!(2.00)), (dec!(0.005), dec!(0.00))];
    for (input, expected) in cases {
        let rounded = round_down_to_fen(input);
        assert_eq!(rounded, expected, "{input}");
        assert_eq!(rounded.to_string(), expected.to_string(), "{input}");
    }
}

#[test]
fn credit_limit_rejections() {
    let policy = sample_policy();
    let spend_cases = [
        (dec!(-0.01), "negative_spend"),
        (dec!(1000000.01), "spend_too_large"),
        (dec!(12.345), "spend_too_many_decimals"),
    ];
    for (spend, code) in spend_cases {
        let error = policy.credit_limit_cny(Grade::A, spend).unwrap_err();
        assert_eq!(error.code(), code, "{spend}");
    }
    // Negative zero is zero.
    assert_eq!(policy.credit_limit_cny(Grade::A, -Decimal::ZERO).unwrap(), dec!(0.00));

    let valid = sample_policy().config();
    let policy_cases = [
        (CreditLimitPolicyConfig { multiple_grade_a: dec!(-1), ..valid }, "invalid_credit_limit_multiple"),
        (
            CreditLimitPolicyConfig { multiple_grade_a: CREDIT_LIMIT_MULTIPLE_MAX + dec!(0.0001), ..valid },
            "invalid_credit_limit_multiple",
        ),
        (CreditLimitPolicyConfig { multiple_grade_b: dec!(1.00001), ..valid }, "invalid_credit_limit_multiple"),
        (CreditLimitPolicyConfig { multiple_grade_b: dec!(4), ..valid }, "credit_limit_multiples_not_monotonic"),
        (
            CreditLimitPolicyConfig { multiple_grade_d: dec!(0.5), multiple_grade_e: dec!(0.5), ..valid },
            "lowest_grade_granted_credit",
        ),
    ];
    for (config, code) in policy_cases {
        let error = CreditLimitPolicy::new(config).unwrap_err();
        assert_eq!(error.code(), code, "{config:?}: {error}");
    }
    // At the bounds: the largest multiple, with the most decimals allowed.
    assert_eq!(CREDIT_LIMIT_MULTIPLE_DECIMALS_MAX, 4);
    assert!(CreditLimitPolicy::new(CreditLimitPolicyConfig {
        multiple_grade_a: CREDIT_LIMIT_MULTIPLE_MAX,
        multiple_grade_b: dec!(2.3456),
        ..valid
    })
    .is_ok());
}

#[test]
fn credit_profile_ties_score_grade_reasons_and_limit() {
    let profile = credit_profile(
        &sample_scorecard(),
        &sample_policy(),
        &with(best_customer(), &[("max_days_in_arrears", Some(number(12.0)))]),
        dec!(180.50),
        1_750_000_000_000,
    )
    .unwrap();
    assert_eq!(profile.model_version, "gaswallet-credit-2025.1");
    assert_eq!(profile.computed_at_unix_ms, 1_750_000_000_000);
    assert_eq!(profile.score, 870);
    assert_eq!(profile.grade, Grade::A);
    assert_eq!(profile.reasons.len(), 1);
    assert_eq!(profile.reasons[0].code, "R02");
    assert_eq!(profile.reasons[0].description, "Bills have been long in arrears");
    assert_eq!(profile.reasons[0].feature, "max_days_in_arrears");
    assert_eq!(profile.reasons[0].points_lost, 30);
    assert_eq!(profile.credit_limit_cny, dec!(541.50));

    let worst = credit_profile(&sample_scorecard(), &sample_policy(), &worst_customer(), dec!(180.50), 0).unwrap();
    assert_eq!(worst.grade, Grade::E);
    assert_eq!(worst.credit_limit_cny, dec!(0.00));

    let scoring_error =
        credit_profile(&sample_scorecard(), &sample_policy(), &features(&[("unknown", number(1.0))]), dec!(1), 0)
            .unwrap_err();
    assert_eq!(scoring_error.code(), "unknown_feature");
    let limit_error = credit_profile(&sample_scorecard(), &sample_policy(), &best_customer(), dec!(-1), 0).unwrap_err();
    assert_eq!(limit_error.code(), "negative_spend");
    assert!(matches!(limit_error, ProfileError::CreditLimit(_)));
}

/// One value of every error variant in the crate, so that codes can be checked for uniqueness.
fn every_error_code() -> Vec<&'static str> {
    let feature = || "f".to_owned();
    let woe = [
        WoeError::NoBins,
        WoeError::TooManyBins { count: BINS_MAX + 1, limit: BINS_MAX },
        WoeError::EmptyBin { index: 0 },
        WoeError::NoBadOutcomes,
        WoeError::NoGoodOutcomes,
        WoeError::NoObservations,
        WoeError::TooManyObservations { limit: 1 },
        WoeError::NonFiniteValue { index: 0 },
        WoeError::InvalidFineBinCount { value: FINE_BIN_COUNT_MAX + 1 },
        WoeError::InvalidMinBinShare { basis_points: 1 },
    ];
    let scaling = [
        ScalingError::InvalidBasePoints,
        ScalingError::InvalidBaseOdds,
        ScalingError::InvalidPdo,
        ScalingError::InvalidScoreBand,
        ScalingError::NonFiniteInput { quantity: "x" },
        ScalingError::InvalidCharacteristicCount { count: 0 },
        ScalingError::ComputedPointsOutOfRange,
    ];
    let scorecard = [
        ScorecardError::InvalidModelVersion,
        ScorecardError::InvalidGradeThresholds,
        ScorecardError::CharacteristicCountOutOfRange { count: 0 },
        ScorecardError::InvalidFeatureName { index: 0 },
        ScorecardError::DuplicateFeature { feature: feature() },
        ScorecardError::InvalidReasonCode { feature: feature() },
        ScorecardError::DuplicateReasonCode { reason_code: feature() },
        ScorecardError::InvalidReasonDescription { feature: feature() },
        ScorecardError::BinCountOutOfRange { feature: feature(), count: 0 },
        ScorecardError::InvalidBinLabel { feature: feature() },
        ScorecardError::BinPointsOutOfRange { feature: feature() },
        ScorecardError::InvalidNumericRange { feature: feature() },
        ScorecardError::InvalidCategories { feature: feature() },
        ScorecardError::OverlappingBins { feature: feature() },
    ];
    let scoring = [
        ScoringError::TooManyFeatures { count: 9, limit: 8 },
        ScoringError::UnknownFeature { feature: feature() },
        ScoringError::NonFiniteFeature { feature: feature() },
        ScoringError::MissingFeature { feature: feature() },
        ScoringError::NoBinForValue { feature: feature() },
    ];
    let credit_limit = [
        CreditLimitError::InvalidMultiple { grade: Grade::A },
        CreditLimitError::MultiplesNotMonotonic { better: Grade::A, worse: Grade::B },
        CreditLimitError::LowestGradeGrantedCredit,
        CreditLimitError::NegativeSpend,
        CreditLimitError::SpendTooLarge,
        CreditLimitError::SpendTooManyDecimals,
        CreditLimitError::Overflow,
    ];
    woe.iter()
        .map(WoeError::code)
        .chain(scaling.iter().map(ScalingError::code))
        .chain(scorecard.iter().map(ScorecardError::code))
        .chain(scoring.iter().map(ScoringError::code))
        .chain(credit_limit.iter().map(CreditLimitError::code))
        .collect()
}

#[test]
fn error_codes_are_unique_snake_case() {
    let codes = every_error_code();
    let unique: BTreeSet<&str> = codes.iter().copied().collect();
    assert_eq!(unique.len(), codes.len(), "{codes:?}");
    for code in codes {
        assert!(code.bytes().all(|byte| byte.is_ascii_lowercase() || byte == b'_'), "{code}");
    }
    // Wrapped errors keep the inner code.
    assert_eq!(ScorecardError::Scaling(ScalingError::InvalidPdo).code(), "invalid_pdo");
}
