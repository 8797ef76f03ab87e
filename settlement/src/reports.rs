//! CSV reports finance downloads: a technician payout batch and the merchants' T+1 settlement.
//!
//! Header row, one row per line, then a totals row whose first column is `total`. Amounts are the
//! exact decimal strings with two places (`170.00`), never a float's rendering. Every field is an
//! id, a date or a decimal, none of which can hold a comma, quote or line break, so no field needs
//! quoting.

use std::fmt::Write as _;

use rust_decimal::Decimal;

use crate::merchant::SettlementLine;
use crate::money::with_fen_scale;
use crate::payout::PayoutBatch;

/// The payout batch report's header.
pub const PAYOUT_BATCH_CSV_HEADER: &str =
    "technician_id,batch_id,period_from,period_to,orders,gross,refunds,commission,clawbacks,net";

/// The merchant settlement report's header.
pub const MERCHANT_SETTLEMENT_CSV_HEADER: &str =
    "merchant_id,day,fee_rate,payments,refunds,gross,refunded,fees_charged,fees_returned,net";

/// A payout batch as CSV: one row per technician, then the totals.
#[must_use]
pub fn payout_batch_csv(batch: &PayoutBatch) -> String {
    let mut csv = String::new();
    let (from, to) = (batch.period.from, batch.period.to);
    // Writing to a String cannot fail.
    let _ = writeln!(csv, "{PAYOUT_BATCH_CSV_HEADER}");
    for line in &batch.lines {
        let _ = writeln!(
            csv,
            "{},{},{from},{to},{},{},{},{},{},{}",
            line.technician_id,
            batch.batch_id,
            line.orders.len(),
            line.gross,
            line.refunds,
            line.commission,
            line.clawbacks,
            line.net
        );
    }
    let totals = &batch.totals;
    let _ = writeln!(
        csv,
        "total,{},{from},{to},{},{},{},{},{},{}",
        batch.batch_id, totals.orders, totals.gross, totals.refunds, totals.commission, totals.clawbacks, totals.net
    );
    csv
}

/// Merchant settlement lines (a day's batch) as CSV: one row per merchant day, then the totals.
#[must_use]
pub fn merchant_settlement_csv(lines: &[SettlementLine]) -> String {
    let mut csv = String::new();
    let _ = writeln!(csv, "{MERCHANT_SETTLEMENT_CSV_HEADER}");
    for line in lines {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{}",
            line.merchant_id(),
            line.day(),
            line.fee_rate().as_decimal(),
            line.payments().len(),
            line.refunds().len(),
            line.gross(),
            line.refunded(),
            line.fees_charged(),
            line.fees_returned(),
            line.net()
        );
    }
    let sum = |field: fn(&SettlementLine) -> Decimal| with_fen_scale(lines.iter().map(field).sum());
    let _ = writeln!(
        csv,
        "total,,,{},{},{},{},{},{},{}",
        lines.iter().map(|line| line.payments().len()).sum::<usize>(),
        lines.iter().map(|line| line.refunds().len()).sum::<usize>(),
        sum(SettlementLine::gross),
        sum(SettlementLine::refunded),
        sum(SettlementLine::fees_charged),
        sum(SettlementLine::fees_returned),
        sum(SettlementLine::net)
    );
    csv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::business_day::{day_bounds_utc, BusinessDay};
    use crate::fees::FeeRate;
    use crate::merchant::{settle_merchant_day, MerchantDayInput, PaymentLine, RefundLine};
    use crate::payout::{compute_payout_batch, PayoutOrderLine, PayoutPeriod};
    use rust_decimal_macros::dec;
    use std::collections::HashSet;
    use uuid::Uuid;

    #[test]
    fn payout_batch_report() {
        let day = BusinessDay::parse("2025-03-01").expect("valid");
        let period = PayoutPeriod { from: day, to: day };
        let orders = [
            PayoutOrderLine {
                order_id: Uuid::from_u128(1),
                technician_id: Uuid::from_u128(7),
                price: dec!(200),
                refunded: dec!(0),
                commission: dec!(30),
                technician_share: dec!(170),
                held_for_review: false,
            },
            PayoutOrderLine {
                order_id: Uuid::from_u128(2),
                technician_id: Uuid::from_u128(8),
                price: dec!(99.9),
                refunded: dec!(0),
                commission: dec!(14.99),
                technician_share: dec!(84.91),
                held_for_review: false,
            },
        ];
        let batch = compute_payout_batch(period, &orders, &[], &HashSet::new()).expect("valid");
        let id = batch.batch_id;
        let expected = format!(
            "{PAYOUT_BATCH_CSV_HEADER}\n\
             00000000-0000-0000-0000-000000000007,{id},2025-03-01,2025-03-01,1,200.00,0.00,30.00,0.00,170.00\n\
             00000000-0000-0000-0000-000000000008,{id},2025-03-01,2025-03-01,1,99.90,0.00,14.99,0.00,84.91\n\
             total,{id},2025-03-01,2025-03-01,2,299.90,0.00,44.99,0.00,254.91\n"
        );
        assert_eq!(payout_batch_csv(&batch), expected);
    }

    #[test]
    fn merchant_settlement_report() {
        let day = BusinessDay::parse("2024-01-01").expect("valid");
        let (start, _) = day_bounds_utc(day);
        let input = MerchantDayInput {
            merchant_id: Uuid::from_u128(3),
            fee_rate: FeeRate::new(dec!(0.006)).expect("valid"),
            payments: vec![PaymentLine { payment_id: Uuid::from_u128(1), amount: dec!(9.90), at_unix_seconds: start }],
            refunds: vec![RefundLine {
                refund_id: Uuid::from_u128(2),
                payment_id: Uuid::from_u128(1),
                amount: dec!(3.30),
                at_unix_seconds: start + 60,
            }],
        };
        let line = settle_merchant_day(day, &input, &[]).expect("valid");
        let expected = format!(
            "{MERCHANT_SETTLEMENT_CSV_HEADER}\n\
             00000000-0000-0000-0000-000000000003,2024-01-01,0.006,1,1,9.90,3.30,0.06,0.02,6.56\n\
             total,,,1,1,9.90,3.30,0.06,0.02,6.56\n"
        );
        assert_eq!(merchant_settlement_csv(&[line]), expected);
        assert_eq!(
            merchant_settlement_csv(&[]),
            format!("{MERCHANT_SETTLEMENT_CSV_HEADER}\ntotal,,,0,0,0.00,0.00,0.00,0.00,0.00\n")
        );
    }
}
