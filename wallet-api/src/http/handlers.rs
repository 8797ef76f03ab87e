//! Route handlers: parse, call the service, render. No business rules here.

use super::error::{api_error, ApiError};
use super::extract::{idempotency_key, page_limit, Auth, DecimalString, JsonBody, PathId, Query};
use super::openapi::{
    Customer, EventPage, Health, InternalError, IssuedToken, Merchant, Party, Payment, PaymentCode, Problem, Refund,
    StatementPage, Topup, Unauthorized, Unavailable, VerifyReport, Wallet, Webhook, WebhookPage, BAD_BODY,
    BAD_BODY_OR_KEY, BAD_BODY_OR_MISSING_KEY, BAD_QUERY, IDEMPOTENCY_KEY_OPTIONAL, IDEMPOTENCY_KEY_REQUIRED,
    KEY_REUSED, NOT_ADMIN, NOT_STAFF, PROBLEM, TAG_EVENTS, TAG_LEDGER, TAG_OPERATIONS, TAG_PARTIES, TAG_PAYMENTS,
    TAG_WALLETS, TOO_LARGE, UNKNOWN_ID, UNKNOWN_WALLET,
};
use super::AppState;
use crate::service::error::{ErrorClass, ServiceError};
use crate::service::model::{BillingMode, Principal, Role};
use crate::service::{cny, rfc3339, Answer, IdempotencyRequest};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

type HandlerResult = Result<Response, ApiError>;

pub(crate) fn require_staff(principal: &Principal) -> Result<(), ApiError> {
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

pub(crate) fn answer(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    (status, Json(answer.body)).into_response()
}

pub(crate) fn idempotency(
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

pub(crate) fn required(request: Option<IdempotencyRequest>) -> Result<IdempotencyRequest, ApiError> {
    request
        .ok_or_else(|| api_error(ErrorClass::BadRequest, "idempotency_key_required", "send an Idempotency-Key header"))
}

/// Liveness, and the journal's last committed sequence.
///
/// No token needed. 503 `unavailable` once the ledger writer has stopped on a storage fault (a
/// full disk, say): reads still work but every write is refused until a restart, so a load
/// balancer should stop sending traffic here.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = TAG_OPERATIONS,
    responses(
        (status = 200, description = "The server is up.", body = Health),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn healthz(State(state): State<AppState>) -> Response {
    if let Some(fault) = state.service.reader().writer_fault() {
        return ApiError::from(ServiceError::new(
            ErrorClass::Overloaded,
            "unavailable",
            format!("the ledger stopped accepting writes ({fault}); restart once the fault is cleared"),
        ))
        .into_response();
    }
    let checkpoint = state.service.reader().checkpoint();
    Json(json!({ "status": "ok", "journal_sequence": checkpoint.last_sequence })).into_response()
}

/// Prometheus metrics.
///
/// Requests per route and status, latencies, the ledger queue depth. No token needed.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = TAG_OPERATIONS,
    responses(
        (
            status = 200,
            description = "Prometheus text exposition format 0.0.4.",
            body = String,
            content_type = "text/plain; version=0.0.4"
        ),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics.render(state.service.reader(), state.service.ledger().queue_depth());
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// A token for a role and, except admin and finance, the subject it speaks for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    #[schema(value_type = super::openapi::Role)]
    pub role: Role,
    /// The customer, merchant, technician or concentrator id; required for those roles, refused for
    /// admin and finance.
    pub subject_id: Option<Uuid>,
}

/// Issues a bearer token.
///
/// Admin. The token is in this answer only; the server keeps its hash.
#[utoipa::path(
    post,
    path = "/v1/tokens",
    tag = TAG_PARTIES,
    security(("bearer" = [])),
    request_body = TokenRequest,
    responses(
        (status = 201, description = "The new token (shown once).", body = IssuedToken),
        (status = 400, description = BAD_BODY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_ADMIN, body = Problem, content_type = PROBLEM),
        (
            status = 404,
            description = "The subject does not exist (as a party of the token's role). Codes: `not_found`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `validation_failed` (an unknown role, a `subject_id` missing for a customer, \
                merchant, technician or concentrator token or given for an admin or finance token, an unknown or \
                missing field).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
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

/// A new customer (a wallet is opened for them).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerRequest {
    /// 1 to 100 printable characters (trimmed).
    #[schema(example = "Zhang Wei")]
    pub name: String,
    /// People in the household, 1 to 30 (default 3).
    #[schema(minimum = 1, maximum = 30)]
    pub household_size: Option<u8>,
    /// `residential` (the default) or `residential-heating`.
    #[schema(example = "residential")]
    pub tariff: Option<String>,
    /// Default `per_reading`.
    #[schema(value_type = Option<super::openapi::BillingMode>)]
    pub billing_mode: Option<BillingMode>,
}

/// Registers a customer and opens their wallet.
///
/// Admin. Takes an optional Idempotency-Key.
#[utoipa::path(
    post,
    path = "/v1/customers",
    tag = TAG_PARTIES,
    security(("bearer" = [])),
    params(
        (
            "Idempotency-Key" = Option<String>,
            Header,
            description = IDEMPOTENCY_KEY_OPTIONAL,
            nullable = false,
            min_length = 1,
            max_length = 255
        ),
    ),
    request_body = CustomerRequest,
    responses(
        (
            status = 201,
            description = "The customer, with `wallet_id` (or, for a reused key and the same body, the first answer \
                again).",
            body = Customer
        ),
        (status = 400, description = BAD_BODY_OR_KEY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_ADMIN, body = Problem, content_type = PROBLEM),
        (status = 409, description = KEY_REUSED, body = Problem, content_type = PROBLEM),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `validation_failed` (name not 1 to 100 printable characters, household_size not 1 \
                to 30, an unknown billing_mode, an unknown or missing field), `unknown_tariff`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
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

/// A new partner merchant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantRequest {
    /// 1 to 100 printable characters (trimmed).
    #[schema(example = "Huaxin Gas Appliances")]
    pub name: String,
    /// The fee rate as a decimal fraction string: `"0.006"` is 0.6 %.
    pub fee_rate: DecimalString,
}

/// Registers a partner merchant.
///
/// Admin. Takes an optional Idempotency-Key.
#[utoipa::path(
    post,
    path = "/v1/merchants",
    tag = TAG_PARTIES,
    security(("bearer" = [])),
    params(
        (
            "Idempotency-Key" = Option<String>,
            Header,
            description = IDEMPOTENCY_KEY_OPTIONAL,
            nullable = false,
            min_length = 1,
            max_length = 255
        ),
    ),
    request_body = MerchantRequest,
    responses(
        (
            status = 201,
            description = "The merchant (or, for a reused key and the same body, the first answer again).",
            body = Merchant
        ),
        (status = 400, description = BAD_BODY_OR_KEY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_ADMIN, body = Problem, content_type = PROBLEM),
        (status = 409, description = KEY_REUSED, body = Problem, content_type = PROBLEM),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `validation_failed` (name not 1 to 100 printable characters, an unknown or missing \
                field), `invalid_amount` (fee_rate is not a decimal string), `invalid_fee_rate` (fee_rate out of \
                range).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
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

/// A new technician or concentrator.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartyRequest {
    /// 1 to 100 printable characters (trimmed).
    #[schema(example = "Li Na")]
    pub name: String,
}

/// Registers a technician.
///
/// Admin.
#[utoipa::path(
    post,
    path = "/v1/technicians",
    tag = TAG_PARTIES,
    security(("bearer" = [])),
    request_body = PartyRequest,
    responses(
        (status = 201, description = "The technician.", body = Party),
        (status = 400, description = BAD_BODY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_ADMIN, body = Problem, content_type = PROBLEM),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `validation_failed` (name not 1 to 100 printable characters, an unknown or missing \
                field).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn create_technician(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<PartyRequest>,
) -> HandlerResult {
    require_admin(&principal)?;
    let id = state.service.register_party(Role::Technician, &body.value.name).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id, "name": body.value.name.trim() }))).into_response())
}

/// Registers a concentrator (a gateway that forwards meter readings).
///
/// Admin.
#[utoipa::path(
    post,
    path = "/v1/concentrators",
    tag = TAG_PARTIES,
    security(("bearer" = [])),
    request_body = PartyRequest,
    responses(
        (status = 201, description = "The concentrator.", body = Party),
        (status = 400, description = BAD_BODY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_ADMIN, body = Problem, content_type = PROBLEM),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `validation_failed` (name not 1 to 100 printable characters, an unknown or missing \
                field).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn create_concentrator(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<PartyRequest>,
) -> HandlerResult {
    require_admin(&principal)?;
    let id = state.service.register_party(Role::Concentrator, &body.value.name).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id, "name": body.value.name.trim() }))).into_response())
}

/// A customer.
///
/// Admin, finance, or that customer.
#[utoipa::path(
    get,
    path = "/v1/customers/{id}",
    tag = TAG_PARTIES,
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The customer id."),
    ),
    responses(
        (status = 200, description = "The customer.", body = Customer),
        (status = 401, response = inline(Unauthorized)),
        (status = 404, description = UNKNOWN_ID, body = Problem, content_type = PROBLEM),
        (status = 503, response = inline(Unavailable)),
    )
)]
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

/// A wallet's balances.
///
/// Admin, finance, or the wallet's customer.
#[utoipa::path(
    get,
    path = "/v1/wallets/{id}",
    tag = TAG_WALLETS,
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The wallet id."),
    ),
    responses(
        (status = 200, description = "The wallet.", body = Wallet),
        (status = 401, response = inline(Unauthorized)),
        (status = 404, description = UNKNOWN_WALLET, body = Problem, content_type = PROBLEM),
        (status = 503, response = inline(Unavailable)),
    )
)]
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

/// Money received through a payment channel, for a wallet.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopupRequest {
    /// Positive CNY, at most two decimals, at most 10000000.00.
    pub amount: DecimalString,
    #[schema(value_type = super::openapi::Channel)]
    pub channel: String,
    /// The channel's transaction id (1 to 64 of `A-Z a-z 0-9 - _ . :`); one booking per channel and id.
    #[schema(example = "4200001234202603010001")]
    pub channel_txn_id: String,
}

/// Books a top-up received through a payment channel.
///
/// Admin or finance. Moves money: the Idempotency-Key header is required.
#[utoipa::path(
    post,
    path = "/v1/wallets/{id}/topups",
    tag = TAG_WALLETS,
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The wallet id."),
        ("Idempotency-Key" = String, Header, description = IDEMPOTENCY_KEY_REQUIRED, min_length = 1, max_length = 255),
    ),
    request_body = TopupRequest,
    responses(
        (
            status = 201,
            description = "Booked (or, for a reused key and the same body, the first answer again).",
            body = Topup
        ),
        (status = 400, description = BAD_BODY_OR_MISSING_KEY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_STAFF, body = Problem, content_type = PROBLEM),
        (status = 404, description = UNKNOWN_WALLET, body = Problem, content_type = PROBLEM),
        (
            status = 409,
            description = "Codes: `idempotency_conflict` (the key was used with another body), \
                `duplicate_channel_txn` (this channel transaction is already booked), `account_closed` (the wallet is \
                closed).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `invalid_amount` (not a positive decimal string with at most two decimals, or above \
                10000000.00), `unknown_channel`, `validation_failed` (channel_txn_id not 1 to 64 of A-Z a-z 0-9 - _ . \
                :, an unknown or missing field).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
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

/// A one-time payment code for the customer's own wallet (send `{}` for no limit).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentCodeRequest {
    /// The most a payment with the code may take (positive CNY, at most two decimals).
    pub max_amount: Option<DecimalString>,
}

/// Issues a one-time payment code (valid 60 s) for the customer's own wallet.
///
/// That wallet's customer. Takes an optional Idempotency-Key.
#[utoipa::path(
    post,
    path = "/v1/wallets/{id}/payment-codes",
    tag = TAG_WALLETS,
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The wallet id."),
        (
            "Idempotency-Key" = Option<String>,
            Header,
            description = IDEMPOTENCY_KEY_OPTIONAL,
            nullable = false,
            min_length = 1,
            max_length = 255
        ),
    ),
    request_body = PaymentCodeRequest,
    responses(
        (
            status = 201,
            description = "The code (or, for a reused key and the same body, the first answer again).",
            body = PaymentCode
        ),
        (status = 400, description = BAD_BODY_OR_KEY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (
            status = 403,
            description = "The token may see the wallet but is not its customer's (admin, finance). Codes: \
                `forbidden`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 404, description = UNKNOWN_WALLET, body = Problem, content_type = PROBLEM),
        (status = 409, description = KEY_REUSED, body = Problem, content_type = PROBLEM),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `invalid_amount` (max_amount not a positive decimal string with at most two \
                decimals, or above 10000000.00), `validation_failed` (an unknown field).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
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

/// A merchant charges a customer's payment code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// The code the customer shows (18 digits), valid once and for 60 s.
    #[schema(example = "281234567890123456")]
    pub payment_code: String,
    /// Positive CNY, at most two decimals, at most 10000000.00.
    pub amount: DecimalString,
    /// The merchant's order reference (1 to 64 of `A-Z a-z 0-9 - _ . :`).
    #[schema(example = "order-20260301-0001")]
    pub order_ref: String,
}

/// A merchant charges a customer's payment code.
///
/// A merchant token. Moves money: the Idempotency-Key header is required.
#[utoipa::path(
    post,
    path = "/v1/payments",
    tag = TAG_PAYMENTS,
    security(("bearer" = [])),
    params(
        ("Idempotency-Key" = String, Header, description = IDEMPOTENCY_KEY_REQUIRED, min_length = 1, max_length = 255),
    ),
    request_body = PaymentRequest,
    responses(
        (
            status = 201,
            description = "Paid (or, for a reused key and the same body, the first answer again).",
            body = Payment
        ),
        (status = 400, description = BAD_BODY_OR_MISSING_KEY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (
            status = 402,
            description = "The wallet cannot pay the amount. Codes: `insufficient_funds`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (
            status = 403,
            description = "Not a merchant token, or its merchant no longer exists. Codes: `forbidden`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (
            status = 404,
            description = "No such payment code. Codes: `payment_code_not_found`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (
            status = 409,
            description = "Codes: `payment_code_used` (the code already paid for another request), \
                `idempotency_conflict` (the key was used with another body), `account_closed` (the wallet is closed).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `invalid_amount` (not a positive decimal string with at most two decimals, or above \
                10000000.00), `payment_code_expired`, `amount_exceeds_code_limit`, `validation_failed` (order_ref not \
                1 to 64 of A-Z a-z 0-9 - _ . :, an unknown or missing field).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
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

/// A payment, with what was refunded.
///
/// The merchant that took it, the customer that paid, admin or finance.
#[utoipa::path(
    get,
    path = "/v1/payments/{id}",
    tag = TAG_PAYMENTS,
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The payment id."),
    ),
    responses(
        (status = 200, description = "The payment.", body = Payment),
        (status = 401, response = inline(Unauthorized)),
        (status = 404, description = UNKNOWN_ID, body = Problem, content_type = PROBLEM),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn get_payment(State(state): State<AppState>, Auth(principal): Auth, PathId(id): PathId) -> HandlerResult {
    Ok(Json(state.service.payment(&principal, id)?).into_response())
}

/// A refund of (part of) a payment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Positive CNY, at most what is still unrefunded on the payment.
    pub amount: DecimalString,
}

/// Refunds (part of) a payment to the customer's wallet.
///
/// The merchant that took the payment. Moves money: the Idempotency-Key header is required. Refunds in
/// total never exceed the payment.
#[utoipa::path(
    post,
    path = "/v1/payments/{id}/refunds",
    tag = TAG_PAYMENTS,
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The payment id."),
        ("Idempotency-Key" = String, Header, description = IDEMPOTENCY_KEY_REQUIRED, min_length = 1, max_length = 255),
    ),
    request_body = RefundRequest,
    responses(
        (
            status = 201,
            description = "Refunded (or, for a reused key and the same body, the first answer again).",
            body = Refund
        ),
        (status = 400, description = BAD_BODY_OR_MISSING_KEY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (
            status = 403,
            description = "Not a merchant token, or its merchant no longer exists. Codes: `forbidden`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (
            status = 404,
            description = "No such payment, or not this merchant's. Codes: `not_found`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (
            status = 409,
            description = "Codes: `idempotency_conflict` (the key was used with another body), `account_closed` (the \
                wallet is closed).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `invalid_amount` (not a positive decimal string with at most two decimals, or above \
                10000000.00), `refund_exceeds_payment`, `validation_failed` (an unknown or missing field).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatementQuery {
    /// Only lines at or after this time (RFC 3339). Ignored when `cursor` is given.
    #[param(format = DateTime, example = "2026-03-01T00:00:00Z")]
    pub from: Option<String>,
    /// Only lines at or before this time (RFC 3339).
    #[param(format = DateTime, example = "2026-04-01T00:00:00Z")]
    pub to: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Lines per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

pub(crate) fn parse_time(field: &str, text: Option<&str>) -> Result<Option<ledger::Timestamp>, ApiError> {
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

/// A wallet's statement: the entries that changed its balance, oldest first.
///
/// Admin, finance, or the wallet's customer. Paged with `limit` and `cursor`.
#[utoipa::path(
    get,
    path = "/v1/wallets/{id}/statement",
    tag = TAG_WALLETS,
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The wallet id."),
        StatementQuery,
    ),
    responses(
        (status = 200, description = "A page of statement lines.", body = StatementPage),
        (status = 400, description = BAD_QUERY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (status = 404, description = UNKNOWN_WALLET, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `validation_failed` (limit not 1 to 500, from or to not an RFC 3339 time, a cursor \
                this server did not give out, an unknown parameter).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Events after this event id (`0`, the default, is the beginning); pass the previous page's
    /// `next_cursor`.
    #[param(example = "0")]
    pub after: Option<String>,
    /// The same as `after` (used when `after` is absent).
    pub cursor: Option<String>,
    /// Events per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

pub use crate::service::event_json;

/// Events visible to the caller, in commit order.
///
/// Admin and finance see all; a customer its own wallet's; a merchant its payments'. Technician and
/// concentrator tokens see none.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = TAG_EVENTS,
    security(("bearer" = [])),
    params(
        EventsQuery,
    ),
    responses(
        (status = 200, description = "A page of events.", body = EventPage),
        (status = 400, description = BAD_QUERY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (
            status = 422,
            description = "Codes: `validation_failed` (limit not 1 to 500, after or cursor not an event id, an \
                unknown parameter).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 503, response = inline(Unavailable)),
    )
)]
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

/// Verifies the journal: hash chain, checkpoint signatures and every balance.
///
/// Admin or finance. No body. A disagreement is reported in the 200 answer (`ok: false`).
#[utoipa::path(
    post,
    path = "/v1/ledger/verify",
    tag = TAG_LEDGER,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The verification report.", body = VerifyReport),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_STAFF, body = Problem, content_type = PROBLEM),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
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

/// An endpoint that receives the events the caller may see, signed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// An `http://` or `https://` URL with a host.
    #[schema(example = "https://example.org/gaswallet")]
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

/// Registers a webhook endpoint for the events the caller may see.
///
/// Any token but technician and concentrator. Deliveries are signed with the engine's ed25519 key.
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    tag = TAG_EVENTS,
    security(("bearer" = [])),
    request_body = WebhookRequest,
    responses(
        (status = 201, description = "The endpoint, with how to verify its deliveries.", body = Webhook),
        (status = 400, description = BAD_BODY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (
            status = 403,
            description = "Technician and concentrator tokens have no events to deliver. Codes: `forbidden`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `invalid_url` (not an http or https URL with a host, or too long), \
                `too_many_webhooks`, `validation_failed` (an unknown or missing field).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn create_webhook(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<WebhookRequest>,
) -> HandlerResult {
    let id = state.service.register_webhook(&principal, &body.value.url).await?;
    Ok((StatusCode::CREATED, Json(webhook_json(id, &body.value.url, &state.service.public_key_hex()))).into_response())
}

/// The caller's webhook endpoints.
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    tag = TAG_EVENTS,
    security(("bearer" = [])),
    responses(
        (
            status = 200,
            description = "The endpoints registered with this token's role and subject.",
            body = WebhookPage
        ),
        (status = 401, response = inline(Unauthorized)),
        (status = 503, response = inline(Unavailable)),
    )
)]
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
