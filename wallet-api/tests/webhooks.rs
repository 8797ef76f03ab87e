//! Webhook delivery against a real receiver on loopback: signed, retried after a failure, in order.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wallet_api::service::webhooks::{run_deliveries, signed_message};
use wallet_api::service::IdempotencyRequest;

#[derive(Default)]
struct Received {
    attempts: usize,
    deliveries: Vec<(HeaderMap, Vec<u8>)>,
}

async fn receive(
    State(received): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let mut received = received.lock().unwrap();
    received.attempts += 1;
    // The first attempt fails, so the deliverer must retry the same event.
    if received.attempts == 1 {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    received.deliveries.push((headers, body.to_vec()));
    StatusCode::NO_CONTENT
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_delivered_signed_in_order_and_retried() {
    let received = Arc::new(Mutex::new(Received::default()));
    let receiver = axum::Router::new().route("/hook", post(receive)).with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver_address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let data = tempfile::tempdir().unwrap();
    let (service, _) = wallet_api::serve::open_service(data.path()).await.unwrap();
    let admin_token = std::fs::read_to_string(data.path().join("admin.token")).unwrap();
    let admin = service.authenticate(admin_token.trim()).unwrap();
    let customer = service.register_customer("Zhang Wei", None, None, None, None).await.unwrap();
    let wallet_id: uuid::Uuid = customer.body["wallet_id"].as_str().unwrap().parse().unwrap();
    service.register_webhook(&admin, &format!("http://{receiver_address}/hook")).await.unwrap();
    assert_eq!(service.register_webhook(&admin, "ftp://example.org/x").await.unwrap_err().code, "invalid_url");

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let deliverer = tokio::spawn(run_deliveries(service.clone(), service.signing_key().clone(), stopped));
    for number in 1..=3 {
        let request = IdempotencyRequest::new(&admin, &format!("topup-{number}"), "POST", "/topups", b"{}");
        service
            .topup(
                &admin,
                wallet_id,
                rust_decimal::Decimal::new(1000 * number, 2),
                "alipay",
                &format!("2026{number}"),
                &request,
            )
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while received.lock().unwrap().deliveries.len() < 3 {
        assert!(std::time::Instant::now() < deadline, "webhooks were not delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    deliverer.await.unwrap();

    let public_key =
        VerifyingKey::from_bytes(&hex::decode(service.public_key_hex()).unwrap().try_into().unwrap()).unwrap();
    let received = received.lock().unwrap();
    assert!(received.attempts >= 4, "the failed first attempt was retried");
    let mut previous_id = 0u64;
    for (headers, body) in &received.deliveries {
        let timestamp: i64 = headers["gaswallet-timestamp"].to_str().unwrap().parse().unwrap();
        let signature_hex = headers["gaswallet-signature"].to_str().unwrap().strip_prefix("ed25519=").unwrap();
        let signature = Signature::from_bytes(&hex::decode(signature_hex).unwrap().try_into().unwrap());
        public_key.verify(&signed_message(timestamp, body), &signature).expect("signature verifies");
        let mut tampered = body.clone();
        tampered[0] ^= 1;
        assert!(public_key.verify(&signed_message(timestamp, &tampered), &signature).is_err());
        let event: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(event["type"], "topup_posted");
        let id: u64 = event["id"].as_str().unwrap().parse().unwrap();
        assert!(id > previous_id, "events arrive in commit order");
        previous_id = id;
    }
}
