//! `gaswallet`: the command-line entry point. Parses arguments and hands off to the library.

use clap::Parser;

// glibc's malloc serialises the server's threads on its arena locks under load (seen in `perf`
// as futex waits in `__lll_lock_wait_private`); mimalloc keeps per-thread heaps.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = wallet_api::cli::Cli::parse();
    match wallet_api::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
