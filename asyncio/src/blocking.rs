//! Blocking work off the loop: `to_thread` on a bounded pool of threads.
//!
//! A [`BlockingPool`] starts threads on demand up to its bound and lets an idle one exit after
//! ten seconds; work beyond the bound waits in a FIFO queue. The result travels back through a
//! [`Completion`] slot: the worker stores it and wakes the awaiting task, whose waker (on another
//! thread) goes through the loop's injection queue and ends the loop's wait.
//!
//! A thread cannot be interrupted: dropping the future of [`to_thread`] (a cancellation) leaves
//! the call running to its end and throws its result away, as asyncio's `to_thread` does.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

/// How long an idle worker waits for work before it exits.
const IDLE: Duration = Duration::from_secs(10);

/// A bounded pool of threads for blocking calls (asyncio's default executor, for
/// `run_in_executor(None, f)` and `to_thread(f)`).
///
/// # Examples
///
/// ```
/// use asyncio::BlockingPool;
///
/// let pool = BlockingPool::new(2);
/// let sum = asyncio::run(async move {
///     let a = pool.run(|| (1..=10).sum::<u32>());
///     let b = pool.run(|| (11..=20).sum::<u32>());
///     a.await + b.await
/// });
/// assert_eq!(sum, 210);
/// ```
#[derive(Clone)]
pub struct BlockingPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    max_threads: usize,
    state: Mutex<PoolState>,
    work: Condvar,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

impl BlockingPool {
    /// A pool of at most `max_threads` threads, started as work arrives.
    ///
    /// # Panics
    /// When `max_threads` is 0.
    ///
    /// # Examples
    ///
    /// See [`BlockingPool`].
    pub fn new(max_threads: usize) -> BlockingPool {
        assert!(max_threads > 0, "a BlockingPool needs at least one thread");
        BlockingPool {
            inner: Arc::new(PoolInner {
                max_threads,
                state: Mutex::new(PoolState::default()),
                work: Condvar::new(),
            }),
        }
    }

    /// The pool [`to_thread`] uses: at most min(32, cores + 4) threads, as Python's default
    /// executor.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(asyncio::BlockingPool::default_pool().max_threads() >= 5);
    /// ```
    pub fn default_pool() -> &'static BlockingPool {
        static POOL: OnceLock<BlockingPool> = OnceLock::new();
        POOL.get_or_init(|| {
            let cores = thread::available_parallelism().map_or(1, |n| n.get());
            BlockingPool::new((cores + 4).min(32))
        })
    }

    /// The bound given at creation.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(asyncio::BlockingPool::new(3).max_threads(), 3);
    /// ```
    pub fn max_threads(&self) -> usize {
        self.inner.max_threads
    }

    /// Runs `f` on the pool and returns a future of its result (asyncio's
    /// `loop.run_in_executor(pool, f)`). The call starts at once, whether or not the future is
    /// awaited; a panic in `f` is resumed in the awaiting task.
    ///
    /// # Examples
    ///
    /// See [`BlockingPool`].
    pub fn run<T, F>(&self, f: F) -> ToThread<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let slot = Completion::new();
        let done = slot.clone();
        // Counted by the running loop until the result is delivered (a virtual clock waits).
        let call = crate::runtime::BlockingCall::start();
        self.submit(Box::new(move || {
            done.complete(catch_unwind(AssertUnwindSafe(f)));
            drop(call);
        }));
        ToThread { slot }
    }

    fn submit(&self, job: Job) {
        let mut state = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        state.queue.push_back(job);
        if state.idle > 0 {
            self.inner.work.notify_one();
        } else if state.threads < self.inner.max_threads {
            state.threads += 1;
            let inner = self.inner.clone();
            let spawned = thread::Builder::new()
                .name("asyncio-blocking".into())
                .spawn(move || worker(&inner));
            if spawned.is_err() {
                // The queued job waits for a running worker; with none, report loudly.
                state.threads -= 1;
                assert!(
                    state.threads > 0,
                    "the blocking pool could not start a thread; the system is out of threads"
                );
            }
        }
    }
}

fn worker(inner: &PoolInner) {
    let mut state = inner.state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(job) = state.queue.pop_front() {
            drop(state);
            job(); // never unwinds: the job catches the user's panic itself
            state = inner.state.lock().unwrap_or_else(|e| e.into_inner());
            continue;
        }
        state.idle += 1;
        let (next, timeout) = inner
            .work
            .wait_timeout(state, IDLE)
            .unwrap_or_else(|e| e.into_inner());
        state = next;
        state.idle -= 1;
        if timeout.timed_out() && state.queue.is_empty() {
            state.threads -= 1;
            return;
        }
    }
}

impl fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("BlockingPool")
            .field("max_threads", &self.inner.max_threads)
            .field("threads", &state.threads)
            .field("queued", &state.queue.len())
            .finish()
    }
}

/// Runs the blocking `f` on the default [`BlockingPool`] and waits for its result without
/// blocking the loop (asyncio's `asyncio.to_thread(f)`).
///
/// The call starts at once. Dropping the future does not stop it (threads cannot be
/// interrupted): its result is then thrown away.
///
/// # Panics
/// Awaiting resumes a panic of `f` in the awaiting task (where a task catches it as
/// [`TaskError::Panicked`](crate::TaskError::Panicked)), as asyncio re-raises the exception.
///
/// # Examples
///
/// ```
/// use asyncio::{run, to_thread};
///
/// let n = run(async {
///     to_thread(|| {
///         std::thread::sleep(std::time::Duration::from_millis(1)); // blocking, off the loop
///         6 * 7
///     })
///     .await
/// });
/// assert_eq!(n, 42);
/// ```
pub fn to_thread<T, F>(f: F) -> ToThread<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    BlockingPool::default_pool().run(f)
}

/// The future of a call running on a [`BlockingPool`]; see [`to_thread`].
///
/// # Examples
///
/// ```
/// let fut: asyncio::ToThread<u8> = asyncio::to_thread(|| 1);
/// assert_eq!(asyncio::run(fut), 1);
/// ```
#[must_use = "the call runs anyway; await this to get its result"]
pub struct ToThread<T> {
    slot: Arc<Completion<thread::Result<T>>>,
}

impl<T> Future for ToThread<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.slot.poll_take(cx) {
            Poll::Ready(Some(Ok(v))) => Poll::Ready(v),
            Poll::Ready(Some(Err(payload))) => resume_unwind(payload),
            Poll::Ready(None) => panic!("ToThread polled after it completed"),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for ToThread<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToThread").finish_non_exhaustive()
    }
}

/// A one-shot slot filled on one thread and awaited (or waited for) on another.
pub(crate) struct Completion<T> {
    state: Mutex<CompletionState<T>>,
    filled: Condvar,
}

struct CompletionState<T> {
    value: Option<T>,
    done: bool,
    waker: Option<Waker>,
}

impl<T> Completion<T> {
    pub(crate) fn new() -> Arc<Completion<T>> {
        Arc::new(Completion {
            state: Mutex::new(CompletionState {
                value: None,
                done: false,
                waker: None,
            }),
            filled: Condvar::new(),
        })
    }

    /// Stores the value (the first one wins) and wakes the waiter.
    pub(crate) fn complete(&self, value: T) {
        let waker = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.done {
                return;
            }
            state.value = Some(value);
            state.done = true;
            state.waker.take()
        };
        self.filled.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).done
    }

    /// `Ready(Some(v))` once filled, `Ready(None)` if the value was already taken.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.done {
            return Poll::Ready(state.value.take());
        }
        match &mut state.waker {
            Some(w) => w.clone_from(cx.waker()),
            none => *none = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Blocks the thread until filled or `timeout` passes; the value if it came.
    pub(crate) fn wait_take(&self, timeout: Option<Duration>) -> Option<T> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut state = match timeout {
            None => self
                .filled
                .wait_while(state, |s| !s.done)
                .unwrap_or_else(|e| e.into_inner()),
            Some(d) => {
                self.filled
                    .wait_timeout_while(state, d, |s| !s.done)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
        state.value.take()
    }
}
