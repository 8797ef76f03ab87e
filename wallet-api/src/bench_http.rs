//! `gaswallet bench http`: merchant payments through the whole HTTP stack.
//!
//! Starts the real server in-process on `127.0.0.1:0` over a fresh data directory (the same
//! `open_service` and `http::run` as `gaswallet serve`), creates merchants and customers with
//! funded wallets and tokens over HTTP, then drives single payments: one `POST /v1/payments` per
//! payment, each with its own payment code and `Idempotency-Key`, from `--concurrency` client
//! tasks that each own one keep-alive HTTP/1.1 connection.
//!
//! Payment codes live 60 s, so the run goes in rounds: issue one round's codes (not timed), then
//! pay them (timed). Only the payment requests are timed and counted; the ledger's group-commit
//! metrics are taken over the payment phases only. Progress goes to stderr; the last line on
//! stdout is one JSON object.

use crate::bench_client::{encode_request, Connection};
use crate::bench_cpu::{micros_per, CpuSample, CpuUse};
use crate::http::{run, AppState};
use crate::serve::{admin_token, open_service};
use crate::service::Service;
use anyhow::{bail, Context};
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest amount one benchmark payment takes, in fen (9.99 CNY).
const PAYMENT_FEN_MAX: u64 = 999;
/// Largest single top-up the benchmark books, in fen (the service allows 10 000 000.00).
const TOPUP_FEN_MAX: u64 = 100_000_000;
/// Error answers whose bodies are printed to stderr.
pub(crate) const ERROR_SAMPLES_MAX: usize = 5;
/// A round must be issued and paid well inside the 60 s life of a payment code.
const ROUND_SECONDS_WARN: f64 = 45.0;

/// Options of `gaswallet bench http`.
#[derive(Debug, Clone)]
pub struct HttpBenchOptions {
    /// Payments to make (timed).
    pub payments: u64,
    /// Client tasks, each with its own keep-alive connection.
    pub concurrency: usize,
    /// Customers (each with a funded wallet and a token).
    pub wallets: u32,
    /// Merchants (each with a token).
    pub merchants: u32,
    /// Payments per round: codes for a round are issued just before it is paid.
    pub round: u64,
    /// Worker threads of the server's runtime; 0: as `serve` has them (two per core).
    pub server_threads: usize,
    /// Worker threads of a separate client runtime; 0: the clients share the server's runtime.
    pub client_threads: usize,
    /// Offered payments per second (open loop); 0: closed loop.
    pub rate: u64,
    /// Seed for the payment amounts.
    pub seed: u64,
    /// Data directory to use instead of a fresh temporary one (it should be empty).
    pub data: Option<PathBuf>,
}

/// The result, printed as the last line.
#[derive(Debug, Clone, Serialize)]
pub struct HttpBenchResult {
    pub payments_per_sec: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub payments: u64,
    pub succeeded: u64,
    /// Payments the service's projection holds at the end (should equal `succeeded`).
    pub payments_recorded: u64,
    pub concurrency: usize,
    pub wallets: u32,
    pub merchants: u32,
    pub rounds: u64,
    /// Time spent in the timed payment phases.
    pub elapsed_s: f64,
    /// Everything before and between the timed phases (parties, top-ups, payment codes).
    pub setup_s: f64,
    /// Ledger group commits during the payment phases.
    pub group_commits: u64,
    /// Ledger commands (one linked group per payment) per group commit.
    pub mean_commands_per_commit: f64,
    /// Journal records (four per payment) per group commit.
    pub mean_records_per_commit: f64,
    /// Share of the timed wall time the writer spent writing and flushing.
    pub flush_share: f64,
    pub server_threads: usize,
    /// 0: clients ran on the server's runtime.
    pub client_threads: usize,
    /// Offered payments per second; 0: closed loop (see [`Pace`]).
    pub offered_rate: u64,
    /// Open loop only: payments that started more than [`LATE_START_MICROS`] after they were
    /// due because every connection was still busy (their latency includes the wait).
    pub late_starts: u64,
    /// CPU time per payment over the timed phases, all threads of the process (server, writer,
    /// sled, and the benchmark's own client); 0 where `/proc` cannot be read. See `bench_cpu`.
    pub cpu_us_per_payment: f64,
    /// Time per payment that the process's threads spent runnable but waiting for a core.
    pub cpu_wait_us_per_payment: f64,
    /// Cores busy on average over the timed phases (CPU time / wall time).
    pub cores_used: f64,
}

/// One request to send.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) authorization: HeaderValue,
    pub(crate) idempotency_key: Option<HeaderValue>,
    pub(crate) body: Bytes,
}

impl Call {
    pub(crate) fn post(path: String, authorization: &HeaderValue, body: &serde_json::Value) -> Call {
        Call {
            method: Method::POST,
            path,
            authorization: authorization.clone(),
            idempotency_key: None,
            body: Bytes::from(body.to_string()),
        }
    }

    pub(crate) fn with_key(mut self, key: &str) -> anyhow::Result<Call> {
        self.idempotency_key = Some(HeaderValue::from_str(key).context("idempotency key")?);
        Ok(self)
    }

    /// The request as it goes on the wire (encoded before the timed phase).
    fn encode(&self, host: &str) -> Bytes {
        let mut headers: Vec<(&str, &[u8])> =
            vec![("authorization", self.authorization.as_bytes()), ("content-type", b"application/json")];
        if let Some(key) = &self.idempotency_key {
            headers.push(("idempotency-key", key.as_bytes()));
        }
        encode_request(self.method.as_str(), &self.path, host, &headers, &self.body)
    }
}

type Sender = Connection;

/// How calls are released.
///
/// `Closed`: each connection sends its next call as soon as the previous answer is read, so the
/// load is whatever the server sustains and latency at a given concurrency follows from it
/// (Little's law: mean latency = connections / throughput). `Open`: call i is due
/// `i * interval` after the start, whatever the server does; a connection takes the next call
/// and waits for its due time, and latency counts from the due time, not from the send, so a
/// call that starts late because every connection was busy is charged the wait (no coordinated
/// omission). tokio's timer has millisecond resolution, so a call may go out up to 1 ms after it
/// is due; that too is counted against the server.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pace {
    Closed,
    Open { interval: Duration },
}

impl Pace {
    fn from_rate(rate: u64) -> Pace {
        match rate {
            0 => Pace::Closed,
            rate => Pace::Open { interval: Duration::from_nanos((1_000_000_000 / rate).max(1)) },
        }
    }
}

/// An open-loop call that starts later than this after it was due counts as a late start.
pub const LATE_START_MICROS: u64 = 1_000;

/// The client side: where the server is, and one open connection per client task.
#[derive(Debug)]
pub(crate) struct Clients {
    address: SocketAddr,
    host: String,
    connections: Vec<Sender>,
}

/// What one drive over a list of calls gave.
#[derive(Debug)]
pub(crate) struct Driven {
    /// Status and body of every call, in call order (only when asked for).
    pub(crate) answers: Vec<(u16, Bytes)>,
    pub(crate) histogram: hdrhistogram::Histogram<u64>,
    pub(crate) errors: u64,
    pub(crate) error_samples: Vec<String>,
    pub(crate) elapsed: Duration,
    pub(crate) late_starts: u64,
}

struct TaskOutcome {
    connection: Sender,
    histogram: hdrhistogram::Histogram<u64>,
    errors: u64,
    late_starts: u64,
    error_samples: Vec<String>,
    answers: Vec<(usize, u16, Bytes)>,
}

async fn connect(address: SocketAddr) -> anyhow::Result<Sender> {
    Connection::open(address).await
}

pub(crate) fn new_histogram() -> anyhow::Result<hdrhistogram::Histogram<u64>> {
    Ok(hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?)
}

impl Clients {
    pub(crate) async fn open(address: SocketAddr, count: usize) -> anyhow::Result<Clients> {
        let mut connections = Vec::with_capacity(count);
        for _ in 0..count {
            connections.push(connect(address).await?);
        }
        Ok(Clients { address, host: address.to_string(), connections })
    }

    /// Sends every call once, from one task per connection taking the next call as soon as its
    /// previous answer is read; answers other than `expected` count as errors.
    pub(crate) async fn drive(
        &mut self,
        calls: Vec<Call>,
        expected: StatusCode,
        keep_answers: bool,
    ) -> anyhow::Result<Driven> {
        self.drive_paced(calls, expected, keep_answers, Pace::Closed).await
    }

    /// [`Clients::drive`] with the calls released as `pace` says.
    pub(crate) async fn drive_paced(
        &mut self,
        calls: Vec<Call>,
        expected: StatusCode,
        keep_answers: bool,
        pace: Pace,
    ) -> anyhow::Result<Driven> {
        let requests: Arc<Vec<Bytes>> = Arc::new(calls.iter().map(|call| call.encode(&self.host)).collect());
        let calls = Arc::new(calls);
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(self.connections.len());
        for connection in self.connections.drain(..) {
            let calls = Arc::clone(&calls);
            let requests = Arc::clone(&requests);
            let next = Arc::clone(&next);
            let address = self.address;
            let task = ClientTask { address, calls, requests, next, expected, keep_answers, pace, started };
            tasks.push(tokio::spawn(task.run(connection)));
        }
        let mut histogram = new_histogram()?;
        let mut errors = 0;
        let mut late_starts = 0;
        let mut error_samples = Vec::new();
        let mut answers: Vec<(u16, Bytes)> =
            if keep_answers { vec![(0, Bytes::new()); calls.len()] } else { Vec::new() };
        let mut failure = None;
        for task in tasks {
            match task.await {
                Ok(Ok(outcome)) => {
                    self.connections.push(outcome.connection);
                    histogram.add(&outcome.histogram)?;
                    errors += outcome.errors;
                    late_starts += outcome.late_starts;
                    error_samples.extend(outcome.error_samples);
                    for (index, status, body) in outcome.answers {
                        if let Some(slot) = answers.get_mut(index) {
                            *slot = (status, body);
                        }
                    }
                }
                Ok(Err(error)) => failure = Some(error),
                Err(error) => failure = Some(anyhow::anyhow!("a client task failed: {error}")),
            }
        }
        let elapsed = started.elapsed();
        if let Some(error) = failure {
            return Err(error);
        }
        error_samples.truncate(ERROR_SAMPLES_MAX);
        Ok(Driven { answers, histogram, errors, error_samples, elapsed, late_starts })
    }
}

/// One connection's share of a drive.
struct ClientTask {
    address: SocketAddr,
    calls: Arc<Vec<Call>>,
    /// `calls`, encoded.
    requests: Arc<Vec<Bytes>>,
    next: Arc<AtomicUsize>,
    expected: StatusCode,
    keep_answers: bool,
    pace: Pace,
    started: Instant,
}

impl ClientTask {
    async fn run(self, mut connection: Sender) -> anyhow::Result<TaskOutcome> {
        let mut histogram = new_histogram()?;
        let mut errors = 0;
        let mut late_starts = 0;
        let mut error_samples = Vec::new();
        let mut answers = Vec::new();
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            let (Some(call), Some(request)) = (self.calls.get(index), self.requests.get(index)) else { break };
            // Latency counts from when the call was due (open loop) or sent (closed loop).
            let due = match self.pace {
                Pace::Closed => Instant::now(),
                Pace::Open { interval } => {
                    let due = self.started + interval.saturating_mul(u32::try_from(index).unwrap_or(u32::MAX));
                    let now = Instant::now();
                    if due > now {
                        tokio::time::sleep_until(due.into()).await;
                    } else if now.duration_since(due).as_micros() as u64 > LATE_START_MICROS {
                        late_starts += 1;
                    }
                    due
                }
            };
            let result = connection.call(request).await;
            histogram.saturating_record((due.elapsed().as_micros() as u64).max(1));
            match result {
                Ok((status, body)) => {
                    if connection.is_closed() {
                        connection = connect(self.address).await?;
                    }
                    if status != self.expected.as_u16() {
                        errors += 1;
                        if error_samples.len() < ERROR_SAMPLES_MAX {
                            let text = String::from_utf8_lossy(&body);
                            error_samples.push(format!("{} {}: {status} {}", call.method, call.path, truncate(&text)));
                        }
                    }
                    if self.keep_answers {
                        answers.push((index, status, body));
                    }
                }
                Err(error) => {
                    errors += 1;
                    if error_samples.len() < ERROR_SAMPLES_MAX {
                        error_samples.push(format!("{} {}: {error:#}", call.method, call.path));
                    }
                    // The connection may be broken: open a new one for the next call.
                    connection = connect(self.address).await?;
                }
            }
        }
        Ok(TaskOutcome { connection, histogram, errors, late_starts, error_samples, answers })
    }
}

pub(crate) fn truncate(text: &str) -> String {
    text.chars().take(300).collect()
}

pub(crate) fn json_field(body: &Bytes, field: &str) -> anyhow::Result<String> {
    let value: serde_json::Value = serde_json::from_slice(body).context("reading a JSON answer")?;
    value
        .get(field)
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("the answer has no {field:?}: {}", truncate(&String::from_utf8_lossy(body))))
}

/// Setup calls must all succeed; returns their answers.
pub(crate) async fn setup(clients: &mut Clients, what: &str, calls: Vec<Call>) -> anyhow::Result<Vec<Bytes>> {
    let count = calls.len();
    let driven = clients.drive(calls, StatusCode::CREATED, true).await?;
    if driven.errors > 0 {
        for sample in &driven.error_samples {
            eprintln!("  {sample}");
        }
        bail!("{} of {count} {what} failed", driven.errors);
    }
    Ok(driven.answers.into_iter().map(|(_, body)| body).collect())
}

pub(crate) fn bearer(token: &str) -> anyhow::Result<HeaderValue> {
    HeaderValue::from_str(&format!("Bearer {token}")).context("token header")
}

pub(crate) fn fen(amount: u64) -> String {
    format!("{}.{:02}", amount / 100, amount % 100)
}

/// Writer metrics at one moment: batches, commands, records, flush microseconds.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WriterSnapshot {
    pub(crate) batches: u64,
    pub(crate) commands: u64,
    pub(crate) records: u64,
    pub(crate) flush_micros: u64,
}

impl WriterSnapshot {
    pub(crate) fn take(service: &Service) -> WriterSnapshot {
        let reader = service.reader();
        let metrics = reader.metrics();
        WriterSnapshot {
            batches: metrics.batches_committed.load(Ordering::Relaxed),
            commands: metrics.commands_processed.load(Ordering::Relaxed),
            records: metrics.records_committed.load(Ordering::Relaxed),
            flush_micros: metrics.flush_micros_total.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn add_delta(&mut self, before: WriterSnapshot, after: WriterSnapshot) {
        self.batches += after.batches - before.batches;
        self.commands += after.commands - before.commands;
        self.records += after.records - before.records;
        self.flush_micros += after.flush_micros - before.flush_micros;
    }
}

/// What the client side measured.
#[derive(Debug)]
struct Measured {
    histogram: hdrhistogram::Histogram<u64>,
    errors: u64,
    late_starts: u64,
    rounds: u64,
    timed: Duration,
    setup: Duration,
    writer: WriterSnapshot,
    cpu: CpuUse,
}

/// The server the HTTP benchmarks drive: the real service in-process on loopback, on its own
/// runtime, with an optional separate runtime for the clients (docs/benchmarks.md says why).
pub(crate) struct BenchServer {
    server_runtime: tokio::runtime::Runtime,
    client_runtime: Option<tokio::runtime::Runtime>,
    pub(crate) service: Arc<Service>,
    pub(crate) address: SocketAddr,
    pub(crate) admin_token: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl BenchServer {
    /// Opens a fresh service on `data` and serves it on 127.0.0.1:0. Thread counts of 0 mean
    /// `serve`'s default (server) and "share the server's runtime" (clients).
    pub(crate) fn start(
        data: &std::path::Path,
        server_threads: usize,
        client_threads: usize,
    ) -> anyhow::Result<BenchServer> {
        let mut server_builder = tokio::runtime::Builder::new_multi_thread();
        server_builder.thread_name("bench-server").enable_all();
        server_builder.worker_threads(crate::serve::worker_threads(server_threads));
        let server_runtime = server_builder.build()?;
        let client_runtime = if client_threads > 0 {
            Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(client_threads)
                    .thread_name("bench-client")
                    .enable_all()
                    .build()?,
            )
        } else {
            None
        };
        eprintln!("starting the server on a fresh data directory ({}) ...", data.display());
        let (service, address, stop, server) = server_runtime.block_on(async {
            let (service, _) = open_service(data).await?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let address = listener.local_addr()?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(run(listener, AppState::new(Arc::clone(&service)), async move {
                let _ = stopped.await;
            }));
            anyhow::Ok((service, address, stop, server))
        })?;
        let (admin_token, _) = admin_token(data)?;
        eprintln!("listening on http://{address}");
        Ok(BenchServer { server_runtime, client_runtime, service, address, admin_token, stop, server })
    }

    /// Runs the clients on their runtime (or the server's when they share it).
    pub(crate) fn drive<F: std::future::Future>(&self, clients: F) -> F::Output {
        match &self.client_runtime {
            Some(runtime) => runtime.block_on(clients),
            None => self.server_runtime.block_on(clients),
        }
    }

    /// Stops the server (draining in-flight requests) and closes the ledger.
    pub(crate) fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        let served = self.server_runtime.block_on(self.server);
        drop(self.client_runtime);
        drop(self.server_runtime);
        match Arc::try_unwrap(self.service) {
            Ok(service) => service.close().map_err(|fault| anyhow::anyhow!("closing the ledger: {fault}"))?,
            Err(service) => drop(service),
        }
        served.context("the server task")?.context("the server")?;
        Ok(())
    }
}

pub fn run_http_bench(options: &HttpBenchOptions) -> anyhow::Result<HttpBenchResult> {
    if options.payments == 0 || options.concurrency == 0 || options.wallets == 0 || options.merchants == 0 {
        bail!("--payments, --concurrency, --wallets and --merchants must be at least 1");
    }
    if options.round == 0 {
        bail!("--round must be at least 1");
    }
    let temporary = tempfile::tempdir().context("creating a temporary directory")?;
    let data = options.data.clone().unwrap_or_else(|| temporary.path().join("data"));
    let bench = BenchServer::start(&data, options.server_threads, options.client_threads)?;
    let measured = bench.drive(drive_payments(options, bench.address, &bench.admin_token, &bench.service));
    let payments_recorded = bench.service.projection().read().payments.len() as u64;
    bench.stop()?;

    let measured = measured?;

    let seconds = measured.timed.as_secs_f64();
    let succeeded = options.payments - measured.errors.min(options.payments);
    eprintln!("{}", measured.cpu.describe(options.payments, "payment"));
    let cpu = measured.cpu.total();
    let writer = measured.writer;
    let per_commit = |count: u64| if writer.batches == 0 { 0.0 } else { round2(count as f64 / writer.batches as f64) };
    let millis = |quantile: f64| round2(measured.histogram.value_at_quantile(quantile) as f64 / 1000.0);
    Ok(HttpBenchResult {
        payments_per_sec: if seconds > 0.0 { round2(succeeded as f64 / seconds) } else { 0.0 },
        p50_ms: millis(0.50),
        p90_ms: millis(0.90),
        p99_ms: millis(0.99),
        p999_ms: millis(0.999),
        max_ms: round2(measured.histogram.max() as f64 / 1000.0),
        errors: measured.errors,
        payments: options.payments,
        succeeded,
        payments_recorded,
        concurrency: options.concurrency,
        wallets: options.wallets,
        merchants: options.merchants,
        rounds: measured.rounds,
        elapsed_s: round2(seconds),
        setup_s: round2(measured.setup.as_secs_f64()),
        group_commits: writer.batches,
        mean_commands_per_commit: per_commit(writer.commands),
        mean_records_per_commit: per_commit(writer.records),
        flush_share: if seconds > 0.0 { round2(writer.flush_micros as f64 / 1e6 / seconds) } else { 0.0 },
        server_threads: crate::serve::worker_threads(options.server_threads),
        client_threads: options.client_threads,
        offered_rate: options.rate,
        late_starts: measured.late_starts,
        cpu_us_per_payment: round2(micros_per(cpu.on_cpu_ns, options.payments)),
        cpu_wait_us_per_payment: round2(micros_per(cpu.waiting_ns, options.payments)),
        cores_used: if seconds > 0.0 { round2(cpu.on_cpu_ns as f64 / 1e9 / seconds) } else { 0.0 },
    })
}

pub(crate) fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// The client side of the run: parties, tokens and top-ups, then rounds of codes and payments.
async fn drive_payments(
    options: &HttpBenchOptions,
    address: SocketAddr,
    admin: &str,
    service: &Service,
) -> anyhow::Result<Measured> {
    let started = Instant::now();
    let admin = bearer(admin)?;
    let mut clients = Clients::open(address, options.concurrency).await?;
    // A run id keeps idempotency keys and channel transaction ids unique if --data is reused.
    let run_id = uuid::Uuid::new_v4().simple().to_string();

    eprintln!("creating {} merchants and {} customers ...", options.merchants, options.wallets);
    let calls = (0..options.merchants)
        .map(|number| {
            let body = serde_json::json!({ "name": format!("Bench merchant {number}"), "fee_rate": "0.006" });
            Call::post("/v1/merchants".into(), &admin, &body)
        })
        .collect();
    let merchants = setup(&mut clients, "merchant registrations", calls)
        .await?
        .iter()
        .map(|body| json_field(body, "id"))
        .collect::<anyhow::Result<Vec<String>>>()?;
    let calls = (0..options.wallets)
        .map(|number| {
            let body = serde_json::json!({ "name": format!("Bench customer {number}") });
            Call::post("/v1/customers".into(), &admin, &body)
        })
        .collect();
    let customers = setup(&mut clients, "customer registrations", calls)
        .await?
        .iter()
        .map(|body| Ok((json_field(body, "id")?, json_field(body, "wallet_id")?)))
        .collect::<anyhow::Result<Vec<(String, String)>>>()?;

    eprintln!("issuing tokens ...");
    let token_call = |role: &str, subject: &str| {
        Call::post("/v1/tokens".into(), &admin, &serde_json::json!({ "role": role, "subject_id": subject }))
    };
    let calls = merchants.iter().map(|merchant| token_call("merchant", merchant)).collect();
    let merchant_tokens = setup(&mut clients, "merchant tokens", calls)
        .await?
        .iter()
        .map(|body| bearer(&json_field(body, "token")?))
        .collect::<anyhow::Result<Vec<HeaderValue>>>()?;
    let calls = customers.iter().map(|(customer, _)| token_call("customer", customer)).collect();
    let customer_tokens = setup(&mut clients, "customer tokens", calls)
        .await?
        .iter()
        .map(|body| bearer(&json_field(body, "token")?))
        .collect::<anyhow::Result<Vec<HeaderValue>>>()?;

    // Payment i is made from wallet i % wallets, for at most PAYMENT_FEN_MAX each.
    let per_wallet = options.payments.div_ceil(u64::from(options.wallets));
    let funding = per_wallet.saturating_mul(PAYMENT_FEN_MAX).max(1);
    let topups_per_wallet = funding.div_ceil(TOPUP_FEN_MAX);
    eprintln!("funding {} wallets with {} CNY each ...", options.wallets, fen(funding));
    let mut calls = Vec::new();
    for (number, (_, wallet)) in customers.iter().enumerate() {
        let mut left = funding;
        for part in 0..topups_per_wallet {
            let amount = left.min(TOPUP_FEN_MAX);
            left -= amount;
            let transaction = format!("bench-{run_id}-{number}-{part}");
            let body = serde_json::json!({ "amount": fen(amount), "channel": "bank", "channel_txn_id": transaction });
            calls.push(Call::post(format!("/v1/wallets/{wallet}/topups"), &admin, &body).with_key(&transaction)?);
        }
    }
    setup(&mut clients, "top-ups", calls).await?;

    let mut random = rand::rngs::StdRng::seed_from_u64(options.seed);
    let mut histogram = new_histogram()?;
    let mut errors = 0u64;
    let mut error_samples: Vec<String> = Vec::new();
    let mut timed = Duration::ZERO;
    let mut late_starts = 0u64;
    let mut writer = WriterSnapshot::default();
    let mut cpu = CpuUse::default();
    let mut rounds = 0u64;
    let mut done = 0u64;
    let mut setup_time = started.elapsed();
    let empty = serde_json::json!({});
    while done < options.payments {
        let count = (options.payments - done).min(options.round);
        let round_started = Instant::now();
        let indices = done..done + count;
        let calls = indices
            .clone()
            .map(|payment| {
                let customer = (payment % u64::from(options.wallets)) as usize;
                let (_, wallet) = &customers[customer];
                Call::post(format!("/v1/wallets/{wallet}/payment-codes"), &customer_tokens[customer], &empty)
            })
            .collect();
        let codes = setup(&mut clients, "payment codes", calls).await?;
        let mut calls = Vec::with_capacity(codes.len());
        for (payment, code) in indices.zip(&codes) {
            let merchant = (payment % u64::from(options.merchants)) as usize;
            let amount = random.gen_range(1..=PAYMENT_FEN_MAX);
            let order = format!("bench-{payment}");
            let body = serde_json::json!({
                "payment_code": json_field(code, "code")?,
                "amount": fen(amount),
                "order_ref": order,
            });
            let key = format!("bench-pay-{run_id}-{payment}");
            calls.push(Call::post("/v1/payments".into(), &merchant_tokens[merchant], &body).with_key(&key)?);
        }
        setup_time += round_started.elapsed();

        eprintln!("round {}: paying {count} ...", rounds + 1);
        let before = WriterSnapshot::take(service);
        let cpu_before = CpuSample::take();
        let driven = clients.drive_paced(calls, StatusCode::CREATED, false, Pace::from_rate(options.rate)).await?;
        cpu.add_between(&cpu_before, &CpuSample::take());
        let after = WriterSnapshot::take(service);
        writer.add_delta(before, after);
        timed += driven.elapsed;
        late_starts += driven.late_starts;
        histogram.add(&driven.histogram)?;
        errors += driven.errors;
        for sample in driven.error_samples {
            if error_samples.len() < ERROR_SAMPLES_MAX {
                eprintln!("  error: {sample}");
                error_samples.push(sample);
            }
        }
        rounds += 1;
        done += count;
        let round_seconds = round_started.elapsed().as_secs_f64();
        eprintln!(
            "round {rounds}: {count} payments in {:.2} s ({:.0}/s, p99 {:.2} ms, {} errors); {done}/{} done",
            driven.elapsed.as_secs_f64(),
            count as f64 / driven.elapsed.as_secs_f64().max(1e-9),
            driven.histogram.value_at_quantile(0.99) as f64 / 1000.0,
            driven.errors,
            options.payments,
        );
        if round_seconds > ROUND_SECONDS_WARN {
            eprintln!("  warning: the round took {round_seconds:.1} s; codes expire after 60 s (lower --round)");
        }
    }
    drop(clients);
    Ok(Measured { histogram, errors, late_starts, rounds, timed, setup: setup_time, writer, cpu })
}
