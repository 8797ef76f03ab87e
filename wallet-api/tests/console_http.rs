#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The web console's security rules over plain HTTP (no browser): sign-in turns a token into a
//! session cookie (HttpOnly, SameSite=Strict, Secure behind TLS) and the token never appears in a
//! page; another principal's pages answer 404/403; a POST without the session's CSRF token, or
//! from another origin, is refused; sign-out ends the session; a money form's idempotency key
//! makes a double submit charge once.

mod common;

use common::{spawn_app, unique, TestApp};

/// A browser-like client: one cookie (the session) and the last page's CSRF token.
struct Browser<'a> {
    app: &'a TestApp,
    session: String,
}

fn set_cookies(reply: &common::Reply) -> Vec<String> {
    reply.headers.get_all("set-cookie").iter().map(|value| value.to_str().unwrap().to_owned()).collect()
}

fn cookie_value(cookies: &[String], name: &str) -> Option<String> {
    cookies.iter().find_map(|cookie| cookie.strip_prefix(&format!("{name}="))?.split(';').next().map(str::to_owned))
}

/// The value of the first hidden `name` field of a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} field in {html}")) + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

fn form(fields: &[(&str, &str)]) -> Vec<u8> {
    fields
        .iter()
        .map(|(name, value)| {
            format!("{name}={}", value.replace('%', "%25").replace('&', "%26").replace('+', "%2B").replace(' ', "+"))
        })
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

async fn sign_in_reply(app: &TestApp, token: &str, extra: &[(&str, &[u8])]) -> common::Reply {
    let page = app.get("/console/sign-in", None).await;
    assert_eq!(page.status, 200);
    let pre = cookie_value(&set_cookies(&page), "gw_sign_in").expect("sign-in cookie");
    let csrf = hidden(&page.text(), "csrf");
    assert_eq!(pre, csrf, "the sign-in form's token is a double-submit cookie");
    let cookie = format!("gw_sign_in={pre}");
    let mut headers: Vec<(&str, &[u8])> =
        vec![("content-type", b"application/x-www-form-urlencoded"), ("cookie", cookie.as_bytes())];
    headers.extend_from_slice(extra);
    app.request("POST", "/console/sign-in", &headers, form(&[("csrf", &csrf), ("token", token)])).await
}

async fn sign_in<'a>(app: &'a TestApp, token: &str) -> Browser<'a> {
    let reply = sign_in_reply(app, token, &[]).await;
    assert_eq!(reply.status, 303, "{}", reply.text());
    let session = cookie_value(&set_cookies(&reply), "gw_session").expect("session cookie");
    Browser { app, session }
}

impl Browser<'_> {
    async fn get(&self, path: &str) -> common::Reply {
        let cookie = format!("gw_session={}", self.session);
        self.app.request("GET", path, &[("cookie", cookie.as_bytes())], Vec::new()).await
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)], extra: &[(&str, &[u8])]) -> common::Reply {
        let cookie = format!("gw_session={}", self.session);
        let mut headers: Vec<(&str, &[u8])> =
            vec![("content-type", b"application/x-www-form-urlencoded"), ("cookie", cookie.as_bytes())];
        headers.extend_from_slice(extra);
        self.app.request("POST", path, &headers, form(fields)).await
    }

    /// The CSRF token of a page the session can see.
    async fn csrf(&self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, 200, "GET {path}: {}", page.text());
        hidden(&page.text(), "csrf")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_makes_a_strict_session_cookie_and_the_token_never_reaches_a_page() {
    let app = spawn_app().await;
    let customer = app.customer("Wang Fang").await;
    app.fund(&customer.wallet_id, "100.00").await;

    let refused = sign_in_reply(&app, "gw_not_a_token_at_all_0000000000", &[]).await;
    assert_eq!(refused.status, 401);
    assert!(!refused.text().contains("gw_not_a_token_at_all"), "a refused token is not echoed");

    let reply = sign_in_reply(&app, &customer.token, &[]).await;
    assert_eq!(reply.status, 303);
    // What Chromium sends with a same-origin form post. Its `Origin` is the real one only because
    // the page's referrer policy is not `no-referrer` (under which a POST's `Origin` is `null`).
    let page = app.get("/console/sign-in", None).await;
    assert_eq!(page.headers["referrer-policy"], "same-origin");
    let as_chromium = sign_in_reply(
        &app,
        &customer.token,
        &[("origin", app.base_url.as_bytes()), ("sec-fetch-site", b"same-origin")],
    )
    .await;
    assert_eq!(as_chromium.status, 303, "{}", as_chromium.text());
    let opaque = sign_in_reply(&app, &customer.token, &[("origin", b"null")]).await;
    assert_eq!(opaque.status, 403, "an opaque origin is refused");
    let cookies = set_cookies(&reply);
    let session = cookies.iter().find(|cookie| cookie.starts_with("gw_session=")).unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(flag), "{session} lacks {flag}");
    }
    assert!(!session.contains("Secure"), "plain HTTP: no Secure flag");
    assert!(!session.contains(&customer.token), "the cookie carries a session id, not the token");
    let behind_tls = sign_in_reply(&app, &customer.token, &[("x-forwarded-proto", b"https")]).await;
    assert!(set_cookies(&behind_tls)
        .iter()
        .any(|cookie| cookie.starts_with("gw_session=") && cookie.ends_with("; Secure")));

    let browser = sign_in(&app, &customer.token).await;
    let id = &customer.id;
    for path in [
        format!("/console/customers/{id}"),
        format!("/console/customers/{id}/bills"),
        format!("/console/customers/{id}/statement"),
        format!("/console/customers/{id}/payment-code"),
        format!("/console/customers/{id}?lang=en"),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, 200, "GET {path}: {}", page.text());
        assert!(page.content_type.starts_with("text/html"));
        assert_eq!(page.headers["cache-control"], "no-store");
        assert!(page.headers.contains_key("content-security-policy"));
        assert!(!page.text().contains(&customer.token), "{path} shows the token");
    }
    assert!(browser.get(&format!("/console/customers/{id}?lang=en")).await.text().contains("Balance"));
    assert!(browser.get(&format!("/console/customers/{id}")).await.text().contains("余额"));

    // The admin walks every page; no page shows the admin token.
    let admin = sign_in(&app, &app.admin_token).await;
    for path in [
        "/console/finance",
        "/console/finance/trial-balance",
        "/console/finance/trial-balance?as_of=2026-01-01T00%3A00",
        "/console/finance/reconciliations",
        "/console/finance/batches",
        "/console/finance/disputes",
        "/console/finance/verify",
        "/console/finance/credit",
        &format!("/console/finance/credit?customer={id}"),
        "/console/customers",
        &format!("/console/customers/{id}"),
        &format!("/console/customers/{id}/statement"),
        "/console/merchant",
        "/console/merchant/settlements",
    ] {
        let page = admin.get(path).await;
        assert_eq!(page.status, 200, "GET {path}: {}", page.text());
        assert!(!page.text().contains(&app.admin_token), "{path} shows the admin token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_principals_pages_answer_404_or_403() {
    let app = spawn_app().await;
    let alice = app.customer("Alice").await;
    let bob = app.customer("Bob").await;
    let merchant = app.merchant("Corner shop").await;
    let payment = app.paid_after_funding(&merchant, &bob).await;

    let as_alice = sign_in(&app, &alice.token).await;
    for path in [
        format!("/console/customers/{}", bob.id),
        format!("/console/customers/{}/bills", bob.id),
        format!("/console/customers/{}/statement", bob.id),
        format!("/console/customers/{}/payment-code", bob.id),
        "/console/customers/not-a-uuid".to_owned(),
    ] {
        assert_eq!(as_alice.get(&path).await.status, 404, "{path}");
    }
    for path in ["/console/finance", "/console/finance/verify", "/console/customers", "/console/merchant"] {
        assert_eq!(as_alice.get(path).await.status, 403, "{path}");
    }
    let as_merchant = sign_in(&app, &merchant.token).await;
    assert_eq!(as_merchant.get(&format!("/console/customers/{}", bob.id)).await.status, 404);
    assert_eq!(as_merchant.get("/console/finance/trial-balance").await.status, 403);
    // Alice cannot refund Bob's payment even with a valid form of her own.
    let csrf = as_alice.csrf(&format!("/console/customers/{}", alice.id)).await;
    let refund = as_alice
        .post(
            &format!("/console/payments/{payment}/refund"),
            &[("csrf", &csrf), ("amount", "1.00"), ("idempotency_key", "k1")],
            &[],
        )
        .await;
    assert_eq!(refund.status, 403, "{}", refund.text());
    // Without a session, pages send you to sign in.
    let anonymous = app.get(&format!("/console/customers/{}", alice.id), None).await;
    assert_eq!(anonymous.status, 303);
    assert_eq!(anonymous.headers["location"], "/console/sign-in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_the_csrf_token_or_from_another_origin_are_refused() {
    let app = spawn_app().await;
    let customer = app.customer("Zhao Lei").await;
    app.fund(&customer.wallet_id, "50.00").await;
    let browser = sign_in(&app, &customer.token).await;
    let path = format!("/console/customers/{}/payment-code", customer.id);
    let csrf = browser.csrf(&path).await;

    let missing = browser.post(&path, &[("max_amount", ""), ("idempotency_key", &unique("k"))], &[]).await;
    assert_eq!(missing.status, 403, "{}", missing.text());
    assert!(missing.text().contains("csrf_failed"));
    let wrong = browser.post(&path, &[("csrf", "0".repeat(64).as_str()), ("idempotency_key", &unique("k"))], &[]).await;
    assert_eq!(wrong.status, 403);
    let cross_origin = browser
        .post(&path, &[("csrf", &csrf), ("idempotency_key", &unique("k"))], &[("origin", b"http://evil.example")])
        .await;
    assert_eq!(cross_origin.status, 403);
    let cross_site = browser
        .post(&path, &[("csrf", &csrf), ("idempotency_key", &unique("k"))], &[("sec-fetch-site", b"cross-site")])
        .await;
    assert_eq!(cross_site.status, 403);
    let ok = browser.post(&path, &[("csrf", &csrf), ("max_amount", ""), ("idempotency_key", &unique("k"))], &[]).await;
    assert_eq!(ok.status, 201, "{}", ok.text());
    assert!(ok.text().contains("<svg"), "the code is shown as a QR code");

    // Sign-in without its cookie, and sign-out without the token, are refused too.
    let page = app.get("/console/sign-in", None).await;
    let csrf_in = hidden(&page.text(), "csrf");
    let no_cookie = app
        .request(
            "POST",
            "/console/sign-in",
            &[("content-type", b"application/x-www-form-urlencoded")],
            form(&[("csrf", &csrf_in), ("token", &customer.token)]),
        )
        .await;
    assert_eq!(no_cookie.status, 403);
    assert_eq!(browser.post("/console/sign-out", &[], &[]).await.status, 403);
    assert_eq!(browser.get(&path).await.status, 200, "the refused sign-out left the session");

    // Sign-out ends the session.
    let out = browser.post("/console/sign-out", &[("csrf", &csrf)], &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(browser.get(&path).await.status, 303, "the session is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_submitted_charge_moves_money_once() {
    let app = spawn_app().await;
    let customer = app.customer("Sun Li").await;
    app.fund(&customer.wallet_id, "100.00").await;
    let merchant = app.merchant("Gas appliances").await;
    let code = app.payment_code(&customer).await;
    let browser = sign_in(&app, &merchant.token).await;
    let page = browser.get("/console/merchant").await;
    let (csrf, key) = (hidden(&page.text(), "csrf"), hidden(&page.text(), "idempotency_key"));
    let fields = [
        ("csrf", csrf.as_str()),
        ("idempotency_key", key.as_str()),
        ("payment_code", code.as_str()),
        ("amount", "12.50"),
        ("order_ref", ""),
    ];
    for attempt in 0..2 {
        let reply = browser.post("/console/merchant/charge", &fields, &[]).await;
        assert_eq!(reply.status, 201, "attempt {attempt}: {}", reply.text());
        assert!(reply.text().contains("12.50"));
    }
    assert_eq!(app.balance(&customer.wallet_id).await, "87.50", "charged once");
}

trait Fixtures {
    async fn paid_after_funding(
        &self,
        merchant: &common::MerchantFixture,
        customer: &common::CustomerFixture,
    ) -> String;
}

impl Fixtures for TestApp {
    async fn paid_after_funding(
        &self,
        merchant: &common::MerchantFixture,
        customer: &common::CustomerFixture,
    ) -> String {
        self.fund(&customer.wallet_id, "20.00").await;
        self.paid(merchant, customer, "5.00").await
    }
}
