//! Timeouts (SEMANTICS.md TO1–TO3, SH1 with timeouts): `timeout`, `timeout_at`, `wait_for` and
//! `timeout_scope`, with CPython's test_timeouts.py and test_waitfor.py ported.
//!
//! Every test runs on a virtual clock, so deadlines and durations are exact and nothing depends on
//! the machine's speed — except the one test that blocks the loop on purpose.

use std::cell::{Cell, RefCell};
use std::future::{pending, Future};
use std::rc::Rc;
use std::time::Duration;

use asyncio::{
    gather, now, shield, sleep, spawn, timeout, timeout_at, timeout_scope, wait_for, yield_now,
    Elapsed, EventLoop, Task, TaskError, TimeoutHandle,
};

fn run_virtual<F: Future>(fut: F) -> F::Output {
    EventLoop::with_virtual_time().run_until_complete(fut)
}

const LONG: Duration = Duration::from_secs(10);

/// Sets its flag when dropped: records that a future was cancelled (or finished).
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// A task sleeping `d`, with a flag set once its future is gone (its `finally`).
fn sleeper(d: Duration) -> (Task<&'static str>, Rc<Cell<bool>>) {
    let gone = Rc::new(Cell::new(false));
    let flag = DropFlag(gone.clone());
    let task = spawn(async move {
        let _flag = flag;
        sleep(d).await;
        "done"
    });
    (task, gone)
}

/// A task handle the task itself can reach.
type SharedTask<T> = Rc<RefCell<Option<Task<T>>>>;

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

fn handle_slot() -> (
    Rc<RefCell<Option<TimeoutHandle>>>,
    impl Fn() -> TimeoutHandle,
) {
    let slot: Rc<RefCell<Option<TimeoutHandle>>> = Rc::default();
    let read = slot.clone();
    (slot, move || read.borrow().clone().expect("the body ran"))
}

// TO1
#[test]
fn to1_a_future_that_finishes_in_time_gives_its_output() {
    run_virtual(async {
        let out = timeout(Duration::from_secs(1), async {
            sleep(Duration::from_millis(10)).await;
            "in time"
        })
        .await;
        assert_eq!(out, Ok("in time"));
    });
}

// TO1
#[test]
fn to1_a_zero_timeout_still_returns_a_ready_value() {
    run_virtual(async {
        assert_eq!(timeout(Duration::ZERO, async { 5 }).await, Ok(5));
        assert_eq!(timeout_at(Some(now()), async { 6 }).await, Ok(6));
    });
}

// TO1
#[test]
fn to1_on_expiry_the_future_is_dropped_and_elapsed_comes_back_at_the_deadline() {
    run_virtual(async {
        let start = now();
        let dropped = Rc::new(Cell::new(false));
        let flag = DropFlag(dropped.clone());
        let out = timeout(Duration::from_secs(2), async move {
            let _flag = flag;
            sleep(LONG).await;
        })
        .await;
        assert_eq!(out, Err(Elapsed::new()));
        assert!(dropped.get(), "the slow future was not dropped");
        assert_eq!(now() - start, Duration::from_secs(2));
    });
}

// TO2
#[test]
fn to2_a_task_is_cancelled_and_finished_before_elapsed_is_returned() {
    run_virtual(async {
        let (mut task, gone) = sleeper(LONG);
        let out = wait_for(&mut task, Duration::from_secs(1)).await;
        assert_eq!(out, Err(Elapsed::new()));
        assert!(task.is_done() && task.is_cancelled());
        assert!(
            gone.get(),
            "the task's future was dropped before wait_for returned"
        );
    });
}

// TO2, G14
#[test]
fn to2_a_gather_is_cancelled_children_and_all_before_elapsed_is_returned() {
    run_virtual(async {
        let (a, a_gone) = sleeper(LONG);
        let (b, b_gone) = sleeper(Duration::from_secs(1));
        let quick = spawn(async { "quick" });
        let mut g = gather([a, b, quick]);
        let out = timeout(Duration::from_millis(500), &mut g).await;
        assert_eq!(out, Err(Elapsed::new()));
        assert!(g.is_done() && g.is_cancelled());
        assert!(
            a_gone.get() && b_gone.get(),
            "children finished cancelling first"
        );
    });
}

// TO2: a task awaited deep inside the timed-out future is waited for too.
#[test]
fn to2_a_task_awaited_inside_the_timed_out_future_is_waited_for() {
    run_virtual(async {
        let (task, gone) = sleeper(LONG);
        let out = timeout(Duration::from_secs(1), async move {
            yield_now().await;
            task.await
        })
        .await;
        assert!(out.is_err());
        assert!(gone.get());
    });
}

// TO2 with nesting: an inner timeout dropped while it waits for its own cancellations hands them
// on to the outer one.
#[test]
fn to2_nested_timeouts_wait_for_every_cancellation_they_caused() {
    run_virtual(async {
        let gone: Rc<Cell<bool>> = Rc::default();
        let flag = DropFlag(gone.clone());
        // A task whose cancellation takes a turn longer: it is itself awaiting a task.
        let inner_task = spawn(async move {
            let _flag = flag;
            spawn(sleep(LONG)).await.unwrap();
        });
        let out = timeout(
            Duration::from_secs(1),
            timeout(Duration::from_secs(1), inner_task),
        )
        .await;
        assert_eq!(out, Err(Elapsed::new()));
        assert!(gone.get());
    });
}

// SH1 with timeouts
// CPython: test_waitfor.py::WaitForShieldTests::test_shielded_timeout
#[test]
fn a_shielded_task_survives_the_timeout_and_finishes_later() {
    run_virtual(async {
        let (mut task, gone) = sleeper(Duration::from_millis(100));
        let out = wait_for(shield(&mut task), Duration::from_millis(10)).await;
        assert_eq!(out, Err(Elapsed::new()));
        assert!(
            !gone.get() && !task.is_cancelled(),
            "the shielded task was cancelled"
        );
        assert_eq!(task.await, Ok("done"));
    });
}

// CPython: test_waitfor.py::WaitForShieldTests::test_zero_timeout
#[test]
fn cpython_wait_for_zero_timeout_on_a_shield_leaves_the_task_running() {
    run_virtual(async {
        let (mut task, gone) = sleeper(Duration::from_millis(100));
        yield_now().await;
        assert!(wait_for(shield(&mut task), Duration::ZERO).await.is_err());
        assert!(!task.is_done(), "the task is neither cancelled nor done");
        assert_eq!(
            task.await,
            Ok("done"),
            "it finishes later in the background"
        );
        assert!(gone.get());
    });
}

// CPython: test_waitfor.py::WaitForShieldTests::test_none_timeout
#[test]
fn cpython_wait_for_none_on_a_shield_waits_for_the_task() {
    run_virtual(async {
        let (task, _) = sleeper(Duration::from_secs(3600));
        assert_eq!(wait_for(shield(task), None).await, Ok(Ok("done")));
    });
}

// TO3
#[test]
fn to3_a_cancellation_from_outside_stays_a_cancellation() {
    run_virtual(async {
        let (slot, handle) = handle_slot();
        let task = spawn(async move {
            timeout_scope(Some(now() + LONG), |cm| {
                *slot.borrow_mut() = Some(cm);
                sleep(LONG * 2)
            })
            .await
        });
        yield_now().await;
        task.cancel();
        assert_eq!(task.await, Err(TaskError::Cancelled));
        assert!(!handle().expired());
    });
}

// TO3
// CPython: test_timeouts.py::test_nested_timeouts
#[test]
fn to3_nested_timeouts_with_one_deadline_the_outermost_reports() {
    run_virtual(async {
        let deadline = now() + Duration::from_millis(10);
        let inner_saw_cancel: Rc<Cell<bool>> = Rc::default();
        let flag = DropFlag(inner_saw_cancel.clone());
        let (outer_slot, outer) = handle_slot();
        let (inner_slot, inner) = handle_slot();
        let out = timeout_scope(Some(deadline), |cm1| {
            *outer_slot.borrow_mut() = Some(cm1);
            async move {
                timeout_scope(Some(deadline), |cm2| {
                    *inner_slot.borrow_mut() = Some(cm2);
                    async move {
                        let _flag = flag;
                        sleep(LONG).await;
                    }
                })
                .await
            }
        })
        .await;
        assert_eq!(
            out,
            Err(Elapsed::new()),
            "only the outermost reports Elapsed"
        );
        assert!(inner_saw_cancel.get(), "the inner body was cancelled");
        assert!(
            outer().expired() && inner().expired(),
            "both report expired()"
        );
    });
}

// TO3
// CPython: test_timeouts.py::test_outer_task_is_not_cancelled
#[test]
fn to3_after_an_elapsed_is_handled_the_task_goes_on_normally() {
    run_virtual(async {
        let task = spawn(async {
            let out = timeout(Duration::from_millis(1), sleep(LONG)).await;
            assert!(out.is_err());
            sleep(Duration::from_millis(5)).await;
            "went on"
        });
        assert_eq!((&mut { task }).await, Ok("went on"));
    });
}

// CPython: test_timeouts.py::test_timeout_basic
#[test]
fn cpython_timeout_basic() {
    run_virtual(async {
        let start = now();
        let (slot, cm) = handle_slot();
        let out = timeout_scope(Some(now() + Duration::from_millis(10)), |h| {
            *slot.borrow_mut() = Some(h);
            sleep(LONG)
        })
        .await;
        assert_eq!(out, Err(Elapsed::new()));
        assert_eq!(now() - start, Duration::from_millis(10));
        assert!(cm().expired());
    });
}

// CPython: test_timeouts.py::test_timeout_at_basic
#[test]
fn cpython_timeout_at_basic() {
    run_virtual(async {
        let deadline = now() + Duration::from_millis(10);
        let (slot, cm) = handle_slot();
        let out = timeout_scope(Some(deadline), |h| {
            *slot.borrow_mut() = Some(h);
            sleep(LONG)
        })
        .await;
        assert!(out.is_err());
        assert!(cm().expired());
        assert_eq!(cm().when(), Some(deadline));
        assert_eq!(now(), deadline);
    });
}

// CPython: test_timeouts.py::test_waiter_cancelled
#[test]
fn cpython_waiter_cancelled() {
    run_virtual(async {
        let cancelled: Rc<Cell<bool>> = Rc::default();
        let flag = DropFlag(cancelled.clone());
        let out = timeout(Duration::from_millis(10), async move {
            let _flag = flag;
            sleep(LONG).await;
        })
        .await;
        assert!(cancelled.get(), "the awaited sleep saw the cancellation");
        assert!(out.is_err());
    });
}

// CPython: test_timeouts.py::test_timeout_not_called
#[test]
fn cpython_timeout_not_called() {
    run_virtual(async {
        let (slot, cm) = handle_slot();
        let out = timeout_scope(Some(now() + LONG), |h| {
            *slot.borrow_mut() = Some(h);
            sleep(Duration::from_millis(10))
        })
        .await;
        assert_eq!(out, Ok(()));
        assert!(!cm().expired());
        assert!(cm().when().unwrap() > now());
    });
}

// CPython: test_timeouts.py::test_timeout_disabled
// CPython: test_timeouts.py::test_timeout_at_disabled
#[test]
fn cpython_timeout_disabled() {
    run_virtual(async {
        let (slot, cm) = handle_slot();
        let out = timeout_scope(None, |h| {
            *slot.borrow_mut() = Some(h);
            sleep(Duration::from_millis(10))
        })
        .await;
        assert_eq!(out, Ok(()));
        assert!(!cm().expired());
        assert_eq!(cm().when(), None);
        assert_eq!(timeout(None, sleep(LONG)).await, Ok(()));
        assert_eq!(timeout_at(None, sleep(LONG)).await, Ok(()));
    });
}

// CPython: test_timeouts.py::test_timeout_zero
#[test]
fn cpython_timeout_zero() {
    run_virtual(async {
        let t0 = now();
        let (slot, cm) = handle_slot();
        let out = timeout_scope(Some(now()), |h| {
            *slot.borrow_mut() = Some(h);
            sleep(LONG)
        })
        .await;
        assert!(out.is_err());
        assert!(cm().expired());
        let when = cm().when().unwrap();
        assert!(t0 <= when && when <= now());
        assert_eq!(
            timeout(Duration::ZERO, sleep(LONG)).await,
            Err(Elapsed::new())
        );
    });
}

// CPython: test_timeouts.py::test_timeout_zero_sleep_zero
#[test]
fn cpython_timeout_zero_sleep_zero() {
    run_virtual(async {
        let out = timeout(Duration::ZERO, sleep(Duration::ZERO)).await;
        assert_eq!(
            out,
            Err(Elapsed::new()),
            "expired at the first suspension, even sleep(0)"
        );
    });
}

// CPython: test_timeouts.py::test_timeout_in_the_past_sleep_zero
#[test]
fn cpython_timeout_in_the_past_sleep_zero() {
    run_virtual(async {
        let t0 = now();
        let past = t0 - Duration::from_secs(11);
        let (slot, cm) = handle_slot();
        let out = timeout_scope(Some(past), |h| {
            *slot.borrow_mut() = Some(h);
            sleep(Duration::ZERO)
        })
        .await;
        assert!(out.is_err());
        assert!(cm().expired());
        assert!(cm().when().unwrap() <= t0);
    });
}

// CPython: test_timeouts.py::test_foreign_exception_passed
#[test]
fn cpython_foreign_exception_passed() {
    run_virtual(async {
        let (slot, cm) = handle_slot();
        let out = timeout_scope(Some(now() + Duration::from_millis(10)), |h| {
            *slot.borrow_mut() = Some(h);
            async { Err::<(), _>("KeyError") }
        })
        .await;
        assert_eq!(
            out,
            Ok(Err("KeyError")),
            "the body's error comes out unchanged"
        );
        assert!(!cm().expired());
    });
}

// CPython: test_timeouts.py::test_foreign_cancel_doesnt_timeout_if_not_expired
#[test]
fn cpython_foreign_cancel_doesnt_timeout_if_not_expired() {
    run_virtual(async {
        let (slot, cm) = handle_slot();
        let me: SharedTask<Result<(), Elapsed>> = Rc::default();
        let me2 = me.clone();
        let task = spawn(async move {
            timeout_scope(Some(now() + LONG), |h| {
                *slot.borrow_mut() = Some(h);
                async move {
                    me2.borrow().as_ref().unwrap().cancel(); // the task cancels itself
                    sleep(LONG).await;
                }
            })
            .await
        });
        *me.borrow_mut() = Some(task);
        yield_now().await; // the task runs: cancels itself, then sleeps
        yield_now().await;
        let task = me.borrow_mut().take().unwrap();
        assert_eq!(task.await, Err(TaskError::Cancelled), "not Elapsed");
        assert!(!cm().expired());
    });
}

// CPython: test_timeouts.py::test_nested_timeouts_concurrent
#[test]
fn cpython_nested_timeouts_concurrent() {
    run_virtual(async {
        let out = timeout(Duration::from_millis(2), async {
            timeout(Duration::from_millis(100), sleep(Duration::from_secs(1))).await
        })
        .await;
        assert_eq!(out, Err(Elapsed::new()), "the outer one fires");
    });
}

// CPython: test_timeouts.py::test_nested_timeouts_loop_busy
// R: when the loop is blocked past both deadlines, the outer timeout expires on its next poll,
// before the inner one can look at its clock, so the body's code after the inner timeout does not
// run (CPython: the inner raises TimeoutError first, and the outer stops the next await). The
// outcome the test checks — the outer raises, well before the body's long sleep — is the same.
// This test blocks a real-clock loop on purpose; it asserts orders, not durations.
#[test]
fn cpython_nested_timeouts_loop_busy() {
    let after_inner: Rc<Cell<bool>> = Rc::default();
    let seen = after_inner.clone();
    let out = asyncio::run(async move {
        timeout(Duration::from_millis(100), async move {
            timeout(Duration::from_millis(10), async {
                std::thread::sleep(Duration::from_millis(100)); // the loop is busy
                sleep(LONG).await;
            })
            .await
            .ok();
            seen.set(true);
            sleep(LONG).await;
        })
        .await
    });
    assert_eq!(out, Err(Elapsed::new()));
    assert!(!after_inner.get());
}

// CPython: test_timeouts.py::test_reschedule
#[test]
fn cpython_reschedule() {
    run_virtual(async {
        let deadline1 = now() + LONG;
        let deadline2 = deadline1 + Duration::from_secs(20);
        let (slot, cm) = handle_slot();
        let task = spawn(async move {
            timeout_scope(Some(deadline1), |h| {
                *slot.borrow_mut() = Some(h);
                sleep(Duration::from_secs(1000))
            })
            .await
        });
        yield_now().await;
        assert_eq!(cm().when(), Some(deadline1));
        cm().reschedule(Some(deadline2));
        assert_eq!(cm().when(), Some(deadline2));
        cm().reschedule(None);
        assert_eq!(cm().when(), None);
        task.cancel();
        assert_eq!(task.await, Err(TaskError::Cancelled));
        assert!(!cm().expired());
    });
}

// Rescheduling from another task moves the timer: earlier and later.
#[test]
fn reschedule_from_another_task_moves_the_expiry() {
    run_virtual(async {
        let start = now();
        let (slot, cm) = handle_slot();
        let task = spawn(async move {
            timeout_scope(Some(now() + LONG), |h| {
                *slot.borrow_mut() = Some(h);
                sleep(Duration::from_secs(1000))
            })
            .await
        });
        sleep(Duration::from_secs(1)).await;
        cm().reschedule(Some(now() + Duration::from_secs(2)));
        assert_eq!(task.await, Ok(Err(Elapsed::new())));
        assert_eq!(
            now() - start,
            Duration::from_secs(3),
            "expired at the new deadline"
        );
    });
}

// CPython: test_timeouts.py::test_timeout_finished
#[test]
fn cpython_timeout_finished() {
    let lp = EventLoop::with_virtual_time();
    let cm = lp.run_until_complete(async {
        let (slot, cm) = handle_slot();
        timeout_scope(Some(now() + LONG), |h| {
            *slot.borrow_mut() = Some(h);
            async {}
        })
        .await
        .unwrap();
        cm()
    });
    let err =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cm.reschedule(None))).unwrap_err();
    assert!(panic_text(&*err).contains("after the timeout finished"));
}

// CPython: test_timeouts.py::test_timeout_expired
#[test]
fn cpython_timeout_expired() {
    let lp = EventLoop::with_virtual_time();
    let cm = lp.run_until_complete(async {
        let (slot, cm) = handle_slot();
        let out = timeout_scope(Some(now()), |h| {
            *slot.borrow_mut() = Some(h);
            sleep(LONG)
        })
        .await;
        assert!(out.is_err());
        cm()
    });
    let err =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cm.reschedule(None))).unwrap_err();
    assert!(panic_text(&*err).contains("after the timeout expired"));
}

// CPython: test_waitfor.py::test_wait_for_timeout_less_then_0_or_0_future_done
#[test]
fn cpython_wait_for_zero_on_a_finished_task_returns_its_result() {
    run_virtual(async {
        let mut task = spawn(async { "done" });
        yield_now().await;
        assert!(task.is_done());
        assert_eq!(wait_for(&mut task, Duration::ZERO).await, Ok(Ok("done")));
    });
}

// CPython: test_waitfor.py::test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started
// R: a future passed to wait_for(.., 0) is polled once (so it runs to its first suspension);
// CPython cancels the coroutine before it starts. It is still cancelled, and Elapsed comes back.
#[test]
fn cpython_wait_for_zero_cancels_a_pending_future() {
    run_virtual(async {
        let reached_the_end: Rc<Cell<bool>> = Rc::default();
        let end = reached_the_end.clone();
        let out = wait_for(
            async move {
                sleep(Duration::from_millis(1)).await;
                end.set(true);
            },
            Duration::ZERO,
        )
        .await;
        assert_eq!(out, Err(Elapsed::new()));
        assert!(!reached_the_end.get());
    });
}

// CPython: test_waitfor.py::test_wait_for_timeout_less_then_0_or_0
#[test]
fn cpython_wait_for_zero_on_a_running_task_cancels_it_before_returning() {
    run_virtual(async {
        let (mut task, gone) = sleeper(LONG);
        yield_now().await; // the task is running: asleep
        assert_eq!(
            wait_for(&mut task, Duration::ZERO).await,
            Err(Elapsed::new())
        );
        assert!(task.is_done() && task.is_cancelled());
        assert!(gone.get(), "its clean-up ran before wait_for returned");
    });
}

// CPython: test_waitfor.py::test_wait_for
#[test]
fn cpython_wait_for() {
    run_virtual(async {
        let start = now();
        let (mut task, gone) = sleeper(Duration::from_secs(3600));
        let out = wait_for(&mut task, Duration::from_millis(100)).await;
        assert_eq!(out, Err(Elapsed::new()));
        assert_eq!(now() - start, Duration::from_millis(100));
        assert!(task.is_cancelled() && gone.get());
    });
}

// CPython: test_waitfor.py::test_wait_for_blocking
#[test]
fn cpython_wait_for_blocking() {
    run_virtual(async {
        assert_eq!(wait_for(async { "done" }, None).await, Ok("done"));
    });
}

// CPython: test_waitfor.py::test_wait_for_race_condition
#[test]
fn cpython_wait_for_race_condition() {
    run_virtual(async {
        let fut = spawn(async {
            yield_now().await; // set on the next turn, like call_soon(fut.set_result, 'ok')
            "ok"
        });
        assert_eq!(
            wait_for(fut, Duration::from_millis(200)).await,
            Ok(Ok("ok"))
        );
    });
}

// CPython: test_waitfor.py::test_cancel_blocking_wait_for
// CPython: test_waitfor.py::test_cancel_wait_for
#[test]
fn cpython_cancelling_the_waiter_cancels_the_inner_task() {
    for limit in [None, Some(Duration::from_secs(60))] {
        run_virtual(async move {
            let blocked: Task<()> = spawn(pending());
            let probe = Rc::new(RefCell::new(None::<bool>));
            let (t, p) = (Rc::new(RefCell::new(Some(blocked))), probe.clone());
            let inner = t.clone();
            let waiter = spawn(async move {
                let mut task = inner.borrow_mut().take().unwrap();
                let out = wait_for(&mut task, limit).await;
                *p.borrow_mut() = Some(task.is_done());
                out
            });
            yield_now().await;
            yield_now().await;
            waiter.cancel();
            assert_eq!(waiter.await, Err(TaskError::Cancelled));
            assert_eq!(*probe.borrow(), None, "the waiter never got past wait_for");
        });
    }
}

// CPython: test_waitfor.py::test_wait_for_issue86296
#[test]
fn cpython_wait_for_issue86296() {
    run_virtual(async {
        let inner = spawn(async {
            yield_now().await;
            "done"
        });
        let reached: Rc<Cell<bool>> = Rc::default();
        let r = reached.clone();
        let mut inner_slot = Some(inner);
        let outer = spawn(async move {
            let mut inner = inner_slot.take().unwrap();
            let out = wait_for(&mut inner, Duration::from_secs(100)).await;
            r.set(true);
            (out, inner)
        });
        yield_now().await; // outer is now waiting; inner finishes on this same turn
        outer.cancel();
        assert_eq!(outer.await.map(|_| ()), Err(TaskError::Cancelled));
        assert!(!reached.get(), "the code after wait_for never ran");
    });
}

#[test]
fn a_timeout_armed_outside_the_loop_starts_its_clock_at_the_first_poll() {
    let t = timeout(Duration::from_secs(5), sleep(Duration::from_secs(1)));
    assert_eq!(t.deadline(), None);
    let lp = EventLoop::with_virtual_time();
    let start = lp.time();
    assert_eq!(lp.run_until_complete(t), Ok(()));
    assert_eq!(lp.time() - start, Duration::from_secs(1));
}

#[test]
fn a_duration_too_long_for_the_clock_means_no_limit() {
    run_virtual(async {
        assert_eq!(timeout(Duration::MAX, async { 1 }).await, Ok(1));
        let out = timeout(Duration::MAX, sleep(Duration::from_secs(1))).await;
        assert_eq!(out, Ok(()));
    });
}

#[test]
fn an_elapsed_says_what_happened() {
    let text = Elapsed::new().to_string();
    assert!(text.contains("deadline elapsed"), "{text}");
    let _: &dyn std::error::Error = &Elapsed::new();
}

// Regression (review): a cancelled task counted as finished as soon as its own future was
// dropped, so Elapsed came back while a task it was awaiting was still being cancelled.
// TO2, T5
#[test]
fn elapsed_comes_back_after_the_whole_chain_of_awaited_tasks_has_finished() {
    run_virtual(async {
        let gone: Rc<Cell<bool>> = Rc::default();
        let flag = DropFlag(gone.clone());
        let mut outer = spawn(async move {
            spawn(async move {
                spawn(async move {
                    let _flag = flag;
                    sleep(LONG).await;
                })
                .await
                .unwrap();
            })
            .await
            .unwrap();
        });
        for _ in 0..3 {
            yield_now().await;
        }
        assert!(wait_for(&mut outer, Duration::from_secs(1)).await.is_err());
        assert!(outer.is_cancelled());
        assert!(
            gone.get(),
            "the grandchild finished before Elapsed came back"
        );
    });
}

// Regression (review): the drain hung on a task's single listener slot, which adopting the task
// into a gather overwrote, so the timeout waited forever.
#[test]
// X holds the shared handle across its await on purpose: that is the second awaiter's window.
#[allow(clippy::await_holding_refcell_ref)]
fn a_timeout_still_returns_when_another_awaiter_adopts_the_task_it_cancelled() {
    run_virtual(async {
        let shared: SharedTask<()> = Rc::new(RefCell::new(Some(spawn(sleep(LONG)))));
        let s = shared.clone();
        let x = spawn(async move {
            timeout(Duration::from_secs(1), async move {
                let mut handle = s.borrow_mut();
                handle.as_mut().unwrap().await
            })
            .await
        });
        yield_now().await;
        let s = shared.clone();
        let y = spawn(async move {
            // X borrows the handle from its first poll until its timeout expires: the first time
            // the handle is free again, the task's cancellation is requested but not finished.
            let mut seen_busy = false;
            loop {
                match s.try_borrow_mut() {
                    Err(_) => seen_busy = true,
                    Ok(mut handle) if seen_busy => {
                        let task = handle.take().unwrap();
                        assert!(!task.is_done());
                        drop(handle);
                        return gather([task]).await;
                    }
                    Ok(_) => {}
                }
                sleep(Duration::from_millis(100)).await;
            }
        });
        assert_eq!(x.await, Ok(Err(Elapsed::new())));
        assert_eq!(y.await, Ok(Err(TaskError::Cancelled)));
    });
}
