#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The web console in a real browser: headless Chromium driven through ChromeDriver's WebDriver
//! HTTP API (a small client written here) against the real server. A customer signs in and sees
//! the consumption chart and a payment-code QR code; a merchant charges that code; finance uploads
//! a WeChat-format bill and sees the breaks, resolves a dispute and runs verify. Every page visited
//! is saved as a screenshot under `target/console-screenshots/` (not committed).
//!
//! Needs `chromium` and `chromedriver` (Debian's `chromium`, `chromium-driver`; `.ci/run` installs
//! them). Without them the test fails in CI (`CI` set) and prints why it skipped elsewhere.

mod common;

use settlement::reconciliation::wechat::{render_payment_bill, WechatPaymentRow};

use base64::Engine as _;
use common::{spawn_app_with_manual_clock, CustomerFixture, TestApp};
use ed25519_dalek::{Signer, SigningKey};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHROMEDRIVER: &str = "chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The key of an element reference in a WebDriver reply (W3C WebDriver, "web element identifier").
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long to wait for ChromeDriver to start, and for an element to appear.
const WAIT: Duration = Duration::from_secs(20);

/// A WebDriver session on a ChromeDriver we started (killed on drop).
struct Driver {
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    base: String,
    session: String,
    process: Child,
    screenshots: PathBuf,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Ending the WebDriver session quits Chromium; killing ChromeDriver alone would leave the
        // browser running after a failed assertion. Blocking on purpose: `drop` cannot await.
        if let Some(address) = self.base.strip_prefix("http://") {
            if let Ok(mut stream) = std::net::TcpStream::connect(address) {
                let _ = stream.set_read_timeout(Some(WAIT));
                let request = format!(
                    "DELETE /session/{} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                    self.session
                );
                let _ = stream.write_all(request.as_bytes());
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn call(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    method: &str,
    url: &str,
    body: Option<Value>,
) -> Value {
    let body = body.map(|body| body.to_string()).unwrap_or_default();
    let request = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(60), client.request(request)).await.unwrap().unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

impl Driver {
    /// Starts ChromeDriver and a headless Chromium session, or says why it cannot.
    async fn start() -> Option<Driver> {
        if !installed(CHROMEDRIVER) || !std::path::Path::new(CHROMIUM).exists() {
            let why = "chromium and chromedriver are not installed (apt-get install -y chromium chromium-driver)";
            assert!(std::env::var_os("CI").is_none(), "browser tests need a browser in CI: {why}");
            eprintln!("SKIPPED console browser test: {why}");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let process = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let base = format!("http://127.0.0.1:{port}");
        let started = std::time::Instant::now();
        loop {
            let request = hyper::Request::get(format!("{base}/status")).body(Full::new(Bytes::new())).unwrap();
            if let Ok(response) = client.request(request).await {
                if response.status().is_success() {
                    break;
                }
            }
            assert!(started.elapsed() < WAIT, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1200,1000", "--lang=zh-CN",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        } } });
        let created = call(&client, "POST", &format!("{base}/session"), Some(capabilities)).await;
        let session =
            created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}")).to_owned();
        Some(Driver { client, base, session, process, screenshots: screenshot_dir(), _profile: profile })
    }

    async fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let reply = call(&self.client, method, &url, body).await;
        if let Some(error) = reply["value"].get("error") {
            panic!("WebDriver {method} {path}: {error} {}", reply["value"]["message"]);
        }
        reply["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url }))).await;
    }

    /// The element matching a CSS selector, waiting for it to appear.
    async fn find(&self, css: &str) -> String {
        let started = std::time::Instant::now();
        loop {
            let url = format!("{}/session/{}/element", self.base, self.session);
            let reply = call(&self.client, "POST", &url, Some(json!({ "using": "css selector", "value": css }))).await;
            if let Some(element) = reply["value"][ELEMENT_KEY].as_str() {
                return element.to_owned();
            }
            let error = reply["value"]["error"].as_str().unwrap_or("no reply");
            assert_eq!(error, "no such element", "WebDriver find {css}: {reply}");
            if started.elapsed() > WAIT {
                let source = self.command("GET", "/source", None).await;
                panic!("no element {css} on the page: {}", source.as_str().unwrap_or(""));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn count(&self, css: &str) -> usize {
        let found = self.command("POST", "/elements", Some(json!({ "using": "css selector", "value": css }))).await;
        found.as_array().map_or(0, Vec::len)
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.command("POST", &format!("/element/{element}/click"), Some(json!({}))).await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.command("POST", &format!("/element/{element}/clear"), Some(json!({}))).await;
        self.command("POST", &format!("/element/{element}/value"), Some(json!({ "text": text }))).await;
    }

    async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.command("GET", &format!("/element/{element}/text"), None).await.as_str().unwrap_or("").to_owned()
    }

    async fn source(&self) -> String {
        self.command("GET", "/source", None).await.as_str().unwrap_or("").to_owned()
    }

    async fn screenshot(&self, name: &str) {
        let png = self.command("GET", "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        std::fs::write(self.screenshots.join(format!("{name}.png")), bytes).unwrap();
    }

    async fn sign_in(&self, app: &TestApp, token: &str) {
        self.go(&format!("{}/console/sign-in", app.base_url)).await;
        self.type_into("#token", token).await;
        self.click("#sign-in").await;
        self.find("#sign-out").await;
        assert!(!self.source().await.contains(token), "the token is not in the page");
    }

    async fn sign_out(&self) {
        self.click("#sign-out").await;
        self.find("#sign-in").await;
    }
}

/// The day the test's money moves on and the app's clock for the whole test: 10:00 in Beijing
/// (02:00 UTC) two days from now. Not a fixed date in the past: the ledger stamps an entry with
/// the later of the clock and the last entry, and opening the service already wrote one at the
/// real time, so a clock set back would leave every top-up on today's date, off the bill's day.
fn today_and_now() -> (String, ledger::Timestamp) {
    use ledger::Clock as _;
    let real = chrono::DateTime::from_timestamp_micros(ledger::SystemClock.now().0).unwrap();
    let day = real.date_naive() + chrono::Days::new(2);
    let now = wallet_api::time::parse_rfc3339(&format!("{day}T02:00:00Z")).unwrap();
    (day.to_string(), now)
}

fn signed(key: &SigningKey, meter: &str, counter: u64, register: &str, read_at: &str) -> Value {
    let signature = key.sign(format!("{meter}|{counter}|{register}|{read_at}").as_bytes());
    json!({ "meter_id": meter, "counter": counter, "register": register, "read_at": read_at,
            "signature": hex::encode(signature.to_bytes()) })
}

/// A meter for the customer with three monthly readings (the third crosses into tier 2).
async fn meter_with_readings(app: &TestApp, customer: &CustomerFixture) {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let body = json!({ "serial": "BJ-CONSOLE-0001", "customer_id": customer.id,
        "public_key": hex::encode(key.verifying_key().to_bytes()), "initial_register": "0.000",
        "installed_at": "2026-01-01T00:00:00Z" });
    let meter = app.post_ok("/v1/meters", &app.admin_token, body, None, 201).await.str("id");
    let readings = vec![
        signed(&key, &meter, 1, "120.000", "2026-01-20T02:00:00Z"),
        signed(&key, &meter, 2, "260.000", "2026-02-20T02:00:00Z"),
        signed(&key, &meter, 3, "390.000", "2026-03-15T02:00:00Z"),
    ];
    let reply = app.post_ok("/v1/meter-readings", &app.admin_token, json!({ "readings": readings }), None, 200).await;
    for result in reply.json["results"].as_array().unwrap() {
        assert_eq!(result["status"], "accepted", "{}", reply.text());
    }
}

async fn topup(app: &TestApp, customer: &CustomerFixture, txn: &str, amount: &str) {
    let body = json!({ "amount": amount, "channel": "wechat", "channel_txn_id": txn });
    app.post_ok(
        &format!("/v1/wallets/{}/topups", customer.wallet_id),
        &app.admin_token,
        body,
        Some(&format!("k-{txn}")),
        201,
    )
    .await;
}

/// A WeChat Pay `ALL` bill (27 backticked columns) of payments: (time, WeChat order no., amount).
fn wechat_bill(rows: &[(&str, &str, &str)]) -> String {
    let rows: Vec<WechatPaymentRow> = rows
        .iter()
        .map(|(time, order, amount)| WechatPaymentRow {
            time: (*time).to_owned(),
            wechat_order_no: (*order).to_owned(),
            amount: amount.parse().unwrap(),
        })
        .collect();
    render_payment_bill(&rows)
}

/// A disputed service order (rated one star) for the customer.
async fn disputed_order(app: &TestApp, customer: &CustomerFixture) -> String {
    let technician =
        app.post_ok("/v1/technicians", &app.admin_token, json!({ "name": "Master Liu" }), None, 201).await.str("id");
    let technician_token = app.token("technician", Some(&technician)).await;
    let body = json!({ "service": "boiler annual service", "price": "80.00" });
    let order = app.post_ok("/v1/service-orders", &customer.token, body, Some("book-1"), 201).await.str("id");
    for step in ["accept", "complete"] {
        let reply = app.post(&format!("/v1/service-orders/{order}/{step}"), Some(&technician_token), "", None).await;
        assert_eq!(reply.status, 200, "{step}: {}", reply.text());
    }
    let rated = app
        .post(
            &format!("/v1/service-orders/{order}/rating"),
            Some(&customer.token),
            r#"{"stars":1,"comment":"still leaking"}"#,
            None,
        )
        .await;
    assert_eq!(rated.json["status"], "disputed", "{}", rated.text());
    order
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_merchant_and_finance_walk_the_console_in_chromium() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app_with_manual_clock().await;
    let (today, now) = today_and_now();
    app.clock.as_ref().unwrap().set(now);
    let customer = app.customer("Zhang Wei").await;
    topup(&app, &customer, "4200000001", "1500.00").await;
    topup(&app, &customer, "4200000002", "200.00").await;
    meter_with_readings(&app, &customer).await;
    let merchant = app.merchant("Gas appliances shop").await;
    let order = disputed_order(&app, &customer).await;
    let finance = app.token("finance", None).await;

    // The customer: wallet with the chart coloured by tier, bills, statement, a QR code.
    driver.sign_in(&app, &customer.token).await;
    driver.find("#balance").await;
    driver.screenshot("customer-wallet").await;
    let bars = driver.count("#consumption-chart svg rect.bar").await;
    assert!(bars >= 3, "one bar per month and tier, found {bars}: {}", driver.source().await);
    driver.find("#tier-progress svg").await;
    driver.screenshot("customer-wallet").await;
    driver.go(&format!("{}/console/customers/{}?lang=en", app.base_url, customer.id)).await;
    assert!(driver.text("#balance").await.contains("Balance"));
    driver.screenshot("customer-wallet-en").await;
    driver.go(&format!("{}/console/customers/{}/bills?lang=zh", app.base_url, customer.id)).await;
    driver.click("#bills tbody tr:first-child a").await;
    driver.find("#bill-lines .tier-2").await;
    driver.screenshot("customer-bill").await;
    driver.go(&format!("{}/console/customers/{}/statement", app.base_url, customer.id)).await;
    driver.find("#statement").await;
    driver.screenshot("customer-statement").await;
    driver.go(&format!("{}/console/customers/{}/payment-code", app.base_url, customer.id)).await;
    driver.click("#get-code").await;
    driver.find("#payment-qr svg").await;
    let code = driver.text("#payment-code").await;
    assert_eq!(code.len(), 18, "an 18-digit code: {code}");
    driver.screenshot("customer-payment-code").await;
    driver.sign_out().await;

    // The merchant charges the code.
    driver.sign_in(&app, &merchant.token).await;
    driver.type_into("#payment_code", &code).await;
    driver.type_into("#amount", "12.50").await;
    driver.type_into("#order_ref", "POS-0001").await;
    driver.click("#charge").await;
    assert!(driver.text("#charge-result").await.contains("12.50"));
    assert_eq!(driver.count("#payments tbody tr").await, 1);
    driver.screenshot("merchant-charge").await;
    driver.go(&format!("{}/console/merchant/settlements", app.base_url)).await;
    driver.screenshot("merchant-settlements").await;
    driver.sign_out().await;

    // Finance: a WeChat bill with a match, an overage (长款) and a missing top-up (短款).
    driver.sign_in(&app, &finance).await;
    driver.find("#liability").await;
    driver.screenshot("finance-dashboard").await;
    let bill = wechat_bill(&[
        (&format!("{today} 09:59:00"), "4200000001", "1500.00"),
        (&format!("{today} 09:30:00"), "4200000099", "20.00"),
    ]);
    let upload_dir = tempfile::tempdir().unwrap();
    let file = upload_dir.path().join("wechat-bill.csv");
    std::fs::write(&file, bill).unwrap();
    driver.go(&format!("{}/console/finance/reconciliations", app.base_url)).await;
    driver.click("#channel option[value=wechat]").await;
    driver.click("#format option[value=wechat]").await;
    driver.type_into("#statement", file.to_str().unwrap()).await;
    driver.click("#reconcile").await;
    driver.find("#buckets").await;
    let buckets = driver.text("#buckets").await;
    for bucket in ["matched", "overage", "shortage"] {
        let count = driver.text(&format!(".bucket-{bucket} td:nth-of-type(1)")).await;
        assert_eq!(count, "1", "one {bucket} line: {buckets}");
    }
    assert_eq!(driver.text("#open-breaks").await, "2", "{buckets}");
    driver.screenshot("finance-reconciliation").await;
    driver.click("#breaks tbody tr:first-child a").await;
    driver.find("#break-detail").await;
    driver.screenshot("finance-break").await;

    // The dispute queue: resolve (pay in full).
    driver.go(&format!("{}/console/finance/disputes", app.base_url)).await;
    driver.find(&format!("#order-{order}")).await;
    driver.screenshot("finance-disputes").await;
    driver.click(&format!("#order-{order} button.resolve")).await;
    driver.find("#no-disputes").await;
    let resolved = app.get_ok(&format!("/v1/service-orders/{order}"), &finance).await;
    assert_eq!(resolved["resolution"], "pay_in_full", "{resolved}");

    // Journal verify.
    driver.go(&format!("{}/console/finance/verify", app.base_url)).await;
    driver.click("#verify").await;
    assert!(driver.text("#verify-result").await.contains("账本完整"));
    driver.screenshot("finance-verify").await;

    // The other finance pages render.
    for (path, name) in [
        ("/console/finance/trial-balance", "finance-trial-balance"),
        ("/console/finance/batches", "finance-batches"),
        (&format!("/console/finance/credit?customer={}", customer.id), "finance-credit"),
    ] {
        driver.go(&format!("{}{path}", app.base_url)).await;
        driver.find("main h1").await;
        driver.screenshot(name).await;
    }
    driver.find("#score-distribution svg").await;
    driver.go(&format!("{}/console/finance/trial-balance", app.base_url)).await;
    driver.find("#balanced").await;
    driver.sign_out().await;
}
