//! The service's vocabulary: roles, principals, parties, payment objects, events.

use ledger::{AccountId, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who a bearer token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Finance,
    Customer,
    Merchant,
    Technician,
    Concentrator,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Finance => "finance",
            Role::Customer => "customer",
            Role::Merchant => "merchant",
            Role::Technician => "technician",
            Role::Concentrator => "concentrator",
        }
    }

    /// Staff roles see every party's data; the others see only their own.
    pub const fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Finance)
    }

    /// Roles whose tokens belong to one subject (a customer, merchant, …).
    pub const fn needs_subject(self) -> bool {
        !self.is_staff()
    }
}

/// The authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Principal {
    pub role: Role,
    pub subject_id: Option<Uuid>,
    pub token_id: Uuid,
}

impl Principal {
    /// What idempotency keys are scoped by: the role and subject (staff share one scope per role).
    pub fn idempotency_scope(&self) -> String {
        match self.subject_id {
            Some(subject) => format!("{}:{subject}", self.role.as_str()),
            None => self.role.as_str().to_owned(),
        }
    }

    pub fn is(&self, role: Role, subject: Uuid) -> bool {
        self.role == role && self.subject_id == Some(subject)
    }
}

/// How a customer's gas is charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BillingMode {
    /// Each accepted reading is charged at once (prepaid smart meter).
    #[default]
    PerReading,
    /// A bill per calendar month, auto-debited on its due date.
    Monthly,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: Uuid,
    pub name: String,
    pub household_size: u8,
    pub tariff: String,
    pub billing_mode: BillingMode,
    pub wallet: AccountId,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    pub id: Uuid,
    pub name: String,
    pub fee_rate: Decimal,
    pub payable: AccountId,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub id: Uuid,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentCode {
    pub code: String,
    pub wallet: AccountId,
    pub customer_id: Uuid,
    pub max_amount: Option<Decimal>,
    pub expires_at: Timestamp,
    pub used_by: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: Uuid,
    pub entry_id: Uuid,
    pub wallet: AccountId,
    pub customer_id: Uuid,
    pub merchant_id: Uuid,
    pub amount: Decimal,
    pub refunded: Decimal,
    pub order_ref: String,
    pub created_at: Timestamp,
    pub refunds: Vec<Uuid>,
}

impl Payment {
    pub fn status(&self) -> &'static str {
        if self.refunded.is_zero() {
            "succeeded"
        } else if self.refunded < self.amount {
            "partially_refunded"
        } else {
            "refunded"
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: Uuid,
    pub entry_id: Uuid,
    pub payment_id: Uuid,
    pub merchant_id: Uuid,
    pub amount: Decimal,
    pub created_at: Timestamp,
}

/// What kind of thing happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    TopupPosted,
    PaymentPosted,
    RefundPosted,
    LowBalance,
    ValveClose,
    ValveArmed,
    ValveOpen,
    /// A close was due but deferred by friendly-credit hours.
    ValveCloseDeferred,
    /// A monthly bill was issued and debited on its due date.
    BillIssued,
    /// A technician was paid in a payout batch (staff only).
    PayoutMade,
    /// A rescore moved the customer's credit grade (and so, perhaps, its credit limit).
    ScoreChanged,
    /// A consumption anomaly (possible leak, spike, tamper) was found on a meter.
    AnomalyDetected,
}

impl EventType {
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::TopupPosted => "topup_posted",
            EventType::PaymentPosted => "payment_posted",
            EventType::RefundPosted => "refund_posted",
            EventType::LowBalance => "low_balance",
            EventType::ValveClose => "valve_close",
            EventType::ValveArmed => "valve_armed",
            EventType::ValveOpen => "valve_open",
            EventType::ValveCloseDeferred => "valve_close_deferred",
            EventType::BillIssued => "bill_issued",
            EventType::PayoutMade => "payout_made",
            EventType::ScoreChanged => "score_changed",
            EventType::AnomalyDetected => "anomaly_detected",
        }
    }
}

/// Something that happened, in commit order. `sequence` is the event's own cursor (1, 2, …);
/// `journal_sequence` the record that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub sequence: u64,
    pub event_type: EventType,
    pub journal_sequence: u64,
    pub at: Timestamp,
    pub customer_id: Option<Uuid>,
    pub wallet_id: Option<Uuid>,
    pub merchant_id: Option<Uuid>,
    pub payment_id: Option<Uuid>,
    pub entry_id: Option<Uuid>,
    pub amount: Option<Decimal>,
    /// The wallet's available balance after the record (for wallet events).
    pub available: Option<Decimal>,
    /// Why (valve events).
    pub reason: Option<String>,
}

impl Event {
    /// An event with no parties, amounts or reason yet (the caller fills in what applies).
    pub fn bare(sequence: u64, event_type: EventType, journal_sequence: u64, at: Timestamp) -> Event {
        Event {
            sequence,
            event_type,
            journal_sequence,
            at,
            customer_id: None,
            wallet_id: None,
            merchant_id: None,
            payment_id: None,
            entry_id: None,
            amount: None,
            available: None,
            reason: None,
        }
    }
}
