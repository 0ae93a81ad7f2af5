//! `cpython` and `uvloop`: `bench/python/gather_bench.py` measures itself the same way and prints
//! the same JSON line. `bench run` replaces itself with the interpreter (exec), so the time limit
//! of `compare` applies to Python directly. The interpreter is the venv's that
//! `bench/python/setup.sh` makes, else `python3` on the PATH; a missing interpreter, or uvloop
//! missing from it, is reported as skipped.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::System;
use crate::workload::Workload;

/// The directory of the Python script and its venv.
fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// The interpreter to use: the venv's if it exists, else `python3` from the PATH.
fn interpreter() -> PathBuf {
    let venv = python_dir().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// Replaces this process with the Python run; returns the reason only if that is impossible.
pub fn exec(system: System, workload: Workload, n: u64) -> String {
    let err = Command::new(interpreter())
        .arg(python_dir().join("gather_bench.py"))
        .args([system.name(), workload.name(), &n.to_string()])
        .exec();
    format!("cannot start Python ({err}): install python3, then run bench/python/setup.sh")
}
