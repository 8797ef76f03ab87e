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
/// Independent parts of the map, each growing on its own (see [`IncrementalMap`]).
pub const SHARDS: usize = 64;
/// Capacity of a shard's first table.
const INITIAL_CAPACITY: usize = 4;
/// Where a key's shard is read from its hash: bits 48 to 53, which hashbrown uses for neither the
/// bucket (the low bits) nor the control byte (the top seven).
const SHARD_SHIFT: u32 = 48;

/// A map from `K` to `V` whose inserts never rehash the whole map at once.
///
/// Two things make a growing hash map stall: moving every entry at once (solved by moving them a
/// few per insert) and the fresh memory of the new table. The new table's first writes land at
/// random places in it, and on Linux each first touch of a transparent huge page makes the kernel
/// zero 2 MiB: for the payments map at a few hundred thousand entries that was a new table of
/// about 130 MiB faulted in within one commit, a pause of about 100 ms on the writer thread
/// (docs/benchmarks.md). So the map is split into [`SHARDS`] shards by hash, each an incremental
/// map of its own: a shard's new table is 1/64 of the whole, and since shards fill at slightly
/// different rates, their growths are spread over many commits instead of landing in one.
#[derive(Clone)]
pub struct IncrementalMap<K, V> {
    hasher: RandomState,
    shards: Box<[Shard<K, V>]>,
}

#[derive(Clone)]
struct Shard<K, V> {
    /// Where inserts go.
    current: HashTable<(K, V)>,
    /// The table being emptied into `current` (empty when no move is under way).
    previous: HashTable<(K, V)>,
    /// Next bucket of `previous` to move.
    cursor: usize,
}

impl<K, V> Default for Shard<K, V> {
    fn default() -> Self {
        Shard { current: HashTable::new(), previous: HashTable::new(), cursor: 0 }
    }
}

impl<K, V> Default for IncrementalMap<K, V> {
    fn default() -> Self {
        IncrementalMap { hasher: RandomState::new(), shards: (0..SHARDS).map(|_| Shard::default()).collect() }
    }
}

impl<K: std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for IncrementalMap<K, V> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_map().entries(self.iter()).finish()
    }
}

impl<K, V> IncrementalMap<K, V> {
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.current.len() + shard.previous.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.shards
            .iter()
            .flat_map(|shard| shard.current.iter().chain(shard.previous.iter()))
            .map(|(key, value)| (key, value))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.iter().map(|(key, _)| key)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, value)| value)
    }
}

fn shard_of(hash: u64) -> usize {
    (hash >> SHARD_SHIFT) as usize % SHARDS
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
        let shard = &self.shards[shard_of(hash)];
        let matches = |(candidate, _): &(K, V)| candidate.borrow() == key;
        shard.current.find(hash, matches).or_else(|| shard.previous.find(hash, matches)).map(|(_, value)| value)
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let shard = &mut self.shards[shard_of(hash)];
        let matches = |(candidate, _): &(K, V)| candidate.borrow() == key;
        match shard.current.find_mut(hash, matches) {
            Some((_, value)) => Some(value),
            None => shard.previous.find_mut(hash, matches).map(|(_, value)| value),
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
        let hasher = &self.hasher;
        let shard = &mut self.shards[shard_of(hash)];
        if let Some((_, existing)) = shard.current.find_mut(hash, |(candidate, _)| *candidate == key) {
            return Some(std::mem::replace(existing, value));
        }
        if let Ok(entry) = shard.previous.find_entry(hash, |(candidate, _)| *candidate == key) {
            let ((_, replaced), _) = entry.remove();
            shard.insert_new(hasher, hash, key, value);
            return Some(replaced);
        }
        shard.insert_new(hasher, hash, key, value);
        None
    }

    /// Removes a key; returns its value.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let shard = &mut self.shards[shard_of(hash)];
        let matches = |(candidate, _): &(K, V)| candidate.borrow() == key;
        if let Ok(entry) = shard.current.find_entry(hash, matches) {
            return Some(entry.remove().0 .1);
        }
        shard.previous.find_entry(hash, matches).ok().map(|entry| entry.remove().0 .1)
    }
}

impl<K: Hash + Eq, V> Shard<K, V> {
    /// A key known to be absent from both tables.
    fn insert_new(&mut self, hasher: &RandomState, hash: u64, key: K, value: V) {
        if self.current.len() == self.current.capacity() {
            self.start_move(hasher);
        }
        // Room was made above, so this never rehashes `current`.
        self.current.insert_unique(hash, (key, value), |(key, _)| hasher.hash_one(key));
        self.move_some(hasher, MIGRATE_BUCKETS_PER_INSERT);
    }

    /// Makes a fresh table of twice the capacity the one to insert into, and the full one the one
    /// to empty.
    fn start_move(&mut self, hasher: &RandomState) {
        // A move still under way (only after many removals) is finished first.
        self.move_some(hasher, usize::MAX);
        let capacity = (self.current.capacity() * 2).max(INITIAL_CAPACITY);
        self.previous = std::mem::replace(&mut self.current, HashTable::with_capacity(capacity));
        self.cursor = 0;
    }

    /// Moves the entries of up to `buckets` buckets of `previous` into `current`.
    fn move_some(&mut self, hasher: &RandomState, buckets: usize) {
        if self.previous.is_empty() {
            if self.previous.num_buckets() > 0 {
                self.previous = HashTable::new();
            }
            return;
        }
        let end = self.cursor.saturating_add(buckets).min(self.previous.num_buckets());
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

    fn moving(map: &IncrementalMap<u64, u64>) -> usize {
        map.shards.iter().map(|shard| shard.previous.len()).sum()
    }

    fn capacity(map: &IncrementalMap<u64, u64>) -> usize {
        map.shards.iter().map(|shard| shard.current.capacity()).sum()
    }

    #[test]
    fn a_move_never_takes_more_than_its_share_per_insert() {
        let mut map = IncrementalMap::new();
        for key in 0..100_000u64 {
            let previous_before = moving(&map);
            map.insert(key, key * 2);
            // One insert moves entries of one shard only, at most its share.
            assert!(
                previous_before.saturating_sub(moving(&map)) <= MIGRATE_BUCKETS_PER_INSERT,
                "one insert moved {} entries",
                previous_before - moving(&map)
            );
            // In every shard the old table is gone before the new one fills up.
            for shard in map.shards.iter() {
                assert!(shard.current.len() < shard.current.capacity() || shard.previous.is_empty());
            }
        }
        assert_eq!(map.len(), 100_000);
        assert!((0..100_000u64).all(|key| map.get(&key) == Some(&(key * 2))));
    }

    #[test]
    fn growth_comes_a_shard_at_a_time_and_spread_out() {
        // The point of the shards: no insert allocates a table anywhere near the whole map's
        // size, and the growths of one doubling are spread over many inserts.
        let mut map = IncrementalMap::new();
        let mut growth_inserts = Vec::new();
        for key in 0..400_000u64 {
            let before = capacity(&map);
            map.insert(key, key);
            let grown = capacity(&map) - before;
            if grown > 0 {
                assert!(grown <= 4 * map.len() / SHARDS + 2 * INITIAL_CAPACITY, "an insert at {key} grew {grown}");
                growth_inserts.push(key);
            }
        }
        // The last doubling of every shard: its 64 growths cover a span of inserts, not one batch.
        let last_round = &growth_inserts[growth_inserts.len() - SHARDS..];
        let span = last_round[SHARDS - 1] - last_round[0];
        assert!(span > 5_000, "the last {SHARDS} shard growths came within {span} inserts");
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
