//! Time (SEMANTICS.md L5): how long sleeps last, in which order timers fire, `yield_now` as exactly
//! one loop turn, and what happens to sleeps that are dropped or moved.
//!
//! Durations are checked exactly on a virtual clock ([`EventLoop::with_virtual_time`]), where they
//! cannot depend on the machine's speed; on the real clock they are only ever checked from below (a
//! sleep lasts *at least* its duration). Orders are made deterministic with explicit deadlines and
//! by counting loop turns.

mod common;

use common::watchdog;
use std::cell::{Cell, RefCell};
use std::future::{pending, poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use asyncio::{
    call_soon, gather, now, run, sleep, sleep_until, spawn, yield_now, EventLoop, TaskError,
};

/// Runs `fut` on a fresh loop with a virtual clock, under the watchdog.
fn run_virtual<F: Future + 'static>(fut: impl FnOnce() -> F + Send + 'static) -> F::Output
where
    F::Output: Send + 'static,
{
    watchdog("virtual", move || {
        EventLoop::with_virtual_time().run_until_complete(fut())
    })
}

/// The number of armed timers, read from the loop's `Debug` output (`timers: N`).
fn timers(lp: &EventLoop) -> usize {
    let text = format!("{lp:?}");
    let rest = text
        .split_once("timers: ")
        .unwrap_or_else(|| panic!("EventLoop's Debug output no longer shows `timers: N`: {text}"))
        .1;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().expect("a timer count")
}

/// Polls `fut` exactly once, with the current task's waker.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

/// Spawns a clock task that ticks once per loop turn; returns its tick count.
fn turn_counter() -> (Rc<Cell<u32>>, asyncio::Task<()>) {
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let clock = spawn(async move {
        loop {
            t.set(t.get() + 1);
            yield_now().await;
        }
    });
    (ticks, clock)
}

// L5
#[test]
fn l5_a_sleep_lasts_at_least_its_duration() {
    run(async {
        for ms in [1, 5, 20] {
            let d = Duration::from_millis(ms);
            let start = Instant::now();
            sleep(d).await;
            let took = start.elapsed();
            assert!(took >= d, "sleep({d:?}) completed after only {took:?}");
        }
    });
}

// L5
#[test]
fn l5_a_sleep_lasts_exactly_its_duration_on_the_virtual_clock() {
    run_virtual(|| async {
        for d in [
            Duration::from_millis(1),
            Duration::from_secs(5),
            Duration::from_secs(86_400),
        ] {
            let start = now();
            sleep(d).await;
            assert_eq!(now() - start, d, "sleep({d:?}) on the virtual clock");
        }
    });
}

// L5
#[test]
fn l5_a_sleep_is_armed_when_first_polled_not_when_created() {
    run_virtual(|| async {
        let nap = sleep(Duration::from_secs(30));
        sleep(Duration::from_secs(40)).await; // longer than the nap, before awaiting it
        let awaited = now();
        nap.await;
        assert_eq!(
            now() - awaited,
            Duration::from_secs(30),
            "a sleep(30s) awaited 40s after it was created must last 30s from the await: \
             it was armed at creation instead of at its first poll"
        );
    });
}

// L5
#[test]
fn l5_sleep_until_wakes_at_its_deadline_and_earlier_deadlines_fire_first() {
    run_virtual(|| async {
        let base = now() + Duration::from_millis(5);
        let order = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = [30u64, 10, 20]
            .into_iter()
            .map(|ms| {
                let order = order.clone();
                let deadline = base + Duration::from_millis(ms);
                spawn(async move {
                    sleep_until(deadline).await;
                    assert_eq!(now(), deadline, "sleep_until woke at the wrong time");
                    order.borrow_mut().push(ms);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            *order.borrow(),
            [10, 20, 30],
            "timers must fire in deadline order"
        );
    });
}

// L5
#[test]
fn l5_timers_with_the_same_deadline_fire_in_the_order_they_were_armed() {
    run(async {
        let deadline = Instant::now() + Duration::from_millis(20);
        let order = Rc::new(RefCell::new(Vec::new()));
        // Task i arms its timer after 5 - i turns: the last spawned arms first.
        let tasks: Vec<_> = (0..5)
            .map(|i| {
                let order = order.clone();
                spawn(async move {
                    for _ in 0..(5 - i) {
                        yield_now().await;
                    }
                    sleep_until(deadline).await;
                    order.borrow_mut().push(i);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            *order.borrow(),
            [4, 3, 2, 1, 0],
            "timers with the same deadline must fire in the order they were armed, not spawned"
        );
    });
}

// L5
#[test]
fn l5_a_thousand_timers_with_one_deadline_fire_in_arm_order() {
    run(async {
        let deadline = Instant::now() + Duration::from_millis(10);
        let order = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..1000)
            .map(|i| {
                let order = order.clone();
                spawn(async move {
                    sleep_until(deadline).await;
                    order.borrow_mut().push(i);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let expected: Vec<i32> = (0..1000).collect();
        assert!(
            *order.borrow() == expected,
            "1000 timers armed in order with one deadline fired out of order"
        );
    });
}

// L5
#[test]
fn l5_yield_now_gives_every_other_ready_task_exactly_one_turn() {
    run(async {
        let counters: Vec<_> = (0..3).map(|_| turn_counter()).collect();
        yield_now().await;
        let before: Vec<u32> = counters.iter().map(|(c, _)| c.get()).collect();
        for round in 1..=5 {
            yield_now().await;
            let now: Vec<u32> = counters.iter().map(|(c, _)| c.get()).collect();
            let expected: Vec<u32> = before.iter().map(|b| b + round).collect();
            assert_eq!(
                now, expected,
                "after {round} yield_now(), each other ready task must have run exactly {round} times"
            );
        }
        for (_, clock) in &counters {
            clock.cancel();
        }
    });
}

// L5
#[test]
fn l5_sleep_zero_is_yield_now_and_a_past_deadline_completes_on_the_next_turn() {
    // Under a watchdog: if a busy turn never ended, the past deadline would never be collected.
    watchdog("past_deadline", || {
        run(async {
            let (ticks, clock) = turn_counter();
            yield_now().await;
            let t0 = ticks.get();
            sleep(Duration::ZERO).await;
            assert_eq!(ticks.get(), t0 + 1, "sleep(0) must be exactly one turn");
            let t1 = ticks.get();
            sleep_until(Instant::now() - Duration::from_millis(1)).await;
            assert_eq!(
                ticks.get(),
                t1 + 1,
                "sleep_until a past deadline must complete on the next turn"
            );
            clock.cancel();
        })
    });
}

// L5
// CPython: test_tasks.py::test_sleep
#[test]
fn cpython_test_sleep() {
    let elapsed = run_virtual(|| async {
        let start = now();
        sleep(Duration::from_millis(50)).await;
        sleep(Duration::from_millis(50)).await;
        now() - start
    });
    assert_eq!(elapsed, Duration::from_millis(100));
}

// CPython: test_tasks.py::test_sleep_zero
#[test]
fn cpython_test_sleep_zero() {
    run(async {
        let result = Rc::new(Cell::new(0));
        let r = result.clone();
        call_soon(move || r.set(r.get() + 1));
        assert_eq!(result.get(), 0, "call_soon ran its callback inline");
        yield_now().await;
        assert_eq!(
            result.get(),
            1,
            "a callback scheduled before yield_now() must run before the coroutine resumes"
        );
    });
}

// CPython: test_tasks.py::test_sleep_cancel
// T1
#[test]
fn cpython_test_sleep_cancel() {
    let lp = EventLoop::new();
    let mut task = lp.run_until_complete(async {
        let task = spawn(sleep(Duration::from_secs(10)));
        yield_now().await; // the task arms its timer
        task
    });
    assert_eq!(timers(&lp), 1, "the sleeping task's timer is armed");
    assert!(task.cancel());
    lp.run_until_complete(yield_now());
    assert_eq!(
        timers(&lp),
        0,
        "cancelling a sleeping task must disarm its timer at the task's next turn"
    );
    assert_eq!(lp.run_until_complete(&mut task), Err(TaskError::Cancelled));
}

#[test]
fn a_dropped_sleep_is_disarmed() {
    let lp = EventLoop::new();
    lp.run_until_complete(async {
        let mut nap = sleep(Duration::from_secs(3600));
        assert!(poll_once(&mut nap).await.is_pending());
        assert_eq!(timers(&lp), 1, "a polled sleep arms a timer");
        drop(nap);
        assert_eq!(timers(&lp), 0, "dropping a sleep must disarm its timer");
        let never_polled = sleep(Duration::from_secs(3600));
        drop(never_polled);
        assert_eq!(timers(&lp), 0);
    });
}

#[test]
fn a_dropped_sleep_never_wakes_its_task() {
    run_virtual(|| async {
        let polls = Rc::new(Cell::new(0));
        let p = polls.clone();
        let task = spawn(async move {
            // First poll of the task: arm a sleep, drop it, and wait for nothing, counting polls.
            let mut nap = sleep(Duration::from_millis(5));
            let _ = poll_once(&mut nap).await;
            drop(nap);
            poll_fn(|_| {
                p.set(p.get() + 1);
                Poll::<()>::Pending
            })
            .await;
        });
        sleep(Duration::from_millis(30)).await;
        assert_eq!(
            polls.get(),
            1,
            "the task was woken by the timer of a sleep it had dropped"
        );
        task.cancel();
    });
}

#[test]
fn a_sleep_moved_to_another_task_wakes_its_new_owner() {
    let out = run_virtual(|| async {
        let mut nap = sleep(Duration::from_millis(20));
        assert!(poll_once(&mut nap).await.is_pending()); // armed with main's waker
        let sleeper = spawn(async move {
            nap.await;
            "the new owner woke"
        });
        sleeper.await
    });
    assert_eq!(out, Ok("the new owner woke"));
}

#[test]
fn many_cancelled_sleepers_leave_no_timers_and_do_not_hold_the_loop() {
    watchdog("cancelled_sleepers", || {
        let lp = EventLoop::new();
        lp.run_until_complete(async {
            let sleepers: Vec<_> = (0..1000)
                .map(|_| spawn(sleep(Duration::from_secs(3600))))
                .collect();
            yield_now().await;
            for s in &sleepers {
                assert!(s.cancel());
            }
            for s in sleepers {
                assert_eq!(s.await, Err(TaskError::Cancelled));
            }
        });
        assert_eq!(timers(&lp), 0, "cancelled sleepers left timers armed");
    });
}

#[test]
fn yield_now_needs_no_loop_and_returns_on_its_second_poll() {
    let mut cx = Context::from_waker(Waker::noop());
    let mut y = yield_now();
    assert!(Pin::new(&mut y).poll(&mut cx).is_pending());
    assert!(Pin::new(&mut y).poll(&mut cx).is_ready());
}

#[test]
fn the_real_loop_clock_covers_a_sleep() {
    let lp = EventLoop::new();
    let start = lp.time();
    lp.run_until_complete(sleep(Duration::from_millis(5)));
    let end = lp.time();
    assert!(
        end >= start + Duration::from_millis(5),
        "loop.time() advanced only {:?} across a 5ms sleep",
        end - start
    );
}

#[test]
fn an_hour_of_virtual_sleep_shows_on_the_loop_clock() {
    let elapsed = watchdog("virtual_hour", || {
        let lp = EventLoop::with_virtual_time();
        let start = lp.time();
        lp.run_until_complete(sleep(Duration::from_secs(3600)));
        lp.time() - start
    });
    assert_eq!(elapsed, Duration::from_secs(3600));
}

#[test]
fn virtual_time_stands_still_while_anything_is_ready() {
    run_virtual(|| async {
        let start = now();
        let spinner = spawn(async {
            for _ in 0..1000 {
                yield_now().await;
            }
        });
        let sleeper = spawn(sleep(Duration::from_secs(1)));
        spinner.await.unwrap();
        assert_eq!(now(), start, "the clock moved while a task was ready");
        sleeper.await.unwrap();
        assert_eq!(now() - start, Duration::from_secs(1));
    });
}

#[test]
fn virtual_time_jumps_deadline_by_deadline_in_order() {
    let log = run_virtual(|| async {
        let start = now();
        let log = Rc::new(RefCell::new(Vec::new()));
        let sleepers = (0..1000u64).rev().map(|i| {
            let log = log.clone();
            async move {
                sleep(Duration::from_secs(i % 7) + Duration::from_millis(i)).await;
                log.borrow_mut().push((i, now() - start));
            }
        });
        gather(sleepers).await.unwrap();
        Rc::try_unwrap(log).unwrap().into_inner()
    });
    let mut expected: Vec<(u64, Duration)> = (0..1000u64)
        .map(|i| (i, Duration::from_secs(i % 7) + Duration::from_millis(i)))
        .collect();
    expected.sort_by_key(|&(_, at)| at);
    assert_eq!(
        log, expected,
        "each sleeper woke at its own deadline, in deadline order"
    );
}

#[test]
fn a_virtual_loop_still_waits_for_a_wake_from_another_thread() {
    let out = run_virtual(|| async {
        let (tx, rx) = mpsc::channel::<Waker>();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        thread::spawn(move || {
            let waker = rx.recv().unwrap();
            thread::sleep(Duration::from_millis(20));
            flag.store(true, std::sync::atomic::Ordering::Release);
            waker.wake();
        });
        let start = now();
        poll_fn(|cx| {
            if done.load(std::sync::atomic::Ordering::Acquire) {
                return Poll::Ready(());
            }
            let _ = tx.send(cx.waker().clone());
            Poll::Pending
        })
        .await;
        now() - start
    });
    assert_eq!(
        out,
        Duration::ZERO,
        "no timer was armed, so the clock must not move"
    );
}

#[test]
fn a_task_parked_forever_does_not_keep_run_from_returning() {
    // L1 for timers: the clean-up drops the sleep of a task that would sleep for an hour.
    let out = watchdog("parked_forever", || {
        run(async {
            spawn(async {
                sleep(Duration::from_secs(3600)).await;
                pending::<()>().await;
            })
            .detach();
            yield_now().await;
            "main done"
        })
    });
    assert_eq!(out, "main done");
}
