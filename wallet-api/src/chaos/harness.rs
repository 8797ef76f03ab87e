//! What the server-level chaos experiments share: the real `gaswallet serve` as a child process
//! (killed on every path: [`ServerProcess`] kills and reaps it on drop), a small HTTP client that
//! reports connection failures as values, and the parties (customers with meters, merchants, a
//! concentrator) every experiment sets up through the API.

use anyhow::{bail, Context};
use ed25519_dalek::{Signer, SigningKey};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rand::Rng;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a started (or restarted) server may take to answer `/healthz`: it replays the whole
/// journal first, and a debug build on a busy 2-core machine is slow.
pub const SERVER_READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the client waits for one answer before it counts the request as unanswered.
pub const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts at starting a server when the port picked turns out to be taken meanwhile.
const SERVER_START_ATTEMPTS_MAX: u32 = 3;
/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";
/// Meters are installed this long before the experiment starts, so readings (one simulated minute
/// apart) stay in the past for months of simulated time.
const METER_INSTALLED_DAYS_AGO: i64 = 200;
/// Simulated time between two readings of one meter.
pub const READING_INTERVAL_SECONDS: i64 = 60;
/// Gas one meter registers per reading interval (0.6 m³/h, well under any meter's maximum flow).
pub const READING_VOLUME_LITRES: i64 = 10;

/// A `gaswallet serve` child process. Dropping it sends SIGKILL and reaps it, so no path (an error,
/// a failed assertion in a test) leaves a server behind.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pub address: SocketAddr,
    pub data: PathBuf,
}

impl ServerProcess {
    /// Starts `binary serve --data DATA --listen 127.0.0.1:PORT` with `GAS_ADMIN_TOKEN` set and
    /// waits until `/healthz` answers 200. The server's log (stderr) goes to `DATA.server.log`.
    pub async fn start(binary: &Path, data: &Path, admin_token: &str) -> anyhow::Result<ServerProcess> {
        ServerProcess::start_with_log(binary, data, admin_token, &data.with_extension("server.log")).await
    }

    /// [`ServerProcess::start`] with the log somewhere else (off a file system the test fills up).
    pub async fn start_with_log(
        binary: &Path,
        data: &Path,
        admin_token: &str,
        log_path: &Path,
    ) -> anyhow::Result<ServerProcess> {
        let mut last_error = None;
        for _ in 0..SERVER_START_ATTEMPTS_MAX {
            match ServerProcess::start_once(binary, data, admin_token, log_path).await {
                Ok(server) => return Ok(server),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("the server did not start")))
    }

    async fn start_once(
        binary: &Path,
        data: &Path,
        admin_token: &str,
        log_path: &Path,
    ) -> anyhow::Result<ServerProcess> {
        let port = free_port()?;
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        if let Some(parent) = log_path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let child = Command::new(binary)
            .arg("serve")
            .arg("--data")
            .arg(data)
            .arg("--listen")
            .arg(address.to_string())
            .env(crate::serve::ADMIN_TOKEN_ENV, admin_token)
            .env("RUST_LOG", std::env::var("CHAOS_SERVER_LOG").unwrap_or_else(|_| String::from("warn")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut server = ServerProcess { child, address, data: data.to_owned() };
        let client = Api::new(address);
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!("the server exited during start-up ({status}); see {}", log_path.display());
            }
            if let Ok(answer) = client.call("GET", "/healthz", None, None, None).await {
                if answer.status == 200 {
                    return Ok(server);
                }
            }
            if started.elapsed() > SERVER_READY_TIMEOUT {
                bail!("the server did not answer /healthz within {SERVER_READY_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reap.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        // An already exited child makes `kill` fail; what matters is that it is gone and reaped.
        let _ = self.child.kill();
        self.child.wait().context("reaping the killed server")?;
        Ok(())
    }

    /// The child's resident set size in KiB, from `/proc/<pid>/status` (Linux).
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` of a process in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn free_port() -> anyhow::Result<u16> {
    // The port is free now; another process could take it before the server binds, which the
    // start-up loop survives by trying again.
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A random admin token for the child server.
pub fn new_admin_token(random: &mut impl Rng) -> String {
    let secret: [u8; 24] = random.gen();
    format!("chaos_{}", hex::encode(secret))
}

/// What the server answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Bytes,
    /// The body as JSON, or `Value::Null`.
    pub json: Value,
    pub elapsed: Duration,
}

impl Answer {
    /// The problem code of an error answer (empty when there is none).
    pub fn code(&self) -> &str {
        self.json.get("code").and_then(Value::as_str).unwrap_or_default()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A string member of the JSON body.
    pub fn field(&self, name: &str) -> anyhow::Result<String> {
        match self.json.get(name).and_then(Value::as_str) {
            Some(value) => Ok(value.to_owned()),
            None => bail!("answer {} has no string {name:?}: {}", self.status, self.text()),
        }
    }
}

/// A pooled HTTP/1.1 client for one server address.
#[derive(Debug, Clone)]
pub struct Api {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    timeout: Duration,
}

impl Api {
    pub fn new(address: SocketAddr) -> Api {
        Api::with_timeout(address, CLIENT_REQUEST_TIMEOUT)
    }

    /// A client that gives up on an answer after `timeout`.
    pub fn with_timeout(address: SocketAddr, timeout: Duration) -> Api {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Api {
            client: Client::builder(TokioExecutor::new()).build::<_, Full<Bytes>>(connector),
            base: format!("http://{address}"),
            timeout,
        }
    }

    /// A client for the same server with a pool of its own (no connection shared with `self`).
    pub fn fresh(&self) -> Api {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Api {
            client: Client::builder(TokioExecutor::new()).build::<_, Full<Bytes>>(connector),
            base: self.base.clone(),
            timeout: self.timeout,
        }
    }

    /// Sends one request. `Err` means no answer: the connection failed or the client timed out.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        idempotency_key: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Answer> {
        let mut builder = hyper::Request::builder().method(method).uri(format!("{}{path}", self.base));
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        if let Some(key) = idempotency_key {
            builder = builder.header("idempotency-key", key);
        }
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let request = builder.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let started = Instant::now();
        let response = tokio::time::timeout(self.timeout, async {
            let response = self.client.request(request).await?;
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, content_type, body))
        })
        .await
        .map_err(|_| anyhow::anyhow!("{method} {path}: no answer within {:?}", self.timeout))??;
        let (status, content_type, body) = response;
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok(Answer { status, content_type, body, json, elapsed: started.elapsed() })
    }

    /// `POST` with a JSON body.
    pub async fn post(&self, path: &str, token: &str, key: Option<&str>, body: &Value) -> anyhow::Result<Answer> {
        self.call("POST", path, Some(token), key, Some(body.to_string().into_bytes())).await
    }

    pub async fn get(&self, path: &str, token: &str) -> anyhow::Result<Answer> {
        self.call("GET", path, Some(token), None, None).await
    }

    /// A request that must answer `expected`; its JSON.
    pub async fn expect_status(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
        expected: u16,
    ) -> anyhow::Result<Value> {
        let answer = self.call(method, path, Some(token), None, body.map(|body| body.to_string().into_bytes())).await?;
        if answer.status != expected {
            bail!("{method} {path}: expected {expected}, got {}: {}", answer.status, answer.text());
        }
        Ok(answer.json)
    }

    /// Every item of a paged list (`items` and `next_cursor`), following the cursor to the end.
    pub async fn all_items(&self, path: &str, token: &str) -> anyhow::Result<Vec<Value>> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page_path = match &cursor {
                Some(cursor) => format!("{path}{separator}limit=500&cursor={cursor}"),
                None => format!("{path}{separator}limit=500"),
            };
            let page = self.expect_status("GET", &page_path, token, None, 200).await?;
            items.extend(page.get("items").and_then(Value::as_array).cloned().unwrap_or_default());
            match page.get("next_cursor").and_then(Value::as_str) {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(items),
            }
        }
    }

    /// `POST /v1/ledger/verify` said ok, and the trial balance is balanced.
    pub async fn ledger_checks(&self, admin_token: &str) -> anyhow::Result<LedgerChecks> {
        let trial_balanced = self.trial_balanced(admin_token).await?;
        let verify = self.call("POST", "/v1/ledger/verify", Some(admin_token), None, None).await?;
        let verify_ok = verify.status == 200 && verify.json.get("ok").and_then(Value::as_bool) == Some(true);
        let verify_timed_out = verify.status == 503 && verify.code() == "timeout";
        if !verify_ok && !verify_timed_out {
            eprintln!("VERIFY FAILED: {} {}", verify.status, verify.text());
        }
        let entries_checked = verify.json.get("entries_checked").and_then(Value::as_u64).unwrap_or(0);
        Ok(LedgerChecks { verify_ok, verify_timed_out, trial_balanced, entries_checked })
    }
}

impl Api {
    /// `GET /v1/reports/trial-balance` says balanced.
    pub async fn trial_balanced(&self, admin_token: &str) -> anyhow::Result<bool> {
        let trial = self.call("GET", "/v1/reports/trial-balance", Some(admin_token), None, None).await?;
        let balanced = trial.status == 200 && find_bool(&trial.json, "balanced") == Some(true);
        if !balanced {
            eprintln!("TRIAL BALANCE NOT BALANCED: {} {}", trial.status, trial.text());
        }
        Ok(balanced)
    }
}

/// The outcome of the ledger-wide checks.
#[derive(Debug, Clone, Copy)]
pub struct LedgerChecks {
    pub verify_ok: bool,
    /// `POST /v1/ledger/verify` ran past the server's request timeout (a long journal on a slow
    /// build): inconclusive, the offline `gaswallet verify` decides.
    pub verify_timed_out: bool,
    pub trial_balanced: bool,
    pub entries_checked: u64,
}

/// The first boolean member named `name` anywhere in a JSON document.
pub fn find_bool(value: &Value, name: &str) -> Option<bool> {
    match value {
        Value::Object(map) => {
            map.get(name).and_then(Value::as_bool).or_else(|| map.values().find_map(|inner| find_bool(inner, name)))
        }
        Value::Array(items) => items.iter().find_map(|inner| find_bool(inner, name)),
        _ => None,
    }
}

/// A customer with a wallet, a customer token and a meter whose key the experiment holds.
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: String,
    pub wallet_id: String,
    pub token: String,
    pub meter_id: String,
    pub meter_key: SigningKey,
    /// Microseconds since the epoch at which the meter was installed (register 0).
    pub installed_at_micros: i64,
}

impl Customer {
    /// The meter's reading number `counter`: register and time grow with the counter, so readings
    /// sent in counter order are always plausible. Signed as API.md says.
    pub fn reading(&self, counter: u64) -> Value {
        let register = format!("{:.3}", Decimal::new(READING_VOLUME_LITRES * counter as i64, 3));
        let micros = self.installed_at_micros + READING_INTERVAL_SECONDS * 1_000_000 * counter as i64;
        let read_at = crate::time::format_rfc3339(ledger::Timestamp(micros));
        let message = format!("{}|{counter}|{register}|{read_at}", self.meter_id);
        let signature = self.meter_key.sign(message.as_bytes());
        json!({
            "meter_id": self.meter_id,
            "counter": counter,
            "register": register,
            "read_at": read_at,
            "signature": hex::encode(signature.to_bytes()),
        })
    }
}

/// A merchant and its token.
#[derive(Debug, Clone)]
pub struct Merchant {
    pub id: String,
    pub token: String,
}

/// Everyone an experiment acts as.
#[derive(Debug, Clone)]
pub struct Parties {
    pub admin_token: String,
    pub customers: Vec<Customer>,
    pub merchants: Vec<Merchant>,
    pub concentrator_token: String,
    pub technician_id: String,
    pub technician_token: String,
    pub finance_token: String,
}

async fn token(api: &Api, admin_token: &str, role: &str, subject: Option<&str>) -> anyhow::Result<String> {
    let body = match subject {
        Some(subject) => json!({ "role": role, "subject_id": subject }),
        None => json!({ "role": role }),
    };
    let created = api.expect_status("POST", "/v1/tokens", admin_token, Some(&body), 201).await?;
    created.get("token").and_then(Value::as_str).map(str::to_owned).context("token in answer")
}

fn id_of(value: &Value) -> anyhow::Result<String> {
    value.get("id").and_then(Value::as_str).map(str::to_owned).with_context(|| format!("no id in {value}"))
}

/// Creates `customers` customers (each funded with `funding` CNY and given a meter) and
/// `merchants` merchants, a concentrator, a technician and a finance token, all over HTTP.
pub async fn set_up_parties(
    api: &Api,
    admin_token: &str,
    customers: usize,
    merchants: usize,
    funding: &str,
    random: &mut impl Rng,
) -> anyhow::Result<Parties> {
    let now_micros = ledger::Clock::now(&ledger::SystemClock).0;
    let installed_at_micros = (now_micros / 1_000_000 - METER_INSTALLED_DAYS_AGO * 86_400) * 1_000_000;
    let mut made_customers = Vec::with_capacity(customers);
    for number in 0..customers {
        let created = api
            .expect_status(
                "POST",
                "/v1/customers",
                admin_token,
                Some(&json!({ "name": format!("Chaos customer {number}") })),
                201,
            )
            .await?;
        let id = id_of(&created)?;
        let wallet_id =
            created.get("wallet_id").and_then(Value::as_str).map(str::to_owned).context("wallet_id in answer")?;
        let customer_token = token(api, admin_token, "customer", Some(&id)).await?;
        let meter_key = SigningKey::from_bytes(&random.gen::<[u8; 32]>());
        let meter = api
            .expect_status(
                "POST",
                "/v1/meters",
                admin_token,
                Some(&json!({
                    "serial": format!("CH-{}", hex::encode(random.gen::<[u8; 8]>())),
                    "customer_id": id,
                    "public_key": hex::encode(meter_key.verifying_key().to_bytes()),
                    "initial_register": "0.000",
                    "installed_at": crate::time::format_rfc3339(ledger::Timestamp(installed_at_micros)),
                })),
                201,
            )
            .await?;
        let topup = json!({ "amount": funding, "channel": "bank", "channel_txn_id": format!("fund-{}", wallet_id) });
        let funded = api
            .post(&format!("/v1/wallets/{wallet_id}/topups"), admin_token, Some(&format!("fund-{wallet_id}")), &topup)
            .await?;
        if funded.status != 201 {
            bail!("funding {wallet_id}: {} {}", funded.status, funded.text());
        }
        made_customers.push(Customer {
            id,
            wallet_id,
            token: customer_token,
            meter_id: id_of(&meter)?,
            meter_key,
            installed_at_micros,
        });
    }
    let mut made_merchants = Vec::with_capacity(merchants);
    for number in 0..merchants {
        let created = api
            .expect_status(
                "POST",
                "/v1/merchants",
                admin_token,
                Some(&json!({ "name": format!("Chaos merchant {number}"), "fee_rate": "0.006" })),
                201,
            )
            .await?;
        let id = id_of(&created)?;
        let merchant_token = token(api, admin_token, "merchant", Some(&id)).await?;
        made_merchants.push(Merchant { id, token: merchant_token });
    }
    let concentrator = api
        .expect_status("POST", "/v1/concentrators", admin_token, Some(&json!({ "name": "Chaos gateway" })), 201)
        .await?;
    let concentrator_token = token(api, admin_token, "concentrator", Some(&id_of(&concentrator)?)).await?;
    let technician = api
        .expect_status("POST", "/v1/technicians", admin_token, Some(&json!({ "name": "Chaos technician" })), 201)
        .await?;
    let technician_id = id_of(&technician)?;
    let technician_token = token(api, admin_token, "technician", Some(&technician_id)).await?;
    let finance_token = token(api, admin_token, "finance", None).await?;
    Ok(Parties {
        admin_token: admin_token.to_owned(),
        customers: made_customers,
        merchants: made_merchants,
        concentrator_token,
        technician_id,
        technician_token,
        finance_token,
    })
}

/// `fen` as a CNY decimal string (`1234` → `"12.34"`).
pub fn cny(fen: i64) -> String {
    format!("{:.2}", Decimal::new(fen, 2))
}

/// Runs `binary verify --data DATA --json` on a stopped server's data directory: the offline check.
pub fn offline_verify(binary: &Path, data: &Path) -> anyhow::Result<bool> {
    let output = Command::new(binary)
        .args(["verify", "--json", "--data"])
        .arg(data)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} verify", binary.display()))?;
    if !output.status.success() {
        eprintln!(
            "OFFLINE VERIFY FAILED: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output.status.success())
}
