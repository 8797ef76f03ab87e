//! A hash map that grows without stopping the world.
//!
//! A standard hash map grows by moving every entry into a table twice the size in one go. For the
//! ledger's id index that is a pause on the commit path that doubles with the journal: measured
//! with `gaswallet bench http`, 59 ms at 460 000 ids and 128 ms at 920 000, during which the writer
//! holds the state's write lock and every caller waits (at ten million ids it would be more than
//! a second). This map instead starts a fresh table of twice the capacity when the current one is
//! full and moves the old table's entries over a few at a time on each later insert, like Redis's
//! incremental rehashing: no single insert moves more than [`MIGRATE_BUCKETS_PER_INSERT`] buckets.
//! Look-ups consult both tables while a move is under way.
//!
//! The old table is emptied long before the new one can fill: it held `n` entries and the new one
//! has room for `2n`, while each insert scans at least 16 of the old table's at most `2n` buckets.

use hashbrown::HashTable;
use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};

/// Buckets of the old table examined (and their entries moved) per insert during a move.
pub const MIGRATE_BUCKETS_PER_INSERT: usize = 16;
/// Capacity of the first table.
const INITIAL_CAPACITY: usize = 16;

/// A map from `K` to `V` whose inserts never rehash the whole map at once.
#[derive(Clone)]
pub struct IncrementalMap<K, V> {
    hasher: RandomState,
    /// Where inserts go.
    current: HashTable<(K, V)>,
    /// The table being emptied into `current` (empty when no move is under way).
    previous: HashTable<(K, V)>,
    /// Next bucket of `previous` to move.
    cursor: usize,
}

impl<K, V> Default for IncrementalMap<K, V> {
    fn default() -> Self {
        IncrementalMap { hasher: RandomState::new(), current: HashTable::new(), previous: HashTable::new(), cursor: 0 }
    }
}

impl<K: std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for IncrementalMap<K, V> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_map().entries(self.iter()).finish()
    }
}

impl<K, V> IncrementalMap<K, V> {
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.current.iter().chain(self.previous.iter()).map(|(key, value)| (key, value))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.iter().map(|(key, _)| key)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, value)| value)
    }
}

impl<K: Hash + Eq, V> IncrementalMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let matches = |(candidate, _): &(K, V)| candidate.borrow() == key;
        self.current.find(hash, matches).or_else(|| self.previous.find(hash, matches)).map(|(_, value)| value)
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let matches = |(candidate, _): &(K, V)| candidate.borrow() == key;
        match self.current.find_mut(hash, matches) {
            Some((_, value)) => Some(value),
            None => self.previous.find_mut(hash, matches).map(|(_, value)| value),
        }
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Inserts or replaces; returns the value replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let hash = self.hash(&key);
        if let Some((_, existing)) = self.current.find_mut(hash, |(candidate, _)| *candidate == key) {
            return Some(std::mem::replace(existing, value));
        }
        if let Ok(entry) = self.previous.find_entry(hash, |(candidate, _)| *candidate == key) {
            let ((_, replaced), _) = entry.remove();
            self.insert_new(hash, key, value);
            return Some(replaced);
        }
        self.insert_new(hash, key, value);
        None
    }

    /// Removes a key; returns its value.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let matches = |(candidate, _): &(K, V)| candidate.borrow() == key;
        if let Ok(entry) = self.current.find_entry(hash, matches) {
            return Some(entry.remove().0 .1);
        }
        self.previous.find_entry(hash, matches).ok().map(|entry| entry.remove().0 .1)
    }

    /// A key known to be absent from both tables.
    fn insert_new(&mut self, hash: u64, key: K, value: V) {
        if self.current.len() == self.current.capacity() {
            self.start_move();
        }
        let hasher = &self.hasher;
        // Room was made above, so this never rehashes `current`.
        self.current.insert_unique(hash, (key, value), |(key, _)| hasher.hash_one(key));
        self.move_some(MIGRATE_BUCKETS_PER_INSERT);
    }

    /// Makes a fresh table of twice the capacity the one to insert into, and the full one the one
    /// to empty.
    fn start_move(&mut self) {
        // A move still under way (only after many removals) is finished first.
        self.move_some(usize::MAX);
        let capacity = (self.current.capacity() * 2).max(INITIAL_CAPACITY);
        self.previous = std::mem::replace(&mut self.current, HashTable::with_capacity(capacity));
        self.cursor = 0;
    }

    /// Moves the entries of up to `buckets` buckets of `previous` into `current`.
    fn move_some(&mut self, buckets: usize) {
        if self.previous.is_empty() {
            if self.previous.num_buckets() > 0 {
                self.previous = HashTable::new();
            }
            return;
        }
        let end = self.cursor.saturating_add(buckets).min(self.previous.num_buckets());
        let hasher = &self.hasher;
        while self.cursor < end {
            if let Ok(entry) = self.previous.get_bucket_entry(self.cursor) {
                let ((key, value), _) = entry.remove();
                let hash = hasher.hash_one(&key);
                self.current.insert_unique(hash, (key, value), |(key, _)| hasher.hash_one(key));
            }
            self.cursor += 1;
        }
        if self.previous.is_empty() {
            self.previous = HashTable::new();
        }
    }
}

impl<K: Hash + Eq, V> FromIterator<(K, V)> for IncrementalMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        let mut map = IncrementalMap::new();
        for (key, value) in entries {
            map.insert(key, value);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn a_move_never_takes_more_than_its_share_per_insert() {
        let mut map = IncrementalMap::new();
        for key in 0..100_000u64 {
            let previous_before = map.previous.len();
            let moving = previous_before > 0;
            map.insert(key, key * 2);
            if moving {
                assert!(
                    previous_before - map.previous.len() <= MIGRATE_BUCKETS_PER_INSERT,
                    "one insert moved {} entries",
                    previous_before - map.previous.len()
                );
            }
            // The old table is always gone before the new one fills up.
            assert!(map.current.len() < map.current.capacity() || map.previous.is_empty());
        }
        assert_eq!(map.len(), 100_000);
        assert!((0..100_000u64).all(|key| map.get(&key) == Some(&(key * 2))));
    }

    #[test]
    fn agrees_with_a_standard_map_under_mixed_operations() {
        // A fixed pseudo-random sequence of inserts, replacements, removals and look-ups.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut map = IncrementalMap::new();
        let mut model = HashMap::new();
        for step in 0..200_000u64 {
            let key = next() % 50_000;
            match next() % 4 {
                0 | 1 => assert_eq!(map.insert(key, step), model.insert(key, step)),
                2 => assert_eq!(map.remove(&key), model.remove(&key)),
                _ => {
                    if let (Some(value), Some(expected)) = (map.get_mut(&key), model.get_mut(&key)) {
                        *value += 1;
                        *expected += 1;
                    }
                }
            }
            assert_eq!(map.len(), model.len());
        }
        for (key, value) in &model {
            assert_eq!(map.get(key), Some(value));
        }
        let mut seen: Vec<u64> = map.keys().copied().collect();
        seen.sort_unstable();
        let mut expected: Vec<u64> = model.keys().copied().collect();
        expected.sort_unstable();
        assert_eq!(seen, expected);
    }

    #[test]
    fn borrowed_keys_work() {
        let mut map: IncrementalMap<String, u32> = IncrementalMap::new();
        map.insert("code-1".to_owned(), 1);
        assert_eq!(map.get("code-1"), Some(&1));
        assert!(map.contains_key("code-1"));
        assert_eq!(map.remove("code-1"), Some(1));
        assert!(map.is_empty());
    }
}
