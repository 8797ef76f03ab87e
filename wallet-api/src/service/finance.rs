//! Finance reports read straight off the ledger: the trial balance, the wallet-liability
//! roll-forward, and the daily close that signs where the journal stood at the end of a day.
//!
//! Balances come from the ledger's per-account history (cumulative debits and credits after every
//! record), so "as of any time" costs two binary searches per account; movements by kind come from
//! reading the entries between two sequences back from the journal. Nothing here keeps state of
//! its own: a report computed twice over the same journal is the same report.

use super::error::{ErrorClass, ServiceError};
use super::{notes, Service};
use ledger::record::EntryKind;
use ledger::{chart, Asset, ChartCode, Command, Sequence, Side, Timestamp};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// One chart code's line in a trial balance, in CNY. Debits and credits are the posted movements
/// in the period; opening and closing are signed on the account's normal side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TrialBalanceLine {
    #[schema(example = 2241)]
    pub code: u32,
    #[schema(example = "Customer wallets (prepaid gas)")]
    pub name: String,
    /// `debit` or `credit`.
    #[schema(example = "credit")]
    pub normal_side: &'static str,
    /// How many accounts carry this code.
    pub accounts: u64,
    #[schema(value_type = crate::http::extract::DecimalString, example = "1200.00")]
    pub opening: Decimal,
    #[schema(value_type = crate::http::extract::DecimalString, example = "86.13")]
    pub debits: Decimal,
    #[schema(value_type = crate::http::extract::DecimalString, example = "500.00")]
    pub credits: Decimal,
    #[schema(value_type = crate::http::extract::DecimalString, example = "1613.87")]
    pub closing: Decimal,
}

/// Totals of a trial balance: debits equal credits, and the closing debit balances equal the
/// closing credit balances, or the ledger is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TrialBalanceTotals {
    #[schema(value_type = crate::http::extract::DecimalString)]
    pub debits: Decimal,
    #[schema(value_type = crate::http::extract::DecimalString)]
    pub credits: Decimal,
    /// Sum of the closing balances of accounts that stand on the debit side.
    #[schema(value_type = crate::http::extract::DecimalString)]
    pub closing_debit_balances: Decimal,
    /// Sum of the closing balances of accounts that stand on the credit side.
    #[schema(value_type = crate::http::extract::DecimalString)]
    pub closing_credit_balances: Decimal,
    pub balanced: bool,
}

/// The trial balance of the CNY books between two points of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TrialBalance {
    /// The start of the period (RFC 3339), or null for the beginning of the journal.
    #[schema(required = true)]
    pub from: Option<String>,
    pub as_of: String,
    /// The last journal record at or before `from` (0 for the beginning).
    pub from_sequence: u64,
    /// The last journal record at or before `as_of`.
    pub as_of_sequence: u64,
    #[schema(example = "CNY")]
    pub currency: &'static str,
    pub lines: Vec<TrialBalanceLine>,
    pub totals: TrialBalanceTotals,
}

/// One kind of movement of the customer wallets in a roll-forward (by entry category).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RollForwardLine {
    /// The entry category: `topup`, `gas_charge`, `merchant_payment`, `merchant_refund`,
    /// `arrears_payment`, `service_order`, ….
    #[schema(example = "topup")]
    pub category: String,
    /// What this kind added to the wallets (credits).
    #[schema(value_type = crate::http::extract::DecimalString, example = "500.00")]
    pub increases: Decimal,
    /// What it took from them (debits).
    #[schema(value_type = crate::http::extract::DecimalString, example = "0.00")]
    pub decreases: Decimal,
    pub entries: u64,
}

/// Opening + movements = closing for the customers' wallet liability (account code 2241).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WalletRollForward {
    #[schema(required = true)]
    pub from: Option<String>,
    pub to: String,
    pub from_sequence: u64,
    pub to_sequence: u64,
    #[schema(value_type = crate::http::extract::DecimalString)]
    pub opening: Decimal,
    /// Convenience totals of the movements named in the design brief.
    #[schema(value_type = crate::http::extract::DecimalString)]
    pub topups: Decimal,
    #[schema(value_type = crate::http::extract::DecimalString)]
    pub gas: Decimal,
    #[schema(value_type = crate::http::extract::DecimalString)]
    pub payments: Decimal,
    #[schema(value_type = crate::http::extract::DecimalString)]
    pub refunds: Decimal,
    /// Everything else, net (arrears payments, service orders, adjustments).
    #[schema(value_type = crate::http::extract::DecimalString)]
    pub other: Decimal,
    pub lines: Vec<RollForwardLine>,
    #[schema(value_type = crate::http::extract::DecimalString)]
    pub closing: Decimal,
    /// Whether opening + movements equals the closing balance read from the ledger.
    pub ties_out: bool,
}

fn iso(at: Timestamp) -> String {
    crate::time::format_rfc3339(at)
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Debit => "debit",
        Side::Credit => "credit",
    }
}

fn chart_name(code: ChartCode) -> String {
    chart::ENTRIES
        .iter()
        .find(|entry| entry.code == code)
        .map_or_else(|| format!("account code {}", code.0), |entry| entry.name.to_owned())
}

fn cny(minor: i128) -> Decimal {
    Asset::Cny.decimal_from_minor(minor)
}

/// Which movement of the wallets an entry category stands for in the roll-forward.
enum Movement {
    Topup,
    Gas,
    Payment,
    Refund,
    Other,
}

fn movement_of(category: &str) -> Movement {
    match category {
        "topup" => Movement::Topup,
        "gas_charge" | "gas_arrears" => Movement::Gas,
        "merchant_payment" => Movement::Payment,
        "merchant_refund" => Movement::Refund,
        _ => Movement::Other,
    }
}

impl Service {
    fn period_sequences(&self, from: Option<Timestamp>, to: Timestamp) -> Result<(Sequence, Sequence), ServiceError> {
        if from.is_some_and(|from| from > to) {
            return Err(ServiceError::validation("from must not be after as_of"));
        }
        Ok(self.reader().with_state(|state| {
            (from.map_or(0, |from| state.sequence_as_of_time(from)), state.sequence_as_of_time(to))
        }))
    }

    /// The trial balance of the CNY accounts: per chart code, the opening balance at `from` (the
    /// beginning when `None`), posted debits and credits up to `as_of`, and the closing balance.
    pub fn trial_balance(&self, from: Option<Timestamp>, as_of: Timestamp) -> Result<TrialBalance, ServiceError> {
        let (from_sequence, as_of_sequence) = self.period_sequences(from, as_of)?;
        #[derive(Default)]
        struct Sums {
            accounts: u64,
            opening: i128,
            debits: i128,
            credits: i128,
            closing: i128,
            normal_side: Option<Side>,
        }
        let mut by_code: BTreeMap<u32, Sums> = BTreeMap::new();
        let (mut closing_debit_side, mut closing_credit_side) = (0i128, 0i128);
        self.reader().with_state(|state| {
            for (position, account) in state.accounts().iter().enumerate() {
                if account.asset != Asset::Cny || account.opened_at > as_of_sequence {
                    continue;
                }
                let index = ledger::AccountIndex(position as u32);
                let opening = state.balances_as_of_sequence(index, from_sequence);
                let closing = state.balances_as_of_sequence(index, as_of_sequence);
                let sums = by_code.entry(account.code.0).or_default();
                sums.accounts += 1;
                sums.normal_side = Some(account.normal_side);
                sums.opening += opening.posted_on(account.normal_side);
                sums.closing += closing.posted_on(account.normal_side);
                sums.debits += i128::from(closing.debits_posted) - i128::from(opening.debits_posted);
                sums.credits += i128::from(closing.credits_posted) - i128::from(opening.credits_posted);
                let debit_balance = closing.posted_on(Side::Debit);
                if debit_balance >= 0 {
                    closing_debit_side += debit_balance;
                } else {
                    closing_credit_side -= debit_balance;
                }
            }
        });
        let lines: Vec<TrialBalanceLine> = by_code
            .into_iter()
            .map(|(code, sums)| TrialBalanceLine {
                code,
                name: chart_name(ChartCode(code)),
                normal_side: side_name(sums.normal_side.unwrap_or(Side::Debit)),
                accounts: sums.accounts,
                opening: cny(sums.opening),
                debits: cny(sums.debits),
                credits: cny(sums.credits),
                closing: cny(sums.closing),
            })
            .collect();
        let debits: Decimal = lines.iter().map(|line| line.debits).sum();
        let credits: Decimal = lines.iter().map(|line| line.credits).sum();
        let totals = TrialBalanceTotals {
            debits,
            credits,
            closing_debit_balances: cny(closing_debit_side),
            closing_credit_balances: cny(closing_credit_side),
            balanced: debits == credits && closing_debit_side == closing_credit_side,
        };
        Ok(TrialBalance {
            from: from.map(iso),
            as_of: iso(as_of),
            from_sequence,
            as_of_sequence,
            currency: "CNY",
            lines,
            totals,
        })
    }

    /// The customers' wallet liability rolled forward from `from` to `to`: opening, the
    /// movements by entry category, closing, and whether they tie out.
    pub fn wallet_roll_forward(
        &self,
        from: Option<Timestamp>,
        to: Timestamp,
    ) -> Result<WalletRollForward, ServiceError> {
        let (from_sequence, to_sequence) = self.period_sequences(from, to)?;
        let (wallets, opening, closing) = self.reader().with_state(|state| {
            let mut wallets = std::collections::HashSet::new();
            let (mut opening, mut closing) = (0i128, 0i128);
            for (position, account) in state.accounts().iter().enumerate() {
                if account.code != chart::CUSTOMER_WALLET {
                    continue;
                }
                let index = ledger::AccountIndex(position as u32);
                wallets.insert(index);
                opening += state.balances_as_of_sequence(index, from_sequence).posted_on(Side::Credit);
                closing += state.balances_as_of_sequence(index, to_sequence).posted_on(Side::Credit);
            }
            (wallets, opening, closing)
        });
        let mut by_category: BTreeMap<String, (i128, i128, u64)> = BTreeMap::new();
        self.reader().for_each_entry_between(from_sequence, to_sequence, |_, _, entry| {
            // Holds and voids move pending amounts only; the liability is the posted balance.
            if matches!(entry.kind, EntryKind::Hold { .. } | EntryKind::Void { .. }) {
                return;
            }
            let mut touched = false;
            for posting in entry.postings.iter().filter(|posting| wallets.contains(&posting.account)) {
                let line = by_category.entry(entry.category.clone()).or_default();
                match posting.side {
                    Side::Credit => line.0 += i128::from(posting.amount_minor),
                    Side::Debit => line.1 += i128::from(posting.amount_minor),
                }
                touched = true;
            }
            if touched {
                by_category.entry(entry.category.clone()).or_default().2 += 1;
            }
        })?;
        let (mut topups, mut gas, mut payments, mut refunds, mut other) = (0i128, 0i128, 0i128, 0i128, 0i128);
        let mut net = 0i128;
        let lines = by_category
            .into_iter()
            .map(|(category, (increases, decreases, entries))| {
                let change = increases - decreases;
                net += change;
                match movement_of(&category) {
                    Movement::Topup => topups += change,
                    Movement::Gas => gas -= change,
                    Movement::Payment => payments -= change,
                    Movement::Refund => refunds += change,
                    Movement::Other => other += change,
                }
                RollForwardLine { category, increases: cny(increases), decreases: cny(decreases), entries }
            })
            .collect();
        Ok(WalletRollForward {
            from: from.map(iso),
            to: iso(to),
            from_sequence,
            to_sequence,
            opening: cny(opening),
            topups: cny(topups),
            gas: cny(gas),
            payments: cny(payments),
            refunds: cny(refunds),
            other: cny(other),
            lines,
            closing: cny(closing),
            ties_out: opening + net == closing,
        })
    }

    /// Closes a business day (Beijing time): the journal head at the end of the day, its hash,
    /// the day's trial-balance totals, signed with the engine key and recorded as a note. Closing
    /// the same day again answers the first close; a day that has not ended cannot be closed.
    pub async fn close_day(
        &self,
        day: settlement::business_day::BusinessDay,
    ) -> Result<notes::DayClosed, ServiceError> {
        if let Some(closed) = self.projection.read().closed_days.get(&day.to_string()).cloned() {
            return Ok(closed);
        }
        let (start_seconds, end_seconds) = settlement::business_day::day_bounds_utc(day);
        let end = Timestamp::from_unix_seconds(end_seconds);
        if self.now() < end {
            return Err(ServiceError::new(
                ErrorClass::Unprocessable,
                "day_not_ended",
                format!("{day} has not ended in Beijing time; it can be closed from its next day"),
            ));
        }
        // The day ends just before `end`: everything committed at or before end − 1 µs.
        let last = end.plus_micros(-1);
        let trial_balance =
            self.trial_balance(Some(Timestamp::from_unix_seconds(start_seconds).plus_micros(-1)), last)?;
        let sequence = trial_balance.as_of_sequence;
        let head_hash = self.reader().record_hash_at(sequence)?.unwrap_or(ledger::record::GENESIS_HASH);
        let message = notes::DayClosed::signed_message(&day.to_string(), sequence, &head_hash, &trial_balance.totals);
        let signature = ed25519_dalek::Signer::sign(&self.signing_key, message.as_bytes());
        let closed = notes::DayClosed {
            day: day.to_string(),
            sequence,
            head_hash: hex::encode(head_hash),
            debits: trial_balance.totals.debits,
            credits: trial_balance.totals.credits,
            balanced: trial_balance.totals.balanced,
            signed_message: message,
            signature: hex::encode(signature.to_bytes()),
            public_key: self.public_key_hex(),
            closed_at: self.now(),
        };
        let note = Command::Note {
            id: super::ids::day_close(&closed.day),
            kind: notes::DAY_CLOSED.into(),
            payload: notes::encode(&closed),
        };
        match self.submit_one(note).await? {
            Ok(_) => Ok(closed),
            // Closed concurrently: the first close is the close.
            Err(rejection) if rejection.code == ledger::RejectionCode::IdConflict => self
                .projection
                .read()
                .closed_days
                .get(&closed.day)
                .cloned()
                .ok_or_else(|| ServiceError::new(ErrorClass::Internal, "internal_error", "a day close vanished")),
            Err(rejection) => Err(super::error::from_rejection(&rejection)),
        }
    }
}
