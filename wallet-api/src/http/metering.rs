//! Metering routes: meters, signed readings from concentrators, e-bills. Parsing only; the rules
//! live in `crate::service::metering`.

use super::error::{api_error, ApiError};
use super::extract::{page_limit, Auth, DecimalString, JsonBody, PathId, Query};
use super::openapi::{
    Bill, BillPage, InternalError, Meter, MeterReplacement, Problem, ReadingResults, RolloverDeclared, SelfReading,
    Tariff, Unauthorized, Unavailable, BAD_BODY, BAD_QUERY, NOT_ADMIN, PROBLEM, TAG_METERING, TOO_LARGE,
};
use super::AppState;
use crate::metering::tariff::{HouseholdUplift, Tariff as DomainTariff, TariffVersion, Tier};
use crate::service::error::{ErrorClass, ServiceError};
use crate::service::metering::{ReadingInput, READINGS_PER_REQUEST_MAX};
use crate::service::model::Role;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

type HandlerResult = Result<Response, ApiError>;

/// Largest body of `POST /v1/meter-readings`. The general limit (64 KiB) holds only about 250 signed
/// readings, so a batch of [`READINGS_PER_REQUEST_MAX`] (about 270 bytes each, up to about 400 with
/// long counters, offsets and whitespace) gets a limit of its own.
pub const READINGS_REQUEST_BODY_BYTES_MAX: usize = 512 * 1024;

/// 413 on `POST /v1/meter-readings` (its own limit, [`READINGS_REQUEST_BODY_BYTES_MAX`]).
pub const READINGS_TOO_LARGE: &str =
    "The body is above the size limit for readings (512 KiB). Codes: `payload_too_large`.";

/// A meter to register for a customer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeterRequest {
    /// The meter's serial number: 1 to 32 of A-Z, a-z, 0-9, `-`; one meter per serial.
    #[schema(pattern = r"^[A-Za-z0-9-]{1,32}$", min_length = 1, max_length = 32, example = "BJ-0001")]
    pub serial: String,
    pub customer_id: Uuid,
    /// The meter's ed25519 public key, 64 hex characters.
    #[schema(pattern = r"^[0-9A-Fa-f]{64}$", min_length = 64, max_length = 64)]
    pub public_key: String,
    /// The most the meter can pass per hour, in m³/h: above 0, at most 10000 (default 6, a G4
    /// household meter). A reading that implies more is refused as `implausible_flow`.
    #[schema(example = "6")]
    pub max_flow_m3_per_h: Option<DecimalString>,
    /// The register when installed (m³, 0 to 99999.999, at most three decimals). The first
    /// reading's consumption and flow are measured from it.
    #[schema(example = "0.000")]
    pub initial_register: DecimalString,
    /// When the meter was installed (RFC 3339; default now). Readings at or before it are refused.
    #[schema(format = DateTime, example = "2026-01-01T00:00:00Z")]
    pub installed_at: Option<String>,
}

/// Registers a meter with its ed25519 public key.
///
/// Admin. Readings signed with the matching private key can then be posted to
/// `POST /v1/meter-readings`.
#[utoipa::path(
    post,
    path = "/v1/meters",
    tag = TAG_METERING,
    security(("bearer" = [])),
    request_body = MeterRequest,
    responses(
        (status = 201, description = "The meter.", body = Meter),
        (status = 400, description = BAD_BODY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_ADMIN, body = Problem, content_type = PROBLEM),
        (
            status = 404,
            description = "No customer has `customer_id`. Codes: `not_found`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (
            status = 409,
            description = "A meter with this serial is already registered. Codes: `duplicate_serial`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `invalid_public_key` (not 64 hex characters, or not an ed25519 point), \
                `invalid_amount` (max_flow_m3_per_h or initial_register is not a decimal string), \
                `validation_failed` (serial not 1 to 32 of A-Z a-z 0-9 -, max_flow_m3_per_h not above 0 and at \
                most 10000, initial_register not 0 to 99999.999 with at most three decimals, installed_at not an \
                RFC 3339 time, an unknown or missing field).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn create_meter(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<MeterRequest>,
) -> HandlerResult {
    let value = body.value;
    let installed_at = match value.installed_at.as_deref() {
        None => None,
        Some(text) => Some(
            crate::time::parse_rfc3339(text)
                .ok_or_else(|| ServiceError::validation("installed_at must be an RFC 3339 time"))?,
        ),
    };
    let meter = state
        .service
        .register_meter(
            &principal,
            &value.serial,
            value.customer_id,
            &value.public_key,
            value.max_flow_m3_per_h.map(|flow| flow.0),
            value.initial_register.0,
            installed_at,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(meter)).into_response())
}

/// One signed reading, with its fields exactly as the meter signed them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadingBody {
    /// The meter's id, as signed.
    #[schema(example = "0f8e9a52-7c1d-4f7e-9a56-1d2b3c4d5e6f")]
    pub meter_id: String,
    /// Strictly increasing per meter.
    pub counter: u64,
    /// The cumulative register in m³ with exactly three decimals (`"370.000"`), as signed. Anything else
    /// is refused per reading as `malformed_reading`.
    #[schema(pattern = r"^[0-9]+\.[0-9]{3}$", example = "370.000")]
    pub register: String,
    /// When the meter was read (RFC 3339), as signed.
    #[schema(format = DateTime, example = "2026-03-01T03:00:00Z")]
    pub read_at: String,
    /// ed25519 signature, 128 hex characters, over the UTF-8 bytes of
    /// `meter_id + "|" + counter + "|" + register + "|" + read_at` (the strings exactly as sent; the
    /// counter in decimal).
    #[schema(example = "5b1f…")]
    pub signature: String,
}

/// A batch of readings, from a concentrator.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadingsRequest {
    /// 1 to 1000 readings, of one or many meters; checked and charged in order.
    #[schema(min_items = 1, max_items = 1000)]
    pub readings: Vec<ReadingBody>,
}

/// Takes a batch of signed meter readings and charges the accepted ones.
///
/// A concentrator or admin token. Each reading is accepted or rejected on its own (a batch is never
/// all-or-nothing) and nothing is posted for a rejected one. An accepted reading's consumption is priced
/// at the customer's tariff (annual volume tiers) and, in per-reading billing, charged to the wallet at
/// once; what the wallet cannot pay becomes arrears and closes the valve (outside friendly-credit hours).
/// No Idempotency-Key: every posting is named by (meter, counter), so a retried batch posts nothing
/// twice and answers an accepted reading with its charge again.
#[utoipa::path(
    post,
    path = "/v1/meter-readings",
    tag = TAG_METERING,
    security(("bearer" = [])),
    request_body = ReadingsRequest,
    responses(
        (status = 200, description = "One result per reading, in the order sent.", body = ReadingResults),
        (status = 400, description = BAD_BODY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (
            status = 403,
            description = "Not a concentrator or admin token. Codes: `forbidden`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 413, description = READINGS_TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `validation_failed` (no readings or more than 1000, a counter that is not a \
                non-negative integer, an unknown or missing field).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn ingest_readings(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: Result<JsonBody<ReadingsRequest>, ApiError>,
) -> HandlerResult {
    // The extractor's own 413 names the general limit; this route has a larger one.
    let body = body.map_err(|error| match error.0.code {
        "payload_too_large" => api_error(
            ErrorClass::PayloadTooLarge,
            "payload_too_large",
            format!("a batch of readings is limited to {READINGS_REQUEST_BODY_BYTES_MAX} bytes"),
        ),
        _ => error,
    })?;
    if body.value.readings.len() > READINGS_PER_REQUEST_MAX {
        return Err(
            ServiceError::validation(format!("send at most {READINGS_PER_REQUEST_MAX} readings per request")).into()
        );
    }
    let readings: Vec<ReadingInput> = body
        .value
        .readings
        .into_iter()
        .map(|reading| ReadingInput {
            meter_id: reading.meter_id,
            counter: reading.counter,
            register: reading.register,
            read_at: reading.read_at,
            signature: reading.signature,
        })
        .collect();
    let results = state.service.ingest_readings(&principal, &readings).await?;
    Ok(Json(json!({ "results": results })).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BillsQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Bills per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

/// A customer's e-bills, newest first.
///
/// Admin, finance, or that customer. One e-bill per accepted reading: the readings, the volume, the tier
/// split with unit prices and amounts, the annual volume and how far it is to the next tier. Paged with
/// `limit` and `cursor`.
#[utoipa::path(
    get,
    path = "/v1/customers/{id}/bills",
    tag = TAG_METERING,
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The customer id."),
        BillsQuery,
    ),
    responses(
        (status = 200, description = "A page of e-bills.", body = BillPage),
        (status = 400, description = BAD_QUERY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (
            status = 404,
            description = "No such customer, or not one this token may see (answered exactly like a missing one). \
                Codes: `not_found`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (
            status = 422,
            description = "Codes: `validation_failed` (limit not 1 to 500, a cursor this server did not give out, \
                an unknown parameter).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn list_bills(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(customer_id): PathId,
    Query(query): Query<BillsQuery>,
) -> HandlerResult {
    let limit = page_limit(query.limit)?;
    let cursor = query
        .cursor
        .map(|text| {
            text.parse::<usize>().map_err(|_| ServiceError::validation("cursor is not one this server gave out"))
        })
        .transpose()?;
    let (items, next) = state.service.bills(&principal, customer_id, cursor, limit)?;
    Ok(Json(json!({ "items": items, "next_cursor": next.map(|next| next.to_string()) })).into_response())
}

/// One e-bill with its tier breakdown.
///
/// Admin, finance, or the bill's customer.
#[utoipa::path(
    get,
    path = "/v1/bills/{id}",
    tag = TAG_METERING,
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The bill id."),
    ),
    responses(
        (status = 200, description = "The e-bill.", body = Bill),
        (status = 401, response = inline(Unauthorized)),
        (
            status = 404,
            description = "No such bill, or not one this token may see (answered exactly like a missing one). \
                Codes: `not_found`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn get_bill(State(state): State<AppState>, Auth(principal): Auth, PathId(bill_id): PathId) -> HandlerResult {
    Ok(Json(state.service.bill(&principal, bill_id)?).into_response())
}

// ----- Tariffs.

/// One tier of a tariff version.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierRequest {
    /// The cumulative volume in the tier year (m³, at most three decimals, at most 100000000) where this
    /// tier ends: above 0 and above the previous tier's. Null (or absent) for the last tier, and only
    /// for it: the last tier has no end.
    #[schema(example = "350")]
    pub up_to: Option<DecimalString>,
    /// CNY per m³: above 0, at most 1000, at most four decimals.
    #[schema(example = "2.61")]
    pub price: DecimalString,
}

/// Extra volume on every tier boundary for large households.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HouseholdUpliftRequest {
    /// Households of at least this many people get the uplift (1 to 255).
    #[schema(minimum = 1, maximum = 255, example = 6)]
    pub min_household_size: u8,
    /// m³ added to every tier boundary: 0 to 100000000, at most three decimals.
    #[schema(example = "150")]
    pub extra_m3_per_boundary: DecimalString,
}

/// A tariff as in force from a date.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TariffVersionRequest {
    /// The first Beijing date on which this version applies (from 00:00 Beijing time), `YYYY-MM-DD`.
    #[schema(format = Date, example = "2019-01-01")]
    pub effective_from: String,
    /// The month and day (`MM-DD`) on which the tier year restarts: `01-01` for the calendar year. A day
    /// in every year (not `02-29`).
    #[schema(pattern = r"^[0-9]{2}-[0-9]{2}$", min_length = 5, max_length = 5, example = "01-01")]
    pub cycle_start: String,
    /// 1 to 8 tiers, in order of their boundaries; the last one has `up_to: null`.
    #[schema(min_items = 1, max_items = 8)]
    pub tiers: Vec<TierRequest>,
    /// Extra volume per boundary for large households; null (or absent) for none.
    pub household_uplift: Option<HouseholdUpliftRequest>,
}

/// All the versions of a tariff; they replace whatever the tariff had.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TariffRequest {
    /// 1 to 64 versions, with strictly increasing `effective_from` dates.
    #[schema(min_items = 1, max_items = 64)]
    pub versions: Vec<TariffVersionRequest>,
}

/// `YYYY-MM-DD`, exactly (chrono alone would take `2026-3-1` and `+2026-03-01`).
fn parse_date(text: &str) -> Option<NaiveDate> {
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(position, byte)| match position {
            4 | 7 => byte == b'-',
            _ => byte.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// `MM-DD`, two digits each. Whether it is a day in every year is the tariff's own check.
fn parse_month_day(text: &str) -> Option<(u32, u32)> {
    let (month, day) = text.split_once('-')?;
    let two_digits = |part: &str| part.len() == 2 && part.bytes().all(|byte| byte.is_ascii_digit());
    if !two_digits(month) || !two_digits(day) {
        return None;
    }
    Some((month.parse().ok()?, day.parse().ok()?))
}

/// The request as a domain tariff; the tariff rules themselves are checked by the service.
fn tariff_from_request(code: String, request: TariffRequest) -> Result<DomainTariff, ServiceError> {
    let mut versions = Vec::with_capacity(request.versions.len());
    for (position, version) in request.versions.into_iter().enumerate() {
        let effective_from = parse_date(&version.effective_from).ok_or_else(|| {
            ServiceError::validation(format!("versions[{position}].effective_from must be a date (YYYY-MM-DD)"))
        })?;
        let cycle_start = parse_month_day(&version.cycle_start).ok_or_else(|| {
            ServiceError::validation(format!("versions[{position}].cycle_start must be a month and day (MM-DD)"))
        })?;
        versions.push(TariffVersion {
            effective_from,
            cycle_start,
            tiers: version
                .tiers
                .into_iter()
                .map(|tier| Tier { up_to: tier.up_to.map(|up_to| up_to.0), price: tier.price.0 })
                .collect(),
            household_uplift: version.household_uplift.map(|uplift| HouseholdUplift {
                min_household_size: uplift.min_household_size,
                extra_m3_per_boundary: uplift.extra_m3_per_boundary.0,
            }),
        });
    }
    Ok(DomainTariff { code, versions })
}

/// Sets a tariff: all its versions, replacing what it had.
///
/// Admin. Tariffs are data: the change is recorded in the journal. Readings priced after it use the new
/// versions (readings already charged are not priced again); within a reading's interval, each version's
/// prices apply from its `effective_from` date. A new code makes a new tariff, which customers can then
/// take at creation (`tariff`).
#[utoipa::path(
    put,
    path = "/v1/tariffs/{code}",
    tag = TAG_METERING,
    security(("bearer" = [])),
    params(
        (
            "code" = String,
            Path,
            description = "The tariff code: 1 to 32 of a-z, 0-9, `-`.",
            pattern = r"^[a-z0-9-]{1,32}$",
            min_length = 1,
            max_length = 32,
            example = "residential"
        ),
    ),
    request_body = TariffRequest,
    responses(
        (status = 200, description = "The tariff as stored.", body = Tariff),
        (status = 400, description = BAD_BODY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_ADMIN, body = Problem, content_type = PROBLEM),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `validation_failed` (a code not 1 to 32 of a-z 0-9 -, effective_from not a \
                YYYY-MM-DD date, cycle_start not MM-DD, min_household_size not an integer 0 to 255, an unknown or \
                missing field), `invalid_amount` (up_to, price or extra_m3_per_boundary not a decimal string), \
                `invalid_tariff` (no versions or more than 64, effective_from dates not strictly increasing, a \
                cycle_start that is not a day in every year, no tiers or more than 8, a bounded last tier or an \
                unbounded one before it, boundaries not increasing from above 0 or with more than three decimals, \
                a boundary above 100000000 m³, a price not above 0, above 1000 or with more than four decimals, \
                an extra_m3_per_boundary below 0, above 100000000 or with more than three decimals, a \
                min_household_size of 0).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn put_tariff(
    State(state): State<AppState>,
    Auth(principal): Auth,
    code: Result<Path<String>, PathRejection>,
    body: Result<JsonBody<TariffRequest>, ApiError>,
) -> HandlerResult {
    // Admin before the body is looked at: a token that may not set tariffs is told only that.
    if principal.role != Role::Admin {
        return Err(ServiceError::forbidden("tariffs are set by admin").into());
    }
    let Path(code) = code.map_err(|_| ServiceError::validation("a tariff code is 1 to 32 of a-z, 0-9, -"))?;
    let tariff = tariff_from_request(code, body?.value)?;
    Ok(Json(state.service.set_tariff(&principal, tariff).await?).into_response())
}

/// A tariff with all its versions.
///
/// Any token. The server ships `residential` (Beijing's general residential tiers: 0–350 m³ at 2.61,
/// 350–500 at 2.83, above 500 at 4.23 CNY/m³, +150 m³ per boundary for households of 6 or more) and
/// `residential-heating` (0–1500 / 1500–2500 / above, at the same prices).
#[utoipa::path(
    get,
    path = "/v1/tariffs/{code}",
    tag = TAG_METERING,
    security(("bearer" = [])),
    params(
        (
            "code" = String,
            Path,
            description = "The tariff code: 1 to 32 of a-z, 0-9, `-`.",
            pattern = r"^[a-z0-9-]{1,32}$",
            min_length = 1,
            max_length = 32,
            example = "residential"
        ),
    ),
    responses(
        (status = 200, description = "The tariff.", body = Tariff),
        (status = 401, response = inline(Unauthorized)),
        (status = 404, description = "No tariff has this code. Codes: `not_found`.", body = Problem, content_type = PROBLEM),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn get_tariff(
    State(state): State<AppState>,
    Auth(_): Auth,
    code: Result<Path<String>, PathRejection>,
) -> HandlerResult {
    let Path(code) = code.map_err(|_| api_error(ErrorClass::NotFound, "not_found", "no such tariff"))?;
    Ok(Json(state.service.tariff(&code)?).into_response())
}

/// A customer's own reading of the register.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelfReadingRequest {
    /// The register as the customer read it (m³, at most three decimals).
    #[schema(example = "123.456")]
    pub register: DecimalString,
    /// RFC 3339.
    #[schema(format = DateTime, example = "2026-03-05T08:00:00+08:00")]
    pub read_at: String,
    /// Where the photo of the register is stored (1 to 256 printable bytes).
    pub photo_ref: Option<String>,
}

/// Records a customer's own reading (provisional).
///
/// The meter's customer (or admin). The reading is checked like a signed one (time, register,
/// flow) and priced as an estimate, but nothing is charged: the next signed reading of the meter
/// charges the real consumption and settles it (its e-bill lists the self-readings it settled).
#[utoipa::path(
    post,
    path = "/v1/meters/{id}/self-readings",
    tag = TAG_METERING,
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The meter id."),
    ),
    request_body = SelfReadingRequest,
    responses(
        (status = 201, description = "The provisional reading.", body = SelfReading),
        (status = 400, description = BAD_BODY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (
            status = 404,
            description = "No such meter, or not the caller's (answered exactly like a missing one). Codes: `not_found`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (
            status = 409,
            description = "Codes: `conflict` (another self-reading with this time and register).",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `validation_failed` (register out of range, bad time or photo_ref, unknown field), \
                `invalid_amount` (register not a decimal string), `future_reading`, `reading_out_of_order`, \
                `register_backwards`, `implausible_flow`, `no_tariff_in_force`, `invalid_interval`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn create_self_reading(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(meter_id): PathId,
    body: JsonBody<SelfReadingRequest>,
) -> HandlerResult {
    let value = body.value;
    let read_at = crate::time::parse_rfc3339(&value.read_at)
        .ok_or_else(|| ServiceError::validation("read_at must be an RFC 3339 time"))?;
    let recorded = state
        .service
        .record_self_reading(&principal, meter_id, value.register.0, read_at, value.photo_ref.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(recorded)).into_response())
}

/// Declares that a meter's register rolled over.
///
/// Admin or a concentrator. After the declaration the meter's next reading may show a register
/// below the last one: its volume is what was left to the top of the register (99999.999 m³) plus
/// what it shows now. One declaration covers one reading.
#[utoipa::path(
    post,
    path = "/v1/meters/{id}/rollover",
    tag = TAG_METERING,
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The meter id."),
    ),
    responses(
        (status = 200, description = "The declaration.", body = RolloverDeclared),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = "Codes: `forbidden` (not admin or a concentrator).", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No active meter with this id. Codes: `not_found`.", body = Problem, content_type = PROBLEM),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn declare_rollover(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(meter_id): PathId,
) -> HandlerResult {
    Ok(Json(state.service.declare_rollover(&principal, meter_id).await?).into_response())
}

/// A meter replacement as the fitter declares it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplacementRequest {
    /// The old meter's register when it was taken out (m³, at most three decimals).
    #[schema(example = "1234.567")]
    pub final_register: DecimalString,
    /// RFC 3339: when it was taken out; the new meter is installed at the same moment.
    #[schema(format = DateTime, example = "2026-03-05T10:00:00+08:00")]
    pub final_read_at: String,
    /// The new meter's serial.
    pub new_serial: String,
    /// The new meter's ed25519 public key, 64 hex characters.
    pub new_public_key: String,
    /// The new meter's register when installed (m³).
    #[schema(example = "0.000")]
    pub new_initial_register: DecimalString,
    /// The new meter's maximum flow (m³/h; default 6).
    pub new_max_flow_m3_per_h: Option<DecimalString>,
}

/// Replaces a meter.
///
/// Admin. The old meter's final reading is charged like a signed one (same checks, tier pricing,
/// wallet then arrears), the old meter stops taking readings, and the new meter counts from its
/// initial register: all in one linked group, so no consumption is lost or counted twice.
#[utoipa::path(
    post,
    path = "/v1/meters/{id}/replacement",
    tag = TAG_METERING,
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The meter being replaced."),
    ),
    request_body = ReplacementRequest,
    responses(
        (status = 201, description = "The replacement.", body = MeterReplacement),
        (status = 400, description = BAD_BODY, body = Problem, content_type = PROBLEM),
        (status = 401, response = inline(Unauthorized)),
        (status = 403, description = NOT_ADMIN, body = Problem, content_type = PROBLEM),
        (status = 404, description = "No active meter with this id. Codes: `not_found`.", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Codes: `duplicate_serial`, `conflict`.", body = Problem, content_type = PROBLEM),
        (status = 413, description = TOO_LARGE, body = Problem, content_type = PROBLEM),
        (
            status = 422,
            description = "Codes: `validation_failed`, `invalid_amount`, `invalid_public_key`, and the reading codes for \
                the final reading: `future_reading`, `reading_out_of_order`, `register_backwards`, `implausible_flow`.",
            body = Problem,
            content_type = PROBLEM
        ),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn replace_meter(
    State(state): State<AppState>,
    Auth(principal): Auth,
    PathId(meter_id): PathId,
    body: JsonBody<ReplacementRequest>,
) -> HandlerResult {
    let value = body.value;
    let final_read_at = crate::time::parse_rfc3339(&value.final_read_at)
        .ok_or_else(|| ServiceError::validation("final_read_at must be an RFC 3339 time"))?;
    let replaced = state
        .service
        .replace_meter(
            &principal,
            meter_id,
            value.final_register.0,
            final_read_at,
            &value.new_serial,
            &value.new_public_key,
            value.new_initial_register.0,
            value.new_max_flow_m3_per_h.map(|flow| flow.0),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(replaced)).into_response())
}
