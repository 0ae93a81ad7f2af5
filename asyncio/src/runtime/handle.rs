//! The loop as other threads see it: `LoopHandle`, `call_soon_threadsafe`,
//! `run_coroutine_threadsafe`.
//!
//! A handle holds the loop's [`Shared`] part. A callback from another thread is pushed onto the
//! injection queue (as a cross-thread wake is) and the reactor's waker ends the loop's wait; the
//! loop runs it on its next turn, like a `call_soon` callback. The queue's lock also guards the
//! loop's `closed` flag, so a callback is either queued before the loop closes (and then run by
//! its clean-up, or dropped with it) or refused with [`LoopClosed`] — never silently lost.

use std::error::Error;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{current_core, try_with_core, EventLoop, Injected, Shared};
use crate::blocking::Completion;
use crate::error::TaskError;
use crate::task::spawn;

impl Shared {
    /// Queues `f` for the loop's next turn; false once the loop is closed.
    fn inject_call(&self, f: Box<dyn FnOnce() + Send>) -> bool {
        {
            let mut queue = self.injected.lock().unwrap_or_else(|e| e.into_inner());
            if self.closed.load(Ordering::Acquire) {
                return false;
            }
            queue.push(Injected::Call(f));
        }
        self.has_injected.store(true, Ordering::SeqCst);
        self.notify();
        true
    }

    /// Refuses further callbacks and drops those that never ran (on the loop thread).
    pub(super) fn close(&self) {
        let leftovers = {
            let mut queue = self.injected.lock().unwrap_or_else(|e| e.into_inner());
            self.closed.store(true, Ordering::Release);
            super::LOOPS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&self.id);
            std::mem::take(&mut *queue)
        };
        drop(leftovers);
    }
}

/// A handle to an event loop that any thread may hold: it schedules work onto the loop
/// (asyncio's `loop.call_soon_threadsafe` and `asyncio.run_coroutine_threadsafe`).
///
/// `Send + Sync + Clone`. Work sent through it runs on the loop's thread, on its next turn (or the
/// next time the loop runs). Once the [`EventLoop`] is dropped, sending is refused with
/// [`LoopClosed`].
///
/// # Examples
///
/// ```
/// use asyncio::{EventLoop, LoopHandle};
///
/// let lp = EventLoop::new();
/// let handle: LoopHandle = lp.handle();
/// let worker = std::thread::spawn(move || {
///     handle.run_coroutine_threadsafe(async { 6 * 7 }).unwrap().wait()
/// });
/// // The loop must run for the coroutine to run: here until the worker has its answer.
/// let answer = lp.run_until_complete(asyncio::to_thread(move || worker.join().unwrap()));
/// assert_eq!(answer, Ok(42));
/// ```
#[derive(Clone)]
pub struct LoopHandle {
    shared: Arc<Shared>,
}

impl EventLoop {
    /// A handle other threads can use to schedule work on this loop.
    ///
    /// # Examples
    ///
    /// See [`LoopHandle`].
    pub fn handle(&self) -> LoopHandle {
        LoopHandle {
            shared: self.core.shared.clone(),
        }
    }
}

impl LoopHandle {
    /// The handle of the loop running on this thread (asyncio's `get_running_loop()`, to pass to
    /// another thread).
    ///
    /// # Panics
    /// Outside a running event loop.
    ///
    /// # Examples
    ///
    /// ```
    /// asyncio::run(async {
    ///     let handle = asyncio::LoopHandle::current();
    ///     let (tx, rx) = std::sync::mpsc::channel();
    ///     std::thread::spawn(move || {
    ///         handle.call_soon_threadsafe(move || tx.send("ran on the loop").unwrap()).unwrap();
    ///     });
    ///     let msg = asyncio::to_thread(move || rx.recv().unwrap()).await;
    ///     assert_eq!(msg, "ran on the loop");
    /// });
    /// ```
    pub fn current() -> LoopHandle {
        LoopHandle {
            shared: current_core("LoopHandle::current()").shared.clone(),
        }
    }

    /// Schedules `f` to run on the loop's thread at its next turn (asyncio's
    /// `loop.call_soon_threadsafe`). A panic in `f` is reported through the loop's exception
    /// handler.
    ///
    /// # Errors
    /// [`LoopClosed`] when the loop was dropped; `f` is then dropped unrun.
    ///
    /// # Examples
    ///
    /// See [`LoopHandle::current`].
    pub fn call_soon_threadsafe(
        &self,
        f: impl FnOnce() + Send + 'static,
    ) -> Result<(), LoopClosed> {
        if self.shared.inject_call(Box::new(f)) {
            Ok(())
        } else {
            Err(LoopClosed)
        }
    }

    /// Runs `future` as a task on the loop and returns a [`ConcurrentFuture`] of its outcome,
    /// which another thread can [`wait`](ConcurrentFuture::wait) for or another loop can await
    /// (asyncio's `asyncio.run_coroutine_threadsafe(coro, loop)`).
    ///
    /// # Errors
    /// [`LoopClosed`] when the loop was dropped.
    ///
    /// # Examples
    ///
    /// See [`LoopHandle`].
    pub fn run_coroutine_threadsafe<F>(
        &self,
        future: F,
    ) -> Result<ConcurrentFuture<<F::IntoFuture as Future>::Output>, LoopClosed>
    where
        F: IntoFuture + Send + 'static,
        F::IntoFuture: Send,
        <F::IntoFuture as Future>::Output: Send + 'static,
    {
        let slot = Completion::new();
        // Completes the slot as cancelled if the callback or its task is dropped unfinished.
        let guard = CancelOnDrop(slot.clone());
        self.call_soon_threadsafe(move || {
            let task = spawn(future.into_future());
            spawn(async move {
                let outcome = task.await;
                guard.0.complete(outcome);
            })
            .detach();
        })?;
        Ok(ConcurrentFuture {
            slot,
            shared: self.shared.clone(),
        })
    }

    /// True once the loop was dropped (asyncio's `loop.is_closed()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = asyncio::EventLoop::new();
    /// let handle = lp.handle();
    /// assert!(!handle.is_closed());
    /// drop(lp);
    /// assert!(handle.is_closed());
    /// assert!(handle.call_soon_threadsafe(|| ()).is_err());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }
}

impl fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopHandle")
            .field("closed", &self.is_closed())
            .finish()
    }
}

struct CancelOnDrop<T>(Arc<Completion<Result<T, TaskError>>>);

impl<T> Drop for CancelOnDrop<T> {
    fn drop(&mut self) {
        self.0.complete(Err(TaskError::Cancelled)); // no effect if already completed
    }
}

/// The outcome of [`LoopHandle::run_coroutine_threadsafe`], for another thread (asyncio's
/// `concurrent.futures.Future`): block on it with [`wait`](Self::wait), or `.await` it on
/// another loop.
///
/// The outcome is `Err(TaskError::Cancelled)` if the loop closed before the task finished, and
/// `Err(TaskError::Panicked(_))` if the task panicked.
///
/// # Examples
///
/// See [`LoopHandle`].
pub struct ConcurrentFuture<T> {
    slot: Arc<Completion<Result<T, TaskError>>>,
    shared: Arc<Shared>,
}

impl<T> ConcurrentFuture<T> {
    /// True once the outcome is there.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = asyncio::EventLoop::new();
    /// let fut = lp.handle().run_coroutine_threadsafe(async { 1 }).unwrap();
    /// assert!(!fut.is_done()); // the loop has not run yet
    /// lp.run_until_complete(async {
    ///     while !fut.is_done() {
    ///         asyncio::yield_now().await;
    ///     }
    /// });
    /// assert_eq!(fut.wait(), Ok(1));
    /// ```
    pub fn is_done(&self) -> bool {
        self.slot.is_done()
    }

    /// Blocks this thread until the outcome is there (asyncio's `future.result()`).
    ///
    /// # Panics
    /// When called on the thread running the loop the task waits for: that would wait forever.
    ///
    /// # Examples
    ///
    /// See [`LoopHandle`].
    pub fn wait(self) -> Result<T, TaskError> {
        self.refuse_deadlock();
        self.slot
            .wait_take(None)
            .expect("a completion is filled exactly once")
    }

    /// Blocks this thread for at most `timeout`; `None` if the outcome is not there by then
    /// (asyncio's `future.result(timeout)`), and the future can be waited for again.
    ///
    /// # Panics
    /// As [`wait`](Self::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = asyncio::EventLoop::new();
    /// let fut = lp.handle().run_coroutine_threadsafe(async { 1 }).unwrap();
    /// assert!(fut.wait_timeout(Duration::from_millis(1)).is_none()); // the loop is not running
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Result<T, TaskError>> {
        self.refuse_deadlock();
        self.slot.wait_take(Some(timeout))
    }

    fn refuse_deadlock(&self) {
        let on_loop = try_with_core(|c| Arc::ptr_eq(&c.shared, &self.shared)).unwrap_or(false);
        assert!(
            !on_loop,
            "ConcurrentFuture::wait() called on the thread of the loop that runs its task: it \
             would wait forever; `.await` it instead"
        );
    }
}

impl<T> Future for ConcurrentFuture<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.slot.poll_take(cx) {
            Poll::Ready(Some(v)) => Poll::Ready(v),
            Poll::Ready(None) => panic!("ConcurrentFuture polled after it completed"),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for ConcurrentFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrentFuture")
            .field("done", &self.is_done())
            .finish()
    }
}

/// Scheduling on a loop that was dropped (asyncio's "Event loop is closed").
///
/// # Examples
///
/// ```
/// let lp = asyncio::EventLoop::new();
/// let handle = lp.handle();
/// drop(lp);
/// let err = handle.call_soon_threadsafe(|| ()).unwrap_err();
/// assert!(err.to_string().contains("closed"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopClosed;

impl fmt::Display for LoopClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the event loop is closed (its EventLoop was dropped); nothing can be scheduled on \
             it any more",
        )
    }
}

impl Error for LoopClosed {}
