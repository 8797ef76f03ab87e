//! The `gaswallet` binary as a user runs it: help texts and `verify` on a real data directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ledger::{
    chart, AccountId, AccountSpec, Asset, Command, EntryId, EntrySpec, Ledger, LedgerConfig, PostingSpec, SystemClock,
};
use rust_decimal::Decimal;
use std::process::Command as Process;
use std::sync::Arc;
use uuid::Uuid;

fn gaswallet() -> Process {
    Process::new(env!("CARGO_BIN_EXE_gaswallet"))
}

#[test]
fn help_names_every_subcommand() {
    let output = gaswallet().arg("--help").output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    for word in ["serve", "verify", "score", "simulate", "bench", "chaos"] {
        assert!(text.contains(word), "--help lacks {word}: {text}");
    }
}

fn write_journal(data: &std::path::Path) {
    let ledger = Ledger::open(LedgerConfig::new(data.join("ledger")), Arc::new(SystemClock)).unwrap();
    let clearing = AccountId(Uuid::from_u128(1));
    let wallet = AccountId(Uuid::from_u128(2));
    let commands = vec![
        Command::OpenAccount(AccountSpec {
            id: clearing,
            code: chart::CHANNEL_CLEARING,
            asset: Asset::Cny,
            no_overdraft: false,
            credit_limit: Decimal::ZERO,
        }),
        Command::OpenAccount(AccountSpec {
            id: wallet,
            code: chart::CUSTOMER_WALLET,
            asset: Asset::Cny,
            no_overdraft: true,
            credit_limit: Decimal::ZERO,
        }),
        Command::Post(EntrySpec {
            id: EntryId(Uuid::from_u128(3)),
            category: "topup".into(),
            memo: String::new(),
            postings: vec![
                PostingSpec::debit(clearing, Decimal::new(5000, 2)),
                PostingSpec::credit(wallet, Decimal::new(5000, 2)),
            ],
            hold: None,
        }),
    ];
    for result in ledger.submit(commands).unwrap().wait().unwrap() {
        result.unwrap();
    }
    ledger.close().unwrap();
}

#[test]
fn verify_reports_an_intact_journal_and_a_tampered_one() {
    let data = tempfile::tempdir().unwrap();
    write_journal(data.path());
    let output = gaswallet().args(["verify", "--json", "--data"]).arg(data.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["entries_checked"], 3);

    // Flip one byte of the top-up's memo length... any byte of its body: the chain must notice.
    let store = ledger::store::Store::open(&data.path().join("ledger")).unwrap();
    let mut batch = store.batch_holding(3).unwrap().unwrap();
    let offset = (3 - batch.first_sequence) as usize;
    batch.records[offset].body[3] ^= 0x40;
    store.overwrite_batch_for_tamper_test(batch.first_sequence, &batch.encode()).unwrap();
    drop(store);
    let output = gaswallet().args(["verify", "--json", "--data"]).arg(data.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["first_error"]["kind"], "hash_mismatch");
    assert_eq!(report["first_error"]["sequence"], 3);
}

#[test]
fn verify_of_a_missing_directory_is_a_clear_error() {
    let data = tempfile::tempdir().unwrap();
    let output = gaswallet().args(["verify", "--data"]).arg(data.path().join("nope")).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no ledger at"));
}

#[test]
fn serve_answers_then_stops_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader, Read, Write};
    let data = tempfile::tempdir().unwrap();
    let mut child = gaswallet()
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // The admin token was created with mode 0600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.path().join("admin.token")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let killed = Process::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|line| line.contains("stopped cleanly")), "{rest:?}");
    // The journal it flushed verifies offline.
    let output = gaswallet().args(["verify", "--json", "--data"]).arg(data.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stdout));
}

#[test]
fn score_rescores_a_stopped_service_s_customers() {
    let data = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (service, _) = wallet_api::serve::open_service(data.path()).await.unwrap();
        for name in ["Zhang Wei", "Li Na", "Wang Fang"] {
            service.register_customer(name, None, None, None, None).await.unwrap();
        }
        match Arc::try_unwrap(service) {
            Ok(service) => service.close().unwrap(),
            Err(_) => panic!("the service is still shared"),
        }
    });
    // sled lets go of its directory lock from a background thread: retry briefly.
    let mut output = gaswallet().args(["score", "--data"]).arg(data.path()).output().unwrap();
    for _ in 0..20 {
        if output.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        output = gaswallet().args(["score", "--data"]).arg(data.path()).output().unwrap();
    }
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["customers"], 3, "{summary}");
    assert_eq!(summary["failed"], 0);
    // New customers have no history: the first rescore records their grade (a change from none).
    assert_eq!(summary["grades_changed"], 3, "{summary}");
    let again = gaswallet().args(["score", "--data"]).arg(data.path()).output().unwrap();
    let again: serde_json::Value = serde_json::from_slice(again.stdout.trim_ascii_end()).unwrap();
    assert_eq!((again["grades_changed"].as_u64(), again["limits_changed"].as_u64()), (Some(0), Some(0)), "{again}");
}

#[test]
fn huge_pages_is_a_global_switch_with_two_values() {
    let data = tempfile::tempdir().unwrap();
    write_journal(data.path());
    // Before or after the subcommand, either value: the command runs as usual.
    for arguments in [["--huge-pages", "off", "verify"], ["verify", "--huge-pages", "on"]] {
        let output = gaswallet().args(arguments).args(["--json", "--data"]).arg(data.path()).output().unwrap();
        assert!(output.status.success(), "{arguments:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    let output = gaswallet().args(["--huge-pages", "sometimes", "verify", "--data"]).arg(data.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "clap refuses an unknown value");
    assert!(String::from_utf8_lossy(&output.stderr).contains("possible values: on, off"));
}
