//! `gaswallet bench readings`: signed meter readings through the whole HTTP stack.
//!
//! Starts the real server in-process on `127.0.0.1:0` over a fresh data directory (as
//! `gaswallet bench http` does), then sets up over HTTP (not timed): customers with generously
//! funded wallets, a concentrator and its token, and `--meters` meters, each with its own ed25519
//! key derived from (seed, meter index). All readings are signed before the timed phase: meter `m`
//! reads once per hour from its installation on, counters 1, 2, 3, ..., 0.1 to 2 m³ per reading
//! (well under the default 6 m³/h), every reading in the past.
//!
//! Timed phase: the readings go in rounds (round `r` holds counter `r + 1` of every meter), each
//! round cut into concentrator batches of `--batch` readings (one reading per meter per batch, so
//! batches of a round touch disjoint customers), posted to `POST /v1/meter-readings` from
//! `--concurrency` keep-alive connections. A round is finished before the next starts, so a meter's
//! readings arrive in counter order. Readings answered `accepted` count; everything else (a
//! rejection, a request that did not answer 200) is an error.
//!
//! Then, for comparison, the same (message, signature) pairs are verified bare with
//! `VerifyingKey::verify` (on one thread and on two). Progress goes to stderr; the last line on
//! stdout is one JSON object.

use crate::bench_cpu::{micros_per, CpuSample, CpuUse};
use crate::bench_http::{
    bearer, fen, json_field, new_histogram, round2, setup, truncate, BenchServer, Call, Clients, WriterSnapshot,
    ERROR_SAMPLES_MAX,
};
use crate::service::Service;
use anyhow::{bail, Context};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hyper::body::Bytes;
use hyper::{Method, StatusCode};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Largest single top-up the benchmark books, in fen (the service allows 10 000 000.00).
const TOPUP_FEN_MAX: u64 = 100_000_000;
/// Funding per reading, in fen: 2 m³ at the highest residential price (4.23) is 8.46 CNY.
const FUNDING_PER_READING_FEN: u64 = 1_000;
/// Smallest and largest consumption per reading, in litres (thousandths of a m³).
const VOLUME_LITRES: (u64, u64) = (100, 2_000);
/// Hours between two readings of a meter.
const READING_INTERVAL_HOURS: i64 = 1;

/// Options of `gaswallet bench readings`.
#[derive(Debug, Clone)]
pub struct ReadingsBenchOptions {
    /// Meters, each with its own key.
    pub meters: u32,
    /// Readings to post (timed); meter `i % meters` takes reading `i`.
    pub readings: u64,
    /// Readings per request (at most 1000).
    pub batch: usize,
    /// Concurrent keep-alive connections posting batches.
    pub concurrency: usize,
    /// Meters per customer (1: one customer per meter).
    pub meters_per_customer: u32,
    /// Connections used for the (untimed) setup requests.
    pub setup_concurrency: usize,
    /// Pairs verified bare for `verify_only_per_sec` (0: all of them).
    pub verify_pairs: u64,
    /// Worker threads of the server's runtime; 0: as `serve` has them (two per core).
    pub server_threads: usize,
    /// Worker threads of a separate client runtime; 0: the clients share the server's runtime.
    pub client_threads: usize,
    /// Seed for the meter keys and the volumes.
    pub seed: u64,
    /// Data directory to use instead of a fresh temporary one (it should be empty).
    pub data: Option<PathBuf>,
}

/// The result, printed as the last line.
#[derive(Debug, Clone, Serialize)]
pub struct ReadingsBenchResult {
    /// Accepted readings per second of the timed phase.
    pub readings_per_sec: f64,
    /// Bare `VerifyingKey::verify` of the same pairs on one thread.
    pub verify_only_per_sec: f64,
    /// The same on two threads.
    pub verify_only_2t_per_sec: f64,
    /// `readings_per_sec / verify_only_per_sec`.
    pub ratio_to_verify: f64,
    /// `readings_per_sec / verify_only_2t_per_sec`.
    pub ratio_to_verify_2t: f64,
    /// Latency of one batch request.
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Readings not accepted (rejected, or in a request that did not answer 200).
    pub errors: u64,
    /// Requests that did not answer 200.
    pub request_errors: u64,
    pub readings: u64,
    pub accepted: u64,
    pub meters: u32,
    pub customers: u32,
    pub batch: usize,
    pub concurrency: usize,
    pub rounds: u64,
    pub requests: u64,
    /// Time spent in the timed phase.
    pub elapsed_s: f64,
    /// Setup over HTTP (parties, top-ups, tokens, meters).
    pub setup_s: f64,
    /// Deriving keys and signing every reading (before the timed phase).
    pub sign_s: f64,
    /// Ledger group commits during the timed phase.
    pub group_commits: u64,
    pub mean_commands_per_commit: f64,
    pub mean_records_per_commit: f64,
    /// Share of the timed wall time the writer spent writing and flushing.
    pub flush_share: f64,
    /// Pairs verified for the verify-only figures.
    pub verify_pairs: u64,
    pub server_threads: usize,
    pub client_threads: usize,
    /// CPU time per reading over the timed phase, all threads of the process (verification,
    /// server, writer, sled, the benchmark's client); 0 where `/proc` cannot be read.
    pub cpu_us_per_reading: f64,
    /// Time per reading that the process's threads spent runnable but waiting for a core.
    pub cpu_wait_us_per_reading: f64,
    /// Cores busy on average over the timed phase (CPU time / wall time).
    pub cores_used: f64,
}

/// Every reading, signed, in the order it is sent.
struct Signed {
    /// Request bodies, round by round.
    rounds: Vec<Vec<Bytes>>,
    /// (meter index, signed message, signature) of every reading.
    pairs: Vec<(u32, String, Signature)>,
    /// The meters' public keys, by meter index.
    keys: Vec<VerifyingKey>,
}

/// What the client side measured.
#[derive(Debug)]
struct Measured {
    histogram: hdrhistogram::Histogram<u64>,
    accepted: u64,
    request_errors: u64,
    rounds: u64,
    requests: u64,
    customers: u32,
    timed: Duration,
    setup: Duration,
    sign: Duration,
    writer: WriterSnapshot,
    cpu: CpuUse,
    /// Kept for the verify-only measurement after the server is stopped.
    pairs: Vec<(u32, String, Signature)>,
    keys: Vec<VerifyingKey>,
}

#[derive(Debug, Deserialize)]
struct ReadingsAnswer {
    results: Vec<ReadingAnswer>,
}

#[derive(Debug, Deserialize)]
struct ReadingAnswer {
    status: String,
    #[serde(default)]
    code: Option<String>,
}

/// The key of meter `index`: a hash of (seed, index), so setup needs no randomness source.
fn meter_key(seed: u64, index: u32) -> SigningKey {
    let mut hasher = Sha256::new();
    hasher.update(b"gaswallet bench readings meter key");
    hasher.update(seed.to_le_bytes());
    hasher.update(index.to_le_bytes());
    SigningKey::from_bytes(&hasher.finalize().into())
}

/// Runs `work` over `0..count` on up to two threads (the machine has two cores), in order.
fn parallel<T: Send>(count: usize, work: impl Fn(usize) -> T + Sync) -> anyhow::Result<Vec<T>> {
    let threads = std::thread::available_parallelism().map_or(2, usize::from).clamp(1, 2);
    let chunk = count.div_ceil(threads).max(1);
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|start| scope.spawn(move || (start..(start + chunk).min(count)).map(work).collect::<Vec<T>>()))
            .collect();
        let mut all = Vec::with_capacity(count);
        for handle in handles {
            all.extend(handle.join().map_err(|_| anyhow::anyhow!("a worker thread panicked"))?);
        }
        Ok(all)
    })
}

fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn run_readings_bench(options: &ReadingsBenchOptions) -> anyhow::Result<ReadingsBenchResult> {
    if options.meters == 0 || options.readings == 0 || options.concurrency == 0 || options.setup_concurrency == 0 {
        bail!("--meters, --readings, --concurrency and --setup-concurrency must be at least 1");
    }
    if options.batch == 0 || options.batch > crate::service::metering::READINGS_PER_REQUEST_MAX {
        bail!("--batch must be 1 to {}", crate::service::metering::READINGS_PER_REQUEST_MAX);
    }
    if options.meters_per_customer == 0 {
        bail!("--meters-per-customer must be at least 1");
    }
    let temporary = tempfile::tempdir().context("creating a temporary directory")?;
    let data = options.data.clone().unwrap_or_else(|| temporary.path().join("data"));
    let bench = BenchServer::start(&data, options.server_threads, options.client_threads)?;
    let measured = bench.drive(drive_readings(options, bench.address, &bench.admin_token, &bench.service));
    bench.stop()?;
    let measured = measured?;

    // Bare verification of the same pairs, with the server stopped (the machine is otherwise idle).
    let verify_count = match options.verify_pairs {
        0 => measured.pairs.len(),
        count => measured.pairs.len().min(usize::try_from(count).unwrap_or(usize::MAX)),
    };
    let pairs = &measured.pairs[..verify_count];
    eprintln!("verifying {verify_count} signatures bare, on one thread ...");
    let (one_thread, failed_one) = verify_bare(pairs, &measured.keys, 1)?;
    eprintln!("verifying {verify_count} signatures bare, on two threads ...");
    let (two_threads, failed_two) = verify_bare(pairs, &measured.keys, 2)?;
    if failed_one + failed_two > 0 {
        bail!("{} bare verifications failed", failed_one + failed_two);
    }

    let seconds = measured.timed.as_secs_f64();
    let readings_per_sec = if seconds > 0.0 { measured.accepted as f64 / seconds } else { 0.0 };
    eprintln!("{}", measured.cpu.describe(options.readings, "reading"));
    let cpu = measured.cpu.total();
    let rate = |elapsed: Duration| {
        let seconds = elapsed.as_secs_f64();
        if seconds > 0.0 {
            verify_count as f64 / seconds
        } else {
            0.0
        }
    };
    let verify_one = rate(one_thread);
    let verify_two = rate(two_threads);
    let ratio = |verify: f64| if verify > 0.0 { (readings_per_sec / verify * 1000.0).round() / 1000.0 } else { 0.0 };
    let writer = measured.writer;
    let per_commit = |count: u64| if writer.batches == 0 { 0.0 } else { round2(count as f64 / writer.batches as f64) };
    let millis = |quantile: f64| round2(measured.histogram.value_at_quantile(quantile) as f64 / 1000.0);
    Ok(ReadingsBenchResult {
        readings_per_sec: round2(readings_per_sec),
        verify_only_per_sec: round2(verify_one),
        verify_only_2t_per_sec: round2(verify_two),
        ratio_to_verify: ratio(verify_one),
        ratio_to_verify_2t: ratio(verify_two),
        p50_ms: millis(0.50),
        p90_ms: millis(0.90),
        p99_ms: millis(0.99),
        max_ms: round2(measured.histogram.max() as f64 / 1000.0),
        errors: options.readings - measured.accepted.min(options.readings),
        request_errors: measured.request_errors,
        readings: options.readings,
        accepted: measured.accepted,
        meters: options.meters,
        customers: measured.customers,
        batch: options.batch,
        concurrency: options.concurrency,
        rounds: measured.rounds,
        requests: measured.requests,
        elapsed_s: round2(seconds),
        setup_s: round2(measured.setup.as_secs_f64()),
        sign_s: round2(measured.sign.as_secs_f64()),
        group_commits: writer.batches,
        mean_commands_per_commit: per_commit(writer.commands),
        mean_records_per_commit: per_commit(writer.records),
        flush_share: if seconds > 0.0 { round2(writer.flush_micros as f64 / 1e6 / seconds) } else { 0.0 },
        verify_pairs: verify_count as u64,
        server_threads: crate::serve::worker_threads(options.server_threads),
        client_threads: options.client_threads,
        cpu_us_per_reading: round2(micros_per(cpu.on_cpu_ns, options.readings)),
        cpu_wait_us_per_reading: round2(micros_per(cpu.waiting_ns, options.readings)),
        cores_used: if seconds > 0.0 { round2(cpu.on_cpu_ns as f64 / 1e9 / seconds) } else { 0.0 },
    })
}

/// Verifies every pair with its meter's key on `threads` threads; returns the time and the failures.
fn verify_bare(
    pairs: &[(u32, String, Signature)],
    keys: &[VerifyingKey],
    threads: usize,
) -> anyhow::Result<(Duration, u64)> {
    let chunk = pairs.len().div_ceil(threads.max(1)).max(1);
    let started = Instant::now();
    let failed = std::thread::scope(|scope| {
        let handles: Vec<_> = pairs
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .filter(|(meter, message, signature)| {
                            keys.get(*meter as usize)
                                .is_none_or(|key| key.verify(message.as_bytes(), signature).is_err())
                        })
                        .count() as u64
                })
            })
            .collect();
        let mut failed = 0;
        for handle in handles {
            failed += handle.join().map_err(|_| anyhow::anyhow!("a verifying thread panicked"))?;
        }
        anyhow::Ok(failed)
    })?;
    Ok((started.elapsed(), failed))
}

/// Signs every reading and builds the request bodies, round by round.
fn sign_readings(
    options: &ReadingsBenchOptions,
    meter_ids: &[String],
    signing: &[SigningKey],
    installed_at: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Signed> {
    let meters = meter_ids.len() as u64;
    let rounds = options.readings.div_ceil(meters);
    let mut random = rand::rngs::StdRng::seed_from_u64(options.seed);
    // Registers in litres, per meter, as they stand after the previous round.
    let mut registers = vec![0u64; meter_ids.len()];
    let mut all_rounds = Vec::with_capacity(rounds as usize);
    let mut pairs = Vec::with_capacity(options.readings as usize);
    for round in 0..rounds {
        let in_round = (options.readings - round * meters).min(meters) as usize;
        let counter = round + 1;
        let read_at = rfc3339(installed_at + chrono::Duration::hours(READING_INTERVAL_HOURS * i64::try_from(counter)?));
        let mut messages = Vec::with_capacity(in_round);
        for (meter, register) in registers.iter_mut().enumerate().take(in_round) {
            *register += random.gen_range(VOLUME_LITRES.0..=VOLUME_LITRES.1);
            let register = format!("{}.{:03}", *register / 1000, *register % 1000);
            let message = format!("{}|{counter}|{register}|{read_at}", meter_ids[meter]);
            messages.push((meter, register, message));
        }
        let signatures = parallel(in_round, |index| signing[messages[index].0].sign(messages[index].2.as_bytes()))?;
        let mut bodies = Vec::with_capacity(in_round.div_ceil(options.batch));
        for (batch, signatures) in messages.chunks(options.batch).zip(signatures.chunks(options.batch)) {
            let mut body = String::with_capacity(batch.len() * 280 + 16);
            body.push_str("{\"readings\":[");
            for (position, ((meter, register, _), signature)) in batch.iter().zip(signatures).enumerate() {
                if position > 0 {
                    body.push(',');
                }
                write!(
                    body,
                    "{{\"meter_id\":\"{}\",\"counter\":{counter},\"register\":\"{register}\",\"read_at\":\"{read_at}\",\
                     \"signature\":\"{}\"}}",
                    meter_ids[*meter],
                    hex::encode(signature.to_bytes()),
                )?;
            }
            body.push_str("]}");
            bodies.push(Bytes::from(body));
        }
        for ((meter, _, message), signature) in messages.into_iter().zip(signatures) {
            pairs.push((meter as u32, message, signature));
        }
        all_rounds.push(bodies);
    }
    let keys = signing.iter().map(SigningKey::verifying_key).collect();
    Ok(Signed { rounds: all_rounds, pairs, keys })
}

/// The client side of the run: setup, signing, then the timed rounds of batches.
async fn drive_readings(
    options: &ReadingsBenchOptions,
    address: SocketAddr,
    admin: &str,
    service: &Service,
) -> anyhow::Result<Measured> {
    let started = Instant::now();
    let admin = bearer(admin)?;
    let mut clients = Clients::open(address, options.setup_concurrency).await?;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let meters = options.meters as usize;
    let customers = options.meters.div_ceil(options.meters_per_customer);
    let rounds = options.readings.div_ceil(u64::from(options.meters));

    eprintln!("creating {customers} customers ...");
    let calls = (0..customers)
        .map(|number| {
            let body = serde_json::json!({ "name": format!("Bench metered customer {number}") });
            Call::post("/v1/customers".into(), &admin, &body)
        })
        .collect();
    let customer_ids = setup(&mut clients, "customer registrations", calls)
        .await?
        .iter()
        .map(|body| Ok((json_field(body, "id")?, json_field(body, "wallet_id")?)))
        .collect::<anyhow::Result<Vec<(String, String)>>>()?;

    // Every reading costs at most 2 m³ at the top price: fund that, so nothing goes to arrears.
    let funding = rounds
        .saturating_mul(u64::from(options.meters_per_customer))
        .saturating_mul(FUNDING_PER_READING_FEN)
        .saturating_add(10_000);
    eprintln!("funding {customers} wallets with {} CNY each ...", fen(funding));
    let mut calls = Vec::new();
    for (number, (_, wallet)) in customer_ids.iter().enumerate() {
        let mut left = funding;
        let mut part = 0;
        while left > 0 {
            let amount = left.min(TOPUP_FEN_MAX);
            left -= amount;
            let transaction = format!("bench-readings-{run_id}-{number}-{part}");
            let body = serde_json::json!({ "amount": fen(amount), "channel": "bank", "channel_txn_id": transaction });
            calls.push(Call::post(format!("/v1/wallets/{wallet}/topups"), &admin, &body).with_key(&transaction)?);
            part += 1;
        }
    }
    setup(&mut clients, "top-ups", calls).await?;

    eprintln!("registering a concentrator and its token ...");
    let concentrator = setup(
        &mut clients,
        "concentrator registration",
        vec![Call::post("/v1/concentrators".into(), &admin, &serde_json::json!({ "name": "Bench gateway" }))],
    )
    .await?;
    let concentrator = json_field(&concentrator[0], "id")?;
    let token = setup(
        &mut clients,
        "concentrator token",
        vec![Call::post(
            "/v1/tokens".into(),
            &admin,
            &serde_json::json!({ "role": "concentrator", "subject_id": concentrator }),
        )],
    )
    .await?;
    let concentrator_token = bearer(&json_field(&token[0], "token")?)?;

    let sign_started = Instant::now();
    eprintln!("deriving {meters} meter keys ...");
    let seed = options.seed;
    let signing = parallel(meters, |index| meter_key(seed, index as u32))?;
    let mut sign = sign_started.elapsed();

    // Installed on a whole hour far enough back that the last reading is still an hour in the past.
    let now = i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs())?;
    let hour = now - now.rem_euclid(3600);
    let back_hours = READING_INTERVAL_HOURS * (i64::try_from(rounds)? + 2);
    let installed_at = chrono::DateTime::from_timestamp(hour - back_hours * 3600, 0)
        .ok_or_else(|| anyhow::anyhow!("--readings / --meters is too large"))?;
    eprintln!("registering {meters} meters (installed {}) ...", rfc3339(installed_at));
    let serial_prefix = &run_id[..8];
    let calls = signing
        .iter()
        .enumerate()
        .map(|(index, key)| {
            let (customer, _) = &customer_ids[index / options.meters_per_customer as usize];
            let body = serde_json::json!({
                "serial": format!("BR-{serial_prefix}-{index}"),
                "customer_id": customer,
                "public_key": hex::encode(key.verifying_key().to_bytes()),
                "initial_register": "0.000",
                "installed_at": rfc3339(installed_at),
            });
            Call::post("/v1/meters".into(), &admin, &body)
        })
        .collect();
    let meter_ids = setup(&mut clients, "meter registrations", calls)
        .await?
        .iter()
        .map(|body| json_field(body, "id"))
        .collect::<anyhow::Result<Vec<String>>>()?;
    drop(clients);
    let mut setup_time = started.elapsed() - sign;

    eprintln!("signing {} readings ({rounds} rounds of up to {meters}) ...", options.readings);
    let sign_started = Instant::now();
    let signed = sign_readings(options, &meter_ids, &signing, installed_at)?;
    sign += sign_started.elapsed();
    drop(signing);
    eprintln!("signed in {:.1} s", sign.as_secs_f64());

    let connect_started = Instant::now();
    let mut clients = Clients::open(address, options.concurrency).await?;
    setup_time += connect_started.elapsed();
    let path = "/v1/meter-readings".to_owned();
    let mut histogram = new_histogram()?;
    let mut accepted = 0u64;
    let mut request_errors = 0u64;
    let mut requests = 0u64;
    let mut samples: Vec<String> = Vec::new();
    let mut codes: BTreeMap<String, u64> = BTreeMap::new();
    let mut timed = Duration::ZERO;
    let mut writer = WriterSnapshot::default();
    let mut cpu = CpuUse::default();
    let mut done = 0u64;
    for (round, bodies) in signed.rounds.into_iter().enumerate() {
        let calls: Vec<Call> = bodies
            .into_iter()
            .map(|body| Call {
                method: Method::POST,
                path: path.clone(),
                authorization: concentrator_token.clone(),
                idempotency_key: None,
                body,
            })
            .collect();
        let count = calls.len();
        let before = WriterSnapshot::take(service);
        let cpu_before = CpuSample::take();
        let driven = clients.drive(calls, StatusCode::OK, true).await?;
        cpu.add_between(&cpu_before, &CpuSample::take());
        let after = WriterSnapshot::take(service);
        writer.add_delta(before, after);
        timed += driven.elapsed;
        histogram.add(&driven.histogram)?;
        request_errors += driven.errors;
        requests += count as u64;
        for sample in driven.error_samples {
            if samples.len() < ERROR_SAMPLES_MAX {
                eprintln!("  error: {sample}");
                samples.push(sample);
            }
        }
        let mut round_accepted = 0u64;
        let mut round_readings = 0u64;
        for (status, body) in &driven.answers {
            if *status != StatusCode::OK.as_u16() {
                continue;
            }
            let answer: ReadingsAnswer = serde_json::from_slice(body)
                .with_context(|| format!("reading an answer: {}", truncate(&String::from_utf8_lossy(body))))?;
            round_readings += answer.results.len() as u64;
            for result in answer.results {
                if result.status == "accepted" {
                    round_accepted += 1;
                } else {
                    let code = result.code.unwrap_or_else(|| result.status.clone());
                    if samples.len() < ERROR_SAMPLES_MAX {
                        let sample = format!("round {}: a reading was {}: {code}", round + 1, result.status);
                        eprintln!("  error: {sample}");
                        samples.push(sample);
                    }
                    *codes.entry(code).or_default() += 1;
                }
            }
        }
        accepted += round_accepted;
        done += round_readings;
        eprintln!(
            "round {}: {count} requests, {round_accepted} readings accepted in {:.2} s ({:.0}/s, p99 {:.2} ms, \
             {} request errors); {done}/{} answered",
            round + 1,
            driven.elapsed.as_secs_f64(),
            round_accepted as f64 / driven.elapsed.as_secs_f64().max(1e-9),
            driven.histogram.value_at_quantile(0.99) as f64 / 1000.0,
            driven.errors,
            options.readings,
        );
    }
    if !codes.is_empty() {
        eprintln!("rejections by code: {codes:?}");
    }
    drop(clients);
    Ok(Measured {
        histogram,
        accepted,
        request_errors,
        rounds,
        requests,
        customers,
        timed,
        setup: setup_time,
        sign,
        writer,
        cpu,
        pairs: signed.pairs,
        keys: signed.keys,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn meter_keys_are_deterministic_and_distinct() {
        assert_eq!(meter_key(1, 0).to_bytes(), meter_key(1, 0).to_bytes());
        assert_ne!(meter_key(1, 0).to_bytes(), meter_key(1, 1).to_bytes());
        assert_ne!(meter_key(1, 0).to_bytes(), meter_key(2, 0).to_bytes());
    }

    #[test]
    fn a_small_run_accepts_every_reading() {
        let result = run_readings_bench(&ReadingsBenchOptions {
            meters: 30,
            readings: 100,
            batch: 20,
            concurrency: 2,
            meters_per_customer: 2,
            setup_concurrency: 4,
            verify_pairs: 0,
            server_threads: 2,
            client_threads: 1,
            seed: 7,
            data: None,
        })
        .unwrap();
        assert_eq!(result.errors, 0, "{result:?}");
        assert_eq!(result.accepted, 100);
        assert_eq!(result.rounds, 4);
        assert_eq!(result.customers, 15);
        assert_eq!(result.verify_pairs, 100);
        assert!(result.readings_per_sec > 0.0 && result.verify_only_per_sec > 0.0);
        if cfg!(target_os = "linux") {
            // 100 signature checks alone take well over a microsecond each.
            assert!(result.cpu_us_per_reading > 1.0, "{result:?}");
            assert!(result.cores_used > 0.0 && result.cores_used <= 64.0, "{result:?}");
        }
    }
}
