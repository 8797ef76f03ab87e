//! The simulator's HTTP client: JSON requests with a bearer token and an optional
//! Idempotency-Key, over a pooled keep-alive hyper client, and a helper that runs many requests
//! with a bounded number in flight while keeping the answers in the order they were asked.

use anyhow::{bail, Context};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Method;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How long one request may take before the simulation gives up.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// What the server answered: the status and the body parsed as JSON (`Null` when it is not).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub json: Value,
}

impl Reply {
    /// `json[field]` as a string.
    pub fn text(&self, field: &str) -> anyhow::Result<String> {
        match self.json.get(field).and_then(Value::as_str) {
            Some(text) => Ok(text.to_owned()),
            None => bail!("the answer has no string {field:?}: {} {}", self.status, self.json),
        }
    }

    /// Fails unless the status is `expected`.
    pub fn expect_status(self, expected: u16, what: &str) -> anyhow::Result<Reply> {
        if self.status != expected {
            bail!("{what}: expected {expected}, got {} {}", self.status, self.json);
        }
        Ok(self)
    }
}

/// A client for one server.
#[derive(Debug, Clone)]
pub struct Api {
    base_url: String,
    client: Client<HttpConnector, Full<Bytes>>,
    pub admin_token: String,
}

impl Api {
    /// `base_url` is `http://host:port` (no trailing slash).
    pub fn new(base_url: &str, admin_token: String) -> anyhow::Result<Api> {
        let base_url = base_url.trim_end_matches('/').to_owned();
        if !base_url.starts_with("http://") {
            bail!("--target must be an http:// URL (got {base_url:?})");
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(64).build(connector);
        Ok(Api { base_url, client, admin_token })
    }

    /// Sends one request; a 5xx is an error (the server must never answer one to a well-formed
    /// request), every other status is handed back.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<String>,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<Reply> {
        let mut builder = hyper::Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base_url))
            .header("authorization", format!("Bearer {token}"));
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        if let Some(key) = idempotency_key {
            builder = builder.header("idempotency-key", key);
        }
        let request = builder.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(request))
            .await
            .with_context(|| format!("{method} {path}: no answer within {REQUEST_TIMEOUT:?}"))?
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.with_context(|| format!("{method} {path}: body"))?.to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status >= 500 {
            bail!("{method} {path} answered {status}: {}", String::from_utf8_lossy(&bytes));
        }
        Ok(Reply { status, json })
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value, key: Option<&str>) -> anyhow::Result<Reply> {
        self.call(Method::POST, path, token, Some(body.to_string()), key).await
    }

    /// A POST with a body already serialised (reading batches are built as text).
    pub async fn post_text(&self, path: &str, token: &str, body: String) -> anyhow::Result<Reply> {
        self.call(Method::POST, path, token, Some(body), None).await
    }

    pub async fn get(&self, path: &str, token: &str) -> anyhow::Result<Reply> {
        self.call(Method::GET, path, token, None, None).await
    }

    /// A GET that must answer 200; the JSON.
    pub async fn get_ok(&self, path: &str, token: &str) -> anyhow::Result<Value> {
        Ok(self.get(path, token).await?.expect_status(200, &format!("GET {path}"))?.json)
    }
}

/// Runs `work` on every item with at most `in_flight` running at once; the outputs come back in
/// the order of the items, whatever order they finished in (so what the simulation does next does
/// not depend on scheduling).
pub async fn concurrently<T, R, F, Fut>(items: Vec<T>, in_flight: usize, work: F) -> anyhow::Result<Vec<R>>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<R>> + Send + 'static,
{
    let work = Arc::new(work);
    let semaphore = Arc::new(tokio::sync::Semaphore::new(in_flight.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let count = items.len();
    for (index, item) in items.into_iter().enumerate() {
        let permit = Arc::clone(&semaphore).acquire_owned().await?;
        let work = Arc::clone(&work);
        tasks.spawn(async move {
            let output = work(item).await;
            drop(permit);
            (index, output)
        });
    }
    let mut outputs: Vec<Option<R>> = (0..count).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (index, output) = joined.context("a simulation task failed")?;
        if let Some(slot) = outputs.get_mut(index) {
            *slot = Some(output?);
        }
    }
    outputs.into_iter().map(|output| output.context("a simulation task gave no answer")).collect()
}
