//! Finance reports over HTTP, as finance staff use them: the trial balance as of any time ties
//! out (debits = credits) with the exact figures per account code, the wallet-liability
//! roll-forward explains the closing balance, and the daily close signs the journal head of a
//! finished day with the engine's key and never changes afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_problem, spawn_app_with_manual_clock, unique, TestApp};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use ledger::Timestamp;
use serde_json::{json, Value};
use wallet_api::time::format_rfc3339;

fn now(app: &TestApp) -> Timestamp {
    app.clock.as_ref().unwrap().now_for_tests()
}

fn advance_seconds(app: &TestApp, seconds: i64) {
    app.clock.as_ref().unwrap().advance_micros(seconds * 1_000_000);
}

fn line(report: &Value, code: u64) -> &Value {
    report["lines"].as_array().unwrap().iter().find(|line| line["code"] == code).unwrap_or_else(|| {
        panic!("no line for code {code} in {report}");
    })
}

fn figures(line: &Value) -> [&str; 4] {
    ["opening", "debits", "credits", "closing"].map(|field| line[field].as_str().unwrap())
}

/// Registers a meter for the customer (register 0, installed now) and sends one signed reading of
/// `register` an hour later; returns the charge.
async fn charge_gas(app: &TestApp, customer_id: &str, register: &str) -> String {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let installed_at = format_rfc3339(now(app));
    let body = json!({
        "serial": unique("BJ").replace('_', "-").chars().take(32).collect::<String>(),
        "customer_id": customer_id,
        "public_key": hex::encode(key.verifying_key().to_bytes()),
        "initial_register": "0.000",
        "installed_at": installed_at,
    });
    let meter = app.post_ok("/v1/meters", &app.admin_token, body, None, 201).await.str("id");
    advance_seconds(app, 3600);
    let read_at = format_rfc3339(now(app));
    let message = format!("{meter}|1|{register}|{read_at}");
    let reading = json!({
        "meter_id": meter, "counter": 1, "register": register, "read_at": read_at,
        "signature": hex::encode(key.sign(message.as_bytes()).to_bytes()),
    });
    let reply = app.post_ok("/v1/meter-readings", &app.admin_token, json!({ "readings": [reading] }), None, 200).await;
    assert_eq!(reply.json["results"][0]["status"], "accepted", "{}", reply.text());
    reply.json["results"][0]["charge"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trial_balance_roll_forward_and_daily_close_tie_out_to_the_ledger() {
    let app = spawn_app_with_manual_clock().await;
    let finance = app.token("finance", None).await;
    let start = now(&app);

    // Day one: two top-ups, a gas charge, a payment and a partial refund.
    let zhang = app.customer("Zhang Wei").await;
    let li = app.customer("Li Na").await;
    let merchant = app.merchant("Corner Shop").await;
    app.fund(&zhang.wallet_id, "500.00").await;
    app.fund(&li.wallet_id, "200.00").await;
    assert_eq!(charge_gas(&app, &zhang.id, "5.000").await, "13.05");
    let payment = app.paid(&merchant, &li, "120.50").await;
    let refund = json!({ "amount": "20.25" });
    app.post_ok(&format!("/v1/payments/{payment}/refunds"), &merchant.token, refund, Some(&unique("r")), 201).await;
    advance_seconds(&app, 1);
    let after_day_one = now(&app);

    // A day and a bit later: one more top-up.
    advance_seconds(&app, 36 * 3600);
    app.fund(&zhang.wallet_id, "100.00").await;
    advance_seconds(&app, 1);

    // The whole journal: per code, exact figures, and debits = credits.
    let report = app.get_ok("/v1/reports/trial-balance", &finance).await;
    assert_eq!(report["currency"], "CNY");
    assert_eq!(report["from"], Value::Null);
    assert_eq!(figures(line(&report, 2241)), ["0.00", "133.55", "820.25", "686.70"], "customer wallets");
    assert_eq!(line(&report, 2241)["normal_side"], "credit");
    assert_eq!(line(&report, 2241)["accounts"], 2);
    assert_eq!(figures(line(&report, 1122)), ["0.00", "800.00", "0.00", "800.00"], "channel clearing");
    assert_eq!(figures(line(&report, 2202)), ["0.00", "20.25", "120.50", "100.25"], "merchant payable");
    assert_eq!(figures(line(&report, 6001)), ["0.00", "0.00", "13.05", "13.05"], "gas revenue");
    let totals = &report["totals"];
    assert_eq!(totals["debits"], "953.80");
    assert_eq!(totals["credits"], "953.80");
    assert_eq!(totals["closing_debit_balances"], "800.00");
    assert_eq!(totals["closing_credit_balances"], "800.00");
    assert_eq!(totals["balanced"], true);

    // As of the end of day one, and the period after it.
    let as_of = format_rfc3339(after_day_one);
    let then = app.get_ok(&format!("/v1/reports/trial-balance?as_of={as_of}"), &finance).await;
    assert_eq!(line(&then, 2241)["closing"], "586.70");
    assert_eq!(then["totals"]["balanced"], true);
    let period = app.get_ok(&format!("/v1/reports/trial-balance?from={as_of}"), &finance).await;
    assert_eq!(figures(line(&period, 2241)), ["586.70", "0.00", "100.00", "686.70"]);
    assert_eq!(figures(line(&period, 2202)), ["100.25", "0.00", "0.00", "100.25"]);
    assert_eq!(period["totals"]["debits"], "100.00");
    assert!(period["from_sequence"].as_u64().unwrap() == then["as_of_sequence"].as_u64().unwrap());

    // Roll-forward: opening + top-ups − gas − payments + refunds = closing.
    let roll = app.get_ok("/v1/reports/wallet-roll-forward", &finance).await;
    assert_eq!(roll["opening"], "0.00");
    assert_eq!(roll["topups"], "800.00");
    assert_eq!(roll["gas"], "13.05");
    assert_eq!(roll["payments"], "120.50");
    assert_eq!(roll["refunds"], "20.25");
    assert_eq!(roll["other"], "0.00");
    assert_eq!(roll["closing"], "686.70");
    assert_eq!(roll["ties_out"], true);
    let later = app.get_ok(&format!("/v1/reports/wallet-roll-forward?from={as_of}"), &finance).await;
    assert_eq!((later["opening"].as_str(), later["topups"].as_str()), (Some("586.70"), Some("100.00")));
    assert_eq!(later["closing"], "686.70");
    assert_eq!(later["ties_out"], true);

    // Closing day one signs the head at the end of that day; it never changes afterwards.
    let day_one = settlement::business_day::business_day_of(start.unix_micros() / 1_000_000).unwrap().to_string();
    let close = app.post_ok("/v1/ledger/close", &finance, json!({ "date": day_one }), None, 200).await.json;
    assert_eq!(close["date"], day_one);
    assert_eq!(close["balanced"], true);
    let (start_seconds, end_seconds) =
        settlement::business_day::day_bounds_utc(settlement::business_day::BusinessDay::parse(&day_one).unwrap());
    assert!(start_seconds < end_seconds);
    let end_of_day = format_rfc3339(Timestamp::from_unix_seconds(end_seconds).plus_micros(-1));
    let at_end = app.get_ok(&format!("/v1/reports/trial-balance?as_of={end_of_day}"), &finance).await;
    assert_eq!(close["sequence"], at_end["as_of_sequence"]);
    assert_eq!(close["debits"], at_end["totals"]["debits"]);
    let message = close["signed_message"].as_str().unwrap();
    assert_eq!(
        message,
        format!(
            "gaswallet-day-close|{day_one}|{}|{}|{}|{}",
            close["sequence"],
            close["head_hash"].as_str().unwrap(),
            close["debits"].as_str().unwrap(),
            close["credits"].as_str().unwrap()
        )
    );
    let public_key: [u8; 32] = hex::decode(close["public_key"].as_str().unwrap()).unwrap().try_into().unwrap();
    let signature: [u8; 64] = hex::decode(close["signature"].as_str().unwrap()).unwrap().try_into().unwrap();
    VerifyingKey::from_bytes(&public_key)
        .unwrap()
        .verify(message.as_bytes(), &Signature::from_bytes(&signature))
        .expect("the close verifies with the engine's public key");
    app.fund(&li.wallet_id, "1.00").await;
    let again = app.post_ok("/v1/ledger/close", &finance, json!({ "date": day_one }), None, 200).await.json;
    assert_eq!(again, close, "a second close answers the first");

    // Today has not ended; reports and closes are for finance and admin only.
    let today = settlement::business_day::business_day_of(now(&app).unix_micros() / 1_000_000).unwrap().to_string();
    let early = app.post("/v1/ledger/close", Some(&finance), &json!({ "date": today }).to_string(), None).await;
    assert_problem(&early, 422, "day_not_ended", "closing today");
    for path in ["/v1/reports/trial-balance", "/v1/reports/wallet-roll-forward"] {
        assert_problem(&app.get(path, Some(&zhang.token)).await, 403, "forbidden", path);
        assert_problem(&app.get(path, None).await, 401, "unauthorized", path);
    }
    let body = json!({ "date": day_one }).to_string();
    let customer_close = app.post("/v1/ledger/close", Some(&zhang.token), &body, None).await;
    assert_problem(&customer_close, 403, "forbidden", "a customer closing a day");
    app.assert_ledger_verifies().await;
}
