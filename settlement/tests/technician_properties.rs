//! Model-based properties of technician orders, settlement, payouts and refunds, and of the
//! reconciliation matcher.
//!
//! The order model drives random sequences of bookings, cancellations, ratings (1–5 stars and
//! auto-rated), dispute resolutions, payout batches and refunds after payout through the real
//! functions, and after every step checks that money is conserved:
//!
//! ```text
//! Σ prices held = refunds to customers + commission + technician (paid + owed − clawbacks due) + escrow
//! ```
//!
//! and that no order is settled or paid twice (a second payout run pays nothing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use proptest::prelude::*;
use rust_decimal::Decimal;
use settlement::business_day::BusinessDay;
use settlement::payout::{compute_payout_batch, PayoutClawback, PayoutOrderLine, PayoutPeriod};
use settlement::rating_settlement::{
    resolve_dispute, reverse_after_payout, settle_auto_rated_order, settle_rated_order, RatingOutcome, Resolution,
};
use settlement::reconciliation::matcher::{reconcile, LedgerRecord, MatchConfig, ReconciliationWindow};
use settlement::reconciliation::{StatementLine, TransactionKind, TransactionStatus};
use settlement::rules::{RuleBook, RuleSet};
use settlement::service_order::{next_status, OrderAction, OrderStatus, Stars};
use settlement::technician_tier::{technician_standing, PastRating};
use uuid::Uuid;

const TECHNICIANS: u128 = 3;

fn yuan(fen: i64) -> Decimal {
    Decimal::new(fen, 2)
}

fn to_fen(amount: Decimal) -> i64 {
    let mut amount = amount;
    amount.rescale(2);
    i64::try_from(amount.mantissa()).unwrap()
}

fn rules() -> RuleSet {
    RuleBook::shipped().expect("valid").versions()[0].clone()
}

#[derive(Debug, Clone)]
enum Step {
    /// Moves order `order % orders` one step on, `choice` picking among the ways forward.
    Advance { order: usize, choice: u64 },
    /// Runs a payout batch, then runs it again.
    Payout,
    /// Refunds part of a paid-out order.
    RefundAfterPayout { order: usize, seed: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (any::<usize>(), any::<u64>()).prop_map(|(order, choice)| Step::Advance { order, choice }),
        1 => Just(Step::Payout),
        2 => (any::<usize>(), any::<u64>()).prop_map(|(order, seed)| Step::RefundAfterPayout { order, seed }),
    ]
}

#[derive(Debug, Clone)]
struct Order {
    id: Uuid,
    technician: usize,
    price: Decimal,
    status: OrderStatus,
    refunded_before_payout: Decimal,
    share: Decimal,
    commission: Decimal,
    held: bool,
    refunded_after_payout: Decimal,
    stars: Stars,
}

#[derive(Debug, Default)]
struct Books {
    refunds_to_customers: Decimal,
    commission: Decimal,
    technician_paid: Decimal,
    clawbacks_due: Vec<PayoutClawback>,
    paid_ids: HashSet<Uuid>,
    ratings: Vec<Vec<PastRating>>,
}

impl Books {
    fn check_conservation(&self, orders: &[Order]) {
        let held_from_customers: Decimal = orders.iter().map(|order| order.price).sum();
        let escrow: Decimal = orders
            .iter()
            .filter(|order| {
                matches!(
                    order.status,
                    OrderStatus::Booked
                        | OrderStatus::Accepted
                        | OrderStatus::Completed
                        | OrderStatus::Rated
                        | OrderStatus::AutoRated
                        | OrderStatus::Disputed
                )
            })
            .map(|order| order.price)
            .sum();
        let owed_unpaid: Decimal =
            orders.iter().filter(|order| order.status == OrderStatus::Settled).map(|order| order.share).sum();
        let clawbacks_due: Decimal = self.clawbacks_due.iter().map(|clawback| clawback.amount).sum();
        let technician = self.technician_paid + owed_unpaid - clawbacks_due;
        assert_eq!(held_from_customers, self.refunds_to_customers + self.commission + technician + escrow);
    }
}

fn period() -> PayoutPeriod {
    let day = BusinessDay::parse("2025-03-01").expect("valid");
    PayoutPeriod { from: day, to: day }
}

fn run(prices: &[i64], steps: &[Step]) {
    let rules = rules();
    let mut orders: Vec<Order> = prices
        .iter()
        .zip(0_u128..)
        .map(|(&price_fen, number)| Order {
            id: Uuid::from_u128(number + 1),
            technician: usize::try_from(number % TECHNICIANS).unwrap(),
            price: yuan(price_fen),
            status: OrderStatus::Booked,
            refunded_before_payout: Decimal::ZERO,
            share: Decimal::ZERO,
            commission: Decimal::ZERO,
            held: false,
            refunded_after_payout: Decimal::ZERO,
            stars: Stars::MAX,
        })
        .collect();
    let mut books = Books { ratings: vec![Vec::new(); TECHNICIANS as usize], ..Books::default() };
    let mut next_reversal: u128 = 1_000_000;
    for (time, step) in (1_i64..).zip(steps) {
        match *step {
            Step::Advance { order, choice } => {
                let order = &mut orders[order % prices.len()];
                let standing = technician_standing(&books.ratings[order.technician], time, &rules);
                let action = match order.status {
                    OrderStatus::Booked if choice % 5 == 0 => OrderAction::Cancel,
                    OrderStatus::Booked => OrderAction::Accept,
                    OrderStatus::Accepted => OrderAction::Complete,
                    OrderStatus::Completed if choice % 6 == 0 => OrderAction::AutoRate,
                    OrderStatus::Completed => {
                        let stars = Stars::new(u8::try_from(choice % 5).unwrap() + 1).unwrap();
                        let opens_dispute = stars.get() <= rules.spec().dispute_max_stars;
                        books.ratings[order.technician].push(PastRating { rated_at: time, stars });
                        order.stars = stars;
                        let settlement = settle_rated_order(order.price, stars, &standing, &rules).unwrap();
                        assert_eq!(opens_dispute, settlement.outcome == RatingOutcome::Dispute);
                        OrderAction::Rate { stars, opens_dispute }
                    }
                    OrderStatus::Rated | OrderStatus::AutoRated => {
                        // The standing is the one before this order's own rating time.
                        let settlement = if order.status == OrderStatus::AutoRated {
                            settle_auto_rated_order(order.price, &standing, &rules).unwrap()
                        } else {
                            settle_rated_order(order.price, order.stars, &standing, &rules).unwrap()
                        };
                        let RatingOutcome::Settle { technician_share, commission, .. } = settlement.outcome else {
                            panic!("rated orders settle");
                        };
                        assert_eq!(technician_share + commission, order.price);
                        order.share = technician_share;
                        order.commission = commission;
                        order.held = settlement.held_for_review;
                        books.commission += commission;
                        OrderAction::Settle
                    }
                    OrderStatus::Disputed => {
                        let resolution = match choice % 3 {
                            0 => Resolution::PayInFull,
                            1 if order.price > yuan(1) => {
                                let price_fen = to_fen(order.price);
                                Resolution::PartialRefund { amount: yuan(1 + (choice / 3) as i64 % (price_fen - 1)) }
                            }
                            _ => Resolution::FullRefund,
                        };
                        let outcome = resolve_dispute(order.price, resolution, &standing, &rules).unwrap();
                        assert_eq!(
                            outcome.refund_to_customer + outcome.technician_share + outcome.commission,
                            order.price
                        );
                        order.refunded_before_payout = outcome.refund_to_customer;
                        order.share = outcome.technician_share;
                        order.commission = outcome.commission;
                        order.held = outcome.held_for_review;
                        books.refunds_to_customers += outcome.refund_to_customer;
                        books.commission += outcome.commission;
                        OrderAction::ResolveDispute { full_refund: resolution.is_full_refund() }
                    }
                    OrderStatus::Settled | OrderStatus::PaidOut | OrderStatus::Cancelled | OrderStatus::Refunded => {
                        // Nothing moves these on but a payout; settling again is refused.
                        assert!(next_status(order.status, OrderAction::Settle).is_err());
                        continue;
                    }
                };
                if action == OrderAction::Cancel {
                    books.refunds_to_customers += order.price;
                }
                order.status = next_status(order.status, action).unwrap();
            }
            Step::Payout => {
                let lines: Vec<PayoutOrderLine> = orders
                    .iter()
                    .filter(|order| order.status == OrderStatus::Settled)
                    .map(|order| PayoutOrderLine {
                        order_id: order.id,
                        technician_id: Uuid::from_u128(order.technician as u128 + 100),
                        price: order.price,
                        refunded: order.refunded_before_payout,
                        commission: order.commission,
                        technician_share: order.share,
                        held_for_review: order.held,
                    })
                    .collect();
                let batch = compute_payout_batch(period(), &lines, &books.clawbacks_due, &books.paid_ids).unwrap();
                for id in batch.included_ids() {
                    assert!(books.paid_ids.insert(id), "{id} paid twice");
                }
                books.technician_paid += batch.totals.net;
                assert!(batch.lines.iter().all(|line| line.net >= Decimal::ZERO));
                books.clawbacks_due.retain(|clawback| !books.paid_ids.contains(&clawback.reversal_id));
                for order in &mut orders {
                    if books.paid_ids.contains(&order.id) && order.status == OrderStatus::Settled {
                        order.status = next_status(order.status, OrderAction::PayOut).unwrap();
                    }
                }
                let all_lines_again: Vec<PayoutOrderLine> =
                    lines.into_iter().filter(|line| books.paid_ids.contains(&line.order_id)).collect();
                let again = compute_payout_batch(period(), &all_lines_again, &[], &books.paid_ids).unwrap();
                assert_eq!(again.totals.net, Decimal::ZERO);
                assert!(again.lines.is_empty());
            }
            Step::RefundAfterPayout { order, seed } => {
                let order = &mut orders[order % prices.len()];
                let paid = order.share + order.commission;
                let refundable = paid - order.refunded_after_payout;
                if order.status != OrderStatus::PaidOut || refundable <= Decimal::ZERO {
                    continue;
                }
                let refundable_fen = to_fen(refundable);
                let refund = yuan(1 + (seed % refundable_fen as u64) as i64);
                let reversal =
                    reverse_after_payout(order.share, order.commission, order.refunded_after_payout, refund).unwrap();
                assert_eq!(reversal.from_technician + reversal.from_commission, refund);
                assert!(reversal.from_technician >= Decimal::ZERO && reversal.from_commission >= Decimal::ZERO);
                order.refunded_after_payout += refund;
                books.refunds_to_customers += refund;
                books.commission -= reversal.from_commission;
                assert!(books.commission >= Decimal::ZERO);
                if reversal.from_technician > Decimal::ZERO {
                    next_reversal += 1;
                    books.clawbacks_due.push(PayoutClawback {
                        reversal_id: Uuid::from_u128(next_reversal),
                        order_id: order.id,
                        technician_id: Uuid::from_u128(order.technician as u128 + 100),
                        amount: reversal.from_technician,
                    });
                }
                // More than was paid is refused.
                let too_much = reverse_after_payout(order.share, order.commission, order.refunded_after_payout, paid);
                assert!(order.refunded_after_payout == Decimal::ZERO || too_much.is_err());
            }
        }
        books.check_conservation(&orders);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn money_is_conserved_and_nothing_is_paid_twice(
        prices in prop::collection::vec(1_i64..=2_000_000, 1..12),
        steps in prop::collection::vec(step(), 0..160),
    ) {
        run(&prices, &steps);
    }

    #[test]
    fn reversals_add_up_and_never_take_more_than_was_paid(
        share_fen in 0_i64..=1_000_000,
        commission_fen in 0_i64..=300_000,
        cut_seeds in prop::collection::vec(any::<u64>(), 0..6),
    ) {
        let paid_fen = share_fen + commission_fen;
        prop_assume!(paid_fen > 0);
        let mut cuts: Vec<i64> = cut_seeds.iter().map(|seed| 1 + (*seed % paid_fen as u64) as i64).collect();
        cuts.push(paid_fen);
        cuts.sort_unstable();
        cuts.dedup();
        let (mut refunded, mut from_technician, mut from_commission) = (0, Decimal::ZERO, Decimal::ZERO);
        for cut in cuts {
            let refund = yuan(cut - refunded);
            let reversal = reverse_after_payout(yuan(share_fen), yuan(commission_fen), yuan(refunded), refund).unwrap();
            prop_assert_eq!(reversal.from_technician + reversal.from_commission, refund);
            from_technician += reversal.from_technician;
            from_commission += reversal.from_commission;
            prop_assert!(from_technician <= yuan(share_fen) && from_commission <= yuan(commission_fen));
            refunded = cut;
        }
        prop_assert_eq!((from_technician, from_commission), (yuan(share_fen), yuan(commission_fen)));
    }

    #[test]
    fn commission_and_share_always_make_the_price(price_fen in 1_i64..=1_000_000_000, stars in 3_u8..=5, tier in 0_u8..3) {
        let rules = rules();
        let tier = [settlement::rules::Tier::Standard, settlement::rules::Tier::Silver, settlement::rules::Tier::Gold][usize::from(tier)];
        let standing = settlement::technician_tier::TechnicianStanding { tier, ..settlement::technician_tier::TechnicianStanding::NEW };
        let settlement = settle_rated_order(yuan(price_fen), Stars::new(stars).unwrap(), &standing, &rules).unwrap();
        let RatingOutcome::Settle { technician_share, commission, commission_rate } = settlement.outcome else {
            panic!("3 to 5 stars settle");
        };
        prop_assert_eq!(technician_share + commission, yuan(price_fen));
        // Half-up of price × rate in integer fen: rates have at most four decimals.
        let mut rate = commission_rate;
        rate.rescale(4);
        let rate_ten_thousandths = rate.mantissa();
        let expected_fen = (2 * i128::from(price_fen) * rate_ten_thousandths + 10_000) / 20_000;
        prop_assert_eq!(commission, Decimal::from_i128_with_scale(expected_fen, 2));
    }

    #[test]
    fn every_line_and_record_lands_in_exactly_one_bucket(
        statement in prop::collection::vec((0_u8..8, any::<bool>(), 0_u8..3, 0_i64..500, -200_i64..200), 0..30),
        ledger in prop::collection::vec((0_u8..8, any::<bool>(), 0_u8..3, 0_i64..500, -200_i64..200), 0..30),
        drift in 0_i64..100,
        tolerance_fen in 0_i64..3,
    ) {
        let window = ReconciliationWindow { start: 1_000, end: 1_100 };
        let kind = |refund: bool| if refund { TransactionKind::Refund } else { TransactionKind::Payment };
        let status = |code: u8| [TransactionStatus::Success, TransactionStatus::Refunded, TransactionStatus::Failed][usize::from(code)];
        let statement: Vec<StatementLine> = statement
            .into_iter()
            .enumerate()
            .map(|(index, (id, refund, code, fen, offset))| StatementLine {
                channel_txn_id: format!("T{id}"),
                at: 1_050 + offset,
                amount: yuan(fen),
                kind: kind(refund),
                status: status(code),
                raw_line_number: index + 2,
            })
            .collect();
        let ledger: Vec<LedgerRecord> = ledger
            .into_iter()
            .zip(0_u128..)
            .map(|((id, refund, code, fen, offset), number)| LedgerRecord {
                channel_txn_id: format!("T{id}"),
                at: 1_050 + offset,
                amount: yuan(fen),
                kind: kind(refund),
                status: status(code),
                entry_id: Uuid::from_u128(number),
            })
            .collect();
        let config = MatchConfig { date_drift_seconds: drift, amount_tolerance: yuan(tolerance_fen) };
        let report = reconcile(&statement, &ledger, &config, window).unwrap();

        let mut statement_seen: Vec<usize> = report.matched.iter()
            .chain(&report.amount_mismatch)
            .chain(&report.status_mismatch)
            .map(|pair| pair.statement.raw_line_number)
            .chain(report.overage.iter().chain(&report.statement_duplicates).map(|line| line.raw_line_number))
            .collect();
        statement_seen.sort_unstable();
        prop_assert_eq!(statement_seen, (2..statement.len() + 2).collect::<Vec<_>>());
        let mut ledger_seen: Vec<u128> = report.matched.iter()
            .chain(&report.amount_mismatch)
            .chain(&report.status_mismatch)
            .map(|pair| pair.ledger.entry_id.as_u128())
            .chain(report.shortage.iter().chain(&report.ledger_duplicates).chain(&report.ledger_outside_window).map(|record| record.entry_id.as_u128()))
            .collect();
        ledger_seen.sort_unstable();
        prop_assert_eq!(ledger_seen, (0..ledger.len() as u128).collect::<Vec<_>>());

        let summary = &report.summary;
        let buckets = [
            summary.matched, summary.overage, summary.shortage, summary.amount_mismatch, summary.status_mismatch,
            summary.statement_duplicates, summary.ledger_duplicates, summary.ledger_outside_window,
        ];
        prop_assert_eq!(buckets.iter().map(|bucket| bucket.statement_net).sum::<Decimal>(), summary.statement.net);
        prop_assert_eq!(buckets.iter().map(|bucket| bucket.ledger_net).sum::<Decimal>(), summary.ledger.net);
        let signed = |amount: Decimal, kind: TransactionKind| if kind == TransactionKind::Refund { -amount } else { amount };
        prop_assert_eq!(statement.iter().map(|line| signed(line.amount, line.kind)).sum::<Decimal>(), summary.statement.net);
        prop_assert_eq!(summary.statement.count, statement.len());
        prop_assert_eq!(summary.ledger.count, ledger.len());
        // Shortages are in the window; matched pairs are within the tolerance.
        prop_assert!(report.shortage.iter().all(|record| window.start <= record.at && record.at < window.end));
        prop_assert!(report.matched.iter().all(|pair| pair.difference.abs() <= config.amount_tolerance));
    }
}
