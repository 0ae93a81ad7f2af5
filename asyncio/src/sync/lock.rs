//! [`Lock`]: asyncio's mutual-exclusion lock, handed over in FIFO order.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{notify_one, Slot, WaitList};

/// A lock for the tasks of one loop: `asyncio.Lock`.
///
/// [`acquire`](Lock::acquire) waits until the lock is free and returns a [`LockGuard`] that
/// releases it when dropped (`async with lock:`). Waiters get the lock in the order they asked
/// for it, with no barging: `release()` hands the lock straight to the first waiter, so it stays
/// [`locked`](Lock::locked) until that waiter runs, and a newcomer queues behind it. A waiter
/// cancelled after the lock was handed to it passes it on to the next one (rule S1); a dropped
/// `acquire()` future never keeps the lock.
///
/// Share it between tasks with an `Rc<Lock>`.
///
/// # Examples
///
/// ```
/// use asyncio::{run, spawn, yield_now, sync::Lock};
/// use std::{cell::RefCell, rc::Rc};
///
/// run(async {
///     let lock = Rc::new(Lock::new());
///     let log = Rc::new(RefCell::new(Vec::new()));
///     let tasks: Vec<_> = (0..2)
///         .map(|i| {
///             let (lock, log) = (lock.clone(), log.clone());
///             spawn(async move {
///                 let _guard = lock.acquire().await;
///                 log.borrow_mut().push(format!("{i} in"));
///                 yield_now().await; // the other task cannot enter meanwhile
///                 log.borrow_mut().push(format!("{i} out"));
///             })
///         })
///         .collect();
///     for t in tasks {
///         t.await.unwrap();
///     }
///     assert_eq!(*log.borrow(), ["0 in", "0 out", "1 in", "1 out"]);
/// });
/// ```
#[derive(Default)]
pub struct Lock {
    locked: Cell<bool>,
    waiters: RefCell<WaitList>,
}

impl Lock {
    /// A new, unlocked lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = asyncio::sync::Lock::new();
    /// assert!(!lock.locked());
    /// ```
    pub fn new() -> Lock {
        Lock::default()
    }

    /// Waits for the lock and takes it: the guard releases it when dropped. Dropping the future
    /// before it completes gives up the place in the queue (and the lock, if it had just been
    /// handed over).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, sync::Lock};
    ///
    /// run(async {
    ///     let lock = Lock::new();
    ///     let guard = lock.acquire().await;
    ///     assert!(lock.locked());
    ///     drop(guard);
    ///     assert!(!lock.locked());
    /// });
    /// ```
    pub fn acquire(&self) -> LockAcquire<'_> {
        LockAcquire {
            lock: self,
            slot: Slot::default(),
        }
    }

    /// Takes the lock if it is free and nobody is queued for it, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = asyncio::sync::Lock::new();
    /// let guard = lock.try_acquire().expect("free");
    /// assert!(lock.try_acquire().is_none());
    /// drop(guard);
    /// assert!(lock.try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<LockGuard<'_>> {
        if self.locked.get() {
            return None;
        }
        self.locked.set(true);
        Some(LockGuard { lock: self })
    }

    /// True while some task holds the lock, or it has been handed to a waiter that has not run
    /// yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = asyncio::sync::Lock::new();
    /// let _g = lock.try_acquire();
    /// assert!(lock.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.locked.get()
    }

    /// How many tasks are inside `acquire()`: queued, or handed the lock and not yet run
    /// (asyncio's `len(_waiters)`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(asyncio::sync::Lock::new().waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.waiters.borrow().len()
    }

    /// Releases a lock whose guard was given up with [`std::mem::forget`]: asyncio's
    /// `lock.release()`, for the acquire-here, release-there patterns a guard cannot express.
    /// The lock goes to the first waiter, if any.
    ///
    /// # Panics
    ///
    /// If the lock is not locked ("Lock::release() called on an unlocked Lock"), as asyncio
    /// raises `RuntimeError`.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, sync::Lock};
    ///
    /// run(async {
    ///     let lock = Lock::new();
    ///     std::mem::forget(lock.acquire().await);
    ///     assert!(lock.locked());
    ///     lock.release();
    ///     assert!(!lock.locked());
    /// });
    /// ```
    pub fn release(&self) {
        assert!(
            self.locked.get(),
            "Lock::release() called on an unlocked Lock; release only a lock you acquired"
        );
        self.hand_over();
    }

    /// The lock goes to the first waiter (it stays locked) or, with nobody waiting, is unlocked.
    fn hand_over(&self) {
        if !notify_one(&self.waiters) {
            self.locked.set(false);
        }
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked.get())
            .field("waiters", &self.waiting())
            .finish()
    }
}

/// The future returned by [`Lock::acquire`].
///
/// # Examples
///
/// ```
/// use asyncio::{run, sync::{Lock, LockAcquire}};
///
/// run(async {
///     let lock = Lock::new();
///     let acquiring: LockAcquire<'_> = lock.acquire();
///     let _guard = acquiring.await;
/// });
/// ```
#[must_use = "the lock is only taken when the future is awaited"]
pub struct LockAcquire<'a> {
    lock: &'a Lock,
    slot: Slot,
}

impl<'a> Future for LockAcquire<'a> {
    type Output = LockGuard<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a>> {
        let this = self.get_mut();
        let lock = this.lock;
        if this.slot.is_queued() {
            // Notified means the lock was handed to us: `locked` stayed true.
            return this
                .slot
                .poll_notified(&lock.waiters, cx)
                .map(|()| LockGuard { lock });
        }
        if !lock.locked.get() {
            lock.locked.set(true);
            return Poll::Ready(LockGuard { lock });
        }
        this.slot.enqueue(&lock.waiters, cx, false);
        Poll::Pending
    }
}

impl Drop for LockAcquire<'_> {
    fn drop(&mut self) {
        if self.slot.leave(&self.lock.waiters) {
            // Handed the lock, dropped before taking it: pass it on (S1).
            self.lock.hand_over();
        }
    }
}

impl fmt::Debug for LockAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockAcquire")
            .field("queued", &self.slot.is_queued())
            .finish()
    }
}

/// Proof that the lock is held; dropping it releases the lock (to the first waiter, if any).
///
/// # Examples
///
/// ```
/// use asyncio::{run, sync::{Lock, LockGuard}};
///
/// run(async {
///     let lock = Lock::new();
///     {
///         let _guard: LockGuard<'_> = lock.acquire().await;
///         assert!(lock.locked());
///     }
///     assert!(!lock.locked());
/// });
/// ```
#[must_use = "dropping the guard releases the lock at once"]
pub struct LockGuard<'a> {
    pub(super) lock: &'a Lock,
}

impl LockGuard<'_> {
    /// The lock this guard holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = asyncio::sync::Lock::new();
    /// let guard = lock.try_acquire().unwrap();
    /// assert!(std::ptr::eq(guard.lock(), &lock));
    /// ```
    pub fn lock(&self) -> &Lock {
        self.lock
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.lock.hand_over();
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}
