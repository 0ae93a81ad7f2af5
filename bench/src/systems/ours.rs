//! `asyncio` (ours), written as its crate docs show: `asyncio::run`, `gather` / `try_gather`,
//! `spawn`, `sleep`, `yield_now`.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use asyncio::{gather, sleep, spawn, try_gather, yield_now, TaskError};

use crate::measure::{Finish, Start};
use crate::workload::{self as w, Workload};

type Boxed = Pin<Box<dyn Future<Output = u64>>>;

/// Runs `workload` with `n` children on a fresh loop; `run` returns once every task is gone.
pub fn run(workload: Workload, n: u64) -> Finish {
    asyncio::run(async move {
        match workload {
            Workload::Ready => in_order(workload, n, |i| async move { w::square(i) }).await,
            Workload::SpawnYield => {
                in_order(workload, n, |i| async move {
                    yield_now().await;
                    i
                })
                .await
            }
            Workload::Sleep => {
                in_order(workload, n, |i| async move {
                    sleep(w::SLEEP).await;
                    i
                })
                .await
            }
            Workload::SleepSpread => {
                in_order(workload, n, move |i| async move {
                    sleep(w::spread(i, n)).await;
                    i
                })
                .await
            }
            Workload::Staggered => {
                in_order(workload, n, move |i| async move {
                    for _ in 0..w::yields(i, n) {
                        yield_now().await;
                    }
                    i
                })
                .await
            }
            Workload::Nested => {
                let start = Start::now();
                let total = node(n).await;
                start.finish(Instant::now(), w::check_total(workload, n, total))
            }
            Workload::FailFast => fail_fast(n).await,
            Workload::Cancel => cancel(n).await,
            Workload::Chain => {
                let start = Start::now();
                let total = spawn(link(1, n)).await.unwrap_or(0);
                start.finish(Instant::now(), w::check_total(workload, n, total))
            }
        }
    })
}

/// `gather` over `n` children made by `child`, results checked in input order.
async fn in_order<F, Fut>(workload: Workload, n: u64, child: F) -> Finish
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = u64> + 'static,
{
    let start = Start::now();
    let out = gather((0..n).map(child)).await;
    let done = Instant::now();
    let ok = matches!(&out, Ok(values) if w::check_values(workload, n, values));
    start.finish(done, ok)
}

/// A node of the `nested` tree: a gather of up to 10 leaves, or of 10 subtrees.
fn node(n: u64) -> Boxed {
    Box::pin(async move {
        let parts = if n <= w::FAN_OUT {
            gather((0..n).map(|_| async { 1 })).await
        } else {
            gather((0..w::FAN_OUT).map(|_| node(n / w::FAN_OUT))).await
        };
        parts.map_or(0, |v| v.iter().sum())
    })
}

/// Link `i` of the chain: spawns link `i + 1` and awaits it; the last returns `n`.
fn link(i: u64, n: u64) -> Boxed {
    Box::pin(async move {
        if i == n {
            n
        } else {
            spawn(link(i + 1, n)).await.unwrap_or(0)
        }
    })
}

/// The default-mode `try_gather` (asyncio's own `gather`): the first failure completes it at
/// once, the siblings keep sleeping, and `asyncio::run` cancels them when main returns, as
/// `asyncio.run` does. So `secs` is the time to the error and the cancellation of the N − 1
/// sleepers is in `teardown_secs`. (`.cancel_on_error()` would put that cancellation inside
/// `secs`, since such a gather completes only after the siblings have finished.)
async fn fail_fast(n: u64) -> Finish {
    let start = Start::now();
    let out = try_gather((0..n).map(|i| async move {
        if i == w::failing(n) {
            Err(i)
        } else {
            sleep(w::FAIL_FAST_SLEEP).await;
            Ok(i)
        }
    }))
    .await;
    let done = Instant::now();
    let index = match out {
        Err(TaskError::Failed(i)) => Some(i),
        _ => None,
    };
    start.finish(done, w::check_failure(n, index))
}

/// Children that start sleeping 100 s; once all have started, `Gather::cancel` and await the
/// gather's `Err(Cancelled)` (it completes once every child is gone).
async fn cancel(n: u64) -> Finish {
    w::reset_started();
    let start = Start::now();
    let mut all = gather((0..n).map(|_| async {
        w::started();
        sleep(w::CANCEL_SLEEP).await;
    }));
    while w::started_count() < n {
        yield_now().await;
    }
    all.cancel();
    let out = (&mut all).await;
    let done = Instant::now();
    let cancelled = if matches!(out, Err(TaskError::Cancelled)) {
        n
    } else {
        0
    };
    start.finish(done, w::check_cancelled(n, cancelled))
}
