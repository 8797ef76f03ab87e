//! The HTTP API (axum). `app(state)` builds the router; `run(listener, state, shutdown)` serves it
//! until `shutdown` resolves, then drains in-flight requests.
//!
//! Every response that is not a success is `application/problem+json` with a stable `code`
//! (see [`error`]). Limits are named constants: [`extract::REQUEST_BODY_BYTES_MAX`],
//! [`metering::READINGS_REQUEST_BODY_BYTES_MAX`] (readings batches only),
//! [`reconciliation::RECONCILIATION_REQUEST_BODY_BYTES_MAX`] (statements only),
//! [`extract::PAGE_LIMIT_MAX`], [`extract::IDEMPOTENCY_KEY_BYTES_MAX`],
//! [`CONCURRENT_REQUESTS_MAX`], [`REQUEST_TIMEOUT`], [`listener::CONNECTIONS_MAX`].

pub mod error;
pub mod extract;
pub mod finance;
pub mod handlers;
pub mod listener;
pub mod metering;
pub mod metrics;
pub mod openapi;
pub mod reconciliation;
pub mod risk;
pub mod service_orders;

use crate::service::Service;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Requests handled at once; beyond this the server answers 503 `overloaded` at once instead of
/// queueing (shedding load keeps the latency of accepted requests bounded).
pub const CONCURRENT_REQUESTS_MAX: usize = 2048;
/// Longest a request may take before it is answered 503 `timeout`. A money-moving request that
/// times out may still commit: retry it with the same Idempotency-Key, which converges.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub service: Arc<Service>,
    pub metrics: Arc<metrics::HttpMetrics>,
    /// The web console's sessions.
    pub console: Arc<crate::console::ConsoleState>,
    in_flight: Arc<Semaphore>,
    limits: Limits,
}

/// The server's limits; [`Limits::default`] holds the named constants (tests lower them to hit
/// the bounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub concurrent_requests_max: usize,
    pub request_timeout: Duration,
    pub connections_max: usize,
    pub connection_idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            concurrent_requests_max: CONCURRENT_REQUESTS_MAX,
            request_timeout: REQUEST_TIMEOUT,
            connections_max: listener::CONNECTIONS_MAX,
            connection_idle_timeout: listener::CONNECTION_IDLE_TIMEOUT,
        }
    }
}

impl AppState {
    pub fn new(service: Arc<Service>) -> AppState {
        AppState::with_limits(service, Limits::default())
    }

    pub fn with_limits(service: Arc<Service>, limits: Limits) -> AppState {
        AppState {
            service,
            metrics: Arc::default(),
            console: Arc::default(),
            in_flight: Arc::new(Semaphore::new(limits.concurrent_requests_max)),
            limits,
        }
    }
}

/// Every route of the JSON API, in one place (the OpenAPI test checks the document against this
/// list). The web console's HTML pages (`/` and `/console/...`, see [`crate::console`]) are not API
/// routes and are not listed here.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/v1/openapi.json"),
    ("POST", "/v1/tokens"),
    ("POST", "/v1/customers"),
    ("GET", "/v1/customers/{id}"),
    ("POST", "/v1/merchants"),
    ("POST", "/v1/technicians"),
    ("POST", "/v1/concentrators"),
    ("GET", "/v1/wallets/{id}"),
    ("POST", "/v1/wallets/{id}/topups"),
    ("POST", "/v1/wallets/{id}/payment-codes"),
    ("GET", "/v1/wallets/{id}/statement"),
    ("POST", "/v1/payments"),
    ("GET", "/v1/payments/{id}"),
    ("POST", "/v1/payments/{id}/refunds"),
    ("GET", "/v1/events"),
    ("POST", "/v1/ledger/verify"),
    ("POST", "/v1/webhooks"),
    ("GET", "/v1/webhooks"),
    ("POST", "/v1/meters"),
    ("POST", "/v1/meter-readings"),
    ("GET", "/v1/customers/{id}/bills"),
    ("GET", "/v1/bills/{id}"),
    ("PUT", "/v1/tariffs/{code}"),
    ("GET", "/v1/tariffs/{code}"),
    ("POST", "/v1/meters/{id}/self-readings"),
    ("POST", "/v1/meters/{id}/rollover"),
    ("POST", "/v1/meters/{id}/replacement"),
    ("GET", "/v1/reports/trial-balance"),
    ("GET", "/v1/reports/wallet-roll-forward"),
    ("POST", "/v1/ledger/close"),
    ("POST", "/v1/settlements/merchants"),
    ("GET", "/v1/settlements/merchants/{date}"),
    ("GET", "/v1/settlements/merchants/{date}/report.csv"),
    ("POST", "/v1/service-orders"),
    ("GET", "/v1/service-orders/{id}"),
    ("POST", "/v1/service-orders/{id}/accept"),
    ("POST", "/v1/service-orders/{id}/complete"),
    ("POST", "/v1/service-orders/{id}/cancel"),
    ("POST", "/v1/service-orders/{id}/rating"),
    ("POST", "/v1/service-orders/{id}/resolution"),
    ("POST", "/v1/service-orders/{id}/refunds"),
    ("POST", "/v1/settlements/technicians"),
    ("GET", "/v1/settlements/technicians/{id}"),
    ("GET", "/v1/settlements/technicians/{id}/report.csv"),
    ("POST", "/v1/jobs/{job}"),
    ("GET", "/v1/customers/{id}/credit-profile"),
    ("POST", "/v1/reconciliations"),
    ("GET", "/v1/reconciliations/{id}"),
    ("POST", "/v1/reconciliations/{id}/breaks/{break_id}/resolution"),
];

pub fn app(state: AppState) -> Router {
    use handlers::*;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/openapi.json", get(openapi::serve_openapi))
        .route("/v1/tokens", post(create_token))
        .route("/v1/customers", post(create_customer))
        .route("/v1/customers/{id}", get(get_customer))
        .route("/v1/merchants", post(create_merchant))
        .route("/v1/technicians", post(create_technician))
        .route("/v1/concentrators", post(create_concentrator))
        .route("/v1/wallets/{id}", get(get_wallet))
        .route("/v1/wallets/{id}/topups", post(create_topup))
        .route("/v1/wallets/{id}/payment-codes", post(create_payment_code))
        .route("/v1/wallets/{id}/statement", get(get_statement))
        .route("/v1/payments", post(create_payment))
        .route("/v1/payments/{id}", get(get_payment))
        .route("/v1/payments/{id}/refunds", post(create_refund))
        .route("/v1/events", get(list_events))
        .route("/v1/ledger/verify", post(verify_ledger))
        .route("/v1/webhooks", post(create_webhook).get(list_webhooks))
        .route("/v1/meters", post(metering::create_meter))
        // A batch of readings has a body limit of its own (the route's layer overrides the router's).
        .route(
            "/v1/meter-readings",
            post(metering::ingest_readings).layer(DefaultBodyLimit::max(metering::READINGS_REQUEST_BODY_BYTES_MAX)),
        )
        .route("/v1/customers/{id}/bills", get(metering::list_bills))
        .route("/v1/bills/{id}", get(metering::get_bill))
        .route("/v1/tariffs/{code}", put(metering::put_tariff).get(metering::get_tariff))
        .route("/v1/meters/{id}/self-readings", post(metering::create_self_reading))
        .route("/v1/meters/{id}/rollover", post(metering::declare_rollover))
        .route("/v1/meters/{id}/replacement", post(metering::replace_meter))
        .route("/v1/reports/trial-balance", get(finance::trial_balance))
        .route("/v1/reports/wallet-roll-forward", get(finance::wallet_roll_forward))
        .route("/v1/ledger/close", post(finance::close_day))
        .route("/v1/settlements/merchants", post(finance::settle_merchants))
        .route("/v1/settlements/merchants/{date}", get(finance::get_merchant_settlement))
        .route("/v1/settlements/merchants/{date}/report.csv", get(finance::merchant_settlement_csv))
        .route("/v1/service-orders", post(service_orders::book_service))
        .route("/v1/service-orders/{id}", get(service_orders::get_service_order))
        .route("/v1/service-orders/{id}/accept", post(service_orders::accept_service))
        .route("/v1/service-orders/{id}/complete", post(service_orders::complete_service))
        .route("/v1/service-orders/{id}/cancel", post(service_orders::cancel_service))
        .route("/v1/service-orders/{id}/rating", post(service_orders::rate_service))
        .route("/v1/service-orders/{id}/resolution", post(service_orders::resolve_dispute))
        .route("/v1/service-orders/{id}/refunds", post(service_orders::refund_service))
        .route("/v1/settlements/technicians", post(service_orders::pay_technicians))
        .route("/v1/settlements/technicians/{id}", get(service_orders::get_payout_batch))
        .route("/v1/settlements/technicians/{id}/report.csv", get(service_orders::payout_batch_csv))
        .route("/v1/jobs/{job}", post(finance::run_job))
        .route("/v1/customers/{id}/credit-profile", get(risk::get_credit_profile))
        // A statement has a body limit of its own, like a batch of readings.
        .route(
            "/v1/reconciliations",
            post(reconciliation::create_reconciliation)
                .layer(DefaultBodyLimit::max(reconciliation::RECONCILIATION_REQUEST_BODY_BYTES_MAX)),
        )
        .route("/v1/reconciliations/{id}", get(reconciliation::get_reconciliation))
        .route("/v1/reconciliations/{id}/breaks/{break_id}/resolution", post(reconciliation::resolve_break))
        .merge(crate::console::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(DefaultBodyLimit::max(extract::REQUEST_BODY_BYTES_MAX))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(|request: &Request| {
            // Method and path only: headers carry bearer tokens and are never logged.
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
        }))
        .with_state(state)
}

/// Load shedding, the request timeout and per-route metrics, around every handler.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // Cheap clones (a standard method is an enum, a matched path an `Arc<str>`): the request moves on.
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = match Arc::clone(&state.in_flight).try_acquire_owned() {
        Err(_) => {
            error::problem(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "too many requests in flight; retry shortly")
        }
        Ok(_permit) => match tokio::time::timeout(state.limits.request_timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => error::problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "the request took too long; retry with the same Idempotency-Key",
            ),
        },
    };
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    state.metrics.record(method.as_str(), route, response.status().as_u16(), started.elapsed());
    response
}

/// Serves until `shutdown` resolves, then stops accepting and drains in-flight requests.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener =
        listener::LimitedListener::new(listener, state.limits.connections_max, state.limits.connection_idle_timeout);
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await
}
