//! Tiered gas tariffs and the pure pricing function.
//!
//! Residential gas in Chinese cities is priced by **annual volume tiers** per household: each
//! tier's price applies only to the volume inside it, counted over a *tier year* that restarts on a
//! configurable date. Tariffs are versioned with effective dates and are data, not code.
//!
//! [`price_interval`] turns the consumption between two readings into tier-split lines. Two named
//! rounding rules apply, each once:
//! - [`split_volume_by_time`]: when an interval crosses a tier-year start or a price change, its
//!   volume is shared out by time, each share rounded half-up to the litre (0.001 m³) and the last
//!   share taking the remainder, so the shares sum to the measured volume exactly;
//! - [`line_amount`]: each line's amount is volume × unit price rounded half-up to the fen.
//!
//! All times are Beijing time (UTC+8, no daylight saving) for dates; instants are UTC microseconds.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone};
use ledger::Timestamp;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// Beijing is UTC+8 all year.
pub const BEIJING_OFFSET_SECONDS: i32 = 8 * 3600;
/// Most tiers a tariff version may have.
pub const TIERS_PER_VERSION_MAX: usize = 8;
/// Most versions a tariff may have.
pub const VERSIONS_PER_TARIFF_MAX: usize = 64;
/// Decimals of a gas volume (litres).
pub const VOLUME_SCALE: u32 = 3;
/// Decimals of a unit price (CNY per m³), e.g. 2.6100.
pub const PRICE_SCALE_MAX: u32 = 4;
/// Highest unit price (CNY per m³): far above any real gas price, low enough that volume × price
/// can never overflow `Decimal`.
pub const PRICE_CNY_PER_M3_MAX: Decimal = Decimal::from_parts(1000, 0, 0, false, 0);
/// Largest tier boundary or household uplift (m³), for the same reason.
pub const TIER_VOLUME_M3_MAX: Decimal = Decimal::from_parts(100_000_000, 0, 0, false, 0);

/// One tier: the price that applies up to a cumulative annual volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    /// Cumulative volume in the tier year (m³) where this tier ends; `None` for the last tier.
    pub up_to: Option<Decimal>,
    /// CNY per m³.
    pub price: Decimal,
}

/// Households at least this large get extra volume on every tier boundary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdUplift {
    pub min_household_size: u8,
    pub extra_m3_per_boundary: Decimal,
}

/// A tariff as in force from a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TariffVersion {
    /// First Beijing date on which this version applies (from 00:00 Beijing time).
    pub effective_from: NaiveDate,
    /// Month and day on which the tier year restarts (`(1, 1)` for the calendar year).
    pub cycle_start: (u32, u32),
    pub tiers: Vec<Tier>,
    pub household_uplift: Option<HouseholdUplift>,
}

/// A named, versioned tariff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tariff {
    pub code: String,
    /// Sorted by `effective_from`, strictly increasing.
    pub versions: Vec<TariffVersion>,
}

/// Why a tariff or an interval is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TariffError {
    #[error("{0}")]
    InvalidTariff(String),
    #[error("no tariff version is in force at {0}")]
    NoVersionInForce(String),
    #[error("{0}")]
    InvalidInterval(String),
}

impl TariffError {
    pub fn code(&self) -> &'static str {
        match self {
            TariffError::InvalidTariff(_) => "invalid_tariff",
            TariffError::NoVersionInForce(_) => "no_tariff_in_force",
            TariffError::InvalidInterval(_) => "invalid_interval",
        }
    }
}

/// Beijing time's offset; checked when compiling (a panic in a const is a build error).
const BEIJING: FixedOffset = match FixedOffset::east_opt(BEIJING_OFFSET_SECONDS) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

fn beijing() -> FixedOffset {
    BEIJING
}

/// Beijing time's fixed offset (UTC+8).
pub fn beijing_offset() -> FixedOffset {
    BEIJING
}

/// The Beijing calendar date of an instant.
pub fn beijing_date(at: Timestamp) -> Option<NaiveDate> {
    DateTime::from_timestamp_micros(at.0).map(|utc| utc.with_timezone(&beijing()).date_naive())
}

/// 00:00 Beijing time on a date, as an instant.
pub fn beijing_midnight(date: NaiveDate) -> Option<Timestamp> {
    let naive = date.and_hms_opt(0, 0, 0)?;
    beijing().from_local_datetime(&naive).single().map(|at| Timestamp(at.timestamp_micros()))
}

impl TariffVersion {
    /// The start date of the tier year that contains `date`.
    pub fn tier_year_start(&self, date: NaiveDate) -> Option<NaiveDate> {
        let (month, day) = self.cycle_start;
        let this_year = NaiveDate::from_ymd_opt(date.year(), month, day)?;
        if this_year <= date {
            Some(this_year)
        } else {
            NaiveDate::from_ymd_opt(date.year() - 1, month, day)
        }
    }

    /// Tier boundaries for a household, with the uplift applied.
    pub fn boundaries(&self, household_size: u8) -> Vec<(Option<Decimal>, Decimal)> {
        let extra = match &self.household_uplift {
            Some(uplift) if household_size >= uplift.min_household_size => uplift.extra_m3_per_boundary,
            _ => Decimal::ZERO,
        };
        self.tiers.iter().map(|tier| (tier.up_to.map(|up_to| up_to + extra), tier.price)).collect()
    }
}

impl Tariff {
    /// Checks a tariff: versions strictly increasing, tiers increasing with a last unbounded tier,
    /// positive prices of at most [`PRICE_SCALE_MAX`] decimals, valid cycle start.
    pub fn validate(&self) -> Result<(), TariffError> {
        let invalid = |detail: String| Err(TariffError::InvalidTariff(detail));
        if self.versions.is_empty() || self.versions.len() > VERSIONS_PER_TARIFF_MAX {
            return invalid(format!("a tariff has 1 to {VERSIONS_PER_TARIFF_MAX} versions"));
        }
        for pair in self.versions.windows(2) {
            if pair[0].effective_from >= pair[1].effective_from {
                return invalid("versions must have strictly increasing effective_from dates".into());
            }
        }
        for version in &self.versions {
            let (month, day) = version.cycle_start;
            // 29 February would make some years have no tier-year start.
            if NaiveDate::from_ymd_opt(2023, month, day).is_none() {
                return invalid(format!("cycle_start {month:02}-{day:02} is not a date in every year"));
            }
            if version.tiers.is_empty() || version.tiers.len() > TIERS_PER_VERSION_MAX {
                return invalid(format!("a version has 1 to {TIERS_PER_VERSION_MAX} tiers"));
            }
            let mut previous = Decimal::ZERO;
            for (position, tier) in version.tiers.iter().enumerate() {
                let last = position + 1 == version.tiers.len();
                match (tier.up_to, last) {
                    (None, true) => {}
                    (None, false) => return invalid("only the last tier may be unbounded (up_to: null)".into()),
                    (Some(_), true) => return invalid("the last tier must be unbounded (up_to: null)".into()),
                    (Some(up_to), false) => {
                        if up_to <= previous || up_to.normalize().scale() > VOLUME_SCALE {
                            return invalid("tier boundaries must increase, with at most 3 decimals".into());
                        }
                        previous = up_to;
                    }
                }
                if tier.price <= Decimal::ZERO || tier.price.normalize().scale() > PRICE_SCALE_MAX {
                    return invalid(format!("prices must be positive with at most {PRICE_SCALE_MAX} decimals"));
                }
                if tier.price > PRICE_CNY_PER_M3_MAX {
                    return invalid(format!("prices are at most {PRICE_CNY_PER_M3_MAX} CNY per m³"));
                }
                if tier.up_to.is_some_and(|up_to| up_to > TIER_VOLUME_M3_MAX) {
                    return invalid(format!("tier boundaries are at most {TIER_VOLUME_M3_MAX} m³"));
                }
            }
            if let Some(uplift) = &version.household_uplift {
                let extra = uplift.extra_m3_per_boundary;
                if extra > TIER_VOLUME_M3_MAX || extra.normalize().scale() > VOLUME_SCALE {
                    return invalid(format!(
                        "the household uplift is at most {TIER_VOLUME_M3_MAX} m³, with at most 3 decimals"
                    ));
                }
                if uplift.extra_m3_per_boundary < Decimal::ZERO || uplift.min_household_size == 0 {
                    return invalid(
                        "the household uplift must be non-negative and start at a household of 1 or more".into(),
                    );
                }
            }
        }
        Ok(())
    }

    /// The version in force on a Beijing date.
    pub fn version_on(&self, date: NaiveDate) -> Option<&TariffVersion> {
        self.versions.iter().rev().find(|version| version.effective_from <= date)
    }

    /// Beijing's 2019 residential tariff for general use (DESIGN.md): 0–350 m³ at 2.61,
    /// 350–500 at 2.83, above 500 at 4.23 CNY/m³, calendar tier year, +150 m³ per boundary for
    /// households of 6 or more.
    pub fn beijing_residential() -> Tariff {
        Tariff::beijing("residential", [Decimal::new(350, 0), Decimal::new(500, 0)])
    }

    /// Beijing's 2019 residential tariff for wall-boiler heating households: 0–1500 / 1500–2500 /
    /// above, at the same prices.
    pub fn beijing_residential_heating() -> Tariff {
        Tariff::beijing("residential-heating", [Decimal::new(1500, 0), Decimal::new(2500, 0)])
    }

    fn beijing(code: &str, boundaries: [Decimal; 2]) -> Tariff {
        Tariff {
            code: code.to_owned(),
            versions: vec![TariffVersion {
                effective_from: NaiveDate::from_ymd_opt(2019, 1, 1).unwrap_or_default(),
                cycle_start: (1, 1),
                tiers: vec![
                    Tier { up_to: Some(boundaries[0]), price: Decimal::new(261, 2) },
                    Tier { up_to: Some(boundaries[1]), price: Decimal::new(283, 2) },
                    Tier { up_to: None, price: Decimal::new(423, 2) },
                ],
                household_uplift: Some(HouseholdUplift {
                    min_household_size: 6,
                    extra_m3_per_boundary: Decimal::new(150, 0),
                }),
            }],
        }
    }
}

/// One priced piece of consumption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeLine {
    /// First day of the tier year this volume counts in.
    pub tier_year_start: NaiveDate,
    /// Effective date of the tariff version that priced it.
    pub version_effective_from: NaiveDate,
    /// 0-based tier number.
    pub tier: usize,
    pub volume_m3: Decimal,
    pub unit_price: Decimal,
    pub amount: Decimal,
}

/// The priced consumption of one interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PricedInterval {
    pub lines: Vec<ChargeLine>,
    pub total: Decimal,
    /// The tier year the interval ends in, and its cumulative volume after this interval.
    pub tier_year_start_after: NaiveDate,
    pub annual_volume_after_m3: Decimal,
}

/// Rounding rule for line amounts: volume × unit price, half-up to the fen, once per line.
pub fn line_amount(volume_m3: Decimal, unit_price: Decimal) -> Decimal {
    (volume_m3 * unit_price).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Rounding rule for volume shares: each share of `volume` proportional to its duration, half-up
/// to the litre; the last share takes the remainder, so shares always sum to `volume` exactly.
pub fn split_volume_by_time(volume_m3: Decimal, durations_micros: &[i64]) -> Vec<Decimal> {
    let total: i64 = durations_micros.iter().sum();
    if durations_micros.is_empty() {
        return Vec::new();
    }
    if total <= 0 {
        let mut shares = vec![Decimal::ZERO; durations_micros.len()];
        if let Some(last) = shares.last_mut() {
            *last = volume_m3;
        }
        return shares;
    }
    let mut shares = Vec::with_capacity(durations_micros.len());
    let mut assigned = Decimal::ZERO;
    for (position, duration) in durations_micros.iter().enumerate() {
        if position + 1 == durations_micros.len() {
            shares.push(volume_m3 - assigned);
        } else {
            let share = (volume_m3 * Decimal::from(*duration) / Decimal::from(total))
                .round_dp_with_strategy(VOLUME_SCALE, RoundingStrategy::MidpointAwayFromZero);
            assigned += share;
            shares.push(share);
        }
    }
    shares
}

/// Splits the volume `[annual_before, annual_before + volume)` of one tier year across tiers.
fn split_across_tiers(
    boundaries: &[(Option<Decimal>, Decimal)],
    annual_before: Decimal,
    volume: Decimal,
) -> Vec<(usize, Decimal, Decimal)> {
    let mut pieces = Vec::new();
    let mut lower = Decimal::ZERO;
    let end = annual_before + volume;
    for (tier, (upper, price)) in boundaries.iter().enumerate() {
        let from = annual_before.max(lower);
        let to = upper.map_or(end, |upper| end.min(upper));
        if to > from {
            pieces.push((tier, to - from, *price));
        }
        match upper {
            Some(upper) => lower = *upper,
            None => break,
        }
    }
    pieces
}

/// Prices the consumption `volume_m3` measured between `start` and `end`, for a household of
/// `household_size`, where `annual_volume_before_m3` had already been used in the tier year that
/// contains `start`.
pub fn price_interval(
    tariff: &Tariff,
    household_size: u8,
    start: Timestamp,
    end: Timestamp,
    volume_m3: Decimal,
    annual_volume_before_m3: Decimal,
) -> Result<PricedInterval, TariffError> {
    if end < start {
        return Err(TariffError::InvalidInterval("the interval ends before it starts".into()));
    }
    if volume_m3 < Decimal::ZERO
        || volume_m3.normalize().scale() > VOLUME_SCALE
        || annual_volume_before_m3 < Decimal::ZERO
    {
        return Err(TariffError::InvalidInterval("volumes are non-negative with at most 3 decimals".into()));
    }
    let date = |at: Timestamp| beijing_date(at).ok_or_else(|| TariffError::InvalidInterval("time out of range".into()));
    let start_date = date(start)?;
    let end_date = date(end)?;
    // Cut points: every tier-year start and every version change strictly inside (start, end).
    let mut cuts: Vec<Timestamp> = Vec::new();
    let mut day = start_date.succ_opt();
    while let Some(current) = day {
        if current > end_date {
            break;
        }
        let version = tariff.version_on(current);
        let previous_version = current.pred_opt().and_then(|previous| tariff.version_on(previous));
        let is_version_change =
            version.map(|version| version.effective_from) != previous_version.map(|version| version.effective_from);
        let is_year_start = version.and_then(|version| version.tier_year_start(current)) == Some(current);
        if is_version_change || is_year_start {
            if let Some(midnight) = beijing_midnight(current) {
                if midnight > start && midnight < end {
                    cuts.push(midnight);
                }
            }
        }
        day = current.succ_opt();
    }
    let mut points = vec![start];
    points.extend(cuts);
    points.push(end);
    let durations: Vec<i64> = points.windows(2).map(|pair| pair[1].0 - pair[0].0).collect();
    let shares = split_volume_by_time(volume_m3, &durations);

    let mut lines = Vec::new();
    let mut annual = annual_volume_before_m3;
    let mut current_year: Option<NaiveDate> = None;
    for (segment, share) in shares.iter().enumerate() {
        let segment_date = date(points[segment])?;
        let version =
            tariff.version_on(segment_date).ok_or_else(|| TariffError::NoVersionInForce(segment_date.to_string()))?;
        let year =
            version.tier_year_start(segment_date).ok_or_else(|| TariffError::InvalidInterval("no tier year".into()))?;
        if current_year.is_some_and(|current| current != year) {
            annual = Decimal::ZERO;
        }
        current_year = Some(year);
        for (tier, volume, price) in split_across_tiers(&version.boundaries(household_size), annual, *share) {
            lines.push(ChargeLine {
                tier_year_start: year,
                version_effective_from: version.effective_from,
                tier,
                volume_m3: volume,
                unit_price: price,
                amount: line_amount(volume, price),
            });
        }
        annual += *share;
    }
    let total = lines.iter().map(|line| line.amount).sum();
    let tier_year_start_after = match current_year {
        Some(year) => year,
        None => return Err(TariffError::InvalidInterval("empty interval".into())),
    };
    Ok(PricedInterval { lines, total, tier_year_start_after, annual_volume_after_m3: annual })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn at(date: &str, hour: u32) -> Timestamp {
        let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
        beijing_midnight(date).unwrap().plus_micros(i64::from(hour) * 3_600_000_000)
    }

    fn check(
        volume: Decimal,
        annual_before: Decimal,
        household: u8,
        expected_total: Decimal,
        expected_lines: &[(usize, Decimal, Decimal)],
    ) {
        let priced = price_interval(
            &Tariff::beijing_residential(),
            household,
            at("2026-03-01", 3),
            at("2026-03-02", 3),
            volume,
            annual_before,
        )
        .unwrap();
        let lines: Vec<(usize, Decimal, Decimal)> =
            priced.lines.iter().map(|line| (line.tier, line.volume_m3, line.amount)).collect();
        assert_eq!(lines, expected_lines, "volume {volume} after {annual_before}");
        assert_eq!(priced.total, expected_total);
        assert_eq!(priced.annual_volume_after_m3, annual_before + volume);
    }

    #[test]
    fn beijing_general_tiers() {
        // DESIGN.md: 330 m³ then 370 m³ in a tier year: 861.30 then 108.80.
        check(dec!(330), dec!(0), 3, dec!(861.30), &[(0, dec!(330), dec!(861.30))]);
        check(dec!(40), dec!(330), 3, dec!(108.80), &[(0, dec!(20), dec!(52.20)), (1, dec!(20), dec!(56.60))]);
        // Exactly on a boundary: all of it in the lower tier.
        check(dec!(350), dec!(0), 3, dec!(913.50), &[(0, dec!(350), dec!(913.50))]);
        // Across all three tiers.
        check(
            dec!(600),
            dec!(0),
            3,
            dec!(1761.00),
            &[(0, dec!(350), dec!(913.50)), (1, dec!(150), dec!(424.50)), (2, dec!(100), dec!(423.00))],
        );
        // Six-person households get +150 m³ on each boundary.
        check(dec!(40), dec!(330), 6, dec!(104.40), &[(0, dec!(40), dec!(104.40))]);
        // Litres and half-up rounding per line: 0.001 × 2.61 = 0.00261 → 0.00; 0.002 × 2.83 → 0.01.
        check(dec!(0.001), dec!(0), 3, dec!(0.00), &[(0, dec!(0.001), dec!(0.00))]);
        check(dec!(0.002), dec!(350), 3, dec!(0.01), &[(1, dec!(0.002), dec!(0.01))]);
        check(dec!(0), dec!(10), 3, dec!(0), &[]);
    }

    #[test]
    fn an_interval_across_the_tier_year_start_restarts_the_count() {
        let priced = price_interval(
            &Tariff::beijing_residential(),
            3,
            at("2026-12-31", 0),
            at("2027-01-02", 0),
            dec!(20),
            dec!(490),
        )
        .unwrap();
        // Half the time (and volume) in 2026 (at 490..500 → tier 1), half in 2027 (tier 0 from 0).
        let lines: Vec<(NaiveDate, usize, Decimal)> =
            priced.lines.iter().map(|line| (line.tier_year_start, line.tier, line.volume_m3)).collect();
        let year = |y| NaiveDate::from_ymd_opt(y, 1, 1).unwrap();
        assert_eq!(lines, vec![(year(2026), 1, dec!(10)), (year(2027), 0, dec!(10))]);
        assert_eq!(priced.total, dec!(28.30) + dec!(26.10));
        assert_eq!(priced.tier_year_start_after, year(2027));
        assert_eq!(priced.annual_volume_after_m3, dec!(10));
    }

    #[test]
    fn a_price_change_inside_an_interval_splits_by_time() {
        let mut tariff = Tariff::beijing_residential();
        let mut raised = tariff.versions[0].clone();
        raised.effective_from = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        raised.tiers[0].price = dec!(3.00);
        tariff.versions.push(raised);
        tariff.validate().unwrap();
        // 3 days: one before the change, two after → 1/3 and 2/3 of 9 m³.
        let priced = price_interval(&tariff, 3, at("2026-05-31", 0), at("2026-06-03", 0), dec!(9), dec!(0)).unwrap();
        let lines: Vec<(Decimal, Decimal)> =
            priced.lines.iter().map(|line| (line.volume_m3, line.unit_price)).collect();
        assert_eq!(lines, vec![(dec!(3), dec!(2.61)), (dec!(6), dec!(3.00))]);
        assert_eq!(priced.total, dec!(7.83) + dec!(18.00));
    }

    #[test]
    fn volume_shares_sum_exactly() {
        assert_eq!(split_volume_by_time(dec!(1), &[1, 1, 1]), vec![dec!(0.333), dec!(0.333), dec!(0.334)]);
        assert_eq!(split_volume_by_time(dec!(0.002), &[1, 1, 1]), vec![dec!(0.001), dec!(0.001), dec!(0.000)]);
        assert_eq!(split_volume_by_time(dec!(5), &[0, 0]), vec![dec!(0), dec!(5)]);
    }

    #[test]
    fn invalid_tariffs_and_intervals_are_refused() {
        let mut tariff = Tariff::beijing_residential();
        tariff.versions[0].tiers[2].up_to = Some(dec!(900));
        assert_eq!(tariff.validate().unwrap_err().code(), "invalid_tariff");
        let mut tariff = Tariff::beijing_residential();
        tariff.versions[0].tiers[1].up_to = Some(dec!(100));
        assert_eq!(tariff.validate().unwrap_err().code(), "invalid_tariff");
        let mut tariff = Tariff::beijing_residential();
        tariff.versions[0].cycle_start = (2, 29);
        assert_eq!(tariff.validate().unwrap_err().code(), "invalid_tariff");
        let mut tariff = Tariff::beijing_residential();
        tariff.versions[0].tiers[0].price = dec!(2.61001);
        assert_eq!(tariff.validate().unwrap_err().code(), "invalid_tariff");
        Tariff::beijing_residential().validate().unwrap();
        Tariff::beijing_residential_heating().validate().unwrap();
        let tariff = Tariff::beijing_residential();
        let error = price_interval(&tariff, 3, at("2026-03-02", 0), at("2026-03-01", 0), dec!(1), dec!(0)).unwrap_err();
        assert_eq!(error.code(), "invalid_interval");
        let error =
            price_interval(&tariff, 3, at("2026-03-01", 0), at("2026-03-02", 0), dec!(0.0001), dec!(0)).unwrap_err();
        assert_eq!(error.code(), "invalid_interval");
        let error = price_interval(&tariff, 3, at("2018-03-01", 0), at("2018-03-02", 0), dec!(1), dec!(0)).unwrap_err();
        assert_eq!(error.code(), "no_tariff_in_force");
    }

    #[test]
    fn tier_years_start_on_the_configured_day() {
        let mut version = Tariff::beijing_residential().versions[0].clone();
        version.cycle_start = (10, 1);
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(version.tier_year_start(date(2026, 9, 30)), Some(date(2025, 10, 1)));
        assert_eq!(version.tier_year_start(date(2026, 10, 1)), Some(date(2026, 10, 1)));
    }
}
