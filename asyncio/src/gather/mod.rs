//! `gather`: run children concurrently, collect their results in input order.
//!
//! # How it works
//! Every child is a task from the moment `gather` is called (rule G1): futures are spawned, `Task`s,
//! `Shield`s and `Gather`s are adopted as they are. The gather's state ([`GatherState`]) is shared
//! between the `Gather` handle and its children: each child holds a link (the gather and its index)
//! that it hands to the loop queue when it finishes. The loop then calls
//! [`Listener::child_done`], which moves that one child's outcome into its slot and updates counters,
//! so a gather of N children costs O(N) in total whatever the completion order: nothing is ever
//! re-polled (rule G13). A gather adopted by another gather links to it the same way, so nested
//! gathers propagate through the queue, never through recursion: depth is free.
//!
//! The outcome is decided (rule G11: `is_done()` turns true without anyone awaiting) by mode:
//! - default: the first failed child (error, panic or cancellation) decides at once; the others run
//!   on and their outcomes are consumed silently (G4, G5);
//! - `return_exceptions`: every outcome goes into its slot; decided when all have finished (G6);
//! - `cancel_on_error`: the first failure cancels the rest, decided when all have finished (G12);
//! - a gather cancelled through [`Gather::cancel`] decides `Err(Cancelled)` once all children have
//!   finished, in every mode (G8).

pub(crate) mod bounded;
pub(crate) mod tuple;

use std::any::Any;
use std::borrow::BorrowMut;
use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::mem;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::error::{Panic, TaskError};
use crate::runtime::{self, Core, Entry, ExceptionContext, Listener};
use crate::task::{self, RawTask, Shield, Task};

/// Marker for the children of [`gather`](fn@gather) and [`gather!`](macro@crate::gather): their output is the value.
#[doc(hidden)]
pub struct Plain;

/// Marker for the children of [`try_gather`](fn@try_gather) and [`try_gather!`](macro@crate::try_gather): they return
/// `Result<T, E>` and `Err(e)` is a failure.
#[doc(hidden)]
pub struct Try<E>(PhantomData<E>);

/// Anything a gather accepts as a child, in mode `M`: any `Future` (spawned as a task), a
/// [`Task`] or a [`Shield`] (adopted), or a [`Gather`] (adopted: nesting yields plain values).
///
/// # Examples
///
/// ```
/// use asyncio::{gather, run, spawn};
///
/// run(async {
///     let inner = gather([spawn(async { 1 }), spawn(async { 2 })]);
///     let out = asyncio::gather!(inner, async { 3 }, spawn(async { "four" })).await;
///     assert_eq!(out, Ok((vec![1, 2], 3, "four")));
/// });
/// ```
pub trait IntoChild<M> {
    /// The child's value.
    type Output;
    /// The child's error type (`Infallible` for plain children).
    type Error;
    #[doc(hidden)]
    type Child: Child<Output = Self::Output, Error = Self::Error>;
    #[doc(hidden)]
    #[track_caller]
    fn into_child(self) -> Self::Child
    where
        Self: Sized,
    {
        self.into_child_at(Location::caller())
    }
    /// Starts the child, recording `at` as its spawn location if it has to be spawned.
    #[doc(hidden)]
    fn into_child_at(self, at: &'static Location<'static>) -> Self::Child;
}

/// A started child: how a gather links to it, takes its outcome and cancels it.
#[doc(hidden)]
pub trait Child: 'static {
    type Output;
    type Error;
    /// Makes `listener.child_done(index)` run on the loop once the child is done.
    fn attach(&mut self, listener: Rc<dyn Listener>, index: u32);
    /// Takes the outcome of a child that is done.
    fn take(&mut self) -> Result<Self::Output, TaskError<Self::Error>>;
    /// Requests cancellation. True if accepted; a nested gather is pushed on `found` instead.
    fn cancel(&mut self, found: &mut Vec<Rc<dyn Node>>) -> bool;
}

impl<F> IntoChild<Plain> for F
where
    F: Future + 'static,
    F::Output: 'static,
{
    type Output = F::Output;
    type Error = Infallible;
    type Child = RawTask<F::Output, Infallible>;
    fn into_child_at(self, at: &'static Location<'static>) -> Self::Child {
        task::spawn_at(self, at).raw
    }
}

impl<F, T, E> IntoChild<Try<E>> for F
where
    F: Future<Output = Result<T, E>> + 'static,
    T: 'static,
    E: 'static,
{
    type Output = T;
    type Error = E;
    type Child = RawTask<T, E>;
    fn into_child_at(self, at: &'static Location<'static>) -> Self::Child {
        task::spawn_fallible(self, at)
    }
}

impl<T: 'static> IntoChild<Plain> for Task<T> {
    type Output = T;
    type Error = Infallible;
    type Child = RawTask<T, Infallible>;
    fn into_child_at(self, _: &'static Location<'static>) -> Self::Child {
        task::assert_on_loop(Some(self.raw.loop_id()), "a Task was gathered");
        self.raw
    }
}

impl<T: 'static, E: 'static> IntoChild<Try<E>> for Task<Result<T, E>> {
    type Output = T;
    type Error = E;
    type Child = FallibleTask<T, E>;
    fn into_child_at(self, _: &'static Location<'static>) -> Self::Child {
        task::assert_on_loop(Some(self.raw.loop_id()), "a Task was gathered");
        FallibleTask(self.raw)
    }
}

impl<O: 'static> IntoChild<Plain> for Gather<O, Infallible> {
    type Output = O;
    type Error = Infallible;
    type Child = Self;
    fn into_child_at(self, _: &'static Location<'static>) -> Self {
        task::assert_on_loop(self.node.loop_id(), "a Gather was gathered");
        self
    }
}

impl<O: 'static, E: 'static> IntoChild<Try<E>> for Gather<O, E> {
    type Output = O;
    type Error = E;
    type Child = Self;
    fn into_child_at(self, _: &'static Location<'static>) -> Self {
        task::assert_on_loop(self.node.loop_id(), "a Gather was gathered");
        self
    }
}

impl<T: 'static> IntoChild<Plain> for Shield<T> {
    type Output = T;
    type Error = Infallible;
    type Child = ShieldChild<T>;
    fn into_child_at(self, _: &'static Location<'static>) -> Self::Child {
        task::assert_on_loop(Some(self.task.raw.loop_id()), "a Task was gathered");
        ShieldChild {
            raw: self.task.raw,
            listener: None,
            cancelled: false,
        }
    }
}

impl<T: 'static, E: 'static> Child for RawTask<T, E> {
    type Output = T;
    type Error = E;
    fn attach(&mut self, listener: Rc<dyn Listener>, index: u32) {
        self.set_listener(listener, index);
    }
    fn take(&mut self) -> Result<T, TaskError<E>> {
        self.take_output()
    }
    fn cancel(&mut self, _: &mut Vec<Rc<dyn Node>>) -> bool {
        RawTask::cancel(self)
    }
}

/// A `Task<Result<T, E>>` adopted by `try_gather`: `Ok(Err(e))` is the failure `Failed(e)`.
#[doc(hidden)]
pub struct FallibleTask<T, E>(RawTask<Result<T, E>, Infallible>);

impl<T: 'static, E: 'static> Child for FallibleTask<T, E> {
    type Output = T;
    type Error = E;
    fn attach(&mut self, listener: Rc<dyn Listener>, index: u32) {
        self.0.set_listener(listener, index);
    }
    fn take(&mut self) -> Result<T, TaskError<E>> {
        match self.0.take_output() {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(TaskError::Failed(e)),
            Err(e) => Err(e.widen()),
        }
    }
    fn cancel(&mut self, _: &mut Vec<Rc<dyn Node>>) -> bool {
        self.0.cancel()
    }
}

/// A shielded task in a gather: cancelling the gather cancels the shield, not the task.
#[doc(hidden)]
pub struct ShieldChild<T> {
    raw: RawTask<T, Infallible>,
    listener: Option<(Rc<dyn Listener>, u32)>,
    cancelled: bool,
}

impl<T: 'static> Child for ShieldChild<T> {
    type Output = T;
    type Error = Infallible;
    fn attach(&mut self, listener: Rc<dyn Listener>, index: u32) {
        self.listener = Some((listener.clone(), index));
        self.raw.set_listener(listener, index);
    }
    fn take(&mut self) -> Result<T, TaskError> {
        self.listener = None;
        if self.cancelled {
            Err(TaskError::Cancelled)
        } else {
            self.raw.take_output()
        }
    }
    fn cancel(&mut self, _: &mut Vec<Rc<dyn Node>>) -> bool {
        if self.cancelled || self.raw.is_done() {
            return false;
        }
        // The task runs on unwatched; when this child is taken its handle is dropped, so a later
        // panic is reported by the task itself (T4) and a late success is dropped silently.
        self.cancelled = true;
        self.raw.clear_listener();
        let (listener, index) = self.listener.take().expect("attached");
        self.raw.push(Entry::notify(listener, index));
        true
    }
}

impl<O: 'static, E: 'static> Child for Gather<O, E> {
    type Output = O;
    type Error = E;
    fn attach(&mut self, listener: Rc<dyn Listener>, index: u32) {
        self.node.set_listener(listener, index);
    }
    fn take(&mut self) -> Result<O, TaskError<E>> {
        self.take_output()
    }
    fn cancel(&mut self, found: &mut Vec<Rc<dyn Node>>) -> bool {
        // A nested gather accepts if one of its own children does: `cancel_tree` visits it from
        // its list, without recursion, and settles that afterwards.
        if !self.node.is_done() {
            found.push(self.node.clone());
        }
        false
    }
}

/// Cancels every child not yet done under `root`, nested gathers included, breadth first and
/// without recursion. A gather accepts when one of its children (task, or nested gather that
/// accepts) does; every gather that accepted, except `root` unless `mark_root`, is marked as
/// cancelled so that it ends with `Err(Cancelled)` (G7, G8, G9). Returns whether `root` accepted.
fn cancel_tree(root: Rc<dyn Node>, mark_root: bool) -> bool {
    // (gather, index of its parent in `visited`, accepted)
    let mut visited: Vec<(Rc<dyn Node>, usize, bool)> = vec![(root, 0, false)];
    let mut found = Vec::new();
    let mut i = 0;
    while i < visited.len() {
        visited[i].2 = visited[i].0.cancel_children(&mut found);
        visited.extend(found.drain(..).map(|node| (node, i, false)));
        i += 1;
    }
    // Children come after their parents: settle acceptance from the leaves up.
    for j in (0..visited.len()).rev() {
        let (parent, accepted) = (visited[j].1, visited[j].2);
        if accepted {
            if j > 0 {
                visited[parent].2 = true;
            }
            if j > 0 || mark_root {
                visited[j].0.mark_cancel_requested();
            }
        }
    }
    visited[0].2
}

/// The type-erased face of a gather's shared state.
#[doc(hidden)]
#[allow(clippy::len_without_is_empty)]
pub trait Node: Listener {
    fn is_done(&self) -> bool;
    fn is_cancelled(&self) -> bool;
    fn len(&self) -> usize;
    /// The id of the loop the children run on (`None` for a gather with no children).
    fn loop_id(&self) -> Option<u32>;
    fn set_mode(&self, mode: Mode);
    fn set_listener(&self, listener: Rc<dyn Listener>, index: u32);
    /// Queues `f` once the gather is decided (at once if it is): any number of them, unlike the
    /// one listener slot that belongs to the gather's parent.
    fn when_decided(&self, f: Box<dyn FnOnce()>);
    fn mark_cancel_requested(&self);
    /// Cancels the children still pending; nested gathers not yet done go on `found`. True if a
    /// task child accepted.
    fn cancel_children(&self, found: &mut Vec<Rc<dyn Node>>) -> bool;
    fn register(&self, waker: &Waker);
    /// Writes the output into `out`, an `&mut Option<Result<O, TaskError<E>>>` of the handle's
    /// types.
    fn take_into(&self, out: &mut dyn Any);
    fn handle_dropped(&self);
}

#[doc(hidden)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Default,
    ReturnExceptions,
    CancelOnError,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Decided,
    Taken,
}

/// What a finished child's outcome was.
pub(crate) enum Kind {
    Ok,
    Failed,
    Panicked(Panic),
}

/// One child's place: the running child, then its outcome, then nothing once taken.
pub(crate) enum Slot<X: Child> {
    Pending(X),
    /// A bounded gather's iterator panicked making this child; it completes as that panic.
    Broken(Panic),
    Done(Result<X::Output, TaskError<X::Error>>),
    Taken,
}

impl<X: Child> Slot<X> {
    fn attach(&mut self, listener: Rc<dyn Listener>, index: u32) {
        if let Slot::Pending(x) = self {
            x.attach(listener, index);
        }
    }

    /// Moves the finished child's outcome into the slot (dropping the child's handle).
    fn complete(&mut self) -> Kind {
        let out = match self {
            Slot::Pending(x) => x.take(),
            Slot::Broken(p) => Err(TaskError::Panicked(p.clone())),
            _ => unreachable!("a gather child finished twice"),
        };
        let kind = match &out {
            Ok(_) => Kind::Ok,
            Err(TaskError::Panicked(p)) => Kind::Panicked(p.clone()),
            Err(_) => Kind::Failed,
        };
        *self = Slot::Done(out);
        kind
    }

    fn cancel(&mut self, found: &mut Vec<Rc<dyn Node>>) -> bool {
        match self {
            Slot::Pending(x) => x.cancel(found),
            _ => false,
        }
    }

    fn take(&mut self) -> Result<X::Output, TaskError<X::Error>> {
        mem::replace(self, Slot::Taken).into_outcome()
    }

    fn into_outcome(self) -> Result<X::Output, TaskError<X::Error>> {
        match self {
            Slot::Done(out) => out,
            _ => unreachable!("a gather's output was taken before all its children finished"),
        }
    }

    fn take_value(&mut self) -> X::Output {
        mem::replace(self, Slot::Taken).into_value()
    }

    fn into_value(self) -> X::Output {
        match self.into_outcome() {
            Ok(v) => v,
            Err(_) => unreachable!("values are taken only when every child succeeded"),
        }
    }
}

/// The children of one gather, as a `Vec` or a tuple.
pub(crate) trait Children: 'static {
    type Values;
    type Slots;
    type Error;
    fn len(&self) -> usize;
    /// True if there is at least one child (started or to start).
    fn has_children(&mut self) -> bool {
        self.len() > 0
    }
    fn attach(&mut self, listener: &Rc<dyn Listener>);
    /// True if the gather starts its children lazily (`refill` may start more).
    const LAZY: bool = false;
    /// Starts more children if the gather starts them lazily; returns how many it started. Takes
    /// the cell, not `&mut self`: the user's iterator must run with no borrow held.
    fn refill(_children: &RefCell<Self>, _listener: &Rc<dyn Listener>) -> usize
    where
        Self: Sized,
    {
        0
    }
    fn complete(&mut self, index: usize) -> Kind;
    fn cancel_all(&mut self, found: &mut Vec<Rc<dyn Node>>) -> bool;
    fn take_error(&mut self, index: usize) -> TaskError<Self::Error>;
    fn take_values(&mut self) -> Self::Values;
    fn take_slots(&mut self) -> Self::Slots;
}

impl<X: Child> Children for Vec<Slot<X>> {
    type Values = Vec<X::Output>;
    type Slots = Vec<Result<X::Output, TaskError<X::Error>>>;
    type Error = X::Error;

    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn attach(&mut self, listener: &Rc<dyn Listener>) {
        for (i, slot) in self.iter_mut().enumerate() {
            slot.attach(listener.clone(), i as u32);
        }
    }
    fn complete(&mut self, index: usize) -> Kind {
        self[index].complete()
    }
    fn cancel_all(&mut self, found: &mut Vec<Rc<dyn Node>>) -> bool {
        let mut accepted = false;
        for slot in self.iter_mut() {
            accepted |= slot.cancel(found);
        }
        accepted
    }
    fn take_error(&mut self, index: usize) -> TaskError<X::Error> {
        match self[index].take() {
            Err(e) => e,
            Ok(_) => unreachable!("the recorded failure is an error"),
        }
    }
    fn take_values(&mut self) -> Vec<X::Output> {
        mem::take(self).into_iter().map(Slot::into_value).collect()
    }
    fn take_slots(&mut self) -> Self::Slots {
        mem::take(self)
            .into_iter()
            .map(Slot::into_outcome)
            .collect()
    }
}

/// The state a gather shares with its children (type-erased as [`Node`] in the handle).
struct GatherState<C: Children> {
    core: Option<Rc<Core>>,
    children: RefCell<C>,
    /// Children started so far (all of them, unless the gather is bounded).
    len: Cell<usize>,
    remaining: Cell<usize>,
    mode: Cell<Mode>,
    status: Cell<Status>,
    /// The first child that failed, and its panic if it panicked.
    failure: Cell<Option<u32>>,
    failure_panic: Cell<Option<Panic>>,
    cancel_requested: Cell<bool>,
    handle_dropped: Cell<bool>,
    waker: Cell<Option<Waker>>,
    listener: Cell<Option<(Rc<dyn Listener>, u32)>>,
    /// Callbacks of timeouts waiting for this gather's cancellation to finish.
    on_decided: Cell<Vec<Box<dyn FnOnce()>>>,
}

impl<C: Children> GatherState<C> {
    fn start(mut children: C) -> Gather<C::Values, C::Error> {
        let core = runtime::try_with_core(Rc::clone);
        if children.has_children() && core.is_none() {
            panic!(
                "gather() called outside a running event loop: call it from inside \
                 asyncio::run(..) or EventLoop::run_until_complete(..)"
            );
        }
        let state = Rc::new(GatherState {
            core,
            children: RefCell::new(children),
            len: Cell::new(0),
            remaining: Cell::new(0),
            mode: Cell::new(Mode::Default),
            status: Cell::new(Status::Pending),
            failure: Cell::new(None),
            failure_panic: Cell::new(None),
            cancel_requested: Cell::new(false),
            handle_dropped: Cell::new(false),
            waker: Cell::new(None),
            listener: Cell::new(None),
            on_decided: Cell::new(Vec::new()),
        });
        let listener: Rc<dyn Listener> = state.clone();
        state.children.borrow_mut().attach(&listener);
        C::refill(&state.children, &listener);
        let len = state.children.borrow().len();
        state.len.set(len);
        state.remaining.set(len);
        if len == 0 {
            state.status.set(Status::Decided);
        }
        Gather {
            node: NodeHandle(state),
            output: PhantomData,
        }
    }

    fn decide(&self) {
        self.status.set(Status::Decided);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
        if let Some((listener, index)) = self.listener.take() {
            self.core().push(Entry::notify(listener, index));
        }
        for f in self.on_decided.take() {
            self.core().push(Entry::callback(f));
        }
        if self.handle_dropped.get() {
            self.report_lost_panic();
        }
    }

    fn core(&self) -> &Rc<Core> {
        self.core
            .as_ref()
            .expect("a gather with children has a loop")
    }

    /// T4 for gathers: a decided panic that no handle can retrieve any more is reported.
    fn report_lost_panic(&self) {
        if self.status.get() != Status::Decided || self.cancel_requested.get() {
            return;
        }
        if let Some(panic) = self.failure_panic.take() {
            self.core().report(ExceptionContext::new(
                "Gather exception was never retrieved".into(),
                None,
                Some(panic),
            ));
        }
    }
}

impl<C: Children> Listener for GatherState<C> {
    fn child_done(self: Rc<Self>, index: u32) {
        let kind = self.children.borrow_mut().complete(index as usize);
        self.remaining.set(self.remaining.get() - 1);
        if self.status.get() != Status::Pending {
            return; // decided already: later outcomes are consumed silently (G4)
        }
        let failed = !matches!(kind, Kind::Ok);
        if failed && self.failure.get().is_none() && !self.cancel_requested.get() {
            match self.mode.get() {
                Mode::ReturnExceptions => {}
                mode => {
                    self.failure.set(Some(index));
                    if let Kind::Panicked(p) = kind {
                        self.failure_panic.set(Some(p));
                    }
                    if mode == Mode::Default {
                        self.decide();
                        return;
                    }
                    cancel_tree(self.clone(), false);
                }
            }
        }
        if C::LAZY && self.failure.get().is_none() && !self.cancel_requested.get() {
            let listener: Rc<dyn Listener> = self.clone();
            let started = C::refill(&self.children, &listener);
            self.len.set(self.len.get() + started);
            self.remaining.set(self.remaining.get() + started);
        }
        if self.remaining.get() == 0 {
            self.decide();
        }
    }
}

impl<C: Children> Node for GatherState<C> {
    fn is_done(&self) -> bool {
        self.status.get() != Status::Pending
    }

    fn is_cancelled(&self) -> bool {
        self.is_done() && self.cancel_requested.get()
    }

    fn len(&self) -> usize {
        self.len.get()
    }

    fn loop_id(&self) -> Option<u32> {
        self.core.as_ref().map(|core| core.id())
    }

    fn set_mode(&self, mode: Mode) {
        self.mode.set(mode);
    }

    fn set_listener(&self, listener: Rc<dyn Listener>, index: u32) {
        if self.is_done() {
            runtime::current_core("gather()").push(Entry::notify(listener, index));
        } else {
            self.listener.set(Some((listener, index)));
        }
    }

    fn when_decided(&self, f: Box<dyn FnOnce()>) {
        if self.is_done() {
            runtime::current_core("gather()").push(Entry::callback(f));
        } else {
            let mut callbacks = self.on_decided.take();
            callbacks.push(f);
            self.on_decided.set(callbacks);
        }
    }

    fn mark_cancel_requested(&self) {
        self.cancel_requested.set(true);
    }

    fn cancel_children(&self, found: &mut Vec<Rc<dyn Node>>) -> bool {
        self.children.borrow_mut().cancel_all(found)
    }

    fn register(&self, waker: &Waker) {
        let slot = match self.waker.take() {
            Some(w) if w.will_wake(waker) => w,
            _ => waker.clone(),
        };
        self.waker.set(Some(slot));
    }

    fn take_into(&self, out: &mut dyn Any) {
        match self.status.replace(Status::Taken) {
            Status::Decided => {}
            Status::Taken => panic!(
                "a Gather was awaited again after it returned its output: the output can be \
                 taken only once (ask is_done()/is_cancelled() instead)"
            ),
            Status::Pending => unreachable!("output taken before the gather was decided"),
        }
        self.failure_panic.take();
        let mut children = self.children.borrow_mut();
        if self.mode.get() == Mode::ReturnExceptions {
            let out = out
                .downcast_mut::<Option<Result<C::Slots, TaskError>>>()
                .expect("return_exceptions output type");
            *out = Some(if self.cancel_requested.get() {
                Err(TaskError::Cancelled)
            } else {
                Ok(children.take_slots())
            });
        } else {
            let out = out
                .downcast_mut::<Option<Result<C::Values, TaskError<C::Error>>>>()
                .expect("gather output type");
            *out = Some(if self.cancel_requested.get() {
                Err(TaskError::Cancelled)
            } else if let Some(i) = self.failure.get() {
                Err(children.take_error(i as usize))
            } else {
                Ok(children.take_values())
            });
        }
    }

    fn handle_dropped(&self) {
        self.handle_dropped.set(true);
        self.report_lost_panic();
    }
}

/// A group of children running concurrently, awaitable for all their results in input order:
/// asyncio's `_GatheringFuture`.
///
/// `O` is the output: `Vec<T>` from [`gather`](fn@gather), a tuple from [`gather!`](macro@crate::gather), and with
/// [`return_exceptions`](Gather::return_exceptions) one `Result` per child. `E` is the children's
/// error type for [`try_gather`](fn@try_gather). Await it by value or as `&mut gather` (to ask
/// [`is_done`](Gather::is_done) afterwards). Abandoning an await midway cancels the gather (rule
/// G14); a gather never awaited leaves its children running. Awaiting it again after it returned
/// its output panics.
///
/// # Examples
///
/// ```
/// use asyncio::{gather, run, sleep};
/// use std::time::Duration;
///
/// async fn square(n: u64) -> u64 {
///     sleep(Duration::from_millis(1)).await;
///     n * n
/// }
///
/// run(async {
///     let mut g = gather((1..=4).map(square));
///     assert!(!g.is_done());
///     assert_eq!((&mut g).await, Ok(vec![1, 4, 9, 16]));
///     assert!(g.is_done());
/// });
/// ```
pub struct Gather<O, E = Infallible> {
    node: NodeHandle,
    output: PhantomData<fn() -> (O, E)>,
}

/// The handle's reference to the shared state; dropping it tells the state no handle is left.
struct NodeHandle(Rc<dyn Node>);

impl std::ops::Deref for NodeHandle {
    type Target = Rc<dyn Node>;
    fn deref(&self) -> &Rc<dyn Node> {
        &self.0
    }
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        self.0.handle_dropped();
    }
}

/// Runs `children` concurrently and returns their results in input order: asyncio's
/// `gather(*aws)`.
///
/// Each child starts at once as a task (rule G1) — futures are spawned, [`Task`]s, [`Shield`]s and
/// [`Gather`]s are adopted — so the children run whether or not the gather is awaited. By default
/// the first child to fail (panic or cancellation) completes the gather with that error while the
/// others keep running (G4); see [`return_exceptions`](Gather::return_exceptions) and
/// [`cancel_on_error`](Gather::cancel_on_error). No children: done at once with an empty `Vec`.
///
/// # Panics
/// With children, outside a running event loop.
///
/// # Examples
///
/// ```
/// use asyncio::{gather, run, spawn};
///
/// run(async {
///     let tasks: Vec<_> = (0..3).map(|i| spawn(async move { i * 10 })).collect();
///     assert_eq!(gather(tasks).await, Ok(vec![0, 10, 20]));
///     assert_eq!(gather(Vec::<asyncio::Task<()>>::new()).await, Ok(vec![]));
/// });
/// ```
#[track_caller]
pub fn gather<I>(children: I) -> Gather<Vec<<I::Item as IntoChild<Plain>>::Output>>
where
    I: IntoIterator,
    I::Item: IntoChild<Plain, Error = Infallible>,
{
    from_vec(children)
}

/// Like [`gather`](fn@gather) for children returning `Result<T, E>`: `Err(e)` is a failure, reported as
/// [`TaskError::Failed(e)`](TaskError::Failed).
///
/// # Examples
///
/// ```
/// use asyncio::{run, try_gather, TaskError};
///
/// async fn parse(s: &'static str) -> Result<i64, std::num::ParseIntError> {
///     s.parse()
/// }
///
/// run(async {
///     assert_eq!(try_gather(["1", "2"].map(parse)).await, Ok(vec![1, 2]));
///     let err = try_gather(["1", "x"].map(parse)).await.unwrap_err();
///     assert!(matches!(err, TaskError::Failed(_)));
/// });
/// ```
#[track_caller]
pub fn try_gather<I, T, E>(children: I) -> Gather<Vec<T>, E>
where
    I: IntoIterator,
    I::Item: IntoChild<Try<E>, Output = T, Error = E>,
    T: 'static,
    E: 'static,
{
    from_vec(children)
}

/// The gather of a `Vec` of children of type `X`.
type VecGather<X, M> = Gather<Vec<<X as IntoChild<M>>::Output>, <X as IntoChild<M>>::Error>;

#[track_caller]
fn from_vec<M, I>(children: I) -> VecGather<I::Item, M>
where
    I: IntoIterator,
    I::Item: IntoChild<M>,
{
    let children = children.into_iter();
    let mut slots = Vec::with_capacity(children.size_hint().0);
    // A loop, not `map`: closures would hide the caller's location from the spawned children.
    for c in children {
        slots.push(Slot::Pending(c.into_child()));
    }
    GatherState::start(slots)
}

/// The shape of a gather's output with `return_exceptions`: one `Result` per child.
#[doc(hidden)]
pub trait GatherOutput<E> {
    type Slots;
}

impl<T, E> GatherOutput<E> for Vec<T> {
    type Slots = Vec<Result<T, TaskError<E>>>;
}

impl<O: 'static, E: 'static> Gather<O, E> {
    /// asyncio's `return_exceptions=True`: every child's outcome — value, failure, panic or
    /// cancellation — is placed in its slot, and the gather waits for all of them (rule G6). The
    /// gather's own `Err` is then only `Cancelled`: the gather itself was cancelled (G8).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, spawn, gather, TaskError};
    ///
    /// run(async {
    ///     let ok = spawn(async { 1 });
    ///     let bad = spawn(async { panic!("no") });
    ///     let out = gather([ok, bad]).return_exceptions().await.unwrap();
    ///     assert_eq!(out[0], Ok(1));
    ///     assert!(matches!(&out[1], Err(TaskError::Panicked(p)) if p.message() == "no"));
    /// });
    /// ```
    pub fn return_exceptions(self) -> Gather<O::Slots, Infallible>
    where
        O: GatherOutput<E>,
    {
        self.node.set_mode(Mode::ReturnExceptions);
        self.retype()
    }

    /// Beyond asyncio: the first failure cancels every other child not yet done, and the gather
    /// completes with that failure once they have all finished (rule G12, TaskGroup-like).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, spawn, gather, TaskError};
    ///
    /// run(async {
    ///     let slow = spawn(std::future::pending::<u8>());
    ///     let bad = spawn(async { panic!("stop") });
    ///     let mut g = gather([slow, bad]).cancel_on_error();
    ///     assert!(matches!((&mut g).await, Err(TaskError::Panicked(_))));
    /// });
    /// ```
    pub fn cancel_on_error(self) -> Self {
        self.node.set_mode(Mode::CancelOnError);
        self
    }

    /// Requests cancellation of every child not yet done (nested gathers included). Returns true if
    /// at least one child accepted; false, changing nothing, if the gather is already done (rule
    /// G7). A cancelled gather completes with `Err(Cancelled)` once all its children have finished
    /// (G8). Cancelling twice returns true twice while children are still finishing.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{gather, run, TaskError};
    ///
    /// run(async {
    ///     let mut g = gather([std::future::pending::<()>(), std::future::pending()]);
    ///     assert!(g.cancel());
    ///     assert_eq!((&mut g).await, Err(TaskError::Cancelled));
    ///     assert!(g.is_cancelled());
    ///     assert!(!g.cancel(), "already done");
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        !self.node.is_done() && cancel_tree(self.node.clone(), true)
    }

    /// True once the outcome is decided, whether or not anyone awaits the gather (rule G11).
    ///
    /// # Examples
    ///
    /// See [`Gather`].
    pub fn is_done(&self) -> bool {
        self.node.is_done()
    }

    /// True once the gather finished because it was cancelled through [`cancel`](Gather::cancel)
    /// or an abandoned await (not when a child was cancelled from outside: rule G5).
    ///
    /// # Examples
    ///
    /// See [`Gather::cancel`].
    pub fn is_cancelled(&self) -> bool {
        self.node.is_cancelled()
    }

    /// The number of children.
    ///
    /// # Examples
    ///
    /// ```
    /// asyncio::run(async {
    ///     assert_eq!(asyncio::gather((0..2).map(|_| async {})).len(), 2);
    /// });
    /// ```
    pub fn len(&self) -> usize {
        self.node.len()
    }

    /// True for a gather with no children (done at once).
    ///
    /// # Examples
    ///
    /// ```
    /// let g = asyncio::gather(Vec::<asyncio::Task<u8>>::new());
    /// assert!(g.is_empty() && g.is_done());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn retype<O2, E2>(self) -> Gather<O2, E2> {
        Gather {
            node: self.node,
            output: PhantomData,
        }
    }

    fn take_output(&mut self) -> Result<O, TaskError<E>> {
        let mut out: Option<Result<O, TaskError<E>>> = None;
        self.node.take_into(&mut out);
        out.expect("take_into wrote the output")
    }

    fn poll_output(&mut self, cx: &mut Context<'_>) -> Poll<Result<O, TaskError<E>>> {
        if self.node.is_done() {
            Poll::Ready(self.take_output())
        } else {
            task::assert_on_loop(self.node.loop_id(), "a Gather was awaited");
            self.node.register(cx.waker());
            Poll::Pending
        }
    }
}

impl<O, E> fmt::Debug for Gather<O, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.node.is_cancelled() {
            "cancelled"
        } else if self.node.is_done() {
            "done"
        } else {
            "pending"
        };
        f.debug_struct("Gather")
            .field("state", &format_args!("{state}"))
            .field("children", &self.node.len())
            .finish()
    }
}

impl<O: 'static, E: 'static> IntoFuture for Gather<O, E> {
    type Output = Result<O, TaskError<E>>;
    type IntoFuture = GatherFuture<O, E, Gather<O, E>>;

    fn into_future(self) -> Self::IntoFuture {
        GatherFuture::new(self)
    }
}

impl<'a, O: 'static, E: 'static> IntoFuture for &'a mut Gather<O, E> {
    type Output = Result<O, TaskError<E>>;
    type IntoFuture = GatherFuture<O, E, &'a mut Gather<O, E>>;

    fn into_future(self) -> Self::IntoFuture {
        GatherFuture::new(self)
    }
}

/// The future of awaiting a [`Gather`], owned or `&mut`. Dropping it after it was polled and before
/// the gather was decided cancels the gather (rule G14).
///
/// # Examples
///
/// ```
/// use asyncio::{gather, run};
/// use std::future::IntoFuture;
///
/// run(async {
///     let fut = gather([async { 'a' }]).into_future();
///     assert_eq!(fut.await, Ok(vec!['a']));
/// });
/// ```
pub struct GatherFuture<O: 'static, E: 'static, H: BorrowMut<Gather<O, E>>> {
    gather: H,
    polled: bool,
    output: PhantomData<fn() -> (O, E)>,
}

impl<O: 'static, E: 'static, H: BorrowMut<Gather<O, E>>> GatherFuture<O, E, H> {
    fn new(gather: H) -> Self {
        GatherFuture {
            gather,
            polled: false,
            output: PhantomData,
        }
    }
}

impl<O: 'static, E: 'static, H: BorrowMut<Gather<O, E>> + Unpin> Future for GatherFuture<O, E, H> {
    type Output = Result<O, TaskError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.polled = true;
        this.gather.borrow_mut().poll_output(cx)
    }
}

impl<O: 'static, E: 'static, H: BorrowMut<Gather<O, E>>> Drop for GatherFuture<O, E, H> {
    fn drop(&mut self) {
        let gather: &Gather<O, E> = self.gather.borrow();
        if self.polled && !gather.is_done() {
            gather.cancel();
            if let Some(drain) = runtime::drain::watch() {
                gather
                    .node
                    .when_decided(Box::new(move || drain.child_done(0)));
            }
        }
    }
}
