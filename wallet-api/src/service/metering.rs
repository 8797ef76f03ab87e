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
/// Longest meter serial.
pub const SERIAL_BYTES_MAX: usize = 32;
/// Attempts to charge a reading when a concurrent payment spends the wallet meanwhile.
pub const CHARGE_ATTEMPTS_MAX: usize = 3;
/// Customer-lock stripes: readings of one customer are priced one at a time (annual volume).
pub const CUSTOMER_LOCK_STRIPES: usize = 256;

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
        let customer = self.projection().read().customers.get(&customer_id).cloned();
        let customer = customer.ok_or_else(|| ServiceError::not_found(format!("no customer {customer_id}")))?;
        let id = Uuid::new_v4();
        let installed_at = installed_at.unwrap_or_else(|| self.now());
        let note = notes::MeterRegistered {
            id,
            serial: serial.to_owned(),
            customer_id,
            public_key: public_key_hex.to_lowercase(),
            max_flow_m3_per_h: max_flow,
            initial_register,
            installed_at: installed_at.0,
        };
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
            Ok(_) => Ok(serde_json::json!({
                "id": id,
                "serial": serial,
                "customer_id": customer_id,
                "public_key": public_key_hex.to_lowercase(),
                "max_flow_m3_per_h": max_flow.normalize().to_string(),
                "initial_register": super::volume(initial_register),
                "installed_at": super::rfc3339(installed_at),
                "state": "active",
            })),
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
        let mut results = Vec::with_capacity(readings.len());
        for input in readings {
            results.push(self.ingest_one(input).await?);
        }
        Ok(results)
    }

    async fn ingest_one(&self, input: &ReadingInput) -> Result<ReadingResult, ServiceError> {
        let Ok(meter_id) = Uuid::parse_str(&input.meter_id) else {
            return Ok(ReadingResult::rejected(input, "unknown_meter"));
        };
        let meter = self.projection().read().meters.get(&meter_id).cloned();
        let Some(meter) = meter.filter(|meter| meter.active) else {
            return Ok(ReadingResult::rejected(input, "unknown_meter"));
        };
        let signature = hex::decode(&input.signature).ok().and_then(|bytes| <[u8; 64]>::try_from(bytes).ok());
        let verified = signature.is_some_and(|signature| {
            meter
                .public_key
                .verify(
                    reading_message(&input.meter_id, input.counter, &input.register, &input.read_at).as_bytes(),
                    &Signature::from_bytes(&signature),
                )
                .is_ok()
        });
        if !verified {
            return Ok(ReadingResult::rejected(input, "bad_signature"));
        }
        let (Some(register), Some(read_at)) =
            (parse_register(&input.register), crate::time::parse_rfc3339(&input.read_at))
        else {
            return Ok(ReadingResult::rejected(input, "malformed_reading"));
        };
        // Readings of one customer are priced one at a time: the annual volume is shared.
        let _guard = self.customer_lock(meter.customer_id).lock().await;
        let (meter, customer, annual) = {
            let projection = self.projection().read();
            let meter = projection.meters.get(&meter_id).cloned();
            let customer =
                projection.customers.get(&meter.as_ref().map_or(Uuid::nil(), |meter| meter.customer_id)).cloned();
            let annual =
                projection.annual_volume.get(&meter.as_ref().map_or(Uuid::nil(), |meter| meter.customer_id)).cloned();
            (meter, customer, annual)
        };
        let (Some(meter), Some(customer)) = (meter, customer) else {
            return Ok(ReadingResult::rejected(input, "unknown_meter"));
        };
        let reading_id = ids::reading(meter_id, input.counter);
        if let Some(last) = &meter.last {
            if input.counter <= last.counter {
                // The very same reading again (a retried batch) answers as it did the first time;
                // another register or time under a used counter is a replay.
                let projection = self.projection().read();
                let same_reading = projection
                    .bill_by_id
                    .get(&reading_id.0)
                    .and_then(|(customer, position)| {
                        projection.bills.get(customer).and_then(|bills| bills.get(*position))
                    })
                    .is_some_and(|bill| bill.reading.register == register && bill.reading.read_at == read_at.0);
                if let Some(charge) = projection.reading_charges.get(&reading_id).filter(|_| same_reading) {
                    return Ok(ReadingResult {
                        meter_id: input.meter_id.clone(),
                        counter: input.counter,
                        status: "accepted",
                        code: None,
                        charge: Some(super::cny(*charge)),
                    });
                }
                return Ok(ReadingResult::rejected(input, "replayed_reading"));
            }
        }
        let now = self.now();
        if read_at.0 > now.0 + READING_CLOCK_SKEW_MICROS {
            return Ok(ReadingResult::rejected(input, "future_reading"));
        }
        let (previous_register, previous_at) = match &meter.last {
            Some(last) => (last.register, last.read_at),
            None => (meter.initial_register, meter.installed_at),
        };
        if read_at <= previous_at {
            return Ok(ReadingResult::rejected(input, "reading_out_of_order"));
        }
        if register < previous_register {
            return Ok(ReadingResult::rejected(input, "register_backwards"));
        }
        let volume = register - previous_register;
        let hours = Decimal::from(read_at.0 - previous_at.0) / Decimal::from(3_600_000_000i64);
        if volume > meter.max_flow_m3_per_h * hours {
            return Ok(ReadingResult::rejected(input, "implausible_flow"));
        }
        let tariff = self.projection().read().tariff_for(&customer.tariff);
        let start_year = tariff
            .version_on(crate::metering::tariff::beijing_date(previous_at).unwrap_or_default())
            .and_then(|version| {
                version.tier_year_start(crate::metering::tariff::beijing_date(previous_at).unwrap_or_default())
            });
        let annual_before = match (annual, start_year) {
            (Some((year, volume)), Some(start)) if year == start => volume,
            _ => Decimal::ZERO,
        };
        let priced = match price_interval(&tariff, customer.household_size, previous_at, read_at, volume, annual_before)
        {
            Ok(priced) => priced,
            Err(error) => return Ok(ReadingResult::rejected(input, error.code())),
        };
        let charge_now = customer.billing_mode == BillingMode::PerReading;
        let total = if charge_now { priced.total } else { Decimal::ZERO };
        for attempt in 0..CHARGE_ATTEMPTS_MAX {
            // What the wallet can pay now: available plus credit limit; the rest becomes arrears. A
            // merchant payment may spend the wallet between this look and the commit; then the
            // ledger refuses the charge and we look again. The last attempt books it all as arrears,
            // which cannot be refused for lack of funds.
            let payable = if attempt + 1 < CHARGE_ATTEMPTS_MAX {
                self.reader()
                    .account(&customer.wallet)
                    .map(|account| {
                        let available =
                            account.balances.available_on(account.normal_side) + i128::from(account.credit_limit_minor);
                        Asset::Cny.decimal_from_minor(available.max(0))
                    })
                    .unwrap_or(Decimal::ZERO)
            } else {
                Decimal::ZERO
            };
            let from_wallet = total.min(payable);
            let to_arrears = total - from_wallet;
            let note = notes::ReadingAccepted {
                meter_id,
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
            let mut commands = vec![Command::Note {
                id: reading_id,
                kind: notes::READING_ACCEPTED.into(),
                payload: notes::encode(&note),
            }];
            if from_wallet > Decimal::ZERO {
                commands.push(Command::Post(EntrySpec {
                    id: ids::entry_for(reading_id.0, "gas_charge"),
                    category: "gas_charge".into(),
                    memo: format!("meter {} reading {}", meter.serial, input.counter),
                    postings: vec![
                        PostingSpec::debit(customer.wallet, from_wallet),
                        PostingSpec::credit(ids::gas_revenue_account(), from_wallet),
                    ],
                    hold: None,
                }));
            }
            if to_arrears > Decimal::ZERO {
                commands.push(Command::Post(EntrySpec {
                    id: ids::entry_for(reading_id.0, "gas_arrears"),
                    category: "gas_arrears".into(),
                    memo: format!("meter {} reading {}", meter.serial, input.counter),
                    postings: vec![
                        PostingSpec::debit(ids::arrears_account(customer.id), to_arrears),
                        PostingSpec::credit(ids::gas_revenue_account(), to_arrears),
                    ],
                    hold: None,
                }));
            }
            let (valve, close_already_deferred) = {
                let projection = self.projection().read();
                (
                    projection.valves.get(&customer.id).copied().unwrap_or_default(),
                    projection.deferred_closes.contains_key(&customer.id),
                )
            };
            let arrears_after = self.arrears_of(customer.id) + to_arrears;
            let arrears_after_fen = Asset::Cny.minor_from_decimal_allow_zero(arrears_after).map_or(0, i128::from);
            let valve_note = |state: ValveState, reason: &str| Command::Note {
                id: ids::note_for(reading_id.0, "valve"),
                kind: notes::VALVE_CHANGED.into(),
                payload: notes::encode(&notes::ValveChanged {
                    customer_id: customer.id,
                    state,
                    reason: reason.to_owned(),
                }),
            };
            if valve == ValveState::Armed && volume > Decimal::ZERO {
                // Gas flowed after the valve was armed: the customer pressed the button at the meter.
                commands.push(valve_note(ValveState::Open, "button_pressed"));
            } else {
                match valve::after_charge(valve, arrears_after_fen, now) {
                    ValveDecision::Nothing => {}
                    ValveDecision::Close => commands.push(valve_note(ValveState::Closed, "arrears")),
                    ValveDecision::DeferClose { until } if !close_already_deferred => commands.push(Command::Note {
                        id: ids::note_for(reading_id.0, "valve-deferred"),
                        kind: notes::VALVE_CLOSE_DEFERRED.into(),
                        payload: notes::encode(&notes::ValveCloseDeferred { customer_id: customer.id, until: until.0 }),
                    }),
                    ValveDecision::DeferClose { .. } => {}
                }
            }
            match self.submit_one(Command::Linked(commands)).await? {
                Err(rejection) if rejection.code == RejectionCode::InsufficientFunds => continue,
                Ok(_) => {
                    return Ok(ReadingResult {
                        meter_id: input.meter_id.clone(),
                        counter: input.counter,
                        status: "accepted",
                        code: None,
                        charge: Some(super::cny(total)),
                    })
                }
                Err(rejection) if rejection.code == RejectionCode::IdConflict => {
                    return Ok(ReadingResult::rejected(input, "replayed_reading"))
                }
                Err(rejection) => return Err(from_rejection(&rejection)),
            }
        }
        Err(ServiceError::new(ErrorClass::Internal, "internal_error", "charging a reading did not settle"))
    }

    /// The lock that serializes a customer's charges, top-ups and valve changes.
    pub(crate) fn customer_lock(&self, customer: Uuid) -> &tokio::sync::Mutex<()> {
        &self.customer_locks[(customer.as_u128() % CUSTOMER_LOCK_STRIPES as u128) as usize]
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
            let _guard = self.customer_lock(customer).lock().await;
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
            .map(tariff_json)
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
