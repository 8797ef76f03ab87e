//! Merchant fees: the fee charged on a payment, and the share of it a refund gives back.
//!
//! * The fee on one order is `amount × fee_rate`, rounded half-up to the fen
//!   ([`round_half_up_to_fen`]), as WeChat Pay charges it: 9.90 at 0.6 % is 0.0594, charged 0.06.
//! * A refund gives back the fee in proportion to the share of the payment refunded so far. The
//!   proportion is taken on the *running total*: after refunds totalling `R` of a payment `A` with
//!   fee `F`, the merchant has got back `round_half_up_to_fen(F × R / A)` in all, and each refund
//!   returns the step from the previous total to the new one. Rounding each refund on its own would
//!   not add up: a 1.00 payment with a 0.01 fee refunded as 0.50 + 0.50 would return 0.01 twice.
//!   With running totals the steps telescope, so
//!   (a) a full refund in any number of parts returns exactly `F`,
//!   (b) the fee returned never exceeds `F`, and
//!   (c) no refund returns a negative fee.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{
    check_non_negative_amount, check_positive_amount, round_half_up_to_fen, with_fen_scale, AmountProblem,
};

/// Highest fee rate accepted: 30 %. Channels charge well under 1 %; anything near the bound is a
/// typo (`0.6` meant as 0.6 %), which is exactly what the bound is there to catch.
pub const FEE_RATE_MAX: Decimal = Decimal::from_parts(3, 0, 0, false, 1);

/// Most decimal places a fee rate may have (`0.0038` is 0.38 %; six places reach 0.0001 %).
///
/// The bound keeps `amount × fee_rate` exact: at most 2 + 6 decimal places, far inside `Decimal`'s
/// 28, so the half-up rounding is the only rounding a fee ever sees.
pub const FEE_RATE_DECIMAL_PLACES_MAX: u32 = 6;

/// A merchant's fee rate, as a fraction (`0.006` is 0.6 %), checked against [`FEE_RATE_MAX`] and
/// [`FEE_RATE_DECIMAL_PLACES_MAX`] when it is made, so every `FeeRate` in hand is a valid one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct FeeRate(Decimal);

impl FeeRate {
    /// Accepts a rate from 0 to [`FEE_RATE_MAX`] with at most [`FEE_RATE_DECIMAL_PLACES_MAX`]
    /// decimal places; rejects anything else with `invalid_fee_rate`.
    pub fn new(fee_rate: Decimal) -> Result<FeeRate, FeeError> {
        let within_bounds = fee_rate >= Decimal::ZERO && fee_rate <= FEE_RATE_MAX;
        let fine_enough = fee_rate.normalize().scale() <= FEE_RATE_DECIMAL_PLACES_MAX;
        if within_bounds && fine_enough {
            Ok(FeeRate(fee_rate))
        } else {
            Err(FeeError::InvalidFeeRate { fee_rate })
        }
    }

    /// The rate as a fraction.
    #[must_use]
    pub fn as_decimal(self) -> Decimal {
        self.0
    }
}

impl TryFrom<Decimal> for FeeRate {
    type Error = FeeError;

    fn try_from(fee_rate: Decimal) -> Result<FeeRate, FeeError> {
        FeeRate::new(fee_rate)
    }
}

impl From<FeeRate> for Decimal {
    fn from(fee_rate: FeeRate) -> Decimal {
        fee_rate.0
    }
}

/// The fee charged on one payment: `amount × fee_rate`, rounded half-up to the fen.
///
/// `amount` must be positive, whole fen and at most [`crate::money::AMOUNT_YUAN_MAX`]; the field
/// named in a rejection is `payment_amount`.
pub fn fee_for_payment(amount: Decimal, fee_rate: FeeRate) -> Result<Decimal, FeeError> {
    check_positive_amount(amount).map_err(|problem| FeeError::InvalidAmount {
        field: "payment_amount",
        amount,
        problem,
    })?;
    // Exact: at most 2 + FEE_RATE_DECIMAL_PLACES_MAX decimal places and below 3e6.
    Ok(round_half_up_to_fen(amount * fee_rate.as_decimal()))
}

/// Where a payment stands just before a refund: what was paid and charged, and what has been
/// refunded and given back so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRefundState {
    /// What the customer paid.
    pub payment_amount: Decimal,
    /// The fee charged on the payment (see [`fee_for_payment`]).
    pub payment_fee: Decimal,
    /// Total of the refunds already made on the payment.
    pub refunded_before: Decimal,
    /// Total of the fee already given back for those refunds.
    pub fee_returned_before: Decimal,
}

impl PaymentRefundState {
    /// A payment on which nothing has been refunded yet.
    #[must_use]
    pub fn unrefunded(payment_amount: Decimal, payment_fee: Decimal) -> PaymentRefundState {
        PaymentRefundState {
            payment_amount,
            payment_fee,
            refunded_before: Decimal::ZERO,
            fee_returned_before: Decimal::ZERO,
        }
    }

    /// Left to refund on the payment.
    #[must_use]
    pub fn refundable(&self) -> Decimal {
        self.payment_amount - self.refunded_before
    }
}

/// Why a payment's [`PaymentRefundState`] cannot be right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStateProblem {
    /// The fee is more than [`FEE_RATE_MAX`] could have charged on the payment.
    FeeAboveMaximumRate,
    /// More has been refunded than was paid.
    RefundedMoreThanPaid,
    /// More fee has been given back than was charged.
    ReturnedMoreFeeThanCharged,
}

impl std::fmt::Display for PaymentStateProblem {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            PaymentStateProblem::FeeAboveMaximumRate => "the fee is more than the maximum fee rate could charge",
            PaymentStateProblem::RefundedMoreThanPaid => "more has been refunded than was paid",
            PaymentStateProblem::ReturnedMoreFeeThanCharged => "more fee has been returned than was charged",
        })
    }
}

/// The fee to give back for a refund of `refund_amount` on a payment that stands at `state`.
///
/// The merchant's running total of returned fee becomes `round_half_up_to_fen(F × R / A)` for the
/// payment amount `A`, its fee `F` and the refunds `R` including this one, and exactly `F` once the
/// payment is fully refunded; the result is the step from `state.fee_returned_before` to that total
/// (see the module documentation for why running totals).
///
/// A `state` built by earlier calls of this function always lands on the running total, so the step
/// is never negative. A state that came from elsewhere (say, history migrated from a rule that
/// rounded differently) may already be ahead of it; then nothing is returned now, the surplus is
/// absorbed by later refunds, and the full refund still brings the total to exactly `F`.
///
/// Rejections, checked in this order:
/// * `invalid_amount`: a field of `state` or `refund_amount` is negative, finer than the fen or above
///   [`crate::money::AMOUNT_YUAN_MAX`]; the payment and the refund must also be positive.
/// * `inconsistent_payment_state`: the fee is more than [`FEE_RATE_MAX`] could charge, more was
///   refunded than paid, or more fee returned than charged.
/// * `refund_exceeds_payment`: the refund is more than is left to refund.
pub fn fee_to_return(state: &PaymentRefundState, refund_amount: Decimal) -> Result<Decimal, FeeError> {
    check_state(state)?;
    check_positive_amount(refund_amount).map_err(|problem| FeeError::InvalidAmount {
        field: "refund_amount",
        amount: refund_amount,
        problem,
    })?;
    let refundable = state.refundable();
    if refund_amount > refundable {
        return Err(FeeError::RefundExceedsPayment { refund_amount, refundable: with_fen_scale(refundable) });
    }

    let refunded_after = state.refunded_before + refund_amount;
    let fee_returned_after = if refunded_after == state.payment_amount {
        // The formula gives the same (F × A / A is exactly F, a whole number of fen); saying so
        // outright makes property (a) visible without an argument about rounding.
        state.payment_fee
    } else {
        // F × R is exact (at most four decimal places, below 1e14). The division may not
        // terminate, but `Decimal` keeps at least 20 decimal places here, while an exact quotient
        // that is not itself half a fen lies at least 1 / (2 × A in fen) ≥ 5e-10 fen from one: the
        // truncated quotient always rounds the same way as the exact one.
        round_half_up_to_fen(state.payment_fee * refunded_after / state.payment_amount)
    };
    let fee_now = (fee_returned_after - state.fee_returned_before).max(Decimal::ZERO);
    debug_assert!(state.fee_returned_before + fee_now <= state.payment_fee);
    Ok(with_fen_scale(fee_now))
}

fn check_state(state: &PaymentRefundState) -> Result<(), FeeError> {
    let invalid = |field: &'static str, amount: Decimal| {
        move |problem: AmountProblem| FeeError::InvalidAmount { field, amount, problem }
    };
    check_positive_amount(state.payment_amount).map_err(invalid("payment_amount", state.payment_amount))?;
    check_non_negative_amount(state.payment_fee).map_err(invalid("payment_fee", state.payment_fee))?;
    check_non_negative_amount(state.refunded_before).map_err(invalid("refunded_before", state.refunded_before))?;
    check_non_negative_amount(state.fee_returned_before)
        .map_err(invalid("fee_returned_before", state.fee_returned_before))?;

    let inconsistent =
        |problem: PaymentStateProblem| Err(FeeError::InconsistentPaymentState { state: *state, problem });
    if state.payment_fee > round_half_up_to_fen(state.payment_amount * FEE_RATE_MAX) {
        return inconsistent(PaymentStateProblem::FeeAboveMaximumRate);
    }
    if state.refunded_before > state.payment_amount {
        return inconsistent(PaymentStateProblem::RefundedMoreThanPaid);
    }
    if state.fee_returned_before > state.payment_fee {
        return inconsistent(PaymentStateProblem::ReturnedMoreFeeThanCharged);
    }
    Ok(())
}

/// A fee computation refused its input. A business rejection, not a fault: [`FeeError::code`] is
/// the stable machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeeError {
    /// Code `invalid_fee_rate`.
    #[error(
        "invalid fee rate {fee_rate}: must be from 0 to {FEE_RATE_MAX} \
         with at most {FEE_RATE_DECIMAL_PLACES_MAX} decimal places"
    )]
    InvalidFeeRate {
        /// The rate as given.
        fee_rate: Decimal,
    },
    /// Code `invalid_amount`.
    #[error("invalid {field} {amount}: {problem}")]
    InvalidAmount {
        /// Which input: `payment_amount`, `payment_fee`, `refunded_before`, `fee_returned_before`
        /// or `refund_amount`.
        field: &'static str,
        /// The amount as given.
        amount: Decimal,
        /// What is wrong with it.
        problem: AmountProblem,
    },
    /// Code `inconsistent_payment_state`.
    #[error("inconsistent payment state: {problem}")]
    InconsistentPaymentState {
        /// The state as given.
        state: PaymentRefundState,
        /// What is wrong with it.
        problem: PaymentStateProblem,
    },
    /// Code `refund_exceeds_payment`.
    #[error("refund of {refund_amount} exceeds the {refundable} left to refund on the payment")]
    RefundExceedsPayment {
        /// The refund asked for.
        refund_amount: Decimal,
        /// What was left to refund.
        refundable: Decimal,
    },
}

impl FeeError {
    /// The stable machine-readable code of the rejection.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            FeeError::InvalidFeeRate { .. } => "invalid_fee_rate",
            FeeError::InvalidAmount { .. } => "invalid_amount",
            FeeError::InconsistentPaymentState { .. } => "inconsistent_payment_state",
            FeeError::RefundExceedsPayment { .. } => "refund_exceeds_payment",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn rate(fee_rate: Decimal) -> FeeRate {
        FeeRate::new(fee_rate).expect("test rates are valid")
    }

    #[test]
    fn limits_are_what_their_docs_say() {
        assert_eq!(FEE_RATE_MAX, dec!(0.3));
    }

    #[test]
    fn fee_rate_validation() {
        fn check(fee_rate: Decimal, expected: Result<(), &str>) {
            let actual = FeeRate::new(fee_rate).map(|_| ()).map_err(|error| error.code());
            assert_eq!(actual, expected, "fee rate {fee_rate}");
        }
        check(dec!(0), Ok(()));
        check(dec!(0.006), Ok(()));
        check(dec!(0.0038), Ok(()));
        check(dec!(0.3), Ok(())); // at the bound
        check(dec!(0.300000), Ok(()));
        check(dec!(0.000001), Ok(())); // six decimal places: at the bound
        check(dec!(0.0000010), Ok(())); // the value still has six
        check(dec!(0.3000001), Err("invalid_fee_rate")); // past the bound
        check(dec!(0.31), Err("invalid_fee_rate"));
        check(dec!(0.6), Err("invalid_fee_rate")); // 0.6 % typed as 0.6
        check(dec!(-0.006), Err("invalid_fee_rate"));
        check(dec!(0.0000001), Err("invalid_fee_rate")); // seven decimal places
    }

    #[test]
    fn fee_rate_converts_and_deserializes_through_validation() {
        use serde::de::{value::Error as DeError, IntoDeserializer};
        assert_eq!(Decimal::from(rate(dec!(0.006))), dec!(0.006));
        assert_eq!(FeeRate::try_from(dec!(0.006)), Ok(rate(dec!(0.006))));
        let parsed = FeeRate::deserialize("0.006".into_deserializer());
        let parsed: Result<FeeRate, DeError> = parsed;
        assert_eq!(parsed.ok(), Some(rate(dec!(0.006))));
        let refused: Result<FeeRate, DeError> = FeeRate::deserialize("0.6".into_deserializer());
        let message = refused.err().map(|error| error.to_string()).unwrap_or_default();
        assert!(message.contains("invalid fee rate 0.6"), "{message}");
    }

    #[test]
    fn fee_for_payment_table() {
        fn check(amount: Decimal, fee_rate: Decimal, expected: Result<&str, &str>) {
            let actual =
                fee_for_payment(amount, rate(fee_rate)).map(|fee| fee.to_string()).map_err(|error| error.code());
            let expected = expected.map(str::to_string);
            assert_eq!(actual, expected, "{amount} at {fee_rate}");
        }
        check(dec!(9.90), dec!(0.006), Ok("0.06")); // 0.0594, WeChat Pay's own example
        check(dec!(100.00), dec!(0.006), Ok("0.60"));
        check(dec!(0.83), dec!(0.006), Ok("0.00")); // 0.00498
        check(dec!(0.84), dec!(0.006), Ok("0.01")); // 0.00504
        check(dec!(2.50), dec!(0.002), Ok("0.01")); // 0.005 exactly: half goes up
        check(dec!(7.50), dec!(0.002), Ok("0.02")); // 0.015: half-up and banker's agree
        check(dec!(12.50), dec!(0.002), Ok("0.03")); // 0.025: banker's would say 0.02
        check(dec!(0.01), dec!(0.006), Ok("0.00"));
        check(dec!(1234.56), dec!(0.0038), Ok("4.69")); // 4.691328
        check(dec!(10), dec!(0.3), Ok("3.00"));
        check(dec!(55.55), dec!(0), Ok("0.00"));
        check(dec!(10000000.00), dec!(0.3), Ok("3000000.00")); // largest amount, largest rate
        check(dec!(10000000.01), dec!(0.006), Err("invalid_amount"));
        check(dec!(0), dec!(0.006), Err("invalid_amount"));
        check(dec!(-9.90), dec!(0.006), Err("invalid_amount"));
        check(dec!(9.905), dec!(0.006), Err("invalid_amount"));
    }

    fn state(amount: Decimal, fee: Decimal, refunded: Decimal, returned: Decimal) -> PaymentRefundState {
        PaymentRefundState {
            payment_amount: amount,
            payment_fee: fee,
            refunded_before: refunded,
            fee_returned_before: returned,
        }
    }

    #[test]
    fn fee_to_return_table() {
        /// The payment's amount, fee, refunded before and fee returned before; the refund; then
        /// the fee to return now or the rejection's code.
        fn check(payment: [&str; 4], refund_amount: &str, expected: Result<&str, &str>) {
            let [amount, fee, refunded, returned] =
                payment.map(|text| text.parse::<Decimal>().expect("test amounts are decimals"));
            let state = state(amount, fee, refunded, returned);
            let refund_amount: Decimal = refund_amount.parse().expect("test amounts are decimals");
            let actual = fee_to_return(&state, refund_amount).map(|fee| fee.to_string()).map_err(|error| error.code());
            let expected = expected.map(str::to_string);
            assert_eq!(actual, expected, "refund {refund_amount} on {state:?}");
        }
        // Whole and partial refunds of 9.90 with its 0.06 fee.
        check(["9.90", "0.06", "0", "0"], "9.90", Ok("0.06"));
        check(["9.90", "0.06", "0", "0"], "3.30", Ok("0.02"));
        check(["9.90", "0.06", "3.30", "0.02"], "3.30", Ok("0.02"));
        check(["9.90", "0.06", "6.60", "0.04"], "3.30", Ok("0.02"));
        // 1.00 with a 0.01 fee in two halves: the first half reaches 0.005, which rounds up to 0.01;
        // the second returns nothing, so the total is the fee, not twice it.
        check(["1.00", "0.01", "0", "0"], "0.50", Ok("0.01"));
        check(["1.00", "0.01", "0.50", "0.01"], "0.50", Ok("0.00"));
        // Just below half: nothing yet, all of it with the rest.
        check(["1.00", "0.01", "0", "0"], "0.49", Ok("0.00"));
        check(["1.00", "0.01", "0.49", "0"], "0.51", Ok("0.01"));
        // A fee of zero returns zero.
        check(["0.50", "0", "0", "0"], "0.50", Ok("0.00"));
        // 1.00 with a 0.30 fee, 0.66 refunded (running total 0.198, returned 0.20): the rest is 0.10.
        check(["1.00", "0.30", "0.66", "0.20"], "0.34", Ok("0.10"));
        // Non-terminating quotient: 0.06 × 1 / 3 = 0.02, then 0.06 × 2 / 3 = 0.04.
        check(["3.00", "0.06", "0", "0"], "1.00", Ok("0.02"));
        check(["3.00", "0.06", "1.00", "0.02"], "1.00", Ok("0.02"));
        // History from another rule that is ahead of the running total: nothing now, never negative;
        // the last refund still brings the total to exactly the fee.
        check(["1.00", "0.10", "0.10", "0.05"], "0.10", Ok("0.00"));
        check(["1.00", "0.10", "0.20", "0.05"], "0.80", Ok("0.05"));
        // The largest amounts.
        check(["10000000.00", "3000000.00", "0", "0"], "10000000.00", Ok("3000000.00"));
        check(["10000000.00", "60000.00", "0", "0"], "0.01", Ok("0.00"));
        // The fee may be up to what 30 % charges: 9.90 × 0.3 = 2.97.
        check(["9.90", "2.97", "0", "0"], "1", Ok("0.30"));

        // invalid_amount, for each field and problem.
        check(["0", "0", "0", "0"], "0.01", Err("invalid_amount"));
        check(["10000000.01", "0", "0", "0"], "0.01", Err("invalid_amount"));
        check(["9.90", "-0.06", "0", "0"], "1", Err("invalid_amount"));
        check(["9.90", "0.059", "0", "0"], "1", Err("invalid_amount"));
        check(["9.90", "0.06", "-1", "0"], "1", Err("invalid_amount"));
        check(["9.90", "0.06", "0.001", "0"], "1", Err("invalid_amount"));
        check(["9.90", "0.06", "1", "-0.01"], "1", Err("invalid_amount"));
        check(["9.90", "0.06", "1", "0.005"], "1", Err("invalid_amount"));
        check(["9.90", "0.06", "0", "0"], "0", Err("invalid_amount"));
        check(["9.90", "0.06", "0", "0"], "-1", Err("invalid_amount"));
        check(["9.90", "0.06", "0", "0"], "0.015", Err("invalid_amount"));
        check(["9.90", "0.06", "0", "0"], "10000000.01", Err("invalid_amount"));
        // inconsistent_payment_state: a fee past 30 %, more refunded than paid, more returned
        // than charged.
        check(["9.90", "2.98", "0", "0"], "1", Err("inconsistent_payment_state"));
        check(["9.90", "0.06", "9.91", "0.06"], "1", Err("inconsistent_payment_state"));
        check(["9.90", "0.06", "1", "0.07"], "1", Err("inconsistent_payment_state"));
        // refund_exceeds_payment.
        check(["9.90", "0.06", "0", "0"], "9.91", Err("refund_exceeds_payment"));
        check(["9.90", "0.06", "5", "0.03"], "4.91", Err("refund_exceeds_payment"));
        check(["9.90", "0.06", "9.90", "0.06"], "0.01", Err("refund_exceeds_payment"));
    }

    #[test]
    fn rejections_say_what_is_wrong() {
        fn check(error: FeeError, expected_message: &str) {
            assert_eq!(error.to_string(), expected_message);
        }
        let payment = state(dec!(9.90), dec!(0.06), dec!(9.90), dec!(0.06));
        check(
            fee_to_return(&payment, dec!(0.01)).expect_err("nothing left"),
            "refund of 0.01 exceeds the 0.00 left to refund on the payment",
        );
        check(
            fee_to_return(&payment, dec!(0.001)).expect_err("finer than the fen"),
            "invalid refund_amount 0.001: must not have more than two decimal places",
        );
        check(
            FeeRate::new(dec!(0.6)).expect_err("too high"),
            "invalid fee rate 0.6: must be from 0 to 0.3 with at most 6 decimal places",
        );
        check(
            fee_to_return(&state(dec!(1), dec!(0.01), dec!(2), dec!(0)), dec!(1)).expect_err("refunded too much"),
            "inconsistent payment state: more has been refunded than was paid",
        );
    }
}
