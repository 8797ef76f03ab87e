//! Console sessions: an in-memory table from a random session id to the signed-in principal, its
//! CSRF token and its expiry. The cookie carries only the session id; the API token the user
//! signed in with is checked once (`Service::authenticate`) and never stored, rendered or logged.
//!
//! Sessions live in memory on purpose: the server is the only process (sled is embedded), a
//! restart signs everyone out, and nothing about a session needs to be durable or in the journal.

use crate::service::model::Principal;
use parking_lot::Mutex;
use rand::Rng;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a session lasts after sign-in (a working day); then the user signs in again.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// Most sessions kept at once; past it, expired sessions are swept and then the oldest is dropped.
pub const SESSIONS_MAX: usize = 10_000;
/// Random bytes in a session id and in a CSRF token.
pub const SECRET_BYTES: usize = 32;
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "gw_session";
/// The cookie that carries the sign-in form's CSRF token (there is no session yet).
pub const SIGN_IN_COOKIE: &str = "gw_sign_in";
/// The cookie that remembers the chosen language.
pub const LANG_COOKIE: &str = "gw_lang";

/// A fresh random secret, hex-encoded.
pub fn random_secret() -> String {
    let bytes: [u8; SECRET_BYTES] = rand::rngs::OsRng.gen();
    hex::encode(bytes)
}

/// Compares two secrets in time that depends only on their lengths.
pub fn secrets_equal(left: &str, right: &str) -> bool {
    left.len() == right.len() && left.bytes().zip(right.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// One signed-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    pub csrf_token: String,
    pub expires_at: Instant,
}

/// The session table, shared by every console request.
#[derive(Debug, Default)]
pub struct Sessions {
    table: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Starts a session for a principal; answers the session id (for the cookie) and the session.
    pub fn create(&self, principal: Principal) -> (String, Session) {
        let now = Instant::now();
        let session = Session { principal, csrf_token: random_secret(), expires_at: now + SESSION_TTL };
        let id = random_secret();
        let mut table = self.table.lock();
        if table.len() >= SESSIONS_MAX {
            table.retain(|_, session| session.expires_at > now);
        }
        if table.len() >= SESSIONS_MAX {
            let oldest = table.iter().min_by_key(|(_, session)| session.expires_at).map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                table.remove(&oldest);
            }
        }
        table.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The live session with this id (an expired one is removed).
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut table = self.table.lock();
        match table.get(id) {
            Some(session) if session.expires_at > Instant::now() => Some(session.clone()),
            Some(_) => {
                table.remove(id);
                None
            }
            None => None,
        }
    }

    /// Signs out.
    pub fn remove(&self, id: &str) {
        self.table.lock().remove(id);
    }

    pub fn len(&self) -> usize {
        self.table.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The value of a `Set-Cookie` header. `secure` when the request came over TLS (directly or
/// through a proxy that says so), so the cookie never travels in clear text afterwards.
pub fn set_cookie(name: &str, value: &str, max_age_seconds: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_seconds}{secure}")
}

/// A cookie's value from a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').map(str::trim).find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::service::model::Role;

    #[test]
    fn sessions_are_created_found_and_removed() {
        let sessions = Sessions::default();
        let principal = Principal { role: Role::Finance, subject_id: None, token_id: uuid::Uuid::nil() };
        let (id, session) = sessions.create(principal);
        assert_eq!(id.len(), SECRET_BYTES * 2);
        assert_ne!(id, session.csrf_token);
        assert_eq!(sessions.get(&id).unwrap().principal, principal);
        sessions.remove(&id);
        assert!(sessions.get(&id).is_none());
    }

    #[test]
    fn cookies_are_read_and_written() {
        assert_eq!(cookie("a=1; gw_session=abc; b=2", SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie("gw_session_x=abc", SESSION_COOKIE), None);
        let header = set_cookie(SESSION_COOKIE, "v", 10, true);
        assert!(header.contains("HttpOnly") && header.contains("SameSite=Strict") && header.ends_with("Secure"));
        assert!(!set_cookie(SESSION_COOKIE, "v", 10, false).contains("Secure"));
        assert!(secrets_equal("abc", "abc") && !secrets_equal("abc", "abd") && !secrets_equal("abc", "ab"));
    }
}
