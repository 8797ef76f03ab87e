//! Properties of the fee rules and of the merchant day, checked against exact integer models.
//!
//! The models count in fen with `i128`, where half-up rounding of `n / d` is
//! `(2n + d) div 2d`: no decimal library, no rounding mode, nothing shared with the code under test.

// The whole file is test code, but clippy's `allow-expect-in-tests` covers only `#[test]` functions,
// not the helpers beside them.
#![allow(clippy::expect_used)]

use proptest::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use settlement::business_day::{business_day_of, day_bounds_utc, BusinessDay, SECONDS_PER_DAY};
use settlement::fees::{fee_for_payment, fee_to_return, FeeRate, PaymentRefundState};
use settlement::merchant::{settle_merchant_day, EarlierPayment, MerchantDayInput, PaymentLine, RefundLine};
use uuid::Uuid;

/// A fee rate in millionths: `6_000` is 0.6 %.
type RateMillionths = i64;

fn yuan(fen: i64) -> Decimal {
    Decimal::new(fen, 2)
}

fn to_fen(amount: Decimal) -> i128 {
    (amount * Decimal::ONE_HUNDRED).to_i128().expect("amounts in these tests are whole fen")
}

fn fee_rate(rate_millionths: RateMillionths) -> FeeRate {
    FeeRate::new(Decimal::new(rate_millionths, 6)).expect("rates in these tests are valid")
}

/// Half-up of `numerator / denominator` for non-negative numerator and positive denominator.
fn divide_half_up(numerator: i128, denominator: i128) -> i128 {
    (2 * numerator + denominator) / (2 * denominator)
}

/// The fee on `amount_fen` at the rate, in fen.
fn reference_fee_fen(amount_fen: i64, rate_millionths: RateMillionths) -> i128 {
    divide_half_up(i128::from(amount_fen) * i128::from(rate_millionths), 1_000_000)
}

/// The fee given back in all once `refunded_fen` of `amount_fen` is refunded, in fen.
fn reference_fee_returned_fen(fee_fen: i128, refunded_fen: i128, amount_fen: i128) -> i128 {
    divide_half_up(fee_fen * refunded_fen, amount_fen)
}

/// Splits `total` into consecutive parts at the cut points `cut_seeds` pick (none: one part).
fn split(total: i64, cut_seeds: &[u64]) -> Vec<i64> {
    let mut cuts: Vec<i64> = if total > 1 {
        cut_seeds.iter().map(|seed| 1 + (seed % (total as u64 - 1)) as i64).collect()
    } else {
        Vec::new()
    };
    cuts.push(total);
    cuts.sort_unstable();
    cuts.dedup();
    let mut previous = 0;
    cuts.into_iter()
        .map(|cut| {
            let part = cut - previous;
            previous = cut;
            part
        })
        .collect()
}

/// Payment amounts in fen: small ones, where rounding bites; ones whose fee at 0.6 % or 0.2 % is
/// exactly half a fen (2.50, 7.50, …), where half-up and banker's rounding part; any up to the maximum.
fn amount_fen() -> impl Strategy<Value = i64> {
    prop_oneof![1_i64..=2_000, (0_i64..2_000).prop_map(|index| 250 + 500 * index), 1_i64..=1_000_000_000,]
}

/// Fee rates: the common ones and any up to the maximum of 30 %.
fn rate_millionths() -> impl Strategy<Value = RateMillionths> {
    prop_oneof![Just(6_000_i64), Just(3_800), Just(2_000), 0_i64..=300_000]
}

proptest! {
    #[test]
    fn fee_for_payment_is_the_half_up_fee(amount_fen in amount_fen(), rate in rate_millionths()) {
        fee_is_the_half_up_fee(amount_fen, rate)?;
    }

    /// A full refund in any number of parts gives back exactly the fee; along the way the total
    /// given back never exceeds it, no step is negative, and each total is the half-up share.
    #[test]
    fn full_refund_in_any_split_returns_exactly_the_fee(
        amount_fen in amount_fen(),
        rate in rate_millionths(),
        cut_seeds in prop::collection::vec(any::<u64>(), 0..25),
    ) {
        full_refund_returns_exactly_the_fee(amount_fen, rate, &cut_seeds)?;
    }

    /// Whatever the history (within its bounds, even one from another rounding rule), a refund
    /// never gives back a negative fee or more than is left of it, and the last one settles it.
    #[test]
    fn any_history_stays_within_the_fee(
        amount_fen in amount_fen(),
        rate in rate_millionths(),
        seeds in any::<[u64; 3]>(),
    ) {
        history_stays_within_the_fee(amount_fen, rate, seeds)?;
    }

    /// For any valid day: the totals are the sums of the detail lines, gross and fees charged match
    /// the models, no refund gives back a negative fee or more than its payment's fee in all, and
    /// `net = gross − refunded − fees_charged + fees_returned`.
    #[test]
    fn merchant_day_totals_and_net_identity(
        rate in rate_millionths(),
        payment_plans in prop::collection::vec(payment_plan(), 0..12),
        earlier_plans in prop::collection::vec(earlier_plan(), 0..6),
        days_after_2000 in 0_i64..20_000,
    ) {
        merchant_day_adds_up(rate, &payment_plans, &earlier_plans, days_after_2000)?;
    }

    /// A payment fully refunded in parts over several days: the state each day reports carries into
    /// the next, the fee comes back exactly, the days' nets add up to zero, and the payouts with
    /// their carried deficit account for every fen.
    #[test]
    fn payment_refunded_over_several_days_nets_to_zero(
        amount_fen in amount_fen(),
        rate in rate_millionths(),
        cut_seeds in prop::collection::vec(any::<u64>(), 0..10),
        day_seeds in prop::collection::vec(0_i64..SEVERAL_DAYS, 10),
    ) {
        refunds_over_several_days_net_to_zero(amount_fen, rate, &cut_seeds, &day_seeds)?;
    }
}

fn fee_is_the_half_up_fee(amount_fen: i64, rate: RateMillionths) -> Result<(), TestCaseError> {
    let fee = fee_for_payment(yuan(amount_fen), fee_rate(rate)).expect("valid payment");
    prop_assert_eq!(to_fen(fee), reference_fee_fen(amount_fen, rate));
    prop_assert_eq!(fee.scale(), 2);
    Ok(())
}

fn full_refund_returns_exactly_the_fee(
    amount_fen: i64,
    rate: RateMillionths,
    cut_seeds: &[u64],
) -> Result<(), TestCaseError> {
    let fee = fee_for_payment(yuan(amount_fen), fee_rate(rate)).expect("valid payment");
    let mut state = PaymentRefundState::unrefunded(yuan(amount_fen), fee);
    for part_fen in split(amount_fen, cut_seeds) {
        let returned_now = fee_to_return(&state, yuan(part_fen)).expect("valid refund");
        prop_assert!(returned_now >= Decimal::ZERO);
        state.refunded_before += yuan(part_fen);
        state.fee_returned_before += returned_now;
        prop_assert!(state.fee_returned_before <= fee);
        prop_assert_eq!(
            to_fen(state.fee_returned_before),
            reference_fee_returned_fen(to_fen(fee), to_fen(state.refunded_before), i128::from(amount_fen))
        );
    }
    prop_assert_eq!(state.refunded_before, yuan(amount_fen));
    prop_assert_eq!(state.fee_returned_before, fee);
    Ok(())
}

fn history_stays_within_the_fee(
    amount_fen: i64,
    rate: RateMillionths,
    [refunded_seed, returned_seed, refund_seed]: [u64; 3],
) -> Result<(), TestCaseError> {
    let fee = fee_for_payment(yuan(amount_fen), fee_rate(rate)).expect("valid payment");
    let fee_fen = to_fen(fee) as i64;
    // Anything refunded before, leaving at least a fen; any fee returned before, up to all of it.
    let refunded_before_fen = (refunded_seed % amount_fen as u64) as i64;
    let fee_returned_before_fen = (returned_seed % (fee_fen as u64 + 1)) as i64;
    let refundable_fen = amount_fen - refunded_before_fen;
    let refund_fen = 1 + (refund_seed % refundable_fen as u64) as i64;
    let state = PaymentRefundState {
        payment_amount: yuan(amount_fen),
        payment_fee: fee,
        refunded_before: yuan(refunded_before_fen),
        fee_returned_before: yuan(fee_returned_before_fen),
    };
    let returned_now = fee_to_return(&state, yuan(refund_fen)).expect("valid refund");
    prop_assert!(returned_now >= Decimal::ZERO);
    prop_assert!(yuan(fee_returned_before_fen) + returned_now <= fee);
    if refund_fen == refundable_fen {
        prop_assert_eq!(yuan(fee_returned_before_fen) + returned_now, fee);
    }
    let too_much = fee_to_return(&state, yuan(refundable_fen + 1)).map_err(|error| error.code());
    prop_assert_eq!(too_much, Err("refund_exceeds_payment"));
    Ok(())
}

/// One of the day's payments with the refunds it gets the same day: amount, seconds into the day,
/// and seeds for the refunds' cut points and times.
type PaymentPlan = (i64, i64, Vec<u64>, Vec<i64>);

/// A payment from before the day: amount, seed for what was refunded before, seeds for today's.
type EarlierPlan = (i64, u64, Vec<u64>);

fn payment_plan() -> impl Strategy<Value = PaymentPlan> {
    (
        amount_fen(),
        0..SECONDS_PER_DAY,
        prop::collection::vec(any::<u64>(), 0..4),
        prop::collection::vec(0..SECONDS_PER_DAY, 4),
    )
}

fn earlier_plan() -> impl Strategy<Value = EarlierPlan> {
    (amount_fen(), any::<u64>(), prop::collection::vec(any::<u64>(), 1..4))
}

/// Refund amounts in fen from cut points in `1..=total`: a prefix of `total`, sometimes all of it.
fn refund_parts(total: i64, cut_seeds: &[u64]) -> Vec<i64> {
    let mut cuts: Vec<i64> = cut_seeds.iter().map(|seed| 1 + (seed % total as u64) as i64).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut previous = 0;
    cuts.into_iter()
        .map(|cut| {
            let part = cut - previous;
            previous = cut;
            part
        })
        .collect()
}

fn merchant_day_adds_up(
    rate: RateMillionths,
    payment_plans: &[PaymentPlan],
    earlier_plans: &[EarlierPlan],
    days_after_2000: i64,
) -> Result<(), TestCaseError> {
    let first_of_2000 = day_bounds_utc(BusinessDay::new(2000, 1, 1).expect("valid day")).0;
    let day = business_day_of(first_of_2000 + days_after_2000 * SECONDS_PER_DAY).expect("in range");
    let (day_start, day_end) = day_bounds_utc(day);
    let mut next_id = 0_u128;
    let mut new_id = || {
        next_id += 1;
        Uuid::from_u128(next_id)
    };

    let mut payments = Vec::new();
    let mut refunds = Vec::new();
    let mut expected_fees_charged_fen = 0_i128;
    for (amount_fen, seconds_into_day, cut_seeds, refund_seconds) in payment_plans {
        let payment_id = new_id();
        let paid_at = day_start + seconds_into_day;
        payments.push(PaymentLine { payment_id, amount: yuan(*amount_fen), at_unix_seconds: paid_at });
        expected_fees_charged_fen += reference_fee_fen(*amount_fen, rate);
        let parts = refund_parts(*amount_fen, cut_seeds);
        for (part_fen, refund_second) in parts.into_iter().zip(refund_seconds) {
            refunds.push(RefundLine {
                refund_id: new_id(),
                payment_id,
                amount: yuan(part_fen),
                // Between the payment and the end of the day.
                at_unix_seconds: paid_at + refund_second % (day_end - paid_at),
            });
        }
    }
    let mut earlier_payments = Vec::new();
    for (amount_fen, refunded_seed, cut_seeds) in earlier_plans {
        let payment_id = new_id();
        // Charged back then at another rate than today's.
        let fee_fen = reference_fee_fen(*amount_fen, 3_800);
        let refunded_before_fen = (refunded_seed % *amount_fen as u64) as i64;
        let fee_returned_before_fen =
            reference_fee_returned_fen(fee_fen, i128::from(refunded_before_fen), i128::from(*amount_fen));
        earlier_payments.push(EarlierPayment {
            payment_id,
            paid_at_unix_seconds: day_start - 1,
            state_at_day_start: PaymentRefundState {
                payment_amount: yuan(*amount_fen),
                payment_fee: Decimal::from_i128_with_scale(fee_fen, 2),
                refunded_before: yuan(refunded_before_fen),
                fee_returned_before: Decimal::from_i128_with_scale(fee_returned_before_fen, 2),
            },
        });
        let parts = refund_parts(*amount_fen - refunded_before_fen, cut_seeds);
        for (index, part_fen) in parts.into_iter().enumerate() {
            refunds.push(RefundLine {
                refund_id: new_id(),
                payment_id,
                amount: yuan(part_fen),
                at_unix_seconds: day_start + (index as i64 * 3_607) % SECONDS_PER_DAY,
            });
        }
    }
    // Refunds arrive in no particular order.
    refunds.reverse();
    let input = MerchantDayInput { merchant_id: new_id(), fee_rate: fee_rate(rate), payments, refunds };

    let line = settle_merchant_day(day, &input, &earlier_payments).expect("valid day");

    let gross: Decimal = input.payments.iter().map(|payment| payment.amount).sum();
    let refunded: Decimal = input.refunds.iter().map(|refund| refund.amount).sum();
    let fees_charged: Decimal = line.payments().iter().map(|payment| payment.fee).sum();
    let fees_returned: Decimal = line.refunds().iter().map(|refund| refund.fee_returned).sum();
    prop_assert_eq!(line.gross(), gross);
    prop_assert_eq!(line.refunded(), refunded);
    prop_assert_eq!(to_fen(line.fees_charged()), expected_fees_charged_fen);
    prop_assert_eq!(line.fees_charged(), fees_charged);
    prop_assert_eq!(line.fees_returned(), fees_returned);
    prop_assert_eq!(line.net(), line.gross() - line.refunded() - line.fees_charged() + line.fees_returned());
    prop_assert_eq!(line.refunds().len(), input.refunds.len());
    let mut previous_time = i64::MIN;
    for refund in line.refunds() {
        let after = refund.payment_state_after;
        prop_assert!(refund.fee_returned >= Decimal::ZERO);
        prop_assert!(after.fee_returned_before <= after.payment_fee);
        prop_assert!(after.refunded_before <= after.payment_amount);
        // Built from consistent history, every running total is the model's.
        prop_assert_eq!(
            to_fen(after.fee_returned_before),
            reference_fee_returned_fen(
                to_fen(after.payment_fee),
                to_fen(after.refunded_before),
                to_fen(after.payment_amount)
            )
        );
        // Applied in time order.
        let time = input
            .refunds
            .iter()
            .find(|line| line.refund_id == refund.refund_id)
            .map(|line| line.at_unix_seconds)
            .expect("every reported refund was given");
        prop_assert!(previous_time <= time);
        previous_time = time;
    }
    Ok(())
}

/// Days over which [`refunds_over_several_days_net_to_zero`] spreads a payment's refunds.
const SEVERAL_DAYS: i64 = 5;

fn refunds_over_several_days_net_to_zero(
    amount_fen: i64,
    rate: RateMillionths,
    cut_seeds: &[u64],
    day_seeds: &[i64],
) -> Result<(), TestCaseError> {
    let first_day = BusinessDay::new(2024, 2, 27).expect("valid day"); // across a leap day
    let first_day_start = day_bounds_utc(first_day).0;
    let payment_id = Uuid::from_u128(1);
    let paid_at = first_day_start + 3_600;
    let parts = split(amount_fen, cut_seeds);
    // Which day each part is refunded on: 0 is the payment's own day.
    let mut days_of_parts: Vec<i64> = day_seeds.iter().take(parts.len()).copied().collect();
    days_of_parts.sort_unstable();

    let mut earlier: Option<EarlierPayment> = None;
    let (mut fees_charged, mut fees_returned) = (Decimal::ZERO, Decimal::ZERO);
    let (mut net_total, mut paid_out, mut deficit) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for day_index in 0..SEVERAL_DAYS {
        let day = business_day_of(first_day_start + day_index * SECONDS_PER_DAY).expect("in range");
        let (day_start, _) = day_bounds_utc(day);
        let payments = if day_index == 0 {
            vec![PaymentLine { payment_id, amount: yuan(amount_fen), at_unix_seconds: paid_at }]
        } else {
            Vec::new()
        };
        let refunds: Vec<RefundLine> = parts
            .iter()
            .zip(&days_of_parts)
            .enumerate()
            .filter(|(_, (_, part_day))| **part_day == day_index)
            .map(|(index, (part_fen, _))| RefundLine {
                refund_id: Uuid::from_u128(100 + index as u128),
                payment_id,
                amount: yuan(*part_fen),
                at_unix_seconds: day_start.max(paid_at) + index as i64,
            })
            .collect();
        let input = MerchantDayInput { merchant_id: Uuid::from_u128(9), fee_rate: fee_rate(rate), payments, refunds };
        let earlier_payments: Vec<EarlierPayment> = earlier.iter().cloned().collect();
        let line = settle_merchant_day(day, &input, &earlier_payments).expect("valid day");

        // Carry the payment into the next day as the day left it.
        let state_after_day = line
            .refunds()
            .last()
            .map(|refund| refund.payment_state_after)
            .or_else(|| {
                line.payments().first().map(|payment| PaymentRefundState::unrefunded(payment.amount, payment.fee))
            })
            .or_else(|| earlier.as_ref().map(|payment| payment.state_at_day_start))
            .expect("the payment is known from the first day on");
        earlier =
            Some(EarlierPayment { payment_id, paid_at_unix_seconds: paid_at, state_at_day_start: state_after_day });

        fees_charged += line.fees_charged();
        fees_returned += line.fees_returned();
        net_total += line.net();
        let payout = line.payout(deficit).expect("valid deficit");
        prop_assert!(payout.payout() >= Decimal::ZERO);
        prop_assert!(payout.deficit_carried_forward() >= Decimal::ZERO);
        prop_assert_eq!(payout.payout() - payout.deficit_carried_forward(), line.net() - deficit);
        paid_out += payout.payout();
        deficit = payout.deficit_carried_forward();
    }
    prop_assert_eq!(to_fen(fees_charged), reference_fee_fen(amount_fen, rate));
    prop_assert_eq!(fees_returned, fees_charged);
    prop_assert_eq!(net_total, Decimal::ZERO);
    prop_assert_eq!(paid_out - deficit, net_total);
    Ok(())
}
