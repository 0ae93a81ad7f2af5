//! Timeouts: `timeout`, `timeout_at`, `wait_for`, and the reschedulable `timeout_scope`.
//!
//! A [`Timeout`] polls its inner future and a [`Sleep`] armed for its deadline. Its states:
//!
//! | state      | on poll                                                                   |
//! |------------|---------------------------------------------------------------------------|
//! | `Running`  | deadline moved? re-arm. Timer fired (not on the first poll)? → `Draining`. Else poll the inner future: ready → `Done` with `Ok` |
//! | `Draining` | the inner future was dropped; wait until every task and gather its drop cancelled has finished (rule TO2), then `Done` with `Err(Elapsed)` |
//! | `Done`     | polled again: panic                                                        |
//!
//! The first poll always polls the inner future before looking at the clock, so
//! `timeout(ZERO, ready)` returns the value (TO1). After that the timer is looked at first, so of
//! nested timeouts that expire on the same turn the outermost reports `Elapsed` (TO3). A
//! cancellation from outside is the `Timeout` being dropped: it drops the inner future like any
//! other drop and never turns into `Elapsed`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use crate::error::Elapsed;
use crate::runtime;
use crate::runtime::drain::{self, Drain};
use crate::time::{sleep_until, Sleep};

/// Runs `future` with a time limit: its output if it completes within `duration`, otherwise it is
/// cancelled (dropped) and `Err(Elapsed)` comes back (asyncio's `async with asyncio.timeout(d)`).
/// `duration` is a [`Duration`] or `None` for no limit.
///
/// The clock starts at the first poll. Cancellation travels through the inner future as through
/// any `await` (T5, G14): a [`Task`](crate::Task) or [`Gather`](crate::Gather) it was awaiting is
/// cancelled, and `Elapsed` is returned only once they have finished. A future that is ready on
/// its first poll wins even against a zero duration. A duration too long for the clock means no
/// limit. Wrap a task in [`shield`](crate::shield) to time out the wait without cancelling it.
///
/// # Examples
///
/// ```
/// use asyncio::{sleep, timeout, EventLoop};
/// use std::time::Duration;
///
/// EventLoop::with_virtual_time().run_until_complete(async {
///     let quick = timeout(Duration::from_secs(1), async { 7 }).await;
///     assert_eq!(quick, Ok(7));
///     let slow = timeout(Duration::from_secs(1), sleep(Duration::from_secs(60))).await;
///     assert!(slow.is_err());
/// });
/// ```
pub fn timeout<F: IntoFuture>(
    duration: impl Into<Option<Duration>>,
    future: F,
) -> Timeout<F::IntoFuture> {
    let when = match duration.into() {
        Some(d) => When::After(d),
        None => When::At(None),
    };
    Timeout::new(when, future.into_future())
}

/// Runs `future` until `deadline`, a time of the loop's clock ([`now`](crate::now)); `None` means
/// no limit (asyncio's `asyncio.timeout_at(when)`). Otherwise as [`timeout`].
///
/// # Examples
///
/// ```
/// use asyncio::{now, sleep, timeout_at, EventLoop};
/// use std::time::Duration;
///
/// EventLoop::with_virtual_time().run_until_complete(async {
///     let deadline = now() + Duration::from_secs(10);
///     let out = timeout_at(Some(deadline), sleep(Duration::from_secs(20))).await;
///     assert!(out.is_err());
///     assert_eq!(now(), deadline);
/// });
/// ```
pub fn timeout_at<F: IntoFuture>(deadline: Option<Instant>, future: F) -> Timeout<F::IntoFuture> {
    Timeout::new(When::At(deadline), future.into_future())
}

/// asyncio's `wait_for(aw, timeout)`: [`timeout`] with the arguments in asyncio's order. A task
/// passed to it is cancelled on expiry, and `Err(Elapsed)` comes back only after that
/// cancellation has finished (rule TO2).
///
/// One difference from CPython: with a zero timeout, CPython cancels a coroutine before it ever
/// starts; here the future is polled once first (so a finished task still gives its output, as in
/// CPython), which runs a plain future up to its first suspension.
///
/// # Examples
///
/// ```
/// use asyncio::{sleep, spawn, wait_for, EventLoop};
/// use std::time::Duration;
///
/// EventLoop::with_virtual_time().run_until_complete(async {
///     let mut slow = spawn(sleep(Duration::from_secs(60)));
///     assert!(wait_for(&mut slow, Duration::from_secs(1)).await.is_err());
///     assert!(slow.is_cancelled(), "finished cancelling before wait_for returned");
/// });
/// ```
pub fn wait_for<F: IntoFuture>(
    future: F,
    duration: impl Into<Option<Duration>>,
) -> Timeout<F::IntoFuture> {
    timeout(duration, future)
}

/// A timeout whose deadline the body can read and move while it runs: asyncio's
/// `async with asyncio.timeout_at(when) as cm:` with `cm.reschedule(..)`, `cm.when()` and
/// `cm.expired()`. `body` receives the [`TimeoutHandle`]; `deadline` `None` starts with no limit.
///
/// # Examples
///
/// ```
/// use asyncio::{now, sleep, timeout_scope, EventLoop};
/// use std::time::Duration;
///
/// EventLoop::with_virtual_time().run_until_complete(async {
///     let start = now();
///     let out = timeout_scope(None, |cm| async move {
///         cm.reschedule(Some(now() + Duration::from_secs(5)));
///         sleep(Duration::from_secs(60)).await;
///     })
///     .await;
///     assert!(out.is_err());
///     assert_eq!(now() - start, Duration::from_secs(5));
/// });
/// ```
pub fn timeout_scope<B, F>(deadline: Option<Instant>, body: B) -> Timeout<F::IntoFuture>
where
    B: FnOnce(TimeoutHandle) -> F,
    F: IntoFuture,
{
    let handle = TimeoutHandle(Rc::new(Shared {
        when: Cell::new(deadline),
        state: Cell::new(ScopeState::Running),
        waker: RefCell::new(None),
    }));
    let future = body(handle.clone()).into_future();
    Timeout::new(When::Handle(handle), future)
}

/// Reads and moves the deadline of a running [`timeout_scope`] (asyncio's `Timeout` context
/// manager object). Cheap to clone; usable from any task on the loop.
///
/// # Examples
///
/// ```
/// use asyncio::{now, timeout_scope, yield_now, EventLoop};
/// use std::time::Duration;
///
/// EventLoop::with_virtual_time().run_until_complete(async {
///     let out = timeout_scope(None, |cm| async move {
///         assert_eq!(cm.when(), None);
///         let when = now() + Duration::from_secs(1);
///         cm.reschedule(Some(when));
///         assert_eq!(cm.when(), Some(when));
///         yield_now().await;
///         cm.expired()
///     })
///     .await;
///     assert_eq!(out, Ok(false));
/// });
/// ```
#[derive(Clone)]
pub struct TimeoutHandle(Rc<Shared>);

struct Shared {
    when: Cell<Option<Instant>>,
    state: Cell<ScopeState>,
    /// The timeout's task, woken when the deadline moves so the timer is re-armed.
    waker: RefCell<Option<Waker>>,
}

impl TimeoutHandle {
    /// The current deadline, `None` for no limit (asyncio's `Timeout.when()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{timeout_scope, EventLoop};
    ///
    /// let lp = EventLoop::with_virtual_time();
    /// let when = lp.run_until_complete(timeout_scope(None, |cm| async move { cm.when() }));
    /// assert_eq!(when, Ok(None));
    /// ```
    pub fn when(&self) -> Option<Instant> {
        self.0.when.get()
    }

    /// Moves the deadline (asyncio's `Timeout.reschedule(when)`); `None` removes the limit. A
    /// deadline already past expires on the next turn.
    ///
    /// # Panics
    /// Once the timeout has expired or finished (asyncio raises `RuntimeError`): the deadline no
    /// longer governs anything.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{now, sleep, timeout_scope, EventLoop};
    /// use std::time::Duration;
    ///
    /// EventLoop::with_virtual_time().run_until_complete(async {
    ///     let out = timeout_scope(Some(now() + Duration::from_secs(1)), |cm| async move {
    ///         cm.reschedule(None); // no limit after all
    ///         sleep(Duration::from_secs(10)).await;
    ///         "finished"
    ///     })
    ///     .await;
    ///     assert_eq!(out, Ok("finished"));
    /// });
    /// ```
    pub fn reschedule(&self, deadline: Option<Instant>) {
        match self.0.state.get() {
            ScopeState::Running => {}
            ScopeState::Expired => panic!(
                "TimeoutHandle::reschedule() called after the timeout expired: its body was already \
                 cancelled; start a new timeout instead"
            ),
            ScopeState::Finished => panic!(
                "TimeoutHandle::reschedule() called after the timeout finished: its body already \
                 completed or was dropped; start a new timeout instead"
            ),
        }
        self.0.when.set(deadline);
        if let Some(w) = self.0.waker.borrow().as_ref() {
            w.wake_by_ref();
        }
    }

    /// True once the deadline passed and the body was cancelled (asyncio's `Timeout.expired()`),
    /// by this timeout or by an outer one that expired at the same time.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{now, sleep, timeout_scope, EventLoop};
    /// use std::{cell::RefCell, time::Duration};
    ///
    /// EventLoop::with_virtual_time().run_until_complete(async {
    ///     let seen = RefCell::new(None);
    ///     let out = timeout_scope(Some(now()), |cm| {
    ///         *seen.borrow_mut() = Some(cm.clone());
    ///         sleep(Duration::from_secs(1))
    ///     })
    ///     .await;
    ///     assert!(out.is_err());
    ///     assert!(seen.borrow().as_ref().unwrap().expired());
    /// });
    /// ```
    pub fn expired(&self) -> bool {
        self.0.state.get() == ScopeState::Expired
    }
}

impl fmt::Debug for TimeoutHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutHandle")
            .field("when", &self.when())
            .field("expired", &self.expired())
            .finish()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ScopeState {
    Running,
    /// The deadline passed and the body was cancelled.
    Expired,
    /// The body completed, or the timeout was dropped before either.
    Finished,
}

/// Where a timeout's deadline comes from.
enum When {
    /// `timeout(d, ..)`: `d` after the first poll.
    After(Duration),
    At(Option<Instant>),
    Handle(TimeoutHandle),
}

enum Phase {
    Running { polled: bool },
    Draining(Rc<Drain>),
    Done,
}

pin_project! {
    /// The future of [`timeout`], [`timeout_at`], [`wait_for`] and [`timeout_scope`]: the inner
    /// future's output, or `Err(Elapsed)` once the deadline passed and the inner future's
    /// cancellation has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{timeout, Timeout, EventLoop};
    /// use std::{future::Ready, time::Duration};
    ///
    /// let t: Timeout<Ready<u8>> = timeout(Duration::from_secs(1), std::future::ready(3));
    /// assert_eq!(EventLoop::with_virtual_time().run_until_complete(t), Ok(3));
    /// ```
    #[must_use = "a timeout does nothing unless awaited"]
    pub struct Timeout<F> {
        #[pin]
        inner: Option<F>,
        when: When,
        // The timer, and the deadline it was armed for.
        timer: Option<(Instant, Sleep)>,
        phase: Phase,
    }

    impl<F> PinnedDrop for Timeout<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped while waiting for the cancellations it caused: whoever drops us waits.
            if let Phase::Draining(drain) = &this.phase {
                drain.hand_on();
            }
            if let When::Handle(h) = &this.when {
                h.0.waker.take();
                if h.0.state.get() == ScopeState::Running {
                    // Dropped by an outer timeout's expiry on a turn when our deadline had passed
                    // too: ours expired as well. Any other drop after the deadline (a select, a
                    // cancellation from outside) is not an expiry (TO3).
                    let passed = drain::is_collecting()
                        && h.when().is_some_and(|d| {
                            runtime::try_with_core(|core| core.now() >= d).unwrap_or(false)
                        });
                    h.0.state.set(if passed {
                        ScopeState::Expired
                    } else {
                        ScopeState::Finished
                    });
                }
            }
        }
    }
}

impl<F> Timeout<F> {
    fn new(when: When, inner: F) -> Self {
        Timeout {
            inner: Some(inner),
            when,
            timer: None,
            phase: Phase::Running { polled: false },
        }
    }

    /// The deadline, once known: `None` before the first poll of a [`timeout`] (its clock starts
    /// then) and for no limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{timeout_at, EventLoop};
    ///
    /// let lp = EventLoop::new();
    /// let deadline = lp.time();
    /// assert_eq!(timeout_at(Some(deadline), async {}).deadline(), Some(deadline));
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        match &self.when {
            When::After(_) => None,
            When::At(at) => *at,
            When::Handle(h) => h.when(),
        }
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = match this.phase {
            Phase::Running { polled } => *polled,
            Phase::Draining(_) => return poll_drain(this.phase, cx),
            Phase::Done => panic!("a Timeout was polled after it completed"),
        };
        if let When::After(d) = *this.when {
            let now = runtime::current_core("timeout() polled").now();
            *this.when = When::At(now.checked_add(d));
        }
        if let When::Handle(h) = &this.when {
            let mut slot = h.0.waker.borrow_mut();
            if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *slot = Some(cx.waker().clone());
            }
        }
        if polled && poll_timer(this.when, this.timer, cx).is_ready() {
            if let When::Handle(h) = &this.when {
                h.0.state.set(ScopeState::Expired);
                h.0.waker.take();
            }
            let mut inner = this.inner;
            *this.phase = Phase::Draining(runtime::drain::collect(|| inner.set(None)));
            *this.timer = None;
            return poll_drain(this.phase, cx);
        }
        *this.phase = Phase::Running { polled: true };
        let inner = this
            .inner
            .as_pin_mut()
            .expect("a running timeout has its future");
        if let Poll::Ready(out) = inner.poll(cx) {
            *this.phase = Phase::Done;
            *this.timer = None;
            if let When::Handle(h) = &this.when {
                h.0.state.set(ScopeState::Finished);
                h.0.waker.take();
            }
            return Poll::Ready(Ok(out));
        }
        // Arm the timer on the first poll, or re-arm it if the body moved the deadline; it cannot
        // fire on this poll.
        if !polled || matches!(this.when, When::Handle(_)) {
            let _ = poll_timer(this.when, this.timer, cx);
        }
        Poll::Pending
    }
}

/// Polls the timer for the current deadline, first arming it, or re-arming it if the deadline
/// moved: ready once the deadline passed.
fn poll_timer(when: &When, timer: &mut Option<(Instant, Sleep)>, cx: &mut Context<'_>) -> Poll<()> {
    let deadline = match when {
        When::At(at) => *at,
        When::Handle(h) => h.when(),
        When::After(_) => unreachable!("resolved at the first poll"),
    };
    let Some(deadline) = deadline else {
        *timer = None;
        return Poll::Pending;
    };
    if !matches!(timer, Some((at, _)) if *at == deadline) {
        *timer = Some((deadline, sleep_until(deadline)));
    }
    let (_, sleep) = timer.as_mut().expect("armed above");
    Pin::new(sleep).poll(cx)
}

/// `Err(Elapsed)` once every cancellation the expiry caused has finished.
fn poll_drain<T>(phase: &mut Phase, cx: &mut Context<'_>) -> Poll<Result<T, Elapsed>> {
    let Phase::Draining(drain) = phase else {
        unreachable!("only called while draining")
    };
    if !drain.is_empty() {
        drain.register(cx.waker());
        return Poll::Pending;
    }
    *phase = Phase::Done;
    Poll::Ready(Err(Elapsed::new()))
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.phase {
            Phase::Running { .. } => "running",
            Phase::Draining(_) => "cancelling",
            Phase::Done => "done",
        };
        f.debug_struct("Timeout")
            .field("deadline", &self.deadline())
            .field("state", &format_args!("{state}"))
            .finish()
    }
}
