//! Small stories over every path that relies on `unsafe` (the task allocation of `task/raw.rs`:
//! its reference count, its waker, the output slot, frees on other threads; the `Send` queue
//! entry of the injection queue), sized to run under Miri in CI:
//! `cargo +nightly miri test -p asyncio --test unsafe_paths`.

use asyncio::{gather, run, spawn, yield_now, EventLoop, Task, TaskError};
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

/// A future that hands its waker out once and then waits for `done`.
struct Lend {
    slot: Rc<Cell<Option<Waker>>>,
    polls: u32,
}

impl Future for Lend {
    type Output = u32;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        self.polls += 1;
        if self.polls == 1 {
            self.slot.set(Some(cx.waker().clone()));
            Poll::Pending
        } else {
            Poll::Ready(self.polls)
        }
    }
}

#[test]
fn a_waker_that_outlives_its_loop_is_woken_and_freed_on_another_thread() {
    let slot = Rc::new(Cell::new(None));
    let lp = EventLoop::new();
    let s = slot.clone();
    lp.run_until_complete(async move {
        spawn(Lend { slot: s, polls: 0 }).detach();
        yield_now().await;
    });
    drop(lp); // the task is cancelled; its waker still holds the block
    let waker = slot.take().expect("lent");
    let twin = waker.clone();
    std::thread::spawn(move || {
        twin.wake_by_ref(); // the loop is gone: nothing to queue on
        twin.wake(); // by value: drops this reference
        drop(waker); // the last reference: the block is freed on this thread
    })
    .join()
    .unwrap();
}

#[test]
fn wakes_by_value_and_by_reference_queue_a_task_once() {
    let out = run(async {
        let t = spawn(async {
            let slot = Rc::new(Cell::new(None));
            let lend = Lend {
                slot: slot.clone(),
                polls: 0,
            };
            let mut lend = std::pin::pin!(lend);
            std::future::poll_fn(|cx| {
                let r = lend.as_mut().poll(cx);
                if let Some(w) = slot.take() {
                    // Woken twice while running: queued once, and the clone's reference is
                    // moved into the queue entry or dropped.
                    let twin = w.clone();
                    w.wake_by_ref();
                    twin.wake();
                    w.wake();
                }
                r
            })
            .await
        });
        t.await
    });
    assert_eq!(out, Ok(2));
}

#[test]
fn a_task_that_wakes_itself_and_then_returns_leaves_a_stale_entry_that_frees_it() {
    run(async {
        spawn(std::future::poll_fn(|cx| {
            cx.waker().wake_by_ref();
            Poll::Ready(())
        }))
        .detach();
        yield_now().await;
        yield_now().await;
    });
}

#[test]
fn outputs_are_dropped_once_whether_taken_left_or_detached() {
    let alive = Rc::new(());
    run({
        let alive = alive.clone();
        async move {
            let taken = spawn({
                let a = alive.clone();
                async move { a }
            });
            let left: Task<Rc<()>> = spawn({
                let a = alive.clone();
                async move { a }
            });
            spawn({
                let a = alive.clone();
                async move { a }
            })
            .detach();
            let mut awaited = spawn({
                let a = alive.clone();
                async move {
                    yield_now().await;
                    a
                }
            });
            yield_now().await;
            drop(taken.await.unwrap());
            drop(left); // finished, output never taken: dropped with the handle
            let out = (&mut awaited).await.unwrap();
            drop(out);
            assert!(awaited.is_done());
        }
    });
    assert_eq!(Rc::strong_count(&alive), 1);
}

#[test]
fn a_detached_panic_and_a_cancelled_awaited_task_free_their_blocks() {
    let lp = EventLoop::new();
    lp.set_exception_handler(|_| {});
    let out = lp.run_until_complete(async {
        spawn(async { panic!("nobody listens") }).detach();
        let t = spawn(std::future::pending::<()>());
        t.cancel();
        t.await
    });
    assert_eq!(out, Err(TaskError::Cancelled));
}
