//! The ledger's rules, as tables of commands and expected answers, against a real ledger on a
//! temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ledger::{
    chart, AccountId, AccountSpec, AsOf, Asset, Command, EntryId, EntrySpec, HoldSpec, HoldStatus, Ledger,
    LedgerConfig, ManualClock, Outcome, PostingSpec, Timestamp,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

struct Harness {
    ledger: Option<Ledger>,
    clock: Arc<ManualClock>,
    directory: tempfile::TempDir,
    /// A channel clearing account (debit-normal, may go anywhere).
    clearing: AccountId,
    /// Gas revenue (credit-normal).
    revenue: AccountId,
}

fn id(value: u128) -> Uuid {
    Uuid::from_u128(value)
}

fn config(directory: &std::path::Path) -> LedgerConfig {
    let mut config = LedgerConfig::new(directory);
    config.expiry_tick = Duration::from_millis(20);
    config
}

impl Harness {
    fn new() -> Harness {
        let directory = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp::from_unix_seconds(1_767_225_600)));
        let ledger = Ledger::open(config(directory.path()), clock.clone()).unwrap();
        let mut harness = Harness {
            ledger: Some(ledger),
            clock,
            directory,
            clearing: AccountId(id(0xC1)),
            revenue: AccountId(id(0xE1)),
        };
        harness.ok(open(harness.clearing, chart::CHANNEL_CLEARING, false, dec!(0)));
        harness.ok(open(harness.revenue, chart::GAS_SALES_REVENUE, false, dec!(0)));
        harness
    }

    fn ledger(&self) -> &Ledger {
        self.ledger.as_ref().unwrap()
    }

    fn run(&self, command: Command) -> Result<Outcome, String> {
        self.ledger().execute(command).unwrap().map_err(|rejection| rejection.code().to_owned())
    }

    /// One row of a rules table: the command and the code it must be rejected with, or "ok".
    fn check(&self, command: Command, expected: &str) {
        let got = match self.run(command.clone()) {
            Ok(_) => "ok".to_owned(),
            Err(code) => code,
        };
        assert_eq!(got, expected, "command {command:?}");
    }

    fn ok(&mut self, command: Command) -> Outcome {
        self.run(command).unwrap()
    }

    fn wallet(&mut self, number: u128, credit_limit: Decimal) -> AccountId {
        let wallet = AccountId(id(0xA000 + number));
        self.ok(open(wallet, chart::CUSTOMER_WALLET, true, credit_limit));
        wallet
    }

    fn available(&self, account: AccountId) -> i128 {
        let account = self.ledger().reader().account(&account).unwrap();
        account.balances.available_on(account.normal_side)
    }

    fn reopen(&mut self) {
        self.ledger.take().unwrap().close().unwrap();
        self.ledger = Some(Ledger::open(config(self.directory.path()), self.clock.clone()).unwrap());
    }
}

fn open(account: AccountId, code: ledger::ChartCode, no_overdraft: bool, credit_limit: Decimal) -> Command {
    Command::OpenAccount(AccountSpec { id: account, code, asset: Asset::Cny, no_overdraft, credit_limit })
}

fn transfer(entry: u128, debit: AccountId, credit: AccountId, amount: Decimal) -> Command {
    Command::Post(EntrySpec {
        id: EntryId(id(entry)),
        category: "transfer".into(),
        memo: String::new(),
        postings: vec![PostingSpec::debit(debit, amount), PostingSpec::credit(credit, amount)],
        hold: None,
    })
}

fn hold(entry: u128, debit: AccountId, credit: AccountId, amount: Decimal, expires_at: Option<Timestamp>) -> Command {
    Command::Post(EntrySpec {
        id: EntryId(id(entry)),
        category: "service_escrow".into(),
        memo: String::new(),
        postings: vec![PostingSpec::debit(debit, amount), PostingSpec::credit(credit, amount)],
        hold: Some(HoldSpec { expires_at }),
    })
}

#[test]
fn entries_are_checked_before_they_post() {
    let mut harness = Harness::new();
    let wallet = harness.wallet(1, dec!(0));
    let clearing = harness.clearing;
    let revenue = harness.revenue;
    let unknown = AccountId(id(0xDEAD));
    harness.check(transfer(1, clearing, wallet, dec!(100.00)), "ok");
    harness.check(transfer(2, wallet, revenue, dec!(60.00)), "ok");
    harness.check(transfer(3, wallet, revenue, dec!(40.01)), "insufficient_funds");
    harness.check(transfer(4, wallet, revenue, dec!(40.00)), "ok");
    harness.check(transfer(5, clearing, wallet, dec!(1.001)), "invalid_amount");
    harness.check(transfer(6, clearing, wallet, dec!(0)), "invalid_amount");
    harness.check(transfer(7, clearing, wallet, dec!(-1)), "invalid_amount");
    harness.check(transfer(8, clearing, unknown, dec!(1)), "account_not_found");
    harness.check(transfer(0, clearing, wallet, dec!(1)), "validation_failed");
    let unbalanced = Command::Post(EntrySpec {
        id: EntryId(id(9)),
        category: "transfer".into(),
        memo: String::new(),
        postings: vec![PostingSpec::debit(clearing, dec!(2)), PostingSpec::credit(wallet, dec!(1))],
        hold: None,
    });
    harness.check(unbalanced, "unbalanced_entry");
    let single = Command::Post(EntrySpec {
        id: EntryId(id(10)),
        category: "transfer".into(),
        memo: String::new(),
        postings: vec![PostingSpec::debit(clearing, dec!(2))],
        hold: None,
    });
    harness.check(single, "invalid_postings");
    let bad_category = Command::Post(EntrySpec {
        id: EntryId(id(11)),
        category: "Top Up".into(),
        memo: String::new(),
        postings: vec![PostingSpec::debit(clearing, dec!(2)), PostingSpec::credit(wallet, dec!(2))],
        hold: None,
    });
    harness.check(bad_category, "validation_failed");
    let long_memo = Command::Post(EntrySpec {
        id: EntryId(id(12)),
        category: "transfer".into(),
        memo: "x".repeat(ledger::command::MEMO_BYTES_MAX + 1),
        postings: vec![PostingSpec::debit(clearing, dec!(2)), PostingSpec::credit(wallet, dec!(2))],
        hold: None,
    });
    harness.check(long_memo, "validation_failed");
    harness.check(open(AccountId(id(0xB1)), ledger::ChartCode(1), false, dec!(0)), "unknown_chart_code");
    assert_eq!(harness.available(wallet), 0);
}

#[test]
fn credit_limit_lets_a_wallet_go_below_zero_and_is_recorded() {
    let mut harness = Harness::new();
    let wallet = harness.wallet(1, dec!(10.00));
    let revenue = harness.revenue;
    harness.check(transfer(1, wallet, revenue, dec!(10.00)), "ok");
    harness.check(transfer(2, wallet, revenue, dec!(0.01)), "insufficient_funds");
    let raise = Command::SetCreditLimit { id: EntryId(id(3)), account: wallet, limit: dec!(25.00) };
    harness.check(raise.clone(), "ok");
    harness.check(raise, "ok");
    harness.check(Command::SetCreditLimit { id: EntryId(id(3)), account: wallet, limit: dec!(5.00) }, "id_conflict");
    harness.check(transfer(4, wallet, revenue, dec!(15.00)), "ok");
    assert_eq!(harness.available(wallet), -2500);
    // Lowering the limit below what is used is allowed; the wallet can then only receive.
    harness.check(Command::SetCreditLimit { id: EntryId(id(5)), account: wallet, limit: dec!(0) }, "ok");
    harness.check(transfer(6, wallet, revenue, dec!(0.01)), "insufficient_funds");
    let clearing = harness.clearing;
    harness.check(transfer(7, clearing, wallet, dec!(5.00)), "ok");
    harness.check(Command::SetCreditLimit { id: EntryId(id(8)), account: wallet, limit: dec!(-1) }, "invalid_amount");
}

#[test]
fn the_same_id_returns_the_first_result_and_other_content_conflicts() {
    let mut harness = Harness::new();
    let wallet = harness.wallet(1, dec!(0));
    let clearing = harness.clearing;
    let first = harness.ok(transfer(1, clearing, wallet, dec!(5.00))).receipt().unwrap();
    assert!(!first.duplicate);
    let again = harness.ok(transfer(1, clearing, wallet, dec!(5.00))).receipt().unwrap();
    assert_eq!(again.sequence, first.sequence);
    assert!(again.duplicate);
    harness.check(transfer(1, clearing, wallet, dec!(6.00)), "id_conflict");
    assert_eq!(harness.available(wallet), 500);
    // A rejected attempt does not reserve its id.
    let revenue = harness.revenue;
    harness.check(transfer(2, wallet, revenue, dec!(9.00)), "insufficient_funds");
    harness.check(transfer(2, wallet, revenue, dec!(4.00)), "ok");
    // Duplicates survive a restart.
    harness.reopen();
    let after_restart = harness.ok(transfer(1, clearing, wallet, dec!(5.00))).receipt().unwrap();
    assert_eq!(after_restart.sequence, first.sequence);
    assert!(after_restart.duplicate);
    // Re-opening an account with the same spec is a duplicate; with another spec a conflict.
    harness.check(open(wallet, chart::CUSTOMER_WALLET, true, dec!(0)), "ok");
    harness.check(open(wallet, chart::CUSTOMER_WALLET, false, dec!(0)), "id_conflict");
}

#[test]
fn a_linked_group_commits_all_or_nothing() {
    let mut harness = Harness::new();
    let wallet = harness.wallet(1, dec!(0));
    let clearing = harness.clearing;
    let revenue = harness.revenue;
    let group =
        Command::Linked(vec![transfer(1, clearing, wallet, dec!(5.00)), transfer(2, wallet, revenue, dec!(6.00))]);
    let rejection = harness.ledger().execute(group).unwrap().unwrap_err();
    assert_eq!(rejection.code(), "insufficient_funds");
    assert_eq!(rejection.linked_index, Some(1));
    assert_eq!(harness.available(wallet), 0);
    assert!(harness.ledger().reader().entry(&EntryId(id(1))).unwrap().is_none());
    let group =
        Command::Linked(vec![transfer(1, clearing, wallet, dec!(6.00)), transfer(2, wallet, revenue, dec!(6.00))]);
    match harness.ok(group) {
        Outcome::Linked(receipts) => assert_eq!(receipts.len(), 2),
        other => panic!("expected a linked outcome, got {other:?}"),
    }
    assert_eq!(harness.available(wallet), 0);
    assert_eq!(harness.available(revenue), 600);
    harness.check(Command::Linked(vec![]), "validation_failed");
    harness.check(Command::Linked(vec![Command::Linked(vec![])]), "validation_failed");
    // A linked group may open an account and use it at once.
    let fresh = AccountId(id(0xF1));
    harness.check(
        Command::Linked(vec![
            open(fresh, chart::CUSTOMER_WALLET, true, dec!(0)),
            transfer(3, clearing, fresh, dec!(1.00)),
        ]),
        "ok",
    );
    assert_eq!(harness.available(fresh), 100);
}

#[test]
fn holds_reserve_funds_until_captured_voided_or_expired() {
    let mut harness = Harness::new();
    let wallet = harness.wallet(1, dec!(0));
    let clearing = harness.clearing;
    let escrow = AccountId(id(0xE5));
    harness.ok(Command::OpenAccount(AccountSpec {
        id: escrow,
        code: chart::SERVICE_ESCROW,
        asset: Asset::Cny,
        no_overdraft: false,
        credit_limit: dec!(0),
    }));
    harness.ok(transfer(1, clearing, wallet, dec!(100.00)));
    let now = harness.clock.now_for_tests();
    harness.check(hold(2, wallet, escrow, dec!(80.00), Some(now.plus_micros(60_000_000))), "ok");
    assert_eq!(harness.available(wallet), 2000);
    harness.check(transfer(3, wallet, escrow, dec!(20.01)), "insufficient_funds");
    harness.check(hold(4, wallet, escrow, dec!(1.00), Some(now)), "hold_deadline_passed");
    // Partial capture posts 50 and releases the other 30.
    let capture =
        Command::Capture { id: EntryId(id(5)), hold: EntryId(id(2)), amount: Some(dec!(50.00)), memo: String::new() };
    harness.check(
        Command::Capture { id: EntryId(id(6)), hold: EntryId(id(2)), amount: Some(dec!(80.01)), memo: String::new() },
        "capture_exceeds_hold",
    );
    harness.check(capture.clone(), "ok");
    harness.check(capture, "ok");
    assert_eq!(harness.available(wallet), 5000);
    harness.check(Command::Void { id: EntryId(id(7)), hold: EntryId(id(2)), memo: String::new() }, "hold_not_open");
    harness.check(Command::Void { id: EntryId(id(8)), hold: EntryId(id(99)), memo: String::new() }, "hold_not_found");
    // Void releases everything.
    harness.check(hold(9, wallet, escrow, dec!(10.00), None), "ok");
    assert_eq!(harness.available(wallet), 4000);
    harness.check(Command::Void { id: EntryId(id(10)), hold: EntryId(id(9)), memo: String::new() }, "ok");
    assert_eq!(harness.available(wallet), 5000);
    // Expiry: driven by the clock the writer is given, not by the wall clock.
    harness.check(hold(11, wallet, escrow, dec!(30.00), Some(now.plus_micros(60_000_000))), "ok");
    assert_eq!(harness.available(wallet), 2000);
    harness.clock.advance_micros(61_000_000);
    let reader = harness.ledger().reader();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while reader.hold(&EntryId(id(11))).unwrap().status == HoldStatus::Open {
        assert!(std::time::Instant::now() < deadline, "the hold did not expire");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(matches!(reader.hold(&EntryId(id(11))).unwrap().status, HoldStatus::Expired { .. }));
    assert_eq!(harness.available(wallet), 5000);
    harness.check(
        Command::Capture { id: EntryId(id(12)), hold: EntryId(id(11)), amount: None, memo: String::new() },
        "hold_not_open",
    );
    // A multi-posting hold cannot be partly captured.
    let wide = Command::Post(EntrySpec {
        id: EntryId(id(13)),
        category: "service_escrow".into(),
        memo: String::new(),
        postings: vec![
            PostingSpec::debit(wallet, dec!(3.00)),
            PostingSpec::credit(escrow, dec!(2.00)),
            PostingSpec::credit(escrow, dec!(1.00)),
        ],
        hold: Some(HoldSpec { expires_at: None }),
    });
    harness.check(wide, "ok");
    harness.check(
        Command::Capture { id: EntryId(id(14)), hold: EntryId(id(13)), amount: Some(dec!(1.00)), memo: String::new() },
        "partial_capture_unsupported",
    );
    harness.check(
        Command::Capture { id: EntryId(id(14)), hold: EntryId(id(13)), amount: None, memo: String::new() },
        "ok",
    );
    assert_eq!(harness.available(wallet), 4700);
}

#[test]
fn reversals_name_what_they_reverse_and_happen_once() {
    let mut harness = Harness::new();
    let wallet = harness.wallet(1, dec!(0));
    let clearing = harness.clearing;
    let escrow = harness.revenue;
    harness.ok(transfer(1, clearing, wallet, dec!(10.00)));
    let reverse = Command::Reverse { id: EntryId(id(2)), reverses: EntryId(id(1)), memo: "channel refund".into() };
    harness.check(reverse.clone(), "ok");
    harness.check(reverse, "ok");
    assert_eq!(harness.available(wallet), 0);
    harness.check(
        Command::Reverse { id: EntryId(id(3)), reverses: EntryId(id(1)), memo: String::new() },
        "already_reversed",
    );
    harness.check(
        Command::Reverse { id: EntryId(id(4)), reverses: EntryId(id(77)), memo: String::new() },
        "entry_not_found",
    );
    harness.ok(transfer(5, clearing, wallet, dec!(10.00)));
    harness.ok(hold(6, wallet, escrow, dec!(1.00), None));
    harness.check(
        Command::Reverse { id: EntryId(id(7)), reverses: EntryId(id(6)), memo: String::new() },
        "not_reversible",
    );
    // Reversing a top-up that was already spent would overdraw the wallet.
    harness.ok(transfer(8, wallet, escrow, dec!(9.00)));
    harness.check(
        Command::Reverse { id: EntryId(id(9)), reverses: EntryId(id(5)), memo: String::new() },
        "insufficient_funds",
    );
    let (_, _, record) = harness.ledger().reader().entry(&EntryId(id(2))).unwrap().unwrap();
    assert_eq!(record.kind, ledger::record::EntryKind::Reversal { of: EntryId(id(1)) });
}

#[test]
fn accounts_close_only_when_empty_and_then_refuse_postings() {
    let mut harness = Harness::new();
    let wallet = harness.wallet(1, dec!(0));
    let clearing = harness.clearing;
    harness.ok(transfer(1, clearing, wallet, dec!(1.00)));
    harness.check(Command::CloseAccount { account: wallet }, "account_not_empty");
    harness.ok(transfer(2, wallet, clearing, dec!(1.00)));
    harness.check(Command::CloseAccount { account: wallet }, "ok");
    harness.check(Command::CloseAccount { account: wallet }, "ok");
    harness.check(transfer(3, clearing, wallet, dec!(1.00)), "account_closed");
}

#[test]
fn balances_as_of_a_sequence_or_a_time_and_paged_history() {
    let mut harness = Harness::new();
    let wallet = harness.wallet(1, dec!(0));
    let clearing = harness.clearing;
    let start = harness.clock.now_for_tests();
    let mut sequences = Vec::new();
    for number in 1..=5u128 {
        harness.clock.advance_micros(1_000_000);
        let receipt = harness.ok(transfer(number, clearing, wallet, dec!(1.00))).receipt().unwrap();
        sequences.push(receipt.sequence);
    }
    let reader = harness.ledger().reader();
    let at = |as_of| reader.balances_as_of(&wallet, as_of).unwrap().credits_posted;
    assert_eq!(at(AsOf::Sequence(0)), 0);
    assert_eq!(at(AsOf::Sequence(sequences[2])), 300);
    assert_eq!(at(AsOf::Time(start)), 0);
    assert_eq!(at(AsOf::Time(start.plus_micros(2_500_000))), 200);
    assert_eq!(at(AsOf::Time(start.plus_micros(99_000_000))), 500);
    let first = reader.history(&wallet, None, 2).unwrap().unwrap();
    assert_eq!(first.lines.len(), 2);
    assert_eq!(first.lines[1].balances_after.credits_posted, 200);
    assert_eq!(first.lines[0].entry.as_ref().unwrap().id, EntryId(id(1)));
    let second = reader.history(&wallet, first.next_cursor, 2).unwrap().unwrap();
    assert_eq!(second.lines[0].entry.as_ref().unwrap().id, EntryId(id(3)));
    let last = reader.history(&wallet, second.next_cursor, 2).unwrap().unwrap();
    assert_eq!(last.lines.len(), 1);
    assert_eq!(last.next_cursor, None);
    assert!(reader.history(&AccountId(id(0xDEAD)), None, 2).unwrap().is_none());

    // Entries between two sequences, read back from the journal, bounds exclusive then inclusive.
    let mut seen = Vec::new();
    reader
        .for_each_entry_between(sequences[0], sequences[3], |sequence, _, entry| seen.push((sequence, entry.id)))
        .unwrap();
    assert_eq!(
        seen,
        vec![(sequences[1], EntryId(id(2))), (sequences[2], EntryId(id(3))), (sequences[3], EntryId(id(4)))]
    );
    let mut all = 0;
    reader.for_each_entry_between(0, u64::MAX, |_, _, _| all += 1).unwrap();
    assert_eq!(all, 5);
    let mut none = 0;
    reader.for_each_entry_between(sequences[4], u64::MAX, |_, _, _| none += 1).unwrap();
    assert_eq!(none, 0);
}

#[test]
fn state_survives_a_restart_and_verify_passes() {
    let mut harness = Harness::new();
    let wallet = harness.wallet(1, dec!(0));
    let clearing = harness.clearing;
    let revenue = harness.revenue;
    harness.ok(transfer(1, clearing, wallet, dec!(10.00)));
    harness.ok(transfer(2, wallet, revenue, dec!(3.50)));
    let before = harness.ledger().reader().checkpoint();
    harness.reopen();
    let reader = harness.ledger().reader();
    assert_eq!(reader.checkpoint().head_hash, before.head_hash);
    assert_eq!(harness.available(wallet), 650);
    let report = reader.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.head_sequence, before.last_sequence);
    assert_eq!(report.records_checked, before.last_sequence);
    assert!(reader.with_state(|state| state.is_balanced()));
}

#[test]
fn verify_finds_a_flipped_byte_and_names_the_entry() {
    let mut harness = Harness::new();
    let wallet = harness.wallet(1, dec!(0));
    let clearing = harness.clearing;
    for number in 1..=3u128 {
        harness.ok(transfer(number, clearing, wallet, dec!(1.00)));
    }
    let target = harness.ledger().reader().entry(&EntryId(id(2))).unwrap().unwrap().0;
    harness.ledger.take().unwrap().close().unwrap();
    let store = ledger::store::Store::open(harness.directory.path()).unwrap();
    let mut batch = store.batch_holding(target).unwrap().unwrap();
    let offset = (target - batch.first_sequence) as usize;
    // Flip the side of the last posting (the body ends with its side and its one-byte amount),
    // which leaves two debits and no credit.
    let body = &mut batch.records[offset].body;
    let last = body.len() - 2;
    body[last] ^= 0x01;
    store.overwrite_batch_for_tamper_test(batch.first_sequence, &batch.encode()).unwrap();
    drop(store);
    let report = ledger::verify_directory(harness.directory.path(), None).unwrap();
    assert!(!report.ok);
    let error = report.first_error.unwrap();
    assert_eq!(error.kind, ledger::DivergenceKind::HashMismatch);
    assert_eq!(error.sequence, Some(target));
    assert_eq!(error.entry_id, Some(EntryId(id(2))));
    // Opening replays every record with the full rules, so this journal does not open either.
    let reopened = Ledger::open(config(harness.directory.path()), harness.clock.clone());
    assert!(matches!(reopened, Err(ledger::Fault::Corrupt(_))), "{reopened:?}");
}
