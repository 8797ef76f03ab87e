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

fn beijing_day(at: Timestamp) -> String {
    settlement::business_day::business_day_of(at.unix_micros() / 1_000_000).unwrap().to_string()
}

/// Moves the clock to 01:00 Beijing time of the day after `day`.
fn move_to_next_day(app: &TestApp, day: &str) {
    let (_, end) = settlement::business_day::day_bounds_utc(settlement::business_day::BusinessDay::parse(day).unwrap());
    app.clock.as_ref().unwrap().set(Timestamp::from_unix_seconds(end + 3600));
}

fn merchant_line<'a>(batch: &'a Value, merchant_id: &str) -> &'a Value {
    batch["lines"].as_array().unwrap().iter().find(|line| line["merchant_id"] == merchant_id).unwrap()
}

fn settlement_figures(line: &Value) -> Vec<&str> {
    ["gross", "refunded", "fees_charged", "fees_returned", "net", "deficit_brought_forward", "payout"]
        .iter()
        .chain(&["deficit_carried_forward"])
        .map(|field| line[*field].as_str().unwrap())
        .collect()
}

async fn refund(app: &TestApp, merchant: &common::MerchantFixture, payment: &str, amount: &str) {
    let path = format!("/v1/payments/{payment}/refunds");
    app.post_ok(&path, &merchant.token, json!({ "amount": amount }), Some(&unique("refund")), 201).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchants_are_settled_t_plus_one_with_fees_refunds_and_carried_deficits() {
    let app = spawn_app_with_manual_clock().await;
    let finance = app.token("finance", None).await;
    let customer = app.customer("Zhao Lei").await;
    app.fund(&customer.wallet_id, "1000.00").await;
    let shop = app.merchant("Corner Shop").await;
    let bakery = app.merchant("Bakery").await;

    // Day one: 100.00 and 9.90 at the shop (fees 0.60 and 0.06), 10.00 of the first refunded;
    // 50.00 at the bakery.
    let day_one = beijing_day(now(&app));
    let big = app.paid(&shop, &customer, "100.00").await;
    app.paid(&shop, &customer, "9.90").await;
    refund(&app, &shop, &big, "10.00").await;
    app.paid(&bakery, &customer, "50.00").await;
    let settle = |date: &str| json!({ "date": date });
    let early = app.post("/v1/settlements/merchants", Some(&finance), &settle(&day_one).to_string(), None).await;
    assert_problem(&early, 422, "day_not_ended", "settling today");

    move_to_next_day(&app, &day_one);
    let batch = app.post_ok("/v1/settlements/merchants", &finance, settle(&day_one), None, 200).await.json;
    assert_eq!(batch["date"], day_one);
    assert_eq!(batch["lines"].as_array().unwrap().len(), 2);
    let shop_line = merchant_line(&batch, &shop.id);
    assert_eq!(
        settlement_figures(shop_line),
        ["109.90", "10.00", "0.66", "0.06", "99.30", "0.00", "99.30", "0.00"],
        "shop, day one"
    );
    assert_eq!((shop_line["payments"].as_u64(), shop_line["refunds"].as_u64()), (Some(2), Some(1)));
    let bakery_line = merchant_line(&batch, &bakery.id);
    assert_eq!(settlement_figures(bakery_line), ["50.00", "0.00", "0.30", "0.00", "49.70", "0.00", "49.70", "0.00"]);
    assert_eq!((batch["total_payout"].as_str(), batch["total_fees"].as_str()), (Some("149.00"), Some("0.90")));

    // A second run is the same batch and pays nothing twice; the books show the payouts once.
    let again = app.post_ok("/v1/settlements/merchants", &finance, settle(&day_one), None, 200).await.json;
    assert_eq!(again, batch);
    let books = app.get_ok("/v1/reports/trial-balance", &finance).await;
    assert_eq!(line(&books, 2202)["closing"], "0.00", "merchant payables are paid out");
    assert_eq!(line(&books, 6051)["closing"], "0.90", "fee revenue");
    assert_eq!(line(&books, 1002)["closing"], "-149.00", "paid from the bank");
    assert_eq!(books["totals"]["balanced"], true);

    // Day two: the shop refunds 80.00 more of day one's payment: fee back 0.48 (0.54 in all of
    // 0.60 for 90 % refunded), net −79.52, nothing paid, the deficit carried.
    let day_two = beijing_day(now(&app));
    refund(&app, &shop, &big, "80.00").await;
    move_to_next_day(&app, &day_two);
    let batch_two = app.post_ok("/v1/settlements/merchants", &finance, settle(&day_two), None, 200).await.json;
    assert_eq!(batch_two["lines"].as_array().unwrap().len(), 1, "only the shop had activity");
    assert_eq!(
        settlement_figures(merchant_line(&batch_two, &shop.id)),
        ["0.00", "80.00", "0.00", "0.48", "-79.52", "0.00", "0.00", "79.52"]
    );

    // Day three: a 100.00 sale covers the deficit first.
    let day_three = beijing_day(now(&app));
    app.paid(&shop, &customer, "100.00").await;
    move_to_next_day(&app, &day_three);
    let batch_three = app.post_ok("/v1/settlements/merchants", &finance, settle(&day_three), None, 200).await.json;
    assert_eq!(
        settlement_figures(merchant_line(&batch_three, &shop.id)),
        ["100.00", "0.00", "0.60", "0.00", "99.40", "79.52", "19.88", "0.00"]
    );
    let books = app.get_ok("/v1/reports/trial-balance", &finance).await;
    assert_eq!(line(&books, 2202)["closing"], "0.00", "the deficit was recovered from the next sale");
    assert_eq!(books["totals"]["balanced"], true);

    // Reading: finance sees all, a merchant its own line, others nothing; the CSV ties to the JSON.
    let path = format!("/v1/settlements/merchants/{day_one}");
    assert_eq!(app.get_ok(&path, &finance).await, batch);
    let own = app.get_ok(&path, &bakery.token).await;
    assert_eq!(own["lines"].as_array().unwrap().len(), 1);
    assert_eq!(own["lines"][0]["merchant_id"], bakery.id);
    assert_problem(&app.get(&path, Some(&customer.token)).await, 403, "forbidden", "a customer");
    assert_problem(
        &app.get("/v1/settlements/merchants/2020-01-01", Some(&finance)).await,
        404,
        "not_found",
        "unsettled",
    );
    let csv = app.get(&format!("{path}/report.csv"), Some(&finance)).await;
    assert_eq!(csv.status, 200);
    assert!(csv.content_type.starts_with("text/csv"), "{}", csv.content_type);
    let rows: Vec<String> = csv.text().lines().map(str::to_owned).collect();
    assert_eq!(rows.len(), 4, "header, two merchants, totals: {rows:?}");
    assert!(rows[0].starts_with("date,merchant_id,merchant_name,fee_rate,payments,refunds,gross"));
    assert!(rows
        .iter()
        .any(|row| row.contains(&shop.id) && row.ends_with("109.90,10.00,0.66,0.06,99.30,0.00,99.30,0.00")));
    assert_eq!(rows[3], format!("{day_one},TOTAL,,,3,1,159.90,10.00,0.96,0.06,149.00,0.00,149.00,0.00"));
    let bakery_csv = app.get(&format!("{path}/report.csv"), Some(&bakery.token)).await.text();
    assert!(!bakery_csv.contains(&shop.id), "a merchant's report holds only its own line");

    // An unsettled day before a settled one can no longer be settled (deficits carry in order).
    let before = settlement::business_day::business_day_of(
        settlement::business_day::day_bounds_utc(settlement::business_day::BusinessDay::parse(&day_one).unwrap()).0
            - 3600,
    )
    .unwrap()
    .to_string();
    let late = app.post("/v1/settlements/merchants", Some(&finance), &settle(&before).to_string(), None).await;
    assert_problem(&late, 409, "settlement_out_of_order", "settling an earlier day afterwards");
    let bad_body = json!({ "date": "03/01/2026" }).to_string();
    let bad = app.post("/v1/settlements/merchants", Some(&finance), &bad_body, None).await;
    assert_problem(&bad, 422, "validation_failed", "a date in another format");
    let body = settle(&day_one).to_string();
    let by_merchant = app.post("/v1/settlements/merchants", Some(&shop.token), &body, None).await;
    assert_problem(&by_merchant, 403, "forbidden", "a merchant settling");
    app.assert_ledger_verifies().await;
}
