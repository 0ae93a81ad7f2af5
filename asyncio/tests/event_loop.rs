//! The event loop (SEMANTICS.md L1–L6), told as small stories of what a program can observe, and
//! wakes that come from other threads.
//!
//! Tests that would hang if a wake were lost, or if the loop waited for something it should have
//! cancelled, run the loop on a thread of their own under a 30 s watchdog, so they fail instead.
//! No test asserts that something took *at most* some time: order is made deterministic by counting
//! loop turns with `yield_now()` and by explicit deadlines.

mod common;

use common::watchdog;
use std::cell::{Cell, RefCell};
use std::future::{pending, poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use asyncio::{
    call_soon, gather, run, sleep, sleep_until, spawn, yield_now, EventLoop, Task, TaskError,
};

const WATCHDOG: Duration = Duration::from_secs(30);

/// Runs its closure when dropped: the Rust form of a task's `finally:` clause.
struct OnDrop<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

fn on_drop<F: FnOnce()>(f: F) -> OnDrop<F> {
    OnDrop(Some(f))
}

fn flag() -> Rc<Cell<bool>> {
    Rc::new(Cell::new(false))
}

/// The text of a panic payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<not a string>".to_owned()
    }
}

/// A future that completes once another thread has set a flag: on its first poll it hands a clone
/// of its waker to a new thread, which sleeps `delay`, sets the flag, then wakes it.
fn set_by_thread(delay: Duration) -> impl Future<Output = ()> {
    let flag = Arc::new(AtomicBool::new(false));
    let mut started = false;
    poll_fn(move |cx| {
        if flag.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if !started {
            started = true;
            let (flag, waker) = (flag.clone(), cx.waker().clone());
            thread::spawn(move || {
                thread::sleep(delay);
                flag.store(true, Ordering::Release);
                waker.wake();
            });
        }
        Poll::Pending
    })
}

/// A future that, on its first poll, starts `threads` threads which each count and then wake it
/// `wakes` times, all at once. It completes when it sees the count complete, returning how often it
/// was polled. If the last wake were lost it would never complete.
fn hammered(threads: usize, wakes: usize) -> impl Future<Output = usize> {
    let count = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    let mut polls = 0;
    poll_fn(move |cx| {
        polls += 1;
        if polls == 1 {
            let barrier = Arc::new(Barrier::new(threads));
            for _ in 0..threads {
                let (count, waker, barrier) = (count.clone(), cx.waker().clone(), barrier.clone());
                workers.push(thread::spawn(move || {
                    barrier.wait();
                    for _ in 0..wakes {
                        count.fetch_add(1, Ordering::SeqCst);
                        waker.wake_by_ref();
                    }
                }));
            }
        }
        if count.load(Ordering::SeqCst) == threads * wakes {
            for w in workers.drain(..) {
                w.join().expect("a waking thread panicked");
            }
            return Poll::Ready(polls);
        }
        Poll::Pending
    })
}

// ---------------------------------------------------------------------------------------------
// L1: run's clean-up
// ---------------------------------------------------------------------------------------------

// L1
#[test]
fn l1_run_cancels_the_tasks_main_left_behind_before_it_returns_mains_output() {
    let log = Rc::new(RefCell::new(Vec::<String>::new()));
    let resumed = flag();
    let (l, r) = (log.clone(), resumed.clone());
    let out = run(async move {
        for i in 0..3 {
            let (l, r) = (l.clone(), r.clone());
            spawn(async move {
                let _cleanup = on_drop(move || l.borrow_mut().push(format!("task {i} cleaned up")));
                pending::<()>().await;
                r.set(true);
            });
        }
        yield_now().await; // every task reaches its await
        l.borrow_mut().push("main returns".into());
        42
    });
    log.borrow_mut().push("run returned".into());
    assert_eq!(out, 42, "run must return main's output");
    assert_eq!(
        *log.borrow(),
        [
            "main returns",
            "task 0 cleaned up",
            "task 1 cleaned up",
            "task 2 cleaned up",
            "run returned"
        ],
        "run must cancel (drop) every pending task after main finished and before it returns"
    );
    assert!(
        !resumed.get(),
        "a task left pending by main was resumed instead of cancelled"
    );
}

// L1
#[test]
fn l1_handles_of_tasks_left_behind_report_them_cancelled_after_run() {
    let (finished, left_behind) = run(async {
        let finished = spawn(async { "done early" });
        let left_behind = spawn(pending::<()>());
        yield_now().await;
        (finished, left_behind)
    });
    assert!(
        left_behind.is_done() && left_behind.is_cancelled(),
        "a task still pending when main finished must end cancelled by run's clean-up"
    );
    assert!(finished.is_done() && !finished.is_cancelled());
    assert_eq!(run(left_behind), Err(TaskError::Cancelled));
    assert_eq!(run(finished), Ok("done early"));
}

// L1
#[test]
fn l1_tasks_spawned_during_clean_up_never_run_their_body() {
    let late_ran = flag();
    let late_dropped = flag();
    let (ran, dropped) = (late_ran.clone(), late_dropped.clone());
    run(async move {
        spawn(async move {
            // Runs during run's clean-up, when this task is cancelled: it spawns another task.
            let _cleanup = on_drop(move || {
                let guard = on_drop(move || dropped.set(true));
                spawn(async move {
                    let _guard = guard;
                    ran.set(true);
                })
                .detach();
            });
            pending::<()>().await;
        })
        .detach();
        yield_now().await;
    });
    assert!(
        !late_ran.get(),
        "a task spawned during run's clean-up ran its body; it must be cancelled before its first turn"
    );
    assert!(
        late_dropped.get(),
        "the future of a task spawned during clean-up was not dropped before run returned"
    );
}

// L1
#[test]
fn l1_a_panic_in_main_propagates_after_the_clean_up() {
    let cleaned = flag();
    let c = cleaned.clone();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        run(async move {
            spawn(async move {
                let _cleanup = on_drop(move || c.set(true));
                pending::<()>().await;
            })
            .detach();
            yield_now().await;
            panic!("main gave up");
        })
    }));
    let payload = outcome.expect_err("run must propagate the panic of main");
    assert!(
        panic_text(&*payload).contains("main gave up"),
        "run propagated some other panic: {:?}",
        panic_text(&*payload)
    );
    assert!(
        cleaned.get(),
        "run propagated main's panic without first cancelling the pending tasks"
    );
}

// L1
#[test]
fn l1_clean_up_does_not_wait_for_the_timers_of_cancelled_tasks() {
    // If the clean-up waited for the sleeping task instead of cancelling it, this would take an hour.
    let out = watchdog("l1_clean_up_timers", || {
        run(async {
            spawn(sleep(Duration::from_secs(3600))).detach();
            let held = spawn(async {
                sleep(Duration::from_secs(3600)).await;
                "woke after an hour"
            });
            yield_now().await;
            drop(held);
            "main done"
        })
    });
    assert_eq!(out, "main done");
}

// L1
#[test]
fn l1_a_drop_that_panics_during_clean_up_does_not_stop_it() {
    let other_cleaned = flag();
    let c = other_cleaned.clone();
    let out = run(async move {
        spawn(async {
            let _cleanup = on_drop(|| panic!("a clean-up that fails"));
            pending::<()>().await;
        })
        .detach();
        spawn(async move {
            let _cleanup = on_drop(move || c.set(true));
            pending::<()>().await;
        })
        .detach();
        yield_now().await;
        "main done"
    });
    assert_eq!(out, "main done");
    assert!(
        other_cleaned.get(),
        "a panicking Drop in one task stopped run's clean-up of the others"
    );
}

// L1
#[test]
fn l1_an_event_loop_keeps_pending_tasks_between_runs_and_cancels_them_when_dropped() {
    let steps = Rc::new(Cell::new(0));
    let cleaned = flag();
    let lp = EventLoop::new();
    let (s, c) = (steps.clone(), cleaned.clone());
    lp.run_until_complete(async move {
        spawn(async move {
            let _cleanup = on_drop(move || c.set(true));
            loop {
                s.set(s.get() + 1);
                yield_now().await;
            }
        })
        .detach();
        yield_now().await;
    });
    let after_first_run = steps.get();
    assert!(
        after_first_run >= 1,
        "the task never ran during the first run"
    );
    lp.run_until_complete(async {
        for _ in 0..3 {
            yield_now().await;
        }
    });
    assert!(
        steps.get() > after_first_run,
        "a task left pending by one run_until_complete must continue in the next"
    );
    assert!(
        !cleaned.get(),
        "run_until_complete cancelled a pending task"
    );
    drop(lp);
    assert!(
        cleaned.get(),
        "dropping the loop must cancel its pending tasks"
    );
}

// ---------------------------------------------------------------------------------------------
// L2: misuse is refused with a clear panic
// ---------------------------------------------------------------------------------------------

// L2
#[test]
#[should_panic(expected = "already running")]
fn l2_run_inside_a_running_loop_is_refused() {
    run(async {
        run(async {});
    });
}

// L2
#[test]
#[should_panic(expected = "already running")]
fn l2_run_until_complete_inside_a_running_loop_is_refused() {
    run(async {
        EventLoop::new().run_until_complete(async {});
    });
}

// L2
#[test]
fn l2_a_task_that_nests_run_fails_and_the_loop_goes_on() {
    run(async {
        let nested = spawn(async {
            run(async {});
        });
        let bystander = spawn(async {
            yield_now().await;
            "still here"
        });
        match nested.await {
            Err(TaskError::Panicked(p)) => assert!(
                p.message().contains("already running"),
                "the panic must say a loop is already running, got {:?}",
                p.message()
            ),
            other => panic!("a task calling run() inside the loop must panic, got {other:?}"),
        }
        assert_eq!(bystander.await, Ok("still here"));
    });
}

// L2
#[test]
#[should_panic(expected = "outside a running event loop")]
fn l2_spawn_outside_a_running_loop_is_refused() {
    let _ = spawn(async {});
}

// L2
#[test]
#[should_panic(expected = "outside a running event loop")]
fn l2_spawn_after_the_loop_has_finished_is_refused() {
    run(async {});
    let _ = spawn(async {});
}

// L2
#[test]
#[should_panic(expected = "outside a running event loop")]
fn l2_call_soon_outside_a_running_loop_is_refused() {
    call_soon(|| {});
}

// L2
#[test]
#[should_panic(expected = "outside a running event loop")]
fn l2_polling_a_sleep_outside_a_running_loop_is_refused() {
    let mut nap = sleep(Duration::from_millis(1));
    let _ = Pin::new(&mut nap).poll(&mut Context::from_waker(Waker::noop()));
}

// L2
#[test]
#[should_panic(expected = "outside a running event loop")]
fn l2_gather_with_children_outside_a_running_loop_is_refused() {
    let _ = gather([1, 2].map(|n| async move { n }));
}

// L2
#[test]
fn l2_the_refusals_name_the_call_that_was_misused() {
    fn message_of(f: impl FnOnce()) -> String {
        let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the call must panic");
        panic_text(&*payload)
    }
    let spawn_msg = message_of(|| drop(spawn(async {})));
    assert!(spawn_msg.contains("spawn()"), "{spawn_msg:?}");
    let call_soon_msg = message_of(|| call_soon(|| {}));
    assert!(call_soon_msg.contains("call_soon()"), "{call_soon_msg:?}");
    let sleep_msg = message_of(|| {
        let mut nap = sleep(Duration::from_millis(1));
        let _ = Pin::new(&mut nap).poll(&mut Context::from_waker(Waker::noop()));
    });
    assert!(sleep_msg.contains("sleep()"), "{sleep_msg:?}");
    // Building futures needs no loop: only running them does.
    let nap = sleep(Duration::from_millis(1));
    run(nap);
}

// ---------------------------------------------------------------------------------------------
// L3: spawned tasks are scheduled at once and live on without their handle
// ---------------------------------------------------------------------------------------------

// L3
#[test]
fn l3_a_task_makes_progress_whether_or_not_its_handle_is_awaited() {
    run(async {
        let steps = Rc::new(Cell::new(0));
        let s = steps.clone();
        let held = spawn(async move {
            for _ in 0..3 {
                s.set(s.get() + 1);
                yield_now().await;
            }
        });
        assert_eq!(
            steps.get(),
            0,
            "spawn must schedule the task, not run it inline"
        );
        for _ in 0..4 {
            yield_now().await;
        }
        assert_eq!(
            steps.get(),
            3,
            "a task whose handle is held but never awaited must still run on the loop's turns"
        );
        assert!(held.is_done());
    });
}

// L3
#[test]
fn l3_dropping_the_handle_detaches_the_task_which_runs_to_the_end() {
    run(async {
        let finished = flag();
        let f = finished.clone();
        let base = Instant::now();
        drop(spawn(async move {
            sleep_until(base + Duration::from_millis(5)).await;
            yield_now().await;
            f.set(true);
        }));
        sleep_until(base + Duration::from_millis(30)).await;
        yield_now().await;
        assert!(
            finished.get(),
            "a task whose handle was dropped must be kept alive and run until it finishes"
        );
    });
}

// L3, L4
#[test]
fn l3_a_spawned_task_and_a_call_soon_callback_start_on_the_next_turn() {
    run(async {
        // A clock task that ticks once per loop turn.
        let turn = Rc::new(Cell::new(0u32));
        let t = turn.clone();
        let clock = spawn(async move {
            loop {
                t.set(t.get() + 1);
                yield_now().await;
            }
        });
        yield_now().await;
        let spawned_at = turn.get();
        let started_at = Rc::new(Cell::new(None));
        let called_at = Rc::new(Cell::new(None));
        let (s, t) = (started_at.clone(), turn.clone());
        spawn(async move { s.set(Some(t.get())) }).detach();
        let (c, t) = (called_at.clone(), turn.clone());
        call_soon(move || c.set(Some(t.get())));
        assert_eq!(started_at.get(), None, "spawn ran the task inline");
        assert_eq!(called_at.get(), None, "call_soon ran the callback inline");
        yield_now().await;
        assert_eq!(
            started_at.get(),
            Some(spawned_at + 1),
            "a spawned task must first run on the turn after it was spawned"
        );
        assert_eq!(
            called_at.get(),
            Some(spawned_at + 1),
            "a call_soon callback must run on the turn after it was scheduled"
        );
        clock.cancel();
    });
}

// ---------------------------------------------------------------------------------------------
// L4: one turn runs what was ready when it began
// ---------------------------------------------------------------------------------------------

// L4
#[test]
fn l4_ready_tasks_take_one_step_each_per_turn() {
    run(async {
        let log = Rc::new(RefCell::new(Vec::new()));
        let worker = |name: &'static str| {
            let log = log.clone();
            spawn(async move {
                for i in 0..3 {
                    log.borrow_mut().push(format!("{name}{i}"));
                    yield_now().await;
                }
            })
        };
        let a = worker("A");
        let b = worker("B");
        a.await.unwrap();
        b.await.unwrap();
        assert_eq!(
            *log.borrow(),
            ["A0", "B0", "A1", "B1", "A2", "B2"],
            "tasks that yield must interleave one step per turn, in the order they became ready"
        );
    });
}

// L4
#[test]
fn l4_a_task_that_keeps_waking_itself_starves_neither_timers_nor_threads_nor_tasks() {
    // If a self-waking task were run again within the same turn, the turn would never end and
    // nothing else would ever run: the watchdog would fire.
    let spins = watchdog("l4_no_starvation", || {
        run(async {
            let timer_fired = flag();
            let thread_woke = flag();
            let task_ran = flag();
            let (tf, tw, tr) = (timer_fired.clone(), thread_woke.clone(), task_ran.clone());
            spawn(async move {
                sleep(Duration::from_millis(5)).await;
                tf.set(true);
            })
            .detach();
            spawn(async move {
                set_by_thread(Duration::from_millis(5)).await;
                tw.set(true);
            })
            .detach();
            spawn(async move {
                for _ in 0..10 {
                    yield_now().await;
                }
                tr.set(true);
            })
            .detach();
            // The spinner: wakes itself on every poll (not through yield_now) until all the others
            // have had their turn.
            let mut spins = 0u64;
            poll_fn(|cx| {
                if timer_fired.get() && thread_woke.get() && task_ran.get() {
                    return Poll::Ready(());
                }
                spins += 1;
                cx.waker().wake_by_ref();
                Poll::Pending
            })
            .await;
            spins
        })
    });
    assert!(spins > 10, "the spinner finished after only {spins} spins");
}

// L4
#[test]
fn l4_a_task_is_run_only_when_woken_and_once_per_turn_however_often_it_was_woken() {
    run(async {
        let polls = Rc::new(Cell::new(0));
        let waker = Rc::new(RefCell::new(None::<Waker>));
        let (p, w) = (polls.clone(), waker.clone());
        let task = spawn(poll_fn(move |cx| {
            p.set(p.get() + 1);
            *w.borrow_mut() = Some(cx.waker().clone());
            Poll::<()>::Pending
        }));
        for _ in 0..10 {
            yield_now().await;
        }
        assert_eq!(
            polls.get(),
            1,
            "a task nobody woke was polled again: the loop runs tasks that are not ready"
        );
        let w = waker.borrow().clone().expect("the task stored its waker");
        for _ in 0..5 {
            w.wake_by_ref();
        }
        for _ in 0..3 {
            yield_now().await;
        }
        assert_eq!(
            polls.get(),
            2,
            "a task woken 5 times before its turn must be run once, not 5 times"
        );
        task.cancel();
    });
}

// ---------------------------------------------------------------------------------------------
// L6 and cross-thread wakes
// ---------------------------------------------------------------------------------------------

/// This thread's kernel id, from `/proc/thread-self` (Linux); `None` where that is not available.
fn current_tid() -> Option<String> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    Some(link.file_name()?.to_string_lossy().into_owned())
}

/// The scheduler state of thread `tid` of this process: `'R'` running or runnable, `'S'` asleep...
fn thread_state(tid: &str) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Samples the state of thread `tid` 100 times, 2 ms apart: (samples asleep, samples taken).
fn sample_sleeping(tid: &str) -> (usize, usize) {
    let (mut asleep, mut taken) = (0, 0);
    for _ in 0..100 {
        match thread_state(tid) {
            Some('S') => asleep += 1,
            Some(_) => {}
            None => break,
        }
        taken += 1;
        thread::sleep(Duration::from_millis(2));
    }
    (asleep, taken)
}

// L6
#[test]
fn l6_a_loop_waiting_for_its_next_timer_sleeps_instead_of_spinning() {
    if current_tid().is_none() {
        eprintln!("skipped: /proc/thread-self is not available, thread states are not observable");
        return;
    }
    let sampled = Arc::new(AtomicBool::new(false));
    let (tid_tx, tid_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let s = sampled.clone();
    thread::spawn(move || {
        tid_tx.send(current_tid()).unwrap();
        // Nothing is ever ready between these timers: the loop has nothing to do but wait.
        run(async move {
            while !s.load(Ordering::Acquire) {
                sleep(Duration::from_millis(50)).await;
            }
        });
        done_tx.send(()).unwrap();
    });
    let tid = tid_rx
        .recv_timeout(WATCHDOG)
        .unwrap()
        .expect("the loop thread's id");
    thread::sleep(Duration::from_millis(10));
    let (asleep, taken) = sample_sleeping(&tid);
    sampled.store(true, Ordering::Release);
    done_rx
        .recv_timeout(WATCHDOG)
        .expect("the loop did not stop after its flag was set");
    assert!(taken > 0, "the loop thread could not be observed");
    assert!(
        asleep * 2 > taken,
        "the loop thread was asleep in only {asleep} of {taken} samples while it merely waited for \
         50ms timers: it busy-waits instead of blocking until the next deadline"
    );
}

// L6
#[test]
fn l6_a_loop_waiting_for_another_thread_sleeps_until_woken() {
    if current_tid().is_none() {
        eprintln!("skipped: /proc/thread-self is not available, thread states are not observable");
        return;
    }
    let (tid_tx, tid_rx) = mpsc::channel();
    let (waker_tx, waker_rx) = mpsc::channel::<Waker>();
    let (done_tx, done_rx) = mpsc::channel();
    let woken = Arc::new(AtomicBool::new(false));
    let w = woken.clone();
    thread::spawn(move || {
        tid_tx.send(current_tid()).unwrap();
        run(async move {
            let mut sent = false;
            poll_fn(|cx| {
                if w.load(Ordering::Acquire) {
                    return Poll::Ready(());
                }
                if !sent {
                    sent = true;
                    waker_tx.send(cx.waker().clone()).unwrap();
                }
                Poll::Pending
            })
            .await;
        });
        done_tx.send(()).unwrap();
    });
    let tid = tid_rx
        .recv_timeout(WATCHDOG)
        .unwrap()
        .expect("the loop thread's id");
    let waker = waker_rx
        .recv_timeout(WATCHDOG)
        .expect("the loop never polled main");
    thread::sleep(Duration::from_millis(10));
    let (asleep, taken) = sample_sleeping(&tid);
    woken.store(true, Ordering::Release);
    waker.wake();
    done_rx
        .recv_timeout(WATCHDOG)
        .expect("the wake from another thread did not reach the sleeping loop");
    assert!(taken > 0, "the loop thread could not be observed");
    assert!(
        asleep * 2 > taken,
        "the loop thread was asleep in only {asleep} of {taken} samples while it waited for another \
         thread: it busy-waits instead of blocking"
    );
}

// L6
#[test]
fn a_wake_from_another_thread_resumes_a_task() {
    let out = watchdog("wake_a_task_from_a_thread", || {
        run(async {
            let task = spawn(async {
                set_by_thread(Duration::from_millis(20)).await;
                "woken"
            });
            task.await
        })
    });
    assert_eq!(out, Ok("woken"));
}

// L6
#[test]
fn a_wake_from_another_thread_resumes_main() {
    watchdog("wake_main_from_a_thread", || {
        run(set_by_thread(Duration::from_millis(20)));
    });
}

// L6
#[test]
fn a_wake_from_another_thread_interrupts_the_wait_for_a_far_deadline() {
    // The loop sleeps until its next deadline, an hour away; the wake must cut that short.
    watchdog("wake_before_far_deadline", || {
        run(async {
            spawn(sleep(Duration::from_secs(3600))).detach();
            yield_now().await;
            // Both a task's waker and main's.
            spawn(set_by_thread(Duration::from_millis(50)))
                .await
                .unwrap();
            set_by_thread(Duration::from_millis(50)).await;
        });
    });
}

#[test]
fn eight_threads_waking_one_task_1000_times_each_lose_no_wake() {
    let polls = watchdog("eight_threads_one_task", || {
        run(async { spawn(hammered(8, 1000)).await })
    })
    .expect("the hammered task failed");
    assert!(
        polls <= 8 * 1000 + 1,
        "the task was polled {polls} times for 8000 wakes: it was run without being woken"
    );
}

#[test]
fn eight_threads_waking_main_1000_times_each_lose_no_wake() {
    let polls = watchdog("eight_threads_main", || run(hammered(8, 1000)));
    assert!(polls >= 2, "main completed without waiting for the threads");
}

#[test]
fn a_thousand_round_trips_with_another_thread_lose_no_wake() {
    // Each round: the task asks, parks; the thread answers and wakes it. One lost wake hangs.
    let rounds = watchdog("ping_pong", || {
        run(async {
            spawn(async {
                let answer = Arc::new(AtomicUsize::new(0));
                let (ask, asked) = mpsc::channel::<(usize, Waker)>();
                let a = answer.clone();
                let server = thread::spawn(move || {
                    for (round, waker) in asked {
                        a.store(round, Ordering::Release);
                        waker.wake();
                    }
                });
                for round in 1..=1000 {
                    let mut sent = false;
                    poll_fn(|cx| {
                        if answer.load(Ordering::Acquire) == round {
                            return Poll::Ready(());
                        }
                        if !sent {
                            sent = true;
                            ask.send((round, cx.waker().clone())).unwrap();
                        }
                        Poll::Pending
                    })
                    .await;
                }
                drop(ask);
                server.join().expect("the answering thread panicked");
                answer.load(Ordering::Acquire)
            })
            .await
        })
    });
    assert_eq!(rounds, Ok(1000));
}

#[test]
fn a_wake_that_arrives_while_the_loop_is_stopped_is_kept_for_its_next_run() {
    watchdog("wake_while_stopped", || {
        let lp = EventLoop::new();
        let (waker_tx, waker_rx) = mpsc::channel::<Waker>();
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let mut task: Task<&str> = lp.run_until_complete(async move {
            let task = spawn(async move {
                let mut sent = false;
                poll_fn(|cx| {
                    if f.load(Ordering::Acquire) {
                        return Poll::Ready(());
                    }
                    if !sent {
                        sent = true;
                        waker_tx.send(cx.waker().clone()).unwrap();
                    }
                    Poll::Pending
                })
                .await;
                "woken while the loop was stopped"
            });
            yield_now().await; // the task hands over its waker and waits
            task
        });
        let waker = waker_rx.recv().expect("the task sent its waker");
        thread::spawn(move || {
            flag.store(true, Ordering::Release);
            waker.wake();
        })
        .join()
        .unwrap();
        // The loop is not running now; the wake must not be lost.
        assert_eq!(
            lp.run_until_complete(&mut task),
            Ok("woken while the loop was stopped")
        );
    });
}

#[test]
fn wakers_woken_and_dropped_on_other_threads_after_the_loop_is_gone_are_harmless() {
    let (tx, rx) = mpsc::channel::<Waker>();
    run(async move {
        let (t1, t2, t3) = (tx.clone(), tx.clone(), tx);
        // A task that finishes, one left pending (cancelled by the clean-up), and main itself.
        let finished = spawn(poll_fn(move |cx| {
            t1.send(cx.waker().clone()).unwrap();
            Poll::Ready(())
        }));
        spawn(poll_fn(move |cx| {
            t2.send(cx.waker().clone()).unwrap();
            Poll::<()>::Pending
        }))
        .detach();
        poll_fn(|cx| {
            t3.send(cx.waker().clone()).unwrap();
            Poll::Ready(())
        })
        .await;
        yield_now().await;
        finished.await.unwrap();
    });
    let wakers: Vec<Waker> = rx.iter().collect();
    assert_eq!(wakers.len(), 3);
    thread::spawn(move || {
        for w in wakers {
            w.wake_by_ref();
            w.wake();
        }
    })
    .join()
    .expect("waking or dropping a waker of a finished loop on another thread panicked");
}
