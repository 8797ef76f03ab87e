//! Deterministic ids. Every step the service takes derives its ledger ids from what the caller
//! sent (UUIDv5), so a retried request produces the very same commands and the ledger answers
//! "duplicate" instead of posting twice.

use ledger::{AccountId, EntryId};
use uuid::Uuid;

/// Namespace of every id the service derives.
const SERVICE_NAMESPACE: Uuid = Uuid::from_u128(0x7761_6c6c_6574_2d61_7069_2d69_6473_0001);

fn derive(parts: &[&[u8]]) -> Uuid {
    let mut name = Vec::with_capacity(parts.iter().map(|part| part.len() + 1).sum());
    for part in parts {
        name.extend_from_slice(part);
        name.push(0x1f);
    }
    Uuid::new_v5(&SERVICE_NAMESPACE, &name)
}

/// The payment channels a wallet can be topped up from, each with its clearing account.
pub const CHANNELS: [&str; 4] = ["wechat", "alipay", "bank", "counter"];

pub fn channel_clearing_account(channel: &str) -> AccountId {
    AccountId(derive(&[b"account", b"channel-clearing", channel.as_bytes()]))
}

pub fn gas_revenue_account() -> AccountId {
    AccountId(derive(&[b"account", b"gas-sales-revenue"]))
}

pub fn merchant_fee_revenue_account() -> AccountId {
    AccountId(derive(&[b"account", b"merchant-fee-revenue"]))
}

/// Where booked service prices wait between the customer's rating and the split.
pub fn service_escrow_account() -> AccountId {
    AccountId(derive(&[b"account", b"service-escrow"]))
}

pub fn service_commission_revenue_account() -> AccountId {
    AccountId(derive(&[b"account", b"service-commission-revenue"]))
}

/// The bank account payouts to merchants and technicians are paid from.
pub fn settlement_bank_account() -> AccountId {
    AccountId(derive(&[b"account", b"settlement-bank"]))
}

/// One merchant's settlement of one business day: its entries and note derive from this.
pub fn merchant_settlement(merchant: Uuid, date: &str) -> Uuid {
    derive(&[b"merchant-settlement", merchant.as_bytes(), date.as_bytes()])
}

/// The merchant settlement batch of a business day.
pub fn merchant_settlement_batch(date: &str) -> Uuid {
    derive(&[b"merchant-settlement-batch", date.as_bytes()])
}

pub fn wallet_account(customer: Uuid) -> AccountId {
    AccountId(derive(&[b"account", b"wallet", customer.as_bytes()]))
}

pub fn merchant_payable_account(merchant: Uuid) -> AccountId {
    AccountId(derive(&[b"account", b"merchant-payable", merchant.as_bytes()]))
}

pub fn technician_payable_account(technician: Uuid) -> AccountId {
    AccountId(derive(&[b"account", b"technician-payable", technician.as_bytes()]))
}

/// The record that claims an idempotency key for one principal.
pub fn idempotency_record(principal_scope: &str, key: &str) -> EntryId {
    EntryId(derive(&[b"idempotency", principal_scope.as_bytes(), key.as_bytes()]))
}

/// The id of an operation's main object (payment, top-up entry, refund), from the idempotency
/// record that asked for it.
pub fn operation(idempotency: EntryId, purpose: &str) -> Uuid {
    derive(&[b"operation", idempotency.0.as_bytes(), purpose.as_bytes()])
}

/// The record that says a channel transaction was booked (one per channel and transaction id).
pub fn channel_transaction(channel: &str, channel_txn_id: &str) -> EntryId {
    EntryId(derive(&[b"channel-txn", channel.as_bytes(), channel_txn_id.as_bytes()]))
}

/// The record that issues a payment code.
pub fn payment_code_issued(code: &str) -> EntryId {
    EntryId(derive(&[b"payment-code", code.as_bytes()]))
}

/// The record that uses a payment code up; a second use with other content conflicts.
pub fn payment_code_used(code: &str) -> EntryId {
    EntryId(derive(&[b"payment-code-used", code.as_bytes()]))
}

/// The record that registers a bearer token (by its hash).
pub fn token_record(token_hash: &[u8; 32]) -> EntryId {
    EntryId(derive(&[b"token", token_hash]))
}

/// The record that registers a meter: one per serial, so a serial cannot be registered twice.
pub fn meter_serial(serial: &str) -> EntryId {
    EntryId(derive(&[b"meter-serial", serial.as_bytes()]))
}

/// The record of an accepted reading: one per (meter, counter), so a retried reading never
/// charges twice; its entries' ids derive from it.
pub fn reading(meter: Uuid, counter: u64) -> EntryId {
    EntryId(derive(&[b"reading", meter.as_bytes(), &counter.to_be_bytes()]))
}

/// A customer's arrears receivable.
pub fn arrears_account(customer: Uuid) -> AccountId {
    AccountId(derive(&[b"account", b"arrears", customer.as_bytes()]))
}

/// The note that closes a business day: one per day, so a second close cannot differ.
pub fn day_close(day: &str) -> EntryId {
    EntryId(derive(&[b"day-close", day.as_bytes()]))
}

/// A consumption anomaly: one per (meter, kind, start of its period).
pub fn anomaly(meter: Uuid, kind: &str, from_unix_ms: i64) -> EntryId {
    EntryId(derive(&[b"anomaly", meter.as_bytes(), kind.as_bytes(), &from_unix_ms.to_be_bytes()]))
}

pub fn entry_for(object: Uuid, purpose: &str) -> EntryId {
    EntryId(derive(&[b"entry", object.as_bytes(), purpose.as_bytes()]))
}

pub fn note_for(object: Uuid, purpose: &str) -> EntryId {
    EntryId(derive(&[b"note", object.as_bytes(), purpose.as_bytes()]))
}

/// What channel payers are owed back through the channel (overages refunded in reconciliation).
pub fn channel_refund_payable_account() -> AccountId {
    AccountId(derive(&[b"account", b"channel-refund-payable"]))
}

/// Reconciliation differences written off (gains credit it, losses debit it).
pub fn reconciliation_write_off_account() -> AccountId {
    AccountId(derive(&[b"account", b"reconciliation-write-off"]))
}

/// A reconciliation run: the same statement (bytes, format, day, channel and matching rules)
/// is the same run, so posting it twice answers the first report.
pub fn reconciliation_run(statement_fingerprint: &[u8; 32]) -> Uuid {
    derive(&[b"reconciliation-run", statement_fingerprint])
}

/// The note carrying one chunk of a run's breaks.
pub fn reconciliation_breaks(run: Uuid, chunk: u32) -> EntryId {
    EntryId(derive(&[b"reconciliation-breaks", run.as_bytes(), &chunk.to_be_bytes()]))
}

/// A break, named by what it is about (channel, transaction, payment or refund, kind of break and,
/// for duplicates, which copy) and not by the run: the same break found by two runs is one break,
/// resolved at most once.
pub fn reconciliation_break(channel: &str, channel_txn_id: &str, transaction: &str, kind: &str, copy: &str) -> Uuid {
    derive(&[
        b"reconciliation-break",
        channel.as_bytes(),
        channel_txn_id.as_bytes(),
        transaction.as_bytes(),
        kind.as_bytes(),
        copy.as_bytes(),
    ])
}
