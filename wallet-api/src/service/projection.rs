//! The service's view of the journal: parties, tokens, payment codes, payments, refunds,
//! idempotency records and events, rebuilt from the notes and entries on start and kept in step
//! by the ledger's commit observer (which runs before any caller in a batch is answered, so a
//! handler that got its receipt also sees its own writes here).

use super::ids;
use super::model::{Customer, Event, EventType, Merchant, Party, Payment, PaymentCode, Principal, Refund};
use super::notes;
use ledger::incremental_map::IncrementalMap;
use ledger::record::RecordBody;
use ledger::state::State;
use ledger::{chart, AccountId, Asset, CommitObserver, CommittedBatch, EntryId, Side, Timestamp};
use parking_lot::RwLock;
use rust_decimal::Decimal;
use std::collections::HashMap;
use uuid::Uuid;

/// A wallet whose available balance falls below this gets a `low_balance` event (DESIGN.md:
/// "a reminder at a low balance, e.g. ≤ 15 CNY").
pub const LOW_BALANCE_THRESHOLD_FEN: i128 = 1500;

/// What an idempotency key stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyRecord {
    Claimed { request_hash: String, resource: String, resource_id: Uuid },
    Answered { request_hash: String, body: serde_json::Value },
}

/// A top-up as booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topup {
    pub entry_id: Uuid,
    pub wallet: AccountId,
    pub amount: Decimal,
    pub channel: String,
    pub channel_txn_id: String,
    pub arrears_paid: Decimal,
    pub sequence: u64,
    pub at: Timestamp,
}

/// A registered webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub owner: Principal,
}

/// Everything the projection holds.
///
/// The maps that grow with every payment, top-up or reading are [`IncrementalMap`]s: they are
/// written under the projection's write lock on the commit path, where a whole-map rehash would
/// stall every waiting request.
#[derive(Debug, Default)]
pub struct ProjectionState {
    pub customers: HashMap<Uuid, Customer>,
    pub customer_by_wallet: HashMap<AccountId, Uuid>,
    pub merchants: HashMap<Uuid, Merchant>,
    pub technicians: HashMap<Uuid, Party>,
    pub concentrators: HashMap<Uuid, Party>,
    pub payment_codes: IncrementalMap<String, PaymentCode>,
    pub payment_code_by_note: IncrementalMap<Uuid, String>,
    pub payments: IncrementalMap<Uuid, Payment>,
    pub refunds: IncrementalMap<Uuid, Refund>,
    pub topups: IncrementalMap<Uuid, Topup>,
    pub idempotency: IncrementalMap<EntryId, IdempotencyRecord>,
    pub events: super::event_log::EventLog,
    pub webhooks: Vec<Webhook>,
    /// Events delivered to each webhook, as last recorded.
    pub webhook_progress: HashMap<Uuid, u64>,
    pub meters: HashMap<Uuid, Meter>,
    /// Per customer: the tier year and the volume used in it so far.
    pub annual_volume: HashMap<Uuid, (chrono::NaiveDate, Decimal)>,
    /// What each accepted reading charged (by its record id), to answer retries.
    pub reading_charges: IncrementalMap<EntryId, Decimal>,
    /// Per customer: accepted readings, oldest first (the e-bill lines).
    pub bills: HashMap<Uuid, Vec<Bill>>,
    pub bill_by_id: IncrementalMap<Uuid, (Uuid, usize)>,
    /// Valve state per customer (all of a customer's meters).
    pub valves: HashMap<Uuid, crate::metering::valve::ValveState>,
    /// Closes waiting for the end of friendly-credit hours.
    pub deferred_closes: HashMap<Uuid, Timestamp>,
    /// Monthly bills per customer, in issue order.
    pub monthly_bills: HashMap<Uuid, Vec<notes::MonthlyBillIssued>>,
    /// Readings already covered by a monthly bill.
    pub monthly_billed: std::collections::HashSet<Uuid>,
    /// Customers' own readings per meter, oldest first.
    pub self_readings: HashMap<Uuid, Vec<SelfReading>>,
    /// Tariffs by code: the shipped Beijing defaults, replaced by any `PUT /v1/tariffs/{code}`.
    pub tariffs: HashMap<String, std::sync::Arc<crate::metering::tariff::Tariff>>,
    /// Closed business days by `YYYY-MM-DD`.
    pub closed_days: HashMap<String, notes::DayClosed>,
    /// Each customer's running credit-risk facts.
    pub risk: crate::service::risk::RiskBook,
    /// Consumption anomalies found, by note id.
    pub anomalies: HashMap<EntryId, notes::AnomalyDetected>,
    pub service_orders: HashMap<Uuid, crate::service::service_orders::ServiceOrder>,
    /// Each technician's customer ratings (auto-ratings are no evidence and are left out), in order.
    pub technician_ratings: HashMap<Uuid, Vec<settlement::technician_tier::PastRating>>,
    pub service_reversals: HashMap<Uuid, crate::service::service_orders::OrderReversal>,
    /// Technician parts of refunds after payout, to take from later payouts.
    pub clawbacks: HashMap<Uuid, settlement::payout::PayoutClawback>,
    pub payout_batches: HashMap<Uuid, settlement::payout::PayoutBatch>,
    /// Orders and clawbacks included in a payout batch.
    pub paid_ids: std::collections::HashSet<Uuid>,
    /// Bytes of large payloads whose parts arrived, by the id of the whole (see `notes::large_note`).
    pub payload_parts: HashMap<Uuid, Vec<u8>>,
    /// Merchant settlements by day (`YYYY-MM-DD`, in order) and merchant.
    pub merchant_settlements:
        std::collections::BTreeMap<String, std::collections::BTreeMap<Uuid, notes::MerchantSettled>>,
    /// Reconciliation runs by id (complete: recorded with all their breaks).
    pub reconciliations: HashMap<Uuid, ReconciliationRun>,
    /// Break chunks seen before their run's note (a run's notes commit in one linked group, so
    /// this only holds them for the instant between two records of one batch).
    pub reconciliation_break_chunks: HashMap<Uuid, Vec<notes::ReconciliationBreaks>>,
    /// Resolutions of breaks by break id.
    pub reconciliation_resolutions: HashMap<Uuid, (notes::BreakResolved, Timestamp)>,
}

/// A reconciliation run as recorded: the run note, its breaks in report order, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconciliationRun {
    pub run: notes::ReconciliationRun,
    pub breaks: Vec<notes::BreakRecord>,
    pub at: Timestamp,
}

impl ProjectionState {
    /// The tariff a customer is priced by (falls back to the shipped general tariff).
    /// The tariff with this code (shared: planning a reading or a bill must not copy tariff tables).
    pub fn tariff_for(&self, code: &str) -> std::sync::Arc<crate::metering::tariff::Tariff> {
        self.tariffs
            .get(code)
            .cloned()
            .unwrap_or_else(|| std::sync::Arc::new(crate::metering::tariff::Tariff::beijing_residential()))
    }
}

/// The last accepted reading of a meter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastReading {
    pub counter: u64,
    pub register: Decimal,
    pub read_at: Timestamp,
}

/// A registered meter.
#[derive(Debug, Clone)]
pub struct Meter {
    pub id: Uuid,
    pub serial: String,
    pub customer_id: Uuid,
    pub public_key: ed25519_dalek::VerifyingKey,
    pub max_flow_m3_per_h: Decimal,
    pub initial_register: Decimal,
    pub installed_at: Timestamp,
    pub active: bool,
    pub last: Option<LastReading>,
    /// A rollover was declared: the next reading's register continues from zero.
    pub rollover_pending: bool,
    /// The meter that replaced this one, if it was replaced.
    pub replaced_by: Option<Uuid>,
}

/// A customer's own reading, until a signed reading settles it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfReading {
    pub note: notes::SelfReadingRecorded,
    /// The signed reading that settled it (its record id), once there is one.
    pub settled_by: Option<Uuid>,
}

/// One e-bill line: an accepted reading, priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bill {
    pub id: Uuid,
    pub sequence: u64,
    pub at: Timestamp,
    pub reading: notes::ReadingAccepted,
}

/// The projection, shared between the ledger's writer (which updates it) and handlers (which read).
#[derive(Debug)]
pub struct Projection {
    state: RwLock<ProjectionState>,
    /// Bearer token hashes and their principals, apart from `state`: every request looks its
    /// token up first, and must not wait while the writer holds `state` to apply a batch.
    tokens: RwLock<HashMap<[u8; 32], Principal>>,
    /// Typed `reading_accepted` notes handed over by the service with the commands that carry
    /// them (see [`Projection::hand_over_readings`]): applied as they are when their record
    /// commits, instead of decoding the same note back from JSON on the writer thread.
    handed_over: parking_lot::Mutex<HashMap<EntryId, notes::ReadingAccepted>>,
}

/// Readings handed over for one submission; dropping it takes back those that did not commit
/// (refused, duplicates, or a submission that failed or was abandoned).
#[derive(Debug)]
pub struct HandedOver<'a> {
    projection: &'a Projection,
    ids: Vec<EntryId>,
}

impl Drop for HandedOver<'_> {
    fn drop(&mut self) {
        if self.ids.is_empty() {
            return;
        }
        let mut handed_over = self.projection.handed_over.lock();
        for id in &self.ids {
            handed_over.remove(id);
        }
    }
}

impl Default for Projection {
    fn default() -> Projection {
        let mut state = ProjectionState::default();
        for tariff in [
            crate::metering::tariff::Tariff::beijing_residential(),
            crate::metering::tariff::Tariff::beijing_residential_heating(),
        ] {
            state.tariffs.insert(tariff.code.clone(), std::sync::Arc::new(tariff));
        }
        Projection {
            state: RwLock::new(state),
            tokens: RwLock::default(),
            handed_over: parking_lot::Mutex::new(HashMap::new()),
        }
    }
}

impl Projection {
    pub fn read(&self) -> parking_lot::RwLockReadGuard<'_, ProjectionState> {
        self.state.read()
    }

    /// The principal of a token, by the token's hash.
    pub fn principal(&self, token_hash: &[u8; 32]) -> Option<Principal> {
        self.tokens.read().get(token_hash).copied()
    }

    fn apply_token_issued(&self, kind: &str, payload: &[u8]) {
        let Some(note) = parse::<notes::TokenIssued>(kind, payload) else { return };
        let hash = hex::decode(&note.token_hash).ok().and_then(|bytes| <[u8; 32]>::try_from(bytes).ok());
        if let Some(hash) = hash {
            let principal = Principal { role: note.role, subject_id: note.subject_id, token_id: note.token_id };
            self.tokens.write().insert(hash, principal);
        }
    }

    /// Hands over the typed notes of `reading_accepted` commands about to be submitted, by note
    /// id. Each must be exactly the note its command's payload encodes. Keep the guard until the
    /// submission is answered.
    pub fn hand_over_readings(&self, notes: Vec<(EntryId, notes::ReadingAccepted)>) -> HandedOver<'_> {
        let ids = notes.iter().map(|(id, _)| *id).collect();
        if !notes.is_empty() {
            self.handed_over.lock().extend(notes);
        }
        HandedOver { projection: self, ids }
    }
}

fn parse<T: serde::de::DeserializeOwned>(kind: &str, payload: &[u8]) -> Option<T> {
    match serde_json::from_slice(payload) {
        Ok(value) => Some(value),
        Err(error) => {
            // Notes are written by this service only; an unreadable one means a newer or broken
            // writer. It must not stop the replay of everything else.
            tracing::error!(kind, %error, "unreadable note in the journal");
            None
        }
    }
}

impl CommitObserver for Projection {
    fn committed(&self, batch: CommittedBatch<'_>, ledger_state: &State) {
        let mut projection = self.state.write();
        let mut handed_over = self.handed_over.lock();
        for (offset, record) in batch.records.iter().enumerate() {
            let sequence = batch.first_sequence + offset as u64;
            match record {
                // Tokens live outside `state`, under their own lock (see `Projection::tokens`).
                RecordBody::Note { kind, payload, .. } if kind == notes::TOKEN_ISSUED => {
                    self.apply_token_issued(kind, payload);
                }
                RecordBody::Note { id, kind, payload } => {
                    let typed = if kind == notes::READING_ACCEPTED { handed_over.remove(id) } else { None };
                    match typed {
                        Some(note) => {
                            debug_assert_eq!(
                                parse::<notes::ReadingAccepted>(kind, payload).as_ref(),
                                Some(&note),
                                "a handed-over reading differs from its committed payload"
                            );
                            projection.apply_reading_accepted(*id, note, sequence, batch.timestamp);
                        }
                        None => projection.apply_note(*id, kind, payload, sequence, batch.timestamp),
                    }
                }
                RecordBody::Entry(entry) => {
                    projection.detect_low_balance(ledger_state, entry, sequence, batch.timestamp);
                }
                RecordBody::AccountOpened(_) | RecordBody::CreditLimitSet { .. } | RecordBody::AccountClosed { .. } => {
                }
            }
        }
        projection.risk.end_of_batch(ledger_state, batch.timestamp);
    }
}

impl ProjectionState {
    fn apply_service_order(&mut self, order: crate::service::service_orders::ServiceOrder, at: Timestamp) {
        let was_rated = self.service_orders.get(&order.id).is_some_and(|before| before.rated_at.is_some());
        let was_disputed = self
            .service_orders
            .get(&order.id)
            .is_some_and(|before| before.status == settlement::service_order::OrderStatus::Disputed);
        if order.status == settlement::service_order::OrderStatus::Disputed && !was_disputed {
            self.risk.dispute_opened(order.customer_id, at);
        }
        if !was_rated && !order.auto_rated {
            if let (Some(technician), Some(stars), Some(rated_at)) = (order.technician_id, order.stars, order.rated_at)
            {
                if let Ok(stars) = settlement::service_order::Stars::new(stars) {
                    let rated_at = rated_at.div_euclid(1_000_000);
                    self.technician_ratings
                        .entry(technician)
                        .or_default()
                        .push(settlement::technician_tier::PastRating { rated_at, stars });
                }
            }
        }
        self.service_orders.insert(order.id, order);
    }

    fn apply_payout_batch(&mut self, batch: settlement::payout::PayoutBatch, sequence: u64, at: Timestamp) {
        for id in batch.included_ids() {
            self.paid_ids.insert(id);
            self.clawbacks.remove(&id);
            if let Some(order) = self.service_orders.get_mut(&id) {
                order.status = settlement::service_order::OrderStatus::PaidOut;
                order.payout_batch = Some(batch.batch_id);
            }
        }
        for line in &batch.lines {
            self.push_event(EventType::PayoutMade, sequence, at, |event| {
                event.amount = Some(line.net);
                event.reason = Some(format!("technician {} batch {}", line.technician_id, batch.batch_id));
            });
        }
        self.payout_batches.insert(batch.batch_id, batch);
    }

    fn push_event(
        &mut self,
        event_type: EventType,
        journal_sequence: u64,
        at: Timestamp,
        fill: impl FnOnce(&mut Event),
    ) {
        let mut event = Event::bare(self.events.len() as u64 + 1, event_type, journal_sequence, at);
        fill(&mut event);
        self.events.push(event);
    }

    /// An accepted reading: the meter's last reading, the tier year's volume, the e-bill line.
    fn apply_reading_accepted(&mut self, id: EntryId, note: notes::ReadingAccepted, sequence: u64, at: Timestamp) {
        if let Some(meter) = self.meters.get_mut(&note.meter_id) {
            meter.last =
                Some(LastReading { counter: note.counter, register: note.register, read_at: Timestamp(note.read_at) });
            meter.rollover_pending = false;
        }
        self.annual_volume.insert(note.customer_id, (note.tier_year_start, note.annual_volume_after));
        // The signed reading settles the customer's provisional readings before it.
        // (Most meters never have one: look, don't insert an empty list per meter.)
        for own in self.self_readings.get_mut(&note.meter_id).into_iter().flatten() {
            if own.settled_by.is_none() && own.note.read_at <= note.read_at {
                own.settled_by = Some(id.0);
            }
        }
        self.reading_charges.insert(id, if note.billed { note.total } else { Decimal::ZERO });
        if note.billed {
            self.risk.reading_charged(note.customer_id, at, note.total);
        }
        let bills = self.bills.entry(note.customer_id).or_default();
        self.bill_by_id.insert(id.0, (note.customer_id, bills.len()));
        bills.push(Bill { id: id.0, sequence, at, reading: note });
    }

    fn apply_note(&mut self, id: EntryId, kind: &str, payload: &[u8], sequence: u64, at: Timestamp) {
        match kind {
            notes::CUSTOMER_REGISTERED => {
                if let Some(note) = parse::<notes::CustomerRegistered>(kind, payload) {
                    self.risk.customer_registered(note.id, at);
                    let wallet = AccountId(note.wallet_id);
                    self.customer_by_wallet.insert(wallet, note.id);
                    self.customers.insert(
                        note.id,
                        Customer {
                            id: note.id,
                            name: note.name,
                            household_size: note.household_size,
                            tariff: note.tariff,
                            billing_mode: note.billing_mode,
                            wallet,
                            created_at: at,
                        },
                    );
                }
            }
            notes::MERCHANT_SETTLED => {
                if let Some(note) = parse::<notes::MerchantSettled>(kind, payload) {
                    self.merchant_settlements.entry(note.date.clone()).or_default().insert(note.merchant_id, note);
                }
            }
            notes::MERCHANT_BATCH_SETTLED => {
                if let Some(note) = parse::<notes::MerchantBatchSettled>(kind, payload) {
                    self.merchant_settlements.entry(note.date).or_default();
                }
            }
            notes::SERVICE_ORDER_CHANGED => {
                if let Some(order) = parse::<crate::service::service_orders::ServiceOrder>(kind, payload) {
                    self.apply_service_order(order, at);
                }
            }
            notes::SERVICE_ORDER_REVERSED => {
                if let Some(reversal) = parse::<crate::service::service_orders::OrderReversal>(kind, payload) {
                    if let Some(technician_id) = reversal.order.technician_id {
                        self.clawbacks.insert(
                            reversal.reversal_id,
                            settlement::payout::PayoutClawback {
                                reversal_id: reversal.reversal_id,
                                order_id: reversal.order.id,
                                technician_id,
                                amount: reversal.from_technician,
                            },
                        );
                    }
                    self.service_orders.insert(reversal.order.id, reversal.order.clone());
                    self.service_reversals.insert(reversal.reversal_id, reversal);
                }
            }
            notes::PAYLOAD_PART => {
                if let Some((whole, bytes)) = payload.split_first_chunk::<16>() {
                    self.payload_parts.entry(Uuid::from_bytes(*whole)).or_default().extend_from_slice(bytes);
                }
            }
            notes::TECHNICIAN_PAYOUT_BATCH => {
                let joined = match serde_json::from_slice::<notes::InParts>(payload) {
                    Ok(in_parts) => self.payload_parts.remove(&in_parts.whole).unwrap_or_default(),
                    Err(_) => payload.to_vec(),
                };
                if let Some(batch) = parse::<settlement::payout::PayoutBatch>(kind, &joined) {
                    self.apply_payout_batch(batch, sequence, at);
                }
            }
            notes::ANOMALY_DETECTED => {
                if let Some(note) = parse::<notes::AnomalyDetected>(kind, payload) {
                    if note.tamper {
                        self.risk.tamper_flagged(note.customer_id, at);
                    }
                    let wallet = self.customers.get(&note.customer_id).map(|customer| customer.wallet.0);
                    self.push_event(EventType::AnomalyDetected, sequence, at, |event| {
                        event.customer_id = Some(note.customer_id);
                        event.wallet_id = wallet;
                        event.reason = Some(format!("{} on meter {}: {}", note.kind, note.meter_id, note.evidence));
                    });
                    self.anomalies.insert(id, note);
                }
            }
            notes::CREDIT_SCORED => {
                if let Some(note) = parse::<notes::CreditScored>(kind, payload) {
                    if note.previous_grade.as_deref() != Some(note.grade.as_str()) {
                        let wallet = self.customers.get(&note.customer_id).map(|customer| customer.wallet.0);
                        self.push_event(EventType::ScoreChanged, sequence, at, |event| {
                            event.customer_id = Some(note.customer_id);
                            event.wallet_id = wallet;
                            event.amount = Some(note.credit_limit);
                            event.reason = Some(format!(
                                "grade {} -> {} (score {}, {})",
                                note.previous_grade.as_deref().unwrap_or("none"),
                                note.grade,
                                note.score,
                                note.model_version
                            ));
                        });
                    }
                    self.risk.scored(note);
                }
            }
            notes::RECONCILIATION_BREAKS => {
                if let Some(note) = parse::<notes::ReconciliationBreaks>(kind, payload) {
                    self.reconciliation_break_chunks.entry(note.run_id).or_default().push(note);
                }
            }
            notes::RECONCILIATION_RUN => {
                if let Some(note) = parse::<notes::ReconciliationRun>(kind, payload) {
                    let mut chunks = self.reconciliation_break_chunks.remove(&note.id).unwrap_or_default();
                    chunks.sort_by_key(|chunk| chunk.chunk);
                    let breaks = chunks.into_iter().flat_map(|chunk| chunk.breaks).collect();
                    self.reconciliations.insert(note.id, ReconciliationRun { run: note, breaks, at });
                }
            }
            notes::BREAK_RESOLVED => {
                if let Some(note) = parse::<notes::BreakResolved>(kind, payload) {
                    self.reconciliation_resolutions.insert(note.break_id, (note, at));
                }
            }
            notes::DAY_CLOSED => {
                if let Some(note) = parse::<notes::DayClosed>(kind, payload) {
                    self.closed_days.insert(note.day.clone(), note);
                }
            }
            notes::MERCHANT_REGISTERED => {
                if let Some(note) = parse::<notes::MerchantRegistered>(kind, payload) {
                    self.merchants.insert(
                        note.id,
                        Merchant {
                            id: note.id,
                            name: note.name,
                            fee_rate: note.fee_rate,
                            payable: AccountId(note.payable_account),
                            created_at: at,
                        },
                    );
                }
            }
            notes::TECHNICIAN_REGISTERED | notes::CONCENTRATOR_REGISTERED => {
                if let Some(note) = parse::<notes::PartyRegistered>(kind, payload) {
                    let party = Party { id: note.id, name: note.name, created_at: at };
                    if kind == notes::TECHNICIAN_REGISTERED {
                        self.technicians.insert(note.id, party);
                    } else {
                        self.concentrators.insert(note.id, party);
                    }
                }
            }
            // Applied by `Projection::committed`: tokens live outside this state.
            notes::TOKEN_ISSUED => {}
            notes::PAYMENT_CODE_ISSUED => {
                if let Some(note) = parse::<notes::PaymentCodeIssued>(kind, payload) {
                    self.payment_code_by_note.insert(id.0, note.code.clone());
                    self.payment_codes.insert(
                        note.code.clone(),
                        PaymentCode {
                            code: note.code,
                            wallet: AccountId(note.wallet_id),
                            customer_id: note.customer_id,
                            max_amount: note.max_amount,
                            expires_at: Timestamp(note.expires_at),
                            used_by: None,
                        },
                    );
                }
            }
            notes::PAYMENT_CODE_USED => {
                if let Some(note) = parse::<notes::PaymentCodeUsed>(kind, payload) {
                    if let Some(code) = self.payment_codes.get_mut(&note.code) {
                        code.used_by = Some(note.payment_id);
                    }
                }
            }
            notes::PAYMENT_MADE => {
                if let Some(note) = parse::<notes::PaymentMade>(kind, payload) {
                    self.risk.wallet_touched(note.customer_id);
                    self.payments.insert(
                        note.id,
                        Payment {
                            id: note.id,
                            entry_id: note.entry_id,
                            wallet: AccountId(note.wallet_id),
                            customer_id: note.customer_id,
                            merchant_id: note.merchant_id,
                            amount: note.amount,
                            refunded: Decimal::ZERO,
                            order_ref: note.order_ref,
                            created_at: at,
                            refunds: Vec::new(),
                        },
                    );
                    self.push_event(EventType::PaymentPosted, sequence, at, |event| {
                        event.customer_id = Some(note.customer_id);
                        event.wallet_id = Some(note.wallet_id);
                        event.merchant_id = Some(note.merchant_id);
                        event.payment_id = Some(note.id);
                        event.entry_id = Some(note.entry_id);
                        event.amount = Some(note.amount);
                    });
                }
            }
            notes::REFUND_MADE => {
                if let Some(note) = parse::<notes::RefundMade>(kind, payload) {
                    let mut customer_and_wallet = None;
                    if let Some(payment) = self.payments.get_mut(&note.payment_id) {
                        payment.refunded += note.amount;
                        payment.refunds.push(note.id);
                        customer_and_wallet = Some((payment.customer_id, payment.wallet.0));
                    }
                    self.refunds.insert(
                        note.id,
                        Refund {
                            id: note.id,
                            entry_id: note.entry_id,
                            payment_id: note.payment_id,
                            merchant_id: note.merchant_id,
                            amount: note.amount,
                            created_at: at,
                        },
                    );
                    self.push_event(EventType::RefundPosted, sequence, at, |event| {
                        event.customer_id = customer_and_wallet.map(|(customer, _)| customer);
                        event.wallet_id = customer_and_wallet.map(|(_, wallet)| wallet);
                        event.merchant_id = Some(note.merchant_id);
                        event.payment_id = Some(note.payment_id);
                        event.entry_id = Some(note.entry_id);
                        event.amount = Some(note.amount);
                    });
                }
            }
            notes::TOPUP_RECEIVED => {
                if let Some(note) = parse::<notes::TopupReceived>(kind, payload) {
                    let customer = self.customer_by_wallet.get(&AccountId(note.wallet_id)).copied();
                    if let Some(customer) = customer {
                        self.risk.topup(customer, at);
                    }
                    self.topups.insert(
                        note.entry_id,
                        Topup {
                            entry_id: note.entry_id,
                            wallet: AccountId(note.wallet_id),
                            amount: note.amount,
                            channel: note.channel.clone(),
                            channel_txn_id: note.channel_txn_id.clone(),
                            arrears_paid: note.arrears_paid,
                            sequence,
                            at,
                        },
                    );
                    self.push_event(EventType::TopupPosted, sequence, at, |event| {
                        event.customer_id = customer;
                        event.wallet_id = Some(note.wallet_id);
                        event.entry_id = Some(note.entry_id);
                        event.amount = Some(note.amount);
                    });
                }
            }
            notes::IDEMPOTENCY_CLAIMED => {
                if let Some(note) = parse::<notes::IdempotencyClaimed>(kind, payload) {
                    self.idempotency.insert(
                        id,
                        IdempotencyRecord::Claimed {
                            request_hash: note.request_hash,
                            resource: note.resource,
                            resource_id: note.resource_id,
                        },
                    );
                }
            }
            notes::IDEMPOTENCY_ANSWERED => {
                if let Some(note) = parse::<notes::IdempotencyAnswered>(kind, payload) {
                    self.idempotency
                        .insert(id, IdempotencyRecord::Answered { request_hash: note.request_hash, body: note.body });
                }
            }
            notes::WEBHOOK_REGISTERED => {
                if let Some(note) = parse::<notes::WebhookRegistered>(kind, payload) {
                    self.webhooks.push(Webhook {
                        id: note.id,
                        url: note.url,
                        owner: Principal { role: note.role, subject_id: note.subject_id, token_id: Uuid::nil() },
                    });
                }
            }
            notes::METER_REGISTERED => {
                if let Some(note) = parse::<notes::MeterRegistered>(kind, payload) {
                    let key = hex::decode(&note.public_key)
                        .ok()
                        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                        .and_then(|bytes| ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok());
                    if let Some(public_key) = key {
                        self.meters.insert(
                            note.id,
                            Meter {
                                id: note.id,
                                serial: note.serial,
                                customer_id: note.customer_id,
                                public_key,
                                max_flow_m3_per_h: note.max_flow_m3_per_h,
                                initial_register: note.initial_register,
                                installed_at: Timestamp(note.installed_at),
                                active: true,
                                last: None,
                                rollover_pending: false,
                                replaced_by: None,
                            },
                        );
                    }
                }
            }
            notes::READING_ACCEPTED => {
                if let Some(note) = parse::<notes::ReadingAccepted>(kind, payload) {
                    self.apply_reading_accepted(id, note, sequence, at);
                }
            }
            notes::VALVE_CHANGED => {
                if let Some(note) = parse::<notes::ValveChanged>(kind, payload) {
                    use crate::metering::valve::ValveState;
                    self.valves.insert(note.customer_id, note.state);
                    if note.state == ValveState::Closed {
                        // Valves close for arrears only (an immediate close or a deferred one).
                        self.risk.valve_closed_for_arrears(note.customer_id, at);
                    }
                    if note.state != ValveState::Open || note.reason == "arrears_paid" {
                        self.deferred_closes.remove(&note.customer_id);
                    }
                    let wallet = self.customers.get(&note.customer_id).map(|customer| customer.wallet.0);
                    let event_type = match note.state {
                        ValveState::Closed => EventType::ValveClose,
                        ValveState::Armed => EventType::ValveArmed,
                        ValveState::Open => EventType::ValveOpen,
                    };
                    self.push_event(event_type, sequence, at, |event| {
                        event.customer_id = Some(note.customer_id);
                        event.wallet_id = wallet;
                        event.reason = Some(note.reason.clone());
                    });
                }
            }
            notes::VALVE_CLOSE_DEFERRED => {
                if let Some(note) = parse::<notes::ValveCloseDeferred>(kind, payload) {
                    self.deferred_closes.insert(note.customer_id, Timestamp(note.until));
                    let wallet = self.customers.get(&note.customer_id).map(|customer| customer.wallet.0);
                    self.push_event(EventType::ValveCloseDeferred, sequence, at, |event| {
                        event.customer_id = Some(note.customer_id);
                        event.wallet_id = wallet;
                        event.reason = Some(format!(
                            "friendly-credit hours until {}",
                            crate::time::format_rfc3339(Timestamp(note.until))
                        ));
                    });
                }
            }
            notes::MONTHLY_BILL_ISSUED => {
                if let Some(note) = parse::<notes::MonthlyBillIssued>(kind, payload) {
                    self.monthly_billed.extend(note.readings.iter().copied());
                    self.risk.monthly_bill(note.customer_id, at, note.total);
                    let wallet = self.customers.get(&note.customer_id).map(|customer| customer.wallet.0);
                    self.push_event(EventType::BillIssued, sequence, at, |event| {
                        event.customer_id = Some(note.customer_id);
                        event.wallet_id = wallet;
                        event.amount = Some(note.total);
                        event.reason = Some(format!("monthly bill {}", note.month));
                    });
                    self.monthly_bills.entry(note.customer_id).or_default().push(note);
                }
            }
            notes::METER_ROLLOVER_DECLARED => {
                if let Some(note) = parse::<notes::MeterRolloverDeclared>(kind, payload) {
                    if let Some(meter) = self.meters.get_mut(&note.meter_id) {
                        meter.rollover_pending = true;
                    }
                }
            }
            notes::METER_REPLACED => {
                if let Some(note) = parse::<notes::MeterReplaced>(kind, payload) {
                    if let Some(meter) = self.meters.get_mut(&note.old_meter_id) {
                        meter.active = false;
                        meter.replaced_by = Some(note.new_meter_id);
                    }
                }
            }
            notes::SELF_READING_RECORDED => {
                if let Some(note) = parse::<notes::SelfReadingRecorded>(kind, payload) {
                    self.self_readings.entry(note.meter_id).or_default().push(SelfReading { note, settled_by: None });
                }
            }
            notes::TARIFF_SET => {
                if let Some(tariff) = parse::<crate::metering::tariff::Tariff>(kind, payload) {
                    self.tariffs.insert(tariff.code.clone(), std::sync::Arc::new(tariff));
                }
            }
            notes::WEBHOOK_PROGRESS => {
                if let Some(note) = parse::<notes::WebhookProgress>(kind, payload) {
                    let progress = self.webhook_progress.entry(note.webhook_id).or_default();
                    *progress = (*progress).max(note.delivered_through);
                }
            }
            other => tracing::warn!(kind = other, "note of an unknown kind ignored"),
        }
    }

    /// Emits `low_balance` when an entry takes a wallet's available balance from at or above the
    /// threshold to below it.
    fn detect_low_balance(
        &mut self,
        ledger_state: &State,
        entry: &ledger::record::EntryRecord,
        sequence: u64,
        at: Timestamp,
    ) {
        for posting in &entry.postings {
            if posting.side != Side::Debit {
                continue;
            }
            let Some(account) = ledger_state.account_at(posting.account) else { continue };
            if account.code != chart::CUSTOMER_WALLET || account.asset != Asset::Cny {
                continue;
            }
            let before =
                ledger_state.balances_as_of_sequence(posting.account, sequence - 1).available_on(account.normal_side);
            let after =
                ledger_state.balances_as_of_sequence(posting.account, sequence).available_on(account.normal_side);
            if before >= LOW_BALANCE_THRESHOLD_FEN && after < LOW_BALANCE_THRESHOLD_FEN {
                let wallet = account.id;
                let customer = self.customer_by_wallet.get(&wallet).copied();
                self.push_event(EventType::LowBalance, sequence, at, |event| {
                    event.customer_id = customer;
                    event.wallet_id = Some(wallet.0);
                    event.entry_id = Some(entry.id.0);
                    event.available = Some(Asset::Cny.decimal_from_minor(after));
                });
            }
        }
    }
}

/// Ids of the system accounts (opened at start-up).
pub fn system_accounts() -> Vec<(AccountId, ledger::ChartCode)> {
    let mut accounts: Vec<(AccountId, ledger::ChartCode)> =
        ids::CHANNELS.iter().map(|channel| (ids::channel_clearing_account(channel), chart::CHANNEL_CLEARING)).collect();
    accounts.push((ids::gas_revenue_account(), chart::GAS_SALES_REVENUE));
    accounts.push((ids::merchant_fee_revenue_account(), chart::MERCHANT_FEE_REVENUE));
    accounts.push((ids::settlement_bank_account(), chart::SETTLEMENT_BANK));
    accounts.push((ids::service_escrow_account(), chart::SERVICE_ESCROW));
    accounts.push((ids::service_commission_revenue_account(), chart::SERVICE_COMMISSION_REVENUE));
    accounts.push((ids::channel_refund_payable_account(), chart::CHANNEL_REFUND_PAYABLE));
    accounts.push((ids::reconciliation_write_off_account(), chart::RECONCILIATION_WRITE_OFF));
    accounts
}

#[cfg(test)]
mod tests {
    use super::*;
    use settlement::business_day::BusinessDay;
    use settlement::payout::{compute_payout_batch, PayoutOrderLine, PayoutPeriod};

    #[test]
    fn a_payout_batch_too_large_for_one_note_is_recorded_in_parts_and_joined() {
        let day = BusinessDay::parse("2026-12-01").unwrap();
        let technician = Uuid::from_u128(7);
        let orders: Vec<PayoutOrderLine> = (0..1_000u128)
            .map(|number| PayoutOrderLine {
                order_id: Uuid::from_u128(1_000 + number),
                technician_id: technician,
                price: Decimal::new(10_000, 2),
                refunded: Decimal::ZERO,
                commission: Decimal::new(1_500, 2),
                technician_share: Decimal::new(8_500, 2),
                held_for_review: false,
            })
            .collect();
        let period = PayoutPeriod { from: day, to: day };
        let batch = compute_payout_batch(period, &orders, &[], &std::collections::HashSet::new()).unwrap();
        let payload = notes::encode(&batch);
        assert!(payload.len() > ledger::command::NOTE_PAYLOAD_BYTES_MAX, "the test needs a large batch");
        let id = EntryId(Uuid::from_u128(99));
        let commands = notes::large_note(id, notes::TECHNICIAN_PAYOUT_BATCH, payload.clone());
        assert!(commands.len() > 2, "parts, then the note naming them");
        let mut state = ProjectionState::default();
        for (sequence, command) in commands.iter().enumerate() {
            let ledger::Command::Note { id, kind, payload } = command else { panic!("only notes") };
            assert!(payload.len() <= ledger::command::NOTE_PAYLOAD_BYTES_MAX);
            state.apply_note(*id, kind, payload, sequence as u64 + 1, Timestamp::from_unix_seconds(0));
        }
        let recorded = state.payout_batches.get(&batch.batch_id).expect("the batch was joined and applied");
        assert_eq!(recorded, &batch);
        assert_eq!(state.paid_ids.len(), 1_000);
        assert!(state.payload_parts.is_empty(), "the parts are let go once joined");
        // A small payload stays one plain note.
        assert_eq!(notes::large_note(id, notes::TECHNICIAN_PAYOUT_BATCH, b"{}".to_vec()).len(), 1);
    }

    fn reading_note(counter: u64, total: Decimal) -> notes::ReadingAccepted {
        notes::ReadingAccepted {
            meter_id: Uuid::from_u128(1),
            customer_id: Uuid::from_u128(2),
            counter,
            register: Decimal::new(12_345, 3),
            read_at: 1_000_000,
            previous_register: Decimal::ZERO,
            previous_read_at: 0,
            volume: Decimal::new(12_345, 3),
            lines: Vec::new(),
            total,
            charged: total,
            arrears: Decimal::ZERO,
            tier_year_start: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            annual_volume_after: Decimal::new(12_345, 3),
            billed: true,
        }
    }

    #[test]
    fn handed_over_readings_are_applied_when_committed_and_taken_back_when_not() {
        let projection = Projection::default();
        let committed_id = EntryId(Uuid::from_u128(10));
        let refused_id = EntryId(Uuid::from_u128(11));
        let note = reading_note(1, Decimal::new(5_220, 2));
        let guard = projection
            .hand_over_readings(vec![(committed_id, note.clone()), (refused_id, reading_note(2, Decimal::ONE))]);
        let records = [RecordBody::Note {
            id: committed_id,
            kind: notes::READING_ACCEPTED.to_owned(),
            payload: notes::encode(&note),
        }];
        let batch = CommittedBatch { first_sequence: 1, timestamp: Timestamp::from_unix_seconds(1), records: &records };
        projection.committed(batch, &State::new());
        assert_eq!(projection.read().reading_charges.get(&committed_id), Some(&Decimal::new(5_220, 2)));
        assert_eq!(projection.read().bills[&note.customer_id][0].reading, note);
        assert_eq!(projection.handed_over.lock().len(), 1, "the committed one was used up");
        drop(guard);
        assert!(projection.handed_over.lock().is_empty(), "the refused one stays behind");
        assert!(projection.read().reading_charges.get(&refused_id).is_none());
    }

    #[test]
    fn a_token_is_found_while_the_writer_holds_the_projection() {
        let projection = std::sync::Arc::new(Projection::default());
        let hash = [7u8; 32];
        let note = notes::TokenIssued {
            token_id: Uuid::from_u128(1),
            token_hash: hex::encode(hash),
            role: crate::service::model::Role::Admin,
            subject_id: None,
        };
        let records = [RecordBody::Note {
            id: EntryId(Uuid::from_u128(2)),
            kind: notes::TOKEN_ISSUED.to_owned(),
            payload: notes::encode(&note),
        }];
        let batch = CommittedBatch { first_sequence: 1, timestamp: Timestamp::from_unix_seconds(1), records: &records };
        projection.committed(batch, &State::new());
        // The writer applying a batch holds the projection's write lock; authentication must not wait for it.
        let writing = projection.state.write();
        let (found, answer) = std::sync::mpsc::channel();
        let looking = std::sync::Arc::clone(&projection);
        std::thread::spawn(move || {
            let _ = found.send(looking.principal(&hash));
        });
        let principal = answer.recv_timeout(std::time::Duration::from_secs(10));
        drop(writing);
        let principal = principal.unwrap_or_else(|_| panic!("the token lookup waited for the projection's write lock"));
        assert_eq!(principal.map(|principal| principal.token_id), Some(Uuid::from_u128(1)));
        assert_eq!(projection.principal(&[8u8; 32]), None, "an unknown token has no principal");
    }
}
