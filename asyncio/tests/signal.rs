//! Signals (issue 4): `Signal`, `ctrl_c`, `add_signal_handler`, and `run` cancelling main on
//! Ctrl-C. Each test uses its own signal, since tests of one binary share the process; a signal is
//! only raised while something listens for it. Under a watchdog; no durations asserted.

mod common;

use common::watchdog;
use std::cell::Cell;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::rc::Rc;

use asyncio::signal::consts::{SIGALRM, SIGHUP, SIGKILL, SIGSEGV, SIGUSR1, SIGUSR2, SIGWINCH};
use asyncio::signal::{add_signal_handler, raise, Signal};
use asyncio::{run, spawn, yield_now};

#[test]
fn a_waiting_task_receives_a_delivered_signal() {
    watchdog("recv", || {
        run(async {
            let usr1 = Signal::new(SIGUSR1).unwrap();
            let waiter = spawn(async move { usr1.recv().await.map(|()| "got SIGUSR1") });
            yield_now().await; // the waiter is blocked in recv
            raise(SIGUSR1).unwrap();
            assert_eq!(waiter.await.unwrap().unwrap(), "got SIGUSR1");
        })
    });
}

#[test]
fn deliveries_before_a_recv_are_coalesced_into_one() {
    watchdog("coalesce", || {
        run(async {
            let s = Signal::new(SIGUSR2).unwrap();
            raise(SIGUSR2).unwrap();
            raise(SIGUSR2).unwrap();
            raise(SIGUSR2).unwrap();
            s.recv().await.unwrap();
            // All three were taken by that recv: the next one waits for a new delivery.
            let second = spawn(async move { s.recv().await });
            for _ in 0..3 {
                yield_now().await;
            }
            assert!(!second.is_done());
            raise(SIGUSR2).unwrap();
            second.await.unwrap().unwrap();
        })
    });
}

#[test]
fn two_listeners_of_one_signal_both_see_it() {
    watchdog("two listeners", || {
        run(async {
            let a = Signal::new(SIGWINCH).unwrap();
            let b = Signal::new(SIGWINCH).unwrap();
            raise(SIGWINCH).unwrap();
            a.recv().await.unwrap();
            b.recv().await.unwrap();
        })
    });
}

#[test]
fn add_signal_handler_calls_back_on_each_delivery_until_removed() {
    watchdog("handler", || {
        run(async {
            let hits = Rc::new(Cell::new(0));
            let h = hits.clone();
            let handler = add_signal_handler(SIGHUP, move || h.set(h.get() + 1)).unwrap();
            // Keep a listener so SIGHUP stays caught after the handler is removed.
            let _keep = Signal::new(SIGHUP).unwrap();
            for expected in 1..=2 {
                raise(SIGHUP).unwrap();
                while hits.get() < expected {
                    yield_now().await;
                }
            }
            handler.remove();
            raise(SIGHUP).unwrap();
            for _ in 0..5 {
                yield_now().await;
            }
            assert_eq!(hits.get(), 2, "a removed handler is not called");
        })
    });
}

#[test]
fn uncatchable_and_fault_signals_are_refused_with_a_clear_error() {
    run(async {
        for sig in [SIGKILL, SIGSEGV] {
            let err = Signal::new(sig).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains("cannot be handled"), "{err}");
        }
        assert!(Signal::new(100_000).is_err());
    });
}

#[test]
fn a_signal_dropped_while_awaited_leaves_no_listener_behind() {
    watchdog("drop", || {
        run(async {
            let s = Signal::new(SIGALRM).unwrap();
            let waiter = spawn(async move { s.recv().await });
            yield_now().await;
            waiter.cancel();
            assert!(waiter.await.unwrap_err().is_cancelled());
            // A fresh listener still works.
            let again = Signal::new(SIGALRM).unwrap();
            raise(SIGALRM).unwrap();
            again.recv().await.unwrap();
        })
    });
}

/// The example's binary, built by `cargo test` beside this test (built here if it is missing).
fn example(name: &str) -> std::path::PathBuf {
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

// asyncio.run: Ctrl-C cancels main, the clean-up runs, and the process ends as interrupted.
#[test]
fn ctrl_c_under_run_cancels_main_runs_the_clean_up_and_exits_interrupted() {
    use std::os::unix::process::ExitStatusExt;
    watchdog("ctrl_c", || {
        let mut child = Command::new(example("ctrl_c"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the ctrl_c example");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "ready: press Ctrl-C\n");
        let kill = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(kill.success());
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(rest, "main cancelled\nworker cleaned up\n");
        assert_eq!(status.signal(), Some(2), "ended by SIGINT: {status:?}");
    });
}
