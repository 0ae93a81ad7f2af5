//! Bounded gathers (issue 6, item 4): `gather_limited(n, iter)` and `try_gather_limited` — at most
//! `n` children at once, the iterator consumed lazily, results in input order, and every gather
//! rule (G2, G4, G6, G7, G8, G9, G12, G14) holding as for `gather`.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use asyncio::{
    all_tasks, gather, gather_limited, run, sleep, spawn, timeout, try_gather_limited, yield_now,
    EventLoop, TaskError,
};

/// Counts children running at once and the peak.
#[derive(Clone, Default)]
struct Gauge {
    now: Rc<Cell<usize>>,
    peak: Rc<Cell<usize>>,
}

impl Gauge {
    fn enter(&self) {
        self.now.set(self.now.get() + 1);
        self.peak.set(self.peak.get().max(self.now.get()));
    }
    fn leave(&self) {
        self.now.set(self.now.get() - 1);
    }
}

/// A child that yields `turns` times then returns `value`, counted by `gauge`.
async fn job(gauge: Gauge, turns: u64, value: u64) -> u64 {
    gauge.enter();
    for _ in 0..turns {
        yield_now().await;
    }
    gauge.leave();
    value
}

// G2
#[test]
fn results_come_back_in_input_order_with_at_most_limit_running() {
    run(async {
        let gauge = Gauge::default();
        let g = gauge.clone();
        // Later children finish sooner: completion order differs from input order.
        let jobs = (0..200u64).map(move |i| job(g.clone(), 7 - i % 7, i));
        let out = gather_limited(5, jobs).await.unwrap();
        assert_eq!(out, (0..200).collect::<Vec<_>>());
        assert_eq!(gauge.peak.get(), 5);
    });
}

#[test]
fn the_iterator_is_consumed_lazily() {
    run(async {
        let pulled = Rc::new(Cell::new(0));
        let p = pulled.clone();
        let jobs = (0..1000u64).map(move |i| {
            p.set(p.get() + 1);
            async move {
                yield_now().await;
                i
            }
        });
        let mut g = gather_limited(3, jobs);
        assert_eq!(
            pulled.get(),
            3,
            "only the first three were made at the call (G1 for them)"
        );
        assert_eq!(g.len(), 3, "len counts the children started so far");
        let out = (&mut g).await.unwrap();
        assert_eq!(out.len(), 1000);
        assert_eq!(pulled.get(), 1000);
        assert_eq!(g.len(), 1000);
    });
}

#[test]
fn a_long_bounded_gather_holds_only_limit_tasks_at_a_time() {
    run(async {
        let most = Rc::new(Cell::new(0));
        let m = most.clone();
        let jobs = (0..20_000u64).map(move |i| {
            let m = m.clone();
            async move {
                m.set(m.get().max(all_tasks().len()));
                yield_now().await;
                i
            }
        });
        let out = gather_limited(10, jobs).await.unwrap();
        assert_eq!(out.iter().sum::<u64>(), 20_000 * 19_999 / 2);
        assert_eq!(most.get(), 10, "never more than ten live tasks");
    });
}

// G3
#[test]
fn an_empty_iterator_is_done_at_once() {
    run(async {
        let g = gather_limited(4, std::iter::empty::<std::future::Ready<u8>>());
        assert!(g.is_done());
        assert_eq!(g.await, Ok(vec![]));
    });
    // With nothing to start, no loop is needed either.
    assert!(gather_limited(4, Vec::<std::future::Ready<()>>::new()).is_done());
}

#[test]
fn a_zero_limit_is_refused() {
    let err = catch_unwind(AssertUnwindSafe(|| {
        run(async { gather_limited(0, [async {}]).await })
    }))
    .unwrap_err();
    let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("the limit must be at least 1"), "{msg}");
}

// G4
#[test]
fn the_first_failure_decides_and_no_more_children_start() {
    EventLoop::with_virtual_time().run_until_complete(async {
        let pulled = Rc::new(Cell::new(0));
        let p = pulled.clone();
        let jobs = (0..100u32).map(move |i| {
            p.set(p.get() + 1);
            async move {
                yield_now().await;
                if i == 4 {
                    Err(format!("bad {i}"))
                } else {
                    Ok(i)
                }
            }
        });
        let out = try_gather_limited(2, jobs).await;
        assert_eq!(out, Err(TaskError::Failed("bad 4".to_owned())));
        let at_failure = pulled.get();
        assert!(
            at_failure <= 7,
            "children kept starting after the failure: {at_failure}"
        );
        sleep(Duration::from_millis(1)).await;
        assert_eq!(
            pulled.get(),
            at_failure,
            "nothing started after the gather was decided"
        );
    });
}

// G6
#[test]
fn return_exceptions_runs_every_child_and_keeps_failures_in_their_slots() {
    run(async {
        let jobs = (0..10u32).map(|i| async move {
            yield_now().await;
            if i % 3 == 0 {
                panic!("child {i}");
            }
            i
        });
        let slots = gather_limited(3, jobs).return_exceptions().await.unwrap();
        for (i, slot) in slots.iter().enumerate() {
            match slot {
                Err(TaskError::Panicked(p)) => {
                    assert_eq!(i % 3, 0);
                    assert_eq!(p.message(), format!("child {i}"));
                }
                Ok(v) => assert_eq!(*v as usize, i),
                other => panic!("slot {i}: {other:?}"),
            }
        }
    });
}

// G12
#[test]
fn cancel_on_error_cancels_the_running_ones_and_starts_no_more() {
    run(async {
        let finished = Rc::new(Cell::new(0));
        let f = finished.clone();
        let jobs = (0..50u32).map(move |i| {
            let f = f.clone();
            async move {
                if i == 0 {
                    return Err("first");
                }
                sleep(Duration::from_secs(3600)).await;
                f.set(f.get() + 1);
                Ok(i)
            }
        });
        let mut g = try_gather_limited(4, jobs).cancel_on_error();
        assert_eq!((&mut g).await, Err(TaskError::Failed("first")));
        assert_eq!(g.len(), 4, "only the first four were ever started");
        assert_eq!(finished.get(), 0);
        assert!(all_tasks().is_empty(), "the other three were cancelled");
    });
}

// G7, G8
#[test]
fn cancel_cancels_the_running_children_and_the_rest_never_start() {
    run(async {
        let pulled = Rc::new(Cell::new(0));
        let p = pulled.clone();
        let jobs = (0..100u32).map(move |_| {
            p.set(p.get() + 1);
            sleep(Duration::from_secs(3600))
        });
        let mut g = gather_limited(5, jobs);
        yield_now().await;
        assert!(g.cancel());
        assert_eq!((&mut g).await, Err(TaskError::Cancelled));
        assert!(g.is_cancelled());
        assert_eq!(pulled.get(), 5);
        assert!(all_tasks().is_empty());
    });
}

// G9, G10
#[test]
fn a_bounded_gather_nests_and_adopts_tasks() {
    run(async {
        let tasks: Vec<_> = (0..6).map(|i| spawn(async move { i * 10 })).collect();
        let inner = gather_limited(2, tasks);
        let out = gather!(inner, async { "beside" }).await;
        assert_eq!(out, Ok((vec![0, 10, 20, 30, 40, 50], "beside")));
        let outer = gather([gather_limited(1, [1, 2].map(std::future::ready))]).await;
        assert_eq!(outer, Ok(vec![vec![1, 2]]));
    });
}

#[test]
fn a_panic_in_the_iterator_becomes_the_outcome_of_the_child_it_was_making() {
    run(async {
        let jobs = (0..10u32).map(|i| {
            if i == 5 {
                panic!("no job {i}");
            }
            async move {
                yield_now().await;
                i
            }
        });
        let slots = gather_limited(2, jobs).return_exceptions().await.unwrap();
        assert_eq!(slots.len(), 6, "the iterator stopped at its panic");
        assert!(slots[..5]
            .iter()
            .enumerate()
            .all(|(i, s)| *s == Ok(i as u32)));
        match &slots[5] {
            Err(TaskError::Panicked(p)) => assert_eq!(p.message(), "no job 5"),
            other => panic!("{other:?}"),
        }
    });
}

// G14, TO2
#[test]
fn a_timeout_cancels_a_bounded_gather_and_waits_for_its_children() {
    EventLoop::with_virtual_time().run_until_complete(async {
        let jobs = (0..1000u32).map(|_| sleep(Duration::from_secs(10)));
        let out = timeout(Duration::from_secs(25), gather_limited(10, jobs)).await;
        assert!(
            out.is_err(),
            "1000 / 10 waves of 10 s cannot finish in 25 s"
        );
        assert!(
            all_tasks().is_empty(),
            "the running children were cancelled and finished"
        );
    });
}

// Regression (review): cancel() with every started child already finished but items left to start
// returned false and the gather completed Ok with the results so far — a silent truncation.
// G7, G8
#[test]
fn cancel_with_items_left_to_start_is_accepted_and_ends_cancelled() {
    run(async {
        let mut g = gather_limited(1, (0..3u32).map(|i| async move { i }));
        yield_now().await; // child 0 finished; its notification is still queued
        assert!(g.cancel(), "the unstarted children accept the cancellation");
        assert_eq!((&mut g).await, Err(TaskError::Cancelled));
    });
}

// Regression (review): the iterator ran while the gather's children were borrowed, so an
// iterator that cancelled its own gather hit a RefCell BorrowMutError (seen as a child panic).
#[test]
fn an_iterator_that_cancels_its_own_gather_cancels_it() {
    run(async {
        let slot: Rc<std::cell::RefCell<Option<asyncio::Gather<Vec<u32>>>>> = Rc::default();
        let s = slot.clone();
        let made = Rc::new(Cell::new(0));
        let m = made.clone();
        let jobs = (0..5u32).map(move |i| {
            m.set(m.get() + 1);
            if i == 2 {
                assert!(s.borrow().as_ref().unwrap().cancel());
            }
            async move {
                yield_now().await;
                i
            }
        });
        *slot.borrow_mut() = Some(gather_limited(1, jobs));
        while !slot.borrow().as_ref().unwrap().is_done() {
            yield_now().await;
        }
        let mut g = slot.borrow_mut().take().unwrap();
        assert_eq!((&mut g).await, Err(TaskError::Cancelled));
        assert_eq!(made.get(), 3, "nothing was made after the cancel");
        assert!(
            all_tasks().is_empty(),
            "the child made during the cancel was cancelled too"
        );
    });
}

// Regression (review): a panic while peeking at the first item escaped gather_limited() itself.
#[test]
fn a_panic_on_the_first_item_becomes_its_outcome() {
    run(async {
        let jobs = (0..3u32).map(|i| {
            if i == 0 {
                panic!("iterator broke");
            }
            async move { i }
        });
        match gather_limited(2, jobs).await {
            Err(TaskError::Panicked(p)) => assert_eq!(p.message(), "iterator broke"),
            other => panic!("{other:?}"),
        }
    });
}

// Documented behaviour (review): tasks yielded by the iterator are already running; those not
// adopted when the gather is cancelled run on detached (L3), and only the adopted one is
// cancelled.
#[test]
fn tasks_not_yet_adopted_when_the_gather_is_cancelled_run_on() {
    EventLoop::with_virtual_time().run_until_complete(async {
        let done: Vec<Rc<Cell<bool>>> = (0..3).map(|_| Rc::default()).collect();
        let tasks: Vec<_> = done
            .iter()
            .map(|d| {
                let d = d.clone();
                spawn(async move {
                    sleep(Duration::from_secs(100)).await;
                    d.set(true);
                })
            })
            .collect();
        let out = timeout(Duration::from_secs(1), gather_limited(1, tasks)).await;
        assert!(out.is_err());
        sleep(Duration::from_secs(200)).await;
        let finished: Vec<bool> = done.iter().map(|d| d.get()).collect();
        assert_eq!(
            finished,
            [false, true, true],
            "the adopted one was cancelled, the others ran on"
        );
    });
}

// Regression (review): children started later showed a location inside the standard library.
#[test]
fn every_child_reports_the_gather_limited_call_as_its_spawn_location() {
    run(async {
        let line = line!() + 1;
        let g = gather_limited(
            2,
            (0..5).map(|_| async { asyncio::current_task().unwrap().location().line() }),
        );
        assert_eq!(g.await.unwrap(), [line; 5]);
    });
}
