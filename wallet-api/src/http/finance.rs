//! Finance routes: the trial balance, the wallet-liability roll-forward, the daily close.
//! Parsing and access only; the reports are computed in `crate::service::finance`.

use super::error::{api_error, ApiError};
use super::extract::{Auth, JsonBody, Query};
use super::handlers::{parse_time, require_staff};
use super::openapi::{
    InternalError, Problem, Unauthorized, Unavailable, BAD_BODY, BAD_QUERY, NOT_STAFF, PROBLEM, TOO_LARGE,
};
use super::AppState;
use crate::service::error::{ErrorClass, ServiceError};
use crate::service::fen;
use crate::service::finance::{TrialBalance, WalletRollForward};
use crate::service::merchant_settlement::{merchant_batch_csv, MerchantBatch};
use crate::service::model::{Principal, Role};
use crate::service::notes::DayClosed;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use settlement::business_day::BusinessDay;
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
    period_report(&state, &principal, &query, crate::service::Service::trial_balance).await
}

/// Runs a period report off the async threads (it reads every account, or the journal), for staff.
async fn period_report<T: Serialize + Send + 'static>(
    state: &AppState,
    principal: &Principal,
    query: &PeriodQuery,
    report: fn(&crate::service::Service, Option<ledger::Timestamp>, ledger::Timestamp) -> Result<T, ServiceError>,
) -> HandlerResult {
    require_staff(principal)?;
    let (from, as_of) = period(&state.service, query)?;
    let service = state.service.clone();
    let report = tokio::task::spawn_blocking(move || report(&service, from, as_of))
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
    period_report(&state, &principal, &query, crate::service::Service::wallet_roll_forward).await
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
    #[schema(value_type = crate::http::extract::DecimalString)]
    pub debits: rust_decimal::Decimal,
    #[schema(value_type = crate::http::extract::DecimalString)]
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
    let day = parse_day("date", &request.date)?;
    let closed = state.service.close_day(day).await?;
    Ok(Json(DayClose::from(closed)).into_response())
}

/// A business day to settle.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettleMerchantsRequest {
    /// The business day (Beijing time, cut at 00:00), `YYYY-MM-DD`; it must have ended (T+1).
    #[schema(example = "2026-03-01")]
    pub date: String,
}

/// One merchant's settlement of one day.
#[derive(Debug, Serialize, ToSchema)]
pub struct MerchantSettlementLine {
    pub merchant_id: uuid::Uuid,
    pub merchant_name: String,
    #[schema(value_type = crate::http::extract::DecimalString, example = "0.006")]
    pub fee_rate: rust_decimal::Decimal,
    /// How many payments and refunds the day had.
    pub payments: u64,
    pub refunds: u64,
    #[schema(value_type = crate::http::extract::DecimalString, example = "100.00")]
    pub gross: rust_decimal::Decimal,
    #[schema(value_type = crate::http::extract::DecimalString, example = "0.00")]
    pub refunded: rust_decimal::Decimal,
    /// Per-order fees, each rounded half-up to the fen.
    #[schema(value_type = crate::http::extract::DecimalString, example = "0.60")]
    pub fees_charged: rust_decimal::Decimal,
    /// Fees given back in proportion to refunds.
    #[schema(value_type = crate::http::extract::DecimalString, example = "0.00")]
    pub fees_returned: rust_decimal::Decimal,
    /// gross − refunded − fees_charged + fees_returned (negative when refunds outweigh sales).
    #[schema(value_type = crate::http::extract::DecimalString, example = "99.40")]
    pub net: rust_decimal::Decimal,
    #[schema(value_type = crate::http::extract::DecimalString, example = "0.00")]
    pub deficit_brought_forward: rust_decimal::Decimal,
    /// Paid to the merchant's bank account.
    #[schema(value_type = crate::http::extract::DecimalString, example = "99.40")]
    pub payout: rust_decimal::Decimal,
    #[schema(value_type = crate::http::extract::DecimalString, example = "0.00")]
    pub deficit_carried_forward: rust_decimal::Decimal,
}

/// The merchant settlement batch of one business day.
#[derive(Debug, Serialize, ToSchema)]
pub struct MerchantSettlementBatch {
    /// Derived from the date: the same day is the same batch.
    pub batch_id: uuid::Uuid,
    #[schema(example = "2026-03-01")]
    pub date: String,
    pub lines: Vec<MerchantSettlementLine>,
    #[schema(value_type = crate::http::extract::DecimalString)]
    pub total_gross: rust_decimal::Decimal,
    #[schema(value_type = crate::http::extract::DecimalString)]
    pub total_fees: rust_decimal::Decimal,
    #[schema(value_type = crate::http::extract::DecimalString)]
    pub total_payout: rust_decimal::Decimal,
}

impl From<MerchantBatch> for MerchantSettlementBatch {
    fn from(batch: MerchantBatch) -> MerchantSettlementBatch {
        let lines: Vec<MerchantSettlementLine> = batch
            .lines
            .into_iter()
            .map(|line| MerchantSettlementLine {
                merchant_id: line.merchant_id,
                merchant_name: line.merchant_name,
                fee_rate: line.fee_rate,
                payments: line.payments,
                refunds: line.refunds,
                gross: fen(line.gross),
                refunded: fen(line.refunded),
                fees_charged: fen(line.fees_charged),
                fees_returned: fen(line.fees_returned),
                net: fen(line.net),
                deficit_brought_forward: fen(line.deficit_brought_forward),
                payout: fen(line.payout),
                deficit_carried_forward: fen(line.deficit_carried_forward),
            })
            .collect();
        let total = |amount: fn(&MerchantSettlementLine) -> rust_decimal::Decimal| fen(lines.iter().map(amount).sum());
        MerchantSettlementBatch {
            batch_id: batch.batch_id,
            date: batch.date,
            total_gross: total(|line| line.gross),
            total_fees: total(|line| line.fees_charged - line.fees_returned),
            total_payout: total(|line| line.payout),
            lines,
        }
    }
}

/// A business day from a request field (`YYYY-MM-DD`), or 422 `validation_failed` naming the field.
pub(crate) fn parse_day(field: &str, text: &str) -> Result<BusinessDay, ApiError> {
    BusinessDay::parse(text)
        .map_err(|_| api_error(ErrorClass::Unprocessable, "validation_failed", format!("{field} must be YYYY-MM-DD")))
}

/// Settles merchants for a business day (T+1).
///
/// Admin or finance. For every merchant with payments, refunds or a deficit on the day: payments −
/// refunds − per-order fees (half-up to the fen, returned in proportion to refunds), less any
/// deficit carried from earlier days, paid out from the merchant's payable account. Idempotent per
/// (merchant, day): settling a day again answers the same batch and pays nothing twice. Days settle
/// in order.
#[utoipa::path(
    post,
    path = "/v1/settlements/merchants",
    tag = TAG_FINANCE,
    security(("bearer" = [])),
    request_body = SettleMerchantsRequest,
    responses(
        (status = 200, description = "The day's batch with a line per merchant.", body = MerchantSettlementBatch),
        (status = 400, description = BAD_BODY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_STAFF, body = Problem, content_type = PROBLEM),
        (
            status = 409,
            description = "A later day is already settled. Codes: `settlement_out_of_order`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `validation_failed` (date not YYYY-MM-DD, an unknown or missing field), \
                `day_not_ended` (merchants are settled T+1).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn settle_merchants(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<SettleMerchantsRequest>,
) -> HandlerResult {
    require_staff(&principal)?;
    let day = parse_day("date", &body.value.date)?;
    let batch = state.service.settle_merchants(day).await?;
    Ok(Json(MerchantSettlementBatch::from(batch)).into_response())
}

fn merchant_scope(principal: &Principal) -> Result<Option<uuid::Uuid>, ApiError> {
    match (principal.role, principal.subject_id) {
        (Role::Admin | Role::Finance, _) => Ok(None),
        (Role::Merchant, Some(merchant)) => Ok(Some(merchant)),
        _ => Err(ServiceError::forbidden("settlements are seen by finance and by each merchant").into()),
    }
}

fn settled_batch(state: &AppState, principal: &Principal, date: &str) -> Result<MerchantBatch, ApiError> {
    let scope = merchant_scope(principal)?;
    let day = BusinessDay::parse(date).map_err(|_| api_error(ErrorClass::NotFound, "not_found", "no such day"))?;
    state
        .service
        .merchant_batch(day, scope)
        .ok_or_else(|| api_error(ErrorClass::NotFound, "not_found", format!("{date} is not settled")))
}

/// The merchant settlement batch of a settled day.
///
/// Admin or finance see every merchant's line; a merchant sees only its own.
#[utoipa::path(
    get,
    path = "/v1/settlements/merchants/{date}",
    tag = TAG_FINANCE,
    security(("bearer" = [])),
    params(("date" = String, Path, description = "The business day, `YYYY-MM-DD`.", example = "2026-03-01")),
    responses(
        (status = 200, description = "The batch.", body = MerchantSettlementBatch),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_SETTLEMENT_READER, body = Problem, content_type = PROBLEM),
        (status = 404, description = "The day is not settled. Codes: `not_found`.", body = Problem, content_type = PROBLEM),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn get_merchant_settlement(
    State(state): State<AppState>,
    Auth(principal): Auth,
    date: Result<Path<String>, PathRejection>,
) -> HandlerResult {
    let Path(date) = date.map_err(|_| api_error(ErrorClass::NotFound, "not_found", "no such day"))?;
    let batch = settled_batch(&state, &principal, &date)?;
    Ok(Json(MerchantSettlementBatch::from(batch)).into_response())
}

const NOT_SETTLEMENT_READER: &str = "Neither a staff nor a merchant token. Codes: `forbidden`.";

/// The merchant settlement report of a settled day, as CSV.
///
/// One row per merchant (the caller's own row for a merchant token) and a `TOTAL` row; amounts
/// are decimal strings with two decimals.
#[utoipa::path(
    get,
    path = "/v1/settlements/merchants/{date}/report.csv",
    tag = TAG_FINANCE,
    security(("bearer" = [])),
    params(("date" = String, Path, description = "The business day, `YYYY-MM-DD`.", example = "2026-03-01")),
    responses(
        (status = 200, description = "The report.", body = String, content_type = "text/csv; charset=utf-8"),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_SETTLEMENT_READER, body = Problem, content_type = PROBLEM),
        (status = 404, description = "The day is not settled. Codes: `not_found`.", body = Problem, content_type = PROBLEM),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn merchant_settlement_csv(
    State(state): State<AppState>,
    Auth(principal): Auth,
    date: Result<Path<String>, PathRejection>,
) -> HandlerResult {
    let Path(date) = date.map_err(|_| api_error(ErrorClass::NotFound, "not_found", "no such day"))?;
    let batch = settled_batch(&state, &principal, &date)?;
    let csv = merchant_batch_csv(&batch);
    Ok(([(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}

/// What a batch job did.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobRun {
    #[schema(example = "auto-rate")]
    pub job: String,
    /// How many things it did (bills issued, orders auto-rated, valves closed).
    pub done: u64,
}

/// Runs one of the scheduler's duties now.
///
/// Admin or finance. `gaswallet serve` runs these every few seconds by itself; this route runs one
/// at once (for operators, scripts and the simulator): `monthly-billing` (issue and debit due
/// monthly bills), `auto-rate` (auto-rate service orders whose rating window ran out),
/// `valve-closes` (close valves whose friendly-credit deferral ended), `score` (recompute every
/// credit profile, set changed credit limits; `done` counts customers scored), `anomalies` (run the
/// leak, spike and tamper detectors over the last 90 days of readings; `done` counts new findings).
/// Each is idempotent.
#[utoipa::path(
    post,
    path = "/v1/jobs/{job}",
    tag = TAG_FINANCE,
    security(("bearer" = [])),
    params((
        "job" = String,
        Path,
        description = "`monthly-billing`, `auto-rate`, `valve-closes`, `score` or `anomalies`.",
        example = "auto-rate"
    )),
    responses(
        (status = 200, description = "What the job did.", body = JobRun),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_STAFF, body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such job. Codes: `not_found`.", body = Problem, content_type = PROBLEM),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn run_job(
    State(state): State<AppState>,
    Auth(principal): Auth,
    job: Result<Path<String>, PathRejection>,
) -> HandlerResult {
    require_staff(&principal)?;
    let Path(job) = job.map_err(|_| api_error(ErrorClass::NotFound, "not_found", "no such job"))?;
    let done = match job.as_str() {
        "monthly-billing" => state.service.run_monthly_billing().await?,
        "auto-rate" => state.service.auto_rate_due_orders().await?,
        "valve-closes" => state.service.close_due_valves().await?,
        "score" => state.service.rescore_all(&|_| {}).await?.customers as usize,
        "anomalies" => state.service.detect_anomalies().await?,
        _ => return Err(api_error(ErrorClass::NotFound, "not_found", format!("no job {job:?}"))),
    };
    Ok(Json(JobRun { job, done: done as u64 }).into_response())
}
