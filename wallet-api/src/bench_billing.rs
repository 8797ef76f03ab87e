//! `gaswallet bench billing`: a monthly billing run over many meters, through the real service.
//!
//! Setup (untimed): `--meters` customers in monthly billing mode, each with one meter and one
//! accepted reading in March, through the service's own operations on a fresh data directory.
//! The wallets are left empty, so every bill is the heavy case: booked as arrears, with the
//! valve-close decision in the same linked group. Timed: the clock moves to the due date and one
//! `run_monthly_billing` issues every bill. The last line is one JSON object.

use crate::serve::open_service_with_clock;
use crate::service::metering::{reading_message, ReadingInput};
use crate::service::model::BillingMode;
use crate::service::Service;
use anyhow::{bail, Context};
use ed25519_dalek::{Signer, SigningKey};
use rust_decimal::Decimal;
use serde::Serialize;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

/// Setup operations in flight at once.
const SETUP_CONCURRENCY: usize = 512;
/// Readings per ingestion batch during setup.
const SETUP_READINGS_PER_BATCH: usize = 1000;

#[derive(Debug, Clone)]
pub struct BillingBenchOptions {
    pub meters: usize,
    pub data: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BillingBenchResult {
    pub bills_per_sec: f64,
    pub elapsed_s: f64,
    pub bills: usize,
    pub meters: usize,
    pub setup_s: f64,
    pub group_commits: u64,
    pub records_committed: u64,
}

fn progress(interactive: bool, what: &str, done: usize, total: usize) {
    // A one-line progress bar on a terminal; quiet in logs and CI.
    if interactive && (done == total || done % 10_000 == 0) {
        let width = 30;
        let filled = (done * width).checked_div(total).unwrap_or(width).min(width);
        eprint!("\r{what:<10} [{}{}] {done}/{total}", "#".repeat(filled), " ".repeat(width - filled));
        if done == total {
            eprintln!();
        }
    }
}

pub fn run_billing_bench(options: &BillingBenchOptions) -> anyhow::Result<BillingBenchResult> {
    if options.meters == 0 {
        bail!("--meters must be at least 1");
    }
    let interactive = std::io::stderr().is_terminal();
    let temporary = tempfile::tempdir().context("creating a temporary directory")?;
    let data = options.data.clone().unwrap_or_else(|| temporary.path().join("data"));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let at = |text: &str| crate::time::parse_rfc3339(text).context("a bench time");
    let clock = Arc::new(ledger::ManualClock::new(at("2026-04-01T12:00:00+08:00")?));
    runtime.block_on(async {
        let setup_started = Instant::now();
        let (service, _) = open_service_with_clock(&data, clock.clone()).await?;
        let token = std::fs::read_to_string(data.join("admin.token"))?;
        let admin = service.authenticate(token.trim()).context("the admin token")?;
        // One key for every meter: the run measures billing, not key generation.
        let key = SigningKey::from_bytes(&[42u8; 32]);
        let public_key = hex::encode(key.verifying_key().to_bytes());
        let installed_at = at("2026-03-01T00:00:00Z")?;

        let mut meter_ids: Vec<String> = Vec::with_capacity(options.meters);
        let mut tasks = tokio::task::JoinSet::new();
        let mut next = 0usize;
        while meter_ids.len() < options.meters {
            while next < options.meters && tasks.len() < SETUP_CONCURRENCY {
                let service: Arc<Service> = Arc::clone(&service);
                let public_key = public_key.clone();
                let number = next;
                tasks.spawn(async move {
                    let customer = service
                        .register_customer(&format!("Bench {number}"), Some(3), None, Some(BillingMode::Monthly), None)
                        .await
                        .map_err(|error| anyhow::anyhow!("registering a customer: {error}"))?;
                    let customer_id: uuid::Uuid = customer.body["id"].as_str().unwrap_or_default().parse()?;
                    let meter = service
                        .register_meter(
                            &admin,
                            &format!("BENCH-{number}"),
                            customer_id,
                            &public_key,
                            None,
                            Decimal::ZERO,
                            Some(installed_at),
                        )
                        .await
                        .map_err(|error| anyhow::anyhow!("registering a meter: {error}"))?;
                    anyhow::Ok(meter["id"].as_str().unwrap_or_default().to_owned())
                });
                next += 1;
            }
            if let Some(joined) = tasks.join_next().await {
                meter_ids.push(joined??);
                progress(interactive, "meters", meter_ids.len(), options.meters);
            }
        }
        let mut read = 0usize;
        let mut batches = tokio::task::JoinSet::new();
        for chunk in meter_ids.chunks(SETUP_READINGS_PER_BATCH) {
            let readings: Vec<ReadingInput> = chunk
                .iter()
                .map(|meter_id| {
                    let (register, read_at) = ("12.345", "2026-03-15T04:00:00Z");
                    let signature = key.sign(reading_message(meter_id, 1, register, read_at).as_bytes());
                    ReadingInput {
                        meter_id: meter_id.clone(),
                        counter: 1,
                        register: register.to_owned(),
                        read_at: read_at.to_owned(),
                        signature: hex::encode(signature.to_bytes()),
                    }
                })
                .collect();
            let service: Arc<Service> = Arc::clone(&service);
            batches.spawn(async move { service.ingest_readings(&admin, &readings).await });
            while batches.len() >= 4 {
                if let Some(joined) = batches.join_next().await {
                    read += check_readings(joined?)?;
                    progress(interactive, "readings", read, options.meters);
                }
            }
        }
        while let Some(joined) = batches.join_next().await {
            read += check_readings(joined?)?;
            progress(interactive, "readings", read, options.meters);
        }
        let setup_s = setup_started.elapsed().as_secs_f64();

        // The billing run: March's bills fall due on 10 April (a Friday, midday: no friendly hours).
        clock.set(at("2026-04-10T12:00:00+08:00")?);
        let metrics = service.reader().metrics();
        let load = |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
        let (batches_before, records_before) = (load(&metrics.batches_committed), load(&metrics.records_committed));
        eprintln!("billing {} customers ...", options.meters);
        let started = Instant::now();
        let bills = service.run_monthly_billing().await.map_err(|error| anyhow::anyhow!("billing: {error}"))?;
        let elapsed = started.elapsed().as_secs_f64();
        if bills != options.meters {
            bail!("{bills} bills issued for {} customers", options.meters);
        }
        let result = BillingBenchResult {
            bills_per_sec: crate::bench_http::round2(bills as f64 / elapsed),
            elapsed_s: crate::bench_http::round2(elapsed),
            bills,
            meters: options.meters,
            setup_s: crate::bench_http::round2(setup_s),
            group_commits: load(&metrics.batches_committed) - batches_before,
            records_committed: load(&metrics.records_committed) - records_before,
        };
        drop(service);
        anyhow::Ok(result)
    })
}

fn check_readings(
    results: Result<Vec<crate::service::metering::ReadingResult>, crate::service::error::ServiceError>,
) -> anyhow::Result<usize> {
    let results = results.map_err(|error| anyhow::anyhow!("ingesting readings: {error}"))?;
    if let Some(refused) = results.iter().find(|result| result.status != "accepted") {
        bail!("a setup reading was refused: {refused:?}");
    }
    Ok(results.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_bills_every_meter() {
        let result = run_billing_bench(&BillingBenchOptions { meters: 50, data: None }).unwrap();
        assert_eq!(result.bills, 50);
        // Each bill: its note, the arrears entry and the valve close.
        assert_eq!(result.records_committed, 150);
    }
}
