//! What callers ask of the ledger (commands), what they get back (receipts), and the business
//! rejections: values with stable codes, never faults.

use crate::account::{ChartCode, Side};
use crate::amount::Asset;
use crate::ids::{AccountId, EntryId, Sequence, Timestamp};
use rust_decimal::Decimal;
use std::fmt;

/// Most postings one entry may carry.
pub const POSTINGS_PER_ENTRY_MAX: usize = 64;
/// Most commands inside one linked group.
pub const LINKED_COMMANDS_MAX: usize = 256;
/// Longest entry category (`[a-z0-9_]`), in bytes.
pub const CATEGORY_BYTES_MAX: usize = 32;
/// Longest memo, in bytes of UTF-8.
pub const MEMO_BYTES_MAX: usize = 256;
/// Largest payload of a note, in bytes.
pub const NOTE_PAYLOAD_BYTES_MAX: usize = 16 * 1024;

/// One line of an entry as the caller gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostingSpec {
    pub account: AccountId,
    pub side: Side,
    /// Strictly positive, with no more decimals than the account's asset allows.
    pub amount: Decimal,
}

impl PostingSpec {
    pub fn debit(account: AccountId, amount: Decimal) -> PostingSpec {
        PostingSpec { account, side: Side::Debit, amount }
    }

    pub fn credit(account: AccountId, amount: Decimal) -> PostingSpec {
        PostingSpec { account, side: Side::Credit, amount }
    }
}

/// An entry to post: posted at once, or pending (a hold) when `hold` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrySpec {
    pub id: EntryId,
    /// What kind of business event this is (`topup`, `gas_charge`, `merchant_payment`, …).
    pub category: String,
    pub memo: String,
    pub postings: Vec<PostingSpec>,
    /// Present for a hold: funds are reserved (pending) until captured, voided or expired.
    pub hold: Option<HoldSpec>,
}

/// How long a hold lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldSpec {
    /// The hold expires (is voided by the ledger) at the first batch stamped at or after this time.
    /// `None`: the hold lives until captured or voided.
    pub expires_at: Option<Timestamp>,
}

/// Opening an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSpec {
    pub id: AccountId,
    pub code: ChartCode,
    pub asset: Asset,
    pub no_overdraft: bool,
    /// Zero or positive; only meaningful with `no_overdraft`.
    pub credit_limit: Decimal,
}

/// Everything the ledger can be asked to do. Each command is applied atomically; a
/// [`Command::Linked`] group is applied all or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    OpenAccount(AccountSpec),
    Post(EntrySpec),
    /// Posts the held amount (or less: partial capture, two-posting holds only) and releases the rest.
    Capture {
        id: EntryId,
        hold: EntryId,
        amount: Option<Decimal>,
        memo: String,
    },
    /// Releases a hold without posting anything.
    Void {
        id: EntryId,
        hold: EntryId,
        memo: String,
    },
    /// Posts the mirror image of a posted entry (or capture), naming it.
    Reverse {
        id: EntryId,
        reverses: EntryId,
        memo: String,
    },
    /// Changes an account's credit limit; recorded in the journal like an entry.
    SetCreditLimit {
        id: EntryId,
        account: AccountId,
        limit: Decimal,
    },
    /// Closes an account whose balances are all zero.
    CloseAccount {
        account: AccountId,
    },
    /// Records a fact that moves no money (see [`crate::record::RecordBody::Note`]); idempotent by
    /// id like an entry. `kind` follows the rules of an entry category.
    Note {
        id: EntryId,
        kind: String,
        payload: Vec<u8>,
    },
    /// All of these commands, or none of them.
    Linked(Vec<Command>),
}

/// Proof that a command is committed (durably, once the writer replies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// Sequence of the journal record that holds the command's effect.
    pub sequence: Sequence,
    /// True when the same command had been committed before and this call posted nothing.
    pub duplicate: bool,
}

/// What a successful command returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done(Receipt),
    Linked(Vec<Receipt>),
}

impl Outcome {
    /// The receipt of a single command, or the first of a linked group.
    pub fn receipt(&self) -> Option<Receipt> {
        match self {
            Outcome::Done(receipt) => Some(*receipt),
            Outcome::Linked(receipts) => receipts.first().copied(),
        }
    }
}

/// The result of one command: applied, or rejected for a business reason.
pub type CommandResult = Result<Outcome, Rejection>;

/// Stable machine codes of business rejections. A rejected command changes nothing and does not
/// reserve its id: a corrected command with the same id is accepted later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectionCode {
    /// Malformed command: bad category or memo, nil id, empty or nested linked group.
    ValidationFailed,
    /// Zero, negative, too many decimals or too large.
    InvalidAmount,
    /// Fewer than two or more than [`POSTINGS_PER_ENTRY_MAX`] postings.
    InvalidPostings,
    /// Debits differ from credits for some asset.
    UnbalancedEntry,
    AccountNotFound,
    AccountClosed,
    UnknownChartCode,
    /// The same id was used before with other content.
    IdConflict,
    /// The posting would take a no-overdraft account below minus its credit limit.
    InsufficientFunds,
    /// A total would leave the range the ledger can represent.
    BalanceOverflow,
    HoldNotFound,
    /// The hold was already captured, voided or expired.
    HoldNotOpen,
    /// A hold whose deadline is not in the future.
    HoldDeadlinePassed,
    CaptureExceedsHold,
    /// Partial capture of a hold with more than one debit and one credit.
    PartialCaptureUnsupported,
    EntryNotFound,
    /// Holds and voids cannot be reversed; void a hold instead.
    NotReversible,
    AlreadyReversed,
    /// Closing an account that still has a balance or pending amounts.
    AccountNotEmpty,
}

impl RejectionCode {
    /// The stable code string, as the HTTP API reports it.
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectionCode::ValidationFailed => "validation_failed",
            RejectionCode::InvalidAmount => "invalid_amount",
            RejectionCode::InvalidPostings => "invalid_postings",
            RejectionCode::UnbalancedEntry => "unbalanced_entry",
            RejectionCode::AccountNotFound => "account_not_found",
            RejectionCode::AccountClosed => "account_closed",
            RejectionCode::UnknownChartCode => "unknown_chart_code",
            RejectionCode::IdConflict => "id_conflict",
            RejectionCode::InsufficientFunds => "insufficient_funds",
            RejectionCode::BalanceOverflow => "balance_overflow",
            RejectionCode::HoldNotFound => "hold_not_found",
            RejectionCode::HoldNotOpen => "hold_not_open",
            RejectionCode::HoldDeadlinePassed => "hold_deadline_passed",
            RejectionCode::CaptureExceedsHold => "capture_exceeds_hold",
            RejectionCode::PartialCaptureUnsupported => "partial_capture_unsupported",
            RejectionCode::EntryNotFound => "entry_not_found",
            RejectionCode::NotReversible => "not_reversible",
            RejectionCode::AlreadyReversed => "already_reversed",
            RejectionCode::AccountNotEmpty => "account_not_empty",
        }
    }
}

/// A business rejection: a stable code, a sentence for people, and for linked groups the position
/// of the command that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: RejectionCode,
    pub detail: String,
    /// Inside a linked group: which command (0-based) caused the whole group to be rejected.
    pub linked_index: Option<usize>,
}

impl Rejection {
    pub fn new(code: RejectionCode, detail: impl Into<String>) -> Rejection {
        Rejection { code, detail: detail.into(), linked_index: None }
    }

    pub fn code(&self) -> &'static str {
        self.code.as_str()
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.code.as_str(), self.detail)?;
        if let Some(index) = self.linked_index {
            write!(formatter, " (linked command {index})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejection {}
