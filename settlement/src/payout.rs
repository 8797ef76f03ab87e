//! Technician payout batches: who is paid what for a period, computed so a rerun pays nothing twice.
//!
//! The caller passes the settled, unpaid order lines of the period, the clawbacks owed by
//! technicians (the technician's part of refunds after earlier payouts,
//! [`crate::rating_settlement::reverse_after_payout`]) and the ids already paid in earlier batches.
//! Per technician:
//!
//! ```text
//! net = gross − refunds − commission − clawbacks      (gross − refunds − commission = Σ shares)
//! ```
//!
//! * An order or clawback whose id is in `already_paid` is skipped and listed, so running the same
//!   batch twice, or a batch that overlaps an earlier one, pays nothing twice. The batch lists the
//!   ids it includes for the caller to record with it.
//! * An order held for review (technician below the review floor) is left out and listed.
//! * A clawback is taken only while the technician's net stays at or above zero; the rest wait for a
//!   later batch (listed as deferred). A payout is never negative, and no clawback is lost.
//!
//! The batch id is a UUIDv5 of the period ([`payout_batch_id`]): the same period is the same batch,
//! which the ledger's idempotent entry ids turn into "posted once".

use std::collections::{BTreeMap, HashSet};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::business_day::BusinessDay;
use crate::money::{check_non_negative_amount, check_positive_amount, with_fen_scale, AmountProblem};

/// Namespace of payout batch ids (a fixed random UUID: changing it would change every batch id).
pub const PAYOUT_BATCH_NAMESPACE: Uuid = Uuid::from_u128(0x6f0b_6c1e_2a4d_4f7e_9c51_0d3b_8e22_a7c4);

/// Most order lines and most clawbacks one batch takes; a larger period is split by the caller.
pub const PAYOUT_LINES_MAX: usize = 1_000_000;

/// The days a payout batch covers, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PayoutPeriod {
    /// First day.
    pub from: BusinessDay,
    /// Last day (at or after `from`).
    pub to: BusinessDay,
}

/// The id of the payout batch of `period`: UUIDv5 of `technician-payout|FROM|TO`.
#[must_use]
pub fn payout_batch_id(period: PayoutPeriod) -> Uuid {
    Uuid::new_v5(&PAYOUT_BATCH_NAMESPACE, format!("technician-payout|{}|{}", period.from, period.to).as_bytes())
}

/// A settled order waiting for its payout. `refunded + commission + technician_share = price`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutOrderLine {
    /// The order.
    pub order_id: Uuid,
    /// Its technician.
    pub technician_id: Uuid,
    /// The quoted price the customer paid into escrow.
    pub price: Decimal,
    /// Refunded to the customer before the payout (a dispute's partial refund).
    pub refunded: Decimal,
    /// The platform's commission.
    pub commission: Decimal,
    /// The technician's share.
    pub technician_share: Decimal,
    /// Whether the technician was below the review floor when the order settled.
    pub held_for_review: bool,
}

/// The technician's part of a refund after an earlier payout, to take back from a later one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutClawback {
    /// The reversal's id (one per refund after payout).
    pub reversal_id: Uuid,
    /// The order refunded.
    pub order_id: Uuid,
    /// The technician who owes it.
    pub technician_id: Uuid,
    /// Owed: the reversal's `from_technician`.
    pub amount: Decimal,
}

/// One technician's line in a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TechnicianPayoutLine {
    /// The technician.
    pub technician_id: Uuid,
    /// The orders paid, by id.
    pub orders: Vec<Uuid>,
    /// The clawbacks taken, by reversal id.
    pub clawbacks_taken: Vec<Uuid>,
    /// Sum of the orders' prices.
    pub gross: Decimal,
    /// Sum of what was refunded to customers before the payout.
    pub refunds: Decimal,
    /// Sum of the commission.
    pub commission: Decimal,
    /// Sum of the clawbacks taken.
    pub clawbacks: Decimal,
    /// To pay: `gross − refunds − commission − clawbacks`, never negative.
    pub net: Decimal,
}

/// The sums over a batch's lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutTotals {
    /// Technicians paid.
    pub technicians: usize,
    /// Orders paid.
    pub orders: usize,
    /// Sum of the lines' gross.
    pub gross: Decimal,
    /// Sum of the lines' refunds.
    pub refunds: Decimal,
    /// Sum of the lines' commission.
    pub commission: Decimal,
    /// Sum of the lines' clawbacks.
    pub clawbacks: Decimal,
    /// Sum of the lines' net: the batch's payout.
    pub net: Decimal,
}

/// A payout batch. Built only by [`compute_payout_batch`].
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutBatch {
    /// [`payout_batch_id`] of the period.
    pub batch_id: Uuid,
    /// The period.
    pub period: PayoutPeriod,
    /// One line per technician with something to pay, by technician id.
    pub lines: Vec<TechnicianPayoutLine>,
    /// Their sums.
    pub totals: PayoutTotals,
    /// Orders left out because they are held for review, by id.
    pub held_for_review: Vec<Uuid>,
    /// Orders and clawbacks left out because an earlier batch already has them, by id.
    pub already_paid: Vec<Uuid>,
    /// Clawbacks left for a later batch because this one's net could not cover them, by id.
    pub deferred_clawbacks: Vec<Uuid>,
}

/// Computes the payout batch of `period`. Pure: the same inputs give the same batch.
///
/// Rejections, first found first: `invalid_period` (`to` before `from`), `too_many_lines`,
/// `invalid_amount` (a negative or sub-fen amount, a non-positive price or clawback),
/// `line_does_not_add_up` (`refunded + commission + technician_share ≠ price`), `duplicate_order`,
/// `duplicate_clawback`.
pub fn compute_payout_batch(
    period: PayoutPeriod,
    orders: &[PayoutOrderLine],
    clawbacks: &[PayoutClawback],
    already_paid: &HashSet<Uuid>,
) -> Result<PayoutBatch, PayoutError> {
    if period.to < period.from {
        return Err(PayoutError::InvalidPeriod { period });
    }
    if orders.len() > PAYOUT_LINES_MAX || clawbacks.len() > PAYOUT_LINES_MAX {
        return Err(PayoutError::TooManyLines { orders: orders.len(), clawbacks: clawbacks.len() });
    }
    let mut seen_orders = HashSet::with_capacity(orders.len());
    for order in orders {
        check_order(order)?;
        if !seen_orders.insert(order.order_id) {
            return Err(PayoutError::DuplicateOrder { order_id: order.order_id });
        }
    }
    let mut seen_clawbacks = HashSet::with_capacity(clawbacks.len());
    for clawback in clawbacks {
        check_positive_amount(clawback.amount).map_err(|problem| PayoutError::InvalidAmount {
            id: clawback.reversal_id,
            field: "amount",
            amount: clawback.amount,
            problem,
        })?;
        if !seen_clawbacks.insert(clawback.reversal_id) {
            return Err(PayoutError::DuplicateClawback { reversal_id: clawback.reversal_id });
        }
    }

    let mut skipped_paid = Vec::new();
    let mut held_for_review = Vec::new();
    let mut by_technician: BTreeMap<Uuid, TechnicianPayoutLine> = BTreeMap::new();
    let mut orders_sorted: Vec<&PayoutOrderLine> = orders.iter().collect();
    orders_sorted.sort_by_key(|order| order.order_id);
    for order in orders_sorted {
        if already_paid.contains(&order.order_id) {
            skipped_paid.push(order.order_id);
            continue;
        }
        if order.held_for_review {
            held_for_review.push(order.order_id);
            continue;
        }
        let line = by_technician.entry(order.technician_id).or_insert_with(|| empty_line(order.technician_id));
        line.orders.push(order.order_id);
        line.gross += order.price;
        line.refunds += order.refunded;
        line.commission += order.commission;
        line.net += order.technician_share;
    }

    let mut deferred_clawbacks = Vec::new();
    let mut clawbacks_sorted: Vec<&PayoutClawback> = clawbacks.iter().collect();
    clawbacks_sorted.sort_by_key(|clawback| clawback.reversal_id);
    for clawback in clawbacks_sorted {
        if already_paid.contains(&clawback.reversal_id) {
            skipped_paid.push(clawback.reversal_id);
            continue;
        }
        match by_technician.get_mut(&clawback.technician_id) {
            Some(line) if line.net >= clawback.amount => {
                line.net -= clawback.amount;
                line.clawbacks += clawback.amount;
                line.clawbacks_taken.push(clawback.reversal_id);
            }
            _ => deferred_clawbacks.push(clawback.reversal_id),
        }
    }

    let lines: Vec<TechnicianPayoutLine> = by_technician
        .into_values()
        .map(|line| TechnicianPayoutLine {
            gross: with_fen_scale(line.gross),
            refunds: with_fen_scale(line.refunds),
            commission: with_fen_scale(line.commission),
            clawbacks: with_fen_scale(line.clawbacks),
            net: with_fen_scale(line.net),
            ..line
        })
        .collect();
    for line in &lines {
        debug_assert_eq!(line.net, line.gross - line.refunds - line.commission - line.clawbacks);
        debug_assert!(line.net >= Decimal::ZERO);
    }
    let sum = |field: fn(&TechnicianPayoutLine) -> Decimal| with_fen_scale(lines.iter().map(field).sum());
    let totals = PayoutTotals {
        technicians: lines.len(),
        orders: lines.iter().map(|line| line.orders.len()).sum(),
        gross: sum(|line| line.gross),
        refunds: sum(|line| line.refunds),
        commission: sum(|line| line.commission),
        clawbacks: sum(|line| line.clawbacks),
        net: sum(|line| line.net),
    };
    Ok(PayoutBatch {
        batch_id: payout_batch_id(period),
        period,
        lines,
        totals,
        held_for_review,
        already_paid: skipped_paid,
        deferred_clawbacks,
    })
}

impl PayoutBatch {
    /// Every order and clawback id this batch pays or takes: to record as paid with the batch.
    #[must_use]
    pub fn included_ids(&self) -> Vec<Uuid> {
        self.lines.iter().flat_map(|line| line.orders.iter().chain(&line.clawbacks_taken)).copied().collect()
    }
}

fn empty_line(technician_id: Uuid) -> TechnicianPayoutLine {
    TechnicianPayoutLine {
        technician_id,
        orders: Vec::new(),
        clawbacks_taken: Vec::new(),
        gross: Decimal::ZERO,
        refunds: Decimal::ZERO,
        commission: Decimal::ZERO,
        clawbacks: Decimal::ZERO,
        net: Decimal::ZERO,
    }
}

fn check_order(order: &PayoutOrderLine) -> Result<(), PayoutError> {
    let invalid = |field: &'static str, amount: Decimal| {
        move |problem: AmountProblem| PayoutError::InvalidAmount { id: order.order_id, field, amount, problem }
    };
    check_positive_amount(order.price).map_err(invalid("price", order.price))?;
    check_non_negative_amount(order.refunded).map_err(invalid("refunded", order.refunded))?;
    check_non_negative_amount(order.commission).map_err(invalid("commission", order.commission))?;
    check_non_negative_amount(order.technician_share).map_err(invalid("technician_share", order.technician_share))?;
    if order.refunded + order.commission + order.technician_share != order.price {
        return Err(PayoutError::LineDoesNotAddUp { order_id: order.order_id });
    }
    Ok(())
}

/// A payout batch was refused. A business rejection, not a fault: [`PayoutError::code`] is the
/// stable machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayoutError {
    /// Code `invalid_period`.
    #[error("payout period ends ({}) before it starts ({})", period.to, period.from)]
    InvalidPeriod {
        /// The period as given.
        period: PayoutPeriod,
    },
    /// Code `too_many_lines`.
    #[error("{orders} orders and {clawbacks} clawbacks: at most {PAYOUT_LINES_MAX} of each per batch")]
    TooManyLines {
        /// Orders given.
        orders: usize,
        /// Clawbacks given.
        clawbacks: usize,
    },
    /// Code `invalid_amount`.
    #[error("{id}: invalid {field} {amount}: {problem}")]
    InvalidAmount {
        /// The order or reversal.
        id: Uuid,
        /// Which amount.
        field: &'static str,
        /// The amount as given.
        amount: Decimal,
        /// What is wrong with it.
        problem: AmountProblem,
    },
    /// Code `line_does_not_add_up`.
    #[error("order {order_id}: refunded + commission + technician_share is not the price")]
    LineDoesNotAddUp {
        /// The order.
        order_id: Uuid,
    },
    /// Code `duplicate_order`.
    #[error("order {order_id} is given more than once")]
    DuplicateOrder {
        /// The order.
        order_id: Uuid,
    },
    /// Code `duplicate_clawback`.
    #[error("clawback {reversal_id} is given more than once")]
    DuplicateClawback {
        /// The reversal.
        reversal_id: Uuid,
    },
}

impl PayoutError {
    /// The stable machine-readable code of the rejection.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            PayoutError::InvalidPeriod { .. } => "invalid_period",
            PayoutError::TooManyLines { .. } => "too_many_lines",
            PayoutError::InvalidAmount { .. } => "invalid_amount",
            PayoutError::LineDoesNotAddUp { .. } => "line_does_not_add_up",
            PayoutError::DuplicateOrder { .. } => "duplicate_order",
            PayoutError::DuplicateClawback { .. } => "duplicate_clawback",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn period() -> PayoutPeriod {
        let day = |text: &str| BusinessDay::parse(text).expect("valid");
        PayoutPeriod { from: day("2025-03-01"), to: day("2025-03-07") }
    }

    fn id(number: u128) -> Uuid {
        Uuid::from_u128(number)
    }

    fn order(number: u128, technician: u128, amounts: [Decimal; 4], held: bool) -> PayoutOrderLine {
        let [price, refunded, commission, technician_share] = amounts;
        PayoutOrderLine {
            order_id: id(number),
            technician_id: id(technician),
            price,
            refunded,
            commission,
            technician_share,
            held_for_review: held,
        }
    }

    fn clawback(number: u128, technician: u128, amount: Decimal) -> PayoutClawback {
        PayoutClawback { reversal_id: id(number), order_id: id(1), technician_id: id(technician), amount }
    }

    #[test]
    fn batch_per_technician_with_holds_clawbacks_and_no_second_payment() {
        let orders = vec![
            order(1, 100, [dec!(200), dec!(0), dec!(30), dec!(170)], false),
            order(2, 100, [dec!(100), dec!(50), dec!(7.50), dec!(42.50)], false),
            order(3, 200, [dec!(80), dec!(0), dec!(8), dec!(72)], false),
            order(4, 300, [dec!(60), dec!(0), dec!(9), dec!(51)], true),
        ];
        let clawbacks = vec![
            clawback(10, 100, dec!(12.00)),  // taken
            clawback(11, 200, dec!(100.00)), // more than the net: deferred
            clawback(12, 400, dec!(1.00)),   // nothing to take it from: deferred
        ];
        let batch = compute_payout_batch(period(), &orders, &clawbacks, &HashSet::new()).expect("valid");
        assert_eq!(batch.batch_id, payout_batch_id(period()));
        let summary: Vec<(Uuid, usize, String)> =
            batch.lines.iter().map(|line| (line.technician_id, line.orders.len(), line.net.to_string())).collect();
        assert_eq!(summary, vec![(id(100), 2, "200.50".to_string()), (id(200), 1, "72.00".to_string())]);
        let first = &batch.lines[0];
        assert_eq!(
            [first.gross, first.refunds, first.commission, first.clawbacks].map(|amount| amount.to_string()),
            ["300.00", "50.00", "37.50", "12.00"]
        );
        assert_eq!(batch.totals.net, dec!(272.50));
        assert_eq!(batch.totals.orders, 3);
        assert_eq!(batch.held_for_review, vec![id(4)]);
        assert_eq!(batch.deferred_clawbacks, vec![id(11), id(12)]);
        assert_eq!(batch.included_ids(), vec![id(1), id(2), id(10), id(3)]);

        // The rerun with what was paid recorded pays nothing.
        let paid: HashSet<Uuid> = batch.included_ids().into_iter().collect();
        let rerun = compute_payout_batch(period(), &orders, &clawbacks, &paid).expect("valid");
        assert!(rerun.lines.is_empty());
        assert_eq!(rerun.totals.net, dec!(0.00));
        assert_eq!(rerun.already_paid, vec![id(1), id(2), id(3), id(10)]);
        assert_eq!(rerun.deferred_clawbacks, vec![id(11), id(12)]);
    }

    #[test]
    fn batch_ids_are_deterministic_per_period() {
        let other = PayoutPeriod { to: period().from, ..period() };
        assert_eq!(payout_batch_id(period()), payout_batch_id(period()));
        assert_ne!(payout_batch_id(period()), payout_batch_id(other));
        assert_eq!(payout_batch_id(period()).get_version_num(), 5);
    }

    #[test]
    fn rejections() {
        fn check(orders: Vec<PayoutOrderLine>, clawbacks: Vec<PayoutClawback>, expected: &str) {
            let actual = compute_payout_batch(period(), &orders, &clawbacks, &HashSet::new()).map(|_| ());
            assert_eq!(actual.map_err(|error| error.code()), Err(expected));
        }
        let good = order(1, 100, [dec!(10), dec!(0), dec!(1), dec!(9)], false);
        check(vec![order(1, 100, [dec!(10), dec!(0), dec!(1), dec!(8)], false)], vec![], "line_does_not_add_up");
        check(vec![order(1, 100, [dec!(0), dec!(0), dec!(0), dec!(0)], false)], vec![], "invalid_amount");
        check(vec![order(1, 100, [dec!(10), dec!(0), dec!(-1), dec!(11)], false)], vec![], "invalid_amount");
        check(vec![order(1, 100, [dec!(10), dec!(0), dec!(0.005), dec!(9.995)], false)], vec![], "invalid_amount");
        check(vec![good.clone(), good.clone()], vec![], "duplicate_order");
        check(vec![good.clone()], vec![clawback(5, 100, dec!(0))], "invalid_amount");
        check(vec![good], vec![clawback(5, 100, dec!(1)), clawback(5, 100, dec!(1))], "duplicate_clawback");
        let backwards = PayoutPeriod { from: period().to, to: period().from };
        let refused = compute_payout_batch(backwards, &[], &[], &HashSet::new()).map(|_| ());
        assert_eq!(refused.map_err(|error| error.code()), Err("invalid_period"));
    }
}
