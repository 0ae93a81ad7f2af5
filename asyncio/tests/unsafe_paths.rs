//! Small stories over every path that relies on `unsafe` (async-task's `spawn_unchecked`, the
//! `Send` runnable of the injection queue), sized to run under Miri in CI:
//! `cargo +nightly miri test -p asyncio --test unsafe_paths`.

use asyncio::{gather, run, spawn, yield_now, EventLoop, TaskError};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// A future completed by another thread, which wakes it from there.
struct FromThread {
    done: Arc<AtomicBool>,
    waker: Arc<Mutex<Option<Waker>>>,
    started: bool,
}

impl Future for FromThread {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        if !self.started {
            self.started = true;
            let (done, waker) = (self.done.clone(), self.waker.clone());
            std::thread::spawn(move || {
                done.store(true, Ordering::Release);
                if let Some(w) = waker.lock().unwrap().take() {
                    w.wake();
                }
            });
        }
        if self.done.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

fn from_thread() -> FromThread {
    FromThread {
        done: Arc::new(AtomicBool::new(false)),
        waker: Arc::new(Mutex::new(None)),
        started: false,
    }
}

#[test]
fn a_task_woken_from_another_thread_finishes() {
    let out = run(async {
        let t = spawn(async {
            from_thread().await;
            7
        });
        t.await
    });
    assert_eq!(out, Ok(7));
}

#[test]
fn a_non_send_task_runs_and_its_rc_is_dropped_on_the_loop() {
    let rc = Rc::new(Cell::new(0));
    let r = rc.clone();
    run(async move {
        let t = spawn(async move {
            yield_now().await;
            r.set(r.get() + 1);
        });
        t.await.unwrap();
    });
    assert_eq!(rc.get(), 1);
    assert_eq!(Rc::strong_count(&rc), 1, "the task's future was dropped");
}

#[test]
fn gather_cancel_and_panic_paths_free_everything() {
    let out = run(async {
        let mut g = gather((0..4).map(|i| async move {
            yield_now().await;
            if i == 2 {
                panic!("child {i}");
            }
            i
        }))
        .return_exceptions();
        let slots = (&mut g).await.unwrap();
        let pending = gather([std::future::pending::<()>(), std::future::pending()]);
        pending.cancel();
        (slots, pending.await)
    });
    assert!(matches!(&out.0[2], Err(TaskError::Panicked(_))));
    assert_eq!(out.1, Err(TaskError::Cancelled));
}

#[test]
fn tasks_left_pending_are_dropped_when_the_loop_is_dropped() {
    let alive = Rc::new(());
    let lp = EventLoop::new();
    let a = alive.clone();
    lp.run_until_complete(async move {
        spawn(async move {
            let _a = a;
            std::future::pending::<()>().await
        });
        yield_now().await;
    });
    assert_eq!(Rc::strong_count(&alive), 2);
    drop(lp);
    assert_eq!(Rc::strong_count(&alive), 1);
}
