//! Benchmarks through the real code paths (never timed unit tests).
//!
//! `gaswallet bench ledger` opens a ledger on a temporary directory, opens the accounts, then
//! drives durable two-posting transfers through the writer from client threads that keep several
//! requests in flight, and reports throughput and commit latency. Its last line is one JSON object.

use anyhow::{bail, Context};
use ledger::{
    chart, AccountId, AccountSpec, Asset, Command, EntryId, EntrySpec, Ledger, LedgerConfig, PostingSpec, SystemClock,
    Ticket,
};
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

/// Options of `gaswallet bench ledger`.
#[derive(Debug, Clone)]
pub struct LedgerBenchOptions {
    pub accounts: u32,
    pub transfers: u64,
    /// Every transfer credits one account (the gas revenue account is hot in real life).
    pub hot: bool,
    /// Transfers per client request.
    pub batch: usize,
    /// Client threads.
    pub clients: usize,
    /// Requests each client keeps in flight.
    pub in_flight: usize,
    /// Most commands the writer puts in one group commit.
    pub commit_batch_max: usize,
    pub seed: u64,
    /// Where to put the ledger; a fresh temporary directory when `None`.
    pub directory: Option<std::path::PathBuf>,
}

/// The result, printed as the last line.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerBenchResult {
    pub transfers_per_sec: f64,
    pub p50_commit_ms: f64,
    pub p99_commit_ms: f64,
    pub max_commit_ms: f64,
    pub entries: u64,
    pub rejected: u64,
    pub accounts: u32,
    pub hot: bool,
    pub batch: usize,
    pub clients: usize,
    pub in_flight: usize,
    pub group_commits: u64,
    pub mean_commands_per_commit: f64,
    pub flush_share: f64,
    pub elapsed_s: f64,
    pub reopen_ms: f64,
}

/// Deterministic account ids for the benchmark.
fn bench_account_id(number: u32) -> AccountId {
    AccountId(Uuid::from_u128(0x6265_6e63_6800_0000_0000_0000_0000_0000 | u128::from(number)))
}

pub fn run_ledger_bench(options: &LedgerBenchOptions) -> anyhow::Result<LedgerBenchResult> {
    if options.accounts < 2 {
        bail!("--accounts must be at least 2");
    }
    if options.batch == 0 || options.clients == 0 || options.in_flight == 0 {
        bail!("--batch, --clients and --in-flight must be at least 1");
    }
    let temporary = tempfile::tempdir().context("creating a temporary directory")?;
    let directory = options.directory.clone().unwrap_or_else(|| temporary.path().join("ledger"));
    let mut config = LedgerConfig::new(&directory);
    config.batch_commands_max = options.commit_batch_max;
    let ledger = Arc::new(Ledger::open(config.clone(), Arc::new(SystemClock))?);

    eprintln!("opening {} accounts ...", options.accounts);
    let specs: Vec<Command> = (0..options.accounts)
        .map(|number| {
            // Account 0 is the hot revenue account; the rest are wallets with a generous credit
            // limit, so the overdraft check runs on every posting without rejecting transfers.
            let (code, no_overdraft, credit_limit) = if number == 0 {
                (chart::GAS_SALES_REVENUE, false, Decimal::ZERO)
            } else {
                (chart::CUSTOMER_WALLET, true, Decimal::new(1_000_000_000, 2))
            };
            Command::OpenAccount(AccountSpec {
                id: bench_account_id(number),
                code,
                asset: Asset::Cny,
                no_overdraft,
                credit_limit,
            })
        })
        .collect();
    for chunk in specs.chunks(8190) {
        for result in ledger.submit(chunk.to_vec())?.wait()? {
            if let Err(rejection) = result {
                bail!("opening a benchmark account was rejected: {rejection}");
            }
        }
    }

    let metrics_before = (
        ledger.reader().metrics().batches_committed.load(std::sync::atomic::Ordering::Relaxed),
        ledger.reader().metrics().commands_processed.load(std::sync::atomic::Ordering::Relaxed),
        ledger.reader().metrics().flush_micros_total.load(std::sync::atomic::Ordering::Relaxed),
    );
    eprintln!(
        "running {} transfers (hot: {}, batch {}, clients {} x {} in flight) ...",
        options.transfers, options.hot, options.batch, options.clients, options.in_flight
    );
    let started = Instant::now();
    let per_client = options.transfers / options.clients as u64;
    let remainder = options.transfers % options.clients as u64;
    let mut handles = Vec::new();
    for client in 0..options.clients {
        let ledger = Arc::clone(&ledger);
        let options = options.clone();
        let count = per_client + u64::from((client as u64) < remainder);
        handles.push(std::thread::spawn(move || run_client(&ledger, &options, client as u64, count)));
    }
    let mut histogram = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut entries = 0u64;
    let mut rejected = 0u64;
    for handle in handles {
        let outcome = handle.join().map_err(|_| anyhow::anyhow!("a benchmark client panicked"))??;
        histogram.add(&outcome.latencies_micros)?;
        entries += outcome.accepted;
        rejected += outcome.rejected;
    }
    let elapsed = started.elapsed();
    let reader = ledger.reader();
    let metrics = reader.metrics();
    let group_commits = metrics.batches_committed.load(std::sync::atomic::Ordering::Relaxed) - metrics_before.0;
    let commands = metrics.commands_processed.load(std::sync::atomic::Ordering::Relaxed) - metrics_before.1;
    let flush_micros = metrics.flush_micros_total.load(std::sync::atomic::Ordering::Relaxed) - metrics_before.2;
    drop(reader);
    let ledger = Arc::try_unwrap(ledger).map_err(|_| anyhow::anyhow!("benchmark clients still hold the ledger"))?;
    ledger.close()?;
    let reopen_started = Instant::now();
    let reopened = Ledger::open(config, Arc::new(SystemClock))?;
    let reopen_ms = reopen_started.elapsed().as_secs_f64() * 1000.0;
    reopened.close()?;

    let seconds = elapsed.as_secs_f64();
    Ok(LedgerBenchResult {
        transfers_per_sec: round2(entries as f64 / seconds),
        p50_commit_ms: round2(histogram.value_at_quantile(0.50) as f64 / 1000.0),
        p99_commit_ms: round2(histogram.value_at_quantile(0.99) as f64 / 1000.0),
        max_commit_ms: round2(histogram.max() as f64 / 1000.0),
        entries,
        rejected,
        accounts: options.accounts,
        hot: options.hot,
        batch: options.batch,
        clients: options.clients,
        in_flight: options.in_flight,
        group_commits,
        mean_commands_per_commit: if group_commits == 0 { 0.0 } else { round2(commands as f64 / group_commits as f64) },
        flush_share: round2(flush_micros as f64 / 1e6 / seconds),
        elapsed_s: round2(seconds),
        reopen_ms: round2(reopen_ms),
    })
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

struct ClientOutcome {
    latencies_micros: hdrhistogram::Histogram<u64>,
    accepted: u64,
    rejected: u64,
}

fn run_client(ledger: &Ledger, options: &LedgerBenchOptions, client: u64, count: u64) -> anyhow::Result<ClientOutcome> {
    let mut random = rand::rngs::StdRng::seed_from_u64(options.seed ^ (client.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    let mut latencies = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut in_flight: VecDeque<(Instant, Ticket)> = VecDeque::with_capacity(options.in_flight);
    let mut outcome = ClientOutcome { latencies_micros: hdrhistogram::Histogram::new(3)?, accepted: 0, rejected: 0 };
    let mut sent = 0u64;
    let mut finish = |started: Instant, ticket: Ticket, outcome: &mut ClientOutcome| -> anyhow::Result<()> {
        let results = ticket.wait()?;
        latencies.record((started.elapsed().as_micros() as u64).max(1))?;
        for result in results {
            match result {
                Ok(_) => outcome.accepted += 1,
                Err(_) => outcome.rejected += 1,
            }
        }
        Ok(())
    };
    while sent < count {
        let size = (count - sent).min(options.batch as u64) as usize;
        let commands: Vec<Command> = (0..size)
            .map(|_| {
                let debit = random.gen_range(1..options.accounts);
                let credit = if options.hot {
                    0
                } else {
                    let mut credit = random.gen_range(1..options.accounts);
                    if credit == debit {
                        credit = if credit + 1 < options.accounts { credit + 1 } else { 1 };
                    }
                    credit
                };
                let amount = Decimal::new(random.gen_range(1..100_000), 2);
                Command::Post(EntrySpec {
                    id: EntryId(Uuid::from_u128(random.gen::<u128>() | 1)),
                    category: "transfer".to_owned(),
                    memo: String::new(),
                    postings: vec![
                        PostingSpec::debit(bench_account_id(debit), amount),
                        PostingSpec::credit(bench_account_id(credit), amount),
                    ],
                    hold: None,
                })
            })
            .collect();
        sent += size as u64;
        if in_flight.len() >= options.in_flight {
            if let Some((started, ticket)) = in_flight.pop_front() {
                finish(started, ticket, &mut outcome)?;
            }
        }
        in_flight.push_back((Instant::now(), ledger.submit(commands)?));
    }
    while let Some((started, ticket)) = in_flight.pop_front() {
        finish(started, ticket, &mut outcome)?;
    }
    outcome.latencies_micros = latencies;
    Ok(outcome)
}
