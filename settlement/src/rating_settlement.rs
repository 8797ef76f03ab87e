//! What a rated job pays: the technician's share and the platform's commission, from the rule table.
//!
//! * A rating that settles: `commission = round_half_up_to_fen(price × rate)` for the rate of the
//!   star band and the technician's tier, and `technician_share = price − commission`. The share is
//!   the remainder, never rounded on its own, so the two always add up to the price exactly.
//! * A rating that disputes: nothing is paid until finance resolves it ([`resolve_dispute`]): pay in
//!   full, refund a part (the rest settles at the table's resolved-dispute rate for the tier), or
//!   refund all. `refund + share + commission = price`, exactly.
//! * A refund after the payout ([`reverse_after_payout`]) takes back from the technician and from
//!   the commission in proportion to what each got, on running totals like the merchant fee
//!   ([`crate::fees`]), so that several partial refunds add up to the same as one.
//!
//! The one rounding is [`round_half_up_to_fen`]; every amount out has exactly two decimals.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{
    check_non_negative_amount, check_positive_amount, round_half_up_to_fen, with_fen_scale, AmountProblem,
};
use crate::rules::{RuleSet, StarOutcome};
use crate::service_order::Stars;
use crate::technician_tier::TechnicianStanding;

/// How a settling rating splits the price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RatingOutcome {
    /// Pay the technician `technician_share`; `commission` is the platform's. They sum to the price.
    Settle {
        /// To the technician.
        technician_share: Decimal,
        /// To the platform (service commission revenue).
        commission: Decimal,
        /// The rate the commission was taken at.
        commission_rate: Decimal,
    },
    /// The stars open a dispute: the price stays in escrow until finance resolves it.
    Dispute,
}

/// A rated (or auto-rated) order's settlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingSettlement {
    /// The split, or a dispute.
    #[serde(flatten)]
    pub outcome: RatingOutcome,
    /// Whether the technician is below the review floor: the share is settled but its payout held.
    pub held_for_review: bool,
    /// The rule version applied.
    pub rules_version: String,
}

/// How finance resolves a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Resolution {
    /// The technician is paid as if the job had been rated well.
    PayInFull,
    /// `amount` goes back to the customer; the rest is settled.
    PartialRefund {
        /// The refund: positive, whole fen, below the price.
        amount: Decimal,
    },
    /// The whole price goes back to the customer.
    FullRefund,
}

impl Resolution {
    /// Whether the resolution refunds the whole price (the order ends `refunded`).
    #[must_use]
    pub fn is_full_refund(self) -> bool {
        matches!(self, Resolution::FullRefund)
    }
}

/// A resolved dispute: `refund_to_customer + technician_share + commission = price`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeOutcome {
    /// Back to the customer's wallet.
    pub refund_to_customer: Decimal,
    /// To the technician.
    pub technician_share: Decimal,
    /// To the platform.
    pub commission: Decimal,
    /// The rate the commission was taken at (the resolved-dispute rate of the tier).
    pub commission_rate: Decimal,
    /// Whether the share's payout is held for review (never, when nothing is paid).
    pub held_for_review: bool,
    /// The rule version applied.
    pub rules_version: String,
}

/// What a refund after the payout takes back: `from_technician + from_commission = refund`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reversal {
    /// Taken back from the technician (their payable goes down, or into deficit).
    pub from_technician: Decimal,
    /// Taken back from the platform's commission.
    pub from_commission: Decimal,
}

/// Splits `amount` at `rate`: the commission rounded half-up to the fen, the share the remainder.
fn split(amount: Decimal, rate: Decimal) -> (Decimal, Decimal) {
    // Exact: at most 2 + 4 decimal places (the rule table's limit) and far below Decimal's range.
    let commission = round_half_up_to_fen(amount * rate);
    (with_fen_scale(amount - commission), commission)
}

fn check_price(price: Decimal) -> Result<(), SettleError> {
    check_positive_amount(price).map_err(|problem| SettleError::InvalidAmount {
        field: "price",
        amount: price,
        problem,
    })
}

/// Settles an order rated `stars` at the technician's standing, by `rules`.
///
/// The standing is the one at the rating's time ([`crate::technician_tier::technician_standing`]),
/// which the rating itself does not move. Rejection: `invalid_amount` for a price that is not
/// positive whole fen up to [`crate::money::AMOUNT_YUAN_MAX`].
pub fn settle_rated_order(
    price: Decimal,
    stars: Stars,
    standing: &TechnicianStanding,
    rules: &RuleSet,
) -> Result<RatingSettlement, SettleError> {
    check_price(price)?;
    let outcome = match rules.outcome_for_stars(stars) {
        StarOutcome::Settle(rates) => {
            let commission_rate = rates.rate(standing.tier);
            let (technician_share, commission) = split(price, commission_rate);
            RatingOutcome::Settle { technician_share, commission, commission_rate }
        }
        StarOutcome::Dispute => RatingOutcome::Dispute,
    };
    let held_for_review = matches!(outcome, RatingOutcome::Settle { .. }) && standing.below_review_floor;
    Ok(RatingSettlement { outcome, held_for_review, rules_version: rules.version().to_string() })
}

/// Settles an order whose rating window ran out, with the rule table's auto-rated stars (which the
/// table guarantees settle, never dispute).
pub fn settle_auto_rated_order(
    price: Decimal,
    standing: &TechnicianStanding,
    rules: &RuleSet,
) -> Result<RatingSettlement, SettleError> {
    settle_rated_order(price, rules.auto_rated_stars(), standing, rules)
}

/// Resolves a dispute on an order of `price`.
///
/// Rejections: `invalid_amount` for a price or a partial refund that is not positive whole fen;
/// `refund_exceeds_price` for a partial refund of the whole price or more (refund all with
/// [`Resolution::FullRefund`]).
pub fn resolve_dispute(
    price: Decimal,
    resolution: Resolution,
    standing: &TechnicianStanding,
    rules: &RuleSet,
) -> Result<DisputeOutcome, SettleError> {
    check_price(price)?;
    let commission_rate = rules.spec().resolved_dispute_rates.rate(standing.tier);
    let refund_to_customer = match resolution {
        Resolution::PayInFull => Decimal::ZERO,
        Resolution::FullRefund => price,
        Resolution::PartialRefund { amount } => {
            check_positive_amount(amount).map_err(|problem| SettleError::InvalidAmount {
                field: "refund_amount",
                amount,
                problem,
            })?;
            if amount >= price {
                return Err(SettleError::RefundExceedsPrice { refund: amount, price: with_fen_scale(price) });
            }
            amount
        }
    };
    let (technician_share, commission) = split(price - refund_to_customer, commission_rate);
    Ok(DisputeOutcome {
        refund_to_customer: with_fen_scale(refund_to_customer),
        technician_share,
        commission,
        commission_rate,
        held_for_review: technician_share > Decimal::ZERO && standing.below_review_floor,
        rules_version: rules.version().to_string(),
    })
}

/// What a refund of `refund` after the payout takes back from an order whose technician was paid
/// `technician_share` and whose commission was `commission`, when `refunded_before` had already been
/// refunded after the payout.
///
/// Running totals: after refunds totalling `R` of the paid `T = share + commission`, the commission
/// has given back `round_half_up_to_fen(commission × R / T)` in all (exactly `commission` at
/// `R = T`), and the technician the rest of `R`. This refund takes the step from `refunded_before`
/// to `refunded_before + refund`. Both running totals only grow with `R` (the commission's by at
/// most the refund, since `commission ≤ T`), so no step is negative; and since
/// `commission × R / T ≥ R − share`, the technician never gives back more than their share, nor the
/// commission more than itself.
///
/// Rejections: `invalid_amount` (a negative or sub-fen amount, a refund that is not positive),
/// `refund_exceeds_paid` when the refunds would exceed what was paid out.
pub fn reverse_after_payout(
    technician_share: Decimal,
    commission: Decimal,
    refunded_before: Decimal,
    refund: Decimal,
) -> Result<Reversal, SettleError> {
    let invalid = |field: &'static str, amount: Decimal| {
        move |problem: AmountProblem| SettleError::InvalidAmount { field, amount, problem }
    };
    check_non_negative_amount(technician_share).map_err(invalid("technician_share", technician_share))?;
    check_non_negative_amount(commission).map_err(invalid("commission", commission))?;
    check_non_negative_amount(refunded_before).map_err(invalid("refunded_before", refunded_before))?;
    check_positive_amount(refund).map_err(invalid("refund", refund))?;
    let paid = technician_share + commission;
    let refunded_after = refunded_before + refund;
    if refunded_after > paid {
        return Err(SettleError::RefundExceedsPaid {
            refund,
            refundable: with_fen_scale((paid - refunded_before).max(Decimal::ZERO)),
        });
    }
    let commission_returned = |refunded: Decimal| {
        if refunded == paid {
            commission
        } else {
            // Exact enough: as in `fees::fee_to_return`, the quotient keeps at least 20 decimals
            // while an exact one that is not half a fen lies at least 5e-10 fen from one.
            round_half_up_to_fen(commission * refunded / paid)
        }
    };
    // `paid` is positive here: refunded_after ≥ refund > 0 and refunded_after ≤ paid.
    let from_commission = commission_returned(refunded_after) - commission_returned(refunded_before);
    Ok(Reversal {
        from_technician: with_fen_scale(refund - from_commission),
        from_commission: with_fen_scale(from_commission),
    })
}

/// A settlement computation was refused. A business rejection, not a fault:
/// [`SettleError::code`] is the stable machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettleError {
    /// Code `invalid_amount`.
    #[error("invalid {field} {amount}: {problem}")]
    InvalidAmount {
        /// Which input: `price`, `refund_amount`, `technician_share`, `commission`,
        /// `refunded_before` or `refund`.
        field: &'static str,
        /// The amount as given.
        amount: Decimal,
        /// What is wrong with it.
        problem: AmountProblem,
    },
    /// Code `refund_exceeds_price`.
    #[error("a partial refund of {refund} must be below the price {price}")]
    RefundExceedsPrice {
        /// The refund asked for.
        refund: Decimal,
        /// The order's price.
        price: Decimal,
    },
    /// Code `refund_exceeds_paid`.
    #[error("refund of {refund} exceeds the {refundable} paid out and not yet refunded")]
    RefundExceedsPaid {
        /// The refund asked for.
        refund: Decimal,
        /// What was left to refund.
        refundable: Decimal,
    },
}

impl SettleError {
    /// The stable machine-readable code of the rejection.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            SettleError::InvalidAmount { .. } => "invalid_amount",
            SettleError::RefundExceedsPrice { .. } => "refund_exceeds_price",
            SettleError::RefundExceedsPaid { .. } => "refund_exceeds_paid",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{RuleBook, Tier};
    use rust_decimal_macros::dec;

    fn rules() -> RuleSet {
        RuleBook::shipped().expect("valid").versions()[0].clone()
    }

    fn standing(tier: Tier, below_review_floor: bool) -> TechnicianStanding {
        TechnicianStanding { tier, average: None, rated_jobs: 20, below_review_floor }
    }

    #[test]
    fn settle_rated_order_table() {
        fn check(price: &str, stars: u8, tier: Tier, expected: Result<Option<(&str, &str, &str)>, &str>) {
            let price: Decimal = price.parse().expect("decimal");
            let stars = Stars::new(stars).expect("valid");
            let actual = settle_rated_order(price, stars, &standing(tier, false), &rules())
                .map(|settlement| match settlement.outcome {
                    RatingOutcome::Settle { technician_share, commission, commission_rate } => {
                        Some((technician_share.to_string(), commission.to_string(), commission_rate.to_string()))
                    }
                    RatingOutcome::Dispute => None,
                })
                .map_err(|error| error.code());
            let expected = expected.map(|split| split.map(|(a, b, c)| (a.into(), b.into(), c.into())));
            assert_eq!(actual, expected, "{price} at {stars:?} {tier:?}");
        }
        check("200.00", 5, Tier::Standard, Ok(Some(("170.00", "30.00", "0.15"))));
        check("200.00", 4, Tier::Silver, Ok(Some(("176.00", "24.00", "0.12"))));
        check("200.00", 5, Tier::Gold, Ok(Some(("180.00", "20.00", "0.10"))));
        check("200.00", 3, Tier::Gold, Ok(Some(("150.00", "50.00", "0.25"))));
        check("200.00", 2, Tier::Gold, Ok(None));
        check("200.00", 1, Tier::Standard, Ok(None));
        check("99.90", 5, Tier::Standard, Ok(Some(("84.91", "14.99", "0.15")))); // 14.985 rounds up
        check("0.01", 5, Tier::Standard, Ok(Some(("0.01", "0.00", "0.15"))));
        check("0.10", 3, Tier::Standard, Ok(Some(("0.07", "0.03", "0.25")))); // 0.025 rounds up
        check("33.33", 4, Tier::Silver, Ok(Some(("29.33", "4.00", "0.12")))); // 3.9996
        check("0", 5, Tier::Gold, Err("invalid_amount"));
        check("-1", 5, Tier::Gold, Err("invalid_amount"));
        check("1.001", 5, Tier::Gold, Err("invalid_amount"));
    }

    #[test]
    fn review_hold_and_auto_rating() {
        let rules = rules();
        let held = settle_rated_order(dec!(100), Stars::MAX, &standing(Tier::Standard, true), &rules).expect("ok");
        assert!(held.held_for_review);
        assert_eq!(held.rules_version, "technician-rules-v1");
        let dispute =
            settle_rated_order(dec!(100), Stars::new(1).expect("valid"), &standing(Tier::Standard, true), &rules);
        assert!(!dispute.expect("ok").held_for_review); // nothing to hold yet
        let auto = settle_auto_rated_order(dec!(100), &standing(Tier::Gold, false), &rules).expect("ok");
        assert_eq!(
            auto.outcome,
            RatingOutcome::Settle {
                technician_share: dec!(90.00),
                commission: dec!(10.00),
                commission_rate: dec!(0.10)
            }
        );
        let json = serde_json::to_string(&auto).expect("serializes");
        assert_eq!(
            json,
            r#"{"outcome":"settle","technician_share":"90.00","commission":"10.00","commission_rate":"0.10","held_for_review":false,"rules_version":"technician-rules-v1"}"#
        );
    }

    #[test]
    fn resolve_dispute_table() {
        fn check(price: &str, resolution: Resolution, tier: Tier, expected: Result<(&str, &str, &str), &str>) {
            let price: Decimal = price.parse().expect("decimal");
            let actual = resolve_dispute(price, resolution, &standing(tier, false), &rules())
                .map(|outcome| {
                    assert_eq!(outcome.refund_to_customer + outcome.technician_share + outcome.commission, price);
                    (
                        outcome.refund_to_customer.to_string(),
                        outcome.technician_share.to_string(),
                        outcome.commission.to_string(),
                    )
                })
                .map_err(|error| error.code());
            let expected = expected.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
            assert_eq!(actual, expected, "{price} {resolution:?}");
        }
        let partial = |amount: Decimal| Resolution::PartialRefund { amount };
        check("200.00", Resolution::PayInFull, Tier::Standard, Ok(("0.00", "170.00", "30.00")));
        check("200.00", Resolution::PayInFull, Tier::Gold, Ok(("0.00", "180.00", "20.00")));
        check("200.00", Resolution::FullRefund, Tier::Gold, Ok(("200.00", "0.00", "0.00")));
        check("200.00", partial(dec!(50)), Tier::Silver, Ok(("50.00", "132.00", "18.00")));
        check("10.00", partial(dec!(9.99)), Tier::Standard, Ok(("9.99", "0.01", "0.00")));
        check("10.00", partial(dec!(6.70)), Tier::Standard, Ok(("6.70", "2.80", "0.50"))); // 0.495 up
        check("200.00", partial(dec!(200)), Tier::Gold, Err("refund_exceeds_price"));
        check("200.00", partial(dec!(200.01)), Tier::Gold, Err("refund_exceeds_price"));
        check("200.00", partial(dec!(0)), Tier::Gold, Err("invalid_amount"));
        check("200.00", partial(dec!(-5)), Tier::Gold, Err("invalid_amount"));
        check("200.00", partial(dec!(0.001)), Tier::Gold, Err("invalid_amount"));
        check("0", Resolution::PayInFull, Tier::Gold, Err("invalid_amount"));
    }

    #[test]
    fn reverse_after_payout_table() {
        fn check(paid: (&str, &str), refunded_before: &str, refund: &str, expected: Result<(&str, &str), &str>) {
            let parse = |text: &str| text.parse::<Decimal>().expect("decimal");
            let actual = reverse_after_payout(parse(paid.0), parse(paid.1), parse(refunded_before), parse(refund))
                .map(|reversal| (reversal.from_technician.to_string(), reversal.from_commission.to_string()))
                .map_err(|error| error.code());
            let expected = expected.map(|(a, b)| (a.to_string(), b.to_string()));
            assert_eq!(actual, expected, "{paid:?} {refunded_before} {refund}");
        }
        check(("170.00", "30.00"), "0", "200.00", Ok(("170.00", "30.00")));
        check(("170.00", "30.00"), "0", "100.00", Ok(("85.00", "15.00")));
        check(("170.00", "30.00"), "100.00", "100.00", Ok(("85.00", "15.00")));
        check(("0.07", "0.03"), "0", "0.05", Ok(("0.03", "0.02"))); // 0.015 rounds up
        check(("0.07", "0.03"), "0.05", "0.05", Ok(("0.04", "0.01"))); // and the total is still 0.03
        check(("0.01", "0.00"), "0", "0.01", Ok(("0.01", "0.00")));
        check(("0.00", "0.01"), "0", "0.01", Ok(("0.00", "0.01")));
        check(("170.00", "30.00"), "0", "200.01", Err("refund_exceeds_paid"));
        check(("170.00", "30.00"), "150", "50.01", Err("refund_exceeds_paid"));
        check(("0", "0"), "0", "0.01", Err("refund_exceeds_paid"));
        check(("170.00", "30.00"), "0", "0", Err("invalid_amount"));
        check(("170.00", "-30.00"), "0", "1", Err("invalid_amount"));
        check(("170.00", "30.00"), "0", "0.001", Err("invalid_amount"));
    }
}
