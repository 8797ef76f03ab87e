//! CPU time of this process's threads over a benchmark's timed phase, by thread name, from Linux's
//! `/proc/self/task/<tid>/schedstat` (nanoseconds on a core, and nanoseconds runnable but waiting
//! for one).
//!
//! Why: on the shared 2-core VMs the rate of one build swings by a third between runs, so a rate
//! alone compares badly. CPU per operation, split by thread, says where the time went and moves
//! far less between runs; the time threads spent waiting for a core shows how much of the latency
//! is two cores shared by a dozen threads. Where `/proc` cannot be read (another OS, a locked-down
//! container) the samples are empty and the benchmarks report zeros.

use std::collections::BTreeMap;
use std::path::Path;

/// A thread's (or a group's) scheduler times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadTimes {
    /// Time on a CPU.
    pub on_cpu_ns: u64,
    /// Time runnable but waiting for a CPU.
    pub waiting_ns: u64,
}

impl ThreadTimes {
    fn add(&mut self, other: ThreadTimes) {
        self.on_cpu_ns += other.on_cpu_ns;
        self.waiting_ns += other.waiting_ns;
    }

    fn since(self, earlier: ThreadTimes) -> ThreadTimes {
        ThreadTimes {
            on_cpu_ns: self.on_cpu_ns.saturating_sub(earlier.on_cpu_ns),
            waiting_ns: self.waiting_ns.saturating_sub(earlier.waiting_ns),
        }
    }
}

/// Every thread of the process at one moment: thread id → (name group, times).
#[derive(Debug, Clone, Default)]
pub struct CpuSample {
    threads: BTreeMap<u32, (String, ThreadTimes)>,
}

impl CpuSample {
    /// The process's threads now; empty where `/proc/self/task` cannot be read.
    pub fn take() -> CpuSample {
        let mut threads = BTreeMap::new();
        if let Ok(entries) = std::fs::read_dir("/proc/self/task") {
            for entry in entries.flatten() {
                let Some(tid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
                    continue;
                };
                // A thread may end between listing and reading: it is simply left out.
                if let Some(thread) = read_thread(&entry.path()) {
                    threads.insert(tid, thread);
                }
            }
        }
        CpuSample { threads }
    }
}

fn read_thread(directory: &Path) -> Option<(String, ThreadTimes)> {
    let name = std::fs::read_to_string(directory.join("comm")).ok()?;
    let schedstat = std::fs::read_to_string(directory.join("schedstat")).ok()?;
    let mut fields = schedstat.split_ascii_whitespace().map(|field| field.parse::<u64>().ok());
    let on_cpu_ns = fields.next()??;
    let waiting_ns = fields.next()??;
    Some((group_name(name.trim()).to_owned(), ThreadTimes { on_cpu_ns, waiting_ns }))
}

/// Threads of one pool share a name up to a numeric suffix (`sled-io-3`): they are one group.
fn group_name(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((group, suffix))
            if !group.is_empty() && !suffix.is_empty() && suffix.bytes().all(|byte| byte.is_ascii_digit()) =>
        {
            group
        }
        _ => name,
    }
}

/// What the process's threads used over one or more timed phases, by name group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuUse {
    by_group: BTreeMap<String, ThreadTimes>,
}

impl CpuUse {
    /// Adds what was used between two samples. A thread that started in between counts whole; one
    /// that ended in between is missing from `end` and is not counted.
    pub fn add_between(&mut self, start: &CpuSample, end: &CpuSample) {
        for (tid, (group, times)) in &end.threads {
            let before = start.threads.get(tid).map(|(_, times)| *times).unwrap_or_default();
            self.by_group.entry(group.clone()).or_default().add(times.since(before));
        }
    }

    pub fn total(&self) -> ThreadTimes {
        let mut total = ThreadTimes::default();
        for times in self.by_group.values() {
            total.add(*times);
        }
        total
    }

    /// One group's times (zero if it used nothing).
    pub fn group(&self, name: &str) -> ThreadTimes {
        self.by_group.get(name).copied().unwrap_or_default()
    }

    /// A line for the run's log: per `unit`, each group's CPU µs (and µs waiting for a core),
    /// largest first, groups under 0.1 µs left out.
    pub fn describe(&self, operations: u64, unit: &str) -> String {
        let per = |nanoseconds: u64| micros_per(nanoseconds, operations);
        let mut groups: Vec<_> = self.by_group.iter().collect();
        groups.sort_by(|left, right| right.1.on_cpu_ns.cmp(&left.1.on_cpu_ns).then(left.0.cmp(right.0)));
        let parts: Vec<String> = groups
            .into_iter()
            .filter(|(_, times)| per(times.on_cpu_ns) >= 0.1)
            .map(|(group, times)| format!("{group} {:.1} (waited {:.1})", per(times.on_cpu_ns), per(times.waiting_ns)))
            .collect();
        let total = self.total();
        format!(
            "CPU µs per {unit}: {:.1} in all (waited {:.1}): {}",
            per(total.on_cpu_ns),
            per(total.waiting_ns),
            parts.join(", ")
        )
    }
}

/// Nanoseconds spread over `operations`, in microseconds each (0 for no operations).
pub fn micros_per(nanoseconds: u64, operations: u64) -> f64 {
    if operations == 0 {
        return 0.0;
    }
    nanoseconds as f64 / 1_000.0 / operations as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_threads_are_grouped_by_name_without_their_number() {
        assert_eq!(group_name("sled-io-3"), "sled-io");
        assert_eq!(group_name("bench-server"), "bench-server");
        assert_eq!(group_name("ledger-flusher"), "ledger-flusher");
        assert_eq!(group_name("worker-12"), "worker");
        assert_eq!(group_name("v-1a"), "v-1a", "only an all-digit suffix is a number");
        assert_eq!(group_name("trailing-"), "trailing-");
        assert_eq!(group_name("-7"), "-7");
    }

    #[test]
    fn use_between_samples_subtracts_counts_new_threads_whole_and_groups() {
        let sample = |threads: &[(u32, &str, u64, u64)]| CpuSample {
            threads: threads
                .iter()
                .map(|&(tid, group, on_cpu_ns, waiting_ns)| {
                    (tid, (group.to_owned(), ThreadTimes { on_cpu_ns, waiting_ns }))
                })
                .collect(),
        };
        let start = sample(&[(1, "sled-io", 1_000, 10), (2, "sled-io", 5_000, 0), (3, "gone", 9_000, 0)]);
        let end = sample(&[(1, "sled-io", 4_000, 30), (2, "sled-io", 6_000, 5), (4, "server", 2_500, 700)]);
        let mut used = CpuUse::default();
        used.add_between(&start, &end);
        assert_eq!(used.group("sled-io"), ThreadTimes { on_cpu_ns: 4_000, waiting_ns: 25 });
        assert_eq!(used.group("server"), ThreadTimes { on_cpu_ns: 2_500, waiting_ns: 700 }, "new threads count whole");
        assert_eq!(used.group("gone"), ThreadTimes::default(), "ended threads are not counted");
        assert_eq!(used.total(), ThreadTimes { on_cpu_ns: 6_500, waiting_ns: 725 });
        // A second phase adds up.
        used.add_between(&start, &end);
        assert_eq!(used.total().on_cpu_ns, 13_000);
        assert_eq!(
            used.describe(2, "payment"),
            "CPU µs per payment: 6.5 in all (waited 0.7): sled-io 4.0 (waited 0.0), server 2.5 (waited 0.7)"
        );
        assert_eq!(micros_per(1_000, 0), 0.0);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_busy_thread_shows_up_under_its_name() {
        let start = CpuSample::take();
        assert!(!start.threads.is_empty(), "/proc/self/task lists at least this thread");
        let (release, released) = std::sync::mpsc::channel::<()>();
        let busy = std::thread::Builder::new()
            .name("cpu-probe-7".to_owned())
            .spawn(move || {
                // Fixed work, several milliseconds on any machine (unoptimized test build).
                let mut value = 1u64;
                for step in 0..5_000_000u64 {
                    value = std::hint::black_box(value.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(step));
                }
                // Stay alive until sampled: an ended thread leaves /proc/self/task.
                let _ = released.recv();
                value
            })
            .expect("spawning the probe thread");
        // Wait for the work to be done, then sample while the thread still exists.
        let mut used = CpuUse::default();
        for _ in 0..200 {
            std::thread::sleep(std::time::Duration::from_millis(10));
            used = CpuUse::default();
            used.add_between(&start, &CpuSample::take());
            if used.group("cpu-probe").on_cpu_ns >= 1_000_000 {
                break;
            }
        }
        let _ = release.send(());
        let _ = busy.join();
        assert!(
            used.group("cpu-probe").on_cpu_ns >= 1_000_000,
            "the probe's CPU time is seen: {:?}",
            used.group("cpu-probe")
        );
    }
}
