//! The writer stages batch K+1 while batch K is being written and flushed (the writer's pipeline,
//! `docs/ARCHITECTURE.md`). Batch K+1 then sees K through K's pending overlay instead of the
//! committed state. These tests queue submissions that depend on each other across batch
//! boundaries and check that the answers, the balances and the journal are exactly what running
//! the same submissions one at a time gives.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ledger::{
    chart, AccountId, AccountSpec, Asset, Command, EntryId, EntrySpec, HoldSpec, Ledger, LedgerConfig, ManualClock,
    PostingSpec, Ticket, Timestamp,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const CLEARING: AccountId = AccountId(Uuid::from_u128(0xC1));
const REVENUE: AccountId = AccountId(Uuid::from_u128(0xE1));
/// Wallets in the scenario; each gets the same chain of dependent commands.
const WALLETS: u128 = 40;
/// Attempts at getting the pipeline to overlap (it depends on the disk's flush time).
const ATTEMPTS_MAX: u32 = 5;

fn open(id: AccountId, code: ledger::ChartCode, no_overdraft: bool) -> Command {
    Command::OpenAccount(AccountSpec { id, code, asset: Asset::Cny, no_overdraft, credit_limit: Decimal::ZERO })
}

fn post(id: u128, from: AccountId, to: AccountId, amount: Decimal, hold: Option<HoldSpec>) -> Command {
    Command::Post(EntrySpec {
        id: EntryId(Uuid::from_u128(id)),
        category: "test".into(),
        memo: String::new(),
        postings: vec![PostingSpec::debit(from, amount), PostingSpec::credit(to, amount)],
        hold,
    })
}

/// Per wallet, a chain where every step needs the one before it: open, fund, hold, capture part
/// of the hold, spend, overspend (refused), resend the funding (a duplicate), reverse the spend,
/// reuse the hold's id with other content (refused), spend again.
fn scenario() -> Vec<Command> {
    let mut commands =
        vec![open(CLEARING, chart::CHANNEL_CLEARING, false), open(REVENUE, chart::GAS_SALES_REVENUE, false)];
    for number in 0..WALLETS {
        let wallet = AccountId(Uuid::from_u128(0xA000 + number));
        let id = |step: u128| 0x1_0000 + number * 100 + step;
        let funding = post(id(1), CLEARING, wallet, dec!(100.00), None);
        let hold = post(id(2), wallet, REVENUE, dec!(30.00), Some(HoldSpec { expires_at: None }));
        commands.extend([
            open(wallet, chart::CUSTOMER_WALLET, true),
            funding.clone(),
            hold,
            Command::Capture {
                id: EntryId(Uuid::from_u128(id(3))),
                hold: EntryId(Uuid::from_u128(id(2))),
                amount: Some(dec!(20.00)),
                memo: String::new(),
            },
            post(id(4), wallet, REVENUE, dec!(50.00), None),
            post(id(5), wallet, REVENUE, dec!(30.01), None),
            funding,
            Command::Reverse {
                id: EntryId(Uuid::from_u128(id(6))),
                reverses: EntryId(Uuid::from_u128(id(4))),
                memo: String::new(),
            },
            post(id(2), wallet, REVENUE, dec!(31.00), Some(HoldSpec { expires_at: None })),
            post(id(7), wallet, REVENUE, dec!(80.00), None),
        ]);
    }
    commands
}

fn open_ledger(directory: &std::path::Path) -> Ledger {
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix_seconds(1_767_225_600)));
    Ledger::open(LedgerConfig::new(directory), clock).unwrap()
}

fn balances(ledger: &Ledger) -> Vec<(AccountId, ledger::Balances)> {
    let mut accounts = vec![CLEARING, REVENUE];
    accounts.extend((0..WALLETS).map(|number| AccountId(Uuid::from_u128(0xA000 + number))));
    accounts.into_iter().map(|id| (id, ledger.reader().account(&id).unwrap().balances)).collect()
}

#[test]
fn dependent_submissions_across_overlapping_batches_answer_as_one_at_a_time() {
    let commands = scenario();

    // The reference: every command on its own, each durable before the next is sent.
    let reference_directory = tempfile::tempdir().unwrap();
    let reference = open_ledger(reference_directory.path());
    let expected: Vec<_> = commands.iter().map(|command| reference.execute(command.clone()).unwrap()).collect();
    let expected_balances = balances(&reference);
    reference.close().unwrap();

    // Sanity of the scenario itself: a wallet ends at 100 - 20 - 50 + 50 - 80 = 0, and the
    // overspend and the id reuse were refused.
    for (_, wallet_balances) in &expected_balances[2..] {
        assert_eq!(wallet_balances.credits_posted, wallet_balances.debits_posted);
        assert_eq!(wallet_balances.debits_pending, 0, "the capture released the rest of the hold");
    }
    assert_eq!(expected.iter().filter(|result| result.is_err()).count(), 2 * WALLETS as usize);

    // The same commands queued in small bursts, so that each burst arrives while the batch
    // before it is being flushed and is staged on that batch's pending overlay.
    for attempt in 1..=ATTEMPTS_MAX {
        let directory = tempfile::tempdir().unwrap();
        let ledger = open_ledger(directory.path());
        let mut tickets: Vec<Ticket> = Vec::new();
        for burst in commands.chunks(7) {
            for command in burst {
                tickets.push(ledger.submit(vec![command.clone()]).unwrap());
            }
            std::thread::sleep(Duration::from_micros(150 * u64::from(attempt)));
        }
        let answers: Vec<_> = tickets.into_iter().map(|ticket| ticket.wait().unwrap().pop().unwrap()).collect();
        for ((command, expected), answer) in commands.iter().zip(&expected).zip(&answers) {
            assert_eq!(answer, expected, "pipelined answer to {command:?}");
        }
        assert_eq!(balances(&ledger), expected_balances);
        let report = ledger.reader().verify().unwrap();
        assert!(report.ok, "verify: {report:?}");
        let overlapped = ledger.reader().metrics().batches_staged_on_pending.load(Ordering::Relaxed);
        ledger.close().unwrap();

        // What was committed is what replays.
        let reopened = open_ledger(directory.path());
        assert_eq!(balances(&reopened), expected_balances);
        reopened.close().unwrap();
        if overlapped > 0 {
            return;
        }
    }
    panic!("no batch was staged while the one before it was flushing in {ATTEMPTS_MAX} attempts");
}
