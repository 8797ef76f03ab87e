//! Meters and automatic payment from signed readings.
//!
//! A meter is registered with its ed25519 public key. Each reading carries
//! `meter_id|counter|register|read_at` signed by the meter (the exact strings sent, see API.md).
//! Readings are checked one by one and each is accepted or rejected with a code; a batch is never
//! all-or-nothing. An accepted reading's consumption is priced by the customer's tariff
//! (`crate::metering::tariff`) and, in `per_reading` mode, charged at once: the wallet pays what
//! its available balance plus credit limit allows, the rest is booked as arrears. Every ledger id
//! is derived from (meter, counter), so a retried reading never charges twice.

use super::error::{from_rejection, ErrorClass, ServiceError};
use super::ids;
use super::model::{BillingMode, Principal, Role};
use super::notes;
use super::projection::LastReading;
use super::Service;
use crate::metering::tariff::{price_interval, ChargeLine, Tariff};
use crate::metering::valve::{self, ValveDecision, ValveState};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use ledger::{chart, AccountSpec, Asset, Command, EntrySpec, PostingSpec, RejectionCode, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Most readings in one request.
pub const READINGS_PER_REQUEST_MAX: usize = 1000;
/// How far in the future a reading's time may be (meter clocks drift).
pub const READING_CLOCK_SKEW_MICROS: i64 = 5 * 60 * 1_000_000;
/// Default maximum flow of a household meter (G4 diaphragm meter: 6 m³/h).
pub const MAX_FLOW_M3_PER_H_DEFAULT: Decimal = Decimal::from_parts(6, 0, 0, false, 0);
/// Largest register value (m³) a meter can show before it rolls over (8 digits, 3 decimals).
pub const REGISTER_M3_MAX: Decimal = Decimal::from_parts(99_999_999, 0, 0, false, 3);
/// Where a register rolls over to zero (one litre past the largest value).
pub const REGISTER_ROLLOVER_M3: Decimal = Decimal::from_parts(100_000_000, 0, 0, false, 3);
/// Longest meter serial.
pub const SERIAL_BYTES_MAX: usize = 32;
/// Attempts to plan and commit a customer's readings when a payment spends the wallet meanwhile.
pub const CHARGE_ATTEMPTS_MAX: usize = 3;
/// Most readings of one customer in one request (each takes up to four commands of a linked group).
pub const READINGS_PER_CUSTOMER_PER_REQUEST_MAX: usize = ledger::command::LINKED_COMMANDS_MAX / 4;
/// Batches at least this large have their signatures checked on a blocking thread, off the
/// runtime's workers.
pub const BLOCKING_VERIFY_MIN_READINGS: usize = 64;

/// A reading as a concentrator sends it (strings kept exactly as sent: they are what was signed).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReadingInput {
    pub meter_id: String,
    pub counter: u64,
    pub register: String,
    pub read_at: String,
    pub signature: String,
}

/// The fate of one reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadingResult {
    pub meter_id: String,
    pub counter: u64,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charge: Option<String>,
}

impl ReadingResult {
    fn rejected(input: &ReadingInput, code: &'static str) -> ReadingResult {
        ReadingResult {
            meter_id: input.meter_id.clone(),
            counter: input.counter,
            status: "rejected",
            code: Some(code),
            charge: None,
        }
    }
}

/// A reading that passed the stateless checks.
#[derive(Debug, Clone)]
struct Candidate {
    index: usize,
    meter_id: Uuid,
    customer_id: Uuid,
    register: Decimal,
    read_at: Timestamp,
}

/// What earlier readings of the same batch did to one customer, and the customer's linked group.
#[derive(Debug)]
struct CustomerBatch {
    customer: super::model::Customer,
    tariff: std::sync::Arc<Tariff>,
    annual: Option<(chrono::NaiveDate, Decimal)>,
    payable: Decimal,
    arrears: Decimal,
    valve: ValveState,
    close_deferred: bool,
    last_readings: std::collections::HashMap<Uuid, Option<LastReading>>,
    commands: Vec<Command>,
    /// (position in the request, charge) of each reading in `commands`.
    planned: Vec<(usize, Decimal)>,
    /// The readings in `commands` by (meter, counter): register, time and charge.
    planned_readings: std::collections::HashMap<(Uuid, u64), (Decimal, Timestamp, Decimal)>,
    /// Meters whose declared rollover a planned reading already used.
    rollovers_used: std::collections::HashSet<Uuid>,
    /// The `reading_accepted` notes in `commands`, typed, to hand to the projection.
    accepted_notes: Vec<(ledger::EntryId, notes::ReadingAccepted)>,
}

/// A registered, active meter as the stateless checks need it.
#[derive(Debug, Clone, Copy)]
struct KnownMeter {
    meter_id: Uuid,
    public_key: VerifyingKey,
    customer_id: Uuid,
}

/// The stateless checks of a chunk of readings (run on a blocking thread for large batches).
///
/// Signatures are first checked together with ed25519 batch verification, about twice as fast per
/// signature; only if the batch fails is each checked on its own, to find the bad ones. (Batch
/// verification can accept a signature that single verification refuses only when the signer
/// itself crafts it with a small-order component; here the signer is the meter, which could sign
/// any reading anyway, so nothing is lost.)
fn check_chunk(chunk: Vec<(usize, ReadingInput, Option<KnownMeter>)>) -> Vec<Result<Candidate, &'static str>> {
    struct Parsed {
        index: usize,
        meter: KnownMeter,
        message: String,
        signature: Signature,
        register: Option<Decimal>,
        read_at: Option<Timestamp>,
    }
    let mut outcomes: Vec<Option<Result<Candidate, &'static str>>> = Vec::with_capacity(chunk.len());
    let mut parsed: Vec<(usize, Parsed)> = Vec::with_capacity(chunk.len());
    for (index, input, meter) in chunk {
        let position = outcomes.len();
        let Some(meter) = meter else {
            outcomes.push(Some(Err("unknown_meter")));
            continue;
        };
        let mut bytes = [0u8; 64];
        if hex::decode_to_slice(&input.signature, &mut bytes).is_err() {
            outcomes.push(Some(Err("bad_signature")));
            continue;
        }
        outcomes.push(None);
        parsed.push((
            position,
            Parsed {
                index,
                meter,
                message: reading_message(&input.meter_id, input.counter, &input.register, &input.read_at),
                signature: Signature::from_bytes(&bytes),
                register: parse_register(&input.register),
                read_at: crate::time::parse_rfc3339(&input.read_at),
            },
        ));
    }
    let messages: Vec<&[u8]> = parsed.iter().map(|(_, reading)| reading.message.as_bytes()).collect();
    let signatures: Vec<Signature> = parsed.iter().map(|(_, reading)| reading.signature).collect();
    let keys: Vec<VerifyingKey> = parsed.iter().map(|(_, reading)| reading.meter.public_key).collect();
    let all_valid = !parsed.is_empty() && ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok();
    for (position, reading) in parsed {
        let verified =
            all_valid || reading.meter.public_key.verify(reading.message.as_bytes(), &reading.signature).is_ok();
        outcomes[position] = Some(if !verified {
            Err("bad_signature")
        } else {
            match (reading.register, reading.read_at) {
                (Some(register), Some(read_at)) => Ok(Candidate {
                    index: reading.index,
                    meter_id: reading.meter.meter_id,
                    customer_id: reading.meter.customer_id,
                    register,
                    read_at,
                }),
                _ => Err("malformed_reading"),
            }
        });
    }
    outcomes.into_iter().map(|outcome| outcome.unwrap_or(Err("bad_signature"))).collect()
}

/// Which billing worker bills a customer (any fixed split of customers will do: workers never
/// share a customer, so they never wait for each other's locks).
fn billing_worker(customer: Uuid) -> usize {
    (customer.as_u128() % BILLING_WORKERS as u128) as usize
}

/// The signed message of a reading.
pub fn reading_message(meter_id: &str, counter: u64, register: &str, read_at: &str) -> String {
    format!("{meter_id}|{counter}|{register}|{read_at}")
}

fn parse_register(text: &str) -> Option<Decimal> {
    // Three decimals exactly, as API.md fixes the signed encoding ("370.000").
    let (whole, fraction) = text.split_once('.')?;
    if whole.is_empty()
        || fraction.len() != 3
        || !whole.bytes().chain(fraction.bytes()).all(|byte| byte.is_ascii_digit())
    {
        return None;
    }
    let value: Decimal = text.parse().ok()?;
    (value <= REGISTER_M3_MAX).then_some(value)
}

impl Service {
    /// Registers a meter for a customer.
    #[allow(clippy::too_many_arguments)]
    pub async fn register_meter(
        &self,
        principal: &Principal,
        serial: &str,
        customer_id: Uuid,
        public_key_hex: &str,
        max_flow_m3_per_h: Option<Decimal>,
        initial_register: Decimal,
        installed_at: Option<Timestamp>,
    ) -> Result<serde_json::Value, ServiceError> {
        if principal.role != Role::Admin {
            return Err(ServiceError::forbidden("meters are registered by admin"));
        }
        let installed_at = installed_at.unwrap_or_else(|| self.now());
        let note = self.new_meter_note(
            customer_id,
            serial,
            public_key_hex,
            max_flow_m3_per_h,
            initial_register,
            installed_at,
        )?;
        let customer = self.projection().read().customers.get(&customer_id).cloned();
        let customer = customer.ok_or_else(|| ServiceError::not_found(format!("no customer {customer_id}")))?;
        let mut commands = vec![Command::Note {
            id: ids::meter_serial(serial),
            kind: notes::METER_REGISTERED.into(),
            payload: notes::encode(&note),
        }];
        let arrears = ids::arrears_account(customer.id);
        let arrears_exists = self.reader().account(&arrears).is_some();
        if !arrears_exists {
            commands.push(Command::OpenAccount(AccountSpec {
                id: arrears,
                code: chart::CUSTOMER_ARREARS,
                asset: Asset::Cny,
                no_overdraft: false,
                credit_limit: Decimal::ZERO,
            }));
        }
        match self.submit_one(Command::Linked(commands)).await? {
            Ok(_) => Ok(meter_json(&note)),
            Err(rejection) if rejection.code == RejectionCode::IdConflict && rejection.linked_index == Some(0) => {
                Err(ServiceError::new(
                    ErrorClass::Conflict,
                    "duplicate_serial",
                    format!("a meter with serial {serial} exists"),
                ))
            }
            Err(rejection) => Err(from_rejection(&rejection)),
        }
    }

    /// Checks and charges a batch of readings; each is accepted or rejected on its own.
    ///
    /// Stateless checks (meter known, signature, format) run first, signatures in parallel for
    /// large batches. Then the customers concerned are locked (in id order, so two batches
    /// cannot deadlock) and each reading is planned in order against a per-customer context that
    /// carries what earlier readings of the same batch did (last reading, annual volume, what the
    /// wallet can still pay, arrears, valve). A customer's readings form one linked group, and all
    /// groups go to the ledger in one submission: one group commit for the whole batch.
    pub async fn ingest_readings(
        &self,
        principal: &Principal,
        readings: &[ReadingInput],
    ) -> Result<Vec<ReadingResult>, ServiceError> {
        if !matches!(principal.role, Role::Concentrator | Role::Admin) {
            return Err(ServiceError::forbidden("readings come from concentrators"));
        }
        if readings.is_empty() || readings.len() > READINGS_PER_REQUEST_MAX {
            return Err(ServiceError::validation(format!("send 1 to {READINGS_PER_REQUEST_MAX} readings")));
        }
        let mut results: Vec<Option<ReadingResult>> = vec![None; readings.len()];
        let checked = self.check_readings(readings).await?;
        let mut candidates = Vec::new();
        for (index, outcome) in checked.into_iter().enumerate() {
            match outcome {
                Ok(candidate) => candidates.push(candidate),
                Err(code) => results[index] = Some(ReadingResult::rejected(&readings[index], code)),
            }
        }
        // Lock every customer concerned (batches for other customers go on at the same time).
        let guards = self.customer_locks.lock_all(candidates.iter().map(|candidate| candidate.customer_id)).await;
        let now = self.now();
        // Candidates grouped by customer, customers in order of first appearance.
        let mut customers: Vec<(Uuid, Vec<Candidate>)> = Vec::new();
        let mut customer_positions: std::collections::HashMap<Uuid, usize> = std::collections::HashMap::new();
        for candidate in candidates {
            let position = *customer_positions.entry(candidate.customer_id).or_insert_with(|| {
                customers.push((candidate.customer_id, Vec::new()));
                customers.len() - 1
            });
            customers[position].1.push(candidate);
        }
        // A merchant payment may spend a wallet between planning and commit (payments do not take
        // the customer locks: they would serialize a hot path behind readings). Then that
        // customer's group is refused whole, nothing of it is posted, and it is planned again
        // from the fresh balance; the last attempt books every charge as arrears, which cannot be
        // refused for lack of funds.
        let mut pending: Vec<usize> = (0..customers.len()).collect();
        for attempt in 0..CHARGE_ATTEMPTS_MAX {
            let last_attempt = attempt + 1 == CHARGE_ATTEMPTS_MAX;
            let mut contexts: Vec<(usize, CustomerBatch)> = Vec::with_capacity(pending.len());
            for position in pending.drain(..) {
                let (customer_id, candidates) = &customers[position];
                let Some(mut context) = self.customer_batch(*customer_id) else {
                    for candidate in candidates {
                        results[candidate.index] =
                            Some(ReadingResult::rejected(&readings[candidate.index], "unknown_meter"));
                    }
                    continue;
                };
                if last_attempt {
                    context.payable = Decimal::ZERO;
                }
                for candidate in candidates {
                    let input = &readings[candidate.index];
                    if context.planned.len() >= READINGS_PER_CUSTOMER_PER_REQUEST_MAX {
                        results[candidate.index] =
                            Some(ReadingResult::rejected(input, "too_many_readings_for_customer"));
                        continue;
                    }
                    if let Some(result) = self.plan_reading(&mut context, candidate, input, now) {
                        results[candidate.index] = Some(result);
                    }
                }
                contexts.push((position, context));
            }
            // Each customer's commands move into the submission (a retry plans again from a
            // fresh context, so nothing needs them afterwards).
            contexts.retain(|(_, context)| !context.commands.is_empty());
            let groups: Vec<Command> = contexts
                .iter_mut()
                .map(|(_, context)| Command::Linked(std::mem::take(&mut context.commands)))
                .collect();
            // The projection gets the typed notes too (no JSON decoding on the commit path); the
            // guard takes back, once the submission is answered, those that did not commit.
            let handed_over = self.projection().hand_over_readings(
                contexts.iter_mut().flat_map(|(_, context)| std::mem::take(&mut context.accepted_notes)).collect(),
            );
            let submitted = if groups.is_empty() { Ok(Vec::new()) } else { self.submit(groups).await };
            drop(handed_over);
            let mut outcomes = submitted?.into_iter();
            for (position, context) in &contexts {
                let outcome = outcomes.next();
                if let Some(Err(rejection)) = &outcome {
                    if rejection.code == RejectionCode::InsufficientFunds && !last_attempt {
                        pending.push(*position);
                        continue;
                    }
                }
                for (index, charge) in &context.planned {
                    let input = &readings[*index];
                    results[*index] = Some(match &outcome {
                        Some(Ok(_)) => ReadingResult {
                            meter_id: input.meter_id.clone(),
                            counter: input.counter,
                            status: "accepted",
                            code: None,
                            charge: Some(super::cny(*charge)),
                        },
                        // Nothing of this customer's group was posted; the concentrator retries.
                        Some(Err(rejection)) if rejection.code == RejectionCode::IdConflict => {
                            ReadingResult::rejected(input, "replayed_reading")
                        }
                        Some(Err(rejection)) => {
                            tracing::error!(%rejection, customer = %context.customer.id, "a planned reading group was refused");
                            ReadingResult::rejected(input, "retry_later")
                        }
                        None => ReadingResult::rejected(input, "retry_later"),
                    });
                }
            }
            if pending.is_empty() {
                break;
            }
        }
        drop(guards);
        Ok(results
            .into_iter()
            .enumerate()
            .map(|(index, result)| result.unwrap_or_else(|| ReadingResult::rejected(&readings[index], "retry_later")))
            .collect())
    }

    /// Meter known and active, signature valid, register and time well formed.
    async fn check_readings(
        &self,
        readings: &[ReadingInput],
    ) -> Result<Vec<Result<Candidate, &'static str>>, ServiceError> {
        let work: Vec<(usize, ReadingInput, Option<KnownMeter>)> = {
            let projection = self.projection().read();
            readings
                .iter()
                .enumerate()
                .map(|(index, input)| {
                    let meter = Uuid::parse_str(&input.meter_id).ok().and_then(|meter_id| {
                        let meter = projection.meters.get(&meter_id).filter(|meter| meter.active)?;
                        Some(KnownMeter { meter_id, public_key: meter.public_key, customer_id: meter.customer_id })
                    });
                    (index, input.clone(), meter)
                })
                .collect()
        };
        // Signature checks dominate a reading's cost. A large batch is checked off the runtime's
        // workers (it takes milliseconds) as one batch verification: splitting it in two to use
        // both cores for one request measured 4-10 % fewer readings per second under concurrent
        // batches (each half amortizes the multiscalar multiplication over fewer points), and
        // concurrent requests keep both cores busy anyway (docs/benchmarks.md, "One batch
        // verification per request").
        let checked = if work.len() >= BLOCKING_VERIFY_MIN_READINGS {
            tokio::task::spawn_blocking(move || check_chunk(work))
                .await
                .map_err(|_| ServiceError::new(ErrorClass::Internal, "internal_error", "signature checking stopped"))?
        } else {
            check_chunk(work)
        };
        Ok(checked)
    }

    /// A customer's context for planning readings, read under the customer's lock.
    fn customer_batch(&self, customer_id: Uuid) -> Option<CustomerBatch> {
        let projection = self.projection().read();
        let customer = projection.customers.get(&customer_id)?.clone();
        let tariff = projection.tariff_for(&customer.tariff);
        let annual = projection.annual_volume.get(&customer_id).copied();
        let valve = projection.valves.get(&customer_id).copied().unwrap_or_default();
        let close_deferred = projection.deferred_closes.contains_key(&customer_id);
        drop(projection);
        let payable = self
            .reader()
            .account(&customer.wallet)
            .map(|account| {
                let available =
                    account.balances.available_on(account.normal_side) + i128::from(account.credit_limit_minor);
                Asset::Cny.decimal_from_minor(available.max(0))
            })
            .unwrap_or(Decimal::ZERO);
        let arrears = self.arrears_of(customer_id);
        Some(CustomerBatch {
            customer,
            tariff,
            annual,
            payable,
            arrears,
            valve,
            close_deferred,
            last_readings: std::collections::HashMap::new(),
            commands: Vec::new(),
            planned: Vec::new(),
            planned_readings: std::collections::HashMap::new(),
            rollovers_used: std::collections::HashSet::new(),
            accepted_notes: Vec::new(),
        })
    }

    /// Plans one reading against its customer's context: either a final answer (rejection or the
    /// retry of an accepted reading), or commands added to the customer's group (`None`).
    fn plan_reading(
        &self,
        context: &mut CustomerBatch,
        candidate: &Candidate,
        input: &ReadingInput,
        now: Timestamp,
    ) -> Option<ReadingResult> {
        let (meter, committed_last) = {
            let projection = self.projection().read();
            let meter = projection.meters.get(&candidate.meter_id)?.clone();
            let last = meter.last.clone();
            (meter, last)
        };
        let last = context.last_readings.get(&candidate.meter_id).cloned().unwrap_or(committed_last.clone());
        let reading_id = ids::reading(candidate.meter_id, input.counter);
        if let Some(last) = &last {
            if input.counter <= last.counter {
                // The very same reading again (a retried batch, or twice in one batch) answers as
                // it did the first time; another register or time under a used counter is a replay.
                if let Some((register, read_at, charge)) =
                    context.planned_readings.get(&(candidate.meter_id, input.counter))
                {
                    if *register == candidate.register && *read_at == candidate.read_at {
                        // Answered with the first one's outcome once the group is committed.
                        let charge = *charge;
                        context.planned.push((candidate.index, charge));
                        return None;
                    }
                    return Some(ReadingResult::rejected(input, "replayed_reading"));
                }
                let projection = self.projection().read();
                let same_reading = projection
                    .bill_by_id
                    .get(&reading_id.0)
                    .and_then(|(customer, position)| {
                        projection.bills.get(customer).and_then(|bills| bills.get(*position))
                    })
                    .is_some_and(|bill| {
                        bill.reading.register == candidate.register && bill.reading.read_at == candidate.read_at.0
                    });
                if let Some(charge) = projection.reading_charges.get(&reading_id).filter(|_| same_reading) {
                    return Some(ReadingResult {
                        meter_id: input.meter_id.clone(),
                        counter: input.counter,
                        status: "accepted",
                        code: None,
                        charge: Some(super::cny(*charge)),
                    });
                }
                return Some(ReadingResult::rejected(input, "replayed_reading"));
            }
        }
        let (register, read_at) = (candidate.register, candidate.read_at);
        if read_at.0 > now.0 + READING_CLOCK_SKEW_MICROS {
            return Some(ReadingResult::rejected(input, "future_reading"));
        }
        let (previous_register, previous_at) = match &last {
            Some(last) => (last.register, last.read_at),
            None => (meter.initial_register, meter.installed_at),
        };
        if read_at <= previous_at {
            return Some(ReadingResult::rejected(input, "reading_out_of_order"));
        }
        // After a declared rollover the register restarts from zero: the next reading's volume is
        // what was left to the top of the register plus what it shows now.
        let rolled_over = register < previous_register
            && meter.rollover_pending
            && !context.rollovers_used.contains(&candidate.meter_id);
        if register < previous_register && !rolled_over {
            return Some(ReadingResult::rejected(input, "register_backwards"));
        }
        let volume = if rolled_over {
            REGISTER_ROLLOVER_M3 - previous_register + register
        } else {
            register - previous_register
        };
        let hours = Decimal::from(read_at.0 - previous_at.0) / Decimal::from(3_600_000_000i64);
        if volume > meter.max_flow_m3_per_h * hours {
            return Some(ReadingResult::rejected(input, "implausible_flow"));
        }
        if rolled_over {
            context.rollovers_used.insert(candidate.meter_id);
        }
        let start_date = crate::metering::tariff::beijing_date(previous_at).unwrap_or_default();
        let start_year = context.tariff.version_on(start_date).and_then(|version| version.tier_year_start(start_date));
        let annual_before = match (context.annual, start_year) {
            (Some((year, volume)), Some(start)) if year == start => volume,
            _ => Decimal::ZERO,
        };
        let customer = &context.customer;
        let priced =
            match price_interval(&context.tariff, customer.household_size, previous_at, read_at, volume, annual_before)
            {
                Ok(priced) => priced,
                Err(error) => return Some(ReadingResult::rejected(input, error.code())),
            };
        let charge_now = customer.billing_mode == BillingMode::PerReading;
        let total = if charge_now { priced.total } else { Decimal::ZERO };
        // The wallet pays what its available balance plus credit limit allows; the rest is arrears.
        let from_wallet = total.min(context.payable);
        let to_arrears = total - from_wallet;
        let note = notes::ReadingAccepted {
            meter_id: candidate.meter_id,
            customer_id: customer.id,
            counter: input.counter,
            register,
            read_at: read_at.0,
            previous_register,
            previous_read_at: previous_at.0,
            volume,
            lines: priced.lines.clone(),
            total: priced.total,
            charged: from_wallet,
            arrears: to_arrears,
            tier_year_start: priced.tier_year_start_after,
            annual_volume_after: priced.annual_volume_after_m3,
            billed: charge_now,
        };
        let memo = format!("meter {} reading {}", meter.serial, input.counter);
        context.commands.push(Command::Note {
            id: reading_id,
            kind: notes::READING_ACCEPTED.into(),
            payload: notes::encode(&note),
        });
        context.accepted_notes.push((reading_id, note));
        if from_wallet > Decimal::ZERO {
            context.commands.push(Command::Post(EntrySpec {
                id: ids::entry_for(reading_id.0, "gas_charge"),
                category: "gas_charge".into(),
                memo: memo.clone(),
                postings: vec![
                    PostingSpec::debit(customer.wallet, from_wallet),
                    PostingSpec::credit(ids::gas_revenue_account(), from_wallet),
                ],
                hold: None,
            }));
        }
        if to_arrears > Decimal::ZERO {
            context.commands.push(Command::Post(EntrySpec {
                id: ids::entry_for(reading_id.0, "gas_arrears"),
                category: "gas_arrears".into(),
                memo,
                postings: vec![
                    PostingSpec::debit(ids::arrears_account(customer.id), to_arrears),
                    PostingSpec::credit(ids::gas_revenue_account(), to_arrears),
                ],
                hold: None,
            }));
        }
        let customer_id = customer.id;
        let arrears_after = context.arrears + to_arrears;
        let arrears_after_fen = Asset::Cny.minor_from_decimal_allow_zero(arrears_after).map_or(0, i128::from);
        let valve_note = |state: ValveState, reason: &str| Command::Note {
            id: ids::note_for(reading_id.0, "valve"),
            kind: notes::VALVE_CHANGED.into(),
            payload: notes::encode(&notes::ValveChanged { customer_id, state, reason: reason.to_owned() }),
        };
        if context.valve == ValveState::Armed && volume > Decimal::ZERO {
            // Gas flowed after the valve was armed: the customer pressed the button at the meter.
            context.commands.push(valve_note(ValveState::Open, "button_pressed"));
            context.valve = ValveState::Open;
        } else {
            match valve::after_charge(context.valve, arrears_after_fen, now) {
                ValveDecision::Nothing => {}
                ValveDecision::Close => {
                    context.commands.push(valve_note(ValveState::Closed, "arrears"));
                    context.valve = ValveState::Closed;
                }
                ValveDecision::DeferClose { until } if !context.close_deferred => {
                    context.commands.push(Command::Note {
                        id: ids::note_for(reading_id.0, "valve-deferred"),
                        kind: notes::VALVE_CLOSE_DEFERRED.into(),
                        payload: notes::encode(&notes::ValveCloseDeferred { customer_id, until: until.0 }),
                    });
                    context.close_deferred = true;
                }
                ValveDecision::DeferClose { .. } => {}
            }
        }
        context.payable -= from_wallet;
        context.arrears = arrears_after;
        context.annual = Some((priced.tier_year_start_after, priced.annual_volume_after_m3));
        context
            .last_readings
            .insert(candidate.meter_id, Some(LastReading { counter: input.counter, register, read_at }));
        context.planned.push((candidate.index, total));
        context.planned_readings.insert((candidate.meter_id, input.counter), (register, read_at, total));
        None
    }

    /// Waits for the lock that serializes a customer's charges, top-ups and valve changes.
    pub(crate) async fn lock_customer(&self, customer: Uuid) -> super::customer_locks::CustomerGuard<'_> {
        self.customer_locks.lock(customer).await
    }

    /// Closes the valves whose friendly-credit deferral has ended while arrears remain.
    pub async fn close_due_valves(&self) -> Result<usize, ServiceError> {
        let now = self.now();
        let due: Vec<(Uuid, Timestamp)> = {
            let projection = self.projection().read();
            projection
                .deferred_closes
                .iter()
                .filter(|(customer, until)| {
                    **until <= now && projection.valves.get(customer).copied().unwrap_or_default() == ValveState::Open
                })
                .map(|(customer, until)| (*customer, *until))
                .collect()
        };
        let mut closed = 0;
        for (customer, until) in due {
            let _guard = self.lock_customer(customer).await;
            if self.arrears_of(customer) <= Decimal::ZERO {
                continue;
            }
            let note = notes::ValveChanged {
                customer_id: customer,
                state: ValveState::Closed,
                reason: "deferred_close_due".into(),
            };
            let command = Command::Note {
                id: ids::note_for(
                    ids::operation(ids::note_for(customer, "deferred-close"), &until.0.to_string()),
                    "valve",
                ),
                kind: notes::VALVE_CHANGED.into(),
                payload: notes::encode(&note),
            };
            if self.submit_one(command).await?.is_ok() {
                closed += 1;
            }
        }
        Ok(closed)
    }

    /// The arrears a customer owes (what the arrears receivable holds).
    pub fn arrears_of(&self, customer_id: Uuid) -> Decimal {
        self.reader().account(&ids::arrears_account(customer_id)).map_or(Decimal::ZERO, |account| {
            Asset::Cny.decimal_from_minor(account.balances.posted_on(account.normal_side))
        })
    }
}

/// The e-bill lines of a reading, as the API shows them.
pub fn bill_lines_json(lines: &[ChargeLine]) -> serde_json::Value {
    serde_json::Value::Array(
        lines
            .iter()
            .map(|line| {
                serde_json::json!({
                    "tier": line.tier + 1,
                    "tier_year_start": line.tier_year_start.to_string(),
                    "volume": super::volume(line.volume_m3),
                    "unit_price": line.unit_price.normalize().to_string(),
                    "amount": super::cny(line.amount),
                })
            })
            .collect(),
    )
}

impl Service {
    /// The customer a caller may see bills of (staff: any; a customer: its own).
    fn bill_reader(&self, principal: &Principal, customer_id: Uuid) -> Result<(), ServiceError> {
        let exists = self.projection().read().customers.contains_key(&customer_id);
        if exists && (principal.role.is_staff() || principal.is(Role::Customer, customer_id)) {
            Ok(())
        } else {
            Err(ServiceError::not_found(format!("no customer {customer_id}")))
        }
    }

    /// A customer's e-bills (one per accepted reading), newest first, after a cursor.
    pub fn bills(
        &self,
        principal: &Principal,
        customer_id: Uuid,
        cursor: Option<usize>,
        limit: usize,
    ) -> Result<(Vec<serde_json::Value>, Option<usize>), ServiceError> {
        self.bill_reader(principal, customer_id)?;
        let projection = self.projection().read();
        let bills = projection.bills.get(&customer_id).map_or(&[][..], Vec::as_slice);
        // Newest first. The cursor is the position (oldest = 0) of the last bill returned, so bills
        // that arrive between two pages do not shift the next page.
        let before = cursor.unwrap_or(bills.len()).min(bills.len());
        let start = before.saturating_sub(limit);
        let page: Vec<serde_json::Value> =
            bills[start..before].iter().rev().map(|bill| self.bill_json(&projection, bill)).collect();
        let next = (start > 0).then_some(start);
        Ok((page, next))
    }

    /// One e-bill.
    pub fn bill(&self, principal: &Principal, bill_id: Uuid) -> Result<serde_json::Value, ServiceError> {
        let projection = self.projection().read();
        let found = projection.bill_by_id.get(&bill_id).and_then(|(customer, position)| {
            projection.bills.get(customer).and_then(|bills| bills.get(*position)).map(|bill| (*customer, bill))
        });
        let Some((customer, bill)) = found else {
            return Err(ServiceError::not_found(format!("no bill {bill_id}")));
        };
        if !(principal.role.is_staff() || principal.is(Role::Customer, customer)) {
            return Err(ServiceError::not_found(format!("no bill {bill_id}")));
        }
        Ok(self.bill_json(&projection, bill))
    }

    fn bill_json(
        &self,
        projection: &super::projection::ProjectionState,
        bill: &super::projection::Bill,
    ) -> serde_json::Value {
        let reading = &bill.reading;
        let customer = projection.customers.get(&reading.customer_id);
        let tariff = projection.tariff_for(customer.map_or("residential", |customer| customer.tariff.as_str()));
        let household = customer.map_or(1, |customer| customer.household_size);
        // Distance to the next tier, from the tariff in force at the reading.
        let date = crate::metering::tariff::beijing_date(Timestamp(reading.read_at)).unwrap_or_default();
        let next_boundary = tariff.version_on(date).and_then(|version| {
            version
                .boundaries(household)
                .into_iter()
                .filter_map(|(upper, _)| upper)
                .find(|upper| *upper > reading.annual_volume_after)
        });
        serde_json::json!({
            "id": bill.id,
            "customer_id": reading.customer_id,
            "meter_id": reading.meter_id,
            "period": {
                "from": super::rfc3339(Timestamp(reading.previous_read_at)),
                "to": super::rfc3339(Timestamp(reading.read_at)),
            },
            "readings": {
                "previous_register": super::volume(reading.previous_register),
                "register": super::volume(reading.register),
                "counter": reading.counter,
            },
            "volume": super::volume(reading.volume),
            "lines": bill_lines_json(&reading.lines),
            "total": super::cny(reading.total),
            "paid_from_wallet": super::cny(reading.charged),
            "added_to_arrears": super::cny(reading.arrears),
            "billing": if reading.billed { "charged" } else { "monthly" },
            "tier_year_start": reading.tier_year_start.to_string(),
            "annual_volume": super::volume(reading.annual_volume_after),
            "next_tier_at": next_boundary.map(super::volume),
            "volume_to_next_tier": next_boundary.map(|upper| super::volume(upper - reading.annual_volume_after)),
            "issued_at": super::rfc3339(bill.at),
            "settles_self_readings": projection
                .self_readings
                .get(&reading.meter_id)
                .map(|own| {
                    own.iter()
                        .filter(|own| own.settled_by == Some(bill.id))
                        .map(|own| self_reading_json(&own.note, own.settled_by))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        })
    }
}

impl Service {
    /// Replaces a tariff's versions (admin). Tariffs are data: every change is a note in the
    /// journal, and prices apply from each version's effective date.
    pub async fn set_tariff(&self, principal: &Principal, tariff: Tariff) -> Result<serde_json::Value, ServiceError> {
        if principal.role != Role::Admin {
            return Err(ServiceError::forbidden("tariffs are set by admin"));
        }
        let code_ok = !tariff.code.is_empty()
            && tariff.code.len() <= super::TARIFF_CODE_BYTES_MAX
            && tariff.code.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
        if !code_ok {
            return Err(ServiceError::validation(format!(
                "a tariff code is 1 to {} characters of a-z, 0-9, -",
                super::TARIFF_CODE_BYTES_MAX
            )));
        }
        tariff
            .validate()
            .map_err(|error| ServiceError::new(ErrorClass::Unprocessable, error.code(), error.to_string()))?;
        let command = Command::Note {
            id: ledger::EntryId(Uuid::new_v4()),
            kind: notes::TARIFF_SET.into(),
            payload: notes::encode(&tariff),
        };
        match self.submit_one(command).await? {
            Ok(_) => Ok(tariff_json(&tariff)),
            Err(rejection) => Err(from_rejection(&rejection)),
        }
    }

    /// A tariff with all its versions.
    pub fn tariff(&self, code: &str) -> Result<serde_json::Value, ServiceError> {
        self.projection()
            .read()
            .tariffs
            .get(code)
            .map(|tariff| tariff_json(tariff))
            .ok_or_else(|| ServiceError::not_found(format!("no tariff {code:?}")))
    }
}

/// A tariff as the API shows it (decimal strings; `cycle_start` as "MM-DD").
pub fn tariff_json(tariff: &Tariff) -> serde_json::Value {
    serde_json::json!({
        "code": tariff.code,
        "versions": tariff.versions.iter().map(|version| serde_json::json!({
            "effective_from": version.effective_from.to_string(),
            "cycle_start": format!("{:02}-{:02}", version.cycle_start.0, version.cycle_start.1),
            "tiers": version.tiers.iter().map(|tier| serde_json::json!({
                "up_to": tier.up_to.map(|up_to| up_to.normalize().to_string()),
                "price": tier.price.normalize().to_string(),
            })).collect::<Vec<_>>(),
            "household_uplift": version.household_uplift.as_ref().map(|uplift| serde_json::json!({
                "min_household_size": uplift.min_household_size,
                "extra_m3_per_boundary": uplift.extra_m3_per_boundary.normalize().to_string(),
            })),
        })).collect::<Vec<_>>(),
    })
}

/// Longest photo reference of a self-reading.
pub const PHOTO_REF_BYTES_MAX: usize = 256;

impl Service {
    /// Records a customer's own reading: checked like a signed one (time, register, flow), priced
    /// as an estimate, never charged. The next signed reading of the meter settles it.
    pub async fn record_self_reading(
        &self,
        principal: &Principal,
        meter_id: Uuid,
        register: Decimal,
        read_at: Timestamp,
        photo_ref: Option<&str>,
    ) -> Result<serde_json::Value, ServiceError> {
        let meter = self.projection().read().meters.get(&meter_id).cloned();
        let meter = match meter {
            Some(meter)
                if meter.active
                    && (principal.role == Role::Admin || principal.is(Role::Customer, meter.customer_id)) =>
            {
                meter
            }
            _ => return Err(ServiceError::not_found(format!("no meter {meter_id}"))),
        };
        if register < Decimal::ZERO || register > REGISTER_M3_MAX || register.normalize().scale() > 3 {
            return Err(ServiceError::validation("register must be 0 to 99999.999 m³ with at most 3 decimals"));
        }
        if let Some(photo) = photo_ref {
            if photo.is_empty() || photo.len() > PHOTO_REF_BYTES_MAX || photo.chars().any(char::is_control) {
                return Err(ServiceError::validation(format!(
                    "photo_ref must be 1 to {PHOTO_REF_BYTES_MAX} printable bytes"
                )));
            }
        }
        let rejected =
            |code: &'static str, detail: &str| ServiceError::new(ErrorClass::Unprocessable, code, detail.to_owned());
        let now = self.now();
        if read_at.0 > now.0 + READING_CLOCK_SKEW_MICROS {
            return Err(rejected("future_reading", "read_at is in the future"));
        }
        let (previous_register, previous_at) = match &meter.last {
            Some(last) => (last.register, last.read_at),
            None => (meter.initial_register, meter.installed_at),
        };
        if read_at <= previous_at {
            return Err(rejected("reading_out_of_order", "read_at must be after the last signed reading"));
        }
        if register < previous_register {
            return Err(rejected("register_backwards", "the register is below the last signed reading"));
        }
        let volume = register - previous_register;
        let hours = Decimal::from(read_at.0 - previous_at.0) / Decimal::from(3_600_000_000i64);
        if volume > meter.max_flow_m3_per_h * hours {
            return Err(rejected("implausible_flow", "more gas than the meter can pass in that time"));
        }
        let Some(mut context) = self.customer_batch(meter.customer_id) else {
            return Err(ServiceError::not_found(format!("no meter {meter_id}")));
        };
        let start_date = crate::metering::tariff::beijing_date(previous_at).unwrap_or_default();
        let start_year = context.tariff.version_on(start_date).and_then(|version| version.tier_year_start(start_date));
        let annual_before = match (context.annual.take(), start_year) {
            (Some((year, volume)), Some(start)) if year == start => volume,
            _ => Decimal::ZERO,
        };
        let estimate = price_interval(
            &context.tariff,
            context.customer.household_size,
            previous_at,
            read_at,
            volume,
            annual_before,
        )
        .map_err(|error| rejected(error.code(), &error.to_string()))?;
        // The same reading sent twice is one record (its id derives from what was read).
        let id =
            ids::operation(ids::note_for(meter_id, "self-reading"), &format!("{}|{}", read_at.0, register.normalize()));
        let note = notes::SelfReadingRecorded {
            id,
            meter_id,
            customer_id: meter.customer_id,
            register,
            read_at: read_at.0,
            photo_ref: photo_ref.map(str::to_owned),
            estimated_volume: volume,
            estimated_charge: estimate.total,
        };
        let command = Command::Note {
            id: ledger::EntryId(id),
            kind: notes::SELF_READING_RECORDED.into(),
            payload: notes::encode(&note),
        };
        match self.submit_one(command).await? {
            Ok(_) => Ok(self_reading_json(&note, None)),
            Err(rejection) if rejection.code == RejectionCode::IdConflict => Err(ServiceError::new(
                ErrorClass::Conflict,
                "conflict",
                "a different self-reading with this time and register exists",
            )),
            Err(rejection) => Err(from_rejection(&rejection)),
        }
    }
}

/// A self-reading as the API shows it.
pub fn self_reading_json(note: &notes::SelfReadingRecorded, settled_by: Option<Uuid>) -> serde_json::Value {
    serde_json::json!({
        "id": note.id,
        "meter_id": note.meter_id,
        "register": super::volume(note.register),
        "read_at": super::rfc3339(Timestamp(note.read_at)),
        "photo_ref": note.photo_ref,
        "source": "customer",
        "status": if settled_by.is_some() { "settled" } else { "provisional" },
        "settled_by": settled_by,
        "estimated_volume": super::volume(note.estimated_volume),
        "estimated_charge": super::cny(note.estimated_charge),
    })
}

impl Service {
    /// Declares that a meter's register rolled over after its last reading: the next reading's
    /// register is read as continuing from zero instead of being refused as going backwards.
    pub async fn declare_rollover(
        &self,
        principal: &Principal,
        meter_id: Uuid,
    ) -> Result<serde_json::Value, ServiceError> {
        if !matches!(principal.role, Role::Admin | Role::Concentrator) {
            return Err(ServiceError::forbidden("rollovers are declared by admin or a concentrator"));
        }
        let meter = self.projection().read().meters.get(&meter_id).cloned();
        let meter = meter
            .filter(|meter| meter.active)
            .ok_or_else(|| ServiceError::not_found(format!("no meter {meter_id}")))?;
        let after_counter = meter.last.as_ref().map_or(0, |last| last.counter);
        let note = notes::MeterRolloverDeclared { meter_id, after_counter };
        // One declaration per reading: declaring again before the next reading is the same record.
        let id =
            ids::note_for(ids::operation(ids::note_for(meter_id, "rollover"), &after_counter.to_string()), "rollover");
        let command = Command::Note { id, kind: notes::METER_ROLLOVER_DECLARED.into(), payload: notes::encode(&note) };
        match self.submit_one(command).await? {
            Ok(_) => Ok(serde_json::json!({
                "meter_id": meter_id,
                "rollover": "declared",
                "after_counter": after_counter,
                "last_register": meter.last.as_ref().map_or_else(|| super::volume(meter.initial_register), |last| super::volume(last.register)),
                "rolls_over_at": super::volume(REGISTER_ROLLOVER_M3),
            })),
            Err(rejection) => Err(from_rejection(&rejection)),
        }
    }

    /// Replaces a meter: its final reading (declared by the fitter, not signed) is charged like a
    /// reading, the meter is retired, and a new meter takes over from its initial register, all in
    /// one linked group, so no consumption is lost or counted twice.
    #[allow(clippy::too_many_arguments)]
    pub async fn replace_meter(
        &self,
        principal: &Principal,
        old_meter_id: Uuid,
        final_register: Decimal,
        final_read_at: Timestamp,
        new_serial: &str,
        new_public_key_hex: &str,
        new_initial_register: Decimal,
        new_max_flow_m3_per_h: Option<Decimal>,
    ) -> Result<serde_json::Value, ServiceError> {
        if principal.role != Role::Admin {
            return Err(ServiceError::forbidden("meters are replaced by admin"));
        }
        let old = self.projection().read().meters.get(&old_meter_id).cloned();
        let old = old
            .filter(|meter| meter.active)
            .ok_or_else(|| ServiceError::not_found(format!("no meter {old_meter_id}")))?;
        if final_register < Decimal::ZERO || final_register > REGISTER_M3_MAX || final_register.normalize().scale() > 3
        {
            return Err(ServiceError::validation("final_register must be 0 to 99999.999 m³ with at most 3 decimals"));
        }
        let new_meter = self.new_meter_note(
            old.customer_id,
            new_serial,
            new_public_key_hex,
            new_max_flow_m3_per_h,
            new_initial_register,
            final_read_at,
        )?;
        let _guard = self.lock_customer(old.customer_id).await;
        let Some(mut context) = self.customer_batch(old.customer_id) else {
            return Err(ServiceError::not_found(format!("no meter {old_meter_id}")));
        };
        // The final reading, planned like any other (same checks, pricing, wallet/arrears, valve).
        let counter = old.last.as_ref().map_or(0, |last| last.counter) + 1;
        let final_text = super::volume(final_register);
        let input = ReadingInput {
            meter_id: old_meter_id.to_string(),
            counter,
            register: final_text,
            read_at: super::rfc3339(final_read_at),
            signature: String::new(),
        };
        let candidate = Candidate {
            index: 0,
            meter_id: old_meter_id,
            customer_id: old.customer_id,
            register: final_register,
            read_at: final_read_at,
        };
        if let Some(refused) = self.plan_reading(&mut context, &candidate, &input, self.now()) {
            let code = refused.code.unwrap_or("validation_failed");
            return Err(ServiceError::new(
                ErrorClass::Unprocessable,
                code,
                format!("the final reading is refused: {code}"),
            ));
        }
        let charge = context.planned.first().map_or(Decimal::ZERO, |(_, charge)| *charge);
        let mut commands = context.commands;
        commands.push(Command::Note {
            id: ids::note_for(old_meter_id, "replaced"),
            kind: notes::METER_REPLACED.into(),
            payload: notes::encode(&notes::MeterReplaced {
                old_meter_id,
                new_meter_id: new_meter.id,
                final_register,
                final_read_at: final_read_at.0,
            }),
        });
        commands.push(Command::Note {
            id: ids::meter_serial(&new_meter.serial),
            kind: notes::METER_REGISTERED.into(),
            payload: notes::encode(&new_meter),
        });
        let serial_position = commands.len() - 1;
        match self.submit_one(Command::Linked(commands)).await? {
            Ok(_) => Ok(serde_json::json!({
                "old_meter_id": old_meter_id,
                "state": "replaced",
                "final_register": super::volume(final_register),
                "final_read_at": super::rfc3339(final_read_at),
                "final_charge": super::cny(charge),
                "new_meter": meter_json(&new_meter),
            })),
            Err(rejection)
                if rejection.code == RejectionCode::IdConflict && rejection.linked_index == Some(serial_position) =>
            {
                Err(ServiceError::new(
                    ErrorClass::Conflict,
                    "duplicate_serial",
                    format!("a meter with serial {new_serial} exists"),
                ))
            }
            Err(rejection) if rejection.code == RejectionCode::IdConflict => {
                Err(ServiceError::new(ErrorClass::Conflict, "conflict", "the meter changed meanwhile; try again"))
            }
            Err(rejection) => Err(from_rejection(&rejection)),
        }
    }

    /// Checks a new meter's fields and builds its registration note.
    fn new_meter_note(
        &self,
        customer_id: Uuid,
        serial: &str,
        public_key_hex: &str,
        max_flow_m3_per_h: Option<Decimal>,
        initial_register: Decimal,
        installed_at: Timestamp,
    ) -> Result<notes::MeterRegistered, ServiceError> {
        let serial_ok = !serial.is_empty()
            && serial.len() <= SERIAL_BYTES_MAX
            && serial.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-');
        if !serial_ok {
            return Err(ServiceError::validation(format!(
                "serial must be 1 to {SERIAL_BYTES_MAX} characters of A-Z, a-z, 0-9, -"
            )));
        }
        let key_bytes: [u8; 32] =
            hex::decode(public_key_hex).ok().and_then(|bytes| bytes.try_into().ok()).ok_or_else(|| {
                ServiceError::new(
                    ErrorClass::Unprocessable,
                    "invalid_public_key",
                    "public_key must be 64 hex characters",
                )
            })?;
        VerifyingKey::from_bytes(&key_bytes).map_err(|_| {
            ServiceError::new(ErrorClass::Unprocessable, "invalid_public_key", "public_key is not an ed25519 point")
        })?;
        let max_flow = max_flow_m3_per_h.unwrap_or(MAX_FLOW_M3_PER_H_DEFAULT);
        if max_flow <= Decimal::ZERO || max_flow > Decimal::new(10_000, 0) {
            return Err(ServiceError::validation("max_flow_m3_per_h must be above 0 and at most 10000"));
        }
        if initial_register < Decimal::ZERO
            || initial_register > REGISTER_M3_MAX
            || initial_register.normalize().scale() > 3
        {
            return Err(ServiceError::validation("initial_register must be 0 to 99999.999 with at most 3 decimals"));
        }
        Ok(notes::MeterRegistered {
            id: Uuid::new_v4(),
            serial: serial.to_owned(),
            customer_id,
            public_key: public_key_hex.to_lowercase(),
            max_flow_m3_per_h: max_flow,
            initial_register,
            installed_at: installed_at.0,
        })
    }
}

/// A meter as the API shows it.
pub fn meter_json(meter: &notes::MeterRegistered) -> serde_json::Value {
    serde_json::json!({
        "id": meter.id,
        "serial": meter.serial,
        "customer_id": meter.customer_id,
        "public_key": meter.public_key,
        "max_flow_m3_per_h": meter.max_flow_m3_per_h.normalize().to_string(),
        "initial_register": super::volume(meter.initial_register),
        "installed_at": super::rfc3339(Timestamp(meter.installed_at)),
        "state": "active",
    })
}

/// Most monthly bills one customer gets in one billing run (a linked group holds at most
/// `LINKED_COMMANDS_MAX` commands, a bill up to four); a longer backlog takes several runs.
pub const MONTHLY_BILLS_PER_CUSTOMER_PER_RUN_MAX: usize = ledger::command::LINKED_COMMANDS_MAX / 4;
/// Customers whose bills are planned and committed together.
pub const BILLING_CUSTOMERS_PER_SUBMISSION: usize = 1000;

/// Chunks of a billing run in flight at once (each worker bills its own quarter of the customers).
/// The run joins exactly this many workers.
pub const BILLING_WORKERS: usize = 4;

/// Day of the following month on which a monthly bill is due and debited (00:00 Beijing time).
pub const MONTHLY_BILL_DUE_DAY: u32 = 10;

/// When the bill of a calendar month (Beijing time) is due.
pub fn monthly_bill_due(year: i32, month: u32) -> Option<Timestamp> {
    let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    crate::metering::tariff::beijing_midnight(chrono::NaiveDate::from_ymd_opt(
        next_year,
        next_month,
        MONTHLY_BILL_DUE_DAY,
    )?)
}

/// What one month of a customer's readings adds up to.
#[derive(Debug, Default)]
struct MonthTotals {
    readings: Vec<Uuid>,
    volume: Decimal,
    total: Decimal,
}

/// One month of a monthly customer's readings, due for billing.
#[derive(Debug)]
struct DueMonth {
    customer_id: Uuid,
    month: String,
    readings: Vec<Uuid>,
    volume: Decimal,
    total: Decimal,
    due_at: Timestamp,
}

impl Service {
    /// Issues and debits every monthly bill whose due date has passed and that was not issued yet:
    /// one per monthly customer and calendar month (Beijing time) with priced readings. Run by the
    /// scheduler; after downtime it simply catches up, and each bill's id derives from (customer,
    /// month), so running it twice issues nothing twice. Returns the number of bills issued.
    pub async fn run_monthly_billing(&self) -> Result<usize, ServiceError> {
        use chrono::Datelike;
        let now = self.now();
        let due: Vec<DueMonth> = {
            let projection = self.projection().read();
            let mut months: std::collections::BTreeMap<(Uuid, i32, u32), MonthTotals> =
                std::collections::BTreeMap::new();
            for (customer_id, bills) in &projection.bills {
                let monthly = projection
                    .customers
                    .get(customer_id)
                    .is_some_and(|customer| customer.billing_mode == BillingMode::Monthly);
                if !monthly {
                    continue;
                }
                for bill in
                    bills.iter().filter(|bill| !bill.reading.billed && !projection.monthly_billed.contains(&bill.id))
                {
                    let Some(date) = crate::metering::tariff::beijing_date(Timestamp(bill.reading.read_at)) else {
                        continue;
                    };
                    let month = months.entry((*customer_id, date.year(), date.month())).or_default();
                    month.readings.push(bill.id);
                    month.volume += bill.reading.volume;
                    month.total += bill.reading.total;
                }
            }
            months
                .into_iter()
                .filter_map(|((customer_id, year, month), MonthTotals { readings, volume, total })| {
                    let due_at = monthly_bill_due(year, month)?;
                    (due_at <= now).then(|| DueMonth {
                        customer_id,
                        month: format!("{year:04}-{month:02}"),
                        readings,
                        volume,
                        total,
                        due_at,
                    })
                })
                .collect()
        };
        // Customers in chunks: each chunk's customers are locked (in id order), their bills
        // planned and committed with one submission per chunk, as reading batches are.
        let mut by_customer: std::collections::BTreeMap<Uuid, Vec<DueMonth>> = std::collections::BTreeMap::new();
        for month in due {
            let months = by_customer.entry(month.customer_id).or_default();
            // A linked group holds a bounded number of commands; a longer backlog is billed by the
            // next runs, oldest months first.
            if months.len() < MONTHLY_BILLS_PER_CUSTOMER_PER_RUN_MAX {
                months.push(month);
            }
        }
        // Workers bill disjoint sets of customers, so one worker plans its next chunk while
        // another's chunk is being committed; within a worker, chunks run one after the other.
        let mut partitions: Vec<Vec<(Uuid, Vec<DueMonth>)>> = (0..BILLING_WORKERS).map(|_| Vec::new()).collect();
        for (customer, months) in by_customer {
            partitions[billing_worker(customer)].push((customer, months));
        }
        let worker = |customers: Vec<(Uuid, Vec<DueMonth>)>| async move {
            let mut issued = 0;
            for chunk in customers.chunks(BILLING_CUSTOMERS_PER_SUBMISSION) {
                issued += self.issue_monthly_bills(chunk, now).await?;
            }
            Ok::<usize, ServiceError>(issued)
        };
        let mut partitions = partitions.into_iter();
        let mut next = || partitions.next().unwrap_or_default();
        let (a, b, c, d) = tokio::join!(worker(next()), worker(next()), worker(next()), worker(next()));
        Ok(a? + b? + c? + d?)
    }

    /// Plans, commits and (for refusals for funds) re-plans the bills of a chunk of customers.
    async fn issue_monthly_bills(
        &self,
        chunk: &[(Uuid, Vec<DueMonth>)],
        now: Timestamp,
    ) -> Result<usize, ServiceError> {
        let guards = self.customer_locks.lock_all(chunk.iter().map(|(customer, _)| *customer)).await;
        let mut issued = 0;
        let mut pending: Vec<usize> = (0..chunk.len()).collect();
        for attempt in 0..CHARGE_ATTEMPTS_MAX {
            let last_attempt = attempt + 1 == CHARGE_ATTEMPTS_MAX;
            let mut planned: Vec<(usize, Command)> = Vec::with_capacity(pending.len());
            for position in pending.drain(..) {
                let (customer_id, months) = &chunk[position];
                let Some(mut context) = self.customer_batch(*customer_id) else { continue };
                if last_attempt {
                    context.payable = Decimal::ZERO;
                }
                let mut commands = Vec::new();
                for month in months {
                    commands.extend(plan_monthly_bill(&mut context, month, now));
                }
                planned.push((position, Command::Linked(commands)));
            }
            let positions: Vec<usize> = planned.iter().map(|(position, _)| *position).collect();
            let outcomes = self.submit_in_batches(planned.into_iter().map(|(_, command)| command).collect()).await?;
            for (position, outcome) in positions.into_iter().zip(outcomes) {
                match outcome {
                    Ok(_) => issued += chunk[position].1.len(),
                    Err(rejection) if rejection.code == RejectionCode::InsufficientFunds && !last_attempt => {
                        pending.push(position)
                    }
                    // Issued already by a concurrent run: nothing to do.
                    Err(rejection) if rejection.code == RejectionCode::IdConflict => {}
                    Err(rejection) => {
                        tracing::error!(%rejection, customer = %chunk[position].0, "a monthly bill was refused");
                    }
                }
            }
            if pending.is_empty() {
                break;
            }
        }
        drop(guards);
        Ok(issued)
    }
}

/// Plans one monthly bill against its customer's context (wallet first, the rest as arrears,
/// the valve decision) and updates the context for the customer's next bill in the same run.
fn plan_monthly_bill(context: &mut CustomerBatch, month: &DueMonth, now: Timestamp) -> Vec<Command> {
    let bill_id = ids::operation(ids::note_for(month.customer_id, "monthly-bill"), &month.month);
    let charged = month.total.min(context.payable);
    let arrears = month.total - charged;
    let customer = &context.customer;
    let note = notes::MonthlyBillIssued {
        id: bill_id,
        customer_id: customer.id,
        month: month.month.clone(),
        readings: month.readings.clone(),
        volume: month.volume,
        total: month.total,
        charged,
        arrears,
        due_at: month.due_at.0,
    };
    let memo = format!("gas bill {}", month.month);
    let mut commands = vec![Command::Note {
        id: ledger::EntryId(bill_id),
        kind: notes::MONTHLY_BILL_ISSUED.into(),
        payload: notes::encode(&note),
    }];
    if charged > Decimal::ZERO {
        commands.push(Command::Post(EntrySpec {
            id: ids::entry_for(bill_id, "gas_charge"),
            category: "gas_charge".into(),
            memo: memo.clone(),
            postings: vec![
                PostingSpec::debit(customer.wallet, charged),
                PostingSpec::credit(ids::gas_revenue_account(), charged),
            ],
            hold: None,
        }));
    }
    if arrears > Decimal::ZERO {
        commands.push(Command::Post(EntrySpec {
            id: ids::entry_for(bill_id, "gas_arrears"),
            category: "gas_arrears".into(),
            memo,
            postings: vec![
                PostingSpec::debit(ids::arrears_account(customer.id), arrears),
                PostingSpec::credit(ids::gas_revenue_account(), arrears),
            ],
            hold: None,
        }));
    }
    let customer_id = customer.id;
    let arrears_after = context.arrears + arrears;
    let arrears_after_fen = Asset::Cny.minor_from_decimal_allow_zero(arrears_after).map_or(0, i128::from);
    match valve::after_charge(context.valve, arrears_after_fen, now) {
        ValveDecision::Nothing => {}
        ValveDecision::Close => {
            commands.push(Command::Note {
                id: ids::note_for(bill_id, "valve"),
                kind: notes::VALVE_CHANGED.into(),
                payload: notes::encode(&notes::ValveChanged {
                    customer_id,
                    state: ValveState::Closed,
                    reason: "arrears".into(),
                }),
            });
            context.valve = ValveState::Closed;
        }
        ValveDecision::DeferClose { until } if !context.close_deferred => {
            commands.push(Command::Note {
                id: ids::note_for(bill_id, "valve-deferred"),
                kind: notes::VALVE_CLOSE_DEFERRED.into(),
                payload: notes::encode(&notes::ValveCloseDeferred { customer_id, until: until.0 }),
            });
            context.close_deferred = true;
        }
        ValveDecision::DeferClose { .. } => {}
    }
    context.payable -= charged;
    context.arrears = arrears_after;
    commands
}
