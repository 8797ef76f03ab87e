//! Tariffs through HTTP, as an outside admin and client see them: `GET /v1/tariffs/{code}` shows the
//! shipped Beijing tiers; `PUT /v1/tariffs/{code}` sets a tariff that customers can then take at
//! creation, and their readings are charged at its tiers; bad tariffs are refused with a code and
//! change nothing; a tariff that was set survives a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_problem, spawn_app, spawn_app_in, spawn_app_with_manual_clock, Reply, TestApp};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};
use uuid::Uuid;
use wallet_api::http::extract::REQUEST_BODY_BYTES_MAX;

/// A weekday noon in Beijing (outside friendly-credit hours), after every reading below.
const NOW_BEIJING: &str = "2026-03-10T12:00:00+08:00";
const INSTALLED_AT: &str = "2026-01-01T00:00:00Z";

/// `PUT path` with a JSON body and an optional bearer token.
async fn put(app: &TestApp, path: &str, token: Option<&str>, body: &str) -> Reply {
    let authorization = token.map(|token| format!("Bearer {token}"));
    let mut headers: Vec<(&str, &[u8])> = vec![("content-type", b"application/json")];
    if let Some(authorization) = &authorization {
        headers.push(("authorization", authorization.as_bytes()));
    }
    app.request("PUT", path, &headers, body.as_bytes().to_vec()).await
}

/// `PUT /v1/tariffs/{code}` as admin that must answer 200; returns the tariff.
async fn set_tariff(app: &TestApp, code: &str, body: Value) -> Value {
    let reply = put(app, &format!("/v1/tariffs/{code}"), Some(&app.admin_token), &body.to_string()).await;
    assert_eq!(reply.status, 200, "PUT /v1/tariffs/{code} {body}: {}", reply.text());
    assert!(reply.content_type.starts_with("application/json"), "{reply:?}");
    reply.json
}

/// "test-city": 0–100 m³ at 3.00, above at 4.00, calendar tier year, from 2020.
fn test_city() -> Value {
    json!({ "versions": [{
        "effective_from": "2020-01-01",
        "cycle_start": "01-01",
        "tiers": [{ "up_to": "100", "price": "3.00" }, { "up_to": null, "price": "4.00" }],
    }] })
}

/// A meter outside this project, registered through the API with register 0 at [`INSTALLED_AT`].
struct OutsideMeter {
    id: String,
    key: SigningKey,
}

impl OutsideMeter {
    async fn register(app: &TestApp, customer_id: &str) -> OutsideMeter {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let body = json!({
            "serial": format!("BJ-{}", &Uuid::new_v4().simple().to_string()[..16]),
            "customer_id": customer_id,
            "public_key": hex::encode(key.verifying_key().to_bytes()),
            "initial_register": "0.000",
            "installed_at": INSTALLED_AT,
        });
        let meter = app.post_ok("/v1/meters", &app.admin_token, body, None, 201).await;
        OutsideMeter { id: meter.str("id"), key }
    }

    /// A reading signed over `meter_id|counter|register|read_at`, exactly as sent.
    fn reading(&self, counter: u64, register: &str, read_at: &str) -> Value {
        let message = format!("{}|{counter}|{register}|{read_at}", self.id);
        json!({
            "meter_id": self.id,
            "counter": counter,
            "register": register,
            "read_at": read_at,
            "signature": hex::encode(self.key.sign(message.as_bytes()).to_bytes()),
        })
    }
}

/// A bill line as (tier, volume, unit price, amount).
fn lines(bill: &Value) -> Vec<(u64, &str, &str, &str)> {
    bill["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            (
                line["tier"].as_u64().unwrap(),
                line["volume"].as_str().unwrap(),
                line["unit_price"].as_str().unwrap(),
                line["amount"].as_str().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_tariffs_are_beijing_s() {
    let app = spawn_app().await;
    let customer = app.customer("Li Na").await;
    // Any token may read a tariff.
    let residential = app.get_ok("/v1/tariffs/residential", &customer.token).await;
    assert_eq!(
        residential,
        json!({
            "code": "residential",
            "versions": [{
                "effective_from": "2019-01-01",
                "cycle_start": "01-01",
                "tiers": [
                    { "up_to": "350", "price": "2.61" },
                    { "up_to": "500", "price": "2.83" },
                    { "up_to": null, "price": "4.23" },
                ],
                "household_uplift": { "min_household_size": 6, "extra_m3_per_boundary": "150" },
            }],
        })
    );
    let heating = app.get_ok("/v1/tariffs/residential-heating", &app.admin_token).await;
    let boundaries: Vec<&Value> =
        heating["versions"][0]["tiers"].as_array().unwrap().iter().map(|tier| &tier["up_to"]).collect();
    assert_eq!(boundaries, [&json!("1500"), &json!("2500"), &Value::Null], "{heating}");

    let reply = app.get("/v1/tariffs/residential", None).await;
    assert_problem(&reply, 401, "unauthorized", "no token");
    let reply = app.get("/v1/tariffs/no-such-city", Some(&app.admin_token)).await;
    assert_problem(&reply, 404, "not_found", "an unknown code");
    let reply = app.get("/v1/tariffs/Residential", Some(&app.admin_token)).await;
    assert_problem(&reply, 404, "not_found", "a code that is not a code");
    let reply = app.get("/v1/tariffs/%FF", Some(&app.admin_token)).await;
    assert_problem(&reply, 404, "not_found", "a code that is not UTF-8");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_on_a_custom_tariff_is_charged_at_its_tiers() {
    let app = spawn_app_with_manual_clock().await;
    app.clock.as_ref().unwrap().set(wallet_api::time::parse_rfc3339(NOW_BEIJING).unwrap());

    let set = set_tariff(&app, "test-city", test_city()).await;
    assert_eq!(
        set,
        json!({
            "code": "test-city",
            "versions": [{
                "effective_from": "2020-01-01",
                "cycle_start": "01-01",
                "tiers": [{ "up_to": "100", "price": "3" }, { "up_to": null, "price": "4" }],
                "household_uplift": null,
            }],
        })
    );
    assert_eq!(app.get_ok("/v1/tariffs/test-city", &app.admin_token).await, set);

    // A customer takes the tariff at creation; an unknown code is refused.
    let body = json!({ "name": "Zhao Lei", "tariff": "test-city" });
    let created = app.post_ok("/v1/customers", &app.admin_token, body, None, 201).await;
    assert_eq!(created.json["tariff"], "test-city", "{}", created.text());
    let customer_id = created.str("id");
    let wallet_id = created.str("wallet_id");
    let reply =
        app.post("/v1/customers", Some(&app.admin_token), r#"{"name":"X","tariff":"no-such-city"}"#, None).await;
    assert_problem(&reply, 422, "unknown_tariff", "an unknown tariff");

    app.fund(&wallet_id, "1000.00").await;
    let meter = OutsideMeter::register(&app, &customer_id).await;
    let concentrator =
        app.post_ok("/v1/concentrators", &app.admin_token, json!({ "name": "Gateway 9" }), None, 201).await.str("id");
    let concentrator = app.token("concentrator", Some(&concentrator)).await;

    // 150 m³: 100 × 3.00 + 50 × 4.00 = 500.00.
    let batch = json!({ "readings": [meter.reading(1, "150.000", "2026-03-01T03:00:00Z")] });
    let reply = app.post_ok("/v1/meter-readings", &concentrator, batch, None, 200).await;
    let result = &reply.json["results"][0];
    assert_eq!((&result["status"], &result["charge"]), (&json!("accepted"), &json!("500.00")), "{}", reply.text());
    assert_eq!(app.balance(&wallet_id).await, "500.00");

    let bills = app.get_ok(&format!("/v1/customers/{customer_id}/bills"), &app.admin_token).await;
    let bill = &bills["items"][0];
    assert_eq!(lines(bill), [(1, "100.000", "3", "300.00"), (2, "50.000", "4", "200.00")], "{bill}");
    let expected = json!({
        "volume": "150.000",
        "total": "500.00",
        "paid_from_wallet": "500.00",
        "added_to_arrears": "0.00",
        "tier_year_start": "2026-01-01",
        "annual_volume": "150.000",
        // In the last tier: no next one.
        "next_tier_at": null,
        "volume_to_next_tier": null,
    });
    for (member, value) in expected.as_object().unwrap() {
        assert_eq!(&bill[member], value, "bill {member}: {bill}");
    }

    // A new version from 2 March: the next reading's volume is shared out by time between the old
    // and the new prices (13 of its 96 hours fall before 2 March in Beijing), still in the second tier.
    let mut raised = test_city();
    raised["versions"].as_array_mut().unwrap().push(json!({
        "effective_from": "2026-03-02",
        "cycle_start": "01-01",
        "tiers": [{ "up_to": "100", "price": "3.50" }, { "up_to": null, "price": "4.50" }],
    }));
    set_tariff(&app, "test-city", raised).await;
    let batch = json!({ "readings": [meter.reading(2, "160.000", "2026-03-05T03:00:00Z")] });
    let reply = app.post_ok("/v1/meter-readings", &concentrator, batch, None, 200).await;
    assert_eq!(reply.json["results"][0]["charge"], "44.33", "{}", reply.text());
    let bills = app.get_ok(&format!("/v1/customers/{customer_id}/bills"), &app.admin_token).await;
    let bill = &bills["items"][0];
    assert_eq!(lines(bill), [(2, "1.354", "4", "5.42"), (2, "8.646", "4.5", "38.91")], "{bill}");
    assert_eq!(app.balance(&wallet_id).await, "455.67");
    app.assert_ledger_verifies().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tariffs_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let customer = app.customer("Li Na").await;
    let before = set_tariff(&app, "test-city", test_city()).await;
    let admin = Some(app.admin_token.clone());
    // Who asks, for which code: refused before the body's tariff is looked at.
    let long_code = "a".repeat(33);
    let callers = vec![
        ("no token", None, "test-city", test_city(), 401, "unauthorized"),
        ("a customer token", Some(customer.token.clone()), "test-city", test_city(), 403, "forbidden"),
        // The body is not looked at for a token that may not set tariffs.
        ("a customer token, a bad body", Some(customer.token.clone()), "test-city", json!({}), 403, "forbidden"),
        ("an upper-case code", admin.clone(), "Test-City", test_city(), 422, "validation_failed"),
        ("a code of 33", admin.clone(), long_code.as_str(), test_city(), 422, "validation_failed"),
        ("a code with a space", admin.clone(), "test%20city", test_city(), 422, "validation_failed"),
    ];
    for (name, token, code, body, status, problem) in &callers {
        let sequence_before = app.journal_sequence().await;
        let reply = put(&app, &format!("/v1/tariffs/{code}"), token.as_deref(), &body.to_string()).await;
        assert_problem(&reply, *status, problem, name);
        assert_eq!(app.journal_sequence().await, sequence_before, "{name}: nothing written");
    }

    // Bodies, as admin for test-city: each refused with 422 and a code.
    // test-city's version with one member changed.
    let version = |member: &str, value: Value| {
        let mut body = test_city();
        body["versions"][0][member] = value;
        body
    };
    let tiers = |tiers: Value| version("tiers", tiers);
    let tier = |up_to: Value, price: &str| json!({ "up_to": up_to, "price": price });
    let bounded = |up_to: &str| tiers(json!([tier(json!(up_to), "3"), tier(Value::Null, "4")]));
    let last = |price: &str| tiers(json!([tier(Value::Null, price)]));
    let uplift = |size: Value, extra: Value| {
        version("household_uplift", json!({ "min_household_size": size, "extra_m3_per_boundary": extra }))
    };
    let nine_tiers: Vec<Value> =
        (1..=8).map(|up_to| tier(json!(up_to.to_string()), "3")).chain([tier(Value::Null, "4")]).collect();
    let twice = json!({ "versions": [test_city()["versions"][0].clone(), test_city()["versions"][0].clone()] });
    let bodies: Vec<(&str, Value, &str)> = vec![
        ("no versions member", json!({}), "validation_failed"),
        ("an unknown member", json!({ "versions": [], "code": "x" }), "validation_failed"),
        ("an unknown version member", version("colour", json!("blue")), "validation_failed"),
        ("a date that is not a date", version("effective_from", json!("2020-02-30")), "validation_failed"),
        ("a date without zeros", version("effective_from", json!("2020-1-1")), "validation_failed"),
        ("a date as a number", version("effective_from", json!(20200101)), "validation_failed"),
        ("a cycle start without zeros", version("cycle_start", json!("1-1")), "validation_failed"),
        ("a cycle start with a year", version("cycle_start", json!("2020-01-01")), "validation_failed"),
        ("a household of 256", uplift(json!(256), json!("150")), "validation_failed"),
        ("a price as a number", tiers(json!([{ "up_to": null, "price": 3 }])), "invalid_amount"),
        (
            "a boundary as a number",
            tiers(json!([{ "up_to": 100, "price": "3" }, tier(Value::Null, "4")])),
            "invalid_amount",
        ),
        ("a price with an exponent", last("3e0"), "invalid_amount"),
        ("an uplift as a number", uplift(json!(6), json!(150)), "invalid_amount"),
        ("no versions", json!({ "versions": [] }), "invalid_tariff"),
        ("versions out of order", twice, "invalid_tariff"),
        ("no tiers", tiers(json!([])), "invalid_tariff"),
        ("nine tiers", tiers(json!(nine_tiers)), "invalid_tariff"),
        ("a bounded last tier", tiers(json!([tier(json!("100"), "3")])), "invalid_tariff"),
        (
            "an unbounded middle tier",
            tiers(json!([tier(json!("100"), "3"), tier(Value::Null, "3.5"), tier(Value::Null, "4")])),
            "invalid_tariff",
        ),
        (
            "boundaries going down",
            tiers(json!([tier(json!("100"), "3"), tier(json!("50"), "3.5"), tier(Value::Null, "4")])),
            "invalid_tariff",
        ),
        ("a boundary of 0", bounded("0"), "invalid_tariff"),
        ("a boundary in tenths of a litre", bounded("100.0001"), "invalid_tariff"),
        ("a boundary above the limit", bounded("100000001"), "invalid_tariff"),
        ("a free tier", last("0"), "invalid_tariff"),
        ("a negative price", last("-3"), "invalid_tariff"),
        ("a price of five decimals", last("2.61001"), "invalid_tariff"),
        ("a price above the limit", last("1000.01"), "invalid_tariff"),
        // Would overflow the pricing arithmetic (volume × price) at the first reading.
        ("a price near Decimal::MAX", last("79228162514264337593543950335"), "invalid_tariff"),
        ("29 February", version("cycle_start", json!("02-29")), "invalid_tariff"),
        ("month 13", version("cycle_start", json!("13-01")), "invalid_tariff"),
        ("a negative uplift", uplift(json!(6), json!("-1")), "invalid_tariff"),
        ("an uplift in tenths of a litre", uplift(json!(6), json!("0.0001")), "invalid_tariff"),
        ("an uplift above the limit", uplift(json!(6), json!("100000001")), "invalid_tariff"),
        ("an uplift from nobody", uplift(json!(0), json!("150")), "invalid_tariff"),
    ];
    for (name, body, problem) in &bodies {
        let sequence_before = app.journal_sequence().await;
        let reply = put(&app, "/v1/tariffs/test-city", admin.as_deref(), &body.to_string()).await;
        assert_problem(&reply, 422, problem, name);
        assert_eq!(app.journal_sequence().await, sequence_before, "{name}: nothing written");
    }
    let reply = put(&app, "/v1/tariffs/test-city", admin.as_deref(), r#"{"versions":"#).await;
    assert_problem(&reply, 400, "malformed_json", "a truncated body");
    let huge = json!({ "versions": "x".repeat(REQUEST_BODY_BYTES_MAX) }).to_string();
    let reply = put(&app, "/v1/tariffs/test-city", admin.as_deref(), &huge).await;
    assert_problem(&reply, 413, "payload_too_large", "a body above 64 KiB");
    assert_eq!(app.get_ok("/v1/tariffs/test-city", &app.admin_token).await, before, "refusals change nothing");
    let reply = app.get("/v1/tariffs/Test-City", Some(&app.admin_token)).await;
    assert_problem(&reply, 404, "not_found", "a refused code was not created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tariff_that_was_set_survives_a_restart() {
    let app = spawn_app().await;
    let set = set_tariff(&app, "test-city", test_city()).await;
    // Replacing a shipped tariff is allowed too.
    let mut residential = app.get_ok("/v1/tariffs/residential", &app.admin_token).await;
    residential.as_object_mut().unwrap().remove("code");
    residential["versions"][0]["tiers"][0]["price"] = json!("2.70");
    let replaced = set_tariff(&app, "residential", residential).await;
    assert_eq!(replaced["versions"][0]["tiers"][0]["price"], "2.7");

    let app = spawn_app_in(app.stop().await).await;
    assert_eq!(app.get_ok("/v1/tariffs/test-city", &app.admin_token).await, set);
    assert_eq!(app.get_ok("/v1/tariffs/residential", &app.admin_token).await, replaced);
    let body = json!({ "name": "Zhao Lei", "tariff": "test-city" });
    app.post_ok("/v1/customers", &app.admin_token, body, None, 201).await;
}
