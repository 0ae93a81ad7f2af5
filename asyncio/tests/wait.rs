//! `wait` and `as_completed` (SEMANTICS.md W1), with the ports of the wait and as_completed cases
//! of CPython's `test_tasks.py`.
//!
//! Every test runs on a virtual clock, so CPython's `TestLoop` timings (`loop.time() == 0.15`)
//! are checked exactly.
//!
//! Rust differences that recur: a task is owned, so it cannot be passed twice (CPython's
//! de-duplication tests have nothing to check); an exception is a panic; `as_completed` yields
//! outcomes, not awaitable placeholders.
//!
//! Not ported: `test_wait_duplicate_coroutines` and `test_as_completed_duplicate_coroutines`
//! (ownership rules out passing one task twice, `&mut` twice is refused by the borrow checker);
//! `test_as_completed_reverse_wait` and `test_as_completed_concurrent` (they await the
//! placeholders as_completed yields out of order or at the same time; `next()` yields the outcome
//! itself and borrows the `AsCompleted` mutably, so there is no placeholder to await);
//! `test_wait_invalid_args`, `test_as_completed_invalid_args` (ruled out by Rust's types) and the
//! two loop-plumbing as_completed tests (N/A).

use std::cell::Cell;
use std::future::{pending, poll_fn, Future};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use asyncio::{
    as_completed, now, sleep, sleep_until, spawn, try_as_completed, wait, yield_now, AsCompleted,
    EventLoop, ReturnWhen, Task, TaskError,
};
use futures_core::Stream;

fn vrun<F: std::future::IntoFuture>(main: F) -> F::Output {
    EventLoop::with_virtual_time().run_until_complete(main)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Virtual milliseconds since `start`.
fn since(start: Instant) -> u128 {
    (now() - start).as_millis()
}

/// A task that sleeps `d`, then returns `v`.
fn nap<T: 'static>(d: Duration, v: T) -> Task<T> {
    spawn(async move {
        sleep(d).await;
        v
    })
}

fn names(tasks: &[Task<&'static str>]) -> Vec<String> {
    tasks.iter().map(Task::name).collect()
}

// ---------------------------------------------------------------------------------------------
// wait
// ---------------------------------------------------------------------------------------------

// CPython: test_tasks.py::test_wait
// W1
#[test]
fn wait_all_completed_returns_every_task_done_and_again_at_once() {
    vrun(async {
        let start = now();
        let a = nap(ms(100), "a");
        let b = nap(ms(150), "b");
        let (done, pending) = wait([b, a], ReturnWhen::AllCompleted, None).await;
        assert_eq!(since(start), 150);
        assert_eq!(done.len(), 2);
        assert!(pending.is_empty());
        // Waiting on finished tasks returns at once: no time passes.
        let (done, pending) = wait(done, ReturnWhen::AllCompleted, None).await;
        assert_eq!(since(start), 150);
        assert!(pending.is_empty());
        // `done` keeps the input order; each task gives its result at once.
        let mut outs = Vec::new();
        for t in done {
            outs.push(t.await.unwrap());
        }
        assert_eq!(outs, ["b", "a"]);
    });
}

// CPython: test_tasks.py::test_wait_errors
// DIFFERENT: an empty input panics (asyncio raises ValueError); a bad return_when cannot be
// written with a Rust enum.
#[test]
fn wait_with_no_tasks_is_refused_with_a_clear_panic() {
    vrun(async {
        let waiter = spawn(async {
            wait(Vec::<Task<()>>::new(), ReturnWhen::AllCompleted, None).await;
        });
        match waiter.await {
            Err(TaskError::Panicked(p)) => {
                assert!(
                    p.message().contains("wait() called with no tasks"),
                    "{}",
                    p.message()
                )
            }
            other => panic!("expected a panic, got {other:?}"),
        }
    });
}

// CPython: test_tasks.py::test_wait_first_completed
// W1: the first finished task is done, the other still runs.
#[test]
fn wait_first_completed_returns_when_one_task_finished() {
    vrun(async {
        let start = now();
        let a = nap(ms(10_000), "a");
        let b = nap(ms(100), "b");
        a.set_name("a");
        b.set_name("b");
        let (done, pending) = wait([a, b], ReturnWhen::FirstCompleted, None).await;
        assert_eq!(since(start), 100);
        assert_eq!(names(&done), ["b"]);
        assert_eq!(names(&pending), ["a"]);
        assert!(
            !pending[0].is_done() && !pending[0].is_cancelled(),
            "a still runs"
        );
        let mut done = done;
        assert_eq!(done.pop().unwrap().await, Ok("b"));
    });
}

// CPython: test_tasks.py::test_wait_really_done
// W1: every task finished by the time wait returns is in `done`.
#[test]
fn wait_first_completed_includes_every_task_already_finished() {
    vrun(async {
        let a = spawn(async {
            yield_now().await;
            "a"
        });
        let b = spawn(async {
            yield_now().await;
            yield_now().await;
            "b"
        });
        let (done, pending) = wait([a, b], ReturnWhen::FirstCompleted, None).await;
        assert_eq!(
            done.len(),
            2,
            "b finished while wait was being told about a"
        );
        assert!(pending.is_empty());
    });
}

// CPython: test_tasks.py::test_wait_first_exception
// W1: a task that already failed returns at once.
#[test]
fn wait_first_exception_returns_at_once_for_a_task_that_already_panicked() {
    vrun(async {
        let start = now();
        let a = nap(ms(10_000), "a");
        a.set_name("a");
        let b = spawn(async { panic!("1/0") });
        b.set_name("b");
        yield_now().await;
        yield_now().await;
        assert!(b.is_done());
        let (done, pending) = wait([a, b], ReturnWhen::FirstException, None).await;
        assert_eq!(since(start), 0);
        assert_eq!(names(&done), ["b"]);
        assert_eq!(names(&pending), ["a"]);
    });
}

// CPython: test_tasks.py::test_wait_first_exception_in_wait
// W1
#[test]
fn wait_first_exception_returns_when_a_task_panics() {
    vrun(async {
        let start = now();
        let a = nap(ms(10_000), "a");
        a.set_name("a");
        let b = spawn(async {
            sleep(ms(10)).await;
            panic!("1/0")
        });
        b.set_name("b");
        let (done, pending) = wait([a, b], ReturnWhen::FirstException, None).await;
        assert_eq!(since(start), 10);
        assert_eq!(names(&done), ["b"]);
        assert_eq!(names(&pending), ["a"]);
    });
}

#[test]
fn wait_first_exception_ignores_values_and_cancellations_until_all_are_done() {
    vrun(async {
        let start = now();
        let quick = nap(ms(10), "quick");
        let cancelled = nap(ms(10_000), "cancelled");
        cancelled.cancel();
        let slow = nap(ms(50), "slow");
        let (done, pending) =
            wait([quick, cancelled, slow], ReturnWhen::FirstException, None).await;
        assert_eq!(since(start), 50, "no panic: it waited for all");
        assert_eq!((done.len(), pending.len()), (3, 0));
    });
}

// CPython: test_tasks.py::test_wait_with_exception
// W1: wait itself never fails because a task did.
#[test]
fn wait_all_completed_does_not_fail_when_a_task_panics() {
    vrun(async {
        let start = now();
        let a = nap(ms(150), "a");
        let b = spawn(async {
            sleep(ms(100)).await;
            panic!("1/0")
        });
        let (done, pending) = wait([a, b], ReturnWhen::AllCompleted, None).await;
        assert_eq!(since(start), 150);
        assert!(pending.is_empty());
        let mut panics = 0;
        for t in done {
            if matches!(t.await, Err(TaskError::Panicked(_))) {
                panics += 1;
            }
        }
        assert_eq!(panics, 1);
    });
}

// CPython: test_tasks.py::test_wait_with_timeout
// W1: on timeout nothing is cancelled.
#[test]
fn wait_with_a_timeout_returns_the_pending_tasks_uncancelled() {
    vrun(async {
        let start = now();
        let a = nap(ms(100), "a");
        let b = nap(ms(150), "b");
        a.set_name("a");
        b.set_name("b");
        let (done, pending) = wait([a, b], ReturnWhen::AllCompleted, Some(ms(110))).await;
        assert_eq!(since(start), 110);
        assert_eq!(names(&done), ["a"]);
        assert_eq!(names(&pending), ["b"]);
        let mut pending = pending;
        let b = pending.pop().unwrap();
        assert!(!b.is_cancelled());
        assert_eq!(b.await, Ok("b"), "b runs on and finishes");
        assert_eq!(since(start), 150);
    });
}

// CPython: test_tasks.py::test_wait_concurrent_complete
// W1: a task finishing at the very moment of the timeout is done. As in CPython, the task
// starts (and arms its sleep) before the wait does.
#[test]
fn wait_counts_a_task_finishing_at_the_timeout_as_done() {
    let lp = EventLoop::with_virtual_time();
    let a = lp.run_until_complete(async { nap(ms(100), "a") });
    let (done, pending) = lp.run_until_complete(wait([a], ReturnWhen::AllCompleted, Some(ms(100))));
    assert_eq!((done.len(), pending.len()), (1, 0));
}

// CPython: test_tasks.py::test_wait_with_iterator_of_tasks
// CPython: test_tasks.py::test_wait_generator
#[test]
fn wait_accepts_any_iterator_of_tasks() {
    vrun(async {
        let tasks = (0..10).map(|i| nap(ms(i), i));
        let (done, pending) = wait(tasks, ReturnWhen::AllCompleted, None).await;
        assert_eq!((done.len(), pending.len()), (10, 0));
    });
}

#[test]
fn wait_accepts_borrowed_tasks_and_leaves_them_awaitable() {
    vrun(async {
        let mut a = nap(ms(10), 1);
        let mut b = nap(ms(10_000), 2);
        let (done, pending) = wait([&mut a, &mut b], ReturnWhen::FirstCompleted, None).await;
        assert_eq!((done.len(), pending.len()), (1, 1));
        assert_eq!(a.await, Ok(1));
        // b can be waited on again, and is told about normally.
        let (done, _) = wait([&mut b], ReturnWhen::AllCompleted, None).await;
        assert_eq!(done.len(), 1);
        assert_eq!(b.await, Ok(2));
    });
}

// CPython: test_tasks.py::test_yield_wait_does_not_shield_cancel
// W1: cancelling the task that waits does not cancel what it waits for.
#[test]
fn cancelling_a_waiter_does_not_cancel_the_tasks_it_waits_for() {
    vrun(async {
        let proof = Rc::new(Cell::new(0));
        let p = proof.clone();
        let child = spawn(async move {
            sleep(ms(100)).await;
            p.set(p.get() + 1);
        });
        let waiter = spawn(async move {
            wait([child], ReturnWhen::AllCompleted, None).await;
        });
        sleep(ms(10)).await;
        waiter.cancel();
        assert_eq!(waiter.await, Err(TaskError::Cancelled));
        assert_eq!(proof.get(), 0);
        sleep(ms(200)).await;
        assert_eq!(proof.get(), 1, "the child was not cancelled and finished");
    });
}

#[test]
fn an_abandoned_wait_leaves_its_tasks_free_to_be_gathered() {
    vrun(async {
        let mut a = nap(ms(100), 'a');
        {
            let mut w = pin!(wait([&mut a], ReturnWhen::AllCompleted, None));
            assert!(poll_fn(|cx| Poll::Ready(w.as_mut().poll(cx).is_pending())).await);
        }
        assert_eq!(asyncio::gather([a]).await, Ok(vec!['a']));
    });
}

// ---------------------------------------------------------------------------------------------
// as_completed
// ---------------------------------------------------------------------------------------------

/// Reads the next item through the `Stream` trait, without any extension crate.
async fn stream_next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

// CPython: test_tasks.py::test_as_completed
// W1: outcomes come in completion order, through next() and through the Stream.
#[test]
fn as_completed_yields_outcomes_in_completion_order() {
    let napping = |d, v| async move {
        sleep(d).await;
        v
    };
    vrun(async move {
        let start = now();
        let mut ac = as_completed([
            napping(ms(10), "b"),
            napping(ms(150), "c"),
            napping(ms(10), "a"),
        ]);
        let mut got = Vec::new();
        while let Some(out) = ac.next().await {
            got.push(out.unwrap());
        }
        got[..2].sort();
        assert_eq!(got, ["a", "b", "c"]);
        assert_eq!(since(start), 150);

        let start = now();
        let mut ac = as_completed([
            napping(ms(10), "b"),
            napping(ms(150), "c"),
            napping(ms(10), "a"),
        ]);
        assert_eq!(ac.size_hint(), (3, Some(3)));
        let mut got = Vec::new();
        while let Some(out) = stream_next(&mut ac).await {
            got.push(out.unwrap());
        }
        got[..2].sort();
        assert_eq!(got, ["a", "b", "c"]);
        assert_eq!(since(start), 150);
    });
}

// CPython: test_tasks.py::test_as_completed_same_tasks_in_as_out
// DIFFERENT: asyncio yields the original task objects; here the outcome comes with the input
// position of the task that produced it.
#[test]
fn as_completed_tells_which_task_each_outcome_came_from() {
    vrun(async {
        let tasks = vec![nap(ms(30), "x"), nap(ms(10), "y"), nap(ms(20), "z")];
        let mut ac = as_completed(tasks);
        let mut got = Vec::new();
        while let Some((i, out)) = ac.next_with_index().await {
            got.push((i, out.unwrap()));
        }
        assert_eq!(got, [(1, "y"), (2, "z"), (0, "x")]);
    });
}

/// `next()` of `ac`, or `None` once `deadline` passes: asyncio's `as_completed(.., timeout=)`.
async fn next_before<T, E>(
    ac: &mut AsCompleted<T, E>,
    deadline: Instant,
) -> Result<Option<Result<T, TaskError<E>>>, &'static str> {
    let mut next = pin!(ac.next());
    let mut timer = pin!(sleep_until(deadline));
    poll_fn(|cx| {
        if let Poll::Ready(out) = next.as_mut().poll(cx) {
            return Poll::Ready(Ok(out));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err("timed out"));
        }
        Poll::Pending
    })
    .await
}

// CPython: test_tasks.py::test_as_completed_with_timeout
// DIFFERENT: there is no timeout= argument; an overall deadline bounds each next(). An
// abandoned next() loses nothing, and nothing is cancelled (W1).
#[test]
fn as_completed_under_a_deadline_stops_waiting_without_cancelling() {
    vrun(async {
        let start = now();
        let deadline = start + ms(120);
        let b = nap(ms(150), "b");
        let mut ac = as_completed([nap(ms(100), "a"), b]);
        assert_eq!(next_before(&mut ac, deadline).await, Ok(Some(Ok("a"))));
        assert_eq!(next_before(&mut ac, deadline).await, Err("timed out"));
        assert_eq!(since(start), 120);
        // b was not cancelled: its outcome is still to come.
        assert_eq!(ac.next().await, Some(Ok("b")));
        assert_eq!(since(start), 150);
    });
}

// CPython: test_tasks.py::test_as_completed_with_unused_timeout
#[test]
fn as_completed_under_a_deadline_never_reached_gives_the_outcome() {
    vrun(async {
        let deadline = now() + ms(1000);
        let mut ac = as_completed([nap(ms(10), "a")]);
        assert_eq!(next_before(&mut ac, deadline).await, Ok(Some(Ok("a"))));
        assert_eq!(next_before(&mut ac, deadline).await, Ok(None));
    });
}

// CPython: test_tasks.py::test_as_completed_resume_iterator
#[test]
fn as_completed_can_be_resumed_after_a_break() {
    vrun(async {
        let mut ac = as_completed((1..=4).map(|i| nap(ms(i * 10), i)));
        let mut got = Vec::new();
        while let Some(out) = ac.next().await {
            got.push(out.unwrap());
            if got.len() == 2 {
                break;
            }
        }
        assert_eq!(ac.len(), 2);
        while let Some(out) = ac.next().await {
            got.push(out.unwrap());
        }
        assert_eq!(got, [1, 2, 3, 4]);
        assert!(ac.is_empty());
    });
}

#[test]
fn as_completed_reports_panics_and_cancellations_as_outcomes() {
    vrun(async {
        let cancelled = spawn(pending::<u8>());
        cancelled.cancel();
        let mut ac = as_completed([
            spawn(async {
                yield_now().await;
                panic!("boom")
            }),
            cancelled,
            spawn(async { 3 }),
        ]);
        let mut got = Vec::new();
        while let Some((i, out)) = ac.next_with_index().await {
            got.push((i, out));
        }
        got.sort_by_key(|(i, _)| *i);
        assert!(matches!(&got[0], (0, Err(TaskError::Panicked(p))) if p.message() == "boom"));
        assert_eq!(got[1], (1, Err(TaskError::Cancelled)));
        assert_eq!(got[2], (2, Ok(3)));
    });
}

#[test]
fn try_as_completed_yields_errors_as_failed() {
    vrun(async {
        let mut ac = try_as_completed([
            Box::pin(async {
                sleep(ms(20)).await;
                Ok::<_, String>(1)
            }) as Pin<Box<dyn Future<Output = Result<i32, String>>>>,
            Box::pin(async { Err("nope".to_string()) }),
        ]);
        assert_eq!(
            ac.next().await,
            Some(Err(TaskError::Failed("nope".to_string())))
        );
        assert_eq!(ac.next().await, Some(Ok(1)));
        assert_eq!(ac.next().await, None);
    });
}

// W1: dropping an as_completed cancels nothing.
#[test]
fn dropping_as_completed_leaves_the_children_running() {
    vrun(async {
        let finished = Rc::new(Cell::new(false));
        let f = finished.clone();
        let ac = as_completed([async move {
            sleep(ms(10)).await;
            f.set(true);
        }]);
        yield_now().await;
        drop(ac);
        sleep(ms(20)).await;
        assert!(finished.get());
    });
}

#[test]
fn as_completed_adopts_gathers_and_yields_their_whole_result() {
    vrun(async {
        let g = asyncio::gather([nap(ms(10), 1), nap(ms(30), 2)]);
        let mut ac = as_completed([g, asyncio::gather([nap(ms(20), 3)])]);
        assert_eq!(ac.next().await, Some(Ok(vec![3])));
        assert_eq!(ac.next().await, Some(Ok(vec![1, 2])));
    });
}
