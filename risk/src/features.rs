//! A customer's scoring features, from plain facts of its ledger and meter history.
//!
//! Two ways to the same [`CustomerFeatures`]:
//!
//! - **In bulk**: [`features_from_history`] reads a whole [`CustomerHistory`] and the time the
//!   features are wanted for (`as_of`). Facts after `as_of` are ignored, so one history can be
//!   scored at several points in time (the model fit does exactly that).
//! - **Incrementally**: a [`FeatureAccumulator`] is fed [`HistoryEvent`]s one at a time, in time
//!   order, as the service sees them, and answers [`FeatureAccumulator::features`] at any `as_of`
//!   not before its latest event. It keeps only what a future window can still see, so its state
//!   stays bounded by the window, not by the customer's age.
//!
//! Both give identical features, bit for bit (a property test holds them to it): the windows are
//! applied the same way and the statistics are computed by the same functions over the same
//! values in the same order.
//!
//! # Definitions
//!
//! Times are milliseconds since the Unix epoch, supplied by the caller (no clock is read here).
//! A day is [`DAY_MS`]; a month is the average Gregorian month, [`MONTH_MS`] (30.436875 days).
//! The **feature window** is the last [`FEATURE_WINDOW_DAYS`] days: `(as_of − 365 d, as_of]`,
//! start exclusive, end inclusive, so that an event at `as_of` is seen. The **balance window** is
//! `(as_of − 90 d, as_of]`.
//!
//! | feature | definition | missing ("no history") when |
//! |---|---|---|
//! | `on_time_bill_share` | of the bills whose due time is in the feature window, the share paid at or before their due time (unpaid counts as late) | no bill fell due in the window |
//! | `max_days_in_arrears` | of the arrears episodes that overlap the window, the longest, from its start to its end (or to `as_of` if still open), in whole days rounded down | fewer than [`OBSERVED_DAYS_MIN`] days observed |
//! | `total_days_in_arrears` | time in arrears inside the window (episodes clipped to it), summed, in whole days rounded down | as above |
//! | `valve_closures_for_non_payment` | valve closures with reason non-payment in the window | as above |
//! | `balance_coverage_months` | mean of the balance samples in the balance window ÷ mean of the monthly gas spends closed in the feature window (negative when the mean balance is) | no balance sample in the balance window, or no spend in the window, or a mean spend of zero |
//! | `top_up_interval_cv` | coefficient of variation (population standard deviation ÷ mean) of the days between consecutive top-ups in the window | fewer than [`TOP_UPS_MIN`] top-ups in the window, or all at one instant |
//! | `tenure_months` | whole average months from `customer_since` to `as_of` (0 if after) | never |
//! | `disputes` | disputes opened in the window | never (0 is a fact) |
//! | `meter_tamper_flags` | tamper flags raised in the window | never |
//!
//! *Observed days* are the days of the window after the customer joined:
//! `as_of − max(customer_since, window start)`. A customer with less than a month of it has no
//! arrears record worth reading, and "no arrears" would flatter it: the missing bin is the honest
//! answer.
//!
//! Money (balances, spends) is [`Decimal`] CNY with at most two decimals; the coverage ratio is
//! computed exactly in `Decimal` (`Σ balance × m ÷ (Σ spend × n)`) and only then turned into an
//! `f64` statistic, so the order facts were summed in cannot change it.

use std::collections::{BTreeMap, VecDeque};

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use crate::scorecard::CustomerFeatures;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// Milliseconds in an average Gregorian month: 365.2425 days ÷ 12.
pub const MONTH_MS: i64 = 2_629_746_000;

/// Length of the feature window, in days.
pub const FEATURE_WINDOW_DAYS: i64 = 365;

/// Length of the balance window, in days.
pub const BALANCE_WINDOW_DAYS: i64 = 90;

/// Fewest observed days in the window for the arrears and closure features to be present.
pub const OBSERVED_DAYS_MIN: i64 = 30;

/// Fewest top-ups in the window for the top-up regularity to be present (two intervals).
pub const TOP_UPS_MIN: usize = 3;

/// Largest balance or spend magnitude accepted, in CNY: far above any household, and small
/// enough that sums over any realistic history cannot overflow a `Decimal`.
pub const AMOUNT_CNY_ABS_MAX: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

/// Most decimals of a CNY amount (fen).
pub const CNY_DECIMALS: u32 = 2;

/// Most facts of one kind a [`CustomerHistory`] may hold.
pub const HISTORY_FACTS_PER_KIND_MAX: usize = 1_000_000;

const FEATURE_WINDOW_MS: i64 = FEATURE_WINDOW_DAYS * DAY_MS;
const BALANCE_WINDOW_MS: i64 = BALANCE_WINDOW_DAYS * DAY_MS;
const OBSERVED_MS_MIN: i64 = OBSERVED_DAYS_MIN * DAY_MS;

/// Why a valve was closed. Only [`ValveCloseReason::NonPayment`] counts against credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValveCloseReason {
    /// Balance and credit exhausted.
    NonPayment,
    /// A leak or other safety alarm.
    Safety,
    /// Maintenance or meter replacement.
    Maintenance,
    /// Suspected tamper.
    Tamper,
}

/// A bill: when it was issued, when it fell due, when (if ever) it was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillFact {
    /// Caller's id, unique within the customer.
    pub bill_id: u64,
    /// When the bill was issued; not after `due_at_unix_ms`.
    pub issued_at_unix_ms: i64,
    /// When payment was due.
    pub due_at_unix_ms: i64,
    /// When it was paid in full, not before it was issued; `None` while unpaid.
    pub paid_at_unix_ms: Option<i64>,
}

/// A time the customer was in arrears: from `start` until `end` (exclusive), or still in arrears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrearsEpisode {
    /// When arrears began.
    pub start_unix_ms: i64,
    /// When they were cleared; `None` while still in arrears.
    pub end_unix_ms: Option<i64>,
}

/// A valve closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValveClosure {
    /// When the valve closed.
    pub at_unix_ms: i64,
    /// Why.
    pub reason: ValveCloseReason,
}

/// The wallet balance at one moment (negative when in arrears).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceSample {
    /// When the balance was read.
    pub at_unix_ms: i64,
    /// The balance, CNY, at most two decimals.
    pub balance_cny: Decimal,
}

/// The gas spend of one closed month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthlyGasSpend {
    /// When the month closed (its end); the spend belongs to windows containing this time.
    pub closed_at_unix_ms: i64,
    /// What the month's gas cost, CNY, non-negative, at most two decimals.
    pub spend_cny: Decimal,
}

/// Everything the features are computed from: plain facts, in any order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CustomerHistory {
    /// When the customer's account was opened.
    pub customer_since_unix_ms: i64,
    /// Bills, ids unique.
    pub bills: Vec<BillFact>,
    /// Arrears episodes, not overlapping; at most one still open, and it the latest.
    pub arrears_episodes: Vec<ArrearsEpisode>,
    /// Valve closures, for any reason.
    pub valve_closures: Vec<ValveClosure>,
    /// Balance samples (e.g. daily or weekly).
    pub balance_samples: Vec<BalanceSample>,
    /// Monthly gas spend.
    pub monthly_gas_spend: Vec<MonthlyGasSpend>,
    /// Times of top-ups.
    pub top_ups_unix_ms: Vec<i64>,
    /// Times disputes were opened.
    pub disputes_opened_unix_ms: Vec<i64>,
    /// Times meter tamper flags were raised.
    pub tamper_flags_unix_ms: Vec<i64>,
}

/// One fact as it happens, for the [`FeatureAccumulator`]. Each has a time ([`HistoryEvent::at_unix_ms`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum HistoryEvent {
    /// A bill was issued (at `issued_at_unix_ms`) and falls due at `due_at_unix_ms`.
    BillIssued {
        /// Caller's id of the bill.
        bill_id: u64,
        /// Event time.
        issued_at_unix_ms: i64,
        /// When payment is due; not before issue.
        due_at_unix_ms: i64,
    },
    /// A bill was paid in full. A payment of an unknown (or long-forgotten) bill is ignored; a
    /// second payment of one bill keeps the first.
    BillPaid {
        /// Caller's id of the bill.
        bill_id: u64,
        /// Event time.
        paid_at_unix_ms: i64,
    },
    /// The customer went into arrears.
    ArrearsStarted {
        /// Event time.
        at_unix_ms: i64,
    },
    /// The customer's arrears were cleared.
    ArrearsEnded {
        /// Event time.
        at_unix_ms: i64,
    },
    /// The valve was closed.
    ValveClosed {
        /// Event time.
        at_unix_ms: i64,
        /// Why.
        reason: ValveCloseReason,
    },
    /// The balance was sampled.
    BalanceSampled {
        /// Event time.
        at_unix_ms: i64,
        /// Balance, CNY.
        balance_cny: Decimal,
    },
    /// A month's gas spend closed.
    MonthlyGasSpendClosed {
        /// Event time.
        at_unix_ms: i64,
        /// Spend, CNY.
        spend_cny: Decimal,
    },
    /// The wallet was topped up.
    TopUp {
        /// Event time.
        at_unix_ms: i64,
    },
    /// A dispute was opened.
    DisputeOpened {
        /// Event time.
        at_unix_ms: i64,
    },
    /// A meter tamper flag was raised.
    TamperFlagged {
        /// Event time.
        at_unix_ms: i64,
    },
}

impl HistoryEvent {
    /// When the event happened.
    #[must_use]
    pub fn at_unix_ms(&self) -> i64 {
        match *self {
            HistoryEvent::BillIssued { issued_at_unix_ms, .. } => issued_at_unix_ms,
            HistoryEvent::BillPaid { paid_at_unix_ms, .. } => paid_at_unix_ms,
            HistoryEvent::ArrearsStarted { at_unix_ms }
            | HistoryEvent::ArrearsEnded { at_unix_ms }
            | HistoryEvent::ValveClosed { at_unix_ms, .. }
            | HistoryEvent::BalanceSampled { at_unix_ms, .. }
            | HistoryEvent::MonthlyGasSpendClosed { at_unix_ms, .. }
            | HistoryEvent::TopUp { at_unix_ms }
            | HistoryEvent::DisputeOpened { at_unix_ms }
            | HistoryEvent::TamperFlagged { at_unix_ms } => at_unix_ms,
        }
    }
}

/// Why a history, an event or a feature request was rejected. Each variant has a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FeatureError {
    /// An event is earlier than one already applied.
    #[error("event at {at_unix_ms} is before the latest applied event at {latest_unix_ms}")]
    EventOutOfOrder {
        /// The rejected event's time.
        at_unix_ms: i64,
        /// The latest applied event's time.
        latest_unix_ms: i64,
    },
    /// Features were asked for before the latest applied event.
    #[error("as_of {as_of_unix_ms} is before the latest applied event at {latest_unix_ms}")]
    AsOfBeforeLatestEvent {
        /// The requested time.
        as_of_unix_ms: i64,
        /// The latest applied event's time.
        latest_unix_ms: i64,
    },
    /// Arrears started while already in arrears, or episodes of a history overlap.
    #[error("arrears started while already in arrears")]
    ArrearsAlreadyOpen,
    /// Arrears ended while not in arrears, or an episode ends before it starts.
    #[error("arrears ended while not in arrears")]
    NoArrearsOpen,
    /// A bill falls due before it is issued, or is paid before it is issued.
    #[error("bill {bill_id} has times out of order")]
    BillTimesOutOfOrder {
        /// The bill.
        bill_id: u64,
    },
    /// A bill id is used twice.
    #[error("bill {bill_id} is issued twice")]
    DuplicateBill {
        /// The bill.
        bill_id: u64,
    },
    /// An amount has more than two decimals, is beyond [`AMOUNT_CNY_ABS_MAX`], or is a negative spend.
    #[error("amount {amount_cny} is not a valid CNY amount here")]
    InvalidAmount {
        /// The rejected amount.
        amount_cny: Decimal,
    },
    /// A history has more than [`HISTORY_FACTS_PER_KIND_MAX`] facts of one kind.
    #[error("more than {HISTORY_FACTS_PER_KIND_MAX} facts of one kind")]
    TooManyFacts,
    /// A sum overflowed; unreachable within the amount and fact limits, kept so arithmetic stays checked.
    #[error("arithmetic overflow computing features")]
    Overflow,
}

impl FeatureError {
    /// Stable, machine-readable code of the rejection.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            FeatureError::EventOutOfOrder { .. } => "event_out_of_order",
            FeatureError::AsOfBeforeLatestEvent { .. } => "as_of_before_latest_event",
            FeatureError::ArrearsAlreadyOpen => "arrears_already_open",
            FeatureError::NoArrearsOpen => "no_arrears_open",
            FeatureError::BillTimesOutOfOrder { .. } => "bill_times_out_of_order",
            FeatureError::DuplicateBill { .. } => "duplicate_bill",
            FeatureError::InvalidAmount { .. } => "invalid_amount",
            FeatureError::TooManyFacts => "too_many_facts",
            FeatureError::Overflow => "feature_overflow",
        }
    }
}

fn validate_amount(amount_cny: Decimal, allow_negative: bool) -> Result<Decimal, FeatureError> {
    let is_valid = amount_cny.abs() <= AMOUNT_CNY_ABS_MAX
        && amount_cny.normalize().scale() <= CNY_DECIMALS
        && (allow_negative || !amount_cny.is_sign_negative() || amount_cny.is_zero());
    if is_valid {
        Ok(amount_cny)
    } else {
        Err(FeatureError::InvalidAmount { amount_cny })
    }
}

/// The windows of one `as_of`.
#[derive(Debug, Clone, Copy)]
struct Windows {
    as_of: i64,
    /// Exclusive start of the feature window.
    start: i64,
    /// Exclusive start of the balance window.
    balance_start: i64,
}

impl Windows {
    fn new(as_of: i64) -> Windows {
        Windows {
            as_of,
            start: as_of.saturating_sub(FEATURE_WINDOW_MS),
            balance_start: as_of.saturating_sub(BALANCE_WINDOW_MS),
        }
    }

    fn in_window(&self, at: i64) -> bool {
        self.start < at && at <= self.as_of
    }

    fn in_balance_window(&self, at: i64) -> bool {
        self.balance_start < at && at <= self.as_of
    }

    fn observed_enough(&self, customer_since: i64) -> bool {
        let observed_from = customer_since.max(self.start);
        self.as_of.saturating_sub(observed_from) >= OBSERVED_MS_MIN
    }
}

fn whole_days(duration_ms: i64) -> u32 {
    u32::try_from(duration_ms.max(0) / DAY_MS).unwrap_or(u32::MAX)
}

/// Running totals of the arrears features over episodes given one by one.
#[derive(Debug, Default)]
struct ArrearsTotals {
    max_ms: i64,
    total_ms: i64,
}

impl ArrearsTotals {
    /// Adds an episode if it overlaps the window. `end` is already clipped to `as_of`.
    fn add(&mut self, windows: &Windows, start: i64, end: i64) {
        if start > windows.as_of || end <= windows.start {
            return;
        }
        self.max_ms = self.max_ms.max(end.saturating_sub(start));
        self.total_ms = self.total_ms.saturating_add(end.saturating_sub(start.max(windows.start)).max(0));
    }
}

/// Coefficient of variation of the gaps between consecutive times (ascending).
fn interval_cv(times_ascending: impl Iterator<Item = i64>) -> Option<f64> {
    let mut gaps_days: Vec<f64> = Vec::new();
    let mut previous: Option<i64> = None;
    for time in times_ascending {
        if let Some(previous) = previous {
            gaps_days.push(time.saturating_sub(previous) as f64 / DAY_MS as f64);
        }
        previous = Some(time);
    }
    if gaps_days.len() + 1 < TOP_UPS_MIN {
        return None;
    }
    let count = gaps_days.len() as f64;
    let mean = gaps_days.iter().sum::<f64>() / count;
    if mean <= 0.0 {
        return None;
    }
    let variance = gaps_days.iter().map(|gap| (gap - mean) * (gap - mean)).sum::<f64>() / count;
    Some(variance.sqrt() / mean)
}

/// `(Σ balance / n) / (Σ spend / m)`, exactly in `Decimal`, as an `f64`.
fn coverage(
    balance_sum: Decimal,
    balance_count: usize,
    spend_sum: Decimal,
    spend_count: usize,
) -> Result<Option<f64>, FeatureError> {
    if balance_count == 0 || spend_count == 0 || spend_sum <= Decimal::ZERO {
        return Ok(None);
    }
    let numerator = balance_sum.checked_mul(Decimal::from(spend_count)).ok_or(FeatureError::Overflow)?;
    let denominator = spend_sum.checked_mul(Decimal::from(balance_count)).ok_or(FeatureError::Overflow)?;
    let ratio = numerator.checked_div(denominator).ok_or(FeatureError::Overflow)?;
    Ok(ratio.to_f64())
}

fn tenure_months(customer_since: i64, as_of: i64) -> u32 {
    u32::try_from(as_of.saturating_sub(customer_since).max(0) / MONTH_MS).unwrap_or(u32::MAX)
}

fn count_u32(count: usize) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

fn checked_sum<'a>(mut amounts: impl Iterator<Item = &'a Decimal>) -> Result<Decimal, FeatureError> {
    amounts.try_fold(Decimal::ZERO, |sum, amount| sum.checked_add(*amount).ok_or(FeatureError::Overflow))
}

impl CustomerHistory {
    /// Checks the rules in the field documentation.
    pub fn validate(&self) -> Result<(), FeatureError> {
        let kind_lengths = [
            self.bills.len(),
            self.arrears_episodes.len(),
            self.valve_closures.len(),
            self.balance_samples.len(),
            self.monthly_gas_spend.len(),
            self.top_ups_unix_ms.len(),
            self.disputes_opened_unix_ms.len(),
            self.tamper_flags_unix_ms.len(),
        ];
        if kind_lengths.iter().any(|length| *length > HISTORY_FACTS_PER_KIND_MAX) {
            return Err(FeatureError::TooManyFacts);
        }
        let mut bill_ids = std::collections::BTreeSet::new();
        for bill in &self.bills {
            let paid_before_issue = bill.paid_at_unix_ms.is_some_and(|paid| paid < bill.issued_at_unix_ms);
            if bill.due_at_unix_ms < bill.issued_at_unix_ms || paid_before_issue {
                return Err(FeatureError::BillTimesOutOfOrder { bill_id: bill.bill_id });
            }
            if !bill_ids.insert(bill.bill_id) {
                return Err(FeatureError::DuplicateBill { bill_id: bill.bill_id });
            }
        }
        let episodes = self.sorted_episodes();
        let mut previous_end: Option<i64> = None;
        for (index, episode) in episodes.iter().enumerate() {
            if previous_end.is_some_and(|end| episode.start_unix_ms < end) {
                return Err(FeatureError::ArrearsAlreadyOpen);
            }
            match episode.end_unix_ms {
                Some(end) if end < episode.start_unix_ms => return Err(FeatureError::NoArrearsOpen),
                Some(end) => previous_end = Some(end),
                None if index + 1 < episodes.len() => return Err(FeatureError::ArrearsAlreadyOpen),
                None => {}
            }
        }
        for sample in &self.balance_samples {
            validate_amount(sample.balance_cny, true)?;
        }
        for spend in &self.monthly_gas_spend {
            validate_amount(spend.spend_cny, false)?;
        }
        Ok(())
    }

    /// Episodes ordered by start (open last among equal starts), for validation and events.
    fn sorted_episodes(&self) -> Vec<ArrearsEpisode> {
        let mut episodes = self.arrears_episodes.clone();
        episodes.sort_by_key(|episode| (episode.start_unix_ms, episode.end_unix_ms.unwrap_or(i64::MAX)));
        episodes
    }

    /// The history as the events a [`FeatureAccumulator`] would have seen, in time order (ties
    /// keep the order facts are listed in, a bill's issue before its payment, an episode's start
    /// before its end). Replaying a stored customer into a fresh accumulator uses this.
    pub fn events(&self) -> Result<Vec<HistoryEvent>, FeatureError> {
        self.validate()?;
        let mut events: Vec<HistoryEvent> = Vec::new();
        for bill in &self.bills {
            events.push(HistoryEvent::BillIssued {
                bill_id: bill.bill_id,
                issued_at_unix_ms: bill.issued_at_unix_ms,
                due_at_unix_ms: bill.due_at_unix_ms,
            });
            if let Some(paid_at_unix_ms) = bill.paid_at_unix_ms {
                events.push(HistoryEvent::BillPaid { bill_id: bill.bill_id, paid_at_unix_ms });
            }
        }
        for episode in self.sorted_episodes() {
            events.push(HistoryEvent::ArrearsStarted { at_unix_ms: episode.start_unix_ms });
            if let Some(at_unix_ms) = episode.end_unix_ms {
                events.push(HistoryEvent::ArrearsEnded { at_unix_ms });
            }
        }
        events.extend(
            self.valve_closures
                .iter()
                .map(|closure| HistoryEvent::ValveClosed { at_unix_ms: closure.at_unix_ms, reason: closure.reason }),
        );
        events.extend(self.balance_samples.iter().map(|sample| HistoryEvent::BalanceSampled {
            at_unix_ms: sample.at_unix_ms,
            balance_cny: sample.balance_cny,
        }));
        events.extend(self.monthly_gas_spend.iter().map(|spend| HistoryEvent::MonthlyGasSpendClosed {
            at_unix_ms: spend.closed_at_unix_ms,
            spend_cny: spend.spend_cny,
        }));
        events.extend(self.top_ups_unix_ms.iter().map(|at| HistoryEvent::TopUp { at_unix_ms: *at }));
        events.extend(self.disputes_opened_unix_ms.iter().map(|at| HistoryEvent::DisputeOpened { at_unix_ms: *at }));
        events.extend(self.tamper_flags_unix_ms.iter().map(|at| HistoryEvent::TamperFlagged { at_unix_ms: *at }));
        // Stable: equal times keep the order above.
        events.sort_by_key(HistoryEvent::at_unix_ms);
        Ok(events)
    }
}

/// Computes the features of a whole history as of a time; facts after `as_of` are ignored.
/// See the module documentation for each feature's definition and window.
pub fn features_from_history(history: &CustomerHistory, as_of_unix_ms: i64) -> Result<CustomerFeatures, FeatureError> {
    history.validate()?;
    let windows = Windows::new(as_of_unix_ms);

    let bills_due: Vec<&BillFact> = history
        .bills
        .iter()
        .filter(|bill| bill.issued_at_unix_ms <= windows.as_of && windows.in_window(bill.due_at_unix_ms))
        .collect();
    let on_time_bill_share = share_on_time(
        bills_due.len(),
        bills_due.iter().filter(|bill| bill.paid_at_unix_ms.is_some_and(|paid| paid <= bill.due_at_unix_ms)).count(),
    );

    let observed = windows.observed_enough(history.customer_since_unix_ms);
    let mut arrears = ArrearsTotals::default();
    for episode in &history.arrears_episodes {
        let end = episode.end_unix_ms.map_or(windows.as_of, |end| end.min(windows.as_of));
        arrears.add(&windows, episode.start_unix_ms, end);
    }
    let closures = history
        .valve_closures
        .iter()
        .filter(|closure| closure.reason == ValveCloseReason::NonPayment && windows.in_window(closure.at_unix_ms))
        .count();

    let balances: Vec<Decimal> = history
        .balance_samples
        .iter()
        .filter(|sample| windows.in_balance_window(sample.at_unix_ms))
        .map(|sample| sample.balance_cny)
        .collect();
    let spends: Vec<Decimal> = history
        .monthly_gas_spend
        .iter()
        .filter(|spend| windows.in_window(spend.closed_at_unix_ms))
        .map(|spend| spend.spend_cny)
        .collect();
    let balance_coverage_months =
        coverage(checked_sum(balances.iter())?, balances.len(), checked_sum(spends.iter())?, spends.len())?;

    let mut top_ups: Vec<i64> = history.top_ups_unix_ms.iter().copied().filter(|at| windows.in_window(*at)).collect();
    top_ups.sort_unstable();

    Ok(CustomerFeatures {
        on_time_bill_share,
        max_days_in_arrears: observed.then(|| whole_days(arrears.max_ms)),
        total_days_in_arrears: observed.then(|| whole_days(arrears.total_ms)),
        valve_closures_for_non_payment: observed.then(|| count_u32(closures)),
        balance_coverage_months,
        top_up_interval_cv: interval_cv(top_ups.into_iter()),
        tenure_months: Some(tenure_months(history.customer_since_unix_ms, windows.as_of)),
        disputes: Some(count_u32(history.disputes_opened_unix_ms.iter().filter(|at| windows.in_window(**at)).count())),
        meter_tamper_flags: Some(count_u32(
            history.tamper_flags_unix_ms.iter().filter(|at| windows.in_window(**at)).count(),
        )),
    })
}

fn share_on_time(due: usize, on_time: usize) -> Option<f64> {
    (due > 0).then(|| on_time as f64 / due as f64)
}

/// A bill the accumulator still remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OpenBill {
    due_at_unix_ms: i64,
    paid_at_unix_ms: Option<i64>,
}

/// Features kept up to date one event at a time.
///
/// Holds only what a window ending at or after the latest event can still see: bills not yet
/// past the window, closed episodes that end inside it, and the times and amounts inside it.
/// Each apply first drops what fell out of the window ending at the new event.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureAccumulator {
    customer_since_unix_ms: i64,
    latest_unix_ms: Option<i64>,
    bills: BTreeMap<u64, OpenBill>,
    open_arrears_since_unix_ms: Option<i64>,
    closed_arrears: VecDeque<(i64, i64)>,
    non_payment_closures: VecDeque<i64>,
    balance_samples: VecDeque<(i64, Decimal)>,
    monthly_spends: VecDeque<(i64, Decimal)>,
    top_ups: VecDeque<i64>,
    disputes: VecDeque<i64>,
    tamper_flags: VecDeque<i64>,
}

fn drop_older(times: &mut VecDeque<i64>, horizon: i64) {
    while times.front().is_some_and(|at| *at <= horizon) {
        times.pop_front();
    }
}

fn drop_older_amounts(amounts: &mut VecDeque<(i64, Decimal)>, horizon: i64) {
    while amounts.front().is_some_and(|(at, _)| *at <= horizon) {
        amounts.pop_front();
    }
}

impl FeatureAccumulator {
    /// An accumulator for a customer whose account opened at `customer_since_unix_ms`.
    #[must_use]
    pub fn new(customer_since_unix_ms: i64) -> FeatureAccumulator {
        FeatureAccumulator {
            customer_since_unix_ms,
            latest_unix_ms: None,
            bills: BTreeMap::new(),
            open_arrears_since_unix_ms: None,
            closed_arrears: VecDeque::new(),
            non_payment_closures: VecDeque::new(),
            balance_samples: VecDeque::new(),
            monthly_spends: VecDeque::new(),
            top_ups: VecDeque::new(),
            disputes: VecDeque::new(),
            tamper_flags: VecDeque::new(),
        }
    }

    /// A fresh accumulator fed every event of a history: the incremental path started from
    /// stored facts.
    pub fn from_history(history: &CustomerHistory) -> Result<FeatureAccumulator, FeatureError> {
        let mut accumulator = FeatureAccumulator::new(history.customer_since_unix_ms);
        for event in history.events()? {
            accumulator.apply(&event)?;
        }
        Ok(accumulator)
    }

    /// Time of the latest applied event.
    #[must_use]
    pub fn latest_event_unix_ms(&self) -> Option<i64> {
        self.latest_unix_ms
    }

    /// Drops what no window ending at or after `now` can see.
    fn forget_before(&mut self, now: i64) {
        let horizon = now.saturating_sub(FEATURE_WINDOW_MS);
        let balance_horizon = now.saturating_sub(BALANCE_WINDOW_MS);
        self.bills.retain(|_, bill| bill.due_at_unix_ms > horizon);
        while self.closed_arrears.front().is_some_and(|(_, end)| *end <= horizon) {
            self.closed_arrears.pop_front();
        }
        drop_older(&mut self.non_payment_closures, horizon);
        drop_older_amounts(&mut self.balance_samples, balance_horizon);
        drop_older_amounts(&mut self.monthly_spends, horizon);
        drop_older(&mut self.top_ups, horizon);
        drop_older(&mut self.disputes, horizon);
        drop_older(&mut self.tamper_flags, horizon);
    }

    /// Applies one event. Events must come in time order (equal times allowed). A rejected
    /// event changes nothing.
    pub fn apply(&mut self, event: &HistoryEvent) -> Result<(), FeatureError> {
        let at = event.at_unix_ms();
        if let Some(latest_unix_ms) = self.latest_unix_ms {
            if at < latest_unix_ms {
                return Err(FeatureError::EventOutOfOrder { at_unix_ms: at, latest_unix_ms });
            }
        }
        // Validate before any change.
        match *event {
            HistoryEvent::BillIssued { bill_id, issued_at_unix_ms, due_at_unix_ms } => {
                if due_at_unix_ms < issued_at_unix_ms {
                    return Err(FeatureError::BillTimesOutOfOrder { bill_id });
                }
                if self.bills.contains_key(&bill_id) {
                    return Err(FeatureError::DuplicateBill { bill_id });
                }
            }
            HistoryEvent::ArrearsStarted { .. } if self.open_arrears_since_unix_ms.is_some() => {
                return Err(FeatureError::ArrearsAlreadyOpen);
            }
            HistoryEvent::ArrearsEnded { .. } if self.open_arrears_since_unix_ms.is_none() => {
                return Err(FeatureError::NoArrearsOpen);
            }
            HistoryEvent::BalanceSampled { balance_cny, .. } => {
                validate_amount(balance_cny, true)?;
            }
            HistoryEvent::MonthlyGasSpendClosed { spend_cny, .. } => {
                validate_amount(spend_cny, false)?;
            }
            _ => {}
        }

        self.latest_unix_ms = Some(at);
        self.forget_before(at);
        match *event {
            HistoryEvent::BillIssued { bill_id, due_at_unix_ms, .. } => {
                // A bill already past the window can never count; keep state bounded.
                if due_at_unix_ms > at.saturating_sub(FEATURE_WINDOW_MS) {
                    self.bills.insert(bill_id, OpenBill { due_at_unix_ms, paid_at_unix_ms: None });
                }
            }
            HistoryEvent::BillPaid { bill_id, paid_at_unix_ms } => {
                if let Some(bill) = self.bills.get_mut(&bill_id) {
                    bill.paid_at_unix_ms.get_or_insert(paid_at_unix_ms);
                }
            }
            HistoryEvent::ArrearsStarted { at_unix_ms } => self.open_arrears_since_unix_ms = Some(at_unix_ms),
            HistoryEvent::ArrearsEnded { at_unix_ms } => {
                if let Some(start) = self.open_arrears_since_unix_ms.take() {
                    self.closed_arrears.push_back((start, at_unix_ms));
                    self.forget_before(at);
                }
            }
            HistoryEvent::ValveClosed { at_unix_ms, reason } => {
                if reason == ValveCloseReason::NonPayment {
                    self.non_payment_closures.push_back(at_unix_ms);
                }
            }
            HistoryEvent::BalanceSampled { at_unix_ms, balance_cny } => {
                self.balance_samples.push_back((at_unix_ms, balance_cny));
            }
            HistoryEvent::MonthlyGasSpendClosed { at_unix_ms, spend_cny } => {
                self.monthly_spends.push_back((at_unix_ms, spend_cny));
            }
            HistoryEvent::TopUp { at_unix_ms } => self.top_ups.push_back(at_unix_ms),
            HistoryEvent::DisputeOpened { at_unix_ms } => self.disputes.push_back(at_unix_ms),
            HistoryEvent::TamperFlagged { at_unix_ms } => self.tamper_flags.push_back(at_unix_ms),
        }
        Ok(())
    }

    /// The features as of a time not before the latest applied event.
    pub fn features(&self, as_of_unix_ms: i64) -> Result<CustomerFeatures, FeatureError> {
        if let Some(latest_unix_ms) = self.latest_unix_ms {
            if as_of_unix_ms < latest_unix_ms {
                return Err(FeatureError::AsOfBeforeLatestEvent { as_of_unix_ms, latest_unix_ms });
            }
        }
        let windows = Windows::new(as_of_unix_ms);

        let bills_due = self.bills.values().filter(|bill| windows.in_window(bill.due_at_unix_ms));
        let (due, on_time) = bills_due.fold((0usize, 0usize), |(due, on_time), bill| {
            let paid_on_time = bill.paid_at_unix_ms.is_some_and(|paid| paid <= bill.due_at_unix_ms);
            (due + 1, on_time + usize::from(paid_on_time))
        });

        let observed = windows.observed_enough(self.customer_since_unix_ms);
        let mut arrears = ArrearsTotals::default();
        for (start, end) in &self.closed_arrears {
            arrears.add(&windows, *start, *end);
        }
        if let Some(start) = self.open_arrears_since_unix_ms {
            arrears.add(&windows, start, windows.as_of);
        }
        let closures = self.non_payment_closures.iter().filter(|at| windows.in_window(**at)).count();

        let balances = self.balance_samples.iter().filter(|(at, _)| windows.in_balance_window(*at));
        let spends = self.monthly_spends.iter().filter(|(at, _)| windows.in_window(*at));
        let balance_coverage_months = coverage(
            checked_sum(balances.clone().map(|(_, amount)| amount))?,
            balances.count(),
            checked_sum(spends.clone().map(|(_, amount)| amount))?,
            spends.count(),
        )?;

        Ok(CustomerFeatures {
            on_time_bill_share: share_on_time(due, on_time),
            max_days_in_arrears: observed.then(|| whole_days(arrears.max_ms)),
            total_days_in_arrears: observed.then(|| whole_days(arrears.total_ms)),
            valve_closures_for_non_payment: observed.then(|| count_u32(closures)),
            balance_coverage_months,
            top_up_interval_cv: interval_cv(self.top_ups.iter().copied().filter(|at| windows.in_window(*at))),
            tenure_months: Some(tenure_months(self.customer_since_unix_ms, windows.as_of)),
            disputes: Some(count_u32(self.disputes.iter().filter(|at| windows.in_window(**at)).count())),
            meter_tamper_flags: Some(count_u32(self.tamper_flags.iter().filter(|at| windows.in_window(**at)).count())),
        })
    }
}

/// Which way a feature is better. The model fit bins every characteristic in this direction,
/// so that a better value can never lose points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BetterWhen {
    /// A higher value is safer (e.g. share paid on time).
    Higher,
    /// A lower value is safer (e.g. days in arrears).
    Lower,
}

/// One of the [`CustomerFeatures`], by identity rather than by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureId {
    /// [`CustomerFeatures::on_time_bill_share`].
    OnTimeBillShare,
    /// [`CustomerFeatures::max_days_in_arrears`].
    MaxDaysInArrears,
    /// [`CustomerFeatures::total_days_in_arrears`].
    TotalDaysInArrears,
    /// [`CustomerFeatures::valve_closures_for_non_payment`].
    ValveClosuresForNonPayment,
    /// [`CustomerFeatures::balance_coverage_months`].
    BalanceCoverageMonths,
    /// [`CustomerFeatures::top_up_interval_cv`].
    TopUpIntervalCv,
    /// [`CustomerFeatures::tenure_months`].
    TenureMonths,
    /// [`CustomerFeatures::disputes`].
    Disputes,
    /// [`CustomerFeatures::meter_tamper_flags`].
    MeterTamperFlags,
}

impl FeatureId {
    /// Every feature, in [`CustomerFeatures`] order.
    pub const ALL: [FeatureId; 9] = [
        FeatureId::OnTimeBillShare,
        FeatureId::MaxDaysInArrears,
        FeatureId::TotalDaysInArrears,
        FeatureId::ValveClosuresForNonPayment,
        FeatureId::BalanceCoverageMonths,
        FeatureId::TopUpIntervalCv,
        FeatureId::TenureMonths,
        FeatureId::Disputes,
        FeatureId::MeterTamperFlags,
    ];

    /// The feature's name in a scorecard (see [`crate::scorecard::feature_names`]).
    #[must_use]
    pub fn name(self) -> &'static str {
        use crate::scorecard::feature_names as names;
        match self {
            FeatureId::OnTimeBillShare => names::ON_TIME_BILL_SHARE,
            FeatureId::MaxDaysInArrears => names::MAX_DAYS_IN_ARREARS,
            FeatureId::TotalDaysInArrears => names::TOTAL_DAYS_IN_ARREARS,
            FeatureId::ValveClosuresForNonPayment => names::VALVE_CLOSURES_FOR_NON_PAYMENT,
            FeatureId::BalanceCoverageMonths => names::BALANCE_COVERAGE_MONTHS,
            FeatureId::TopUpIntervalCv => names::TOP_UP_INTERVAL_CV,
            FeatureId::TenureMonths => names::TENURE_MONTHS,
            FeatureId::Disputes => names::DISPUTES,
            FeatureId::MeterTamperFlags => names::METER_TAMPER_FLAGS,
        }
    }

    /// The feature with this scorecard name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<FeatureId> {
        FeatureId::ALL.into_iter().find(|feature| feature.name() == name)
    }

    /// The feature's value, `None` when missing.
    #[must_use]
    pub fn value(self, features: &CustomerFeatures) -> Option<f64> {
        match self {
            FeatureId::OnTimeBillShare => features.on_time_bill_share,
            FeatureId::MaxDaysInArrears => features.max_days_in_arrears.map(f64::from),
            FeatureId::TotalDaysInArrears => features.total_days_in_arrears.map(f64::from),
            FeatureId::ValveClosuresForNonPayment => features.valve_closures_for_non_payment.map(f64::from),
            FeatureId::BalanceCoverageMonths => features.balance_coverage_months,
            FeatureId::TopUpIntervalCv => features.top_up_interval_cv,
            FeatureId::TenureMonths => features.tenure_months.map(f64::from),
            FeatureId::Disputes => features.disputes.map(f64::from),
            FeatureId::MeterTamperFlags => features.meter_tamper_flags.map(f64::from),
        }
    }

    /// Which way the feature is better.
    #[must_use]
    pub fn better_when(self) -> BetterWhen {
        match self {
            FeatureId::OnTimeBillShare | FeatureId::BalanceCoverageMonths | FeatureId::TenureMonths => {
                BetterWhen::Higher
            }
            FeatureId::MaxDaysInArrears
            | FeatureId::TotalDaysInArrears
            | FeatureId::ValveClosuresForNonPayment
            | FeatureId::TopUpIntervalCv
            | FeatureId::Disputes
            | FeatureId::MeterTamperFlags => BetterWhen::Lower,
        }
    }
}
