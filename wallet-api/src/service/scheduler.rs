//! Background duties of a running service: issuing and debiting monthly bills on their due date,
//! auto-rating service orders whose rating window ran out, scanning meters for consumption
//! anomalies (hourly), and closing valves whose friendly-credit deferral ended. Each duty is
//! idempotent, so a restart simply catches up.

use super::Service;
use std::sync::Arc;
use std::time::Duration;

/// How often the scheduler looks for due work.
pub const SCHEDULER_TICK: Duration = Duration::from_secs(5);

/// How often the anomaly detectors rescan the meters' recent readings.
pub const ANOMALY_SCAN_EVERY: Duration = Duration::from_secs(3600);

/// Runs until `shutdown` fires.
pub async fn run_scheduler(service: Arc<Service>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut last_anomaly_scan = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            () = tokio::time::sleep(SCHEDULER_TICK) => {}
        }
        if *shutdown.borrow() {
            break;
        }
        match service.run_monthly_billing().await {
            Ok(0) => {}
            Ok(issued) => tracing::info!(issued, "issued monthly gas bills"),
            Err(error) => tracing::warn!(%error, "monthly billing failed; will retry"),
        }
        match service.auto_rate_due_orders().await {
            Ok(0) => {}
            Ok(rated) => tracing::info!(rated, "auto-rated service orders whose rating window ran out"),
            Err(error) => tracing::warn!(%error, "auto-rating service orders failed; will retry"),
        }
        // Hourly is enough for day-scale patterns; every tick would rescan every meter.
        if last_anomaly_scan.elapsed() >= ANOMALY_SCAN_EVERY {
            last_anomaly_scan = std::time::Instant::now();
            match service.detect_anomalies().await {
                Ok(0) => {}
                Ok(found) => tracing::info!(found, "consumption anomalies found"),
                Err(error) => tracing::warn!(%error, "anomaly detection failed; will retry"),
            }
        }
        match service.close_due_valves().await {
            Ok(0) => {}
            Ok(closed) => tracing::info!(closed, "closed valves whose friendly-credit hours ended"),
            Err(error) => tracing::warn!(%error, "closing due valves failed; will retry"),
        }
    }
}
