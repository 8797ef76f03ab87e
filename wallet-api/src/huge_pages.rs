//! Transparent huge pages for the whole process, on or off (`gaswallet --huge-pages`).
//!
//! mimalloc asks the kernel for transparent huge pages (2 MiB) for its large regions. They make
//! bulk work over large in-memory tables faster (fewer TLB misses: the monthly billing run over a
//! million customers, signed readings), but the kernel zeroes a whole 2 MiB page on its first
//! touch, and on this project's VM those faults land on the ledger writer's commit path in bursts
//! that hold every waiting payment (docs/benchmarks.md has the measurements). `off` sets the
//! process's `PR_SET_THP_DISABLE` flag, which covers mimalloc's advice too; it must run before
//! the large tables are built, so the command line applies it first thing.

/// Whether the process may use transparent huge pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HugePages {
    /// The kernel's and the allocator's defaults (huge pages where they are advised).
    On,
    /// No transparent huge pages for this process.
    Off,
}

/// Applies the setting to the running process (and the processes it starts).
#[cfg(target_os = "linux")]
pub fn apply(setting: HugePages) -> std::io::Result<()> {
    rustix::thread::disable_transparent_huge_pages(setting == HugePages::Off).map_err(std::io::Error::from)
}

/// Elsewhere there is no such switch; `on` is what happens anyway.
#[cfg(not(target_os = "linux"))]
pub fn apply(setting: HugePages) -> std::io::Result<()> {
    match setting {
        HugePages::On => Ok(()),
        HugePages::Off => Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "--huge-pages off needs Linux (PR_SET_THP_DISABLE)",
        )),
    }
}

/// Whether the process currently has transparent huge pages disabled.
#[cfg(target_os = "linux")]
pub fn disabled() -> std::io::Result<bool> {
    rustix::thread::transparent_huge_pages_are_disabled().map_err(std::io::Error::from)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_switch_sets_and_clears_the_process_flag() {
        apply(HugePages::Off).unwrap_or_else(|error| panic!("disabling: {error}"));
        assert!(disabled().unwrap_or(false));
        apply(HugePages::On).unwrap_or_else(|error| panic!("enabling: {error}"));
        assert!(!disabled().unwrap_or(true));
    }
}
