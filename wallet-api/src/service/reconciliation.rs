//! Reconciliation of a payment channel's daily statement against the ledger's top-ups of that
//! channel, and the resolution of its breaks by balanced entries.
//!
//! The rules are `settlement::reconciliation`'s (the parsers of the generic CSV, the WeChat Pay
//! trade bill and the GBK Alipay business-detail bill; the matcher; the resolution entries); this
//! module selects the ledger side from the projection (the channel's top-ups committed in the
//! business day widened by the date drift), records the outcome and posts resolutions.
//!
//! A run is recorded as notes in one linked group: its breaks in chunks (a note carries at most
//! 16 KiB) and then the run with its counts and totals. Its id derives from the statement and the
//! matching rules, so posting the same statement twice answers the first report. A break's id
//! derives from what it is about (channel, transaction, kind), not from the run, so the same
//! break seen by two runs is resolved at most once: the resolution's note and entry ids derive
//! from the break id.

use super::error::{from_rejection, ErrorClass, ServiceError};
use super::model::Principal;
use super::notes::{self, BreakKind, BreakLedgerSide, BreakRecord, BreakStatementSide};
use super::{fen, ids, Answer, IdempotencyRequest, Service};
use ledger::{AccountId, Command, EntrySpec, PostingSpec, RejectionCode};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use settlement::business_day::BusinessDay;
use settlement::reconciliation::matcher::{
    reconcile, BucketSummary, LedgerRecord, MatchConfig, MatchedPair, ReconciliationWindow, SideTotals,
    DATE_DRIFT_SECONDS_MAX,
};
use settlement::reconciliation::resolution::{resolution_entry, AccountRole, Break, ResolutionAction};
use settlement::reconciliation::{
    alipay, generic, wechat, StatementError, StatementLine, TransactionKind, TransactionStatus,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// Most lines a statement may have (a busy channel day is tens of thousands of transactions; a
/// file far beyond that is the wrong file, and parsing it would hold a core for seconds).
pub const STATEMENT_LINES_MAX: usize = 200_000;
/// Most breaks one run records. A statement that far from the ledger is a wrong file or a wrong
/// day, not a day to work break by break; the run is refused and nothing is recorded.
pub const BREAKS_PER_RUN_MAX: usize = 5_000;
/// Breaks per note: a break is at most about 500 bytes of JSON, a note at most 16 KiB (the unit
/// test below encodes a chunk of the largest breaks).
const BREAKS_PER_NOTE: usize = 25;
// A run's notes (its break chunks and the run) commit as one linked group.
const _: () = assert!(BREAKS_PER_RUN_MAX.div_ceil(BREAKS_PER_NOTE) < ledger::command::LINKED_COMMANDS_MAX);
/// Longest free-text note on a resolution, in bytes.
pub const RESOLUTION_NOTE_BYTES_MAX: usize = 256;

/// The layout of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatementFormat {
    /// `channel_txn_id,time,amount,status` (UTF-8).
    #[default]
    Generic,
    /// The WeChat Pay `ALL` trade bill (UTF-8, backtick-prefixed values).
    Wechat,
    /// The Alipay business-detail bill (GBK bytes in `statement_base64`, or its text).
    Alipay,
}

impl StatementFormat {
    pub const fn as_str(self) -> &'static str {
        match self {
            StatementFormat::Generic => "generic",
            StatementFormat::Wechat => "wechat",
            StatementFormat::Alipay => "alipay",
        }
    }
}

/// The statement as sent: text, or bytes (decoded from base64; GBK for Alipay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatementInput {
    Text(String),
    Bytes(Vec<u8>),
}

impl StatementInput {
    fn bytes(&self) -> &[u8] {
        match self {
            StatementInput::Text(text) => text.as_bytes(),
            StatementInput::Bytes(bytes) => bytes,
        }
    }
}

/// A reconciliation to run, parsed at the edge.
#[derive(Debug, Clone)]
pub struct ReconciliationInput {
    pub channel: String,
    pub format: StatementFormat,
    /// The business day; `None` reads it off the statement (every line must fall in one day).
    pub day: Option<BusinessDay>,
    pub statement: StatementInput,
    pub date_drift_seconds: i64,
    pub amount_tolerance: Decimal,
}

/// How a break is worked to an end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionActionName {
    /// An adjusting entry between the channel clearing account and the customer's wallet.
    Adjust,
    /// The channel holds money that belongs back to its payer: moved to the channel refund payable.
    Refund,
    /// The difference is written off (reconciliation write-off, code 6711).
    WriteOff,
}

impl ResolutionActionName {
    pub const fn as_str(self) -> &'static str {
        match self {
            ResolutionActionName::Adjust => "adjust",
            ResolutionActionName::Refund => "refund",
            ResolutionActionName::WriteOff => "write_off",
        }
    }

    fn parse(name: &str) -> Option<ResolutionActionName> {
        [ResolutionActionName::Adjust, ResolutionActionName::Refund, ResolutionActionName::WriteOff]
            .into_iter()
            .find(|action| action.as_str() == name)
    }
}

/// A resolution to post, parsed at the edge.
#[derive(Debug, Clone)]
pub struct ResolutionInput {
    pub action: ResolutionActionName,
    pub amount: Decimal,
    pub note: Option<String>,
    pub wallet_id: Option<Uuid>,
}

/// Count and net totals (payments − refunds) of one bucket, on each side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BucketView {
    pub count: u64,
    #[schema(value_type = crate::http::extract::DecimalString, example = "120.00")]
    pub statement_total: Decimal,
    #[schema(value_type = crate::http::extract::DecimalString, example = "120.00")]
    pub ledger_total: Decimal,
}

impl From<BucketSummary> for BucketView {
    fn from(bucket: BucketSummary) -> BucketView {
        BucketView {
            count: bucket.count as u64,
            statement_total: fen(bucket.statement_net),
            ledger_total: fen(bucket.ledger_net),
        }
    }
}

/// Everything on one side (statement or ledger), whatever bucket it fell in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SideTotalsView {
    pub count: u64,
    #[schema(value_type = crate::http::extract::DecimalString, example = "179.90")]
    pub payments: Decimal,
    #[schema(value_type = crate::http::extract::DecimalString, example = "3.30")]
    pub refunds: Decimal,
    #[schema(value_type = crate::http::extract::DecimalString, example = "176.60")]
    pub net: Decimal,
}

impl From<SideTotals> for SideTotalsView {
    fn from(side: SideTotals) -> SideTotalsView {
        SideTotalsView {
            count: side.count as u64,
            payments: fen(side.payments),
            refunds: fen(side.refunds),
            net: fen(side.net),
        }
    }
}

/// The balance-level proof: how the channel's clearing account moved over the business day,
/// against the statement's net, and whether the breaks explain the whole difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BalanceProofView {
    /// Chart code of the channel's clearing account (1122).
    pub clearing_account_code: u32,
    /// Debits less credits posted on the clearing account during the day, as committed now.
    #[schema(value_type = crate::http::extract::DecimalString, example = "176.60")]
    pub clearing_movement: Decimal,
    #[schema(value_type = crate::http::extract::DecimalString, example = "176.60")]
    pub statement_net: Decimal,
    /// statement_net − clearing_movement.
    #[schema(value_type = crate::http::extract::DecimalString, example = "0.00")]
    pub difference: Decimal,
    /// The breaks' channel excess, summed (what the channel shows beyond the ledger).
    #[schema(value_type = crate::http::extract::DecimalString, example = "0.00")]
    pub explained_by_breaks: Decimal,
    /// difference − explained_by_breaks: zero when every fen of difference is a listed break.
    #[schema(value_type = crate::http::extract::DecimalString, example = "0.00")]
    pub unexplained: Decimal,
    pub ties: bool,
}

/// Whether a break still needs work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakStatus {
    Open,
    Resolved,
}

/// Who resolved a break.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ResolvedBy {
    #[schema(example = "finance")]
    pub role: String,
    /// The token's subject (null for admin and finance tokens).
    #[schema(required = true)]
    pub subject_id: Option<Uuid>,
    /// The token used.
    pub token_id: Uuid,
}

/// A break's resolution: the entry posted and who asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ResolutionView {
    pub break_id: Uuid,
    /// The report the resolution was asked through.
    pub reconciliation_id: Uuid,
    pub action: ResolutionActionName,
    #[schema(value_type = crate::http::extract::DecimalString, example = "20.00")]
    pub amount: Decimal,
    #[schema(required = true)]
    pub note: Option<String>,
    /// The balanced entry posted.
    pub entry_id: Uuid,
    pub debit_account: Uuid,
    pub credit_account: Uuid,
    /// `channel_clearing`, `customer_wallet`, `channel_refund_payable`, `reconciliation_gain` or
    /// `reconciliation_loss` (both on the write-off account).
    #[schema(example = "channel_clearing")]
    pub debit_role: String,
    #[schema(example = "customer_wallet")]
    pub credit_role: String,
    /// The customer wallet the entry moved, if it moved one.
    #[schema(required = true)]
    pub wallet_id: Option<Uuid>,
    pub resolved_by: ResolvedBy,
    pub resolved_at: String,
}

/// One break of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BreakView {
    pub break_id: Uuid,
    #[serde(rename = "type")]
    pub kind: BreakKind,
    pub channel_txn_id: String,
    /// `payment` or `refund`.
    #[schema(example = "payment")]
    pub transaction: String,
    /// The statement's amount (null when the statement lacks the transaction).
    #[schema(value_type = Option<crate::http::extract::DecimalString>, required = true)]
    pub statement_amount: Option<Decimal>,
    /// The ledger's amount (null when the ledger lacks the transaction).
    #[schema(value_type = Option<crate::http::extract::DecimalString>, required = true)]
    pub ledger_amount: Option<Decimal>,
    /// What the channel holds beyond the ledger, signed (statement − ledger, refunds negative).
    #[schema(value_type = crate::http::extract::DecimalString, example = "20.00")]
    pub channel_excess: Decimal,
    /// `success`, `refunded`, `failed` or `processing`.
    #[schema(required = true)]
    pub statement_status: Option<String>,
    #[schema(required = true)]
    pub ledger_status: Option<String>,
    /// RFC 3339.
    #[schema(required = true)]
    pub statement_at: Option<String>,
    #[schema(required = true)]
    pub ledger_at: Option<String>,
    /// The statement line the transaction was read from.
    #[schema(required = true)]
    pub statement_line: Option<u64>,
    /// The top-up's entry.
    #[schema(required = true)]
    pub entry_id: Option<Uuid>,
    /// The wallet the top-up credited.
    #[schema(required = true)]
    pub wallet_id: Option<Uuid>,
    /// Whether an entry can resolve it (status mismatches and duplicates are worked with the
    /// channel, not posted).
    pub resolvable: bool,
    pub status: BreakStatus,
    #[schema(required = true)]
    pub resolution: Option<ResolutionView>,
}

/// A reconciliation report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReconciliationReport {
    /// Derived from the statement and the matching rules: the same statement is the same report.
    pub id: Uuid,
    #[schema(example = "wechat")]
    pub channel: String,
    pub format: StatementFormat,
    #[schema(example = "2026-03-01")]
    pub date: String,
    pub date_drift_seconds: i64,
    #[schema(value_type = crate::http::extract::DecimalString, example = "0.00")]
    pub amount_tolerance: Decimal,
    pub statement_sha256: String,
    /// Transactions read from the statement.
    pub statement_lines: u64,
    pub created_at: String,
    /// 一致: on both sides, same amount (within the tolerance) and status.
    pub matched: BucketView,
    /// 长款: in the statement, not in the ledger.
    pub overage: BucketView,
    /// 短款: in the ledger, not in the statement.
    pub shortage: BucketView,
    /// 金额不一致.
    pub amount_mismatch: BucketView,
    pub status_mismatch: BucketView,
    pub statement_duplicates: BucketView,
    pub ledger_duplicates: BucketView,
    /// Ledger top-ups inside the drift but outside the day that the statement did not name
    /// (the neighbouring day's; not breaks).
    pub ledger_outside_window: BucketView,
    pub statement_totals: SideTotalsView,
    pub ledger_totals: SideTotalsView,
    pub balance_proof: BalanceProofView,
    /// Breaks not yet resolved (resolvable or not).
    pub open_breaks: u64,
    pub breaks: Vec<BreakView>,
}

fn internal(detail: impl Into<String>) -> ServiceError {
    ServiceError::new(ErrorClass::Internal, "internal_error", detail)
}

fn unprocessable(code: &'static str, detail: impl Into<String>) -> ServiceError {
    ServiceError::new(ErrorClass::Unprocessable, code, detail)
}

fn seconds(at: ledger::Timestamp) -> i64 {
    at.unix_micros().div_euclid(1_000_000)
}

fn rfc3339_of_seconds(at: i64) -> String {
    crate::time::format_rfc3339(ledger::Timestamp::from_unix_seconds(at))
}

fn transaction_name(kind: TransactionKind) -> &'static str {
    match kind {
        TransactionKind::Payment => "payment",
        TransactionKind::Refund => "refund",
    }
}

fn status_name(status: TransactionStatus) -> &'static str {
    match status {
        TransactionStatus::Success => "success",
        TransactionStatus::Refunded => "refunded",
        TransactionStatus::Failed => "failed",
        TransactionStatus::Processing => "processing",
    }
}

fn role_name(role: AccountRole) -> &'static str {
    match role {
        AccountRole::ChannelClearing => "channel_clearing",
        AccountRole::CustomerWallet => "customer_wallet",
        AccountRole::ChannelRefundPayable => "channel_refund_payable",
        AccountRole::ReconciliationGain => "reconciliation_gain",
        AccountRole::ReconciliationLoss => "reconciliation_loss",
    }
}

/// Parses a statement in its format (pure; run off the async threads).
fn parse_statement(format: StatementFormat, statement: &StatementInput) -> Result<Vec<StatementLine>, StatementError> {
    let text = |bytes: &[u8]| -> Result<String, StatementError> {
        String::from_utf8(bytes.to_vec()).map_err(|error| StatementError::Malformed {
            line_number: 1 + bytes[..error.utf8_error().valid_up_to()].iter().filter(|byte| **byte == b'\n').count(),
            reason: "not UTF-8 text".into(),
        })
    };
    match (format, statement) {
        (StatementFormat::Alipay, StatementInput::Bytes(bytes)) => alipay::parse_alipay_business_detail(bytes),
        (StatementFormat::Alipay, StatementInput::Text(text)) => alipay::parse_alipay_business_detail_text(text),
        (StatementFormat::Generic, StatementInput::Text(text)) => generic::parse_generic_csv(text),
        (StatementFormat::Generic, StatementInput::Bytes(bytes)) => generic::parse_generic_csv(&text(bytes)?),
        (StatementFormat::Wechat, StatementInput::Text(text)) => wechat::parse_wechat_trade_bill(text),
        (StatementFormat::Wechat, StatementInput::Bytes(bytes)) => wechat::parse_wechat_trade_bill(&text(bytes)?),
    }
}

/// The one business day every line of a statement falls in, for a request that names none.
fn statement_day(lines: &[StatementLine]) -> Result<BusinessDay, ServiceError> {
    let mut days = lines.iter().map(|line| settlement::business_day::business_day_of(line.at));
    let needs_date = |why: &str| ServiceError::validation(format!("{why}: name the business day in date"));
    let first = days.next().ok_or_else(|| needs_date("the statement has no lines to read a day from"))?;
    let first = first.map_err(|_| needs_date("a line's time is outside the supported calendar"))?;
    for day in days {
        if day.map_err(|_| needs_date("a line's time is outside the supported calendar"))? != first {
            return Err(needs_date("the statement's lines fall in more than one business day"));
        }
    }
    Ok(first)
}

/// SHA-256 over everything that decides a run's outcome apart from the ledger.
fn fingerprint(input: &ReconciliationInput) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [
        input.channel.as_bytes(),
        input.format.as_str().as_bytes(),
        // No date: the day is read off the statement, which these bytes decide.
        input.day.map(|day| day.to_string()).unwrap_or_default().as_bytes(),
        &input.date_drift_seconds.to_be_bytes(),
        input.amount_tolerance.normalize().to_string().as_bytes(),
        match input.statement {
            StatementInput::Text(_) => b"text",
            StatementInput::Bytes(_) => b"bytes",
        },
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.update(input.statement.bytes());
    hasher.finalize().into()
}

fn statement_side(line: &StatementLine) -> BreakStatementSide {
    BreakStatementSide { at: line.at, amount: line.amount, status: line.status, line: line.raw_line_number as u64 }
}

fn ledger_side(record: &LedgerRecord, wallets: &HashMap<Uuid, Uuid>) -> BreakLedgerSide {
    BreakLedgerSide {
        at: record.at,
        amount: record.amount,
        status: record.status,
        entry_id: record.entry_id,
        wallet_id: wallets.get(&record.entry_id).copied(),
    }
}

/// The settlement crate's break for a recorded one (only the kinds an entry can resolve).
fn settlement_break(record: &BreakRecord) -> Option<Break> {
    let line = record.statement.as_ref().map(|side| StatementLine {
        channel_txn_id: record.channel_txn_id.clone(),
        at: side.at,
        amount: side.amount,
        kind: record.transaction,
        status: side.status,
        raw_line_number: usize::try_from(side.line).unwrap_or(usize::MAX),
    });
    let ledger = record.ledger.as_ref().map(|side| LedgerRecord {
        channel_txn_id: record.channel_txn_id.clone(),
        at: side.at,
        amount: side.amount,
        kind: record.transaction,
        status: side.status,
        entry_id: side.entry_id,
    });
    match (record.kind, line, ledger) {
        (BreakKind::Overage, Some(line), _) => Some(Break::Overage { line }),
        (BreakKind::Shortage, _, Some(record)) => Some(Break::Shortage { record }),
        (BreakKind::AmountMismatch, Some(statement), Some(ledger)) => {
            let difference = fen(statement.amount - ledger.amount);
            Some(Break::AmountMismatch { pair: MatchedPair { statement, ledger, difference } })
        }
        _ => None,
    }
}

impl Service {
    /// Reconciles a channel statement for one business day against the channel's top-ups and
    /// records the report. The same statement (and rules) again answers the first report.
    pub async fn reconcile_statement(
        &self,
        principal: &Principal,
        input: ReconciliationInput,
    ) -> Result<ReconciliationReport, ServiceError> {
        if !principal.role.is_staff() {
            return Err(ServiceError::forbidden("reconciliations are run by admin or finance"));
        }
        if !ids::CHANNELS.contains(&input.channel.as_str()) {
            return Err(unprocessable("unknown_channel", format!("channel must be one of {:?}", ids::CHANNELS)));
        }
        let fits_channel = match input.format {
            StatementFormat::Generic => true,
            StatementFormat::Wechat => input.channel == "wechat",
            StatementFormat::Alipay => input.channel == "alipay",
        };
        if !fits_channel {
            return Err(unprocessable(
                "format_not_for_channel",
                format!("a {} bill is not a statement of channel {}", input.format.as_str(), input.channel),
            ));
        }
        let config =
            MatchConfig { date_drift_seconds: input.date_drift_seconds, amount_tolerance: input.amount_tolerance };
        if !(0..=DATE_DRIFT_SECONDS_MAX).contains(&config.date_drift_seconds)
            || settlement::money::check_non_negative_amount(config.amount_tolerance).is_err()
        {
            return Err(unprocessable(
                "invalid_match_config",
                format!(
                    "date_drift_seconds must be 0 to {DATE_DRIFT_SECONDS_MAX} and amount_tolerance a non-negative \
                     amount in whole fen"
                ),
            ));
        }
        let run_id = ids::reconciliation_run(&fingerprint(&input));
        if let Some(report) = self.reconciliation_report(run_id) {
            return Ok(report);
        }
        let bytes = input.statement.bytes();
        let lines = bytes.iter().filter(|byte| **byte == b'\n').count()
            + usize::from(bytes.last().is_some_and(|last| *last != b'\n'));
        if lines > STATEMENT_LINES_MAX {
            return Err(unprocessable(
                "statement_too_large",
                format!("the statement has {lines} lines; at most {STATEMENT_LINES_MAX} are read"),
            ));
        }

        let format = input.format;
        let statement = input.statement.clone();
        let lines = tokio::task::spawn_blocking(move || parse_statement(format, &statement))
            .await
            .map_err(|_| internal("the statement was not read"))?
            .map_err(|error| unprocessable("statement_malformed", error.to_string()))?;
        let day = match input.day {
            Some(day) => day,
            None => statement_day(&lines)?,
        };

        // The ledger side: the channel's top-ups committed in the day widened by the drift.
        let window = ReconciliationWindow::business_day(day);
        let (from, to) = (window.start - input.date_drift_seconds, window.end + input.date_drift_seconds);
        let (records, wallets) = {
            let projection = self.projection.read();
            let mut records = Vec::new();
            let mut wallets = HashMap::new();
            for topup in projection.topups.values().filter(|topup| topup.channel == input.channel) {
                let at = seconds(topup.at);
                if at < from || at >= to {
                    continue;
                }
                wallets.insert(topup.entry_id, topup.wallet.0);
                records.push(LedgerRecord {
                    channel_txn_id: topup.channel_txn_id.clone(),
                    at,
                    amount: fen(topup.amount),
                    kind: TransactionKind::Payment,
                    status: TransactionStatus::Success,
                    entry_id: topup.entry_id,
                });
            }
            // Journal order, so duplicates and shortages are listed the same way every time.
            records.sort_by_key(|record| (record.at, record.entry_id));
            (records, wallets)
        };

        let parsed_lines = lines.len();
        let report = tokio::task::spawn_blocking(move || reconcile(&lines, &records, &config, window))
            .await
            .map_err(|_| internal("the reconciliation did not finish"))?
            .map_err(|error| unprocessable(error.code(), error.to_string()))?;

        let channel = input.channel.as_str();
        let break_id = |txn: &str, kind: TransactionKind, break_kind: BreakKind, copy: &str| {
            ids::reconciliation_break(channel, txn, transaction_name(kind), break_kind.as_str(), copy)
        };
        let mut breaks = Vec::new();
        for line in &report.overage {
            breaks.push(BreakRecord {
                break_id: break_id(&line.channel_txn_id, line.kind, BreakKind::Overage, ""),
                kind: BreakKind::Overage,
                channel_txn_id: line.channel_txn_id.clone(),
                transaction: line.kind,
                statement: Some(statement_side(line)),
                ledger: None,
            });
        }
        for record in &report.shortage {
            breaks.push(BreakRecord {
                break_id: break_id(&record.channel_txn_id, record.kind, BreakKind::Shortage, ""),
                kind: BreakKind::Shortage,
                channel_txn_id: record.channel_txn_id.clone(),
                transaction: record.kind,
                statement: None,
                ledger: Some(ledger_side(record, &wallets)),
            });
        }
        for (kind, pairs) in
            [(BreakKind::AmountMismatch, &report.amount_mismatch), (BreakKind::StatusMismatch, &report.status_mismatch)]
        {
            for pair in pairs {
                breaks.push(BreakRecord {
                    break_id: break_id(&pair.statement.channel_txn_id, pair.statement.kind, kind, ""),
                    kind,
                    channel_txn_id: pair.statement.channel_txn_id.clone(),
                    transaction: pair.statement.kind,
                    statement: Some(statement_side(&pair.statement)),
                    ledger: Some(ledger_side(&pair.ledger, &wallets)),
                });
            }
        }
        for line in &report.statement_duplicates {
            let copy = line.raw_line_number.to_string();
            breaks.push(BreakRecord {
                break_id: break_id(&line.channel_txn_id, line.kind, BreakKind::StatementDuplicate, &copy),
                kind: BreakKind::StatementDuplicate,
                channel_txn_id: line.channel_txn_id.clone(),
                transaction: line.kind,
                statement: Some(statement_side(line)),
                ledger: None,
            });
        }
        for record in &report.ledger_duplicates {
            let copy = record.entry_id.to_string();
            breaks.push(BreakRecord {
                break_id: break_id(&record.channel_txn_id, record.kind, BreakKind::LedgerDuplicate, &copy),
                kind: BreakKind::LedgerDuplicate,
                channel_txn_id: record.channel_txn_id.clone(),
                transaction: record.kind,
                statement: None,
                ledger: Some(ledger_side(record, &wallets)),
            });
        }
        if breaks.len() > BREAKS_PER_RUN_MAX {
            return Err(unprocessable(
                "too_many_breaks",
                format!(
                    "{} breaks; at most {BREAKS_PER_RUN_MAX} are recorded per run (is this the right file, day and \
                     channel?)",
                    breaks.len()
                ),
            ));
        }

        let chunks: Vec<Vec<BreakRecord>> = breaks.chunks(BREAKS_PER_NOTE).map(<[BreakRecord]>::to_vec).collect();
        let mut group = Vec::with_capacity(chunks.len() + 1);
        for (chunk, chunk_breaks) in chunks.into_iter().enumerate() {
            let chunk = u32::try_from(chunk).map_err(|_| internal("too many break chunks"))?;
            group.push(Command::Note {
                id: ids::reconciliation_breaks(run_id, chunk),
                kind: notes::RECONCILIATION_BREAKS.into(),
                payload: notes::encode(&notes::ReconciliationBreaks { run_id, chunk, breaks: chunk_breaks }),
            });
        }
        let run = notes::ReconciliationRun {
            id: run_id,
            channel: input.channel.clone(),
            format: input.format.as_str().into(),
            date: day.to_string(),
            date_drift_seconds: input.date_drift_seconds,
            amount_tolerance: input.amount_tolerance,
            statement_sha256: hex::encode(Sha256::digest(input.statement.bytes())),
            statement_lines: parsed_lines as u64,
            summary: report.summary,
            break_chunks: u32::try_from(group.len()).map_err(|_| internal("too many break chunks"))?,
            by_role: principal.role,
            by_subject_id: principal.subject_id,
            by_token_id: principal.token_id,
        };
        group.push(Command::Note {
            id: ids::note_for(run_id, "run"),
            kind: notes::RECONCILIATION_RUN.into(),
            payload: notes::encode(&run),
        });
        match self.submit_one(Command::Linked(group)).await? {
            Ok(_) => {}
            // Run concurrently (or by another token): the first run's report stands.
            Err(rejection) if rejection.code == RejectionCode::IdConflict => {}
            Err(rejection) => return Err(from_rejection(&rejection)),
        }
        self.reconciliation_report(run_id).ok_or_else(|| internal("a reconciliation run vanished"))
    }

    /// The channel clearing account's movement over the business day against the statement.
    /// Entries that resolve breaks are posted later and so stay outside the day's movement.
    fn balance_proof(&self, channel: &str, date: &str, statement_net: Decimal, explained: Decimal) -> BalanceProofView {
        let clearing = ids::channel_clearing_account(channel);
        let movement = BusinessDay::parse(date).ok().map_or(Decimal::ZERO, |day| {
            let (start, end) = settlement::business_day::day_bounds_utc(day);
            let at = |seconds: i64| ledger::AsOf::Time(ledger::Timestamp::from_unix_seconds(seconds).plus_micros(-1));
            let balance = |seconds: i64| {
                self.reader()
                    .balances_as_of(&clearing, at(seconds))
                    .map_or(0, |balances| balances.posted_on(ledger::Side::Debit))
            };
            ledger::Asset::Cny.decimal_from_minor(balance(end) - balance(start))
        });
        let difference = statement_net - movement;
        BalanceProofView {
            clearing_account_code: ledger::chart::CHANNEL_CLEARING.0,
            clearing_movement: fen(movement),
            statement_net: fen(statement_net),
            difference: fen(difference),
            explained_by_breaks: fen(explained),
            unexplained: fen(difference - explained),
            ties: difference == explained,
        }
    }

    /// A recorded report with the current status of each break.
    pub fn reconciliation_report(&self, id: Uuid) -> Option<ReconciliationReport> {
        let projection = self.projection.read();
        let run = projection.reconciliations.get(&id)?;
        let summary = &run.run.summary;
        let breaks: Vec<BreakView> = run
            .breaks
            .iter()
            .map(|record| {
                let resolution = projection
                    .reconciliation_resolutions
                    .get(&record.break_id)
                    .map(|(resolved, at)| resolution_view(resolved, *at));
                let channel_excess = settlement_break(record).map_or(Decimal::ZERO, |found| found.channel_excess());
                BreakView {
                    break_id: record.break_id,
                    kind: record.kind,
                    channel_txn_id: record.channel_txn_id.clone(),
                    transaction: transaction_name(record.transaction).into(),
                    statement_amount: record.statement.as_ref().map(|side| fen(side.amount)),
                    ledger_amount: record.ledger.as_ref().map(|side| fen(side.amount)),
                    channel_excess: fen(channel_excess),
                    statement_status: record.statement.as_ref().map(|side| status_name(side.status).into()),
                    ledger_status: record.ledger.as_ref().map(|side| status_name(side.status).into()),
                    statement_at: record.statement.as_ref().map(|side| rfc3339_of_seconds(side.at)),
                    ledger_at: record.ledger.as_ref().map(|side| rfc3339_of_seconds(side.at)),
                    statement_line: record.statement.as_ref().map(|side| side.line),
                    entry_id: record.ledger.as_ref().map(|side| side.entry_id),
                    wallet_id: record.ledger.as_ref().and_then(|side| side.wallet_id),
                    resolvable: matches!(
                        record.kind,
                        BreakKind::Overage | BreakKind::Shortage | BreakKind::AmountMismatch
                    ),
                    status: if resolution.is_some() { BreakStatus::Resolved } else { BreakStatus::Open },
                    resolution,
                }
            })
            .collect();
        let explained_by_breaks: Decimal = breaks.iter().map(|view| view.channel_excess).sum();
        let balance_proof =
            self.balance_proof(&run.run.channel, &run.run.date, fen(summary.statement.net), explained_by_breaks);
        let format = match run.run.format.as_str() {
            "wechat" => StatementFormat::Wechat,
            "alipay" => StatementFormat::Alipay,
            _ => StatementFormat::Generic,
        };
        Some(ReconciliationReport {
            id,
            channel: run.run.channel.clone(),
            format,
            date: run.run.date.clone(),
            date_drift_seconds: run.run.date_drift_seconds,
            amount_tolerance: fen(run.run.amount_tolerance),
            statement_sha256: run.run.statement_sha256.clone(),
            statement_lines: run.run.statement_lines,
            created_at: crate::time::format_rfc3339(run.at),
            matched: summary.matched.into(),
            overage: summary.overage.into(),
            shortage: summary.shortage.into(),
            amount_mismatch: summary.amount_mismatch.into(),
            status_mismatch: summary.status_mismatch.into(),
            statement_duplicates: summary.statement_duplicates.into(),
            ledger_duplicates: summary.ledger_duplicates.into(),
            ledger_outside_window: summary.ledger_outside_window.into(),
            statement_totals: summary.statement.into(),
            ledger_totals: summary.ledger.into(),
            balance_proof,
            open_breaks: breaks.iter().filter(|view| view.status == BreakStatus::Open).count() as u64,
            breaks,
        })
    }

    /// Resolves a break of a report with a balanced entry (`settlement`'s resolution rules) and
    /// records who did it. A break is resolved at most once.
    pub async fn resolve_break(
        &self,
        principal: &Principal,
        run_id: Uuid,
        break_id: Uuid,
        input: ResolutionInput,
        request: Option<&IdempotencyRequest>,
    ) -> Result<Answer, ServiceError> {
        if !principal.role.is_staff() {
            return Err(ServiceError::forbidden("breaks are resolved by admin or finance"));
        }
        match request {
            Some(request) => {
                self.idempotent(request, || self.resolve_break_once(principal, run_id, break_id, input, Some(request)))
                    .await
            }
            None => self.resolve_break_once(principal, run_id, break_id, input, None).await,
        }
    }

    async fn resolve_break_once(
        &self,
        principal: &Principal,
        run_id: Uuid,
        break_id: Uuid,
        input: ResolutionInput,
        request: Option<&IdempotencyRequest>,
    ) -> Result<Answer, ServiceError> {
        if input.note.as_ref().is_some_and(|note| note.len() > RESOLUTION_NOTE_BYTES_MAX) {
            return Err(ServiceError::validation(format!("note is at most {RESOLUTION_NOTE_BYTES_MAX} bytes")));
        }
        let (channel, record, wallet_customer) = {
            let projection = self.projection.read();
            let run = projection
                .reconciliations
                .get(&run_id)
                .ok_or_else(|| ServiceError::not_found(format!("no reconciliation {run_id}")))?;
            let record =
                run.breaks.iter().find(|record| record.break_id == break_id).cloned().ok_or_else(|| {
                    ServiceError::not_found(format!("reconciliation {run_id} has no break {break_id}"))
                })?;
            if projection.reconciliation_resolutions.contains_key(&break_id) {
                return Err(already_resolved(break_id));
            }
            let wallet_customer =
                input.wallet_id.map(|wallet| (wallet, projection.customer_by_wallet.get(&AccountId(wallet)).copied()));
            (run.run.channel.clone(), record, wallet_customer)
        };
        let Some(found) = settlement_break(&record) else {
            return Err(unprocessable(
                "not_resolvable_by_entry",
                format!(
                    "a {} is worked out with the channel (a status or a duplicate), not by an entry",
                    record.kind.as_str()
                ),
            ));
        };
        let action = match input.action {
            ResolutionActionName::Adjust => ResolutionAction::Adjust { amount: input.amount },
            ResolutionActionName::Refund => ResolutionAction::Refund { amount: input.amount },
            ResolutionActionName::WriteOff => ResolutionAction::WriteOff { amount: input.amount },
        };
        let entry = resolution_entry(&found, action).map_err(|error| unprocessable(error.code(), error.to_string()))?;

        // The wallet: the top-up's for a shortage or mismatch; named in the body for an overage.
        let break_wallet = record.ledger.as_ref().and_then(|side| side.wallet_id);
        let named_wallet = match wallet_customer {
            None => None,
            Some((wallet, Some(customer))) => Some((wallet, customer)),
            Some((wallet, None)) => {
                return Err(unprocessable("wallet_unknown", format!("{wallet} is not a customer wallet")));
            }
        };
        if let (Some(break_wallet), Some((named, _))) = (break_wallet, named_wallet) {
            if break_wallet != named {
                return Err(ServiceError::validation(format!(
                    "the break's top-up was booked to wallet {break_wallet}, not {named}"
                )));
            }
        }
        let moves_wallet = entry.debit == AccountRole::CustomerWallet || entry.credit == AccountRole::CustomerWallet;
        let wallet = if moves_wallet {
            let customer_of = |wallet: Uuid| self.projection.read().customer_by_wallet.get(&AccountId(wallet)).copied();
            match (break_wallet, named_wallet) {
                (Some(wallet), _) => {
                    Some((wallet, customer_of(wallet).ok_or_else(|| internal("a top-up's wallet has no customer"))?))
                }
                (None, Some(named)) => Some(named),
                (None, None) => {
                    return Err(unprocessable(
                        "wallet_unknown",
                        "the ledger has no top-up for this transaction: name the wallet to adjust in wallet_id",
                    ));
                }
            }
        } else {
            None
        };
        let account_of = |role: AccountRole| match role {
            AccountRole::ChannelClearing => ids::channel_clearing_account(&channel),
            AccountRole::CustomerWallet => AccountId(wallet.map_or(Uuid::nil(), |(wallet, _)| wallet)),
            AccountRole::ChannelRefundPayable => ids::channel_refund_payable_account(),
            AccountRole::ReconciliationGain | AccountRole::ReconciliationLoss => {
                ids::reconciliation_write_off_account()
            }
        };
        let (debit_account, credit_account) = (account_of(entry.debit), account_of(entry.credit));
        let entry_id = ids::entry_for(break_id, "resolution");
        let note = notes::BreakResolved {
            break_id,
            run_id,
            channel: channel.clone(),
            channel_txn_id: record.channel_txn_id.clone(),
            action: input.action.as_str().into(),
            amount: entry.amount,
            note: input.note.clone(),
            entry_id: entry_id.0,
            debit_account: debit_account.0,
            credit_account: credit_account.0,
            debit_role: entry.debit,
            credit_role: entry.credit,
            wallet_id: wallet.map(|(wallet, _)| wallet),
            by_role: principal.role,
            by_subject_id: principal.subject_id,
            by_token_id: principal.token_id,
        };
        let mut group = vec![
            Command::Note {
                id: ids::note_for(break_id, "resolution"),
                kind: notes::BREAK_RESOLVED.into(),
                payload: notes::encode(&note),
            },
            Command::Post(EntrySpec {
                id: entry_id,
                category: "reconciliation".into(),
                memo: format!("{} {} {channel} {}", input.action.as_str(), record.kind.as_str(), record.channel_txn_id),
                postings: vec![
                    PostingSpec::debit(debit_account, entry.amount),
                    PostingSpec::credit(credit_account, entry.amount),
                ],
                hold: None,
            }),
        ];
        if let Some(request) = request {
            group.push(self.claim(request, "reconciliation_resolution", break_id));
        }
        // A wallet debit or credit runs with the customer's other balance changes, one at a time.
        let _guard = match wallet {
            Some((_, customer)) => Some(self.lock_customer(customer).await),
            None => None,
        };
        match self.submit_one(Command::Linked(group)).await? {
            Ok(_) => self.render_resolution(break_id),
            Err(rejection) => Err(match (rejection.code, rejection.linked_index) {
                (RejectionCode::IdConflict, Some(0 | 1)) => already_resolved(break_id),
                (RejectionCode::IdConflict, _) => super::idempotency_conflict(),
                _ => from_rejection(&rejection),
            }),
        }
    }

    /// The answer of a resolution (a function of the journal, so a replay renders it again).
    pub(super) fn render_resolution(&self, break_id: Uuid) -> Result<Answer, ServiceError> {
        let view = self
            .projection
            .read()
            .reconciliation_resolutions
            .get(&break_id)
            .map(|(resolved, at)| resolution_view(resolved, *at))
            .ok_or_else(|| internal(format!("the resolution of {break_id} is missing")))?;
        let body = serde_json::to_value(&view).map_err(|error| internal(error.to_string()))?;
        Ok(Answer { status: 201, body })
    }
}

fn already_resolved(break_id: Uuid) -> ServiceError {
    ServiceError::new(ErrorClass::Conflict, "break_already_resolved", format!("break {break_id} is already resolved"))
}

fn resolution_view(resolved: &notes::BreakResolved, at: ledger::Timestamp) -> ResolutionView {
    ResolutionView {
        break_id: resolved.break_id,
        reconciliation_id: resolved.run_id,
        action: ResolutionActionName::parse(&resolved.action).unwrap_or(ResolutionActionName::Adjust),
        amount: fen(resolved.amount),
        note: resolved.note.clone(),
        entry_id: resolved.entry_id,
        debit_account: resolved.debit_account,
        credit_account: resolved.credit_account,
        debit_role: role_name(resolved.debit_role).into(),
        credit_role: role_name(resolved.credit_role).into(),
        wallet_id: resolved.wallet_id,
        resolved_by: ResolvedBy {
            role: resolved.by_role.as_str().into(),
            subject_id: resolved.by_subject_id,
            token_id: resolved.by_token_id,
        },
        resolved_at: crate::time::format_rfc3339(at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_utf8_statement_names_its_line() {
        let bytes = b"channel_txn_id,time,amount,status\nT1,\xff".to_vec();
        let error = parse_statement(StatementFormat::Generic, &StatementInput::Bytes(bytes)).unwrap_err();
        assert_eq!(error.to_string(), "statement line 2: not UTF-8 text");
    }

    #[test]
    fn a_chunk_of_the_largest_breaks_fits_in_a_note() {
        let amount = settlement::money::AMOUNT_YUAN_MAX;
        let largest = BreakRecord {
            break_id: Uuid::from_u128(u128::MAX),
            kind: BreakKind::StatementDuplicate,
            // A quote is escaped to two bytes: the longest id in JSON.
            channel_txn_id: "\"".repeat(settlement::reconciliation::generic::CHANNEL_TXN_ID_BYTES_MAX),
            transaction: TransactionKind::Payment,
            statement: Some(BreakStatementSide {
                at: i64::MIN,
                amount,
                status: TransactionStatus::Processing,
                line: u64::MAX,
            }),
            ledger: Some(BreakLedgerSide {
                at: i64::MIN,
                amount,
                status: TransactionStatus::Processing,
                entry_id: Uuid::from_u128(u128::MAX),
                wallet_id: Some(Uuid::from_u128(u128::MAX)),
            }),
        };
        let chunk = notes::ReconciliationBreaks {
            run_id: Uuid::from_u128(u128::MAX),
            chunk: u32::MAX,
            breaks: vec![largest; BREAKS_PER_NOTE],
        };
        let size = notes::encode(&chunk).len();
        assert!(size <= ledger::command::NOTE_PAYLOAD_BYTES_MAX, "{size} bytes");
    }

    #[test]
    fn the_fingerprint_covers_rules_and_bytes() {
        let day = BusinessDay::parse("2026-03-01").unwrap();
        let input = ReconciliationInput {
            channel: "wechat".into(),
            format: StatementFormat::Generic,
            day: Some(day),
            statement: StatementInput::Text("a".into()),
            date_drift_seconds: 0,
            amount_tolerance: Decimal::ZERO,
        };
        let same = ReconciliationInput { amount_tolerance: Decimal::new(0, 2), ..input.clone() };
        assert_eq!(fingerprint(&input), fingerprint(&same));
        let drift = ReconciliationInput { date_drift_seconds: 5, ..input.clone() };
        assert_ne!(fingerprint(&input), fingerprint(&drift));
        let bytes = ReconciliationInput { statement: StatementInput::Bytes(b"a".to_vec()), ..input.clone() };
        assert_ne!(fingerprint(&input), fingerprint(&bytes));
    }
}
