//! Journal records and their byte format.
//!
//! The journal is a sequence of records, each with a sequence number and a SHA-256 hash chained to
//! the previous record's hash. Records are written in batches (one per group commit); each batch
//! carries an ed25519 signature over its last record's hash (a checkpoint of the chain head).
//! The byte layout is documented in `docs/storage.md` and is a contract: change it only with a new
//! version byte.

use crate::account::{ChartCode, Side};
use crate::amount::Asset;
use crate::ids::{AccountId, AccountIndex, EntryId, Sequence, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// First byte of every stored batch.
pub const BATCH_FORMAT_VERSION: u8 = 1;
/// Domain separation for record hashes.
const RECORD_HASH_DOMAIN: &[u8] = b"gaswallet.journal.record.v1";
/// Domain separation for checkpoint signatures.
const CHECKPOINT_DOMAIN: &[u8] = b"gaswallet.journal.checkpoint.v1";
/// Hash that precedes the first record.
pub const GENESIS_HASH: [u8; 32] = [0; 32];
/// Bytes of a batch header: version, first sequence, timestamp, record count, signature.
const BATCH_HEADER_BYTES: usize = 1 + 8 + 8 + 4 + 64;

/// A line of an entry as stored: the account by index, the side, the amount in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    pub account: AccountIndex,
    pub side: Side,
    pub amount_minor: u64,
}

/// What kind of entry a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    /// Posted at once.
    Posted,
    /// Pending: reserves funds until resolved.
    Hold { expires_at: Option<Timestamp> },
    /// Posts (part of) a hold and releases the hold's pending amounts.
    Capture { hold: EntryId },
    /// Releases a hold; `expired` when the ledger voided it at its deadline.
    Void { hold: EntryId, expired: bool },
    /// The mirror image of a posted entry.
    Reversal { of: EntryId },
}

/// An entry as stored in the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryRecord {
    pub id: EntryId,
    pub kind: EntryKind,
    pub category: String,
    pub memo: String,
    pub postings: Vec<Posting>,
}

/// An account as recorded when it was opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenedAccount {
    pub id: AccountId,
    pub code: ChartCode,
    pub asset: Asset,
    pub normal_side: Side,
    pub no_overdraft: bool,
    pub credit_limit_minor: u64,
}

/// The content of one journal record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordBody {
    AccountOpened(OpenedAccount),
    Entry(EntryRecord),
    CreditLimitSet {
        id: EntryId,
        account: AccountIndex,
        limit_minor: u64,
    },
    AccountClosed {
        account: AccountIndex,
    },
    /// A record that moves no money: a fact the service keeps in the same journal, so it is
    /// hash-chained, signed, durable and atomic with entries (a customer registered, a payment
    /// code issued, a rejected request's answer kept for idempotent replay).
    Note {
        id: EntryId,
        kind: String,
        payload: Vec<u8>,
    },
}

impl RecordBody {
    /// The caller-chosen id this record answers to, if any (accounts use their account id).
    pub fn entry_id(&self) -> Option<EntryId> {
        match self {
            RecordBody::Entry(entry) => Some(entry.id),
            RecordBody::CreditLimitSet { id, .. } | RecordBody::Note { id, .. } => Some(*id),
            RecordBody::AccountOpened(_) | RecordBody::AccountClosed { .. } => None,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        // postcard only fails on writers that run out of space; a Vec grows, so this cannot fail
        // except on allocation failure, which aborts anyway.
        match postcard::to_allocvec(self) {
            Ok(bytes) => bytes,
            Err(error) => panic!("encoding a journal record into a Vec failed: {error}"),
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<RecordBody, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}

/// Hash of a record chained to the previous one.
pub fn record_hash(previous: &[u8; 32], sequence: Sequence, timestamp: Timestamp, body: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(RECORD_HASH_DOMAIN);
    hasher.update(sequence.to_be_bytes());
    hasher.update(timestamp.0.to_be_bytes());
    hasher.update(previous);
    hasher.update(body);
    hasher.finalize().into()
}

/// The bytes a checkpoint signature covers.
pub fn checkpoint_message(last_sequence: Sequence, head_hash: &[u8; 32], timestamp: Timestamp) -> Vec<u8> {
    let mut message = Vec::with_capacity(CHECKPOINT_DOMAIN.len() + 8 + 32 + 8);
    message.extend_from_slice(CHECKPOINT_DOMAIN);
    message.extend_from_slice(&last_sequence.to_be_bytes());
    message.extend_from_slice(head_hash);
    message.extend_from_slice(&timestamp.0.to_be_bytes());
    message
}

/// One stored record: its chained hash and its encoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub hash: [u8; 32],
    pub body: Vec<u8>,
}

/// One group commit as stored: consecutive records sharing a timestamp, and a signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    pub first_sequence: Sequence,
    pub timestamp: Timestamp,
    pub signature: [u8; 64],
    pub records: Vec<StoredRecord>,
}

/// Why stored bytes could not be read as a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown batch format version {0}")]
    UnknownVersion(u8),
    #[error("batch truncated at byte {0}")]
    Truncated(usize),
    #[error("{0} trailing bytes after the last record")]
    TrailingBytes(usize),
}

impl StoredBatch {
    pub fn last_sequence(&self) -> Sequence {
        self.first_sequence + self.records.len() as u64 - 1
    }

    pub fn head_hash(&self) -> Option<[u8; 32]> {
        self.records.last().map(|record| record.hash)
    }

    /// Layout: `[version u8][first_sequence u64][timestamp i64][count u32][signature 64]`, then per
    /// record `[hash 32][body length u32][body]`; integers big-endian.
    pub fn encode(&self) -> Vec<u8> {
        let body_bytes: usize = self.records.iter().map(|record| 36 + record.body.len()).sum();
        let mut bytes = Vec::with_capacity(BATCH_HEADER_BYTES + body_bytes);
        bytes.push(BATCH_FORMAT_VERSION);
        bytes.extend_from_slice(&self.first_sequence.to_be_bytes());
        bytes.extend_from_slice(&self.timestamp.0.to_be_bytes());
        bytes.extend_from_slice(&(self.records.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&self.signature);
        for record in &self.records {
            bytes.extend_from_slice(&record.hash);
            bytes.extend_from_slice(&(record.body.len() as u32).to_be_bytes());
            bytes.extend_from_slice(&record.body);
        }
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Result<StoredBatch, DecodeError> {
        let mut reader = ByteReader { bytes, position: 0 };
        let version = reader.take::<1>()?[0];
        if version != BATCH_FORMAT_VERSION {
            return Err(DecodeError::UnknownVersion(version));
        }
        let first_sequence = u64::from_be_bytes(reader.take::<8>()?);
        let timestamp = Timestamp(i64::from_be_bytes(reader.take::<8>()?));
        let count = u32::from_be_bytes(reader.take::<4>()?) as usize;
        let signature = reader.take::<64>()?;
        // Each record needs at least 36 bytes; a corrupted count cannot make us allocate wildly.
        let mut records = Vec::with_capacity(count.min(bytes.len() / 36));
        for _ in 0..count {
            let hash = reader.take::<32>()?;
            let length = u32::from_be_bytes(reader.take::<4>()?) as usize;
            let body = reader.take_slice(length)?.to_vec();
            records.push(StoredRecord { hash, body });
        }
        if reader.position != bytes.len() {
            return Err(DecodeError::TrailingBytes(bytes.len() - reader.position));
        }
        Ok(StoredBatch { first_sequence, timestamp, signature, records })
    }
}

struct ByteReader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> ByteReader<'a> {
    fn take_slice(&mut self, length: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.position.checked_add(length).ok_or(DecodeError::Truncated(self.position))?;
        let slice = self.bytes.get(self.position..end).ok_or(DecodeError::Truncated(self.position))?;
        self.position = end;
        Ok(slice)
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let slice = self.take_slice(N)?;
        let mut array = [0u8; N];
        array.copy_from_slice(slice);
        Ok(array)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn sample_batch() -> StoredBatch {
        let body = RecordBody::Entry(EntryRecord {
            id: EntryId(Uuid::from_u128(1)),
            kind: EntryKind::Posted,
            category: "transfer".into(),
            memo: String::new(),
            postings: vec![
                Posting { account: AccountIndex(0), side: Side::Debit, amount_minor: 5 },
                Posting { account: AccountIndex(1), side: Side::Credit, amount_minor: 5 },
            ],
        })
        .encode();
        let hash = record_hash(&GENESIS_HASH, 1, Timestamp(9), &body);
        StoredBatch {
            first_sequence: 1,
            timestamp: Timestamp(9),
            signature: [7; 64],
            records: vec![StoredRecord { hash, body }],
        }
    }

    #[test]
    fn batch_round_trips() {
        let batch = sample_batch();
        assert_eq!(StoredBatch::decode(&batch.encode()), Ok(batch));
    }

    #[test]
    fn truncated_and_padded_batches_are_errors_not_panics() {
        let bytes = sample_batch().encode();
        for cut in 0..bytes.len() {
            assert!(StoredBatch::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut padded = bytes.clone();
        padded.push(0);
        assert_eq!(StoredBatch::decode(&padded), Err(DecodeError::TrailingBytes(1)));
        let mut other_version = bytes;
        other_version[0] = 9;
        assert_eq!(StoredBatch::decode(&other_version), Err(DecodeError::UnknownVersion(9)));
    }

    #[test]
    fn hash_depends_on_every_input() {
        let base = record_hash(&GENESIS_HASH, 1, Timestamp(1), b"x");
        assert_ne!(base, record_hash(&[1; 32], 1, Timestamp(1), b"x"));
        assert_ne!(base, record_hash(&GENESIS_HASH, 2, Timestamp(1), b"x"));
        assert_ne!(base, record_hash(&GENESIS_HASH, 1, Timestamp(2), b"x"));
        assert_ne!(base, record_hash(&GENESIS_HASH, 1, Timestamp(1), b"y"));
    }
}
