//! The gaswallet service and its command-line tool.
//!
//! Layout:
//! - [`cli`]: the `gaswallet` subcommands (clap) and what each runs.
//! - [`bench`]: `gaswallet bench ...`, benchmarks through the real writer and store.
//! - [`bench_http`]: `gaswallet bench http`, single merchant payments through the in-process HTTP
//!   server from many concurrent keep-alive connections.
//! - [`bench_readings`]: `gaswallet bench readings`, signed meter readings in concentrator batches
//!   through the in-process HTTP server, compared with bare ed25519 verification.
//! - [`chaos`]: fault injection (`gaswallet chaos ...`): SIGKILL a ledger writer or the real server
//!   under load, overload the server, fuzz it from its OpenAPI document (see `docs/reliability.md`).
//! - [`data_dir`]: where things live inside the data directory.
//! - [`service`]: the wallet service (parties, tokens, wallets, top-ups, payment codes, payments,
//!   refunds, statements, events), HTTP-free, over the ledger and its projection.
//! - [`http`]: the axum API over the service: extraction, problems, limits, metrics.
//! - [`console`]: the web console (server-rendered HTML over the same service calls) at `/console`.
//! - [`metering`]: tiered tariffs and the pure pricing function (readings and charging follow).
//! - [`serve`]: `gaswallet serve` (bootstrap, admin token, graceful shutdown).
//! - [`simulate`]: `gaswallet simulate`, a whole town played through the real HTTP API on a
//!   hand-moved clock, with a summary whose numbers tie out.

pub mod bench;
pub mod bench_billing;
mod bench_client;
pub mod bench_cpu;
pub mod bench_http;
pub mod bench_readings;
pub mod bench_scoring;
pub mod chaos;
pub mod cli;
pub mod console;
pub mod data_dir;
pub mod http;
pub mod huge_pages;
pub mod metering;
pub mod score;
pub mod serve;
pub mod service;
pub mod simulate;
pub mod time;
