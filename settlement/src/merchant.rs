//! A merchant's settlement line for one business day (paid out T+1).
//!
//! ```text
//! net = gross − refunds − fees charged + fees returned
//! ```
//!
//! * **gross**: the payments made on the day;
//! * **refunds**: the refunds accepted on the day, whatever day their payment was made;
//! * **fees charged**: the sum of the per-order fees of the day's payments ([`fee_for_payment`]);
//! * **fees returned**: the fee the day's refunds give back ([`fee_to_return`]).
//!
//! # What the caller supplies
//! The day's payment and refund lines ([`MerchantDayInput`]) and, for every refund whose payment
//! was made on an earlier day, where that payment stood when the day began ([`EarlierPayment`]: its
//! amount, its fee and what had been refunded and returned on it before). A refund of a payment
//! made the same day needs nothing more: the payment is among the day's lines and its fee is
//! computed here. The day's refunds are applied in time order (ties by refund id), each against
//! the payment as the previous ones left it, and the line reports that state after each refund
//! ([`RefundFeeLine::payment_state_after`]) so the caller can store it for later days.
//!
//! # Lines outside the day are rejected
//! A payment or refund line whose time is not within the business day is a rejection
//! (`line_outside_day`), not skipped. The caller chose the lines for the day; a line from another
//! day means the selection is wrong (most likely at the midnight cut), and skipping it would settle
//! that money on no day or on two. Likewise an [`EarlierPayment`] made on or after the day's start
//! is rejected (`earlier_payment_not_before_day`): it belongs among the day's payments, and passing
//! it as earlier would leave it out of gross.
//!
//! # A negative net is reported, never clamped
//! A day whose refunds outweigh its sales has a negative net, and [`SettlementLine::net`] says so.
//! Nothing is paid for such a day, and the shortfall is carried: [`SettlementLine::payout`] takes
//! the deficit brought forward from earlier days, pays out only what is left after covering it and
//! reports the deficit to carry into the next day. Every fen is accounted for:
//! `payout − deficit carried forward = net − deficit brought forward`.

use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::business_day::{day_bounds_utc, BusinessDay};
use crate::fees::{fee_for_payment, fee_to_return, FeeError, FeeRate, PaymentRefundState};
use crate::money::{check_non_negative_amount_up_to, with_fen_scale, AmountProblem};

/// Largest deficit that may be carried into a day: 1 000 000 000 000.00 yuan. Far beyond any
/// merchant's refunds; it keeps `net − deficit` far inside `Decimal`'s range.
pub const DEFICIT_YUAN_MAX: Decimal = Decimal::from_parts(276_447_232, 23_283, 0, false, 2);

/// A payment the merchant took on the day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentLine {
    /// The payment's id.
    pub payment_id: Uuid,
    /// What the customer paid, in yuan.
    pub amount: Decimal,
    /// When the payment succeeded.
    pub at_unix_seconds: i64,
}

/// A refund the merchant made on the day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLine {
    /// The refund's id.
    pub refund_id: Uuid,
    /// The payment it refunds, made on this day or an earlier one.
    pub payment_id: Uuid,
    /// What is refunded, in yuan.
    pub amount: Decimal,
    /// When the refund was accepted.
    pub at_unix_seconds: i64,
}

/// A merchant's lines for one business day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantDayInput {
    /// The merchant.
    pub merchant_id: Uuid,
    /// The rate charged on the day's payments.
    pub fee_rate: FeeRate,
    /// The payments made on the day.
    pub payments: Vec<PaymentLine>,
    /// The refunds accepted on the day.
    pub refunds: Vec<RefundLine>,
}

/// A payment made before the day that one of the day's refunds refers to, as it stood when the day
/// began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarlierPayment {
    /// The payment's id.
    pub payment_id: Uuid,
    /// When the payment succeeded: before the day.
    pub paid_at_unix_seconds: i64,
    /// Its amount and fee (as charged then, at the rate of then) and what had been refunded and
    /// returned on it when the day began.
    pub state_at_day_start: PaymentRefundState,
}

/// The fee charged on one of the day's payments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentFeeLine {
    /// The payment.
    pub payment_id: Uuid,
    /// What was paid.
    pub amount: Decimal,
    /// The fee charged on it.
    pub fee: Decimal,
}

/// The fee given back for one of the day's refunds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefundFeeLine {
    /// The refund.
    pub refund_id: Uuid,
    /// The payment it refunds.
    pub payment_id: Uuid,
    /// What was refunded.
    pub amount: Decimal,
    /// The fee given back for it.
    pub fee_returned: Decimal,
    /// The payment after this refund: the state to store for its next refund.
    pub payment_state_after: PaymentRefundState,
}

/// A merchant's settlement for one business day. Built only by [`settle_merchant_day`], so its
/// totals always add up: `net = gross − refunded − fees_charged + fees_returned`.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettlementLine {
    merchant_id: Uuid,
    day: BusinessDay,
    fee_rate: FeeRate,
    payments: Vec<PaymentFeeLine>,
    refunds: Vec<RefundFeeLine>,
    gross: Decimal,
    refunded: Decimal,
    fees_charged: Decimal,
    fees_returned: Decimal,
    net: Decimal,
}

impl SettlementLine {
    /// The merchant.
    pub fn merchant_id(&self) -> Uuid {
        self.merchant_id
    }

    /// The business day settled.
    pub fn day(&self) -> BusinessDay {
        self.day
    }

    /// The rate charged on the day's payments.
    pub fn fee_rate(&self) -> FeeRate {
        self.fee_rate
    }

    /// The day's payments with their fees, in the order given.
    pub fn payments(&self) -> &[PaymentFeeLine] {
        &self.payments
    }

    /// The day's refunds with the fee each gave back, in the order applied: by time, then refund id.
    pub fn refunds(&self) -> &[RefundFeeLine] {
        &self.refunds
    }

    /// Sum of the day's payments.
    pub fn gross(&self) -> Decimal {
        self.gross
    }

    /// Sum of the day's refunds.
    pub fn refunded(&self) -> Decimal {
        self.refunded
    }

    /// Sum of the fees charged on the day's payments.
    pub fn fees_charged(&self) -> Decimal {
        self.fees_charged
    }

    /// Sum of the fees given back for the day's refunds.
    pub fn fees_returned(&self) -> Decimal {
        self.fees_returned
    }

    /// `gross − refunded − fees_charged + fees_returned`; negative when refunds outweigh sales.
    pub fn net(&self) -> Decimal {
        self.net
    }

    /// What to pay the merchant for the day, after covering the deficit carried from earlier days;
    /// and the deficit to carry into the next day if the day's net does not cover it.
    ///
    /// `deficit_brought_forward` is a non-negative amount of at most [`DEFICIT_YUAN_MAX`]
    /// (`invalid_amount` otherwise): the [`Payout::deficit_carried_forward`] of the previous day.
    pub fn payout(&self, deficit_brought_forward: Decimal) -> Result<Payout, MerchantDayError> {
        check_non_negative_amount_up_to(deficit_brought_forward, DEFICIT_YUAN_MAX).map_err(|problem| {
            MerchantDayError::InvalidAmount {
                field: "deficit_brought_forward",
                amount: deficit_brought_forward,
                problem,
            }
        })?;
        let available = self.net - deficit_brought_forward;
        let (payout, deficit_carried_forward) =
            if available >= Decimal::ZERO { (available, Decimal::ZERO) } else { (Decimal::ZERO, -available) };
        Ok(Payout { payout: with_fen_scale(payout), deficit_carried_forward: with_fen_scale(deficit_carried_forward) })
    }
}

/// What a settlement line pays out once earlier deficits are covered. Both amounts are
/// non-negative, at most one of them is non-zero, and
/// `payout − deficit_carried_forward = net − deficit_brought_forward`.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Payout {
    payout: Decimal,
    deficit_carried_forward: Decimal,
}

impl Payout {
    /// To pay the merchant.
    pub fn payout(&self) -> Decimal {
        self.payout
    }

    /// Still owed by the merchant: to bring forward into the next day's [`SettlementLine::payout`].
    pub fn deficit_carried_forward(&self) -> Decimal {
        self.deficit_carried_forward
    }
}

/// Settles one merchant's business day. Pure: the same inputs always give the same line.
///
/// Checks, in this order, stopping at the first rejection:
/// 1. each payment, in the order given: within the day (`line_outside_day`), its amount
///    (`invalid_amount`), its id unused (`duplicate_payment`);
/// 2. each earlier payment, in the order given: paid before the day
///    (`earlier_payment_not_before_day`), its id unused (`duplicate_payment`);
/// 3. each refund, by time then refund id: its id unused (`duplicate_refund`), within the day
///    (`line_outside_day`), its payment known (`unknown_payment`) and not later than it
///    (`refund_before_payment`), then the fee rules (`invalid_amount`,
///    `inconsistent_payment_state`, `refund_exceeds_payment`).
///
/// Earlier payments that no refund refers to are ignored beyond step 2.
pub fn settle_merchant_day(
    day: BusinessDay,
    input: &MerchantDayInput,
    earlier_payments: &[EarlierPayment],
) -> Result<SettlementLine, MerchantDayError> {
    let (day_start, day_end) = day_bounds_utc(day);
    let within_day = |at_unix_seconds: i64| day_start <= at_unix_seconds && at_unix_seconds < day_end;

    // Every payment a refund may refer to, as it stands before the next refund.
    struct RefundablePayment {
        state: PaymentRefundState,
        paid_at_unix_seconds: i64,
    }
    let mut refundable_payments: HashMap<Uuid, RefundablePayment> =
        HashMap::with_capacity(input.payments.len() + earlier_payments.len());

    let mut payment_fee_lines = Vec::with_capacity(input.payments.len());
    for payment in &input.payments {
        if !within_day(payment.at_unix_seconds) {
            return Err(MerchantDayError::PaymentOutsideDay {
                payment_id: payment.payment_id,
                at_unix_seconds: payment.at_unix_seconds,
                day,
            });
        }
        let fee = fee_for_payment(payment.amount, input.fee_rate)
            .map_err(|reason| MerchantDayError::Payment { payment_id: payment.payment_id, reason })?;
        let amount = with_fen_scale(payment.amount);
        let previous = refundable_payments.insert(
            payment.payment_id,
            RefundablePayment {
                state: PaymentRefundState::unrefunded(amount, fee),
                paid_at_unix_seconds: payment.at_unix_seconds,
            },
        );
        if previous.is_some() {
            return Err(MerchantDayError::DuplicatePayment { payment_id: payment.payment_id });
        }
        payment_fee_lines.push(PaymentFeeLine { payment_id: payment.payment_id, amount, fee });
    }

    for earlier in earlier_payments {
        if earlier.paid_at_unix_seconds >= day_start {
            return Err(MerchantDayError::EarlierPaymentNotBeforeDay {
                payment_id: earlier.payment_id,
                paid_at_unix_seconds: earlier.paid_at_unix_seconds,
                day,
            });
        }
        let previous = refundable_payments.insert(
            earlier.payment_id,
            RefundablePayment { state: earlier.state_at_day_start, paid_at_unix_seconds: earlier.paid_at_unix_seconds },
        );
        if previous.is_some() {
            return Err(MerchantDayError::DuplicatePayment { payment_id: earlier.payment_id });
        }
    }

    // Time order, so that two refunds of one payment on the same day meet it in the order they
    // happened; the refund id breaks ties so that the order never depends on the input's order.
    let mut refunds_in_order: Vec<&RefundLine> = input.refunds.iter().collect();
    refunds_in_order.sort_by_key(|refund| (refund.at_unix_seconds, refund.refund_id));
    let mut refund_ids_seen = HashSet::with_capacity(refunds_in_order.len());
    let mut refund_fee_lines = Vec::with_capacity(refunds_in_order.len());
    for refund in refunds_in_order {
        if !refund_ids_seen.insert(refund.refund_id) {
            return Err(MerchantDayError::DuplicateRefund { refund_id: refund.refund_id });
        }
        if !within_day(refund.at_unix_seconds) {
            return Err(MerchantDayError::RefundOutsideDay {
                refund_id: refund.refund_id,
                at_unix_seconds: refund.at_unix_seconds,
                day,
            });
        }
        let payment = refundable_payments
            .get_mut(&refund.payment_id)
            .ok_or(MerchantDayError::UnknownPayment { refund_id: refund.refund_id, payment_id: refund.payment_id })?;
        if refund.at_unix_seconds < payment.paid_at_unix_seconds {
            return Err(MerchantDayError::RefundBeforePayment {
                refund_id: refund.refund_id,
                payment_id: refund.payment_id,
            });
        }
        let fee_returned = fee_to_return(&payment.state, refund.amount)
            .map_err(|reason| MerchantDayError::Refund { refund_id: refund.refund_id, reason })?;
        let state_before = payment.state;
        payment.state = PaymentRefundState {
            payment_amount: with_fen_scale(state_before.payment_amount),
            payment_fee: with_fen_scale(state_before.payment_fee),
            refunded_before: with_fen_scale(state_before.refunded_before + refund.amount),
            fee_returned_before: with_fen_scale(state_before.fee_returned_before + fee_returned),
        };
        refund_fee_lines.push(RefundFeeLine {
            refund_id: refund.refund_id,
            payment_id: refund.payment_id,
            amount: with_fen_scale(refund.amount),
            fee_returned,
            payment_state_after: payment.state,
        });
    }

    // No sum can overflow: every line is at most AMOUNT_YUAN_MAX (see there).
    let gross: Decimal = payment_fee_lines.iter().map(|line| line.amount).sum();
    let fees_charged: Decimal = payment_fee_lines.iter().map(|line| line.fee).sum();
    let refunded: Decimal = refund_fee_lines.iter().map(|line| line.amount).sum();
    let fees_returned: Decimal = refund_fee_lines.iter().map(|line| line.fee_returned).sum();
    let net = gross - refunded - fees_charged + fees_returned;
    Ok(SettlementLine {
        merchant_id: input.merchant_id,
        day,
        fee_rate: input.fee_rate,
        payments: payment_fee_lines,
        refunds: refund_fee_lines,
        gross: with_fen_scale(gross),
        refunded: with_fen_scale(refunded),
        fees_charged: with_fen_scale(fees_charged),
        fees_returned: with_fen_scale(fees_returned),
        net: with_fen_scale(net),
    })
}

/// A merchant day was refused. A business rejection, not a fault: [`MerchantDayError::code`] is
/// the stable machine-readable code; a rejection of one line's fee carries the code of the
/// [`FeeError`] within.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerchantDayError {
    /// A payment's fee could not be computed; the code is the [`FeeError`]'s.
    #[error("payment {payment_id}: {reason}")]
    Payment {
        /// The payment.
        payment_id: Uuid,
        /// Why.
        reason: FeeError,
    },
    /// A refund's returned fee could not be computed; the code is the [`FeeError`]'s.
    #[error("refund {refund_id}: {reason}")]
    Refund {
        /// The refund.
        refund_id: Uuid,
        /// Why.
        reason: FeeError,
    },
    /// Code `invalid_amount`.
    #[error("invalid {field} {amount}: {problem}")]
    InvalidAmount {
        /// Which input: `deficit_brought_forward`.
        field: &'static str,
        /// The amount as given.
        amount: Decimal,
        /// What is wrong with it.
        problem: AmountProblem,
    },
    /// Code `line_outside_day`.
    #[error("payment {payment_id} at unix time {at_unix_seconds} is not within business day {day}")]
    PaymentOutsideDay {
        /// The payment.
        payment_id: Uuid,
        /// Its time.
        at_unix_seconds: i64,
        /// The day being settled.
        day: BusinessDay,
    },
    /// Code `line_outside_day`.
    #[error("refund {refund_id} at unix time {at_unix_seconds} is not within business day {day}")]
    RefundOutsideDay {
        /// The refund.
        refund_id: Uuid,
        /// Its time.
        at_unix_seconds: i64,
        /// The day being settled.
        day: BusinessDay,
    },
    /// Code `earlier_payment_not_before_day`.
    #[error(
        "earlier payment {payment_id} at unix time {paid_at_unix_seconds} \
         is not before business day {day}"
    )]
    EarlierPaymentNotBeforeDay {
        /// The payment.
        payment_id: Uuid,
        /// Its time.
        paid_at_unix_seconds: i64,
        /// The day being settled.
        day: BusinessDay,
    },
    /// Code `duplicate_payment`.
    #[error("payment {payment_id} is given more than once")]
    DuplicatePayment {
        /// The payment.
        payment_id: Uuid,
    },
    /// Code `duplicate_refund`.
    #[error("refund {refund_id} is given more than once")]
    DuplicateRefund {
        /// The refund.
        refund_id: Uuid,
    },
    /// Code `unknown_payment`.
    #[error("refund {refund_id} refers to payment {payment_id}, which is neither among the day's payments nor the earlier ones")]
    UnknownPayment {
        /// The refund.
        refund_id: Uuid,
        /// The payment it refers to.
        payment_id: Uuid,
    },
    /// Code `refund_before_payment`.
    #[error("refund {refund_id} is earlier than its payment {payment_id}")]
    RefundBeforePayment {
        /// The refund.
        refund_id: Uuid,
        /// The payment it refers to.
        payment_id: Uuid,
    },
}

impl MerchantDayError {
    /// The stable machine-readable code of the rejection.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            MerchantDayError::Payment { reason, .. } | MerchantDayError::Refund { reason, .. } => reason.code(),
            MerchantDayError::InvalidAmount { .. } => "invalid_amount",
            MerchantDayError::PaymentOutsideDay { .. } | MerchantDayError::RefundOutsideDay { .. } => {
                "line_outside_day"
            }
            MerchantDayError::EarlierPaymentNotBeforeDay { .. } => "earlier_payment_not_before_day",
            MerchantDayError::DuplicatePayment { .. } => "duplicate_payment",
            MerchantDayError::DuplicateRefund { .. } => "duplicate_refund",
            MerchantDayError::UnknownPayment { .. } => "unknown_payment",
            MerchantDayError::RefundBeforePayment { .. } => "refund_before_payment",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    /// 2024-01-01 in Beijing: from 2023-12-31T16:00:00Z up to 2024-01-01T16:00:00Z.
    const DAY_START: i64 = 1_704_038_400;
    const DAY_END: i64 = DAY_START + 86_400;
    /// 12:00 in Beijing on that day.
    const NOON: i64 = DAY_START + 12 * 3_600;

    fn new_year() -> BusinessDay {
        BusinessDay::parse("2024-01-01").expect("valid day")
    }

    fn id(number: u128) -> Uuid {
        Uuid::from_u128(number)
    }

    fn payment(number: u128, amount: Decimal, at_unix_seconds: i64) -> PaymentLine {
        PaymentLine { payment_id: id(number), amount, at_unix_seconds }
    }

    fn refund(number: u128, payment_number: u128, amount: Decimal, at_unix_seconds: i64) -> RefundLine {
        RefundLine { refund_id: id(number), payment_id: id(payment_number), amount, at_unix_seconds }
    }

    fn earlier(number: u128, state: [Decimal; 4]) -> EarlierPayment {
        EarlierPayment {
            payment_id: id(number),
            paid_at_unix_seconds: DAY_START - 3_600,
            state_at_day_start: PaymentRefundState {
                payment_amount: state[0],
                payment_fee: state[1],
                refunded_before: state[2],
                fee_returned_before: state[3],
            },
        }
    }

    fn day_input(payments: Vec<PaymentLine>, refunds: Vec<RefundLine>) -> MerchantDayInput {
        MerchantDayInput {
            merchant_id: id(0xAB),
            fee_rate: FeeRate::new(dec!(0.006)).expect("valid rate"),
            payments,
            refunds,
        }
    }

    /// Expected totals as written: gross, refunded, fees charged, fees returned, net.
    type Totals = [&'static str; 5];

    fn check(input: MerchantDayInput, earlier_payments: Vec<EarlierPayment>, expected: Result<Totals, &str>) {
        let actual = settle_merchant_day(new_year(), &input, &earlier_payments)
            .map(|line| {
                [line.gross(), line.refunded(), line.fees_charged(), line.fees_returned(), line.net()]
                    .map(|amount| amount.to_string())
            })
            .map_err(|error| error.code());
        let expected = expected.map(|totals| totals.map(str::to_string));
        assert_eq!(actual, expected, "{input:?} with earlier {earlier_payments:?}");
    }

    #[test]
    fn settle_merchant_day_table() {
        // A quiet day.
        check(day_input(vec![], vec![]), vec![], Ok(["0.00", "0.00", "0.00", "0.00", "0.00"]));
        // One payment.
        check(
            day_input(vec![payment(1, dec!(9.90), NOON)], vec![]),
            vec![],
            Ok(["9.90", "0.00", "0.06", "0.00", "9.84"]),
        );
        // Fees are per order, not on the total: 0.83 twice is 0.00 + 0.00, though 1.66 would be 0.01.
        check(
            day_input(vec![payment(1, dec!(0.83), NOON), payment(2, dec!(0.83), NOON)], vec![]),
            vec![],
            Ok(["1.66", "0.00", "0.00", "0.00", "1.66"]),
        );
        // The first and the last second of the day.
        check(
            day_input(vec![payment(1, dec!(100), DAY_START), payment(2, dec!(50), DAY_END - 1)], vec![]),
            vec![],
            Ok(["150.00", "0.00", "0.90", "0.00", "149.10"]),
        );
        // A payment refunded in part the same day.
        check(
            day_input(vec![payment(1, dec!(9.90), NOON)], vec![refund(11, 1, dec!(3.30), NOON + 60)]),
            vec![],
            Ok(["9.90", "3.30", "0.06", "0.02", "6.56"]),
        );
        // Paid and wholly refunded the same day: nothing moves, fee included.
        check(
            day_input(vec![payment(1, dec!(9.90), NOON)], vec![refund(11, 1, dec!(9.90), NOON)]),
            vec![],
            Ok(["9.90", "9.90", "0.06", "0.06", "0.00"]),
        );
        // A refund of an earlier day's payment and no sales: the net is negative and stays so.
        check(
            day_input(vec![], vec![refund(11, 7, dec!(100.00), NOON)]),
            vec![earlier(7, [dec!(100.00), dec!(0.60), dec!(0), dec!(0)])],
            Ok(["0.00", "100.00", "0.00", "0.60", "-99.40"]),
        );
        // The rest of an earlier payment, partly refunded before: its fee comes back to the fen.
        check(
            day_input(vec![payment(1, dec!(20.00), NOON)], vec![refund(11, 7, dec!(6.60), NOON)]),
            vec![earlier(7, [dec!(9.90), dec!(0.06), dec!(3.30), dec!(0.02)])],
            Ok(["20.00", "6.60", "0.12", "0.04", "13.32"]),
        );
        // Earlier payments no refund refers to are ignored.
        check(
            day_input(vec![payment(1, dec!(9.90), NOON)], vec![]),
            vec![earlier(7, [dec!(9.90), dec!(0.06), dec!(0), dec!(0)])],
            Ok(["9.90", "0.00", "0.06", "0.00", "9.84"]),
        );
        // Two same-day refunds that together empty the payment.
        check(
            day_input(
                vec![payment(1, dec!(1.00), NOON)],
                vec![refund(12, 1, dec!(0.50), NOON + 2), refund(11, 1, dec!(0.50), NOON + 1)],
            ),
            vec![],
            Ok(["1.00", "1.00", "0.01", "0.01", "0.00"]),
        );
    }

    #[test]
    fn settle_merchant_day_rejections() {
        let nine_ninety = |number| payment(number, dec!(9.90), NOON);
        // line_outside_day: a second before the day, the first second of the next, long before.
        check(day_input(vec![payment(1, dec!(1), DAY_START - 1)], vec![]), vec![], Err("line_outside_day"));
        check(day_input(vec![payment(1, dec!(1), DAY_END)], vec![]), vec![], Err("line_outside_day"));
        check(day_input(vec![payment(1, dec!(1), 0)], vec![]), vec![], Err("line_outside_day"));
        check(day_input(vec![nine_ninety(1)], vec![refund(11, 1, dec!(1), DAY_END)]), vec![], Err("line_outside_day"));
        // invalid_amount, on a payment and on a refund.
        check(day_input(vec![payment(1, dec!(9.999), NOON)], vec![]), vec![], Err("invalid_amount"));
        check(day_input(vec![payment(1, dec!(0), NOON)], vec![]), vec![], Err("invalid_amount"));
        check(day_input(vec![nine_ninety(1)], vec![refund(11, 1, dec!(-1), NOON)]), vec![], Err("invalid_amount"));
        // duplicate_payment: twice in the day, in the day and earlier, twice earlier.
        check(day_input(vec![nine_ninety(1), nine_ninety(1)], vec![]), vec![], Err("duplicate_payment"));
        let earlier_nine_ninety = |number| earlier(number, [dec!(9.90), dec!(0.06), dec!(0), dec!(0)]);
        check(day_input(vec![nine_ninety(1)], vec![]), vec![earlier_nine_ninety(1)], Err("duplicate_payment"));
        check(
            day_input(vec![], vec![]),
            vec![earlier_nine_ninety(7), earlier_nine_ninety(7)],
            Err("duplicate_payment"),
        );
        // earlier_payment_not_before_day: made at the day's first second.
        let mut made_today = earlier_nine_ninety(7);
        made_today.paid_at_unix_seconds = DAY_START;
        check(day_input(vec![], vec![]), vec![made_today], Err("earlier_payment_not_before_day"));
        // duplicate_refund, even at different times.
        check(
            day_input(vec![nine_ninety(1)], vec![refund(11, 1, dec!(1), NOON), refund(11, 1, dec!(1), NOON + 5)]),
            vec![],
            Err("duplicate_refund"),
        );
        // unknown_payment.
        check(day_input(vec![nine_ninety(1)], vec![refund(11, 2, dec!(1), NOON)]), vec![], Err("unknown_payment"));
        // refund_before_payment: a second early; the same second is fine.
        check(
            day_input(vec![nine_ninety(1)], vec![refund(11, 1, dec!(1), NOON - 1)]),
            vec![],
            Err("refund_before_payment"),
        );
        // refund_exceeds_payment: on its own, and two refunds that together exceed it.
        check(
            day_input(vec![nine_ninety(1)], vec![refund(11, 1, dec!(9.91), NOON)]),
            vec![],
            Err("refund_exceeds_payment"),
        );
        check(
            day_input(vec![nine_ninety(1)], vec![refund(11, 1, dec!(5), NOON), refund(12, 1, dec!(4.91), NOON)]),
            vec![],
            Err("refund_exceeds_payment"),
        );
        check(
            day_input(vec![], vec![refund(11, 7, dec!(0.01), NOON)]),
            vec![earlier(7, [dec!(9.90), dec!(0.06), dec!(9.90), dec!(0.06)])],
            Err("refund_exceeds_payment"),
        );
        // inconsistent_payment_state: an earlier payment that returned more fee than it charged.
        check(
            day_input(vec![], vec![refund(11, 7, dec!(1), NOON)]),
            vec![earlier(7, [dec!(9.90), dec!(0.06), dec!(1), dec!(0.07)])],
            Err("inconsistent_payment_state"),
        );
    }

    #[test]
    fn refunds_apply_in_time_order_and_report_the_state_after() {
        // Given late-first, applied early-first: the first half takes the rounded-up fen.
        let input = day_input(
            vec![payment(1, dec!(1.00), NOON)],
            vec![
                refund(12, 1, dec!(0.50), NOON + 2),
                refund(13, 1, dec!(0.25), NOON + 1),
                refund(11, 1, dec!(0.25), NOON + 1),
            ],
        );
        let line = settle_merchant_day(new_year(), &input, &[]).expect("valid day");
        let applied: Vec<(Uuid, String, String, String)> = line
            .refunds()
            .iter()
            .map(|refund| {
                (
                    refund.refund_id,
                    refund.fee_returned.to_string(),
                    refund.payment_state_after.refunded_before.to_string(),
                    refund.payment_state_after.fee_returned_before.to_string(),
                )
            })
            .collect();
        let expected = vec![
            (id(11), "0.00".to_string(), "0.25".to_string(), "0.00".to_string()), // 0.0025 → 0.00
            (id(13), "0.01".to_string(), "0.50".to_string(), "0.01".to_string()), // 0.005 → 0.01
            (id(12), "0.00".to_string(), "1.00".to_string(), "0.01".to_string()), // the whole fee
        ];
        assert_eq!(applied, expected);
        assert_eq!(line.merchant_id(), id(0xAB));
        assert_eq!(line.day(), new_year());
        assert_eq!(line.fee_rate().as_decimal(), dec!(0.006));
        assert_eq!(line.payments().len(), 1);
        assert_eq!(line.payments()[0].fee.to_string(), "0.01");

        // The same refunds in another input order settle the same way.
        let mut reversed = input.clone();
        reversed.refunds.reverse();
        assert_eq!(settle_merchant_day(new_year(), &reversed, &[]), Ok(line));
    }

    #[test]
    fn payout_table() {
        fn check(
            net_day: (Vec<PaymentLine>, Vec<RefundLine>, Vec<EarlierPayment>),
            deficit_brought_forward: Decimal,
            expected: Result<[&str; 2], &str>,
        ) {
            let (payments, refunds, earlier_payments) = net_day;
            let line =
                settle_merchant_day(new_year(), &day_input(payments, refunds), &earlier_payments).expect("valid day");
            let actual = line
                .payout(deficit_brought_forward)
                .map(|payout| [payout.payout().to_string(), payout.deficit_carried_forward().to_string()])
                .map_err(|error| error.code());
            let expected = expected.map(|amounts| amounts.map(str::to_string));
            assert_eq!(actual, expected, "net {} after a deficit of {deficit_brought_forward}", line.net());
        }
        let net_of_9_84 = || (vec![payment(1, dec!(9.90), NOON)], vec![], vec![]);
        let net_of_minus_99_40 = || {
            (
                vec![],
                vec![refund(11, 7, dec!(100.00), NOON)],
                vec![earlier(7, [dec!(100.00), dec!(0.60), dec!(0), dec!(0)])],
            )
        };
        check(net_of_9_84(), dec!(0), Ok(["9.84", "0.00"]));
        check(net_of_9_84(), dec!(4.84), Ok(["5.00", "0.00"]));
        check(net_of_9_84(), dec!(9.84), Ok(["0.00", "0.00"]));
        check(net_of_9_84(), dec!(10), Ok(["0.00", "0.16"]));
        check(net_of_minus_99_40(), dec!(0), Ok(["0.00", "99.40"]));
        check(net_of_minus_99_40(), dec!(0.60), Ok(["0.00", "100.00"]));
        check((vec![], vec![], vec![]), dec!(0), Ok(["0.00", "0.00"]));
        check(net_of_9_84(), dec!(1000000000000.00), Ok(["0.00", "999999999990.16"])); // at the bound
        check(net_of_9_84(), dec!(1000000000000.01), Err("invalid_amount")); // past the bound
        check(net_of_9_84(), dec!(-0.01), Err("invalid_amount"));
        check(net_of_9_84(), dec!(0.001), Err("invalid_amount"));
    }

    #[test]
    fn limits_are_what_their_docs_say() {
        assert_eq!(DEFICIT_YUAN_MAX, dec!(1000000000000.00));
        assert_eq!(DEFICIT_YUAN_MAX.scale(), 2);
    }

    #[test]
    fn rejections_name_the_line() {
        fn check(input: MerchantDayInput, earlier_payments: Vec<EarlierPayment>, expected: &str) {
            let message = settle_merchant_day(new_year(), &input, &earlier_payments)
                .err()
                .map(|error| error.to_string())
                .unwrap_or_default();
            assert_eq!(message, expected);
        }
        check(
            day_input(vec![payment(1, dec!(1), DAY_END)], vec![]),
            vec![],
            "payment 00000000-0000-0000-0000-000000000001 at unix time 1704124800 \
             is not within business day 2024-01-01",
        );
        check(
            day_input(vec![payment(1, dec!(0.001), NOON)], vec![]),
            vec![],
            "payment 00000000-0000-0000-0000-000000000001: \
             invalid payment_amount 0.001: must not have more than two decimal places",
        );
        check(
            day_input(vec![payment(1, dec!(1), NOON)], vec![refund(11, 1, dec!(2), NOON)]),
            vec![],
            "refund 00000000-0000-0000-0000-00000000000b: \
             refund of 2 exceeds the 1.00 left to refund on the payment",
        );
    }
}
