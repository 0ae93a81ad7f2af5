//! [`Condition`]: waiting for a notification while a [`Lock`] is held.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::{notify, LockAcquire, LockGuard, Slot, WaitList};
use crate::sync::Lock;

/// A condition variable tied to a [`Lock`]: `asyncio.Condition`.
///
/// A task holding the lock calls [`wait`](Condition::wait) with its guard: the lock is released
/// while it waits for a [`notify`](Condition::notify) and held again when `wait` returns the
/// guard. Waiters are notified in FIFO order. A notified waiter cancelled before it holds the
/// lock again passes its notification on to the next waiter (rule S1).
///
/// Rust differences from asyncio: `wait` takes the guard, so waiting without the lock cannot be
/// written; and a `wait` whose future is dropped (its task cancelled) does not take the lock back
/// first — the guard was given to `wait`, and a dropped future cannot await.
///
/// # Examples
///
/// ```
/// use asyncio::{run, spawn, sync::Condition};
/// use std::{cell::Cell, rc::Rc};
///
/// run(async {
///     let cond = Rc::new(Condition::new());
///     let ready = Rc::new(Cell::new(false));
///     let (c, r) = (cond.clone(), ready.clone());
///     let waiter = spawn(async move {
///         let guard = c.acquire().await;
///         let _guard = c.wait_for(guard, || r.get()).await;
///         "saw it"
///     });
///     asyncio::yield_now().await; // the waiter is now waiting
///     let _guard = cond.acquire().await;
///     ready.set(true);
///     cond.notify_all();
///     drop(_guard);
///     assert_eq!(waiter.await, Ok("saw it"));
/// });
/// ```
pub struct Condition {
    lock: Rc<Lock>,
    waiters: RefCell<WaitList>,
}

impl Default for Condition {
    fn default() -> Condition {
        Condition::new()
    }
}

impl Condition {
    /// A condition with a lock of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = asyncio::sync::Condition::new();
    /// assert!(!cond.locked());
    /// ```
    pub fn new() -> Condition {
        Condition::with_lock(Rc::new(Lock::new()))
    }

    /// A condition that uses `lock` (asyncio's `Condition(lock)`): locking either shows on both.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::sync::{Condition, Lock};
    /// use std::rc::Rc;
    ///
    /// let lock = Rc::new(Lock::new());
    /// let cond = Condition::with_lock(lock.clone());
    /// let _g = lock.try_acquire();
    /// assert!(cond.locked());
    /// ```
    pub fn with_lock(lock: Rc<Lock>) -> Condition {
        Condition {
            lock,
            waiters: RefCell::default(),
        }
    }

    /// The underlying lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = asyncio::sync::Condition::new();
    /// assert!(!cond.lock().locked());
    /// ```
    pub fn lock(&self) -> &Rc<Lock> {
        &self.lock
    }

    /// Acquires the underlying lock (see [`Lock::acquire`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, sync::Condition};
    ///
    /// run(async {
    ///     let cond = Condition::new();
    ///     let _g = cond.acquire().await;
    ///     assert!(cond.locked());
    /// });
    /// ```
    pub fn acquire(&self) -> LockAcquire<'_> {
        self.lock.acquire()
    }

    /// True while the underlying lock is held.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!asyncio::sync::Condition::new().locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// Releases the lock, waits for a notification, takes the lock again and returns its guard.
    ///
    /// # Panics
    ///
    /// If `guard` belongs to another lock ("Condition::wait() was given the guard of a
    /// different Lock"); asyncio raises `RuntimeError` when the lock is not held.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, spawn, yield_now, sync::Condition};
    /// use std::rc::Rc;
    ///
    /// run(async {
    ///     let cond = Rc::new(Condition::new());
    ///     let c = cond.clone();
    ///     let waiter = spawn(async move {
    ///         let guard = c.acquire().await;
    ///         let guard = c.wait(guard).await;
    ///         assert!(c.locked());
    ///         drop(guard);
    ///     });
    ///     yield_now().await;
    ///     let g = cond.acquire().await;
    ///     cond.notify(1);
    ///     drop(g);
    ///     waiter.await.unwrap();
    /// });
    /// ```
    pub fn wait<'a>(&'a self, guard: LockGuard<'a>) -> ConditionWait<'a> {
        assert!(
            std::ptr::eq(guard.lock, &*self.lock),
            "Condition::wait() was given the guard of a different Lock than the condition's"
        );
        ConditionWait {
            cond: self,
            state: WaitState::Start(guard),
        }
    }

    /// Waits until `predicate()` is true: checks it first (holding the lock), then after every
    /// notification, and returns the guard once it holds.
    ///
    /// # Panics
    ///
    /// As [`wait`](Condition::wait), for a guard of another lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, sync::Condition};
    ///
    /// run(async {
    ///     let cond = Condition::new();
    ///     let guard = cond.acquire().await;
    ///     let _guard = cond.wait_for(guard, || true).await; // already true: no wait
    /// });
    /// ```
    pub async fn wait_for<'a>(
        &'a self,
        mut guard: LockGuard<'a>,
        mut predicate: impl FnMut() -> bool,
    ) -> LockGuard<'a> {
        while !predicate() {
            guard = self.wait(guard).await;
        }
        guard
    }

    /// Wakes up to `n` waiters, first come first served. Each takes the lock in turn, once the
    /// notifier has released it.
    ///
    /// # Panics
    ///
    /// If the lock is not held ("Condition::notify() called without holding the condition's
    /// lock"), as asyncio raises `RuntimeError`.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, sync::Condition};
    ///
    /// run(async {
    ///     let cond = Condition::new();
    ///     let _g = cond.acquire().await;
    ///     cond.notify(1); // nobody waits: nothing happens
    /// });
    /// ```
    pub fn notify(&self, n: usize) {
        assert!(
            self.lock.locked(),
            "Condition::notify() called without holding the condition's lock; acquire it first"
        );
        notify(&self.waiters, n);
    }

    /// Wakes every waiter.
    ///
    /// # Panics
    ///
    /// If the lock is not held, as [`notify`](Condition::notify).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, sync::Condition};
    ///
    /// run(async {
    ///     let cond = Condition::new();
    ///     let _g = cond.acquire().await;
    ///     cond.notify_all();
    /// });
    /// ```
    pub fn notify_all(&self) {
        assert!(
            self.lock.locked(),
            "Condition::notify_all() called without holding the condition's lock; acquire it first"
        );
        notify(&self.waiters, usize::MAX);
    }

    /// How many tasks wait for a notification, counting notified ones that have not run yet
    /// (asyncio's `len(_waiters)`); not those already retaking the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(asyncio::sync::Condition::new().waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.waiters.borrow().len()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("locked", &self.locked())
            .field("waiters", &self.waiting())
            .finish()
    }
}

enum WaitState<'a> {
    /// Not polled yet: still holds the lock.
    Start(LockGuard<'a>),
    /// Lock released, queued for a notification.
    Waiting(Slot),
    /// Notified, taking the lock back.
    Relocking(LockAcquire<'a>),
    Done,
}

/// The future returned by [`Condition::wait`]: resolves to the guard, held again.
///
/// # Examples
///
/// ```
/// use asyncio::{run, spawn, yield_now, sync::{Condition, ConditionWait}};
/// use std::rc::Rc;
///
/// run(async {
///     let cond = Rc::new(Condition::new());
///     let c = cond.clone();
///     let t = spawn(async move {
///         let g = c.acquire().await;
///         let w: ConditionWait<'_> = c.wait(g);
///         drop(w.await);
///     });
///     yield_now().await;
///     let _g = cond.acquire().await;
///     cond.notify_all();
///     drop(_g);
///     t.await.unwrap();
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct ConditionWait<'a> {
    cond: &'a Condition,
    state: WaitState<'a>,
}

impl<'a> Future for ConditionWait<'a> {
    type Output = LockGuard<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a>> {
        let this = self.get_mut();
        let cond = this.cond;
        loop {
            match &mut this.state {
                WaitState::Start(_) => {
                    let mut slot = Slot::default();
                    slot.enqueue(&cond.waiters, cx, false);
                    let start = std::mem::replace(&mut this.state, WaitState::Waiting(slot));
                    if let WaitState::Start(guard) = start {
                        drop(guard); // releases the lock (to its first waiter, if any)
                    }
                    return Poll::Pending;
                }
                WaitState::Waiting(slot) => {
                    if slot.poll_notified(&cond.waiters, cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.state = WaitState::Relocking(cond.lock.acquire());
                }
                WaitState::Relocking(acquire) => {
                    let guard = match Pin::new(acquire).poll(cx) {
                        Poll::Ready(g) => g,
                        Poll::Pending => return Poll::Pending,
                    };
                    this.state = WaitState::Done;
                    return Poll::Ready(guard);
                }
                WaitState::Done => panic!("ConditionWait polled after completion"),
            }
        }
    }
}

impl Drop for ConditionWait<'_> {
    fn drop(&mut self) {
        let unused_wake = match &mut self.state {
            WaitState::Waiting(slot) => slot.leave(&self.cond.waiters),
            // Notified but dropped before holding the lock again.
            WaitState::Relocking(_) => true,
            WaitState::Start(_) | WaitState::Done => false,
        };
        // Release the lock (or our place in its queue) before passing the wake-up on.
        self.state = WaitState::Done;
        if unused_wake {
            notify(&self.cond.waiters, 1); // S1: the next waiter gets it
        }
    }
}

impl fmt::Debug for ConditionWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            WaitState::Start(_) => "start",
            WaitState::Waiting(_) => "waiting",
            WaitState::Relocking(_) => "relocking",
            WaitState::Done => "done",
        };
        f.debug_struct("ConditionWait")
            .field("state", &state)
            .finish()
    }
}
