//! Consumption anomalies over HTTP: gas flowing every night hour for days (a possible leak) and
//! a register that stands still while the household normally consumes (a possible tamper) are
//! found by `POST /v1/jobs/anomalies`, each reported once as an `anomaly_detected` event with the
//! evidence, visible to the customer and staff.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{send_readings, spawn_app_with_manual_clock, SignedMeter, TestApp};
use serde_json::{json, Value};

fn advance_hours(app: &TestApp, hours: i64) {
    app.clock.as_ref().unwrap().advance_micros(hours * 3_600 * 1_000_000);
}

fn anomalies(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|event| event["type"] == "anomaly_detected")
        .map(|event| event["reason"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaks_and_frozen_registers_are_reported_once_with_evidence() {
    let app = spawn_app_with_manual_clock().await;
    // Meters read on the hour (the night-flow detector needs the night window covered by whole
    // intervals): move the clock to the next full hour.
    let clock = app.clock.as_ref().unwrap();
    let hour_micros = 3_600 * 1_000_000;
    let now = clock.now_for_tests().unix_micros();
    clock.set(ledger::Timestamp((now / hour_micros + 1) * hour_micros));
    let finance = app.token("finance", None).await;
    let leaking = app.customer("Leaking Flat").await;
    let frozen = app.customer("Frozen Register").await;
    let quiet = app.customer("Ordinary Home").await;
    for customer in [&leaking, &frozen, &quiet] {
        app.fund(&customer.wallet_id, "500.00").await;
    }
    let mut leak_meter = SignedMeter::install(&app, &leaking.id).await;
    let mut frozen_meter = SignedMeter::install(&app, &frozen.id).await;
    let mut quiet_meter = SignedMeter::install(&app, &quiet.id).await;

    // Two weeks of hourly readings: the leaking flat never stops (0.100 m³ every hour, nights
    // included); the others use gas only from 07:00 to 22:00 Beijing time. From day 10 on the
    // frozen register stops moving while the household's habits (and the other meters) go on.
    let mut beijing_hour = {
        let now = app.clock.as_ref().unwrap().now_for_tests();
        ((now.unix_micros() / 3_600_000_000) + 8).rem_euclid(24)
    };
    for hour in 0..(14 * 24) {
        advance_hours(&app, 1);
        beijing_hour = (beijing_hour + 1) % 24;
        let daytime = (7..22).contains(&beijing_hour);
        let stuck = hour >= 10 * 24;
        let readings = vec![
            leak_meter.next_reading(&app, "0.100"),
            quiet_meter.next_reading(&app, if daytime { "0.080" } else { "0.000" }),
            frozen_meter.next_reading(&app, if daytime && !stuck { "0.080" } else { "0.000" }),
        ];
        send_readings(&app, readings).await;
    }

    let run = app.post_ok("/v1/jobs/anomalies", &finance, json!({}), None, 200).await;
    assert!(run.json["done"].as_u64().unwrap() >= 2, "{}", run.text());
    let staff_view = anomalies(&app.events(&finance).await);
    let leak: Vec<&String> = staff_view.iter().filter(|reason| reason.contains(&leak_meter.id)).collect();
    assert!(leak.iter().any(|reason| reason.starts_with("continuous_night_flow")), "{staff_view:?}");
    assert!(leak.iter().any(|reason| reason.contains("\"nights\"")), "the evidence is there: {leak:?}");
    let stuck: Vec<&String> = staff_view.iter().filter(|reason| reason.contains(&frozen_meter.id)).collect();
    assert!(stuck.iter().any(|reason| reason.starts_with("frozen_register")), "{staff_view:?}");
    assert!(
        !staff_view.iter().any(|reason| reason.contains(&quiet_meter.id)),
        "an ordinary household is not flagged: {staff_view:?}"
    );

    // Each customer sees its own findings only; a second run records nothing new.
    let own = anomalies(&app.events(&leaking.token).await);
    assert!(!own.is_empty() && own.iter().all(|reason| reason.contains(&leak_meter.id)), "{own:?}");
    assert!(anomalies(&app.events(&quiet.token).await).is_empty());
    let again = app.post_ok("/v1/jobs/anomalies", &finance, json!({}), None, 200).await;
    assert_eq!(again.json["done"], 0);
    assert_eq!(anomalies(&app.events(&finance).await).len(), staff_view.len());
}
