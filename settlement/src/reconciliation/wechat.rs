//! The WeChat Pay trade bill (交易账单), bill type `ALL`, as `CHANNEL-BILLS.md` describes it.
//!
//! UTF-8 CSV in four parts: the 27-column detail header, the detail rows, the summary header
//! (`总交易单数,…`) and one summary row. Every value carries a leading backtick, which is stripped.
//! Times are Beijing wall-clock times (`2024-01-01 09:30:00`), turned into Unix seconds.
//!
//! * A row with 交易状态 `SUCCESS` is a payment of 应结订单金额 (the settlement amount: what reaches
//!   the merchant's clearing, which is what the ledger's clearing account holds), keyed by
//!   微信订单号.
//! * A row with 交易状态 `REFUND` is a refund of 退款金额, keyed by 微信退款单号 (the payment keeps
//!   its own row and id); 退款状态 `SUCCESS` is refunded, `PROCESSING` processing, anything else
//!   failed.
//! * `REVOKED`, `CLOSED`, `PAYERROR`, `NOTPAY`: a payment that failed.
//!
//! The summary row is checked against the rows: the count, the total settlement amount and the
//! total refunds must agree, or the bill is `statement_malformed` (a truncated download looks
//! exactly like a short day otherwise). The fee columns (five decimals) are not read: the fee is
//! the merchant-settlement side's business ([`crate::fees`]).

use rust_decimal::Decimal;

use super::generic::checked_txn_id;
use super::{
    numbered_lines, parse_yuan, split_csv_line, StatementError, StatementLine, TransactionKind, TransactionStatus,
};
use crate::timestamps::parse_beijing_wall_clock;

/// The detail header, in order.
pub const WECHAT_DETAIL_HEADER: [&str; 27] = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
];

/// The summary header, in order.
pub const WECHAT_SUMMARY_HEADER: [&str; 7] =
    ["总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额", "申请退款总金额"];

/// A successful payment as a WeChat Pay trade bill lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WechatPaymentRow {
    /// Beijing wall-clock time, `YYYY-MM-DD HH:MM:SS`, as WeChat prints it.
    pub time: String,
    /// WeChat's order number (the channel transaction id).
    pub wechat_order_no: String,
    /// The settlement amount, yuan.
    pub amount: Decimal,
}

/// Writes a WeChat Pay `ALL` trade bill of successful payments, in the layout
/// [`parse_wechat_trade_bill`] reads: the detail header, one backticked row per payment (fee and
/// refund columns zero), the summary header and a summary row that agrees with the rows. For
/// fixtures, the simulator and tests: a bill as the channel would send it.
#[must_use]
pub fn render_payment_bill(rows: &[WechatPaymentRow]) -> String {
    let mut bill = WECHAT_DETAIL_HEADER.join(",");
    bill.push('\n');
    let mut total = Decimal::ZERO;
    for row in rows {
        total += row.amount;
        let amount = format!("{:.2}", row.amount);
        let merchant_order = format!("GW{}", row.wechat_order_no);
        let values: [&str; 27] = [
            &row.time,
            "wx2421b1c4370ec43b",
            "1900000109",
            "0",
            "",
            &row.wechat_order_no,
            &merchant_order,
            "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            "JSAPI",
            "SUCCESS",
            "CMB_DEBIT",
            "CNY",
            &amount,
            "0.00",
            "0",
            "0",
            "0.00",
            "0.00",
            "",
            "",
            "燃气充值",
            "",
            "0.00000",
            "0.60%",
            &amount,
            "0.00",
            "",
        ];
        let fields: Vec<String> = values.iter().map(|value| format!("`{value}")).collect();
        bill.push_str(&fields.join(","));
        bill.push('\n');
    }
    bill.push_str(&WECHAT_SUMMARY_HEADER.join(","));
    bill.push('\n');
    bill.push_str(&format!("`{},`{total:.2},`0.00,`0.00,`0.00000,`{total:.2},`0.00\n", rows.len()));
    bill
}

const TRADE_TIME: usize = 0;
const WECHAT_ORDER_NO: usize = 5;
const TRADE_STATUS: usize = 9;
const SETTLEMENT_AMOUNT: usize = 12;
const WECHAT_REFUND_NO: usize = 14;
const REFUND_AMOUNT: usize = 16;
const REFUND_STATUS: usize = 19;

/// Parses a WeChat Pay `ALL` trade bill.
pub fn parse_wechat_trade_bill(text: &str) -> Result<Vec<StatementLine>, StatementError> {
    let lines = numbered_lines(text)?;
    let mut rows = lines.into_iter().filter(|(_, line)| !line.trim().is_empty());
    let (header_number, header) = rows.next().ok_or_else(|| StatementError::at(0, "the bill is empty"))?;
    if fields(header, header_number)? != WECHAT_DETAIL_HEADER {
        return Err(StatementError::at(header_number, "not the 27-column WeChat Pay trade bill header"));
    }

    let mut statement = Vec::new();
    let mut settlement_total = Decimal::ZERO;
    let mut refund_total = Decimal::ZERO;
    let mut summary_header_number = None;
    for (line_number, line) in rows.by_ref() {
        let row = fields(line, line_number)?;
        if row.first().map(String::as_str) == Some(WECHAT_SUMMARY_HEADER[0]) {
            if row != WECHAT_SUMMARY_HEADER {
                return Err(StatementError::at(line_number, "not the WeChat Pay summary header"));
            }
            summary_header_number = Some(line_number);
            break;
        }
        if row.len() != WECHAT_DETAIL_HEADER.len() {
            return Err(StatementError::at(line_number, format!("{} fields, not 27", row.len())));
        }
        let amount_at = |index: usize| {
            parse_yuan(&row[index]).ok_or_else(|| {
                StatementError::at(
                    line_number,
                    format!("{} {:?} is not a yuan amount", WECHAT_DETAIL_HEADER[index], row[index]),
                )
            })
        };
        let settlement_amount = amount_at(SETTLEMENT_AMOUNT)?;
        let refund_amount = amount_at(REFUND_AMOUNT)?;
        settlement_total += settlement_amount;
        refund_total += refund_amount;
        let at = parse_beijing_wall_clock(&row[TRADE_TIME]).ok_or_else(|| {
            StatementError::at(line_number, format!("交易时间 {:?} is not YYYY-MM-DD HH:MM:SS", row[TRADE_TIME]))
        })?;
        let (channel_txn_id, amount, kind, status) = match row[TRADE_STATUS].as_str() {
            "SUCCESS" => {
                (&row[WECHAT_ORDER_NO], settlement_amount, TransactionKind::Payment, TransactionStatus::Success)
            }
            "REFUND" => {
                let status = match row[REFUND_STATUS].as_str() {
                    "SUCCESS" => TransactionStatus::Refunded,
                    "PROCESSING" => TransactionStatus::Processing,
                    _ => TransactionStatus::Failed,
                };
                (&row[WECHAT_REFUND_NO], refund_amount, TransactionKind::Refund, status)
            }
            "REVOKED" | "CLOSED" | "PAYERROR" | "NOTPAY" => {
                (&row[WECHAT_ORDER_NO], settlement_amount, TransactionKind::Payment, TransactionStatus::Failed)
            }
            other => return Err(StatementError::at(line_number, format!("交易状态 {other:?} is not known"))),
        };
        let channel_txn_id = checked_txn_id(channel_txn_id, line_number)?;
        statement.push(StatementLine { channel_txn_id, at, amount, kind, status, raw_line_number: line_number });
    }

    let summary_header_number =
        summary_header_number.ok_or_else(|| StatementError::at(0, "the summary header (总交易单数,…) is missing"))?;
    let (summary_number, summary) =
        rows.next().ok_or_else(|| StatementError::at(summary_header_number, "the summary row is missing"))?;
    if let Some((extra_number, _)) = rows.next() {
        return Err(StatementError::at(extra_number, "text after the summary row"));
    }
    let summary = fields(summary, summary_number)?;
    if summary.len() != WECHAT_SUMMARY_HEADER.len() {
        return Err(StatementError::at(summary_number, format!("{} summary fields, not 7", summary.len())));
    }
    let count_matches = summary[0].parse::<usize>().ok() == Some(statement.len());
    let settlement_matches = parse_yuan(&summary[1]) == Some(settlement_total);
    let refunds_match = parse_yuan(&summary[2]) == Some(refund_total);
    if !(count_matches && settlement_matches && refunds_match) {
        return Err(StatementError::at(
            summary_number,
            format!(
                "the summary ({}, {}, {}) does not agree with the rows ({}, {settlement_total}, {refund_total})",
                summary[0],
                summary[1],
                summary[2],
                statement.len()
            ),
        ));
    }
    Ok(statement)
}

/// A line's fields, trimmed, with the leading backtick of each removed.
fn fields(line: &str, line_number: usize) -> Result<Vec<String>, StatementError> {
    Ok(split_csv_line(line, line_number)?
        .into_iter()
        .map(|field| {
            let field = field.trim();
            field.strip_prefix('`').unwrap_or(field).trim().to_string()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bill(rows: &[&str], summary: &str) -> String {
        let mut text = WECHAT_DETAIL_HEADER.join(",");
        text.push('\n');
        for row in rows {
            text.push_str(row);
            text.push('\n');
        }
        text.push_str(&WECHAT_SUMMARY_HEADER.join(","));
        text.push('\n');
        text.push_str(summary);
        text.push('\n');
        text
    }

    const PAYMENT: &str = "`2024-01-01 09:30:00,`wx1,`1900000001,`0,`,`4200000001,`M1,`oUser,`JSAPI,`SUCCESS,`CMB_DEBIT,`CNY,`9.90,`0.00,`0,`0,`0.00,`0.00,`,`,`gas,`,`0.05940,`0.60%,`9.90,`0.00,`";

    #[test]
    fn a_rendered_payment_bill_reads_back() {
        let rows = [
            WechatPaymentRow {
                time: "2024-01-01 09:30:00".into(),
                wechat_order_no: "4200000001".into(),
                amount: Decimal::new(990, 2),
            },
            WechatPaymentRow {
                time: "2024-01-01 23:59:59".into(),
                wechat_order_no: "4200000002".into(),
                amount: Decimal::new(12, 0),
            },
        ];
        let lines = parse_wechat_trade_bill(&render_payment_bill(&rows)).expect("its own layout");
        let read: Vec<(&str, Decimal)> = lines.iter().map(|line| (line.channel_txn_id.as_str(), line.amount)).collect();
        assert_eq!(read, [("4200000001", Decimal::new(990, 2)), ("4200000002", Decimal::new(1200, 2))]);
        assert!(parse_wechat_trade_bill(&render_payment_bill(&[])).is_ok());
    }

    #[test]
    fn summary_must_agree() {
        assert!(parse_wechat_trade_bill(&bill(&[PAYMENT], "`1,`9.90,`0.00,`0.00,`0.05940,`9.90,`0.00")).is_ok());
        let wrong_count = parse_wechat_trade_bill(&bill(&[PAYMENT], "`2,`9.90,`0.00,`0.00,`0.05940,`9.90,`0.00"));
        assert_eq!(wrong_count.map_err(|error| error.to_string().starts_with("statement line 4:")), Err(true));
        let wrong_total = parse_wechat_trade_bill(&bill(&[PAYMENT], "`1,`9.91,`0.00,`0.00,`0.05940,`9.90,`0.00"));
        assert_eq!(wrong_total.map_err(|error| error.code()), Err("statement_malformed"));
        let truncated = format!("{}\n{PAYMENT}\n", WECHAT_DETAIL_HEADER.join(","));
        assert_eq!(parse_wechat_trade_bill(&truncated).map_err(|error| error.code()), Err("statement_malformed"));
        let trailing = format!("{}junk\n", bill(&[PAYMENT], "`1,`9.90,`0.00,`0.00,`0.05940,`9.90,`0.00"));
        assert!(parse_wechat_trade_bill(&trailing).is_err());
    }

    #[test]
    fn bad_rows_name_their_line() {
        fn line_of(row: &str) -> Option<usize> {
            match parse_wechat_trade_bill(&bill(&[PAYMENT, row], "`2,`19.80,`0.00,`0.00,`0.1188,`19.80,`0.00")) {
                Err(StatementError::Malformed { line_number, .. }) => Some(line_number),
                Ok(_) => None,
            }
        }
        assert_eq!(line_of(PAYMENT), None);
        assert_eq!(line_of(&PAYMENT.replace("`9.90,`0.00,`0", "`9.9x,`0.00,`0")), Some(3));
        assert_eq!(line_of(&PAYMENT.replace("2024-01-01 09:30:00", "2024-01-01T09:30:00")), Some(3));
        assert_eq!(line_of(&PAYMENT.replace("`SUCCESS", "`WEIRD")), Some(3));
        assert_eq!(line_of(&PAYMENT.replace("`4200000001", "`")), Some(3));
        assert_eq!(line_of(&PAYMENT.replacen(",`wx1", "", 1)), Some(3));
        assert_eq!(parse_wechat_trade_bill("a,b\n").map_err(|error| error.code()), Err("statement_malformed"));
    }
}
