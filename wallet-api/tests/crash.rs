//! The crash harness in CI: kill a real `gaswallet` writer process with SIGKILL a handful of times
//! under load and check that nothing acknowledged was lost (`gaswallet chaos ledger-kill --kills N`
//! runs the same campaign hundreds of times).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

/// Kills in CI; the full campaign is `gaswallet chaos ledger-kill --kills 200`.
const CI_KILLS: u64 = 5;

#[test]
fn sigkill_under_load_loses_nothing_acknowledged() {
    let directory = tempfile::tempdir().unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_gaswallet"));
    let report = wallet_api::chaos::run_crash_campaign(binary, &directory.path().join("ledger"), CI_KILLS, 11).unwrap();
    assert_eq!(report.kills, CI_KILLS);
    assert!(report.groups_acknowledged > 0, "the child acknowledged nothing before being killed: {report:?}");
    assert_eq!(report.acknowledged_lost, 0, "{report:?}");
    assert_eq!(report.half_written, 0, "{report:?}");
    assert_eq!(report.verify_failures, 0, "{report:?}");
}
