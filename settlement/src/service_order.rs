//! A technician service order's life, as a state machine over plain values.
//!
//! ```text
//! booked ──accept──▶ accepted ──complete──▶ completed ──rate 3–5──▶ rated ──────┐
//!   │                                          │  └────auto_rate──▶ auto_rated ─┤settle
//!   cancel                                     └─rate 1–2─▶ disputed            ▼
//!   ▼                                                  │ resolve ─────────▶ settled ──pay_out──▶ paid_out
//! cancelled                                            └ resolve (full refund) ─▶ refunded
//! ```
//!
//! * `booked`: the quoted price is held on the customer's wallet (escrow). Only a booked order can
//!   be cancelled, which releases the hold: once the technician has accepted, the customer must
//!   go through completion and rating (and a dispute, if the job was bad).
//! * `rated` / `auto_rated`: the customer rated 3–5 stars within the rating window, or did not rate
//!   at all and the window ran out ([`auto_rate_due`]). Both settle by the rule table.
//! * `disputed`: 1–2 stars. Finance resolves it: pay in full, refund part (both end `settled`) or
//!   refund all (`refunded`, nothing to pay out).
//! * `settled` → `paid_out`: the technician's share was included in a payout batch. A refund after
//!   the payout does not change the status; it is a reversal
//!   ([`crate::rating_settlement::reverse_after_payout`]).
//!
//! Which stars open a dispute is rule-table data ([`crate::rules::RuleSet::outcome_for_stars`]), so
//! the transition on a rating takes the rule set's answer, not a hard-coded threshold.
//!
//! Time is an argument: the rating window functions take `completed_at` and `now` in Unix seconds.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The most stars a rating gives.
pub const STARS_MAX: u8 = 5;

/// The fewest stars a rating gives.
pub const STARS_MIN: u8 = 1;

/// Longest rating window accepted: 30 days. Customers forget a job long before; a longer window
/// would only keep technicians waiting for their money.
pub const RATING_WINDOW_SECONDS_MAX: i64 = 30 * 24 * 60 * 60;

/// A rating: 1 to 5 stars, checked when made, so every `Stars` in hand is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Stars(u8);

impl Stars {
    /// Five stars, the best rating.
    pub const MAX: Stars = Stars(STARS_MAX);

    /// Accepts 1 to 5 stars; anything else is `invalid_stars`.
    pub fn new(stars: u8) -> Result<Stars, OrderError> {
        if (STARS_MIN..=STARS_MAX).contains(&stars) {
            Ok(Stars(stars))
        } else {
            Err(OrderError::InvalidStars { stars })
        }
    }

    /// The number of stars, 1 to 5.
    #[must_use]
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Stars {
    type Error = OrderError;

    fn try_from(stars: u8) -> Result<Stars, OrderError> {
        Stars::new(stars)
    }
}

impl From<Stars> for u8 {
    fn from(stars: Stars) -> u8 {
        stars.0
    }
}

/// Where a service order stands. Serialized in snake_case (`auto_rated`, `paid_out`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Booked at a quoted price, which is held on the customer's wallet.
    Booked,
    /// The technician accepted the job.
    Accepted,
    /// The technician completed the job; the rating window is open.
    Completed,
    /// The customer rated the job with stars that settle it.
    Rated,
    /// The rating window ran out without a rating; settled with the rule table's default stars.
    AutoRated,
    /// The customer rated the job with stars that open a dispute; finance resolves it.
    Disputed,
    /// The technician's share and the commission are fixed; waiting for a payout batch.
    Settled,
    /// The technician's share was paid in a payout batch.
    PaidOut,
    /// Cancelled while booked; the hold was released. Final.
    Cancelled,
    /// A dispute resolved by refunding the whole price. Final.
    Refunded,
}

impl OrderStatus {
    /// Whether no action leads anywhere from here.
    #[must_use]
    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::PaidOut | OrderStatus::Cancelled | OrderStatus::Refunded)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            OrderStatus::Booked => "booked",
            OrderStatus::Accepted => "accepted",
            OrderStatus::Completed => "completed",
            OrderStatus::Rated => "rated",
            OrderStatus::AutoRated => "auto_rated",
            OrderStatus::Disputed => "disputed",
            OrderStatus::Settled => "settled",
            OrderStatus::PaidOut => "paid_out",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
        })
    }
}

/// Something that happens to an order. Serialized with a `type` tag in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OrderAction {
    /// The technician takes the job.
    Accept,
    /// The technician reports the job done.
    Complete,
    /// The customer rates the job. `opens_dispute` is the rule table's verdict on the stars
    /// ([`crate::rules::RuleSet::outcome_for_stars`]).
    Rate {
        /// The rating.
        stars: Stars,
        /// Whether the rule table sends these stars to a dispute.
        opens_dispute: bool,
    },
    /// The rating window ran out without a rating.
    AutoRate,
    /// The customer cancels before the technician accepted.
    Cancel,
    /// The rating is turned into a technician share and a commission.
    Settle,
    /// Finance resolves a dispute; `full_refund` when the whole price goes back to the customer.
    ResolveDispute {
        /// Whether the resolution refunds the whole price.
        full_refund: bool,
    },
    /// The order's share was included in a payout batch.
    PayOut,
}

impl fmt::Display for OrderAction {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            OrderAction::Accept => "accept",
            OrderAction::Complete => "complete",
            OrderAction::Rate { .. } => "rate",
            OrderAction::AutoRate => "auto_rate",
            OrderAction::Cancel => "cancel",
            OrderAction::Settle => "settle",
            OrderAction::ResolveDispute { .. } => "resolve_dispute",
            OrderAction::PayOut => "pay_out",
        })
    }
}

/// The status an action leads to from `current`, or `invalid_transition`.
///
/// The rating window is not checked here (the status alone cannot say whether it is open): check
/// it with [`rating_window_open`] before a [`OrderAction::Rate`] and [`auto_rate_due`] before an
/// [`OrderAction::AutoRate`].
pub fn next_status(current: OrderStatus, action: OrderAction) -> Result<OrderStatus, OrderError> {
    use OrderAction as A;
    use OrderStatus as S;
    let next = match (current, action) {
        (S::Booked, A::Accept) => S::Accepted,
        (S::Booked, A::Cancel) => S::Cancelled,
        (S::Accepted, A::Complete) => S::Completed,
        (S::Completed, A::Rate { opens_dispute: false, .. }) => S::Rated,
        (S::Completed, A::Rate { opens_dispute: true, .. }) => S::Disputed,
        (S::Completed, A::AutoRate) => S::AutoRated,
        (S::Rated | S::AutoRated, A::Settle) => S::Settled,
        (S::Disputed, A::ResolveDispute { full_refund: false }) => S::Settled,
        (S::Disputed, A::ResolveDispute { full_refund: true }) => S::Refunded,
        (S::Settled, A::PayOut) => S::PaidOut,
        (from, action) => return Err(OrderError::InvalidTransition { from, action }),
    };
    Ok(next)
}

/// Checks a rating window's length: positive and at most [`RATING_WINDOW_SECONDS_MAX`].
pub fn check_rating_window(window_seconds: i64) -> Result<(), OrderError> {
    if window_seconds > 0 && window_seconds <= RATING_WINDOW_SECONDS_MAX {
        Ok(())
    } else {
        Err(OrderError::InvalidRatingWindow { window_seconds })
    }
}

/// Whether the customer may still rate: from the completion (inclusive) up to `window_seconds`
/// after it (exclusive). The two windows meet without a gap or an overlap: at every instant after
/// the completion exactly one of [`rating_window_open`] and [`auto_rate_due`] holds.
#[must_use]
pub fn rating_window_open(completed_at: i64, now: i64, window_seconds: i64) -> bool {
    completed_at <= now && now < completed_at.saturating_add(window_seconds)
}

/// Whether the rating window has run out without a rating, so the order is to be auto-rated.
#[must_use]
pub fn auto_rate_due(completed_at: i64, now: i64, window_seconds: i64) -> bool {
    now >= completed_at.saturating_add(window_seconds)
}

/// The status a rating leads to, with every check in one place: the window length is valid
/// (`invalid_rating_window`), the order is completed (`invalid_transition`), the window is open
/// (`rating_window_closed`).
pub fn rate(
    current: OrderStatus,
    stars: Stars,
    opens_dispute: bool,
    completed_at: i64,
    now: i64,
    window_seconds: i64,
) -> Result<OrderStatus, OrderError> {
    check_rating_window(window_seconds)?;
    let next = next_status(current, OrderAction::Rate { stars, opens_dispute })?;
    if !rating_window_open(completed_at, now, window_seconds) {
        return Err(OrderError::RatingWindowClosed { completed_at, now, window_seconds });
    }
    Ok(next)
}

/// An order action was refused. A business rejection, not a fault: [`OrderError::code`] is the
/// stable machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// Code `invalid_transition`.
    #[error("cannot {action} an order that is {from}")]
    InvalidTransition {
        /// Where the order stood.
        from: OrderStatus,
        /// What was attempted.
        action: OrderAction,
    },
    /// Code `invalid_stars`.
    #[error("a rating is {STARS_MIN} to {STARS_MAX} stars, not {stars}")]
    InvalidStars {
        /// The stars as given.
        stars: u8,
    },
    /// Code `invalid_rating_window`.
    #[error("a rating window is 1 to {RATING_WINDOW_SECONDS_MAX} seconds, not {window_seconds}")]
    InvalidRatingWindow {
        /// The window as given.
        window_seconds: i64,
    },
    /// Code `rating_window_closed`.
    #[error("the rating window of {window_seconds} s after completion at {completed_at} is not open at {now}")]
    RatingWindowClosed {
        /// When the order was completed.
        completed_at: i64,
        /// When the rating came.
        now: i64,
        /// The window's length.
        window_seconds: i64,
    },
}

impl OrderError {
    /// The stable machine-readable code of the rejection.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            OrderError::InvalidTransition { .. } => "invalid_transition",
            OrderError::InvalidStars { .. } => "invalid_stars",
            OrderError::InvalidRatingWindow { .. } => "invalid_rating_window",
            OrderError::RatingWindowClosed { .. } => "rating_window_closed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stars(count: u8) -> Stars {
        Stars::new(count).expect("test stars are valid")
    }

    #[test]
    fn transitions_table() {
        use OrderAction as A;
        use OrderStatus as S;
        fn check(from: OrderStatus, action: OrderAction, expected: Result<OrderStatus, &str>) {
            let actual = next_status(from, action).map_err(|error| error.code());
            assert_eq!(actual, expected, "{from} --{action}-->");
        }
        let good = A::Rate { stars: stars(5), opens_dispute: false };
        let bad = A::Rate { stars: stars(1), opens_dispute: true };
        check(S::Booked, A::Accept, Ok(S::Accepted));
        check(S::Booked, A::Cancel, Ok(S::Cancelled));
        check(S::Accepted, A::Complete, Ok(S::Completed));
        check(S::Completed, good, Ok(S::Rated));
        check(S::Completed, bad, Ok(S::Disputed));
        check(S::Completed, A::AutoRate, Ok(S::AutoRated));
        check(S::Rated, A::Settle, Ok(S::Settled));
        check(S::AutoRated, A::Settle, Ok(S::Settled));
        check(S::Disputed, A::ResolveDispute { full_refund: false }, Ok(S::Settled));
        check(S::Disputed, A::ResolveDispute { full_refund: true }, Ok(S::Refunded));
        check(S::Settled, A::PayOut, Ok(S::PaidOut));

        // Cancelling is for booked orders only: the hold is released before any work is done.
        check(S::Accepted, A::Cancel, Err("invalid_transition"));
        check(S::Completed, A::Cancel, Err("invalid_transition"));
        // Rating only after completion, once.
        check(S::Booked, good, Err("invalid_transition"));
        check(S::Accepted, good, Err("invalid_transition"));
        check(S::Rated, good, Err("invalid_transition"));
        check(S::AutoRated, bad, Err("invalid_transition"));
        // A dispute is resolved, never settled by the rule table.
        check(S::Disputed, A::Settle, Err("invalid_transition"));
        check(S::Rated, A::ResolveDispute { full_refund: false }, Err("invalid_transition"));
        // Nothing is settled or paid twice.
        check(S::Settled, A::Settle, Err("invalid_transition"));
        check(S::PaidOut, A::PayOut, Err("invalid_transition"));
        check(S::Completed, A::PayOut, Err("invalid_transition"));
        check(S::Booked, A::Complete, Err("invalid_transition"));
    }

    #[test]
    fn final_statuses_lead_nowhere() {
        use OrderAction as A;
        let actions = [
            A::Accept,
            A::Complete,
            A::Rate { stars: stars(4), opens_dispute: false },
            A::AutoRate,
            A::Cancel,
            A::Settle,
            A::ResolveDispute { full_refund: true },
            A::PayOut,
        ];
        for status in [OrderStatus::PaidOut, OrderStatus::Cancelled, OrderStatus::Refunded] {
            assert!(status.is_final());
            for action in actions {
                assert_eq!(next_status(status, action).map_err(|error| error.code()), Err("invalid_transition"));
            }
        }
    }

    #[test]
    fn stars_are_one_to_five() {
        for count in 0..=u8::MAX {
            let expected = (1..=5).contains(&count);
            assert_eq!(Stars::new(count).is_ok(), expected, "{count}");
        }
        assert_eq!(Stars::new(0).map_err(|error| error.code()), Err("invalid_stars"));
        assert_eq!(Stars::new(6).map_err(|error| error.to_string()), Err("a rating is 1 to 5 stars, not 6".into()));
        assert_eq!(serde_json::from_str::<Stars>("4").ok(), Some(stars(4)));
        assert!(serde_json::from_str::<Stars>("6").is_err());
    }

    #[test]
    fn statuses_serialize_in_snake_case() {
        assert_eq!(serde_json::to_string(&OrderStatus::AutoRated).ok().as_deref(), Some("\"auto_rated\""));
        assert_eq!(serde_json::to_string(&OrderStatus::PaidOut).ok().as_deref(), Some("\"paid_out\""));
        for status in [OrderStatus::Booked, OrderStatus::Disputed, OrderStatus::Refunded, OrderStatus::Settled] {
            let json = serde_json::to_string(&status).expect("serializes");
            assert_eq!(json, format!("\"{status}\""));
            assert_eq!(serde_json::from_str::<OrderStatus>(&json).ok(), Some(status));
        }
        let action = OrderAction::Rate { stars: stars(3), opens_dispute: false };
        let json = serde_json::to_string(&action).expect("serializes");
        assert_eq!(json, r#"{"type":"rate","stars":3,"opens_dispute":false}"#);
    }

    #[test]
    fn rating_window_and_auto_rating_meet_exactly() {
        const WINDOW: i64 = 7 * 86_400;
        let completed_at = 1_700_000_000;
        fn check(now: i64, open: bool, due: bool) {
            let completed_at = 1_700_000_000;
            assert_eq!(rating_window_open(completed_at, now, WINDOW), open, "open at {now}");
            assert_eq!(auto_rate_due(completed_at, now, WINDOW), due, "due at {now}");
        }
        check(completed_at - 1, false, false); // before completion: neither
        check(completed_at, true, false);
        check(completed_at + WINDOW - 1, true, false); // last second of the window
        check(completed_at + WINDOW, false, true); // the window has run out
        check(i64::MAX, false, true);
        // No overflow at the far end.
        assert!(rating_window_open(i64::MAX - 1, i64::MAX - 1, WINDOW));
    }

    #[test]
    fn rate_checks_everything() {
        const WINDOW: i64 = 86_400;
        let completed_at = 1_000;
        fn check(current: OrderStatus, now: i64, window: i64, expected: Result<OrderStatus, &str>) {
            let actual = rate(current, stars(2), true, 1_000, now, window).map_err(|error| error.code());
            assert_eq!(actual, expected, "{current} at {now}");
        }
        check(OrderStatus::Completed, completed_at, WINDOW, Ok(OrderStatus::Disputed));
        check(OrderStatus::Completed, completed_at + WINDOW, WINDOW, Err("rating_window_closed"));
        check(OrderStatus::Completed, completed_at - 1, WINDOW, Err("rating_window_closed"));
        check(OrderStatus::Accepted, completed_at, WINDOW, Err("invalid_transition"));
        check(OrderStatus::Completed, completed_at, 0, Err("invalid_rating_window"));
        check(OrderStatus::Completed, completed_at, RATING_WINDOW_SECONDS_MAX, Ok(OrderStatus::Disputed));
        check(OrderStatus::Completed, completed_at, RATING_WINDOW_SECONDS_MAX + 1, Err("invalid_rating_window"));
    }
}
