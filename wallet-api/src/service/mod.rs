//! The wallet service: parties and tokens, wallets, top-ups, payment codes, merchant payments and
//! refunds, statements and events. HTTP-free: handlers in `crate::http` call these operations.
//!
//! Every write is a set of ledger commands, usually a linked group, whose ids are derived from the
//! caller's idempotency key (see [`ids`]). So a retried request produces the same commands and the
//! ledger answers "duplicate"; two racing requests with the same key converge; a key reused with
//! another body hits an id conflict. Facts that move no money (a customer registered, a payment
//! code issued) are notes in the same journal, so they share its durability and atomicity.

pub mod anomalies;
pub mod customer_locks;
pub mod error;
pub mod event_log;
pub mod finance;
pub mod ids;
pub mod merchant_settlement;
pub mod metering;
pub mod model;
pub mod notes;
pub mod projection;
pub mod reconciliation;
pub mod risk;
pub mod scheduler;
pub mod service_orders;
pub mod webhooks;

use error::{from_rejection, ErrorClass, ServiceError};
use ledger::{
    chart, AccountId, AccountSpec, AsOf, Asset, Clock, Command, CommandResult, EntryId, EntrySpec, Ledger,
    LedgerConfig, LedgerReader, PostingSpec, RejectionCode, Timestamp,
};
use model::{BillingMode, Customer, Event, Merchant, Payment, Principal, Role};
use projection::{IdempotencyRecord, Projection};
use rand::Rng;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use uuid::Uuid;

/// How long a payment code may be used (DESIGN.md: "valid ~60 s").
pub const PAYMENT_CODE_TTL_SECONDS: i64 = 60;
/// Digits of a payment code (like the 18-digit codes of WeChat Pay and Alipay).
pub const PAYMENT_CODE_DIGITS: usize = 18;
/// Longest party name, in characters.
pub const NAME_CHARS_MAX: usize = 100;
/// Largest household (the tariff gives an uplift from 6 people).
pub const HOUSEHOLD_SIZE_MAX: u8 = 30;
/// Longest merchant order reference and channel transaction id, in bytes.
pub const REFERENCE_BYTES_MAX: usize = 64;
/// Largest single top-up or payment, in CNY.
pub const AMOUNT_CNY_MAX: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 2);
/// Refund locks: refunds of one payment are serialized in-process (one server owns the store).
const REFUND_LOCK_STRIPES: usize = 256;
/// Longest tariff code.
pub const TARIFF_CODE_BYTES_MAX: usize = 32;

/// The running service.
#[derive(Debug)]
pub struct Service {
    ledger: Ledger,
    reader: LedgerReader,
    projection: Arc<Projection>,
    clock: Arc<dyn Clock>,
    refund_locks: Vec<tokio::sync::Mutex<()>>,
    /// A customer's charges, top-ups and valve changes run one at a time (see `customer_locks`).
    customer_locks: customer_locks::CustomerLocks,
    /// The engine's key (the ledger's checkpoint key), for signing webhooks.
    signing_key: ed25519_dalek::SigningKey,
    /// The technician settlement rules (commission by stars and tier), shipped as data.
    technician_rules: settlement::rules::RuleBook,
    /// The credit scorecard (a versioned model file shipped in the binary).
    risk_model: ::risk::Model,
}

/// A verified idempotency request: who asked, with which key, for which body.
#[derive(Debug, Clone)]
pub struct IdempotencyRequest {
    pub record: EntryId,
    pub request_hash: String,
}

impl IdempotencyRequest {
    pub fn new(principal: &Principal, key: &str, method: &str, path: &str, body: &[u8]) -> IdempotencyRequest {
        let mut hasher = Sha256::new();
        hasher.update(method.as_bytes());
        hasher.update([0]);
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(body);
        IdempotencyRequest {
            record: ids::idempotency_record(&principal.idempotency_scope(), key),
            request_hash: hex::encode(hasher.finalize()),
        }
    }
}

/// What an idempotent operation answers: a fresh or replayed JSON body, with its status.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
}

/// A new bearer token, shown once.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub token_id: Uuid,
    pub role: Role,
    pub subject_id: Option<Uuid>,
}

/// A wallet as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletView {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub balance: Decimal,
    pub available: Decimal,
    pub held: Decimal,
    pub credit_limit: Decimal,
    pub arrears: Decimal,
    pub open: bool,
}

/// One statement line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    pub sequence: u64,
    pub entry_id: Uuid,
    pub at: Timestamp,
    pub kind: String,
    /// Signed: positive when money came into the wallet.
    pub amount: Decimal,
    pub balance_after: Decimal,
    pub memo: String,
}

pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn money(amount: Decimal) -> Result<Decimal, ServiceError> {
    Asset::Cny
        .minor_from_decimal(amount)
        .map_err(|error| ServiceError::invalid_amount(format!("{amount}: {error}")))?;
    if amount > AMOUNT_CNY_MAX {
        return Err(ServiceError::invalid_amount(format!("{amount} exceeds the largest amount {AMOUNT_CNY_MAX}")));
    }
    Ok(amount.normalize())
}

/// Renders a gas volume with exactly three decimals (m³).
pub fn volume(amount: Decimal) -> String {
    let mut value = amount;
    value.rescale(3);
    value.to_string()
}

/// CNY at exactly two decimals (whole fen), for answers that serialize the `Decimal` itself.
pub fn fen(amount: Decimal) -> Decimal {
    let mut value = amount;
    value.rescale(2);
    value
}

/// Renders CNY with exactly two decimals.
pub fn cny(amount: Decimal) -> String {
    let mut value = amount;
    value.rescale(2);
    value.to_string()
}

fn check_name(name: &str) -> Result<String, ServiceError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > NAME_CHARS_MAX || trimmed.chars().any(char::is_control) {
        return Err(ServiceError::validation(format!("name must be 1 to {NAME_CHARS_MAX} printable characters")));
    }
    Ok(trimmed.to_owned())
}

fn check_reference(field: &str, value: &str) -> Result<(), ServiceError> {
    let ok = !value.is_empty()
        && value.len() <= REFERENCE_BYTES_MAX
        && value.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b':'));
    if !ok {
        return Err(ServiceError::validation(format!(
            "{field} must be 1 to {REFERENCE_BYTES_MAX} characters of A-Z, a-z, 0-9, - _ . :"
        )));
    }
    Ok(())
}

impl Service {
    /// Opens the ledger in `directory` with the projection attached, and opens the system accounts.
    pub fn open(directory: &Path, clock: Arc<dyn Clock>) -> anyhow::Result<Service> {
        let projection = Arc::new(Projection::default());
        let observer: Arc<dyn ledger::CommitObserver> = projection.clone();
        let ledger = Ledger::open_observed(LedgerConfig::new(directory), clock.clone(), Some(observer))?;
        let reader = ledger.reader();
        let accounts = projection::system_accounts()
            .into_iter()
            .map(|(id, code)| {
                Command::OpenAccount(AccountSpec {
                    id,
                    code,
                    asset: Asset::Cny,
                    no_overdraft: false,
                    credit_limit: Decimal::ZERO,
                })
            })
            .collect();
        for result in ledger.submit(accounts)?.wait()? {
            if let Err(rejection) = result {
                anyhow::bail!("opening a system account: {rejection}");
            }
        }
        let refund_locks = (0..REFUND_LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect();
        let signing_key = ledger::signing::load_or_create_signing_key(directory)?;
        let customer_locks = customer_locks::CustomerLocks::new();
        let technician_rules = settlement::rules::RuleBook::shipped()
            .map_err(|error| anyhow::anyhow!("the shipped technician rules do not load: {error}"))?;
        let risk_model = ::risk::Model::load_default()
            .map_err(|error| anyhow::anyhow!("the shipped credit model does not load: {error}"))?;
        Ok(Service {
            ledger,
            reader,
            projection,
            clock,
            refund_locks,
            customer_locks,
            signing_key,
            technician_rules,
            risk_model,
        })
    }

    pub fn reader(&self) -> &LedgerReader {
        &self.reader
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn projection(&self) -> &Projection {
        &self.projection
    }

    /// The engine's signing key (checkpoints and webhooks).
    pub fn signing_key(&self) -> &ed25519_dalek::SigningKey {
        &self.signing_key
    }

    /// The engine's public key, hex: what webhook receivers and auditors pin.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.signing_key.verifying_key().to_bytes())
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Stops the writer after what is queued, and flushes.
    pub fn close(self) -> Result<(), ledger::Fault> {
        self.ledger.close()
    }

    /// Looks a bearer token up.
    pub fn authenticate(&self, token: &str) -> Option<Principal> {
        self.projection.principal(&hash_token(token))
    }

    async fn submit(&self, commands: Vec<Command>) -> Result<Vec<CommandResult>, ServiceError> {
        let ticket = self.ledger.try_submit(commands)?;
        Ok(ticket.wait_async().await?)
    }

    /// Submits commands in as many ledger submissions as their size needs (each at most one
    /// group commit's worth, linked groups counted by their members), one after another.
    pub(crate) async fn submit_in_batches(&self, commands: Vec<Command>) -> Result<Vec<CommandResult>, ServiceError> {
        let weight = |command: &Command| match command {
            Command::Linked(members) => members.len().max(1),
            _ => 1,
        };
        let mut results = Vec::with_capacity(commands.len());
        let mut batch: Vec<Command> = Vec::new();
        let mut batch_weight = 0;
        for command in commands {
            let command_weight = weight(&command);
            if !batch.is_empty() && batch_weight + command_weight > ledger::ledger::BATCH_COMMANDS_MAX_DEFAULT {
                results.extend(self.submit(std::mem::take(&mut batch)).await?);
                batch_weight = 0;
            }
            batch_weight += command_weight;
            batch.push(command);
        }
        if !batch.is_empty() {
            results.extend(self.submit(batch).await?);
        }
        Ok(results)
    }

    pub(crate) async fn submit_one(&self, command: Command) -> Result<CommandResult, ServiceError> {
        self.submit(vec![command])
            .await?
            .pop()
            .ok_or_else(|| ServiceError::new(ErrorClass::Internal, "internal_error", "the ledger returned no result"))
    }

    /// Registers a token for a principal and returns it (shown once).
    pub async fn issue_token(&self, role: Role, subject_id: Option<Uuid>) -> Result<IssuedToken, ServiceError> {
        match (role.needs_subject(), subject_id) {
            (true, None) => {
                return Err(ServiceError::validation(format!("a {} token needs subject_id", role.as_str())))
            }
            (false, Some(_)) => {
                return Err(ServiceError::validation(format!("a {} token has no subject_id", role.as_str())))
            }
            _ => {}
        }
        if let Some(subject) = subject_id {
            let projection = self.projection.read();
            let exists = match role {
                Role::Customer => projection.customers.contains_key(&subject),
                Role::Merchant => projection.merchants.contains_key(&subject),
                Role::Technician => projection.technicians.contains_key(&subject),
                Role::Concentrator => projection.concentrators.contains_key(&subject),
                Role::Admin | Role::Finance => false,
            };
            if !exists {
                return Err(ServiceError::not_found(format!("no {} {subject}", role.as_str())));
            }
        }
        let secret: [u8; 32] = rand::rngs::OsRng.gen();
        let token = format!("gw_{}", hex::encode(secret));
        let token_id = Uuid::new_v4();
        self.register_token(&token, token_id, role, subject_id).await?;
        Ok(IssuedToken { token, token_id, role, subject_id })
    }

    /// Records a token's hash (idempotent for the same token).
    pub async fn register_token(
        &self,
        token: &str,
        token_id: Uuid,
        role: Role,
        subject_id: Option<Uuid>,
    ) -> Result<(), ServiceError> {
        let hash = hash_token(token);
        let note = notes::TokenIssued { token_id, token_hash: hex::encode(hash), role, subject_id };
        let command = Command::Note {
            id: ids::token_record(&hash),
            kind: notes::TOKEN_ISSUED.into(),
            payload: notes::encode(&note),
        };
        match self.submit_one(command).await? {
            Ok(_) => Ok(()),
            Err(rejection) => Err(from_rejection(&rejection)),
        }
    }

    /// Makes sure a bootstrap admin token is registered (a token id derived from its hash, so
    /// registering the same token again is a duplicate, not a conflict).
    pub async fn ensure_admin_token(&self, token: &str) -> Result<(), ServiceError> {
        let token_id = ids::token_record(&hash_token(token)).0;
        self.register_token(token, token_id, Role::Admin, None).await
    }

    /// Runs an idempotent operation: replays the stored answer for a known key, refuses a key
    /// reused with another body, otherwise runs `operation` and stores a business rejection so a
    /// replay gets it again.
    async fn idempotent<F, Fut>(&self, request: &IdempotencyRequest, operation: F) -> Result<Answer, ServiceError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Answer, ServiceError>>,
    {
        if let Some(answer) = self.replay(request)? {
            return Ok(answer);
        }
        match operation().await {
            Ok(answer) => Ok(answer),
            Err(error) if error.is_final_business_answer() && error.code != "idempotency_conflict" => {
                let body =
                    serde_json::json!({ "code": error.code, "detail": error.detail, "class": error.class.as_str() });
                let note = notes::IdempotencyAnswered { request_hash: request.request_hash.clone(), body };
                let command = Command::Note {
                    id: request.record,
                    kind: notes::IDEMPOTENCY_ANSWERED.into(),
                    payload: notes::encode(&note),
                };
                // If storing the answer fails, the caller still gets the rejection; a retry then
                // runs the operation again, which is safe because nothing was posted.
                match self.submit_one(command).await {
                    Ok(Ok(_)) | Ok(Err(_)) | Err(_) => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// The stored answer for a key, if the key was used before.
    fn replay(&self, request: &IdempotencyRequest) -> Result<Option<Answer>, ServiceError> {
        let record = self.projection.read().idempotency.get(&request.record).cloned();
        match record {
            None => Ok(None),
            Some(IdempotencyRecord::Claimed { request_hash, resource, resource_id }) => {
                if request_hash != request.request_hash {
                    return Err(idempotency_conflict());
                }
                self.render_resource(&resource, resource_id).map(Some)
            }
            Some(IdempotencyRecord::Answered { request_hash, body, .. }) => {
                if request_hash != request.request_hash {
                    return Err(idempotency_conflict());
                }
                let code = body.get("code").and_then(serde_json::Value::as_str).unwrap_or("conflict");
                let detail = body.get("detail").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
                let class = body.get("class").and_then(serde_json::Value::as_str).and_then(ErrorClass::from_name);
                Err(replayed_error(code, class, detail))
            }
        }
    }

    fn claim(&self, request: &IdempotencyRequest, resource: &str, resource_id: Uuid) -> Command {
        let note = notes::IdempotencyClaimed {
            request_hash: request.request_hash.clone(),
            resource: resource.to_owned(),
            resource_id,
        };
        Command::Note { id: request.record, kind: notes::IDEMPOTENCY_CLAIMED.into(), payload: notes::encode(&note) }
    }

    /// Rebuilds the answer of an operation from the journal (answers are functions of it).
    fn render_resource(&self, resource: &str, id: Uuid) -> Result<Answer, ServiceError> {
        let missing =
            || ServiceError::new(ErrorClass::Internal, "internal_error", format!("{resource} {id} is missing"));
        match resource {
            "reconciliation_resolution" => self.render_resolution(id),
            "topup" => {
                let topup = self.projection.read().topups.get(&id).cloned().ok_or_else(missing)?;
                // The balance right after the top-up's own entry (a function of the journal).
                let entry_sequence = self
                    .reader
                    .with_state(|state| state.entry_sequence_by_id(&EntryId(topup.entry_id)))
                    .ok_or_else(missing)?;
                // The arrears payment, if any, is the record right after the top-up's entry.
                let after = entry_sequence + u64::from(topup.arrears_paid > Decimal::ZERO);
                let balances = self.reader.balances_as_of(&topup.wallet, AsOf::Sequence(after)).ok_or_else(missing)?;
                let balance = Asset::Cny.decimal_from_minor(balances.posted_on(ledger::Side::Credit));
                Ok(Answer {
                    status: 201,
                    body: serde_json::json!({
                        "entry_id": topup.entry_id,
                        "wallet_id": topup.wallet.0,
                        "amount": cny(topup.amount),
                        "channel": topup.channel,
                        "channel_txn_id": topup.channel_txn_id,
                        "arrears_paid": cny(topup.arrears_paid),
                        "balance": cny(balance),
                    }),
                })
            }
            "payment" => {
                let payment = self.projection.read().payments.get(&id).cloned().ok_or_else(missing)?;
                // The answer at creation: a new payment has nothing refunded yet.
                Ok(Answer { status: 201, body: payment_json(&payment, Decimal::ZERO, "succeeded") })
            }
            "refund" => {
                let refund = self.projection.read().refunds.get(&id).cloned().ok_or_else(missing)?;
                Ok(Answer {
                    status: 201,
                    body: serde_json::json!({
                        "id": refund.id,
                        "payment_id": refund.payment_id,
                        "amount": cny(refund.amount),
                        "created_at": rfc3339(refund.created_at),
                    }),
                })
            }
            "payment_code" => {
                let projection = self.projection.read();
                let code = projection
                    .payment_code_by_note
                    .get(&id)
                    .and_then(|code| projection.payment_codes.get(code))
                    .ok_or_else(missing)?;
                Ok(Answer {
                    status: 201,
                    body: serde_json::json!({
                        "code": code.code,
                        "wallet_id": code.wallet.0,
                        "expires_at": rfc3339(code.expires_at),
                        "max_amount": code.max_amount.map(cny),
                    }),
                })
            }
            "service_order" => {
                let order = self.projection.read().service_orders.get(&id).cloned().ok_or_else(missing)?;
                Ok(Answer { status: 201, body: service_orders::booked_order_json(&order) })
            }
            "service_reversal" => {
                let reversal = self.projection.read().service_reversals.get(&id).cloned().ok_or_else(missing)?;
                Ok(Answer {
                    status: 201,
                    body: serde_json::json!({
                        "id": reversal.reversal_id,
                        "order_id": reversal.order.id,
                        "amount": cny(reversal.amount),
                        "from_technician": cny(reversal.from_technician),
                        "from_commission": cny(reversal.from_commission),
                    }),
                })
            }
            "customer" => {
                let customer = self.projection.read().customers.get(&id).cloned().ok_or_else(missing)?;
                Ok(Answer { status: 201, body: customer_json(&customer) })
            }
            "merchant" => {
                let merchant = self.projection.read().merchants.get(&id).cloned().ok_or_else(missing)?;
                Ok(Answer { status: 201, body: merchant_json(&merchant) })
            }
            other => {
                Err(ServiceError::new(ErrorClass::Internal, "internal_error", format!("unknown resource {other}")))
            }
        }
    }

    /// The id an optional idempotency key gives a new object, or a fresh one.
    fn new_object_id(request: Option<&IdempotencyRequest>, purpose: &str) -> Uuid {
        request.map_or_else(Uuid::new_v4, |request| ids::operation(request.record, purpose))
    }

    /// Registers a customer and opens their wallet, atomically.
    pub async fn register_customer(
        &self,
        name: &str,
        household_size: Option<u8>,
        tariff: Option<&str>,
        billing_mode: Option<BillingMode>,
        request: Option<&IdempotencyRequest>,
    ) -> Result<Answer, ServiceError> {
        let name = check_name(name)?;
        let household_size = household_size.unwrap_or(3);
        if household_size == 0 || household_size > HOUSEHOLD_SIZE_MAX {
            return Err(ServiceError::validation(format!("household_size must be 1 to {HOUSEHOLD_SIZE_MAX}")));
        }
        let tariff = tariff.unwrap_or("residential");
        if !self.projection.read().tariffs.contains_key(tariff) {
            return Err(ServiceError::new(
                ErrorClass::Unprocessable,
                "unknown_tariff",
                format!("no tariff {tariff:?}"),
            ));
        }
        let id = Self::new_object_id(request, "customer");
        let wallet = ids::wallet_account(id);
        let note = notes::CustomerRegistered {
            id,
            name,
            household_size,
            tariff: tariff.to_owned(),
            billing_mode: billing_mode.unwrap_or_default(),
            wallet_id: wallet.0,
        };
        let mut commands = vec![
            Command::OpenAccount(AccountSpec {
                id: wallet,
                code: chart::CUSTOMER_WALLET,
                asset: Asset::Cny,
                no_overdraft: true,
                credit_limit: Decimal::ZERO,
            }),
            Command::Note {
                id: ids::note_for(id, "registered"),
                kind: notes::CUSTOMER_REGISTERED.into(),
                payload: notes::encode(&note),
            },
        ];
        self.run_creation(request, &mut commands, "customer", id).await
    }

    /// Registers a partner merchant with its fee rate and payable account.
    pub async fn register_merchant(
        &self,
        name: &str,
        fee_rate: Decimal,
        request: Option<&IdempotencyRequest>,
    ) -> Result<Answer, ServiceError> {
        let name = check_name(name)?;
        let fee_rate = settlement::fees::FeeRate::new(fee_rate)
            .map_err(|error| ServiceError::new(ErrorClass::Unprocessable, "invalid_fee_rate", error.to_string()))?;
        let id = Self::new_object_id(request, "merchant");
        let payable = ids::merchant_payable_account(id);
        let note = notes::MerchantRegistered { id, name, fee_rate: fee_rate.as_decimal(), payable_account: payable.0 };
        let mut commands = vec![
            Command::OpenAccount(AccountSpec {
                id: payable,
                code: chart::MERCHANT_PAYABLE,
                asset: Asset::Cny,
                no_overdraft: false,
                credit_limit: Decimal::ZERO,
            }),
            Command::Note {
                id: ids::note_for(id, "registered"),
                kind: notes::MERCHANT_REGISTERED.into(),
                payload: notes::encode(&note),
            },
        ];
        self.run_creation(request, &mut commands, "merchant", id).await
    }

    /// Registers a technician (with a payable account) or a concentrator.
    pub async fn register_party(&self, role: Role, name: &str) -> Result<Uuid, ServiceError> {
        let name = check_name(name)?;
        let id = Uuid::new_v4();
        let note = notes::PartyRegistered { id, name };
        let mut commands = Vec::new();
        let kind = match role {
            Role::Technician => {
                commands.push(Command::OpenAccount(AccountSpec {
                    id: ids::technician_payable_account(id),
                    code: chart::TECHNICIAN_PAYABLE,
                    asset: Asset::Cny,
                    no_overdraft: false,
                    credit_limit: Decimal::ZERO,
                }));
                notes::TECHNICIAN_REGISTERED
            }
            Role::Concentrator => notes::CONCENTRATOR_REGISTERED,
            other => return Err(ServiceError::validation(format!("{} is not a party kind", other.as_str()))),
        };
        commands.push(Command::Note {
            id: ids::note_for(id, "registered"),
            kind: kind.into(),
            payload: notes::encode(&note),
        });
        match self.submit_one(Command::Linked(commands)).await? {
            Ok(_) => Ok(id),
            Err(rejection) => Err(from_rejection(&rejection)),
        }
    }

    async fn run_creation(
        &self,
        request: Option<&IdempotencyRequest>,
        commands: &mut Vec<Command>,
        resource: &str,
        id: Uuid,
    ) -> Result<Answer, ServiceError> {
        match request {
            Some(request) => {
                commands.push(self.claim(request, resource, id));
                let commands = std::mem::take(commands);
                self.idempotent(request, || async move {
                    match self.submit_one(Command::Linked(commands)).await? {
                        Ok(_) => self.render_resource(resource, id),
                        Err(rejection) if rejection.code == RejectionCode::IdConflict => Err(idempotency_conflict()),
                        Err(rejection) => Err(from_rejection(&rejection)),
                    }
                })
                .await
            }
            None => match self.submit_one(Command::Linked(std::mem::take(commands))).await? {
                Ok(_) => self.render_resource(resource, id),
                Err(rejection) => Err(from_rejection(&rejection)),
            },
        }
    }

    /// The customer that owns a wallet, checking that the caller may see it.
    fn wallet_owner(&self, principal: &Principal, wallet_id: Uuid) -> Result<Customer, ServiceError> {
        let projection = self.projection.read();
        let customer = projection
            .customer_by_wallet
            .get(&AccountId(wallet_id))
            .and_then(|customer| projection.customers.get(customer))
            .cloned();
        match customer {
            Some(customer) if principal.role.is_staff() || principal.is(Role::Customer, customer.id) => Ok(customer),
            // Another principal's wallet is answered exactly like a missing one: no data leaks.
            _ => Err(ServiceError::not_found(format!("no wallet {wallet_id}"))),
        }
    }

    /// A wallet's balances.
    pub fn wallet(&self, principal: &Principal, wallet_id: Uuid) -> Result<WalletView, ServiceError> {
        let customer = self.wallet_owner(principal, wallet_id)?;
        let account = self
            .reader
            .account(&customer.wallet)
            .ok_or_else(|| ServiceError::not_found(format!("no wallet {wallet_id}")))?;
        let balances = account.balances;
        let side = account.normal_side;
        Ok(WalletView {
            id: wallet_id,
            customer_id: customer.id,
            balance: Asset::Cny.decimal_from_minor(balances.posted_on(side)),
            available: Asset::Cny.decimal_from_minor(balances.available_on(side)),
            held: Asset::Cny.decimal_from_minor(i128::from(balances.held_against(side))),
            credit_limit: Asset::Cny.decimal_from_minor(i128::from(account.credit_limit_minor)),
            arrears: self.arrears_of(customer.id),
            open: account.is_open(),
        })
    }

    /// Books a top-up from a payment channel.
    pub async fn topup(
        &self,
        principal: &Principal,
        wallet_id: Uuid,
        amount: Decimal,
        channel: &str,
        channel_txn_id: &str,
        request: &IdempotencyRequest,
    ) -> Result<Answer, ServiceError> {
        if !principal.role.is_staff() {
            return Err(ServiceError::forbidden("top-ups are booked by admin or finance"));
        }
        let amount = money(amount)?;
        if !ids::CHANNELS.contains(&channel) {
            return Err(ServiceError::new(
                ErrorClass::Unprocessable,
                "unknown_channel",
                format!("channel must be one of {:?}", ids::CHANNELS),
            ));
        }
        check_reference("channel_txn_id", channel_txn_id)?;
        let customer = self.wallet_owner(principal, wallet_id)?;
        // A top-up pays arrears first; charges and top-ups of one customer run one at a time.
        let _guard = self.lock_customer(customer.id).await;
        self.idempotent(request, || async move {
            let entry_id = ids::entry_for(ids::operation(request.record, "topup"), "topup");
            let arrears = self.arrears_of(customer.id);
            // The arrears are paid out of the wallet right after the top-up, but never past the
            // wallet's floor: a wallet left below a lowered credit limit climbs back to it first
            // (otherwise the linked group would overdraw and the whole top-up be refused).
            let headroom = self.reader().account(&customer.wallet).map_or(Decimal::ZERO, |account| {
                let available =
                    account.balances.available_on(account.normal_side) + i128::from(account.credit_limit_minor);
                Asset::Cny.decimal_from_minor(available)
            });
            let arrears_paid = amount.min(arrears).min((headroom + amount).max(Decimal::ZERO));
            let note = notes::TopupReceived {
                entry_id: entry_id.0,
                arrears_paid,
                wallet_id,
                amount,
                channel: channel.to_owned(),
                channel_txn_id: channel_txn_id.to_owned(),
            };
            let commands = vec![
                Command::Note {
                    id: ids::channel_transaction(channel, channel_txn_id),
                    kind: notes::TOPUP_RECEIVED.into(),
                    payload: notes::encode(&note),
                },
                Command::Post(EntrySpec {
                    id: entry_id,
                    category: "topup".into(),
                    memo: format!("{channel} {channel_txn_id}"),
                    postings: vec![
                        PostingSpec::debit(ids::channel_clearing_account(channel), amount),
                        PostingSpec::credit(customer.wallet, amount),
                    ],
                    hold: None,
                }),
            ];
            let mut commands = commands;
            if arrears_paid > Decimal::ZERO {
                commands.push(Command::Post(EntrySpec {
                    id: ids::entry_for(ids::operation(request.record, "topup"), "arrears"),
                    category: "arrears_payment".into(),
                    memo: format!("{channel} {channel_txn_id}"),
                    postings: vec![
                        PostingSpec::debit(customer.wallet, arrears_paid),
                        PostingSpec::credit(ids::arrears_account(customer.id), arrears_paid),
                    ],
                    hold: None,
                }));
                let valve = self.projection.read().valves.get(&customer.id).copied().unwrap_or_default();
                if arrears_paid == arrears && valve == crate::metering::valve::ValveState::Closed {
                    let note = notes::ValveChanged {
                        customer_id: customer.id,
                        state: crate::metering::valve::ValveState::Armed,
                        reason: "arrears_paid".into(),
                    };
                    commands.push(Command::Note {
                        id: ids::note_for(entry_id.0, "valve"),
                        kind: notes::VALVE_CHANGED.into(),
                        payload: notes::encode(&note),
                    });
                }
            }
            commands.push(self.claim(request, "topup", entry_id.0));
            match self.submit_one(Command::Linked(commands)).await? {
                Ok(_) => self.render_resource("topup", entry_id.0),
                Err(rejection) => Err(match (rejection.code, rejection.linked_index) {
                    (RejectionCode::IdConflict, Some(0)) => ServiceError::new(
                        ErrorClass::Conflict,
                        "duplicate_channel_txn",
                        format!("{channel} transaction {channel_txn_id} is already booked"),
                    ),
                    (RejectionCode::IdConflict, _) => idempotency_conflict(),
                    _ => from_rejection(&rejection),
                }),
            }
        })
        .await
    }

    /// Issues a one-time payment code for the customer's own wallet.
    pub async fn issue_payment_code(
        &self,
        principal: &Principal,
        wallet_id: Uuid,
        max_amount: Option<Decimal>,
        request: Option<&IdempotencyRequest>,
    ) -> Result<Answer, ServiceError> {
        let customer = self.wallet_owner(principal, wallet_id)?;
        if principal.role != Role::Customer {
            return Err(ServiceError::forbidden("payment codes are issued to the wallet's customer"));
        }
        let max_amount = max_amount.map(money).transpose()?;
        let mut random = rand::rngs::OsRng;
        // 18 digits starting with 28 (other wallets use 10-15 and 25-30), the rest random.
        let code: String = std::iter::once("28".to_owned())
            .chain((0..PAYMENT_CODE_DIGITS - 2).map(|_| random.gen_range(0..10u8).to_string()))
            .collect();
        let expires_at = self.now().plus_micros(PAYMENT_CODE_TTL_SECONDS * 1_000_000);
        let note = notes::PaymentCodeIssued {
            code: code.clone(),
            wallet_id,
            customer_id: customer.id,
            max_amount,
            expires_at: expires_at.0,
        };
        let note_id = ids::payment_code_issued(&code);
        let issue =
            Command::Note { id: note_id, kind: notes::PAYMENT_CODE_ISSUED.into(), payload: notes::encode(&note) };
        match request {
            None => match self.submit_one(issue).await? {
                Ok(_) => self.render_resource("payment_code", note_id.0),
                Err(rejection) => Err(from_rejection(&rejection)),
            },
            Some(request) => {
                let commands = vec![issue, self.claim(request, "payment_code", note_id.0)];
                self.idempotent(request, || async move {
                    match self.submit_one(Command::Linked(commands)).await? {
                        Ok(_) => self.render_resource("payment_code", note_id.0),
                        Err(rejection) if rejection.code == RejectionCode::IdConflict => Err(idempotency_conflict()),
                        Err(rejection) => Err(from_rejection(&rejection)),
                    }
                })
                .await
            }
        }
    }

    /// A merchant charges a payment code.
    pub async fn pay(
        &self,
        principal: &Principal,
        payment_code: &str,
        amount: Decimal,
        order_ref: &str,
        request: &IdempotencyRequest,
    ) -> Result<Answer, ServiceError> {
        let merchant_id = match (principal.role, principal.subject_id) {
            (Role::Merchant, Some(merchant)) => merchant,
            _ => return Err(ServiceError::forbidden("payments are taken by merchants")),
        };
        let amount = money(amount)?;
        check_reference("order_ref", order_ref)?;
        if let Some(answer) = self.replay(request)? {
            return Ok(answer);
        }
        let (code, merchant) = {
            let projection = self.projection.read();
            let code = projection.payment_codes.get(payment_code).cloned();
            let merchant = projection.merchants.get(&merchant_id).cloned();
            (code, merchant)
        };
        let merchant =
            merchant.ok_or_else(|| ServiceError::forbidden("the merchant of this token no longer exists"))?;
        self.idempotent(request, || async move {
            let code = code.ok_or_else(|| {
                ServiceError::new(ErrorClass::NotFound, "payment_code_not_found", "no such payment code")
            })?;
            let payment_id = ids::operation(request.record, "payment");
            if code.used_by.is_some_and(|used_by| used_by != payment_id) {
                return Err(ServiceError::new(
                    ErrorClass::Conflict,
                    "payment_code_used",
                    "the payment code was already used",
                ));
            }
            if code.used_by.is_none() && self.now() >= code.expires_at {
                return Err(ServiceError::new(
                    ErrorClass::Unprocessable,
                    "payment_code_expired",
                    "the payment code has expired",
                ));
            }
            if code.max_amount.is_some_and(|max_amount| amount > max_amount) {
                return Err(ServiceError::new(
                    ErrorClass::Unprocessable,
                    "amount_exceeds_code_limit",
                    "the amount is above the code's limit",
                ));
            }
            let entry_id = ids::entry_for(payment_id, "payment");
            let used = notes::PaymentCodeUsed { code: code.code.clone(), payment_id };
            let made = notes::PaymentMade {
                id: payment_id,
                entry_id: entry_id.0,
                code: code.code.clone(),
                wallet_id: code.wallet.0,
                customer_id: code.customer_id,
                merchant_id,
                amount,
                order_ref: order_ref.to_owned(),
            };
            let commands = vec![
                Command::Note {
                    id: ids::payment_code_used(&code.code),
                    kind: notes::PAYMENT_CODE_USED.into(),
                    payload: notes::encode(&used),
                },
                Command::Note {
                    id: ids::note_for(payment_id, "made"),
                    kind: notes::PAYMENT_MADE.into(),
                    payload: notes::encode(&made),
                },
                Command::Post(EntrySpec {
                    id: entry_id,
                    category: "merchant_payment".into(),
                    memo: order_ref.to_owned(),
                    postings: vec![
                        PostingSpec::debit(code.wallet, amount),
                        PostingSpec::credit(merchant.payable, amount),
                    ],
                    hold: None,
                }),
                self.claim(request, "payment", payment_id),
            ];
            match self.submit_one(Command::Linked(commands)).await? {
                Ok(_) => self.render_resource("payment", payment_id),
                Err(rejection) => Err(match (rejection.code, rejection.linked_index) {
                    (RejectionCode::IdConflict, Some(0)) => ServiceError::new(
                        ErrorClass::Conflict,
                        "payment_code_used",
                        "the payment code was already used",
                    ),
                    (RejectionCode::IdConflict, _) => idempotency_conflict(),
                    _ => from_rejection(&rejection),
                }),
            }
        })
        .await
    }

    /// A payment, for its merchant, its customer, or staff.
    pub fn payment(&self, principal: &Principal, payment_id: Uuid) -> Result<serde_json::Value, ServiceError> {
        let payment = self.projection.read().payments.get(&payment_id).cloned();
        match payment {
            Some(payment)
                if principal.role.is_staff()
                    || principal.is(Role::Merchant, payment.merchant_id)
                    || principal.is(Role::Customer, payment.customer_id) =>
            {
                Ok(payment_json(&payment, payment.refunded, payment.status()))
            }
            _ => Err(ServiceError::not_found(format!("no payment {payment_id}"))),
        }
    }

    /// The merchant refunds (part of) a payment; refunds never exceed what was paid.
    pub async fn refund(
        &self,
        principal: &Principal,
        payment_id: Uuid,
        amount: Decimal,
        request: &IdempotencyRequest,
    ) -> Result<Answer, ServiceError> {
        let merchant_id = match (principal.role, principal.subject_id) {
            (Role::Merchant, Some(merchant)) => merchant,
            _ => return Err(ServiceError::forbidden("refunds are made by the merchant that took the payment")),
        };
        let amount = money(amount)?;
        // Refunds of one payment run one at a time, so "never above what was paid" is checked
        // against the latest refunded total (only this process writes the store).
        let stripe = (payment_id.as_u128() % REFUND_LOCK_STRIPES as u128) as usize;
        let _guard = self.refund_locks[stripe].lock().await;
        self.idempotent(request, || async move {
            let (payment, merchant) = {
                let projection = self.projection.read();
                (projection.payments.get(&payment_id).cloned(), projection.merchants.get(&merchant_id).cloned())
            };
            let payment = match payment {
                Some(payment) if payment.merchant_id == merchant_id => payment,
                _ => return Err(ServiceError::not_found(format!("no payment {payment_id}"))),
            };
            let merchant =
                merchant.ok_or_else(|| ServiceError::forbidden("the merchant of this token no longer exists"))?;
            let refundable = payment.amount - payment.refunded;
            if amount > refundable {
                return Err(ServiceError::new(
                    ErrorClass::Unprocessable,
                    "refund_exceeds_payment",
                    format!("at most {} of this payment can still be refunded", cny(refundable)),
                ));
            }
            let refund_id = ids::operation(request.record, "refund");
            let entry_id = ids::entry_for(refund_id, "refund");
            let note = notes::RefundMade { id: refund_id, entry_id: entry_id.0, payment_id, merchant_id, amount };
            let commands = vec![
                Command::Note {
                    id: ids::note_for(refund_id, "made"),
                    kind: notes::REFUND_MADE.into(),
                    payload: notes::encode(&note),
                },
                Command::Post(EntrySpec {
                    id: entry_id,
                    category: "merchant_refund".into(),
                    memo: payment.order_ref.clone(),
                    postings: vec![
                        PostingSpec::debit(merchant.payable, amount),
                        PostingSpec::credit(payment.wallet, amount),
                    ],
                    hold: None,
                }),
                self.claim(request, "refund", refund_id),
            ];
            match self.submit_one(Command::Linked(commands)).await? {
                Ok(_) => self.render_resource("refund", refund_id),
                Err(rejection) if rejection.code == RejectionCode::IdConflict => Err(idempotency_conflict()),
                Err(rejection) => Err(from_rejection(&rejection)),
            }
        })
        .await
    }

    /// Statement lines of a wallet, oldest first, after a cursor and within a time window.
    pub fn statement(
        &self,
        principal: &Principal,
        wallet_id: Uuid,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<StatementLine>, Option<u64>), ServiceError> {
        let customer = self.wallet_owner(principal, wallet_id)?;
        let mut after = cursor;
        if after.is_none() {
            if let Some(from) = from {
                // Everything up to just before `from` is skipped without reading it.
                let before_from = self.reader.with_state(|state| state.sequence_as_of_time(from.plus_micros(-1)));
                after = Some(before_from);
            }
        }
        let page = self
            .reader
            .history(&customer.wallet, after, limit)?
            .ok_or_else(|| ServiceError::not_found(format!("no wallet {wallet_id}")))?;
        let mut lines = Vec::with_capacity(page.lines.len());
        let mut previous_balance = None;
        let mut next_cursor = page.next_cursor;
        for line in &page.lines {
            if to.is_some_and(|to| line.timestamp > to) {
                next_cursor = None;
                break;
            }
            let balance_after = line.balances_after.posted_on(ledger::Side::Credit);
            let before = match previous_balance {
                Some(balance) => balance,
                None => self
                    .reader
                    .balances_as_of(&customer.wallet, AsOf::Sequence(line.sequence - 1))
                    .map_or(0, |balances| balances.posted_on(ledger::Side::Credit)),
            };
            previous_balance = Some(balance_after);
            let Some(entry) = &line.entry else { continue };
            if balance_after == before {
                // Holds and voids change what is available, not the balance: not a statement line.
                continue;
            }
            lines.push(StatementLine {
                sequence: line.sequence,
                entry_id: entry.id.0,
                at: line.timestamp,
                kind: entry.category.clone(),
                amount: Asset::Cny.decimal_from_minor(balance_after - before),
                balance_after: Asset::Cny.decimal_from_minor(balance_after),
                memo: entry.memo.clone(),
            });
        }
        Ok((lines, next_cursor))
    }

    /// Events the principal may see, after a cursor.
    pub fn events(&self, principal: &Principal, after: u64, limit: usize) -> (Vec<Event>, Option<u64>) {
        let projection = self.projection.read();
        let start = usize::try_from(after).unwrap_or(usize::MAX).min(projection.events.len());
        let visible = |event: &&Event| match principal.role {
            Role::Admin | Role::Finance => true,
            Role::Customer => event.customer_id.is_some() && event.customer_id == principal.subject_id,
            Role::Merchant => event.merchant_id.is_some() && event.merchant_id == principal.subject_id,
            Role::Technician | Role::Concentrator => false,
        };
        let mut items: Vec<Event> = Vec::new();
        let mut last_scanned = after;
        for event in projection.events.iter_from(start) {
            last_scanned = event.sequence;
            if visible(&event) {
                items.push(event.clone());
                if items.len() == limit {
                    break;
                }
            }
        }
        let more = last_scanned < projection.events.len() as u64;
        (items, if more { Some(last_scanned) } else { None })
    }
}

/// An event as the API and webhooks show it.
pub fn event_json(event: &Event) -> serde_json::Value {
    serde_json::json!({
        "id": event.sequence.to_string(),
        "type": event.event_type.as_str(),
        "at": rfc3339(event.at),
        "journal_sequence": event.journal_sequence,
        "customer_id": event.customer_id,
        "wallet_id": event.wallet_id,
        "merchant_id": event.merchant_id,
        "payment_id": event.payment_id,
        "entry_id": event.entry_id,
        "amount": event.amount.map(cny),
        "available": event.available.map(cny),
        "reason": event.reason,
    })
}

fn idempotency_conflict() -> ServiceError {
    ServiceError::new(
        ErrorClass::Conflict,
        "idempotency_conflict",
        "this Idempotency-Key was used with another request",
    )
}

/// Rebuilds a stored business rejection for a replayed request: the same code, class (so the same
/// HTTP status) and detail as the first time.
fn replayed_error(code: &str, class: Option<ErrorClass>, detail: String) -> ServiceError {
    // Codes are `&'static str`; map the stored string back to the service's own constant.
    const KNOWN: [&str; 16] = [
        "insufficient_funds",
        "payment_code_used",
        "duplicate_channel_txn",
        "payment_code_expired",
        "payment_code_not_found",
        "amount_exceeds_code_limit",
        "refund_exceeds_payment",
        "not_found",
        "account_closed",
        "invalid_amount",
        "validation_failed",
        "unknown_channel",
        "unknown_tariff",
        "invalid_fee_rate",
        "forbidden",
        "conflict",
    ];
    let code = KNOWN.iter().find(|known| **known == code).copied().unwrap_or("conflict");
    ServiceError::new(class.unwrap_or(ErrorClass::Conflict), code, detail)
}

pub fn rfc3339(at: Timestamp) -> String {
    crate::time::format_rfc3339(at)
}

fn payment_json(payment: &Payment, refunded: Decimal, status: &str) -> serde_json::Value {
    serde_json::json!({
        "id": payment.id,
        "status": status,
        "amount": cny(payment.amount),
        "refunded": cny(refunded),
        "wallet_id": payment.wallet.0,
        "merchant_id": payment.merchant_id,
        "customer_id": payment.customer_id,
        "order_ref": payment.order_ref,
        "created_at": rfc3339(payment.created_at),
    })
}

fn customer_json(customer: &Customer) -> serde_json::Value {
    serde_json::json!({
        "id": customer.id,
        "wallet_id": customer.wallet.0,
        "name": customer.name,
        "household_size": customer.household_size,
        "tariff": customer.tariff,
        "billing_mode": customer.billing_mode,
        "created_at": rfc3339(customer.created_at),
    })
}

fn merchant_json(merchant: &Merchant) -> serde_json::Value {
    serde_json::json!({
        "id": merchant.id,
        "name": merchant.name,
        "fee_rate": merchant.fee_rate.normalize().to_string(),
        "payable_account_id": merchant.payable.0,
        "created_at": rfc3339(merchant.created_at),
    })
}
