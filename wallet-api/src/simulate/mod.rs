//! `gaswallet simulate`: a whole town driven through the real HTTP API.
//!
//! Embedded mode (the default) opens a fresh service on a hand-moved clock
//! ([`ledger::ManualClock`]), serves it on 127.0.0.1:0 exactly as `gaswallet serve` does, and
//! moves the clock forward an hour at a time, so thirty days play in minutes. With `--target`
//! the same town plays against a running server on real time: the town starts `--days` days in
//! the past (meters installed then, readings back-dated hour by hour), everything else happens
//! now, and finance's nightly batches (settlement, reconciliation, close) are left out because
//! none of the server's days has ended; see `docs/simulate.md`.
//!
//! Layout: [`town`] draws and registers the people, meters and tier tables; [`play`] is the hour
//! loop and the nights; [`statement`] builds the WeChat bills with injected breaks; [`summary`]
//! reads the server's reports and ties them to the simulator's own counts; [`client`] is the HTTP
//! client.

pub mod client;
pub mod play;
pub mod statement;
pub mod summary;
pub mod town;

use anyhow::{bail, Context};
use client::Api;
use indicatif::{ProgressBar, ProgressStyle};
use ledger::{ManualClock, Timestamp};
use rand::SeedableRng;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
pub use summary::{render, Check, Summary};

/// Most customers a run may have.
pub const CUSTOMERS_MAX: u32 = 1_000_000;
/// Most days a run may play.
pub const DAYS_MAX: u32 = 366;

/// Options of `gaswallet simulate`.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    pub customers: u32,
    pub days: u32,
    pub seed: u64,
    /// A running server (`http://host:port`) instead of an embedded one.
    pub target: Option<String>,
    /// The target's admin token (else `GAS_ADMIN_TOKEN`).
    pub admin_token: Option<String>,
    /// Embedded mode: when the town starts (RFC 3339, or a date for 00:00 Beijing time); default
    /// the current hour.
    pub start: Option<String>,
    /// Embedded mode: the data directory (default a fresh temporary one).
    pub data: Option<PathBuf>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Draw a progress bar (only when stderr is a terminal).
    pub progress: bool,
}

/// Runs a simulation and returns its summary (the caller prints it).
pub fn run_simulation(options: &SimulateOptions) -> anyhow::Result<Summary> {
    if options.customers == 0 || options.customers > CUSTOMERS_MAX {
        bail!("--customers must be 1 to {CUSTOMERS_MAX}");
    }
    if options.days == 0 || options.days > DAYS_MAX {
        bail!("--days must be 1 to {DAYS_MAX}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("simulate").build()?;
    match &options.target {
        Some(target) => runtime.block_on(run_against_target(options, target)),
        None => runtime.block_on(run_embedded(options)),
    }
}

fn now_seconds() -> i64 {
    use ledger::Clock as _;
    ledger::SystemClock.now().unix_micros() / 1_000_000
}

/// The town's start: `--start`, else the current hour (floored).
fn start_seconds(start: Option<&str>) -> anyhow::Result<i64> {
    match start {
        None => Ok(now_seconds() / 3600 * 3600),
        Some(text) => {
            if let Some(at) = crate::time::parse_rfc3339(text) {
                return Ok(at.unix_micros() / 1_000_000 / 3600 * 3600);
            }
            let day = settlement::business_day::BusinessDay::parse(text)
                .map_err(|_| anyhow::anyhow!("--start must be RFC 3339 or YYYY-MM-DD, not {text:?}"))?;
            Ok(settlement::business_day::day_bounds_utc(day).0)
        }
    }
}

fn progress_bar(options: &SimulateOptions, hours: u32) -> ProgressBar {
    if !options.progress || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(u64::from(hours));
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} day {msg} [{bar:40}] {pos}/{len} h  {elapsed_precise} (eta {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

async fn run_embedded(options: &SimulateOptions) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let temporary = tempfile::tempdir().context("creating a temporary directory")?;
    let data = options.data.clone().unwrap_or_else(|| temporary.path().join("data"));
    let start = start_seconds(options.start.as_deref())?;
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix_seconds(start)));
    let service_clock: Arc<dyn ledger::Clock> = clock.clone();
    let (service, _) = crate::serve::open_service_with_clock(&data, service_clock).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server =
        tokio::spawn(crate::http::run(listener, crate::http::AppState::new(Arc::clone(&service)), async move {
            let _ = stopped.await;
        }));
    let (admin_token, _) = crate::serve::admin_token(&data)?;
    let api = Api::new(&format!("http://{address}"), admin_token)?;
    let tag = format!("s{}", options.seed);
    let outcome = simulate(options, api, Some(clock), start, tag, None, started).await;
    let _ = stop.send(());
    let served = server.await;
    // Connection tasks let go of the service a moment after the server returns.
    let deadline = Instant::now() + crate::serve::SHUTDOWN_RELEASE_TIMEOUT;
    while Arc::strong_count(&service) > 1 && Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    if let Ok(service) = Arc::try_unwrap(service) {
        tokio::task::spawn_blocking(move || service.close())
            .await?
            .map_err(|fault| anyhow::anyhow!("closing the ledger: {fault}"))?;
    }
    served.context("the server task")?.context("the server")?;
    outcome
}

async fn run_against_target(options: &SimulateOptions, target: &str) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let admin_token = match &options.admin_token {
        Some(token) => token.clone(),
        None => std::env::var(crate::serve::ADMIN_TOKEN_ENV)
            .map_err(|_| anyhow::anyhow!("--target needs --admin-token or {}", crate::serve::ADMIN_TOKEN_ENV))?,
    };
    let api = Api::new(target, admin_token.trim().to_owned())?;
    let run_started = now_seconds();
    // Back-dated: the last hour played ends at or before now, so no reading is in the future.
    let start = (run_started - i64::from(options.days) * 86_400) / 3600 * 3600;
    let tag = format!("s{}t{}", options.seed, run_started);
    // A second before the run: the reports' period starts before anything the run posts.
    let from = crate::time::format_rfc3339(Timestamp::from_unix_seconds(run_started - 1));
    simulate(options, api, None, start, tag, Some(from), started).await
}

async fn simulate(
    options: &SimulateOptions,
    api: Api,
    clock: Option<Arc<ManualClock>>,
    start: i64,
    tag: String,
    from: Option<String>,
    started: Instant,
) -> anyhow::Result<Summary> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(options.seed);
    let hours = options.days * 24;
    let start_date = town::beijing(start)?.date();
    let tariffs = [
        town::TierTable::from_json(&api.get_ok("/v1/tariffs/residential", &api.admin_token).await?, start_date)?,
        town::TierTable::from_json(
            &api.get_ok("/v1/tariffs/residential-heating", &api.admin_token).await?,
            start_date,
        )?,
    ];
    let people = town::draw_customers(&mut rng, options.customers as usize);
    let installed_at = crate::time::format_rfc3339(Timestamp::from_unix_seconds(start));
    eprintln!("registering a town of {} customers ...", options.customers);
    let town = town::register(&api, &mut rng, options.seed, &tag, people, &installed_at, options.concurrency).await?;
    let progress = progress_bar(options, hours);
    let mut sim = play::Sim::new(api, rng, tag, options.concurrency, clock, start, hours, town, tariffs, progress)?;
    let playing = Instant::now();
    sim.play().await?;
    let play_s = playing.elapsed().as_secs_f64();
    sim.progress.finish_and_clear();
    sim.wind_down().await?;
    let mut summary = summary::summarise(&sim, from).await?;
    summary.elapsed_s = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    summary.play_s = (play_s * 10.0).round() / 10.0;
    summary.readings_per_s = if play_s > 0.0 { (sim.tally.readings_accepted as f64 / play_s).round() } else { 0.0 };
    Ok(summary)
}
