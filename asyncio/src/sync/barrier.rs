//! [`Barrier`]: a meeting point for a fixed number of tasks, reusable cycle after cycle.
//!
//! The barrier moves through asyncio's four states:
//!
//! | state | meaning | left by |
//! |---|---|---|
//! | filling | tasks arrive and wait | the last party arriving (→ draining), `reset` (→ resetting or filling), `abort` (→ broken) |
//! | draining | the cycle is complete; waiters leave with their index; newcomers block | the last one out (→ filling) |
//! | resetting | `reset()` with tasks inside: each leaves with `BrokenBarrierError`; newcomers block | the last one out (→ filling) |
//! | broken | `abort()`: every wait fails at once | `reset()` |
//!
//! Every state change wakes every task in [`Barrier::wait`]; each re-checks the state when it
//! runs, as asyncio's `Condition.wait_for` does, so what a task sees is the state at its turn.

use std::cell::{Cell, RefCell};
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{notify, Slot, WaitList};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Filling,
    Draining,
    Resetting,
    Broken,
}

/// Makes `parties` tasks wait for one another: `asyncio.Barrier`.
///
/// Each task calls [`wait`](Barrier::wait); when the last of the `parties` arrives, all of them
/// pass, each with a distinct index in `0..parties` (the order of arrival), and the barrier is
/// ready for the next cycle. [`reset`](Barrier::reset) and [`abort`](Barrier::abort) make the
/// waiting tasks fail with [`BrokenBarrierError`]. A waiting task that is cancelled leaves the
/// count, as in asyncio.
///
/// # Examples
///
/// ```
/// use asyncio::{gather, run, spawn, sync::Barrier};
/// use std::rc::Rc;
///
/// run(async {
///     let barrier = Rc::new(Barrier::new(3));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let b = barrier.clone();
///             spawn(async move { b.wait().await.unwrap() })
///         })
///         .collect();
///     let mut indices = gather(tasks).await.unwrap();
///     indices.sort();
///     assert_eq!(indices, [0, 1, 2]);
/// });
/// ```
pub struct Barrier {
    parties: usize,
    state: Cell<State>,
    /// Tasks inside `wait` past the entry check (asyncio's `_count`).
    count: Cell<usize>,
    waiters: RefCell<WaitList>,
}

impl Barrier {
    /// A barrier for `parties` tasks.
    ///
    /// # Panics
    ///
    /// If `parties` is 0 ("Barrier::new(0): a barrier needs at least one party"), as asyncio
    /// raises `ValueError`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = asyncio::sync::Barrier::new(2);
    /// assert_eq!(b.parties(), 2);
    /// ```
    pub fn new(parties: usize) -> Barrier {
        assert!(
            parties > 0,
            "Barrier::new(0): a barrier needs at least one party"
        );
        Barrier {
            parties,
            state: Cell::new(State::Filling),
            count: Cell::new(0),
            waiters: RefCell::default(),
        }
    }

    /// Waits until `parties` tasks are waiting, then returns this task's index in `0..parties`
    /// (the last to arrive gets `parties - 1`). While a previous cycle drains or a reset is in
    /// progress, the call first waits for that to finish.
    ///
    /// # Errors
    ///
    /// [`BrokenBarrierError`] if the barrier is broken ([`abort`](Barrier::abort)) or reset
    /// while this task waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, sync::Barrier};
    ///
    /// run(async {
    ///     let b = Barrier::new(1);
    ///     assert_eq!(b.wait().await, Ok(0));
    ///     assert_eq!(b.wait().await, Ok(0)); // a new cycle
    /// });
    /// ```
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            phase: Phase::Entering,
            slot: Slot::default(),
        }
    }

    /// Puts the barrier back to its empty state. Tasks waiting in it fail with
    /// [`BrokenBarrierError`] and new arrivals wait until they have all left. A broken barrier
    /// becomes usable again.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = asyncio::sync::Barrier::new(2);
    /// b.abort();
    /// b.reset();
    /// assert!(!b.is_broken());
    /// ```
    pub fn reset(&self) {
        if self.count.get() > 0 {
            self.state.set(State::Resetting);
        } else {
            self.state.set(State::Filling);
        }
        notify(&self.waiters, usize::MAX);
    }

    /// Breaks the barrier: every current and future [`wait`](Barrier::wait) fails with
    /// [`BrokenBarrierError`] until [`reset`](Barrier::reset).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, sync::{Barrier, BrokenBarrierError}};
    ///
    /// run(async {
    ///     let b = Barrier::new(2);
    ///     b.abort();
    ///     assert_eq!(b.wait().await, Err(BrokenBarrierError));
    /// });
    /// ```
    pub fn abort(&self) {
        self.state.set(State::Broken);
        notify(&self.waiters, usize::MAX);
    }

    /// The number of tasks the barrier waits for.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(asyncio::sync::Barrier::new(5).parties(), 5);
    /// ```
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// How many tasks wait for the current cycle to fill (0 while it drains or resets).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(asyncio::sync::Barrier::new(2).n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        if self.state.get() == State::Filling {
            self.count.get()
        } else {
            0
        }
    }

    /// True after [`abort`](Barrier::abort), until [`reset`](Barrier::reset).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = asyncio::sync::Barrier::new(1);
    /// b.abort();
    /// assert!(b.is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        self.state.get() == State::Broken
    }

    /// A task leaves the barrier; the last one out ends a drain or a reset.
    fn exit(&self) {
        let count = self.count.get() - 1;
        self.count.set(count);
        if count == 0 {
            if matches!(self.state.get(), State::Draining | State::Resetting) {
                self.state.set(State::Filling);
            }
            notify(&self.waiters, usize::MAX);
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("state", &self.state.get())
            .field("count", &self.count.get())
            .finish()
    }
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Blocked while the barrier drains or resets.
    Entering,
    /// Counted in; waiting for the cycle to fill.
    Inside(usize),
    Done,
}

/// The future returned by [`Barrier::wait`].
///
/// # Examples
///
/// ```
/// use asyncio::{run, sync::{Barrier, BarrierWait}};
///
/// run(async {
///     let b = Barrier::new(1);
///     let w: BarrierWait<'_> = b.wait();
///     assert_eq!(w.await, Ok(0));
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    phase: Phase,
    slot: Slot,
}

impl Future for BarrierWait<'_> {
    type Output = Result<usize, BrokenBarrierError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let b = this.barrier;
        // Any wake-up means "look at the state again"; a spurious one costs a re-queue.
        if this.slot.poll_notified(&b.waiters, cx).is_pending() {
            return Poll::Pending;
        }
        match this.phase {
            Phase::Entering => match b.state.get() {
                State::Draining | State::Resetting => {}
                State::Broken => {
                    this.phase = Phase::Done;
                    return Poll::Ready(Err(BrokenBarrierError));
                }
                State::Filling => {
                    let index = b.count.get();
                    b.count.set(index + 1);
                    if index + 1 == b.parties {
                        b.state.set(State::Draining);
                        notify(&b.waiters, usize::MAX);
                        this.phase = Phase::Done;
                        b.exit();
                        return Poll::Ready(Ok(index));
                    }
                    this.phase = Phase::Inside(index);
                }
            },
            Phase::Inside(index) => {
                let state = b.state.get();
                if state != State::Filling {
                    this.phase = Phase::Done;
                    b.exit();
                    return Poll::Ready(match state {
                        State::Broken | State::Resetting => Err(BrokenBarrierError),
                        _ => Ok(index),
                    });
                }
            }
            Phase::Done => panic!("BarrierWait polled after completion"),
        }
        this.slot.enqueue(&b.waiters, cx, false);
        Poll::Pending
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        // Every state change wakes everyone: an unused wake-up has nobody to go to.
        self.slot.leave(&self.barrier.waiters);
        if let Phase::Inside(_) = self.phase {
            // Cancelled while counted in: leave the count, as asyncio's `finally` does.
            self.barrier.exit();
        }
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait")
            .field("phase", &self.phase)
            .finish()
    }
}

/// The barrier was broken ([`Barrier::abort`]) or reset while a task waited in it:
/// `asyncio.BrokenBarrierError`.
///
/// # Examples
///
/// ```
/// let e = asyncio::sync::BrokenBarrierError;
/// assert!(e.to_string().contains("broken"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokenBarrierError;

impl fmt::Display for BrokenBarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the barrier is broken (aborted, or reset while this task waited); \
             reset() it before waiting again",
        )
    }
}

impl Error for BrokenBarrierError {}
