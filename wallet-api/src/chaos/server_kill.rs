//! `gaswallet chaos server-kill`: SIGKILL the real server at random moments under concurrent load.
//!
//! One client task per customer runs, in a loop, a top-up (admin), a payment (a payment code
//! issued by the customer, charged by a merchant) and a signed meter reading (a concentrator), each
//! money-moving request with its own Idempotency-Key. Every answer is recorded: a 2xx is
//! *acknowledged*. At a random moment the server is killed with SIGKILL and restarted on the same
//! data directory. Then:
//! 1. every request that got no answer (or a 5xx) is retried with the same key and body until it
//!    gets a 2xx or a 4xx, and once more to see that the answer is stable (converged);
//! 2. every acknowledged top-up is on the wallet statement, every acknowledged payment is found by
//!    `GET /v1/payments/{id}` with its amount, the customer has one e-bill per accepted reading;
//! 3. each wallet's balance equals its funding plus the acknowledged top-ups minus the acknowledged
//!    payments and reading charges (a duplicate or a lost write would show here);
//! 4. `POST /v1/ledger/verify` is ok and the trial balance is balanced.
//!
//! After the last cycle the server is killed once more and `gaswallet verify` checks the journal
//! offline.

use super::harness::{
    cny, new_admin_token, offline_verify, set_up_parties, Answer, Api, Customer, Parties, ServerProcess,
};
use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Each wallet starts with this much, so the workload's payments never run it dry.
pub(crate) const FUNDING_CNY: &str = "100000.00";
/// [`FUNDING_CNY`] in fen.
pub(crate) const FUNDING_FEN: i64 = 10_000_000;
/// Attempts at a retry that gets no answer (the server is up, so these are rare).
const RETRY_ATTEMPTS_MAX: u32 = 20;
/// Pause between two retry attempts that got no answer.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// Shortest and longest load before a kill.
const LOAD_BEFORE_KILL_MS_MIN: u64 = 50;

/// Options of `gaswallet chaos server-kill`.
#[derive(Debug, Clone)]
pub struct ServerKillOptions {
    pub kills: u64,
    pub seed: u64,
    /// Customers, each driven by its own client task.
    pub clients: usize,
    /// Longest load before a kill, in milliseconds (the moment is uniform in 50..this).
    pub load_ms_max: u64,
    /// Data directory (default: a fresh temporary one).
    pub data: Option<PathBuf>,
}

/// What the campaign found. `lost`, `diverged`, `balance_mismatches` and the failures must be 0.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerKillReport {
    pub kills: u64,
    pub requests_sent: u64,
    /// Answered 2xx before the kill (the rest of `requests_acknowledged` were retries).
    pub acknowledged_before_kill: u64,
    /// Answered 2xx in the end (before the kill or on a retry); each is checked after the restart.
    pub requests_acknowledged: u64,
    pub topups_acknowledged: u64,
    pub payments_acknowledged: u64,
    pub readings_acknowledged: u64,
    /// Sent but not answered with a 2xx or 4xx before the kill (in flight, or a 5xx).
    pub unacknowledged: u64,
    pub retried: u64,
    /// Retries answered 2xx: the first attempt had committed (a replay) or committed now.
    pub retries_succeeded: u64,
    /// Of those, retries whose first attempt had committed before the kill (the journal did not
    /// grow on the retry): acknowledged by the ledger, the answer lost with the process.
    pub retries_replayed: u64,
    /// Retries answered with a stable business error (e.g. the payment code's issue was lost).
    pub retries_rejected: u64,
    /// Retries whose second answer differed from the first (must be 0).
    pub diverged: u64,
    /// 4xx answers during the load (the workload is valid, so these are business rejections).
    pub rejected_during_load: u64,
    /// Acknowledged operations not found after a restart (must be 0).
    pub lost: u64,
    /// Wallets whose balance differs from the sum of acknowledged operations (must be 0).
    pub balance_mismatches: u64,
    pub verify_failures: u64,
    pub trial_balance_failures: u64,
    pub offline_verify_ok: bool,
    pub journal_entries: u64,
    pub elapsed_s: f64,
}

impl ServerKillReport {
    pub fn clean(&self) -> bool {
        self.lost == 0
            && self.diverged == 0
            && self.balance_mismatches == 0
            && self.verify_failures == 0
            && self.trial_balance_failures == 0
            && self.offline_verify_ok
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Topup,
    Payment,
    Reading,
}

/// One money-moving request, kept so it can be retried byte for byte.
#[derive(Debug, Clone)]
pub(crate) struct Operation {
    pub(crate) kind: Kind,
    pub(crate) customer: usize,
    pub(crate) path: String,
    pub(crate) token: String,
    pub(crate) key: Option<String>,
    pub(crate) body: Value,
    /// Top-up or payment amount in fen.
    pub(crate) amount_fen: i64,
}

/// How a request ended.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// 2xx (for a reading: accepted). The answer's JSON.
    Acknowledged(Value),
    /// A 4xx (or a rejected reading): a business answer that changes nothing.
    Rejected(String),
    /// No answer, or a 5xx, or a reading to retry later.
    Unacknowledged,
}

pub(crate) fn classify(operation: &Operation, answer: &anyhow::Result<Answer>) -> Outcome {
    let Ok(answer) = answer else { return Outcome::Unacknowledged };
    match answer.status {
        200..=299 if operation.kind == Kind::Reading => {
            let result = answer.json.pointer("/results/0").cloned().unwrap_or(Value::Null);
            match (result.get("status").and_then(Value::as_str), result.get("code").and_then(Value::as_str)) {
                (Some("accepted"), _) => Outcome::Acknowledged(result),
                (_, Some("retry_later")) => Outcome::Unacknowledged,
                (_, code) => Outcome::Rejected(code.unwrap_or("rejected").to_owned()),
            }
        }
        200..=299 => Outcome::Acknowledged(answer.json.clone()),
        400..=499 => Outcome::Rejected(answer.code().to_owned()),
        _ => Outcome::Unacknowledged,
    }
}

pub(crate) async fn send(api: &Api, operation: &Operation) -> anyhow::Result<Answer> {
    api.post(&operation.path, &operation.token, operation.key.as_deref(), &operation.body).await
}

/// The effect an acknowledged operation has on its wallet, in fen.
pub(crate) fn wallet_effect_fen(operation: &Operation, answer: &Value) -> anyhow::Result<i64> {
    Ok(match operation.kind {
        Kind::Topup => operation.amount_fen,
        Kind::Payment => -operation.amount_fen,
        Kind::Reading => {
            let charge = answer.get("charge").and_then(Value::as_str).unwrap_or("0.00");
            let charge = Decimal::from_str(charge).with_context(|| format!("reading charge {charge:?}"))?;
            let fen = (charge * Decimal::ONE_HUNDRED).normalize();
            if fen.scale() != 0 {
                bail!("reading charge {charge} is not a whole number of fen");
            }
            -i64::try_from(fen.mantissa()).context("charge in fen")?
        }
    })
}

/// What the campaign knows per customer across kills.
#[derive(Debug, Clone, Default)]
struct Ledger {
    expected_balance_fen: i64,
    next_counter: u64,
    readings_accepted: u64,
    topup_entries: Vec<String>,
}

/// Runs the campaign with the `gaswallet` binary at `binary`.
pub fn run_server_kill(binary: &Path, options: &ServerKillOptions) -> anyhow::Result<ServerKillReport> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(campaign(binary, options))
}

async fn campaign(binary: &Path, options: &ServerKillOptions) -> anyhow::Result<ServerKillReport> {
    let started = Instant::now();
    let temporary = tempfile::tempdir()?;
    let data = options.data.clone().unwrap_or_else(|| temporary.path().join("data"));
    let mut random = StdRng::seed_from_u64(options.seed);
    let admin_token = new_admin_token(&mut random);
    let mut server = ServerProcess::start(binary, &data, &admin_token).await?;
    let mut api = Api::new(server.address);
    let parties =
        Arc::new(set_up_parties(&api, &admin_token, options.clients.max(1), 2, FUNDING_CNY, &mut random).await?);
    let mut books: Vec<Ledger> = parties
        .customers
        .iter()
        .map(|_| Ledger { expected_balance_fen: FUNDING_FEN, next_counter: 1, ..Ledger::default() })
        .collect();
    let mut report = ServerKillReport::default();
    for kill in 0..options.kills {
        // Load from every client, then SIGKILL at a random moment.
        let workers: Vec<_> = (0..parties.customers.len())
            .map(|customer| {
                let worker = Worker {
                    api: api.clone(),
                    parties: Arc::clone(&parties),
                    customer,
                    kill,
                    first_counter: books[customer].next_counter,
                    seed: random.gen(),
                };
                tokio::spawn(worker.run())
            })
            .collect();
        let load_ms = random.gen_range(LOAD_BEFORE_KILL_MS_MIN..options.load_ms_max.max(LOAD_BEFORE_KILL_MS_MIN + 1));
        tokio::time::sleep(Duration::from_millis(load_ms)).await;
        server.kill()?;
        report.kills += 1;
        let mut done: Vec<(Operation, Outcome)> = Vec::new();
        for worker in workers {
            let finished = worker.await.context("a client task panicked")?;
            report.rejected_during_load += finished.rejected;
            books[finished.customer].next_counter = finished.next_counter;
            done.extend(finished.operations);
        }
        report.requests_sent += done.len() as u64;

        server = ServerProcess::start(binary, &data, &admin_token)
            .await
            .with_context(|| format!("restart after kill {kill}"))?;
        api = Api::new(server.address);
        // Retry what was not acknowledged, with the same key and body, until it converges.
        let retried_before = report.retried;
        let mut resolved: Vec<(Operation, Outcome)> = Vec::with_capacity(done.len());
        for (operation, outcome) in done {
            if !matches!(outcome, Outcome::Unacknowledged) {
                report.acknowledged_before_kill += u64::from(matches!(outcome, Outcome::Acknowledged(_)));
                resolved.push((operation, outcome));
                continue;
            }
            report.unacknowledged += 1;
            report.retried += 1;
            // Nothing else runs during the retries, so an unchanged journal head means the first
            // attempt had committed before the kill and only its answer was lost.
            let head_before = journal_sequence(&api).await?;
            let first = retry_until_answered(&api, &operation).await?;
            let head_after = journal_sequence(&api).await?;
            let second = retry_until_answered(&api, &operation).await?;
            let stable = match (&first, &second) {
                (Outcome::Acknowledged(a), Outcome::Acknowledged(b)) => a == b,
                (Outcome::Rejected(a), Outcome::Rejected(b)) => a == b,
                _ => false,
            };
            if !stable {
                report.diverged += 1;
                eprintln!("DIVERGED {:?} {}: {first:?} then {second:?}", operation.kind, operation.path);
            }
            match &first {
                Outcome::Acknowledged(_) if head_before == head_after => {
                    report.retries_succeeded += 1;
                    report.retries_replayed += 1;
                }
                Outcome::Acknowledged(_) => report.retries_succeeded += 1,
                _ => report.retries_rejected += 1,
            }
            resolved.push((operation, first));
        }
        check_cycle(&api, &parties, &mut books, &resolved, &mut report).await?;
        let checks = api.ledger_checks(&admin_token).await?;
        report.verify_failures += u64::from(!checks.verify_ok);
        report.trial_balance_failures += u64::from(!checks.trial_balanced);
        report.journal_entries = checks.entries_checked;
        eprintln!(
            "kill {}/{}: {} requests, {} unacknowledged retried, journal {} records",
            kill + 1,
            options.kills,
            resolved.len(),
            report.retried - retried_before,
            checks.entries_checked
        );
    }
    server.kill()?;
    report.offline_verify_ok = offline_verify(binary, &data)?;
    report.elapsed_s = started.elapsed().as_secs_f64();
    Ok(report)
}

async fn journal_sequence(api: &Api) -> anyhow::Result<u64> {
    let health = api.call("GET", "/healthz", None, None, None).await?;
    health.json.get("journal_sequence").and_then(Value::as_u64).context("journal_sequence in /healthz")
}

pub(crate) async fn retry_until_answered(api: &Api, operation: &Operation) -> anyhow::Result<Outcome> {
    for _ in 0..RETRY_ATTEMPTS_MAX {
        let answer = send(api, operation).await;
        match classify(operation, &answer) {
            Outcome::Unacknowledged => tokio::time::sleep(RETRY_PAUSE).await,
            outcome => return Ok(outcome),
        }
    }
    bail!("{:?} {} got no answer after {RETRY_ATTEMPTS_MAX} retries", operation.kind, operation.path)
}

/// Checks the cycle's acknowledged operations are present and every balance adds up.
async fn check_cycle(
    api: &Api,
    parties: &Parties,
    books: &mut [Ledger],
    resolved: &[(Operation, Outcome)],
    report: &mut ServerKillReport,
) -> anyhow::Result<()> {
    let admin = &parties.admin_token;
    for (operation, outcome) in resolved {
        let Outcome::Acknowledged(answer) = outcome else { continue };
        report.requests_acknowledged += 1;
        let book = &mut books[operation.customer];
        book.expected_balance_fen += wallet_effect_fen(operation, answer)?;
        match operation.kind {
            Kind::Topup => {
                report.topups_acknowledged += 1;
                book.topup_entries.push(answer.get("entry_id").and_then(Value::as_str).unwrap_or_default().to_owned());
            }
            Kind::Payment => {
                report.payments_acknowledged += 1;
                let id = answer.get("id").and_then(Value::as_str).unwrap_or_default();
                let found = api.get(&format!("/v1/payments/{id}"), admin).await?;
                let amount = cny(operation.amount_fen);
                if found.status != 200 || found.json.get("amount").and_then(Value::as_str) != Some(amount.as_str()) {
                    report.lost += 1;
                    eprintln!("LOST payment {id} ({amount}): {} {}", found.status, found.text());
                }
            }
            Kind::Reading => {
                report.readings_acknowledged += 1;
                book.readings_accepted += 1;
            }
        }
    }
    for (customer, book) in parties.customers.iter().zip(books.iter()) {
        check_customer(api, admin, customer, book, report).await?;
    }
    Ok(())
}

async fn check_customer(
    api: &Api,
    admin: &str,
    customer: &Customer,
    book: &Ledger,
    report: &mut ServerKillReport,
) -> anyhow::Result<()> {
    let statement = api.all_items(&format!("/v1/wallets/{}/statement", customer.wallet_id), admin).await?;
    let entries: HashSet<&str> =
        statement.iter().filter_map(|line| line.get("entry_id").and_then(Value::as_str)).collect();
    for entry in &book.topup_entries {
        if !entries.contains(entry.as_str()) {
            report.lost += 1;
            eprintln!("LOST top-up entry {entry} of wallet {}", customer.wallet_id);
        }
    }
    let bills = api.all_items(&format!("/v1/customers/{}/bills", customer.id), admin).await?;
    if (bills.len() as u64) < book.readings_accepted {
        report.lost += book.readings_accepted - bills.len() as u64;
        eprintln!(
            "LOST readings of {}: {} bills for {} accepted readings",
            customer.id,
            bills.len(),
            book.readings_accepted
        );
    }
    let wallet = api.expect_status("GET", &format!("/v1/wallets/{}", customer.wallet_id), admin, None, 200).await?;
    let expected = cny(book.expected_balance_fen);
    if wallet.get("balance").and_then(Value::as_str) != Some(expected.as_str()) {
        report.balance_mismatches += 1;
        eprintln!("BALANCE of {}: {} but the acknowledged operations add up to {expected}", customer.wallet_id, wallet);
    }
    Ok(())
}

/// One client task: top-up, payment, reading, over and over, until the server stops answering.
struct Worker {
    api: Api,
    parties: Arc<Parties>,
    customer: usize,
    kill: u64,
    first_counter: u64,
    seed: u64,
}

struct Finished {
    customer: usize,
    operations: Vec<(Operation, Outcome)>,
    next_counter: u64,
    rejected: u64,
}

impl Worker {
    async fn run(self) -> Finished {
        let mut random = StdRng::seed_from_u64(self.seed);
        let customer: &Customer = &self.parties.customers[self.customer];
        let mut finished =
            Finished { customer: self.customer, operations: Vec::new(), next_counter: self.first_counter, rejected: 0 };
        for number in 0u64.. {
            let tag = format!("k{}-c{}-n{number}", self.kill, self.customer);
            let topup_fen = random.gen_range(100..5_000);
            let topup = Operation {
                kind: Kind::Topup,
                customer: self.customer,
                path: format!("/v1/wallets/{}/topups", customer.wallet_id),
                token: self.parties.admin_token.clone(),
                key: Some(format!("topup-{tag}")),
                body: json!({ "amount": cny(topup_fen), "channel": "wechat", "channel_txn_id": format!("txn-{tag}") }),
                amount_fen: topup_fen,
            };
            if !self.step(topup, &mut finished).await {
                break;
            }
            let code = self
                .api
                .post(&format!("/v1/wallets/{}/payment-codes", customer.wallet_id), &customer.token, None, &json!({}))
                .await;
            let code = match code {
                Ok(answer) if answer.status == 201 => answer.field("code").unwrap_or_default(),
                Ok(_) => String::new(),
                // The server is gone; nothing of this step moved money.
                Err(_) => break,
            };
            if !code.is_empty() {
                let merchant =
                    &self.parties.merchants[(self.customer + number as usize) % self.parties.merchants.len()];
                let payment_fen = random.gen_range(1..2_000);
                let payment = Operation {
                    kind: Kind::Payment,
                    customer: self.customer,
                    path: String::from("/v1/payments"),
                    token: merchant.token.clone(),
                    key: Some(format!("pay-{tag}")),
                    body: json!({ "payment_code": code, "amount": cny(payment_fen), "order_ref": format!("order-{tag}") }),
                    amount_fen: payment_fen,
                };
                if !self.step(payment, &mut finished).await {
                    break;
                }
            }
            let counter = finished.next_counter;
            finished.next_counter += 1;
            let reading = Operation {
                kind: Kind::Reading,
                customer: self.customer,
                path: String::from("/v1/meter-readings"),
                token: self.parties.concentrator_token.clone(),
                key: None,
                body: json!({ "readings": [customer.reading(counter)] }),
                amount_fen: 0,
            };
            if !self.step(reading, &mut finished).await {
                break;
            }
        }
        finished
    }

    /// Sends one operation and records it; false once the server stopped answering.
    async fn step(&self, operation: Operation, finished: &mut Finished) -> bool {
        let answer = send(&self.api, &operation).await;
        let outcome = classify(&operation, &answer);
        let answered = answer.is_ok();
        if let Outcome::Rejected(code) = &outcome {
            finished.rejected += 1;
            eprintln!("rejected during load: {:?} {} {code}", operation.kind, operation.path);
        }
        finished.operations.push((operation, outcome));
        answered
    }
}
