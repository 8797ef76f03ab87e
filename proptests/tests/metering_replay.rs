//! Replaying meter readings never posts twice: whatever batches a concentrator sends, with
//! readings repeated, reordered into later batches or resent after a restart, the wallet is charged
//! exactly once per reading, at the same total as sending each reading once.
//!
//! Replay a failure with the seed proptest prints (it also stores it under
//! `proptest-regressions/`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ed25519_dalek::{Signer, SigningKey};
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::sync::Arc;
use wallet_api::service::metering::{reading_message, ReadingInput};
use wallet_api::service::IdempotencyRequest;

const START: &str = "2026-03-10T12:00:00+08:00";

fn reading(key: &SigningKey, meter_id: &str, counter: u64, register_litres: i64, hour: i64) -> ReadingInput {
    let register = format!("{}", Decimal::new(register_litres, 3));
    let register = if register.contains('.') { register } else { format!("{register}.000") };
    let read_at = wallet_api::time::format_rfc3339(ledger::Timestamp::from_unix_seconds(1_772_323_200 + hour * 3600));
    let signature = key.sign(reading_message(meter_id, counter, &register, &read_at).as_bytes());
    ReadingInput {
        meter_id: meter_id.to_owned(),
        counter,
        register,
        read_at,
        signature: hex::encode(signature.to_bytes()),
    }
}

/// Runs the readings once each (the reference) or in the given noisy batches, and returns the
/// wallet's final balance and the number of gas entries posted.
fn run(volumes: &[i64], batches: &[Vec<usize>], restart_after: Option<usize>) -> (Decimal, usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let data = tempfile::tempdir().unwrap();
        let clock: Arc<dyn ledger::Clock> =
            Arc::new(ledger::ManualClock::new(wallet_api::time::parse_rfc3339(START).unwrap()));
        let (mut service, _) = wallet_api::serve::open_service_with_clock(data.path(), clock.clone()).await.unwrap();
        let token = std::fs::read_to_string(data.path().join("admin.token")).unwrap();
        let admin = service.authenticate(token.trim()).unwrap();
        let customer = service.register_customer("Replay", Some(3), None, None, None).await.unwrap();
        let customer_id: uuid::Uuid = customer.body["id"].as_str().unwrap().parse().unwrap();
        let wallet_id: uuid::Uuid = customer.body["wallet_id"].as_str().unwrap().parse().unwrap();
        let topup = IdempotencyRequest::new(&admin, "fund", "POST", "/topups", b"1");
        service.topup(&admin, wallet_id, Decimal::new(100_000_000, 2), "bank", "FUND-1", &topup).await.unwrap();
        let key = SigningKey::from_bytes(&[3u8; 32]);
        let installed = wallet_api::time::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        let meter = service
            .register_meter(
                &admin,
                "REPLAY-1",
                customer_id,
                &hex::encode(key.verifying_key().to_bytes()),
                None,
                Decimal::ZERO,
                Some(installed),
            )
            .await
            .unwrap();
        let meter_id = meter["id"].as_str().unwrap().to_owned();
        let mut register = 0i64;
        let readings: Vec<ReadingInput> = volumes
            .iter()
            .enumerate()
            .map(|(position, volume)| {
                register += volume;
                reading(&key, &meter_id, position as u64 + 1, register, position as i64 + 1)
            })
            .collect();
        for (number, batch) in batches.iter().enumerate() {
            let inputs: Vec<ReadingInput> = batch.iter().map(|index| readings[*index].clone()).collect();
            if !inputs.is_empty() {
                service.ingest_readings(&admin, &inputs).await.unwrap();
            }
            if restart_after == Some(number) {
                // A restart in the middle: everything is rebuilt from the journal.
                drop(service);
                let mut reopened = None;
                for _ in 0..200 {
                    match wallet_api::serve::open_service_with_clock(data.path(), clock.clone()).await {
                        Ok((service, _)) => {
                            reopened = Some(service);
                            break;
                        }
                        Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
                    }
                }
                service = reopened.expect("the service reopens");
            }
        }
        let balance = service.wallet(&admin, wallet_id).unwrap().balance;
        let gas_entries = service
            .reader()
            .history(&wallet_api::service::ids::wallet_account(customer_id), None, 1000)
            .unwrap()
            .unwrap()
            .lines
            .iter()
            .filter(|line| line.entry.as_ref().is_some_and(|entry| entry.category == "gas_charge"))
            .count();
        assert!(service.reader().verify().unwrap().ok);
        (balance, gas_entries)
    })
}

/// Volumes (litres, at most 6 m³ in an hour) and noisy batches that include every reading at
/// least once, in order of first appearance, with repeats.
fn scenario() -> impl Strategy<Value = (Vec<i64>, Vec<Vec<usize>>, Option<usize>)> {
    prop::collection::vec(1i64..5_000, 1..8).prop_flat_map(|volumes| {
        let count = volumes.len();
        let batches = prop::collection::vec(prop::collection::vec(0..count, 0..6), 0..4).prop_map(move |noise| {
            // Every reading appears in order once, then the noise repeats arbitrary ones.
            let mut batches = vec![(0..count).collect::<Vec<usize>>()];
            batches.extend(noise);
            batches
        });
        let restart = prop::option::of(0usize..3);
        (Just(volumes), batches, restart)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn replaying_readings_never_posts_twice((volumes, batches, restart) in scenario()) {
        let once: Vec<Vec<usize>> = vec![(0..volumes.len()).collect()];
        let (reference_balance, reference_entries) = run(&volumes, &once, None);
        let (balance, entries) = run(&volumes, &batches, restart);
        prop_assert_eq!(entries, volumes.len());
        prop_assert_eq!(reference_entries, volumes.len());
        prop_assert_eq!(balance, reference_balance);
    }
}
