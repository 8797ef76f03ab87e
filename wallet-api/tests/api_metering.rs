//! Metering through HTTP, as an outside meter and concentrator see it: a meter registered with its
//! ed25519 public key signs `meter_id|counter|register|read_at`; its readings are charged at
//! Beijing's tier prices; bad readings are refused with a code and change nothing; a wallet that runs
//! dry goes into arrears and its valve closes (or, in friendly-credit hours, only a warning); a
//! top-up pays the arrears and arms the valve; the e-bills show the tier split and the distance to
//! the next tier.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_problem, is_uuid, spawn_app, spawn_app_with_manual_clock, CustomerFixture, TestApp};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};
use uuid::Uuid;
use wallet_api::http::extract::REQUEST_BODY_BYTES_MAX;
use wallet_api::http::metering::READINGS_REQUEST_BODY_BYTES_MAX;
use wallet_api::service::metering::READINGS_PER_REQUEST_MAX;

/// A weekday (Tuesday) noon in Beijing: outside friendly-credit hours.
const TUESDAY_NOON_BEIJING: &str = "2026-03-10T12:00:00+08:00";
/// The same Tuesday at 22:00 in Beijing: inside friendly-credit hours.
const TUESDAY_EVENING_BEIJING: &str = "2026-03-10T22:00:00+08:00";
const INSTALLED_AT: &str = "2026-01-01T00:00:00Z";

/// A meter outside this project: it knows only its key and API.md's signed encoding.
struct OutsideMeter {
    id: String,
    key: SigningKey,
}

impl OutsideMeter {
    /// A reading signed over the UTF-8 bytes of `meter_id|counter|register|read_at`, exactly as sent.
    fn reading(&self, counter: u64, register: &str, read_at: &str) -> Value {
        signed_reading(&self.key, &self.id, counter, register, read_at)
    }
}

fn signed_reading(key: &SigningKey, meter_id: &str, counter: u64, register: &str, read_at: &str) -> Value {
    let message = format!("{meter_id}|{counter}|{register}|{read_at}");
    let signature = key.sign(message.as_bytes());
    json!({
        "meter_id": meter_id,
        "counter": counter,
        "register": register,
        "read_at": read_at,
        "signature": hex::encode(signature.to_bytes()),
    })
}

/// A fresh serial (serials are at most 32 characters).
fn new_serial() -> String {
    format!("BJ-{}", &Uuid::new_v4().simple().to_string()[..16])
}

fn new_key() -> SigningKey {
    SigningKey::generate(&mut rand::rngs::OsRng)
}

fn at(text: &str) -> ledger::Timestamp {
    wallet_api::time::parse_rfc3339(text).unwrap()
}

/// A concentrator and its token.
async fn concentrator_token(app: &TestApp) -> String {
    let created = app.post_ok("/v1/concentrators", &app.admin_token, json!({ "name": "Gateway 7" }), None, 201).await;
    app.token("concentrator", Some(&created.str("id"))).await
}

/// Registers a meter (default flow) for the customer, installed at [`INSTALLED_AT`] with register 0.
async fn register_meter(app: &TestApp, customer: &CustomerFixture) -> OutsideMeter {
    let key = new_key();
    let body = json!({
        "serial": new_serial(),
        "customer_id": customer.id,
        "public_key": hex::encode(key.verifying_key().to_bytes()),
        "initial_register": "0.000",
        "installed_at": INSTALLED_AT,
    });
    let meter = app.post_ok("/v1/meters", &app.admin_token, body, None, 201).await;
    OutsideMeter { id: meter.str("id"), key }
}

/// Posts readings and returns each result as (status, code or charge).
async fn post_readings(app: &TestApp, token: &str, readings: Vec<Value>) -> Vec<(String, String)> {
    let count = readings.len();
    let reply = app.post_ok("/v1/meter-readings", token, json!({ "readings": readings }), None, 200).await;
    let results = reply.json["results"].as_array().expect("results");
    assert_eq!(results.len(), count, "one result per reading: {}", reply.text());
    results
        .iter()
        .map(|result| {
            let status = result["status"].as_str().unwrap().to_owned();
            // `code` only on a rejection, `charge` only on an acceptance.
            let detail = match status.as_str() {
                "accepted" => {
                    assert!(result.get("code").is_none(), "{result}");
                    result["charge"].as_str().unwrap().to_owned()
                }
                _ => {
                    assert!(result.get("charge").is_none(), "{result}");
                    result["code"].as_str().unwrap().to_owned()
                }
            };
            (status, detail)
        })
        .collect()
}

fn accepted(charge: &str) -> (String, String) {
    ("accepted".to_owned(), charge.to_owned())
}

fn rejected(code: &str) -> (String, String) {
    ("rejected".to_owned(), code.to_owned())
}

async fn wallet(app: &TestApp, customer: &CustomerFixture) -> Value {
    app.get_ok(&format!("/v1/wallets/{}", customer.wallet_id), &customer.token).await
}

async fn event_types(app: &TestApp, token: &str) -> Vec<String> {
    app.events(token).await.iter().map(|event| event["type"].as_str().unwrap().to_owned()).collect()
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
async fn an_outside_meter_is_charged_at_tier_prices_runs_dry_and_is_rearmed_by_a_top_up() {
    let app = spawn_app_with_manual_clock().await;
    // Friendly-credit hours follow the service's clock in Beijing time: a weekday noon closes at once.
    app.clock.as_ref().unwrap().set(at(TUESDAY_NOON_BEIJING));
    let customer = app.customer("Li Na").await;
    app.fund(&customer.wallet_id, "900.00").await;
    let concentrator = concentrator_token(&app).await;

    let key = new_key();
    let public_key = hex::encode(key.verifying_key().to_bytes());
    let body = json!({
        "serial": "BJ-0001",
        "customer_id": customer.id,
        "public_key": public_key.to_uppercase(),
        "initial_register": "0.000",
        "installed_at": INSTALLED_AT,
    });
    let registered = app.post_ok("/v1/meters", &app.admin_token, body, None, 201).await;
    assert!(is_uuid(&registered.json["id"]), "{}", registered.text());
    let expected = json!({
        "serial": "BJ-0001",
        "customer_id": customer.id,
        "public_key": public_key,
        "max_flow_m3_per_h": "6",
        "initial_register": "0.000",
        "installed_at": INSTALLED_AT,
        "state": "active",
    });
    for (member, value) in expected.as_object().unwrap() {
        assert_eq!(&registered.json[member], value, "meter {member}: {}", registered.text());
    }
    let meter = OutsideMeter { id: registered.str("id"), key };

    // 330 m³ from the installation, all in the first tier: 330 × 2.61.
    let first = meter.reading(1, "330.000", "2026-03-01T03:00:00Z");
    assert_eq!(post_readings(&app, &concentrator, vec![first.clone()]).await, [accepted("861.30")]);
    assert_eq!(wallet(&app, &customer).await["balance"], "38.70");

    // Bad readings are refused, each with its code, and change nothing.
    let balance_before = app.balance(&customer.wallet_id).await;
    let events_before = app.events(&app.admin_token).await.len();
    let sequence_before = app.journal_sequence().await;
    let mut tampered = meter.reading(2, "340.000", "2026-03-02T03:00:00Z");
    tampered["register"] = json!("340.001");
    let mut not_hex = meter.reading(2, "340.000", "2026-03-02T03:00:00Z");
    not_hex["signature"] = json!("zz");
    let cases: Vec<(&str, Value, (String, String))> = vec![
        (
            "signed with another key",
            signed_reading(&new_key(), &meter.id, 2, "340.000", "2026-03-02T03:00:00Z"),
            rejected("bad_signature"),
        ),
        ("a signed field changed", tampered, rejected("bad_signature")),
        ("a signature that is not hex", not_hex, rejected("bad_signature")),
        (
            "an unknown meter",
            signed_reading(&meter.key, &Uuid::new_v4().to_string(), 2, "340.000", "2026-03-02T03:00:00Z"),
            rejected("unknown_meter"),
        ),
        (
            "a meter id that is not a UUID",
            signed_reading(&meter.key, "BJ-0001", 2, "340.000", "2026-03-02T03:00:00Z"),
            rejected("unknown_meter"),
        ),
        ("an older counter", meter.reading(0, "330.000", "2026-02-28T03:00:00Z"), rejected("replayed_reading")),
        (
            "the register going backwards",
            meter.reading(2, "320.000", "2026-03-02T03:00:00Z"),
            rejected("register_backwards"),
        ),
        // The service's clock says 04:00Z; five minutes of skew are allowed, an hour is not.
        ("a reading from the future", meter.reading(2, "340.000", "2026-03-10T05:00:00Z"), rejected("future_reading")),
        // 1000 m³ in a day is far above 6 m³/h.
        ("implausible flow", meter.reading(2, "1330.000", "2026-03-02T03:00:00Z"), rejected("implausible_flow")),
        (
            "read before the previous reading",
            meter.reading(2, "340.000", "2026-02-28T03:00:00Z"),
            rejected("reading_out_of_order"),
        ),
        (
            "a register without three decimals",
            meter.reading(2, "340", "2026-03-02T03:00:00Z"),
            rejected("malformed_reading"),
        ),
        ("a time that is not RFC 3339", meter.reading(2, "340.000", "yesterday"), rejected("malformed_reading")),
        // A retry of the accepted reading answers the same and posts nothing twice.
        ("the accepted reading again", first, accepted("861.30")),
    ];
    let readings: Vec<Value> = cases.iter().map(|(_, reading, _)| reading.clone()).collect();
    let outcomes = post_readings(&app, &concentrator, readings).await;
    for ((name, _, expected), outcome) in cases.iter().zip(&outcomes) {
        assert_eq!(outcome, expected, "{name}");
    }
    assert_eq!(app.balance(&customer.wallet_id).await, balance_before, "bad readings charge nothing");
    assert_eq!(app.events(&app.admin_token).await.len(), events_before, "bad readings emit no event");
    assert_eq!(app.journal_sequence().await, sequence_before, "bad readings write nothing");

    // 330 → 370 m³ in the tier year: 20 × 2.61 + 20 × 2.83 = 108.80. The wallet has 38.70: the rest,
    // 70.10, is arrears, and on a weekday noon the valve closes.
    let second = meter.reading(2, "370.000", "2026-03-05T03:00:00Z");
    assert_eq!(post_readings(&app, &concentrator, vec![second]).await, [accepted("108.80")]);
    let dry = wallet(&app, &customer).await;
    assert_eq!((dry["balance"].as_str(), dry["arrears"].as_str()), (Some("0.00"), Some("70.10")), "{dry}");
    let events = app.events(&customer.token).await;
    let close = events.iter().find(|event| event["type"] == "valve_close").expect("a valve_close event");
    assert_eq!(close["customer_id"], customer.id.as_str());
    assert_eq!(close["wallet_id"], customer.wallet_id.as_str());
    assert_eq!(close["reason"], "arrears");
    assert!(!event_types(&app, &customer.token).await.contains(&"valve_close_deferred".to_owned()));

    // The e-bills: newest first, the tier split with unit prices, the annual volume and how far the
    // next tier is.
    let bills = app.get_ok(&format!("/v1/customers/{}/bills", customer.id), &customer.token).await;
    let items = bills["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{bills}");
    assert!(bills["next_cursor"].is_null(), "{bills}");
    let (newest, oldest) = (&items[0], &items[1]);
    assert_eq!(lines(newest), [(1, "20.000", "2.61", "52.20"), (2, "20.000", "2.83", "56.60")], "{newest}");
    let expected = json!({
        "customer_id": customer.id,
        "meter_id": meter.id,
        "period": { "from": "2026-03-01T03:00:00Z", "to": "2026-03-05T03:00:00Z" },
        "readings": { "previous_register": "330.000", "register": "370.000", "counter": 2 },
        "volume": "40.000",
        "total": "108.80",
        "paid_from_wallet": "38.70",
        "added_to_arrears": "70.10",
        "billing": "charged",
        "tier_year_start": "2026-01-01",
        "annual_volume": "370.000",
        "next_tier_at": "500.000",
        "volume_to_next_tier": "130.000",
    });
    for (member, value) in expected.as_object().unwrap() {
        assert_eq!(&newest[member], value, "newest bill {member}: {newest}");
    }
    assert_eq!(lines(oldest), [(1, "330.000", "2.61", "861.30")], "{oldest}");
    let expected = json!({
        "period": { "from": INSTALLED_AT, "to": "2026-03-01T03:00:00Z" },
        "readings": { "previous_register": "0.000", "register": "330.000", "counter": 1 },
        "total": "861.30",
        "paid_from_wallet": "861.30",
        "added_to_arrears": "0.00",
        "annual_volume": "330.000",
        "next_tier_at": "350.000",
        "volume_to_next_tier": "20.000",
    });
    for (member, value) in expected.as_object().unwrap() {
        assert_eq!(&oldest[member], value, "oldest bill {member}: {oldest}");
    }
    for bill in items {
        let path = format!("/v1/bills/{}", bill["id"].as_str().unwrap());
        assert_eq!(&app.get_ok(&path, &customer.token).await, bill);
    }
    let page = app.get_ok(&format!("/v1/customers/{}/bills?limit=1", customer.id), &app.admin_token).await;
    assert_eq!((&page["items"][0], page["next_cursor"].as_str()), (newest, Some("1")), "{page}");
    let page = app.get_ok(&format!("/v1/customers/{}/bills?limit=1&cursor=1", customer.id), &app.admin_token).await;
    assert_eq!((&page["items"][0], &page["next_cursor"]), (oldest, &Value::Null), "{page}");
    // Another customer sees neither the list nor a bill (answered like missing ones).
    let other = app.customer("Wang Fang").await;
    let reply = app.get(&format!("/v1/customers/{}/bills", customer.id), Some(&other.token)).await;
    assert_problem(&reply, 404, "not_found", "another customer's bills");
    let reply = app.get(&format!("/v1/bills/{}", newest["id"].as_str().unwrap()), Some(&other.token)).await;
    assert_problem(&reply, 404, "not_found", "another customer's bill");

    // A top-up pays the arrears first, then refills the wallet, and arms the valve.
    let topup = app.fund(&customer.wallet_id, "100.00").await;
    assert_eq!((topup.str("arrears_paid"), topup.str("balance")), ("70.10".to_owned(), "29.90".to_owned()));
    let paid_up = wallet(&app, &customer).await;
    assert_eq!((paid_up["balance"].as_str(), paid_up["arrears"].as_str()), (Some("29.90"), Some("0.00")), "{paid_up}");
    let types = event_types(&app, &customer.token).await;
    let position =
        |name: &str| types.iter().position(|event| event == name).unwrap_or_else(|| panic!("{name}: {types:?}"));
    assert!(position("valve_close") < position("valve_armed"), "{types:?}");

    app.assert_ledger_verifies().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_dry_in_friendly_credit_hours_only_warns() {
    let app = spawn_app_with_manual_clock().await;
    app.clock.as_ref().unwrap().set(at(TUESDAY_EVENING_BEIJING));
    let customer = app.customer("Zhao Lei").await;
    app.fund(&customer.wallet_id, "10.00").await;
    let concentrator = concentrator_token(&app).await;
    let meter = register_meter(&app, &customer).await;

    // 10 m³ × 2.61 = 26.10 against 10.00: 16.10 of arrears, on a Tuesday evening in Beijing.
    let reading = meter.reading(1, "10.000", "2026-03-10T10:00:00Z");
    assert_eq!(post_readings(&app, &concentrator, vec![reading]).await, [accepted("26.10")]);
    assert_eq!(wallet(&app, &customer).await["arrears"], "16.10");
    let events = app.events(&customer.token).await;
    let deferred = events.iter().find(|event| event["type"] == "valve_close_deferred").expect("a deferral warning");
    assert_eq!(deferred["reason"], "friendly-credit hours until 2026-03-11T00:00:00Z", "{deferred}");
    assert!(!events.iter().any(|event| event["type"] == "valve_close"), "{events:?}");
    app.assert_ledger_verifies().await;
}

/// One request that must be refused, and how.
struct Refusal {
    name: &'static str,
    token: Option<String>,
    body: Value,
    status: u16,
    code: &'static str,
}

async fn check_refusals(app: &TestApp, path: &str, cases: &[Refusal]) {
    for case in cases {
        let sequence_before = app.journal_sequence().await;
        let reply = app.post(path, case.token.as_deref(), &case.body.to_string(), None).await;
        assert_problem(&reply, case.status, case.code, case.name);
        assert_eq!(app.journal_sequence().await, sequence_before, "{}: nothing written", case.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meters_are_registered_by_admin_with_a_valid_key() {
    let app = spawn_app().await;
    let customer = app.customer("Li Na").await;
    let concentrator = concentrator_token(&app).await;
    let taken = register_meter(&app, &customer).await;
    let public_key = hex::encode(taken.key.verifying_key().to_bytes());
    // A 32-byte string that is not the encoding of a curve point.
    let not_a_point = (0u8..=255)
        .map(|first| {
            let mut bytes = [0u8; 32];
            bytes[0] = first;
            bytes[31] = 0x7f;
            bytes
        })
        .find(|bytes| ed25519_dalek::VerifyingKey::from_bytes(bytes).is_err())
        .expect("some y has no point");
    let meter = |changes: Value| {
        let mut body = json!({
            "serial": new_serial(),
            "customer_id": customer.id,
            "public_key": public_key,
            "initial_register": "0.000",
        });
        for (member, value) in changes.as_object().unwrap() {
            body[member] = value.clone();
        }
        body
    };
    let admin = Some(app.admin_token.clone());
    let refusal = |name, token: &Option<String>, changes, status, code| Refusal {
        name,
        token: token.clone(),
        body: meter(changes),
        status,
        code,
    };
    let duplicate_serial = app.post_ok("/v1/meters", &app.admin_token, meter(json!({})), None, 201).await.str("serial");
    let cases = [
        refusal("no token", &None, json!({}), 401, "unauthorized"),
        refusal("a customer token", &Some(customer.token.clone()), json!({}), 403, "forbidden"),
        refusal("a concentrator token", &Some(concentrator.clone()), json!({}), 403, "forbidden"),
        refusal("an unknown customer", &admin, json!({ "customer_id": Uuid::new_v4() }), 404, "not_found"),
        refusal("a serial taken", &admin, json!({ "serial": duplicate_serial }), 409, "duplicate_serial"),
        refusal("a key of 63 hex", &admin, json!({ "public_key": &public_key[..63] }), 422, "invalid_public_key"),
        refusal(
            "a key of 66 hex",
            &admin,
            json!({ "public_key": format!("{public_key}00") }),
            422,
            "invalid_public_key",
        ),
        refusal("a key that is not hex", &admin, json!({ "public_key": "z".repeat(64) }), 422, "invalid_public_key"),
        refusal(
            "a key off the curve",
            &admin,
            json!({ "public_key": hex::encode(not_a_point) }),
            422,
            "invalid_public_key",
        ),
        refusal("an empty serial", &admin, json!({ "serial": "" }), 422, "validation_failed"),
        refusal("a serial with a space", &admin, json!({ "serial": "BJ 1" }), 422, "validation_failed"),
        refusal("a serial of 33", &admin, json!({ "serial": "B".repeat(33) }), 422, "validation_failed"),
        refusal("a register as a number", &admin, json!({ "initial_register": 0 }), 422, "invalid_amount"),
        refusal("a register in litres", &admin, json!({ "initial_register": "1.0001" }), 422, "validation_failed"),
        refusal("a negative register", &admin, json!({ "initial_register": "-1.000" }), 422, "validation_failed"),
        refusal(
            "a register past the dial",
            &admin,
            json!({ "initial_register": "100000.000" }),
            422,
            "validation_failed",
        ),
        refusal("no flow", &admin, json!({ "max_flow_m3_per_h": "0" }), 422, "validation_failed"),
        refusal("a flow as a number", &admin, json!({ "max_flow_m3_per_h": 6 }), 422, "invalid_amount"),
        refusal(
            "an installation time that is not RFC 3339",
            &admin,
            json!({ "installed_at": "last spring" }),
            422,
            "validation_failed",
        ),
        refusal("an unknown field", &admin, json!({ "colour": "red" }), 422, "validation_failed"),
    ];
    check_refusals(&app, "/v1/meters", &cases).await;
    let mut missing = meter(json!({}));
    missing.as_object_mut().unwrap().remove("public_key");
    let reply = app.post("/v1/meters", Some(&app.admin_token), &missing.to_string(), None).await;
    assert_problem(&reply, 422, "validation_failed", "a missing public key");
    let huge = json!({ "serial": "x".repeat(REQUEST_BODY_BYTES_MAX) }).to_string();
    let reply = app.post("/v1/meters", Some(&app.admin_token), &huge, None).await;
    assert_problem(&reply, 413, "payload_too_large", "a body above 64 KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_batches_are_for_concentrators_and_limited() {
    let app = spawn_app().await;
    let customer = app.customer("Li Na").await;
    let concentrator = concentrator_token(&app).await;
    let technician =
        app.post_ok("/v1/technicians", &app.admin_token, json!({ "name": "Li Wei" }), None, 201).await.str("id");
    let technician = app.token("technician", Some(&technician)).await;
    let meter = register_meter(&app, &customer).await;
    let one = json!({ "readings": [meter.reading(1, "1.000", "2026-03-01T03:00:00Z")] });
    let batch = |readings: Value| json!({ "readings": readings });
    // The valid reading with one member changed (or, for `None`, left out).
    let changed = |member: &str, value: Option<Value>| {
        let mut reading = one["readings"][0].clone();
        match value {
            Some(value) => reading[member] = value,
            None => {
                reading.as_object_mut().unwrap().remove(member);
            }
        }
        batch(json!([reading]))
    };
    let cases = [
        Refusal { name: "no token", token: None, body: one.clone(), status: 401, code: "unauthorized" },
        Refusal {
            name: "a customer token",
            token: Some(customer.token.clone()),
            body: one.clone(),
            status: 403,
            code: "forbidden",
        },
        Refusal {
            name: "a technician token",
            token: Some(technician),
            body: one.clone(),
            status: 403,
            code: "forbidden",
        },
        Refusal {
            name: "no readings",
            token: Some(concentrator.clone()),
            body: batch(json!([])),
            status: 422,
            code: "validation_failed",
        },
        Refusal {
            name: "a negative counter",
            token: Some(concentrator.clone()),
            body: changed("counter", Some(json!(-1))),
            status: 422,
            code: "validation_failed",
        },
        Refusal {
            name: "a counter as a string",
            token: Some(concentrator.clone()),
            body: changed("counter", Some(json!("1"))),
            status: 422,
            code: "validation_failed",
        },
        Refusal {
            name: "a missing signature",
            token: Some(concentrator.clone()),
            body: changed("signature", None),
            status: 422,
            code: "validation_failed",
        },
    ];
    check_refusals(&app, "/v1/meter-readings", &cases).await;

    // A full batch of realistic readings (long counters, offsets, fractions of a second) is above the
    // general body limit but within the readings limit, and is answered reading by reading.
    let full: Vec<Value> = (0..READINGS_PER_REQUEST_MAX)
        .map(|index| {
            signed_reading(
                &meter.key,
                &Uuid::new_v4().to_string(),
                u64::MAX - index as u64,
                "99999.999",
                "2026-03-01T11:00:00.123456+08:00",
            )
        })
        .collect();
    let body = json!({ "readings": full }).to_string();
    assert!((REQUEST_BODY_BYTES_MAX..READINGS_REQUEST_BODY_BYTES_MAX).contains(&body.len()), "{}", body.len());
    let outcomes = post_readings(&app, &concentrator, full).await;
    assert!(outcomes.iter().all(|outcome| *outcome == rejected("unknown_meter")), "{outcomes:?}");
    let mut too_many: Vec<Value> = (0..READINGS_PER_REQUEST_MAX).map(|_| one["readings"][0].clone()).collect();
    too_many.push(one["readings"][0].clone());
    let reply = app.post("/v1/meter-readings", Some(&concentrator), &batch(json!(too_many)).to_string(), None).await;
    assert_problem(&reply, 422, "validation_failed", "one reading more than the limit");
    let oversized = format!(r#"{{"readings":[]}}{}"#, " ".repeat(READINGS_REQUEST_BODY_BYTES_MAX));
    let reply = app.post("/v1/meter-readings", Some(&concentrator), &oversized, None).await;
    assert_problem(&reply, 413, "payload_too_large", "a body above the readings limit");
    let limit = READINGS_REQUEST_BODY_BYTES_MAX.to_string();
    assert!(reply.str("detail").contains(&limit), "the detail names this route's limit: {}", reply.text());
    let reply = app.post("/v1/meter-readings", Some(&concentrator), r#"{"readings":"#, None).await;
    assert_problem(&reply, 400, "malformed_json", "a truncated body");

    // Admin may post readings too (for back-office corrections).
    assert_eq!(
        post_readings(&app, &app.admin_token, vec![meter.reading(1, "1.000", "2026-03-01T03:00:00Z")]).await,
        [accepted("2.61")]
    );
}
