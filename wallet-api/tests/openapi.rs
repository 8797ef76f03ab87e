//! The OpenAPI document (`GET /v1/openapi.json`) against the code and the real server.
//!
//! - Coverage: the document has exactly the (method, path) pairs of `http::ROUTES`, and the real
//!   router answers every one of them (not with its "no such route" fallback) and refuses the other
//!   methods on those paths with 405; so the document names no route the server lacks.
//! - The server serves exactly the generated document.
//! - Every operation is described the same way: tags, bearer security where a token is needed,
//!   the Idempotency-Key header where it is taken, problem+json errors with their codes.
//! - Money is a string schema everywhere; the enumerations mirror the service's types.
//! - Conformance: one walk through every route of the real server, checking each answer (success
//!   and a selection of errors) against the served document: a documented status, the documented
//!   content type, every key and its type (no key missing, none undocumented), and for problems
//!   that the `code` is one the description lists for that status.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ed25519_dalek::{Signer, SigningKey};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use ledger::{Clock, SystemClock, Timestamp};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Mutex;
use tempfile::TempDir;
use tokio::sync::oneshot;
use uuid::Uuid;
use wallet_api::http::extract::{
    parse_decimal_string, DECIMAL_STRING_BYTES_MAX, IDEMPOTENCY_KEY_BYTES_MAX, PAGE_LIMIT_MAX, REQUEST_BODY_BYTES_MAX,
};
use wallet_api::http::metering::{READINGS_REQUEST_BODY_BYTES_MAX, READINGS_TOO_LARGE};
use wallet_api::http::openapi::{self, MONEY_PATTERN, SECURITY_SCHEME};
use wallet_api::http::reconciliation::RECONCILIATION_REQUEST_BODY_BYTES_MAX;
use wallet_api::http::{run, AppState, ROUTES};
use wallet_api::metering::tariff::{TIERS_PER_VERSION_MAX, VERSIONS_PER_TARIFF_MAX};
use wallet_api::service::metering::{reading_message, READINGS_PER_REQUEST_MAX};
use wallet_api::service::model::{BillingMode, EventType, Payment, Role};
use wallet_api::service::TARIFF_CODE_BYTES_MAX;

/// The pattern of an ed25519 public key as the server shows it (a meter's `public_key`).
const PUBLIC_KEY_PATTERN: &str = r"^[0-9a-f]{64}$";
/// The pattern of a tariff version's `cycle_start` (`MM-DD`).
const CYCLE_START_PATTERN: &str = r"^[0-9]{2}-[0-9]{2}$";
/// The pattern of a tariff code (the `{code}` path parameter).
const TARIFF_CODE_PATTERN: &str = r"^[a-z0-9-]{1,32}$";
/// Path parameters that are not UUIDs.
const TEXT_PATH_PARAMETERS: [&str; 3] = ["code", "date", "job"];
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
/// Routes that need no token.
const PUBLIC: [&str; 3] = ["/healthz", "/metrics", "/v1/openapi.json"];
/// Money-moving POSTs: Idempotency-Key required.
const KEY_REQUIRED: [&str; 5] = [
    "/v1/wallets/{id}/topups",
    "/v1/payments",
    "/v1/payments/{id}/refunds",
    "/v1/service-orders",
    "/v1/service-orders/{id}/refunds",
];
/// POSTs that take an optional Idempotency-Key.
const KEY_OPTIONAL: [&str; 4] = [
    "/v1/customers",
    "/v1/merchants",
    "/v1/wallets/{id}/payment-codes",
    "/v1/reconciliations/{id}/breaks/{break_id}/resolution",
];
/// Property names that carry money, rates or volumes, wherever they appear. (A reading's `register`
/// is not here: it travels as the exact string the meter signed, with a pattern of its own.)
const MONEY_FIELDS: [&str; 26] = [
    "amount",
    "balance",
    "available",
    "held",
    "credit_limit",
    "arrears",
    "arrears_paid",
    "refunded",
    "balance_after",
    "fee_rate",
    "max_amount",
    "charge",
    "total",
    "paid_from_wallet",
    "added_to_arrears",
    "unit_price",
    "volume",
    "annual_volume",
    "next_tier_at",
    "volume_to_next_tier",
    "previous_register",
    "initial_register",
    "max_flow_m3_per_h",
    "up_to",
    "price",
    "extra_m3_per_boundary",
];

fn document() -> Value {
    serde_json::to_value(openapi::document()).unwrap()
}

fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

fn routes() -> BTreeSet<(String, String)> {
    let routes: BTreeSet<(String, String)> =
        ROUTES.iter().map(|(method, path)| ((*method).to_owned(), (*path).to_owned())).collect();
    assert_eq!(routes.len(), ROUTES.len(), "ROUTES lists a route twice");
    routes
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    let operation = &doc["paths"][path][method.to_lowercase()];
    assert!(operation.is_object(), "{method} {path} is not documented");
    operation
}

/// Follows a `$ref` within the document.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("external reference {reference}"));
            let target = doc.pointer(pointer).unwrap_or_else(|| panic!("dangling reference {reference}"));
            resolve(doc, target)
        }
        None => schema,
    }
}

// ----- The document against ROUTES and the code.

#[test]
fn the_document_covers_every_route_and_no_other() {
    let doc = document();
    let routes = routes();
    let documented = documented_operations(&doc);
    let undocumented: Vec<_> = routes.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the OpenAPI document (annotate the handler with #[utoipa::path] and list it in \
         `paths(...)` of ApiDoc in src/http/openapi.rs): {undocumented:?}"
    );
    let unrouted: Vec<_> = documented.difference(&routes).collect();
    assert!(unrouted.is_empty(), "documented but not in http::ROUTES: {unrouted:?}");
}

#[test]
fn the_document_says_what_it_is() {
    let doc = document();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "gaswallet");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let scheme = &doc["components"]["securitySchemes"][SECURITY_SCHEME];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
    let problem = resolve(&doc, &doc["components"]["schemas"]["Problem"]);
    let mut members: Vec<&str> = problem["properties"].as_object().unwrap().keys().map(String::as_str).collect();
    members.sort_unstable();
    assert_eq!(members, ["code", "detail", "status", "title", "type"]);
    let required: BTreeSet<&str> = problem["required"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(required.len(), 5, "every problem member is required: {problem}");
}

#[test]
fn every_operation_is_fully_described() {
    let doc = document();
    let tags: BTreeSet<&str> = doc["tags"].as_array().unwrap().iter().filter_map(|tag| tag["name"].as_str()).collect();
    let mut operation_ids = BTreeSet::new();
    for (method, path) in routes() {
        let context = format!("{method} {path}");
        let operation = operation(&doc, &method, &path);
        assert!(operation_ids.insert(operation["operationId"].as_str().unwrap().to_owned()), "{context}: operationId");
        assert!(operation["summary"].as_str().is_some_and(|text| !text.is_empty()), "{context}: summary");
        let operation_tags = operation["tags"].as_array().unwrap();
        assert_eq!(operation_tags.len(), 1, "{context}: one tag");
        assert!(
            tags.contains(operation_tags[0].as_str().unwrap()),
            "{context}: tag {} is not declared",
            operation_tags[0]
        );

        let public = PUBLIC.contains(&path.as_str());
        if public {
            assert!(operation.get("security").is_none(), "{context}: needs no token");
        } else {
            assert_eq!(operation["security"], json!([{ SECURITY_SCHEME: [] }]), "{context}: bearer security");
        }

        let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
        let path_parameters: Vec<&Value> = parameters.iter().filter(|parameter| parameter["in"] == "path").collect();
        let placeholders: Vec<&str> =
            path.split('/').filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}')).collect();
        assert_eq!(path_parameters.len(), placeholders.len(), "{context}: path parameters");
        for placeholder in placeholders {
            let parameter = path_parameters.iter().find(|parameter| parameter["name"] == placeholder).unwrap();
            assert_eq!(parameter["required"], true, "{context}");
            if TEXT_PATH_PARAMETERS.contains(&placeholder) {
                assert_eq!(parameter["schema"]["type"], "string", "{context}: {placeholder} is a string");
                assert!(parameter["schema"].get("format").is_none(), "{context}: {placeholder} is not a UUID");
            } else {
                assert_eq!(parameter["schema"]["format"], "uuid", "{context}: ids are UUIDs");
            }
        }

        let key =
            parameters.iter().find(|parameter| parameter["in"] == "header" && parameter["name"] == "Idempotency-Key");
        match (
            KEY_REQUIRED.contains(&path.as_str()) && method == "POST",
            KEY_OPTIONAL.contains(&path.as_str()) && method == "POST",
        ) {
            (true, _) | (_, true) => {
                let key = key.unwrap_or_else(|| panic!("{context}: Idempotency-Key header"));
                let required = KEY_REQUIRED.contains(&path.as_str());
                assert_eq!(key["required"], required, "{context}: Idempotency-Key required");
                assert_eq!(key["schema"]["maxLength"], IDEMPOTENCY_KEY_BYTES_MAX, "{context}");
                assert_eq!(key["schema"]["minLength"], 1, "{context}");
                assert_eq!(key["schema"]["type"], "string", "{context}: the header is a string, never null");
            }
            _ => assert!(key.is_none(), "{context}: takes no Idempotency-Key"),
        }
        for parameter in &parameters {
            if parameter["name"] == "limit" {
                assert_eq!(parameter["in"], "query", "{context}");
                assert_eq!(parameter["schema"]["maximum"], PAGE_LIMIT_MAX, "{context}: limit maximum");
                assert_eq!(parameter["schema"]["minimum"], 1, "{context}: limit minimum");
            }
        }

        let responses = operation["responses"].as_object().unwrap();
        let successes: Vec<&String> = responses.keys().filter(|status| status.starts_with('2')).collect();
        assert_eq!(successes.len(), 1, "{context}: one success status");
        let success = &responses[successes[0].as_str()];
        assert!(success["content"].as_object().is_some_and(|content| content.len() == 1), "{context}: success body");
        for (status, response) in responses {
            let response = resolve(&doc, response);
            if status.starts_with('2') {
                continue;
            }
            let description = response["description"].as_str().unwrap();
            assert!(description.contains("Codes: `"), "{context} {status}: the description lists codes: {description}");
            let schema = &response["content"]["application/problem+json"]["schema"];
            assert_eq!(schema["$ref"], "#/components/schemas/Problem", "{context} {status}: problem+json body");
            assert_eq!(response["content"].as_object().unwrap().len(), 1, "{context} {status}");
        }
        assert!(responses.contains_key("503"), "{context}: every route may shed load");
        if !public {
            assert!(responses.contains_key("401"), "{context}: 401");
        }
        if let Some(body) = operation.get("requestBody") {
            assert!(method == "POST" || method == "PUT", "{context}");
            assert_eq!(body["required"], true, "{context}: the body is required");
            assert!(
                body["content"]["application/json"]["schema"]["$ref"].is_string(),
                "{context}: a named body schema"
            );
            for status in ["400", "413", "422"] {
                assert!(responses.contains_key(status), "{context}: a JSON body can be answered {status}");
            }
        } else {
            assert!(
                // Verify, a rollover declaration, order steps and jobs carry nothing but the path.
                method == "GET"
                    || path == "/v1/ledger/verify"
                    || path == "/v1/meters/{id}/rollover"
                    || path == "/v1/jobs/{job}"
                    || ["accept", "complete", "cancel"]
                        .iter()
                        .any(|step| *path == format!("/v1/service-orders/{{id}}/{step}")),
                "{context}: a POST or PUT without a documented body"
            );
        }
    }
}

/// Every node of a JSON tree, with where it is.
fn walk<'a>(value: &'a Value, at: String, visit: &mut dyn FnMut(&str, &'a Value)) {
    visit(&at, value);
    match value {
        Value::Object(members) => {
            for (name, member) in members {
                walk(member, format!("{at}/{name}"), visit);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                walk(item, format!("{at}/{index}"), visit);
            }
        }
        _ => {}
    }
}

#[test]
fn money_is_a_decimal_string_never_a_number() {
    let doc = document();
    let decimal = &doc["components"]["schemas"]["DecimalString"];
    assert_eq!(decimal["type"], "string", "{decimal}");
    assert_eq!(decimal["pattern"], MONEY_PATTERN, "{decimal}");
    assert_eq!(decimal["maxLength"], DECIMAL_STRING_BYTES_MAX, "{decimal}");
    let examples = decimal["examples"].as_array().unwrap();
    assert!(!examples.is_empty());
    for example in examples {
        assert!(parse_decimal_string(example.as_str().unwrap()).is_ok(), "{example}");
    }
    walk(&doc, String::new(), &mut |at, node| {
        if let Some(kind) = node.get("type") {
            let is_number = kind == "number" || kind.as_array().is_some_and(|kinds| kinds.contains(&json!("number")));
            assert!(!is_number, "{at}: a JSON number in the API");
        }
        let Some(properties) = node.get("properties").and_then(Value::as_object) else { return };
        for (name, property) in properties {
            if !MONEY_FIELDS.contains(&name.as_str()) {
                continue;
            }
            // Money may be nullable (`oneOf: [null, DecimalString]`) but is always the string schema.
            let references: Vec<&Value> = match property.get("oneOf").and_then(Value::as_array) {
                Some(choices) => choices.iter().filter(|choice| choice["type"] != "null").collect(),
                None => vec![property],
            };
            assert_eq!(references.len(), 1, "{at}/{name}: {property}");
            assert_eq!(references[0]["$ref"], "#/components/schemas/DecimalString", "{at}/{name}: {property}");
        }
    });
}

#[test]
fn the_metering_limits_are_the_code_s() {
    let doc = document();
    let readings = &doc["components"]["schemas"]["ReadingsRequest"]["properties"]["readings"];
    assert_eq!(readings["maxItems"], READINGS_PER_REQUEST_MAX, "{readings}");
    assert_eq!(readings["minItems"], 1, "{readings}");
    let too_large = &operation(&doc, "POST", "/v1/meter-readings")["responses"]["413"];
    assert_eq!(too_large["description"], READINGS_TOO_LARGE);
    let size = format!("({} KiB)", READINGS_REQUEST_BODY_BYTES_MAX / 1024);
    assert!(READINGS_TOO_LARGE.contains(&size), "{READINGS_TOO_LARGE} does not say {size}");
    let key = &doc["components"]["schemas"]["Meter"]["properties"]["public_key"];
    assert_eq!(key["pattern"], PUBLIC_KEY_PATTERN, "{key}");
}

#[test]
fn the_tariff_limits_are_the_code_s() {
    let doc = document();
    let versions = &doc["components"]["schemas"]["TariffRequest"]["properties"]["versions"];
    assert_eq!(versions["maxItems"], VERSIONS_PER_TARIFF_MAX, "{versions}");
    assert_eq!(versions["minItems"], 1, "{versions}");
    let tiers = &doc["components"]["schemas"]["TariffVersionRequest"]["properties"]["tiers"];
    assert_eq!(tiers["maxItems"], TIERS_PER_VERSION_MAX, "{tiers}");
    assert_eq!(tiers["minItems"], 1, "{tiers}");
    for schema in ["TariffVersionRequest", "TariffVersion"] {
        let cycle_start = &doc["components"]["schemas"][schema]["properties"]["cycle_start"];
        assert_eq!(cycle_start["pattern"], CYCLE_START_PATTERN, "{schema}: {cycle_start}");
    }
    for method in ["GET", "PUT"] {
        let parameters = operation(&doc, method, "/v1/tariffs/{code}")["parameters"].as_array().unwrap();
        let code = parameters.iter().find(|parameter| parameter["name"] == "code").unwrap();
        assert_eq!(code["schema"]["pattern"], TARIFF_CODE_PATTERN, "{method}: {code}");
        assert_eq!(code["schema"]["maxLength"], TARIFF_CODE_BYTES_MAX, "{method}: {code}");
    }
}

fn enum_values(doc: &Value, schema: &str) -> BTreeSet<String> {
    let schema = &doc["components"]["schemas"][schema];
    let values = schema["enum"].as_array().unwrap_or_else(|| panic!("{schema} is not an enumeration"));
    values.iter().map(|value| value.as_str().unwrap().to_owned()).collect()
}

#[test]
fn enumerations_mirror_the_service() {
    let doc = document();
    // Each list is checked for exhaustiveness by a `match`: a new variant stops this test from
    // compiling until the document's enumeration (in http/openapi.rs) follows.
    let roles = [Role::Admin, Role::Finance, Role::Customer, Role::Merchant, Role::Technician, Role::Concentrator];
    for role in roles {
        match role {
            Role::Admin | Role::Finance | Role::Customer | Role::Merchant | Role::Technician | Role::Concentrator => {}
        }
    }
    let served: BTreeSet<String> = roles.iter().map(|role| role.as_str().to_owned()).collect();
    assert_eq!(enum_values(&doc, "Role"), served);
    for role in roles {
        assert_eq!(serde_json::to_value(role).unwrap(), role.as_str(), "Role serializes as documented");
    }

    let modes = [BillingMode::PerReading, BillingMode::Monthly];
    for mode in modes {
        match mode {
            BillingMode::PerReading | BillingMode::Monthly => {}
        }
    }
    let served: BTreeSet<String> =
        modes.iter().map(|mode| serde_json::to_value(mode).unwrap().as_str().unwrap().to_owned()).collect();
    assert_eq!(enum_values(&doc, "BillingMode"), served);

    let types = [
        EventType::TopupPosted,
        EventType::PaymentPosted,
        EventType::RefundPosted,
        EventType::LowBalance,
        EventType::ValveClose,
        EventType::ValveArmed,
        EventType::ValveOpen,
        EventType::ValveCloseDeferred,
        EventType::BillIssued,
        EventType::PayoutMade,
        EventType::ScoreChanged,
        EventType::AnomalyDetected,
    ];
    for event_type in types {
        match event_type {
            EventType::TopupPosted
            | EventType::PaymentPosted
            | EventType::RefundPosted
            | EventType::LowBalance
            | EventType::ValveClose
            | EventType::ValveArmed
            | EventType::ValveOpen
            | EventType::ValveCloseDeferred
            | EventType::BillIssued
            | EventType::PayoutMade
            | EventType::ScoreChanged
            | EventType::AnomalyDetected => {}
        }
    }
    let served: BTreeSet<String> = types.iter().map(|event_type| event_type.as_str().to_owned()).collect();
    assert_eq!(enum_values(&doc, "EventType"), served);

    let channels: BTreeSet<String> =
        wallet_api::service::ids::CHANNELS.iter().map(|channel| (*channel).to_owned()).collect();
    assert_eq!(enum_values(&doc, "Channel"), channels);

    let payment = |refunded: i64| Payment {
        id: Uuid::new_v4(),
        entry_id: Uuid::new_v4(),
        wallet: ledger::AccountId(Uuid::new_v4()),
        customer_id: Uuid::new_v4(),
        merchant_id: Uuid::new_v4(),
        amount: rust_decimal::Decimal::new(1000, 2),
        refunded: rust_decimal::Decimal::new(refunded, 2),
        order_ref: "order-1".into(),
        created_at: ledger::Timestamp(0),
        refunds: Vec::new(),
    };
    let statuses: BTreeSet<String> =
        [0, 500, 1000].into_iter().map(|refunded| payment(refunded).status().to_owned()).collect();
    assert_eq!(enum_values(&doc, "PaymentStatus"), statuses);
}

// ----- The real server.

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct TestServer {
    base_url: String,
    admin_token: String,
    client: HttpClient,
    /// The server's clock: real time until the test moves it (to end a business day).
    clock: std::sync::Arc<ledger::ManualClock>,
    shutdown: Option<oneshot::Sender<()>>,
    _data: TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    content_type: String,
    body: Bytes,
    json: Value,
}

impl Reply {
    fn str(&self, field: &str) -> String {
        self.json[field].as_str().unwrap_or_else(|| panic!("no string {field:?} in {self:?}")).to_owned()
    }
}

/// The server as `gaswallet serve` runs it (`open_service` + `http::run`) on 127.0.0.1:0.
async fn spawn_server() -> TestServer {
    let data = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(ledger::ManualClock::new(SystemClock.now()));
    let service_clock: std::sync::Arc<dyn Clock> = clock.clone();
    let (service, _) = wallet_api::serve::open_service_with_clock(data.path(), service_clock).await.unwrap();
    let admin_token = match std::env::var(wallet_api::serve::ADMIN_TOKEN_ENV) {
        Ok(token) => token.trim().to_owned(),
        Err(_) => {
            std::fs::read_to_string(data.path().join(wallet_api::serve::ADMIN_TOKEN_FILE)).unwrap().trim().to_owned()
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (shutdown, stopped) = oneshot::channel::<()>();
    tokio::spawn(run(listener, AppState::new(service), async move {
        let _ = stopped.await;
    }));
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    TestServer {
        base_url: format!("http://{address}"),
        admin_token,
        client,
        clock,
        shutdown: Some(shutdown),
        _data: data,
    }
}

impl TestServer {
    async fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
        let mut builder = hyper::Request::builder().method(method).uri(format!("{}{path}", self.base_url));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Full::new(Bytes::from(body))).unwrap();
        let response = tokio::time::timeout(std::time::Duration::from_secs(30), self.client.request(request))
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer"))
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Reply { status, content_type, body, json }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        key: Option<&str>,
    ) -> Reply {
        let authorization = token.map(|token| format!("Bearer {token}"));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(authorization) = &authorization {
            headers.push(("authorization", authorization));
        }
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        if let Some(key) = key {
            headers.push(("idempotency-key", key));
        }
        self.request(method, path, &headers, body.unwrap_or_default().as_bytes().to_vec()).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_the_generated_one() {
    let server = spawn_server().await;
    let first = server.request("GET", "/v1/openapi.json", &[], Vec::new()).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.content_type, "application/json");
    let served: Value = serde_json::from_slice(&first.body).expect("the served document is JSON");
    assert_eq!(served, document(), "the served document differs from the generated one");
    // It also reads back as an OpenAPI document.
    let parsed: utoipa::openapi::OpenApi = serde_json::from_slice(&first.body).expect("an OpenAPI document");
    assert_eq!(serde_json::to_value(parsed).unwrap(), served);
    let second = server.request("GET", "/v1/openapi.json", &[], Vec::new()).await;
    assert_eq!(first.body, second.body, "the same bytes every time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_has_every_listed_route_and_no_other_method_on_them() {
    let server = spawn_server().await;
    let is_fallback =
        |reply: &Reply| reply.status == 405 || (reply.status == 404 && reply.json["detail"] == "no such route");
    // The probe itself: an unknown path reaches the fallback.
    assert!(is_fallback(&server.call("GET", "/v1/no-such-route", None, None, None).await));
    let routes = routes();
    let id = Uuid::new_v4().to_string();
    for (method, path) in &routes {
        let concrete = path.replace("{id}", &id).replace("{code}", "residential");
        let body = (method == "POST" || method == "PUT").then_some("{}");
        let reply = server.call(method, &concrete, None, body, None).await;
        assert!(!is_fallback(&reply), "{method} {path} is in ROUTES but the router does not have it: {reply:?}");
    }
    let paths: BTreeSet<&String> = routes.iter().map(|(_, path)| path).collect();
    for path in paths {
        let concrete = path.replace("{id}", &id).replace("{code}", "residential");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if routes.contains(&(method.to_owned(), path.clone())) {
                continue;
            }
            let reply = server.call(method, &concrete, None, Some("{}"), None).await;
            assert_eq!(reply.status, 405, "{method} {path} is not in ROUTES but the router answers it: {reply:?}");
            assert_eq!(reply.json["code"], "method_not_allowed");
        }
    }
}

// ----- Conformance of real answers to the document.

/// A deliberately small JSON Schema check for what utoipa emits: `$ref`, `oneOf`/`anyOf`/`allOf`,
/// `type` (one or a list), `enum`, `properties` + `required`, `items`, string `format`s, the money
/// `pattern`, lengths and integer bounds. Objects are closed: a key the schema does not name is an
/// error, so the document cannot silently fall behind the server.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if let Some(choices) = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array) {
        let errors: Vec<String> = choices.iter().filter_map(|choice| validate(doc, choice, value, at).err()).collect();
        if errors.len() == choices.len() {
            return Err(format!("{at}: matches none of the choices: {errors:?}"));
        }
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            validate(doc, part, value, at)?;
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        if !values.contains(value) {
            return Err(format!("{at}: {value} is not one of {values:?}"));
        }
    }
    if let Some(kind) = schema.get("type") {
        let kinds: Vec<&str> = match kind {
            Value::String(kind) => vec![kind.as_str()],
            Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
            other => return Err(format!("{at}: odd type {other}")),
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let matches = kinds.contains(&actual) || (actual == "integer" && kinds.contains(&"number"));
        if !matches {
            return Err(format!("{at}: {value} is a {actual}, documented {kinds:?}"));
        }
    }
    match value {
        Value::String(text) => {
            match schema.get("pattern").and_then(Value::as_str) {
                None => {}
                Some(MONEY_PATTERN) => {
                    parse_decimal_string(text).map_err(|error| format!("{at}: {error}"))?;
                }
                Some(CYCLE_START_PATTERN) => {
                    let shaped = text.len() == 5
                        && text.bytes().enumerate().all(|(position, byte)| match position {
                            2 => byte == b'-',
                            _ => byte.is_ascii_digit(),
                        });
                    if !shaped {
                        return Err(format!("{at}: {text:?} is not MM-DD"));
                    }
                }
                Some(PUBLIC_KEY_PATTERN) => {
                    let hex = text.bytes().all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
                    if text.len() != 64 || !hex {
                        return Err(format!("{at}: {text:?} is not 64 lowercase hex characters"));
                    }
                }
                Some(other) => panic!("{at}: the validator does not know the pattern {other:?}"),
            }
            match schema.get("format").and_then(Value::as_str) {
                Some("uuid") => {
                    Uuid::parse_str(text).map_err(|error| format!("{at}: {text:?}: {error}"))?;
                }
                Some("date-time") => {
                    wallet_api::time::parse_rfc3339(text).ok_or_else(|| format!("{at}: {text:?} is not RFC 3339"))?;
                }
                Some("date") => {
                    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                        .map_err(|error| format!("{at}: {text:?} is not a full-date: {error}"))?;
                }
                Some(other) => return Err(format!("{at}: unknown string format {other}")),
                None => {}
            }
            let length = text.chars().count() as u64;
            if schema.get("maxLength").and_then(Value::as_u64).is_some_and(|max| length > max) {
                return Err(format!("{at}: {text:?} is too long"));
            }
            if schema.get("minLength").and_then(Value::as_u64).is_some_and(|min| length < min) {
                return Err(format!("{at}: {text:?} is too short"));
            }
        }
        Value::Number(number) => {
            let number = number.as_f64().unwrap();
            if schema.get("minimum").and_then(Value::as_f64).is_some_and(|min| number < min) {
                return Err(format!("{at}: {number} below the minimum"));
            }
            if schema.get("maximum").and_then(Value::as_f64).is_some_and(|max| number > max) {
                return Err(format!("{at}: {number} above the maximum"));
            }
        }
        Value::Object(members) => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for name in members.keys() {
                    if !properties.contains_key(name) {
                        return Err(format!("{at}: key {name:?} is not documented"));
                    }
                }
                for (name, property) in properties {
                    match members.get(name) {
                        Some(member) => validate(doc, property, member, &format!("{at}.{name}"))?,
                        None => {
                            let required = schema.get("required").and_then(Value::as_array);
                            if required.is_some_and(|required| required.contains(&json!(name))) {
                                return Err(format!("{at}: required key {name:?} is missing"));
                            }
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (index, item) in items.iter().enumerate() {
                    validate(doc, item_schema, item, &format!("{at}[{index}]"))?;
                }
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
    Ok(())
}

/// Checks answers against the served document and remembers what was covered.
struct Conformance {
    doc: Value,
    checked: Mutex<BTreeSet<(String, String, u16)>>,
}

impl Conformance {
    fn check(&self, method: &str, path: &str, reply: &Reply) {
        let context = format!("{method} {path} answered {}: {}", reply.status, String::from_utf8_lossy(&reply.body));
        assert!(reply.status < 500, "{context}");
        let operation = operation(&self.doc, method, path);
        let response = operation["responses"]
            .get(reply.status.to_string())
            .unwrap_or_else(|| panic!("{context}: the status is not documented"));
        let response = resolve(&self.doc, response);
        let content = response["content"].as_object().unwrap();
        let media = content.get(&reply.content_type).unwrap_or_else(|| {
            panic!("{context}: content type {:?}, documented {:?}", reply.content_type, content.keys())
        });
        let schema = &media["schema"];
        if reply.content_type.starts_with("text/") {
            assert!(std::str::from_utf8(&reply.body).is_ok(), "{context}");
            assert_eq!(resolve(&self.doc, schema)["type"], "string", "{context}");
        } else {
            assert!(!reply.json.is_null(), "{context}: not JSON");
            if let Err(error) = validate(&self.doc, schema, &reply.json, "body") {
                panic!("{context}: {error}");
            }
        }
        if reply.status >= 400 {
            assert_eq!(reply.content_type, "application/problem+json", "{context}");
            let code = reply.json["code"].as_str().unwrap();
            let description = response["description"].as_str().unwrap();
            assert!(
                description.contains(&format!("`{code}`")),
                "{context}: code {code:?} is not listed for {} in {description:?}",
                reply.status
            );
        }
        self.checked.lock().unwrap().insert((method.to_owned(), path.to_owned(), reply.status));
    }
}

/// Calls the server and checks the answer; returns it and asserts the status.
#[allow(clippy::too_many_arguments)]
async fn expect(
    server: &TestServer,
    conformance: &Conformance,
    (method, route): (&str, &str),
    concrete: &str,
    token: Option<&str>,
    body: Option<Value>,
    key: Option<&str>,
    status: u16,
) -> Reply {
    let body = body.map(|body| body.to_string());
    let reply = server.call(method, concrete, token, body.as_deref(), key).await;
    assert_eq!(reply.status, status, "{method} {concrete}: {}", String::from_utf8_lossy(&reply.body));
    conformance.check(method, route, &reply);
    reply
}

fn key() -> String {
    format!("key-{}", Uuid::new_v4().simple())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_answers_match_the_document() {
    let server = spawn_server().await;
    let served = server.call("GET", "/v1/openapi.json", None, None, None).await;
    let conformance = Conformance { doc: served.json.clone(), checked: Mutex::default() };
    conformance.check("GET", "/v1/openapi.json", &served);
    let c = &conformance;
    let s = &server;
    let admin = server.admin_token.clone();
    let admin = Some(admin.as_str());

    // Operations.
    expect(s, c, ("GET", "/healthz"), "/healthz", None, None, None, 200).await;
    expect(s, c, ("GET", "/metrics"), "/metrics", None, None, None, 200).await;

    // Parties and tokens.
    const TOKENS: (&str, &str) = ("POST", "/v1/tokens");
    expect(s, c, TOKENS, "/v1/tokens", None, Some(json!({ "role": "finance" })), None, 401).await;
    let bad_token = s.call("POST", "/v1/tokens", Some("nope"), Some("{}"), None).await;
    c.check("POST", "/v1/tokens", &bad_token);
    let finance = expect(s, c, TOKENS, "/v1/tokens", admin, Some(json!({ "role": "finance" })), None, 201).await;
    let finance = finance.str("token");
    expect(s, c, TOKENS, "/v1/tokens", admin, Some(json!({ "role": "customer" })), None, 422).await;
    let nobody = json!({ "role": "customer", "subject_id": Uuid::new_v4() });
    expect(s, c, TOKENS, "/v1/tokens", admin, Some(nobody), None, 404).await;
    expect(s, c, TOKENS, "/v1/tokens", Some(&finance), Some(json!({ "role": "finance" })), None, 403).await;
    let unsupported = s
        .request("POST", "/v1/tokens", &[("authorization", &format!("Bearer {}", s.admin_token))], b"{}".to_vec())
        .await;
    assert_eq!(unsupported.status, 400);
    c.check("POST", "/v1/tokens", &unsupported);
    let malformed = s.call("POST", "/v1/tokens", admin, Some("{"), None).await;
    assert_eq!(malformed.status, 400);
    c.check("POST", "/v1/tokens", &malformed);

    const CUSTOMERS: (&str, &str) = ("POST", "/v1/customers");
    let customer_key = key();
    let body = json!({ "name": "Zhang Wei", "household_size": 4, "billing_mode": "monthly" });
    let customer = expect(s, c, CUSTOMERS, "/v1/customers", admin, Some(body.clone()), Some(&customer_key), 201).await;
    let replay = expect(s, c, CUSTOMERS, "/v1/customers", admin, Some(body), Some(&customer_key), 201).await;
    assert_eq!(replay.body, customer.body);
    let other = json!({ "name": "Wang Fang" });
    expect(s, c, CUSTOMERS, "/v1/customers", admin, Some(other), Some(&customer_key), 409).await;
    expect(s, c, CUSTOMERS, "/v1/customers", admin, Some(json!({ "name": "X", "household_size": 0 })), None, 422).await;
    expect(s, c, CUSTOMERS, "/v1/customers", admin, Some(json!({ "name": "X", "tariff": "nope" })), None, 422).await;
    expect(s, c, CUSTOMERS, "/v1/customers", Some(&finance), Some(json!({ "name": "X" })), None, 403).await;
    let huge = json!({ "name": "x".repeat(REQUEST_BODY_BYTES_MAX) });
    expect(s, c, CUSTOMERS, "/v1/customers", admin, Some(huge), None, 413).await;
    let bad_key = s.call("POST", "/v1/customers", admin, Some(r#"{"name":"X"}"#), Some("has space")).await;
    assert_eq!(bad_key.status, 400);
    c.check("POST", "/v1/customers", &bad_key);
    let customer_id = customer.str("id");
    let wallet_id = customer.str("wallet_id");
    let second = expect(s, c, CUSTOMERS, "/v1/customers", admin, Some(json!({ "name": "Li Lei" })), None, 201).await;
    let second_wallet = second.str("wallet_id");
    let customer_token = expect(
        s,
        c,
        TOKENS,
        "/v1/tokens",
        admin,
        Some(json!({ "role": "customer", "subject_id": customer_id })),
        None,
        201,
    )
    .await
    .str("token");
    let customer_token = Some(customer_token.as_str());

    const CUSTOMER: (&str, &str) = ("GET", "/v1/customers/{id}");
    expect(s, c, CUSTOMER, &format!("/v1/customers/{customer_id}"), customer_token, None, None, 200).await;
    expect(s, c, CUSTOMER, &format!("/v1/customers/{}", second.str("id")), customer_token, None, None, 404).await;
    expect(s, c, CUSTOMER, "/v1/customers/not-a-uuid", admin, None, None, 404).await;
    expect(s, c, CUSTOMER, &format!("/v1/customers/{customer_id}"), None, None, None, 401).await;

    const MERCHANTS: (&str, &str) = ("POST", "/v1/merchants");
    let merchant = expect(
        s,
        c,
        MERCHANTS,
        "/v1/merchants",
        admin,
        Some(json!({ "name": "Huaxin", "fee_rate": "0.006" })),
        Some(&key()),
        201,
    )
    .await;
    expect(s, c, MERCHANTS, "/v1/merchants", admin, Some(json!({ "name": "Huaxin", "fee_rate": 0.006 })), None, 422)
        .await;
    expect(s, c, MERCHANTS, "/v1/merchants", admin, Some(json!({ "name": "Huaxin", "fee_rate": "2" })), None, 422)
        .await;
    let merchant_token = expect(
        s,
        c,
        TOKENS,
        "/v1/tokens",
        admin,
        Some(json!({ "role": "merchant", "subject_id": merchant.str("id") })),
        None,
        201,
    )
    .await
    .str("token");
    let merchant_token = Some(merchant_token.as_str());

    const TECHNICIANS: (&str, &str) = ("POST", "/v1/technicians");
    let technician =
        expect(s, c, TECHNICIANS, "/v1/technicians", admin, Some(json!({ "name": "Li Na" })), None, 201).await;
    expect(s, c, TECHNICIANS, "/v1/technicians", admin, Some(json!({ "name": "" })), None, 422).await;
    expect(s, c, TECHNICIANS, "/v1/technicians", customer_token, Some(json!({ "name": "Li Na" })), None, 403).await;
    let technician_token = expect(
        s,
        c,
        TOKENS,
        "/v1/tokens",
        admin,
        Some(json!({ "role": "technician", "subject_id": technician.str("id") })),
        None,
        201,
    )
    .await
    .str("token");
    const CONCENTRATORS: (&str, &str) = ("POST", "/v1/concentrators");
    expect(s, c, CONCENTRATORS, "/v1/concentrators", admin, Some(json!({ "name": "Gateway 7" })), None, 201).await;
    expect(s, c, CONCENTRATORS, "/v1/concentrators", admin, Some(json!({ "name": "G", "x": 1 })), None, 422).await;

    // Wallets.
    const TOPUPS: (&str, &str) = ("POST", "/v1/wallets/{id}/topups");
    let topups = format!("/v1/wallets/{wallet_id}/topups");
    let topup = |amount: Value, channel: &str| json!({ "amount": amount, "channel": channel, "channel_txn_id": key() });
    expect(s, c, TOPUPS, &topups, admin, Some(topup(json!("100.00"), "wechat")), Some(&key()), 201).await;
    let booked = topup(json!("50"), "alipay");
    expect(s, c, TOPUPS, &topups, Some(&finance), Some(booked.clone()), Some(&key()), 201).await;
    expect(s, c, TOPUPS, &topups, admin, Some(booked), Some(&key()), 409).await;
    expect(s, c, TOPUPS, &topups, admin, Some(topup(json!("1.00"), "wechat")), None, 400).await;
    expect(s, c, TOPUPS, &topups, admin, Some(topup(json!(1.0), "wechat")), Some(&key()), 422).await;
    expect(s, c, TOPUPS, &topups, admin, Some(topup(json!("1.001"), "wechat")), Some(&key()), 422).await;
    expect(s, c, TOPUPS, &topups, admin, Some(topup(json!("1.00"), "paypal")), Some(&key()), 422).await;
    expect(s, c, TOPUPS, &topups, customer_token, Some(topup(json!("1.00"), "wechat")), Some(&key()), 403).await;
    let nowhere = format!("/v1/wallets/{}/topups", Uuid::new_v4());
    expect(s, c, TOPUPS, &nowhere, admin, Some(topup(json!("1.00"), "wechat")), Some(&key()), 404).await;

    const WALLET: (&str, &str) = ("GET", "/v1/wallets/{id}");
    let wallet = expect(s, c, WALLET, &format!("/v1/wallets/{wallet_id}"), customer_token, None, None, 200).await;
    assert_eq!(wallet.json["balance"], "150.00");
    expect(s, c, WALLET, &format!("/v1/wallets/{second_wallet}"), customer_token, None, None, 404).await;

    const CODES: (&str, &str) = ("POST", "/v1/wallets/{id}/payment-codes");
    let codes = format!("/v1/wallets/{wallet_id}/payment-codes");
    let code_key = key();
    let code = expect(s, c, CODES, &codes, customer_token, Some(json!({})), Some(&code_key), 201).await;
    assert!(code.json["max_amount"].is_null());
    expect(s, c, CODES, &codes, customer_token, Some(json!({ "max_amount": "1.00" })), Some(&code_key), 409).await;
    let limited = expect(s, c, CODES, &codes, customer_token, Some(json!({ "max_amount": "5.00" })), None, 201).await;
    expect(s, c, CODES, &codes, customer_token, Some(json!({ "max_amount": 5 })), None, 422).await;
    expect(s, c, CODES, &codes, admin, Some(json!({})), None, 403).await;
    expect(
        s,
        c,
        CODES,
        &format!("/v1/wallets/{second_wallet}/payment-codes"),
        customer_token,
        Some(json!({})),
        None,
        404,
    )
    .await;

    // Payments and refunds.
    const PAY: (&str, &str) = ("POST", "/v1/payments");
    let pay = |code: &str, amount: &str| json!({ "payment_code": code, "amount": amount, "order_ref": key() });
    let paid =
        expect(s, c, PAY, "/v1/payments", merchant_token, Some(pay(&code.str("code"), "30.00")), Some(&key()), 201)
            .await;
    expect(s, c, PAY, "/v1/payments", merchant_token, Some(pay(&code.str("code"), "1.00")), Some(&key()), 409).await;
    expect(s, c, PAY, "/v1/payments", merchant_token, Some(pay(&limited.str("code"), "6.00")), Some(&key()), 422).await;
    expect(s, c, PAY, "/v1/payments", merchant_token, Some(pay("280000000000000000", "1.00")), Some(&key()), 404).await;
    expect(s, c, PAY, "/v1/payments", admin, Some(pay(&limited.str("code"), "1.00")), Some(&key()), 403).await;
    expect(s, c, PAY, "/v1/payments", merchant_token, Some(pay(&limited.str("code"), "1.00")), None, 400).await;
    let broke = expect(s, c, CODES, &codes, customer_token, Some(json!({})), None, 201).await;
    expect(s, c, PAY, "/v1/payments", merchant_token, Some(pay(&broke.str("code"), "1000.00")), Some(&key()), 402)
        .await;
    let payment_id = paid.str("id");

    const PAYMENT: (&str, &str) = ("GET", "/v1/payments/{id}");
    let payment_path = format!("/v1/payments/{payment_id}");
    expect(s, c, PAYMENT, &payment_path, customer_token, None, None, 200).await;
    expect(s, c, PAYMENT, &format!("/v1/payments/{}", Uuid::new_v4()), merchant_token, None, None, 404).await;

    const REFUNDS: (&str, &str) = ("POST", "/v1/payments/{id}/refunds");
    let refunds = format!("/v1/payments/{payment_id}/refunds");
    expect(s, c, REFUNDS, &refunds, merchant_token, Some(json!({ "amount": "10.00" })), Some(&key()), 201).await;
    let partly = expect(s, c, PAYMENT, &payment_path, merchant_token, None, None, 200).await;
    assert_eq!(partly.json["status"], "partially_refunded");
    expect(s, c, REFUNDS, &refunds, merchant_token, Some(json!({ "amount": "25.00" })), Some(&key()), 422).await;
    expect(s, c, REFUNDS, &refunds, customer_token, Some(json!({ "amount": "1.00" })), Some(&key()), 403).await;
    let elsewhere = format!("/v1/payments/{}/refunds", Uuid::new_v4());
    expect(s, c, REFUNDS, &elsewhere, merchant_token, Some(json!({ "amount": "1.00" })), Some(&key()), 404).await;
    expect(s, c, REFUNDS, &refunds, merchant_token, Some(json!({ "amount": "20.00" })), Some(&key()), 201).await;
    let refunded = expect(s, c, PAYMENT, &payment_path, Some(&finance), None, None, 200).await;
    assert_eq!(refunded.json["status"], "refunded");

    // Statements and events.
    const STATEMENT: (&str, &str) = ("GET", "/v1/wallets/{id}/statement");
    let statement = format!("/v1/wallets/{wallet_id}/statement");
    let lines = expect(s, c, STATEMENT, &statement, customer_token, None, None, 200).await;
    assert!(lines.json["items"].as_array().unwrap().len() >= 4, "{}", lines.json);
    assert!(lines.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|line| line["amount"].as_str().unwrap().starts_with('-')));
    let page =
        expect(s, c, STATEMENT, &format!("{statement}?limit=1&from=2020-01-01T00:00:00Z"), admin, None, None, 200)
            .await;
    assert!(page.json["next_cursor"].is_string());
    expect(s, c, STATEMENT, &format!("{statement}?limit=0"), admin, None, None, 422).await;
    expect(s, c, STATEMENT, &format!("{statement}?from=yesterday"), admin, None, None, 422).await;
    expect(s, c, STATEMENT, &format!("{statement}?colour=blue"), admin, None, None, 422).await;
    expect(s, c, STATEMENT, &format!("/v1/wallets/{second_wallet}/statement"), customer_token, None, None, 404).await;

    const EVENTS: (&str, &str) = ("GET", "/v1/events");
    let events = expect(s, c, EVENTS, "/v1/events", admin, None, None, 200).await;
    assert!(!events.json["items"].as_array().unwrap().is_empty());
    let events = expect(s, c, EVENTS, "/v1/events?after=0&limit=1", customer_token, None, None, 200).await;
    assert!(events.json["next_cursor"].is_string());
    expect(s, c, EVENTS, "/v1/events?after=x", admin, None, None, 422).await;
    expect(s, c, EVENTS, "/v1/events?limit=501", admin, None, None, 422).await;
    expect(s, c, EVENTS, "/v1/events", Some(&technician_token), None, None, 200).await;

    // Ledger.
    const VERIFY: (&str, &str) = ("POST", "/v1/ledger/verify");
    let report = expect(s, c, VERIFY, "/v1/ledger/verify", Some(&finance), None, None, 200).await;
    assert_eq!(report.json["ok"], true);
    expect(s, c, VERIFY, "/v1/ledger/verify", merchant_token, None, None, 403).await;

    // Finance reports.
    const TRIAL: (&str, &str) = ("GET", "/v1/reports/trial-balance");
    let trial = expect(s, c, TRIAL, "/v1/reports/trial-balance", Some(&finance), None, None, 200).await;
    assert_eq!(trial.json["totals"]["balanced"], true);
    let since = "/v1/reports/trial-balance?from=2020-01-01T00:00:00Z&as_of=2099-01-01T00:00:00Z";
    expect(s, c, TRIAL, since, admin, None, None, 200).await;
    expect(s, c, TRIAL, "/v1/reports/trial-balance?as_of=yesterday", admin, None, None, 422).await;
    let backwards = "/v1/reports/trial-balance?from=2030-01-01T00:00:00Z&as_of=2029-01-01T00:00:00Z";
    expect(s, c, TRIAL, backwards, admin, None, None, 422).await;
    expect(s, c, TRIAL, "/v1/reports/trial-balance", merchant_token, None, None, 403).await;
    const ROLL: (&str, &str) = ("GET", "/v1/reports/wallet-roll-forward");
    let roll = expect(s, c, ROLL, "/v1/reports/wallet-roll-forward", Some(&finance), None, None, 200).await;
    assert_eq!(roll.json["ties_out"], true);
    expect(s, c, ROLL, "/v1/reports/wallet-roll-forward?to=x", admin, None, None, 422).await;
    const CLOSE: (&str, &str) = ("POST", "/v1/ledger/close");
    let old_day = json!({ "date": "2020-01-01" });
    let closed = expect(s, c, CLOSE, "/v1/ledger/close", Some(&finance), Some(old_day), None, 200).await;
    assert_eq!(closed.json["sequence"], 0);
    let today = crate::today_in_beijing();
    expect(s, c, CLOSE, "/v1/ledger/close", Some(&finance), Some(json!({ "date": today })), None, 422).await;
    expect(s, c, CLOSE, "/v1/ledger/close", Some(&finance), Some(json!({ "date": "2020-13-01" })), None, 422).await;
    expect(s, c, CLOSE, "/v1/ledger/close", Some(&finance), Some(json!({ "day": "2020-01-01" })), None, 422).await;
    expect(s, c, CLOSE, "/v1/ledger/close", merchant_token, Some(json!({ "date": "2020-01-01" })), None, 403).await;

    // Merchant settlement (T+1): today has not ended; an old day settles with no lines.
    const SETTLE: (&str, &str) = ("POST", "/v1/settlements/merchants");
    let today_body = json!({ "date": crate::today_in_beijing() });
    expect(s, c, SETTLE, "/v1/settlements/merchants", Some(&finance), Some(today_body), None, 422).await;
    let old = json!({ "date": "2020-01-02" });
    let batch = expect(s, c, SETTLE, "/v1/settlements/merchants", Some(&finance), Some(old), None, 200).await;
    assert_eq!(batch.json["lines"], json!([]));
    let older = json!({ "date": "2020-01-01" });
    expect(s, c, SETTLE, "/v1/settlements/merchants", Some(&finance), Some(older), None, 409).await;
    expect(s, c, SETTLE, "/v1/settlements/merchants", merchant_token, Some(json!({ "date": "2020-01-02" })), None, 403)
        .await;
    const SETTLED: (&str, &str) = ("GET", "/v1/settlements/merchants/{date}");
    expect(s, c, SETTLED, "/v1/settlements/merchants/2020-01-02", merchant_token, None, None, 200).await;
    expect(s, c, SETTLED, "/v1/settlements/merchants/2020-01-03", Some(&finance), None, None, 404).await;
    expect(s, c, SETTLED, "/v1/settlements/merchants/2020-01-02", customer_token, None, None, 403).await;
    const REPORT: (&str, &str) = ("GET", "/v1/settlements/merchants/{date}/report.csv");
    expect(s, c, REPORT, "/v1/settlements/merchants/2020-01-02/report.csv", Some(&finance), None, None, 200).await;
    expect(s, c, REPORT, "/v1/settlements/merchants/1999-99-99/report.csv", Some(&finance), None, None, 404).await;
    expect(s, c, REPORT, "/v1/settlements/merchants/2020-01-02/report.csv", customer_token, None, None, 403).await;

    // Service orders: book, accept, complete, rate (a dispute), resolve, and the payout routes.
    const BOOK: (&str, &str) = ("POST", "/v1/service-orders");
    let service = |price: &str| json!({ "service": "boiler check", "price": price });
    let order =
        expect(s, c, BOOK, "/v1/service-orders", customer_token, Some(service("1.00")), Some(&key()), 201).await;
    expect(s, c, BOOK, "/v1/service-orders", customer_token, Some(service("1.00")), None, 400).await;
    expect(s, c, BOOK, "/v1/service-orders", customer_token, Some(service("0.00")), Some(&key()), 422).await;
    expect(s, c, BOOK, "/v1/service-orders", customer_token, Some(service("9999999.00")), Some(&key()), 402).await;
    expect(s, c, BOOK, "/v1/service-orders", Some(&technician_token), Some(service("1.00")), Some(&key()), 403).await;
    let reused = key();
    expect(s, c, BOOK, "/v1/service-orders", customer_token, Some(service("1.00")), Some(&reused), 201).await;
    expect(s, c, BOOK, "/v1/service-orders", customer_token, Some(service("2.00")), Some(&reused), 409).await;
    let huge = json!({ "service": "x".repeat(REQUEST_BODY_BYTES_MAX), "price": "1.00" });
    expect(s, c, BOOK, "/v1/service-orders", customer_token, Some(huge), Some(&key()), 413).await;
    let order_id = order.str("id");
    let order_path = |step: &str| format!("/v1/service-orders/{order_id}{step}");
    const ORDER: (&str, &str) = ("GET", "/v1/service-orders/{id}");
    expect(s, c, ORDER, &order_path(""), customer_token, None, None, 200).await;
    expect(s, c, ORDER, &format!("/v1/service-orders/{}", Uuid::new_v4()), admin, None, None, 404).await;
    const ACCEPT: (&str, &str) = ("POST", "/v1/service-orders/{id}/accept");
    expect(s, c, ACCEPT, &order_path("/accept"), customer_token, None, None, 403).await;
    expect(
        s,
        c,
        ACCEPT,
        &format!("/v1/service-orders/{}/accept", Uuid::new_v4()),
        Some(&technician_token),
        None,
        None,
        404,
    )
    .await;
    expect(s, c, ACCEPT, &order_path("/accept"), Some(&technician_token), None, None, 200).await;
    const CANCEL: (&str, &str) = ("POST", "/v1/service-orders/{id}/cancel");
    expect(s, c, CANCEL, &order_path("/cancel"), customer_token, None, None, 409).await;
    expect(s, c, CANCEL, &order_path("/cancel"), Some(&technician_token), None, None, 403).await;
    expect(s, c, CANCEL, &format!("/v1/service-orders/{}/cancel", Uuid::new_v4()), customer_token, None, None, 404)
        .await;
    let spare =
        expect(s, c, BOOK, "/v1/service-orders", customer_token, Some(service("1.00")), Some(&key()), 201).await;
    let cancel_path = format!("/v1/service-orders/{}/cancel", spare.str("id"));
    let cancelled = expect(s, c, CANCEL, &cancel_path, customer_token, None, None, 200).await;
    assert_eq!(cancelled.json["status"], "cancelled");
    const COMPLETE: (&str, &str) = ("POST", "/v1/service-orders/{id}/complete");
    expect(s, c, COMPLETE, &order_path("/complete"), customer_token, None, None, 403).await;
    expect(s, c, COMPLETE, &format!("/v1/service-orders/{}/complete", Uuid::new_v4()), admin, None, None, 404).await;
    expect(s, c, COMPLETE, &order_path("/complete"), Some(&technician_token), None, None, 200).await;
    const RATE: (&str, &str) = ("POST", "/v1/service-orders/{id}/rating");
    expect(s, c, RATE, &order_path("/rating"), customer_token, Some(json!({ "stars": 0 })), None, 422).await;
    expect(s, c, RATE, &order_path("/rating"), Some(&technician_token), Some(json!({ "stars": 5 })), None, 403).await;
    expect(
        s,
        c,
        RATE,
        &format!("/v1/service-orders/{}/rating", Uuid::new_v4()),
        admin,
        Some(json!({ "stars": 5 })),
        None,
        404,
    )
    .await;
    let malformed = s.call("POST", &order_path("/rating"), customer_token, Some("{"), None).await;
    assert_eq!(malformed.status, 400);
    c.check("POST", "/v1/service-orders/{id}/rating", &malformed);
    let huge = json!({ "stars": 5, "comment": "x".repeat(REQUEST_BODY_BYTES_MAX) });
    expect(s, c, RATE, &order_path("/rating"), customer_token, Some(huge), None, 413).await;
    let disputed =
        expect(s, c, RATE, &order_path("/rating"), customer_token, Some(json!({ "stars": 1 })), None, 200).await;
    assert_eq!(disputed.json["status"], "disputed");
    expect(s, c, RATE, &order_path("/rating"), customer_token, Some(json!({ "stars": 1 })), None, 409).await;
    const RESOLVE: (&str, &str) = ("POST", "/v1/service-orders/{id}/resolution");
    let full = json!({ "resolution": "full_refund" });
    expect(s, c, RESOLVE, &order_path("/resolution"), customer_token, Some(full.clone()), None, 403).await;
    let partial = json!({ "resolution": "partial_refund" });
    expect(s, c, RESOLVE, &order_path("/resolution"), Some(&finance), Some(partial), None, 422).await;
    let malformed = s.call("POST", &order_path("/resolution"), Some(&finance), Some("["), None).await;
    assert_eq!(malformed.status, 400);
    c.check("POST", "/v1/service-orders/{id}/resolution", &malformed);
    let huge = json!({ "resolution": "x".repeat(REQUEST_BODY_BYTES_MAX) });
    expect(s, c, RESOLVE, &order_path("/resolution"), Some(&finance), Some(huge), None, 413).await;
    let unknown = format!("/v1/service-orders/{}/resolution", Uuid::new_v4());
    expect(s, c, RESOLVE, &unknown, Some(&finance), Some(full.clone()), None, 404).await;
    let refunded =
        expect(s, c, RESOLVE, &order_path("/resolution"), Some(&finance), Some(full.clone()), None, 200).await;
    assert_eq!(refunded.json["status"], "refunded");
    expect(s, c, RESOLVE, &order_path("/resolution"), Some(&finance), Some(full), None, 409).await;
    const ORDER_REFUND: (&str, &str) = ("POST", "/v1/service-orders/{id}/refunds");
    let amount = json!({ "amount": "0.50" });
    expect(s, c, ORDER_REFUND, &order_path("/refunds"), Some(&finance), Some(amount.clone()), Some(&key()), 409).await;
    expect(s, c, ORDER_REFUND, &order_path("/refunds"), Some(&finance), Some(amount.clone()), None, 400).await;
    expect(s, c, ORDER_REFUND, &order_path("/refunds"), customer_token, Some(amount.clone()), Some(&key()), 403).await;
    let unknown = format!("/v1/service-orders/{}/refunds", Uuid::new_v4());
    expect(s, c, ORDER_REFUND, &unknown, Some(&finance), Some(amount), Some(&key()), 404).await;
    let negative = json!({ "amount": "-1.00" });
    expect(s, c, ORDER_REFUND, &order_path("/refunds"), Some(&finance), Some(negative), Some(&key()), 422).await;
    let huge = json!({ "amount": "x".repeat(REQUEST_BODY_BYTES_MAX) });
    expect(s, c, ORDER_REFUND, &order_path("/refunds"), Some(&finance), Some(huge), Some(&key()), 413).await;
    const PAYOUT: (&str, &str) = ("POST", "/v1/settlements/technicians");
    let old_period = json!({ "from": "2020-01-01", "to": "2020-01-02" });
    let batch =
        expect(s, c, PAYOUT, "/v1/settlements/technicians", Some(&finance), Some(old_period.clone()), None, 200).await;
    assert_eq!(batch.json["lines"], json!([]));
    let today_period = json!({ "from": crate::today_in_beijing() });
    expect(
        s,
        c,
        PAYOUT,
        "/v1/settlements/technicians",
        Some(&finance),
        Some(json!({ "to": crate::today_in_beijing() })),
        None,
        422,
    )
    .await;
    expect(s, c, PAYOUT, "/v1/settlements/technicians", Some(&finance), Some(today_period), None, 422).await;
    expect(s, c, PAYOUT, "/v1/settlements/technicians", customer_token, Some(old_period), None, 403).await;
    let malformed = s.call("POST", "/v1/settlements/technicians", Some(&finance), Some("{"), None).await;
    assert_eq!(malformed.status, 400);
    c.check("POST", "/v1/settlements/technicians", &malformed);
    let huge = json!({ "from": "x".repeat(REQUEST_BODY_BYTES_MAX) });
    expect(s, c, PAYOUT, "/v1/settlements/technicians", Some(&finance), Some(huge), None, 413).await;
    let batch_id = batch.str("batch_id");
    const BATCH: (&str, &str) = ("GET", "/v1/settlements/technicians/{id}");
    expect(s, c, BATCH, &format!("/v1/settlements/technicians/{batch_id}"), Some(&technician_token), None, None, 200)
        .await;
    expect(s, c, BATCH, &format!("/v1/settlements/technicians/{batch_id}"), customer_token, None, None, 403).await;
    expect(s, c, BATCH, &format!("/v1/settlements/technicians/{}", Uuid::new_v4()), admin, None, None, 404).await;
    const BATCH_CSV: (&str, &str) = ("GET", "/v1/settlements/technicians/{id}/report.csv");
    let csv_path = format!("/v1/settlements/technicians/{batch_id}/report.csv");
    expect(s, c, BATCH_CSV, &csv_path, Some(&finance), None, None, 200).await;
    expect(s, c, BATCH_CSV, &csv_path, Some(&technician_token), None, None, 403).await;
    expect(
        s,
        c,
        BATCH_CSV,
        &format!("/v1/settlements/technicians/{}/report.csv", Uuid::new_v4()),
        admin,
        None,
        None,
        404,
    )
    .await;
    const JOB: (&str, &str) = ("POST", "/v1/jobs/{job}");
    for job in ["monthly-billing", "auto-rate", "valve-closes", "score", "anomalies"] {
        let run = expect(s, c, JOB, &format!("/v1/jobs/{job}"), Some(&finance), None, None, 200).await;
        assert_eq!(run.json["job"], job);
    }
    expect(s, c, JOB, "/v1/jobs/defragment", Some(&finance), None, None, 404).await;
    const PROFILE: (&str, &str) = ("GET", "/v1/customers/{id}/credit-profile");
    let profile_path = format!("/v1/customers/{customer_id}/credit-profile");
    let profile = expect(s, c, PROFILE, &profile_path, customer_token, None, None, 200).await;
    assert_eq!(profile.json["model_version"], "gas-credit-v1");
    expect(s, c, PROFILE, &profile_path, merchant_token, None, None, 404).await;
    expect(s, c, PROFILE, &format!("/v1/customers/{}/credit-profile", Uuid::new_v4()), admin, None, None, 404).await;
    expect(s, c, JOB, "/v1/jobs/auto-rate", customer_token, None, None, 403).await;

    // Reconciliation: a statement with one line the ledger lacks (an overage), resolved once.
    const RECONCILE: (&str, &str) = ("POST", "/v1/reconciliations");
    let statement = "channel_txn_id,time,amount,status\nWALK-1,2026-03-01T09:30:00+08:00,12.50,SUCCESS\n";
    let body = json!({ "channel": "counter", "date": crate::today_in_beijing(), "statement_csv": statement });
    let report = expect(s, c, RECONCILE, "/v1/reconciliations", Some(&finance), Some(body.clone()), None, 201).await;
    assert_eq!(report.json["overage"]["count"], 1);
    expect(s, c, RECONCILE, "/v1/reconciliations", None, Some(body.clone()), None, 401).await;
    expect(s, c, RECONCILE, "/v1/reconciliations", merchant_token, Some(body.clone()), None, 403).await;
    let mut malformed_statement = body.clone();
    malformed_statement["statement_csv"] = json!("channel_txn_id,time,amount,status\nWALK-1,noon,12.50,SUCCESS\n");
    let refused = expect(s, c, RECONCILE, "/v1/reconciliations", admin, Some(malformed_statement), None, 422).await;
    assert_eq!(refused.json["code"], "statement_malformed");
    let huge = json!({ "statement_csv": "x".repeat(RECONCILIATION_REQUEST_BODY_BYTES_MAX) });
    expect(s, c, RECONCILE, "/v1/reconciliations", admin, Some(huge), None, 413).await;
    let malformed = s.call("POST", "/v1/reconciliations", admin, Some("{"), None).await;
    assert_eq!(malformed.status, 400);
    c.check("POST", "/v1/reconciliations", &malformed);
    const REPORT_OF: (&str, &str) = ("GET", "/v1/reconciliations/{id}");
    let report_path = format!("/v1/reconciliations/{}", report.str("id"));
    expect(s, c, REPORT_OF, &report_path, Some(&finance), None, None, 200).await;
    expect(s, c, REPORT_OF, &format!("/v1/reconciliations/{}", Uuid::new_v4()), admin, None, None, 404).await;
    expect(s, c, REPORT_OF, &report_path, customer_token, None, None, 403).await;
    expect(s, c, REPORT_OF, &report_path, None, None, None, 401).await;
    const SETTLE_BREAK: (&str, &str) = ("POST", "/v1/reconciliations/{id}/breaks/{break_id}/resolution");
    let break_id = report.json["breaks"][0]["break_id"].as_str().unwrap().to_owned();
    let resolve_path = format!("{report_path}/breaks/{break_id}/resolution");
    let write_off = json!({ "action": "write_off", "amount": "12.50", "note": "walk-in counter slip lost" });
    expect(
        s,
        c,
        SETTLE_BREAK,
        &resolve_path,
        Some(&finance),
        Some(json!({ "action": "adjust", "amount": "12.50" })),
        None,
        422,
    )
    .await;
    expect(s, c, SETTLE_BREAK, &resolve_path, merchant_token, Some(write_off.clone()), None, 403).await;
    expect(s, c, SETTLE_BREAK, &resolve_path, None, Some(write_off.clone()), None, 401).await;
    let unknown_break = format!("{report_path}/breaks/{}/resolution", Uuid::new_v4());
    expect(s, c, SETTLE_BREAK, &unknown_break, Some(&finance), Some(write_off.clone()), None, 404).await;
    let resolution_key = key();
    let resolved =
        expect(s, c, SETTLE_BREAK, &resolve_path, Some(&finance), Some(write_off.clone()), Some(&resolution_key), 201)
            .await;
    assert_eq!(resolved.json["credit_role"], "reconciliation_gain");
    expect(s, c, SETTLE_BREAK, &resolve_path, Some(&finance), Some(write_off.clone()), None, 409).await;
    let other = json!({ "action": "refund", "amount": "12.50" });
    expect(s, c, SETTLE_BREAK, &resolve_path, Some(&finance), Some(other), Some(&resolution_key), 409).await;
    let huge = json!({ "note": "x".repeat(REQUEST_BODY_BYTES_MAX) });
    expect(s, c, SETTLE_BREAK, &resolve_path, Some(&finance), Some(huge), None, 413).await;
    let malformed = s.call("POST", &resolve_path, Some(&finance), Some("{"), None).await;
    assert_eq!(malformed.status, 400);
    c.check("POST", "/v1/reconciliations/{id}/breaks/{break_id}/resolution", &malformed);
    let read = expect(s, c, REPORT_OF, &report_path, admin, None, None, 200).await;
    assert_eq!(read.json["breaks"][0]["status"], "resolved");

    // Webhooks.
    const WEBHOOKS: (&str, &str) = ("POST", "/v1/webhooks");
    expect(
        s,
        c,
        WEBHOOKS,
        "/v1/webhooks",
        merchant_token,
        Some(json!({ "url": "https://example.org/hook" })),
        None,
        201,
    )
    .await;
    expect(s, c, WEBHOOKS, "/v1/webhooks", merchant_token, Some(json!({ "url": "ftp://example.org/hook" })), None, 422)
        .await;
    let hook = json!({ "url": "https://example.org/hook" });
    expect(s, c, WEBHOOKS, "/v1/webhooks", Some(&technician_token), Some(hook), None, 403).await;
    const LIST_WEBHOOKS: (&str, &str) = ("GET", "/v1/webhooks");
    let hooks = expect(s, c, LIST_WEBHOOKS, "/v1/webhooks", merchant_token, None, None, 200).await;
    assert_eq!(hooks.json["items"].as_array().unwrap().len(), 1);

    // Metering: a meter with its own ed25519 key, signed readings (accepted and rejected), e-bills.
    let now = SystemClock.now();
    let days_ago = |days: i64| wallet_api::time::format_rfc3339(Timestamp(now.0 - days * 86_400_000_000));
    let meter_key = SigningKey::generate(&mut rand::rngs::OsRng);
    let other_key = SigningKey::generate(&mut rand::rngs::OsRng);
    let public_key = hex::encode(meter_key.verifying_key().to_bytes());
    let serial = format!("BJ-{}", &Uuid::new_v4().simple().to_string()[..12]);
    let meter_body = |serial: &str, customer: &str, public_key: &str| {
        json!({
            "serial": serial,
            "customer_id": customer,
            "public_key": public_key,
            "initial_register": "100.000",
            "installed_at": days_ago(30),
        })
    };
    const METERS: (&str, &str) = ("POST", "/v1/meters");
    let meter =
        expect(s, c, METERS, "/v1/meters", admin, Some(meter_body(&serial, &customer_id, &public_key)), None, 201)
            .await;
    assert_eq!(meter.json["max_flow_m3_per_h"], "6");
    assert_eq!(meter.json["initial_register"], "100.000");
    let meter_id = meter.str("id");
    let duplicate = meter_body(&serial, &second.str("id"), &public_key);
    expect(s, c, METERS, "/v1/meters", admin, Some(duplicate), None, 409).await;
    let fresh = || meter_body(&format!("BJ-{}", &Uuid::new_v4().simple().to_string()[..12]), &customer_id, &public_key);
    expect(s, c, METERS, "/v1/meters", None, Some(fresh()), None, 401).await;
    expect(s, c, METERS, "/v1/meters", customer_token, Some(fresh()), None, 403).await;
    let nobody = meter_body("BJ-NOBODY", &Uuid::new_v4().to_string(), &public_key);
    expect(s, c, METERS, "/v1/meters", admin, Some(nobody), None, 404).await;
    let short_key = meter_body("BJ-SHORT-KEY", &customer_id, &public_key[..63]);
    expect(s, c, METERS, "/v1/meters", admin, Some(short_key), None, 422).await;
    let mut numeric = fresh();
    numeric["initial_register"] = json!(100);
    expect(s, c, METERS, "/v1/meters", admin, Some(numeric), None, 422).await;
    let mut undated = fresh();
    undated["installed_at"] = json!("last spring");
    expect(s, c, METERS, "/v1/meters", admin, Some(undated), None, 422).await;
    let malformed = s.call("POST", "/v1/meters", admin, Some("{"), None).await;
    assert_eq!(malformed.status, 400);
    c.check("POST", "/v1/meters", &malformed);
    let huge = json!({ "serial": "x".repeat(REQUEST_BODY_BYTES_MAX) });
    expect(s, c, METERS, "/v1/meters", admin, Some(huge), None, 413).await;

    let concentrator =
        expect(s, c, CONCENTRATORS, "/v1/concentrators", admin, Some(json!({ "name": "Gateway 8" })), None, 201).await;
    let concentrator_token = expect(
        s,
        c,
        TOKENS,
        "/v1/tokens",
        admin,
        Some(json!({ "role": "concentrator", "subject_id": concentrator.str("id") })),
        None,
        201,
    )
    .await
    .str("token");
    let concentrator_token = Some(concentrator_token.as_str());
    let signed = |key: &SigningKey, meter: &str, counter: u64, register: &str, read_at: &str| {
        let signature = key.sign(reading_message(meter, counter, register, read_at).as_bytes());
        json!({
            "meter_id": meter,
            "counter": counter,
            "register": register,
            "read_at": read_at,
            "signature": hex::encode(signature.to_bytes()),
        })
    };
    const READINGS: (&str, &str) = ("POST", "/v1/meter-readings");
    let batch = json!({ "readings": [
        signed(&meter_key, &meter_id, 1, "110.000", &days_ago(20)),
        signed(&other_key, &meter_id, 2, "120.000", &days_ago(19)),
        signed(&meter_key, &Uuid::new_v4().to_string(), 2, "120.000", &days_ago(19)),
        signed(&meter_key, &meter_id, 2, "105.000", &days_ago(19)),
        signed(&meter_key, &meter_id, 2, "120.000", &days_ago(-1)),
        signed(&meter_key, &meter_id, 2, "99999.000", &days_ago(19)),
        signed(&meter_key, &meter_id, 2, "120.000", &days_ago(25)),
        signed(&meter_key, &meter_id, 2, "120", &days_ago(19)),
        signed(&meter_key, &meter_id, 0, "110.000", &days_ago(21)),
    ] });
    let results = expect(s, c, READINGS, "/v1/meter-readings", concentrator_token, Some(batch), None, 200).await.json
        ["results"]
        .clone();
    let outcomes: Vec<(&str, &str)> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|result| {
            let detail = result.get("code").or_else(|| result.get("charge")).and_then(Value::as_str).unwrap();
            (result["status"].as_str().unwrap(), detail)
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            // The customer is billed monthly: nothing is due at the reading.
            ("accepted", "0.00"),
            ("rejected", "bad_signature"),
            ("rejected", "unknown_meter"),
            ("rejected", "register_backwards"),
            ("rejected", "future_reading"),
            ("rejected", "implausible_flow"),
            ("rejected", "reading_out_of_order"),
            ("rejected", "malformed_reading"),
            ("rejected", "replayed_reading"),
        ],
        "{results}"
    );
    assert!(results[0].get("code").is_none() && results[1].get("charge").is_none(), "{results}");
    // The customer's own reading between the two signed ones: provisional, settled by the next.
    const SELF_READINGS: (&str, &str) = ("POST", "/v1/meters/{id}/self-readings");
    let self_path = format!("/v1/meters/{meter_id}/self-readings");
    let own = json!({ "register": "112.500", "read_at": days_ago(15), "photo_ref": "oss://photos/1.jpg" });
    let provisional = expect(s, c, SELF_READINGS, &self_path, customer_token, Some(own.clone()), None, 201).await;
    assert_eq!(provisional.json["status"], "provisional");
    assert_eq!(provisional.json["estimated_volume"], "2.500");
    let again = expect(s, c, SELF_READINGS, &self_path, customer_token, Some(own.clone()), None, 201).await;
    assert_eq!(again.json, provisional.json);
    let mut other_photo = own.clone();
    other_photo["photo_ref"] = json!("oss://photos/2.jpg");
    expect(s, c, SELF_READINGS, &self_path, customer_token, Some(other_photo), None, 409).await;
    expect(s, c, SELF_READINGS, &self_path, None, Some(own.clone()), None, 401).await;
    expect(s, c, SELF_READINGS, &self_path, merchant_token, Some(own.clone()), None, 404).await;
    let unknown_meter = format!("/v1/meters/{}/self-readings", Uuid::new_v4());
    expect(s, c, SELF_READINGS, &unknown_meter, customer_token, Some(own.clone()), None, 404).await;
    let backwards = json!({ "register": "105.000", "read_at": days_ago(14) });
    expect(s, c, SELF_READINGS, &self_path, customer_token, Some(backwards), None, 422).await;
    let numeric = json!({ "register": 112.5, "read_at": days_ago(14) });
    expect(s, c, SELF_READINGS, &self_path, customer_token, Some(numeric), None, 422).await;
    let undated = json!({ "register": "113.000", "read_at": "yesterday" });
    expect(s, c, SELF_READINGS, &self_path, customer_token, Some(undated), None, 422).await;
    let malformed = s.call("POST", &self_path, customer_token, Some("{"), None).await;
    assert_eq!(malformed.status, 400);
    c.check("POST", "/v1/meters/{id}/self-readings", &malformed);
    let huge = json!({ "photo_ref": "x".repeat(REQUEST_BODY_BYTES_MAX) });
    expect(s, c, SELF_READINGS, &self_path, customer_token, Some(huge), None, 413).await;

    let second_reading = json!({ "readings": [signed(&meter_key, &meter_id, 2, "130.000", &days_ago(10))] });
    expect(s, c, READINGS, "/v1/meter-readings", admin, Some(second_reading.clone()), None, 200).await;
    expect(s, c, READINGS, "/v1/meter-readings", None, Some(second_reading.clone()), None, 401).await;
    expect(s, c, READINGS, "/v1/meter-readings", customer_token, Some(second_reading), None, 403).await;
    expect(s, c, READINGS, "/v1/meter-readings", admin, Some(json!({ "readings": [] })), None, 422).await;
    // Small enough to pass the body limit, one reading too many for the batch limit.
    let tiny = json!({ "meter_id": "m", "counter": 1, "register": "1.000", "read_at": "t", "signature": "s" });
    let too_many = json!({ "readings": vec![tiny; READINGS_PER_REQUEST_MAX + 1] });
    expect(s, c, READINGS, "/v1/meter-readings", concentrator_token, Some(too_many), None, 422).await;
    let oversized = json!({ "readings": [{ "meter_id": "m".repeat(READINGS_REQUEST_BODY_BYTES_MAX) }] });
    expect(s, c, READINGS, "/v1/meter-readings", concentrator_token, Some(oversized), None, 413).await;
    let malformed = s.call("POST", "/v1/meter-readings", concentrator_token, Some("{\"readings\":"), None).await;
    assert_eq!(malformed.status, 400);
    c.check("POST", "/v1/meter-readings", &malformed);

    const BILLS: (&str, &str) = ("GET", "/v1/customers/{id}/bills");
    let bills_path = format!("/v1/customers/{customer_id}/bills");
    let bills = expect(s, c, BILLS, &bills_path, customer_token, None, None, 200).await;
    let items = bills.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", bills.json);
    assert_eq!(items[0]["readings"]["counter"], 2, "newest first");
    assert_eq!(items[0]["volume"], "20.000");
    assert_eq!(items[0]["billing"], "monthly");
    // The signed reading after the customer's own one settles it; the earlier one settles none.
    let settled = items[0]["settles_self_readings"].as_array().unwrap();
    assert_eq!(settled.len(), 1, "{}", bills.json);
    assert_eq!(settled[0]["id"], provisional.json["id"]);
    assert_eq!(settled[0]["status"], "settled");
    assert_eq!(settled[0]["settled_by"], items[0]["id"]);
    assert_eq!(items[1]["settles_self_readings"], json!([]), "{}", bills.json);
    assert!(bills.json["next_cursor"].is_null());
    let page = expect(s, c, BILLS, &format!("{bills_path}?limit=1"), Some(&finance), None, None, 200).await;
    assert_eq!(page.json["next_cursor"], "1");
    let last = expect(s, c, BILLS, &format!("{bills_path}?limit=1&cursor=1"), admin, None, None, 200).await;
    assert_eq!(last.json["items"][0]["readings"]["counter"], 1);
    assert!(last.json["next_cursor"].is_null());
    let others = format!("/v1/customers/{}/bills", second.str("id"));
    expect(s, c, BILLS, &others, customer_token, None, None, 404).await;
    expect(s, c, BILLS, &format!("/v1/customers/{}/bills", Uuid::new_v4()), admin, None, None, 404).await;
    expect(s, c, BILLS, &bills_path, None, None, None, 401).await;
    expect(s, c, BILLS, &format!("{bills_path}?limit=0"), admin, None, None, 422).await;
    expect(s, c, BILLS, &format!("{bills_path}?cursor=abc"), admin, None, None, 422).await;
    expect(s, c, BILLS, &format!("{bills_path}?colour=blue"), admin, None, None, 422).await;

    const BILL: (&str, &str) = ("GET", "/v1/bills/{id}");
    let bill_id = items[0]["id"].as_str().unwrap();
    let bill = expect(s, c, BILL, &format!("/v1/bills/{bill_id}"), customer_token, None, None, 200).await;
    assert_eq!(bill.json, items[0]);
    expect(s, c, BILL, &format!("/v1/bills/{bill_id}"), merchant_token, None, None, 404).await;
    expect(s, c, BILL, &format!("/v1/bills/{}", Uuid::new_v4()), admin, None, None, 404).await;
    expect(s, c, BILL, &format!("/v1/bills/{bill_id}"), None, None, None, 401).await;

    // Tariffs: the shipped ones, a new one set and read back, and refusals.
    const TARIFF: (&str, &str) = ("GET", "/v1/tariffs/{code}");
    const SET_TARIFF: (&str, &str) = ("PUT", "/v1/tariffs/{code}");
    let shipped = expect(s, c, TARIFF, "/v1/tariffs/residential", customer_token, None, None, 200).await;
    assert_eq!(shipped.json["code"], "residential");
    assert_eq!(shipped.json["versions"][0]["tiers"][2]["up_to"], Value::Null, "{}", shipped.json);
    let heating = expect(s, c, TARIFF, "/v1/tariffs/residential-heating", merchant_token, None, None, 200).await;
    assert_eq!(heating.json["versions"][0]["tiers"][0]["up_to"], "1500", "{}", heating.json);
    let tier = |up_to: Value, price: Value| json!({ "up_to": up_to, "price": price });
    let version = |effective_from: &str, tiers: Value| json!({ "effective_from": effective_from, "cycle_start": "10-01", "tiers": tiers });
    let new_tariff = json!({ "versions": [
        version("2020-01-01", json!([tier(json!("100"), json!("3.00")), tier(Value::Null, json!("4.00"))])),
        {
            "effective_from": "2027-01-01",
            "cycle_start": "01-01",
            "tiers": [tier(json!("200.5"), json!("3.1")), tier(Value::Null, json!("4.25"))],
            "household_uplift": { "min_household_size": 5, "extra_m3_per_boundary": "50" },
        },
    ] });
    let set = expect(s, c, SET_TARIFF, "/v1/tariffs/walk-city", admin, Some(new_tariff.clone()), None, 200).await;
    assert_eq!(set.json["code"], "walk-city");
    assert_eq!(set.json["versions"][0]["household_uplift"], Value::Null, "{}", set.json);
    assert_eq!(set.json["versions"][1]["household_uplift"]["extra_m3_per_boundary"], "50", "{}", set.json);
    let read = expect(s, c, TARIFF, "/v1/tariffs/walk-city", Some(&finance), None, None, 200).await;
    assert_eq!(read.json, set.json);
    expect(s, c, SET_TARIFF, "/v1/tariffs/walk-city", None, Some(new_tariff.clone()), None, 401).await;
    expect(s, c, SET_TARIFF, "/v1/tariffs/walk-city", customer_token, Some(new_tariff.clone()), None, 403).await;
    expect(s, c, TARIFF, "/v1/tariffs/walk-city", None, None, None, 401).await;
    expect(s, c, TARIFF, "/v1/tariffs/no-such-city", admin, None, None, 404).await;
    expect(s, c, TARIFF, "/v1/tariffs/NOT%20A%20CODE", admin, None, None, 404).await;
    let bounded = |tiers: Value| json!({ "versions": [version("2020-01-01", tiers)] });
    let bad_date = json!({ "versions": [{
        "effective_from": "2020-1-1",
        "cycle_start": "01-01",
        "tiers": [tier(Value::Null, json!("3.00"))],
    }] });
    expect(s, c, SET_TARIFF, "/v1/tariffs/walk-city", admin, Some(bad_date), None, 422).await;
    let middle_unbounded = bounded(json!([
        tier(json!("100"), json!("3.00")),
        tier(Value::Null, json!("3.50")),
        tier(Value::Null, json!("4.00")),
    ]));
    let refused = expect(s, c, SET_TARIFF, "/v1/tariffs/walk-city", admin, Some(middle_unbounded), None, 422).await;
    assert_eq!(refused.json["code"], "invalid_tariff");
    let number_price = bounded(json!([tier(Value::Null, json!(3.5))]));
    let refused = expect(s, c, SET_TARIFF, "/v1/tariffs/walk-city", admin, Some(number_price), None, 422).await;
    assert_eq!(refused.json["code"], "invalid_amount");
    let mut unknown_field = new_tariff.clone();
    unknown_field["versions"][0]["colour"] = json!("blue");
    let refused = expect(s, c, SET_TARIFF, "/v1/tariffs/walk-city", admin, Some(unknown_field), None, 422).await;
    assert_eq!(refused.json["code"], "validation_failed");
    let refused = expect(s, c, SET_TARIFF, "/v1/tariffs/Walk-City", admin, Some(new_tariff.clone()), None, 422).await;
    assert_eq!(refused.json["code"], "validation_failed");
    let malformed = s.call("PUT", "/v1/tariffs/walk-city", admin, Some("{\"versions\":"), None).await;
    assert_eq!(malformed.status, 400);
    c.check("PUT", "/v1/tariffs/{code}", &malformed);
    let huge = json!({ "versions": "x".repeat(REQUEST_BODY_BYTES_MAX) });
    expect(s, c, SET_TARIFF, "/v1/tariffs/walk-city", admin, Some(huge), None, 413).await;
    let unchanged = expect(s, c, TARIFF, "/v1/tariffs/walk-city", admin, None, None, 200).await;
    assert_eq!(unchanged.json, set.json, "refused changes change nothing");

    // A meter replacement (its error cases first), and a declared rollover.
    const REPLACEMENT: (&str, &str) = ("POST", "/v1/meters/{id}/replacement");
    let replacement_path = format!("/v1/meters/{meter_id}/replacement");
    let new_key = SigningKey::generate(&mut rand::rngs::OsRng);
    let replacement = |final_register: &str, new_serial: &str, new_public_key: &str| {
        json!({
            "final_register": final_register,
            "final_read_at": days_ago(9),
            "new_serial": new_serial,
            "new_public_key": new_public_key,
            "new_initial_register": "0.000",
        })
    };
    let new_public_key = hex::encode(new_key.verifying_key().to_bytes());
    let new_serial = format!("BJ-{}", &Uuid::new_v4().simple().to_string()[..12]);
    let good = replacement("131.000", &new_serial, &new_public_key);
    expect(s, c, REPLACEMENT, &replacement_path, None, Some(good.clone()), None, 401).await;
    expect(s, c, REPLACEMENT, &replacement_path, customer_token, Some(good.clone()), None, 403).await;
    let unknown_replacement = format!("/v1/meters/{}/replacement", Uuid::new_v4());
    expect(s, c, REPLACEMENT, &unknown_replacement, admin, Some(good.clone()), None, 404).await;
    let backwards = replacement("120.000", &new_serial, &new_public_key);
    expect(s, c, REPLACEMENT, &replacement_path, admin, Some(backwards), None, 422).await;
    let bad_key = replacement("131.000", &new_serial, "00");
    expect(s, c, REPLACEMENT, &replacement_path, admin, Some(bad_key), None, 422).await;
    let taken_serial = replacement("131.000", &serial, &new_public_key);
    expect(s, c, REPLACEMENT, &replacement_path, admin, Some(taken_serial), None, 409).await;
    let malformed = s.call("POST", &replacement_path, admin, Some("{"), None).await;
    assert_eq!(malformed.status, 400);
    c.check("POST", "/v1/meters/{id}/replacement", &malformed);
    let huge = json!({ "new_serial": "x".repeat(REQUEST_BODY_BYTES_MAX) });
    expect(s, c, REPLACEMENT, &replacement_path, admin, Some(huge), None, 413).await;

    const ROLLOVER: (&str, &str) = ("POST", "/v1/meters/{id}/rollover");
    let rollover_path = format!("/v1/meters/{meter_id}/rollover");
    let declared = expect(s, c, ROLLOVER, &rollover_path, concentrator_token, None, None, 200).await;
    assert_eq!(declared.json["rolls_over_at"], "100000.000");
    expect(s, c, ROLLOVER, &rollover_path, None, None, None, 401).await;
    expect(s, c, ROLLOVER, &rollover_path, customer_token, None, None, 403).await;
    expect(s, c, ROLLOVER, &format!("/v1/meters/{}/rollover", Uuid::new_v4()), admin, None, None, 404).await;

    let replaced = expect(s, c, REPLACEMENT, &replacement_path, admin, Some(good), None, 201).await;
    assert_eq!(replaced.json["state"], "replaced");
    assert_eq!(replaced.json["new_meter"]["serial"], new_serial.as_str());
    // The retired meter takes no more declarations.
    expect(s, c, ROLLOVER, &rollover_path, admin, None, None, 404).await;

    // Last (it moves the clock two days on): a paid-out order refunded after its payout.
    let paid = expect(s, c, BOOK, "/v1/service-orders", customer_token, Some(service("2.00")), Some(&key()), 201).await;
    let paid_path = |step: &str| format!("/v1/service-orders/{}{step}", paid.str("id"));
    expect(s, c, ACCEPT, &paid_path("/accept"), Some(&technician_token), None, None, 200).await;
    expect(s, c, COMPLETE, &paid_path("/complete"), Some(&technician_token), None, None, 200).await;
    let rated = expect(s, c, RATE, &paid_path("/rating"), customer_token, Some(json!({ "stars": 5 })), None, 200).await;
    let settled_at = wallet_api::time::parse_rfc3339(rated.json["settled_at"].as_str().unwrap()).unwrap();
    let settled_on =
        settlement::business_day::business_day_of(settled_at.unix_micros() / 1_000_000).unwrap().to_string();
    s.clock.advance_micros(2 * 86_400 * 1_000_000);
    let period = json!({ "from": settled_on, "to": settled_on });
    let payout = expect(s, c, PAYOUT, "/v1/settlements/technicians", Some(&finance), Some(period), None, 200).await;
    assert_eq!(payout.json["totals"]["orders"], 1);
    let amount = json!({ "amount": "1.00" });
    let reversal =
        expect(s, c, ORDER_REFUND, &paid_path("/refunds"), Some(&finance), Some(amount), Some(&key()), 201).await;
    assert_eq!(reversal.json["amount"], "1.00");

    // Every route was seen answering its documented success.
    let checked = conformance.checked.lock().unwrap();
    for (method, path) in routes() {
        let success = checked.iter().any(|(m, p, status)| *m == method && *p == path && (200..300).contains(status));
        assert!(success, "{method} {path}: no success answer was checked (add a call to this test)");
    }
}

/// Today's date in Beijing time (UTC+8), `YYYY-MM-DD`.
fn today_in_beijing() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    settlement::business_day::business_day_of(now).unwrap().to_string()
}
