//! `gaswallet serve`: open the data directory, make sure an admin token exists, serve HTTP until
//! SIGTERM or Ctrl-C, drain, flush.

use crate::data_dir::ledger_directory;
use crate::http::{run, AppState};
use crate::service::Service;
use anyhow::Context;
use ledger::SystemClock;
use rand::Rng;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Environment variable that sets the admin token instead of `DATA/admin.token`.
pub const ADMIN_TOKEN_ENV: &str = "GAS_ADMIN_TOKEN";
/// How long shutdown waits for connection tasks to release the service before closing the ledger.
pub const SHUTDOWN_RELEASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// File in the data directory that holds the bootstrap admin token (mode 0600).
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// Runtime worker threads per core when none are asked for. Handlers read the service's
/// projection under a lock that the ledger's writer holds while it applies a committed batch (a
/// few hundred microseconds); a worker that waits there leaves its core idle unless another
/// worker can take the core meanwhile. Two per core measured 5-8 % more payments per second than
/// one per core in `bench http` with huge pages off (docs/benchmarks.md, "Handlers waiting on the
/// projection's lock").
pub const WORKER_THREADS_PER_CORE: usize = 2;

/// The runtime's worker threads: `requested`, or [`WORKER_THREADS_PER_CORE`] per core for 0.
pub fn worker_threads(requested: usize) -> usize {
    if requested > 0 {
        return requested;
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    cores * WORKER_THREADS_PER_CORE
}

/// Where the admin token came from, for the start-up message.
#[derive(Debug)]
pub enum AdminTokenSource {
    Environment,
    File(PathBuf),
    Created(PathBuf),
}

/// The admin token: from the environment, from the data directory, or newly created there.
pub fn admin_token(data: &Path) -> anyhow::Result<(String, AdminTokenSource)> {
    if let Ok(token) = std::env::var(ADMIN_TOKEN_ENV) {
        let token = token.trim().to_owned();
        anyhow::ensure!(token.len() >= 16, "{ADMIN_TOKEN_ENV} must be at least 16 characters");
        return Ok((token, AdminTokenSource::Environment));
    }
    let path = data.join(ADMIN_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(token) => Ok((token.trim().to_owned(), AdminTokenSource::File(path))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let secret: [u8; 32] = rand::rngs::OsRng.gen();
            let token = format!("gw_{}", hex::encode(secret));
            ledger::signing::write_private_file(&path, format!("{token}\n").as_bytes())
                .map_err(|fault| anyhow::anyhow!("{fault}"))?;
            Ok((token, AdminTokenSource::Created(path)))
        }
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// Opens the service on a data directory (blocking: replays the journal) and registers the
/// admin token.
pub async fn open_service(data: &Path) -> anyhow::Result<(Arc<Service>, AdminTokenSource)> {
    open_service_with_clock(data, Arc::new(SystemClock)).await
}

/// Like [`open_service`], with the clock the service and its ledger read (tests move it by hand).
pub async fn open_service_with_clock(
    data: &Path,
    clock: Arc<dyn ledger::Clock>,
) -> anyhow::Result<(Arc<Service>, AdminTokenSource)> {
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    let ledger_dir = ledger_directory(data);
    let service = tokio::task::spawn_blocking(move || Service::open(&ledger_dir, clock)).await??;
    let (token, source) = admin_token(data)?;
    service
        .ensure_admin_token(&token)
        .await
        .map_err(|error| anyhow::anyhow!("registering the admin token: {error}"))?;
    Ok((Arc::new(service), source))
}

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn serve(data: PathBuf, listen: String) -> anyhow::Result<()> {
    let (service, source) = open_service(&data).await?;
    let listener = tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("listening on {listen}"))?;
    let address = listener.local_addr()?;
    match &source {
        AdminTokenSource::Environment => println!("admin token: from {ADMIN_TOKEN_ENV}"),
        AdminTokenSource::File(path) => println!("admin token: in {}", path.display()),
        AdminTokenSource::Created(path) => println!("admin token: created in {} (mode 0600)", path.display()),
    }
    println!("gaswallet listening on http://{address}  (data: {})", data.display());
    println!("web console: http://{address}/console  (sign in with the admin token)");
    tracing::info!(%address, "listening");
    let (stop_deliveries, deliveries_stopped) = tokio::sync::watch::channel(false);
    let deliveries = tokio::spawn(crate::service::webhooks::run_deliveries(
        Arc::clone(&service),
        service.signing_key().clone(),
        deliveries_stopped,
    ));
    let scheduler =
        tokio::spawn(crate::service::scheduler::run_scheduler(Arc::clone(&service), stop_deliveries.subscribe()));
    run(listener, AppState::new(Arc::clone(&service)), shutdown_signal()).await?;
    let _ = stop_deliveries.send(true);
    let _ = deliveries.await;
    let _ = scheduler.await;
    tracing::info!("draining done; flushing the ledger");
    // Connection tasks let go of their handles a moment after the server returns; wait for them
    // (bounded) so the ledger is closed here, with its errors reported, not on some later drop.
    let deadline = std::time::Instant::now() + SHUTDOWN_RELEASE_TIMEOUT;
    while Arc::strong_count(&service) > 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    match Arc::try_unwrap(service) {
        Ok(service) => {
            tokio::task::spawn_blocking(move || service.close()).await?.map_err(|fault| anyhow::anyhow!("{fault}"))?
        }
        // Something still holds the service (a background task); dropping the last reference
        // closes the ledger, which finishes what is queued.
        Err(service) => drop(service),
    }
    println!("gaswallet stopped cleanly");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_threads_default_to_two_per_core_and_honour_a_request() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        assert_eq!(worker_threads(0), cores * WORKER_THREADS_PER_CORE);
        assert_eq!(worker_threads(3), 3);
        assert_eq!(worker_threads(1), 1);
    }
}
