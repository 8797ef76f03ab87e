//! Customer pages: the wallet with the valve state and what to do next, gas by month as a chart
//! coloured by tier with the annual tier progress, e-bills, the statement, and a one-time payment
//! code shown as a QR code. Staff reach the same pages through the customer list.

use super::svg::{self, Series, TIER_COLOURS};
use super::{check_csrf, form_idempotency, form_secrets, money, require_staff, Signed};
use crate::http::AppState;
use crate::metering::valve::ValveState;
use crate::service::error::ServiceError;
use crate::service::model::{Customer, Role};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use maud::{html, Markup};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Bills read for the consumption chart (the newest ones).
pub const CHART_BILLS_MAX: usize = 1_000;
/// Months shown in the consumption chart.
pub const CHART_MONTHS_MAX: usize = 12;
/// Bills and statement lines per page.
pub const PAGE_LINES: usize = 50;
/// Customers listed for staff.
pub const CUSTOMERS_LISTED_MAX: usize = 500;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/customers", get(customers))
        .route("/console/customers/{id}", get(wallet))
        .route("/console/customers/{id}/bills", get(bills))
        .route("/console/customers/{id}/statement", get(statement))
        .route("/console/customers/{id}/payment-code", get(payment_code_form).post(payment_code))
        .route("/console/bills/{id}", get(bill))
}

fn parse_id(text: &str) -> Result<Uuid, ServiceError> {
    Uuid::parse_str(text).map_err(|_| ServiceError::not_found("no such page"))
}

/// The customer, if the principal may see it (staff, or the customer itself), as `GET
/// /v1/customers/{id}` decides.
fn visible_customer(state: &AppState, signed: &Signed, id: &str) -> Result<Customer, ServiceError> {
    let id = parse_id(id)?;
    let customer = state.service.projection().read().customers.get(&id).cloned();
    match customer {
        Some(customer) if signed.principal.role.is_staff() || signed.principal.is(Role::Customer, id) => Ok(customer),
        _ => Err(ServiceError::not_found(format!("no customer {id}"))),
    }
}

fn sub_nav(signed: &Signed, customer: &Customer) -> Markup {
    // Customers have these links in the top navigation; staff get them under the title.
    if signed.principal.role == Role::Customer {
        return html! {};
    }
    let id = customer.id;
    html! {
        p.subnav {
            (customer.name) " · "
            a href={ "/console/customers/" (id) } { (signed.ctx.t("nav_wallet")) } " · "
            a href={ "/console/customers/" (id) "/bills" } { (signed.ctx.t("nav_bills")) } " · "
            a href={ "/console/customers/" (id) "/statement" } { (signed.ctx.t("nav_statement")) }
        }
    }
}

async fn customers(State(state): State<AppState>, signed: Signed) -> Response {
    if let Some(refused) = require_staff(&signed) {
        return refused;
    }
    let mut list: Vec<Customer> = state.service.projection().read().customers.values().cloned().collect();
    list.sort_by_key(|customer| customer.created_at);
    list.truncate(CUSTOMERS_LISTED_MAX);
    let ctx = &signed.ctx;
    ctx.page(
        StatusCode::OK,
        ctx.t("nav_customers"),
        html! {
            table.data {
                thead { tr { th { (ctx.t("name")) } th { (ctx.t("customer_id")) } th { (ctx.t("nav_wallet")) } } }
                tbody {
                    @for customer in &list {
                        tr {
                            td { (customer.name) }
                            td.mono { (customer.id) }
                            td { a href={ "/console/customers/" (customer.id) } { (ctx.t("details")) } }
                        }
                    }
                }
            }
        },
    )
}

fn valve_of(state: &AppState, customer: Uuid) -> ValveState {
    state.service.projection().read().valves.get(&customer).copied().unwrap_or_default()
}

fn decimal(value: &Value) -> Decimal {
    value.as_str().and_then(|text| text.parse().ok()).unwrap_or(Decimal::ZERO)
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

/// Gas by month (Beijing time, by the reading's date) and tier, from the newest bills.
fn consumption_by_month(bills: &[Value]) -> (Vec<String>, Vec<Series>) {
    let mut months: BTreeMap<String, BTreeMap<u64, Decimal>> = BTreeMap::new();
    let mut tiers = 0u64;
    for bill in bills {
        let month: String = super::beijing_text(text(&bill["period"]["to"])).chars().take(7).collect();
        let by_tier = months.entry(month).or_default();
        for line in bill["lines"].as_array().map_or(&[][..], Vec::as_slice) {
            let tier = line["tier"].as_u64().unwrap_or(1);
            tiers = tiers.max(tier);
            *by_tier.entry(tier).or_default() += decimal(&line["volume"]);
        }
    }
    let skip = months.len().saturating_sub(CHART_MONTHS_MAX);
    let months: Vec<(String, BTreeMap<u64, Decimal>)> = months.into_iter().skip(skip).collect();
    let categories = months.iter().map(|(month, _)| month.clone()).collect();
    let series = (1..=tiers.max(1))
        .map(|tier| Series {
            label: tier.to_string(),
            colour: TIER_COLOURS[usize::try_from(tier - 1).unwrap_or(0) % TIER_COLOURS.len()],
            values: months.iter().map(|(_, by_tier)| by_tier.get(&tier).copied().unwrap_or(Decimal::ZERO)).collect(),
        })
        .collect();
    (categories, series)
}

/// The tier boundaries (upper ends but the last) of the customer's tariff today.
fn tier_boundaries(state: &AppState, customer: &Customer) -> Vec<Decimal> {
    let projection = state.service.projection().read();
    let tariff = projection.tariff_for(&customer.tariff);
    let today = crate::metering::tariff::beijing_date(state.service.now()).unwrap_or_default();
    tariff
        .version_on(today)
        .map(|version| version.boundaries(customer.household_size).into_iter().filter_map(|(upper, _)| upper).collect())
        .unwrap_or_default()
}

async fn wallet(State(state): State<AppState>, signed: Signed, Path(id): Path<String>) -> Response {
    let ctx = &signed.ctx;
    let result = (|| {
        let customer = visible_customer(&state, &signed, &id)?;
        let wallet = state.service.wallet(&signed.principal, customer.wallet.0)?;
        let (bills, _) = state.service.bills(&signed.principal, customer.id, None, CHART_BILLS_MAX)?;
        Ok::<_, ServiceError>((customer, wallet, bills))
    })();
    let (customer, wallet, bills) = match result {
        Ok(found) => found,
        Err(error) => return ctx.error(&error),
    };
    let valve = valve_of(&state, customer.id);
    let (valve_word, valve_next) = match valve {
        ValveState::Open => ("valve_open", "valve_next_open"),
        ValveState::Closed => ("valve_closed", "valve_next_closed"),
        ValveState::Armed => ("valve_armed", "valve_next_armed"),
    };
    let (months, series) = consumption_by_month(&bills);
    let newest = bills.first();
    let annual = newest.map_or(Decimal::ZERO, |bill| decimal(&bill["annual_volume"]));
    let boundaries = tier_boundaries(&state, &customer);
    ctx.page(
        StatusCode::OK,
        ctx.t("nav_wallet"),
        html! {
            (sub_nav(&signed, &customer))
            div.cards {
                div.card.big #balance { span.label { (ctx.t("balance")) } span.value { "¥" (money(wallet.balance)) } }
                div.card { span.label { (ctx.t("available")) } span.value { "¥" (money(wallet.available)) } }
                div.card { span.label { (ctx.t("held")) } span.value { "¥" (money(wallet.held)) } }
                div.card { span.label { (ctx.t("arrears")) } span.value.warn[wallet.arrears > Decimal::ZERO] { "¥" (money(wallet.arrears)) } }
                div.card { span.label { (ctx.t("credit_limit")) } span.value { "¥" (money(wallet.credit_limit)) } }
            }
            div class={ "valve valve-" (valve.as_str()) } #valve {
                strong { (ctx.t("valve")) ": " (ctx.t(valve_word)) }
                p { (ctx.t(valve_next)) }
            }
            h2 { (ctx.t("consumption")) }
            @if bills.is_empty() {
                p { (ctx.t("no_bills")) }
            } @else {
                figure #consumption-chart {
                    (super::svg_markup(svg::stacked_bars(ctx.t("consumption"), "m³", &months, &series)))
                    figcaption {
                        @for one in &series { span class="legend" { (ctx.t("tier")) " " (one.label) } " " }
                    }
                }
                h2 { (ctx.t("tier_progress")) }
                figure #tier-progress {
                    (super::svg_markup(svg::tier_progress(ctx.t("tier_progress"), annual, &boundaries)))
                    figcaption {
                        (ctx.t("annual_volume")) ": " (crate::service::volume(annual)) " m³ · "
                        @match newest.and_then(|bill| bill["volume_to_next_tier"].as_str()) {
                            Some(left) => { (ctx.t("to_next_tier")) ": " (left) " m³" }
                            None => { (ctx.t("top_tier")) }
                        }
                    }
                }
            }
        },
    )
}

fn bill_rows(ctx: &super::Ctx, bills: &[Value]) -> Markup {
    html! {
        table.data #bills {
            thead { tr {
                th { (ctx.t("period")) } th.num { (ctx.t("volume")) } th.num { (ctx.t("total")) }
                th.num { (ctx.t("added_to_arrears")) } th {}
            } }
            tbody {
                @for bill in bills {
                    tr {
                        td { (super::beijing_text(text(&bill["period"]["from"]))) " – " (super::beijing_text(text(&bill["period"]["to"]))) }
                        td.num { (text(&bill["volume"])) }
                        td.num { (text(&bill["total"])) }
                        td.num { (text(&bill["added_to_arrears"])) }
                        td { a href={ "/console/bills/" (text(&bill["id"])) } { (ctx.t("details")) } }
                    }
                }
            }
        }
    }
}

#[derive(Debug, serde::Deserialize)]
struct PageQuery {
    cursor: Option<u64>,
}

async fn bills(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let ctx = &signed.ctx;
    let result = visible_customer(&state, &signed, &id).and_then(|customer| {
        let cursor = query.cursor.and_then(|cursor| usize::try_from(cursor).ok());
        let page = state.service.bills(&signed.principal, customer.id, cursor, PAGE_LINES)?;
        Ok((customer, page))
    });
    let (customer, (bills, next)) = match result {
        Ok(found) => found,
        Err(error) => return ctx.error(&error),
    };
    ctx.page(
        StatusCode::OK,
        ctx.t("nav_bills"),
        html! {
            (sub_nav(&signed, &customer))
            @if bills.is_empty() { p { (ctx.t("no_bills")) } } @else { (bill_rows(ctx, &bills)) }
            @if let Some(next) = next {
                p { a href={ "/console/customers/" (customer.id) "/bills?cursor=" (next) } { (ctx.t("next_page")) } }
            }
        },
    )
}

async fn bill(State(state): State<AppState>, signed: Signed, Path(id): Path<String>) -> Response {
    let ctx = &signed.ctx;
    let bill = match parse_id(&id).and_then(|id| state.service.bill(&signed.principal, id)) {
        Ok(bill) => bill,
        Err(error) => return ctx.error(&error),
    };
    let lines = bill["lines"].as_array().cloned().unwrap_or_default();
    ctx.page(
        StatusCode::OK,
        ctx.t("bill"),
        html! {
            dl.facts {
                dt { (ctx.t("period")) } dd { (super::beijing_text(text(&bill["period"]["from"]))) " – " (super::beijing_text(text(&bill["period"]["to"]))) }
                dt { (ctx.t("readings")) } dd { (text(&bill["readings"]["previous_register"])) " → " (text(&bill["readings"]["register"])) " m³" }
                dt { (ctx.t("volume")) } dd { (text(&bill["volume"])) }
                dt { (ctx.t("issued_at")) } dd { (super::beijing_text(text(&bill["issued_at"]))) }
            }
            table.data #bill-lines {
                thead { tr { th { (ctx.t("tier")) } th.num { (ctx.t("volume")) } th.num { (ctx.t("unit_price")) } th.num { (ctx.t("amount")) } } }
                tbody {
                    @for line in &lines {
                        tr {
                            td { span class={ "tier tier-" (line["tier"].as_u64().unwrap_or(1)) } { (ctx.t("tier")) " " (line["tier"].as_u64().unwrap_or(1)) } }
                            td.num { (text(&line["volume"])) }
                            td.num { (text(&line["unit_price"])) }
                            td.num { (text(&line["amount"])) }
                        }
                    }
                }
                tfoot { tr { th { (ctx.t("total")) } td.num { (text(&bill["volume"])) } td {} td.num { (text(&bill["total"])) } } }
            }
            dl.facts {
                dt { (ctx.t("paid_from_wallet")) } dd { (text(&bill["paid_from_wallet"])) }
                dt { (ctx.t("added_to_arrears")) } dd { (text(&bill["added_to_arrears"])) }
                dt { (ctx.t("annual_volume")) } dd { (text(&bill["annual_volume"])) " m³" }
                dt { (ctx.t("to_next_tier")) }
                dd { @match bill["volume_to_next_tier"].as_str() { Some(left) => { (left) " m³" } None => { (ctx.t("top_tier")) } } }
            }
            p { a href={ "/console/customers/" (text(&bill["customer_id"])) "/bills" } { (ctx.t("back")) } }
        },
    )
}

async fn statement(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let ctx = &signed.ctx;
    let result = visible_customer(&state, &signed, &id).and_then(|customer| {
        let page =
            state.service.statement(&signed.principal, customer.wallet.0, None, None, query.cursor, PAGE_LINES)?;
        Ok((customer, page))
    });
    let (customer, (lines, next)) = match result {
        Ok(found) => found,
        Err(error) => return ctx.error(&error),
    };
    ctx.page(
        StatusCode::OK,
        ctx.t("nav_statement"),
        html! {
            (sub_nav(&signed, &customer))
            @if lines.is_empty() { p { (ctx.t("empty")) } } @else {
                table.data #statement {
                    thead { tr { th { (ctx.t("time")) } th { (ctx.t("kind")) } th.num { (ctx.t("amount")) } th.num { (ctx.t("balance_after")) } th { (ctx.t("memo")) } } }
                    tbody {
                        @for line in &lines {
                            tr {
                                td { (super::beijing(line.at)) }
                                td { (line.kind) }
                                td.num.neg[line.amount < Decimal::ZERO] { (money(line.amount)) }
                                td.num { (money(line.balance_after)) }
                                td { (line.memo) }
                            }
                        }
                    }
                }
            }
            @if let Some(next) = next {
                p { a href={ "/console/customers/" (customer.id) "/statement?cursor=" (next) } { (ctx.t("next_page")) } }
            }
        },
    )
}

fn payment_code_page(signed: &Signed, customer: &Customer, problem: Option<&ServiceError>) -> Markup {
    let ctx = &signed.ctx;
    html! {
        (sub_nav(signed, customer))
        @if let Some(problem) = problem { (super::error_box(problem)) }
        form.card method="post" action={ "/console/customers/" (customer.id) "/payment-code" } {
            (form_secrets(&signed.csrf_token))
            p.help { (ctx.t("pay_code_help")) }
            label for="max_amount" { (ctx.t("max_amount")) }
            input #max_amount type="text" name="max_amount" inputmode="decimal" placeholder="100.00";
            button type="submit" id="get-code" { (ctx.t("get_code")) }
        }
    }
}

async fn payment_code_form(State(state): State<AppState>, signed: Signed, Path(id): Path<String>) -> Response {
    match visible_customer(&state, &signed, &id) {
        Ok(customer) => {
            signed.ctx.page(StatusCode::OK, signed.ctx.t("nav_pay_code"), payment_code_page(&signed, &customer, None))
        }
        Err(error) => signed.ctx.error(&error),
    }
}

/// The QR code of a payment code, as SVG (the `qrcode` crate's SVG renderer, no image library).
pub fn qr_svg(code: &str) -> Result<String, ServiceError> {
    let qr = qrcode::QrCode::new(code.as_bytes()).map_err(|error| {
        ServiceError::new(crate::service::error::ErrorClass::Internal, "internal_error", error.to_string())
    })?;
    let svg = qr
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(220, 220)
        .dark_color(qrcode::render::svg::Color("#000"))
        .light_color(qrcode::render::svg::Color("#fff"))
        .build();
    // Drop the XML declaration: the SVG goes inline into the page.
    Ok(svg.find("<svg").map_or(svg.clone(), |start| svg[start..].to_owned()))
}

async fn payment_code(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = check_csrf(&signed, &form) {
        return refused;
    }
    let ctx = &signed.ctx;
    let customer = match visible_customer(&state, &signed, &id) {
        Ok(customer) => customer,
        Err(error) => return ctx.error(&error),
    };
    let result = async {
        let max_amount = match super::field(&form, "max_amount") {
            "" => None,
            _ => Some(super::form_amount(&form, "max_amount")?),
        };
        let request = form_idempotency(&signed, &form, &["max_amount"])?;
        let answer =
            state.service.issue_payment_code(&signed.principal, customer.wallet.0, max_amount, Some(&request)).await?;
        let code = text(&answer.body["code"]).to_owned();
        let qr = qr_svg(&code)?;
        Ok::<_, ServiceError>((code, text(&answer.body["expires_at"]).to_owned(), qr))
    }
    .await;
    match result {
        Ok((code, expires_at, qr)) => ctx.page(
            StatusCode::CREATED,
            ctx.t("code"),
            html! {
                (sub_nav(&signed, &customer))
                figure.qr #payment-qr { (super::svg_markup(qr)) }
                p.code #payment-code { (code) }
                p { (ctx.t("expires_at")) ": " span #expires-at { (super::beijing_text(&expires_at)) } }
                p { a href={ "/console/customers/" (customer.id) "/payment-code" } { (ctx.t("get_code")) } }
            },
        ),
        Err(error) => {
            let status = crate::http::error::status_of(error.class);
            ctx.page(status, ctx.t("nav_pay_code"), payment_code_page(&signed, &customer, Some(&error)))
        }
    }
}
