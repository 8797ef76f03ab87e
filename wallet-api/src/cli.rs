//! The `gaswallet` command line: subcommands, their options and help texts.

use crate::bench::{run_ledger_bench, LedgerBenchOptions};
use crate::bench_http::{run_http_bench, HttpBenchOptions};
use crate::bench_readings::{run_readings_bench, ReadingsBenchOptions};
use crate::chaos::{run_crash_campaign, run_crash_child};
use crate::data_dir::{ledger_directory, DATA_DIRECTORY_DEFAULT};
use crate::huge_pages::HugePages;
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// gaswallet: the gas wallet and payment ledger engine of a town gas utility.
///
/// Prepaid customer wallets on a double-entry ledger, automatic payment from smart-meter
/// readings, partner-merchant payments, technician settlement and channel reconciliation.
#[derive(Debug, Parser)]
#[command(name = "gaswallet", version, about, long_about)]
pub struct Cli {
    /// Transparent huge pages for this process. `on` (the kernel's and allocator's default) makes
    /// bulk work over large tables faster (billing, readings); `off` avoids the pauses of the
    /// kernel zeroing 2 MiB pages on the commit path, for steadier payment latency. See
    /// docs/benchmarks.md.
    #[arg(long, global = true, value_enum, default_value_t = HugePages::On)]
    pub huge_pages: HugePages,
    #[command(subcommand)]
    pub command: Subcommands,
}

#[derive(Debug, Subcommand)]
pub enum Subcommands {
    /// Run the HTTP service on an embedded store. On first start it creates the admin token in
    /// DATA/admin.token (mode 0600) unless GAS_ADMIN_TOKEN is set. Stops cleanly on SIGTERM or
    /// Ctrl-C: in-flight requests finish and the journal is flushed.
    Serve(ServeArgs),
    /// Check the journal: recompute every record's hash, every checkpoint signature and every
    /// balance from the journal alone, and report the first place where anything disagrees.
    ///
    /// Run it on a stopped service's data directory (or a copy). Exit status 0: the journal is
    /// intact; 2: a divergence was found (the report names the record and entry); 1: it could not
    /// be read at all.
    Verify(VerifyArgs),
    /// Recompute every customer's credit profile and apply the credit limits the grades grant (a
    /// recorded ledger change per wallet whose limit moves; `score_changed` events when a grade
    /// moves). Run it on a stopped service's data directory; a running server does the same with
    /// `POST /v1/jobs/score`. Prints a progress bar, then one JSON summary line.
    Score(ScoreArgs),
    /// Play a whole town through the real HTTP API: customers with meters reporting every hour,
    /// top-ups, merchant payments and refunds, service orders, nightly settlement, reconciliation
    /// with injected breaks and daily closes; then a summary whose numbers must tie out (exit 2 if
    /// any does not). The last line printed is one JSON object.
    Simulate(SimulateArgs),
    /// Measure throughput and latency through the real writer and store (release builds only give
    /// meaningful numbers). The last line printed is one JSON object.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Fault injection: kill the ledger writer or the whole server under load, overload it, fuzz it,
    /// and check that nothing acknowledged is lost and no bad input gets a 5xx.
    #[command(subcommand)]
    Chaos(ChaosCommand),
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Households in town (each with a smart meter and a wallet).
    #[arg(long, default_value_t = 1000)]
    pub customers: u32,
    /// Days to play (24 hourly readings per meter per day).
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Seed of every choice: the same seed gives the same numbers.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Drive a running server (http://host:port, real time) instead of an embedded one.
    #[arg(long)]
    pub target: Option<String>,
    /// The target's admin token (default: the GAS_ADMIN_TOKEN environment variable).
    #[arg(long)]
    pub admin_token: Option<String>,
    /// Embedded mode: when the town starts, RFC 3339 or YYYY-MM-DD (00:00 Beijing); default now.
    #[arg(long)]
    pub start: Option<String>,
    /// Embedded mode: the data directory to run on (default: a fresh temporary one).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// The service's data directory.
    #[arg(long, default_value = DATA_DIRECTORY_DEFAULT)]
    pub data: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Data directory (created if missing).
    #[arg(long, default_value = DATA_DIRECTORY_DEFAULT)]
    pub data: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Worker threads of the HTTP runtime (0: two per core).
    #[arg(long, default_value_t = 0)]
    pub worker_threads: usize,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The service's data directory (the ledger is in its `ledger/` folder).
    #[arg(long, default_value = DATA_DIRECTORY_DEFAULT)]
    pub data: PathBuf,
    /// The engine's public key (64 hex characters) you trust; by default the key recorded in the
    /// journal's own metadata is used, which proves integrity but not origin.
    #[arg(long)]
    pub public_key: Option<String>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Durable two-posting transfers between accounts, through the group-commit writer.
    Ledger(LedgerBenchArgs),
    /// Single merchant payments (one per request, each with its own payment code and
    /// Idempotency-Key) through the real HTTP server on loopback, from many keep-alive connections.
    Http(HttpBenchArgs),
    /// Signed meter readings in concentrator batches (POST /v1/meter-readings) through the real
    /// HTTP server, verified and charged; compared with bare ed25519 verification of the same
    /// signatures.
    Readings(ReadingsBenchArgs),
    /// A monthly billing run over many meters through the real service (bills for empty wallets:
    /// arrears and valve decisions included). The last line is one JSON object.
    Billing(BillingBenchArgs),
    /// A bulk recompute of credit profiles over synthetic customers (features, scorecard, reasons,
    /// credit limits) on every core. The last line is one JSON object.
    Scoring(ScoringBenchArgs),
}

#[derive(Debug, Args)]
pub struct ScoringBenchArgs {
    /// Customers to score.
    #[arg(long, default_value_t = 1_000_000)]
    pub customers: usize,
    /// Seed of the synthetic customers.
    #[arg(long, default_value_t = 20250101)]
    pub seed: u64,
    /// Scoring threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Debug, Args)]
pub struct BillingBenchArgs {
    /// Meters (one per monthly customer, one reading each) to bill.
    #[arg(long, default_value_t = 1_000_000)]
    pub meters: usize,
    /// Run on this directory instead of a fresh temporary one (it must be empty).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LedgerBenchArgs {
    /// Accounts to open before the run.
    #[arg(long, default_value_t = 100_000)]
    pub accounts: u32,
    /// Transfers to commit.
    #[arg(long, default_value_t = 1_000_000)]
    pub transfers: u64,
    /// Credit every transfer to one account (the hot gas revenue account).
    #[arg(long)]
    pub hot: bool,
    /// Transfers per client request.
    #[arg(long, default_value_t = 8190)]
    pub batch: usize,
    /// Client threads submitting requests.
    #[arg(long, default_value_t = 2)]
    pub clients: usize,
    /// Requests each client keeps in flight.
    #[arg(long, default_value_t = 4)]
    pub in_flight: usize,
    /// Most commands the writer commits with one flush.
    #[arg(long, default_value_t = ledger::ledger::BATCH_COMMANDS_MAX_DEFAULT)]
    pub commit_batch_max: usize,
    /// Seed for account choice and amounts.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Run on this directory instead of a fresh temporary one (it must be empty).
    #[arg(long)]
    pub directory: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HttpBenchArgs {
    /// Payments to make (only these requests are timed).
    #[arg(long, default_value_t = 200_000)]
    pub payments: u64,
    /// Concurrent clients, each with its own keep-alive HTTP/1.1 connection.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Customers with a funded wallet; payment i is made from wallet i mod this.
    #[arg(long, default_value_t = 1000)]
    pub wallets: u32,
    /// Merchants taking the payments.
    #[arg(long, default_value_t = 10)]
    pub merchants: u32,
    /// Payments per round: a round's payment codes (valid 60 s) are issued, untimed, just before
    /// it is paid.
    #[arg(long, default_value_t = 50_000)]
    pub round: u64,
    /// Worker threads of the server's runtime (0: as `serve` has them, two per core).
    #[arg(long, default_value_t = 0)]
    pub server_threads: usize,
    /// Worker threads of a separate client runtime (0: clients share the server's runtime). One
    /// measured fastest on 2 cores (see docs/benchmarks.md).
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
    /// Offered load in payments per second (open loop: payment i is due at i / rate seconds and
    /// its latency counts from then, so a late start is charged to the server). 0: closed loop,
    /// each connection sends its next payment as soon as the previous answer is read.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Seed for the payment amounts.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Data directory to run on instead of a fresh temporary one (it should be empty).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReadingsBenchArgs {
    /// Meters, each with its own ed25519 key (derived from --seed and its index).
    #[arg(long, default_value_t = 100_000)]
    pub meters: u32,
    /// Readings to post (only these requests are timed); meter i mod --meters takes reading i.
    #[arg(long, default_value_t = 1_000_000)]
    pub readings: u64,
    /// Readings per request (1 to 1000); one reading per meter per request.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Concurrent keep-alive HTTP/1.1 connections posting batches.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Meters per customer (more serializes more work under one customer lock).
    #[arg(long, default_value_t = 1)]
    pub meters_per_customer: u32,
    /// Connections for the untimed setup requests (customers, top-ups, meters).
    #[arg(long, default_value_t = 128)]
    pub setup_concurrency: usize,
    /// Signatures verified bare for verify_only_per_sec (0: all readings).
    #[arg(long, default_value_t = 200_000)]
    pub verify_pairs: u64,
    /// Worker threads of the server's runtime (0: as `serve` has them, two per core).
    #[arg(long, default_value_t = 0)]
    pub server_threads: usize,
    /// Worker threads of a separate client runtime (0: clients share the server's runtime).
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
    /// Seed for the meter keys and the volumes.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Data directory to run on instead of a fresh temporary one (it should be empty).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ChaosCommand {
    /// SIGKILL a ledger writer process at random moments under load, many times; after each kill
    /// reopen and check every acknowledged entry, atomicity of linked groups, retries and verify.
    LedgerKill(LedgerKillArgs),
    /// The process the harness kills (internal).
    #[command(hide = true)]
    CrashChild(CrashChildArgs),
    /// SIGKILL the real server (`gaswallet serve`) at random moments under concurrent top-ups,
    /// payments and signed readings; restart it, retry what was not acknowledged with the same
    /// Idempotency-Keys, and check every acknowledged operation, every balance, verify and the
    /// trial balance. Prints one JSON report; exit status 2 if anything was lost.
    ServerKill(ServerKillArgs),
    /// Far more concurrent requests than the server's limits: count 2xx / 429 / 503, measure the
    /// latency of accepted requests and the server's memory, then check nothing was lost.
    Overload(OverloadArgs),
    /// Requests generated from the server's own OpenAPI document (random fields, types, sizes,
    /// other principals' ids and tokens of every role) for a bounded time, against oracles: no
    /// 5xx, every 4xx a problem document with a code, no principal sees another's ids.
    Fuzz(FuzzArgs),
    /// Flip one byte of one stored journal record (default: the last money entry) of a STOPPED
    /// server's data directory, or a copy, so that `gaswallet verify` can be seen finding it. This
    /// damages the journal on purpose.
    Tamper(TamperArgs),
}

#[derive(Debug, Args)]
pub struct TamperArgs {
    /// The (stopped) service's data directory.
    #[arg(long)]
    pub data: PathBuf,
    /// The record to damage (default: the journal's last money entry).
    #[arg(long)]
    pub sequence: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ServerKillArgs {
    /// How many times to kill the server.
    #[arg(long, default_value_t = 30)]
    pub kills: u64,
    /// Seed for the workload and the moments of the kills.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Customers, each driven by its own concurrent client task.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Longest load before a kill, in milliseconds (each kill comes uniformly between 50 ms and this).
    #[arg(long, default_value_t = 1500)]
    pub load_ms_max: u64,
    /// Data directory to use (default: a fresh temporary one).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct OverloadArgs {
    /// How long to keep the flood going, in seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Concurrent client requests as a multiple of the server's `CONCURRENT_REQUESTS_MAX`.
    #[arg(long, default_value_t = 4)]
    pub factor: usize,
    /// Seed for the workload.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct FuzzArgs {
    /// How long to fuzz, in seconds.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Seed for the generated requests (a failing run replays with the same seed).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Concurrent fuzzing clients.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
}

#[derive(Debug, Args)]
pub struct LedgerKillArgs {
    /// How many times to kill the writer.
    #[arg(long, default_value_t = 20)]
    pub kills: u64,
    /// Seed for the moments of the kills.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Ledger directory to use (default: a fresh temporary one).
    #[arg(long)]
    pub directory: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CrashChildArgs {
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long)]
    pub run: u64,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    crate::huge_pages::apply(cli.huge_pages).context("setting --huge-pages")?;
    match cli.command {
        Subcommands::Serve(arguments) => {
            init_logging();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(crate::serve::worker_threads(arguments.worker_threads))
                .enable_all()
                .build()?;
            runtime.block_on(crate::serve::serve(arguments.data, arguments.listen))?;
            Ok(ExitCode::SUCCESS)
        }
        Subcommands::Verify(arguments) => verify(&arguments),
        Subcommands::Simulate(arguments) => {
            let summary = crate::simulate::run_simulation(&crate::simulate::SimulateOptions {
                customers: arguments.customers,
                days: arguments.days,
                seed: arguments.seed,
                target: arguments.target,
                admin_token: arguments.admin_token,
                start: arguments.start,
                data: arguments.data,
                concurrency: arguments.concurrency,
                progress: !arguments.quiet,
            })?;
            print!("{}", crate::simulate::render(&summary));
            println!("{}", serde_json::to_string(&summary)?);
            Ok(if summary.all_tie_out { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
        Subcommands::Score(arguments) => {
            init_logging();
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let summary = runtime.block_on(crate::score::rescore_directory(&arguments.data))?;
            println!("{}", serde_json::to_string(&summary)?);
            Ok(if summary.failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
        Subcommands::Bench(BenchCommand::Scoring(arguments)) => {
            let result = crate::bench_scoring::run_scoring_bench(&crate::bench_scoring::ScoringBenchOptions {
                customers: arguments.customers,
                seed: arguments.seed,
                threads: arguments.threads,
            })?;
            println!("{}", serde_json::to_string(&result)?);
            Ok(if result.failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
        Subcommands::Bench(BenchCommand::Ledger(arguments)) => {
            let result = run_ledger_bench(&LedgerBenchOptions {
                accounts: arguments.accounts,
                transfers: arguments.transfers,
                hot: arguments.hot,
                batch: arguments.batch,
                clients: arguments.clients,
                in_flight: arguments.in_flight,
                commit_batch_max: arguments.commit_batch_max,
                seed: arguments.seed,
                directory: arguments.directory,
            })?;
            println!("{}", serde_json::to_string(&result)?);
            Ok(ExitCode::SUCCESS)
        }
        Subcommands::Bench(BenchCommand::Http(arguments)) => {
            let result = run_http_bench(&HttpBenchOptions {
                payments: arguments.payments,
                concurrency: arguments.concurrency,
                wallets: arguments.wallets,
                merchants: arguments.merchants,
                round: arguments.round,
                server_threads: arguments.server_threads,
                client_threads: arguments.client_threads,
                rate: arguments.rate,
                seed: arguments.seed,
                data: arguments.data,
            })?;
            println!("{}", serde_json::to_string(&result)?);
            Ok(if result.errors == 0 { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
        Subcommands::Bench(BenchCommand::Billing(arguments)) => {
            let result = crate::bench_billing::run_billing_bench(&crate::bench_billing::BillingBenchOptions {
                meters: arguments.meters,
                data: arguments.data,
            })?;
            println!("{}", serde_json::to_string(&result)?);
            Ok(ExitCode::SUCCESS)
        }
        Subcommands::Bench(BenchCommand::Readings(arguments)) => {
            let result = run_readings_bench(&ReadingsBenchOptions {
                meters: arguments.meters,
                readings: arguments.readings,
                batch: arguments.batch,
                concurrency: arguments.concurrency,
                meters_per_customer: arguments.meters_per_customer,
                setup_concurrency: arguments.setup_concurrency,
                verify_pairs: arguments.verify_pairs,
                server_threads: arguments.server_threads,
                client_threads: arguments.client_threads,
                seed: arguments.seed,
                data: arguments.data,
            })?;
            println!("{}", serde_json::to_string(&result)?);
            Ok(if result.errors == 0 { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
        Subcommands::Chaos(ChaosCommand::LedgerKill(arguments)) => {
            let temporary = tempfile::tempdir()?;
            let directory = arguments.directory.unwrap_or_else(|| temporary.path().join("ledger"));
            let binary = std::env::current_exe().context("finding the gaswallet binary")?;
            let report = run_crash_campaign(&binary, &directory, arguments.kills, arguments.seed)?;
            println!("{}", serde_json::to_string(&report)?);
            let clean = report.acknowledged_lost == 0 && report.half_written == 0 && report.verify_failures == 0;
            Ok(if clean { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
        Subcommands::Chaos(ChaosCommand::CrashChild(arguments)) => {
            run_crash_child(&arguments.data, arguments.run)?;
            Ok(ExitCode::SUCCESS)
        }
        Subcommands::Chaos(ChaosCommand::ServerKill(arguments)) => {
            let binary = std::env::current_exe().context("finding the gaswallet binary")?;
            let report = crate::chaos::server_kill::run_server_kill(
                &binary,
                &crate::chaos::server_kill::ServerKillOptions {
                    kills: arguments.kills,
                    seed: arguments.seed,
                    clients: arguments.clients,
                    load_ms_max: arguments.load_ms_max,
                    data: arguments.data,
                },
            )?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(if report.clean() { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
        Subcommands::Chaos(ChaosCommand::Overload(arguments)) => {
            let binary = std::env::current_exe().context("finding the gaswallet binary")?;
            let report = crate::chaos::overload::run_overload(
                &binary,
                &crate::chaos::overload::OverloadOptions {
                    seconds: arguments.seconds,
                    factor: arguments.factor,
                    seed: arguments.seed,
                    thresholds: crate::chaos::overload::Thresholds::default(),
                },
            )?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(if report.clean() { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
        Subcommands::Chaos(ChaosCommand::Tamper(arguments)) => {
            let tampered = crate::chaos::tamper::tamper(&arguments.data, arguments.sequence)?;
            println!("{}", serde_json::to_string(&tampered)?);
            Ok(ExitCode::SUCCESS)
        }
        Subcommands::Chaos(ChaosCommand::Fuzz(arguments)) => {
            let binary = std::env::current_exe().context("finding the gaswallet binary")?;
            let report = crate::chaos::fuzz::run_fuzz(
                &binary,
                &crate::chaos::fuzz::FuzzOptions {
                    seconds: arguments.seconds,
                    seed: arguments.seed,
                    clients: arguments.clients,
                },
            )?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(if report.clean() { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
    }
}

fn verify(arguments: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let public_key = match &arguments.public_key {
        None => None,
        Some(text) => {
            let bytes = hex::decode(text.trim()).context("--public-key must be hex")?;
            Some(
                <[u8; 32]>::try_from(bytes.as_slice())
                    .map_err(|_| anyhow::anyhow!("--public-key must be 32 bytes (64 hex characters)"))?,
            )
        }
    };
    let directory = ledger_directory(&arguments.data);
    if !directory.exists() {
        anyhow::bail!("no ledger at {} (is --data the service's data directory?)", directory.display());
    }
    let report = ledger::verify_directory(&directory, public_key)
        .with_context(|| format!("reading the journal in {}", directory.display()))?;
    let first_error = report.first_error.as_ref().map(|error| {
        serde_json::json!({
            "kind": error.kind.as_str(),
            "sequence": error.sequence,
            "batch": error.batch,
            "entry_id": error.entry_id.map(|id| id.to_string()),
            "detail": error.detail,
        })
    });
    if arguments.json {
        let json = serde_json::json!({
            "ok": report.ok,
            "entries_checked": report.records_checked,
            "batches_checked": report.batches_checked,
            "accounts_checked": report.accounts_checked,
            "head_sequence": report.head_sequence,
            "head_hash": hex::encode(report.head_hash),
            "first_error": first_error,
        });
        println!("{json}");
    } else {
        println!("journal:   {}", directory.display());
        println!("records:   {} in {} batches", report.records_checked, report.batches_checked);
        println!("accounts:  {}", report.accounts_checked);
        println!("head:      sequence {} hash {}", report.head_sequence, hex::encode(report.head_hash));
        match &report.first_error {
            None => println!("result:    OK: hash chain, checkpoint signatures and balances all agree"),
            Some(error) => {
                println!("result:    DIVERGENCE ({})", error.kind.as_str());
                if let Some(sequence) = error.sequence {
                    println!("record:    {sequence}");
                }
                if let Some(entry) = error.entry_id {
                    println!("entry:     {entry}");
                }
                println!("detail:    {}", error.detail);
            }
        }
    }
    Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// Structured logs on stderr; `RUST_LOG` picks the level (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
