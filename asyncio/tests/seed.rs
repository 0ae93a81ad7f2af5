//! The seed programs, end to end: each example prints what CPython prints for its program
//! (`shared/seed/program_N.out`), with Rust's `Debug` in place of Python's repr, and exits as
//! Python does (non-zero with the error on stderr where Python prints a traceback).

use std::path::PathBuf;
use std::process::Command;

/// The example's binary, built by `cargo test` beside this test (built here if it is missing).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join("examples").join(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "asyncio", "--example", name])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building example {name} failed");
    }
    path
}

fn check(name: &str, stdout: &str, stderr: &str, success: bool) {
    let out = Command::new(example(name)).output().expect("run example");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        stdout,
        "stdout of example {name}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        stderr,
        "stderr of example {name}"
    );
    assert_eq!(
        out.status.success(),
        success,
        "exit status of example {name}"
    );
}

#[test]
fn program_1_interleave() {
    check(
        "interleave",
        "Started\n0\nA\n1\nB\n2\nC\n3\nD\n4\nE\nFinished\n",
        "",
        true,
    );
}

#[test]
fn program_2_unawaited_gather_is_pending_and_its_children_never_run() {
    check(
        "unawaited",
        "Gather { state: pending, children: 4 }\n",
        "",
        true,
    );
}

#[test]
fn program_3_results_in_argument_order() {
    check(
        "results",
        "Started\n[100, 1000, 121, 1331]\nFinished\n",
        "",
        true,
    );
}

#[test]
fn program_4_exception_propagates() {
    check(
        "exception_propagates",
        "Started\n",
        "Error: Failed(ParseIntError { kind: InvalidDigit })\n",
        false,
    );
}

#[test]
fn program_5_return_exceptions() {
    check(
        "return_exceptions",
        "Started\n[Ok(100), Ok(1000), Err(Failed(ParseIntError { kind: InvalidDigit })), Ok(1331)]\nFinished\n",
        "",
        true,
    );
}

#[test]
fn program_6_nested() {
    check(
        "nested",
        "Started\n[[100, 1000], [400, 8000]]\nFinished\n",
        "",
        true,
    );
}

#[test]
fn program_7_mixed() {
    check(
        "mixed",
        "Started\n([100, 1000], 400, 900)\nFinished\n",
        "",
        true,
    );
}

#[test]
fn program_8_cancel() {
    check("cancel", "", "Error: Cancelled\n", false);
}

#[test]
fn program_9_done() {
    check("done", "done:  false\n[100, 1000]\ndone:  true\n", "", true);
}
