//! [`Semaphore`] and [`BoundedSemaphore`]: counted permits, handed over in FIFO order.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{notify_one, Slot, WaitList};

/// A counter of permits for the tasks of one loop: `asyncio.Semaphore`.
///
/// [`acquire`](Semaphore::acquire) takes a permit, waiting while there is none, and returns a
/// [`SemaphorePermit`] that gives it back when dropped. Waiters are served in FIFO order with no
/// barging: [`release`](Semaphore::release) hands its permit straight to the first waiter, and a
/// newcomer never overtakes a queued task. A waiter cancelled after a permit was handed to it
/// passes the permit on (rule S1); a dropped `acquire()` never leaks a permit.
///
/// `Semaphore::new(0)` is valid: it starts with no permits, so every `acquire()` waits for a
/// [`release`](Semaphore::release). The count has no upper bound (see [`BoundedSemaphore`]).
///
/// # Examples
///
/// ```
/// use asyncio::{run, spawn, yield_now, sync::Semaphore};
/// use std::{cell::Cell, rc::Rc};
///
/// run(async {
///     let sem = Rc::new(Semaphore::new(2));
///     let (running, peak) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
///     let tasks: Vec<_> = (0..5)
///         .map(|_| {
///             let (sem, running, peak) = (sem.clone(), running.clone(), peak.clone());
///             spawn(async move {
///                 let _permit = sem.acquire().await;
///                 running.set(running.get() + 1);
///                 peak.set(peak.get().max(running.get()));
///                 yield_now().await;
///                 running.set(running.get() - 1);
///             })
///         })
///         .collect();
///     for t in tasks {
///         t.await.unwrap();
///     }
///     assert_eq!(peak.get(), 2);
/// });
/// ```
pub struct Semaphore {
    /// Free permits. A release goes to the first queued task rather than here; permits can be
    /// free while tasks queue only in the moment between a woken task's wake-up and its run,
    /// and that task hands them on when it runs (`wake_while_free`).
    value: Cell<usize>,
    waiters: RefCell<WaitList>,
}

impl Semaphore {
    /// A semaphore holding `permits` permits; 0 is allowed (every acquire waits for a release).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = asyncio::sync::Semaphore::new(0);
    /// assert!(sem.locked());
    /// ```
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            value: Cell::new(permits),
            waiters: RefCell::default(),
        }
    }

    /// Waits for a permit and takes it; the permit is released when dropped. Dropping the
    /// future before it completes gives up the place in the queue (and passes on a permit that
    /// had just been handed to it).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, sync::Semaphore};
    ///
    /// run(async {
    ///     let sem = Semaphore::new(1);
    ///     let permit = sem.acquire().await;
    ///     assert!(sem.locked());
    ///     drop(permit);
    ///     assert_eq!(sem.available(), 1);
    /// });
    /// ```
    pub fn acquire(&self) -> SemaphoreAcquire<'_> {
        SemaphoreAcquire {
            sem: self,
            slot: Slot::default(),
        }
    }

    /// Takes a permit if one is free and no task is queued or already woken for one, without
    /// waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = asyncio::sync::Semaphore::new(1);
    /// let p = sem.try_acquire().expect("one permit");
    /// assert!(sem.try_acquire().is_none());
    /// drop(p);
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        if self.locked() {
            return None;
        }
        self.value.set(self.value.get() - 1);
        Some(SemaphorePermit { sem: self })
    }

    /// True when an `acquire()` now would wait: no permit is free, or tasks are queued or woken
    /// for one (they come first, as in asyncio).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = asyncio::sync::Semaphore::new(1);
    /// assert!(!sem.locked());
    /// let _p = sem.try_acquire();
    /// assert!(sem.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.value.get() == 0 || self.waiters.borrow().len() > 0
    }

    /// Free permits right now (asyncio's private `_value`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(asyncio::sync::Semaphore::new(3).available(), 3);
    /// ```
    pub fn available(&self) -> usize {
        self.value.get()
    }

    /// How many tasks are inside `acquire()`: queued, or handed a permit and not yet run
    /// (asyncio's `len(_waiters)`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(asyncio::sync::Semaphore::new(0).waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.waiters.borrow().len()
    }

    /// Adds a permit: it goes to the first waiter, if any, or joins the free ones. This is
    /// asyncio's `release()`; a [`SemaphorePermit`] calls it when dropped, so call it yourself
    /// only for a permit given up with [`SemaphorePermit::forget`] or one you mean to add.
    ///
    /// # Panics
    ///
    /// If the count would overflow `usize`.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = asyncio::sync::Semaphore::new(0);
    /// sem.release();
    /// assert_eq!(sem.available(), 1);
    /// ```
    pub fn release(&self) {
        if !notify_one(&self.waiters) {
            let v = self.value.get().checked_add(1);
            self.value
                .set(v.expect("Semaphore::release() overflowed the permit count"));
        }
    }
}

impl Semaphore {
    /// Hands free permits to queued tasks, first come first served.
    fn wake_while_free(&self) {
        while self.value.get() > 0 && self.waiters.borrow().waiting() > 0 {
            self.value.set(self.value.get() - 1);
            notify_one(&self.waiters);
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.value.get())
            .field("waiters", &self.waiting())
            .finish()
    }
}

/// The future returned by [`Semaphore::acquire`] and [`BoundedSemaphore::acquire`].
///
/// # Examples
///
/// ```
/// use asyncio::{run, sync::{Semaphore, SemaphoreAcquire}};
///
/// run(async {
///     let sem = Semaphore::new(1);
///     let fut: SemaphoreAcquire<'_> = sem.acquire();
///     let _permit = fut.await;
/// });
/// ```
#[must_use = "no permit is taken unless the future is awaited"]
pub struct SemaphoreAcquire<'a> {
    sem: &'a Semaphore,
    slot: Slot,
}

impl<'a> Future for SemaphoreAcquire<'a> {
    type Output = SemaphorePermit<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        let this = self.get_mut();
        let sem = this.sem;
        if this.slot.is_queued() {
            // Notified means a permit was handed to us by release().
            if this.slot.poll_notified(&sem.waiters, cx).is_pending() {
                return Poll::Pending;
            }
            // Tasks that queued while our wake-up was in flight may now take the free permits.
            sem.wake_while_free();
            return Poll::Ready(SemaphorePermit { sem });
        }
        if let Some(permit) = sem.try_acquire() {
            return Poll::Ready(permit);
        }
        this.slot.enqueue(&sem.waiters, cx, false);
        Poll::Pending
    }
}

impl Drop for SemaphoreAcquire<'_> {
    fn drop(&mut self) {
        if self.slot.leave(&self.sem.waiters) {
            // Handed a permit, dropped before taking it: pass it on (S1).
            self.sem.release();
        }
    }
}

impl fmt::Debug for SemaphoreAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreAcquire")
            .field("queued", &self.slot.is_queued())
            .finish()
    }
}

/// One permit of a [`Semaphore`] (or [`BoundedSemaphore`]); dropping it releases the permit.
///
/// # Examples
///
/// ```
/// use asyncio::sync::{Semaphore, SemaphorePermit};
///
/// let sem = Semaphore::new(1);
/// let permit: SemaphorePermit<'_> = sem.try_acquire().unwrap();
/// drop(permit);
/// assert_eq!(sem.available(), 1);
/// ```
#[must_use = "dropping the permit releases it at once"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken without a guard: asyncio's acquire-without-release. Give it back
    /// later with [`Semaphore::release`] (or [`BoundedSemaphore::release`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = asyncio::sync::Semaphore::new(1);
    /// sem.try_acquire().unwrap().forget();
    /// assert!(sem.locked());
    /// sem.release();
    /// assert!(!sem.locked());
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.release();
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

/// A [`Semaphore`] that refuses to be released above its initial count:
/// `asyncio.BoundedSemaphore`.
///
/// # Examples
///
/// ```
/// use asyncio::{run, sync::BoundedSemaphore};
///
/// run(async {
///     let sem = BoundedSemaphore::new(1);
///     sem.acquire().await.forget();
///     sem.release(); // fine: gives the permit back
///     let over = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sem.release()));
///     assert!(over.is_err(), "a second release would exceed the bound");
/// });
/// ```
pub struct BoundedSemaphore {
    sem: Semaphore,
    bound: usize,
}

impl BoundedSemaphore {
    /// A semaphore with `permits` permits that can never hold more. 0 is allowed (and then
    /// every [`release`](BoundedSemaphore::release) is an error).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = asyncio::sync::BoundedSemaphore::new(2);
    /// assert_eq!(sem.available(), 2);
    /// ```
    pub fn new(permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            sem: Semaphore::new(permits),
            bound: permits,
        }
    }

    /// See [`Semaphore::acquire`].
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, sync::BoundedSemaphore};
    ///
    /// run(async {
    ///     let sem = BoundedSemaphore::new(1);
    ///     let _p = sem.acquire().await;
    ///     assert!(sem.locked());
    /// });
    /// ```
    pub fn acquire(&self) -> SemaphoreAcquire<'_> {
        self.sem.acquire()
    }

    /// See [`Semaphore::try_acquire`].
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = asyncio::sync::BoundedSemaphore::new(1);
    /// assert!(sem.try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.sem.try_acquire()
    }

    /// True when no permit is free.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(asyncio::sync::BoundedSemaphore::new(0).locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.sem.locked()
    }

    /// Free permits right now.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(asyncio::sync::BoundedSemaphore::new(4).available(), 4);
    /// ```
    pub fn available(&self) -> usize {
        self.sem.available()
    }

    /// How many tasks are inside `acquire()` (see [`Semaphore::waiting`]).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(asyncio::sync::BoundedSemaphore::new(1).waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.sem.waiting()
    }

    /// Gives back a permit taken with [`SemaphorePermit::forget`]; it goes to the first waiter,
    /// if any.
    ///
    /// # Panics
    ///
    /// If every permit is already free ("BoundedSemaphore released too many times"), as asyncio
    /// raises `ValueError`.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = asyncio::sync::BoundedSemaphore::new(1);
    /// sem.try_acquire().unwrap().forget();
    /// sem.release();
    /// assert_eq!(sem.available(), 1);
    /// ```
    pub fn release(&self) {
        assert!(
            self.sem.available() < self.bound,
            "BoundedSemaphore released too many times: all {} permits are already free",
            self.bound
        );
        self.sem.release();
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("available", &self.sem.available())
            .field("bound", &self.bound)
            .field("waiters", &self.sem.waiting())
            .finish()
    }
}
