//! A customer's credit profile: score, grade, reasons, credit limit, model version and time.
//!
//! The time is an argument, never read from a clock, so the same inputs always give the same
//! profile.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::credit_limit::{CreditLimitError, CreditLimitPolicy};
use crate::scorecard::{Features, Grade, Reason, Scorecard, ScoringError};

/// What risk staff read for one customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditProfile {
    /// Version of the model that scored.
    pub model_version: String,
    /// When the profile was computed, as given by the caller, in milliseconds since the Unix epoch.
    pub computed_at_unix_ms: i64,
    /// Score, clamped to the band.
    pub score: i32,
    /// Grade of the score.
    pub grade: Grade,
    /// Up to four reasons, largest points lost first.
    pub reasons: Vec<Reason>,
    /// How far below zero the wallet may go, in CNY with two decimals.
    pub credit_limit_cny: Decimal,
}

/// Why a profile could not be computed: the scoring or the credit limit rejected its input.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ProfileError {
    /// The features were rejected.
    #[error(transparent)]
    Scoring(#[from] ScoringError),
    /// The spend was rejected.
    #[error(transparent)]
    CreditLimit(#[from] CreditLimitError),
}

impl ProfileError {
    /// Stable, machine-readable code of the underlying rejection.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ProfileError::Scoring(inner) => inner.code(),
            ProfileError::CreditLimit(inner) => inner.code(),
        }
    }
}

/// Scores the features and grants the grade's credit limit.
pub fn credit_profile(
    scorecard: &Scorecard,
    policy: &CreditLimitPolicy,
    features: &Features,
    average_monthly_gas_spend_cny: Decimal,
    computed_at_unix_ms: i64,
) -> Result<CreditProfile, ProfileError> {
    let outcome = scorecard.score(features)?;
    let credit_limit_cny = policy.credit_limit_cny(outcome.grade, average_monthly_gas_spend_cny)?;
    Ok(CreditProfile {
        model_version: outcome.model_version,
        computed_at_unix_ms,
        score: outcome.score,
        grade: outcome.grade,
        reasons: outcome.reasons,
        credit_limit_cny,
    })
}
