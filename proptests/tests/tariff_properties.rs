//! Properties of tiered gas pricing (`wallet_api::metering::tariff`).
//!
//! Replay a failure with the seed proptest prints (it also stores it under
//! `proptest-regressions/`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::NaiveDate;
use ledger::Timestamp;
use proptest::prelude::*;
use rust_decimal::Decimal;
use wallet_api::metering::tariff::{beijing_midnight, price_interval, Tariff};

/// One fen per line: each line is rounded once (half-up), so a split can move the total by at
/// most half a fen per line on each side.
fn rounding_allowance(lines: usize) -> Decimal {
    Decimal::new(5, 3) * Decimal::from(lines)
}

fn litres() -> impl Strategy<Value = Decimal> {
    (0i64..2_000_000).prop_map(|litres| Decimal::new(litres, 3))
}

fn start() -> Timestamp {
    beijing_midnight(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()).unwrap()
}

fn price(volume: Decimal, annual_before: Decimal, household: u8) -> wallet_api::metering::tariff::PricedInterval {
    let tariff = Tariff::beijing_residential();
    price_interval(&tariff, household, start(), start().plus_micros(3_600_000_000), volume, annual_before).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Splitting an interval's volume anywhere (two readings instead of one) changes the total
    /// only by the rounding of the extra lines.
    #[test]
    fn splitting_never_changes_the_total_beyond_rounding(annual in litres(), volume in litres(), cut in 0u32..=1000, household in 1u8..9) {
        let first = (volume * Decimal::new(i64::from(cut), 3)).round_dp(3);
        let whole = price(volume, annual, household);
        let left = price(first, annual, household);
        let right = price(volume - first, annual + first, household);
        let lines = whole.lines.len() + left.lines.len() + right.lines.len();
        let difference = (whole.total - (left.total + right.total)).abs();
        prop_assert!(difference <= rounding_allowance(lines), "whole {} vs {} + {}", whole.total, left.total, right.total);
        // Volumes are never lost or made up by the split.
        let volume_of = |priced: &wallet_api::metering::tariff::PricedInterval| priced.lines.iter().map(|line| line.volume_m3).sum::<Decimal>();
        prop_assert_eq!(volume_of(&whole), volume);
        prop_assert_eq!(volume_of(&left) + volume_of(&right), volume);
    }

    /// More gas never costs less.
    #[test]
    fn charge_is_monotonic_in_volume(annual in litres(), volume in litres(), more in litres(), household in 1u8..9) {
        prop_assert!(price(volume, annual, household).total <= price(volume + more, annual, household).total);
    }

    /// Each tier's price applies exactly up to its boundary: the volume inside each tier equals
    /// the overlap of [annual, annual + volume) with that tier's range.
    #[test]
    fn tier_boundaries_are_exact(annual in litres(), volume in litres(), household in 1u8..9) {
        let extra = if household >= 6 { Decimal::new(150, 0) } else { Decimal::ZERO };
        let bounds = [Decimal::ZERO, Decimal::new(350, 0) + extra, Decimal::new(500, 0) + extra, Decimal::MAX];
        let priced = price(volume, annual, household);
        for tier in 0..3 {
            let inside: Decimal = priced.lines.iter().filter(|line| line.tier == tier).map(|line| line.volume_m3).sum();
            let low = annual.max(bounds[tier]);
            let high = (annual + volume).min(bounds[tier + 1]);
            let expected = if high > low { high - low } else { Decimal::ZERO };
            prop_assert_eq!(inside, expected, "tier {}", tier);
        }
        prop_assert_eq!(priced.annual_volume_after_m3, annual + volume);
    }

    /// Pricing is a pure function: the same input always gives the same output.
    #[test]
    fn pricing_is_deterministic(annual in litres(), volume in litres(), household in 1u8..9) {
        prop_assert_eq!(price(volume, annual, household), price(volume, annual, household));
    }
}
