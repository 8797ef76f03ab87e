//! The web console: server-rendered HTML (maud) for customers, merchants and finance staff,
//! served by `gaswallet serve` itself at `/` and `/console/...`.
//!
//! The console adds no business rules: every page calls the same [`Service`] methods the JSON
//! handlers call, with the signed-in [`Principal`], so a principal sees exactly what the API would
//! let it see (the few role checks the API makes in its handlers, such as "finance reports are for
//! staff", are made here the same way). Money-moving forms carry an idempotency key minted when the
//! form is rendered, so a double submit replays the first answer as an API retry would.
//!
//! Layout: [`session`] (the session table and cookies), [`i18n`] (zh-CN and English words),
//! [`svg`] (charts), [`customer`], [`merchant`] and [`finance`] (the pages of each role).
//!
//! Security: the API token is read once from the sign-in form and never written into HTML, URLs
//! or logs; the cookie carries only a random session id (HttpOnly, SameSite=Strict, Secure behind
//! TLS); every POST checks the session's CSRF token and refuses cross-site `Origin` and
//! `Sec-Fetch-Site`; every page is `Cache-Control: no-store` with a strict Content-Security-Policy.

pub mod customer;
pub mod finance;
pub mod i18n;
pub mod merchant;
pub mod session;
pub mod svg;

use crate::http::AppState;
use crate::service::error::{ErrorClass, ServiceError};
use crate::service::model::{Principal, Role};
use crate::service::IdempotencyRequest;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use i18n::{t, Lang};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use session::{Session, Sessions, LANG_COOKIE, SESSION_COOKIE, SIGN_IN_COOKIE};
use std::collections::HashMap;

/// The stylesheet, embedded in the binary.
pub const CONSOLE_CSS: &str = include_str!("assets/console.css");
/// Longest API token accepted by the sign-in form.
pub const TOKEN_BYTES_MAX: usize = 256;
/// Longest idempotency key a form may carry (the forms mint 32 hex characters).
pub const FORM_KEY_BYTES_MAX: usize = 64;
/// How long the language cookie lasts.
const LANG_COOKIE_SECONDS: u64 = 365 * 24 * 3600;
/// How long the sign-in form's CSRF cookie lasts.
const SIGN_IN_COOKIE_SECONDS: u64 = 3600;

/// What the console keeps between requests: the sessions.
#[derive(Debug, Default)]
pub struct ConsoleState {
    pub sessions: Sessions,
}

/// The console's routes (HTML, not part of the JSON API's `ROUTES` or its OpenAPI document).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/console", get(home))
        .route("/console/assets/console.css", get(stylesheet))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .merge(customer::router())
        .merge(merchant::router())
        .merge(finance::router())
}

async fn root() -> Redirect {
    Redirect::to("/console")
}

async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], CONSOLE_CSS)
        .into_response()
}

/// What every console request knows before its handler runs: the language, the session (if
/// any), whether the request came over TLS, and whether it looks cross-site.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub lang: Lang,
    /// Set when `?lang=` chose the language: the response remembers it in a cookie.
    lang_chosen: bool,
    pub path: String,
    pub secure: bool,
    pub session_id: Option<String>,
    pub session: Option<Session>,
    cross_site: bool,
    sign_in_csrf: Option<String>,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Ctx, Response> {
        let headers = &parts.headers;
        let cookies = headers.get(header::COOKIE).and_then(|value| value.to_str().ok()).unwrap_or("");
        let query_lang = parts
            .uri
            .query()
            .and_then(|query| query.split('&').find_map(|pair| pair.strip_prefix("lang=")).and_then(Lang::parse));
        let lang =
            query_lang.or_else(|| session::cookie(cookies, LANG_COOKIE).and_then(Lang::parse)).unwrap_or_default();
        let session_id = session::cookie(cookies, SESSION_COOKIE).map(str::to_owned);
        let session = session_id.as_deref().and_then(|id| state.console.sessions.get(id));
        Ok(Ctx {
            lang,
            lang_chosen: query_lang.is_some(),
            path: parts.uri.path().to_owned(),
            secure: is_secure(headers),
            session_id,
            session,
            cross_site: is_cross_site(headers),
            sign_in_csrf: session::cookie(cookies, SIGN_IN_COOKIE).map(str::to_owned),
        })
    }
}

/// A signed-in request: the context and the session's principal. Without a live session the
/// request is redirected to the sign-in page.
#[derive(Debug, Clone)]
pub struct Signed {
    pub ctx: Ctx,
    pub principal: Principal,
    pub csrf_token: String,
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Signed, Response> {
        let ctx = Ctx::from_request_parts(parts, state).await?;
        match ctx.session.clone() {
            Some(session) => Ok(Signed { principal: session.principal, csrf_token: session.csrf_token, ctx }),
            None => Err(Redirect::to("/console/sign-in").into_response()),
        }
    }
}

fn is_secure(headers: &HeaderMap) -> bool {
    let forwarded = headers.get("x-forwarded-proto").and_then(|value| value.to_str().ok());
    forwarded.is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// A request is cross-site when the browser says so (`Sec-Fetch-Site`) or when its `Origin`
/// names another host than the one it was sent to.
fn is_cross_site(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        if !matches!(site, "same-origin" | "none") {
            return true;
        }
    }
    match (text("origin"), text("host")) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            origin_host != host
        }
        _ => false,
    }
}

impl Ctx {
    pub fn t(&self, id: &str) -> &'static str {
        t(self.lang, id)
    }

    /// A whole page: the layout around `body`, with the headers every page carries.
    pub fn page(&self, status: StatusCode, title: &str, body: Markup) -> Response {
        let signed = self.session.as_ref();
        let markup = html! {
            (DOCTYPE)
            html lang=(self.lang.html()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · " (self.t("app")) }
                    link rel="stylesheet" href="/console/assets/console.css";
                }
                body {
                    header.top {
                        a.brand href="/console" { (self.t("app")) }
                        @if let Some(session) = signed {
                            nav { (self.nav(&session.principal)) }
                        }
                        div.right {
                            @if self.lang == Lang::Zh {
                                a.lang href={ (self.path) "?lang=en" } lang="en" { "English" }
                            } @else {
                                a.lang href={ (self.path) "?lang=zh" } lang="zh-CN" { "中文" }
                            }
                            @if let Some(session) = signed {
                                span.who { (self.t("signed_in_as")) ": " (role_name(self.lang, session.principal.role)) }
                                form.inline method="post" action="/console/sign-out" {
                                    input type="hidden" name="csrf" value=(session.csrf_token);
                                    button type="submit" id="sign-out" { (self.t("sign_out")) }
                                }
                            }
                        }
                    }
                    main {
                        h1 { (title) }
                        (body)
                    }
                }
            }
        };
        let mut response = (status, markup.into_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        secure_headers(headers);
        if self.lang_chosen {
            let cookie = session::set_cookie(LANG_COOKIE, self.lang.code(), LANG_COOKIE_SECONDS, self.secure);
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                headers.append(header::SET_COOKIE, value);
            }
        }
        response
    }

    /// An error page with the status the API would answer.
    pub fn error(&self, error: &ServiceError) -> Response {
        let status = crate::http::error::status_of(error.class);
        let title = match status {
            StatusCode::FORBIDDEN => self.t("forbidden"),
            StatusCode::NOT_FOUND => self.t("not_found"),
            _ => self.t("error"),
        };
        self.page(status, title, html! { (error_box(error)) p { a href="/console" { (self.t("back")) } } })
    }

    fn nav(&self, principal: &Principal) -> Markup {
        let links: Vec<(String, &str)> = nav_links(principal);
        html! {
            @for (href, id) in &links {
                a href=(href) class=@if *href == self.path { "active" } { (self.t(id)) }
            }
        }
    }
}

/// The links of the role's navigation.
fn nav_links(principal: &Principal) -> Vec<(String, &'static str)> {
    let mut links = Vec::new();
    match (principal.role, principal.subject_id) {
        (Role::Customer, Some(customer)) => {
            links.push((format!("/console/customers/{customer}"), "nav_wallet"));
            links.push((format!("/console/customers/{customer}/bills"), "nav_bills"));
            links.push((format!("/console/customers/{customer}/statement"), "nav_statement"));
            links.push((format!("/console/customers/{customer}/payment-code"), "nav_pay_code"));
        }
        (Role::Merchant, Some(_)) => {
            links.push(("/console/merchant".to_owned(), "nav_merchant"));
            links.push(("/console/merchant/settlements".to_owned(), "nav_settlement_reports"));
        }
        (Role::Admin | Role::Finance, _) => {
            for (href, id) in [
                ("/console/finance", "nav_dashboard"),
                ("/console/finance/trial-balance", "nav_trial_balance"),
                ("/console/finance/reconciliations", "nav_reconciliation"),
                ("/console/finance/batches", "nav_batches"),
                ("/console/finance/disputes", "nav_disputes"),
                ("/console/finance/verify", "nav_verify"),
                ("/console/finance/credit", "nav_credit"),
                ("/console/customers", "nav_customers"),
                ("/console/merchant", "nav_merchant"),
            ] {
                links.push((href.to_owned(), id));
            }
        }
        _ => {}
    }
    links
}

/// The first page of a role.
fn home_of(principal: &Principal) -> Option<String> {
    nav_links(principal).into_iter().next().map(|(href, _)| href)
}

pub fn role_name(lang: Lang, role: Role) -> &'static str {
    t(lang, &format!("role_{}", role.as_str()))
}

/// Headers every console page carries: nothing cached, nothing framed, no inline script, no
/// referrer to other sites.
fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Not `no-referrer`: under it a browser serializes a form POST's `Origin` as `null` even on
    // the same origin (Fetch, "serializing a request origin"), which `is_cross_site` refuses.
    // `same-origin` sends no referrer to other sites and keeps the real `Origin` on our own forms.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
}

pub fn error_box(error: &ServiceError) -> Markup {
    html! { p.error role="alert" { strong { (error.code) } ": " (error.detail) } }
}

/// A redirect after a successful POST (303, so a reload does not post again).
pub fn see_other(to: &str) -> Response {
    let mut response = Redirect::to(to).into_response();
    *response.status_mut() = StatusCode::SEE_OTHER;
    secure_headers(response.headers_mut());
    response
}

/// The hidden fields of a form: the CSRF token, and an idempotency key minted for this render.
pub fn form_secrets(csrf_token: &str) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(csrf_token);
        input type="hidden" name="idempotency_key" value=(session::random_secret()[..32]);
    }
}

pub fn csrf_field(csrf_token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf_token); }
}

/// The 403 page for a POST whose CSRF token is missing or wrong, or that looks cross-site;
/// `None` when the form may go on.
pub fn check_csrf(signed: &Signed, form: &HashMap<String, String>) -> Option<Response> {
    let token = form.get("csrf").map_or("", String::as_str);
    if signed.ctx.cross_site || !session::secrets_equal(token, &signed.csrf_token) {
        return Some(csrf_refused(&signed.ctx));
    }
    None
}

fn csrf_refused(ctx: &Ctx) -> Response {
    ctx.error(&ServiceError::new(
        ErrorClass::Forbidden,
        "csrf_failed",
        "the form's CSRF token is missing or wrong; reload the page",
    ))
}

/// The idempotency request of a money-moving form: the key the form was rendered with, scoped
/// to the principal, over the form's fields (without the CSRF token) in a fixed order.
pub fn form_idempotency(
    signed: &Signed,
    form: &HashMap<String, String>,
    fields: &[&str],
) -> Result<IdempotencyRequest, ServiceError> {
    let key = form.get("idempotency_key").map_or("", String::as_str);
    if key.is_empty()
        || key.len() > FORM_KEY_BYTES_MAX
        || !key.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_'))
    {
        return Err(ServiceError::new(
            ErrorClass::BadRequest,
            "idempotency_key_required",
            "the form has no idempotency key; reload the page",
        ));
    }
    let body: Vec<(&str, &str)> =
        fields.iter().map(|field| (*field, form.get(*field).map_or("", String::as_str))).collect();
    let body = serde_json::to_vec(&body).unwrap_or_default();
    Ok(IdempotencyRequest::new(&signed.principal, key, "POST", &signed.ctx.path, &body))
}

/// Staff only (the API's `require_staff`): the 403 page for everyone else, `None` for staff.
pub fn require_staff(signed: &Signed) -> Option<Response> {
    if signed.principal.role.is_staff() {
        None
    } else {
        Some(signed.ctx.error(&ServiceError::forbidden("this page is for admin and finance")))
    }
}

/// A form field, trimmed.
pub fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> &'a str {
    form.get(name).map_or("", |value| value.trim())
}

/// A decimal amount from a form field, as the API parses money (a decimal string).
pub fn form_amount(form: &HashMap<String, String>, name: &str) -> Result<rust_decimal::Decimal, ServiceError> {
    let text = field(form, name);
    text.parse::<rust_decimal::Decimal>()
        .map_err(|_| ServiceError::invalid_amount(format!("{name} must be a decimal amount such as 12.50")))
}

async fn home(ctx: Ctx) -> Response {
    match &ctx.session {
        None => Redirect::to("/console/sign-in").into_response(),
        Some(session) => match home_of(&session.principal) {
            Some(href) => Redirect::to(&href).into_response(),
            None => ctx.page(StatusCode::OK, ctx.t("app"), html! { p { (ctx.t("no_console")) } }),
        },
    }
}

fn sign_in_form(ctx: &Ctx, csrf: &str, problem: Option<&str>) -> Markup {
    html! {
        @if let Some(problem) = problem { p.error role="alert" { (problem) } }
        form.card method="post" action="/console/sign-in" autocomplete="off" {
            input type="hidden" name="csrf" value=(csrf);
            label for="token" { (ctx.t("token")) }
            input #token type="password" name="token" required autocomplete="off" maxlength=(TOKEN_BYTES_MAX);
            p.help { (ctx.t("token_help")) }
            button type="submit" id="sign-in" { (ctx.t("sign_in")) }
        }
    }
}

async fn sign_in_page(ctx: Ctx) -> Response {
    // No session yet: the form's CSRF token is a double-submit cookie.
    let csrf = session::random_secret();
    let mut response = ctx.page(StatusCode::OK, ctx.t("sign_in"), sign_in_form(&ctx, &csrf, None));
    let cookie = session::set_cookie(SIGN_IN_COOKIE, &csrf, SIGN_IN_COOKIE_SECONDS, ctx.secure);
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

async fn sign_in(State(state): State<AppState>, ctx: Ctx, Form(form): Form<HashMap<String, String>>) -> Response {
    let sent = form.get("csrf").map_or("", String::as_str);
    let expected = ctx.sign_in_csrf.as_deref().unwrap_or("");
    if ctx.cross_site || expected.is_empty() || !session::secrets_equal(sent, expected) {
        return csrf_refused(&ctx);
    }
    let token = form.get("token").map_or("", |token| token.trim());
    let principal =
        if token.is_empty() || token.len() > TOKEN_BYTES_MAX { None } else { state.service.authenticate(token) };
    let Some(principal) = principal else {
        tracing::info!("console sign-in refused");
        let csrf = expected.to_owned();
        return ctx.page(
            StatusCode::UNAUTHORIZED,
            ctx.t("sign_in"),
            sign_in_form(&ctx, &csrf, Some(ctx.t("bad_token"))),
        );
    };
    if let Some(old) = &ctx.session_id {
        state.console.sessions.remove(old);
    }
    let (id, _) = state.console.sessions.create(principal);
    tracing::info!(role = principal.role.as_str(), "console sign-in");
    let mut response = see_other("/console");
    let headers = response.headers_mut();
    let ttl = session::SESSION_TTL.as_secs();
    for cookie in [
        session::set_cookie(SESSION_COOKIE, &id, ttl, ctx.secure),
        session::set_cookie(SIGN_IN_COOKIE, "", 0, ctx.secure),
    ] {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

async fn sign_out(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = check_csrf(&signed, &form) {
        return refused;
    }
    if let Some(id) = &signed.ctx.session_id {
        state.console.sessions.remove(id);
    }
    let mut response = see_other("/console/sign-in");
    let cookie = session::set_cookie(SESSION_COOKIE, "", 0, signed.ctx.secure);
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Money as the API renders it (two decimals).
pub fn money(amount: rust_decimal::Decimal) -> String {
    crate::service::cny(amount)
}

/// A UTC instant shown in Beijing time, `YYYY-MM-DD HH:MM:SS`.
pub fn beijing(at: ledger::Timestamp) -> String {
    let offset = chrono::FixedOffset::east_opt(crate::metering::tariff::BEIJING_OFFSET_SECONDS);
    match (chrono::DateTime::<chrono::Utc>::from_timestamp_micros(at.0), offset) {
        (Some(utc), Some(offset)) => utc.with_timezone(&offset).format("%Y-%m-%d %H:%M:%S").to_string(),
        _ => crate::time::format_rfc3339(at),
    }
}

/// An RFC 3339 string from the API's JSON shown in Beijing time.
pub fn beijing_text(rfc3339: &str) -> String {
    crate::time::parse_rfc3339(rfc3339).map_or_else(|| rfc3339.to_owned(), beijing)
}

/// Raw SVG markup the server generated (QR codes and charts); never user text.
pub fn svg_markup(svg: String) -> PreEscaped<String> {
    PreEscaped(svg)
}
