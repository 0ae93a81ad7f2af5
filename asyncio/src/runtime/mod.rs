//! The event loop: one thread, one FIFO run queue, timers, and a door for wakes from other threads.
//!
//! # Model
//! The loop owns a [`Core`], reachable from the running thread through a thread local while the
//! loop runs. Everything that can run is an [`Entry`] on one FIFO queue, as in asyncio's
//! `_ready` deque: a scheduled task, a done callback, a gather notification, or the main future.
//!
//! One *turn* (asyncio's `_run_once`):
//! 1. move wakes that arrived from other threads (the injection queue) onto the run queue;
//! 2. wake every timer whose deadline has passed, in (deadline, arm order);
//! 3. run exactly the entries that were queued when the turn began (rule L4: a task that wakes
//!    itself goes to the back and runs next turn, so nothing starves timers or other tasks);
//! 4. if nothing is ready, block in the [`reactor`] until I/O is ready, the next deadline, or a
//!    wake from another thread (rule L6: no busy wait); the I/O wakes queue tasks for the next turn.
//!
//! # Clocks
//! The loop reads time through its [`Clock`]: the machine's monotonic clock, or a virtual one
//! ([`EventLoop::with_virtual_time`]) that stands still while anything is ready and, when nothing
//! is, jumps straight to the next deadline instead of parking. Timers, `sleep`, `EventLoop::time`
//! and [`now`](crate::now) all read the same clock, so code under test cannot tell the difference
//! except that an hour of sleeping takes no time.
//!
//! # Threads
//! The loop is single-threaded: `Core` is `!Send`, its cells are touched only by the loop thread, and
//! the hot path (spawn, a wake on the loop thread, poll, complete) takes no lock. Wakers are
//! `Send + Sync` as `std` requires: a wake on another thread lands in [`Shared::injected`] (a
//! mutex'd Vec, the only lock, off the hot path) and, if the loop is blocked in its reactor, fires
//! the reactor's `mio::Waker` to end the wait; a loop that is busy finds the wake at its next turn
//! without that system call, and a handshake on `parked` ensures no wake is lost in between.

pub(crate) mod drain;
mod entry;
mod handle;
pub(crate) mod introspect;
pub(crate) mod reactor;
mod registry;
pub(crate) mod timers;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::ptr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::error::Panic;
use crate::task::{Extras, Scheduled};
pub(crate) use entry::{Entry, Kind};
pub use handle::{ConcurrentFuture, LoopClosed, LoopHandle};
use reactor::Reactor;
use registry::{Registered, Registry};
use timers::Timers;

/// Something that waits for a child to finish (a gather). Called on the loop, from the queue, after
/// the child's output is stored, so the listener may take it.
#[doc(hidden)]
pub trait Listener {
    fn child_done(self: Rc<Self>, index: u32);
}

/// A task woken from another thread, or a callback, travelling through the injection queue.
enum Injected {
    Task(Scheduled),
    /// A callback from [`LoopHandle::call_soon_threadsafe`].
    Call(Box<dyn FnOnce() + Send>),
}

/// The part of the loop other threads may touch.
pub(crate) struct Shared {
    /// The loop's id (its key in `LOOPS`).
    id: u32,
    injected: Mutex<Vec<Injected>>,
    /// Set when `injected` may be non-empty, so the loop does not take the lock every turn.
    has_injected: AtomicBool,
    /// The main future was woken from another thread.
    main_woken: AtomicBool,
    /// Ends the loop's blocking wait in its reactor.
    waker: mio::Waker,
    /// The loop is blocked in its reactor, or about to be: only then does a wake from another
    /// thread need the waker's system call (see [`Core::block`]).
    parked: AtomicBool,
    /// Calls started on the blocking pool from this loop and not finished yet: a virtual clock
    /// waits for them instead of jumping (their results come in real time).
    blocking: AtomicUsize,
    /// Set, under the `injected` lock, when the `EventLoop` is dropped: no more callbacks.
    closed: AtomicBool,
}

impl Shared {
    /// Registry keys of the tasks waiting in the injection queue (for the task dump).
    fn injected_keys(&self) -> Vec<usize> {
        let injected = self.injected.lock().unwrap_or_else(|e| e.into_inner());
        injected
            .iter()
            .filter_map(|i| match i {
                Injected::Task(t) => Some(t.header().key()),
                Injected::Call(_) => None,
            })
            .collect()
    }

    fn inject(&self, task: Scheduled) {
        {
            let mut queue = self.injected.lock().unwrap_or_else(|e| e.into_inner());
            if self.closed.load(Ordering::Acquire) {
                // The loop is gone, its tasks completed: nothing to run. Dropped after the lock.
                drop(queue);
                return drop(task);
            }
            queue.push(Injected::Task(task));
        }
        self.has_injected.store(true, Ordering::SeqCst);
        self.notify();
    }

    /// Ends the loop's wait, if it is waiting. Call it after storing (`SeqCst`) the flag that
    /// says there is work (`has_injected` or `main_woken`): [`Core::block`] stores `parked`
    /// before it reads those flags for the last time, so either the loop sees the work or this
    /// sees the loop parked — a wake is never lost, and a busy loop costs wakers no system call.
    fn notify(&self) {
        if self.parked.load(Ordering::SeqCst) {
            // Fails only if the eventfd counter is saturated, i.e. a wake is already pending.
            let _ = self.waker.wake();
        }
    }
}

/// Queues a task on its loop: on the loop's own running thread, onto the local queue with no
/// lock; anywhere else, through the injection queue of the loop with the task's id (a task whose
/// loop is gone is dropped).
pub(crate) fn schedule(task: Scheduled) {
    let loop_id = task.loop_id();
    let mut task = Some(task);
    try_with_core(|core| {
        if core.id == loop_id {
            core.push(Entry::task(task.take().expect("once")));
        }
    });
    // Another thread, or the loop not running.
    if let Some(task) = task {
        let shared = LOOPS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&loop_id)
            .and_then(Weak::upgrade);
        if let Some(shared) = shared {
            shared.inject(task);
        }
    }
}

/// Every loop not yet dropped, by id: how a wake from another thread finds its task's loop
/// (tasks keep only the id, to stay small).
static LOOPS: Mutex<BTreeMap<u32, Weak<Shared>>> = Mutex::new(BTreeMap::new());

/// A call on the blocking pool, counted by the loop that started it while it runs (see
/// `Shared::blocking`). Dropped by the pool thread after the call's result is delivered.
pub(crate) struct BlockingCall(Arc<Shared>);

impl BlockingCall {
    /// Counts a call starting now, if a loop is running on this thread.
    pub(crate) fn start() -> Option<BlockingCall> {
        try_with_core(|core| {
            core.shared.blocking.fetch_add(1, Ordering::SeqCst);
            BlockingCall(core.shared.clone())
        })
    }
}

impl Drop for BlockingCall {
    fn drop(&mut self) {
        self.0.blocking.fetch_sub(1, Ordering::SeqCst);
        self.0.notify();
    }
}

/// A loop that always has work still collects ready I/O every this many turns (tokio's default
/// event interval is 61 ticks).
const BUSY_IO_INTERVAL: u32 = 61;

/// Loop ids: how a task's waker finds its loop (through `LOOPS`), and how a `Sleep` or a handle
/// tells whether the running loop is its own. 32 bits keep tasks and sleeps small. After four
/// billion loops the counter wraps; an id still in `LOOPS` (a loop not yet dropped) is skipped, so
/// two live loops never share one. A dropped loop's tasks have all completed, so a late wake of
/// one does nothing, whichever loop has its id by then; a `Sleep` would also need the same timer
/// slot and arm sequence number to be mistaken.
static NEXT_LOOP_ID: AtomicU32 = AtomicU32::new(1);

thread_local! {
    /// The loop running on this thread, if any: the `Rc` an [`Enter`] borrows, or null. A raw
    /// pointer rather than an `Option<Rc<Core>>` so the slot needs no destructor: reading it is a
    /// plain thread-local load, with no lazy registration or borrow flag on every wake and spawn.
    static CURRENT: Cell<*const Rc<Core>> = const { Cell::new(ptr::null()) };
    /// The loops made on this thread and not dropped yet.
    static THREAD_LOOPS: RefCell<Vec<std::rc::Weak<Core>>> = const { RefCell::new(Vec::new()) };
}

/// The loop with id `loop_id` if it lives on this thread, running or not: how a task handle,
/// which keeps only its loop's id, reaches its loop.
pub(crate) fn loop_core(loop_id: u32) -> Option<Rc<Core>> {
    try_with_core(|c| (c.id == loop_id).then(|| c.clone()))
        .flatten()
        .or_else(|| {
            THREAD_LOOPS
                .try_with(|l| {
                    l.borrow()
                        .iter()
                        .filter_map(std::rc::Weak::upgrade)
                        .find(|c| c.id == loop_id)
                })
                .ok()
                .flatten()
        })
}

/// Calls `f` with the running loop, or returns `None` when no loop runs on this thread.
#[inline]
pub(crate) fn try_with_core<R>(f: impl FnOnce(&Rc<Core>) -> R) -> Option<R> {
    let core = CURRENT.with(Cell::get);
    // SAFETY: `CURRENT` is non-null only while an `Enter` lives on this thread's stack, and it
    // points at the `Rc` that `Enter` borrows for its whole life; `f` runs inside that life
    // (nothing it can call drops the `Enter` of an enclosing frame).
    (!core.is_null()).then(|| f(unsafe { &*core }))
}

/// The running loop; panics with `what` named in the message when there is none.
pub(crate) fn current_core(what: &str) -> Rc<Core> {
    with_current_core(what, Rc::clone)
}

/// Calls `f` with the running loop; panics with `what` named in the message when there is none.
pub(crate) fn with_current_core<R>(what: &str, f: impl FnOnce(&Rc<Core>) -> R) -> R {
    try_with_core(f).unwrap_or_else(|| {
        panic!(
            "{what} called outside a running event loop: call it from inside asyncio::run(..) or \
             EventLoop::run_until_complete(..)"
        )
    })
}

type Handler = Rc<dyn Fn(&ExceptionContext)>;

/// The loop's state. Only the loop thread touches it.
pub(crate) struct Core {
    id: u32,
    pub(crate) shared: Arc<Shared>,
    queue: RefCell<VecDeque<Entry>>,
    /// Every task whose future is still alive: `cancel()` and the clean-up of `run` wake them
    /// through it, and the task dump lists them.
    pub(crate) tasks: RefCell<Registry>,
    /// Registry key of the task being polled, `usize::MAX` when none is.
    current: Cell<usize>,
    pub(crate) timers: RefCell<Timers>,
    /// Names and done callbacks of tasks that have them, by task id (kept out of the task
    /// headers, which they would grow by a word for every task).
    pub(crate) extras: RefCell<HashMap<u64, Extras>>,
    pub(crate) reactor: Reactor,
    /// Set by the clean-up: every task is cancelled at its next turn, new ones before they start.
    closing: Cell<bool>,
    main_queued: Cell<bool>,
    /// Turns in a row that found work queued, since I/O was last collected.
    busy_turns: Cell<u32>,
    next_task_id: Cell<u64>,
    handler: RefCell<Option<Handler>>,
    clock: Clock,
}

/// Where the loop's time comes from.
enum Clock {
    /// The machine's monotonic clock.
    Real,
    /// Test time: `start + elapsed`, where `elapsed` only grows when the loop is idle and jumps
    /// to the next deadline.
    Virtual {
        start: Instant,
        elapsed: Cell<Duration>,
    },
}

impl Clock {
    fn now(&self) -> Instant {
        match self {
            Clock::Real => Instant::now(),
            Clock::Virtual { start, elapsed } => *start + elapsed.get(),
        }
    }
}

impl Core {
    fn new(clock: Clock) -> Core {
        let (reactor, waker) = Reactor::new().unwrap_or_else(|e| {
            panic!("could not create the event loop's I/O poller: {e} (out of file descriptors?)")
        });
        let mut loops = LOOPS.lock().unwrap_or_else(|e| e.into_inner());
        let id = loop {
            let id = NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed);
            if id != 0 && !loops.contains_key(&id) {
                break id;
            }
        };
        let shared = Arc::new(Shared {
            id,
            injected: Mutex::new(Vec::new()),
            has_injected: AtomicBool::new(false),
            main_woken: AtomicBool::new(false),
            waker,
            parked: AtomicBool::new(false),
            blocking: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        });
        loops.insert(id, Arc::downgrade(&shared));
        drop(loops);
        Core {
            id,
            shared,
            reactor,
            queue: RefCell::new(VecDeque::new()),
            tasks: RefCell::new(Registry::new()),
            current: Cell::new(usize::MAX),
            timers: RefCell::new(Timers::new(clock.now())),
            extras: RefCell::new(HashMap::new()),
            closing: Cell::new(false),
            main_queued: Cell::new(false),
            busy_turns: Cell::new(0),
            next_task_id: Cell::new(1),
            handler: RefCell::new(None),
            clock,
        }
    }

    /// The loop's current time (see [`Clock`]).
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    pub(crate) fn push(&self, entry: Entry) {
        self.queue.borrow_mut().push_back(entry);
    }

    /// Registry key of the task being polled, `usize::MAX` when none is.
    pub(crate) fn current_key(&self) -> usize {
        self.current.get()
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.get()
    }

    /// A new task id: ids fit in 54 bits (the task header keeps its flags beside the id), enough
    /// for a loop spawning a task every nanosecond for half a year, or ten million a second for
    /// fifty years.
    pub(crate) fn next_task_id(&self) -> u64 {
        let id = self.next_task_id.get();
        assert!(
            id < 1 << crate::task::FLAGS_SHIFT,
            "this loop has spawned 2^54 tasks: task ids are exhausted"
        );
        self.next_task_id.set(id + 1);
        id
    }

    fn schedule_main(&self) {
        if !self.main_queued.replace(true) {
            self.push(Entry::main());
        }
    }

    /// Reports an error nobody could receive: through the handler set with
    /// [`EventLoop::set_exception_handler`], or one line on stderr.
    pub(crate) fn report(&self, context: ExceptionContext) {
        let handler = self.handler.borrow().clone();
        let outcome = catch_unwind(AssertUnwindSafe(|| match handler {
            Some(h) => h(&context),
            None => eprintln!("asyncio: {context}"),
        }));
        if outcome.is_err() {
            eprintln!("asyncio: the exception handler panicked while reporting: {context}");
        }
    }

    /// Moves cross-thread wakes and due timers onto the run queue.
    fn collect_ready(&self) {
        if self.shared.has_injected.swap(false, Ordering::Acquire) {
            let injected = std::mem::take(
                &mut *self
                    .shared
                    .injected
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()),
            );
            let mut queue = self.queue.borrow_mut();
            queue.extend(injected.into_iter().map(|i| match i {
                Injected::Task(r) => Entry::task(r),
                Injected::Call(f) => Entry::callback(f),
            }));
        }
        if self.shared.main_woken.swap(false, Ordering::Acquire) {
            self.schedule_main();
        }
        if self.timers.borrow().len() > 0 {
            let now = self.now();
            loop {
                // Release the borrow before waking: the waker may arm another timer.
                let due = self.timers.borrow_mut().pop_due(now);
                match due {
                    Some(waker) => waker.wake(),
                    None => break,
                }
            }
        }
    }

    /// Runs one turn; `main` is called for an `Entry::Main` and returns true when main finished,
    /// which ends the turn early (the rest stays queued).
    fn turn(&self, main: &mut dyn FnMut() -> bool) -> bool {
        self.collect_ready();
        let n = self.queue.borrow().len();
        for _ in 0..n {
            let Some(entry) = self.queue.borrow_mut().pop_front() else {
                break;
            };
            match entry.into_kind() {
                Kind::Task(task) => {
                    self.current.set(task.header().key());
                    task.run(self);
                    self.current.set(usize::MAX);
                }
                Kind::Done(task) => task.notify(),
                Kind::Callback(f) => {
                    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
                        self.report(ExceptionContext::new(
                            "a done callback panicked".into(),
                            None,
                            Some(Panic::from_payload(payload)),
                        ));
                    }
                }
                Kind::Notify(listener, index) => listener.child_done(index),
                Kind::Main => {
                    self.main_queued.set(false);
                    if main() {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Blocks in the reactor until something may be ready: I/O, the next deadline, or a wake from
    /// another thread (rule L6). On a virtual clock, a deadline is reached by moving the clock, not by waiting.
    fn park(&self) {
        if !self.queue.borrow().is_empty()
            || self.shared.has_injected.load(Ordering::Acquire)
            || self.shared.main_woken.load(Ordering::Acquire)
        {
            // Busy: still collect ready I/O, without blocking, so busy tasks cannot starve it —
            // every `BUSY_IO_INTERVAL` turns, as a system call each turn would cost more than a
            // short turn does.
            if self.reactor.len() > 0 {
                let turns = self.busy_turns.get() + 1;
                if turns >= BUSY_IO_INTERVAL {
                    self.reactor.wait(Some(Duration::ZERO));
                    self.busy_turns.set(0);
                } else {
                    self.busy_turns.set(turns);
                }
            }
            return;
        }
        self.busy_turns.set(0); // this wait collects I/O
        let deadline = self.timers.borrow_mut().next_deadline();
        match (deadline, &self.clock) {
            (Some(_), Clock::Virtual { .. }) if self.shared.blocking.load(Ordering::SeqCst) > 0 => {
                // A blocking call finishes in real time: wait for it rather than jump past it.
                self.block(None, true);
            }
            (Some(d), Clock::Virtual { start, elapsed }) => {
                // Collect I/O that is ready now; jump the clock only if that woke nothing.
                self.reactor.wait(Some(Duration::ZERO));
                if self.queue.borrow().is_empty() {
                    elapsed.set(elapsed.get().max(d.saturating_duration_since(*start)));
                }
            }
            (Some(d), Clock::Real) => {
                self.block(Some(d.saturating_duration_since(Instant::now())), false)
            }
            (None, _) => self.block(None, false),
        }
    }

    /// Waits in the reactor for up to `timeout` (forever if `None`), unless another thread has
    /// sent work meanwhile (see [`Shared::notify`] for the handshake) or, with `for_blocking`,
    /// the blocking calls have all finished.
    fn block(&self, timeout: Option<Duration>, for_blocking: bool) {
        let shared = &self.shared;
        shared.parked.store(true, Ordering::SeqCst);
        let work_came = shared.has_injected.load(Ordering::SeqCst)
            || shared.main_woken.load(Ordering::SeqCst)
            || (for_blocking && shared.blocking.load(Ordering::SeqCst) == 0);
        if !work_came {
            self.reactor.wait(timeout);
        }
        shared.parked.store(false, Ordering::Relaxed);
    }

    /// asyncio.run's clean-up (rule L1): cancel every task still pending and run the loop until
    /// their futures are all dropped and the queue is empty.
    fn shut_down(&self) {
        self.closing.set(true);
        let mut wake_all = true;
        loop {
            if wake_all {
                self.tasks.borrow().iter().for_each(|(_, t)| t.task.wake());
            }
            self.turn(&mut || false);
            let idle =
                self.queue.borrow().is_empty() && !self.shared.has_injected.load(Ordering::Acquire);
            if idle && self.tasks.borrow().is_empty() {
                break;
            }
            // A woken task ends at its next turn, or once what it awaited has ended in turn (a
            // chain of cancellations, one link per turn): waking everyone again each turn would
            // make a long chain quadratic. Only when nothing at all is queued are the stragglers
            // woken again.
            wake_all = idle;
        }
        // Nothing can be scheduled any more; drop what is left (timers of dropped futures).
        self.timers.borrow_mut().clear();
    }
}

/// Sets the thread's current loop for the duration of a run, and clears it even on panic. It
/// borrows the loop's `Rc`, so the pointer in `CURRENT` stays valid while it lives.
struct Enter<'a>(PhantomData<&'a Rc<Core>>);

impl<'a> Enter<'a> {
    fn new(core: &'a Rc<Core>) -> Enter<'a> {
        CURRENT.with(|c| {
            if !c.get().is_null() {
                panic!(
                    "an event loop is already running on this thread: run()/run_until_complete() \
                     cannot be nested; inside async code, `.await` the future (or spawn() it) \
                     instead"
                );
            }
            c.set(core);
        });
        Enter(PhantomData)
    }
}

impl Drop for Enter<'_> {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(ptr::null()));
    }
}

/// The main future's waker: it queues `Entry::Main` on the loop thread, or flags and unparks.
struct MainWaker {
    shared: Arc<Shared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let local = try_with_core(|core| {
            let mine = Arc::ptr_eq(&core.shared, &self.shared);
            if mine {
                core.schedule_main();
            }
            mine
        });
        if local != Some(true) {
            self.shared.main_woken.store(true, Ordering::SeqCst);
            self.shared.notify();
        }
    }
}

/// An asyncio event loop: tasks, timers and the queue that runs them, on the current thread.
///
/// Most programs call [`run`]; `EventLoop` is the explicit form, for running several futures on one
/// loop, reading [`time`](EventLoop::time), or setting an exception handler. Dropping the loop
/// cancels every task still pending and lets them finish (asyncio's `Runner.close`).
///
/// # Examples
///
/// ```
/// use asyncio::{spawn, EventLoop};
///
/// let lp = EventLoop::new();
/// let task = lp.run_until_complete(async { spawn(async { 6 * 7 }) });
/// assert_eq!(lp.run_until_complete(task), Ok(42));
/// ```
pub struct EventLoop {
    core: Rc<Core>,
}

impl EventLoop {
    /// Creates a loop bound to the current thread (it is `!Send`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = asyncio::EventLoop::new();
    /// assert_eq!(lp.run_until_complete(async { 1 + 1 }), 2);
    /// ```
    #[allow(clippy::new_without_default)]
    pub fn new() -> EventLoop {
        EventLoop::with_clock(Clock::Real)
    }

    /// Creates a loop whose clock is virtual, for tests: time stands still while anything is
    /// ready, and when nothing is, it jumps to the next timer's deadline at once. `sleep(1 hour)`
    /// finishes immediately, and [`time`](EventLoop::time) then says an hour has passed; the order
    /// of events is exactly the order they would have on the real clock, whatever the machine's
    /// speed.
    ///
    /// The virtual clock starts at the real [`Instant::now`] of its creation and never moves on
    /// its own: read it with [`EventLoop::time`] or [`now`](crate::now) (not `Instant::now`, which
    /// keeps the machine's time). A task that is always ready (one that wakes itself forever)
    /// therefore stops the clock. The loop never waits for a timer: when nothing is ready it
    /// moves the clock to the next deadline at once, even if another thread is about to wake a
    /// task. It waits for other threads only when no timer is armed, or while a
    /// [`to_thread`](crate::to_thread) (or [`BlockingPool::run`](crate::BlockingPool::run)) call
    /// started from this loop is running: such a call takes real time, so the virtual clock stands
    /// still until it returns (as tokio's paused clock does for `spawn_blocking`). I/O in flight
    /// does not stop the clock: a peer that answers in real time loses to a virtual timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{gather, sleep, EventLoop};
    /// use std::time::Duration;
    ///
    /// let lp = EventLoop::with_virtual_time();
    /// let start = lp.time();
    /// let order = lp.run_until_complete(async {
    ///     let late = async { sleep(Duration::from_secs(3600)).await; "an hour" };
    ///     let soon = async { sleep(Duration::from_secs(60)).await; "a minute" };
    ///     gather!(late, soon).await
    /// });
    /// assert_eq!(order, Ok(("an hour", "a minute")));
    /// assert_eq!(lp.time() - start, Duration::from_secs(3600));
    /// ```
    pub fn with_virtual_time() -> EventLoop {
        EventLoop::with_clock(Clock::Virtual {
            start: Instant::now(),
            elapsed: Cell::new(Duration::ZERO),
        })
    }

    fn with_clock(clock: Clock) -> EventLoop {
        let core = Rc::new(Core::new(clock));
        THREAD_LOOPS.with(|l| l.borrow_mut().push(Rc::downgrade(&core)));
        EventLoop { core }
    }

    /// Runs the loop until `future` completes and returns its output (asyncio's
    /// `loop.run_until_complete`). Tasks still pending afterwards stay on the loop: a later call
    /// continues them, and dropping the loop cancels them.
    ///
    /// # Panics
    /// When a loop is already running on this thread; and, after the loop has stopped cleanly,
    /// when `future` itself panics (tasks' panics are captured in their `TaskError` instead).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{sleep, EventLoop};
    /// use std::time::Duration;
    ///
    /// let lp = EventLoop::new();
    /// let out = lp.run_until_complete(async {
    ///     sleep(Duration::from_millis(1)).await;
    ///     "done"
    /// });
    /// assert_eq!(out, "done");
    /// ```
    pub fn run_until_complete<F: IntoFuture>(&self, future: F) -> F::Output {
        let core = &self.core;
        let _enter = Enter::new(core);
        let mut future = pin!(future.into_future());
        let waker = Waker::from(Arc::new(MainWaker {
            shared: core.shared.clone(),
        }));
        let mut cx = Context::from_waker(&waker);
        let mut output = None;
        core.schedule_main();
        let mut poll_main = || match future.as_mut().poll(&mut cx) {
            Poll::Ready(v) => {
                output = Some(v);
                true
            }
            Poll::Pending => false,
        };
        while !core.turn(&mut poll_main) {
            core.park();
        }
        output.expect("main finished")
    }

    /// The loop's clock: a monotonic [`Instant`], the reference for [`sleep_until`](crate::sleep_until)
    /// (asyncio's `loop.time()`). On a [virtual clock](EventLoop::with_virtual_time) it is the
    /// virtual time.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{sleep_until, EventLoop};
    /// use std::time::Duration;
    ///
    /// let lp = EventLoop::new();
    /// let start = lp.time();
    /// lp.run_until_complete(sleep_until(start + Duration::from_millis(2)));
    /// assert!(lp.time() >= start + Duration::from_millis(2));
    /// ```
    pub fn time(&self) -> Instant {
        self.core.now()
    }

    /// Sets the handler for errors nobody can receive: a task that panicked and whose handle was
    /// dropped without awaiting it, a panicking done callback, a `Drop` that panicked while a task
    /// was cancelled (asyncio's `loop.set_exception_handler`). The default writes one line to
    /// stderr, like asyncio's "Task exception was never retrieved".
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{spawn, EventLoop};
    /// use std::{cell::RefCell, rc::Rc};
    ///
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let lp = EventLoop::new();
    /// let log = seen.clone();
    /// lp.set_exception_handler(move |ctx| log.borrow_mut().push(ctx.to_string()));
    /// lp.run_until_complete(async {
    ///     drop(spawn(async { panic!("lost") })); // never awaited
    ///     asyncio::yield_now().await;
    /// });
    /// assert_eq!(seen.borrow().len(), 1);
    /// assert!(seen.borrow()[0].contains("lost"));
    /// ```
    pub fn set_exception_handler(&self, handler: impl Fn(&ExceptionContext) + 'static) {
        *self.core.handler.borrow_mut() = Some(Rc::new(handler));
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        let core = &self.core;
        // Nothing to clean up when nothing ever ran (e.g. `run` refused inside a running loop).
        if !core.tasks.borrow().is_empty() || !core.queue.borrow().is_empty() {
            // Dropped inside another running loop: clean up without entering; our tasks' wakes
            // then reach us through the injection queue.
            let _enter = CURRENT
                .with(|c| c.get().is_null())
                .then(|| Enter::new(core));
            core.shut_down();
        }
        core.shared.close();
        let id = core.id;
        let _ = THREAD_LOOPS.try_with(|l| {
            l.borrow_mut()
                .retain(|c| c.upgrade().is_some_and(|c| c.id != id))
        });
    }
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("tasks", &self.core.tasks.borrow().len())
            .field("timers", &self.core.timers.borrow().len())
            .field("io_sources", &self.core.reactor.len())
            .finish()
    }
}

/// Runs `future` on a new event loop and returns its output: asyncio's `asyncio.run(main())`.
///
/// When `future` finishes, every task still pending is cancelled and the loop runs until they have
/// all finished; only then does `run` return (rule L1). A panic in `future` propagates to the
/// caller after that clean-up. On the main thread (Unix), Ctrl-C cancels `future`, the same
/// clean-up runs, and the process then ends as interrupted (see [`signal`](crate::signal)).
///
/// # Panics
/// When called while an event loop is running on this thread (rule L2).
///
/// # Examples
///
/// ```
/// use asyncio::{run, spawn, sleep};
/// use std::time::Duration;
///
/// let answer = run(async {
///     let t = spawn(async { sleep(Duration::from_millis(1)).await; 41 });
///     t.await.unwrap() + 1
/// });
/// assert_eq!(answer, 42);
/// ```
pub fn run<F: IntoFuture>(future: F) -> F::Output {
    #[cfg(unix)]
    return crate::signal::run_main(future);
    #[cfg(not(unix))]
    EventLoop::new().run_until_complete(future)
}

/// The running loop's clock: [`EventLoop::time`] from inside the loop (asyncio's
/// `asyncio.get_running_loop().time()`). Use it rather than `Instant::now()` to compute deadlines
/// for [`sleep_until`](crate::sleep_until), so that code works on a
/// [virtual clock](EventLoop::with_virtual_time) too.
///
/// # Panics
/// Outside a running event loop.
///
/// # Examples
///
/// ```
/// use asyncio::{now, sleep, EventLoop};
/// use std::time::Duration;
///
/// EventLoop::with_virtual_time().run_until_complete(async {
///     let start = now();
///     sleep(Duration::from_secs(90)).await;
///     assert_eq!(now() - start, Duration::from_secs(90));
/// });
/// ```
pub fn now() -> Instant {
    current_core("now()").now()
}

/// Schedules `f` to run on the running loop's next turn, after what is already queued
/// (asyncio's `loop.call_soon`). A panic in `f` is reported through the exception handler.
///
/// # Panics
/// Outside a running event loop.
///
/// # Examples
///
/// ```
/// use asyncio::{call_soon, run, yield_now};
/// use std::{cell::Cell, rc::Rc};
///
/// run(async {
///     let ran = Rc::new(Cell::new(false));
///     let r = ran.clone();
///     call_soon(move || r.set(true));
///     assert!(!ran.get());
///     yield_now().await; // one trip round the loop
///     assert!(ran.get());
/// });
/// ```
pub fn call_soon(f: impl FnOnce() + 'static) {
    current_core("call_soon()").push(Entry::callback(Box::new(f)));
}

/// What the loop's exception handler is told: a message, the task involved if any, and the panic.
///
/// # Examples
///
/// ```
/// use asyncio::{spawn, EventLoop};
/// use std::{cell::RefCell, rc::Rc};
///
/// let seen = Rc::new(RefCell::new(None));
/// let lp = EventLoop::new();
/// let s = seen.clone();
/// lp.set_exception_handler(move |ctx| {
///     *s.borrow_mut() = Some((ctx.task().map(str::to_owned), ctx.panic().map(|p| p.message().to_owned())));
/// });
/// lp.run_until_complete(async {
///     let t = spawn(async { panic!("oops") });
///     t.set_name("worker");
///     t.detach();
///     asyncio::yield_now().await;
/// });
/// assert_eq!(*seen.borrow(), Some((Some("worker".into()), Some("oops".into()))));
/// ```
#[derive(Debug, Clone)]
pub struct ExceptionContext {
    message: String,
    task: Option<String>,
    panic: Option<Panic>,
}

impl ExceptionContext {
    pub(crate) fn new(message: String, task: Option<String>, panic: Option<Panic>) -> Self {
        ExceptionContext {
            message,
            task,
            panic,
        }
    }

    /// What happened, e.g. "Task exception was never retrieved".
    ///
    /// # Examples
    ///
    /// See [`ExceptionContext`].
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The name of the task involved, if any.
    ///
    /// # Examples
    ///
    /// See [`ExceptionContext`].
    pub fn task(&self) -> Option<&str> {
        self.task.as_deref()
    }

    /// The panic being reported, if any.
    ///
    /// # Examples
    ///
    /// See [`ExceptionContext`].
    pub fn panic(&self) -> Option<&Panic> {
        self.panic.as_ref()
    }
}

impl fmt::Display for ExceptionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(task) = &self.task {
            write!(f, ": task '{task}'")?;
        }
        if let Some(panic) = &self.panic {
            write!(f, " {panic}")?;
        }
        Ok(())
    }
}
