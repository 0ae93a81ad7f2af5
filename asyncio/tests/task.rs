//! Tasks (SEMANTICS.md T1–T6): cancellation, outcomes, done callbacks, names, what is dropped when,
//! and what reaches the loop's exception handler; with ports of CPython's `test_tasks.py`.
//!
//! Rust has no `asyncio.current_task()`; a task that must see its own handle gets it through
//! [`spawn_self_aware`]. CPython's cancel messages do not exist here (a cancellation is only
//! `TaskError::Cancelled`), so the message-related halves of those tests are not ported.
//! Not ported: `test_current_task` (no `current_task()` yet) and `test_eager_task_factory.py`
//! (tasks are scheduled, never started eagerly).

use std::cell::{Cell, OnceCell, RefCell};
use std::future::{pending, poll_fn, Future, IntoFuture};
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::pin::{pin, Pin};
use std::rc::{Rc, Weak};
use std::task::Poll;
use std::time::Duration;

use asyncio::{
    call_soon, run, shield, sleep, spawn, yield_now, EventLoop, ExceptionContext, Task, TaskError,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

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

type Reports = Rc<RefCell<Vec<ExceptionContext>>>;

/// A loop whose exception handler keeps every report.
fn reporting_loop() -> (EventLoop, Reports) {
    let lp = EventLoop::new();
    let reports = Reports::default();
    let r = reports.clone();
    lp.set_exception_handler(move |ctx| r.borrow_mut().push(ctx.clone()));
    (lp, reports)
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

/// Awaits a task whose handle is shared with whoever will cancel it. `Task::cancel` takes `&Task`
/// and awaiting takes `&mut Task`, so the handle sits in a `RefCell` borrowed only while polling.
/// Each poll goes through a fresh `Join` that is never dropped: dropping a polled, unfinished await
/// would cancel the task (T5), and this helper stands for one await kept alive until the end.
/// (So, unlike a real await, abandoning this helper does not cancel the task.)
async fn await_shared<T>(task: &RefCell<Task<T>>) -> Result<T, TaskError> {
    poll_fn(|cx| {
        let mut task = task.borrow_mut();
        let mut join = ManuallyDrop::new((&mut *task).into_future());
        Pin::new(&mut *join).poll(cx)
    })
    .await
}

/// A task's view of its own handle (asyncio: `asyncio.current_task()`), to cancel itself.
struct Me<T>(Rc<OnceCell<Weak<RefCell<Task<T>>>>>);

impl<T> Me<T> {
    fn cancel(&self) -> bool {
        let me = self.0.get().and_then(Weak::upgrade);
        me.expect("the handle is set before the task's first turn")
            .borrow()
            .cancel()
    }
}

/// Spawns `body(me)`, where `me` lets the task cancel itself; returns the shared handle.
fn spawn_self_aware<T: 'static, F: Future<Output = T> + 'static>(
    body: impl FnOnce(Me<T>) -> F,
) -> Rc<RefCell<Task<T>>> {
    let cell = Rc::new(OnceCell::new());
    let task = Rc::new(RefCell::new(spawn(body(Me(cell.clone())))));
    assert!(cell.set(Rc::downgrade(&task)).is_ok());
    task
}

/// A task handle owned by some other task's future, given back through `slot` when that future is
/// dropped, so the test can look at it afterwards.
struct Lent<T> {
    task: Option<Task<T>>,
    slot: Rc<RefCell<Option<Task<T>>>>,
}

impl<T> Deref for Lent<T> {
    type Target = Task<T>;
    fn deref(&self) -> &Task<T> {
        self.task.as_ref().unwrap()
    }
}

impl<T> DerefMut for Lent<T> {
    fn deref_mut(&mut self) -> &mut Task<T> {
        self.task.as_mut().unwrap()
    }
}

impl<T> Drop for Lent<T> {
    fn drop(&mut self) {
        *self.slot.borrow_mut() = self.task.take();
    }
}

enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Polls both futures until one finishes and drops the other: a select, or a timeout when `b` is a
/// sleep.
async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let (mut a, mut b) = (pin!(a), pin!(b));
    poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    })
    .await
}

async fn turns(n: usize) {
    for _ in 0..n {
        yield_now().await;
    }
}

// ---------------------------------------------------------------------------------------------
// T1: cancel()
// ---------------------------------------------------------------------------------------------

// T1
#[test]
fn t1_cancel_requests_cancellation_and_the_future_is_dropped_at_the_tasks_next_turn() {
    run(async {
        let cleaned = flag();
        let resumed = flag();
        let (c, r) = (cleaned.clone(), resumed.clone());
        let mut task = spawn(async move {
            let _cleanup = on_drop(move || c.set(true));
            pending::<()>().await;
            r.set(true);
        });
        yield_now().await; // the task runs up to its await
        assert!(task.cancel(), "cancel() of a pending task must return true");
        assert!(
            !task.is_done(),
            "cancel() only requests cancellation; the task finishes at its next turn"
        );
        assert!(
            !cleaned.get(),
            "the future was dropped inside cancel() instead of at the task's next turn"
        );
        assert_eq!((&mut task).await, Err(TaskError::Cancelled));
        assert!(cleaned.get(), "the cancelled task's Drop guard did not run");
        assert!(!resumed.get(), "the cancelled task resumed after its await");
        assert!(task.is_done() && task.is_cancelled());
    });
}

// T1 (CPython test_cancelling, the portable part)
#[test]
fn t1_cancelling_twice_returns_true_both_times_while_the_task_is_pending() {
    run(async {
        let mut task = spawn(pending::<()>());
        assert!(task.cancel(), "first cancel() of a pending task");
        assert!(
            task.cancel(),
            "a second cancel() while the task is still pending must also return true"
        );
        assert_eq!((&mut task).await, Err(TaskError::Cancelled));
        assert!(
            !task.cancel(),
            "cancel() of a cancelled task must return false"
        );
    });
}

// T1
#[test]
fn t1_cancel_on_a_done_task_returns_false_and_changes_nothing() {
    run(async {
        let mut value = spawn(async { 5 });
        let mut boom = spawn(async { panic!("boom") });
        turns(1).await;
        assert!(value.is_done() && boom.is_done());
        assert!(
            !value.cancel(),
            "cancel() of a finished task must return false"
        );
        assert!(
            !boom.cancel(),
            "cancel() of a panicked task must return false"
        );
        assert!(!value.is_cancelled() && !boom.is_cancelled());
        assert_eq!(
            (&mut value).await,
            Ok(5),
            "cancel() of a done task changed its result"
        );
        assert!(
            matches!((&mut boom).await, Err(TaskError::Panicked(p)) if p.message() == "boom"),
            "cancel() of a panicked task changed its outcome"
        );
    });
}

// T1 (R: a task cannot refuse cancellation; its Drop impls are its clean-up)
#[test]
fn t1_the_clean_up_has_run_before_the_awaiter_or_a_done_callback_sees_the_cancellation() {
    run(async {
        let log = Rc::new(RefCell::new(Vec::<&str>::new()));
        let l = log.clone();
        let mut task = spawn(async move {
            let _cleanup = on_drop(move || l.borrow_mut().push("clean-up"));
            pending::<()>().await;
        });
        let l = log.clone();
        task.add_done_callback(move || l.borrow_mut().push("done callback"));
        yield_now().await;
        task.cancel();
        assert_eq!((&mut task).await, Err(TaskError::Cancelled));
        log.borrow_mut().push("awaiter");
        yield_now().await;
        assert_eq!(
            log.borrow()[0],
            "clean-up",
            "the task counted as done before its future was dropped: {:?}",
            log.borrow()
        );
        assert_eq!(log.borrow().len(), 3, "{:?}", log.borrow());
    });
}

// ---------------------------------------------------------------------------------------------
// T2: is_done, is_cancelled, and what awaiting gives
// ---------------------------------------------------------------------------------------------

// T2
#[test]
fn t2_done_and_cancelled_say_how_a_task_ended() {
    run(async {
        let mut value = spawn(async {
            yield_now().await;
            1
        });
        let mut boom = spawn(async {
            yield_now().await;
            panic!("boom")
        });
        let mut cancelled = spawn(pending::<i32>());
        assert!(
            !value.is_done() && !value.is_cancelled(),
            "a new task is pending"
        );
        assert!(
            !boom.is_done() && !boom.is_cancelled(),
            "a new task is pending"
        );
        assert!(
            !cancelled.is_done() && !cancelled.is_cancelled(),
            "a new task is pending"
        );
        cancelled.cancel();
        turns(3).await;
        assert!(value.is_done() && !value.is_cancelled(), "value: {value:?}");
        assert!(boom.is_done() && !boom.is_cancelled(), "panic: {boom:?}");
        assert!(
            cancelled.is_done() && cancelled.is_cancelled(),
            "cancel: {cancelled:?}"
        );
        assert_eq!((&mut value).await, Ok(1));
        match (&mut boom).await {
            Err(TaskError::Panicked(p)) => assert_eq!(p.message(), "boom"),
            other => panic!("awaiting a panicked task must give Panicked, got {other:?}"),
        }
        assert_eq!((&mut cancelled).await, Err(TaskError::Cancelled));
    });
}

// T2
#[test]
fn t2_a_panicking_task_is_caught_and_the_loop_goes_on() {
    let out = run(async {
        let steady = spawn(async {
            for _ in 0..5 {
                yield_now().await;
            }
            "steady finished"
        });
        let boom = spawn(async {
            yield_now().await;
            let v: Vec<i32> = Vec::new();
            v[3] // index out of bounds
        });
        let boom = boom.await;
        assert!(
            matches!(&boom, Err(TaskError::Panicked(p)) if p.message().contains("index out of bounds")),
            "got {boom:?}"
        );
        steady.await
    });
    assert_eq!(
        out,
        Ok("steady finished"),
        "the loop stopped after a task panicked"
    );
}

// T2
#[test]
#[should_panic(expected = "awaited again")]
fn t2_awaiting_a_task_again_after_it_returned_its_output_panics() {
    run(async {
        let mut task = spawn(async { 1 });
        assert_eq!((&mut task).await, Ok(1));
        let _ = (&mut task).await;
    });
}

// T2
#[test]
fn t2_awaiting_a_cancelled_task_twice_panics_inside_the_awaiting_task_only() {
    run(async {
        let awaiter = spawn(async {
            let mut task = spawn(pending::<()>());
            task.cancel();
            assert_eq!((&mut task).await, Err(TaskError::Cancelled));
            (&mut task).await
        });
        match awaiter.await {
            Err(TaskError::Panicked(p)) => assert!(
                p.message().contains("awaited again"),
                "the panic must explain the second await, got {:?}",
                p.message()
            ),
            other => panic!("a second await of a task must panic, got {other:?}"),
        }
    });
}

// ---------------------------------------------------------------------------------------------
// T3: done callbacks
// ---------------------------------------------------------------------------------------------

// T3
#[test]
fn t3_done_callbacks_run_once_each_in_registration_order_after_the_task_finished() {
    run(async {
        let log = Rc::new(RefCell::new(Vec::new()));
        let l = log.clone();
        let task = spawn(async move {
            yield_now().await;
            l.borrow_mut().push("task finished".to_owned());
        });
        for i in 0..3 {
            let l = log.clone();
            task.add_done_callback(move || l.borrow_mut().push(format!("callback {i}")));
        }
        assert!(
            log.borrow().is_empty(),
            "a callback ran before the task finished"
        );
        turns(6).await;
        assert_eq!(
            *log.borrow(),
            ["task finished", "callback 0", "callback 1", "callback 2"],
            "done callbacks must run once each, in registration order, after the task finished"
        );
    });
}

// T3
#[test]
fn t3_a_callback_added_to_a_done_task_is_scheduled_at_once_not_run_inline() {
    run(async {
        let task = spawn(async {});
        yield_now().await;
        assert!(task.is_done());
        let calls = Rc::new(Cell::new(0));
        let c = calls.clone();
        task.add_done_callback(move || c.set(c.get() + 1));
        assert_eq!(
            calls.get(),
            0,
            "add_done_callback ran the callback inline instead of scheduling it on the loop"
        );
        yield_now().await;
        assert_eq!(
            calls.get(),
            1,
            "a callback added to a done task must run on the loop's next turn"
        );
        turns(3).await;
        assert_eq!(calls.get(), 1, "a done callback ran more than once");
    });
}

// T3
#[test]
fn t3_callbacks_also_run_for_cancelled_and_panicked_tasks() {
    run(async {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let boom = spawn(async { panic!("boom") });
        let stopped = spawn(pending::<()>());
        let s = seen.clone();
        boom.add_done_callback(move || s.borrow_mut().push("panicked"));
        let s = seen.clone();
        stopped.add_done_callback(move || s.borrow_mut().push("cancelled"));
        stopped.cancel();
        turns(3).await;
        assert_eq!(*seen.borrow(), ["panicked", "cancelled"]);
    });
}

// T3
#[test]
fn t3_a_panicking_done_callback_is_reported_and_the_others_still_run() {
    let (lp, reports) = reporting_loop();
    let log = Rc::new(RefCell::new(Vec::new()));
    lp.run_until_complete(async {
        let task = spawn(async {});
        let l = log.clone();
        task.add_done_callback(move || l.borrow_mut().push("first"));
        task.add_done_callback(|| panic!("callback broke"));
        let l = log.clone();
        task.add_done_callback(move || l.borrow_mut().push("third"));
        turns(3).await;
        log.borrow_mut().push("main goes on");
    });
    assert_eq!(*log.borrow(), ["first", "third", "main goes on"]);
    let reports = reports.borrow();
    assert_eq!(
        reports.len(),
        1,
        "one panicking callback, one report: {reports:?}"
    );
    assert_eq!(
        reports[0].panic().map(|p| p.message()),
        Some("callback broke")
    );
}

// ---------------------------------------------------------------------------------------------
// T4: unobserved panics reach the exception handler
// ---------------------------------------------------------------------------------------------

// T4
#[test]
fn t4_a_panic_in_a_task_detached_before_it_finished_is_reported_when_it_finishes() {
    let (lp, reports) = reporting_loop();
    lp.run_until_complete(async {
        let orphan = spawn(async {
            yield_now().await;
            panic!("nobody listens")
        });
        orphan.set_name("orphan");
        orphan.detach();
        assert!(reports.borrow().is_empty());
        turns(3).await;
        assert_eq!(
            reports.borrow().len(),
            1,
            "the panic was not reported when the detached task finished"
        );
        turns(3).await; // the loop goes on
    });
    let reports = reports.borrow();
    assert_eq!(reports.len(), 1, "reported more than once: {reports:?}");
    let ctx = &reports[0];
    assert!(
        ctx.message().contains("never retrieved"),
        "unexpected message {:?}",
        ctx.message()
    );
    assert_eq!(ctx.task(), Some("orphan"));
    assert_eq!(ctx.panic().map(|p| p.message()), Some("nobody listens"));
}

// T4
#[test]
fn t4_a_panic_whose_handle_is_dropped_unawaited_is_reported_on_the_drop() {
    let (lp, reports) = reporting_loop();
    lp.run_until_complete(async {
        let task = spawn(async { panic!("ignored") });
        turns(2).await;
        assert!(task.is_done());
        assert!(
            reports.borrow().is_empty(),
            "reported while the handle could still be awaited"
        );
        drop(task);
        assert_eq!(
            reports.borrow().len(),
            1,
            "not reported when the handle was dropped"
        );
        turns(2).await;
    });
    assert_eq!(reports.borrow().len(), 1, "reported more than once");
}

// T4
#[test]
fn t4_observed_panics_cancellations_and_successes_are_not_reported() {
    let (lp, reports) = reporting_loop();
    lp.run_until_complete(async {
        let awaited = spawn(async { panic!("seen by the awaiter") });
        assert!(awaited.await.is_err());
        let cancelled = spawn(pending::<()>());
        cancelled.cancel();
        cancelled.detach();
        spawn(async { 1 }).detach();
        turns(3).await;
    });
    drop(lp);
    assert!(
        reports.borrow().is_empty(),
        "nothing unobserved failed, yet the handler got {:?}",
        reports.borrow()
    );
}

// T4
#[test]
fn a_panicking_exception_handler_does_not_stop_the_loop() {
    let lp = EventLoop::new();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    lp.set_exception_handler(move |_| {
        c.set(c.get() + 1);
        panic!("the handler itself fails");
    });
    let out = lp.run_until_complete(async {
        spawn(async { panic!("first") }).detach();
        spawn(async { panic!("second") }).detach();
        turns(3).await;
        "main finished"
    });
    assert_eq!(out, "main finished");
    assert_eq!(calls.get(), 2, "the handler must be called for each report");
}

// ---------------------------------------------------------------------------------------------
// T5: cancellation propagates through await
// ---------------------------------------------------------------------------------------------

// T5
#[test]
fn t5_an_await_abandoned_by_a_timeout_cancels_the_task() {
    EventLoop::with_virtual_time().run_until_complete(async {
        let cleaned = flag();
        let c = cleaned.clone();
        let mut slow = spawn(async move {
            let _cleanup = on_drop(move || c.set(true));
            sleep(Duration::from_secs(3600)).await;
        });
        let outcome = race((&mut slow).into_future(), sleep(Duration::from_millis(5))).await;
        assert!(matches!(outcome, Either::Right(())), "the timeout must win");
        turns(1).await;
        assert!(
            slow.is_cancelled(),
            "dropping the await of a pending task must cancel it"
        );
        assert!(cleaned.get());
    });
}

// T5
#[test]
fn t5_cancelling_a_task_cancels_the_task_it_is_awaiting() {
    run(async {
        let child_cleaned = flag();
        let c = child_cleaned.clone();
        let mut parent = spawn(async move {
            let child = spawn(async move {
                let _cleanup = on_drop(move || c.set(true));
                pending::<()>().await;
            });
            child.await
        });
        turns(2).await; // the parent awaits its child
        parent.cancel();
        assert_eq!((&mut parent).await, Err(TaskError::Cancelled));
        turns(1).await;
        assert!(
            child_cleaned.get(),
            "the child awaited by a cancelled task must be cancelled too"
        );
    });
}

// T5
#[test]
fn t5_a_handle_never_awaited_or_detached_leaves_the_task_running() {
    run(async {
        let held_done = flag();
        let detached_done = flag();
        let (h, d) = (held_done.clone(), detached_done.clone());
        let mut parent = spawn(async move {
            let _held = spawn(async move {
                turns(3).await;
                h.set(true);
            });
            spawn(async move {
                turns(3).await;
                d.set(true);
            })
            .detach();
            pending::<()>().await;
        });
        yield_now().await;
        parent.cancel();
        assert_eq!((&mut parent).await, Err(TaskError::Cancelled));
        turns(5).await;
        assert!(
            held_done.get(),
            "a child whose handle was held but never awaited was cancelled with its parent"
        );
        assert!(
            detached_done.get(),
            "a detached child was cancelled with its parent"
        );
    });
}

// T5
#[test]
fn t5_an_await_that_was_never_polled_does_not_cancel() {
    run(async {
        let mut task = spawn(async {
            yield_now().await;
            7
        });
        let join = (&mut task).into_future();
        drop(join);
        turns(2).await;
        assert!(
            !task.is_cancelled(),
            "dropping an await that never started cancelled the task"
        );
        assert_eq!(task.await, Ok(7));
    });
}

// T5 (SH1)
#[test]
fn t5_shield_stops_the_propagation() {
    EventLoop::with_virtual_time().run_until_complete(async {
        let inner_finished = flag();
        let f = inner_finished.clone();
        let inner = spawn(async move {
            sleep(Duration::from_millis(5)).await;
            f.set(true);
            "inner result"
        });
        let mut waiter = spawn(shield(inner).into_future());
        yield_now().await;
        waiter.cancel();
        assert_eq!((&mut waiter).await, Err(TaskError::Cancelled));
        sleep(Duration::from_millis(20)).await;
        assert!(
            inner_finished.get(),
            "cancelling the awaiter of a shield cancelled the shielded task"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// T6: cancelled before the first turn
// ---------------------------------------------------------------------------------------------

// T6
// CPython: test_tasks.py::test_cancel_with_message_before_starting_task
// (Rust has no cancel message: ported is the part that the body never runs.)
#[test]
fn t6_a_task_cancelled_before_its_first_turn_never_runs_its_body() {
    run(async {
        let ran = flag();
        let dropped = flag();
        let (r, d) = (ran.clone(), dropped.clone());
        let captured = on_drop(move || d.set(true));
        let mut task = spawn(async move {
            let _captured = captured;
            r.set(true);
        });
        assert!(
            task.cancel(),
            "cancel() of a task that has not started must return true"
        );
        assert_eq!((&mut task).await, Err(TaskError::Cancelled));
        assert!(
            !ran.get(),
            "the body of a task cancelled before it started ran"
        );
        assert!(dropped.get(), "the unpolled future was not dropped");
        assert!(task.is_done() && task.is_cancelled());
    });
}

// ---------------------------------------------------------------------------------------------
// Panics while dropping
// ---------------------------------------------------------------------------------------------

#[test]
fn a_drop_that_panics_while_a_task_is_cancelled_is_reported_and_the_loop_goes_on() {
    let (lp, reports) = reporting_loop();
    let out = lp.run_until_complete(async {
        let mut fragile = spawn(async {
            let _cleanup = on_drop(|| panic!("clean-up failed"));
            pending::<()>().await;
        });
        fragile.set_name("fragile");
        let bystander = spawn(async {
            turns(5).await;
            "still here"
        });
        yield_now().await;
        assert!(fragile.cancel());
        assert_eq!(
            (&mut fragile).await,
            Err(TaskError::Cancelled),
            "a task whose clean-up panicked must still end cancelled"
        );
        assert!(fragile.is_cancelled());
        bystander.await
    });
    assert_eq!(
        out,
        Ok("still here"),
        "the loop stopped after a Drop panicked"
    );
    let reports = reports.borrow();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].task(), Some("fragile"));
    assert_eq!(
        reports[0].panic().map(|p| p.message()),
        Some("clean-up failed")
    );
}

#[test]
fn a_drop_that_panics_while_a_dropped_loop_cleans_up_is_reported() {
    let (lp, reports) = reporting_loop();
    lp.run_until_complete(async {
        spawn(async {
            let _cleanup = on_drop(|| panic!("late clean-up failed"));
            pending::<()>().await;
        })
        .detach();
        yield_now().await;
    });
    drop(lp);
    let reports = reports.borrow();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(
        reports[0].panic().map(|p| p.message()),
        Some("late clean-up failed")
    );
}

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

#[test]
fn tasks_get_distinct_increasing_default_names_and_can_be_renamed() {
    run(async {
        let a = spawn(async {});
        let b = spawn(async {});
        let number = |t: &Task<()>| -> u64 {
            let name = t.name();
            name.strip_prefix("Task-")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("default name {name:?} is not Task-N"))
        };
        assert!(
            number(&a) < number(&b),
            "default names must increase: {} then {}",
            a.name(),
            b.name()
        );
        b.set_name("worker");
        assert_eq!(b.name(), "worker");
        a.await.unwrap();
        assert_eq!(b.name(), "worker", "the name must survive the task's end");
        b.await.unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// What is dropped when
// ---------------------------------------------------------------------------------------------

#[test]
fn dropping_the_handle_of_a_finished_task_drops_its_output() {
    run(async {
        let output_dropped = flag();
        let d = output_dropped.clone();
        let task = spawn(async move { on_drop(move || d.set(true)) });
        turns(2).await;
        assert!(task.is_done());
        assert!(
            !output_dropped.get(),
            "the output was dropped while the handle could take it"
        );
        drop(task);
        assert!(
            output_dropped.get(),
            "dropping the handle of a finished task leaked its output"
        );
    });
}

#[test]
fn an_output_nobody_can_take_is_dropped_when_the_task_finishes() {
    run(async {
        let output_dropped = flag();
        let d = output_dropped.clone();
        spawn(async move {
            yield_now().await;
            on_drop(move || d.set(true))
        })
        .detach();
        turns(3).await;
        assert!(
            output_dropped.get(),
            "the output of a detached task was kept after it finished"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// CPython test_tasks.py ports
// ---------------------------------------------------------------------------------------------

// CPython: test_tasks.py::test_task_class
#[test]
fn cpython_test_task_class() {
    let lp = EventLoop::new();
    let mut task = lp.run_until_complete(async { spawn(async { "ok" }) });
    assert!(!task.is_done(), "the task was run inline by spawn");
    assert_eq!(lp.run_until_complete(&mut task), Ok("ok"));
    assert!(task.is_done() && !task.is_cancelled());
}

// CPython: test_tasks.py::test_task_basics
#[test]
fn cpython_test_task_basics() {
    async fn inner1() -> i32 {
        42
    }
    async fn inner2() -> i32 {
        1000
    }
    async fn outer() -> i32 {
        let a = inner1().await;
        let b = inner2().await;
        a + b
    }
    assert_eq!(run(async { spawn(outer()).await }), Ok(1042));
}

// CPython: test_tasks.py::test_cancel
// T1
#[test]
fn cpython_test_cancel() {
    let lp = EventLoop::new();
    let accepted = Rc::new(Cell::new(None));
    let a = accepted.clone();
    let task = lp.run_until_complete(async move {
        let task = Rc::new(RefCell::new(spawn(async {
            sleep(Duration::from_secs(10)).await;
            12
        })));
        let canceller = task.clone();
        call_soon(move || a.set(Some(canceller.borrow().cancel())));
        assert_eq!(await_shared(&task).await, Err(TaskError::Cancelled));
        task
    });
    assert_eq!(
        accepted.get(),
        Some(true),
        "cancel() of a sleeping task must return true"
    );
    let task = task.borrow();
    assert!(task.is_done() && task.is_cancelled());
    assert!(!task.cancel(), "a later cancel() must return false");
    assert_eq!(
        timers(&lp),
        0,
        "the cancelled task's 10s sleep is still armed"
    );
}

// CPython: test_tasks.py::test_cancel_yield
// T1
#[test]
fn cpython_test_cancel_yield() {
    run(async {
        let step = Rc::new(Cell::new(0));
        let s = step.clone();
        let mut task = spawn(async move {
            s.set(1);
            yield_now().await;
            s.set(2);
            yield_now().await;
            s.set(3);
        });
        yield_now().await; // the task takes one step: it is between its two yields
        assert_eq!(step.get(), 1);
        assert!(task.cancel());
        assert_eq!((&mut task).await, Err(TaskError::Cancelled));
        assert_eq!(step.get(), 1, "the task ran on after it was cancelled");
        assert!(task.is_done() && task.is_cancelled());
        assert!(!task.cancel());
    });
}

// CPython: test_tasks.py::test_cancel_current_task
#[test]
fn cpython_test_cancel_current_task() {
    let lp = EventLoop::new();
    let accepted = Rc::new(Cell::new(None));
    let resumed = flag();
    let (a, r) = (accepted.clone(), resumed.clone());
    lp.run_until_complete(async move {
        let task = spawn_self_aware(move |me| async move {
            a.set(Some(me.cancel()));
            sleep(Duration::from_secs(100)).await;
            r.set(true);
        });
        assert_eq!(await_shared(&task).await, Err(TaskError::Cancelled));
        let task = task.borrow();
        assert!(task.is_done() && task.is_cancelled());
        assert!(!task.cancel());
    });
    assert_eq!(
        accepted.get(),
        Some(true),
        "a running task cancelling itself must get true"
    );
    assert!(
        !resumed.get(),
        "the self-cancelled task resumed after its sleep"
    );
    assert_eq!(
        timers(&lp),
        0,
        "the 100s sleep of the self-cancelled task is still armed"
    );
}

// CPython: test_tasks.py::test_cancel_at_end
#[test]
fn cpython_test_cancel_at_end() {
    run(async {
        let value_dropped = flag();
        let d = value_dropped.clone();
        let task = spawn_self_aware(move |me| async move {
            assert!(me.cancel());
            (12, on_drop(move || d.set(true))) // returns without awaiting again
        });
        let out = await_shared(&task).await;
        assert!(
            matches!(out, Err(TaskError::Cancelled)),
            "a task that cancelled itself and then returned must end cancelled"
        );
        assert!(task.borrow().is_cancelled());
        assert!(
            value_dropped.get(),
            "the discarded return value was not dropped"
        );
    });
}

// CPython: test_tasks.py::test_cancel_awaited_task
// T5. Rust difference: asyncio hands the pending cancel to the child at the task's next await, in
// the same step. Here the task's future is dropped at its next turn, and dropping its await of the
// child cancels the child (T5): one turn later, same outcome — the child, the future it awaited
// and the task all end cancelled.
#[test]
fn cpython_test_cancel_awaited_task() {
    run(async {
        let slot = Rc::new(RefCell::new(None));
        let fut_cancelled = flag();
        let child_resumed = flag();
        let task_resumed = flag();
        let (s, fc, cr, tr) = (
            slot.clone(),
            fut_cancelled.clone(),
            child_resumed.clone(),
            task_resumed.clone(),
        );
        let task = spawn_self_aware(move |me| async move {
            let child = spawn(async move {
                let _fut = on_drop(move || fc.set(true)); // stands for the awaited future
                pending::<()>().await;
                cr.set(true);
            });
            let mut child = Lent {
                task: Some(child),
                slot: s,
            };
            yield_now().await;
            me.cancel();
            let _ = (&mut *child).await;
            tr.set(true);
        });
        assert_eq!(await_shared(&task).await, Err(TaskError::Cancelled));
        turns(2).await;
        let child = slot
            .borrow_mut()
            .take()
            .expect("the task's future was dropped and gave the child's handle back");
        assert!(
            child.is_done() && child.is_cancelled(),
            "the child awaited by a cancelled task must end cancelled, got {child:?}"
        );
        assert!(
            fut_cancelled.get(),
            "the future the child awaited was not cancelled"
        );
        assert!(!child_resumed.get());
        assert!(!task_resumed.get());
    });
}

// CPython: test_tasks.py::test_task_cancel_sleeping_task
#[test]
fn cpython_test_task_cancel_sleeping_task() {
    EventLoop::with_virtual_time().run_until_complete(async {
        let start = asyncio::now();
        let parent = spawn(async {
            let child = Rc::new(RefCell::new(spawn(sleep(Duration::from_secs(5000)))));
            let canceller = child.clone();
            spawn(async move {
                sleep(Duration::from_millis(10)).await;
                canceller.borrow().cancel();
            })
            .detach();
            // The parent handles its child's cancellation and returns normally.
            match await_shared(&child).await {
                Err(TaskError::Cancelled) => "cancelled",
                other => panic!("the child must end cancelled, got {other:?}"),
            }
        });
        assert_eq!(parent.await, Ok("cancelled"));
        assert_eq!(asyncio::now() - start, Duration::from_millis(10));
    });
}

// CPython: test_tasks.py::test_bare_create_task
#[test]
fn cpython_test_bare_create_task() {
    let out = run(async { spawn(async { spawn(async { 1 }).await }).await });
    assert_eq!(out, Ok(Ok(1)));
}

// CPython: test_tasks.py::test_bare_create_named_task
#[test]
fn cpython_test_bare_create_named_task() {
    run(async {
        let task = spawn(async {});
        task.set_name("No-op");
        assert_eq!(task.name(), "No-op");
        task.await.unwrap();
    });
}

// CPython: test_tasks.py::test_task_awaits_on_itself
// R: CPython fails the task with RuntimeError; here the await panics inside the task, so the task
// ends `Panicked` with a message that names the mistake — a clear error instead of a hang.
#[test]
fn a_task_awaiting_itself_fails_with_a_message_instead_of_hanging() {
    let (lp, reports) = reporting_loop();
    lp.run_until_complete(async {
        let slot: Rc<RefCell<Option<Task<()>>>> = Rc::default();
        let me = slot.clone();
        let task = spawn(async move {
            yield_now().await;
            let own = me.borrow_mut().take().unwrap();
            own.await.ok();
        });
        *slot.borrow_mut() = Some(task);
        for _ in 0..4 {
            yield_now().await;
        }
    });
    // The task dropped its own (never completed) await when it panicked: the panic is reported
    // as never retrieved, with the message.
    let reports = reports.borrow();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let panic = reports[0].panic().expect("a panic");
    assert!(
        panic.message().contains("awaited its own handle"),
        "{panic:?}"
    );
}

// CPython: test_tasks.py::test_task_cancel_message_getter
// R: cancel() takes no message; the observable part is that a task cancelled before it started
// ends cancelled.
#[test]
fn cpython_test_task_cancel_message_getter() {
    run(async {
        let t = spawn(async { 1 });
        assert!(t.cancel());
        assert_eq!(t.await, Err(TaskError::Cancelled));
    });
}

// CPython: test_tasks.py::test_cancel_with_message_then_future_result
// CPython: test_tasks.py::test_cancel_with_message_then_future_exception
// R: no cancel messages; the child's outcome read after waiting for it is `Err(Cancelled)`.
#[test]
fn cpython_test_cancel_then_the_childs_result_is_cancelled() {
    EventLoop::with_virtual_time().run_until_complete(async {
        let child = spawn(async {
            yield_now().await;
            sleep(Duration::from_secs(10)).await;
        });
        yield_now().await;
        yield_now().await;
        assert!(child.cancel());
        assert_eq!(child.await, Err(TaskError::Cancelled));
    });
}

// CPython: test_tasks.py::test_cancel_inner_future
// R: awaiting a cancelled task gives `Err(Cancelled)` as a value; the awaiting task ends as it
// decides — here it propagates the error with `?`, so it fails with `Failed(Cancelled)` rather
// than ending cancelled itself (CPython: the CancelledError unwinds the awaiting task).
#[test]
fn cpython_test_cancel_inner_future() {
    run(async {
        let inner: Rc<RefCell<Task<()>>> = Rc::new(RefCell::new(spawn(pending())));
        let i = inner.clone();
        let outer = asyncio::try_gather([async move { await_shared(&i).await }]);
        yield_now().await;
        assert!(inner.borrow().cancel());
        assert_eq!(outer.await, Err(TaskError::Failed(TaskError::Cancelled)));
        assert!(inner.borrow().is_cancelled());
    });
}

// CPython: test_tasks.py::test_cancel_both_task_and_inner_future
#[test]
fn cpython_test_cancel_both_task_and_inner_future() {
    run(async {
        let inner: Rc<RefCell<Task<()>>> = Rc::new(RefCell::new(spawn(pending())));
        let i = inner.clone();
        let mut outer = spawn(async move { await_shared(&i).await });
        yield_now().await;
        assert!(inner.borrow().cancel());
        assert!(outer.cancel());
        assert_eq!((&mut outer).await, Err(TaskError::Cancelled));
        yield_now().await;
        assert!(inner.borrow().is_cancelled() && outer.is_cancelled());
    });
}

// CPython: test_tasks.py::test_task_cancel_waiter_future
// CPython: test_tasks.py::test_yield_future_passes_cancel (the portable part)
#[test]
fn cpython_cancelling_a_task_cancels_what_it_awaits_through_nested_awaits() {
    run(async {
        let innermost_dropped = flag();
        let d = innermost_dropped.clone();
        let inner = spawn(async move {
            let _guard = on_drop(move || d.set(true));
            pending::<()>().await;
        });
        let mut outer = spawn(async move {
            async fn middle(t: Task<()>) -> Result<(), TaskError> {
                t.await
            }
            middle(inner).await
        });
        yield_now().await;
        yield_now().await;
        assert!(outer.cancel());
        assert_eq!((&mut outer).await, Err(TaskError::Cancelled));
        yield_now().await;
        assert!(
            innermost_dropped.get(),
            "the cancellation reached the innermost task (T5)"
        );
    });
}

// CPython: test_tasks.py::test_eager_start_false
// (test_eager_start_true is not ported: spawn always starts the task on the loop's next turn.)
#[test]
fn cpython_test_eager_start_false() {
    run(async {
        let ran = flag();
        let r = ran.clone();
        let mut t = spawn(async move { r.set(true) });
        t.set_name("example");
        assert!(!t.is_done() && !ran.get(), "not started at creation");
        (&mut t).await.unwrap();
        assert!(ran.get());
    });
}
