//! The end of the run: what the server says (wallets, credit profiles, trial balance, wallet
//! roll-forward, verify), set beside what the simulator counted itself, as a table a finance
//! manager reads and one JSON line; each tie-out is a named check with both sides.

use super::client::{concurrently, Api};
use super::play::{Sim, Tally};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Chart codes read from the trial balance.
pub const CODE_CHANNEL_CLEARING: u64 = 1122;
pub const CODE_MERCHANT_PAYABLE: u64 = 2202;
pub const CODE_TECHNICIAN_PAYABLE: u64 = 2203;
pub const CODE_SERVICE_ESCROW: u64 = 2204;
pub const CODE_CUSTOMER_WALLETS: u64 = 2241;
pub const CODE_GAS_REVENUE: u64 = 6001;
pub const CODE_MERCHANT_FEES: u64 = 6051;
pub const CODE_SERVICE_COMMISSION: u64 = 6052;

/// One tie-out: both sides and whether they agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub expected: String,
    pub actual: String,
    pub ties_out: bool,
}

/// What a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Every number of the run (deterministic for a seed).
    pub figures: Value,
    pub checks: Vec<Check>,
    pub all_tie_out: bool,
    /// The first few answers the simulator did not plan for (empty when all is well).
    pub unexpected_samples: Vec<String>,
    /// Known server issues seen (they do not fail the run; see docs/simulate.md).
    pub known_issues: Vec<String>,
    /// Wall time of the whole run and of the hour loop, and the readings' rate over the loop.
    pub elapsed_s: f64,
    pub play_s: f64,
    pub readings_per_s: f64,
}

fn dec(value: &Value) -> Decimal {
    value.as_str().and_then(|text| text.parse::<Decimal>().ok()).unwrap_or(Decimal::ZERO)
}

fn check_equal(checks: &mut Vec<Check>, name: &str, expected: impl ToString, actual: impl ToString) {
    let (expected, actual) = (expected.to_string(), actual.to_string());
    let ties_out = expected == actual;
    checks.push(Check { name: name.to_owned(), expected, actual, ties_out });
}

fn check_decimal(checks: &mut Vec<Check>, name: &str, expected: Decimal, actual: Decimal) {
    checks.push(Check {
        name: name.to_owned(),
        expected: expected.round_dp(2).to_string(),
        actual: actual.round_dp(2).to_string(),
        ties_out: expected == actual,
    });
}

/// Per chart code: closing − opening of the report (the run's movement when `from` is its start).
fn movements(report: &Value) -> BTreeMap<u64, Decimal> {
    report["lines"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .filter_map(|line| Some((line["code"].as_u64()?, dec(&line["closing"]) - dec(&line["opening"]))))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads the server's side and builds the summary.
pub async fn summarise(sim: &Sim, from: Option<String>) -> anyhow::Result<Summary> {
    let api: &Api = &sim.api;
    let finance = sim.town.finance_token.clone();
    let tally: &Tally = &sim.tally;

    // Wallets and credit profiles, every customer.
    let customers: Vec<(String, String)> =
        sim.town.customers.iter().map(|customer| (customer.id.clone(), customer.wallet_id.clone())).collect();
    let api_for_tasks = api.clone();
    let token = finance.clone();
    let answers = concurrently(customers, sim.in_flight, move |(customer_id, wallet_id)| {
        let api = api_for_tasks.clone();
        let token = token.clone();
        async move {
            let wallet = api.get_ok(&format!("/v1/wallets/{wallet_id}"), &token).await?;
            let profile = api.get_ok(&format!("/v1/customers/{customer_id}/credit-profile"), &token).await?;
            Ok((wallet, profile))
        }
    })
    .await?;
    let (mut balances, mut arrears, mut held) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    let (mut in_arrears, mut negative, mut valves_closed_at_end) = (0u64, 0u64, 0u64);
    let mut grades: BTreeMap<String, u64> = BTreeMap::new();
    let mut score_total = 0i64;
    for (customer, (wallet, profile)) in sim.town.customers.iter().zip(&answers) {
        balances += dec(&wallet["balance"]);
        let owed = dec(&wallet["arrears"]);
        arrears += owed;
        held += dec(&wallet["held"]);
        in_arrears += u64::from(owed > Decimal::ZERO);
        negative += u64::from(dec(&wallet["balance"]) < Decimal::ZERO);
        valves_closed_at_end += u64::from(customer.valve_closed);
        *grades.entry(profile["grade"].as_str().unwrap_or("?").to_owned()).or_default() += 1;
        score_total += profile["score"].as_i64().unwrap_or(0);
    }
    let mean_score = if answers.is_empty() { 0 } else { score_total / answers.len() as i64 };

    let query = from.as_ref().map(|from| format!("?from={from}")).unwrap_or_default();
    let trial = api.get_ok(&format!("/v1/reports/trial-balance{query}"), &finance).await?;
    let roll = api.get_ok(&format!("/v1/reports/wallet-roll-forward{query}"), &finance).await?;
    let verify = api.post("/v1/ledger/verify", &finance, &json!({}), None).await?.expect_status(200, "verify")?.json;
    let moved = movements(&trial);
    let code = |code: u64| moved.get(&code).copied().unwrap_or(Decimal::ZERO);

    let embedded = sim.clock.is_some();
    let mut checks = Vec::new();
    check_equal(&mut checks, "no unexpected answers", 0, tally.unexpected);
    check_equal(
        &mut checks,
        "readings accepted = sent − rejected",
        tally.readings_sent - tally.readings_rejected,
        tally.readings_accepted,
    );
    check_equal(&mut checks, "readings rejected = replays injected", tally.replays_injected, tally.readings_rejected);
    check_equal(&mut checks, "replays refused as replayed_reading", tally.replays_injected, tally.replays_rejected);
    check_equal(&mut checks, "per-reading charges off the tier tables", 0, tally.charge_mismatches);
    check_decimal(
        &mut checks,
        "per-reading charges = tier-table price",
        tally.expected_per_reading,
        tally.charged_per_reading,
    );
    check_decimal(
        &mut checks,
        "gas revenue (6001) = per-reading charges + monthly bills",
        tally.charged_per_reading + tally.monthly_billed,
        code(CODE_GAS_REVENUE),
    );
    check_decimal(&mut checks, "top-ups: simulator = roll-forward", tally.topups_amount, dec(&roll["topups"]));
    check_decimal(
        &mut checks,
        "top-ups: simulator = channel clearing (1122)",
        tally.topups_amount,
        code(CODE_CHANNEL_CLEARING),
    );
    check_decimal(&mut checks, "payments: simulator = roll-forward", tally.payments_amount, dec(&roll["payments"]));
    check_decimal(&mut checks, "refunds: simulator = roll-forward", tally.refunds_amount, dec(&roll["refunds"]));
    let wallet_expected = tally.topups_amount - code(CODE_GAS_REVENUE) - tally.payments_amount + tally.refunds_amount
        - tally.service_captured;
    check_decimal(
        &mut checks,
        "Σ(balance − arrears) = top-ups − gas − payments + refunds − services",
        wallet_expected,
        balances - arrears,
    );
    if embedded {
        check_decimal(&mut checks, "Σ wallet balances = roll-forward closing", balances, dec(&roll["closing"]));
        check_decimal(&mut checks, "Σ wallet balances = wallets (2241)", balances, code(CODE_CUSTOMER_WALLETS));
        check_equal(&mut checks, "payments settled = payments made", tally.payments, tally.merchant_payment_count);
        check_equal(&mut checks, "refunds settled = refunds made", tally.refunds, tally.merchant_refund_count);
        check_decimal(&mut checks, "settled gross = payments", tally.payments_amount, tally.merchant_gross);
        check_decimal(&mut checks, "settled refunds = refunds", tally.refunds_amount, tally.merchant_refunded);
        let fees = tally.merchant_fees_charged - tally.merchant_fees_returned;
        check_decimal(&mut checks, "merchant fees (6051) = settled fees", fees, code(CODE_MERCHANT_FEES));
        check_decimal(
            &mut checks,
            "merchant payable (2202) = payments − refunds − fees − payouts",
            tally.payments_amount - tally.refunds_amount - fees - tally.merchant_payouts,
            code(CODE_MERCHANT_PAYABLE),
        );
        check_decimal(
            &mut checks,
            "services captured = technician payouts + payable (2203) + commission (6052) + escrow (2204)",
            tally.service_captured,
            tally.technician_net
                + code(CODE_TECHNICIAN_PAYABLE)
                + code(CODE_SERVICE_COMMISSION)
                + code(CODE_SERVICE_ESCROW),
        );
        check_equal(&mut checks, "reconciliation breaks found = injected", tally.breaks_injected, tally.breaks_found);
        check_equal(&mut checks, "daily closes balanced", tally.closes, tally.closes_balanced);
    }
    check_equal(&mut checks, "trial balance balanced", true, trial["totals"]["balanced"] == true);
    check_decimal(
        &mut checks,
        "trial balance debits = credits",
        dec(&trial["totals"]["debits"]),
        dec(&trial["totals"]["credits"]),
    );
    check_equal(&mut checks, "wallet roll-forward ties out", true, roll["ties_out"] == true);
    check_equal(&mut checks, "ledger verify ok", true, verify["ok"] == true);
    let all_tie_out = checks.iter().all(|check| check.ties_out);

    let tiers: Vec<Value> = tally
        .tier_volume
        .iter()
        .zip(&tally.tier_amount)
        .enumerate()
        .filter(|(_, (volume, _))| **volume > Decimal::ZERO)
        .map(|(tier, (volume, amount))| json!({ "tier": tier + 1, "volume_m3": volume.to_string(), "amount": amount.to_string() }))
        .collect();
    let channels: BTreeMap<String, Value> = tally
        .topups_by_channel
        .iter()
        .map(|(channel, (count, amount))| (channel.clone(), json!({ "count": count, "amount": amount.to_string() })))
        .collect();
    let figures = json!({
        "town": {
            "customers": sim.town.customers.len(),
            "heating_households": sim.town.customers.iter().filter(|c| c.heating).count(),
            "monthly_billing": sim.town.customers.iter().filter(|c| c.monthly).count(),
            "households_of_6_or_more": sim.town.customers.iter().filter(|c| c.household_size >= 6).count(),
            "merchants": sim.town.merchants.len(),
            "technicians": sim.town.technicians.len(),
            "concentrators": sim.town.concentrator_tokens.len(),
            "hours": sim.hours,
        },
        "readings": {
            "sent": tally.readings_sent, "accepted": tally.readings_accepted, "rejected": tally.readings_rejected,
            "replays_injected": tally.replays_injected,
        },
        "gas": {
            "volume_m3": Decimal::new(tally.gas_litres as i64, 3).to_string(),
            "by_tier": tiers,
            "charged_per_reading": tally.charged_per_reading.to_string(),
            "monthly_bills": tally.monthly_bills,
            "monthly_billed": tally.monthly_billed.to_string(),
            "monthly_accrued_unbilled": (tally.expected_monthly_accrued - tally.monthly_billed).to_string(),
            "revenue": code(CODE_GAS_REVENUE).to_string(),
        },
        "money_in": {
            "topups": tally.topups, "amount": tally.topups_amount.to_string(), "by_channel": channels,
            "topups_refused_insufficient_funds": tally.topups_refused,
        },
        "merchants": {
            "payments": tally.payments, "payments_amount": tally.payments_amount.to_string(),
            "declined_insufficient_funds": tally.payments_declined,
            "refunds": tally.refunds, "refunds_amount": tally.refunds_amount.to_string(),
            "settlement_batches": tally.merchant_batches,
            "fees": (tally.merchant_fees_charged - tally.merchant_fees_returned).to_string(),
            "payouts": tally.merchant_payouts.to_string(),
            "payable_at_end": code(CODE_MERCHANT_PAYABLE).to_string(),
        },
        "service_orders": {
            "booked": tally.orders_booked, "refused_insufficient_funds": tally.orders_refused,
            "cancelled": tally.orders_cancelled, "ratings_1_to_5": &tally.ratings[1..],
            "left_unrated": tally.orders_left_unrated, "auto_rated": tally.auto_rated,
            "disputes": tally.disputes, "resolutions": tally.resolutions,
            "open_at_end": tally.orders_open_at_end,
            "disputes_open_at_end": tally.disputes_open_at_end,
            "escrow_at_end": code(CODE_SERVICE_ESCROW).to_string(),
            "captured": tally.service_captured.to_string(), "refunded": tally.service_refunded.to_string(),
            "commission": code(CODE_SERVICE_COMMISSION).to_string(),
            "payout_batches": tally.technician_batches,
            "technician_payouts": tally.technician_net.to_string(),
            "technician_payable_at_end": code(CODE_TECHNICIAN_PAYABLE).to_string(),
        },
        "wallets": {
            "balances": balances.to_string(), "arrears": arrears.to_string(), "held": held.to_string(),
            "customers_in_arrears": in_arrears, "negative_balances": negative,
            "valves_closed_at_end": valves_closed_at_end,
        },
        "events": tally.events,
        "reconciliation": {
            "statements": tally.reconciliations,
            "breaks_injected": tally.breaks_injected,
            "injected_missing": tally.injected_by_kind.missing,
            "injected_extra": tally.injected_by_kind.extra,
            "injected_amount_off": tally.injected_by_kind.amount_off,
            "breaks_found": tally.breaks_found,
            "found_by_kind": tally.found_by_kind,
        },
        "closes": { "days_closed": tally.closes, "balanced": tally.closes_balanced },
        "credit": { "grades": grades, "mean_score": mean_score },
        "trial_balance": {
            "debits": trial["totals"]["debits"], "credits": trial["totals"]["credits"],
            "balanced": trial["totals"]["balanced"],
        },
        "roll_forward": {
            "opening": roll["opening"], "topups": roll["topups"], "gas": roll["gas"], "payments": roll["payments"],
            "refunds": roll["refunds"], "other": roll["other"], "closing": roll["closing"], "ties_out": roll["ties_out"],
            "lines": roll["lines"],
        },
        "verify": { "ok": verify["ok"], "entries_checked": verify["entries_checked"] },
    });
    Ok(Summary {
        figures,
        checks,
        all_tie_out,
        unexpected_samples: tally.unexpected_samples.clone(),
        known_issues: tally.topups_refused_samples.iter().map(|sample| format!("top-up refused: {sample}")).collect(),
        elapsed_s: 0.0,
        play_s: 0.0,
        readings_per_s: 0.0,
    })
}

/// The table a finance manager reads.
pub fn render(summary: &Summary) -> String {
    let f = &summary.figures;
    let s = |value: &Value| match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let mut text = String::new();
    let _ = writeln!(text, "\n=== gaswallet simulate: a town in a box ===");
    let sections: Vec<(&str, Vec<(&str, &Value)>)> = vec![
        (
            "Town 城镇",
            vec![
                ("customers 用户", &f["town"]["customers"]),
                ("  wall-boiler heating 采暖户", &f["town"]["heating_households"]),
                ("  monthly billing 月结", &f["town"]["monthly_billing"]),
                ("  households of 6+ 六口及以上", &f["town"]["households_of_6_or_more"]),
                ("merchants 商户", &f["town"]["merchants"]),
                ("technicians 师傅", &f["town"]["technicians"]),
                ("hours played 小时", &f["town"]["hours"]),
            ],
        ),
        (
            "Meter readings 抄表",
            vec![
                ("sent 上报", &f["readings"]["sent"]),
                ("accepted 接受", &f["readings"]["accepted"]),
                ("rejected (injected replays) 拒绝", &f["readings"]["rejected"]),
                ("gas volume m³ 用气量", &f["gas"]["volume_m3"]),
            ],
        ),
        (
            "Gas billed 燃气收入 (CNY)",
            vec![
                ("charged per reading 按读数扣费", &f["gas"]["charged_per_reading"]),
                ("monthly bills issued 月账单", &f["gas"]["monthly_bills"]),
                ("monthly billed 月结金额", &f["gas"]["monthly_billed"]),
                ("gas revenue (6001) 燃气收入", &f["gas"]["revenue"]),
            ],
        ),
        ("Money in 充值", vec![("top-ups 笔数", &f["money_in"]["topups"]), ("amount 金额", &f["money_in"]["amount"])]),
        (
            "Merchants 商户",
            vec![
                ("payments 支付笔数", &f["merchants"]["payments"]),
                ("payments amount 支付金额", &f["merchants"]["payments_amount"]),
                ("declined (insufficient funds) 余额不足", &f["merchants"]["declined_insufficient_funds"]),
                ("refunds 退款笔数", &f["merchants"]["refunds"]),
                ("refunds amount 退款金额", &f["merchants"]["refunds_amount"]),
                ("fees (commission) 手续费", &f["merchants"]["fees"]),
                ("payouts T+1 结算", &f["merchants"]["payouts"]),
            ],
        ),
        (
            "Service orders 维修工单",
            vec![
                ("booked 预约", &f["service_orders"]["booked"]),
                ("disputes 争议", &f["service_orders"]["disputes"]),
                ("auto-rated 自动评价", &f["service_orders"]["auto_rated"]),
                ("captured from wallets 实收", &f["service_orders"]["captured"]),
                ("commission 平台佣金", &f["service_orders"]["commission"]),
                ("technician payouts 师傅结算", &f["service_orders"]["technician_payouts"]),
            ],
        ),
        (
            "Wallets 钱包",
            vec![
                ("balances 余额", &f["wallets"]["balances"]),
                ("arrears 欠费", &f["wallets"]["arrears"]),
                ("customers in arrears 欠费户", &f["wallets"]["customers_in_arrears"]),
                ("valve closures 关阀", &f["events"]["valve_close"]),
                ("valves closed at end 期末关阀", &f["wallets"]["valves_closed_at_end"]),
                ("low-balance reminders 余额提醒", &f["events"]["low_balance"]),
            ],
        ),
        (
            "Reconciliation 对账",
            vec![
                ("WeChat statements 微信账单", &f["reconciliation"]["statements"]),
                ("breaks injected 注入差错", &f["reconciliation"]["breaks_injected"]),
                ("breaks found 发现差错", &f["reconciliation"]["breaks_found"]),
                ("days closed 日结", &f["closes"]["days_closed"]),
            ],
        ),
        (
            "Books 账簿",
            vec![
                ("trial balance debits 借方", &f["trial_balance"]["debits"]),
                ("trial balance credits 贷方", &f["trial_balance"]["credits"]),
                ("roll-forward closing 钱包负债", &f["roll_forward"]["closing"]),
                ("verify entries checked 校验", &f["verify"]["entries_checked"]),
            ],
        ),
    ];
    for (title, rows) in sections {
        let _ = writeln!(text, "\n{title}");
        for (label, value) in rows {
            let value = if value.is_null() { "0".to_owned() } else { s(value) };
            let _ = writeln!(text, "  {label:<40} {value:>18}");
        }
    }
    if let Some(tiers) = f["gas"]["by_tier"].as_array() {
        let _ = writeln!(text, "\nGas by tier 阶梯 (tier-table price of every reading)");
        for tier in tiers {
            let _ = writeln!(
                text,
                "  tier {} {:>16} m³ {:>16} CNY",
                s(&tier["tier"]),
                s(&tier["volume_m3"]),
                s(&tier["amount"])
            );
        }
    }
    if let Some(grades) = f["credit"]["grades"].as_object() {
        let line: Vec<String> = grades.iter().map(|(grade, n)| format!("{grade}: {n}")).collect();
        let _ = writeln!(
            text,
            "\nCredit grades 信用等级  {}  (mean score {})",
            line.join("  "),
            s(&f["credit"]["mean_score"])
        );
    }
    let _ = writeln!(text, "\nTie-outs 勾稽");
    for check in &summary.checks {
        let _ = writeln!(
            text,
            "  [{}] {:<72} expected {:>14}  actual {:>14}  ties_out: {}",
            if check.ties_out { "ok" } else { "!!" },
            check.name,
            check.expected,
            check.actual,
            check.ties_out
        );
    }
    for sample in &summary.unexpected_samples {
        let _ = writeln!(text, "  unexpected answer: {sample}");
    }
    let refused = &f["money_in"]["topups_refused_insufficient_funds"];
    if refused.as_u64().unwrap_or(0) > 0 {
        let _ = writeln!(
            text,
            "\n[warn] known server issue: {} top-ups refused with insufficient_funds (a wallet left beyond a \
             lowered credit limit with arrears; docs/simulate.md); the customers came back with more",
            s(refused)
        );
        for issue in summary.known_issues.iter().take(2) {
            let _ = writeln!(text, "  {issue}");
        }
    }
    let _ = writeln!(
        text,
        "\nelapsed {:.1} s (hour loop {:.1} s, {:.0} readings/s); all tie out: {}",
        summary.elapsed_s, summary.play_s, summary.readings_per_s, summary.all_tie_out
    );
    text
}
