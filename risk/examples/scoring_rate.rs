//! Measures how fast the shipped model scores customers, on one thread.
//!
//! ```text
//! cargo run --release -p risk --example scoring_rate [-- CUSTOMERS]
//! ```
//!
//! Builds features for 10 000 synthetic customers (seed fixed), repeats them to `CUSTOMERS`
//! (default 1 000 000), then times three paths: [`Model::score_many`] (bulk, no allocation per
//! customer), [`Model::profile`] (the service's one-customer path with strings), and the
//! incremental [`FeatureAccumulator`] replaying histories (events per second). A measurement
//! tool, not a test: nothing here asserts a time.

use std::hint::black_box;
use std::time::Instant;

use risk::features::features_from_history;
use risk::model::Model;
use risk::synthetic::{generate_customer, Period};
use risk::{CustomerFeatures, FeatureAccumulator};

const SEED: u64 = 7;
const DISTINCT_CUSTOMERS: u64 = 10_000;

fn main() {
    let customers: usize = std::env::args().nth(1).and_then(|text| text.parse().ok()).unwrap_or(1_000_000);
    let model = Model::load_default().unwrap_or_else(|error| panic!("default model: {error}"));
    let synthetic: Vec<_> =
        (0..DISTINCT_CUSTOMERS).map(|index| generate_customer(SEED, Period::First, index)).collect();
    let distinct: Vec<(CustomerFeatures, rust_decimal::Decimal)> = synthetic
        .iter()
        .map(|customer| {
            let features = features_from_history(&customer.history, customer.as_of_unix_ms)
                .unwrap_or_else(|error| panic!("history: {error}"));
            (features, customer.average_monthly_gas_spend_cny)
        })
        .collect();
    let features: Vec<CustomerFeatures> =
        distinct.iter().map(|(features, _)| *features).cycle().take(customers).collect();

    let mut scores = Vec::with_capacity(customers);
    let started = Instant::now();
    model.score_many(&features, &mut scores);
    let bulk = started.elapsed();
    let score_sum: i64 =
        scores.iter().filter_map(|scored| scored.as_ref().ok()).map(|scored| i64::from(scored.score)).sum();
    black_box(score_sum);

    let started = Instant::now();
    let mut limit_count = 0usize;
    for (index, features) in features.iter().enumerate() {
        let spend = distinct[index % distinct.len()].1;
        if let Ok(profile) = model.profile(features, spend, 1_735_660_800_000) {
            limit_count += usize::from(!profile.credit_limit_cny.is_zero());
        }
    }
    let profiles = started.elapsed();
    black_box(limit_count);

    let histories: Vec<_> = synthetic.iter().map(|customer| customer.history.events()).collect();
    let event_count: usize = histories.iter().filter_map(|events| events.as_ref().ok()).map(Vec::len).sum();
    let started = Instant::now();
    for (customer, events) in synthetic.iter().zip(&histories) {
        let mut accumulator = FeatureAccumulator::new(customer.history.customer_since_unix_ms);
        for event in events.iter().flatten() {
            let _ = accumulator.apply(event);
        }
        black_box(accumulator.features(customer.as_of_unix_ms).ok());
    }
    let incremental = started.elapsed();

    let rate = |count: usize, seconds: f64| count as f64 / seconds;
    println!("model {} ({} characteristics)", model.version(), model.features_read().count());
    println!(
        "score_many: {customers} customers in {:.3} s = {:.0} customers/s (1 thread)",
        bulk.as_secs_f64(),
        rate(customers, bulk.as_secs_f64())
    );
    println!(
        "profile:    {customers} customers in {:.3} s = {:.0} customers/s (1 thread, with strings and credit limit)",
        profiles.as_secs_f64(),
        rate(customers, profiles.as_secs_f64())
    );
    println!(
        "incremental features: {event_count} events of {DISTINCT_CUSTOMERS} customers in {:.3} s = {:.0} events/s",
        incremental.as_secs_f64(),
        rate(event_count, incremental.as_secs_f64())
    );
}
