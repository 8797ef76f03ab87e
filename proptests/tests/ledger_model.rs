//! Model-based property test of the ledger (STYLE item 12).
//!
//! Random sequences of operations run against a real [`Ledger`] on a temporary directory, driven by a
//! [`ManualClock`], and side by side against [`Model`]: a deliberately plain restatement of the
//! "Ledger rules" of `DESIGN.md` with hash maps and `i128` minor units. After every step the test
//! checks that
//!
//! - both gave the same answer: accepted with the same receipts (sequence, duplicate flag), or
//!   rejected with the same code (and, in a linked group, at the same position);
//! - every account's posted and pending totals and credit limit, and every hold, equal the model's;
//! - per asset the balances sum to zero, posted and pending (the engine's own totals, and a sum
//!   over the accounts taken here);
//! - no account with `no_overdraft` is below minus its credit limit, unless lowering the limit put
//!   it there, and then it has not gone lower since;
//! - a restart (close, reopen on the same directory) leaves the state exactly as it was;
//!
//! and at the end `verify` recomputes the journal and reports ok.
//!
//! Operations: opening accounts (wallets and a bank account with `no_overdraft` and a credit
//! limit, unconstrained clearing, revenue and escrow accounts in CNY, two m³ accounts, a code not
//! in the chart), two- and three-posting entries, holds with and without deadlines, full and
//! partial captures, voids, reversals, credit-limit changes, closing accounts, notes, linked
//! groups (empty, nested, failing part-way), resubmissions of earlier commands as they were or
//! altered, several commands in one submission (one group commit), several submissions queued at
//! once (some a moment apart, so that one is staged while the batch before it is flushed),
//! moving the clock (to random times and to exactly a deadline ±1 µs) and then either waiting
//! for the writer's expiry tick or submitting at once, and restarts. Amounts are mostly
//! valid but include zero, negative, too many decimals, too large, and amounts computed to land
//! exactly on (or one minor unit either side of) a floor, a held amount or a credit limit in use.
//!
//! Not covered here: concurrent submitters on several threads (submissions come from one thread,
//! in order), crashes and torn writes (`kill -9`), tampering, `try_submit` overload, history and
//! as-of queries, and the wall clock.
//!
//! Reproducing a failure: proptest prints the shrunk list of operations and stores the failing
//! case's seed in `proptests/proptest-regressions/ledger_model.txt`. Every later run of
//! `cargo test -p proptests --test ledger_model` replays the stored seeds before new cases, so a
//! failure stays reproducible until it is fixed (keep the file under version control). More
//! cases: `PROPTEST_CASES=1000 cargo test -p proptests --test ledger_model`. Coverage of outcome
//! codes so far: set `LEDGER_MODEL_STATS=1` and run with `-- --nocapture`.

// Tests may unwrap (STYLE 14); clippy only sees that inside `#[test]` functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ledger::command::{
    CATEGORY_BYTES_MAX, LINKED_COMMANDS_MAX, MEMO_BYTES_MAX, NOTE_PAYLOAD_BYTES_MAX, POSTINGS_PER_ENTRY_MAX,
};
use ledger::state::AssetTotals;
use ledger::{
    chart, Account, AccountId, AccountSpec, Asset, ChartCode, Checkpoint, Command, EntryId, EntrySpec, Hold, HoldSpec,
    HoldStatus, Ledger, LedgerConfig, ManualClock, Outcome, PostingSpec, Receipt, RejectionCode, Sequence, Side,
    Ticket, Timestamp, POSTING_AMOUNT_MINOR_MAX,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Cases per run unless `PROPTEST_CASES` says otherwise. Each case opens a sled store and flushes
/// once per step, so this is kept modest for debug builds on a small machine.
const CASES_DEFAULT: u32 = 48;
/// How often the writer wakes to expire due holds. Small, so waiting for it stays cheap.
const EXPIRY_TICK: Duration = Duration::from_millis(5);
/// How long to wait for the writer to catch up with the model before failing.
const EXPIRY_WAIT_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between the submissions of a spaced `Pipelined` op: shorter than a debug build's flush,
/// so the next submission is staged while the batch before it is still being written.
const SUBMISSION_SPACING: Duration = Duration::from_micros(300);
/// Where the manual clock starts (2026-01-01T00:00:00Z).
const START_UNIX_SECONDS: i64 = 1_767_225_600;
/// An account id no operation ever opens.
const UNKNOWN_ACCOUNT: AccountId = AccountId(Uuid::from_u128(0xDEAD_DEAD));

// ---------------------------------------------------------------------------------------------
// Operations, as proptest generates them. Accounts, holds and entries are named by `Index`es that
// are resolved when the operation runs, against what exists then, so shrinking (which drops
// operations) always leaves a runnable sequence.
// ---------------------------------------------------------------------------------------------

/// The kinds of account the test opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AccountKind {
    /// Customer wallet: credit-normal, no overdraft beyond its credit limit.
    Wallet,
    /// Settlement bank account with `no_overdraft`: a constrained debit-normal account.
    BankNoOverdraft,
    /// Channel clearing: debit-normal, unconstrained.
    Clearing,
    /// Gas sales revenue: credit-normal, unconstrained.
    Revenue,
    /// Service escrow: credit-normal, unconstrained.
    Escrow,
    /// Gas volume delivered, in m³ (another asset, scale 3).
    GasDelivered,
    /// Gas volume consumed, in m³.
    GasConsumed,
    /// A code that is not in the chart of accounts.
    NotInChart,
}

impl AccountKind {
    fn code(self) -> ChartCode {
        match self {
            AccountKind::Wallet => chart::CUSTOMER_WALLET,
            AccountKind::BankNoOverdraft => chart::SETTLEMENT_BANK,
            AccountKind::Clearing => chart::CHANNEL_CLEARING,
            AccountKind::Revenue => chart::GAS_SALES_REVENUE,
            AccountKind::Escrow => chart::SERVICE_ESCROW,
            AccountKind::GasDelivered => chart::GAS_VOLUME_DELIVERED,
            AccountKind::GasConsumed => chart::GAS_VOLUME_CONSUMED,
            AccountKind::NotInChart => ChartCode(1),
        }
    }

    fn asset(self) -> Asset {
        match self {
            AccountKind::GasDelivered | AccountKind::GasConsumed => Asset::GasM3,
            _ => Asset::Cny,
        }
    }

    fn no_overdraft(self) -> bool {
        matches!(self, AccountKind::Wallet | AccountKind::BankNoOverdraft)
    }
}

/// A decimal given as mantissa and scale, printed as the decimal in shrunk cases.
#[derive(Clone, Copy)]
struct AmountSpec {
    mantissa: i64,
    scale: u32,
}

impl AmountSpec {
    fn new(mantissa: i64, scale: u32) -> AmountSpec {
        AmountSpec { mantissa, scale }
    }

    fn decimal(self) -> Decimal {
        Decimal::new(self.mantissa, self.scale)
    }
}

impl fmt::Debug for AmountSpec {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.decimal())
    }
}

/// Which ids a capture or void names.
#[derive(Debug, Clone, Copy)]
enum HoldTarget {
    /// Holds the model holds open.
    OpenHold,
    /// Any hold built so far: open, resolved, or never accepted.
    AnyHold,
    /// Committed holds with a deadline, whatever their status (some may have just expired).
    WithDeadline,
    /// Any entry-like id built so far, which may not be a hold at all.
    AnyEntry,
}

/// Which entries a reversal picks from.
#[derive(Debug, Clone, Copy)]
enum ReverseTarget {
    /// Any entry-like id built so far (holds, voids, limits, rejected ones, …).
    AnyEntry,
    /// Committed posted entries and captures, reversed or not.
    Reversible,
    /// Entries already reversed.
    AlreadyReversed,
}

/// An amount given literally, or worked out when the operation runs so that it lands on (or one
/// minor unit either side of) a boundary, which random amounts would almost never hit.
#[derive(Debug, Clone, Copy)]
enum Amount {
    Literal(AmountSpec),
    /// A transfer or hold: the debited account's room above its floor, plus `excess` minor units.
    /// A capture: the held amount plus `excess`. A credit limit: what the account uses plus `excess`.
    Boundary {
        excess: i64,
    },
}

/// Which accounts an account pick chooses among.
#[derive(Debug, Clone, Copy)]
enum Role {
    Any,
    /// Accounts with `no_overdraft`.
    Constrained,
    Unconstrained,
    /// An account that does not exist.
    Unknown,
}

#[derive(Debug, Clone, Copy)]
struct AccountPick {
    role: Role,
    index: Index,
}

/// Whether an entry posts at once or is a hold.
#[derive(Debug, Clone, Copy)]
enum Holding {
    Posted,
    HoldWithoutDeadline,
    /// A hold whose deadline is this far from now (zero or negative: already passed).
    HoldExpiringAfter {
        micros: i64,
    },
}

/// Something wrong with an otherwise ordinary transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    None,
    NilId,
    BadCategory,
    /// A memo of exactly the most bytes allowed (valid).
    MemoAtLimit,
    LongMemo,
    OnePosting,
}

/// An operation that becomes one command.
#[derive(Debug, Clone)]
enum SimpleOp {
    Open {
        kind: AccountKind,
        credit_limit: AmountSpec,
    },
    Transfer {
        debit: AccountPick,
        credit: AccountPick,
        amount: Amount,
        holding: Holding,
        flaw: Flaw,
    },
    /// One debit, two credits; the debit is the sum of the credits (plus 0.01 when `unbalanced`).
    Split {
        debit: AccountPick,
        credits: [AccountPick; 2],
        amounts: [AmountSpec; 2],
        unbalanced: bool,
        holding: Holding,
    },
    /// Capture a hold (None: all of it).
    Capture {
        hold: Index,
        among: HoldTarget,
        amount: Option<Amount>,
    },
    Void {
        target: Index,
        among: HoldTarget,
    },
    Reverse {
        entry: Index,
        among: ReverseTarget,
    },
    SetLimit {
        account: AccountPick,
        limit: Amount,
    },
    /// Close an account: one the model holds empty (when `empty`), or any.
    Close {
        account: AccountPick,
        empty: bool,
    },
    /// A note (moves no money); `flaw` gives it a bad kind or an oversized payload.
    Note {
        payload_bytes: usize,
        flaw: NoteFlaw,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoteFlaw {
    None,
    BadKind,
    /// Exactly the largest payload allowed (valid).
    PayloadAtLimit,
    PayloadTooLarge,
}

/// A command inside a linked group.
#[derive(Debug, Clone)]
enum Member {
    Simple(SimpleOp),
    /// An earlier command (not a group) again, perhaps one built earlier in this very group.
    Resubmit {
        pick: Index,
        alter: bool,
    },
}

/// What one command of a submission is.
#[derive(Debug, Clone)]
enum Step {
    Simple(SimpleOp),
    Linked(Vec<Member>),
    /// A linked group with a nested (hence invalid) group inserted at `position`.
    NestedLinked {
        members: Vec<Member>,
        position: Index,
    },
    /// Submit an earlier command again, as it was or with altered content; it may be one built
    /// earlier in the same submission.
    Resubmit {
        pick: Index,
        alter: bool,
    },
}

/// How far to move the clock.
#[derive(Debug, Clone, Copy)]
enum Advance {
    Micros(i64),
    /// To the deadline of one of the open holds that have one, plus `excess` microseconds.
    ToDeadline {
        hold: Index,
        excess: i64,
    },
}

/// What to do after moving the clock forward.
#[derive(Debug, Clone, Copy)]
enum AfterAdvance {
    /// Let the writer's expiry tick void the due holds.
    WaitForTick,
    /// Submit a void of some hold at once; the batch it lands in expires due holds first.
    SubmitVoid(Index),
}

#[derive(Debug, Clone)]
enum Op {
    One(Step),
    /// Several commands in one submission, so one batch (group commit).
    Batch(Vec<Step>),
    /// One submission per command, all queued before waiting for any: the writer may put them in
    /// one batch or several, and must answer each submission with its own results. `spaced`
    /// leaves a moment between submissions, so that a later one usually arrives while the batch
    /// before it is being flushed and is staged on that batch's pending overlay.
    Pipelined {
        steps: Vec<Step>,
        spaced: bool,
    },
    Advance {
        by: Advance,
        then: AfterAdvance,
    },
    Restart,
}

fn amount() -> BoxedStrategy<AmountSpec> {
    let max = i64::try_from(POSTING_AMOUNT_MINOR_MAX).unwrap_or(i64::MAX);
    prop_oneof![
        16 => (1i64..=30_000).prop_map(|fen| AmountSpec::new(fen, 2)),
        8 => (1i64..=1_000).prop_map(|fen| AmountSpec::new(fen, 2)),
        3 => (1i64..=300).prop_map(|yuan| AmountSpec::new(yuan, 0)),
        // Trailing zeros are not extra decimals.
        2 => (1i64..=30_000).prop_map(|fen| AmountSpec::new(fen * 10, 3)),
        // Three decimals: too many for CNY, fine for m³.
        1 => (0i64..=3_000).prop_map(|tenth_fen| AmountSpec::new(tenth_fen * 10 + 7, 3)),
        // Four decimals: too many for every asset.
        1 => (0i64..=3_000).prop_map(|value| AmountSpec::new(value * 10 + 3, 4)),
        1 => Just(AmountSpec::new(0, 2)),
        1 => (1i64..=30_000).prop_map(|fen| AmountSpec::new(-fen, 2)),
        1 => Just(AmountSpec::new(max, 2)),
        1 => Just(AmountSpec::new(max + 1, 2)),
    ]
    .boxed()
}

fn credit_limit() -> impl Strategy<Value = AmountSpec> {
    prop_oneof![
        4 => Just(AmountSpec::new(0, 0)),
        6 => (1i64..=20_000).prop_map(|fen| AmountSpec::new(fen, 2)),
        1 => (1i64..=20_000).prop_map(|fen| AmountSpec::new(-fen, 2)),
        1 => (0i64..=2_000).prop_map(|value| AmountSpec::new(value * 10 + 1, 4)),
    ]
}

fn boundary_or(literal: impl Strategy<Value = AmountSpec>, literal_weight: u32) -> impl Strategy<Value = Amount> {
    prop_oneof![
        literal_weight => literal.prop_map(Amount::Literal),
        1 => prop_oneof![3 => -1i64..=1, 1 => Just(-2_000)].prop_map(|excess| Amount::Boundary { excess }),
    ]
}

fn hold_target() -> impl Strategy<Value = HoldTarget> {
    prop_oneof![6 => Just(HoldTarget::OpenHold), 3 => Just(HoldTarget::AnyHold), 1 => Just(HoldTarget::AnyEntry)]
}

fn account_kind() -> impl Strategy<Value = AccountKind> {
    prop_oneof![
        6 => Just(AccountKind::Wallet),
        1 => Just(AccountKind::BankNoOverdraft),
        2 => Just(AccountKind::Clearing),
        1 => Just(AccountKind::Revenue),
        1 => Just(AccountKind::Escrow),
        1 => Just(AccountKind::GasDelivered),
        1 => Just(AccountKind::GasConsumed),
        1 => Just(AccountKind::NotInChart),
    ]
}

prop_compose! {
    fn account_pick()(
        role in prop_oneof![
            12 => Just(Role::Any),
            6 => Just(Role::Constrained),
            6 => Just(Role::Unconstrained),
            1 => Just(Role::Unknown),
        ],
        index in any::<Index>(),
    ) -> AccountPick {
        AccountPick { role, index }
    }
}

fn holding() -> impl Strategy<Value = Holding> {
    prop_oneof![
        10 => Just(Holding::Posted),
        2 => Just(Holding::HoldWithoutDeadline),
        1 => Just(Holding::HoldExpiringAfter { micros: 0 }),
        1 => Just(Holding::HoldExpiringAfter { micros: -1_000_000 }),
        5 => (1_000_000i64..=60_000_000).prop_map(|micros| Holding::HoldExpiringAfter { micros }),
    ]
}

fn flaw() -> impl Strategy<Value = Flaw> {
    prop_oneof![
        40 => Just(Flaw::None),
        1 => Just(Flaw::NilId),
        1 => Just(Flaw::BadCategory),
        1 => Just(Flaw::MemoAtLimit),
        1 => Just(Flaw::LongMemo),
        1 => Just(Flaw::OnePosting),
    ]
}

prop_compose! {
    fn transfer()(
        debit in account_pick(),
        credit in account_pick(),
        amount in boundary_or(amount(), 5),
        holding in holding(),
        flaw in flaw(),
    ) -> SimpleOp {
        SimpleOp::Transfer { debit, credit, amount, holding, flaw }
    }
}

prop_compose! {
    fn split()(
        debit in account_pick(),
        credits in [account_pick(), account_pick()],
        amounts in [amount(), amount()],
        unbalanced in prop::bool::weighted(0.15),
        holding in holding(),
    ) -> SimpleOp {
        SimpleOp::Split { debit, credits, amounts, unbalanced, holding }
    }
}

fn simple_op() -> BoxedStrategy<SimpleOp> {
    prop_oneof![
        3 => (account_kind(), credit_limit()).prop_map(|(kind, credit_limit)| SimpleOp::Open { kind, credit_limit }),
        16 => transfer().boxed(),
        3 => split().boxed(),
        7 => (any::<Index>(), hold_target(), prop::option::weighted(0.5, boundary_or(amount(), 3)))
            .prop_map(|(hold, among, amount)| SimpleOp::Capture { hold, among, amount }),
        3 => (any::<Index>(), hold_target()).prop_map(|(target, among)| SimpleOp::Void { target, among }),
        4 => (
            any::<Index>(),
            prop_oneof![
                2 => Just(ReverseTarget::AnyEntry),
                2 => Just(ReverseTarget::Reversible),
                1 => Just(ReverseTarget::AlreadyReversed),
            ],
        )
            .prop_map(|(entry, among)| SimpleOp::Reverse { entry, among }),
        3 => (
            (account_pick(), prop::bool::weighted(0.8)).prop_map(|(pick, constrained)| match constrained {
                true => AccountPick { role: Role::Constrained, ..pick },
                false => pick,
            }),
            boundary_or(credit_limit(), 3),
        )
            .prop_map(|(account, limit)| SimpleOp::SetLimit { account, limit }),
        1 => (account_pick(), prop::bool::weighted(0.7)).prop_map(|(account, empty)| SimpleOp::Close { account, empty }),
        1 => (
            0usize..=64,
            prop_oneof![
                8 => Just(NoteFlaw::None),
                1 => Just(NoteFlaw::BadKind),
                1 => Just(NoteFlaw::PayloadAtLimit),
                1 => Just(NoteFlaw::PayloadTooLarge),
            ],
        )
            .prop_map(|(payload_bytes, flaw)| SimpleOp::Note { payload_bytes, flaw }),
    ]
    .boxed()
}

fn resubmission() -> impl Strategy<Value = (Index, bool)> {
    (any::<Index>(), prop::bool::weighted(0.4))
}

fn member() -> BoxedStrategy<Member> {
    prop_oneof![
        6 => simple_op().prop_map(Member::Simple),
        1 => resubmission().prop_map(|(pick, alter)| Member::Resubmit { pick, alter }),
    ]
    .boxed()
}

fn step() -> BoxedStrategy<Step> {
    prop_oneof![
        20 => simple_op().prop_map(Step::Simple),
        4 => vec(member(), 2..=4).prop_map(Step::Linked),
        1 => Just(Step::Linked(Vec::new())),
        1 => (vec(member(), 1..=3), any::<Index>())
            .prop_map(|(members, position)| Step::NestedLinked { members, position }),
        6 => resubmission().prop_map(|(pick, alter)| Step::Resubmit { pick, alter }),
    ]
    .boxed()
}

fn op() -> BoxedStrategy<Op> {
    prop_oneof![
        24 => step().prop_map(Op::One),
        3 => vec(step(), 2..=5).prop_map(Op::Batch),
        2 => (vec(step(), 2..=5), any::<bool>()).prop_map(|(steps, spaced)| Op::Pipelined { steps, spaced }),
        4 => (
            prop_oneof![
                1 => (0i64..=1_000_000).prop_map(Advance::Micros),
                3 => (1_000_000i64..=90_000_000).prop_map(Advance::Micros),
                2 => (any::<Index>(), -1i64..=1).prop_map(|(hold, excess)| Advance::ToDeadline { hold, excess }),
            ],
            prop_oneof![Just(AfterAdvance::WaitForTick), any::<Index>().prop_map(AfterAdvance::SubmitVoid)],
        )
            .prop_map(|(by, then)| Op::Advance { by, then }),
        1 => Just(Op::Restart),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------------
// The reference model: the rules as plainly as they can be written. Amounts are i128 minor units;
// nothing here calls into the ledger's rules (only its data types are shared).
// ---------------------------------------------------------------------------------------------

/// Decimals of each asset, as DESIGN.md fixes them.
fn model_scale(asset: Asset) -> u32 {
    match asset {
        Asset::Cny => 2,
        Asset::GasM3 => 3,
    }
}

/// A decimal in minor units of `asset`: positive (or zero where allowed), no more decimals than the
/// asset has once trailing zeros are dropped, at most the largest posting amount.
fn model_minor(asset: Asset, value: Decimal, allow_zero: bool) -> Option<i128> {
    let mut mantissa = value.mantissa();
    let mut scale = value.scale();
    if mantissa == 0 {
        return allow_zero.then_some(0);
    }
    if mantissa < 0 {
        return None;
    }
    while scale > 0 && mantissa % 10 == 0 {
        mantissa /= 10;
        scale -= 1;
    }
    if scale > model_scale(asset) {
        return None;
    }
    let minor = mantissa.checked_mul(10i128.pow(model_scale(asset) - scale))?;
    (minor <= i128::from(POSTING_AMOUNT_MINOR_MAX)).then_some(minor)
}

/// Normal side of the chart codes the test uses (None: not in the chart).
fn model_normal_side(code: ChartCode) -> Option<Side> {
    match code {
        chart::SETTLEMENT_BANK | chart::CHANNEL_CLEARING | chart::GAS_VOLUME_DELIVERED => Some(Side::Debit),
        chart::CUSTOMER_WALLET | chart::SERVICE_ESCROW | chart::GAS_SALES_REVENUE | chart::GAS_VOLUME_CONSUMED => {
            Some(Side::Credit)
        }
        _ => None,
    }
}

fn category_is_well_formed(category: &str) -> bool {
    !category.is_empty()
        && category.len() <= CATEGORY_BYTES_MAX
        && category.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

type ModelPosting = (AccountId, Side, i128);

#[derive(Debug, Clone, PartialEq, Eq)]
enum ModelKind {
    Posted,
    Hold { expires_at: Option<Timestamp> },
    Capture { hold: EntryId },
    Void { hold: EntryId, expired: bool },
    Reversal { of: EntryId },
}

/// What a committed command left in the journal; the same id with equal content is a duplicate.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ModelRecord {
    AccountOpened { id: AccountId, code: ChartCode, asset: Asset, no_overdraft: bool, credit_limit: i128 },
    Entry { id: EntryId, kind: ModelKind, category: String, memo: String, postings: Vec<ModelPosting> },
    CreditLimitSet { id: EntryId, account: AccountId, limit: i128 },
    Note { id: EntryId, kind: String, payload: Vec<u8> },
    AccountClosed { account: AccountId },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ModelBalances {
    debits_posted: i128,
    credits_posted: i128,
    debits_pending: i128,
    credits_pending: i128,
}

#[derive(Debug, Clone)]
struct ModelAccount {
    asset: Asset,
    normal_side: Side,
    no_overdraft: bool,
    credit_limit: i128,
    opened_at: Sequence,
    /// Closed accounts accept no postings.
    closed_at: Option<Sequence>,
    balances: ModelBalances,
    /// Set while a lowered credit limit has left the account below its floor: its available
    /// balance at that moment, under which it may not go.
    below_floor_since_limit_lowered: Option<i128>,
}

impl ModelAccount {
    /// Posted balance on the normal side minus what holds reserve (pending on the other side).
    fn available(&self) -> i128 {
        let balances = &self.balances;
        match self.normal_side {
            Side::Debit => balances.debits_posted - balances.credits_posted - balances.credits_pending,
            Side::Credit => balances.credits_posted - balances.debits_posted - balances.debits_pending,
        }
    }

    fn floor(&self) -> i128 {
        -self.credit_limit
    }
}

#[derive(Debug, Clone)]
struct ModelHold {
    sequence: Sequence,
    postings: Vec<ModelPosting>,
    expires_at: Option<Timestamp>,
    status: HoldStatus,
}

type Expected = Result<Outcome, (RejectionCode, Option<usize>)>;

/// The reference model.
///
/// Where one command breaks several rules at once, DESIGN.md does not say which code wins; the
/// model follows the engine's documented order: the command's own form and amounts, then its id
/// (a taken id is a duplicate when the content is the same and a conflict otherwise, even if the
/// new content is invalid), then holds, postings and balances.
#[derive(Debug, Clone)]
struct Model {
    now: Timestamp,
    /// The journal: record `n` has sequence `n + 1`.
    records: Vec<ModelRecord>,
    accounts: HashMap<AccountId, ModelAccount>,
    account_order: Vec<AccountId>,
    /// Sequence of every entry and credit-limit change, by id.
    entries: HashMap<EntryId, Sequence>,
    holds: HashMap<EntryId, ModelHold>,
    reversed: HashSet<EntryId>,
}

impl Model {
    fn new(now: Timestamp) -> Model {
        Model {
            now,
            records: Vec::new(),
            accounts: HashMap::new(),
            account_order: Vec::new(),
            entries: HashMap::new(),
            holds: HashMap::new(),
            reversed: HashSet::new(),
        }
    }

    fn last_sequence(&self) -> Sequence {
        self.records.len() as Sequence
    }

    /// Moves time forward and voids every open hold whose deadline has come, earliest first.
    fn advance_to(&mut self, now: Timestamp) {
        self.now = now;
        let mut due: Vec<(Timestamp, EntryId)> = self
            .holds
            .iter()
            .filter(|(_, hold)| hold.status == HoldStatus::Open)
            .filter_map(|(id, hold)| {
                hold.expires_at.filter(|deadline| *deadline <= now).map(|deadline| (deadline, *id))
            })
            .collect();
        due.sort();
        for (_, hold) in due {
            let record = ModelRecord::Entry {
                id: EntryId::derived(hold, "expire"),
                kind: ModelKind::Void { hold, expired: true },
                category: "hold_expired".to_owned(),
                memo: String::new(),
                postings: Vec::new(),
            };
            if let Err(code) = self.apply(record) {
                panic!("model: an open, due hold {hold} failed to expire: {code:?}");
            }
        }
    }

    /// One top-level command of a submission.
    fn submit(&mut self, command: &Command) -> Expected {
        match command {
            Command::Linked(members) => {
                if members.is_empty() || members.len() > LINKED_COMMANDS_MAX {
                    return Err((RejectionCode::ValidationFailed, None));
                }
                let mut trial = self.clone();
                let mut receipts = Vec::new();
                for (position, member) in members.iter().enumerate() {
                    let result = match member {
                        Command::Linked(_) => Err(RejectionCode::ValidationFailed),
                        single => trial.single(single),
                    };
                    match result {
                        Ok(receipt) => receipts.push(receipt),
                        Err(code) => return Err((code, Some(position))),
                    }
                }
                *self = trial;
                Ok(Outcome::Linked(receipts))
            }
            single => self.single(single).map(Outcome::Done).map_err(|code| (code, None)),
        }
    }

    fn single(&mut self, command: &Command) -> Result<Receipt, RejectionCode> {
        let existing = match command {
            Command::OpenAccount(spec) => self.accounts.get(&spec.id).map(|account| account.opened_at),
            Command::Post(EntrySpec { id, .. })
            | Command::Capture { id, .. }
            | Command::Void { id, .. }
            | Command::Reverse { id, .. }
            | Command::SetCreditLimit { id, .. }
            | Command::Note { id, .. } => self.entries.get(id).copied(),
            Command::CloseAccount { account } => self.accounts.get(account).and_then(|account| account.closed_at),
            Command::Linked(_) => None,
        };
        let record = match (self.record_for(command), existing) {
            // The id is taken: the same content is the first answer again, anything else a conflict.
            (Ok(record), Some(sequence)) if self.records[sequence as usize - 1] == record => {
                return Ok(Receipt { sequence, duplicate: true });
            }
            (_, Some(_)) => return Err(RejectionCode::IdConflict),
            (Err(code), None) => return Err(code),
            (Ok(record), None) => record,
        };
        self.apply(record)?;
        Ok(Receipt { sequence: self.last_sequence(), duplicate: false })
    }

    /// What the command would write, checked for everything that does not depend on balances.
    fn record_for(&self, command: &Command) -> Result<ModelRecord, RejectionCode> {
        let nil = |id: Uuid| if id.is_nil() { Err(RejectionCode::ValidationFailed) } else { Ok(()) };
        let memo_ok =
            |memo: &str| if memo.len() > MEMO_BYTES_MAX { Err(RejectionCode::ValidationFailed) } else { Ok(()) };
        match command {
            Command::OpenAccount(spec) => {
                nil(spec.id.0)?;
                model_normal_side(spec.code).ok_or(RejectionCode::UnknownChartCode)?;
                let credit_limit =
                    model_minor(spec.asset, spec.credit_limit, true).ok_or(RejectionCode::InvalidAmount)?;
                Ok(ModelRecord::AccountOpened {
                    id: spec.id,
                    code: spec.code,
                    asset: spec.asset,
                    no_overdraft: spec.no_overdraft,
                    credit_limit,
                })
            }
            Command::Post(spec) => {
                nil(spec.id.0)?;
                if !category_is_well_formed(&spec.category) {
                    return Err(RejectionCode::ValidationFailed);
                }
                memo_ok(&spec.memo)?;
                let mut postings = Vec::new();
                for posting in &spec.postings {
                    let account = self.accounts.get(&posting.account).ok_or(RejectionCode::AccountNotFound)?;
                    let minor =
                        model_minor(account.asset, posting.amount, false).ok_or(RejectionCode::InvalidAmount)?;
                    postings.push((posting.account, posting.side, minor));
                }
                let kind = match spec.hold {
                    Some(hold) => ModelKind::Hold { expires_at: hold.expires_at },
                    None => ModelKind::Posted,
                };
                Ok(ModelRecord::Entry {
                    id: spec.id,
                    kind,
                    category: spec.category.clone(),
                    memo: spec.memo.clone(),
                    postings,
                })
            }
            Command::Capture { id, hold, amount, memo } => {
                nil(id.0)?;
                memo_ok(memo)?;
                let held = self.holds.get(hold).ok_or(RejectionCode::HoldNotFound)?;
                let postings = match amount {
                    None => held.postings.clone(),
                    Some(amount) => {
                        let [first, second] = held.postings.as_slice() else {
                            return Err(RejectionCode::PartialCaptureUnsupported);
                        };
                        let asset = self.accounts[&first.0].asset;
                        let minor = model_minor(asset, *amount, false).ok_or(RejectionCode::InvalidAmount)?;
                        if minor > first.2 {
                            return Err(RejectionCode::CaptureExceedsHold);
                        }
                        vec![(first.0, first.1, minor), (second.0, second.1, minor)]
                    }
                };
                Ok(ModelRecord::Entry {
                    id: *id,
                    kind: ModelKind::Capture { hold: *hold },
                    category: "hold_captured".to_owned(),
                    memo: memo.clone(),
                    postings,
                })
            }
            Command::Void { id, hold, memo } => {
                nil(id.0)?;
                memo_ok(memo)?;
                Ok(ModelRecord::Entry {
                    id: *id,
                    kind: ModelKind::Void { hold: *hold, expired: false },
                    category: "hold_voided".to_owned(),
                    memo: memo.clone(),
                    postings: Vec::new(),
                })
            }
            Command::Reverse { id, reverses, memo } => {
                nil(id.0)?;
                memo_ok(memo)?;
                let sequence = self.entries.get(reverses).ok_or(RejectionCode::EntryNotFound)?;
                match &self.records[*sequence as usize - 1] {
                    ModelRecord::Entry { kind: ModelKind::Posted | ModelKind::Capture { .. }, postings, .. } => {
                        Ok(ModelRecord::Entry {
                            id: *id,
                            kind: ModelKind::Reversal { of: *reverses },
                            category: "reversal".to_owned(),
                            memo: memo.clone(),
                            postings: postings
                                .iter()
                                .map(|(account, side, minor)| (*account, side.opposite(), *minor))
                                .collect(),
                        })
                    }
                    _ => Err(RejectionCode::NotReversible),
                }
            }
            Command::SetCreditLimit { id, account, limit } => {
                nil(id.0)?;
                let target = self.accounts.get(account).ok_or(RejectionCode::AccountNotFound)?;
                let limit = model_minor(target.asset, *limit, true).ok_or(RejectionCode::InvalidAmount)?;
                Ok(ModelRecord::CreditLimitSet { id: *id, account: *account, limit })
            }
            Command::Note { id, kind, payload } => {
                nil(id.0)?;
                if !category_is_well_formed(kind) || payload.len() > NOTE_PAYLOAD_BYTES_MAX {
                    return Err(RejectionCode::ValidationFailed);
                }
                Ok(ModelRecord::Note { id: *id, kind: kind.clone(), payload: payload.clone() })
            }
            Command::CloseAccount { account } => {
                self.accounts.get(account).ok_or(RejectionCode::AccountNotFound)?;
                Ok(ModelRecord::AccountClosed { account: *account })
            }
            Command::Linked(_) => Err(RejectionCode::ValidationFailed),
        }
    }

    /// Checks a record against the balances and holds and, if it passes, appends it.
    fn apply(&mut self, record: ModelRecord) -> Result<(), RejectionCode> {
        let sequence = self.last_sequence() + 1;
        match &record {
            ModelRecord::AccountOpened { id, code, asset, no_overdraft, credit_limit } => {
                let normal_side = model_normal_side(*code).ok_or(RejectionCode::UnknownChartCode)?;
                self.accounts.insert(
                    *id,
                    ModelAccount {
                        asset: *asset,
                        normal_side,
                        no_overdraft: *no_overdraft,
                        credit_limit: *credit_limit,
                        opened_at: sequence,
                        closed_at: None,
                        balances: ModelBalances::default(),
                        below_floor_since_limit_lowered: None,
                    },
                );
                self.account_order.push(*id);
            }
            ModelRecord::Note { id, .. } => {
                self.entries.insert(*id, sequence);
            }
            ModelRecord::AccountClosed { account } => {
                let target = self.accounts.get_mut(account).ok_or(RejectionCode::AccountNotFound)?;
                if target.closed_at.is_some() {
                    return Err(RejectionCode::AccountClosed);
                }
                // Empty: nothing posted on balance (the totals may be large) and nothing pending.
                let balances = target.balances;
                if balances.debits_posted != balances.credits_posted
                    || balances.debits_pending != 0
                    || balances.credits_pending != 0
                {
                    return Err(RejectionCode::AccountNotEmpty);
                }
                target.closed_at = Some(sequence);
            }
            ModelRecord::CreditLimitSet { id, account, limit } => {
                let target = self.accounts.get_mut(account).ok_or(RejectionCode::AccountNotFound)?;
                target.credit_limit = *limit;
                if target.no_overdraft && target.available() < target.floor() {
                    target.below_floor_since_limit_lowered.get_or_insert(target.available());
                }
                self.entries.insert(*id, sequence);
            }
            ModelRecord::Entry { id, kind, postings, .. } => {
                // (account, side, pending?, signed amount) changes to make.
                let mut changes: Vec<(AccountId, Side, bool, i128)> = Vec::new();
                let post = |changes: &mut Vec<(AccountId, Side, bool, i128)>,
                            postings: &[ModelPosting],
                            pending: bool,
                            sign: i128| {
                    changes
                        .extend(postings.iter().map(|(account, side, minor)| (*account, *side, pending, sign * minor)));
                };
                match kind {
                    ModelKind::Posted => {
                        self.check_postings(postings)?;
                        post(&mut changes, postings, false, 1);
                    }
                    ModelKind::Reversal { of } => {
                        if self.reversed.contains(of) {
                            return Err(RejectionCode::AlreadyReversed);
                        }
                        self.check_postings(postings)?;
                        post(&mut changes, postings, false, 1);
                    }
                    ModelKind::Hold { expires_at } => {
                        if expires_at.is_some_and(|deadline| deadline <= self.now) {
                            return Err(RejectionCode::HoldDeadlinePassed);
                        }
                        self.check_postings(postings)?;
                        post(&mut changes, postings, true, 1);
                    }
                    ModelKind::Capture { hold } => {
                        let held = self.open_hold(hold)?;
                        self.check_postings(postings)?;
                        post(&mut changes, &held.postings, true, -1);
                        post(&mut changes, postings, false, 1);
                    }
                    ModelKind::Void { hold, .. } => {
                        let held = self.open_hold(hold)?;
                        post(&mut changes, &held.postings, true, -1);
                    }
                }
                let mut after: BTreeMap<AccountId, ModelAccount> = BTreeMap::new();
                for (account, side, pending, amount) in changes {
                    let target = after.entry(account).or_insert_with(|| self.accounts[&account].clone());
                    let field = match (pending, side) {
                        (false, Side::Debit) => &mut target.balances.debits_posted,
                        (false, Side::Credit) => &mut target.balances.credits_posted,
                        (true, Side::Debit) => &mut target.balances.debits_pending,
                        (true, Side::Credit) => &mut target.balances.credits_pending,
                    };
                    *field += amount;
                }
                for (account, changed) in &after {
                    let before = self.accounts[account].available();
                    // Below the floor is refused, except that an account a lowered limit left below
                    // it may still receive (its available balance does not fall).
                    if changed.no_overdraft && changed.available() < changed.floor() && changed.available() < before {
                        return Err(RejectionCode::InsufficientFunds);
                    }
                }
                for (account, mut changed) in after {
                    if changed.available() >= changed.floor() {
                        changed.below_floor_since_limit_lowered = None;
                    }
                    self.accounts.insert(account, changed);
                }
                match kind {
                    ModelKind::Hold { expires_at } => {
                        let hold = ModelHold {
                            sequence,
                            postings: postings.clone(),
                            expires_at: *expires_at,
                            status: HoldStatus::Open,
                        };
                        self.holds.insert(*id, hold);
                    }
                    ModelKind::Capture { hold } => self.resolve_hold(hold, HoldStatus::Captured { by: *id }),
                    ModelKind::Void { hold, expired: true } => self.resolve_hold(hold, HoldStatus::Expired { by: *id }),
                    ModelKind::Void { hold, expired: false } => self.resolve_hold(hold, HoldStatus::Voided { by: *id }),
                    ModelKind::Reversal { of } => {
                        self.reversed.insert(*of);
                    }
                    ModelKind::Posted => {}
                }
                self.entries.insert(*id, sequence);
            }
        }
        self.records.push(record);
        Ok(())
    }

    /// Two to the most postings per entry, debits equal to credits per asset.
    fn check_postings(&self, postings: &[ModelPosting]) -> Result<(), RejectionCode> {
        if postings.len() < 2 || postings.len() > POSTINGS_PER_ENTRY_MAX {
            return Err(RejectionCode::InvalidPostings);
        }
        if postings.iter().any(|(account, _, _)| self.accounts[account].closed_at.is_some()) {
            return Err(RejectionCode::AccountClosed);
        }
        for asset in Asset::ALL {
            let net: i128 = postings
                .iter()
                .filter(|(account, _, _)| self.accounts[account].asset == asset)
                .map(|(_, side, minor)| if *side == Side::Debit { *minor } else { -minor })
                .sum();
            if net != 0 {
                return Err(RejectionCode::UnbalancedEntry);
            }
        }
        Ok(())
    }

    fn open_hold(&self, hold: &EntryId) -> Result<ModelHold, RejectionCode> {
        let held = self.holds.get(hold).ok_or(RejectionCode::HoldNotFound)?;
        if held.status != HoldStatus::Open {
            return Err(RejectionCode::HoldNotOpen);
        }
        Ok(held.clone())
    }

    fn resolve_hold(&mut self, hold: &EntryId, status: HoldStatus) {
        if let Some(held) = self.holds.get_mut(hold) {
            held.status = status;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The harness: a real ledger, the model, and what the operations may refer to.
// ---------------------------------------------------------------------------------------------

/// Counts of outcome codes over all cases, printed with `LEDGER_MODEL_STATS=1`.
static OUTCOME_COUNTS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// Everything about the committed state that a restart must preserve.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    checkpoint: Checkpoint,
    accounts: Vec<Account>,
    holds: Vec<Option<Hold>>,
    totals: Vec<AssetTotals>,
    batch_marks: Vec<(Sequence, Timestamp)>,
}

struct Harness {
    directory: tempfile::TempDir,
    clock: Arc<ManualClock>,
    ledger: Option<Ledger>,
    model: Model,
    next_id: u128,
    /// Ids of every hold command built, accepted or not, in order.
    hold_ids: Vec<EntryId>,
    /// Ids of every entry-like command built (posts, holds, captures, voids, reversals, limits).
    entry_ids: Vec<EntryId>,
    /// Accounts opened earlier in the submission being built, with their `no_overdraft` flag:
    /// operations pick from these and the committed ones, so a group or batch can open an
    /// account and use it at once.
    accounts_pending: Vec<(AccountId, bool)>,
    /// Every command built (linked members also on their own), for resubmission.
    built: Vec<Command>,
    steps: usize,
}

impl Harness {
    fn new() -> Harness {
        let directory = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp::from_unix_seconds(START_UNIX_SECONDS)));
        let model = Model::new(clock.now_for_tests());
        let mut harness = Harness {
            ledger: None,
            directory,
            clock,
            model,
            next_id: 0,
            hold_ids: Vec::new(),
            entry_ids: Vec::new(),
            accounts_pending: Vec::new(),
            built: Vec::new(),
            steps: 0,
        };
        harness.ledger = Some(Ledger::open(harness.config(), harness.clock.clone()).unwrap());
        harness
    }

    fn config(&self) -> LedgerConfig {
        let mut config = LedgerConfig::new(self.directory.path());
        config.expiry_tick = EXPIRY_TICK;
        config
    }

    fn ledger(&self) -> &Ledger {
        self.ledger.as_ref().unwrap()
    }

    fn fresh_uuid(&mut self) -> Uuid {
        self.next_id += 1;
        Uuid::from_u128(self.next_id)
    }

    fn fresh_entry_id(&mut self) -> EntryId {
        EntryId(self.fresh_uuid())
    }

    /// A chart of a few accounts with some money, so spending is possible from the first step.
    fn set_up(&mut self) {
        let open = |kind: AccountKind, limit: i64| SimpleOp::Open { kind, credit_limit: AmountSpec::new(limit, 2) };
        for op in [
            open(AccountKind::Clearing, 0),
            open(AccountKind::Revenue, 0),
            open(AccountKind::Escrow, 0),
            open(AccountKind::Wallet, 0),
            open(AccountKind::Wallet, 5_000),
            open(AccountKind::BankNoOverdraft, 0),
        ] {
            let command = self.build(&op);
            self.run(vec![command]);
        }
        let [clearing, revenue, _, first_wallet, second_wallet, bank] = self.model.account_order[..] else {
            panic!("the set-up opens six accounts");
        };
        // The second wallet ends up 20.00 into its 50.00 of credit, so lowering its limit matters.
        for (debit, credit, amount) in [
            (clearing, first_wallet, 10_000),
            (clearing, second_wallet, 10_000),
            (bank, clearing, 10_000),
            (second_wallet, revenue, 12_000),
        ] {
            let command = Command::Post(EntrySpec {
                id: self.fresh_entry_id(),
                category: "topup".into(),
                memo: String::new(),
                postings: vec![
                    PostingSpec::debit(debit, Decimal::new(amount, 2)),
                    PostingSpec::credit(credit, Decimal::new(amount, 2)),
                ],
                hold: None,
            });
            self.run(vec![command]);
        }
    }

    fn pick_account(&self, pick: AccountPick) -> AccountId {
        let wanted = match pick.role {
            Role::Unknown => return UNKNOWN_ACCOUNT,
            Role::Any => None,
            Role::Constrained => Some(true),
            Role::Unconstrained => Some(false),
        };
        let committed = self.model.account_order.iter().map(|id| (*id, self.model.accounts[id].no_overdraft));
        let all: Vec<(AccountId, bool)> = committed.chain(self.accounts_pending.iter().copied()).collect();
        let matching: Vec<AccountId> = all
            .iter()
            .filter(|(_, no_overdraft)| wanted.is_none_or(|wanted| wanted == *no_overdraft))
            .map(|(id, _)| *id)
            .collect();
        let pool: Vec<AccountId> = if matching.is_empty() { all.iter().map(|(id, _)| *id).collect() } else { matching };
        if pool.is_empty() {
            return UNKNOWN_ACCOUNT;
        }
        pool[pick.index.index(pool.len())]
    }

    /// Minor units of an account's asset as a decimal (CNY for an account the model lacks).
    fn decimal_of(&self, account: AccountId, minor: i128) -> Decimal {
        let asset = self.model.accounts.get(&account).map_or(Asset::Cny, |account| account.asset);
        Decimal::from_i128_with_scale(minor, model_scale(asset))
    }

    fn pick_hold(&mut self, among: HoldTarget, index: Index) -> EntryId {
        // Committed holds, open ones first choice; sorted, as the model's maps iterate in a
        // random order and cases must replay.
        let mut committed: Vec<(bool, EntryId)> = self
            .model
            .holds
            .iter()
            .filter(|(_, held)| !matches!(among, HoldTarget::WithDeadline) || held.expires_at.is_some())
            .map(|(id, held)| (held.status == HoldStatus::Open, *id))
            .collect();
        committed.sort();
        let open: Vec<EntryId> = committed.iter().filter(|(open, _)| *open).map(|(_, id)| *id).collect();
        match among {
            HoldTarget::OpenHold if !open.is_empty() => open[index.index(open.len())],
            HoldTarget::OpenHold | HoldTarget::WithDeadline if !committed.is_empty() => {
                committed[index.index(committed.len())].1
            }
            HoldTarget::OpenHold | HoldTarget::WithDeadline | HoldTarget::AnyHold => self.pick_id(true, index),
            HoldTarget::AnyEntry => self.pick_id(false, index),
        }
    }

    fn pick_id(&mut self, ids_of_holds: bool, index: Index) -> EntryId {
        let pool = if ids_of_holds { &self.hold_ids } else { &self.entry_ids };
        if pool.is_empty() {
            // Nothing to name yet: an id that names nothing.
            return self.fresh_entry_id();
        }
        pool[index.index(pool.len())]
    }

    fn hold_spec(&self, holding: Holding) -> Option<HoldSpec> {
        match holding {
            Holding::Posted => None,
            Holding::HoldWithoutDeadline => Some(HoldSpec { expires_at: None }),
            Holding::HoldExpiringAfter { micros } => {
                Some(HoldSpec { expires_at: Some(self.model.now.plus_micros(micros)) })
            }
        }
    }

    fn entry(
        &mut self,
        id: EntryId,
        postings: Vec<PostingSpec>,
        holding: Holding,
        category: &str,
        memo: String,
    ) -> Command {
        let hold = self.hold_spec(holding);
        if hold.is_some() {
            self.hold_ids.push(id);
        }
        self.entry_ids.push(id);
        Command::Post(EntrySpec { id, category: category.to_owned(), memo, postings, hold })
    }

    /// The command for an operation, naming what exists (or was built) now.
    fn build(&mut self, op: &SimpleOp) -> Command {
        let command = self.build_command(op);
        self.built.push(command.clone());
        command
    }

    fn build_command(&mut self, op: &SimpleOp) -> Command {
        match *op {
            SimpleOp::Open { kind, credit_limit } => {
                let id = AccountId(self.fresh_uuid());
                self.accounts_pending.push((id, kind.no_overdraft()));
                Command::OpenAccount(AccountSpec {
                    id,
                    code: kind.code(),
                    asset: kind.asset(),
                    no_overdraft: kind.no_overdraft(),
                    credit_limit: credit_limit.decimal(),
                })
            }
            SimpleOp::Transfer { debit, credit, amount, holding, flaw } => {
                let id = if flaw == Flaw::NilId { EntryId(Uuid::nil()) } else { self.fresh_entry_id() };
                let debit = self.pick_account(debit);
                let amount = match amount {
                    Amount::Literal(amount) => amount.decimal(),
                    Amount::Boundary { excess } => {
                        let room = self.model.accounts.get(&debit).map_or(0, |account| {
                            if account.no_overdraft {
                                account.available() - account.floor()
                            } else {
                                account.available()
                            }
                        });
                        self.decimal_of(debit, (room + i128::from(excess)).max(1))
                    }
                };
                let mut postings =
                    vec![PostingSpec::debit(debit, amount), PostingSpec::credit(self.pick_account(credit), amount)];
                if flaw == Flaw::OnePosting {
                    postings.pop();
                }
                let category = match (flaw, holding) {
                    (Flaw::BadCategory, _) => "Top Up",
                    (_, Holding::Posted) => "transfer",
                    _ => "service_escrow",
                };
                let memo = match flaw {
                    Flaw::MemoAtLimit => "m".repeat(MEMO_BYTES_MAX),
                    Flaw::LongMemo => "m".repeat(MEMO_BYTES_MAX + 1),
                    _ => String::new(),
                };
                self.entry(id, postings, holding, category, memo)
            }
            SimpleOp::Split { debit, credits, amounts, unbalanced, holding } => {
                let id = self.fresh_entry_id();
                let residue = if unbalanced { Decimal::new(1, 2) } else { Decimal::ZERO };
                let total = amounts[0].decimal() + amounts[1].decimal() + residue;
                let postings = vec![
                    PostingSpec::debit(self.pick_account(debit), total),
                    PostingSpec::credit(self.pick_account(credits[0]), amounts[0].decimal()),
                    PostingSpec::credit(self.pick_account(credits[1]), amounts[1].decimal()),
                ];
                self.entry(id, postings, holding, "split", "three postings".to_owned())
            }
            SimpleOp::Capture { hold, among, amount } => {
                let id = self.fresh_entry_id();
                let hold = self.pick_hold(among, hold);
                self.entry_ids.push(id);
                let amount = amount.map(|amount| match amount {
                    Amount::Literal(amount) => amount.decimal(),
                    Amount::Boundary { excess } => {
                        match self.model.holds.get(&hold).and_then(|held| held.postings.first()) {
                            Some((account, _, held_minor)) => {
                                self.decimal_of(*account, (held_minor + i128::from(excess)).max(1))
                            }
                            None => Decimal::ONE,
                        }
                    }
                });
                Command::Capture { id, hold, amount, memo: String::new() }
            }
            SimpleOp::Void { target, among } => {
                let id = self.fresh_entry_id();
                let hold = self.pick_hold(among, target);
                self.entry_ids.push(id);
                Command::Void { id, hold, memo: String::new() }
            }
            SimpleOp::Reverse { entry, among } => {
                let id = self.fresh_entry_id();
                let mut pool: Vec<EntryId> = match among {
                    ReverseTarget::AnyEntry => Vec::new(),
                    ReverseTarget::Reversible => self
                        .model
                        .records
                        .iter()
                        .filter_map(|record| match record {
                            ModelRecord::Entry { id, kind: ModelKind::Posted | ModelKind::Capture { .. }, .. } => {
                                Some(*id)
                            }
                            _ => None,
                        })
                        .collect(),
                    ReverseTarget::AlreadyReversed => self.model.reversed.iter().copied().collect(),
                };
                // Sorted: the model's sets iterate in a random order, and cases must replay.
                pool.sort();
                let reverses = match pool.is_empty() {
                    true => self.pick_id(false, entry),
                    false => pool[entry.index(pool.len())],
                };
                self.entry_ids.push(id);
                Command::Reverse { id, reverses, memo: "refund".to_owned() }
            }
            SimpleOp::Close { account, empty } => {
                let mut empty_accounts: Vec<AccountId> = self
                    .model
                    .accounts
                    .iter()
                    .filter(|(_, held)| {
                        let balances = held.balances;
                        balances.debits_posted == balances.credits_posted
                            && balances.debits_pending == 0
                            && balances.credits_pending == 0
                    })
                    .map(|(id, _)| *id)
                    .collect();
                // Sorted: the model's maps iterate in a random order, and cases must replay.
                empty_accounts.sort();
                let account = match empty && !empty_accounts.is_empty() {
                    true => empty_accounts[account.index.index(empty_accounts.len())],
                    false => self.pick_account(account),
                };
                Command::CloseAccount { account }
            }
            SimpleOp::Note { payload_bytes, flaw } => {
                let id = self.fresh_entry_id();
                self.entry_ids.push(id);
                let kind = if flaw == NoteFlaw::BadKind { "Meter Note" } else { "meter_note" };
                let payload_bytes = match flaw {
                    NoteFlaw::PayloadAtLimit => NOTE_PAYLOAD_BYTES_MAX,
                    NoteFlaw::PayloadTooLarge => NOTE_PAYLOAD_BYTES_MAX + 1,
                    NoteFlaw::None | NoteFlaw::BadKind => payload_bytes,
                };
                Command::Note {
                    id,
                    kind: kind.to_owned(),
                    payload: (0..payload_bytes).map(|byte| byte as u8).collect(),
                }
            }
            SimpleOp::SetLimit { account, limit } => {
                let id = self.fresh_entry_id();
                self.entry_ids.push(id);
                let account = self.pick_account(account);
                let limit = match limit {
                    Amount::Literal(limit) => limit.decimal(),
                    Amount::Boundary { excess } => {
                        let used = self.model.accounts.get(&account).map_or(0, |account| (-account.available()).max(0));
                        self.decimal_of(account, (used + i128::from(excess)).max(0))
                    }
                };
                Command::SetCreditLimit { id, account, limit }
            }
        }
    }

    /// An earlier command again (a group only if `groups_too`), as it was or altered.
    fn resubmission(&self, pick: Index, alter: bool, groups_too: bool) -> Command {
        let candidates: Vec<&Command> =
            self.built.iter().filter(|command| groups_too || !matches!(command, Command::Linked(_))).collect();
        let earlier = candidates[pick.index(candidates.len())].clone();
        if alter {
            altered(earlier)
        } else {
            earlier
        }
    }

    fn build_group(&mut self, members: &[Member]) -> Vec<Command> {
        members
            .iter()
            .map(|member| match member {
                Member::Simple(op) => self.build(op),
                Member::Resubmit { pick, alter } => self.resubmission(*pick, *alter, false),
            })
            .collect()
    }

    fn build_step(&mut self, step: &Step) -> Command {
        match step {
            Step::Simple(op) => self.build(op),
            Step::Linked(members) => {
                let group = Command::Linked(self.build_group(members));
                self.built.push(group.clone());
                group
            }
            Step::NestedLinked { members, position } => {
                let mut commands = self.build_group(members);
                commands.insert(position.index(commands.len() + 1), Command::Linked(Vec::new()));
                Command::Linked(commands)
            }
            Step::Resubmit { pick, alter } => self.resubmission(*pick, *alter, true),
        }
    }

    /// Submits commands as one submission (one batch) and checks the answers and the state.
    fn run(&mut self, commands: Vec<Command>) {
        self.run_submissions(vec![commands]);
    }

    /// Queues every submission before waiting for any, applies them in the same order to the
    /// model, compares each command's answer, then checks the state.
    fn run_submissions(&mut self, submissions: Vec<Vec<Command>>) {
        self.run_submissions_spaced(submissions, Duration::ZERO);
    }

    /// [`Harness::run_submissions`], waiting `spacing` after each submission is queued.
    fn run_submissions_spaced(&mut self, submissions: Vec<Vec<Command>>, spacing: Duration) {
        self.accounts_pending.clear();
        let expected: Vec<Vec<Expected>> = submissions
            .iter()
            .map(|commands| commands.iter().map(|command| self.model.submit(command)).collect())
            .collect();
        let mut tickets: Vec<Ticket> = Vec::with_capacity(submissions.len());
        for commands in &submissions {
            tickets.push(self.ledger().submit(commands.clone()).unwrap());
            if !spacing.is_zero() {
                std::thread::sleep(spacing);
            }
        }
        for ((commands, expected), ticket) in submissions.iter().zip(expected).zip(tickets) {
            let actual = ticket.wait().unwrap();
            assert_eq!(actual.len(), commands.len(), "step {}: one result per command", self.steps);
            for ((command, expected), actual) in commands.iter().zip(expected).zip(actual) {
                let actual = actual.map_err(|rejection| (rejection.code, rejection.linked_index));
                assert_eq!(
                    actual, expected,
                    "step {}: the ledger (left) and the model (right) disagree on {command:?}",
                    self.steps
                );
                let label = match &actual {
                    Ok(Outcome::Done(receipt)) if receipt.duplicate => "duplicate".to_owned(),
                    Ok(Outcome::Done(_)) => "ok".to_owned(),
                    Ok(Outcome::Linked(_)) => "ok".to_owned(),
                    Err((code, Some(_))) => code.as_str().to_owned(),
                    Err((code, None)) => code.as_str().to_owned(),
                };
                let kind = match command {
                    Command::OpenAccount(_) => "open",
                    Command::Post(EntrySpec { hold: Some(_), .. }) => "hold",
                    Command::Post(_) => "post",
                    Command::Capture { .. } => "capture",
                    Command::Void { .. } => "void",
                    Command::Reverse { .. } => "reverse",
                    Command::SetCreditLimit { .. } => "set_credit_limit",
                    Command::CloseAccount { .. } => "close",
                    Command::Note { .. } => "note",
                    Command::Linked(_) => "linked",
                };
                *OUTCOME_COUNTS.lock().unwrap().entry(format!("{kind}: {label}")).or_default() += 1;
            }
        }
        self.check_state();
    }

    fn apply(&mut self, op: &Op) {
        self.steps += 1;
        match op {
            Op::One(step) => {
                let command = self.build_step(step);
                self.run(vec![command]);
            }
            Op::Batch(steps) => {
                let commands = steps.iter().map(|step| self.build_step(step)).collect();
                self.run(commands);
            }
            Op::Pipelined { steps, spaced } => {
                let submissions = steps.iter().map(|step| vec![self.build_step(step)]).collect();
                let spacing = if *spaced { SUBMISSION_SPACING } else { Duration::ZERO };
                self.run_submissions_spaced(submissions, spacing);
            }
            Op::Advance { by, then } => {
                let micros = match *by {
                    Advance::Micros(micros) => micros,
                    Advance::ToDeadline { hold, excess } => {
                        let mut deadlines: Vec<(EntryId, Timestamp)> = self
                            .model
                            .holds
                            .iter()
                            .filter(|(_, held)| held.status == HoldStatus::Open)
                            .filter_map(|(id, held)| held.expires_at.map(|deadline| (*id, deadline)))
                            .collect();
                        deadlines.sort();
                        match deadlines.get(hold.index(deadlines.len().max(1))) {
                            Some((_, deadline)) => {
                                (deadline.unix_micros() + excess - self.model.now.unix_micros()).max(0)
                            }
                            None => 1_000_000,
                        }
                    }
                };
                self.clock.advance_micros(micros);
                self.model.advance_to(self.clock.now_for_tests());
                match then {
                    AfterAdvance::WaitForTick => {
                        self.wait_for_expiry();
                        self.check_state();
                    }
                    AfterAdvance::SubmitVoid(index) => {
                        let command = self.build(&SimpleOp::Void { target: *index, among: HoldTarget::WithDeadline });
                        self.run(vec![command]);
                    }
                }
            }
            Op::Restart => self.restart(),
        }
    }

    /// After the clock moved with no command to follow: waits until the writer's expiry tick has
    /// committed as many records as the model holds, failing at once if it committed more. (After
    /// a submission there is nothing to wait for: the batch that answered it voided the due holds
    /// first, if an earlier tick had not.)
    fn wait_for_expiry(&self) {
        let reader = self.ledger().reader();
        let expected = self.model.last_sequence();
        let started = Instant::now();
        loop {
            let committed = reader.checkpoint().last_sequence;
            if committed == expected {
                return;
            }
            assert!(
                committed < expected,
                "step {}: the ledger committed {committed} records, the model {expected}",
                self.steps
            );
            assert!(
                started.elapsed() < EXPIRY_WAIT_TIMEOUT,
                "step {}: the ledger stayed at {committed} records, the model has {expected} (expiry did not run?)",
                self.steps
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Compares the ledger's committed state with the model and checks the invariants.
    fn check_state(&self) {
        let step = self.steps;
        let model = &self.model;
        self.ledger().reader().with_state(|state| {
            assert_eq!(state.last_sequence(), model.last_sequence(), "step {step}: last sequence");
            assert!(state.is_balanced(), "step {step}: the ledger's totals are not balanced");
            assert_eq!(state.accounts().len(), model.accounts.len(), "step {step}: number of accounts");
            let mut sums: BTreeMap<Asset, ModelBalances> = BTreeMap::new();
            for account in state.accounts() {
                let expected = model
                    .accounts
                    .get(&account.id)
                    .unwrap_or_else(|| panic!("step {step}: the ledger has account {} the model lacks", account.id));
                let balances = ModelBalances {
                    debits_posted: i128::from(account.balances.debits_posted),
                    credits_posted: i128::from(account.balances.credits_posted),
                    debits_pending: i128::from(account.balances.debits_pending),
                    credits_pending: i128::from(account.balances.credits_pending),
                };
                assert_eq!(balances, expected.balances, "step {step}: balances of account {}", account.id);
                assert_eq!(
                    (
                        account.asset,
                        account.normal_side,
                        account.flags.no_overdraft,
                        i128::from(account.credit_limit_minor),
                        account.opened_at,
                        account.closed_at
                    ),
                    (
                        expected.asset,
                        expected.normal_side,
                        expected.no_overdraft,
                        expected.credit_limit,
                        expected.opened_at,
                        expected.closed_at
                    ),
                    "step {step}: asset, normal side, no_overdraft, credit limit, opened_at, closed_at of {}",
                    account.id
                );
                assert_eq!(
                    account.balances.available_on(account.normal_side),
                    expected.available(),
                    "step {step}: available"
                );
                if account.flags.no_overdraft {
                    let available = expected.available();
                    if available < expected.floor() {
                        *OUTCOME_COUNTS
                            .lock()
                            .unwrap()
                            .entry("(state) below floor after a lowered limit".into())
                            .or_default() += 1;
                    }
                    let allowed = available >= expected.floor()
                        || expected.below_floor_since_limit_lowered.is_some_and(|since| available >= since);
                    assert!(
                        allowed,
                        "step {step}: account {} is at {available}, below its floor {}",
                        account.id,
                        expected.floor()
                    );
                }
                let sum = sums.entry(account.asset).or_default();
                sum.debits_posted += balances.debits_posted;
                sum.credits_posted += balances.credits_posted;
                sum.debits_pending += balances.debits_pending;
                sum.credits_pending += balances.credits_pending;
            }
            for (asset, sum) in sums {
                assert_eq!(
                    sum.debits_posted, sum.credits_posted,
                    "step {step}: posted {asset} balances do not sum to zero"
                );
                assert_eq!(
                    sum.debits_pending, sum.credits_pending,
                    "step {step}: pending {asset} balances do not sum to zero"
                );
                let totals = state.totals(asset);
                assert_eq!(
                    (totals.debits_posted, totals.credits_posted, totals.debits_pending, totals.credits_pending),
                    (
                        u128::try_from(sum.debits_posted).unwrap(),
                        u128::try_from(sum.credits_posted).unwrap(),
                        u128::try_from(sum.debits_pending).unwrap(),
                        u128::try_from(sum.credits_pending).unwrap()
                    ),
                    "step {step}: the ledger's {asset} totals differ from the sum of its accounts"
                );
            }
            let id_of = |index: ledger::AccountIndex| state.accounts()[index.0 as usize].id;
            for (id, expected) in &model.holds {
                let hold = state.hold_by_id(id).unwrap_or_else(|| panic!("step {step}: the ledger lacks hold {id}"));
                let postings: Vec<ModelPosting> = hold
                    .postings
                    .iter()
                    .map(|posting| (id_of(posting.account), posting.side, i128::from(posting.amount_minor)))
                    .collect();
                assert_eq!(
                    (hold.status, hold.sequence, hold.expires_at, postings),
                    (expected.status, expected.sequence, expected.expires_at, expected.postings.clone()),
                    "step {step}: hold {id}"
                );
            }
            for (id, sequence) in &model.entries {
                assert_eq!(state.entry_sequence_by_id(id), Some(*sequence), "step {step}: sequence of entry {id}");
            }
        });
    }

    fn snapshot(&self) -> Snapshot {
        let mut hold_ids: Vec<EntryId> = self.model.holds.keys().copied().collect();
        hold_ids.sort();
        let reader = self.ledger().reader();
        let checkpoint = reader.checkpoint();
        reader.with_state(|state| Snapshot {
            checkpoint,
            accounts: state.accounts().to_vec(),
            holds: hold_ids.iter().map(|id| state.hold_by_id(id).cloned()).collect(),
            totals: Asset::ALL.iter().map(|asset| state.totals(*asset)).collect(),
            batch_marks: state.batch_marks().to_vec(),
        })
    }

    fn restart(&mut self) {
        let before = self.snapshot();
        self.close_ledger();
        self.ledger = Some(self.reopen());
        let after = self.snapshot();
        assert_eq!(after, before, "step {}: the state after a restart differs from the state before", self.steps);
        self.check_state();
    }

    /// Closes the ledger, counting how often its writer staged on a pending batch.
    fn close_ledger(&mut self) {
        let ledger = self.ledger.take().unwrap();
        let staged_on_pending = ledger.reader().metrics().batches_staged_on_pending.load(AtomicOrdering::Relaxed);
        *OUTCOME_COUNTS.lock().unwrap().entry("batches staged on a pending batch".to_owned()).or_default() +=
            staged_on_pending;
        ledger.close().unwrap();
    }

    /// Opens the ledger again on the same directory (the store waits for sled's directory lock to
    /// be released by the ledger just closed).
    fn reopen(&self) -> Ledger {
        Ledger::open(self.config(), self.clock.clone()).unwrap()
    }

    fn finish(mut self) {
        let report = self.ledger().reader().verify().unwrap();
        assert!(report.ok, "verify: {report:?}");
        assert_eq!(report.head_sequence, self.model.last_sequence());
        assert_eq!(report.records_checked, self.model.last_sequence());
        self.close_ledger();
        if std::env::var_os("LEDGER_MODEL_STATS").is_some() {
            eprintln!("outcomes so far: {:#?}", OUTCOME_COUNTS.lock().unwrap());
        }
    }
}

/// The same command with other content (and the same id).
fn altered(command: Command) -> Command {
    match command {
        Command::OpenAccount(spec) => Command::OpenAccount(AccountSpec { no_overdraft: !spec.no_overdraft, ..spec }),
        Command::Post(spec) => Command::Post(EntrySpec { memo: format!("{} (altered)", spec.memo), ..spec }),
        Command::Capture { id, hold, amount, memo } => Command::Capture { id, hold, amount, memo: memo + " (altered)" },
        Command::Void { id, hold, memo } => Command::Void { id, hold, memo: memo + " (altered)" },
        Command::Reverse { id, reverses, memo } => Command::Reverse { id, reverses, memo: memo + " (altered)" },
        Command::SetCreditLimit { id, account, limit } => {
            Command::SetCreditLimit { id, account, limit: limit + Decimal::new(1, 2) }
        }
        Command::Linked(mut members) => {
            if let Some(first) = members.pop() {
                members.push(altered(first));
            }
            Command::Linked(members)
        }
        Command::Note { id, kind, mut payload } => {
            payload.push(0xA5);
            Command::Note { id, kind, payload }
        }
        close @ Command::CloseAccount { .. } => close,
    }
}

fn config() -> ProptestConfig {
    proptests::proptest_config!("ledger_model", CASES_DEFAULT)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_ledger_agrees_with_the_model(ops in vec(op(), 1..60)) {
        let mut harness = Harness::new();
        harness.set_up();
        for op in &ops {
            harness.apply(op);
        }
        harness.finish();
    }
}
