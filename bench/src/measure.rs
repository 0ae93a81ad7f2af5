//! Clocks and memory: what one run measures, and its one-line JSON report.
//!
//! A run's `secs` go from just before the first child is created ([`Start::now`], taken inside
//! the runtime, so building the runtime is excluded) to the result reaching the awaiter. Its
//! `teardown_secs` go from the moment the result has been verified to the moment the runtime is
//! gone (remaining tasks cancelled and dropped, the result dropped, the runtime dropped).
//! Memory is the kernel's high-water mark of resident memory (VmHWM), read at the start and at
//! the end of the run.

use std::time::Instant;

use serde_json::{json, Value};

/// The peak resident set size of this process so far, in KiB (VmHWM in /proc/self/status); 0
/// where /proc is not available.
pub fn vm_hwm_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The start of a measured run: taken just before the first child is created.
#[derive(Debug, Clone, Copy)]
pub struct Start {
    hwm_kb: u64,
    at: Instant,
}

impl Start {
    /// Reads VmHWM, then starts the clock.
    pub fn now() -> Start {
        let hwm_kb = vm_hwm_kb();
        Start {
            hwm_kb,
            at: Instant::now(),
        }
    }

    /// The result reached the awaiter at `done` and was verified as `ok`: from now on the clock
    /// measures teardown.
    pub fn finish(self, done: Instant, ok: bool) -> Finish {
        Finish {
            start: self,
            done,
            ok,
            teardown_from: Instant::now(),
        }
    }
}

/// A run whose result is in: what remains is to tear the runtime down and report.
#[derive(Debug, Clone, Copy)]
pub struct Finish {
    start: Start,
    done: Instant,
    ok: bool,
    teardown_from: Instant,
}

impl Finish {
    /// The report, taken once the runtime has been dropped (which ends `teardown_secs`).
    pub fn report(self, system: &str, workload: &str, n: u64) -> Report {
        let end = Instant::now();
        let peak = vm_hwm_kb();
        let secs = (self.done - self.start.at).as_secs_f64();
        Report {
            system: system.into(),
            workload: workload.into(),
            n,
            ok: self.ok,
            secs,
            ns_per_item: secs * 1e9 / n as f64,
            peak_rss_kb: peak,
            rss_bytes_per_item: peak.saturating_sub(self.start.hwm_kb) as f64 * 1024.0 / n as f64,
            teardown_secs: (end - self.teardown_from).as_secs_f64(),
        }
    }
}

/// What one run prints: one JSON line.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub system: String,
    pub workload: String,
    pub n: u64,
    pub ok: bool,
    pub secs: f64,
    pub ns_per_item: f64,
    pub peak_rss_kb: u64,
    pub rss_bytes_per_item: f64,
    pub teardown_secs: f64,
}

impl Report {
    /// The JSON line.
    pub fn to_json(&self) -> String {
        json!({
            "system": self.system,
            "workload": self.workload,
            "n": self.n,
            "ok": self.ok,
            "secs": self.secs,
            "ns_per_item": self.ns_per_item,
            "peak_rss_kb": self.peak_rss_kb,
            "rss_bytes_per_item": self.rss_bytes_per_item,
            "teardown_secs": self.teardown_secs,
        })
        .to_string()
    }

    /// Reads a report line back (from a child process, ours or the Python script); `None` if a
    /// field is missing.
    pub fn from_json(v: &Value) -> Option<Report> {
        Some(Report {
            system: v.get("system")?.as_str()?.into(),
            workload: v.get("workload")?.as_str()?.into(),
            n: v.get("n")?.as_u64()?,
            ok: v.get("ok")?.as_bool()?,
            secs: v.get("secs")?.as_f64()?,
            ns_per_item: v.get("ns_per_item")?.as_f64()?,
            peak_rss_kb: v.get("peak_rss_kb")?.as_u64()?,
            rss_bytes_per_item: v.get("rss_bytes_per_item")?.as_f64()?,
            teardown_secs: v.get("teardown_secs")?.as_f64()?,
        })
    }
}

/// The line printed for a system that cannot run here (Python or uvloop missing) or a workload
/// it has no form of: a skip, never a failure.
pub fn skipped_json(system: &str, workload: &str, n: u64, why: &str) -> String {
    json!({ "system": system, "workload": workload, "n": n, "skipped": why }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_survives_its_json_line() {
        let r = Report {
            system: "asyncio".into(),
            workload: "ready".into(),
            n: 10,
            ok: true,
            secs: 0.5,
            ns_per_item: 5e7,
            peak_rss_kb: 1000,
            rss_bytes_per_item: 12.5,
            teardown_secs: 0.25,
        };
        let v: Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(Report::from_json(&v), Some(r));
    }

    #[test]
    fn vm_hwm_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(vm_hwm_kb() > 0);
        }
    }
}
