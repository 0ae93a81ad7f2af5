//! The thread bridge (issue 4): `to_thread` on a bounded pool, and `LoopHandle`'s
//! `call_soon_threadsafe` / `run_coroutine_threadsafe` from other threads. Every test that could
//! hang on a lost wake runs under a watchdog; none asserts a duration.

mod common;

use common::watchdog;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::Duration;

use asyncio::{
    gather, run, spawn, to_thread, yield_now, BlockingPool, EventLoop, LoopClosed, LoopHandle,
    TaskError,
};

#[test]
fn to_thread_runs_the_call_on_another_thread_and_returns_its_value() {
    watchdog("to_thread", || {
        let loop_thread = thread::current().id();
        let (value, worker) = run(to_thread(|| (7, thread::current().id())));
        assert_eq!(value, 7);
        assert_ne!(worker, loop_thread);
    });
}

#[test]
fn the_loop_keeps_running_tasks_while_a_thread_blocks() {
    watchdog("not blocking", || {
        run(async {
            let (tx, rx) = mpsc::channel::<u32>();
            // The thread blocks until a task on the loop sends: only possible if the loop runs.
            let blocked = to_thread(move || rx.recv().unwrap() + 1);
            let sender = spawn(async move {
                yield_now().await;
                tx.send(41).unwrap();
            });
            assert_eq!(blocked.await, 42);
            sender.await.unwrap();
        })
    });
}

#[test]
fn a_panic_in_the_thread_becomes_the_awaiting_tasks_panic() {
    watchdog("panic", || {
        run(async {
            let task = spawn(async { to_thread(|| -> u8 { panic!("worker failed") }).await });
            match task.await {
                Err(TaskError::Panicked(p)) => assert_eq!(p.message(), "worker failed"),
                other => panic!("expected the panic, got {other:?}"),
            }
        })
    });
}

#[test]
fn a_pool_never_runs_more_calls_at_once_than_its_bound() {
    watchdog("bounded", || {
        let pool = BlockingPool::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let results = run(async {
            let calls = (0..8).map(|i| {
                let (running, most) = (running.clone(), most.clone());
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(2)); // hold the thread a while
                    running.fetch_sub(1, Ordering::SeqCst);
                    i
                })
            });
            gather(calls).await.unwrap()
        });
        assert_eq!(results, (0..8).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= 2, "more than 2 at once");
    });
}

#[test]
#[should_panic(expected = "at least one thread")]
fn a_pool_of_zero_threads_is_refused() {
    BlockingPool::new(0);
}

#[test]
fn a_dropped_to_thread_still_runs_the_call_to_its_end() {
    watchdog("dropped", || {
        let (tx, rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        run(async move {
            let call = to_thread(move || {
                go_rx.recv().unwrap();
                tx.send("finished").unwrap();
            });
            drop(call); // asyncio: cancelling to_thread does not stop the thread
            go_tx.send(()).unwrap();
        });
        assert_eq!(rx.recv().unwrap(), "finished");
    });
}

#[test]
fn call_soon_threadsafe_from_eight_threads_runs_every_callback_once() {
    watchdog("threadsafe callbacks", || {
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        run(async move {
            let handle = LoopHandle::current();
            let barrier = Arc::new(Barrier::new(8));
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let (handle, barrier, c) = (handle.clone(), barrier.clone(), c.clone());
                    thread::spawn(move || {
                        barrier.wait();
                        for _ in 0..100 {
                            let c = c.clone();
                            handle
                                .call_soon_threadsafe(move || {
                                    c.fetch_add(1, Ordering::SeqCst);
                                })
                                .unwrap();
                        }
                    })
                })
                .collect();
            // The loop sleeps in its reactor until the callbacks wake it.
            while c.load(Ordering::SeqCst) < 800 {
                asyncio::sleep(Duration::from_millis(1)).await;
            }
            for t in threads {
                t.join().unwrap();
            }
        });
        assert_eq!(count.load(Ordering::SeqCst), 800);
    });
}

// L6: a loop blocked in its reactor with nothing to do is woken by a callback from a thread.
#[test]
fn a_blocked_loop_is_woken_by_call_soon_threadsafe() {
    watchdog("wake", || {
        let lp = EventLoop::new();
        let handle = lp.handle();
        let state = Arc::new(std::sync::Mutex::new((false, None::<std::task::Waker>)));
        let (tx, rx) = mpsc::channel::<()>();
        let st = state.clone();
        thread::spawn(move || {
            rx.recv().unwrap(); // the loop is about to wait with nothing to do
            handle
                .call_soon_threadsafe(move || {
                    let mut s = st.lock().unwrap();
                    s.0 = true;
                    if let Some(w) = s.1.take() {
                        w.wake();
                    }
                })
                .unwrap();
        });
        lp.run_until_complete(async move {
            tx.send(()).unwrap();
            std::future::poll_fn(|cx| {
                let mut s = state.lock().unwrap();
                if s.0 {
                    std::task::Poll::Ready(())
                } else {
                    s.1 = Some(cx.waker().clone());
                    std::task::Poll::Pending
                }
            })
            .await;
        });
    });
}

#[test]
fn run_coroutine_threadsafe_hands_the_result_to_a_blocking_thread() {
    watchdog("run_coroutine_threadsafe", || {
        let lp = EventLoop::new();
        let handle = lp.handle();
        let asker = thread::spawn(move || {
            let fut = handle
                .run_coroutine_threadsafe(async {
                    asyncio::sleep(Duration::from_millis(1)).await;
                    "from the loop"
                })
                .unwrap();
            fut.wait()
        });
        let answer = lp.run_until_complete(to_thread(move || asker.join().unwrap()));
        assert_eq!(answer, Ok("from the loop"));
    });
}

#[test]
fn a_panicking_coroutine_reports_panicked_to_the_waiting_thread() {
    watchdog("panicking coroutine", || {
        let lp = EventLoop::new();
        let fut = lp
            .handle()
            .run_coroutine_threadsafe(async { panic!("bad coroutine") })
            .unwrap();
        let waiter = thread::spawn(move || fut.wait());
        let outcome: Result<(), TaskError> =
            lp.run_until_complete(to_thread(move || waiter.join().unwrap()));
        match outcome {
            Err(TaskError::Panicked(p)) => assert_eq!(p.message(), "bad coroutine"),
            other => panic!("expected Panicked, got {other:?}"),
        }
    });
}

#[test]
fn a_coroutine_sent_to_a_loop_that_closes_unrun_is_cancelled() {
    watchdog("closed unrun", || {
        let lp = EventLoop::new();
        let fut = lp.handle().run_coroutine_threadsafe(async { 1 }).unwrap();
        drop(lp);
        assert_eq!(fut.wait(), Err(TaskError::Cancelled));
    });
}

#[test]
fn scheduling_on_a_dropped_loop_is_refused_with_loop_closed() {
    let lp = EventLoop::new();
    let handle = lp.handle();
    drop(lp);
    assert!(handle.is_closed());
    assert_eq!(handle.call_soon_threadsafe(|| ()), Err(LoopClosed));
    assert!(handle.run_coroutine_threadsafe(async { 1 }).is_err());
}

#[test]
#[should_panic(expected = "would wait forever")]
fn waiting_on_the_loops_own_thread_is_refused() {
    run(async {
        let fut = LoopHandle::current()
            .run_coroutine_threadsafe(async { 1 })
            .unwrap();
        let _ = fut.wait();
    });
}

#[test]
fn a_concurrent_future_can_be_awaited_on_another_loop() {
    watchdog("cross-loop await", || {
        let (handle_tx, handle_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let server = thread::spawn(move || {
            let lp = EventLoop::new();
            handle_tx.send(lp.handle()).unwrap();
            lp.run_until_complete(to_thread(move || stop_rx.recv().unwrap()));
        });
        let handle: LoopHandle = handle_rx.recv().unwrap();
        let got = run(async move {
            handle
                .run_coroutine_threadsafe(async { "across loops" })
                .unwrap()
                .await
        });
        assert_eq!(got, Ok("across loops"));
        stop_tx.send(()).unwrap();
        server.join().unwrap();
    });
}

#[test]
fn a_loop_handle_is_send_sync_and_clone() {
    fn assert_bridge<T: Send + Sync + Clone + 'static>() {}
    assert_bridge::<LoopHandle>();
    fn assert_send<T: Send>() {}
    assert_send::<asyncio::ConcurrentFuture<String>>();
}

/// A virtual clock does not jump past a blocking call in flight: the call takes real time, so
/// a virtual timeout around it must not fire while it runs (tokio's paused clock behaves so).
#[test]
fn a_virtual_clock_stands_still_while_a_blocking_call_runs() {
    let (out, elapsed) = watchdog("virtual clock and to_thread", || {
        let lp = EventLoop::with_virtual_time();
        let start = lp.time();
        let out = lp.run_until_complete(asyncio::timeout(Duration::from_secs(1), async {
            to_thread(|| {
                thread::sleep(Duration::from_millis(20));
                7
            })
            .await
        }));
        (out, lp.time() - start)
    });
    assert_eq!(out, Ok(7));
    assert_eq!(
        elapsed,
        Duration::ZERO,
        "no virtual time passed while waiting"
    );
}

/// Once the blocking call is dropped unawaited, the clock may jump again when it finishes.
#[test]
fn a_virtual_clock_jumps_again_once_an_abandoned_blocking_call_ends() {
    let elapsed = watchdog("virtual clock after to_thread", || {
        let lp = EventLoop::with_virtual_time();
        let start = lp.time();
        lp.run_until_complete(async {
            drop(to_thread(|| thread::sleep(Duration::from_millis(20))));
            asyncio::sleep(Duration::from_secs(3600)).await;
        });
        lp.time() - start
    });
    assert_eq!(elapsed, Duration::from_secs(3600));
}
