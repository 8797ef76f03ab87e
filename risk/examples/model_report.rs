//! Fits the default credit model on synthetic customers and measures it out of sample.
//!
//! ```text
//! cargo run --release -p risk --example model_report            # print the report
//! cargo run --release -p risk --example model_report -- --write # also rewrite the model file and the chart
//! ```
//!
//! Generates [`TRAINING_CUSTOMERS`] training and [`TEST_CUSTOMERS`] test customers of period 1
//! and [`TEST_CUSTOMERS`] of period 2 from [`SEED`], fits the scorecard on the training set,
//! writes it as a model file, reads the file back, and evaluates *that* model (the one that
//! ships) on the test set: AUC, Gini, KS, bad rate per grade, and the PSI between the test
//! period and period 2. With `--write` it rewrites `risk/models/gas-credit-v1.json` and
//! `docs/risk-score-distribution.svg`.

use std::fmt::Write as _;
use std::path::Path;

use risk::evaluation::{auc, gini_from_auc, ks, psi};
use risk::features::{features_from_history, FeatureId};
use risk::fit::{fit_scorecard, CharacteristicSpec, FitConfig};
use risk::model::{Model, ModelFile, ModelProvenance, MODEL_FORMAT};
use risk::synthetic::{generate_customer, Period, SyntheticCustomer};
use risk::woe::{MonotonicBinningConfig, Outcome};
use risk::{CreditLimitPolicyConfig, CustomerFeatures, Grade, GradeThresholds, ScoreScalingConfig};
use rust_decimal::Decimal;

/// Seed of every synthetic customer in the report.
const SEED: u64 = 20_250_101;
/// Training customers (period 1, indices `0..TRAINING_CUSTOMERS`).
const TRAINING_CUSTOMERS: u64 = 50_000;
/// Test customers (period 1, the next indices; and period 2, from index 0).
const TEST_CUSTOMERS: u64 = 50_000;
const MODEL_VERSION: &str = "gas-credit-v1";
const COMMAND: &str = "cargo run --release -p risk --example model_report -- --write";

fn characteristic_specs() -> Vec<CharacteristicSpec> {
    let spec = |feature, code: &str, description: &str| CharacteristicSpec {
        feature,
        reason_code: code.to_owned(),
        reason_description: description.to_owned(),
    };
    vec![
        spec(FeatureId::OnTimeBillShare, "R01", "Bills not paid on time in the last 12 months"),
        spec(FeatureId::MaxDaysInArrears, "R02", "A long spell in arrears in the last 12 months"),
        spec(FeatureId::TotalDaysInArrears, "R03", "Many days in arrears in the last 12 months"),
        spec(FeatureId::ValveClosuresForNonPayment, "R04", "Gas valve closed for non-payment in the last 12 months"),
        spec(FeatureId::BalanceCoverageMonths, "R05", "Wallet balance covers little of monthly gas spend"),
        spec(FeatureId::TopUpIntervalCv, "R06", "Irregular top-ups"),
        spec(FeatureId::TenureMonths, "R07", "Short time as a customer"),
        spec(FeatureId::Disputes, "R08", "Billing disputes in the last 12 months"),
        spec(FeatureId::MeterTamperFlags, "R09", "Meter tamper flagged in the last 12 months"),
    ]
}

fn fit_config() -> FitConfig {
    FitConfig {
        model_version: MODEL_VERSION.to_owned(),
        // The design's scale: 600 points at 50:1 good:bad, 20 points to double the odds, 350–950.
        scaling: ScoreScalingConfig { base_points: 600.0, base_odds: 50.0, pdo: 20.0, min_score: 350, max_score: 950 },
        // By odds of good: A ≥ 100:1, B ≥ 50:1, C ≥ 25:1, D ≥ 12.5:1, E below.
        grades: GradeThresholds { a_min_score: 620, b_min_score: 600, c_min_score: 580, d_min_score: 560 },
        binning: MonotonicBinningConfig { fine_bin_count: 10, min_bin_share_basis_points: 200 },
        ridge: 1.0,
        characteristics: characteristic_specs(),
    }
}

fn credit_limit_policy() -> CreditLimitPolicyConfig {
    CreditLimitPolicyConfig {
        multiple_grade_a: Decimal::from(3),
        multiple_grade_b: Decimal::from(2),
        multiple_grade_c: Decimal::ONE,
        multiple_grade_d: Decimal::ZERO,
        multiple_grade_e: Decimal::ZERO,
    }
}

fn features_of(customers: &[SyntheticCustomer]) -> Vec<(CustomerFeatures, Outcome)> {
    customers
        .iter()
        .map(|customer| {
            let features = features_from_history(&customer.history, customer.as_of_unix_ms)
                .unwrap_or_else(|error| panic!("synthetic history rejected: {error}"));
            (features, customer.outcome)
        })
        .collect()
}

fn scores_of(model: &Model, samples: &[(CustomerFeatures, Outcome)]) -> Vec<(f64, Outcome)> {
    samples
        .iter()
        .map(|(features, outcome)| {
            let scored = model.score(features).unwrap_or_else(|error| panic!("scoring failed: {error}"));
            (f64::from(scored.score), *outcome)
        })
        .collect()
}

fn bad_rate(samples: &[(CustomerFeatures, Outcome)]) -> f64 {
    samples.iter().filter(|(_, outcome)| *outcome == Outcome::Bad).count() as f64 / samples.len() as f64
}

/// Histogram of scores by outcome, as a standalone SVG (no script, no external resources).
fn score_histogram_svg(scored: &[(f64, Outcome)], title: &str) -> String {
    const BIN_POINTS: f64 = 10.0;
    let (low, high) =
        scored.iter().fold((f64::MAX, f64::MIN), |(low, high), (score, _)| (low.min(*score), high.max(*score)));
    let low = (low / BIN_POINTS).floor() * BIN_POINTS;
    let high = (high / BIN_POINTS).floor() * BIN_POINTS + BIN_POINTS;
    let bin_count = ((high - low) / BIN_POINTS) as usize;
    let mut shares = [vec![0.0f64; bin_count], vec![0.0f64; bin_count]];
    let totals = [
        scored.iter().filter(|(_, outcome)| *outcome == Outcome::Good).count() as f64,
        scored.iter().filter(|(_, outcome)| *outcome == Outcome::Bad).count() as f64,
    ];
    for (score, outcome) in scored {
        let series = usize::from(*outcome == Outcome::Bad);
        let bin = (((score - low) / BIN_POINTS) as usize).min(bin_count - 1);
        shares[series][bin] += 1.0 / totals[series];
    }
    let peak = shares.iter().flatten().copied().fold(0.0, f64::max).max(1e-9);
    let (width, height, left, right, top, bottom) = (760.0, 400.0, 60.0, 20.0, 40.0, 50.0);
    let plot_width = width - left - right;
    let plot_height = height - top - bottom;
    let bar_width = plot_width / bin_count as f64;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="{width}" height="{height}" fill="white"/>"#);
    let _ = writeln!(svg, r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{title}</text>"#, width / 2.0);
    let colours = ["#2b7bba", "#d7301f"];
    for (series, colour) in colours.iter().enumerate() {
        for (bin, share) in shares[series].iter().enumerate() {
            if *share <= 0.0 {
                continue;
            }
            let bar_height = share / peak * plot_height;
            let x = left + bin as f64 * bar_width;
            let y = top + plot_height - bar_height;
            let _ = writeln!(
                svg,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{bar_height:.1}" fill="{colour}" fill-opacity="0.55"/>"#,
                bar_width.max(1.0)
            );
        }
    }
    // Axes, ticks every 50 points, and share ticks.
    let axis_y = top + plot_height;
    let _ =
        writeln!(svg, r#"<line x1="{left}" y1="{axis_y}" x2="{}" y2="{axis_y}" stroke="black"/>"#, left + plot_width);
    let _ = writeln!(svg, r#"<line x1="{left}" y1="{top}" x2="{left}" y2="{axis_y}" stroke="black"/>"#);
    let mut tick = (low / 50.0).ceil() * 50.0;
    while tick <= high {
        let x = left + (tick - low) / (high - low) * plot_width;
        let _ = writeln!(svg, r#"<line x1="{x:.1}" y1="{axis_y}" x2="{x:.1}" y2="{}" stroke="black"/>"#, axis_y + 5.0);
        let _ = writeln!(svg, r#"<text x="{x:.1}" y="{}" text-anchor="middle">{tick}</text>"#, axis_y + 18.0);
        tick += 50.0;
    }
    for step in 0..=4 {
        let share = peak * f64::from(step) / 4.0;
        let y = axis_y - plot_height * f64::from(step) / 4.0;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{:.1} %</text>"#,
            left - 6.0,
            y + 4.0,
            share * 100.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">score (10-point bins); bar height = share of that outcome's customers</text>"#,
        left + plot_width / 2.0,
        height - 12.0
    );
    for (series, (colour, label)) in colours.iter().zip(["good", "bad"]).enumerate() {
        let y = top + 10.0 + series as f64 * 18.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{}" y="{}" width="12" height="12" fill="{colour}" fill-opacity="0.55"/>"#,
            width - 120.0,
            y - 10.0
        );
        let _ = writeln!(svg, r#"<text x="{}" y="{y}">{label} (n = {})</text>"#, width - 102.0, totals[series]);
    }
    svg.push_str("</svg>\n");
    svg
}

fn main() {
    let write = std::env::args().any(|argument| argument == "--write");
    let started = std::time::Instant::now();
    let training: Vec<SyntheticCustomer> =
        (0..TRAINING_CUSTOMERS).map(|index| generate_customer(SEED, Period::First, index)).collect();
    let test: Vec<SyntheticCustomer> = (TRAINING_CUSTOMERS..TRAINING_CUSTOMERS + TEST_CUSTOMERS)
        .map(|index| generate_customer(SEED, Period::First, index))
        .collect();
    let period_2: Vec<SyntheticCustomer> =
        (0..TEST_CUSTOMERS).map(|index| generate_customer(SEED, Period::Second, index)).collect();
    let training_samples = features_of(&training);
    let test_samples = features_of(&test);
    let period_2_samples = features_of(&period_2);
    let generated = started.elapsed();

    let fitted = fit_scorecard(&training_samples, &fit_config()).unwrap_or_else(|error| panic!("fit failed: {error}"));
    let file = ModelFile {
        format: MODEL_FORMAT.to_owned(),
        scorecard: fitted.definition.clone(),
        credit_limit_policy: credit_limit_policy(),
        provenance: ModelProvenance {
            command: COMMAND.to_owned(),
            seed: Some(SEED),
            training_customers: training_samples.len(),
            intercept: fitted.intercept,
            characteristics: fitted.characteristics.clone(),
        },
    };
    let json = Model::new(file)
        .and_then(|model| model.to_json())
        .unwrap_or_else(|error| panic!("fitted model is invalid: {error}"));
    // Evaluate the model as read back from its file: exactly what ships.
    let model = Model::from_json(&json).unwrap_or_else(|error| panic!("model file does not load: {error}"));

    let training_scored = scores_of(&model, &training_samples);
    let test_scored = scores_of(&model, &test_samples);
    let period_2_scored = scores_of(&model, &period_2_samples);
    let oracle: Vec<(f64, Outcome)> =
        test.iter().map(|customer| (-customer.latent_propensity, customer.outcome)).collect();
    let test_auc = auc(&test_scored).unwrap_or(f64::NAN);
    let training_auc = auc(&training_scored).unwrap_or(f64::NAN);
    let oracle_auc = auc(&oracle).unwrap_or(f64::NAN);
    let test_ks = ks(&test_scored).unwrap_or(f64::NAN);
    let period_2_auc = auc(&period_2_scored).unwrap_or(f64::NAN);
    let expected: Vec<f64> = test_scored.iter().map(|(score, _)| *score).collect();
    let actual: Vec<f64> = period_2_scored.iter().map(|(score, _)| *score).collect();
    let stability = psi(&expected, &actual).unwrap_or_else(|error| panic!("psi failed: {error}"));
    let self_stability = {
        let training_scores: Vec<f64> = training_scored.iter().map(|(score, _)| *score).collect();
        psi(&expected, &training_scores).map(|report| report.psi).unwrap_or(f64::NAN)
    };

    println!("# gas-credit-v1 model report");
    println!("seed {SEED}; {TRAINING_CUSTOMERS} training, {TEST_CUSTOMERS} test (period 1), {TEST_CUSTOMERS} period 2");
    println!("generated and featurised in {:.1} s", generated.as_secs_f64());
    println!();
    println!(
        "bad rate: training {:.4}, test {:.4}, period 2 {:.4}",
        bad_rate(&training_samples),
        bad_rate(&test_samples),
        bad_rate(&period_2_samples)
    );
    println!();
    println!("| characteristic | IV | coefficient | note |");
    println!("|---|---|---|---|");
    for characteristic in &fitted.characteristics {
        println!(
            "| `{}` | {:.4} | {} | {} |",
            characteristic.feature.name(),
            characteristic.information_value,
            characteristic.coefficient.map_or("—".to_owned(), |coefficient| format!("{coefficient:.4}")),
            characteristic.dropped_because.as_deref().unwrap_or("")
        );
    }
    println!("intercept {:.4}, Newton steps {}", fitted.intercept, fitted.iterations);
    println!();
    println!("| sample | AUC | Gini | KS |");
    println!("|---|---|---|---|");
    println!(
        "| training (in sample) | {training_auc:.4} | {:.4} | {:.4} |",
        gini_from_auc(training_auc),
        ks(&training_scored).unwrap_or(f64::NAN)
    );
    println!(
        "| **test (out of sample)** | **{test_auc:.4}** | **{:.4}** | **{test_ks:.4}** |",
        gini_from_auc(test_auc)
    );
    println!(
        "| period 2 (drifted) | {period_2_auc:.4} | {:.4} | {:.4} |",
        gini_from_auc(period_2_auc),
        ks(&period_2_scored).unwrap_or(f64::NAN)
    );
    println!(
        "| oracle: latent propensity, test | {oracle_auc:.4} | {:.4} | {:.4} |",
        gini_from_auc(oracle_auc),
        ks(&oracle).unwrap_or(f64::NAN)
    );
    println!();
    println!(
        "PSI test → period 2: {:.4}; test → training (same period, sampling noise): {self_stability:.4}",
        stability.psi
    );
    println!("PSI edges: {:?}", stability.edges);
    println!(
        "expected shares: {:?}",
        stability.expected_shares.iter().map(|share| format!("{share:.4}")).collect::<Vec<_>>()
    );
    println!(
        "actual shares:   {:?}",
        stability.actual_shares.iter().map(|share| format!("{share:.4}")).collect::<Vec<_>>()
    );
    println!();
    println!("| grade | min score | credit limit (× monthly spend) | test customers | share | bad rate |");
    println!("|---|---|---|---|---|---|");
    let grades = model.scorecard().definition().grades;
    for grade in Grade::ALL {
        let minimum = match grade {
            Grade::A => grades.a_min_score.to_string(),
            Grade::B => grades.b_min_score.to_string(),
            Grade::C => grades.c_min_score.to_string(),
            Grade::D => grades.d_min_score.to_string(),
            Grade::E => "—".to_owned(),
        };
        let in_grade: Vec<&(f64, Outcome)> =
            test_scored.iter().filter(|(score, _)| model.scorecard().grade(*score as i32) == grade).collect();
        let bads = in_grade.iter().filter(|(_, outcome)| *outcome == Outcome::Bad).count();
        println!(
            "| {grade:?} | {minimum} | {} | {} | {:.1} % | {:.2} % |",
            model.credit_limit_policy().multiple(grade),
            in_grade.len(),
            in_grade.len() as f64 / test_scored.len() as f64 * 100.0,
            if in_grade.is_empty() { 0.0 } else { bads as f64 / in_grade.len() as f64 * 100.0 }
        );
    }
    println!();
    println!("scorecard (points per bin):");
    for characteristic in &model.scorecard().definition().characteristics {
        let bins: Vec<String> =
            characteristic.bins.iter().map(|bin| format!("{}: {}", bin.label, bin.points)).collect();
        println!("- `{}` ({}): {}", characteristic.feature, characteristic.reason_code, bins.join("; "));
    }
    println!("best points total {}", model.scorecard().best_points_total());

    if write {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let model_path = manifest.join("models/gas-credit-v1.json");
        let chart_path = manifest.join("../docs/risk-score-distribution.svg");
        let title = format!("gas-credit-v1: test scores by outcome (seed {SEED}, {TEST_CUSTOMERS} customers)");
        std::fs::write(&model_path, format!("{json}\n")).unwrap_or_else(|error| panic!("writing the model: {error}"));
        std::fs::write(&chart_path, score_histogram_svg(&test_scored, &title))
            .unwrap_or_else(|error| panic!("writing the chart: {error}"));
        println!();
        println!("wrote {} and {}", model_path.display(), chart_path.display());
    }
}
