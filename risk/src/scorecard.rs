//! A points scorecard: characteristics with bins worth points, a score band, grades, reason codes.
//!
//! # Scoring
//!
//! Each characteristic reads one feature, finds the single bin that holds the feature's value, and
//! contributes that bin's points. The *points total* is the plain sum; the *score* is the total
//! clamped to the scaling's band (350–950 in gaswallet). The grade comes from the score.
//!
//! # Reasons
//!
//! A characteristic's *baseline* is the most points any of its bins is worth. What a customer
//! falls short of it, `baseline − points`, is the points *lost* on that characteristic, so
//!
//! ```text
//! best_points_total − points_total = Σ points lost
//! ```
//!
//! holds exactly. The reasons are the characteristics with points lost above zero, largest loss
//! first (ties in scorecard order), at most [`REASONS_MAX`] of them.
//!
//! # Validation
//!
//! A [`ScorecardDefinition`] is plain data (what a model file or a fitting run produces); a
//! [`Scorecard`] is one that passed [`Scorecard::new`]: names and codes unique and bounded, bins
//! within a characteristic disjoint, grade thresholds strictly decreasing inside the band. Scoring
//! then only has to reject bad *inputs*.
//!
//! # Inputs
//!
//! Features come as a [`Features`] map from feature name to [`FeatureValue`]; a feature absent from
//! the map is *missing* and falls into the characteristic's [`BinMatcher::Missing`] bin, if it has
//! one. A key that no characteristic reads is rejected rather than ignored: a misspelt feature name
//! would otherwise score silently as missing. [`CustomerFeatures`] is a typed struct for the
//! features the design names, convertible to the map.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::scaling::{ScalingError, ScoreScaling, ScoreScalingConfig, POINTS_ABS_MAX};

/// Most reasons reported with a score.
pub const REASONS_MAX: usize = 4;

/// Most characteristics in one scorecard.
pub const CHARACTERISTICS_MAX: usize = 32;

/// Most bins in one characteristic.
pub const BINS_PER_CHARACTERISTIC_MAX: usize = 32;

/// Most category values in one categorical bin.
pub const CATEGORIES_PER_BIN_MAX: usize = 64;

/// Longest model version, feature name, bin label or category value, in bytes.
pub const NAME_BYTES_MAX: usize = 64;

/// Longest reason code, in bytes. Codes are ASCII letters, digits, `_` and `-`.
pub const REASON_CODE_BYTES_MAX: usize = 16;

/// Longest human-readable reason description, in bytes.
pub const DESCRIPTION_BYTES_MAX: usize = 256;

/// Credit grade, best first. Declaration order is quality order: `Grade::A < Grade::E`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Grade {
    /// Best.
    A,
    /// Good.
    B,
    /// Fair.
    C,
    /// Weak.
    D,
    /// Worst.
    E,
}

impl Grade {
    /// Every grade, best first.
    pub const ALL: [Grade; 5] = [Grade::A, Grade::B, Grade::C, Grade::D, Grade::E];
}

/// Lowest score of each grade; below `d_min_score` is E. E.g. A ≥ 750, B ≥ 700, C ≥ 650, D ≥ 600.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradeThresholds {
    /// Lowest score graded A.
    pub a_min_score: i32,
    /// Lowest score graded B.
    pub b_min_score: i32,
    /// Lowest score graded C.
    pub c_min_score: i32,
    /// Lowest score graded D.
    pub d_min_score: i32,
}

impl GradeThresholds {
    /// The grade of a score.
    #[must_use]
    pub fn grade(&self, score: i32) -> Grade {
        if score >= self.a_min_score {
            Grade::A
        } else if score >= self.b_min_score {
            Grade::B
        } else if score >= self.c_min_score {
            Grade::C
        } else if score >= self.d_min_score {
            Grade::D
        } else {
            Grade::E
        }
    }
}

/// Which values fall into a bin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinMatcher {
    /// Numbers in `[lower_inclusive, upper_exclusive)`; an absent bound is unbounded.
    NumericRange {
        /// Smallest value in the bin, or `None` for −∞.
        lower_inclusive: Option<f64>,
        /// First value above the bin, or `None` for +∞.
        upper_exclusive: Option<f64>,
    },
    /// Any of these category values, compared byte for byte.
    Categories(Vec<String>),
    /// The feature is absent.
    Missing,
}

impl BinMatcher {
    fn matches(&self, value: Option<&FeatureValue>) -> bool {
        match (self, value) {
            (BinMatcher::NumericRange { lower_inclusive, upper_exclusive }, Some(FeatureValue::Number(number))) => {
                lower_inclusive.is_none_or(|lower| *number >= lower)
                    && upper_exclusive.is_none_or(|upper| *number < upper)
            }
            (BinMatcher::Categories(categories), Some(FeatureValue::Category(category))) => {
                categories.iter().any(|candidate| candidate == category)
            }
            (BinMatcher::Missing, None) => true,
            _ => false,
        }
    }
}

/// One bin of a characteristic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinDefinition {
    /// Human-readable label, e.g. `"[30, 90) days"`.
    pub label: String,
    /// Which values fall into the bin.
    pub matcher: BinMatcher,
    /// Points the bin is worth.
    pub points: i32,
}

/// One characteristic: the feature it reads, its reason, and its bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CharacteristicDefinition {
    /// Name of the feature read, unique within the scorecard.
    pub feature: String,
    /// Reason code reported when the customer loses points here, unique within the scorecard.
    pub reason_code: String,
    /// Human-readable explanation of the reason.
    pub reason_description: String,
    /// The bins, pairwise disjoint.
    pub bins: Vec<BinDefinition>,
}

/// A scorecard as plain data, before validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScorecardDefinition {
    /// Version of the model, reported with every score.
    pub model_version: String,
    /// Scaling the points were derived with; its band clamps the score.
    pub scaling: ScoreScalingConfig,
    /// Score thresholds of the grades.
    pub grades: GradeThresholds,
    /// The characteristics, in reporting order.
    pub characteristics: Vec<CharacteristicDefinition>,
}

/// A feature's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureValue {
    /// A finite number.
    Number(f64),
    /// A category value.
    Category(String),
}

/// Features of one customer by name; an absent name is a missing value.
pub type Features = BTreeMap<String, FeatureValue>;

/// The customer features named in the design, typed. `None` is a missing value ("no history"),
/// which a scorecard bins explicitly rather than reading as zero. [`crate::features`] computes
/// them from a customer's history and gives each one's exact definition and window.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct CustomerFeatures {
    /// Share of bills paid on time, 0 to 1.
    pub on_time_bill_share: Option<f64>,
    /// Longest arrears episode, in whole days.
    pub max_days_in_arrears: Option<u32>,
    /// Days in arrears inside the feature window, in whole days.
    pub total_days_in_arrears: Option<u32>,
    /// Valve closures for non-payment.
    pub valve_closures_for_non_payment: Option<u32>,
    /// Average wallet balance divided by average monthly gas spend.
    pub balance_coverage_months: Option<f64>,
    /// Coefficient of variation of the days between top-ups: 0 is clockwork, larger is erratic.
    pub top_up_interval_cv: Option<f64>,
    /// Months since the account was opened.
    pub tenure_months: Option<u32>,
    /// Billing disputes raised.
    pub disputes: Option<u32>,
    /// Meter tamper flags raised.
    pub meter_tamper_flags: Option<u32>,
}

/// Feature names used by [`CustomerFeatures::to_features`].
pub mod feature_names {
    /// [`super::CustomerFeatures::on_time_bill_share`].
    pub const ON_TIME_BILL_SHARE: &str = "on_time_bill_share";
    /// [`super::CustomerFeatures::max_days_in_arrears`].
    pub const MAX_DAYS_IN_ARREARS: &str = "max_days_in_arrears";
    /// [`super::CustomerFeatures::total_days_in_arrears`].
    pub const TOTAL_DAYS_IN_ARREARS: &str = "total_days_in_arrears";
    /// [`super::CustomerFeatures::valve_closures_for_non_payment`].
    pub const VALVE_CLOSURES_FOR_NON_PAYMENT: &str = "valve_closures_for_non_payment";
    /// [`super::CustomerFeatures::balance_coverage_months`].
    pub const BALANCE_COVERAGE_MONTHS: &str = "balance_coverage_months";
    /// [`super::CustomerFeatures::top_up_interval_cv`].
    pub const TOP_UP_INTERVAL_CV: &str = "top_up_interval_cv";
    /// [`super::CustomerFeatures::tenure_months`].
    pub const TENURE_MONTHS: &str = "tenure_months";
    /// [`super::CustomerFeatures::disputes`].
    pub const DISPUTES: &str = "disputes";
    /// [`super::CustomerFeatures::meter_tamper_flags`].
    pub const METER_TAMPER_FLAGS: &str = "meter_tamper_flags";
}

impl CustomerFeatures {
    /// The feature map, leaving out missing values. Every scorecard fed from this struct must
    /// have a characteristic for each present feature (see [`ScoringError::UnknownFeature`]).
    #[must_use]
    pub fn to_features(&self) -> Features {
        let numbers = [
            (feature_names::ON_TIME_BILL_SHARE, self.on_time_bill_share),
            (feature_names::MAX_DAYS_IN_ARREARS, self.max_days_in_arrears.map(f64::from)),
            (feature_names::TOTAL_DAYS_IN_ARREARS, self.total_days_in_arrears.map(f64::from)),
            (feature_names::VALVE_CLOSURES_FOR_NON_PAYMENT, self.valve_closures_for_non_payment.map(f64::from)),
            (feature_names::BALANCE_COVERAGE_MONTHS, self.balance_coverage_months),
            (feature_names::TOP_UP_INTERVAL_CV, self.top_up_interval_cv),
            (feature_names::TENURE_MONTHS, self.tenure_months.map(f64::from)),
            (feature_names::DISPUTES, self.disputes.map(f64::from)),
            (feature_names::METER_TAMPER_FLAGS, self.meter_tamper_flags.map(f64::from)),
        ];
        numbers
            .into_iter()
            .filter_map(|(name, value)| value.map(|number| (name.to_owned(), FeatureValue::Number(number))))
            .collect()
    }
}

/// Why a scorecard definition was rejected. Each variant has a stable code.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ScorecardError {
    /// The scaling configuration is invalid.
    #[error(transparent)]
    Scaling(#[from] ScalingError),
    /// Model version empty or longer than [`NAME_BYTES_MAX`].
    #[error("model version must be 1..={NAME_BYTES_MAX} bytes")]
    InvalidModelVersion,
    /// Grade thresholds not strictly decreasing from A to D, or not inside the score band with
    /// room for E below D.
    #[error("grade thresholds must satisfy min_score < D < C < B < A <= max_score")]
    InvalidGradeThresholds,
    /// No characteristics, or more than [`CHARACTERISTICS_MAX`].
    #[error("characteristic count {count} is outside 1..={CHARACTERISTICS_MAX}")]
    CharacteristicCountOutOfRange {
        /// The rejected count.
        count: usize,
    },
    /// A feature name is empty or longer than [`NAME_BYTES_MAX`].
    #[error("characteristic {index} has a feature name outside 1..={NAME_BYTES_MAX} bytes")]
    InvalidFeatureName {
        /// Position of the characteristic.
        index: usize,
    },
    /// Two characteristics read the same feature.
    #[error("feature {feature:?} is read by more than one characteristic")]
    DuplicateFeature {
        /// The repeated name.
        feature: String,
    },
    /// A reason code is empty, too long, or has characters outside `[A-Za-z0-9_-]`.
    #[error("characteristic {feature:?} has an invalid reason code")]
    InvalidReasonCode {
        /// The characteristic.
        feature: String,
    },
    /// Two characteristics share a reason code.
    #[error("reason code {reason_code:?} is used by more than one characteristic")]
    DuplicateReasonCode {
        /// The repeated code.
        reason_code: String,
    },
    /// A reason description is empty or longer than [`DESCRIPTION_BYTES_MAX`].
    #[error("characteristic {feature:?} has a reason description outside 1..={DESCRIPTION_BYTES_MAX} bytes")]
    InvalidReasonDescription {
        /// The characteristic.
        feature: String,
    },
    /// A characteristic has no bins, or more than [`BINS_PER_CHARACTERISTIC_MAX`].
    #[error("characteristic {feature:?} has {count} bins, outside 1..={BINS_PER_CHARACTERISTIC_MAX}")]
    BinCountOutOfRange {
        /// The characteristic.
        feature: String,
        /// The rejected count.
        count: usize,
    },
    /// A bin label is empty or longer than [`NAME_BYTES_MAX`].
    #[error("characteristic {feature:?} has a bin label outside 1..={NAME_BYTES_MAX} bytes")]
    InvalidBinLabel {
        /// The characteristic.
        feature: String,
    },
    /// A bin's points are beyond [`POINTS_ABS_MAX`].
    #[error("characteristic {feature:?} has a bin worth more than ±{POINTS_ABS_MAX} points")]
    BinPointsOutOfRange {
        /// The characteristic.
        feature: String,
    },
    /// A numeric range has a non-finite bound or is empty (lower not below upper).
    #[error("characteristic {feature:?} has an empty or non-finite numeric range")]
    InvalidNumericRange {
        /// The characteristic.
        feature: String,
    },
    /// A categorical bin lists no values, too many, or a value that is empty or too long.
    #[error("characteristic {feature:?} has an invalid category list")]
    InvalidCategories {
        /// The characteristic.
        feature: String,
    },
    /// Two bins of one characteristic could both hold the same value.
    #[error("characteristic {feature:?} has overlapping bins")]
    OverlappingBins {
        /// The characteristic.
        feature: String,
    },
}

impl ScorecardError {
    /// Stable, machine-readable code of the rejection.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ScorecardError::Scaling(inner) => inner.code(),
            ScorecardError::InvalidModelVersion => "invalid_model_version",
            ScorecardError::InvalidGradeThresholds => "invalid_grade_thresholds",
            ScorecardError::CharacteristicCountOutOfRange { .. } => "characteristic_count_out_of_range",
            ScorecardError::InvalidFeatureName { .. } => "invalid_feature_name",
            ScorecardError::DuplicateFeature { .. } => "duplicate_feature",
            ScorecardError::InvalidReasonCode { .. } => "invalid_reason_code",
            ScorecardError::DuplicateReasonCode { .. } => "duplicate_reason_code",
            ScorecardError::InvalidReasonDescription { .. } => "invalid_reason_description",
            ScorecardError::BinCountOutOfRange { .. } => "bin_count_out_of_range",
            ScorecardError::InvalidBinLabel { .. } => "invalid_bin_label",
            ScorecardError::BinPointsOutOfRange { .. } => "bin_points_out_of_range",
            ScorecardError::InvalidNumericRange { .. } => "invalid_numeric_range",
            ScorecardError::InvalidCategories { .. } => "invalid_categories",
            ScorecardError::OverlappingBins { .. } => "overlapping_bins",
        }
    }
}

/// Why a customer's features could not be scored. Each variant has a stable code.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ScoringError {
    /// More features than the scorecard has characteristics: some must be unknown.
    #[error("{count} features given, the scorecard reads at most {limit}")]
    TooManyFeatures {
        /// Features given.
        count: usize,
        /// Characteristics in the scorecard.
        limit: usize,
    },
    /// A feature that no characteristic reads.
    #[error("feature {feature:?} is not read by this scorecard")]
    UnknownFeature {
        /// The unknown name.
        feature: String,
    },
    /// A numeric feature is NaN or infinite.
    #[error("feature {feature:?} is not a finite number")]
    NonFiniteFeature {
        /// The feature.
        feature: String,
    },
    /// A feature is absent and its characteristic has no missing bin.
    #[error("feature {feature:?} is missing and its characteristic has no missing bin")]
    MissingFeature {
        /// The feature.
        feature: String,
    },
    /// No bin holds the feature's value (a gap between ranges, an unlisted category, or a number
    /// where categories are expected and the other way round).
    #[error("no bin of {feature:?} holds the given value")]
    NoBinForValue {
        /// The feature.
        feature: String,
    },
}

impl ScoringError {
    /// Stable, machine-readable code of the rejection.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ScoringError::TooManyFeatures { .. } => "too_many_features",
            ScoringError::UnknownFeature { .. } => "unknown_feature",
            ScoringError::NonFiniteFeature { .. } => "non_finite_feature",
            ScoringError::MissingFeature { .. } => "missing_feature",
            ScoringError::NoBinForValue { .. } => "no_bin_for_value",
        }
    }
}

/// How one characteristic scored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharacteristicScore {
    /// The feature read.
    pub feature: String,
    /// Label of the bin the value fell into.
    pub bin_label: String,
    /// Points of that bin.
    pub points: i32,
    /// Most points any bin of the characteristic is worth.
    pub baseline_points: i32,
    /// `baseline_points − points`, never negative.
    pub points_below_baseline: i32,
}

/// One reason a score is below the best possible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// Stable reason code of the characteristic.
    pub code: String,
    /// Human-readable explanation.
    pub description: String,
    /// The feature behind the reason.
    pub feature: String,
    /// Points below the characteristic's baseline, above zero.
    pub points_lost: i32,
}

/// The result of scoring one customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreOutcome {
    /// Version of the model that scored.
    pub model_version: String,
    /// Sum of the bin points, before clamping.
    pub points_total: i64,
    /// `points_total` clamped to the score band.
    pub score: i32,
    /// Grade of `score`.
    pub grade: Grade,
    /// Every characteristic, in scorecard order.
    pub characteristics: Vec<CharacteristicScore>,
    /// Up to [`REASONS_MAX`] reasons, largest points lost first.
    pub reasons: Vec<Reason>,
}

/// A validated scorecard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ScorecardDefinition", into = "ScorecardDefinition")]
pub struct Scorecard {
    definition: ScorecardDefinition,
    scaling: ScoreScaling,
    /// Per characteristic, in definition order: the most points any of its bins is worth.
    baseline_points: Vec<i32>,
}

fn name_is_valid(name: &str) -> bool {
    !name.is_empty() && name.len() <= NAME_BYTES_MAX
}

fn reason_code_is_valid(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= REASON_CODE_BYTES_MAX
        && code.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

fn validate_grades(grades: &GradeThresholds, scaling: &ScoreScaling) -> Result<(), ScorecardError> {
    let is_valid = scaling.min_score() < grades.d_min_score
        && grades.d_min_score < grades.c_min_score
        && grades.c_min_score < grades.b_min_score
        && grades.b_min_score < grades.a_min_score
        && grades.a_min_score <= scaling.max_score();
    if is_valid {
        Ok(())
    } else {
        Err(ScorecardError::InvalidGradeThresholds)
    }
}

/// Half-open ranges `[a, b)` and `[c, d)` (absent bounds unbounded) share a value.
fn ranges_overlap(
    (a_lower, a_upper): (Option<f64>, Option<f64>),
    (b_lower, b_upper): (Option<f64>, Option<f64>),
) -> bool {
    let a_starts_before_b_ends = match (a_lower, b_upper) {
        (Some(lower), Some(upper)) => lower < upper,
        _ => true,
    };
    let b_starts_before_a_ends = match (b_lower, a_upper) {
        (Some(lower), Some(upper)) => lower < upper,
        _ => true,
    };
    a_starts_before_b_ends && b_starts_before_a_ends
}

fn validate_bins(characteristic: &CharacteristicDefinition) -> Result<i32, ScorecardError> {
    let feature = || characteristic.feature.clone();
    let bins = &characteristic.bins;
    if bins.is_empty() || bins.len() > BINS_PER_CHARACTERISTIC_MAX {
        return Err(ScorecardError::BinCountOutOfRange { feature: feature(), count: bins.len() });
    }
    let mut ranges: Vec<(Option<f64>, Option<f64>)> = Vec::new();
    let mut categories_seen: BTreeSet<&str> = BTreeSet::new();
    let mut missing_bin_seen = false;
    for bin in bins {
        if !name_is_valid(&bin.label) {
            return Err(ScorecardError::InvalidBinLabel { feature: feature() });
        }
        if bin.points.unsigned_abs() > POINTS_ABS_MAX.unsigned_abs() {
            return Err(ScorecardError::BinPointsOutOfRange { feature: feature() });
        }
        match &bin.matcher {
            BinMatcher::NumericRange { lower_inclusive, upper_exclusive } => {
                let bounds_finite =
                    lower_inclusive.is_none_or(f64::is_finite) && upper_exclusive.is_none_or(f64::is_finite);
                let non_empty = match (lower_inclusive, upper_exclusive) {
                    (Some(lower), Some(upper)) => lower < upper,
                    _ => true,
                };
                if !bounds_finite || !non_empty {
                    return Err(ScorecardError::InvalidNumericRange { feature: feature() });
                }
                let range = (*lower_inclusive, *upper_exclusive);
                if ranges.iter().any(|seen| ranges_overlap(*seen, range)) {
                    return Err(ScorecardError::OverlappingBins { feature: feature() });
                }
                ranges.push(range);
            }
            BinMatcher::Categories(categories) => {
                let list_valid = !categories.is_empty()
                    && categories.len() <= CATEGORIES_PER_BIN_MAX
                    && categories.iter().all(|category| name_is_valid(category));
                if !list_valid {
                    return Err(ScorecardError::InvalidCategories { feature: feature() });
                }
                for category in categories {
                    if !categories_seen.insert(category.as_str()) {
                        return Err(ScorecardError::OverlappingBins { feature: feature() });
                    }
                }
            }
            BinMatcher::Missing => {
                if missing_bin_seen {
                    return Err(ScorecardError::OverlappingBins { feature: feature() });
                }
                missing_bin_seen = true;
            }
        }
    }
    // Non-empty, checked above.
    Ok(bins.iter().map(|bin| bin.points).max().unwrap_or(0))
}

impl Scorecard {
    /// Validates a definition (see the module documentation for the rules).
    pub fn new(definition: ScorecardDefinition) -> Result<Scorecard, ScorecardError> {
        let scaling = ScoreScaling::new(definition.scaling)?;
        if !name_is_valid(&definition.model_version) {
            return Err(ScorecardError::InvalidModelVersion);
        }
        validate_grades(&definition.grades, &scaling)?;
        let characteristic_count = definition.characteristics.len();
        if characteristic_count == 0 || characteristic_count > CHARACTERISTICS_MAX {
            return Err(ScorecardError::CharacteristicCountOutOfRange { count: characteristic_count });
        }
        let mut features_seen: BTreeSet<&str> = BTreeSet::new();
        let mut reason_codes_seen: BTreeSet<&str> = BTreeSet::new();
        let mut baseline_points = Vec::with_capacity(characteristic_count);
        for (index, characteristic) in definition.characteristics.iter().enumerate() {
            if !name_is_valid(&characteristic.feature) {
                return Err(ScorecardError::InvalidFeatureName { index });
            }
            if !features_seen.insert(&characteristic.feature) {
                return Err(ScorecardError::DuplicateFeature { feature: characteristic.feature.clone() });
            }
            if !reason_code_is_valid(&characteristic.reason_code) {
                return Err(ScorecardError::InvalidReasonCode { feature: characteristic.feature.clone() });
            }
            if !reason_codes_seen.insert(&characteristic.reason_code) {
                return Err(ScorecardError::DuplicateReasonCode { reason_code: characteristic.reason_code.clone() });
            }
            let description = &characteristic.reason_description;
            if description.is_empty() || description.len() > DESCRIPTION_BYTES_MAX {
                return Err(ScorecardError::InvalidReasonDescription { feature: characteristic.feature.clone() });
            }
            baseline_points.push(validate_bins(characteristic)?);
        }
        Ok(Scorecard { definition, scaling, baseline_points })
    }

    /// The definition this scorecard was built from.
    #[must_use]
    pub fn definition(&self) -> &ScorecardDefinition {
        &self.definition
    }

    /// Version of the model.
    #[must_use]
    pub fn model_version(&self) -> &str {
        &self.definition.model_version
    }

    /// The validated scaling.
    #[must_use]
    pub fn scaling(&self) -> &ScoreScaling {
        &self.scaling
    }

    /// Sum of the baselines: the largest points total any customer can reach.
    #[must_use]
    pub fn best_points_total(&self) -> i64 {
        self.baseline_points.iter().copied().map(i64::from).sum()
    }

    /// The grade of a score.
    #[must_use]
    pub fn grade(&self, score: i32) -> Grade {
        self.definition.grades.grade(score)
    }

    fn validate_features(&self, features: &Features) -> Result<(), ScoringError> {
        let characteristics = &self.definition.characteristics;
        if features.len() > characteristics.len() {
            return Err(ScoringError::TooManyFeatures { count: features.len(), limit: characteristics.len() });
        }
        for (name, value) in features {
            if !characteristics.iter().any(|characteristic| &characteristic.feature == name) {
                return Err(ScoringError::UnknownFeature { feature: name.clone() });
            }
            if let FeatureValue::Number(number) = value {
                if !number.is_finite() {
                    return Err(ScoringError::NonFiniteFeature { feature: name.clone() });
                }
            }
        }
        Ok(())
    }

    /// Scores one customer's features.
    pub fn score(&self, features: &Features) -> Result<ScoreOutcome, ScoringError> {
        self.validate_features(features)?;
        let mut characteristic_scores = Vec::with_capacity(self.baseline_points.len());
        for (characteristic, baseline_points) in
            self.definition.characteristics.iter().zip(self.baseline_points.iter().copied())
        {
            let value = features.get(&characteristic.feature);
            let Some(bin) = characteristic.bins.iter().find(|bin| bin.matcher.matches(value)) else {
                let feature = characteristic.feature.clone();
                return Err(match value {
                    None => ScoringError::MissingFeature { feature },
                    Some(_) => ScoringError::NoBinForValue { feature },
                });
            };
            characteristic_scores.push(CharacteristicScore {
                feature: characteristic.feature.clone(),
                bin_label: bin.label.clone(),
                points: bin.points,
                baseline_points,
                // Both within ±POINTS_ABS_MAX, and baseline ≥ points, so this neither overflows
                // nor goes negative.
                points_below_baseline: baseline_points - bin.points,
            });
        }

        let points_total: i64 = characteristic_scores.iter().map(|scored| i64::from(scored.points)).sum();
        let score = self.scaling.clamp_points_total(points_total);
        Ok(ScoreOutcome {
            model_version: self.definition.model_version.clone(),
            points_total,
            score,
            grade: self.grade(score),
            reasons: self.reasons(&characteristic_scores),
            characteristics: characteristic_scores,
        })
    }

    /// The characteristics with points lost, largest loss first, ties in scorecard order.
    fn reasons(&self, characteristic_scores: &[CharacteristicScore]) -> Vec<Reason> {
        let mut losing: Vec<(usize, i32)> = characteristic_scores
            .iter()
            .enumerate()
            .filter(|(_, scored)| scored.points_below_baseline > 0)
            .map(|(index, scored)| (index, scored.points_below_baseline))
            .collect();
        losing.sort_by(|(a_index, a_lost), (b_index, b_lost)| b_lost.cmp(a_lost).then(a_index.cmp(b_index)));
        losing
            .into_iter()
            .take(REASONS_MAX)
            .filter_map(|(index, points_lost)| {
                self.definition.characteristics.get(index).map(|characteristic| Reason {
                    code: characteristic.reason_code.clone(),
                    description: characteristic.reason_description.clone(),
                    feature: characteristic.feature.clone(),
                    points_lost,
                })
            })
            .collect()
    }
}

impl TryFrom<ScorecardDefinition> for Scorecard {
    type Error = ScorecardError;

    fn try_from(definition: ScorecardDefinition) -> Result<Self, Self::Error> {
        Scorecard::new(definition)
    }
}

impl From<Scorecard> for ScorecardDefinition {
    fn from(scorecard: Scorecard) -> Self {
        scorecard.definition
    }
}
