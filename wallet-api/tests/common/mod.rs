//! The harness every HTTP API test uses: `spawn_app()` starts the real server (the same
//! `open_service` and `http::run` that `gaswallet serve` uses) on 127.0.0.1:0 over a fresh
//! temporary data directory, and hands back its base URL, the bootstrap admin token and a small
//! HTTP client. Fixtures (a funded customer, a merchant, a payment code, …) go through the API
//! too, so every test talks to the server exactly as an outside client would.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use ledger::{Clock, ManualClock, SystemClock};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::oneshot;
use uuid::Uuid;
use wallet_api::http::{run, AppState};
use wallet_api::service::Service;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// How long one request may take before the test gives up (the server's own timeout is 10 s).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a restart waits for the previous server to let go of the data directory.
const RESTART_WAIT: Duration = Duration::from_secs(10);

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// What the server answered.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: hyper::HeaderMap,
    /// The body exactly as sent (for byte-for-byte replay comparisons).
    pub body: Bytes,
    /// The body parsed as JSON, or `Value::Null` when it is not JSON.
    pub json: Value,
}

impl Reply {
    /// `self.json[field]` as a string, panicking with the whole reply when it is not one.
    pub fn str(&self, field: &str) -> String {
        match self.json.get(field).and_then(Value::as_str) {
            Some(text) => text.to_owned(),
            None => panic!("reply has no string {field:?}: {self:?}"),
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A customer as the fixtures make it: its ids and a customer token.
#[derive(Debug, Clone)]
pub struct CustomerFixture {
    pub id: String,
    pub wallet_id: String,
    pub token: String,
}

/// A merchant and a merchant token.
#[derive(Debug, Clone)]
pub struct MerchantFixture {
    pub id: String,
    pub token: String,
}

/// A running server and a client for it. Dropping it shuts the server down.
pub struct TestApp {
    pub base_url: String,
    pub admin_token: String,
    pub client: HttpClient,
    /// Set when the app runs on a hand-moved clock (see [`spawn_app_with_manual_clock`]).
    pub clock: Option<Arc<ManualClock>>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    // Kept last so the directory outlives everything that might still use it.
    data: Option<TempDir>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// A fresh idempotency key (or any other unique reference).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4().simple())
}

/// Starts the real server the way `gaswallet serve` does: `open_service` on a fresh data directory
/// (which creates `DATA/admin.token`), the HTTP app on an ephemeral port.
pub async fn spawn_app() -> TestApp {
    spawn_app_in(tempfile::tempdir().expect("temporary data directory")).await
}

/// [`spawn_app`] on a data directory that may already hold a journal (a restart).
pub async fn spawn_app_in(data: TempDir) -> TestApp {
    let started = std::time::Instant::now();
    let service = loop {
        match wallet_api::serve::open_service(data.path()).await {
            Ok((service, _source)) => break service,
            // After a stop, the last references to the old ledger (and its sled file lock) are
            // dropped by tasks that finish just after the server does.
            Err(error) if started.elapsed() < RESTART_WAIT && format!("{error:#}").contains("lock") => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("open_service: {error:#}"),
        }
    };
    // The environment variable is process-wide and tests run in parallel, so it is never set
    // here; it wins only if whoever runs the tests set it for the whole process.
    let admin_token = match std::env::var(wallet_api::serve::ADMIN_TOKEN_ENV) {
        Ok(token) => token.trim().to_owned(),
        Err(_) => std::fs::read_to_string(data.path().join(wallet_api::serve::ADMIN_TOKEN_FILE))
            .expect("open_service writes DATA/admin.token")
            .trim()
            .to_owned(),
    };
    serve(data, service, admin_token, None).await
}

/// Like [`spawn_app`], but the service runs on a [`ManualClock`] the test moves by hand (to let
/// payment codes expire without waiting a minute). `open_service` takes no clock, so this opens
/// `Service` directly with the same ledger directory and registers the admin token the same way.
pub async fn spawn_app_with_manual_clock() -> TestApp {
    let data = tempfile::tempdir().expect("temporary data directory");
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let service_clock: Arc<dyn Clock> = clock.clone();
    let (service, _) =
        wallet_api::serve::open_service_with_clock(data.path(), service_clock).await.expect("open_service_with_clock");
    let admin_token = std::fs::read_to_string(data.path().join("admin.token")).expect("admin.token").trim().to_owned();
    serve(data, service, admin_token, Some(clock)).await
}

async fn serve(data: TempDir, service: Arc<Service>, admin_token: String, clock: Option<Arc<ManualClock>>) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let address = listener.local_addr().expect("local address");
    let (shutdown, shutdown_signal) = oneshot::channel::<()>();
    let server = tokio::spawn(run(listener, AppState::new(service), async move {
        let _ = shutdown_signal.await;
    }));
    TestApp {
        base_url: format!("http://{address}"),
        admin_token,
        client: new_client(),
        clock,
        shutdown: Some(shutdown),
        server: Some(server),
        data: Some(data),
    }
}

fn new_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>()
}

impl TestApp {
    /// Shuts the server down gracefully, waits until it has let go of the service (and so of the
    /// ledger), and hands back the data directory for a restart.
    pub async fn stop(mut self) -> TempDir {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        // Pooled keep-alive connections would hold the graceful shutdown open.
        self.client = new_client();
        if let Some(server) = self.server.take() {
            tokio::time::timeout(CLIENT_TIMEOUT, server)
                .await
                .expect("the server drains within the timeout")
                .expect("server task")
                .expect("server result");
        }
        self.data.take().expect("data directory")
    }

    /// The data directory the server runs on.
    pub fn data_path(&self) -> &std::path::Path {
        self.data.as_ref().expect("data directory").path()
    }

    /// Sends any request. `headers` are raw bytes so tests can send what no well-behaved
    /// client would.
    pub async fn request(&self, method: &str, path: &str, headers: &[(&str, &[u8])], body: Vec<u8>) -> Reply {
        let mut builder = hyper::Request::builder().method(method).uri(format!("{}{path}", self.base_url));
        for (name, value) in headers {
            builder = builder.header(*name, hyper::header::HeaderValue::from_bytes(value).expect("header value"));
        }
        let request = builder.body(Full::new(Bytes::from(body))).expect("request");
        let response = tokio::time::timeout(CLIENT_TIMEOUT, self.client.request(request))
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer within {CLIENT_TIMEOUT:?}"))
            .unwrap_or_else(|error| panic!("{method} {path}: {error:?}"));
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.expect("response body").to_bytes();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert!(status < 500, "{method} {path} answered {status} (never a 5xx): {}", String::from_utf8_lossy(&body));
        Reply { status, content_type, headers, body, json }
    }

    /// `POST path` with a JSON body, an optional bearer token and an optional Idempotency-Key.
    pub async fn post(&self, path: &str, token: Option<&str>, json_text: &str, key: Option<&str>) -> Reply {
        let authorization = token.map(|token| format!("Bearer {token}"));
        let mut headers: Vec<(&str, &[u8])> = vec![("content-type", b"application/json")];
        if let Some(authorization) = &authorization {
            headers.push(("authorization", authorization.as_bytes()));
        }
        if let Some(key) = key {
            headers.push(("idempotency-key", key.as_bytes()));
        }
        self.request("POST", path, &headers, json_text.as_bytes().to_vec()).await
    }

    /// `GET path` with an optional bearer token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let authorization = token.map(|token| format!("Bearer {token}"));
        let mut headers: Vec<(&str, &[u8])> = Vec::new();
        if let Some(authorization) = &authorization {
            headers.push(("authorization", authorization.as_bytes()));
        }
        self.request("GET", path, &headers, Vec::new()).await
    }

    /// `POST path` that must answer `expected`; returns the reply.
    pub async fn post_ok(&self, path: &str, token: &str, json: Value, key: Option<&str>, expected: u16) -> Reply {
        let reply = self.post(path, Some(token), &json.to_string(), key).await;
        assert_eq!(reply.status, expected, "POST {path} {json}: {}", reply.text());
        reply
    }

    /// `GET path` that must answer 200; returns the JSON.
    pub async fn get_ok(&self, path: &str, token: &str) -> Value {
        let reply = self.get(path, Some(token)).await;
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.text());
        assert!(reply.content_type.starts_with("application/json"), "GET {path}: {reply:?}");
        reply.json
    }

    /// Issues a token for `role` (and subject).
    pub async fn token(&self, role: &str, subject_id: Option<&str>) -> String {
        let body = match subject_id {
            Some(subject) => json!({ "role": role, "subject_id": subject }),
            None => json!({ "role": role }),
        };
        self.post_ok("/v1/tokens", &self.admin_token, body, None, 201).await.str("token")
    }

    /// A new customer with a customer token.
    pub async fn customer(&self, name: &str) -> CustomerFixture {
        let created = self.post_ok("/v1/customers", &self.admin_token, json!({ "name": name }), None, 201).await;
        let id = created.str("id");
        let token = self.token("customer", Some(&id)).await;
        CustomerFixture { wallet_id: created.str("wallet_id"), id, token }
    }

    /// A new merchant (fee rate 0.6 %) with a merchant token.
    pub async fn merchant(&self, name: &str) -> MerchantFixture {
        let created = self
            .post_ok("/v1/merchants", &self.admin_token, json!({ "name": name, "fee_rate": "0.006" }), None, 201)
            .await;
        let id = created.str("id");
        let token = self.token("merchant", Some(&id)).await;
        MerchantFixture { id, token }
    }

    /// Books a top-up as admin (fresh key and channel transaction id); must succeed.
    pub async fn fund(&self, wallet_id: &str, amount: &str) -> Reply {
        let body = json!({ "amount": amount, "channel": "wechat", "channel_txn_id": unique("txn") });
        let key = unique("topup");
        self.post_ok(&format!("/v1/wallets/{wallet_id}/topups"), &self.admin_token, body, Some(&key), 201).await
    }

    /// A payment code for the customer's own wallet.
    pub async fn payment_code(&self, customer: &CustomerFixture) -> String {
        let path = format!("/v1/wallets/{}/payment-codes", customer.wallet_id);
        self.post_ok(&path, &customer.token, json!({}), None, 201).await.str("code")
    }

    /// A merchant charges a payment code (fresh key); returns the reply, whatever it is.
    pub async fn pay(&self, merchant: &MerchantFixture, code: &str, amount: &str) -> Reply {
        let body = json!({ "payment_code": code, "amount": amount, "order_ref": unique("order") }).to_string();
        self.post("/v1/payments", Some(&merchant.token), &body, Some(&unique("pay"))).await
    }

    /// A payment that must succeed; returns its id.
    pub async fn paid(&self, merchant: &MerchantFixture, customer: &CustomerFixture, amount: &str) -> String {
        let code = self.payment_code(customer).await;
        let reply = self.pay(merchant, &code, amount).await;
        assert_eq!(reply.status, 201, "payment of {amount}: {}", reply.text());
        reply.str("id")
    }

    /// A wallet's balance, read as admin.
    pub async fn balance(&self, wallet_id: &str) -> String {
        self.get_ok(&format!("/v1/wallets/{wallet_id}"), &self.admin_token).await["balance"]
            .as_str()
            .expect("balance")
            .to_owned()
    }

    /// Every event the token may see, following `next_cursor` to the end.
    pub async fn events(&self, token: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut after = String::from("0");
        loop {
            let page = self.get_ok(&format!("/v1/events?after={after}&limit=500"), token).await;
            items.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(cursor) => after = cursor.to_owned(),
                None => return items,
            }
        }
    }

    /// Every statement line of a wallet, following `next_cursor` to the end.
    pub async fn statement(&self, wallet_id: &str, token: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(cursor) => format!("/v1/wallets/{wallet_id}/statement?limit=500&cursor={cursor}"),
                None => format!("/v1/wallets/{wallet_id}/statement?limit=500"),
            };
            let page = self.get_ok(&path, token).await;
            items.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
    }

    /// The journal's last sequence, from `/healthz`.
    pub async fn journal_sequence(&self) -> u64 {
        let reply = self.get("/healthz", None).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json["journal_sequence"].as_u64().expect("journal_sequence")
    }

    /// `POST /v1/ledger/verify` as admin; the report must say ok.
    pub async fn assert_ledger_verifies(&self) -> Value {
        let reply = self.post("/v1/ledger/verify", Some(&self.admin_token), "", None).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.json["ok"], true, "ledger verify: {}", reply.text());
        assert!(reply.json["first_error"].is_null(), "{}", reply.text());
        reply.json
    }
}

/// Asserts that a reply is an `application/problem+json` document with this status and code and
/// the members RFC 9457 and API.md promise, and nothing else (no resource data leaks into it).
pub fn assert_problem(reply: &Reply, status: u16, code: &str, context: &str) {
    assert_eq!(reply.status, status, "{context}: status; body {}", reply.text());
    assert!(
        reply.content_type.starts_with(PROBLEM_JSON),
        "{context}: content type {:?}, body {}",
        reply.content_type,
        reply.text()
    );
    let Some(object) = reply.json.as_object() else { panic!("{context}: problem is not a JSON object: {reply:?}") };
    assert_eq!(reply.json["code"], code, "{context}: code; body {}", reply.text());
    assert_eq!(reply.json["status"], status, "{context}: status member; body {}", reply.text());
    for member in ["type", "title", "detail", "code"] {
        assert!(object.get(member).is_some_and(Value::is_string), "{context}: no string {member:?}: {}", reply.text());
    }
    let mut members: Vec<&str> = object.keys().map(String::as_str).collect();
    members.sort_unstable();
    assert_eq!(members, ["code", "detail", "status", "title", "type"], "{context}: problem members");
}

/// Whether a text is a canonical hyphenated UUID.
pub fn is_uuid(value: &Value) -> bool {
    value.as_str().is_some_and(|text| Uuid::parse_str(text).is_ok() && text.len() == 36)
}

/// A smart meter outside the project: its own ed25519 key, registered through the API at the
/// server's current time with register 0, sending readings signed over
/// `meter_id|counter|register|read_at` as API.md says.
pub struct SignedMeter {
    pub id: String,
    key: ed25519_dalek::SigningKey,
    counter: u64,
    register: rust_decimal::Decimal,
}

impl SignedMeter {
    /// Registers a meter for the customer, installed at the app's (manual) clock's now.
    pub async fn install(app: &TestApp, customer_id: &str) -> SignedMeter {
        let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let now = app.clock.as_ref().expect("a manual clock").now_for_tests();
        let body = json!({
            "serial": format!("BJ-{}", &Uuid::new_v4().simple().to_string()[..12]),
            "customer_id": customer_id,
            "public_key": hex::encode(key.verifying_key().to_bytes()),
            "initial_register": "0.000",
            "installed_at": wallet_api::time::format_rfc3339(now),
        });
        let id = app.post_ok("/v1/meters", &app.admin_token, body, None, 201).await.str("id");
        SignedMeter { id, key, counter: 0, register: rust_decimal::Decimal::ZERO }
    }

    /// The next reading, `volume` m³ above the last one, read at the app's now and signed.
    pub fn next_reading(&mut self, app: &TestApp, volume: &str) -> Value {
        use ed25519_dalek::Signer;
        self.counter += 1;
        self.register += volume.parse::<rust_decimal::Decimal>().expect("a volume");
        let mut register = self.register;
        register.rescale(3);
        let now = app.clock.as_ref().expect("a manual clock").now_for_tests();
        let read_at = wallet_api::time::format_rfc3339(now);
        let message = format!("{}|{}|{register}|{read_at}", self.id, self.counter);
        json!({
            "meter_id": self.id, "counter": self.counter, "register": register.to_string(), "read_at": read_at,
            "signature": hex::encode(self.key.sign(message.as_bytes()).to_bytes()),
        })
    }

    /// Sends the next reading alone; it must be accepted. Returns the reading's result.
    pub async fn read(&mut self, app: &TestApp, volume: &str) -> Value {
        let reading = self.next_reading(app, volume);
        send_readings(app, vec![reading]).await.remove(0)
    }
}

/// Sends readings in one concentrator batch (as admin); every one must be accepted.
pub async fn send_readings(app: &TestApp, readings: Vec<Value>) -> Vec<Value> {
    let reply = app.post_ok("/v1/meter-readings", &app.admin_token, json!({ "readings": readings }), None, 200).await;
    let results = reply.json["results"].as_array().expect("results").clone();
    for result in &results {
        assert_eq!(result["status"], "accepted", "{result}");
    }
    results
}
