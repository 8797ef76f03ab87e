//! Credit profiles in the running service: each customer's scoring features kept up to date from
//! the journal as it commits, a profile on request, and the bulk rescore that moves wallet credit
//! limits (a recorded ledger change) and raises `score_changed` when a grade moves.
//!
//! The `risk` crate is the functional core (features, scorecard, credit-limit policy); this module
//! turns journal facts into its `HistoryEvent`s:
//!
//! | journal fact | history event |
//! |---|---|
//! | customer registered | the accumulator starts (`customer_since`) |
//! | top-up | `TopUp` |
//! | priced reading (per-reading mode) | adds to the month's spend; the first reading of a new Beijing month closes the previous month: `MonthlyGasSpendClosed` and a month's `BillIssued` (due at once), paid at once unless the customer is in arrears, else when the arrears are cleared |
//! | monthly bill (monthly mode) | `MonthlyGasSpendClosed`, `BillIssued` (due on issue), paid likewise |
//! | arrears account goes above zero / back to zero (checked after each commit) | `ArrearsStarted` / `ArrearsEnded` (with the open bills paid, late) |
//! | valve closed for arrears | `ValveClosed { NonPayment }` |
//! | service order disputed | `DisputeOpened` |
//! | anomaly that suggests tampering (frozen or reversed register) | `TamperFlagged` |
//! | wallet balance (at most once per customer per week, after a commit that touched it) | `BalanceSampled` |
//!
//! Events are fed in commit order with the batch's timestamp, which never goes backwards.

use super::error::{ErrorClass, ServiceError};
use super::model::{Principal, Role};
use super::{ids, notes, Service};
use ::risk::features::{FeatureAccumulator, HistoryEvent, ValveCloseReason};
use ::risk::{CreditProfile, CustomerFeatures, Grade};
use ledger::{Command, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use uuid::Uuid;

/// How many closed months of gas spend the credit limit averages.
pub const SPEND_MONTHS: usize = 12;

/// Balances are sampled at most once per customer per this many milliseconds.
const BALANCE_SAMPLE_EVERY_MS: i64 = 7 * 86_400_000;

/// One customer's running risk facts.
#[derive(Debug, Clone)]
pub struct CustomerRisk {
    features: FeatureAccumulator,
    next_bill_id: u64,
    /// Bills issued while in arrears: paid when the arrears are cleared.
    unpaid_bills: Vec<u64>,
    in_arrears: bool,
    /// The Beijing month being accumulated (per-reading mode) and its spend so far.
    month: Option<(i32, u32)>,
    month_spend: Decimal,
    spends: VecDeque<Decimal>,
    last_balance_sample_ms: Option<i64>,
    /// The last profile recorded for the customer (by a rescore).
    pub last_scored: Option<notes::CreditScored>,
}

impl CustomerRisk {
    fn new(since_ms: i64) -> CustomerRisk {
        CustomerRisk {
            features: FeatureAccumulator::new(since_ms),
            next_bill_id: 1,
            unpaid_bills: Vec::new(),
            in_arrears: false,
            month: None,
            month_spend: Decimal::ZERO,
            spends: VecDeque::new(),
            last_balance_sample_ms: None,
            last_scored: None,
        }
    }

    /// A customer's running facts rebuilt from a whole history (the bench builds synthetic
    /// customers this way; the service builds them from the journal, event by event).
    pub fn from_history(history: &::risk::features::CustomerHistory) -> Result<CustomerRisk, ::risk::FeatureError> {
        let mut risk = CustomerRisk::new(history.customer_since_unix_ms);
        risk.features = FeatureAccumulator::from_history(history)?;
        let mut spends: Vec<&::risk::features::MonthlyGasSpend> = history.monthly_gas_spend.iter().collect();
        spends.sort_by_key(|spend| spend.closed_at_unix_ms);
        for spend in spends.iter().rev().take(SPEND_MONTHS).rev() {
            risk.spends.push_back(spend.spend_cny);
        }
        Ok(risk)
    }

    fn apply(&mut self, event: &HistoryEvent) {
        // Batch timestamps never go backwards, so a refusal is a fact the model cannot use
        // (e.g. a second arrears start), not a reason to stop the projection.
        if let Err(error) = self.features.apply(event) {
            tracing::debug!(%error, "a risk history event was not applied");
        }
    }

    fn close_month(&mut self, at_ms: i64, spend: Decimal) {
        self.apply(&HistoryEvent::MonthlyGasSpendClosed { at_unix_ms: at_ms, spend_cny: spend });
        self.spends.push_back(spend);
        while self.spends.len() > SPEND_MONTHS {
            self.spends.pop_front();
        }
        let bill_id = self.next_bill_id;
        self.next_bill_id += 1;
        self.apply(&HistoryEvent::BillIssued { bill_id, issued_at_unix_ms: at_ms, due_at_unix_ms: at_ms });
        if self.in_arrears {
            self.unpaid_bills.push(bill_id);
        } else {
            self.apply(&HistoryEvent::BillPaid { bill_id, paid_at_unix_ms: at_ms });
        }
    }

    /// Mean of the closed months' spend (zero with none), to the fen, rounded down.
    pub fn average_monthly_spend(&self) -> Decimal {
        if self.spends.is_empty() {
            return Decimal::ZERO;
        }
        let total: Decimal = self.spends.iter().sum();
        (total / Decimal::from(self.spends.len())).round_dp_with_strategy(2, rust_decimal::RoundingStrategy::ToZero)
    }

    pub fn features(&self, as_of_ms: i64) -> Result<CustomerFeatures, ::risk::features::FeatureError> {
        let as_of = self.features.latest_event_unix_ms().map_or(as_of_ms, |latest| latest.max(as_of_ms));
        self.features.features(as_of)
    }
}

fn ms(at: Timestamp) -> i64 {
    at.0.div_euclid(1_000)
}

/// Every customer's running risk facts, kept by the projection.
#[derive(Debug, Default)]
pub struct RiskBook {
    pub customers: HashMap<Uuid, CustomerRisk>,
    /// Customers whose wallet or arrears a record of the current batch touched.
    touched: Vec<Uuid>,
}

impl RiskBook {
    pub fn customer_registered(&mut self, customer: Uuid, at: Timestamp) {
        self.customers.entry(customer).or_insert_with(|| CustomerRisk::new(ms(at)));
    }

    fn with(&mut self, customer: Uuid, at: Timestamp, change: impl FnOnce(&mut CustomerRisk, i64)) {
        if let Some(risk) = self.customers.get_mut(&customer) {
            change(risk, ms(at));
            self.touched.push(customer);
        }
    }

    pub fn topup(&mut self, customer: Uuid, at: Timestamp) {
        self.with(customer, at, |risk, at_ms| risk.apply(&HistoryEvent::TopUp { at_unix_ms: at_ms }));
    }

    /// A priced reading charged at once (per-reading mode).
    pub fn reading_charged(&mut self, customer: Uuid, at: Timestamp, total: Decimal) {
        let month = crate::metering::tariff::beijing_date(at).map(|date| {
            use chrono::Datelike;
            (date.year(), date.month())
        });
        self.with(customer, at, |risk, at_ms| {
            if risk.month.is_some() && risk.month != month {
                let spend = risk.month_spend;
                risk.close_month(at_ms, spend);
                risk.month_spend = Decimal::ZERO;
            }
            risk.month = month;
            risk.month_spend += total;
        });
    }

    /// A monthly bill (monthly mode).
    pub fn monthly_bill(&mut self, customer: Uuid, at: Timestamp, total: Decimal) {
        self.with(customer, at, |risk, at_ms| risk.close_month(at_ms, total));
    }

    pub fn valve_closed_for_arrears(&mut self, customer: Uuid, at: Timestamp) {
        self.with(customer, at, |risk, at_ms| {
            risk.apply(&HistoryEvent::ValveClosed { at_unix_ms: at_ms, reason: ValveCloseReason::NonPayment });
        });
    }

    pub fn dispute_opened(&mut self, customer: Uuid, at: Timestamp) {
        self.with(customer, at, |risk, at_ms| risk.apply(&HistoryEvent::DisputeOpened { at_unix_ms: at_ms }));
    }

    pub fn tamper_flagged(&mut self, customer: Uuid, at: Timestamp) {
        self.with(customer, at, |risk, at_ms| risk.apply(&HistoryEvent::TamperFlagged { at_unix_ms: at_ms }));
    }

    pub fn wallet_touched(&mut self, customer: Uuid) {
        self.touched.push(customer);
    }

    pub fn scored(&mut self, note: notes::CreditScored) {
        if let Some(risk) = self.customers.get_mut(&note.customer_id) {
            risk.last_scored = Some(note);
        }
    }

    /// After a committed batch: arrears transitions and weekly balance samples of the customers
    /// it touched, read from the ledger state the batch left.
    pub fn end_of_batch(&mut self, state: &ledger::state::State, at: Timestamp) {
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        let at_ms = ms(at);
        for customer in touched {
            let Some(risk) = self.customers.get_mut(&customer) else { continue };
            let arrears = state
                .account_by_id(&ids::arrears_account(customer))
                .map_or(0, |account| account.balances.posted_on(account.normal_side));
            match (risk.in_arrears, arrears > 0) {
                (false, true) => {
                    risk.apply(&HistoryEvent::ArrearsStarted { at_unix_ms: at_ms });
                    risk.in_arrears = true;
                }
                (true, false) => {
                    risk.apply(&HistoryEvent::ArrearsEnded { at_unix_ms: at_ms });
                    risk.in_arrears = false;
                    for bill_id in std::mem::take(&mut risk.unpaid_bills) {
                        risk.apply(&HistoryEvent::BillPaid { bill_id, paid_at_unix_ms: at_ms });
                    }
                }
                _ => {}
            }
            let due = risk.last_balance_sample_ms.is_none_or(|last| at_ms - last >= BALANCE_SAMPLE_EVERY_MS);
            if due {
                if let Some(wallet) = state.account_by_id(&ids::wallet_account(customer)) {
                    let balance = ledger::Asset::Cny.decimal_from_minor(wallet.balances.posted_on(wallet.normal_side));
                    risk.apply(&HistoryEvent::BalanceSampled { at_unix_ms: at_ms, balance_cny: balance });
                    risk.last_balance_sample_ms = Some(at_ms);
                }
            }
        }
    }
}

/// A credit profile as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileView {
    pub customer_id: Uuid,
    pub score: i32,
    pub grade: Grade,
    pub reasons: Vec<ReasonView>,
    pub credit_limit: String,
    /// The wallet's credit limit now (set by the last rescore).
    pub applied_credit_limit: String,
    pub model_version: String,
    pub computed_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReasonView {
    pub code: String,
    pub description: String,
    pub feature: String,
    /// Points below the characteristic's baseline (what it cost).
    pub points: i32,
}

/// What a bulk rescore did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RescoreSummary {
    pub customers: u64,
    pub limits_changed: u64,
    pub grades_changed: u64,
    pub failed: u64,
}

fn profile_of(model: &::risk::Model, risk: &CustomerRisk, now: Timestamp) -> Result<CreditProfile, ServiceError> {
    let features = risk
        .features(ms(now))
        .map_err(|error| ServiceError::new(ErrorClass::Internal, "internal_error", error.to_string()))?;
    model
        .profile(&features, risk.average_monthly_spend(), ms(now))
        .map_err(|error| ServiceError::new(ErrorClass::Internal, "internal_error", error.to_string()))
}

/// Profiles of many customers on all cores (the work is pure and read-only): `(customer, profile)`.
pub fn profiles_in_parallel(
    model: &::risk::Model,
    customers: &[(&Uuid, &CustomerRisk)],
    now: Timestamp,
    threads: usize,
    on_done: &(dyn Fn(usize) + Sync),
) -> Vec<(Uuid, Result<CreditProfile, ServiceError>)> {
    let threads = threads.max(1);
    let chunk = customers.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = customers
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut out = Vec::with_capacity(part.len());
                    for (position, (customer, risk)) in part.iter().enumerate() {
                        out.push((**customer, profile_of(model, risk, now)));
                        if position % 10_000 == 9_999 {
                            on_done(10_000);
                        }
                    }
                    on_done(part.len() % 10_000);
                    out
                })
            })
            .collect();
        workers.into_iter().flat_map(|worker| worker.join().unwrap_or_default()).collect()
    })
}

fn grade_name(grade: Grade) -> &'static str {
    match grade {
        Grade::A => "A",
        Grade::B => "B",
        Grade::C => "C",
        Grade::D => "D",
        Grade::E => "E",
    }
}

impl Service {
    /// The customer's credit profile now: for finance, or for the customer itself.
    pub fn credit_profile(&self, principal: &Principal, customer_id: Uuid) -> Result<ProfileView, ServiceError> {
        if !(principal.role.is_staff() || principal.is(Role::Customer, customer_id)) {
            return Err(ServiceError::not_found(format!("no customer {customer_id}")));
        }
        let now = self.now();
        let profile = {
            let projection = self.projection.read();
            let risk = projection
                .risk
                .customers
                .get(&customer_id)
                .ok_or_else(|| ServiceError::not_found(format!("no customer {customer_id}")))?;
            profile_of(&self.risk_model, risk, now)?
        };
        let applied = self
            .reader()
            .account(&ids::wallet_account(customer_id))
            .map_or(0, |account| i128::from(account.credit_limit_minor));
        Ok(ProfileView {
            customer_id,
            score: profile.score,
            grade: profile.grade,
            reasons: profile
                .reasons
                .into_iter()
                .map(|reason| ReasonView {
                    code: reason.code,
                    description: reason.description,
                    feature: reason.feature,
                    points: reason.points_lost,
                })
                .collect(),
            credit_limit: super::cny(profile.credit_limit_cny),
            applied_credit_limit: super::cny(ledger::Asset::Cny.decimal_from_minor(applied)),
            model_version: profile.model_version,
            computed_at: super::rfc3339(now),
        })
    }

    /// Recomputes every customer's profile; where the grade's credit limit differs from the
    /// wallet's, sets the wallet's limit (a recorded ledger change) and records the profile (a
    /// `score_changed` event when the grade moved). `on_done` is told how many were scored.
    pub async fn rescore_all(&self, on_done: &(dyn Fn(usize) + Sync)) -> Result<RescoreSummary, ServiceError> {
        let now = self.now();
        let (results, current) = {
            let projection = self.projection.read();
            let customers: Vec<(&Uuid, &CustomerRisk)> = projection.risk.customers.iter().collect();
            let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
            let results = profiles_in_parallel(&self.risk_model, &customers, now, threads, on_done);
            let current: HashMap<Uuid, Option<String>> = customers
                .iter()
                .map(|(customer, risk)| (**customer, risk.last_scored.as_ref().map(|scored| scored.grade.clone())))
                .collect();
            (results, current)
        };
        let mut summary = RescoreSummary { customers: results.len() as u64, ..RescoreSummary::default() };
        let mut commands = Vec::new();
        for (customer, result) in results {
            let profile = match result {
                Ok(profile) => profile,
                Err(error) => {
                    summary.failed += 1;
                    tracing::warn!(%customer, %error, "a credit profile could not be computed");
                    continue;
                }
            };
            let wallet = ids::wallet_account(customer);
            let applied = self.reader().account(&wallet).map_or(0, |account| account.credit_limit_minor);
            let limit = ledger::Asset::Cny.minor_from_decimal_allow_zero(profile.credit_limit_cny).unwrap_or(applied);
            let grade = grade_name(profile.grade).to_owned();
            let previous = current.get(&customer).cloned().flatten();
            let grade_moved = previous.as_deref() != Some(grade.as_str());
            if limit == applied && !grade_moved {
                continue;
            }
            let change = Uuid::new_v4();
            let note = notes::CreditScored {
                customer_id: customer,
                score: profile.score,
                grade,
                previous_grade: previous,
                credit_limit: profile.credit_limit_cny,
                model_version: profile.model_version.clone(),
            };
            let mut group = vec![Command::Note {
                id: ids::note_for(change, "credit-scored"),
                kind: notes::CREDIT_SCORED.into(),
                payload: notes::encode(&note),
            }];
            if limit != applied {
                summary.limits_changed += 1;
                group.push(Command::SetCreditLimit {
                    id: ids::entry_for(change, "credit-limit"),
                    account: wallet,
                    limit: profile.credit_limit_cny,
                });
            }
            if grade_moved {
                summary.grades_changed += 1;
            }
            commands.push(Command::Linked(group));
        }
        for result in self.submit_in_batches(commands).await? {
            if let Err(rejection) = result {
                summary.failed += 1;
                tracing::warn!(%rejection, "a credit limit change was refused");
            }
        }
        Ok(summary)
    }
}
