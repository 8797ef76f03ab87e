//! Anomaly detectors: each fires on its pattern with the right evidence, and stays quiet on the
//! near misses (one night short, exactly k times the norm, a declared reset, a quiet household).

// Test code: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use risk::anomaly::{
    detect_consumption_spikes, detect_continuous_night_flow, detect_frozen_register, detect_reversed_register, Anomaly,
    AnomalyConfig, AnomalyEvidence, AnomalyKind, DailyVolume, IntervalVolume, RegisterReading, DAY_MS, HOUR_MS,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// 2025-01-01T00:00+08:00: a winter midnight in Beijing.
const NEW_YEAR: i64 = 1_735_660_800_000;
const METER: &str = "meter-7";

/// Hourly intervals over `days` days from `NEW_YEAR`, volume by (day, hour of the Beijing day).
fn hourly(days: i64, volume: impl Fn(i64, i64) -> Option<Decimal>) -> Vec<IntervalVolume> {
    let mut intervals = Vec::new();
    for day in 0..days {
        for hour in 0..24 {
            if let Some(volume_m3) = volume(day, hour) {
                let from = NEW_YEAR + day * DAY_MS + hour * HOUR_MS;
                intervals.push(IntervalVolume { from_unix_ms: from, to_unix_ms: from + HOUR_MS, volume_m3 });
            }
        }
    }
    intervals
}

/// Daytime cooking only, plus `night` in every night hour.
fn household(night: Decimal) -> impl Fn(i64, i64) -> Option<Decimal> {
    move |_, hour| {
        Some(if hour < 5 {
            night
        } else if (7..9).contains(&hour) || (18..20).contains(&hour) {
            dec!(0.300)
        } else {
            dec!(0.000)
        })
    }
}

fn night_flow(intervals: &[IntervalVolume]) -> Vec<Anomaly<&'static str>> {
    detect_continuous_night_flow(&METER, intervals, &AnomalyConfig::default()).unwrap()
}

#[test]
fn continuous_night_flow_for_three_nights_fires_once_with_evidence() {
    let intervals = hourly(3, household(dec!(0.050)));
    let anomalies = night_flow(&intervals);
    assert_eq!(
        anomalies,
        vec![Anomaly {
            subject: METER,
            kind: AnomalyKind::ContinuousNightFlow,
            from_unix_ms: NEW_YEAR,
            to_unix_ms: NEW_YEAR + 2 * DAY_MS + 5 * HOUR_MS,
            evidence: AnomalyEvidence::ContinuousNightFlow {
                nights: 3,
                lowest_flow_m3_per_hour: dec!(0.050),
                night_volume_m3: dec!(0.750),
                threshold_m3_per_hour: dec!(0.020),
            },
        }]
    );
    assert_eq!(anomalies[0].kind.code(), "continuous_night_flow");
}

#[test]
fn night_flow_near_misses_do_not_fire() {
    // Two nights only.
    assert!(night_flow(&hourly(2, household(dec!(0.050)))).is_empty());
    // A quiet household.
    assert!(night_flow(&hourly(10, household(dec!(0.000)))).is_empty());
    // Meter creep below the threshold.
    assert!(night_flow(&hourly(10, household(dec!(0.019)))).is_empty());
    // One hour of the middle night below the threshold breaks the run.
    let dip = hourly(5, |day, hour| Some(if day == 2 && hour == 3 { dec!(0.010) } else { dec!(0.050) }));
    assert!(night_flow(&dip).is_empty());
    // A missing night hour breaks it too: no flow can be claimed for it.
    let gap = hourly(5, |day, hour| (day != 2 || hour != 1).then_some(dec!(0.050)));
    assert!(night_flow(&gap).is_empty());
    // Half-hour intervals are read by their own rate: 0.015 per half hour is 0.030 m³/h.
    let mut half_hours = Vec::new();
    for day in 0..3 {
        for half in 0..10 {
            let from = NEW_YEAR + day * DAY_MS + half * HOUR_MS / 2;
            half_hours.push(IntervalVolume {
                from_unix_ms: from,
                to_unix_ms: from + HOUR_MS / 2,
                volume_m3: dec!(0.015),
            });
        }
    }
    assert_eq!(night_flow(&half_hours).len(), 1);
}

#[test]
fn two_separate_runs_are_two_anomalies() {
    let intervals = hourly(8, |day, hour| Some(if hour < 5 && day != 3 { dec!(0.040) } else { dec!(0.000) }));
    let anomalies = night_flow(&intervals);
    let nights: Vec<u32> = anomalies
        .iter()
        .map(|anomaly| match anomaly.evidence {
            AnomalyEvidence::ContinuousNightFlow { nights, .. } => nights,
            _ => 0,
        })
        .collect();
    assert_eq!(nights, vec![3, 4]);
}

fn days_from(start_day: i64, volumes: &[Decimal]) -> Vec<DailyVolume> {
    volumes
        .iter()
        .enumerate()
        .map(|(index, volume)| DailyVolume {
            day_unix_ms: NEW_YEAR + (start_day + index as i64) * DAY_MS,
            volume_m3: *volume,
        })
        .collect()
}

fn spikes(days: &[DailyVolume]) -> Vec<Anomaly<&'static str>> {
    detect_consumption_spikes(&METER, days, &AnomalyConfig::default()).unwrap()
}

#[test]
fn a_spike_against_the_seasonal_norm_fires() {
    let mut volumes = vec![dec!(2.000); 30];
    volumes.push(dec!(7.000));
    let anomalies = spikes(&days_from(0, &volumes));
    assert_eq!(anomalies.len(), 1);
    assert_eq!(anomalies[0].from_unix_ms, NEW_YEAR + 30 * DAY_MS);
    assert_eq!(
        anomalies[0].evidence,
        AnomalyEvidence::ConsumptionSpike {
            day_volume_m3: dec!(7.000),
            seasonal_norm_m3: dec!(2.000),
            baseline_m3: dec!(2.000),
            norm_days: 30,
            ratio: dec!(3.50),
        }
    );
}

#[test]
fn spike_near_misses_do_not_fire() {
    // Exactly three times the norm is not above it.
    let mut volumes = vec![dec!(2.000); 30];
    volumes.push(dec!(6.000));
    assert!(spikes(&days_from(0, &volumes)).is_empty());
    // Too little history: no norm, no judgement.
    let mut volumes = vec![dec!(2.000); 13];
    volumes.push(dec!(20.000));
    assert!(spikes(&days_from(0, &volumes)).is_empty());
    // A household that barely cooks: the floor (0.5) keeps an ordinary day quiet...
    let mut volumes = vec![dec!(0.100); 30];
    volumes.push(dec!(1.000));
    assert!(spikes(&days_from(0, &volumes)).is_empty());
    // ...but not a real spike, judged against the floor.
    let mut volumes = vec![dec!(0.100); 30];
    volumes.push(dec!(1.600));
    let anomalies = spikes(&days_from(0, &volumes));
    assert!(matches!(
        anomalies[0].evidence,
        AnomalyEvidence::ConsumptionSpike { baseline_m3, seasonal_norm_m3, .. }
            if baseline_m3 == dec!(0.500) && seasonal_norm_m3 == dec!(0.100)
    ));
}

#[test]
fn the_norm_is_seasonal() {
    // Summer (from 1 June 2025, day 151) at 0.8 a day, then a winter day (1 Dec, day 334) at 6:
    // no winter history, so no norm and no spike, although 6 > 3 × 0.8.
    let mut days = days_from(151, &[dec!(0.800); 60]);
    days.push(DailyVolume { day_unix_ms: NEW_YEAR + 334 * DAY_MS, volume_m3: dec!(6.000) });
    assert!(spikes(&days).is_empty());
    // Winter norm from last winter: a winter day at 6 against 2.5 is ordinary.
    let mut days = days_from(0, &[dec!(2.500); 40]);
    days.extend(days_from(151, &[dec!(0.800); 60]));
    days.push(DailyVolume { day_unix_ms: NEW_YEAR + 334 * DAY_MS, volume_m3: dec!(6.000) });
    assert!(spikes(&days).is_empty());
    // While the same 6 in summer is a spike.
    let mut days = days_from(151, &[dec!(0.800); 60]);
    days.push(DailyVolume { day_unix_ms: NEW_YEAR + 220 * DAY_MS, volume_m3: dec!(6.000) });
    assert_eq!(spikes(&days).len(), 1);
}

/// Daily readings from `NEW_YEAR`, register by day.
fn daily_readings(registers: &[Decimal]) -> Vec<RegisterReading> {
    registers
        .iter()
        .enumerate()
        .map(|(day, register)| RegisterReading { at_unix_ms: NEW_YEAR + day as i64 * DAY_MS, register_m3: *register })
        .collect()
}

/// `used_days` days at `daily` m³ a day, then the register stands still for `still_days` days.
fn register_then_still(daily: Decimal, used_days: usize, still_days: usize) -> Vec<Decimal> {
    let mut registers: Vec<Decimal> = (0..=used_days).map(|day| dec!(100.000) + daily * Decimal::from(day)).collect();
    let last = registers[used_days];
    registers.extend(std::iter::repeat_n(last, still_days));
    registers
}

#[test]
fn a_frozen_register_of_a_consuming_household_fires() {
    let readings = daily_readings(&register_then_still(dec!(1.000), 30, 4));
    let anomalies = detect_frozen_register(&METER, &readings, &[], &AnomalyConfig::default()).unwrap();
    assert_eq!(
        anomalies,
        vec![Anomaly {
            subject: METER,
            kind: AnomalyKind::FrozenRegister,
            from_unix_ms: NEW_YEAR + 30 * DAY_MS,
            to_unix_ms: NEW_YEAR + 34 * DAY_MS,
            evidence: AnomalyEvidence::FrozenRegister {
                register_m3: dec!(130.000),
                readings: 5,
                baseline_daily_m3: dec!(1.000),
                expected_volume_m3: dec!(4.000),
            },
        }]
    );
}

#[test]
fn frozen_register_near_misses_do_not_fire() {
    let config = AnomalyConfig::default();
    let quiet = |readings: &[RegisterReading], resets: &[i64]| {
        detect_frozen_register(&METER, readings, resets, &config).unwrap().is_empty()
    };
    // Two still days: shorter than 72 hours.
    assert!(quiet(&daily_readings(&register_then_still(dec!(1.000), 30, 2)), &[]));
    // A household that barely uses gas may stand still.
    assert!(quiet(&daily_readings(&register_then_still(dec!(0.100), 30, 10)), &[]));
    // Still from the first reading: no baseline, no claim.
    assert!(quiet(&daily_readings(&[dec!(5.000); 10]), &[]));
    // A baseline shorter than 7 days is no baseline.
    assert!(quiet(&daily_readings(&register_then_still(dec!(1.000), 5, 10)), &[]));
    // A declared replacement just before the still period leaves no baseline after it.
    let readings = daily_readings(&register_then_still(dec!(1.000), 30, 5));
    assert!(quiet(&readings, &[NEW_YEAR + 30 * DAY_MS - 1]));
}

#[test]
fn a_reversed_register_fires_unless_a_reset_was_declared() {
    let readings = daily_readings(&[dec!(100.000), dec!(101.000), dec!(100.500), dec!(102.000)]);
    let anomalies = detect_reversed_register(&METER, &readings, &[]).unwrap();
    assert_eq!(
        anomalies,
        vec![Anomaly {
            subject: METER,
            kind: AnomalyKind::ReversedRegister,
            from_unix_ms: NEW_YEAR + DAY_MS,
            to_unix_ms: NEW_YEAR + 2 * DAY_MS,
            evidence: AnomalyEvidence::ReversedRegister {
                previous_register_m3: dec!(101.000),
                register_m3: dec!(100.500),
                drop_m3: dec!(0.500),
            },
        }]
    );
    // Declared between the two readings (at the later one counts): no anomaly.
    assert!(detect_reversed_register(&METER, &readings, &[NEW_YEAR + 2 * DAY_MS]).unwrap().is_empty());
    // Declared earlier: it does not explain this drop.
    assert_eq!(detect_reversed_register(&METER, &readings, &[NEW_YEAR]).unwrap().len(), 1);
    // Rising and flat registers are fine.
    let rising = daily_readings(&[dec!(1.000), dec!(1.000), dec!(2.000)]);
    assert!(detect_reversed_register(&METER, &rising, &[]).unwrap().is_empty());
}

#[test]
fn inputs_are_validated() {
    let config = AnomalyConfig::default();
    let code = |result: Result<Vec<Anomaly<&str>>, risk::anomaly::AnomalyError>| result.unwrap_err().code();
    let backwards = [
        RegisterReading { at_unix_ms: NEW_YEAR + DAY_MS, register_m3: dec!(1) },
        RegisterReading { at_unix_ms: NEW_YEAR, register_m3: dec!(2) },
    ];
    assert_eq!(code(detect_reversed_register(&METER, &backwards, &[])), "series_out_of_order");
    let too_precise = [RegisterReading { at_unix_ms: NEW_YEAR, register_m3: dec!(1.0001) }];
    assert_eq!(code(detect_frozen_register(&METER, &too_precise, &[], &config)), "invalid_volume");
    let negative = [DailyVolume { day_unix_ms: NEW_YEAR, volume_m3: dec!(-0.001) }];
    assert_eq!(code(detect_consumption_spikes(&METER, &negative, &config)), "invalid_volume");
    let same_day = [
        DailyVolume { day_unix_ms: NEW_YEAR, volume_m3: dec!(1) },
        DailyVolume { day_unix_ms: NEW_YEAR + HOUR_MS, volume_m3: dec!(1) },
    ];
    assert_eq!(code(detect_consumption_spikes(&METER, &same_day, &config)), "series_out_of_order");
    let overlapping = [
        IntervalVolume { from_unix_ms: NEW_YEAR, to_unix_ms: NEW_YEAR + 2 * HOUR_MS, volume_m3: dec!(0.1) },
        IntervalVolume { from_unix_ms: NEW_YEAR + HOUR_MS, to_unix_ms: NEW_YEAR + 3 * HOUR_MS, volume_m3: dec!(0.1) },
    ];
    assert_eq!(code(detect_continuous_night_flow(&METER, &overlapping, &config)), "series_out_of_order");
    let empty = [IntervalVolume { from_unix_ms: NEW_YEAR, to_unix_ms: NEW_YEAR, volume_m3: dec!(0.1) }];
    assert_eq!(code(detect_continuous_night_flow(&METER, &empty, &config)), "series_out_of_order");
    let before_epoch = [RegisterReading { at_unix_ms: -1, register_m3: dec!(1) }];
    assert_eq!(code(detect_reversed_register(&METER, &before_epoch, &[])), "invalid_time");
    let huge = [DailyVolume { day_unix_ms: NEW_YEAR, volume_m3: dec!(1_000_000_000.001) }];
    assert_eq!(code(detect_consumption_spikes(&METER, &huge, &config)), "invalid_volume");

    let bad_configs: Vec<(AnomalyConfig, &str)> = vec![
        (AnomalyConfig { night_end_hour: 0, ..config.clone() }, "night"),
        (AnomalyConfig { night_flow_nights_min: 0, ..config.clone() }, "night"),
        (AnomalyConfig { spike_factor: dec!(1), ..config.clone() }, "spike"),
        (AnomalyConfig { spike_norm_lookback_days: 0, ..config.clone() }, "spike"),
        (AnomalyConfig { frozen_period_hours_min: 0, ..config.clone() }, "frozen"),
        (AnomalyConfig { frozen_baseline_days: 3, ..config.clone() }, "frozen"),
    ];
    for (bad, detector) in bad_configs {
        let result = match detector {
            "night" => detect_continuous_night_flow(&METER, &[], &bad),
            "spike" => detect_consumption_spikes(&METER, &[], &bad),
            _ => detect_frozen_register(&METER, &[], &[], &bad),
        };
        assert_eq!(code(result), "invalid_anomaly_config", "{bad:?}");
    }
}
