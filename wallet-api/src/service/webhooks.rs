//! Webhooks: registered HTTP(S) endpoints receive the events their owner may see, in commit
//! order, signed with the engine's ed25519 key, at least once, with retries.
//!
//! Each delivery is `POST <url>` with the event as JSON and the headers
//! `Gaswallet-Event-Id`, `Gaswallet-Timestamp` (Unix seconds) and
//! `Gaswallet-Signature: ed25519=<128 hex>` over the bytes
//! `gaswallet.webhook.v1\n<timestamp>\n<body>`; `docs/webhooks.md` shows how to verify it.
//! A non-2xx answer or a network error retries the same event with exponential backoff; events
//! to one endpoint are never reordered. Progress is recorded in the journal every
//! [`PROGRESS_EVERY_EVENTS`] deliveries (and when a pass ends), so after a restart an endpoint may
//! see a few events again: receivers deduplicate by event id.

use super::error::{ErrorClass, ServiceError};
use super::ids;
use super::model::{Principal, Role};
use super::notes;
use super::{event_json, Service};
use ed25519_dalek::{Signer, SigningKey};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use ledger::Command;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Most endpoints one principal may register.
pub const WEBHOOKS_PER_PRINCIPAL_MAX: usize = 10;
/// Longest endpoint URL.
pub const WEBHOOK_URL_BYTES_MAX: usize = 2048;
/// How long one delivery may take.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// First and longest wait before retrying a failed delivery.
pub const RETRY_BACKOFF_FIRST: Duration = Duration::from_secs(1);
pub const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// How often the deliverer looks for new events.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Most events one endpoint gets per pass.
pub const EVENTS_PER_PASS_MAX: usize = 100;
/// Deliveries between progress records in the journal.
pub const PROGRESS_EVERY_EVENTS: u64 = 50;
/// Domain separation for webhook signatures.
pub const SIGNATURE_DOMAIN: &str = "gaswallet.webhook.v1";

/// The bytes a webhook signature covers.
pub fn signed_message(timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut message = format!("{SIGNATURE_DOMAIN}\n{timestamp}\n").into_bytes();
    message.extend_from_slice(body);
    message
}

fn check_url(url: &str) -> Result<hyper::Uri, ServiceError> {
    let invalid = |detail: &str| ServiceError::new(ErrorClass::Unprocessable, "invalid_url", detail.to_owned());
    if url.len() > WEBHOOK_URL_BYTES_MAX {
        return Err(invalid("the URL is too long"));
    }
    let uri: hyper::Uri = url.parse().map_err(|_| invalid("not a URL"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(invalid("the URL must start with http:// or https://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host"));
    }
    Ok(uri)
}

impl Service {
    /// Registers an endpoint for the events the caller may see.
    pub async fn register_webhook(&self, principal: &Principal, url: &str) -> Result<Uuid, ServiceError> {
        check_url(url)?;
        if principal.role == Role::Technician || principal.role == Role::Concentrator {
            return Err(ServiceError::forbidden("this role has no events to deliver"));
        }
        let owned = self
            .projection()
            .read()
            .webhooks
            .iter()
            .filter(|webhook| webhook.owner.role == principal.role && webhook.owner.subject_id == principal.subject_id)
            .count();
        if owned >= WEBHOOKS_PER_PRINCIPAL_MAX {
            return Err(ServiceError::new(
                ErrorClass::Unprocessable,
                "too_many_webhooks",
                format!("at most {WEBHOOKS_PER_PRINCIPAL_MAX} endpoints per principal"),
            ));
        }
        let id = Uuid::new_v4();
        let note = notes::WebhookRegistered {
            id,
            url: url.to_owned(),
            role: principal.role,
            subject_id: principal.subject_id,
        };
        let command = Command::Note {
            id: ids::note_for(id, "webhook"),
            kind: notes::WEBHOOK_REGISTERED.into(),
            payload: notes::encode(&note),
        };
        match self.submit_one(command).await? {
            Ok(_) => Ok(id),
            Err(rejection) => Err(super::error::from_rejection(&rejection)),
        }
    }

    async fn record_webhook_progress(&self, webhook: Uuid, delivered_through: u64) {
        let note = notes::WebhookProgress { webhook_id: webhook, delivered_through };
        let command = Command::Note {
            id: ids::note_for(
                ids::operation(ids::note_for(webhook, "progress"), &delivered_through.to_string()),
                "progress",
            ),
            kind: notes::WEBHOOK_PROGRESS.into(),
            payload: notes::encode(&note),
        };
        if let Err(error) = self.submit_one(command).await {
            // Progress is an optimisation: losing it means some events are delivered again.
            tracing::warn!(%error, %webhook, "recording webhook progress failed");
        }
    }
}

/// Per-endpoint delivery state (in memory; progress is also in the journal).
#[derive(Debug, Clone)]
struct EndpointState {
    delivered_through: u64,
    recorded_through: u64,
    failures: u32,
    next_attempt: Instant,
}

/// Delivers events to every registered endpoint until `shutdown` fires.
pub async fn run_deliveries(
    service: Arc<Service>,
    signing_key: SigningKey,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let https = hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots().https_or_http().enable_http1().build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let mut endpoints: HashMap<Uuid, EndpointState> = HashMap::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
        if *shutdown.borrow() {
            break;
        }
        let webhooks = service.projection().read().webhooks.clone();
        for webhook in webhooks {
            let recorded = service.projection().read().webhook_progress.get(&webhook.id).copied().unwrap_or(0);
            let state = endpoints.entry(webhook.id).or_insert_with(|| EndpointState {
                delivered_through: recorded,
                recorded_through: recorded,
                failures: 0,
                next_attempt: Instant::now(),
            });
            if Instant::now() < state.next_attempt {
                continue;
            }
            let (events, _) = service.events(&webhook.owner, state.delivered_through, EVENTS_PER_PASS_MAX);
            for event in events {
                let body = serde_json::to_vec(&event_json(&event)).unwrap_or_default();
                let timestamp = service.now().0 / 1_000_000;
                let signature = signing_key.sign(&signed_message(timestamp, &body));
                let request = hyper::Request::post(webhook.url.as_str())
                    .header("content-type", "application/json")
                    .header("gaswallet-event-id", event.sequence.to_string())
                    .header("gaswallet-timestamp", timestamp.to_string())
                    .header("gaswallet-signature", format!("ed25519={}", hex::encode(signature.to_bytes())))
                    .body(Full::new(Bytes::from(body)));
                let delivered = match request {
                    Ok(request) => match tokio::time::timeout(DELIVERY_TIMEOUT, client.request(request)).await {
                        Ok(Ok(response)) => {
                            let success = response.status().is_success();
                            // Drain the body so the connection can be reused.
                            let _ = response.into_body().collect().await;
                            success
                        }
                        Ok(Err(error)) => {
                            tracing::info!(%error, webhook = %webhook.id, "webhook delivery failed");
                            false
                        }
                        Err(_) => false,
                    },
                    Err(_) => false,
                };
                if delivered {
                    state.delivered_through = event.sequence;
                    state.failures = 0;
                } else {
                    state.failures = state.failures.saturating_add(1);
                    let backoff = RETRY_BACKOFF_FIRST.saturating_mul(1u32 << state.failures.min(16).saturating_sub(1));
                    state.next_attempt = Instant::now() + backoff.min(RETRY_BACKOFF_MAX);
                    break;
                }
                if state.delivered_through >= state.recorded_through + PROGRESS_EVERY_EVENTS {
                    service.record_webhook_progress(webhook.id, state.delivered_through).await;
                    state.recorded_through = state.delivered_through;
                }
            }
            if state.delivered_through > state.recorded_through {
                service.record_webhook_progress(webhook.id, state.delivered_through).await;
                state.recorded_through = state.delivered_through;
            }
        }
    }
}
