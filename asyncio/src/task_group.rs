//! `TaskGroup`: structured concurrency, asyncio's `async with TaskGroup() as tg`.
//!
//! # The Rust form, and why
//! ```text
//! task_group(|tg: TaskGroup<E>| async move { tg.spawn(child); ..; Ok(value) }).await
//!     -> Result<value, TaskGroupError<E>>
//! ```
//! asyncio's group is a context manager whose `__aexit__` waits for the children and can cancel the
//! body. A closure taking the group is the Rust shape of that block: the body is a future the group
//! owns, so a failing child can cancel it (rule TG1: the group drops it), and the wait at the end
//! cannot be forgotten because awaiting the group *is* running the body. [`TaskGroup`] is a cheap
//! clonable handle (an `Rc`), so it can be moved into children, which may spawn siblings.
//!
//! Children return `Result<T, E>` ([`TaskGroup::spawn`]): an `Err(e)` is a failure, as an exception
//! is in asyncio; a panic is a failure too. Children that cannot fail except by panicking go
//! through [`TaskGroup::spawn_plain`]. Each spawn gives back an ordinary [`Task<T>`].
//!
//! The rules (SEMANTICS.md TG1–TG3) and the Rust differences are in the docs of [`task_group`].
//!
//! # How it works
//! Each child runs its future inside a [`ChildFuture`] that records an `Err` or a panic in the
//! group's state at the moment it happens (so the order of occurrence is exact) and, through a
//! guard dropped with the child's future, queues a [`Listener`] notification on the loop — the same
//! O(1) path a gather uses, triggered by the future's drop because the task's own listener slot
//! belongs to whoever awaits the handle. The notification removes the child from the live set and,
//! after a failure, cancels the others: each child's slot holds a cancel flag and the waker of its
//! last poll. The reaction is deferred to the queue as asyncio defers `_on_task_done`, so children
//! failing in the same loop turn are all reported.

use std::cell::{Cell, OnceCell, RefCell};
use std::convert::Infallible;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;
use slab::Slab;

use crate::error::{Panic, TaskError};
use crate::runtime::drain::{self, Drain};
use crate::runtime::{self, Core, Entry, ExceptionContext, Listener};
use crate::task::{self, Task};

/// Runs `body` as a task group and waits for it and all its children: asyncio's
/// `async with asyncio.TaskGroup() as tg:`.
///
/// `body` is called at once with the group's [`TaskGroup`] handle and returns the future of the
/// block, which runs when the group is awaited; its output `Ok(value)` becomes the group's
/// `Ok(value)` once every child has finished. The first failure (a child's `Err` or panic, or
/// the body's) cancels the body and every other child; the group then returns
/// `Err(`[`TaskGroupError`]`)` with all failures in order (rules TG1, TG2).
///
/// # Rules (SEMANTICS.md TG1–TG3)
/// - The group's future completes only when the body has finished and every child has finished.
/// - The first failure — a child's `Err` or panic, or the body's `Err` or panic — cancels every
///   other child and the body (the body's future is dropped). The group waits for the children to
///   finish, then returns a [`TaskGroupError`] holding every failure in the order they happened
///   (asyncio's `ExceptionGroup`). When the body is dropped, what it was awaiting is cancelled
///   as any abandoned await is (T5, G14) — a task, a gather, a nested group — and the group waits
///   for those cancellations to finish too, so a nested group's children are gone before the
///   outer group returns. Cancellations caused by the group, or by `Task::cancel` on a child, are
///   not failures. A child whose `Drop` panics while the group cancels it adds that panic to the
///   list (asyncio: an exception raised by a cancelled child is kept).
/// - Dropping the group's future before it completes (the awaiting task was cancelled, a timeout
///   expired) cancels the body and every child, as an abandoned `Task` await does (rule T5):
///   children are never polled again, and their futures are dropped on their next turn. A
///   [`timeout`](crate::timeout) that expires around a group returns `Elapsed` only after those
///   drops (TO2). R: asyncio waits in `__aexit__` for the children before the cancellation
///   propagates; a dropped Rust future cannot wait, so a cancelled task awaiting the group may end
///   before its children's `Drop`s have run (they run on the next loop turn). Panics that happen
///   after that are reported through the loop's exception handler.
/// - Spawning into a group that has finished, or is shutting down after a failure or a drop, is
///   refused (TG3): [`TaskGroup::try_spawn`] returns [`SpawnRefused`], [`TaskGroup::spawn`] panics
///   with that message (asyncio raises `RuntimeError`). The refused future is dropped unpolled.
///
/// # Handles of failed children
/// In Rust an error value has one owner, and it goes into the group's [`TaskGroupError`]. So a
/// child that returned `Err(e)` ends as cancelled (its handle gives `Err(TaskError::Cancelled)`);
/// a child that panicked gives `Err(TaskError::Panicked(_))` on its handle too (a `Panic` can be
/// cloned), and that panic is never reported as "never retrieved" (the group retrieved it).
///
/// # Errors
/// [`TaskGroupError`] when the body or a child failed; it lists every failure.
///
/// # Examples
///
/// ```
/// use asyncio::{run, sleep, task_group, TaskGroup};
/// use std::time::Duration;
///
/// async fn fetch(n: u32) -> Result<u32, String> {
///     sleep(Duration::from_millis(1)).await;
///     if n == 0 { Err("zero".into()) } else { Ok(n * 10) }
/// }
///
/// run(async {
///     let sum = task_group(|tg: TaskGroup<String>| async move {
///         let a = tg.spawn(fetch(1));
///         let b = tg.spawn(fetch(2));
///         Ok(a.await.unwrap() + b.await.unwrap())
///     })
///     .await;
///     assert_eq!(sum, Ok(30));
///
///     let err = task_group(|tg: TaskGroup<String>| async move {
///         tg.spawn(fetch(0));
///         tg.spawn(std::future::pending::<Result<(), String>>()); // cancelled by the failure
///         Ok(())
///     })
///     .await
///     .unwrap_err();
///     assert_eq!(err.errors(), [asyncio::TaskError::Failed("zero".to_string())]);
/// });
/// ```
pub fn task_group<E, R, B, Fut>(body: B) -> TaskGroupFuture<Fut, R, E>
where
    E: 'static,
    B: FnOnce(TaskGroup<E>) -> Fut,
    Fut: Future<Output = Result<R, E>>,
{
    let state = Rc::new(State {
        core: OnceCell::new(),
        status: Cell::new(Status::Running),
        children: RefCell::new(Slab::new()),
        failures: RefCell::new(Vec::new()),
        waker: RefCell::new(None),
        orphaned: Cell::new(false),
        drain: RefCell::new(None),
    });
    let body = body(TaskGroup {
        state: state.clone(),
    });
    TaskGroupFuture {
        state,
        body: Body::Running { future: body },
        value: None,
        body_drain: None,
        done: false,
    }
}

/// The handle of a running task group: spawns children into it. Cheap to clone (an `Rc`); move
/// clones into children so that they can spawn siblings.
///
/// `E` is the error type of the children (and of the body): a child returning `Err(e)` fails the
/// group. It defaults to [`Infallible`], for groups whose children only fail by panicking
/// (`|tg: TaskGroup| ..` with [`spawn_plain`](TaskGroup::spawn_plain)). Obtain one from
/// [`task_group`].
///
/// # Examples
///
/// ```
/// use asyncio::{run, task_group, TaskGroup};
///
/// let out = run(task_group(|tg: TaskGroup| async move {
///     let inner = tg.clone();
///     // A child spawning a sibling; the group waits for both.
///     let outer = tg.spawn_plain(async move { inner.spawn_plain(async { 2 }).await.unwrap() + 1 });
///     Ok(outer.await.unwrap())
/// }));
/// assert_eq!(out, Ok(3));
/// ```
pub struct TaskGroup<E = Infallible> {
    state: Rc<State<E>>,
}

impl<E> Clone for TaskGroup<E> {
    fn clone(&self) -> Self {
        TaskGroup {
            state: self.state.clone(),
        }
    }
}

/// Why a task group refused a new child (rule TG3; asyncio raises `RuntimeError`).
///
/// # Examples
///
/// ```
/// use asyncio::{run, task_group, SpawnRefused, TaskGroup};
///
/// run(async {
///     let mut kept = None;
///     task_group(|tg: TaskGroup<()>| {
///         kept = Some(tg.clone());
///         async { Ok(()) }
///     })
///     .await
///     .unwrap();
///     let late = kept.unwrap().try_spawn(async { Ok(()) });
///     assert_eq!(late.unwrap_err(), SpawnRefused::Finished);
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnRefused {
    /// The group has finished: its future completed.
    Finished,
    /// The group is cancelling its children, after a failure or because its future was dropped.
    ShuttingDown,
}

impl fmt::Display for SpawnRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnRefused::Finished => f.write_str(
                "TaskGroup is finished: it cannot take new children; spawn them before the group's \
                 body and children are done, or use asyncio::spawn for an independent task",
            ),
            SpawnRefused::ShuttingDown => f.write_str(
                "TaskGroup is shutting down (a child or the body failed, or the group was \
                 cancelled): it cannot take new children",
            ),
        }
    }
}

impl Error for SpawnRefused {}

impl<E: 'static> TaskGroup<E> {
    /// Starts `future` as a child of the group: asyncio's `tg.create_task(coro)`. An `Err(e)`
    /// from it, or a panic, fails the group (TG1). The returned [`Task`] gives `Ok(value)`;
    /// after `Err(e)` it gives `Err(TaskError::Cancelled)`, because `e` went to the group's
    /// [`TaskGroupError`].
    ///
    /// # Panics
    /// When the group has finished or is shutting down (TG3), with the [`SpawnRefused`] message;
    /// use [`try_spawn`](TaskGroup::try_spawn) to get the refusal as a value. Outside a running
    /// event loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, task_group, TaskGroup};
    ///
    /// let out = run(task_group(|tg: TaskGroup<std::num::ParseIntError>| async move {
    ///     let n = tg.spawn(async { "41".parse::<i32>() });
    ///     Ok(n.await.unwrap() + 1)
    /// }));
    /// assert_eq!(out, Ok(42));
    /// ```
    #[track_caller]
    pub fn spawn<F, T>(&self, future: F) -> Task<T>
    where
        F: Future<Output = Result<T, E>> + 'static,
        T: 'static,
    {
        self.try_spawn(future)
            .unwrap_or_else(|refused| panic!("{refused}"))
    }

    /// Like [`spawn`](TaskGroup::spawn), but a refusal (the group has finished or is shutting
    /// down, TG3) comes back as an error, and `future` is dropped without being polled.
    ///
    /// # Errors
    /// [`SpawnRefused::Finished`] or [`SpawnRefused::ShuttingDown`].
    ///
    /// # Panics
    /// Outside a running event loop.
    ///
    /// # Examples
    ///
    /// See [`SpawnRefused`].
    #[track_caller]
    pub fn try_spawn<F, T>(&self, future: F) -> Result<Task<T>, SpawnRefused>
    where
        F: Future<Output = Result<T, E>> + 'static,
        T: 'static,
    {
        let state = &self.state;
        match state.status.get() {
            Status::Running => {}
            Status::ShuttingDown => return Err(SpawnRefused::ShuttingDown),
            Status::Finished => return Err(SpawnRefused::Finished),
        }
        let core = state
            .core
            .get_or_init(|| runtime::current_core("TaskGroup::spawn()"));
        let key = state.children.borrow_mut().insert(ChildSlot {
            cancel: false,
            waker: None,
        });
        let index = u32::try_from(key).expect("fewer than 2^32 children alive in one task group");
        Ok(task::spawn_observed(ChildFuture {
            future: Some(future),
            guard: Guard {
                state: state.clone(),
                core: core.clone(),
                index,
            },
        }))
    }

    /// Starts a child whose future returns its value directly (not a `Result`): only a panic can
    /// fail it. The same as `spawn(async { Ok(future.await) })`.
    ///
    /// # Panics
    /// As [`spawn`](TaskGroup::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, task_group, TaskGroup, TaskError};
    ///
    /// run(async {
    ///     let err = task_group(|tg: TaskGroup<()>| async move {
    ///         tg.spawn_plain(async { panic!("boom") });
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    ///     assert!(matches!(&err.errors()[0], TaskError::Panicked(p) if p.message() == "boom"));
    /// });
    /// ```
    #[track_caller]
    pub fn spawn_plain<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.spawn(async move { Ok(future.await) })
    }

    /// The number of children spawned and not yet finished (asyncio's `len(tg._tasks)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, task_group, yield_now, TaskGroup};
    ///
    /// run(task_group(|tg: TaskGroup<()>| async move {
    ///     tg.spawn_plain(async {});
    ///     assert_eq!(tg.len(), 1);
    ///     for _ in 0..3 { yield_now().await; }
    ///     assert_eq!(tg.len(), 0);
    ///     Ok(())
    /// }))
    /// .unwrap();
    /// ```
    pub fn len(&self) -> usize {
        self.state.children.borrow().len()
    }

    /// True when no child is running.
    ///
    /// # Examples
    ///
    /// See [`TaskGroup::len`].
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once the group is cancelling its children after a failure (or because its future
    /// was dropped), or has finished: new children are refused (TG3).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, task_group, TaskGroup};
    ///
    /// run(async {
    ///     let mut kept = None;
    ///     let out = task_group(|tg: TaskGroup<()>| {
    ///         assert!(!tg.is_closed());
    ///         kept = Some(tg.clone());
    ///         async { Ok(()) }
    ///     })
    ///     .await;
    ///     assert_eq!(out, Ok(()));
    ///     assert!(kept.unwrap().is_closed(), "a finished group refuses children");
    /// });
    /// ```
    pub fn is_closed(&self) -> bool {
        self.state.status.get() != Status::Running
    }
}

impl<E> fmt::Debug for TaskGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("status", &self.state.status.get())
            .field("children", &self.state.children.borrow().len())
            .field("failures", &self.state.failures.borrow().len())
            .finish()
    }
}

/// Every failure of a task group, in the order they happened: asyncio's `ExceptionGroup`.
///
/// Each entry is [`TaskError::Failed`] (a child or the body returned `Err(e)`) or
/// [`TaskError::Panicked`]; never `Cancelled`, since cancellations caused by the group are not
/// failures. A nested group's error is one entry of the outer group when the outer body returns
/// it (with `?` and a `From` impl, for instance), as asyncio nests `ExceptionGroup`s.
///
/// # Examples
///
/// ```
/// use asyncio::{run, task_group, TaskError, TaskGroup};
///
/// let err = run(task_group(|tg: TaskGroup<&str>| async move {
///     tg.spawn(async { Err::<(), _>("first") });
///     tg.spawn(async { Err::<(), _>("second") }); // same turn: both are kept
///     Ok(())
/// }))
/// .unwrap_err();
/// assert_eq!(err.errors(), [TaskError::Failed("first"), TaskError::Failed("second")]);
/// assert_eq!(err.to_string(), "2 failures in a task group: [1] task failed: first; [2] task failed: second");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskGroupError<E = Infallible> {
    errors: Vec<TaskError<E>>,
}

impl<E> TaskGroupError<E> {
    /// The failures, in order of occurrence (at least one).
    ///
    /// # Examples
    ///
    /// See [`TaskGroupError`].
    pub fn errors(&self) -> &[TaskError<E>] {
        &self.errors
    }

    /// The failures, by value.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, task_group, TaskError, TaskGroup};
    ///
    /// let err = run(task_group(|_: TaskGroup<u8>| async { Err::<(), _>(7) })).unwrap_err();
    /// assert_eq!(err.into_errors(), vec![TaskError::Failed(7)]);
    /// ```
    pub fn into_errors(self) -> Vec<TaskError<E>> {
        self.errors
    }

    /// The `Err(e)` values of the failures, leaving out panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, task_group, TaskGroup};
    ///
    /// let err = run(task_group(|tg: TaskGroup<u8>| async move {
    ///     tg.spawn_plain(async { panic!("p") });
    ///     tg.spawn(async { Err::<(), _>(3) });
    ///     Ok(())
    /// }))
    /// .unwrap_err();
    /// assert_eq!(err.failed().collect::<Vec<_>>(), [&3]);
    /// ```
    pub fn failed(&self) -> impl Iterator<Item = &E> {
        self.errors.iter().filter_map(|e| match e {
            TaskError::Failed(e) => Some(e),
            _ => None,
        })
    }
}

impl<E> IntoIterator for TaskGroupError<E> {
    type Item = TaskError<E>;
    type IntoIter = std::vec::IntoIter<TaskError<E>>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl<E: fmt::Display> fmt::Display for TaskGroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errors.len() {
            1 => write!(f, "1 failure in a task group: {}", self.errors[0]),
            n => {
                write!(f, "{n} failures in a task group:")?;
                for (i, e) in self.errors.iter().enumerate() {
                    let sep = if i == 0 { " " } else { "; " };
                    write!(f, "{sep}[{}] {e}", i + 1)?;
                }
                Ok(())
            }
        }
    }
}

impl<E: Error + 'static> Error for TaskGroupError<E> {
    /// The first failure.
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.errors.first().map(|e| e as &(dyn Error + 'static))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    /// Accepting children.
    Running,
    /// Cancelling its children after a failure or because its future was dropped.
    ShuttingDown,
    /// The group's future has completed.
    Finished,
}

/// One live child, as the group sees it.
struct ChildSlot {
    /// Set when the group cancels the child.
    cancel: bool,
    /// The waker of the child's last poll, to deliver the cancellation.
    waker: Option<Waker>,
}

/// The group's state, shared by the handles, the group's future and the children.
struct State<E> {
    /// The loop, captured by the first spawn.
    core: OnceCell<Rc<Core>>,
    status: Cell<Status>,
    /// Children spawned and not yet finished, keyed by the index their notification carries.
    children: RefCell<Slab<ChildSlot>>,
    failures: RefCell<Vec<TaskError<E>>>,
    /// The waker of the group's future.
    waker: RefCell<Option<Waker>>,
    /// The group's future was dropped before completing: failures go to the exception handler.
    orphaned: Cell<bool>,
    /// A timeout that dropped the group's future waits for the children through this (TO2).
    drain: RefCell<Option<Rc<dyn Listener>>>,
}

impl<E> State<E> {
    /// Records a failure, in order of occurrence. The reaction (cancelling the others) follows.
    fn fail(&self, error: TaskError<E>) {
        if self.orphaned.get() {
            if let TaskError::Panicked(panic) = error {
                self.report_orphaned(panic);
            }
        } else {
            self.failures.borrow_mut().push(error);
        }
    }

    fn report_orphaned(&self, panic: Panic) {
        if let Some(core) = self.core.get() {
            core.report(ExceptionContext::new(
                "a task group's child panicked after the group was cancelled".into(),
                None,
                Some(panic),
            ));
        }
    }

    /// Starts shutting down: cancels every live child. Idempotent.
    fn abort(&self) {
        if self.status.get() != Status::Running {
            return;
        }
        self.status.set(Status::ShuttingDown);
        let wakers: Vec<Waker> = self
            .children
            .borrow_mut()
            .iter_mut()
            .filter_map(|(_, slot)| {
                slot.cancel = true;
                slot.waker.take()
            })
            .collect();
        // Wake outside the borrow. A child never polled has no waker: it is queued already and
        // sees its flag on its first turn.
        wakers.into_iter().for_each(Waker::wake);
        self.wake_group();
    }

    fn wake_group(&self) {
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

impl<E> Listener for State<E> {
    /// A child's future is gone (finished, failed, panicked or cancelled).
    fn child_done(self: Rc<Self>, index: u32) {
        let remaining = {
            let mut children = self.children.borrow_mut();
            children.remove(index as usize);
            children.len()
        };
        if !self.failures.borrow().is_empty() {
            self.abort();
        }
        if remaining == 0 {
            self.wake_group();
            let drain = self.drain.borrow_mut().take();
            if let Some(drain) = drain {
                drain.child_done(0);
            }
        }
    }
}

/// Notifies the group when dropped together with the child's future.
struct Guard<E: 'static> {
    state: Rc<State<E>>,
    core: Rc<Core>,
    index: u32,
}

impl<E: 'static> Drop for Guard<E> {
    fn drop(&mut self) {
        let listener: Rc<dyn Listener> = self.state.clone();
        self.core.push(Entry::notify(listener, self.index));
    }
}

pin_project! {
    /// A child's future inside its task: records its failure in the group and obeys the group's
    /// cancel flag. Field order matters: the user's future is dropped before the guard notifies.
    struct ChildFuture<F, E: 'static> {
        #[pin]
        future: Option<F>,
        guard: Guard<E>,
    }
}

impl<F, T, E> Future for ChildFuture<F, E>
where
    F: Future<Output = Result<T, E>>,
    E: 'static,
{
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let state = &this.guard.state;
        let index = this.guard.index as usize;
        let cancelled = {
            let mut children = state.children.borrow_mut();
            let slot = &mut children[index];
            if !slot.cancel && !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                slot.waker = Some(cx.waker().clone());
            }
            slot.cancel
        };
        if cancelled {
            // Cancelled by the group: drop the future here so that a panic in its `Drop` is
            // counted as one of the group's failures (asyncio keeps an error raised while a
            // child is being cancelled).
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| this.future.set(None))) {
                let panic = Panic::from_payload(payload);
                state.fail(TaskError::Panicked(panic.clone()));
                return Poll::Ready(Err(TaskError::Panicked(panic)));
            }
            return Poll::Ready(Err(TaskError::Cancelled));
        }
        let future = this
            .future
            .as_pin_mut()
            .expect("a group child is not polled after it finished");
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(Ok(value))) => Poll::Ready(Ok(value)),
            Ok(Poll::Ready(Err(e))) => {
                state.fail(TaskError::Failed(e));
                Poll::Ready(Err(TaskError::Cancelled))
            }
            Err(payload) => {
                let panic = Panic::from_payload(payload);
                state.fail(TaskError::Panicked(panic.clone()));
                Poll::Ready(Err(TaskError::Panicked(panic)))
            }
        }
    }
}

pin_project! {
    #[project = BodyProj]
    enum Body<Fut> {
        Running { #[pin] future: Fut },
        Gone,
    }
}

pin_project! {
    /// The future of a [`task_group`]: runs the body, waits for every child, and gives the body's
    /// value or a [`TaskGroupError`].
    ///
    /// Dropping it before it completes cancels the body and every child (T5).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, task_group, TaskGroup, TaskGroupFuture};
    ///
    /// run(async {
    ///     let fut = task_group(|tg: TaskGroup<()>| async move {
    ///         tg.spawn_plain(async { println!("child") });
    ///         Ok("done")
    ///     });
    ///     assert_eq!(fut.await, Ok("done"));
    /// });
    /// ```
    pub struct TaskGroupFuture<Fut, R, E: 'static> {
        state: Rc<State<E>>,
        #[pin]
        body: Body<Fut>,
        value: Option<R>,
        // Cancellations that dropping the body requested (tasks, gathers, nested groups it was
        // awaiting): the group also waits for those to finish.
        body_drain: Option<Rc<Drain>>,
        done: bool,
    }

    impl<Fut, R, E: 'static> PinnedDrop for TaskGroupFuture<Fut, R, E> {
        fn drop(this: Pin<&mut Self>) {
            if this.done {
                return;
            }
            if let Some(drain) = &this.body_drain {
                drain.hand_on();
            }
            // Abandoned: cancel everything; failures that nobody will see are reported.
            let state = &this.state;
            state.abort();
            state.orphaned.set(true);
            // A timeout dropping us reports `Elapsed` only once the children are gone (TO2).
            if !state.children.borrow().is_empty() {
                if let Some(drain) = runtime::drain::watch() {
                    *state.drain.borrow_mut() = Some(drain);
                }
            }
            let failures = std::mem::take(&mut *state.failures.borrow_mut());
            for failure in failures {
                if let TaskError::Panicked(panic) = failure {
                    state.report_orphaned(panic);
                }
            }
        }
    }
}

impl<Fut, R, E> Future for TaskGroupFuture<Fut, R, E>
where
    Fut: Future<Output = Result<R, E>>,
    E: 'static,
{
    type Output = Result<R, TaskGroupError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let state = &*this.state;
        assert!(
            !*this.done,
            "a task group's future was polled after it completed"
        );
        if let BodyProj::Running { future } = this.body.as_mut().project() {
            if state.status.get() == Status::Running {
                match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                    Ok(Poll::Pending) => {}
                    Ok(Poll::Ready(Ok(value))) => {
                        *this.value = Some(value);
                        drop_body(state, this.body.as_mut(), this.body_drain);
                    }
                    Ok(Poll::Ready(Err(e))) => {
                        state.fail(TaskError::Failed(e));
                        drop_body(state, this.body.as_mut(), this.body_drain);
                        state.abort();
                    }
                    Err(payload) => {
                        state.fail(TaskError::Panicked(Panic::from_payload(payload)));
                        drop_body(state, this.body.as_mut(), this.body_drain);
                        state.abort();
                    }
                }
            } else {
                // A child failed: the body is cancelled (TG1).
                drop_body(state, this.body.as_mut(), this.body_drain);
            }
        }
        let drained = match this.body_drain.as_ref() {
            Some(drain) if !drain.is_empty() => {
                drain.register(cx.waker());
                false
            }
            _ => true,
        };
        if matches!(*this.body, Body::Gone) && drained && state.children.borrow().is_empty() {
            *this.done = true;
            state.status.set(Status::Finished);
            let failures = std::mem::take(&mut *state.failures.borrow_mut());
            return Poll::Ready(if failures.is_empty() {
                Ok(this.value.take().expect("the body's value"))
            } else {
                Err(TaskGroupError { errors: failures })
            });
        }
        let mut waker = state.waker.borrow_mut();
        if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Drops the body's future, collecting the cancellations its drop requests; a panic in its
/// `Drop` is one of the group's failures.
fn drop_body<Fut, E>(
    state: &State<E>,
    mut body: Pin<&mut Body<Fut>>,
    drain: &mut Option<Rc<Drain>>,
) {
    let mut outcome = Ok(());
    let collected = drain::collect(|| {
        outcome = catch_unwind(AssertUnwindSafe(|| body.set(Body::Gone)));
    });
    *drain = Some(collected);
    if let Err(payload) = outcome {
        state.fail(TaskError::Panicked(Panic::from_payload(payload)));
        state.abort();
    }
}
