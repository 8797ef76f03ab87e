//! Storage on sled. The only module that imports sled.
//!
//! Layout (see `docs/storage.md`): tree `journal` maps the big-endian first sequence of a batch to
//! the encoded batch ([`crate::record::StoredBatch`]); tree `meta` holds the format version and the
//! engine's public key. Each group commit is one `insert` of one key followed by one `flush`, so a
//! batch is on disk whole or not at all. Everything else (balances, indexes) is rebuilt from the
//! journal on open.

use crate::record::{RecordBody, StoredBatch};
use crate::ids::Sequence;
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
    directory: PathBuf,
}

impl Store {
    /// Opens (or creates) the store in `directory/journal.sled`.
    pub fn open(directory: &Path) -> Result<Store, Fault> {
        std::fs::create_dir_all(directory).map_err(|error| Fault::Storage(format!("creating {}: {error}", directory.display())))?;
        let db = sled::Config::new()
            .path(directory.join("journal.sled"))
            .cache_capacity(SLED_CACHE_BYTES)
            .mode(sled::Mode::HighThroughput)
            // We flush explicitly after every batch; sled's timer flush would only add fsyncs.
            .flush_every_ms(None)
            .open()?;
        let journal = db.open_tree(JOURNAL_TREE)?;
        let meta = db.open_tree(META_TREE)?;
        match meta.get(META_FORMAT_KEY)? {
            None => {
                meta.insert(META_FORMAT_KEY, &[STORE_FORMAT_VERSION])?;
                db.flush()?;
            }
            Some(version) if version.as_ref() == [STORE_FORMAT_VERSION] => {}
            Some(version) => return Err(Fault::Corrupt(format!("unknown store format version {:?}", version.as_ref()))),
        }
        Ok(Store { db, journal, meta, directory: directory.to_path_buf() })
    }

    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// Writes a batch and makes it durable before returning.
    pub fn append_batch(&self, first_sequence: Sequence, encoded: Vec<u8>) -> Result<(), Fault> {
        self.journal.insert(first_sequence.to_be_bytes(), encoded)?;
        self.db.flush()?;
        Ok(())
    }

    /// Every stored batch in sequence order, as (key, bytes).
    pub fn batches(&self) -> impl Iterator<Item = Result<(Sequence, sled::IVec), Fault>> + '_ {
        self.journal.iter().map(|item| {
            let (key, value) = item?;
            let key_bytes: [u8; 8] = key.as_ref().try_into().map_err(|_| Fault::Corrupt(format!("journal key of {} bytes", key.len())))?;
            Ok((Sequence::from_be_bytes(key_bytes), value))
        })
    }

    /// The batch that holds `sequence`, decoded.
    pub fn batch_holding(&self, sequence: Sequence) -> Result<Option<StoredBatch>, Fault> {
        let Some(item) = self.journal.range(..=sequence.to_be_bytes()).next_back() else {
            return Ok(None);
        };
        let (_, value) = item?;
        let batch = StoredBatch::decode(&value).map_err(|error| Fault::Corrupt(format!("batch holding {sequence}: {error}")))?;
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
        self.db.flush()?;
        Ok(())
    }

    /// Overwrites a stored batch's bytes as they are. For tamper tests and repair tools only: the
    /// ledger itself never rewrites the journal.
    #[doc(hidden)]
    pub fn overwrite_batch_for_tamper_test(&self, first_sequence: Sequence, bytes: Vec<u8>) -> Result<(), Fault> {
        self.journal.insert(first_sequence.to_be_bytes(), bytes)?;
        self.db.flush()?;
        Ok(())
    }
}
