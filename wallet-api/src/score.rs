//! `gaswallet score`: the bulk credit-profile recompute on a stopped service's data directory.

use crate::service::risk::RescoreSummary;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::Path;

/// Opens the service on `data`, rescores every customer (with a progress bar on a terminal),
/// applies the changed credit limits, and closes the journal cleanly.
pub async fn rescore_directory(data: &Path) -> anyhow::Result<RescoreSummary> {
    let (service, _) = crate::serve::open_service(data)
        .await
        .with_context(|| format!("opening the service in {} (is a server running on it?)", data.display()))?;
    let customers = service.projection().read().risk.customers.len() as u64;
    let bar = ProgressBar::with_draw_target(Some(customers), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("scoring [{bar:30}] {pos}/{len} customers {per_sec}") {
        bar.set_style(style.progress_chars("#>-"));
    }
    let summary = service.rescore_all(&|done| bar.inc(done as u64)).await?;
    bar.finish_and_clear();
    match std::sync::Arc::try_unwrap(service) {
        Ok(service) => service.close().context("closing the journal")?,
        // Something still holds the service (it cannot here); dropping it flushes all the same.
        Err(service) => drop(service),
    }
    Ok(summary)
}
