//! `verify`: recompute the journal's hash chain, checkpoint signatures and every balance from the
//! records alone, and report the first place where anything disagrees.

use crate::account::Balances;
use crate::ids::{AccountIndex, Sequence, Timestamp};
use crate::record::{record_hash, RecordBody, StoredBatch, GENESIS_HASH};
use crate::signing::checkpoint_signature_is_valid;
use crate::state::{apply_record, State};
use crate::store::Store;
use crate::Fault;
use ed25519_dalek::VerifyingKey;
use parking_lot::RwLock;
use std::path::Path;

/// What kind of disagreement verify found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DivergenceKind {
    /// The stored bytes of a batch cannot be read.
    BatchUnreadable,
    /// A batch does not start right after the previous one.
    SequenceGap,
    /// A record's content does not hash to the stored, chained hash.
    HashMismatch,
    /// A record's body cannot be decoded.
    RecordUnreadable,
    /// A record breaks a ledger rule when replayed (unbalanced, overdraft, unknown hold, …).
    RuleViolation,
    /// A batch's checkpoint signature does not verify with the engine's public key.
    BadSignature,
    /// A batch is stamped earlier than the one before it.
    TimeWentBackwards,
    /// The replayed balances of some asset do not sum to zero.
    Unbalanced,
    /// The running engine's balance of an account differs from the replayed one.
    BalanceDiffers,
}

impl DivergenceKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            DivergenceKind::BatchUnreadable => "batch_unreadable",
            DivergenceKind::SequenceGap => "sequence_gap",
            DivergenceKind::HashMismatch => "hash_mismatch",
            DivergenceKind::RecordUnreadable => "record_unreadable",
            DivergenceKind::RuleViolation => "rule_violation",
            DivergenceKind::BadSignature => "bad_signature",
            DivergenceKind::TimeWentBackwards => "time_went_backwards",
            DivergenceKind::Unbalanced => "unbalanced",
            DivergenceKind::BalanceDiffers => "balance_differs",
        }
    }
}

/// The first disagreement, located as precisely as the check allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    pub kind: DivergenceKind,
    /// The record affected, when the check is per record.
    pub sequence: Option<Sequence>,
    /// The first sequence of the stored batch it was found in.
    pub batch: Option<Sequence>,
    /// The entry affected, when the record could still be read.
    pub entry_id: Option<crate::ids::EntryId>,
    pub detail: String,
}

/// What verify checked and what it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub ok: bool,
    pub batches_checked: u64,
    pub records_checked: u64,
    pub accounts_checked: u64,
    pub head_sequence: Sequence,
    pub head_hash: [u8; 32],
    pub first_error: Option<Divergence>,
}

/// Verifies a ledger directory offline (no writer running). `expected_public_key` pins the key
/// auditors trust; without it the key recorded in the store is used.
pub fn verify_directory(directory: &Path, expected_public_key: Option<[u8; 32]>) -> Result<VerifyReport, Fault> {
    let store = Store::open(directory)?;
    let key_bytes = match (expected_public_key, store.public_key()?) {
        (Some(expected), _) => expected,
        (None, Some(stored)) => stored,
        (None, None) => {
            return Ok(VerifyReport {
                ok: true,
                batches_checked: 0,
                records_checked: 0,
                accounts_checked: 0,
                head_sequence: 0,
                head_hash: GENESIS_HASH,
                first_error: None,
            })
        }
    };
    let public_key =
        VerifyingKey::from_bytes(&key_bytes).map_err(|error| Fault::Key(format!("public key: {error}")))?;
    verify_journal(&store, &public_key, None)
}

fn fail(report: &mut VerifyReport, divergence: Divergence) {
    report.ok = false;
    report.first_error = Some(divergence);
}

/// Verifies the journal in `store`. With `live`, also compares the running state's balances at
/// the verified head with the replayed ones.
pub(crate) fn verify_journal(
    store: &Store,
    public_key: &VerifyingKey,
    live: Option<&RwLock<State>>,
) -> Result<VerifyReport, Fault> {
    // Verify what the live state has applied, no more: a batch flushed but not yet applied would
    // otherwise look like a divergence.
    let limit = live.map(|state| state.read().last_sequence());
    let mut replayed = State::new();
    let mut report = VerifyReport {
        ok: true,
        batches_checked: 0,
        records_checked: 0,
        accounts_checked: 0,
        head_sequence: 0,
        head_hash: GENESIS_HASH,
        first_error: None,
    };
    let mut previous_hash = GENESIS_HASH;
    let mut previous_timestamp = Timestamp(i64::MIN);
    for item in store.batches() {
        let (key, bytes) = item?;
        if limit.is_some_and(|limit| key > limit) {
            break;
        }
        let divergence =
            |kind, sequence, detail: String| Divergence { kind, sequence, batch: Some(key), entry_id: None, detail };
        let batch = match StoredBatch::decode(&bytes) {
            Ok(batch) => batch,
            Err(error) => {
                fail(&mut report, divergence(DivergenceKind::BatchUnreadable, None, error.to_string()));
                return Ok(report);
            }
        };
        let expected_first = replayed.last_sequence() + 1;
        if key != batch.first_sequence || batch.first_sequence != expected_first || batch.records.is_empty() {
            let detail = format!("batch key {key}, first sequence {}, expected {expected_first}", batch.first_sequence);
            fail(&mut report, divergence(DivergenceKind::SequenceGap, Some(expected_first), detail));
            return Ok(report);
        }
        if batch.timestamp < previous_timestamp {
            fail(
                &mut report,
                divergence(
                    DivergenceKind::TimeWentBackwards,
                    Some(batch.first_sequence),
                    format!("{:?} after {:?}", batch.timestamp, previous_timestamp),
                ),
            );
            return Ok(report);
        }
        let mut bodies = Vec::with_capacity(batch.records.len());
        for (offset, record) in batch.records.iter().enumerate() {
            let sequence = batch.first_sequence + offset as u64;
            let body = RecordBody::decode(&record.body);
            let entry_id = body.as_ref().ok().and_then(RecordBody::entry_id);
            let recomputed = record_hash(&previous_hash, sequence, batch.timestamp, &record.body);
            if recomputed != record.hash {
                let detail = format!("stored {} recomputed {}", hex::encode(record.hash), hex::encode(recomputed));
                fail(
                    &mut report,
                    Divergence { entry_id, ..divergence(DivergenceKind::HashMismatch, Some(sequence), detail) },
                );
                return Ok(report);
            }
            previous_hash = recomputed;
            match body {
                Ok(body) => bodies.push(body),
                Err(error) => {
                    fail(&mut report, divergence(DivergenceKind::RecordUnreadable, Some(sequence), error.to_string()));
                    return Ok(report);
                }
            }
        }
        let head = previous_hash;
        if !checkpoint_signature_is_valid(public_key, batch.last_sequence(), &head, batch.timestamp, &batch.signature) {
            fail(
                &mut report,
                divergence(
                    DivergenceKind::BadSignature,
                    Some(batch.last_sequence()),
                    "checkpoint signature does not verify".into(),
                ),
            );
            return Ok(report);
        }
        for (offset, body) in bodies.iter().enumerate() {
            let sequence = batch.first_sequence + offset as u64;
            if let Err(rejection) = apply_record(&mut replayed, sequence, batch.timestamp, body) {
                fail(
                    &mut report,
                    Divergence {
                        entry_id: body.entry_id(),
                        ..divergence(DivergenceKind::RuleViolation, Some(sequence), rejection.to_string())
                    },
                );
                return Ok(report);
            }
        }
        // Bodies were applied above with per-record checks; this records the batch mark and head.
        replayed.mark_batch(batch.first_sequence, batch.timestamp, batch.last_sequence(), head, batch.signature);
        previous_timestamp = batch.timestamp;
        report.batches_checked += 1;
        report.records_checked += batch.records.len() as u64;
        report.head_sequence = batch.last_sequence();
        report.head_hash = head;
    }
    if !replayed.is_balanced() {
        let sequence = Some(report.head_sequence);
        fail(
            &mut report,
            Divergence {
                kind: DivergenceKind::Unbalanced,
                sequence,
                batch: None,
                entry_id: None,
                detail: "balances do not sum to zero".into(),
            },
        );
        return Ok(report);
    }
    report.accounts_checked = replayed.accounts().len() as u64;
    if let Some(live) = live {
        let live = live.read();
        for (position, account) in replayed.accounts().iter().enumerate() {
            let index = AccountIndex(position as u32);
            let live_balances: Balances = live.balances_as_of_sequence(index, report.head_sequence);
            if live_balances != account.balances {
                let detail =
                    format!("account {}: running {:?}, replayed {:?}", account.id, live_balances, account.balances);
                let sequence = Some(report.head_sequence);
                fail(
                    &mut report,
                    Divergence { kind: DivergenceKind::BalanceDiffers, sequence, batch: None, entry_id: None, detail },
                );
                return Ok(report);
            }
        }
    }
    Ok(report)
}
