//! The engine's own statement CSV: `channel_txn_id,time,amount,status`.
//!
//! * `time`: RFC 3339 (`2024-01-01T09:30:00+08:00`);
//! * `amount`: a non-negative decimal string with at most two decimals;
//! * `status`: `success` (a payment), `refunded` (a refund; the amount is what went back) or
//!   `failed`, in any letter case. `CHANNEL-BILLS.md` spells them `SUCCESS`, `REFUND` and `CLOSED`;
//!   those are accepted as the same three.
//!
//! Fields may be quoted. Blank lines are ignored; anything else that does not fit is
//! `statement_malformed` with its line number.

use super::{
    numbered_lines, parse_yuan, split_csv_line, StatementError, StatementLine, TransactionKind, TransactionStatus,
};
use crate::timestamps::parse_rfc3339;

/// The header the file must start with.
pub const GENERIC_CSV_HEADER: [&str; 4] = ["channel_txn_id", "time", "amount", "status"];

/// Longest channel transaction id accepted, in bytes (WeChat's and Alipay's are 28–32).
pub const CHANNEL_TXN_ID_BYTES_MAX: usize = 64;

/// Parses a generic statement CSV.
pub fn parse_generic_csv(text: &str) -> Result<Vec<StatementLine>, StatementError> {
    let lines = numbered_lines(text)?;
    let mut rows = lines.into_iter().filter(|(_, line)| !line.trim().is_empty());
    let (header_number, header) = rows.next().ok_or_else(|| StatementError::at(0, "the statement is empty"))?;
    let header_fields = split_csv_line(header, header_number)?;
    if header_fields.iter().map(|field| field.trim()).ne(GENERIC_CSV_HEADER) {
        return Err(StatementError::at(header_number, "the header must be channel_txn_id,time,amount,status"));
    }
    rows.map(|(line_number, line)| {
        let fields = split_csv_line(line, line_number)?;
        let [channel_txn_id, time, amount, status] = <[String; 4]>::try_from(fields)
            .map_err(|fields| StatementError::at(line_number, format!("{} fields, not 4", fields.len())))?;
        let channel_txn_id = checked_txn_id(channel_txn_id.trim(), line_number)?;
        let at = parse_rfc3339(&time)
            .ok_or_else(|| StatementError::at(line_number, format!("time {time:?} is not RFC 3339")))?;
        let amount = parse_yuan(amount.trim())
            .ok_or_else(|| StatementError::at(line_number, format!("amount {amount:?} is not a yuan amount")))?;
        let (kind, status) = match status.trim().to_ascii_lowercase().as_str() {
            "success" => (TransactionKind::Payment, TransactionStatus::Success),
            "refunded" | "refund" => (TransactionKind::Refund, TransactionStatus::Refunded),
            "failed" | "closed" => (TransactionKind::Payment, TransactionStatus::Failed),
            _ => {
                return Err(StatementError::at(
                    line_number,
                    format!("status {status:?} is not success, refunded or failed"),
                ))
            }
        };
        Ok(StatementLine { channel_txn_id, at, amount, kind, status, raw_line_number: line_number })
    })
    .collect()
}

/// A non-empty id of printable characters, at most [`CHANNEL_TXN_ID_BYTES_MAX`] bytes.
pub(crate) fn checked_txn_id(id: &str, line_number: usize) -> Result<String, StatementError> {
    if id.is_empty() || id.len() > CHANNEL_TXN_ID_BYTES_MAX || id.chars().any(char::is_control) {
        return Err(StatementError::at(
            line_number,
            format!("transaction id {id:?} is empty, too long or not printable"),
        ));
    }
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn parses_every_status_and_quoted_fields() {
        let text = "channel_txn_id,time,amount,status\n\
                    T1,2024-01-01T09:30:00+08:00,12.50,success\n\
                    \"T2\",\"2024-01-01T01:31:00Z\",\"3\",REFUND\n\
                    \n\
                    T3,2024-01-01T01:32:00Z,0.01,CLOSED\r\n";
        let lines = parse_generic_csv(text).expect("valid");
        let summary: Vec<_> = lines
            .iter()
            .map(|line| {
                (line.channel_txn_id.as_str(), line.at, line.amount, line.kind, line.status, line.raw_line_number)
            })
            .collect();
        use TransactionKind::*;
        use TransactionStatus::*;
        assert_eq!(
            summary,
            vec![
                ("T1", 1_704_072_600, dec!(12.50), Payment, Success, 2),
                ("T2", 1_704_072_660, dec!(3.00), Refund, Refunded, 3),
                ("T3", 1_704_072_720, dec!(0.01), Payment, Failed, 5),
            ]
        );
        assert_eq!(lines[1].amount.to_string(), "3.00");
    }

    #[test]
    fn malformed_lines_are_rejected_with_their_number() {
        fn check(body: &str, expected_line: usize) {
            let text = format!("channel_txn_id,time,amount,status\nT0,2024-01-01T00:00:00Z,1.00,success\n{body}\n");
            match parse_generic_csv(&text) {
                Err(StatementError::Malformed { line_number, .. }) => assert_eq!(line_number, expected_line, "{body}"),
                Ok(_) => panic!("accepted {body:?}"),
            }
        }
        check("T1,2024-01-01T00:00:00Z,1.005,success", 3); // sub-fen
        check("T1,2024-01-01T00:00:00Z,-1.00,success", 3); // negative
        check("T1,2024-01-01T00:00:00Z,1e2,success", 3); // float syntax
        check("T1,2024-01-01 00:00:00,1.00,success", 3); // not RFC 3339
        check("T1,2024-01-01T00:00:00Z,1.00,pending", 3);
        check("T1,2024-01-01T00:00:00Z,1.00", 3);
        check("T1,2024-01-01T00:00:00Z,1.00,success,extra", 3);
        check(",2024-01-01T00:00:00Z,1.00,success", 3);
        check(&format!("{},2024-01-01T00:00:00Z,1.00,success", "x".repeat(CHANNEL_TXN_ID_BYTES_MAX + 1)), 3);
        check("\"T1,2024-01-01T00:00:00Z,1.00,success", 3);
        assert_eq!(parse_generic_csv("").map_err(|error| error.code()), Err("statement_malformed"));
        assert_eq!(
            parse_generic_csv("id,time,amount,status\n").map_err(|error| error.code()),
            Err("statement_malformed")
        );
        assert_eq!(parse_generic_csv("channel_txn_id,time,amount,status\n"), Ok(Vec::new()));
    }
}
