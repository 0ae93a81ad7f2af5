//! CI's check of the harness: every Rust system runs every workload at n = 1,000 in a fresh
//! process and its result verifies (values, order, sum; for echo, every byte of every reply).
//! No timing is asserted. The Python systems run when Python (and uvloop, from
//! bench/python/setup.sh) is present, and are reported as skipped otherwise. Echo runs over
//! loopback (127.0.0.1, an ephemeral port), bounded in messages and by its own time limit.

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
    // 7 Rust systems x 9 gather workloads, less chain for the two task-less joins; and echo
    // (10 connections) for asyncio, tokio-ct and smol.
    assert_eq!(rust_runs, 64, "not every Rust configuration ran:\n{stdout}");
}

#[test]
fn echo_runs_on_asyncio_tokio_ct_and_smol_and_the_others_skip_it() {
    // 10 connections x 10 messages of 64 bytes, each reply checked byte for byte.
    let out = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args([
            "check",
            "--workloads",
            "echo",
            "--n",
            "100",
            "--conns",
            "10",
        ])
        .output()
        .expect("running bench check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench check of echo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |system: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{system} ")))
            .unwrap_or_else(|| panic!("no line for {system}:\n{stdout}"))
    };
    for system in ["asyncio", "tokio-ct", "smol"] {
        assert!(
            line(system).contains("n=100 conns=10") && line(system).contains(" ok "),
            "{system} did not pass echo:\n{stdout}"
        );
    }
    for system in [
        "tokio-local",
        "tokio-mt",
        "futures",
        "futures-concurrency",
        "cpython",
        "uvloop",
    ] {
        assert!(
            line(system).contains("skipped  echo is not implemented for this system"),
            "{system} should skip echo:\n{stdout}"
        );
    }
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
        "echo",
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
