//! Property tests across the gaswallet crates. They live in `tests/`:
//!
//! - `ledger_model.rs`: random operation sequences (including restarts) against the real ledger
//!   and an in-memory reference model, with the ledger's invariants checked after every step.
//! - `ledger_amounts.rs`: decimal ↔ minor-unit conversion.
//! - `tariff_properties.rs`: tiered gas pricing.
//! - `metering_replay.rs`: signed readings resent in noisy batches (and across a restart) are
//!   charged exactly once.
//!
//! Failing cases are saved by proptest under `proptest-regressions/` and replayed first on the
//! next run; `PROPTEST_CASES=N` runs more (or fewer) cases.
