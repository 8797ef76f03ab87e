//! Settlement rules for the gas wallet: what a merchant is charged and paid, and on which day; what a
//! technician earns for a rated job; and whether a channel's statement agrees with the ledger.
//!
//! The crate is the functional core of settlement. Every function is pure: times and ids are
//! arguments, nothing reads a clock, draws a random number or touches storage. Posting the
//! resulting entries to the ledger, and fetching the lines to settle, is the caller's job.
//!
//! Money is `rust_decimal::Decimal` yuan with at most two decimal places (whole fen), never a
//! float. Amounts with finer fractions are rejected, not rounded; the one place that rounds money
//! is [`money::round_half_up_to_fen`], used for fees, commissions and proportional reversals. Splits
//! round one part and take the other as the remainder, so the parts always add up exactly.
//!
//! Layout, from the bottom up:
//! * [`money`]: what a valid amount is, its bounds, and the half-up-to-the-fen rounding rule.
//! * [`timestamps`]: reading RFC 3339 and Beijing wall-clock times into Unix seconds.
//! * [`fees`]: the fee rate, the per-order fee, and the share of it a refund gives back.
//! * [`business_day`]: the settlement day, cut at 00:00 Beijing time (UTC+8), with the calendar
//!   arithmetic to go from Unix seconds to a day and back.
//! * [`merchant`]: one merchant's settlement line for one business day (gross, refunds, fees
//!   charged and returned, net) and the payout after carrying earlier deficits.
//! * [`service_order`]: the technician order's state machine (booked → … → paid out), stars and
//!   the rating window.
//! * [`rules`]: the versioned technician rule table, JSON data with a shipped default
//!   (`rules/technician-rules-v1.json`), validated (commission cap 30 %), chosen by effective date.
//! * [`technician_tier`]: a technician's rolling average, tier and review hold at a moment, from
//!   earlier ratings only (prospective, never retroactive).
//! * [`rating_settlement`]: a rated order's technician share and commission, dispute resolutions,
//!   and the proportional reversal of a refund after payout.
//! * [`payout`]: technician payout batches (per-technician net, holds, clawbacks, no double payment).
//! * [`reports`]: CSV reports of a payout batch and of merchant settlement lines.
//! * [`reconciliation`]: channel statement parsers (generic CSV, WeChat Pay, Alipay GBK), the
//!   matcher (长款, 短款, mismatches) and break resolutions as entries.
//!
//! Rejections are values, not faults: each module has an error enum whose `code()` is a stable
//! machine-readable string (`invalid_amount`, `invalid_transition`, `commission_above_cap`,
//! `statement_malformed`, …).

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
