//! Merchant pages: charge a customer's payment code, the payments with their refunds, and the
//! daily settlement reports with CSV download. Staff see every merchant's payments and lines.

use super::{check_csrf, field, form_amount, form_idempotency, form_secrets, money, Signed};
use crate::http::AppState;
use crate::service::error::{ErrorClass, ServiceError};
use crate::service::model::Role;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup};
use serde_json::Value;
use settlement::business_day::BusinessDay;
use std::collections::HashMap;
use uuid::Uuid;

/// Payments listed on the merchant page (the newest).
pub const PAYMENTS_LISTED_MAX: usize = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/merchant", get(merchant_page))
        .route("/console/merchant/charge", post(charge))
        .route("/console/payments/{id}/refund", post(refund))
        .route("/console/merchant/settlements", get(settlements))
        .route("/console/merchant/settlements/{date}/report.csv", get(settlement_csv))
}

/// Whose settlement lines the principal sees, as `GET /v1/settlements/merchants/{date}` decides.
fn merchant_scope(signed: &Signed) -> Result<Option<Uuid>, ServiceError> {
    match (signed.principal.role, signed.principal.subject_id) {
        (Role::Admin | Role::Finance, _) => Ok(None),
        (Role::Merchant, Some(merchant)) => Ok(Some(merchant)),
        _ => Err(ServiceError::forbidden("settlements are seen by finance and by each merchant")),
    }
}

/// The newest payments the principal may see, each through `Service::payment` (which decides).
fn recent_payments(state: &AppState, signed: &Signed) -> Vec<Value> {
    let mut candidates: Vec<(ledger::Timestamp, Uuid)> = {
        let projection = state.service.projection().read();
        projection
            .payments
            .values()
            .filter(|payment| match signed.principal.role {
                Role::Merchant => signed.principal.subject_id == Some(payment.merchant_id),
                Role::Customer => signed.principal.subject_id == Some(payment.customer_id),
                role => role.is_staff(),
            })
            .map(|payment| (payment.created_at, payment.id))
            .collect()
    };
    candidates.sort_unstable_by(|left, right| right.cmp(left));
    candidates
        .into_iter()
        .take(PAYMENTS_LISTED_MAX)
        .filter_map(|(_, id)| state.service.payment(&signed.principal, id).ok())
        .collect()
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

fn merchant_body(state: &AppState, signed: &Signed, outcome: Option<Result<&Value, &ServiceError>>) -> Markup {
    let ctx = &signed.ctx;
    let payments = recent_payments(state, signed);
    html! {
        @match outcome {
            Some(Ok(payment)) => {
                p.ok role="status" #charge-result {
                    (ctx.t("charged")) ": ¥" (text(&payment["amount"])) " · " (text(&payment["order_ref"])) " · " (text(&payment["status"]))
                }
            }
            Some(Err(error)) => { (super::error_box(error)) }
            None => {}
        }
        @if signed.principal.role == Role::Merchant {
            form.card method="post" action="/console/merchant/charge" autocomplete="off" {
                (form_secrets(&signed.csrf_token))
                p.help { (ctx.t("charge_help")) }
                label for="payment_code" { (ctx.t("code")) }
                input #payment_code type="text" name="payment_code" required inputmode="numeric" maxlength="32";
                label for="amount" { (ctx.t("amount")) }
                input #amount type="text" name="amount" required inputmode="decimal" placeholder="12.50";
                label for="order_ref" { (ctx.t("order_ref")) }
                input #order_ref type="text" name="order_ref" maxlength="64" placeholder="POS-0001";
                button type="submit" id="charge" { (ctx.t("charge")) }
            }
        }
        h2 { (ctx.t("payments")) }
        @if payments.is_empty() { p { (ctx.t("empty")) } } @else {
            table.data #payments {
                thead { tr {
                    th { (ctx.t("time")) } th { (ctx.t("order_ref")) } th.num { (ctx.t("amount")) }
                    th.num { (ctx.t("refunded")) } th { (ctx.t("status")) } th {}
                } }
                tbody {
                    @for payment in &payments {
                        tr {
                            td { (super::beijing_text(text(&payment["created_at"]))) }
                            td { (text(&payment["order_ref"])) }
                            td.num { (text(&payment["amount"])) }
                            td.num { (text(&payment["refunded"])) }
                            td { (text(&payment["status"])) }
                            td {
                                @if signed.principal.role == Role::Merchant && text(&payment["status"]) != "refunded" {
                                    form.inline method="post" action={ "/console/payments/" (text(&payment["id"])) "/refund" } {
                                        (form_secrets(&signed.csrf_token))
                                        input type="text" name="amount" required size="6" inputmode="decimal" aria-label=(ctx.t("refund_amount"));
                                        button type="submit" { (ctx.t("refund")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn merchant_page(State(state): State<AppState>, signed: Signed) -> Response {
    if !matches!(signed.principal.role, Role::Merchant | Role::Admin | Role::Finance) {
        return signed.ctx.error(&ServiceError::forbidden("payments are taken by merchants"));
    }
    signed.ctx.page(StatusCode::OK, signed.ctx.t("nav_merchant"), merchant_body(&state, &signed, None))
}

async fn charge(State(state): State<AppState>, signed: Signed, Form(form): Form<HashMap<String, String>>) -> Response {
    if let Some(refused) = check_csrf(&signed, &form) {
        return refused;
    }
    let result = async {
        let amount = form_amount(&form, "amount")?;
        let request = form_idempotency(&signed, &form, &["payment_code", "amount", "order_ref"])?;
        let order_ref = match field(&form, "order_ref") {
            "" => format!("console-{}", &field(&form, "idempotency_key").chars().take(16).collect::<String>()),
            given => given.to_owned(),
        };
        state.service.pay(&signed.principal, field(&form, "payment_code"), amount, &order_ref, &request).await
    }
    .await;
    let ctx = &signed.ctx;
    match result {
        Ok(answer) if answer.status < 300 => {
            ctx.page(StatusCode::CREATED, ctx.t("nav_merchant"), merchant_body(&state, &signed, Some(Ok(&answer.body))))
        }
        Ok(answer) => {
            // A replayed business rejection comes back as an answer with its status.
            let error = ServiceError::new(
                ErrorClass::Unprocessable,
                "payment_refused",
                answer.body["detail"].as_str().unwrap_or("the payment was refused").to_owned(),
            );
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            ctx.page(status, ctx.t("nav_merchant"), merchant_body(&state, &signed, Some(Err(&error))))
        }
        Err(error) => {
            let status = crate::http::error::status_of(error.class);
            ctx.page(status, ctx.t("nav_merchant"), merchant_body(&state, &signed, Some(Err(&error))))
        }
    }
}

async fn refund(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = check_csrf(&signed, &form) {
        return refused;
    }
    let result = async {
        let payment_id = Uuid::parse_str(&id).map_err(|_| ServiceError::not_found("no such payment"))?;
        let amount = form_amount(&form, "amount")?;
        let request = form_idempotency(&signed, &form, &["amount"])?;
        state.service.refund(&signed.principal, payment_id, amount, &request).await
    }
    .await;
    match result {
        Ok(answer) if answer.status < 300 => super::see_other("/console/merchant"),
        Ok(answer) => {
            let detail = answer.body["detail"].as_str().unwrap_or("the refund was refused").to_owned();
            signed.ctx.error(&ServiceError::new(ErrorClass::Unprocessable, "refund_refused", detail))
        }
        Err(error) => signed.ctx.error(&error),
    }
}

#[derive(Debug, serde::Deserialize)]
struct DateQuery {
    date: Option<String>,
}

async fn settlements(State(state): State<AppState>, signed: Signed, Query(query): Query<DateQuery>) -> Response {
    let ctx = &signed.ctx;
    let scope = match merchant_scope(&signed) {
        Ok(scope) => scope,
        Err(error) => return ctx.error(&error),
    };
    let days: Vec<String> =
        state.service.projection().read().merchant_settlements.keys().rev().take(60).cloned().collect();
    let chosen = query.date.filter(|date| !date.is_empty()).or_else(|| days.first().cloned());
    let batch = chosen
        .as_deref()
        .and_then(|date| BusinessDay::parse(date).ok())
        .and_then(|day| state.service.merchant_batch(day, scope));
    ctx.page(
        StatusCode::OK,
        ctx.t("nav_settlement_reports"),
        html! {
            form.inline method="get" action="/console/merchant/settlements" {
                label for="date" { (ctx.t("date")) }
                input #date type="date" name="date" value=[chosen.as_deref()];
                button type="submit" { (ctx.t("show")) }
            }
            p.days { @for day in &days { a href={ "?date=" (day) } { (day) } " " } }
            @match &batch {
                None => { p { (ctx.t("not_settled")) } }
                Some(batch) => {
                    p { a.button href={ "/console/merchant/settlements/" (batch.date) "/report.csv" } download { (ctx.t("download_csv")) } }
                    table.data #settlement-lines {
                        thead { tr {
                            th { (ctx.t("merchant")) } th.num { (ctx.t("payments")) } th.num { (ctx.t("gross")) }
                            th.num { (ctx.t("refunded")) } th.num { (ctx.t("fees")) } th.num { (ctx.t("net")) } th.num { (ctx.t("payout")) }
                        } }
                        tbody {
                            @for line in &batch.lines {
                                tr {
                                    td { (line.merchant_name) }
                                    td.num { (line.payments) }
                                    td.num { (money(line.gross)) }
                                    td.num { (money(line.refunded)) }
                                    td.num { (money(line.fees_charged - line.fees_returned)) }
                                    td.num { (money(line.net)) }
                                    td.num { (money(line.payout)) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

async fn settlement_csv(State(state): State<AppState>, signed: Signed, Path(date): Path<String>) -> Response {
    let result = merchant_scope(&signed).and_then(|scope| {
        let day = BusinessDay::parse(&date).map_err(|_| ServiceError::not_found("no such day"))?;
        state
            .service
            .merchant_batch(day, scope)
            .ok_or_else(|| ServiceError::not_found(format!("{date} is not settled")))
    });
    match result {
        Ok(batch) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"settlement-{}.csv\"", batch.date)),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
            crate::service::merchant_settlement::merchant_batch_csv(&batch),
        )
            .into_response(),
        Err(error) => signed.ctx.error(&error),
    }
}
