//! Matching a statement against the ledger's records of the same channel.
//!
//! Lines and records are keyed by `(channel_txn_id, kind)`: a refund has its own id at the channel,
//! and a payment and its refund are two transactions. Every statement line and every ledger record
//! lands in exactly one bucket:
//!
//! | bucket | side | when |
//! |---|---|---|
//! | `matched` (一致) | both | same key, amounts within the tolerance, same status |
//! | `amount_mismatch` (金额不一致) | both | same key, amounts further apart than the tolerance |
//! | `status_mismatch` | both | same key and amount, another status |
//! | `overage` (长款) | statement | no eligible ledger record has the key |
//! | `shortage` (短款) | ledger | in the window, and no statement line has the key |
//! | `statement_duplicates` | statement | the key already appeared earlier in the statement: reported, never merged |
//! | `ledger_duplicates` | ledger | the key already appeared earlier among the eligible ledger records |
//! | `ledger_outside_window` | ledger | not eligible, or eligible only through the drift and unmatched |
//!
//! A ledger record is *eligible* when its time is in the window widened by `date_drift_seconds` on
//! both sides. The drift covers the midnight cut-off: a payment the ledger booked at 23:59:59 that
//! the channel dated 00:00:01 (the next day's bill) still matches. An eligible record in the drift
//! zone that matches nothing belongs to the neighbouring day's statement and is not a shortage
//! here. Statement lines are all taken as they are: the statement defines its day.
//!
//! Amount mismatch is reported before status mismatch: a pair differing in both is an amount
//! mismatch (money first).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{StatementLine, TransactionKind, TransactionStatus};
use crate::business_day::{day_bounds_utc, BusinessDay, SECONDS_PER_DAY};
use crate::money::{check_non_negative_amount, with_fen_scale, AmountProblem};

/// Largest date drift: one day. More would let a record match another day's statement.
pub const DATE_DRIFT_SECONDS_MAX: i64 = SECONDS_PER_DAY;

/// Most statement lines or ledger records one reconciliation takes.
pub const RECONCILIATION_RECORDS_MAX: usize = super::STATEMENT_LINES_MAX;

/// What the ledger knows of one channel transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRecord {
    /// The channel's id of the transaction.
    pub channel_txn_id: String,
    /// When the ledger booked it, Unix seconds.
    pub at: i64,
    /// The amount, positive or zero.
    pub amount: Decimal,
    /// Payment or refund.
    pub kind: TransactionKind,
    /// The status the ledger recorded.
    pub status: TransactionStatus,
    /// The ledger entry that booked it.
    pub entry_id: Uuid,
}

/// How strictly to match. The default is the strictest: no drift, no tolerance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MatchConfig {
    /// How far outside the window a ledger record may lie and still match (0 to
    /// [`DATE_DRIFT_SECONDS_MAX`]).
    pub date_drift_seconds: i64,
    /// The largest amount difference that still counts as matched (whole fen, from 0).
    pub amount_tolerance: Decimal,
}

/// The instants the statement covers: from `start` up to but not including `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationWindow {
    /// First instant, Unix seconds.
    pub start: i64,
    /// First instant after the window.
    pub end: i64,
}

impl ReconciliationWindow {
    /// The window of a business day (cut at 00:00 Beijing time, like the channels' bills).
    #[must_use]
    pub fn business_day(day: BusinessDay) -> ReconciliationWindow {
        let (start, end) = day_bounds_utc(day);
        ReconciliationWindow { start, end }
    }
}

/// A statement line and the ledger record with its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedPair {
    /// The statement's line.
    pub statement: StatementLine,
    /// The ledger's record.
    pub ledger: LedgerRecord,
    /// `statement.amount − ledger.amount`.
    pub difference: Decimal,
}

/// A bucket's size and money, payments counted positive and refunds negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BucketSummary {
    /// Lines or records (a pair counts once).
    pub count: usize,
    /// Net amount of the bucket's statement lines.
    pub statement_net: Decimal,
    /// Net amount of the bucket's ledger records.
    pub ledger_net: Decimal,
}

/// One side's totals over everything it gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SideTotals {
    /// Lines or records.
    pub count: usize,
    /// Sum of the payments.
    pub payments: Decimal,
    /// Sum of the refunds.
    pub refunds: Decimal,
    /// `payments − refunds`.
    pub net: Decimal,
}

/// The counts and totals of a reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReconciliationSummary {
    /// 一致.
    pub matched: BucketSummary,
    /// 长款.
    pub overage: BucketSummary,
    /// 短款.
    pub shortage: BucketSummary,
    /// 金额不一致.
    pub amount_mismatch: BucketSummary,
    /// Status mismatches.
    pub status_mismatch: BucketSummary,
    /// Repeated keys in the statement.
    pub statement_duplicates: BucketSummary,
    /// Repeated keys in the ledger.
    pub ledger_duplicates: BucketSummary,
    /// Ledger records that belong to another day.
    pub ledger_outside_window: BucketSummary,
    /// The statement's totals.
    pub statement: SideTotals,
    /// The ledger's totals.
    pub ledger: SideTotals,
}

/// A reconciliation's outcome. Built only by [`reconcile`].
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReconciliationReport {
    /// Pairs that agree.
    pub matched: Vec<MatchedPair>,
    /// In the statement, not in the ledger.
    pub overage: Vec<StatementLine>,
    /// In the ledger (within the window), not in the statement.
    pub shortage: Vec<LedgerRecord>,
    /// Pairs whose amounts differ by more than the tolerance.
    pub amount_mismatch: Vec<MatchedPair>,
    /// Pairs whose statuses differ.
    pub status_mismatch: Vec<MatchedPair>,
    /// Statement lines whose key appeared earlier in the statement.
    pub statement_duplicates: Vec<StatementLine>,
    /// Ledger records whose key appeared earlier among the eligible records.
    pub ledger_duplicates: Vec<LedgerRecord>,
    /// Ledger records outside the window that matched nothing.
    pub ledger_outside_window: Vec<LedgerRecord>,
    /// Counts and totals.
    pub summary: ReconciliationSummary,
}

fn signed(amount: Decimal, kind: TransactionKind) -> Decimal {
    match kind {
        TransactionKind::Payment => amount,
        TransactionKind::Refund => -amount,
    }
}

/// Reconciles a statement against the ledger's records for `window`. Pure.
///
/// Rejections: `invalid_window` (`end` not after `start`), `invalid_match_config` (a drift outside
/// 0 to [`DATE_DRIFT_SECONDS_MAX`], a tolerance that is negative or finer than the fen),
/// `too_many_records`, `invalid_amount` (a line or record with a negative or sub-fen amount).
pub fn reconcile(
    statement: &[StatementLine],
    ledger: &[LedgerRecord],
    config: &MatchConfig,
    window: ReconciliationWindow,
) -> Result<ReconciliationReport, ReconcileError> {
    if window.end <= window.start {
        return Err(ReconcileError::InvalidWindow { window });
    }
    if !(0..=DATE_DRIFT_SECONDS_MAX).contains(&config.date_drift_seconds)
        || check_non_negative_amount(config.amount_tolerance).is_err()
    {
        return Err(ReconcileError::InvalidMatchConfig { config: *config });
    }
    if statement.len() > RECONCILIATION_RECORDS_MAX || ledger.len() > RECONCILIATION_RECORDS_MAX {
        return Err(ReconcileError::TooManyRecords { statement: statement.len(), ledger: ledger.len() });
    }
    for line in statement {
        check_non_negative_amount(line.amount).map_err(|problem| ReconcileError::InvalidAmount {
            channel_txn_id: line.channel_txn_id.clone(),
            amount: line.amount,
            problem,
        })?;
    }
    for record in ledger {
        check_non_negative_amount(record.amount).map_err(|problem| ReconcileError::InvalidAmount {
            channel_txn_id: record.channel_txn_id.clone(),
            amount: record.amount,
            problem,
        })?;
    }

    let mut report = ReconciliationReport::default();
    let eligible_from = window.start.saturating_sub(config.date_drift_seconds);
    let eligible_to = window.end.saturating_add(config.date_drift_seconds);
    let mut ledger_by_key: HashMap<(&str, TransactionKind), usize> = HashMap::with_capacity(ledger.len());
    let mut ledger_duplicate = vec![false; ledger.len()];
    for (index, record) in ledger.iter().enumerate() {
        if record.at < eligible_from || record.at >= eligible_to {
            continue;
        }
        match ledger_by_key.entry((record.channel_txn_id.as_str(), record.kind)) {
            Entry::Occupied(_) => {
                ledger_duplicate[index] = true;
                report.ledger_duplicates.push(record.clone());
            }
            Entry::Vacant(vacant) => {
                vacant.insert(index);
            }
        }
    }

    let mut statement_keys = HashSet::with_capacity(statement.len());
    let mut ledger_matched = vec![false; ledger.len()];
    for line in statement {
        let key = (line.channel_txn_id.as_str(), line.kind);
        if !statement_keys.insert(key) {
            report.statement_duplicates.push(line.clone());
            continue;
        }
        let Some(&index) = ledger_by_key.get(&key) else {
            report.overage.push(line.clone());
            continue;
        };
        ledger_matched[index] = true;
        let record = &ledger[index];
        let difference = with_fen_scale(line.amount - record.amount);
        let pair = MatchedPair { statement: line.clone(), ledger: record.clone(), difference };
        if difference.abs() > config.amount_tolerance {
            report.amount_mismatch.push(pair);
        } else if line.status != record.status {
            report.status_mismatch.push(pair);
        } else {
            report.matched.push(pair);
        }
    }

    for (index, record) in ledger.iter().enumerate() {
        if ledger_matched[index] || ledger_duplicate[index] {
            continue;
        }
        if window.start <= record.at && record.at < window.end {
            report.shortage.push(record.clone());
        } else {
            report.ledger_outside_window.push(record.clone());
        }
    }

    report.summary = summarize(&report, statement, ledger);
    Ok(report)
}

fn summarize(
    report: &ReconciliationReport,
    statement: &[StatementLine],
    ledger: &[LedgerRecord],
) -> ReconciliationSummary {
    let statement_net =
        |lines: &[StatementLine]| lines.iter().map(|line| signed(line.amount, line.kind)).sum::<Decimal>();
    let ledger_net =
        |records: &[LedgerRecord]| records.iter().map(|record| signed(record.amount, record.kind)).sum::<Decimal>();
    let pairs = |pairs: &[MatchedPair]| BucketSummary {
        count: pairs.len(),
        statement_net: with_fen_scale(
            pairs.iter().map(|pair| signed(pair.statement.amount, pair.statement.kind)).sum(),
        ),
        ledger_net: with_fen_scale(pairs.iter().map(|pair| signed(pair.ledger.amount, pair.ledger.kind)).sum()),
    };
    let statement_only = |lines: &[StatementLine]| BucketSummary {
        count: lines.len(),
        statement_net: with_fen_scale(statement_net(lines)),
        ledger_net: with_fen_scale(Decimal::ZERO),
    };
    let ledger_only = |records: &[LedgerRecord]| BucketSummary {
        count: records.len(),
        statement_net: with_fen_scale(Decimal::ZERO),
        ledger_net: with_fen_scale(ledger_net(records)),
    };
    let side = |amounts: Vec<(Decimal, TransactionKind)>| {
        let total = |wanted: TransactionKind| {
            with_fen_scale(amounts.iter().filter(|(_, kind)| *kind == wanted).map(|(amount, _)| *amount).sum())
        };
        let (payments, refunds) = (total(TransactionKind::Payment), total(TransactionKind::Refund));
        SideTotals { count: amounts.len(), payments, refunds, net: payments - refunds }
    };
    ReconciliationSummary {
        matched: pairs(&report.matched),
        overage: statement_only(&report.overage),
        shortage: ledger_only(&report.shortage),
        amount_mismatch: pairs(&report.amount_mismatch),
        status_mismatch: pairs(&report.status_mismatch),
        statement_duplicates: statement_only(&report.statement_duplicates),
        ledger_duplicates: ledger_only(&report.ledger_duplicates),
        ledger_outside_window: ledger_only(&report.ledger_outside_window),
        statement: side(statement.iter().map(|line| (line.amount, line.kind)).collect()),
        ledger: side(ledger.iter().map(|record| (record.amount, record.kind)).collect()),
    }
}

/// A reconciliation was refused. A business rejection, not a fault: [`ReconcileError::code`] is
/// the stable machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    /// Code `invalid_window`.
    #[error("the reconciliation window must end after it starts: {window:?}")]
    InvalidWindow {
        /// The window as given.
        window: ReconciliationWindow,
    },
    /// Code `invalid_match_config`.
    #[error("drift must be 0 to {DATE_DRIFT_SECONDS_MAX} s and the tolerance non-negative whole fen: {config:?}")]
    InvalidMatchConfig {
        /// The configuration as given.
        config: MatchConfig,
    },
    /// Code `too_many_records`.
    #[error("{statement} statement lines and {ledger} ledger records: at most {RECONCILIATION_RECORDS_MAX} each")]
    TooManyRecords {
        /// Statement lines given.
        statement: usize,
        /// Ledger records given.
        ledger: usize,
    },
    /// Code `invalid_amount`.
    #[error("transaction {channel_txn_id}: invalid amount {amount}: {problem}")]
    InvalidAmount {
        /// The transaction.
        channel_txn_id: String,
        /// The amount as given.
        amount: Decimal,
        /// What is wrong with it.
        problem: AmountProblem,
    },
}

impl ReconcileError {
    /// The stable machine-readable code of the rejection.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ReconcileError::InvalidWindow { .. } => "invalid_window",
            ReconcileError::InvalidMatchConfig { .. } => "invalid_match_config",
            ReconcileError::TooManyRecords { .. } => "too_many_records",
            ReconcileError::InvalidAmount { .. } => "invalid_amount",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use TransactionKind::{Payment, Refund};
    use TransactionStatus::{Refunded, Success};

    const WINDOW: ReconciliationWindow = ReconciliationWindow { start: 1_000_000, end: 1_086_400 };

    fn line(id: &str, at: i64, amount: Decimal, kind: TransactionKind, status: TransactionStatus) -> StatementLine {
        StatementLine { channel_txn_id: id.into(), at, amount, kind, status, raw_line_number: 0 }
    }

    fn record(
        id: &str,
        at: i64,
        amount: Decimal,
        kind: TransactionKind,
        status: TransactionStatus,
        entry: u128,
    ) -> LedgerRecord {
        LedgerRecord { channel_txn_id: id.into(), at, amount, kind, status, entry_id: Uuid::from_u128(entry) }
    }

    fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
        items.iter().map(|item| id(item).to_string()).collect()
    }

    #[test]
    fn every_bucket() {
        let noon = WINDOW.start + 43_200;
        let statement = vec![
            line("A", noon, dec!(10), Payment, Success),             // matched
            line("A", noon, dec!(3), Refund, Refunded),              // matched: a refund is its own key
            line("B", noon, dec!(20), Payment, Success),             // overage
            line("C", noon, dec!(30), Payment, Success),             // amount mismatch
            line("D", noon, dec!(40), Payment, Refunded),            // status mismatch
            line("E", WINDOW.start + 1, dec!(50), Payment, Success), // matched across midnight with drift
            line("A", noon, dec!(10), Payment, Success),             // duplicate
        ];
        let ledger = vec![
            record("A", noon, dec!(10), Payment, Success, 1),
            record("A", noon, dec!(3), Refund, Refunded, 2),
            record("C", noon, dec!(30.01), Payment, Success, 3),
            record("D", noon, dec!(40), Payment, Success, 4),
            record("E", WINDOW.start - 2, dec!(50), Payment, Success, 5), // 23:59:58 the day before
            record("F", noon, dec!(60), Payment, Success, 6),             // shortage
            record("F", noon, dec!(60), Payment, Success, 7),             // ledger duplicate
            record("G", WINDOW.end + 1, dec!(70), Payment, Success, 8),   // next day's, within drift
            record("H", WINDOW.end + 100, dec!(80), Payment, Success, 9), // next day's
        ];
        let config = MatchConfig { date_drift_seconds: 5, amount_tolerance: dec!(0) };
        let report = reconcile(&statement, &ledger, &config, WINDOW).expect("valid");
        assert_eq!(ids(&report.matched, |pair| &pair.statement.channel_txn_id), ["A", "A", "E"]);
        assert_eq!(ids(&report.overage, |line| &line.channel_txn_id), ["B"]);
        assert_eq!(ids(&report.amount_mismatch, |pair| &pair.statement.channel_txn_id), ["C"]);
        assert_eq!(report.amount_mismatch[0].difference, dec!(-0.01));
        assert_eq!(ids(&report.status_mismatch, |pair| &pair.statement.channel_txn_id), ["D"]);
        assert_eq!(ids(&report.statement_duplicates, |line| &line.channel_txn_id), ["A"]);
        assert_eq!(ids(&report.shortage, |record| &record.channel_txn_id), ["F"]);
        assert_eq!(report.shortage[0].entry_id, Uuid::from_u128(6));
        assert_eq!(ids(&report.ledger_duplicates, |record| &record.channel_txn_id), ["F"]);
        assert_eq!(ids(&report.ledger_outside_window, |record| &record.channel_txn_id), ["G", "H"]);
        let summary = &report.summary;
        assert_eq!((summary.matched.count, summary.matched.statement_net.to_string()), (3, "57.00".to_string()));
        assert_eq!(summary.statement, SideTotals { count: 7, payments: dec!(160), refunds: dec!(3), net: dec!(157) });
        assert_eq!(
            summary.ledger,
            SideTotals { count: 9, payments: dec!(400.01), refunds: dec!(3), net: dec!(397.01) }
        );

        // Without drift, E is an overage here (and a shortage of the day before).
        let strict = reconcile(&statement, &ledger, &MatchConfig::default(), WINDOW).expect("valid");
        assert_eq!(ids(&strict.overage, |line| &line.channel_txn_id), ["B", "E"]);
        assert!(strict.ledger_outside_window.iter().any(|record| record.channel_txn_id == "E"));
        // With a tolerance of a fen, C matches.
        let tolerant = MatchConfig { date_drift_seconds: 5, amount_tolerance: dec!(0.01) };
        let report = reconcile(&statement, &ledger, &tolerant, WINDOW).expect("valid");
        assert!(report.amount_mismatch.is_empty());
        assert_eq!(report.matched.len(), 4);
    }

    #[test]
    fn rejections() {
        fn check(config: MatchConfig, window: ReconciliationWindow, expected: &str) {
            let actual = reconcile(&[], &[], &config, window).map(|_| ());
            assert_eq!(actual.map_err(|error| error.code()), Err(expected));
        }
        let config = MatchConfig::default();
        check(config, ReconciliationWindow { start: 5, end: 5 }, "invalid_window");
        check(MatchConfig { date_drift_seconds: -1, ..config }, WINDOW, "invalid_match_config");
        check(MatchConfig { date_drift_seconds: DATE_DRIFT_SECONDS_MAX + 1, ..config }, WINDOW, "invalid_match_config");
        check(MatchConfig { amount_tolerance: dec!(-0.01), ..config }, WINDOW, "invalid_match_config");
        check(MatchConfig { amount_tolerance: dec!(0.001), ..config }, WINDOW, "invalid_match_config");
        assert!(
            reconcile(&[], &[], &MatchConfig { date_drift_seconds: DATE_DRIFT_SECONDS_MAX, ..config }, WINDOW).is_ok()
        );
        let negative = [line("A", 0, dec!(-1), Payment, Success)];
        assert_eq!(reconcile(&negative, &[], &config, WINDOW).map(|_| ()).map_err(|e| e.code()), Err("invalid_amount"));
    }
}
