//! Reconciliation of payment-channel statements against the ledger.
//!
//! * Parsers turn the three statement layouts into one [`StatementLine`] each:
//!   [`generic::parse_generic_csv`] (the engine's own CSV), [`wechat::parse_wechat_trade_bill`]
//!   (backtick-prefixed values, summary rows) and [`alipay::parse_alipay_business_detail`] (GBK bytes,
//!   `#` comment lines). A line the parser cannot read is a rejection with code
//!   `statement_malformed` and its line number, never skipped. Money is parsed from the text
//!   exactly: at most two decimals, no float anywhere.
//! * [`matcher::reconcile`] sorts every statement line and every ledger record into exactly one
//!   bucket: matched, overage (长款), shortage (短款), amount mismatch, status mismatch, duplicates,
//!   or outside the window; with counts and totals per side.
//! * [`resolution::resolution_entry`] turns a break and the action finance chose (adjust, refund,
//!   write off) into the two legs of the entry to post, refusing actions that do not fit the break.
//!
//! Lines are read one physical line at a time, so a quoted field cannot span lines: none of the
//! layouts puts a line break inside a field.

pub mod alipay;
pub mod generic;
pub mod matcher;
pub mod resolution;
pub mod wechat;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Most lines a statement may have: a big merchant's day is well under a million transactions.
pub const STATEMENT_LINES_MAX: usize = 5_000_000;

/// Longest statement line, in bytes (a WeChat row is a few hundred).
pub const STATEMENT_LINE_BYTES_MAX: usize = 4_096;

/// Whether a transaction brought money in or sent it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionKind {
    /// Money in: a payment or top-up.
    Payment,
    /// Money back out: a refund.
    Refund,
}

/// Where a transaction stands at the channel (or in the ledger).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionStatus {
    /// A payment that succeeded.
    Success,
    /// A refund that succeeded.
    Refunded,
    /// Failed or closed: no money moved.
    Failed,
    /// Not final yet (a refund being processed).
    Processing,
}

/// One transaction of a channel statement, whatever the layout it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementLine {
    /// The channel's id of the transaction (for a refund, the refund's own id).
    pub channel_txn_id: String,
    /// When it happened, Unix seconds.
    pub at: i64,
    /// The amount, positive or zero; [`StatementLine::kind`] says which way it went.
    pub amount: Decimal,
    /// Payment or refund.
    pub kind: TransactionKind,
    /// The channel's status.
    pub status: TransactionStatus,
    /// The line's number in the file, from 1.
    pub raw_line_number: usize,
}

/// A statement could not be read. A business rejection, not a fault: the code is
/// `statement_malformed` for every variant, the line number says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// Code `statement_malformed`.
    #[error("statement line {line_number}: {reason}")]
    Malformed {
        /// The line, from 1 (0: the file as a whole).
        line_number: usize,
        /// What is wrong.
        reason: String,
    },
}

impl StatementError {
    /// The stable machine-readable code of the rejection.
    #[must_use]
    pub fn code(&self) -> &'static str {
        "statement_malformed"
    }

    pub(crate) fn at(line_number: usize, reason: impl Into<String>) -> StatementError {
        StatementError::Malformed { line_number, reason: reason.into() }
    }
}

/// The physical lines of a statement, numbered from 1, with the limits checked and line ends
/// (`\n` or `\r\n`) and a leading byte-order mark removed.
pub(crate) fn numbered_lines(text: &str) -> Result<Vec<(usize, &str)>, StatementError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        if line_number > STATEMENT_LINES_MAX {
            return Err(StatementError::at(line_number, format!("more than {STATEMENT_LINES_MAX} lines")));
        }
        if line.len() > STATEMENT_LINE_BYTES_MAX {
            return Err(StatementError::at(line_number, format!("longer than {STATEMENT_LINE_BYTES_MAX} bytes")));
        }
        lines.push((line_number, line));
    }
    Ok(lines)
}

/// Splits one CSV line into fields: commas separate, a field may be wrapped in double quotes, and
/// `""` inside quotes is one quote (RFC 4180). Fields are returned as written, not trimmed.
pub(crate) fn split_csv_line(line: &str, line_number: usize) -> Result<Vec<String>, StatementError> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut characters = line.chars().peekable();
    let mut in_quotes = false;
    let mut field_was_quoted = false;
    while let Some(character) = characters.next() {
        match (in_quotes, character) {
            (true, '"') if characters.peek() == Some(&'"') => {
                characters.next();
                field.push('"');
            }
            (true, '"') => in_quotes = false,
            (true, other) => field.push(other),
            (false, '"') if field.trim().is_empty() && !field_was_quoted => {
                field.clear();
                in_quotes = true;
                field_was_quoted = true;
            }
            (false, '"') => return Err(StatementError::at(line_number, "a quote inside an unquoted field")),
            (false, ',') => {
                fields.push(std::mem::take(&mut field));
                field_was_quoted = false;
            }
            // Blanks after a closing quote are dropped; anything else there is a mistake.
            (false, other) if field_was_quoted => {
                if !other.is_whitespace() {
                    return Err(StatementError::at(line_number, "text after a closing quote"));
                }
            }
            (false, other) => field.push(other),
        }
    }
    if in_quotes {
        return Err(StatementError::at(line_number, "a quoted field is not closed"));
    }
    fields.push(field);
    Ok(fields)
}

/// Parses a non-negative yuan amount written `123`, `123.4` or `123.45`: digits, at most one point,
/// at most two decimals. No sign, exponent, grouping or blank: any of those is not a bill's amount.
pub(crate) fn parse_yuan(text: &str) -> Option<Decimal> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits_only = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    let fraction_ok = !text.contains('.') || (1..=2).contains(&fraction.len());
    if whole.is_empty() || whole.len() > 15 || !digits_only(whole) || !digits_only(fraction) || !fraction_ok {
        return None;
    }
    let mut amount: Decimal = text.parse().ok()?;
    amount.rescale(2);
    Some(amount)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields() {
        fn check(line: &str, expected: Result<Vec<&str>, ()>) {
            let actual = split_csv_line(line, 7).map_err(|error| {
                assert_eq!(error.code(), "statement_malformed");
                assert!(error.to_string().starts_with("statement line 7: "));
            });
            assert_eq!(actual, expected.map(|fields| fields.into_iter().map(String::from).collect()), "{line}");
        }
        check("a,b,c", Ok(vec!["a", "b", "c"]));
        check("a,,c,", Ok(vec!["a", "", "c", ""]));
        check(r#""a,1","say ""hi""",c"#, Ok(vec!["a,1", r#"say "hi""#, "c"]));
        check(r#"a,"b" ,c"#, Ok(vec!["a", "b", "c"]));
        check(r#"a,"b"x,c"#, Err(()));
        check(r#"a,b"c,d"#, Err(()));
        check(r#"a,"b,c"#, Err(()));
    }

    #[test]
    fn yuan_amounts_are_exact() {
        fn check(text: &str, expected: Option<&str>) {
            assert_eq!(parse_yuan(text).map(|amount| amount.to_string()).as_deref(), expected, "{text:?}");
        }
        check("12.50", Some("12.50"));
        check("12.5", Some("12.50"));
        check("12", Some("12.00"));
        check("0.01", Some("0.01"));
        check("0", Some("0.00"));
        check("12.505", None);
        check("12.", None);
        check(".5", None);
        check("-1", None);
        check("+1", None);
        check("1e3", None);
        check("1,000", None);
        check("", None);
        check(" 1", None);
        check("9999999999999999", None);
    }

    #[test]
    fn lines_are_numbered_and_bounded() {
        let lines = numbered_lines("\u{feff}a\r\nb\n\nc").expect("fine");
        assert_eq!(lines, vec![(1, "a"), (2, "b"), (3, ""), (4, "c")]);
        let long = "x".repeat(STATEMENT_LINE_BYTES_MAX + 1);
        assert_eq!(numbered_lines(&format!("a\n{long}")), Err(StatementError::at(2, "longer than 4096 bytes")));
        assert!(numbered_lines(&"x".repeat(STATEMENT_LINE_BYTES_MAX)).is_ok());
    }
}
