//! Repair service orders and technician payouts, wired to the ledger.
//!
//! The rules are `settlement`'s (state machine, rule table, rolling tiers, rating settlement,
//! dispute resolution, reversal after payout, payout batches); this module holds the money:
//!
//! * booking holds the quoted price on the customer's wallet (a pending entry: wallet → service
//!   escrow, no expiry); cancelling before acceptance voids the hold;
//! * a rating that settles captures the hold and splits the escrow into the technician's payable
//!   and the platform's commission revenue, in one linked group; a rating of 1–2 stars captures the
//!   hold into escrow and opens a dispute that finance resolves (refund to the wallet, the rest
//!   split at the rule table's dispute rate);
//! * a rating window that runs out auto-rates the order (the scheduler runs it);
//! * a payout batch for a period (business days, Beijing time) pays each technician's payable to
//!   the bank, once per period: the batch id derives from the period;
//! * a refund after payout takes the technician's share and the commission back proportionally;
//!   the technician's part is clawed back from the next payout.
//!
//! Every change of an order is a note carrying the whole order after it, with an id derived from
//! (order, step), so a step happens once whatever is retried or raced.

use super::error::{from_rejection, ErrorClass, ServiceError};
use super::model::{Principal, Role};
use super::{fen, ids, money, notes, Answer, IdempotencyRequest, Service};
use ledger::{Command, EntryId, EntrySpec, HoldSpec, PostingSpec, RejectionCode, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use settlement::business_day::{business_day_of, day_bounds_utc, BusinessDay};
use settlement::payout::{
    compute_payout_batch, payout_batch_id, PayoutBatch, PayoutClawback, PayoutOrderLine, PayoutPeriod,
};
use settlement::rating_settlement::{
    resolve_dispute, reverse_after_payout, settle_auto_rated_order, settle_rated_order, RatingOutcome, Resolution,
};
use settlement::service_order::{next_status, rate, OrderAction, OrderStatus, Stars};
use settlement::technician_tier::{technician_standing, PastRating, TechnicianStanding};
use uuid::Uuid;

/// Longest service description, in characters.
pub const SERVICE_DESCRIPTION_CHARS_MAX: usize = 200;
/// Longest rating comment, in characters.
pub const RATING_COMMENT_CHARS_MAX: usize = 500;

/// A service order as the journal records it after each step (the note's payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceOrder {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub wallet_id: Uuid,
    pub service: String,
    pub price: Decimal,
    pub status: OrderStatus,
    pub technician_id: Option<Uuid>,
    /// The pending entry that holds the price on the wallet.
    pub hold_entry: Uuid,
    /// Microseconds since the epoch.
    pub booked_at: i64,
    pub accepted_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub rated_at: Option<i64>,
    pub settled_at: Option<i64>,
    pub stars: Option<u8>,
    pub comment: Option<String>,
    pub auto_rated: bool,
    /// The split once settled: `refunded + commission + technician_share = price`.
    pub technician_share: Decimal,
    pub commission: Decimal,
    pub commission_rate: Option<Decimal>,
    /// Refunded to the customer when a dispute was resolved.
    pub refunded: Decimal,
    /// Refunded after the payout (reversed proportionally from share and commission).
    pub refunded_after_payout: Decimal,
    pub held_for_review: bool,
    pub rules_version: Option<String>,
    /// `pay_in_full`, `partial_refund` or `full_refund` once a dispute is resolved.
    pub resolution: Option<String>,
    pub payout_batch: Option<Uuid>,
}

/// A refund after payout: what it took back from the technician and from the commission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderReversal {
    pub reversal_id: Uuid,
    pub order: ServiceOrder,
    pub amount: Decimal,
    pub from_technician: Decimal,
    pub from_commission: Decimal,
}

/// How finance resolves a dispute (the request's form of `settlement`'s `Resolution`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeDecision {
    PayInFull,
    PartialRefund(Decimal),
    FullRefund,
}

fn micros_to_seconds(micros: i64) -> i64 {
    micros.div_euclid(1_000_000)
}

fn order_error(error: &settlement::service_order::OrderError) -> ServiceError {
    let class = match error {
        settlement::service_order::OrderError::InvalidStars { .. } => ErrorClass::Unprocessable,
        _ => ErrorClass::Conflict,
    };
    ServiceError::new(class, error.code(), error.to_string())
}

fn settle_error(error: &settlement::rating_settlement::SettleError) -> ServiceError {
    ServiceError::new(ErrorClass::Unprocessable, error.code(), error.to_string())
}

fn internal(detail: impl Into<String>) -> ServiceError {
    ServiceError::new(ErrorClass::Internal, "internal_error", detail)
}

/// The order as the API shows it.
pub fn order_json(order: &ServiceOrder) -> serde_json::Value {
    let at = |micros: Option<i64>| micros.map(|micros| super::rfc3339(Timestamp(micros)));
    serde_json::json!({
        "id": order.id,
        "status": order.status,
        "service": order.service,
        "price": super::cny(order.price),
        "customer_id": order.customer_id,
        "wallet_id": order.wallet_id,
        "technician_id": order.technician_id,
        "booked_at": super::rfc3339(Timestamp(order.booked_at)),
        "accepted_at": at(order.accepted_at),
        "completed_at": at(order.completed_at),
        "rated_at": at(order.rated_at),
        "settled_at": at(order.settled_at),
        "stars": order.stars,
        "comment": order.comment,
        "auto_rated": order.auto_rated,
        "technician_share": super::cny(order.technician_share),
        "commission": super::cny(order.commission),
        "commission_rate": order.commission_rate.map(|rate| rate.normalize().to_string()),
        "refunded": super::cny(order.refunded + order.refunded_after_payout),
        "held_for_review": order.held_for_review,
        "rules_version": order.rules_version,
        "resolution": order.resolution,
        "payout_batch_id": order.payout_batch,
    })
}

impl ServiceOrder {
    /// A new order as booked: nothing accepted, rated or settled yet.
    pub fn booked(
        id: Uuid,
        customer_id: Uuid,
        wallet_id: Uuid,
        service: String,
        price: Decimal,
        hold_entry: Uuid,
        booked_at: i64,
    ) -> ServiceOrder {
        ServiceOrder {
            id,
            customer_id,
            wallet_id,
            service,
            price,
            status: OrderStatus::Booked,
            technician_id: None,
            hold_entry,
            booked_at,
            accepted_at: None,
            completed_at: None,
            rated_at: None,
            settled_at: None,
            stars: None,
            comment: None,
            auto_rated: false,
            technician_share: Decimal::ZERO,
            commission: Decimal::ZERO,
            commission_rate: None,
            refunded: Decimal::ZERO,
            refunded_after_payout: Decimal::ZERO,
            held_for_review: false,
            rules_version: None,
            resolution: None,
            payout_batch: None,
        }
    }
}

/// The answer to a booking, as it was at creation (replays answer the same).
pub fn booked_order_json(order: &ServiceOrder) -> serde_json::Value {
    order_json(&ServiceOrder::booked(
        order.id,
        order.customer_id,
        order.wallet_id,
        order.service.clone(),
        order.price,
        order.hold_entry,
        order.booked_at,
    ))
}

impl Service {
    fn order(&self, order_id: Uuid) -> Option<ServiceOrder> {
        self.projection.read().service_orders.get(&order_id).cloned()
    }

    /// The order, if the principal may see it: its customer, its technician, staff.
    pub fn service_order(&self, principal: &Principal, order_id: Uuid) -> Result<ServiceOrder, ServiceError> {
        match self.order(order_id) {
            Some(order)
                if principal.role.is_staff()
                    || principal.is(Role::Customer, order.customer_id)
                    || order.technician_id.is_some_and(|technician| principal.is(Role::Technician, technician))
                    || (principal.role == Role::Technician && order.status == OrderStatus::Booked) =>
            {
                Ok(order)
            }
            _ => Err(ServiceError::not_found(format!("no service order {order_id}"))),
        }
    }

    fn rules_at(&self, unix_seconds: i64) -> Result<&settlement::rules::RuleSet, ServiceError> {
        self.technician_rules.in_force_at(unix_seconds).map_err(|error| internal(error.to_string()))
    }

    fn standing_of(&self, technician: Uuid, at_seconds: i64) -> Result<TechnicianStanding, ServiceError> {
        let rules = self.rules_at(at_seconds)?;
        let projection = self.projection.read();
        let ratings: &[PastRating] = projection.technician_ratings.get(&technician).map_or(&[], Vec::as_slice);
        Ok(technician_standing(ratings, at_seconds, rules))
    }

    /// Commits one step of an order: the note with the order after it, and the entries.
    async fn commit_order_step(
        &self,
        order: &ServiceOrder,
        step: &str,
        mut entries: Vec<Command>,
        extra: Vec<Command>,
    ) -> Result<Result<(), ledger::Rejection>, ServiceError> {
        let mut group = vec![Command::Note {
            id: ids::note_for(order.id, step),
            kind: notes::SERVICE_ORDER_CHANGED.into(),
            payload: notes::encode(order),
        }];
        group.append(&mut entries);
        group.extend(extra);
        Ok(self.submit_one(Command::Linked(group)).await?.map(|_| ()))
    }

    /// The customer books a service at a quoted price, held on the wallet until the job is rated.
    pub async fn book_service(
        &self,
        principal: &Principal,
        service: &str,
        price: Decimal,
        request: &IdempotencyRequest,
    ) -> Result<Answer, ServiceError> {
        let customer_id = match (principal.role, principal.subject_id) {
            (Role::Customer, Some(customer)) => customer,
            _ => return Err(ServiceError::forbidden("service orders are booked by customers")),
        };
        let service = service.trim();
        if service.is_empty()
            || service.chars().count() > SERVICE_DESCRIPTION_CHARS_MAX
            || service.chars().any(char::is_control)
        {
            return Err(ServiceError::validation(format!(
                "service must be 1 to {SERVICE_DESCRIPTION_CHARS_MAX} characters without control characters"
            )));
        }
        let price = money(price)?;
        let customer = self
            .projection
            .read()
            .customers
            .get(&customer_id)
            .cloned()
            .ok_or_else(|| ServiceError::forbidden("the customer of this token no longer exists"))?;
        self.idempotent(request, || async move {
            let id = ids::operation(request.record, "service-order");
            let hold_entry = ids::entry_for(id, "hold");
            let order = ServiceOrder::booked(
                id,
                customer_id,
                customer.wallet.0,
                service.to_owned(),
                price,
                hold_entry.0,
                self.now().0,
            );
            let hold = Command::Post(EntrySpec {
                id: hold_entry,
                category: "service_hold".into(),
                memo: format!("service order {id}"),
                postings: vec![
                    PostingSpec::debit(customer.wallet, price),
                    PostingSpec::credit(ids::service_escrow_account(), price),
                ],
                hold: Some(HoldSpec { expires_at: None }),
            });
            let claim = self.claim(request, "service_order", id);
            match self.commit_order_step(&order, "booked", vec![hold], vec![claim]).await? {
                Ok(()) => self.render_resource("service_order", id),
                Err(rejection) if rejection.code == RejectionCode::IdConflict => Err(super::idempotency_conflict()),
                Err(rejection) => Err(from_rejection(&rejection)),
            }
        })
        .await
    }

    /// Runs one step of an existing order under its customer's lock: `plan` sees the order as it
    /// stands and returns the order after the step with its entries, or a refusal.
    async fn order_step<F>(&self, order_id: Uuid, step: &str, plan: F) -> Result<ServiceOrder, ServiceError>
    where
        F: FnOnce(ServiceOrder) -> Result<(ServiceOrder, Vec<Command>), ServiceError>,
    {
        let customer_id = self.order(order_id).map(|order| order.customer_id).unwrap_or_default();
        let _guard = self.lock_customer(customer_id).await;
        let order =
            self.order(order_id).ok_or_else(|| ServiceError::not_found(format!("no service order {order_id}")))?;
        let (after, entries) = plan(order)?;
        match self.commit_order_step(&after, step, entries, Vec::new()).await? {
            Ok(()) => Ok(after),
            Err(rejection) if rejection.code == RejectionCode::IdConflict => Err(ServiceError::new(
                ErrorClass::Conflict,
                "order_step_conflict",
                format!("the order's {step} step was already taken differently"),
            )),
            Err(rejection) => Err(from_rejection(&rejection)),
        }
    }

    /// The customer cancels a booked order; the hold is released.
    pub async fn cancel_service(&self, principal: &Principal, order_id: Uuid) -> Result<ServiceOrder, ServiceError> {
        self.service_order(principal, order_id)?;
        let principal = *principal;
        self.order_step(order_id, "cancelled", |order| {
            if !principal.is(Role::Customer, order.customer_id) {
                return Err(ServiceError::forbidden("only the booking customer cancels"));
            }
            let status = next_status(order.status, OrderAction::Cancel).map_err(|error| order_error(&error))?;
            let void = Command::Void {
                id: ids::entry_for(order.id, "void"),
                hold: EntryId(order.hold_entry),
                memo: format!("service order {} cancelled", order.id),
            };
            Ok((ServiceOrder { status, ..order }, vec![void]))
        })
        .await
    }

    /// A technician takes a booked order.
    pub async fn accept_service(&self, principal: &Principal, order_id: Uuid) -> Result<ServiceOrder, ServiceError> {
        let technician = match (principal.role, principal.subject_id) {
            (Role::Technician, Some(technician)) => technician,
            _ => return Err(ServiceError::forbidden("orders are accepted by technicians")),
        };
        self.service_order(principal, order_id)?;
        let now = self.now().0;
        self.order_step(order_id, "accepted", |order| {
            if order.status == OrderStatus::Accepted && order.technician_id == Some(technician) {
                return Ok((order, Vec::new()));
            }
            let status = next_status(order.status, OrderAction::Accept).map_err(|error| order_error(&error))?;
            Ok((ServiceOrder { status, technician_id: Some(technician), accepted_at: Some(now), ..order }, Vec::new()))
        })
        .await
    }

    /// The accepting technician reports the job done; the rating window opens.
    pub async fn complete_service(&self, principal: &Principal, order_id: Uuid) -> Result<ServiceOrder, ServiceError> {
        self.service_order(principal, order_id)?;
        let principal = *principal;
        let now = self.now().0;
        self.order_step(order_id, "completed", |order| {
            if !order.technician_id.is_some_and(|technician| principal.is(Role::Technician, technician)) {
                return Err(ServiceError::forbidden("only the technician who accepted the order completes it"));
            }
            if order.status == OrderStatus::Completed {
                return Ok((order, Vec::new()));
            }
            let status = next_status(order.status, OrderAction::Complete).map_err(|error| order_error(&error))?;
            Ok((ServiceOrder { status, completed_at: Some(now), ..order }, Vec::new()))
        })
        .await
    }

    /// Entries that capture the hold and split the escrow; the order after settling.
    fn settlement_entries(order: &ServiceOrder, refund: Decimal, share: Decimal, commission: Decimal) -> Vec<Command> {
        let technician = order.technician_id.unwrap_or_default();
        let mut entries = Vec::new();
        let mut split = |purpose: &str, category: &str, credit: ledger::AccountId, amount: Decimal| {
            if amount > Decimal::ZERO {
                entries.push(Command::Post(EntrySpec {
                    id: ids::entry_for(order.id, purpose),
                    category: category.into(),
                    memo: format!("service order {}", order.id),
                    postings: vec![
                        PostingSpec::debit(ids::service_escrow_account(), amount),
                        PostingSpec::credit(credit, amount),
                    ],
                    hold: None,
                }));
            }
        };
        split("refund", "service_refund", ledger::AccountId(order.wallet_id), refund);
        split("share", "service_share", ids::technician_payable_account(technician), share);
        split("commission", "service_commission", ids::service_commission_revenue_account(), commission);
        entries
    }

    fn capture(order: &ServiceOrder) -> Command {
        Command::Capture {
            id: ids::entry_for(order.id, "capture"),
            hold: EntryId(order.hold_entry),
            amount: None,
            memo: format!("service order {}", order.id),
        }
    }

    /// Rates a completed order (or auto-rates it when `stars` is `None`) and settles it.
    fn plan_rating(
        &self,
        order: ServiceOrder,
        stars: Option<(Stars, Option<String>)>,
        now: Timestamp,
    ) -> Result<(ServiceOrder, Vec<Command>), ServiceError> {
        // Only a completed order is rated; say so before looking at anything else.
        let action = match &stars {
            Some((stars, _)) => OrderAction::Rate { stars: *stars, opens_dispute: false },
            None => OrderAction::AutoRate,
        };
        next_status(order.status, action).map_err(|error| order_error(&error))?;
        let now_seconds = micros_to_seconds(now.0);
        let completed_at = order.completed_at.map(micros_to_seconds).unwrap_or(now_seconds);
        let technician = order.technician_id.ok_or_else(|| internal("a completed order without a technician"))?;
        // The rule table and the technician's tier in force when the job was completed: a rating
        // never changes the terms of the job it rates (tiers apply prospectively).
        let rules = self.rules_at(completed_at)?;
        let standing = self.standing_of(technician, completed_at)?;
        let (settlement, status, stars_given, comment, auto_rated) = match stars {
            Some((stars, comment)) => {
                let settlement =
                    settle_rated_order(order.price, stars, &standing, rules).map_err(|error| settle_error(&error))?;
                let opens_dispute = settlement.outcome == RatingOutcome::Dispute;
                let status = rate(
                    order.status,
                    stars,
                    opens_dispute,
                    completed_at,
                    now_seconds,
                    rules.spec().rating_window_seconds,
                )
                .map_err(|error| order_error(&error))?;
                (settlement, status, stars, comment, false)
            }
            None => {
                let settlement =
                    settle_auto_rated_order(order.price, &standing, rules).map_err(|error| settle_error(&error))?;
                let status = next_status(order.status, OrderAction::AutoRate).map_err(|error| order_error(&error))?;
                (settlement, status, rules.auto_rated_stars(), None, true)
            }
        };
        let mut after = ServiceOrder {
            status,
            rated_at: Some(now.0),
            stars: Some(stars_given.get()),
            comment,
            auto_rated,
            held_for_review: settlement.held_for_review,
            rules_version: Some(settlement.rules_version.clone()),
            ..order
        };
        let mut entries = vec![Self::capture(&after)];
        if let RatingOutcome::Settle { technician_share, commission, commission_rate } = settlement.outcome {
            after.status = next_status(after.status, OrderAction::Settle).map_err(|error| order_error(&error))?;
            after.technician_share = technician_share;
            after.commission = commission;
            after.commission_rate = Some(commission_rate);
            after.settled_at = Some(now.0);
            entries.extend(Self::settlement_entries(&after, Decimal::ZERO, technician_share, commission));
        }
        Ok((after, entries))
    }

    /// The booking customer rates a completed order, 1 to 5 stars, inside the rating window.
    pub async fn rate_service(
        &self,
        principal: &Principal,
        order_id: Uuid,
        stars: u8,
        comment: Option<String>,
    ) -> Result<ServiceOrder, ServiceError> {
        let stars = Stars::new(stars).map_err(|error| order_error(&error))?;
        if let Some(comment) = &comment {
            if comment.chars().count() > RATING_COMMENT_CHARS_MAX || comment.chars().any(char::is_control) {
                return Err(ServiceError::validation(format!(
                    "comment must be at most {RATING_COMMENT_CHARS_MAX} characters without control characters"
                )));
            }
        }
        self.service_order(principal, order_id)?;
        let principal = *principal;
        let now = self.now();
        self.order_step(order_id, "rated", |order| {
            if !principal.is(Role::Customer, order.customer_id) {
                return Err(ServiceError::forbidden("only the booking customer rates"));
            }
            self.plan_rating(order, Some((stars, comment)), now)
        })
        .await
    }

    /// Auto-rates every completed order whose rating window has run out. Run by the scheduler.
    pub async fn auto_rate_due_orders(&self) -> Result<usize, ServiceError> {
        let now = self.now();
        let now_seconds = micros_to_seconds(now.0);
        let due: Vec<Uuid> = {
            let projection = self.projection.read();
            projection
                .service_orders
                .values()
                .filter(|order| order.status == OrderStatus::Completed)
                .filter(|order| {
                    let completed = order.completed_at.map(micros_to_seconds).unwrap_or(now_seconds);
                    self.rules_at(completed).is_ok_and(|rules| {
                        settlement::service_order::auto_rate_due(
                            completed,
                            now_seconds,
                            rules.spec().rating_window_seconds,
                        )
                    })
                })
                .map(|order| order.id)
                .collect()
        };
        let mut rated = 0;
        for order_id in due {
            match self.order_step(order_id, "rated", |order| self.plan_rating(order, None, now)).await {
                Ok(_) => rated += 1,
                // Rated by the customer in the meantime.
                Err(error) if error.class == ErrorClass::Conflict => {}
                Err(error) => return Err(error),
            }
        }
        Ok(rated)
    }

    /// Finance resolves a disputed order: refund all, part or nothing; the rest is settled.
    pub async fn resolve_service_dispute(
        &self,
        principal: &Principal,
        order_id: Uuid,
        decision: DisputeDecision,
    ) -> Result<ServiceOrder, ServiceError> {
        if !principal.role.is_staff() {
            return Err(ServiceError::forbidden("disputes are resolved by finance"));
        }
        let (resolution, name) = match decision {
            DisputeDecision::PayInFull => (Resolution::PayInFull, "pay_in_full"),
            DisputeDecision::PartialRefund(amount) => {
                (Resolution::PartialRefund { amount: money(amount)? }, "partial_refund")
            }
            DisputeDecision::FullRefund => (Resolution::FullRefund, "full_refund"),
        };
        let now = self.now();
        self.order_step(order_id, "resolved", |order| {
            let technician = order.technician_id.ok_or_else(|| internal("a disputed order without a technician"))?;
            let completed_at = order.completed_at.map(micros_to_seconds).unwrap_or(micros_to_seconds(now.0));
            let rules = self.rules_at(completed_at)?;
            let standing = self.standing_of(technician, completed_at)?;
            let status =
                next_status(order.status, OrderAction::ResolveDispute { full_refund: resolution.is_full_refund() })
                    .map_err(|error| order_error(&error))?;
            let outcome =
                resolve_dispute(order.price, resolution, &standing, rules).map_err(|error| settle_error(&error))?;
            let after = ServiceOrder {
                status,
                technician_share: outcome.technician_share,
                commission: outcome.commission,
                commission_rate: Some(outcome.commission_rate),
                refunded: outcome.refund_to_customer,
                held_for_review: outcome.held_for_review,
                rules_version: Some(outcome.rules_version.clone()),
                resolution: Some(name.to_owned()),
                settled_at: Some(now.0),
                ..order
            };
            let entries = Self::settlement_entries(
                &after,
                outcome.refund_to_customer,
                outcome.technician_share,
                outcome.commission,
            );
            Ok((after, entries))
        })
        .await
    }

    /// Finance refunds (part of) a paid-out order: the technician's share and the commission give
    /// it back in proportion; the technician's part is taken from the next payout.
    pub async fn refund_paid_service(
        &self,
        principal: &Principal,
        order_id: Uuid,
        amount: Decimal,
        request: &IdempotencyRequest,
    ) -> Result<Answer, ServiceError> {
        if !principal.role.is_staff() {
            return Err(ServiceError::forbidden("refunds after payout are made by finance"));
        }
        let amount = money(amount)?;
        let customer_id = self
            .order(order_id)
            .map(|order| order.customer_id)
            .ok_or_else(|| ServiceError::not_found("no such order"))?;
        let _guard = self.lock_customer(customer_id).await;
        self.idempotent(request, || async move {
            let order = self.order(order_id).ok_or_else(|| ServiceError::not_found("no such order"))?;
            if order.status != OrderStatus::PaidOut {
                return Err(ServiceError::new(
                    ErrorClass::Conflict,
                    "order_not_paid_out",
                    "only a paid-out order is refunded this way; a disputed one is resolved instead",
                ));
            }
            let reversal =
                reverse_after_payout(order.technician_share, order.commission, order.refunded_after_payout, amount)
                    .map_err(|error| settle_error(&error))?;
            let reversal_id = ids::operation(request.record, "service-refund");
            let technician = order.technician_id.unwrap_or_default();
            let after = ServiceOrder { refunded_after_payout: order.refunded_after_payout + amount, ..order };
            let mut postings = vec![PostingSpec::credit(ledger::AccountId(after.wallet_id), amount)];
            if reversal.from_technician > Decimal::ZERO {
                postings
                    .push(PostingSpec::debit(ids::technician_payable_account(technician), reversal.from_technician));
            }
            if reversal.from_commission > Decimal::ZERO {
                postings.push(PostingSpec::debit(ids::service_commission_revenue_account(), reversal.from_commission));
            }
            let note = OrderReversal {
                reversal_id,
                order: after.clone(),
                amount,
                from_technician: reversal.from_technician,
                from_commission: reversal.from_commission,
            };
            let commands = vec![
                Command::Note {
                    id: ids::note_for(reversal_id, "reversal"),
                    kind: notes::SERVICE_ORDER_REVERSED.into(),
                    payload: notes::encode(&note),
                },
                Command::Post(EntrySpec {
                    id: ids::entry_for(reversal_id, "refund"),
                    category: "service_refund".into(),
                    memo: format!("refund after payout, service order {}", after.id),
                    postings,
                    hold: None,
                }),
                self.claim(request, "service_reversal", reversal_id),
            ];
            match self.submit_one(Command::Linked(commands)).await? {
                Ok(_) => self.render_resource("service_reversal", reversal_id),
                Err(rejection) if rejection.code == RejectionCode::IdConflict => Err(super::idempotency_conflict()),
                Err(rejection) => Err(from_rejection(&rejection)),
            }
        })
        .await
    }

    /// Pays technicians for the orders settled in `period` (business days, Beijing time, both
    /// ended), less clawbacks owed. The same period is the same batch: a second run pays nothing.
    pub async fn pay_technicians(&self, from: BusinessDay, to: BusinessDay) -> Result<PayoutBatch, ServiceError> {
        let period = PayoutPeriod { from, to };
        let batch_id = payout_batch_id(period);
        if let Some(batch) = self.projection.read().payout_batches.get(&batch_id).cloned() {
            return Ok(batch);
        }
        let (_, end) = day_bounds_utc(to);
        if micros_to_seconds(self.now().0) < end {
            return Err(ServiceError::new(
                ErrorClass::Unprocessable,
                "day_not_ended",
                format!("{to} has not ended in Beijing time; a payout covers finished days"),
            ));
        }
        let (start, _) = day_bounds_utc(from);
        let (orders, clawbacks, already_paid) = {
            let projection = self.projection.read();
            let orders: Vec<PayoutOrderLine> = projection
                .service_orders
                .values()
                .filter(|order| order.status == OrderStatus::Settled && order.payout_batch.is_none())
                .filter(|order| order.settled_at.map(micros_to_seconds).is_some_and(|at| start <= at && at < end))
                .filter_map(|order| {
                    Some(PayoutOrderLine {
                        order_id: order.id,
                        technician_id: order.technician_id?,
                        price: fen(order.price),
                        refunded: fen(order.refunded),
                        commission: fen(order.commission),
                        technician_share: fen(order.technician_share),
                        held_for_review: order.held_for_review,
                    })
                })
                .collect();
            let clawbacks: Vec<PayoutClawback> = projection.clawbacks.values().cloned().collect();
            (orders, clawbacks, projection.paid_ids.clone())
        };
        if period.to < period.from {
            return Err(ServiceError::validation("from must not be after to"));
        }
        let batch = compute_payout_batch(period, &orders, &clawbacks, &already_paid)
            .map_err(|error| ServiceError::new(ErrorClass::Unprocessable, error.code(), error.to_string()))?;
        // A batch of many orders outgrows one note: it is recorded in parts.
        let mut group = notes::large_note(
            ids::note_for(batch_id, "technician-payout"),
            notes::TECHNICIAN_PAYOUT_BATCH,
            notes::encode(&batch),
        );
        for line in batch.lines.iter().filter(|line| line.net > Decimal::ZERO) {
            group.push(Command::Post(EntrySpec {
                id: ids::entry_for(batch_id, &line.technician_id.to_string()),
                category: "technician_payout".into(),
                memo: format!("technician payout {from}..{to}"),
                postings: vec![
                    PostingSpec::debit(ids::technician_payable_account(line.technician_id), line.net),
                    PostingSpec::credit(ids::settlement_bank_account(), line.net),
                ],
                hold: None,
            }));
        }
        // Clawbacks taken move nothing themselves: the reversal already debited the payable, so
        // paying the net leaves the payable at zero.
        match self.submit_one(Command::Linked(group)).await? {
            Ok(_) => {}
            Err(rejection) if rejection.code == RejectionCode::IdConflict => {}
            Err(rejection) => return Err(from_rejection(&rejection)),
        }
        self.projection
            .read()
            .payout_batches
            .get(&batch_id)
            .cloned()
            .ok_or_else(|| internal("the payout batch was not recorded"))
    }

    /// A payout batch by id (staff), or the caller's own line of it (a technician).
    pub fn payout_batch(&self, batch_id: Uuid) -> Option<PayoutBatch> {
        self.projection.read().payout_batches.get(&batch_id).cloned()
    }
}

/// Yesterday in Beijing time, for a payout run that names no period.
pub fn yesterday(now: Timestamp) -> Result<BusinessDay, ServiceError> {
    let seconds = micros_to_seconds(now.0) - 86_400;
    business_day_of(seconds).map_err(|error| internal(error.to_string()))
}
