//! The ledger's state and the one function that changes it.
//!
//! [`apply_record`] is the single place where the ledger's rules on balances live: it checks a
//! record against the state and, only if every check passes, applies it. The same function runs
//! when the writer stages a batch (on an overlay, see `engine`), when the committed batch is
//! applied to the shared state, when the journal is replayed on open, and inside `verify`. So a
//! journal that replays is, by construction, a journal that obeyed the rules.

use crate::account::{chart, Account, AccountFlags, Balances, Side};
use crate::amount::Asset;
use crate::command::{Rejection, RejectionCode, POSTINGS_PER_ENTRY_MAX};
use crate::ids::{AccountId, AccountIndex, EntryId, Sequence, Timestamp};
use crate::record::{EntryKind, EntryRecord, OpenedAccount, Posting, RecordBody, GENESIS_HASH};
use std::collections::{BTreeSet, HashMap};

/// Where a hold stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldStatus {
    Open,
    Captured { by: EntryId },
    Voided { by: EntryId },
    Expired { by: EntryId },
}

/// A pending entry and its fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub id: EntryId,
    pub sequence: Sequence,
    pub postings: Vec<Posting>,
    pub expires_at: Option<Timestamp>,
    pub status: HoldStatus,
}

/// Ledger-wide totals of one asset. Debits equal credits, posted and pending, after every record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AssetTotals {
    pub debits_posted: u128,
    pub credits_posted: u128,
    pub debits_pending: u128,
    pub credits_pending: u128,
}

impl AssetTotals {
    pub fn is_balanced(&self) -> bool {
        self.debits_posted == self.credits_posted && self.debits_pending == self.credits_pending
    }
}

/// An account's balances right after one record touched it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryItem {
    pub sequence: Sequence,
    pub balances: Balances,
}

/// Read access to ledger state, implemented by the committed [`State`] and by the writer's
/// staging overlay.
pub(crate) trait StateView {
    fn account(&self, index: AccountIndex) -> Option<&Account>;
    fn account_index(&self, id: &AccountId) -> Option<AccountIndex>;
    fn account_count(&self) -> u32;
    fn hold(&self, id: &EntryId) -> Option<&Hold>;
    fn entry_sequence(&self, id: &EntryId) -> Option<Sequence>;
    fn reversed_by(&self, id: &EntryId) -> Option<EntryId>;
}

/// Write access used by [`apply_record`].
pub(crate) trait StateMut: StateView {
    fn account_mut(&mut self, index: AccountIndex) -> Option<&mut Account>;
    fn push_account(&mut self, account: Account);
    fn put_hold(&mut self, hold: Hold);
    fn put_entry(&mut self, id: EntryId, sequence: Sequence);
    fn put_reversal(&mut self, of: EntryId, by: EntryId);
    fn totals_mut(&mut self, asset: Asset) -> &mut AssetTotals;
    /// Called after a record changed an account's balances (the committed state keeps history).
    fn note_balances(&mut self, _index: AccountIndex, _sequence: Sequence) {}
}

/// The committed ledger state, held in memory and rebuilt from the journal on open.
#[derive(Debug, Default)]
pub struct State {
    accounts: Vec<Account>,
    account_ids: HashMap<AccountId, AccountIndex>,
    holds: HashMap<EntryId, Hold>,
    /// Open holds with a deadline, by deadline, so expiry finds the due ones without a scan.
    hold_deadlines: BTreeSet<(Timestamp, EntryId)>,
    /// Every entry and note id, to its sequence. Grows incrementally: it is the largest map and
    /// is written under the write lock on every commit.
    entries: crate::incremental_map::IncrementalMap<EntryId, Sequence>,
    reversals: HashMap<EntryId, EntryId>,
    history: Vec<Vec<HistoryItem>>,
    totals: [AssetTotals; 2],
    /// First sequence and timestamp of every committed batch, in order.
    batches: Vec<(Sequence, Timestamp)>,
    last_sequence: Sequence,
    head_hash: [u8; 32],
    last_timestamp: Timestamp,
    last_signature: Option<[u8; 64]>,
}

impl State {
    pub fn new() -> State {
        State { head_hash: GENESIS_HASH, ..State::default() }
    }

    /// Sequence of the last committed record (0 before the first).
    pub fn last_sequence(&self) -> Sequence {
        self.last_sequence
    }

    pub fn head_hash(&self) -> [u8; 32] {
        self.head_hash
    }

    pub fn last_timestamp(&self) -> Timestamp {
        self.last_timestamp
    }

    pub fn last_signature(&self) -> Option<[u8; 64]> {
        self.last_signature
    }

    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    pub fn account_by_id(&self, id: &AccountId) -> Option<&Account> {
        self.account_ids.get(id).and_then(|index| self.accounts.get(index.0 as usize))
    }

    pub fn hold_by_id(&self, id: &EntryId) -> Option<&Hold> {
        self.holds.get(id)
    }

    pub fn entry_sequence_by_id(&self, id: &EntryId) -> Option<Sequence> {
        self.entries.get(id).copied()
    }

    pub fn totals(&self, asset: Asset) -> AssetTotals {
        self.totals[asset.ordinal()]
    }

    /// Sum of all balances is zero for every asset, posted and pending.
    pub fn is_balanced(&self) -> bool {
        self.totals.iter().all(AssetTotals::is_balanced)
    }

    /// Batches as (first sequence, timestamp), in commit order.
    pub fn batch_marks(&self) -> &[(Sequence, Timestamp)] {
        &self.batches
    }

    /// History of balances of an account, one item per record that touched it.
    pub fn history(&self, index: AccountIndex) -> &[HistoryItem] {
        self.history.get(index.0 as usize).map_or(&[], Vec::as_slice)
    }

    /// Balances of an account right after the given sequence (zero before its first posting).
    pub fn balances_as_of_sequence(&self, index: AccountIndex, sequence: Sequence) -> Balances {
        let items = self.history(index);
        let after = items.partition_point(|item| item.sequence <= sequence);
        after.checked_sub(1).and_then(|position| items.get(position)).map_or(Balances::default(), |item| item.balances)
    }

    /// The last sequence committed at or before the given time (0 if none).
    pub fn sequence_as_of_time(&self, at: Timestamp) -> Sequence {
        let after = self.batches.partition_point(|(_, timestamp)| *timestamp <= at);
        match self.batches.get(after) {
            // The batch after `at` starts at this sequence; everything before it is at or before `at`.
            Some((first_sequence, _)) => first_sequence - 1,
            None if after == 0 => 0,
            None => self.last_sequence,
        }
    }

    /// Open holds whose deadline is at or before `now`, oldest deadline first.
    pub fn due_holds(&self, now: Timestamp) -> impl Iterator<Item = EntryId> + '_ {
        self.due_holds_with_deadlines(now).map(|(_, id)| id)
    }

    /// [`State::due_holds`] with each hold's deadline.
    pub fn due_holds_with_deadlines(&self, now: Timestamp) -> impl Iterator<Item = (Timestamp, EntryId)> + '_ {
        self.hold_deadlines.iter().take_while(move |(deadline, _)| *deadline <= now).copied()
    }

    /// Applies a committed batch. The records were staged against this very state by the writer,
    /// so a rejection here means the state and the journal disagree: a broken invariant.
    pub(crate) fn apply_committed_batch(
        &mut self,
        first_sequence: Sequence,
        timestamp: Timestamp,
        bodies: &[RecordBody],
        hashes: &[[u8; 32]],
        signature: [u8; 64],
    ) -> Result<(), (Sequence, Rejection)> {
        self.batches.push((first_sequence, timestamp));
        for (offset, body) in bodies.iter().enumerate() {
            let sequence = first_sequence + offset as u64;
            apply_record(self, sequence, timestamp, body).map_err(|rejection| (sequence, rejection))?;
            self.last_sequence = sequence;
        }
        if let Some(hash) = hashes.last() {
            self.head_hash = *hash;
        }
        self.last_timestamp = timestamp;
        self.last_signature = Some(signature);
        Ok(())
    }
}

impl StateView for State {
    fn account(&self, index: AccountIndex) -> Option<&Account> {
        self.accounts.get(index.0 as usize)
    }

    fn account_index(&self, id: &AccountId) -> Option<AccountIndex> {
        self.account_ids.get(id).copied()
    }

    fn account_count(&self) -> u32 {
        self.accounts.len() as u32
    }

    fn hold(&self, id: &EntryId) -> Option<&Hold> {
        self.holds.get(id)
    }

    fn entry_sequence(&self, id: &EntryId) -> Option<Sequence> {
        self.entries.get(id).copied()
    }

    fn reversed_by(&self, id: &EntryId) -> Option<EntryId> {
        self.reversals.get(id).copied()
    }
}

impl StateMut for State {
    fn account_mut(&mut self, index: AccountIndex) -> Option<&mut Account> {
        self.accounts.get_mut(index.0 as usize)
    }

    fn push_account(&mut self, account: Account) {
        self.account_ids.insert(account.id, AccountIndex(self.accounts.len() as u32));
        self.accounts.push(account);
        self.history.push(Vec::new());
    }

    fn put_hold(&mut self, hold: Hold) {
        if let Some(deadline) = hold.expires_at {
            if hold.status == HoldStatus::Open {
                self.hold_deadlines.insert((deadline, hold.id));
            } else {
                self.hold_deadlines.remove(&(deadline, hold.id));
            }
        }
        self.holds.insert(hold.id, hold);
    }

    fn put_entry(&mut self, id: EntryId, sequence: Sequence) {
        self.entries.insert(id, sequence);
    }

    fn put_reversal(&mut self, of: EntryId, by: EntryId) {
        self.reversals.insert(of, by);
    }

    fn totals_mut(&mut self, asset: Asset) -> &mut AssetTotals {
        &mut self.totals[asset.ordinal()]
    }

    fn note_balances(&mut self, index: AccountIndex, sequence: Sequence) {
        let balances = self.accounts.get(index.0 as usize).map(|account| account.balances);
        if let (Some(balances), Some(items)) = (balances, self.history.get_mut(index.0 as usize)) {
            items.push(HistoryItem { sequence, balances });
        }
    }
}

fn reject(code: RejectionCode, detail: impl Into<String>) -> Rejection {
    Rejection::new(code, detail)
}

/// Checks a record against the state and applies it, or changes nothing and says why not.
pub(crate) fn apply_record<S: StateMut>(
    state: &mut S,
    sequence: Sequence,
    timestamp: Timestamp,
    body: &RecordBody,
) -> Result<(), Rejection> {
    match body {
        RecordBody::AccountOpened(opened) => apply_account_opened(state, sequence, opened),
        RecordBody::Entry(entry) => apply_entry(state, sequence, timestamp, entry),
        RecordBody::CreditLimitSet { id, account, limit_minor } => {
            if state.entry_sequence(id).is_some() {
                return Err(reject(RejectionCode::IdConflict, format!("id {id} is already used")));
            }
            let target = state
                .account_mut(*account)
                .ok_or_else(|| reject(RejectionCode::AccountNotFound, format!("account index {}", account.0)))?;
            target.credit_limit_minor = *limit_minor;
            state.put_entry(*id, sequence);
            Ok(())
        }
        RecordBody::Note { id, .. } => {
            if state.entry_sequence(id).is_some() {
                return Err(reject(RejectionCode::IdConflict, format!("id {id} is already used")));
            }
            state.put_entry(*id, sequence);
            Ok(())
        }
        RecordBody::AccountClosed { account } => {
            let target = state
                .account_mut(*account)
                .ok_or_else(|| reject(RejectionCode::AccountNotFound, format!("account index {}", account.0)))?;
            if !target.is_open() {
                return Err(reject(RejectionCode::AccountClosed, format!("account {} is already closed", target.id)));
            }
            let balances = target.balances;
            if balances.debits_posted != balances.credits_posted
                || balances.debits_pending != 0
                || balances.credits_pending != 0
            {
                return Err(reject(
                    RejectionCode::AccountNotEmpty,
                    format!("account {} has a balance or holds", target.id),
                ));
            }
            target.closed_at = Some(sequence);
            Ok(())
        }
    }
}

fn apply_account_opened<S: StateMut>(
    state: &mut S,
    sequence: Sequence,
    opened: &OpenedAccount,
) -> Result<(), Rejection> {
    if state.account_index(&opened.id).is_some() {
        return Err(reject(RejectionCode::IdConflict, format!("account {} already exists", opened.id)));
    }
    let chart_entry = chart::lookup(opened.code).ok_or_else(|| {
        reject(RejectionCode::UnknownChartCode, format!("chart code {} is not in the chart", opened.code.0))
    })?;
    if chart_entry.class.normal_side() != opened.normal_side {
        return Err(reject(RejectionCode::ValidationFailed, "normal side differs from the chart"));
    }
    if state.account_count() == u32::MAX {
        return Err(reject(RejectionCode::BalanceOverflow, "the ledger holds the most accounts it can"));
    }
    state.push_account(Account {
        id: opened.id,
        code: opened.code,
        asset: opened.asset,
        normal_side: opened.normal_side,
        flags: AccountFlags { no_overdraft: opened.no_overdraft },
        credit_limit_minor: opened.credit_limit_minor,
        opened_at: sequence,
        closed_at: None,
        balances: Balances::default(),
    });
    Ok(())
}

/// Which balance field a change goes to.
#[derive(Clone, Copy)]
enum Bucket {
    Posted,
    Pending,
}

/// One change to one account's balances: add to posted or pending, or release pending.
#[derive(Clone, Copy)]
struct BalanceChange {
    account: AccountIndex,
    side: Side,
    bucket: Bucket,
    release: bool,
    amount_minor: u64,
}

/// Checks that postings are well formed: count, positive amounts, accounts exist and are open,
/// debits equal credits per asset.
fn check_postings<S: StateView>(state: &S, postings: &[Posting]) -> Result<(), Rejection> {
    if postings.len() < 2 || postings.len() > POSTINGS_PER_ENTRY_MAX {
        return Err(reject(
            RejectionCode::InvalidPostings,
            format!("an entry has 2 to {POSTINGS_PER_ENTRY_MAX} postings, got {}", postings.len()),
        ));
    }
    let mut debits = [0u128; Asset::ALL.len()];
    let mut credits = [0u128; Asset::ALL.len()];
    for posting in postings {
        if posting.amount_minor == 0 || posting.amount_minor > crate::amount::POSTING_AMOUNT_MINOR_MAX {
            return Err(reject(RejectionCode::InvalidAmount, "posting amount out of range"));
        }
        let account = state
            .account(posting.account)
            .ok_or_else(|| reject(RejectionCode::AccountNotFound, format!("account index {}", posting.account.0)))?;
        if !account.is_open() {
            return Err(reject(RejectionCode::AccountClosed, format!("account {} is closed", account.id)));
        }
        let slot = account.asset.ordinal();
        match posting.side {
            Side::Debit => debits[slot] += u128::from(posting.amount_minor),
            Side::Credit => credits[slot] += u128::from(posting.amount_minor),
        }
    }
    if let Some(asset) = Asset::ALL.into_iter().find(|asset| debits[asset.ordinal()] != credits[asset.ordinal()]) {
        return Err(reject(RejectionCode::UnbalancedEntry, format!("debits and credits of {asset} differ")));
    }
    Ok(())
}

fn open_hold<'a, S: StateView>(state: &'a S, hold_id: &EntryId) -> Result<&'a Hold, Rejection> {
    let hold = state.hold(hold_id).ok_or_else(|| reject(RejectionCode::HoldNotFound, format!("no hold {hold_id}")))?;
    if hold.status != HoldStatus::Open {
        return Err(reject(RejectionCode::HoldNotOpen, format!("hold {hold_id} is {:?}", hold.status)));
    }
    Ok(hold)
}

fn apply_entry<S: StateMut>(
    state: &mut S,
    sequence: Sequence,
    timestamp: Timestamp,
    entry: &EntryRecord,
) -> Result<(), Rejection> {
    if state.entry_sequence(&entry.id).is_some() {
        return Err(reject(RejectionCode::IdConflict, format!("id {} is already used", entry.id)));
    }
    let mut changes: Vec<BalanceChange> = Vec::with_capacity(entry.postings.len() * 2);
    let add = |changes: &mut Vec<BalanceChange>, postings: &[Posting], bucket: Bucket, release: bool| {
        changes.extend(postings.iter().map(|posting| BalanceChange {
            account: posting.account,
            side: posting.side,
            bucket,
            release,
            amount_minor: posting.amount_minor,
        }));
    };
    let mut resolved_hold: Option<Hold> = None;
    match entry.kind {
        EntryKind::Posted => {
            check_postings(state, &entry.postings)?;
            add(&mut changes, &entry.postings, Bucket::Posted, false);
        }
        EntryKind::Reversal { of } => {
            if state.entry_sequence(&of).is_none() {
                return Err(reject(RejectionCode::EntryNotFound, format!("no entry {of} to reverse")));
            }
            if let Some(by) = state.reversed_by(&of) {
                return Err(reject(RejectionCode::AlreadyReversed, format!("entry {of} was reversed by {by}")));
            }
            check_postings(state, &entry.postings)?;
            add(&mut changes, &entry.postings, Bucket::Posted, false);
        }
        EntryKind::Hold { expires_at } => {
            if expires_at.is_some_and(|deadline| deadline <= timestamp) {
                return Err(reject(RejectionCode::HoldDeadlinePassed, "the hold's deadline is not in the future"));
            }
            check_postings(state, &entry.postings)?;
            add(&mut changes, &entry.postings, Bucket::Pending, false);
        }
        EntryKind::Capture { hold } => {
            let held = open_hold(state, &hold)?;
            check_postings(state, &entry.postings)?;
            // Every captured (account, side) must have been held, for at least that amount.
            for captured in &entry.postings {
                let held_minor: u64 = held
                    .postings
                    .iter()
                    .filter(|posting| posting.account == captured.account && posting.side == captured.side)
                    .map(|posting| posting.amount_minor)
                    .sum();
                let captured_minor: u64 = entry
                    .postings
                    .iter()
                    .filter(|posting| posting.account == captured.account && posting.side == captured.side)
                    .map(|posting| posting.amount_minor)
                    .sum();
                if captured_minor > held_minor {
                    return Err(reject(RejectionCode::CaptureExceedsHold, format!("capture exceeds hold {hold}")));
                }
            }
            add(&mut changes, &held.postings, Bucket::Pending, true);
            add(&mut changes, &entry.postings, Bucket::Posted, false);
            let mut resolved = held.clone();
            resolved.status = HoldStatus::Captured { by: entry.id };
            resolved_hold = Some(resolved);
        }
        EntryKind::Void { hold, expired } => {
            let held = open_hold(state, &hold)?;
            if !entry.postings.is_empty() {
                return Err(reject(RejectionCode::InvalidPostings, "a void carries no postings"));
            }
            if expired && held.expires_at.is_none_or(|deadline| deadline > timestamp) {
                return Err(reject(RejectionCode::ValidationFailed, format!("hold {hold} is not due to expire")));
            }
            add(&mut changes, &held.postings, Bucket::Pending, true);
            let mut resolved = held.clone();
            resolved.status =
                if expired { HoldStatus::Expired { by: entry.id } } else { HoldStatus::Voided { by: entry.id } };
            resolved_hold = Some(resolved);
        }
    }

    // Compute every touched account's new balances before changing anything.
    let mut touched: Vec<(AccountIndex, Balances, Balances)> = Vec::with_capacity(4);
    for change in &changes {
        let position = match touched.iter().position(|(index, _, _)| *index == change.account) {
            Some(position) => position,
            None => {
                let account = state.account(change.account).ok_or_else(|| {
                    reject(RejectionCode::AccountNotFound, format!("account index {}", change.account.0))
                })?;
                touched.push((change.account, account.balances, account.balances));
                touched.len() - 1
            }
        };
        let balances = &mut touched[position].2;
        let field = match (change.bucket, change.side) {
            (Bucket::Posted, Side::Debit) => &mut balances.debits_posted,
            (Bucket::Posted, Side::Credit) => &mut balances.credits_posted,
            (Bucket::Pending, Side::Debit) => &mut balances.debits_pending,
            (Bucket::Pending, Side::Credit) => &mut balances.credits_pending,
        };
        let updated = if change.release {
            field.checked_sub(change.amount_minor)
        } else {
            field.checked_add(change.amount_minor)
        };
        *field =
            updated.ok_or_else(|| reject(RejectionCode::BalanceOverflow, "a balance total would leave its range"))?;
    }
    for (index, before, after) in &touched {
        if let Some(account) = state.account(*index) {
            // An account already past its limit (its limit was lowered) may still receive money;
            // only changes that lower its available balance further are refused.
            if account.violates_limit(after)
                && after.available_on(account.normal_side) < before.available_on(account.normal_side)
            {
                return Err(reject(
                    RejectionCode::InsufficientFunds,
                    format!("account {} lacks available funds", account.id),
                ));
            }
        }
    }

    // Past this point nothing can fail.
    for change in &changes {
        if let Some(asset) = state.account(change.account).map(|account| account.asset) {
            let totals = state.totals_mut(asset);
            let field = match (change.bucket, change.side) {
                (Bucket::Posted, Side::Debit) => &mut totals.debits_posted,
                (Bucket::Posted, Side::Credit) => &mut totals.credits_posted,
                (Bucket::Pending, Side::Debit) => &mut totals.debits_pending,
                (Bucket::Pending, Side::Credit) => &mut totals.credits_pending,
            };
            if change.release {
                *field -= u128::from(change.amount_minor);
            } else {
                *field += u128::from(change.amount_minor);
            }
        }
    }
    for (index, _, after) in touched {
        if let Some(account) = state.account_mut(index) {
            account.balances = after;
        }
        state.note_balances(index, sequence);
    }
    match entry.kind {
        EntryKind::Hold { expires_at } => state.put_hold(Hold {
            id: entry.id,
            sequence,
            postings: entry.postings.clone(),
            expires_at,
            status: HoldStatus::Open,
        }),
        EntryKind::Reversal { of } => state.put_reversal(of, entry.id),
        EntryKind::Posted | EntryKind::Capture { .. } | EntryKind::Void { .. } => {}
    }
    if let Some(resolved) = resolved_hold {
        state.put_hold(resolved);
    }
    state.put_entry(entry.id, sequence);
    Ok(())
}

impl State {
    /// The timestamp of the batch that committed `sequence`.
    pub fn timestamp_of(&self, sequence: Sequence) -> Option<Timestamp> {
        if sequence == 0 || sequence > self.last_sequence {
            return None;
        }
        let after = self.batches.partition_point(|(first_sequence, _)| *first_sequence <= sequence);
        after.checked_sub(1).and_then(|position| self.batches.get(position)).map(|(_, timestamp)| *timestamp)
    }
}

impl State {
    /// Records that a batch whose records were applied one by one (by verify) is complete.
    pub(crate) fn mark_batch(
        &mut self,
        first_sequence: Sequence,
        timestamp: Timestamp,
        last_sequence: Sequence,
        head_hash: [u8; 32],
        signature: [u8; 64],
    ) {
        self.batches.push((first_sequence, timestamp));
        self.last_sequence = last_sequence;
        self.head_hash = head_hash;
        self.last_timestamp = timestamp;
        self.last_signature = Some(signature);
    }
}

impl State {
    /// The index of an account (its position in opening order).
    pub fn account_index_of(&self, id: &AccountId) -> Option<AccountIndex> {
        self.account_ids.get(id).copied()
    }

    /// The account at an index.
    pub fn account_at(&self, index: AccountIndex) -> Option<&Account> {
        self.accounts.get(index.0 as usize)
    }
}
