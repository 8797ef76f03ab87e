//! `gaswallet simulate` in miniature: a small town played for two days in-process (embedded
//! server on a hand-moved clock) must tie out on every check, and the same seed must give the
//! same numbers twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use wallet_api::simulate::{run_simulation, SimulateOptions};

fn options(seed: u64) -> SimulateOptions {
    SimulateOptions {
        customers: 20,
        days: 2,
        seed,
        target: None,
        admin_token: None,
        // A fixed start, so two runs see the same calendar (season, weekday, month end).
        start: Some("2026-12-30".to_owned()),
        data: None,
        concurrency: 8,
        progress: false,
    }
}

#[test]
fn a_small_town_ties_out_and_the_same_seed_gives_the_same_numbers() {
    let first = run_simulation(&options(11)).unwrap();
    for check in &first.checks {
        assert!(check.ties_out, "{check:?}\n{}", wallet_api::simulate::render(&first));
    }
    assert!(first.all_tie_out);
    let figures = &first.figures;
    assert_eq!(figures["readings"]["accepted"], 20 * 48, "every meter reported every hour: {figures}");
    assert!(figures["money_in"]["topups"].as_u64().unwrap() >= 20, "everyone opened their wallet: {figures}");
    assert!(figures["reconciliation"]["statements"].as_u64().unwrap() >= 1, "{figures}");
    assert_eq!(figures["closes"]["days_closed"], 2, "{figures}");
    assert_eq!(figures["verify"]["ok"], true);

    let second = run_simulation(&options(11)).unwrap();
    assert_eq!(second.figures, first.figures, "same seed, same numbers");
    assert_eq!(second.checks, first.checks);
}
