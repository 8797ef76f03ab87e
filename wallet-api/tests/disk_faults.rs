//! Disk faults where sled surfaces them, on the real `gaswallet serve` binary: its data directory
//! is a small tmpfs mounted for the test (Linux, needs CAP_SYS_ADMIN; otherwise the test prints
//! why it cannot run here and passes without checking, see `docs/reliability.md`).
//!
//! 1. Full disk: the tmpfs is filled with a filler file while the server runs; top-ups must then
//!    be answered with a clean 5xx problem document (no hang, no crash of the process), and after
//!    the filler is removed and the server restarted, exactly the acknowledged top-ups are there,
//!    retries of the refused ones with the same Idempotency-Key converge, and verify passes.
//! 2. Read-only: the server is stopped and the tmpfs remounted read-only (root ignores directory
//!    permissions, a read-only mount it does not; a mount with files open for writing cannot be
//!    made read-only, hence the stop). The server must refuse to start with a clear error and no
//!    panic, and start with every acknowledged top-up once the directory is writable again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rand::SeedableRng;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use wallet_api::chaos::harness::{cny, new_admin_token, set_up_parties, Api, ServerProcess, PROBLEM_JSON};

/// Size of the tmpfs: room for the journal's first segments, not much more.
const TMPFS_SIZE: &str = "48m";
/// Top-ups tried against the faulty disk (stops earlier after a run of refusals).
const FAULTY_TOPUPS_MAX: usize = 200;
/// Consecutive refusals after which the fault is taken as established.
const REFUSALS_IN_A_ROW: usize = 5;

/// A tmpfs mounted for the test, unmounted on every path.
struct Tmpfs {
    path: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    fn mount() -> Result<Tmpfs, String> {
        if !cfg!(target_os = "linux") {
            return Err(String::from("not Linux"));
        }
        let parent = tempfile::tempdir().map_err(|error| error.to_string())?;
        let path = parent.path().join("mnt");
        std::fs::create_dir(&path).map_err(|error| error.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={TMPFS_SIZE}"), "tmpfs"])
            .arg(&path)
            .output()
            .map_err(|error| format!("cannot run mount: {error}"))?;
        if !output.status.success() {
            return Err(format!("mount -t tmpfs failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
        }
        Ok(Tmpfs { path, _parent: parent })
    }

    fn remount(&self, options: &str) {
        let status =
            Command::new("mount").args(["-o", &format!("remount,{options}")]).arg(&self.path).status().unwrap();
        assert!(status.success(), "remount {options}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Writes zeros into `path` until the file system is full.
fn fill(path: &Path) -> u64 {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    while file.write_all(&chunk).is_ok() {
        written += chunk.len() as u64;
    }
    // Whatever is left below a chunk, byte by byte in small pieces.
    while file.write_all(&chunk[..512]).is_ok() {
        written += 512;
    }
    let _ = file.sync_all();
    written
}

struct Topups {
    wallet_id: String,
    acknowledged_fen: i64,
    refused: Vec<(String, Value)>,
}

/// Tries top-ups until `REFUSALS_IN_A_ROW` are refused; every refusal must be a clean 5xx problem.
async fn top_up_against_the_fault(api: &Api, admin: &str, topups: &mut Topups, label: &str) -> usize {
    let mut in_a_row = 0;
    let mut refusals = 0;
    for number in 0..FAULTY_TOPUPS_MAX {
        let key = format!("{label}-{number}");
        let body = json!({ "amount": cny(100), "channel": "bank", "channel_txn_id": key });
        let answer = api
            .post(&format!("/v1/wallets/{}/topups", topups.wallet_id), admin, Some(&key), &body)
            .await
            .unwrap_or_else(|error| panic!("{label}: no answer (a hang or a crash): {error:#}"));
        match answer.status {
            201 => {
                topups.acknowledged_fen += 100;
                in_a_row = 0;
            }
            500..=599 => {
                assert!(answer.content_type.starts_with(PROBLEM_JSON), "{label}: {} {}", answer.status, answer.text());
                // A storage fault says "retry later or elsewhere", not "the server broke".
                assert_eq!(answer.status, 503, "{label}: {}", answer.text());
                assert!(["storage_unavailable", "unavailable"].contains(&answer.code()), "{label}: {}", answer.text());
                assert!(!answer.code().is_empty(), "{label}: a problem without a code: {}", answer.text());
                eprintln!("{label}: top-up {number} refused: {} {}", answer.status, answer.text());
                topups.refused.push((key, body));
                refusals += 1;
                in_a_row += 1;
                if in_a_row == REFUSALS_IN_A_ROW {
                    break;
                }
            }
            other => panic!("{label}: unexpected {other}: {}", answer.text()),
        }
    }
    refusals
}

/// After the restart: exactly the acknowledged top-ups are there, retries converge, verify passes.
async fn check_after_restart(api: &Api, admin: &str, topups: &mut Topups, label: &str) {
    let wallet =
        api.expect_status("GET", &format!("/v1/wallets/{}", topups.wallet_id), admin, None, 200).await.unwrap();
    assert_eq!(wallet["balance"], cny(topups.acknowledged_fen), "{label}: partial or lost state after the restart");
    for (key, body) in std::mem::take(&mut topups.refused) {
        let path = format!("/v1/wallets/{}/topups", topups.wallet_id);
        let first = api.post(&path, admin, Some(&key), &body).await.unwrap();
        let again = api.post(&path, admin, Some(&key), &body).await.unwrap();
        assert_eq!(first.status, 201, "{label}: retry of {key}: {}", first.text());
        assert_eq!(first.body, again.body, "{label}: the retry of {key} did not converge");
        topups.acknowledged_fen += 100;
    }
    let wallet =
        api.expect_status("GET", &format!("/v1/wallets/{}", topups.wallet_id), admin, None, 200).await.unwrap();
    assert_eq!(wallet["balance"], cny(topups.acknowledged_fen), "{label}: after the retries");
    let checks = api.ledger_checks(admin).await.unwrap();
    assert!(checks.verify_ok && checks.trial_balanced, "{label}: {checks:?}");
}

#[test]
fn full_and_read_only_disks_give_clean_errors_and_recover() {
    let tmpfs = match Tmpfs::mount() {
        Ok(tmpfs) => tmpfs,
        Err(reason) => {
            eprintln!("SKIPPED disk-fault test: cannot mount a tmpfs here ({reason}); see docs/reliability.md");
            return;
        }
    };
    let binary = Path::new(env!("CARGO_BIN_EXE_gaswallet"));
    let data = tmpfs.path.join("data");
    let log_directory = tempfile::tempdir().unwrap();
    let log = log_directory.path().join("server.log");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let mut random = rand::rngs::StdRng::seed_from_u64(5);
        let admin = new_admin_token(&mut random);
        let mut server = ServerProcess::start_with_log(binary, &data, &admin, &log).await.unwrap();
        let api = Api::new(server.address);
        let parties = set_up_parties(&api, &admin, 1, 1, "10.00", &mut random).await.unwrap();
        let mut topups =
            Topups { wallet_id: parties.customers[0].wallet_id.clone(), acknowledged_fen: 1_000, refused: Vec::new() };

        // 1. Full disk.
        let filler = tmpfs.path.join("filler");
        let filled = fill(&filler);
        eprintln!("filled the tmpfs with {} MiB", filled / (1024 * 1024));
        let refusals = top_up_against_the_fault(&api, &admin, &mut topups, "full-disk").await;
        assert!(refusals > 0, "a full disk refused nothing within {FAULTY_TOPUPS_MAX} top-ups");
        let health = api.call("GET", "/healthz", None, None, None).await.expect("the process survived the full disk");
        // The writer stopped (fail-stop): health says so, so a load balancer stops sending writes.
        assert_eq!(health.status, 503, "full disk: /healthz {}", health.text());
        assert!(health.text().contains("\"unavailable\""), "{}", health.text());
        std::fs::remove_file(&filler).unwrap();
        // Space is back; the writer stopped on the fault (fail-stop), so recovery is a restart.
        let after_space = api
            .post(
                &format!("/v1/wallets/{}/topups", topups.wallet_id),
                &admin,
                Some("after-space"),
                &json!({ "amount": "1.00", "channel": "bank", "channel_txn_id": "after-space" }),
            )
            .await
            .unwrap();
        eprintln!(
            "full disk: a top-up once space is back, before a restart: {} {}",
            after_space.status,
            after_space.text()
        );
        if after_space.status == 201 {
            topups.acknowledged_fen += 100;
        } else {
            assert!(
                after_space.status >= 500 && after_space.content_type.starts_with(PROBLEM_JSON),
                "{}",
                after_space.text()
            );
            topups.refused.push((
                String::from("after-space"),
                json!({ "amount": "1.00", "channel": "bank", "channel_txn_id": "after-space" }),
            ));
        }
        server.kill().unwrap();
        server = ServerProcess::start_with_log(binary, &data, &admin, &log).await.unwrap();
        let api = Api::new(server.address);
        check_after_restart(&api, &admin, &mut topups, "full-disk").await;

        // 2. Read-only file system. A file system with files open for writing cannot be remounted
        // read-only ("mount point is busy"), so the server is stopped first and started on the
        // read-only directory: it must refuse to start with a clear error (no panic, no partial
        // state), and start with everything intact once the directory is writable again.
        server.kill().unwrap();
        tmpfs.remount("ro");
        let refused = ServerProcess::start_with_log(binary, &data, &admin, &log).await;
        tmpfs.remount("rw");
        let error = format!("{:#}", refused.expect_err("the server started on a read-only data directory"));
        eprintln!("read-only: the server refused to start: {error}");
        let written = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(written.contains("error:"), "read-only: no error message in the log:\n{written}");
        server = ServerProcess::start_with_log(binary, &data, &admin, &log).await.unwrap();
        let api = Api::new(server.address);
        check_after_restart(&api, &admin, &mut topups, "read-only").await;
        server.kill().unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    });
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
}
