//! Customer features: each definition on a hand-built history, the "no history" cases, the
//! rejections, and the property that the incremental accumulator equals the bulk computation.

// Test code: a panic is how a test fails, including in helpers outside `#[test]` functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use risk::features::{DAY_MS, MONTH_MS};
use risk::{
    features_from_history, ArrearsEpisode, BalanceSample, BillFact, CustomerFeatures, CustomerHistory,
    FeatureAccumulator, HistoryEvent, MonthlyGasSpend, ValveCloseReason, ValveClosure,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// 2025-01-01T00:00:00+08:00.
const AS_OF: i64 = 1_735_660_800_000;

fn days_before(days: i64) -> i64 {
    AS_OF - days * DAY_MS
}

fn bill(bill_id: u64, due_days_before: i64, paid_days_after_due: Option<i64>) -> BillFact {
    let due = days_before(due_days_before);
    BillFact {
        bill_id,
        issued_at_unix_ms: due - 10 * DAY_MS,
        due_at_unix_ms: due,
        paid_at_unix_ms: paid_days_after_due.map(|days| due + days * DAY_MS),
    }
}

/// Two years a customer, a year of mixed behaviour.
fn sample_history() -> CustomerHistory {
    CustomerHistory {
        customer_since_unix_ms: days_before(730),
        bills: vec![
            bill(1, 400, Some(0)),  // due outside the window: ignored
            bill(2, 300, Some(-2)), // on time
            bill(3, 200, Some(0)),  // on time (paid at the due instant)
            bill(4, 100, Some(5)),  // late
            bill(5, 20, None),      // unpaid, due: late
            bill(6, -5, None),      // not yet due: ignored
        ],
        arrears_episodes: vec![
            // Starts before the window, ends 10 days into it: 40 days long, 10 inside.
            ArrearsEpisode { start_unix_ms: days_before(395), end_unix_ms: Some(days_before(355)) },
            ArrearsEpisode { start_unix_ms: days_before(100), end_unix_ms: Some(days_before(95)) },
            // Still open: 20 days.
            ArrearsEpisode { start_unix_ms: days_before(20), end_unix_ms: None },
        ],
        valve_closures: vec![
            ValveClosure { at_unix_ms: days_before(500), reason: ValveCloseReason::NonPayment },
            ValveClosure { at_unix_ms: days_before(50), reason: ValveCloseReason::NonPayment },
            ValveClosure { at_unix_ms: days_before(40), reason: ValveCloseReason::Safety },
        ],
        balance_samples: vec![
            BalanceSample { at_unix_ms: days_before(120), balance_cny: dec!(1000.00) }, // outside 90 days
            BalanceSample { at_unix_ms: days_before(60), balance_cny: dec!(150.00) },
            BalanceSample { at_unix_ms: days_before(1), balance_cny: dec!(50.00) },
        ],
        monthly_gas_spend: vec![
            MonthlyGasSpend { closed_at_unix_ms: days_before(400), spend_cny: dec!(1000.00) },
            MonthlyGasSpend { closed_at_unix_ms: days_before(60), spend_cny: dec!(40.00) },
            MonthlyGasSpend { closed_at_unix_ms: days_before(30), spend_cny: dec!(60.00) },
        ],
        // Gaps 10, 20, 30 days inside the window: mean 20, population sd √(200/3).
        top_ups_unix_ms: vec![days_before(400), days_before(60), days_before(50), days_before(30), days_before(0)],
        disputes_opened_unix_ms: vec![days_before(366), days_before(365), days_before(10)],
        tamper_flags_unix_ms: vec![AS_OF + 1],
    }
}

#[test]
fn every_feature_follows_its_definition() {
    let features = features_from_history(&sample_history(), AS_OF).unwrap();
    let expected_cv = (200.0f64 / 3.0).sqrt() / 20.0;
    assert_eq!(
        features,
        CustomerFeatures {
            on_time_bill_share: Some(0.5),
            max_days_in_arrears: Some(40),
            total_days_in_arrears: Some(10 + 5 + 20),
            valve_closures_for_non_payment: Some(1),
            balance_coverage_months: Some(2.0),
            top_up_interval_cv: Some(expected_cv),
            tenure_months: Some(u32::try_from(730 * DAY_MS / MONTH_MS).unwrap()),
            // The window's start is exclusive: 365 days before is out.
            disputes: Some(1),
            // After as_of: not yet seen.
            meter_tamper_flags: Some(0),
        }
    );
    assert_eq!(features.tenure_months, Some(23));
}

#[test]
fn the_accumulator_agrees_on_the_sample() {
    let history = sample_history();
    let mut accumulator = FeatureAccumulator::new(history.customer_since_unix_ms);
    for event in history.events().unwrap().iter().filter(|event| event.at_unix_ms() <= AS_OF) {
        accumulator.apply(event).unwrap();
    }
    assert_eq!(accumulator.features(AS_OF).unwrap(), features_from_history(&history, AS_OF).unwrap());
}

#[test]
fn a_new_customer_has_missing_features_not_zeros() {
    let history = CustomerHistory { customer_since_unix_ms: days_before(3), ..CustomerHistory::default() };
    let features = features_from_history(&history, AS_OF).unwrap();
    assert_eq!(
        features,
        CustomerFeatures {
            on_time_bill_share: None,
            max_days_in_arrears: None,
            total_days_in_arrears: None,
            valve_closures_for_non_payment: None,
            balance_coverage_months: None,
            top_up_interval_cv: None,
            tenure_months: Some(0),
            disputes: Some(0),
            meter_tamper_flags: Some(0),
        }
    );
    // 30 observed days make the arrears record present, and clean.
    let month_old = CustomerHistory { customer_since_unix_ms: days_before(30), ..CustomerHistory::default() };
    let features = features_from_history(&month_old, AS_OF).unwrap();
    assert_eq!(features.max_days_in_arrears, Some(0));
    assert_eq!(features.valve_closures_for_non_payment, Some(0));
}

#[test]
fn coverage_and_regularity_edge_cases() {
    let base = CustomerHistory { customer_since_unix_ms: days_before(400), ..CustomerHistory::default() };
    let zero_spend = CustomerHistory {
        balance_samples: vec![BalanceSample { at_unix_ms: AS_OF, balance_cny: dec!(10.00) }],
        monthly_gas_spend: vec![MonthlyGasSpend { closed_at_unix_ms: AS_OF, spend_cny: Decimal::ZERO }],
        ..base.clone()
    };
    assert_eq!(features_from_history(&zero_spend, AS_OF).unwrap().balance_coverage_months, None);
    let negative_balance = CustomerHistory {
        balance_samples: vec![BalanceSample { at_unix_ms: AS_OF, balance_cny: dec!(-25.00) }],
        monthly_gas_spend: vec![MonthlyGasSpend { closed_at_unix_ms: AS_OF, spend_cny: dec!(50.00) }],
        ..base.clone()
    };
    assert_eq!(features_from_history(&negative_balance, AS_OF).unwrap().balance_coverage_months, Some(-0.5));
    let two_top_ups = CustomerHistory { top_ups_unix_ms: vec![days_before(10), days_before(5)], ..base.clone() };
    assert_eq!(features_from_history(&two_top_ups, AS_OF).unwrap().top_up_interval_cv, None);
    let clockwork =
        CustomerHistory { top_ups_unix_ms: vec![days_before(60), days_before(30), days_before(0)], ..base.clone() };
    assert_eq!(features_from_history(&clockwork, AS_OF).unwrap().top_up_interval_cv, Some(0.0));
    let same_instant = CustomerHistory { top_ups_unix_ms: vec![AS_OF, AS_OF, AS_OF], ..base };
    assert_eq!(features_from_history(&same_instant, AS_OF).unwrap().top_up_interval_cv, None);
}

/// `change` applied to the sample history must be rejected with `code`.
fn check_history_rejected(name: &str, change: impl FnOnce(&mut CustomerHistory), code: &str) {
    let mut history = sample_history();
    change(&mut history);
    let error = features_from_history(&history, AS_OF).unwrap_err();
    assert_eq!(error.code(), code, "{name}: {error}");
    assert_eq!(history.events().unwrap_err().code(), code, "{name}");
}

#[test]
fn history_rejections() {
    check_history_rejected("due before issue", |h| h.bills[0].due_at_unix_ms = 0, "bill_times_out_of_order");
    check_history_rejected("paid before issue", |h| h.bills[0].paid_at_unix_ms = Some(0), "bill_times_out_of_order");
    check_history_rejected("bill id twice", |h| h.bills[1].bill_id = 1, "duplicate_bill");
    check_history_rejected(
        "overlapping episodes",
        |h| h.arrears_episodes[1].end_unix_ms = Some(days_before(10)),
        "arrears_already_open",
    );
    check_history_rejected(
        "open episode not last",
        |h| h.arrears_episodes[1].end_unix_ms = None,
        "arrears_already_open",
    );
    check_history_rejected(
        "episode ends before it starts",
        |h| h.arrears_episodes[1].end_unix_ms = Some(days_before(101)),
        "no_arrears_open",
    );
    check_history_rejected("fractional fen", |h| h.balance_samples[0].balance_cny = dec!(0.001), "invalid_amount");
    check_history_rejected("negative spend", |h| h.monthly_gas_spend[0].spend_cny = dec!(-1), "invalid_amount");
    check_history_rejected(
        "absurd balance",
        |h| h.balance_samples[0].balance_cny = dec!(1_000_000_000.01),
        "invalid_amount",
    );
}

#[test]
fn accumulator_rejections_change_nothing() {
    let mut accumulator = FeatureAccumulator::new(days_before(400));
    accumulator.apply(&HistoryEvent::TopUp { at_unix_ms: days_before(10) }).unwrap();
    let before = accumulator.clone();
    let cases: Vec<(HistoryEvent, &str)> = vec![
        (HistoryEvent::TopUp { at_unix_ms: days_before(11) }, "event_out_of_order"),
        (HistoryEvent::ArrearsEnded { at_unix_ms: AS_OF }, "no_arrears_open"),
        (
            HistoryEvent::BillIssued { bill_id: 1, issued_at_unix_ms: AS_OF, due_at_unix_ms: AS_OF - 1 },
            "bill_times_out_of_order",
        ),
        (HistoryEvent::BalanceSampled { at_unix_ms: AS_OF, balance_cny: dec!(1.005) }, "invalid_amount"),
        (HistoryEvent::MonthlyGasSpendClosed { at_unix_ms: AS_OF, spend_cny: dec!(-0.01) }, "invalid_amount"),
    ];
    for (event, code) in cases {
        assert_eq!(accumulator.apply(&event).unwrap_err().code(), code, "{event:?}");
        assert_eq!(accumulator, before, "{event:?} changed the accumulator");
    }
    accumulator.apply(&HistoryEvent::ArrearsStarted { at_unix_ms: AS_OF }).unwrap();
    let error = accumulator.apply(&HistoryEvent::ArrearsStarted { at_unix_ms: AS_OF }).unwrap_err();
    assert_eq!(error.code(), "arrears_already_open");
    accumulator
        .apply(&HistoryEvent::BillIssued { bill_id: 7, issued_at_unix_ms: AS_OF, due_at_unix_ms: AS_OF })
        .unwrap();
    let error = accumulator
        .apply(&HistoryEvent::BillIssued { bill_id: 7, issued_at_unix_ms: AS_OF, due_at_unix_ms: AS_OF })
        .unwrap_err();
    assert_eq!(error.code(), "duplicate_bill");
    assert_eq!(accumulator.features(AS_OF - 1).unwrap_err().code(), "as_of_before_latest_event");
}

#[test]
fn the_accumulator_forgets_what_no_window_can_see() {
    let mut accumulator = FeatureAccumulator::new(0);
    for day in 0..3_000 {
        accumulator.apply(&HistoryEvent::TopUp { at_unix_ms: AS_OF + day * DAY_MS }).unwrap();
    }
    let state = format!("{accumulator:?}");
    // 365 top-ups stay in the window (plus the one at its exclusive start dropped): bounded state.
    assert!(state.matches(", ").count() < 400, "state grew with history");
}

// ----- Property: incremental == bulk -----

/// Times on a coarse grid (days and a few hours) so that ties are common.
fn time_strategy() -> impl Strategy<Value = i64> {
    (0i64..1_200, 0i64..3).prop_map(|(day, hour)| days_before(1_000) + day * DAY_MS + hour * 3_600_000)
}

fn history_strategy() -> impl Strategy<Value = CustomerHistory> {
    let bills =
        prop::collection::vec((time_strategy(), 0i64..40, prop::option::of(0i64..120)), 0..20).prop_map(|raw| {
            raw.into_iter()
                .enumerate()
                .map(|(index, (issued, due_days, paid_days))| BillFact {
                    bill_id: index as u64,
                    issued_at_unix_ms: issued,
                    due_at_unix_ms: issued + due_days * DAY_MS,
                    paid_at_unix_ms: paid_days.map(|days| issued + days * DAY_MS),
                })
                .collect::<Vec<_>>()
        });
    let episodes = (prop::collection::vec((0i64..200, 0i64..150), 0..8), any::<bool>()).prop_map(|(raw, last_open)| {
        let mut at = days_before(1_100);
        let count = raw.len();
        raw.into_iter()
            .enumerate()
            .map(|(index, (gap_days, length_days))| {
                let start = at + gap_days * DAY_MS;
                let end = start + length_days * DAY_MS;
                at = end;
                ArrearsEpisode {
                    start_unix_ms: start,
                    end_unix_ms: (!(last_open && index + 1 == count)).then_some(end),
                }
            })
            .collect::<Vec<_>>()
    });
    let closures = prop::collection::vec((time_strategy(), any::<bool>()), 0..8).prop_map(|raw| {
        raw.into_iter()
            .map(|(at, non_payment)| ValveClosure {
                at_unix_ms: at,
                reason: if non_payment { ValveCloseReason::NonPayment } else { ValveCloseReason::Maintenance },
            })
            .collect::<Vec<_>>()
    });
    let balances = prop::collection::vec((time_strategy(), -50_000i64..500_000), 0..30).prop_map(|raw| {
        raw.into_iter()
            .map(|(at, fen)| BalanceSample { at_unix_ms: at, balance_cny: Decimal::new(fen, 2) })
            .collect::<Vec<_>>()
    });
    let spends = prop::collection::vec((time_strategy(), 0i64..50_000), 0..30).prop_map(|raw| {
        raw.into_iter()
            .map(|(at, fen)| MonthlyGasSpend { closed_at_unix_ms: at, spend_cny: Decimal::new(fen, 2) })
            .collect::<Vec<_>>()
    });
    let times = || prop::collection::vec(time_strategy(), 0..25);
    (time_strategy(), bills, episodes, closures, balances, spends, times(), times(), times()).prop_map(
        |(
            since,
            bills,
            arrears_episodes,
            valve_closures,
            balance_samples,
            monthly_gas_spend,
            top_ups,
            disputes,
            tamper,
        )| {
            CustomerHistory {
                customer_since_unix_ms: since,
                bills,
                arrears_episodes,
                valve_closures,
                balance_samples,
                monthly_gas_spend,
                top_ups_unix_ms: top_ups,
                disputes_opened_unix_ms: disputes,
                tamper_flags_unix_ms: tamper,
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Feeding the events one at a time and asking at several times gives, at each, exactly the
    /// bulk features of the whole history as of that time.
    #[test]
    fn incremental_features_equal_bulk_features(
        history in history_strategy(),
        mut checkpoints in prop::collection::vec(time_strategy(), 1..6),
    ) {
        checkpoints.sort_unstable();
        let events = history.events().unwrap();
        let mut accumulator = FeatureAccumulator::new(history.customer_since_unix_ms);
        let mut next_event = 0;
        for as_of in checkpoints {
            while let Some(event) = events.get(next_event).filter(|event| event.at_unix_ms() <= as_of) {
                accumulator.apply(event).unwrap();
                next_event += 1;
            }
            let incremental = accumulator.features(as_of).unwrap();
            let bulk = features_from_history(&history, as_of).unwrap();
            prop_assert_eq!(incremental, bulk, "as_of {}", as_of);
        }
        // The whole history replayed answers like the bulk path at its last event.
        let replayed = FeatureAccumulator::from_history(&history).unwrap();
        if let Some(last) = replayed.latest_event_unix_ms() {
            prop_assert_eq!(replayed.features(last).unwrap(), features_from_history(&history, last).unwrap());
        }
    }
}
