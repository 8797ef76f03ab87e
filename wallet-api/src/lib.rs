//! The gaswallet service and its command-line tool.
//!
//! Layout:
//! - [`cli`]: the `gaswallet` subcommands (clap) and what each runs.
//! - [`bench`]: `gaswallet bench ...`, benchmarks through the real writer and store.
//! - [`chaos`]: the crash harness (`gaswallet chaos ledger-kill`) that SIGKILLs a writer process
//!   under load and checks that every acknowledged entry survived.
//! - [`data_dir`]: where things live inside the data directory.

pub mod bench;
pub mod chaos;
pub mod cli;
pub mod data_dir;
