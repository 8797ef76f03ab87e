//! Property tests across the gaswallet crates. They live in `tests/`:
//!
//! - `ledger_model.rs`: random operation sequences (including restarts) against the real ledger
//!   and an in-memory reference model, with the ledger's invariants checked after every step.
//! - `ledger_amounts.rs`: decimal ↔ minor-unit conversion.
//! - `tariff_properties.rs`: tiered gas pricing.
//! - `incremental_map.rs`: the sharded map behind the ledger's id index answers as `HashMap` does.
//! - `metering_replay.rs`: signed readings resent in noisy batches (and across a restart) are
//!   charged exactly once.
//!
//! Failing cases are saved by proptest under `proptest-regressions/` and replayed first on the
//! next run; `PROPTEST_CASES=N` runs more (or fewer) cases.

/// The proptest configuration of a property file in `tests/`: `$cases_default` cases unless
/// `PROPTEST_CASES` says otherwise, and failing seeds kept in `proptest-regressions/$name.txt`.
///
/// A macro rather than a function: it expands in the test crate, where `proptest` is a
/// dependency, and `env!("CARGO_MANIFEST_DIR")` is read where the file is.
#[macro_export]
macro_rules! proptest_config {
    ($name:literal, $cases_default:expr) => {{
        // An explicit case count would hide PROPTEST_CASES, so read it here as proptest would.
        let cases = std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or($cases_default);
        proptest::test_runner::Config {
            cases,
            // proptest looks for `lib.rs` next to the test to place its regressions file;
            // integration tests have none, so name the file.
            failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/proptest-regressions/",
                $name,
                ".txt"
            )))),
            ..proptest::test_runner::Config::default()
        }
    }};
}
