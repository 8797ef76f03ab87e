//! Identifiers and time.
//!
//! Ids are chosen by the caller (UUIDs) so every step can be retried and converge. Distinct types
//! keep an account id from being passed where an entry id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// Namespace for ids the ledger derives itself (for example the void that expires a hold), so they
/// never collide with a caller's random v4 ids.
const LEDGER_DERIVED_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6761_7377_616c_6c65_745f_6c65_6467_6572);

/// Identifies an account (chosen by the caller when opening it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountId(pub Uuid);

/// Identifies an entry or an entry-like record (credit-limit change), chosen by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntryId(pub Uuid);

impl EntryId {
    /// A deterministic id derived from another entry and a purpose (UUIDv5), for records the ledger
    /// creates on its own, such as the void that expires a hold.
    pub fn derived(from: EntryId, purpose: &str) -> EntryId {
        let mut name = Vec::with_capacity(16 + purpose.len());
        name.extend_from_slice(from.0.as_bytes());
        name.extend_from_slice(purpose.as_bytes());
        EntryId(Uuid::new_v5(&LEDGER_DERIVED_ID_NAMESPACE, &name))
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(formatter)
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(formatter)
    }
}

/// Dense position of an account in the ledger (the order accounts were opened in). The journal
/// refers to accounts by index: four bytes instead of sixteen, and no hash lookup on replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountIndex(pub u32);

/// Position of a record in the journal, starting at 1. Sequence 0 means "before anything".
pub type Sequence = u64;

/// Microseconds since the Unix epoch, UTC. The ledger never reads a clock itself: the writer is
/// given one (see [`crate::Clock`]) and stamps each batch with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const fn from_unix_seconds(seconds: i64) -> Timestamp {
        Timestamp(seconds.saturating_mul(1_000_000))
    }

    pub const fn unix_micros(self) -> i64 {
        self.0
    }

    pub const fn plus_micros(self, micros: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let hold = EntryId(Uuid::from_u128(7));
        assert_eq!(EntryId::derived(hold, "expire"), EntryId::derived(hold, "expire"));
        assert_ne!(EntryId::derived(hold, "expire"), EntryId::derived(hold, "void"));
        assert_ne!(EntryId::derived(hold, "expire"), hold);
    }
}
