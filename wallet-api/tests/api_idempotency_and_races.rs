//! Idempotency-Key semantics end to end, and concurrency: same key + same body replays the first
//! answer byte for byte and posts nothing twice; same key + other body is 409; rejections replay
//! too; keys are scoped per principal. Many concurrent payments against one wallet never overdraw
//! it, and concurrent identical requests post once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_problem, spawn_app, unique, Reply, TestApp};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

/// Everything a replay must leave alone (the journal included: a replay writes nothing).
async fn state(app: &TestApp, wallets: &[&str], payments: &[&str]) -> Value {
    let mut balances = Vec::new();
    for wallet in wallets {
        balances.push(app.balance(wallet).await);
    }
    let mut refunded = Vec::new();
    for payment in payments {
        refunded.push(app.get_ok(&format!("/v1/payments/{payment}"), &app.admin_token).await["refunded"].clone());
    }
    json!({
        "balances": balances,
        "refunded": refunded,
        "events": app.events(&app.admin_token).await.len(),
        "journal_sequence": app.journal_sequence().await,
    })
}

/// One idempotent request.
#[derive(Debug, Clone)]
struct Request {
    name: &'static str,
    path: String,
    token: String,
    body: String,
    key: String,
}

impl Request {
    fn new(name: &'static str, path: String, token: &str, body: Value) -> Request {
        Request { name, path, token: token.to_owned(), body: body.to_string(), key: unique("idem") }
    }

    async fn send(&self, app: &TestApp) -> Reply {
        app.post(&self.path, Some(&self.token), &self.body, Some(&self.key)).await
    }
}

/// The boundary for replays: the same status and the same bytes as the first answer, and nothing
/// changed by the replay.
async fn check_replay(app: &TestApp, request: &Request, first: &Reply, wallets: &[&str], payments: &[&str]) {
    let before = state(app, wallets, payments).await;
    for attempt in 1..=2 {
        let again = request.send(app).await;
        assert_eq!(again.status, first.status, "{} replay {attempt}: {}", request.name, again.text());
        assert_eq!(again.content_type, first.content_type, "{} replay {attempt}", request.name);
        assert_eq!(again.json, first.json, "{} replay {attempt}", request.name);
        assert_eq!(again.body, first.body, "{} replay {attempt}: not byte for byte", request.name);
    }
    assert_eq!(state(app, wallets, payments).await, before, "{}: a replay changed something", request.name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_key_and_body_replays_the_first_answer_and_posts_nothing_twice() {
    let app = spawn_app().await;
    let customer = app.customer("Replayer").await;
    let merchant = app.merchant("Replay Shop").await;
    let admin = app.admin_token.clone();
    let code = app.payment_code(&customer).await;

    let topup = Request::new(
        "topup",
        format!("/v1/wallets/{}/topups", customer.wallet_id),
        &admin,
        json!({ "amount": "100.00", "channel": "alipay", "channel_txn_id": unique("ali") }),
    );
    let payment = Request::new(
        "payment",
        "/v1/payments".into(),
        &merchant.token,
        json!({ "payment_code": code, "amount": "40.00", "order_ref": "replayed-order" }),
    );
    let mut requests = vec![topup, payment];
    let mut firsts = Vec::new();
    for request in &requests {
        let first = request.send(&app).await;
        assert_eq!(first.status, 201, "{}: {}", request.name, first.text());
        firsts.push(first);
    }
    let payment_id = firsts[1].str("id");
    let refund = Request::new(
        "refund",
        format!("/v1/payments/{payment_id}/refunds"),
        &merchant.token,
        json!({ "amount": "15.00" }),
    );
    let more = [
        refund,
        Request::new("customer with a key", "/v1/customers".into(), &admin, json!({ "name": "Keyed Customer" })),
        Request::new(
            "merchant with a key",
            "/v1/merchants".into(),
            &admin,
            json!({ "name": "Keyed", "fee_rate": "0.01" }),
        ),
        Request::new(
            "payment code with a key",
            format!("/v1/wallets/{}/payment-codes", customer.wallet_id),
            &customer.token,
            json!({ "max_amount": "9.99" }),
        ),
    ];
    for request in more {
        let first = request.send(&app).await;
        assert_eq!(first.status, 201, "{}: {}", request.name, first.text());
        firsts.push(first);
        requests.push(request);
    }
    assert_eq!(app.balance(&customer.wallet_id).await, "75.00");

    let wallets = [customer.wallet_id.as_str()];
    let payments = [payment_id.as_str()];
    for (request, first) in requests.iter().zip(&firsts) {
        check_replay(&app, request, first, &wallets, &payments).await;
    }
    // The first answer stays the answer after the world moved on: more money in, a full refund.
    app.fund(&customer.wallet_id, "1.00").await;
    app.post_ok(
        &format!("/v1/payments/{payment_id}/refunds"),
        &merchant.token,
        json!({ "amount": "25.00" }),
        Some(&unique("r")),
        201,
    )
    .await;
    for (request, first) in requests.iter().zip(&firsts) {
        check_replay(&app, request, first, &wallets, &payments).await;
    }
    assert_eq!(app.balance(&customer.wallet_id).await, "101.00");
    let types: Vec<Value> = app.events(&admin).await.iter().map(|event| event["type"].clone()).collect();
    assert_eq!(
        types,
        [
            json!("topup_posted"),
            json!("payment_posted"),
            json!("refund_posted"),
            json!("topup_posted"),
            json!("refund_posted")
        ],
        "each operation posted once"
    );
    app.assert_ledger_verifies().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_key_with_another_body_is_a_conflict_that_moves_nothing() {
    let app = spawn_app().await;
    let customer = app.customer("Conflicted").await;
    let other = app.customer("Other").await;
    let merchant = app.merchant("Conflict Shop").await;
    let admin = app.admin_token.clone();
    app.fund(&customer.wallet_id, "50.00").await;
    let payment_id = app.paid(&merchant, &customer, "20.00").await;
    let codes =
        [app.payment_code(&customer).await, app.payment_code(&customer).await, app.payment_code(&customer).await];

    let topups = |wallet: &str| format!("/v1/wallets/{wallet}/topups");
    let (txn_a, txn_b) = (unique("wx"), unique("wx"));
    let topup = |amount: &str, txn: &str| json!({ "amount": amount, "channel": "wechat", "channel_txn_id": txn });
    let pay = |code: &str, amount: &str| json!({ "payment_code": code, "amount": amount, "order_ref": "o-9" });
    let refunds = format!("/v1/payments/{payment_id}/refunds");
    // (name, token, first path, first body, second path, second body); the second reuses the key.
    let cases: Vec<(&str, &str, String, Value, String, Value)> = vec![
        (
            "topup: other amount",
            &admin,
            topups(&customer.wallet_id),
            topup("10.00", &txn_a),
            topups(&customer.wallet_id),
            topup("10.01", &txn_a),
        ),
        (
            "topup: other wallet",
            &admin,
            topups(&customer.wallet_id),
            topup("10.00", &txn_b),
            topups(&other.wallet_id),
            topup("10.00", &txn_b),
        ),
        (
            "payment: other amount",
            &merchant.token,
            "/v1/payments".into(),
            pay(&codes[0], "1.00"),
            "/v1/payments".into(),
            pay(&codes[0], "2.00"),
        ),
        (
            "payment: other code",
            &merchant.token,
            "/v1/payments".into(),
            pay(&codes[1], "1.00"),
            "/v1/payments".into(),
            pay(&codes[0], "1.00"),
        ),
        (
            "refund: other amount",
            &merchant.token,
            refunds.clone(),
            json!({ "amount": "1.00" }),
            refunds.clone(),
            json!({ "amount": "2.00" }),
        ),
        (
            "refund key reused for a payment",
            &merchant.token,
            refunds.clone(),
            json!({ "amount": "1.00" }),
            "/v1/payments".into(),
            pay(&codes[0], "1.00"),
        ),
        (
            "customer: other name",
            &admin,
            "/v1/customers".into(),
            json!({ "name": "A" }),
            "/v1/customers".into(),
            json!({ "name": "B" }),
        ),
        (
            "rejected payment, then another body",
            &merchant.token,
            "/v1/payments".into(),
            pay(&codes[2], "999.00"),
            "/v1/payments".into(),
            pay(&codes[2], "1.00"),
        ),
    ];
    let wallets = [customer.wallet_id.as_str(), other.wallet_id.as_str()];
    let payments = [payment_id.as_str()];
    for (name, token, first_path, first_body, second_path, second_body) in cases {
        let key = unique("conflict");
        let first = app.post(&first_path, Some(token), &first_body.to_string(), Some(&key)).await;
        let expected_first = if name.starts_with("rejected") { 402 } else { 201 };
        assert_eq!(first.status, expected_first, "{name}: first: {}", first.text());
        let before = state(&app, &wallets, &payments).await;
        let second = app.post(&second_path, Some(token), &second_body.to_string(), Some(&key)).await;
        assert_problem(&second, 409, "idempotency_conflict", name);
        assert_eq!(state(&app, &wallets, &payments).await, before, "{name}: the conflicting request changed something");
        // The first request still replays as it was answered.
        let replay = app.post(&first_path, Some(token), &first_body.to_string(), Some(&key)).await;
        assert_eq!((replay.status, &replay.body), (first.status, &first.body), "{name}: replay of the first");
    }
    app.assert_ledger_verifies().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_request_replays_its_rejection_without_poisoning_the_code() {
    let app = spawn_app().await;
    let customer = app.customer("Short of money").await;
    let merchant = app.merchant("Patient Shop").await;
    app.fund(&customer.wallet_id, "5.00").await;
    let code = app.payment_code(&customer).await;
    let request = Request::new(
        "payment above the balance",
        "/v1/payments".into(),
        &merchant.token,
        json!({ "payment_code": code, "amount": "10.00", "order_ref": "o-402" }),
    );
    let first = request.send(&app).await;
    assert_problem(&first, 402, "insufficient_funds", "first attempt");
    check_replay(&app, &request, &first, &[&customer.wallet_id], &[]).await;

    // Money arrives; the same key still answers what it answered (the key is spent on a refusal).
    app.fund(&customer.wallet_id, "100.00").await;
    let again = request.send(&app).await;
    assert_eq!((again.status, &again.body), (402, &first.body), "replay after funding: {}", again.text());
    assert_eq!(app.balance(&customer.wallet_id).await, "105.00");

    // A new attempt (new key) with the same code goes through: the refusal did not use the code up.
    let retry = Request { key: unique("retry"), ..request.clone() };
    let paid = retry.send(&app).await;
    assert_eq!(paid.status, 201, "{}", paid.text());
    assert_eq!(app.balance(&customer.wallet_id).await, "95.00");
    check_replay(&app, &retry, &paid, &[&customer.wallet_id], &[]).await;
    check_replay(&app, &request, &first, &[&customer.wallet_id], &[]).await;
}

/// A request refused before the service looked at it (unreadable or invalid) does not spend its
/// key: the corrected request with the same key goes through. API.md only says "same key +
/// different body -> 409"; this follows STYLE.md item 9 ("rejected attempts don't poison a later
/// valid retry"), which is what the service does for edge rejections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_refused_at_the_edge_does_not_spend_its_key() {
    let app = spawn_app().await;
    let customer = app.customer("Typo").await;
    let path = format!("/v1/wallets/{}/topups", customer.wallet_id);
    let key = unique("typo");
    let txn = unique("txn");
    let refused = [
        (json!({ "amount": "1e3", "channel": "wechat", "channel_txn_id": txn }), 422, "invalid_amount"),
        (json!({ "amount": 1000, "channel": "wechat", "channel_txn_id": txn }), 422, "invalid_amount"),
        (json!({ "amount": "1000.00", "channel": "paypal", "channel_txn_id": txn }), 422, "unknown_channel"),
        (json!({ "amount": "1000.00", "channel": "wechat", "channel_txn_id": txn, "x": 1 }), 422, "validation_failed"),
    ];
    for (body, status, code) in refused {
        let reply = app.post(&path, Some(&app.admin_token), &body.to_string(), Some(&key)).await;
        assert_problem(&reply, status, code, &body.to_string());
    }
    let body = json!({ "amount": "1000.00", "channel": "wechat", "channel_txn_id": txn }).to_string();
    let booked = app.post(&path, Some(&app.admin_token), &body, Some(&key)).await;
    assert_eq!(booked.status, 201, "{}", booked.text());
    let replay = app.post(&path, Some(&app.admin_token), &body, Some(&key)).await;
    assert_eq!((replay.status, &replay.body), (201, &booked.body));
    assert_eq!(app.balance(&customer.wallet_id).await, "1000.00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_scoped_per_principal() {
    let app = spawn_app().await;
    let alice = app.customer("Alice").await;
    let bob = app.customer("Bob").await;
    let shop = app.merchant("Shop").await;
    let other_shop = app.merchant("Other Shop").await;
    app.fund(&alice.wallet_id, "100.00").await;
    let shared = "order-key-0001";

    // Two merchants, one key, two payments.
    let mut ids = Vec::new();
    for (merchant, amount) in [(&shop, "10.00"), (&other_shop, "20.00")] {
        let code = app.payment_code(&alice).await;
        let body = json!({ "payment_code": code, "amount": amount, "order_ref": "same-ref" }).to_string();
        let paid = app.post("/v1/payments", Some(&merchant.token), &body, Some(shared)).await;
        assert_eq!(paid.status, 201, "{}", paid.text());
        assert_eq!(paid.json["amount"], amount);
        ids.push(paid.str("id"));
    }
    assert_ne!(ids[0], ids[1]);
    assert_eq!(app.balance(&alice.wallet_id).await, "70.00");

    // Two customers, one key, two payment codes.
    let mut codes = Vec::new();
    for customer in [&alice, &bob] {
        let path = format!("/v1/wallets/{}/payment-codes", customer.wallet_id);
        let issued = app.post(&path, Some(&customer.token), "{}", Some(shared)).await;
        assert_eq!(issued.status, 201, "{}", issued.text());
        assert_eq!(issued.json["wallet_id"], customer.wallet_id.as_str());
        codes.push(issued.str("code"));
    }
    assert_ne!(codes[0], codes[1]);

    // Admin and finance are different principals: one key, two top-ups.
    let finance = app.token("finance", None).await;
    for (token, txn) in [(&app.admin_token, "scoped-1"), (&finance, "scoped-2")] {
        let body = json!({ "amount": "1.00", "channel": "bank", "channel_txn_id": txn }).to_string();
        let booked = app.post(&format!("/v1/wallets/{}/topups", bob.wallet_id), Some(token), &body, Some(shared)).await;
        assert_eq!(booked.status, 201, "{}", booked.text());
    }
    assert_eq!(app.balance(&bob.wallet_id).await, "2.00");

    // Staff share one scope per role (service::model::Principal::idempotency_scope): a second admin
    // token with the first admin's key and another body is a conflict, not a new top-up.
    let second_admin = app.token("admin", None).await;
    let body = json!({ "amount": "1.00", "channel": "bank", "channel_txn_id": "scoped-3" }).to_string();
    let conflict =
        app.post(&format!("/v1/wallets/{}/topups", bob.wallet_id), Some(&second_admin), &body, Some(shared)).await;
    assert_problem(&conflict, 409, "idempotency_conflict", "second admin token, same key");
    assert_eq!(app.balance(&bob.wallet_id).await, "2.00");
}

/// Runs `requests` all at once (released together by a barrier); answers in request order.
async fn concurrently(app: &Arc<TestApp>, requests: Vec<Request>) -> Vec<Reply> {
    let barrier = Arc::new(Barrier::new(requests.len()));
    let mut tasks = JoinSet::new();
    for (index, request) in requests.into_iter().enumerate() {
        let (app, barrier) = (Arc::clone(app), Arc::clone(&barrier));
        tasks.spawn(async move {
            barrier.wait().await;
            (index, request.send(&app).await)
        });
    }
    let mut replies: Vec<Option<Reply>> = vec![None; tasks.len()];
    while let Some(joined) = tasks.join_next().await {
        let (index, reply) = joined.expect("request task");
        replies[index] = Some(reply);
    }
    replies.into_iter().map(|reply| reply.expect("every request answered")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_payments_never_overdraw_a_wallet() {
    const PAYMENTS: usize = 50;
    const FUNDS: &str = "235.00";
    const AMOUNT: &str = "10.00";
    const EXPECTED_SUCCESSES: usize = 23; // floor(235.00 / 10.00)
    let app = Arc::new(spawn_app().await);
    let customer = app.customer("Contended").await;
    let merchant = app.merchant("Rush Shop").await;
    app.fund(&customer.wallet_id, FUNDS).await;
    let mut requests = Vec::new();
    for index in 0..PAYMENTS {
        let code = app.payment_code(&customer).await;
        let body = json!({ "payment_code": code, "amount": AMOUNT, "order_ref": format!("rush-{index}") });
        requests.push(Request::new("concurrent payment", "/v1/payments".into(), &merchant.token, body));
    }
    let replies = concurrently(&app, requests.clone()).await;

    let succeeded = replies.iter().filter(|reply| reply.status == 201).count();
    for reply in replies.iter().filter(|reply| reply.status != 201) {
        assert_problem(reply, 402, "insufficient_funds", "a payment that lost the race");
    }
    assert_eq!(succeeded, EXPECTED_SUCCESSES, "exactly floor(funds / amount) payments succeed");
    let wallet = app.get_ok(&format!("/v1/wallets/{}", customer.wallet_id), &customer.token).await;
    assert_eq!((wallet["balance"].as_str(), wallet["available"].as_str()), (Some("5.00"), Some("5.00")));

    // The statement never dips below zero and adds up.
    let statement = app.statement(&customer.wallet_id, &customer.token).await;
    assert_eq!(statement.len(), 1 + EXPECTED_SUCCESSES);
    let mut running = rust_decimal::Decimal::ZERO;
    for line in &statement {
        running += line["amount"].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap();
        let after: rust_decimal::Decimal = line["balance_after"].as_str().unwrap().parse().unwrap();
        assert_eq!(after, running, "{line}");
        assert!(after >= rust_decimal::Decimal::ZERO, "the wallet went below zero: {line}");
    }
    let events = app.events(&app.admin_token).await;
    let count = |kind: &str| events.iter().filter(|event| event["type"] == kind).count();
    assert_eq!(count("payment_posted"), EXPECTED_SUCCESSES);
    assert_eq!(count("low_balance"), 1, "the balance crossed 15.00 once");

    // Every request, replayed with its key, gets its own first answer; nothing moves.
    for (request, first) in requests.iter().zip(&replies) {
        let again = request.send(&app).await;
        assert_eq!((again.status, &again.body), (first.status, &first.body), "replay of {}", request.body);
    }
    assert_eq!(app.balance(&customer.wallet_id).await, "5.00");
    app.assert_ledger_verifies().await;
}

/// The boundary for concurrent duplicates: every copy gets the same successful answer.
fn check_identical(replies: &[Reply], name: &str) {
    for reply in replies {
        assert_eq!(reply.status, 201, "{name}: {}", reply.text());
        assert_eq!(reply.body, replies[0].body, "{name}: concurrent copies answered differently");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_requests_with_one_key_post_once() {
    const COPIES: usize = 16;
    let app = Arc::new(spawn_app().await);
    let customer = app.customer("Doubled").await;
    let merchant = app.merchant("Double Shop").await;

    let topup = Request::new(
        "concurrent top-up",
        format!("/v1/wallets/{}/topups", customer.wallet_id),
        &app.admin_token,
        json!({ "amount": "30.00", "channel": "counter", "channel_txn_id": unique("counter") }),
    );
    check_identical(&concurrently(&app, vec![topup; COPIES]).await, "top-up");
    assert_eq!(app.balance(&customer.wallet_id).await, "30.00");

    // Exactly the balance: a second posting would be refused, so a duplicate cannot hide.
    let code = app.payment_code(&customer).await;
    let payment = Request::new(
        "concurrent payment",
        "/v1/payments".into(),
        &merchant.token,
        json!({ "payment_code": code, "amount": "30.00", "order_ref": "once" }),
    );
    let paid = concurrently(&app, vec![payment; COPIES]).await;
    check_identical(&paid, "payment");
    assert_eq!(app.balance(&customer.wallet_id).await, "0.00");
    let payment_id = paid[0].str("id");

    let refund = Request::new(
        "concurrent refund",
        format!("/v1/payments/{payment_id}/refunds"),
        &merchant.token,
        json!({ "amount": "12.50" }),
    );
    check_identical(&concurrently(&app, vec![refund; COPIES]).await, "refund");
    assert_eq!(app.balance(&customer.wallet_id).await, "12.50");
    let read = app.get_ok(&format!("/v1/payments/{payment_id}"), &merchant.token).await;
    assert_eq!(read["refunded"], "12.50");

    let types: Vec<Value> = app.events(&app.admin_token).await.iter().map(|event| event["type"].clone()).collect();
    assert_eq!(
        types,
        [json!("topup_posted"), json!("payment_posted"), json!("low_balance"), json!("refund_posted")],
        "one of each"
    );
    app.assert_ledger_verifies().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_competing_requests_with_different_keys_have_one_winner_or_stay_in_bounds() {
    const RACERS: usize = 12;
    let app = Arc::new(spawn_app().await);
    let customer = app.customer("Contested").await;
    let merchant = app.merchant("Contest Shop").await;

    // One channel transaction booked by many keys: one top-up, the rest duplicate_channel_txn.
    let txn = unique("once");
    let topups: Vec<Request> = (0..RACERS)
        .map(|_| {
            Request::new(
                "same channel transaction",
                format!("/v1/wallets/{}/topups", customer.wallet_id),
                &app.admin_token,
                json!({ "amount": "100.00", "channel": "wechat", "channel_txn_id": txn }),
            )
        })
        .collect();
    let replies = concurrently(&app, topups).await;
    assert_eq!(replies.iter().filter(|reply| reply.status == 201).count(), 1, "one booking wins");
    for reply in replies.iter().filter(|reply| reply.status != 201) {
        assert_problem(reply, 409, "duplicate_channel_txn", "a losing booking");
    }
    assert_eq!(app.balance(&customer.wallet_id).await, "100.00");

    // One payment code charged by many keys: one payment, the rest payment_code_used.
    let code = app.payment_code(&customer).await;
    let payments: Vec<Request> = (0..RACERS)
        .map(|index| {
            Request::new(
                "same payment code",
                "/v1/payments".into(),
                &merchant.token,
                json!({ "payment_code": code, "amount": "40.00", "order_ref": format!("race-{index}") }),
            )
        })
        .collect();
    let replies = concurrently(&app, payments).await;
    let winners: Vec<&Reply> = replies.iter().filter(|reply| reply.status == 201).collect();
    assert_eq!(winners.len(), 1, "one charge wins");
    for reply in replies.iter().filter(|reply| reply.status != 201) {
        assert_problem(reply, 409, "payment_code_used", "a losing charge");
    }
    assert_eq!(app.balance(&customer.wallet_id).await, "60.00");

    // Many refunds of 7.50 (new keys) against a 40.00 payment: five fit, the rest are refused.
    let payment_id = winners[0].str("id");
    let refunds: Vec<Request> = (0..RACERS)
        .map(|_| {
            Request::new(
                "competing refund",
                format!("/v1/payments/{payment_id}/refunds"),
                &merchant.token,
                json!({ "amount": "7.50" }),
            )
        })
        .collect();
    let replies = concurrently(&app, refunds).await;
    assert_eq!(replies.iter().filter(|reply| reply.status == 201).count(), 5, "floor(40.00 / 7.50) refunds");
    for reply in replies.iter().filter(|reply| reply.status != 201) {
        assert_problem(reply, 422, "refund_exceeds_payment", "a refund past the payment");
    }
    let payment = app.get_ok(&format!("/v1/payments/{payment_id}"), &customer.token).await;
    assert_eq!((payment["refunded"].as_str(), payment["status"].as_str()), (Some("37.50"), Some("partially_refunded")));
    assert_eq!(app.balance(&customer.wallet_id).await, "97.50");
    app.assert_ledger_verifies().await;
}
