//! [`Event`]: a flag tasks can wait for.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{notify, Slot, WaitList};

/// A flag that tasks wait on until another task sets it: `asyncio.Event`.
///
/// [`set`](Event::set) wakes every waiter (in the order they started waiting) and lets later
/// [`wait`](Event::wait)s through at once, until [`clear`](Event::clear). A waiter woken by
/// `set()` completes even if the event is cleared again before it runs.
///
/// # Examples
///
/// ```
/// use asyncio::{run, spawn, sync::Event};
/// use std::rc::Rc;
///
/// run(async {
///     let ready = Rc::new(Event::new());
///     let r = ready.clone();
///     let waiter = spawn(async move {
///         r.wait().await;
///         "woken"
///     });
///     ready.set();
///     assert_eq!(waiter.await, Ok("woken"));
/// });
/// ```
#[derive(Default)]
pub struct Event {
    set: Cell<bool>,
    waiters: RefCell<WaitList>,
}

impl Event {
    /// A new event, not set.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!asyncio::sync::Event::new().is_set());
    /// ```
    pub fn new() -> Event {
        Event::default()
    }

    /// True once [`set`](Event::set), until [`clear`](Event::clear).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = asyncio::sync::Event::new();
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.set.get()
    }

    /// Sets the flag and wakes every waiter. Setting a set event does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, sync::Event};
    ///
    /// run(async {
    ///     let e = Event::new();
    ///     e.set();
    ///     e.wait().await; // returns at once
    /// });
    /// ```
    pub fn set(&self) {
        if !self.set.replace(true) {
            notify(&self.waiters, usize::MAX);
        }
    }

    /// Resets the flag: later [`wait`](Event::wait)s block until the next [`set`](Event::set).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = asyncio::sync::Event::new();
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// ```
    pub fn clear(&self) {
        self.set.set(false);
    }

    /// Waits until the event is set; completes at once if it already is. asyncio's `wait()`
    /// returns `True` whenever it returns; this returns `()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, spawn, sync::Event};
    /// use std::rc::Rc;
    ///
    /// run(async {
    ///     let e = Rc::new(Event::new());
    ///     let setter = e.clone();
    ///     spawn(async move { setter.set() });
    ///     e.wait().await;
    ///     assert!(e.is_set());
    /// });
    /// ```
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            slot: Slot::default(),
        }
    }

    /// How many tasks are inside `wait()`, woken or not (asyncio's `len(_waiters)`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(asyncio::sync::Event::new().waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.waiters.borrow().len()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.set.get())
            .field("waiters", &self.waiting())
            .finish()
    }
}

/// The future returned by [`Event::wait`].
///
/// # Examples
///
/// ```
/// use asyncio::{run, sync::{Event, EventWait}};
///
/// run(async {
///     let e = Event::new();
///     e.set();
///     let w: EventWait<'_> = e.wait();
///     w.await;
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait<'a> {
    event: &'a Event,
    slot: Slot,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.slot.is_queued() {
            return this.slot.poll_notified(&this.event.waiters, cx);
        }
        if this.event.set.get() {
            return Poll::Ready(());
        }
        this.slot.enqueue(&this.event.waiters, cx, false);
        Poll::Pending
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        // Every waiter is woken by set(): an unused wake-up has nobody to go to.
        self.slot.leave(&self.event.waiters);
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait")
            .field("queued", &self.slot.is_queued())
            .finish()
    }
}
