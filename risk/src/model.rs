//! A versioned credit model: a scorecard, its credit limit policy, and how it was made, in one
//! file; loaded, validated, and compiled for cheap scoring of many customers.
//!
//! # The model file
//!
//! JSON, [`MODEL_FORMAT`] in `format`, then the [`ScorecardDefinition`] (scaling, grades,
//! characteristics with bins and points), the [`CreditLimitPolicyConfig`], and the provenance
//! (the command that regenerates it, the seed, sample sizes, fitted coefficients). The shipped
//! default, `risk/models/gas-credit-v1.json`, is compiled in with `include_str!`, so the service
//! needs no file at run time and a model change is a reviewed code change.
//!
//! # Rules beyond the scorecard's own
//!
//! A [`Model`] scores the typed [`CustomerFeatures`], so each characteristic must read one of
//! them ([`FeatureId`]), have numeric bins that together cover every number (no gap a value could
//! fall into), and one missing ("no history") bin. And the points of the numeric bins must never
//! fall as the feature gets better ([`FeatureId::better_when`]): a hand-edited table that would
//! punish a customer for paying on time is refused at load, not discovered in production.
//!
//! # Scoring cost
//!
//! [`Model::score`] allocates nothing: it reads each feature from the struct, finds its bin with
//! a binary search over at most 32 edges, and keeps the four largest shortfalls in a fixed array.
//! [`Model::score_many`] reuses the caller's output vector. Strings are made only by
//! [`Model::profile`], for the one customer being shown.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::credit_limit::{CreditLimitError, CreditLimitPolicy, CreditLimitPolicyConfig};
use crate::features::{BetterWhen, CustomerFeatures, FeatureId};
use crate::fit::FittedCharacteristic;
use crate::profile::{CreditProfile, ProfileError};
use crate::scorecard::{
    BinMatcher, CharacteristicDefinition, Grade, Reason, Scorecard, ScorecardDefinition, ScorecardError, ScoringError,
    REASONS_MAX,
};

/// The `format` of a model file this code reads.
pub const MODEL_FORMAT: &str = "gaswallet-risk-model/1";

/// The shipped default model.
pub const DEFAULT_MODEL_JSON: &str = include_str!("../models/gas-credit-v1.json");

/// Largest model file accepted, in bytes.
pub const MODEL_FILE_BYTES_MAX: usize = 1_048_576;

/// How a model was produced: enough to regenerate it and to read its fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelProvenance {
    /// The command that regenerates the file.
    pub command: String,
    /// Seed of the synthetic data it was fitted on (`None` for a hand-set model).
    pub seed: Option<u64>,
    /// Customers it was fitted on.
    pub training_customers: usize,
    /// Fitted intercept α (log-odds of bad).
    pub intercept: f64,
    /// Per candidate characteristic: IV, coefficient, or why it was left out.
    pub characteristics: Vec<FittedCharacteristic>,
}

/// The model file, as plain data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// Must be [`MODEL_FORMAT`].
    pub format: String,
    /// The scorecard; its `model_version` is the model's version.
    pub scorecard: ScorecardDefinition,
    /// Multiples of monthly spend per grade.
    pub credit_limit_policy: CreditLimitPolicyConfig,
    /// How it was made.
    pub provenance: ModelProvenance,
}

/// Why a model was refused. Each variant has a stable code.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ModelError {
    /// Not JSON of the model file's shape (the parser's message).
    #[error("model file is not valid: {message}")]
    InvalidFile {
        /// What the parser said.
        message: String,
    },
    /// Larger than [`MODEL_FILE_BYTES_MAX`].
    #[error("model file is larger than {MODEL_FILE_BYTES_MAX} bytes")]
    FileTooLarge,
    /// `format` is not [`MODEL_FORMAT`].
    #[error("model format {format:?} is not {MODEL_FORMAT:?}")]
    UnsupportedFormat {
        /// The format found.
        format: String,
    },
    /// The scorecard is invalid.
    #[error(transparent)]
    Scorecard(#[from] ScorecardError),
    /// The credit limit policy is invalid.
    #[error(transparent)]
    CreditLimit(#[from] CreditLimitError),
    /// A characteristic reads a feature that is not one of [`CustomerFeatures`].
    #[error("characteristic reads unknown feature {feature:?}")]
    UnknownFeature {
        /// The feature name.
        feature: String,
    },
    /// A characteristic's numeric bins leave a gap, it has categorical bins, or no missing bin.
    #[error("bins of {feature:?} must be numeric ranges covering every number, plus one missing bin")]
    BinsNotAPartition {
        /// The feature.
        feature: String,
    },
    /// A better value of the feature would lose points.
    #[error("points of {feature:?} fall as the feature gets better")]
    PointsNotMonotonic {
        /// The feature.
        feature: String,
    },
}

impl ModelError {
    /// Stable, machine-readable code of the rejection.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::InvalidFile { .. } => "invalid_model_file",
            ModelError::FileTooLarge => "model_file_too_large",
            ModelError::UnsupportedFormat { .. } => "unsupported_model_format",
            ModelError::Scorecard(inner) => inner.code(),
            ModelError::CreditLimit(inner) => inner.code(),
            ModelError::UnknownFeature { .. } => "unknown_model_feature",
            ModelError::BinsNotAPartition { .. } => "bins_not_a_partition",
            ModelError::PointsNotMonotonic { .. } => "points_not_monotonic",
        }
    }
}

/// A characteristic compiled for the typed features.
#[derive(Debug, Clone, PartialEq)]
struct CompiledCharacteristic {
    feature: FeatureId,
    /// Interior edges, ascending: bin `i` is `[edges[i−1], edges[i])`.
    edges: Vec<f64>,
    /// Points per numeric bin, `edges.len() + 1` of them.
    points: Vec<i32>,
    missing_points: i32,
    baseline_points: i32,
}

fn compile(characteristic: &CharacteristicDefinition) -> Result<CompiledCharacteristic, ModelError> {
    let name = &characteristic.feature;
    let feature = FeatureId::from_name(name).ok_or_else(|| ModelError::UnknownFeature { feature: name.clone() })?;
    let not_a_partition = || ModelError::BinsNotAPartition { feature: name.clone() };
    let mut ranges: Vec<(Option<f64>, Option<f64>, i32)> = Vec::new();
    let mut missing_points = None;
    for bin in &characteristic.bins {
        match &bin.matcher {
            BinMatcher::NumericRange { lower_inclusive, upper_exclusive } => {
                ranges.push((*lower_inclusive, *upper_exclusive, bin.points));
            }
            BinMatcher::Missing => missing_points = Some(bin.points),
            BinMatcher::Categories(_) => return Err(not_a_partition()),
        }
    }
    let missing_points = missing_points.ok_or_else(not_a_partition)?;
    // The scorecard has already checked that ranges do not overlap; sort by lower bound.
    ranges.sort_by(|a, b| match (a.0, b.0) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, Some(_)) => std::cmp::Ordering::Less,
        (Some(_), None) => std::cmp::Ordering::Greater,
        (Some(x), Some(y)) => x.total_cmp(&y),
    });
    let first_unbounded = ranges.first().is_some_and(|range| range.0.is_none());
    let last_unbounded = ranges.last().is_some_and(|range| range.1.is_none());
    let contiguous = ranges.windows(2).all(|pair| pair[0].1.is_some() && pair[0].1 == pair[1].0);
    if !first_unbounded || !last_unbounded || !contiguous {
        return Err(not_a_partition());
    }
    let edges: Vec<f64> = ranges.iter().filter_map(|range| range.0).collect();
    let points: Vec<i32> = ranges.iter().map(|range| range.2).collect();
    let monotonic = points.windows(2).all(|pair| match feature.better_when() {
        BetterWhen::Higher => pair[0] <= pair[1],
        BetterWhen::Lower => pair[0] >= pair[1],
    });
    if !monotonic {
        return Err(ModelError::PointsNotMonotonic { feature: name.clone() });
    }
    let baseline_points = points.iter().copied().chain(std::iter::once(missing_points)).max().unwrap_or(0);
    Ok(CompiledCharacteristic { feature, edges, points, missing_points, baseline_points })
}

/// One reason of a [`CompactScore`]: which characteristic, and how many points it lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReasonRef {
    /// Index of the characteristic in the model's scorecard.
    pub characteristic: u8,
    /// Points below the characteristic's baseline, above zero.
    pub points_lost: i32,
}

/// A score without strings: what bulk scoring produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactScore {
    /// Sum of the bin points, before clamping.
    pub points_total: i64,
    /// Score, clamped to the band.
    pub score: i32,
    /// Grade of the score.
    pub grade: Grade,
    reasons: [ReasonRef; REASONS_MAX],
    reason_count: u8,
}

impl CompactScore {
    /// Up to four reasons, largest points lost first, ties in scorecard order.
    #[must_use]
    pub fn reasons(&self) -> &[ReasonRef] {
        &self.reasons[..usize::from(self.reason_count)]
    }
}

/// A loaded, validated, compiled model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    file: ModelFile,
    scorecard: Scorecard,
    policy: CreditLimitPolicy,
    compiled: Vec<CompiledCharacteristic>,
}

impl Model {
    /// The shipped default model (`risk/models/gas-credit-v1.json`).
    pub fn load_default() -> Result<Model, ModelError> {
        Model::from_json(DEFAULT_MODEL_JSON)
    }

    /// Parses and validates a model file.
    pub fn from_json(json: &str) -> Result<Model, ModelError> {
        if json.len() > MODEL_FILE_BYTES_MAX {
            return Err(ModelError::FileTooLarge);
        }
        let file: ModelFile =
            serde_json::from_str(json).map_err(|error| ModelError::InvalidFile { message: error.to_string() })?;
        Model::new(file)
    }

    /// Validates a model file's content (see the module documentation).
    pub fn new(file: ModelFile) -> Result<Model, ModelError> {
        if file.format != MODEL_FORMAT {
            return Err(ModelError::UnsupportedFormat { format: file.format });
        }
        let scorecard = Scorecard::new(file.scorecard.clone())?;
        let policy = CreditLimitPolicy::new(file.credit_limit_policy)?;
        let compiled = file.scorecard.characteristics.iter().map(compile).collect::<Result<Vec<_>, _>>()?;
        Ok(Model { file, scorecard, policy, compiled })
    }

    /// The model file as pretty JSON (what [`Model::from_json`] reads back).
    pub fn to_json(&self) -> Result<String, ModelError> {
        serde_json::to_string_pretty(&self.file).map_err(|error| ModelError::InvalidFile { message: error.to_string() })
    }

    /// The model's version, reported with every profile.
    #[must_use]
    pub fn version(&self) -> &str {
        self.scorecard.model_version()
    }

    /// The file the model was built from.
    #[must_use]
    pub fn file(&self) -> &ModelFile {
        &self.file
    }

    /// The validated scorecard.
    #[must_use]
    pub fn scorecard(&self) -> &Scorecard {
        &self.scorecard
    }

    /// The validated credit limit policy.
    #[must_use]
    pub fn credit_limit_policy(&self) -> &CreditLimitPolicy {
        &self.policy
    }

    /// The features the model reads, in scorecard order. Others are ignored when scoring.
    pub fn features_read(&self) -> impl Iterator<Item = FeatureId> + '_ {
        self.compiled.iter().map(|characteristic| characteristic.feature)
    }

    /// The characteristic a [`ReasonRef`] points at (code, description, feature).
    #[must_use]
    pub fn characteristic(&self, reason: ReasonRef) -> Option<&CharacteristicDefinition> {
        self.file.scorecard.characteristics.get(usize::from(reason.characteristic))
    }

    /// Scores one customer without allocating. Equal to [`Scorecard::score`] on the features the
    /// model reads.
    pub fn score(&self, features: &CustomerFeatures) -> Result<CompactScore, ScoringError> {
        let mut points_total: i64 = 0;
        let mut reasons = [ReasonRef::default(); REASONS_MAX];
        let mut reason_count: usize = 0;
        for (index, characteristic) in self.compiled.iter().enumerate() {
            let points = match characteristic.feature.value(features) {
                None => characteristic.missing_points,
                Some(value) if !value.is_finite() => {
                    return Err(ScoringError::NonFiniteFeature { feature: characteristic.feature.name().to_owned() })
                }
                Some(value) => {
                    let bin = characteristic.edges.partition_point(|edge| *edge <= value + 0.0);
                    characteristic.points.get(bin).copied().unwrap_or(characteristic.missing_points)
                }
            };
            points_total += i64::from(points);
            let points_lost = characteristic.baseline_points - points;
            if points_lost > 0 {
                // Insert keeping the order: larger loss first, earlier characteristic on a tie.
                let candidate = ReasonRef { characteristic: index as u8, points_lost };
                let position = reasons[..reason_count]
                    .iter()
                    .position(|held| held.points_lost < points_lost)
                    .unwrap_or(reason_count);
                if position < REASONS_MAX {
                    let end = reason_count.min(REASONS_MAX - 1);
                    reasons.copy_within(position..end, position + 1);
                    reasons[position] = candidate;
                    reason_count = (reason_count + 1).min(REASONS_MAX);
                }
            }
        }
        let score = self.scorecard.scaling().clamp_points_total(points_total);
        Ok(CompactScore {
            points_total,
            score,
            grade: self.scorecard.grade(score),
            reasons,
            reason_count: reason_count as u8,
        })
    }

    /// Scores many customers into `scores` (cleared first; one entry per customer, in order),
    /// reusing its allocation across calls.
    pub fn score_many(&self, features: &[CustomerFeatures], scores: &mut Vec<Result<CompactScore, ScoringError>>) {
        scores.clear();
        scores.extend(features.iter().map(|customer| self.score(customer)));
    }

    /// The customer's credit profile: score, grade, reasons, the grade's credit limit for the
    /// given average monthly gas spend (CNY, at most two decimals), the model version, and the
    /// time the caller says it was computed.
    pub fn profile(
        &self,
        features: &CustomerFeatures,
        average_monthly_gas_spend_cny: Decimal,
        computed_at_unix_ms: i64,
    ) -> Result<CreditProfile, ProfileError> {
        let scored = self.score(features)?;
        let credit_limit_cny = self.policy.credit_limit_cny(scored.grade, average_monthly_gas_spend_cny)?;
        let reasons = scored
            .reasons()
            .iter()
            .filter_map(|reason| {
                self.characteristic(*reason).map(|characteristic| Reason {
                    code: characteristic.reason_code.clone(),
                    description: characteristic.reason_description.clone(),
                    feature: characteristic.feature.clone(),
                    points_lost: reason.points_lost,
                })
            })
            .collect();
        Ok(CreditProfile {
            model_version: self.version().to_owned(),
            computed_at_unix_ms,
            score: scored.score,
            grade: scored.grade,
            reasons,
            credit_limit_cny,
        })
    }
}
