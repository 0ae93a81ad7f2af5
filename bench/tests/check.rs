//! CI's check of the harness: every Rust system runs every workload at n = 1,000 in a fresh
//! process and its result verifies (values, order, sum). No timing is asserted. The Python
//! systems run when Python (and uvloop, from bench/python/setup.sh) is present, and are reported
//! as skipped otherwise.

use std::process::Command;

#[test]
fn every_system_runs_every_workload_correctly_at_n_1000() {
    let out = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(["check", "--n", "1000"])
        .output()
        .expect("running bench check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let failures: Vec<&str> = stdout.lines().filter(|l| l.contains("FAILED")).collect();
    assert!(
        out.status.success() && failures.is_empty(),
        "bench check failed:\n{}\n{}",
        failures.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    let rust_runs = stdout
        .lines()
        .filter(|l| l.contains(" ok ") && !l.starts_with("cpython") && !l.starts_with("uvloop"))
        .count();
    // 7 Rust systems x 9 workloads, less chain for the two task-less joins.
    assert_eq!(rust_runs, 61, "not every Rust configuration ran:\n{stdout}");
}

#[test]
fn list_names_every_system_and_workload() {
    let out = Command::new(env!("CARGO_BIN_EXE_bench"))
        .arg("list")
        .output()
        .expect("running bench list");
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "asyncio",
        "tokio-ct",
        "tokio-local",
        "tokio-mt",
        "smol",
        "futures",
        "futures-concurrency",
        "cpython",
        "uvloop",
    ] {
        assert!(
            text.contains(name),
            "bench list does not name {name}:\n{text}"
        );
    }
    for name in [
        "ready",
        "spawn_yield",
        "sleep",
        "sleep_spread",
        "staggered",
        "nested",
        "fail_fast",
        "cancel",
        "chain",
    ] {
        assert!(
            text.contains(name),
            "bench list does not name {name}:\n{text}"
        );
    }
}

#[test]
fn a_bad_run_is_refused_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args([
            "run",
            "--system",
            "asyncio",
            "--workload",
            "nested",
            "--n",
            "2000",
        ])
        .output()
        .expect("running bench run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("power of ten"));
}
