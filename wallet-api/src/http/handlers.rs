//! Route handlers: parse, call the service, render. No business rules here.

use super::error::{api_error, ApiError};
use super::extract::{idempotency_key, page_limit, Auth, DecimalString, JsonBody, PathId, Query};
use super::AppState;
use crate::service::error::{ErrorClass, ServiceError};
use crate::service::model::{BillingMode, Event, Principal, Role};
use crate::service::{cny, rfc3339, Answer, IdempotencyRequest};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

type HandlerResult = Result<Response, ApiError>;

fn require_staff(principal: &Principal) -> Result<(), ApiError> {
    if principal.role.is_staff() {
        Ok(())
    } else {
        Err(ServiceError::forbidden("this needs an admin or finance token").into())
    }
}

fn require_admin(principal: &Principal) -> Result<(), ApiError> {
    if principal.role == Role::Admin {
        Ok(())
    } else {
        Err(ServiceError::forbidden("this needs an admin token").into())
    }
}

fn answer(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    (status, Json(answer.body)).into_response()
}

fn idempotency(
    principal: &Principal,
    headers: &HeaderMap,
    method: &Method,
    uri: &Uri,
    body: &[u8],
    required: bool,
) -> Result<Option<IdempotencyRequest>, ApiError> {
    Ok(idempotency_key(headers, required)?
        .map(|key| IdempotencyRequest::new(principal, &key, method.as_str(), uri.path(), body)))
}

fn required(request: Option<IdempotencyRequest>) -> Result<IdempotencyRequest, ApiError> {
    request
        .ok_or_else(|| api_error(ErrorClass::BadRequest, "idempotency_key_required", "send an Idempotency-Key header"))
}

pub async fn healthz(State(state): State<AppState>) -> Response {
    let checkpoint = state.service.reader().checkpoint();
    Json(json!({ "status": "ok", "journal_sequence": checkpoint.last_sequence })).into_response()
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics.render(state.service.reader(), state.service.ledger().queue_depth());
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub role: Role,
    pub subject_id: Option<Uuid>,
}

pub async fn create_token(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<TokenRequest>,
) -> HandlerResult {
    require_admin(&principal)?;
    let issued = state.service.issue_token(body.value.role, body.value.subject_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "token": issued.token, "token_id": issued.token_id, "role": issued.role, "subject_id": issued.subject_id })),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerRequest {
    pub name: String,
    pub household_size: Option<u8>,
    pub tariff: Option<String>,
    pub billing_mode: Option<BillingMode>,
}

pub async fn create_customer(
    State(state): State<AppState>,
    Auth(principal): Auth,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: JsonBody<CustomerRequest>,
) -> HandlerResult {
    require_admin(&principal)?;
    let request = idempotency(&principal, &headers, &method, &uri, &body.bytes, false)?;
    let value = body.value;
    let created = state
        .service
        .register_customer(
            &value.name,
            value.household_size,
            value.tariff.as_deref(),
            value.billing_mode,
            request.as_ref(),
        )
        .await?;
    Ok(answer(created))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantRequest {
    pub name: String,
    pub fee_rate: DecimalString,
}

pub async fn create_merchant(
    State(state): State<AppState>,
    Auth(principal): Auth,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: JsonBody<MerchantRequest>,
) -> HandlerResult {
    require_admin(&principal)?;
    let request = idempotency(&principal, &headers, &method, &uri, &body.bytes, false)?;
    let created = state.service.register_merchant(&body.value.name, body.value.fee_rate.0, request.as_ref()).await?;
    Ok(answer(created))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyRequest {
    pub name: String,
}

pub async fn create_technician(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<PartyRequest>,
) -> HandlerResult {
    require_admin(&principal)?;
    let id = state.service.register_party(Role::Technician, &body.value.name).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id, "name": body.value.name.trim() }))).into_response())
}

pub async fn create_concentrator(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<PartyRequest>,
) -> HandlerResult {
    require_admin(&principal)?;
    let id = state.service.register_party(Role::Concentrator, &body.value.name).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id, "name": body.value.name.trim() }))).into_response())
}

pub async fn get_customer(State(state): State<AppState>, Auth(principal): Auth, PathId(id): PathId) -> HandlerResult {
    let customer = state.service.projection().read().customers.get(&id).cloned();
    match customer {
        Some(customer) if principal.role.is_staff() || principal.is(Role::Customer, id) => Ok(Json(json!({
            "id": customer.id,
            "wallet_id": customer.wallet.0,
            "name": customer.name,
            "household_size": customer.household_size,
            "tariff": customer.tariff,
            "billing_mode": customer.billing_mode,
            "created_at": rfc3339(customer.created_at),
        }))
        .into_response()),
        _ => Err(ServiceError::not_found(format!("no customer {id}")).into()),
    }
}

pub async fn get_wallet(State(state): State<AppState>, Auth(principal): Auth, PathId(id): PathId) -> HandlerResult {
    let wallet = state.service.wallet(&principal, id)?;
    Ok(Json(json!({
        "id": wallet.id,
        "customer_id": wallet.customer_id,
        "currency": "CNY",
        "balance": cny(wallet.balance),
        "available": cny(wallet.available),
        "held": cny(wallet.held),
        "credit_limit": cny(wallet.credit_limit),
        "arrears": cny(wallet.arrears),
        "status": if wallet.open { "active" } else { "closed" },
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopupRequest {
    pub amount: DecimalString,
    pub channel: String,
    pub channel_txn_id: String,
}

pub async fn create_topup(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(wallet_id): PathId,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: JsonBody<TopupRequest>,
) -> HandlerResult {
    require_staff(&principal)?;
    let request = required(idempotency(&principal, &headers, &method, &uri, &body.bytes, true)?)?;
    let value = body.value;
    let booked = state
        .service
        .topup(&principal, wallet_id, value.amount.0, &value.channel, &value.channel_txn_id, &request)
        .await?;
    Ok(answer(booked))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentCodeRequest {
    pub max_amount: Option<DecimalString>,
}

pub async fn create_payment_code(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(wallet_id): PathId,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: JsonBody<PaymentCodeRequest>,
) -> HandlerResult {
    let request = idempotency(&principal, &headers, &method, &uri, &body.bytes, false)?;
    let issued = state
        .service
        .issue_payment_code(&principal, wallet_id, body.value.max_amount.map(|amount| amount.0), request.as_ref())
        .await?;
    Ok(answer(issued))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    pub payment_code: String,
    pub amount: DecimalString,
    pub order_ref: String,
}

pub async fn create_payment(
    State(state): State<AppState>,
    Auth(principal): Auth,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: JsonBody<PaymentRequest>,
) -> HandlerResult {
    let request = required(idempotency(&principal, &headers, &method, &uri, &body.bytes, true)?)?;
    let value = body.value;
    let paid = state.service.pay(&principal, &value.payment_code, value.amount.0, &value.order_ref, &request).await?;
    Ok(answer(paid))
}

pub async fn get_payment(State(state): State<AppState>, Auth(principal): Auth, PathId(id): PathId) -> HandlerResult {
    Ok(Json(state.service.payment(&principal, id)?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    pub amount: DecimalString,
}

pub async fn create_refund(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(payment_id): PathId,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: JsonBody<RefundRequest>,
) -> HandlerResult {
    let request = required(idempotency(&principal, &headers, &method, &uri, &body.bytes, true)?)?;
    let refunded = state.service.refund(&principal, payment_id, body.value.amount.0, &request).await?;
    Ok(answer(refunded))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

fn parse_time(field: &str, text: Option<&str>) -> Result<Option<ledger::Timestamp>, ApiError> {
    text.map(|text| {
        crate::time::parse_rfc3339(text).ok_or_else(|| {
            api_error(ErrorClass::Unprocessable, "validation_failed", format!("{field} must be an RFC 3339 time"))
        })
    })
    .transpose()
}

fn parse_cursor(cursor: Option<&str>) -> Result<Option<u64>, ApiError> {
    cursor
        .map(|text| {
            text.parse::<u64>().map_err(|_| {
                api_error(ErrorClass::Unprocessable, "validation_failed", "cursor is not one this server gave out")
            })
        })
        .transpose()
}

pub async fn get_statement(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(wallet_id): PathId,
    Query(query): Query<StatementQuery>,
) -> HandlerResult {
    let limit = page_limit(query.limit)?;
    let from = parse_time("from", query.from.as_deref())?;
    let to = parse_time("to", query.to.as_deref())?;
    let cursor = parse_cursor(query.cursor.as_deref())?;
    let (lines, next_cursor) = state.service.statement(&principal, wallet_id, from, to, cursor, limit)?;
    let items: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| {
            json!({
                "entry_id": line.entry_id,
                "at": rfc3339(line.at),
                "kind": line.kind,
                "amount": cny(line.amount),
                "balance_after": cny(line.balance_after),
                "memo": line.memo,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items, "next_cursor": next_cursor.map(|cursor| cursor.to_string()) })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    pub after: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

pub fn event_json(event: &Event) -> serde_json::Value {
    json!({
        "id": event.sequence.to_string(),
        "type": event.event_type.as_str(),
        "at": rfc3339(event.at),
        "journal_sequence": event.journal_sequence,
        "customer_id": event.customer_id,
        "wallet_id": event.wallet_id,
        "merchant_id": event.merchant_id,
        "payment_id": event.payment_id,
        "entry_id": event.entry_id,
        "amount": event.amount.map(cny),
        "available": event.available.map(cny),
    })
}

pub async fn list_events(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Query(query): Query<EventsQuery>,
) -> HandlerResult {
    let limit = page_limit(query.limit)?;
    let after = parse_cursor(query.after.as_deref().or(query.cursor.as_deref()))?.unwrap_or(0);
    let (events, next_cursor) = state.service.events(&principal, after, limit);
    let items: Vec<serde_json::Value> = events.iter().map(event_json).collect();
    Ok(Json(json!({ "items": items, "next_cursor": next_cursor.map(|cursor| cursor.to_string()) })).into_response())
}

pub async fn verify_ledger(State(state): State<AppState>, Auth(principal): Auth) -> HandlerResult {
    require_staff(&principal)?;
    let reader = state.service.reader().clone();
    let report = tokio::task::spawn_blocking(move || reader.verify())
        .await
        .map_err(|_| api_error(ErrorClass::Internal, "internal_error", "verify did not finish"))??;
    let first_error = report.first_error.as_ref().map(|error| {
        json!({
            "kind": error.kind.as_str(),
            "sequence": error.sequence,
            "entry_id": error.entry_id.map(|id| id.0),
            "detail": error.detail,
        })
    });
    Ok(Json(json!({
        "ok": report.ok,
        "entries_checked": report.records_checked,
        "batches_checked": report.batches_checked,
        "accounts_checked": report.accounts_checked,
        "head_sequence": report.head_sequence,
        "head_hash": hex::encode(report.head_hash),
        "first_error": first_error,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    pub url: String,
}

fn webhook_json(id: Uuid, url: &str, public_key: &str) -> serde_json::Value {
    json!({
        "id": id,
        "url": url,
        "signature": {
            "algorithm": "ed25519",
            "public_key": public_key,
            "header": "Gaswallet-Signature: ed25519=<hex>",
            "signed_bytes": "gaswallet.webhook.v1\\n<Gaswallet-Timestamp>\\n<body>",
        },
    })
}

pub async fn create_webhook(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<WebhookRequest>,
) -> HandlerResult {
    let id = state.service.register_webhook(&principal, &body.value.url).await?;
    Ok((StatusCode::CREATED, Json(webhook_json(id, &body.value.url, &state.service.public_key_hex()))).into_response())
}

pub async fn list_webhooks(State(state): State<AppState>, Auth(principal): Auth) -> HandlerResult {
    let public_key = state.service.public_key_hex();
    let items: Vec<serde_json::Value> = state
        .service
        .projection()
        .read()
        .webhooks
        .iter()
        .filter(|webhook| webhook.owner.role == principal.role && webhook.owner.subject_id == principal.subject_id)
        .map(|webhook| webhook_json(webhook.id, &webhook.url, &public_key))
        .collect();
    Ok(Json(json!({ "items": items, "next_cursor": null })).into_response())
}

pub async fn not_found() -> Response {
    super::error::problem(StatusCode::NOT_FOUND, "not_found", "no such route")
}

pub async fn method_not_allowed() -> Response {
    super::error::problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
}
