//! Layout of the data directory (`--data`, default `./data`).
//!
//! - `ledger/`: the ledger (`journal.sled/`, `signing.key`), owned by the `ledger` crate.

use std::path::{Path, PathBuf};

/// The directory the service uses when `--data` is not given.
pub const DATA_DIRECTORY_DEFAULT: &str = "./data";

/// Where the ledger keeps its journal and signing key inside a data directory.
pub fn ledger_directory(data: &Path) -> PathBuf {
    data.join("ledger")
}
