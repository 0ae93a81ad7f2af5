//! Small stories over every path that relies on `unsafe` (the task allocation of `task/raw.rs`:
//! its reference count, its waker, the output slot, frees on other threads; the `Send` queue
//! entry of the injection queue; the thread-local pointer to the running loop), sized to run
//! under Miri in CI: `cargo +nightly miri test -p asyncio --test unsafe_paths`.

use asyncio::{gather, run, spawn, yield_now, EventLoop, Task, TaskError};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::marker::PhantomData;
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

/// An output that must be dropped on the thread that made it (a `!Send` value's contract).
struct OnThread(std::thread::ThreadId, PhantomData<Rc<()>>);

impl OnThread {
    fn new() -> Self {
        OnThread(std::thread::current().id(), PhantomData)
    }
}

impl Drop for OnThread {
    fn drop(&mut self) {
        assert_eq!(
            self.0,
            std::thread::current().id(),
            "a !Send output was dropped off its thread"
        );
    }
}

// The stories below came from the review of the task allocation (each passed under Miri with
// Stacked and Tree Borrows and 24 seeds).

#[test]
fn wakes_from_threads_racing_completion_free_the_task_wherever_the_last_one_is() {
    let mut threads = Vec::new();
    let lp = EventLoop::new();
    lp.run_until_complete(async {
        for i in 0..3u32 {
            let (tx, rx) = std::sync::mpsc::channel::<Waker>();
            threads.push(std::thread::spawn(move || {
                let w = rx.recv().unwrap();
                for _ in 0..3 {
                    w.wake_by_ref();
                }
                let twin = w.clone();
                w.wake();
                std::thread::yield_now();
                twin.wake_by_ref();
            }));
            let t = spawn(std::future::poll_fn(move |cx| {
                tx.send(cx.waker().clone()).ok();
                cx.waker().wake_by_ref();
                Poll::Ready(OnThread::new())
            }));
            if i % 2 == 0 {
                t.detach();
            } else {
                drop(t.await);
            }
            yield_now().await;
        }
    });
    drop(lp);
    threads.into_iter().for_each(|t| t.join().unwrap());
}

#[test]
fn a_task_dropping_its_own_handle_while_running_finishes() {
    run(async {
        let slot: Rc<RefCell<Option<Task<OnThread>>>> = Rc::new(RefCell::new(None));
        let s = slot.clone();
        let mut polls = 0;
        let t = spawn(std::future::poll_fn(move |cx| {
            polls += 1;
            drop(s.borrow_mut().take()); // its own handle
            cx.waker().wake_by_ref();
            if polls == 2 {
                Poll::Ready(OnThread::new())
            } else {
                Poll::Pending
            }
        }));
        *slot.borrow_mut() = Some(t);
        for _ in 0..3 {
            yield_now().await;
        }
    });
}

#[test]
fn a_cancelled_gather_childs_waker_is_freed_on_another_thread_after_the_loop() {
    let (tx, rx) = std::sync::mpsc::channel::<Waker>();
    let lp = EventLoop::new();
    lp.run_until_complete(async move {
        let g = gather([
            Box::pin(std::future::poll_fn(move |cx| {
                tx.send(cx.waker().clone()).ok();
                Poll::<OnThread>::Pending
            })) as Pin<Box<dyn Future<Output = OnThread>>>,
            Box::pin(async { OnThread::new() }),
        ]);
        spawn(async move {
            let _ = g.await;
        })
        .detach();
        let mut x = spawn(std::future::pending::<()>());
        // A Join dropped after one poll leaves a stale waker with the (cancelled) task.
        let _ = asyncio::wait_for(&mut x, std::time::Duration::ZERO).await;
        yield_now().await;
    });
    drop(lp); // cancels the gather's children
    let wakers: Vec<Waker> = rx.try_iter().collect();
    std::thread::spawn(move || wakers.into_iter().for_each(Waker::wake))
        .join()
        .unwrap();
}

#[test]
fn an_output_holding_its_own_tasks_waker_frees_the_task_on_another_thread() {
    run(async {
        let mut t = spawn(std::future::poll_fn(|cx| {
            Poll::Ready((cx.waker().clone(), OnThread::new()))
        }));
        let (w, o) = (&mut t).await.unwrap();
        drop(t);
        drop(o);
        std::thread::spawn(move || w.wake()).join().unwrap();
    });
}

#[test]
fn a_loop_dropped_inside_another_running_loop_cleans_up_its_tasks() {
    let inner = EventLoop::new();
    let (tx, rx) = std::sync::mpsc::channel::<Waker>();
    inner.run_until_complete(async move {
        spawn(std::future::poll_fn(move |cx| {
            tx.send(cx.waker().clone()).ok();
            Poll::<()>::Pending
        }))
        .detach();
        yield_now().await;
    });
    run(async move { drop(inner) });
    let wakers: Vec<Waker> = rx.try_iter().collect();
    std::thread::spawn(move || drop(wakers)).join().unwrap();
}

/// Sets the flag when dropped.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn a_cancelled_task_drops_its_future_in_place_and_waits_for_what_the_drop_cancelled() {
    let (outer_dropped, inner_dropped) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(false)));
    let (o, i) = (outer_dropped.clone(), inner_dropped.clone());
    let out = run(async move {
        let t = spawn(async move {
            let _flag = DropFlag(o);
            // Awaiting a gather: dropping this future cancels the gather, whose child must end
            // before the task counts as cancelled.
            gather([async move {
                let _flag = DropFlag(i);
                std::future::pending::<()>().await
            }])
            .await
        });
        yield_now().await;
        t.cancel();
        t.await
    });
    assert_eq!(out, Err(TaskError::Cancelled));
    assert!(outer_dropped.get() && inner_dropped.get());
}

#[test]
fn a_future_whose_drop_panics_is_dropped_once_and_reported() {
    struct PanicOnDrop(Rc<Cell<u32>>);
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
            panic!("drop panics");
        }
    }
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let lp = EventLoop::new();
    lp.set_exception_handler(|_| {});
    let out = lp.run_until_complete(async move {
        let t = spawn(async move {
            let _p = PanicOnDrop(d);
            std::future::pending::<()>().await
        });
        yield_now().await;
        t.cancel();
        t.await
    });
    assert_eq!(out, Err(TaskError::Cancelled));
    assert_eq!(drops.get(), 1);
}

/// The run queue's one-word entries (a pointer with its kind in the low bits) hand over what they
/// own exactly once, whether run — a task, a callback, a finished child's notice to its gather, a
/// notification for a child that had finished before it was gathered, the main future — or
/// dropped unrun with the loop.
#[test]
fn every_kind_of_queue_entry_is_run_or_dropped_once() {
    let alive = Rc::new(());
    let lp = EventLoop::new();
    let a = alive.clone();
    let out = lp.run_until_complete(async move {
        let ran = Rc::new(Cell::new(0));
        let (r, a2) = (ran.clone(), a.clone());
        asyncio::call_soon(move || {
            let _a = a2;
            r.set(r.get() + 1);
        });
        let finished = spawn(async { 1 });
        yield_now().await;
        let late = gather([finished]).await;
        let children = gather((0..3).map(|i| async move {
            yield_now().await;
            i
        }))
        .await;
        (ran.get(), late, children)
    });
    assert_eq!(out, (1, Ok(vec![1]), Ok(vec![0, 1, 2])));
    let a = alive.clone();
    lp.run_until_complete(async move {
        let (a2, a3) = (a.clone(), a.clone());
        let finished = spawn(async move { a2 });
        yield_now().await;
        asyncio::call_soon(move || drop(a3));
        let pending = gather([finished]);
        spawn(async move {
            let _a = a;
            let _p = pending;
            std::future::pending::<()>().await
        });
    });
    drop(lp);
    assert_eq!(Rc::strong_count(&alive), 1);
}

#[test]
fn the_running_loop_pointer_is_cleared_when_a_run_ends_or_panics() {
    let event_loop = EventLoop::new();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        event_loop.run_until_complete(async {
            spawn(async { yield_now().await }).detach();
            panic!("main fails");
        })
    }));
    assert!(panicked.is_err());
    // No loop runs now: spawn() refuses rather than reaching the old loop through the pointer.
    let outside = std::panic::catch_unwind(|| spawn(async {}).detach());
    let message = outside.unwrap_err();
    let message = message
        .downcast_ref::<String>()
        .expect("a formatted message");
    assert!(
        message.contains("outside a running event loop"),
        "{message}"
    );
    // The same loop runs again; so do a second loop and, moved to the heap, the same one again
    // (the pointer is set afresh by every run, from wherever the loop lives).
    assert_eq!(
        event_loop.run_until_complete(async { spawn(async { 1 }).await }),
        Ok(1)
    );
    drop(event_loop);
    let second = EventLoop::new();
    assert_eq!(second.run_until_complete(async { 2 }), 2);
    let moved = Box::new(second);
    assert_eq!(
        moved.run_until_complete(async { spawn(async { 3 }).await }),
        Ok(3)
    );
}
