//! Errors the service answers with: a class (which the HTTP layer maps to a status, in one
//! place), a stable machine code and a sentence for people.

use ledger::{Fault, Rejection, RejectionCode};

/// The kind of failure, independent of HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request cannot be read (malformed JSON, wrong content type, bad header).
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    /// Same key or id with other content, a used payment code, a duplicate channel transaction.
    Conflict,
    /// The wallet cannot pay.
    PaymentRequired,
    /// Well-formed but invalid (bad amount, unknown field, out-of-range value).
    Unprocessable,
    PayloadTooLarge,
    /// The server sheds load: retry later.
    Overloaded,
    /// A fault on our side (storage, corruption): never the caller's doing.
    Internal,
}

impl ErrorClass {
    const ALL: [ErrorClass; 10] = [
        ErrorClass::BadRequest,
        ErrorClass::Unauthorized,
        ErrorClass::Forbidden,
        ErrorClass::NotFound,
        ErrorClass::Conflict,
        ErrorClass::PaymentRequired,
        ErrorClass::Unprocessable,
        ErrorClass::PayloadTooLarge,
        ErrorClass::Overloaded,
        ErrorClass::Internal,
    ];

    /// A stable name, stored with idempotent answers so a replay gets the same class back.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorClass::BadRequest => "bad_request",
            ErrorClass::Unauthorized => "unauthorized",
            ErrorClass::Forbidden => "forbidden",
            ErrorClass::NotFound => "not_found",
            ErrorClass::Conflict => "conflict",
            ErrorClass::PaymentRequired => "payment_required",
            ErrorClass::Unprocessable => "unprocessable",
            ErrorClass::PayloadTooLarge => "payload_too_large",
            ErrorClass::Overloaded => "overloaded",
            ErrorClass::Internal => "internal",
        }
    }

    pub fn from_name(name: &str) -> Option<ErrorClass> {
        ErrorClass::ALL.into_iter().find(|class| class.as_str() == name)
    }
}

/// A failure with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct ServiceError {
    pub class: ErrorClass,
    pub code: &'static str,
    pub detail: String,
}

impl ServiceError {
    pub fn new(class: ErrorClass, code: &'static str, detail: impl Into<String>) -> ServiceError {
        ServiceError { class, code, detail: detail.into() }
    }

    pub fn validation(detail: impl Into<String>) -> ServiceError {
        ServiceError::new(ErrorClass::Unprocessable, "validation_failed", detail)
    }

    pub fn invalid_amount(detail: impl Into<String>) -> ServiceError {
        ServiceError::new(ErrorClass::Unprocessable, "invalid_amount", detail)
    }

    pub fn not_found(what: impl Into<String>) -> ServiceError {
        ServiceError::new(ErrorClass::NotFound, "not_found", what)
    }

    pub fn forbidden(detail: impl Into<String>) -> ServiceError {
        ServiceError::new(ErrorClass::Forbidden, "forbidden", detail)
    }

    /// Whether a replay with the same idempotency key should get this answer again: business
    /// rejections decided against the ledger's state, not faults or load shedding.
    pub fn is_final_business_answer(&self) -> bool {
        matches!(
            self.class,
            ErrorClass::PaymentRequired | ErrorClass::Conflict | ErrorClass::Unprocessable | ErrorClass::NotFound
        )
    }
}

impl From<Fault> for ServiceError {
    fn from(fault: Fault) -> ServiceError {
        match fault {
            Fault::Overloaded => {
                ServiceError::new(ErrorClass::Overloaded, "overloaded", "the ledger is busy; retry shortly")
            }
            Fault::WriterStopped => {
                ServiceError::new(ErrorClass::Overloaded, "unavailable", "the ledger is not accepting writes")
            }
            // The disk refused a write (full, read-only, failing): nothing was acknowledged and the
            // writer has stopped (fail-stop), so this server refuses writes until it is restarted.
            // A 503 tells a client or load balancer to retry elsewhere or later, not that the
            // request was wrong.
            Fault::Storage(detail) => {
                tracing::error!(%detail, "ledger storage fault");
                ServiceError::new(
                    ErrorClass::Overloaded,
                    "storage_unavailable",
                    "the journal's storage failed (a full or read-only disk, say); nothing was \
                     acknowledged, and writes are refused until the server is restarted",
                )
            }
            other => {
                tracing::error!(fault = %other, "ledger fault");
                ServiceError::new(
                    ErrorClass::Internal,
                    "internal_error",
                    "an internal error occurred; nothing was acknowledged",
                )
            }
        }
    }
}

/// Maps a ledger rejection that reached a handler unexpectedly (the service validates first).
pub fn from_rejection(rejection: &Rejection) -> ServiceError {
    let (class, code) = match rejection.code {
        RejectionCode::InsufficientFunds => (ErrorClass::PaymentRequired, "insufficient_funds"),
        RejectionCode::InvalidAmount => (ErrorClass::Unprocessable, "invalid_amount"),
        RejectionCode::AccountNotFound => (ErrorClass::NotFound, "not_found"),
        RejectionCode::AccountClosed => (ErrorClass::Conflict, "account_closed"),
        RejectionCode::IdConflict => (ErrorClass::Conflict, "conflict"),
        _ => (ErrorClass::Unprocessable, "validation_failed"),
    };
    ServiceError::new(class, code, rejection.detail.clone())
}
