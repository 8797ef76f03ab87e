//! `gaswallet`: the command-line entry point. Parses arguments and hands off to the library.

use clap::Parser;

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
