//! Fault injection: `gaswallet chaos ...`.
//!
//! Layout:
//! - [`ledger_kill`]: `chaos ledger-kill` / `chaos crash-child`, SIGKILL a ledger writer process
//!   under load and check that every acknowledged linked group survived.
//! - [`harness`]: what the server-level experiments share: a `gaswallet serve` child process that
//!   is killed on every path (a guard with `Drop`), a small HTTP client, the parties they set up.
//! - [`server_kill`]: `chaos server-kill`, SIGKILL the real server under concurrent top-ups,
//!   payments and signed readings, restart, retry what was not acknowledged, check nothing was lost.
//! - [`overload`]: `chaos overload`, far more concurrent requests than the server's limits.
//! - [`fuzz`]: `chaos fuzz`, requests generated from the server's own OpenAPI document, with
//!   mutations and every role's tokens, against oracles (no 5xx, problem documents, no leaks).
//! - [`tamper`]: `chaos tamper`, flip one byte of a stored journal record for `gaswallet verify`
//!   to find.
//!
//! Everything here talks to a child process over HTTP exactly as an outside client would; the
//! experiments' results are in `docs/reliability.md`.

pub mod fuzz;
pub mod harness;
pub mod ledger_kill;
pub mod overload;
pub mod server_kill;
pub mod tamper;

pub use ledger_kill::{run_crash_campaign, run_crash_child, CrashReport, GroupKey};
