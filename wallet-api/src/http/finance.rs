//! Finance routes: the trial balance, the wallet-liability roll-forward, the daily close.
//! Parsing and access only; the reports are computed in `crate::service::finance`.

use super::error::{api_error, ApiError};
use super::extract::{Auth, JsonBody, Query};
use super::handlers::{parse_time, require_staff};
use super::openapi::{
    InternalError, Problem, Unauthorized, Unavailable, BAD_BODY, BAD_QUERY, NOT_STAFF, PROBLEM, TOO_LARGE,
};
use super::AppState;
use crate::service::error::ErrorClass;
use crate::service::finance::{TrialBalance, WalletRollForward};
use crate::service::notes::DayClosed;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

type HandlerResult = Result<Response, ApiError>;

pub const TAG_FINANCE: &str = "finance";

/// A period of the journal: from (exclusive of what came before) to as_of (inclusive).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// Opening balances at this time (RFC 3339); default the beginning of the journal.
    #[param(format = DateTime, example = "2026-03-01T00:00:00+08:00")]
    pub from: Option<String>,
    /// Closing balances at this time (RFC 3339); default now.
    #[param(format = DateTime, example = "2026-03-31T23:59:59+08:00")]
    pub as_of: Option<String>,
}

fn period(
    service: &crate::service::Service,
    query: &PeriodQuery,
) -> Result<(Option<ledger::Timestamp>, ledger::Timestamp), ApiError> {
    let from = parse_time("from", query.from.as_deref())?;
    let as_of = parse_time("as_of", query.as_of.as_deref())?.unwrap_or_else(|| service.now());
    Ok((from, as_of))
}

const BAD_PERIOD: &str = "Codes: `validation_failed` (from or as_of not an RFC 3339 time, from after as_of, an \
    unknown parameter).";

/// The trial balance of the CNY books.
///
/// Admin or finance. Per chart code: the opening balance at `from`, the posted debits and credits
/// up to `as_of`, and the closing balance (signed on the code's normal side); totals where debits
/// equal credits and closing debit balances equal closing credit balances.
#[utoipa::path(
    get,
    path = "/v1/reports/trial-balance",
    tag = TAG_FINANCE,
    security(("bearer" = [])),
    params(PeriodQuery),
    responses(
        (status = 200, description = "The trial balance.", body = TrialBalance),
        (status = 400, description = BAD_QUERY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_STAFF, body = Problem, content_type = PROBLEM),
        (status = 422, description = BAD_PERIOD, body = Problem, content_type = PROBLEM),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn trial_balance(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Query(query): Query<PeriodQuery>,
) -> HandlerResult {
    require_staff(&principal)?;
    let (from, as_of) = period(&state.service, &query)?;
    let service = state.service.clone();
    let report = tokio::task::spawn_blocking(move || service.trial_balance(from, as_of))
        .await
        .map_err(|_| api_error(ErrorClass::Internal, "internal_error", "the report did not finish"))??;
    Ok(Json(report).into_response())
}

/// The customers' wallet liability rolled forward.
///
/// Admin or finance. Opening balance of all customer wallets (code 2241) at `from`, the movements
/// by entry category up to `as_of` (top-ups, gas, merchant payments, refunds, others), the closing
/// balance, and `ties_out`: opening + movements = closing.
#[utoipa::path(
    get,
    path = "/v1/reports/wallet-roll-forward",
    tag = TAG_FINANCE,
    security(("bearer" = [])),
    params(PeriodQuery),
    responses(
        (status = 200, description = "The roll-forward.", body = WalletRollForward),
        (status = 400, description = BAD_QUERY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_STAFF, body = Problem, content_type = PROBLEM),
        (status = 422, description = BAD_PERIOD, body = Problem, content_type = PROBLEM),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn wallet_roll_forward(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Query(query): Query<PeriodQuery>,
) -> HandlerResult {
    require_staff(&principal)?;
    let (from, to) = period(&state.service, &query)?;
    let service = state.service.clone();
    let report = tokio::task::spawn_blocking(move || service.wallet_roll_forward(from, to))
        .await
        .map_err(|_| api_error(ErrorClass::Internal, "internal_error", "the report did not finish"))??;
    Ok(Json(report).into_response())
}

/// A business day to close.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseDayRequest {
    /// The business day (Beijing time), `YYYY-MM-DD`; it must have ended.
    #[schema(example = "2026-03-01")]
    pub date: String,
}

/// A closed business day, signed.
#[derive(Debug, Serialize, ToSchema)]
pub struct DayClose {
    #[schema(example = "2026-03-01")]
    pub date: String,
    /// The last journal record committed before the day ended.
    pub sequence: u64,
    /// The journal's hash chain at that record, hex.
    pub head_hash: String,
    #[schema(value_type = String)]
    pub debits: rust_decimal::Decimal,
    #[schema(value_type = String)]
    pub credits: rust_decimal::Decimal,
    pub balanced: bool,
    /// The exact UTF-8 text signed: `gaswallet-day-close|date|sequence|head_hash|debits|credits`.
    pub signed_message: String,
    /// ed25519 signature over `signed_message`, hex.
    pub signature: String,
    /// The engine's public key, hex.
    pub public_key: String,
    pub closed_at: String,
}

impl From<DayClosed> for DayClose {
    fn from(closed: DayClosed) -> DayClose {
        DayClose {
            date: closed.day,
            sequence: closed.sequence,
            head_hash: closed.head_hash,
            debits: closed.debits,
            credits: closed.credits,
            balanced: closed.balanced,
            signed_message: closed.signed_message,
            signature: closed.signature,
            public_key: closed.public_key,
            closed_at: crate::time::format_rfc3339(closed.closed_at),
        }
    }
}

/// Closes a business day.
///
/// Admin or finance. Signs where the journal stood at the end of the day (Beijing time) with the
/// day's trial-balance totals, with the engine's key. Idempotent: closing a day again answers the
/// first close.
#[utoipa::path(
    post,
    path = "/v1/ledger/close",
    tag = TAG_FINANCE,
    security(("bearer" = [])),
    request_body = CloseDayRequest,
    responses(
        (status = 200, description = "The signed close of the day.", body = DayClose),
        (status = 400, description = BAD_BODY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_STAFF, body = Problem, content_type = PROBLEM),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `validation_failed` (date not YYYY-MM-DD, an unknown or missing field), \
                `day_not_ended`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn close_day(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<CloseDayRequest>,
) -> HandlerResult {
    require_staff(&principal)?;
    let request = body.value;
    let day = settlement::business_day::BusinessDay::parse(&request.date)
        .map_err(|_| api_error(ErrorClass::Unprocessable, "validation_failed", "date must be YYYY-MM-DD"))?;
    let closed = state.service.close_day(day).await?;
    Ok(Json(DayClose::from(closed)).into_response())
}
