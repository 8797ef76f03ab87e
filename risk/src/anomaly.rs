//! Consumption anomalies: possible leaks and possible tampering, read from one household's meter
//! data. Pure functions: readings in, [`Anomaly`] values out; the caller turns each into an
//! `anomaly_detected` event (with its own ids and the time it ran the check).
//!
//! | detector | fires when | likely meaning |
//! |---|---|---|
//! | [`detect_continuous_night_flow`] | every hour of the night window (00:00–05:00 Beijing time by default) has flow above a threshold, for several nights in a row | a leak, or an appliance left on |
//! | [`detect_consumption_spikes`] | a day's volume is more than `k ×` the household's norm for the season (the median of its earlier days in the same season), with a floor under the norm | a leak, a fault, a reading error |
//! | [`detect_frozen_register`] | the register does not move for a long period while the household normally consumes | a stuck or bypassed meter |
//! | [`detect_reversed_register`] | the register goes down without a declared rollover or replacement in between | tampering, or a meter swapped without notice |
//!
//! Volumes are [`Decimal`] m³ with at most three decimals, in and out; derived volumes (norms,
//! rates, expectations) are rounded half to even to three decimals ([`round_m3`]), ratios to two.
//! Times are milliseconds since the Unix epoch; calendar questions (which night, which season)
//! are answered in Beijing time (UTC+8, no daylight saving), where the customers are.
//! Thresholds live in [`AnomalyConfig`]; [`AnomalyConfig::default`] documents the defaults.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Beijing time is UTC+8 all year.
pub const BEIJING_OFFSET_MS: i64 = 8 * HOUR_MS;

/// Milliseconds in an hour.
pub const HOUR_MS: i64 = 3_600_000;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Decimals of a gas volume (m³).
pub const VOLUME_DECIMALS: u32 = 3;

/// Most intervals, days or readings one call accepts (over 11 years of hourly data).
pub const SERIES_LENGTH_MAX: usize = 100_000;

/// Largest volume or register accepted, m³: far above any meter, and small enough that no
/// product or sum below can overflow a `Decimal`.
pub const VOLUME_M3_MAX: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

/// Latest time accepted (3000-01-01T00:00Z); times are also not before the epoch. Keeps every
/// day and window computation far from `i64` overflow.
pub const UNIX_MS_MAX: i64 = 32_503_680_000_000;

/// Largest spike factor accepted.
pub const SPIKE_FACTOR_MAX: Decimal = Decimal::from_parts(1_000, 0, 0, false, 0);

/// Longest look-back or period any threshold may name, in days (ten years).
pub const CONFIG_DAYS_MAX: i64 = 3_650;

/// Thresholds of the detectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnomalyConfig {
    /// First hour of the night window, Beijing time (default 0).
    pub night_start_hour: u32,
    /// Hour the night window ends (exclusive), Beijing time (default 5).
    pub night_end_hour: u32,
    /// Smallest flow that counts as "flowing" in a night hour, m³/h (default 0.020: well above a
    /// meter's creep, well below any appliance; a hob burns about 0.3 m³/h).
    pub night_flow_min_m3_per_hour: Decimal,
    /// Nights in a row of continuous flow before it is reported (default 3).
    pub night_flow_nights_min: u32,
    /// A day above `spike_factor ×` the seasonal norm is a spike (default 3).
    pub spike_factor: Decimal,
    /// The norm is at least this, m³/day (default 0.500), so that a household that barely uses gas
    /// is not flagged for one ordinary cooking day.
    pub spike_norm_floor_m3_per_day: Decimal,
    /// Fewest earlier same-season days for a norm (default 14); with fewer, no spike is judged.
    pub spike_norm_days_min: usize,
    /// How far back the norm looks, days (default 730: this season and the same season last year).
    pub spike_norm_lookback_days: i64,
    /// Shortest unchanged-register period reported as frozen, hours (default 72).
    pub frozen_period_hours_min: i64,
    /// Smallest normal consumption, m³/day, for a still register to be suspicious (default 0.300);
    /// an empty flat's register is allowed to stand still.
    pub frozen_normal_daily_m3_min: Decimal,
    /// Days before a still period from which the normal consumption is measured (default 30).
    pub frozen_baseline_days: i64,
    /// Fewest days that baseline must span (default 7).
    pub frozen_baseline_days_min: i64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            night_start_hour: 0,
            night_end_hour: 5,
            night_flow_min_m3_per_hour: Decimal::new(20, 3),
            night_flow_nights_min: 3,
            spike_factor: Decimal::from(3),
            spike_norm_floor_m3_per_day: Decimal::new(500, 3),
            spike_norm_days_min: 14,
            spike_norm_lookback_days: 730,
            frozen_period_hours_min: 72,
            frozen_normal_daily_m3_min: Decimal::new(300, 3),
            frozen_baseline_days: 30,
            frozen_baseline_days_min: 7,
        }
    }
}

/// Gas that flowed through the meter over `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntervalVolume {
    /// Start of the interval.
    pub from_unix_ms: i64,
    /// End of the interval (exclusive), after `from_unix_ms`.
    pub to_unix_ms: i64,
    /// Volume, m³, non-negative, at most three decimals.
    pub volume_m3: Decimal,
}

/// A day's consumption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyVolume {
    /// Any time inside the Beijing day (normally its midnight); the day and season are read from it.
    pub day_unix_ms: i64,
    /// Volume, m³, non-negative, at most three decimals.
    pub volume_m3: Decimal,
}

/// A register reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterReading {
    /// When it was read.
    pub at_unix_ms: i64,
    /// Cumulative register, m³, non-negative, at most three decimals.
    pub register_m3: Decimal,
}

/// What kind of anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// Continuous night-time flow: a possible leak.
    ContinuousNightFlow,
    /// A day far above the seasonal norm.
    ConsumptionSpike,
    /// A register that stands still while the household normally consumes: possible tamper.
    FrozenRegister,
    /// A register that went down without a declared reset: possible tamper.
    ReversedRegister,
}

impl AnomalyKind {
    /// Stable code, for the event payload.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            AnomalyKind::ContinuousNightFlow => "continuous_night_flow",
            AnomalyKind::ConsumptionSpike => "consumption_spike",
            AnomalyKind::FrozenRegister => "frozen_register",
            AnomalyKind::ReversedRegister => "reversed_register",
        }
    }
}

/// The numbers behind an anomaly, so that staff can judge it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AnomalyEvidence {
    /// See [`AnomalyKind::ContinuousNightFlow`].
    ContinuousNightFlow {
        /// Nights in a row with flow in every hour.
        nights: u32,
        /// The lowest hourly flow seen in those nights, m³/h.
        lowest_flow_m3_per_hour: Decimal,
        /// Total volume of those night windows, m³.
        night_volume_m3: Decimal,
        /// The threshold applied, m³/h.
        threshold_m3_per_hour: Decimal,
    },
    /// See [`AnomalyKind::ConsumptionSpike`].
    ConsumptionSpike {
        /// The day's volume, m³.
        day_volume_m3: Decimal,
        /// Median of the earlier same-season days, m³.
        seasonal_norm_m3: Decimal,
        /// The norm used (at least the floor), m³.
        baseline_m3: Decimal,
        /// Earlier same-season days the norm was taken from.
        norm_days: u32,
        /// Day volume ÷ baseline, two decimals.
        ratio: Decimal,
    },
    /// See [`AnomalyKind::FrozenRegister`].
    FrozenRegister {
        /// The value the register stood at, m³.
        register_m3: Decimal,
        /// Readings that showed it.
        readings: u32,
        /// Normal consumption before, m³/day.
        baseline_daily_m3: Decimal,
        /// What the household would have used over the period at that rate, m³.
        expected_volume_m3: Decimal,
    },
    /// See [`AnomalyKind::ReversedRegister`].
    ReversedRegister {
        /// The earlier reading, m³.
        previous_register_m3: Decimal,
        /// The later, lower reading, m³.
        register_m3: Decimal,
        /// How far it went back, m³.
        drop_m3: Decimal,
    },
}

/// One detected anomaly about `subject` (a meter or customer id, opaque here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly<Subject> {
    /// Whom it is about, as the caller named it.
    pub subject: Subject,
    /// What kind.
    pub kind: AnomalyKind,
    /// Start of the period it covers.
    pub from_unix_ms: i64,
    /// End of the period it covers.
    pub to_unix_ms: i64,
    /// The numbers behind it.
    pub evidence: AnomalyEvidence,
}

/// Why a detector refused its input. Each variant has a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AnomalyError {
    /// More than [`SERIES_LENGTH_MAX`] items.
    #[error("more than {SERIES_LENGTH_MAX} items")]
    SeriesTooLong,
    /// Items not in strictly increasing time order, or intervals that overlap or are empty.
    #[error("item {index} is out of time order or empty")]
    OutOfOrder {
        /// Position of the item.
        index: usize,
    },
    /// A time before the epoch or after [`UNIX_MS_MAX`].
    #[error("item {index} has a time outside 1970..3000")]
    InvalidTime {
        /// Position of the item.
        index: usize,
    },
    /// A volume or register is negative or has more than three decimals.
    #[error("item {index} has a volume that is negative or has more than {VOLUME_DECIMALS} decimals")]
    InvalidVolume {
        /// Position of the item.
        index: usize,
    },
    /// A threshold is out of its sensible range.
    #[error("anomaly configuration is invalid: {field}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
    },
}

impl AnomalyError {
    /// Stable, machine-readable code of the rejection.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            AnomalyError::SeriesTooLong => "series_too_long",
            AnomalyError::OutOfOrder { .. } => "series_out_of_order",
            AnomalyError::InvalidTime { .. } => "invalid_time",
            AnomalyError::InvalidVolume { .. } => "invalid_volume",
            AnomalyError::InvalidConfig { .. } => "invalid_anomaly_config",
        }
    }
}

/// Rounds a derived volume half to even at three decimals, and shows three decimals.
#[must_use]
pub fn round_m3(volume_m3: Decimal) -> Decimal {
    let mut rounded = volume_m3.round_dp_with_strategy(VOLUME_DECIMALS, RoundingStrategy::MidpointNearestEven);
    rounded.rescale(VOLUME_DECIMALS);
    rounded
}

fn round_ratio(ratio: Decimal) -> Decimal {
    let mut rounded = ratio.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
    rounded.rescale(2);
    rounded
}

fn time_is_valid(unix_ms: i64) -> bool {
    (0..=UNIX_MS_MAX).contains(&unix_ms)
}

fn volume_is_valid(volume_m3: Decimal) -> bool {
    (volume_m3 >= Decimal::ZERO) && volume_m3 <= VOLUME_M3_MAX && volume_m3.normalize().scale() <= VOLUME_DECIMALS
}

/// The Beijing calendar day number (days since 1970-01-01 in Beijing) of a time.
fn beijing_day(unix_ms: i64) -> i64 {
    unix_ms.saturating_add(BEIJING_OFFSET_MS).div_euclid(DAY_MS)
}

/// The Beijing calendar month (1–12) of a time (Hinnant's `civil_from_days`).
fn beijing_month(unix_ms: i64) -> u32 {
    let days = beijing_day(unix_ms) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    (if month_index < 10 { month_index + 3 } else { month_index - 9 }) as u32
}

/// Meteorological season: 0 winter (Dec–Feb), 1 spring, 2 summer, 3 autumn.
fn season(unix_ms: i64) -> u32 {
    (beijing_month(unix_ms) % 12) / 3
}

fn check_length(length: usize) -> Result<(), AnomalyError> {
    if length > SERIES_LENGTH_MAX {
        Err(AnomalyError::SeriesTooLong)
    } else {
        Ok(())
    }
}

/// Reports runs of at least `night_flow_nights_min` consecutive nights in which every hour of
/// the night window had at least `night_flow_min_m3_per_hour`.
///
/// `intervals` are sorted, non-overlapping. A night counts only if intervals lying wholly inside
/// its window cover it end to end without a gap (hourly intervals aligned to the hour do); a
/// night with a missing interval breaks the run, because no flow can be claimed for it. Each
/// interval's flow is its volume over its own duration, so shorter intervals are fine.
pub fn detect_continuous_night_flow<Subject: Clone>(
    subject: &Subject,
    intervals: &[IntervalVolume],
    config: &AnomalyConfig,
) -> Result<Vec<Anomaly<Subject>>, AnomalyError> {
    if config.night_start_hour >= config.night_end_hour || config.night_end_hour > 24 {
        return Err(AnomalyError::InvalidConfig { field: "night_start_hour/night_end_hour" });
    }
    let threshold_valid =
        config.night_flow_min_m3_per_hour > Decimal::ZERO && config.night_flow_min_m3_per_hour <= VOLUME_M3_MAX;
    if config.night_flow_nights_min == 0 || !threshold_valid {
        return Err(AnomalyError::InvalidConfig { field: "night_flow" });
    }
    check_length(intervals.len())?;
    for (index, interval) in intervals.iter().enumerate() {
        let follows = index == 0 || intervals[index - 1].to_unix_ms <= interval.from_unix_ms;
        if !time_is_valid(interval.from_unix_ms) || !time_is_valid(interval.to_unix_ms) {
            return Err(AnomalyError::InvalidTime { index });
        }
        if interval.to_unix_ms <= interval.from_unix_ms || !follows {
            return Err(AnomalyError::OutOfOrder { index });
        }
        if !volume_is_valid(interval.volume_m3) {
            return Err(AnomalyError::InvalidVolume { index });
        }
    }
    let window_start_ms = i64::from(config.night_start_hour) * HOUR_MS;
    let window_end_ms = i64::from(config.night_end_hour) * HOUR_MS;
    let threshold = config.night_flow_min_m3_per_hour;
    let hour = Decimal::from(HOUR_MS);

    /// A night that flowed throughout: its day, lowest hourly flow, total volume.
    struct FlowingNight {
        day: i64,
        lowest_flow_m3_per_hour: Decimal,
        volume_m3: Decimal,
    }
    let mut flowing: Vec<FlowingNight> = Vec::new();
    let mut index = 0;
    while index < intervals.len() {
        let day = beijing_day(intervals[index].from_unix_ms);
        let night_start = day * DAY_MS - BEIJING_OFFSET_MS + window_start_ms;
        let night_end = day * DAY_MS - BEIJING_OFFSET_MS + window_end_ms;
        let mut covered_until = night_start;
        let mut all_flowing = true;
        let mut lowest: Option<Decimal> = None;
        let mut volume_m3 = Decimal::ZERO;
        while let Some(interval) = intervals.get(index).filter(|interval| beijing_day(interval.from_unix_ms) == day) {
            index += 1;
            let inside = interval.from_unix_ms >= night_start && interval.to_unix_ms <= night_end;
            if !inside {
                continue;
            }
            if interval.from_unix_ms != covered_until {
                all_flowing = false;
            }
            covered_until = interval.to_unix_ms;
            let duration = Decimal::from(interval.to_unix_ms.saturating_sub(interval.from_unix_ms));
            let flow = interval.volume_m3 * hour / duration;
            if flow < threshold {
                all_flowing = false;
            }
            lowest = Some(lowest.map_or(flow, |held: Decimal| held.min(flow)));
            volume_m3 += interval.volume_m3;
        }
        if all_flowing && covered_until == night_end {
            if let Some(lowest) = lowest {
                flowing.push(FlowingNight { day, lowest_flow_m3_per_hour: lowest, volume_m3 });
            }
        }
    }

    let mut anomalies = Vec::new();
    let mut run_start = 0;
    for end in 1..=flowing.len() {
        let run_continues = end < flowing.len() && flowing[end].day == flowing[end - 1].day + 1;
        if run_continues {
            continue;
        }
        let run = &flowing[run_start..end];
        if run.len() >= config.night_flow_nights_min as usize {
            if let (Some(first), Some(last)) = (run.first(), run.last()) {
                anomalies.push(Anomaly {
                    subject: subject.clone(),
                    kind: AnomalyKind::ContinuousNightFlow,
                    from_unix_ms: first.day * DAY_MS - BEIJING_OFFSET_MS + window_start_ms,
                    to_unix_ms: last.day * DAY_MS - BEIJING_OFFSET_MS + window_end_ms,
                    evidence: AnomalyEvidence::ContinuousNightFlow {
                        nights: u32::try_from(run.len()).unwrap_or(u32::MAX),
                        lowest_flow_m3_per_hour: round_m3(
                            run.iter().map(|night| night.lowest_flow_m3_per_hour).min().unwrap_or_default(),
                        ),
                        night_volume_m3: round_m3(run.iter().map(|night| night.volume_m3).sum()),
                        threshold_m3_per_hour: round_m3(threshold),
                    },
                });
            }
        }
        run_start = end;
    }
    Ok(anomalies)
}

/// Median of a non-empty, sorted slice; the mean of the two middle values for an even count.
fn median(sorted: &[Decimal]) -> Decimal {
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / Decimal::TWO
    }
}

/// Reports days whose volume is above `spike_factor × max(norm, floor)`, where the norm is the
/// median volume of the household's earlier days in the same meteorological season (Beijing
/// calendar) within `spike_norm_lookback_days`. Days with fewer than `spike_norm_days_min` such
/// days are not judged: a new household has no norm yet. Earlier spikes stay in later norms;
/// the median shrugs off a few.
pub fn detect_consumption_spikes<Subject: Clone>(
    subject: &Subject,
    days: &[DailyVolume],
    config: &AnomalyConfig,
) -> Result<Vec<Anomaly<Subject>>, AnomalyError> {
    let factor_valid = config.spike_factor > Decimal::ONE && config.spike_factor <= SPIKE_FACTOR_MAX;
    let floor_valid =
        config.spike_norm_floor_m3_per_day > Decimal::ZERO && config.spike_norm_floor_m3_per_day <= VOLUME_M3_MAX;
    if !factor_valid || !floor_valid {
        return Err(AnomalyError::InvalidConfig { field: "spike_factor/spike_norm_floor_m3_per_day" });
    }
    if config.spike_norm_days_min == 0 || !(1..=CONFIG_DAYS_MAX).contains(&config.spike_norm_lookback_days) {
        return Err(AnomalyError::InvalidConfig { field: "spike_norm_days_min/spike_norm_lookback_days" });
    }
    check_length(days.len())?;
    for (index, day) in days.iter().enumerate() {
        if !time_is_valid(day.day_unix_ms) {
            return Err(AnomalyError::InvalidTime { index });
        }
        if index > 0 && beijing_day(days[index - 1].day_unix_ms) >= beijing_day(day.day_unix_ms) {
            return Err(AnomalyError::OutOfOrder { index });
        }
        if !volume_is_valid(day.volume_m3) {
            return Err(AnomalyError::InvalidVolume { index });
        }
    }
    let mut anomalies = Vec::new();
    let mut same_season: Vec<Decimal> = Vec::new();
    for (index, day) in days.iter().enumerate() {
        let today = beijing_day(day.day_unix_ms);
        let today_season = season(day.day_unix_ms);
        same_season.clear();
        same_season.extend(
            days[..index]
                .iter()
                .filter(|earlier| {
                    today - beijing_day(earlier.day_unix_ms) <= config.spike_norm_lookback_days
                        && season(earlier.day_unix_ms) == today_season
                })
                .map(|earlier| earlier.volume_m3),
        );
        if same_season.len() < config.spike_norm_days_min {
            continue;
        }
        same_season.sort_unstable();
        let norm = median(&same_season);
        let baseline = norm.max(config.spike_norm_floor_m3_per_day);
        if day.volume_m3 > config.spike_factor * baseline {
            let day_start = today * DAY_MS - BEIJING_OFFSET_MS;
            anomalies.push(Anomaly {
                subject: subject.clone(),
                kind: AnomalyKind::ConsumptionSpike,
                from_unix_ms: day_start,
                to_unix_ms: day_start + DAY_MS,
                evidence: AnomalyEvidence::ConsumptionSpike {
                    day_volume_m3: round_m3(day.volume_m3),
                    seasonal_norm_m3: round_m3(norm),
                    baseline_m3: round_m3(baseline),
                    norm_days: u32::try_from(same_season.len()).unwrap_or(u32::MAX),
                    ratio: round_ratio(day.volume_m3 / baseline),
                },
            });
        }
    }
    Ok(anomalies)
}

fn check_readings(readings: &[RegisterReading]) -> Result<(), AnomalyError> {
    check_length(readings.len())?;
    for (index, reading) in readings.iter().enumerate() {
        if !time_is_valid(reading.at_unix_ms) {
            return Err(AnomalyError::InvalidTime { index });
        }
        if index > 0 && readings[index - 1].at_unix_ms >= reading.at_unix_ms {
            return Err(AnomalyError::OutOfOrder { index });
        }
        if !volume_is_valid(reading.register_m3) {
            return Err(AnomalyError::InvalidVolume { index });
        }
    }
    Ok(())
}

/// A declared reset (rollover or replacement) at a time in `(after, up_to]`.
fn reset_between(declared_resets_unix_ms: &[i64], after: i64, up_to: i64) -> bool {
    declared_resets_unix_ms.iter().any(|at| after < *at && *at <= up_to)
}

/// Reports every pair of consecutive readings where the register went down with no declared
/// rollover or replacement (`declared_resets_unix_ms`) after the earlier and at or before the
/// later reading.
pub fn detect_reversed_register<Subject: Clone>(
    subject: &Subject,
    readings: &[RegisterReading],
    declared_resets_unix_ms: &[i64],
) -> Result<Vec<Anomaly<Subject>>, AnomalyError> {
    check_readings(readings)?;
    Ok(readings
        .windows(2)
        .filter(|pair| {
            pair[1].register_m3 < pair[0].register_m3
                && !reset_between(declared_resets_unix_ms, pair[0].at_unix_ms, pair[1].at_unix_ms)
        })
        .map(|pair| Anomaly {
            subject: subject.clone(),
            kind: AnomalyKind::ReversedRegister,
            from_unix_ms: pair[0].at_unix_ms,
            to_unix_ms: pair[1].at_unix_ms,
            evidence: AnomalyEvidence::ReversedRegister {
                previous_register_m3: round_m3(pair[0].register_m3),
                register_m3: round_m3(pair[1].register_m3),
                drop_m3: round_m3(pair[0].register_m3 - pair[1].register_m3),
            },
        })
        .collect())
}

/// Reports each longest run of readings with an unchanged register that lasts at least
/// `frozen_period_hours_min`, when the household's normal consumption before the run was at
/// least `frozen_normal_daily_m3_min` a day.
///
/// Normal consumption is measured from the earliest reading within `frozen_baseline_days` before
/// the run to the run's first reading, both after the last declared reset, and needs at least
/// `frozen_baseline_days_min` days between them; otherwise the run is not judged (no baseline,
/// no claim).
pub fn detect_frozen_register<Subject: Clone>(
    subject: &Subject,
    readings: &[RegisterReading],
    declared_resets_unix_ms: &[i64],
    config: &AnomalyConfig,
) -> Result<Vec<Anomaly<Subject>>, AnomalyError> {
    let config_valid = (1..=CONFIG_DAYS_MAX * 24).contains(&config.frozen_period_hours_min)
        && config.frozen_normal_daily_m3_min > Decimal::ZERO
        && config.frozen_normal_daily_m3_min <= VOLUME_M3_MAX
        && config.frozen_baseline_days_min > 0
        && (config.frozen_baseline_days_min..=CONFIG_DAYS_MAX).contains(&config.frozen_baseline_days);
    if !config_valid {
        return Err(AnomalyError::InvalidConfig { field: "frozen" });
    }
    check_readings(readings)?;
    let mut anomalies = Vec::new();
    let mut start = 0;
    while start < readings.len() {
        let mut end = start;
        while readings.get(end + 1).is_some_and(|next| next.register_m3 == readings[start].register_m3) {
            end += 1;
        }
        let (first, last) = (readings[start], readings[end]);
        let still_ms = last.at_unix_ms.saturating_sub(first.at_unix_ms);
        if end > start && still_ms >= config.frozen_period_hours_min * HOUR_MS {
            let last_reset = declared_resets_unix_ms.iter().copied().filter(|at| *at <= first.at_unix_ms).max();
            let baseline_from = first.at_unix_ms.saturating_sub(config.frozen_baseline_days * DAY_MS);
            let earliest = readings[..start].iter().find(|reading| {
                reading.at_unix_ms >= baseline_from && last_reset.is_none_or(|reset| reading.at_unix_ms > reset)
            });
            if let Some(earliest) = earliest {
                let span_ms = first.at_unix_ms.saturating_sub(earliest.at_unix_ms);
                if span_ms >= config.frozen_baseline_days_min * DAY_MS && first.register_m3 >= earliest.register_m3 {
                    let baseline_daily =
                        (first.register_m3 - earliest.register_m3) * Decimal::from(DAY_MS) / Decimal::from(span_ms);
                    if baseline_daily >= config.frozen_normal_daily_m3_min {
                        anomalies.push(Anomaly {
                            subject: subject.clone(),
                            kind: AnomalyKind::FrozenRegister,
                            from_unix_ms: first.at_unix_ms,
                            to_unix_ms: last.at_unix_ms,
                            evidence: AnomalyEvidence::FrozenRegister {
                                register_m3: round_m3(first.register_m3),
                                readings: u32::try_from(end - start + 1).unwrap_or(u32::MAX),
                                baseline_daily_m3: round_m3(baseline_daily),
                                expected_volume_m3: round_m3(
                                    baseline_daily * Decimal::from(still_ms) / Decimal::from(DAY_MS),
                                ),
                            },
                        });
                    }
                }
            }
        }
        start = end + 1;
    }
    Ok(anomalies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_calendar() {
        // 2025-01-01T00:00+08:00 is 2024-12-31T16:00Z.
        let new_year = 1_735_660_800_000;
        assert_eq!(beijing_month(new_year), 1);
        assert_eq!(beijing_month(new_year - 1), 12);
        assert_eq!(season(new_year), 0);
        // 2025-03-01 (Beijing) is spring, 2025-06-01 summer, 2025-09-01 autumn, 2025-12-01 winter.
        let day = |days_after_new_year: i64| new_year + days_after_new_year * DAY_MS;
        assert_eq!((beijing_month(day(59)), season(day(59))), (3, 1));
        assert_eq!((beijing_month(day(151)), season(day(151))), (6, 2));
        assert_eq!((beijing_month(day(243)), season(day(243))), (9, 3));
        assert_eq!((beijing_month(day(334)), season(day(334))), (12, 0));
    }
}
