//! Sleeping: `sleep`, `sleep_until`, `yield_now`.
//!
//! A sleep is armed on the running loop's timers when first polled (as asyncio's `sleep` starts
//! when awaited) and disarmed when dropped, so an abandoned sleep costs O(1) and never fires.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::runtime::{self, timers::TimerKey};

/// Waits for `duration`: asyncio's `await asyncio.sleep(seconds)`.
///
/// Completes no earlier than `duration` after it is first polled; sleeps with the same deadline
/// wake in the order they were armed (rule L5). `sleep(Duration::ZERO)` is [`yield_now`]: exactly
/// one trip round the loop.
///
/// # Panics
/// When polled outside a running event loop.
///
/// # Examples
///
/// ```
/// use asyncio::{run, sleep};
/// use std::time::{Duration, Instant};
///
/// run(async {
///     let start = Instant::now();
///     sleep(Duration::from_millis(5)).await;
///     assert!(start.elapsed() >= Duration::from_millis(5));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        state: if duration.is_zero() {
            State::Yield
        } else {
            State::After(duration)
        },
    }
}

/// Waits until `deadline` (a time of the loop's clock, [`EventLoop::time`](crate::EventLoop::time)).
/// A deadline already past completes on the next turn.
///
/// # Panics
/// When polled outside a running event loop.
///
/// # Examples
///
/// ```
/// use asyncio::{run, sleep_until};
/// use std::time::{Duration, Instant};
///
/// run(async {
///     let deadline = Instant::now() + Duration::from_millis(3);
///     sleep_until(deadline).await;
///     assert!(Instant::now() >= deadline);
/// });
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        state: State::Until(deadline),
    }
}

/// Gives every other ready task one turn, then resumes: `await asyncio.sleep(0)`.
///
/// # Panics
/// Never: it needs no timer, so it also works outside the loop (it then returns on the second
/// poll).
///
/// # Examples
///
/// ```
/// use asyncio::{run, spawn, yield_now};
/// use std::{cell::Cell, rc::Rc};
///
/// run(async {
///     let step = Rc::new(Cell::new(0));
///     let s = step.clone();
///     spawn(async move { s.set(1) });
///     assert_eq!(step.get(), 0);
///     yield_now().await;
///     assert_eq!(step.get(), 1);
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`]: pending once (after waking its task, which goes to the
/// back of the run queue), then ready. One byte, where a [`Sleep`] is 24: `sleep(Duration::ZERO)`
/// behaves the same, but `yield_now` is what a hot loop should use.
///
/// # Examples
///
/// ```
/// use asyncio::{run, yield_now, YieldNow};
///
/// let step: YieldNow = yield_now();
/// run(step);
/// ```
#[derive(Debug)]
#[must_use = "yield_now does nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// # Examples
///
/// ```
/// use asyncio::{run, sleep, Sleep};
/// use std::time::Duration;
///
/// let nap: Sleep = sleep(Duration::from_millis(1));
/// run(nap);
/// ```
#[derive(Debug)]
#[must_use = "a sleep does nothing unless awaited"]
pub struct Sleep {
    state: State,
}

#[derive(Debug)]
enum State {
    Yield,
    Yielded,
    After(Duration),
    Until(Instant),
    /// A `TimerKey`, flattened with the loop's id so that the state fits in 16 bytes.
    Armed {
        seq: u64,
        key: u32,
        loop_id: u32,
    },
    Done,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let deadline = match this.state {
            State::Yield => {
                this.state = State::Yielded;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            State::Yielded | State::Done => {
                this.state = State::Done;
                return Poll::Ready(());
            }
            State::After(d) => {
                let core = runtime::current_core("sleep() polled");
                let deadline = core.now().checked_add(d).unwrap_or_else(|| {
                    panic!("sleep({d:?}) overflows the clock; use a shorter duration")
                });
                return this.arm(&core, deadline, cx);
            }
            State::Until(deadline) => deadline,
            State::Armed { seq, key, loop_id } => {
                let key = TimerKey { key, seq };
                let core = runtime::current_core("sleep() polled");
                // Its timer key means nothing on another loop, where it could even name another
                // sleep's timer. asyncio refuses a future of another loop; so do we.
                assert!(
                    core.id() == loop_id,
                    "a sleep armed on one event loop was polled on another: a Sleep belongs to \
                     the loop that first polled it; create a new sleep on this loop"
                );
                let mut timers = core.timers.borrow_mut();
                if !timers.is_armed(key) {
                    this.state = State::Done;
                    return Poll::Ready(());
                }
                timers.update_waker(key, cx.waker());
                return Poll::Pending;
            }
        };
        let core = runtime::current_core("sleep() polled");
        this.arm(&core, deadline, cx)
    }
}

impl Sleep {
    fn arm(&mut self, core: &runtime::Core, deadline: Instant, cx: &Context<'_>) -> Poll<()> {
        let key = core
            .timers
            .borrow_mut()
            .insert(deadline, cx.waker().clone());
        self.state = State::Armed {
            seq: key.seq,
            key: key.key,
            loop_id: core.id(),
        };
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let State::Armed { seq, key, loop_id } = self.state {
            let waker = runtime::try_with_core(|core| {
                if core.id() == loop_id {
                    core.timers.borrow_mut().remove(TimerKey { key, seq })
                } else {
                    None
                }
            });
            drop(waker);
        }
    }
}
