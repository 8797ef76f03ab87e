//! Credit profiles over HTTP: after eight months of history, a customer who tops up regularly and
//! keeps a balance scores above one who runs dry and pays late, with reasons staff can read; a
//! rescore sets the wallets' credit limits (and says so with `score_changed`), and the limit then
//! decides whether a charge beyond the balance is taken from the wallet or booked as arrears.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_problem, spawn_app_with_manual_clock, unique, CustomerFixture, SignedMeter as Meter, TestApp};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::str::FromStr;

fn advance_days(app: &TestApp, days: i64) {
    app.clock.as_ref().unwrap().advance_micros(days * 86_400 * 1_000_000);
}

async fn top_up(app: &TestApp, customer: &CustomerFixture, amount: &str) {
    let body = json!({ "amount": amount, "channel": "alipay", "channel_txn_id": unique("txn") });
    let path = format!("/v1/wallets/{}/topups", customer.wallet_id);
    app.post_ok(&path, &app.admin_token, body, Some(&unique("topup")), 201).await;
}

async fn wallet(app: &TestApp, customer: &CustomerFixture) -> Value {
    app.get_ok(&format!("/v1/wallets/{}", customer.wallet_id), &app.admin_token).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_on_time_scores_higher_and_the_limit_moves_the_floor() {
    let app = spawn_app_with_manual_clock().await;
    // (The clock only moves forward: the journal's commit times never go backwards.)
    let finance = app.token("finance", None).await;
    let steady = app.customer("Steady Payer").await;
    let late = app.customer("Late Payer").await;
    let mut steady_meter = Meter::install(&app, &steady.id).await;
    let mut late_meter = Meter::install(&app, &late.id).await;
    top_up(&app, &steady, "300.00").await;
    top_up(&app, &late, "20.00").await;

    // Eight months: 2 m³ every third day each (5.22 CNY at 2.61). The steady payer tops up 100.00
    // every month; the late payer only every other month, after running dry, and not at the end.
    for day in (0..240).step_by(3) {
        advance_days(&app, 3);
        steady_meter.read(&app, "2.000").await;
        late_meter.read(&app, "2.000").await;
        if day % 30 == 0 {
            top_up(&app, &steady, "100.00").await;
        }
        if day % 60 == 57 && day < 200 {
            top_up(&app, &late, "100.00").await;
        }
    }
    let steady_wallet = wallet(&app, &steady).await;
    let late_wallet = wallet(&app, &late).await;
    assert_eq!(steady_wallet["arrears"], "0.00", "{steady_wallet}");
    assert_ne!(late_wallet["arrears"], "0.00", "the late payer is behind: {late_wallet}");

    let profile = |customer: &CustomerFixture| {
        let path = format!("/v1/customers/{}/credit-profile", customer.id);
        let app = &app;
        let finance = finance.clone();
        async move { app.get_ok(&path, &finance).await }
    };
    let good = profile(&steady).await;
    let bad = profile(&late).await;
    assert!(good["score"].as_i64().unwrap() > bad["score"].as_i64().unwrap(), "{good}\n{bad}");
    assert!(good["grade"].as_str().unwrap() < bad["grade"].as_str().unwrap(), "A is best: {good}\n{bad}");
    assert_eq!(good["model_version"], "gas-credit-v1");
    let reasons = bad["reasons"].as_array().unwrap();
    assert!(!reasons.is_empty() && reasons.len() <= 4, "{bad}");
    for reason in reasons {
        assert!(reason["points"].as_i64().unwrap() > 0, "{reason}");
        assert!(reason["description"].as_str().unwrap().len() > 10, "readable: {reason}");
    }
    let points: Vec<i64> = reasons.iter().map(|reason| reason["points"].as_i64().unwrap()).collect();
    assert!(points.windows(2).all(|pair| pair[0] >= pair[1]), "largest cost first: {points:?}");
    // The customer may read its own profile; nobody else's.
    app.get_ok(&format!("/v1/customers/{}/credit-profile", late.id), &late.token).await;
    let foreign = app.get(&format!("/v1/customers/{}/credit-profile", steady.id), Some(&late.token)).await;
    assert_problem(&foreign, 404, "not_found", "another customer's profile");

    // Until a rescore, wallets have no credit limit; the rescore applies the grades' limits.
    assert_eq!(steady_wallet["credit_limit"], "0.00");
    let run = app.post_ok("/v1/jobs/score", &finance, json!({}), None, 200).await;
    assert_eq!(run.json["done"], 2, "{}", run.text());
    let steady_limit = Decimal::from_str(wallet(&app, &steady).await["credit_limit"].as_str().unwrap()).unwrap();
    assert_eq!(steady_limit.to_string(), good["credit_limit"].as_str().unwrap());
    assert!(steady_limit > Decimal::ZERO, "a good grade grants credit: {good}");
    assert_eq!(wallet(&app, &late).await["credit_limit"], bad["credit_limit"]);
    let events = app.events(&finance).await;
    let changed: Vec<&Value> = events.iter().filter(|event| event["type"] == "score_changed").collect();
    assert_eq!(changed.len(), 2, "one per customer on the first rescore");
    // A second rescore changes nothing and says nothing.
    app.post_ok("/v1/jobs/score", &finance, json!({}), None, 200).await;
    assert_eq!(app.events(&finance).await.iter().filter(|event| event["type"] == "score_changed").count(), 2);

    // The limit is a floor below zero: spend the steady payer's balance down to exactly 0.00
    // with a merchant payment, then the next reading is taken from the wallet, not booked as
    // arrears.
    let balance = wallet(&app, &steady).await["balance"].as_str().unwrap().to_owned();
    let shop = app.merchant("Shop").await;
    app.paid(&shop, &steady, &balance).await;
    advance_days(&app, 3);
    let charged = steady_meter.read(&app, "2.000").await;
    assert_eq!(charged["charge"], "5.22");
    let after = wallet(&app, &steady).await;
    assert_eq!((after["balance"].as_str(), after["arrears"].as_str()), (Some("-5.22"), Some("0.00")), "{after}");
    app.assert_ledger_verifies().await;
}
