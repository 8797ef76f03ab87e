//! Storage on sled. The only module that imports sled.
//!
//! Layout (see `docs/storage.md`): tree `journal` holds each group commit's encoded batch
//! ([`crate::record::StoredBatch`]) split into chunks of at most [`BATCH_CHUNK_BYTES_MAX`] bytes,
//! keyed by `[first sequence u64 BE][chunk number u32 BE]`; tree `meta` holds the format version
//! and the engine's public key. Each group commit is one atomic `apply_batch` of its chunks, one
//! `flush`, and one `fsync` of sled's log file, so a batch is on disk whole or not at all and is
//! durable before anyone is told. Everything else (balances, indexes) is rebuilt from the journal.
//!
//! Two facts about sled 0.34.7 shape this (read in its source, `pagecache/iobuf.rs` and
//! `pagecache/blob_io.rs`):
//! - on Linux, `flush` makes the log stable with `sync_file_range`, which neither writes file
//!   metadata nor flushes the disk's write cache; so after each flush we `fsync` the log file.
//! - values larger than a quarter of a segment are written as separate "blob" files that sled
//!   never fsyncs; so we keep every value, and every leaf node of at most 17 chunks, far below that
//!   threshold: chunks of 32 KiB and 8 MiB segments (inline limit about 2 MiB).

use crate::ids::Sequence;
use crate::record::{RecordBody, StoredBatch};
use crate::Fault;
use std::path::{Path, PathBuf};

const JOURNAL_TREE: &str = "journal";
const META_TREE: &str = "meta";
const META_FORMAT_KEY: &str = "format_version";
const META_PUBLIC_KEY: &str = "engine_public_key";
/// Version of the whole store layout (trees and keys), separate from the batch byte format.
pub const STORE_FORMAT_VERSION: u8 = 1;
/// sled's page cache; the journal is read sequentially on open and rarely after.
const SLED_CACHE_BYTES: u64 = 256 * 1024 * 1024;
/// sled segment size: large enough that no value or leaf node becomes an unsynced blob file.
const SLED_SEGMENT_BYTES: usize = 8 * 1024 * 1024;
/// How long opening waits for sled's directory lock to be released by a store just closed.
const STORE_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// Largest chunk of a stored batch.
pub const BATCH_CHUNK_BYTES_MAX: usize = 32 * 1024;
/// Name of sled's log file inside its directory.
const SLED_LOG_FILE: &str = "db";

/// Whether opening failed because another handle holds sled's directory lock. sled 0.34 reports
/// that as an `io::Error` of kind `Other` whose message names the lock (`config.rs`: "could not
/// acquire lock on ..."), wrapping the `WouldBlock` of `flock`; the message is the only sign.
fn is_lock_held(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::WouldBlock || error.to_string().contains("could not acquire lock")
}

fn chunk_key(first_sequence: Sequence, chunk: u32) -> [u8; 12] {
    let mut key = [0u8; 12];
    key[..8].copy_from_slice(&first_sequence.to_be_bytes());
    key[8..].copy_from_slice(&chunk.to_be_bytes());
    key
}

fn parse_chunk_key(key: &[u8]) -> Result<(Sequence, u32), Fault> {
    let sequence: [u8; 8] = key
        .get(..8)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| Fault::Corrupt(format!("journal key of {} bytes", key.len())))?;
    let chunk: [u8; 4] = key
        .get(8..12)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| Fault::Corrupt(format!("journal key of {} bytes", key.len())))?;
    if key.len() != 12 {
        return Err(Fault::Corrupt(format!("journal key of {} bytes", key.len())));
    }
    Ok((Sequence::from_be_bytes(sequence), u32::from_be_bytes(chunk)))
}

impl From<sled::Error> for Fault {
    fn from(error: sled::Error) -> Fault {
        match error {
            sled::Error::Corruption { .. } => Fault::Corrupt(error.to_string()),
            other => Fault::Storage(other.to_string()),
        }
    }
}

/// The ledger's sled database.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    journal: sled::Tree,
    meta: sled::Tree,
    /// sled's log file, opened again so we can fsync it after sled's own flush.
    log_file: std::sync::Arc<std::fs::File>,
    directory: PathBuf,
}

impl Store {
    /// Opens (or creates) the store in `directory/journal.sled`.
    pub fn open(directory: &Path) -> Result<Store, Fault> {
        std::fs::create_dir_all(directory)
            .map_err(|error| Fault::Storage(format!("creating {}: {error}", directory.display())))?;
        let sled_directory = directory.join("journal.sled");
        let config = sled::Config::new()
            .path(&sled_directory)
            .cache_capacity(SLED_CACHE_BYTES)
            .segment_size(SLED_SEGMENT_BYTES)
            .mode(sled::Mode::HighThroughput)
            // We flush explicitly after every batch; sled's timer flush would only add syncs.
            .flush_every_ms(None);
        // sled 0.34 releases its directory lock from a background thread a moment after the last
        // handle is dropped, so a reopen right after a close in the same process can find it still
        // held. Wait for it, briefly; a lock held longer belongs to another process and is an error.
        let started = std::time::Instant::now();
        let db = loop {
            match config.open() {
                Err(sled::Error::Io(error)) if is_lock_held(&error) && started.elapsed() < STORE_LOCK_WAIT => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(sled::Error::Io(error)) if is_lock_held(&error) => {
                    return Err(Fault::Storage(format!(
                        "{} is in use by another process (is a gaswallet server running on it?): {error}",
                        sled_directory.display()
                    )));
                }
                opened => break opened?,
            }
        };
        let journal = db.open_tree(JOURNAL_TREE)?;
        let meta = db.open_tree(META_TREE)?;
        let log_path = sled_directory.join(SLED_LOG_FILE);
        let log_file = std::fs::File::open(&log_path)
            .map_err(|error| Fault::Storage(format!("opening {}: {error}", log_path.display())))?;
        let store =
            Store { db, journal, meta, log_file: std::sync::Arc::new(log_file), directory: directory.to_path_buf() };
        match store.meta.get(META_FORMAT_KEY)? {
            None => {
                store.meta.insert(META_FORMAT_KEY, &[STORE_FORMAT_VERSION])?;
                store.make_durable()?;
            }
            Some(version) if version.as_ref() == [STORE_FORMAT_VERSION] => {}
            Some(version) => {
                return Err(Fault::Corrupt(format!("unknown store format version {:?}", version.as_ref())))
            }
        }
        Ok(store)
    }

    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// sled's flush, then an fsync of its log file (see the module documentation for why).
    fn make_durable(&self) -> Result<(), Fault> {
        self.db.flush()?;
        self.log_file.sync_all().map_err(|error| Fault::Storage(format!("fsync of the journal log: {error}")))?;
        Ok(())
    }

    /// Writes a batch atomically and makes it durable before returning.
    pub fn append_batch(&self, first_sequence: Sequence, encoded: &[u8]) -> Result<(), Fault> {
        let mut batch = sled::Batch::default();
        for (chunk, bytes) in encoded.chunks(BATCH_CHUNK_BYTES_MAX).enumerate() {
            let chunk = u32::try_from(chunk).map_err(|_| Fault::Storage("a batch of more than 2^32 chunks".into()))?;
            batch.insert(&chunk_key(first_sequence, chunk), bytes);
        }
        self.journal.apply_batch(batch)?;
        self.make_durable()
    }

    /// Every stored batch in sequence order, as (first sequence, bytes of all its chunks).
    pub fn batches(&self) -> impl Iterator<Item = Result<(Sequence, Vec<u8>), Fault>> + '_ {
        self.batches_from(0)
    }

    /// The stored batches from the one holding `sequence` on, in sequence order (all of them for 0).
    pub fn batches_from(&self, sequence: Sequence) -> impl Iterator<Item = Result<(Sequence, Vec<u8>), Fault>> + '_ {
        // The batch holding `sequence` is the last one starting at or before it.
        let start = match self.journal.range(..=chunk_key(sequence, u32::MAX)).next_back() {
            Some(Ok((key, _))) => parse_chunk_key(&key).map(|(first, _)| first).unwrap_or(0),
            _ => 0,
        };
        let mut chunks = self.journal.range(chunk_key(start, 0)..).peekable();
        std::iter::from_fn(move || {
            let (key, value) = match chunks.next()? {
                Ok(item) => item,
                Err(error) => return Some(Err(error.into())),
            };
            let (first_sequence, chunk) = match parse_chunk_key(&key) {
                Ok(parsed) => parsed,
                Err(fault) => return Some(Err(fault)),
            };
            if chunk != 0 {
                return Some(Err(Fault::Corrupt(format!("batch {first_sequence} starts at chunk {chunk}"))));
            }
            let mut bytes = value.to_vec();
            let mut expected_chunk = 1u32;
            while let Some(Ok((next_key, _))) = chunks.peek() {
                match parse_chunk_key(next_key) {
                    Ok((sequence, chunk)) if sequence == first_sequence => {
                        if chunk != expected_chunk {
                            return Some(Err(Fault::Corrupt(format!(
                                "batch {first_sequence} misses chunk {expected_chunk}"
                            ))));
                        }
                        if let Some(Ok((_, next_value))) = chunks.next() {
                            bytes.extend_from_slice(&next_value);
                        }
                        expected_chunk += 1;
                    }
                    _ => break,
                }
            }
            Some(Ok((first_sequence, bytes)))
        })
    }

    /// The raw bytes of the batch whose first sequence is at most `sequence`, with that sequence.
    fn batch_bytes_at_or_before(&self, sequence: Sequence) -> Result<Option<(Sequence, Vec<u8>)>, Fault> {
        let Some(item) = self.journal.range(..=chunk_key(sequence, u32::MAX)).next_back() else {
            return Ok(None);
        };
        let (key, _) = item?;
        let (first_sequence, _) = parse_chunk_key(&key)?;
        let mut bytes = Vec::new();
        for item in self.journal.range(chunk_key(first_sequence, 0)..=chunk_key(first_sequence, u32::MAX)) {
            let (_, value) = item?;
            bytes.extend_from_slice(&value);
        }
        Ok(Some((first_sequence, bytes)))
    }

    /// The batch that holds `sequence`, decoded.
    pub fn batch_holding(&self, sequence: Sequence) -> Result<Option<StoredBatch>, Fault> {
        let Some((_, bytes)) = self.batch_bytes_at_or_before(sequence)? else {
            return Ok(None);
        };
        let batch = StoredBatch::decode(&bytes)
            .map_err(|error| Fault::Corrupt(format!("batch holding {sequence}: {error}")))?;
        if sequence > batch.last_sequence() {
            return Ok(None);
        }
        Ok(Some(batch))
    }

    /// One committed record by sequence.
    pub fn record(&self, sequence: Sequence) -> Result<Option<RecordBody>, Fault> {
        let Some(batch) = self.batch_holding(sequence)? else { return Ok(None) };
        let offset = (sequence - batch.first_sequence) as usize;
        let Some(stored) = batch.records.get(offset) else { return Ok(None) };
        RecordBody::decode(&stored.body)
            .map(Some)
            .map_err(|error| Fault::Corrupt(format!("record {sequence}: {error}")))
    }

    pub fn public_key(&self) -> Result<Option<[u8; 32]>, Fault> {
        Ok(self.meta.get(META_PUBLIC_KEY)?.and_then(|bytes| bytes.as_ref().try_into().ok()))
    }

    pub fn set_public_key(&self, key: [u8; 32]) -> Result<(), Fault> {
        self.meta.insert(META_PUBLIC_KEY, &key)?;
        self.make_durable()
    }

    /// Replaces a stored batch's bytes as they are. For tamper tests and repair tools only: the
    /// ledger itself never rewrites the journal.
    #[doc(hidden)]
    pub fn overwrite_batch_for_tamper_test(&self, first_sequence: Sequence, bytes: &[u8]) -> Result<(), Fault> {
        let mut batch = sled::Batch::default();
        for item in self.journal.range(chunk_key(first_sequence, 0)..=chunk_key(first_sequence, u32::MAX)) {
            let (key, _) = item?;
            batch.remove(key);
        }
        for (chunk, piece) in bytes.chunks(BATCH_CHUNK_BYTES_MAX).enumerate() {
            batch.insert(&chunk_key(first_sequence, chunk as u32), piece);
        }
        self.journal.apply_batch(batch)?;
        self.make_durable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_in_use_is_refused_after_a_wait_and_reopens_once_released() {
        let directory = tempfile::tempdir().unwrap_or_else(|error| panic!("tempdir: {error}"));
        let first = Store::open(directory.path()).unwrap_or_else(|fault| panic!("first open: {fault}"));
        let started = std::time::Instant::now();
        match Store::open(directory.path()) {
            Err(Fault::Storage(message)) => assert!(message.contains("in use by another process"), "{message}"),
            other => panic!("a second open of a store in use must fail, got {other:?}"),
        }
        assert!(started.elapsed() >= STORE_LOCK_WAIT, "it waited for the lock first");
        drop(first);
        // sled lets go of the lock a moment after the last handle is dropped; open waits for it.
        Store::open(directory.path()).unwrap_or_else(|fault| panic!("reopen after close: {fault}"));
    }
}
