//! `compare`, `check` and `instructions`: each run in a fresh child process (`bench run`, found
//! through `std::env::current_exe`), so memory figures are per run and a crash or a hang costs
//! one run, not the table. Every child runs under a time limit and is killed past it.
//!
//! `echo` cases also vary the connection count (`--conns`) and get their own table: messages
//! per second, round-trip p50 and p99, and ours ÷ theirs in throughput (above 1: ours is faster).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal as _, Read};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::measure::Report;
use crate::systems::System;
use crate::workload::Workload;

/// What to run: every workload × n (× connection count, for `echo`) × system, `runs` times.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub ns: Vec<u64>,
    pub runs: u32,
    pub systems: Vec<System>,
    pub workloads: Vec<Workload>,
    /// The connection counts of `echo`.
    pub conns: Vec<u64>,
    pub json: Option<String>,
    pub timeout_secs: u64,
}

/// One row group of the table: a workload at one size (and, for `echo`, one connection count).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Case {
    workload: Workload,
    n: u64,
    conns: Option<u64>,
}

impl Case {
    fn label(self) -> String {
        match self.conns {
            Some(c) => format!("{} n={} conns={c}", self.workload.name(), self.n),
            None => format!("{} n={}", self.workload.name(), self.n),
        }
    }
}

impl Plan {
    /// The cases in table order, leaving out the sizes a workload refuses.
    fn cases(&self) -> Vec<Case> {
        let mut cases = Vec::new();
        for &workload in &self.workloads {
            let conns: Vec<Option<u64>> = if workload == Workload::Echo {
                self.conns.iter().copied().map(Some).collect()
            } else {
                vec![None]
            };
            for &n in &self.ns {
                for &c in &conns {
                    if workload.refuse(n, c).is_none() {
                        cases.push(Case {
                            workload,
                            n,
                            conns: c,
                        });
                    }
                }
            }
        }
        cases
    }
}

/// How one child run ended.
#[derive(Debug, Clone)]
enum Outcome {
    /// It reported; `ok` may still be false.
    Done(Report),
    /// The system has no form of the workload here (Python or uvloop missing, no tasks).
    Skipped(String),
    /// It crashed, hung past the limit or printed no report.
    Failed(String),
}

/// What a child process left behind.
struct ChildRun {
    status: Option<std::process::ExitStatus>,
    stdout: String,
    stderr: String,
    timed_out: bool,
}

/// Runs `cmd` to completion or until `limit`, collecting its output.
fn run_limited(mut cmd: Command, limit: Duration) -> Result<ChildRun, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    // Keep only the tail of each stream: a child that panics in every task can write
    // gigabytes of messages, and only the last lines (and the report) matter.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            const KEEP: usize = 64 * 1024;
            let mut kept = Vec::new();
            let mut buf = [0u8; 8192];
            while let Ok(read @ 1..) = pipe.read(&mut buf) {
                kept.extend_from_slice(&buf[..read]);
                if kept.len() > 2 * KEEP {
                    kept.drain(..kept.len() - KEEP);
                }
            }
            String::from_utf8_lossy(&kept).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let err = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let began = Instant::now();
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if began.elapsed() > limit => {
                timed_out = true;
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("waiting for the child: {e}")),
        }
    };
    Ok(ChildRun {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        timed_out,
    })
}

fn this_exe() -> PathBuf {
    std::env::current_exe().expect("the path of this executable")
}

fn run_args(system: System, case: Case) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "run".into(),
        "--system".into(),
        system.name().into(),
        "--workload".into(),
        case.workload.name().into(),
        "--n".into(),
        case.n.to_string(),
    ];
    if let Some(c) = case.conns {
        args.extend(["--conns".into(), c.to_string()]);
    }
    args
}

/// The report line (the last line of stdout that parses as JSON), as an outcome.
fn read_outcome(run: &ChildRun, limit: Duration) -> (Outcome, Option<Value>) {
    if run.timed_out {
        return (
            Outcome::Failed(format!("timed out after {} s", limit.as_secs())),
            None,
        );
    }
    let line = run
        .stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok());
    let last_err = run.stderr.lines().last().unwrap_or("").trim().to_string();
    let Some(value) = line else {
        let status = run.status.map(|s| s.to_string()).unwrap_or_default();
        return (
            Outcome::Failed(format!("no report ({status}) {last_err}")),
            None,
        );
    };
    if let Some(why) = value.get("skipped").and_then(Value::as_str) {
        return (Outcome::Skipped(why.to_string()), Some(value));
    }
    match Report::from_json(&value) {
        Some(report) if report.ok => (Outcome::Done(report), Some(value)),
        Some(_) => (
            Outcome::Failed(format!("result wrong: {last_err}")),
            Some(value),
        ),
        None => (
            Outcome::Failed(format!("bad report line: {value}")),
            Some(value),
        ),
    }
}

/// One `bench run` in a child process under the plan's time limit.
fn run_one(system: System, case: Case, limit: Duration) -> (Outcome, Option<Value>) {
    let mut cmd = Command::new(this_exe());
    // One line per panic, not a backtrace per task.
    cmd.args(run_args(system, case)).env("RUST_BACKTRACE", "0");
    match run_limited(cmd, limit) {
        Ok(run) => read_outcome(&run, limit),
        Err(e) => (Outcome::Failed(e), None),
    }
}

/// `bench check`: every system on every workload once; any failure fails the command.
pub fn check(plan: &Plan) -> Result<ExitCode, String> {
    let limit = Duration::from_secs(plan.timeout_secs);
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for case in plan.cases() {
        for &s in &plan.systems {
            let (outcome, _) = run_one(s, case, limit);
            let verdict = match &outcome {
                Outcome::Done(r) => {
                    passed += 1;
                    format!("ok       {:.3} s", r.secs)
                }
                Outcome::Skipped(why) => {
                    skipped += 1;
                    format!("skipped  {why}")
                }
                Outcome::Failed(why) => {
                    failed += 1;
                    format!("FAILED   {why}")
                }
            };
            let what = match case.conns {
                Some(c) => format!("n={} conns={c}", case.n),
                None => format!("n={}", case.n),
            };
            println!(
                "{:<20} {:<13} {what:<18} {verdict}",
                s.name(),
                case.workload.name()
            );
        }
    }
    println!("check: {passed} passed, {failed} failed, {skipped} skipped");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `bench compare`: the runs, interleaved (run 1 of every configuration, then run 2, ...), then
/// the table of medians and ratios.
pub fn compare(plan: &Plan) -> Result<ExitCode, String> {
    let limit = Duration::from_secs(plan.timeout_secs);
    let cases = plan.cases();
    let total = cases.len() * plan.systems.len() * plan.runs as usize;
    let mut results: HashMap<(Case, System), Vec<Outcome>> = HashMap::new();
    let mut json_lines = String::new();
    let mut done = 0;
    let began = Instant::now();
    let on_terminal = std::io::stderr().is_terminal();
    for run in 1..=plan.runs {
        for &case in &cases {
            for &s in &plan.systems {
                done += 1;
                let seen = results.entry((case, s)).or_default();
                if matches!(seen.first(), Some(Outcome::Skipped(_))) {
                    continue;
                }
                let progress = format!(
                    "[{done}/{total}, {:.0} s] run {run}/{}: {} {}",
                    began.elapsed().as_secs_f64(),
                    plan.runs,
                    case.label(),
                    s.name()
                );
                if on_terminal {
                    eprint!("\r\x1b[2K{progress}");
                } else {
                    eprintln!("{progress}");
                }
                let (outcome, value) = run_one(s, case, limit);
                let mut line = value.unwrap_or_else(|| {
                    serde_json::json!({ "system": s.name(), "workload": case.workload.name(), "n": case.n })
                });
                if let Some(c) = case.conns {
                    line["conns"] = c.into();
                }
                line["run"] = run.into();
                if let Outcome::Failed(why) = &outcome {
                    line["failed"] = why.clone().into();
                }
                json_lines.push_str(&line.to_string());
                json_lines.push('\n');
                seen.push(outcome);
            }
        }
    }
    let clear = if on_terminal { "\r\x1b[2K" } else { "" };
    eprintln!(
        "{clear}{total} runs in {:.0} s",
        began.elapsed().as_secs_f64()
    );
    if let Some(path) = &plan.json {
        std::fs::write(path, &json_lines).map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    print!("{}", table(plan, &cases, &results));
    let failed = results
        .values()
        .flatten()
        .any(|o| matches!(o, Outcome::Failed(_)));
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Medians of the good runs of one configuration.
struct Medians {
    secs: f64,
    ns_per_item: f64,
    bytes_per_item: f64,
    peak_mb: f64,
    teardown_secs: f64,
    /// For `echo`: messages per second, round-trip p50 and p99 in µs (each the median over runs).
    echo: Option<(f64, f64, f64)>,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let m = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[m]
    } else {
        (xs[m - 1] + xs[m]) / 2.0
    }
}

/// The medians, or why there are none (a skip, or failures).
fn summarise(outcomes: &[Outcome]) -> Result<Medians, String> {
    let reports: Vec<&Report> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Done(r) => Some(r),
            _ => None,
        })
        .collect();
    if let Some(Outcome::Skipped(why)) = outcomes.first() {
        return Err(format!("skipped: {why}"));
    }
    let failures: Vec<&String> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Failed(why) => Some(why),
            _ => None,
        })
        .collect();
    if let Some(why) = failures.first() {
        return Err(format!(
            "FAILED {} of {}: {why}",
            failures.len(),
            outcomes.len()
        ));
    }
    let take = |f: fn(&Report) -> f64| median(reports.iter().map(|r| f(r)).collect());
    let echoes: Vec<_> = reports.iter().filter_map(|r| r.echo).collect();
    let echo_median =
        |f: fn(&crate::measure::EchoStats) -> f64| median(echoes.iter().map(f).collect());
    Ok(Medians {
        secs: take(|r| r.secs),
        ns_per_item: take(|r| r.ns_per_item),
        bytes_per_item: take(|r| r.rss_bytes_per_item),
        peak_mb: take(|r| r.peak_rss_kb as f64 / 1024.0),
        teardown_secs: take(|r| r.teardown_secs),
        echo: (!echoes.is_empty() && echoes.len() == reports.len()).then(|| {
            (
                echo_median(|e| e.msgs_per_sec),
                echo_median(|e| e.p50_us),
                echo_median(|e| e.p99_us),
            )
        }),
    })
}

/// `ours / theirs`, or "-" when either is missing or theirs is zero.
fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".into(),
    }
}

fn table(plan: &Plan, cases: &[Case], results: &HashMap<(Case, System), Vec<Outcome>>) -> String {
    let mut out = String::new();
    let medians: HashMap<(Case, System), Result<Medians, String>> =
        results.iter().map(|(k, v)| (*k, summarise(v))).collect();
    let get = |case, s| medians.get(&(case, s)).and_then(|m| m.as_ref().ok());
    let ours = System::Asyncio;
    let (echo_cases, gather_cases): (Vec<Case>, Vec<Case>) =
        cases.iter().partition(|c| c.workload == Workload::Echo);
    let _ = writeln!(
        out,
        "\nMedians of {} run(s); ratios are ours (asyncio) / this system: below 1 means ours is faster / smaller.\n\
         Global allocator of the Rust systems: {}; asyncio's task blocks come from mimalloc (its default feature).",
        plan.runs,
        crate::GLOBAL_ALLOCATOR
    );
    for &case in &gather_cases {
        let _ = writeln!(out, "\n## {}", case.label());
        let _ = writeln!(
            out,
            "{:<20} {:>9} {:>10} {:>11} {:>9} {:>12} {:>10} {:>10}",
            "system",
            "secs",
            "ns/item",
            "bytes/item",
            "peak MB",
            "teardown ms",
            "time ratio",
            "mem ratio"
        );
        for &s in &plan.systems {
            match &medians[&(case, s)] {
                Ok(m) => {
                    let o = get(case, ours);
                    let _ = writeln!(
                        out,
                        "{:<20} {:>9.4} {:>10.1} {:>11.1} {:>9.1} {:>12.2} {:>10} {:>10}",
                        s.name(),
                        m.secs,
                        m.ns_per_item,
                        m.bytes_per_item,
                        m.peak_mb,
                        m.teardown_secs * 1e3,
                        ratio(o.map(|o| o.ns_per_item), Some(m.ns_per_item)),
                        ratio(o.map(|o| o.bytes_per_item), Some(m.bytes_per_item)),
                    );
                }
                Err(why) => {
                    let _ = writeln!(out, "{:<20} {why}", s.name());
                }
            }
        }
    }
    let throughput = |m: &Medians| m.echo.map(|e| e.0);
    for &case in &echo_cases {
        let _ = writeln!(out, "\n## {}", case.label());
        let _ = writeln!(
            out,
            "{:<20} {:>9} {:>10} {:>9} {:>9} {:>9} {:>12} {:>11}",
            "system", "secs", "msgs/s", "p50 us", "p99 us", "peak MB", "teardown ms", "tput ratio"
        );
        for &s in &plan.systems {
            match &medians[&(case, s)] {
                Ok(m) => {
                    let (rate, p50, p99) = m.echo.unwrap_or((0.0, 0.0, 0.0));
                    let _ = writeln!(
                        out,
                        "{:<20} {:>9.4} {:>10.0} {:>9.1} {:>9.1} {:>9.1} {:>12.2} {:>11}",
                        s.name(),
                        m.secs,
                        rate,
                        p50,
                        p99,
                        m.peak_mb,
                        m.teardown_secs * 1e3,
                        ratio(get(case, ours).and_then(throughput), throughput(m)),
                    );
                }
                Err(why) => {
                    let _ = writeln!(out, "{:<20} {why}", s.name());
                }
            }
        }
    }
    let others: Vec<System> = plan
        .systems
        .iter()
        .copied()
        .filter(|&s| s != ours)
        .collect();
    if !plan.systems.contains(&ours) || others.is_empty() {
        return out;
    }
    let summary =
        |out: &mut String, title: &str, cases: &[Case], pick: &dyn Fn(&Medians) -> Option<f64>| {
            let _ = writeln!(out, "\n## Summary, {title}");
            let _ = write!(out, "{:<24}", "workload n");
            for s in &others {
                let _ = write!(out, " {:>12}", short(s.name()));
            }
            let _ = writeln!(out);
            for &case in cases {
                let row = match case.conns {
                    Some(c) => format!("{} {} x{c}", case.workload.name(), case.n),
                    None => format!("{} {}", case.workload.name(), case.n),
                };
                let _ = write!(out, "{row:<24}");
                let o = get(case, ours).and_then(pick);
                for &s in &others {
                    let _ = write!(out, " {:>12}", ratio(o, get(case, s).and_then(pick)));
                }
                let _ = writeln!(out);
            }
        };
    if !gather_cases.is_empty() {
        summary(
            &mut out,
            "time: ours / theirs (ns per item)",
            &gather_cases,
            &|m| Some(m.ns_per_item),
        );
        summary(
            &mut out,
            "memory: ours / theirs (bytes per item)",
            &gather_cases,
            &|m| Some(m.bytes_per_item),
        );
    }
    if !echo_cases.is_empty() {
        summary(
            &mut out,
            "echo throughput: ours / theirs (messages per second; above 1 means ours is faster)",
            &echo_cases,
            &throughput,
        );
    }
    out
}

fn short(name: &str) -> &str {
    if name == "futures-concurrency" {
        "futures-conc"
    } else {
        name
    }
}

/// `bench instructions`: spawn_yield under callgrind at the smallest and largest n, for each
/// system; instructions per child = ΔIr / Δn (process start-up and runtime construction cancel
/// out in the difference).
pub fn instructions(ns: &[u64], systems: &[System]) -> Result<ExitCode, String> {
    let (n1, n2) = match (ns.iter().min(), ns.iter().max()) {
        (Some(&a), Some(&b)) if a < b => (a, b),
        _ => return Err("instructions needs two different sizes, e.g. --n 10000,20000".into()),
    };
    let dir = std::env::temp_dir().join(format!("bench-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    println!("spawn_yield under valgrind --tool=callgrind; instructions per child = (Ir(n2) - Ir(n1)) / (n2 - n1)");
    println!(
        "{:<20} {:>14} {:>14} {:>16}",
        "system",
        format!("Ir n={n1}"),
        format!("Ir n={n2}"),
        "instr/child"
    );
    let mut failed = false;
    for &s in systems {
        if s.is_python() {
            println!(
                "{:<20} skipped: callgrind counts the interpreter, not the loop",
                s.name()
            );
            continue;
        }
        let mut counts = Vec::new();
        for n in [n1, n2] {
            let file = dir.join(format!("callgrind.{}.{n}", s.name()));
            let mut cmd = Command::new("valgrind");
            cmd.arg("--tool=callgrind")
                .arg(format!("--callgrind-out-file={}", file.display()))
                .arg(this_exe())
                .args(run_args(
                    s,
                    Case {
                        workload: Workload::SpawnYield,
                        n,
                        conns: None,
                    },
                ));
            let limit = Duration::from_secs(600);
            let counted =
                run_limited(cmd, limit).and_then(|run| match read_outcome(&run, limit).0 {
                    Outcome::Done(_) => total_instructions(&file),
                    Outcome::Skipped(why) => Err(format!("skipped: {why}")),
                    Outcome::Failed(why) => {
                        Err(format!("{why} {}", run.stderr.lines().last().unwrap_or("")))
                    }
                });
            let _ = std::fs::remove_file(&file);
            counts.push(counted);
        }
        match (&counts[0], &counts[1]) {
            (Ok(a), Ok(b)) => println!(
                "{:<20} {:>14} {:>14} {:>16.0}",
                s.name(),
                a,
                b,
                (*b as f64 - *a as f64) / (n2 - n1) as f64
            ),
            (Err(e), _) | (_, Err(e)) => {
                failed = true;
                println!("{:<20} FAILED: {e}", s.name());
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The total instruction count (`summary:` or `totals:` line) of a callgrind out file.
fn total_instructions(file: &std::path::Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    parse_total(&text).ok_or_else(|| format!("no summary or totals line in {}", file.display()))
}

fn parse_total(text: &str) -> Option<u64> {
    let line = text
        .lines()
        .find(|l| l.starts_with("summary:"))
        .or_else(|| text.lines().find(|l| l.starts_with("totals:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_of_a_callgrind_file_gives_the_total() {
        let text = "events: Ir\nfl=a\n1 2\nsummary: 12345 9\ntotals: 999\n";
        assert_eq!(parse_total(text), Some(12345));
        assert_eq!(parse_total("totals: 77\n"), Some(77));
        assert_eq!(parse_total("events: Ir\n"), None);
    }

    #[test]
    fn medians_take_the_middle_or_the_mean_of_the_two_middles() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    fn plan(ns: Vec<u64>, workloads: Vec<Workload>, conns: Vec<u64>) -> Plan {
        Plan {
            ns,
            runs: 1,
            systems: vec![System::Asyncio],
            workloads,
            conns,
            json: None,
            timeout_secs: 1,
        }
    }

    fn case(workload: Workload, n: u64, conns: Option<u64>) -> Case {
        Case { workload, n, conns }
    }

    #[test]
    fn nested_is_left_out_of_sizes_that_are_not_powers_of_ten() {
        let plan = plan(
            vec![1000, 5000],
            vec![Workload::Nested, Workload::Ready],
            vec![1],
        );
        assert_eq!(
            plan.cases(),
            vec![
                case(Workload::Nested, 1000, None),
                case(Workload::Ready, 1000, None),
                case(Workload::Ready, 5000, None)
            ]
        );
    }

    #[test]
    fn echo_cases_go_through_each_connection_count_no_larger_than_n() {
        let plan = plan(vec![100], vec![Workload::Echo], vec![1, 100, 1000]);
        assert_eq!(
            plan.cases(),
            vec![
                case(Workload::Echo, 100, Some(1)),
                case(Workload::Echo, 100, Some(100))
            ]
        );
        assert_eq!(
            run_args(System::Smol, plan.cases()[1])[5..],
            ["--n", "100", "--conns", "100"]
        );
    }

    #[test]
    fn the_echo_table_gives_throughput_percentiles_and_ours_over_theirs() {
        let mut plan = plan(vec![100], vec![Workload::Echo], vec![10]);
        plan.systems = vec![System::Asyncio, System::TokioCt, System::Futures];
        let c = case(Workload::Echo, 100, Some(10));
        let report = |system: &str, msgs_per_sec: f64| Report {
            system: system.into(),
            workload: "echo".into(),
            n: 100,
            ok: true,
            secs: 100.0 / msgs_per_sec,
            ns_per_item: 1e9 / msgs_per_sec,
            peak_rss_kb: 2048,
            rss_bytes_per_item: 0.0,
            teardown_secs: 0.001,
            echo: Some(crate::measure::EchoStats {
                conns: 10,
                msgs_per_sec,
                p50_us: 20.0,
                p99_us: 80.0,
            }),
        };
        let results = HashMap::from([
            (
                (c, System::Asyncio),
                vec![Outcome::Done(report("asyncio", 90_000.0))],
            ),
            (
                (c, System::TokioCt),
                vec![Outcome::Done(report("tokio-ct", 100_000.0))],
            ),
            (
                (c, System::Futures),
                vec![Outcome::Skipped(
                    "echo is not implemented for this system".into(),
                )],
            ),
        ]);
        let text = table(&plan, &plan.cases(), &results);
        assert!(text.contains("## echo n=100 conns=10"), "{text}");
        let tokio = text.lines().find(|l| l.starts_with("tokio-ct")).unwrap();
        assert!(
            tokio.contains("100000") && tokio.contains("80.0"),
            "{tokio}"
        );
        assert!(tokio.trim_end().ends_with("0.90"), "{tokio}");
        assert!(
            text.contains("futures              skipped: echo is not implemented"),
            "{text}"
        );
        let summary = text
            .lines()
            .find(|l| l.starts_with("echo 100 x10"))
            .unwrap();
        assert!(summary.contains("0.90"), "{summary}");
    }
}
