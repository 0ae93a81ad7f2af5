//! Queues (SEMANTICS.md S1, S2): `Queue`, `LifoQueue`, `PriorityQueue`, with ports of CPython's
//! `test_queues.py`. The join and shutdown cases run for all three orders, as CPython's mixins
//! do.
//!
//! asyncio's `call_later(0.01, q.put_nowait, x)` becomes a task that yields once and then acts;
//! timeouts run on a loop with virtual time; the TaskGroups become gathers of spawned tasks.
//!
//! Not ported (NOT APPLICABLE in CPYTHON-TESTS.md): `test_repr`, `test_str`,
//! `test_generic_alias`, `test_float_maxsize` (the capacity is a `usize`) and both `test_format`s
//! (a private formatter).

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use asyncio::sync::{
    Fifo, GenericQueue, Lifo, LifoQueue, Order, Priority, PriorityQueue, Queue, QueueShutDown,
    TryGetError, TryPutError,
};
use asyncio::{gather, run, spawn, wait_for, yield_now, EventLoop, TaskError};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Polls `fut` once and drops it: `Ready` shows it completed without waiting.
async fn poll_once_then_drop<F: Future>(fut: F) -> Poll<F::Output> {
    let mut fut = pin!(fut);
    poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await
}

// ---------------------------------------------------------------------------------------------
// Basics
// ---------------------------------------------------------------------------------------------

// CPython: test_queues.py::QueueBasicTests::test_empty
#[test]
fn queue_is_empty_until_an_item_is_put() {
    run(async {
        let q = Queue::new(0);
        assert!(q.empty());
        q.put(1).await.unwrap();
        assert!(!q.empty());
        assert_eq!(q.get().await, Ok(1));
        assert!(q.empty());
    });
}

// CPython: test_queues.py::QueueBasicTests::test_full
#[test]
fn unbounded_queue_is_never_full_and_maxsize_one_is_after_one_put() {
    run(async {
        let q = Queue::new(0);
        for i in 0..1000 {
            q.put(i).await.unwrap();
        }
        assert!(!q.full(), "maxsize 0 means unbounded");
        let q = Queue::new(1);
        q.put(1).await.unwrap();
        assert!(q.full());
    });
}

// CPython: test_queues.py::QueueBasicTests::test_order
#[test]
fn queue_is_first_in_first_out() {
    run(async {
        let q = Queue::new(0);
        for i in [1, 3, 2] {
            q.put(i).await.unwrap();
        }
        let mut items = Vec::new();
        for _ in 0..3 {
            items.push(q.get().await.unwrap());
        }
        assert_eq!(items, [1, 3, 2]);
    });
}

// CPython: test_queues.py::LifoQueueTests::test_order
#[test]
fn lifo_queue_gives_the_last_item_first() {
    run(async {
        let q = LifoQueue::new(0);
        for i in [1, 3, 2] {
            q.put(i).await.unwrap();
        }
        let mut items = Vec::new();
        for _ in 0..3 {
            items.push(q.get().await.unwrap());
        }
        assert_eq!(items, [2, 3, 1]);
    });
}

// CPython: test_queues.py::PriorityQueueTests::test_order
#[test]
fn priority_queue_gives_the_smallest_item_first() {
    run(async {
        let q = PriorityQueue::new(0);
        for i in [1, 3, 2] {
            q.put(i).await.unwrap();
        }
        let mut items = Vec::new();
        for _ in 0..3 {
            items.push(q.get().await.unwrap());
        }
        assert_eq!(items, [1, 2, 3]);
    });
}

// CPython: test_queues.py::QueueBasicTests::test_maxsize
#[test]
fn putter_blocks_at_maxsize_and_resumes_after_each_get() {
    run(async {
        let q = Rc::new(Queue::new(2));
        assert_eq!(q.maxsize(), 2);
        let have_been_put = Rc::new(RefCell::new(Vec::new()));
        let (q2, hbp) = (q.clone(), have_been_put.clone());
        let t = spawn(async move {
            for i in 0..3 {
                q2.put(i).await.unwrap();
                hbp.borrow_mut().push(i);
            }
            true
        });
        yield_now().await;
        yield_now().await;
        assert_eq!(*have_been_put.borrow(), [0, 1], "blocked after two");
        assert_eq!(q.get().await, Ok(0));
        yield_now().await;
        assert_eq!(*have_been_put.borrow(), [0, 1, 2]);
        assert_eq!(q.get().await, Ok(1));
        assert_eq!(q.get().await, Ok(2));
        assert!(t.is_done());
        assert_eq!(t.await, Ok(true));
    });
}

// ---------------------------------------------------------------------------------------------
// get
// ---------------------------------------------------------------------------------------------

// CPython: test_queues.py::QueueGetTests::test_blocking_get
#[test]
fn get_of_a_non_empty_queue_returns_at_once() {
    run(async {
        let q = Queue::new(0);
        q.put_nowait(1).unwrap();
        let r = poll_once_then_drop(q.get()).await;
        assert_eq!(r, Poll::Ready(Ok(1)));
    });
}

// CPython: test_queues.py::QueueGetTests::test_get_with_putters
// CPython injects a fake future into `_putters`; this uses a real blocked putter.
#[test]
fn get_of_a_full_queue_wakes_a_blocked_putter() {
    run(async {
        let q = Rc::new(Queue::new(1));
        q.put(1).await.unwrap();
        let q2 = q.clone();
        let putter = spawn(async move { q2.put(2).await });
        yield_now().await;
        assert_eq!(q.waiting_putters(), 1);
        assert_eq!(q.get().await, Ok(1));
        assert_eq!(putter.await, Ok(Ok(())));
        assert_eq!(q.get_nowait(), Ok(2));
    });
}

// CPython: test_queues.py::QueueGetTests::test_blocking_get_wait
#[test]
fn get_waits_until_an_item_is_put() {
    run(async {
        let q = Rc::new(Queue::new(0));
        let finished = Rc::new(Cell::new(false));
        let (q2, f) = (q.clone(), finished.clone());
        let getter = spawn(async move {
            let res = q2.get().await;
            f.set(true);
            res
        });
        yield_now().await;
        assert!(!finished.get());
        let q3 = q.clone();
        spawn(async move {
            yield_now().await; // asyncio: call_later(0.01, q.put_nowait, 1)
            q3.put_nowait(1).unwrap();
        });
        assert_eq!(getter.await, Ok(Ok(1)));
        assert!(finished.get());
    });
}

// CPython: test_queues.py::QueueGetTests::test_nonblocking_get
#[test]
fn get_nowait_returns_the_item() {
    let q = Queue::new(0);
    q.put_nowait(1).unwrap();
    assert_eq!(q.get_nowait(), Ok(1));
}

// CPython: test_queues.py::QueueGetTests::test_nonblocking_get_exception
#[test]
fn get_nowait_of_an_empty_queue_is_queue_empty() {
    let q = Queue::<i32>::new(0);
    let err = q.get_nowait().unwrap_err();
    assert_eq!(err, TryGetError::Empty);
    assert!(err.to_string().contains("empty"), "{err}");
}

// CPython: test_queues.py::QueueGetTests::test_get_cancelled_race
// S2
#[test]
fn item_put_after_a_getter_was_cancelled_goes_to_the_other_getter() {
    run(async {
        let q = Rc::new(Queue::new(0));
        let (qa, qb) = (q.clone(), q.clone());
        let t1 = spawn(async move { qa.get().await });
        let t2 = spawn(async move { qb.get().await });
        yield_now().await;
        t1.cancel();
        yield_now().await;
        assert!(t1.is_done());
        q.put("a").await.unwrap();
        yield_now().await;
        assert_eq!(t2.await, Ok(Ok("a")));
    });
}

// CPython: test_queues.py::QueueGetTests::test_get_with_waiting_putters
#[test]
fn blocked_putters_are_served_in_order() {
    run(async {
        let q = Rc::new(Queue::new(1));
        let (qa, qb) = (q.clone(), q.clone());
        spawn(async move { qa.put("a").await.unwrap() });
        spawn(async move { qb.put("b").await.unwrap() });
        assert_eq!(q.get().await, Ok("a"));
        assert_eq!(q.get().await, Ok("b"));
    });
}

// CPython: test_queues.py::QueueGetTests::test_why_are_getters_waiting
#[test]
fn producer_and_consumer_on_a_queue_of_one_finish() {
    run(async {
        let q = Rc::new(Queue::new(1));
        let n = 5;
        let qp = q.clone();
        let producer = spawn(async move {
            for i in 0..n {
                qp.put(i).await.unwrap();
            }
        });
        let qc = q.clone();
        let consumer = spawn(async move {
            let mut got = Vec::new();
            for _ in 0..n {
                got.push(qc.get().await.unwrap());
            }
            got
        });
        let (_, got) = asyncio::gather!(producer, consumer).await.unwrap();
        assert_eq!(got, [0, 1, 2, 3, 4]);
    });
}

// CPython: test_queues.py::QueueGetTests::test_cancelled_getters_not_being_held_in_self_getters
#[test]
fn timed_out_get_leaves_no_getter_behind() {
    EventLoop::with_virtual_time().run_until_complete(async {
        let q = Queue::<i32>::new(5);
        let r = wait_for(q.get(), Duration::from_millis(100)).await;
        assert!(r.is_err(), "nothing was put: the get times out");
        assert_eq!(q.waiting_getters(), 0);
    });
}

// ---------------------------------------------------------------------------------------------
// put
// ---------------------------------------------------------------------------------------------

// CPython: test_queues.py::QueuePutTests::test_blocking_put
#[test]
fn put_on_an_unbounded_queue_does_not_block() {
    run(async {
        let q = Queue::new(0);
        assert_eq!(poll_once_then_drop(q.put(1)).await, Poll::Ready(Ok(())));
        assert_eq!(q.get().await, Ok(1));
    });
}

// CPython: test_queues.py::QueuePutTests::test_blocking_put_wait
#[test]
fn put_on_a_full_queue_waits_for_a_get() {
    run(async {
        let q = Rc::new(Queue::new(1));
        let finished = Rc::new(Cell::new(false));
        let q3 = q.clone();
        spawn(async move {
            yield_now().await; // asyncio: call_later(0.01, q.get_nowait)
            yield_now().await;
            q3.get_nowait().unwrap();
        });
        let (q2, f) = (q.clone(), finished.clone());
        let putter = spawn(async move {
            q2.put(1).await.unwrap();
            q2.put(2).await.unwrap();
            f.set(true);
        });
        yield_now().await;
        assert!(!finished.get());
        putter.await.unwrap();
        assert!(finished.get());
    });
}

// CPython: test_queues.py::QueuePutTests::test_nonblocking_put
#[test]
fn put_nowait_then_get_nowait_round_trips() {
    let q = Queue::new(0);
    q.put_nowait(1).unwrap();
    assert_eq!(q.get_nowait(), Ok(1));
}

// CPython: test_queues.py::QueuePutTests::test_get_cancel_drop_one_pending_reader
// S2
#[test]
fn getter_woken_then_cancelled_does_not_lose_the_item() {
    run(async {
        let q = Rc::new(Queue::new(0));
        let q2 = q.clone();
        let reader = spawn(async move { q2.get().await });
        yield_now().await;
        q.put_nowait(1).unwrap();
        q.put_nowait(2).unwrap();
        reader.cancel();
        let result = match reader.await {
            Err(TaskError::Cancelled) => {
                let q2 = q.clone();
                spawn(async move { q2.get().await }).await.unwrap()
            }
            other => other.unwrap(),
        };
        assert_eq!(result, Ok(1), "getting 2 would mean 1 was dropped");
    });
}

// CPython: test_queues.py::QueuePutTests::test_get_cancel_drop_many_pending_readers
// S2
#[test]
fn woken_reader_cancelled_passes_its_item_to_another_reader() {
    run(async {
        let q = Rc::new(Queue::new(0));
        let reader = || {
            let q = q.clone();
            spawn(async move { q.get().await.unwrap() })
        };
        let reader1 = reader();
        let reader2 = reader();
        let reader3 = reader();
        yield_now().await;
        q.put_nowait(1).unwrap();
        q.put_nowait(2).unwrap();
        reader1.cancel();
        assert_eq!(reader1.await, Err(TaskError::Cancelled));
        let got: HashSet<_> = gather([reader2, reader3])
            .await
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(got, HashSet::from([1, 2]));
    });
}

// CPython: test_queues.py::QueuePutTests::test_put_cancel_drop
// S1
#[test]
fn putter_woken_then_cancelled_neither_duplicates_nor_loses_the_retry() {
    run(async {
        let q = Rc::new(Queue::new(1));
        q.put_nowait(1).unwrap();
        let q2 = q.clone();
        let writer = spawn(async move { q2.put(2).await });
        yield_now().await;
        assert_eq!(q.get_nowait(), Ok(1));
        writer.cancel();
        match writer.await {
            Err(TaskError::Cancelled) => {
                let q2 = q.clone();
                spawn(async move { q2.put(2).await })
                    .await
                    .unwrap()
                    .unwrap();
            }
            other => other.unwrap().unwrap(),
        }
        assert_eq!(q.get_nowait(), Ok(2));
        assert_eq!(q.qsize(), 0);
    });
}

// CPython: test_queues.py::QueuePutTests::test_nonblocking_put_exception
#[test]
fn put_nowait_on_a_full_queue_is_queue_full_and_gives_the_item_back() {
    let q = Queue::new(1);
    q.put_nowait(1).unwrap();
    let err = q.put_nowait(2).unwrap_err();
    assert!(matches!(err, TryPutError::Full(2)), "{err:?}");
    assert!(err.to_string().contains("full"), "{err}");
    assert_eq!(err.into_inner(), 2);
}

// CPython: test_queues.py::QueuePutTests::test_put_cancelled
#[test]
fn put_in_a_task_and_get_in_the_parent_round_trip() {
    run(async {
        let q = Rc::new(Queue::new(0));
        let q2 = q.clone();
        let mut t = spawn(async move {
            q2.put(1).await.unwrap();
            true
        });
        assert_eq!(q.get().await, Ok(1));
        assert!(t.is_done());
        assert_eq!((&mut t).await, Ok(true));
    });
}

// CPython: test_queues.py::QueuePutTests::test_put_cancelled_race
#[test]
fn cancelled_blocked_putter_never_inserts_its_item() {
    run(async {
        let q = Rc::new(Queue::new(1));
        let putter = |item| {
            let q = q.clone();
            spawn(async move { q.put(item).await })
        };
        let put_a = putter("a");
        let put_b = putter("b");
        let put_c = putter("X");
        yield_now().await;
        assert!(put_a.is_done());
        assert!(!put_b.is_done());

        put_c.cancel();
        yield_now().await;
        assert!(put_c.is_done());
        assert_eq!(q.get_nowait(), Ok("a"));
        yield_now().await;
        assert_eq!(q.get_nowait(), Ok("b"));
        assert_eq!(put_b.await, Ok(Ok(())));
        assert!(q.empty(), "X was never put");
    });
}

// CPython: test_queues.py::QueuePutTests::test_put_with_waiting_getters
#[test]
fn put_hands_the_item_to_a_waiting_getter() {
    run(async {
        let q = Rc::new(Queue::new(0));
        let q2 = q.clone();
        let t = spawn(async move { q2.get().await });
        yield_now().await;
        q.put("a").await.unwrap();
        assert_eq!(t.await, Ok(Ok("a")));
    });
}

// CPython: test_queues.py::QueuePutTests::test_why_are_putters_waiting
#[test]
fn getter_draining_with_get_nowait_releases_every_putter() {
    run(async {
        let q = Rc::new(Queue::new(2));
        let qg = q.clone();
        let getter = spawn(async move {
            yield_now().await;
            for _ in 0..qg.qsize() {
                qg.get_nowait().unwrap();
            }
        });
        let putters: Vec<_> = (0..4)
            .map(|i| {
                let q = q.clone();
                spawn(async move { q.put(i).await.unwrap() })
            })
            .collect();
        getter.await.unwrap();
        gather(putters).await.unwrap();
        assert_eq!(q.qsize(), 2);
    });
}

// CPython: test_queues.py::QueuePutTests::test_cancelled_puts_not_being_held_in_self_putters
#[test]
fn cancelled_putter_leaves_no_putter_behind() {
    run(async {
        let q = Rc::new(Queue::new(1));
        q.put_nowait(1).unwrap();
        let q2 = q.clone();
        let put_task = spawn(async move { q2.put(1).await });
        yield_now().await;
        assert_eq!(q.waiting_putters(), 1);
        put_task.cancel();
        assert_eq!(put_task.await, Err(TaskError::Cancelled));
        assert_eq!(q.waiting_putters(), 0);
    });
}

// CPython: test_queues.py::QueuePutTests::test_cancelled_put_silence_value_error_exception
// S1
#[test]
fn putter_cancelled_after_its_slot_was_freed_ends_cancelled() {
    run(async {
        let q = Rc::new(Queue::new(1));
        q.put_nowait(1).unwrap();
        let q2 = q.clone();
        let put_task = spawn(async move { q2.put(1).await });
        yield_now().await;
        q.get_nowait().unwrap(); // wakes the putter
        put_task.cancel();
        assert_eq!(put_task.await, Err(TaskError::Cancelled));
        assert_eq!((q.qsize(), q.waiting_putters()), (0, 0));
    });
}

// ---------------------------------------------------------------------------------------------
// Beyond CPython's cases: fairness of newcomers (no barging) and shutdown wake-ups
// ---------------------------------------------------------------------------------------------

// S2
#[test]
fn a_new_get_does_not_take_the_item_promised_to_a_woken_getter() {
    run(async {
        let q = Rc::new(Queue::new(0));
        let q2 = q.clone();
        let first = spawn(async move { q2.get().await.unwrap() });
        yield_now().await;
        q.put_nowait("for first").unwrap(); // first is woken, has not run yet
        let q3 = q.clone();
        let second = spawn(async move { q3.get().await.unwrap() });
        yield_now().await;
        q.put_nowait("for second").unwrap();
        assert_eq!(first.await, Ok("for first"));
        assert_eq!(second.await, Ok("for second"));
    });
}

#[test]
fn getter_whose_item_was_taken_by_get_nowait_keeps_its_place() {
    run(async {
        let q = Rc::new(Queue::new(0));
        let getter = |tag| {
            let q = q.clone();
            spawn(async move { (tag, q.get().await.unwrap()) })
        };
        let a = getter("a");
        let b = getter("b");
        yield_now().await;
        q.put_nowait(1).unwrap(); // promised to a
        assert_eq!(
            q.get_nowait(),
            Ok(1),
            "get_nowait does not wait its turn, as in asyncio"
        );
        yield_now().await; // a finds nothing and goes back to the head of the line
        q.put_nowait(2).unwrap();
        q.put_nowait(3).unwrap();
        assert_eq!(a.await, Ok(("a", 2)));
        assert_eq!(b.await, Ok(("b", 3)));
    });
}

// ---------------------------------------------------------------------------------------------
// join / task_done and shutdown, for the three orders (CPython's mixins)
// ---------------------------------------------------------------------------------------------

type Q<O> = GenericQueue<&'static str, O>;

// CPython: test_queues.py::_QueueJoinTestMixin::test_task_done_underflow
#[test]
fn task_done_more_often_than_put_panics_clearly() {
    fn check<O: Order<i32>>() {
        let q = GenericQueue::<i32, O>::new(0);
        let msg = panic_message(|| q.task_done());
        assert!(msg.contains("task_done() called more times"), "{msg}");
    }
    check::<Fifo>();
    check::<Lifo>();
    check::<Priority>();
}

// CPython: test_queues.py::_QueueJoinTestMixin::test_task_done
#[test]
fn join_returns_once_workers_marked_every_item_done() {
    fn check<O: Order<u32> + 'static>() {
        run(async {
            let q = Rc::new(GenericQueue::<u32, O>::new(0));
            for i in 0..100 {
                q.put_nowait(i).unwrap();
            }
            let accumulator = Rc::new(Cell::new(0));
            let running = Rc::new(Cell::new(true));
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let (q, acc, running) = (q.clone(), accumulator.clone(), running.clone());
                    spawn(async move {
                        while running.get() {
                            let item = q.get().await.unwrap();
                            acc.set(acc.get() + item);
                            q.task_done();
                        }
                    })
                })
                .collect();
            q.join().await;
            assert_eq!(accumulator.get(), (0..100).sum::<u32>());
            running.set(false);
            for _ in 0..workers.len() {
                q.put_nowait(0).unwrap();
            }
            gather(workers).await.unwrap();
        });
    }
    check::<Fifo>();
    check::<Lifo>();
    check::<Priority>();
}

// CPython: test_queues.py::_QueueJoinTestMixin::test_join_empty_queue
#[test]
fn join_of_an_empty_queue_returns_at_once() {
    fn check<O: Order<i32>>() {
        run(async {
            let q = GenericQueue::<i32, O>::new(0);
            assert!(poll_once_then_drop(q.join()).await.is_ready());
            assert!(poll_once_then_drop(q.join()).await.is_ready());
        });
    }
    check::<Fifo>();
    check::<Lifo>();
    check::<Priority>();
}

/// Every put and get of a shut-down, empty queue fails with QueueShutDown.
async fn assert_shut_down<O: Order<&'static str>>(q: &Q<O>) {
    assert_eq!(q.put("data").await, Err(QueueShutDown("data")));
    assert!(matches!(
        q.put_nowait("data"),
        Err(TryPutError::ShutDown("data"))
    ));
    assert_eq!(q.get().await, Err(QueueShutDown(())));
    assert_eq!(q.get_nowait(), Err(TryGetError::ShutDown));
}

// CPython: test_queues.py::_QueueShutdownTestMixin::test_shutdown_empty
#[test]
fn shutdown_of_an_empty_queue_fails_waiting_and_later_calls() {
    fn check<O: Order<&'static str> + 'static>() {
        run(async {
            let q = Rc::new(Q::<O>::new(0));
            let q2 = q.clone();
            let get_task = spawn(async move { q2.get().await });
            yield_now().await; // the get is pending before the shutdown
            q.shutdown(false);
            assert_eq!(q.qsize(), 0);
            q.join().await;
            yield_now().await;
            assert!(get_task.is_done());
            assert_eq!(get_task.await, Ok(Err(QueueShutDown(()))));
            assert_shut_down(&q).await;
        });
    }
    check::<Fifo>();
    check::<Lifo>();
    check::<Priority>();
}

// CPython: test_queues.py::_QueueShutdownTestMixin::test_shutdown_nonempty
#[test]
fn shutdown_keeps_the_items_for_getters_and_fails_putters() {
    fn check<O: Order<&'static str> + 'static>() {
        run(async {
            let q = Rc::new(Q::<O>::new(1));
            q.put_nowait("data").unwrap();
            let qj = q.clone();
            let join_task = spawn(async move { qj.join().await });
            let qp = q.clone();
            let put_task = spawn(async move { qp.put("data2").await });
            yield_now().await;
            assert!(!put_task.is_done());

            q.shutdown(false);
            assert_eq!(q.qsize(), 1);
            yield_now().await;
            assert!(put_task.is_done());
            assert_eq!(put_task.await, Ok(Err(QueueShutDown("data2"))));

            assert_eq!(q.get().await, Ok("data"));
            yield_now().await;
            assert!(!join_task.is_done());
            assert_shut_down(&q).await;

            q.task_done();
            yield_now().await;
            assert!(join_task.is_done());
            assert_eq!(join_task.await, Ok(()));
            assert!(panic_message(|| q.task_done()).contains("task_done()"));
        });
    }
    check::<Fifo>();
    check::<Lifo>();
    check::<Priority>();
}

// CPython: test_queues.py::_QueueShutdownTestMixin::test_shutdown_immediate
#[test]
fn immediate_shutdown_drops_the_items_and_releases_join() {
    fn check<O: Order<&'static str> + 'static>() {
        run(async {
            let q = Rc::new(Q::<O>::new(0));
            q.put_nowait("data").unwrap();
            let qj = q.clone();
            let join_task = spawn(async move { qj.join().await });
            q.shutdown(true);
            assert_eq!(q.qsize(), 0);
            yield_now().await;
            assert!(join_task.is_done());
            assert_eq!(join_task.await, Ok(()));
            assert_shut_down(&q).await;
            assert!(panic_message(|| q.task_done()).contains("task_done()"));
        });
    }
    check::<Fifo>();
    check::<Lifo>();
    check::<Priority>();
}

// CPython: test_queues.py::_QueueShutdownTestMixin::test_shutdown_immediate_with_unfinished
#[test]
fn immediate_shutdown_still_waits_for_items_already_taken() {
    fn check<O: Order<&'static str> + 'static>() {
        run(async {
            let q = Rc::new(Q::<O>::new(0));
            q.put_nowait("data").unwrap();
            q.put_nowait("data").unwrap();
            let qj = q.clone();
            let join_task = spawn(async move { qj.join().await });
            assert_eq!(q.get().await, Ok("data"));

            q.shutdown(true);
            assert_eq!(q.qsize(), 0);
            yield_now().await;
            assert!(!join_task.is_done(), "one item taken and not done");
            assert_shut_down(&q).await;

            q.task_done();
            assert!(panic_message(|| q.task_done()).contains("task_done()"));
            yield_now().await;
            assert!(join_task.is_done());
            assert_eq!(join_task.await, Ok(()));
        });
    }
    check::<Fifo>();
    check::<Lifo>();
    check::<Priority>();
}

#[test]
fn shutdown_wakes_every_blocked_getter_and_putter() {
    run(async {
        let empty = Rc::new(Queue::<u8>::new(0));
        let getters: Vec<_> = (0..3)
            .map(|_| {
                let q = empty.clone();
                spawn(async move { q.get().await })
            })
            .collect();
        let full = Rc::new(Queue::new(1));
        full.put_nowait(0).unwrap();
        let putters: Vec<_> = (1..4)
            .map(|i| {
                let q = full.clone();
                spawn(async move { q.put(i).await })
            })
            .collect();
        yield_now().await;
        empty.shutdown(false);
        full.shutdown(false);
        assert_eq!(
            gather(getters).await.unwrap(),
            vec![Err(QueueShutDown(())); 3]
        );
        let out: Vec<_> = gather(putters).await.unwrap();
        assert_eq!(
            out,
            [
                Err(QueueShutDown(1)),
                Err(QueueShutDown(2)),
                Err(QueueShutDown(3))
            ]
        );
        assert_eq!(full.get().await, Ok(0), "what was in stays gettable");
    });
}

#[test]
fn getter_queued_behind_the_last_item_of_a_shut_down_queue_fails_once_it_is_taken() {
    EventLoop::with_virtual_time().run_until_complete(async {
        let q = Rc::new(Queue::new(0));
        let qa = q.clone();
        let a = spawn(async move { qa.get().await });
        yield_now().await;
        q.put_nowait("last").unwrap(); // promised to a
        q.shutdown(false);
        let mut b = pin!(q.get());
        let first = poll_fn(|cx| Poll::Ready(b.as_mut().poll(cx))).await;
        assert!(first.is_pending(), "b queues behind the item promised to a");
        assert_eq!(a.await, Ok(Ok("last")));
        let b = wait_for(b, Duration::from_secs(1)).await;
        assert_eq!(
            b,
            Ok(Err(QueueShutDown(()))),
            "woken to fail, not left hanging"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// A cancellation storm: no item lost, none duplicated
// ---------------------------------------------------------------------------------------------

struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

// S1
// S2
#[test]
fn items_are_neither_lost_nor_duplicated_when_getters_and_putters_are_cancelled() {
    for seed in 0..20 {
        run(async move {
            let mut rng = Lcg(seed);
            let q = Rc::new(Queue::new(2));
            let put_ok = Rc::new(RefCell::new(Vec::new()));
            let received = Rc::new(RefCell::new(Vec::new()));
            let mut tasks = Vec::new();
            for p in 0..6u32 {
                let (q, put_ok) = (q.clone(), put_ok.clone());
                tasks.push(spawn(async move {
                    for i in 0..20 {
                        let item = p * 100 + i;
                        q.put(item).await.unwrap();
                        put_ok.borrow_mut().push(item);
                    }
                }));
            }
            for _ in 0..6 {
                let (q, received) = (q.clone(), received.clone());
                tasks.push(spawn(async move {
                    loop {
                        let item = q.get().await.unwrap();
                        received.borrow_mut().push(item);
                        if item % 7 == 0 {
                            yield_now().await;
                        }
                    }
                }));
            }
            for _ in 0..80 {
                tasks[rng.below(12) as usize].cancel();
                for _ in 0..rng.below(3) {
                    yield_now().await;
                }
            }
            for t in &tasks {
                t.cancel();
            }
            for t in tasks {
                let _ = t.await;
            }
            let mut out = received.borrow().clone();
            while let Ok(item) = q.get_nowait() {
                out.push(item);
            }
            let mut put = put_ok.borrow().clone();
            out.sort_unstable();
            put.sort_unstable();
            assert_eq!(
                out, put,
                "seed {seed}: what came out is exactly what went in"
            );
            assert_eq!((q.waiting_getters(), q.waiting_putters()), (0, 0));
        });
    }
}
