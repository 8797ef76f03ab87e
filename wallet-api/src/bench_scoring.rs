//! `gaswallet bench scoring`: a bulk recompute of credit profiles over many customers.
//!
//! Setup (untimed): `--customers` synthetic customers from the `risk` crate's seeded generator
//! (the same one the model was fitted and evaluated on), each turned into the running facts the
//! service keeps per customer (`service::risk::CustomerRisk`, built by replaying its history).
//! Timed: `profiles_in_parallel`, the function `POST /v1/jobs/score` and `gaswallet score` run:
//! features as of now, the scorecard, reason codes with their texts and the grade's credit limit,
//! on every core. What a rescore then writes (only the limits that changed) is not in the timing.

use crate::service::risk::{profiles_in_parallel, CustomerRisk};
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct ScoringBenchOptions {
    pub customers: usize,
    pub seed: u64,
    pub threads: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScoringBenchResult {
    pub customers_per_sec: f64,
    pub elapsed_s: f64,
    pub customers: usize,
    pub threads: usize,
    pub failed: usize,
    /// How many customers landed in each grade (a sanity check that the work was real).
    pub grades: BTreeMap<String, usize>,
    pub setup_s: f64,
    pub model_version: String,
}

fn bar(length: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg:<10} [{bar:30}] {pos}/{len} {per_sec}") {
        bar.set_style(style.progress_chars("#>-"));
    }
    bar.set_message(what.to_owned());
    bar
}

pub fn run_scoring_bench(options: &ScoringBenchOptions) -> anyhow::Result<ScoringBenchResult> {
    if options.customers == 0 {
        bail!("--customers must be at least 1");
    }
    let model = risk::Model::load_default().context("loading the shipped credit model")?;
    let setup_started = Instant::now();
    let setup = bar(options.customers as u64, "customers");
    let mut built: Vec<(Uuid, CustomerRisk)> = Vec::with_capacity(options.customers);
    let mut as_of = 0;
    for index in 0..options.customers as u64 {
        let synthetic = risk::synthetic::generate_customer(options.seed, risk::synthetic::Period::First, index);
        as_of = synthetic.as_of_unix_ms;
        let customer = CustomerRisk::from_history(&synthetic.history)
            .map_err(|error| anyhow::anyhow!("synthetic customer {index}: {error}"))?;
        built.push((Uuid::from_u128(u128::from(index)), customer));
        if index % 10_000 == 0 {
            setup.set_position(index);
        }
    }
    setup.finish_and_clear();
    let setup_s = setup_started.elapsed().as_secs_f64();
    let threads =
        options.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get));
    let customers: Vec<(&Uuid, &CustomerRisk)> = built.iter().map(|(id, risk)| (id, risk)).collect();
    let now = ledger::Timestamp(as_of * 1_000);
    let scoring = bar(options.customers as u64, "scoring");
    let started = Instant::now();
    let profiles = profiles_in_parallel(&model, &customers, now, threads, &|done| scoring.inc(done as u64));
    let elapsed_s = started.elapsed().as_secs_f64();
    scoring.finish_and_clear();
    let mut grades = BTreeMap::new();
    let mut failed = 0;
    for (_, profile) in &profiles {
        match profile {
            Ok(profile) => *grades.entry(format!("{:?}", profile.grade)).or_insert(0) += 1,
            Err(_) => failed += 1,
        }
    }
    Ok(ScoringBenchResult {
        customers_per_sec: (options.customers as f64 / elapsed_s * 100.0).round() / 100.0,
        elapsed_s: (elapsed_s * 1000.0).round() / 1000.0,
        customers: options.customers,
        threads,
        failed,
        grades,
        setup_s: (setup_s * 100.0).round() / 100.0,
        model_version: model.version().to_owned(),
    })
}
