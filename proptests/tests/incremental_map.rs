//! Property test of `ledger::incremental_map::IncrementalMap`, the map behind the ledger's id
//! index (an entry id is found, and found once, or idempotency breaks) and the projection's
//! per-payment maps. Whatever the sequence of inserts, replacements, removals and in-place updates,
//! and however many shards are growing or moving entries at that moment, it answers exactly as
//! `std::collections::HashMap` does.
//!
//! Reproducing a failure: proptest stores the failing seed in
//! `proptests/proptest-regressions/incremental_map.txt` and replays it first on every later run of
//! `cargo test -p proptests --test incremental_map`. More cases: `PROPTEST_CASES=10000`.

// Tests may unwrap (STYLE 14); clippy only sees that inside `#[test]` functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ledger::incremental_map::IncrementalMap;
use proptest::prelude::*;
use std::collections::HashMap;

#[derive(Debug, Clone)]
enum Op {
    Insert(u32, u64),
    Remove(u32),
    Get(u32),
    AddInPlace(u32, u64),
    /// Many fresh keys at once, so shards grow and move entries while the other operations run.
    Grow(u32, u16),
}

/// Keys from a small space (so replacements and removals hit present keys) and, through `Grow`,
/// runs of fresh keys from a large one.
fn op() -> impl Strategy<Value = Op> {
    let key = 0u32..512;
    prop_oneof![
        4 => (key.clone(), any::<u64>()).prop_map(|(key, value)| Op::Insert(key, value)),
        2 => key.clone().prop_map(Op::Remove),
        2 => key.clone().prop_map(Op::Get),
        1 => (key, any::<u64>()).prop_map(|(key, value)| Op::AddInPlace(key, value)),
        1 => (1_000u32..1_000_000, 1u16..2_000).prop_map(|(start, count)| Op::Grow(start, count)),
    ]
}

/// Cases per property unless `PROPTEST_CASES` says otherwise.
const CASES_DEFAULT: u32 = 96;

fn config() -> ProptestConfig {
    proptests::proptest_config!("incremental_map", CASES_DEFAULT)
}

proptest! {
    #![proptest_config(config())]

    /// Every answer (replaced values, removed values, look-ups, length, the full contents) is the
    /// standard map's.
    #[test]
    fn answers_as_a_standard_map(ops in proptest::collection::vec(op(), 1..400)) {
        let mut map = IncrementalMap::new();
        let mut model: HashMap<u32, u64> = HashMap::new();
        for op in &ops {
            match *op {
                Op::Insert(key, value) => prop_assert_eq!(map.insert(key, value), model.insert(key, value)),
                Op::Remove(key) => prop_assert_eq!(map.remove(&key), model.remove(&key)),
                Op::Get(key) => {
                    prop_assert_eq!(map.get(&key), model.get(&key));
                    prop_assert_eq!(map.contains_key(&key), model.contains_key(&key));
                }
                Op::AddInPlace(key, value) => {
                    if let Some(stored) = map.get_mut(&key) {
                        *stored = stored.wrapping_add(value);
                    }
                    if let Some(stored) = model.get_mut(&key) {
                        *stored = stored.wrapping_add(value);
                    }
                }
                Op::Grow(start, count) => {
                    for key in start..start + u32::from(count) {
                        prop_assert_eq!(map.insert(key, u64::from(key)), model.insert(key, u64::from(key)));
                    }
                }
            }
            prop_assert_eq!(map.len(), model.len());
        }
        let mut contents: Vec<(u32, u64)> = map.iter().map(|(key, value)| (*key, *value)).collect();
        contents.sort_unstable();
        let mut expected: Vec<(u32, u64)> = model.into_iter().collect();
        expected.sort_unstable();
        prop_assert_eq!(contents, expected, "iteration yields every entry exactly once");
    }
}
