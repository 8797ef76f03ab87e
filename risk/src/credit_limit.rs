//! Credit limit per grade: how far below zero a wallet may go before the valve closes.
//!
//! The limit is a multiple of the customer's average monthly gas spend, set per grade by policy:
//!
//! ```text
//! credit_limit_cny = round_down_to_fen(average_monthly_gas_spend_cny × multiple(grade))
//! ```
//!
//! This module is money and nothing else: amounts are [`Decimal`] in CNY with a scale of 2 (fen),
//! and no float comes near them. The one rounding is named, [`round_down_to_fen`]: the product is
//! truncated toward zero, which for the non-negative amounts here is rounding down, so a limit is
//! never a fen more generous than the policy says.
//!
//! Policy rules, checked when a [`CreditLimitPolicy`] is built:
//! - every multiple is between 0 and [`CREDIT_LIMIT_MULTIPLE_MAX`], with at most
//!   [`CREDIT_LIMIT_MULTIPLE_DECIMALS_MAX`] decimals;
//! - a better grade never gets a smaller multiple (A ≥ B ≥ C ≥ D ≥ E);
//! - the lowest grade, E, gets no credit at all (multiple zero).

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::scorecard::Grade;

/// Fen per yuan: CNY amounts carry two decimals.
pub const CNY_DECIMALS: u32 = 2;

/// Largest multiple of monthly spend any grade may be granted: a year of gas.
pub const CREDIT_LIMIT_MULTIPLE_MAX: Decimal = Decimal::from_parts(12, 0, 0, false, 0);

/// Most decimals a multiple may carry (e.g. 1.25 or 0.3333).
pub const CREDIT_LIMIT_MULTIPLE_DECIMALS_MAX: u32 = 4;

/// Largest average monthly gas spend accepted, in CNY: far above any household, low enough that
/// spend × multiple can never overflow.
pub const AVERAGE_MONTHLY_GAS_SPEND_CNY_MAX: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

/// Plain, unvalidated policy: the multiple of average monthly gas spend granted to each grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditLimitPolicyConfig {
    /// Multiple for grade A.
    pub multiple_grade_a: Decimal,
    /// Multiple for grade B.
    pub multiple_grade_b: Decimal,
    /// Multiple for grade C.
    pub multiple_grade_c: Decimal,
    /// Multiple for grade D.
    pub multiple_grade_d: Decimal,
    /// Multiple for grade E; must be zero.
    pub multiple_grade_e: Decimal,
}

/// A validated credit limit policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CreditLimitPolicyConfig", into = "CreditLimitPolicyConfig")]
pub struct CreditLimitPolicy {
    config: CreditLimitPolicyConfig,
}

/// Why a policy or a credit limit was rejected. Each variant has a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CreditLimitError {
    /// A multiple is negative, above the maximum, or has too many decimals.
    #[error("multiple for grade {grade:?} must be within 0..={CREDIT_LIMIT_MULTIPLE_MAX} with at most {CREDIT_LIMIT_MULTIPLE_DECIMALS_MAX} decimals")]
    InvalidMultiple {
        /// The grade whose multiple was rejected.
        grade: Grade,
    },
    /// A better grade has a smaller multiple than a worse one.
    #[error("multiple for grade {better:?} is smaller than for grade {worse:?}")]
    MultiplesNotMonotonic {
        /// The better grade.
        better: Grade,
        /// The next worse grade.
        worse: Grade,
    },
    /// The lowest grade was granted credit.
    #[error("the lowest grade must have a multiple of zero")]
    LowestGradeGrantedCredit,
    /// The average monthly spend is negative.
    #[error("average monthly gas spend must not be negative")]
    NegativeSpend,
    /// The average monthly spend is above [`AVERAGE_MONTHLY_GAS_SPEND_CNY_MAX`].
    #[error("average monthly gas spend is above {AVERAGE_MONTHLY_GAS_SPEND_CNY_MAX} CNY")]
    SpendTooLarge,
    /// The average monthly spend has digits below the fen.
    #[error("average monthly gas spend has more than {CNY_DECIMALS} decimals")]
    SpendTooManyDecimals,
    /// The product did not fit a [`Decimal`]. The bounds above make this unreachable through
    /// [`CreditLimitPolicy::credit_limit_cny`]; it exists so that the multiplication stays checked.
    #[error("credit limit overflowed")]
    Overflow,
}

impl CreditLimitError {
    /// Stable, machine-readable code of the rejection.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            CreditLimitError::InvalidMultiple { .. } => "invalid_credit_limit_multiple",
            CreditLimitError::MultiplesNotMonotonic { .. } => "credit_limit_multiples_not_monotonic",
            CreditLimitError::LowestGradeGrantedCredit => "lowest_grade_granted_credit",
            CreditLimitError::NegativeSpend => "negative_spend",
            CreditLimitError::SpendTooLarge => "spend_too_large",
            CreditLimitError::SpendTooManyDecimals => "spend_too_many_decimals",
            CreditLimitError::Overflow => "credit_limit_overflow",
        }
    }
}

/// Truncates toward zero at the fen and sets the scale to exactly 2 (so `5` reads `5.00`).
/// For non-negative amounts this is rounding down.
#[must_use]
pub fn round_down_to_fen(amount_cny: Decimal) -> Decimal {
    let mut rounded = amount_cny.round_dp_with_strategy(CNY_DECIMALS, RoundingStrategy::ToZero);
    rounded.rescale(CNY_DECIMALS);
    rounded
}

/// `amount × multiple`, checked, rounded down to the fen.
pub fn multiply_round_down_to_fen(amount_cny: Decimal, multiple: Decimal) -> Result<Decimal, CreditLimitError> {
    amount_cny.checked_mul(multiple).map(round_down_to_fen).ok_or(CreditLimitError::Overflow)
}

fn has_more_decimals_than(amount: Decimal, decimals: u32) -> bool {
    amount.normalize().scale() > decimals
}

impl CreditLimitPolicy {
    /// Validates the policy rules in the module documentation.
    pub fn new(config: CreditLimitPolicyConfig) -> Result<CreditLimitPolicy, CreditLimitError> {
        let multiples = [
            (Grade::A, config.multiple_grade_a),
            (Grade::B, config.multiple_grade_b),
            (Grade::C, config.multiple_grade_c),
            (Grade::D, config.multiple_grade_d),
            (Grade::E, config.multiple_grade_e),
        ];
        for (grade, multiple) in multiples {
            let is_valid = !multiple.is_sign_negative()
                && multiple <= CREDIT_LIMIT_MULTIPLE_MAX
                && !has_more_decimals_than(multiple, CREDIT_LIMIT_MULTIPLE_DECIMALS_MAX);
            if !is_valid {
                return Err(CreditLimitError::InvalidMultiple { grade });
            }
        }
        for pair in multiples.windows(2) {
            let ((better, better_multiple), (worse, worse_multiple)) = (pair[0], pair[1]);
            if better_multiple < worse_multiple {
                return Err(CreditLimitError::MultiplesNotMonotonic { better, worse });
            }
        }
        if !config.multiple_grade_e.is_zero() {
            return Err(CreditLimitError::LowestGradeGrantedCredit);
        }
        Ok(CreditLimitPolicy { config })
    }

    /// The configuration this policy was built from.
    #[must_use]
    pub fn config(&self) -> CreditLimitPolicyConfig {
        self.config
    }

    /// The multiple of monthly spend the grade is granted.
    #[must_use]
    pub fn multiple(&self, grade: Grade) -> Decimal {
        match grade {
            Grade::A => self.config.multiple_grade_a,
            Grade::B => self.config.multiple_grade_b,
            Grade::C => self.config.multiple_grade_c,
            Grade::D => self.config.multiple_grade_d,
            Grade::E => self.config.multiple_grade_e,
        }
    }

    /// Credit limit in CNY (scale 2) for a grade and an average monthly gas spend in CNY.
    ///
    /// The spend must be non-negative, at most [`AVERAGE_MONTHLY_GAS_SPEND_CNY_MAX`], and have no
    /// digits below the fen: like every amount in gaswallet, it is rejected rather than rounded.
    pub fn credit_limit_cny(
        &self,
        grade: Grade,
        average_monthly_gas_spend_cny: Decimal,
    ) -> Result<Decimal, CreditLimitError> {
        if average_monthly_gas_spend_cny.is_sign_negative() && !average_monthly_gas_spend_cny.is_zero() {
            return Err(CreditLimitError::NegativeSpend);
        }
        if average_monthly_gas_spend_cny > AVERAGE_MONTHLY_GAS_SPEND_CNY_MAX {
            return Err(CreditLimitError::SpendTooLarge);
        }
        if has_more_decimals_than(average_monthly_gas_spend_cny, CNY_DECIMALS) {
            return Err(CreditLimitError::SpendTooManyDecimals);
        }
        multiply_round_down_to_fen(average_monthly_gas_spend_cny, self.multiple(grade))
    }
}

impl TryFrom<CreditLimitPolicyConfig> for CreditLimitPolicy {
    type Error = CreditLimitError;

    fn try_from(config: CreditLimitPolicyConfig) -> Result<Self, Self::Error> {
        CreditLimitPolicy::new(config)
    }
}

impl From<CreditLimitPolicy> for CreditLimitPolicyConfig {
    fn from(policy: CreditLimitPolicy) -> Self {
        policy.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_multiplication_reports_overflow() {
        let result = multiply_round_down_to_fen(Decimal::MAX, Decimal::TWO);
        assert_eq!(result, Err(CreditLimitError::Overflow));
        assert_eq!(CreditLimitError::Overflow.code(), "credit_limit_overflow");
    }

    #[test]
    fn named_limits_have_the_documented_values() {
        assert_eq!(CREDIT_LIMIT_MULTIPLE_MAX, Decimal::from(12));
        assert_eq!(AVERAGE_MONTHLY_GAS_SPEND_CNY_MAX, Decimal::from(1_000_000));
    }
}
