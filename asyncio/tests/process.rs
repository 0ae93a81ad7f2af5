//! Subprocesses (issue 4): create_subprocess_exec with piped streams, communicate, wait, kill,
//! terminate and send_signal, reaping through SIGCHLD, and the faults — a program that does not
//! exist, a child that dies before reading its input, reading after the child is gone, signalling
//! a child already reaped. Under a watchdog; no durations.

mod common;

use common::watchdog;
use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use std::time::Duration;

use asyncio::signal::consts::{SIGHUP, SIGTERM, SIGUSR1};
use asyncio::signal::Signal;
use asyncio::{create_subprocess_exec, gather, run, spawn, timeout, yield_now};

#[test]
fn communicate_collects_stdout_stderr_and_the_exit_code() {
    watchdog("communicate", || {
        run(async {
            let child =
                create_subprocess_exec("sh", ["-c", "echo out; echo err >&2; exit 4"]).unwrap();
            let out = child.communicate(None).await.unwrap();
            assert_eq!(out.stdout, b"out\n");
            assert_eq!(out.stderr, b"err\n");
            assert_eq!(out.status.code(), Some(4));
        })
    });
}

#[test]
fn communicate_feeds_stdin_and_closes_it() {
    watchdog("feed", || {
        run(async {
            let child = create_subprocess_exec("wc", ["-c"]).unwrap();
            let input = vec![b'x'; 300_000]; // more than a pipe holds: written as cat reads
            let out = child.communicate(Some(&input)).await.unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "300000");
        })
    });
}

#[test]
fn a_program_that_does_not_exist_is_not_found_and_named_in_the_error() {
    run(async {
        let err = create_subprocess_exec("no-such-program-asyncio", ["x"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let msg = err.to_string();
        assert!(
            msg.contains("no-such-program-asyncio") && msg.contains("PATH"),
            "{msg}"
        );
    });
}

// CPython: test_subprocess.py::SubprocessMixin::test_kill
#[test]
fn a_killed_child_reports_the_signal() {
    watchdog("kill", || {
        run(async {
            let mut child = create_subprocess_exec("sleep", ["30"]).unwrap();
            assert_eq!(child.try_wait().unwrap(), None);
            child.kill().unwrap();
            let status = child.wait().await.unwrap();
            assert_eq!(status.signal(), Some(9));
            assert_eq!(
                child.wait().await.unwrap(),
                status,
                "wait again: same status"
            );
        })
    });
}

// CPython: test_subprocess.py::SubprocessMixin::test_terminate
#[test]
fn a_terminated_child_reports_sigterm() {
    watchdog("terminate", || {
        run(async {
            let mut child = create_subprocess_exec("sleep", ["100"]).unwrap();
            child.terminate().unwrap();
            assert_eq!(child.wait().await.unwrap().signal(), Some(SIGTERM));
        })
    });
}

// CPython: test_subprocess.py::SubprocessMixin::test_send_signal
#[test]
fn a_signal_with_the_default_action_ends_the_child_with_that_signal() {
    watchdog("send_signal hup", || {
        run(async {
            // A parent started with SIGHUP ignored (nohup) passes that on to its children; while
            // we listen for it, exec gives the child SIGHUP's default action back.
            let _hup = Signal::new(SIGHUP).unwrap();
            let mut child =
                create_subprocess_exec("sh", ["-c", "echo sleeping; exec sleep 100"]).unwrap();
            let mut stdout = child.stdout.take().unwrap();
            assert_eq!(stdout.readline().await.unwrap(), b"sleeping\n");
            child.send_signal(SIGHUP).unwrap();
            assert_eq!(child.wait().await.unwrap().signal(), Some(SIGHUP));
        })
    });
}

#[test]
fn a_child_that_traps_a_signal_runs_its_handler() {
    watchdog("send_signal usr1", || {
        run(async {
            let script = "trap 'kill $p; exit 7' USR1; sleep 100 >/dev/null & p=$!; \
                          echo ready; wait $p";
            let mut child = create_subprocess_exec("sh", ["-c", script]).unwrap();
            let mut stdout = child.stdout.take().unwrap();
            assert_eq!(stdout.readline().await.unwrap(), b"ready\n");
            child.send_signal(SIGUSR1).unwrap();
            let status = child.wait().await.unwrap();
            assert_eq!(status.code(), Some(7), "the trap's exit code, got {status}");
        })
    });
}

// CPython: test_subprocess.py::SubprocessTransportTests::test_proc_exited
#[test]
fn signalling_a_reaped_child_is_refused_as_not_found() {
    watchdog("after wait", || {
        run(async {
            let mut child = create_subprocess_exec("true", [] as [&str; 0]).unwrap();
            let pid = child.pid();
            assert!(child.wait().await.unwrap().success());
            for (what, result) in [
                ("send_signal", child.send_signal(SIGTERM)),
                ("terminate", child.terminate()),
                ("kill", child.kill()),
            ] {
                let err = result.expect_err(what);
                assert_eq!(err.kind(), ErrorKind::NotFound, "{what}: {err}");
                let msg = err.to_string();
                assert!(
                    msg.contains(&pid.to_string()) && msg.contains("reaped"),
                    "{msg}"
                );
            }
            // Seen through try_wait, the end counts as reported too.
            let mut child = create_subprocess_exec("true", [] as [&str; 0]).unwrap();
            child.stdout.take().unwrap().read_to_end().await.unwrap();
            while child.try_wait().unwrap().is_none() {
                asyncio::sleep(Duration::from_millis(1)).await; // ordering only: until reaped
            }
            assert_eq!(child.terminate().unwrap_err().kind(), ErrorKind::NotFound);
        })
    });
}

#[test]
fn a_child_that_ended_unnoticed_is_signalled_harmlessly_and_keeps_its_status() {
    watchdog("zombie", || {
        run(async {
            let mut child = create_subprocess_exec("sh", ["-c", "exit 3"]).unwrap();
            // End-of-file on stdout: the child is exiting or gone, but nobody has reaped it.
            child.stdout.take().unwrap().read_to_end().await.unwrap();
            child.terminate().unwrap();
            assert_eq!(child.wait().await.unwrap().code(), Some(3));
        })
    });
}

#[test]
fn a_number_that_names_no_signal_is_invalid_input() {
    watchdog("bad signal", || {
        run(async {
            let mut child = create_subprocess_exec("sleep", ["100"]).unwrap();
            for bad in [0, -1, 1000] {
                let err = child.send_signal(bad).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}: {err}");
                assert!(err.to_string().contains("asyncio::signal::consts"), "{err}");
            }
            assert_eq!(child.try_wait().unwrap(), None, "the child was left alone");
            child.kill().unwrap();
            child.wait().await.unwrap();
        })
    });
}

// CPython: test_subprocess.py::SubprocessMixin::test_cancel_process_wait
#[test]
fn a_cancelled_wait_leaves_the_child_to_be_killed_and_waited_for() {
    watchdog("cancel wait", || {
        run(async {
            let mut child = create_subprocess_exec("sleep", ["100"]).unwrap();
            // The wait is polled, then dropped by the timeout: cancelled.
            let cancelled = timeout(Duration::ZERO, child.wait()).await;
            assert!(cancelled.is_err(), "sleep 100 cannot have ended");
            child.kill().unwrap();
            assert_eq!(child.wait().await.unwrap().signal(), Some(9));
        })
    });
}

#[test]
fn a_child_that_dies_without_reading_its_input_is_not_a_communicate_error() {
    watchdog("dies early", || {
        run(async {
            let child = create_subprocess_exec("sh", ["-c", "exit 1"]).unwrap();
            let out = child.communicate(Some(&vec![0u8; 1 << 20])).await.unwrap();
            assert_eq!(out.status.code(), Some(1));
        })
    });
}

#[test]
fn lines_stream_from_a_running_child_and_reads_after_it_is_gone_give_eof() {
    watchdog("interactive", || {
        run(async {
            let mut child =
                create_subprocess_exec("sh", ["-c", "echo ready; read name; echo hi $name"])
                    .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let mut stdout = child.stdout.take().unwrap();
            assert_eq!(stdout.readline().await.unwrap(), b"ready\n");
            stdin.write_all(b"loop\n").await.unwrap();
            assert_eq!(stdout.readline().await.unwrap(), b"hi loop\n");
            assert!(child.wait().await.unwrap().success());
            // The child is gone: its stdout reads end-of-file, every time.
            assert_eq!(stdout.readline().await.unwrap(), b"");
            assert_eq!(stdout.read(10).await.unwrap(), b"");
            // And writing to its stdin fails with a broken pipe, not a panic.
            let err = stdin.write_all(b"anyone?\n").await.unwrap_err();
            assert_eq!(std::io::Error::from(err).kind(), ErrorKind::BrokenPipe);
        })
    });
}

#[test]
fn many_children_waited_for_at_once_are_all_reaped() {
    watchdog("many", || {
        run(async {
            let waits = (0..10).map(|i| async move {
                let mut child = create_subprocess_exec("sh", ["-c", &format!("exit {i}")]).unwrap();
                child.wait().await.unwrap().code()
            });
            let codes = gather(waits).await.unwrap();
            assert_eq!(codes, (0..10).map(Some).collect::<Vec<_>>());
        })
    });
}

#[test]
fn the_loop_runs_other_tasks_while_a_child_is_awaited() {
    watchdog("not blocking", || {
        run(async {
            let mut child = create_subprocess_exec("sh", ["-c", "read x"]).unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let waiting = spawn(async move { child.wait().await.unwrap() });
            yield_now().await;
            assert!(!waiting.is_done());
            // Only a task on this loop can let the child end: the loop must not be blocked.
            stdin.write_all(b"go\n").await.unwrap();
            assert!(waiting.await.unwrap().success());
        })
    });
}

#[test]
fn a_configured_command_keeps_its_unpiped_streams() {
    watchdog("spawn", || {
        run(async {
            let mut cmd = Command::new("sh");
            cmd.args(["-c", "echo only-out"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped());
            let mut child = asyncio::process::spawn(cmd).unwrap();
            assert!(child.stdin.is_none());
            let out = child.stdout.take().unwrap().read_to_end().await.unwrap();
            assert_eq!(out, b"only-out\n");
            assert!(child.wait().await.unwrap().success());
        })
    });
}

#[test]
fn a_program_that_is_not_executable_is_permission_denied_with_a_hint() {
    run(async {
        let err = create_subprocess_exec("/dev/null", [] as [&str; 0]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("/dev/null") && msg.contains("executable"),
            "{msg}"
        );
    });
}

#[test]
fn a_child_killed_mid_communicate_reports_the_signal_and_the_output_it_wrote() {
    watchdog("dies mid-communicate", || {
        run(async {
            let script = "head -c 10 >/dev/null; echo partial; kill -9 $$";
            let child = create_subprocess_exec("sh", ["-c", script]).unwrap();
            let out = child.communicate(Some(&vec![0u8; 1 << 20])).await.unwrap();
            assert_eq!(out.status.signal(), Some(9));
            assert_eq!(out.stdout, b"partial\n");
        })
    });
}

#[cfg(target_os = "linux")]
#[test]
fn a_dropped_child_is_reaped_when_it_ends_and_leaves_no_zombie() {
    watchdog("drop reaps", || {
        run(async {
            let mut child = create_subprocess_exec("sh", ["-c", "read x"]).unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let proc_entry = format!("/proc/{}", child.pid());
            drop(child);
            // It exits on this line; a zombie would keep its /proc entry until it is reaped.
            stdin.write_all(b"end\n").await.unwrap();
            while std::path::Path::new(&proc_entry).exists() {
                asyncio::sleep(Duration::from_millis(1)).await; // ordering only
            }
        })
    });
}
