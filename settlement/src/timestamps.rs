//! Reading times written as text: RFC 3339 (the API's and the rule table's) and the Beijing wall-clock
//! times of the channels' bills (`2024-01-01 09:30:00`, no zone: always UTC+8).
//!
//! Only parsing lives here; every other function in the crate takes Unix seconds. `chrono` does
//! the reading, so the calendar rules are the well-tested ones.

use chrono::{DateTime, NaiveDateTime, SecondsFormat};

use crate::business_day::BEIJING_UTC_OFFSET_SECONDS;

/// Unix seconds of an RFC 3339 time (`2024-01-01T00:00:00Z`, `2024-01-01T08:00:00+08:00`), or `None`.
/// Fractions of a second are dropped (towards the past): bills and the ledger count whole seconds.
#[must_use]
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text.trim()).ok().map(|time| time.timestamp())
}

/// Unix seconds of a Beijing wall-clock time written `YYYY-MM-DD HH:MM:SS`, or `None`.
#[must_use]
pub fn parse_beijing_wall_clock(text: &str) -> Option<i64> {
    let local = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    local.and_utc().timestamp().checked_sub(BEIJING_UTC_OFFSET_SECONDS)
}

/// RFC 3339 in UTC (`2024-01-01T00:00:00Z`), or the bare number if the instant has no date.
#[must_use]
pub fn format_rfc3339(unix_seconds: i64) -> String {
    DateTime::from_timestamp(unix_seconds, 0)
        .map_or_else(|| unix_seconds.to_string(), |time| time.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// Serde for Unix seconds written as RFC 3339 text, for data files people read and edit.
pub(crate) mod rfc3339_seconds {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(unix_seconds: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_rfc3339(*unix_seconds))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_rfc3339(&text).ok_or_else(|| D::Error::custom(format!("not an RFC 3339 time: {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("2024-01-01T00:00:00Z"), Some(1_704_067_200));
        assert_eq!(parse_rfc3339("2024-01-01T08:00:00+08:00"), Some(1_704_067_200));
        assert_eq!(parse_rfc3339("2024-01-01T00:00:00.900Z"), Some(1_704_067_200));
        assert_eq!(parse_rfc3339("2024-01-01 00:00:00"), None);
        assert_eq!(parse_rfc3339("2024-02-30T00:00:00Z"), None);
        assert_eq!(format_rfc3339(1_704_067_200), "2024-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(i64::MAX), i64::MAX.to_string());
    }

    #[test]
    fn beijing_wall_clock_is_utc_plus_eight() {
        assert_eq!(parse_beijing_wall_clock("2024-01-01 08:00:00"), Some(1_704_067_200));
        assert_eq!(parse_beijing_wall_clock("2024-01-01 00:00:00"), Some(1_704_067_200 - 8 * 3600));
        assert_eq!(parse_beijing_wall_clock("2024-01-01T08:00:00"), None);
        assert_eq!(parse_beijing_wall_clock("2024-13-01 08:00:00"), None);
    }
}
