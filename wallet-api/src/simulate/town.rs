//! The town: who lives in it (drawn from the seed), how much gas they burn hour by hour, how
//! they pay, and its registration through the API (parties, tokens, meters with their own keys,
//! opening top-ups). Also the simulator's own copy of the tier tables, read from the server, so
//! it can say what every reading should cost.

use super::client::{concurrently, Api};
use anyhow::{bail, Context};
use chrono::{Datelike, Timelike};
use ed25519_dalek::SigningKey;
use rand::rngs::StdRng;
use rand::Rng;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Customers one concentrator reports for (its batches stay under the server's 1000 per request).
pub const METERS_PER_CONCENTRATOR: usize = 500;
/// The meters' maximum flow (the server's default), in litres per hour.
pub const MAX_FLOW_LITRES_PER_HOUR: u64 = 6_000;
/// Payment channels and how customers prefer them (per mille).
pub const CHANNELS: [(&str, u32); 4] = [("wechat", 450), ("alipay", 350), ("bank", 100), ("counter", 100)];

/// How a customer pays for gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payer {
    /// Tops up soon after a low-balance reminder.
    Steady,
    /// Ignores reminders, runs dry, pays a day or more after the valve closes.
    Late,
    /// Tops up large amounts and shops a lot.
    BigSpender,
}

impl Payer {
    pub fn name(self) -> &'static str {
        match self {
            Payer::Steady => "steady",
            Payer::Late => "late",
            Payer::BigSpender => "big_spender",
        }
    }
}

/// One household, as the simulator knows it.
#[derive(Debug, Clone)]
pub struct Customer {
    pub name: String,
    pub household_size: u8,
    pub heating: bool,
    pub monthly: bool,
    pub payer: Payer,
    /// Consumption multiplier in percent (a few heavy households cross tiers within a month).
    pub usage_percent: u64,
    pub channel: &'static str,
    pub concentrator: usize,
    // Set when registered.
    pub id: String,
    pub wallet_id: String,
    pub token: String,
    pub meter_id: String,
    // Metering state.
    pub counter: u64,
    pub register_litres: u64,
    /// Volume in the current tier year as the tariff counts it, in litres.
    pub annual_litres: u64,
    pub tier_year: i32,
    // Valve and reminders, from the events.
    pub valve_closed: bool,
    /// Hour index at which the customer will top up next (from a reminder or a closed valve).
    pub topup_due: Option<u32>,
    /// Multiplier of the next top-up (doubled after a refused one).
    pub topup_boost: u64,
}

/// A partner merchant.
#[derive(Debug, Clone)]
pub struct Merchant {
    pub name: String,
    pub fee_rate: &'static str,
    /// Smallest and largest ticket, in yuan.
    pub ticket_yuan: (u32, u32),
    pub id: String,
    pub token: String,
}

/// A certified repairer.
#[derive(Debug, Clone)]
pub struct Technician {
    pub name: String,
    pub id: String,
    pub token: String,
}

/// Everyone in town and their credentials.
#[derive(Debug)]
pub struct Town {
    pub customers: Vec<Customer>,
    pub merchants: Vec<Merchant>,
    pub technicians: Vec<Technician>,
    pub concentrator_tokens: Vec<String>,
    pub finance_token: String,
    /// The meters' keys, by customer index (shared with the signing tasks).
    pub keys: Arc<Vec<SigningKey>>,
}

const SURNAMES: [&str; 20] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "高",
    "罗",
];
const GIVEN: [&str; 16] =
    ["芳", "伟", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明"];
const MERCHANT_KINDS: [(&str, &str, (u32, u32)); 5] = [
    ("液化气站", "0.006", (80, 130)),
    ("家电商城", "0.0038", (199, 1999)),
    ("燃气保险", "0.006", (50, 300)),
    ("社区超市", "0.006", (8, 120)),
    ("外卖餐厅", "0.01", (15, 90)),
];

/// The key of a meter: a hash of (seed, customer index), so the same seed gives the same keys.
pub fn meter_key(seed: u64, index: usize) -> SigningKey {
    let mut hasher = Sha256::new();
    hasher.update(b"gaswallet simulate meter key");
    hasher.update(seed.to_le_bytes());
    hasher.update((index as u64).to_le_bytes());
    SigningKey::from_bytes(&hasher.finalize().into())
}

fn pick_channel(rng: &mut StdRng) -> &'static str {
    let roll = rng.gen_range(0..1000);
    let mut cumulative = 0;
    for (channel, share) in CHANNELS {
        cumulative += share;
        if roll < cumulative {
            return channel;
        }
    }
    "wechat"
}

/// Draws the town's people from the seed (nothing is registered yet).
pub fn draw_customers(rng: &mut StdRng, count: usize) -> Vec<Customer> {
    (0..count)
        .map(|index| {
            let household_size = match rng.gen_range(0..100) {
                0..=14 => 1,
                15..=44 => 2,
                45..=74 => 3,
                75..=89 => 4,
                90..=94 => 5,
                _ => rng.gen_range(6..=8),
            };
            let payer = match rng.gen_range(0..100) {
                0..=74 => Payer::Steady,
                75..=92 => Payer::Late,
                _ => Payer::BigSpender,
            };
            let usage_percent =
                if rng.gen_range(0..100) < 3 { rng.gen_range(300..=450) } else { rng.gen_range(70..=130) };
            Customer {
                name: format!(
                    "{}{}{}",
                    SURNAMES[rng.gen_range(0..SURNAMES.len())],
                    GIVEN[rng.gen_range(0..GIVEN.len())],
                    index
                ),
                household_size,
                heating: rng.gen_range(0..100) < 20,
                monthly: rng.gen_range(0..100) < 15,
                payer,
                usage_percent,
                channel: pick_channel(rng),
                concentrator: index / METERS_PER_CONCENTRATOR,
                id: String::new(),
                wallet_id: String::new(),
                token: String::new(),
                meter_id: String::new(),
                counter: 0,
                register_litres: rng.gen_range(0..3_000_000),
                annual_litres: 0,
                tier_year: 0,
                valve_closed: false,
                topup_due: None,
                topup_boost: 1,
            }
        })
        .collect()
}

/// Gas burnt in one hour ending at `beijing` (a Beijing wall-clock time), in litres: cooking
/// peaks morning, noon and evening, more in winter; wall-boiler households heat all day from
/// November to March; bigger households use more. Never above the meter's maximum flow.
pub fn hourly_litres(rng: &mut StdRng, customer: &Customer, beijing: chrono::NaiveDateTime) -> u64 {
    if customer.valve_closed {
        return 0;
    }
    let hour = beijing.hour();
    let winter = matches!(beijing.month(), 11 | 12 | 1 | 2 | 3);
    let cooking: u64 = match hour {
        0..=5 => {
            if rng.gen_range(0..10) == 0 {
                rng.gen_range(5..30)
            } else {
                0
            }
        }
        6..=8 => rng.gen_range(60..260),
        11..=12 => rng.gen_range(60..320),
        17..=20 => rng.gen_range(120..450),
        _ => rng.gen_range(0..80),
    };
    let cooking = cooking * (60 + 15 * u64::from(customer.household_size)) / 100;
    let winter_evening = if winter && (17..=22).contains(&hour) { cooking / 3 } else { 0 };
    let heating = if customer.heating && winter {
        let base = if (0..=5).contains(&hour) { rng.gen_range(300..600) } else { rng.gen_range(500..1200) };
        base * (80 + 10 * u64::from(customer.household_size.min(6))) / 100
    } else {
        0
    };
    let litres = (cooking + winter_evening + heating) * customer.usage_percent / 100;
    litres.min(MAX_FLOW_LITRES_PER_HOUR)
}

/// A top-up the customer makes when it is due, in fen: about two weeks of their gas.
pub fn topup_fen(rng: &mut StdRng, customer: &Customer) -> u64 {
    let base_yuan: u64 = match customer.payer {
        Payer::Steady => rng.gen_range(100..=400),
        Payer::Late => rng.gen_range(50..=200),
        Payer::BigSpender => rng.gen_range(1_000..=3_000),
    };
    let base_yuan = if customer.heating { base_yuan * 4 } else { base_yuan };
    let base_yuan = base_yuan * customer.usage_percent.max(100) / 100;
    // Most top-ups are round; some carry cents (a counter clerk's "88.88").
    let cents = if rng.gen_range(0..5) == 0 { rng.gen_range(1..100) } else { 0 };
    base_yuan * 100 + cents
}

/// CNY from fen, scale 2.
pub fn yuan(fen: u64) -> Decimal {
    Decimal::new(fen as i64, 2)
}

/// One tier table version as the server serves it, for the simulator's own pricing.
#[derive(Debug, Clone)]
pub struct TierTable {
    /// (`up_to` in m³ or `None` for the open last tier, price per m³).
    pub tiers: Vec<(Option<Decimal>, Decimal)>,
    pub uplift: Option<(u8, Decimal)>,
    /// `(month, day)` on which the tier year restarts.
    pub cycle_start: (u32, u32),
}

impl TierTable {
    /// Reads `GET /v1/tariffs/{code}`: the latest version in force on `date`.
    pub fn from_json(json: &Value, date: chrono::NaiveDate) -> anyhow::Result<TierTable> {
        let versions = json["versions"].as_array().context("tariff without versions")?;
        let mut chosen = None;
        for version in versions {
            let from = version["effective_from"].as_str().context("effective_from")?;
            let from = chrono::NaiveDate::parse_from_str(from, "%Y-%m-%d")?;
            if from <= date {
                chosen = Some(version);
            }
        }
        let version = chosen.context("no tariff version in force at the start")?;
        let mut tiers = Vec::new();
        for tier in version["tiers"].as_array().context("tiers")? {
            let up_to = match &tier["up_to"] {
                Value::Null => None,
                value => Some(value.as_str().context("up_to")?.parse::<Decimal>()?),
            };
            tiers.push((up_to, tier["price"].as_str().context("price")?.parse::<Decimal>()?));
        }
        let uplift = match &version["household_uplift"] {
            Value::Null => None,
            uplift => Some((
                u8::try_from(uplift["min_household_size"].as_u64().context("min_household_size")?)?,
                uplift["extra_m3_per_boundary"].as_str().context("extra_m3_per_boundary")?.parse::<Decimal>()?,
            )),
        };
        let cycle = version["cycle_start"].as_str().context("cycle_start")?;
        let (month, day) = cycle.split_once('-').context("cycle_start is MM-DD")?;
        Ok(TierTable { tiers, uplift, cycle_start: (month.parse()?, day.parse()?) })
    }

    /// The tier year a Beijing date lies in (named by the year it starts in).
    pub fn tier_year(&self, date: chrono::NaiveDate) -> i32 {
        if (date.month(), date.day()) >= self.cycle_start {
            date.year()
        } else {
            date.year() - 1
        }
    }

    /// Volume and amount per tier of `volume` m³ used after `annual` m³ of the tier year, each
    /// line's amount half-up to the fen (the rule the tariff documents).
    pub fn price(&self, household_size: u8, annual: Decimal, volume: Decimal) -> Vec<(usize, Decimal, Decimal)> {
        let extra = match self.uplift {
            Some((min_size, extra)) if household_size >= min_size => extra,
            _ => Decimal::ZERO,
        };
        let mut lines = Vec::new();
        let mut lower = Decimal::ZERO;
        let end = annual + volume;
        for (index, (up_to, price)) in self.tiers.iter().enumerate() {
            let upper = up_to.map(|up_to| up_to + extra);
            let from = annual.max(lower);
            let to = upper.map_or(end, |upper| end.min(upper));
            if to > from {
                let portion = to - from;
                let amount = (portion * price).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
                lines.push((index, portion, amount));
            }
            match upper {
                Some(upper) => lower = upper,
                None => break,
            }
        }
        lines
    }
}

/// Registers the town through the API: concentrators, merchants, technicians, a finance token,
/// then every customer with a token and a meter installed at `installed_at` (customers
/// concurrently, `in_flight` at a time). The opening top-ups are the hour loop's first act.
pub async fn register(
    api: &Api,
    rng: &mut StdRng,
    seed: u64,
    tag: &str,
    customers: Vec<Customer>,
    installed_at: &str,
    in_flight: usize,
) -> anyhow::Result<Town> {
    let admin = api.admin_token.clone();
    let finance_token = issue_token(api, "finance", None).await?;
    let concentrators = customers.len().div_ceil(METERS_PER_CONCENTRATOR).max(1);
    let mut concentrator_tokens = Vec::with_capacity(concentrators);
    for index in 0..concentrators {
        let created = api
            .post("/v1/concentrators", &admin, &json!({ "name": format!("集中器 {tag} #{index}") }), None)
            .await?
            .expect_status(201, "POST /v1/concentrators")?;
        concentrator_tokens.push(issue_token(api, "concentrator", Some(&created.text("id")?)).await?);
    }
    let merchant_count = (customers.len() / 40).clamp(3, 50);
    let mut merchants = Vec::with_capacity(merchant_count);
    for index in 0..merchant_count {
        let (kind, fee_rate, ticket_yuan) = MERCHANT_KINDS[index % MERCHANT_KINDS.len()];
        let name = format!("{}{}号店", kind, index + 1);
        let created = api
            .post("/v1/merchants", &admin, &json!({ "name": name, "fee_rate": fee_rate }), None)
            .await?
            .expect_status(201, "POST /v1/merchants")?;
        let id = created.text("id")?;
        let token = issue_token(api, "merchant", Some(&id)).await?;
        merchants.push(Merchant { name, fee_rate, ticket_yuan, id, token });
    }
    let technician_count = (customers.len() / 60).clamp(2, 30);
    let mut technicians = Vec::with_capacity(technician_count);
    for index in 0..technician_count {
        let name = format!("{}师傅{}", SURNAMES[rng.gen_range(0..SURNAMES.len())], index + 1);
        let created = api
            .post("/v1/technicians", &admin, &json!({ "name": name }), None)
            .await?
            .expect_status(201, "POST /v1/technicians")?;
        let id = created.text("id")?;
        let token = issue_token(api, "technician", Some(&id)).await?;
        technicians.push(Technician { name, id, token });
    }

    let keys: Arc<Vec<SigningKey>> = Arc::new((0..customers.len()).map(|index| meter_key(seed, index)).collect());
    let jobs: Vec<(usize, Customer)> = customers.into_iter().enumerate().collect();
    let api_for_tasks = api.clone();
    let keys_for_tasks = Arc::clone(&keys);
    let tag_for_tasks = tag.to_owned();
    let installed_at = installed_at.to_owned();
    let customers = concurrently(jobs, in_flight, move |(index, customer)| {
        let api = api_for_tasks.clone();
        let keys = Arc::clone(&keys_for_tasks);
        let tag = tag_for_tasks.clone();
        let installed_at = installed_at.clone();
        async move { register_customer(&api, index, customer, &keys, &tag, &installed_at).await }
    })
    .await?;
    Ok(Town { customers, merchants, technicians, concentrator_tokens, finance_token, keys })
}

async fn issue_token(api: &Api, role: &str, subject: Option<&str>) -> anyhow::Result<String> {
    let body = match subject {
        Some(subject) => json!({ "role": role, "subject_id": subject }),
        None => json!({ "role": role }),
    };
    api.post("/v1/tokens", &api.admin_token, &body, None).await?.expect_status(201, "POST /v1/tokens")?.text("token")
}

async fn register_customer(
    api: &Api,
    index: usize,
    mut customer: Customer,
    keys: &[SigningKey],
    tag: &str,
    installed_at: &str,
) -> anyhow::Result<Customer> {
    let admin = &api.admin_token;
    let body = json!({
        "name": customer.name,
        "household_size": customer.household_size,
        "tariff": if customer.heating { "residential-heating" } else { "residential" },
        "billing_mode": if customer.monthly { "monthly" } else { "per_reading" },
    });
    let created = api.post("/v1/customers", admin, &body, None).await?.expect_status(201, "POST /v1/customers")?;
    customer.id = created.text("id")?;
    customer.wallet_id = created.text("wallet_id")?;
    customer.token = issue_token(api, "customer", Some(&customer.id)).await?;
    let key = keys.get(index).context("a meter key per customer")?;
    let serial: String = format!("BJ{tag}M{index:07}").chars().filter(char::is_ascii_alphanumeric).collect();
    let serial: String = serial.chars().rev().take(32).collect::<Vec<_>>().into_iter().rev().collect();
    let body = json!({
        "serial": serial,
        "customer_id": customer.id,
        "public_key": hex::encode(key.verifying_key().to_bytes()),
        "initial_register": register_text(customer.register_litres),
        "installed_at": installed_at,
    });
    let meter = api.post("/v1/meters", admin, &body, None).await?;
    if meter.status != 201 {
        bail!("POST /v1/meters for customer {index}: {} {}", meter.status, meter.json);
    }
    customer.meter_id = meter.text("id")?;
    Ok(customer)
}

/// A register in m³ with exactly three decimals, from litres.
pub fn register_text(litres: u64) -> String {
    format!("{}.{:03}", litres / 1000, litres % 1000)
}

/// The Beijing wall-clock time of a Unix second.
pub fn beijing(unix_seconds: i64) -> anyhow::Result<chrono::NaiveDateTime> {
    chrono::DateTime::from_timestamp(unix_seconds + settlement::business_day::BEIJING_UTC_OFFSET_SECONDS, 0)
        .map(|at| at.naive_utc())
        .context("a time out of range")
}
