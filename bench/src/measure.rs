//! Clocks and memory: what one run measures, and its one-line JSON report.
//!
//! A run's `secs` go from just before the first child is created ([`Start::now`], taken inside
//! the runtime, so building the runtime is excluded) to the result reaching the awaiter. Its
//! `teardown_secs` go from the moment the result has been verified to the moment the runtime is
//! gone (remaining tasks cancelled and dropped, the result dropped, the runtime dropped).
//! Memory is the kernel's high-water mark of resident memory (VmHWM), read at the start and at
//! the end of the run.
//!
//! An `echo` run also reports its connection count, messages per second (n / secs) and the 50th
//! and 99th percentiles of its round-trip times, as optional fields of the same line.

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
            echo: None,
        }
    }
}

/// The `p`th percentile (0 < p <= 100) of `sorted` (ascending) by the nearest-rank method: the
/// smallest value with at least p% of the values at or below it. `None` for an empty list.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    assert!(
        p > 0.0 && p <= 100.0,
        "a percentile is above 0 and at most 100, not {p}"
    );
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.max(1) - 1).copied()
}

/// What an `echo` run adds to its report: the connection count and the round-trip percentiles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EchoLatency {
    pub conns: u64,
    pub p50_us: f64,
    pub p99_us: f64,
}

impl EchoLatency {
    /// The percentiles of `round_trips_ns` (sorted here), in µs; 0 when there are none.
    pub fn of(conns: u64, round_trips_ns: &mut [u64]) -> EchoLatency {
        round_trips_ns.sort_unstable();
        let us = |p| percentile(round_trips_ns, p).unwrap_or(0) as f64 / 1e3;
        EchoLatency {
            conns,
            p50_us: us(50.0),
            p99_us: us(99.0),
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
    echo: Option<EchoLatency>,
}

impl Finish {
    /// The same result, with an `echo` run's figures.
    pub fn with_echo(self, echo: EchoLatency) -> Finish {
        Finish {
            echo: Some(echo),
            ..self
        }
    }

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
            echo: self.echo.map(|e| EchoStats {
                conns: e.conns,
                msgs_per_sec: if secs > 0.0 { n as f64 / secs } else { 0.0 },
                p50_us: e.p50_us,
                p99_us: e.p99_us,
            }),
        }
    }
}

/// The optional fields of an `echo` report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EchoStats {
    pub conns: u64,
    pub msgs_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
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
    pub echo: Option<EchoStats>,
}

impl Report {
    /// The JSON line.
    pub fn to_json(&self) -> String {
        let mut line = json!({
            "system": self.system,
            "workload": self.workload,
            "n": self.n,
            "ok": self.ok,
            "secs": self.secs,
            "ns_per_item": self.ns_per_item,
            "peak_rss_kb": self.peak_rss_kb,
            "rss_bytes_per_item": self.rss_bytes_per_item,
            "teardown_secs": self.teardown_secs,
        });
        if let Some(e) = &self.echo {
            line["conns"] = e.conns.into();
            line["msgs_per_sec"] = e.msgs_per_sec.into();
            line["p50_us"] = e.p50_us.into();
            line["p99_us"] = e.p99_us.into();
        }
        line.to_string()
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
            echo: match v.get("conns") {
                None => None,
                Some(conns) => Some(EchoStats {
                    conns: conns.as_u64()?,
                    msgs_per_sec: v.get("msgs_per_sec")?.as_f64()?,
                    p50_us: v.get("p50_us")?.as_f64()?,
                    p99_us: v.get("p99_us")?.as_f64()?,
                }),
            },
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
            echo: None,
        };
        let v: Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(Report::from_json(&v), Some(r.clone()));
        assert!(v.get("p99_us").is_none());
        let echo = Report {
            workload: "echo".into(),
            echo: Some(EchoStats {
                conns: 100,
                msgs_per_sec: 50_000.0,
                p50_us: 12.5,
                p99_us: 40.25,
            }),
            ..r
        };
        let v: Value = serde_json::from_str(&echo.to_json()).unwrap();
        assert_eq!(v["p99_us"], 40.25);
        assert_eq!(Report::from_json(&v), Some(echo));
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let one_to_hundred: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&one_to_hundred, 50.0), Some(50));
        assert_eq!(percentile(&one_to_hundred, 99.0), Some(99));
        assert_eq!(percentile(&one_to_hundred, 100.0), Some(100));
        assert_eq!(percentile(&one_to_hundred, 0.5), Some(1));
        let ten = [10, 20, 30, 40, 50, 60, 70, 80, 90, 1000];
        assert_eq!(percentile(&ten, 50.0), Some(50));
        assert_eq!(percentile(&ten, 99.0), Some(1000)); // the one slow round trip
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn echo_latency_sorts_and_converts_to_microseconds() {
        let mut ns: Vec<u64> = (1..=200).rev().map(|i| i * 1000).collect();
        let e = EchoLatency::of(4, &mut ns);
        assert_eq!((e.conns, e.p50_us, e.p99_us), (4, 100.0, 198.0));
    }

    #[test]
    fn vm_hwm_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(vm_hwm_kb() > 0);
        }
    }
}
