//! The Alipay business-detail bill (业务明细), as `CHANNEL-BILLS.md` describes it.
//!
//! GBK-encoded bytes (decoded here with `encoding_rs`; a byte sequence that is not GBK is
//! `statement_malformed`). Lines starting with `#` are metadata before and after the table and are
//! skipped; the first other line is the 25-column header, the following ones are the rows, and
//! once the closing `#` lines begin no row may follow. Id fields carry a trailing tab, trimmed.
//! Times (完成时间) are Beijing wall-clock times.
//!
//! * 业务类型 `交易` is a payment of 商家实收（元） (what the merchant received, the clearing side),
//!   keyed by 支付宝交易号.
//! * 业务类型 `退款` is a refund; its amounts are negative in the bill and are reported as positive
//!   with [`TransactionKind::Refund`]. It is keyed by 退款批次号/请求号 (the refund's own id), or by
//!   the trade number when that column is empty.

use std::borrow::Cow;

use super::generic::checked_txn_id;
use super::{
    numbered_lines, parse_yuan, split_csv_line, StatementError, StatementLine, TransactionKind, TransactionStatus,
};
use crate::timestamps::parse_beijing_wall_clock;

/// The table's header, in order.
pub const ALIPAY_DETAIL_HEADER: [&str; 25] = [
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
];

const TRADE_NO: usize = 0;
const BUSINESS_TYPE: usize = 2;
const FINISHED_AT: usize = 5;
const MERCHANT_RECEIVED: usize = 12;
const REFUND_REQUEST_NO: usize = 21;

/// Decodes and parses an Alipay business-detail bill from its GBK bytes.
pub fn parse_alipay_business_detail(gbk_bytes: &[u8]) -> Result<Vec<StatementLine>, StatementError> {
    let text: Cow<'_, str> = encoding_rs::GBK
        .decode_without_bom_handling_and_without_replacement(gbk_bytes)
        .ok_or_else(|| StatementError::at(0, "the bill is not GBK text"))?;
    parse_alipay_business_detail_text(&text)
}

/// Parses an Alipay business-detail bill already decoded to text.
pub fn parse_alipay_business_detail_text(text: &str) -> Result<Vec<StatementLine>, StatementError> {
    let mut header_seen = false;
    let mut table_closed = false;
    let mut statement = Vec::new();
    for (line_number, line) in numbered_lines(text)? {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with('#') {
            table_closed = header_seen;
            continue;
        }
        if table_closed {
            return Err(StatementError::at(line_number, "a row after the closing # lines"));
        }
        let row: Vec<String> =
            split_csv_line(line, line_number)?.into_iter().map(|field| field.trim().to_string()).collect();
        if !header_seen {
            if row != ALIPAY_DETAIL_HEADER {
                return Err(StatementError::at(line_number, "not the 25-column Alipay business-detail header"));
            }
            header_seen = true;
            continue;
        }
        if row.len() != ALIPAY_DETAIL_HEADER.len() {
            return Err(StatementError::at(line_number, format!("{} fields, not 25", row.len())));
        }
        let received = &row[MERCHANT_RECEIVED];
        let bad_amount =
            || StatementError::at(line_number, format!("商家实收（元） {received:?} does not fit 业务类型"));
        let (kind, status, amount, id) = match row[BUSINESS_TYPE].as_str() {
            "交易" => (TransactionKind::Payment, TransactionStatus::Success, parse_yuan(received), &row[TRADE_NO]),
            "退款" => {
                let amount = received.strip_prefix('-').and_then(parse_yuan);
                let id = if row[REFUND_REQUEST_NO].is_empty() { &row[TRADE_NO] } else { &row[REFUND_REQUEST_NO] };
                (TransactionKind::Refund, TransactionStatus::Refunded, amount, id)
            }
            other => return Err(StatementError::at(line_number, format!("业务类型 {other:?} is not 交易 or 退款"))),
        };
        let amount = amount.ok_or_else(bad_amount)?;
        let at = parse_beijing_wall_clock(&row[FINISHED_AT]).ok_or_else(|| {
            StatementError::at(line_number, format!("完成时间 {:?} is not YYYY-MM-DD HH:MM:SS", row[FINISHED_AT]))
        })?;
        let channel_txn_id = checked_txn_id(id, line_number)?;
        statement.push(StatementLine { channel_txn_id, at, amount, kind, status, raw_line_number: line_number });
    }
    if !header_seen {
        return Err(StatementError::at(0, "the business-detail header is missing"));
    }
    Ok(statement)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(business_type: &str, received: &str) -> String {
        let mut fields = vec![""; 25];
        fields[0] = "2024010122001400001\t";
        fields[2] = business_type;
        fields[5] = "2024-01-01 10:00:00";
        fields[12] = received;
        fields.join(",")
    }

    fn bill(rows: &[String]) -> String {
        format!(
            "#支付宝业务明细查询\n{}\n{}\n#-----业务明细列表结束-----\n",
            ALIPAY_DETAIL_HEADER.join(","),
            rows.join("\n")
        )
    }

    #[test]
    fn rows_and_rejections() {
        let lines =
            parse_alipay_business_detail_text(&bill(&[row("交易", "10.00"), row("退款", "-4.00")])).expect("valid");
        assert_eq!(lines[0].channel_txn_id, "2024010122001400001"); // the tab trimmed
        assert_eq!((lines[1].kind, lines[1].amount.to_string()), (TransactionKind::Refund, "4.00".to_string()));
        assert_eq!(lines[1].raw_line_number, 4);

        fn line_of(text: &str) -> Option<usize> {
            match parse_alipay_business_detail_text(text) {
                Err(StatementError::Malformed { line_number, .. }) => Some(line_number),
                Ok(_) => None,
            }
        }
        assert_eq!(line_of(&bill(&[row("交易", "-10.00")])), Some(3)); // a payment is not negative
        assert_eq!(line_of(&bill(&[row("退款", "4.00")])), Some(3)); // a refund is
        assert_eq!(line_of(&bill(&[row("转账", "4.00")])), Some(3));
        assert_eq!(line_of(&bill(&[row("交易", "10.001")])), Some(3));
        assert_eq!(line_of(&format!("{}{}\n", bill(&[]), row("交易", "1.00"))), Some(5));
        assert_eq!(line_of("#only comments\n"), Some(0));
        assert_eq!(
            parse_alipay_business_detail(&[0xff, 0xff]).map_err(|error| error.code()),
            Err("statement_malformed")
        );
    }
}
