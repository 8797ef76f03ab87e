//! `gaswallet chaos overload`: far more concurrent requests than the server's limits.
//!
//! Starts `gaswallet serve` with its normal limits ([`CONCURRENT_REQUESTS_MAX`] requests in
//! flight, [`CONNECTIONS_MAX`] connections), sets up customers and merchants, then runs
//! `factor × CONCURRENT_REQUESTS_MAX` client tasks at once for `seconds`: each loops over a wallet
//! read, a top-up (admin, Idempotency-Key) and a payment (a payment code, then the merchant's
//! charge with an Idempotency-Key). Measured: answers by status, the latency of accepted (2xx)
//! requests, the server's RSS before, at its peak during the flood and after. Afterwards every
//! money request that got no answer or a 5xx is retried with its key until it converges, and the
//! loss checks of `server-kill` run: acknowledged top-ups on the statement, acknowledged payments
//! found, each balance equal to the acknowledged operations, verify ok, trial balance balanced.
//!
//! Asserted with generous named [`Thresholds`]: accepted p99 under the server's own request
//! timeout, peak RSS under 1 GiB, nothing lost, no answer other than 2xx, 429 or 503.

use super::harness::{cny, new_admin_token, set_up_parties, Api, Parties, ServerProcess};
use super::server_kill::{
    classify, retry_until_answered, send, wallet_effect_fen, Kind, Operation, Outcome, FUNDING_CNY, FUNDING_FEN,
};
use crate::http::listener::CONNECTIONS_MAX;
use crate::http::{CONCURRENT_REQUESTS_MAX, REQUEST_TIMEOUT};
use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Customers whose wallets the flood reads, tops up and charges.
const OVERLOAD_CUSTOMERS: usize = 16;
/// Merchants taking the payments.
const OVERLOAD_MERCHANTS: usize = 4;
/// How often the server's RSS is sampled during the flood.
const RSS_SAMPLE_INTERVAL: Duration = Duration::from_millis(100);
/// How long a flood request may wait for its answer. The server answers every request it has
/// accepted within its `REQUEST_TIMEOUT` (10 s), so a request unanswered past this margin was
/// still waiting for the server to accept its connection: shed at the connection level.
const FLOOD_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Retries and payment look-ups in flight at once during the loss check.
const PAYMENT_CHECKS_AT_ONCE: usize = 32;
/// How long the server is left alone after the flood before the "after" RSS is read.
const SETTLE_AFTER_FLOOD: Duration = Duration::from_secs(1);

/// The bounds the experiment asserts. Generous on purpose: they must hold for a debug build on a
/// busy 2-core machine, and what they guard against is unbounded growth, not a benchmark figure.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Thresholds {
    /// p99 latency of accepted requests: the server's own request timeout (past it, it answers 503).
    pub accepted_p99_ms_max: u64,
    /// Peak resident memory of the server during the flood.
    pub rss_peak_mib_max: u64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds { accepted_p99_ms_max: REQUEST_TIMEOUT.as_millis() as u64, rss_peak_mib_max: 1024 }
    }
}

/// Options of `gaswallet chaos overload`.
#[derive(Debug, Clone)]
pub struct OverloadOptions {
    pub seconds: u64,
    /// Client tasks as a multiple of `CONCURRENT_REQUESTS_MAX`.
    pub factor: usize,
    pub seed: u64,
    pub thresholds: Thresholds,
}

/// What the flood measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OverloadReport {
    pub client_tasks: usize,
    pub concurrent_requests_max: usize,
    pub connections_max: usize,
    pub seconds: f64,
    pub requests: u64,
    /// Answers by status (`"none"`: no answer within the client's timeout or the connection failed).
    pub statuses: BTreeMap<String, u64>,
    pub accepted: u64,
    pub shed_503_overloaded: u64,
    pub shed_503_timeout: u64,
    pub shed_429: u64,
    /// Answers that are neither 2xx nor 429/503 nor a 4xx business answer (must be 0).
    pub unexpected: u64,
    /// Requests that got no answer within 15 s: still waiting for the server to accept their
    /// connection (past `CONNECTIONS_MAX` the server stops accepting). Money requests among them
    /// are retried afterwards like every other unanswered one.
    pub unanswered: u64,
    /// Latency of accepted requests over established connections.
    pub accepted_p50_ms: f64,
    pub accepted_p99_ms: f64,
    pub accepted_max_ms: f64,
    /// Latency of each task's first request, which includes waiting for the server to accept the
    /// connection (past `CONNECTIONS_MAX` open connections the server stops accepting).
    pub first_request_p99_ms: f64,
    pub rss_before_mib: f64,
    pub rss_peak_mib: f64,
    pub rss_after_mib: f64,
    pub money_requests_retried: u64,
    pub diverged: u64,
    pub lost: u64,
    pub balance_mismatches: u64,
    /// `gaswallet verify` on the data directory after the server stopped.
    pub verify_ok: bool,
    pub trial_balanced: bool,
    pub healthy_after: bool,
    pub thresholds: Option<Thresholds>,
    pub within_thresholds: bool,
}

impl OverloadReport {
    pub fn clean(&self) -> bool {
        self.unexpected == 0
            && self.diverged == 0
            && self.lost == 0
            && self.balance_mismatches == 0
            && self.verify_ok
            && self.trial_balanced
            && self.healthy_after
            && self.within_thresholds
    }
}

/// Runs the experiment with the `gaswallet` binary at `binary`.
pub fn run_overload(binary: &Path, options: &OverloadOptions) -> anyhow::Result<OverloadReport> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(overload(binary, options))
}

#[derive(Debug, Default)]
struct TaskResult {
    statuses: BTreeMap<String, u64>,
    accepted_micros: Vec<u64>,
    first_request_micros: Vec<u64>,
    operations: Vec<(Operation, Outcome)>,
    unexpected: u64,
    overloaded: u64,
    timeouts: u64,
    samples: usize,
}

/// 4xx answers each task prints.
const SAMPLES_MAX: usize = 1;

async fn overload(binary: &Path, options: &OverloadOptions) -> anyhow::Result<OverloadReport> {
    let temporary = tempfile::tempdir()?;
    let data = temporary.path().join("data");
    let mut random = StdRng::seed_from_u64(options.seed);
    let admin_token = new_admin_token(&mut random);
    let setting_up = Instant::now();
    let server = ServerProcess::start(binary, &data, &admin_token).await?;
    let api = Api::new(server.address);
    let parties = Arc::new(
        set_up_parties(&api, &admin_token, OVERLOAD_CUSTOMERS, OVERLOAD_MERCHANTS, FUNDING_CNY, &mut random).await?,
    );
    let mut report = OverloadReport {
        client_tasks: options.factor.max(1) * CONCURRENT_REQUESTS_MAX,
        concurrent_requests_max: CONCURRENT_REQUESTS_MAX,
        connections_max: CONNECTIONS_MAX,
        thresholds: Some(options.thresholds),
        ..OverloadReport::default()
    };
    let setup_seconds = setting_up.elapsed().as_secs_f64();
    let rss_before = server.rss_kib().unwrap_or(0);
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(rss_before));
    let sampler = {
        let (stop, peak, pid) = (Arc::clone(&stop), Arc::clone(&peak), server.pid());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Some(rss) = super::harness::rss_kib(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(RSS_SAMPLE_INTERVAL).await;
            }
        })
    };
    // Every task gets its own client (its own connection), as that many outside clients would.
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.seconds);
    let tasks: Vec<_> = (0..report.client_tasks)
        .map(|task| {
            let parties = Arc::clone(&parties);
            let seed = random.gen();
            let address = server.address;
            tokio::spawn(flood(Api::with_timeout(address, FLOOD_REQUEST_TIMEOUT), parties, task, seed, deadline))
        })
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.context("a flood task panicked")?);
    }
    report.seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    tokio::time::sleep(SETTLE_AFTER_FLOOD).await;
    let rss_after = server.rss_kib().unwrap_or(0);
    report.rss_before_mib = rss_before as f64 / 1024.0;
    report.rss_peak_mib = peak.load(Ordering::Relaxed).max(rss_after) as f64 / 1024.0;
    report.rss_after_mib = rss_after as f64 / 1024.0;

    let mut histogram = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    let mut first_requests = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    let mut operations = Vec::new();
    for result in results {
        for (status, count) in result.statuses {
            report.requests += count;
            *report.statuses.entry(status).or_default() += count;
        }
        for micros in result.accepted_micros {
            histogram.record(micros.clamp(1, 120_000_000))?;
        }
        for micros in result.first_request_micros {
            first_requests.record(micros.clamp(1, 120_000_000))?;
        }
        report.unexpected += result.unexpected;
        report.shed_503_overloaded += result.overloaded;
        report.shed_503_timeout += result.timeouts;
        operations.extend(result.operations);
    }
    report.accepted = histogram.len() + first_requests.len();
    report.unanswered = report.statuses.get("none").copied().unwrap_or(0);
    report.first_request_p99_ms = first_requests.value_at_quantile(0.99) as f64 / 1000.0;
    report.shed_429 = report.statuses.get("429").copied().unwrap_or(0);
    report.accepted_p50_ms = histogram.value_at_quantile(0.50) as f64 / 1000.0;
    report.accepted_p99_ms = histogram.value_at_quantile(0.99) as f64 / 1000.0;
    report.accepted_max_ms = histogram.max() as f64 / 1000.0;

    let checking = Instant::now();
    check_nothing_lost(&api, &parties, operations, &mut report).await?;
    eprintln!(
        "overload: set-up {:.1} s, flood {:.1} s, loss checks {:.1} s",
        setup_seconds,
        report.seconds,
        checking.elapsed().as_secs_f64()
    );
    report.trial_balanced = api.trial_balanced(&admin_token).await?;
    report.healthy_after = api.call("GET", "/healthz", None, None, None).await.is_ok_and(|answer| answer.status == 200);
    let mut server = server;
    server.kill()?;
    // Verify offline: over HTTP, verify of a long journal in a debug build can run past the
    // server's request timeout (503 `timeout`), and the flood makes the journal long.
    report.verify_ok = super::harness::offline_verify(binary, &data)?;
    report.within_thresholds = report.accepted_p99_ms <= options.thresholds.accepted_p99_ms_max as f64
        && report.rss_peak_mib <= options.thresholds.rss_peak_mib_max as f64;
    drop(server);
    Ok(report)
}

/// One client: wallet reads, top-ups and payments until the deadline.
async fn flood(api: Api, parties: Arc<Parties>, task: usize, seed: u64, deadline: Instant) -> TaskResult {
    let mut random = StdRng::seed_from_u64(seed);
    let mut result = TaskResult::default();
    for number in 0u64.. {
        if Instant::now() >= deadline {
            break;
        }
        let customer_index = random.gen_range(0..parties.customers.len());
        let customer = &parties.customers[customer_index];
        let tag = format!("t{task}-n{number}");
        let timed = number > 0;
        match random.gen_range(0..100) {
            // Expensive reads (a report over the whole ledger on the blocking pool) hold their
            // in-flight slot longest: these are what pile up past the limit.
            0..=4 => {
                let answer = api.get("/v1/reports/trial-balance", &parties.finance_token).await;
                record(&mut result, &answer, timed);
            }
            5..=39 => {
                let answer = api.get(&format!("/v1/wallets/{}", customer.wallet_id), &customer.token).await;
                record(&mut result, &answer, timed);
            }
            40..=69 => {
                let fen = random.gen_range(100..5_000);
                let operation = Operation {
                    kind: Kind::Topup,
                    customer: customer_index,
                    path: format!("/v1/wallets/{}/topups", customer.wallet_id),
                    token: parties.admin_token.clone(),
                    key: Some(format!("flood-topup-{tag}")),
                    body: json!({ "amount": cny(fen), "channel": "alipay", "channel_txn_id": format!("flood-{tag}") }),
                    amount_fen: fen,
                };
                let answer = send(&api, &operation).await;
                record(&mut result, &answer, timed);
                result.operations.push((operation.clone(), classify(&operation, &answer)));
            }
            _ => {
                let path = format!("/v1/wallets/{}/payment-codes", customer.wallet_id);
                let answer = api.post(&path, &customer.token, None, &json!({})).await;
                record(&mut result, &answer, timed);
                // Only a 201 carries a code (a problem document's `code` is its error code).
                let code = match answer {
                    Ok(answer) if answer.status == 201 => answer.field("code"),
                    _ => continue,
                };
                let Ok(code) = code else { continue };
                let merchant = &parties.merchants[random.gen_range(0..parties.merchants.len())];
                let fen = random.gen_range(1..2_000);
                let operation = Operation {
                    kind: Kind::Payment,
                    customer: customer_index,
                    path: String::from("/v1/payments"),
                    token: merchant.token.clone(),
                    key: Some(format!("flood-pay-{tag}")),
                    body: json!({ "payment_code": code, "amount": cny(fen), "order_ref": format!("flood-{tag}") }),
                    amount_fen: fen,
                };
                let answer = send(&api, &operation).await;
                record(&mut result, &answer, true);
                result.operations.push((operation.clone(), classify(&operation, &answer)));
            }
        }
    }
    result
}

/// Counts an answer. `timed`: the request went over an established connection (a task's first
/// request also waits for the server to accept its connection, which is timed separately).
fn record(result: &mut TaskResult, answer: &anyhow::Result<super::harness::Answer>, timed: bool) {
    let key = match answer {
        Err(_) => String::from("none"),
        Ok(answer) => {
            match answer.status {
                200..=299 if timed => result.accepted_micros.push(answer.elapsed.as_micros() as u64),
                200..=299 => result.first_request_micros.push(answer.elapsed.as_micros() as u64),
                503 if answer.code() == "overloaded" => result.overloaded += 1,
                503 if answer.code() == "timeout" => result.timeouts += 1,
                // Business answers are fine, but the workload is valid, so say what they were.
                400..=499 if answer.content_type.starts_with(super::harness::PROBLEM_JSON) => {
                    if result.samples < SAMPLES_MAX {
                        result.samples += 1;
                        eprintln!("4xx answer {}: {}", answer.status, answer.text());
                    }
                }
                _ => {
                    result.unexpected += 1;
                    eprintln!("UNEXPECTED answer {}: {}", answer.status, answer.text());
                }
            }
            answer.status.to_string()
        }
    };
    *result.statuses.entry(key).or_default() += 1;
}

/// Retries the unanswered money requests, then checks every acknowledged one is present and
/// every balance adds up.
async fn check_nothing_lost(
    api: &Api,
    parties: &Parties,
    operations: Vec<(Operation, Outcome)>,
    report: &mut OverloadReport,
) -> anyhow::Result<()> {
    let admin = &parties.admin_token;
    let mut expected_fen = vec![FUNDING_FEN; parties.customers.len()];
    let mut topup_entries: Vec<HashSet<String>> = vec![HashSet::new(); parties.customers.len()];
    let mut payments: Vec<(String, String)> = Vec::new();
    // Retry every unanswered money request (a few dozen at a time), twice, with its key.
    let (unanswered, mut resolved): (Vec<_>, Vec<_>) =
        operations.into_iter().partition(|(_, outcome)| matches!(outcome, Outcome::Unacknowledged));
    for chunk in unanswered.chunks(PAYMENT_CHECKS_AT_ONCE) {
        let mut retries = tokio::task::JoinSet::new();
        for (operation, _) in chunk.iter() {
            let (api, operation) = (api.clone(), operation.clone());
            retries.spawn(async move {
                let first = retry_until_answered(&api, &operation).await?;
                let second = retry_until_answered(&api, &operation).await?;
                anyhow::Ok((operation, first, second))
            });
        }
        while let Some(retried) = retries.join_next().await {
            let (operation, first, second) = retried.context("a retry panicked")??;
            report.money_requests_retried += 1;
            let stable = match (&first, &second) {
                (Outcome::Acknowledged(a), Outcome::Acknowledged(b)) => a == b,
                (Outcome::Rejected(a), Outcome::Rejected(b)) => a == b,
                _ => false,
            };
            if !stable {
                report.diverged += 1;
                eprintln!("DIVERGED {:?} {}: {first:?} then {second:?}", operation.kind, operation.path);
            }
            resolved.push((operation, first));
        }
    }
    for (operation, outcome) in resolved {
        let Outcome::Acknowledged(answer) = outcome else { continue };
        expected_fen[operation.customer] += wallet_effect_fen(&operation, &answer)?;
        match operation.kind {
            Kind::Topup => {
                topup_entries[operation.customer]
                    .insert(answer.get("entry_id").and_then(Value::as_str).unwrap_or_default().to_owned());
            }
            Kind::Payment => {
                let id = answer.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
                payments.push((id, cny(operation.amount_fen)));
            }
            Kind::Reading => {}
        }
    }
    // Thousands of look-ups: a few dozen at a time.
    for chunk in payments.chunks(PAYMENT_CHECKS_AT_ONCE) {
        let mut lookups = tokio::task::JoinSet::new();
        for (id, amount) in chunk.iter() {
            let (id, amount) = (id.clone(), amount.clone());
            let (api, admin) = (api.clone(), admin.clone());
            lookups.spawn(async move {
                let found = api.get(&format!("/v1/payments/{id}"), &admin).await?;
                let present = found.status == 200 && found.json.get("amount").and_then(Value::as_str) == Some(&amount);
                if !present {
                    eprintln!("LOST payment {id} ({amount}): {} {}", found.status, found.text());
                }
                anyhow::Ok(present)
            });
        }
        while let Some(present) = lookups.join_next().await {
            report.lost += u64::from(!present.context("a payment look-up panicked")??);
        }
    }
    for (index, customer) in parties.customers.iter().enumerate() {
        let statement = api.all_items(&format!("/v1/wallets/{}/statement", customer.wallet_id), admin).await?;
        let entries: HashSet<&str> =
            statement.iter().filter_map(|line| line.get("entry_id").and_then(Value::as_str)).collect();
        for entry in &topup_entries[index] {
            if !entries.contains(entry.as_str()) {
                report.lost += 1;
                eprintln!("LOST top-up entry {entry}");
            }
        }
        let wallet = api.expect_status("GET", &format!("/v1/wallets/{}", customer.wallet_id), admin, None, 200).await?;
        let expected = cny(expected_fen[index]);
        if wallet.get("balance").and_then(Value::as_str) != Some(expected.as_str()) {
            report.balance_mismatches += 1;
            eprintln!(
                "BALANCE of {}: {wallet} but the acknowledged operations add up to {expected}",
                customer.wallet_id
            );
        }
    }
    Ok(())
}
