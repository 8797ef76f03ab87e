//! The technician rule table: data, not code.
//!
//! Which stars settle and at what commission, which open a dispute, how the technician's tier is
//! worked out and below which average payouts are held for review: all of it is a versioned JSON
//! document ([`RuleBook`]), so that a change of commercial terms is a new version with an
//! effective date, reviewed as data, and every settlement can say which version it applied.
//! The server ships `settlement/rules/technician-rules-v1.json` ([`RuleBook::shipped`]).
//!
//! A [`RuleSet`] can only be made through [`RuleSet::new`] (or deserialized through it), which
//! validates it, so the functions that apply rules never meet a table with a gap in its star bands
//! or a commission above the cap.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::service_order::{check_rating_window, Stars, STARS_MAX, STARS_MIN};

/// Highest commission rate a rule table may set: 30 %.
///
/// Commission caps are public rules in China's ride-hailing market, which this marketplace of
/// dispatched technicians copies: since the Ministry of Transport and the market regulator pressed
/// the platforms on 抽成 (the platform's cut) in 2021–2022, the big platforms publish a per-order
/// commission cap, widely 30 % (Didi's public "抽成上限" commitment is that figure). A table above it
/// is refused rather than clamped: a rate over the cap is a mistake to fix, not a value to bend.
pub const COMMISSION_RATE_MAX: Decimal = Decimal::from_parts(30, 0, 0, false, 2);

/// Most decimal places a commission rate may have (`0.1250` is 12.5 %). Keeps `price × rate`
/// exact (at most 2 + 4 places), so [`crate::money::round_half_up_to_fen`] is the only rounding.
pub const COMMISSION_RATE_DECIMAL_PLACES_MAX: u32 = 4;

/// Most decimal places a star threshold may have (`4.70`): averages are compared at two places.
pub const STAR_THRESHOLD_DECIMAL_PLACES_MAX: u32 = 2;

/// Largest `last_n`: a rolling basis of more jobs than this is no longer "recent".
pub const ROLLING_JOBS_MAX: u32 = 1_000;

/// Largest `rolling_days`: a year.
pub const ROLLING_DAYS_MAX: u32 = 366;

/// Most versions in one rule book; a named limit like every other collection the crate takes.
pub const RULE_VERSIONS_MAX: usize = 1_000;

/// Longest version id, in bytes.
pub const VERSION_ID_BYTES_MAX: usize = 64;

/// The rule table the server ships.
pub const SHIPPED_RULES_JSON: &str = include_str!("../rules/technician-rules-v1.json");

/// A technician's commission tier. A better tier pays a lower commission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Below the silver threshold, or too few rated jobs for tiers to apply.
    Standard,
    /// At or above the silver threshold.
    Silver,
    /// At or above the gold threshold.
    Gold,
}

/// A rate for each tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierRates {
    /// Rate for [`Tier::Gold`].
    pub gold: Decimal,
    /// Rate for [`Tier::Silver`].
    pub silver: Decimal,
    /// Rate for [`Tier::Standard`].
    pub standard: Decimal,
}

impl TierRates {
    /// The rate for `tier`.
    #[must_use]
    pub fn rate(&self, tier: Tier) -> Decimal {
        match tier {
            Tier::Gold => self.gold,
            Tier::Silver => self.silver,
            Tier::Standard => self.standard,
        }
    }
}

/// The lowest rolling averages (inclusive) of the two upper tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierThresholds {
    /// Lowest average for gold.
    pub gold: Decimal,
    /// Lowest average for silver.
    pub silver: Decimal,
}

/// Which earlier ratings make up the rolling average.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollingBasis {
    /// The last N rated jobs.
    LastN(u32),
    /// The ratings of the last N days (N × 86 400 seconds before the decision).
    RollingDays(u32),
}

/// A band of stars that settles, with its commission per tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommissionBand {
    /// Fewest stars in the band.
    pub min_stars: u8,
    /// Most stars in the band.
    pub max_stars: u8,
    /// Commission for each tier.
    pub rates: TierRates,
}

/// One version of the rules, as written in the JSON file. Validate it with [`RuleSet::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// The version's id, e.g. `technician-rules-v1`, recorded with every settlement.
    pub version: String,
    /// When the version comes into force, in Unix seconds (RFC 3339 text in JSON).
    #[serde(with = "crate::timestamps::rfc3339_seconds")]
    pub effective_from: i64,
    /// How long the customer may rate after completion, in seconds.
    pub rating_window_seconds: i64,
    /// The stars an order is settled with when the window runs out without a rating.
    pub auto_rated_stars: u8,
    /// Which earlier ratings the rolling average takes.
    pub rolling_basis: RollingBasis,
    /// Rated jobs needed (within the basis) before tiers and the review floor apply.
    pub minimum_rated_jobs: u32,
    /// The averages that make gold and silver.
    pub tier_thresholds: TierThresholds,
    /// The star bands that settle, with their commission.
    pub commission_bands: Vec<CommissionBand>,
    /// Ratings of this many stars or fewer open a dispute (0: none do).
    pub dispute_max_stars: u8,
    /// The commission when finance resolves a dispute by paying the technician (all or the part
    /// not refunded).
    pub resolved_dispute_rates: TierRates,
    /// A technician whose rolling average is below this (with the minimum count) has payouts held
    /// for review.
    pub review_floor_average: Decimal,
}

/// A validated version of the rules. Serialized as its [`RuleSpec`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RuleSpec", into = "RuleSpec")]
pub struct RuleSet {
    spec: RuleSpec,
}

/// What a rating leads to under a rule set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StarOutcome {
    /// Settle with these commission rates.
    Settle(TierRates),
    /// Open a dispute.
    Dispute,
}

impl RuleSet {
    /// Validates a version of the rules. Rejections: `commission_above_cap` for any rate above
    /// [`COMMISSION_RATE_MAX`]; `invalid_rules` for everything else, naming the field.
    pub fn new(spec: RuleSpec) -> Result<RuleSet, RulesError> {
        let version = spec.version.clone();
        let invalid = |field: &'static str, reason: &'static str| {
            Err(RulesError::InvalidRules { version: version.clone(), field, reason })
        };
        if spec.version.trim().is_empty() || spec.version.len() > VERSION_ID_BYTES_MAX {
            return invalid("version", "must be 1 to 64 bytes, not blank");
        }
        if check_rating_window(spec.rating_window_seconds).is_err() {
            return invalid("rating_window_seconds", "must be 1 second to 30 days");
        }
        match spec.rolling_basis {
            RollingBasis::LastN(jobs) if jobs == 0 || jobs > ROLLING_JOBS_MAX => {
                return invalid("rolling_basis", "last_n must be 1 to 1000");
            }
            RollingBasis::RollingDays(days) if days == 0 || days > ROLLING_DAYS_MAX => {
                return invalid("rolling_basis", "rolling_days must be 1 to 366");
            }
            RollingBasis::LastN(jobs) if spec.minimum_rated_jobs > jobs => {
                return invalid("minimum_rated_jobs", "must not exceed last_n, or tiers could never apply");
            }
            _ => {}
        }
        if spec.minimum_rated_jobs == 0 || spec.minimum_rated_jobs > ROLLING_JOBS_MAX {
            return invalid("minimum_rated_jobs", "must be 1 to 1000");
        }
        let is_star_average = |value: Decimal| {
            value >= Decimal::from(STARS_MIN)
                && value <= Decimal::from(STARS_MAX)
                && value.normalize().scale() <= STAR_THRESHOLD_DECIMAL_PLACES_MAX
        };
        let thresholds = spec.tier_thresholds;
        if !is_star_average(thresholds.gold) || !is_star_average(thresholds.silver) {
            return invalid("tier_thresholds", "must be 1 to 5 with at most two decimal places");
        }
        if thresholds.gold <= thresholds.silver {
            return invalid("tier_thresholds", "gold must be above silver");
        }
        if !is_star_average(spec.review_floor_average) {
            return invalid("review_floor_average", "must be 1 to 5 with at most two decimal places");
        }
        if spec.dispute_max_stars >= STARS_MAX {
            return invalid("dispute_max_stars", "must leave at least five stars to settle");
        }

        // Every rate, then the star coverage: each of 1..=5 settles in exactly one band or disputes.
        let all_rates = spec.commission_bands.iter().map(|band| ("commission_bands", band.rates));
        for (field, rates) in all_rates.chain(std::iter::once(("resolved_dispute_rates", spec.resolved_dispute_rates)))
        {
            for tier in [Tier::Gold, Tier::Silver, Tier::Standard] {
                let rate = rates.rate(tier);
                if rate > COMMISSION_RATE_MAX {
                    return Err(RulesError::CommissionAboveCap { version, rate });
                }
                if rate < Decimal::ZERO || rate.normalize().scale() > COMMISSION_RATE_DECIMAL_PLACES_MAX {
                    return invalid(field, "rates must be from 0 with at most four decimal places");
                }
            }
        }
        for stars in STARS_MIN..=STARS_MAX {
            let bands = spec.commission_bands.iter().filter(|band| (band.min_stars..=band.max_stars).contains(&stars));
            let settling = bands.count();
            let disputing = usize::from(stars <= spec.dispute_max_stars);
            if settling + disputing != 1 {
                return invalid("commission_bands", "each of 1 to 5 stars must settle in exactly one band or dispute");
            }
        }
        if spec.commission_bands.iter().any(|band| band.min_stars > band.max_stars) {
            return invalid("commission_bands", "min_stars must not exceed max_stars");
        }
        if spec.auto_rated_stars <= spec.dispute_max_stars || Stars::new(spec.auto_rated_stars).is_err() {
            return invalid("auto_rated_stars", "must be stars that settle, not a dispute");
        }
        Ok(RuleSet { spec })
    }

    /// The rules as written.
    #[must_use]
    pub fn spec(&self) -> &RuleSpec {
        &self.spec
    }

    /// The version's id.
    #[must_use]
    pub fn version(&self) -> &str {
        &self.spec.version
    }

    /// Whether these stars settle (and at which rates) or open a dispute.
    #[must_use]
    pub fn outcome_for_stars(&self, stars: Stars) -> StarOutcome {
        let stars = stars.get();
        self.spec
            .commission_bands
            .iter()
            .find(|band| (band.min_stars..=band.max_stars).contains(&stars))
            .map_or(StarOutcome::Dispute, |band| StarOutcome::Settle(band.rates))
    }

    /// The stars an order is settled with when it is auto-rated (validated to be settling stars).
    #[must_use]
    pub fn auto_rated_stars(&self) -> Stars {
        // Validated in `new`; the fallback is never taken but keeps this free of a panic.
        Stars::new(self.spec.auto_rated_stars).unwrap_or(Stars::MAX)
    }

    /// The tier a rolling average earns once the minimum count is reached.
    #[must_use]
    pub fn tier_for_average(&self, average: Decimal) -> Tier {
        let thresholds = self.spec.tier_thresholds;
        if average >= thresholds.gold {
            Tier::Gold
        } else if average >= thresholds.silver {
            Tier::Silver
        } else {
            Tier::Standard
        }
    }
}

impl TryFrom<RuleSpec> for RuleSet {
    type Error = RulesError;

    fn try_from(spec: RuleSpec) -> Result<RuleSet, RulesError> {
        RuleSet::new(spec)
    }
}

impl From<RuleSet> for RuleSpec {
    fn from(rules: RuleSet) -> RuleSpec {
        rules.spec
    }
}

/// Every version of the rules, ordered by effective date. Serialized as `{"versions": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleBook {
    versions: Vec<RuleSet>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleBookFile {
    versions: Vec<RuleSpec>,
}

impl RuleBook {
    /// Validates and orders the versions. Beyond each version's own checks: at least one version,
    /// at most [`RULE_VERSIONS_MAX`], no two with the same id or the same effective date
    /// (`invalid_rules`).
    pub fn new(specs: Vec<RuleSpec>) -> Result<RuleBook, RulesError> {
        let book_invalid =
            |reason: &'static str| RulesError::InvalidRules { version: String::new(), field: "versions", reason };
        if specs.is_empty() || specs.len() > RULE_VERSIONS_MAX {
            return Err(book_invalid("must hold 1 to 1000 versions"));
        }
        let mut versions = specs.into_iter().map(RuleSet::new).collect::<Result<Vec<_>, _>>()?;
        versions.sort_by_key(|rules| rules.spec.effective_from);
        let same_date = versions.windows(2).any(|pair| pair[0].spec.effective_from == pair[1].spec.effective_from);
        let mut ids: Vec<&str> = versions.iter().map(RuleSet::version).collect();
        ids.sort_unstable();
        let same_id = ids.windows(2).any(|pair| pair[0] == pair[1]);
        if same_date || same_id {
            return Err(book_invalid("each version needs its own id and its own effective date"));
        }
        Ok(RuleBook { versions })
    }

    /// Parses and validates a rule book from JSON (`rules_malformed` when it is not the format).
    pub fn from_json(text: &str) -> Result<RuleBook, RulesError> {
        let file: RuleBookFile =
            serde_json::from_str(text).map_err(|error| RulesError::Malformed { detail: error.to_string() })?;
        RuleBook::new(file.versions)
    }

    /// The rule book the server ships ([`SHIPPED_RULES_JSON`]). A test proves it valid.
    pub fn shipped() -> Result<RuleBook, RulesError> {
        RuleBook::from_json(SHIPPED_RULES_JSON)
    }

    /// Every version, oldest first.
    #[must_use]
    pub fn versions(&self) -> &[RuleSet] {
        &self.versions
    }

    /// The version in force at `unix_seconds`: the latest whose `effective_from` is at or before it
    /// (`no_rules_in_force` before the first).
    pub fn in_force_at(&self, unix_seconds: i64) -> Result<&RuleSet, RulesError> {
        self.versions
            .iter()
            .rev()
            .find(|rules| rules.spec.effective_from <= unix_seconds)
            .ok_or(RulesError::NoRulesInForce { unix_seconds })
    }
}

/// A rule table was refused. A business rejection, not a fault: [`RulesError::code`] is the stable
/// machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// Code `rules_malformed`.
    #[error("the rule table is not valid JSON of the expected shape: {detail}")]
    Malformed {
        /// What the parser said.
        detail: String,
    },
    /// Code `invalid_rules`.
    #[error("rules {version:?}: {field} {reason}")]
    InvalidRules {
        /// The version's id (empty for a problem of the whole book).
        version: String,
        /// The field at fault.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// Code `commission_above_cap`.
    #[error("rules {version:?}: commission rate {rate} is above the cap of {COMMISSION_RATE_MAX}")]
    CommissionAboveCap {
        /// The version's id.
        version: String,
        /// The rate.
        rate: Decimal,
    },
    /// Code `no_rules_in_force`.
    #[error("no rules are in force at unix time {unix_seconds}")]
    NoRulesInForce {
        /// The instant asked about.
        unix_seconds: i64,
    },
}

impl RulesError {
    /// The stable machine-readable code of the rejection.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            RulesError::Malformed { .. } => "rules_malformed",
            RulesError::InvalidRules { .. } => "invalid_rules",
            RulesError::CommissionAboveCap { .. } => "commission_above_cap",
            RulesError::NoRulesInForce { .. } => "no_rules_in_force",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn shipped_v1() -> RuleSpec {
        RuleBook::shipped().expect("the shipped rules are valid").versions()[0].spec().clone()
    }

    fn stars(count: u8) -> Stars {
        Stars::new(count).expect("valid")
    }

    #[test]
    fn limits_are_what_their_docs_say() {
        assert_eq!(COMMISSION_RATE_MAX, dec!(0.30));
    }

    #[test]
    fn shipped_rules_are_valid_and_say_what_the_brief_says() {
        let book = RuleBook::shipped().expect("valid");
        let rules = book.in_force_at(1_735_660_800).expect("in force from 2025-01-01 Beijing");
        assert_eq!(rules.version(), "technician-rules-v1");
        assert_eq!(rules.spec().rolling_basis, RollingBasis::LastN(20));
        assert_eq!(rules.spec().review_floor_average, dec!(3.5));
        let settle = |count: u8| match rules.outcome_for_stars(stars(count)) {
            StarOutcome::Settle(rates) => Some([rates.standard, rates.silver, rates.gold]),
            StarOutcome::Dispute => None,
        };
        assert_eq!(settle(5), Some([dec!(0.15), dec!(0.12), dec!(0.10)]));
        assert_eq!(settle(4), Some([dec!(0.15), dec!(0.12), dec!(0.10)]));
        assert_eq!(settle(3), Some([dec!(0.25); 3]));
        assert_eq!(settle(2), None);
        assert_eq!(settle(1), None);
        assert_eq!(rules.auto_rated_stars(), stars(5));
        assert_eq!(rules.tier_for_average(dec!(4.70)), Tier::Gold);
        assert_eq!(rules.tier_for_average(dec!(4.69)), Tier::Silver);
        assert_eq!(rules.tier_for_average(dec!(4.30)), Tier::Silver);
        assert_eq!(rules.tier_for_average(dec!(4.29)), Tier::Standard);
    }

    #[test]
    fn validation_table() {
        fn check(change: impl Fn(&mut RuleSpec), expected: Result<(), &str>) {
            let mut spec = shipped_v1();
            change(&mut spec);
            let actual = RuleSet::new(spec.clone()).map(|_| ()).map_err(|error| error.code());
            assert_eq!(actual, expected, "{spec:?}");
        }
        check(|_| {}, Ok(()));
        check(|spec| spec.commission_bands[1].rates.standard = dec!(0.30), Ok(())); // at the cap
        check(|spec| spec.commission_bands[1].rates.standard = dec!(0.3001), Err("commission_above_cap"));
        check(|spec| spec.resolved_dispute_rates.gold = dec!(0.31), Err("commission_above_cap"));
        check(|spec| spec.commission_bands[0].rates.gold = dec!(-0.01), Err("invalid_rules"));
        check(|spec| spec.commission_bands[0].rates.gold = dec!(0.12345), Err("invalid_rules"));
        check(|spec| spec.version = " ".into(), Err("invalid_rules"));
        check(|spec| spec.version = "v".repeat(VERSION_ID_BYTES_MAX), Ok(()));
        check(|spec| spec.version = "v".repeat(VERSION_ID_BYTES_MAX + 1), Err("invalid_rules"));
        check(|spec| spec.rating_window_seconds = 0, Err("invalid_rules"));
        check(|spec| spec.rolling_basis = RollingBasis::LastN(0), Err("invalid_rules"));
        check(|spec| spec.rolling_basis = RollingBasis::LastN(ROLLING_JOBS_MAX), Ok(()));
        check(|spec| spec.rolling_basis = RollingBasis::LastN(ROLLING_JOBS_MAX + 1), Err("invalid_rules"));
        check(|spec| spec.rolling_basis = RollingBasis::LastN(4), Err("invalid_rules")); // below the minimum
        check(|spec| spec.rolling_basis = RollingBasis::RollingDays(28), Ok(()));
        check(|spec| spec.rolling_basis = RollingBasis::RollingDays(ROLLING_DAYS_MAX + 1), Err("invalid_rules"));
        check(|spec| spec.minimum_rated_jobs = 0, Err("invalid_rules"));
        check(|spec| spec.tier_thresholds.gold = dec!(4.3), Err("invalid_rules")); // not above silver
        check(|spec| spec.tier_thresholds.gold = dec!(5.01), Err("invalid_rules"));
        check(|spec| spec.tier_thresholds.silver = dec!(4.305), Err("invalid_rules"));
        check(|spec| spec.review_floor_average = dec!(0.9), Err("invalid_rules"));
        // Star coverage: a gap, an overlap, a band upside down.
        check(|spec| spec.dispute_max_stars = 1, Err("invalid_rules"));
        check(|spec| spec.dispute_max_stars = 3, Err("invalid_rules"));
        check(|spec| spec.commission_bands[1].min_stars = 4, Err("invalid_rules"));
        check(|spec| spec.commission_bands.push(spec.commission_bands[1]), Err("invalid_rules"));
        check(
            |spec| {
                spec.commission_bands[1].min_stars = 1;
                spec.dispute_max_stars = 0;
            },
            Ok(()),
        );
        check(|spec| spec.auto_rated_stars = 2, Err("invalid_rules")); // auto-rating never disputes
        check(|spec| spec.auto_rated_stars = 6, Err("invalid_rules"));
    }

    #[test]
    fn versions_by_effective_date() {
        let mut v2 = shipped_v1();
        v2.version = "technician-rules-v2".into();
        v2.effective_from += 86_400;
        let book = RuleBook::new(vec![v2.clone(), shipped_v1()]).expect("valid");
        let start = shipped_v1().effective_from;
        let version_at = |at: i64| book.in_force_at(at).map(|rules| rules.version().to_string()).map_err(|e| e.code());
        assert_eq!(version_at(start - 1), Err("no_rules_in_force"));
        assert_eq!(version_at(start), Ok("technician-rules-v1".into()));
        assert_eq!(version_at(start + 86_399), Ok("technician-rules-v1".into()));
        assert_eq!(version_at(start + 86_400), Ok("technician-rules-v2".into()));

        let mut same_id = v2.clone();
        same_id.version = "technician-rules-v1".into();
        assert_eq!(RuleBook::new(vec![same_id, shipped_v1()]).map_err(|e| e.code()), Err("invalid_rules"));
        let mut same_date = v2;
        same_date.effective_from = start;
        assert_eq!(RuleBook::new(vec![same_date, shipped_v1()]).map_err(|e| e.code()), Err("invalid_rules"));
        assert_eq!(RuleBook::new(Vec::new()).map_err(|e| e.code()), Err("invalid_rules"));
    }

    #[test]
    fn json_round_trip_and_malformed_input() {
        let book = RuleBook::shipped().expect("valid");
        let json = serde_json::to_string(&book).expect("serializes");
        assert!(json.contains(r#""effective_from":"2024-12-31T16:00:00Z""#), "{json}");
        assert!(json.contains(r#""rolling_basis":{"last_n":20}"#), "{json}");
        assert_eq!(RuleBook::from_json(&json), Ok(book));
        assert_eq!(RuleBook::from_json("{").map_err(|e| e.code()), Err("rules_malformed"));
        let unknown_field = SHIPPED_RULES_JSON.replace("\"auto_rated_stars\"", "\"auto_stars\"");
        assert_eq!(RuleBook::from_json(&unknown_field).map_err(|e| e.code()), Err("rules_malformed"));
        let float_rate = SHIPPED_RULES_JSON.replace("\"0.25\"", "0.25");
        assert_eq!(RuleBook::from_json(&float_rate).map_err(|e| e.code()), Err("rules_malformed"));
        // A rule set deserialized on its own is validated too.
        let mut spec = serde_json::to_value(shipped_v1()).expect("serializes");
        spec["resolved_dispute_rates"]["gold"] = "0.5".into();
        assert!(serde_json::from_value::<RuleSet>(spec).is_err());
    }
}
