//! The state machine: turns a batch of commands into journal records and results.
//!
//! Pure: time is an argument, the only outside input is read access to already-committed records
//! (for idempotent replays and reversals). Commands are staged on an overlay over the committed
//! state, so nothing becomes visible to readers before the writer has made the batch durable. A
//! linked group stages on a layer of its own, merged when every command in it succeeds and
//! dropped otherwise.

use crate::account::{chart, Account};
use crate::amount::Asset;
use crate::command::{
    AccountSpec, Command, CommandResult, EntrySpec, Outcome, PostingSpec, Receipt, Rejection, RejectionCode,
    CATEGORY_BYTES_MAX, LINKED_COMMANDS_MAX, MEMO_BYTES_MAX, NOTE_PAYLOAD_BYTES_MAX,
};
use crate::ids::{AccountId, AccountIndex, EntryId, Sequence, Timestamp};
use crate::record::{EntryKind, EntryRecord, OpenedAccount, Posting, RecordBody};
use crate::state::{apply_record, AssetTotals, Hold, HoldStatus, State, StateMut, StateView};
use crate::Fault;
use std::collections::HashMap;
use std::sync::Arc;

/// Reads records that are already in the journal.
pub trait JournalLookup {
    fn record(&self, sequence: Sequence) -> Result<RecordBody, Fault>;
}

/// The records a batch produced and each command's result, in order.
#[derive(Debug)]
pub struct StagedBatch {
    pub first_sequence: Sequence,
    pub timestamp: Timestamp,
    /// Shared with [`StagedBatch::overlay`], which the next batch reads them through.
    pub records: Arc<Vec<RecordBody>>,
    pub results: Vec<CommandResult>,
    /// What this batch changes, for the next batch to stage on while this one is being made
    /// durable (see [`PendingOverlay`]).
    pub overlay: PendingOverlay,
}

/// A staged batch that is not yet in the committed state, as the next batch sees it.
///
/// The writer stages batch K+1 while batch K is being written and flushed. K+1 must see K's
/// effects (balances, ids, holds), but K is not in the committed [`State`] yet: readers may only
/// see durable data. So K's changes stay in this overlay, between K+1's own layers and the
/// committed state. It is only valid on top of a state that holds every batch before K, and only
/// until K itself is applied: [`PendingOverlay::applies_on`] tells which.
#[derive(Debug)]
pub struct PendingOverlay {
    layer: Layer,
    first_sequence: Sequence,
    records: Arc<Vec<RecordBody>>,
    timestamp: Timestamp,
}

impl PendingOverlay {
    /// Whether this overlay is still needed on top of `base`: `base` ends right before it.
    /// `false` once the batch has been applied; anything else is a broken pipeline invariant.
    pub fn applies_on(&self, base: &State) -> bool {
        let last_sequence = self.first_sequence + self.records.len() as u64 - 1;
        if base.last_sequence() >= last_sequence {
            return false;
        }
        assert_eq!(
            base.last_sequence() + 1,
            self.first_sequence,
            "a pending batch must sit right on top of the committed state"
        );
        true
    }

    /// The batch's time: the next batch is never stamped earlier.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// Whether the batch wrote nothing (every command was rejected or a duplicate).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// Holds due at `now` as `base` plus the `pending` batch see them, oldest deadline first.
pub fn due_holds(base: &State, pending: Option<&PendingOverlay>, now: Timestamp) -> Vec<EntryId> {
    let is_open_in_pending = |id: &EntryId| {
        pending.and_then(|overlay| overlay.layer.holds.get(id)).is_none_or(|hold| hold.status == HoldStatus::Open)
    };
    let mut due: Vec<(Timestamp, EntryId)> =
        base.due_holds_with_deadlines(now).filter(|(_, id)| is_open_in_pending(id)).collect();
    if let Some(overlay) = pending {
        // Holds the pending batch opened, already due (a clock that jumped forward).
        due.extend(overlay.layer.holds.values().filter_map(|hold| match (hold.status, hold.expires_at) {
            (HoldStatus::Open, Some(deadline)) if deadline <= now && base.hold(&hold.id).is_none() => {
                Some((deadline, hold.id))
            }
            _ => None,
        }));
        due.sort_unstable();
    }
    due.into_iter().map(|(_, id)| id).collect()
}

/// Stages `commands` against `base` (plus the `pending` batch not yet applied to it) at time
/// `now`: first the ledger voids the holds that are due, then each command in order.
pub fn stage_batch<'c>(
    base: &State,
    pending: Option<&PendingOverlay>,
    journal: &dyn JournalLookup,
    commands: impl IntoIterator<Item = &'c Command>,
    now: Timestamp,
) -> Result<StagedBatch, Fault> {
    let mut staging = Staging::new(base, pending, now);
    let due = due_holds(base, pending, now);
    for hold in due {
        let body = RecordBody::Entry(EntryRecord {
            id: EntryId::derived(hold, "expire"),
            kind: EntryKind::Void { hold, expired: true },
            category: "hold_expired".to_owned(),
            memo: String::new(),
            postings: Vec::new(),
        });
        if let Err(rejection) = staging.stage(body) {
            // The hold is open and due by construction; failing to void it is a broken invariant.
            panic!("expiring hold {hold} failed: {rejection}");
        }
    }
    let mut results = Vec::new();
    for command in commands {
        let result = match command {
            Command::Linked(commands) => stage_linked(&mut staging, journal, commands)?,
            single => stage_single(&mut staging, journal, single)?.map(Outcome::Done),
        };
        results.push(result);
    }
    staging.assert_balanced();
    let first_sequence = staging.first_staged_sequence();
    let mut layer = staging.into_layer();
    let records = Arc::new(std::mem::take(&mut layer.records));
    let overlay = PendingOverlay { layer, first_sequence, records: Arc::clone(&records), timestamp: now };
    Ok(StagedBatch { first_sequence, timestamp: now, records, results, overlay })
}

fn stage_linked(
    staging: &mut Staging<'_>,
    journal: &dyn JournalLookup,
    commands: &[Command],
) -> Result<CommandResult, Fault> {
    if commands.is_empty() || commands.len() > LINKED_COMMANDS_MAX {
        return Ok(Err(Rejection::new(
            RejectionCode::ValidationFailed,
            format!("a linked group holds 1 to {LINKED_COMMANDS_MAX} commands"),
        )));
    }
    staging.push_layer();
    let mut receipts = Vec::with_capacity(commands.len());
    for (index, command) in commands.iter().enumerate() {
        let result = match command {
            Command::Linked(_) => Err(Rejection::new(RejectionCode::ValidationFailed, "linked groups do not nest")),
            single => match stage_single(staging, journal, single) {
                Ok(result) => result,
                Err(fault) => {
                    staging.drop_layer();
                    return Err(fault);
                }
            },
        };
        match result {
            Ok(receipt) => receipts.push(receipt),
            Err(mut rejection) => {
                staging.drop_layer();
                rejection.linked_index = Some(index);
                return Ok(Err(rejection));
            }
        }
    }
    staging.merge_layer();
    Ok(Ok(Outcome::Linked(receipts)))
}

/// Stages one non-linked command. The outer `Result` is a fault; the inner one the command's fate.
fn stage_single(
    staging: &mut Staging<'_>,
    journal: &dyn JournalLookup,
    command: &Command,
) -> Result<Result<Receipt, Rejection>, Fault> {
    let candidate = match candidate_record(staging, journal, command)? {
        Ok(candidate) => candidate,
        Err(rejection) => {
            // An id already committed with content that does not even validate now is a conflict.
            if existing_sequence(staging, command).is_some() {
                return Ok(Err(Rejection::new(
                    RejectionCode::IdConflict,
                    format!("id reused with other content: {}", rejection.detail),
                )));
            }
            return Ok(Err(rejection));
        }
    };
    if let Some(existing) = existing_sequence(staging, command) {
        let stored = staging.record(journal, existing)?;
        return Ok(if stored == candidate {
            Ok(Receipt { sequence: existing, duplicate: true })
        } else {
            Err(Rejection::new(RejectionCode::IdConflict, "id reused with other content"))
        });
    }
    Ok(staging.stage(candidate).map(|sequence| Receipt { sequence, duplicate: false }))
}

/// The sequence of the record a command's id already names, if any.
fn existing_sequence(staging: &Staging<'_>, command: &Command) -> Option<Sequence> {
    match command {
        Command::OpenAccount(spec) => {
            staging.account_index(&spec.id).and_then(|index| staging.account(index)).map(|account| account.opened_at)
        }
        Command::Post(EntrySpec { id, .. })
        | Command::Capture { id, .. }
        | Command::Void { id, .. }
        | Command::Reverse { id, .. }
        | Command::SetCreditLimit { id, .. }
        | Command::Note { id, .. } => staging.entry_sequence(id),
        Command::CloseAccount { account } => staging
            .account_index(account)
            .and_then(|index| staging.account(index))
            .and_then(|account| account.closed_at),
        Command::Linked(_) => None,
    }
}

fn rejection(code: RejectionCode, detail: impl Into<String>) -> Rejection {
    Rejection::new(code, detail)
}

fn check_id(id: uuid::Uuid) -> Result<(), Rejection> {
    if id.is_nil() {
        return Err(rejection(RejectionCode::ValidationFailed, "ids must not be the nil UUID"));
    }
    Ok(())
}

fn check_memo(memo: &str) -> Result<(), Rejection> {
    if memo.len() > MEMO_BYTES_MAX {
        return Err(rejection(RejectionCode::ValidationFailed, format!("memo longer than {MEMO_BYTES_MAX} bytes")));
    }
    Ok(())
}

fn check_category(category: &str) -> Result<(), Rejection> {
    let well_formed = !category.is_empty()
        && category.len() <= CATEGORY_BYTES_MAX
        && category.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_');
    if !well_formed {
        return Err(rejection(
            RejectionCode::ValidationFailed,
            format!("category must be 1 to {CATEGORY_BYTES_MAX} characters of a-z, 0-9, _"),
        ));
    }
    Ok(())
}

fn resolve_account(staging: &Staging<'_>, id: &AccountId) -> Result<(AccountIndex, Asset), Rejection> {
    let index = staging
        .account_index(id)
        .ok_or_else(|| rejection(RejectionCode::AccountNotFound, format!("no account {id}")))?;
    let asset = staging
        .account(index)
        .map(|account| account.asset)
        .ok_or_else(|| rejection(RejectionCode::AccountNotFound, format!("no account {id}")))?;
    Ok((index, asset))
}

fn resolve_postings(staging: &Staging<'_>, postings: &[PostingSpec]) -> Result<Vec<Posting>, Rejection> {
    postings
        .iter()
        .map(|spec| {
            let (account, asset) = resolve_account(staging, &spec.account)?;
            let amount_minor = asset
                .minor_from_decimal(spec.amount)
                .map_err(|error| rejection(RejectionCode::InvalidAmount, format!("{}: {error}", spec.amount)))?;
            Ok(Posting { account, side: spec.side, amount_minor })
        })
        .collect()
}

/// The record a command would write, built without looking at balances (those are checked when
/// the record is staged). The outer `Result` is a fault reading the journal.
fn candidate_record(
    staging: &Staging<'_>,
    journal: &dyn JournalLookup,
    command: &Command,
) -> Result<Result<RecordBody, Rejection>, Fault> {
    Ok(match command {
        Command::OpenAccount(spec) => candidate_open(spec),
        Command::Post(spec) => candidate_post(staging, spec),
        Command::Capture { id, hold, amount, memo } => candidate_capture(staging, *id, *hold, *amount, memo),
        Command::Void { id, hold, memo } => check_id(id.0).and_then(|()| check_memo(memo)).map(|()| {
            RecordBody::Entry(EntryRecord {
                id: *id,
                kind: EntryKind::Void { hold: *hold, expired: false },
                category: "hold_voided".to_owned(),
                memo: memo.clone(),
                postings: Vec::new(),
            })
        }),
        Command::Reverse { id, reverses, memo } => return candidate_reversal(staging, journal, *id, *reverses, memo),
        Command::SetCreditLimit { id, account, limit } => check_id(id.0).and_then(|()| {
            let (index, asset) = resolve_account(staging, account)?;
            let limit_minor = asset
                .minor_from_decimal_allow_zero(*limit)
                .map_err(|error| rejection(RejectionCode::InvalidAmount, format!("credit limit {limit}: {error}")))?;
            Ok(RecordBody::CreditLimitSet { id: *id, account: index, limit_minor })
        }),
        Command::CloseAccount { account } => {
            resolve_account(staging, account).map(|(index, _)| RecordBody::AccountClosed { account: index })
        }
        Command::Note { id, kind, payload } => check_id(id.0).and_then(|()| check_category(kind)).and_then(|()| {
            if payload.len() > NOTE_PAYLOAD_BYTES_MAX {
                return Err(rejection(
                    RejectionCode::ValidationFailed,
                    format!("a note carries at most {NOTE_PAYLOAD_BYTES_MAX} bytes"),
                ));
            }
            Ok(RecordBody::Note { id: *id, kind: kind.clone(), payload: payload.clone() })
        }),
        Command::Linked(_) => Err(rejection(RejectionCode::ValidationFailed, "linked groups do not nest")),
    })
}

fn candidate_open(spec: &AccountSpec) -> Result<RecordBody, Rejection> {
    check_id(spec.id.0)?;
    let chart_entry = chart::lookup(spec.code).ok_or_else(|| {
        rejection(RejectionCode::UnknownChartCode, format!("chart code {} is not in the chart", spec.code.0))
    })?;
    let credit_limit_minor = spec.asset.minor_from_decimal_allow_zero(spec.credit_limit).map_err(|error| {
        rejection(RejectionCode::InvalidAmount, format!("credit limit {}: {error}", spec.credit_limit))
    })?;
    Ok(RecordBody::AccountOpened(OpenedAccount {
        id: spec.id,
        code: spec.code,
        asset: spec.asset,
        normal_side: chart_entry.class.normal_side(),
        no_overdraft: spec.no_overdraft,
        credit_limit_minor,
    }))
}

fn candidate_post(staging: &Staging<'_>, spec: &EntrySpec) -> Result<RecordBody, Rejection> {
    check_id(spec.id.0)?;
    check_category(&spec.category)?;
    check_memo(&spec.memo)?;
    let postings = resolve_postings(staging, &spec.postings)?;
    let kind = match spec.hold {
        Some(hold) => EntryKind::Hold { expires_at: hold.expires_at },
        None => EntryKind::Posted,
    };
    Ok(RecordBody::Entry(EntryRecord {
        id: spec.id,
        kind,
        category: spec.category.clone(),
        memo: spec.memo.clone(),
        postings,
    }))
}

fn candidate_capture(
    staging: &Staging<'_>,
    id: EntryId,
    hold_id: EntryId,
    amount: Option<rust_decimal::Decimal>,
    memo: &str,
) -> Result<RecordBody, Rejection> {
    check_id(id.0)?;
    check_memo(memo)?;
    let hold =
        staging.hold(&hold_id).ok_or_else(|| rejection(RejectionCode::HoldNotFound, format!("no hold {hold_id}")))?;
    let postings = match amount {
        None => hold.postings.clone(),
        Some(amount) => {
            let [first, second] = hold.postings.as_slice() else {
                return Err(rejection(
                    RejectionCode::PartialCaptureUnsupported,
                    "partial capture needs a hold of exactly two postings",
                ));
            };
            let asset = staging
                .account(first.account)
                .map(|account| account.asset)
                .ok_or_else(|| rejection(RejectionCode::AccountNotFound, "held account"))?;
            let amount_minor = asset
                .minor_from_decimal(amount)
                .map_err(|error| rejection(RejectionCode::InvalidAmount, format!("{amount}: {error}")))?;
            if amount_minor > first.amount_minor {
                return Err(rejection(
                    RejectionCode::CaptureExceedsHold,
                    format!("capture of {amount} exceeds hold {hold_id}"),
                ));
            }
            vec![Posting { amount_minor, ..*first }, Posting { amount_minor, ..*second }]
        }
    };
    Ok(RecordBody::Entry(EntryRecord {
        id,
        kind: EntryKind::Capture { hold: hold_id },
        category: "hold_captured".to_owned(),
        memo: memo.to_owned(),
        postings,
    }))
}

fn candidate_reversal(
    staging: &Staging<'_>,
    journal: &dyn JournalLookup,
    id: EntryId,
    reverses: EntryId,
    memo: &str,
) -> Result<Result<RecordBody, Rejection>, Fault> {
    if let Err(rejection) = check_id(id.0).and_then(|()| check_memo(memo)) {
        return Ok(Err(rejection));
    }
    let Some(sequence) = staging.entry_sequence(&reverses) else {
        return Ok(Err(rejection(RejectionCode::EntryNotFound, format!("no entry {reverses} to reverse"))));
    };
    let original = match staging.record(journal, sequence)? {
        RecordBody::Entry(entry) => entry,
        RecordBody::CreditLimitSet { .. }
        | RecordBody::AccountOpened(_)
        | RecordBody::AccountClosed { .. }
        | RecordBody::Note { .. } => {
            return Ok(Err(rejection(RejectionCode::NotReversible, format!("{reverses} is not an entry"))));
        }
    };
    if !matches!(original.kind, EntryKind::Posted | EntryKind::Capture { .. }) {
        return Ok(Err(rejection(
            RejectionCode::NotReversible,
            format!("{reverses} is a hold, void or reversal; void a hold instead"),
        )));
    }
    let postings =
        original.postings.iter().map(|posting| Posting { side: posting.side.opposite(), ..*posting }).collect();
    Ok(Ok(RecordBody::Entry(EntryRecord {
        id,
        kind: EntryKind::Reversal { of: reverses },
        category: "reversal".to_owned(),
        memo: memo.to_owned(),
        postings,
    })))
}

/// Changes staged on top of the committed state. Accounts and holds are copied on first write.
#[derive(Debug, Default)]
struct Layer {
    changed_accounts: HashMap<AccountIndex, Account>,
    new_accounts: Vec<Account>,
    new_account_ids: HashMap<AccountId, AccountIndex>,
    holds: HashMap<EntryId, Hold>,
    entries: HashMap<EntryId, Sequence>,
    reversals: HashMap<EntryId, EntryId>,
    records: Vec<RecordBody>,
    totals: Option<[AssetTotals; 2]>,
}

/// A stack of layers over the committed state: layer 0 is the batch, layer 1 a linked group.
/// Between them and the committed state sits the previous batch while it is being made durable.
#[derive(Debug)]
struct Staging<'a> {
    base: &'a State,
    pending: Option<&'a Layer>,
    /// Records of the pending batch (empty without one).
    pending_records: &'a [RecordBody],
    now: Timestamp,
    layers: Vec<Layer>,
}

impl<'a> Staging<'a> {
    fn new(base: &'a State, pending: Option<&'a PendingOverlay>, now: Timestamp) -> Staging<'a> {
        let totals = pending
            .and_then(|overlay| overlay.layer.totals)
            .unwrap_or([base.totals(Asset::Cny), base.totals(Asset::GasM3)]);
        Staging {
            base,
            pending: pending.map(|overlay| &overlay.layer),
            pending_records: pending.map_or(&[], |overlay| overlay.records.as_slice()),
            now,
            layers: vec![Layer { totals: Some(totals), ..Layer::default() }],
        }
    }

    /// Accounts opened by the pending batch.
    fn pending_new_accounts(&self) -> usize {
        self.pending.map_or(0, |layer| layer.new_accounts.len())
    }

    /// Sequence of this batch's first record.
    fn first_staged_sequence(&self) -> Sequence {
        self.base.last_sequence() + 1 + self.pending_records.len() as u64
    }

    fn push_layer(&mut self) {
        self.layers.push(Layer::default());
    }

    fn drop_layer(&mut self) {
        if self.layers.len() > 1 {
            self.layers.pop();
        }
    }

    fn merge_layer(&mut self) {
        if self.layers.len() < 2 {
            return;
        }
        let Some(top) = self.layers.pop() else { return };
        let new_account_start = self.new_account_start(self.layers.len() - 1);
        let Some(below) = self.layers.last_mut() else { return };
        for (index, account) in top.changed_accounts {
            let position = index.0 as usize;
            if position >= new_account_start && position - new_account_start < below.new_accounts.len() {
                below.new_accounts[position - new_account_start] = account;
            } else {
                below.changed_accounts.insert(index, account);
            }
        }
        below.new_accounts.extend(top.new_accounts);
        below.new_account_ids.extend(top.new_account_ids);
        below.holds.extend(top.holds);
        below.entries.extend(top.entries);
        below.reversals.extend(top.reversals);
        below.records.extend(top.records);
        if top.totals.is_some() {
            below.totals = top.totals;
        }
    }

    /// Index of the first account opened in layer `layer`.
    fn new_account_start(&self, layer: usize) -> usize {
        self.base.account_count() as usize
            + self.pending_new_accounts()
            + self.layers[..layer].iter().map(|layer| layer.new_accounts.len()).sum::<usize>()
    }

    fn next_sequence(&self) -> Sequence {
        self.first_staged_sequence() + self.layers.iter().map(|layer| layer.records.len() as u64).sum::<u64>()
    }

    /// Checks a record against the staged state and, if it passes, stages it.
    fn stage(&mut self, body: RecordBody) -> Result<Sequence, Rejection> {
        let sequence = self.next_sequence();
        apply_record(self, sequence, self.now, &body)?;
        if let Some(top) = self.layers.last_mut() {
            top.records.push(body);
        }
        Ok(sequence)
    }

    /// A record by sequence: staged in this batch or the pending one, or read from the journal.
    fn record(&self, journal: &dyn JournalLookup, sequence: Sequence) -> Result<RecordBody, Fault> {
        let first_pending = self.base.last_sequence() + 1;
        if sequence < first_pending {
            return journal.record(sequence);
        }
        let mut offset = (sequence - first_pending) as usize;
        if let Some(body) = self.pending_records.get(offset) {
            return Ok(body.clone());
        }
        offset -= self.pending_records.len();
        for layer in &self.layers {
            if let Some(body) = layer.records.get(offset) {
                return Ok(body.clone());
            }
            offset -= layer.records.len();
        }
        Err(Fault::Corrupt(format!("staged record {sequence} is missing")))
    }

    fn assert_balanced(&self) {
        for layer in self.layers.iter().rev() {
            if let Some(totals) = &layer.totals {
                for (asset, totals) in Asset::ALL.iter().zip(totals) {
                    assert!(totals.is_balanced(), "staged batch leaves {asset} unbalanced: {totals:?}");
                }
                return;
            }
        }
    }

    /// The batch's layer, with every linked group's layer merged into it.
    fn into_layer(mut self) -> Layer {
        while self.layers.len() > 1 {
            self.merge_layer();
        }
        self.layers.pop().unwrap_or_default()
    }
}

impl Staging<'_> {
    /// The layers to look through, newest first: this batch's, then the pending batch's.
    fn layers_newest_first(&self) -> impl Iterator<Item = &Layer> {
        self.layers.iter().rev().chain(self.pending)
    }
}

impl StateView for Staging<'_> {
    fn account(&self, index: AccountIndex) -> Option<&Account> {
        let position = index.0 as usize;
        for (layer_number, layer) in self.layers.iter().enumerate().rev() {
            if let Some(account) = layer.changed_accounts.get(&index) {
                return Some(account);
            }
            let start = self.new_account_start(layer_number);
            if position >= start {
                if let Some(account) = layer.new_accounts.get(position - start) {
                    return Some(account);
                }
            }
        }
        if let Some(pending) = self.pending {
            if let Some(account) = pending.changed_accounts.get(&index) {
                return Some(account);
            }
            let start = self.base.account_count() as usize;
            if position >= start {
                if let Some(account) = pending.new_accounts.get(position - start) {
                    return Some(account);
                }
            }
        }
        self.base.account(index)
    }

    fn account_index(&self, id: &AccountId) -> Option<AccountIndex> {
        self.layers_newest_first()
            .find_map(|layer| layer.new_account_ids.get(id).copied())
            .or_else(|| self.base.account_index(id))
    }

    fn account_count(&self) -> u32 {
        self.base.account_count()
            + self.pending_new_accounts() as u32
            + self.layers.iter().map(|layer| layer.new_accounts.len() as u32).sum::<u32>()
    }

    fn hold(&self, id: &EntryId) -> Option<&Hold> {
        self.layers_newest_first().find_map(|layer| layer.holds.get(id)).or_else(|| self.base.hold(id))
    }

    fn entry_sequence(&self, id: &EntryId) -> Option<Sequence> {
        self.layers_newest_first()
            .find_map(|layer| layer.entries.get(id).copied())
            .or_else(|| self.base.entry_sequence(id))
    }

    fn reversed_by(&self, id: &EntryId) -> Option<EntryId> {
        self.layers_newest_first()
            .find_map(|layer| layer.reversals.get(id).copied())
            .or_else(|| self.base.reversed_by(id))
    }
}

impl StateMut for Staging<'_> {
    fn account_mut(&mut self, index: AccountIndex) -> Option<&mut Account> {
        let top_number = self.layers.len() - 1;
        let start = self.new_account_start(top_number);
        let position = index.0 as usize;
        let in_top_new = position >= start && position - start < self.layers[top_number].new_accounts.len();
        if in_top_new {
            return self.layers[top_number].new_accounts.get_mut(position - start);
        }
        if !self.layers[top_number].changed_accounts.contains_key(&index) {
            let copy = self.account(index)?.clone();
            self.layers[top_number].changed_accounts.insert(index, copy);
        }
        self.layers[top_number].changed_accounts.get_mut(&index)
    }

    fn push_account(&mut self, account: Account) {
        let index = AccountIndex(self.account_count());
        if let Some(top) = self.layers.last_mut() {
            top.new_account_ids.insert(account.id, index);
            top.new_accounts.push(account);
        }
    }

    fn put_hold(&mut self, hold: Hold) {
        if let Some(top) = self.layers.last_mut() {
            top.holds.insert(hold.id, hold);
        }
    }

    fn put_entry(&mut self, id: EntryId, sequence: Sequence) {
        if let Some(top) = self.layers.last_mut() {
            top.entries.insert(id, sequence);
        }
    }

    fn put_reversal(&mut self, of: EntryId, by: EntryId) {
        if let Some(top) = self.layers.last_mut() {
            top.reversals.insert(of, by);
        }
    }

    fn totals_mut(&mut self, asset: Asset) -> &mut AssetTotals {
        let current = self
            .layers_newest_first()
            .find_map(|layer| layer.totals)
            .unwrap_or([self.base.totals(Asset::Cny), self.base.totals(Asset::GasM3)]);
        let top_number = self.layers.len() - 1;
        let totals = self.layers[top_number].totals.get_or_insert(current);
        &mut totals[asset.ordinal()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::HoldSpec;
    use crate::state::HoldStatus;
    use rust_decimal::Decimal;
    use uuid::Uuid;

    /// The records committed so far, by sequence (the first is sequence 1).
    #[derive(Default)]
    struct Journal(Vec<RecordBody>);

    impl JournalLookup for Journal {
        fn record(&self, sequence: Sequence) -> Result<RecordBody, Fault> {
            let index = usize::try_from(sequence).ok().and_then(|sequence| sequence.checked_sub(1));
            index
                .and_then(|index| self.0.get(index).cloned())
                .ok_or_else(|| Fault::Corrupt(format!("record {sequence} is not in the journal")))
        }
    }

    const WALLET: AccountId = AccountId(Uuid::from_u128(0xA1));
    const CLEARING: AccountId = AccountId(Uuid::from_u128(0xC1));

    fn open(id: AccountId, code: crate::account::ChartCode, no_overdraft: bool) -> Command {
        Command::OpenAccount(AccountSpec { id, code, asset: Asset::Cny, no_overdraft, credit_limit: Decimal::ZERO })
    }

    fn transfer(id: u128, from: AccountId, to: AccountId, fen: i64, hold: Option<HoldSpec>) -> Command {
        let amount = Decimal::new(fen, 2);
        Command::Post(EntrySpec {
            id: EntryId(Uuid::from_u128(id)),
            category: "test".into(),
            memo: String::new(),
            postings: vec![PostingSpec::debit(from, amount), PostingSpec::credit(to, amount)],
            hold,
        })
    }

    fn apply(state: &mut State, staged: &StagedBatch) {
        let hashes = vec![[0u8; 32]; staged.records.len()];
        state
            .apply_committed_batch(staged.first_sequence, staged.timestamp, &staged.records, &hashes, [0; 64])
            .unwrap_or_else(|(sequence, rejection)| panic!("record {sequence}: {rejection}"));
    }

    /// Staging on a pending batch must give exactly what staging on the state with that batch
    /// applied gives: the same records, the same answers.
    #[test]
    fn staging_on_a_pending_batch_equals_staging_after_it_is_applied() {
        let start = Timestamp::from_unix_seconds(1_767_225_600);
        let first = vec![
            open(WALLET, chart::CUSTOMER_WALLET, true),
            open(CLEARING, chart::CHANNEL_CLEARING, false),
            transfer(1, CLEARING, WALLET, 10_000, None),
            transfer(2, WALLET, CLEARING, 3_000, Some(HoldSpec { expires_at: Some(start.plus_micros(10_000_000)) })),
        ];
        let second_at = start.plus_micros(20_000_000);
        let second = vec![
            // The hold from the pending batch is due by now: it expires first, then 100.00 is free.
            transfer(3, WALLET, CLEARING, 10_000, None),
            transfer(4, WALLET, CLEARING, 1, None),
            transfer(1, CLEARING, WALLET, 10_000, None),
            open(AccountId(Uuid::from_u128(0xA2)), chart::CUSTOMER_WALLET, true),
            transfer(5, CLEARING, AccountId(Uuid::from_u128(0xA2)), 500, None),
        ];

        let mut state = State::new();
        let pending = stage_batch(&state, None, &Journal::default(), &first, start).unwrap();
        let on_pending = stage_batch(&state, Some(&pending.overlay), &Journal::default(), &second, second_at).unwrap();
        assert!(pending.overlay.applies_on(&state));
        apply(&mut state, &pending);
        assert!(!pending.overlay.applies_on(&state), "an applied batch is no longer pending");
        let journal = Journal(pending.records.to_vec());
        let after_apply = stage_batch(&state, None, &journal, &second, second_at).unwrap();

        assert_eq!(on_pending.first_sequence, after_apply.first_sequence);
        assert_eq!(*on_pending.records, *after_apply.records);
        assert_eq!(on_pending.results, after_apply.results);
        match on_pending.records.first() {
            Some(RecordBody::Entry(EntryRecord { kind: EntryKind::Void { expired: true, .. }, .. })) => {}
            other => panic!("the due hold should expire first, got {other:?}"),
        }
        assert!(on_pending.results[0].is_ok(), "all 100.00 is free once the hold expired");
        assert!(on_pending.results[1].is_err(), "one fen more is an overdraft");
        assert!(matches!(on_pending.results[2], Ok(Outcome::Done(Receipt { duplicate: true, sequence: 3 }))));

        apply(&mut state, &on_pending);
        let hold = state.hold_by_id(&EntryId(Uuid::from_u128(2))).unwrap();
        assert!(matches!(hold.status, HoldStatus::Expired { .. }));
        assert!(state.is_balanced());
    }

    #[test]
    fn due_holds_skip_what_the_pending_batch_closed_and_add_what_it_opened() {
        let start = Timestamp::from_unix_seconds(1_767_225_600);
        let deadline = start.plus_micros(10_000_000);
        let mut state = State::new();
        let setup = vec![
            open(WALLET, chart::CUSTOMER_WALLET, true),
            open(CLEARING, chart::CHANNEL_CLEARING, false),
            transfer(1, CLEARING, WALLET, 10_000, None),
            transfer(2, WALLET, CLEARING, 1_000, Some(HoldSpec { expires_at: Some(deadline) })),
        ];
        let staged = stage_batch(&state, None, &Journal::default(), &setup, start).unwrap();
        apply(&mut state, &staged);
        // The pending batch voids hold 2 and opens hold 3 with the same deadline.
        let pending_commands = vec![
            Command::Void { id: EntryId(Uuid::from_u128(10)), hold: EntryId(Uuid::from_u128(2)), memo: String::new() },
            transfer(3, WALLET, CLEARING, 1_000, Some(HoldSpec { expires_at: Some(deadline) })),
        ];
        let pending = stage_batch(&state, None, &Journal::default(), &pending_commands, start.plus_micros(1)).unwrap();
        let later = deadline.plus_micros(1);
        assert_eq!(due_holds(&state, None, later), vec![EntryId(Uuid::from_u128(2))]);
        assert_eq!(due_holds(&state, Some(&pending.overlay), later), vec![EntryId(Uuid::from_u128(3))]);
    }
}
