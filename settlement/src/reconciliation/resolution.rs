//! Working a reconciliation break to an end, as data: the entry the caller must post.
//!
//! A break is what the matcher found wrong with one transaction; its *channel excess* is how much
//! more money the channel shows than the ledger: `+amount` for a payment the ledger lacks (长款),
//! `−amount` for a payment the channel lacks (短款), the reverse for refunds, and the difference
//! for an amount mismatch. The actions:
//!
//! | action | excess > 0 (channel holds more) | excess < 0 (ledger holds more) |
//! |---|---|---|
//! | `adjust` | Dr channel clearing, Cr customer wallet: book what the channel received | Dr customer wallet, Cr channel clearing: take back what never arrived |
//! | `refund` | Dr channel clearing, Cr channel refund payable: send it back to the payer | not allowed: nothing arrived to send back |
//! | `write_off` | Dr channel clearing, Cr reconciliation gain | Dr reconciliation loss, Cr channel clearing |
//!
//! Every action must name exactly the break's amount (`|excess|`): a write-off of "whatever it was"
//! is how small breaks stop being looked at. A status mismatch moves no money by itself and is
//! fixed by re-checking the transaction at the channel, not by an entry; so is a duplicate.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::matcher::{LedgerRecord, MatchedPair};
use super::{StatementLine, TransactionKind};
use crate::money::{check_positive_amount, with_fen_scale, AmountProblem};

/// A break to resolve, with the data the matcher reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Break {
    /// 长款: in the statement, not in the ledger.
    Overage {
        /// The statement's line.
        line: StatementLine,
    },
    /// 短款: in the ledger, not in the statement.
    Shortage {
        /// The ledger's record.
        record: LedgerRecord,
    },
    /// 金额不一致.
    AmountMismatch {
        /// The pair.
        pair: MatchedPair,
    },
}

impl Break {
    /// How much more money the channel shows than the ledger (negative: less).
    #[must_use]
    pub fn channel_excess(&self) -> Decimal {
        let signed = |amount: Decimal, kind: TransactionKind| match kind {
            TransactionKind::Payment => amount,
            TransactionKind::Refund => -amount,
        };
        match self {
            Break::Overage { line } => signed(line.amount, line.kind),
            Break::Shortage { record } => -signed(record.amount, record.kind),
            Break::AmountMismatch { pair } => signed(pair.statement.amount - pair.ledger.amount, pair.statement.kind),
        }
    }
}

/// What finance decided, naming the amount it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResolutionAction {
    /// Correct the ledger to what the channel shows.
    Adjust {
        /// The break's amount.
        amount: Decimal,
    },
    /// Send money the channel holds back to the payer.
    Refund {
        /// The break's amount.
        amount: Decimal,
    },
    /// Recognise the difference as a gain or loss.
    WriteOff {
        /// The break's amount.
        amount: Decimal,
    },
}

/// The role of an account in a resolution entry; the caller maps it to the channel's accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountRole {
    /// The channel's clearing account (asset).
    ChannelClearing,
    /// The paying customer's wallet (liability).
    CustomerWallet,
    /// Money to return to a payer through the channel (liability).
    ChannelRefundPayable,
    /// Reconciliation gains written off (revenue).
    ReconciliationGain,
    /// Reconciliation losses written off (expense).
    ReconciliationLoss,
}

/// A resolution's entry: debit one role, credit another, the same positive amount. Balanced by
/// construction.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolutionEntry {
    /// The account role debited.
    pub debit: AccountRole,
    /// The account role credited.
    pub credit: AccountRole,
    /// The amount, positive whole fen.
    pub amount: Decimal,
}

/// The entry that works `break_found` off by `action`.
///
/// Rejections: `invalid_amount` (not positive whole fen), `nothing_to_resolve` (the break's excess
/// is zero: within a tolerance, nothing moves), `amount_not_the_break` (the action names another
/// amount than the break's), `action_not_allowed` (a refund of money the channel does not hold).
pub fn resolution_entry(break_found: &Break, action: ResolutionAction) -> Result<ResolutionEntry, ResolutionError> {
    let (ResolutionAction::Adjust { amount }
    | ResolutionAction::Refund { amount }
    | ResolutionAction::WriteOff { amount }) = action;
    check_positive_amount(amount).map_err(|problem| ResolutionError::InvalidAmount { amount, problem })?;
    let excess = break_found.channel_excess();
    if excess.is_zero() {
        return Err(ResolutionError::NothingToResolve);
    }
    if amount != excess.abs() {
        return Err(ResolutionError::AmountNotTheBreak { amount, break_amount: with_fen_scale(excess.abs()) });
    }
    use AccountRole::*;
    let channel_holds_more = excess > Decimal::ZERO;
    let (debit, credit) = match (action, channel_holds_more) {
        (ResolutionAction::Adjust { .. }, true) => (ChannelClearing, CustomerWallet),
        (ResolutionAction::Adjust { .. }, false) => (CustomerWallet, ChannelClearing),
        (ResolutionAction::Refund { .. }, true) => (ChannelClearing, ChannelRefundPayable),
        (ResolutionAction::Refund { .. }, false) => return Err(ResolutionError::ActionNotAllowed { action }),
        (ResolutionAction::WriteOff { .. }, true) => (ChannelClearing, ReconciliationGain),
        (ResolutionAction::WriteOff { .. }, false) => (ReconciliationLoss, ChannelClearing),
    };
    Ok(ResolutionEntry { debit, credit, amount: with_fen_scale(amount) })
}

/// A resolution was refused. A business rejection, not a fault: [`ResolutionError::code`] is the
/// stable machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolutionError {
    /// Code `invalid_amount`.
    #[error("invalid amount {amount}: {problem}")]
    InvalidAmount {
        /// The amount as given.
        amount: Decimal,
        /// What is wrong with it.
        problem: AmountProblem,
    },
    /// Code `nothing_to_resolve`.
    #[error("the break moves no money")]
    NothingToResolve,
    /// Code `amount_not_the_break`.
    #[error("the action names {amount}, the break is {break_amount}")]
    AmountNotTheBreak {
        /// The action's amount.
        amount: Decimal,
        /// The break's.
        break_amount: Decimal,
    },
    /// Code `action_not_allowed`.
    #[error("{action:?} does not fit a break where the ledger holds more than the channel")]
    ActionNotAllowed {
        /// The action.
        action: ResolutionAction,
    },
}

impl ResolutionError {
    /// The stable machine-readable code of the rejection.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ResolutionError::InvalidAmount { .. } => "invalid_amount",
            ResolutionError::NothingToResolve => "nothing_to_resolve",
            ResolutionError::AmountNotTheBreak { .. } => "amount_not_the_break",
            ResolutionError::ActionNotAllowed { .. } => "action_not_allowed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconciliation::TransactionStatus;
    use rust_decimal_macros::dec;
    use uuid::Uuid;
    use AccountRole::*;

    fn line(amount: Decimal, kind: TransactionKind) -> StatementLine {
        StatementLine {
            channel_txn_id: "T".into(),
            at: 0,
            amount,
            kind,
            status: TransactionStatus::Success,
            raw_line_number: 2,
        }
    }

    fn record(amount: Decimal, kind: TransactionKind) -> LedgerRecord {
        LedgerRecord {
            channel_txn_id: "T".into(),
            at: 0,
            amount,
            kind,
            status: TransactionStatus::Success,
            entry_id: Uuid::nil(),
        }
    }

    #[test]
    fn resolution_table() {
        fn check(break_found: &Break, action: ResolutionAction, expected: Result<(AccountRole, AccountRole), &str>) {
            let actual =
                resolution_entry(break_found, action).map(|entry| (entry.debit, entry.credit)).map_err(|e| e.code());
            assert_eq!(actual, expected, "{break_found:?} {action:?}");
        }
        use ResolutionAction::{Adjust, WriteOff};
        use TransactionKind::{Payment, Refund as RefundKind};
        let refund = |amount: Decimal| ResolutionAction::Refund { amount };
        let overage = Break::Overage { line: line(dec!(20), Payment) };
        let shortage = Break::Shortage { record: record(dec!(20), Payment) };
        let refund_overage = Break::Overage { line: line(dec!(20), RefundKind) };
        let mismatch = Break::AmountMismatch {
            pair: MatchedPair {
                statement: line(dec!(30), Payment),
                ledger: record(dec!(30.01), Payment),
                difference: dec!(-0.01),
            },
        };
        let equal = Break::AmountMismatch {
            pair: MatchedPair {
                statement: line(dec!(30), Payment),
                ledger: record(dec!(30), Payment),
                difference: dec!(0),
            },
        };
        check(&overage, Adjust { amount: dec!(20) }, Ok((ChannelClearing, CustomerWallet)));
        check(&overage, refund(dec!(20)), Ok((ChannelClearing, ChannelRefundPayable)));
        check(&overage, WriteOff { amount: dec!(20) }, Ok((ChannelClearing, ReconciliationGain)));
        check(&shortage, Adjust { amount: dec!(20) }, Ok((CustomerWallet, ChannelClearing)));
        check(&shortage, WriteOff { amount: dec!(20) }, Ok((ReconciliationLoss, ChannelClearing)));
        check(&shortage, refund(dec!(20)), Err("action_not_allowed"));
        check(&refund_overage, WriteOff { amount: dec!(20) }, Ok((ReconciliationLoss, ChannelClearing)));
        check(&refund_overage, refund(dec!(20)), Err("action_not_allowed"));
        check(&mismatch, WriteOff { amount: dec!(0.01) }, Ok((ReconciliationLoss, ChannelClearing)));
        check(&mismatch, WriteOff { amount: dec!(0.02) }, Err("amount_not_the_break"));
        check(&overage, WriteOff { amount: dec!(19.99) }, Err("amount_not_the_break"));
        check(&overage, WriteOff { amount: dec!(0) }, Err("invalid_amount"));
        check(&overage, Adjust { amount: dec!(20.001) }, Err("invalid_amount"));
        check(&equal, WriteOff { amount: dec!(0.01) }, Err("nothing_to_resolve"));
        let entry = resolution_entry(&overage, Adjust { amount: dec!(20) }).expect("valid");
        assert_eq!(
            serde_json::to_string(&entry).expect("serializes"),
            r#"{"debit":"channel_clearing","credit":"customer_wallet","amount":"20.00"}"#
        );
    }
}
