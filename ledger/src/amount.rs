//! Assets and amounts.
//!
//! Every asset has a fixed scale (number of decimals). At the boundary amounts are
//! `rust_decimal::Decimal`; inside the ledger they are integer minor units (`u64`), which is what
//! the journal stores. Conversion never rounds: a decimal with more digits than the asset's scale is
//! rejected. Trailing zeros are not "more digits": `1.50` and `1.5` are the same CNY amount.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Largest amount of a single posting, in minor units (10^15 fen = 10 trillion CNY). Far above any
/// real gas payment, far below `u64::MAX`, so per-account totals of many postings stay exact.
pub const POSTING_AMOUNT_MINOR_MAX: u64 = 1_000_000_000_000_000;

/// A unit of account the ledger keeps balances in. Entries balance per asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Asset {
    /// Chinese yuan, scale 2 (fen).
    Cny,
    /// Gas volume in cubic metres, scale 3 (litres).
    GasM3,
}

impl Asset {
    /// Every asset, in a fixed order (used for per-asset totals).
    pub const ALL: [Asset; 2] = [Asset::Cny, Asset::GasM3];

    /// Number of decimals of this asset.
    pub const fn scale(self) -> u32 {
        match self {
            Asset::Cny => 2,
            Asset::GasM3 => 3,
        }
    }

    /// The asset's code as shown to people and in the API.
    pub const fn code(self) -> &'static str {
        match self {
            Asset::Cny => "CNY",
            Asset::GasM3 => "M3",
        }
    }

    /// Position in [`Asset::ALL`], for arrays indexed by asset.
    pub const fn ordinal(self) -> usize {
        match self {
            Asset::Cny => 0,
            Asset::GasM3 => 1,
        }
    }

    /// Parses the asset code used in the API (`CNY`, `M3`).
    pub fn from_code(code: &str) -> Option<Asset> {
        Asset::ALL.into_iter().find(|asset| asset.code() == code)
    }

    /// Converts a strictly positive decimal into minor units of this asset.
    pub fn minor_from_decimal(self, value: Decimal) -> Result<u64, AmountError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(AmountError::Negative);
        }
        if value.is_zero() {
            return Err(AmountError::Zero);
        }
        self.minor_from_decimal_allow_zero(value)
    }

    /// Converts a non-negative decimal (zero allowed, e.g. a credit limit) into minor units.
    pub fn minor_from_decimal_allow_zero(self, value: Decimal) -> Result<u64, AmountError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(AmountError::Negative);
        }
        let normalized = value.normalize();
        if normalized.scale() > self.scale() {
            return Err(AmountError::TooManyDecimals { asset: self, scale: normalized.scale() });
        }
        // mantissa × 10^(asset scale − value scale) is exact because the value's scale is smaller.
        let factor = 10i128.pow(self.scale() - normalized.scale());
        let minor = normalized.mantissa().checked_mul(factor).ok_or(AmountError::TooLarge)?;
        let minor = u64::try_from(minor).map_err(|_| AmountError::TooLarge)?;
        if minor > POSTING_AMOUNT_MINOR_MAX {
            return Err(AmountError::TooLarge);
        }
        Ok(minor)
    }

    /// Renders signed minor units as a decimal with exactly this asset's scale.
    pub fn decimal_from_minor(self, minor: i128) -> Decimal {
        // |minor| is bounded by per-account totals of u64 values, far inside Decimal's 96-bit range.
        Decimal::from_i128_with_scale(minor, self.scale())
    }
}

impl fmt::Display for Asset {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.code())
    }
}

/// Why a decimal is not a valid amount of an asset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount must be greater than zero")]
    Zero,
    #[error("amount must not be negative")]
    Negative,
    #[error("{asset} allows at most {} decimals, got {scale}", asset.scale())]
    TooManyDecimals { asset: Asset, scale: u32 },
    #[error("amount exceeds the largest posting amount")]
    TooLarge,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn check(asset: Asset, value: Decimal, expected: Result<u64, AmountError>) {
        assert_eq!(asset.minor_from_decimal(value), expected, "{asset} {value}");
    }

    #[test]
    fn conversion_table() {
        check(Asset::Cny, dec!(12.50), Ok(1250));
        check(Asset::Cny, dec!(12.5), Ok(1250));
        check(Asset::Cny, dec!(12.500), Ok(1250));
        check(Asset::Cny, dec!(0.01), Ok(1));
        check(Asset::Cny, dec!(7), Ok(700));
        check(Asset::Cny, dec!(0), Err(AmountError::Zero));
        check(Asset::Cny, dec!(-1.00), Err(AmountError::Negative));
        check(Asset::Cny, dec!(0.001), Err(AmountError::TooManyDecimals { asset: Asset::Cny, scale: 3 }));
        check(Asset::GasM3, dec!(370.000), Ok(370_000));
        check(Asset::GasM3, dec!(0.001), Ok(1));
        check(Asset::GasM3, dec!(0.0001), Err(AmountError::TooManyDecimals { asset: Asset::GasM3, scale: 4 }));
        check(Asset::Cny, dec!(10000000000000.00), Ok(POSTING_AMOUNT_MINOR_MAX));
        check(Asset::Cny, dec!(10000000000000.01), Err(AmountError::TooLarge));
        check(Asset::Cny, Decimal::MAX, Err(AmountError::TooLarge));
    }

    #[test]
    fn zero_is_allowed_only_where_asked() {
        assert_eq!(Asset::Cny.minor_from_decimal_allow_zero(dec!(0)), Ok(0));
        assert_eq!(Asset::Cny.minor_from_decimal_allow_zero(dec!(-0.01)), Err(AmountError::Negative));
    }

    #[test]
    fn rendering_keeps_the_scale() {
        assert_eq!(Asset::Cny.decimal_from_minor(1250).to_string(), "12.50");
        assert_eq!(Asset::Cny.decimal_from_minor(-5).to_string(), "-0.05");
        assert_eq!(Asset::GasM3.decimal_from_minor(370_000).to_string(), "370.000");
    }

    #[test]
    fn codes_round_trip() {
        for asset in Asset::ALL {
            assert_eq!(Asset::from_code(asset.code()), Some(asset));
        }
        assert_eq!(Asset::from_code("USD"), None);
    }
}
