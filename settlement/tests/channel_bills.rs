//! The channel bill fixtures, written by hand from the column layouts in `CHANNEL-BILLS.md`, parsed
//! and reconciled end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use settlement::business_day::BusinessDay;
use settlement::reconciliation::alipay::parse_alipay_business_detail;
use settlement::reconciliation::matcher::{reconcile, LedgerRecord, MatchConfig, ReconciliationWindow};
use settlement::reconciliation::wechat::parse_wechat_trade_bill;
use settlement::reconciliation::{StatementLine, TransactionKind, TransactionStatus};
use uuid::Uuid;

const WECHAT_BILL: &str = include_str!("fixtures/wechat-trade-bill.csv");
const ALIPAY_BILL_GBK: &[u8] = include_bytes!("fixtures/alipay-business-detail.csv");

/// 2024-01-01 00:00:00 Beijing time.
const DAY_START: i64 = 1_704_038_400;

fn summary(lines: &[StatementLine]) -> Vec<(&str, i64, Decimal, TransactionKind, TransactionStatus, usize)> {
    lines
        .iter()
        .map(|line| (line.channel_txn_id.as_str(), line.at, line.amount, line.kind, line.status, line.raw_line_number))
        .collect()
}

#[test]
fn wechat_trade_bill_fixture() {
    use TransactionKind::*;
    use TransactionStatus::*;
    let lines = parse_wechat_trade_bill(WECHAT_BILL).expect("the fixture is a valid bill");
    assert_eq!(
        summary(&lines),
        vec![
            ("4200002024010100000001", DAY_START + 1, dec!(9.90), Payment, Success, 2),
            ("4200002024010100000002", DAY_START + 36_930, dec!(120.00), Payment, Success, 3),
            ("50300000002024010100000001", DAY_START + 60_012, dec!(3.30), Refund, Refunded, 4),
            ("4200002024010100000003", DAY_START + 86_399, dec!(50.00), Payment, Success, 5),
        ]
    );
    // The summary is checked: a bill whose summary disagrees with its rows is refused.
    let tampered = WECHAT_BILL.replace("`179.90,`3.30,`0.00,`1.05960", "`179.91,`3.30,`0.00,`1.05960");
    assert_ne!(tampered, WECHAT_BILL);
    let error = parse_wechat_trade_bill(&tampered).expect_err("summary disagrees");
    assert_eq!((error.code(), error.to_string().starts_with("statement line 7:")), ("statement_malformed", true));
}

#[test]
fn alipay_business_detail_fixture_is_gbk() {
    // GBK, not UTF-8: the fixture's bytes are what Alipay delivers.
    assert!(String::from_utf8(ALIPAY_BILL_GBK.to_vec()).is_err());
    let (decoded, _, had_errors) = encoding_rs::GBK.decode(ALIPAY_BILL_GBK);
    assert!(!had_errors);
    assert!(decoded.contains("支付宝交易号,商户订单号,业务类型"));

    use TransactionKind::*;
    use TransactionStatus::*;
    let lines = parse_alipay_business_detail(ALIPAY_BILL_GBK).expect("the fixture is a valid bill");
    assert_eq!(
        summary(&lines),
        vec![
            ("2024010122001401561000000001", DAY_START + 32_403, dec!(100.00), Payment, Success, 6),
            ("2024010112000001", DAY_START + 43_202, dec!(40.00), Refund, Refunded, 7),
            ("2024010122001401561000000002", DAY_START + 73_807, dec!(59.90), Payment, Success, 8),
        ]
    );
    // The same text as UTF-8 bytes is not a GBK bill.
    let utf8 = decoded.as_bytes();
    assert_eq!(parse_alipay_business_detail(utf8).map_err(|error| error.code()), Err("statement_malformed"));
}

#[test]
fn wechat_bill_reconciles_against_the_ledger() {
    let statement = parse_wechat_trade_bill(WECHAT_BILL).expect("valid");
    let record = |id: &str, at: i64, amount: Decimal, kind: TransactionKind, status: TransactionStatus, entry: u128| {
        LedgerRecord { channel_txn_id: id.into(), at, amount, kind, status, entry_id: Uuid::from_u128(entry) }
    };
    use TransactionKind::*;
    use TransactionStatus::*;
    let ledger = vec![
        // Booked a second before midnight, dated a second after it by the channel.
        record("4200002024010100000001", DAY_START - 1, dec!(9.90), Payment, Success, 1),
        record("4200002024010100000002", DAY_START + 36_930, dec!(120.00), Payment, Success, 2),
        record("50300000002024010100000001", DAY_START + 60_012, dec!(3.30), Refund, Refunded, 3),
        // 23:59:59 in the ledger too: the same day.
        record("4200002024010100000003", DAY_START + 86_399, dec!(50.00), Payment, Success, 4),
        // The ledger has a top-up the channel does not: 短款.
        record("4200002024010100000009", DAY_START + 40_000, dec!(8.00), Payment, Success, 5),
    ];
    let day = ReconciliationWindow::business_day(BusinessDay::parse("2024-01-01").expect("valid"));
    let strict = reconcile(&statement, &ledger, &MatchConfig::default(), day).expect("valid");
    assert_eq!(strict.summary.matched.count, 3);
    assert_eq!(strict.overage.len(), 1); // the midnight payment, with no drift allowed
    assert_eq!(strict.shortage.len(), 1);
    assert_eq!(strict.ledger_outside_window.len(), 1);

    let drift = MatchConfig { date_drift_seconds: 60, amount_tolerance: Decimal::ZERO };
    let report = reconcile(&statement, &ledger, &drift, day).expect("valid");
    assert_eq!(report.summary.matched.count, 4);
    assert!(report.overage.is_empty());
    assert_eq!(report.shortage[0].entry_id, Uuid::from_u128(5));
    assert_eq!(report.summary.statement.net, dec!(176.60));
    assert_eq!(report.summary.ledger.net, dec!(184.60));
    let json = serde_json::to_value(&report.summary).expect("serializes");
    assert_eq!(json["shortage"]["ledger_net"], "8.00");
}
