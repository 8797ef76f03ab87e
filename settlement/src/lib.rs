//! Settlement rules for the gas wallet: what a merchant is charged and paid, and on which day.
//!
//! The crate is the functional core of settlement. Every function is pure: times and ids are
//! arguments, nothing reads a clock, draws a random number or touches storage. Posting the
//! resulting entries to the ledger, and fetching the lines to settle, is the caller's job.
//!
//! Money is `rust_decimal::Decimal` yuan with at most two decimal places (whole fen), never a
//! float. Amounts with finer fractions are rejected, not rounded; the one place that rounds is
//! [`money::round_half_up_to_fen`], used for fees.
//!
//! Layout, from the bottom up:
//! * [`money`]: what a valid amount is, its bounds, and the half-up-to-the-fen rounding rule.
//! * [`fees`]: the fee rate, the per-order fee, and the share of it a refund gives back.
//! * [`business_day`]: the settlement day, cut at 00:00 Beijing time (UTC+8), with the calendar
//!   arithmetic to go from Unix seconds to a day and back.
//! * [`merchant`]: one merchant's settlement line for one business day (gross, refunds, fees
//!   charged and returned, net) and the payout after carrying earlier deficits.
//!
//! Rejections are values, not faults: each module has an error enum whose `code()` is a stable
//! machine-readable string (`invalid_amount`, `refund_exceeds_payment`, `line_outside_day`, …).
//! Technician payouts and channel reconciliation will join this crate as further modules.

pub mod business_day;
pub mod fees;
pub mod merchant;
pub mod money;
pub mod payout;
pub mod rating_settlement;
pub mod reconciliation;
pub mod reports;
pub mod rules;
pub mod service_order;
pub mod technician_tier;
pub mod timestamps;
