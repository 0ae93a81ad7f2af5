//! Joins without tasks: `futures::future::join_all` (`futures`) and futures-concurrency's
//! `Vec::join` (`futures-concurrency`), the children being plain futures polled inside one
//! future. Neither crate has a timer, so — as a user of plain futures would — they sleep on
//! `async_io::Timer` under `async_io::block_on` (which drives its reactor). Each join gets the
//! executor that serves it best, as measured on spawn_yield under callgrind: `join_all` runs the
//! workloads that do not sleep under `futures::executor::block_on` (1,014 instructions per
//! child against 1,520), because under `async_io::block_on` every self-wake costs an
//! `epoll_wait(0)` and `join_all`'s `FuturesUnordered` hands control back after every two
//! children that woke themselves; `Vec::join` polls every woken child in one go and does better
//! under `async_io::block_on` (662 against 725), so it always runs there. Yielding is
//! `futures_lite::future::yield_now`. There are no tasks here, so `chain` (a task spawning the
//! next) has no form and is reported as skipped; `cancel` is `futures::future::abortable` around
//! the join (`AbortHandle::abort`, then the `Aborted` error is awaited).

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use async_io::Timer;
use futures::future::{abortable, join_all};
use futures::stream::{FuturesUnordered, StreamExt as _};
use futures_concurrency::future::{Join as _, TryJoin as _};
use futures_lite::future::yield_now;

use crate::measure::{Finish, Start};
use crate::workload::{self as w, Workload};

/// Which join.
#[derive(Clone, Copy, Debug)]
pub enum Join {
    /// `futures::future::join_all` / `try_join_all`.
    JoinAll,
    /// futures-concurrency `Vec::join` / `Vec::try_join`.
    Concurrency,
}

impl Join {
    /// All of `children`, in order.
    async fn all<F: Future>(self, children: impl Iterator<Item = F>) -> Vec<F::Output> {
        match self {
            Join::JoinAll => join_all(children).await,
            Join::Concurrency => children.collect::<Vec<_>>().join().await,
        }
    }

    /// The join as a future left to the caller (kept alive until teardown, or aborted).
    fn all_boxed<F>(
        self,
        children: impl Iterator<Item = F>,
    ) -> Pin<Box<dyn Future<Output = Vec<F::Output>>>>
    where
        F: Future + 'static,
    {
        match self {
            Join::JoinAll => Box::pin(join_all(children)),
            Join::Concurrency => Box::pin(children.collect::<Vec<_>>().join()),
        }
    }
}

/// Runs `workload` with `n` children (`chain` and `echo`, which have no form here, are refused
/// before, by [`super::unsupported`]).
pub fn run(join: Join, workload: Workload, n: u64) -> Finish {
    let sleeps = matches!(
        workload,
        Workload::Sleep | Workload::SleepSpread | Workload::FailFast | Workload::Cancel
    );
    if sleeps || matches!(join, Join::Concurrency) {
        async_io::block_on(body(join, workload, n))
    } else {
        futures::executor::block_on(body(join, workload, n))
    }
}

async fn body(join: Join, workload: Workload, n: u64) -> Finish {
    match workload {
        Workload::Ready => in_order(join, workload, n, |i| async move { w::square(i) }).await,
        Workload::SpawnYield => {
            in_order(join, workload, n, |i| async move {
                yield_now().await;
                i
            })
            .await
        }
        Workload::Sleep => {
            in_order(join, workload, n, |i| async move {
                Timer::after(w::SLEEP).await;
                i
            })
            .await
        }
        Workload::SleepSpread => {
            in_order(join, workload, n, move |i| async move {
                Timer::after(w::spread(i, n)).await;
                i
            })
            .await
        }
        Workload::Staggered => {
            in_order(join, workload, n, move |i| async move {
                for _ in 0..w::yields(i, n) {
                    yield_now().await;
                }
                i
            })
            .await
        }
        Workload::Nested => {
            let start = Start::now();
            let total = node(join, n).await;
            start.finish(Instant::now(), w::check_total(workload, n, total))
        }
        Workload::FailFast => fail_fast(join, n).await,
        Workload::Cancel => cancel(join, n).await,
        Workload::Chain | Workload::Echo => unreachable!("refused by systems::unsupported"),
    }
}

/// Joins `n` children made by `child` into a `Vec`.
async fn in_order<F, Fut>(join: Join, workload: Workload, n: u64, child: F) -> Finish
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = u64>,
{
    let start = Start::now();
    let values = join.all((0..n).map(child)).await;
    let done = Instant::now();
    let ok = w::check_values(workload, n, &values);
    start.finish(done, ok)
}

/// A node of the `nested` tree: joins up to 10 leaves, or 10 subtrees, and sums them.
fn node(join: Join, n: u64) -> Pin<Box<dyn Future<Output = u64>>> {
    Box::pin(async move {
        let parts = if n <= w::FAN_OUT {
            join.all((0..n).map(|_| async { 1 })).await
        } else {
            join.all((0..w::FAN_OUT).map(|_| node(join, n / w::FAN_OUT)))
                .await
        };
        parts.iter().sum()
    })
}

/// The first `Err` in completion order. `futures`: a `FuturesUnordered` drained until the error
/// (`try_join_all` over more than 30 futures collects a `FuturesOrdered`, so it would report
/// child N/2's error only after children 0..N/2 had slept their 10 s). `futures-concurrency`:
/// `Vec::try_join`, which returns the first error at once. The join is kept until teardown,
/// where dropping it drops (cancels) the sleeping children.
async fn fail_fast(join: Join, n: u64) -> Finish {
    let child = move |i: u64| async move {
        if i == w::failing(n) {
            Err(i)
        } else {
            Timer::after(w::FAIL_FAST_SLEEP).await;
            Ok(i)
        }
    };
    let start = Start::now();
    match join {
        Join::JoinAll => {
            let mut all: FuturesUnordered<_> = (0..n).map(child).collect();
            let mut index = None;
            while let Some(out) = all.next().await {
                if let Err(i) = out {
                    index = Some(i);
                    break;
                }
            }
            let finish = start.finish(Instant::now(), w::check_failure(n, index));
            drop(all);
            finish
        }
        Join::Concurrency => {
            let mut all = Box::pin((0..n).map(child).collect::<Vec<_>>().try_join());
            let out = all.as_mut().await;
            let finish = start.finish(Instant::now(), w::check_failure(n, out.err()));
            drop(all);
            finish
        }
    }
}

/// Children that start sleeping 100 s, joined inside `abortable`; once all have started
/// (the join has been polled), abort, await the `Aborted` error and drop the children.
async fn cancel(join: Join, n: u64) -> Finish {
    w::reset_started();
    let start = Start::now();
    let children = (0..n).map(|_| async {
        w::started();
        Timer::after(w::CANCEL_SLEEP).await;
    });
    let (all, handle) = abortable(join.all_boxed(children));
    let mut all = Box::pin(all);
    while w::started_count() < n {
        if futures::poll!(all.as_mut()).is_ready() {
            break;
        }
        yield_now().await;
    }
    handle.abort();
    let out = all.as_mut().await;
    drop(all);
    let done = Instant::now();
    let cancelled = if out.is_err() { n } else { 0 };
    start.finish(done, w::check_cancelled(n, cancelled))
}
