//! Turning requests into validated values, once, at the edge: the bearer token, strict JSON
//! bodies (size-limited, unknown fields refused, money only as decimal strings), the
//! Idempotency-Key header and list parameters.

use super::error::{api_error, ApiError};
use super::AppState;
use crate::service::error::ErrorClass;
use crate::service::model::Principal;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// Largest request body.
pub const REQUEST_BODY_BYTES_MAX: usize = 64 * 1024;
/// Longest Idempotency-Key, in bytes.
pub const IDEMPOTENCY_KEY_BYTES_MAX: usize = 255;
/// Longest bearer token we even look at.
pub const BEARER_TOKEN_BYTES_MAX: usize = 256;
/// Most items one list page returns, and the default.
pub const PAGE_LIMIT_MAX: usize = 500;
pub const PAGE_LIMIT_DEFAULT: usize = 50;
/// Longest decimal string accepted for money.
pub const DECIMAL_STRING_BYTES_MAX: usize = 32;

/// The authenticated caller.
#[derive(Debug, Clone, Copy)]
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Auth, ApiError> {
        let unauthorized = |detail: &str| api_error(ErrorClass::Unauthorized, "unauthorized", detail);
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| unauthorized("missing bearer token"))?;
        let value = value.to_str().map_err(|_| unauthorized("malformed Authorization header"))?;
        // The scheme name is case-insensitive (RFC 9110 §11.1).
        let token = value
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
            .and_then(|_| value.get(7..))
            .ok_or_else(|| unauthorized("expected 'Authorization: Bearer <token>'"))?;
        if token.is_empty() || token.len() > BEARER_TOKEN_BYTES_MAX {
            return Err(unauthorized("invalid token"));
        }
        state.service.authenticate(token.trim()).map(Auth).ok_or_else(|| unauthorized("invalid token"))
    }
}

/// A JSON body: the parsed value and the exact bytes (for idempotency hashing).
#[derive(Debug)]
pub struct JsonBody<T> {
    pub value: T,
    pub bytes: axum::body::Bytes,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<JsonBody<T>, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(api_error(
                ErrorClass::BadRequest,
                "unsupported_media_type",
                "send Content-Type: application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                api_error(
                    ErrorClass::PayloadTooLarge,
                    "payload_too_large",
                    format!("bodies are limited to {REQUEST_BODY_BYTES_MAX} bytes"),
                )
            } else {
                api_error(ErrorClass::BadRequest, "malformed_body", rejection.body_text())
            }
        })?;
        let value = parse_json(&bytes)?;
        Ok(JsonBody { value, bytes })
    }
}

/// Parses JSON, telling syntax errors (400 `malformed_json`) from content errors (422).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|error| {
        let message = error.to_string();
        match error.classify() {
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => api_error(ErrorClass::BadRequest, "malformed_json", message),
            serde_json::error::Category::Data if message.starts_with(INVALID_AMOUNT_MARKER) => api_error(
                ErrorClass::Unprocessable,
                "invalid_amount",
                message.trim_start_matches(INVALID_AMOUNT_MARKER).trim_start_matches(": ").to_owned(),
            ),
            serde_json::error::Category::Data => api_error(ErrorClass::Unprocessable, "validation_failed", message),
        }
    })
}

const INVALID_AMOUNT_MARKER: &str = "invalid_amount";

/// Money as it travels: a JSON string of plain decimal digits (`"12.50"`). Numbers, exponents,
/// `+`, spaces and empty strings are refused; range and scale are checked by the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecimalString(pub Decimal);

impl<'de> Deserialize<'de> for DecimalString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<DecimalString, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DecimalString;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a decimal string such as \"12.50\"")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<DecimalString, E> {
                parse_decimal_string(text)
                    .map(DecimalString)
                    .map_err(|detail| E::custom(format!("{INVALID_AMOUNT_MARKER}: {detail}")))
            }

            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<DecimalString, E> {
                Err(E::custom(format!(
                    "{INVALID_AMOUNT_MARKER}: money must be a decimal string such as \"12.50\", not a JSON number"
                )))
            }

            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<DecimalString, E> {
                Err(E::custom(format!(
                    "{INVALID_AMOUNT_MARKER}: money must be a decimal string such as \"12.50\", not a JSON number"
                )))
            }

            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<DecimalString, E> {
                Err(E::custom(format!(
                    "{INVALID_AMOUNT_MARKER}: money must be a decimal string such as \"12.50\", not a JSON number"
                )))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `-?digits(.digits)?`, at most [`DECIMAL_STRING_BYTES_MAX`] bytes.
pub fn parse_decimal_string(text: &str) -> Result<Decimal, String> {
    if text.is_empty() || text.len() > DECIMAL_STRING_BYTES_MAX {
        return Err(format!("a decimal string has 1 to {DECIMAL_STRING_BYTES_MAX} characters"));
    }
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    if !digits(whole) || fraction.is_some_and(|fraction| !digits(fraction)) {
        return Err(format!("{text:?} is not a plain decimal like \"12.50\" (no exponent, sign or spaces)"));
    }
    text.parse::<Decimal>().map_err(|error| format!("{text:?}: {error}"))
}

/// The Idempotency-Key header, validated. `required` for money-moving POSTs.
pub fn idempotency_key(headers: &HeaderMap, required: bool) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        if required {
            return Err(api_error(
                ErrorClass::BadRequest,
                "idempotency_key_required",
                "this request moves money: send an Idempotency-Key header",
            ));
        }
        return Ok(None);
    };
    let key = value.to_str().map_err(|_| {
        api_error(ErrorClass::BadRequest, "invalid_idempotency_key", "Idempotency-Key must be visible ASCII")
    })?;
    if key.is_empty() || key.len() > IDEMPOTENCY_KEY_BYTES_MAX || !key.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(api_error(
            ErrorClass::BadRequest,
            "invalid_idempotency_key",
            format!("Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_BYTES_MAX} visible ASCII characters"),
        ));
    }
    Ok(Some(key.to_owned()))
}

/// `?limit=` checked against [`PAGE_LIMIT_MAX`].
pub fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(PAGE_LIMIT_DEFAULT),
        Some(limit) if (1..=PAGE_LIMIT_MAX).contains(&limit) => Ok(limit),
        Some(_) => Err(api_error(
            ErrorClass::Unprocessable,
            "validation_failed",
            format!("limit must be 1 to {PAGE_LIMIT_MAX}"),
        )),
    }
}

/// Query strings, with their errors as problems.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Query<T>, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded_from_str(query).map(Query)
    }
}

fn serde_urlencoded_from_str<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| api_error(ErrorClass::BadRequest, "malformed_query", "the query string cannot be read"))?,
    )
    .map(|axum::extract::Query(value)| value)
    .map_err(|rejection| api_error(ErrorClass::Unprocessable, "validation_failed", rejection.body_text()))
}

/// A UUID path segment; anything else is answered like an unknown id.
#[derive(Debug, Clone, Copy)]
pub struct PathId(pub uuid::Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<PathId, ApiError> {
        let axum::extract::Path(text) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| api_error(ErrorClass::NotFound, "not_found", "no such resource"))?;
        uuid::Uuid::parse_str(&text)
            .map(PathId)
            .map_err(|_| api_error(ErrorClass::NotFound, "not_found", format!("no resource {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_are_plain_decimals_only() {
        let accepted = ["0", "12.50", "12.5", "-1.00", "1000000.00", "0.001"];
        for text in accepted {
            assert!(parse_decimal_string(text).is_ok(), "{text}");
        }
        let refused = ["", "1e3", "1E3", "+1", " 1", "1 ", "1.", ".5", "1..2", "0x10", "NaN", "1,00", &"9".repeat(33)];
        for text in refused {
            assert!(parse_decimal_string(text).is_err(), "{text}");
        }
    }
}
