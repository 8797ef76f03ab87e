//! Property tests of the conversion between decimals and an asset's minor units (DESIGN.md, ledger
//! rule 1: each asset has a fixed scale; more decimals than it allows are rejected, never rounded).
//!
//! The expected answer is worked out from the decimal's printed digits, not from its mantissa and
//! scale, so the oracle shares no arithmetic with `Asset::minor_from_decimal`.
//!
//! Reproducing a failure: proptest stores the failing seed in
//! `proptests/proptest-regressions/ledger_amounts.txt` and replays it first on every later run of
//! `cargo test -p proptests --test ledger_amounts`. More cases: `PROPTEST_CASES=100000`.

// Tests may unwrap (STYLE 14); clippy only sees that inside `#[test]` functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ledger::{AmountError, Asset, POSTING_AMOUNT_MINOR_MAX};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// Decimals of each asset, as DESIGN.md fixes them.
fn expected_scale(asset: Asset) -> usize {
    match asset {
        Asset::Cny => 2,
        Asset::GasM3 => 3,
    }
}

/// What converting `value` to minor units of `asset` must give, read off its decimal digits.
fn expected_minor(asset: Asset, value: Decimal, allow_zero: bool) -> Result<u64, AmountError> {
    let text = value.to_string();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    assert!(
        whole.bytes().chain(fraction.bytes()).all(|byte| byte.is_ascii_digit()),
        "unexpected rendering of a decimal: {text}"
    );
    // Trailing zeros are not decimals: 1.50 and 1.5 are the same amount.
    let fraction = fraction.trim_end_matches('0');
    let is_zero = whole.bytes().all(|byte| byte == b'0') && fraction.is_empty();
    if negative && !is_zero {
        return Err(AmountError::Negative);
    }
    if is_zero {
        return if allow_zero { Ok(0) } else { Err(AmountError::Zero) };
    }
    let scale = expected_scale(asset);
    if fraction.len() > scale {
        return Err(AmountError::TooManyDecimals { asset, scale: fraction.len() as u32 });
    }
    // The minor units are the digits with the fraction padded to the asset's scale; at most 29
    // whole digits and 3 decimals, well inside u128.
    let padded = format!("{whole}{fraction:0<scale$}");
    let minor: u128 = padded.parse().unwrap();
    if minor > u128::from(POSTING_AMOUNT_MINOR_MAX) {
        return Err(AmountError::TooLarge);
    }
    Ok(u64::try_from(minor).unwrap())
}

fn asset() -> impl Strategy<Value = Asset> {
    prop::sample::select(Asset::ALL.to_vec())
}

/// Decimals from everywhere a caller might send them: everyday amounts, values around the
/// largest posting amount, values with trailing zeros, zeros, and anything a `Decimal` can hold.
fn decimal() -> impl Strategy<Value = Decimal> {
    let max = i128::from(POSTING_AMOUNT_MINOR_MAX);
    prop_oneof![
        4 => (-1_000_000_000i64..=1_000_000_000, 0u32..=6).prop_map(|(mantissa, scale)| Decimal::new(mantissa, scale)),
        // The largest amount of CNY (scale 2) or m³ (scale 3), written with 0 to 3 more decimals,
        // give or take a few units in the last place.
        2 => (2u32..=3, 0u32..=3, -3i128..=3).prop_map(move |(asset_scale, extra, delta)| {
            Decimal::from_i128_with_scale(max * 10i128.pow(extra) + delta, asset_scale + extra)
        }),
        1 => (1i64..=1_000_000, 0u32..=4, 0u32..=20).prop_map(|(mantissa, scale, zeros)| {
            Decimal::from_i128_with_scale(i128::from(mantissa) * 10i128.pow(zeros), scale + zeros)
        }),
        1 => (0u32..=28, any::<bool>()).prop_map(|(scale, negative)| {
            let zero = Decimal::from_i128_with_scale(0, scale);
            if negative { -zero } else { zero }
        }),
        2 => (any::<u32>(), any::<u32>(), any::<u32>(), any::<bool>(), 0u32..=28)
            .prop_map(|(lo, mid, hi, negative, scale)| Decimal::from_parts(lo, mid, hi, negative, scale)),
    ]
}

/// Cases per property unless `PROPTEST_CASES` says otherwise; the conversion is cheap.
const CASES_DEFAULT: u32 = 4096;

fn config() -> ProptestConfig {
    proptests::proptest_config!("ledger_amounts", CASES_DEFAULT)
}

proptest! {
    #![proptest_config(config())]

    /// Accepted exactly when positive, with at most the asset's decimals and at most the largest
    /// posting amount; otherwise rejected for the first of those reasons that applies.
    #[test]
    fn minor_from_decimal_accepts_exactly_the_valid_amounts(asset in asset(), value in decimal()) {
        prop_assert_eq!(asset.minor_from_decimal(value), expected_minor(asset, value, false), "{} {}", asset, value);
    }

    /// The same, with zero allowed (credit limits).
    #[test]
    fn minor_from_decimal_allow_zero_also_accepts_zero(asset in asset(), value in decimal()) {
        prop_assert_eq!(
            asset.minor_from_decimal_allow_zero(value),
            expected_minor(asset, value, true),
            "{} {}",
            asset,
            value
        );
    }

    /// Whatever is accepted renders back to the same number, at exactly the asset's scale.
    #[test]
    fn decimal_from_minor_inverts_minor_from_decimal(asset in asset(), value in decimal()) {
        if let Ok(minor) = asset.minor_from_decimal(value) {
            let rendered = asset.decimal_from_minor(i128::from(minor));
            prop_assert_eq!(rendered, value, "{} {} became {} minor units", asset, value, minor);
            prop_assert_eq!(rendered.scale() as usize, expected_scale(asset));
        }
    }

    /// Every valid number of minor units survives rendering and converting back.
    #[test]
    fn every_valid_minor_amount_round_trips(asset in asset(), minor in 1..=POSTING_AMOUNT_MINOR_MAX) {
        let rendered = asset.decimal_from_minor(i128::from(minor));
        prop_assert_eq!(asset.minor_from_decimal(rendered), Ok(minor), "{} {}", asset, rendered);
        prop_assert_eq!(asset.minor_from_decimal(-rendered), Err(AmountError::Negative));
    }
}
