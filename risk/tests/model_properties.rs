//! The shipped model (`models/gas-credit-v1.json`): it loads and round-trips, and for random
//! customers a better value of any feature never lowers the score, the reasons explain the gap to
//! the best score, the allocation-free path equals the general scorecard, and the same input
//! always gives the same output. Also: the model file's own rejections, and a fit that is
//! deterministic end to end.

// Test code: a panic is how a test fails, including in helpers outside `#[test]` functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use risk::features::{BetterWhen, FeatureId};
use risk::fit::{fit_scorecard, CharacteristicSpec, FitConfig};
use risk::model::{Model, DEFAULT_MODEL_JSON};
use risk::synthetic::{generate, Period};
use risk::woe::MonotonicBinningConfig;
use risk::{features_from_history, BinMatcher, CustomerFeatures, Features, Grade, Scorecard};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn model() -> Model {
    Model::load_default().unwrap()
}

fn customer_strategy() -> impl Strategy<Value = CustomerFeatures> {
    let share = prop::option::weighted(0.9, 0.0f64..=1.0);
    let days = || prop::option::weighted(0.9, 0u32..400);
    let count = || prop::option::weighted(0.9, 0u32..6);
    let coverage = prop::option::weighted(0.9, -2.0f64..8.0);
    let cv = prop::option::weighted(0.9, 0.0f64..2.0);
    let tenure = prop::option::weighted(0.9, 0u32..200);
    (share, days(), days(), count(), coverage, cv, tenure, count(), count()).prop_map(
        |(share, max_days, total_days, closures, coverage, cv, tenure, disputes, tamper)| CustomerFeatures {
            on_time_bill_share: share,
            max_days_in_arrears: max_days,
            total_days_in_arrears: total_days,
            valve_closures_for_non_payment: closures,
            balance_coverage_months: coverage,
            top_up_interval_cv: cv,
            tenure_months: tenure,
            disputes,
            meter_tamper_flags: tamper,
        },
    )
}

/// The customer with one feature moved `steps` in its better direction (a present value only).
fn improved(customer: &CustomerFeatures, feature: FeatureId, step: f64) -> CustomerFeatures {
    let mut better = *customer;
    let higher = feature.better_when() == BetterWhen::Higher;
    let move_f64 = |value: Option<f64>, upper: f64| {
        value.map(|value| if higher { (value + step).min(upper) } else { (value - step).max(0.0) })
    };
    let move_u32 = |value: Option<u32>| {
        value.map(|value| {
            let step = step.ceil() as u32;
            if higher {
                value.saturating_add(step)
            } else {
                value.saturating_sub(step)
            }
        })
    };
    match feature {
        FeatureId::OnTimeBillShare => better.on_time_bill_share = move_f64(customer.on_time_bill_share, 1.0),
        FeatureId::MaxDaysInArrears => better.max_days_in_arrears = move_u32(customer.max_days_in_arrears),
        FeatureId::TotalDaysInArrears => better.total_days_in_arrears = move_u32(customer.total_days_in_arrears),
        FeatureId::ValveClosuresForNonPayment => {
            better.valve_closures_for_non_payment = move_u32(customer.valve_closures_for_non_payment)
        }
        FeatureId::BalanceCoverageMonths => {
            better.balance_coverage_months = move_f64(customer.balance_coverage_months, f64::MAX)
        }
        FeatureId::TopUpIntervalCv => better.top_up_interval_cv = move_f64(customer.top_up_interval_cv, f64::MAX),
        FeatureId::TenureMonths => better.tenure_months = move_u32(customer.tenure_months),
        FeatureId::Disputes => better.disputes = move_u32(customer.disputes),
        FeatureId::MeterTamperFlags => better.meter_tamper_flags = move_u32(customer.meter_tamper_flags),
    }
    better
}

/// The features the model reads, as the general scorecard's map.
fn feature_map(model: &Model, customer: &CustomerFeatures) -> Features {
    let read: Vec<&str> = model.features_read().map(FeatureId::name).collect();
    customer.to_features().into_iter().filter(|(name, _)| read.contains(&name.as_str())).collect()
}

#[test]
fn the_shipped_model_loads_round_trips_and_names_its_version() {
    let model = model();
    assert_eq!(model.version(), "gas-credit-v1");
    assert_eq!(Model::from_json(&model.to_json().unwrap()).unwrap(), model);
    assert_eq!(DEFAULT_MODEL_JSON.trim_end(), model.to_json().unwrap());
    assert!(model.features_read().count() >= 5, "the fit kept too few characteristics");
    let provenance = &model.file().provenance;
    assert!(provenance.command.contains("--example model_report"));
    assert!(provenance.seed.is_some());
}

#[test]
fn a_customer_with_no_history_scores_in_the_no_history_bins() {
    let model = model();
    let unknown = CustomerFeatures::default();
    let profile = model.profile(&unknown, dec!(120.00), 1_735_660_800_000).unwrap();
    assert_eq!(profile.model_version, "gas-credit-v1");
    let outcome = model.scorecard().score(&Features::new()).unwrap();
    assert!(outcome.characteristics.iter().all(|scored| scored.bin_label == "no history"));
    assert_eq!(profile.score, outcome.score);
}

#[test]
fn the_credit_limit_follows_the_grade() {
    let model = model();
    let best = CustomerFeatures {
        on_time_bill_share: Some(1.0),
        max_days_in_arrears: Some(0),
        total_days_in_arrears: Some(0),
        valve_closures_for_non_payment: Some(0),
        balance_coverage_months: Some(6.0),
        top_up_interval_cv: Some(0.0),
        tenure_months: Some(150),
        disputes: Some(0),
        meter_tamper_flags: Some(0),
    };
    let profile = model.profile(&best, dec!(100.01), 0).unwrap();
    assert_eq!(profile.grade, Grade::A);
    assert!(profile.reasons.is_empty());
    assert_eq!(i64::from(profile.score), model.scorecard().best_points_total());
    assert_eq!(profile.credit_limit_cny, dec!(300.03));
    let worst = CustomerFeatures {
        on_time_bill_share: Some(0.0),
        max_days_in_arrears: Some(300),
        total_days_in_arrears: Some(300),
        valve_closures_for_non_payment: Some(5),
        balance_coverage_months: Some(-1.0),
        top_up_interval_cv: Some(3.0),
        tenure_months: Some(0),
        disputes: Some(5),
        meter_tamper_flags: Some(5),
    };
    let profile = model.profile(&worst, dec!(100.01), 0).unwrap();
    assert_eq!(profile.grade, Grade::E);
    assert_eq!(profile.credit_limit_cny, Decimal::new(0, 2));
    assert_eq!(profile.reasons.len(), 4);
    // A spend with sub-fen digits is rejected, not rounded.
    assert_eq!(model.profile(&worst, dec!(1.001), 0).unwrap_err().code(), "spend_too_many_decimals");
}

#[test]
fn a_non_finite_feature_is_rejected() {
    let customer = CustomerFeatures { balance_coverage_months: Some(f64::NAN), ..CustomerFeatures::default() };
    assert_eq!(model().score(&customer).unwrap_err().code(), "non_finite_feature");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// A better value of any feature never lowers the score (nor the points total).
    #[test]
    fn a_better_value_never_lowers_the_score(customer in customer_strategy(), step in 0.0f64..50.0) {
        let model = model();
        let before = model.score(&customer).unwrap();
        for feature in FeatureId::ALL {
            let after = model.score(&improved(&customer, feature, step)).unwrap();
            prop_assert!(after.points_total >= before.points_total, "{:?}: {} -> {}", feature, before.points_total, after.points_total);
            prop_assert!(after.score >= before.score);
            prop_assert!(after.grade <= before.grade);
        }
    }

    /// The reasons are the largest shortfalls below each characteristic's baseline, at most four,
    /// and together never more than the gap to the best score; with four or fewer shortfalls they
    /// are the whole gap.
    #[test]
    fn reasons_explain_the_gap_to_the_best_score(customer in customer_strategy()) {
        let model = model();
        let scored = model.score(&customer).unwrap();
        let general = model.scorecard().score(&feature_map(&model, &customer)).unwrap();
        let gap = model.scorecard().best_points_total() - scored.points_total;
        let explained: i64 = scored.reasons().iter().map(|reason| i64::from(reason.points_lost)).sum();
        prop_assert!(explained <= gap);
        let losing: Vec<i32> = general.characteristics.iter().map(|c| c.points_below_baseline).filter(|lost| *lost > 0).collect();
        prop_assert_eq!(scored.reasons().len(), losing.len().min(4));
        if losing.len() <= 4 {
            prop_assert_eq!(explained, gap);
        }
        let smallest_reason = scored.reasons().iter().map(|reason| reason.points_lost).min().unwrap_or(i32::MAX);
        let in_reasons: Vec<usize> = scored.reasons().iter().map(|reason| usize::from(reason.characteristic)).collect();
        for (index, characteristic) in general.characteristics.iter().enumerate() {
            if !in_reasons.contains(&index) {
                prop_assert!(characteristic.points_below_baseline <= smallest_reason);
            }
        }
        prop_assert!(scored.reasons().windows(2).all(|pair| pair[0].points_lost >= pair[1].points_lost));
    }

    /// The allocation-free path equals the general scorecard, reason for reason.
    #[test]
    fn compact_scoring_equals_the_general_scorecard(customer in customer_strategy()) {
        let model = model();
        let compact = model.score(&customer).unwrap();
        let general = model.scorecard().score(&feature_map(&model, &customer)).unwrap();
        prop_assert_eq!(compact.points_total, general.points_total);
        prop_assert_eq!(compact.score, general.score);
        prop_assert_eq!(compact.grade, general.grade);
        let profile = model.profile(&customer, dec!(88.80), 42).unwrap();
        prop_assert_eq!(profile.reasons, general.reasons);
    }

    /// Same input, same output: scoring, bulk scoring and profiles.
    #[test]
    fn the_same_input_gives_the_same_output(customers in prop::collection::vec(customer_strategy(), 1..20)) {
        let model = model();
        let mut first = Vec::new();
        let mut second = Vec::new();
        model.score_many(&customers, &mut first);
        model.score_many(&customers, &mut second);
        prop_assert_eq!(&first, &second);
        for (customer, bulk) in customers.iter().zip(&first) {
            prop_assert_eq!(bulk.as_ref().unwrap(), &model.score(customer).unwrap());
            prop_assert_eq!(model.profile(customer, dec!(50), 7).unwrap(), model.profile(customer, dec!(50), 7).unwrap());
        }
    }
}

#[test]
fn fitting_is_deterministic() {
    let samples: Vec<_> = generate(11, Period::First, 3_000)
        .iter()
        .map(|customer| (features_from_history(&customer.history, customer.as_of_unix_ms).unwrap(), customer.outcome))
        .collect();
    let config = FitConfig {
        model_version: "test-fit".to_owned(),
        scaling: model().scorecard().definition().scaling,
        grades: model().scorecard().definition().grades,
        binning: MonotonicBinningConfig { fine_bin_count: 10, min_bin_share_basis_points: 200 },
        ridge: 1.0,
        characteristics: FeatureId::ALL
            .iter()
            .enumerate()
            .map(|(index, feature)| CharacteristicSpec {
                feature: *feature,
                reason_code: format!("T{index}"),
                reason_description: "test".to_owned(),
            })
            .collect(),
    };
    let first = fit_scorecard(&samples, &config).unwrap();
    let second = fit_scorecard(&samples, &config).unwrap();
    assert_eq!(first, second);
    // Every fitted characteristic is monotonic in its better direction (Model::new checks it).
    Scorecard::new(first.definition).unwrap();
}

/// `change` applied to the shipped model file must be rejected with `code`.
fn check_model_rejected(name: &str, change: impl FnOnce(&mut serde_json::Value), code: &str) {
    let mut value: serde_json::Value = serde_json::from_str(DEFAULT_MODEL_JSON).unwrap();
    change(&mut value);
    let error = Model::from_json(&value.to_string()).unwrap_err();
    assert_eq!(error.code(), code, "{name}: {error}");
}

#[test]
fn model_file_rejections() {
    assert_eq!(Model::from_json("not json").unwrap_err().code(), "invalid_model_file");
    assert_eq!(Model::from_json(&" ".repeat(1_048_577)).unwrap_err().code(), "model_file_too_large");
    check_model_rejected("format", |v| v["format"] = "gaswallet-risk-model/9".into(), "unsupported_model_format");
    check_model_rejected("version", |v| v["scorecard"]["model_version"] = "".into(), "invalid_model_version");
    check_model_rejected(
        "unknown feature",
        |v| v["scorecard"]["characteristics"][0]["feature"] = "shoe_size".into(),
        "unknown_model_feature",
    );
    check_model_rejected(
        "grant credit to E",
        |v| {
            v["credit_limit_policy"]["multiple_grade_d"] = "1".into();
            v["credit_limit_policy"]["multiple_grade_e"] = "1".into();
        },
        "lowest_grade_granted_credit",
    );
    // Swap the points of the worst and best numeric bins of the first characteristic.
    check_model_rejected(
        "points reversed",
        |v| {
            let bins = v["scorecard"]["characteristics"][0]["bins"].as_array_mut().unwrap();
            let numeric = bins.len() - 1;
            let first = bins[0]["points"].clone();
            bins[0]["points"] = bins[numeric - 1]["points"].clone();
            bins[numeric - 1]["points"] = first;
        },
        "points_not_monotonic",
    );
    // Drop the missing bin.
    check_model_rejected(
        "no missing bin",
        |v| {
            let bins = v["scorecard"]["characteristics"][0]["bins"].as_array_mut().unwrap();
            bins.retain(|bin| bin["matcher"] != serde_json::json!("missing"));
        },
        "bins_not_a_partition",
    );
    // Drop an interior numeric bin: a gap.
    check_model_rejected(
        "gap",
        |v| {
            let bins = v["scorecard"]["characteristics"][0]["bins"].as_array_mut().unwrap();
            bins.remove(1);
        },
        "bins_not_a_partition",
    );
    // The shipped model has one missing bin per characteristic, labelled "no history".
    for characteristic in &model().scorecard().definition().characteristics {
        let missing: Vec<_> = characteristic.bins.iter().filter(|bin| bin.matcher == BinMatcher::Missing).collect();
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].label, "no history");
    }
}
