//! Signed readings charged at Beijing's tier prices, rejections by code, arrears when the wallet
//! runs dry; through the service (the HTTP routes share it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ed25519_dalek::{Signer, SigningKey};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use wallet_api::metering::valve::ValveState;
use wallet_api::service::metering::{reading_message, ReadingInput, ReadingResult};
use wallet_api::service::IdempotencyRequest;

fn reading(key: &SigningKey, meter_id: &str, counter: u64, register: &str, read_at: &str) -> ReadingInput {
    let signature = key.sign(reading_message(meter_id, counter, register, read_at).as_bytes());
    ReadingInput {
        meter_id: meter_id.to_owned(),
        counter,
        register: register.to_owned(),
        read_at: read_at.to_owned(),
        signature: hex::encode(signature.to_bytes()),
    }
}

fn outcome(result: &ReadingResult) -> (String, Option<String>) {
    (result.status.to_owned(), result.code.map(str::to_owned).or_else(|| result.charge.clone()))
}

/// Registers a meter signing with `key` (initial register 0, `max_flow` or the default) installed at
/// `installed_at` (RFC 3339); returns its id.
async fn install_meter(
    service: &wallet_api::service::Service,
    admin: &wallet_api::service::model::Principal,
    serial: &str,
    customer_id: uuid::Uuid,
    key: &SigningKey,
    max_flow: Option<Decimal>,
    installed_at: &str,
) -> String {
    let installed_at = wallet_api::time::parse_rfc3339(installed_at).unwrap();
    let public_key = hex::encode(key.verifying_key().to_bytes());
    let meter = service
        .register_meter(admin, serial, customer_id, &public_key, max_flow, dec!(0), Some(installed_at))
        .await
        .unwrap();
    meter["id"].as_str().unwrap().to_owned()
}

/// A service on a fresh data directory with a clock the test moves, and the admin principal.
async fn open_at(
    start: &str,
) -> (
    tempfile::TempDir,
    std::sync::Arc<ledger::ManualClock>,
    std::sync::Arc<wallet_api::service::Service>,
    wallet_api::service::model::Principal,
) {
    let data = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(ledger::ManualClock::new(wallet_api::time::parse_rfc3339(start).unwrap()));
    let (service, _) = wallet_api::serve::open_service_with_clock(data.path(), clock.clone()).await.unwrap();
    let admin = service.authenticate(std::fs::read_to_string(data.path().join("admin.token")).unwrap().trim()).unwrap();
    (data, clock, service, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_are_verified_priced_by_tier_and_charged() {
    // A Tuesday noon in Beijing: outside friendly-credit hours.
    let (_data, clock, service, admin) = open_at("2026-03-10T12:00:00+08:00").await;
    let customer = service.register_customer("Li Na", Some(3), None, None, None).await.unwrap();
    let customer_id: uuid::Uuid = customer.body["id"].as_str().unwrap().parse().unwrap();
    let wallet_id: uuid::Uuid = customer.body["wallet_id"].as_str().unwrap().parse().unwrap();
    let topup = IdempotencyRequest::new(&admin, "t1", "POST", "/topups", b"1");
    service.topup(&admin, wallet_id, dec!(900.00), "bank", "B-1", &topup).await.unwrap();

    let key = SigningKey::from_bytes(&[7u8; 32]);
    let public_key = hex::encode(key.verifying_key().to_bytes());
    let installed_at = wallet_api::time::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
    let meter = service
        .register_meter(&admin, "BJ-0001", customer_id, &public_key, Some(dec!(10)), dec!(0), Some(installed_at))
        .await
        .unwrap();
    let meter_id = meter["id"].as_str().unwrap().to_owned();
    assert_eq!(
        service
            .register_meter(&admin, "BJ-0001", customer_id, &public_key, None, dec!(0), None)
            .await
            .unwrap_err()
            .code,
        "duplicate_serial"
    );

    let other_key = SigningKey::from_bytes(&[9u8; 32]);
    let batch = vec![
        reading(&key, &meter_id, 1, "330.000", "2026-03-01T03:00:00Z"),
        // Same counter again: replayed (the retry of an accepted reading answers as accepted).
        reading(&key, &meter_id, 1, "330.000", "2026-03-01T03:00:00Z"),
        reading(&other_key, &meter_id, 2, "340.000", "2026-03-02T03:00:00Z"),
        reading(&key, &uuid::Uuid::new_v4().to_string(), 2, "340.000", "2026-03-02T03:00:00Z"),
        reading(&key, &meter_id, 2, "320.000", "2026-03-02T03:00:00Z"),
        reading(&key, &meter_id, 2, "340.000", "2099-03-02T03:00:00Z"),
        // 10 m³/h at most: 1000 m³ in a day is implausible.
        reading(&key, &meter_id, 2, "1330.000", "2026-03-02T03:00:00Z"),
        reading(&key, &meter_id, 3, "370.000", "2026-03-10T03:00:00Z"),
    ];
    let results = service.ingest_readings(&admin, &batch).await.unwrap();
    let outcomes: Vec<(String, Option<String>)> = results.iter().map(outcome).collect();
    let accepted = |charge: &str| ("accepted".to_owned(), Some(charge.to_owned()));
    let rejected = |code: &str| ("rejected".to_owned(), Some(code.to_owned()));
    assert_eq!(
        outcomes,
        vec![
            accepted("861.30"),
            accepted("861.30"),
            rejected("bad_signature"),
            rejected("unknown_meter"),
            rejected("register_backwards"),
            rejected("future_reading"),
            rejected("implausible_flow"),
            accepted("108.80"),
        ]
    );
    // 900.00 − 861.30 = 38.70 left; the 108.80 charge takes it and books 70.10 as arrears.
    let wallet = service.wallet(&admin, wallet_id).unwrap();
    assert_eq!(wallet.balance, Decimal::ZERO);
    assert_eq!(wallet.arrears, dec!(70.10));
    // Replaying an older counter that was never accepted is refused.
    let stale = service
        .ingest_readings(&admin, &[reading(&key, &meter_id, 2, "350.000", "2026-03-05T03:00:00Z")])
        .await
        .unwrap();
    assert_eq!(outcome(&stale[0]), rejected("replayed_reading"));
    // A used counter with another register is a replay, not the retry of the accepted reading.
    let altered = service
        .ingest_readings(&admin, &[reading(&key, &meter_id, 1, "331.000", "2026-03-01T03:00:00Z")])
        .await
        .unwrap();
    assert_eq!(outcome(&altered[0]), rejected("replayed_reading"));
    let events = |service: &wallet_api::service::Service| -> Vec<String> {
        let (events, _) = service.events(&admin, 0, 500);
        events.iter().map(|event| event.event_type.as_str().to_owned()).collect()
    };
    assert!(events(&service).contains(&"valve_close".to_owned()), "{:?}", events(&service));
    assert_eq!(service.projection().read().valves.get(&customer_id).copied(), Some(ValveState::Closed));

    // A top-up pays the arrears first and arms the valve; the next consumption opens it.
    let topup = IdempotencyRequest::new(&admin, "t2", "POST", "/topups", b"2");
    let answer = service.topup(&admin, wallet_id, dec!(100.00), "wechat", "W-2", &topup).await.unwrap();
    assert_eq!(answer.body["arrears_paid"], "70.10");
    assert_eq!(answer.body["balance"], "29.90");
    assert_eq!(service.wallet(&admin, wallet_id).unwrap().arrears, Decimal::ZERO);
    assert_eq!(service.projection().read().valves.get(&customer_id).copied(), Some(ValveState::Armed));
    let flowing = service
        .ingest_readings(&admin, &[reading(&key, &meter_id, 4, "371.000", "2026-03-10T03:30:00Z")])
        .await
        .unwrap();
    assert_eq!(outcome(&flowing[0]), accepted("2.83"));
    assert_eq!(service.projection().read().valves.get(&customer_id).copied(), Some(ValveState::Open));
    let names = events(&service);
    let position = |name: &str| names.iter().position(|event| event == name).unwrap();
    assert!(position("valve_close") < position("valve_armed") && position("valve_armed") < position("valve_open"));

    // Running dry on a Tuesday evening: only a warning; the close waits for 08:00.
    clock.set(wallet_api::time::parse_rfc3339("2026-03-10T22:00:00+08:00").unwrap());
    let late = service
        .ingest_readings(&admin, &[reading(&key, &meter_id, 5, "390.000", "2026-03-10T13:00:00Z")])
        .await
        .unwrap();
    assert_eq!(outcome(&late[0]), accepted("53.77"));
    assert!(service.arrears_of(customer_id) > Decimal::ZERO);
    assert_eq!(service.projection().read().valves.get(&customer_id).copied(), Some(ValveState::Open));
    assert!(events(&service).contains(&"valve_close_deferred".to_owned()));
    assert_eq!(service.close_due_valves().await.unwrap(), 0);
    clock.set(wallet_api::time::parse_rfc3339("2026-03-11T08:00:01+08:00").unwrap());
    assert_eq!(service.close_due_valves().await.unwrap(), 1);
    assert_eq!(service.projection().read().valves.get(&customer_id).copied(), Some(ValveState::Closed));

    let report = service.reader().verify().unwrap();
    assert!(report.ok, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_racing_payments_on_one_wallet_charge_exactly_what_was_priced() {
    let (_data, _clock, service, admin) = open_at("2026-03-10T12:00:00+08:00").await;
    let customer = service.register_customer("Race", Some(3), None, None, None).await.unwrap();
    let customer_id: uuid::Uuid = customer.body["id"].as_str().unwrap().parse().unwrap();
    let wallet_id: uuid::Uuid = customer.body["wallet_id"].as_str().unwrap().parse().unwrap();
    let merchant = service.register_merchant("Shop", dec!(0.006), None).await.unwrap();
    let merchant_id: uuid::Uuid = merchant.body["id"].as_str().unwrap().parse().unwrap();
    let merchant_token =
        service.issue_token(wallet_api::service::model::Role::Merchant, Some(merchant_id)).await.unwrap();
    let merchant_principal = service.authenticate(&merchant_token.token).unwrap();
    let customer_token =
        service.issue_token(wallet_api::service::model::Role::Customer, Some(customer_id)).await.unwrap();
    let customer_principal = service.authenticate(&customer_token.token).unwrap();
    let topup = IdempotencyRequest::new(&admin, "t", "POST", "/topups", b"1");
    service.topup(&admin, wallet_id, dec!(60.00), "bank", "RACE-1", &topup).await.unwrap();
    let key = SigningKey::from_bytes(&[5u8; 32]);
    let meter_id = install_meter(&service, &admin, "RACE-1", customer_id, &key, None, "2026-03-01T00:00:00Z").await;
    let mut codes = Vec::new();
    for _ in 0..12 {
        let code = service.issue_payment_code(&customer_principal, wallet_id, None, None).await.unwrap();
        codes.push(code.body["code"].as_str().unwrap().to_owned());
    }
    // Twelve 4.00 payments race ten readings of 2 m³ each (5.22 apiece) on a 60.00 wallet.
    let mut tasks = tokio::task::JoinSet::new();
    for (number, code) in codes.into_iter().enumerate() {
        let service = service.clone();
        tasks.spawn(async move {
            let request = IdempotencyRequest::new(
                &merchant_principal,
                &format!("pay-{number}"),
                "POST",
                "/payments",
                code.as_bytes(),
            );
            let _ = service.pay(&merchant_principal, &code, dec!(4.00), &format!("R-{number}"), &request).await;
        });
    }
    // Readings of one meter arrive in order (a concentrator sends them one after the other), while
    // the payments race them.
    let readings_service = service.clone();
    let readings_key = key.clone();
    let readings_meter = meter_id.clone();
    tasks.spawn(async move {
        for counter in 1..=10u64 {
            let signed = reading(
                &readings_key,
                &readings_meter,
                counter,
                &format!("{}.000", counter * 2),
                &format!("2026-03-01T{:02}:00:00Z", counter),
            );
            let results = readings_service.ingest_readings(&admin, &[signed]).await.unwrap();
            assert_eq!(results[0].status, "accepted", "{results:?}");
        }
    });
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap();
    }
    let wallet = service.wallet(&admin, wallet_id).unwrap();
    assert!(wallet.available >= Decimal::ZERO - wallet.credit_limit, "{wallet:?}");
    // Every reading was charged in full, from the wallet or as arrears: 10 × 5.22 = 52.20.
    let (charged, arrears): (Decimal, Decimal) = {
        let projection = service.projection().read();
        let bills = projection.bills.get(&customer_id).unwrap();
        assert_eq!(bills.len(), 10);
        (bills.iter().map(|bill| bill.reading.charged).sum(), bills.iter().map(|bill| bill.reading.arrears).sum())
    };
    assert_eq!(charged + arrears, dec!(52.20));
    assert_eq!(service.arrears_of(customer_id), arrears);
    let paid: Decimal = service.projection().read().payments.values().map(|payment| payment.amount).sum();
    assert_eq!(wallet.balance, dec!(60.00) - paid - charged);
    assert!(service.reader().verify().unwrap().ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_rollover_and_replacement_lose_and_double_nothing() {
    let (_data, _clock, service, admin) = open_at("2026-03-10T12:00:00+08:00").await;
    let customer = service.register_customer("Roll", Some(3), None, None, None).await.unwrap();
    let customer_id: uuid::Uuid = customer.body["id"].as_str().unwrap().parse().unwrap();
    let wallet_id: uuid::Uuid = customer.body["wallet_id"].as_str().unwrap().parse().unwrap();
    let topup = IdempotencyRequest::new(&admin, "t", "POST", "/topups", b"1");
    service.topup(&admin, wallet_id, dec!(1000.00), "bank", "ROLL-1", &topup).await.unwrap();
    let key = SigningKey::from_bytes(&[11u8; 32]);
    let public_key = hex::encode(key.verifying_key().to_bytes());
    let installed_at = wallet_api::time::parse_rfc3339("2026-03-01T00:00:00Z").unwrap();
    let meter = service
        .register_meter(&admin, "OLD-1", customer_id, &public_key, None, dec!(99990.000), Some(installed_at))
        .await
        .unwrap();
    let meter_id = meter["id"].as_str().unwrap().to_owned();
    let meter_uuid: uuid::Uuid = meter_id.parse().unwrap();
    let accept = |results: Vec<ReadingResult>| outcome(&results[0]);
    // 99990 → 99995: 5 m³.
    let first = service
        .ingest_readings(&admin, &[reading(&key, &meter_id, 1, "99995.000", "2026-03-01T02:00:00Z")])
        .await
        .unwrap();
    assert_eq!(accept(first), ("accepted".to_owned(), Some("13.05".to_owned())));
    // The register wraps: without a declaration this is a backwards register.
    let wrapped = reading(&key, &meter_id, 2, "3.000", "2026-03-01T04:00:00Z");
    let refused = service.ingest_readings(&admin, std::slice::from_ref(&wrapped)).await.unwrap();
    assert_eq!(accept(refused), ("rejected".to_owned(), Some("register_backwards".to_owned())));
    let declared = service.declare_rollover(&admin, meter_uuid).await.unwrap();
    assert_eq!(declared["rolls_over_at"], "100000.000");
    // Declared: 4.999 + 0.001 to the top, then 3 → 8 m³ at 2.61 = 20.88.
    let rolled = service.ingest_readings(&admin, &[wrapped]).await.unwrap();
    assert_eq!(accept(rolled), ("accepted".to_owned(), Some("20.88".to_owned())));
    // The declaration is used up: a second wrap needs a second declaration.
    let again =
        service.ingest_readings(&admin, &[reading(&key, &meter_id, 3, "2.000", "2026-03-01T06:00:00Z")]).await.unwrap();
    assert_eq!(accept(again), ("rejected".to_owned(), Some("register_backwards".to_owned())));

    // Replacement: the old meter's final reading (3 → 10, 7 m³) is charged, the new one starts at 0.
    let new_key = SigningKey::from_bytes(&[12u8; 32]);
    let final_at = wallet_api::time::parse_rfc3339("2026-03-01T08:00:00Z").unwrap();
    let replaced = service
        .replace_meter(
            &admin,
            meter_uuid,
            dec!(10.000),
            final_at,
            "NEW-1",
            &hex::encode(new_key.verifying_key().to_bytes()),
            dec!(0),
            None,
        )
        .await
        .unwrap();
    assert_eq!(replaced["final_charge"], "18.27");
    let new_meter_id = replaced["new_meter"]["id"].as_str().unwrap().to_owned();
    // The old meter takes no more readings; the new one counts from its initial register.
    let old = service
        .ingest_readings(&admin, &[reading(&key, &meter_id, 4, "11.000", "2026-03-01T09:00:00Z")])
        .await
        .unwrap();
    assert_eq!(accept(old), ("rejected".to_owned(), Some("unknown_meter".to_owned())));
    let fresh = service
        .ingest_readings(&admin, &[reading(&new_key, &new_meter_id, 1, "2.000", "2026-03-01T09:00:00Z")])
        .await
        .unwrap();
    assert_eq!(accept(fresh), ("accepted".to_owned(), Some("5.22".to_owned())));
    // Total volume 5 + 8 + 7 + 2 = 22 m³, all in tier 1: 57.42 charged in all.
    let bills_total: Decimal =
        service.projection().read().bills.get(&customer_id).unwrap().iter().map(|bill| bill.reading.total).sum();
    assert_eq!(bills_total, dec!(57.42));
    assert_eq!(service.wallet(&admin, wallet_id).unwrap().balance, dec!(1000.00) - dec!(57.42));
    // A duplicate serial for the replacement is refused and changes nothing.
    let meter_two = service
        .register_meter(&admin, "OLD-2", customer_id, &public_key, None, dec!(0), Some(installed_at))
        .await
        .unwrap();
    let meter_two: uuid::Uuid = meter_two["id"].as_str().unwrap().parse().unwrap();
    let duplicate = service
        .replace_meter(
            &admin,
            meter_two,
            dec!(0.500),
            final_at,
            "NEW-1",
            &hex::encode(new_key.verifying_key().to_bytes()),
            dec!(0),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(duplicate.code, "duplicate_serial");
    assert!(service.projection().read().meters.get(&meter_two).unwrap().active);
    assert!(service.reader().verify().unwrap().ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monthly_bills_are_debited_on_their_due_date_and_catch_up_after_downtime() {
    let at = |text: &str| wallet_api::time::parse_rfc3339(text).unwrap();
    let (_data, clock, service, admin) = open_at("2026-03-01T12:00:00+08:00").await;
    let customer = service
        .register_customer("Monthly", Some(3), None, Some(wallet_api::service::model::BillingMode::Monthly), None)
        .await
        .unwrap();
    let customer_id: uuid::Uuid = customer.body["id"].as_str().unwrap().parse().unwrap();
    let wallet_id: uuid::Uuid = customer.body["wallet_id"].as_str().unwrap().parse().unwrap();
    let topup = IdempotencyRequest::new(&admin, "t", "POST", "/topups", b"1");
    service.topup(&admin, wallet_id, dec!(1000.00), "bank", "MONTHLY-1", &topup).await.unwrap();
    let key = SigningKey::from_bytes(&[13u8; 32]);
    let meter_id =
        install_meter(&service, &admin, "MONTHLY-1", customer_id, &key, Some(dec!(100)), "2026-03-01T00:00:00Z").await;
    // Readings are priced but nothing is charged at the reading in monthly mode.
    clock.set(at("2026-06-20T12:00:00+08:00"));
    let readings = [
        reading(&key, &meter_id, 1, "100.000", "2026-03-05T00:00:00Z"),
        reading(&key, &meter_id, 2, "150.000", "2026-03-20T00:00:00Z"),
        reading(&key, &meter_id, 3, "180.000", "2026-04-15T00:00:00Z"),
        reading(&key, &meter_id, 4, "200.000", "2026-05-15T00:00:00Z"),
    ];
    let results = service.ingest_readings(&admin, &readings).await.unwrap();
    assert!(
        results.iter().all(|result| result.status == "accepted" && result.charge.as_deref() == Some("0.00")),
        "{results:?}"
    );
    assert_eq!(service.wallet(&admin, wallet_id).unwrap().balance, dec!(1000.00));
    // The day before March's due date: nothing is due.
    clock.set(at("2026-04-09T23:59:59+08:00"));
    assert_eq!(service.run_monthly_billing().await.unwrap(), 0);
    // March is due on 10 April: 150 m³ at 2.61 = 391.50.
    clock.set(at("2026-04-10T00:00:01+08:00"));
    assert_eq!(service.run_monthly_billing().await.unwrap(), 1);
    assert_eq!(service.run_monthly_billing().await.unwrap(), 0, "a second run issues nothing twice");
    assert_eq!(service.wallet(&admin, wallet_id).unwrap().balance, dec!(608.50));
    // Down until late June: April (30 m³) and May (20 m³) are both issued by one catch-up run.
    clock.set(at("2026-06-20T12:00:00+08:00"));
    assert_eq!(service.run_monthly_billing().await.unwrap(), 2);
    assert_eq!(service.wallet(&admin, wallet_id).unwrap().balance, dec!(608.50) - dec!(78.30) - dec!(52.20));
    let projection = service.projection().read();
    let bills = projection.monthly_bills.get(&customer_id).unwrap();
    let months: Vec<(&str, Decimal)> = bills.iter().map(|bill| (bill.month.as_str(), bill.total)).collect();
    assert_eq!(months, vec![("2026-03", dec!(391.50)), ("2026-04", dec!(78.30)), ("2026-05", dec!(52.20))]);
    drop(projection);
    let (events, _) = service.events(&admin, 0, 500);
    assert_eq!(events.iter().filter(|event| event.event_type.as_str() == "bill_issued").count(), 3);
    assert!(service.reader().verify().unwrap().ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_top_up_of_a_wallet_below_a_lowered_credit_limit_is_taken_and_pays_what_it_can() {
    let (_data, _clock, service, admin) = open_at("2026-03-10T12:00:00+08:00").await;
    let customer = service.register_customer("Zhao Min", None, None, None, None).await.unwrap();
    let customer_id: uuid::Uuid = customer.body["id"].as_str().unwrap().parse().unwrap();
    let wallet_id: uuid::Uuid = customer.body["wallet_id"].as_str().unwrap().parse().unwrap();
    let wallet = ledger::AccountId(wallet_id);
    let set_limit = |limit: Decimal| ledger::Command::SetCreditLimit {
        id: ledger::EntryId(uuid::Uuid::new_v4()),
        account: wallet,
        limit,
    };
    // `execute` waits for the commit: off the async threads.
    let execute = |command: ledger::Command| {
        let service = service.clone();
        async move {
            tokio::task::spawn_blocking(move || service.ledger().execute(command)).await.unwrap().unwrap().unwrap()
        }
    };
    execute(set_limit(dec!(10.00))).await;
    let key = SigningKey::from_bytes(&[11u8; 32]);
    let meter_id = install_meter(&service, &admin, "BJ-0011", customer_id, &key, None, "2026-03-01T00:00:00Z").await;
    // 3 m³ (7.83) on credit: the wallet stands at −7.83 within its 10.00 limit.
    let results =
        service.ingest_readings(&admin, &[reading(&key, &meter_id, 1, "3.000", "2026-03-02T03:00:00Z")]).await.unwrap();
    assert_eq!(outcome(&results[0]), ("accepted".to_owned(), Some("7.83".to_owned())));
    // The limit is lowered to zero (a rescore), then 2 m³ (5.22) more go to arrears.
    execute(set_limit(dec!(0))).await;
    service.ingest_readings(&admin, &[reading(&key, &meter_id, 2, "5.000", "2026-03-03T03:00:00Z")]).await.unwrap();
    assert_eq!(service.arrears_of(customer_id), dec!(5.22));
    // A 10.00 top-up is taken: 7.83 lifts the wallet back to its floor, 2.17 pays arrears.
    let request = IdempotencyRequest::new(&admin, "t-floor", "POST", "/topups", b"10");
    let topup = service.topup(&admin, wallet_id, dec!(10.00), "wechat", "W-FLOOR", &request).await.unwrap();
    assert_eq!(topup.body["arrears_paid"], "2.17", "{}", topup.body);
    assert_eq!(topup.body["balance"], "0.00");
    assert_eq!(service.arrears_of(customer_id), dec!(3.05));
    assert!(service.reader().verify().unwrap().ok);
}
