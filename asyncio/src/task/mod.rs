//! Tasks: `spawn`, the `Task<T>` handle, cancellation, done callbacks, names, and `shield`.
//!
//! # Ownership
//! A task is one allocation ([`raw`]) holding a [`Header`] with our per-task state and the wrapped
//! future (or, once finished, its output). References to it: the `Task` handle, each waker, and
//! the future itself while it lives; a run-queue entry owns the task's `SCHEDULED` bit. The
//! loop's registry keeps a plain pointer to every task whose future is alive, so `cancel()` and
//! `run`'s clean-up can always wake it.
//!
//! # States (the flag bits of [`Header`]; only the loop thread reads or writes them)
//! ```text
//! pending ──cancel()──▶ CANCEL_REQUESTED ──next turn: future dropped──▶ DONE|CANCELLED
//!    │                                         (also when the loop is closing)
//!    ├──future returns──────────────────────────────────────────────▶ DONE
//!    └──future panics───────────────────────────────────────────────▶ DONE|PANICKED
//! handle dropped (or detach()) ─▶ DETACHED      output taken by an awaiter or gather ─▶ RETRIEVED
//! ```
//! A panic that ends DETACHED and not RETRIEVED is reported through the loop's exception handler
//! (rule T4), once: when the task finishes if already detached, else when the handle is dropped.

mod raw;

use std::borrow::BorrowMut;
use std::cell::{Cell, UnsafeCell};
use std::convert::Infallible;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::rc::Rc;
use std::sync::atomic::AtomicU32;
use std::task::{Context, Poll, Waker};

use crate::error::{Panic, TaskError};
use crate::runtime::drain::{self, Drain};
use crate::runtime::{self, Core, Entry, ExceptionContext, Listener};
pub(crate) use raw::Scheduled;

const CANCEL_REQUESTED: u16 = 1 << 0;
const DONE: u16 = 1 << 1;
const CANCELLED: u16 = 1 << 2;
const PANICKED: u16 = 1 << 3;
const DETACHED: u16 = 1 << 4;
const RETRIEVED: u16 = 1 << 5;
/// A task group took the task's outcome: a panic is reported by the group, never as unretrieved.
const OBSERVED: u16 = 1 << 6;
/// The output is stored in the task, waiting for its handle to take it.
const OUTPUT: u16 = 1 << 7;
/// The task has an entry in its loop's `extras` table (a name, done callbacks, a drain).
const HAS_EXTRAS: u16 = 1 << 8;
/// The task's future has been dropped (finished, or cancelled and draining).
const FUTURE_GONE: u16 = 1 << 9;
/// `Header::waiter` holds a listener (its index in `Header::index`).
const WAITER_LISTENER: u16 = 1 << 10;
/// `Header::waiter` holds a waker.
const WAITER_WAKER: u16 = 1 << 11;

/// Per-task state, at the start of the task's allocation.
///
/// Invariant: `waiter` is empty once the task has completed (its future's reference dropped),
/// except while a [`Finished`] entry, which holds a reference of its own, waits to hand it its
/// notification; both happen on the loop thread. (A cancelled task still draining may hold a
/// waiter: its future's reference keeps the block alive.) The header itself may be dropped on whichever thread drops the last
/// waker, and then holds only `Send` data. Rarely used state (a name, done callbacks) lives in
/// the loop's `extras` table, keyed by task id, so that the header stays at 48 bytes: with a
/// future or output of up to 16 bytes the block is 64, a size class of its own in mimalloc (and
/// glibc), where 72 took 80. Aligned to 8 everywhere (the run queue's entries keep their kind in
/// a task pointer's three low bits).
#[repr(align(8))]
pub(crate) struct Header {
    /// Scheduled and complete bits and the reference count: see [`raw`]. Any thread.
    state: AtomicU32,
    /// The loop the task runs on. Never changes; any thread may read it.
    loop_id: u32,
    vtable: &'static raw::VTable,
    /// The task's id in the low 52 bits, its flags in the top 12 (one word for both keeps the
    /// header small).
    id_flags: Cell<u64>,
    /// Who is told when the task is done ([`Waiter`]), kept in two words: the flags say which
    /// field holds a value (`WAITER_LISTENER`, `WAITER_WAKER`, or neither).
    waiter: UnsafeCell<WaiterSlot>,
    /// Key of this task's entry in the loop's registry; valid while the future is alive.
    key: Cell<u32>,
    /// The task's place in its listener, with `WAITER_LISTENER`.
    index: Cell<u32>,
}

/// Where the flags sit in `Header::id_flags`.
pub(crate) const FLAGS_SHIFT: u32 = 52;

impl Drop for Header {
    fn drop(&mut self) {
        // Empty by the time a block is freed (see the invariant above); kept sound regardless.
        if self.has(WAITER_LISTENER | WAITER_WAKER) {
            drop(self.take_waiter());
        }
    }
}

/// Who is told when a task is done.
enum Waiter {
    None,
    /// A gather (or wait, or shield) and this task's place in it.
    Listener(Rc<dyn Listener>, u32),
    /// Something awaiting the handle directly.
    Waker(Waker),
}

/// The storage of a [`Waiter`]: `enum Waiter` takes three words (two two-word variants need a
/// tag), this takes two, with the tag in the header's flags. Only [`Header::set_waiter`] and
/// [`Header::take_waiter`] touch it.
union WaiterSlot {
    empty: (),
    listener: ManuallyDrop<Rc<dyn Listener>>,
    waker: ManuallyDrop<Waker>,
}

/// A task's rarely used state, in its loop's `extras` table.
#[derive(Default)]
pub(crate) struct Extras {
    name: Option<String>,
    callbacks: Vec<Box<dyn FnOnce()>>,
    /// Cancelled with its future dropped: the cancellations that drop requested, still running.
    drain: Option<Rc<Drain>>,
}

impl Header {
    /// Moves the waiter out, leaving none.
    #[inline(always)]
    fn take_waiter(&self) -> Waiter {
        let slot = self.waiter.get();
        // SAFETY: the flag says which field holds a value; it is cleared as the value is moved
        // out. Only the loop thread touches the slot (the header is `!Sync`), and no reference
        // into it outlives these calls.
        unsafe {
            if let Some((listener, index)) = self.take_listener() {
                Waiter::Listener(listener, index)
            } else if self.has(WAITER_WAKER) {
                self.clear(WAITER_WAKER);
                Waiter::Waker(ManuallyDrop::into_inner(ptr::read(&(*slot).waker)))
            } else {
                Waiter::None
            }
        }
    }

    /// Moves the waiter out if it is a listener.
    #[inline(always)]
    fn take_listener(&self) -> Option<(Rc<dyn Listener>, u32)> {
        if !self.has(WAITER_LISTENER) {
            return None;
        }
        self.clear(WAITER_LISTENER);
        // SAFETY: the flag says the listener field holds a value, moved out as the flag is
        // cleared (loop thread only, as in `take_waiter`).
        let listener =
            unsafe { ManuallyDrop::into_inner(ptr::read(&(*self.waiter.get()).listener)) };
        Some((listener, self.index.get()))
    }

    /// Replaces the waiter; the old one is dropped after the new one is in place.
    #[inline(always)]
    fn set_waiter(&self, waiter: Waiter) {
        let old = if self.has(WAITER_LISTENER | WAITER_WAKER) {
            self.take_waiter()
        } else {
            Waiter::None
        };
        let slot = self.waiter.get();
        // SAFETY: the slot is empty (taken above); writing a field and setting its flag keeps
        // the two in step. Loop thread only, as in `take_waiter`.
        unsafe {
            match waiter {
                Waiter::None => {}
                Waiter::Listener(listener, index) => {
                    slot.write(WaiterSlot {
                        listener: ManuallyDrop::new(listener),
                    });
                    self.index.set(index);
                    self.set(WAITER_LISTENER);
                }
                Waiter::Waker(waker) => {
                    slot.write(WaiterSlot {
                        waker: ManuallyDrop::new(waker),
                    });
                    self.set(WAITER_WAKER);
                }
            }
        }
        drop(old);
    }

    fn has(&self, flag: u16) -> bool {
        (self.id_flags.get() >> FLAGS_SHIFT) as u16 & flag != 0
    }

    fn set(&self, flag: u16) {
        self.id_flags
            .set(self.id_flags.get() | u64::from(flag) << FLAGS_SHIFT);
    }

    fn clear(&self, flag: u16) {
        self.id_flags
            .set(self.id_flags.get() & !(u64::from(flag) << FLAGS_SHIFT));
    }

    /// Runs `f` on the task's entry in its loop's `extras` table, made if missing.
    fn with_extras(&self, core: &Core, f: impl FnOnce(&mut Extras)) {
        self.set(HAS_EXTRAS);
        f(core.extras.borrow_mut().entry(self.id()).or_default());
    }

    /// The drain a cancelled task still waits for, if it is not empty yet (else it is dropped).
    fn drain(&self, core: &Core) -> Option<Rc<Drain>> {
        if !self.has(HAS_EXTRAS) {
            return None;
        }
        let mut extras = core.extras.borrow_mut();
        let slot = &mut extras.get_mut(&self.id())?.drain;
        if slot.as_ref().is_some_and(|d| !d.is_empty()) {
            return slot.clone();
        }
        *slot = None; // drained: the task may finish
        None
    }

    /// Drops the task's entry in the `extras` table (its handle and future are both gone).
    fn forget_extras(&self, core: &Core) {
        if self.has(HAS_EXTRAS) {
            self.clear(HAS_EXTRAS);
            drop(core.extras.borrow_mut().remove(&self.id()));
        }
    }

    /// Key of this task's entry in the loop's registry.
    pub(crate) fn key(&self) -> usize {
        self.key.get() as usize
    }

    /// The task's id ([`Task::id`]).
    pub(crate) fn id(&self) -> u64 {
        self.id_flags.get() & ((1 << FLAGS_SHIFT) - 1)
    }

    /// The name given with [`Task::set_name`], else `Task-<id>`.
    pub(crate) fn name(&self) -> String {
        let named = || {
            let core = runtime::loop_core(self.loop_id)?;
            let extras = core.extras.borrow();
            extras.get(&self.id())?.name.clone()
        };
        match self.has(HAS_EXTRAS).then(named).flatten() {
            Some(name) => name,
            None => format!("Task-{}", self.id()),
        }
    }

    /// At completion: the output to store for the handle, or `None` when there is no handle
    /// left to take it (the output is then dropped here, on the loop thread).
    fn keep_output<O>(&self, core: &Core, output: O) -> Option<O> {
        if !self.has(DETACHED) {
            self.set(OUTPUT);
            return Some(output);
        }
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(output))) {
            core.report(ExceptionContext::new(
                "a detached task's output panicked while being dropped".into(),
                Some(self.name()),
                Some(Panic::from_payload(payload)),
            ));
        }
        self.forget_extras(core);
        None
    }
}

/// A finished task on the run queue, holding a reference to it: tells the gather in its waiter
/// (on the loop thread; dropped unrun, it drops the waiter).
pub(crate) struct Finished(NonNull<Header>);

impl Finished {
    /// The task pointer, owning the reference (for a run-queue entry).
    pub(crate) fn into_raw(self) -> NonNull<Header> {
        ManuallyDrop::new(self).0
    }

    /// # Safety
    /// `ptr` came from [`Finished::into_raw`], and is turned back once.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> Finished {
        Finished(ptr)
    }

    /// Calls the listener's `child_done`.
    pub(crate) fn notify(self) {
        let task = ManuallyDrop::new(self).0;
        // SAFETY: the entry's reference keeps the task alive until the release below.
        let listener = unsafe { task.as_ref() }.take_listener();
        raw::release(task);
        if let Some((listener, index)) = listener {
            listener.child_done(index);
        }
    }
}

impl Drop for Finished {
    fn drop(&mut self) {
        // SAFETY: as in `notify`; the waiter goes before the reference, so a block freed on
        // another thread later finds it empty.
        drop(unsafe { self.0.as_ref() }.take_waiter());
        raw::release(self.0);
    }
}

/// A live task as the loop's registry holds it: a pointer that borrows the future's reference
/// (the entry is removed when the future completes, before that reference is dropped).
pub(crate) struct TaskPtr(NonNull<Header>);

impl TaskPtr {
    pub(crate) fn new(task: NonNull<Header>) -> TaskPtr {
        TaskPtr(task)
    }

    /// The task's address (for tests).
    #[cfg(test)]
    pub(crate) fn addr(&self) -> usize {
        self.0.addr().get()
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: registered tasks are alive (see the type's docs).
        unsafe { self.0.as_ref() }
    }

    /// Queues the task for its next turn, unless it is queued already.
    pub(crate) fn wake(&self) {
        raw::schedule(self.0);
    }
}

/// How a future's output becomes a task's result.
trait Outcome<O> {
    type Value;
    type Error;
    fn into_result(output: O) -> Result<Self::Value, TaskError<Self::Error>>;
}

/// Plain futures: the output is the value.
struct Plain;
impl<O> Outcome<O> for Plain {
    type Value = O;
    type Error = Infallible;
    fn into_result(output: O) -> Result<O, TaskError> {
        Ok(output)
    }
}

/// Futures that decide their task's result themselves (task group children).
struct Decided;
impl<T> Outcome<Result<T, TaskError>> for Decided {
    type Value = T;
    type Error = Infallible;
    fn into_result(output: Result<T, TaskError>) -> Result<T, TaskError> {
        output
    }
}

/// Futures returning `Result<T, E>`: `Err(e)` is the task's failure.
struct Fallible;
impl<T, E> Outcome<Result<T, E>> for Fallible {
    type Value = T;
    type Error = E;
    fn into_result(output: Result<T, E>) -> Result<T, TaskError<E>> {
        output.map_err(TaskError::Failed)
    }
}

/// The body of a task: the user's future plus cancellation, panic capture and the completion
/// bookkeeping. The future is kept bare, not in an enum with the states after it: a coroutine
/// exposes no niche, so an enum would add a word to every task. Whether it is still alive is the
/// header's `FUTURE_GONE` flag.
struct Wrapper<F, M> {
    future: ManuallyDrop<F>,
    mode: PhantomData<M>,
}

impl<F, M> raw::Body for Wrapper<F, M>
where
    F: Future,
    M: Outcome<F::Output>,
{
    type Output = Result<M::Value, TaskError<M::Error>>;

    fn poll(
        self: Pin<&mut Self>,
        task: NonNull<Header>,
        header: &Header,
        core: &Core,
        cx: &mut Context<'_>,
    ) -> Poll<Self::Output> {
        // SAFETY: the future is never moved: it is polled and dropped where it is.
        let this = unsafe { self.get_unchecked_mut() };
        let result = if header.has(FUTURE_GONE) {
            // Cancelled, the future dropped, waiting for the tasks and gathers its drop cancelled
            // to finish in turn (so cancellation completes depth-first, as asyncio's does).
            if let Some(drain) = header.drain(core) {
                drain.register(cx.waker());
                return Poll::Pending;
            }
            Err(TaskError::Cancelled)
        } else if header.has(CANCEL_REQUESTED) || core.is_closing() {
            Err(TaskError::Cancelled)
        } else {
            // SAFETY: alive (no FUTURE_GONE) and pinned in place (above).
            let future = unsafe { Pin::new_unchecked(&mut *this.future) };
            match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                // A task that cancelled itself and then returned still ends cancelled.
                Ok(Poll::Ready(_)) if header.has(CANCEL_REQUESTED) => Err(TaskError::Cancelled),
                Ok(Poll::Ready(output)) => M::into_result(output),
                Err(payload) => Err(TaskError::Panicked(Panic::from_payload(payload))),
            }
        };
        if !header.has(FUTURE_GONE) {
            // Drop the future now, so its `Drop` runs before the task counts as done; a panic
            // there is reported and the loop goes on. A cancelled task also waits for the
            // cancellations its future's drop requested (what it was awaiting) before it counts
            // as done (TO2).
            header.set(FUTURE_GONE);
            let cancelled = matches!(result, Err(TaskError::Cancelled));
            let future = &mut this.future;
            let dropped = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: dropped once: FUTURE_GONE, set above, keeps every later poll off it.
                let mut drop_future = || unsafe { ManuallyDrop::drop(future) };
                if cancelled {
                    Some(drain::collect(drop_future))
                } else {
                    drop_future();
                    None
                }
            }));
            let drain = dropped.unwrap_or_else(|payload| {
                core.report(ExceptionContext::new(
                    "a task's future panicked while being dropped".into(),
                    Some(header.name()),
                    Some(Panic::from_payload(payload)),
                ));
                None
            });
            if let Some(drain) = drain.filter(|d| !d.is_empty()) {
                drain.register(cx.waker());
                header.with_extras(core, |e| e.drain = Some(drain));
                return Poll::Pending;
            }
        }
        match &result {
            Err(TaskError::Cancelled) => header.set(CANCELLED),
            Err(TaskError::Panicked(_)) => header.set(PANICKED),
            _ => {}
        }
        let unretrieved = match &result {
            Err(TaskError::Panicked(p)) if header.has(DETACHED) && !header.has(OBSERVED) => Some(p),
            _ => None,
        };
        finish(task, header, core, unretrieved);
        Poll::Ready(result)
    }
}

/// Completion bookkeeping, on the loop thread: mark done, leave the registry, hand the gather and
/// done callbacks to the queue, and report a panic nobody can retrieve.
fn finish(task: NonNull<Header>, header: &Header, core: &Core, unretrieved: Option<&Panic>) {
    header.set(DONE);
    core.tasks.borrow_mut().remove(header.key());
    // A stale key must never remove another task's entry.
    header.key.set(u32::MAX);
    if header.has(WAITER_LISTENER) {
        // The listener stays in the header until the queue entry tells it.
        raw::add_ref(task);
        core.push(Entry::done(Finished(task)));
    } else if let Waiter::Waker(waker) = header.take_waiter() {
        // Foreign code: a panic here must not leave the task half-finished.
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| waker.wake())) {
            core.report(ExceptionContext::new(
                "the waker of a task awaiting a finished task panicked".into(),
                Some(header.name()),
                Some(Panic::from_payload(payload)),
            ));
        }
    }
    if header.has(HAS_EXTRAS) {
        let callbacks = core
            .extras
            .borrow_mut()
            .get_mut(&header.id())
            .map(|e| std::mem::take(&mut e.callbacks));
        for cb in callbacks.into_iter().flatten() {
            core.push(Entry::callback(cb));
        }
    }
    if let Some(panic) = unretrieved {
        report_unretrieved(core, header, panic);
    }
}

fn report_unretrieved(core: &Core, header: &Header, panic: &Panic) {
    core.report(ExceptionContext::new(
        "Task exception was never retrieved".into(),
        Some(header.name()),
        Some(panic.clone()),
    ));
}

/// Spawns `future` on `core`; `M` says how its output becomes the task's result.
fn spawn_on<F, M>(
    core: &Core,
    future: F,
    location: &'static Location<'static>,
) -> RawTask<M::Value, M::Error>
where
    F: Future + 'static,
    M: Outcome<F::Output> + 'static,
    M::Value: 'static,
    M::Error: 'static,
{
    let header = Header {
        state: AtomicU32::new(0),
        loop_id: core.id(),
        vtable: raw::vtable::<Wrapper<F, M>>(),
        id_flags: Cell::new(core.next_task_id()),
        waiter: UnsafeCell::new(WaiterSlot { empty: () }),
        key: Cell::new(u32::MAX),
        index: Cell::new(0),
    };
    let body = Wrapper::<F, M> {
        future: ManuallyDrop::new(future),
        mode: PhantomData,
    };
    let (ptr, scheduled) = raw::allocate(header, body);
    let key = core.tasks.borrow_mut().insert(ptr, location);
    let key = u32::try_from(key)
        .ok()
        .filter(|&k| k != u32::MAX)
        .unwrap_or_else(|| panic!("more than {} tasks alive on one loop", u32::MAX - 1));
    scheduled.header().key.set(key);
    core.push(Entry::task(scheduled));
    RawTask {
        ptr,
        output: PhantomData,
    }
}

/// Panics unless the running loop is the one with id `loop_id` (when there is one): a task or
/// gather makes progress only on its own loop, so using it from another would hang.
pub(crate) fn assert_on_loop(loop_id: Option<u32>, what: &str) {
    if loop_id.is_some() && runtime::try_with_core(|core| core.id()) != loop_id {
        panic!(
            "{what} outside the event loop it belongs to (on another loop, or none): it makes \
             progress only on its own loop, so use it from a future running there (asyncio: \
             \"attached to a different loop\")"
        );
    }
}

/// The engine of a task handle, shared by [`Task`] and gather children: one reference to the
/// task, and the right to its output. One pointer: the loop is found by the id in the header.
/// `!Send` (the pointer), as the task's state is the loop thread's.
#[doc(hidden)]
pub struct RawTask<T, E> {
    ptr: NonNull<Header>,
    output: PhantomData<fn() -> TaskResult<T, E>>,
}

/// What a task's output becomes: its result.
type TaskResult<T, E> = Result<T, TaskError<E>>;

impl<T, E> RawTask<T, E> {
    fn header(&self) -> &Header {
        // SAFETY: the handle's reference keeps the task alive.
        unsafe { self.ptr.as_ref() }
    }

    /// The id of the task's loop.
    pub(crate) fn loop_id(&self) -> u32 {
        self.header().loop_id
    }

    /// The task's loop, if it is still alive (it lives on this thread, as the handle does).
    fn core(&self) -> Option<Rc<Core>> {
        runtime::loop_core(self.header().loop_id)
    }

    /// Queues `entry` on the task's loop; dropped if the loop is gone (nothing would run it).
    pub(crate) fn push(&self, entry: Entry) {
        if let Some(core) = self.core() {
            core.push(entry);
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.header().has(DONE)
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.header().has(CANCELLED)
    }

    pub(crate) fn is_panicked(&self) -> bool {
        self.header().has(PANICKED)
    }

    /// Requests cancellation: true if the task was not done yet.
    pub(crate) fn cancel(&self) -> bool {
        let header = self.header();
        if header.has(DONE) {
            return false;
        }
        header.set(CANCEL_REQUESTED);
        raw::schedule(self.ptr);
        true
    }

    /// Makes `listener.child_done(index)` run once the task is done (at once if it already is).
    pub(crate) fn set_listener(&self, listener: Rc<dyn Listener>, index: u32) {
        let header = self.header();
        if header.has(DONE) {
            self.push(Entry::notify(listener, index));
        } else {
            header.set_waiter(Waiter::Listener(listener, index));
        }
    }

    /// Forgets the listener (a shield whose awaiter was cancelled).
    pub(crate) fn clear_listener(&self) {
        drop(self.header().take_waiter());
    }

    pub(crate) fn poll_output(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, TaskError<E>>> {
        let header = self.header();
        if header.has(OUTPUT) {
            header.clear(OUTPUT);
            header.set(RETRIEVED);
            // SAFETY: the output is stored and of this handle's type; it is marked taken above.
            return Poll::Ready(unsafe { raw::take_output(self.ptr) });
        }
        if header.has(RETRIEVED) {
            panic!(
                "a Task was awaited again after it returned its output: the output can be taken \
                 only once (ask is_done()/is_cancelled() instead)"
            );
        }
        debug_assert!(
            !header.has(DONE),
            "a finished task keeps its output for its handle"
        );
        if runtime::try_with_core(|c| c.id() == header.loop_id && c.current_key() == header.key())
            == Some(true)
        {
            panic!(
                "a task awaited its own handle: it would wait forever for itself to finish; \
                 await another task, or return from this one"
            );
        }
        // Awaited elsewhere, it would wait forever: the task runs only on its own loop.
        assert_on_loop(Some(header.loop_id), "a Task was awaited");
        let waker = match header.take_waiter() {
            Waiter::Waker(mut w) => {
                w.clone_from(cx.waker());
                w
            }
            _ => cx.waker().clone(),
        };
        header.set_waiter(Waiter::Waker(waker));
        Poll::Pending
    }

    /// Takes the output of a finished task.
    pub(crate) fn take_output(&mut self) -> Result<T, TaskError<E>> {
        match self.poll_output(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(out) => out,
            Poll::Pending => unreachable!("take_output on an unfinished task"),
        }
    }

    fn add_done_callback(&self, f: Box<dyn FnOnce()>) {
        let header = self.header();
        if header.has(DONE) {
            self.push(Entry::callback(f));
        } else {
            // Not done, so its loop is alive (it finishes every task before it goes).
            if let Some(core) = self.core() {
                header.with_extras(&core, |e| e.callbacks.push(f));
            }
        }
    }
}

impl<T, E> Drop for RawTask<T, E> {
    fn drop(&mut self) {
        /// Runs last, even if the output's `Drop` panics: a finished task without a handle has
        /// nobody left to ask for its name, so its extras entry goes; then the reference.
        struct Release(NonNull<Header>);
        impl Drop for Release {
            fn drop(&mut self) {
                // SAFETY: the handle's reference, released below, keeps the task alive.
                let header = unsafe { self.0.as_ref() };
                if header.has(DONE) && header.has(HAS_EXTRAS) {
                    if let Some(core) = runtime::loop_core(header.loop_id) {
                        header.forget_extras(&core);
                    }
                }
                raw::release(self.0);
            }
        }
        let _release = Release(self.ptr);
        let header = self.header();
        header.set(DETACHED);
        if header.has(OUTPUT) {
            if header.has(PANICKED) && !header.has(OBSERVED) {
                if let Err(TaskError::Panicked(p)) = self.take_output() {
                    match self.core() {
                        Some(core) => report_unretrieved(&core, self.header(), &p),
                        None => eprintln!(
                            "asyncio: Task exception was never retrieved: task '{}' {p}",
                            self.header().name()
                        ),
                    }
                }
            } else {
                header.clear(OUTPUT);
                // SAFETY: the output is stored and of this handle's type; it is marked gone above.
                unsafe { raw::drop_output::<TaskResult<T, E>>(self.ptr) };
            }
        }
    }
}

/// A handle to a spawned task: asyncio's `Task`.
///
/// Await it (by value, or as `&mut task` to keep the handle) for `Result<T, TaskError>`.
/// Dropping a handle that was never awaited leaves the task running (asyncio keeps tasks alive
/// while they run; so do we). Abandoning an await midway — the awaiting future is dropped by a
/// timeout, a select, or its own cancellation — cancels the task, as cancellation propagates
/// through `await` in asyncio (rule T5); [`shield`] stops that.
///
/// Awaiting a task a second time after it returned its output panics: the output is moved out
/// once. Ask [`is_done`](Task::is_done) and [`is_cancelled`](Task::is_cancelled) instead.
///
/// # Examples
///
/// ```
/// use asyncio::{run, spawn, sleep};
/// use std::time::Duration;
///
/// run(async {
///     let mut task = spawn(async { sleep(Duration::from_millis(1)).await; "hi" });
///     assert!(!task.is_done());
///     assert_eq!((&mut task).await, Ok("hi"));
///     assert!(task.is_done() && !task.is_cancelled());
/// });
/// ```
pub struct Task<T> {
    pub(crate) raw: RawTask<T, Infallible>,
}

/// Starts `future` as a task on the running loop and returns its handle: asyncio's
/// `create_task`. The task is scheduled at once and runs whether or not the handle is awaited
/// (rule L3); no `Send` bound, as the loop is single-threaded.
///
/// # Panics
/// Outside a running event loop: "spawn() called outside a running event loop".
///
/// # Examples
///
/// ```
/// use asyncio::{run, spawn, yield_now};
/// use std::{cell::Cell, rc::Rc};
///
/// run(async {
///     let hits = Rc::new(Cell::new(0));
///     let h = hits.clone();
///     spawn(async move { h.set(h.get() + 1) }); // handle dropped: still runs
///     yield_now().await;
///     assert_eq!(hits.get(), 1);
/// });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_at(future, Location::caller())
}

/// [`spawn`] with the spawn location given (a gather starting a child later).
pub(crate) fn spawn_at<F>(future: F, location: &'static Location<'static>) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    Task {
        raw: runtime::with_current_core("spawn()", |core| {
            spawn_on::<F, Plain>(core, future, location)
        }),
    }
}

/// Like [`spawn`] for a future returning `Result<T, E>`: an `Err(e)` becomes the task's
/// `TaskError::Failed(e)`, as for [`try_gather`](fn@crate::try_gather) children.
pub(crate) fn spawn_fallible<F, T, E>(
    future: F,
    location: &'static Location<'static>,
) -> RawTask<T, E>
where
    F: Future<Output = Result<T, E>> + 'static,
    T: 'static,
    E: 'static,
{
    runtime::with_current_core("spawn()", |core| {
        spawn_on::<F, Fallible>(core, future, location)
    })
}

/// Spawns a task group child: `future` decides the task's result (`Err(Cancelled)` when its group
/// cancelled it), and its panic is reported by the group, so never as unretrieved (T4).
#[track_caller]
pub(crate) fn spawn_observed<F, T>(future: F) -> Task<T>
where
    F: Future<Output = Result<T, TaskError>> + 'static,
    T: 'static,
{
    let location = Location::caller();
    let raw = runtime::with_current_core("TaskGroup::spawn()", |core| {
        spawn_on::<F, Decided>(core, future, location)
    });
    raw.header().set(OBSERVED);
    Task { raw }
}

impl<T> Task<T> {
    /// Requests cancellation: returns true if the task was not done yet. Its future is dropped at
    /// its next turn (before it ever runs, if it has not started: rule T6) and it finishes as
    /// cancelled; `Drop` impls are the clean-up. On a finished task it returns false and changes
    /// nothing. Cancelling twice returns true twice while the task is still pending.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, spawn, TaskError};
    ///
    /// run(async {
    ///     let mut t = spawn(std::future::pending::<()>());
    ///     assert!(t.cancel());
    ///     assert_eq!((&mut t).await, Err(TaskError::Cancelled));
    ///     assert!(t.is_cancelled());
    ///     assert!(!t.cancel(), "already done");
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        self.raw.cancel()
    }

    /// True once the task finished: with a value, a panic, or a cancellation.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, spawn, yield_now};
    /// run(async {
    ///     let t = spawn(async {});
    ///     assert!(!t.is_done());
    ///     yield_now().await;
    ///     assert!(t.is_done());
    /// });
    /// ```
    pub fn is_done(&self) -> bool {
        self.raw.is_done()
    }

    /// True once the task finished by cancellation.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, spawn, yield_now};
    /// run(async {
    ///     let t = spawn(async {});
    ///     t.cancel();
    ///     yield_now().await;
    ///     assert!(t.is_cancelled());
    /// });
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.raw.is_cancelled()
    }

    /// Runs `f` on the loop after the task finishes (on the next turn if it already has). Callbacks
    /// run once each, in the order they were added (rule T3); a panicking callback is reported
    /// through the exception handler and the loop goes on.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, spawn};
    /// use std::{cell::RefCell, rc::Rc};
    ///
    /// run(async {
    ///     let log = Rc::new(RefCell::new(Vec::new()));
    ///     let mut t = spawn(async {});
    ///     for i in 0..3 {
    ///         let log = log.clone();
    ///         t.add_done_callback(move || log.borrow_mut().push(i));
    ///     }
    ///     (&mut t).await.unwrap();
    ///     asyncio::yield_now().await;
    ///     assert_eq!(*log.borrow(), [0, 1, 2]);
    /// });
    /// ```
    pub fn add_done_callback(&self, f: impl FnOnce() + 'static) {
        self.raw.add_done_callback(Box::new(f));
    }

    /// The task's name: `Task-N` unless set with [`set_name`](Task::set_name).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, spawn};
    /// run(async {
    ///     let t = spawn(async {});
    ///     assert!(t.name().starts_with("Task-"));
    ///     t.set_name("fetcher");
    ///     assert_eq!(t.name(), "fetcher");
    /// });
    /// ```
    pub fn name(&self) -> String {
        self.raw.header().name()
    }

    /// Renames the task. Names are kept by the task's loop: once the loop has been dropped,
    /// a rename is ignored and [`name`](Task::name) gives `Task-<id>` again.
    ///
    /// # Examples
    ///
    /// See [`Task::name`].
    pub fn set_name(&self, name: impl Into<String>) {
        let name = name.into();
        if let Some(core) = self.raw.core() {
            self.raw
                .header()
                .with_extras(&core, |e| e.name = Some(name));
        }
    }

    /// The task's number on its loop, unique and in spawn order; the default name is
    /// `Task-{id}`, and [`all_tasks`](crate::all_tasks) reports it too.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, spawn};
    /// run(async {
    ///     let (a, b) = (spawn(async {}), spawn(async {}));
    ///     assert!(a.id() < b.id());
    ///     assert_eq!(a.name(), format!("Task-{}", a.id()));
    /// });
    /// ```
    pub fn id(&self) -> u64 {
        self.raw.header().id()
    }

    /// Lets the task run on without a handle (fire and forget). A panic in it is then reported
    /// through the loop's exception handler (rule T4).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, spawn, yield_now};
    /// use std::{cell::Cell, rc::Rc};
    ///
    /// run(async {
    ///     let ran = Rc::new(Cell::new(false));
    ///     let r = ran.clone();
    ///     spawn(async move { r.set(true) }).detach();
    ///     yield_now().await;
    ///     assert!(ran.get());
    /// });
    /// ```
    pub fn detach(self) {
        drop(self)
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = self.raw.header();
        let state = if h.has(CANCELLED) {
            "cancelled"
        } else if h.has(DONE) {
            "done"
        } else {
            "pending"
        };
        f.debug_struct("Task")
            .field("name", &h.name())
            .field("state", &format_args!("{state}"))
            .finish()
    }
}

impl<T> IntoFuture for Task<T> {
    type Output = Result<T, TaskError>;
    type IntoFuture = Join<T, Task<T>>;

    fn into_future(self) -> Self::IntoFuture {
        Join::new(self)
    }
}

impl<'a, T> IntoFuture for &'a mut Task<T> {
    type Output = Result<T, TaskError>;
    type IntoFuture = Join<T, &'a mut Task<T>>;

    fn into_future(self) -> Self::IntoFuture {
        Join::new(self)
    }
}

/// The future of awaiting a [`Task`], owned (`Join<T, Task<T>>`) or borrowed
/// (`Join<T, &mut Task<T>>`). Dropping it after it was polled and before the task finished cancels
/// the task (rule T5).
///
/// # Examples
///
/// ```
/// use asyncio::{run, spawn};
/// use std::future::IntoFuture;
///
/// run(async {
///     let join = spawn(async { 3 }).into_future();
///     assert_eq!(join.await, Ok(3));
/// });
/// ```
pub struct Join<T, H: BorrowMut<Task<T>>> {
    task: H,
    polled: bool,
    output: PhantomData<fn() -> T>,
}

impl<T, H: BorrowMut<Task<T>>> Join<T, H> {
    fn new(task: H) -> Self {
        Join {
            task,
            polled: false,
            output: PhantomData,
        }
    }
}

impl<T, H: BorrowMut<Task<T>> + Unpin> Future for Join<T, H> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.polled = true;
        this.task.borrow_mut().raw.poll_output(cx)
    }
}

impl<T, H: BorrowMut<Task<T>>> Drop for Join<T, H> {
    fn drop(&mut self) {
        let raw = &self.task.borrow().raw;
        if self.polled && !raw.is_done() {
            raw.cancel();
            if let Some(drain) = drain::watch() {
                raw.add_done_callback(Box::new(move || drain.child_done(0)));
            }
        }
    }
}

/// Protects a task from the cancellation of whoever awaits it: asyncio's `shield` (rule SH1).
///
/// Dropping the shield's await midway, or cancelling a gather holding it, leaves the task running;
/// if it then panics, the panic is reported once through the loop's exception handler, and a late
/// success is dropped silently. Cancelling the task itself still reaches the awaiter as
/// `Err(Cancelled)`.
///
/// # Examples
///
/// ```
/// use asyncio::{run, shield, sleep, spawn, yield_now};
/// use std::{cell::Cell, rc::Rc, time::Duration};
///
/// run(async {
///     let finished = Rc::new(Cell::new(false));
///     let f = finished.clone();
///     let task = spawn(async move { sleep(Duration::from_millis(1)).await; f.set(true) });
///     let waiter = spawn(shield(task).into_future());
///     yield_now().await;
///     waiter.cancel(); // cancels the waiter, not the shielded task
///     sleep(Duration::from_millis(5)).await;
///     assert!(finished.get());
/// });
/// # use std::future::IntoFuture;
/// ```
pub fn shield<T, H: BorrowMut<Task<T>>>(task: H) -> Shield<T, H> {
    Shield {
        task,
        output: PhantomData,
    }
}

/// A task behind a [`shield`]: awaitable, and adoptable by a gather (when it owns the task).
///
/// Shield a `&mut Task` to keep the handle: after a timed-out or abandoned wait, the task can
/// still be awaited (asyncio's `await wait_for(shield(task), d)`, then `await task`).
///
/// # Examples
///
/// ```
/// use asyncio::{run, shield, spawn, wait_for};
/// use std::time::Duration;
///
/// run(async {
///     assert_eq!(shield(spawn(async { 5 })).await, Ok(5));
///     let mut task = spawn(asyncio::sleep(Duration::from_millis(5)));
///     assert!(wait_for(shield(&mut task), Duration::ZERO).await.is_err());
///     assert_eq!(task.await, Ok(()), "the shielded task went on");
/// });
/// ```
pub struct Shield<T, H: BorrowMut<Task<T>> = Task<T>> {
    pub(crate) task: H,
    output: PhantomData<fn() -> T>,
}

impl<T, H: BorrowMut<Task<T>> + Unpin> IntoFuture for Shield<T, H> {
    type Output = Result<T, TaskError>;
    type IntoFuture = ShieldFuture<T, H>;

    fn into_future(self) -> ShieldFuture<T, H> {
        ShieldFuture {
            task: self.task,
            output: PhantomData,
        }
    }
}

/// The future of awaiting a [`Shield`]: dropping it never cancels the task.
///
/// # Examples
///
/// See [`shield`].
pub struct ShieldFuture<T, H: BorrowMut<Task<T>> = Task<T>> {
    task: H,
    output: PhantomData<fn() -> T>,
}

impl<T, H: BorrowMut<Task<T>> + Unpin> Future for ShieldFuture<T, H> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().task.borrow_mut().raw.poll_output(cx)
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::{self, EventLoop};
    use crate::{gather, spawn, yield_now, TaskError};
    use std::panic::{catch_unwind, AssertUnwindSafe};

    /// The header's size is what keeps a small task's block at 64 bytes (a size class of its
    /// own); a field added carelessly would push every small task into the 80-byte class.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn the_header_is_six_words() {
        assert_eq!(std::mem::size_of::<super::Header>(), 48);
    }

    /// The waker of a task's awaiter is kept once: replaced when the awaiter polls with another
    /// waker (the old clone dropped), consumed when the task finishes (both kinds of waiter share
    /// one two-word slot whose kind is in the header's flags).
    #[test]
    fn an_awaiters_waker_is_replaced_and_consumed_exactly_once() {
        use std::future::{Future, IntoFuture};
        use std::sync::Arc;
        use std::task::{Context, Wake, Waker};
        struct Count;
        impl Wake for Count {
            fn wake(self: Arc<Self>) {}
        }
        EventLoop::new().run_until_complete(async {
            let event = std::rc::Rc::new(crate::sync::Event::new());
            let e = event.clone();
            let mut join = Box::pin(
                spawn(async move {
                    e.wait().await;
                    7
                })
                .into_future(),
            );
            let (w1, w2) = (Arc::new(Count), Arc::new(Count));
            for w in [&w1, &w2] {
                let waker = Waker::from(w.clone());
                assert!(join
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending());
            }
            // w1's clone was dropped when w2's replaced it; w2's is kept by the task.
            assert_eq!((Arc::strong_count(&w1), Arc::strong_count(&w2)), (1, 2));
            event.set();
            yield_now().await; // the task finishes and wakes (consumes) w2's clone
            assert_eq!(Arc::strong_count(&w2), 1);
            assert_eq!(join.await, Ok(7));
        });
    }

    /// Entries in the running loop's extras table.
    fn extras_len() -> usize {
        runtime::try_with_core(|c| c.extras.borrow().len()).expect("inside the loop")
    }

    /// An output whose `Drop` panics.
    struct Bomb;

    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("bomb");
        }
    }

    #[test]
    fn extras_entries_go_with_their_tasks_in_the_common_flows() {
        let lp = EventLoop::new();
        lp.run_until_complete(async {
            for i in 0..5 {
                let t = spawn(async {
                    yield_now().await;
                    1
                });
                t.set_name(format!("t{i}"));
                t.add_done_callback(|| {});
            } // named and with callbacks, detached before they finish
            let t = spawn(async { 2 });
            t.set_name("awaited");
            assert_eq!(t.await, Ok(2));
            let inner = spawn(std::future::pending::<()>());
            let mid = spawn(async move { inner.await });
            let outer = spawn(async move { mid.await });
            outer.set_name("outer");
            yield_now().await;
            yield_now().await;
            outer.cancel(); // a chain of drains
            assert_eq!(outer.await, Err(TaskError::Cancelled));
            let a = spawn(async { 1 });
            a.set_name("gathered");
            assert_eq!(gather([a]).await, Ok(vec![1]));
            for _ in 0..5 {
                yield_now().await;
            }
            assert_eq!(extras_len(), 0);
        });
    }

    // Found in review: a handle dropped while its output's Drop panicked left the entry behind.
    #[test]
    fn a_panicking_output_drop_in_the_handle_still_drops_the_extras_entry() {
        let lp = EventLoop::new();
        lp.set_exception_handler(|_| {});
        lp.run_until_complete(async {
            let t = spawn(async { Bomb });
            t.set_name("named");
            yield_now().await;
            assert!(t.is_done());
            assert_eq!(extras_len(), 1);
            assert!(catch_unwind(AssertUnwindSafe(|| drop(t))).is_err());
            assert_eq!(
                extras_len(),
                0,
                "the entry of a finished, dropped task is gone"
            );
        });
    }
}
