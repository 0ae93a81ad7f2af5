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
