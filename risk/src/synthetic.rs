//! Synthetic customers with a known latent default propensity, to fit and measure the model on
//! data whose ground truth is known.
//!
//! Pure and seeded: the generator is a [`SplitMix64`] written here (no `rand`), and customer `i`
//! of a run draws from its own stream seeded by `(seed, period, i)`, so a customer does not change
//! when the run grows, and runs can be split across threads without changing a number.
//!
//! # The model of a customer
//!
//! Each customer has a latent propensity `z ~ N(μ, 1)` (higher is riskier; `μ` is 0 in period 1
//! and [`PERIOD_2_PROPENSITY_SHIFT`] in period 2). Everything it does is drawn from `z`:
//!
//! - **Bills**: one per month since it joined (at most 24 months before `as_of`, and for the
//!   12 months after), due 10 days after issue. Each month draws `z_t = z + 0.7 ε`. The bill is
//!   late with probability `σ(−2.6 + 1.3 z_t − 0.1 min(tenure years, 5))` (+0.4 on the logit in
//!   the first 6 months); a late bill is *severely* late with probability `σ(−4.2 + 1.2 z_t)`, 46 days plus an
//!   exponential of mean 40 days, otherwise 1 day plus an exponential of mean 6 (at most 44). An
//!   on-time bill is paid 0–9 days before its due time.
//! - **Arrears**: the union of the overdue intervals `[due, paid)` of its bills.
//! - **Valve closures**: for non-payment when an arrears episode reaches 45 days (the staged
//!   reminder, temporary close and emergency credit are assumed used up by then); rare
//!   maintenance closures, which must not count.
//! - **Gas spend**: a household base of `exp(N(ln 25, 0.4))` m³ a month, seasonal
//!   (`1 + 0.5 cos`, peaking in mid-January), ±15 % noise, at 2.61 CNY/m³ (period 2: +5 %).
//! - **Balances**: weekly samples over the last 120 days: `spend × exp(0.5 − 0.35 z + 0.6 ε)`, or
//!   a negative balance while in arrears.
//! - **Top-ups**: every `30 × exp(s ε − s²/2)` days (at least one), `s = 0.2 + 0.5 σ(1.2 z)`:
//!   riskier customers top up more erratically.
//! - **Disputes** with probability `σ(−4 + 0.6 z)` a month, **tamper flags** `σ(−5.5 + 1.2 z)`.
//! - **Tenure**: 4 % (period 2: 6 %) joined in the last 60 days, the rest 60 days to 10 years.
//!
//! # The outcome
//!
//! The design's definition, read off the simulated 12 months after `as_of`: **bad** when an
//! arrears episode reaches 90 days, or the valve is closed for non-payment, inside
//! `(as_of, as_of + 365 d]`. The history handed to the feature code is only what was known at
//! `as_of` (later payments are still unpaid, open episodes still open).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::features::{
    ArrearsEpisode, BalanceSample, BillFact, CustomerHistory, MonthlyGasSpend, ValveCloseReason, ValveClosure, DAY_MS,
    MONTH_MS,
};
use crate::woe::Outcome;

/// 2025-01-01T00:00:00+08:00 (Beijing), the `as_of` of period 1.
pub const PERIOD_1_AS_OF_UNIX_MS: i64 = 1_735_660_800_000;

/// A year later, the `as_of` of period 2.
pub const PERIOD_2_AS_OF_UNIX_MS: i64 = PERIOD_1_AS_OF_UNIX_MS + 365 * DAY_MS;

/// How much riskier the period-2 population is on the latent scale: a mild drift.
pub const PERIOD_2_PROPENSITY_SHIFT: f64 = 0.15;

/// Days an arrears episode runs before the valve is closed for non-payment.
pub const VALVE_CLOSE_AFTER_ARREARS_DAYS: i64 = 45;

/// Days in arrears that make a customer bad.
pub const BAD_ARREARS_DAYS: i64 = 90;

/// Most customers one call generates.
pub const CUSTOMERS_PER_RUN_MAX: usize = 10_000_000;

const OUTCOME_WINDOW_MS: i64 = 365 * DAY_MS;
const HISTORY_MONTHS_MAX: i64 = 24;
const BILL_DUE_AFTER_ISSUE_MS: i64 = 10 * DAY_MS;
const TARIFF_FEN_PER_M3: f64 = 261.0;

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, well-mixed 64-bit generator. Enough for a
/// simulation; not for anything secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator from a seed.
    #[must_use]
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller, one of the pair; simple beats fast here).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]: ln is finite.
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// True with probability `p`.
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }

    /// Exponential with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.next_f64()).ln()
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn days_ms(days: f64) -> i64 {
    (days * DAY_MS as f64).round() as i64
}

fn fen(amount_fen: f64) -> Decimal {
    Decimal::new(amount_fen.round() as i64, 2)
}

/// Which of the two generated periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// The fitting period.
    First,
    /// A year later, with a mild drift (riskier population, more new customers, dearer gas).
    Second,
}

impl Period {
    /// The `as_of` of the period.
    #[must_use]
    pub fn as_of_unix_ms(self) -> i64 {
        match self {
            Period::First => PERIOD_1_AS_OF_UNIX_MS,
            Period::Second => PERIOD_2_AS_OF_UNIX_MS,
        }
    }

    fn stream(self) -> u64 {
        match self {
            Period::First => 1,
            Period::Second => 2,
        }
    }
}

/// One synthetic customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyntheticCustomer {
    /// The latent propensity `z` (higher is riskier): the ground truth the score should recover.
    pub latent_propensity: f64,
    /// What was known at `as_of`.
    pub history: CustomerHistory,
    /// When the features are taken.
    pub as_of_unix_ms: i64,
    /// Good or bad over the 12 months after `as_of`.
    pub outcome: Outcome,
    /// Mean spend of the (up to) 12 months closed before `as_of`, CNY, rounded down to the fen;
    /// zero for a customer with no closed month. What a credit limit would multiply.
    pub average_monthly_gas_spend_cny: Decimal,
}

/// The seed of customer `index` of `period` in a run seeded `seed`.
fn customer_seed(seed: u64, period: Period, index: u64) -> u64 {
    let mut mixer = SplitMix64::new(seed ^ period.stream().wrapping_mul(0xA076_1D64_78BD_642F));
    let base = mixer.next_u64();
    SplitMix64::new(base ^ index.wrapping_mul(0xE703_7ED1_A0B4_28DB)).next_u64()
}

/// Generates `count` customers of a period (at most [`CUSTOMERS_PER_RUN_MAX`]; more are cut).
#[must_use]
pub fn generate(seed: u64, period: Period, count: usize) -> Vec<SyntheticCustomer> {
    (0..count.min(CUSTOMERS_PER_RUN_MAX) as u64).map(|index| generate_customer(seed, period, index)).collect()
}

/// Generates customer `index` of a period, the same every time.
#[must_use]
pub fn generate_customer(seed: u64, period: Period, index: u64) -> SyntheticCustomer {
    let mut rng = SplitMix64::new(customer_seed(seed, period, index));
    let as_of = period.as_of_unix_ms();
    let second = period == Period::Second;
    let z = rng.normal() + if second { PERIOD_2_PROPENSITY_SHIFT } else { 0.0 };

    let new_share = if second { 0.06 } else { 0.04 };
    let tenure_days = if rng.bernoulli(new_share) { rng.next_f64() * 60.0 } else { 60.0 + rng.next_f64() * 3_590.0 };
    let since = as_of - days_ms(tenure_days);
    let horizon = as_of + OUTCOME_WINDOW_MS;
    let history_start = since.max(as_of - HISTORY_MONTHS_MAX * MONTH_MS);

    // Bills, month by month from the customer's start, over the history and the outcome year.
    let mut bills_full: Vec<BillFact> = Vec::new();
    let first_month = (history_start - since + MONTH_MS - 1) / MONTH_MS;
    let mut month = first_month.max(1);
    loop {
        let issued = since + month * MONTH_MS;
        if issued > horizon {
            break;
        }
        let due = issued + BILL_DUE_AFTER_ISSUE_MS;
        let z_t = z + 0.7 * rng.normal();
        let new_customer_logit = if month <= 6 { 0.4 } else { 0.0 };
        let tenure_years = (month as f64 / 12.0).min(5.0);
        let late_logit = -2.6 + 1.3 * z_t + new_customer_logit - 0.1 * tenure_years;
        let paid = if rng.bernoulli(sigmoid(late_logit)) {
            let delay_days = if rng.bernoulli(sigmoid(-4.2 + 1.2 * z_t)) {
                46.0 + rng.exponential(40.0)
            } else {
                (1.0 + rng.exponential(6.0)).min(44.0)
            };
            due + days_ms(delay_days)
        } else {
            (due - days_ms(rng.next_f64() * 9.0)).max(issued)
        };
        bills_full.push(BillFact {
            bill_id: month as u64,
            issued_at_unix_ms: issued,
            due_at_unix_ms: due,
            paid_at_unix_ms: (paid <= horizon).then_some(paid),
        });
        month += 1;
    }

    // Arrears: the union of overdue intervals (open ones run to the horizon).
    let mut overdue: Vec<(i64, i64)> = bills_full
        .iter()
        .filter_map(|bill| {
            let paid = bill.paid_at_unix_ms.unwrap_or(horizon);
            (paid > bill.due_at_unix_ms).then_some((bill.due_at_unix_ms, paid))
        })
        .collect();
    overdue.sort_unstable();
    let mut episodes: Vec<(i64, i64)> = Vec::new();
    for (start, end) in overdue {
        match episodes.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => episodes.push((start, end)),
        }
    }
    let closures: Vec<i64> = episodes
        .iter()
        .map(|(start, _)| start + VALVE_CLOSE_AFTER_ARREARS_DAYS * DAY_MS)
        .zip(episodes.iter())
        .filter(|(closed_at, (_, end))| closed_at < end)
        .map(|(closed_at, _)| closed_at)
        .collect();

    // The outcome, from the year after as_of.
    let in_outcome_window = |at: i64| as_of < at && at <= horizon;
    let reached_bad_arrears = episodes.iter().any(|(start, end)| {
        let ninety_days_in = start + BAD_ARREARS_DAYS * DAY_MS;
        ninety_days_in <= *end && in_outcome_window(ninety_days_in)
    });
    let closed_for_non_payment = closures.iter().any(|at| in_outcome_window(*at));
    let outcome = if reached_bad_arrears || closed_for_non_payment { Outcome::Bad } else { Outcome::Good };

    // What was known at as_of.
    let bills: Vec<BillFact> = bills_full
        .iter()
        .filter(|bill| bill.issued_at_unix_ms <= as_of)
        .map(|bill| BillFact { paid_at_unix_ms: bill.paid_at_unix_ms.filter(|paid| *paid <= as_of), ..*bill })
        .collect();
    let arrears_episodes: Vec<ArrearsEpisode> = episodes
        .iter()
        .filter(|(start, _)| *start <= as_of)
        .map(|(start, end)| ArrearsEpisode { start_unix_ms: *start, end_unix_ms: (*end <= as_of).then_some(*end) })
        .collect();
    let mut valve_closures: Vec<ValveClosure> = closures
        .iter()
        .filter(|at| **at <= as_of)
        .map(|at| ValveClosure { at_unix_ms: *at, reason: ValveCloseReason::NonPayment })
        .collect();

    // Gas spend, month by month up to as_of.
    let base_m3 = (25f64.ln() + 0.4 * rng.normal()).exp();
    let price_fen = TARIFF_FEN_PER_M3 * if second { 1.05 } else { 1.0 };
    let mut monthly_gas_spend: Vec<MonthlyGasSpend> = Vec::new();
    let mut month = first_month.max(1);
    while since + month * MONTH_MS <= as_of {
        let closed_at = since + month * MONTH_MS;
        let day_of_year = (closed_at.rem_euclid(365 * DAY_MS) / DAY_MS) as f64;
        let season = 1.0 + 0.5 * (std::f64::consts::TAU * (day_of_year - 15.0) / 365.0).cos();
        let volume_m3 = base_m3 * season * (1.0 + 0.15 * rng.normal()).max(0.1);
        monthly_gas_spend.push(MonthlyGasSpend { closed_at_unix_ms: closed_at, spend_cny: fen(volume_m3 * price_fen) });
        if rng.bernoulli(0.003) {
            valve_closures.push(ValveClosure { at_unix_ms: closed_at, reason: ValveCloseReason::Maintenance });
        }
        month += 1;
    }
    let recent: Vec<Decimal> = monthly_gas_spend.iter().rev().take(12).map(|spend| spend.spend_cny).collect();
    let average_monthly_gas_spend_cny = if recent.is_empty() {
        Decimal::ZERO
    } else {
        crate::credit_limit::round_down_to_fen(
            recent.iter().copied().sum::<Decimal>() / Decimal::from(recent.len() as u64),
        )
    };
    let typical_spend_fen = base_m3 * price_fen;

    // Weekly balances over the last 120 days.
    let coverage_log_mean = 0.5 - 0.35 * z;
    let mut balance_samples: Vec<BalanceSample> = Vec::new();
    let mut at = as_of - 119 * DAY_MS;
    while at <= as_of {
        if at >= since {
            let in_arrears = arrears_episodes
                .iter()
                .any(|episode| episode.start_unix_ms <= at && episode.end_unix_ms.is_none_or(|end| at < end));
            let balance_fen = if in_arrears {
                -typical_spend_fen * (0.3 + 0.7 * rng.next_f64())
            } else {
                typical_spend_fen * (coverage_log_mean + 0.6 * rng.normal()).exp()
            };
            balance_samples.push(BalanceSample { at_unix_ms: at, balance_cny: fen(balance_fen) });
        }
        at += 7 * DAY_MS;
    }

    // Top-ups, disputes, tamper flags up to as_of.
    let spread = 0.2 + 0.5 * sigmoid(1.2 * z);
    let mut top_ups_unix_ms: Vec<i64> = Vec::new();
    let mut at = history_start + days_ms(rng.next_f64() * 30.0);
    while at <= as_of {
        top_ups_unix_ms.push(at);
        let gap_days = (30.0 * (spread * rng.normal() - spread * spread / 2.0).exp()).max(1.0);
        at += days_ms(gap_days);
    }
    let mut disputes_opened_unix_ms: Vec<i64> = Vec::new();
    let mut tamper_flags_unix_ms: Vec<i64> = Vec::new();
    let mut month = first_month.max(1);
    while since + month * MONTH_MS <= as_of {
        let at = since + month * MONTH_MS - DAY_MS;
        if rng.bernoulli(sigmoid(-4.0 + 0.6 * z)) {
            disputes_opened_unix_ms.push(at);
        }
        if rng.bernoulli(sigmoid(-5.5 + 1.2 * z)) {
            tamper_flags_unix_ms.push(at);
        }
        month += 1;
    }

    SyntheticCustomer {
        latent_propensity: z,
        history: CustomerHistory {
            customer_since_unix_ms: since,
            bills,
            arrears_episodes,
            valve_closures,
            balance_samples,
            monthly_gas_spend,
            top_ups_unix_ms,
            disputes_opened_unix_ms,
            tamper_flags_unix_ms,
        },
        as_of_unix_ms: as_of,
        outcome,
        average_monthly_gas_spend_cny,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::features::features_from_history;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // First outputs for seed 0 from the reference implementation (Vigna's splitmix64.c).
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn generation_is_deterministic_and_per_customer() {
        let first = generate(7, Period::First, 50);
        assert_eq!(first, generate(7, Period::First, 50));
        // Customer 10 is the same whether 20 or 50 are generated.
        assert_eq!(generate(7, Period::First, 20)[10], first[10]);
        assert_ne!(generate(8, Period::First, 50), first);
    }

    #[test]
    fn histories_are_valid_and_outcomes_follow_propensity() {
        let customers = generate(1, Period::First, 2_000);
        let mut bad_z = Vec::new();
        let mut good_z = Vec::new();
        for customer in &customers {
            features_from_history(&customer.history, customer.as_of_unix_ms).unwrap();
            match customer.outcome {
                Outcome::Bad => bad_z.push(customer.latent_propensity),
                Outcome::Good => good_z.push(customer.latent_propensity),
            }
        }
        let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
        let bad_rate = bad_z.len() as f64 / customers.len() as f64;
        assert!((0.02..0.25).contains(&bad_rate), "bad rate {bad_rate}");
        assert!(mean(&bad_z) > mean(&good_z) + 0.5, "bads are not riskier on the latent scale");
    }
}
