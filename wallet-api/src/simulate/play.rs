//! The day loop: the clock moves an hour at a time; each hour the meters report through their
//! concentrators, the simulator reads the new events (reminders, valve changes) so its people
//! can react, the night after each Beijing midnight runs finance's batches for the day that
//! ended, and then the people act: top-ups, purchases, refunds, service orders and their steps.
//!
//! Determinism: one seeded generator makes every choice, always in the same order (customers by
//! index, events sorted by customer); requests of different customers run concurrently, but one
//! customer's requests of an hour run one after another, so every wallet sees the same sequence
//! whatever the scheduling.

use super::client::{concurrently, Api, Reply};
use super::statement::{inject_breaks, wechat_bill, ChannelLine, Injected};
use super::town::{beijing, hourly_litres, register_text, topup_fen, yuan, Payer, TierTable, Town};
use anyhow::Context;
use chrono::Timelike;
use ed25519_dalek::Signer;
use hyper::Method;
use indicatif::ProgressBar;
use ledger::{ManualClock, Timestamp};
use rand::rngs::StdRng;
use rand::Rng;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

/// Most tiers a tariff may have (the server's limit).
pub const TIERS_MAX: usize = 8;
/// Nights between technician payouts and between bulk rescoring.
pub const PAYOUT_EVERY_NIGHTS: u32 = 7;
/// Unexpected answers kept as samples for the report.
pub const UNEXPECTED_SAMPLES_MAX: usize = 8;

const SERVICES: [&str; 5] = ["壁挂炉年检", "燃气灶维修", "热水器清洗", "管道检漏", "报警器更换"];

/// What the simulator itself counted, to compare with what the server reports.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub readings_sent: u64,
    pub readings_accepted: u64,
    pub readings_rejected: u64,
    pub replays_injected: u64,
    pub replays_rejected: u64,
    pub gas_litres: u64,
    pub tier_volume: [Decimal; TIERS_MAX],
    pub tier_amount: [Decimal; TIERS_MAX],
    /// The tier tables' price of the per-reading customers' readings (the simulator's sum).
    pub expected_per_reading: Decimal,
    /// What the server answered as each such reading's charge.
    pub charged_per_reading: Decimal,
    pub charge_mismatches: u64,
    /// The tier tables' price of the monthly customers' readings (billed later, monthly).
    pub expected_monthly_accrued: Decimal,
    /// Monthly bills issued (from the `bill_issued` events) and their total.
    pub monthly_bills: u64,
    pub monthly_billed: Decimal,
    pub topups: u64,
    pub topups_amount: Decimal,
    pub topups_by_channel: BTreeMap<String, (u64, Decimal)>,
    /// Top-ups the server refused with `insufficient_funds` (a known server issue).
    pub topups_refused: u64,
    pub topups_refused_samples: Vec<String>,
    pub payments: u64,
    pub payments_amount: Decimal,
    pub payments_declined: u64,
    pub refunds: u64,
    pub refunds_amount: Decimal,
    pub orders_booked: u64,
    pub orders_refused: u64,
    pub orders_cancelled: u64,
    pub orders_left_unrated: u64,
    pub ratings: [u64; 6],
    pub disputes: u64,
    pub resolutions: BTreeMap<String, u64>,
    pub auto_rated: u64,
    pub orders_open_at_end: u64,
    /// Disputed orders finance has not resolved yet (their price sits in escrow).
    pub disputes_open_at_end: u64,
    /// Price minus refunds of every order that ended settled (the wallets paid this).
    pub service_captured: Decimal,
    pub service_refunded: Decimal,
    pub merchant_batches: u64,
    pub merchant_gross: Decimal,
    pub merchant_refunded: Decimal,
    pub merchant_fees_charged: Decimal,
    pub merchant_fees_returned: Decimal,
    pub merchant_payouts: Decimal,
    pub merchant_payment_count: u64,
    pub merchant_refund_count: u64,
    pub technician_batches: u64,
    pub technician_gross: Decimal,
    pub technician_commission: Decimal,
    pub technician_net: Decimal,
    pub reconciliations: u64,
    pub breaks_injected: u64,
    pub breaks_found: u64,
    pub injected_by_kind: Injected,
    pub found_by_kind: BTreeMap<String, u64>,
    pub closes: u64,
    pub closes_balanced: u64,
    pub events: BTreeMap<String, u64>,
    pub unexpected: u64,
    pub unexpected_samples: Vec<String>,
}

/// A service order's life as the simulator follows it.
#[derive(Debug, Clone)]
struct Order {
    customer: usize,
    price_fen: u64,
    service: &'static str,
    id: String,
    status: &'static str,
}

/// Something a customer (or their merchant, technician, finance) does in an hour.
#[derive(Debug, Clone)]
enum Action {
    Topup { fen: u64, channel: &'static str, txn: String },
    Purchase { merchant: usize, fen: u64 },
    Refund { merchant: usize, payment_id: String, fen: u64 },
    Book { order: usize },
    Accept { order: usize, technician: usize },
    Complete { order: usize, technician: usize },
    Cancel { order: usize },
    Rate { order: usize, stars: u8 },
    Resolve { order: usize, resolution: &'static str, refund_fen: u64 },
}

/// A reading about to be signed: (customer index, meter id, counter, register).
type Pending = (usize, String, u64, String);
/// A concentrator's token and its batch.
type ReadingBatch = (String, Vec<Pending>);

/// A request ready to send.
#[derive(Debug, Clone)]
struct Prepared {
    path: String,
    token: String,
    body: Value,
    key: Option<String>,
}

/// The state of a running simulation.
#[derive(Debug)]
pub struct Sim {
    pub api: Api,
    pub rng: StdRng,
    pub tag: String,
    pub in_flight: usize,
    pub clock: Option<Arc<ManualClock>>,
    /// Unix seconds of the town's start (an hour boundary).
    pub start: i64,
    pub hours: u32,
    pub town: Town,
    /// Index 0: `residential`, 1: `residential-heating`.
    pub tariffs: [TierTable; 2],
    pub tally: Tally,
    pub progress: ProgressBar,
    schedule: BTreeMap<u32, Vec<(usize, Action)>>,
    orders: Vec<Order>,
    event_cursor: String,
    customer_index: HashMap<String, usize>,
    wechat_days: BTreeMap<String, Vec<ChannelLine>>,
    /// The next business day finance has not run its night for.
    next_night: Option<settlement::business_day::BusinessDay>,
    /// The first business day not yet paid out to technicians.
    technicians_from: Option<String>,
    nights: u32,
    operations: u64,
}

fn rfc3339(unix_seconds: i64) -> String {
    crate::time::format_rfc3339(Timestamp::from_unix_seconds(unix_seconds))
}

fn dec(value: &Value) -> Decimal {
    value.as_str().and_then(|text| text.parse::<Decimal>().ok()).unwrap_or(Decimal::ZERO)
}

fn count(value: &Value) -> u64 {
    value.as_u64().unwrap_or(0)
}

impl Sim {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        api: Api,
        rng: StdRng,
        tag: String,
        in_flight: usize,
        clock: Option<Arc<ManualClock>>,
        start: i64,
        hours: u32,
        mut town: Town,
        tariffs: [TierTable; 2],
        progress: ProgressBar,
    ) -> anyhow::Result<Sim> {
        let customer_index = town.customers.iter().enumerate().map(|(index, c)| (c.id.clone(), index)).collect();
        let start_date = beijing(start)?.date();
        for customer in &mut town.customers {
            customer.tier_year = tariffs[usize::from(customer.heating)].tier_year(start_date);
            // Everyone opens their wallet with a first top-up in the first hour.
            customer.topup_due = Some(0);
        }
        let first_day = settlement::business_day::business_day_of(start)?;
        Ok(Sim {
            api,
            rng,
            tag,
            in_flight,
            clock,
            start,
            hours,
            town,
            tariffs,
            tally: Tally::default(),
            progress,
            schedule: BTreeMap::new(),
            orders: Vec::new(),
            event_cursor: "0".to_owned(),
            customer_index,
            wechat_days: BTreeMap::new(),
            next_night: Some(first_day),
            technicians_from: Some(first_day.to_string()),
            nights: 0,
            operations: 0,
        })
    }

    /// Whether the simulator moves the server's clock (embedded) or plays against real time.
    fn embedded(&self) -> bool {
        self.clock.is_some()
    }

    fn set_clock(&self, unix_seconds: i64) {
        if let Some(clock) = &self.clock {
            clock.set(Timestamp::from_unix_seconds(unix_seconds));
        }
    }

    fn next_key(&mut self, what: &str) -> String {
        self.operations += 1;
        format!("{}-{what}-{}", self.tag, self.operations)
    }

    fn unexpected(&mut self, what: &str, reply: &Reply) {
        self.tally.unexpected += 1;
        if self.tally.unexpected_samples.len() < UNEXPECTED_SAMPLES_MAX {
            self.tally.unexpected_samples.push(format!("{what}: {} {}", reply.status, reply.json));
        }
    }

    /// Plays every hour of the run.
    pub async fn play(&mut self) -> anyhow::Result<()> {
        // Opening top-ups at the start, before the first reading is charged.
        self.act(0, self.start, true).await?;
        for hour in 0..self.hours {
            let now = self.start + i64::from(hour + 1) * 3600;
            self.set_clock(now);
            self.readings(now).await?;
            self.poll_events(hour).await?;
            let wall = beijing(now)?;
            if wall.hour() == 0 || hour == 0 {
                self.progress.set_message(wall.date().to_string());
            }
            if wall.hour() == 1 {
                self.nights_until(now).await?;
            }
            self.job("valve-closes").await?;
            self.act(hour, now, false).await?;
            self.progress.inc(1);
        }
        Ok(())
    }

    /// After the last hour: moves to 01:00 Beijing after the last midnight (embedded), runs the
    /// nights still due, pays the technicians out for every day not yet paid, runs the jobs.
    pub async fn wind_down(&mut self) -> anyhow::Result<()> {
        let end = self.start + i64::from(self.hours) * 3600;
        if self.embedded() {
            // 01:00 Beijing after the day the last hour lies in (even if only its midnight hour
            // was played: a refund at 00:00 belongs to it), so that day has ended and everything
            // can be settled, reconciled and closed.
            let day = settlement::business_day::business_day_of(end)?;
            let (_, end_of_day) = settlement::business_day::day_bounds_utc(day);
            let night = end_of_day + 3600;
            self.set_clock(night);
            self.poll_events(self.hours).await?;
            self.nights_until(night).await?;
            if let Some(from) = self.technicians_from.clone() {
                let yesterday = settlement::business_day::business_day_of(night - 3601)?.to_string();
                if from <= yesterday {
                    self.pay_technicians(&from, &yesterday).await?;
                }
            }
        }
        for job in ["valve-closes", "monthly-billing", "auto-rate", "score"] {
            self.job(job).await?;
        }
        self.poll_events(self.hours).await?;
        self.finish_orders().await?;
        Ok(())
    }

    async fn job(&mut self, job: &str) -> anyhow::Result<()> {
        let reply = self.api.post(&format!("/v1/jobs/{job}"), &self.town.finance_token, &json!({}), None).await?;
        if reply.status != 200 {
            self.unexpected(&format!("job {job}"), &reply);
        }
        Ok(())
    }

    /// One hour of readings: every meter reports through its concentrator (one batch per
    /// concentrator, batches in parallel, signed off the async threads); at noon a replayed
    /// reading or two is slipped in, which the server must refuse.
    #[allow(clippy::needless_range_loop)]
    async fn readings(&mut self, now: i64) -> anyhow::Result<()> {
        let read_at = rfc3339(now);
        let interval_start = beijing(now - 3600)?;
        let mut batches: Vec<Vec<Pending>> = vec![Vec::new(); self.town.concentrator_tokens.len()];
        let mut expected: Vec<Option<Decimal>> = vec![None; self.town.customers.len()];
        for index in 0..self.town.customers.len() {
            let customer = &self.town.customers[index];
            let litres = hourly_litres(&mut self.rng, customer, interval_start);
            let table = &self.tariffs[usize::from(customer.heating)];
            let tier_year = table.tier_year(interval_start.date());
            let customer = &mut self.town.customers[index];
            if tier_year != customer.tier_year {
                customer.tier_year = tier_year;
                customer.annual_litres = 0;
            }
            let lines = table.price(customer.household_size, yuan_m3(customer.annual_litres), yuan_m3(litres));
            customer.annual_litres += litres;
            customer.register_litres += litres;
            customer.counter += 1;
            let mut total = Decimal::ZERO;
            for (tier, volume, amount) in lines {
                if let (Some(v), Some(a)) = (self.tally.tier_volume.get_mut(tier), self.tally.tier_amount.get_mut(tier))
                {
                    *v += volume;
                    *a += amount;
                }
                total += amount;
            }
            if customer.monthly {
                self.tally.expected_monthly_accrued += total;
            } else {
                self.tally.expected_per_reading += total;
                expected[index] = Some(total);
            }
            self.tally.gas_litres += litres;
            let register = register_text(customer.register_litres);
            if let Some(batch) = batches.get_mut(customer.concentrator) {
                batch.push((index, customer.meter_id.clone(), customer.counter, register));
            }
        }
        // A replay or two at noon: a used counter with another register.
        let mut replays = Vec::new();
        if interval_start.hour() == 11 && !self.town.customers.is_empty() {
            for _ in 0..self.rng.gen_range(1..=2) {
                let index = self.rng.gen_range(0..self.town.customers.len());
                let customer = &self.town.customers[index];
                replays.push((
                    index,
                    customer.meter_id.clone(),
                    customer.counter,
                    register_text(customer.register_litres + 1000),
                ));
            }
        }
        let mut requests: Vec<ReadingBatch> = batches
            .into_iter()
            .enumerate()
            .filter(|(_, batch)| !batch.is_empty())
            .map(|(concentrator, batch)| (self.town.concentrator_tokens[concentrator].clone(), batch))
            .collect();
        let replay_request = if replays.is_empty() {
            None
        } else {
            Some((self.town.concentrator_tokens.first().cloned().unwrap_or_default(), replays))
        };
        let answers = self.send_readings(std::mem::take(&mut requests), &read_at).await?;
        for (batch, reply) in answers {
            let results = reply.json["results"].as_array().cloned().unwrap_or_default();
            if reply.status != 200 || results.len() != batch.len() {
                self.unexpected("POST /v1/meter-readings", &reply);
                continue;
            }
            for ((index, _, _, _), result) in batch.iter().zip(&results) {
                self.tally.readings_sent += 1;
                if result["status"] == "accepted" {
                    self.tally.readings_accepted += 1;
                    if let Some(Some(expected)) = expected.get(*index) {
                        let charge = dec(&result["charge"]);
                        self.tally.charged_per_reading += charge;
                        if charge != *expected {
                            self.tally.charge_mismatches += 1;
                        }
                    }
                } else {
                    self.tally.readings_rejected += 1;
                }
            }
        }
        if let Some(request) = replay_request {
            for (batch, reply) in self.send_readings(vec![request], &read_at).await? {
                let results = reply.json["results"].as_array().cloned().unwrap_or_default();
                for result in results.iter().take(batch.len()) {
                    self.tally.readings_sent += 1;
                    self.tally.replays_injected += 1;
                    if result["status"] == "rejected" {
                        self.tally.readings_rejected += 1;
                        if result["code"] == "replayed_reading" {
                            self.tally.replays_rejected += 1;
                        }
                    } else {
                        self.tally.readings_accepted += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// Signs (on the blocking pool) and posts reading batches, at most `in_flight` at once.
    async fn send_readings(
        &self,
        requests: Vec<ReadingBatch>,
        read_at: &str,
    ) -> anyhow::Result<Vec<(Vec<Pending>, Reply)>> {
        let api = self.api.clone();
        let keys = Arc::clone(&self.town.keys);
        let read_at = read_at.to_owned();
        concurrently(requests, self.in_flight.min(4), move |(token, batch)| {
            let api = api.clone();
            let keys = Arc::clone(&keys);
            let read_at = read_at.clone();
            async move {
                let (batch, body) = tokio::task::spawn_blocking(move || {
                    let mut body = String::with_capacity(batch.len() * 260 + 16);
                    body.push_str("{\"readings\":[");
                    for (position, (index, meter_id, counter, register)) in batch.iter().enumerate() {
                        let message = format!("{meter_id}|{counter}|{register}|{read_at}");
                        let signature = keys
                            .get(*index)
                            .map(|key| hex::encode(key.sign(message.as_bytes()).to_bytes()))
                            .unwrap_or_default();
                        if position > 0 {
                            body.push(',');
                        }
                        let _ = write!(
                            body,
                            "{{\"meter_id\":\"{meter_id}\",\"counter\":{counter},\"register\":\"{register}\",\"read_at\":\"{read_at}\",\"signature\":\"{signature}\"}}"
                        );
                    }
                    body.push_str("]}");
                    (batch, body)
                })
                .await
                .context("signing a batch")?;
                let reply = api.post_text("/v1/meter-readings", &token, body).await?;
                Ok((batch, reply))
            }
        })
        .await
    }

    /// Reads the events since the last poll; the customers react to reminders and valve changes
    /// (in customer order, so the generator is drawn from in the same order every run).
    async fn poll_events(&mut self, hour: u32) -> anyhow::Result<()> {
        let mut fresh: Vec<(usize, String)> = Vec::new();
        loop {
            let page = self
                .api
                .get_ok(&format!("/v1/events?after={}&limit=500", self.event_cursor), &self.api.admin_token.clone())
                .await?;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            for item in &items {
                let kind = item["type"].as_str().unwrap_or("unknown").to_owned();
                let customer = item["customer_id"].as_str().and_then(|id| self.customer_index.get(id)).copied();
                if let Some(customer) = customer {
                    *self.tally.events.entry(kind.clone()).or_default() += 1;
                    if kind == "bill_issued" {
                        self.tally.monthly_bills += 1;
                        self.tally.monthly_billed += dec(&item["amount"]);
                    }
                    fresh.push((customer, kind));
                }
            }
            if let Some(last) = items.last().and_then(|item| item["id"].as_str()) {
                self.event_cursor = last.to_owned();
            }
            match page["next_cursor"].as_str() {
                Some(cursor) if !items.is_empty() => self.event_cursor = cursor.to_owned(),
                _ => break,
            }
        }
        fresh.sort_by_key(|(customer, _)| *customer);
        for (index, kind) in fresh {
            let payer = self.town.customers[index].payer;
            let due = self.town.customers[index].topup_due;
            let react = |rng: &mut StdRng, low: u32, high: u32| Some(hour + rng.gen_range(low..=high));
            let new_due = match (kind.as_str(), payer) {
                ("valve_close", Payer::Late) => react(&mut self.rng, 12, 60),
                ("valve_close", _) => react(&mut self.rng, 1, 3),
                ("low_balance", Payer::Steady) => react(&mut self.rng, 1, 10),
                ("low_balance", Payer::BigSpender) => react(&mut self.rng, 1, 2),
                ("low_balance", Payer::Late) if self.rng.gen_range(0..5) == 0 => react(&mut self.rng, 24, 96),
                _ => None,
            };
            let customer = &mut self.town.customers[index];
            match kind.as_str() {
                "valve_close" => customer.valve_closed = true,
                // Armed: the customer presses the button at the meter and gas flows again.
                "valve_armed" | "valve_open" => customer.valve_closed = false,
                _ => {}
            }
            if let Some(new_due) = new_due {
                customer.topup_due = Some(due.map_or(new_due, |due| due.min(new_due)));
            }
        }
        Ok(())
    }

    /// Finance's nights for every business day that has ended by `now` and has not had one.
    async fn nights_until(&mut self, now: i64) -> anyhow::Result<()> {
        let today = settlement::business_day::business_day_of(now)?;
        while let Some(day) = self.next_night {
            if day >= today {
                break;
            }
            self.night(day).await?;
            let (_, end) = settlement::business_day::day_bounds_utc(day);
            self.next_night = Some(settlement::business_day::business_day_of(end)?);
        }
        Ok(())
    }

    /// One night: merchant settlement, the WeChat bill reconciled, the day closed, the billing and
    /// auto-rating jobs; every seventh night the technicians' payout and a bulk rescore. Against
    /// a running server (real time) only the jobs run: its days have not ended.
    async fn night(&mut self, day: settlement::business_day::BusinessDay) -> anyhow::Result<()> {
        let date = day.to_string();
        self.nights += 1;
        if self.embedded() {
            self.settle_merchants(&date).await?;
            self.reconcile(&date).await?;
            let close =
                self.api.post("/v1/ledger/close", &self.town.finance_token, &json!({ "date": date }), None).await?;
            if close.status == 200 {
                self.tally.closes += 1;
                if close.json["balanced"] == true {
                    self.tally.closes_balanced += 1;
                }
            } else {
                self.unexpected("POST /v1/ledger/close", &close);
            }
        }
        self.job("monthly-billing").await?;
        self.job("auto-rate").await?;
        if self.nights % PAYOUT_EVERY_NIGHTS == 0 {
            if self.embedded() {
                if let Some(from) = self.technicians_from.clone() {
                    self.pay_technicians(&from, &date).await?;
                }
            }
            self.job("score").await?;
        }
        Ok(())
    }

    async fn settle_merchants(&mut self, date: &str) -> anyhow::Result<()> {
        let reply = self
            .api
            .post("/v1/settlements/merchants", &self.town.finance_token, &json!({ "date": date }), None)
            .await?;
        if reply.status != 200 {
            self.unexpected("POST /v1/settlements/merchants", &reply);
            return Ok(());
        }
        self.tally.merchant_batches += 1;
        for line in reply.json["lines"].as_array().cloned().unwrap_or_default() {
            self.tally.merchant_gross += dec(&line["gross"]);
            self.tally.merchant_refunded += dec(&line["refunded"]);
            self.tally.merchant_fees_charged += dec(&line["fees_charged"]);
            self.tally.merchant_fees_returned += dec(&line["fees_returned"]);
            self.tally.merchant_payouts += dec(&line["payout"]);
            self.tally.merchant_payment_count += count(&line["payments"]);
            self.tally.merchant_refund_count += count(&line["refunds"]);
        }
        Ok(())
    }

    async fn pay_technicians(&mut self, from: &str, to: &str) -> anyhow::Result<()> {
        let body = json!({ "from": from, "to": to });
        let reply = self.api.post("/v1/settlements/technicians", &self.town.finance_token, &body, None).await?;
        if reply.status != 200 {
            self.unexpected("POST /v1/settlements/technicians", &reply);
            return Ok(());
        }
        self.tally.technician_batches += 1;
        for line in reply.json["lines"].as_array().cloned().unwrap_or_default() {
            self.tally.technician_gross += dec(&line["gross"]);
            self.tally.technician_commission += dec(&line["commission"]);
            self.tally.technician_net += dec(&line["net"]);
        }
        let (_, end) = settlement::business_day::day_bounds_utc(settlement::business_day::BusinessDay::parse(to)?);
        self.technicians_from = Some(settlement::business_day::business_day_of(end)?.to_string());
        Ok(())
    }

    /// The WeChat bill of `date` from the simulator's own WeChat top-ups, with breaks injected,
    /// reconciled; the breaks the report lists must be exactly the injected ones.
    async fn reconcile(&mut self, date: &str) -> anyhow::Result<()> {
        let mut lines = self.wechat_days.remove(date).unwrap_or_default();
        // 21 digits: never one of the simulator's own 20-digit transaction ids.
        let extra_id = format!("4299{}{:09}", date.replace('-', ""), self.rng.gen_range(0..1_000_000_000u64));
        let injected = inject_breaks(&mut self.rng, &mut lines, extra_id, format!("{date} 12:34:56"));
        if lines.is_empty() && injected.total() == 0 {
            return Ok(());
        }
        let body =
            json!({ "channel": "wechat", "format": "wechat", "date": date, "statement_csv": wechat_bill(&lines) });
        let reply = self.api.post("/v1/reconciliations", &self.town.finance_token, &body, None).await?;
        if reply.status != 201 {
            self.unexpected("POST /v1/reconciliations", &reply);
            return Ok(());
        }
        self.tally.reconciliations += 1;
        self.tally.breaks_injected += injected.total();
        self.tally.injected_by_kind.missing += injected.missing;
        self.tally.injected_by_kind.extra += injected.extra;
        self.tally.injected_by_kind.amount_off += injected.amount_off;
        for found in reply.json["breaks"].as_array().cloned().unwrap_or_default() {
            self.tally.breaks_found += 1;
            *self.tally.found_by_kind.entry(found["type"].as_str().unwrap_or("unknown").to_owned()).or_default() += 1;
        }
        Ok(())
    }

    /// The people's hour: what was scheduled for it, then new decisions, customer by customer.
    /// `opening`: only the opening top-ups (at the town's start), nothing else.
    async fn act(&mut self, hour: u32, now: i64, opening: bool) -> anyhow::Result<()> {
        let wall = beijing(now)?;
        let mut per_customer: BTreeMap<usize, Vec<Action>> = BTreeMap::new();
        if !opening {
            for (customer, action) in self.schedule.remove(&hour).unwrap_or_default() {
                per_customer.entry(customer).or_default().push(action);
            }
        }
        let merchants = self.town.merchants.len();
        for index in 0..self.town.customers.len() {
            let customer = &self.town.customers[index];
            let mut actions = Vec::new();
            let daytime = (7..=22).contains(&wall.hour());
            let random_topup =
                !opening && customer.payer == Payer::Steady && daytime && self.rng.gen_range(0..400) == 0;
            if customer.topup_due.is_some_and(|due| due <= hour) || random_topup {
                let fen = topup_fen(&mut self.rng, customer) * customer.topup_boost.max(1);
                let channel = if self.rng.gen_range(0..10) == 0 {
                    super::town::CHANNELS[self.rng.gen_range(0..super::town::CHANNELS.len())].0
                } else {
                    customer.channel
                };
                self.operations += 1;
                let txn = format!("42{:08}{:010}", self.rng.gen_range(0..100_000_000u64), self.operations);
                actions.push(Action::Topup { fen, channel, txn });
                self.town.customers[index].topup_due = None;
            }
            if opening {
                if !actions.is_empty() {
                    per_customer.entry(index).or_default().extend(actions);
                }
                continue;
            }
            let customer = &self.town.customers[index];
            let shop_chance = if customer.payer == Payer::BigSpender { 30 } else { 5 };
            if (9..=21).contains(&wall.hour()) && merchants > 0 && self.rng.gen_range(0..1000) < shop_chance {
                let merchant = self.rng.gen_range(0..merchants);
                let (low, high) = self.town.merchants[merchant].ticket_yuan;
                let high = if customer.payer == Payer::BigSpender { high } else { high.min(low.max(600)) };
                let fen = u64::from(self.rng.gen_range(low..=high)) * 100 + self.rng.gen_range(0..100);
                actions.push(Action::Purchase { merchant, fen });
            }
            if (8..=20).contains(&wall.hour()) && self.rng.gen_range(0..1000) < 2 {
                let price_fen = u64::from(self.rng.gen_range(5u32..=40)) * 1000;
                let service = SERVICES[self.rng.gen_range(0..SERVICES.len())];
                self.orders.push(Order { customer: index, price_fen, service, id: String::new(), status: "new" });
                actions.push(Action::Book { order: self.orders.len() - 1 });
            }
            if !actions.is_empty() {
                per_customer.entry(index).or_default().extend(actions);
            }
        }
        let mut work: Vec<(usize, Vec<(Action, Prepared)>)> = Vec::with_capacity(per_customer.len());
        for (customer, actions) in per_customer {
            let prepared = actions.into_iter().map(|action| {
                let request = self.prepare(&action, customer);
                (action, request)
            });
            work.push((customer, prepared.collect()));
        }
        let api = self.api.clone();
        let results = concurrently(work, self.in_flight, move |(customer, actions)| {
            let api = api.clone();
            async move {
                let mut answers = Vec::with_capacity(actions.len());
                for (action, request) in actions {
                    let key = request.key.as_deref();
                    let mut reply = if matches!(action, Action::Purchase { .. }) {
                        pay(&api, &request.path, &request.token, &request.body, key).await?
                    } else {
                        api.post(&request.path, &request.token, &request.body, key).await?
                    };
                    if matches!(action, Action::Topup { .. }) && reply.status == 402 {
                        // A refused top-up (a server bug, see docs/simulate.md): keep the wallet's
                        // state beside the answer for the report.
                        let wallet_path = request.path.trim_end_matches("/topups").to_owned();
                        let wallet = api.get(&wallet_path, &api.admin_token).await?.json;
                        reply.json = json!({ "answer": reply.json, "wallet_before_retry": wallet });
                    }
                    answers.push((action, reply));
                }
                Ok((customer, answers))
            }
        })
        .await?;
        for (customer, answers) in results {
            for (action, reply) in answers {
                self.outcome(hour, now, customer, action, &reply)?;
            }
        }
        Ok(())
    }

    fn prepare(&mut self, action: &Action, customer_index: usize) -> Prepared {
        let customer = &self.town.customers[customer_index];
        let (customer_token, wallet_id) = (customer.token.clone(), customer.wallet_id.clone());
        let finance = self.town.finance_token.clone();
        let order_path = |orders: &[Order], order: usize, step: &str| {
            format!("/v1/service-orders/{}/{step}", orders.get(order).map_or("", |o| o.id.as_str()))
        };
        match action {
            Action::Topup { fen, channel, txn } => Prepared {
                path: format!("/v1/wallets/{wallet_id}/topups"),
                token: self.api.admin_token.clone(),
                body: json!({ "amount": yuan(*fen).to_string(), "channel": channel, "channel_txn_id": txn }),
                key: Some(self.next_key("topup")),
            },
            // The payment code is asked for by the customer just before; see `pay`.
            Action::Purchase { merchant, fen } => Prepared {
                path: format!("/v1/wallets/{wallet_id}/payment-codes"),
                token: customer_token,
                body: json!({
                    "merchant_token": self.town.merchants[*merchant].token,
                    "amount": yuan(*fen).to_string(),
                    "order_ref": format!("{}-order-{}", self.tag, self.operations + 1),
                }),
                key: Some(self.next_key("pay")),
            },
            Action::Refund { merchant, payment_id, fen } => Prepared {
                path: format!("/v1/payments/{payment_id}/refunds"),
                token: self.town.merchants[*merchant].token.clone(),
                body: json!({ "amount": yuan(*fen).to_string() }),
                key: Some(self.next_key("refund")),
            },
            Action::Book { order } => {
                let (service, price) =
                    self.orders.get(*order).map_or(("", 0), |order| (order.service, order.price_fen));
                Prepared {
                    path: "/v1/service-orders".to_owned(),
                    token: customer_token,
                    body: json!({ "service": service, "price": yuan(price).to_string() }),
                    key: Some(self.next_key("book")),
                }
            }
            Action::Accept { order, technician } => Prepared {
                path: order_path(&self.orders, *order, "accept"),
                token: self.town.technicians[*technician].token.clone(),
                body: json!({}),
                key: None,
            },
            Action::Complete { order, technician } => Prepared {
                path: order_path(&self.orders, *order, "complete"),
                token: self.town.technicians[*technician].token.clone(),
                body: json!({}),
                key: None,
            },
            Action::Cancel { order } => Prepared {
                path: order_path(&self.orders, *order, "cancel"),
                token: customer_token,
                body: json!({}),
                key: None,
            },
            Action::Rate { order, stars } => Prepared {
                path: order_path(&self.orders, *order, "rating"),
                token: customer_token,
                body: json!({ "stars": stars, "comment": if *stars >= 4 { "师傅很专业" } else { "不满意" } }),
                key: None,
            },
            Action::Resolve { order, resolution, refund_fen } => {
                let body = if *resolution == "partial_refund" {
                    json!({ "resolution": resolution, "refund_amount": yuan(*refund_fen).to_string() })
                } else {
                    json!({ "resolution": resolution })
                };
                Prepared { path: order_path(&self.orders, *order, "resolution"), token: finance, body, key: None }
            }
        }
    }

    fn later(&mut self, hour: u32, customer: usize, low: u32, high: u32, action: Action) {
        let at = hour + self.rng.gen_range(low..=high);
        self.schedule.entry(at).or_default().push((customer, action));
    }

    fn outcome(&mut self, hour: u32, now: i64, customer: usize, action: Action, reply: &Reply) -> anyhow::Result<()> {
        match action {
            Action::Topup { fen, channel, txn } => {
                if reply.status == 402 {
                    // The server refuses a top-up to a wallet that a rescore left beyond its
                    // lowered credit limit while it owes arrears (docs/simulate.md, known server
                    // issues). The customer comes back in a few hours with twice as much.
                    self.tally.topups_refused += 1;
                    if self.tally.topups_refused_samples.len() < UNEXPECTED_SAMPLES_MAX {
                        self.tally.topups_refused_samples.push(format!("{} {}", yuan(fen), reply.json));
                    }
                    let due = hour + self.rng.gen_range(1..=3);
                    self.town.customers[customer].topup_due = Some(due);
                    self.town.customers[customer].topup_boost =
                        self.town.customers[customer].topup_boost.saturating_mul(2);
                    return Ok(());
                }
                if reply.status != 201 {
                    self.unexpected("top-up", reply);
                    return Ok(());
                }
                self.town.customers[customer].topup_boost = 1;
                let amount = yuan(fen);
                self.tally.topups += 1;
                self.tally.topups_amount += amount;
                let by_channel = self.tally.topups_by_channel.entry(channel.to_owned()).or_default();
                by_channel.0 += 1;
                by_channel.1 += amount;
                if channel == "wechat" {
                    let date = settlement::business_day::business_day_of(now)?.to_string();
                    let time = beijing(now)?.format("%Y-%m-%d %H:%M:%S").to_string();
                    self.wechat_days.entry(date).or_default().push(ChannelLine { time, channel_txn_id: txn, amount });
                }
            }
            Action::Purchase { merchant, fen } => match reply.status {
                201 => {
                    self.tally.payments += 1;
                    self.tally.payments_amount += yuan(fen);
                    let payment_id = reply.text("id")?;
                    if self.rng.gen_range(0..100) < 12 {
                        let share = self.rng.gen_range(10..=100);
                        let refund = (fen * share / 100).max(1);
                        self.later(hour, customer, 1, 40, Action::Refund { merchant, payment_id, fen: refund });
                    }
                }
                402 => self.tally.payments_declined += 1,
                _ => self.unexpected("payment", reply),
            },
            Action::Refund { fen, .. } => {
                if reply.status == 201 {
                    self.tally.refunds += 1;
                    self.tally.refunds_amount += yuan(fen);
                } else {
                    self.unexpected("refund", reply);
                }
            }
            Action::Book { order } => match reply.status {
                201 => {
                    self.tally.orders_booked += 1;
                    if let Some(o) = self.orders.get_mut(order) {
                        o.id = reply.text("id")?;
                        o.status = "booked";
                    }
                    if self.rng.gen_range(0..100) < 5 {
                        self.later(hour, customer, 1, 1, Action::Cancel { order });
                    } else {
                        let technician = self.rng.gen_range(0..self.town.technicians.len().max(1));
                        self.later(hour, customer, 1, 4, Action::Accept { order, technician });
                    }
                }
                402 => {
                    self.tally.orders_refused += 1;
                    if let Some(o) = self.orders.get_mut(order) {
                        o.status = "refused";
                    }
                }
                _ => self.unexpected("booking", reply),
            },
            Action::Accept { order, technician } => {
                if reply.status == 200 {
                    self.set_status(order, "accepted");
                    self.later(hour, customer, 1, 6, Action::Complete { order, technician });
                } else {
                    self.unexpected("accept", reply);
                }
            }
            Action::Complete { order, .. } => {
                if reply.status != 200 {
                    self.unexpected("complete", reply);
                    return Ok(());
                }
                self.set_status(order, "completed");
                let stars = match self.rng.gen_range(0..100) {
                    0..=59 => Some(5),
                    60..=79 => Some(4),
                    80..=87 => Some(3),
                    88..=90 => Some(2),
                    91..=92 => Some(1),
                    _ => None,
                };
                match stars {
                    Some(stars) => self.later(hour, customer, 1, 24, Action::Rate { order, stars }),
                    None => self.tally.orders_left_unrated += 1,
                }
            }
            Action::Cancel { order } => {
                if reply.status == 200 {
                    self.tally.orders_cancelled += 1;
                    self.set_status(order, "cancelled");
                } else {
                    self.unexpected("cancel", reply);
                }
            }
            Action::Rate { order, stars } => {
                if reply.status != 200 {
                    self.unexpected("rating", reply);
                    return Ok(());
                }
                if let Some(slot) = self.tally.ratings.get_mut(usize::from(stars)) {
                    *slot += 1;
                }
                match reply.json["status"].as_str() {
                    Some("settled") => {
                        let price = self.orders.get(order).map_or(0, |o| o.price_fen);
                        self.tally.service_captured += yuan(price);
                        self.set_status(order, "settled");
                    }
                    Some("disputed") => {
                        self.tally.disputes += 1;
                        self.set_status(order, "disputed");
                        let price = self.orders.get(order).map_or(0, |o| o.price_fen);
                        // A dispute captures the hold into escrow: the wallet has paid.
                        self.tally.service_captured += yuan(price);
                        let (resolution, refund_fen) = match self.rng.gen_range(0..10) {
                            0..=2 => ("pay_in_full", 0),
                            3..=7 => ("partial_refund", price * self.rng.gen_range(10..=50) / 100),
                            _ => ("full_refund", 0),
                        };
                        self.later(hour, customer, 4, 30, Action::Resolve { order, resolution, refund_fen });
                    }
                    _ => self.unexpected("rating outcome", reply),
                }
            }
            Action::Resolve { order, resolution, .. } => {
                if reply.status != 200 {
                    self.unexpected("resolution", reply);
                    return Ok(());
                }
                *self.tally.resolutions.entry(resolution.to_owned()).or_default() += 1;
                // The price was captured at the dispute; the refund goes back to the wallet.
                let refunded = dec(&reply.json["refunded"]);
                self.tally.service_refunded += refunded;
                self.tally.service_captured -= refunded;
                self.set_status(order, "settled");
            }
        }
        Ok(())
    }

    fn set_status(&mut self, order: usize, status: &'static str) {
        if let Some(order) = self.orders.get_mut(order) {
            order.status = status;
        }
    }

    /// Orders left unrated were auto-rated after the window (if it passed): read each one's end
    /// state and count what its wallet paid.
    async fn finish_orders(&mut self) -> anyhow::Result<()> {
        let open: Vec<(usize, String, String)> = self
            .orders
            .iter()
            .enumerate()
            .filter(|(_, order)| matches!(order.status, "booked" | "accepted" | "completed"))
            .map(|(index, order)| (index, order.id.clone(), self.town.customers[order.customer].token.clone()))
            .collect();
        let api = self.api.clone();
        let answers = concurrently(open, self.in_flight, move |(index, id, token)| {
            let api = api.clone();
            async move { Ok((index, api.get_ok(&format!("/v1/service-orders/{id}"), &token).await?)) }
        })
        .await?;
        for (index, order) in answers {
            match order["status"].as_str() {
                Some("settled" | "paid_out") => {
                    self.tally.auto_rated += u64::from(order["auto_rated"] == true);
                    let price = yuan(self.orders.get(index).map_or(0, |o| o.price_fen));
                    let refunded = dec(&order["refunded"]);
                    self.tally.service_captured += price - refunded;
                    self.tally.service_refunded += refunded;
                }
                _ => self.tally.orders_open_at_end += 1,
            }
        }
        self.tally.disputes_open_at_end = self.orders.iter().filter(|order| order.status == "disputed").count() as u64;
        Ok(())
    }
}

fn yuan_m3(litres: u64) -> Decimal {
    Decimal::new(litres as i64, 3)
}

/// A payment in two steps: the customer's one-time code, then the merchant charges it.
pub(crate) async fn pay(
    api: &Api,
    prepared_path: &str,
    customer_token: &str,
    body: &Value,
    key: Option<&str>,
) -> anyhow::Result<Reply> {
    let code = api.post(prepared_path, customer_token, &json!({}), None).await?.expect_status(201, "payment code")?;
    let payment = json!({
        "payment_code": code.text("code")?,
        "amount": body["amount"],
        "order_ref": body["order_ref"],
    });
    let merchant_token = body["merchant_token"].as_str().unwrap_or_default();
    api.call(Method::POST, "/v1/payments", merchant_token, Some(payment.to_string()), key).await
}
