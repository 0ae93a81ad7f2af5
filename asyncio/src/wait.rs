//! `wait` and `as_completed`: watch several tasks without gathering them (rule W1).
//!
//! Neither cancels anything: not on return, not on timeout, not when its own await is abandoned
//! (asyncio's `wait` does not shield, but it does not propagate either: the tasks run on).
//!
//! # How it works
//! Both link every unfinished task to a small shared state with the task's [`Listener`] slot,
//! the O(1) path a gather uses: when a task finishes, the loop tells the state which one, and the
//! waiting side looks at that task alone. So watching N tasks costs O(N) in total, however they
//! finish. When `wait` returns (or is dropped) it unlinks the tasks still pending, so they can be
//! awaited, gathered or waited again.

use std::borrow::BorrowMut;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::future::{poll_fn, Future};
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_core::Stream;

use crate::error::TaskError;
use crate::gather::{Child, IntoChild, Plain, Try};
use crate::runtime::Listener;
use crate::task::Task;
use crate::time::{sleep, Sleep};

/// When [`wait`] returns: asyncio's `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`.
///
/// # Examples
///
/// ```
/// use asyncio::{run, spawn, wait, ReturnWhen};
///
/// run(async {
///     let quick = spawn(async { 1 });
///     let never = spawn(std::future::pending::<i32>());
///     let (done, pending) = wait([quick, never], ReturnWhen::FirstCompleted, None).await;
///     assert_eq!((done.len(), pending.len()), (1, 1));
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any task has finished (value, panic or cancellation). Every task finished by
    /// then is in `done`.
    FirstCompleted,
    /// As soon as any task has panicked, or when all have finished. A cancelled task is not an
    /// exception here, as in asyncio; neither is an `Ok(Err(e))` value of a task returning
    /// `Result` (it is a value: the task did not fail).
    FirstException,
    /// When every task has finished.
    AllCompleted,
}

/// Waits for some or all of `tasks` and returns them split into `(done, pending)`: asyncio's
/// `asyncio.wait(tasks, timeout=.., return_when=..)` (rule W1).
///
/// Nothing is cancelled: not the pending tasks when `wait` returns or times out, and not any task
/// when the `wait` itself is abandoned (then the tasks it owned are dropped, which detaches them:
/// they run on). `done` holds the finished tasks themselves, in input order: awaiting one gives its
/// result at once. `pending` holds the others, in input order. `timeout: None` waits as long as
/// `return_when` needs; `Some(d)` returns after `d` at the latest. If `return_when` is already
/// satisfied, `wait` returns without suspending.
///
/// `tasks` may be owned [`Task`]s or `&mut Task`s (to keep the handles where they are).
///
/// # Panics
/// When `tasks` is empty (asyncio raises `ValueError`): an empty wait would have nothing to
/// report. With a timeout, when polled outside a running event loop.
///
/// # Examples
///
/// ```
/// use asyncio::{sleep, spawn, wait, EventLoop, ReturnWhen};
/// use std::time::Duration;
///
/// EventLoop::with_virtual_time().run_until_complete(async {
///     let fast = spawn(async { sleep(Duration::from_secs(1)).await; "fast" });
///     let slow = spawn(async { sleep(Duration::from_secs(9)).await; "slow" });
///     let (done, pending) =
///         wait([fast, slow], ReturnWhen::AllCompleted, Some(Duration::from_secs(5))).await;
///     assert_eq!(done.len(), 1);
///     for t in done {
///         assert_eq!(t.await, Ok("fast")); // at once
///     }
///     assert!(!pending[0].is_cancelled(), "wait cancels nothing");
/// });
/// ```
#[track_caller]
pub fn wait<T, B, I>(tasks: I, return_when: ReturnWhen, timeout: Option<Duration>) -> Wait<T, B>
where
    I: IntoIterator<Item = B>,
    B: BorrowMut<Task<T>>,
{
    let tasks: Vec<B> = tasks.into_iter().collect();
    assert!(
        !tasks.is_empty(),
        "wait() called with no tasks: pass at least one task (asyncio raises ValueError here)"
    );
    Wait {
        state: Rc::new(WaitState {
            finished: RefCell::new(Vec::new()),
            waker: RefCell::new(None),
            remaining: Cell::new(0),
            all: return_when == ReturnWhen::AllCompleted,
            closed: Cell::new(false),
        }),
        tasks,
        return_when,
        timeout,
        timer: None,
        started: false,
        done: 0,
        panicked: false,
        output: PhantomData,
    }
}

/// The future of [`wait`]: `(done, pending)`.
///
/// # Examples
///
/// ```
/// use asyncio::{run, spawn, wait, ReturnWhen, Task};
///
/// run(async {
///     let mut a = spawn(async { 'a' });
///     let mut b = spawn(async { 'b' });
///     // Borrowed handles: the tasks stay where they are.
///     let (done, pending) = wait([&mut a, &mut b], ReturnWhen::AllCompleted, None).await;
///     assert_eq!((done.len(), pending.len()), (2, 0));
///     assert_eq!(a.await, Ok('a'));
/// });
/// ```
pub struct Wait<T, B: BorrowMut<Task<T>>> {
    state: Rc<WaitState>,
    /// Emptied when the output is returned.
    tasks: Vec<B>,
    return_when: ReturnWhen,
    timeout: Option<Duration>,
    timer: Option<Sleep>,
    started: bool,
    /// Tasks seen finished so far.
    done: usize,
    panicked: bool,
    output: PhantomData<fn() -> T>,
}

// No field is structurally pinned: the tasks and the timer are polled through `&mut`.
impl<T, B: BorrowMut<Task<T>>> Unpin for Wait<T, B> {}

/// What the tasks' listener slots point to.
struct WaitState {
    /// Indexes of tasks that finished since the last poll.
    finished: RefCell<Vec<u32>>,
    waker: RefCell<Option<Waker>>,
    /// Linked tasks not finished yet.
    remaining: Cell<usize>,
    /// `AllCompleted`: wake only when the last task finishes.
    all: bool,
    /// The wait has returned or was dropped: late notifications are ignored.
    closed: Cell<bool>,
}

impl Listener for WaitState {
    fn child_done(self: Rc<Self>, index: u32) {
        if self.closed.get() {
            return;
        }
        self.finished.borrow_mut().push(index);
        self.remaining.set(self.remaining.get() - 1);
        if !self.all || self.remaining.get() == 0 {
            if let Some(w) = self.waker.borrow_mut().take() {
                w.wake();
            }
        }
    }
}

impl<T, B: BorrowMut<Task<T>>> Wait<T, B> {
    fn note_done(&mut self, index: usize) {
        self.done += 1;
        if self.tasks[index].borrow().raw.is_panicked() {
            self.panicked = true;
        }
    }

    fn satisfied(&self) -> bool {
        match self.return_when {
            ReturnWhen::FirstCompleted => self.done > 0,
            ReturnWhen::FirstException => self.panicked || self.done == self.tasks.len(),
            ReturnWhen::AllCompleted => self.done == self.tasks.len(),
        }
    }

    /// Unlinks the tasks still pending, so that the state is not told about them any more.
    fn close(&mut self) {
        if self.state.closed.replace(true) || !self.started {
            return;
        }
        for t in &self.tasks {
            let raw = &t.borrow().raw;
            if !raw.is_done() {
                raw.clear_listener();
            }
        }
    }
}

impl<T, B: BorrowMut<Task<T>>> Future for Wait<T, B> {
    type Output = (Vec<B>, Vec<B>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(
            !this.state.closed.get(),
            "a wait() future was polled after it completed"
        );
        if !this.started {
            this.started = true;
            let listener: Rc<dyn Listener> = this.state.clone();
            let mut remaining = 0;
            for i in 0..this.tasks.len() {
                if this.tasks[i].borrow().is_done() {
                    this.note_done(i);
                } else {
                    remaining += 1;
                    let index = u32::try_from(i).expect("fewer than 2^32 tasks in one wait()");
                    this.tasks[i]
                        .borrow()
                        .raw
                        .set_listener(listener.clone(), index);
                }
            }
            this.state.remaining.set(remaining);
            this.timer = this.timeout.map(sleep);
        } else {
            let finished = std::mem::take(&mut *this.state.finished.borrow_mut());
            for i in finished {
                this.note_done(i as usize);
            }
        }
        let expired = this
            .timer
            .as_mut()
            .is_some_and(|t| Pin::new(t).poll(cx).is_ready());
        if !this.satisfied() && !expired {
            *this.state.waker.borrow_mut() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        this.close();
        let (done, pending) = std::mem::take(&mut this.tasks)
            .into_iter()
            .partition(|t| t.borrow().is_done());
        Poll::Ready((done, pending))
    }
}

impl<T, B: BorrowMut<Task<T>>> Drop for Wait<T, B> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<T, B: BorrowMut<Task<T>>> fmt::Debug for Wait<T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("tasks", &self.tasks.len())
            .field("return_when", &self.return_when)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Yields the outcomes of `children` in the order they finish: asyncio's `as_completed`.
///
/// Children are what [`gather`](fn@crate::gather) takes — futures (started as tasks at once),
/// [`Task`]s, [`Shield`](crate::Shield)s, [`Gather`](crate::Gather)s — and each outcome is
/// `Result<T, TaskError>`: the value, a panic or a cancellation. Read it with
/// [`next`](AsCompleted::next) (no extra crate needed) or as a [`futures_core::Stream`].
/// Nothing is cancelled (W1): dropping the `AsCompleted` leaves the children still running
/// to run on, detached.
///
/// For an overall deadline (asyncio's `timeout=`), bound each `next()` with a timeout future: an
/// abandoned `next()` loses no outcome.
///
/// # Panics
/// With a future among the children, outside a running event loop (it must be spawned).
///
/// # Examples
///
/// ```
/// use asyncio::{as_completed, sleep, EventLoop};
/// use std::time::Duration;
///
/// EventLoop::with_virtual_time().run_until_complete(async {
///     let nap = |s, name| async move { sleep(Duration::from_secs(s)).await; name };
///     let mut ac = as_completed([nap(3, "c"), nap(1, "a"), nap(2, "b")]);
///     let mut order = Vec::new();
///     while let Some(outcome) = ac.next().await {
///         order.push(outcome.unwrap());
///     }
///     assert_eq!(order, ["a", "b", "c"]);
/// });
/// ```
pub fn as_completed<I>(children: I) -> AsCompleted<<I::Item as IntoChild<Plain>>::Output>
where
    I: IntoIterator,
    I::Item: IntoChild<Plain, Error = Infallible>,
    <I::Item as IntoChild<Plain>>::Output: 'static,
{
    start(children)
}

/// Like [`as_completed`] for children returning `Result<T, E>`: an `Err(e)` is yielded as
/// `Err(TaskError::Failed(e))`, as [`try_gather`](fn@crate::try_gather) reports it.
///
/// # Examples
///
/// ```
/// use asyncio::{run, try_as_completed, TaskError};
///
/// run(async {
///     let mut ac = try_as_completed(["1", "x"].map(|s| async move { s.parse::<i32>() }));
///     assert_eq!(ac.next().await, Some(Ok(1)));
///     assert!(matches!(ac.next().await, Some(Err(TaskError::Failed(_)))));
///     assert_eq!(ac.next().await, None);
/// });
/// ```
pub fn try_as_completed<I, T, E>(children: I) -> AsCompleted<T, E>
where
    I: IntoIterator,
    I::Item: IntoChild<Try<E>, Output = T, Error = E>,
    T: 'static,
    E: 'static,
{
    start(children)
}

fn start<M, I>(
    children: I,
) -> AsCompleted<<I::Item as IntoChild<M>>::Output, <I::Item as IntoChild<M>>::Error>
where
    I: IntoIterator,
    I::Item: IntoChild<M>,
{
    let mut children: Vec<Option<<I::Item as IntoChild<M>>::Child>> =
        children.into_iter().map(|c| Some(c.into_child())).collect();
    let state = Rc::new(AsCompletedState {
        ready: RefCell::new(VecDeque::new()),
        waker: RefCell::new(None),
        closed: Cell::new(false),
    });
    let listener: Rc<dyn Listener> = state.clone();
    for (i, child) in children.iter_mut().enumerate() {
        let index = u32::try_from(i).expect("fewer than 2^32 children in one as_completed()");
        child
            .as_mut()
            .expect("just started")
            .attach(listener.clone(), index);
    }
    AsCompleted {
        inner: Box::new(Children {
            remaining: children.len(),
            children,
            state,
        }),
    }
}

/// The outcomes of some children in completion order: see [`as_completed`]. A
/// [`futures_core::Stream`] of `Result<T, TaskError<E>>`.
///
/// # Examples
///
/// ```
/// use asyncio::{as_completed, run, spawn, yield_now};
///
/// run(async {
///     let late = spawn(async { yield_now().await; yield_now().await; "late" });
///     let early = spawn(async { "early" });
///     let mut ac = as_completed([late, early]);
///     assert_eq!(ac.len(), 2);
///     assert_eq!(ac.next_with_index().await, Some((1, Ok("early"))));
///     assert_eq!(ac.next().await, Some(Ok("late")));
///     assert_eq!(ac.next().await, None);
/// });
/// ```
pub struct AsCompleted<T, E = Infallible> {
    inner: Box<dyn Source<T, E>>,
}

/// One yielded outcome with its child's input position.
type Indexed<T, E> = (usize, Result<T, TaskError<E>>);

/// The type-erased children of an [`AsCompleted`].
trait Source<T, E> {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Indexed<T, E>>>;
    fn remaining(&self) -> usize;
}

struct AsCompletedState {
    /// Indexes of finished children not yielded yet, in completion order.
    ready: RefCell<VecDeque<u32>>,
    waker: RefCell<Option<Waker>>,
    closed: Cell<bool>,
}

impl Listener for AsCompletedState {
    fn child_done(self: Rc<Self>, index: u32) {
        if self.closed.get() {
            return;
        }
        self.ready.borrow_mut().push_back(index);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

struct Children<X> {
    /// `None` once yielded.
    children: Vec<Option<X>>,
    remaining: usize,
    state: Rc<AsCompletedState>,
}

impl<X: Child> Source<X::Output, X::Error> for Children<X> {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Indexed<X::Output, X::Error>>> {
        let next = self.state.ready.borrow_mut().pop_front();
        if let Some(i) = next {
            let i = i as usize;
            let mut child = self.children[i].take().expect("a child finishes once");
            self.remaining -= 1;
            return Poll::Ready(Some((i, child.take())));
        }
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let mut waker = self.state.waker.borrow_mut();
        if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    fn remaining(&self) -> usize {
        self.remaining
    }
}

impl<X> Drop for Children<X> {
    fn drop(&mut self) {
        // Children still running are detached when dropped here; their notifications are ignored.
        self.state.closed.set(true);
    }
}

impl<T, E> AsCompleted<T, E> {
    /// The next outcome to finish, or `None` when every child has been yielded. Dropping the
    /// returned future before it completes loses nothing.
    ///
    /// # Examples
    ///
    /// See [`as_completed`].
    pub async fn next(&mut self) -> Option<Result<T, TaskError<E>>> {
        self.next_with_index().await.map(|(_, outcome)| outcome)
    }

    /// Like [`next`](AsCompleted::next), with the child's position in the input: which one
    /// finished (asyncio yields the task object itself).
    ///
    /// # Examples
    ///
    /// See [`AsCompleted`].
    pub async fn next_with_index(&mut self) -> Option<(usize, Result<T, TaskError<E>>)> {
        poll_fn(|cx| self.inner.poll_next(cx)).await
    }

    /// The number of outcomes not yielded yet.
    ///
    /// # Examples
    ///
    /// See [`AsCompleted`].
    pub fn len(&self) -> usize {
        self.inner.remaining()
    }

    /// True when every outcome has been yielded.
    ///
    /// # Examples
    ///
    /// ```
    /// let ac = asyncio::as_completed(Vec::<asyncio::Task<()>>::new());
    /// assert!(ac.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T, E> Stream for AsCompleted<T, E> {
    type Item = Result<T, TaskError<E>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut()
            .inner
            .poll_next(cx)
            .map(|next| next.map(|(_, outcome)| outcome))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl<T, E> fmt::Debug for AsCompleted<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.len())
            .finish()
    }
}
