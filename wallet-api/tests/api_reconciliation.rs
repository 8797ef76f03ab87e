//! Reconciliation over HTTP, as finance staff work it: top-ups are booked through a channel with
//! known channel transaction ids at known times; the channel's daily bill (WeChat Pay trade bill,
//! GBK Alipay business-detail bill, or the generic CSV) is posted and the report names exactly
//! the matched lines, 长款 (overage), 短款 (shortage), amount and status mismatches and
//! duplicates, with counts and totals; the midnight cut is bridged by the date drift; every
//! resolvable break is worked to an end by one entry that moves the trial balance by exactly its
//! amount, once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use settlement::reconciliation::wechat::{render_payment_bill, WechatPaymentRow};

use base64::Engine as _;
use common::{assert_problem, spawn_app_with_manual_clock, unique, CustomerFixture, TestApp};
use ledger::Timestamp;
use serde_json::{json, Value};
use settlement::business_day::{business_day_of, day_bounds_utc, BusinessDay};

/// A business day some days ahead of now, so the manual clock only ever moves forward.
fn future_day(days_ahead: i64) -> BusinessDay {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    business_day_of(now + days_ahead * 86_400).unwrap()
}

/// Moves the clock to `seconds` after the start of `day` (Beijing time).
fn set_clock(app: &TestApp, day: BusinessDay, seconds: i64) {
    let (start, _) = day_bounds_utc(day);
    app.clock.as_ref().unwrap().set(Timestamp::from_unix_seconds(start + seconds));
}

/// `HH:MM:SS` after the start of the day, in seconds.
fn at(hours: i64, minutes: i64, seconds: i64) -> i64 {
    hours * 3600 + minutes * 60 + seconds
}

/// The Beijing wall-clock time of `seconds` after the start of `day` (`YYYY-MM-DD HH:MM:SS`).
fn wall_clock(day: BusinessDay, seconds: i64) -> String {
    let (start, _) = day_bounds_utc(day);
    let beijing = chrono::DateTime::from_timestamp(start + seconds + 8 * 3600, 0).unwrap();
    beijing.format("%Y-%m-%d %H:%M:%S").to_string()
}

async fn topup(app: &TestApp, customer: &CustomerFixture, channel: &str, channel_txn_id: &str, amount: &str) {
    let body = json!({ "amount": amount, "channel": channel, "channel_txn_id": channel_txn_id });
    let path = format!("/v1/wallets/{}/topups", customer.wallet_id);
    app.post_ok(&path, &app.admin_token, body, Some(&unique("topup")), 201).await;
}

/// A WeChat Pay `ALL` trade bill of payments: (trade time, WeChat order no., settlement amount).
fn wechat_bill(rows: &[(String, &str, &str)]) -> String {
    let rows: Vec<WechatPaymentRow> = rows
        .iter()
        .map(|(time, order, amount)| WechatPaymentRow {
            time: time.clone(),
            wechat_order_no: (*order).to_owned(),
            amount: amount.parse().unwrap(),
        })
        .collect();
    render_payment_bill(&rows)
}

/// An Alipay business-detail bill: (trade no., type 交易/退款, finished at, merchant received,
/// refund request no.), as GBK bytes.
fn alipay_bill(rows: &[(&str, &str, String, &str, &str)]) -> Vec<u8> {
    let mut bill = String::from(
        "#支付宝业务明细查询\n#账号：[20880000000000000156]\n#-----------------业务明细列表----------------\n\
         支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,\
         商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,\
         商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\n",
    );
    for (trade_no, kind, finished, received, refund_no) in rows {
        let refund = if refund_no.is_empty() { String::new() } else { format!("{refund_no}\t") };
        bill.push_str(&format!(
            "{trade_no}\t,GW{trade_no}\t,{kind},燃气充值,{finished},{finished},,,,,zha***@example.com,{received},\
             {received},0.00,0.00,0.00,0.00,0.00,,0.00,0.00,{refund},0.00,0.00,\n"
        ));
    }
    bill.push_str("#-----------------业务明细列表结束------------------\n#交易合计：见上\n");
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(&bill);
    assert!(!unmappable, "the bill is GBK text");
    bytes.into_owned()
}

async fn reconcile(app: &TestApp, token: &str, body: Value) -> Value {
    app.post_ok("/v1/reconciliations", token, body, None, 201).await.json
}

fn bucket(report: &Value, name: &str) -> (u64, String, String) {
    let bucket = &report[name];
    (
        bucket["count"].as_u64().unwrap_or_else(|| panic!("no bucket {name} in {report}")),
        bucket["statement_total"].as_str().unwrap().to_owned(),
        bucket["ledger_total"].as_str().unwrap().to_owned(),
    )
}

fn counted(count: u64, statement: &str, ledger: &str) -> (u64, String, String) {
    (count, statement.to_owned(), ledger.to_owned())
}

fn the_break<'a>(report: &'a Value, kind: &str, channel_txn_id: &str) -> &'a Value {
    report["breaks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|found| found["type"] == kind && found["channel_txn_id"] == channel_txn_id)
        .unwrap_or_else(|| panic!("no {kind} break for {channel_txn_id} in {report}"))
}

fn kinds(report: &Value) -> Vec<(String, String)> {
    let mut kinds: Vec<(String, String)> = report["breaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|found| (found["type"].as_str().unwrap().to_owned(), found["channel_txn_id"].as_str().unwrap().to_owned()))
        .collect();
    kinds.sort();
    kinds
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> =
        expected.iter().map(|(kind, id)| ((*kind).to_owned(), (*id).to_owned())).collect();
    pairs.sort();
    pairs
}

/// The closing balance of a chart code and the total debits of the trial balance.
async fn trial_balance(app: &TestApp, token: &str) -> Value {
    let report = app.get_ok("/v1/reports/trial-balance", token).await;
    assert_eq!(report["totals"]["balanced"], true, "{report}");
    report
}

fn closing(report: &Value, code: u64) -> rust_decimal::Decimal {
    let line = report["lines"].as_array().unwrap().iter().find(|line| line["code"] == code);
    line.map_or(rust_decimal::Decimal::ZERO, |line| line["closing"].as_str().unwrap().parse().unwrap())
}

fn total_debits(report: &Value) -> rust_decimal::Decimal {
    report["totals"]["debits"].as_str().unwrap().parse().unwrap()
}

fn dec(text: &str) -> rust_decimal::Decimal {
    text.parse().unwrap()
}

async fn resolve(app: &TestApp, token: &str, report: &Value, found: &Value, body: Value) -> common::Reply {
    let path = format!(
        "/v1/reconciliations/{}/breaks/{}/resolution",
        report["id"].as_str().unwrap(),
        found["break_id"].as_str().unwrap()
    );
    app.post(&path, Some(token), &body.to_string(), None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wechat_bill_is_reconciled_and_every_break_resolved_by_one_entry() {
    let app = spawn_app_with_manual_clock().await;
    let finance = app.token("finance", None).await;
    let day = future_day(3);
    let zhang = app.customer("Zhang Wei").await;
    let li = app.customer("Li Na").await;

    set_clock(&app, day, at(10, 0, 0));
    topup(&app, &zhang, "wechat", "4200000001", "100.00").await; // matched
    set_clock(&app, day, at(11, 0, 0));
    topup(&app, &li, "wechat", "4200000002", "50.00").await; // not on the bill: 短款
    set_clock(&app, day, at(12, 0, 0));
    topup(&app, &zhang, "wechat", "4200000003", "30.00").await; // the bill says 35.00
    topup(&app, &zhang, "alipay", "4200000004", "70.00").await; // another channel's
                                                                // Paid at 23:59:59 by the channel's clock, booked two seconds into the next day by ours.
    set_clock(&app, day, at(24, 0, 2));
    topup(&app, &li, "wechat", "4200000005", "8.80").await;
    set_clock(&app, day, at(33, 0, 0));

    let bill = wechat_bill(&[
        (wall_clock(day, at(10, 0, 0)), "4200000001", "100.00"),
        (wall_clock(day, at(12, 0, 0)), "4200000003", "35.00"),
        (wall_clock(day, at(15, 30, 0)), "4200000099", "20.00"), // not in the ledger: 长款
        (wall_clock(day, at(23, 59, 59)), "4200000005", "8.80"),
    ]);
    let date = day.to_string();
    let strict = json!({ "channel": "wechat", "format": "wechat", "date": date, "statement_csv": bill });
    let report = reconcile(&app, &finance, strict.clone()).await;
    assert_eq!(report["channel"], "wechat");
    assert_eq!(report["format"], "wechat");
    assert_eq!(report["date"], date.as_str());
    assert_eq!(report["statement_lines"], 4);
    assert_eq!(bucket(&report, "matched"), counted(1, "100.00", "100.00"));
    // Without drift the midnight top-up is the next day's: the bill's line is an overage.
    assert_eq!(bucket(&report, "overage"), counted(2, "28.80", "0.00"));
    assert_eq!(bucket(&report, "shortage"), counted(1, "0.00", "50.00"));
    assert_eq!(bucket(&report, "amount_mismatch"), counted(1, "35.00", "30.00"));
    assert_eq!(bucket(&report, "status_mismatch"), counted(0, "0.00", "0.00"));
    assert_eq!(bucket(&report, "statement_duplicates"), counted(0, "0.00", "0.00"));
    assert_eq!(
        report["statement_totals"],
        json!({ "count": 4, "payments": "163.80", "refunds": "0.00", "net": "163.80" })
    );
    assert_eq!(
        report["ledger_totals"],
        json!({ "count": 3, "payments": "180.00", "refunds": "0.00", "net": "180.00" })
    );
    assert_eq!(
        kinds(&report),
        pairs(&[
            ("overage", "4200000099"),
            ("overage", "4200000005"),
            ("shortage", "4200000002"),
            ("amount_mismatch", "4200000003"),
        ])
    );
    assert_eq!(report["open_breaks"], 4);
    // Balance level: the wechat clearing account moved 180.00 over the day, the bill says 163.80,
    // and the four breaks explain the whole −16.20 (+20.00 + 8.80 − 50.00 + 5.00).
    let proof = &report["balance_proof"];
    assert_eq!(
        [&proof["clearing_movement"], &proof["statement_net"], &proof["difference"], &proof["unexplained"]],
        ["180.00", "163.80", "-16.20", "0.00"]
    );
    assert_eq!(proof["ties"], true);
    // The same statement again is the same report.
    assert_eq!(reconcile(&app, &finance, strict).await, report);

    // The drift bridges the midnight cut.
    let drifted = json!({
        "channel": "wechat", "format": "wechat", "date": date, "statement_csv": bill, "date_drift_seconds": 5,
    });
    let report = reconcile(&app, &finance, drifted).await;
    assert_eq!(bucket(&report, "matched"), counted(2, "108.80", "108.80"));
    assert_eq!(bucket(&report, "overage"), counted(1, "20.00", "0.00"));
    assert_eq!(bucket(&report, "shortage"), counted(1, "0.00", "50.00"));
    assert_eq!(bucket(&report, "amount_mismatch"), counted(1, "35.00", "30.00"));
    assert_eq!(report["ledger_totals"]["payments"], "188.80");
    // Matched across midnight, the 8.80 moved the clearing account the next day: a timing
    // difference the balance proof shows as unexplained by breaks.
    assert_eq!(report["balance_proof"]["unexplained"], "8.80");
    assert_eq!(report["balance_proof"]["ties"], false);
    let overage = the_break(&report, "overage", "4200000099");
    assert_eq!((overage["statement_amount"].as_str(), overage["ledger_amount"].as_null()), (Some("20.00"), Some(())));
    assert_eq!(overage["channel_excess"], "20.00");
    assert_eq!(overage["status"], "open");
    assert_eq!(overage["resolvable"], true);
    let shortage = the_break(&report, "shortage", "4200000002");
    assert_eq!(shortage["wallet_id"], li.wallet_id.as_str());
    assert_eq!(shortage["channel_excess"], "-50.00");
    let mismatch = the_break(&report, "amount_mismatch", "4200000003");
    assert_eq!(mismatch["channel_excess"], "5.00");
    assert_eq!(mismatch["wallet_id"], zhang.wallet_id.as_str());

    // Refusals first: they post nothing.
    let before = trial_balance(&app, &finance).await;
    let reply = resolve(&app, &finance, &report, overage, json!({ "action": "adjust", "amount": "20.00" })).await;
    assert_problem(&reply, 422, "wallet_unknown", "an overage has no wallet of its own");
    let reply = resolve(&app, &finance, &report, overage, json!({ "action": "write_off", "amount": "19.99" })).await;
    assert_problem(&reply, 422, "amount_not_the_break", "the amount must be the break's");
    let reply = resolve(&app, &finance, &report, shortage, json!({ "action": "refund", "amount": "50.00" })).await;
    assert_problem(&reply, 422, "action_not_allowed", "nothing to refund when the channel holds less");
    let other_wallet = json!({ "action": "adjust", "amount": "50.00", "wallet_id": zhang.wallet_id });
    let reply = resolve(&app, &finance, &report, shortage, other_wallet).await;
    assert_problem(&reply, 422, "validation_failed", "the top-up's wallet only");
    let customer =
        resolve(&app, &zhang.token, &report, overage, json!({ "action": "refund", "amount": "20.00" })).await;
    assert_problem(&customer, 403, "forbidden", "customers do not resolve breaks");
    assert_eq!(trial_balance(&app, &finance).await["totals"], before["totals"]);

    // 长款 refunded through the channel: clearing → channel refund payable.
    let body = json!({ "action": "refund", "amount": "20.00", "note": "payer asked for it back" });
    let reply = resolve(&app, &finance, &report, overage, body.clone()).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.json["action"], "refund");
    assert_eq!(reply.json["amount"], "20.00");
    assert_eq!(reply.json["debit_role"], "channel_clearing");
    assert_eq!(reply.json["credit_role"], "channel_refund_payable");
    assert_eq!(reply.json["note"], "payer asked for it back");
    assert_eq!(reply.json["resolved_by"]["role"], "finance");
    let after_refund = trial_balance(&app, &finance).await;
    assert_eq!(total_debits(&after_refund) - total_debits(&before), dec("20.00"));
    assert_eq!(closing(&after_refund, 1122) - closing(&before, 1122), dec("20.00"));
    assert_eq!(closing(&after_refund, 2205) - closing(&before, 2205), dec("20.00"));
    let again = resolve(&app, &finance, &report, overage, body).await;
    assert_problem(&again, 409, "break_already_resolved", "a break is resolved once");

    // 短款 adjusted: the top-up the channel never received comes back out of the wallet.
    let li_before = app.balance(&li.wallet_id).await;
    let reply = resolve(&app, &finance, &report, shortage, json!({ "action": "adjust", "amount": "50.00" })).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(
        (reply.json["debit_role"].as_str(), reply.json["credit_role"].as_str()),
        (Some("customer_wallet"), Some("channel_clearing"))
    );
    assert_eq!(reply.json["wallet_id"], li.wallet_id.as_str());
    assert_eq!(dec(&li_before) - dec(&app.balance(&li.wallet_id).await), dec("50.00"));
    let after_adjust = trial_balance(&app, &finance).await;
    assert_eq!(total_debits(&after_adjust) - total_debits(&after_refund), dec("50.00"));
    assert_eq!(closing(&after_refund, 2241) - closing(&after_adjust, 2241), dec("50.00"));
    assert_eq!(closing(&after_refund, 1122) - closing(&after_adjust, 1122), dec("50.00"));

    // 金额不一致 written off: the channel holds 5.00 more, a reconciliation gain.
    let reply = resolve(&app, &finance, &report, mismatch, json!({ "action": "write_off", "amount": "5.00" })).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.json["credit_role"], "reconciliation_gain");
    let after_write_off = trial_balance(&app, &finance).await;
    assert_eq!(total_debits(&after_write_off) - total_debits(&after_adjust), dec("5.00"));
    assert_eq!(closing(&after_write_off, 1122) - closing(&after_adjust, 1122), dec("5.00"));
    assert_eq!(closing(&after_adjust, 6711) - closing(&after_write_off, 6711), dec("5.00"));

    // The report reads back with every break resolved, and the journal verifies.
    let path = format!("/v1/reconciliations/{}", report["id"].as_str().unwrap());
    let read = app.get_ok(&path, &finance).await;
    assert_eq!(read["open_breaks"], 0);
    assert!(read["breaks"].as_array().unwrap().iter().all(|found| found["status"] == "resolved"), "{read}");
    assert_eq!(the_break(&read, "overage", "4200000099")["resolution"]["action"], "refund");
    assert_eq!(bucket(&read, "matched"), bucket(&report, "matched"));
    app.assert_ledger_verifies().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gbk_alipay_bill_in_base64_is_reconciled() {
    let app = spawn_app_with_manual_clock().await;
    let finance = app.token("finance", None).await;
    let day = future_day(3);
    let wang = app.customer("Wang Fang").await;
    set_clock(&app, day, at(9, 0, 3));
    topup(&app, &wang, "alipay", "2026010122001401561000000001", "100.00").await;
    set_clock(&app, day, at(13, 0, 0));
    topup(&app, &wang, "alipay", "2026010122001401561000000002", "25.00").await; // 短款
    set_clock(&app, day, at(20, 30, 7));
    topup(&app, &wang, "alipay", "2026010122001401561000000003", "59.90").await; // the bill says 60.00
    set_clock(&app, day, at(33, 0, 0));

    let bill = alipay_bill(&[
        ("2026010122001401561000000001", "交易", wall_clock(day, at(9, 0, 3)), "100.00", ""),
        ("2026010122001401561000000001", "退款", wall_clock(day, at(12, 0, 2)), "-40.00", "2026010112000001"),
        ("2026010122001401561000000003", "交易", wall_clock(day, at(20, 30, 7)), "60.00", ""),
        ("2026010122001401561000000009", "交易", wall_clock(day, at(21, 0, 0)), "15.00", ""),
    ]);
    let body = json!({
        "channel": "alipay",
        "format": "alipay",
        "date": day.to_string(),
        "statement_base64": base64::engine::general_purpose::STANDARD.encode(&bill),
    });
    let report = reconcile(&app, &finance, body).await;
    assert_eq!(report["format"], "alipay");
    assert_eq!(bucket(&report, "matched"), counted(1, "100.00", "100.00"));
    // A payment the ledger lacks (15.00) and a refund it lacks (−40.00).
    assert_eq!(bucket(&report, "overage"), counted(2, "-25.00", "0.00"));
    assert_eq!(bucket(&report, "shortage"), counted(1, "0.00", "25.00"));
    assert_eq!(bucket(&report, "amount_mismatch"), counted(1, "60.00", "59.90"));
    assert_eq!(
        report["statement_totals"],
        json!({ "count": 4, "payments": "175.00", "refunds": "40.00", "net": "135.00" })
    );
    assert_eq!(
        report["ledger_totals"],
        json!({ "count": 3, "payments": "184.90", "refunds": "0.00", "net": "184.90" })
    );
    let refund = the_break(&report, "overage", "2026010112000001");
    assert_eq!(refund["transaction"], "refund");
    assert_eq!(refund["channel_excess"], "-40.00");

    // A refund the ledger never booked: the channel paid out 40.00 the ledger still holds.
    let before = trial_balance(&app, &finance).await;
    let reply = resolve(&app, &finance, &report, refund, json!({ "action": "write_off", "amount": "40.00" })).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(
        (reply.json["debit_role"].as_str(), reply.json["credit_role"].as_str()),
        (Some("reconciliation_loss"), Some("channel_clearing"))
    );
    let after = trial_balance(&app, &finance).await;
    assert_eq!(closing(&after, 6711) - closing(&before, 6711), dec("40.00"));
    assert_eq!(closing(&before, 1122) - closing(&after, 1122), dec("40.00"));
    // An overage payment adjusted into the wallet finance names.
    let payment = the_break(&report, "overage", "2026010122001401561000000009");
    let named = json!({ "action": "adjust", "amount": "15.00", "wallet_id": wang.wallet_id, "note": "ticket 118" });
    let balance_before = app.balance(&wang.wallet_id).await;
    let path = format!(
        "/v1/reconciliations/{}/breaks/{}/resolution",
        report["id"].as_str().unwrap(),
        payment["break_id"].as_str().unwrap()
    );
    let key = unique("resolve");
    let first = app.post_ok(&path, &finance, named.clone(), Some(&key), 201).await;
    assert_eq!(first.json["wallet_id"], wang.wallet_id.as_str());
    let replay = app.post_ok(&path, &finance, named, Some(&key), 201).await;
    assert_eq!(replay.json, first.json, "the same key answers the first resolution");
    assert_eq!(dec(&app.balance(&wang.wallet_id).await) - dec(&balance_before), dec("15.00"));
    let unknown_wallet = json!({ "action": "adjust", "amount": "15.00", "wallet_id": uuid::Uuid::new_v4() });
    let reply = app.post(&path, Some(&finance), &unknown_wallet.to_string(), None).await;
    assert_problem(&reply, 409, "break_already_resolved", "resolved above");
    app.assert_ledger_verifies().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generic_csv_reports_status_mismatches_and_duplicates_which_no_entry_resolves() {
    let app = spawn_app_with_manual_clock().await;
    let finance = app.token("finance", None).await;
    let day = future_day(3);
    let zhao = app.customer("Zhao Lei").await;
    set_clock(&app, day, at(8, 0, 0));
    topup(&app, &zhao, "bank", "B-1", "10.00").await;
    topup(&app, &zhao, "bank", "B-2", "20.00").await;
    set_clock(&app, day, at(30, 0, 0));
    let (start, _) = day_bounds_utc(day);
    let time = |seconds: i64| wallet_api::time::format_rfc3339(Timestamp::from_unix_seconds(start + seconds));
    let csv = format!(
        "channel_txn_id,time,amount,status\nB-1,{},10.00,SUCCESS\nB-2,{},20.00,CLOSED\nB-1,{},10.00,SUCCESS\n",
        time(at(8, 0, 0)),
        time(at(8, 0, 0)),
        time(at(8, 0, 1)),
    );
    let body = json!({ "channel": "bank", "date": day.to_string(), "statement_csv": csv });
    let report = reconcile(&app, &finance, body).await;
    assert_eq!(report["format"], "generic");
    assert_eq!(bucket(&report, "matched"), counted(1, "10.00", "10.00"));
    assert_eq!(bucket(&report, "status_mismatch"), counted(1, "20.00", "20.00"));
    assert_eq!(bucket(&report, "statement_duplicates"), counted(1, "10.00", "0.00"));
    assert_eq!(kinds(&report), pairs(&[("status_mismatch", "B-2"), ("statement_duplicate", "B-1")]));
    let status = the_break(&report, "status_mismatch", "B-2");
    assert_eq!(
        (status["statement_status"].as_str(), status["ledger_status"].as_str()),
        (Some("failed"), Some("success"))
    );
    assert_eq!(status["resolvable"], false);
    for found in [status, the_break(&report, "statement_duplicate", "B-1")] {
        let reply = resolve(&app, &finance, &report, found, json!({ "action": "write_off", "amount": "20.00" })).await;
        assert_problem(&reply, 422, "not_resolvable_by_entry", "worked with the channel");
    }
    // API.md's body (channel and statement only): the day is the one the lines fall in.
    let undated = reconcile(&app, &finance, json!({ "channel": "bank", "statement_csv": csv })).await;
    assert_eq!(undated["date"], day.to_string().as_str());
    assert_eq!(kinds(&undated), kinds(&report));
    let spanning = format!("{csv}B-3,{},1.00,SUCCESS\n", time(at(30, 0, 0)));
    let reply = app
        .post(
            "/v1/reconciliations",
            Some(&finance),
            &json!({ "channel": "bank", "statement_csv": spanning }).to_string(),
            None,
        )
        .await;
    assert_problem(&reply, 422, "validation_failed", "lines of two days need a date");
    app.assert_ledger_verifies().await;

    // The report is a function of the journal: after a restart it reads back the same.
    let path = format!("/v1/reconciliations/{}", report["id"].as_str().unwrap());
    let data = app.stop().await;
    let app = common::spawn_app_in(data).await;
    let finance = app.token("finance", None).await;
    assert_eq!(app.get_ok(&path, &finance).await, report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals() {
    let app = spawn_app_with_manual_clock().await;
    let finance = app.token("finance", None).await;
    let customer = app.customer("Sun Li").await;
    let merchant = app.merchant("Corner Shop").await;
    let date = future_day(0).to_string();
    let csv = "channel_txn_id,time,amount,status\nT1,2026-03-01T09:30:00+08:00,12.50,SUCCESS\n";
    let good = json!({ "channel": "wechat", "date": date, "statement_csv": csv });
    for token in [&customer.token, &merchant.token] {
        let reply = app.post("/v1/reconciliations", Some(token), &good.to_string(), None).await;
        assert_problem(&reply, 403, "forbidden", "staff only");
    }
    let report = reconcile(&app, &finance, good).await;
    let path = format!("/v1/reconciliations/{}", report["id"].as_str().unwrap());
    assert_problem(&app.get(&path, Some(&merchant.token)).await, 403, "forbidden", "staff only");
    let unknown = format!("/v1/reconciliations/{}", uuid::Uuid::new_v4());
    assert_problem(&app.get(&unknown, Some(&finance)).await, 404, "not_found", "no such report");
    let found = the_break(&report, "overage", "T1");
    let reply = resolve(&app, &merchant.token, &report, found, json!({ "action": "refund", "amount": "12.50" })).await;
    assert_problem(&reply, 403, "forbidden", "staff only");

    let cases = [
        (
            json!({ "channel": "wechat", "date": date, "statement_csv": "channel_txn_id,time,amount,status\nT1,2026-03-01T09:30:00Z,12.50,SUCCESS\nT2,yesterday,1.00,SUCCESS\n" }),
            "statement_malformed",
        ),
        (json!({ "channel": "wechat", "format": "wechat", "date": date, "statement_csv": csv }), "statement_malformed"),
        (json!({ "channel": "wechat", "date": date }), "validation_failed"),
        (
            json!({ "channel": "wechat", "date": date, "statement_csv": csv, "statement_base64": "" }),
            "validation_failed",
        ),
        (json!({ "channel": "wechat", "date": date, "statement_base64": "not base64!" }), "validation_failed"),
        (json!({ "channel": "wechat", "date": "2026-3-1", "statement_csv": csv }), "validation_failed"),
        (json!({ "channel": "paypal", "date": date, "statement_csv": csv }), "unknown_channel"),
        (
            json!({ "channel": "bank", "format": "alipay", "date": date, "statement_csv": csv }),
            "format_not_for_channel",
        ),
        (
            json!({ "channel": "bank", "date": date, "statement_csv": csv, "date_drift_seconds": -1 }),
            "invalid_match_config",
        ),
        (
            json!({ "channel": "bank", "date": date, "statement_csv": csv, "amount_tolerance": "0.001" }),
            "invalid_match_config",
        ),
        (json!({ "channel": "bank", "date": date, "statement_csv": csv, "amount_tolerance": 1 }), "invalid_amount"),
        (json!({ "channel": "bank", "date": date, "statement_csv": csv, "colour": "blue" }), "validation_failed"),
    ];
    for (body, code) in cases {
        let reply = app.post("/v1/reconciliations", Some(&finance), &body.to_string(), None).await;
        assert_problem(&reply, 422, code, &body.to_string());
    }
    let reply = app
        .post("/v1/reconciliations", Some(&finance), &json!({ "channel": "wechat", "date": date, "statement_csv": "channel_txn_id,time,amount,status\nT1,2026-03-01T09:30:00Z,12.50,SUCCESS\nT2,yesterday,1.00,SUCCESS\n" }).to_string(), None)
        .await;
    assert!(reply.json["detail"].as_str().unwrap().contains("line 3"), "{}", reply.text());

    // The named limits, at and past the bound: lines read, and breaks recorded.
    let lines_max = wallet_api::service::reconciliation::STATEMENT_LINES_MAX;
    let blank_lines = |lines: usize| format!("channel_txn_id,time,amount,status\n{}", "\n".repeat(lines - 1));
    let at_limit = json!({ "channel": "bank", "date": date, "statement_csv": blank_lines(lines_max) });
    assert_eq!(reconcile(&app, &finance, at_limit).await["statement_lines"], 0);
    let past = json!({ "channel": "bank", "date": date, "statement_csv": blank_lines(lines_max + 1) });
    let reply = app.post("/v1/reconciliations", Some(&finance), &past.to_string(), None).await;
    assert_problem(&reply, 422, "statement_too_large", "too many lines");
    let breaks_max = wallet_api::service::reconciliation::BREAKS_PER_RUN_MAX;
    let overages = |count: usize| {
        let mut csv = String::from("channel_txn_id,time,amount,status\n");
        for index in 0..count {
            csv.push_str(&format!("W-{index:06},2026-03-01T09:30:00Z,1.00,SUCCESS\n"));
        }
        csv
    };
    let report =
        reconcile(&app, &finance, json!({ "channel": "counter", "date": date, "statement_csv": overages(breaks_max) }))
            .await;
    assert_eq!(bucket(&report, "overage"), counted(breaks_max as u64, &format!("{breaks_max}.00"), "0.00"));
    assert_eq!(report["breaks"].as_array().unwrap().len(), breaks_max);
    let past = json!({ "channel": "counter", "date": date, "statement_csv": overages(breaks_max + 1) });
    let reply = app.post("/v1/reconciliations", Some(&finance), &past.to_string(), None).await;
    assert_problem(&reply, 422, "too_many_breaks", "too many breaks");
    let limit = wallet_api::http::reconciliation::RECONCILIATION_REQUEST_BODY_BYTES_MAX;
    let big = json!({ "channel": "bank", "date": date, "statement_csv": "x".repeat(limit) });
    let reply = app.post("/v1/reconciliations", Some(&finance), &big.to_string(), None).await;
    assert_problem(&reply, 413, "payload_too_large", "the route's own limit");
    // Larger than the general 64 KiB limit is fine for a statement (the one at the break limit is).
    assert!(overages(breaks_max).len() > 64 * 1024);
}
