//! `gaswallet chaos ledger-kill`: kill a ledger writer with SIGKILL under load, reopen, and check that nothing
//! acknowledged was lost and nothing half-written is visible.
//!
//! A child process (`gaswallet chaos crash-child`) opens the ledger and, from several threads,
//! submits linked groups (a top-up and a payment that spends it). It prints `SENT` before each
//! submission and `ACK` once the writer has answered. The parent kills the child at a random moment,
//! reads everything the child printed (the pipe keeps it), reopens the ledger and checks:
//! every acknowledged group is present at the sequence it was acknowledged with; every group is
//! present whole or not at all; resubmitting the unacknowledged groups converges (duplicates or
//! fresh commits, never conflicts); `verify` passes and balances sum to zero.

use anyhow::{bail, Context};
use ledger::{
    chart, AccountId, AccountSpec, Asset, Command, EntryId, EntrySpec, Ledger, LedgerConfig, PostingSpec, SystemClock,
};
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Wallets the child spreads its groups over.
const CRASH_WALLETS: u32 = 64;
/// Threads submitting in the child, so group commits hold several submissions.
const CRASH_CHILD_THREADS: u64 = 8;
/// How long the parent waits for the child to say it is ready.
const CHILD_READY_TIMEOUT: Duration = Duration::from_secs(60);

fn clearing_account() -> AccountId {
    AccountId(Uuid::from_u128(0x6372_6173_6800_0000_0000_0000_0000_00c1))
}

fn revenue_account() -> AccountId {
    AccountId(Uuid::from_u128(0x6372_6173_6800_0000_0000_0000_0000_00e1))
}

fn wallet_account(number: u32) -> AccountId {
    AccountId(Uuid::from_u128(0x6372_6173_6800_0000_0000_0001_0000_0000 | u128::from(number)))
}

/// Identifies one linked group the child submits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKey {
    pub run: u64,
    pub thread: u64,
    pub number: u64,
}

impl GroupKey {
    fn entry_id(self, part: u8) -> EntryId {
        let value = (u128::from(self.run & 0xFFFF) << 112)
            | (u128::from(self.thread & 0xFF) << 104)
            | (u128::from(self.number & 0xFFFF_FFFF_FFFF) << 48)
            | (u128::from(part) << 40)
            | 0x00C0_FFEE;
        EntryId(Uuid::from_u128(value))
    }

    /// The group as a command; the same key always gives the same content, so retries converge.
    pub fn command(self) -> Command {
        let wallet = wallet_account(((self.thread * 7919 + self.number) % u64::from(CRASH_WALLETS)) as u32);
        let amount = Decimal::new(100 + (self.number % 900) as i64, 2);
        let entry = |part: u8, debit: AccountId, credit: AccountId, category: &str| {
            Command::Post(EntrySpec {
                id: self.entry_id(part),
                category: category.to_owned(),
                memo: String::new(),
                postings: vec![PostingSpec::debit(debit, amount), PostingSpec::credit(credit, amount)],
                hold: None,
            })
        };
        Command::Linked(vec![
            entry(0, clearing_account(), wallet, "topup"),
            entry(1, wallet, revenue_account(), "gas_charge"),
        ])
    }
}

fn setup_commands() -> Vec<Command> {
    let mut commands = vec![
        Command::OpenAccount(AccountSpec {
            id: clearing_account(),
            code: chart::CHANNEL_CLEARING,
            asset: Asset::Cny,
            no_overdraft: false,
            credit_limit: Decimal::ZERO,
        }),
        Command::OpenAccount(AccountSpec {
            id: revenue_account(),
            code: chart::GAS_SALES_REVENUE,
            asset: Asset::Cny,
            no_overdraft: false,
            credit_limit: Decimal::ZERO,
        }),
    ];
    commands.extend((0..CRASH_WALLETS).map(|number| {
        Command::OpenAccount(AccountSpec {
            id: wallet_account(number),
            code: chart::CUSTOMER_WALLET,
            asset: Asset::Cny,
            no_overdraft: true,
            credit_limit: Decimal::ZERO,
        })
    }));
    commands
}

/// The child: opens the ledger and submits groups until it is killed.
pub fn run_crash_child(directory: &Path, run: u64) -> anyhow::Result<()> {
    let ledger = Arc::new(Ledger::open(LedgerConfig::new(directory), Arc::new(SystemClock))?);
    for result in ledger.submit(setup_commands())?.wait()? {
        if let Err(rejection) = result {
            bail!("setting up crash accounts: {rejection}");
        }
    }
    let output = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    say(&output, "READY")?;
    let threads: Vec<_> = (0..CRASH_CHILD_THREADS)
        .map(|thread| {
            let ledger = Arc::clone(&ledger);
            let output = Arc::clone(&output);
            std::thread::spawn(move || -> anyhow::Result<()> {
                for number in 0.. {
                    let key = GroupKey { run, thread, number };
                    say(&output, &format!("SENT {run} {thread} {number}"))?;
                    let results = ledger.submit(vec![key.command()])?.wait()?;
                    match results.first() {
                        Some(Ok(outcome)) => {
                            let sequence = outcome.receipt().map_or(0, |receipt| receipt.sequence);
                            say(&output, &format!("ACK {run} {thread} {number} {sequence}"))?;
                        }
                        Some(Err(rejection)) => bail!("group {key:?} was rejected: {rejection}"),
                        None => bail!("no result for group {key:?}"),
                    }
                }
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread.join().map_err(|_| anyhow::anyhow!("a crash child thread panicked"))??;
    }
    Ok(())
}

fn say(output: &std::sync::Mutex<std::io::Stdout>, line: &str) -> anyhow::Result<()> {
    let stdout = output.lock().map_err(|_| anyhow::anyhow!("stdout lock poisoned"))?;
    let mut handle = stdout.lock();
    writeln!(handle, "{line}")?;
    handle.flush()?;
    Ok(())
}

/// What a crash campaign found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CrashReport {
    pub kills: u64,
    pub groups_acknowledged: u64,
    pub groups_unacknowledged: u64,
    pub groups_retried: u64,
    pub acknowledged_lost: u64,
    pub half_written: u64,
    pub verify_failures: u64,
    pub records_in_journal: u64,
}

fn parse_key(parts: &[&str]) -> Option<GroupKey> {
    Some(GroupKey {
        run: parts.first()?.parse().ok()?,
        thread: parts.get(1)?.parse().ok()?,
        number: parts.get(2)?.parse().ok()?,
    })
}

/// Runs `kills` crash cycles with the `gaswallet` binary at `binary` on `directory`.
pub fn run_crash_campaign(binary: &Path, directory: &Path, kills: u64, seed: u64) -> anyhow::Result<CrashReport> {
    let mut random = rand::rngs::StdRng::seed_from_u64(seed);
    let mut report = CrashReport::default();
    for run in 0..kills {
        let mut child = Process::new(binary)
            .args(["chaos", "crash-child", "--data"])
            .arg(directory)
            .args(["--run", &run.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("child stdout")?;
        let (ready_sender, ready_receiver) = std::sync::mpsc::channel();
        let collector = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line == "READY" {
                    let _ = ready_sender.send(());
                }
                lines.push(line);
            }
            lines
        });
        if ready_receiver.recv_timeout(CHILD_READY_TIMEOUT).is_err() {
            let _ = child.kill();
            bail!("the crash child did not become ready (run {run})");
        }
        // Kill at a random moment under load.
        std::thread::sleep(Duration::from_millis(random.gen_range(20..400)));
        child.kill().context("sending SIGKILL")?;
        child.wait()?;
        let lines = collector.join().map_err(|_| anyhow::anyhow!("the output collector panicked"))?;
        report.kills += 1;

        let mut sent: BTreeSet<GroupKey> = BTreeSet::new();
        let mut acknowledged: BTreeMap<GroupKey, u64> = BTreeMap::new();
        for line in &lines {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts.first() {
                Some(&"SENT") => {
                    if let Some(key) = parse_key(&parts[1..]) {
                        sent.insert(key);
                    }
                }
                Some(&"ACK") => {
                    if let (Some(key), Some(sequence)) =
                        (parse_key(&parts[1..]), parts.get(4).and_then(|s| s.parse().ok()))
                    {
                        acknowledged.insert(key, sequence);
                    }
                }
                _ => {}
            }
        }

        let ledger = Ledger::open(LedgerConfig::new(directory), Arc::new(SystemClock))
            .with_context(|| format!("reopening after kill {run}"))?;
        let reader = ledger.reader();
        for (key, sequence) in &acknowledged {
            let first = reader.entry(&key.entry_id(0))?;
            let second = reader.entry(&key.entry_id(1))?;
            let intact = first.as_ref().is_some_and(|(found, _, _)| found == sequence) && second.is_some();
            if !intact {
                report.acknowledged_lost += 1;
                eprintln!("LOST acknowledged group {key:?} (sequence {sequence})");
            }
        }
        report.groups_acknowledged += acknowledged.len() as u64;
        let unacknowledged: Vec<GroupKey> =
            sent.iter().filter(|key| !acknowledged.contains_key(key)).copied().collect();
        report.groups_unacknowledged += unacknowledged.len() as u64;
        for key in &unacknowledged {
            let first = reader.entry(&key.entry_id(0))?.is_some();
            let second = reader.entry(&key.entry_id(1))?.is_some();
            if first != second {
                report.half_written += 1;
                eprintln!("HALF-WRITTEN group {key:?}");
            }
        }
        // The client retries what it never heard back about; retries must converge.
        if !unacknowledged.is_empty() {
            let retried = ledger.submit(unacknowledged.iter().map(|key| key.command()).collect())?.wait()?;
            for (key, result) in unacknowledged.iter().zip(retried) {
                if let Err(rejection) = result {
                    bail!("retrying group {key:?} after kill {run} was rejected: {rejection}");
                }
            }
            report.groups_retried += unacknowledged.len() as u64;
        }
        let verified = reader.verify()?;
        if !verified.ok || !reader.with_state(ledger::state::State::is_balanced) {
            report.verify_failures += 1;
            eprintln!("VERIFY FAILED after kill {run}: {:?}", verified.first_error);
        }
        report.records_in_journal = verified.records_checked;
        ledger.close()?;
        eprintln!(
            "kill {}/{}: {} acknowledged, {} in flight, journal {} records",
            run + 1,
            kills,
            acknowledged.len(),
            unacknowledged.len(),
            verified.records_checked
        );
    }
    Ok(report)
}
