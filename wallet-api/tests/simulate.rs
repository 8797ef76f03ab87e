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
    // Two days from midnight end at midnight: the third day's 00:00 hour was played too, so it
    // is settled and closed as well.
    assert_eq!(figures["closes"]["days_closed"], 3, "{figures}");
    assert_eq!(figures["verify"]["ok"], true);

    let second = run_simulation(&options(11)).unwrap();
    assert_eq!(second.figures, first.figures, "same seed, same numbers");
    assert_eq!(second.checks, first.checks);
}

/// The breaks injected into a WeChat bill are exactly what a comparison with the original lines
/// finds: a missing line, an extra line, an amount one fen off, never two on one line.
#[test]
fn injected_breaks_are_exactly_what_the_bill_differs_by() {
    use rand::SeedableRng;
    use rust_decimal::Decimal;
    use wallet_api::simulate::statement::{inject_breaks, wechat_bill, ChannelLine};
    for seed in 0..500u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let count = (seed % 5) as usize;
        let original: Vec<ChannelLine> = (0..count)
            .map(|index| ChannelLine {
                time: format!("2026-12-01 0{index}:00:00"),
                channel_txn_id: format!("4200000000000000000{index}"),
                amount: Decimal::new(10_000 + index as i64, 2),
            })
            .collect();
        let mut lines = original.clone();
        let extra = "429920261201000000001".to_owned();
        let injected = inject_breaks(&mut rng, &mut lines, extra.clone(), "2026-12-01 12:34:56".to_owned());
        let missing = original.iter().filter(|o| !lines.iter().any(|l| l.channel_txn_id == o.channel_txn_id)).count();
        let extras = lines.iter().filter(|l| !original.iter().any(|o| o.channel_txn_id == l.channel_txn_id)).count();
        let changed = original
            .iter()
            .filter(|o| lines.iter().any(|l| l.channel_txn_id == o.channel_txn_id && l.amount != o.amount))
            .count();
        assert_eq!(
            (missing as u64, extras as u64, changed as u64),
            (injected.missing, injected.extra, injected.amount_off),
            "seed {seed}, {count} lines"
        );
        assert!(injected.total() <= 2);
        let bill = wechat_bill(&lines);
        assert_eq!(bill.lines().count(), lines.len() + 3, "header, rows, summary header and row");
        if let Some(row) = bill.lines().nth(1).filter(|_| !lines.is_empty()) {
            assert!(row.starts_with('`') && row.split(',').count() == 27, "{row}");
        }
    }
}
