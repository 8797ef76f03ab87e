//! Repair service orders end to end over HTTP: a customer books (the price is held), a technician
//! accepts and completes, the customer rates, finance resolves disputes and pays technicians, and
//! every number ties out to the ledger: escrow empties, payables are paid once, refunds after a
//! payout are clawed back from the next one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_problem, spawn_app_with_manual_clock, unique, Reply, TestApp};
use ledger::Timestamp;
use serde_json::{json, Value};

struct Technician {
    id: String,
    token: String,
}

async fn technician(app: &TestApp, name: &str) -> Technician {
    let id = app.post_ok("/v1/technicians", &app.admin_token, json!({ "name": name }), None, 201).await.str("id");
    let token = app.token("technician", Some(&id)).await;
    Technician { id, token }
}

async fn book(app: &TestApp, token: &str, price: &str) -> Reply {
    let body = json!({ "service": "boiler annual service", "price": price }).to_string();
    app.post("/v1/service-orders", Some(token), &body, Some(&unique("book"))).await
}

async fn step(app: &TestApp, order: &str, action: &str, token: &str) -> Reply {
    app.post(&format!("/v1/service-orders/{order}/{action}"), Some(token), "", None).await
}

async fn rate(app: &TestApp, order: &str, token: &str, stars: u64) -> Reply {
    let body = json!({ "stars": stars, "comment": "thanks" }).to_string();
    app.post(&format!("/v1/service-orders/{order}/rating"), Some(token), &body, None).await
}

/// Books, accepts and completes an order; returns its id.
async fn completed_order(app: &TestApp, customer: &str, technician: &Technician, price: &str) -> String {
    let booked = book(app, customer, price).await;
    assert_eq!(booked.status, 201, "{}", booked.text());
    let id = booked.str("id");
    assert_eq!(step(app, &id, "accept", &technician.token).await.status, 200);
    assert_eq!(step(app, &id, "complete", &technician.token).await.status, 200);
    id
}

fn closing(report: &Value, code: u64) -> String {
    report["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|line| line["code"] == code)
        .map_or_else(|| "0.00".to_owned(), |line| line["closing"].as_str().unwrap().to_owned())
}

fn move_to_next_day(app: &TestApp) {
    let clock = app.clock.as_ref().unwrap();
    let day = settlement::business_day::business_day_of(clock.now_for_tests().unix_micros() / 1_000_000).unwrap();
    let (_, end) = settlement::business_day::day_bounds_utc(day);
    clock.set(Timestamp::from_unix_seconds(end + 3600));
}

fn today(app: &TestApp) -> String {
    let now = app.clock.as_ref().unwrap().now_for_tests();
    settlement::business_day::business_day_of(now.unix_micros() / 1_000_000).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booked_rated_disputed_paid_out_and_refunded_orders_tie_out() {
    let app = spawn_app_with_manual_clock().await;
    let finance = app.token("finance", None).await;
    let customer = app.customer("Wang Fang").await;
    app.fund(&customer.wallet_id, "500.00").await;
    let wu = technician(&app, "Wu Gang").await;
    let other = technician(&app, "Chen Jie").await;

    // Booking holds the price; a replay answers the same; a price beyond the wallet is refused.
    let body = json!({ "service": "boiler annual service", "price": "300.00" }).to_string();
    let key = unique("book");
    let booked = app.post("/v1/service-orders", Some(&customer.token), &body, Some(&key)).await;
    assert_eq!(booked.status, 201, "{}", booked.text());
    assert_eq!((booked.json["status"].as_str(), booked.json["price"].as_str()), (Some("booked"), Some("300.00")));
    let replay = app.post("/v1/service-orders", Some(&customer.token), &body, Some(&key)).await;
    assert_eq!(replay.json, booked.json);
    let wallet = app.get_ok(&format!("/v1/wallets/{}", customer.wallet_id), &customer.token).await;
    assert_eq!((wallet["available"].as_str(), wallet["held"].as_str()), (Some("200.00"), Some("300.00")));
    assert_problem(
        &book(&app, &customer.token, "1000.00").await,
        402,
        "insufficient_funds",
        "a price beyond the wallet",
    );
    assert_problem(&book(&app, &wu.token, "10.00").await, 403, "forbidden", "a technician booking");
    let first = booked.str("id");

    // Accept, complete, rate, each by the right party and in order.
    assert_problem(&rate(&app, &first, &customer.token, 5).await, 409, "invalid_transition", "rating a booked order");
    let accepted = step(&app, &first, "accept", &wu.token).await;
    assert_eq!(accepted.json["status"], "accepted");
    assert_eq!(accepted.json["technician_id"], wu.id);
    assert_problem(&step(&app, &first, "accept", &other.token).await, 404, "not_found", "taken by another");
    assert_eq!(step(&app, &first, "accept", &wu.token).await.json["status"], "accepted", "accepting again");
    assert_problem(&step(&app, &first, "complete", &other.token).await, 404, "not_found", "another technician");
    assert_problem(&step(&app, &first, "cancel", &customer.token).await, 409, "invalid_transition", "cancel late");
    assert_eq!(step(&app, &first, "complete", &wu.token).await.json["status"], "completed");
    assert_problem(&rate(&app, &first, &customer.token, 6).await, 422, "invalid_stars", "six stars");
    let stranger = app.customer("Someone Else").await;
    assert_problem(&rate(&app, &first, &stranger.token, 5).await, 404, "not_found", "another customer rating");

    // Five stars, standard tier (fewer than five rated jobs): 15 % commission.
    let rated = rate(&app, &first, &customer.token, 5).await;
    assert_eq!(rated.status, 200, "{}", rated.text());
    assert_eq!(rated.json["status"], "settled");
    assert_eq!(rated.json["technician_share"], "255.00");
    assert_eq!(rated.json["commission"], "45.00");
    assert_eq!(rated.json["commission_rate"], "0.15");
    assert_eq!(rated.json["rules_version"], "technician-rules-v1");
    assert_problem(&rate(&app, &first, &customer.token, 4).await, 409, "invalid_transition", "rating twice");

    // Two stars open a dispute; finance refunds 40.00 and settles the rest at the dispute rate.
    let second = completed_order(&app, &customer.token, &wu, "100.00").await;
    let disputed = rate(&app, &second, &customer.token, 2).await;
    assert_eq!(disputed.json["status"], "disputed", "{}", disputed.text());
    let missing_amount = resolve(&app, &second, &finance, json!({ "resolution": "partial_refund" })).await;
    assert_problem(&missing_amount, 422, "validation_failed", "a partial refund without an amount");
    let too_much =
        resolve(&app, &second, &finance, json!({ "resolution": "partial_refund", "refund_amount": "100.00" })).await;
    assert_problem(&too_much, 422, "refund_exceeds_price", "refunding all as partial");
    let resolved =
        resolve(&app, &second, &finance, json!({ "resolution": "partial_refund", "refund_amount": "40.00" })).await;
    assert_eq!(resolved.status, 200, "{}", resolved.text());
    assert_eq!(resolved.json["status"], "settled");
    assert_eq!(
        (
            resolved.json["refunded"].as_str(),
            resolved.json["technician_share"].as_str(),
            resolved.json["commission"].as_str()
        ),
        (Some("40.00"), Some("51.00"), Some("9.00"))
    );
    let by_customer = app
        .post(
            &format!("/v1/service-orders/{second}/resolution"),
            Some(&customer.token),
            r#"{"resolution":"full_refund"}"#,
            None,
        )
        .await;
    assert_problem(&by_customer, 403, "forbidden", "a customer resolving");

    // A booked order cancelled releases its hold.
    let third = book(&app, &customer.token, "50.00").await.str("id");
    assert_eq!(step(&app, &third, "cancel", &customer.token).await.json["status"], "cancelled");
    assert_problem(&step(&app, &third, "accept", &wu.token).await, 404, "not_found", "accepting a cancelled order");

    // The rating window closes seven days after completion.
    let late = completed_order(&app, &customer.token, &other, "10.00").await;
    let clock = app.clock.as_ref().unwrap();
    clock.advance_micros(7 * 86_400 * 1_000_000 + 1_000_000);
    assert_problem(&rate(&app, &late, &customer.token, 5).await, 409, "rating_window_closed", "rating too late");

    let books = app.get_ok("/v1/reports/trial-balance", &finance).await;
    assert_eq!(
        closing(&books, 2204),
        "0.00",
        "escrow: settled and resolved orders emptied it (the late one is a hold)"
    );
    assert_eq!(closing(&books, 2203), "306.00", "technician payable: 255 + 51");
    assert_eq!(closing(&books, 6052), "54.00", "commission: 45 + 9");
    assert_eq!(books["totals"]["balanced"], true);

    // Payout of the days the orders settled on, then again: paid once.
    let settled_on = {
        let at = rated.json["settled_at"].as_str().unwrap();
        let at = wallet_api::time::parse_rfc3339(at).unwrap();
        settlement::business_day::business_day_of(at.unix_micros() / 1_000_000).unwrap().to_string()
    };
    let period = json!({ "from": settled_on, "to": today(&app) });
    let early = app.post("/v1/settlements/technicians", Some(&finance), &period.to_string(), None).await;
    assert_problem(&early, 422, "day_not_ended", "paying out today");
    move_to_next_day(&app);
    let batch = app.post_ok("/v1/settlements/technicians", &finance, period.clone(), None, 200).await.json;
    let lines = batch["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{batch}");
    assert_eq!(lines[0]["technician_id"], wu.id);
    assert_eq!(
        ["gross", "refunds", "commission", "clawbacks", "net"].map(|field| lines[0][field].as_str().unwrap()),
        ["400.00", "40.00", "54.00", "0.00", "306.00"]
    );
    assert_eq!(batch["totals"]["net"], "306.00");
    let again = app.post_ok("/v1/settlements/technicians", &finance, period, None, 200).await.json;
    assert_eq!(again, batch, "the same period is the same batch");
    let books = app.get_ok("/v1/reports/trial-balance", &finance).await;
    assert_eq!(closing(&books, 2203), "0.00", "paid out once");
    assert_eq!(closing(&books, 1002), "-306.00", "from the bank");
    let batch_id = batch["batch_id"].as_str().unwrap();
    let paid = app.get_ok(&format!("/v1/service-orders/{first}"), &customer.token).await;
    assert_eq!((paid["status"].as_str(), paid["payout_batch_id"].as_str()), (Some("paid_out"), Some(batch_id)));

    // Reading the batch: finance all lines, a technician its own, the CSV for staff.
    let own = app.get_ok(&format!("/v1/settlements/technicians/{batch_id}"), &other.token).await;
    assert_eq!(own["lines"], json!([]), "another technician sees no line of Wu's");
    let csv = app.get(&format!("/v1/settlements/technicians/{batch_id}/report.csv"), Some(&finance)).await;
    assert_eq!(csv.status, 200);
    assert!(csv.text().contains(&wu.id) && csv.text().contains("306.00"), "{}", csv.text());
    let customer_view = app.get(&format!("/v1/settlements/technicians/{batch_id}"), Some(&customer.token)).await;
    assert_problem(&customer_view, 403, "forbidden", "a customer reading a payout");

    // A refund after payout: 100.00 of the first order, 15.00 from commission (45 × 100 / 300),
    // 85.00 clawed back from Wu's next payout.
    let refund_path = format!("/v1/service-orders/{first}/refunds");
    let refund_key = unique("refund");
    let refund = app.post(&refund_path, Some(&finance), r#"{"amount":"100.00"}"#, Some(&refund_key)).await;
    assert_eq!(refund.status, 201, "{}", refund.text());
    assert_eq!(
        (refund.json["from_technician"].as_str(), refund.json["from_commission"].as_str()),
        (Some("85.00"), Some("15.00"))
    );
    let replay = app.post(&refund_path, Some(&finance), r#"{"amount":"100.00"}"#, Some(&refund_key)).await;
    assert_eq!(replay.json, refund.json);
    let too_much = app.post(&refund_path, Some(&finance), r#"{"amount":"200.01"}"#, Some(&unique("refund"))).await;
    assert_problem(&too_much, 422, "refund_exceeds_paid", "refunding more than is left");
    let not_paid = app
        .post(&format!("/v1/service-orders/{late}/refunds"), Some(&finance), r#"{"amount":"1.00"}"#, Some(&unique("r")))
        .await;
    assert_problem(&not_paid, 409, "order_not_paid_out", "refunding an unpaid order");

    // The next job (200.00, five stars: 170.00 to Wu) pays 85.00 after the clawback.
    let next = completed_order(&app, &customer.token, &wu, "200.00").await;
    assert_eq!(rate(&app, &next, &customer.token, 5).await.json["technician_share"], "170.00");
    let next_day = today(&app);
    move_to_next_day(&app);
    let second_batch = app
        .post_ok("/v1/settlements/technicians", &finance, json!({ "from": next_day, "to": next_day }), None, 200)
        .await
        .json;
    let line = &second_batch["lines"][0];
    assert_eq!(
        ["gross", "commission", "clawbacks", "net"].map(|field| line[field].as_str().unwrap()),
        ["200.00", "30.00", "85.00", "85.00"]
    );
    let books = app.get_ok("/v1/reports/trial-balance", &finance).await;
    assert_eq!(closing(&books, 2203), "0.00", "the clawback is recovered");
    assert_eq!(closing(&books, 6052), "69.00", "commission: 45 + 9 − 15 + 30");
    assert_eq!(books["totals"]["balanced"], true);

    // What the customer paid (600) = payouts (306 + 85) + commission (69) + refunds (140); the
    // late order's 10.00 is still only held.
    assert_eq!(closing(&books, 1002), "-391.00", "paid to technicians: 306 + 85");
    let wallet = app.get_ok(&format!("/v1/wallets/{}", customer.wallet_id), &customer.token).await;
    assert_eq!(wallet["balance"], "40.00", "500 − 300 − 100 + 40 + 100 − 200");
    assert_eq!(wallet["held"], "10.00", "the unrated late order");
    app.assert_ledger_verifies().await;
}

async fn resolve(app: &TestApp, order: &str, token: &str, body: Value) -> Reply {
    app.post(&format!("/v1/service-orders/{order}/resolution"), Some(token), &body.to_string(), None).await
}
