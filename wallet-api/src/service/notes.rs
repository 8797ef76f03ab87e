//! The facts the service keeps in the ledger's journal as notes (records that move no money).
//! Each is JSON inside a `RecordBody::Note`, under a kind, and is replayed into the projection
//! on start. Amounts are decimal strings, like everywhere at the edges.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::{BillingMode, Role};

pub const CUSTOMER_REGISTERED: &str = "customer_registered";
pub const MERCHANT_REGISTERED: &str = "merchant_registered";
pub const TECHNICIAN_REGISTERED: &str = "technician_registered";
pub const CONCENTRATOR_REGISTERED: &str = "concentrator_registered";
pub const TOKEN_ISSUED: &str = "token_issued";
pub const PAYMENT_CODE_ISSUED: &str = "payment_code_issued";
pub const PAYMENT_CODE_USED: &str = "payment_code_used";
pub const PAYMENT_MADE: &str = "payment_made";
pub const REFUND_MADE: &str = "refund_made";
pub const TOPUP_RECEIVED: &str = "topup_received";
pub const IDEMPOTENCY_CLAIMED: &str = "idempotency_claimed";
pub const IDEMPOTENCY_ANSWERED: &str = "idempotency_answered";
pub const WEBHOOK_REGISTERED: &str = "webhook_registered";
pub const WEBHOOK_PROGRESS: &str = "webhook_progress";
pub const METER_REGISTERED: &str = "meter_registered";
pub const READING_ACCEPTED: &str = "reading_accepted";
pub const VALVE_CHANGED: &str = "valve_changed";
pub const SELF_READING_RECORDED: &str = "self_reading_recorded";
pub const METER_ROLLOVER_DECLARED: &str = "meter_rollover_declared";
pub const METER_REPLACED: &str = "meter_replaced";
pub const MONTHLY_BILL_ISSUED: &str = "monthly_bill_issued";

/// A monthly customer's bill for one calendar month (Beijing time), debited on its due date:
/// the readings it covers, what they cost, and how it was paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthlyBillIssued {
    pub id: Uuid,
    pub customer_id: Uuid,
    /// `YYYY-MM`.
    pub month: String,
    /// Record ids of the accepted readings it covers.
    pub readings: Vec<Uuid>,
    pub volume: Decimal,
    pub total: Decimal,
    pub charged: Decimal,
    pub arrears: Decimal,
    /// Microseconds since the epoch.
    pub due_at: i64,
}

/// The meter's register rolled over (passed 99999.999 and restarted at 0) after its last reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterRolloverDeclared {
    pub meter_id: Uuid,
    /// The counter of the last reading before the rollover.
    pub after_counter: u64,
}

/// A meter was replaced: its final reading was charged and a new meter took over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterReplaced {
    pub old_meter_id: Uuid,
    pub new_meter_id: Uuid,
    pub final_register: Decimal,
    pub final_read_at: i64,
}

/// A customer's own reading of the register (with a photo reference): provisional, priced as an
/// estimate, never charged; the next signed reading settles it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfReadingRecorded {
    pub id: Uuid,
    pub meter_id: Uuid,
    pub customer_id: Uuid,
    pub register: Decimal,
    pub read_at: i64,
    pub photo_ref: Option<String>,
    pub estimated_volume: Decimal,
    pub estimated_charge: Decimal,
}
/// Payload: a whole `crate::metering::tariff::Tariff` (all its versions).
pub const TARIFF_SET: &str = "tariff_set";
pub const VALVE_CLOSE_DEFERRED: &str = "valve_close_deferred";

/// The valve of a customer's meters moved to a new state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValveChanged {
    pub customer_id: Uuid,
    pub state: crate::metering::valve::ValveState,
    /// `arrears`, `arrears_paid`, `button_pressed`, `deferred_close_due`.
    pub reason: String,
}

/// A close was due inside friendly-credit hours and waits until `until` (microseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValveCloseDeferred {
    pub customer_id: Uuid,
    pub until: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterRegistered {
    pub id: Uuid,
    pub serial: String,
    pub customer_id: Uuid,
    /// ed25519 public key, 64 hex characters.
    pub public_key: String,
    pub max_flow_m3_per_h: Decimal,
    pub initial_register: Decimal,
    /// Microseconds since the epoch.
    pub installed_at: i64,
}

/// An accepted reading with its pricing: the e-bill line is rebuilt from this alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadingAccepted {
    pub meter_id: Uuid,
    pub customer_id: Uuid,
    pub counter: u64,
    pub register: Decimal,
    pub read_at: i64,
    pub previous_register: Decimal,
    pub previous_read_at: i64,
    pub volume: Decimal,
    pub lines: Vec<crate::metering::tariff::ChargeLine>,
    pub total: Decimal,
    /// Paid from the wallet now.
    pub charged: Decimal,
    /// Booked as arrears (the wallet could not pay).
    pub arrears: Decimal,
    pub tier_year_start: chrono::NaiveDate,
    pub annual_volume_after: Decimal,
    /// False in monthly mode: priced for the bill, charged on the due date.
    pub billed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRegistered {
    pub id: Uuid,
    pub name: String,
    pub household_size: u8,
    pub tariff: String,
    pub billing_mode: BillingMode,
    pub wallet_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantRegistered {
    pub id: Uuid,
    pub name: String,
    pub fee_rate: Decimal,
    pub payable_account: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyRegistered {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenIssued {
    pub token_id: Uuid,
    /// SHA-256 of the token, hex. The token itself is shown once and never stored.
    pub token_hash: String,
    pub role: Role,
    pub subject_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentCodeIssued {
    pub code: String,
    pub wallet_id: Uuid,
    pub customer_id: Uuid,
    pub max_amount: Option<Decimal>,
    /// Microseconds since the epoch.
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentCodeUsed {
    pub code: String,
    pub payment_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentMade {
    pub id: Uuid,
    pub entry_id: Uuid,
    pub code: String,
    pub wallet_id: Uuid,
    pub customer_id: Uuid,
    pub merchant_id: Uuid,
    pub amount: Decimal,
    pub order_ref: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundMade {
    pub id: Uuid,
    pub entry_id: Uuid,
    pub payment_id: Uuid,
    pub merchant_id: Uuid,
    pub amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopupReceived {
    pub entry_id: Uuid,
    /// Part of the top-up that paid arrears (the entry right after the top-up's own).
    #[serde(default)]
    pub arrears_paid: Decimal,
    pub wallet_id: Uuid,
    pub amount: Decimal,
    pub channel: String,
    pub channel_txn_id: String,
}

/// What an idempotency key produced: the kind and id of the object, from which the answer is
/// rebuilt exactly (answers are functions of the journal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyClaimed {
    pub request_hash: String,
    pub resource: String,
    pub resource_id: Uuid,
}

/// A request that was refused for a business reason, kept so a replay gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyAnswered {
    pub request_hash: String,
    /// `{"code": ..., "detail": ...}`; the class (and so the HTTP status) follows from the code.
    pub body: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRegistered {
    pub id: Uuid,
    pub url: String,
    pub role: Role,
    pub subject_id: Option<Uuid>,
}

/// Events up to this cursor were delivered to the endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookProgress {
    pub webhook_id: Uuid,
    pub delivered_through: u64,
}

/// Payload: [`DayClosed`].
pub const DAY_CLOSED: &str = "day_closed";

/// A business day (Beijing time) closed by finance: where the journal stood at the end of the day,
/// the day's trial-balance totals, and the engine's ed25519 signature over them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayClosed {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// The last journal record committed before the day ended.
    pub sequence: u64,
    /// The hash chain's value at that record, hex.
    pub head_hash: String,
    pub debits: Decimal,
    pub credits: Decimal,
    pub balanced: bool,
    /// Exactly the bytes signed (UTF-8), so an auditor can check them with the public key alone.
    pub signed_message: String,
    pub signature: String,
    pub public_key: String,
    /// When the close was made (microseconds since the epoch).
    pub closed_at: ledger::Timestamp,
}

impl DayClosed {
    /// `gaswallet-day-close|<day>|<sequence>|<head hash hex>|<debits>|<credits>`.
    pub fn signed_message(
        day: &str,
        sequence: u64,
        head_hash: &[u8; 32],
        totals: &super::finance::TrialBalanceTotals,
    ) -> String {
        format!("gaswallet-day-close|{day}|{sequence}|{}|{}|{}", hex::encode(head_hash), totals.debits, totals.credits)
    }
}

/// Payload: [`MerchantSettled`].
pub const MERCHANT_SETTLED: &str = "merchant_settled";

/// One merchant's T+1 settlement of one business day, as posted (see `settlement::merchant`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantSettled {
    pub merchant_id: Uuid,
    pub merchant_name: String,
    /// `YYYY-MM-DD`, Beijing time.
    pub date: String,
    pub fee_rate: Decimal,
    pub payments: u64,
    pub refunds: u64,
    pub gross: Decimal,
    pub refunded: Decimal,
    pub fees_charged: Decimal,
    pub fees_returned: Decimal,
    pub net: Decimal,
    pub deficit_brought_forward: Decimal,
    pub payout: Decimal,
    pub deficit_carried_forward: Decimal,
}

/// Payload: [`MerchantBatchSettled`].
pub const MERCHANT_BATCH_SETTLED: &str = "merchant_batch_settled";

/// A business day's merchant settlement batch is complete (recorded after its lines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantBatchSettled {
    pub batch_id: Uuid,
    /// `YYYY-MM-DD`, Beijing time.
    pub date: String,
}

/// Payload: a whole `service_orders::ServiceOrder`, as it stands after the step.
pub const SERVICE_ORDER_CHANGED: &str = "service_order_changed";
/// Payload: `service_orders::OrderReversal` (a refund after payout).
pub const SERVICE_ORDER_REVERSED: &str = "service_order_reversed";
/// Payload: `settlement::payout::PayoutBatch`.
pub const TECHNICIAN_PAYOUT_BATCH: &str = "technician_payout_batch";

/// Payload: [`AnomalyDetected`].
pub const ANOMALY_DETECTED: &str = "anomaly_detected";

/// A consumption anomaly found on a meter (see `risk::anomaly`), with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnomalyDetected {
    pub meter_id: Uuid,
    pub customer_id: Uuid,
    /// `continuous_night_flow`, `consumption_spike`, `frozen_register` or `reversed_register`.
    pub kind: String,
    /// A possible tamper (counts in the customer's credit features).
    pub tamper: bool,
    pub from_unix_ms: i64,
    pub to_unix_ms: i64,
    pub evidence: serde_json::Value,
}

/// Payload: [`CreditScored`].
pub const CREDIT_SCORED: &str = "credit_scored";

/// A rescore recorded a customer's profile (and, when it differed, set the wallet's credit limit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditScored {
    pub customer_id: Uuid,
    pub score: i32,
    /// `A` (best) to `E`.
    pub grade: String,
    pub previous_grade: Option<String>,
    pub credit_limit: Decimal,
    pub model_version: String,
}

/// Payload: [`ReconciliationRun`].
pub const RECONCILIATION_RUN: &str = "reconciliation_run";
/// Payload: [`ReconciliationBreaks`].
pub const RECONCILIATION_BREAKS: &str = "reconciliation_breaks";
/// Payload: [`BreakResolved`].
pub const BREAK_RESOLVED: &str = "break_resolved";

/// A channel statement reconciled against the ledger's top-ups of that channel for one business
/// day. Recorded after its break chunks, in the same linked group; the matched lines are kept as
/// counts and totals only (the statement itself is not stored, its SHA-256 is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationRun {
    pub id: Uuid,
    pub channel: String,
    /// `generic`, `wechat` or `alipay`.
    pub format: String,
    /// `YYYY-MM-DD`, Beijing time.
    pub date: String,
    pub date_drift_seconds: i64,
    pub amount_tolerance: Decimal,
    /// SHA-256 of the statement bytes as sent (after base64 decoding), hex.
    pub statement_sha256: String,
    /// Transactions read from the statement.
    pub statement_lines: u64,
    pub summary: settlement::reconciliation::matcher::ReconciliationSummary,
    pub break_chunks: u32,
    pub by_role: Role,
    pub by_subject_id: Option<Uuid>,
    pub by_token_id: Uuid,
}

/// What kind of difference a break is (the matcher's buckets that need finance's attention).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// 长款: in the statement, not in the ledger.
    Overage,
    /// 短款: in the ledger, not in the statement.
    Shortage,
    /// 金额不一致: on both sides with different amounts.
    AmountMismatch,
    /// On both sides with the same amount and another status.
    StatusMismatch,
    /// A statement line repeating an earlier one's transaction.
    StatementDuplicate,
    /// A ledger record repeating an earlier one's transaction.
    LedgerDuplicate,
}

impl BreakKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakKind::Overage => "overage",
            BreakKind::Shortage => "shortage",
            BreakKind::AmountMismatch => "amount_mismatch",
            BreakKind::StatusMismatch => "status_mismatch",
            BreakKind::StatementDuplicate => "statement_duplicate",
            BreakKind::LedgerDuplicate => "ledger_duplicate",
        }
    }
}

/// The statement's side of a break.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakStatementSide {
    /// Unix seconds.
    pub at: i64,
    pub amount: Decimal,
    pub status: settlement::reconciliation::TransactionStatus,
    /// The line of the statement it was read from.
    pub line: u64,
}

/// The ledger's side of a break: the top-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakLedgerSide {
    /// Unix seconds.
    pub at: i64,
    pub amount: Decimal,
    pub status: settlement::reconciliation::TransactionStatus,
    pub entry_id: Uuid,
    pub wallet_id: Option<Uuid>,
}

/// One break of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakRecord {
    pub break_id: Uuid,
    pub kind: BreakKind,
    pub channel_txn_id: String,
    pub transaction: settlement::reconciliation::TransactionKind,
    pub statement: Option<BreakStatementSide>,
    pub ledger: Option<BreakLedgerSide>,
}

/// A chunk of a run's breaks (a note carries at most 16 KiB).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationBreaks {
    pub run_id: Uuid,
    pub chunk: u32,
    pub breaks: Vec<BreakRecord>,
}

/// A break worked to an end by a balanced entry, with who did it (the audit trail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakResolved {
    pub break_id: Uuid,
    /// The run the resolution was asked through.
    pub run_id: Uuid,
    pub channel: String,
    pub channel_txn_id: String,
    /// `adjust`, `refund` or `write_off`.
    pub action: String,
    pub amount: Decimal,
    pub note: Option<String>,
    pub entry_id: Uuid,
    pub debit_account: Uuid,
    pub credit_account: Uuid,
    pub debit_role: settlement::reconciliation::resolution::AccountRole,
    pub credit_role: settlement::reconciliation::resolution::AccountRole,
    pub wallet_id: Option<Uuid>,
    pub by_role: Role,
    pub by_subject_id: Option<Uuid>,
    pub by_token_id: Uuid,
}

/// Payload: 16 bytes naming the whole it belongs to, then the next bytes of that whole.
pub const PAYLOAD_PART: &str = "payload_part";

/// Bytes of a whole carried by one part (a note carries at most 16 KiB).
pub const PAYLOAD_PART_BYTES: usize = ledger::command::NOTE_PAYLOAD_BYTES_MAX - 16;

/// A note that stands for a payload too large for one note: its bytes went ahead in `parts`
/// [`PAYLOAD_PART`] notes of the same linked group, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InParts {
    pub whole: Uuid,
    pub parts: u32,
}

/// The notes that record `payload` under `kind` and `id`: one note when it fits, else its parts
/// then an [`InParts`] note (the projection joins the parts when that note arrives).
pub fn large_note(id: ledger::EntryId, kind: &str, payload: Vec<u8>) -> Vec<ledger::Command> {
    if payload.len() <= ledger::command::NOTE_PAYLOAD_BYTES_MAX {
        return vec![ledger::Command::Note { id, kind: kind.into(), payload }];
    }
    let whole = id.0;
    let mut commands: Vec<ledger::Command> = payload
        .chunks(PAYLOAD_PART_BYTES)
        .enumerate()
        .map(|(index, chunk)| {
            let mut bytes = Vec::with_capacity(16 + chunk.len());
            bytes.extend_from_slice(whole.as_bytes());
            bytes.extend_from_slice(chunk);
            ledger::Command::Note {
                id: super::ids::note_for(whole, &format!("part-{index}")),
                kind: PAYLOAD_PART.into(),
                payload: bytes,
            }
        })
        .collect();
    let parts = u32::try_from(commands.len()).unwrap_or(u32::MAX);
    commands.push(ledger::Command::Note { id, kind: kind.into(), payload: encode(&InParts { whole, parts }) });
    commands
}

/// Encodes a note payload.
pub fn encode<T: Serialize>(payload: &T) -> Vec<u8> {
    // Serializing these plain structs to a Vec cannot fail (no maps with non-string keys, no
    // custom serializers that error).
    serde_json::to_vec(payload).unwrap_or_default()
}
