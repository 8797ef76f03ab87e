//! Reconciliation routes: a channel statement against the ledger, the report, and resolving its
//! breaks. Parsing and access only; the work is `crate::service::reconciliation`'s.

use super::error::{api_error, ApiError};
use super::extract::{idempotency_key, Auth, DecimalString, JsonBody, PathId};
use super::handlers::require_staff;
use super::openapi::{
    InternalError, Problem, Unauthorized, Unavailable, BAD_BODY, BAD_BODY_OR_KEY, IDEMPOTENCY_KEY_OPTIONAL, NOT_STAFF,
    PROBLEM, TOO_LARGE,
};
use super::AppState;
use crate::service::error::ErrorClass;
use crate::service::reconciliation::{
    ReconciliationInput, ReconciliationReport, ResolutionActionName, ResolutionInput, ResolutionView, StatementFormat,
    StatementInput,
};
use crate::service::IdempotencyRequest;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use settlement::business_day::BusinessDay;
use utoipa::ToSchema;
use uuid::Uuid;

type HandlerResult = Result<Response, ApiError>;

pub const TAG_RECONCILIATION: &str = "reconciliation";

/// Largest body of `POST /v1/reconciliations`: a day's bill of a busy channel is megabytes (a
/// WeChat row is about 300 bytes), and base64 adds a third.
pub const RECONCILIATION_REQUEST_BODY_BYTES_MAX: usize = 8 * 1024 * 1024;

/// 413 on `POST /v1/reconciliations` (its own limit, [`RECONCILIATION_REQUEST_BODY_BYTES_MAX`]).
pub const RECONCILIATION_TOO_LARGE: &str =
    "The body is above the size limit for statements (8 MiB). Codes: `payload_too_large`.";

/// A channel statement to reconcile.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconciliationRequest {
    /// `wechat`, `alipay`, `bank` or `counter`.
    #[schema(example = "wechat")]
    pub channel: String,
    /// The statement's layout (default `generic`). `wechat` only for channel `wechat`, `alipay`
    /// only for `alipay`.
    #[schema(required = false)]
    pub format: Option<StatementFormat>,
    /// The business day the statement covers (Beijing time, cut at 00:00), `YYYY-MM-DD`. When
    /// absent, the day every statement line falls in (a statement spanning days needs it).
    #[schema(example = "2026-03-01", required = false, nullable = false)]
    pub date: Option<String>,
    /// The statement as text (generic CSV, WeChat bill, or an Alipay bill already decoded).
    /// Exactly one of `statement_csv` and `statement_base64`.
    #[schema(required = false, nullable = false)]
    pub statement_csv: Option<String>,
    /// The statement's bytes in base64 (standard alphabet, padded): the GBK bytes of an Alipay
    /// bill as downloaded, or UTF-8 text.
    #[schema(required = false, nullable = false)]
    pub statement_base64: Option<String>,
    /// How far (seconds, 0 to 86400) a ledger top-up may lie outside the day and still match a
    /// statement line (the midnight cut). Default 0.
    #[schema(required = false, nullable = false, minimum = 0, maximum = 86400)]
    pub date_drift_seconds: Option<i64>,
    /// The largest amount difference still counted as matched (default `"0"`).
    #[schema(value_type = Option<DecimalString>, required = false, nullable = false)]
    pub amount_tolerance: Option<DecimalString>,
}

/// How to resolve a break.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolutionRequest {
    pub action: ResolutionActionName,
    /// The break's amount exactly (the absolute channel excess).
    #[schema(value_type = DecimalString, example = "20.00")]
    pub amount: DecimalString,
    /// Why (kept with the audit record), at most 256 bytes.
    #[schema(required = false, nullable = false, max_length = 256)]
    pub note: Option<String>,
    /// The wallet to adjust for an overage (the ledger knows none); for other breaks it must be
    /// the top-up's wallet if given.
    #[schema(required = false, nullable = false)]
    pub wallet_id: Option<Uuid>,
}

fn validation(detail: impl Into<String>) -> ApiError {
    api_error(ErrorClass::Unprocessable, "validation_failed", detail)
}

/// Reconciles a channel statement against the ledger.
///
/// Admin or finance. Reads the statement (generic CSV, WeChat Pay trade bill, or Alipay
/// business-detail bill in GBK), takes the channel's top-ups committed in the business day (widened
/// by `date_drift_seconds`) and answers the report: matched (一致), overage (长款), shortage (短款),
/// amount and status mismatches and duplicates, each with counts and totals per side, and the
/// breaks to work. The same statement with the same rules answers the first report again.
#[utoipa::path(
    post,
    path = "/v1/reconciliations",
    tag = TAG_RECONCILIATION,
    security(("bearer" = [])),
    request_body = ReconciliationRequest,
    responses(
        (status = 201, description = "The report (or the first report of the same statement).", body = ReconciliationReport),
        (status = 400, description = BAD_BODY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_STAFF, body = Problem, content_type = PROBLEM),
        (status = 413, description = RECONCILIATION_TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `statement_malformed` (the detail names the line), `statement_too_large` (more \
                than 200000 lines), `too_many_breaks` (more than 5000), `unknown_channel`, \
                `format_not_for_channel`, `invalid_match_config` (drift outside 0 to 86400 s, a negative tolerance \
                or one below the fen), `invalid_amount` (a tolerance that is not a decimal string), \
                `validation_failed` (date not YYYY-MM-DD, or absent for a statement whose lines span days or \
                that has none, not exactly one of statement_csv and statement_base64, \
                base64 that does not decode, an unknown format, an unknown or missing field).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn create_reconciliation(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: Result<JsonBody<ReconciliationRequest>, ApiError>,
) -> HandlerResult {
    // The extractor's own 413 names the general limit; this route has a larger one.
    let body = body.map_err(|error| match error.0.code {
        "payload_too_large" => api_error(
            ErrorClass::PayloadTooLarge,
            "payload_too_large",
            format!("a statement request is limited to {RECONCILIATION_REQUEST_BODY_BYTES_MAX} bytes"),
        ),
        _ => error,
    })?;
    require_staff(&principal)?;
    let request = body.value;
    let day = request
        .date
        .map(|date| BusinessDay::parse(&date).map_err(|_| validation("date must be YYYY-MM-DD")))
        .transpose()?;
    let statement = match (request.statement_csv, request.statement_base64) {
        (Some(text), None) => StatementInput::Text(text),
        (None, Some(encoded)) => StatementInput::Bytes(
            base64::engine::general_purpose::STANDARD
                .decode(encoded.as_bytes())
                .map_err(|error| validation(format!("statement_base64 is not base64: {error}")))?,
        ),
        _ => return Err(validation("send exactly one of statement_csv and statement_base64")),
    };
    let input = ReconciliationInput {
        channel: request.channel,
        format: request.format.unwrap_or_default(),
        day,
        statement,
        date_drift_seconds: request.date_drift_seconds.unwrap_or(0),
        amount_tolerance: request.amount_tolerance.map_or(rust_decimal::Decimal::ZERO, |tolerance| tolerance.0),
    };
    let report = state.service.reconcile_statement(&principal, input).await?;
    Ok((StatusCode::CREATED, Json(report)).into_response())
}

/// A reconciliation report, with the current status of each break.
///
/// Admin or finance.
#[utoipa::path(
    get,
    path = "/v1/reconciliations/{id}",
    tag = TAG_RECONCILIATION,
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The report id.")),
    responses(
        (status = 200, description = "The report.", body = ReconciliationReport),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_STAFF, body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such report. Codes: `not_found`.", body = Problem, content_type = PROBLEM),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn get_reconciliation(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(id): PathId,
) -> HandlerResult {
    require_staff(&principal)?;
    let report = state
        .service
        .reconciliation_report(id)
        .ok_or_else(|| api_error(ErrorClass::NotFound, "not_found", format!("no reconciliation {id}")))?;
    Ok(Json(report).into_response())
}

/// Resolves a break with a balanced entry.
///
/// Admin or finance. `adjust` moves the difference between the channel clearing account and the
/// customer's wallet (the top-up's wallet; for an overage, `wallet_id`); `refund` moves what the
/// channel holds beyond the ledger to the channel refund payable; `write_off` books it to the
/// reconciliation write-off account. The amount must be the break's exactly. Who resolved it, when,
/// how and why is recorded with the entry. A break is resolved once. Takes an optional
/// Idempotency-Key.
#[utoipa::path(
    post,
    path = "/v1/reconciliations/{id}/breaks/{break_id}/resolution",
    tag = TAG_RECONCILIATION,
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The report id."),
        ("break_id" = Uuid, Path, description = "The break id (from the report)."),
        (
            "Idempotency-Key" = Option<String>,
            Header,
            description = IDEMPOTENCY_KEY_OPTIONAL,
            nullable = false,
            min_length = 1,
            max_length = 255
        ),
    ),
    request_body = ResolutionRequest,
    responses(
        (
            status = 201,
            description = "The resolution (or, for a reused key and the same body, the first answer again).",
            body = ResolutionView
        ),
        (status = 400, description = BAD_BODY_OR_KEY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (
            status = 402,
            description = "The wallet cannot give back what a shortage adjustment takes. Codes: `insufficient_funds`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 403, description = NOT_STAFF, body = Problem, content_type = PROBLEM),
        (
            status = 404,
            description = "No such report, or no such break in it. Codes: `not_found`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (
            status = 409,
            description = "Codes: `break_already_resolved`, `idempotency_conflict` (the key was used with another \
                body), `account_closed` (the wallet is closed).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `amount_not_the_break` (the amount is not the break's), `invalid_amount` (not a \
                positive decimal string with at most two decimals), `action_not_allowed` (a refund where the ledger \
                holds more than the channel), `not_resolvable_by_entry` (a status mismatch or a duplicate), \
                `nothing_to_resolve`, `wallet_unknown` (an overage adjustment without a known wallet_id), \
                `validation_failed` (a wallet_id other than the top-up's, a note above 256 bytes, an unknown \
                action, an unknown or missing field).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn resolve_break(
    State(state): State<AppState>,
    Auth(principal): Auth,
    path: Result<Path<(String, String)>, PathRejection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: JsonBody<ResolutionRequest>,
) -> HandlerResult {
    let not_found = || api_error(ErrorClass::NotFound, "not_found", "no such report or break");
    let Path((run_id, break_id)) = path.map_err(|_| not_found())?;
    let (Ok(run_id), Ok(break_id)) = (Uuid::parse_str(&run_id), Uuid::parse_str(&break_id)) else {
        return Err(not_found());
    };
    require_staff(&principal)?;
    let request = idempotency_key(&headers, false)?
        .map(|key| IdempotencyRequest::new(&principal, &key, method.as_str(), uri.path(), &body.bytes));
    let input = ResolutionInput {
        action: body.value.action,
        amount: body.value.amount.0,
        note: body.value.note,
        wallet_id: body.value.wallet_id,
    };
    let answer = state.service.resolve_break(&principal, run_id, break_id, input, request.as_ref()).await?;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::CREATED);
    Ok((status, Json(answer.body)).into_response())
}
