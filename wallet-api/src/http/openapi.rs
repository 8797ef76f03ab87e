//! The OpenAPI 3.1 document of the HTTP API, generated from the code: the `#[utoipa::path]`
//! annotations on the handlers, the request structs (`ToSchema`) and the response schemas below.
//! Served at `GET /v1/openapi.json`.
//!
//! Handlers build their bodies with `json!`, so the response shapes are written down here as
//! structs used only for documentation. `tests/openapi.rs` keeps them honest: it drives the real
//! server through every route and checks each answer against the served document (status,
//! content type, every key and its type, and that a problem's `code` is listed for its status).

use super::error::{problem, PROBLEM_CONTENT_TYPE};
use super::extract::{DecimalString, DECIMAL_STRING_BYTES_MAX};
use super::finance;
use super::handlers;
use super::metering;
use super::reconciliation;
use super::risk;
use super::service_orders;
use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::borrow::Cow;
use std::sync::LazyLock;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, PartialSchema, ToResponse, ToSchema};
use uuid::Uuid;

/// What a money (or rate) string looks like: plain decimal digits, an optional minus sign and
/// fraction. No exponent, `+`, spaces or JSON numbers.
pub const MONEY_PATTERN: &str = r"^-?[0-9]+(\.[0-9]+)?$";
/// The name of the bearer security scheme in `components.securitySchemes`.
pub const SECURITY_SCHEME: &str = "bearer";
/// Media type of problem documents (every error), for the `content_type` of error responses.
pub const PROBLEM: &str = PROBLEM_CONTENT_TYPE;

pub const TAG_OPERATIONS: &str = "operations";
pub const TAG_PARTIES: &str = "parties";
pub const TAG_WALLETS: &str = "wallets";
pub const TAG_PAYMENTS: &str = "payments";
pub const TAG_EVENTS: &str = "events";
pub const TAG_LEDGER: &str = "ledger";
pub const TAG_METERING: &str = "metering";

// Error descriptions shared by several operations. Each lists the `code`s a problem with that
// status can carry, in backticks (the test checks real problems against these lists).

/// 400 on a route with a JSON body and no Idempotency-Key.
pub const BAD_BODY: &str = "The body cannot be read. Codes: `unsupported_media_type` (send \
     `Content-Type: application/json`), `malformed_body`, `malformed_json`.";
/// 400 on a route with a JSON body and an optional Idempotency-Key.
pub const BAD_BODY_OR_KEY: &str = "The body or the Idempotency-Key header cannot be read. Codes: \
     `unsupported_media_type` (send `Content-Type: application/json`), `malformed_body`, `malformed_json`, \
     `invalid_idempotency_key`.";
/// 400 on a money-moving route (Idempotency-Key required).
pub const BAD_BODY_OR_MISSING_KEY: &str = "The body cannot be read or the Idempotency-Key header is \
     missing or invalid. Codes: `unsupported_media_type` (send `Content-Type: application/json`), \
     `malformed_body`, `malformed_json`, `idempotency_key_required`, `invalid_idempotency_key`.";
/// 400 on a route with query parameters.
pub const BAD_QUERY: &str = "The query string cannot be read. Codes: `malformed_query`.";
pub const TOO_LARGE: &str = "The body is above the size limit (64 KiB). Codes: `payload_too_large`.";
pub const NOT_ADMIN: &str = "The token is not an admin token. Codes: `forbidden`.";
pub const NOT_STAFF: &str = "The token is neither an admin nor a finance token. Codes: `forbidden`.";
/// 409 on a route with an Idempotency-Key.
pub const KEY_REUSED: &str = "The Idempotency-Key was used before with another body. Codes: `idempotency_conflict`.";
/// 404 for a resource id that is unknown, not a UUID, or another principal's.
pub const UNKNOWN_ID: &str = "No such resource, or not one this token may see (answered exactly like a missing \
     one). Codes: `not_found`.";
pub const UNKNOWN_WALLET: &str = "No such wallet, or not one this token may see (answered exactly like a missing \
     one). Codes: `not_found`.";

pub const IDEMPOTENCY_KEY_REQUIRED: &str = "Required: this request moves money. 1 to 255 visible ASCII \
     characters, scoped to the caller. The same key with the same body answers the first status and body \
     again and posts nothing twice; the same key with another body is a 409 `idempotency_conflict`.";
pub const IDEMPOTENCY_KEY_OPTIONAL: &str = "Optional. 1 to 255 visible ASCII characters, scoped to the caller. \
     With a key, a retry with the same body answers the first status and body again and creates nothing \
     twice; the same key with another body is a 409 `idempotency_conflict`.";

/// Everything the HTTP API serves.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "gaswallet",
        version = env!("CARGO_PKG_VERSION"),
        description = "A gas wallet and payment ledger engine. Money and volume travel as decimal strings \
            (`\"12.50\"`), never JSON numbers; ids are UUIDs; times are RFC 3339 UTC. Every error is \
            `application/problem+json` with a stable machine `code`. Authenticate with \
            `Authorization: Bearer <token>`.",
    ),
    paths(
        handlers::healthz,
        handlers::metrics,
        serve_openapi,
        handlers::create_token,
        handlers::create_customer,
        handlers::get_customer,
        handlers::create_merchant,
        handlers::create_technician,
        handlers::create_concentrator,
        handlers::get_wallet,
        handlers::create_topup,
        handlers::create_payment_code,
        handlers::get_statement,
        handlers::create_payment,
        handlers::get_payment,
        handlers::create_refund,
        handlers::list_events,
        handlers::verify_ledger,
        handlers::create_webhook,
        handlers::list_webhooks,
        metering::create_meter,
        metering::ingest_readings,
        metering::list_bills,
        metering::get_bill,
        metering::put_tariff,
        metering::get_tariff,
        metering::create_self_reading,
        metering::declare_rollover,
        metering::replace_meter,
        finance::trial_balance,
        finance::wallet_roll_forward,
        finance::close_day,
        finance::settle_merchants,
        finance::get_merchant_settlement,
        finance::merchant_settlement_csv,
        service_orders::book_service,
        service_orders::get_service_order,
        service_orders::accept_service,
        service_orders::complete_service,
        service_orders::cancel_service,
        service_orders::rate_service,
        service_orders::resolve_dispute,
        service_orders::refund_service,
        service_orders::pay_technicians,
        service_orders::get_payout_batch,
        service_orders::payout_batch_csv,
        finance::run_job,
        risk::get_credit_profile,
        reconciliation::create_reconciliation,
        reconciliation::get_reconciliation,
        reconciliation::resolve_break,
    ),
    components(schemas(Problem, DecimalString)),
    modifiers(&BearerSecurity),
    tags(
        (name = TAG_OPERATIONS, description = "Health, metrics and this document (no token needed)."),
        (name = TAG_PARTIES, description = "Tokens, customers, merchants, technicians and concentrators (admin)."),
        (name = TAG_WALLETS, description = "Wallets, top-ups, payment codes and statements."),
        (name = TAG_PAYMENTS, description = "Merchant payments and refunds."),
        (name = TAG_EVENTS, description = "Events in commit order, and webhooks that deliver them."),
        (name = TAG_LEDGER, description = "Ledger integrity."),
        (
            name = risk::TAG_RISK,
            description = "Explainable credit profiles: score, grade, reason codes, the credit limit they grant."
        ),
        (
            name = service_orders::TAG_SERVICE,
            description = "Repair service orders (price held in escrow, rated, settled by a rule table) and \
                technician payouts."
        ),
        (
            name = finance::TAG_FINANCE,
            description = "Finance reports: trial balance, wallet-liability roll-forward, signed daily close."
        ),
        (
            name = reconciliation::TAG_RECONCILIATION,
            description = "Channel statements (generic CSV, WeChat Pay and Alipay daily bills) reconciled against \
                the ledger's top-ups, and their breaks resolved by balanced entries."
        ),
        (
            name = TAG_METERING,
            description = "Tariffs (annual volume tiers), meters with their ed25519 keys, signed readings \
                charged at the tariff's tier prices, and e-bills with the tier split."
        ),
    )
)]
pub struct ApiDoc;

/// The document, as the server serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Adds the bearer token scheme the operations' `security` refers to.
#[derive(Debug)]
struct BearerSecurity;

impl Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "`Authorization: Bearer <token>`. Tokens are issued by `POST /v1/tokens` (the bootstrap admin \
                 token is in `DATA/admin.token` or `GAS_ADMIN_TOKEN`). A token belongs to one role and, except \
                 admin and finance, to one subject.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(SECURITY_SCHEME, SecurityScheme::Http(scheme));
    }
}

/// The document rendered once; every request gets the same bytes.
static DOCUMENT_JSON: LazyLock<Result<Bytes, String>> =
    LazyLock::new(|| serde_json::to_vec(&document()).map(Bytes::from).map_err(|error| error.to_string()));

/// This OpenAPI document.
///
/// The full OpenAPI 3.1 document of this server, generated from the code. No token needed.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = TAG_OPERATIONS,
    responses(
        (status = 200, description = "The OpenAPI 3.1 document.", body = Object, content_type = "application/json"),
        (status = 500, response = inline(InternalError)),
        (status = 503, response = inline(Unavailable)),
    )
)]
pub async fn serve_openapi() -> Response {
    match &*DOCUMENT_JSON {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes.clone()).into_response(),
        Err(error) => {
            tracing::error!(%error, "rendering the OpenAPI document");
            problem(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "the OpenAPI document cannot be rendered")
        }
    }
}

impl PartialSchema for DecimalString {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(MONEY_PATTERN))
            .min_length(Some(1))
            .max_length(Some(DECIMAL_STRING_BYTES_MAX))
            .description(Some(
                "A decimal as a JSON string: money in CNY (two decimals on output, e.g. \"12.50\"), \
                 gas volume in m³ (three decimals on output, e.g. \"370.000\"), flow in m³/h (\"6\"), fee \
                 rates and unit prices (\"0.006\", \"2.61\"). Plain digits with an optional minus sign and fraction; a JSON \
                 number, an exponent, `+` or spaces are refused with 422 `invalid_amount`.",
            ))
            .examples(["12.50"])
            .into()
    }
}

impl ToSchema for DecimalString {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("DecimalString")
    }
}

/// An error, as every non-2xx response carries it (RFC 9457 problem details).
#[derive(Debug, ToSchema)]
pub struct Problem {
    /// `/problems/<code>`.
    #[schema(example = "/problems/insufficient_funds")]
    pub r#type: String,
    /// The HTTP reason phrase of `status`.
    #[schema(example = "Payment Required")]
    pub title: String,
    /// The HTTP status code.
    #[schema(example = 402)]
    pub status: u16,
    /// A sentence for people; may change between versions.
    #[schema(example = "the wallet cannot pay 12.50")]
    pub detail: String,
    /// The stable machine code to branch on.
    #[schema(example = "insufficient_funds")]
    pub code: String,
}

fn problem_response(description: &str, header: Option<(&str, &str, Type)>) -> RefOr<utoipa::openapi::Response> {
    let mut builder = ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_CONTENT_TYPE, Content::new(Some(Ref::from_schema_name(Problem::name()))));
    if let Some((name, header_description, header_type)) = header {
        let header = HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(header_type))
            .description(Some(header_description))
            .build();
        builder = builder.header(name, header);
    }
    builder.build().into()
}

/// 401: no usable bearer token.
#[derive(Debug)]
pub struct Unauthorized;

impl<'r> ToResponse<'r> for Unauthorized {
    fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
        (
            "Unauthorized",
            problem_response(
                "The bearer token is missing, malformed or unknown. Codes: `unauthorized`.",
                Some(("WWW-Authenticate", "`Bearer`.", Type::String)),
            ),
        )
    }
}

/// 503: load shedding, the request timeout, or a ledger that is not accepting writes.
#[derive(Debug)]
pub struct Unavailable;

impl<'r> ToResponse<'r> for Unavailable {
    fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
        (
            "Unavailable",
            problem_response(
                "Retry shortly (a money-moving request with the same Idempotency-Key, which converges). \
                 Codes: `overloaded` (too many requests in flight, or the ledger queue is full), `timeout` \
                 (the request took longer than 10 s; it may still have committed), `unavailable` (the ledger \
                 is not accepting writes), `storage_unavailable` (the disk refused a write: nothing was \
                 acknowledged, writes are refused until a restart).",
                Some(("Retry-After", "Seconds to wait: `1`.", Type::Integer)),
            ),
        )
    }
}

/// 500: a fault on the server's side.
#[derive(Debug)]
pub struct InternalError;

impl<'r> ToResponse<'r> for InternalError {
    fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
        (
            "InternalError",
            problem_response(
                "A fault on the server's side (storage, corruption), never the caller's input; nothing was \
                 acknowledged. Codes: `internal_error`.",
                None,
            ),
        )
    }
}

// ----- Enumerations the API speaks (mirrors of service types, checked against them by the tests).

/// A token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Finance,
    Customer,
    Merchant,
    Technician,
    Concentrator,
}

/// How a customer's gas is charged: `per_reading` (each accepted reading at once, the default)
/// or `monthly` (a bill per calendar month).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BillingMode {
    PerReading,
    Monthly,
}

/// The payment channel a top-up came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Wechat,
    Alipay,
    Bank,
    Counter,
}

/// The wallet currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum Currency {
    #[serde(rename = "CNY")]
    Cny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WalletStatus {
    Active,
    Closed,
}

/// `succeeded` until a refund, then `partially_refunded` or `refunded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Succeeded,
    PartiallyRefunded,
    Refunded,
}

/// What kind of thing happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    TopupPosted,
    PaymentPosted,
    RefundPosted,
    LowBalance,
    ValveClose,
    ValveArmed,
    ValveOpen,
    /// A close was due but deferred by friendly-credit hours.
    ValveCloseDeferred,
    /// A monthly bill was issued and debited on its due date.
    BillIssued,
    /// A technician was paid in a payout batch (staff only; `amount` is the net paid).
    PayoutMade,
    /// A rescore moved the customer's credit grade; `amount` is the new credit limit.
    ScoreChanged,
    /// A consumption anomaly was found on one of the customer's meters; `reason` has the kind and
    /// the evidence.
    AnomalyDetected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
}

// ----- Response bodies.

/// The server is up.
#[derive(Debug, ToSchema)]
pub struct Health {
    pub status: HealthStatus,
    /// The journal's last committed sequence.
    pub journal_sequence: u64,
}

/// A new bearer token. `token` is shown only here, once.
#[derive(Debug, ToSchema)]
pub struct IssuedToken {
    #[schema(example = "gw_5f0c…")]
    pub token: String,
    pub token_id: Uuid,
    pub role: Role,
    /// The customer, merchant, technician or concentrator the token speaks for; null for admin and
    /// finance.
    #[schema(required = true)]
    pub subject_id: Option<Uuid>,
}

/// A customer, with the wallet opened for them.
#[derive(Debug, ToSchema)]
pub struct Customer {
    pub id: Uuid,
    pub wallet_id: Uuid,
    pub name: String,
    #[schema(minimum = 1, maximum = 30)]
    pub household_size: u8,
    #[schema(example = "residential")]
    pub tariff: String,
    pub billing_mode: BillingMode,
    #[schema(format = DateTime, example = "2026-03-01T03:00:00Z")]
    pub created_at: String,
}

/// A partner merchant.
#[derive(Debug, ToSchema)]
pub struct Merchant {
    pub id: Uuid,
    pub name: String,
    /// The fee rate as a decimal fraction (`"0.006"` is 0.6 %).
    pub fee_rate: DecimalString,
    /// The ledger account the merchant's takings accrue on.
    pub payable_account_id: Uuid,
    #[schema(format = DateTime, example = "2026-03-01T03:00:00Z")]
    pub created_at: String,
}

/// A technician or concentrator.
#[derive(Debug, ToSchema)]
pub struct Party {
    pub id: Uuid,
    pub name: String,
}

/// A wallet's balances.
#[derive(Debug, ToSchema)]
pub struct Wallet {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub currency: Currency,
    /// Posted balance.
    pub balance: DecimalString,
    /// What can be spent now: the balance less holds, plus any credit limit.
    pub available: DecimalString,
    /// Held for open service orders.
    pub held: DecimalString,
    pub credit_limit: DecimalString,
    pub arrears: DecimalString,
    pub status: WalletStatus,
}

/// A booked top-up.
#[derive(Debug, ToSchema)]
pub struct Topup {
    /// The ledger entry that booked it.
    pub entry_id: Uuid,
    pub wallet_id: Uuid,
    pub amount: DecimalString,
    pub channel: Channel,
    pub channel_txn_id: String,
    /// The part of `amount` that paid the customer's arrears first (`"0.00"` when there were none).
    pub arrears_paid: DecimalString,
    /// The wallet's balance right after this top-up (and its arrears payment).
    pub balance: DecimalString,
}

/// A one-time payment code for a wallet (valid 60 s).
#[derive(Debug, ToSchema)]
pub struct PaymentCode {
    /// 18 digits.
    #[schema(example = "281234567890123456")]
    pub code: String,
    pub wallet_id: Uuid,
    #[schema(format = DateTime, example = "2026-03-01T03:01:00Z")]
    pub expires_at: String,
    /// The most a payment with this code may take; null for no limit.
    #[schema(required = true)]
    pub max_amount: Option<DecimalString>,
}

/// A merchant payment.
#[derive(Debug, ToSchema)]
pub struct Payment {
    pub id: Uuid,
    pub status: PaymentStatus,
    pub amount: DecimalString,
    /// Refunded so far (never above `amount`).
    pub refunded: DecimalString,
    pub wallet_id: Uuid,
    pub merchant_id: Uuid,
    pub customer_id: Uuid,
    pub order_ref: String,
    #[schema(format = DateTime, example = "2026-03-01T03:00:00Z")]
    pub created_at: String,
}

/// A refund of (part of) a payment.
#[derive(Debug, ToSchema)]
pub struct Refund {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub amount: DecimalString,
    #[schema(format = DateTime, example = "2026-03-01T03:00:00Z")]
    pub created_at: String,
}

/// One line of a wallet statement: an entry that changed the balance.
#[derive(Debug, ToSchema)]
pub struct StatementLine {
    pub entry_id: Uuid,
    #[schema(format = DateTime, example = "2026-03-01T03:00:00Z")]
    pub at: String,
    /// The entry's category.
    #[schema(example = "topup")]
    pub kind: String,
    /// Signed: positive when money came into the wallet.
    pub amount: DecimalString,
    pub balance_after: DecimalString,
    pub memo: String,
}

/// A page of statement lines, oldest first.
#[derive(Debug, ToSchema)]
pub struct StatementPage {
    pub items: Vec<StatementLine>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Something that happened, in commit order. Fields that do not apply to the event's type are null.
#[derive(Debug, ToSchema)]
pub struct Event {
    /// The event's own cursor ("1", "2", …): pass it as `after`.
    #[schema(example = "42")]
    pub id: String,
    pub r#type: EventType,
    #[schema(format = DateTime, example = "2026-03-01T03:00:00Z")]
    pub at: String,
    /// The journal record that caused it.
    pub journal_sequence: u64,
    #[schema(required = true)]
    pub customer_id: Option<Uuid>,
    #[schema(required = true)]
    pub wallet_id: Option<Uuid>,
    #[schema(required = true)]
    pub merchant_id: Option<Uuid>,
    #[schema(required = true)]
    pub payment_id: Option<Uuid>,
    #[schema(required = true)]
    pub entry_id: Option<Uuid>,
    #[schema(required = true)]
    pub amount: Option<DecimalString>,
    /// The wallet's available balance after the record (wallet events).
    #[schema(required = true)]
    pub available: Option<DecimalString>,
    /// Why (valve events).
    #[schema(required = true)]
    pub reason: Option<String>,
}

/// A page of events.
#[derive(Debug, ToSchema)]
pub struct EventPage {
    pub items: Vec<Event>,
    /// Pass as `after` for the next page; null when there is nothing more yet.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// What verifying the ledger found.
#[derive(Debug, ToSchema)]
pub struct VerifyReport {
    /// Whether the hash chain, the checkpoint signatures and every balance check out.
    pub ok: bool,
    pub entries_checked: u64,
    pub batches_checked: u64,
    pub accounts_checked: u64,
    pub head_sequence: u64,
    /// The hash at the head of the chain, hex.
    #[schema(example = "9f2c…")]
    pub head_hash: String,
    /// The first disagreement; null when `ok`.
    #[schema(required = true)]
    pub first_error: Option<VerifyDivergence>,
}

/// The first place where the journal disagrees with itself.
#[derive(Debug, ToSchema)]
pub struct VerifyDivergence {
    /// `batch_unreadable`, `sequence_gap`, `hash_mismatch`, `record_unreadable`, `rule_violation`,
    /// `bad_signature`, `time_went_backwards`, `unbalanced` or `balance_differs`.
    #[schema(example = "hash_mismatch")]
    pub kind: String,
    /// The record affected, when the check is per record.
    #[schema(required = true)]
    pub sequence: Option<u64>,
    /// The entry affected, when the record could still be read.
    #[schema(required = true)]
    pub entry_id: Option<Uuid>,
    pub detail: String,
}

/// A webhook endpoint and how its deliveries are signed.
#[derive(Debug, ToSchema)]
pub struct Webhook {
    pub id: Uuid,
    #[schema(example = "https://example.org/gaswallet")]
    pub url: String,
    pub signature: WebhookSignature,
}

/// How to verify a delivery.
#[derive(Debug, ToSchema)]
pub struct WebhookSignature {
    #[schema(example = "ed25519")]
    pub algorithm: String,
    /// The engine's ed25519 public key, hex (64 characters).
    pub public_key: String,
    #[schema(example = "Gaswallet-Signature: ed25519=<hex>")]
    pub header: String,
    #[schema(example = "gaswallet.webhook.v1\\n<Gaswallet-Timestamp>\\n<body>")]
    pub signed_bytes: String,
}

/// The caller's webhooks (one page: there are few per principal).
#[derive(Debug, ToSchema)]
pub struct WebhookPage {
    pub items: Vec<Webhook>,
    /// Always null.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

// ----- Metering.

/// A meter's state. Meters are `active` from registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MeterState {
    Active,
}

/// A registered meter.
#[derive(Debug, ToSchema)]
pub struct Meter {
    pub id: Uuid,
    /// Unique among meters.
    #[schema(example = "BJ-0001")]
    pub serial: String,
    /// The customer whose wallet the meter's readings are charged to.
    pub customer_id: Uuid,
    /// The ed25519 public key its readings are verified with, lowercase hex (64 characters).
    #[schema(pattern = r"^[0-9a-f]{64}$", min_length = 64, max_length = 64)]
    pub public_key: String,
    /// The most a reading may show per hour since the previous one (m³/h).
    #[schema(example = "6")]
    pub max_flow_m3_per_h: DecimalString,
    /// The register when installed (m³, three decimals): the first reading is measured from it.
    #[schema(example = "0.000")]
    pub initial_register: DecimalString,
    /// Readings at or before this time are refused (`reading_out_of_order`).
    #[schema(format = DateTime, example = "2026-01-01T00:00:00Z")]
    pub installed_at: String,
    pub state: MeterState,
}

/// Whether a reading was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadingStatus {
    Accepted,
    Rejected,
}

/// Why a reading was refused. Nothing is posted for a refused reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadingRejection {
    /// The signature does not verify with the meter's public key (or is not 128 hex characters).
    BadSignature,
    /// No active meter has this id.
    UnknownMeter,
    /// The counter is not above the meter's last accepted counter (and this is not a retry of that very
    /// reading).
    ReplayedReading,
    /// The register is below the previous reading's.
    RegisterBackwards,
    /// `read_at` is more than 5 minutes ahead of the server's clock.
    FutureReading,
    /// More volume than the meter's maximum flow allows over the interval.
    ImplausibleFlow,
    /// `read_at` is not after the previous reading (or, for the first reading, after `installed_at`).
    ReadingOutOfOrder,
    /// The register is not digits with exactly three decimals (at most 99999.999), or `read_at` is not
    /// RFC 3339.
    MalformedReading,
    /// The customer's tariff cannot price the interval.
    InvalidTariff,
    /// No version of the customer's tariff is in force at the reading's time.
    NoTariffInForce,
    /// The interval cannot be priced (it does not move forward in time).
    InvalidInterval,
    /// More readings of one customer in one request than one linked group holds (60); send the rest
    /// in the next request.
    TooManyReadingsForCustomer,
    /// The customer's readings could not be committed this time (nothing was posted); send them again.
    RetryLater,
}

/// The fate of one reading, in the order sent.
#[derive(Debug, ToSchema)]
pub struct ReadingResult {
    /// As sent.
    pub meter_id: String,
    /// As sent.
    pub counter: u64,
    pub status: ReadingStatus,
    /// Only on a rejected reading (absent otherwise).
    #[schema(nullable = false)]
    pub code: Option<ReadingRejection>,
    /// Only on an accepted reading (absent otherwise): the CNY posted for it, `"0.00"` when nothing is due
    /// yet (monthly billing). A retry of an accepted reading answers its charge again and posts nothing.
    #[schema(nullable = false, example = "108.80")]
    pub charge: Option<DecimalString>,
}

/// One result per reading sent.
#[derive(Debug, ToSchema)]
pub struct ReadingResults {
    pub results: Vec<ReadingResult>,
}

/// How an e-bill was settled: `charged` to the wallet at once (per-reading billing) or left for the
/// `monthly` bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BillSettlement {
    Charged,
    Monthly,
}

/// The interval an e-bill covers: from the previous reading (or the installation) to this one.
#[derive(Debug, ToSchema)]
pub struct BillPeriod {
    #[schema(format = DateTime, example = "2026-03-01T03:00:00Z")]
    pub from: String,
    #[schema(format = DateTime, example = "2026-03-05T03:00:00Z")]
    pub to: String,
}

/// The two registers an e-bill's volume is measured between.
#[derive(Debug, ToSchema)]
pub struct BillReadings {
    /// m³, three decimals.
    #[schema(example = "330.000")]
    pub previous_register: DecimalString,
    #[schema(example = "370.000")]
    pub register: DecimalString,
    /// The counter of the reading that made this bill.
    pub counter: u64,
}

/// The volume priced in one tier (and one tier year).
#[derive(Debug, ToSchema)]
pub struct BillLine {
    /// 1 for the first tier.
    #[schema(minimum = 1, example = 2)]
    pub tier: u32,
    /// The tier year this volume counts in (its first day, Beijing time).
    #[schema(format = Date, example = "2026-01-01")]
    pub tier_year_start: String,
    #[schema(example = "20.000")]
    pub volume: DecimalString,
    /// CNY per m³.
    #[schema(example = "2.83")]
    pub unit_price: DecimalString,
    #[schema(example = "56.60")]
    pub amount: DecimalString,
}

/// An e-bill: one accepted reading, priced. Its id is the reading's.
#[derive(Debug, ToSchema)]
pub struct Bill {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub meter_id: Uuid,
    pub period: BillPeriod,
    pub readings: BillReadings,
    /// m³ consumed in the period.
    #[schema(example = "40.000")]
    pub volume: DecimalString,
    /// The tier split, with unit prices and amounts.
    pub lines: Vec<BillLine>,
    /// CNY: the sum of the lines' amounts.
    #[schema(example = "108.80")]
    pub total: DecimalString,
    /// The part of `total` the wallet paid.
    #[schema(example = "38.70")]
    pub paid_from_wallet: DecimalString,
    /// The part of `total` the wallet could not pay, booked as arrears.
    #[schema(example = "70.10")]
    pub added_to_arrears: DecimalString,
    pub billing: BillSettlement,
    /// The tier year the period ends in.
    #[schema(format = Date, example = "2026-01-01")]
    pub tier_year_start: String,
    /// m³ used in that tier year, this period included.
    #[schema(example = "370.000")]
    pub annual_volume: DecimalString,
    /// The annual volume (m³) where the next tier starts; null in the last tier.
    #[schema(required = true, example = "500.000")]
    pub next_tier_at: Option<DecimalString>,
    /// How many m³ until the next tier starts; null in the last tier.
    #[schema(required = true, example = "130.000")]
    pub volume_to_next_tier: Option<DecimalString>,
    #[schema(format = DateTime, example = "2026-03-05T03:00:01Z")]
    pub issued_at: String,
    /// The customer's own readings this signed reading settled (empty if none).
    pub settles_self_readings: Vec<SelfReading>,
}

/// A declared register rollover.
#[derive(Debug, ToSchema)]
pub struct RolloverDeclared {
    pub meter_id: Uuid,
    /// Always `declared`.
    #[schema(example = "declared")]
    pub rollover: String,
    /// The counter of the meter's last reading (0 if none yet).
    pub after_counter: u64,
    /// The register of that reading (or the initial register).
    #[schema(example = "99995.000")]
    pub last_register: DecimalString,
    /// Where the register restarts from zero.
    #[schema(example = "100000.000")]
    pub rolls_over_at: DecimalString,
}

/// A meter replacement.
#[derive(Debug, ToSchema)]
pub struct MeterReplacement {
    pub old_meter_id: Uuid,
    /// Always `replaced`.
    #[schema(example = "replaced")]
    pub state: String,
    #[schema(example = "1234.567")]
    pub final_register: DecimalString,
    #[schema(format = DateTime, example = "2026-03-05T02:00:00Z")]
    pub final_read_at: String,
    /// CNY charged for the old meter's last consumption (from the wallet and as arrears).
    #[schema(example = "18.27")]
    pub final_charge: DecimalString,
    pub new_meter: Meter,
}

/// Whether a self-reading is still provisional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SelfReadingStatus {
    Provisional,
    Settled,
}

/// Where a reading came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadingSource {
    Customer,
}

/// A customer's own reading of the register: priced as an estimate, never charged; the next
/// signed reading settles it.
#[derive(Debug, ToSchema)]
pub struct SelfReading {
    pub id: Uuid,
    pub meter_id: Uuid,
    /// m³, three decimals.
    #[schema(example = "123.456")]
    pub register: DecimalString,
    #[schema(format = DateTime, example = "2026-03-05T00:00:00Z")]
    pub read_at: String,
    /// Where the photo of the register is stored; null if none was given.
    #[schema(required = true)]
    pub photo_ref: Option<String>,
    pub source: ReadingSource,
    pub status: SelfReadingStatus,
    /// The record id of the signed reading that settled it; null while provisional.
    #[schema(required = true)]
    pub settled_by: Option<Uuid>,
    /// m³ since the last signed reading, by the customer's reading.
    #[schema(example = "3.456")]
    pub estimated_volume: DecimalString,
    /// CNY the estimate would cost at the tier prices (not charged).
    #[schema(example = "9.02")]
    pub estimated_charge: DecimalString,
}

/// A page of e-bills, newest first.
#[derive(Debug, ToSchema)]
pub struct BillPage {
    pub items: Vec<Bill>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A tariff with all its versions, oldest first. Volumes (m³) and prices (CNY per m³) are decimal strings
/// without trailing zeros (`"350"`, `"2.61"`).
#[derive(Debug, ToSchema)]
pub struct Tariff {
    /// 1 to 32 of a-z, 0-9, `-`.
    #[schema(example = "residential")]
    pub code: String,
    /// Strictly increasing `effective_from` dates.
    pub versions: Vec<TariffVersion>,
}

/// A tariff as in force from a date.
#[derive(Debug, ToSchema)]
pub struct TariffVersion {
    /// The first Beijing date on which this version applies (from 00:00 Beijing time).
    #[schema(format = Date, example = "2019-01-01")]
    pub effective_from: String,
    /// The month and day (`MM-DD`) on which the tier year restarts.
    #[schema(pattern = r"^[0-9]{2}-[0-9]{2}$", min_length = 5, max_length = 5, example = "01-01")]
    pub cycle_start: String,
    /// In order of their boundaries; the last one has no end.
    pub tiers: Vec<Tier>,
    /// Extra volume per boundary for large households; null for none.
    #[schema(required = true)]
    pub household_uplift: Option<HouseholdUplift>,
}

/// One tier: the price that applies up to a cumulative annual volume.
#[derive(Debug, ToSchema)]
pub struct Tier {
    /// The cumulative volume in the tier year (m³) where this tier ends; null for the last tier.
    #[schema(required = true, example = "350")]
    pub up_to: Option<DecimalString>,
    /// CNY per m³.
    #[schema(example = "2.61")]
    pub price: DecimalString,
}

/// Households of at least `min_household_size` people get `extra_m3_per_boundary` more on every tier
/// boundary.
#[derive(Debug, ToSchema)]
pub struct HouseholdUplift {
    #[schema(minimum = 1, maximum = 255, example = 6)]
    pub min_household_size: u8,
    /// m³.
    #[schema(example = "150")]
    pub extra_m3_per_boundary: DecimalString,
}
