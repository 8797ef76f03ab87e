//! `/metrics` in the Prometheus text format: requests and latencies by route, and the ledger
//! writer's commit batches and queue depth. Written by hand: a few counters do not need a crate.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
const LATENCY_BUCKETS_SECONDS: [f64; 12] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0];

#[derive(Debug, Default, Clone)]
struct RouteStats {
    /// Requests by status code.
    by_status: BTreeMap<u16, u64>,
    bucket_counts: [u64; LATENCY_BUCKETS_SECONDS.len()],
    count: u64,
    sum_seconds: f64,
}

/// Request statistics by method, then route template. Two levels so that recording a request
/// looks both up by `&str` and allocates only the first time a pair is seen.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    routes: Mutex<BTreeMap<String, BTreeMap<String, RouteStats>>>,
}

impl HttpMetrics {
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut routes = self.routes.lock();
        if !routes.contains_key(method) {
            routes.insert(method.to_owned(), BTreeMap::new());
        }
        let Some(by_route) = routes.get_mut(method) else { return };
        if !by_route.contains_key(route) {
            by_route.insert(route.to_owned(), RouteStats::default());
        }
        let Some(stats) = by_route.get_mut(route) else { return };
        *stats.by_status.entry(status).or_default() += 1;
        stats.count += 1;
        stats.sum_seconds += seconds;
        for (bucket, bound) in stats.bucket_counts.iter_mut().zip(LATENCY_BUCKETS_SECONDS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
    }

    /// Renders everything, with the ledger's writer counters.
    pub fn render(&self, ledger: &ledger::LedgerReader, queue_depth: usize) -> String {
        let mut out = String::new();
        let routes = self.routes.lock().clone();
        out.push_str("# HELP gaswallet_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE gaswallet_http_requests_total counter\n");
        let pairs = || {
            routes
                .iter()
                .flat_map(|(method, by_route)| by_route.iter().map(move |(route, stats)| (method, route, stats)))
        };
        for (method, route, stats) in pairs() {
            for (status, count) in &stats.by_status {
                let _ = writeln!(out, "gaswallet_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}");
            }
        }
        out.push_str("# HELP gaswallet_http_request_duration_seconds HTTP request latency by route.\n");
        out.push_str("# TYPE gaswallet_http_request_duration_seconds histogram\n");
        for (method, route, stats) in pairs() {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            for (bound, count) in LATENCY_BUCKETS_SECONDS.iter().zip(stats.bucket_counts) {
                let _ =
                    writeln!(out, "gaswallet_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}");
            }
            let _ =
                writeln!(out, "gaswallet_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", stats.count);
            let _ = writeln!(out, "gaswallet_http_request_duration_seconds_sum{{{labels}}} {}", stats.sum_seconds);
            let _ = writeln!(out, "gaswallet_http_request_duration_seconds_count{{{labels}}} {}", stats.count);
        }
        let metrics = ledger.metrics();
        let load = |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
        let batches = load(&metrics.batches_committed);
        let commands = load(&metrics.commands_processed);
        let _ = writeln!(out, "# HELP gaswallet_ledger_batches_committed_total Group commits made durable.\n# TYPE gaswallet_ledger_batches_committed_total counter\ngaswallet_ledger_batches_committed_total {batches}");
        let _ = writeln!(out, "# HELP gaswallet_ledger_records_committed_total Journal records committed.\n# TYPE gaswallet_ledger_records_committed_total counter\ngaswallet_ledger_records_committed_total {}", load(&metrics.records_committed));
        let _ = writeln!(out, "# HELP gaswallet_ledger_commands_total Commands the writer processed.\n# TYPE gaswallet_ledger_commands_total counter\ngaswallet_ledger_commands_total {commands}");
        let _ = writeln!(out, "# HELP gaswallet_ledger_last_batch_commands Commands in the most recent batch.\n# TYPE gaswallet_ledger_last_batch_commands gauge\ngaswallet_ledger_last_batch_commands {}", load(&metrics.last_batch_commands));
        out.push_str("# HELP gaswallet_ledger_batch_commands Commands per group commit.\n");
        out.push_str("# TYPE gaswallet_ledger_batch_commands histogram\n");
        let mut cumulative = 0u64;
        for (bound, bucket) in ledger::ledger::BATCH_SIZE_BUCKETS.iter().zip(&metrics.batch_size_buckets) {
            cumulative += load(bucket);
            let _ = writeln!(out, "gaswallet_ledger_batch_commands_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "gaswallet_ledger_batch_commands_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(out, "gaswallet_ledger_batch_commands_sum {commands}");
        let _ = writeln!(out, "gaswallet_ledger_batch_commands_count {cumulative}");
        let _ = writeln!(out, "# HELP gaswallet_ledger_queue_depth Submissions waiting for the writer.\n# TYPE gaswallet_ledger_queue_depth gauge\ngaswallet_ledger_queue_depth {queue_depth}");
        let _ = writeln!(out, "# HELP gaswallet_ledger_flush_seconds_total Time spent making batches durable.\n# TYPE gaswallet_ledger_flush_seconds_total counter\ngaswallet_ledger_flush_seconds_total {}", load(&metrics.flush_micros_total) as f64 / 1e6);
        out
    }
}
