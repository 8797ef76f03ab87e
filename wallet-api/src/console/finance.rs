//! Finance pages (admin and finance): today's dashboard, the trial balance as of a chosen time,
//! reconciliation upload with the breaks and their drill-down and resolution, settlement and
//! payout batches, the dispute queue, journal verify, and credit profiles with the score
//! distribution. Every page is staff-only, as the API's finance routes are.

use super::svg::{self, Series, TIER_COLOURS};
use super::{check_csrf, field, form_amount, form_idempotency, form_secrets, money, require_staff, Signed};
use crate::http::AppState;
use crate::service::error::{ErrorClass, ServiceError};
use crate::service::finance::TrialBalanceLine;
use crate::service::reconciliation::{
    ReconciliationInput, ReconciliationReport, ResolutionActionName, ResolutionInput, StatementFormat, StatementInput,
};
use crate::service::service_orders::DisputeDecision;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use ledger::Timestamp;
use maud::{html, Markup};
use rust_decimal::Decimal;
use settlement::business_day::{business_day_of, day_bounds_utc, BusinessDay};
use settlement::service_order::OrderStatus;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Customers scored for the distribution chart (a sample: the first ones by id).
pub const SCORED_FOR_DISTRIBUTION_MAX: usize = 5_000;
/// Width of a score-distribution bin, in points.
pub const SCORE_BIN_POINTS: i32 = 50;
/// Reconciliation runs listed.
pub const RUNS_LISTED_MAX: usize = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/finance", get(dashboard))
        .route("/console/finance/trial-balance", get(trial_balance))
        .route(
            "/console/finance/reconciliations",
            get(reconciliations)
                .post(upload)
                .layer(DefaultBodyLimit::max(crate::http::reconciliation::RECONCILIATION_REQUEST_BODY_BYTES_MAX)),
        )
        .route("/console/finance/reconciliations/{id}", get(report))
        .route("/console/finance/reconciliations/{id}/breaks/{break_id}", get(break_page).post(resolve_break))
        .route("/console/finance/batches", get(batches))
        .route("/console/finance/settlements/merchants", post(settle_merchants))
        .route("/console/finance/settlements/technicians", post(pay_technicians))
        .route("/console/finance/payouts/{id}", get(payout))
        .route("/console/finance/disputes", get(disputes))
        .route("/console/finance/disputes/{id}", post(resolve_dispute))
        .route("/console/finance/verify", get(verify_page).post(verify))
        .route("/console/finance/credit", get(credit))
}

/// A finance form: its CSRF token first, then the staff role.
fn staff_form(signed: &Signed, form: &HashMap<String, String>) -> Option<Response> {
    check_csrf(signed, form).or_else(|| require_staff(signed))
}

fn today(state: &AppState) -> Result<BusinessDay, ServiceError> {
    business_day_of(state.service.now().unix_micros().div_euclid(1_000_000))
        .map_err(|error| ServiceError::new(ErrorClass::Internal, "internal_error", error.to_string()))
}

/// The closing balance of a chart code in a trial balance (zero when no account carries it).
/// Found by code, never by the account's name, which is display text.
fn closing_of(lines: &[TrialBalanceLine], code: ledger::ChartCode) -> Decimal {
    lines.iter().find(|line| line.code == code.0).map_or(Decimal::ZERO, |line| line.closing)
}

async fn dashboard(State(state): State<AppState>, signed: Signed) -> Response {
    if let Some(refused) = require_staff(&signed) {
        return refused;
    }
    let ctx = &signed.ctx;
    let result = (|| {
        let day = today(&state)?;
        let (start, _) = day_bounds_utc(day);
        let start = Timestamp::from_unix_seconds(start);
        let now = state.service.now();
        let roll = state.service.wallet_roll_forward(Some(start), now)?;
        let trial = state.service.trial_balance(None, now)?;
        Ok::<_, ServiceError>((day, start, roll, trial))
    })();
    let (day, start, roll, trial) = match result {
        Ok(found) => found,
        Err(error) => return ctx.error(&error),
    };
    // Top-ups by channel, gas by tier and payouts today, read from the same projection the API
    // answers from.
    let (by_channel, by_tier, merchant_payouts, technician_payouts) = {
        let projection = state.service.projection().read();
        let mut by_channel: BTreeMap<String, (u64, Decimal)> = BTreeMap::new();
        for topup in projection.topups.values().filter(|topup| topup.at >= start) {
            let entry = by_channel.entry(topup.channel.clone()).or_default();
            entry.0 += 1;
            entry.1 += topup.amount;
        }
        let mut by_tier: BTreeMap<usize, (Decimal, Decimal)> = BTreeMap::new();
        for bills in projection.bills.values() {
            for bill in bills.iter().rev().take_while(|bill| bill.at >= start) {
                for line in &bill.reading.lines {
                    let entry = by_tier.entry(line.tier + 1).or_default();
                    entry.0 += line.volume_m3;
                    entry.1 += line.amount;
                }
            }
        }
        let date = day.to_string();
        let merchant_payouts: Decimal = projection
            .merchant_settlements
            .get(&date)
            .map_or(Decimal::ZERO, |lines| lines.values().map(|line| line.payout).sum());
        let technician_payouts: Decimal = projection
            .payout_batches
            .values()
            .filter(|batch| batch.period.to.to_string() == date)
            .map(|batch| batch.totals.net)
            .sum();
        (by_channel, by_tier, merchant_payouts, technician_payouts)
    };
    let liability = closing_of(&trial.lines, ledger::chart::CUSTOMER_WALLET);
    let arrears = closing_of(&trial.lines, ledger::chart::CUSTOMER_ARREARS);
    let tiers: Vec<String> = by_tier.keys().map(|tier| format!("{} {tier}", ctx.t("tier"))).collect();
    let tier_series = vec![Series {
        label: ctx.t("amount").to_owned(),
        colour: TIER_COLOURS[0],
        values: by_tier.values().map(|(_, amount)| *amount).collect(),
    }];
    ctx.page(
        StatusCode::OK,
        ctx.t("nav_dashboard"),
        html! {
            p { (ctx.t("today")) ": " strong { (day) } }
            div.cards {
                div.card.big #liability { span.label { (ctx.t("wallet_liability")) } span.value { "¥" (money(liability)) } }
                div.card { span.label { (ctx.t("arrears")) } span.value { "¥" (money(arrears)) } }
                div.card { span.label { (ctx.t("topups_by_channel")) } span.value { "¥" (money(roll.topups)) } }
                div.card { span.label { (ctx.t("gas_by_tier")) } span.value { "¥" (money(roll.gas)) } }
                div.card { span.label { (ctx.t("payouts")) } span.value { "¥" (money(merchant_payouts + technician_payouts)) } }
            }
            h2 { (ctx.t("topups_by_channel")) }
            table.data #topups {
                thead { tr { th { (ctx.t("channel")) } th.num { (ctx.t("count")) } th.num { (ctx.t("amount")) } } }
                tbody { @for (channel, (count, amount)) in &by_channel { tr { td { (channel) } td.num { (count) } td.num { (money(*amount)) } } } }
            }
            h2 { (ctx.t("gas_by_tier")) }
            @if by_tier.is_empty() { p { (ctx.t("empty")) } } @else {
                (super::svg_markup(svg::stacked_bars(ctx.t("gas_by_tier"), "CNY", &tiers, &tier_series)))
                table.data {
                    thead { tr { th { (ctx.t("tier")) } th.num { (ctx.t("volume")) } th.num { (ctx.t("amount")) } } }
                    tbody { @for (tier, (volume, amount)) in &by_tier { tr { td { (tier) } td.num { (crate::service::volume(*volume)) } td.num { (money(*amount)) } } } }
                }
            }
        },
    )
}

#[derive(Debug, serde::Deserialize)]
struct AsOfQuery {
    as_of: Option<String>,
}

/// A `datetime-local` value (`YYYY-MM-DDTHH:MM`) read as Beijing time, or RFC 3339.
fn parse_as_of(text: &str) -> Option<Timestamp> {
    crate::time::parse_rfc3339(text).or_else(|| {
        let seconds = if text.len() == 16 { format!("{text}:00") } else { text.to_owned() };
        crate::time::parse_rfc3339(&format!("{seconds}+08:00"))
    })
}

async fn trial_balance(State(state): State<AppState>, signed: Signed, Query(query): Query<AsOfQuery>) -> Response {
    if let Some(refused) = require_staff(&signed) {
        return refused;
    }
    let ctx = &signed.ctx;
    let as_of = match query.as_of.as_deref().filter(|text| !text.is_empty()) {
        None => state.service.now(),
        Some(text) => match parse_as_of(text) {
            Some(at) => at,
            None => return ctx.error(&ServiceError::validation("as_of must be a date and time")),
        },
    };
    let trial = match state.service.trial_balance(None, as_of) {
        Ok(trial) => trial,
        Err(error) => return ctx.error(&error),
    };
    let picker = super::beijing(as_of).replace(' ', "T").chars().take(16).collect::<String>();
    ctx.page(
        StatusCode::OK,
        ctx.t("nav_trial_balance"),
        html! {
            form.inline method="get" action="/console/finance/trial-balance" {
                label for="as_of" { (ctx.t("as_of")) }
                input #as_of type="datetime-local" name="as_of" value=(picker);
                button type="submit" { (ctx.t("show")) }
            }
            p.status-line {
                @if trial.totals.balanced { span.ok #balanced { (ctx.t("balanced")) } } @else { span.error { (ctx.t("not_balanced")) } }
                " · " (ctx.t("as_of")) " " (super::beijing(as_of)) " (#" (trial.as_of_sequence) ")"
            }
            table.data #trial-balance {
                thead { tr {
                    th { (ctx.t("code_col")) } th { (ctx.t("account_name")) } th.num { (ctx.t("opening")) }
                    th.num { (ctx.t("debits")) } th.num { (ctx.t("credits")) } th.num { (ctx.t("closing")) }
                } }
                tbody {
                    @for line in &trial.lines {
                        tr { td { (line.code) } td { (line.name) } td.num { (money(line.opening)) } td.num { (money(line.debits)) } td.num { (money(line.credits)) } td.num { (money(line.closing)) } }
                    }
                }
                tfoot { tr { th colspan="3" { (ctx.t("total")) } td.num { (money(trial.totals.debits)) } td.num { (money(trial.totals.credits)) } td {} } }
            }
        },
    )
}

fn upload_form(signed: &Signed) -> Markup {
    let ctx = &signed.ctx;
    html! {
        form.card method="post" action="/console/finance/reconciliations" enctype="multipart/form-data" {
            (super::csrf_field(&signed.csrf_token))
            label for="channel" { (ctx.t("channel")) }
            select #channel name="channel" {
                @for channel in crate::service::ids::CHANNELS { option value=(channel) { (channel) } }
            }
            label for="format" { (ctx.t("format")) }
            select #format name="format" {
                option value="generic" { (ctx.t("format_generic")) }
                option value="wechat" { (ctx.t("format_wechat")) }
                option value="alipay" { (ctx.t("format_alipay")) }
            }
            label for="date" { (ctx.t("date_optional")) }
            input #date type="date" name="date";
            label for="statement" { (ctx.t("statement_file")) }
            input #statement type="file" name="statement" required accept=".csv,text/csv,text/plain";
            button type="submit" id="reconcile" { (ctx.t("reconcile")) }
        }
    }
}

async fn reconciliations(State(state): State<AppState>, signed: Signed) -> Response {
    if let Some(refused) = require_staff(&signed) {
        return refused;
    }
    let ctx = &signed.ctx;
    let mut runs: Vec<(Timestamp, Uuid, String, String, u64)> = state
        .service
        .projection()
        .read()
        .reconciliations
        .values()
        .map(|run| (run.at, run.run.id, run.run.channel.clone(), run.run.date.clone(), run.run.statement_lines))
        .collect();
    runs.sort_unstable_by(|left, right| right.cmp(left));
    runs.truncate(RUNS_LISTED_MAX);
    ctx.page(
        StatusCode::OK,
        ctx.t("nav_reconciliation"),
        html! {
            h2 { (ctx.t("upload")) }
            (upload_form(&signed))
            h2 { (ctx.t("reconciliations")) }
            @if runs.is_empty() { p { (ctx.t("empty")) } } @else {
                table.data {
                    thead { tr { th { (ctx.t("time")) } th { (ctx.t("channel")) } th { (ctx.t("date")) } th.num { (ctx.t("count")) } th {} } }
                    tbody { @for (at, id, channel, date, lines) in &runs {
                        tr { td { (super::beijing(*at)) } td { (channel) } td { (date) } td.num { (lines) } td { a href={ "/console/finance/reconciliations/" (id) } { (ctx.t("details")) } } }
                    } }
                }
            }
        },
    )
}

async fn upload(State(state): State<AppState>, signed: Signed, mut multipart: Multipart) -> Response {
    if let Some(refused) = require_staff(&signed) {
        return refused;
    }
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut statement: Option<Vec<u8>> = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(part)) => {
                let name = part.name().unwrap_or("").to_owned();
                match part.bytes().await {
                    Ok(bytes) if name == "statement" => statement = Some(bytes.to_vec()),
                    Ok(bytes) => {
                        fields.insert(name, String::from_utf8_lossy(&bytes).into_owned());
                    }
                    Err(error) => {
                        return signed.ctx.error(&ServiceError::new(
                            ErrorClass::BadRequest,
                            "bad_upload",
                            error.body_text(),
                        ))
                    }
                }
            }
            Ok(None) => break,
            Err(error) => {
                return signed.ctx.error(&ServiceError::new(ErrorClass::BadRequest, "bad_upload", error.body_text()))
            }
        }
    }
    if let Some(refused) = check_csrf(&signed, &fields) {
        return refused;
    }
    let result = async {
        let format = match field(&fields, "format") {
            "wechat" => StatementFormat::Wechat,
            "alipay" => StatementFormat::Alipay,
            _ => StatementFormat::Generic,
        };
        let day = match field(&fields, "date") {
            "" => None,
            date => Some(BusinessDay::parse(date).map_err(|_| ServiceError::validation("date must be YYYY-MM-DD"))?),
        };
        let bytes = statement
            .filter(|bytes| !bytes.is_empty())
            .ok_or_else(|| ServiceError::validation("choose a statement file"))?;
        // Alipay bills are GBK: pass the bytes as the API's statement_base64 does; others are text.
        let statement = match (format, String::from_utf8(bytes)) {
            (StatementFormat::Alipay, Ok(text)) => StatementInput::Bytes(text.into_bytes()),
            (StatementFormat::Alipay, Err(error)) => StatementInput::Bytes(error.into_bytes()),
            (_, Ok(text)) => StatementInput::Text(text),
            (_, Err(_)) => return Err(ServiceError::validation("the statement is not UTF-8 text")),
        };
        let input = ReconciliationInput {
            channel: field(&fields, "channel").to_owned(),
            format,
            day,
            statement,
            date_drift_seconds: 0,
            amount_tolerance: Decimal::ZERO,
        };
        state.service.reconcile_statement(&signed.principal, input).await
    }
    .await;
    match result {
        Ok(report) => super::see_other(&format!("/console/finance/reconciliations/{}", report.id)),
        Err(error) => {
            let status = crate::http::error::status_of(error.class);
            let ctx = &signed.ctx;
            ctx.page(status, ctx.t("nav_reconciliation"), html! { (super::error_box(&error)) (upload_form(&signed)) })
        }
    }
}

fn load_report(state: &AppState, id: &str) -> Result<ReconciliationReport, ServiceError> {
    Uuid::parse_str(id)
        .ok()
        .and_then(|id| state.service.reconciliation_report(id))
        .ok_or_else(|| ServiceError::not_found("no such report"))
}

fn amount_or_dash(amount: Option<Decimal>) -> String {
    amount.map_or_else(|| "—".to_owned(), money)
}

async fn report(State(state): State<AppState>, signed: Signed, Path(id): Path<String>) -> Response {
    if let Some(refused) = require_staff(&signed) {
        return refused;
    }
    let ctx = &signed.ctx;
    let report = match load_report(&state, &id) {
        Ok(report) => report,
        Err(error) => return ctx.error(&error),
    };
    let buckets = [
        ("matched", &report.matched),
        ("overage", &report.overage),
        ("shortage", &report.shortage),
        ("amount_mismatch", &report.amount_mismatch),
        ("status_mismatch", &report.status_mismatch),
    ];
    ctx.page(
        StatusCode::OK,
        ctx.t("nav_reconciliation"),
        html! {
            p { (report.channel) " · " (report.format.as_str()) " · " (report.date) " · " (ctx.t("open_breaks")) ": " strong #open-breaks { (report.open_breaks) } }
            table.data #buckets {
                thead { tr { th {} th.num { (ctx.t("count")) } th.num { (ctx.t("statement_side")) } th.num { (ctx.t("ledger_side")) } } }
                tbody { @for (id, bucket) in &buckets {
                    tr class={ "bucket-" (id) } { th { (ctx.t(id)) } td.num { (bucket.count) } td.num { (money(bucket.statement_total)) } td.num { (money(bucket.ledger_total)) } }
                } }
                tfoot { tr { th { (ctx.t("total")) } td.num { (report.statement_totals.count) " / " (report.ledger_totals.count) } td.num { (money(report.statement_totals.net)) } td.num { (money(report.ledger_totals.net)) } } }
            }
            h2 { (ctx.t("breaks")) }
            @if report.breaks.is_empty() { p { (ctx.t("empty")) } } @else {
                table.data #breaks {
                    thead { tr { th { (ctx.t("kind")) } th { (ctx.t("txn")) } th.num { (ctx.t("statement_side")) } th.num { (ctx.t("ledger_side")) } th { (ctx.t("status")) } th {} } }
                    tbody { @for one in &report.breaks {
                        @let kind = serde_json::to_value(one.kind).ok().and_then(|value| value.as_str().map(str::to_owned)).unwrap_or_default();
                        tr {
                            td { (if crate::console::i18n::has(&kind) { ctx.t(&kind).to_owned() } else { kind.clone() }) }
                            td.mono { (one.channel_txn_id) }
                            td.num { (amount_or_dash(one.statement_amount)) }
                            td.num { (amount_or_dash(one.ledger_amount)) }
                            td { @if one.resolution.is_some() { (ctx.t("resolved")) } @else { (ctx.t("open")) } }
                            td { a href={ "/console/finance/reconciliations/" (report.id) "/breaks/" (one.break_id) } { (ctx.t("details")) } }
                        }
                    } }
                }
            }
        },
    )
}

async fn break_page(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, break_id)): Path<(String, String)>,
) -> Response {
    if let Some(refused) = require_staff(&signed) {
        return refused;
    }
    let ctx = &signed.ctx;
    let report = match load_report(&state, &id) {
        Ok(report) => report,
        Err(error) => return ctx.error(&error),
    };
    let Some(one) = report.breaks.iter().find(|one| one.break_id.to_string() == break_id) else {
        return ctx.error(&ServiceError::not_found("no such break"));
    };
    let detail = serde_json::to_string_pretty(one).unwrap_or_default();
    ctx.page(
        StatusCode::OK,
        ctx.t("breaks"),
        html! {
            pre.detail #break-detail { (detail) }
            @if one.resolvable && one.resolution.is_none() {
                form.card method="post" action={ "/console/finance/reconciliations/" (report.id) "/breaks/" (one.break_id) } {
                    (form_secrets(&signed.csrf_token))
                    label for="action" { (ctx.t("action")) }
                    select #action name="action" {
                        option value="adjust" { (ctx.t("action_adjust")) }
                        option value="refund" { (ctx.t("action_refund")) }
                        option value="write_off" { (ctx.t("action_write_off")) }
                    }
                    label for="amount" { (ctx.t("amount")) }
                    input #amount type="text" name="amount" required value=(money(one.channel_excess.abs()));
                    label for="wallet_id" { (ctx.t("wallet_id")) }
                    input #wallet_id type="text" name="wallet_id" value=[one.wallet_id];
                    label for="note" { (ctx.t("note")) }
                    input #note type="text" name="note" maxlength="256";
                    button type="submit" id="resolve" { (ctx.t("resolve")) }
                }
            }
            p { a href={ "/console/finance/reconciliations/" (report.id) } { (ctx.t("back")) } }
        },
    )
}

async fn resolve_break(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, break_id)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = check_csrf(&signed, &form) {
        return refused;
    }
    let result = async {
        let not_found = || ServiceError::not_found("no such report or break");
        let run_id = Uuid::parse_str(&id).map_err(|_| not_found())?;
        let break_id = Uuid::parse_str(&break_id).map_err(|_| not_found())?;
        let action = match field(&form, "action") {
            "adjust" => ResolutionActionName::Adjust,
            "refund" => ResolutionActionName::Refund,
            "write_off" => ResolutionActionName::WriteOff,
            _ => return Err(ServiceError::validation("unknown action")),
        };
        let wallet_id = match field(&form, "wallet_id") {
            "" => None,
            text => Some(Uuid::parse_str(text).map_err(|_| ServiceError::validation("wallet_id is not a UUID"))?),
        };
        let note = Some(field(&form, "note").to_owned()).filter(|note| !note.is_empty());
        let input = ResolutionInput { action, amount: form_amount(&form, "amount")?, note, wallet_id };
        let request = form_idempotency(&signed, &form, &["action", "amount", "wallet_id", "note"])?;
        state.service.resolve_break(&signed.principal, run_id, break_id, input, Some(&request)).await
    }
    .await;
    match result {
        Ok(answer) if answer.status < 300 => super::see_other(&format!("/console/finance/reconciliations/{id}")),
        Ok(answer) => signed.ctx.error(&ServiceError::new(
            ErrorClass::Unprocessable,
            "resolution_refused",
            answer.body["detail"].as_str().unwrap_or("refused").to_owned(),
        )),
        Err(error) => signed.ctx.error(&error),
    }
}

async fn batches(State(state): State<AppState>, signed: Signed) -> Response {
    if let Some(refused) = require_staff(&signed) {
        return refused;
    }
    let ctx = &signed.ctx;
    let yesterday =
        crate::service::service_orders::yesterday(state.service.now()).map(|day| day.to_string()).unwrap_or_default();
    let (days, mut payouts) = {
        let projection = state.service.projection().read();
        let days: Vec<(String, usize, Decimal)> = projection
            .merchant_settlements
            .iter()
            .rev()
            .take(30)
            .map(|(date, lines)| (date.clone(), lines.len(), lines.values().map(|line| line.payout).sum()))
            .collect();
        let payouts: Vec<(String, Uuid, usize, Decimal)> = projection
            .payout_batches
            .values()
            .map(|batch| {
                (
                    format!("{} – {}", batch.period.from, batch.period.to),
                    batch.batch_id,
                    batch.totals.technicians,
                    batch.totals.net,
                )
            })
            .collect();
        (days, payouts)
    };
    payouts.sort_unstable_by(|left, right| right.0.cmp(&left.0));
    ctx.page(
        StatusCode::OK,
        ctx.t("nav_batches"),
        html! {
            div.columns {
                form.card method="post" action="/console/finance/settlements/merchants" {
                    h2 { (ctx.t("settle_merchants")) }
                    (form_secrets(&signed.csrf_token))
                    label for="settle-date" { (ctx.t("date")) }
                    input #settle-date type="date" name="date" required value=(yesterday);
                    button type="submit" id="settle" { (ctx.t("run")) }
                }
                form.card method="post" action="/console/finance/settlements/technicians" {
                    h2 { (ctx.t("pay_technicians")) }
                    (form_secrets(&signed.csrf_token))
                    label for="from" { (ctx.t("from")) }
                    input #from type="date" name="from" required value=(yesterday);
                    label for="to" { (ctx.t("to")) }
                    input #to type="date" name="to" required value=(yesterday);
                    button type="submit" id="pay" { (ctx.t("run")) }
                }
            }
            h2 { (ctx.t("settle_merchants")) }
            table.data #merchant-batches {
                thead { tr { th { (ctx.t("date")) } th.num { (ctx.t("merchant")) } th.num { (ctx.t("payout")) } th {} } }
                tbody { @for (date, merchants, payout) in &days {
                    tr { td { (date) } td.num { (merchants) } td.num { (money(*payout)) } td { a href={ "/console/merchant/settlements?date=" (date) } { (ctx.t("details")) } } }
                } }
            }
            h2 { (ctx.t("pay_technicians")) }
            table.data #payout-batches {
                thead { tr { th { (ctx.t("period")) } th.num { (ctx.t("technician")) } th.num { (ctx.t("net")) } th {} } }
                tbody { @for (period, id, technicians, net) in &payouts {
                    tr { td { (period) } td.num { (technicians) } td.num { (money(*net)) } td { a href={ "/console/finance/payouts/" (id) } { (ctx.t("details")) } } }
                } }
            }
        },
    )
}

fn parse_day(text: &str) -> Result<BusinessDay, ServiceError> {
    BusinessDay::parse(text).map_err(|_| ServiceError::validation("dates are YYYY-MM-DD"))
}

async fn settle_merchants(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = staff_form(&signed, &form) {
        return refused;
    }
    // Idempotent per day in the service (the API's settlement takes no key either).
    let result = async { state.service.settle_merchants(parse_day(field(&form, "date"))?).await }.await;
    match result {
        Ok(batch) => super::see_other(&format!("/console/merchant/settlements?date={}", batch.date)),
        Err(error) => signed.ctx.error(&error),
    }
}

async fn pay_technicians(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = staff_form(&signed, &form) {
        return refused;
    }
    // Idempotent per period in the service: the same period is the same batch.
    let result = async {
        let from = parse_day(field(&form, "from"))?;
        let to = parse_day(field(&form, "to"))?;
        state.service.pay_technicians(from, to).await
    }
    .await;
    match result {
        Ok(batch) => super::see_other(&format!("/console/finance/payouts/{}", batch.batch_id)),
        Err(error) => signed.ctx.error(&error),
    }
}

async fn payout(State(state): State<AppState>, signed: Signed, Path(id): Path<String>) -> Response {
    if let Some(refused) = require_staff(&signed) {
        return refused;
    }
    let ctx = &signed.ctx;
    let Some(batch) = Uuid::parse_str(&id).ok().and_then(|id| state.service.payout_batch(id)) else {
        return ctx.error(&ServiceError::not_found("no such payout batch"));
    };
    ctx.page(
        StatusCode::OK,
        ctx.t("pay_technicians"),
        html! {
            p { (ctx.t("period")) ": " (batch.period.from) " – " (batch.period.to) " · " (ctx.t("net")) ": ¥" (money(batch.totals.net)) }
            table.data #payout-lines {
                thead { tr { th { (ctx.t("technician")) } th.num { (ctx.t("orders")) } th.num { (ctx.t("gross")) } th.num { (ctx.t("fees")) } th.num { (ctx.t("net")) } } }
                tbody { @for line in &batch.lines {
                    tr { td.mono { (line.technician_id) } td.num { (line.orders.len()) } td.num { (money(line.gross)) } td.num { (money(line.commission)) } td.num { (money(line.net)) } }
                } }
            }
        },
    )
}

async fn disputes(State(state): State<AppState>, signed: Signed) -> Response {
    if let Some(refused) = require_staff(&signed) {
        return refused;
    }
    let ctx = &signed.ctx;
    let mut open: Vec<crate::service::service_orders::ServiceOrder> = state
        .service
        .projection()
        .read()
        .service_orders
        .values()
        .filter(|order| order.status == OrderStatus::Disputed)
        .cloned()
        .collect();
    open.sort_by_key(|order| order.booked_at);
    ctx.page(
        StatusCode::OK,
        ctx.t("nav_disputes"),
        html! {
            @if open.is_empty() { p #no-disputes { (ctx.t("empty")) } } @else {
                table.data #disputes {
                    thead { tr { th { (ctx.t("service")) } th.num { (ctx.t("price")) } th.num { (ctx.t("stars")) } th { (ctx.t("comment")) } th { (ctx.t("resolve")) } } }
                    tbody { @for order in &open {
                        tr id={ "order-" (order.id) } {
                            td { (order.service) br; small.mono { (order.id) } }
                            td.num { (money(order.price)) }
                            td.num { (order.stars.unwrap_or(0)) }
                            td { (order.comment.clone().unwrap_or_default()) }
                            td {
                                form.inline method="post" action={ "/console/finance/disputes/" (order.id) } {
                                    (form_secrets(&signed.csrf_token))
                                    select name="resolution" aria-label=(ctx.t("resolve")) {
                                        option value="pay_in_full" { (ctx.t("pay_in_full")) }
                                        option value="partial_refund" { (ctx.t("partial_refund")) }
                                        option value="full_refund" { (ctx.t("full_refund")) }
                                    }
                                    input type="text" name="refund_amount" size="6" placeholder=(ctx.t("refund_amount")) aria-label=(ctx.t("refund_amount"));
                                    button type="submit" class="resolve" { (ctx.t("resolve")) }
                                }
                            }
                        }
                    } }
                }
            }
        },
    )
}

async fn resolve_dispute(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = staff_form(&signed, &form) {
        return refused;
    }
    let result = async {
        let order_id = Uuid::parse_str(&id).map_err(|_| ServiceError::not_found("no such order"))?;
        let decision = match (field(&form, "resolution"), field(&form, "refund_amount")) {
            ("pay_in_full", "") => DisputeDecision::PayInFull,
            ("full_refund", "") => DisputeDecision::FullRefund,
            ("partial_refund", text) if !text.is_empty() => {
                DisputeDecision::PartialRefund(form_amount(&form, "refund_amount")?)
            }
            _ => {
                return Err(ServiceError::validation("a refund amount is given for a partial refund, and only for it"))
            }
        };
        // Resolving is a step of the order's state machine: a second submit finds the order
        // resolved and is refused, so nothing moves twice.
        state.service.resolve_service_dispute(&signed.principal, order_id, decision).await
    }
    .await;
    match result {
        Ok(_) => super::see_other("/console/finance/disputes"),
        Err(error) => signed.ctx.error(&error),
    }
}

fn verify_form(signed: &Signed) -> Markup {
    html! {
        form.card method="post" action="/console/finance/verify" {
            (super::csrf_field(&signed.csrf_token))
            p.help { (signed.ctx.t("verify_help")) }
            button type="submit" id="verify" { (signed.ctx.t("verify")) }
        }
    }
}

async fn verify_page(signed: Signed) -> Response {
    if let Some(refused) = require_staff(&signed) {
        return refused;
    }
    signed.ctx.page(StatusCode::OK, signed.ctx.t("nav_verify"), verify_form(&signed))
}

async fn verify(State(state): State<AppState>, signed: Signed, Form(form): Form<HashMap<String, String>>) -> Response {
    if let Some(refused) = staff_form(&signed, &form) {
        return refused;
    }
    let ctx = &signed.ctx;
    let reader = state.service.reader().clone();
    let report = match tokio::task::spawn_blocking(move || reader.verify()).await {
        Ok(Ok(report)) => report,
        Ok(Err(fault)) => return ctx.error(&ServiceError::from(fault)),
        Err(_) => {
            return ctx.error(&ServiceError::new(ErrorClass::Internal, "internal_error", "verify did not finish"))
        }
    };
    ctx.page(
        StatusCode::OK,
        ctx.t("nav_verify"),
        html! {
            @if report.ok { p.ok #verify-result role="status" { (ctx.t("verify_ok")) } }
            @else { p.error #verify-result role="alert" { (ctx.t("verify_failed")) } }
            dl.facts {
                dt { (ctx.t("entries_checked")) } dd #entries-checked { (report.records_checked) }
                dt { (ctx.t("head_hash")) } dd.mono { (hex::encode(report.head_hash)) }
                @if let Some(error) = &report.first_error {
                    dt { (ctx.t("error")) } dd { (error.kind.as_str()) ": " (error.detail) }
                }
            }
            (verify_form(&signed))
        },
    )
}

#[derive(Debug, serde::Deserialize)]
struct CreditQuery {
    customer: Option<String>,
}

async fn credit(State(state): State<AppState>, signed: Signed, Query(query): Query<CreditQuery>) -> Response {
    if let Some(refused) = require_staff(&signed) {
        return refused;
    }
    let ctx = &signed.ctx;
    let looked_up = query.customer.as_deref().map(str::trim).filter(|text| !text.is_empty()).map(|text| {
        Uuid::parse_str(text)
            .map_err(|_| ServiceError::not_found("no such customer"))
            .and_then(|id| state.service.credit_profile(&signed.principal, id))
    });
    // The distribution: profiles of a sample of customers, each through the same call.
    let mut ids: Vec<Uuid> = state.service.projection().read().risk.customers.keys().copied().collect();
    ids.sort_unstable();
    ids.truncate(SCORED_FOR_DISTRIBUTION_MAX);
    let mut bins: BTreeMap<i32, u64> = BTreeMap::new();
    for id in &ids {
        if let Ok(profile) = state.service.credit_profile(&signed.principal, *id) {
            *bins.entry(profile.score.div_euclid(SCORE_BIN_POINTS) * SCORE_BIN_POINTS).or_default() += 1;
        }
    }
    let bins: Vec<(String, u64)> = bins.into_iter().map(|(low, count)| (low.to_string(), count)).collect();
    ctx.page(
        StatusCode::OK,
        ctx.t("nav_credit"),
        html! {
            form.inline method="get" action="/console/finance/credit" {
                label for="customer" { (ctx.t("customer_id")) }
                input #customer type="text" name="customer" size="38" value=[query.customer.as_deref()];
                button type="submit" { (ctx.t("look_up")) }
            }
            @match &looked_up {
                Some(Err(error)) => { (super::error_box(error)) }
                Some(Ok(profile)) => {
                    div.cards {
                        div.card.big { span.label { (ctx.t("score")) } span.value #score { (profile.score) } }
                        div.card { span.label { (ctx.t("grade")) } span.value { (serde_json::to_value(profile.grade).ok().and_then(|grade| grade.as_str().map(str::to_owned)).unwrap_or_default()) } }
                        div.card { span.label { (ctx.t("credit_limit")) } span.value { "¥" (profile.credit_limit) } }
                    }
                    table.data {
                        thead { tr { th { (ctx.t("reasons")) } th.num { (ctx.t("points")) } } }
                        tbody { @for reason in &profile.reasons { tr { td { (reason.code) " " (reason.description) } td.num { (reason.points) } } } }
                    }
                    p { (ctx.t("model_version")) ": " (profile.model_version) }
                }
                None => {}
            }
            h2 { (ctx.t("score_distribution")) " (" (ctx.t("customers")) ": " (ids.len()) ")" }
            figure #score-distribution { (super::svg_markup(svg::histogram(ctx.t("score_distribution"), &bins))) }
        },
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use rust_decimal_macros::dec;

    fn line(code: ledger::ChartCode, name: &str, closing: Decimal) -> TrialBalanceLine {
        TrialBalanceLine {
            code: code.0,
            name: name.to_owned(),
            normal_side: "debit",
            accounts: 1,
            opening: Decimal::ZERO,
            debits: closing,
            credits: Decimal::ZERO,
            closing,
        }
    }

    #[test]
    fn dashboard_figures_come_from_chart_codes_not_account_names() {
        let lines = [
            line(ledger::chart::CUSTOMER_WALLET, "Customer wallets (prepaid gas)", dec!(1200.00)),
            line(ledger::chart::CUSTOMER_ARREARS, "应收燃气欠费", dec!(86.13)),
            line(ledger::chart::CHANNEL_REFUND_PAYABLE, "refunds of arrears overpaid", dec!(5.00)),
        ];
        assert_eq!(closing_of(&lines, ledger::chart::CUSTOMER_ARREARS), dec!(86.13));
        assert_eq!(closing_of(&lines, ledger::chart::CUSTOMER_WALLET), dec!(1200.00));
        assert_eq!(closing_of(&lines[..1], ledger::chart::CUSTOMER_ARREARS), Decimal::ZERO);
    }
}
