//! The settlement day: a calendar day in Beijing time, cut at 00:00 (UTC+8, no daylight saving).
//!
//! A payment made at 23:59:59 Beijing time (15:59:59 UTC) belongs to that day; one made a second
//! later belongs to the next. The channels cut their daily bills the same way, which is what lets a
//! day's settlement be reconciled against a day's bill.
//!
//! The civil calendar arithmetic (proleptic Gregorian) is done here rather than with a date crate:
//! it is two short, well-known algorithms (Howard Hinnant's `days_from_civil` and `civil_from_days`),
//! and the tests walk every day of the supported range against a plain day-by-day counter.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Beijing time is UTC+8 all year round.
pub const BEIJING_UTC_OFFSET_SECONDS: i64 = 8 * 60 * 60;

/// Seconds in a business day. With no daylight saving and Unix time ignoring leap seconds, every
/// day is exactly this long.
pub const SECONDS_PER_DAY: i64 = 24 * 60 * 60;

/// First year with business days. Nothing was settled before Unix time began.
pub const BUSINESS_DAY_YEAR_MIN: u16 = 1970;

/// Last year with business days: the last year `YYYY-MM-DD` can write. The bound also catches a
/// time in milliseconds passed as seconds, which lands tens of thousands of years ahead.
pub const BUSINESS_DAY_YEAR_MAX: u16 = 9999;

/// Length of `YYYY-MM-DD`.
const BUSINESS_DAY_TEXT_BYTES: usize = 10;

/// Days from 0000-03-01 to 1970-01-01 in the proleptic Gregorian calendar: the shift between the
/// algorithms' March-based eras and the Unix epoch.
const DAYS_FROM_ERA_START_TO_UNIX_EPOCH: i64 = 719_468;

/// Days in a 400-year Gregorian era.
const DAYS_PER_ERA: i64 = 146_097;

/// A settlement day: a valid calendar date from [`BUSINESS_DAY_YEAR_MIN`] to
/// [`BUSINESS_DAY_YEAR_MAX`], read in Beijing time.
///
/// Ordering is chronological. Written and parsed as `YYYY-MM-DD`, also in serde.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BusinessDay {
    // Field order matters: the derived ordering compares year, then month, then day.
    year: u16,
    month: u8,
    day: u8,
}

impl BusinessDay {
    /// The business day `year-month-day`, if that date exists and the year is in range.
    pub fn new(year: u16, month: u8, day: u8) -> Result<BusinessDay, BusinessDayError> {
        if !(BUSINESS_DAY_YEAR_MIN..=BUSINESS_DAY_YEAR_MAX).contains(&year) {
            return Err(BusinessDayError::YearOutOfRange { year });
        }
        let month_has_day = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
        if !month_has_day {
            return Err(BusinessDayError::NotACalendarDate { year, month, day });
        }
        Ok(BusinessDay { year, month, day })
    }

    /// Parses `YYYY-MM-DD`: exactly ten characters, digits and two dashes, nothing around them.
    pub fn parse(text: &str) -> Result<BusinessDay, BusinessDayError> {
        let bytes = text.as_bytes();
        if bytes.len() != BUSINESS_DAY_TEXT_BYTES {
            return Err(BusinessDayError::Malformed);
        }
        let digits = |range: std::ops::Range<usize>| -> Result<u16, BusinessDayError> {
            bytes[range].iter().try_fold(0_u16, |number, &byte| {
                if byte.is_ascii_digit() {
                    Ok(number * 10 + u16::from(byte - b'0'))
                } else {
                    Err(BusinessDayError::Malformed)
                }
            })
        };
        if bytes[4] != b'-' || bytes[7] != b'-' {
            return Err(BusinessDayError::Malformed);
        }
        let year = digits(0..4)?;
        // Two digits are at most 99, so these conversions cannot fail.
        let month = u8::try_from(digits(5..7)?).map_err(|_| BusinessDayError::Malformed)?;
        let day = u8::try_from(digits(8..10)?).map_err(|_| BusinessDayError::Malformed)?;
        BusinessDay::new(year, month, day)
    }

    /// The year, from [`BUSINESS_DAY_YEAR_MIN`] to [`BUSINESS_DAY_YEAR_MAX`].
    #[must_use]
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month, 1 to 12.
    #[must_use]
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, from 1.
    #[must_use]
    pub fn day(self) -> u8 {
        self.day
    }

    /// Whether the instant `unix_seconds` falls within this business day.
    #[must_use]
    pub fn contains(self, unix_seconds: i64) -> bool {
        let (start, end) = day_bounds_utc(self);
        start <= unix_seconds && unix_seconds < end
    }

    /// Days from 1970-01-01 to this date (both read as civil dates, whatever the time zone).
    fn days_since_unix_epoch(self) -> i64 {
        days_from_civil(i64::from(self.year), i64::from(self.month), i64::from(self.day))
    }
}

impl fmt::Display for BusinessDay {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for BusinessDay {
    type Err = BusinessDayError;

    fn from_str(text: &str) -> Result<BusinessDay, BusinessDayError> {
        BusinessDay::parse(text)
    }
}

impl TryFrom<String> for BusinessDay {
    type Error = BusinessDayError;

    fn try_from(text: String) -> Result<BusinessDay, BusinessDayError> {
        BusinessDay::parse(&text)
    }
}

impl From<BusinessDay> for String {
    fn from(day: BusinessDay) -> String {
        day.to_string()
    }
}

/// The business day the instant `unix_seconds` belongs to.
///
/// Rejects (`timestamp_out_of_range`) instants whose Beijing date falls outside
/// [`BUSINESS_DAY_YEAR_MIN`]`..=`[`BUSINESS_DAY_YEAR_MAX`], rather than inventing a date for them.
pub fn business_day_of(unix_seconds: i64) -> Result<BusinessDay, BusinessDayError> {
    let out_of_range = BusinessDayError::TimestampOutOfRange { unix_seconds };
    let beijing_seconds = unix_seconds.checked_add(BEIJING_UTC_OFFSET_SECONDS).ok_or(out_of_range.clone())?;
    // Flooring division: an instant before the epoch still lands on the day it lies in.
    let days_since_unix_epoch = beijing_seconds.div_euclid(SECONDS_PER_DAY);
    let first_day = days_from_civil(i64::from(BUSINESS_DAY_YEAR_MIN), 1, 1);
    let last_day = days_from_civil(i64::from(BUSINESS_DAY_YEAR_MAX), 12, 31);
    if !(first_day..=last_day).contains(&days_since_unix_epoch) {
        return Err(out_of_range);
    }
    let (year, month, day) = civil_from_days(days_since_unix_epoch);
    // In range, the year fits u16, the month and day u8, and the date is valid; `new` checks again
    // rather than trusting that.
    let year = u16::try_from(year).map_err(|_| out_of_range.clone())?;
    let month = u8::try_from(month).map_err(|_| out_of_range.clone())?;
    let day = u8::try_from(day).map_err(|_| out_of_range.clone())?;
    BusinessDay::new(year, month, day).map_err(|_| out_of_range)
}

/// The instants of a business day in Unix seconds: from `start` (00:00:00 Beijing time, 16:00:00
/// UTC the day before) up to but not including `end`, [`SECONDS_PER_DAY`] later.
#[must_use]
pub fn day_bounds_utc(day: BusinessDay) -> (i64, i64) {
    // At most about 2.9 million days: far from overflowing.
    let start = day.days_since_unix_epoch() * SECONDS_PER_DAY - BEIJING_UTC_OFFSET_SECONDS;
    (start, start + SECONDS_PER_DAY)
}

fn is_leap_year(year: u16) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the civil date `year-month-day` (month 1–12).
///
/// Counts in eras of 400 years that start on 1 March, so that the leap day is the last day of its
/// year and month lengths follow the repeating 31-30-31-30-31 pattern `(153 × m + 2) / 5`.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400; // 0..=399
    let month_from_march = (month + 9) % 12; // March is 0, February is 11
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1; // 0..=365
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - DAYS_FROM_ERA_START_TO_UNIX_EPOCH
}

/// The civil date `(year, month, day)` that lies `days_since_unix_epoch` days after 1970-01-01.
/// The inverse of [`days_from_civil`].
fn civil_from_days(days_since_unix_epoch: i64) -> (i64, i64, i64) {
    let days = days_since_unix_epoch + DAYS_FROM_ERA_START_TO_UNIX_EPOCH;
    let era = days.div_euclid(DAYS_PER_ERA);
    let day_of_era = days - era * DAYS_PER_ERA; // 0..=146096
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A business day or an instant was refused. A business rejection, not a fault:
/// [`BusinessDayError::code`] is the stable machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusinessDayError {
    /// Code `malformed_business_day`.
    #[error("a business day is written YYYY-MM-DD")]
    Malformed,
    /// Code `invalid_business_day`.
    #[error("{year:04}-{month:02}-{day:02} is not a date")]
    NotACalendarDate {
        /// The year as given.
        year: u16,
        /// The month as given.
        month: u8,
        /// The day as given.
        day: u8,
    },
    /// Code `business_day_out_of_range`.
    #[error("year {year} is outside {BUSINESS_DAY_YEAR_MIN} to {BUSINESS_DAY_YEAR_MAX}")]
    YearOutOfRange {
        /// The year as given.
        year: u16,
    },
    /// Code `timestamp_out_of_range`.
    #[error(
        "unix time {unix_seconds} is not within a business day from \
         {BUSINESS_DAY_YEAR_MIN} to {BUSINESS_DAY_YEAR_MAX}"
    )]
    TimestampOutOfRange {
        /// The instant as given.
        unix_seconds: i64,
    },
}

impl BusinessDayError {
    /// The stable machine-readable code of the rejection.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            BusinessDayError::Malformed => "malformed_business_day",
            BusinessDayError::NotACalendarDate { .. } => "invalid_business_day",
            BusinessDayError::YearOutOfRange { .. } => "business_day_out_of_range",
            BusinessDayError::TimestampOutOfRange { .. } => "timestamp_out_of_range",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> BusinessDay {
        BusinessDay::parse(text).expect("test days are valid")
    }

    #[test]
    fn business_day_of_table() {
        fn check(unix_seconds: i64, expected: Result<&str, &str>) {
            let actual = business_day_of(unix_seconds).map(|day| day.to_string()).map_err(|error| error.code());
            let expected = expected.map(str::to_string);
            assert_eq!(actual, expected, "unix time {unix_seconds}");
        }
        // Around midnight in Beijing: 2023-12-31T15:59:59Z is 23:59:59 on the 31st in Beijing,
        // a second later it is 00:00:00 on 1 January, and the year has turned.
        check(1_704_038_399, Ok("2023-12-31"));
        check(1_704_038_400, Ok("2024-01-01"));
        // Midnight UTC is 08:00 in Beijing, the middle of a business day.
        check(1_704_067_200, Ok("2024-01-01"));
        check(1_704_124_799, Ok("2024-01-01")); // 2024-01-01T15:59:59Z
        check(1_704_124_800, Ok("2024-01-02"));
        // Leap days: 2024-02-28T16:00:00Z opens 29 February, a day later 1 March.
        check(1_709_135_999, Ok("2024-02-28"));
        check(1_709_136_000, Ok("2024-02-29"));
        check(1_709_222_399, Ok("2024-02-29"));
        check(1_709_222_400, Ok("2024-03-01"));
        check(951_753_600, Ok("2000-02-29")); // divisible by 400: a leap year
        check(4_107_513_600, Ok("2100-03-01")); // divisible by 100 only: no leap day
        check(1_751_299_200, Ok("2025-07-01"));
        // The ends of the range: 1970-01-01 in Beijing began at -28800, before the Unix epoch.
        check(-28_800, Ok("1970-01-01"));
        check(0, Ok("1970-01-01"));
        check(-28_801, Err("timestamp_out_of_range"));
        check(253_402_271_999, Ok("9999-12-31")); // 9999-12-31T15:59:59Z
        check(253_402_272_000, Err("timestamp_out_of_range"));
        // Milliseconds passed as seconds land some 54 000 years ahead.
        check(1_704_038_400_000, Err("timestamp_out_of_range"));
        check(i64::MAX, Err("timestamp_out_of_range"));
        check(i64::MIN, Err("timestamp_out_of_range"));
    }

    #[test]
    fn day_bounds_table() {
        fn check(day_text: &str, expected_start: i64) {
            let bounds = day_bounds_utc(day(day_text));
            assert_eq!(bounds, (expected_start, expected_start + SECONDS_PER_DAY), "{day_text}");
            assert_eq!(business_day_of(bounds.0).map(|day| day.to_string()), Ok(day_text.to_string()));
            assert_eq!(business_day_of(bounds.1 - 1).map(|day| day.to_string()), Ok(day_text.to_string()));
            assert_ne!(business_day_of(bounds.1).map(|day| day.to_string()), Ok(day_text.to_string()));
            assert_ne!(business_day_of(bounds.0 - 1).map(|day| day.to_string()), Ok(day_text.to_string()));
        }
        check("1970-01-01", -28_800);
        check("2024-01-01", 1_704_038_400);
        check("2024-02-29", 1_709_136_000);
        check("2024-03-01", 1_709_222_400);
        check("2000-02-29", 951_753_600);
        check("2025-07-01", 1_751_299_200);
        check("9999-12-31", 253_402_185_600);
    }

    #[test]
    fn contains_follows_the_bounds() {
        let new_year = day("2024-01-01");
        assert!(!new_year.contains(1_704_038_399));
        assert!(new_year.contains(1_704_038_400));
        assert!(new_year.contains(1_704_124_799));
        assert!(!new_year.contains(1_704_124_800));
    }

    #[test]
    fn parse_table() {
        fn check(text: &str, expected: Result<(u16, u8, u8), &str>) {
            let actual =
                BusinessDay::parse(text).map(|day| (day.year(), day.month(), day.day())).map_err(|error| error.code());
            assert_eq!(actual, expected, "{text:?}");
            if let Ok(parsed) = BusinessDay::parse(text) {
                assert_eq!(parsed.to_string(), text, "written back the same");
            }
        }
        check("2024-01-01", Ok((2024, 1, 1)));
        check("2023-12-31", Ok((2023, 12, 31)));
        check("2024-02-29", Ok((2024, 2, 29)));
        check("2000-02-29", Ok((2000, 2, 29)));
        check("1970-01-01", Ok((1970, 1, 1)));
        check("9999-12-31", Ok((9999, 12, 31)));
        check("2024-04-30", Ok((2024, 4, 30)));
        check("2023-02-29", Err("invalid_business_day"));
        check("2100-02-29", Err("invalid_business_day"));
        check("2024-02-30", Err("invalid_business_day"));
        check("2024-04-31", Err("invalid_business_day"));
        check("2024-13-01", Err("invalid_business_day"));
        check("2024-00-10", Err("invalid_business_day"));
        check("2024-01-00", Err("invalid_business_day"));
        check("2024-01-32", Err("invalid_business_day"));
        check("1969-12-31", Err("business_day_out_of_range"));
        check("0000-01-01", Err("business_day_out_of_range"));
        check("2024-1-01", Err("malformed_business_day"));
        check("2024-01-1", Err("malformed_business_day"));
        check("20240101", Err("malformed_business_day"));
        check("2024/01/01", Err("malformed_business_day"));
        check(" 2024-01-01", Err("malformed_business_day"));
        check("2024-01-01 ", Err("malformed_business_day"));
        check("+202-01-01", Err("malformed_business_day"));
        check("2024-0a-01", Err("malformed_business_day"));
        check("２０２４-01-01", Err("malformed_business_day")); // full-width digits
        check("2024-01-01T00:00:00+08:00", Err("malformed_business_day"));
        check("", Err("malformed_business_day"));
    }

    #[test]
    fn new_and_conversions() {
        assert_eq!(BusinessDay::new(2024, 2, 29), Ok(day("2024-02-29")));
        assert_eq!(BusinessDay::new(10_000, 1, 1).map_err(|error| error.code()), Err("business_day_out_of_range"));
        assert_eq!("2024-02-29".parse::<BusinessDay>(), Ok(day("2024-02-29")));
        assert_eq!(BusinessDay::try_from("2024-02-29".to_string()), Ok(day("2024-02-29")));
        assert_eq!(String::from(day("2024-02-29")), "2024-02-29");
        assert!(day("2023-12-31") < day("2024-01-01"));
        assert!(day("2024-01-31") < day("2024-02-01"));
    }

    #[test]
    fn deserializes_through_validation() {
        use serde::de::{value::Error as DeError, IntoDeserializer};
        let parsed: Result<BusinessDay, DeError> = BusinessDay::deserialize("2024-02-29".into_deserializer());
        assert_eq!(parsed.ok(), Some(day("2024-02-29")));
        let refused: Result<BusinessDay, DeError> = BusinessDay::deserialize("2023-02-29".into_deserializer());
        let message = refused.err().map(|error| error.to_string()).unwrap_or_default();
        assert_eq!(message, "2023-02-29 is not a date");
    }

    #[test]
    fn messages() {
        fn check(error: BusinessDayError, expected: &str) {
            assert_eq!(error.to_string(), expected);
        }
        check(BusinessDayError::Malformed, "a business day is written YYYY-MM-DD");
        check(BusinessDayError::YearOutOfRange { year: 1969 }, "year 1969 is outside 1970 to 9999");
        check(
            BusinessDayError::TimestampOutOfRange { unix_seconds: -28_801 },
            "unix time -28801 is not within a business day from 1970 to 9999",
        );
    }

    /// Walks every day of the supported range with a plain day-by-day calendar counter, checking
    /// both conversions against it and the bounds of each day against the next.
    #[test]
    fn every_supported_day_against_a_day_counter() {
        let (mut year, mut month, mut day_of_month) = (1970_u16, 1_u8, 1_u8);
        let mut days_since_unix_epoch = 0_i64;
        loop {
            let expected = (i64::from(year), i64::from(month), i64::from(day_of_month));
            assert_eq!(civil_from_days(days_since_unix_epoch), expected);
            assert_eq!(days_from_civil(expected.0, expected.1, expected.2), days_since_unix_epoch);
            if (year, month, day_of_month) == (BUSINESS_DAY_YEAR_MAX, 12, 31) {
                break;
            }
            days_since_unix_epoch += 1;
            day_of_month += 1;
            if day_of_month > days_in_month(year, month) {
                day_of_month = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
        }
        assert_eq!(days_since_unix_epoch, 2_932_896);
    }

    #[test]
    fn civil_arithmetic_before_the_epoch() {
        // Not reachable through the public API, but the algorithms are general; keep them honest.
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(days_from_civil(1900, 3, 1), -25_508);
        assert_eq!(civil_from_days(-25_509), (1900, 2, 28));
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
    }
}
