//! Fitting a scorecard from data: monotonic WOE binning, logistic regression, PDO points.
//!
//! 1. **Binning.** Each characteristic's present values are cut by
//!    [`monotonic_numeric_bins_with_trend`] in the direction the domain says is riskier
//!    ([`FeatureId::better_when`]), so the bad rate is strictly monotonic and no sample quirk can
//!    turn a characteristic's points the wrong way. Missing values get their own bin ("no
//!    history"), weighed by its own WOE; if the sample had none, the bin is worth the worst
//!    present bin's points, so that missing data never earns more than the worst known value.
//!    A characteristic whose present values bin into a single bin carries no evidence and is
//!    left out.
//! 2. **Regression.** `ln(odds_bad) = α + Σ β_j woe_j` by Newton–Raphson (IRLS) with a small
//!    ridge penalty on the β (not on α), in `f64`, from zero, for a fixed number of steps or
//!    until the step is tiny: deterministic, bit for bit. A characteristic whose β comes out
//!    non-positive would score a riskier bin higher, and one below [`COEFFICIENT_MIN`] adds only
//!    rounding noise beside the others; it is dropped (the smallest first) and the fit repeated.
//! 3. **Points.** Each bin's points come from [`ScoreScaling::bin_points`] with the fitted β and
//!    α, so the scorecard total is the model's log-odds of good on the PDO scale.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::features::{BetterWhen, CustomerFeatures, FeatureId};
use crate::scaling::{ScalingError, ScoreScaling, ScoreScalingConfig};
use crate::scorecard::{
    BinDefinition, BinMatcher, CharacteristicDefinition, GradeThresholds, ScorecardDefinition, ScorecardError,
};
use crate::woe::{
    monotonic_numeric_bins_with_trend, woe_table, BadRateTrend, BinCounts, MonotonicBinningConfig, Outcome, WoeError,
};

/// Most Newton steps of one regression.
pub const NEWTON_ITERATIONS_MAX: usize = 50;

/// A Newton step smaller than this (largest coefficient change) ends the regression.
pub const NEWTON_STEP_TOLERANCE: f64 = 1e-10;

/// Smallest coefficient a characteristic keeps: below it, the others already carry its evidence
/// and its bins would differ by a point or less, noise that only produces empty reasons.
pub const COEFFICIENT_MIN: f64 = 0.05;

/// Label of the missing-value bin.
pub const NO_HISTORY_LABEL: &str = "no history";

/// One characteristic to fit: the feature and its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharacteristicSpec {
    /// The feature read.
    pub feature: FeatureId,
    /// Reason code when points are lost here.
    pub reason_code: String,
    /// Human-readable reason.
    pub reason_description: String,
}

/// Settings of a fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitConfig {
    /// Version written into the scorecard.
    pub model_version: String,
    /// PDO scaling of the points.
    pub scaling: ScoreScalingConfig,
    /// Grade thresholds written into the scorecard.
    pub grades: GradeThresholds,
    /// Monotonic binning settings.
    pub binning: MonotonicBinningConfig,
    /// Ridge penalty λ on the coefficients (the objective adds `λ/2 Σ β²`), e.g. 1.0.
    pub ridge: f64,
    /// The candidate characteristics, in reporting order.
    pub characteristics: Vec<CharacteristicSpec>,
}

/// What the fit found for one characteristic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedCharacteristic {
    /// The feature.
    pub feature: FeatureId,
    /// Information value of its bins (missing bin included).
    pub information_value: f64,
    /// Fitted coefficient β, or `None` when the characteristic was left out.
    pub coefficient: Option<f64>,
    /// Why it was left out, if it was.
    pub dropped_because: Option<String>,
}

/// The result of a fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedModel {
    /// The scorecard, ready for [`crate::scorecard::Scorecard::new`].
    pub definition: ScorecardDefinition,
    /// Fitted intercept α.
    pub intercept: f64,
    /// Every candidate characteristic, in spec order.
    pub characteristics: Vec<FittedCharacteristic>,
    /// Newton steps of the final regression.
    pub iterations: usize,
}

/// Why a fit failed. Each variant has a stable code.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum FitError {
    /// A binning or WOE computation failed.
    #[error(transparent)]
    Woe(#[from] WoeError),
    /// The scaling rejected a value.
    #[error(transparent)]
    Scaling(#[from] ScalingError),
    /// The resulting scorecard is invalid.
    #[error(transparent)]
    Scorecard(#[from] ScorecardError),
    /// No characteristic carried evidence with a sensible sign.
    #[error("no characteristic is left to fit")]
    NoCharacteristics,
    /// The sample needs both outcomes.
    #[error("the sample needs both good and bad outcomes")]
    SingleOutcome,
    /// The ridge penalty is negative or not finite.
    #[error("ridge penalty must be finite and not negative")]
    InvalidRidge,
    /// The Newton system was singular or the fit diverged.
    #[error("the regression did not converge")]
    NotConverged,
}

impl FitError {
    /// Stable, machine-readable code of the failure.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            FitError::Woe(inner) => inner.code(),
            FitError::Scaling(inner) => inner.code(),
            FitError::Scorecard(inner) => inner.code(),
            FitError::NoCharacteristics => "no_characteristics",
            FitError::SingleOutcome => "single_outcome",
            FitError::InvalidRidge => "invalid_ridge",
            FitError::NotConverged => "not_converged",
        }
    }
}

/// A characteristic after binning: edges, per-bin WOE (numeric bins, then missing), and the WOE
/// code of every sample.
struct BinnedCharacteristic {
    spec_index: usize,
    edges: Vec<f64>,
    /// WOE of the numeric bins, in edge order.
    woe_numeric: Vec<f64>,
    /// WOE of the missing bin, if the sample had missing values.
    woe_missing: Option<f64>,
    information_value: f64,
    encoded: Vec<f64>,
}

fn trend_for(feature: FeatureId) -> BadRateTrend {
    match feature.better_when() {
        // Higher is better: the bad rate falls as the value grows.
        BetterWhen::Higher => BadRateTrend::Decreasing,
        BetterWhen::Lower => BadRateTrend::Increasing,
    }
}

fn bin_characteristic(
    spec_index: usize,
    feature: FeatureId,
    samples: &[(CustomerFeatures, Outcome)],
    binning: &MonotonicBinningConfig,
) -> Result<Option<BinnedCharacteristic>, FitError> {
    let present: Vec<(f64, Outcome)> = samples
        .iter()
        .filter_map(|(features, outcome)| feature.value(features).map(|value| (value, *outcome)))
        .collect();
    let mut missing = BinCounts::default();
    for (features, outcome) in samples {
        if feature.value(features).is_none() {
            missing.record(*outcome);
        }
    }
    let has_both = |outcome| present.iter().any(|(_, observed)| *observed == outcome);
    if !has_both(Outcome::Good) || !has_both(Outcome::Bad) {
        return Ok(None);
    }
    let numeric = monotonic_numeric_bins_with_trend(&present, binning, trend_for(feature))?;
    let has_missing = missing.observation_count() > 0;
    if numeric.bins.len() < 2 {
        return Ok(None);
    }
    let mut counts = numeric.bins.clone();
    if has_missing {
        counts.push(missing);
    }
    let table = woe_table(&counts)?;
    let woes: Vec<f64> = table.bins.iter().map(|bin| bin.woe).collect();
    let (woe_numeric, woe_missing) =
        if has_missing { (woes[..numeric.bins.len()].to_vec(), woes.last().copied()) } else { (woes, None) };
    let encoded = samples
        .iter()
        .map(|(features, _)| match feature.value(features) {
            Some(value) => woe_numeric[crate::woe::numeric_bin_index(&numeric.edges, value + 0.0)],
            None => woe_missing.unwrap_or(0.0),
        })
        .collect();
    Ok(Some(BinnedCharacteristic {
        spec_index,
        edges: numeric.edges,
        woe_numeric,
        woe_missing,
        information_value: table.information_value,
        encoded,
    }))
}

/// Solves `A x = b` for a small symmetric positive definite `A` by Gaussian elimination with
/// partial pivoting. `None` if singular. Index loops read plainest for matrix arithmetic.
#[allow(clippy::needless_range_loop)]
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for column in 0..n {
        let pivot = (column..n).max_by(|i, j| a[*i][column].abs().total_cmp(&a[*j][column].abs()))?;
        if a[pivot][column].abs() < 1e-300 {
            return None;
        }
        a.swap(column, pivot);
        b.swap(column, pivot);
        for row in column + 1..n {
            let factor = a[row][column] / a[column][column];
            for k in column..n {
                a[row][k] -= factor * a[column][k];
            }
            b[row] -= factor * b[column];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let tail: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - tail) / a[row][row];
    }
    x.iter().all(|value| value.is_finite()).then_some(x)
}

/// Logistic regression of `bad` on the columns, with ridge `λ` on all but the intercept.
/// Returns `(intercept, coefficients, iterations)`. Index loops read plainest for matrix arithmetic.
#[allow(clippy::needless_range_loop)]
pub fn logistic_regression(
    columns: &[&[f64]],
    outcomes: &[Outcome],
    ridge: f64,
) -> Result<(f64, Vec<f64>, usize), FitError> {
    if !ridge.is_finite() || ridge < 0.0 {
        return Err(FitError::InvalidRidge);
    }
    let bads = outcomes.iter().filter(|outcome| **outcome == Outcome::Bad).count();
    if bads == 0 || bads == outcomes.len() {
        return Err(FitError::SingleOutcome);
    }
    let parameters = columns.len() + 1;
    // Start at the base rate: α = ln(bad / good), β = 0.
    let mut weights = vec![0.0; parameters];
    weights[0] = (bads as f64 / (outcomes.len() - bads) as f64).ln();
    for iteration in 1..=NEWTON_ITERATIONS_MAX {
        let mut gradient = vec![0.0; parameters];
        let mut hessian = vec![vec![0.0; parameters]; parameters];
        let mut row = vec![1.0; parameters];
        for (sample, outcome) in outcomes.iter().enumerate() {
            for (column_index, column) in columns.iter().enumerate() {
                row[column_index + 1] = column[sample];
            }
            let linear: f64 = row.iter().zip(&weights).map(|(x, w)| x * w).sum();
            let probability = 1.0 / (1.0 + (-linear).exp());
            let target = if *outcome == Outcome::Bad { 1.0 } else { 0.0 };
            let variance = probability * (1.0 - probability);
            for i in 0..parameters {
                gradient[i] += (target - probability) * row[i];
                for j in 0..=i {
                    hessian[i][j] += variance * row[i] * row[j];
                }
            }
        }
        for i in 0..parameters {
            for j in 0..i {
                hessian[j][i] = hessian[i][j];
            }
            if i > 0 {
                gradient[i] -= ridge * weights[i];
                hessian[i][i] += ridge;
            }
        }
        let step = solve(hessian, gradient).ok_or(FitError::NotConverged)?;
        let mut largest_change: f64 = 0.0;
        for (weight, change) in weights.iter_mut().zip(&step) {
            *weight += change;
            largest_change = largest_change.max(change.abs());
        }
        if !weights.iter().all(|weight| weight.is_finite()) {
            return Err(FitError::NotConverged);
        }
        if largest_change < NEWTON_STEP_TOLERANCE {
            return Ok((weights[0], weights[1..].to_vec(), iteration));
        }
    }
    Ok((weights[0], weights[1..].to_vec(), NEWTON_ITERATIONS_MAX))
}

/// Compact decimal text of a bin edge for labels: at most 4 decimals, no trailing zeros.
fn edge_text(value: f64) -> String {
    let text = format!("{value:.4}");
    let trimmed = text.trim_end_matches('0').trim_end_matches('.');
    if trimmed == "-0" {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

fn range_label(lower: Option<f64>, upper: Option<f64>) -> String {
    match (lower, upper) {
        (None, Some(upper)) => format!("< {}", edge_text(upper)),
        (Some(lower), None) => format!(">= {}", edge_text(lower)),
        (Some(lower), Some(upper)) => format!("[{}, {})", edge_text(lower), edge_text(upper)),
        (None, None) => "any".to_owned(),
    }
}

/// Fits a scorecard to features and outcomes; see the module documentation.
pub fn fit_scorecard(samples: &[(CustomerFeatures, Outcome)], config: &FitConfig) -> Result<FittedModel, FitError> {
    let scaling = ScoreScaling::new(config.scaling)?;
    let outcomes: Vec<Outcome> = samples.iter().map(|(_, outcome)| *outcome).collect();
    let mut report: Vec<FittedCharacteristic> = config
        .characteristics
        .iter()
        .map(|spec| FittedCharacteristic {
            feature: spec.feature,
            information_value: 0.0,
            coefficient: None,
            dropped_because: None,
        })
        .collect();
    let mut kept: Vec<BinnedCharacteristic> = Vec::new();
    for (spec_index, spec) in config.characteristics.iter().enumerate() {
        match bin_characteristic(spec_index, spec.feature, samples, &config.binning)? {
            Some(binned) => {
                report[spec_index].information_value = binned.information_value;
                kept.push(binned);
            }
            None => report[spec_index].dropped_because = Some("a single bin: no evidence".to_owned()),
        }
    }

    let (intercept, coefficients, iterations) = loop {
        if kept.is_empty() {
            return Err(FitError::NoCharacteristics);
        }
        let columns: Vec<&[f64]> = kept.iter().map(|binned| binned.encoded.as_slice()).collect();
        let (intercept, coefficients, iterations) = logistic_regression(&columns, &outcomes, config.ridge)?;
        let worst = coefficients
            .iter()
            .enumerate()
            .filter(|(_, coefficient)| **coefficient < COEFFICIENT_MIN)
            .min_by(|a, b| a.1.total_cmp(b.1))
            .map(|(index, _)| index);
        match worst {
            Some(index) => {
                let dropped = kept.remove(index);
                report[dropped.spec_index].dropped_because =
                    Some(format!("coefficient {:.4} below {COEFFICIENT_MIN}", coefficients[index]));
            }
            None => break (intercept, coefficients, iterations),
        }
    };

    let count = kept.len();
    let mut characteristics = Vec::with_capacity(count);
    for (binned, coefficient) in kept.iter().zip(&coefficients) {
        report[binned.spec_index].coefficient = Some(*coefficient);
        let spec = &config.characteristics[binned.spec_index];
        let mut bins = Vec::with_capacity(binned.woe_numeric.len() + 1);
        for (index, woe) in binned.woe_numeric.iter().enumerate() {
            let lower = index.checked_sub(1).and_then(|previous| binned.edges.get(previous)).copied();
            let upper = binned.edges.get(index).copied();
            bins.push(BinDefinition {
                label: range_label(lower, upper),
                matcher: BinMatcher::NumericRange { lower_inclusive: lower, upper_exclusive: upper },
                points: scaling.bin_points(*woe, *coefficient, intercept, count)?,
            });
        }
        let missing_points = match binned.woe_missing {
            Some(woe) => scaling.bin_points(woe, *coefficient, intercept, count)?,
            None => bins.iter().map(|bin| bin.points).min().unwrap_or(0),
        };
        bins.push(BinDefinition {
            label: NO_HISTORY_LABEL.to_owned(),
            matcher: BinMatcher::Missing,
            points: missing_points,
        });
        characteristics.push(CharacteristicDefinition {
            feature: spec.feature.name().to_owned(),
            reason_code: spec.reason_code.clone(),
            reason_description: spec.reason_description.clone(),
            bins,
        });
    }
    let definition = ScorecardDefinition {
        model_version: config.model_version.clone(),
        scaling: config.scaling,
        grades: config.grades,
        characteristics,
    };
    // Validate here so that a fit never hands out a scorecard that cannot be loaded.
    crate::scorecard::Scorecard::new(definition.clone())?;
    Ok(FittedModel { definition, intercept, characteristics: report, iterations })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn logistic_regression_recovers_a_known_model() {
        // A saturated model on one binary column: the MLE is the log-odds of each group exactly.
        // x = 0: 80 good, 20 bad (log-odds bad ln 0.25); x = 1: 40 good, 60 bad (ln 1.5).
        let mut column = Vec::new();
        let mut outcomes = Vec::new();
        for (x, good, bad) in [(0.0, 80, 20), (1.0, 40, 60)] {
            for _ in 0..good {
                column.push(x);
                outcomes.push(Outcome::Good);
            }
            for _ in 0..bad {
                column.push(x);
                outcomes.push(Outcome::Bad);
            }
        }
        let (intercept, coefficients, _) = logistic_regression(&[&column], &outcomes, 0.0).unwrap();
        assert!((intercept - 0.25f64.ln()).abs() < 1e-9, "{intercept}");
        assert!((coefficients[0] - (1.5f64.ln() - 0.25f64.ln())).abs() < 1e-9, "{coefficients:?}");
        // A ridge penalty shrinks the slope.
        let (_, shrunk, _) = logistic_regression(&[&column], &outcomes, 50.0).unwrap();
        assert!(shrunk[0] < coefficients[0] && shrunk[0] > 0.0);
    }

    #[test]
    fn regression_rejections() {
        let column = [0.0, 1.0];
        let error = logistic_regression(&[&column], &[Outcome::Good, Outcome::Good], 1.0).unwrap_err();
        assert_eq!(error.code(), "single_outcome");
        let error = logistic_regression(&[&column], &[Outcome::Good, Outcome::Bad], -1.0).unwrap_err();
        assert_eq!(error.code(), "invalid_ridge");
    }

    #[test]
    fn labels_are_compact() {
        assert_eq!(range_label(None, Some(0.5)), "< 0.5");
        assert_eq!(range_label(Some(0.916_666_666), Some(1.0)), "[0.9167, 1)");
        assert_eq!(range_label(Some(30.0), None), ">= 30");
    }
}
