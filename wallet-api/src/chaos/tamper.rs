//! `gaswallet chaos tamper`: flip one byte of one stored journal record, so that `gaswallet verify`
//! can be seen finding it (docs/reliability.md shows both). For a stopped server's data directory
//! or a copy of it: it rewrites the journal, which nothing else ever does.

use crate::data_dir::ledger_directory;
use anyhow::{bail, Context};
use ledger::record::RecordBody;
use ledger::store::Store;
use serde::Serialize;
use std::path::Path;

/// What was changed.
#[derive(Debug, Clone, Serialize)]
pub struct Tampered {
    pub sequence: u64,
    /// The id of the entry (or note) the record answers to.
    pub entry_id: Option<String>,
    pub record_kind: &'static str,
    pub byte_offset_in_body: usize,
    pub byte_before: u8,
    pub byte_after: u8,
}

/// Flips the last byte of record `sequence`'s body (by default the last money entry's) in the
/// journal under `data`.
pub fn tamper(data: &Path, sequence: Option<u64>) -> anyhow::Result<Tampered> {
    let directory = ledger_directory(data);
    if !directory.exists() {
        bail!("no ledger at {} (is --data the service's data directory?)", directory.display());
    }
    let store = Store::open(&directory).map_err(|fault| anyhow::anyhow!("{fault}"))?;
    let sequence = match sequence {
        Some(sequence) => sequence,
        None => last_entry(&store)?.context("the journal holds no money entry to tamper with")?,
    };
    let mut batch = store
        .batch_holding(sequence)
        .map_err(|fault| anyhow::anyhow!("{fault}"))?
        .with_context(|| format!("no record {sequence} in the journal"))?;
    let offset = usize::try_from(sequence - batch.first_sequence)?;
    let record = batch.records.get_mut(offset).with_context(|| format!("no record {sequence} in its batch"))?;
    let decoded = RecordBody::decode(&record.body).map_err(|error| anyhow::anyhow!("record {sequence}: {error}"))?;
    let byte_offset_in_body = record.body.len().checked_sub(1).context("an empty record body")?;
    let byte_before = record.body[byte_offset_in_body];
    let byte_after = byte_before ^ 0x01;
    record.body[byte_offset_in_body] = byte_after;
    store
        .overwrite_batch_for_tamper_test(batch.first_sequence, &batch.encode())
        .map_err(|fault| anyhow::anyhow!("{fault}"))?;
    Ok(Tampered {
        sequence,
        entry_id: decoded.entry_id().map(|id| id.to_string()),
        record_kind: match decoded {
            RecordBody::AccountOpened(_) => "account_opened",
            RecordBody::Entry(_) => "entry",
            RecordBody::CreditLimitSet { .. } => "credit_limit_set",
            RecordBody::AccountClosed { .. } => "account_closed",
            RecordBody::Note { .. } => "note",
        },
        byte_offset_in_body,
        byte_before,
        byte_after,
    })
}

/// The sequence of the journal's last money entry.
fn last_entry(store: &Store) -> anyhow::Result<Option<u64>> {
    let mut last = None;
    for batch in store.batches() {
        let (_, bytes) = batch.map_err(|fault| anyhow::anyhow!("{fault}"))?;
        let batch = ledger::record::StoredBatch::decode(&bytes).map_err(|error| anyhow::anyhow!("{error}"))?;
        for (offset, record) in batch.records.iter().enumerate() {
            if matches!(RecordBody::decode(&record.body), Ok(RecordBody::Entry(_))) {
                last = Some(batch.first_sequence + offset as u64);
            }
        }
    }
    Ok(last)
}
