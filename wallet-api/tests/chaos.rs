//! Short versions of the server-level chaos experiments (`gaswallet chaos server-kill`,
//! `overload`, `fuzz`), run against the real `gaswallet serve` binary as a child process. The full
//! campaigns and their measured numbers are in `docs/reliability.md`; these keep them working and
//! stay well under a minute together in a debug build.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Mutex;
use wallet_api::chaos::fuzz::{run_fuzz, FuzzOptions};
use wallet_api::chaos::overload::{run_overload, OverloadOptions, Thresholds};
use wallet_api::chaos::server_kill::{run_server_kill, ServerKillOptions};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gaswallet"))
}

/// The experiments measure latency and memory on a 2-core machine: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Kills in CI; the full campaign is `gaswallet chaos server-kill --kills 30`.
const CI_SERVER_KILLS: u64 = 3;

#[test]
fn server_sigkill_under_load_loses_nothing_acknowledged() {
    let _one = one_at_a_time();
    let options = ServerKillOptions { kills: CI_SERVER_KILLS, seed: 11, clients: 6, load_ms_max: 800, data: None };
    let report = run_server_kill(binary(), &options).unwrap();
    assert_eq!(report.kills, CI_SERVER_KILLS);
    assert!(report.acknowledged_before_kill > 0, "nothing was acknowledged before the kills: {report:?}");
    assert_eq!(report.lost, 0, "{report:?}");
    assert_eq!(report.diverged, 0, "{report:?}");
    assert_eq!(report.balance_mismatches, 0, "{report:?}");
    assert_eq!(report.verify_failures, 0, "{report:?}");
    assert_eq!(report.trial_balance_failures, 0, "{report:?}");
    assert!(report.offline_verify_ok, "{report:?}");
}

/// Seconds of flood in CI; the full run is `gaswallet chaos overload --seconds 10` (release).
const CI_OVERLOAD_SECONDS: u64 = 2;

#[test]
fn overload_past_the_limits_sheds_or_serves_within_bounds_and_loses_nothing() {
    let _one = one_at_a_time();
    let options =
        OverloadOptions { seconds: CI_OVERLOAD_SECONDS, factor: 4, seed: 11, thresholds: Thresholds::default() };
    let report = run_overload(binary(), &options).unwrap();
    assert!(report.requests > report.client_tasks as u64 / 4, "the flood hardly ran: {report:?}");
    assert!(report.accepted > 0, "{report:?}");
    assert_eq!(report.unexpected, 0, "only 2xx, 4xx business answers, 429 and 503: {report:?}");
    assert!(report.within_thresholds, "latency or memory past {:?}: {report:?}", report.thresholds);
    assert_eq!(report.lost, 0, "{report:?}");
    assert_eq!(report.diverged, 0, "{report:?}");
    assert_eq!(report.balance_mismatches, 0, "{report:?}");
    assert!(report.verify_ok && report.trial_balanced && report.healthy_after, "{report:?}");
}

/// Seconds of fuzzing in CI; the full run is `gaswallet chaos fuzz --seconds 60` (release).
const CI_FUZZ_SECONDS: u64 = 8;

#[test]
fn fuzzing_from_the_openapi_document_finds_no_5xx_no_leak_and_no_unauthorized_access() {
    let _one = one_at_a_time();
    let options = FuzzOptions { seconds: CI_FUZZ_SECONDS, seed: 11, clients: 4 };
    let report = run_fuzz(binary(), &options).unwrap();
    assert!(report.requests > 500, "the fuzzer hardly ran: {} requests", report.requests);
    assert_eq!(
        report.per_operation.len(),
        report.operations_in_document,
        "every operation of the document was tried: {:?}",
        report.per_operation
    );
    assert!(report.clean(), "{:#?}", report.failures);
}

/// `gaswallet chaos tamper` flips a byte of a real server's journal; `gaswallet verify` names the
/// record and the entry.
#[test]
fn a_flipped_byte_in_the_journal_is_found_by_verify_with_its_entry() {
    let _one = one_at_a_time();
    let data = tempfile::tempdir().unwrap();
    let directory = data.path().join("data");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let mut random = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(3);
        let admin = wallet_api::chaos::harness::new_admin_token(&mut random);
        let mut server = wallet_api::chaos::harness::ServerProcess::start(binary(), &directory, &admin).await.unwrap();
        let api = wallet_api::chaos::harness::Api::new(server.address);
        wallet_api::chaos::harness::set_up_parties(&api, &admin, 1, 1, "50.00", &mut random).await.unwrap();
        server.kill().unwrap();
    });
    let run = |arguments: &[&str]| {
        std::process::Command::new(binary()).args(arguments).arg("--data").arg(&directory).output().unwrap()
    };
    assert_eq!(run(&["verify", "--json"]).status.code(), Some(0));
    let tampered = run(&["chaos", "tamper"]);
    assert!(tampered.status.success(), "{}", String::from_utf8_lossy(&tampered.stderr));
    let tampered: serde_json::Value = serde_json::from_slice(&tampered.stdout).unwrap();
    let verified = run(&["verify", "--json"]);
    assert_eq!(verified.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["first_error"]["kind"], "hash_mismatch");
    assert_eq!(report["first_error"]["sequence"], tampered["sequence"]);
    assert_eq!(report["first_error"]["entry_id"], tampered["entry_id"]);
}
