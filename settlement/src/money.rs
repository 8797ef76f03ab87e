//! CNY amounts: what this crate accepts as an amount, and its one rounding rule.
//!
//! An amount is a [`Decimal`] number of yuan. It is valid when its *value* needs at most
//! [`FEN_DECIMAL_PLACES`] decimal places (so `1.50` and `1.500` are the same valid amount, `1.505`
//! is rejected, never rounded) and it is at most [`AMOUNT_YUAN_MAX`]. Insisting on the written scale
//! (`1.500` rejected) is the job of the edge that parses text; here only the value matters.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};

/// Decimal places of a CNY amount: one fen is 0.01 yuan.
pub const FEN_DECIMAL_PLACES: u32 = 2;

/// Largest amount accepted for one payment, refund or fee: 10 000 000.00 yuan.
///
/// No order a gas utility's partner merchant takes comes near it. The bound is what keeps every sum
/// in this crate exact: a day's total is at most `lines × 1e7` yuan, and even `isize::MAX` lines stay
/// below 1e27, inside `Decimal`'s range of about 7.9e28, so plain `+` and `-` cannot overflow.
pub const AMOUNT_YUAN_MAX: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 2);

/// Rounds to the fen, halves upwards: `0.0594 → 0.06`, `0.005 → 0.01`, `0.0049 → 0.00`.
///
/// This is the crate's only rounding rule, the one WeChat Pay uses for its per-order fee. Banker's
/// rounding would differ from the channel's bill on every fee that ends in exactly half a fen, and
/// reconciliation would flag each of them. Every fee and every returned fee goes through this
/// function; nothing else in the crate rounds money.
///
/// Only non-negative values reach it here, for which "half up" and "half away from zero" agree;
/// a negative value would be rounded away from zero (`-0.005 → -0.01`). The result always carries
/// exactly two decimal places, so reports print `0.10`, not `0.1`.
#[must_use]
pub fn round_half_up_to_fen(value: Decimal) -> Decimal {
    let mut rounded = value.round_dp_with_strategy(FEN_DECIMAL_PLACES, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(FEN_DECIMAL_PLACES);
    rounded
}

/// Gives an amount that is already a whole number of fen exactly two decimal places (`10` →
/// `10.00`). It never rounds: callers pass only validated amounts and sums of them.
#[must_use]
pub(crate) fn with_fen_scale(amount: Decimal) -> Decimal {
    debug_assert!(has_at_most_fen_decimals(amount));
    let mut rescaled = amount;
    rescaled.rescale(FEN_DECIMAL_PLACES);
    rescaled
}

/// Why an amount was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountProblem {
    /// Zero or below where the amount must be positive (a payment, a refund).
    NotPositive,
    /// Below zero where zero is allowed (a fee, a running total).
    Negative,
    /// Needs more than two decimal places.
    FinerThanFen,
    /// Above the largest amount allowed for it, usually [`AMOUNT_YUAN_MAX`].
    AboveMaximum {
        /// The largest amount allowed.
        maximum: Decimal,
    },
}

impl fmt::Display for AmountProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AmountProblem::NotPositive => formatter.write_str("must be greater than zero"),
            AmountProblem::Negative => formatter.write_str("must not be negative"),
            AmountProblem::FinerThanFen => formatter.write_str("must not have more than two decimal places"),
            AmountProblem::AboveMaximum { maximum } => {
                write!(formatter, "must not exceed {maximum}")
            }
        }
    }
}

/// Checks an amount that must be positive: a payment or a refund.
pub fn check_positive_amount(amount: Decimal) -> Result<(), AmountProblem> {
    if amount <= Decimal::ZERO {
        return Err(AmountProblem::NotPositive);
    }
    check_fen_and_maximum(amount, AMOUNT_YUAN_MAX)
}

/// Checks an amount that may be zero: a fee, or a running total of refunds or returned fees.
pub fn check_non_negative_amount(amount: Decimal) -> Result<(), AmountProblem> {
    check_non_negative_amount_up_to(amount, AMOUNT_YUAN_MAX)
}

/// Checks an amount that may be zero and has its own bound instead of [`AMOUNT_YUAN_MAX`].
pub fn check_non_negative_amount_up_to(amount: Decimal, maximum: Decimal) -> Result<(), AmountProblem> {
    if amount < Decimal::ZERO {
        return Err(AmountProblem::Negative);
    }
    check_fen_and_maximum(amount, maximum)
}

fn check_fen_and_maximum(amount: Decimal, maximum: Decimal) -> Result<(), AmountProblem> {
    if !has_at_most_fen_decimals(amount) {
        return Err(AmountProblem::FinerThanFen);
    }
    if amount > maximum {
        return Err(AmountProblem::AboveMaximum { maximum });
    }
    Ok(())
}

fn has_at_most_fen_decimals(amount: Decimal) -> bool {
    amount.normalize().scale() <= FEN_DECIMAL_PLACES
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn limits_are_what_their_docs_say() {
        assert_eq!(AMOUNT_YUAN_MAX.to_string(), "10000000.00");
    }

    #[test]
    fn rounding_is_half_up_to_the_fen() {
        fn check(value: Decimal, expected: &str) {
            let rounded = round_half_up_to_fen(value);
            assert_eq!(rounded.to_string(), expected, "rounding {value}");
        }
        check(dec!(0.0594), "0.06"); // 9.90 at 0.6 %, the WeChat Pay example
        check(dec!(0.005), "0.01"); // an exact half goes up
        check(dec!(0.015), "0.02"); // banker's rounding gives 0.02 too,
        check(dec!(0.025), "0.03"); // but 0.02 here, where the two rules part
        check(dec!(0.00499999), "0.00");
        check(dec!(0.0049), "0.00");
        check(dec!(0.00), "0.00");
        check(dec!(0), "0.00");
        check(dec!(12.3), "12.30");
        check(dec!(59999.995), "60000.00");
        check(dec!(-0.005), "-0.01");
    }

    #[test]
    fn amount_checks() {
        fn check(amount: Decimal, positive: Result<(), AmountProblem>, non_negative: Result<(), AmountProblem>) {
            assert_eq!(check_positive_amount(amount), positive, "positive {amount}");
            assert_eq!(check_non_negative_amount(amount), non_negative, "non-negative {amount}");
        }
        use AmountProblem::*;
        check(dec!(0.01), Ok(()), Ok(()));
        check(dec!(9.90), Ok(()), Ok(()));
        check(dec!(1.500), Ok(()), Ok(())); // the value has two decimals
        check(dec!(0), Err(NotPositive), Ok(()));
        check(dec!(-0.01), Err(NotPositive), Err(Negative));
        check(dec!(0.001), Err(FinerThanFen), Err(FinerThanFen));
        check(dec!(1.505), Err(FinerThanFen), Err(FinerThanFen));
        check(dec!(10000000.00), Ok(()), Ok(())); // at the bound
        let above = AboveMaximum { maximum: AMOUNT_YUAN_MAX };
        check(dec!(10000000.01), Err(above), Err(above)); // past the bound
    }

    #[test]
    fn own_bound() {
        fn check(amount: Decimal, expected: Result<(), AmountProblem>) {
            assert_eq!(check_non_negative_amount_up_to(amount, dec!(5.00)), expected, "{amount}");
        }
        check(dec!(0), Ok(()));
        check(dec!(5.00), Ok(()));
        check(dec!(5.01), Err(AmountProblem::AboveMaximum { maximum: dec!(5.00) }));
        check(dec!(-0.01), Err(AmountProblem::Negative));
        check(dec!(0.001), Err(AmountProblem::FinerThanFen));
    }

    #[test]
    fn problems_read_as_sentences() {
        fn check(problem: AmountProblem, expected: &str) {
            assert_eq!(problem.to_string(), expected);
        }
        check(AmountProblem::NotPositive, "must be greater than zero");
        check(AmountProblem::Negative, "must not be negative");
        check(AmountProblem::FinerThanFen, "must not have more than two decimal places");
        check(AmountProblem::AboveMaximum { maximum: AMOUNT_YUAN_MAX }, "must not exceed 10000000.00");
    }

    #[test]
    fn fen_scale_is_exact() {
        assert_eq!(with_fen_scale(dec!(10)).to_string(), "10.00");
        assert_eq!(with_fen_scale(dec!(0.5)).to_string(), "0.50");
        assert_eq!(with_fen_scale(dec!(-3.2)).to_string(), "-3.20");
    }
}
