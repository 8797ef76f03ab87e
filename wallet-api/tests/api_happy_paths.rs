//! Happy paths of every endpoint in API.md's "Tokens and parties", "Wallets", "Merchant payments"
//! and "Events and operations", against the real server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{is_uuid, spawn_app, spawn_app_in, unique, TestApp};
use serde_json::{json, Value};

/// One creation through the API and what the answer must hold.
struct CreationCase {
    name: &'static str,
    path: &'static str,
    body: Value,
    /// Members the 201 answer must have with exactly these values.
    expected: Value,
}

/// The boundary for creations: 201, JSON, a UUID id, every expected member echoed.
async fn check_creation(app: &TestApp, case: &CreationCase) -> Value {
    let reply = app.post(case.path, Some(&app.admin_token), &case.body.to_string(), None).await;
    assert_eq!(reply.status, 201, "{}: {}", case.name, reply.text());
    assert!(reply.content_type.starts_with("application/json"), "{}: {reply:?}", case.name);
    assert!(is_uuid(&reply.json["id"]), "{}: id {}", case.name, reply.text());
    for (member, value) in case.expected.as_object().unwrap() {
        assert_eq!(&reply.json[member], value, "{}: member {member}: {}", case.name, reply.text());
    }
    reply.json
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_creates_parties_and_tokens_for_every_role() {
    let app = spawn_app().await;
    let cases = [
        CreationCase {
            name: "customer with defaults",
            path: "/v1/customers",
            body: json!({ "name": "Li Wei" }),
            expected: json!({ "name": "Li Wei", "household_size": 3, "tariff": "residential", "billing_mode": "per_reading" }),
        },
        CreationCase {
            name: "customer with every option",
            path: "/v1/customers",
            body: json!({ "name": "Wang Fang", "household_size": 6, "tariff": "residential-heating", "billing_mode": "monthly" }),
            expected: json!({ "name": "Wang Fang", "household_size": 6, "tariff": "residential-heating", "billing_mode": "monthly" }),
        },
        CreationCase {
            name: "merchant",
            path: "/v1/merchants",
            body: json!({ "name": "Corner Shop", "fee_rate": "0.006" }),
            expected: json!({ "name": "Corner Shop", "fee_rate": "0.006" }),
        },
        CreationCase {
            name: "merchant without a fee",
            path: "/v1/merchants",
            body: json!({ "name": "Free Shop", "fee_rate": "0" }),
            expected: json!({ "name": "Free Shop", "fee_rate": "0" }),
        },
        CreationCase {
            name: "technician",
            path: "/v1/technicians",
            body: json!({ "name": "Zhang San" }),
            expected: json!({ "name": "Zhang San" }),
        },
        CreationCase {
            name: "concentrator",
            path: "/v1/concentrators",
            body: json!({ "name": "Block 7 concentrator" }),
            expected: json!({ "name": "Block 7 concentrator" }),
        },
    ];
    let mut created = Vec::new();
    for case in &cases {
        created.push(check_creation(&app, case).await);
    }
    let customer = &created[0];
    assert!(is_uuid(&customer["wallet_id"]), "a customer comes with a wallet: {customer}");
    assert_ne!(customer["wallet_id"], customer["id"]);
    let customer_id = customer["id"].as_str().unwrap();
    let merchant_id = created[2]["id"].as_str().unwrap();
    let technician_id = created[4]["id"].as_str().unwrap();
    let concentrator_id = created[5]["id"].as_str().unwrap();

    // A token for every role; each one is new, shown once, and works at once.
    let token_cases: [(&str, Option<&str>); 6] = [
        ("admin", None),
        ("finance", None),
        ("customer", Some(customer_id)),
        ("merchant", Some(merchant_id)),
        ("technician", Some(technician_id)),
        ("concentrator", Some(concentrator_id)),
    ];
    let mut tokens = Vec::new();
    for (role, subject) in token_cases {
        let body = json!({ "role": role, "subject_id": subject });
        let reply = app.post("/v1/tokens", Some(&app.admin_token), &body.to_string(), None).await;
        assert_eq!(reply.status, 201, "token for {role}: {}", reply.text());
        assert_eq!(reply.json["role"], role);
        assert_eq!(reply.json["subject_id"], json!(subject), "token for {role}");
        let token = reply.str("token");
        assert!(token.len() >= 16 && !tokens.contains(&token), "token for {role} is fresh: {token}");
        let events = app.get("/v1/events", Some(&token)).await;
        assert_eq!(events.status, 200, "a new {role} token authenticates: {}", events.text());
        tokens.push(token);
    }

    // The customer reads itself with its own token; admin reads it too.
    let own = app.get_ok(&format!("/v1/customers/{customer_id}"), &tokens[2]).await;
    assert_eq!(own["wallet_id"], customer["wallet_id"]);
    assert_eq!(own["name"], "Li Wei");
    let by_admin = app.get_ok(&format!("/v1/customers/{customer_id}"), &app.admin_token).await;
    assert_eq!(by_admin, own);
    // The new admin token can create parties itself.
    let by_second_admin = app.post("/v1/customers", Some(&tokens[0]), r#"{"name":"Second Admin's"}"#, None).await;
    assert_eq!(by_second_admin.status, 201, "{}", by_second_admin.text());
}

/// Expected statement line: kind, signed amount, balance after.
type Line = (&'static str, &'static str, &'static str);

/// The boundary for statements: lines in order with these kinds and amounts, and a running balance
/// that adds up from zero.
fn check_statement(lines: &[Value], expected: &[Line]) {
    let got: Vec<(String, String, String)> = lines
        .iter()
        .map(|line| {
            (
                line["kind"].as_str().unwrap().to_owned(),
                line["amount"].as_str().unwrap().to_owned(),
                line["balance_after"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(kind, amount, after)| ((*kind).into(), (*amount).into(), (*after).into())).collect();
    assert_eq!(got, expected, "statement lines");
    let mut running = rust_decimal::Decimal::ZERO;
    for line in lines {
        let amount: rust_decimal::Decimal = line["amount"].as_str().unwrap().parse().unwrap();
        running += amount;
        assert_eq!(line["balance_after"].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap(), running);
        assert!(is_uuid(&line["entry_id"]), "{line}");
        assert!(line["at"].as_str().is_some_and(|at| at.ends_with('Z')), "{line}");
        assert!(line["memo"].is_string(), "{line}");
    }
}

/// Expected event: type, amount member, available member.
type ExpectedEvent = (&'static str, Option<&'static str>, Option<&'static str>);

/// The boundary for the event feed: these types in commit order, with strictly increasing ids and
/// journal sequences.
fn check_events(events: &[Value], expected: &[ExpectedEvent], context: &str) {
    let got: Vec<(String, Value, Value)> = events
        .iter()
        .map(|event| (event["type"].as_str().unwrap().to_owned(), event["amount"].clone(), event["available"].clone()))
        .collect();
    let expected: Vec<(String, Value, Value)> =
        expected.iter().map(|(kind, amount, available)| ((*kind).into(), json!(amount), json!(available))).collect();
    assert_eq!(got, expected, "{context}: events");
    for pair in events.windows(2) {
        let id = |event: &Value| event["id"].as_str().unwrap().parse::<u64>().unwrap();
        assert!(id(&pair[0]) < id(&pair[1]), "{context}: event ids increase: {pair:?}");
        assert!(
            pair[0]["journal_sequence"].as_u64().unwrap() < pair[1]["journal_sequence"].as_u64().unwrap(),
            "{context}: commit order: {pair:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_moves_through_top_up_payment_and_refunds_with_statement_and_events() {
    let app = spawn_app().await;
    let customer = app.customer("Li Wei").await;
    let merchant = app.merchant("Corner Shop").await;
    let finance = app.token("finance", None).await;

    // A top-up from a channel.
    let txn = unique("wx");
    let topup = app
        .post_ok(
            &format!("/v1/wallets/{}/topups", customer.wallet_id),
            &app.admin_token,
            json!({ "amount": "100.00", "channel": "wechat", "channel_txn_id": txn }),
            Some(&unique("k")),
            201,
        )
        .await;
    assert!(is_uuid(&topup.json["entry_id"]), "{}", topup.text());
    assert_eq!(topup.json["balance"], "100.00");
    assert_eq!(topup.json["amount"], "100.00");

    // The customer sees its wallet; so do admin and finance.
    let wallet = app.get_ok(&format!("/v1/wallets/{}", customer.wallet_id), &customer.token).await;
    assert_eq!(
        wallet,
        json!({
            "id": customer.wallet_id, "customer_id": customer.id, "currency": "CNY", "balance": "100.00",
            "available": "100.00", "held": "0.00", "credit_limit": "0.00", "arrears": "0.00", "status": "active",
        })
    );
    assert_eq!(app.get_ok(&format!("/v1/wallets/{}", customer.wallet_id), &app.admin_token).await, wallet);
    assert_eq!(app.get_ok(&format!("/v1/wallets/{}", customer.wallet_id), &finance).await, wallet);

    // Payment codes: without and with a limit.
    let codes_path = format!("/v1/wallets/{}/payment-codes", customer.wallet_id);
    let code = app.post_ok(&codes_path, &customer.token, json!({}), None, 201).await;
    let code_text = code.str("code");
    assert!(code_text.len() == 18 && code_text.bytes().all(|byte| byte.is_ascii_digit()), "{}", code.text());
    let expires_at = chrono::DateTime::parse_from_rfc3339(&code.str("expires_at")).expect("expires_at is RFC 3339");
    let now_seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let seconds_left = expires_at.timestamp() - i64::try_from(now_seconds).unwrap();
    assert!((1..=61).contains(&seconds_left), "a new code is valid for about a minute: {}", code.text());
    let limited = app.post_ok(&codes_path, &customer.token, json!({ "max_amount": "200.00" }), None, 201).await;
    assert_eq!(limited.json["max_amount"], "200.00");
    assert_ne!(limited.str("code"), code_text);

    // The merchant charges the code.
    let payment = app
        .post_ok(
            "/v1/payments",
            &merchant.token,
            json!({ "payment_code": code_text, "amount": "90.00", "order_ref": "order-1" }),
            Some(&unique("k")),
            201,
        )
        .await;
    assert!(is_uuid(&payment.json["id"]));
    assert_eq!(payment.json["status"], "succeeded");
    assert_eq!(payment.json["amount"], "90.00");
    let payment_id = payment.str("id");
    let payment_path = format!("/v1/payments/{payment_id}");

    // That merchant, that customer, admin and finance read the payment.
    let expected_payment = |status: &str, refunded: &str| {
        json!({
            "id": payment_id, "status": status, "amount": "90.00", "refunded": refunded,
            "wallet_id": customer.wallet_id, "merchant_id": merchant.id, "order_ref": "order-1",
        })
    };
    for reader in [&merchant.token, &customer.token, &app.admin_token, &finance] {
        let read = app.get_ok(&payment_path, reader).await;
        for (member, value) in expected_payment("succeeded", "0.00").as_object().unwrap() {
            assert_eq!(&read[member], value, "payment member {member}: {read}");
        }
        assert!(read["created_at"].is_string(), "{read}");
    }

    // Two partial refunds, up to the whole payment.
    let refunds_path = format!("{payment_path}/refunds");
    let first =
        app.post_ok(&refunds_path, &merchant.token, json!({ "amount": "30.00" }), Some(&unique("k")), 201).await;
    assert!(is_uuid(&first.json["id"]));
    assert_eq!(first.json["amount"], "30.00");
    let read = app.get_ok(&payment_path, &customer.token).await;
    assert_eq!((read["status"].as_str(), read["refunded"].as_str()), (Some("partially_refunded"), Some("30.00")));
    let second =
        app.post_ok(&refunds_path, &merchant.token, json!({ "amount": "60.00" }), Some(&unique("k")), 201).await;
    assert_ne!(second.json["id"], first.json["id"]);
    let read = app.get_ok(&payment_path, &merchant.token).await;
    assert_eq!((read["status"].as_str(), read["refunded"].as_str()), (Some("refunded"), Some("90.00")));
    assert_eq!(app.balance(&customer.wallet_id).await, "100.00");

    // The statement, with its running balance.
    let statement = app.statement(&customer.wallet_id, &customer.token).await;
    check_statement(
        &statement,
        &[
            ("topup", "100.00", "100.00"),
            ("merchant_payment", "-90.00", "10.00"),
            ("merchant_refund", "30.00", "40.00"),
            ("merchant_refund", "60.00", "100.00"),
        ],
    );
    assert_eq!(statement[0]["memo"], format!("wechat {txn}"));
    assert_eq!(statement[1]["memo"], "order-1");
    assert_eq!(statement[0]["entry_id"], topup.json["entry_id"]);

    // Events in commit order: the payment took the wallet below 15.00, hence low_balance.
    let all = [
        ("topup_posted", Some("100.00"), None),
        ("payment_posted", Some("90.00"), None),
        ("low_balance", None, Some("10.00")),
        ("refund_posted", Some("30.00"), None),
        ("refund_posted", Some("60.00"), None),
    ];
    check_events(&app.events(&app.admin_token).await, &all, "admin");
    check_events(&app.events(&finance).await, &all, "finance");
    let customer_events = app.events(&customer.token).await;
    check_events(&customer_events, &all, "customer");
    assert!(customer_events.iter().all(|event| event["customer_id"] == customer.id.as_str()));
    assert!(customer_events.iter().all(|event| event["wallet_id"] == customer.wallet_id.as_str()));
    let merchant_events = app.events(&merchant.token).await;
    check_events(
        &merchant_events,
        &[
            ("payment_posted", Some("90.00"), None),
            ("refund_posted", Some("30.00"), None),
            ("refund_posted", Some("60.00"), None),
        ],
        "merchant",
    );
    assert!(merchant_events.iter().all(|event| event["payment_id"] == payment_id.as_str()));

    let report = app.assert_ledger_verifies().await;
    assert!(report["entries_checked"].as_u64().unwrap() > 0, "{report}");
    assert!(report["head_hash"].as_str().is_some_and(|hash| hash.len() == 64), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_and_events_page_with_limit_and_cursor_and_filter_by_time() {
    let app = spawn_app().await;
    let customer = app.customer("Pager").await;
    for amount in ["1.00", "2.00", "3.00", "4.00", "5.00"] {
        app.fund(&customer.wallet_id, amount).await;
    }
    let whole = app.statement(&customer.wallet_id, &customer.token).await;
    assert_eq!(whole.len(), 5);
    let balances: Vec<&str> = whole.iter().map(|line| line["balance_after"].as_str().unwrap()).collect();
    assert_eq!(balances, ["1.00", "3.00", "6.00", "10.00", "15.00"]);

    // Pages of two follow the cursor and add up to the whole.
    let mut paged = Vec::new();
    let mut page_sizes = Vec::new();
    let mut path = format!("/v1/wallets/{}/statement?limit=2", customer.wallet_id);
    loop {
        let page = app.get_ok(&path, &customer.token).await;
        let items = page["items"].as_array().unwrap();
        page_sizes.push(items.len());
        paged.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/wallets/{}/statement?limit=2&cursor={cursor}", customer.wallet_id),
            None => break,
        }
    }
    assert_eq!(paged, whole);
    assert!(page_sizes.iter().all(|size| *size <= 2) && page_sizes.len() >= 3, "{page_sizes:?}");

    // A time window: from the third line on, up to the fourth.
    let third_at = whole[2]["at"].as_str().unwrap();
    let fourth_at = whole[3]["at"].as_str().unwrap();
    let window = app
        .get_ok(
            &format!("/v1/wallets/{}/statement?from={third_at}&to={fourth_at}", customer.wallet_id),
            &app.admin_token,
        )
        .await;
    assert_eq!(window["items"].as_array().unwrap(), &whole[2..4]);
    let future = app
        .get_ok(&format!("/v1/wallets/{}/statement?from=2999-01-01T00:00:00Z", customer.wallet_id), &customer.token)
        .await;
    assert_eq!(future["items"], json!([]));
    let past = app
        .get_ok(&format!("/v1/wallets/{}/statement?to=2000-01-01T00:00:00Z", customer.wallet_id), &customer.token)
        .await;
    assert_eq!(past["items"], json!([]));

    // Events page the same way.
    let events = app.events(&customer.token).await;
    assert_eq!(events.len(), 5);
    let mut paged_events = Vec::new();
    let mut after = String::from("0");
    loop {
        let page = app.get_ok(&format!("/v1/events?after={after}&limit=2"), &customer.token).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        paged_events.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => after = cursor.to_owned(),
            None => break,
        }
    }
    assert_eq!(paged_events, events);
    let last_id = events[4]["id"].as_str().unwrap();
    let nothing_after = app.get_ok(&format!("/v1/events?after={last_id}"), &customer.token).await;
    assert_eq!(nothing_after, json!({ "items": [], "next_cursor": null }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints_report_health_metrics_and_an_intact_ledger() {
    let app = spawn_app().await;
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status, 200, "{health:?}");
    assert_eq!(health.json["status"], "ok");
    let sequence_before = app.journal_sequence().await;

    app.customer("First").await;
    app.customer("Second").await;
    let unauthorized = app.get("/v1/events", None).await;
    assert_eq!(unauthorized.status, 401);
    let probe = unique("probe");
    assert_eq!(app.get(&format!("/v1/{probe}"), Some(&app.admin_token)).await.status, 404);
    assert!(app.journal_sequence().await > sequence_before, "creations advance the journal");

    let metrics = app.get("/metrics", None).await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.content_type.starts_with("text/plain"), "{:?}", metrics.content_type);
    let text = metrics.text();
    for line in [
        "# TYPE gaswallet_http_requests_total counter",
        r#"gaswallet_http_requests_total{method="POST",route="/v1/customers",status="201"} 2"#,
        r#"gaswallet_http_requests_total{method="POST",route="/v1/tokens",status="201"} 2"#,
        r#"gaswallet_http_requests_total{method="GET",route="/v1/events",status="401"} 1"#,
        r#"gaswallet_http_requests_total{method="GET",route="/healthz",status="200"} "#,
        "gaswallet_http_request_duration_seconds_count",
        "gaswallet_ledger_batches_committed_total",
    ] {
        assert!(text.contains(line), "/metrics lacks {line:?}:\n{text}");
    }
    // Unmatched paths are counted under one label: a scanner cannot blow up the label set.
    assert!(!text.contains(&probe), "/metrics has a label per unknown path:\n{text}");
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");

    let finance = app.token("finance", None).await;
    let report = app.post("/v1/ledger/verify", Some(&finance), "", None).await;
    assert_eq!(report.status, 200, "{report:?}");
    assert_eq!(report.json["ok"], true);
    assert!(report.json["entries_checked"].as_u64().is_some(), "{}", report.text());
    assert!(report.json["head_hash"].is_string());
    assert!(report.json["first_error"].is_null());
}

/// API.md: "The server also serves its full OpenAPI document at `GET /v1/openapi.json`, generated
/// from the code, and that document must match the server."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_is_served_and_lists_every_route() {
    let app = spawn_app().await;
    let reply = app.get("/v1/openapi.json", None).await;
    assert_eq!(reply.status, 200, "GET /v1/openapi.json: {}", reply.text());
    assert!(reply.content_type.starts_with("application/json"), "{reply:?}");
    assert!(reply.json["openapi"].is_string(), "{}", reply.text());
    for (method, path) in wallet_api::http::ROUTES {
        let operation = &reply.json["paths"][path][method.to_ascii_lowercase()];
        assert!(operation.is_object(), "the OpenAPI document lacks {method} {path}");
    }
}

/// API.md "Bootstrap": the first start writes the admin token to `DATA/admin.token` (mode 0600);
/// a restart on the same directory reuses it and replays the journal, so money, tokens, events
/// and idempotent answers all survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_admin_token_money_tokens_events_and_idempotent_answers() {
    let app = spawn_app().await;
    let token_file = app.data_path().join(wallet_api::serve::ADMIN_TOKEN_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).expect("DATA/admin.token exists").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "admin.token must be private");
    }
    let customer = app.customer("Durable").await;
    let merchant = app.merchant("Durable Shop").await;
    let topup_path = format!("/v1/wallets/{}/topups", customer.wallet_id);
    let topup_body = json!({ "amount": "60.00", "channel": "bank", "channel_txn_id": unique("bank") }).to_string();
    let topup_key = unique("durable");
    let topup = app.post(&topup_path, Some(&app.admin_token), &topup_body, Some(&topup_key)).await;
    assert_eq!(topup.status, 201, "{}", topup.text());
    let payment_id = app.paid(&merchant, &customer, "25.00").await;
    let events = app.events(&app.admin_token).await;
    let statement = app.statement(&customer.wallet_id, &customer.token).await;
    let admin_token = app.admin_token.clone();

    let data = app.stop().await;
    let app = spawn_app_in(data).await;
    assert_eq!(app.admin_token, admin_token, "the restart reads the same DATA/admin.token");
    assert_eq!(app.balance(&customer.wallet_id).await, "35.00");
    assert_eq!(app.events(&app.admin_token).await, events);
    assert_eq!(app.statement(&customer.wallet_id, &customer.token).await, statement, "customer token still valid");
    let payment = app.get_ok(&format!("/v1/payments/{payment_id}"), &merchant.token).await;
    assert_eq!(payment["amount"], "25.00");
    let replay = app.post(&topup_path, Some(&app.admin_token), &topup_body, Some(&topup_key)).await;
    assert_eq!((replay.status, &replay.body), (topup.status, &topup.body), "the idempotent answer survives");
    assert_eq!(app.balance(&customer.wallet_id).await, "35.00");
    app.paid(&merchant, &customer, "5.00").await;
    assert_eq!(app.balance(&customer.wallet_id).await, "30.00");
    app.assert_ledger_verifies().await;
}
