//! The double-entry ledger core of gaswallet.
//!
//! Money moves only through balanced entries; balances are derived from a hash-chained,
//! append-only journal stored on sled. Layout:
//!
//! - [`amount`], [`ids`], [`account`]: the vocabulary (assets with fixed scales, typed ids,
//!   accounts, the chart of accounts, balances).
//! - [`command`]: what callers ask (commands), what they get (receipts) and business rejections.
//! - [`record`]: journal records, their hash chain and their byte format.
//! - [`state`]: the in-memory state and `apply_record`, the one place the balance rules live.
//! - [`engine`]: the pure state machine that stages a batch of commands into records.
//! - [`store`]: sled (the only module that touches it).
//! - [`ledger`]: the writer thread (group commit) and the readers.
//! - [`verify`]: recomputing the chain, signatures and balances from the journal.
//! - [`incremental_map`]: a hash map that grows a little on each insert instead of all at once
//!   (the id index must not pause the commit path).
//!
//! See `docs/ARCHITECTURE.md` and `docs/storage.md` for the reasons behind the shape.
#![deny(clippy::float_arithmetic)]

pub mod account;
pub mod amount;
pub mod command;
pub mod engine;
pub mod ids;
pub mod incremental_map;
pub mod ledger;
pub mod record;
pub mod signing;
pub mod state;
pub mod store;
pub mod verify;

pub use account::{chart, Account, AccountClass, AccountFlags, Balances, ChartCode, Side};
pub use amount::{AmountError, Asset, POSTING_AMOUNT_MINOR_MAX};
pub use command::{
    AccountSpec, Command, CommandResult, EntrySpec, HoldSpec, Outcome, PostingSpec, Receipt, Rejection, RejectionCode,
};
pub use ids::{AccountId, AccountIndex, EntryId, Sequence, Timestamp};
pub use ledger::{
    AsOf, Checkpoint, Clock, CommitObserver, CommittedBatch, HistoryLine, HistoryPage, Ledger, LedgerConfig,
    LedgerReader, ManualClock, SystemClock, Ticket,
};
pub use state::{Hold, HoldStatus};
pub use verify::{verify_directory, Divergence, DivergenceKind, VerifyReport};

/// Failures that are not the caller's fault: storage errors, corruption, a stopped writer.
/// Distinct from [`Rejection`], which is a business answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    #[error("storage error: {0}")]
    Storage(String),
    #[error("journal is corrupt: {0}")]
    Corrupt(String),
    #[error("signing key: {0}")]
    Key(String),
    #[error("the ledger writer has stopped")]
    WriterStopped,
    #[error("the ledger's queue is full; try again shortly")]
    Overloaded,
    #[error("a submission of {commands} commands exceeds the most one batch holds ({max})")]
    SubmissionTooLarge { commands: usize, max: usize },
}
