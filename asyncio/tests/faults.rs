//! Faults: the loop under panics everywhere they can happen, hammering wakes, wakers that outlive
//! their tasks, a task that never stops waking itself, and structures 100,000 deep, each story
//! ending with the loop still usable and nothing lost or doubled.
//!
//! The single-fault stories (one panicking child, callback or `Drop`; 10,000-deep nests; 8 threads
//! waking a task 1,000 times each) live in task.rs, gather.rs and event_loop.rs; these push the
//! same paths harder or combine them.

use asyncio::{gather, run, sleep, spawn, yield_now, EventLoop, Gather, Task, TaskError};
use std::cell::{Cell, RefCell};
use std::future::{pending, poll_fn, Future};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

mod common;

/// Runs `f` on a thread with a small stack (256 KiB: an eighth of a default thread's 2 MiB), so a
/// walk that recursed once per level of a 100,000-deep structure would overflow it.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .expect("spawn a thread")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// Calls `f` when dropped.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

fn quiet_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}

/// A loop whose exception handler keeps every report's text.
fn reporting_loop() -> (EventLoop, Rc<RefCell<Vec<String>>>) {
    let reports = Rc::new(RefCell::new(Vec::new()));
    let lp = EventLoop::new();
    let r = reports.clone();
    lp.set_exception_handler(move |ctx| r.borrow_mut().push(ctx.to_string()));
    (lp, reports)
}

/// The loop still runs tasks, timers and gathers.
fn assert_usable(lp: &EventLoop) {
    let out = lp.run_until_complete(async {
        let t = spawn(async {
            sleep(Duration::from_millis(1)).await;
            2
        });
        let v = gather([1, 3].map(|i| async move { i })).await.unwrap();
        t.await.map(|two| v[0] + v[1] + two)
    });
    assert_eq!(out, Ok(6), "the loop is still usable");
}

// ---------------------------------------------------------------------------------------------
// Panics
// ---------------------------------------------------------------------------------------------

// T2 T3 T4 G6 G8
#[test]
fn a_storm_of_panics_in_children_callbacks_and_drops_loses_and_doubles_nothing() {
    quiet_panics();
    const N: usize = 3_000;
    let (lp, reports) = reporting_loop();
    let drops = Rc::new(Cell::new(0));
    let callbacks = Rc::new(Cell::new(0));
    let d = drops.clone();
    let c = callbacks.clone();
    let slots = lp.run_until_complete(async move {
        // Child i: every third panics, the others return i; every fifth has a `Drop` that panics
        // when it is cancelled; each has a done callback, every seventh of which panics.
        let tasks: Vec<Task<usize>> = (0..N)
            .map(|i| {
                let d = d.clone();
                let t = spawn(async move {
                    let _guard = OnDrop(move || d.set(d.get() + 1));
                    let _bomb = (i % 5 == 0).then(|| {
                        OnDrop(move || {
                            if !std::thread::panicking() {
                                panic!("drop {i} panicked");
                            }
                        })
                    });
                    yield_now().await;
                    if i % 3 == 0 {
                        panic!("child {i} panicked");
                    }
                    // The survivors wait to be cancelled.
                    pending::<()>().await;
                    i
                });
                let c = c.clone();
                t.add_done_callback(move || {
                    c.set(c.get() + 1);
                    if i % 7 == 0 {
                        panic!("callback {i} panicked");
                    }
                });
                t
            })
            .collect();
        let mut g = gather(tasks).return_exceptions();
        for _ in 0..3 {
            yield_now().await;
        }
        assert!(g.cancel(), "the survivors accept the cancellation");
        assert_eq!((&mut g).await, Err(TaskError::Cancelled), "G8");
        // Give the done callbacks their turn.
        yield_now().await;
        yield_now().await;
        g.is_cancelled()
    });
    assert!(slots, "the gather reports itself cancelled");
    assert_eq!(
        drops.get(),
        N,
        "every child's future was dropped exactly once"
    );
    assert_eq!(callbacks.get(), N, "every done callback ran exactly once");
    let reports = reports.borrow();
    let count = |what: &str| reports.iter().filter(|r| r.contains(what)).count();
    // Panicking children are retrieved by the gather (not reported); the `Drop`s that panic are
    // those of cancelled children (i % 5 == 0 and not i % 3 == 0); callbacks i % 7 == 0.
    let bombs = (0..N).filter(|i| i % 5 == 0 && i % 3 != 0).count();
    let bad_callbacks = (0..N).filter(|i| i % 7 == 0).count();
    assert_eq!(count("while being dropped"), bombs, "{reports:?}");
    assert_eq!(count("done callback panicked"), bad_callbacks);
    assert_eq!(
        reports.len(),
        bombs + bad_callbacks,
        "nothing else was reported"
    );
    drop(reports);
    assert_usable(&lp);
}

// L6 T2
#[test]
fn a_thread_that_panics_while_holding_a_tasks_waker_loses_no_wake_and_stops_nothing() {
    quiet_panics();
    let lp = EventLoop::new();
    let out = lp.run_until_complete(async {
        // Thread A wakes the task and then panics; thread B panics holding the only other clone of
        // the waker, which is dropped while it unwinds.
        let woken = Arc::new(AtomicUsize::new(0));
        let w = woken.clone();
        let mut started = false;
        let mut threads = Vec::new();
        let task = spawn(poll_fn(move |cx| {
            if !started {
                started = true;
                let (wa, wb) = (cx.waker().clone(), cx.waker().clone());
                let w = w.clone();
                threads.push(thread::spawn(move || {
                    w.fetch_add(1, Ordering::SeqCst);
                    wa.wake_by_ref();
                    panic!("thread A panicked after waking");
                }));
                threads.push(thread::spawn(move || {
                    let _held = wb;
                    panic!("thread B panicked holding the waker");
                }));
                return Poll::Pending;
            }
            if w.load(Ordering::SeqCst) == 0 {
                return Poll::Pending;
            }
            let panicked = threads
                .drain(..)
                .map(|t| t.join().is_err())
                .filter(|&p| p)
                .count();
            Poll::Ready(panicked)
        }));
        task.await
    });
    assert_eq!(out, Ok(2), "both threads panicked, the wake arrived");
    assert_usable(&lp);
}

// ---------------------------------------------------------------------------------------------
// Wakes
// ---------------------------------------------------------------------------------------------

// L4 L6
#[test]
fn eight_threads_waking_one_task_a_hundred_thousand_times_each_lose_nothing() {
    const THREADS: usize = 8;
    const WAKES: usize = 100_000;
    let lp = EventLoop::new();
    let (polls, seen) = lp.run_until_complete(async {
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        let mut workers = Vec::new();
        let mut polls = 0usize;
        let task = spawn(poll_fn(move |cx| {
            polls += 1;
            if polls == 1 {
                let barrier = Arc::new(Barrier::new(THREADS));
                for _ in 0..THREADS {
                    let (c, waker, barrier) = (c.clone(), cx.waker().clone(), barrier.clone());
                    workers.push(thread::spawn(move || {
                        barrier.wait();
                        for _ in 0..WAKES {
                            c.fetch_add(1, Ordering::SeqCst);
                            waker.wake_by_ref();
                        }
                    }));
                }
            }
            let seen = c.load(Ordering::SeqCst);
            if seen < THREADS * WAKES {
                return Poll::Pending;
            }
            workers.drain(..).for_each(|w| w.join().unwrap());
            Poll::Ready((polls, seen))
        }));
        // Other work goes on meanwhile.
        let other = gather((0..100).map(|i| async move {
            yield_now().await;
            i
        }));
        let (t, o) = asyncio::gather!(task, other).await.unwrap();
        assert_eq!(o.iter().sum::<i32>(), 4950);
        t
    });
    assert_eq!(seen, THREADS * WAKES, "every increment was seen");
    assert!(
        polls <= THREADS * WAKES + 1,
        "a task is polled at most once per wake: {polls}"
    );
    assert_usable(&lp);
}

/// The loop skips the waker's system call while it is busy and fires it only once parked (a
/// handshake on a flag): a wake landing as the loop goes to sleep must not be lost. Here every
/// wake comes from another thread at the moment the loop runs out of work.
#[test]
fn twenty_thousand_wakes_from_another_thread_as_the_loop_parks_lose_none() {
    let n = common::watchdog("ping-pong with a thread", || {
        run(async {
            let (tx, rx) = std::sync::mpsc::channel::<Waker>();
            let pinger = thread::spawn(move || {
                for waker in rx {
                    waker.wake();
                }
            });
            let mut n = 0;
            for _ in 0..20_000 {
                let mut sent = false;
                poll_fn(|cx| {
                    if sent {
                        return Poll::Ready(());
                    }
                    sent = true;
                    tx.send(cx.waker().clone()).unwrap();
                    Poll::Pending
                })
                .await;
                n += 1;
            }
            drop(tx);
            pinger.join().unwrap();
            n
        })
    });
    assert_eq!(n, 20_000);
}

// T1 T2
#[test]
fn a_waker_kept_after_its_task_finished_wakes_nothing_here_or_from_another_thread() {
    let lp = EventLoop::new();
    let kept: Rc<RefCell<Option<Waker>>> = Rc::default();
    let runs = Rc::new(Cell::new(0));
    let (k, r) = (kept.clone(), runs.clone());
    let mut task = lp.run_until_complete(async move {
        spawn(poll_fn(move |cx| {
            r.set(r.get() + 1);
            *k.borrow_mut() = Some(cx.waker().clone());
            Poll::Ready(7)
        }))
    });
    assert_eq!(lp.run_until_complete(&mut task), Ok(7));
    assert!(task.is_done());
    let waker = kept.borrow_mut().take().expect("the task kept its waker");
    // Woken here, while the loop runs, and from another thread, many times, and dropped there.
    lp.run_until_complete(async {
        for _ in 0..1_000 {
            waker.wake_by_ref();
        }
        let w = waker.clone();
        thread::spawn(move || {
            for _ in 0..1_000 {
                w.wake_by_ref();
            }
            w.wake();
        })
        .join()
        .unwrap();
        for _ in 0..3 {
            yield_now().await;
        }
    });
    waker.wake();
    assert_eq!(runs.get(), 1, "a finished task never runs again");
    assert!(!task.cancel(), "and stays done");
    assert_usable(&lp);
}

// L4 L5 T1
#[test]
fn a_task_that_wakes_itself_forever_starves_no_timer_thread_or_task_and_can_be_cancelled() {
    let lp = EventLoop::new();
    let (spins, turns) = lp.run_until_complete(async {
        let spins = Rc::new(Cell::new(0u64));
        let dropped = Rc::new(Cell::new(false));
        let (s, d) = (spins.clone(), dropped.clone());
        let spinner = spawn(async move {
            let _d = OnDrop(move || d.set(true));
            poll_fn(|cx| {
                s.set(s.get() + 1);
                cx.waker().wake_by_ref();
                Poll::<()>::Pending
            })
            .await
        });
        // Meanwhile: a timer, a wake from another thread, a gather of yielding tasks.
        let (tx, rx) = (
            Arc::new(Mutex::new(None::<Waker>)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (tx2, rx2) = (tx.clone(), rx.clone());
        let from_thread = poll_fn(move |cx| {
            if rx2.load(Ordering::SeqCst) == 1 {
                return Poll::Ready("thread");
            }
            *tx2.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        });
        let waker_thread = thread::spawn(move || loop {
            if let Some(w) = tx.lock().unwrap().take() {
                rx.store(1, Ordering::SeqCst);
                w.wake();
                break;
            }
            thread::sleep(Duration::from_millis(1));
        });
        // Fifty turns, counted by a task of its own, while the spinner spins.
        let sp = spins.clone();
        let counted = async move {
            let before = sp.get();
            for _ in 0..50 {
                yield_now().await;
            }
            sp.get() - before
        };
        let out = asyncio::gather!(
            async {
                sleep(Duration::from_millis(2)).await;
                "timer"
            },
            from_thread,
            gather((0..10).map(|i| async move {
                yield_now().await;
                i
            })),
            counted
        )
        .await
        .unwrap();
        waker_thread.join().unwrap();
        assert_eq!((out.0, out.1, out.2.len()), ("timer", "thread", 10));
        assert!(!spinner.is_done(), "the spinner spins on");
        assert!(spinner.cancel());
        let spinner_result = spinner.await;
        assert_eq!(spinner_result, Err(TaskError::Cancelled));
        assert!(dropped.get(), "the spinner's future was dropped");
        (out.3, 50)
    });
    // L4: a self-waking task runs once per turn, no more (it cannot hog a turn) and no less.
    assert!(
        (turns - 1..=turns + 1).contains(&spins),
        "the spinner ran {spins} times in {turns} turns"
    );
    assert_usable(&lp);
}

// ---------------------------------------------------------------------------------------------
// Depth: 100,000 levels on a 256 KiB stack
// ---------------------------------------------------------------------------------------------

const DEEP: usize = 100_000;

/// `depth` gathers, each adopting a task that awaits the gather below and adds one (the type of
/// `gather(gather(..))` grows with the depth, so each level goes through a task); the bottom one
/// gathers `leaf`.
fn nest<F: Future<Output = usize> + 'static>(leaf: F, depth: usize) -> Gather<Vec<usize>> {
    let mut g: Gather<Vec<usize>> = gather([leaf]);
    for _ in 0..depth {
        let inner = g;
        g = gather([async move { inner.await.expect("an inner level failed")[0] + 1 }]);
    }
    g
}

// G9 G13
#[test]
fn a_hundred_thousand_nested_gathers_give_the_value_on_a_small_stack() {
    let out = on_small_stack(|| {
        run(async {
            nest(
                async {
                    yield_now().await;
                    0
                },
                DEEP,
            )
            .await
        })
    });
    assert_eq!(out, Ok(vec![DEEP]));
}

// G9 G14 G8
#[test]
fn cancelling_a_hundred_thousand_nested_gathers_reaches_the_leaf_on_a_small_stack() {
    let (cancelled, leaf_dropped) = on_small_stack(|| {
        run(async {
            let dropped = Rc::new(Cell::new(false));
            let d = dropped.clone();
            let mut g = nest(
                async move {
                    let _d = OnDrop(move || d.set(true));
                    pending::<usize>().await
                },
                DEEP,
            );
            yield_now().await;
            assert!(g.cancel());
            let out = (&mut g).await;
            while !dropped.get() {
                yield_now().await;
            }
            (out, dropped.get())
        })
    });
    assert_eq!(cancelled, Err(TaskError::Cancelled));
    assert!(leaf_dropped);
}

// L1
#[test]
fn a_loop_dropped_with_a_hundred_thousand_nested_gathers_pending_cleans_up_on_a_small_stack() {
    let drops = on_small_stack(|| {
        let drops = Rc::new(Cell::new(0usize));
        let lp = EventLoop::new();
        let d = drops.clone();
        let g = lp.run_until_complete(async move {
            let g = nest(
                async move {
                    let _d = OnDrop(move || d.set(d.get() + 1));
                    pending::<usize>().await
                },
                DEEP,
            );
            yield_now().await;
            g
        });
        drop(g);
        drop(lp);
        drops.get()
    });
    assert_eq!(drops, 1, "the leaf was dropped once");
}

/// A chain of `len` tasks, each awaiting the one before and adding one; the first runs `leaf`.
fn chain<F: Future<Output = usize> + 'static>(leaf: F, len: usize) -> Task<usize> {
    let mut t = spawn(leaf);
    for _ in 0..len {
        let before = t;
        t = spawn(async move { before.await.expect("a link failed") + 1 });
    }
    t
}

// T5
#[test]
fn a_hundred_thousand_long_await_chain_gives_the_value_on_a_small_stack() {
    let out = on_small_stack(|| {
        run(async {
            chain(
                async {
                    yield_now().await;
                    0
                },
                DEEP,
            )
            .await
        })
    });
    assert_eq!(out, Ok(DEEP));
}

// T5 T1
#[test]
fn cancelling_the_end_of_a_hundred_thousand_long_await_chain_reaches_its_start() {
    let (out, dropped) = on_small_stack(|| {
        run(async {
            let dropped = Rc::new(Cell::new(0usize));
            let d = dropped.clone();
            let mut last = chain(
                async move {
                    let _d = OnDrop(move || d.set(d.get() + 1));
                    pending::<usize>().await
                },
                DEEP,
            );
            yield_now().await;
            yield_now().await;
            assert!(last.cancel());
            let out = (&mut last).await;
            // Each link, dropped, abandons its await of the one before (T5): one turn per link.
            while dropped.get() == 0 {
                yield_now().await;
            }
            (out, dropped.get())
        })
    });
    assert_eq!(out, Err(TaskError::Cancelled));
    assert_eq!(dropped, 1, "the first link was dropped once");
}

// L1
#[test]
fn run_returning_with_a_hundred_thousand_long_await_chain_pending_cleans_up_on_a_small_stack() {
    let drops = on_small_stack(|| {
        let drops = Rc::new(Cell::new(0usize));
        let d = drops.clone();
        run(async move {
            chain(
                async move {
                    let _d = OnDrop(move || d.set(d.get() + 1));
                    pending::<usize>().await
                },
                DEEP,
            )
            .detach();
            yield_now().await;
        });
        drops.get()
    });
    assert_eq!(drops, 1);
}

// ---------------------------------------------------------------------------------------------
// Bugs found, with the stories that found them
// ---------------------------------------------------------------------------------------------

/// Runs `f` on its own thread and fails (instead of hanging) if it has not finished in a minute.
fn within_a_minute(f: fn()) {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(()) => worker.join().unwrap(),
        Err(_) => match worker.is_finished() {
            true => worker
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e)),
            false => panic!("hung: still running after a minute"),
        },
    }
}

/// Polls `fut` once (inside a loop) and hands it back.
async fn poll_once<F: Future + Unpin>(mut fut: F) -> F {
    poll_fn(|cx| {
        let _ = std::pin::Pin::new(&mut fut).poll(cx);
        Poll::Ready(())
    })
    .await;
    fut
}

// L2. Bug: an armed sleep moved to another loop looked its timer up by key in the new loop's
// timers: absent there, it completed at once (a 50 ms sleep took no time at all), or the same key
// and sequence number named another sleep's timer there, whose task was then never woken.
// asyncio refuses a future attached to another loop; so do we, with a message.
#[test]
fn bug_a_sleep_armed_on_one_loop_and_polled_on_another_is_refused() {
    let first = EventLoop::new();
    let nap = first.run_until_complete(poll_once(Box::pin(sleep(Duration::from_secs(3600)))));
    let second = EventLoop::new();
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        second.run_until_complete(nap)
    }));
    let payload = refused.expect_err("refused");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(message.contains("polled on another"), "{message}");
}

// L2. The refused sleep stole nothing: the second loop's own sleeper still wakes.
#[test]
fn bug_a_sleep_moved_to_another_loop_steals_no_other_sleeps_wake_up() {
    within_a_minute(|| {
        let first = EventLoop::new();
        let nap = first.run_until_complete(poll_once(Box::pin(sleep(Duration::from_secs(3600)))));
        let second = EventLoop::new();
        let out = second.run_until_complete(async move {
            // The first timer armed on this loop: same key and sequence number as `nap`'s.
            let sleeper = spawn(async {
                sleep(Duration::from_millis(5)).await;
                "woken"
            });
            yield_now().await;
            let moved = spawn(nap);
            assert!(matches!(moved.await, Err(asyncio::TaskError::Panicked(_))));
            sleeper.await
        });
        assert_eq!(out, Ok("woken"));
    });
}

// L2. Bug: awaiting, on one loop, a task that runs on another (idle) loop hung forever: the task
// can only run on its own loop. asyncio refuses ("attached to a different loop"); so do we.
#[test]
fn bug_awaiting_a_task_of_another_loop_hung_instead_of_refusing() {
    within_a_minute(|| {
        let first = EventLoop::new();
        let task = first.run_until_complete(async {
            spawn(async {
                yield_now().await;
                1
            })
        });
        let second = EventLoop::new();
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            second.run_until_complete(task)
        }));
        let message = *refused.expect_err("refused").downcast::<String>().unwrap();
        assert!(
            message.contains("outside the event loop it belongs to"),
            "{message}"
        );
        assert_usable(&second);
    });
}

// L2. The same for a gather created on another loop, and for a task of another loop handed to a
// gather.
#[test]
fn bug_awaiting_a_gather_of_another_loop_or_gathering_its_tasks_hung_instead_of_refusing() {
    within_a_minute(|| {
        let first = EventLoop::new();
        let (g, t) = first.run_until_complete(async {
            let g = gather([async {
                yield_now().await;
                1
            }]);
            (g, spawn(async { 2 }))
        });
        let second = EventLoop::new();
        let second = &second;
        for attempt in [
            Box::new(move || drop(second.run_until_complete(g))) as Box<dyn FnOnce()>,
            Box::new(move || drop(second.run_until_complete(async { gather([t]).await }))),
        ] {
            let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(attempt));
            let message = *refused.expect_err("refused").downcast::<String>().unwrap();
            assert!(
                message.contains("outside the event loop it belongs to"),
                "{message}"
            );
        }
        assert_usable(second);
    });
}

/// A waker that panics when woken (foreign code a task's awaiter may bring).
struct PanickingWaker;

impl std::task::Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("this waker panics when woken");
    }
}

/// Found in review: a waker that panicked when the task it awaited finished left that task
/// half-finished (done, but no output and never freed); a later wake ran its completion again
/// with a stale registry key, removing another task's entry, which then outlived the loop.
#[test]
fn bug_a_panicking_awaiter_waker_left_a_finished_task_half_done() {
    use std::future::IntoFuture;
    let (lp, reports) = reporting_loop();
    let alive = Rc::new(());
    let mut task = lp.run_until_complete(async {
        let mut task = spawn(async {
            yield_now().await;
            5
        });
        let mut join = Box::pin((&mut task).into_future());
        let waker = Waker::from(Arc::new(PanickingWaker));
        assert!(join
            .as_mut()
            .poll(&mut std::task::Context::from_waker(&waker))
            .is_pending());
        std::mem::forget(join); // keep the panicking waker as the awaiter, without cancelling
        task
    });
    lp.run_until_complete(async {
        yield_now().await;
        yield_now().await;
    });
    assert!(task.is_done());
    assert_eq!(
        lp.run_until_complete(&mut task),
        Ok(5),
        "the output is there"
    );
    assert_eq!(
        reports.borrow().len(),
        1,
        "the waker's panic is reported: {reports:?}"
    );
    assert!(reports.borrow()[0].contains("this waker panics when woken"));
    let a = alive.clone();
    let other = lp.run_until_complete(async move {
        spawn(async move {
            let _a = a;
            pending::<()>().await
        })
    });
    drop(lp);
    assert!(other.is_cancelled());
    assert_eq!(
        Rc::strong_count(&alive),
        1,
        "the other task's future was dropped with the loop"
    );
}
