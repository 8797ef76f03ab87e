//! Malformed and hostile requests: each one gets a 4xx `application/problem+json` with its stable
//! `code`, never a 5xx, and changes nothing (balances, payments and events stay as they were; the
//! journal does not even grow unless the service records the rejection for idempotent replays).
//! Every named limit is tested at the bound (accepted) and one past it (refused).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    assert_problem, spawn_app, spawn_app_with_manual_clock, unique, CustomerFixture, MerchantFixture, TestApp,
};
use serde_json::json;
use wallet_api::http::extract::{
    DECIMAL_STRING_BYTES_MAX, IDEMPOTENCY_KEY_BYTES_MAX, PAGE_LIMIT_MAX, REQUEST_BODY_BYTES_MAX,
};
use wallet_api::service::{HOUSEHOLD_SIZE_MAX, NAME_CHARS_MAX, PAYMENT_CODE_TTL_SECONDS, REFERENCE_BYTES_MAX};

/// Everything the bad requests aim at: a funded wallet with one payment and a few codes.
struct World {
    app: TestApp,
    customer: CustomerFixture,
    merchant: MerchantFixture,
    /// A payment of 20.00 from the customer to the merchant.
    payment_id: String,
    /// A code nobody has used yet.
    fresh_code: String,
    /// The code `payment_id` used.
    used_code: String,
    /// A code limited to 5.00.
    limited_code: String,
    /// The wechat transaction id of the top-up that funded the wallet.
    booked_txn: String,
}

/// The wallet's balance after [`world`] set it up.
const WORLD_BALANCE: &str = "80.00";

async fn world() -> World {
    let app = spawn_app().await;
    let customer = app.customer("Target Customer").await;
    let merchant = app.merchant("Target Merchant").await;
    let booked_txn = unique("booked");
    app.post_ok(
        &format!("/v1/wallets/{}/topups", customer.wallet_id),
        &app.admin_token,
        json!({ "amount": "100.00", "channel": "wechat", "channel_txn_id": booked_txn }),
        Some(&unique("k")),
        201,
    )
    .await;
    let used_code = app.payment_code(&customer).await;
    let paid = app.pay(&merchant, &used_code, "20.00").await;
    assert_eq!(paid.status, 201, "{}", paid.text());
    let fresh_code = app.payment_code(&customer).await;
    let limited_code = app
        .post_ok(
            &format!("/v1/wallets/{}/payment-codes", customer.wallet_id),
            &customer.token,
            json!({ "max_amount": "5.00" }),
            None,
            201,
        )
        .await
        .str("code");
    assert_eq!(app.balance(&customer.wallet_id).await, WORLD_BALANCE);
    World { payment_id: paid.str("id"), app, customer, merchant, fresh_code, used_code, limited_code, booked_txn }
}

/// What a bad request must not change.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    balance: String,
    refunded: String,
    event_count: usize,
    statement_lines: usize,
    journal_sequence: u64,
}

async fn snapshot(world: &World) -> Snapshot {
    let app = &world.app;
    let payment = app.get_ok(&format!("/v1/payments/{}", world.payment_id), &app.admin_token).await;
    Snapshot {
        balance: app.balance(&world.customer.wallet_id).await,
        refunded: payment["refunded"].as_str().unwrap().to_owned(),
        event_count: app.events(&app.admin_token).await.len(),
        statement_lines: app.statement(&world.customer.wallet_id, &app.admin_token).await.len(),
        journal_sequence: app.journal_sequence().await,
    }
}

/// One bad request and the problem it must get.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    /// A business rejection of an idempotent request is recorded (a note, no money) so that a
    /// replay gets it again; every other rejection must leave the journal exactly as it was.
    records_answer: bool,
}

impl Case {
    fn new(name: impl Into<String>, method: &'static str, path: impl Into<String>) -> Case {
        Case {
            name: name.into(),
            method,
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
            status: 0,
            code: "",
            records_answer: false,
        }
    }

    /// A JSON POST with a bearer token and, when given, an Idempotency-Key.
    fn post(name: impl Into<String>, path: impl Into<String>, token: &str, body: &str, key: bool) -> Case {
        let case = Case::new(name, "POST", path)
            .header("content-type", "application/json")
            .header("authorization", &format!("Bearer {token}"))
            .body(body);
        if key {
            case.header("idempotency-key", &unique("bad"))
        } else {
            case
        }
    }

    fn get(name: impl Into<String>, path: impl Into<String>, token: &str) -> Case {
        Case::new(name, "GET", path).header("authorization", &format!("Bearer {token}"))
    }

    fn header(self, name: &'static str, value: &str) -> Case {
        self.header_bytes(name, value.as_bytes())
    }

    fn header_bytes(mut self, name: &'static str, value: &[u8]) -> Case {
        self.headers.retain(|(existing, _)| *existing != name);
        self.headers.push((name, value.to_vec()));
        self
    }

    fn without_header(mut self, name: &'static str) -> Case {
        self.headers.retain(|(existing, _)| *existing != name);
        self
    }

    fn body(mut self, body: &str) -> Case {
        self.body = body.as_bytes().to_vec();
        self
    }

    fn body_bytes(mut self, body: &[u8]) -> Case {
        self.body = body.to_vec();
        self
    }

    fn expect(mut self, status: u16, code: &'static str) -> Case {
        self.status = status;
        self.code = code;
        self
    }

    fn recorded(mut self) -> Case {
        self.records_answer = true;
        self
    }
}

/// The boundary for bad requests: the problem it gets, and nothing changed.
async fn check(world: &World, case: &Case) {
    let before = snapshot(world).await;
    let headers: Vec<(&str, &[u8])> = case.headers.iter().map(|(name, value)| (*name, value.as_slice())).collect();
    let reply = world.app.request(case.method, &case.path, &headers, case.body.clone()).await;
    assert_problem(&reply, case.status, case.code, &case.name);
    let mut after = snapshot(world).await;
    assert_eq!(after.balance, WORLD_BALANCE, "{}", case.name);
    if case.records_answer {
        assert!(after.journal_sequence >= before.journal_sequence, "{}", case.name);
        after.journal_sequence = before.journal_sequence;
    }
    assert_eq!(after, before, "{}: a rejected request changed something", case.name);
}

async fn check_all(world: &World, cases: &[Case]) {
    for case in cases {
        check(world, case).await;
    }
}

fn topup_body(amount: &str) -> String {
    json!({ "amount": amount, "channel": "wechat", "channel_txn_id": unique("t") }).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_wrong_content_types_and_unknown_fields_are_refused() {
    let world = world().await;
    let admin = world.app.admin_token.clone();
    let topups = format!("/v1/wallets/{}/topups", world.customer.wallet_id);
    let codes = format!("/v1/wallets/{}/payment-codes", world.customer.wallet_id);
    let refunds = format!("/v1/payments/{}/refunds", world.payment_id);
    let merchant = world.merchant.token.clone();
    let customer = world.customer.token.clone();
    let payment =
        |extra: &str| format!(r#"{{"payment_code":"{}","amount":"1.00","order_ref":"o-1"{extra}}}"#, world.fresh_code);
    let cases = vec![
        // Syntax: 400 malformed_json.
        Case::post("topup: truncated JSON", &topups, &admin, r#"{"amount":"1.00","#, true)
            .expect(400, "malformed_json"),
        Case::post("topup: empty body", &topups, &admin, "", true).expect(400, "malformed_json"),
        Case::post("topup: trailing garbage", &topups, &admin, &format!("{} x", topup_body("1.00")), true)
            .expect(400, "malformed_json"),
        Case::post("topup: invalid UTF-8", &topups, &admin, "", true)
            .body_bytes(b"{\"amount\":\"1.00\",\"channel\":\"wechat\",\"channel_txn_id\":\"\xff\xfe\"}")
            .expect(400, "malformed_json"),
        Case::post("payment: not JSON at all", "/v1/payments", &merchant, "not json", true)
            .expect(400, "malformed_json"),
        Case::post("refund: missing value", &refunds, &merchant, r#"{"amount": }"#, true).expect(400, "malformed_json"),
        Case::post("customer: unterminated", "/v1/customers", &admin, r#"{"name":"x""#, false)
            .expect(400, "malformed_json"),
        Case::post("token: unquoted member", "/v1/tokens", &admin, "{role:\"admin\"}", false)
            .expect(400, "malformed_json"),
        Case::post("merchant: single quotes", "/v1/merchants", &admin, "{'name':'x','fee_rate':'0'}", false)
            .expect(400, "malformed_json"),
        Case::post("payment code: two objects", &codes, &customer, "{}{}", false).expect(400, "malformed_json"),
        // Content type: 400 unsupported_media_type.
        Case::post("topup: text/plain", &topups, &admin, &topup_body("1.00"), true)
            .header("content-type", "text/plain")
            .expect(400, "unsupported_media_type"),
        Case::post("topup: no content type", &topups, &admin, &topup_body("1.00"), true)
            .without_header("content-type")
            .expect(400, "unsupported_media_type"),
        Case::post("payment: form encoded", "/v1/payments", &merchant, &payment(""), true)
            .header("content-type", "application/x-www-form-urlencoded")
            .expect(400, "unsupported_media_type"),
        Case::post("refund: application/jsonp", &refunds, &merchant, r#"{"amount":"1.00"}"#, true)
            .header("content-type", "application/jsonp")
            .expect(400, "unsupported_media_type"),
        Case::post("customer: text/json", "/v1/customers", &admin, r#"{"name":"x"}"#, false)
            .header("content-type", "text/json")
            .expect(400, "unsupported_media_type"),
        // Unknown members and wrong shapes: 422 validation_failed.
        Case::post(
            "topup: unknown member",
            &topups,
            &admin,
            &format!(r#"{{"amount":"1.00","channel":"wechat","channel_txn_id":"{}","note":"x"}}"#, unique("t")),
            true,
        )
        .expect(422, "validation_failed"),
        Case::post("payment: unknown member", "/v1/payments", &merchant, &payment(r#","tip":"1.00""#), true)
            .expect(422, "validation_failed"),
        Case::post("refund: unknown member", &refunds, &merchant, r#"{"amount":"1.00","reason":"x"}"#, true)
            .expect(422, "validation_failed"),
        Case::post("customer: unknown member", "/v1/customers", &admin, r#"{"name":"x","nickname":"y"}"#, false)
            .expect(422, "validation_failed"),
        Case::post(
            "merchant: unknown member",
            "/v1/merchants",
            &admin,
            r#"{"name":"x","fee_rate":"0","vip":true}"#,
            false,
        )
        .expect(422, "validation_failed"),
        Case::post("technician: unknown member", "/v1/technicians", &admin, r#"{"name":"x","level":3}"#, false)
            .expect(422, "validation_failed"),
        Case::post("token: unknown member", "/v1/tokens", &admin, r#"{"role":"finance","admin":true}"#, false)
            .expect(422, "validation_failed"),
        Case::post("payment code: unknown member", &codes, &customer, r#"{"ttl":3600}"#, false)
            .expect(422, "validation_failed"),
        Case::post("topup: missing member", &topups, &admin, r#"{"amount":"1.00","channel":"wechat"}"#, true)
            .expect(422, "validation_failed"),
        Case::post(
            "topup: channel is a number",
            &topups,
            &admin,
            r#"{"amount":"1.00","channel":5,"channel_txn_id":"t-5"}"#,
            true,
        )
        .expect(422, "validation_failed"),
        Case::post("topup: an array", &topups, &admin, "[]", true).expect(422, "validation_failed"),
        Case::post("topup: null", &topups, &admin, "null", true).expect(422, "validation_failed"),
        Case::post("topup: a string", &topups, &admin, r#""100.00""#, true).expect(422, "validation_failed"),
        Case::post("refund: amount null", &refunds, &merchant, r#"{"amount":null}"#, true)
            .expect(422, "validation_failed"),
        Case::post("refund: amount true", &refunds, &merchant, r#"{"amount":true}"#, true)
            .expect(422, "validation_failed"),
        Case::post("refund: amount an object", &refunds, &merchant, r#"{"amount":{"value":"1.00"}}"#, true)
            .expect(422, "validation_failed"),
        Case::post("refund: a member twice", &refunds, &merchant, r#"{"amount":"1.00","amount":"20.00"}"#, true)
            .expect(422, "validation_failed"),
        Case::post(
            "topup: deeply nested arrays",
            &topups,
            &admin,
            &format!("{}{}", "[".repeat(30_000), "]".repeat(30_000)),
            true,
        )
        .expect(422, "validation_failed"),
        Case::post(
            "refund: deeply nested amount",
            &refunds,
            &merchant,
            &format!(r#"{{"amount":{}"#, "[".repeat(60_000)),
            true,
        )
        .expect(422, "validation_failed"),
    ];
    check_all(&world, &cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_must_be_a_plain_positive_cny_decimal_string() {
    let world = world().await;
    let admin = world.app.admin_token.clone();
    let topups = format!("/v1/wallets/{}/topups", world.customer.wallet_id);
    let codes = format!("/v1/wallets/{}/payment-codes", world.customer.wallet_id);
    let refunds = format!("/v1/payments/{}/refunds", world.payment_id);
    let merchant = world.merchant.token.clone();
    let customer = world.customer.token.clone();
    let raw_topup =
        |amount: &str| format!(r#"{{"amount":{amount},"channel":"wechat","channel_txn_id":"{}"}}"#, unique("t"));
    let mut cases = Vec::new();
    // JSON numbers where money is expected.
    for number in ["10", "10.5", "1e3", "-1", "0"] {
        cases.push(
            Case::post(format!("topup: JSON number {number}"), &topups, &admin, &raw_topup(number), true)
                .expect(422, "invalid_amount"),
        );
    }
    // Strings that are not plain positive CNY amounts.
    let too_long = "1".repeat(DECIMAL_STRING_BYTES_MAX + 1);
    let refused = [
        "1e3",
        "1E3",
        "10.001",
        "0.005",
        "0",
        "0.00",
        "-5.00",
        "-0",
        "+5.00",
        " 5.00",
        "5.00 ",
        "",
        "5.",
        ".5",
        "NaN",
        "Infinity",
        "1,000.00",
        "0x10",
        "¥5.00",
        "10000000.01",
        "99999999999999999999999999999",
        &too_long,
    ];
    for amount in refused {
        cases.push(
            Case::post(format!("topup: amount {amount:?}"), &topups, &admin, &topup_body(amount), true)
                .expect(422, "invalid_amount"),
        );
    }
    let payment =
        |amount: &str| json!({ "payment_code": world.fresh_code, "amount": amount, "order_ref": "o-1" }).to_string();
    for amount in ["10.001", "0", "-1.00", "1e1"] {
        cases.push(
            Case::post(format!("payment: amount {amount:?}"), "/v1/payments", &merchant, &payment(amount), true)
                .expect(422, "invalid_amount"),
        );
    }
    cases.push(
        Case::post(
            "payment: JSON number",
            "/v1/payments",
            &merchant,
            &format!(r#"{{"payment_code":"{}","amount":5,"order_ref":"o-1"}}"#, world.fresh_code),
            true,
        )
        .expect(422, "invalid_amount"),
    );
    for amount in ["0.001", "0", "-1.00", "5e0"] {
        cases.push(
            Case::post(
                format!("refund: amount {amount:?}"),
                &refunds,
                &merchant,
                &json!({ "amount": amount }).to_string(),
                true,
            )
            .expect(422, "invalid_amount"),
        );
    }
    cases.push(
        Case::post("refund: JSON number", &refunds, &merchant, r#"{"amount":5}"#, true).expect(422, "invalid_amount"),
    );
    for max_amount in ["0.001", "0", "-1.00"] {
        cases.push(
            Case::post(
                format!("payment code: max_amount {max_amount:?}"),
                &codes,
                &customer,
                &json!({ "max_amount": max_amount }).to_string(),
                false,
            )
            .expect(422, "invalid_amount"),
        );
    }
    cases.push(
        Case::post("payment code: max_amount a number", &codes, &customer, r#"{"max_amount":5}"#, false)
            .expect(422, "invalid_amount"),
    );
    cases.push(
        Case::post("merchant: fee_rate a number", "/v1/merchants", &admin, r#"{"name":"x","fee_rate":0.006}"#, false)
            .expect(422, "invalid_amount"),
    );
    for fee_rate in ["0.5", "-0.01", "0.0000001"] {
        cases.push(
            Case::post(
                format!("merchant: fee_rate {fee_rate}"),
                "/v1/merchants",
                &admin,
                &json!({ "name": "x", "fee_rate": fee_rate }).to_string(),
                false,
            )
            .expect(422, "invalid_fee_rate"),
        );
    }
    check_all(&world, &cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_fields_unknown_ids_and_business_rejections_have_their_codes() {
    let world = world().await;
    let admin = world.app.admin_token.clone();
    let wallet = world.customer.wallet_id.clone();
    let topups = format!("/v1/wallets/{wallet}/topups");
    let refunds = format!("/v1/payments/{}/refunds", world.payment_id);
    let merchant = world.merchant.token.clone();
    let customer = world.customer.token.clone();
    let nobody = uuid::Uuid::new_v4().to_string();
    let topup =
        |channel: &str, txn: &str| json!({ "amount": "1.00", "channel": channel, "channel_txn_id": txn }).to_string();
    let payment = |code: &str, amount: &str, order_ref: &str| {
        json!({ "payment_code": code, "amount": amount, "order_ref": order_ref }).to_string()
    };
    let customer_body = |body: serde_json::Value| body.to_string();
    let cases = vec![
        // Field validation.
        Case::post("topup: unknown channel", &topups, &admin, &topup("paypal", &unique("t")), true)
            .expect(422, "unknown_channel"),
        Case::post("topup: channel_txn_id with a space", &topups, &admin, &topup("wechat", "a b"), true)
            .expect(422, "validation_failed"),
        Case::post("topup: empty channel_txn_id", &topups, &admin, &topup("wechat", ""), true)
            .expect(422, "validation_failed"),
        Case::post("topup: channel_txn_id with a slash", &topups, &admin, &topup("bank", "../../etc"), true)
            .expect(422, "validation_failed"),
        Case::post(
            "payment: empty order_ref",
            "/v1/payments",
            &merchant,
            &payment(&world.fresh_code, "1.00", ""),
            true,
        )
        .expect(422, "validation_failed"),
        Case::post(
            "payment: order_ref with markup",
            "/v1/payments",
            &merchant,
            &payment(&world.fresh_code, "1.00", "<script>"),
            true,
        )
        .expect(422, "validation_failed"),
        Case::post("customer: empty name", "/v1/customers", &admin, r#"{"name":""}"#, false)
            .expect(422, "validation_failed"),
        Case::post("customer: blank name", "/v1/customers", &admin, r#"{"name":"   "}"#, false)
            .expect(422, "validation_failed"),
        Case::post("customer: control character", "/v1/customers", &admin, r#"{"name":"a\u0000b"}"#, false)
            .expect(422, "validation_failed"),
        Case::post(
            "customer: household 0",
            "/v1/customers",
            &admin,
            &customer_body(json!({"name":"x","household_size":0})),
            false,
        )
        .expect(422, "validation_failed"),
        Case::post(
            "customer: household 256",
            "/v1/customers",
            &admin,
            &customer_body(json!({"name":"x","household_size":256})),
            false,
        )
        .expect(422, "validation_failed"),
        Case::post(
            "customer: household -1",
            "/v1/customers",
            &admin,
            &customer_body(json!({"name":"x","household_size":-1})),
            false,
        )
        .expect(422, "validation_failed"),
        Case::post(
            "customer: household a string",
            "/v1/customers",
            &admin,
            &customer_body(json!({"name":"x","household_size":"3"})),
            false,
        )
        .expect(422, "validation_failed"),
        Case::post(
            "customer: unknown tariff",
            "/v1/customers",
            &admin,
            &customer_body(json!({"name":"x","tariff":"gold"})),
            false,
        )
        .expect(422, "unknown_tariff"),
        Case::post(
            "customer: unknown billing mode",
            "/v1/customers",
            &admin,
            &customer_body(json!({"name":"x","billing_mode":"weekly"})),
            false,
        )
        .expect(422, "validation_failed"),
        Case::post("token: unknown role", "/v1/tokens", &admin, r#"{"role":"root"}"#, false)
            .expect(422, "validation_failed"),
        Case::post("token: customer without subject", "/v1/tokens", &admin, r#"{"role":"customer"}"#, false)
            .expect(422, "validation_failed"),
        Case::post(
            "token: admin with a subject",
            "/v1/tokens",
            &admin,
            &json!({"role":"admin","subject_id":world.customer.id}).to_string(),
            false,
        )
        .expect(422, "validation_failed"),
        Case::post(
            "token: subject not a UUID",
            "/v1/tokens",
            &admin,
            r#"{"role":"customer","subject_id":"42"}"#,
            false,
        )
        .expect(422, "validation_failed"),
        // Unknown and foreign ids: 404.
        Case::post(
            "topup: unknown wallet",
            format!("/v1/wallets/{nobody}/topups"),
            &admin,
            &topup("wechat", &unique("t")),
            true,
        )
        .expect(404, "not_found"),
        Case::post(
            "topup: wallet id not a UUID",
            "/v1/wallets/not-a-uuid/topups",
            &admin,
            &topup("wechat", &unique("t")),
            true,
        )
        .expect(404, "not_found"),
        Case::post(
            "topup: a customer id is not a wallet id",
            format!("/v1/wallets/{}/topups", world.customer.id),
            &admin,
            &topup("wechat", &unique("t")),
            true,
        )
        .expect(404, "not_found"),
        Case::get("wallet: unknown", format!("/v1/wallets/{nobody}"), &admin).expect(404, "not_found"),
        Case::get("wallet: not a UUID", "/v1/wallets/1%20OR%201=1", &admin).expect(404, "not_found"),
        Case::get("statement: unknown wallet", format!("/v1/wallets/{nobody}/statement"), &admin)
            .expect(404, "not_found"),
        Case::get("payment: unknown", format!("/v1/payments/{nobody}"), &admin).expect(404, "not_found"),
        Case::get("payment: a wallet id is not a payment id", format!("/v1/payments/{wallet}"), &admin)
            .expect(404, "not_found"),
        Case::get("customer: unknown", format!("/v1/customers/{nobody}"), &admin).expect(404, "not_found"),
        Case::post(
            "refund: unknown payment",
            format!("/v1/payments/{nobody}/refunds"),
            &merchant,
            r#"{"amount":"1.00"}"#,
            true,
        )
        .expect(404, "not_found")
        .recorded(),
        Case::post(
            "payment: unknown code",
            "/v1/payments",
            &merchant,
            &payment("280000000000000000", "1.00", "o-1"),
            true,
        )
        .expect(404, "payment_code_not_found")
        .recorded(),
        Case::post(
            "payment code: unknown wallet",
            format!("/v1/wallets/{nobody}/payment-codes"),
            &customer,
            "{}",
            false,
        )
        .expect(404, "not_found"),
        Case::post(
            "token: unknown customer",
            "/v1/tokens",
            &admin,
            &json!({"role":"customer","subject_id":nobody}).to_string(),
            false,
        )
        .expect(404, "not_found"),
        Case::post(
            "token: a customer id as a merchant",
            "/v1/tokens",
            &admin,
            &json!({"role":"merchant","subject_id":world.customer.id}).to_string(),
            false,
        )
        .expect(404, "not_found"),
        Case::get("no such route", "/v1/nope", &admin).expect(404, "not_found"),
        Case::post("no such route for POST", "/v1/wallets", &admin, "{}", true).expect(404, "not_found"),
        Case::new("wrong method", "DELETE", format!("/v1/payments/{}", world.payment_id))
            .header("authorization", &format!("Bearer {admin}"))
            .expect(405, "method_not_allowed"),
        // Business rejections.
        Case::post(
            "payment: more than the wallet holds",
            "/v1/payments",
            &merchant,
            &payment(&world.fresh_code, "80.01", "o-1"),
            true,
        )
        .expect(402, "insufficient_funds")
        .recorded(),
        Case::post("payment: a used code", "/v1/payments", &merchant, &payment(&world.used_code, "1.00", "o-2"), true)
            .expect(409, "payment_code_used")
            .recorded(),
        Case::post(
            "payment: above the code's limit",
            "/v1/payments",
            &merchant,
            &payment(&world.limited_code, "5.01", "o-3"),
            true,
        )
        .expect(422, "amount_exceeds_code_limit")
        .recorded(),
        Case::post("refund: above the payment", &refunds, &merchant, r#"{"amount":"20.01"}"#, true)
            .expect(422, "refund_exceeds_payment")
            .recorded(),
        Case::post("topup: a booked channel transaction", &topups, &admin, &topup("wechat", &world.booked_txn), true)
            .expect(409, "duplicate_channel_txn")
            .recorded(),
    ];
    check_all(&world, &cases).await;

    // A code's limit is inclusive.
    let at_limit = world.app.pay(&world.merchant, &world.limited_code, "5.00").await;
    assert_eq!(at_limit.status, 201, "a payment of exactly max_amount: {}", at_limit.text());
    world.app.fund(&wallet, "5.00").await;
    // The fresh code survived every refused attempt and still pays, once.
    let paid = world.app.pay(&world.merchant, &world.fresh_code, "80.00").await;
    assert_eq!(paid.status, 201, "{}", paid.text());
    let again = world.app.pay(&world.merchant, &world.fresh_code, "0.01").await;
    assert_problem(&again, 409, "payment_code_used", "second use of a code");
    assert_eq!(world.app.balance(&wallet).await, "0.00");
    world.app.assert_ledger_verifies().await;
}

/// Routes API.md serves without a token (operations); every other route in ROUTES needs one.
const PUBLIC_ROUTES: [&str; 3] = ["/healthz", "/metrics", "/v1/openapi.json"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_invalid_tokens_are_401_on_every_route() {
    let world = world().await;
    let route_path = |template: &str| {
        let id = if template.starts_with("/v1/wallets") {
            world.customer.wallet_id.as_str()
        } else if template.starts_with("/v1/payments") {
            world.payment_id.as_str()
        } else {
            world.customer.id.as_str()
        };
        template.replace("{id}", id)
    };
    let admin_token = world.app.admin_token.clone();
    let unknown = format!("Bearer {}", unique("gw"));
    let overlong = format!("Bearer {}", "a".repeat(257));
    let basic = format!("Basic {admin_token}");
    let no_space = format!("Bearer{admin_token}");
    let authorizations: [(&str, Option<&str>); 7] = [
        ("no Authorization", None),
        ("unknown token", Some(&unknown)),
        ("overlong token", Some(&overlong)),
        ("empty bearer", Some("Bearer ")),
        ("Basic scheme", Some(&basic)),
        ("no scheme", Some(&admin_token)),
        ("no space after Bearer", Some(&no_space)),
    ];
    let mut cases = Vec::new();
    for (method, template) in wallet_api::http::ROUTES {
        if PUBLIC_ROUTES.contains(template) {
            continue;
        }
        for (label, authorization) in &authorizations {
            let mut case = Case::new(format!("{method} {template}: {label}"), method, route_path(template));
            if *method == "POST" {
                case =
                    case.header("content-type", "application/json").header("idempotency-key", &unique("k")).body("{}");
            }
            if let Some(authorization) = authorization {
                case = case.header("authorization", authorization);
            }
            cases.push(case.expect(401, "unauthorized"));
        }
    }
    check_all(&world, &cases).await;
    // RFC 6750: a 401 names the scheme it wants.
    let reply = world.app.get("/v1/events", None).await;
    assert_eq!(reply.headers.get("www-authenticate").map(|value| value.as_bytes()), Some(&b"Bearer"[..]));
    // The public endpoints need no token.
    for path in PUBLIC_ROUTES {
        let reply = world.app.get(path, None).await;
        assert_eq!(reply.status, 200, "GET {path} without a token: {}", reply.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_moving_posts_need_a_valid_idempotency_key_and_lists_valid_parameters() {
    let world = world().await;
    let admin = world.app.admin_token.clone();
    let wallet = world.customer.wallet_id.clone();
    let topups = format!("/v1/wallets/{wallet}/topups");
    let refunds = format!("/v1/payments/{}/refunds", world.payment_id);
    let merchant = world.merchant.token.clone();
    let payment = json!({ "payment_code": world.fresh_code, "amount": "1.00", "order_ref": "o-1" }).to_string();
    let cases = vec![
        Case::post("topup without a key", &topups, &admin, &topup_body("1.00"), false)
            .expect(400, "idempotency_key_required"),
        Case::post("payment without a key", "/v1/payments", &merchant, &payment, false)
            .expect(400, "idempotency_key_required"),
        Case::post("refund without a key", &refunds, &merchant, r#"{"amount":"1.00"}"#, false)
            .expect(400, "idempotency_key_required"),
        Case::post("topup: empty key", &topups, &admin, &topup_body("1.00"), false)
            .header("idempotency-key", "")
            .expect(400, "invalid_idempotency_key"),
        Case::post("payment: key with a space", "/v1/payments", &merchant, &payment, false)
            .header("idempotency-key", "a b")
            .expect(400, "invalid_idempotency_key"),
        Case::post("refund: key with non-ASCII bytes", &refunds, &merchant, r#"{"amount":"1.00"}"#, false)
            .header_bytes("idempotency-key", "clé-é".as_bytes())
            .expect(400, "invalid_idempotency_key"),
        Case::post("topup: key one byte too long", &topups, &admin, &topup_body("1.00"), false)
            .header("idempotency-key", &"k".repeat(IDEMPOTENCY_KEY_BYTES_MAX + 1))
            .expect(400, "invalid_idempotency_key"),
        Case::post("customer: optional key, invalid", "/v1/customers", &admin, r#"{"name":"x"}"#, false)
            .header("idempotency-key", &"k".repeat(IDEMPOTENCY_KEY_BYTES_MAX + 1))
            .expect(400, "invalid_idempotency_key"),
        // Lists.
        Case::get(
            "statement: limit past the maximum",
            format!("/v1/wallets/{wallet}/statement?limit={}", PAGE_LIMIT_MAX + 1),
            &admin,
        )
        .expect(422, "validation_failed"),
        Case::get("statement: limit 0", format!("/v1/wallets/{wallet}/statement?limit=0"), &admin)
            .expect(422, "validation_failed"),
        Case::get("statement: negative limit", format!("/v1/wallets/{wallet}/statement?limit=-1"), &admin)
            .expect(422, "validation_failed"),
        Case::get("statement: limit not a number", format!("/v1/wallets/{wallet}/statement?limit=ten"), &admin)
            .expect(422, "validation_failed"),
        Case::get("statement: forged cursor", format!("/v1/wallets/{wallet}/statement?cursor=abc"), &admin)
            .expect(422, "validation_failed"),
        Case::get("statement: from not a time", format!("/v1/wallets/{wallet}/statement?from=yesterday"), &admin)
            .expect(422, "validation_failed"),
        Case::get(
            "statement: to not a date",
            format!("/v1/wallets/{wallet}/statement?to=2026-02-30T00:00:00Z"),
            &admin,
        )
        .expect(422, "validation_failed"),
        Case::get("statement: unknown parameter", format!("/v1/wallets/{wallet}/statement?sort=desc"), &admin)
            .expect(422, "validation_failed"),
        Case::get("events: limit past the maximum", format!("/v1/events?limit={}", PAGE_LIMIT_MAX + 1), &admin)
            .expect(422, "validation_failed"),
        Case::get("events: limit 0", "/v1/events?limit=0", &admin).expect(422, "validation_failed"),
        Case::get("events: after not a cursor", "/v1/events?after=xyz", &admin).expect(422, "validation_failed"),
        Case::get("events: huge limit", "/v1/events?limit=99999999999999999999999", &admin)
            .expect(422, "validation_failed"),
    ];
    check_all(&world, &cases).await;
}

/// The boundary for named limits: the request at the bound is accepted, the one past it is refused
/// with `status` and `code`, and the ledger stays intact.
async fn check_limit(
    app: &TestApp,
    name: &str,
    at_bound: &common::Reply,
    past_bound: &common::Reply,
    status: u16,
    code: &str,
) {
    assert!((200..300).contains(&at_bound.status), "{name}: at the bound: {}", at_bound.text());
    assert_problem(past_bound, status, code, &format!("{name}: one past the bound"));
    app.assert_ledger_verifies().await;
}

/// A unique reference of exactly `length` bytes.
fn reference_of_length(length: usize) -> String {
    let mut tail = uuid::Uuid::new_v4().simple().to_string();
    tail.truncate(8);
    format!("{}{tail}", "r".repeat(length - tail.len()))
}

async fn topup_with_body(app: &TestApp, path: &str, body: &str) -> common::Reply {
    app.post(path, Some(&app.admin_token), body, Some(&unique("k"))).await
}

async fn topup_with_key(app: &TestApp, path: &str, key: &str) -> common::Reply {
    app.post(path, Some(&app.admin_token), &topup_body("1.00"), Some(key)).await
}

/// A raw top-up body (`application/json; charset=utf-8`, which is JSON too).
async fn topup_with_raw_body(app: &TestApp, path: &str, body: Vec<u8>) -> common::Reply {
    let authorization = format!("Bearer {}", app.admin_token);
    let key = unique("size");
    let headers: Vec<(&str, &[u8])> = vec![
        ("content-type", b"application/json; charset=utf-8"),
        ("authorization", authorization.as_bytes()),
        ("idempotency-key", key.as_bytes()),
    ];
    app.request("POST", path, &headers, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_named_limit_accepts_its_bound_and_refuses_one_more() {
    let app = spawn_app().await;
    let customer = app.customer("Limits").await;
    let topups = format!("/v1/wallets/{}/topups", customer.wallet_id);

    // Request body: exactly REQUEST_BODY_BYTES_MAX (JSON padded with spaces) is read; one more is 413.
    let padded = |size: usize| {
        let mut body = topup_body("1.00").into_bytes();
        body.resize(size, b' ');
        body
    };
    let at_bound = topup_with_raw_body(&app, &topups, padded(REQUEST_BODY_BYTES_MAX)).await;
    assert_eq!(app.balance(&customer.wallet_id).await, "1.00");
    let past_bound = topup_with_raw_body(&app, &topups, padded(REQUEST_BODY_BYTES_MAX + 1)).await;
    check_limit(&app, "request body", &at_bound, &past_bound, 413, "payload_too_large").await;
    assert_eq!(app.balance(&customer.wallet_id).await, "1.00", "the oversized top-up moved no money");

    // Idempotency-Key length.
    let at_bound = topup_with_key(&app, &topups, &"k".repeat(IDEMPOTENCY_KEY_BYTES_MAX)).await;
    let past_bound = topup_with_key(&app, &topups, &"k".repeat(IDEMPOTENCY_KEY_BYTES_MAX + 1)).await;
    check_limit(&app, "Idempotency-Key", &at_bound, &past_bound, 400, "invalid_idempotency_key").await;
    assert_eq!(app.balance(&customer.wallet_id).await, "2.00");

    // Page size, on both lists.
    let statement = |limit: usize| format!("/v1/wallets/{}/statement?limit={limit}", customer.wallet_id);
    let at_bound = app.get(&statement(PAGE_LIMIT_MAX), Some(&app.admin_token)).await;
    let past_bound = app.get(&statement(PAGE_LIMIT_MAX + 1), Some(&app.admin_token)).await;
    check_limit(&app, "statement limit", &at_bound, &past_bound, 422, "validation_failed").await;
    let at_bound = app.get(&format!("/v1/events?limit={PAGE_LIMIT_MAX}"), Some(&app.admin_token)).await;
    let past_bound = app.get(&format!("/v1/events?limit={}", PAGE_LIMIT_MAX + 1), Some(&app.admin_token)).await;
    check_limit(&app, "events limit", &at_bound, &past_bound, 422, "validation_failed").await;

    // Decimal string length: a valid amount written in DECIMAL_STRING_BYTES_MAX characters passes.
    let long_amount = |length: usize| format!("{}1.00", "0".repeat(length - 4));
    let at_bound = topup_with_body(&app, &topups, &topup_body(&long_amount(DECIMAL_STRING_BYTES_MAX))).await;
    let past_bound = topup_with_body(&app, &topups, &topup_body(&long_amount(DECIMAL_STRING_BYTES_MAX + 1))).await;
    check_limit(&app, "decimal string length", &at_bound, &past_bound, 422, "invalid_amount").await;
    assert_eq!(app.balance(&customer.wallet_id).await, "3.00");
    // API.md refuses "more decimals than CNY"; the service reads that as the value's scale, so
    // trailing zeros past the second decimal are the same amount and accepted.
    let trailing_zeros = topup_with_body(&app, &topups, &topup_body("1.000")).await;
    assert_eq!((trailing_zeros.status, trailing_zeros.json["amount"].as_str()), (201, Some("1.00")));
    let past_scale = topup_with_body(&app, &topups, &topup_body("1.001")).await;
    assert_problem(&past_scale, 422, "invalid_amount", "a third significant decimal");
    assert_eq!(app.balance(&customer.wallet_id).await, "4.00");

    // References (channel_txn_id) of REFERENCE_BYTES_MAX bytes.
    let reference = |length: usize| {
        json!({ "amount": "1.00", "channel": "bank", "channel_txn_id": reference_of_length(length) }).to_string()
    };
    let at_bound = topup_with_body(&app, &topups, &reference(REFERENCE_BYTES_MAX)).await;
    let past_bound = topup_with_body(&app, &topups, &reference(REFERENCE_BYTES_MAX + 1)).await;
    check_limit(&app, "channel_txn_id length", &at_bound, &past_bound, 422, "validation_failed").await;
    assert_eq!(app.balance(&customer.wallet_id).await, "5.00");

    // The largest single amount.
    let at_bound = topup_with_body(&app, &topups, &topup_body("10000000.00")).await;
    let past_bound = topup_with_body(&app, &topups, &topup_body("10000000.01")).await;
    check_limit(&app, "amount", &at_bound, &past_bound, 422, "invalid_amount").await;
    assert_eq!(app.balance(&customer.wallet_id).await, "10000005.00");

    // Names (in characters, not bytes) and household sizes.
    let customer_with = |body: serde_json::Value| {
        let app = &app;
        async move { app.post("/v1/customers", Some(&app.admin_token), &body.to_string(), None).await }
    };
    let at_bound = customer_with(json!({ "name": "名".repeat(NAME_CHARS_MAX) })).await;
    let past_bound = customer_with(json!({ "name": "名".repeat(NAME_CHARS_MAX + 1) })).await;
    check_limit(&app, "name length", &at_bound, &past_bound, 422, "validation_failed").await;
    let at_bound = customer_with(json!({ "name": "Big Family", "household_size": HOUSEHOLD_SIZE_MAX })).await;
    let past_bound = customer_with(json!({ "name": "Bigger Family", "household_size": HOUSEHOLD_SIZE_MAX + 1 })).await;
    check_limit(&app, "household size", &at_bound, &past_bound, 422, "validation_failed").await;
}

/// Payment codes live PAYMENT_CODE_TTL_SECONDS: usable up to the last microsecond before
/// `expires_at`, refused (422 payment_code_expired) from then on. The server runs on a hand-moved
/// clock so the test does not wait a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_codes_expire_after_their_time_to_live() {
    let app = spawn_app_with_manual_clock().await;
    let clock = app.clock.clone().expect("manual clock");
    let customer = app.customer("Clocked").await;
    let merchant = app.merchant("Clocked Shop").await;
    app.fund(&customer.wallet_id, "50.00").await;
    let codes_path = format!("/v1/wallets/{}/payment-codes", customer.wallet_id);
    let issued = app.post_ok(&codes_path, &customer.token, json!({}), None, 201).await;
    let last_valid = app.post_ok(&codes_path, &customer.token, json!({}), None, 201).await;
    let expired = app.post_ok(&codes_path, &customer.token, json!({}), None, 201).await;
    assert_eq!(issued.json["expires_at"], expired.json["expires_at"], "the clock stood still");

    let ttl_micros = PAYMENT_CODE_TTL_SECONDS * 1_000_000;
    clock.advance_micros(ttl_micros / 2);
    let paid = app.pay(&merchant, &issued.str("code"), "10.00").await;
    assert_eq!(paid.status, 201, "half-way through its life: {}", paid.text());

    clock.advance_micros(ttl_micros / 2 - 1);
    let paid = app.pay(&merchant, &last_valid.str("code"), "10.00").await;
    assert_eq!(paid.status, 201, "one microsecond before expires_at: {}", paid.text());
    let balance = app.balance(&customer.wallet_id).await;
    let events = app.events(&app.admin_token).await.len();

    clock.advance_micros(1);
    let refused = app.pay(&merchant, &expired.str("code"), "10.00").await;
    assert_problem(&refused, 422, "payment_code_expired", "at expires_at");
    clock.advance_micros(3600 * 1_000_000);
    let refused = app.pay(&merchant, &expired.str("code"), "10.00").await;
    assert_problem(&refused, 422, "payment_code_expired", "an hour later");
    assert_eq!(balance, "30.00");
    assert_eq!(app.balance(&customer.wallet_id).await, balance);
    assert_eq!(app.events(&app.admin_token).await.len(), events);
    app.assert_ledger_verifies().await;
}
