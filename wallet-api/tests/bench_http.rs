//! `gaswallet bench http` end to end at a small size: the closed loop records every payment it
//! counts, and the open loop (`--rate`) releases payments at the offered rate, not faster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use wallet_api::bench_http::{run_http_bench, HttpBenchOptions};

fn options(payments: u64, rate: u64) -> HttpBenchOptions {
    HttpBenchOptions {
        payments,
        concurrency: 8,
        wallets: 20,
        merchants: 2,
        round: payments,
        server_threads: 0,
        client_threads: 1,
        rate,
        seed: 7,
        data: None,
    }
}

#[test]
fn closed_loop_payments_are_all_recorded() {
    let result = run_http_bench(&options(300, 0)).unwrap();
    assert_eq!(result.errors, 0);
    assert_eq!(result.succeeded, 300);
    assert_eq!(result.payments_recorded, 300, "every acknowledged payment is in the service");
    assert_eq!(result.offered_rate, 0);
    assert!(result.group_commits > 0 && result.group_commits <= 300);
    if cfg!(target_os = "linux") {
        // Every payment costs the process some CPU (HTTP on both ends, the writer, sled).
        assert!(result.cpu_us_per_payment > 1.0, "{result:?}");
        assert!(result.cores_used > 0.0 && result.cores_used <= 64.0, "{result:?}");
    }
}

#[test]
fn open_loop_releases_payments_at_the_offered_rate() {
    let rate = 400;
    let result = run_http_bench(&options(200, rate)).unwrap();
    assert_eq!(result.errors, 0);
    assert_eq!(result.payments_recorded, 200);
    assert_eq!(result.offered_rate, rate);
    // Payment i is due at i / rate: the last one (i = 199) cannot start before 0.4975 s.
    assert!(result.elapsed_s >= 0.49, "elapsed {} s", result.elapsed_s);
    assert!(result.payments_per_sec <= rate as f64 * 1.02, "{} payments/s", result.payments_per_sec);
}
