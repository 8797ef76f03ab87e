//! The valve state machine and friendly-credit hours (pure).
//!
//! open → closed(reason) when a customer runs into arrears outside friendly-credit hours;
//! closed → armed when a top-up clears the arrears (for safety the gas only flows again once the
//! customer presses the button at the meter); armed → open when the meter reports consumption.
//! Inside friendly-credit hours (evenings, nights, weekends, Beijing time) a close is deferred to
//! the end of the window and only a warning is emitted.

use chrono::{Datelike, Timelike, Weekday};
use ledger::Timestamp;
use serde::{Deserialize, Serialize};

/// Friendly-credit evenings start at this Beijing hour…
pub const FRIENDLY_EVENING_START_HOUR: u32 = 18;
/// …and end at this Beijing hour the next morning.
pub const FRIENDLY_MORNING_END_HOUR: u32 = 8;

/// Where a customer's valve stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ValveState {
    #[default]
    Open,
    Closed,
    Armed,
}

impl ValveState {
    pub const fn as_str(self) -> &'static str {
        match self {
            ValveState::Open => "open",
            ValveState::Closed => "closed",
            ValveState::Armed => "armed",
        }
    }
}

/// What to do about the valve after a charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValveDecision {
    Nothing,
    Close,
    /// In friendly-credit hours: warn now, close at `until` if still in arrears.
    DeferClose {
        until: Timestamp,
    },
}

/// Friendly-credit hours: weekends all day, weekday evenings from 18:00 to 08:00 (Beijing).
/// Returns when the window ends, if `at` is inside one.
pub fn friendly_credit_window_end(at: Timestamp) -> Option<Timestamp> {
    let local = chrono::DateTime::from_timestamp_micros(at.0)?.with_timezone(&super::tariff::beijing_offset());
    let date = local.date_naive();
    let hour = local.hour();
    let is_weekend = |day: chrono::NaiveDate| matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
    // The window's end is the first weekday morning at 08:00 after `at` (skipping weekends).
    let next_weekday_morning = |mut day: chrono::NaiveDate| {
        while is_weekend(day) {
            day = day.succ_opt()?;
        }
        super::tariff::beijing_midnight(day)
            .map(|midnight| midnight.plus_micros(i64::from(FRIENDLY_MORNING_END_HOUR) * 3_600_000_000))
    };
    if is_weekend(date) {
        return next_weekday_morning(date);
    }
    if hour < FRIENDLY_MORNING_END_HOUR {
        return next_weekday_morning(date);
    }
    if hour >= FRIENDLY_EVENING_START_HOUR {
        return next_weekday_morning(date.succ_opt()?);
    }
    None
}

/// Decides what a charge that left `arrears_after` (in fen) does to a valve in `state` at `at`.
pub fn after_charge(state: ValveState, arrears_after_fen: i128, at: Timestamp) -> ValveDecision {
    if state != ValveState::Open || arrears_after_fen <= 0 {
        return ValveDecision::Nothing;
    }
    match friendly_credit_window_end(at) {
        Some(until) => ValveDecision::DeferClose { until },
        None => ValveDecision::Close,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        crate::time::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn friendly_hours_are_evenings_nights_and_weekends_in_beijing() {
        // 2026-03-02 is a Monday.
        let check = |time: &str, expected: Option<&str>| {
            assert_eq!(friendly_credit_window_end(at(time)), expected.map(at), "{time}");
        };
        check("2026-03-02T10:00:00+08:00", None);
        check("2026-03-02T17:59:59+08:00", None);
        check("2026-03-02T18:00:00+08:00", Some("2026-03-03T08:00:00+08:00"));
        check("2026-03-03T07:59:59+08:00", Some("2026-03-03T08:00:00+08:00"));
        check("2026-03-06T20:00:00+08:00", Some("2026-03-09T08:00:00+08:00"));
        check("2026-03-07T12:00:00+08:00", Some("2026-03-09T08:00:00+08:00"));
        check("2026-03-09T08:00:00+08:00", None);
    }

    #[test]
    fn only_an_open_valve_in_arrears_closes() {
        let weekday_noon = at("2026-03-02T12:00:00+08:00");
        assert_eq!(after_charge(ValveState::Open, 1, weekday_noon), ValveDecision::Close);
        assert_eq!(after_charge(ValveState::Open, 0, weekday_noon), ValveDecision::Nothing);
        assert_eq!(after_charge(ValveState::Closed, 100, weekday_noon), ValveDecision::Nothing);
        assert_eq!(
            after_charge(ValveState::Open, 1, at("2026-03-02T22:00:00+08:00")),
            ValveDecision::DeferClose { until: at("2026-03-03T08:00:00+08:00") }
        );
    }
}
