//! T+1 merchant settlement: for a finished business day (cut at 00:00 Beijing time), each
//! merchant's payments − refunds − fees is paid out from its payable account to the bank.
//!
//! The rules (per-order fees rounded half-up to the fen, proportional fee return on refunds,
//! deficits carried forward) are `settlement::merchant`'s; this module selects the day's lines
//! from the projection, posts the outcome and records it. Each merchant's day is one linked group
//! whose ids derive from (merchant, day), so a day is settled at most once per merchant whatever
//! runs twice or concurrently.

use super::error::{from_rejection, ErrorClass, ServiceError};
use super::{ids, notes, Service};
use ledger::{Command, EntrySpec, PostingSpec, RejectionCode};
use rust_decimal::Decimal;
use settlement::business_day::{day_bounds_utc, BusinessDay};
use settlement::fees::{fee_for_payment, fee_to_return, FeeRate, PaymentRefundState};
use settlement::merchant::{settle_merchant_day, EarlierPayment, MerchantDayInput, PaymentLine, RefundLine};
use std::collections::BTreeMap;
use uuid::Uuid;

fn seconds(at: ledger::Timestamp) -> i64 {
    at.unix_micros().div_euclid(1_000_000)
}

fn internal(detail: impl Into<String>) -> ServiceError {
    ServiceError::new(ErrorClass::Internal, "internal_error", detail)
}

/// A merchant settlement batch: every merchant settled for one day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MerchantBatch {
    pub batch_id: Uuid,
    pub date: String,
    pub lines: Vec<notes::MerchantSettled>,
}

impl Service {
    /// Settles every merchant with activity (or a deficit to carry) on `day`, which must have
    /// ended. Settling a day again answers the same batch and posts nothing.
    pub async fn settle_merchants(&self, day: BusinessDay) -> Result<MerchantBatch, ServiceError> {
        let (day_start, day_end) = day_bounds_utc(day);
        if seconds(self.now()) < day_end {
            return Err(ServiceError::new(
                ErrorClass::Unprocessable,
                "day_not_ended",
                format!("{day} has not ended in Beijing time; merchants are settled T+1"),
            ));
        }
        let date = day.to_string();
        let plans = {
            let projection = self.projection.read();
            if let Some(later) = projection.merchant_settlements.keys().next_back().filter(|later| **later > date) {
                if !projection.merchant_settlements.contains_key(&date) {
                    return Err(ServiceError::new(
                        ErrorClass::Conflict,
                        "settlement_out_of_order",
                        format!("{later} is already settled; days settle in order, so {date} can no longer be"),
                    ));
                }
            }
            let settled_today = projection.merchant_settlements.get(&date);
            // Lines per merchant, chosen by the Beijing day of their commit time.
            let mut payments: BTreeMap<Uuid, Vec<PaymentLine>> = BTreeMap::new();
            for payment in projection.payments.values() {
                let at = seconds(payment.created_at);
                if day_start <= at && at < day_end {
                    payments.entry(payment.merchant_id).or_default().push(PaymentLine {
                        payment_id: payment.id,
                        amount: payment.amount,
                        at_unix_seconds: at,
                    });
                }
            }
            let mut refunds: BTreeMap<Uuid, Vec<RefundLine>> = BTreeMap::new();
            for refund in projection.refunds.values() {
                let at = seconds(refund.created_at);
                if day_start <= at && at < day_end {
                    refunds.entry(refund.merchant_id).or_default().push(RefundLine {
                        refund_id: refund.id,
                        payment_id: refund.payment_id,
                        amount: refund.amount,
                        at_unix_seconds: at,
                    });
                }
            }
            let mut plans = Vec::new();
            let mut merchant_ids: Vec<Uuid> = projection.merchants.keys().copied().collect();
            merchant_ids.sort();
            for merchant_id in merchant_ids {
                if settled_today.is_some_and(|settled| settled.contains_key(&merchant_id)) {
                    continue;
                }
                let Some(merchant) = projection.merchants.get(&merchant_id) else { continue };
                let deficit = projection
                    .merchant_settlements
                    .range(..date.clone())
                    .rev()
                    .find_map(|(_, merchants)| merchants.get(&merchant_id))
                    .map_or(Decimal::ZERO, |earlier| earlier.deficit_carried_forward);
                let day_payments = payments.remove(&merchant_id).unwrap_or_default();
                let day_refunds = refunds.remove(&merchant_id).unwrap_or_default();
                if day_payments.is_empty() && day_refunds.is_empty() && deficit.is_zero() {
                    continue;
                }
                let fee_rate = FeeRate::new(merchant.fee_rate).map_err(|error| internal(error.to_string()))?;
                // Refunds of payments from earlier days need the payment as it stood at the start
                // of the day: its fee, and what earlier refunds took and gave back.
                let mut earlier = Vec::new();
                for refund in &day_refunds {
                    let Some(payment) = projection.payments.get(&refund.payment_id) else { continue };
                    let paid_at = seconds(payment.created_at);
                    if paid_at >= day_start || earlier.iter().any(|e: &EarlierPayment| e.payment_id == payment.id) {
                        continue;
                    }
                    let fee = fee_for_payment(payment.amount, fee_rate).map_err(|error| internal(error.to_string()))?;
                    let mut state = PaymentRefundState::unrefunded(payment.amount, fee);
                    let mut before: Vec<&crate::service::model::Refund> = payment
                        .refunds
                        .iter()
                        .filter_map(|id| projection.refunds.get(id))
                        .filter(|earlier_refund| seconds(earlier_refund.created_at) < day_start)
                        .collect();
                    before.sort_by_key(|earlier_refund| (earlier_refund.created_at, earlier_refund.id));
                    for earlier_refund in before {
                        let returned = fee_to_return(&state, earlier_refund.amount)
                            .map_err(|error| internal(error.to_string()))?;
                        state.refunded_before += earlier_refund.amount;
                        state.fee_returned_before += returned;
                    }
                    earlier.push(EarlierPayment {
                        payment_id: payment.id,
                        paid_at_unix_seconds: paid_at,
                        state_at_day_start: state,
                    });
                }
                let input = MerchantDayInput { merchant_id, fee_rate, payments: day_payments, refunds: day_refunds };
                let line = settle_merchant_day(day, &input, &earlier).map_err(|error| internal(error.to_string()))?;
                let payout = line.payout(deficit).map_err(|error| internal(error.to_string()))?;
                plans.push((
                    merchant.payable,
                    notes::MerchantSettled {
                        merchant_id,
                        merchant_name: merchant.name.clone(),
                        date: date.clone(),
                        fee_rate: merchant.fee_rate,
                        payments: line.payments().len() as u64,
                        refunds: line.refunds().len() as u64,
                        gross: line.gross(),
                        refunded: line.refunded(),
                        fees_charged: line.fees_charged(),
                        fees_returned: line.fees_returned(),
                        net: line.net(),
                        deficit_brought_forward: deficit,
                        payout: payout.payout(),
                        deficit_carried_forward: payout.deficit_carried_forward(),
                    },
                ));
            }
            plans
        };
        let batch_id = ids::merchant_settlement_batch(&date);
        let mut commands = Vec::with_capacity(plans.len());
        for (payable, settled) in plans {
            let operation = ids::merchant_settlement(settled.merchant_id, &date);
            let mut group = vec![Command::Note {
                id: ids::note_for(operation, "settled"),
                kind: notes::MERCHANT_SETTLED.into(),
                payload: notes::encode(&settled),
            }];
            let fee = settled.fees_charged - settled.fees_returned;
            if !fee.is_zero() {
                let (debit, credit) = if fee > Decimal::ZERO {
                    (payable, ids::merchant_fee_revenue_account())
                } else {
                    (ids::merchant_fee_revenue_account(), payable)
                };
                group.push(Command::Post(EntrySpec {
                    id: ids::entry_for(operation, "fees"),
                    category: "merchant_fee".into(),
                    memo: format!("fees {date}"),
                    postings: vec![PostingSpec::debit(debit, fee.abs()), PostingSpec::credit(credit, fee.abs())],
                    hold: None,
                }));
            }
            if settled.payout > Decimal::ZERO {
                group.push(Command::Post(EntrySpec {
                    id: ids::entry_for(operation, "payout"),
                    category: "merchant_payout".into(),
                    memo: format!("T+1 payout {date}"),
                    postings: vec![
                        PostingSpec::debit(payable, settled.payout),
                        PostingSpec::credit(ids::settlement_bank_account(), settled.payout),
                    ],
                    hold: None,
                }));
            }
            commands.push(Command::Linked(group));
        }
        // The batch note marks the day settled even when no merchant had anything to settle, so
        // days keep their order and a settled day reads back.
        commands.push(Command::Note {
            id: ids::note_for(batch_id, "settled"),
            kind: notes::MERCHANT_BATCH_SETTLED.into(),
            payload: notes::encode(&notes::MerchantBatchSettled { batch_id, date: date.clone() }),
        });
        for result in self.submit_in_batches(commands).await? {
            match result {
                Ok(_) => {}
                // Settled concurrently by another run: the first run's line stands.
                Err(rejection) if rejection.code == RejectionCode::IdConflict => {}
                Err(rejection) => return Err(from_rejection(&rejection)),
            }
        }
        let lines = self.merchant_settlement_lines(&date, None);
        Ok(MerchantBatch { batch_id, date, lines })
    }

    /// The settled lines of a day, every merchant's (staff) or one merchant's.
    pub fn merchant_settlement_lines(&self, date: &str, merchant: Option<Uuid>) -> Vec<notes::MerchantSettled> {
        let projection = self.projection.read();
        let Some(merchants) = projection.merchant_settlements.get(date) else { return Vec::new() };
        merchants.values().filter(|line| merchant.is_none_or(|only| line.merchant_id == only)).cloned().collect()
    }

    /// The batch of a settled day (`None` if the day was never settled).
    pub fn merchant_batch(&self, day: BusinessDay, merchant: Option<Uuid>) -> Option<MerchantBatch> {
        let date = day.to_string();
        if !self.projection.read().merchant_settlements.contains_key(&date) {
            return None;
        }
        let lines = self.merchant_settlement_lines(&date, merchant);
        Some(MerchantBatch { batch_id: ids::merchant_settlement_batch(&date), date, lines })
    }
}

/// The CSV report of a merchant batch: a header, one row per merchant and a totals row. Amounts are
/// exact decimal strings with two decimals.
pub fn merchant_batch_csv(batch: &MerchantBatch) -> String {
    let mut csv = String::from(
        "date,merchant_id,merchant_name,fee_rate,payments,refunds,gross,refunded,fees_charged,fees_returned,net,\
         deficit_brought_forward,payout,deficit_carried_forward\n",
    );
    let quote = |text: &str| format!("\"{}\"", text.replace('"', "\"\""));
    let mut totals = [Decimal::ZERO; 8];
    let (mut payments, mut refunds) = (0u64, 0u64);
    for line in &batch.lines {
        let amounts = [
            line.gross,
            line.refunded,
            line.fees_charged,
            line.fees_returned,
            line.net,
            line.deficit_brought_forward,
            line.payout,
            line.deficit_carried_forward,
        ];
        for (total, amount) in totals.iter_mut().zip(amounts) {
            *total += amount;
        }
        payments += line.payments;
        refunds += line.refunds;
        let amounts: Vec<String> = amounts.iter().map(|amount| super::cny(*amount)).collect();
        csv.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            batch.date,
            line.merchant_id,
            quote(&line.merchant_name),
            line.fee_rate,
            line.payments,
            line.refunds,
            amounts.join(",")
        ));
    }
    let totals: Vec<String> = totals.iter().map(|amount| super::cny(*amount)).collect();
    csv.push_str(&format!("{},TOTAL,,,{payments},{refunds},{}\n", batch.date, totals.join(",")));
    csv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csv_report_quotes_names_and_adds_a_totals_row() {
        let line = |name: &str, gross: i64, payout: i64| notes::MerchantSettled {
            merchant_id: Uuid::from_u128(1),
            merchant_name: name.into(),
            date: "2026-03-01".into(),
            fee_rate: Decimal::new(6, 3),
            payments: 2,
            refunds: 0,
            gross: Decimal::new(gross, 2),
            refunded: Decimal::ZERO,
            fees_charged: Decimal::new(gross - payout, 2),
            fees_returned: Decimal::ZERO,
            net: Decimal::new(payout, 2),
            deficit_brought_forward: Decimal::ZERO,
            payout: Decimal::new(payout, 2),
            deficit_carried_forward: Decimal::ZERO,
        };
        let batch = MerchantBatch {
            batch_id: Uuid::from_u128(9),
            date: "2026-03-01".into(),
            lines: vec![line("Shop \"A\", Ltd", 10000, 9940), line("B", 990, 984)],
        };
        let csv = merchant_batch_csv(&batch);
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(rows.len(), 4);
        assert!(rows[1].contains("\"Shop \"\"A\"\", Ltd\",0.006,2,0,100.00,0.00,0.60,0.00,99.40"), "{}", rows[1]);
        assert_eq!(rows[3], "2026-03-01,TOTAL,,,4,0,109.90,0.00,0.66,0.00,109.24,0.00,109.24,0.00");
    }
}
