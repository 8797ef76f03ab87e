//! Role isolation: every principal sees and moves only what is its own. Another principal's
//! resource is answered 404 (exactly like a missing one) or 403, never with data, and a refused
//! request moves no money.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_problem, spawn_app, unique, CustomerFixture, MerchantFixture, TestApp};
use serde_json::{json, Value};

/// Two customers, two merchants, one payment each way, and a token for every other role.
struct World {
    app: TestApp,
    alice: CustomerFixture,
    bob: CustomerFixture,
    shop: MerchantFixture,
    other_shop: MerchantFixture,
    /// Alice paid the shop 10.00.
    alice_payment: String,
    /// Bob paid the other shop 10.00.
    bob_payment: String,
    finance: String,
    technician: String,
    concentrator: String,
}

async fn world() -> World {
    let app = spawn_app().await;
    let alice = app.customer("Alice").await;
    let bob = app.customer("Bob").await;
    let shop = app.merchant("Shop").await;
    let other_shop = app.merchant("Other Shop").await;
    app.fund(&alice.wallet_id, "100.00").await;
    app.fund(&bob.wallet_id, "100.00").await;
    let alice_payment = app.paid(&shop, &alice, "10.00").await;
    let bob_payment = app.paid(&other_shop, &bob, "10.00").await;
    let finance = app.token("finance", None).await;
    let technician_id =
        app.post_ok("/v1/technicians", &app.admin_token, json!({ "name": "Tech" }), None, 201).await.str("id");
    let technician = app.token("technician", Some(&technician_id)).await;
    let concentrator_id =
        app.post_ok("/v1/concentrators", &app.admin_token, json!({ "name": "Conc" }), None, 201).await.str("id");
    let concentrator = app.token("concentrator", Some(&concentrator_id)).await;
    World { app, alice, bob, shop, other_shop, alice_payment, bob_payment, finance, technician, concentrator }
}

/// The money state no refused request may change.
async fn money(world: &World) -> Value {
    let app = &world.app;
    let refunded = |payment: &str| {
        let path = format!("/v1/payments/{payment}");
        async move { app.get_ok(&path, &app.admin_token).await["refunded"].clone() }
    };
    json!({
        "alice": app.balance(&world.alice.wallet_id).await,
        "bob": app.balance(&world.bob.wallet_id).await,
        "alice_payment_refunded": refunded(&world.alice_payment).await,
        "bob_payment_refunded": refunded(&world.bob_payment).await,
        "events": app.events(&app.admin_token).await.len(),
    })
}

/// Who asks what, and what they must get.
struct Case {
    name: &'static str,
    token: String,
    path: String,
    body: Option<Value>,
    /// A POST (with a fresh Idempotency-Key) when there is a body, a GET otherwise.
    /// 200/201 for the controls that must succeed; otherwise the problem's status and code.
    status: u16,
    code: &'static str,
}

fn get(name: &'static str, token: &str, path: String, status: u16, code: &'static str) -> Case {
    Case { name, token: token.to_owned(), path, body: None, status, code }
}

fn post(name: &'static str, token: &str, path: String, body: Value, status: u16, code: &'static str) -> Case {
    Case { name, token: token.to_owned(), path, body: Some(body), status, code }
}

/// The boundary for isolation: the expected answer, no foreign data in a refusal, and no money
/// moved by a refusal.
async fn check(world: &World, case: &Case) {
    let before = money(world).await;
    let reply = match &case.body {
        Some(body) => world.app.post(&case.path, Some(&case.token), &body.to_string(), Some(&unique("iso"))).await,
        None => world.app.get(&case.path, Some(&case.token)).await,
    };
    if case.status < 300 {
        assert_eq!(reply.status, case.status, "{}: {}", case.name, reply.text());
        return;
    }
    assert_problem(&reply, case.status, case.code, case.name);
    for secret in [&world.alice.id, &world.bob.id, &world.shop.id, &world.other_shop.id] {
        let mentioned_in_request = case.path.contains(secret.as_str())
            || case.body.as_ref().is_some_and(|body| body.to_string().contains(secret.as_str()));
        assert!(
            mentioned_in_request || !reply.text().contains(secret.as_str()),
            "{}: the refusal leaks {secret}: {}",
            case.name,
            reply.text()
        );
    }
    assert_eq!(money(world).await, before, "{}: a refused request moved money", case.name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn principals_see_and_move_only_their_own_resources() {
    let world = world().await;
    let (alice, bob) = (&world.alice, &world.bob);
    let (shop, other_shop) = (&world.shop, &world.other_shop);
    let admin = world.app.admin_token.clone();
    let wallet = |customer: &CustomerFixture| format!("/v1/wallets/{}", customer.wallet_id);
    let statement = |customer: &CustomerFixture| format!("/v1/wallets/{}/statement", customer.wallet_id);
    let topups = |customer: &CustomerFixture| format!("/v1/wallets/{}/topups", customer.wallet_id);
    let codes = |customer: &CustomerFixture| format!("/v1/wallets/{}/payment-codes", customer.wallet_id);
    let payment = |id: &str| format!("/v1/payments/{id}");
    let refunds = |id: &str| format!("/v1/payments/{id}/refunds");
    let topup = || json!({ "amount": "50.00", "channel": "alipay", "channel_txn_id": unique("iso") });
    let refund = json!({ "amount": "1.00" });
    let (alice_payment, bob_payment) = (world.alice_payment.as_str(), world.bob_payment.as_str());
    let cases = vec![
        // Controls: what each principal may do.
        get("alice reads her wallet", &alice.token, wallet(alice), 200, ""),
        get("alice reads her statement", &alice.token, statement(alice), 200, ""),
        get("alice reads her payment", &alice.token, payment(alice_payment), 200, ""),
        get("alice reads herself", &alice.token, format!("/v1/customers/{}", alice.id), 200, ""),
        get("the shop reads its payment", &shop.token, payment(alice_payment), 200, ""),
        get("finance reads bob's wallet", &world.finance, wallet(bob), 200, ""),
        get("finance reads bob's statement", &world.finance, statement(bob), 200, ""),
        get("finance reads bob's payment", &world.finance, payment(bob_payment), 200, ""),
        // Customers and other customers' things: 404, as if missing.
        get("alice reads bob's wallet", &alice.token, wallet(bob), 404, "not_found"),
        get("alice reads bob's statement", &alice.token, statement(bob), 404, "not_found"),
        get("alice reads bob's payment", &alice.token, payment(bob_payment), 404, "not_found"),
        get("bob reads alice's payment", &bob.token, payment(alice_payment), 404, "not_found"),
        get("alice reads bob's customer record", &alice.token, format!("/v1/customers/{}", bob.id), 404, "not_found"),
        post("alice issues a code on bob's wallet", &alice.token, codes(bob), json!({}), 404, "not_found"),
        // Merchants and other merchants' payments.
        get("the other shop reads the shop's payment", &other_shop.token, payment(alice_payment), 404, "not_found"),
        get("the shop reads the other shop's payment", &shop.token, payment(bob_payment), 404, "not_found"),
        post(
            "the other shop refunds the shop's payment",
            &other_shop.token,
            refunds(alice_payment),
            refund.clone(),
            404,
            "not_found",
        ),
        get("a merchant reads a customer's wallet", &shop.token, wallet(alice), 404, "not_found"),
        get("a merchant reads a customer's statement", &shop.token, statement(alice), 404, "not_found"),
        post("a merchant issues a payment code", &shop.token, codes(alice), json!({}), 404, "not_found"),
        // Other roles.
        get("a technician reads a wallet", &world.technician, wallet(alice), 404, "not_found"),
        get("a concentrator reads a payment", &world.concentrator, payment(alice_payment), 404, "not_found"),
        get(
            "a concentrator reads a customer",
            &world.concentrator,
            format!("/v1/customers/{}", alice.id),
            404,
            "not_found",
        ),
        // Forbidden operations: 403.
        post("alice creates a token", &alice.token, "/v1/tokens".into(), json!({ "role": "admin" }), 403, "forbidden"),
        post(
            "the shop creates a token",
            &shop.token,
            "/v1/tokens".into(),
            json!({ "role": "finance" }),
            403,
            "forbidden",
        ),
        post(
            "finance creates a token",
            &world.finance,
            "/v1/tokens".into(),
            json!({ "role": "admin" }),
            403,
            "forbidden",
        ),
        post(
            "alice makes a token for bob",
            &alice.token,
            "/v1/tokens".into(),
            json!({ "role": "customer", "subject_id": bob.id }),
            403,
            "forbidden",
        ),
        post(
            "alice creates a customer",
            &alice.token,
            "/v1/customers".into(),
            json!({ "name": "Eve" }),
            403,
            "forbidden",
        ),
        post(
            "finance creates a customer",
            &world.finance,
            "/v1/customers".into(),
            json!({ "name": "Eve" }),
            403,
            "forbidden",
        ),
        post(
            "the shop creates a merchant",
            &shop.token,
            "/v1/merchants".into(),
            json!({ "name": "Eve's", "fee_rate": "0" }),
            403,
            "forbidden",
        ),
        post(
            "a technician creates a technician",
            &world.technician,
            "/v1/technicians".into(),
            json!({ "name": "Eve" }),
            403,
            "forbidden",
        ),
        post("alice tops up her own wallet", &alice.token, topups(alice), topup(), 403, "forbidden"),
        post("alice tops up bob's wallet", &alice.token, topups(bob), topup(), 403, "forbidden"),
        post("the shop tops up a wallet", &shop.token, topups(alice), topup(), 403, "forbidden"),
        post("a concentrator tops up a wallet", &world.concentrator, topups(alice), topup(), 403, "forbidden"),
        post("admin issues a payment code for a customer", &admin, codes(alice), json!({}), 403, "forbidden"),
        post(
            "alice charges her own code",
            &alice.token,
            "/v1/payments".into(),
            json!({ "payment_code": "280000000000000000", "amount": "1.00", "order_ref": "self" }),
            403,
            "forbidden",
        ),
        post("alice refunds herself", &alice.token, refunds(alice_payment), refund.clone(), 403, "forbidden"),
        post("admin refunds for the shop", &admin, refunds(alice_payment), refund.clone(), 403, "forbidden"),
        post("finance refunds for the shop", &world.finance, refunds(alice_payment), refund.clone(), 403, "forbidden"),
        post("alice verifies the ledger", &alice.token, "/v1/ledger/verify".into(), json!({}), 403, "forbidden"),
        post("the shop verifies the ledger", &shop.token, "/v1/ledger/verify".into(), json!({}), 403, "forbidden"),
    ];
    for case in &cases {
        check(&world, case).await;
    }
    // Refusals cost nothing: every balance is where the world left it.
    assert_eq!(world.app.balance(&alice.wallet_id).await, "90.00");
    assert_eq!(world.app.balance(&bob.wallet_id).await, "90.00");
    world.app.assert_ledger_verifies().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchant_can_charge_any_customer_code_but_refund_only_its_own_payments() {
    let world = world().await;
    // A code is a bearer instrument: any merchant the customer shows it to may charge it.
    let paid = world.app.paid(&world.other_shop, &world.alice, "5.00").await;
    let read = world.app.get_ok(&format!("/v1/payments/{paid}"), &world.alice.token).await;
    assert_eq!(read["merchant_id"], world.other_shop.id.as_str());
    // The shop that took it refunds it; the other one cannot even see it.
    let refund_path = format!("/v1/payments/{paid}/refunds");
    let refused =
        world.app.post(&refund_path, Some(&world.shop.token), r#"{"amount":"5.00"}"#, Some(&unique("r"))).await;
    assert_problem(&refused, 404, "not_found", "refund by a merchant that did not take the payment");
    let refunded =
        world.app.post(&refund_path, Some(&world.other_shop.token), r#"{"amount":"5.00"}"#, Some(&unique("r"))).await;
    assert_eq!(refunded.status, 201, "{}", refunded.text());
    assert_eq!(world.app.balance(&world.alice.wallet_id).await, "90.00");
}

/// The boundary for the event feed: each principal sees exactly the events about it.
async fn check_feed(app: &TestApp, who: &str, token: &str, visible: impl Fn(&Value) -> bool, expected_types: &[&str]) {
    let events = app.events(token).await;
    let types: Vec<&str> = events.iter().map(|event| event["type"].as_str().unwrap()).collect();
    assert_eq!(types, expected_types, "{who}: event types");
    for event in &events {
        assert!(visible(event), "{who} sees an event that is not theirs: {event}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_filtered_per_principal() {
    let world = world().await;
    let app = &world.app;
    // A refund on each side too.
    for (shop, payment) in [(&world.shop, &world.alice_payment), (&world.other_shop, &world.bob_payment)] {
        app.post_ok(
            &format!("/v1/payments/{payment}/refunds"),
            &shop.token,
            json!({ "amount": "2.00" }),
            Some(&unique("r")),
            201,
        )
        .await;
    }
    let all = app.events(&app.admin_token).await;
    assert_eq!(all.len(), 6, "two top-ups, two payments, two refunds: {all:?}");
    let field_is = |field: &'static str, id: String| move |event: &Value| event[field] == id.as_str();
    let customer_feed = ["topup_posted", "payment_posted", "refund_posted"];
    let merchant_feed = ["payment_posted", "refund_posted"];
    check_feed(app, "alice", &world.alice.token, field_is("customer_id", world.alice.id.clone()), &customer_feed).await;
    check_feed(app, "bob", &world.bob.token, field_is("customer_id", world.bob.id.clone()), &customer_feed).await;
    check_feed(app, "the shop", &world.shop.token, field_is("merchant_id", world.shop.id.clone()), &merchant_feed)
        .await;
    check_feed(
        app,
        "the other shop",
        &world.other_shop.token,
        field_is("merchant_id", world.other_shop.id.clone()),
        &merchant_feed,
    )
    .await;
    check_feed(app, "a technician", &world.technician, |_| false, &[]).await;
    check_feed(app, "a concentrator", &world.concentrator, |_| false, &[]).await;
    let finance = app.events(&world.finance).await;
    assert_eq!(finance, all, "finance sees everything");
}
