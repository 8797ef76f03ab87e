//! Times at the edge: RFC 3339 UTC in the API, microseconds since the epoch inside.

use chrono::{DateTime, SecondsFormat, Utc};
use ledger::Timestamp;

/// `2026-03-01T03:00:00Z` (fractional seconds only when there are any).
pub fn format_rfc3339(at: Timestamp) -> String {
    match DateTime::<Utc>::from_timestamp_micros(at.0) {
        Some(time) => time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => String::from("invalid-time"),
    }
}

/// Parses an RFC 3339 time with an offset (any offset; stored as UTC).
pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    let parsed = DateTime::parse_from_rfc3339(text).ok()?;
    Some(Timestamp(parsed.with_timezone(&Utc).timestamp_micros()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let at = parse_rfc3339("2026-03-01T03:00:00Z").unwrap();
        assert_eq!(format_rfc3339(at), "2026-03-01T03:00:00Z");
        assert_eq!(parse_rfc3339("2026-03-01T11:00:00+08:00"), Some(at));
        assert_eq!(format_rfc3339(at.plus_micros(1500)), "2026-03-01T03:00:00.001500Z");
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2026-02-30T00:00:00Z"), None);
    }
}
