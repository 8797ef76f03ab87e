//! Accounts, the chart of accounts, and balances.

use crate::amount::Asset;
use crate::ids::{AccountId, Sequence};
use serde::{Deserialize, Serialize};

/// Debit or credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    Debit,
    Credit,
}

impl Side {
    pub const fn opposite(self) -> Side {
        match self {
            Side::Debit => Side::Credit,
            Side::Credit => Side::Debit,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Debit => "debit",
            Side::Credit => "credit",
        }
    }
}

/// The five classes of a chart of accounts; the class decides the normal side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AccountClass {
    Asset,
    Liability,
    Equity,
    Revenue,
    Expense,
}

impl AccountClass {
    pub const fn normal_side(self) -> Side {
        match self {
            AccountClass::Asset | AccountClass::Expense => Side::Debit,
            AccountClass::Liability | AccountClass::Equity | AccountClass::Revenue => Side::Credit,
        }
    }
}

/// A code in the chart of accounts (numeric, in the style of Chinese accounting standards:
/// 1xxx assets, 2xxx liabilities, 4xxx equity, 6xxx revenue and expenses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChartCode(pub u32);

/// One line of the chart: code, name, class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChartEntry {
    pub code: ChartCode,
    pub name: &'static str,
    pub class: AccountClass,
}

/// The chart of accounts the engine knows. Opening an account with a code not listed here is rejected.
pub mod chart {
    use super::{AccountClass, ChartCode, ChartEntry};

    pub const CHANNEL_CLEARING: ChartCode = ChartCode(1122);
    pub const SETTLEMENT_BANK: ChartCode = ChartCode(1002);
    pub const CUSTOMER_WALLET: ChartCode = ChartCode(2241);
    pub const MERCHANT_PAYABLE: ChartCode = ChartCode(2202);
    pub const TECHNICIAN_PAYABLE: ChartCode = ChartCode(2203);
    pub const SERVICE_ESCROW: ChartCode = ChartCode(2204);
    /// Money a payment channel holds that belongs back to its payers (an overage found in
    /// reconciliation and refunded through the channel), until the channel pays it out.
    pub const CHANNEL_REFUND_PAYABLE: ChartCode = ChartCode(2205);
    pub const CUSTOMER_ARREARS: ChartCode = ChartCode(1131);
    pub const OPENING_EQUITY: ChartCode = ChartCode(4001);
    pub const GAS_SALES_REVENUE: ChartCode = ChartCode(6001);
    pub const MERCHANT_FEE_REVENUE: ChartCode = ChartCode(6051);
    pub const SERVICE_COMMISSION_REVENUE: ChartCode = ChartCode(6052);
    pub const CHANNEL_FEE_EXPENSE: ChartCode = ChartCode(6603);
    pub const RATING_BONUS_EXPENSE: ChartCode = ChartCode(6604);
    pub const RECONCILIATION_WRITE_OFF: ChartCode = ChartCode(6711);
    /// Gas volume delivered (m³): the metering side keeps volume in its own asset.
    pub const GAS_VOLUME_DELIVERED: ChartCode = ChartCode(9001);
    /// Gas volume consumed by customers (m³), the contra of [`GAS_VOLUME_DELIVERED`].
    pub const GAS_VOLUME_CONSUMED: ChartCode = ChartCode(9002);

    /// Every code of the chart.
    pub const ENTRIES: &[ChartEntry] = &[
        ChartEntry { code: SETTLEMENT_BANK, name: "settlement bank account", class: AccountClass::Asset },
        ChartEntry { code: CHANNEL_CLEARING, name: "payment-channel clearing", class: AccountClass::Asset },
        ChartEntry { code: CUSTOMER_ARREARS, name: "customer arrears receivable", class: AccountClass::Asset },
        ChartEntry { code: CUSTOMER_WALLET, name: "customer wallet", class: AccountClass::Liability },
        ChartEntry { code: MERCHANT_PAYABLE, name: "merchant payable", class: AccountClass::Liability },
        ChartEntry { code: TECHNICIAN_PAYABLE, name: "technician payable", class: AccountClass::Liability },
        ChartEntry { code: SERVICE_ESCROW, name: "service-order escrow", class: AccountClass::Liability },
        ChartEntry { code: CHANNEL_REFUND_PAYABLE, name: "channel refund payable", class: AccountClass::Liability },
        ChartEntry { code: OPENING_EQUITY, name: "opening equity", class: AccountClass::Equity },
        ChartEntry { code: GAS_SALES_REVENUE, name: "gas sales revenue", class: AccountClass::Revenue },
        ChartEntry { code: MERCHANT_FEE_REVENUE, name: "merchant fee revenue", class: AccountClass::Revenue },
        ChartEntry {
            code: SERVICE_COMMISSION_REVENUE,
            name: "service commission revenue",
            class: AccountClass::Revenue,
        },
        ChartEntry { code: CHANNEL_FEE_EXPENSE, name: "channel fee expense", class: AccountClass::Expense },
        ChartEntry { code: RATING_BONUS_EXPENSE, name: "rating bonus expense", class: AccountClass::Expense },
        ChartEntry { code: RECONCILIATION_WRITE_OFF, name: "reconciliation write-off", class: AccountClass::Expense },
        ChartEntry { code: GAS_VOLUME_DELIVERED, name: "gas volume delivered (m3)", class: AccountClass::Asset },
        ChartEntry { code: GAS_VOLUME_CONSUMED, name: "gas volume consumed (m3)", class: AccountClass::Liability },
    ];

    /// Looks a code up in the chart.
    pub fn lookup(code: ChartCode) -> Option<&'static ChartEntry> {
        ENTRIES.iter().find(|entry| entry.code == code)
    }
}

/// Posted and pending totals per side, in minor units. Totals only grow (pending shrinks when a
/// hold resolves); balances are differences of totals, reported on the account's normal side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Balances {
    pub debits_posted: u64,
    pub credits_posted: u64,
    pub debits_pending: u64,
    pub credits_pending: u64,
}

impl Balances {
    /// Posted balance on the given normal side (may be negative).
    pub fn posted_on(&self, normal_side: Side) -> i128 {
        let debits = i128::from(self.debits_posted);
        let credits = i128::from(self.credits_posted);
        match normal_side {
            Side::Debit => debits - credits,
            Side::Credit => credits - debits,
        }
    }

    /// What holds reserve against the normal side: pending postings on the opposite side.
    pub fn held_against(&self, normal_side: Side) -> u64 {
        match normal_side {
            Side::Debit => self.credits_pending,
            Side::Credit => self.debits_pending,
        }
    }

    /// Posted balance minus what holds reserve.
    pub fn available_on(&self, normal_side: Side) -> i128 {
        self.posted_on(normal_side) - i128::from(self.held_against(normal_side))
    }

    pub fn is_zero(&self) -> bool {
        *self == Balances::default()
    }
}

/// Flags fixed when an account is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccountFlags {
    /// The available balance on the normal side may not go below minus the credit limit.
    pub no_overdraft: bool,
}

/// An account with its balances, as the ledger holds it in memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub code: ChartCode,
    pub asset: Asset,
    pub normal_side: Side,
    pub flags: AccountFlags,
    /// How far below zero the available balance may go, in minor units (only with `no_overdraft`).
    pub credit_limit_minor: u64,
    /// Sequence of the record that opened the account.
    pub opened_at: Sequence,
    /// Sequence of the record that closed the account; closed accounts accept no postings.
    pub closed_at: Option<Sequence>,
    pub balances: Balances,
}

impl Account {
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }

    /// Would these balances break the account's overdraft rule?
    pub fn violates_limit(&self, balances: &Balances) -> bool {
        self.flags.no_overdraft && balances.available_on(self.normal_side) < -i128::from(self.credit_limit_minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_codes_are_unique_and_classes_have_normal_sides() {
        for (position, entry) in chart::ENTRIES.iter().enumerate() {
            assert!(
                chart::ENTRIES[position + 1..].iter().all(|other| other.code != entry.code),
                "duplicate chart code {:?}",
                entry.code
            );
        }
        assert_eq!(chart::lookup(chart::CUSTOMER_WALLET).map(|e| e.class.normal_side()), Some(Side::Credit));
        assert_eq!(chart::lookup(chart::CHANNEL_CLEARING).map(|e| e.class.normal_side()), Some(Side::Debit));
        assert_eq!(chart::lookup(ChartCode(1)), None);
    }

    #[test]
    fn available_balance_subtracts_holds_on_the_normal_side() {
        let balances = Balances { debits_posted: 300, credits_posted: 1000, debits_pending: 200, credits_pending: 50 };
        assert_eq!(balances.posted_on(Side::Credit), 700);
        assert_eq!(balances.held_against(Side::Credit), 200);
        assert_eq!(balances.available_on(Side::Credit), 500);
        assert_eq!(balances.posted_on(Side::Debit), -700);
        assert_eq!(balances.available_on(Side::Debit), -750);
    }
}
