//! Service-order and technician-payout routes. Parsing and access only; the rules are in
//! `crate::service::service_orders` and the `settlement` crate.

use super::error::{api_error, ApiError};
use super::extract::{Auth, DecimalString, JsonBody, PathId};
use super::finance::parse_day;
use super::handlers::{answer, idempotency, require_staff, required};
use super::openapi::{
    InternalError, Problem, Unauthorized, Unavailable, BAD_BODY, BAD_BODY_OR_MISSING_KEY, IDEMPOTENCY_KEY_REQUIRED,
    NOT_STAFF, PROBLEM, TOO_LARGE,
};
use super::AppState;
use crate::service::error::ErrorClass;
use crate::service::model::{Principal, Role};
use crate::service::service_orders::{order_json, yesterday, DisputeDecision};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use settlement::payout::PayoutBatch;
use utoipa::ToSchema;
use uuid::Uuid;

type HandlerResult = Result<Response, ApiError>;

pub const TAG_SERVICE: &str = "service-orders";

/// A service to book at a quoted price.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceOrderRequest {
    /// What to do, 1 to 200 characters.
    #[schema(example = "boiler annual service")]
    pub service: String,
    /// The quoted price (positive CNY), held on the wallet until the job is rated.
    pub price: DecimalString,
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceOrderStatus {
    Booked,
    Accepted,
    Completed,
    Rated,
    AutoRated,
    Disputed,
    Settled,
    PaidOut,
    Cancelled,
    Refunded,
}

/// A service order.
#[derive(Debug, ToSchema)]
pub struct ServiceOrder {
    pub id: Uuid,
    pub status: ServiceOrderStatus,
    pub service: String,
    pub price: DecimalString,
    pub customer_id: Uuid,
    pub wallet_id: Uuid,
    /// The technician who accepted it; null until then.
    #[schema(required = true)]
    pub technician_id: Option<Uuid>,
    #[schema(format = DateTime)]
    pub booked_at: String,
    #[schema(required = true, format = DateTime)]
    pub accepted_at: Option<String>,
    #[schema(required = true, format = DateTime)]
    pub completed_at: Option<String>,
    #[schema(required = true, format = DateTime)]
    pub rated_at: Option<String>,
    #[schema(required = true, format = DateTime)]
    pub settled_at: Option<String>,
    /// 1 to 5; for an auto-rated order, the rule table's default.
    #[schema(required = true, minimum = 1, maximum = 5)]
    pub stars: Option<u8>,
    #[schema(required = true)]
    pub comment: Option<String>,
    /// Rated by the rule table because the customer did not rate inside the window.
    pub auto_rated: bool,
    /// What the technician gets (0.00 until settled).
    pub technician_share: DecimalString,
    /// What the platform keeps.
    pub commission: DecimalString,
    /// The commission rate applied (by stars and the technician's tier).
    #[schema(required = true)]
    pub commission_rate: Option<DecimalString>,
    /// Refunded to the customer (by a dispute's resolution or after payout).
    pub refunded: DecimalString,
    /// The technician is below the review floor: the share is settled but its payout is held.
    pub held_for_review: bool,
    /// The settlement rule table version applied.
    #[schema(required = true, example = "technician-rules-v1")]
    pub rules_version: Option<String>,
    /// `pay_in_full`, `partial_refund` or `full_refund` once a dispute is resolved.
    #[schema(required = true)]
    pub resolution: Option<String>,
    #[schema(required = true)]
    pub payout_batch_id: Option<Uuid>,
}

fn order_reply(order: &crate::service::service_orders::ServiceOrder) -> Response {
    Json(order_json(order)).into_response()
}

const ORDER_NOT_FOUND: &str = "No such order, or not one the caller may see. Codes: `not_found`.";
const ORDER_CONFLICT: &str = "The order is not in a state for this step, or the step was taken differently. Codes: \
    `invalid_transition`, `order_step_conflict`, `rating_window_closed`.";

/// Books a service.
///
/// A customer. Holds the quoted price on the customer's own wallet (available balance plus credit
/// limit must cover it) until the job is rated. Moves money: the Idempotency-Key header is required.
#[utoipa::path(
    post,
    path = "/v1/service-orders",
    tag = TAG_SERVICE,
    security(("bearer" = [])),
    params(
        ("Idempotency-Key" = String, Header, description = IDEMPOTENCY_KEY_REQUIRED, min_length = 1, max_length = 255),
    ),
    request_body = ServiceOrderRequest,
    responses(
        (status = 201, description = "Booked; the price is held.", body = ServiceOrder),
        (status = 400, description = BAD_BODY_OR_MISSING_KEY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (status = 402, description = "The wallet cannot hold the price. Codes: `insufficient_funds`.", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Not a customer token. Codes: `forbidden`.", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Codes: `idempotency_conflict`, `account_closed`.", body = Problem, content_type = PROBLEM),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `invalid_amount`, `validation_failed` (service empty or too long, an unknown or \
                missing field).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn book_service(
    State(state): State<AppState>,
    Auth(principal): Auth,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: JsonBody<ServiceOrderRequest>,
) -> HandlerResult {
    let request = required(idempotency(&principal, &headers, &method, &uri, &body.bytes, true)?)?;
    let booked = state.service.book_service(&principal, &body.value.service, body.value.price.0, &request).await?;
    Ok(answer(booked))
}

/// A service order.
///
/// Its customer, the technician who accepted it (any technician while it is still booked, to take
/// it), or staff.
#[utoipa::path(
    get,
    path = "/v1/service-orders/{id}",
    tag = TAG_SERVICE,
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The order id.")),
    responses(
        (status = 200, description = "The order.", body = ServiceOrder),
        (status = 401, response = inline(Unauthorized)),
        (status = 404, description = ORDER_NOT_FOUND, body = Problem, content_type = PROBLEM),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn get_service_order(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(order_id): PathId,
) -> HandlerResult {
    Ok(order_reply(&state.service.service_order(&principal, order_id)?))
}

macro_rules! order_step_route {
    ($name:ident, $path:literal, $who:literal, $doc:literal, $call:ident) => {
        #[doc = $doc]
        #[utoipa::path(
                            post,
                            path = $path,
                            tag = TAG_SERVICE,
                            security(("bearer" = [])),
                            params(("id" = Uuid, Path, description = "The order id.")),
                            responses(
                                (status = 200, description = "The order after the step.", body = ServiceOrder),
                                (status = 401, response = inline(Unauthorized)),
                                (status = 403, description = $who, body = Problem, content_type = PROBLEM),
                                (status = 404, description = ORDER_NOT_FOUND, body = Problem, content_type = PROBLEM),
                                (status = 409, description = ORDER_CONFLICT, body = Problem, content_type = PROBLEM),
                                (status = 500, response = inline(InternalError)),
                                (status = 503, response = inline(Unavailable)),
                            )
                        )]
        pub async fn $name(
            State(state): State<AppState>,
            Auth(principal): Auth,
            PathId(order_id): PathId,
        ) -> HandlerResult {
            Ok(order_reply(&state.service.$call(&principal, order_id).await?))
        }
    };
}

order_step_route!(
    accept_service,
    "/v1/service-orders/{id}/accept",
    "Not a technician token. Codes: `forbidden`.",
    "A technician takes a booked order.\n\nAccepting again by the same technician answers the order as it is.",
    accept_service
);
order_step_route!(
    complete_service,
    "/v1/service-orders/{id}/complete",
    "Not the technician who accepted the order. Codes: `forbidden`.",
    "The technician who accepted the order reports the job done; the customer's rating window opens.",
    complete_service
);
order_step_route!(
    cancel_service,
    "/v1/service-orders/{id}/cancel",
    "Not the booking customer. Codes: `forbidden`.",
    "The booking customer cancels before a technician accepted; the hold is released.",
    cancel_service
);

/// A rating of a completed job.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingRequest {
    /// 1 to 5 stars.
    #[schema(minimum = 1, maximum = 5, example = 5)]
    pub stars: u8,
    /// Up to 500 characters.
    pub comment: Option<String>,
}

/// The booking customer rates the job, which settles it.
///
/// Inside the rating window after completion (7 days in the shipped rules). 4–5 stars pay the quote
/// minus the commission of the technician's tier, 3 stars at a higher commission, 1–2 stars open a
/// dispute for finance. The split is posted at once: escrow → technician payable + commission
/// revenue. Idempotent by the order: a rating is given once.
#[utoipa::path(
    post,
    path = "/v1/service-orders/{id}/rating",
    tag = TAG_SERVICE,
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The order id.")),
    request_body = RatingRequest,
    responses(
        (status = 200, description = "The order, settled or disputed.", body = ServiceOrder),
        (status = 400, description = BAD_BODY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = "Not the booking customer. Codes: `forbidden`.", body = Problem, content_type = PROBLEM),
        (status = 404, description = ORDER_NOT_FOUND, body = Problem, content_type = PROBLEM),
        (status = 409, description = ORDER_CONFLICT, body = Problem, content_type = PROBLEM),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `invalid_stars` (not 1 to 5), `validation_failed` (comment too long, an unknown or \
                missing field).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn rate_service(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(order_id): PathId,
    body: JsonBody<RatingRequest>,
) -> HandlerResult {
    let request = body.value;
    Ok(order_reply(&state.service.rate_service(&principal, order_id, request.stars, request.comment).await?))
}

/// How a dispute ends.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DisputeResolution {
    /// The technician is paid as for a good rating.
    PayInFull,
    /// `refund_amount` back to the customer; the rest is settled.
    PartialRefund,
    /// The whole price back to the customer.
    FullRefund,
}

/// Finance's decision on a disputed order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolutionRequest {
    pub resolution: DisputeResolution,
    /// For `partial_refund` only: positive CNY below the price.
    pub refund_amount: Option<DecimalString>,
}

/// Finance resolves a disputed order.
///
/// Admin or finance. The refund goes back to the customer's wallet; the rest is split at the rule
/// table's dispute rate. Idempotent by the order: a dispute is resolved once.
#[utoipa::path(
    post,
    path = "/v1/service-orders/{id}/resolution",
    tag = TAG_SERVICE,
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The order id.")),
    request_body = ResolutionRequest,
    responses(
        (status = 200, description = "The order, settled or refunded.", body = ServiceOrder),
        (status = 400, description = BAD_BODY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_STAFF, body = Problem, content_type = PROBLEM),
        (status = 404, description = ORDER_NOT_FOUND, body = Problem, content_type = PROBLEM),
        (status = 409, description = ORDER_CONFLICT, body = Problem, content_type = PROBLEM),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `invalid_amount`, `refund_exceeds_price`, `validation_failed` (refund_amount \
                missing for a partial refund or given for another resolution, an unknown or missing field).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn resolve_dispute(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(order_id): PathId,
    body: JsonBody<ResolutionRequest>,
) -> HandlerResult {
    require_staff(&principal)?;
    let request = body.value;
    let decision = match (request.resolution, request.refund_amount) {
        (DisputeResolution::PayInFull, None) => DisputeDecision::PayInFull,
        (DisputeResolution::FullRefund, None) => DisputeDecision::FullRefund,
        (DisputeResolution::PartialRefund, Some(amount)) => DisputeDecision::PartialRefund(amount.0),
        _ => {
            return Err(api_error(
                ErrorClass::Unprocessable,
                "validation_failed",
                "refund_amount is given for partial_refund, and only for it",
            ))
        }
    };
    Ok(order_reply(&state.service.resolve_service_dispute(&principal, order_id, decision).await?))
}

/// A refund of a paid-out order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceRefundRequest {
    /// Positive CNY, at most what is left unrefunded of the share plus commission.
    pub amount: DecimalString,
}

/// What a refund after payout took back.
#[derive(Debug, ToSchema)]
pub struct ServiceReversal {
    pub id: Uuid,
    pub order_id: Uuid,
    pub amount: DecimalString,
    /// Taken from the technician (clawed back from the next payout).
    pub from_technician: DecimalString,
    /// Taken from the commission revenue.
    pub from_commission: DecimalString,
}

/// Refunds (part of) a paid-out order to the customer's wallet.
///
/// Admin or finance. The technician's share and the commission give the refund back in
/// proportion (running totals, half-up to the fen); the technician's part is taken from the next
/// payout. Moves money: the Idempotency-Key header is required.
#[utoipa::path(
    post,
    path = "/v1/service-orders/{id}/refunds",
    tag = TAG_SERVICE,
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The order id."),
        ("Idempotency-Key" = String, Header, description = IDEMPOTENCY_KEY_REQUIRED, min_length = 1, max_length = 255),
    ),
    request_body = ServiceRefundRequest,
    responses(
        (status = 201, description = "Refunded.", body = ServiceReversal),
        (status = 400, description = BAD_BODY_OR_MISSING_KEY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_STAFF, body = Problem, content_type = PROBLEM),
        (status = 404, description = ORDER_NOT_FOUND, body = Problem, content_type = PROBLEM),
        (
            status = 409,
            description = "Codes: `order_not_paid_out`, `idempotency_conflict`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `invalid_amount`, `refund_exceeds_paid`, `validation_failed` (an unknown or \
                missing field).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn refund_service(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(order_id): PathId,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: JsonBody<ServiceRefundRequest>,
) -> HandlerResult {
    require_staff(&principal)?;
    let request = required(idempotency(&principal, &headers, &method, &uri, &body.bytes, true)?)?;
    Ok(answer(state.service.refund_paid_service(&principal, order_id, body.value.amount.0, &request).await?))
}

/// The business days a technician payout covers.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayoutRequest {
    /// First business day (Beijing time), `YYYY-MM-DD`; default `to`.
    #[schema(example = "2026-03-01")]
    pub from: Option<String>,
    /// Last business day, `YYYY-MM-DD`, ended; default yesterday.
    #[schema(example = "2026-03-07")]
    pub to: Option<String>,
}

/// One technician's line of a payout batch.
#[derive(Debug, ToSchema)]
pub struct TechnicianPayoutLine {
    pub technician_id: Uuid,
    pub orders: Vec<Uuid>,
    pub clawbacks_taken: Vec<Uuid>,
    pub gross: DecimalString,
    pub refunds: DecimalString,
    pub commission: DecimalString,
    pub clawbacks: DecimalString,
    /// Paid: gross − refunds − commission − clawbacks.
    pub net: DecimalString,
}

/// The period of a payout batch.
#[derive(Debug, ToSchema)]
pub struct PayoutPeriod {
    #[schema(example = "2026-03-01")]
    pub from: String,
    #[schema(example = "2026-03-07")]
    pub to: String,
}

/// The sums of a payout batch.
#[derive(Debug, ToSchema)]
pub struct PayoutTotals {
    pub technicians: u64,
    pub orders: u64,
    pub gross: DecimalString,
    pub refunds: DecimalString,
    pub commission: DecimalString,
    pub clawbacks: DecimalString,
    pub net: DecimalString,
}

/// A technician payout batch.
#[derive(Debug, ToSchema)]
pub struct TechnicianPayoutBatch {
    /// Derived from the period: the same period is the same batch.
    pub batch_id: Uuid,
    pub period: PayoutPeriod,
    pub lines: Vec<TechnicianPayoutLine>,
    pub totals: PayoutTotals,
    /// Orders whose technician is below the review floor: settled, not paid.
    pub held_for_review: Vec<Uuid>,
    /// Orders and clawbacks an earlier batch already has.
    pub already_paid: Vec<Uuid>,
    /// Clawbacks left for a later batch because this one's net could not cover them.
    pub deferred_clawbacks: Vec<Uuid>,
}

fn batch_json(batch: &PayoutBatch, only: Option<Uuid>) -> serde_json::Value {
    let mut value = serde_json::to_value(batch).unwrap_or_default();
    if let (Some(technician), Some(lines)) = (only, value.get_mut("lines").and_then(|lines| lines.as_array_mut())) {
        lines.retain(|line| line["technician_id"] == serde_json::json!(technician));
    }
    value
}

/// Pays technicians for the orders settled in a period.
///
/// Admin or finance. Per technician: the shares of the orders settled in the period's business
/// days (Beijing time), less clawbacks from refunds after earlier payouts, paid from the technician
/// payable to the bank. Orders of technicians below the review floor are held. The batch id
/// derives from the period: running the same period again answers the same batch and pays nothing
/// twice.
#[utoipa::path(
    post,
    path = "/v1/settlements/technicians",
    tag = TAG_SERVICE,
    security(("bearer" = [])),
    request_body = PayoutRequest,
    responses(
        (status = 200, description = "The payout batch.", body = TechnicianPayoutBatch),
        (status = 400, description = BAD_BODY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_STAFF, body = Problem, content_type = PROBLEM),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `validation_failed` (a date not YYYY-MM-DD, from after to, an unknown field), \
                `day_not_ended`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn pay_technicians(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<PayoutRequest>,
) -> HandlerResult {
    require_staff(&principal)?;
    let request = body.value;
    let to = match &request.to {
        Some(text) => parse_day("to", text)?,
        None => yesterday(state.service.now())?,
    };
    let from = match &request.from {
        Some(text) => parse_day("from", text)?,
        None => to,
    };
    if from > to {
        return Err(api_error(ErrorClass::Unprocessable, "validation_failed", "from must not be after to"));
    }
    let batch = state.service.pay_technicians(from, to).await?;
    Ok(Json(batch_json(&batch, None)).into_response())
}

fn payout_scope(principal: &Principal) -> Result<Option<Uuid>, ApiError> {
    match (principal.role, principal.subject_id) {
        (Role::Admin | Role::Finance, _) => Ok(None),
        (Role::Technician, Some(technician)) => Ok(Some(technician)),
        _ => Err(api_error(ErrorClass::Forbidden, "forbidden", "payouts are seen by finance and each technician")),
    }
}

const NOT_PAYOUT_READER: &str = "Neither a staff nor a technician token. Codes: `forbidden`.";

/// A technician payout batch.
///
/// Admin or finance see every line; a technician sees only its own.
#[utoipa::path(
    get,
    path = "/v1/settlements/technicians/{id}",
    tag = TAG_SERVICE,
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The batch id.")),
    responses(
        (status = 200, description = "The batch.", body = TechnicianPayoutBatch),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_PAYOUT_READER, body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such batch. Codes: `not_found`.", body = Problem, content_type = PROBLEM),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn get_payout_batch(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(batch_id): PathId,
) -> HandlerResult {
    let scope = payout_scope(&principal)?;
    let batch = state
        .service
        .payout_batch(batch_id)
        .ok_or_else(|| api_error(ErrorClass::NotFound, "not_found", format!("no payout batch {batch_id}")))?;
    Ok(Json(batch_json(&batch, scope)).into_response())
}

/// A technician payout batch as a CSV report (staff).
///
/// One row per technician and a totals row; amounts are decimal strings with two decimals.
#[utoipa::path(
    get,
    path = "/v1/settlements/technicians/{id}/report.csv",
    tag = TAG_SERVICE,
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The batch id.")),
    responses(
        (status = 200, description = "The report.", body = String, content_type = "text/csv; charset=utf-8"),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_STAFF, body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such batch. Codes: `not_found`.", body = Problem, content_type = PROBLEM),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn payout_batch_csv(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(batch_id): PathId,
) -> HandlerResult {
    require_staff(&principal)?;
    let batch = state
        .service
        .payout_batch(batch_id)
        .ok_or_else(|| api_error(ErrorClass::NotFound, "not_found", format!("no payout batch {batch_id}")))?;
    let csv = settlement::reports::payout_batch_csv(&batch);
    Ok(([(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}
