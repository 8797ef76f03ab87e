//! `gaswallet chaos fuzz` (being written).

use serde::Serialize;
use std::path::Path;

/// Options of `gaswallet chaos fuzz`.
#[derive(Debug, Clone)]
pub struct FuzzOptions {
    pub seconds: u64,
    pub seed: u64,
    pub clients: usize,
}

/// What the fuzzer found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FuzzReport {
    pub requests: u64,
}

impl FuzzReport {
    pub fn clean(&self) -> bool {
        true
    }
}

pub fn run_fuzz(_binary: &Path, _options: &FuzzOptions) -> anyhow::Result<FuzzReport> {
    anyhow::bail!("not written yet")
}
